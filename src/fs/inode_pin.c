/* SPDX-License-Identifier: MIT */
/*
 * inode_pin.c - the O_PATH pins of the inode table: a count per (dev, ino)
 * of the O_PATH files naming a regular file, which keeps its unused inode
 * cached after its last name is gone ("Pins" in fs/inode.h).
 *
 * Locks: the table lock ("inode_hash_lock", leaf) around the pin hash;
 * inode_table_forget after the last unpin runs with no lock held.
 */
#include <errno.h>
#include <stdlib.h>

#include "fs/inode.h"

TEST_SWITCH(inode_test_opath_no_pin);

/* Under the table lock. */
static struct inode_pin *find_pin(struct inode_table *t, uint64_t dev, uint64_t ino)
{
	struct list_head *head = &t->pin_buckets[inode_hashfn(t, dev, ino)];

	for (struct list_head *p = head->next; p != head; p = p->next) {
		struct inode_pin *pin = list_entry(p, struct inode_pin, p_hash);

		if (pin->p_ino == ino && pin->p_dev == dev)
			return pin;
	}
	return NULL;
}

int inode_pin(struct inode_table *t, uint64_t dev, uint64_t ino)
{
	struct inode_pin *pin, *fresh = malloc(sizeof(*fresh));

	mutex_lock(&t->lock);
	pin = find_pin(t, dev, ino);
	if (!pin && fresh) {
		pin = fresh;
		fresh = NULL;
		pin->p_dev = dev;
		pin->p_ino = ino;
		pin->p_count = 0;
		list_add(&pin->p_hash, &t->pin_buckets[inode_hashfn(t, dev, ino)]);
	}
	if (pin)
		pin->p_count++;
	mutex_unlock(&t->lock);
	free(fresh);
	return pin ? 0 : -ENOMEM;
}

void inode_unpin(struct inode_table *t, uint64_t dev, uint64_t ino)
{
	struct inode_pin *pin;
	bool last;

	mutex_lock(&t->lock);
	pin = find_pin(t, dev, ino);
	last = pin && --pin->p_count == 0;
	if (last)
		list_del_init(&pin->p_hash);
	mutex_unlock(&t->lock);
	if (!last)
		return;
	free(pin);
	/* a nameless file kept for the pin goes now (its last iput, or an
	 * unlink, that looks meanwhile sees I_FORGET or no pin) */
	inode_table_forget(t, dev, ino);
}

bool inode_pinned(struct inode_table *t, uint64_t dev, uint64_t ino)
{
	bool pinned;

	if (inode_test_opath_no_pin)
		return false;
	mutex_lock(&t->lock);
	pinned = find_pin(t, dev, ino) != NULL;
	mutex_unlock(&t->lock);
	return pinned;
}

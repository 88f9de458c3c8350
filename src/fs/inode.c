/* SPDX-License-Identifier: MIT */
/*
 * inode.c - the inode table of an engine (lookup by the store inode's
 * (dev, ino), creation, eviction at last close) and the DIO-in-flight count.
 *
 * Locks: "inode_hash_lock" (leaf) around hash lookups, i_count, i_state
 * and the unwritten list only; mapping_init/destroy, store calls and writeback run outside it.
 * Eviction of an unlinked file takes i_rwsem exclusive and BLOCK to discard
 * its pages (nobody else can reach the inode by then; the locks keep the
 * mm layer's assertions true). inode_dio_wait sleeps on the inode's DIO wait
 * queue with i_rwsem held exclusive by the caller.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/inode.h"
#include "kernel/sched.h"

static DEFINE_LOCK_CLASS(i_rwsem_key, "i_rwsem");
static DEFINE_LOCK_CLASS(inode_hash_lock_key, "inode_hash_lock");

#define INODE_HASH_BUCKETS 1024

static unsigned inode_hashfn(const struct inode_table *t, uint64_t dev, uint64_t ino)
{
	uint64_t h = (ino ^ (dev * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;

	return (unsigned)(h >> 32) & (t->nbuckets - 1);
}

int inode_table_init(struct inode_table *t, struct store *s, struct mm_cache *c)
{
	t->nbuckets = INODE_HASH_BUCKETS;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets)
		return -ENOMEM;
	for (unsigned i = 0; i < t->nbuckets; i++)
		INIT_LIST_HEAD(&t->buckets[i]);
	mutex_init_class(&t->lock, &inode_hash_lock_key);
	init_waitqueue_head(&t->evict_wq);
	t->nr_inodes = 0;
	t->evict_seq = 0;
	t->store = s;
	t->cache = c;
	return 0;
}

void inode_table_destroy(struct inode_table *t)
{
	while (t->unwritten) {
		struct inode_unwritten *u = t->unwritten;
		t->unwritten = u->next;
		free(u);
	}
	mutex_destroy(&t->lock);
	free(t->buckets);
	t->buckets = NULL;
}

/* Under the table lock. */
static struct inode *find_inode(struct inode_table *t, uint64_t dev, uint64_t ino)
{
	struct list_head *head = &t->buckets[inode_hashfn(t, dev, ino)];

	for (struct list_head *p = head->next; p != head; p = p->next) {
		struct inode *inode = list_entry(p, struct inode, i_hash);

		if (inode->i_ino == ino && inode->i_dev == dev)
			return inode;
	}
	return NULL;
}

/* A new, unhashed inode owning @si. */
/* address_space->update_time: a store through a shared view sets mtime and
 * ctime, as file_update_time in the kernel's page_mkwrite does. */
static void mapping_update_time(struct address_space *m)
{
	inode_update_time(mapping_inode(m));
}

static int inode_alloc(struct inode_table *t, struct store_inode *si, struct inode **out)
{
	struct inode *inode;
	struct stat st;
	int err;

	err = store_fgetattr(si, &st);
	if (err)
		return err;
	inode = calloc(1, sizeof(*inode));
	if (!inode)
		return -ENOMEM;
	init_rwsem_class(&inode->i_rwsem, &i_rwsem_key);
	init_waitqueue_head(&inode->i_dio_wq);
	err = mapping_init(&inode->i_data, t->cache, si, st.st_size);
	if (err) {
		rwsem_destroy(&inode->i_rwsem);
		free(inode);
		return err;
	}
	inode->i_data.update_time = mapping_update_time;
	inode->i_store = si;
	inode->i_ino = si->ino;
	inode->i_dev = si->dev;
	inode->i_blksize = st.st_blksize > 0 ? (unsigned)st.st_blksize : 4096;
	inode->i_table = t;
	INIT_LIST_HEAD(&inode->i_hash);
	*out = inode;
	return 0;
}

void inode_set_name(struct inode *inode, const char *path)
{
	char *none = NULL, *name;

	if (__atomic_load_n(&inode->i_name, __ATOMIC_ACQUIRE))
		return;
	name = strdup(path);
	if (name && !__atomic_compare_exchange_n(&inode->i_name, &none, name, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		free(name);
}

/* The last writeback of @inode failed with @err: its dirty data is lost.
 * Remembered (by name) for whoever closes the engine. */
static void note_unwritten(struct inode_table *t, struct inode *inode, int err)
{
	const char *name = inode->i_name ? inode->i_name : "";
	size_t len = strlen(name) + 1;
	struct inode_unwritten *u = malloc(sizeof(*u) + len);

	mutex_lock(&t->lock);
	t->nr_unwritten++;
	if (u) { /* without memory only the count says it */
		u->err = err;
		memcpy(u->name, name, len);
		u->next = t->unwritten;
		t->unwritten = u;
	}
	mutex_unlock(&t->lock);
}

static void inode_free(struct inode *inode)
{
	free(inode->i_name);
	mapping_destroy(&inode->i_data);
	store_release(inode->i_store);
	rwsem_destroy(&inode->i_rwsem);
	free(inode);
}

int iget_store(struct inode_table *t, struct store_inode *si, struct inode **out)
{
	struct inode *inode, *fresh = NULL;
	uint64_t seq = 0; /* evict_seq when fresh sampled the store's size */
	int64_t size;
	int err;

	for (;;) {
		mutex_lock(&t->lock);
		inode = find_inode(t, si->dev, si->ino);
		if (inode && !(inode->i_state & I_FREEING)) {
			inode->i_count++;
			mutex_unlock(&t->lock);
			break;
		}
		if (inode) {
			/* The last user is writing it back: wait until it is gone,
			 * then read the store it has brought up to date. */
			uint64_t wseq = t->evict_seq;

			mutex_unlock(&t->lock);
			wait_event(&t->evict_wq,
				   __atomic_load_n(&t->evict_seq, __ATOMIC_ACQUIRE) != wseq,
				   "inode_freeing");
			continue;
		}
		if (fresh && t->evict_seq == seq) {
			fresh->i_count = 1;
			list_add(&fresh->i_hash,
				 &t->buckets[inode_hashfn(t, fresh->i_dev, fresh->i_ino)]);
			t->nr_inodes++;
			mutex_unlock(&t->lock);
			*out = fresh;
			return 0;
		}
		seq = t->evict_seq;
		mutex_unlock(&t->lock);
		if (!fresh) {
			err = inode_alloc(t, si, &fresh);
			if (err) {
				store_release(si);
				return err;
			}
			sched_race_window("iget: size sampled, inode not yet hashed");
			continue;
		}
		/* An inode was evicted since fresh sampled the store's size (it
		 * may have been this file's, created, written and evicted by
		 * others meanwhile): sample it again. fresh has no pages. */
		size = store_size(si);
		if (size < 0) {
			inode_free(fresh);
			return (int)size;
		}
		i_size_write(&fresh->i_data, size);
	}
	/* The file already has an inode: ours (if any) was never published. */
	if (fresh)
		inode_free(fresh);
	else
		store_release(si);
	*out = inode;
	return 0;
}

/* Nobody can reach the inode any more: bring the store up to date. */
static int evict(struct inode *inode)
{
	struct address_space *m = &inode->i_data;
	struct stat st;

	if (store_fgetattr(inode->i_store, &st) == 0 && st.st_nlink == 0) {
		/* No name left: nobody will read the data again. */
		inode_lock(inode);
		filemap_invalidate_lock_block(m);
		i_size_write(m, 0);
		truncate_pagecache(m, 0);
		filemap_invalidate_unlock_block(m);
		inode_unlock(inode);
		return 0;
	}
	return filemap_write_and_wait_range(m, 0, INT64_MAX);
}

int iput(struct inode *inode)
{
	struct inode_table *t = inode->i_table;
	int err;

	mutex_lock(&t->lock);
	if (--inode->i_count > 0) {
		mutex_unlock(&t->lock);
		return 0;
	}
	inode->i_state |= I_FREEING;
	mutex_unlock(&t->lock);

	sched_race_window("evict: inode freeing, not yet written back");
	err = evict(inode);
	if (err)
		note_unwritten(t, inode, err);

	mutex_lock(&t->lock);
	list_del_init(&inode->i_hash);
	t->nr_inodes--;
	__atomic_store_n(&t->evict_seq, t->evict_seq + 1, __ATOMIC_RELEASE);
	mutex_unlock(&t->lock);
	/* A waiter may now open the file again, through a new inode and a new
	 * store handle: the store is up to date, ours is only being torn down. */
	wake_up_all(&t->evict_wq);
	inode_free(inode);
	return err;
}

int inode_table_stat(struct inode_table *t, const char *path, struct stat *st)
{
	for (;;) {
		uint64_t seq = __atomic_load_n(&t->evict_seq, __ATOMIC_ACQUIRE);
		struct inode *inode;
		bool again;
		int err;

		err = store_getattr(t->store, path, st);
		if (err || !S_ISREG(st->st_mode))
			return err;
		mutex_lock(&t->lock);
		inode = find_inode(t, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
		if (inode) {
			st->st_size = i_size_read(&inode->i_data);
			inode_fill_times(inode, st);
		}
		/* none: if one was evicted since the store was asked, its
		 * writeback may have changed the size: ask again */
		again = !inode && t->evict_seq != seq;
		mutex_unlock(&t->lock);
		if (!again)
			return 0;
	}
}

void inode_dio_end(struct inode *inode)
{
	if (__atomic_sub_fetch(&inode->i_dio_count, 1, __ATOMIC_SEQ_CST) == 0 &&
	    wq_has_sleeper(&inode->i_dio_wq))
		wake_up_all(&inode->i_dio_wq);
}

void inode_dio_wait(struct inode *inode)
{
	wait_event(&inode->i_dio_wq, __atomic_load_n(&inode->i_dio_count, __ATOMIC_SEQ_CST) == 0,
		   "inode_dio_wait");
}

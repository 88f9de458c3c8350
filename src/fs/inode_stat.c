/* SPDX-License-Identifier: MIT */
/*
 * inode_stat.c - stat(2) of a store node through the inode table: the
 * store's attributes, with the size and times of the file's cached inode
 * where they are newer (in use, being evicted, or dirty); in cluster mode a
 * regular file's come from its inode under the glock (opened for the
 * call), and where it cannot be opened only an inode of the name's
 * generation counts (a host may give a dead file's number to a new one).
 *
 * Locks: "inode_hash_lock" (leaf) around each look at the table; store
 * calls and the glock (cluster_stat: iget_store, inode_getattr, iput) with
 * no lock held.
 */
#include <errno.h>
#include <fcntl.h>

#include "fs/cluster.h"
#include "fs/inode.h"
#include "kernel/sched.h"

TEST_SWITCH(inode_test_stat_late_look);
TEST_SWITCH(inode_test_stat_any_generation);

/* Under the table lock: stat takes the inode's size and times over the
 * store's (in use, being evicted, or holding data the store lacks). */
static bool inode_stat_is_ours(struct inode *inode)
{
	return inode->i_count || (inode->i_state & I_FREEING) || !mapping_clean(&inode->i_data);
}

/* Which cached inode a stat by name may take the size and times of: the
 * file's own. In cluster mode the host may have given the number of a file
 * another node unlinked to a new one while this node still caches the dead
 * file (a live inode of it, or dirty pages): only the inode of the name's
 * generation is the file's, and none where the generation is unknown. */
struct stat_key {
	uint64_t gen;
	bool gen_known;
};

/* Under the table lock: the inode of @node's file per @key, if cached. */
static struct inode *find_stat_inode(struct inode_table *t, uint64_t dev, uint64_t ino,
				     const struct stat_key *key)
{
	struct inode *stale;

	if (!t->cluster || READ_ONCE(inode_test_stat_any_generation))
		return find_inode(t, dev, ino);
	if (!key->gen_known)
		return NULL;
	return find_inode_gen(t, dev, ino, key->gen, &stale);
}

/* Under the table lock: whether (@dev, @ino) has such an inode. */
static bool stat_is_ours(struct inode_table *t, uint64_t dev, uint64_t ino,
			 const struct stat_key *key)
{
	struct inode *inode = find_stat_inode(t, dev, ino, key);

	return inode && inode_stat_is_ours(inode);
}

/* Cluster mode: a regular file's size and times come from its inode under
 * SH (another node may hold it EX with dirty data); the inode is opened for
 * the call. 1: not done (no access to open it: the store's answer stands). */
static int cluster_stat(struct inode_table *t, struct store_node *node, struct stat *st)
{
	struct store_inode *si;
	struct inode *inode;
	int err;

	if (inode_store_open(t, node, O_RDONLY, &si))
		return 1;
	err = iget_store(t, si, &inode);
	if (err)
		return err;
	err = inode_getattr(inode, st);
	int ierr = iput(inode);
	return err ? err : ierr;
}

int inode_table_stat(struct inode_table *t, struct store_node *node, struct stat *st)
{
	struct stat_key key = {.gen = 0, .gen_known = true};

	if (t->cluster && S_ISREG(node->type)) {
		int err = cluster_stat(t, node, st);
		if (err <= 0)
			return err;
		/* Not opened: which generation the name has now, if the store
		 * can tell without an open (else no cached inode is its). */
		key.gen_known = store_node_gen(node, &key.gen) == 0;
		if (READ_ONCE(inode_test_no_generation))
			key.gen = 0;
	}
	for (;;) {
		uint64_t seq = __atomic_load_n(&t->evict_seq, __ATOMIC_ACQUIRE);
		struct inode *inode;
		bool again, ours = false;
		int err;

		/* Looked at before the store too: an unused inode whose dirty
		 * pages are written back after the store's attributes were read
		 * is clean when looked at below, and the store's size then
		 * stale. */
		if (S_ISREG(node->type) && !inode_test_stat_late_look) {
			mutex_lock(&t->lock);
			ours = stat_is_ours(t, node->dev, node->ino, &key);
			mutex_unlock(&t->lock);
		}
		err = store_node_getattr(node, st);
		if (err || !S_ISREG(st->st_mode))
			return err;
		sched_race_window("stat: store attributes read, inode not yet looked at");
		mutex_lock(&t->lock);
		inode = find_stat_inode(t, (uint64_t)st->st_dev, (uint64_t)st->st_ino, &key);
		/* An unused inode clean since before the store was asked: the
		 * store has all of it (and may have been changed behind our
		 * back since). */
		if (inode && (ours || inode_stat_is_ours(inode))) {
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

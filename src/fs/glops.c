/* SPDX-License-Identifier: MIT */
/*
 * glops.c - the glock operations of an inode (gfs2's inode_go_sync,
 * inode_go_inval, inode_go_instantiate): what a node does to its cache when
 * its glock of a file changes state (docs/cluster.md).
 *
 *   go_sync (leaving EX): writes every dirty page of the file back and
 *     waits. Writeback write-protects each page in every view as it cleans
 *     it (mm_mkclean_range), so the next store through a view faults and
 *     asks for EX again. A writeback that fails twice is recorded in the
 *     mapping's errseq (the next fsync on this node reports it) and the
 *     whole cache is dropped: no dirty page outlives EX, whatever the
 *     target.
 *   go_inval (to UN or DF): drops every cached page of the file. Removing a
 *     page punches its frame, which takes it out of every shared view
 *     (fallback views are unmapped first); private views keep the copies
 *     they made, as Linux's invalidation does. A FUSE mount is told to drop
 *     its kernel cache of the inode (inval_notify).
 *   go_instantiate (first holder after the lock service granted the
 *     glock): the size and times are read again from the store, which the
 *     previous holder on another node brought up to date.
 *
 * Locks: all three run in the cluster's demote worker with no glock-layer
 * lock held and no holder of this glock active, so no I/O path of this
 * node is inside the file (each takes a holder first). They must not take
 * i_rwsem: a thread of this node may hold it while it waits in glock_nq for
 * this very demote. go_inval takes BLOCK of the invalidate lock around the
 * truncation (no page may be added meanwhile: fills need a holder too, and
 * the lock-free fault fast path installs only pages whose frame still
 * exists); writeback takes page locks as always.
 */
#include <errno.h>

#include "fs/cluster.h"
#include "mm/vma.h"

/* Drops every cached page of @m (unmapping it from every view) under BLOCK. */
static void inode_drop_cache(struct address_space *m)
{
	filemap_invalidate_lock_block(m);
	truncate_pagecache_range(m, 0, INT64_MAX);
	filemap_invalidate_unlock_block(m);
}

/*
 * Writes back and waits. A writeback that fails (tried twice: one transient
 * error costs nothing) must neither stay dirty past the demote - the target
 * may be SH, which caches clean pages only: the pages would reach the store
 * later, while other nodes hold SH and cache what the store said before -
 * nor go silently. So the error goes into the mapping's errseq (writepage
 * records it too; this covers any error the wait alone saw) for the next
 * fsync of the file on this node to report, and the whole cache is dropped,
 * as a node that crashed would lose it. Returns the error (the worker logs it).
 */
static int inode_go_sync(struct glock *gl, void *object)
{
	struct inode *inode = object;
	struct address_space *m = &inode->i_data;
	int err;

	(void)gl;
	err = filemap_write_and_wait_range(m, 0, INT64_MAX);
	if (likely(!err) && mapping_clean(m))
		return 0;
	if (unlikely(READ_ONCE(cluster_test_sync_error_ignored)))
		return err;
	err = filemap_write_and_wait_range(m, 0, INT64_MAX);
	if (!err && mapping_clean(m))
		return 0;
	if (!err)
		err = -EIO;
	mapping_set_error(m, err);
	inode_drop_cache(m);
	if (inode->i_table->inval_notify)
		inode->i_table->inval_notify(inode->i_table->inval_arg, inode->i_ino);
	return err;
}

static void inode_go_inval(struct glock *gl, void *object, enum gl_state target)
{
	struct inode *inode = object;
	struct address_space *m = &inode->i_data;
	struct inode_table *t = inode->i_table;
	void (*notify)(void *arg, uint64_t ino);

	(void)gl;
	(void)target;
	if (unlikely(READ_ONCE(cluster_test_no_inval)))
		return;
	/* Leaving EX went through go_sync; a page dirtied since cannot exist
	 * (no holder), but one whose writeback failed keeps its data dirty:
	 * try once more, then it goes (its error stays in wb_err for fsync). */
	if (!mapping_clean(m) && filemap_write_and_wait_range(m, 0, INT64_MAX) && !mapping_clean(m))
		mapping_set_error(m, -EIO); /* (recorded already by writepage) */
	inode_drop_cache(m);
	/* (pc_set_invalidate_notify may change it meanwhile: one load) */
	notify = __atomic_load_n(&t->inval_notify, __ATOMIC_ACQUIRE);
	if (notify)
		notify(__atomic_load_n(&t->inval_arg, __ATOMIC_RELAXED), inode->i_ino);
}

static int inode_go_instantiate(struct glock *gl, void *object)
{
	struct inode *inode = object;
	struct address_space *m = &inode->i_data;
	struct stat st;
	int err;

	(void)gl;
	err = store_fgetattr(inode->i_store, &st);
	if (err)
		return err;
	/* A clean cache (always, coming from UN or DF) holds nothing beyond
	 * what the store says. */
	if (mapping_clean(m))
		i_size_write(m, st.st_size);
	inode_clear_times(inode);
	return 0;
}

const struct glock_operations inode_glops = {
    .go_sync = inode_go_sync,
    .go_inval = inode_go_inval,
    .go_instantiate = inode_go_instantiate,
};

/* SPDX-License-Identifier: MIT */
/*
 * attr.c - size changes: truncate (ftruncate, O_TRUNC) through the H1
 * protocol of docs/design.md §7.2, and the helpers fallocate shares with it.
 *
 * Locks: the caller holds i_rwsem exclusive; here inode_dio_wait, then BLOCK
 * (filemap_invalidate_lock_block) from before the first page is dropped
 * until the store has its new size, so no read, fault or readahead can
 * re-create a page of the dropped range from the old store contents.
 * Also the engine-side timestamps of an inode (atomics, no lock): a write
 * or truncate sets mtime and ctime at the call, as the kernel's
 * file_update_time does, and stat shows them over the store's; a store
 * through a shared view (page_mkwrite) sets them from the coarse clock and
 * not at all while they already read "now" at its granularity, as the
 * kernel's file_update_time skips an unchanged time.
 */
#include <errno.h>
#include <time.h>

#include "fs/cluster.h"
#include "fs/file.h"
#include "kernel/sched.h"

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void inode_update_time(struct inode *inode)
{
	int64_t ns = clock_ns(CLOCK_REALTIME);

	__atomic_store_n(&inode->i_mtime_ns, ns, __ATOMIC_RELAXED);
	__atomic_store_n(&inode->i_ctime_ns, ns, __ATOMIC_RELEASE);
}

TEST_SWITCH(inode_test_coarse_time_always);

/* What a time @t becomes at a store through a view at coarse time @now: now
 * if older; kept if newer but not past the precise clock (*@precise, read
 * once when needed): a write set it with the precise clock, which runs
 * ahead of the coarse one; now again if in the future (utimens). */
static int64_t coarse_time_for(int64_t t, int64_t now, int64_t *precise)
{
	if (t <= now || inode_test_coarse_time_always)
		return now;
	if (!*precise)
		*precise = clock_ns(CLOCK_REALTIME);
	return t <= *precise ? t : now;
}

void inode_update_time_coarse(struct inode *inode)
{
	int64_t now = clock_ns(CLOCK_REALTIME_COARSE), precise = 0;
	int64_t m = __atomic_load_n(&inode->i_mtime_ns, __ATOMIC_RELAXED);
	int64_t c = __atomic_load_n(&inode->i_ctime_ns, __ATOMIC_ACQUIRE);
	int64_t nm = coarse_time_for(m, now, &precise), nc = coarse_time_for(c, now, &precise);

	/* Unchanged (the common case: the tick's first store set them): no
	 * write to the inode's line. */
	if (nm == m && nc == c)
		return;
	__atomic_store_n(&inode->i_mtime_ns, nm, __ATOMIC_RELAXED);
	__atomic_store_n(&inode->i_ctime_ns, nc, __ATOMIC_RELEASE);
}

static void ns_to_ts(int64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / 1000000000);
	ts->tv_nsec = (long)(ns % 1000000000);
}

void inode_fill_times(struct inode *inode, struct stat *st)
{
	int64_t c = __atomic_load_n(&inode->i_ctime_ns, __ATOMIC_ACQUIRE);
	int64_t m = __atomic_load_n(&inode->i_mtime_ns, __ATOMIC_RELAXED);
	struct timespec ts;

	/* the store's times may be newer (chmod, or writeback bumped the
	 * host's mtime): show whichever is later */
	if (m) {
		ns_to_ts(m, &ts);
		if (ts.tv_sec > st->st_mtim.tv_sec ||
		    (ts.tv_sec == st->st_mtim.tv_sec && ts.tv_nsec > st->st_mtim.tv_nsec))
			st->st_mtim = ts;
	}
	if (c) {
		ns_to_ts(c, &ts);
		if (ts.tv_sec > st->st_ctim.tv_sec ||
		    (ts.tv_sec == st->st_ctim.tv_sec && ts.tv_nsec > st->st_ctim.tv_nsec))
			st->st_ctim = ts;
	}
}

void inode_clear_times(struct inode *inode)
{
	__atomic_store_n(&inode->i_mtime_ns, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&inode->i_ctime_ns, 0, __ATOMIC_RELEASE);
}

int write_back_edge_page(struct address_space *m, int64_t pos)
{
	int64_t start = pos & ~(int64_t)(PAGE_SIZE - 1);

	if (pos == start)
		return 0;
	return filemap_write_and_wait_range(m, start, start + (int64_t)PAGE_SIZE - 1);
}

int inode_sync_store_size(struct inode *inode)
{
	int err;

	if (!inode->i_store_size_stale)
		return 0;
	err = store_setsize(inode->i_store, i_size_read(&inode->i_data));
	if (!err)
		inode->i_store_size_stale = false;
	return err;
}

int store_cover_isize(struct inode *inode)
{
	int64_t isize = i_size_read(&inode->i_data);
	int64_t ssize = store_size(inode->i_store);

	if (ssize < 0)
		return (int)ssize;
	return ssize < isize ? store_setsize(inode->i_store, isize) : 0;
}

/* Shrink: write back the new EOF page (its head survives), i_size, drop
 * the pages past it and zero the EOF page's tail, then the store. */
static int truncate_down(struct inode *inode, int64_t newsize)
{
	struct address_space *m = &inode->i_data;
	int err;

	err = write_back_edge_page(m, newsize);
	if (err)
		return err;
	i_size_write(m, newsize);
	truncate_pagecache(m, newsize);
	sched_race_window("truncate: pages dropped, store not yet updated");
	err = store_setsize(inode->i_store, newsize);
	/* On failure the cache already says newsize, and the dirty pages past
	 * it are gone: keep that, and resize the store before the file grows. */
	inode->i_store_size_stale = err != 0;
	return err;
}

/* Grow (or keep) the size: the store first, then i_size, so a failure
 * changes nothing. The old EOF page's tail is zeroed in the cache (it must
 * read as the zeroes the store now has there). */
static int truncate_up(struct inode *inode, int64_t newsize)
{
	struct address_space *m = &inode->i_data;
	int64_t oldsize = i_size_read(m);
	int err;

	err = inode_sync_store_size(inode);
	if (err)
		return err;
	if (newsize > oldsize && (oldsize & (int64_t)(PAGE_SIZE - 1))) {
		err = write_back_edge_page(m, oldsize);
		if (err)
			return err;
		truncate_pagecache_range(m, oldsize, oldsize | (int64_t)(PAGE_SIZE - 1));
	}
	err = store_setsize(inode->i_store, newsize);
	if (err)
		return err;
	i_size_write(m, newsize);
	return 0;
}

int do_truncate(struct inode *inode, int64_t newsize)
{
	struct address_space *m = &inode->i_data;
	struct inode_gh gh;
	int err;

	inode_dio_wait(inode);
	err = inode_gl_nq(inode, LM_ST_EXCLUSIVE, 0, &gh); /* cluster mode */
	if (err)
		return err;
	filemap_invalidate_lock_block(m);
	if (newsize < i_size_read(m))
		err = truncate_down(inode, newsize);
	else
		err = truncate_up(inode, newsize); /* same size: the store's times */
	filemap_invalidate_unlock_block(m);
	inode_gl_dq(&gh);
	if (!err)
		inode_update_time(inode);
	return err;
}

int do_ftruncate(struct file *f, int64_t length)
{
	struct inode *inode = f->f_inode;
	int err;

	if (length < 0)
		return -EINVAL;
	/* Linux: -EINVAL for a directory or a file not open for writing. */
	if (file_is_dir(f) || !(f->f_mode & FMODE_WRITE))
		return -EINVAL;
	if (length > PC_MAX_FILE_SIZE)
		return -EFBIG;
	inode_lock(inode);
	err = do_truncate(inode, length);
	inode_unlock(inode);
	return err;
}

int inode_getattr(struct inode *inode, struct stat *st)
{
	struct inode_gh gh;
	int err;

	/* Cluster mode: SH, so that a node writing the file has written its
	 * size and data back and go_instantiate has read them again. */
	err = inode_gl_nq(inode, LM_ST_SHARED, 0, &gh);
	if (err)
		return err;
	err = store_fgetattr(inode->i_store, st);
	if (!err) {
		st->st_size = i_size_read(&inode->i_data);
		inode_fill_times(inode, st);
	}
	inode_gl_dq(&gh);
	return err;
}

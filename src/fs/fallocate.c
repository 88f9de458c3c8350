/* SPDX-License-Identifier: MIT */
/*
 * fallocate.c - fallocate(2): allocate, punch hole, zero range, collapse
 * range, insert range, with the checks and errnos of Linux's vfs_fallocate
 * (6.x) and of ext4/XFS for collapse/insert.
 *
 * Locks: i_rwsem exclusive for every mode, then inode_dio_wait. The modes
 * that change contents follow the H1 protocol (docs/design.md §7.2): BLOCK ->
 * write back the partial edge pages -> drop the range from the cache ->
 * update the store -> drop BLOCK, so no fill can bring the old contents
 * back between the drop and the store update. Plain allocation changes no
 * contents and takes no BLOCK.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>

#include "fs/cluster.h"
#include "fs/file.h"
#include "kernel/sched.h"

#ifndef FALLOC_FL_UNSHARE_RANGE
#define FALLOC_FL_UNSHARE_RANGE 0x40
#endif
#ifndef FALLOC_FL_WRITE_ZEROES
#define FALLOC_FL_WRITE_ZEROES 0x80
#endif
#define FALLOC_FL_ALLOCATE_RANGE 0x00

#define FALLOC_FL_MODE_MASK                                                           \
	(FALLOC_FL_ALLOCATE_RANGE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_COLLAPSE_RANGE | \
	 FALLOC_FL_ZERO_RANGE | FALLOC_FL_INSERT_RANGE | FALLOC_FL_UNSHARE_RANGE |    \
	 FALLOC_FL_WRITE_ZEROES)

static inline int64_t page_round_up(int64_t x)
{
	return (x + (int64_t)PAGE_SIZE - 1) & ~(int64_t)(PAGE_SIZE - 1);
}

/* mode 0 / KEEP_SIZE: blocks only; the contents (zeroes or data) stay. */
static int falloc_allocate(struct inode *inode, int mode, int64_t offset, int64_t len)
{
	struct address_space *m = &inode->i_data;
	int64_t end = offset + len, oldsize = i_size_read(m);
	int err;

	err = inode_sync_store_size(inode);
	if (err)
		return err;
	if (!(mode & FALLOC_FL_KEEP_SIZE) && end > oldsize &&
	    (oldsize & (int64_t)(PAGE_SIZE - 1))) {
		/* the old EOF page's tail becomes file contents: zeroes */
		filemap_invalidate_lock_block(m);
		truncate_pagecache_range(m, oldsize, oldsize | (int64_t)(PAGE_SIZE - 1));
		filemap_invalidate_unlock_block(m);
	}
	err = store_fallocate(inode->i_store, mode, offset, len);
	if (!err && !(mode & FALLOC_FL_KEEP_SIZE) && end > i_size_read(m))
		i_size_write(m, end);
	return err;
}

/* PUNCH_HOLE | KEEP_SIZE, ZERO_RANGE [| KEEP_SIZE]: the range reads as
 * zeroes afterwards. */
static int falloc_punch_zero(struct inode *inode, int mode, int64_t offset, int64_t len)
{
	struct address_space *m = &inode->i_data;
	int64_t end = offset + len, oldsize = i_size_read(m);
	bool punch = mode & FALLOC_FL_PUNCH_HOLE;
	int err;

	if (!punch) {
		err = inode_sync_store_size(inode);
		if (err)
			return err;
	}
	filemap_invalidate_lock_block(m);
	err = write_back_edge_page(m, offset);
	if (!err)
		err = write_back_edge_page(m, end);
	if (err)
		goto out;
	truncate_pagecache_range(m, offset, end - 1);
	if (!punch && !(mode & FALLOC_FL_KEEP_SIZE) && end > oldsize && offset > oldsize &&
	    (oldsize & (int64_t)(PAGE_SIZE - 1)))
		truncate_pagecache_range(m, oldsize, oldsize | (int64_t)(PAGE_SIZE - 1));
	if (punch)
		sched_race_window("punch: pages dropped, store not yet updated");
	else
		sched_race_window("zero range: pages dropped, store not yet updated");
	err = store_fallocate(inode->i_store, mode, offset, len);
	if (!err && !punch && !(mode & FALLOC_FL_KEEP_SIZE) && end > i_size_read(m))
		i_size_write(m, end);
	/* The last page may have gone unwritten: the store must keep i_size.
	 * (The page of the last byte: with a page-aligned size, the page
	 * before oldsize.) */
	if (!err && oldsize && end > ((oldsize - 1) & ~(int64_t)(PAGE_SIZE - 1)))
		err = store_cover_isize(inode);
out:
	filemap_invalidate_unlock_block(m);
	return err;
}

/* COLLAPSE_RANGE / INSERT_RANGE: everything from @offset to EOF moves, so
 * all of it is written back and dropped from the cache first. */
static int falloc_shift(struct inode *inode, int mode, int64_t offset, int64_t len)
{
	struct address_space *m = &inode->i_data;
	int64_t isize = i_size_read(m);
	int64_t start = offset & ~(int64_t)(PAGE_SIZE - 1);
	bool collapse = mode & FALLOC_FL_COLLAPSE_RANGE;
	int err;

	if (((uint64_t)offset | (uint64_t)len) & (inode->i_blksize - 1))
		return -EINVAL;
	if (collapse) {
		/* the range must end before EOF (it would be a truncate) */
		if (offset + len >= isize)
			return -EINVAL;
	} else {
		if (offset >= isize)
			return -EINVAL;
		if (len > PC_MAX_FILE_SIZE - isize)
			return -EFBIG;
	}
	err = inode_sync_store_size(inode);
	if (err)
		return err;
	filemap_invalidate_lock_block(m);
	err = filemap_write_and_wait_range(m, start, isize - 1);
	if (err)
		goto out;
	truncate_pagecache_range(m, start, page_round_up(isize) - 1);
	sched_race_window(collapse ? "collapse: pages dropped, store not yet updated"
				   : "insert: pages dropped, store not yet updated");
	err = store_fallocate(inode->i_store, mode, offset, len);
	if (!err)
		i_size_write(m, collapse ? isize - len : isize + len);
out:
	filemap_invalidate_unlock_block(m);
	return err;
}

int vfs_fallocate(struct file *f, int mode, int64_t offset, int64_t len)
{
	struct inode *inode = f->f_inode;
	struct inode_gh gh;
	int64_t end;
	int err;

	if (offset < 0 || len <= 0)
		return -EINVAL;
	if (mode & ~(FALLOC_FL_MODE_MASK | FALLOC_FL_KEEP_SIZE))
		return -EOPNOTSUPP;
	switch (mode & FALLOC_FL_MODE_MASK) {
	case FALLOC_FL_ALLOCATE_RANGE:
	case FALLOC_FL_UNSHARE_RANGE:
	case FALLOC_FL_ZERO_RANGE:
		break;
	case FALLOC_FL_PUNCH_HOLE:
		if (!(mode & FALLOC_FL_KEEP_SIZE))
			return -EOPNOTSUPP;
		break;
	case FALLOC_FL_COLLAPSE_RANGE:
	case FALLOC_FL_INSERT_RANGE:
	case FALLOC_FL_WRITE_ZEROES:
		if (mode & FALLOC_FL_KEEP_SIZE)
			return -EOPNOTSUPP;
		break;
	default: /* two modes at once */
		return -EOPNOTSUPP;
	}
	if (!(f->f_mode & FMODE_WRITE))
		return -EBADF;
	if (file_is_dir(f))
		return -EISDIR;
	if (__builtin_add_overflow(offset, len, &end) || end > PC_MAX_FILE_SIZE)
		return -EFBIG;
	/* Known to Linux, not offered by this file system (like ext4/tmpfs). */
	if (mode & (FALLOC_FL_UNSHARE_RANGE | FALLOC_FL_WRITE_ZEROES))
		return -EOPNOTSUPP;

	inode_lock(inode);
	inode_dio_wait(inode);
	err = inode_gl_nq(inode, LM_ST_EXCLUSIVE, 0, &gh); /* cluster mode */
	if (err)
		goto out;
	switch (mode & FALLOC_FL_MODE_MASK) {
	case FALLOC_FL_ALLOCATE_RANGE:
		err = falloc_allocate(inode, mode, offset, len);
		break;
	case FALLOC_FL_PUNCH_HOLE:
	case FALLOC_FL_ZERO_RANGE:
		err = falloc_punch_zero(inode, mode, offset, len);
		break;
	default:
		err = falloc_shift(inode, mode, offset, len);
		break;
	}
	inode_gl_dq(&gh);
out:
	inode_unlock(inode);
	return err;
}

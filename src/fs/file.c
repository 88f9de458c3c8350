/* SPDX-License-Identifier: MIT */
/*
 * file.c - struct file lifetime and the buffered read/write iterators,
 * write checks, O_SYNC/RWF_DSYNC flushing and fsync (the kernel's
 * mm/filemap.c generic_file_*_iter and fs/sync.c, on top of our mm layer).
 *
 * Locks: reads take no inode lock (policy xfs: i_rwsem shared, trylock for
 * NOWAIT); writes take i_rwsem exclusive (trylock for NOWAIT) and, to zero
 * the old EOF page's tail before a write past EOF, BLOCK briefly inside it.
 * The sync after an O_SYNC write, fsync and flush run with no inode lock.
 * f_pos_lock (leaf) guards f_pos and f_wb_err only. The struct of a file
 * is freed after an RCU grace period (call_rcu: the fd table's lock-free
 * lookup may still be testing its count).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <urcu.h>

#include "fs/cluster.h"
#include "fs/file.h"
#include "fs/flock_glock.h"

static DEFINE_LOCK_CLASS(f_pos_lock_key, "f_pos_lock");

#ifndef RWF_HIPRI
#define RWF_HIPRI 0x01
#endif
#ifndef RWF_DSYNC
#define RWF_DSYNC 0x02
#endif
#ifndef RWF_SYNC
#define RWF_SYNC 0x04
#endif
#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x08
#endif
#ifndef RWF_APPEND
#define RWF_APPEND 0x10
#endif
#ifndef RWF_NOAPPEND
#define RWF_NOAPPEND 0x20
#endif
#ifndef RWF_DONTCACHE
#define RWF_DONTCACHE 0x80
#endif
#ifndef RWF_NOSIGNAL
#define RWF_NOSIGNAL 0x100
#endif

/* What preadv2/pwritev2 accept; anything else (RWF_ATOMIC, unknown bits) is
 * -EOPNOTSUPP, as Linux answers for a file system that lacks the feature.
 * Hints accepted and ignored, as ext4 on Linux 6.18 accepts them: RWF_HIPRI
 * (polling), RWF_DONTCACHE (drop the pages once written back; the cache
 * keeps them), RWF_NOSIGNAL (no SIGPIPE: regular files raise none). */
#define RWF_SUPPORTED                                                                \
	(RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND | RWF_NOAPPEND | \
	 RWF_DONTCACHE | RWF_NOSIGNAL)

static struct file *file_alloc(int flags, unsigned fmode)
{
	struct file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->f_flags = flags;
	f->f_mode = fmode;
	f->f_count = 1;
	mutex_init_class(&f->f_pos_lock, &f_pos_lock_key);
	return f;
}

static unsigned open_fmode(int flags)
{
	switch (flags & O_ACCMODE) {
	case O_RDONLY:
		return FMODE_READ;
	case O_WRONLY:
		return FMODE_WRITE;
	case O_RDWR:
		return FMODE_READ | FMODE_WRITE;
	default: /* 3: neither (Linux: "for ioctls") */
		return 0;
	}
}

struct file *alloc_file(struct inode *inode, int flags)
{
	struct file *f = file_alloc(flags, open_fmode(flags));

	if (!f)
		return NULL;
	f->f_node = store_node_get(inode->i_store->node);
	f->f_inode = inode;
	f->f_mapping = &inode->i_data;
	f->f_wb_err = errseq_sample(&inode->i_data.wb_err);
	f->f_ra.ra_pages = inode->i_data.cache->ra_max_pages;
	f->f_ra.prev_index = (pgoff_t)-1;
	return f;
}

struct file *alloc_node_file(struct store_node *node, int flags, unsigned fmode)
{
	struct file *f = file_alloc(flags, fmode);

	if (f)
		f->f_node = node;
	return f;
}

int alloc_path_file(struct inode_table *t, struct store_node *node, int flags, struct file **out)
{
	struct file *f =
	    file_alloc(flags & (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), FMODE_PATH);

	*out = NULL;
	if (!f)
		return -ENOMEM;
	if (S_ISREG(node->type)) {
		if (inode_pin(t, node->dev, node->ino)) {
			mutex_destroy(&f->f_pos_lock);
			free(f);
			return -ENOMEM;
		}
		f->f_pin_table = t;
	}
	f->f_node = node;
	*out = f;
	return 0;
}

static void file_free_rcu(struct rcu_head *head)
{
	struct file *f = container_of((struct mm_rcu_head *)head, struct file, f_rcu);

	mm_rcu_tsan_acquire();
	free(f);
}

int fput(struct file *f)
{
	int err = 0;

	if (__atomic_sub_fetch(&f->f_count, 1, __ATOMIC_ACQ_REL) != 0)
		return 0;
	if (f->f_inode) {
		locks_remove_file(f);
		file_flock_remove(f);
		err = iput(f->f_inode);
	}
	if (f->f_pin_table) /* may evict a nameless file: before the node goes */
		inode_unpin(f->f_pin_table, f->f_node->dev, f->f_node->ino);
	store_node_put(f->f_node);
	mutex_destroy(&f->f_pos_lock);
	/* fdget may be testing f_count under RCU: free after a grace period */
	mm_rcu_thread_enter();
	mm_rcu_tsan_release();
	call_rcu((struct rcu_head *)&f->f_rcu, file_free_rcu);
	return err;
}

void init_sync_kiocb(struct kiocb *iocb, struct file *f, int64_t pos)
{
	int flags = 0;

	if (f->f_flags & O_APPEND)
		flags |= IOCB_APPEND;
	if (f->f_flags & O_DIRECT)
		flags |= IOCB_DIRECT;
	if (f->f_flags & O_DSYNC)
		flags |= IOCB_DSYNC;
	if ((f->f_flags & O_SYNC) == O_SYNC)
		flags |= IOCB_SYNC | IOCB_DSYNC;
	iocb->ki_filp = f;
	iocb->ki_pos = pos;
	iocb->ki_flags = flags;
}

int kiocb_set_rw_flags(struct kiocb *iocb, int rwf)
{
	if (rwf & ~RWF_SUPPORTED)
		return -EOPNOTSUPP;
	if (rwf & RWF_NOWAIT)
		iocb->ki_flags |= IOCB_NOWAIT;
	if (rwf & RWF_APPEND)
		iocb->ki_flags |= IOCB_APPEND;
	if (rwf & RWF_NOAPPEND)
		iocb->ki_flags &= ~IOCB_APPEND;
	if (rwf & RWF_DSYNC)
		iocb->ki_flags |= IOCB_DSYNC;
	if (rwf & RWF_SYNC)
		iocb->ki_flags |= IOCB_DSYNC | IOCB_SYNC;
	return 0;
}

/* ---- read ---- */

/* One round of a buffered read (glock_io_rounds). */
static ssize_t buffered_read_step(struct kiocb *iocb, struct iov_iter *iter)
{
	struct file *f = iocb->ki_filp;
	ssize_t ret = filemap_read(f->f_mapping, &f->f_ra, iter, iocb->ki_pos,
				   iocb->ki_flags & IOCB_NOWAIT ? FILEMAP_NOWAIT : 0);

	if (ret > 0)
		iocb->ki_pos += ret;
	return ret;
}

ssize_t generic_file_read_iter(struct kiocb *iocb, struct iov_iter *iter)
{
	struct file *f = iocb->ki_filp;
	struct inode *inode = f->f_inode;
	struct address_space *m = f->f_mapping;
	bool nowait = iocb->ki_flags & IOCB_NOWAIT;
	bool xfs = m->cache->policy == POLICY_XFS;
	ssize_t ret;

	if (!iter->count)
		return 0;
	if (iocb->ki_flags & IOCB_DIRECT)
		return direct_read(iocb, iter);
	if (xfs) {
		if (nowait) {
			if (!inode_trylock_shared(inode))
				return -EAGAIN;
		} else {
			inode_lock_shared(inode);
		}
	}
	/* Cluster mode: SH across the copy (fs/cluster.h). */
	ret = glock_io_rounds(iocb, iter, LM_ST_SHARED, true, buffered_read_step, NULL);
	if (xfs)
		inode_unlock_shared(inode);
	return ret;
}

/* ---- write ---- */

ssize_t generic_write_checks(struct kiocb *iocb, size_t count)
{
	struct address_space *m = iocb->ki_filp->f_mapping;

	if (!count)
		return 0;
	if (iocb->ki_flags & IOCB_APPEND)
		iocb->ki_pos = i_size_read(m);
	if (iocb->ki_pos < 0)
		return -EINVAL;
	if (iocb->ki_pos >= PC_MAX_FILE_SIZE)
		return -EFBIG;
	if ((uint64_t)count > (uint64_t)(PC_MAX_FILE_SIZE - iocb->ki_pos))
		count = (size_t)(PC_MAX_FILE_SIZE - iocb->ki_pos);
	return (ssize_t)count;
}

/*
 * A write starting past EOF leaves a gap that must read as zeroes: zero
 * the old EOF page's bytes past i_size in the cache (they are zero unless a
 * mapping scribbled there; the kernel's xfs_file_write_zero_eof). The store
 * holds nothing past i_size. Caller holds i_rwsem exclusive.
 */
static void zero_eof_tail_for_write(struct inode *inode, int64_t pos)
{
	struct address_space *m = &inode->i_data;
	int64_t isize = i_size_read(m);
	int64_t page_end;

	if (pos <= isize || !(isize & (int64_t)(PAGE_SIZE - 1)))
		return;
	page_end = (isize | (int64_t)(PAGE_SIZE - 1));
	filemap_invalidate_lock_block(m);
	truncate_pagecache_range(m, isize, page_end);
	filemap_invalidate_unlock_block(m);
}

/*
 * The kernel's generic_write_sync: flush what was just written, the bytes
 * of every round (@span: fs/cluster.h glock_io_rounds), not [ki_pos -
 * count, ki_pos): in cluster mode the rounds of an O_APPEND write are not
 * next to each other where another node appended between them. The
 * demote that let that node append wrote the earlier round's pages back
 * (go_sync), but only to the store: its data sync is this one, and its
 * range is what the write asks to be durable. Runs with no glock held, as
 * fsync does (vfs_fsync_range: a dirty page exists only under a cached EX
 * or is written back by the demote that ends it).
 */
static ssize_t generic_write_sync(struct kiocb *iocb, ssize_t count, const struct io_span *span)
{
	int64_t start = span->start, end = span->end;

	if (count <= 0 || !(iocb->ki_flags & IOCB_DSYNC))
		return count;
	if (unlikely(READ_ONCE(cluster_test_sync_last_round_only))) {
		start = iocb->ki_pos - count;
		end = iocb->ki_pos;
	}
	int err = vfs_fsync_range(iocb->ki_filp, start, end - 1, !(iocb->ki_flags & IOCB_SYNC));
	return err ? err : count;
}

/* One round of a write, i_rwsem exclusive held, under EX in cluster mode
 * (glock_io_rounds): the checks and the EOF zeroing under the glock (the
 * size is the store's as of its grant), then the copy. */
static ssize_t write_step(struct kiocb *iocb, struct iov_iter *iter)
{
	struct inode *inode = iocb->ki_filp->f_inode;
	struct address_space *m = iocb->ki_filp->f_mapping;
	bool nowait = iocb->ki_flags & IOCB_NOWAIT;
	ssize_t ret;

	ret = generic_write_checks(iocb, iter->count);
	if (ret <= 0)
		return ret;
	iter->count = (size_t)ret; /* iov_iter_truncate */
	ret = inode_sync_store_size(inode);
	if (ret)
		return ret;
	if (iocb->ki_pos > i_size_read(m)) {
		if (nowait && (i_size_read(m) & (int64_t)(PAGE_SIZE - 1)))
			return -EAGAIN;
		zero_eof_tail_for_write(inode, iocb->ki_pos);
	}
	if (iocb->ki_flags & IOCB_DIRECT) {
		ret = direct_write(iocb, iter);
	} else {
		ret = generic_perform_write(m, iter, iocb->ki_pos, nowait ? FILEMAP_NOWAIT : 0);
		if (ret > 0)
			iocb->ki_pos += ret;
	}
	if (ret > 0)
		inode_update_time(inode);
	return ret;
}

ssize_t generic_file_write_iter(struct kiocb *iocb, struct iov_iter *iter)
{
	struct file *f = iocb->ki_filp;
	struct inode *inode = f->f_inode;
	bool nowait = iocb->ki_flags & IOCB_NOWAIT;
	struct io_span span;
	ssize_t ret;

	if (iocb->ki_flags & IOCB_DIRECT) {
		/* inside i_size: i_rwsem shared (direct.c); else on below */
		ret = direct_write_shared(iocb, iter, &span);
		if (ret > 0)
			inode_update_time(inode);
		if (ret != -ENOTBLK)
			return generic_write_sync(iocb, ret, &span);
	}
	if (nowait) {
		if (!inode_trylock(inode))
			return -EAGAIN;
	} else {
		inode_lock(inode);
	}
	/* Cluster mode: EX across the copy, the restart's rounds (fs/cluster.h). */
	ret = glock_io_rounds(iocb, iter, LM_ST_EXCLUSIVE, false, write_step, &span);
	inode_unlock(inode);
	return generic_write_sync(iocb, ret, &span);
}

/* ---- fsync ---- */

/* file_write_and_wait_range and file_check_and_advance_wb_err: the error
 * of this writeback, or else the error this file has not seen yet (the same
 * one, or one met by writeback since its last report), reported once. */
static int file_write_and_wait_report(struct file *f, int64_t start, int64_t end)
{
	struct address_space *m = f->f_mapping;
	int err, err2;

	err = filemap_write_and_wait_range(m, start, end);
	mutex_lock(&f->f_pos_lock);
	err2 = file_check_and_advance_wb_err(m, &f->f_wb_err);
	mutex_unlock(&f->f_pos_lock);
	return err ? err : err2;
}

/*
 * Cluster mode takes no glock here (gfs2_fsync takes none either): a node has
 * dirty pages only while it holds EX, and go_sync writes every one of them
 * back (and waits for every write in flight, ours included) before the
 * glock leaves EX. So this write-and-wait either writes pages while the
 * node still holds EX, or waits for the demote's writeback of them, or
 * finds nothing. A node holding no glock has nothing dirty; a writeback
 * that failed in go_sync is in the mapping's errseq (the report below).
 */
int vfs_fsync_range(struct file *f, int64_t start, int64_t end, bool datasync)
{
	int err;

	if (file_is_dir(f))
		return 0; /* no store to sync here: vfs_fsync_dir */
	err = file_write_and_wait_report(f, start, end);
	if (err)
		return err;
	return store_sync_range(f->f_inode->i_store, start, end, datasync);
}

TEST_SWITCH(fsync_test_dir_noop);

int vfs_fsync_dir(struct file *f)
{
	if (unlikely(fsync_test_dir_noop))
		return 0;
	return store_node_sync_dir(f->f_node);
}

int vfs_flush(struct file *f)
{
	if (file_is_dir(f))
		return 0;
	/* A reader's close has nothing to write and no error to be told:
	 * Linux's NFS flush writes back only files open for writing. */
	if (!(f->f_mode & FMODE_WRITE))
		return 0;
	return file_write_and_wait_report(f, 0, INT64_MAX);
}

/* ---- llseek ---- */

static int64_t vfs_setpos(struct file *f, int64_t pos)
{
	if (pos < 0 || pos > PC_MAX_FILE_SIZE)
		return -EINVAL;
	file_pos_write(f, pos);
	return pos;
}

/* SEEK_DATA / SEEK_HOLE: write the rest of the file back, so that the
 * store's map also describes what is only dirty in the cache, then walk it.
 * Unwritten extents read as zeroes and count as holes. */
static int64_t seek_data_hole(struct file *f, int64_t offset, int whence)
{
	struct inode *inode = f->f_inode;
	struct address_space *m = f->f_mapping;
	int64_t isize, pos, found = -ENXIO;
	struct inode_gh gh = {.held = false};
	int err;

	inode_lock_shared(inode);
	/* Cluster mode: SH, so that a node holding EX has written its dirty
	 * pages back (the store's map then describes them) and the size is
	 * the one go_instantiate read after that; our own dirty pages (we hold
	 * EX) are written back below. */
	if (likely(!READ_ONCE(cluster_test_seek_no_glock))) {
		err = inode_gl_nq(inode, LM_ST_SHARED, 0, &gh);
		if (err) {
			inode_unlock_shared(inode);
			return err;
		}
	}
	isize = i_size_read(m);
	if (offset < 0 || offset >= isize)
		goto out;
	err = filemap_write_and_wait_range(m, offset, isize - 1);
	if (err) {
		found = err;
		goto out;
	}
	for (pos = offset; pos < isize;) {
		struct store_map map;

		err = store_map(inode->i_store, pos, isize - pos, &map);
		if (err) {
			found = err;
			goto out;
		}
		if ((map.type == STORE_MAPPED) == (whence == SEEK_DATA)) {
			found = pos;
			goto out;
		}
		pos += map.length;
	}
	if (whence == SEEK_HOLE)
		found = isize; /* the implicit hole at end of file */
out:
	inode_gl_dq(&gh);
	inode_unlock_shared(inode);
	return found < 0 ? found : vfs_setpos(f, found);
}

int64_t generic_file_llseek(struct file *f, int64_t offset, int whence)
{
	int64_t pos;

	if (file_is_dir(f)) {
		/* A directory offset is a readdir cookie: it can be re-set or read. */
		if (whence == SEEK_SET)
			return offset < 0 ? -EINVAL : (file_pos_write(f, offset), offset);
		if (whence == SEEK_CUR && offset == 0)
			return file_pos_read(f);
		return -EINVAL;
	}
	switch (whence) {
	case SEEK_SET:
		return vfs_setpos(f, offset);
	case SEEK_END:
		if (__builtin_add_overflow(i_size_read(f->f_mapping), offset, &pos))
			return -EINVAL;
		return vfs_setpos(f, pos);
	case SEEK_CUR:
		mutex_lock(&f->f_pos_lock);
		if (__builtin_add_overflow(f->f_pos, offset, &pos) || pos < 0 ||
		    pos > PC_MAX_FILE_SIZE) {
			mutex_unlock(&f->f_pos_lock);
			return -EINVAL;
		}
		f->f_pos = pos;
		mutex_unlock(&f->f_pos_lock);
		return pos;
	case SEEK_DATA:
	case SEEK_HOLE:
		return seek_data_hole(f, offset, whence);
	default:
		return -EINVAL;
	}
}

/* ---- fadvise ---- */

int generic_fadvise(struct file *f, int64_t offset, int64_t len, int advice)
{
	struct address_space *m = f->f_mapping;
	struct inode_gh gh = {.held = false};
	int64_t endbyte, isize;
	pgoff_t start, end;

	if (len < 0)
		return -EINVAL;
	switch (advice) {
	case POSIX_FADV_NORMAL:
	case POSIX_FADV_RANDOM:
	case POSIX_FADV_SEQUENTIAL:
	case POSIX_FADV_WILLNEED:
	case POSIX_FADV_NOREUSE:
	case POSIX_FADV_DONTNEED:
		break;
	default:
		return -EINVAL;
	}
	if (file_is_dir(f))
		return 0;
	/* len 0: to the end of the file; careful about overflow. */
	if (!len || __builtin_add_overflow(offset, len, &endbyte))
		endbyte = INT64_MAX;
	else
		endbyte--; /* inclusive */

	switch (advice) {
	case POSIX_FADV_NORMAL:
		__atomic_store_n(&f->f_ra.ra_pages, m->cache->ra_max_pages, __ATOMIC_RELAXED);
		break;
	case POSIX_FADV_RANDOM:
		__atomic_store_n(&f->f_ra.ra_pages, 0ul, __ATOMIC_RELAXED);
		break;
	case POSIX_FADV_SEQUENTIAL:
		__atomic_store_n(&f->f_ra.ra_pages, 2 * m->cache->ra_max_pages, __ATOMIC_RELAXED);
		break;
	case POSIX_FADV_WILLNEED:
		/* Cluster mode: SH, as a read: pages enter the cache only under
		 * SH or EX (a page read while another node holds EX would stay
		 * cached, stale, after this node's next grant). */
		if (likely(!READ_ONCE(cluster_test_fadvise_no_glock))) {
			int err = inode_gl_nq(f->f_inode, LM_ST_SHARED, 0, &gh);

			if (err)
				return err;
		}
		/* first and last partial page, within the file */
		isize = i_size_read(m);
		if (offset >= 0 && offset < isize) {
			if (endbyte >= isize)
				endbyte = isize - 1;
			start = (pgoff_t)offset >> PAGE_SHIFT;
			end = (pgoff_t)endbyte >> PAGE_SHIFT;
			force_page_cache_readahead(m, start, end - start + 1);
		}
		inode_gl_dq(&gh);
		break;
	case POSIX_FADV_DONTNEED:
		if (offset < 0)
			break;
		/* start writeback (no wait), then drop the clean full pages */
		filemap_fdatawrite_range(m, offset, endbyte);
		start = ((pgoff_t)offset + PAGE_SIZE - 1) >> PAGE_SHIFT;
		end = (pgoff_t)endbyte >> PAGE_SHIFT;
		if ((endbyte & (int64_t)(PAGE_SIZE - 1)) != (int64_t)(PAGE_SIZE - 1)) {
			if (end == 0)
				break;
			end--;
		}
		if (end > PAGE_INDEX_MAX)
			end = PAGE_INDEX_MAX;
		if (end >= start)
			invalidate_mapping_pages(m, start, end);
		break;
	case POSIX_FADV_NOREUSE:
		break;
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * remap_range.c - clone (FICLONERANGE, FICLONE), dedupe (FIDEDUPERANGE) and
 * copy_file_range(2): the kernel's fs/remap_range.c and the copy part of
 * fs/read_write.c, with the checks and errnos of Linux 6.x (XFS's
 * remap_file_range for the store's part). Hazard H8, docs/design.md §7.11.
 *
 * Locks (docs/locking.md): a remap (clone or dedupe) takes both files'
 * i_rwsem exclusive in address order (the second SINGLE_DEPTH_NESTING),
 * waits for the direct I/O of both (inode_dio_wait), then takes BLOCK of
 * both invalidate locks in address order (the second SINGLE_DEPTH_NESTING)
 * and holds all four to the end: write back both ranges -> (dedupe) compare
 * the pages as the owner of both fences: its own fills take no ADD
 * (read_mapping_page_fenced), and each page is re-checked uptodate and
 * still in its file after the compare -> drop the destination's pages of
 * the range (which unmaps them from every view) -> remap in the store ->
 * the destination's size. A same-file remap takes each lock once.
 * copy_file_range first tries a clone of what can be shared (as above);
 * else it copies a chunk at a time - a read of the source (buffered: no
 * lock held), then a write of the destination (its own i_rwsem), each
 * buffered or direct as the file was opened - never with both files'
 * locks held.
 *
 * Cluster mode (docs/cluster.md): a remap takes both glocks after both
 * i_rwsem (remap_glocks: the destination EX, the source SH, in number
 * order with glock_nq_two) and before the fences. The copy fallback holds
 * one glock at a time: the read holds the source's (SH, or DF for an
 * O_DIRECT source) across a chunk into a heap buffer, then the write holds
 * the destination's (EX, or DF) across it - never both, and the buffer is
 * no view of a file, so its copies never fault for a glock. A chunk (1 MiB)
 * is one read under one glock hold: it sees another node's write of the
 * source all or not at all; a longer copy is several, as Linux's splice
 * fallback is.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/cluster.h"
#include "fs/file.h"
#include "fs/remap.h"
#include "kernel/sched.h"
#include "mm/page.h"

TEST_SWITCH(remap_test_no_src_fence);
TEST_SWITCH(remap_test_no_dst_fence);

/* The largest dedupe request (the kernel's arbitrary 1 GiB). */
#define DEDUPE_MAX ((int64_t)1 << 30)
/* Bytes one chunk of a copy through the cache moves. */
#define COPY_CHUNK ((size_t)1 << 20)

static inline int64_t align_up(int64_t x, int64_t a)
{
	return (x + a - 1) / a * a;
}

/* The unit of sharing: a page, the engine's block (the block of vol and of
 * XFS, the host file system the dir store can clone on, is 4 KiB too). */
static int64_t remap_blksize(const struct inode *inode)
{
	(void)inode;
	return PAGE_SIZE;
}

/* ---- locking two files ---- */

static void lock_two_inodes(struct inode *a, struct inode *b)
{
	if (a == b) {
		inode_lock(a);
		return;
	}
	if (a > b) {
		struct inode *t = a;
		a = b;
		b = t;
	}
	inode_lock(a);
	down_write_nested(&b->i_rwsem, SINGLE_DEPTH_NESTING);
}

static void unlock_two_inodes(struct inode *a, struct inode *b)
{
	inode_unlock(a);
	if (b != a)
		inode_unlock(b);
}

/* Which fences a remap takes (the switches leave one out; a same-file
 * remap has one fence and keeps it). */
static bool fence_wanted(const struct inode *i, const struct inode *src, const struct inode *dst)
{
	if (src == dst)
		return true;
	if (i == src)
		return !remap_test_no_src_fence;
	return !remap_test_no_dst_fence;
}

static void lock_two_fences(struct inode *src, struct inode *dst)
{
	struct inode *a = src < dst ? src : dst, *b = src < dst ? dst : src;
	bool first = false;

	if (fence_wanted(a, src, dst)) {
		filemap_invalidate_lock_block(&a->i_data);
		first = true;
	}
	if (b == a)
		return;
	if (fence_wanted(b, src, dst)) {
		if (first)
			filemap_invalidate_lock_block_nested(&b->i_data, SINGLE_DEPTH_NESTING);
		else
			filemap_invalidate_lock_block(&b->i_data);
	}
}

static void unlock_two_fences(struct inode *src, struct inode *dst)
{
	if (fence_wanted(src, src, dst))
		filemap_invalidate_unlock_block(&src->i_data);
	if (dst != src && fence_wanted(dst, src, dst))
		filemap_invalidate_unlock_block(&dst->i_data);
}

/* ---- the checks (generic_remap_checks, generic_remap_check_len) ---- */

static int remap_checks(struct inode *src, int64_t pos_in, struct inode *dst, int64_t pos_out,
			int64_t *req_count, unsigned flags)
{
	uint64_t count = (uint64_t)*req_count, bcount;
	int64_t bs = remap_blksize(dst), size_in, size_out;
	bool dedup = flags & REMAP_FILE_DEDUP;

	/* the start of both ranges on a block */
	if (pos_in % bs || pos_out % bs)
		return -EINVAL;
	if ((uint64_t)pos_in + count < (uint64_t)pos_in ||
	    (uint64_t)pos_out + count < (uint64_t)pos_out)
		return -EINVAL;
	size_in = i_size_read(&src->i_data);
	size_out = i_size_read(&dst->i_data);
	/* dedupe: both ranges inside EOF */
	if (dedup && (pos_in >= size_in || (uint64_t)pos_in + count > (uint64_t)size_in ||
		      pos_out >= size_out || (uint64_t)pos_out + count > (uint64_t)size_out))
		return -EINVAL;
	if (pos_in >= size_in)
		return -EINVAL;
	if (count > (uint64_t)(size_in - pos_in))
		count = (uint64_t)(size_in - pos_in);
	/* generic_write_check_limits */
	if (pos_out >= PC_MAX_FILE_SIZE)
		return -EFBIG;
	if (count > (uint64_t)(PC_MAX_FILE_SIZE - pos_out))
		count = (uint64_t)(PC_MAX_FILE_SIZE - pos_out);
	/* to the source's EOF: its last block whole; else whole blocks only */
	if (pos_in + (int64_t)count == size_in &&
	    (!dedup || pos_out + (int64_t)count == size_out)) {
		bcount = (uint64_t)(align_up(size_in, bs) - pos_in);
	} else {
		count -= count % (uint64_t)bs;
		bcount = count;
	}
	/* no overlap within one file */
	if (src == dst && pos_out + (int64_t)bcount > pos_in && pos_out < pos_in + (int64_t)bcount)
		return -EINVAL;
	if ((uint64_t)*req_count != count && !(flags & REMAP_FILE_CAN_SHORTEN))
		return -EINVAL;
	*req_count = (int64_t)count;
	return 0;
}

/* A partial last block may only be shared where it ends at or past the
 * destination's EOF (its tail past EOF is then not file contents). */
static int remap_check_len(struct inode *src, struct inode *dst, int64_t pos_out, int64_t *len,
			   unsigned flags)
{
	int64_t bs = remap_blksize(src), new_len = *len;

	if (*len % bs == 0)
		return 0;
	if (pos_out + *len < i_size_read(&dst->i_data))
		new_len -= new_len % bs;
	if (new_len == *len)
		return 0;
	if (flags & REMAP_FILE_CAN_SHORTEN) {
		*len = new_len;
		return 0;
	}
	return flags & REMAP_FILE_DEDUP ? -EBADE : -EINVAL;
}

/* ---- dedupe's compare ---- */

/* Compares [pos_in, +len) of @src with [pos_out, +len) of @dst. The caller
 * owns both fences (BLOCK) and both i_rwsem: nobody else fills, drops or
 * writes these pages, and the reference held on each keeps reclaim off
 * it. Each page is looked at again after its compare all the same (as
 * vfs_dedupe_file_range_compare does under the page locks): one no longer
 * uptodate or in its file is read again. */
static int dedupe_compare(struct inode *src, int64_t pos_in, struct inode *dst, int64_t pos_out,
			  int64_t len, bool *same)
{
	*same = true;
	while (len > 0) {
		size_t soff = (size_t)pos_in & (PAGE_SIZE - 1),
		       doff = (size_t)pos_out & (PAGE_SIZE - 1);
		size_t cmp = PAGE_SIZE - (soff > doff ? soff : doff);
		struct page *sp, *dp;
		bool differ;
		int err;

		if ((int64_t)cmp > len)
			cmp = (size_t)len;
		sp = read_mapping_page_fenced(&src->i_data, (pgoff_t)pos_in >> PAGE_SHIFT, &err);
		if (!sp)
			return err;
		dp = read_mapping_page_fenced(&dst->i_data, (pgoff_t)pos_out >> PAGE_SHIFT, &err);
		if (!dp) {
			put_page(sp);
			return err;
		}
		sched_race_window("dedupe: both pages uptodate, not yet compared");
		differ = memcmp((char *)page_address(&src->i_data, sp) + soff,
				(char *)page_address(&dst->i_data, dp) + doff, cmp) != 0;
		/* still uptodate and still in their files: else look again */
		if (!PageUptodate(sp) || !PageUptodate(dp) ||
		    READ_ONCE(sp->mapping) != &src->i_data ||
		    READ_ONCE(dp->mapping) != &dst->i_data) {
			put_page(sp);
			put_page(dp);
			continue;
		}
		put_page(sp);
		put_page(dp);
		if (differ) {
			*same = false;
			return 0;
		}
		pos_in += (int64_t)cmp;
		pos_out += (int64_t)cmp;
		len -= (int64_t)cmp;
	}
	return 0;
}

/* ---- the remap ---- */

/* Both i_rwsem held: the prep of generic_remap_file_range_prep, the fences,
 * and the remap. Returns the bytes remapped or -errno. */
static int64_t remap_locked(struct inode *src, int64_t pos_in, struct inode *dst, int64_t pos_out,
			    int64_t len, unsigned flags)
{
	bool dedup = flags & REMAP_FILE_DEDUP;
	int64_t start, end, isize;
	int err;

	/* zero length: dedupe is done, a clone goes to the source's EOF */
	if (len == 0) {
		isize = i_size_read(&src->i_data);
		if (dedup || pos_in == isize)
			return 0;
		if (pos_in > isize)
			return -EINVAL;
		len = isize - pos_in;
	}
	err = remap_checks(src, pos_in, dst, pos_out, &len, flags);
	if (err || len == 0)
		return err;
	if (!dedup) {
		err = inode_sync_store_size(dst);
		if (err)
			return err;
	}
	inode_dio_wait(src);
	if (dst != src)
		inode_dio_wait(dst);
	lock_two_fences(src, dst);
	/* the destination's range in whole pages: its edge pages are dropped
	 * whole below, so they are written back whole first */
	start = pos_out & ~(int64_t)(PAGE_SIZE - 1);
	end = align_up(pos_out + len, PAGE_SIZE) - 1;
	err = filemap_write_and_wait_range(&src->i_data, pos_in, pos_in + len - 1);
	if (!err)
		err = filemap_write_and_wait_range(&dst->i_data, start, end);
	/* the store's sizes are the files' (dirty pages past the ranges may
	 * still carry them): the store checks the ranges against its own */
	if (!err)
		err = store_cover_isize(src);
	if (!err && dst != src)
		err = store_cover_isize(dst);
	if (err)
		goto out;
	sched_race_window("remap: both ranges written back and fenced");
	if (dedup) {
		bool same;

		err = dedupe_compare(src, pos_in, dst, pos_out, len, &same);
		if (!err && !same)
			err = -EBADE;
		if (err)
			goto out;
	}
	err = remap_check_len(src, dst, pos_out, &len, flags);
	if (err || len == 0)
		goto out;
	if (!dedup)
		inode_update_time(dst); /* file_modified */
	/* truncate_inode_pages_range + unmap_mapping_range of the destination:
	 * dropping a page punches its frame, which unmaps it from every view */
	end = align_up(pos_out + len, PAGE_SIZE) - 1;
	truncate_pagecache_range(&dst->i_data, start, end);
	sched_race_window("remap: destination pages dropped, store not yet remapped");
	err = store_clone_range(src->i_store, pos_in, dst->i_store, pos_out, len);
	if (err)
		goto out;
	if (pos_out + len > i_size_read(&dst->i_data))
		i_size_write(&dst->i_data, pos_out + len);
out:
	unlock_two_fences(src, dst);
	return err ? err : len;
}

/* generic_file_rw_checks: both regular files, read into write, no append. */
static int rw_checks(struct file *in, struct file *out)
{
	if (file_is_dir(in) || file_is_dir(out))
		return -EISDIR;
	if (!(in->f_mode & FMODE_READ) || !(out->f_mode & FMODE_WRITE) || (out->f_flags & O_APPEND))
		return -EBADF;
	return 0;
}

/* remap_verify_area */
static int remap_verify_area(int64_t pos, int64_t len)
{
	int64_t tmp;

	if (pos < 0 || len < 0)
		return -EINVAL;
	if (__builtin_add_overflow(pos, len, &tmp))
		return -EINVAL;
	return 0;
}

static bool store_can_clone(const struct inode *inode)
{
	return store_has_clone_range(inode->i_store);
}

/*
 * Cluster mode: both files' glocks, after both i_rwsem, in number order
 * (glock_nq_two): the destination EX (its pages are dropped and its store
 * range and size change), the source SH (its data must be on the store:
 * a node holding it EX writes back and keeps only clean pages), one EX
 * holder for a same-file remap. Nothing here copies to or from user memory
 * (write-back, the compare and the store's clone move cache pages and store
 * blocks only), so no fault can come while both are held and the restart
 * rule (never wait for a glock while holding one) has nothing to refuse.
 */
static int remap_glocks(struct inode *src, struct inode *dst, struct gholder *gs,
			struct gholder *gd, bool *held)
{
	int err;

	*held = false;
	if (likely(!dst->i_gl) || READ_ONCE(cluster_test_remap_no_glock))
		return 0;
	gholder_init(src->i_gl, src == dst ? LM_ST_EXCLUSIVE : LM_ST_SHARED, 0, gs);
	gholder_init(dst->i_gl, LM_ST_EXCLUSIVE, 0, gd);
	err = glock_nq_two(gd, gs);
	*held = !err;
	return err;
}

static void remap_glocks_dq(struct inode *src, struct inode *dst, struct gholder *gs,
			    struct gholder *gd, bool held)
{
	if (!held)
		return;
	glock_dq(gd); /* one glock: glock_nq_two took only the first holder */
	if (src->i_gl != dst->i_gl)
		glock_dq(gs);
}

static int64_t do_remap(struct file *in, int64_t pos_in, struct file *out, int64_t pos_out,
			int64_t len, unsigned flags)
{
	struct inode *src = in->f_inode, *dst = out->f_inode;
	struct gholder gs, gd;
	bool held;
	int64_t ret;

	lock_two_inodes(src, dst);
	ret = remap_glocks(src, dst, &gs, &gd, &held);
	if (!ret)
		ret = remap_locked(src, pos_in, dst, pos_out, len, flags);
	remap_glocks_dq(src, dst, &gs, &gd, held);
	unlock_two_inodes(src, dst);
	return ret;
}

int64_t vfs_clone_file_range(struct file *in, int64_t pos_in, struct file *out, int64_t pos_out,
			     int64_t len, unsigned flags)
{
	int err;

	if (flags & ~(REMAP_FILE_DEDUP | REMAP_FILE_CAN_SHORTEN) || (flags & REMAP_FILE_DEDUP))
		return -EINVAL;
	err = remap_verify_area(pos_in, len);
	if (!err)
		err = remap_verify_area(pos_out, len);
	if (!err)
		err = rw_checks(in, out);
	if (err)
		return err;
	if (!store_can_clone(out->f_inode))
		return -EOPNOTSUPP;
	return do_remap(in, pos_in, out, pos_out, len, flags);
}

/* may_dedupe_file: the destination open for writing, or the caller may
 * write it (root, its owner, or its mode lets the caller write). */
static bool may_dedupe_file(struct file *f)
{
	struct stat st;
	uid_t uid = geteuid();

	if (uid == 0 || (f->f_mode & FMODE_WRITE))
		return true;
	if (store_node_getattr(f->f_node, &st))
		return false;
	if (st.st_uid == uid)
		return true;
	if (st.st_gid == getegid())
		return st.st_mode & S_IWGRP;
	return st.st_mode & S_IWOTH;
}

int vfs_dedupe_src_checks(struct file *in, int64_t off, int64_t len)
{
	int err;

	if (!(in->f_mode & FMODE_READ))
		return -EINVAL;
	if (file_is_dir(in))
		return -EISDIR;
	if (!store_can_clone(in->f_inode))
		return -EOPNOTSUPP;
	err = remap_verify_area(off, len);
	if (err)
		return err;
	if (off + len > i_size_read(in->f_mapping))
		return -EINVAL;
	return 0;
}

int64_t vfs_dedupe_file_range_one(struct file *in, int64_t pos_in, struct file *out,
				  int64_t pos_out, int64_t len)
{
	int err = remap_verify_area(pos_in, len);

	if (!err)
		err = remap_verify_area(pos_out, len);
	if (err)
		return err;
	if (!may_dedupe_file(out))
		return -EPERM;
	if (file_is_dir(out))
		return -EISDIR;
	if (len > DEDUPE_MAX)
		len = DEDUPE_MAX;
	if (len == 0)
		return 0;
	return do_remap(in, pos_in, out, pos_out, len, REMAP_FILE_DEDUP | REMAP_FILE_CAN_SHORTEN);
}

/* ---- copy_file_range ---- */

/* generic_copy_file_checks and rw_verify_area of both files: *count comes
 * back cut to the source's EOF and the size limit. */
static int copy_checks(struct file *in, int64_t pos_in, struct file *out, int64_t pos_out,
		       size_t *count)
{
	uint64_t c = *count;
	int64_t size_in;
	int err = rw_checks(in, out);

	if (err)
		return err;
	if ((uint64_t)pos_in + c < (uint64_t)pos_in || (uint64_t)pos_out + c < (uint64_t)pos_out)
		return -EOVERFLOW;
	size_in = i_size_read(in->f_mapping);
	if (pos_in >= size_in)
		c = 0;
	else if (c > (uint64_t)(size_in - pos_in))
		c = (uint64_t)(size_in - pos_in);
	if (pos_out >= PC_MAX_FILE_SIZE)
		return -EFBIG;
	if (pos_out >= 0 && c > (uint64_t)(PC_MAX_FILE_SIZE - pos_out))
		c = (uint64_t)(PC_MAX_FILE_SIZE - pos_out);
	if (in->f_inode == out->f_inode && (uint64_t)pos_out + c > (uint64_t)pos_in &&
	    (uint64_t)pos_out < (uint64_t)pos_in + c)
		return -EINVAL;
	/* rw_verify_area, READ then WRITE */
	if ((ssize_t)c < 0 || pos_in < 0 || pos_in + (int64_t)c < 0)
		return -EINVAL;
	if (pos_out < 0 || pos_out + (int64_t)c < 0)
		return -EINVAL;
	*count = (size_t)c;
	return 0;
}

/* A read of the source, then a write of the destination, a chunk at a
 * time, each as the file was opened: buffered through the page cache, or
 * direct for an O_DIRECT file with its alignment rules (Linux's splice
 * reads and writes an O_DIRECT file directly too). Short at the source's
 * EOF. */
static ssize_t copy_through_cache(struct file *in, int64_t pos_in, struct file *out,
				  int64_t pos_out, size_t len)
{
	size_t chunk = len < COPY_CHUNK ? len : COPY_CHUNK, done = 0;
	char *buf = aligned_alloc(PAGE_SIZE, (chunk + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1));
	ssize_t ret = 0;

	if (!buf)
		return -ENOMEM;
	while (done < len) {
		size_t want = len - done < chunk ? len - done : chunk;
		struct iovec iov = {.iov_base = buf, .iov_len = want};
		struct iov_iter it;
		struct kiocb k;
		ssize_t r, w;

		iov_iter_init(&it, &iov, 1, want);
		init_sync_kiocb(&k, in, pos_in + (int64_t)done);
		r = generic_file_read_iter(&k, &it);
		if (r <= 0) {
			ret = r;
			break;
		}
		iov.iov_len = (size_t)r;
		iov_iter_init(&it, &iov, 1, (size_t)r);
		init_sync_kiocb(&k, out, pos_out + (int64_t)done);
		k.ki_flags &= ~IOCB_APPEND;
		w = generic_file_write_iter(&k, &it);
		if (w <= 0) {
			ret = w;
			break;
		}
		done += (size_t)w;
		if (w < r || (size_t)r < want)
			break;
	}
	free(buf);
	return done ? (ssize_t)done : ret;
}

ssize_t vfs_copy_file_range(struct file *in, int64_t pos_in, struct file *out, int64_t pos_out,
			    size_t len, unsigned flags)
{
	int err;

	if (flags)
		return -EINVAL;
	err = copy_checks(in, pos_in, out, pos_out, &len);
	if (err)
		return err;
	if (len == 0)
		return 0;
	if (len > MAX_RW_COUNT)
		len = MAX_RW_COUNT;
	/* share what can be shared (as Linux does on a file system with
	 * remap_file_range and no copy_file_range of its own) */
	if (store_can_clone(out->f_inode)) {
		int64_t r =
		    do_remap(in, pos_in, out, pos_out, (int64_t)len, REMAP_FILE_CAN_SHORTEN);

		if (r > 0)
			return (ssize_t)r;
	}
	return copy_through_cache(in, pos_in, out, pos_out, len);
}

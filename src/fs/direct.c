/* SPDX-License-Identifier: MIT */
/*
 * direct.c - O_DIRECT reads and writes: the store's O_DIRECT I/O straight
 * between the user buffers and the backing file, kept coherent with the
 * page cache (ARCHITECTURE §7, H3; kernel-anchors E). This is the simple
 * form: the user buffer is handed to the store as it is, so a buffer that
 * is a mapping of an engine file gives -EFAULT (the fault-in/restart loop
 * of H4-H6 is a later change).
 *
 * Locks: read: i_rwsem shared (trylock for NOWAIT) around the DIO count,
 * the writeback of the range and the store read. Write: the caller holds
 * i_rwsem exclusive; here the DIO count, then BLOCK for the whole
 * writeback + invalidate + store write + i_size update, so no page of the
 * file can be added meanwhile.
 */
#include <errno.h>

#include "fs/file.h"

/* Every byte of the request aligned to the store's DIO granularity. */
static bool dio_aligned(const struct iov_iter *iter, int64_t pos, unsigned align)
{
	uint64_t mask = align - 1;
	size_t left = iter->count, off = iter->iov_offset;

	if ((uint64_t)pos & mask)
		return false;
	for (unsigned long seg = 0; seg < iter->nr_segs && left; seg++, off = 0) {
		size_t len = iter->iov[seg].iov_len - off;

		if (len > left)
			len = left;
		if (!len)
			continue;
		if ((((uintptr_t)iter->iov[seg].iov_base + off) | len) & mask)
			return false;
		left -= len;
	}
	return true;
}

/* Issues the store I/O segment by segment; stops at a short transfer. */
static ssize_t dio_iterate(struct store_inode *si, struct iov_iter *iter, int64_t pos, bool write)
{
	size_t left = iter->count, off = iter->iov_offset;
	ssize_t done = 0;

	for (unsigned long seg = 0; seg < iter->nr_segs && left; seg++, off = 0) {
		char *base = (char *)iter->iov[seg].iov_base + off;
		size_t len = iter->iov[seg].iov_len - off;
		ssize_t r;

		if (len > left)
			len = left;
		if (!len)
			continue;
		r = write ? store_dio_write(si, base, len, pos + done)
			  : store_dio_read(si, base, len, pos + done);
		if (r < 0) {
			if (!done)
				done = r;
			break;
		}
		done += r;
		left -= (size_t)r;
		if ((size_t)r < len)
			break;
	}
	if (done > 0)
		iov_iter_advance(iter, (size_t)done);
	return done;
}

/* Is any page of [start, end] (bytes) in the cache? (NOWAIT checks) */
static bool range_has_page(struct address_space *m, int64_t start, int64_t end)
{
	pgoff_t index = (pgoff_t)start >> PAGE_SHIFT;
	struct page *page;

	if (!page_index_nrpages(&m->i_pages))
		return false;
	if (!find_get_pages_range(&m->i_pages, &index, (pgoff_t)end >> PAGE_SHIFT, &page, 1))
		return false;
	put_page(page);
	return true;
}

/*
 * The store read stopped at the store's end of file, below i_size: the rest
 * is a hole whose end the cache has not written back yet (dirty pages past
 * the range being read extend i_size), so it reads as zeroes. Copies up to
 * @max zero bytes into the user buffers; returns how many. The copy may
 * fault (only i_rwsem shared is held, as in a buffered read under xfs).
 */
static size_t zero_fill_past_store_eof(struct iov_iter *iter, size_t max)
{
	static const char zeroes[PAGE_SIZE];
	size_t done = 0;

	if (max > iter->count)
		max = iter->count;
	while (done < max) {
		size_t n = max - done < PAGE_SIZE ? max - done : PAGE_SIZE;
		size_t c = copy_page_to_iter(zeroes, n, iter);

		done += c;
		if (c < n)
			break;
	}
	return done;
}

ssize_t direct_read(struct kiocb *iocb, struct iov_iter *iter)
{
	struct file *f = iocb->ki_filp;
	struct inode *inode = f->f_inode;
	struct address_space *m = f->f_mapping;
	struct store_inode *si = inode->i_store;
	int64_t pos = iocb->ki_pos, isize, avail;
	unsigned align = si->store->dio_align;
	ssize_t ret;

	if (iocb->ki_flags & IOCB_NOWAIT) {
		if (!inode_trylock_shared(inode))
			return -EAGAIN;
	} else {
		inode_lock_shared(inode);
	}
	isize = i_size_read(m);
	if (!iter->count || pos >= isize) {
		ret = 0;
		goto out;
	}
	if (!dio_aligned(iter, pos, align)) {
		ret = -EINVAL;
		goto out;
	}
	/* Read no further than the block holding EOF. */
	avail = isize - pos;
	if ((uint64_t)avail < iter->count)
		iter->count = ((size_t)avail + align - 1) & ~((size_t)align - 1);

	inode_dio_begin(inode);
	if (iocb->ki_flags & IOCB_NOWAIT) {
		/* kiocb_write_and_wait: no waiting for writeback either */
		ret = (page_index_tagged(&m->i_pages, PAGECACHE_TAG_DIRTY) ||
		       page_index_tagged(&m->i_pages, PAGECACHE_TAG_WRITEBACK))
			  ? -EAGAIN
			  : 0;
	} else {
		ret = filemap_write_and_wait_range(m, pos, pos + (int64_t)iter->count - 1);
	}
	if (!ret)
		ret = dio_iterate(si, iter, pos, false);
	if (ret >= 0 && ret < avail && iter->count)
		ret += zero_fill_past_store_eof(iter, (size_t)(avail - ret));
	inode_dio_end(inode);
	if (ret > avail) {
		iov_iter_revert(iter, (size_t)(ret - avail));
		ret = avail;
	}
	if (ret > 0)
		iocb->ki_pos += ret;
out:
	inode_unlock_shared(inode);
	return ret;
}

/*
 * A page in the range could not be invalidated (-EBUSY): as the kernel's
 * direct_write_fallback, write through the cache instead, then write that
 * back and drop it, so the data reaches the store as O_DIRECT promises.
 */
static ssize_t direct_write_fallback(struct kiocb *iocb, struct iov_iter *iter)
{
	struct address_space *m = iocb->ki_filp->f_mapping;
	int64_t pos = iocb->ki_pos;
	ssize_t ret;
	int err;

	ret = generic_perform_write(m, iter, pos, 0);
	if (ret <= 0)
		return ret;
	err = filemap_write_and_wait_range(m, pos, pos + ret - 1);
	if (err)
		return err;
	invalidate_mapping_pages(m, (pgoff_t)pos >> PAGE_SHIFT,
				 (pgoff_t)(pos + ret - 1) >> PAGE_SHIFT);
	iocb->ki_pos += ret;
	return ret;
}

ssize_t direct_write(struct kiocb *iocb, struct iov_iter *iter)
{
	struct inode *inode = iocb->ki_filp->f_inode;
	struct address_space *m = &inode->i_data;
	struct store_inode *si = inode->i_store;
	int64_t pos = iocb->ki_pos, end = pos + (int64_t)iter->count - 1;
	bool busy = false;
	ssize_t ret;

	if (!dio_aligned(iter, pos, si->store->dio_align))
		return -EINVAL;

	inode_dio_begin(inode);
	filemap_invalidate_lock_block(m);
	if ((iocb->ki_flags & IOCB_NOWAIT) && range_has_page(m, pos, end)) {
		ret = -EAGAIN;
	} else {
		ret = filemap_write_and_wait_range(m, pos, end);
		if (!ret)
			ret = invalidate_inode_pages2_range(m, (pgoff_t)pos >> PAGE_SHIFT,
							    (pgoff_t)end >> PAGE_SHIFT);
		busy = ret == -EBUSY;
	}
	if (!ret) {
		/* No page of the range can appear until BLOCK is dropped. */
		ret = dio_iterate(si, iter, pos, true);
		if (ret > 0) {
			if (pos + ret > i_size_read(m))
				i_size_write(m, pos + ret);
			iocb->ki_pos += ret;
		}
	}
	filemap_invalidate_unlock_block(m);
	inode_dio_end(inode);

	if (busy)
		ret = direct_write_fallback(iocb, iter);
	return ret;
}

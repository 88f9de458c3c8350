/* SPDX-License-Identifier: MIT */
/*
 * direct.c - O_DIRECT reads and writes: the store's O_DIRECT I/O straight
 * between the user buffers and the backing file, strictly coherent with the
 * page cache and with mappings, for any user buffer (docs/design.md §7.5
 * and §7.6, hazards H3-H6).
 *
 * A user buffer may be a view of an engine file (ours or another's). The
 * store call cannot fault such a page in (userfaultfd serves user-mode
 * faults only: the call gets EFAULT, maybe after moving a prefix), so each
 * piece is first tried as it is - ordinary memory goes straight through, no
 * copy, no allocation - and on EFAULT a window of the buffer is faulted in
 * from user mode and the store call repeated on its resident prefix (the
 * whole window again on EFAULT). A write faults in with current->fdm set:
 * the fault handler then applies the DIO fault rule (mm/fault_dio.c) and
 * reports "BLOCK was dropped" or "own range refused" by task state, so a
 * restart is never taken for EFAULT, nor EFAULT for a restart (H6). A
 * window that makes no progress DIO_MAX_NOPROGRESS times, or a page of the
 * write's own range, goes through an aligned bounce buffer copied with no
 * invalidate lock held. Only a genuinely bad address ends the I/O: with the
 * bytes done before it, or -EFAULT.
 *
 * Locks. Read: i_rwsem shared (trylock for NOWAIT) -> DIO count -> write
 * back the range -> the loop, faulting in with only i_rwsem held (a read
 * takes no invalidate lock). Write: i_rwsem shared when the write lies
 * inside i_size (direct_write_shared), else the caller's exclusive one ->
 * DIO count -> BLOCK (validator subclass DIO_BLOCK_SUBCLASS; NOWAIT:
 * trylock) -> write back + invalidate the range until it is empty -> the
 * loop (BLOCK held; the fault handler may drop and retake it, and then the
 * range is invalidated again before any store write; the bounce copy runs
 * with BLOCK dropped and is followed by the same invalidation) -> i_size ->
 * BLOCK dropped -> DIO count. No page of the range can be added while the
 * store is written, so a read or fault that starts after the write returned
 * reads the new data from the store (H3). Each page-cache step is one call
 * of mm/direct_io.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "fs/cluster.h"
#include "fs/file.h"
#include "kernel/sched.h"
#include "mm/direct_io.h"
#include "mm/uaccess.h"
#include "mm/vma.h"

#define DIO_WINDOW	   (1u << 20)	/* faulted in at a time */
#define DIO_BOUNCE_MAX	   (256u << 10) /* copied through a bounce buffer at a time */
#define DIO_MAX_NOPROGRESS 4		/* rounds without progress before the bounce */

TEST_SWITCH(dio_test_restart_as_efault);
TEST_KNOB(dio_read_hook_fn, dio_test_after_store_read);

/* One direct I/O in progress. */
struct dio {
	struct inode *inode;
	struct address_space *m;
	struct store_inode *si;
	int64_t end; /* last byte of the request */
	unsigned align;
	bool write, nowait;
	bool block; /* a write holding BLOCK (policy allowing) */
	unsigned long retries, dropped, bounced;
};

/* What a fault-in of a window found. */
enum dio_fault {
	DIO_RESIDENT, /* a prefix is resident: issue it */
	DIO_RESTART,  /* the handler dropped BLOCK (or gave it up): go round */
	DIO_BOUNCE,   /* a page of the write's own range: copy through a bounce */
	DIO_BAD,      /* nothing could be faulted in: a bad address */
};

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

/* The write's invalidation again, in the middle of the loop (BLOCK held):
 * nothing to fall back to any more. */
static int dio_reinvalidate(struct dio *d, int64_t start)
{
	int err = filemap_dio_invalidate(d->m, start, d->end);

	return err == -EBUSY ? -EIO : err;
}

static ssize_t dio_issue(struct dio *d, void *buf, size_t len, int64_t pos)
{
	return d->write ? store_dio_write(d->si, buf, len, pos)
			: store_dio_read(d->si, buf, len, pos);
}

/*
 * Faults [p, p + win) in from user mode (a write: as loads, with the fault
 * rule on; a read: as stores) and says what came of it; *resident: the
 * aligned resident prefix. A write's BLOCK is held again on return, and the
 * rest of its range invalidated again if the handler had let go of it.
 */
static enum dio_fault dio_fault_in(struct dio *d, char *p, size_t win, int64_t pos,
				   size_t *resident, int *err)
{
	unsigned flags = 0;
	size_t left;

	*err = 0;
	if (!d->write) {
		left = fault_in_writeable(p, win);
	} else if (!d->block) {
		left = fault_in_readable(p, win);
	} else {
		flags = dio_fault_in_readable(d->m, p, win, pos, d->end, &left);
		if (flags & DIO_FAULT_RETAKEN) {
			/* pages may have come in while BLOCK was not held */
			d->dropped++;
			*err = dio_reinvalidate(d, pos);
			if (*err)
				return DIO_BAD;
		}
		if (unlikely(READ_ONCE(dio_test_restart_as_efault)))
			flags = 0; /* H6 off: only the fault-in's outcome reaches us */
		if (flags & DIO_FAULT_SELF)
			return DIO_BOUNCE;
		if (flags & DIO_FAULT_RETAKEN)
			return DIO_RESTART; /* what was resident may be gone again */
	}
	*resident = (win - left) & ~((size_t)d->align - 1);
	if (*resident)
		return DIO_RESIDENT;
	return flags ? DIO_RESTART : DIO_BAD;
}

/*
 * The slow path of one window: through an aligned private buffer. A write
 * copies from the user with no invalidate lock held (BLOCK dropped: the
 * copy may fault on any file, ours included, as an ordinary fault), takes
 * BLOCK again and invalidates again before the store write. A read copies
 * out with no lock but i_rwsem. Bytes done, or -errno (-EFAULT: none).
 */
static ssize_t dio_bounce(struct dio *d, char *p, size_t win, int64_t pos)
{
	size_t n = win < DIO_BOUNCE_MAX ? win : DIO_BOUNCE_MAX, left;
	size_t balign = d->align > PAGE_SIZE ? d->align : PAGE_SIZE;
	void *b;
	ssize_t r;

	if (posix_memalign(&b, balign, n))
		return -ENOMEM;
	d->bounced++;
	if (d->write) {
		if (d->block)
			dio_block_unlock(d->m);
		left = copy_from_user(b, p, n);
		if (d->block) {
			dio_block_lock(d->m);
			r = dio_reinvalidate(d, pos);
			if (r)
				goto out;
		}
		n = (n - left) & ~((size_t)d->align - 1);
		r = n ? dio_issue(d, b, n, pos) : -EFAULT;
	} else {
		r = dio_issue(d, b, n, pos);
		if (r > 0) {
			left = copy_to_user(p, b, (size_t)r);
			r = left == (size_t)r ? -EFAULT : r - (ssize_t)left;
		}
	}
out:
	free(b);
	return r;
}

/*
 * After a read into user pages: a page of a view that writeback cleaned
 * (and write-protected) while the store was writing into it holds new bytes
 * under a clean page. Touching the pages as stores again faults such a page
 * back to dirty (page_mkwrite). (The kernel re-dirties the pages of a
 * user-backed DIO read at completion for the same reason.) Only a view's
 * page can be such a page: a buffer that overlaps no view is left alone
 * (the touch was one atomic add per page, a cache miss each after the
 * device wrote them: 8-12 us of a 1 MiB read).
 */
static void dio_redirty(struct dio *d, char *p, size_t len, int64_t pos)
{
	if (dio_test_after_store_read && !d->write)
		dio_test_after_store_read(p, len, pos);
	if (!d->write && mm_range_has_view(p, len))
		(void)fault_in_writeable(p, len);
}

/* One contiguous piece of the user buffers: bytes done (short only at the
 * end of the store file or at a bad address), or -errno if none. */
static ssize_t dio_piece(struct dio *d, char *base, size_t len, int64_t pos)
{
	unsigned noprogress = 0;
	size_t done = 0;
	ssize_t r = 0;

	while (done < len) {
		size_t win = len - done, resident = 0;
		enum dio_fault what;
		int err;

		r = dio_issue(d, base + done, win, pos + (int64_t)done);
		if (r > 0) {
			dio_redirty(d, base + done, (size_t)r, pos + (int64_t)done);
			done += (size_t)r;
			noprogress = 0;
			continue; /* a short read: EOF, or EFAULT next time */
		}
		if (r == 0)
			break; /* read: end of the store file */
		if (r != -EFAULT)
			goto err;
		if (d->nowait) {
			r = -EAGAIN; /* faulting in may sleep */
			goto err;
		}
		if (win > DIO_WINDOW)
			win = DIO_WINDOW;
		d->retries++;
		if (noprogress++ >= DIO_MAX_NOPROGRESS) {
			what = DIO_BOUNCE;
		} else {
			what =
			    dio_fault_in(d, base + done, win, pos + (int64_t)done, &resident, &err);
			if (err) {
				r = err;
				goto err;
			}
		}
		switch (what) {
		case DIO_RESTART:
			continue;
		case DIO_BAD:
			r = -EFAULT;
			goto err;
		case DIO_BOUNCE:
			r = dio_bounce(d, base + done, win, pos + (int64_t)done);
			break;
		case DIO_RESIDENT:
			r = dio_issue(d, base + done, resident, pos + (int64_t)done);
			break;
		}
		if (r > 0) {
			if (what == DIO_RESIDENT)
				dio_redirty(d, base + done, (size_t)r, pos + (int64_t)done);
			done += (size_t)r;
			noprogress = 0;
		} else if (r == 0) {
			break;
		} else if (r != -EFAULT || what == DIO_BOUNCE) {
			goto err; /* (a bounce's EFAULT is a bad address) */
		}
		/* EFAULT after the fault-in: a page went again; the whole window again */
	}
	return (ssize_t)done;
err:
	return done ? (ssize_t)done : r;
}

/* The request piece by piece; stops at a short piece. Advances @iter. */
static ssize_t dio_iterate(struct dio *d, struct iov_iter *iter, int64_t pos)
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
		r = dio_piece(d, base, len, pos + done);
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

static void dio_account(struct dio *d)
{
	struct inode_table *t = d->inode->i_table;

	if (d->retries)
		__atomic_fetch_add(&t->dio_retries, d->retries, __ATOMIC_RELAXED);
	if (d->dropped)
		__atomic_fetch_add(&t->dio_dropped, d->dropped, __ATOMIC_RELAXED);
	if (d->bounced)
		__atomic_fetch_add(&t->dio_bounced, d->bounced, __ATOMIC_RELAXED);
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

/* The read itself, i_rwsem shared (and DF in cluster mode) held. */
static ssize_t do_direct_read(struct kiocb *iocb, struct iov_iter *iter)
{
	struct file *f = iocb->ki_filp;
	struct inode *inode = f->f_inode;
	struct address_space *m = f->f_mapping;
	struct dio d = {
	    .inode = inode,
	    .m = m,
	    .si = inode->i_store,
	    .align = inode->i_store->store->dio_align,
	    .nowait = iocb->ki_flags & IOCB_NOWAIT,
	};
	int64_t pos = iocb->ki_pos, isize, avail;
	ssize_t ret;

	isize = i_size_read(m);
	if (!iter->count || pos >= isize)
		return 0;
	if (!dio_aligned(iter, pos, d.align))
		return -EINVAL;
	/* Read no further than the block holding EOF. */
	avail = isize - pos;
	if ((uint64_t)avail < iter->count)
		iter->count = ((size_t)avail + d.align - 1) & ~((size_t)d.align - 1);
	d.end = pos + (int64_t)iter->count - 1;

	inode_dio_begin(inode);
	ret = filemap_dio_write_and_wait(m, pos, d.end, d.nowait);
	if (!ret)
		ret = dio_iterate(&d, iter, pos);
	if (ret >= 0 && ret < avail && iter->count)
		ret += zero_fill_past_store_eof(iter, (size_t)(avail - ret));
	inode_dio_end(inode);
	dio_account(&d);
	if (ret > avail) {
		iov_iter_revert(iter, (size_t)(ret - avail));
		ret = avail;
	}
	if (ret > 0)
		iocb->ki_pos += ret;
	return ret;
}

ssize_t direct_read(struct kiocb *iocb, struct iov_iter *iter)
{
	struct inode *inode = iocb->ki_filp->f_inode;
	bool nowait = iocb->ki_flags & IOCB_NOWAIT;
	ssize_t ret;

	if (nowait) {
		if (!inode_trylock_shared(inode))
			return -EAGAIN;
	} else {
		inode_lock_shared(inode);
	}
	/* Cluster mode: DF across the transfer (nobody caches the file);
	 * the cross-file fault restart as in a buffered read. */
	ret = glock_io_rounds(iocb, iter, LM_ST_DEFERRED, true, do_direct_read, NULL);
	inode_unlock_shared(inode);
	return ret;
}

/*
 * A page in the range could not be invalidated (-EBUSY): as the kernel's
 * direct_write_fallback, write through the cache instead, then write that
 * back and drop it, so the data reaches the store as O_DIRECT promises.
 * Caller holds i_rwsem exclusive.
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

/*
 * An extending write that stopped early (a bad address, NOWAIT, an error)
 * may have left store blocks past the new i_size (the store call can move a
 * prefix and still fail): cut the store back, as the kernel's file systems
 * truncate the blocks of a failed extending write, so no byte nobody was
 * told of appears when the file grows later. i_rwsem exclusive.
 */
static void dio_trim_store(struct dio *d, int64_t isize)
{
	int64_t ssize = store_size(d->si);

	if (ssize > isize && store_setsize(d->si, isize))
		d->inode->i_store_size_stale = true;
}

/* The write itself, i_rwsem held (exclusive, or shared inside i_size).
 * *busy: the range could not be invalidated (nothing written). */
static ssize_t do_direct_write(struct kiocb *iocb, struct iov_iter *iter, bool *busy)
{
	struct inode *inode = iocb->ki_filp->f_inode;
	struct address_space *m = &inode->i_data;
	int64_t pos = iocb->ki_pos;
	struct dio d = {
	    .inode = inode,
	    .m = m,
	    .si = inode->i_store,
	    .end = pos + (int64_t)iter->count - 1,
	    .align = inode->i_store->store->dio_align,
	    .write = true,
	    .nowait = iocb->ki_flags & IOCB_NOWAIT,
	    .block = READ_ONCE(m->cache->policy) != POLICY_NONE_UNSAFE,
	};
	ssize_t ret;

	*busy = false;
	if (!dio_aligned(iter, pos, d.align))
		return -EINVAL;
	inode_dio_begin(inode);
	if (d.nowait) {
		if (!dio_block_trylock(m)) {
			inode_dio_end(inode);
			return -EAGAIN;
		}
		ret = filemap_range_has_page(m, pos, d.end) ? -EAGAIN : 0;
	} else {
		dio_block_lock(m);
		ret = filemap_dio_invalidate(m, pos, d.end); /* -EBUSY: write through the cache */
		*busy = ret == -EBUSY;
	}
	if (!ret) {
		/* No page of the range can appear until BLOCK is dropped. */
		sched_race_window("dio write: range invalidated, store not yet written");
		int64_t isize = i_size_read(m);

		ret = dio_iterate(&d, iter, pos);
		if (ret > 0) {
			if (pos + ret > isize)
				i_size_write(m, pos + ret); /* extending: i_rwsem exclusive */
			iocb->ki_pos += ret;
		}
		if (d.end + 1 > isize && pos + (ret > 0 ? ret : 0) <= d.end)
			dio_trim_store(&d, i_size_read(m));
	}
	dio_block_unlock(m);
	inode_dio_end(inode);
	dio_account(&d);
	return ret;
}

ssize_t direct_write(struct kiocb *iocb, struct iov_iter *iter)
{
	bool busy;
	ssize_t ret = do_direct_write(iocb, iter, &busy);

	if (busy)
		ret = direct_write_fallback(iocb, iter);
	return ret;
}

/* One round of a non-extending direct write, i_rwsem shared held, under
 * DF in cluster mode (glock_io_rounds; a round after a refused fault on a
 * view of this file: EX). -ENOTBLK: the write extends the file (as of the
 * size the glock's grant read) or its range could not be invalidated; the
 * caller's exclusive path takes the rest. */
static ssize_t direct_write_shared_step(struct kiocb *iocb, struct iov_iter *iter)
{
	struct inode *inode = iocb->ki_filp->f_inode;
	ssize_t ret;
	bool busy;

	/* Inside i_size, which cannot change while i_rwsem is held shared
	 * and the glock is held (DF: no node extends the file; that takes EX). */
	ret = generic_write_checks(iocb, iter->count);
	if (ret <= 0)
		return ret;
	if (iocb->ki_pos + ret > i_size_read(&inode->i_data) ||
	    READ_ONCE(inode->i_store_size_stale))
		return -ENOTBLK;
	iter->count = (size_t)ret;
	ret = do_direct_write(iocb, iter, &busy);
	return busy ? -ENOTBLK : ret; /* the buffered fallback needs i_rwsem exclusive */
}

ssize_t direct_write_shared(struct kiocb *iocb, struct iov_iter *iter, struct io_span *span)
{
	struct inode *inode = iocb->ki_filp->f_inode;
	ssize_t ret;

	*span = (struct io_span){0, 0};
	if (iocb->ki_flags & IOCB_APPEND)
		return -ENOTBLK;
	if (iocb->ki_flags & IOCB_NOWAIT) {
		if (!inode_trylock_shared(inode))
			return -EAGAIN;
	} else {
		inode_lock_shared(inode);
	}
	/* Cluster mode: DF across the transfer; the restart's rounds. A round
	 * that ends in -ENOTBLK after others wrote ends the call with their
	 * bytes (glock_io_rounds returns the bytes done first). */
	ret = glock_io_rounds(iocb, iter, LM_ST_DEFERRED, false, direct_write_shared_step, span);
	if (ret > 0)
		inode_update_time(inode);
	inode_unlock_shared(inode);
	return ret;
}

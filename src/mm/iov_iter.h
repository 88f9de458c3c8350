/* SPDX-License-Identifier: MIT */
/*
 * iov_iter.h - an iterator over user buffers (struct iovec array), and the
 * copies between user memory and page frames (the kernel's lib/iov_iter.c).
 *
 * copy_page_from_iter_atomic() copies with faults disabled: it may come back
 * short (a user page that is not resident, or one of our own mappings that
 * would need our fault handler - whose locks the caller may hold) and never
 * sleeps in a fault. copy_page_to_iter() may fault (the caller holds no lock).
 * A bad address yields a short copy, which callers turn into -EFAULT when
 * nothing was copied. fault_in_iov_iter_readable() touches the source from
 * user mode with no engine lock held and returns the bytes NOT faulted in.
 * No locks.
 */
#ifndef PC_MM_IOV_ITER_H
#define PC_MM_IOV_ITER_H

#include <stddef.h>
#include <sys/uio.h>

struct iov_iter {
	const struct iovec *iov;
	unsigned long nr_segs;
	size_t iov_offset; /* into iov[0] */
	size_t count;	   /* bytes left in all segments */
};

void iov_iter_init(struct iov_iter *i, const struct iovec *iov, unsigned long nr_segs,
		   size_t count);
void iov_iter_advance(struct iov_iter *i, size_t bytes);
void iov_iter_revert(struct iov_iter *i, size_t bytes);

/* Returns bytes copied (and advances). */
size_t copy_page_to_iter(const void *from, size_t bytes, struct iov_iter *i);
/* The same with faults disabled (copy_to_user_nofault): short where the
 * destination is not resident or is one of our own mappings; for a copy
 * under rcu_read_lock. Returns bytes copied (and advances). */
size_t copy_page_to_iter_nofault(const void *from, size_t bytes, struct iov_iter *i);
/* Does not advance: the caller advances by what it commits. */
size_t copy_page_from_iter_atomic(void *to, size_t bytes, const struct iov_iter *i);
/* Returns bytes of [0, bytes) of the iterator that could NOT be faulted in. */
size_t fault_in_iov_iter_readable(const struct iov_iter *i, size_t bytes);
size_t fault_in_iov_iter_writeable(const struct iov_iter *i, size_t bytes);

#endif

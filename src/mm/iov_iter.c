/* SPDX-License-Identifier: MIT */
/*
 * iov_iter.c - an iterator over user buffers and the copies between user
 * memory and page frames (the kernel's lib/iov_iter.c, iovec flavour only).
 *
 * The iterator stands at (iov[0], iov_offset) with count bytes left; it is
 * normalised so that, while count > 0, iov[0] has bytes left at iov_offset
 * (empty segments are skipped). Reverting walks back over the same array.
 *
 * Copies: copy_page_to_iter() may fault (nothing held: read's copy);
 * copy_page_from_iter_atomic() copies with faults disabled (write's copy,
 * under the page lock and ADD) and may come back short. Takes no locks.
 */
#include "kernel/compiler.h"
#include "mm/iov_iter.h"
#include "mm/uaccess.h"

/* Step over segments with nothing left at the current offset. */
static void iov_iter_normalise(struct iov_iter *i)
{
	while (i->count && i->nr_segs && i->iov_offset >= i->iov[0].iov_len) {
		i->iov_offset -= i->iov[0].iov_len;
		i->iov++;
		i->nr_segs--;
	}
}

void iov_iter_init(struct iov_iter *i, const struct iovec *iov, unsigned long nr_segs, size_t count)
{
	i->iov = iov;
	i->nr_segs = nr_segs;
	i->iov_offset = 0;
	i->count = count;
	iov_iter_normalise(i);
}

void iov_iter_advance(struct iov_iter *i, size_t bytes)
{
	if (bytes > i->count)
		bytes = i->count;
	i->count -= bytes;
	i->iov_offset += bytes;
	/* Consume whole segments; the offset may run past several. */
	while (i->nr_segs && i->iov_offset >= i->iov[0].iov_len) {
		if (!i->count && i->iov_offset == i->iov[0].iov_len)
			break; /* at the very end: stay on the last segment */
		i->iov_offset -= i->iov[0].iov_len;
		i->iov++;
		i->nr_segs--;
	}
}

void iov_iter_revert(struct iov_iter *i, size_t bytes)
{
	i->count += bytes;
	while (bytes) {
		if (bytes <= i->iov_offset) {
			i->iov_offset -= bytes;
			return;
		}
		bytes -= i->iov_offset;
		i->iov--;
		i->nr_segs++;
		i->iov_offset = i->iov[0].iov_len;
	}
}

/* Copies into the iterator's segments with @copy (copy_to_user or its
 * nofault twin) and advances it by what was copied; stops at the first
 * short copy. */
static inline size_t copy_to_iter_with(size_t (*copy)(void *, const void *, size_t),
				       const void *from, size_t bytes, struct iov_iter *i)
{
	size_t done = 0;

	if (bytes > i->count)
		bytes = i->count;
	while (done < bytes) {
		size_t seg = i->iov[0].iov_len - i->iov_offset;
		size_t n = min_t(size_t, seg, bytes - done);
		size_t left =
		    copy((char *)i->iov[0].iov_base + i->iov_offset, (const char *)from + done, n);

		done += n - left;
		iov_iter_advance(i, n - left);
		if (left)
			break;
	}
	return done;
}

size_t copy_page_to_iter(const void *from, size_t bytes, struct iov_iter *i)
{
	return copy_to_iter_with(copy_to_user, from, bytes, i);
}

size_t copy_page_to_iter_nofault(const void *from, size_t bytes, struct iov_iter *i)
{
	return copy_to_iter_with(copy_to_user_nofault, from, bytes, i);
}

size_t copy_page_from_iter_atomic(void *to, size_t bytes, const struct iov_iter *i)
{
	const struct iovec *iov = i->iov;
	size_t off = i->iov_offset, done = 0;

	if (bytes > i->count)
		bytes = i->count;
	while (done < bytes) {
		size_t n = min_t(size_t, iov->iov_len - off, bytes - done);
		size_t left;

		if (n) {
			left = copy_from_user_nofault((char *)to + done,
						      (const char *)iov->iov_base + off, n);
			done += n - left;
			if (left)
				break;
		}
		iov++;
		off = 0;
	}
	return done;
}

static size_t fault_in_iter(const struct iov_iter *i, size_t bytes, bool write)
{
	const struct iovec *iov = i->iov;
	size_t off = i->iov_offset;
	size_t count = min_t(size_t, bytes, i->count);
	size_t beyond = bytes - count; /* asked for more than the iterator holds */

	while (count) {
		size_t n = min_t(size_t, iov->iov_len - off, count);

		if (n) {
			char *p = (char *)iov->iov_base + off;
			size_t left = write ? fault_in_writeable(p, n) : fault_in_readable(p, n);

			count -= n - left;
			if (left)
				break;
		}
		iov++;
		off = 0;
	}
	return count + beyond;
}

size_t fault_in_iov_iter_readable(const struct iov_iter *i, size_t bytes)
{
	return fault_in_iter(i, bytes, false);
}

size_t fault_in_iov_iter_writeable(const struct iov_iter *i, size_t bytes)
{
	return fault_in_iter(i, bytes, true);
}

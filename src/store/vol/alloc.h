/* SPDX-License-Identifier: MIT */
/*
 * alloc.h - the vol free-space allocator: a sorted, coalesced set of free
 * extents. Lookups are binary searches over extents; allocation is next fit
 * from a hint, falling back to the largest free extent (a partial grant), so
 * no path scans per block.
 *
 * Locking: none inside; the caller (the volume) serialises with its own lock.
 */
#ifndef PC_STORE_VOL_ALLOC_H
#define PC_STORE_VOL_ALLOC_H

#include <stddef.h>
#include <stdint.h>

struct vol_fext {
	uint64_t start, len;
};

struct vol_alloc {
	struct vol_fext *v; /* sorted by start, disjoint, never adjacent */
	size_t nr, cap;
	uint64_t free;	 /* sum of lengths */
	uint64_t cursor; /* next-fit position */
};

void vol_alloc_init(struct vol_alloc *a);
void vol_alloc_destroy(struct vol_alloc *a);
/* Return [start, start+len) to the free set, coalescing. -EINVAL if any block
 * of it is already free (a double free) or len is 0; -ENOMEM. */
int vol_alloc_free(struct vol_alloc *a, uint64_t start, uint64_t len);
/* Allocate up to want blocks, contiguous, near hint (UINT64_MAX: the cursor).
 * Returns the count granted (1..want) with *start set, or -ENOSPC, -EINVAL. */
int64_t vol_alloc_alloc(struct vol_alloc *a, uint64_t want, uint64_t hint, uint64_t *start);
/* Remove a specific range from the free set (mount: blocks found in use).
 * -ENOENT unless every block of it is free. */
int vol_alloc_take(struct vol_alloc *a, uint64_t start, uint64_t len);
/* 1 if every block of [start, start+len) is free, else 0. */
int vol_alloc_is_free(const struct vol_alloc *a, uint64_t start, uint64_t len);
/* 1 if any block of [start, start+len) is free, else 0. */
int vol_alloc_any_free(const struct vol_alloc *a, uint64_t start, uint64_t len);
/* dst (initialised or destroyed) becomes a copy of src. 0 or -ENOMEM. */
int vol_alloc_clone(struct vol_alloc *dst, const struct vol_alloc *src);
/* Index of the longest free extent; -1 when none is free. */
long vol_alloc_largest(const struct vol_alloc *a);
/* Check the invariants; 0 or -EUCLEAN. */
int vol_alloc_check(const struct vol_alloc *a);

#endif

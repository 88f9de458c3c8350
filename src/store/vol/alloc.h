/* SPDX-License-Identifier: MIT */
/*
 * alloc.h - the vol free-space allocator: a coalesced set of free extents
 * kept in an AVL tree keyed by start, where every node also knows the
 * longest extent below it. Lookups, frees, takes, next-fit allocation from
 * a hint and finding the largest extent are all O(log n) in the number of
 * free extents; no path does per-block work.
 *
 * Locking: none inside; the caller (the volume) serialises with its own lock.
 */
#ifndef PC_STORE_VOL_ALLOC_H
#define PC_STORE_VOL_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "kernel/testswitch.h"

struct vol_fext {
	uint64_t start, len;
};

/* One free extent. Nodes live in one pool array, linked by 32-bit index
 * (0: none), so a clone is a copy of the pool, and once the pool has grown
 * to the set's size no operation allocates memory. */
struct vol_anode {
	uint64_t start, len;
	uint64_t max;  /* longest len in this subtree */
	uint32_t l, r; /* lower / higher starts; l links the pool's free slots */
	int32_t h;     /* AVL height, a leaf is 1 */
};

struct vol_alloc {
	struct vol_anode *pool; /* pool[0] unused */
	uint32_t cap;		/* slots in pool */
	uint32_t top;		/* slots 1..top-1 are in the tree or on freel */
	uint32_t freel;		/* free slots */
	uint32_t root;
	size_t count;	 /* extents: disjoint, never adjacent */
	uint64_t free;	 /* sum of lengths */
	uint64_t cursor; /* next-fit position */
};

void vol_alloc_init(struct vol_alloc *a);
void vol_alloc_destroy(struct vol_alloc *a);
/* Empty the set, keeping its node pool (no allocation when it refills). */
void vol_alloc_reset(struct vol_alloc *a);
/* Return [start, start+len) to the free set, coalescing. -EINVAL if any block
 * of it is already free (a double free) or len is 0; -ENOMEM. */
int vol_alloc_free(struct vol_alloc *a, uint64_t start, uint64_t len);
/* The smallest free extent a small request starts a new run in while one
 * is left (256 KiB): see vol_alloc_alloc. */
#define VOL_ALLOC_GOAL 64

/* Allocate up to want blocks, contiguous, near hint (UINT64_MAX: the
 * cursor): at hint inside the extent holding it, else at that extent's
 * start; else, when want < VOL_ALLOC_GOAL and a hint was given, at the
 * start of the first extent of at least VOL_ALLOC_GOAL blocks after hint,
 * wrapping to the bottom;
 * else in the first extent after hint that is long enough for want,
 * wrapping to the bottom; when none is, all of the largest extent (the
 * lowest of equals). Returns the count granted (1..want) with *start set,
 * or -ENOSPC, -EINVAL, -ENOMEM. */
int64_t vol_alloc_alloc(struct vol_alloc *a, uint64_t want, uint64_t hint, uint64_t *start);

/* Test switch: no goal extent; a small request takes the first hole after
 * its hint that fits it (a file written block by block on a fragmented
 * volume then gets one extent per block). */
DECLARE_TEST_SWITCH(vol_alloc_test_no_goal);
/* Remove a specific range from the free set (mount: blocks found in use).
 * -ENOENT unless every block of it is free; -EINVAL; -ENOMEM. */
int vol_alloc_take(struct vol_alloc *a, uint64_t start, uint64_t len);
/* 1 if every block of [start, start+len) is free, else 0. */
int vol_alloc_is_free(const struct vol_alloc *a, uint64_t start, uint64_t len);
/* 1 if any block of [start, start+len) is free, else 0. */
int vol_alloc_any_free(const struct vol_alloc *a, uint64_t start, uint64_t len);
/* *e = the extent holding @pos, else the first one after it: 1, or 0
 * when there is none. O(log n). */
int vol_alloc_find(const struct vol_alloc *a, uint64_t pos, struct vol_fext *e);
/* dst (initialised or destroyed) becomes a copy of src. 0 or -ENOMEM. */
int vol_alloc_clone(struct vol_alloc *dst, const struct vol_alloc *src);
/* *e = the longest free extent (the lowest of equals): 0, or -ENOSPC when
 * nothing is free. */
int vol_alloc_largest(const struct vol_alloc *a, struct vol_fext *e);
/* In-order walk: *e becomes the first extent starting at or after
 * e->start + e->len (begin with {0, 0}); 1, or 0 past the last. O(log n) a
 * step; the set may change between steps. */
int vol_alloc_next(const struct vol_alloc *a, struct vol_fext *e);
#define vol_alloc_for_each(a, e) for (struct vol_fext e = {0, 0}; vol_alloc_next((a), &e);)
/* Number of free extents. */
static inline size_t vol_alloc_extents(const struct vol_alloc *a)
{
	return a->count;
}
/* Make room for n more extents (n frees that cannot fail -ENOMEM): 0 or
 * -ENOMEM. */
int vol_alloc_reserve(struct vol_alloc *a, size_t n);
/* Check the invariants (order, disjoint and coalesced, lengths, the free
 * total and count, AVL heights and balance, subtree maxima, pool slots
 * all accounted for); 0 or -EUCLEAN. O(n). */
int vol_alloc_check(const struct vol_alloc *a);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * xtree.h - the node-level B+tree under struct vol_extmap (xtree.c), used by
 * the range operations of extmap.c: seeking, inserting with splits,
 * deleting with merges/borrows, shifting keys.
 *
 * Invariants (vol_extmap_check): every node 1 <= nr <= cap; a non-root node
 * not on the rightmost path holds at least (cap+1)/2 entries (the rightmost
 * path may hold fewer: appends leave full nodes behind them, as the on-disk
 * bottom-up writer does); an index root has at least 2 children; all
 * leaves at one depth; an index key is the first lblk of its subtree; a
 * dirty node's parent is dirty.
 *
 * Locking: none; the map's owner serialises.
 */
#ifndef PC_STORE_VOL_XTREE_H
#define PC_STORE_VOL_XTREE_H

#include "store/vol/extmap.h"

static inline uint64_t xt_eend(const struct vol_ext *e)
{
	return e->lblk + e->len;
}

static inline int xt_mergeable(const struct vol_ext *a, const struct vol_ext *b)
{
	return xt_eend(a) == b->lblk && a->pblk + a->len == b->pblk && a->flags == b->flags &&
	       a->len + b->len <= VOL_EXT_MAX_LEN;
}

static inline struct vol_ext *xt_ext(const struct vol_xpath *p)
{
	return &p->n[0]->ext[p->i[0]];
}

/* Before an operation that inserts up to @inserts extents: spare nodes for
 * every split it may need. 0, -ENOMEM, -EFBIG (the tree cannot grow). */
int xt_reserve(struct vol_extmap *m, unsigned inserts);
/* After it: the spares left go back to the shared pool. */
void xt_unreserve(struct vol_extmap *m);
/* Position p at the first extent ending after lblk: true; false when there
 * is none (p then at the end of the last leaf, or n[0] NULL if empty). */
bool xt_seek(const struct vol_extmap *m, uint64_t lblk, struct vol_xpath *p);
/* The next extent in order: true, or false at the end. */
bool xt_next(struct vol_xpath *p);
/* Marks p's nodes from level lv up dirty. */
void xt_dirty(struct vol_xpath *p, unsigned lv);
/* Inserts e where p points (p from xt_seek; the map empty: a first leaf).
 * Counters updated; p is stale afterwards. Needs xt_reserve. */
void xt_insert(struct vol_extmap *m, struct vol_xpath *p, const struct vol_ext *e);
/* Deletes extents [a, b) of p's leaf (counters updated by the caller's
 * rel loop: xt_delete does it), rebalancing; p is stale afterwards. */
void xt_delete(struct vol_extmap *m, struct vol_xpath *p, unsigned a, unsigned b);
/* Adds delta (two's complement) to the lblk of every extent at or after
 * from, keeping keys; the caller guarantees order is kept. */
void xt_shift(struct vol_extmap *m, uint64_t from, uint64_t delta);
/* The last extent, or NULL. */
const struct vol_ext *xt_last(const struct vol_extmap *m);

#endif

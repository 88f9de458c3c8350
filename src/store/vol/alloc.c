/* SPDX-License-Identifier: MIT */
/*
 * alloc.c - the vol free-extent set (see alloc.h): an AVL tree of disjoint,
 * non-adjacent free extents keyed by start, each node augmented with the
 * longest extent in its subtree, so "first extent at/after X with len >= n"
 * and "largest extent" are single descents. Nodes come from a pool array
 * with a free list; the pool only grows (doubling), on the first free or
 * split that needs a slot beyond its high water mark. A hinted request
 * smaller than VOL_ALLOC_GOAL that cannot continue at its hint is placed in
 * an extent of at least VOL_ALLOC_GOAL blocks while one is left (as ext4's
 * mballoc gives a streaming file a large chunk), so a file grown block by
 * block on a volume whose free space is mostly small holes stays
 * contiguous instead of taking one hole per block; requests with no hint
 * (a new file's first block, metadata) still fill the holes by next fit,
 * and hinted ones use them once no large extent is left.
 *
 * Locking: none; the caller serialises.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/vol/alloc.h"

#define P(i)	  (a->pool[i])
#define MAX_DEPTH 64 /* an AVL tree of 2^32 nodes is under 48 high */

void vol_alloc_init(struct vol_alloc *a)
{
	memset(a, 0, sizeof(*a));
	a->top = 1;
}

void vol_alloc_destroy(struct vol_alloc *a)
{
	free(a->pool);
	vol_alloc_init(a);
}

void vol_alloc_reset(struct vol_alloc *a)
{
	struct vol_anode *pool = a->pool;
	uint32_t cap = a->cap;

	vol_alloc_init(a);
	a->pool = pool;
	a->cap = cap;
}

static inline uint64_t end_of(const struct vol_anode *n)
{
	return n->start + n->len;
}

static inline int32_t ht(const struct vol_alloc *a, uint32_t i)
{
	return i ? P(i).h : 0;
}

static inline uint64_t mx(const struct vol_alloc *a, uint32_t i)
{
	return i ? P(i).max : 0;
}

/* Recompute i's height and subtree maximum from its children. */
static void pull(struct vol_alloc *a, uint32_t i)
{
	struct vol_anode *n = &P(i);
	int32_t hl = ht(a, n->l), hr = ht(a, n->r);
	uint64_t m = n->len, ml = mx(a, n->l), mr = mx(a, n->r);

	n->h = 1 + (hl > hr ? hl : hr);
	m = ml > m ? ml : m;
	n->max = mr > m ? mr : m;
}

static uint32_t rot_right(struct vol_alloc *a, uint32_t y)
{
	uint32_t x = P(y).l;

	P(y).l = P(x).r;
	P(x).r = y;
	pull(a, y);
	pull(a, x);
	return x;
}

static uint32_t rot_left(struct vol_alloc *a, uint32_t x)
{
	uint32_t y = P(x).r;

	P(x).r = P(y).l;
	P(y).l = x;
	pull(a, x);
	pull(a, y);
	return y;
}

/* Restore the AVL balance at i (its subtrees balanced); the new subtree root. */
static uint32_t balance(struct vol_alloc *a, uint32_t i)
{
	pull(a, i);
	int32_t bf = ht(a, P(i).l) - ht(a, P(i).r);
	if (bf > 1) {
		uint32_t l = P(i).l;
		if (ht(a, P(l).l) < ht(a, P(l).r))
			P(i).l = rot_left(a, l);
		return rot_right(a, i);
	}
	if (bf < -1) {
		uint32_t r = P(i).r;
		if (ht(a, P(r).r) < ht(a, P(r).l))
			P(i).r = rot_right(a, r);
		return rot_left(a, i);
	}
	return i;
}

static uint32_t ins(struct vol_alloc *a, uint32_t t, uint32_t k)
{
	if (!t)
		return k;
	if (P(k).start < P(t).start) {
		uint32_t l = ins(a, P(t).l, k);
		P(t).l = l;
	} else {
		uint32_t r = ins(a, P(t).r, k);
		P(t).r = r;
	}
	return balance(a, t);
}

static void put_node(struct vol_alloc *a, uint32_t i)
{
	P(i).l = a->freel;
	P(i).len = 0;
	a->freel = i;
}

/* A free slot, taken off the free list or the pool's top; 0 on -ENOMEM. */
static uint32_t get_node(struct vol_alloc *a)
{
	uint32_t i = a->freel;

	if (i) {
		a->freel = P(i).l;
		return i;
	}
	if (a->top >= a->cap) {
		if (a->cap >= UINT32_MAX / 2)
			return 0;
		uint32_t cap = a->cap ? 2 * a->cap : 64;
		struct vol_anode *p = realloc(a->pool, (size_t)cap * sizeof(*p));
		if (!p)
			return 0;
		a->pool = p;
		a->cap = cap;
	}
	return a->top++;
}

int vol_alloc_reserve(struct vol_alloc *a, size_t n)
{
	uint64_t want = (uint64_t)a->top + n;

	if (want <= a->cap)
		return 0;
	if (want >= UINT32_MAX / 2)
		return -ENOMEM;
	uint32_t cap = a->cap ? a->cap : 64;
	while (cap < want)
		cap *= 2;
	struct vol_anode *p = realloc(a->pool, (size_t)cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	a->pool = p;
	a->cap = cap;
	return 0;
}

static uint32_t del_min(struct vol_alloc *a, uint32_t t, uint32_t *min)
{
	if (!P(t).l) {
		*min = t;
		return P(t).r;
	}
	uint32_t l = del_min(a, P(t).l, min);
	P(t).l = l;
	return balance(a, t);
}

/* Unlink the node starting at key (present) and free its slot. */
static uint32_t del(struct vol_alloc *a, uint32_t t, uint64_t key)
{
	if (key < P(t).start) {
		uint32_t l = del(a, P(t).l, key);
		P(t).l = l;
	} else if (key > P(t).start) {
		uint32_t r = del(a, P(t).r, key);
		P(t).r = r;
	} else {
		uint32_t l = P(t).l, r = P(t).r, m;
		put_node(a, t);
		if (!r)
			return l;
		r = del_min(a, r, &m);
		P(m).l = l;
		P(m).r = r;
		return balance(a, m);
	}
	return balance(a, t);
}

/* Give the node starting at key (present) a new start and length that keep
 * it between its neighbours; maxima are fixed on the way back up. */
static void set(struct vol_alloc *a, uint32_t t, uint64_t key, uint64_t start, uint64_t len)
{
	if (key < P(t).start) {
		set(a, P(t).l, key, start, len);
	} else if (key > P(t).start) {
		set(a, P(t).r, key, start, len);
	} else {
		P(t).start = start;
		P(t).len = len;
	}
	pull(a, t);
}

/* The node with the greatest start <= blk, or 0. */
static uint32_t le(const struct vol_alloc *a, uint64_t blk)
{
	uint32_t t = a->root, best = 0;

	while (t) {
		if (P(t).start <= blk) {
			best = t;
			t = P(t).r;
		} else {
			t = P(t).l;
		}
	}
	return best;
}

/* In one descent: *p = the node with the greatest start <= blk, *n = the
 * one with the least start > blk (0 for none). */
static void around(const struct vol_alloc *a, uint64_t blk, uint32_t *p, uint32_t *n)
{
	uint32_t t = a->root;

	*p = *n = 0;
	while (t) {
		if (P(t).start <= blk) {
			*p = t;
			t = P(t).r;
		} else {
			*n = t;
			t = P(t).l;
		}
	}
}

/* The lowest node in t with start >= from and len >= want, or 0. Only the
 * search path of from can fail after descending; a subtree wholly at or
 * past from is entered only when its maximum promises a hit, so this is
 * O(height). */
static uint32_t first_fit(const struct vol_alloc *a, uint32_t t, uint64_t from, uint64_t want)
{
	while (t && P(t).max >= want) {
		if (P(t).start >= from) {
			uint32_t r = first_fit(a, P(t).l, from, want);
			if (r)
				return r;
			if (P(t).len >= want)
				return t;
		}
		t = P(t).r;
	}
	return 0;
}

/* The node of the longest extent, the lowest of equals; 0 when empty. */
static uint32_t largest(const struct vol_alloc *a)
{
	uint32_t t = a->root;

	while (t) {
		uint64_t m = P(t).max;
		if (mx(a, P(t).l) == m)
			t = P(t).l;
		else if (P(t).len == m)
			return t;
		else
			t = P(t).r;
	}
	return 0;
}

int vol_alloc_free(struct vol_alloc *a, uint64_t start, uint64_t len)
{
	if (!len || start + len < start)
		return -EINVAL;
	uint32_t p, n;
	around(a, start, &p, &n); /* p.start <= start < n.start */
	if (p && end_of(&P(p)) > start)
		return -EINVAL;
	if (n && start + len > P(n).start)
		return -EINVAL;
	int mp = p && end_of(&P(p)) == start;
	int mn = n && start + len == P(n).start;
	if (mp && mn) {
		uint64_t ps = P(p).start, nl = P(n).len;
		a->root = del(a, a->root, P(n).start);
		set(a, a->root, ps, ps, P(p).len + len + nl);
		a->count--;
	} else if (mp) {
		set(a, a->root, P(p).start, P(p).start, P(p).len + len);
	} else if (mn) {
		set(a, a->root, P(n).start, start, P(n).len + len);
	} else {
		uint32_t k = get_node(a);
		if (!k)
			return -ENOMEM;
		P(k) = (struct vol_anode){.start = start, .len = len, .max = len, .h = 1};
		a->root = ins(a, a->root, k);
		a->count++;
	}
	a->free += len;
	return 0;
}

/* Take [start, start+len) out of node i, which contains it. */
static int carve(struct vol_alloc *a, uint32_t i, uint64_t start, uint64_t len)
{
	uint64_t es = P(i).start, eend = end_of(&P(i)), end = start + len;

	if (start == es && end == eend) {
		a->root = del(a, a->root, es);
		a->count--;
	} else if (start == es) {
		set(a, a->root, es, end, eend - end);
	} else if (end == eend) {
		set(a, a->root, es, es, start - es);
	} else {
		uint32_t k = get_node(a); /* may move the pool: i is an index */
		if (!k)
			return -ENOMEM;
		set(a, a->root, es, es, start - es);
		P(k) =
		    (struct vol_anode){.start = end, .len = eend - end, .max = eend - end, .h = 1};
		a->root = ins(a, a->root, k);
		a->count++;
	}
	a->free -= len;
	return 0;
}

TEST_SWITCH(vol_alloc_test_no_goal);

int64_t vol_alloc_alloc(struct vol_alloc *a, uint64_t want, uint64_t hint, uint64_t *start)
{
	if (!want || want > INT64_MAX)
		return -EINVAL;
	if (!a->root)
		return -ENOSPC;
	/* a request with no hint (a new file's first block, tree and directory
	 * blocks) fills holes by next fit; one continuing a run gets the goal */
	const bool goal = want < VOL_ALLOC_GOAL && hint != UINT64_MAX &&
			  !__atomic_load_n(&vol_alloc_test_no_goal, __ATOMIC_RELAXED);
	if (hint == UINT64_MAX)
		hint = a->cursor;
	uint64_t s;
	uint32_t i = le(a, hint);
	if (i && end_of(&P(i)) > hint) { /* the extent holding hint */
		if (end_of(&P(i)) - hint >= want) {
			s = hint;
			goto grant;
		}
		if (P(i).len >= want) {
			s = P(i).start;
			goto grant;
		}
	}
	/* a small request that cannot continue at its hint starts a new run in
	 * an extent of at least VOL_ALLOC_GOAL blocks, so that the requests
	 * after it (hinted at its end) continue there rather than each taking
	 * the next small hole; only then next fit for want itself */
	i = 0;
	if (goal) {
		i = hint < UINT64_MAX ? first_fit(a, a->root, hint + 1, VOL_ALLOC_GOAL) : 0;
		if (!i)
			i = first_fit(a, a->root, 0, VOL_ALLOC_GOAL);
	}
	/* next fit onwards from hint, then wrapping to the bottom */
	if (!i && hint < UINT64_MAX)
		i = first_fit(a, a->root, hint + 1, want);
	if (!i)
		i = first_fit(a, a->root, 0, want);
	if (!i) { /* nothing big enough: a partial grant of the largest extent */
		i = largest(a);
		want = P(i).len;
	}
	s = P(i).start;
grant:;
	int r = carve(a, i, s, want);
	if (r)
		return r;
	*start = s;
	a->cursor = s + want;
	return (int64_t)want;
}

int vol_alloc_take(struct vol_alloc *a, uint64_t start, uint64_t len)
{
	if (!len || start + len < start)
		return -EINVAL;
	uint32_t i = le(a, start);
	if (!i || start + len > end_of(&P(i)))
		return -ENOENT;
	return carve(a, i, start, len);
}

int vol_alloc_is_free(const struct vol_alloc *a, uint64_t start, uint64_t len)
{
	uint32_t i = le(a, start);
	return i && start + len <= end_of(&P(i));
}

int vol_alloc_any_free(const struct vol_alloc *a, uint64_t start, uint64_t len)
{
	if (!len)
		return 0;
	uint32_t i = le(a, start + len - 1); /* the last extent starting inside or before */
	return i && end_of(&P(i)) > start;
}

int vol_alloc_find(const struct vol_alloc *a, uint64_t pos, struct vol_fext *e)
{
	uint32_t i = le(a, pos);

	if (i && end_of(&P(i)) > pos) {
		*e = (struct vol_fext){P(i).start, P(i).len};
		return 1;
	}
	struct vol_fext f = {pos, 0};
	if (!vol_alloc_next(a, &f))
		return 0;
	*e = f;
	return 1;
}

int vol_alloc_largest(const struct vol_alloc *a, struct vol_fext *e)
{
	uint32_t i = largest(a);

	if (!i)
		return -ENOSPC;
	*e = (struct vol_fext){P(i).start, P(i).len};
	return 0;
}

int vol_alloc_next(const struct vol_alloc *a, struct vol_fext *e)
{
	uint64_t from = e->start + e->len;
	uint32_t i, n;

	around(a, from, &i, &n);
	if (!i || P(i).start < from)
		i = n;

	if (!i)
		return 0;
	*e = (struct vol_fext){P(i).start, P(i).len};
	return 1;
}

int vol_alloc_clone(struct vol_alloc *dst, const struct vol_alloc *src)
{
	struct vol_anode *p = NULL;

	if (src->top > 1) {
		p = malloc((size_t)src->top * sizeof(*p));
		if (!p)
			return -ENOMEM;
		memcpy(p, src->pool, (size_t)src->top * sizeof(*p));
	}
	*dst = *src;
	dst->pool = p;
	dst->cap = p ? src->top : 0;
	return 0;
}

struct check {
	uint64_t sum, prev_end;
	size_t nodes;
	int any;
};

/* Height of t, or -1 when anything below it is wrong. */
static int32_t check_sub(const struct vol_alloc *a, uint32_t t, struct check *c, int depth)
{
	if (!t)
		return 0;
	if (t >= a->top || depth > MAX_DEPTH || ++c->nodes > a->count)
		return -1; /* a bad link, a cycle or more nodes than extents */
	const struct vol_anode *n = &P(t);
	int32_t hl = check_sub(a, n->l, c, depth + 1);
	if (hl < 0)
		return -1;
	if (!n->len || end_of(n) < n->start)
		return -1;
	if (c->any && c->prev_end >= n->start)
		return -1; /* out of order, overlapping or adjacent (not coalesced) */
	c->any = 1;
	c->prev_end = end_of(n);
	c->sum += n->len;
	int32_t hr = check_sub(a, n->r, c, depth + 1);
	if (hr < 0)
		return -1;
	uint64_t m = n->len;
	m = mx(a, n->l) > m ? mx(a, n->l) : m;
	m = mx(a, n->r) > m ? mx(a, n->r) : m;
	int32_t h = 1 + (hl > hr ? hl : hr);
	if (n->max != m || n->h != h || hl - hr > 1 || hr - hl > 1)
		return -1;
	return h;
}

int vol_alloc_check(const struct vol_alloc *a)
{
	struct check c = {0};

	if (a->top < 1 || a->top > (a->top > 1 ? a->cap : 1))
		return -EUCLEAN;
	if (check_sub(a, a->root, &c, 0) < 0 || c.nodes != a->count || c.sum != a->free)
		return -EUCLEAN;
	/* every slot below top is in the tree or on the free list, once */
	size_t nfree = 0;
	for (uint32_t i = a->freel; i; i = P(i).l)
		if (i >= a->top || P(i).len || ++nfree > a->top)
			return -EUCLEAN;
	return c.nodes + nfree == (size_t)a->top - 1 ? 0 : -EUCLEAN;
}

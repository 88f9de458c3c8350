/* SPDX-License-Identifier: MIT */
/*
 * alloc.c - the vol free-extent set (see alloc.h): a sorted array of
 * disjoint, non-adjacent free extents searched by bisection.
 *
 * Locking: none; the caller serialises.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/vol/alloc.h"

void vol_alloc_init(struct vol_alloc *a)
{
	memset(a, 0, sizeof(*a));
}

void vol_alloc_destroy(struct vol_alloc *a)
{
	free(a->v);
	memset(a, 0, sizeof(*a));
}

/* Index of the first extent with start > blk. */
static size_t upper(const struct vol_alloc *a, uint64_t blk)
{
	size_t lo = 0, hi = a->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a->v[mid].start > blk)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static int grow(struct vol_alloc *a)
{
	if (a->nr < a->cap)
		return 0;
	size_t cap = a->cap ? a->cap * 2 : 16;
	struct vol_fext *v = realloc(a->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	a->v = v;
	a->cap = cap;
	return 0;
}

static void del_at(struct vol_alloc *a, size_t i)
{
	memmove(&a->v[i], &a->v[i + 1], (a->nr - i - 1) * sizeof(a->v[0]));
	a->nr--;
}

int vol_alloc_free(struct vol_alloc *a, uint64_t start, uint64_t len)
{
	if (!len || start + len < start)
		return -EINVAL;
	size_t i = upper(a, start); /* v[i-1].start <= start < v[i].start */
	struct vol_fext *prev = i ? &a->v[i - 1] : NULL;
	struct vol_fext *next = i < a->nr ? &a->v[i] : NULL;
	if (prev && prev->start + prev->len > start)
		return -EINVAL;
	if (next && start + len > next->start)
		return -EINVAL;
	int mp = prev && prev->start + prev->len == start;
	int mn = next && start + len == next->start;
	if (mp && mn) {
		prev->len += len + next->len;
		del_at(a, i);
	} else if (mp) {
		prev->len += len;
	} else if (mn) {
		next->start = start;
		next->len += len;
	} else {
		int r = grow(a);
		if (r)
			return r;
		memmove(&a->v[i + 1], &a->v[i], (a->nr - i) * sizeof(a->v[0]));
		a->v[i] = (struct vol_fext){start, len};
		a->nr++;
	}
	a->free += len;
	return 0;
}

/* Take [start, start+len) out of extent i, which contains it. */
static int carve(struct vol_alloc *a, size_t i, uint64_t start, uint64_t len)
{
	struct vol_fext *e = &a->v[i];
	uint64_t end = start + len, eend = e->start + e->len;

	if (start == e->start && end == eend) {
		del_at(a, i);
	} else if (start == e->start) {
		e->start = end;
		e->len = eend - end;
	} else if (end == eend) {
		e->len = start - e->start;
	} else {
		int r = grow(a);
		if (r)
			return r;
		e = &a->v[i];
		memmove(&a->v[i + 2], &a->v[i + 1], (a->nr - i - 1) * sizeof(a->v[0]));
		a->v[i + 1] = (struct vol_fext){end, eend - end};
		e->len = start - e->start;
		a->nr++;
	}
	a->free -= len;
	return 0;
}

int64_t vol_alloc_alloc(struct vol_alloc *a, uint64_t want, uint64_t hint, uint64_t *start)
{
	if (!want || want > INT64_MAX)
		return -EINVAL;
	if (!a->nr)
		return -ENOSPC;
	if (hint == UINT64_MAX)
		hint = a->cursor;
	/* next fit: the extent containing hint, then onwards, wrapping */
	size_t i0 = upper(a, hint);
	if (i0 && a->v[i0 - 1].start + a->v[i0 - 1].len > hint)
		i0--;
	size_t best = 0;
	for (size_t k = 0; k < a->nr; k++) {
		size_t i = (i0 + k) % a->nr;
		struct vol_fext *e = &a->v[i];
		uint64_t s = e->start;
		if (k == 0 && hint > s && hint < s + e->len && s + e->len - hint >= want)
			s = hint; /* allocate right at the hint inside this extent */
		if (e->start + e->len - s >= want) {
			int r = carve(a, i, s, want);
			if (r)
				return r;
			*start = s;
			a->cursor = s + want;
			return (int64_t)want;
		}
		if (e->len > a->v[best].len)
			best = i;
	}
	/* nothing big enough: a partial grant of the largest extent */
	uint64_t s = a->v[best].start, n = a->v[best].len;
	int r = carve(a, best, s, n);
	if (r)
		return r;
	*start = s;
	a->cursor = s + n;
	return (int64_t)n;
}

int vol_alloc_take(struct vol_alloc *a, uint64_t start, uint64_t len)
{
	if (!len || start + len < start)
		return -EINVAL;
	size_t i = upper(a, start);
	if (!i)
		return -ENOENT;
	struct vol_fext *e = &a->v[i - 1];
	if (start + len > e->start + e->len)
		return -ENOENT;
	return carve(a, i - 1, start, len);
}

int vol_alloc_is_free(const struct vol_alloc *a, uint64_t start, uint64_t len)
{
	size_t i = upper(a, start);
	if (!i)
		return 0;
	const struct vol_fext *e = &a->v[i - 1];
	return start + len <= e->start + e->len;
}

int vol_alloc_check(const struct vol_alloc *a)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < a->nr; i++) {
		if (!a->v[i].len || a->v[i].start + a->v[i].len < a->v[i].start)
			return -EUCLEAN;
		if (i && a->v[i - 1].start + a->v[i - 1].len >= a->v[i].start)
			return -EUCLEAN; /* overlapping or adjacent (not coalesced) */
		sum += a->v[i].len;
	}
	return sum == a->free ? 0 : -EUCLEAN;
}

int vol_alloc_clone(struct vol_alloc *dst, const struct vol_alloc *src)
{
	struct vol_fext *v = malloc((src->nr ? src->nr : 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	if (src->nr)
		memcpy(v, src->v, src->nr * sizeof(*v));
	*dst = *src;
	dst->v = v;
	dst->cap = src->nr ? src->nr : 1;
	return 0;
}

long vol_alloc_largest(const struct vol_alloc *a)
{
	long best = -1;

	for (size_t i = 0; i < a->nr; i++)
		if (best < 0 || a->v[i].len > a->v[best].len)
			best = (long)i;
	return best;
}

int vol_alloc_any_free(const struct vol_alloc *a, uint64_t start, uint64_t len)
{
	if (!len)
		return 0;
	size_t i = upper(a, start + len - 1); /* v[i-1]: last extent starting inside or before */
	return i && a->v[i - 1].start + a->v[i - 1].len > start;
}

/* SPDX-License-Identifier: MIT */
/*
 * extmap.c - a vol inode's extent map (see extmap.h).
 *
 * Locking: none; the caller serialises.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/vol/extmap.h"
#include "store/vol/format.h"

void vol_extmap_init(struct vol_extmap *m)
{
	memset(m, 0, sizeof(*m));
}

void vol_extmap_destroy(struct vol_extmap *m)
{
	free(m->v);
	memset(m, 0, sizeof(*m));
}

static uint64_t eend(const struct vol_ext *e)
{
	return e->lblk + e->len;
}

/* Index of the first extent ending after lblk. */
static size_t first_after(const struct vol_extmap *m, uint64_t lblk)
{
	size_t lo = 0, hi = m->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (eend(&m->v[mid]) > lblk)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static int reserve(struct vol_extmap *m, size_t extra)
{
	if (m->nr + extra <= m->cap)
		return 0;
	size_t cap = m->cap ? m->cap : 8;
	while (cap < m->nr + extra)
		cap *= 2;
	struct vol_ext *v = realloc(m->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	m->v = v;
	m->cap = cap;
	return 0;
}

void vol_extmap_lookup(const struct vol_extmap *m, uint64_t lblk, uint64_t len, struct vol_map *out)
{
	size_t i = first_after(m, lblk);

	out->lblk = lblk;
	if (i < m->nr && m->v[i].lblk <= lblk) {
		const struct vol_ext *e = &m->v[i];
		uint64_t n = eend(e) - lblk;
		out->type = (e->flags & VOL_EXT_UNWRITTEN) ? VOL_MAP_UNWRITTEN : VOL_MAP_MAPPED;
		out->pblk = e->pblk + (lblk - e->lblk);
		out->len = n < len ? n : len;
		return;
	}
	out->type = VOL_MAP_HOLE;
	out->pblk = 0;
	uint64_t n = i < m->nr ? m->v[i].lblk - lblk : UINT64_MAX - lblk;
	out->len = n < len ? n : len;
}

/* Ensure an extent boundary at lblk (needs room for one more extent). */
static void split_at(struct vol_extmap *m, uint64_t lblk)
{
	size_t i = first_after(m, lblk);

	if (i == m->nr || m->v[i].lblk >= lblk)
		return;
	struct vol_ext *e = &m->v[i];
	uint64_t head = lblk - e->lblk;
	memmove(&m->v[i + 1], &m->v[i], (m->nr - i) * sizeof(*e));
	m->nr++;
	m->v[i + 1].lblk = lblk;
	m->v[i + 1].pblk = e->pblk + head;
	m->v[i + 1].len = e->len - head;
	e->len = head;
}

static int mergeable(const struct vol_ext *a, const struct vol_ext *b)
{
	return eend(a) == b->lblk && a->pblk + a->len == b->pblk && a->flags == b->flags &&
	       a->len + b->len <= VOL_EXT_MAX_LEN;
}

/* Merge neighbours around indexes [lo, hi] (clamped). */
static void merge_around(struct vol_extmap *m, size_t lo, size_t hi)
{
	if (lo)
		lo--;
	if (hi + 1 > m->nr)
		hi = m->nr ? m->nr - 1 : 0;
	size_t i = lo;
	while (i + 1 < m->nr && i <= hi) {
		if (mergeable(&m->v[i], &m->v[i + 1])) {
			m->v[i].len += m->v[i + 1].len;
			memmove(&m->v[i + 1], &m->v[i + 2], (m->nr - i - 2) * sizeof(m->v[0]));
			m->nr--;
			if (hi)
				hi--;
		} else {
			i++;
		}
	}
}

/* Split at both edges of [lblk, end); return the index range [*a, *b) inside. */
static int isolate(struct vol_extmap *m, uint64_t lblk, uint64_t end, size_t *a, size_t *b)
{
	int r = reserve(m, 2);
	if (r)
		return r;
	split_at(m, lblk);
	split_at(m, end);
	*a = first_after(m, lblk);
	*b = first_after(m, end);
	if (*b < m->nr && m->v[*b].lblk < end)
		(*b)++; /* cannot happen after split_at; kept as a guard */
	return 0;
}

static void drop(struct vol_extmap *m, size_t a, size_t b, vol_release_fn rel, void *arg)
{
	for (size_t i = a; i < b; i++)
		if (rel)
			rel(arg, m->v[i].pblk, m->v[i].len);
	memmove(&m->v[a], &m->v[b], (m->nr - b) * sizeof(m->v[0]));
	m->nr -= b - a;
}

static int range_ok(uint64_t lblk, uint64_t len)
{
	return len && lblk + len > lblk;
}

int vol_extmap_punch(struct vol_extmap *m, uint64_t lblk, uint64_t len, vol_release_fn rel,
		     void *arg)
{
	size_t a, b;

	if (!range_ok(lblk, len))
		return -EINVAL;
	int r = isolate(m, lblk, lblk + len, &a, &b);
	if (r)
		return r;
	drop(m, a, b, rel, arg);
	merge_around(m, a, a);
	return 0;
}

int vol_extmap_set(struct vol_extmap *m, uint64_t lblk, uint64_t pblk, uint64_t len, uint32_t flags,
		   vol_release_fn rel, void *arg)
{
	size_t a, b;

	if (!range_ok(lblk, len) || len > VOL_EXT_MAX_LEN || pblk + len < pblk)
		return -EINVAL;
	int r = reserve(m, 3);
	if (r)
		return r;
	r = isolate(m, lblk, lblk + len, &a, &b);
	if (r)
		return r;
	drop(m, a, b, rel, arg);
	memmove(&m->v[a + 1], &m->v[a], (m->nr - a) * sizeof(m->v[0]));
	m->v[a] = (struct vol_ext){.lblk = lblk, .pblk = pblk, .len = len, .flags = flags};
	m->nr++;
	merge_around(m, a, a + 1);
	return 0;
}

int vol_extmap_mark_written(struct vol_extmap *m, uint64_t lblk, uint64_t len)
{
	size_t a, b;

	if (!range_ok(lblk, len))
		return -EINVAL;
	int r = isolate(m, lblk, lblk + len, &a, &b);
	if (r)
		return r;
	for (size_t i = a; i < b; i++)
		m->v[i].flags &= ~VOL_EXT_UNWRITTEN;
	merge_around(m, a, b);
	return 0;
}

int vol_extmap_collapse(struct vol_extmap *m, uint64_t lblk, uint64_t len, vol_release_fn rel,
			void *arg)
{
	size_t a, b;

	if (!range_ok(lblk, len))
		return -EINVAL;
	int r = isolate(m, lblk, lblk + len, &a, &b);
	if (r)
		return r;
	drop(m, a, b, rel, arg);
	for (size_t i = a; i < m->nr; i++)
		m->v[i].lblk -= len;
	merge_around(m, a, a);
	return 0;
}

int vol_extmap_insert_range(struct vol_extmap *m, uint64_t lblk, uint64_t len)
{
	if (!range_ok(lblk, len))
		return -EINVAL;
	if (m->nr && eend(&m->v[m->nr - 1]) > UINT64_MAX - len)
		return -EFBIG;
	int r = reserve(m, 1);
	if (r)
		return r;
	split_at(m, lblk);
	for (size_t i = first_after(m, lblk); i < m->nr; i++)
		m->v[i].lblk += len;
	return 0;
}

uint64_t vol_extmap_blocks(const struct vol_extmap *m)
{
	uint64_t n = 0;

	for (size_t i = 0; i < m->nr; i++)
		n += m->v[i].len;
	return n;
}

int vol_extmap_check(const struct vol_extmap *m)
{
	for (size_t i = 0; i < m->nr; i++) {
		const struct vol_ext *e = &m->v[i];
		if (!e->len || e->len > VOL_EXT_MAX_LEN || eend(e) < e->lblk ||
		    e->pblk + e->len < e->pblk || (e->flags & ~VOL_EXT_UNWRITTEN))
			return -EUCLEAN;
		if (i && (eend(&m->v[i - 1]) > e->lblk || mergeable(&m->v[i - 1], e)))
			return -EUCLEAN;
	}
	return 0;
}

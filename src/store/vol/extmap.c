/* SPDX-License-Identifier: MIT */
/*
 * extmap.c - a vol inode's extent map (see extmap.h): lookup and the range
 * operations, over the B+tree of xtree.c. Each costs O(log n + extents
 * touched) (collapse and insert_range also shift every later extent).
 *
 * Locking: none; the caller serialises.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/vol/format.h"
#include "store/vol/xtree.h"

void vol_extmap_lookup(const struct vol_extmap *m, uint64_t lblk, uint64_t len, struct vol_map *out)
{
	struct vol_xpath p;
	bool ok = xt_seek(m, lblk, &p);

	out->lblk = lblk;
	if (ok && xt_ext(&p)->lblk <= lblk) {
		const struct vol_ext *e = xt_ext(&p);
		uint64_t n = xt_eend(e) - lblk;
		out->type = (e->flags & VOL_EXT_UNWRITTEN) ? VOL_MAP_UNWRITTEN : VOL_MAP_MAPPED;
		out->flags = e->flags;
		out->pblk = e->pblk + (lblk - e->lblk);
		out->len = n < len ? n : len;
		return;
	}
	out->type = VOL_MAP_HOLE;
	out->flags = 0;
	out->pblk = 0;
	uint64_t n = ok ? xt_ext(&p)->lblk - lblk : UINT64_MAX - lblk;
	out->len = n < len ? n : len;
}

/* Ensure an extent boundary at lblk (one insert of the reservation). */
static void split_at(struct vol_extmap *m, uint64_t lblk)
{
	struct vol_xpath p;

	if (!xt_seek(m, lblk, &p) || xt_ext(&p)->lblk >= lblk)
		return;
	struct vol_ext *e = xt_ext(&p);
	uint64_t head = lblk - e->lblk;
	struct vol_ext tail = {lblk, e->pblk + head, e->len - head, e->flags};
	e->len = head;
	m->blocks -= tail.len; /* xt_insert counts it back */
	xt_dirty(&p, 0);
	p.i[0]++;
	xt_insert(m, &p, &tail);
}

/* Merge the extent ending at b with the one starting there, if alike. */
static void merge_at(struct vol_extmap *m, uint64_t b)
{
	struct vol_xpath p, q;

	if (!b || !xt_seek(m, b - 1, &p))
		return;
	struct vol_ext *e = xt_ext(&p);
	if (e->lblk >= b || xt_eend(e) != b)
		return;
	q = p;
	if (!xt_next(&q) || !xt_mergeable(e, xt_ext(&q)))
		return;
	e->len += xt_ext(&q)->len;
	m->blocks += xt_ext(&q)->len; /* xt_delete takes it off again */
	xt_dirty(&p, 0);
	xt_delete(m, &q, q.i[0], q.i[0] + 1);
}

/* Drop the whole extents inside [a, b) (edges already split). */
static void drop_range(struct vol_extmap *m, uint64_t a, uint64_t b, vol_release_fn rel, void *arg)
{
	struct vol_xpath p;

	while (xt_seek(m, a, &p) && xt_ext(&p)->lblk < b) {
		struct vol_xnode *x = p.n[0];
		unsigned i = p.i[0], j = i;
		for (; j < x->nr && x->ext[j].lblk < b; j++)
			if (rel)
				rel(arg, x->ext[j].pblk, x->ext[j].len);
		xt_delete(m, &p, i, j);
	}
}

static int range_ok(uint64_t lblk, uint64_t len)
{
	return len && lblk + len > lblk;
}

int vol_extmap_punch(struct vol_extmap *m, uint64_t lblk, uint64_t len, vol_release_fn rel,
		     void *arg)
{
	if (!range_ok(lblk, len))
		return -EINVAL;
	int r = xt_reserve(m, 2);
	if (r)
		return r;
	split_at(m, lblk);
	split_at(m, lblk + len);
	drop_range(m, lblk, lblk + len, rel, arg);
	xt_unreserve(m);
	return 0;
}

int vol_extmap_set(struct vol_extmap *m, uint64_t lblk, uint64_t pblk, uint64_t len, uint32_t flags,
		   vol_release_fn rel, void *arg)
{
	struct vol_xpath p;

	if (!range_ok(lblk, len) || len > VOL_EXT_MAX_LEN || pblk + len < pblk)
		return -EINVAL;
	int r = xt_reserve(m, 3);
	if (r)
		return r;
	split_at(m, lblk);
	split_at(m, lblk + len);
	drop_range(m, lblk, lblk + len, rel, arg);
	struct vol_ext e = {lblk, pblk, len, flags};
	xt_seek(m, lblk, &p);
	xt_insert(m, &p, &e);
	merge_at(m, lblk);
	merge_at(m, lblk + len);
	xt_unreserve(m);
	return 0;
}

int vol_extmap_mark_written(struct vol_extmap *m, uint64_t lblk, uint64_t len)
{
	struct vol_xpath p;
	uint64_t end = lblk + len;

	if (!range_ok(lblk, len))
		return -EINVAL;
	int r = xt_reserve(m, 2);
	if (r)
		return r;
	split_at(m, lblk);
	split_at(m, end);
	for (bool ok = xt_seek(m, lblk, &p); ok && xt_ext(&p)->lblk < end; ok = xt_next(&p))
		if (xt_ext(&p)->flags & VOL_EXT_UNWRITTEN) {
			xt_ext(&p)->flags &= ~VOL_EXT_UNWRITTEN;
			xt_dirty(&p, 0);
		}
	/* re-merge at lblk and at each extent end up to end */
	merge_at(m, lblk);
	for (uint64_t x = lblk; x < end;) {
		if (!xt_seek(m, x, &p) || xt_ext(&p)->lblk >= end)
			break;
		uint64_t b = xt_eend(xt_ext(&p));
		size_t before = m->nr;
		merge_at(m, b);
		if (m->nr == before)
			x = b; /* else the extent grew: look at its new end */
	}
	xt_unreserve(m);
	return 0;
}

int vol_extmap_collapse(struct vol_extmap *m, uint64_t lblk, uint64_t len, vol_release_fn rel,
			void *arg)
{
	if (!range_ok(lblk, len))
		return -EINVAL;
	int r = xt_reserve(m, 2);
	if (r)
		return r;
	split_at(m, lblk);
	split_at(m, lblk + len);
	drop_range(m, lblk, lblk + len, rel, arg);
	xt_shift(m, lblk, -len);
	merge_at(m, lblk);
	xt_unreserve(m);
	return 0;
}

int vol_extmap_insert_range(struct vol_extmap *m, uint64_t lblk, uint64_t len)
{
	if (!range_ok(lblk, len))
		return -EINVAL;
	const struct vol_ext *last = xt_last(m);
	if (last && xt_eend(last) > UINT64_MAX - len)
		return -EFBIG;
	int r = xt_reserve(m, 1);
	if (r)
		return r;
	split_at(m, lblk);
	xt_shift(m, lblk, len);
	xt_unreserve(m);
	return 0;
}

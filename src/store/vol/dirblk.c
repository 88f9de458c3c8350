/* SPDX-License-Identifier: MIT */
/*
 * dirblk.c - a vol directory's on-disk blocks in memory, so that a commit
 * rewrites only the blocks that changed. The blocks partition the cookie
 * space: block i holds the entries with cookies in [blk[i].first,
 * blk[i + 1].first), packed in cookie order (docs/vol-format.md). A new
 * entry has the largest cookie, so it goes into the last block or starts a
 * new one; a removed entry dirties the block holding it; an emptied block
 * is dropped and a block that fits into a neighbour with it is merged into
 * it. Each block knows its committed volume block (0: new) and whether it is
 * dirty. A commit writes the dirty blocks into blocks free in the last
 * commit, rewrites the directory's small extent tree (lblk = position, so
 * dropping a block renumbers those after it), and sends the replaced and
 * dropped blocks and the old tree to pending. Nothing in here changes until
 * the commit point (vdir_install), so a failed commit leaves the directory
 * as it was and a retry writes the same blocks.
 *
 * Locking: the caller holds vs->lock (or owns the store: mount, fsck).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/vol/check.h"
#include "store/vol/vstore.h"

#define BS VOL_BLOCK_SIZE

TEST_SWITCH(vdir_test_rewrite_all);
TEST_SWITCH(vdir_test_install_early);

/* The block holding @cookie: the last one whose first is <= it. */
static size_t blk_of(const struct vdir *d, uint64_t cookie)
{
	size_t lo = 0, hi = d->nblk;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->blk[mid].first <= cookie)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? lo - 1 : 0;
}

int vdir_blk_reserve(struct vdir *d)
{
	if (d->nblk < d->cblk)
		return 0;
	return vol_grow(d->blk, d->cblk, 4);
}

static void blk_push(struct vdir *d, uint64_t first)
{
	d->blk[d->nblk++] = (struct vdirblk){.first = first, .dirty = true};
}

void vdir_blk_add(struct vdir *d, uint64_t cookie, size_t sz)
{
	struct vdirblk *b = d->nblk ? &d->blk[d->nblk - 1] : NULL;
	if (!b || (b->nr && b->used + sz > VOL_DIRB_CAP)) {
		blk_push(d, cookie); /* vdir_blk_reserve() made room */
		b = &d->blk[d->nblk - 1];
	}
	if (b->nr == 0)
		b->first = cookie;
	b->used += (uint32_t)sz;
	b->nr++;
	b->dirty = true;
}

/* Block i goes: its committed block (if any) is dropped at the next commit. */
static void blk_drop(struct vdir *d, size_t i)
{
	if (d->blk[i].pblk) /* capacity reserved for every committed block */
		d->dropped[d->ndropped++] = d->blk[i].pblk;
	memmove(&d->blk[i], &d->blk[i + 1], (d->nblk - i - 1) * sizeof(*d->blk));
	d->nblk--;
}

/* Block i + 1's entries join block i (its range is i's from now). */
static void blk_merge(struct vdir *d, size_t i)
{
	d->blk[i].used += d->blk[i + 1].used;
	d->blk[i].nr += d->blk[i + 1].nr;
	d->blk[i].dirty = true;
	blk_drop(d, i + 1);
}

void vdir_blk_del(struct vdir *d, uint64_t cookie, size_t sz)
{
	size_t i = blk_of(d, cookie);
	struct vdirblk *b = &d->blk[i];

	b->used -= (uint32_t)sz;
	b->nr--;
	b->dirty = true;
	if (b->nr == 0) {
		blk_drop(d, i);
		return;
	}
	if (i > 0 && d->blk[i - 1].used + b->used <= VOL_DIRB_CAP)
		blk_merge(d, i - 1);
	else if (i + 1 < d->nblk && b->used + d->blk[i + 1].used <= VOL_DIRB_CAP)
		blk_merge(d, i);
}

void vdir_blk_touch(struct vdir *d, uint64_t cookie)
{
	if (d->nblk)
		d->blk[blk_of(d, cookie)].dirty = true;
}

void vdir_blk_free(struct vdir *d)
{
	free(d->blk);
	free(d->dropped);
	free(d->tnodes.v);
	free(d->stage_meta.v);
	free(d->stage_tnodes.v);
}

/* ---- mount ---- */

int vdir_blk_load_begin(struct vdir *d)
{
	int r = vdir_blk_reserve(d);
	if (!r)
		blk_push(d, 0);
	return r;
}

int vdir_blk_load_end(struct vdir *d, uint64_t pblk)
{
	struct vdirblk *b = &d->blk[d->nblk - 1];
	if (b->nr == 0)
		return -EUCLEAN; /* commits never write an empty block */
	b->pblk = pblk;
	b->dirty = false;
	return 0;
}

/* Room in dropped[] for every committed block, so a remove cannot fail. */
static int reserve_dropped(struct vdir *d, size_t committed)
{
	if (d->cdropped >= committed)
		return 0;
	uint64_t *v = realloc(d->dropped, committed * sizeof(*v));
	if (!v)
		return -ENOMEM;
	d->dropped = v;
	d->cdropped = committed;
	return 0;
}

static int blist_copy(struct vol_blist *to, const struct vol_blist *from)
{
	to->nr = 0;
	for (size_t i = 0; i < from->nr; i++) {
		int r = vblist_add(to, from->v[i].start, from->v[i].len);
		if (r)
			return r;
	}
	return 0;
}

int vdir_blk_load_done(struct vdir *d, const struct vol_blist *tnodes)
{
	int r = blist_copy(&d->tnodes, tnodes);
	return r ? r : reserve_dropped(d, d->nblk);
}

/* ---- commit ---- */

/* Packs block i's entries (from the slot array) into @buf. */
static int pack(const struct vnode *n, size_t i, char *buf)
{
	const struct vdir *d = n->dir;
	const struct vdirblk *b = &d->blk[i];
	uint64_t end = i + 1 < d->nblk ? d->blk[i + 1].first : UINT64_MAX;
	struct vol_dirblk_hdr h = {.magic = VOL_DIRB_MAGIC, .owner = n->ino};
	size_t off = sizeof(h);

	memset(buf, 0, BS);
	for (size_t k = vdir_seek(d, b->first); k < d->onr && d->order[k].cookie < end; k++) {
		struct vdent *e = d->order[k].e;
		if (!e)
			continue;
		struct vol_dirent_rec rec = {e->ino, e->cookie, e->nlen, e->type};
		if (off + vdir_rec_size(e->nlen) > BS)
			return -EUCLEAN; /* the bookkeeping is wrong: never write it */
		memcpy(buf + off, &rec, sizeof(rec));
		memcpy(buf + off + sizeof(rec), e->name, e->nlen);
		off += vdir_rec_size(e->nlen);
		h.nr++;
	}
	h.used = (uint32_t)(off - sizeof(h));
	if (h.nr != b->nr || h.used != b->used || h.nr == 0)
		return -EUCLEAN;
	memcpy(buf, &h, sizeof(h));
	uint32_t crc = vol_crc32c(0, buf, BS);
	memcpy(buf + offsetof(struct vol_dirblk_hdr, crc), &crc, 4);
	return 0;
}

int vdir_write_blocks(struct vstore *vs, struct vnode *n, vol_blk_alloc_fn alloc, void *arg,
		      struct vol_disk_extent **ext, size_t *next, uint64_t *nblocks)
{
	struct vdir *d = n->dir;
	char *buf = malloc(BS);
	size_t ne = 0, cap = 0;
	int r = buf ? 0 : -ENOMEM;

	*ext = NULL;
	for (size_t i = 0; !r && i < d->nblk; i++) {
		struct vdirblk *b = &d->blk[i];
		if (vdir_test_rewrite_all)
			b->dirty = true;
		uint64_t p = b->pblk;
		b->new_pblk = 0;
		if (b->dirty) {
			r = pack(n, i, buf);
			if (!r)
				r = alloc(arg, &p);
			if (!r)
				r = vol_meta_put(&vs->v->bd, p, buf); /* or the journal */
			if (r)
				break;
			b->new_pblk = p;
			if (vdir_test_install_early) /* the hazard: a failed commit forgets it */
				b->dirty = false;
		}
		if (ne && (*ext)[ne - 1].pblk + (*ext)[ne - 1].len == p) {
			(*ext)[ne - 1].len++;
			continue;
		}
		if (ne == cap && vol_grow(*ext, cap, 8)) {
			r = -ENOMEM;
			break;
		}
		(*ext)[ne++] = (struct vol_disk_extent){.lblk = i, .pblk = p, .len = 1};
	}
	free(buf);
	*next = ne;
	*nblocks = d->nblk;
	return r;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int vdir_stage(struct vstore *vs, struct vnode *n)
{
	struct vdir *d = n->dir;
	struct vol_blist *pend = &vs->v->pending;
	uint64_t *fresh = NULL;
	size_t nfresh = 0;
	int r = 0;

	/* the old tree, the replaced and the dropped blocks */
	for (size_t i = 0; !r && i < d->tnodes.nr; i++)
		r = vblist_add(pend, d->tnodes.v[i].start, d->tnodes.v[i].len);
	for (size_t i = 0; !r && i < d->nblk; i++)
		if (d->blk[i].new_pblk && d->blk[i].pblk)
			r = vblist_add(pend, d->blk[i].pblk, 1);
	for (size_t i = 0; !r && i < d->ndropped; i++)
		r = vblist_add(pend, d->dropped[i], 1);
	if (!r)
		r = reserve_dropped(d, d->nblk);
	if (!r && d->nblk && !(fresh = malloc(d->nblk * sizeof(*fresh))))
		r = -ENOMEM;
	/* n->new_meta holds what this commit wrote: the dirty blocks and the
	 * new tree; with the blocks kept, that is the directory's metadata */
	if (!r)
		r = blist_copy(&d->stage_meta, &n->new_meta);
	for (size_t i = 0; !r && i < d->nblk; i++) {
		if (d->blk[i].new_pblk)
			fresh[nfresh++] = d->blk[i].new_pblk;
		else
			r = vblist_add(&d->stage_meta, d->blk[i].pblk, 1);
	}
	/* the new tree's nodes: what was written, less the directory blocks */
	d->stage_tnodes.nr = 0;
	if (!r && nfresh)
		qsort(fresh, nfresh, sizeof(*fresh), u64_cmp);
	for (size_t i = 0; !r && i < n->new_meta.nr; i++)
		for (uint64_t b = n->new_meta.v[i].start;
		     !r && b < n->new_meta.v[i].start + n->new_meta.v[i].len; b++)
			if (!nfresh || !bsearch(&b, fresh, nfresh, sizeof(*fresh), u64_cmp))
				r = vblist_add(&d->stage_tnodes, b, 1);
	free(fresh);
	return r;
}

void vdir_install(struct vnode *n)
{
	struct vdir *d = n->dir;
	struct vol_blist t;

	for (size_t i = 0; i < d->nblk; i++)
		if (d->blk[i].new_pblk) {
			d->blk[i].pblk = d->blk[i].new_pblk;
			d->blk[i].new_pblk = 0;
			d->blk[i].dirty = false;
		}
	d->ndropped = 0;
	t = d->tnodes;
	d->tnodes = d->stage_tnodes;
	d->stage_tnodes = t;
	d->stage_tnodes.nr = 0;
	t = n->meta;
	n->meta = d->stage_meta;
	d->stage_meta = t;
	d->stage_meta.nr = 0;
	n->new_meta.nr = 0;
}

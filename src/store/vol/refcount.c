/* SPDX-License-Identifier: MIT */
/*
 * refcount.c - shared data blocks of the vol store (reflink): the
 * reference-count tree, as XFS's refcount btree. A data block mapped by
 * one extent has count 1 and is not in the tree; the tree (vs->refc, an
 * extent map with owner VOL_REFC_OWNER keyed by volume block, entries
 * {lblk = pblk, len, flags = count >= 2}) holds only the blocks mapped
 * more than once, so an unshared volume has none and pays nothing.
 *
 * Every block an extent map drops goes through vs_release: a shared block
 * loses one reference, a block whose last reference goes is released to
 * the pending list (free once the commit is durable). A clone adds one
 * reference per block (vs_refc_inc). The tree is written by the store's
 * commit, copy-on-write like a file's extent tree (its changed nodes and
 * their ancestors into blocks free in the last commit, the replaced ones
 * pending), its root and the count of shared blocks in the superblock the
 * same journal transaction logs; the first reference taken sets the
 * incompat feature REFLINK. Load reads it and checks it against the extent
 * maps (vs_refc_check: each block's count = the extents mapping it; fsck
 * repairs a wrong count by rewriting it).
 *
 * Locking: vs->lock held by every caller (mount and fsck: the store not yet
 * shared). Nothing here takes a lock but vol->lock (inside volume.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/vol/check.h"
#include "store/vol/vstore.h"

TEST_SWITCH(vol_test_refcount_skip_inc);
TEST_SWITCH(vol_test_refcount_no_check);

static void refc_stats(struct vstore *vs, uint64_t len, uint32_t from, uint32_t to)
{
	if (from < 2 && to >= 2)
		vs->shared_blocks += len;
	else if (from >= 2 && to < 2)
		vs->shared_blocks -= len;
}

uint32_t vs_refc_get(const struct vstore *vs, uint64_t pblk, uint64_t len, uint64_t *run)
{
	struct vol_map m;

	if (!vs->refc.root) {
		*run = len;
		return 1;
	}
	vol_extmap_lookup(&vs->refc, pblk, len, &m);
	*run = m.len;
	return m.type == VOL_MAP_HOLE ? 1 : m.flags;
}

/* [pblk, pblk + len), all of count @from, gets count @to. 0 or -ENOMEM. */
static int refc_set(struct vstore *vs, uint64_t pblk, uint64_t len, uint32_t from, uint32_t to)
{
	int r = to >= 2 ? vol_extmap_set(&vs->refc, pblk, pblk, len, to, NULL, NULL)
			: vol_extmap_punch(&vs->refc, pblk, len, NULL, NULL);
	if (!r) {
		refc_stats(vs, len, from, to);
		vs->refc_dirty = true;
	}
	return r;
}

/* Drops one reference from each block of [pblk, pblk + len): a block whose
 * last one goes is released (pending). */
void vs_release(void *arg, uint64_t pblk, uint64_t len)
{
	struct vstore *vs = arg;
	uint64_t end = pblk + len;

	for (uint64_t at = pblk, run; at < end; at += run) {
		uint32_t c = vs_refc_get(vs, at, end - at, &run);
		if (c >= 2) {
			if (refc_set(vs, at, run, c, c - 1))
				fprintf(stderr,
					"vol: cannot drop a reference to blocks %llu+%llu (out of "
					"memory): they stay allocated until fsck -y\n",
					(unsigned long long)at, (unsigned long long)run);
			continue;
		}
		if (vol_release_blocks(vs->v, at, run))
			fprintf(stderr, "vol: internal error: double free of blocks %llu+%llu\n",
				(unsigned long long)at, (unsigned long long)run);
	}
}

int vs_refc_inc(struct vstore *vs, uint64_t pblk, uint64_t len)
{
	uint64_t end = pblk + len;

	vs->v->sb.feat_incompat |= VOL_FEAT_INCOMPAT_REFLINK; /* written by the commit */
	if (__atomic_load_n(&vol_test_refcount_skip_inc, __ATOMIC_RELAXED))
		return 0; /* the hazard: a block mapped twice with count 1 */
	for (uint64_t at = pblk, run; at < end; at += run) {
		uint32_t c = vs_refc_get(vs, at, end - at, &run);
		int r = c == UINT32_MAX ? -EMLINK : refc_set(vs, at, run, c, c + 1);
		if (r) {
			/* take back what this call added (a failure here
			 * leaves a count too high: space held, nothing lost) */
			for (uint64_t b = pblk, k; b < at; b += k) {
				uint32_t d = vs_refc_get(vs, b, at - b, &k);
				refc_set(vs, b, k, d, d - 1);
			}
			return r;
		}
	}
	return 0;
}

bool vs_refc_shared(const struct vstore *vs, uint64_t pblk, uint64_t len, uint64_t *run)
{
	return vs_refc_get(vs, pblk, len, run) >= 2;
}

/* ---- commit ---- */

static int refc_block(void *arg, uint64_t *blk)
{
	struct vstore *vs = arg;
	uint64_t b;
	int64_t g = vol_alloc_blocks(vs->v, 1, UINT64_MAX, &b);
	if (g < 0)
		return (int)g;
	int r = vblist_add(&vs->refc_new, b, 1);
	if (r) {
		vol_return_blocks(vs->v, b, 1);
		return r;
	}
	*blk = b;
	return 0;
}

int vs_refc_write(struct vstore *vs)
{
	vs->refc_new.nr = 0;
	if (!vs->refc_dirty)
		return 0;
	return vol_extmap_write(&vs->refc, &vs->v->bd, VOL_REFC_OWNER, refc_block, vs,
				&vs->refc_new_root, NULL);
}

static int pend_meta(void *arg, uint64_t start, uint64_t len)
{
	return vblist_add(arg, start, len);
}

int vs_refc_stage(struct vstore *vs)
{
	if (!vs->refc_dirty)
		return 0;
	return vol_extmap_for_each_replaced(&vs->refc, pend_meta, &vs->v->pending);
}

void vs_refc_undo(struct vstore *vs)
{
	for (size_t i = 0; i < vs->refc_new.nr; i++)
		vol_return_blocks(vs->v, vs->refc_new.v[i].start, vs->refc_new.v[i].len);
	vs->refc_new.nr = 0;
}

void vs_refc_super(const struct vstore *vs, struct vol_super *sb)
{
	if (vs->refc_dirty)
		sb->refc_root = vs->refc_new_root;
	sb->shared_blocks = vs->shared_blocks;
}

void vs_refc_install(struct vstore *vs)
{
	if (!vs->refc_dirty)
		return;
	vol_extmap_committed(&vs->refc);
	vs->refc_new.nr = 0;
	vs->refc_dirty = false;
}

int vs_refc_for_each_meta(const struct vstore *vs,
			  int (*fn)(void *arg, uint64_t start, uint64_t len), void *arg)
{
	return vol_extmap_for_each_block(&vs->refc, fn, arg);
}

void vs_refc_destroy(struct vstore *vs)
{
	vol_extmap_destroy(&vs->refc);
	free(vs->refc_new.v);
	vs->refc_new = (struct vol_blist){0};
}

/* ---- load ---- */

struct refc_ld {
	struct vstore *vs;
	bool shape;
	const char *bad;
};

static int refc_emit(void *arg, const struct vol_disk_extent *e)
{
	struct refc_ld *c = arg;
	const struct vol_super *sb = &c->vs->v->sb;

	if (e->pblk < sb->data_start || e->pblk + e->len > vol_data_end(sb)) {
		c->bad = "vol: reference-count tree names blocks outside the data area";
		return -EUCLEAN;
	}
	refc_stats(c->vs, e->len, 1, e->flags);
	if (c->shape)
		return vol_extmap_load_ext(&c->vs->refc, e);
	return vol_extmap_set(&c->vs->refc, e->pblk, e->pblk, e->len, e->flags, NULL, NULL);
}

static int refc_shape(void *arg, uint64_t blk, unsigned level)
{
	struct refc_ld *c = arg;
	return vol_extmap_load_node(&c->vs->refc, blk, level);
}

static int refc_node(void *arg, uint64_t blk)
{
	struct refc_ld *c = arg;
	return vol_extmap_adopt_block(&c->vs->refc, blk);
}

static void refc_reset(struct vstore *vs)
{
	vol_extmap_destroy(&vs->refc);
	vs->refc.counts = true;
	vs->shared_blocks = 0;
}

int vs_refc_load(struct vstore *vs, struct vs_check *ck, const char **why)
{
	const struct vol_super *sb = &vs->v->sb;
	struct refc_ld c = {.vs = vs, .shape = true};
	const char *bad = NULL;
	int r = 0;

	vol_extmap_init(&vs->refc);
	vs->refc.counts = true;
	vs->shared_blocks = 0;
	vs->refc_dirty = false;
	if (sb->refc_root) {
		r = vol_btree_read_shape(&vs->v->bd, VOL_REFC_OWNER, sb->refc_root, refc_emit,
					 refc_shape, &c, &bad);
		if (!r)
			vol_extmap_load_done(&vs->refc);
		if (r == -EAGAIN) { /* loaded extent by extent, rewritten at a commit */
			refc_reset(vs);
			c.shape = false;
			r = vol_btree_read_nodes(&vs->v->bd, VOL_REFC_OWNER, sb->refc_root,
						 refc_emit, refc_node, &c, &bad);
		}
	}
	if (r == -EUCLEAN) {
		/* fsck: the counts are rebuilt from the extent maps
		 * (vs_refc_check), the old tree's blocks return to free space */
		const char *what = bad ? bad : c.bad ? c.bad : "damaged";
		if (ck && ck->report)
			fprintf(ck->report, "vol fsck: reference-count tree: %s\n",
				what + (strncmp(what, "vol: ", 5) ? 0 : 5));
		r = vs_problem(ck, why, 0, "vol: reference-count tree damaged");
		refc_reset(vs);
		vs->refc_dirty = true;
		return r;
	}
	if (!r && vs->shared_blocks != sb->shared_blocks && (ck || !vol_test_refcount_no_check)) {
		r = vs_problem(ck, why, 0,
			       "vol: shared block count disagrees with the "
			       "reference-count tree");
		vs->refc_dirty = true; /* the repair commit writes the right one */
	}
	return r;
}

/* ---- check against the extent maps ---- */

struct refc_ev {
	uint64_t at;
	int64_t d;
};

static int ev_cmp(const void *a, const void *b)
{
	const struct refc_ev *x = a, *y = b;
	return x->at < y->at ? -1 : x->at > y->at;
}

/*
 * The count each data block should have: the extents mapping it (a sweep
 * over the extents' starts and ends), as a map of the blocks mapped more
 * than once (@want, counts). 0 or -ENOMEM.
 */
static int refc_expected(struct vstore *vs, struct vol_extmap *want)
{
	struct refc_ev *ev = NULL;
	size_t nev = 0, cev = 0;
	int r = 0;

	for (uint64_t i = vs_next_ino(vs, 1); !r && i < vs->ninodes; i = vs_next_ino(vs, i + 1)) {
		struct vnode *n = vs->inodes[i];
		struct vol_extmap_iter it;
		if (!n || n->dir)
			continue;
		for (const struct vol_ext *e = vol_extmap_first(&n->map, &it); !r && e;
		     e = vol_extmap_next(&it)) {
			if (nev + 2 > cev && vol_grow(ev, cev, 256)) {
				r = -ENOMEM;
				break;
			}
			ev[nev++] = (struct refc_ev){e->pblk, 1};
			ev[nev++] = (struct refc_ev){e->pblk + e->len, -1};
		}
	}
	if (!r && nev)
		qsort(ev, nev, sizeof(*ev), ev_cmp);
	int64_t k = 0;
	for (size_t i = 0; !r && i < nev;) {
		uint64_t at = ev[i].at;
		while (i < nev && ev[i].at == at)
			k += ev[i++].d;
		if (k >= 2 && i < nev) {
			uint64_t len = ev[i].at - at;
			uint32_t cnt = k > UINT32_MAX ? UINT32_MAX : (uint32_t)k;
			r = vol_extmap_set(want, at, at, len, cnt, NULL, NULL);
		}
	}
	free(ev);
	return r;
}

static uint32_t count_at(const struct vol_extmap *m, uint64_t b, uint64_t len, uint64_t *run)
{
	struct vol_map x;
	vol_extmap_lookup(m, b, len, &x);
	*run = x.len;
	return x.type == VOL_MAP_HOLE ? 1 : x.flags;
}

int vs_refc_check(struct vstore *vs, struct vs_check *ck, const char **why)
{
	const struct vol_super *sb = &vs->v->sb;
	struct vol_extmap want;
	int r;

	if (!(sb->feat_incompat & VOL_FEAT_INCOMPAT_REFLINK) && !vs->refc.root)
		return 0; /* nothing shared: owners.c reports a block mapped twice */
	if (!ck && vol_test_refcount_no_check)
		return 0;
	vol_extmap_init(&want);
	want.counts = true;
	r = refc_expected(vs, &want);
	uint64_t end = vol_data_end(sb);
	for (uint64_t at = sb->data_start, run; !r && at < end; at += run) {
		uint64_t r1, r2;
		uint32_t have = count_at(&vs->refc, at, end - at, &r1);
		uint32_t need = count_at(&want, at, end - at, &r2);
		run = r1 < r2 ? r1 : r2;
		if (have == need)
			continue;
		/* one line per run of the same disagreement */
		while (at + run < end) {
			uint64_t k1, k2;
			if (count_at(&vs->refc, at + run, end - at - run, &k1) != have ||
			    count_at(&want, at + run, end - at - run, &k2) != need)
				break;
			run += k1 < k2 ? k1 : k2;
		}
		if (ck && ck->report)
			fprintf(ck->report,
				"vol fsck: blocks %llu..%llu: reference count %u, mapped %u "
				"time(s)\n",
				(unsigned long long)at, (unsigned long long)(at + run - 1), have,
				need);
		r = vs_problem(ck, why, 0,
			       have > need ? "vol: reference count too high (space leaked)"
					   : "vol: reference count too low (a shared block would "
					     "be freed while mapped)");
		if (!r && ck) {
			if (ck->nrefc == ck->crefc && vol_grow(ck->refc, ck->crefc, 16))
				r = -ENOMEM;
			else
				ck->refc[ck->nrefc++] = (struct vs_refc_fix){at, run, need};
		}
	}
	vol_extmap_destroy(&want);
	return r;
}

int vs_refc_repair(struct vstore *vs, struct vs_check *ck)
{
	int r = 0;
	for (size_t i = 0; !r && i < ck->nrefc; i++) {
		const struct vs_refc_fix *f = &ck->refc[i];
		for (uint64_t at = f->start, run; !r && at < f->start + f->len; at += run) {
			uint32_t have = vs_refc_get(vs, at, f->start + f->len - at, &run);
			r = refc_set(vs, at, run, have, f->count);
		}
	}
	if (!r && (ck->nrefc || vs->refc_dirty)) {
		vs->refc_dirty = true;
		if (vs->refc.root)
			vs->v->sb.feat_incompat |= VOL_FEAT_INCOMPAT_REFLINK;
	}
	return r;
}

/* SPDX-License-Identifier: MIT */
/*
 * owners.c - the block-ownership checks of a tolerant load (load.c calls
 * them once every inode's trees are read): every block of the data area is
 * owned exactly once - by a file's data extent, by metadata (a file's
 * extent-tree nodes, a directory's tree nodes and blocks, the
 * reference-count tree's nodes, as inode 0's), by the committed
 * free-space tree, or free - and the last block by the backup superblock
 * when the volume has one; on a REFLINK volume a data block may be mapped
 * by several extents, whose number refcount.c checks against its count. Mount stops at the first
 * problem; fsck (struct vs_check) reports each and records the repair: a structure whose metadata
 * lies outside the data area or is claimed twice is dropped, and of a block claimed twice the owner
 * that keeps it is decided by own_keeps (backup, metadata, then data by inode and file block), a
 * data extent that gives way gets a copy; blocks leaked, or owned and marked free, are healed by
 * rebuilding free space from ownership (fsck.c).
 *
 * Locking: none; runs before the store is shared (mount, fsck).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/vol/check.h"
#include "store/vol/vstore.h"

/* Who claims a block, in the order of who keeps a block claimed twice: the
 * backup superblock, then metadata, then data extents by (inode, file
 * block); the free-space tree and free space give way to all of them. */
enum own_kind { OWN_BACKUP, OWN_META, OWN_DATA, OWN_FTREE, OWN_FREE };

struct own {
	uint64_t start, len, ino, lblk; /* lblk: OWN_DATA only */
	enum own_kind kind;
};

static int own_cmp(const void *a, const void *b)
{
	const struct own *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

struct ownv {
	struct own *v;
	size_t nr, cap;
	uint64_t ino; /* for own_meta */
};

static int own_add(struct ownv *o, uint64_t start, uint64_t len, uint64_t ino, uint64_t lblk,
		   enum own_kind kind)
{
	if (o->nr == o->cap && vol_grow(o->v, o->cap, 64))
		return -ENOMEM;
	o->v[o->nr++] = (struct own){start, len, ino, lblk, kind};
	return 0;
}

/* vs_for_each_meta's callback: a metadata claim of inode o->ino. */
static int own_meta(void *arg, uint64_t start, uint64_t len)
{
	struct ownv *o = arg;
	return own_add(o, start, len, o->ino, 0, OWN_META);
}

/* x keeps a block y claims as well (both inode claims). */
static bool own_keeps(const struct own *x, const struct own *y)
{
	if (x->kind != y->kind)
		return x->kind < y->kind;
	return x->ino != y->ino ? x->ino < y->ino : x->lblk < y->lblk;
}

static int check_copy(struct vs_check *ck, uint64_t ino, uint64_t lblk, uint64_t len)
{
	if (ck->ncopy == ck->ccopy && vol_grow(ck->copy, ck->ccopy, 16))
		return -ENOMEM;
	ck->copy[ck->ncopy++] = (struct vs_copy){ino, lblk, len};
	return 0;
}

int vs_check_meta_claims(struct vstore *vs, struct vs_check *ck, const char **why)
{
	const struct vol_super *sb = &vs->v->sb;
	struct ownv o = {0};
	uint8_t *lose = calloc(vs->ninodes, 1);
	int r = lose ? 0 : -ENOMEM;

	for (uint64_t i = vs_next_ino(vs, 1); !r && i < vs->ninodes; i = vs_next_ino(vs, i + 1)) {
		if (!vs->inodes[i])
			continue;
		o.ino = i;
		r = vs_for_each_meta(vs->inodes[i], own_meta, &o);
	}
	o.ino = 0; /* the reference-count tree's nodes: inode 0 keeps them */
	if (!r)
		r = vs_refc_for_each_meta(vs, own_meta, &o);
	if (!r && o.nr)
		qsort(o.v, o.nr, sizeof(*o.v), own_cmp);
	for (size_t k = 0; !r && k < o.nr; k++) {
		struct own *x = &o.v[k];
		if (x->start < sb->data_start || x->start + x->len > vol_data_end(sb)) {
			if (!lose[x->ino])
				r = vs_problem(
				    ck, why, x->ino,
				    "vol: tree node or directory block outside the data area");
			lose[x->ino] = 1;
		}
		for (size_t j = k + 1; !r && j < o.nr && o.v[j].start < x->start + x->len; j++) {
			uint64_t loser = o.v[j].ino > x->ino ? o.v[j].ino : x->ino;
			if (lose[x->ino] || lose[o.v[j].ino])
				continue;
			r = vs_problem(ck, why, loser, "vol: metadata block claimed twice");
			lose[loser] = 1;
		}
	}
	for (uint64_t i = vs_next_ino(vs, 1); !r && ck && i < vs->ninodes;
	     i = vs_next_ino(vs, i + 1))
		if (lose[i] && vs->inodes[i])
			r = vs_drop_structure(vs, vs->inodes[i], ck);
	free(lose);
	free(o.v);
	return r;
}

int vs_check_ownership(struct vstore *vs, struct vs_check *ck, const char **why)
{
	struct vol *v = vs->v;
	struct ownv o = {0};
	int r = 0;

	for (uint64_t i = vs_next_ino(vs, 1); !r && i < vs->ninodes; i = vs_next_ino(vs, i + 1)) {
		struct vnode *n = vs->inodes[i];
		if (!n)
			continue;
		struct vol_extmap_iter it;
		for (const struct vol_ext *e = vol_extmap_first(&n->map, &it); !r && e;
		     e = vol_extmap_next(&it))
			r = own_add(&o, e->pblk, e->len, i, e->lblk, OWN_DATA);
		o.ino = i;
		if (!r)
			r = vs_for_each_meta(n, own_meta, &o);
	}
	o.ino = 0;
	if (!r)
		r = vs_refc_for_each_meta(vs, own_meta, &o);
	for (struct vol_fext e = {0, 0}; !r && vol_alloc_next(&v->alloc, &e);)
		r = own_add(&o, e.start, e.len, 0, 0, OWN_FREE);
	for (size_t k = 0; !r && k < v->tree.nr; k++)
		r = own_add(&o, v->tree.v[k].start, v->tree.v[k].len, 0, 0, OWN_FTREE);
	if (!r && vol_data_end(&v->sb) < v->sb.nblocks)
		r = own_add(&o, vol_data_end(&v->sb), v->sb.nblocks - vol_data_end(&v->sb), 0, 0,
			    OWN_BACKUP);
	if (r) {
		free(o.v);
		return r;
	}
	if (o.nr)
		qsort(o.v, o.nr, sizeof(*o.v), own_cmp);
	uint64_t at = v->sb.data_start;
	const bool shared = (v->sb.feat_incompat & VOL_FEAT_INCOMPAT_REFLINK) || vs->refc.root;
	for (size_t k = 0; !r && k < o.nr; k++) {
		struct own *w = &o.v[k];
		if (w->start > at && !(ck && ck->no_free_tree))
			r = vs_problem(ck, why, 0, "vol: blocks leaked (neither owned nor free)");
		if (w->start + w->len > at)
			at = w->start + w->len;
		/* every claim overlapping this one and starting inside it */
		for (size_t j = k + 1; !r && j < o.nr && o.v[j].start < w->start + w->len; j++) {
			struct own *x = &o.v[j], *keep = own_keeps(w, x) ? w : x;
			if (shared && w->kind == OWN_DATA && x->kind == OWN_DATA)
				continue; /* shared: the counts are checked (refcount.c) */
			struct own *give = keep == w ? x : w;
			uint64_t os = x->start, oe = w->start + w->len;
			if (x->start + x->len < oe)
				oe = x->start + x->len;
			if (give->kind == OWN_FREE) {
				/* repair: free space is rebuilt without it */
				r = vs_problem(ck, why, keep->kind == OWN_FTREE ? 0 : keep->ino,
					       keep->kind == OWN_FTREE
						   ? "vol: free-space tree node lies in free space"
						   : "vol: block in use is marked free");
			} else if (give->kind == OWN_FTREE) {
				r = vs_problem(ck, why, keep->ino,
					       "vol: free-space tree overlaps blocks in use");
			} else if (give->kind == OWN_DATA) {
				r = vs_problem(ck, why, give->ino, "vol: block owned twice");
				if (!r && ck) {
					if (vol_fsck_test_no_dup_repair)
						ck->unfixable++;
					else
						r = check_copy(ck, give->ino,
							       give->lblk + (os - give->start),
							       oe - os);
				}
			} else { /* metadata twice: vs_check_meta_claims resolved those */
				r = vs_problem(ck, why, give->ino, "vol: block owned twice");
				if (ck)
					ck->unfixable++;
			}
		}
	}
	if (!r && at < v->sb.nblocks && !(ck && ck->no_free_tree))
		r = vs_problem(ck, why, 0, "vol: blocks leaked (neither owned nor free)");
	free(o.v);
	return r;
}

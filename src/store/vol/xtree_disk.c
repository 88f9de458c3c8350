/* SPDX-License-Identifier: MIT */
/*
 * xtree_disk.c - an extent map's B+tree and its on-disk extent tree: the
 * copy-on-write of changed nodes at a commit, the blocks a map owns, and
 * building a map with the shape of the tree it is loaded from.
 *
 * Each in-memory node is one on-disk node (the same capacities). A commit
 * writes every dirty node - a changed node and, through the dirty parent
 * rule, the path above it - children first into blocks from the caller's
 * allocator (free in the last commit), so a clean subtree keeps its blocks;
 * the replaced blocks and those of dropped nodes go to the caller's
 * pending list; once the commit is durable the nodes adopt their new
 * blocks. The free-space tree (owner 0, freetree.c) is such a map too, with
 * lblk = pblk in memory and lblk 0 on disk.
 *
 * Locking: none; the caller serialises (the store lock).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/vol/xtree.h"

typedef int (*blk_fn)(void *arg, uint64_t blk, uint64_t len);

static int each_freed(const struct vol_extmap *m, blk_fn fn, void *arg)
{
	for (const struct vol_xnode *c = m->freed; c; c = c->link)
		for (unsigned i = 0; i < c->nr; i++) {
			int r = fn(arg, c->freed[i], 1);
			if (r)
				return r;
		}
	return 0;
}

static int each_node(const struct vol_xnode *x, bool dirty_only, blk_fn fn, void *arg)
{
	if (dirty_only && !x->dirty)
		return 0;
	if (x->blk) {
		int r = fn(arg, x->blk, 1);
		if (r)
			return r;
	}
	if (x->level)
		for (unsigned i = 0; i < x->nr; i++) {
			int r = each_node(x->ent[i].kid, dirty_only, fn, arg);
			if (r)
				return r;
		}
	return 0;
}

int vol_extmap_for_each_block(const struct vol_extmap *m, blk_fn fn, void *arg)
{
	int r = m->root ? each_node(m->root, false, fn, arg) : 0;
	return r ? r : each_freed(m, fn, arg);
}

int vol_extmap_for_each_replaced(const struct vol_extmap *m, blk_fn fn, void *arg)
{
	int r = m->root ? each_node(m->root, true, fn, arg) : 0;
	return r ? r : each_freed(m, fn, arg);
}

TEST_SWITCH(vol_extmap_test_rewrite_all);

static void dirty_all(struct vol_xnode *x)
{
	x->dirty = true;
	for (unsigned i = 0; x->level && i < x->nr; i++)
		dirty_all(x->ent[i].kid);
}

void vol_extmap_dirty_all(struct vol_extmap *m)
{
	if (m->root)
		dirty_all(m->root);
}

static size_t count_nodes(const struct vol_xnode *x, size_t *dirty)
{
	size_t n = 1;

	*dirty += x->dirty;
	for (unsigned i = 0; x->level && i < x->nr; i++)
		n += count_nodes(x->ent[i].kid, dirty);
	return n;
}

size_t vol_extmap_nodes(const struct vol_extmap *m, size_t *dirty)
{
	*dirty = 0;
	return m->root ? count_nodes(m->root, dirty) : 0;
}

static void forget(struct vol_xnode *x)
{
	if (!x->dirty)
		return;
	x->new_blk = 0;
	for (unsigned i = 0; x->level && i < x->nr; i++)
		forget(x->ent[i].kid);
}

void vol_extmap_write_abort(struct vol_extmap *m)
{
	if (m->root)
		forget(m->root);
}

struct wctx {
	const struct vol_bdev *bd;
	uint64_t owner;
	vol_blk_alloc_fn alloc;
	void *arg;
	uint64_t written;
	char *blk;
};

static uint64_t where(const struct vol_xnode *x)
{
	return x->dirty ? x->new_blk : x->blk;
}

static int write_node(struct wctx *w, struct vol_xnode *x)
{
	for (unsigned i = 0; x->level && i < x->nr; i++)
		if (x->ent[i].kid->dirty) {
			int r = write_node(w, x->ent[i].kid);
			if (r)
				return r;
		}
	int r = w->alloc(w->arg, &x->new_blk);
	if (r)
		return r;
	char *e = w->blk + sizeof(struct vol_node_hdr);
	memset(w->blk, 0, VOL_BLOCK_SIZE);
	for (unsigned i = 0; i < x->nr; i++)
		if (x->level) {
			struct vol_index ix = {x->ent[i].key, where(x->ent[i].kid)};
			memcpy(e + i * sizeof(ix), &ix, sizeof(ix));
		} else {
			/* the free-space tree (owner 0) keys by pblk: lblk = pblk in
			 * memory, 0 on disk */
			const struct vol_ext *s = &x->ext[i];
			if (!w->owner && (s->lblk != s->pblk || s->flags))
				return -EINVAL;
			struct vol_disk_extent d = {w->owner ? s->lblk : 0, s->pblk,
						    (uint32_t)s->len, s->flags};
			memcpy(e + i * sizeof(d), &d, sizeof(d));
		}
	r = vol_btree_put_node(w->bd, x->new_blk, w->owner, x->level, x->nr, w->blk);
	w->written += !r;
	return r;
}

int vol_extmap_write(struct vol_extmap *m, const struct vol_bdev *bd, uint64_t owner,
		     vol_blk_alloc_fn alloc, void *arg, uint64_t *root, uint64_t *written)
{
	struct wctx w = {bd, owner, alloc, arg, 0, NULL};
	int r = 0;

	*root = 0;
	if (!m->root)
		return 0;
	if ((m->lcap && m->lcap != VOL_LEAF_CAP) || (m->icap && m->icap != VOL_INDEX_CAP))
		return -EINVAL; /* a test map with other capacities */
	if (vol_extmap_test_rewrite_all)
		dirty_all(m->root);
	if (m->root->dirty) {
		if (!(w.blk = malloc(VOL_BLOCK_SIZE)))
			return -ENOMEM;
		r = write_node(&w, m->root);
		free(w.blk);
	}
	if (written)
		*written += w.written;
	if (!r)
		*root = where(m->root);
	return r;
}

static void adopt(struct vol_xnode *x)
{
	if (!x->dirty)
		return;
	for (unsigned i = 0; x->level && i < x->nr; i++)
		adopt(x->ent[i].kid);
	x->blk = x->new_blk;
	x->new_blk = 0;
	x->dirty = false;
}

void vol_extmap_committed(struct vol_extmap *m)
{
	if (m->root)
		adopt(m->root);
	struct vol_xnode *c = m->freed;
	while (c) {
		struct vol_xnode *nx = c->link;
		free(c);
		c = nx;
	}
	m->freed = NULL;
	m->nfreed = 0;
}

int vol_extmap_adopt_block(struct vol_extmap *m, uint64_t blk)
{
	struct vol_xnode *c = m->freed;

	if (!c || c->nr == VOL_XFREED_CAP) {
		if (!(c = malloc(sizeof(*c))))
			return -ENOMEM;
		c->nr = 0;
		c->link = m->freed;
		m->freed = c;
	}
	c->freed[c->nr++] = blk;
	m->nfreed++;
	return 0;
}

/* ---- loading with the on-disk shape ---- */

/* The last node at level lv (the walk's current one there), or NULL. */
static struct vol_xnode *open_at(struct vol_extmap *m, unsigned lv)
{
	struct vol_xnode *x = m->root;

	if (!x || x->level < lv)
		return NULL;
	while (x->level > lv && x->nr)
		x = x->ent[x->nr - 1].kid;
	return x->level == lv ? x : NULL;
}

int vol_extmap_load_node(struct vol_extmap *m, uint64_t blk, unsigned level)
{
	struct vol_xnode *par = NULL;

	if (m->root) {
		par = open_at(m, level + 1);
		if (!par || par->nr == (m->icap ? m->icap : VOL_INDEX_CAP))
			return -EAGAIN;
	}
	struct vol_xnode *x = malloc(sizeof(*x));
	if (!x)
		return -ENOMEM;
	*x = (struct vol_xnode){.level = (uint16_t)level, .blk = blk};
	if (par)
		par->ent[par->nr++] = (struct vol_xent){0, x};
	else
		m->root = x;
	return 0;
}

int vol_extmap_load_ext(struct vol_extmap *m, const struct vol_disk_extent *d)
{
	struct vol_xnode *leaf = open_at(m, 0);
	struct vol_ext e = {d->lblk, d->pblk, d->len, d->flags};

	if (!leaf || leaf->nr == (m->lcap ? m->lcap : VOL_LEAF_CAP) ||
	    (m->last.len && xt_mergeable(&m->last, &e)))
		return -EAGAIN;
	leaf->ext[leaf->nr++] = e;
	m->last = e;
	m->nr++;
	m->blocks += e.len;
	return 0;
}

static uint64_t set_keys(struct vol_xnode *x)
{
	for (unsigned i = 0; x->level && i < x->nr; i++)
		x->ent[i].key = set_keys(x->ent[i].kid);
	return x->level ? x->ent[0].key : x->ext[0].lblk;
}

void vol_extmap_load_done(struct vol_extmap *m)
{
	if (m->root)
		set_keys(m->root);
	m->last = (struct vol_ext){0};
}

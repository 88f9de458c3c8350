/* SPDX-License-Identifier: MIT */
/*
 * freetree.c - the copy-on-write commit of a vol volume's free-space tree.
 *
 * v->ftree is the free-space tree in memory (an extent map with lblk =
 * pblk), always holding allocatable + pending: every grant, return and
 * release of blocks (volume.c) edits it at once, which dirties the leaves
 * (and by the dirty-parent rule their ancestors) it touches; each node
 * remembers the block of its last commit. Prepare makes it the free set
 * once the commit is durable: it adds the pending list, then repeats until
 * nothing changes: the committed blocks the commit replaces (dirty nodes'
 * and dropped nodes') join it, and the pool - blocks for the dirty nodes,
 * one each, taken from the allocator (a contiguous run growing downwards
 * from the tail of the largest extent, so it touches few leaves) - leaves
 * it; then the dirty nodes are written into the pool (vol_extmap_write).
 * Finish: the nodes adopt their blocks, the allocator gains the pending and
 * the replaced blocks. Abort: the edits are undone and the pool returns.
 * When the placement does not settle in vol_freetree_rounds rounds, or the
 * tree lost an update, the whole tree is rewritten from the free set as
 * before (the tail of the longest extent, bottom-up).
 *
 * Locking: the caller holds v->lock for every function here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/vol/volume.h"

unsigned vol_freetree_rounds = 16;
TEST_SWITCH(vol_test_freetree_rewrite_all);
TEST_SWITCH(vol_test_freetree_no_undo);
unsigned long vol_freetree_nodes_written;

/* [start, start + len) into the tree, in pieces an extent can hold. */
static int ft_set(struct vol *v, uint64_t start, uint64_t len)
{
	int r = 0;

	while (!r && len) {
		uint64_t n = len < VOL_EXT_MAX_LEN ? len : VOL_EXT_MAX_LEN;
		r = vol_extmap_set(&v->ftree, start, start, n, 0, NULL, NULL);
		start += n;
		len -= n;
	}
	return r;
}

void vol_freetree_add(struct vol *v, uint64_t start, uint64_t len)
{
	if (ft_set(v, start, len))
		v->ftree_stale = true;
}

void vol_freetree_remove(struct vol *v, uint64_t start, uint64_t len)
{
	if (vol_extmap_punch(&v->ftree, start, len, NULL, NULL))
		v->ftree_stale = true;
}

/* ---- copy-on-write ---- */

static int add_blk(void *arg, uint64_t blk, uint64_t len)
{
	return vblist_add(arg, blk, len);
}

/* v->tree gets the committed blocks inside the data area (not mkfs's). */
static int add_tree_blk(void *arg, uint64_t blk, uint64_t len)
{
	struct vol *v = arg;
	return blk < v->sb.data_start ? 0 : vblist_add(&v->tree, blk, len);
}

/* The replaced blocks not in t->rep yet join it and the tree: 1 if any
 * did, 0, or -errno. */
static int add_replaced(struct vol *v, struct vol_txn *t)
{
	struct vol_blist l = {0};
	int r = vol_extmap_for_each_replaced(&v->ftree, add_blk, &l), any = 0;

	for (size_t i = 0; !r && i < l.nr; i++)
		for (uint64_t b = l.v[i].start; !r && b < l.v[i].start + l.v[i].len; b++) {
			if (b < v->sb.data_start || vol_alloc_is_free(&t->rep, b, 1))
				continue; /* mkfs's root, or already in */
			r = vol_alloc_free(&t->rep, b, 1);
			if (!r)
				r = ft_set(v, b, 1);
			any = 1;
		}
	free(l.v);
	return r ? r : any;
}

/* n more pool blocks: below the pool's lowest while allocatable, else the
 * tail of the largest extent. */
static int pool_grow(struct vol *v, struct vol_txn *t, uint64_t n)
{
	while (n) {
		uint64_t k = 0;
		while (k < n && t->lo - k > v->sb.data_start &&
		       vol_alloc_is_free(&v->alloc, t->lo - k - 1, 1))
			k++;
		if (!k) {
			struct vol_fext big;
			int r = vol_alloc_largest(&v->alloc, &big);
			if (r)
				return r; /* -ENOSPC */
			t->lo = big.start + big.len;
			k = n < big.len ? n : big.len;
		}
		int r = vol_alloc_take(&v->alloc, t->lo - k, k);
		if (!r)
			vol_discard_cancel(v, t->lo - k, k); /* handed out: no punch */
		if (!r)
			r = vol_alloc_free(&t->pool, t->lo - k, k);
		if (r) {
			if (r == -ENOMEM) /* keep the books: it is allocatable again */
				vol_alloc_free(&v->alloc, t->lo - k, k);
			return r == -ENOENT || r == -EINVAL ? -EUCLEAN : r;
		}
		t->lo -= k;
		n -= k;
		r = vol_extmap_punch(&v->ftree, t->lo, k, NULL, NULL);
		if (r)
			return r;
	}
	return 0;
}

/* n pool blocks back (the lowest ones). */
static int pool_shrink(struct vol *v, struct vol_txn *t, uint64_t n)
{
	while (n) {
		struct vol_fext e = {0, 0};
		if (!vol_alloc_next(&t->pool, &e))
			return -EUCLEAN;
		uint64_t k = n < e.len ? n : e.len;
		int r = vol_alloc_take(&t->pool, e.start, k);
		if (!r)
			r = vol_alloc_free(&v->alloc, e.start, k);
		if (!r)
			r = ft_set(v, e.start, k);
		if (r)
			return r;
		n -= k;
		t->lo = e.start + k;
	}
	return 0;
}

struct pool_it {
	struct vol_alloc *pool;
	struct vol_fext e;
	uint64_t off;
};

static int pool_next(void *arg, uint64_t *blk)
{
	struct pool_it *p = arg;

	if (p->off == p->e.len) {
		if (!vol_alloc_next(p->pool, &p->e))
			return -ENOSPC; /* cannot happen: the pool fits the dirty nodes */
		p->off = 0;
	}
	*blk = p->e.start + p->off++;
	return 0;
}

static int cow_prepare(struct vol *v, struct vol_txn *t)
{
	int r = 0;

	if (vol_test_freetree_rewrite_all || vol_extmap_test_rewrite_all)
		vol_extmap_dirty_all(&v->ftree); /* before counting: the writer would */
	/* the pending list (released blocks, and the old tree blocks of files
	 * this commit staged there) joins the free set; a block in it twice or
	 * allocatable is a double free */
	for (size_t i = 0; !r && i < v->pending.nr; i++) {
		const struct vol_fext *e = &v->pending.v[i];
		r = vol_alloc_any_free(&v->alloc, e->start, e->len) ? -EINVAL : 0;
		if (!r)
			r = vol_alloc_free(&t->pset, e->start, e->len);
		if (r)
			return r == -EINVAL ? -EUCLEAN : r;
	}
	for (struct vol_fext e = {0, 0}; !r && vol_alloc_next(&t->pset, &e);)
		r = ft_set(v, e.start, e.len);
	t->lo = 0;
	for (unsigned round = 0; !r; round++) {
		if (round >= vol_freetree_rounds)
			return -EAGAIN; /* does not settle: the whole rewrite */
		int any = add_replaced(v, t);
		if (any < 0)
			return any;
		size_t dirty;
		vol_extmap_nodes(&v->ftree, &dirty);
		if (!any && dirty == t->pool.free)
			break;
		if (dirty > t->pool.free)
			r = pool_grow(v, t, dirty - t->pool.free);
		else if (dirty < t->pool.free)
			r = pool_shrink(v, t, t->pool.free - dirty);
	}
	if (r)
		return r;
	/* finish cannot fail: room for the allocator's frees and the block list */
	size_t dirty, nodes = vol_extmap_nodes(&v->ftree, &dirty);
	r = vol_alloc_reserve(&v->alloc, vol_alloc_extents(&t->pset) + vol_alloc_extents(&t->rep));
	if (!r && v->tree.cap < nodes + 1) {
		struct vol_fext *nv = realloc(v->tree.v, (nodes + 1) * sizeof(*nv));
		r = nv ? 0 : -ENOMEM;
		if (nv) {
			v->tree.v = nv;
			v->tree.cap = nodes + 1;
		}
	}
	if (r)
		return r;
	struct pool_it it = {&t->pool, {0, 0}, 0};
	uint64_t root;
	r = vol_extmap_write(&v->ftree, &v->bd, 0, pool_next, &it, &root, &t->written);
	if (r)
		return r;
	if (t->written != t->pool.free)
		return -EUCLEAN; /* cannot happen: the loop counted these nodes */
	t->sb.free_root = root;
	t->sb.free_blocks = vol_extmap_blocks(&v->ftree);
	return 0;
}

/* Undo cow_prepare's edits: the tree holds allocatable + pending again, the
 * pool is allocatable, nothing is left of the write. */
static void cow_undo(struct vol *v, struct vol_txn *t)
{
	vol_extmap_write_abort(&v->ftree);
	for (struct vol_fext e = {0, 0}; vol_test_freetree_no_undo && vol_alloc_next(&t->pool, &e);)
		vol_alloc_free(&v->alloc, e.start, e.len);
	if (vol_test_freetree_no_undo)
		goto out;
	for (struct vol_fext e = {0, 0}; vol_alloc_next(&t->pset, &e);)
		vol_freetree_remove(v, e.start, e.len);
	for (struct vol_fext e = {0, 0}; vol_alloc_next(&t->rep, &e);)
		vol_freetree_remove(v, e.start, e.len);
	for (struct vol_fext e = {0, 0}; vol_alloc_next(&v->pend, &e);)
		vol_freetree_add(v, e.start, e.len);
	for (struct vol_fext e = {0, 0}; vol_alloc_next(&t->pool, &e);) {
		/* cannot fail in practice: the takes only shrank or removed
		 * extents, so their nodes are on the allocator's free list */
		if (vol_alloc_free(&v->alloc, e.start, e.len))
			v->ftree_stale = true;
		vol_freetree_add(v, e.start, e.len);
	}
out:
	vol_alloc_reset(&t->pset);
	vol_alloc_reset(&t->rep);
	vol_alloc_reset(&t->pool);
	t->written = 0;
}

/* ---- the whole rewrite ---- */

/* Extents the tree of a holds, counting splits of over-long extents. */
static uint64_t disk_extents(const struct vol_alloc *a)
{
	uint64_t n = 0;
	vol_alloc_for_each(a, e) n += (e.len + VOL_EXT_MAX32 - 1) / VOL_EXT_MAX32;
	return n;
}

struct carve {
	uint64_t next, end;
};

static int carve_alloc(void *arg, uint64_t *blk)
{
	struct carve *c = arg;
	if (c->next >= c->end)
		return -ENOSPC;
	*blk = c->next++;
	return 0;
}

/* C = allocatable + pending + the committed tree's blocks, less the new
 * tree's, carved from the tail of the longest allocatable extent (free in
 * the last commit as well); the tree of C written there bottom-up, and
 * built in memory (t->f, all nodes new; the written blocks on its freed
 * list, so the next commit replaces them). */
static int whole_prepare(struct vol *v, struct vol_txn *t)
{
	struct vol_alloc *c = &t->c;
	int r = vol_alloc_clone(c, &v->alloc);
	if (r)
		return r;
	for (size_t i = 0; !r && i < v->pending.nr; i++)
		r = vol_alloc_free(c, v->pending.v[i].start, v->pending.v[i].len);
	for (size_t i = 0; !r && i < v->tree.nr; i++)
		r = vol_alloc_free(c, v->tree.v[i].start, v->tree.v[i].len);
	if (r)
		return r == -EINVAL ? -EUCLEAN : r;
	struct vol_fext big;
	r = vol_alloc_largest(&v->alloc, &big);
	if (r)
		return r;
	uint64_t end = big.start + big.len, len = big.len;
	uint64_t taken = 0;
	for (;;) {
		uint64_t need = vol_btree_nodes_for(disk_extents(c));
		if (need <= taken)
			break;
		if (need >= len) /* keep the extent: consuming it would change the count */
			return -ENOSPC;
		r = vol_alloc_take(c, end - need, need - taken);
		if (r)
			return r == -ENOENT ? -EUCLEAN : r;
		taken = need;
	}
	uint64_t ne = disk_extents(c);
	struct vol_disk_extent *e = malloc((ne ? ne : 1) * sizeof(*e));
	if (!e)
		return -ENOMEM;
	size_t k = 0;
	vol_alloc_for_each(c, ce) for (uint64_t s = ce.start, left = ce.len; left;)
	{
		uint32_t n = left > VOL_EXT_MAX32 ? (uint32_t)VOL_EXT_MAX32 : (uint32_t)left;
		e[k++] = (struct vol_disk_extent){.pblk = s, .len = n};
		s += n;
		left -= n;
	}
	for (size_t i = 0; !r && i < k; i++) /* appends: packed like the writer's */
		r = vol_extmap_set(&t->f, e[i].pblk, e[i].pblk, e[i].len, 0, NULL, NULL);
	for (uint64_t b = end - taken; !r && b < end; b++)
		r = vol_extmap_adopt_block(&t->f, b);
	struct carve cv = {end - taken, end};
	uint64_t root, nodes = 0;
	if (!r)
		r = vol_btree_write(&v->bd, 0, e, k, carve_alloc, &cv, &root, &nodes);
	free(e);
	if (r)
		return r;
	if (nodes != taken)
		return -EUCLEAN; /* cannot happen: nodes_for() and the writer agree */
	if (!v->tree.cap) {
		v->tree.v = malloc(8 * sizeof(*v->tree.v));
		if (!v->tree.v)
			return -ENOMEM;
		v->tree.cap = 8;
	}
	t->sb.free_root = root;
	t->sb.free_blocks = c->free;
	t->tree_start = end - taken;
	t->tree_blocks = taken;
	t->written = taken;
	return 0;
}

/* ---- the commit's steps ---- */

static void txn_init(struct vol_txn *t)
{
	memset(t, 0, sizeof(*t));
	vol_alloc_init(&t->pset);
	vol_alloc_init(&t->rep);
	vol_alloc_init(&t->pool);
	vol_alloc_init(&t->c);
	vol_extmap_init(&t->f);
	t->f.lcap = t->f.icap = 0;
}

static void txn_destroy(struct vol_txn *t)
{
	vol_alloc_destroy(&t->pset);
	vol_alloc_destroy(&t->rep);
	vol_alloc_destroy(&t->pool);
	vol_alloc_destroy(&t->c);
	vol_extmap_destroy(&t->f);
}

int vol_freetree_prepare(struct vol *v, struct vol_txn *t)
{
	txn_init(t);
	t->sb = v->sb;
	t->sb.generation++;
	int r = -EAGAIN;
	if (!v->ftree_stale) {
		r = cow_prepare(v, t);
		if (r)
			cow_undo(v, t);
	}
	if (r == -EAGAIN) {
		t->whole = true;
		r = whole_prepare(v, t);
	}
	if (r)
		txn_destroy(t);
	return r;
}

void vol_freetree_finish(struct vol *v, struct vol_txn *t)
{
	v->sb = t->sb;
	__atomic_fetch_add(&vol_freetree_nodes_written, t->written, __ATOMIC_RELAXED);
	if (t->whole) {
		vol_alloc_destroy(&v->alloc);
		v->alloc = t->c;
		vol_alloc_init(&t->c);
		vol_extmap_destroy(&v->ftree);
		v->ftree = t->f;
		vol_extmap_init(&t->f);
		v->ftree_stale = false;
		v->tree.nr = 0;
		/* cannot fail: prepare made tree.cap >= 1 and tree.nr is 0 */
		if (t->tree_blocks)
			(void)vblist_add(&v->tree, t->tree_start, t->tree_blocks);
		/* durable now: which blocks this commit freed is not kept, so
		 * every free extent is punched (holes punch again cheaply) */
		vol_alloc_reset(&v->dq); /* all punched now */
		for (struct vol_fext e = {0, 0}; vol_alloc_next(&v->alloc, &e);)
			vol_discard(v, e.start, e.len);
	} else {
		vol_extmap_committed(&v->ftree);
		/* cannot fail: prepare reserved a node for each extent; the
		 * commit is durable, so the freed blocks are queued for their
		 * punch too (discard.c: later, unless reused first) */
		for (struct vol_fext e = {0, 0}; vol_alloc_next(&t->pset, &e);) {
			(void)vol_alloc_free(&v->alloc, e.start, e.len);
			vol_discard_queue(v, e.start, e.len);
		}
		for (struct vol_fext e = {0, 0}; vol_alloc_next(&t->rep, &e);) {
			(void)vol_alloc_free(&v->alloc, e.start, e.len);
			vol_discard_queue(v, e.start, e.len);
		}
		v->tree.nr = 0; /* at most one entry a node: prepare made room */
		(void)vol_extmap_for_each_block(&v->ftree, add_tree_blk, v);
	}
	vol_pending_clear(v);
	txn_destroy(t);
}

void vol_freetree_abort(struct vol *v, struct vol_txn *t)
{
	if (!t->whole)
		cow_undo(v, t);
	txn_destroy(t);
}

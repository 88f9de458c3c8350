/* SPDX-License-Identifier: MIT */
/*
 * xtree.c - the in-memory B+tree of a vol extent map (see xtree.h): node
 * allocation from a shared pool of spares, seek, insert with splits, delete
 * with merges and borrows, key shifts, the invariant check and in-order
 * iteration.
 *
 * Splits take nodes reserved before the operation starts and merges keep
 * dropped nodes' committed blocks in dropped nodes' memory, so once an
 * operation has its reservation nothing in it can fail half-way.
 *
 * Locking: none for the tree (the map's owner serialises); pool_lock guards
 * the shared spare pool and nests in nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store/vol/xtree.h"

TEST_KNOB(unsigned, vol_extmap_test_leaf_cap);
TEST_KNOB(unsigned, vol_extmap_test_index_cap);

/* ---- spare nodes ---- */

#define POOL_MAX 64
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vol_xnode *pool;
static unsigned npool;

/* A zeroed map (calloc'd vnode) has the on-disk capacities. */
static unsigned cap_of(const struct vol_extmap *m, const struct vol_xnode *x)
{
	if (x->level)
		return m->icap ? m->icap : VOL_INDEX_CAP;
	return m->lcap ? m->lcap : VOL_LEAF_CAP;
}

static size_t esz(const struct vol_xnode *x)
{
	return x->level ? sizeof(struct vol_xent) : sizeof(struct vol_ext);
}

static char *ents(struct vol_xnode *x)
{
	return x->level ? (char *)x->ent : (char *)x->ext;
}

static uint64_t first_key(const struct vol_xnode *x)
{
	return x->level ? x->ent[0].key : x->ext[0].lblk;
}

int xt_reserve(struct vol_extmap *m, unsigned inserts)
{
	unsigned top = m->root ? m->root->level : 0;

	/* an operation grows the tree by one level at most */
	if (m->root && top + 1 >= VOL_BTREE_MAX_LEVEL && m->root->nr + inserts > cap_of(m, m->root))
		return -EFBIG;
	unsigned need = inserts * (top + 3);
	pthread_mutex_lock(&pool_lock);
	while (m->nspare < need && pool) {
		struct vol_xnode *x = pool;
		pool = x->link;
		npool--;
		x->link = m->spare;
		m->spare = x;
		m->nspare++;
	}
	pthread_mutex_unlock(&pool_lock);
	while (m->nspare < need) {
		struct vol_xnode *x = malloc(sizeof(*x));
		if (!x) {
			xt_unreserve(m);
			return -ENOMEM;
		}
		x->link = m->spare;
		m->spare = x;
		m->nspare++;
	}
	return 0;
}

static void pool_put_list(struct vol_xnode *x)
{
	pthread_mutex_lock(&pool_lock);
	while (x) {
		struct vol_xnode *nx = x->link;
		if (npool < POOL_MAX) {
			x->link = pool;
			pool = x;
			npool++;
		} else {
			free(x);
		}
		x = nx;
	}
	pthread_mutex_unlock(&pool_lock);
}

void xt_unreserve(struct vol_extmap *m)
{
	pool_put_list(m->spare);
	m->spare = NULL;
	m->nspare = 0;
}

static struct vol_xnode *take(struct vol_extmap *m, unsigned level)
{
	struct vol_xnode *x = m->spare;

	m->spare = x->link; /* xt_reserve made sure there is one */
	m->nspare--;
	x->level = (uint16_t)level;
	x->nr = 0;
	x->dirty = true;
	x->blk = 0;
	x->new_blk = 0;
	x->link = NULL;
	return x;
}

/* A node leaves the tree: its committed block (if any) joins the freed
 * list, in a chunk made of dropped nodes' memory. */
static void drop(struct vol_extmap *m, struct vol_xnode *x)
{
	struct vol_xnode *c = m->freed;

	if (x->blk && (!c || c->nr == VOL_XFREED_CAP)) {
		uint64_t b = x->blk;
		x->nr = 1;
		x->freed[0] = b;
		x->link = m->freed;
		m->freed = x;
		m->nfreed++;
		return;
	}
	if (x->blk) {
		c->freed[c->nr++] = x->blk;
		m->nfreed++;
	}
	x->link = m->spare;
	m->spare = x;
	m->nspare++;
}

/* ---- positions ---- */

static void descend_first(struct vol_xpath *p, unsigned lv)
{
	for (unsigned k = lv; k > 0; k--) {
		p->n[k - 1] = p->n[k]->ent[p->i[k]].kid;
		p->i[k - 1] = 0;
	}
}

static bool next_leaf(struct vol_xpath *p)
{
	for (unsigned l = 1; l <= p->top; l++)
		if (p->i[l] + 1 < p->n[l]->nr) {
			p->i[l]++;
			descend_first(p, l);
			return true;
		}
	p->i[0] = p->n[0]->nr;
	return false;
}

bool xt_seek(const struct vol_extmap *m, uint64_t lblk, struct vol_xpath *p)
{
	struct vol_xnode *x = m->root;

	if (!x) {
		p->top = 0;
		p->n[0] = NULL;
		p->i[0] = 0;
		return false;
	}
	p->top = x->level;
	while (x->level) {
		unsigned lo = 0, hi = x->nr; /* first key > lblk */
		while (lo < hi) {
			unsigned mid = (lo + hi) / 2;
			if (x->ent[mid].key > lblk)
				hi = mid;
			else
				lo = mid + 1;
		}
		unsigned i = lo ? lo - 1 : 0;
		p->n[x->level] = x;
		p->i[x->level] = i;
		x = x->ent[i].kid;
	}
	unsigned lo = 0, hi = x->nr; /* first extent ending after lblk */
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (xt_eend(&x->ext[mid]) > lblk)
			hi = mid;
		else
			lo = mid + 1;
	}
	p->n[0] = x;
	p->i[0] = lo;
	return lo < x->nr || next_leaf(p);
}

bool xt_next(struct vol_xpath *p)
{
	if (++p->i[0] < p->n[0]->nr)
		return true;
	return next_leaf(p);
}

void xt_dirty(struct vol_xpath *p, unsigned lv)
{
	for (unsigned l = lv; l <= p->top && !p->n[l]->dirty; l++)
		p->n[l]->dirty = true;
}

/* n[lv] is the last node of its level. */
static bool rightmost(const struct vol_xpath *p, unsigned lv)
{
	for (unsigned l = lv + 1; l <= p->top; l++)
		if (p->i[l] + 1 != p->n[l]->nr)
			return false;
	return true;
}

/* n[lv]'s first key changed: fix the separators above it. */
static void fix_keys(struct vol_xpath *p, unsigned lv)
{
	for (unsigned l = lv; l < p->top; l++) {
		struct vol_xnode *par = p->n[l + 1];
		uint64_t k = first_key(p->n[l]);
		unsigned i = p->i[l + 1];
		if (par->ent[i].key == k)
			return;
		par->ent[i].key = k;
		xt_dirty(p, l + 1);
		if (i)
			return;
	}
}

/* ---- insert ---- */

/* Insert entry src at position pos of n[lv], splitting up as needed. */
static void ins(struct vol_extmap *m, struct vol_xpath *p, unsigned lv, unsigned pos,
		const void *src)
{
	struct vol_xnode *x = p->n[lv];
	size_t sz = esz(x);
	unsigned c = cap_of(m, x);
	char *b = ents(x);

	xt_dirty(p, lv);
	if (x->nr < c) {
		memmove(b + (pos + 1) * sz, b + pos * sz, (x->nr - pos) * sz);
		memcpy(b + pos * sz, src, sz);
		x->nr++;
		if (pos == 0)
			fix_keys(p, lv);
		return;
	}
	/* split the c + 1 entries (x's c with src at pos) at k, in place:
	 * appending at the right edge leaves x full */
	unsigned k = pos == c && rightmost(p, lv) ? c : (c + 1) / 2;
	struct vol_xnode *r = take(m, x->level);
	char *rb = ents(r);
	if (pos < k) { /* src goes left: x's last c - k + 1 go right */
		memcpy(rb, b + (k - 1) * sz, (c + 1 - k) * sz);
		memmove(b + (pos + 1) * sz, b + pos * sz, (k - 1 - pos) * sz);
		memcpy(b + pos * sz, src, sz);
	} else { /* src goes right, among x's entries from k on */
		memcpy(rb, b + k * sz, (pos - k) * sz);
		memcpy(rb + (pos - k) * sz, src, sz);
		memcpy(rb + (pos - k + 1) * sz, b + pos * sz, (c - pos) * sz);
	}
	x->nr = (uint16_t)k;
	r->nr = (uint16_t)(c + 1 - k);
	if (pos == 0)
		fix_keys(p, lv);
	struct vol_xent e = {first_key(r), r};
	if (lv == p->top) {
		struct vol_xnode *root = take(m, x->level + 1u);
		root->ent[0] = (struct vol_xent){first_key(x), x};
		root->ent[1] = e;
		root->nr = 2;
		m->root = root;
		return;
	}
	ins(m, p, lv + 1, p->i[lv + 1] + 1, &e);
}

void xt_insert(struct vol_extmap *m, struct vol_xpath *p, const struct vol_ext *e)
{
	if (!m->root) {
		m->root = take(m, 0);
		p->top = 0;
		p->n[0] = m->root;
		p->i[0] = 0;
	}
	ins(m, p, 0, p->i[0], e);
	m->nr++;
	m->blocks += e->len;
}

/* ---- delete ---- */

static void rebalance(struct vol_extmap *m, struct vol_xpath *p, unsigned lv);

/* Remove entries [a, b) of n[lv] (children already dropped). */
static void del(struct vol_extmap *m, struct vol_xpath *p, unsigned lv, unsigned a, unsigned b)
{
	struct vol_xnode *x = p->n[lv];
	size_t sz = esz(x);
	char *e = ents(x);

	memmove(e + a * sz, e + b * sz, (x->nr - b) * sz);
	x->nr = (uint16_t)(x->nr - (b - a));
	xt_dirty(p, lv);
	if (a == 0 && x->nr)
		fix_keys(p, lv);
	rebalance(m, p, lv);
}

static void rebalance(struct vol_extmap *m, struct vol_xpath *p, unsigned lv)
{
	struct vol_xnode *x = p->n[lv];
	unsigned c = cap_of(m, x);

	if (lv == p->top) { /* the root: drop it when empty or a lone index */
		while (m->root && (m->root->nr == 0 || (m->root->level && m->root->nr == 1))) {
			struct vol_xnode *old = m->root;
			m->root = old->nr ? old->ent[0].kid : NULL;
			drop(m, old);
		}
		return;
	}
	if (x->nr >= (c + 1) / 2 || (x->nr && rightmost(p, lv)))
		return;
	struct vol_xnode *par = p->n[lv + 1];
	unsigned i = p->i[lv + 1];
	if (x->nr == 0) {
		drop(m, x);
		del(m, p, lv + 1, i, i + 1);
		return;
	}
	if (par->nr < 2)
		return;		    /* no sibling (a tree not built by these rules) */
	unsigned j = i ? i : i + 1; /* merge/borrow par's children j - 1 and j */
	struct vol_xnode *a = par->ent[j - 1].kid, *bn = par->ent[j].kid;
	size_t sz = esz(x);
	a->dirty = bn->dirty = true;
	xt_dirty(p, lv + 1);
	if (a->nr + bn->nr <= c) {
		memcpy(ents(a) + a->nr * sz, ents(bn), bn->nr * sz);
		a->nr = (uint16_t)(a->nr + bn->nr);
		drop(m, bn);
		del(m, p, lv + 1, j, j + 1);
		return;
	}
	unsigned total = a->nr + bn->nr, ka = total / 2;
	if (a->nr > ka) { /* move a's tail to bn's front */
		unsigned mv = a->nr - ka;
		memmove(ents(bn) + mv * sz, ents(bn), bn->nr * sz);
		memcpy(ents(bn), ents(a) + ka * sz, mv * sz);
		bn->nr = (uint16_t)(bn->nr + mv);
		a->nr = (uint16_t)ka;
	} else { /* move bn's head to a's end */
		unsigned mv = ka - a->nr;
		memcpy(ents(a) + a->nr * sz, ents(bn), mv * sz);
		memmove(ents(bn), ents(bn) + mv * sz, (bn->nr - mv) * sz);
		bn->nr = (uint16_t)(bn->nr - mv);
		a->nr = (uint16_t)ka;
	}
	par->ent[j].key = first_key(bn); /* j >= 1: nothing above changes */
}

void xt_delete(struct vol_extmap *m, struct vol_xpath *p, unsigned a, unsigned b)
{
	struct vol_xnode *x = p->n[0];

	for (unsigned k = a; k < b; k++)
		m->blocks -= x->ext[k].len;
	m->nr -= b - a;
	del(m, p, 0, a, b);
}

/* ---- shifts ---- */

static bool shift(struct vol_xnode *x, uint64_t from, uint64_t delta)
{
	bool ch = false;

	if (!x->level) {
		for (unsigned i = 0; i < x->nr; i++)
			if (x->ext[i].lblk >= from) {
				x->ext[i].lblk += delta;
				ch = true;
			}
	} else {
		for (unsigned i = 0; i < x->nr; i++) {
			if (i + 1 < x->nr && x->ent[i + 1].key <= from)
				continue; /* all of child i lies below from */
			if (shift(x->ent[i].kid, from, delta)) {
				x->ent[i].key = first_key(x->ent[i].kid);
				ch = true;
			}
		}
	}
	if (ch)
		x->dirty = true;
	return ch;
}

void xt_shift(struct vol_extmap *m, uint64_t from, uint64_t delta)
{
	if (m->root)
		shift(m->root, from, delta);
}

const struct vol_ext *xt_last(const struct vol_extmap *m)
{
	const struct vol_xnode *x = m->root;

	if (!x)
		return NULL;
	while (x->level)
		x = x->ent[x->nr - 1].kid;
	return &x->ext[x->nr - 1];
}

/* ---- the map's life ---- */

void vol_extmap_init(struct vol_extmap *m)
{
	memset(m, 0, sizeof(*m));
	m->lcap = VOL_LEAF_CAP;
	m->icap = VOL_INDEX_CAP;
	if (vol_extmap_test_leaf_cap >= 3 && vol_extmap_test_leaf_cap < VOL_LEAF_CAP)
		m->lcap = vol_extmap_test_leaf_cap;
	if (vol_extmap_test_index_cap >= 3 && vol_extmap_test_index_cap < VOL_INDEX_CAP)
		m->icap = vol_extmap_test_index_cap;
}

static void free_tree(struct vol_xnode *x)
{
	if (x->level)
		for (unsigned i = 0; i < x->nr; i++)
			free_tree(x->ent[i].kid);
	x->link = NULL;
	pool_put_list(x);
}

void vol_extmap_destroy(struct vol_extmap *m)
{
	if (m->root)
		free_tree(m->root);
	pool_put_list(m->freed);
	pool_put_list(m->spare);
	vol_extmap_init(m);
}

size_t vol_extmap_count(const struct vol_extmap *m)
{
	return m->nr;
}

unsigned vol_extmap_depth(const struct vol_extmap *m)
{
	return m->root ? m->root->level + 1u : 0;
}

uint64_t vol_extmap_blocks(const struct vol_extmap *m)
{
	return m->blocks;
}

const struct vol_ext *vol_extmap_first(const struct vol_extmap *m, struct vol_extmap_iter *it)
{
	it->ok = xt_seek(m, 0, &it->p);
	return it->ok ? xt_ext(&it->p) : NULL;
}

const struct vol_ext *vol_extmap_next(struct vol_extmap_iter *it)
{
	if (it->ok)
		it->ok = xt_next(&it->p);
	return it->ok ? xt_ext(&it->p) : NULL;
}

/* ---- check ---- */

struct chk {
	const struct vol_extmap *m;
	const struct vol_ext *prev;
	size_t nr;
	uint64_t blocks;
};

const char *vol_extmap_check_why;

#define BAD(why)                              \
	do {                                  \
		vol_extmap_check_why = (why); \
		return -EUCLEAN;              \
	} while (0)

static int check_node(struct chk *c, const struct vol_xnode *x, unsigned level, bool root,
		      bool right, bool parent_dirty)
{
	unsigned cap = cap_of(c->m, x);

	if (x->level != level)
		BAD("node at the wrong level");
	if (x->nr == 0 || x->nr > cap)
		BAD("node empty or over capacity");
	if (!root && !right && x->nr < (cap + 1) / 2)
		BAD("node underfull off the rightmost path");
	if (root && level && x->nr < 2)
		BAD("index root with one child");
	if (x->dirty && !parent_dirty)
		BAD("dirty node under a clean parent");
	if (!level) {
		for (unsigned i = 0; i < x->nr; i++) {
			const struct vol_ext *e = &x->ext[i];
			if (!e->len || e->len > VOL_EXT_MAX_LEN || xt_eend(e) < e->lblk ||
			    e->pblk + e->len < e->pblk ||
			    (c->m->counts ? e->flags < 2 || e->lblk != e->pblk
					  : (e->flags & ~VOL_EXT_UNWRITTEN)))
				BAD("bad extent");
			if (c->prev && xt_eend(c->prev) > e->lblk)
				BAD("extents out of order");
			if (c->prev && xt_mergeable(c->prev, e))
				BAD("mergeable neighbours");
			c->prev = e;
			c->nr++;
			c->blocks += e->len;
		}
		return 0;
	}
	for (unsigned i = 0; i < x->nr; i++) {
		const struct vol_xnode *k = x->ent[i].kid;
		if (!k || k->nr == 0 || x->ent[i].key != first_key(k))
			BAD("separator key is not the child's first key");
		int r = check_node(c, k, level - 1, false, right && i + 1 == x->nr, x->dirty);
		if (r)
			return r;
	}
	return 0;
}

int vol_extmap_check(const struct vol_extmap *m)
{
	struct chk c = {.m = m};

	if (m->root) {
		if (m->root->level >= VOL_BTREE_MAX_LEVEL)
			BAD("tree too deep");
		int r = check_node(&c, m->root, m->root->level, true, true, true);
		if (r)
			return r;
	}
	if (c.nr != m->nr || c.blocks != m->blocks)
		BAD("extent or block count wrong");
	return 0;
}

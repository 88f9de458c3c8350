/* SPDX-License-Identifier: MIT */
/*
 * page_index.c - the per-mapping page index: an RCU 64-way radix tree with
 * DIRTY/WRITEBACK tags (see page_index.h for the shape and the rules). The
 * leaves' mirrors of PG_uptodate, PG_readahead and PG_referenced, and the
 * read hit's lookup that tests them, are in page_index_flags.c.
 *
 * Locks: updates take idx->lock ("page_index_lock", a leaf mutex) and nothing
 * else inside it; the caller may hold the page lock and the locks above it.
 * Lookups take no lock: rcu_read_lock (liburcu memb) and speculative page
 * references. Writers publish a node or page with a release store of the
 * slot (or root) that points to it; readers load slots with acquire. A
 * node's shift never changes, so a reader on a node that was unlinked
 * (shrink, prune) still walks a consistent, if stale, subtree until the
 * grace period ends.
 */
#include <stdlib.h>
#include <urcu.h>

#include "mm/page_index.h"
#include "mm/page_index_internal.h"

static struct lock_class_key page_index_lock_key = {.name = "page_index_lock"};

/* A walk's path: nodes from the root down and the slot taken in each. */
struct pi_path {
	unsigned depth;
	struct pi_node *node[PI_MAX_DEPTH];
	unsigned off[PI_MAX_DEPTH];
};

static inline void slot_store(struct pi_node *n, unsigned off, void *v)
{
	__atomic_store_n(&n->slots[off], v, __ATOMIC_RELEASE);
}

static inline uint64_t tags_load(struct pi_node *n, unsigned tag)
{
	return __atomic_load_n(&n->tags[tag], __ATOMIC_RELAXED);
}

static inline void tags_store(struct pi_node *n, unsigned tag, uint64_t v)
{
	__atomic_store_n(&n->tags[tag], v, __ATOMIC_RELAXED);
}

static inline void root_store(struct page_index *idx, struct pi_node *n)
{
	__atomic_store_n(&idx->root, n, __ATOMIC_RELEASE);
}

/* ---- nodes (under lock) ---- */

static struct pi_node *node_alloc(struct page_index *idx, unsigned shift)
{
	struct pi_node *n = calloc(1, sizeof(*n));

	if (n) {
		n->shift = (uint8_t)shift;
		idx->nr_nodes++;
	}
	return n;
}

static void node_free_rcu(struct rcu_head *head)
{
	mm_rcu_tsan_acquire();
	free(container_of(head, struct pi_node, rcu));
}

static void node_free(struct page_index *idx, struct pi_node *n)
{
	idx->nr_nodes--;
	mm_rcu_tsan_release();
	call_rcu(&n->rcu, node_free_rcu);
}

/* Smallest root shift whose node covers @index. */
static unsigned shift_for(pgoff_t index)
{
	unsigned shift = 0;

	while (index > (((pgoff_t)1 << (shift + PI_SHIFT)) - 1))
		shift += PI_SHIFT;
	return shift;
}

/* Walks to the leaf slot of @index without creating anything. Returns the
 * entry there (NULL if none); @p is filled up to where the walk stopped. */
static struct page *walk_locked(struct page_index *idx, pgoff_t index, struct pi_path *p)
{
	struct pi_node *n = idx->root;

	p->depth = 0;
	if (!n || index > node_maxindex(n))
		return NULL;
	for (;;) {
		unsigned off = (index >> n->shift) & PI_MASK;
		p->node[p->depth] = n;
		p->off[p->depth] = off;
		p->depth++;
		if (n->shift == 0)
			return n->slots[off];
		n = n->slots[off];
		if (!n)
			return NULL;
	}
}

/* Clears @tag on the leaf slot at the end of @p and up the path as far as a
 * node's tag map becomes empty. */
static void tag_clear_path(struct pi_path *p, unsigned tag)
{
	for (int d = (int)p->depth - 1; d >= 0; d--) {
		struct pi_node *n = p->node[d];
		uint64_t t = tags_load(n, tag);
		uint64_t nt = t & ~(1ull << p->off[d]);
		if (nt != t)
			tags_store(n, tag, nt);
		if (nt)
			break;
	}
}

static void tag_set_path(struct pi_path *p, unsigned tag)
{
	for (int d = (int)p->depth - 1; d >= 0; d--) {
		struct pi_node *n = p->node[d];
		uint64_t t = tags_load(n, tag);
		if (t & (1ull << p->off[d]))
			break;
		tags_store(n, tag, t | (1ull << p->off[d]));
	}
}

/* Frees the empty nodes at the bottom of @p, then shrinks the root while it
 * has only slot 0. */
static void prune_locked(struct page_index *idx, struct pi_path *p)
{
	for (int d = (int)p->depth - 1; d >= 0; d--) {
		struct pi_node *n = p->node[d];
		if (n->count)
			break;
		if (d == 0) {
			root_store(idx, NULL);
		} else {
			struct pi_node *parent = p->node[d - 1];
			slot_store(parent, p->off[d - 1], NULL);
			parent->count--;
			for (unsigned t = 0; t < PAGECACHE_NR_TAGS; t++)
				tags_store(parent, t,
					   tags_load(parent, t) & ~(1ull << p->off[d - 1]));
		}
		node_free(idx, n);
	}
	for (struct pi_node *r = idx->root; r && r->shift && r->count == 1 && r->slots[0];) {
		struct pi_node *child = r->slots[0];
		/* r keeps slot 0 pointing at child for readers still on r */
		root_store(idx, child);
		node_free(idx, r);
		r = child;
	}
}

/* ---- init / destroy ---- */

void page_index_init(struct page_index *idx, struct address_space *mapping)
{
	idx->root = NULL;
	idx->mapping = mapping;
	idx->nrpages = 0;
	idx->nr_nodes = 0;
	mutex_init_class(&idx->lock, &page_index_lock_key);
}

static void destroy_subtree(struct page_index *idx, struct pi_node *n)
{
	for (unsigned i = 0; i < PI_SLOTS; i++) {
		void *e = n->slots[i];
		if (!e)
			continue;
		if (n->shift) {
			destroy_subtree(idx, e);
		} else {
			struct page *page = e;
			WRITE_ONCE(page->mapping, NULL);
			idx->nrpages--;
			put_page(page);
		}
	}
	node_free(idx, n);
}

void page_index_destroy(struct page_index *idx)
{
	mm_rcu_thread_enter();
	mutex_lock(&idx->lock);
	struct pi_node *root = idx->root;
	root_store(idx, NULL);
	if (root)
		destroy_subtree(idx, root);
	mutex_unlock(&idx->lock);
	mutex_destroy(&idx->lock);
}

/* ---- updates ---- */

int page_index_insert(struct page_index *idx, struct page *page)
{
	pgoff_t index = page->index;
	struct pi_path p = {0};
	struct pi_node *n;

	if (index > PAGE_INDEX_MAX)
		return -EINVAL;
	mm_rcu_thread_enter();
	mutex_lock(&idx->lock);
	n = idx->root;
	if (!n) {
		n = node_alloc(idx, shift_for(index));
		if (!n)
			goto nomem;
		root_store(idx, n);
	}
	while (index > node_maxindex(n)) {
		struct pi_node *up = node_alloc(idx, n->shift + PI_SHIFT);
		if (!up)
			goto nomem;
		up->slots[0] = n;
		up->count = 1;
		for (unsigned t = 0; t < PAGECACHE_NR_TAGS; t++)
			up->tags[t] = tags_load(n, t) ? 1 : 0;
		root_store(idx, up);
		n = up;
	}
	for (;;) {
		unsigned off = (index >> n->shift) & PI_MASK;
		p.node[p.depth] = n;
		p.off[p.depth] = off;
		p.depth++;
		if (n->shift == 0)
			break;
		struct pi_node *child = n->slots[off];
		if (!child) {
			child = node_alloc(idx, n->shift - PI_SHIFT);
			if (!child) {
				prune_locked(idx, &p);
				goto nomem;
			}
			slot_store(n, off, child);
			n->count++;
		}
		n = child;
	}
	unsigned off = p.off[p.depth - 1];
	if (n->slots[off]) {
		mutex_unlock(&idx->lock);
		return -EEXIST;
	}
	get_page(page);
	WRITE_ONCE(page->mapping, idx->mapping);
	slot_store(n, off, page);
	n->count++;
	WRITE_ONCE(idx->nrpages, idx->nrpages + 1);
	mutex_unlock(&idx->lock);
	return 0;

nomem:
	mutex_unlock(&idx->lock);
	return -ENOMEM;
}

int page_index_delete(struct page_index *idx, struct page *page)
{
	pgoff_t index = READ_ONCE(page->index);
	struct pi_path p;

	mm_rcu_thread_enter();
	mutex_lock(&idx->lock);
	if (walk_locked(idx, index, &p) != page || p.depth == 0) {
		mutex_unlock(&idx->lock);
		return -ENOENT;
	}
	struct pi_node *leaf = p.node[p.depth - 1];
	/* The mirrors go before the slot: a later page of this index starts
	 * with none (and a reader re-checking this page sees the bit gone or
	 * the slot changed). */
	page_index_clear_slot_flags(leaf, p.off[p.depth - 1]);
	slot_store(leaf, p.off[p.depth - 1], NULL);
	leaf->count--;
	for (unsigned t = 0; t < PAGECACHE_NR_TAGS; t++)
		tag_clear_path(&p, t);
	prune_locked(idx, &p);
	WRITE_ONCE(idx->nrpages, idx->nrpages - 1);
	WRITE_ONCE(page->mapping, NULL);
	mutex_unlock(&idx->lock);
	put_page(page);
	return 0;
}

int page_index_set_tag(struct page_index *idx, pgoff_t index, unsigned tag)
{
	struct pi_path p;
	int ret = -ENOENT;

	mutex_lock(&idx->lock);
	if (walk_locked(idx, index, &p)) {
		tag_set_path(&p, tag);
		ret = 0;
	}
	mutex_unlock(&idx->lock);
	return ret;
}

int page_index_clear_tag(struct page_index *idx, pgoff_t index, unsigned tag)
{
	struct pi_path p;
	int ret = -ENOENT;

	mutex_lock(&idx->lock);
	if (walk_locked(idx, index, &p)) {
		tag_clear_path(&p, tag);
		ret = 0;
	}
	mutex_unlock(&idx->lock);
	return ret;
}

/* ---- lock-free lookups ---- */

/* Under RCU, with a reference on @page found in @leaf at @index: is it still
 * the entry there? */
static bool page_still_there(struct page_index *idx, struct pi_node *leaf, pgoff_t index,
			     struct page *page)
{
	return slot_load(leaf, index & PI_MASK) == page &&
	       READ_ONCE(page->mapping) == idx->mapping && READ_ONCE(page->index) == index;
}

struct page *find_get_page(struct page_index *idx, pgoff_t index)
{
	struct page *page;

	mm_rcu_thread_enter();
repeat:
	rcu_lock();
	struct pi_node *leaf = leaf_lookup(idx, index);
	page = leaf ? slot_load(leaf, index & PI_MASK) : NULL;
	if (page) {
		if (!get_page_unless_zero(page)) {
			rcu_unlock();
			goto repeat;
		}
		if (unlikely(!page_still_there(idx, leaf, index, page))) {
			rcu_unlock();
			put_page(page);
			goto repeat;
		}
	}
	rcu_unlock();
	return page;
}

bool page_index_test_slot_bit(struct page_index *idx, pgoff_t index, enum pi_slot_map map,
			      unsigned nr)
{
	bool ret = false;

	mm_rcu_thread_enter();
	rcu_lock();
	struct pi_node *leaf = leaf_lookup(idx, index);
	if (leaf) {
		uint64_t *w = map == PI_MAP_TAG ? &leaf->tags[nr] : &leaf->leaf_flags[nr];

		ret = (__atomic_load_n(w, __ATOMIC_ACQUIRE) >> (index & PI_MASK)) & 1;
	}
	rcu_unlock();
	return ret;
}

bool page_index_get_tag(struct page_index *idx, pgoff_t index, unsigned tag)
{
	return page_index_test_slot_bit(idx, index, PI_MAP_TAG, tag);
}

bool page_index_tagged(struct page_index *idx, unsigned tag)
{
	bool ret;

	mm_rcu_thread_enter();
	rcu_lock();
	struct pi_node *r = root_load(idx);
	ret = r && tags_load(r, tag);
	rcu_unlock();
	return ret;
}

unsigned page_index_height(struct page_index *idx)
{
	unsigned h;

	mm_rcu_thread_enter();
	rcu_lock();
	struct pi_node *r = root_load(idx);
	h = r ? r->shift / PI_SHIFT + 1 : 0;
	rcu_unlock();
	return h;
}

/* First slot >= @off of @n holding an entry (tagged with @tag unless tag < 0);
 * PI_SLOTS if none. Returns the entry in *ep. */
static unsigned next_slot(struct pi_node *n, unsigned off, int tag, void **ep)
{
	if (tag >= 0) {
		uint64_t bits = tags_load(n, (unsigned)tag);
		while (off < PI_SLOTS) {
			uint64_t b = off ? bits & (~0ull << off) : bits;
			if (!b)
				return PI_SLOTS;
			off = (unsigned)__builtin_ctzll(b);
			if ((*ep = slot_load(n, off)))
				return off;
			off++; /* tag seen before the entry left: skip it */
		}
		return PI_SLOTS;
	}
	for (; off < PI_SLOTS; off++)
		if ((*ep = slot_load(n, off)))
			return off;
	return PI_SLOTS;
}

/*
 * Under RCU: the first entry with index in [*indexp, end] (tagged with @tag if
 * tag >= 0), its index in *indexp and its leaf in *leafp; NULL if none.
 */
static struct page *find_next(struct page_index *idx, pgoff_t *indexp, pgoff_t end, int tag,
			      struct pi_node **leafp)
{
	struct pi_node *stack[PI_MAX_DEPTH];
	unsigned depth = 0;
	pgoff_t index = *indexp;
	struct pi_node *n = root_load(idx);

	if (!n || index > node_maxindex(n))
		return NULL;
	for (;;) {
		unsigned shift = n->shift;
		unsigned off0 = (index >> shift) & PI_MASK;
		void *e = NULL;
		unsigned off = next_slot(n, off0, tag, &e);

		if (off < PI_SLOTS) {
			if (off != off0) {
				pgoff_t span = ((pgoff_t)1 << (shift + PI_SHIFT)) - 1;
				index = (index & ~span) | ((pgoff_t)off << shift);
			}
			if (index > end)
				return NULL;
			if (shift == 0) {
				*indexp = index;
				*leafp = n;
				return e;
			}
			stack[depth++] = n;
			n = e;
			continue;
		}
		/* nothing left in n: move to the start of the next sibling range */
		pgoff_t prev = index;
		index = ((index >> (shift + PI_SHIFT)) + 1) << (shift + PI_SHIFT);
		if (index > end || index > PAGE_INDEX_MAX)
			return NULL;
		for (;;) {
			if (depth == 0)
				return NULL;
			n = stack[--depth];
			if (((prev ^ index) >> (n->shift + PI_SHIFT)) == 0)
				break;
		}
	}
}

static unsigned gang_lookup(struct page_index *idx, pgoff_t *start, pgoff_t end, int tag,
			    struct page **pages, unsigned max)
{
	pgoff_t index = *start;
	unsigned n = 0;

	if (end > PAGE_INDEX_MAX)
		end = PAGE_INDEX_MAX;
	if (index > end || max == 0)
		return 0;
	mm_rcu_thread_enter();
	rcu_lock();
	while (n < max) {
		struct pi_node *leaf;
		struct page *page = find_next(idx, &index, end, tag, &leaf);
		if (!page) {
			index = end + 1;
			break;
		}
		if (!get_page_unless_zero(page))
			continue; /* being freed: the slot is changing, look again */
		if (unlikely(!page_still_there(idx, leaf, index, page))) {
			rcu_unlock();
			put_page(page);
			rcu_lock();
			continue;
		}
		pages[n++] = page;
		if (index == end) {
			index = end + 1;
			break;
		}
		index++;
	}
	rcu_unlock();
	*start = index;
	return n;
}

unsigned find_get_pages_range(struct page_index *idx, pgoff_t *start, pgoff_t end,
			      struct page **pages, unsigned max)
{
	return gang_lookup(idx, start, end, -1, pages, max);
}

unsigned find_get_pages_range_tag(struct page_index *idx, pgoff_t *start, pgoff_t end, unsigned tag,
				  struct page **pages, unsigned max)
{
	return gang_lookup(idx, start, end, (int)tag, pages, max);
}

unsigned find_get_pages_contig(struct page_index *idx, pgoff_t index, unsigned nr,
			       struct page **pages)
{
	struct pi_node *leaf[2]; /* @nr <= PI_SLOTS: two leaves at most */
	unsigned n, k;

	nr = contig_clamp(index, nr);
	if (!nr)
		return 0;
	mm_rcu_thread_enter();
	rcu_lock();
	/* First the slots, prefetching each page: the reference updates
	 * below then find their lines on the way rather than missing one at
	 * a time. */
	n = pi_contig_walk(idx, index, nr, pages, leaf, PI_WALK_PREFETCH);
	for (k = 0; k < n; k++) {
		pgoff_t i = index + k;
		struct page *page = pages[k];

		/* A page being freed: the run ends here. */
		if (!get_page_unless_zero(page))
			break;
		if (unlikely(!page_still_there(idx, leaf[k && (i & PI_MASK) < (index & PI_MASK)], i,
					       page))) {
			rcu_unlock();
			put_page(page);
			return k;
		}
	}
	rcu_unlock();
	return k;
}

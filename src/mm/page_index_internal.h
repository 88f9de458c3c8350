/* SPDX-License-Identifier: MIT */
/*
 * page_index_internal.h - what the radix tree (page_index.c) and its leaf
 * flag mirrors (page_index_flags.c) share, private to those two files: the
 * node, the acquire loads of slots, the lock-free walk to a leaf and the
 * clamp of a contiguous run.
 *
 * Locks: none taken here. The lookups below run under the caller's
 * rcu_read_lock (rcu_lock/rcu_unlock); a node's slots are published with
 * release stores under idx->lock ("page_index_lock", page_index.c).
 */
#ifndef PC_MM_PAGE_INDEX_INTERNAL_H
#define PC_MM_PAGE_INDEX_INTERNAL_H

#include <urcu.h>

#include "mm/page_index.h"

#define PI_SHIFT     6
#define PI_SLOTS     (1u << PI_SHIFT)
#define PI_MASK	     (PI_SLOTS - 1)
#define PI_MAX_DEPTH 10 /* shifts 0, 6, ..., 54 cover PAGE_INDEX_MAX */

struct pi_node {
	uint8_t shift; /* 0 for a leaf; constant */
	uint8_t count; /* non-NULL slots (under lock) */
	uint64_t tags[PAGECACHE_NR_TAGS];
	/* Leaves only: the page-flag mirrors (atomic RMW, any lock or none;
	 * see page_index.h) */
	uint64_t leaf_flags[PI_NR_LEAF_FLAGS];
	void *slots[PI_SLOTS]; /* struct pi_node * or, in a leaf, struct page * */
	struct rcu_head rcu;
};

static inline pgoff_t node_maxindex(const struct pi_node *n)
{
	return ((pgoff_t)1 << (n->shift + PI_SHIFT)) - 1;
}

static inline struct pi_node *root_load(struct page_index *idx)
{
	return __atomic_load_n(&idx->root, __ATOMIC_ACQUIRE);
}

static inline void *slot_load(struct pi_node *n, unsigned off)
{
	return __atomic_load_n(&n->slots[off], __ATOMIC_ACQUIRE);
}

static inline void rcu_lock(void)
{
	rcu_read_lock();
}

static inline void rcu_unlock(void)
{
	mm_rcu_tsan_release();
	rcu_read_unlock();
}

/* Under RCU: the leaf holding @index, or NULL. */
static inline struct pi_node *leaf_lookup(struct page_index *idx, pgoff_t index)
{
	struct pi_node *n = root_load(idx);

	if (!n || index > node_maxindex(n))
		return NULL;
	while (n->shift)
		if (!(n = slot_load(n, (index >> n->shift) & PI_MASK)))
			return NULL;
	return n;
}

/* How many of @nr slots from @index a contiguous lookup walks: at most one
 * leaf's worth, never past PAGE_INDEX_MAX; 0 for none. */
static inline unsigned contig_clamp(pgoff_t index, unsigned nr)
{
	if (!nr || index > PAGE_INDEX_MAX)
		return 0;
	if (nr > PI_SLOTS)
		nr = PI_SLOTS;
	if (nr - 1 > PAGE_INDEX_MAX - index)
		nr = (unsigned)(PAGE_INDEX_MAX - index + 1);
	return nr;
}

/* Under RCU: may the entry at slot @off of @leaf, just loaded, be read as a
 * plain hit? Its uptodate bit, loaded after the slot: a bit set for a later
 * page of the index is then set for the page loaded or the slot changed. */
static inline bool leaf_hit(struct pi_node *leaf, unsigned off)
{
	uint64_t up = __atomic_load_n(&leaf->leaf_flags[PI_LEAF_UPTODATE], __ATOMIC_ACQUIRE);
	uint64_t ra = __atomic_load_n(&leaf->leaf_flags[PI_LEAF_READAHEAD], __ATOMIC_RELAXED);

	return ((up & ~ra) >> off) & 1;
}

#define PI_WALK_HITS	 1u /* stop at the first entry that is not a plain hit (leaf_hit) */
#define PI_WALK_PREFETCH 2u /* prefetch each page for writing (its reference is next) */

/*
 * Under RCU: the walk of a contiguous run, shared by find_get_pages_contig
 * and the read hit's find_uptodate_contig_rcu. The entries at @index,
 * @index + 1, ... (@nr of them at most, clamped by contig_clamp: one
 * leaf's worth or less) into @pages, stopping at the first index without
 * a leaf or an entry or, with PI_WALK_HITS, whose entry is not a plain
 * hit. @leaves[0] gets the leaf of @index, @leaves[1] the next one if the
 * run reaches it (NULL otherwise). Returns how many. Always inlined: @flags
 * is a constant at each caller, so each gets only its own tests.
 */
static __always_inline unsigned pi_contig_walk(struct page_index *idx, pgoff_t index, unsigned nr,
					       struct page **pages, struct pi_node **leaves,
					       unsigned flags)
{
	struct pi_node *leaf = NULL;
	unsigned n;

	leaves[0] = leaves[1] = NULL;
	for (n = 0; n < nr; n++) {
		pgoff_t i = index + n;

		if (!n || !(i & PI_MASK)) { /* the first leaf, then the next one */
			leaf = leaf_lookup(idx, i);
			if (!leaf)
				break;
			leaves[n != 0] = leaf;
		}
		pages[n] = slot_load(leaf, i & PI_MASK);
		if (!pages[n])
			break;
		if ((flags & PI_WALK_HITS) && !leaf_hit(leaf, i & PI_MASK))
			break;
		if (flags & PI_WALK_PREFETCH)
			__builtin_prefetch(pages[n], 1);
	}
	return n;
}

/* The per-slot maps of a leaf: a tag's (tags[]) or a leaf flag's
 * (leaf_flags[]). */
enum pi_slot_map {
	PI_MAP_TAG,
	PI_MAP_LEAF_FLAG,
};

/* Lock-free (its own rcu_read_lock): the bit of @index in map @nr of kind
 * @map of its leaf, loaded with acquire (a leaf flag set with release after
 * the contents); false where there is no leaf. page_index_get_tag and
 * page_index_get_leaf_flag. */
bool page_index_test_slot_bit(struct page_index *idx, pgoff_t index, enum pi_slot_map map,
			      unsigned nr);

/* page_index_delete, under idx->lock, before it empties slot @off of
 * @leaf: clears every leaf flag of the slot (page_index_flags.c). */
void page_index_clear_slot_flags(struct pi_node *leaf, unsigned off);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * page_index_flags.c - the leaf flag mirrors of the page index: per leaf, a
 * 64-bit map each of PG_uptodate, PG_readahead and PG_referenced (the
 * rules are in page_index.h), their setting and clearing with the page
 * flags, and the read hit's reference-free lookup, re-check and accessed
 * marking that test them instead of the struct page.
 *
 * Locks: none of its own. The maps change by atomic RMW under no lock
 * (the callers that set PI_LEAF_UPTODATE hold the page lock, so the page
 * stays in its slot) and, in page_index_clear_slot_flags, under idx->lock
 * ("page_index_lock") from page_index_delete. Lookups run under
 * rcu_read_lock: their own, or the caller's for the _rcu functions and
 * page_index_uptodate_recheck.
 */
#include "mm/page_index.h"
#include "mm/page_index_internal.h"

TEST_SWITCH(page_index_test_stale_uptodate);

void page_index_clear_slot_flags(struct pi_node *leaf, unsigned off)
{
	uint64_t bit = 1ull << off;

	for (unsigned f = 0; f < PI_NR_LEAF_FLAGS; f++)
		if (f != PI_LEAF_UPTODATE || !page_index_test_stale_uptodate)
			__atomic_fetch_and(&leaf->leaf_flags[f], ~bit, __ATOMIC_SEQ_CST);
}

/* Sets or clears leaf flag @f of @page's slot, if @page is the entry at its
 * index (a page that is not, or no longer, there gets nothing: a missing
 * bit only sends a reader the slow way). */
static void leaf_flag_update(struct page_index *idx, struct page *page, unsigned f, bool set)
{
	pgoff_t index = READ_ONCE(page->index);

	if (!set && f == PI_LEAF_UPTODATE && page_index_test_stale_uptodate)
		return;
	mm_rcu_thread_enter();
	rcu_lock();
	struct pi_node *leaf = leaf_lookup(idx, index);
	if (leaf && slot_load(leaf, index & PI_MASK) == page) {
		uint64_t bit = 1ull << (index & PI_MASK);
		if (set)
			__atomic_fetch_or(&leaf->leaf_flags[f], bit, __ATOMIC_SEQ_CST);
		else
			__atomic_fetch_and(&leaf->leaf_flags[f], ~bit, __ATOMIC_SEQ_CST);
	}
	rcu_unlock();
}

void page_index_set_leaf_flag(struct page_index *idx, struct page *page, unsigned f)
{
	leaf_flag_update(idx, page, f, true);
}

void page_index_clear_leaf_flag(struct page_index *idx, struct page *page, unsigned f)
{
	leaf_flag_update(idx, page, f, false);
}

bool page_index_test_clear_leaf_flag(struct page_index *idx, struct page *page, unsigned f)
{
	pgoff_t index = READ_ONCE(page->index);
	uint64_t bit = 1ull << (index & PI_MASK);
	bool ret = false;

	mm_rcu_thread_enter();
	rcu_lock();
	struct pi_node *leaf = leaf_lookup(idx, index);
	if (leaf && slot_load(leaf, index & PI_MASK) == page &&
	    (__atomic_load_n(&leaf->leaf_flags[f], __ATOMIC_RELAXED) & bit))
		ret = __atomic_fetch_and(&leaf->leaf_flags[f], ~bit, __ATOMIC_SEQ_CST) & bit;
	rcu_unlock();
	return ret;
}

bool page_index_get_leaf_flag(struct page_index *idx, pgoff_t index, unsigned f)
{
	return page_index_test_slot_bit(idx, index, PI_MAP_LEAF_FLAG, f);
}

unsigned find_uptodate_contig_rcu(struct page_index *idx, pgoff_t index, unsigned nr,
				  struct page **pages, struct pi_node **leaves)
{
	return pi_contig_walk(idx, index, contig_clamp(index, nr), pages, leaves, PI_WALK_HITS);
}

unsigned page_index_uptodate_recheck(struct pi_node **leaves, pgoff_t index, unsigned nr,
				     struct page **pages)
{
	unsigned n;

	for (n = 0; n < nr; n++) {
		pgoff_t i = index + n;
		struct pi_node *leaf = leaves[n && (i & PI_MASK) < (index & PI_MASK)];
		uint64_t up =
		    __atomic_load_n(&leaf->leaf_flags[PI_LEAF_UPTODATE], __ATOMIC_ACQUIRE);

		/* The bit, then the slot: a bit set again by a later page of
		 * the index comes after that page's insertion. */
		if (!((up >> (i & PI_MASK)) & 1) || slot_load(leaf, i & PI_MASK) != pages[n])
			break;
	}
	return n;
}

void page_index_mark_referenced_rcu(struct pi_node **leaves, pgoff_t index, unsigned nr)
{
	unsigned off = index & PI_MASK;

	for (unsigned l = 0; nr; l++) {
		unsigned k = min_t(unsigned, nr, PI_SLOTS - off);
		uint64_t mask = (k == PI_SLOTS ? ~0ull : ((1ull << k) - 1)) << off;
		uint64_t *w = &leaves[l]->leaf_flags[PI_LEAF_REFERENCED];

		/* Only a change writes: the line stays shared among readers. */
		if ((__atomic_load_n(w, __ATOMIC_RELAXED) & mask) != mask)
			__atomic_fetch_or(w, mask, __ATOMIC_RELAXED);
		nr -= k;
		off = 0;
	}
}

/* SPDX-License-Identifier: MIT */
/*
 * page_index.h - the page index of one mapping: pgoff_t -> struct page *.
 *
 * A 64-way radix tree in the manner of the kernel's xarray: the root node
 * covers [0, 64^(height) - 1], intermediate nodes point to nodes one level
 * (6 bits) down, leaves (shift 0) point to pages. The tree grows by adding a
 * root above the old one and shrinks back when the root has only slot 0; empty
 * nodes are removed at once. Every node is freed after an RCU grace period.
 * Each node keeps, per tag (DIRTY, WRITEBACK), a 64-bit map of the slots below
 * which a tagged entry lies, so tagged walks skip untagged subtrees.
 *
 * Lookups (find_get_page, the range and tag walks, tag tests) are lock-free:
 * under rcu_read_lock they take a speculative reference
 * (get_page_unless_zero), then check that the slot still holds the page and
 * that page->mapping and page->index still match, and retry otherwise.
 * Updates (insert, delete, tag set/clear) serialise on the per-index leaf
 * mutex of class "page_index_lock": no other lock, no I/O, no user memory
 * inside it; it nests inside the page lock.
 *
 * The index holds one reference on each page in it: page_index_insert() takes
 * it and sets page->mapping, page_index_delete() clears page->mapping and drops
 * it. page->index is set by the caller before insertion and stays constant
 * while the page is in the index.
 */
#ifndef PC_MM_PAGE_INDEX_H
#define PC_MM_PAGE_INDEX_H

#include "kernel/mutex.h"
#include "kernel/testswitch.h"
#include "mm/page.h"

/* Largest index the tree accepts (a file of 2^72 bytes: beyond any off_t). */
#define PAGE_INDEX_MAX ((pgoff_t)((1ull << 60) - 1))

enum page_index_tag {
	PAGECACHE_TAG_DIRTY,
	PAGECACHE_TAG_WRITEBACK,
	PAGECACHE_NR_TAGS,
};

/*
 * Leaf flags: per leaf, one 64-bit map per page flag mirrored there, so that
 * the reference-free read hit tests and re-checks a page in the leaf it
 * already loads and never waits for the struct page before its copy.
 * Unlike the tags they are not propagated up the tree. The filemap sets
 * and clears them with the flags (filemap.h: page_mark_uptodate and
 * friends): PG_uptodate set, then its bit; its bit cleared, then the flag,
 * so a set bit means the page in the slot is uptodate (the bit set with
 * release after the contents). The bit is cleared before a frame is punched,
 * and page_index_delete clears every bit of the slot before the slot: a new
 * page at the index starts with none. A missing bit is harmless (the reader
 * goes the slow way); a stale one is what page_index_test_stale_uptodate
 * leaves, to show that the re-check then no longer protects the copy.
 * PI_LEAF_REFERENCED is the other way round: the hit sets it in the leaf
 * and never PG_referenced (so it never writes, nor waits for, the struct
 * page); reclaim tests and clears both (mm/internal.h).
 */
enum page_index_leaf_flag {
	PI_LEAF_UPTODATE,   /* PG_uptodate */
	PI_LEAF_READAHEAD,  /* PG_readahead: the hit goes the slow way */
	PI_LEAF_REFERENCED, /* set by the hit instead of PG_referenced */
	PI_NR_LEAF_FLAGS,
};

struct pi_node;

struct page_index {
	struct pi_node *root;	       /* RCU-published; NULL when empty */
	struct address_space *mapping; /* owner: page->mapping of every page in it */
	unsigned long nrpages;	       /* written under lock, read with READ_ONCE */
	unsigned long nr_nodes;	       /* under lock (statistics, tests) */
	struct mutex lock;	       /* "page_index_lock": serialises updates */
};

void page_index_init(struct page_index *idx, struct address_space *mapping);
/* Deletes whatever is left (dropping the index's references) and frees the
 * nodes. No other thread may use the index any more. */
void page_index_destroy(struct page_index *idx);

static inline unsigned long page_index_nrpages(const struct page_index *idx)
{
	return __atomic_load_n(&idx->nrpages, __ATOMIC_RELAXED);
}

/* Lock-free: the page at @index with a reference taken, or NULL. */
struct page *find_get_page(struct page_index *idx, pgoff_t index);

/* Inserts @page at page->index: takes a reference, sets page->mapping.
 * 0, -EEXIST (an entry is there), -EINVAL (index > PAGE_INDEX_MAX), -ENOMEM. */
int page_index_insert(struct page_index *idx, struct page *page);

/* Removes @page if it is still the entry at page->index: clears its tags and
 * page->mapping, drops the index's reference. 0 or -ENOENT. */
int page_index_delete(struct page_index *idx, struct page *page);

/*
 * Lock-free gang lookups: up to @max pages with index in [*start, end], in
 * index order, each with a reference taken. Returns how many. *start is set
 * past the last page returned; when the walk ends before @max pages (the range
 * is exhausted) it is set to end + 1. Callers loop while the return is @max.
 * The _tag variant returns only entries tagged with @tag. Entries inserted or
 * deleted during the walk may or may not be seen; every returned page was in
 * the index at its index during the walk.
 */
unsigned find_get_pages_range(struct page_index *idx, pgoff_t *start, pgoff_t end,
			      struct page **pages, unsigned max);
unsigned find_get_pages_range_tag(struct page_index *idx, pgoff_t *start, pgoff_t end, unsigned tag,
				  struct page **pages, unsigned max);

/*
 * Lock-free gang lookup of a contiguous run (the buffered read's batch): the
 * pages at @index, @index + 1, ... up to @nr (at most 64) of them, each with
 * a reference, stopping at the first index without a page (or whose page is
 * being freed or replaced during the walk). Returns how many: pages[k] is
 * the page at @index + k.
 */
unsigned find_get_pages_contig(struct page_index *idx, pgoff_t index, unsigned nr,
			       struct page **pages);

/*
 * Leaf flags (see above): set or clear flag @f of @page's slot if @page is the
 * entry at page->index (nothing otherwise). Lock-free (atomic RMW of the
 * leaf's map); the callers setting PI_LEAF_UPTODATE hold the page lock, so
 * the page stays in its slot. The lock-free test is for tests.
 */
void page_index_set_leaf_flag(struct page_index *idx, struct page *page, unsigned f);
void page_index_clear_leaf_flag(struct page_index *idx, struct page *page, unsigned f);
bool page_index_get_leaf_flag(struct page_index *idx, pgoff_t index, unsigned f);
/* Clears flag @f of @page's slot if @page is there; was it set? */
bool page_index_test_clear_leaf_flag(struct page_index *idx, struct page *page, unsigned f);

/*
 * The read hit's lookup, under the caller's rcu_read_lock, without
 * references and without reading any struct page: the pages at @index,
 * @index + 1, ... (up to @nr, at most 64) whose uptodate leaf bit is set and
 * readahead bit clear, stopping at the first that is not. @leaves[0] gets the
 * leaf of @index, @leaves[1] the next one if the run reaches it. Each bit is
 * loaded after its slot. After copying from the pages' frames the caller
 * calls page_index_uptodate_recheck (same RCU section): how many of the @nr
 * pages are still in their slots with the uptodate bit set (the bit loaded
 * before the slot); only bytes of those may be kept.
 */
unsigned find_uptodate_contig_rcu(struct page_index *idx, pgoff_t index, unsigned nr,
				  struct page **pages, struct pi_node **leaves);
unsigned page_index_uptodate_recheck(struct pi_node **leaves, pgoff_t index, unsigned nr,
				     struct page **pages);
/* The hit's accessed marking: PI_LEAF_REFERENCED of the @nr pages from
 * @index (after the re-check, same RCU section, @leaves from the lookup). */
void page_index_mark_referenced_rcu(struct pi_node **leaves, pgoff_t index, unsigned nr);

/* Leaves PI_LEAF_UPTODATE set when the flag is cleared or the page deleted
 * (hazard tests: the stale bit lets a reader keep bytes of a punched or
 * unfilled frame). */
DECLARE_TEST_SWITCH(page_index_test_stale_uptodate);

/* Tags on present entries (take the index lock). 0 or -ENOENT (no entry). */
int page_index_set_tag(struct page_index *idx, pgoff_t index, unsigned tag);
int page_index_clear_tag(struct page_index *idx, pgoff_t index, unsigned tag);
/* Lock-free tests: is the entry at @index tagged; is any entry tagged. */
bool page_index_get_tag(struct page_index *idx, pgoff_t index, unsigned tag);
bool page_index_tagged(struct page_index *idx, unsigned tag);

/* Levels of the tree (0 when empty): tests of growth and shrinking. */
unsigned page_index_height(struct page_index *idx);

#endif

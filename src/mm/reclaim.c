/* SPDX-License-Identifier: MIT */
/*
 * reclaim.c - the LRU lists and the memory limit (the kernel's mm/swap.c
 * LRU handling and mm/vmscan.c, reduced to the page cache).
 *
 * Lists: every page in a mapping's index is on one of the cache's two LRU
 * lists (PG_lru) from lru_cache_add to lru_cache_del: new pages enter the
 * inactive list at its head; reclaim scans the inactive tail. A cache hit
 * only sets PG_referenced (mark_page_accessed, lock-free), the reference-free
 * read hit its mirror bit in the index leaf instead (both tested and cleared
 * by page_test_clear_referenced, lock-free inside lru_lock). A referenced
 * page at the inactive tail gets a second chance on the active list; when
 * the active list outgrows the inactive one its tail pages move back to
 * the inactive head (a still-referenced one is rotated once more instead).
 *
 * Locks: lru_lock (leaf) guards both lists, PG_lru/PG_active and
 * cache->nr_active; nr_pages is updated under it (atomically, read without
 * it). The scanner takes page references under lru_lock (a page on the LRU
 * is in an index, which holds a reference, so the count is not zero), drops
 * it, then trylocks each page: it never waits for a page lock while
 * scanning. reclaim_if_needed is called with no lock held except i_rwsem and
 * possibly ADD of one mapping; it may write dirty pages (store I/O under
 * those, as fills do) and, when nothing at all could be freed, sleep until
 * one page's writeback or page lock is released.
 *
 * Freeing a clean page races with lock-free cache hits, which take a page
 * reference and then test PG_uptodate before copying from the frame. Under
 * the page lock the scanner clears PG_uptodate, then (full barrier) checks
 * that only the index and itself hold references. A reader that got its
 * reference earlier is seen by the count and the page is kept (uptodate
 * again); a reader that gets one later sees !uptodate and takes the slow
 * path, which locks the page and finds it gone (page->mapping NULL) or
 * uptodate again. So a frame is never punched under a reader's copy.
 */
#include <assert.h>

#include "mm/fill.h"
#include "mm/internal.h"

#define RECLAIM_BATCH	   32u /* pages isolated per lru_lock hold */
#define RECLAIM_MAX_ROUNDS 8

static inline struct mm_cache *page_cache(struct page *page)
{
	return page->mapping->cache;
}

void lru_cache_add(struct page *page)
{
	struct mm_cache *c = page_cache(page);

	mutex_lock(&c->lru_lock);
	assert(!PageLRU(page) && list_empty(&page->lru));
	list_add(&page->lru, &c->lru_inactive);
	SetPageLRU(page);
	__atomic_fetch_add(&c->nr_pages, 1, __ATOMIC_RELAXED);
	mutex_unlock(&c->lru_lock);
}

void lru_cache_del(struct page *page)
{
	struct mm_cache *c = page_cache(page);

	mutex_lock(&c->lru_lock);
	if (PageLRU(page)) {
		list_del_init(&page->lru);
		ClearPageLRU(page);
		if (TestClearPageActive(page))
			WRITE_ONCE(c->nr_active, c->nr_active - 1);
		__atomic_fetch_sub(&c->nr_pages, 1, __ATOMIC_RELAXED);
	}
	mutex_unlock(&c->lru_lock);
}

/* lru_lock held: move up to @nr pages from the active tail to the inactive
 * head while the active list is the larger one. */
static void shrink_active_list(struct mm_cache *c, unsigned nr)
{
	while (nr-- && !list_empty(&c->lru_active)) {
		unsigned long nr_active = c->nr_active;

		if (nr_active <= READ_ONCE(c->nr_pages) - nr_active)
			break;
		struct page *page = list_entry(c->lru_active.prev, struct page, lru);

		list_del_init(&page->lru);
		if (page_test_clear_referenced(page)) {
			list_add(&page->lru, &c->lru_active); /* used again: rotate */
			continue;
		}
		ClearPageActive(page);
		WRITE_ONCE(c->nr_active, nr_active - 1);
		list_add(&page->lru, &c->lru_inactive);
	}
}

/*
 * Takes up to @max candidates from the inactive tail, each with a reference,
 * rotating them to the head (they have been looked at). Referenced pages are
 * activated instead. Consumes *budget per page looked at.
 */
static unsigned isolate_inactive(struct mm_cache *c, struct page **batch, unsigned max,
				 long *budget)
{
	unsigned n = 0;

	mutex_lock(&c->lru_lock);
	shrink_active_list(c, max);
	while (n < max && !list_empty(&c->lru_inactive)) {
		struct page *page = list_entry(c->lru_inactive.prev, struct page, lru);

		if (--(*budget) < 0)
			break;
		list_del_init(&page->lru);
		if (page_test_clear_referenced(page)) {
			list_add(&page->lru, &c->lru_active);
			SetPageActive(page);
			WRITE_ONCE(c->nr_active, c->nr_active + 1);
			continue;
		}
		list_add(&page->lru, &c->lru_inactive);
		get_page(page);
		batch[n++] = page;
	}
	mutex_unlock(&c->lru_lock);
	return n;
}

enum reclaim_outcome {
	RP_FREEABLE,  /* locked, !uptodate, ours: queued in a free batch */
	RP_KEPT,      /* in use, gone already, or could not be cleaned */
	RP_LOCKED,    /* someone holds the page lock */
	RP_WRITEBACK, /* under writeback */
};

/* Test switch: every freed page's frame is punched on its own (one
 * fallocate, so one TLB flush of the process, per page). */
TEST_SWITCH(reclaim_test_punch_per_page);

/*
 * Pages being freed, locked and !uptodate with no reference but the index's
 * and ours (a lock-free reader that comes now sees !uptodate and waits for
 * the page lock; see the top of this file). Their frames are punched run by
 * run - one fallocate per run of consecutive pages of one mapping instead of
 * one per page: each punch of the memfd flushes the TLB of every CPU that
 * runs the process - and only then do the pages leave their index. A page
 * stays in its index, locked, until its frame is punched, so no new page of
 * that index (whose frame is the same) can be filled before the punch.
 */
struct free_batch {
	struct page *pages[RECLAIM_BATCH];
	unsigned nr;
};

static void free_batch_flush(struct mm_cache *c, struct free_batch *fb)
{
	unsigned i, j;

	for (i = 0; i < fb->nr; i = j) {
		struct address_space *m = fb->pages[i]->mapping;
		pgoff_t first = fb->pages[i]->index;

		for (j = i + 1; j < fb->nr && !reclaim_test_punch_per_page; j++)
			if (fb->pages[j]->mapping != m || fb->pages[j]->index != first + (j - i))
				break;
		frames_punch(m, first, j - i);
		__atomic_fetch_add(&c->stats.reclaim_punches, 1, __ATOMIC_RELAXED);
		for (unsigned k = i; k < j; k++) {
			struct page *page = fb->pages[k];

			page_cache_remove(page, false);
			unlock_page(page);
			put_page(page);
		}
	}
	__atomic_fetch_add(&c->stats.reclaimed_pages, fb->nr, __ATOMIC_RELAXED);
	fb->nr = 0;
}

/* Page locked, clean, not under writeback: queue it for freeing unless
 * someone else holds a reference (see the top of this file; unlocked then). */
static enum reclaim_outcome try_free_page(struct page *page, struct free_batch *fb)
{
	bool was_uptodate = page_test_clear_uptodate(page);

	smp_mb();
	/* References: the index's and ours. */
	if (page_count(page) > 2) {
		if (was_uptodate)
			page_mark_uptodate(page);
		unlock_page(page);
		return RP_KEPT;
	}
	fb->pages[fb->nr++] = page; /* our reference goes with it */
	return RP_FREEABLE;
}

/* One candidate (we hold a reference, nothing else but the locked pages of
 * @fb). A dirty page is written first if *writes_left allows; the pages of
 * @fb are freed before (no store I/O with them locked). */
static enum reclaim_outcome reclaim_page(struct mm_cache *c, struct page *page, long *writes_left,
					 struct free_batch *fb)
{
	struct address_space *m;

	if (!trylock_page(page))
		return RP_LOCKED;
	m = page->mapping;
	if (!m) {
		unlock_page(page);
		return RP_KEPT;
	}
	if (PageWriteback(page)) {
		unlock_page(page);
		return RP_WRITEBACK;
	}
	if (PageDirty(page)) {
		/* A failing mapping's pages wait for its writeback to recover
		 * (writeback.c): writing them here would retry the error at
		 * every allocation. */
		if (*writes_left <= 0 || mapping_wb_failing(m)) {
			unlock_page(page);
			return RP_KEPT;
		}
		(*writes_left)--;
		free_batch_flush(c, fb);
		/* Write it now; free it below if it came out clean. */
		SetPageReclaim(page);
		writepage(page);
		if (!trylock_page(page))
			return RP_LOCKED;
		ClearPageReclaim(page);
		if (page->mapping != m || PageDirty(page) || PageWriteback(page)) {
			unlock_page(page);
			return RP_KEPT;
		}
	}
	return try_free_page(page, fb);
}

/*
 * Scans the inactive list until @goal pages are freed or every page has been
 * looked at about once. If nothing was freed, *waitp holds a reference on a
 * page worth waiting for (*wait_wb: its writeback, else its page lock).
 */
static unsigned long shrink_inactive_list(struct mm_cache *c, unsigned long goal,
					  struct page **waitp, bool *wait_wb)
{
	struct page *batch[RECLAIM_BATCH];
	struct free_batch fb = {.nr = 0};
	long budget = (long)READ_ONCE(c->nr_pages) + RECLAIM_BATCH;
	/* Bound the store writes of one call (a failing store keeps pages dirty). */
	long writes_left = 2 * (long)goal + RECLAIM_BATCH;
	unsigned long freed = 0;

	while (freed < goal && budget > 0) {
		unsigned n = isolate_inactive(c, batch, RECLAIM_BATCH, &budget);

		if (!n)
			break;
		for (unsigned i = 0; i < n; i++) {
			struct page *page = batch[i];
			enum reclaim_outcome r =
			    freed < goal ? reclaim_page(c, page, &writes_left, &fb) : RP_KEPT;

			if (r == RP_FREEABLE) {
				freed++;
				continue; /* the batch holds our reference */
			} else if ((r == RP_WRITEBACK || r == RP_LOCKED) &&
				   (!*waitp || (r == RP_WRITEBACK && !*wait_wb))) {
				if (*waitp)
					put_page(*waitp);
				*waitp = page;
				*wait_wb = r == RP_WRITEBACK;
				continue; /* keep our reference for the wait */
			}
			put_page(page);
		}
		free_batch_flush(c, &fb);
	}
	return freed;
}

void reclaim_if_needed(struct mm_cache *c, unsigned long want)
{
	unsigned long limit = c->mem_limit_pages;
	/* Free a little more than asked so that the next few adds go straight. */
	unsigned long slack = min_t(unsigned long, RECLAIM_BATCH, limit / 32);

	for (int round = 0; round < RECLAIM_MAX_ROUNDS; round++) {
		unsigned long nr = READ_ONCE(c->nr_pages);
		struct page *wait_page = NULL;
		bool wait_wb = false;

		if (nr + want <= limit)
			return;
		unsigned long goal = nr + want - limit + slack;
		unsigned long freed = shrink_inactive_list(c, goal, &wait_page, &wait_wb);

		if (freed) {
			if (wait_page)
				put_page(wait_page);
			continue;
		}
		if (!wait_page)
			return; /* every page is in use: let the cache run over for now */
		/* Nothing could go: wait for progress rather than spin. */
		if (wait_wb)
			wait_on_page_writeback(wait_page);
		else
			wait_on_page_locked(wait_page);
		put_page(wait_page);
	}
}

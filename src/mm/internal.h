/* SPDX-License-Identifier: MIT */
/*
 * internal.h - calls between the parts of the mm layer; not for fs.
 *
 *   filemap core (filemap.c, readahead.c, truncate.c, frames.c): adds and
 *     removes pages, fills them, copies to and from users.
 *   writeback.c: dirty accounting, writepages, the background writeback
 *     thread, writer throttling, errseq recording.
 *   reclaim.c: the LRU and the memory limit.
 *   mm_cache.c: engine-wide init/destroy.
 *
 * Page states: a page in a mapping's index holds one reference for the
 * index; it is on the LRU (PG_lru) from insertion to removal; PG_dirty is
 * mirrored by PAGECACHE_TAG_DIRTY in the index and counted in
 * mapping->nrdirty and cache->nr_dirty; PG_writeback likewise with
 * PAGECACHE_TAG_WRITEBACK and cache->nr_writeback.
 */
#ifndef PC_MM_INTERNAL_H
#define PC_MM_INTERNAL_H

#include "mm/filemap.h"
#include "kernel/testswitch.h"

/* ---- filemap core, used by writeback and reclaim ---- */

/* Allocate a page for @index, insert it locked into the cache and the LRU
 * (ADD must be held by the caller, policy allowing). Returns the page with a
 * reference for the caller, -EEXIST if another is there, -ENOMEM. */
struct page *add_to_page_cache_locked(struct address_space *m, pgoff_t index, int *err);
/* Remove a page (locked by the caller, clean, not under writeback) from its
 * mapping: clear PG_uptodate (lock-free readers that hold it redo their
 * copy), punch its frame while the page still holds its index (so no new
 * page of that index is filled in the frame first), then LRU, accounting,
 * index. */
void delete_from_page_cache(struct page *page);
/* Punch the frames of [index, index + nr) in the memfd (memory freed). */
void frames_punch(struct address_space *m, pgoff_t index, unsigned long nr);

/* ---- writeback, used by the filemap core ---- */

/* Mark a locked, uptodate page dirty: flag, tag, counters. Returns true if it
 * was clean before. */
bool set_page_dirty(struct page *page);
/* Clear dirty before writing it, or to cancel it before removal (page locked
 * and not under writeback: wait_on_page_writeback first): flag, tag, counters. */
bool clear_page_dirty_for_io(struct page *page);
/* Write one locked dirty page to the store and unlock it (writeback bit set
 * around the store write; errors recorded in mapping->wb_err, PG_error, and
 * the page re-dirtied). The DIRTY tag stays until the WRITEBACK tag is set,
 * so a write-and-wait always finds the page by one of them. The caller holds a reference, and the
 * mapping stays alive until the page's writeback ends (teardown waits for it). */
int writepage(struct page *page);
/* Test switch: filemap_read's reference-free hit path does not re-check,
 * after its copy, that each page it copied from is still uptodate and in
 * the mapping (test_filemap_race: a read returns the zeroes of a frame
 * punched under its copy). */
DECLARE_TEST_SWITCH(filemap_test_no_recheck);
/* Test switch: writepage drops the DIRTY tag before it sets the WRITEBACK
 * tag (test_writeback shows a write-and-wait then missing the page). */
DECLARE_TEST_SWITCH(writeback_test_untag_early);
/* Test switch: write_cache_pages writes each page alone, with one
 * write-protect operation per page and view instead of one per run. */
DECLARE_TEST_SWITCH(writeback_test_mkclean_per_page);
/* Test switch: write_run sends each page of a run to the store in a write
 * of its own instead of one write per segment of consecutive pages. */
DECLARE_TEST_SWITCH(writeback_test_write_per_page);
/* Test switch: the pages of a write-back run after the first are each a
 * held lock of the validator (trylock_page) instead of one run lock
 * (trylock_page_run): a run of more than 48 pages overflows its stack. */
DECLARE_TEST_SWITCH(writeback_test_track_run_pages);
/* Test switch: a background writeback pass checks its dirty target at
 * every page, cutting a run short there, instead of between runs. */
DECLARE_TEST_SWITCH(writeback_test_target_per_page);
/* Test switch: reclaim punches the frame of each freed page on its own
 * instead of one punch per run of consecutive pages. */
DECLARE_TEST_SWITCH(reclaim_test_punch_per_page);
/* Tests: periodic writeback ignores the dirty age (writes only above
 * dirty_background): data stays dirty in the cache however old it is. */
DECLARE_TEST_SWITCH(writeback_test_no_expire);
/* Before dirtying a page: start background writeback above
 * dirty_background, and make the caller wait while nr_dirty is above
 * dirty_limit. Returns 0, or the store's writeback error when the cache is
 * over the limit and cannot get under it because writeback fails (the
 * caller must not dirty more: it returns the error or a short count).
 * Called with i_rwsem held and no other lock. @nowait: never sleep. */
int balance_dirty_pages(struct address_space *m, bool nowait);
/* A mapping whose writeback failed: true, and the background thread, the
 * throttled writers and reclaim leave its dirty pages alone (see
 * writeback.c "Persistent errors"). */
bool mapping_wb_failing(const struct address_space *m);
/* Test switch: failing mappings are retried by every throttled writer,
 * reclaim and every background pass, and a throttled writer whose
 * writeback fails goes on dirtying (the retry storm and unbounded growth
 * before the back-off; test_enospc shows both). */
DECLARE_TEST_SWITCH(writeback_test_retry_failing);
/* The pages the dirty limits compare: dirty ones plus those under
 * writeback (cache->nr_dirty_wb; a page both dirty and under writeback
 * counts twice). Never below the pages in either state at any instant. */
unsigned long dirty_and_writeback(struct mm_cache *c);
/* Test switch: dirty_and_writeback adds nr_dirty and nr_writeback instead
 * (the old count: a page whose writepage has cleared its dirty bit but not
 * yet set writeback is in neither, and a writer then dirties one page over
 * the limit for each such page; test_writeback shows the count low). */
DECLARE_TEST_SWITCH(writeback_test_split_count);
/* One write loop over a mapping's dirty pages (writeback.c write_cache_pages):
 * what it is for and when it stops. */
struct wb_control {
	bool sync;		  /* data integrity: wait for pages already under writeback */
	long nr_to_write;	  /* stop after cleaning this many pages */
	struct bdi_writeback *wb; /* background pass: stop on writeback_stop / at target */
	unsigned long target;	  /* background pass: stop when nr_dirty is at or below */
	bool stop_on_error;	  /* return at the first failed writepage */
	long written;		  /* pages cleaned */
	int err;		  /* first error */
};
/* Writes the dirty pages of [start, end] (indices) in index order, in runs
 * (writeback.c); page locks only, no lock held on entry. */
void write_cache_pages(struct address_space *m, pgoff_t start, pgoff_t end, struct wb_control *wbc);
/* Whether @wbc's loop should stop, @pending pages of a run not yet cleaned. */
bool wbc_done(const struct wb_control *wbc, struct mm_cache *c, unsigned pending);
/* Throttled writers of a failing mapping turned away between two probes. */
#define WB_FAIL_PROBE 64
/* Background writeback thread lifetime (called by mm_cache_init/destroy). */
int writeback_start(struct mm_cache *c);
void writeback_stop(struct mm_cache *c);

/* ---- background readahead (readahead_worker.c) ---- */

/* The cache's readahead workers (called by mm_cache_init/destroy; stop
 * drains the queue first). */
int readahead_worker_start(struct mm_cache *c);
void readahead_worker_stop(struct mm_cache *c);
/* Hands @nr locked, !uptodate pages of @m (consecutive indices, added under
 * ADD, their locks already handed to the I/O with page_lock_to_io, one
 * reference each from the caller) to a worker, which reads them, unlocks
 * them (unlock_page_io) and drops the references. False: not taken (no worker, a
 * thread under the deterministic scheduler, no memory): the caller reads
 * them itself. No lock needed; the caller may hold ADD. */
bool readahead_submit_async(struct address_space *m, struct page **pages, unsigned nr);
/* The run holding page @index of @m, if still queued for a worker: taken
 * off the queue and read here (the caller was about to wait for the page's
 * lock). Any lock a fill may be under (ADD, i_rwsem) may be held; no page
 * lock of @m. */
void readahead_steal(struct address_space *m, pgoff_t index);
/* Waits until no readahead of @m is in flight (mapping_destroy). Nothing
 * held that a worker could need (no page lock of @m). */
void mapping_ra_wait(struct address_space *m);
/* Test switch: speculative readahead (of reads and faults) adds its pages
 * without the invalidate lock's ADD (test_readahead_bg shows a page a punch
 * removed read back with the bytes from before the punch). */
DECLARE_TEST_SWITCH(readahead_test_no_add_lock);

/* ---- reclaim, used by the filemap core ---- */

/* A new page enters the cache: put it on the inactive LRU, count it in
 * cache->nr_pages. Call after page_index_insert (page->mapping is set). */
void lru_cache_add(struct page *page);
/* The page leaves the cache (called by delete_from_page_cache, page locked):
 * off the LRU, uncounted. Call before page_index_delete (page->mapping still
 * set). A page not on the LRU is left alone. */
void lru_cache_del(struct page *page);
/* A cache hit: mark referenced (lock-free: only a flag bit). */
static inline void mark_page_accessed(struct page *page)
{
	if (!test_bit(PG_referenced, &page->flags))
		set_bit(PG_referenced, &page->flags);
}
/* Was the page accessed since the LRU last looked: PG_referenced, or its
 * leaf bit that the reference-free read hit sets instead (page_index.h);
 * both cleared. The page is on the LRU (so in its mapping's index), under
 * lru_lock. */
static inline bool page_test_clear_referenced(struct page *page)
{
	struct address_space *m = READ_ONCE(page->mapping);
	bool leaf = m && page_index_test_clear_leaf_flag(&m->i_pages, page, PI_LEAF_REFERENCED);

	return TestClearPageReferenced(page) | leaf;
}
/* Before adding pages: if the cache is at its limit, reclaim (writing dirty
 * pages first, skipping locked and under-writeback ones). Called with no
 * lock held except i_rwsem and possibly ADD of @m (never BLOCK). */
void reclaim_if_needed(struct mm_cache *c, unsigned long want);

/* ---- mm_cache: the list of mappings ---- */
void mm_cache_add_mapping(struct mm_cache *c, struct address_space *m);
void mm_cache_del_mapping(struct mm_cache *c, struct address_space *m);

#endif

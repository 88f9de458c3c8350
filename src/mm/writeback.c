/* SPDX-License-Identifier: MIT */
/*
 * writeback.c - dirty page accounting, writing pages to the store (one page,
 * and runs of a mapping's dirty pages: write_cache_pages), fsync's
 * write-and-wait and error reporting (the kernel's mm/page-writeback.c);
 * writer throttling and the background passes that call write_cache_pages
 * are in writeback_pass.c, the thread itself in writeback_thread.c.
 *
 * Locks: set_page_dirty, clear_page_dirty_for_io and writepage expect the
 * page lock held and take the page index lock (tags) inside it. The write
 * loops take page locks (lock_page) with nothing else of theirs held, and do
 * store I/O holding only page state (PG_writeback). write_cache_pages holds
 * the locks of a run of up to WB_RUN consecutive dirty pages (the next ones
 * by trylock only: trylock_page_run, one held lock of the validator for the
 * whole run, page.h) while it write-protects the run in every view at once
 * (i_mmap_rwsem inside the page locks), then starts the writeback of each
 * and unlocks it before the run's store writes (no store I/O under a page
 * lock there; writepage alone writes one page under none). mappings_lock (leaf)
 * guards the mapping list and the writeback thread's cursor. Waits here
 * (throttling, teardown, the thread's idle sleep) hold no lock of this file.
 *
 * Accounting (internal.h): PG_dirty <-> DIRTY tag <-> mapping->nrdirty and
 * cache->nr_dirty; PG_writeback <-> WRITEBACK tag <-> cache->nr_writeback;
 * their sum, the one the dirty limits compare, in cache->nr_dirty_wb (see
 * "The dirty count" below).
 * One exception, inside writepage under the page lock: the DIRTY tag
 * outlives PG_dirty until the WRITEBACK tag is set, so a write-and-wait
 * (which looks pages up by tag, without their lock) never finds a page
 * being cleaned under neither tag and returns before its store write.
 * Dirty transitions happen under the page lock, except writepage's
 * re-dirtying on error, which happens while PG_writeback is still set: no
 * page-lock holder clears dirty on a page under writeback (every clearer
 * waits for writeback first), so it races only with other setters, and
 * TestSetPageDirty picks the one that accounts.
 *
 * Write errors: the kernel re-dirties a page on transient errors (ENOSPC
 * for ext4) and drops the data on EIO. Here every failed page is kept dirty
 * and marked PG_error, so no acknowledged byte is lost and a later
 * successful writeback (fsync, background) still writes it; the error is
 * recorded once in mapping->wb_err (errseq), so each file sees it once in
 * fsync. The cost: a store that keeps failing keeps those pages dirty.
 *
 * Persistent errors (the retry storm and the memory bound): a failed
 * writepage marks its mapping failing (m->wb_failing = the errno, cleared
 * by the next writepage of it that succeeds) and the cache
 * (c->wb_last_err). A failing mapping's pages are then left alone by
 * everyone but data-integrity writeback (fsync, close): kicked background
 * passes skip it, the periodic pass tries it and stops at its first error,
 * reclaim does not write its pages, and a writer over the dirty limit gets
 * the error back from balance_dirty_pages instead of dirtying more (one
 * writer in WB_FAIL_PROBE probes one page, so a store that recovers is
 * noticed without any timer). Non-integrity writeback stops a mapping at
 * its first failure. So store writes per failing period are bounded by a
 * count (probes, periodic passes, fsyncs), not by how often writers call,
 * and dirty pages stay under dirty_limit plus one page per concurrent
 * writer (each may have passed the check before another's page went
 * dirty) plus pages dirtied through shared writable views (not throttled).
 *
 * Mapping lifetime against the writeback thread: the thread never holds a
 * reference on a mapping. Under mappings_lock it takes the head of the
 * list, rotates it to the tail and publishes it as wb->cur; it then writes
 * the mapping's pages with the lock dropped and clears wb->cur under the lock
 * when done. mm_cache_del_mapping unlinks the mapping under mappings_lock (so
 * the thread cannot pick it again) and then waits until wb->cur is no longer
 * that mapping. Other writers of a mapping's pages either hold i_rwsem of a
 * live file (fsync, throttling) or hold the page locked / under writeback
 * (reclaim), which teardown waits for.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>

#include "kernel/futex.h"
#include "kernel/sched.h"
#include "mm/internal.h"
#include "mm/vma.h"
#include "mm/writeback_thread.h"

#define WB_BATCH 16 /* pages per tag lookup */
/* Most pages in a run: 1 MiB, one store write (an O_DIRECT image takes 1 MiB
 * writes at several times the rate of 128 KiB ones; bench/NOTES.md). */
#define WB_RUN 256

/*
 * The dirty count (the kernel compares NR_FILE_DIRTY + NR_WRITEBACK with its
 * thresholds): cache->nr_dirty_wb is nr_dirty + nr_writeback kept as one
 * atomic, changed only when a page enters or leaves the pair of states, not
 * when writepage moves it from dirty to writeback or back. Two counters
 * read one after the other cannot give that sum: writepage decrements
 * nr_dirty before it increments nr_writeback, and a writer that read the
 * sum in between dirtied one page past the limit (test_reclaim's sticky
 * error test saw 34 dirty pages with a limit of 32 and one writer).
 */
TEST_SWITCH(writeback_test_split_count);

static inline unsigned long __dirty_and_writeback(struct mm_cache *c)
{
	if (unlikely(writeback_test_split_count))
		return READ_ONCE(c->nr_dirty) + READ_ONCE(c->nr_writeback);
	return __atomic_load_n(&c->nr_dirty_wb, __ATOMIC_RELAXED);
}

unsigned long dirty_and_writeback(struct mm_cache *c)
{
	return __dirty_and_writeback(c);
}

static inline void stat_inc(uint64_t *v)
{
	__atomic_fetch_add(v, 1, __ATOMIC_RELAXED);
}

/* Wake throttled writers once the cache is back under the dirty limit. */
static void wb_wake_throttled(struct mm_cache *c)
{
	struct bdi_writeback *wb = cache_wb(c);

	if (!wb || __dirty_and_writeback(c) > c->dirty_limit)
		return;
	smp_mb();
	if (__atomic_load_n(&wb->nr_throttled, __ATOMIC_RELAXED))
		wake_up_all(&wb->throttle);
}

/* ---- dirty accounting ---- */

/* The age of a mapping's dirty data (the kernel's __mark_inode_dirty
 * setting dirtied_when): set when the first page gets dirty, cleared when the
 * last one is cleaned. Races between the two leave 0 with pages dirty, which
 * the periodic pass treats as expired: written early, never late. */
static void mapping_note_dirtied(struct address_space *m)
{
	uint64_t none = 0;

	if (!__atomic_load_n(&m->dirtied_when, __ATOMIC_RELAXED))
		__atomic_compare_exchange_n(&m->dirtied_when, &none, ktime_get_ns(), false,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/* @from_writeback: writepage re-dirties a page it counts under writeback
 * (already in nr_dirty_wb). */
static bool __set_page_dirty(struct page *page, struct address_space *m, bool from_writeback)
{
	if (TestSetPageDirty(page))
		return false;
	if (m) {
		page_index_set_tag(&m->i_pages, page->index, PAGECACHE_TAG_DIRTY);
		__atomic_fetch_add(&m->nrdirty, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&m->cache->nr_dirty, 1, __ATOMIC_RELAXED);
		if (!from_writeback)
			__atomic_fetch_add(&m->cache->nr_dirty_wb, 1, __ATOMIC_RELAXED);
		mapping_note_dirtied(m);
	}
	return true;
}

bool set_page_dirty(struct page *page)
{
	assert(PageLocked(page));
	return __set_page_dirty(page, READ_ONCE(page->mapping), false);
}

/* PG_dirty and the counters; the DIRTY tag is the caller's. @to_writeback:
 * writepage, which counts the page under writeback next (it stays in
 * nr_dirty_wb). */
static bool __clear_page_dirty(struct page *page, struct address_space *m, bool to_writeback)
{
	if (!TestClearPageDirty(page))
		return false;
	if (m) {
		if (__atomic_fetch_sub(&m->nrdirty, 1, __ATOMIC_RELAXED) == 1)
			__atomic_store_n(&m->dirtied_when, 0, __ATOMIC_RELAXED);
		__atomic_fetch_sub(&m->cache->nr_dirty, 1, __ATOMIC_RELAXED);
		if (!to_writeback) {
			__atomic_fetch_sub(&m->cache->nr_dirty_wb, 1, __ATOMIC_RELAXED);
			wb_wake_throttled(m->cache);
		}
	}
	return true;
}

bool clear_page_dirty_for_io(struct page *page)
{
	struct address_space *m = READ_ONCE(page->mapping);

	assert(PageLocked(page));
	assert(!PageWriteback(page));
	if (!__clear_page_dirty(page, m, false))
		return false;
	if (m)
		page_index_clear_tag(&m->i_pages, page->index, PAGECACHE_TAG_DIRTY);
	return true;
}

void mapping_set_error(struct address_space *m, int err)
{
	if (likely(!err))
		return;
	assert(err < 0);
	errseq_set(&m->wb_err, err);
}

int file_check_and_advance_wb_err(struct address_space *m, errseq_t *since)
{
	return errseq_check_and_advance(&m->wb_err, since);
}

/* ---- writing one page ---- */

/* Test switch: writepage clears the DIRTY tag with PG_dirty, before the
 * WRITEBACK tag is set (the old order: a write-and-wait in between saw
 * neither tag and returned before the store write). */
TEST_SWITCH(writeback_test_untag_early);

/* Test switch: write_cache_pages writes every page on its own (a run of
 * one page, one write-protect operation per page and view: the old cost). */
TEST_SWITCH(writeback_test_mkclean_per_page);

/*
 * writepage in two halves, so that write_run can send a run of pages to the
 * store in one write. writepage_begin: page locked and dirty on entry;
 * cleans it, puts it under writeback and unlocks it. Returns false (page
 * unlocked, nothing to write) if it was not dirty after all, else true with
 * *len the bytes of the page to write: below i_size, sampled under the
 * page lock (truncate lowers i_size before it takes the page lock and waits
 * for our writeback, and sets the store size after), 0 past EOF.
 * @mkclean false: the caller has already write-protected the page in every
 * view, holding its lock since (write_cache_pages' run). @member: the page
 * lock is a run's (trylock_page_run), released with unlock_page_run.
 */
static bool writepage_begin(struct page *page, bool mkclean, bool member, size_t *len)
{
	struct address_space *m = page->mapping;
	int64_t pos, size;

	assert(PageLocked(page));
	assert(!PageWriteback(page));
	assert(m != NULL);
	if (!__clear_page_dirty(page, m, true)) {
		if (member)
			unlock_page_run(page);
		else
			unlock_page(page);
		return false;
	}
	if (unlikely(writeback_test_untag_early))
		page_index_clear_tag(&m->i_pages, page->index, PAGECACHE_TAG_DIRTY);
	sched_race_window("writepage: page cleaned, writeback not yet set");
	/* Every view maps it write-protected again before we copy it, so a
	 * later store through a view re-dirties it (page_mkwrite). */
	if (mkclean)
		mm_page_mkclean(page);
	set_page_writeback(page);
	page_index_set_tag(&m->i_pages, page->index, PAGECACHE_TAG_WRITEBACK);
	__atomic_fetch_add(&m->cache->nr_writeback, 1, __ATOMIC_RELAXED);
	/* The DIRTY tag goes only now, as in the kernel's
	 * __folio_start_writeback: a write-and-wait that runs meanwhile
	 * (fsync, a DIO read) finds the page by one tag or the other, so it
	 * waits for this store write instead of reading the old contents. No
	 * one else dirties the page while we hold its lock. */
	if (!PageDirty(page))
		page_index_clear_tag(&m->i_pages, page->index, PAGECACHE_TAG_DIRTY);
	pos = (int64_t)(page->index << PAGE_SHIFT);
	size = i_size_read(m);
	if (member)
		unlock_page_run(page);
	else
		unlock_page(page);
	/* Never past EOF: the tail of the EOF page stays in the cache. */
	*len = pos < size ? (size_t)min_t(int64_t, (int64_t)PAGE_SIZE, size - pos) : 0;
	return true;
}

/* Ends the writeback of @page (the last touch of its mapping). */
static void writepage_finish(struct page *page, struct address_space *m, struct mm_cache *c)
{
	page_index_clear_tag(&m->i_pages, page->index, PAGECACHE_TAG_WRITEBACK);
	__atomic_fetch_sub(&c->nr_writeback, 1, __ATOMIC_RELAXED);
	/* After this the mapping may go away: touch only the page and the cache. */
	end_page_writeback(page);
	wb_wake_throttled(c);
}

/* Dirty again, under writeback still (see the top of this file). */
static void writepage_redirty(struct page *page, struct address_space *m, struct mm_cache *c)
{
	if (!__set_page_dirty(page, m, true))
		__atomic_fetch_sub(&c->nr_dirty_wb, 1, __ATOMIC_RELAXED);
}

/* A page writepage_begin started whose store write was not tried (the pass
 * stopped at an earlier failure): dirty again, no error recorded. */
static void writepage_cancel(struct page *page)
{
	struct address_space *m = page->mapping;

	writepage_redirty(page, m, m->cache);
	writepage_finish(page, m, m->cache);
}

/* The second half: the store write of @page (under writeback, unlocked)
 * ended with @ret (0 or -errno). */
static void writepage_end(struct page *page, int ret)
{
	struct address_space *m = page->mapping;
	struct mm_cache *c = m->cache;

	if (unlikely(ret)) {
		mapping_set_error(m, ret);
		SetPageError(page);
		/* keep the data (see the top of this file); dirtied again
		 * meanwhile: it leaves writeback only */
		writepage_redirty(page, m, c);
		__atomic_store_n(&m->wb_failing, ret, __ATOMIC_RELEASE);
		__atomic_store_n(&c->wb_last_err, ret, __ATOMIC_RELEASE);
	} else {
		if (PageError(page))
			ClearPageError(page);
		__atomic_fetch_sub(&c->nr_dirty_wb, 1, __ATOMIC_RELAXED);
		stat_inc(&c->stats.written_back_pages);
		if (unlikely(__atomic_load_n(&m->wb_failing, __ATOMIC_RELAXED)))
			__atomic_store_n(&m->wb_failing, 0, __ATOMIC_RELEASE);
		if (unlikely(__atomic_load_n(&c->wb_last_err, __ATOMIC_RELAXED)))
			__atomic_store_n(&c->wb_last_err, 0, __ATOMIC_RELEASE);
	}
	writepage_finish(page, m, c);
}

/* Writes @len bytes at @buf to the store at @pos: 0, or -errno (a short
 * write that makes no progress is -EIO). */
static int wb_store_write(struct address_space *m, const void *buf, size_t len, int64_t pos)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n =
		    store_write(m->host, (const char *)buf + done, len - done, pos + (int64_t)done);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

static int __writepage(struct page *page, bool mkclean)
{
	struct address_space *m = page->mapping;
	size_t len;
	int ret;

	if (!writepage_begin(page, mkclean, false, &len))
		return 0;
	ret = wb_store_write(m, page_address(m, page), len, (int64_t)(page->index << PAGE_SHIFT));
	writepage_end(page, ret);
	return ret;
}

int writepage(struct page *page)
{
	return __writepage(page, true);
}

/* ---- writing a range of a mapping ---- */

TEST_SWITCH(writeback_test_retry_failing);

/* Test switch: a background pass checks its target at every page, ending
 * a run there (the old behaviour: runs of a page or two at the target). */
TEST_SWITCH(writeback_test_target_per_page);

bool mapping_wb_failing(const struct address_space *m)
{
	return !__atomic_load_n(&writeback_test_retry_failing, __ATOMIC_RELAXED) &&
	       __atomic_load_n(&m->wb_failing, __ATOMIC_ACQUIRE);
}

/* @pending: pages of the current run, locked, not yet cleaned. A background
 * pass's target ends it only between runs (no run pending, or the run full):
 * a run once begun grows to WB_RUN pages where the pages allow (the kernel's
 * background writeback works in chunks likewise). Checked page by page, a
 * pass that keeps the dirty count at its target while a writer dirties more
 * would send runs of one or two pages. */
bool wbc_done(const struct wb_control *wbc, struct mm_cache *c, unsigned pending)
{
	if (wbc->written + (long)pending >= wbc->nr_to_write)
		return true;
	if (wbc->wb) {
		if (__atomic_load_n(&wbc->wb->stop, __ATOMIC_ACQUIRE))
			return true;
		if ((!pending || pending >= WB_RUN || unlikely(writeback_test_target_per_page)) &&
		    READ_ONCE(c->nr_dirty) <= wbc->target + pending)
			return true;
	}
	return false;
}

/* Test switch: write_run sends each page to the store on its own (one
 * store write per page, the old cost) instead of one per segment. */
TEST_SWITCH(writeback_test_write_per_page);

/* Test switch: the pages of a run after the first are tracked by the lock
 * validator one by one (trylock_page), not as one run lock: a run longer
 * than the validator's held-lock stack (48) overflows it. */
TEST_SWITCH(writeback_test_track_run_pages);

/*
 * A run: pages[0] locked with lock_page, the next ones (consecutive indices)
 * joined by trylock only; with @untracked (the default), their locks are the
 * run's (trylock_page_run), which the validator holds as one page lock from
 * the first join (@held) until write_run has unlocked every page.
 */
struct wb_run {
	struct page *pages[WB_RUN];
	unsigned nr;
	bool untracked; /* pages[1..] locked with trylock_page_run */
	bool held;	/* page_run_acquire done, page_run_release due */
};

/* Locks @page, the run's next page, without waiting; true if it is ours. */
static bool run_trylock(struct wb_run *run, struct page *page)
{
	if (!run->untracked)
		return trylock_page(page);
	if (!run->held) {
		page_run_acquire(run);
		run->held = true;
	}
	return trylock_page_run(page);
}

/* Unlocks @page, locked by run_trylock if @member, else by lock_page. */
static void run_unlock(struct wb_run *run, struct page *page, bool member)
{
	if (member && run->untracked)
		unlock_page_run(page);
	else
		unlock_page(page);
}

/*
 * Writes the run @run of locked dirty pages (consecutive indices, none
 * under writeback): write-protects the whole run in every view at once
 * (one operation per view instead of one per page and view), starts the
 * writeback of every page (writepage_begin), then sends the run to the store
 * as few writes as it allows: the frames of consecutive pages are
 * contiguous in the mapping's frame view, so each segment of whole pages
 * below EOF is one store write (a bio of several pages in the kernel's
 * writepages); the EOF page, which is written only up to i_size, is a
 * write of its own (an O_DIRECT store then still takes the aligned part).
 * A failed store write fails every page of its segment, as a failed bio
 * does: they stay dirty with PG_error (see the top of this file).
 *
 * Every page stays locked from its write-protection until writepage_begin
 * has cleared its dirty bit, so a store through a view in between waits in
 * page_mkwrite for the page lock and re-dirties the page after; stores
 * before the write-protection are in the page when it is copied. The run's
 * validator entry goes once every page is unlocked, before any store write.
 * Empties the run; true if writing must stop (stop_on_error).
 */
static bool write_run(struct address_space *m, struct wb_run *run, struct wb_control *wbc)
{
	struct page **pages = run->pages;
	size_t len[WB_RUN];
	bool started[WB_RUN];
	unsigned i, j, n = run->nr;
	bool stop = false;

	if (n) {
		mm_mkclean_range(m, pages[0]->index, n);
		for (i = 0; i < n; i++)
			started[i] = writepage_begin(pages[i], false, i && run->untracked, &len[i]);
	}
	run->nr = 0;
	if (run->held) {
		page_run_release(run);
		run->held = false;
	}

	for (i = 0; i < n; i = j) {
		const char *base = page_address(m, pages[i]);
		size_t bytes = len[i];
		int ret;

		j = i + 1;
		if (!started[i]) {
			put_page(pages[i]);
			continue;
		}
		/* Whole pages extend the segment; the EOF page ends it. */
		while (bytes == (j - i) * PAGE_SIZE && j < n && started[j] && len[j] == PAGE_SIZE &&
		       !writeback_test_write_per_page &&
		       page_address(m, pages[j]) == base + bytes) {
			bytes += len[j];
			j++;
		}
		if (stop) { /* dirty again, not tried */
			for (unsigned k = i; k < j; k++) {
				writepage_cancel(pages[k]);
				put_page(pages[k]);
			}
			continue;
		}
		ret = wb_store_write(m, base, bytes, (int64_t)(pages[i]->index << PAGE_SHIFT));
		for (unsigned k = i; k < j; k++) {
			writepage_end(pages[k], ret);
			put_page(pages[k]);
		}
		if (ret && !wbc->err)
			wbc->err = ret;
		if (!ret)
			wbc->written += j - i;
		if (ret && wbc->stop_on_error)
			stop = true;
	}
	return stop;
}

/* Can @page (unlocked) join @run? */
static bool run_extends(const struct wb_run *run, const struct page *page)
{
	return run->nr && run->nr < WB_RUN && !writeback_test_mkclean_per_page &&
	       page->index == run->pages[run->nr - 1]->index + 1;
}

/*
 * Writes the dirty pages of [start, end] (indices) in index order, in runs
 * of consecutive pages (write_run). Only the first page of a run is locked
 * with lock_page, holding no other page lock; the next ones join by
 * trylock (run_trylock), so no one waits for a page lock (or for writeback)
 * while holding the locks of a run: a page that is busy ends the run, which
 * is written first.
 */
void write_cache_pages(struct address_space *m, pgoff_t start, pgoff_t end, struct wb_control *wbc)
{
	struct page *pages[WB_BATCH];
	struct wb_run run = {.nr = 0};
	pgoff_t index = start;
	unsigned n, i;

	do {
		n = find_get_pages_range_tag(&m->i_pages, &index, end, PAGECACHE_TAG_DIRTY, pages,
					     WB_BATCH);
		for (i = 0; i < n; i++) {
			struct page *page = pages[i];
			bool member;

			if (wbc_done(wbc, m->cache, run.nr)) {
				for (; i < n; i++)
					put_page(pages[i]);
				(void)write_run(m, &run, wbc);
				return;
			}
			member = run_extends(&run, page) && run_trylock(&run, page);
			if (!member) {
				if (write_run(m, &run, wbc))
					goto stop;
				lock_page(page);
			}
			if (page->mapping != m || !PageDirty(page))
				goto skip;
			if (PageWriteback(page)) {
				if (!wbc->sync)
					goto skip;
				if (run.nr) { /* no waiting with the run locked */
					run_unlock(&run, page, member);
					member = false;
					if (write_run(m, &run, wbc))
						goto stop;
					lock_page(page);
					if (page->mapping != m || !PageDirty(page))
						goto skip;
				}
				wait_on_page_writeback(page);
				if (!PageDirty(page))
					goto skip;
			}
			if (!run.nr)
				run.untracked = !writeback_test_track_run_pages;
			run.pages[run.nr++] = page;
			continue;
		skip:
			run_unlock(&run, page, member);
			put_page(page);
		}
	} while (n == WB_BATCH && index <= end);
	(void)write_run(m, &run, wbc);
	return;
stop:
	for (; i < n; i++)
		put_page(pages[i]);
}

static void byte_range_to_index(int64_t start, int64_t end, pgoff_t *first, pgoff_t *last)
{
	*first = start > 0 ? (pgoff_t)start >> PAGE_SHIFT : 0;
	*last = (pgoff_t)end >> PAGE_SHIFT;
	if (*last > PAGE_INDEX_MAX)
		*last = PAGE_INDEX_MAX;
}

int filemap_fdatawrite_range(struct address_space *m, int64_t start, int64_t end)
{
	struct wb_control wbc = {.sync = true, .nr_to_write = LONG_MAX};
	pgoff_t first, last;

	if (end < start || end < 0)
		return 0;
	byte_range_to_index(start, end, &first, &last);
	write_cache_pages(m, first, last, &wbc);
	return wbc.err;
}

/*
 * Waits for the writeback of every page of the range that is under
 * writeback when the walk reaches it. Returns an error if one of those
 * writebacks failed (the page came out with PG_error; its errno is the
 * mapping's latest recorded error), else 0. Unlike the kernel's AS_EIO
 * flags this consumes nothing: fsync's once-per-file report is
 * file_check_and_advance_wb_err (errseq); a failed page stays dirty with
 * PG_error until a later writeback of it succeeds.
 */
int filemap_fdatawait_range(struct address_space *m, int64_t start, int64_t end)
{
	struct page *pages[WB_BATCH];
	pgoff_t index, last;
	unsigned n, i;
	int ret = 0;

	if (end < start || end < 0)
		return 0;
	byte_range_to_index(start, end, &index, &last);
	do {
		n = find_get_pages_range_tag(&m->i_pages, &index, last, PAGECACHE_TAG_WRITEBACK,
					     pages, WB_BATCH);
		for (i = 0; i < n; i++) {
			wait_on_page_writeback(pages[i]);
			if (PageError(pages[i]) && !ret) {
				ret = errseq_check(&m->wb_err, 0);
				if (!ret)
					ret = -EIO;
			}
			put_page(pages[i]);
		}
	} while (n == WB_BATCH && index <= last);
	return ret;
}

int filemap_write_and_wait_range(struct address_space *m, int64_t start, int64_t end)
{
	int err = filemap_fdatawrite_range(m, start, end);
	int err2 = filemap_fdatawait_range(m, start, end);

	return err ? err : err2;
}

/* SPDX-License-Identifier: MIT */
/*
 * writeback_pass.c - who calls write_cache_pages (writeback.c) besides
 * fsync: writers over the dirty limit (balance_dirty_pages: the kernel's
 * mm/page-writeback.c throttling), and the background writeback thread's
 * passes over the cache's list of mappings (fs/fs-writeback.c; the thread
 * is writeback_thread.c). The error back-off and the mapping lifetime rules
 * they follow are at the top of writeback.c ("Persistent errors", "Mapping
 * lifetime").
 *
 * Locks: mappings_lock (leaf) guards the mapping list and the thread's
 * cursor (wb->cur); the write loops run with nothing of this file held,
 * and so do the waits (throttling, a mapping's teardown).
 */
#include <limits.h>

#include "kernel/futex.h"
#include "kernel/sched.h"
#include "mm/internal.h"
#include "mm/writeback_thread.h"

/* ---- throttling ---- */

static void wb_kick(struct bdi_writeback *wb)
{
	if (__atomic_load_n(&wb->kicked, __ATOMIC_RELAXED))
		return;
	if (!__atomic_exchange_n(&wb->kicked, 1, __ATOMIC_ACQ_REL))
		wake_up(&wb->wait);
}

/* Sleeps until the cache is under the dirty limit, a background pass ends
 * after @seen_passes, or writeback stops. */
static void wb_wait_throttled(struct mm_cache *c, struct bdi_writeback *wb, uint64_t seen_passes)
{
	__atomic_fetch_add(&wb->nr_throttled, 1, __ATOMIC_SEQ_CST);
	wait_event(&wb->throttle,
		   dirty_and_writeback(c) <= c->dirty_limit ||
		       __atomic_load_n(&wb->passes, __ATOMIC_ACQUIRE) != seen_passes ||
		       __atomic_load_n(&wb->stop, __ATOMIC_ACQUIRE),
		   "balance_dirty_pages");
	__atomic_fetch_sub(&wb->nr_throttled, 1, __ATOMIC_RELAXED);
}

/* A throttled writer of a failing mapping: the error, except that every
 * WB_FAIL_PROBE-th call writes one page to see whether the store recovered
 * (0: it did, or nothing of the mapping is dirty any more). */
static int wb_failing_probe(struct address_space *m)
{
	int err = __atomic_load_n(&m->wb_failing, __ATOMIC_ACQUIRE);

	if (__atomic_fetch_add(&m->wb_fail_skips, 1, __ATOMIC_RELAXED) % WB_FAIL_PROBE)
		return err;
	struct wb_control wbc = {.sync = false, .nr_to_write = 1, .stop_on_error = true};
	write_cache_pages(m, 0, PAGE_INDEX_MAX, &wbc);
	if (wbc.err)
		return wbc.err;
	if (!wbc.written) /* nothing dirty left: nothing fails */
		__atomic_store_n(&m->wb_failing, 0, __ATOMIC_RELEASE);
	return 0;
}

int balance_dirty_pages(struct address_space *m, bool nowait)
{
	struct mm_cache *c = m->cache;
	struct bdi_writeback *wb = cache_wb(c);
	unsigned long nr = dirty_and_writeback(c);
	bool storm = __atomic_load_n(&writeback_test_retry_failing, __ATOMIC_RELAXED);
	int err;

	if (nr <= c->dirty_background || !wb)
		return 0;
	wb_kick(wb);
	if (nr <= c->dirty_limit)
		return 0;
	if (mapping_wb_failing(m) && (err = wb_failing_probe(m)))
		return err;
	if (nowait)
		return 0;

	__atomic_fetch_add(&c->stats.throttled_writes, 1, __ATOMIC_RELAXED);
	for (;;) {
		nr = dirty_and_writeback(c);
		if (nr <= c->dirty_limit || __atomic_load_n(&wb->stop, __ATOMIC_ACQUIRE))
			return 0;
		if (READ_ONCE(m->nrdirty)) {
			/* Write back some of our own dirty pages: the excess, in
			 * batches the size of a background chunk. */
			struct wb_control wbc = {
			    .sync = false,
			    .nr_to_write = (long)min_t(unsigned long, nr - c->dirty_limit + 8, 64),
			    .stop_on_error = !storm,
			};
			write_cache_pages(m, 0, PAGE_INDEX_MAX, &wbc);
			if (wbc.err) /* the store fails: waiting would not help */
				return storm ? 0 : wbc.err;
			if (wbc.written)
				continue;
		}
		/* Others' pages (or ours under writeback): wait for the thread. */
		uint64_t seen = __atomic_load_n(&wb->passes, __ATOMIC_ACQUIRE);
		wb_kick(wb);
		wb_wait_throttled(c, wb, seen);
		if (dirty_and_writeback(c) > c->dirty_limit &&
		    __atomic_load_n(&wb->passes, __ATOMIC_ACQUIRE) != seen &&
		    __atomic_load_n(&wb->last_pass_written, __ATOMIC_ACQUIRE) == 0)
			/* a whole pass cleaned nothing: errors (the writer must
			 * not grow the cache) or busy pages (it may go on) */
			return storm ? 0 : __atomic_load_n(&c->wb_last_err, __ATOMIC_ACQUIRE);
	}
}

/* ---- the list of mappings ---- */

void mm_cache_add_mapping(struct mm_cache *c, struct address_space *m)
{
	mutex_lock(&c->mappings_lock);
	list_add_tail(&m->cache_link, &c->mappings);
	mutex_unlock(&c->mappings_lock);
}

void mm_cache_del_mapping(struct mm_cache *c, struct address_space *m)
{
	struct bdi_writeback *wb = cache_wb(c);

	mutex_lock(&c->mappings_lock);
	list_del_init(&m->cache_link);
	mutex_unlock(&c->mappings_lock);
	/* The thread cannot pick it any more; wait until it has let go. */
	if (wb) {
		__atomic_fetch_add(&wb->nr_cur_waiters, 1, __ATOMIC_SEQ_CST);
		wait_event(&wb->cur_wait, smp_load_acquire(&wb->cur) != m, "writeback_mapping");
		__atomic_fetch_sub(&wb->nr_cur_waiters, 1, __ATOMIC_RELAXED);
	}
}

/* ---- background passes (the thread: writeback_thread.c) ---- */

/* A periodic pass takes mappings dirty for at least dirty_expire_ns at @now
 * (or of unknown age); *next gets the earliest time one it left expires. */
static bool mapping_expired(struct mm_cache *c, struct address_space *m, uint64_t now,
			    uint64_t *next)
{
	uint64_t when = __atomic_load_n(&m->dirtied_when, __ATOMIC_RELAXED);

	if (!when || (when <= now && now - when >= c->dirty_expire_ns))
		return true;
	if (when + c->dirty_expire_ns < *next)
		*next = when + c->dirty_expire_ns;
	return false;
}

/*
 * One pass of the background thread: each mapping at most once, round-robin from where the last
 * pass left off, until nr_dirty is at or below @target (checked between runs, wbc_done) or
 * writeback stops; a mapping stops at its
 * first failed page, and a failing mapping is tried only by a @full (periodic) pass; a periodic
 * pass with @next not NULL only takes expired mappings and sets *next as mapping_expired says.
 * Returns the pages cleaned.
 */
long wb_do_pass(struct bdi_writeback *wb, unsigned long target, bool full, uint64_t *next)
{
	struct mm_cache *c = wb->cache;
	unsigned long nr_mappings = 0;
	uint64_t now = ktime_get_ns();
	struct list_head *pos;
	long written = 0;

	mutex_lock(&c->mappings_lock);
	list_for_each (pos, &c->mappings)
		nr_mappings++;
	mutex_unlock(&c->mappings_lock);

	for (unsigned long i = 0; i < nr_mappings; i++) {
		struct wb_control wbc = {.sync = false,
					 .nr_to_write = LONG_MAX,
					 .wb = wb,
					 .target = target,
					 .stop_on_error = true};
		struct address_space *m;

		if (wbc_done(&wbc, c, 0))
			break;
		mutex_lock(&c->mappings_lock);
		if (list_empty(&c->mappings)) {
			mutex_unlock(&c->mappings_lock);
			break;
		}
		m = list_first_entry(&c->mappings, struct address_space, cache_link);
		list_move_tail(&m->cache_link, &c->mappings);
		smp_store_release(&wb->cur, m);
		mutex_unlock(&c->mappings_lock);

		if (READ_ONCE(m->nrdirty) && (full || !mapping_wb_failing(m)) &&
		    (!next || mapping_expired(c, m, now, next)))
			write_cache_pages(m, 0, PAGE_INDEX_MAX, &wbc);
		written += wbc.written;

		mutex_lock(&c->mappings_lock);
		smp_store_release(&wb->cur, NULL);
		mutex_unlock(&c->mappings_lock);
		smp_mb();
		if (__atomic_load_n(&wb->nr_cur_waiters, __ATOMIC_RELAXED))
			wake_up_all(&wb->cur_wait);
	}
	return written;
}

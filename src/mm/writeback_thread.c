/* SPDX-License-Identifier: MIT */
/*
 * writeback_thread.c - the background writeback thread of a cache (the
 * kernel's wb_workfn and wb_check_old_data_flush): its idle sleep, its loop
 * of periodic and kicked passes (wb_do_pass, writeback.c), and its start and
 * stop with the cache.
 *
 * Locks: the thread holds no lock of its own between passes; it sleeps on
 * wb->wait with nothing held, and a pass takes mappings_lock (leaf) and page
 * locks as writeback.c says. writeback_stop joins the thread with no lock
 * held.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "kernel/futex.h"
#include "kernel/sched.h"
#include "mm/writeback_thread.h"

/* Test switch: the periodic pass ignores the dirty age and writes back only
 * above dirty_background, as a kicked pass does (dirty data below it then
 * stays in the cache until an fsync: a crash loses it). */
TEST_SWITCH(writeback_test_no_expire);

/* Sleeps until kicked, stopped or @deadline. Returns true on the deadline. */
static bool wb_sleep(struct bdi_writeback *wb, const struct timespec *deadline)
{
	struct wait_queue_entry we;
	bool expired = false;

	init_wait_entry(&we, 0);
	for (;;) {
		prepare_to_wait(&wb->wait, &we);
		if (__atomic_load_n(&wb->stop, __ATOMIC_ACQUIRE) ||
		    __atomic_load_n(&wb->kicked, __ATOMIC_ACQUIRE))
			break;
		if (wait_entry_sleep(&we, deadline, false, "writeback_idle", wb) == -ETIMEDOUT) {
			expired = true;
			break;
		}
	}
	finish_wait(&wb->wait, &we);
	return expired;
}

static void deadline_after_ms(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	timespec_add_ns(ts, (uint64_t)ms * 1000000u);
}

static bool deadline_passed(const struct timespec *ts)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > ts->tv_sec || (now.tv_sec == ts->tv_sec && now.tv_nsec >= ts->tv_nsec);
}

/*
 * Every writeback_interval_ms (sooner when a mapping's data expires before
 * that) the thread writes back the mappings whose data has been dirty for
 * dirty_expire_ms (the kernel's wb_check_old_data_flush: dirty_writeback and
 * dirty_expire; expire 0 writes everything dirty); when kicked (nr_dirty
 * above dirty_background) it writes until nr_dirty is at or below
 * dirty_background. Data dirtied at t is on the store by about
 * t + max(dirty_expire_ms, writeback_interval_ms).
 */
static void *wb_thread_fn(void *arg)
{
	struct bdi_writeback *wb = arg;
	struct mm_cache *c = wb->cache;
	struct timespec periodic;

	pthread_setname_np(pthread_self(), WB_THREAD_NAME);
	current->lock_sink = &c->lock_stats;
	deadline_after_ms(&periodic, c->writeback_interval_ms);
	for (;;) {
		bool full = wb_sleep(wb, &periodic);
		uint64_t next = UINT64_MAX;
		long written;

		if (__atomic_load_n(&wb->stop, __ATOMIC_ACQUIRE))
			break;
		__atomic_store_n(&wb->kicked, 0, __ATOMIC_RELEASE);
		if (!full && deadline_passed(&periodic))
			full = true;
		if (full && !writeback_test_no_expire)
			written = wb_do_pass(wb, 0, true, &next);
		else
			written = wb_do_pass(wb, c->dirty_background, full, NULL);
		if (full) {
			deadline_after_ms(&periodic, c->writeback_interval_ms);
			uint64_t at =
			    (uint64_t)periodic.tv_sec * 1000000000u + (uint64_t)periodic.tv_nsec;
			if (next < at) { /* a mapping expires before the next period */
				periodic.tv_sec = (time_t)(next / 1000000000u);
				periodic.tv_nsec = (long)(next % 1000000000u);
			}
		}

		__atomic_store_n(&wb->last_pass_written, (uint64_t)written, __ATOMIC_RELEASE);
		__atomic_fetch_add(&wb->passes, 1, __ATOMIC_ACQ_REL);
		wake_up_all(&wb->throttle);
	}
	return NULL;
}

int writeback_start(struct mm_cache *c)
{
	struct bdi_writeback *wb = calloc(1, sizeof(*wb));
	int ret;

	if (!wb)
		return -ENOMEM;
	wb->cache = c;
	init_waitqueue_head(&wb->wait);
	init_waitqueue_head(&wb->throttle);
	init_waitqueue_head(&wb->cur_wait);
	c->wb_thread = wb;
	ret = pthread_create(&wb->thread, NULL, wb_thread_fn, wb);
	if (ret) {
		c->wb_thread = NULL;
		free(wb);
		return -ret;
	}
	/* Named by the thread itself too (its task takes the name at creation);
	 * here so that it is named when this returns. */
	pthread_setname_np(wb->thread, WB_THREAD_NAME);
	return 0;
}

void writeback_stop(struct mm_cache *c)
{
	struct bdi_writeback *wb = cache_wb(c);

	if (!wb)
		return;
	__atomic_store_n(&wb->stop, 1, __ATOMIC_RELEASE);
	wake_up_all(&wb->wait);
	wake_up_all(&wb->throttle);
	pthread_join(wb->thread, NULL);
	c->wb_thread = NULL;
	free(wb);
}

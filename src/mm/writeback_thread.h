/* SPDX-License-Identifier: MIT */
/*
 * writeback_thread.h - struct bdi_writeback, the background writeback
 * thread of one cache, shared by writeback.c (dirty accounting, throttling,
 * the passes) and writeback_thread.c (the thread's loop, start and stop).
 * Private to src/mm.
 *
 * Locks: the fields are atomics or wait queues; cur is written under
 * mappings_lock (leaf).
 */
#ifndef PC_MM_WRITEBACK_THREAD_H
#define PC_MM_WRITEBACK_THREAD_H

#include <pthread.h>
#include <stdint.h>

#include "mm/internal.h"

#define WB_THREAD_NAME "pc-writeback"

/* The background writeback thread of one cache (the kernel's bdi_writeback). */
struct bdi_writeback {
	struct mm_cache *cache;
	pthread_t thread;
	struct wait_queue_head wait;	 /* the thread sleeps here when idle */
	struct wait_queue_head throttle; /* throttled writers: writeback progress wakes */
	struct wait_queue_head cur_wait; /* mm_cache_del_mapping: waits for cur to move on */
	struct address_space *cur;	 /* written under mappings_lock (release), read acquire */
	uint32_t kicked;		 /* atomic: run a background pass now */
	uint32_t stop;			 /* atomic: writeback_stop() */
	uint64_t passes;		 /* atomic: passes finished */
	uint64_t last_pass_written;	 /* atomic: pages the last pass cleaned */
	/* Sleepers on throttle / cur_wait, counted so that wakers skip the
	 * queue lock when nobody waits (wq_has_sleeper reads the list head
	 * racily for ThreadSanitizer). Waiter: count++, then wait_event (a
	 * full barrier after queueing); waker: change state, smp_mb, test. */
	uint32_t nr_throttled;
	uint32_t nr_cur_waiters;
};

static inline struct bdi_writeback *cache_wb(struct mm_cache *c)
{
	return (struct bdi_writeback *)c->wb_thread;
}

/*
 * One pass (writeback.c): each mapping at most once, round-robin from where
 * the last pass left off, until nr_dirty is at or below @target or
 * writeback stops. See writeback.c. Called by the thread only, no lock held.
 */
long wb_do_pass(struct bdi_writeback *wb, unsigned long target, bool full, uint64_t *next);

#endif

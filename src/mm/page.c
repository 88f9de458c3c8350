/* SPDX-License-Identifier: MIT */
/*
 * page.c - struct page lifetime (allocation, RCU-deferred free on the last
 * put), the page lock and writeback waits, and the per-thread RCU glue.
 *
 * Locks: the page lock is a bit lock in page->flags, validated as one class
 * "page_lock" (every page an instance of it), with scheduling points like the
 * locks of src/kernel; the later pages of a write-back run are one held
 * instance together (trylock_page_run, page.h). Sleeps go through the
 * kernel layer's hashed bit waits (their raw spinlocks are leaves). Takes
 * no other lock; expects none in particular (callers follow
 * docs/locking.md: page lock inside the invalidate lock, outside the
 * index/LRU/store leaf locks).
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <urcu.h>

#include "kernel/futex.h"
#include "kernel/lockdep.h"
#include "kernel/lockstat.h"
#include "kernel/sched.h"
#include "kernel/task.h"
#include "mm/page.h"

_Static_assert(sizeof(struct mm_rcu_head) == sizeof(struct rcu_head),
	       "struct mm_rcu_head must hold liburcu's struct rcu_head");

struct lock_class_key page_lock_key = {.name = "page_lock"};

#if PC_LOCKDEP
/* One class for every page lock; the page is the instance. The bit lock does
 * not annotate itself for TSan (its atomics carry the ordering). */
static struct lockdep_map page_lock_map = {.key = &page_lock_key, .name = "page_lock"};
#endif

#if PC_HAVE_TSAN
char mm_rcu_tsan_token;
#endif

/* ---- RCU glue ---- */

static __thread_hot bool rcu_registered;
static pthread_key_t rcu_key;
static pthread_once_t rcu_key_once = PTHREAD_ONCE_INIT;

static void rcu_thread_exit(void *arg)
{
	if (rcu_registered) {
		rcu_unregister_thread();
		rcu_registered = false;
	}
}

/*
 * fork(): liburcu's call_rcu worker thread is not in the child, so the
 * child's first rcu_barrier (an engine's close) would wait for it for good.
 * liburcu's fork hooks pause the workers around fork() and, in the child,
 * reset its call_rcu state, whose worker is made again when next needed; they
 * are registered with the first thread that enters RCU.
 */
static void rcu_key_init(void)
{
	if (pthread_key_create(&rcu_key, rcu_thread_exit) ||
	    pthread_atfork(call_rcu_before_fork, call_rcu_after_fork_parent,
			   call_rcu_after_fork_child))
		abort();
}

static __noinline void mm_rcu_register_slow(void)
{
	pthread_once(&rcu_key_once, rcu_key_init);
	rcu_register_thread();
	rcu_registered = true;
	pthread_setspecific(rcu_key, (void *)1);
}

void mm_rcu_thread_enter(void)
{
	if (likely(rcu_registered))
		return;
	mm_rcu_register_slow();
}

#if PC_HAVE_TSAN
/*
 * liburcu's rcu_barrier() hands a calloc'ed block to its callback thread
 * through synchronisation TSan cannot see (a false report). This layer queues
 * every callback on the default call_rcu worker, which runs them in order: a
 * marker callback that runs has every earlier one behind it.
 */
struct rcu_marker {
	struct rcu_head head;
	uint32_t done;
};

static void rcu_marker_cb(struct rcu_head *head)
{
	struct rcu_marker *m = container_of(head, struct rcu_marker, head);

	mm_rcu_tsan_acquire();
	__atomic_store_n(&m->done, 1, __ATOMIC_RELEASE);
	futex_wake(&m->done, 1);
}

void mm_rcu_barrier(void)
{
	struct rcu_marker m = {.done = 0};

	mm_rcu_thread_enter();
	mm_rcu_tsan_release();
	call_rcu(&m.head, rcu_marker_cb);
	while (!__atomic_load_n(&m.done, __ATOMIC_ACQUIRE))
		futex_wait(&m.done, 0, NULL);
}
#else
void mm_rcu_barrier(void)
{
	mm_rcu_thread_enter();
	rcu_barrier();
}
#endif

/* ---- allocation ---- */

struct page *page_alloc(void)
{
	struct page *page = page_slab_alloc();

	if (!page)
		return NULL;
	page->_refcount = 1;
	INIT_LIST_HEAD(&page->lru);
	return page;
}

static void page_free_rcu(struct rcu_head *head)
{
	struct page *page = container_of((struct mm_rcu_head *)head, struct page, rcu);

	mm_rcu_tsan_acquire();
	page_slab_free(page);
}

void __put_page(struct page *page)
{
	/* The LRU and the page index hold references: neither can hold it now. */
	assert(page->lru.next == &page->lru);
	assert(!PageLocked(page));
	assert(READ_ONCE(page->mapping) == NULL);
	mm_rcu_thread_enter();
	mm_rcu_tsan_release();
	call_rcu((struct rcu_head *)&page->rcu, page_free_rcu);
}

/* ---- page lock ---- */

static void page_lock_contended(uint64_t t0)
{
	struct task *t = current;
	uint64_t ns = ktime_get_ns() - t0;

	lockstat_contended(&page_lock_key, 0, ns);
	t->stats.lock_waits++;
	t->stats.lock_wait_ns += ns;
}

static int lock_page_common(struct page *page, unsigned flags, struct src_loc loc)
{
	int ret = 0;

#if PC_LOCKDEP
	lock_acquire(&page_lock_map, page, 0, LM_EXCL, false, loc);
#endif
	sched_point(SP_ACQUIRE, page, "lock_page");
	if (unlikely(test_and_set_bit_lock(PG_locked, &page->flags))) {
		uint64_t t0 = ktime_get_ns();
		ret =
		    wait_on_bit_lock(&page->flags, PG_locked, PG_waiters, flags, NULL, "page_lock");
		page_lock_contended(t0);
		if (ret) {
#if PC_LOCKDEP
			lock_release(&page_lock_map, page, loc);
#endif
			return ret;
		}
	}
	lock_acquired(page);
	__atomic_fetch_add(&current->progress, 1, __ATOMIC_RELAXED);
	return 0;
}

void __lock_page(struct page *page, struct src_loc loc)
{
	lock_page_common(page, 0, loc);
}

int __lock_page_killable(struct page *page, struct src_loc loc)
{
	return lock_page_common(page, BITWAIT_KILLABLE, loc);
}

bool __trylock_page(struct page *page, struct src_loc loc)
{
	sched_point(SP_ACQUIRE, page, "trylock_page");
	if (test_and_set_bit_lock(PG_locked, &page->flags))
		return false;
#if PC_LOCKDEP
	lock_acquire(&page_lock_map, page, 0, LM_EXCL, true, loc);
#endif
	return true;
}

void __unlock_page(struct page *page, struct src_loc loc)
{
	assert(PageLocked(page));
#if PC_LOCKDEP
	lock_release(&page_lock_map, page, loc);
#endif
	clear_bit_unlock_wake(&page->flags, PG_locked, PG_waiters);
	sched_point(SP_RELEASE, page, "unlock_page");
}

void page_lock_to_io(struct page *page)
{
	assert(PageLocked(page));
#if PC_LOCKDEP
	lock_release(&page_lock_map, page, THIS_LOC);
#endif
}

void unlock_page_io(struct page *page)
{
	assert(PageLocked(page));
	clear_bit_unlock_wake(&page->flags, PG_locked, PG_waiters);
	sched_point(SP_RELEASE, page, "unlock_page");
}

/* ---- write-back runs (page.h) ---- */

void __page_run_acquire(const void *run, struct src_loc loc)
{
#if PC_LOCKDEP
	if (!lockdep_holds_class(&page_lock_key))
		lockdep_fail_assert("a page lock (the first of the run)", loc);
	lock_acquire(&page_lock_map, run, 0, LM_EXCL, true, loc);
#endif
}

void __page_run_release(const void *run, struct src_loc loc)
{
#if PC_LOCKDEP
	lock_release(&page_lock_map, run, loc);
#endif
}

bool __trylock_page_run(struct page *page, struct src_loc loc)
{
#if PC_LOCKDEP
	if (!lockdep_holds_class(&page_lock_key))
		lockdep_fail_assert("the page run (page_run_acquire)", loc);
#endif
	sched_point(SP_ACQUIRE, page, "trylock_page");
	return !test_and_set_bit_lock(PG_locked, &page->flags);
}

void __unlock_page_run(struct page *page, struct src_loc loc)
{
	assert(PageLocked(page));
#if PC_LOCKDEP
	if (!lockdep_holds_class(&page_lock_key))
		lockdep_fail_assert("the page run (page_run_acquire)", loc);
#endif
	clear_bit_unlock_wake(&page->flags, PG_locked, PG_waiters);
	sched_point(SP_RELEASE, page, "unlock_page");
}

void wait_on_page_locked(struct page *page)
{
	wait_on_bit(&page->flags, PG_locked, PG_waiters, 0, NULL, "page_locked");
}

/* ---- writeback ---- */

void end_page_writeback(struct page *page)
{
	assert(PageWriteback(page));
	clear_bit_unlock_wake(&page->flags, PG_writeback, PG_waiters);
	sched_point(SP_WAKE, page, "end_page_writeback");
}

void wait_on_page_writeback(struct page *page)
{
	wait_on_bit(&page->flags, PG_writeback, PG_waiters, 0, NULL, "page_writeback");
}

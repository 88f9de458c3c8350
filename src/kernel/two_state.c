/* SPDX-License-Identifier: MIT */
/*
 * two_state.c - the ADD/BLOCK lock. Fast path: one compare-and-swap on the
 * counter. Slow path: wait_event on the lock's queue until the trylock
 * succeeds; the last holder of a state wakes everyone when the count reaches
 * zero. Takes only the queue's raw spinlock.
 */
#include "kernel/futex.h"
#include "kernel/sched.h"
#include "kernel/tsan.h"
#include "kernel/two_state.h"

void __two_state_init(struct two_state_lock *l, const char *name, struct lock_class_key *key)
{
	l->v = 0;
	init_waitqueue_head(&l->wait);
	l->key = key;
#if PC_LOCKDEP
	lockdep_init_map(&l->dep_map, name, key);
	l->dep_map.tsan_annotated = PC_HAVE_TSAN;
#endif
	tsan_create(l, 0);
}

void two_state_destroy(struct two_state_lock *l)
{
	tsan_destroy(l);
}

static bool try_state(struct two_state_lock *l, enum two_state s)
{
	long i = s == TS_BLOCK ? 1 : -1;
	long old = __atomic_load_n(&l->v, __ATOMIC_RELAXED);

	do {
		if (i > 0 ? old < 0 : old > 0)
			return false;
	} while (!__atomic_compare_exchange_n(&l->v, &old, old + i, true, __ATOMIC_ACQUIRE,
					      __ATOMIC_RELAXED));
	return true;
}

static const char *state_name(enum two_state s)
{
	return s == TS_BLOCK ? "invalidate lock (BLOCK)" : "invalidate lock (ADD)";
}

void __two_state_lock(struct two_state_lock *l, enum two_state s, unsigned subclass,
		      struct src_loc loc)
{
#if PC_LOCKDEP
	lock_acquire(&l->dep_map, l, subclass, s == TS_BLOCK ? LM_BLOCK : LM_ADD, false, loc);
#endif
	sched_point(SP_ACQUIRE, l, "two_state_lock");
	tsan_pre_lock(l, TSAN_READ);
	if (unlikely(!try_state(l, s))) {
		struct task *t = current;
		uint64_t t0 = ktime_get_ns();
		bool diverted = tsan_divert_begin(l, TSAN_READ);
		wait_event(&l->wait, try_state(l, s), state_name(s));
		tsan_divert_end(l, TSAN_READ, diverted);
		uint64_t ns = ktime_get_ns() - t0;
		lockstat_contended(l->key, s, ns);
		t->stats.lock_waits++;
		t->stats.lock_wait_ns += ns;
		lock_sink_account(t, ns);
	}
	tsan_post_lock(l, TSAN_READ);
	lock_acquired(l);
	__atomic_fetch_add(&current->progress, 1, __ATOMIC_RELAXED);
}

bool __two_state_trylock(struct two_state_lock *l, enum two_state s, struct src_loc loc)
{
	sched_point(SP_ACQUIRE, l, "two_state_trylock");
	tsan_pre_lock(l, TSAN_READ | TSAN_TRY);
	if (!try_state(l, s)) {
		tsan_post_lock(l, TSAN_READ | TSAN_TRY | TSAN_TRYFAIL);
		return false;
	}
	tsan_post_lock(l, TSAN_READ | TSAN_TRY);
#if PC_LOCKDEP
	lock_acquire(&l->dep_map, l, 0, s == TS_BLOCK ? LM_BLOCK : LM_ADD, true, loc);
#endif
	return true;
}

void __two_state_unlock(struct two_state_lock *l, enum two_state s, struct src_loc loc)
{
	long i = s == TS_BLOCK ? 1 : -1;

#if PC_LOCKDEP
	lock_release(&l->dep_map, l, loc);
#endif
	tsan_pre_unlock(l, TSAN_READ);
	long v = __atomic_sub_fetch(&l->v, i, __ATOMIC_SEQ_CST);
	tsan_post_unlock(l, TSAN_READ);
	if (v == 0 && wq_has_sleeper(&l->wait))
		wake_up_all(&l->wait); /* after post_unlock, so that TSan sees it (tsan.h) */
	sched_point(SP_RELEASE, l, "two_state_unlock");
}

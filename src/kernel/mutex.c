/* SPDX-License-Identifier: MIT */
/*
 * mutex.c - the leaf mutex: bit 0 of a word is the lock, bit 1 says someone
 * sleeps. Slow path: a short spin (free-running only), then an exclusive bit
 * wait. Takes no other lock.
 */
#include "kernel/futex.h"
#include "kernel/mutex.h"
#include "kernel/sched.h"
#include "kernel/tsan.h"
#include "kernel/wait.h"

#define MUTEX_LOCKED  0
#define MUTEX_WAITERS 1

void __mutex_init(struct mutex *m, const char *name, struct lock_class_key *key)
{
	m->word = 0;
	m->key = key;
#if PC_LOCKDEP
	lockdep_init_map(&m->dep_map, name, key);
	m->dep_map.tsan_annotated = PC_HAVE_TSAN;
#endif
	tsan_create(m, 0);
}

void mutex_destroy(struct mutex *m)
{
	tsan_destroy(m);
}

static void mutex_lock_slow(struct mutex *m)
{
	struct task *t = current;

	if (!t->sched) {
		for (int i = 0; i < 100; i++) {
			__builtin_ia32_pause();
			if (!test_bit(MUTEX_LOCKED, &m->word) &&
			    !test_and_set_bit_lock(MUTEX_LOCKED, &m->word))
				return;
		}
	}
	uint64_t t0 = ktime_get_ns();
	wait_on_bit_lock(&m->word, MUTEX_LOCKED, MUTEX_WAITERS, 0, NULL,
			 m->key && m->key->name ? m->key->name : "mutex");
	uint64_t ns = ktime_get_ns() - t0;
	lockstat_contended(m->key, 0, ns);
	t->stats.lock_waits++;
	t->stats.lock_wait_ns += ns;
	lock_sink_account(t, ns);
}

void __mutex_lock(struct mutex *m, unsigned subclass, struct src_loc loc)
{
#if PC_LOCKDEP
	lock_acquire(&m->dep_map, m, subclass, LM_EXCL, false, loc);
#endif
	sched_point(SP_ACQUIRE, m, "mutex_lock");
	tsan_pre_lock(m, 0);
	if (unlikely(test_and_set_bit_lock(MUTEX_LOCKED, &m->word))) {
		bool diverted = tsan_divert_begin(m, 0);
		mutex_lock_slow(m);
		tsan_divert_end(m, 0, diverted);
	}
	tsan_post_lock(m, 0);
	lock_acquired(m);
	__atomic_fetch_add(&current->progress, 1, __ATOMIC_RELAXED);
}

bool __mutex_trylock(struct mutex *m, struct src_loc loc)
{
	sched_point(SP_ACQUIRE, m, "mutex_trylock");
	tsan_pre_lock(m, TSAN_TRY);
	if (test_and_set_bit_lock(MUTEX_LOCKED, &m->word)) {
		tsan_post_lock(m, TSAN_TRY | TSAN_TRYFAIL);
		return false;
	}
	tsan_post_lock(m, TSAN_TRY);
#if PC_LOCKDEP
	lock_acquire(&m->dep_map, m, 0, LM_EXCL, true, loc);
#endif
	return true;
}

void __mutex_unlock(struct mutex *m, struct src_loc loc)
{
#if PC_LOCKDEP
	lock_release(&m->dep_map, m, loc);
#endif
	tsan_pre_unlock(m, 0);
	bool waiters = clear_bit_unlock_waiters(&m->word, MUTEX_LOCKED, MUTEX_WAITERS);
	tsan_post_unlock(m, 0);
	if (waiters)
		wake_up_bit(&m->word, MUTEX_LOCKED, MUTEX_WAITERS); /* seen by TSan (tsan.h) */
	sched_point(SP_RELEASE, m, "mutex_unlock");
}

/* SPDX-License-Identifier: MIT */
/*
 * rwsem.c - FIFO hand-off reader/writer semaphore. Grants happen only under
 * the wait queue's raw spinlock, and only when RWSEM_WAITERS is set; the fast
 * paths refuse while it is set, so a queued waiter is never overtaken.
 */
#include "kernel/futex.h"
#include "kernel/rwsem.h"
#include "kernel/sched.h"
#include "kernel/tsan.h"

void __init_rwsem(struct rw_semaphore *sem, const char *name, struct lock_class_key *key)
{
	sem->count = 0;
	init_waitqueue_head(&sem->wait);
	sem->key = key;
#if PC_LOCKDEP
	lockdep_init_map(&sem->dep_map, name, key);
	sem->dep_map.tsan_annotated = PC_HAVE_TSAN;
#endif
	tsan_create(sem, 0);
}

void rwsem_destroy(struct rw_semaphore *sem)
{
	tsan_destroy(sem);
}

/* Grant the lock to the head of the queue if it can have it. wait.lock held. */
static void rwsem_grant_locked(struct rw_semaphore *sem)
{
	struct wait_queue_head *wq = &sem->wait;

	for (;;) {
		unsigned long c = __atomic_load_n(&sem->count, __ATOMIC_ACQUIRE);
		if (list_empty(&wq->head)) {
			__atomic_fetch_and(&sem->count, ~RWSEM_WAITERS, __ATOMIC_RELEASE);
			return;
		}
		if (c & RWSEM_WRITER)
			return;
		struct wait_queue_entry *e = list_first_entry(&wq->head, struct wait_queue_entry, entry);
		/* read before the wake-up: once woken, e (on its waiter's stack) may be gone */
		bool excl = e->flags & WQ_FLAG_EXCLUSIVE;
		if (excl) {
			if (c & ~RWSEM_WAITERS)
				return; /* readers still hold it */
			/* no fast path can take it while WAITERS is set */
			__atomic_fetch_or(&sem->count, RWSEM_WRITER, __ATOMIC_ACQ_REL);
		} else {
			__atomic_fetch_add(&sem->count, RWSEM_READER, __ATOMIC_ACQ_REL);
		}
		__remove_wait_queue_entry(wq, e);
		__atomic_fetch_or(&e->woken, WAIT_WOKEN, __ATOMIC_RELEASE);
		futex_wake(&e->woken, 1);
		if (excl)
			continue; /* loop once more only to clear WAITERS if now empty */
	}
}

static void rwsem_wake(struct rw_semaphore *sem)
{
	raw_spin_lock(&sem->wait.lock);
	rwsem_grant_locked(sem);
	raw_spin_unlock(&sem->wait.lock);
}

static void rwsem_wait(struct rw_semaphore *sem, bool writer)
{
	struct task *t = current;
	struct wait_queue_entry e;
	uint64_t t0 = ktime_get_ns();

	init_wait_entry(&e, writer ? WQ_FLAG_EXCLUSIVE : 0);
	raw_spin_lock(&sem->wait.lock);
	__add_wait_queue_entry(&sem->wait, &e, true);
	__atomic_fetch_or(&sem->count, RWSEM_WAITERS, __ATOMIC_SEQ_CST);
	rwsem_grant_locked(sem); /* the holder may have left before WAITERS was set */
	raw_spin_unlock(&sem->wait.lock);

	wait_entry_sleep(&e, NULL, false, sem->key && sem->key->name ? sem->key->name : "rwsem",
			 sem);
	uint64_t ns = ktime_get_ns() - t0;
	lockstat_contended(sem->key, writer ? 0 : 1, ns);
	t->stats.lock_waits++;
	t->stats.lock_wait_ns += ns;
	lock_sink_account(t, ns);
}

static bool read_trylock_fast(struct rw_semaphore *sem)
{
	unsigned long c = __atomic_load_n(&sem->count, __ATOMIC_RELAXED);
	while (!(c & (RWSEM_WRITER | RWSEM_WAITERS))) {
		if (__atomic_compare_exchange_n(&sem->count, &c, c + RWSEM_READER, false,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return true;
	}
	return false;
}

static bool write_trylock_fast(struct rw_semaphore *sem)
{
	unsigned long zero = 0;
	return __atomic_compare_exchange_n(&sem->count, &zero, RWSEM_WRITER, false,
					   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

void __down_read(struct rw_semaphore *sem, unsigned subclass, struct src_loc loc)
{
#if PC_LOCKDEP
	lock_acquire(&sem->dep_map, sem, subclass, LM_READ, false, loc);
#endif
	sched_point(SP_ACQUIRE, sem, "down_read");
	tsan_pre_lock(sem, TSAN_READ);
	if (unlikely(!read_trylock_fast(sem))) {
		bool diverted = tsan_divert_begin(sem, TSAN_READ);
		rwsem_wait(sem, false);
		tsan_divert_end(sem, TSAN_READ, diverted);
	}
	tsan_post_lock(sem, TSAN_READ);
	lock_acquired(sem);
	__atomic_fetch_add(&current->progress, 1, __ATOMIC_RELAXED);
}

bool __down_read_trylock(struct rw_semaphore *sem, struct src_loc loc)
{
	sched_point(SP_ACQUIRE, sem, "down_read_trylock");
	tsan_pre_lock(sem, TSAN_READ | TSAN_TRY);
	if (!read_trylock_fast(sem)) {
		tsan_post_lock(sem, TSAN_READ | TSAN_TRY | TSAN_TRYFAIL);
		return false;
	}
	tsan_post_lock(sem, TSAN_READ | TSAN_TRY);
#if PC_LOCKDEP
	lock_acquire(&sem->dep_map, sem, 0, LM_READ, true, loc);
#endif
	return true;
}

void __up_read(struct rw_semaphore *sem, struct src_loc loc)
{
#if PC_LOCKDEP
	lock_release(&sem->dep_map, sem, loc);
#endif
	tsan_pre_unlock(sem, TSAN_READ);
	unsigned long c = __atomic_sub_fetch(&sem->count, RWSEM_READER, __ATOMIC_RELEASE);
	tsan_post_unlock(sem, TSAN_READ);
	if (unlikely(c == RWSEM_WAITERS))
		rwsem_wake(sem); /* after post_unlock, so that TSan sees it (tsan.h) */
	sched_point(SP_RELEASE, sem, "up_read");
}

void __down_write(struct rw_semaphore *sem, unsigned subclass, struct src_loc loc)
{
#if PC_LOCKDEP
	lock_acquire(&sem->dep_map, sem, subclass, LM_EXCL, false, loc);
#endif
	sched_point(SP_ACQUIRE, sem, "down_write");
	tsan_pre_lock(sem, 0);
	if (unlikely(!write_trylock_fast(sem))) {
		bool diverted = tsan_divert_begin(sem, 0);
		rwsem_wait(sem, true);
		tsan_divert_end(sem, 0, diverted);
	}
	tsan_post_lock(sem, 0);
	lock_acquired(sem);
	__atomic_fetch_add(&current->progress, 1, __ATOMIC_RELAXED);
}

bool __down_write_trylock(struct rw_semaphore *sem, struct src_loc loc)
{
	sched_point(SP_ACQUIRE, sem, "down_write_trylock");
	tsan_pre_lock(sem, TSAN_TRY);
	if (!write_trylock_fast(sem)) {
		tsan_post_lock(sem, TSAN_TRY | TSAN_TRYFAIL);
		return false;
	}
	tsan_post_lock(sem, TSAN_TRY);
#if PC_LOCKDEP
	lock_acquire(&sem->dep_map, sem, 0, LM_EXCL, true, loc);
#endif
	return true;
}

void __up_write(struct rw_semaphore *sem, struct src_loc loc)
{
#if PC_LOCKDEP
	lock_release(&sem->dep_map, sem, loc);
#endif
	tsan_pre_unlock(sem, 0);
	unsigned long c = __atomic_and_fetch(&sem->count, ~RWSEM_WRITER, __ATOMIC_RELEASE);
	tsan_post_unlock(sem, 0);
	if (unlikely(c & RWSEM_WAITERS))
		rwsem_wake(sem); /* after post_unlock, so that TSan sees it (tsan.h) */
	sched_point(SP_RELEASE, sem, "up_write");
}

void __downgrade_write(struct rw_semaphore *sem, struct src_loc loc)
{
#if PC_LOCKDEP
	lock_release(&sem->dep_map, sem, loc);
	lock_acquire(&sem->dep_map, sem, 0, LM_READ, true, loc);
#endif
	tsan_pre_unlock(sem, 0);
	tsan_post_unlock(sem, 0);
	/* cannot fail: annotated as a read trylock taken at once, so that TSan
	 * sees the grant's wake-ups (tsan.h) */
	tsan_pre_lock(sem, TSAN_READ | TSAN_TRY);
	tsan_post_lock(sem, TSAN_READ | TSAN_TRY);
	raw_spin_lock(&sem->wait.lock);
	__atomic_fetch_add(&sem->count, RWSEM_READER - RWSEM_WRITER, __ATOMIC_RELEASE);
	rwsem_grant_locked(sem); /* readers at the head may join us */
	raw_spin_unlock(&sem->wait.lock);
	sched_point(SP_RELEASE, sem, "downgrade_write");
}

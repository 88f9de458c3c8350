/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the kernel-layer primitives with real, free-running threads:
 * mutex, rwsem (sharing, exclusion, FIFO hand-off), two-state lock (sharing,
 * exclusion, no waiter preference), bit locks (exclusive wake-up, killable,
 * timeout), wait queues, task lifetime, lock statistics. No sleeps order
 * threads: a thread that must be asleep is waited for through its task's
 * wait state.
 */
#include <pthread.h>
#include <sched.h>

#include "harness.h"
#include "threads.h"
#include "kernel/futex.h"
#include "kernel/mutex.h"
#include "kernel/rwsem.h"
#include "kernel/two_state.h"
#include "kernel/wait.h"

#define NTHREADS 4

/* ---- mutex ---- */

static struct mutex mtx;
static long mtx_counter;
static unsigned long mtx_iters;

static void *mutex_worker(void *arg)
{
	for (unsigned long i = 0; i < mtx_iters; i++) {
		mutex_lock(&mtx);
		long v = mtx_counter;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		mtx_counter = v + 1;
		mutex_unlock(&mtx);
	}
	return NULL;
}

TEST(mutex_contended_counter)
{
	mutex_init(&mtx);
	mtx_counter = 0;
	mtx_iters = test_scale(200000, 20);
	run_threads(NTHREADS, mutex_worker, NULL);
	CHECK_EQ(mtx_counter, (long)(NTHREADS * mtx_iters));
	CHECK(!mutex_is_locked(&mtx));
	CHECK(mutex_trylock(&mtx));
	CHECK(!mutex_trylock(&mtx));
	mutex_unlock(&mtx);
}

/* ---- rwsem ---- */

static struct rw_semaphore sem;
static long rw_readers, rw_writers, rw_violations, rw_data[8];
static unsigned long rw_iters;

static void *rwsem_worker(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	for (unsigned long i = 0; i < rw_iters; i++) {
		if ((i + id) % 4 == 0) {
			down_write(&sem);
			if (__atomic_add_fetch(&rw_writers, 1, __ATOMIC_SEQ_CST) != 1 ||
			    __atomic_load_n(&rw_readers, __ATOMIC_SEQ_CST))
				__atomic_fetch_add(&rw_violations, 1, __ATOMIC_RELAXED);
			for (int k = 0; k < 8; k++)
				rw_data[k]++;
			__atomic_fetch_sub(&rw_writers, 1, __ATOMIC_SEQ_CST);
			up_write(&sem);
		} else {
			down_read(&sem);
			__atomic_fetch_add(&rw_readers, 1, __ATOMIC_SEQ_CST);
			if (__atomic_load_n(&rw_writers, __ATOMIC_SEQ_CST))
				__atomic_fetch_add(&rw_violations, 1, __ATOMIC_RELAXED);
			long v0 = rw_data[0];
			for (int k = 1; k < 8; k++)
				if (rw_data[k] != v0)
					__atomic_fetch_add(&rw_violations, 1, __ATOMIC_RELAXED);
			__atomic_fetch_sub(&rw_readers, 1, __ATOMIC_SEQ_CST);
			up_read(&sem);
		}
	}
	return NULL;
}

TEST(rwsem_exclusion_under_contention)
{
	pthread_t th[NTHREADS];
	init_rwsem(&sem);
	rw_iters = test_scale(100000, 20);
	for (uintptr_t i = 0; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, rwsem_worker, (void *)i);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ(rw_violations, 0);
	CHECK(!rwsem_is_locked(&sem));
}

static struct task *volatile waiter_task;
static int waiter_result;

static void *rwsem_writer_waits(void *arg)
{
	__atomic_store_n(&waiter_task, current, __ATOMIC_RELEASE);
	down_write(&sem);
	__atomic_store_n(&waiter_result, 1, __ATOMIC_RELEASE);
	up_write(&sem);
	return NULL;
}

TEST(rwsem_readers_share_and_writer_is_not_starved)
{
	pthread_t w;
	init_rwsem(&sem);
	waiter_task = NULL;
	waiter_result = 0;
	down_read(&sem);
	CHECK(down_read_trylock(&sem)); /* two readers at once */
	up_read(&sem);
	CHECK(!down_write_trylock(&sem));
	pthread_create(&w, NULL, rwsem_writer_waits, NULL);
	wait_until_sleeping(&waiter_task, &sem);
	/* a writer is queued: new readers must queue behind it (FIFO hand-off) */
	CHECK(!down_read_trylock(&sem));
	up_read(&sem);
	pthread_join(w, NULL);
	CHECK_EQ(waiter_result, 1);
	down_write(&sem);
	downgrade_write(&sem);
	CHECK(down_read_trylock(&sem));
	up_read(&sem);
	up_read(&sem);
	CHECK(!rwsem_is_locked(&sem));
}

/* ---- two-state lock ---- */

static struct two_state_lock tsl;
static long ts_holders[2], ts_violations;

static void *two_state_worker(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	for (unsigned long i = 0; i < rw_iters; i++) {
		enum two_state s = (i + id) % 3 == 0 ? TS_BLOCK : TS_ADD;
		two_state_lock(&tsl, s);
		__atomic_fetch_add(&ts_holders[s], 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&ts_holders[!s], __ATOMIC_SEQ_CST))
			__atomic_fetch_add(&ts_violations, 1, __ATOMIC_RELAXED);
		__atomic_fetch_sub(&ts_holders[s], 1, __ATOMIC_SEQ_CST);
		two_state_unlock(&tsl, s);
	}
	return NULL;
}

TEST(two_state_states_exclude_under_contention)
{
	pthread_t th[NTHREADS];
	two_state_init(&tsl);
	rw_iters = test_scale(100000, 20);
	for (uintptr_t i = 0; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, two_state_worker, (void *)i);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ(ts_violations, 0);
	CHECK_EQ(two_state_count(&tsl), 0);
}

static void *block_waiter(void *arg)
{
	__atomic_store_n(&waiter_task, current, __ATOMIC_RELEASE);
	two_state_lock(&tsl, TS_BLOCK);
	__atomic_store_n(&waiter_result, 2, __ATOMIC_RELEASE);
	two_state_unlock(&tsl, TS_BLOCK);
	return NULL;
}

TEST(two_state_shared_states_and_no_waiter_preference)
{
	pthread_t w;
	two_state_init(&tsl);
	waiter_task = NULL;
	waiter_result = 0;

	CHECK(two_state_trylock(&tsl, TS_BLOCK));
	CHECK(two_state_trylock(&tsl, TS_BLOCK)); /* BLOCK is shared */
	CHECK(!two_state_trylock(&tsl, TS_ADD));
	two_state_unlock(&tsl, TS_BLOCK);
	two_state_unlock(&tsl, TS_BLOCK);

	two_state_lock(&tsl, TS_ADD);
	pthread_create(&w, NULL, block_waiter, NULL);
	wait_until_sleeping(&waiter_task, &tsl.wait);
	/* a BLOCK waiter sleeps; a new ADD still gets in (ADD->ADD nesting relies on it) */
	CHECK(two_state_trylock(&tsl, TS_ADD));
	CHECK_EQ(two_state_count(&tsl), -2);
	two_state_unlock(&tsl, TS_ADD);
	CHECK_EQ(__atomic_load_n(&waiter_result, __ATOMIC_ACQUIRE), 0);
	two_state_unlock(&tsl, TS_ADD);
	pthread_join(w, NULL);
	CHECK_EQ(waiter_result, 2);
	CHECK_EQ(two_state_count(&tsl), 0);
	/* the BLOCK waiter's sleep was counted for its class */
	CHECK(tsl.key->stats.contended[TS_BLOCK] >= 1);
}

/* ---- bit locks ---- */

#define BL_LOCK	   3
#define BL_WAITERS 4
static unsigned long bl_word;
static long bl_counter;

static void *bitlock_worker(void *arg)
{
	for (unsigned long i = 0; i < mtx_iters; i++) {
		wait_on_bit_lock(&bl_word, BL_LOCK, BL_WAITERS, 0, NULL, "bitlock");
		bl_counter++;
		clear_bit_unlock_wake(&bl_word, BL_LOCK, BL_WAITERS);
	}
	return NULL;
}

TEST(bit_lock_contended_counter)
{
	bl_word = 0x1; /* unrelated bits survive */
	bl_counter = 0;
	mtx_iters = test_scale(100000, 20);
	run_threads(NTHREADS, bitlock_worker, NULL);
	CHECK_EQ(bl_counter, (long)(NTHREADS * mtx_iters));
	CHECK_EQ(bl_word, 0x1);
}

static void *killable_waiter(void *arg)
{
	__atomic_store_n(&waiter_task, current, __ATOMIC_RELEASE);
	waiter_result = wait_on_bit_lock(&bl_word, BL_LOCK, BL_WAITERS, BITWAIT_KILLABLE, NULL,
					 "bitlock");
	return NULL;
}

TEST(bit_lock_killable_and_timeout)
{
	pthread_t w;
	bl_word = 0;
	waiter_task = NULL;
	waiter_result = 1;
	CHECK_EQ(wait_on_bit_lock(&bl_word, BL_LOCK, BL_WAITERS, 0, NULL, "bitlock"), 0);
	pthread_create(&w, NULL, killable_waiter, NULL);
	wait_until_sleeping(&waiter_task, &bl_word);
	task_kill(waiter_task);
	pthread_join(w, NULL);
	CHECK_EQ(waiter_result, -EINTR);

	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	timespec_add_ns(&dl, 20 * 1000000ull);
	CHECK_EQ(wait_on_bit_lock(&bl_word, BL_LOCK, BL_WAITERS, 0, &dl, "bitlock"), -ETIMEDOUT);
	clear_bit_unlock_wake(&bl_word, BL_LOCK, BL_WAITERS);
	CHECK_EQ(bl_word, 0); /* no waiter left: the waiters bit is gone too */
}

/* ---- wait queues: exclusive wake-up ---- */

static struct wait_queue_head wq;
static int wq_cond, wq_woken, wq_asleep;

static void *exclusive_waiter(void *arg)
{
	struct wait_queue_entry e;
	init_wait_entry(&e, WQ_FLAG_EXCLUSIVE);
	for (;;) {
		prepare_to_wait(&wq, &e);
		if (__atomic_load_n(&wq_cond, __ATOMIC_SEQ_CST))
			break;
		/* queued and past the test: leaves only when woken */
		__atomic_fetch_add(&wq_asleep, 1, __ATOMIC_SEQ_CST);
		wait_entry_sleep(&e, NULL, false, "test wq", &wq);
		if (__atomic_load_n(&wq_cond, __ATOMIC_SEQ_CST))
			break;
	}
	finish_wait(&wq, &e);
	__atomic_fetch_add(&wq_woken, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static int wq_len(void)
{
	int n = 0;
	struct list_head *p;
	raw_spin_lock(&wq.lock);
	list_for_each(p, &wq.head)
		n++;
	raw_spin_unlock(&wq.lock);
	return n;
}

TEST(waitqueue_exclusive_wake_one)
{
	pthread_t th[3];
	init_waitqueue_head(&wq);
	wq_cond = 0;
	wq_woken = 0;
	wq_asleep = 0;
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, exclusive_waiter, NULL);
	/* Every waiter past its test of the condition before it is made true:
	 * one that tested it after would leave by itself. */
	while (__atomic_load_n(&wq_asleep, __ATOMIC_SEQ_CST) < 3)
		sched_yield();
	CHECK_EQ(wq_len(), 3);
	__atomic_store_n(&wq_cond, 1, __ATOMIC_SEQ_CST);
	wake_up(&wq); /* exactly one exclusive waiter is dequeued and woken */
	CHECK_EQ(wq_len(), 2);
	while (__atomic_load_n(&wq_woken, __ATOMIC_SEQ_CST) < 1)
		sched_yield();
	wake_up_all(&wq);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ(wq_woken, 3);
	CHECK_EQ(wq_len(), 0);
}

/* ---- task lifetime ---- */

static void count_task(struct task *t, void *arg)
{
	(*(int *)arg)++;
}

static void *touch_current(void *arg)
{
	*(int *)arg = current->tid;
	return NULL;
}

TEST(task_created_lazily_and_freed_at_exit)
{
	int before = 0, after = 0, tid = 0;
	pthread_t th;
	(void)current;
	task_for_each(count_task, &before);
	pthread_create(&th, NULL, touch_current, &tid);
	pthread_join(th, NULL);
	task_for_each(count_task, &after);
	CHECK(tid > 0);
	CHECK_EQ(after, before);
	CHECK_EQ(current->nheld, 0);
	pagefault_disable();
	CHECK(pagefault_disabled());
	pagefault_enable();
	CHECK(!pagefault_disabled());
}

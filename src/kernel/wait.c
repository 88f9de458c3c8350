/* SPDX-License-Identifier: MIT */
/*
 * wait.c - wait queues, the one sleep primitive, and hashed bit waits.
 * Locks: each queue's raw spinlock (leaf); a task's wait_lock (leaf, nests
 * inside nothing) to publish the entry it sleeps on for task_kill().
 */
#include "kernel/wait.h"
#include "kernel/futex.h"
#include "kernel/sched.h"

void init_waitqueue_head(struct wait_queue_head *wq)
{
	wq->lock = (raw_spinlock_t)RAW_SPINLOCK_INIT;
	INIT_LIST_HEAD(&wq->head);
	wq->nr_waiters = 0;
}

void init_wait_entry(struct wait_queue_entry *e, unsigned flags)
{
	INIT_LIST_HEAD(&e->entry);
	e->woken = 0;
	e->flags = flags;
	e->key = NULL;
	e->bit = 0;
	e->task = current;
	e->wq = NULL;
}

void prepare_to_wait(struct wait_queue_head *wq, struct wait_queue_entry *e)
{
	raw_spin_lock(&wq->lock);
	__atomic_store_n(&e->woken, 0, __ATOMIC_RELAXED);
	if (list_empty(&e->entry))
		__add_wait_queue_entry(wq, e, e->flags & WQ_FLAG_EXCLUSIVE);
	raw_spin_unlock(&wq->lock);
	smp_mb(); /* queued before the caller re-tests its condition */
}

void finish_wait(struct wait_queue_head *wq, struct wait_queue_entry *e)
{
	raw_spin_lock(&wq->lock);
	if (!list_empty(&e->entry))
		__remove_wait_queue_entry(wq, e);
	raw_spin_unlock(&wq->lock);
}

/* Called with wq->lock held. */
static int wake_locked(struct wait_queue_head *wq, int nr_exclusive, const void *key, int bit)
{
	struct wait_queue_entry *e, *n;
	int woken = 0;

	list_for_each_entry_safe(e, n, &wq->head, entry) {
		if (key && (e->key != key || e->bit != bit))
			continue;
		bool excl = e->flags & WQ_FLAG_EXCLUSIVE;
		sched_note_wake(e->task);
		__remove_wait_queue_entry(wq, e);
		__atomic_fetch_or(&e->woken, WAIT_WOKEN, __ATOMIC_RELEASE);
		futex_wake(&e->woken, 1);
		woken++;
		if (excl && --nr_exclusive == 0)
			break;
	}
	return woken;
}

void __wake_up(struct wait_queue_head *wq, int nr_exclusive)
{
	/* no scheduling point here: wake-ups run inside unlock operations, whose
	 * own release point follows */
	raw_spin_lock(&wq->lock);
	wake_locked(wq, nr_exclusive, NULL, 0);
	raw_spin_unlock(&wq->lock);
}

void abort_exclusive_wait(struct wait_queue_head *wq, struct wait_queue_entry *e)
{
	raw_spin_lock(&wq->lock);
	if (!list_empty(&e->entry))
		__remove_wait_queue_entry(wq, e);
	else if (__atomic_load_n(&e->woken, __ATOMIC_ACQUIRE) & WAIT_WOKEN)
		wake_locked(wq, 1, e->key, e->bit); /* we were handed a wake-up: pass it on */
	raw_spin_unlock(&wq->lock);
}

void wait_abandon_current(void)
{
	struct task *t = current;

	raw_spin_lock(&t->wait_lock);
	struct wait_queue_entry *e = t->cur_wait;
	t->cur_wait = NULL;
	raw_spin_unlock(&t->wait_lock);
	if (e && e->wq)
		finish_wait(e->wq, e);
}

void wake_up_task_wait(struct task *t)
{
	raw_spin_lock(&t->wait_lock);
	struct wait_queue_entry *e = t->cur_wait;
	if (e) {
		__atomic_fetch_or(&e->woken, WAIT_POKED, __ATOMIC_RELEASE);
		futex_wake(&e->woken, 1);
	}
	raw_spin_unlock(&t->wait_lock);
}

int wait_entry_sleep(struct wait_queue_entry *e, const struct timespec *deadline, bool killable,
		     const char *what, const void *obj)
{
	struct task *t = current;
	int ret = 0;

	if (!t->sched) /* a scheduled thread's sleep is itself a switch (sched_block) */
		sched_point(SP_WAIT, obj, what);
	/* publish the entry first: whoever sees us waiting can reach it */
	raw_spin_lock(&t->wait_lock);
	t->cur_wait = e;
	raw_spin_unlock(&t->wait_lock);
	WRITE_ONCE(t->wait_obj, obj);
	WRITE_ONCE(t->wait_what, what);

	for (;;) {
		uint32_t w = __atomic_load_n(&e->woken, __ATOMIC_ACQUIRE);
		if (w & WAIT_WOKEN)
			break;
		if (killable && __atomic_load_n(&t->killed, __ATOMIC_ACQUIRE)) {
			ret = -EINTR;
			break;
		}
		if (w & WAIT_POKED) {
			__atomic_fetch_and(&e->woken, ~(uint32_t)WAIT_POKED, __ATOMIC_RELAXED);
			continue;
		}
		if (t->sched) {
			ret = sched_block(&e->woken, killable ? &t->killed : NULL, deadline != NULL);
			if (ret)
				break;
			continue;
		}
		if (futex_wait(&e->woken, 0, deadline) == -ETIMEDOUT &&
		    !(__atomic_load_n(&e->woken, __ATOMIC_ACQUIRE) & WAIT_WOKEN)) {
			ret = -ETIMEDOUT;
			break;
		}
	}

	raw_spin_lock(&t->wait_lock);
	t->cur_wait = NULL;
	raw_spin_unlock(&t->wait_lock);
	WRITE_ONCE(t->wait_what, NULL);
	WRITE_ONCE(t->wait_obj, NULL);
	__atomic_fetch_add(&t->progress, 1, __ATOMIC_RELAXED);
	return ret;
}

/* ---- bit waits ---- */

#define BIT_WAIT_TABLE 256
static struct wait_queue_head bit_wait_table[BIT_WAIT_TABLE];
static uint32_t bit_wait_ready;

static struct wait_queue_head *bit_waitqueue(const void *word, int bit)
{
	if (unlikely(!__atomic_load_n(&bit_wait_ready, __ATOMIC_ACQUIRE))) {
		/* static zero-init is a valid empty list only once linked: do it once */
		static raw_spinlock_t once = RAW_SPINLOCK_INIT;
		raw_spin_lock(&once);
		if (!bit_wait_ready) {
			for (int i = 0; i < BIT_WAIT_TABLE; i++)
				init_waitqueue_head(&bit_wait_table[i]);
			__atomic_store_n(&bit_wait_ready, 1, __ATOMIC_RELEASE);
		}
		raw_spin_unlock(&once);
	}
	/* hashed by word only (as the kernel hashes by folio): every waiter on one
	 * word shares a queue, so one waiters bit can serve several bits */
	(void)bit;
	uint64_t h = ((uintptr_t)word >> 3) * 0x9E3779B97F4A7C15ull;
	return &bit_wait_table[h >> 56];
}

static void prepare_bit_wait(struct wait_queue_head *wq, struct wait_queue_entry *e,
			     unsigned long *word, int waiters_bit)
{
	raw_spin_lock(&wq->lock);
	__atomic_store_n(&e->woken, 0, __ATOMIC_RELAXED);
	if (list_empty(&e->entry))
		__add_wait_queue_entry(wq, e, e->flags & WQ_FLAG_EXCLUSIVE);
	set_bit(waiters_bit, word);
	raw_spin_unlock(&wq->lock);
	smp_mb();
}

static int bit_wait_common(unsigned long *word, int bit, int waiters_bit, unsigned flags,
			   const struct timespec *deadline, const char *what, bool lock)
{
	struct wait_queue_head *wq = bit_waitqueue(word, bit);
	struct wait_queue_entry e;
	int ret = 0;

	init_wait_entry(&e, lock ? WQ_FLAG_EXCLUSIVE : 0);
	e.key = word;
	e.bit = bit;
	for (;;) {
		prepare_bit_wait(wq, &e, word, waiters_bit);
		if (lock ? !test_and_set_bit_lock(bit, word) : !test_bit(bit, word))
			break;
		ret = wait_entry_sleep(&e, deadline, flags & BITWAIT_KILLABLE, what, word);
		if (ret) {
			if (lock)
				abort_exclusive_wait(wq, &e);
			else
				finish_wait(wq, &e);
			return ret;
		}
	}
	finish_wait(wq, &e);
	return 0;
}

int wait_on_bit_lock(unsigned long *word, int bit, int waiters_bit, unsigned flags,
		     const struct timespec *deadline, const char *what)
{
	if (!test_and_set_bit_lock(bit, word))
		return 0;
	return bit_wait_common(word, bit, waiters_bit, flags, deadline, what, true);
}

int wait_on_bit(unsigned long *word, int bit, int waiters_bit, unsigned flags,
		const struct timespec *deadline, const char *what)
{
	if (!test_bit(bit, word))
		return 0;
	return bit_wait_common(word, bit, waiters_bit, flags, deadline, what, false);
}

void wake_up_bit(unsigned long *word, int bit, int waiters_bit)
{
	struct wait_queue_head *wq = bit_waitqueue(word, bit);
	struct wait_queue_entry *e;
	bool others = false;

	raw_spin_lock(&wq->lock);
	wake_locked(wq, 1, word, bit);
	list_for_each_entry(e, &wq->head, entry) {
		if (e->key == word) {
			others = true;
			break;
		}
	}
	if (!others)
		clear_bit(waiters_bit, word);
	raw_spin_unlock(&wq->lock);
}

void clear_bit_unlock_wake(unsigned long *word, int bit, int waiters_bit)
{
	if (clear_bit_unlock_waiters(word, bit, waiters_bit))
		wake_up_bit(word, bit, waiters_bit);
}

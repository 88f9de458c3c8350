/* SPDX-License-Identifier: MIT */
/*
 * wait.h - wait queues and bit waits, on futexes.
 *
 * Every sleep in the library goes through wait_entry_sleep(): one place where
 * the deterministic scheduler takes over, where the watchdog learns what a
 * thread waits for, and where killable and timed waits end. A waker removes
 * the entry from the queue (autoremove), sets its word and wakes its futex,
 * all under the queue's raw spinlock, so an entry on a sleeper's stack is
 * never touched after finish_wait() returns.
 *
 * Exclusive waiters (lock waiters) are woken one at a time; non-exclusive
 * waiters (events) all at once. A killed or timed-out exclusive waiter that
 * had consumed a wake-up passes it on.
 *
 * Bit waits (page-lock style): queues hashed by word, entries keyed by (word,
 * bit), with a "waiters" bit in the word so that unlock only enters the slow
 * path when somebody sleeps. All waiters on a word share one queue, so one
 * waiters bit may cover several bits (page lock and writeback).
 */
#ifndef PC_KERNEL_WAIT_H
#define PC_KERNEL_WAIT_H

#include <errno.h>
#include <time.h>

#include "kernel/list.h"
#include "kernel/raw_spinlock.h"
#include "kernel/task.h"

#define WQ_FLAG_EXCLUSIVE 0x1

#define WAIT_WOKEN 0x1 /* a waker dequeued us */
#define WAIT_POKED 0x2 /* task_kill(): look at the kill flag */

struct wait_queue_head {
	raw_spinlock_t lock;
	struct list_head head;
	unsigned nr_waiters; /* entries on head: written under lock, read lock-free */
};

struct wait_queue_entry {
	struct list_head entry;
	uint32_t woken; /* futex word: WAIT_WOKEN | WAIT_POKED */
	unsigned flags;
	const void *key; /* bit waits: the word */
	int bit;
	struct task *task;
	struct wait_queue_head *wq; /* the queue it was put on */
};

#define WAIT_QUEUE_HEAD_INIT(name) { RAW_SPINLOCK_INIT, LIST_HEAD_INIT((name).head), 0 }

void init_waitqueue_head(struct wait_queue_head *wq);
void init_wait_entry(struct wait_queue_entry *e, unsigned flags);

/* Queue @e (if not queued) and clear its word. Full barrier after. */
void prepare_to_wait(struct wait_queue_head *wq, struct wait_queue_entry *e);
/* Dequeue if still queued. */
void finish_wait(struct wait_queue_head *wq, struct wait_queue_entry *e);
/* As finish_wait, for an exclusive waiter giving up (kill/timeout): passes on a
 * wake-up it consumed. */
void abort_exclusive_wait(struct wait_queue_head *wq, struct wait_queue_entry *e);

/*
 * Sleep until woken. @deadline: CLOCK_MONOTONIC, NULL for none. @killable:
 * task_kill() ends the wait. Returns 0, -ETIMEDOUT or -EINTR. @what/@obj
 * describe the wait for the watchdog and the scheduler's reports.
 */
int wait_entry_sleep(struct wait_queue_entry *e, const struct timespec *deadline, bool killable,
		     const char *what, const void *obj);

/* Wake all non-exclusive waiters and up to @nr_exclusive exclusive ones. */
void __wake_up(struct wait_queue_head *wq, int nr_exclusive);
static inline void wake_up(struct wait_queue_head *wq)
{
	__wake_up(wq, 1);
}
static inline void wake_up_all(struct wait_queue_head *wq)
{
	__wake_up(wq, 0x7fffffff);
}
/* Queue and dequeue an entry; wq->lock held. The count lets waker fast paths
 * look without the lock. */
static inline void __add_wait_queue_entry(struct wait_queue_head *wq, struct wait_queue_entry *e,
					  bool tail)
{
	if (tail)
		list_add_tail(&e->entry, &wq->head);
	else
		list_add(&e->entry, &wq->head);
	e->wq = wq;
	__atomic_fetch_add(&wq->nr_waiters, 1, __ATOMIC_SEQ_CST);
}
static inline void __remove_wait_queue_entry(struct wait_queue_head *wq, struct wait_queue_entry *e)
{
	list_del_init(&e->entry);
	__atomic_fetch_sub(&wq->nr_waiters, 1, __ATOMIC_RELEASE);
}
/* True if someone may be sleeping: call after making the waiters' condition
 * true (the barrier orders that store before this load). */
static inline bool wq_has_sleeper(struct wait_queue_head *wq)
{
	smp_mb();
	return __atomic_load_n(&wq->nr_waiters, __ATOMIC_ACQUIRE) != 0;
}

/* Unlink the current task's wait entry from its queue: a deterministic
 * schedule is being abandoned and the sleeper's stack frame will vanish. */
void wait_abandon_current(void);

/* Wake the wait a task sleeps in (task_kill). */
void wake_up_task_wait(struct task *t);

/*
 * wait_event(wq, cond): sleep until cond is true. cond is re-evaluated after
 * every wake-up; it must be something a waker makes true before calling wake_up.
 * wait_event_killable: the same, but a kill of the task (task_kill, a fired
 * cancel token) ends the sleep: 0 once cond is true, -EINTR if killed first.
 */
#define __wait_event(wq, cond, what, killable)                                                   \
	({                                                                                       \
		struct wait_queue_entry __we;                                                    \
		int __ret = 0;                                                                   \
		if (!(cond)) {                                                                   \
			init_wait_entry(&__we, 0);                                               \
			for (;;) {                                                               \
				prepare_to_wait((wq), &__we);                                    \
				if (cond)                                                        \
					break;                                                   \
				__ret = wait_entry_sleep(&__we, NULL, (killable), (what), (wq)); \
				if (__ret)                                                       \
					break;                                                   \
			}                                                                        \
			finish_wait((wq), &__we);                                                \
		}                                                                                \
		__ret;                                                                           \
	})
#define wait_event(wq, cond, what)	    ((void)__wait_event(wq, cond, what, false))
#define wait_event_killable(wq, cond, what) __wait_event(wq, cond, what, true)

/* ---- bit waits ---- */

#define BITWAIT_KILLABLE 0x1

/*
 * Take bit @bit of *word as a lock (test-and-set, acquire), sleeping
 * exclusively while it is set; @waiters_bit is set while anyone sleeps.
 * Returns 0, or -EINTR / -ETIMEDOUT for killable / timed waits.
 */
int wait_on_bit_lock(unsigned long *word, int bit, int waiters_bit, unsigned flags,
		     const struct timespec *deadline, const char *what);
/* Clear the lock bit (release) and wake the next waiter if @waiters_bit is set. */
void clear_bit_unlock_wake(unsigned long *word, int bit, int waiters_bit);
/* The first half of it: clear the lock bit (release); true if someone must
 * then be woken with wake_up_bit(). */
static inline bool clear_bit_unlock_waiters(unsigned long *word, int bit, int waiters_bit)
{
	unsigned long old = __atomic_fetch_and(word, ~(1ul << bit), __ATOMIC_SEQ_CST);
	return old & (1ul << waiters_bit);
}
/* Sleep (non-exclusively) until @bit is clear. Same returns. */
int wait_on_bit(unsigned long *word, int bit, int waiters_bit, unsigned flags,
		const struct timespec *deadline, const char *what);
/* Wake everyone waiting on (word, bit): call after clearing the bit. */
void wake_up_bit(unsigned long *word, int bit, int waiters_bit);

static inline bool test_bit(int bit, const unsigned long *word)
{
	return (__atomic_load_n(word, __ATOMIC_ACQUIRE) >> bit) & 1;
}
static inline void set_bit(int bit, unsigned long *word)
{
	__atomic_fetch_or(word, 1ul << bit, __ATOMIC_SEQ_CST);
}
static inline void clear_bit(int bit, unsigned long *word)
{
	__atomic_fetch_and(word, ~(1ul << bit), __ATOMIC_SEQ_CST);
}
static inline bool test_and_set_bit_lock(int bit, unsigned long *word)
{
	return (__atomic_fetch_or(word, 1ul << bit, __ATOMIC_ACQUIRE) >> bit) & 1;
}
static inline bool test_and_set_bit(int bit, unsigned long *word)
{
	return (__atomic_fetch_or(word, 1ul << bit, __ATOMIC_SEQ_CST) >> bit) & 1;
}
static inline bool test_and_clear_bit(int bit, unsigned long *word)
{
	return (__atomic_fetch_and(word, ~(1ul << bit), __ATOMIC_SEQ_CST) >> bit) & 1;
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * task.h - "current": the per-thread state every layer reaches without locks.
 *
 * A task is created lazily the first time a thread enters the library and is
 * freed at thread exit. It carries the validator's held-lock stack, the
 * pagefault_disabled depth, the faults-disabled mapping (fdm) of a direct I/O
 * and its "dropped" bit, what the thread is waiting for (for the watchdog and
 * the deterministic scheduler), a kill flag for killable waits, and per-thread
 * statistics. Only the owning thread writes it, except the fields marked
 * "other threads": those are atomics. Takes task_list_lock (a leaf) on create
 * and exit only.
 */
#ifndef PC_KERNEL_TASK_H
#define PC_KERNEL_TASK_H

#include <setjmp.h>
#include <stdint.h>

#include "kernel/lockstat.h"
#include "kernel/compiler.h"
#include "kernel/list.h"
#include "kernel/raw_spinlock.h"

struct address_space;
struct glock;
struct lockdep_map;
struct sched_thread;
struct wait_queue_entry;

/* A glock and a state (fs/glock.h's enum gl_state, in a byte: this layer
 * does not know the type): the cluster I/O restart's task fields. */
struct glock_ref {
	struct glock *gl;
	uint8_t state;
};

enum lock_mode {
	LM_EXCL = 0,  /* mutex, rwsem write side, bit lock */
	LM_READ = 1,  /* rwsem read side: not recursive (a queued writer blocks it) */
	LM_ADD = 2,   /* two-state lock, state ADD: shared, recursive */
	LM_BLOCK = 3, /* two-state lock, state BLOCK: shared, recursive */
};

struct held_lock {
	struct lockdep_map *map; /* class of the lock */
	const void *instance;	 /* the lock object itself */
	uint16_t class_id;
	uint8_t mode;	  /* enum lock_mode */
	uint8_t trylock;  /* taken by a trylock: adds no dependency of its own */
	uint8_t acquired; /* 0 while the thread still waits for it */
	struct src_loc loc;
};

#define TASK_MAX_HELD 48

struct task_stats {
	uint64_t lock_waits;	 /* sleeps in any lock of this library */
	uint64_t lock_wait_ns;	 /* time spent in them */
	uint64_t fault_retries;	 /* fault handler asked the I/O path to retry */
	uint64_t glock_restarts; /* I/O rounds that ended in that restart (fs/cluster.h) */
	uint64_t copy_short;	 /* nofault copies that came back short */
};

struct task {
	int tid;
	char name[16];

	/* Validator: locks held, innermost last. */
	int nheld;
	struct held_lock held[TASK_MAX_HELD];

	/* Faults: depth of pagefault_disable(); DIO's faults-disabled mapping. */
	int pagefault_disabled;
	/* The thread blocked SIGSEGV or SIGBUS when its mask was last looked
	 * at (task creation, task_check_sigmask): its user copies then run
	 * without signals (mm/uaccess.c). */
	bool fault_sigs_blocked;
	struct address_space *fdm;
	bool fdm_dropped;
	/* Cluster mode (fs/cluster.c): the fault handler refused a fault
	 * because this thread holds a glock and the faulting file's glock
	 * was not grantable without waiting (the cross-file fault
	 * deadlock): the I/O path drops its glock, faults the user range in
	 * and retries. Task state, never an EFAULT (as fdm_dropped). */
	bool glock_restart;
	/* The restart's second round (fs/cluster.h glock_io_rounds): while a
	 * read's or a write's step runs with glock_want_record set, the refused
	 * fault leaves the glock it wanted in glock_want (a reference) with its
	 * state; the next round takes it with the I/O's own glock in number order
	 * and names it in glock_pin: the fault handler then fills from it at
	 * once (the I/O path holds it for this thread). */
	bool glock_want_record;
	struct glock_ref glock_want, glock_pin;
	/* The glock the I/O path itself holds across that step, and its state:
	 * a fault on a view of the same file that this state covers (a write
	 * under EX copying from a view of the file it writes) fills at once. */
	struct glock_ref glock_io;

	/* What this thread sleeps on (other threads read these: watchdog). */
	const char *wait_what;		   /* lock or event name, NULL when running */
	const void *wait_obj;		   /* its address */
	uint64_t progress;		   /* bumped at every acquire and wake-up */
	uint32_t killed;		   /* other threads: task_kill() */
	struct wait_queue_entry *cur_wait; /* other threads, under wait_lock: to wake on kill */
	raw_spinlock_t wait_lock;
	bool watched; /* watchdog considers this thread */

	/* Deterministic scheduler slot, NULL when free-running. */
	struct sched_thread *sched;

	struct task_stats stats;
	/* Where this thread's lock sleeps are also counted (the engine it runs
	 * a call of), or NULL. Written by the thread itself. */
	struct lock_sink *lock_sink;
	/* TSan: a lock operation between pre_lock and post_lock (abandon closes it). */
	void *tsan_lock;
	unsigned tsan_flags;
	bool tsan_diverted;   /* parked by the scheduler inside that operation */
	struct list_head all; /* task_list, under task_list_lock */
};

extern __thread_hot struct task *__current_task;
struct task *task_create_current(void);
/* Looks at the calling thread's signal mask again (a system call):
 * sets t->fault_sigs_blocked and returns it. */
bool task_check_sigmask(struct task *t);

static inline struct task *get_current(void)
{
	struct task *t = __current_task;
	if (unlikely(!t))
		t = task_create_current();
	return t;
}
#define current (get_current())

/* Counts one lock sleep of @ns in @t's lock sink (lockstat.h), if any. */
static inline void lock_sink_account(struct task *t, uint64_t ns)
{
	struct lock_sink *s = t->lock_sink;

	if (s) {
		__atomic_fetch_add(&s->contended, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&s->wait_ns, ns, __ATOMIC_RELAXED);
	}
}

/* pagefault_disable(): user-memory accesses in this section must not sleep in
 * our fault handler; the handler makes the copy return short instead. */
static inline void pagefault_disable(void)
{
	current->pagefault_disabled++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static inline void pagefault_enable(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	current->pagefault_disabled--;
}

static inline bool pagefault_disabled(void)
{
	return current->pagefault_disabled != 0;
}

/* Ask a task to abandon its killable waits (returns -EINTR from them). */
void task_kill(struct task *t);
/* The watchdog looks at tasks that opted in. */
void task_set_watched(bool on);
/* Forget held locks and waits: used after a deterministic schedule is abandoned. */
void task_reset(struct task *t);
/* Calls fn for every live task, under task_list_lock (fn must not take locks). */
void task_for_each(void (*fn)(struct task *t, void *arg), void *arg);
/* Prints a task's held locks and what it waits for to fd (async-signal-safe enough). */
void task_print_state(int fd, struct task *t);

#endif

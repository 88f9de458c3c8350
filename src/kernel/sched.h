/* SPDX-License-Identifier: MIT */
/*
 * sched.h - scheduling points and the deterministic scheduler.
 *
 * Every lock acquire and release, every sleep and wake-up, and each annotated
 * race window (sched_race_window()) is a scheduling point. In test mode a
 * deterministic scheduler runs the threads of a sched_pool one at a time and
 * decides at each point which runs next, from a seed: a random walk, or PCT
 * (random priorities plus d priority-change points, Burckhardt et al. 2010).
 * Sleeping threads are parked in the scheduler rather than on futexes, so
 * "every thread blocked" is seen exactly: the run stops as a deadlock, prints
 * the seed, each thread's held locks and what it waits for, and the same seed
 * replays the same schedule step for step (the trace hash proves it).
 *
 * Without PC_SCHED_HOOKS (release builds) the points compile to nothing.
 * Locks: none; only the running thread touches the scheduler's state, and
 * the hand-off of the turn is a futex with acquire/release ordering.
 */
#ifndef PC_KERNEL_SCHED_H
#define PC_KERNEL_SCHED_H

#include <stdint.h>

#include "kernel/compiler.h"

enum sched_event {
	SP_ACQUIRE,
	SP_RELEASE,
	SP_WAIT,
	SP_WAKE,
	SP_RACE, /* an annotated race window */
};

#if PC_SCHED_HOOKS
extern int sched_hooks_active;
void __sched_point(enum sched_event ev, const void *obj, const char *what);
#define sched_point(ev, obj, what)                                                                 \
	do {                                                                                       \
		if (unlikely(__atomic_load_n(&sched_hooks_active, __ATOMIC_RELAXED)))              \
			__sched_point((ev), (obj), (what));                                        \
	} while (0)
#else
#define sched_point(ev, obj, what) do { } while (0)
#endif

#define sched_race_window(name) sched_point(SP_RACE, NULL, (name))

/*
 * A wake-up of @waiter's wait (wait.c, any thread). A thread outside the
 * schedule that wakes a scheduled one steers the schedule by its timing
 * (whether the waiter can run at the next pick): counted in the run's
 * sched_result.outside_wakes.
 */
struct task;
#if PC_SCHED_HOOKS
void __sched_note_wake(struct task *waiter);
#define sched_note_wake(waiter)                                                                    \
	do {                                                                                       \
		if (unlikely(__atomic_load_n(&sched_hooks_active, __ATOMIC_RELAXED)))              \
			__sched_note_wake(waiter);                                                 \
	} while (0)
#else
#define sched_note_wake(waiter) do { } while (0)
#endif

/*
 * Free-running test hook: called at every scheduling point of threads that
 * are not under the deterministic scheduler (e.g. to widen a race window).
 * NULL removes it.
 */
typedef void (*sched_hook_fn)(enum sched_event ev, const void *obj, const char *what);
void sched_set_hook(sched_hook_fn fn);

/* Park the current (scheduled) thread until *word != 0, or *kill != 0, or -
 * when @timed and nothing else can run - a virtual timeout. Returns 0,
 * -EINTR (killed) or -ETIMEDOUT. Only for threads with current->sched. */
int sched_block(uint32_t *word, uint32_t *kill, bool timed);

enum sched_strategy {
	SCHED_RANDOM_WALK,
	SCHED_PCT,
};

/*
 * A run's decisions, step by step, for a test that compares two runs of one
 * seed (sched_trace_diff): at each switch, who ran, at which point, which
 * threads could run and which one was picked. Recorded only when
 * sched_config.trace is set; steps beyond @cap are counted, not kept.
 */
struct sched_trace_step {
	const char *what;  /* the point's name (a wait: what it waits for) */
	const void *obj;   /* the lock or wait object of the point */
	uint64_t runnable; /* bit i: thread i could run (a candidate) */
	uint64_t blocked;  /* bit i: thread i was parked (before the pick) */
	uint8_t from;	   /* the running thread, SCHED_TRACE_NONE: main/finished */
	uint8_t to;	   /* the one picked */
	uint8_t ev;	   /* enum sched_event, SCHED_TRACE_EXIT: @from returned */
	uint8_t timed_out; /* nothing could run: @to's timed wait expired */
};
#define SCHED_TRACE_NONE 0xff
#define SCHED_TRACE_EXIT 0xff

struct sched_trace {
	struct sched_trace_step *step; /* caller's array of @cap entries */
	uint64_t cap;
	uint64_t n; /* steps recorded (may exceed @cap) */
};

struct sched_config {
	uint64_t seed;
	enum sched_strategy strategy;
	unsigned pct_depth;	   /* PCT: number of priority change points + 1 (default 3) */
	uint64_t pct_steps;	   /* PCT: change points fall in [1, pct_steps] (default 200) */
	uint64_t max_steps;	   /* livelock bound (default 1,000,000) */
	bool quiet;		   /* no report on stderr (a search that expects failures) */
	struct sched_trace *trace; /* optional: record the decisions */
};

enum sched_status {
	SCHED_OK,
	SCHED_DEADLOCK,
	SCHED_LIVELOCK,
	SCHED_FAILED, /* a thread gave the run up (sched_fail_current) */
};

struct sched_result {
	enum sched_status status;
	uint64_t steps;
	uint64_t trace_hash;	/* hash of the sequence of decisions: equal for a replay */
	uint64_t outside_wakes; /* scheduled threads woken by a thread outside the run */
};

struct sched_pool;
typedef void (*sched_fn)(void *arg, unsigned idx);

/* nthreads worker threads that persist across runs. */
struct sched_pool *sched_pool_create(unsigned nthreads);
void sched_pool_destroy(struct sched_pool *pool);
/* Runs fn(arg, i) on each worker under one schedule. A deadlocked or livelocked
 * run is abandoned: its threads leave fn through a siglongjmp, so fn must use
 * fresh objects on every run. */
struct sched_result sched_run(struct sched_pool *pool, const struct sched_config *cfg, sched_fn fn,
			      void *arg);

/* A check failed in the calling thread (the test harness): if the thread
 * runs under the deterministic scheduler, the run is abandoned as after a
 * deadlock (every thread leaves fn, status SCHED_FAILED, @why reported with
 * the threads' held locks) and this does not return; otherwise it returns. */
void sched_fail_current(const char *why);

/* Compares two recorded runs of one seed. Returns -1 when they took the same
 * decisions, else the index of the first step where they differ, after
 * printing that step of each (and the few before it) on @fd unless @fd < 0. */
int64_t sched_trace_diff(const struct sched_trace *a, const struct sched_trace *b, int fd);

/* $PC_SEED if set (decimal or 0x hex), else @dflt. */
uint64_t seed_from_env(uint64_t dflt);

#endif

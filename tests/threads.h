/* SPDX-License-Identifier: MIT */
/*
 * threads.h - helpers for tests with real, free-running threads: start and
 * join a group, and wait (without sleeping to order threads) until a thread is
 * asleep in a library wait on a given object, as its task's wait state shows;
 * and liveness waits without a wall-clock deadline (watched_wait_*): the
 * hang watchdog (src/kernel/watchdog.c) reports a wait that stops making
 * progress, with every thread's held locks and wait, and aborts.
 */
#ifndef PC_TESTS_THREADS_H
#define PC_TESTS_THREADS_H

#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "kernel/task.h"
#include "kernel/watchdog.h"

static inline void run_threads(int n, void *(*fn)(void *), void *arg)
{
	pthread_t th[16];
	CHECK(n <= 16);
	for (int i = 0; i < n; i++)
		CHECK(pthread_create(&th[i], NULL, fn, arg) == 0);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
}

static inline void wait_until_sleeping(struct task *volatile *tp, const void *obj)
{
	for (;;) {
		struct task *t = __atomic_load_n(tp, __ATOMIC_ACQUIRE);
		if (t && READ_ONCE(t->wait_what) && READ_ONCE(t->wait_obj) == obj)
			return;
		sched_yield();
	}
}

/*
 * A liveness wait: the test thread polls a condition that other threads
 * (the engine's background threads) must make true, with no deadline. While
 * it polls, it is a watched task "waiting for @what" whose progress moves
 * whenever the value it watches changes; if nothing changes for
 * WATCHED_WAIT_HANG_MS (PC_HANG_MS overrides it), the watchdog prints every thread's held locks and
 * wait and aborts the test (a hang, not a slow machine: any change resets
 * the clock).
 *
 *	struct watched_wait w;
 *	watched_wait_begin(&w, "nr_dirty <= 0", &counter);
 *	while (READ_ONCE(counter) > 0)
 *		watched_wait_step(&w, READ_ONCE(counter));
 *	watched_wait_end(&w);
 */
#define WATCHED_WAIT_HANG_MS 60000

struct watched_wait {
	uint64_t last;
	bool started; /* this wait started the watchdog */
};

static inline void watched_wait_print(struct task *t, void *arg)
{
	(void)arg;
	task_print_state(2, t);
}

static inline void watched_wait_hang(void)
{
	dprintf(2, "=== liveness wait: no progress; every thread: ===\n");
	task_for_each(watched_wait_print, NULL);
	abort();
}

static inline void watched_wait_begin(struct watched_wait *w, const char *what, const void *obj)
{
	struct task *t = current;

	w->last = 0;
	const char *ms = getenv("PC_HANG_MS");

	w->started =
	    watchdog_start(ms && *ms ? (unsigned)strtoul(ms, NULL, 0) : WATCHED_WAIT_HANG_MS,
			   watched_wait_hang) == 0;
	WRITE_ONCE(t->wait_obj, obj);
	WRITE_ONCE(t->wait_what, what);
	task_set_watched(true);
}

/* One poll: @value is what the wait watches (a change is progress). */
static inline void watched_wait_step(struct watched_wait *w, uint64_t value)
{
	struct timespec tick = {0, 1000000};

	if (value != w->last) {
		w->last = value;
		__atomic_fetch_add(&current->progress, 1, __ATOMIC_RELAXED);
	}
	nanosleep(&tick, NULL);
}

static inline void watched_wait_end(struct watched_wait *w)
{
	struct task *t = current;

	task_set_watched(false);
	WRITE_ONCE(t->wait_what, NULL);
	WRITE_ONCE(t->wait_obj, NULL);
	if (w->started)
		watchdog_stop();
}

#endif

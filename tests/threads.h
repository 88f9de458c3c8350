/* SPDX-License-Identifier: MIT */
/*
 * threads.h - helpers for tests with real, free-running threads: start and
 * join a group, and wait (without sleeping to order threads) until a thread is
 * asleep in a library wait on a given object, as its task's wait state shows.
 */
#ifndef PC_TESTS_THREADS_H
#define PC_TESTS_THREADS_H

#include <pthread.h>
#include <sched.h>

#include "harness.h"
#include "kernel/task.h"

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

#endif

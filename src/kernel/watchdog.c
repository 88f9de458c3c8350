/* SPDX-License-Identifier: MIT */
/*
 * watchdog.c - the hang monitor. Takes task_list_lock (through
 * task_for_each) for each sample; the sampled fields are atomics.
 * watchdog_start and watchdog_stop may be called from any thread: wd_lock
 * (a pthread leaf, held across the monitor's creation or join, which takes
 * no lock of ours) makes one start or stop at a time.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kernel/futex.h"
#include "kernel/task.h"
#include "kernel/watchdog.h"

static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t wd_thread;
static uint32_t wd_stop;
static unsigned wd_timeout_ms;
static void (*wd_handler)(void);
static unsigned long wd_hangs;
static bool wd_running;

struct sample {
	unsigned watched, waiting;
	uint64_t progress;
};

static void sample_task(struct task *t, void *arg)
{
	struct sample *s = arg;

	if (!READ_ONCE(t->watched))
		return;
	s->watched++;
	if (READ_ONCE(t->wait_what))
		s->waiting++;
	s->progress += __atomic_load_n(&t->progress, __ATOMIC_RELAXED);
}

static void print_task(struct task *t, void *arg)
{
	(void)arg;
	if (READ_ONCE(t->watched))
		task_print_state(2, t);
}

static void *wd_main(void *arg)
{
	uint64_t stuck_since = 0, last_progress = 0;

	(void)arg;
	pthread_setname_np(pthread_self(), "pc-watchdog");
	while (!__atomic_load_n(&wd_stop, __ATOMIC_ACQUIRE)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		timespec_add_ns(&ts, 20 * 1000000ull);
		futex_wait(&wd_stop, 0, &ts);

		struct sample s = {0};
		task_for_each(sample_task, &s);
		uint64_t now = ktime_get_ns();
		if (!s.watched || s.waiting < s.watched || s.progress != last_progress) {
			stuck_since = 0;
			last_progress = s.progress;
			continue;
		}
		if (!stuck_since) {
			stuck_since = now;
			continue;
		}
		if (now - stuck_since < (uint64_t)wd_timeout_ms * 1000000ull)
			continue;
		dprintf(2, "\n=== watchdog: all %u watched threads blocked for %u ms ===\n",
			s.watched, wd_timeout_ms);
		task_for_each(print_task, NULL);
		__atomic_fetch_add(&wd_hangs, 1, __ATOMIC_RELAXED);
		if (wd_handler)
			wd_handler();
		else
			abort();
		stuck_since = 0;
	}
	return NULL;
}

int watchdog_start(unsigned timeout_ms, void (*on_hang)(void))
{
	int ret = 0;

	pthread_mutex_lock(&wd_lock);
	if (wd_running) {
		ret = -EBUSY;
	} else {
		wd_timeout_ms = timeout_ms;
		wd_handler = on_hang;
		__atomic_store_n(&wd_stop, 0, __ATOMIC_RELEASE);
		if (pthread_create(&wd_thread, NULL, wd_main, NULL))
			ret = -EAGAIN;
		else
			wd_running = true;
	}
	pthread_mutex_unlock(&wd_lock);
	return ret;
}

void watchdog_stop(void)
{
	pthread_mutex_lock(&wd_lock);
	if (wd_running) {
		__atomic_store_n(&wd_stop, 1, __ATOMIC_RELEASE);
		futex_wake(&wd_stop, 1);
		pthread_join(wd_thread, NULL);
		wd_running = false;
	}
	pthread_mutex_unlock(&wd_lock);
}

unsigned long watchdog_hangs(void)
{
	return __atomic_load_n(&wd_hangs, __ATOMIC_RELAXED);
}

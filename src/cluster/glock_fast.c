/* SPDX-License-Identifier: MIT */
/*
 * glock_fast.c - the glock fast path's slow parts (glock_fast.h has the
 * argument): each thread's slot table and the list of them, gl_fast (which
 * states the fast path may grant), the process-wide barrier, the worker's
 * scan for fast holders and the dq that finds the glock closed.
 *
 * Locks: gl_fast is written under gl_lock; gtask_lock (pthread, leaf) guards
 * gtask_list and is taken under gl_lock by the worker's scan; a thread's own
 * slots are written without a lock (atomics).
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cluster/glock_fast.h"

TEST_SWITCH(glock_test_fastpath_no_drain_check);
TEST_SWITCH(glock_test_fork_keeps_slots);

__thread_hot struct glock_task glock_task;
bool glock_fast_enabled;
uint64_t glock_coarse_slack_ns = 4 * 10000000ull + GLOCK_COARSE_SLACK_MIN_NS;

static pthread_mutex_t gtask_lock = PTHREAD_MUTEX_INITIALIZER;
static LIST_HEAD_DECL(gtask_list);
static pthread_key_t gtask_key;
static pthread_once_t gtask_once = PTHREAD_ONCE_INIT;

static void gtask_exit(void *p)
{
	struct glock_task *t = p;

	pthread_mutex_lock(&gtask_lock);
	list_del_init(&t->link);
	t->registered = false;
	pthread_mutex_unlock(&gtask_lock);
}

static int membarrier_register(void)
{
	return (int)syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
}

/*
 * The child of a fork has one thread and a new mm: only that thread's slots
 * are left (the others' would hold stale pointers forever), and the
 * membarrier registration, which belongs to the mm, is made again.
 */
static void gtask_atfork_child(void)
{
	if (glock_test_fork_keeps_slots)
		return;
	pthread_mutex_init(&gtask_lock, NULL);
	INIT_LIST_HEAD(&gtask_list);
	if (glock_task.registered)
		list_add(&glock_task.link, &gtask_list);
	if (__atomic_load_n(&glock_fast_enabled, __ATOMIC_RELAXED) && membarrier_register())
		__atomic_store_n(&glock_fast_enabled, false, __ATOMIC_RELAXED);
}

static void fast_init_once(void)
{
	long mask = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	struct timespec res;

	if (pthread_key_create(&gtask_key, gtask_exit) ||
	    pthread_atfork(NULL, NULL, gtask_atfork_child))
		return;
	if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0)
		glock_coarse_slack_ns =
		    4 * ((uint64_t)res.tv_sec * 1000000000ull + (uint64_t)res.tv_nsec) +
		    GLOCK_COARSE_SLACK_MIN_NS;
	if (mask < 0 || !(mask & MEMBARRIER_CMD_PRIVATE_EXPEDITED) || membarrier_register()) {
		fprintf(stderr, "pagecache: cluster: no membarrier(PRIVATE_EXPEDITED): every "
				"glock holder takes the slow path\n");
		return;
	}
	__atomic_store_n(&glock_fast_enabled, true, __ATOMIC_RELEASE);
}

void glock_fast_init(void)
{
	pthread_once(&gtask_once, fast_init_once);
}

bool glock_task_register(struct glock_task *t)
{
	if (!__atomic_load_n(&glock_fast_enabled, __ATOMIC_ACQUIRE))
		return false;
	/* The key's destructor unlinks the table when the thread exits. */
	if (pthread_setspecific(gtask_key, t))
		return false;
	pthread_mutex_lock(&gtask_lock);
	list_add(&t->link, &gtask_list);
	t->registered = true;
	pthread_mutex_unlock(&gtask_lock);
	return true;
}

unsigned long glock_fast_count(void)
{
	return glock_task.nfast;
}

void glock_fast_barrier(void)
{
	/* Cannot fail once registered (fast_init_once); if it did, the fast
	 * path would not be safe: stop here rather than go on. */
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0)) {
		perror("pagecache: cluster: membarrier");
		abort();
	}
}

void gl_fast_update(struct glock *gl)
{
	unsigned m = 0;

	if (__atomic_load_n(&glock_fast_enabled, __ATOMIC_RELAXED) &&
	    !(gl->gl_flags & GLF_FAST_BLOCK) && !gl->gl_want_ex && !gl->gl_want_sh &&
	    !gl->gl_want_df) {
		switch (gl->gl_state) {
		case LM_ST_EXCLUSIVE:
			m = gl_state_bit(LM_ST_EXCLUSIVE) | gl_state_bit(LM_ST_SHARED);
			break;
		case LM_ST_SHARED:
			m = gl_state_bit(LM_ST_SHARED);
			break;
		case LM_ST_DEFERRED:
			m = gl_state_bit(LM_ST_DEFERRED);
			break;
		case LM_ST_UNLOCKED:
			break;
		}
	}
	if (gl->gl_flags & GLF_DRAIN_WAIT)
		m |= GL_FAST_WAITER;
	if (__atomic_load_n(&gl->gl_fast, __ATOMIC_RELAXED) != m)
		__atomic_store_n(&gl->gl_fast, m, __ATOMIC_RELEASE);
}

bool glock_fast_held(struct glock *gl)
{
	struct glock_task *t;
	bool held = false;
	unsigned i;

	if (glock_test_fastpath_no_drain_check)
		return false;
	pthread_mutex_lock(&gtask_lock);
	list_for_each_entry (t, &gtask_list, link)
		for (i = 0; i < GLOCK_TASK_SLOTS && !held; i++)
			held = __atomic_load_n(&t->held[i], __ATOMIC_ACQUIRE) == gl;
	pthread_mutex_unlock(&gtask_lock);
	return held;
}

void glock_fast_dq_waited(struct glock *gl)
{
	bool waits;

	mutex_lock(&gl->gl_lock);
	waits = gl->gl_flags & GLF_DRAIN_WAIT;
	if (waits)
		glock_queue_work(gl); /* the worker scans again */
	mutex_unlock(&gl->gl_lock);
	if (waits)
		wake_up_all(&gl->gl_wait); /* a withdrawal waits there */
}

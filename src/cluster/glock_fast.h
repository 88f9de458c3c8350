/* SPDX-License-Identifier: MIT */
/*
 * glock_fast.h - inside the cluster layer: the glock fast path (after the
 * kernel's percpu_rw_semaphore). A holder whose request the cached state
 * already covers, with nothing pending on the glock, is granted without
 * gl_lock and without an atomic read-modify-write: it publishes the glock
 * in a slot of its thread's struct glock_task, then checks gl_fast (the
 * states the fast path may grant now; none: closed). The worker closes the
 * glock (GLF_DRAIN: no state in gl_fast, under gl_lock), runs membarrier() (a full
 * barrier on every thread of the process: each fast holder either published
 * its slot before that barrier, and the worker's scan sees it, or reads
 * gl_fast after it and sees the glock closed) and scans every thread's
 * slots. While a fast holder is inside it sets GLF_DRAIN_WAIT (GL_FAST_WAITER
 * in gl_fast), runs the barrier again and scans again (either that scan sees
 * a holder's slot cleared or the holder's dq sees GL_FAST_WAITER), then
 * returns; a fast dq that reads GL_FAST_WAITER takes gl_lock and requeues
 * the worker (and wakes gl_wait for a withdrawal). Any other dq is one
 * release store and one load: no lock, no wake-up, as nobody waits.
 *
 * The lease on the fast path: membership must read CM_VALID and the coarse
 * monotonic clock (a vDSO read of the time at the last tick update: 4 ns
 * against 17 ns for the precise clock on the development VM, where a pread
 * hit costs 300 ns) plus a slack of four ticks and 100 ms must lie before
 * lease_until; else the slow path checks against the precise clock
 * (glock_lease_check). The coarse clock lags the precise one by the time
 * since its last update: up to 12 ms measured on the development VM (its
 * resolution says 4 ms), so the slack is generous; a lag beyond it would let
 * the fast path grant up to (lag - slack) past lease_until, inside the lease
 * margin (T/3). The heartbeat keeps lease_until about T/2 ahead, so the
 * fast path is refused only when the lock service has gone quiet.
 *
 * Locks: none on the fast path. glock_fast.c: gl_lock -> gtask_lock
 * (pthread, leaf: the list of threads' slot tables).
 */
#ifndef PC_CLUSTER_GLOCK_FAST_H
#define PC_CLUSTER_GLOCK_FAST_H

#include <time.h>

#include "cluster/lock_module.h"

#define GLOCK_TASK_SLOTS 4 /* fast holders one thread may hold at once (then slow) */

struct glock_task {
	struct glock
	    *held[GLOCK_TASK_SLOTS]; /* atomic: written by the thread, read by the worker */
	struct list_head link;	     /* on gtask_list (under gtask_lock) */
	bool registered;
	unsigned long nfast; /* fast grants of this thread (glock_fast_count) */
};

extern __thread_hot struct glock_task glock_task;
extern bool glock_fast_enabled; /* membarrier() works here (cluster_mount) */
#define GLOCK_COARSE_SLACK_MIN_NS (100 * 1000000ull)
extern uint64_t glock_coarse_slack_ns; /* 4 ticks of CLOCK_MONOTONIC_COARSE and 100 ms */

bool glock_task_register(struct glock_task *t);
void glock_fast_dq_waited(struct glock *gl);
/* Called once before the first glock of a cluster (cluster_mount). */
void glock_fast_init(void);
/* Under gl_lock: set gl_fast from the glock's fields (after any change). */
void gl_fast_update(struct glock *gl);
/* Under gl_lock, in the worker: is a fast holder of @gl inside? */
bool glock_fast_held(struct glock *gl);
/* The calling thread's fast grants so far (tests, bench). */
unsigned long glock_fast_count(void);
/* A full barrier on every thread of the process (membarrier). */
void glock_fast_barrier(void);

/* Drop gl_lock after changing the glock: gl_fast follows the fields. */
static inline void gl_unlock(struct glock *gl)
{
	gl_fast_update(gl);
	mutex_unlock(&gl->gl_lock);
}

static inline unsigned gl_state_bit(enum gl_state s)
{
	return 1u << s;
}

static inline bool glock_fast_lease_ok(struct cluster *c)
{
	struct timespec ts;
	uint64_t now;

	if (glock_test_no_lease_margin)
		return true;
	if (atomic_load_explicit(&c->membership, memory_order_relaxed) != CM_VALID)
		return false;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return now + glock_coarse_slack_ns <
	       atomic_load_explicit(&c->lease_until_ns, memory_order_relaxed);
}

/* glock_nq's first try: true when granted (gh->gh_slot set). */
static inline bool glock_fast_nq(struct gholder *gh)
{
	struct glock *gl = gh->gh_gl;
	struct glock_task *t = &glock_task;
	unsigned want = gl_state_bit((enum gl_state)gh->gh_state), i;

	if (!(__atomic_load_n(&gl->gl_fast, __ATOMIC_RELAXED) & want) ||
	    (gh->gh_flags & GL_NOCACHE) || !glock_fast_lease_ok(gl->gl_cluster))
		return false;
	if (unlikely(!t->registered) && !glock_task_register(t))
		return false;
	for (i = 0; i < GLOCK_TASK_SLOTS; i++)
		if (!__atomic_load_n(&t->held[i], __ATOMIC_RELAXED))
			break;
	if (i == GLOCK_TASK_SLOTS)
		return false;
	/* (release: whatever value of the slot the worker reads orders what
	 * this thread did under the glock it held there before) */
	__atomic_store_n(&t->held[i], gl, __ATOMIC_RELEASE);
	/* The reader's half of the membarrier pairing: a compiler barrier. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (likely(__atomic_load_n(&gl->gl_fast, __ATOMIC_ACQUIRE) & want)) {
		gh->gh_slot = &t->held[i];
		t->nfast++;
		return true;
	}
	/* Closed meanwhile: the worker may have seen the slot already. */
	__atomic_store_n(&t->held[i], NULL, __ATOMIC_RELEASE);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&gl->gl_fast, __ATOMIC_RELAXED) & GL_FAST_WAITER)
		glock_fast_dq_waited(gl);
	return false;
}

static inline void glock_fast_dq(struct gholder *gh)
{
	struct glock *gl = gh->gh_gl;

	__atomic_store_n(gh->gh_slot, NULL, __ATOMIC_RELEASE);
	gh->gh_slot = NULL;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (unlikely(__atomic_load_n(&gl->gl_fast, __ATOMIC_RELAXED) & GL_FAST_WAITER))
		glock_fast_dq_waited(gl); /* the worker waits for this one */
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * glock_demote.c - the worker's half of the glock state machine (glock.c has
 * the table and the holders): what a glock needs when the worker picks it up
 * (a demote another node asked for, after the minimum hold time and once
 * the holders are gone: go_sync, go_inval, then the lock module's convert or
 * unlock; a state local waiters need; a request to the service), the lock
 * module's grants and demote requests, and the withdrawal after the session
 * was lost.
 *
 * Locks: gl_lock (leaf) around field updates only; go_* and lm_* are called
 * with no lock held, with GLF_BUSY set so that no holder is granted and no
 * other change starts meanwhile, and after fast_drain found no holder of the
 * fast path inside (GLF_DRAIN keeps new ones out until glock_run ends).
 * Worker thread only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/glock_fast.h"
#include "kernel/sched.h"

TEST_SWITCH(glock_test_orphan_no_recheck);
TEST_SWITCH(glock_test_demote_drop_skips_waiters);
TEST_SWITCH(glock_test_withdraw_waits_file_holders);

/* ---- the worker's part ---- */

static void run_sync(struct glock *gl)
{
	const struct glock_operations *ops = READ_ONCE(gl->gl_ops);
	void *object = READ_ONCE(gl->gl_object);
	int ret;

	if (!ops || !ops->go_sync || !object)
		return;
	ret = ops->go_sync(gl, object);
	if (ret)
		fprintf(stderr, "pagecache: cluster: glock %llx: go_sync: %s\n",
			(unsigned long long)gl->gl_name.ln_number, strerror(-ret));
}

static void run_inval(struct glock *gl, enum gl_state target)
{
	const struct glock_operations *ops = READ_ONCE(gl->gl_ops);
	void *object = READ_ONCE(gl->gl_object);

	if (ops && ops->go_inval && object)
		ops->go_inval(gl, object, target);
}

/*
 * Change the held state @from to @to (@to weaker for a demote, or the state
 * a local waiter needs). Runs with GLF_BUSY set and no lock held. Returns the
 * state now held (UN when an in-place conversion was not possible: then the
 * cache was invalidated and the lock released).
 */
static enum gl_state change_state(struct glock *gl, enum gl_state from, enum gl_state to)
{
	struct cluster *c = gl->gl_cluster;
	int ret = -EAGAIN;

	/* Write back only under a lease still valid (the margin covers the
	 * write-back itself: docs/cluster.md). */
	if (from == LM_ST_EXCLUSIVE && to != LM_ST_EXCLUSIVE && glock_lease_check(c) == 0)
		run_sync(gl);
	/* Leaving a caching state for one that does not cache (or for the
	 * window of a release): drop the cache first, before any other node
	 * can be granted. SH -> EX and EX -> SH in place keep it. */
	if (to == LM_ST_DEFERRED && from != LM_ST_DEFERRED)
		run_inval(gl, LM_ST_DEFERRED);
	if (to != LM_ST_UNLOCKED)
		ret = c->ops->lm_convert(gl, to);
	if (ret == 0)
		return to;
	if (from != LM_ST_DEFERRED && to != LM_ST_DEFERRED)
		run_inval(gl, LM_ST_UNLOCKED);
	c->ops->lm_unlock(gl);
	return LM_ST_UNLOCKED;
}

static enum gl_state strongest_want(const struct glock *gl)
{
	if (gl->gl_want_ex)
		return LM_ST_EXCLUSIVE;
	if (gl->gl_want_sh)
		return LM_ST_SHARED;
	if (gl->gl_want_df)
		return LM_ST_DEFERRED;
	return LM_ST_UNLOCKED;
}

static uint64_t request(struct glock *gl, enum gl_state w);

/*
 * A local waiter needs @to, which the held @from does not cover (SH -> EX,
 * EX or SH -> DF, DF -> SH or EX). In place if the service allows it;
 * otherwise the cache goes and the held lock is replaced by a request for
 * @to in one step (lm_lock with something held). GLF_BUSY is set.
 */
static uint64_t change_for_waiter(struct glock *gl, enum gl_state from, enum gl_state to)
{
	struct cluster *c = gl->gl_cluster;

	if (from == LM_ST_EXCLUSIVE && glock_lease_check(c) == 0)
		run_sync(gl);
	if (to == LM_ST_DEFERRED && from != LM_ST_DEFERRED)
		run_inval(gl, LM_ST_DEFERRED);
	if (c->ops->lm_convert(gl, to) == 0) {
		mutex_lock(&gl->gl_lock);
		__atomic_store_n(&gl->gl_state, to, __ATOMIC_RELEASE);
		gl->gl_tchange_ns = cluster_now_ns();
		gl->gl_flags &= ~GLF_BUSY;
		gl->gl_flags |= GLF_FRESH;
		gl_unlock(gl);
		wake_up_all(&gl->gl_wait);
		atomic_fetch_add_explicit(&c->stats.demotes, 1, memory_order_relaxed);
		return 0;
	}
	if (from != LM_ST_DEFERRED && to != LM_ST_DEFERRED)
		run_inval(gl, LM_ST_UNLOCKED);
	mutex_lock(&gl->gl_lock);
	__atomic_store_n(&gl->gl_state, LM_ST_UNLOCKED, __ATOMIC_RELEASE);
	return request(gl, to);
}

/* Under gl_lock with GLF_BUSY set and gl_state UN: ask the service for @w
 * (replacing what the module still holds); drops gl_lock. */
static uint64_t request(struct glock *gl, enum gl_state w)
{
	struct cluster *c = gl->gl_cluster;
	uint64_t delay = 0;
	int r;

	gl->gl_flags |= GLF_PENDING;
	/* Only GL_TRY waiters: the request is withdrawn if it would wait. */
	if (gl->gl_want_try && gl->gl_want_try == gl->gl_want_ex + gl->gl_want_sh + gl->gl_want_df)
		gl->gl_flags |= GLF_TRY;
	gl->gl_target = w;
	gl_unlock(gl);
	r = c->ops->lm_lock(gl, w);
	mutex_lock(&gl->gl_lock);
	if (r == 0 && (gl->gl_flags & GLF_TRY)) {
		/* Queued behind another node's lock: withdrawn (GLF_BUSY
		 * still set: nothing else starts meanwhile). */
		gl_unlock(gl);
		c->ops->lm_unlock(gl);
		mutex_lock(&gl->gl_lock);
		gl->gl_flags &= ~GLF_PENDING;
		gl->gl_try_seq++;
	}
	gl->gl_flags &= ~(GLF_BUSY | GLF_TRY);
	if (r < 0) {
		gl->gl_flags &= ~GLF_PENDING;
		if (gl->gl_want_try) {
			gl->gl_try_seq++; /* the try fails with the service */
		}
		delay = 100 * 1000000ull; /* the service failed: try again */
	}
	gl_unlock(gl);
	if (r == 1)
		glock_lm_granted(gl, w);
	wake_up_all(&gl->gl_wait);
	return delay;
}

/* A state local waiters need that the cached one does not cover (EX first),
 * or UN. */
static enum gl_state uncovered_want(const struct glock *gl)
{
	enum gl_state s = gl->gl_state;

	if (gl->gl_want_ex && !gl_covers(s, LM_ST_EXCLUSIVE))
		return LM_ST_EXCLUSIVE;
	if (gl->gl_want_df && !gl_covers(s, LM_ST_DEFERRED))
		return LM_ST_DEFERRED;
	if (gl->gl_want_sh && !gl_covers(s, LM_ST_SHARED))
		return LM_ST_SHARED;
	return LM_ST_UNLOCKED;
}

/* Some local waiter is covered by the cached state. */
static bool covered_want(const struct glock *gl)
{
	enum gl_state s = gl->gl_state;

	return (gl->gl_want_ex && gl_covers(s, LM_ST_EXCLUSIVE)) ||
	       (gl->gl_want_sh && gl_covers(s, LM_ST_SHARED)) ||
	       (gl->gl_want_df && gl_covers(s, LM_ST_DEFERRED));
}

/*
 * Under gl_lock, in the worker, before anything is done to a glock whose
 * state is not UN: no holder of the fast path may be inside (glock_fast.h).
 * 0: none is, nor can one enter until GLF_DRAIN is cleared (the end of
 * glock_run); 1: gl_lock was dropped for a barrier: look again; -1: one is
 * inside: GLF_DRAIN_WAIT is set (and was published by a barrier) and its dq
 * requeues the glock.
 */
static int fast_drain(struct glock *gl)
{
	if (!__atomic_load_n(&glock_fast_enabled, __ATOMIC_RELAXED))
		return 0;
	if (!(gl->gl_flags & GLF_DRAINED)) {
		gl->gl_flags |= GLF_DRAIN; /* gl_fast: no state */
		gl_unlock(gl);
		glock_fast_barrier();
		mutex_lock(&gl->gl_lock);
		gl->gl_flags |= GLF_DRAINED;
		return 1;
	}
	if (!glock_fast_held(gl)) {
		gl->gl_flags &= ~GLF_DRAIN_WAIT;
		return 0;
	}
	if (!(gl->gl_flags & GLF_DRAIN_WAIT)) {
		gl->gl_flags |= GLF_DRAIN_WAIT; /* gl_fast: GL_FAST_WAITER */
		gl_unlock(gl);
		glock_fast_barrier();
		mutex_lock(&gl->gl_lock);
		return 1;
	}
	return -1;
}

/* The worker: do what @gl needs. Returns ns until it should run again (min
 * hold), or 0. Called with a reference held, no lock. */
static uint64_t __glock_run(struct glock *gl, bool *drain_wait)
{
	struct cluster *c = gl->gl_cluster;
	enum gl_state from, to, now_held;
	bool orphan, demote;
	uint64_t delay = 0;

	mutex_lock(&gl->gl_lock);
	gl->gl_flags &= ~GLF_QUEUED;
again:
	if (glock_lease_check(c) != 0) {
		/* Fencing: with the lease in doubt nothing is written back or
		 * released under it; membership_check requeues on renewal -
		 * which it does only from SUSPENDED: a lapse it has not seen yet
		 * (the lease ran out since its last look, and may be renewed
		 * before its next one) is marked here, or this glock's work
		 * would be dropped for good (a waiter asleep with nothing
		 * queued or pending). */
		int valid = CM_VALID;
		atomic_compare_exchange_strong(&c->membership, &valid, CM_SUSPENDED);
		gl_unlock(gl);
		return 0;
	}
	orphan = __atomic_load_n(&gl->gl_ref, __ATOMIC_ACQUIRE) == 1 && !gl->gl_holders;
	if (atomic_load(&c->membership) != CM_VALID || gl->gl_holders ||
	    (gl->gl_flags & (GLF_BUSY | GLF_INSTANTIATING))) {
		gl_unlock(gl);
		return 0;
	}
	from = gl->gl_state;
	demote = false;
	if (orphan) {
		/* Nobody uses it: release what is held or queued, no go_*.
		 * No fast holder either, nor a drain: a holder holds a
		 * reference, and a newcomer's glock_get takes gl_lock after
		 * raising gl_ref, so it either made this no orphan or comes
		 * after GLF_BUSY closed the fast path. */
		if (from == LM_ST_UNLOCKED && !(gl->gl_flags & GLF_PENDING)) {
			gl_unlock(gl);
			return 0;
		}
		gl->gl_flags |= GLF_BUSY;
		gl_unlock(gl);
		sched_race_window("glock: orphan release, lock module not yet told");
		c->ops->lm_unlock(gl);
		mutex_lock(&gl->gl_lock);
		__atomic_store_n(&gl->gl_state, LM_ST_UNLOCKED, __ATOMIC_RELEASE);
		gl->gl_flags &=
		    ~(GLF_BUSY | GLF_PENDING | GLF_DEMOTE | GLF_NOCACHE | GLF_INSTANTIATE);
		if (glock_test_orphan_no_recheck) {
			gl_unlock(gl);
			return 0;
		}
		/* A glock_get + glock_nq may have come meanwhile and waited
		 * for GLF_BUSY to clear: wake it, and look again for what it
		 * wants (it holds a reference: no orphan now). */
		gl_unlock(gl);
		wake_up_all(&gl->gl_wait);
		mutex_lock(&gl->gl_lock);
		goto again;
	}
	if ((gl->gl_flags & (GLF_PENDING | GLF_NOCACHE)) == (GLF_PENDING | GLF_NOCACHE) &&
	    strongest_want(gl) == LM_ST_UNLOCKED) {
		/* The waiters it was asked for were cancelled (glock.c
		 * cancel_cleanup): withdrawn, before the service grants it. */
		gl->gl_flags |= GLF_BUSY;
		gl_unlock(gl);
		c->ops->lm_unlock(gl);
		mutex_lock(&gl->gl_lock);
		gl->gl_flags &= ~(GLF_BUSY | GLF_PENDING | GLF_NOCACHE);
		gl_unlock(gl);
		wake_up_all(&gl->gl_wait);
		mutex_lock(&gl->gl_lock);
		goto again;
	}
	if (gl->gl_flags & GLF_PENDING) {
		gl_unlock(gl);
		return 0;
	}
	if (from != LM_ST_UNLOCKED) {
		int d = fast_drain(gl);

		if (d > 0)
			goto again;
		if (d < 0) {
			*drain_wait = true;
			gl_unlock(gl);
			sched_race_window("glock: the worker waits for fast holders to leave");
			return 0;
		}
	}
	to = from;
	/* A demote the held state already satisfies (the state changed for a
	 * local waiter after the request came, e.g. EX -> DF for a DF one) is
	 * done: drop it and go on to what local waiters need. Stopping here
	 * would leave a waiter that queued this run asleep with nothing queued
	 * or pending (its node hangs until another node happens to ask). */
	if ((gl->gl_flags & GLF_DEMOTE) && gl_compatible(from, gl->gl_demote_state) &&
	    !glock_test_demote_drop_skips_waiters)
		gl->gl_flags &= ~GLF_DEMOTE;
	if ((gl->gl_flags & GLF_DEMOTE) && !gl_compatible(from, gl->gl_demote_state)) {
		uint64_t until = gl->gl_tchange_ns + (uint64_t)c->min_hold_ms * 1000000ull;
		uint64_t now = cluster_now_ns();

		if (!glock_test_no_min_hold && now < until) {
			gl_unlock(gl);
			return until - now;
		}
		if ((gl->gl_flags & GLF_FRESH) && covered_want(gl) &&
		    !glock_test_demote_before_fresh_waiters) {
			/* Granted (or changed) for waiters that have not run
			 * yet: they take it first, else the grant was for
			 * nothing and the demote a needless one (a waiter
			 * woken later than the minimum hold, or none). The
			 * first one's grant clears GLF_FRESH, the last dq
			 * requeues the glock; a waiter that leaves with an
			 * error requeues it too (glock_nq). */
			gl_unlock(gl);
			return 0;
		}
		/* The strongest state compatible with the request. */
		to = gl->gl_demote_state == LM_ST_EXCLUSIVE ? LM_ST_UNLOCKED : gl->gl_demote_state;
		if (to == LM_ST_SHARED && from == LM_ST_DEFERRED)
			to = LM_ST_UNLOCKED;
		demote = true;
	} else if ((gl->gl_flags & GLF_DEMOTE) && glock_test_demote_drop_skips_waiters) {
		gl->gl_flags &= ~GLF_DEMOTE;
	} else if (gl->gl_flags & GLF_NOCACHE) {
		to = LM_ST_UNLOCKED;
		gl->gl_flags &= ~GLF_NOCACHE;
	} else if (from != LM_ST_UNLOCKED) {
		enum gl_state w = uncovered_want(gl);

		if ((gl->gl_flags & GLF_FRESH) && covered_want(gl)) {
			/* A state just changed for waiters it covers: they
			 * take it before it changes again (no livelock); the
			 * last one's dq requeues the glock. */
			gl_unlock(gl);
			return 0;
		}
		if (w != LM_ST_UNLOCKED) {
			gl->gl_flags |= GLF_BUSY;
			gl_unlock(gl);
			return change_for_waiter(gl, from, w);
		}
	}
	if (to != from) {
		gl->gl_flags |= GLF_BUSY;
		gl_unlock(gl);
		now_held = change_state(gl, from, to);
		atomic_fetch_add_explicit(&c->stats.demotes, 1, memory_order_relaxed);
		mutex_lock(&gl->gl_lock);
		gl->gl_flags &= ~GLF_BUSY;
		if (demote)
			gl->gl_flags &= ~(GLF_DEMOTE | GLF_FRESH);
		__atomic_store_n(&gl->gl_state, now_held, __ATOMIC_RELEASE);
		if (now_held != LM_ST_UNLOCKED && now_held != from && !demote) {
			/* An in-place upgrade is a grant: nobody else held it. */
			gl->gl_tchange_ns = cluster_now_ns();
		}
		gl_unlock(gl);
		wake_up_all(&gl->gl_wait);
		mutex_lock(&gl->gl_lock);
		goto again;
	}
	/* Nothing held: ask the service for what local waiters want. */
	if (from == LM_ST_UNLOCKED) {
		enum gl_state w = strongest_want(gl);

		if (w != LM_ST_UNLOCKED) {
			gl->gl_flags |= GLF_BUSY;
			return request(gl, w);
		}
	}
	gl_unlock(gl);
	return delay;
}

uint64_t glock_run(struct glock *gl)
{
	bool drain_wait = false;
	uint64_t delay = __glock_run(gl, &drain_wait);

	/* Done: the fast path may open again (gl_unlock), unless the worker
	 * waits for a fast holder (whose dq requeues the glock). A wait this
	 * run gave up for another reason (a slow holder came) ends: that
	 * holder's dq requeues what is still to do. */
	mutex_lock(&gl->gl_lock);
	if (!drain_wait)
		gl->gl_flags &= ~(GLF_DRAIN | GLF_DRAINED | GLF_DRAIN_WAIT);
	gl_unlock(gl);
	if (gl->gl_cluster->ops->lm_ran)
		gl->gl_cluster->ops->lm_ran(gl);
	return delay;
}

void glock_lm_granted(struct glock *gl, enum gl_state state)
{
	mutex_lock(&gl->gl_lock);
	gl->gl_flags &= ~GLF_PENDING;
	__atomic_store_n(&gl->gl_state, state, __ATOMIC_RELEASE);
	gl->gl_tchange_ns = cluster_now_ns();
	gl->gl_flags |= GLF_INSTANTIATE | GLF_FRESH;
	/* (A GLF_NOCACHE grant nobody waits for any more: its waiters were
	 * cancelled; the worker releases it.) */
	if (gl->gl_flags & GLF_DEMOTE || uncovered_want(gl) != LM_ST_UNLOCKED ||
	    ((gl->gl_flags & GLF_NOCACHE) && !gl->gl_holders &&
	     strongest_want(gl) == LM_ST_UNLOCKED))
		glock_queue_work(gl);
	gl_unlock(gl);
	wake_up_all(&gl->gl_wait);
}

void glock_lm_demote_request(struct glock *gl, enum gl_state state)
{
	mutex_lock(&gl->gl_lock);
	if (gl->gl_flags & GLF_DEMOTE) {
		/* Two requests: the weakest target satisfies both. */
		if (!gl_compatible(gl->gl_demote_state, state))
			gl->gl_demote_state = LM_ST_EXCLUSIVE;
	} else {
		gl->gl_flags |= GLF_DEMOTE;
		gl->gl_demote_state = state;
	}
	if (!gl->gl_holders)
		glock_queue_work(gl);
	gl_unlock(gl);
}

/* One glock of glock_withdraw_all (glock_for_each holds a reference). */
static void withdraw_one(struct glock *gl, void *arg)
{
	struct cluster *c = gl->gl_cluster;
	struct wait_queue_entry e;
	enum gl_state was;

	(void)arg;
	wake_up_all(&gl->gl_wait);
	/* Close the fast path and wait for its holders too (glock_fast.h). */
	mutex_lock(&gl->gl_lock);
	gl->gl_flags |= GLF_DRAIN;
	gl_unlock(gl);
	if (__atomic_load_n(&glock_fast_enabled, __ATOMIC_RELAXED))
		glock_fast_barrier();
	init_wait_entry(&e, 0);
	for (;;) {
		prepare_to_wait(&gl->gl_wait, &e);
		mutex_lock(&gl->gl_lock);
		/* A holder of an open file (a flock) may be held for good: its
		 * lock is lost with the session, as NFS locks are with the
		 * lease (docs/cluster.md, "flock across nodes"). */
		if (gl->gl_holders ==
			(glock_test_withdraw_waits_file_holders ? 0 : gl->gl_file_holders) &&
		    !(gl->gl_flags & GLF_INSTANTIATING) && !glock_fast_held(gl))
			break;
		if (__atomic_load_n(&glock_fast_enabled, __ATOMIC_RELAXED) &&
		    !(gl->gl_flags & GLF_DRAIN_WAIT)) {
			/* Fast holders' dq wake us from now on: publish, look again. */
			gl->gl_flags |= GLF_DRAIN_WAIT;
			gl_unlock(gl);
			glock_fast_barrier();
			continue;
		}
		gl_unlock(gl);
		wait_entry_sleep(&e, NULL, false, "glock withdraw", gl);
	}
	was = gl->gl_state;
	gl->gl_flags |= GLF_BUSY;
	gl_unlock(gl);
	finish_wait(&gl->gl_wait, &e);
	if (was != LM_ST_UNLOCKED && was != LM_ST_DEFERRED)
		run_inval(gl, LM_ST_UNLOCKED);
	c->ops->lm_forget(gl);
	mutex_lock(&gl->gl_lock);
	__atomic_store_n(&gl->gl_state, LM_ST_UNLOCKED, __ATOMIC_RELEASE);
	gl->gl_flags &= ~(GLF_BUSY | GLF_PENDING | GLF_DEMOTE | GLF_NOCACHE | GLF_INSTANTIATE |
			  GLF_DRAIN | GLF_DRAINED | GLF_DRAIN_WAIT);
	gl_unlock(gl);
	wake_up_all(&gl->gl_wait);
}

/*
 * The session is gone (or must be assumed gone): every cached state is
 * dropped without writing back (the dirty data of EX is lost, as in a crash:
 * another node may hold the glock already). Waits for the holders of each
 * glock to leave (glock_nq fails with -EIO meanwhile).
 */
void glock_withdraw_all(struct cluster *c)
{
	glock_for_each(c, withdraw_one, NULL);
}

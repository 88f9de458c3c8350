/* SPDX-License-Identifier: MIT */
/*
 * glock.c - the glock state machine (after gfs2's glock.c): the table of
 * glocks, local holders (glock_nq/glock_dq), the cached granted state, demote
 * requests from other nodes and their execution by the cluster's worker
 * (go_sync, go_inval, then the lock module's convert or unlock), the minimum
 * hold time, go_instantiate for the first holder after a grant.
 *
 * Locks: hash_lock -> gl_lock -> work_lock (cluster.c). gl_lock is a leaf
 * mutex taken for a few field updates; nothing sleeps or calls out under it.
 * glock_nq is the validator class "glock" (EX: exclusive; SH, DF: read).
 * go_* and lm_* run with no lock held.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/lock_module.h"
#include "kernel/lockdep.h"

TEST_SWITCH(glock_test_no_lease_margin);
TEST_SWITCH(glock_test_no_min_hold);

static __thread unsigned task_glocks;
static struct lock_class_key glock_key = {.name = "glock"};
static struct lock_class_key glock_spin_key = {.name = "glock.gl_lock"};

uint64_t cluster_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *gl_state_name(enum gl_state s)
{
	switch (s) {
	case LM_ST_UNLOCKED:
		return "UN";
	case LM_ST_EXCLUSIVE:
		return "EX";
	case LM_ST_DEFERRED:
		return "DF";
	case LM_ST_SHARED:
		return "SH";
	}
	return "??";
}

unsigned glock_task_held(void)
{
	return task_glocks;
}

uint64_t glock_number(const struct glock *gl)
{
	return gl->gl_number;
}

enum gl_state glock_state(const struct glock *gl)
{
	return __atomic_load_n(&gl->gl_state, __ATOMIC_RELAXED);
}

/* ---- the table ---- */

static unsigned gl_hash(const struct cluster *c, uint64_t number)
{
	return (unsigned)((number * 0x9E3779B97F4A7C15ull) >> 40) & (c->hash_size - 1);
}

static struct glock *find_locked(struct cluster *c, uint64_t number)
{
	struct glock *gl;

	list_for_each_entry (gl, &c->hash[gl_hash(c, number)], gl_hash)
		if (gl->gl_number == number)
			return gl;
	return NULL;
}

struct glock *glock_lookup(struct cluster *c, uint64_t number)
{
	struct glock *gl;

	mutex_lock(&c->hash_lock);
	gl = find_locked(c, number);
	if (gl)
		__atomic_add_fetch(&gl->gl_ref, 1, __ATOMIC_RELAXED);
	mutex_unlock(&c->hash_lock);
	return gl;
}

int glock_get(struct cluster *c, uint64_t number, const struct glock_operations *ops, void *object,
	      struct glock **out)
{
	struct glock *gl;
	int ret;

	mutex_lock(&c->hash_lock);
	gl = find_locked(c, number);
	if (gl) {
		__atomic_add_fetch(&gl->gl_ref, 1, __ATOMIC_RELAXED);
		mutex_lock(&gl->gl_lock);
		gl->gl_ops = ops;
		gl->gl_object = object;
		mutex_unlock(&gl->gl_lock);
		mutex_unlock(&c->hash_lock);
		*out = gl;
		return 0;
	}
	gl = calloc(1, sizeof(*gl));
	if (!gl) {
		mutex_unlock(&c->hash_lock);
		return -ENOMEM;
	}
	gl->gl_cluster = c;
	gl->gl_number = number;
	gl->gl_ops = ops;
	gl->gl_object = object;
	gl->gl_ref = 1;
	INIT_LIST_HEAD(&gl->gl_work);
	mutex_init_class(&gl->gl_lock, &glock_spin_key);
	init_waitqueue_head(&gl->gl_wait);
	lockdep_init_map(&gl->gl_dep_map, "glock", &glock_key);
	ret = c->ops->lm_glock_init ? c->ops->lm_glock_init(gl) : 0;
	if (ret) {
		mutex_unlock(&c->hash_lock);
		free(gl);
		return ret;
	}
	list_add(&gl->gl_hash, &c->hash[gl_hash(c, number)]);
	c->nglocks++;
	mutex_unlock(&c->hash_lock);
	*out = gl;
	return 0;
}

static void glock_free(struct glock *gl)
{
	struct cluster *c = gl->gl_cluster;

	if (c->ops->lm_glock_free)
		c->ops->lm_glock_free(gl);
	mutex_destroy(&gl->gl_lock);
	free(gl);
}

/* An idle glock holds nothing at the service and nobody works on it. */
static bool gl_idle(const struct glock *gl)
{
	return gl->gl_state == LM_ST_UNLOCKED &&
	       !(gl->gl_flags & (GLF_PENDING | GLF_BUSY | GLF_QUEUED)) && !gl->gl_holders;
}

void glock_put(struct glock *gl)
{
	struct cluster *c = gl->gl_cluster;
	bool idle;

	mutex_lock(&c->hash_lock);
	if (__atomic_sub_fetch(&gl->gl_ref, 1, __ATOMIC_ACQ_REL) != 0) {
		mutex_unlock(&c->hash_lock);
		return;
	}
	mutex_lock(&gl->gl_lock);
	gl->gl_object = NULL;
	idle = gl_idle(gl);
	if (!idle)
		glock_queue_work(gl); /* the worker releases it, then puts it */
	mutex_unlock(&gl->gl_lock);
	if (idle) {
		list_del_init(&gl->gl_hash);
		c->nglocks--;
	}
	mutex_unlock(&c->hash_lock);
	if (idle)
		glock_free(gl);
}

/* Under gl_lock: hand @gl to the worker (takes a reference for it). */
void glock_queue_work(struct glock *gl)
{
	struct cluster *c = gl->gl_cluster;

	if (gl->gl_flags & GLF_QUEUED)
		return;
	gl->gl_flags |= GLF_QUEUED;
	__atomic_add_fetch(&gl->gl_ref, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&c->work_lock);
	list_add_tail(&gl->gl_work, &c->work);
	pthread_cond_signal(&c->work_cond);
	pthread_mutex_unlock(&c->work_lock);
}

/* ---- holders ---- */

void gholder_init(struct glock *gl, enum gl_state state, unsigned flags, struct gholder *gh)
{
	gh->gh_gl = gl;
	gh->gh_state = (uint8_t)state;
	gh->gh_flags = flags;
	gh->gh_held = 0;
	gh->gh_subclass = 0;
	INIT_LIST_HEAD(&gh->gh_list);
}

enum grant { GRANT, GRANT_INSTANTIATE, WAIT, WAIT_SUSPENDED };

/* The lease, as glock_nq sees it: 0 valid, 1 suspended (wait), -EIO lost. */
static int lease_check(struct cluster *c)
{
	uint64_t now;
	int m = atomic_load_explicit(&c->membership, memory_order_acquire);

	if (glock_test_no_lease_margin)
		return 0;
	if (m == CM_LOST)
		return -EIO;
	now = cluster_now_ns();
	if (now < atomic_load_explicit(&c->lease_until_ns, memory_order_acquire))
		return 0;
	if (now >= atomic_load_explicit(&c->lost_at_ns, memory_order_acquire))
		return -EIO;
	return 1;
}

static bool demote_blocks(const struct glock *gl, enum gl_state want)
{
	const struct cluster *c = gl->gl_cluster;

	if (!(gl->gl_flags & GLF_DEMOTE) || gl_covers(gl->gl_demote_state, want))
		return false;
	if (glock_test_no_min_hold)
		return true;
	return cluster_now_ns() >= gl->gl_tchange_ns + (uint64_t)c->min_hold_ms * 1000000ull;
}

/* A local waiter needs a state the cached one does not cover (SH -> EX,
 * -> DF): new holders queue behind it, as readers behind a queued writer. */
static bool upgrade_waits(const struct glock *gl)
{
	enum gl_state s = gl->gl_state;

	if (gl->gl_flags & GLF_FRESH)
		return false; /* the waiters of the new state go first */
	return (gl->gl_want_ex && !gl_covers(s, LM_ST_EXCLUSIVE)) ||
	       (gl->gl_want_sh && !gl_covers(s, LM_ST_SHARED)) ||
	       (gl->gl_want_df && !gl_covers(s, LM_ST_DEFERRED));
}

/* Under gl_lock. */
static int may_grant(struct glock *gl, enum gl_state want)
{
	int l = lease_check(gl->gl_cluster);

	if (l < 0)
		return l;
	if (l > 0)
		return WAIT_SUSPENDED;
	if (gl->gl_flags & (GLF_BUSY | GLF_INSTANTIATING))
		return WAIT;
	if (!gl_covers(gl->gl_state, want) || demote_blocks(gl, want) || upgrade_waits(gl))
		return WAIT;
	gl->gl_flags &= ~GLF_FRESH;
	if (gl->gl_flags & GLF_INSTANTIATE) {
		gl->gl_flags &= ~GLF_INSTANTIATE;
		gl->gl_flags |= GLF_INSTANTIATING;
		return GRANT_INSTANTIATE;
	}
	return GRANT;
}

static void want_add(struct glock *gl, enum gl_state s, int d)
{
	if (s == LM_ST_EXCLUSIVE)
		gl->gl_want_ex += (unsigned)d;
	else if (s == LM_ST_SHARED)
		gl->gl_want_sh += (unsigned)d;
	else
		gl->gl_want_df += (unsigned)d;
}

static int __glock_nq(struct gholder *gh)
{
	struct glock *gl = gh->gh_gl;
	struct cluster *c = gl->gl_cluster;
	enum gl_state want = (enum gl_state)gh->gh_state;
	struct wait_queue_entry e;
	bool wanting = false;
	int r, ret = 0;

	init_wait_entry(&e, 0);
	for (;;) {
		struct timespec dl, *dlp = NULL;

		prepare_to_wait(&gl->gl_wait, &e);
		mutex_lock(&gl->gl_lock);
		r = may_grant(gl, want);
		if (r == GRANT || r == GRANT_INSTANTIATE || r < 0)
			break;
		if (gh->gh_flags & GL_NOWAIT) {
			r = -EAGAIN;
			break;
		}
		if (!wanting) {
			want_add(gl, want, 1);
			wanting = true;
		}
		if (r == WAIT && !(gl->gl_flags & (GLF_BUSY | GLF_PENDING | GLF_INSTANTIATING)))
			glock_queue_work(gl);
		mutex_unlock(&gl->gl_lock);
		if (r == WAIT_SUSPENDED) {
			/* Membership is in doubt: look again soon (the lease is
			 * renewed by the worker, or ends in a loss). */
			clock_gettime(CLOCK_MONOTONIC, &dl);
			dl.tv_nsec += 50 * 1000000;
			if (dl.tv_nsec >= 1000000000) {
				dl.tv_sec++;
				dl.tv_nsec -= 1000000000;
			}
			dlp = &dl;
		}
		wait_entry_sleep(&e, dlp, false, "glock", gl);
	}
	if (wanting)
		want_add(gl, want, -1);
	if (r == GRANT || r == GRANT_INSTANTIATE) {
		gl->gl_holders++;
		if (gh->gh_flags & GL_NOCACHE)
			gl->gl_flags |= GLF_NOCACHE;
	}
	mutex_unlock(&gl->gl_lock);
	finish_wait(&gl->gl_wait, &e);
	if (r < 0)
		return r;
	if (r == GRANT_INSTANTIATE) {
		const struct glock_operations *ops = gl->gl_ops;

		if (ops && ops->go_instantiate && gl->gl_object)
			ret = ops->go_instantiate(gl, gl->gl_object);
		mutex_lock(&gl->gl_lock);
		gl->gl_flags &= ~GLF_INSTANTIATING;
		if (ret) {
			gl->gl_flags |= GLF_INSTANTIATE;
			gl->gl_holders--;
			if (!gl->gl_holders)
				glock_queue_work(gl);
		}
		mutex_unlock(&gl->gl_lock);
		wake_up_all(&gl->gl_wait);
		atomic_fetch_add_explicit(&c->stats.nq_remote, 1, memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&c->stats.nq_cached, 1, memory_order_relaxed);
	}
	return ret;
}

int glock_nq(struct gholder *gh)
{
	struct glock *gl = gh->gh_gl;
	struct cluster *c = gl->gl_cluster;
	enum lock_mode mode = gh->gh_state == LM_ST_EXCLUSIVE ? LM_EXCL : LM_READ;
	bool try = gh->gh_flags & GL_NOWAIT;
	int ret = 0;

	lock_acquire(&gl->gl_dep_map, gl, gh->gh_subclass, mode, try, THIS_LOC);
	/* nolock: every request is granted at once; nothing is cached to give up. */
	if (c->ops != &nolock_ops)
		ret = __glock_nq(gh);
	if (ret) {
		lock_release(&gl->gl_dep_map, gl, THIS_LOC);
		return ret;
	}
	if (!try)
		lock_acquired(gl);
	gh->gh_held = 1;
	task_glocks++;
	return 0;
}

void glock_dq(struct gholder *gh)
{
	struct glock *gl = gh->gh_gl;
	struct cluster *c = gl->gl_cluster;

	if (!gh->gh_held)
		return;
	gh->gh_held = 0;
	task_glocks--;
	lock_release(&gl->gl_dep_map, gl, THIS_LOC);
	if (c->ops == &nolock_ops)
		return;
	mutex_lock(&gl->gl_lock);
	if (!--gl->gl_holders) {
		if (gl->gl_flags & (GLF_DEMOTE | GLF_NOCACHE) || gl->gl_want_ex || gl->gl_want_sh ||
		    gl->gl_want_df || atomic_load(&c->membership) != CM_VALID)
			glock_queue_work(gl);
	}
	mutex_unlock(&gl->gl_lock);
	wake_up_all(&gl->gl_wait);
}

int glock_nq_two(struct gholder *a, struct gholder *b)
{
	int ret;

	if (a->gh_gl == b->gh_gl) {
		/* One glock: one holder of the stronger state covers both. */
		if (b->gh_state == LM_ST_EXCLUSIVE)
			a->gh_state = LM_ST_EXCLUSIVE;
		ret = glock_nq(a);
		return ret;
	}
	if (a->gh_gl->gl_number > b->gh_gl->gl_number) {
		struct gholder *t = a;

		a = b;
		b = t;
	}
	ret = glock_nq(a);
	if (ret)
		return ret;
	b->gh_subclass = SINGLE_DEPTH_NESTING;
	ret = glock_nq(b);
	if (ret)
		glock_dq(a);
	return ret;
}

/* ---- the worker's part ---- */

static void run_sync(struct glock *gl)
{
	const struct glock_operations *ops = gl->gl_ops;
	int ret;

	if (!ops || !ops->go_sync || !gl->gl_object)
		return;
	ret = ops->go_sync(gl, gl->gl_object);
	if (ret)
		fprintf(stderr, "pagecache: cluster: glock %llx: go_sync: %s\n",
			(unsigned long long)gl->gl_number, strerror(-ret));
}

static void run_inval(struct glock *gl, enum gl_state target)
{
	const struct glock_operations *ops = gl->gl_ops;

	if (ops && ops->go_inval && gl->gl_object)
		ops->go_inval(gl, gl->gl_object, target);
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
	if (from == LM_ST_EXCLUSIVE && to != LM_ST_EXCLUSIVE && lease_check(c) == 0)
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

	if (from == LM_ST_EXCLUSIVE && lease_check(c) == 0)
		run_sync(gl);
	if (to == LM_ST_DEFERRED && from != LM_ST_DEFERRED)
		run_inval(gl, LM_ST_DEFERRED);
	if (c->ops->lm_convert(gl, to) == 0) {
		mutex_lock(&gl->gl_lock);
		__atomic_store_n(&gl->gl_state, to, __ATOMIC_RELEASE);
		gl->gl_tchange_ns = cluster_now_ns();
		gl->gl_flags &= ~GLF_BUSY;
		gl->gl_flags |= GLF_FRESH;
		mutex_unlock(&gl->gl_lock);
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
	gl->gl_target = w;
	mutex_unlock(&gl->gl_lock);
	r = c->ops->lm_lock(gl, w);
	mutex_lock(&gl->gl_lock);
	gl->gl_flags &= ~GLF_BUSY;
	if (r < 0) {
		gl->gl_flags &= ~GLF_PENDING;
		delay = 100 * 1000000ull; /* the service failed: try again */
	}
	mutex_unlock(&gl->gl_lock);
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

/* The worker: do what @gl needs. Returns ns until it should run again (min
 * hold), or 0. Called with a reference held, no lock. */
uint64_t glock_run(struct glock *gl)
{
	struct cluster *c = gl->gl_cluster;
	enum gl_state from, to, now_held;
	bool orphan, demote;
	uint64_t delay = 0;

	mutex_lock(&gl->gl_lock);
	gl->gl_flags &= ~GLF_QUEUED;
again:
	if (lease_check(c) != 0) {
		/* Fencing: with the lease in doubt nothing is written back or
		 * released under it; membership_check requeues on renewal. */
		mutex_unlock(&gl->gl_lock);
		return 0;
	}
	orphan = __atomic_load_n(&gl->gl_ref, __ATOMIC_ACQUIRE) == 1 && !gl->gl_holders;
	if (atomic_load(&c->membership) != CM_VALID || gl->gl_holders ||
	    (gl->gl_flags & (GLF_BUSY | GLF_INSTANTIATING))) {
		mutex_unlock(&gl->gl_lock);
		return 0;
	}
	from = gl->gl_state;
	demote = false;
	if (orphan) {
		/* Nobody uses it: release what is held or queued, no go_*. */
		if (from == LM_ST_UNLOCKED && !(gl->gl_flags & GLF_PENDING)) {
			mutex_unlock(&gl->gl_lock);
			return 0;
		}
		gl->gl_flags |= GLF_BUSY;
		mutex_unlock(&gl->gl_lock);
		c->ops->lm_unlock(gl);
		mutex_lock(&gl->gl_lock);
		__atomic_store_n(&gl->gl_state, LM_ST_UNLOCKED, __ATOMIC_RELEASE);
		gl->gl_flags &=
		    ~(GLF_BUSY | GLF_PENDING | GLF_DEMOTE | GLF_NOCACHE | GLF_INSTANTIATE);
		mutex_unlock(&gl->gl_lock);
		return 0;
	}
	if (gl->gl_flags & GLF_PENDING) {
		mutex_unlock(&gl->gl_lock);
		return 0;
	}
	to = from;
	if ((gl->gl_flags & GLF_DEMOTE) && !gl_compatible(from, gl->gl_demote_state)) {
		uint64_t until = gl->gl_tchange_ns + (uint64_t)c->min_hold_ms * 1000000ull;
		uint64_t now = cluster_now_ns();

		if (!glock_test_no_min_hold && now < until) {
			mutex_unlock(&gl->gl_lock);
			return until - now;
		}
		/* The strongest state compatible with the request. */
		to = gl->gl_demote_state == LM_ST_EXCLUSIVE ? LM_ST_UNLOCKED : gl->gl_demote_state;
		if (to == LM_ST_SHARED && from == LM_ST_DEFERRED)
			to = LM_ST_UNLOCKED;
		demote = true;
	} else if (gl->gl_flags & GLF_DEMOTE) {
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
			mutex_unlock(&gl->gl_lock);
			return 0;
		}
		if (w != LM_ST_UNLOCKED) {
			gl->gl_flags |= GLF_BUSY;
			mutex_unlock(&gl->gl_lock);
			return change_for_waiter(gl, from, w);
		}
	}
	if (to != from) {
		gl->gl_flags |= GLF_BUSY;
		mutex_unlock(&gl->gl_lock);
		now_held = change_state(gl, from, to);
		atomic_fetch_add_explicit(&c->stats.demotes, 1, memory_order_relaxed);
		mutex_lock(&gl->gl_lock);
		gl->gl_flags &= ~GLF_BUSY;
		if (demote)
			gl->gl_flags &= ~GLF_DEMOTE;
		__atomic_store_n(&gl->gl_state, now_held, __ATOMIC_RELEASE);
		if (now_held != LM_ST_UNLOCKED && now_held != from && !demote) {
			/* An in-place upgrade is a grant: nobody else held it. */
			gl->gl_tchange_ns = cluster_now_ns();
		}
		mutex_unlock(&gl->gl_lock);
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
	mutex_unlock(&gl->gl_lock);
	return delay;
}

void glock_lm_granted(struct glock *gl, enum gl_state state)
{
	mutex_lock(&gl->gl_lock);
	gl->gl_flags &= ~GLF_PENDING;
	__atomic_store_n(&gl->gl_state, state, __ATOMIC_RELEASE);
	gl->gl_tchange_ns = cluster_now_ns();
	gl->gl_flags |= GLF_INSTANTIATE | GLF_FRESH;
	if (gl->gl_flags & GLF_DEMOTE || uncovered_want(gl) != LM_ST_UNLOCKED)
		glock_queue_work(gl);
	mutex_unlock(&gl->gl_lock);
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
	mutex_unlock(&gl->gl_lock);
}

/*
 * The session is gone (or must be assumed gone): every cached state is
 * dropped without writing back (the dirty data of EX is lost, as in a crash:
 * another node may hold the glock already). Waits for the holders of each
 * glock to leave (glock_nq fails with -EIO meanwhile).
 */
void glock_withdraw_all(struct cluster *c)
{
	struct glock **v = NULL;
	unsigned n = 0, i, b;
	struct glock *gl;

	mutex_lock(&c->hash_lock);
	v = calloc(c->nglocks + 1, sizeof(*v));
	for (b = 0; v && b < c->hash_size; b++)
		list_for_each_entry (gl, &c->hash[b], gl_hash) {
			__atomic_add_fetch(&gl->gl_ref, 1, __ATOMIC_RELAXED);
			v[n++] = gl;
		}
	mutex_unlock(&c->hash_lock);
	for (i = 0; i < n; i++) {
		struct wait_queue_entry e;
		enum gl_state was;

		gl = v[i];
		wake_up_all(&gl->gl_wait);
		init_wait_entry(&e, 0);
		for (;;) {
			prepare_to_wait(&gl->gl_wait, &e);
			mutex_lock(&gl->gl_lock);
			if (!gl->gl_holders && !(gl->gl_flags & GLF_INSTANTIATING))
				break;
			mutex_unlock(&gl->gl_lock);
			wait_entry_sleep(&e, NULL, false, "glock withdraw", gl);
		}
		was = gl->gl_state;
		gl->gl_flags |= GLF_BUSY;
		mutex_unlock(&gl->gl_lock);
		finish_wait(&gl->gl_wait, &e);
		if (was != LM_ST_UNLOCKED && was != LM_ST_DEFERRED)
			run_inval(gl, LM_ST_UNLOCKED);
		c->ops->lm_forget(gl);
		mutex_lock(&gl->gl_lock);
		__atomic_store_n(&gl->gl_state, LM_ST_UNLOCKED, __ATOMIC_RELEASE);
		gl->gl_flags &=
		    ~(GLF_BUSY | GLF_PENDING | GLF_DEMOTE | GLF_NOCACHE | GLF_INSTANTIATE);
		mutex_unlock(&gl->gl_lock);
		wake_up_all(&gl->gl_wait);
		glock_put(gl);
	}
	free(v);
}

/* Wakes every waiter (membership changed). */
void glock_wake_all(struct cluster *c)
{
	struct glock *gl;
	unsigned b;

	mutex_lock(&c->hash_lock);
	for (b = 0; b < c->hash_size; b++)
		list_for_each_entry (gl, &c->hash[b], gl_hash)
			wake_up_all(&gl->gl_wait);
	mutex_unlock(&c->hash_lock);
}

/* Unmount: every glock must have been put; frees the idle ones left. */
void glock_free_all(struct cluster *c)
{
	struct glock *gl, *n;
	unsigned b;

	mutex_lock(&c->hash_lock);
	for (b = 0; b < c->hash_size; b++)
		list_for_each_entry_safe (gl, n, &c->hash[b], gl_hash) {
			if (gl->gl_ref)
				fprintf(
				    stderr,
				    "pagecache: cluster: glock %llx still referenced at unmount\n",
				    (unsigned long long)gl->gl_number);
			list_del_init(&gl->gl_hash);
			c->nglocks--;
			glock_free(gl);
		}
	mutex_unlock(&c->hash_lock);
}

void glock_for_each(struct cluster *c, void (*fn)(struct glock *gl, void *arg), void *arg)
{
	struct glock **v;
	unsigned n = 0, i, b;
	struct glock *gl;

	mutex_lock(&c->hash_lock);
	v = calloc(c->nglocks + 1, sizeof(*v));
	for (b = 0; v && b < c->hash_size; b++)
		list_for_each_entry (gl, &c->hash[b], gl_hash) {
			__atomic_add_fetch(&gl->gl_ref, 1, __ATOMIC_RELAXED);
			v[n++] = gl;
		}
	mutex_unlock(&c->hash_lock);
	for (i = 0; i < n; i++) {
		fn(v[i], arg);
		glock_put(v[i]);
	}
	free(v);
}

static void requeue_one(struct glock *gl, void *arg)
{
	mutex_lock(&gl->gl_lock);
	if (gl->gl_flags & (GLF_DEMOTE | GLF_NOCACHE) || gl->gl_want_ex || gl->gl_want_sh ||
	    gl->gl_want_df)
		glock_queue_work(gl);
	mutex_unlock(&gl->gl_lock);
	wake_up_all(&gl->gl_wait);
}

/* The lease is valid again: everything deferred meanwhile runs. */
void glock_requeue_all(struct cluster *c)
{
	glock_for_each(c, requeue_one, NULL);
}

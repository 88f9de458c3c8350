/* SPDX-License-Identifier: MIT */
/*
 * glock.c - the glock state machine (after gfs2's glock.c), its first half:
 * the table of glocks and local holders (glock_nq/glock_dq) granted from the
 * cached state, the lease check, go_instantiate for the first holder after
 * a grant. The worker's half (demotes, requests, withdrawal) is
 * glock_demote.c.
 *
 * Locks: hash_lock -> gl_lock -> work_lock (cluster.c). gl_lock is a leaf
 * mutex taken for a few field updates; nothing sleeps or calls out under it.
 * glock_nq is the validator class "glock" (EX: exclusive; SH, DF: read).
 * go_* and lm_* run with no lock held. glock_nq tries the fast path first
 * (glock_fast.h: no lock); every gl_lock section ends in gl_unlock, which
 * sets gl_fast from the fields it changed. A GL_FILE holder (a flock, held
 * by an open file across calls) is validated at its acquisition and then
 * leaves the validator's held set and the thread's count. A GL_KILLABLE
 * waiter (a blocking flock) sleeps killable; cancelled, it leaves no want,
 * and what was asked for it alone goes back (cancel_cleanup). A waiter that
 * finds the lease suspended sleeps on the cluster's member_wait instead of
 * gl_wait until a renewal, the expiry or a membership change wakes it
 * (lease_suspended_wait; its queue's own spinlock, no glock lock held).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/glock_fast.h"
#include "kernel/lockdep.h"
#include "kernel/sched.h"

TEST_SWITCH(glock_test_no_lease_margin);
TEST_SWITCH(glock_test_no_min_hold);
TEST_SWITCH(glock_test_demote_ignores_remote_ex);
TEST_SWITCH(glock_test_try_ignores_remote_ex);
TEST_SWITCH(glock_test_demote_before_fresh_waiters);
TEST_SWITCH(glock_test_cancel_leaves_request);
TEST_SWITCH(glock_test_suspended_poll);
TEST_SWITCH(glock_test_put_queues_after_stop);
TEST_KNOB(unsigned long, glock_test_referenced_at_unmount);
TEST_KNOB(unsigned long, glock_test_puts_after_stop);

static __thread_hot unsigned task_glocks;
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
	return gl->gl_name.ln_number;
}

const struct lm_lockname *glock_name(const struct glock *gl)
{
	return &gl->gl_name;
}

int lm_name_cmp(const struct lm_lockname *a, const struct lm_lockname *b)
{
	if (a->ln_number != b->ln_number)
		return a->ln_number < b->ln_number ? -1 : 1;
	if (a->ln_gen != b->ln_gen)
		return a->ln_gen < b->ln_gen ? -1 : 1;
	if (a->ln_type != b->ln_type)
		return a->ln_type < b->ln_type ? -1 : 1;
	return 0;
}

enum gl_state glock_state(const struct glock *gl)
{
	return __atomic_load_n(&gl->gl_state, __ATOMIC_RELAXED);
}

/* ---- the table ---- */

static unsigned gl_hash(const struct cluster *c, const struct lm_lockname *name)
{
	uint64_t h = (name->ln_number ^ (name->ln_gen * 0xff51afd7ed558ccdull) ^ name->ln_type) *
		     0x9E3779B97F4A7C15ull;

	return (unsigned)(h >> 40) & (c->hash_size - 1);
}

static struct glock *find_locked(struct cluster *c, const struct lm_lockname *name)
{
	struct glock *gl;

	list_for_each_entry (gl, &c->hash[gl_hash(c, name)], gl_hash)
		if (!lm_name_cmp(&gl->gl_name, name))
			return gl;
	return NULL;
}

struct glock *glock_lookup(struct cluster *c, const struct lm_lockname *name)
{
	struct glock *gl;

	mutex_lock(&c->hash_lock);
	gl = find_locked(c, name);
	if (gl)
		__atomic_add_fetch(&gl->gl_ref, 1, __ATOMIC_RELAXED);
	mutex_unlock(&c->hash_lock);
	return gl;
}

int glock_get(struct cluster *c, uint64_t number, const struct glock_operations *ops, void *object,
	      struct glock **out)
{
	struct lm_lockname name = {.ln_number = number, .ln_gen = 0, .ln_type = LM_TYPE_INODE};

	return glock_get_name(c, &name, ops, object, out);
}

int glock_get_name(struct cluster *c, const struct lm_lockname *name,
		   const struct glock_operations *ops, void *object, struct glock **out)
{
	struct glock *gl;
	int ret;

	mutex_lock(&c->hash_lock);
	gl = find_locked(c, name);
	if (gl) {
		__atomic_add_fetch(&gl->gl_ref, 1, __ATOMIC_RELAXED);
		/* The worker reads both without gl_lock (run_sync, run_inval):
		 * a get of the same object (the usual case) writes nothing. */
		mutex_lock(&gl->gl_lock);
		if (gl->gl_ops != ops)
			WRITE_ONCE(gl->gl_ops, ops);
		if (gl->gl_object != object)
			WRITE_ONCE(gl->gl_object, object);
		gl_unlock(gl);
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
	gl->gl_name = *name;
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
	list_add(&gl->gl_hash, &c->hash[gl_hash(c, name)]);
	c->nglocks++;
	mutex_unlock(&c->hash_lock);
	*out = gl;
	return 0;
}

void glock_hold(struct glock *gl)
{
	__atomic_add_fetch(&gl->gl_ref, 1, __ATOMIC_RELAXED);
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
	bool idle, stopped;

	mutex_lock(&c->hash_lock);
	if (__atomic_sub_fetch(&gl->gl_ref, 1, __ATOMIC_ACQ_REL) != 0) {
		mutex_unlock(&c->hash_lock);
		return;
	}
	mutex_lock(&gl->gl_lock);
	WRITE_ONCE(gl->gl_object, NULL);
	idle = gl_idle(gl);
	/* The worker releases it, then puts it - unless cluster_unmount
	 * stopped the worker (this is the put of a delayed glock's queue
	 * reference there): the session's end releases what it holds, and
	 * glock_free_all frees it. */
	stopped = __atomic_load_n(&c->stopping, __ATOMIC_ACQUIRE);
#ifdef PC_TEST_SWITCHES
	if (!idle && stopped && glock_test_puts_after_stop)
		glock_test_puts_after_stop++; /* (armed by the test: 1) */
#endif
	if (!idle && (!stopped || glock_test_put_queues_after_stop))
		glock_queue_work(gl);
	gl_unlock(gl);
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

enum grant { GRANT, GRANT_INSTANTIATE, WAIT, WAIT_SUSPENDED };

/* The lease, as glock_nq sees it: 0 valid, 1 suspended (wait), -EIO lost. */
int glock_lease_check(struct cluster *c)
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

/*
 * Another node's request (GLF_DEMOTE: gl_demote_state is the state IT asked
 * for) holds back a new local holder past the minimum hold unless the two
 * are compatible (a local SH holder with a remote SH request): else a
 * stream of overlapping local holders would keep the demote from ever
 * running (gfs2's run_queue promotes no holder while a demote is pending).
 * gl_compatible(request, want) is "the demote's target covers @want"
 * (target: UN for EX, else the request; a request is never UN). The fast
 * path is closed while GLF_DEMOTE is set (GLF_FAST_BLOCK), whatever the
 * request: every new holder comes here. A GL_TRY holder it holds back
 * fails instead of waiting (may_grant). A state just granted or changed
 * for local waiters (GLF_FRESH) goes to them first, whatever came since
 * (the worker waits for them too: glock_demote.c): gfs2 promotes the
 * waiting holders in finish_xmote before it looks at a demote.
 */
static bool demote_blocks(const struct glock *gl, enum gl_state want)
{
	const struct cluster *c = gl->gl_cluster;

	if (!(gl->gl_flags & GLF_DEMOTE))
		return false;
	if ((gl->gl_flags & GLF_FRESH) && !glock_test_demote_before_fresh_waiters)
		return false;
	if (glock_test_demote_ignores_remote_ex ? gl_covers(gl->gl_demote_state, want)
						: gl_compatible(gl->gl_demote_state, want))
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

/*
 * Under gl_lock. A GL_TRY holder (@try) never queues behind another node's
 * request for the demote (it would wait for this node's holders to leave,
 * and a flock may be held for good): where demote_blocks holds the others
 * back it fails with -EAGAIN, as gfs2 fails a try lock that would have to
 * wait behind a pending demote (GLR_TRYFAILED); granted, a stream of
 * overlapping try holders would starve the other node as long as it lasts.
 * Nor does it queue behind a local waiter for a stronger state: there it is
 * granted where the cached state covers it.
 */
static int may_grant(struct glock *gl, enum gl_state want, bool try)
{
	int l = glock_lease_check(gl->gl_cluster);

	if (l < 0)
		return l;
	if (l > 0)
		return WAIT_SUSPENDED;
	if (gl->gl_flags & (GLF_BUSY | GLF_INSTANTIATING))
		return WAIT;
	if (!gl_covers(gl->gl_state, want))
		return WAIT;
	if ((!try || !glock_test_try_ignores_remote_ex) && demote_blocks(gl, want))
		return try ? -EAGAIN : WAIT;
	if (!try && upgrade_waits(gl))
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

/*
 * Under gl_lock: a GL_KILLABLE waiter was cancelled (its want is gone). If
 * nobody else here wants or holds the glock, what was asked or granted for
 * it must not stay: a request queued at the service would be granted to
 * this node after the other node's release, and a GL_NOCACHE glock (a
 * flock) kept cached would make the other nodes' GL_TRY fail though nothing
 * is held. GLF_NOCACHE makes the worker withdraw the request (__glock_run)
 * or release the grant, as at a GL_NOCACHE holder's last dq.
 */
static void cancel_cleanup(struct glock *gl, const struct gholder *gh)
{
	if (glock_test_cancel_leaves_request)
		return;
	if (gl->gl_holders || gl->gl_want_ex || gl->gl_want_sh || gl->gl_want_df)
		return;
	if (gl->gl_state == LM_ST_UNLOCKED && !(gl->gl_flags & GLF_PENDING))
		return;
	if (gh->gh_flags & GL_NOCACHE)
		gl->gl_flags |= GLF_NOCACHE;
	if (gl->gl_flags & GLF_NOCACHE)
		glock_queue_work(gl);
}

/*
 * A waiter found the lease suspended (no answer from the server for the
 * lease margin): it leaves gl_wait and sleeps on member_wait, which every
 * renewal wakes (cluster_lease_renew, from whichever thread read the
 * answer), as do the session's expiry and each membership change, until
 * the lease check says valid or lost; the sleep also ends by itself at
 * lost_at_ns (the session must then be assumed expired). Killable with
 * GL_KILLABLE: -EINTR. 0 otherwise: the caller looks at the glock again
 * (back on gl_wait first). Called with no lock held.
 */
static int lease_suspended_wait(struct cluster *c, struct wait_queue_entry *e, struct glock *gl,
				bool killable)
{
	int ret = 0;

	finish_wait(&gl->gl_wait, e);
	for (;;) {
		uint64_t lost;
		struct timespec dl;

		prepare_to_wait(&c->member_wait, e);
		if (glock_lease_check(c) <= 0)
			break;
		lost = atomic_load_explicit(&c->lost_at_ns, memory_order_acquire);
		dl.tv_sec = (time_t)(lost / 1000000000ull);
		dl.tv_nsec = (long)(lost % 1000000000ull);
		if (wait_entry_sleep(e, lost == UINT64_MAX ? NULL : &dl, killable, "glock lease",
				     &c->member_wait) == -EINTR) {
			ret = -EINTR;
			break;
		}
		sched_race_window("glock_nq: lease wait woken, not yet looked again");
	}
	finish_wait(&c->member_wait, e);
	return ret;
}

/* (out of line: glock_nq's fast path then needs no stack frame for the
 * state machine's locals; 6 of its 77 instructions per cached grant) */
static __noinline int __glock_nq(struct gholder *gh)
{
	struct glock *gl = gh->gh_gl;
	struct cluster *c = gl->gl_cluster;
	enum gl_state want = (enum gl_state)gh->gh_state;
	bool try = gh->gh_flags & GL_TRY;
	struct wait_queue_entry e;
	bool wanting = false;
	uint64_t try_seq = 0;
	int r, ret = 0;

	init_wait_entry(&e, 0);
	for (;;) {
		struct timespec dl, *dlp = NULL;

		prepare_to_wait(&gl->gl_wait, &e);
		mutex_lock(&gl->gl_lock);
		r = may_grant(gl, want, try);
		if (r == GRANT || r == GRANT_INSTANTIATE || r < 0)
			break;
		if (gh->gh_flags & GL_NOWAIT) {
			r = -EAGAIN;
			break;
		}
		/* GL_TRY: the request made for it was withdrawn (another node
		 * holds a conflicting lock), or one of ours that may wait is
		 * queued at the service (the same: no waiting behind it), or
		 * the state must change while local holders hold it. */
		if (try && ((wanting && gl->gl_try_seq != try_seq) ||
			    (gl->gl_flags & (GLF_PENDING | GLF_TRY)) == GLF_PENDING ||
			    (gl->gl_holders && !gl_covers(gl->gl_state, want)))) {
			r = -EAGAIN;
			break;
		}
		if (!wanting) {
			want_add(gl, want, 1);
			wanting = true;
			if (try) {
				gl->gl_want_try++;
				try_seq = gl->gl_try_seq;
			}
		}
		if (r == WAIT && !(gl->gl_flags & (GLF_BUSY | GLF_PENDING | GLF_INSTANTIATING)))
			glock_queue_work(gl);
		gl_unlock(gl);
		if (r == WAIT_SUSPENDED && !glock_test_suspended_poll) {
			if (lease_suspended_wait(c, &e, gl, gh->gh_flags & GL_KILLABLE) == -EINTR) {
				mutex_lock(&gl->gl_lock);
				r = -EINTR;
				break;
			}
			continue;
		}
		if (r == WAIT_SUSPENDED) {
			/* (the switch: look again in 50 ms) */
			clock_gettime(CLOCK_MONOTONIC, &dl);
			dl.tv_nsec += 50 * 1000000;
			if (dl.tv_nsec >= 1000000000) {
				dl.tv_sec++;
				dl.tv_nsec -= 1000000000;
			}
			dlp = &dl;
		}
		if (wait_entry_sleep(&e, dlp, gh->gh_flags & GL_KILLABLE, "glock", gl) == -EINTR) {
			mutex_lock(&gl->gl_lock);
			r = -EINTR;
			break;
		}
		sched_race_window("glock_nq: woken, not yet looked again");
	}
	if (wanting) {
		want_add(gl, want, -1);
		if (try)
			gl->gl_want_try--;
		/* A demote may wait for this waiter (GLF_FRESH): it left. */
		if (r < 0 && (gl->gl_flags & GLF_DEMOTE) && !gl->gl_holders)
			glock_queue_work(gl);
	}
	if (r == -EINTR)
		cancel_cleanup(gl, gh);
	if (r == GRANT || r == GRANT_INSTANTIATE) {
		gl->gl_holders++;
		if (gh->gh_flags & GL_FILE)
			gl->gl_file_holders++;
		if (gh->gh_flags & GL_NOCACHE)
			gl->gl_flags |= GLF_NOCACHE;
	}
	gl_unlock(gl);
	finish_wait(&gl->gl_wait, &e);
	if (r == -EINTR)
		wake_up_all(&gl->gl_wait); /* those queued behind its want look again */
	if (r < 0)
		return r;
	if (r == GRANT_INSTANTIATE) {
		const struct glock_operations *ops = READ_ONCE(gl->gl_ops);
		void *object = READ_ONCE(gl->gl_object);

		if (ops && ops->go_instantiate && object)
			ret = ops->go_instantiate(gl, object);
		mutex_lock(&gl->gl_lock);
		gl->gl_flags &= ~GLF_INSTANTIATING;
		if (ret) {
			gl->gl_flags |= GLF_INSTANTIATE;
			gl->gl_holders--;
			if (gh->gh_flags & GL_FILE)
				gl->gl_file_holders--;
			if (!gl->gl_holders)
				glock_queue_work(gl);
		}
		gl_unlock(gl);
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
	bool try = gh->gh_flags & (GL_NOWAIT | GL_TRY);
	int ret = 0;

	lock_acquire(&gl->gl_dep_map, gl, gh->gh_subclass, mode, try, THIS_LOC);
	/* nolock: every request is granted at once; nothing is cached to give up.
	 * Else the fast path when the cached state covers the request and
	 * nothing is pending (glock_fast.h), or the state machine. */
	gh->gh_slot = NULL;
	if (c->ops != &nolock_ops && !glock_fast_nq(gh)) /* (not GL_NOCACHE, so not GL_FILE) */
		ret = __glock_nq(gh);
	if (ret) {
		lock_release(&gl->gl_dep_map, gl, THIS_LOC);
		return ret;
	}
	if (!try)
		lock_acquired(gl);
	gh->gh_held = 1;
	if (unlikely(gh->gh_flags & GL_FILE)) {
		/* Held by an open file across calls, not by this thread: the
		 * order was checked at the acquisition; nothing is held now. */
		lock_release(&gl->gl_dep_map, gl, THIS_LOC);
		return 0;
	}
	task_glocks++;
	return 0;
}

/* glock_dq of a holder the state machine granted (out of line: the fast
 * dq then needs no stack frame). */
static __noinline void __glock_dq(struct gholder *gh)
{
	struct glock *gl = gh->gh_gl;
	struct cluster *c = gl->gl_cluster;

	mutex_lock(&gl->gl_lock);
	if (gh->gh_flags & GL_FILE)
		gl->gl_file_holders--;
	if (!--gl->gl_holders) {
		if (gl->gl_flags & (GLF_DEMOTE | GLF_NOCACHE) || gl->gl_want_ex || gl->gl_want_sh ||
		    gl->gl_want_df || atomic_load(&c->membership) != CM_VALID)
			glock_queue_work(gl);
	}
	gl_unlock(gl);
	wake_up_all(&gl->gl_wait);
}

void glock_dq(struct gholder *gh)
{
	struct glock *gl = gh->gh_gl;

	if (!gh->gh_held)
		return;
	gh->gh_held = 0;
	if (likely(!(gh->gh_flags & GL_FILE))) {
		task_glocks--;
		lock_release(&gl->gl_dep_map, gl, THIS_LOC);
	}
	/* (a slot only ever comes from the fast path: never nolock) */
	if (likely(gh->gh_slot))
		glock_fast_dq(gh);
	else if (gl->gl_cluster->ops != &nolock_ops)
		__glock_dq(gh);
}

/* Released at the service, or used again here, or membership lost. */
static bool released_or_used(struct glock *gl)
{
	bool done;

	mutex_lock(&gl->gl_lock);
	done = (gl->gl_state == LM_ST_UNLOCKED && !(gl->gl_flags & GLF_PENDING)) ||
	       gl->gl_holders || gl->gl_want_ex || gl->gl_want_sh || gl->gl_want_df ||
	       atomic_load(&gl->gl_cluster->membership) != CM_VALID;
	gl_unlock(gl);
	return done;
}

void glock_wait_released(struct glock *gl)
{
	if (gl->gl_cluster->ops == &nolock_ops)
		return;
	wait_event(&gl->gl_wait, released_or_used(gl), "glock release");
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
	if (lm_name_cmp(&a->gh_gl->gl_name, &b->gh_gl->gl_name) > 0) {
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
			if (gl->gl_ref) {
				fprintf(
				    stderr,
				    "pagecache: cluster: glock %llx still referenced at unmount\n",
				    (unsigned long long)gl->gl_name.ln_number);
#ifdef PC_TEST_SWITCHES
				glock_test_referenced_at_unmount++;
#endif
			}
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
	gl_unlock(gl);
	wake_up_all(&gl->gl_wait);
}

/* The lease is valid again: everything deferred meanwhile runs. */
void glock_requeue_all(struct cluster *c)
{
	glock_for_each(c, requeue_one, NULL);
}

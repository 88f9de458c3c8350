/* SPDX-License-Identifier: MIT */
/*
 * test_glock_fast.c - the glock fast path (src/cluster/glock_fast.h) on a
 * real ZooKeeper: a cached state is granted without the state machine; the
 * lease and membership still refuse it; a demote waits for a holder that
 * entered on the fast path to leave before go_sync/go_inval, and no holder
 * enters on the fast path once the demote began (a forced interleaving, and
 * a random stress against demotes from another node). The switch
 * glock_test_fastpath_no_drain_check makes the worker skip the wait: the
 * overlap then shows. A waiter that finds the lease suspended sleeps on
 * member_wait and the renewal wakes it (glock_test_suspended_poll: it
 * polls gl_wait, and the renewal wakes nobody).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../harness.h"
#include "../threads.h"
#include "cluster/glock_fast.h"
#include "cluster_util.h"
#include "kernel/rng.h"
#include "kernel/sched.h"

/* go_sync/go_inval record whether a holder of their node was inside. */
struct node_rec {
	_Atomic int inside;  /* holders of this node in their critical section */
	_Atomic int overlap; /* a go_* ran while one was */
	_Atomic unsigned nsync, ninval;
};

static void (*op_note)(void); /* the forced test: "the worker is there" */

static void note_worker_there(void)
{
	void (*fn)(void) = __atomic_load_n(&op_note, __ATOMIC_ACQUIRE);

	if (fn)
		fn();
}

static int fr_sync(struct glock *gl, void *o)
{
	struct node_rec *r = o;

	if (atomic_load(&r->inside))
		r->overlap = 1;
	r->nsync++;
	note_worker_there();
	return 0;
}

static void fr_inval(struct glock *gl, void *o, enum gl_state t)
{
	struct node_rec *r = o;

	if (atomic_load(&r->inside))
		r->overlap = 1;
	r->ninval++;
	note_worker_there();
}

static const struct glock_operations fr_ops = {fr_sync, fr_inval, NULL};

TEST(cached_state_granted_fast)
{
	char url[256];
	struct cluster *A;
	struct glock *g, *g2;
	struct gholder h, h2;
	unsigned long before;
	uint64_t until;

	zk_root("fast", url, sizeof(url));
	A = node_mount(url, "A", 4000, 1);
	CHECK_EQ(glock_get(A, 5, NULL, NULL, &g), 0);
	CHECK_EQ(glock_get(A, 6, NULL, NULL, &g2), 0);
	before = glock_fast_count();
	gholder_init(g, LM_ST_EXCLUSIVE, 0, &h);
	CHECK_EQ(glock_nq(&h), 0); /* from the service: the slow path */
	CHECK_EQ(glock_fast_count(), before);
	glock_dq(&h);
	gholder_init(g, LM_ST_SHARED, 0, &h);
	CHECK_EQ(glock_nq(&h), 0); /* EX cached covers SH */
	CHECK_EQ(glock_fast_count(), before + 1);
	CHECK_EQ(glock_task_held(), 1);
	glock_dq(&h);
	CHECK_EQ(glock_task_held(), 0);
	/* Two glocks at once (two slots), released in either order. */
	gholder_init(g2, LM_ST_EXCLUSIVE, 0, &h2);
	CHECK_EQ(glock_nq(&h2), 0);
	glock_dq(&h2);
	gholder_init(g, LM_ST_SHARED, 0, &h);
	gholder_init(g2, LM_ST_SHARED, 0, &h2);
	CHECK_EQ(glock_nq_two(&h, &h2), 0);
	CHECK_EQ(glock_fast_count(), before + 3);
	CHECK_EQ(glock_task_held(), 2);
	glock_dq(&h);
	glock_dq(&h2);
	CHECK_EQ(glock_task_held(), 0);
	before++; /* the counts below as before */
	/* DF is not covered by EX: the state machine converts. */
	gholder_init(g, LM_ST_DEFERRED, GL_NOWAIT, &h);
	CHECK_EQ(glock_nq(&h), -EAGAIN);
	CHECK_EQ(glock_fast_count(), before + 2);
	/* A lease about to run out: not on the fast path (the slow path
	 * checks against the precise clock and still grants). */
	until = atomic_load(&A->lease_until_ns);
	atomic_store(&A->lease_until_ns, cluster_now_ns() + glock_coarse_slack_ns / 2);
	gholder_init(g, LM_ST_SHARED, GL_NOWAIT, &h);
	CHECK_EQ(glock_nq(&h), 0);
	CHECK_EQ(glock_fast_count(), before + 2);
	glock_dq(&h);
	atomic_store(&A->lease_until_ns, until);
	/* Membership suspended (what the worker sets when the lease lapsed):
	 * the slow path decides (and, the lease being valid by the clock,
	 * grants). The worker sets it valid again at its next look (every
	 * T/6): if it did so before the nq, the check says nothing. */
	atomic_store(&A->membership, CM_SUSPENDED);
	gholder_init(g, LM_ST_SHARED, GL_NOWAIT, &h);
	CHECK_EQ(glock_nq(&h), 0);
	if (atomic_load(&A->membership) == CM_SUSPENDED)
		CHECK_EQ(glock_fast_count(), before + 2);
	else
		test_skip_part("the worker ended the suspension before the nq");
	glock_dq(&h);
	atomic_store(&A->membership, CM_VALID);
	gholder_init(g, LM_ST_SHARED, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	CHECK_EQ(glock_fast_count(), before + 3);
	glock_dq(&h);
	glock_put(g);
	glock_put(g2);
	cluster_unmount(A);
}

/* ---- nq and dq with gl_lock held by someone else ---- */

struct lockfree_arg {
	struct glock *gl;
	_Atomic unsigned long done;
	unsigned long fast;
};

static void *lockfree_thread(void *p)
{
	struct lockfree_arg *a = p;
	unsigned long before = glock_fast_count();
	int i;

	for (i = 0; i < 1000; i++) {
		struct gholder h;

		gholder_init(a->gl, i & 1 ? LM_ST_SHARED : LM_ST_EXCLUSIVE, 0, &h);
		CHECK_EQ(glock_nq(&h), 0);
		glock_dq(&h);
		atomic_fetch_add(&a->done, 1);
	}
	a->fast = glock_fast_count() - before;
	return NULL;
}

/* A cached glock nobody else wants: nq and dq take no lock and wake
 * nobody. The test holds gl_lock meanwhile: a path that took it would
 * hang (the liveness wait's watchdog reports it). */
TEST(fastpath_takes_no_lock)
{
	char url[256];
	struct cluster *A;
	struct lockfree_arg a = {0};
	struct watched_wait w;
	struct gholder h;
	pthread_t t;

	zk_root("nolock", url, sizeof(url));
	A = node_mount(url, "A", 4000, 1);
	CHECK_EQ(glock_get(A, 7, NULL, NULL, &a.gl), 0);
	gholder_init(a.gl, LM_ST_EXCLUSIVE, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	glock_dq(&h);
	mutex_lock(&a.gl->gl_lock);
	pthread_create(&t, NULL, lockfree_thread, &a);
	watched_wait_begin(&w, "fast nq/dq with gl_lock held elsewhere", &a.done);
	while (atomic_load(&a.done) < 1000)
		watched_wait_step(&w, atomic_load(&a.done));
	watched_wait_end(&w);
	mutex_unlock(&a.gl->gl_lock);
	pthread_join(t, NULL);
	CHECK_EQ(a.fast, 1000);
	glock_put(a.gl);
	cluster_unmount(A);
}

/* ---- the forced interleaving (the scheduler's hooks find the window) ---- */

#if PC_SCHED_HOOKS
static struct {
	struct glock *gl;
	struct node_rec rec;
	sem_t entered, leave, worker_there;
	_Atomic int posted, was_fast;
} fp;

static void fp_note(void)
{
	if (!atomic_exchange(&fp.posted, 1))
		sem_post(&fp.worker_there);
}

static void fp_window(enum sched_event ev, const void *obj, const char *what)
{
	(void)obj;
	if (ev == SP_RACE && !strcmp(what, "glock: the worker waits for fast holders to leave"))
		fp_note();
}

static void *fp_holder(void *p)
{
	struct gholder h;
	unsigned long before = glock_fast_count();

	(void)p;
	gholder_init(fp.gl, LM_ST_EXCLUSIVE, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	fp.was_fast = glock_fast_count() == before + 1;
	atomic_store(&fp.rec.inside, 1);
	sem_post(&fp.entered);
	sem_wait(&fp.leave);
	atomic_store(&fp.rec.inside, 0);
	glock_dq(&h);
	return NULL;
}

/*
 * Node A caches EX; a thread of A holds it on the fast path and stays
 * inside; node B asks for EX. A's worker must wait (the drain window, or
 * with the switch go_sync itself, tells the test it got there); meanwhile
 * nobody gets in on the fast path; the holder leaves; then go_sync and
 * go_inval run and B is granted. Returns whether a go_* overlapped.
 */
static int forced_run(const char *tag)
{
	char url[256];
	struct cluster *A, *B;
	struct glock *gb;
	struct gholder h;
	struct node_nq b;
	pthread_t th, tb;
	unsigned long before;
	int r;

	memset(&fp, 0, sizeof(fp));
	sem_init(&fp.entered, 0, 0);
	sem_init(&fp.leave, 0, 0);
	sem_init(&fp.worker_there, 0, 0);
	zk_root(tag, url, sizeof(url));
	A = node_mount(url, "A", 4000, 1);
	B = node_mount(url, "B", 4000, 1);
	CHECK_EQ(glock_get(A, 60, &fr_ops, &fp.rec, &fp.gl), 0);
	CHECK_EQ(glock_get(B, 60, NULL, NULL, &gb), 0);
	gholder_init(fp.gl, LM_ST_EXCLUSIVE, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	glock_dq(&h);
	pthread_create(&th, NULL, fp_holder, NULL);
	sem_wait(&fp.entered);
	CHECK(fp.was_fast);
	__atomic_store_n(&op_note, fp_note, __ATOMIC_RELEASE);
	sched_set_hook(fp_window);
	b = (struct node_nq){.gl = gb, .st = LM_ST_EXCLUSIVE};
	pthread_create(&tb, NULL, node_nq_thread, &b);
	sem_wait(&fp.worker_there);
	sched_set_hook(NULL);
	/* The demote began: no holder gets in on the fast path now (the
	 * slow path may still grant within the minimum hold time). */
	before = glock_fast_count();
	gholder_init(fp.gl, LM_ST_SHARED, GL_NOWAIT, &h);
	r = glock_nq(&h);
	CHECK_EQ(glock_fast_count(), before);
	if (!r)
		glock_dq(&h);
	sem_post(&fp.leave);
	pthread_join(th, NULL);
	pthread_join(tb, NULL);
	__atomic_store_n(&op_note, NULL, __ATOMIC_RELEASE);
	CHECK_EQ(b.ret, 0);
	CHECK(fp.rec.nsync >= 1);
	CHECK(fp.rec.ninval >= 1);
	glock_put(fp.gl);
	glock_put(gb);
	cluster_unmount(A);
	cluster_unmount(B);
	sem_destroy(&fp.entered);
	sem_destroy(&fp.leave);
	sem_destroy(&fp.worker_there);
	return fp.rec.overlap;
}

TEST(fastpath_drain_before_demote)
{
	CHECK_EQ(forced_run("drain"), 0);
}

/* The switch: go_sync runs while the fast holder is inside. */
TEST(fastpath_drain_hazard)
{
	int overlap;

	glock_test_fastpath_no_drain_check = true;
	overlap = forced_run("nodrain");
	glock_test_fastpath_no_drain_check = false;
	printf("# without the drain check: go_* ran with a fast holder inside: %s\n",
	       overlap ? "yes" : "no");
	CHECK(overlap);
}
#endif

/* ---- random stress: fast holders on A against demotes from B ---- */

struct stress {
	struct glock *gl;
	struct node_rec *rec;
	_Atomic bool *stop;
	uint64_t seed;
	unsigned long n, fast;
	_Atomic unsigned long *progress; /* fast grants on A, all threads */
};

static void *stress_holder(void *p)
{
	struct stress *s = p;
	struct rng r;
	unsigned long before = glock_fast_count();

	rng_seed(&r, s->seed);
	while (!atomic_load(s->stop)) {
		struct gholder h;
		enum gl_state st = rng_below(&r, 3) ? LM_ST_SHARED : LM_ST_EXCLUSIVE;
		unsigned spin = (unsigned)rng_below(&r, 200);

		unsigned long f = glock_fast_count();

		gholder_init(s->gl, st, 0, &h);
		if (glock_nq(&h))
			continue;
		if (glock_fast_count() != f)
			atomic_fetch_add(s->progress, 1);
		atomic_fetch_add(&s->rec->inside, 1);
		for (volatile unsigned k = 0; k < spin; k++)
			;
		atomic_fetch_sub(&s->rec->inside, 1);
		glock_dq(&h);
		s->n++;
	}
	s->fast = glock_fast_count() - before;
	return NULL;
}

TEST(fastpath_stress_against_demotes)
{
	char url[256];
	struct cluster *A, *B;
	struct glock *ga, *gb;
	struct node_rec ra = {0}, rb = {0};
	_Atomic bool stop = false;
	_Atomic unsigned long progress = 0;
	struct stress s[3];
	pthread_t t[3];
	unsigned long transfers = (unsigned long)test_scale(40, 8), i, n = 0, fast = 0;
	uint64_t seed = test_seed();
	struct rng r;

	rng_seed(&r, seed);
	zk_root("fstress", url, sizeof(url));
	A = node_mount(url, "A", 4000, 1);
	B = node_mount(url, "B", 4000, 1);
	CHECK_EQ(glock_get(A, 70, &fr_ops, &ra, &ga), 0);
	CHECK_EQ(glock_get(B, 70, &fr_ops, &rb, &gb), 0);
	for (i = 0; i < 3; i++) {
		s[i] = (struct stress){ga, &ra, &stop, rng_next(&r), 0, 0, &progress};
		pthread_create(&t[i], NULL, stress_holder, &s[i]);
	}
	for (i = 0; i < transfers; i++) {
		struct gholder h;

		/* GL_NOCACHE: B gives the glock back at once, A takes it
		 * again: each request is a demote on A. */
		gholder_init(gb, rng_below(&r, 2) ? LM_ST_EXCLUSIVE : LM_ST_SHARED, GL_NOCACHE, &h);
		CHECK_EQ(glock_nq(&h), 0);
		atomic_fetch_add(&rb.inside, 1);
		atomic_fetch_sub(&rb.inside, 1);
		glock_dq(&h);
		/* Let A's threads take it back and go on the fast path for a
		 * while before the next demote (a bounded wait for progress). */
		for (unsigned long k = 0, to = atomic_load(&progress) + 1 + rng_below(&r, 200);
		     k < 1000000 && atomic_load(&progress) < to; k++)
			sched_yield();
	}
	atomic_store(&stop, true);
	for (i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		n += s[i].n;
		fast += s[i].fast;
	}
	printf("# seed %llu: %lu requests from B, %lu holders on A (%lu fast), %u/%u demotes "
	       "on A (sync/inval)\n",
	       (unsigned long long)seed, transfers, n, fast, ra.nsync, ra.ninval);
	CHECK_EQ(ra.overlap, 0);
	CHECK_EQ(rb.overlap, 0);
	CHECK(ra.ninval >= 1 || ra.nsync >= 1);
	CHECK(fast > 0); /* the race was run */
	glock_put(ga);
	glock_put(gb);
	cluster_unmount(A);
	cluster_unmount(B);
}

/* ---- fork: the child keeps only its own thread's slots ---- */

static struct {
	struct glock *gl;
	sem_t entered, leave;
} fk;

static void *fork_holder(void *p)
{
	struct gholder h;

	(void)p;
	gholder_init(fk.gl, LM_ST_SHARED, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	sem_post(&fk.entered);
	sem_wait(&fk.leave);
	glock_dq(&h);
	return NULL;
}

/* Forks while another thread holds a glock on the fast path; returns
 * whether the child's scan still saw that (parent's) holder. */
static int fork_run(void)
{
	char url[256];
	struct cluster *A;
	struct gholder h;
	pthread_t t;
	pid_t pid;
	int status, seen;

	sem_init(&fk.entered, 0, 0);
	sem_init(&fk.leave, 0, 0);
	zk_root(glock_test_fork_keeps_slots ? "forkkeep" : "fork", url, sizeof(url));
	A = node_mount(url, "A", 4000, 1);
	CHECK_EQ(glock_get(A, 80, NULL, NULL, &fk.gl), 0);
	gholder_init(fk.gl, LM_ST_EXCLUSIVE, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	glock_dq(&h);
	pthread_create(&t, NULL, fork_holder, NULL);
	sem_wait(&fk.entered);
	pid = test_fork();
	if (pid == 0) {
		/* The holder thread does not exist here: nobody holds it. */
		mutex_lock(&fk.gl->gl_lock);
		seen = glock_fast_held(fk.gl);
		mutex_unlock(&fk.gl->gl_lock);
		_exit(seen ? 1 : 0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	seen = WEXITSTATUS(status);
	sem_post(&fk.leave);
	pthread_join(t, NULL);
	glock_put(fk.gl);
	cluster_unmount(A);
	sem_destroy(&fk.entered);
	sem_destroy(&fk.leave);
	return seen;
}

TEST(fork_child_drops_other_threads_slots)
{
#if defined(__SANITIZE_THREAD__)
	test_skip("fork under ThreadSanitizer");
#endif
	CHECK_EQ(fork_run(), 0);
}

TEST(fork_child_drops_other_threads_slots_hazard)
{
	int seen;

#if defined(__SANITIZE_THREAD__)
	test_skip("fork under ThreadSanitizer");
#endif
	glock_test_fork_keeps_slots = true;
	seen = fork_run();
	glock_test_fork_keeps_slots = false;
	printf("# with the switch the child sees the parent's thread holding the glock: %s\n",
	       seen ? "yes" : "no");
	CHECK(seen);
}

/*
 * A waiter that finds the lease suspended sleeps on member_wait, and the
 * renewal wakes it: the lease is made to lapse (lease_until_ns set to now;
 * the session itself stays valid, lost_at_ns 30 s ahead), a thread's nq
 * goes to sleep, and then the renewal comes (cluster_lease_renew, as the
 * module calls it at an answer). What the renewal finds on member_wait
 * is a count, not a time. With
 * glock_test_suspended_poll the waiter polls gl_wait every 50 ms: the
 * renewal finds nobody to wake, and the waiter goes on at a later poll (or
 * when the worker notices the lease is valid again).
 */
struct suspended_nq {
	struct glock *g;
	unsigned flags;
	struct task *task;
	_Atomic int done, ret;
};

static void *suspended_nq_thread(void *p)
{
	struct suspended_nq *s = p;
	struct gholder h;

	__atomic_store_n(&s->task, current, __ATOMIC_RELEASE);
	gholder_init(s->g, LM_ST_SHARED, s->flags, &h);
	atomic_store(&s->ret, glock_nq(&h));
	if (!atomic_load(&s->ret))
		glock_dq(&h);
	atomic_store(&s->done, 1);
	return NULL;
}

static void lease_wait_case(bool poll)
{
	char url[256];
	struct cluster *A;
	struct suspended_nq s = {0};
	struct gholder h;
	struct task *tk;
	const void *slept_on;
	bool sleeper_before, sleeper_after;
	pthread_t t;

	zk_root(poll ? "lease-wait-poll" : "lease-wait", url, sizeof(url));
	glock_test_suspended_poll = poll;
	A = node_mount(url, "A", 30000, 1); /* heartbeats T/6 = 5 s apart */
	CHECK_EQ(glock_get(A, 9, NULL, NULL, &s.g), 0);
	gholder_init(s.g, LM_ST_EXCLUSIVE, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	glock_dq(&h);
	atomic_store(&A->lease_until_ns, cluster_now_ns()); /* lapsed, not lost */
	CHECK_EQ(glock_lease_check(A), 1);
	CHECK_EQ(pthread_create(&t, NULL, suspended_nq_thread, &s), 0);
	/* Until it sleeps on member_wait or on the glock (a liveness wait:
	 * the watchdog ends the test if it never does). */
	for (;;) {
		tk = __atomic_load_n(&s.task, __ATOMIC_ACQUIRE);
		slept_on = tk && READ_ONCE(tk->wait_what) ? READ_ONCE(tk->wait_obj) : NULL;
		if (atomic_load(&s.done) || slept_on == &A->member_wait || slept_on == s.g)
			break;
		sched_yield();
	}
	if (atomic_load(&s.done) || glock_lease_check(A) != 1) {
		/* A heartbeat's answer renewed the lease first (one in ~500). */
		test_skip_part("the lease was renewed before the waiter slept");
	} else {
		sleeper_before = wq_has_sleeper(&A->member_wait);
		cluster_lease_renew(A, cluster_now_ns());
		sleeper_after = wq_has_sleeper(&A->member_wait);
		printf("# %s: the waiter slept on %s; the renewal found %d sleeper(s) on "
		       "member_wait and left %d\n",
		       poll ? "polling (switch)" : "member_wait",
		       slept_on == &A->member_wait ? "member_wait"
		       : slept_on == s.g	   ? "the glock (gl_wait, 50 ms deadline)"
						   : "something else",
		       sleeper_before, sleeper_after);
		if (poll) {
			/* The hazard: the renewal wakes nobody. */
			CHECK(slept_on == s.g);
			CHECK(!sleeper_before);
		} else {
			/* The renewal found the waiter on member_wait and
			 * woke it: it goes on now, not at a poll. (What the
			 * wake-up left is printed, not checked: the woken
			 * waiter queues itself again for a moment before it
			 * looks at the lease - prepare_to_wait, then the
			 * check - and a slow build catches it there.) */
			CHECK(slept_on == &A->member_wait);
			CHECK(sleeper_before);
		}
	}
	pthread_join(t, NULL);
	CHECK_EQ(atomic_load(&s.ret), 0);
	glock_put(s.g);
	cluster_unmount(A);
	glock_test_suspended_poll = false;
}

TEST(lease_wait_woken_by_renewal)
{
	lease_wait_case(false);
}

TEST(lease_wait_woken_by_renewal_hazard)
{
	lease_wait_case(true);
}

/* A GL_KILLABLE waiter asleep on member_wait is killed: -EINTR, and it
 * leaves no want behind (a later holder is granted from the cached state). */
TEST(lease_wait_killable)
{
	char url[256];
	struct cluster *A;
	struct suspended_nq s = {.flags = GL_KILLABLE};
	struct gholder h;
	struct task *tk;
	pthread_t t;

	zk_root("lease-wait-kill", url, sizeof(url));
	A = node_mount(url, "A", 30000, 1);
	CHECK_EQ(glock_get(A, 9, NULL, NULL, &s.g), 0);
	gholder_init(s.g, LM_ST_EXCLUSIVE, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	glock_dq(&h);
	atomic_store(&A->lease_until_ns, cluster_now_ns());
	CHECK_EQ(pthread_create(&t, NULL, suspended_nq_thread, &s), 0);
	for (;;) {
		tk = __atomic_load_n(&s.task, __ATOMIC_ACQUIRE);
		if (atomic_load(&s.done) ||
		    (tk && READ_ONCE(tk->wait_what) && READ_ONCE(tk->wait_obj) == &A->member_wait))
			break;
		sched_yield();
	}
	if (atomic_load(&s.done)) {
		pthread_join(t, NULL);
		test_skip_part("the lease was renewed before the waiter slept");
	} else {
		task_kill(tk);
		pthread_join(t, NULL);
		printf("# a killable waiter asleep on member_wait, killed: %d\n",
		       atomic_load(&s.ret));
		CHECK_EQ(atomic_load(&s.ret), -EINTR);
	}
	cluster_lease_renew(A, cluster_now_ns());
	gholder_init(s.g, LM_ST_SHARED, GL_NOWAIT, &h);
	CHECK_EQ(glock_nq(&h), 0);
	glock_dq(&h);
	glock_put(s.g);
	cluster_unmount(A);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_glock_fair.c - glocks between nodes of one process under load, and
 * who gets a glock first (split out of test_glock.c): random load on three
 * nodes with every grant checked, the validator's view of glock_nq, a local
 * EX waiter not starved by a stream of SH holders, another node's EX
 * request holding back new local holders, and liveness cases forced by
 * the scheduler's hooks (an orphan release, a compatible demote with a
 * waiter), each with its hazard.
 *
 * Locks: as test_glock.c (the glocks through their API, the checker's own
 * mutex in cluster_util.c).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../harness.h"
#include "../threads.h"
#include "cluster_util.h"
#include "kernel/lockdep.h"
#include "kernel/rng.h"
#include "kernel/rwsem.h"
#include "kernel/sched.h"

static _Atomic unsigned long seq; /* the order of grants and drops */

/* ---- random load on 3 nodes, every grant checked ---- */

#define NODES	3
#define THREADS 2
#define GLOCKS	3

struct worker {
	struct cluster *c;
	struct glock **gl;
	int node;
	uint64_t seed;
	unsigned long iters;
};

static void *load_thread(void *p)
{
	struct worker *w = p;
	struct rng r;
	unsigned long i;

	rng_seed(&r, w->seed);
	for (i = 0; i < w->iters; i++) {
		static const enum gl_state st[] = {LM_ST_EXCLUSIVE, LM_ST_SHARED, LM_ST_DEFERRED,
						   LM_ST_SHARED};
		enum gl_state s = st[rng_next(&r) % 4];
		unsigned gi = (unsigned)(rng_next(&r) % GLOCKS);
		struct glock *g = w->gl[gi];
		struct gholder h;

		gholder_init(g, s, 0, &h);
		CHECK_EQ(glock_nq(&h), 0);
		checker_grant(w->node, gi, s);
		if (rng_next(&r) % 4 == 0)
			usleep(200); /* a longer critical section, not an ordering */
		checker_release(w->node, gi, s);
		glock_dq(&h);
	}
	return NULL;
}

TEST(random_three_nodes)
{
	char url[256];
	struct cluster *c[NODES];
	struct glock *g[NODES][GLOCKS];
	struct worker w[NODES * THREADS];
	pthread_t t[NODES * THREADS];
	uint64_t seed = test_seed();
	unsigned long iters = test_scale(300, 3);
	int n, i;

	zk_root("random", url, sizeof(url));
	checker_reset();
	for (n = 0; n < NODES; n++) {
		char name[8];

		snprintf(name, sizeof(name), "N%d", n);
		c[n] = node_mount(url, name, 4000, 2);
		for (i = 0; i < GLOCKS; i++)
			CHECK_EQ(glock_get(c[n], (uint64_t)i + 100, NULL, NULL, &g[n][i]), 0);
	}
	for (i = 0; i < NODES * THREADS; i++) {
		w[i] = (struct worker){c[i / THREADS], g[i / THREADS], i / THREADS,
				       seed + (uint64_t)i, iters};
		pthread_create(&t[i], NULL, load_thread, &w[i]);
	}
	for (i = 0; i < NODES * THREADS; i++)
		pthread_join(t[i], NULL);
	printf("# %d nodes x %d threads x %lu grants: %lu conflicts; node 0: %llu requests, %llu "
	       "demotes\n",
	       NODES, THREADS, iters, checker_conflicts(),
	       (unsigned long long)atomic_load(&c[0]->stats.lm_requests),
	       (unsigned long long)atomic_load(&c[0]->stats.demotes));
	CHECK_EQ(checker_conflicts(), 0);
	for (n = 0; n < NODES; n++) {
		for (i = 0; i < GLOCKS; i++)
			glock_put(g[n][i]);
		cluster_unmount(c[n]);
	}
}

/* ---- the validator sees glock_nq as a blocking acquisition ---- */

#if PC_LOCKDEP
static char last_report[4096];
static int reports;

static void capture(const char *kind, const char *text)
{
	reports++;
	snprintf(last_report, sizeof(last_report), "%s\n%s", kind, text);
}
#endif

TEST(validator_glock_class)
{
#if PC_LOCKDEP
	struct cluster_config cfg = {.url = "nolock"};
	struct cluster *c;
	struct glock *g;
	struct gholder h;
	struct rw_semaphore sem;

	CHECK_EQ(cluster_mount(&cfg, &c), 0);
	CHECK_EQ(glock_get(c, 1, NULL, NULL, &g), 0);
	init_rwsem(&sem);
	lockdep_reset_graph();
	lockdep_set_report_handler(capture);
	/* The documented order: an outer rwsem, then the glock. */
	down_write(&sem);
	glock_take(g, LM_ST_EXCLUSIVE);
	up_write(&sem);
	CHECK_EQ(reports, 0);
	/* The inverse order is reported. */
	gholder_init(g, LM_ST_SHARED, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	down_write(&sem);
	up_write(&sem);
	glock_dq(&h);
	lockdep_set_report_handler(NULL);
	lockdep_reset_graph();
	printf("# inverse order: %d report(s): %.*s\n", reports, (int)strcspn(last_report, "\n"),
	       last_report);
	CHECK(reports >= 1);
	CHECK(strstr(last_report, "glock") != NULL);
	rwsem_destroy(&sem);
	glock_put(g);
	cluster_unmount(c);
#else
	test_skip("built without the validator");
#endif
}

/* ---- an EX waiter is not starved by a stream of local SH holders ---- */

struct streamer {
	struct glock *g;
	_Atomic bool *stop;
	_Atomic unsigned long n;
};

static void *sh_stream(void *p)
{
	struct streamer *s = p;

	while (!atomic_load(s->stop)) {
		struct gholder h;

		gholder_init(s->g, LM_ST_SHARED, 0, &h);
		CHECK_EQ(glock_nq(&h), 0);
		s->n++;
		glock_dq(&h);
	}
	return NULL;
}

TEST(local_upgrade_not_starved)
{
	char url[256];
	struct cluster *A, *B;
	struct glock *ga, *gb;
	struct gholder h;
	_Atomic bool stop = false;
	struct streamer s[2];
	pthread_t t[2];
	int i;

	zk_root("upgrade", url, sizeof(url));
	A = node_mount(url, "A", 4000, 1);
	B = node_mount(url, "B", 4000, 1);
	CHECK_EQ(glock_get(A, 8, NULL, NULL, &ga), 0);
	CHECK_EQ(glock_get(B, 8, NULL, NULL, &gb), 0);
	/* B holds SH too, so A's upgrade is no in-place conversion. */
	glock_take(gb, LM_ST_SHARED);
	for (i = 0; i < 2; i++) {
		s[i] = (struct streamer){ga, &stop, 0};
		pthread_create(&t[i], NULL, sh_stream, &s[i]);
	}
	while (s[0].n < 100 || s[1].n < 100)
		usleep(1000); /* waits for the stream to run, not an ordering */
	gholder_init(ga, LM_ST_EXCLUSIVE, 0, &h);
	CHECK_EQ(glock_nq(&h), 0); /* returns although SH holders keep coming */
	CHECK_EQ(glock_state(ga), LM_ST_EXCLUSIVE);
	glock_dq(&h);
	atomic_store(&stop, true);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	glock_put(ga);
	glock_put(gb);
	cluster_unmount(A);
	cluster_unmount(B);
}

/*
 * Another node's EX request holds back new local holders (gfs2's run_queue
 * promotes none while a demote is pending past the minimum hold). Two
 * threads of node A keep overlapping holders of a glock A holds EX (thread 0
 * EX, thread 1 SH: both covered by EX), handing off so that one is always
 * held: holder k+1 is taken while holder k is held, and holder k is let go
 * once holder k+1 was granted or its thread waits in glock_nq. Node B asks
 * for EX while holder 0 is held; the chain goes on once A has B's request
 * (GLF_DEMOTE). The fix: the next nq waits, A's holders drain, A demotes, B
 * is granted with no A holder inside, and A's chain ends. With
 * glock_test_demote_ignores_remote_ex (the old check) every hand-off is
 * granted: B waits until the chain has run all of its holders.
 */
#define CHAIN_MAX 2000

struct chain {
	struct glock *ga, *gb;
	unsigned n;				  /* holders at most */
	_Atomic unsigned acquired;		  /* holders granted so far */
	_Atomic unsigned a_inside;		  /* A's holders held now */
	_Atomic bool stop;			  /* no further holder */
	_Atomic bool b_granted;			  /* B's grant came */
	unsigned long a_at[CHAIN_MAX];		  /* seq at each A grant */
	unsigned long b_granted_at, b_dropped_at; /* seq */
	unsigned b_saw_a_inside, b_saw_acquired;
};

struct chain_thread {
	struct chain *ch;
	unsigned idx;
};

static bool a_waits(struct glock *gl)
{
	bool w;

	mutex_lock(&gl->gl_lock);
	w = gl->gl_want_ex || gl->gl_want_sh;
	mutex_unlock(&gl->gl_lock);
	return w;
}

static void *chain_thread(void *p)
{
	struct chain_thread *t = p;
	struct chain *ch = t->ch;
	unsigned k;

	for (k = t->idx;; k += 2) {
		struct gholder h;

		/* holder k is taken while holder k - 1 is held */
		while (atomic_load(&ch->acquired) < k && !atomic_load(&ch->stop))
			sched_yield();
		if (atomic_load(&ch->b_granted) || k >= ch->n)
			atomic_store(&ch->stop, true);
		if (atomic_load(&ch->stop))
			break;
		gholder_init(ch->ga, t->idx ? LM_ST_SHARED : LM_ST_EXCLUSIVE, 0, &h);
		CHECK_EQ(glock_nq(&h), 0);
		ch->a_at[k] = ++seq;
		atomic_fetch_add(&ch->a_inside, 1);
		atomic_store(&ch->acquired, k + 1);
		/* held until the next holder is granted or waits for it */
		while (atomic_load(&ch->acquired) < k + 2 && !atomic_load(&ch->stop) &&
		       !a_waits(ch->ga))
			sched_yield();
		atomic_fetch_sub(&ch->a_inside, 1);
		glock_dq(&h);
	}
	return NULL;
}

static void *chain_b(void *p)
{
	struct chain *ch = p;
	struct gholder h;

	gholder_init(ch->gb, LM_ST_EXCLUSIVE, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	ch->b_granted_at = ++seq;
	ch->b_saw_a_inside = atomic_load(&ch->a_inside);
	ch->b_saw_acquired = atomic_load(&ch->acquired);
	ch->b_dropped_at = ++seq;
	atomic_store(&ch->b_granted, true);
	glock_dq(&h);
	return NULL;
}

static void remote_ex_chain(bool old_check)
{
	static struct chain ch;
	struct chain_thread ct[2];
	struct cluster *A, *B;
	char url[256];
	pthread_t ta[2], tb;
	unsigned i, n;
	bool demote;

	memset(&ch, 0, sizeof(ch));
	ch.n = (unsigned)test_scale(CHAIN_MAX, 4);
	glock_test_no_min_hold = true; /* new holders wait at once */
	glock_test_demote_ignores_remote_ex = old_check;
	zk_root(old_check ? "chainoff" : "chain", url, sizeof(url));
	A = node_mount(url, "A", 4000, 1);
	B = node_mount(url, "B", 4000, 1);
	CHECK_EQ(glock_get(A, 21, NULL, NULL, &ch.ga), 0);
	glock_take(ch.ga, LM_ST_EXCLUSIVE); /* A holds EX cached */
	CHECK_EQ(glock_get(B, 21, NULL, NULL, &ch.gb), 0);
	for (i = 0; i < 2; i++)
		ct[i] = (struct chain_thread){&ch, i};
	CHECK_EQ(pthread_create(&ta[0], NULL, chain_thread, &ct[0]), 0);
	while (atomic_load(&ch.acquired) < 1)
		sched_yield();
	/* holder 0 is held: B asks, and the chain goes on once A has the request */
	CHECK_EQ(pthread_create(&tb, NULL, chain_b, &ch), 0);
	do {
		sched_yield();
		mutex_lock(&ch.ga->gl_lock);
		demote = ch.ga->gl_flags & GLF_DEMOTE;
		mutex_unlock(&ch.ga->gl_lock);
	} while (!demote);
	{
		/* A try does not queue behind the demote, nor is it granted
		 * from the cached state that covers it (a LOCK_NB flock under
		 * another file's flock; may_grant's try): it fails at once.
		 * Under the old check nothing holds new holders back. */
		struct gholder h;

		gholder_init(ch.ga, LM_ST_EXCLUSIVE, GL_TRY, &h);
		CHECK_EQ(glock_nq(&h), old_check ? 0 : -EAGAIN);
		glock_dq(&h);
	}
	CHECK_EQ(pthread_create(&ta[1], NULL, chain_thread, &ct[1]), 0);
	pthread_join(tb, NULL);
	for (i = 0; i < 2; i++)
		pthread_join(ta[i], NULL);
	n = atomic_load(&ch.acquired);
	printf(
	    "# %s: B granted after %u of A's overlapping holders (at most %u); A holders in all: "
	    "%u\n",
	    old_check ? "old check" : "fixed", ch.b_saw_acquired, ch.n, n);
	CHECK_EQ(ch.b_saw_a_inside, 0);
	if (old_check) {
		/* starved: B came only after the chain ran out */
		CHECK_EQ(ch.b_saw_acquired, ch.n);
		CHECK(ch.b_granted_at > ch.a_at[ch.n - 1]);
	} else {
		/* A's chain stopped at a nq that waited for B (at holder 1;
		 * 2 in about 1 run of 20 before B's fresh grant went to B's
		 * waiter first: with no minimum hold B's worker demoted the
		 * EX granted for it, for A's waiting SH, before B's waiter
		 * ran - test_glock_fresh), and every A holder granted after
		 * B's grant came after B let go. */
		CHECK(ch.b_saw_acquired >= 1 && ch.b_saw_acquired < ch.n / 4);
		CHECK(n < ch.n / 4);
		for (i = 0; i < ch.b_saw_acquired; i++)
			CHECK(ch.a_at[i] < ch.b_granted_at);
		for (; i < n; i++)
			CHECK(ch.a_at[i] > ch.b_dropped_at);
	}
	glock_put(ch.ga);
	glock_put(ch.gb);
	cluster_unmount(A);
	cluster_unmount(B);
	glock_test_demote_ignores_remote_ex = false;
	glock_test_no_min_hold = false;
}

TEST(remote_ex_holds_back_local)
{
	remote_ex_chain(false);
}

/* With the old check B is starved for as long as A's holders overlap. */
TEST(remote_ex_holds_back_local_hazard)
{
	remote_ex_chain(true);
}

#if PC_SCHED_HOOKS
/* ---- liveness cases forced by a hook, and their hazards ---- */

/* Until *@done: a liveness wait (the watchdog aborts the test after
 * PC_HANG_MS with nothing done). */
static void wait_done(const char *what, _Atomic int *done)
{
	struct watched_wait w;

	watched_wait_begin(&w, what, done);
	while (!__atomic_load_n(done, __ATOMIC_ACQUIRE))
		watched_wait_step(&w, 0);
	watched_wait_end(&w);
}

/* Until a waiter for @gl in @st (SH or EX) has queued on it: its want count
 * shows it. */
static void wait_queued(struct glock *gl, enum gl_state st)
{
	for (;;) {
		unsigned want;

		mutex_lock(&gl->gl_lock);
		want = st == LM_ST_EXCLUSIVE ? gl->gl_want_ex : gl->gl_want_sh;
		mutex_unlock(&gl->gl_lock);
		if (want)
			return;
		sched_yield();
	}
}

/*
 * The hazard of such a case: @run in a child with switch *@sw on, where the
 * waiter sleeps for good and the liveness wait's watchdog (PC_HANG_MS 3 s)
 * aborts it. The child's exit means the hazard did not show.
 */
static void hazard_child_aborts(void (*run)(void), bool *sw)
{
	pid_t pid;
	int status;

	if (zk_fixture_missing())
		test_skip("%s", zk_fixture_missing());
#if defined(__SANITIZE_THREAD__)
	test_skip("fork under ThreadSanitizer");
#endif
	pid = test_fork();
	if (pid == 0) {
		alarm(60); /* neither the watchdog nor the test ended it */
		setenv("PC_HANG_MS", "3000", 1);
		*sw = true;
		run();
		_exit(0); /* the waiter was granted: the hazard did not show */
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "child: exited %d / signal %d",
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1,
	       WIFSIGNALED(status) ? WTERMSIG(status) : -1);
}

/*
 * The worker releases a glock nobody references (the orphan path of
 * glock_run: lm_unlock with GLF_BUSY set). A glock_get + glock_nq of the
 * same number that comes meanwhile waits for GLF_BUSY to clear; the release
 * must then wake it and request what it wants. The hook runs the newcomer
 * from inside the release window and waits until it is queued (its want
 * count shows it), so the interleaving is forced, not hoped for.
 */
struct orphan {
	struct cluster *c;
	struct glock *gl; /* the newcomer's reference */
	_Atomic int done, ret;
	pthread_t t;
};
static struct orphan orph;

static void *orphan_newcomer(void *p)
{
	struct orphan *o = p;
	struct gholder h;
	struct glock *gl;

	CHECK_EQ(glock_get(o->c, 11, NULL, NULL, &gl), 0);
	__atomic_store_n(&o->gl, gl, __ATOMIC_RELEASE); /* the hook watches it */
	gholder_init(gl, LM_ST_SHARED, 0, &h);
	o->ret = glock_nq(&h);
	if (!o->ret)
		glock_dq(&h);
	o->done = 1;
	return NULL;
}

static void orphan_window(enum sched_event ev, const void *obj, const char *what)
{
	struct glock *gl;

	(void)obj;
	if (ev != SP_RACE || strcmp(what, "glock: orphan release, lock module not yet told"))
		return;
	sched_set_hook(NULL);
	CHECK_EQ(pthread_create(&orph.t, NULL, orphan_newcomer, &orph), 0);
	/* until the newcomer waits behind the release */
	while (!(gl = __atomic_load_n(&orph.gl, __ATOMIC_ACQUIRE)))
		sched_yield();
	wait_queued(gl, LM_ST_SHARED);
}

static void orphan_release_run(void)
{
	struct glock *g;

	memset(&orph, 0, sizeof(orph));
	orph.c = node_mount_cached(glock_test_orphan_no_recheck ? "orphanoff" : "orphan", 1, 11,
				   LM_ST_EXCLUSIVE, &g);
	sched_set_hook(orphan_window);
	glock_put(g); /* the last reference: the worker releases the lock */
	wait_done("a glock_nq that came during an orphan release", &orph.done);
	pthread_join(orph.t, NULL);
	CHECK_EQ(orph.ret, 0);
	CHECK_EQ(glock_state(orph.gl), LM_ST_SHARED);
	glock_put(orph.gl);
	cluster_unmount(orph.c);
}

TEST(orphan_release_then_nq)
{
	if (zk_fixture_missing())
		test_skip("%s", zk_fixture_missing());
	orphan_release_run();
}

/* With the recheck off the newcomer sleeps for good (state UN, nothing
 * requested). */
TEST(orphan_release_then_nq_hazard)
{
	hazard_child_aborts(orphan_release_run, &glock_test_orphan_no_recheck);
}
#endif

#if PC_SCHED_HOOKS
/*
 * A demote request that the held state already satisfies when the worker
 * gets to it (here DF asked of a node that holds DF: as when a DF request
 * came while EX was held and a local DF waiter's conversion EX -> DF went
 * first) is dropped - and the worker must still serve the local waiters.
 * The order is forced: the worker is held in the orphan-release window of
 * another glock while the request comes and an EX waiter queues (it finds
 * the glock queued already and sleeps); then the worker goes on and finds
 * both in one run. Seen in test_cluster_faults zookeeper_restart_under_load:
 * a node waited for EX in a store fault for good once the others were gone.
 */
struct compat {
	struct glock *gl;
	_Atomic int done, ret, in_window, release;
};
static struct compat cmp;

static void *compat_ex_waiter(void *p)
{
	struct compat *w = p;
	struct gholder h;

	gholder_init(w->gl, LM_ST_EXCLUSIVE, 0, &h);
	w->ret = glock_nq(&h);
	if (!w->ret)
		glock_dq(&h);
	w->done = 1;
	return NULL;
}

/* In the worker: hold it until the test has set the stage. */
static void compat_window(enum sched_event ev, const void *obj, const char *what)
{
	(void)obj;
	if (ev != SP_RACE || strcmp(what, "glock: orphan release, lock module not yet told"))
		return;
	sched_set_hook(NULL);
	cmp.in_window = 1;
	while (!__atomic_load_n(&cmp.release, __ATOMIC_ACQUIRE))
		sched_yield();
}

static void compat_demote_run(void)
{
	struct cluster *A;
	struct glock *other;
	pthread_t t;

	memset(&cmp, 0, sizeof(cmp));
	A = node_mount_cached(glock_test_demote_drop_skips_waiters ? "compatoff" : "compat", 1, 13,
			      LM_ST_DEFERRED, &cmp.gl);
	CHECK_EQ(glock_state(cmp.gl), LM_ST_DEFERRED);
	/* another glock's orphan release holds the worker in its window */
	CHECK_EQ(glock_get(A, 14, NULL, NULL, &other), 0);
	glock_take(other, LM_ST_EXCLUSIVE);
	sched_set_hook(compat_window);
	glock_put(other);
	while (!__atomic_load_n(&cmp.in_window, __ATOMIC_ACQUIRE))
		sched_yield();
	glock_lm_demote_request(cmp.gl, LM_ST_DEFERRED); /* queued: the worker waits */
	CHECK_EQ(pthread_create(&t, NULL, compat_ex_waiter, &cmp), 0);
	wait_queued(cmp.gl, LM_ST_EXCLUSIVE); /* (it found the glock queued) */
	__atomic_store_n(&cmp.release, 1, __ATOMIC_RELEASE);
	wait_done("an EX waiter behind a demote the state satisfies", &cmp.done);
	pthread_join(t, NULL);
	CHECK_EQ(cmp.ret, 0);
	CHECK_EQ(glock_state(cmp.gl), LM_ST_EXCLUSIVE);
	glock_put(cmp.gl);
	cluster_unmount(A);
}

TEST(compatible_demote_then_waiter)
{
	if (zk_fixture_missing())
		test_skip("%s", zk_fixture_missing());
	compat_demote_run();
}

/* With the switch the worker drops the demote and stops: the EX waiter
 * sleeps for good (state DF, nothing queued or pending). */
TEST(compatible_demote_then_waiter_hazard)
{
	hazard_child_aborts(compat_demote_run, &glock_test_demote_drop_skips_waiters);
}
#endif

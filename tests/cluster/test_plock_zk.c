/* SPDX-License-Identifier: MIT */
/*
 * test_plock_zk.c - byte-range locks across nodes, the lock service's half
 * (cluster/plock.h, plock_zk.c), on a real ZooKeeper: nodes (struct
 * cluster) of one process call cluster_plock and cluster_plock_wait
 * directly. Conflicts and grants between nodes' sets, a test that publishes
 * nothing, a waiter woken by a release and by a node's end, the race of two
 * nodes' publishes (the version check, and with plock_test_no_version_check
 * both granted), three nodes at random with a checker of every grant, a
 * lost session (the cached view of the old session not used after it), a
 * ZooKeeper restart within the session, bad input and nolock. The cached
 * view's own cases are in test_plock_zk_cache.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../harness.h"
#include "../threads.h"
#include "cluster/lock_module.h"
#include "cluster/lock_zk.h"
#include "cluster/plock.h"
#include "cluster_util.h"
#include "kernel/rng.h"

#define SESSION_MS 10000

TEST(nolock)
{
	struct cluster_config cfg = {.url = "nolock"};
	struct plock_range w = plock_rng(F_WRLCK, 0, 9), cf;
	struct cluster *c;
	uint64_t seq = 0;

	CHECK_EQ(cluster_mount(&cfg, &c), 0);
	CHECK_EQ(cluster_plock(c, &PLOCK_FILE1, &w, &w, 1, PLOCK_WATCH, &cf, &seq), 0);
	CHECK_EQ(cluster_plock_wait(c, seq), 0);
	CHECK_EQ(cluster_generation(c), 0);
	cluster_unmount(c);
}

TEST(conflicts)
{
	struct cluster *A, *B;
	struct plock_range a[2] = {plock_rng(F_WRLCK, 0, 9), plock_rng(F_RDLCK, 20, 29)};
	struct plock_range b[3] = {plock_rng(F_WRLCK, 5, 5)};
	struct plock_range cf = {0}, probe;
	uint64_t before;

	node_mount_two("conflicts", SESSION_MS, &A, &B);
	before = atomic_load(&A->stats.lm_requests);
	CHECK_EQ(plock_take(A, a, 1, NULL), 0);
	printf("# A's first W[0,9]: %llu requests\n",
	       (unsigned long long)(atomic_load(&A->stats.lm_requests) - before));
	CHECK_EQ(plock_take(B, b, 1, &cf), -EAGAIN);
	printf("# B's W[5,5] against A's W[0,9]: -EAGAIN, conflict %c[%lld,%lld]\n",
	       cf.type == F_WRLCK ? 'W' : 'R', (long long)cf.start, (long long)cf.end);
	CHECK_EQ(cf.type, F_WRLCK);
	CHECK_EQ(cf.start, 0);
	CHECK_EQ(cf.end, 9);
	/* R against R: granted; R against W: not. */
	CHECK_EQ(plock_take(A, a, 2, NULL), 0);
	b[0] = plock_rng(F_RDLCK, 25, 25);
	CHECK_EQ(plock_take(B, b, 1, NULL), 0);
	b[1] = plock_rng(F_WRLCK, 26, 26);
	CHECK_EQ(plock_take(B, b, 2, &cf), -EAGAIN);
	CHECK_EQ(cf.type, F_RDLCK);
	CHECK_EQ(cf.start, 20);
	/* Disjoint: granted. */
	b[1] = plock_rng(F_WRLCK, 100, 109);
	before = atomic_load(&B->stats.lm_requests);
	CHECK_EQ(plock_take(B, b, 2, NULL), 0);
	printf("# B's W[100,109] beside A's set (B's own entry there): %llu requests\n",
	       (unsigned long long)(atomic_load(&B->stats.lm_requests) - before));
	/* A test (set NULL): the answer, nothing published. */
	probe = plock_rng(F_WRLCK, 3, 3);
	CHECK_EQ(cluster_plock(B, &PLOCK_FILE1, &probe, NULL, 0, 0, &cf, NULL), -EAGAIN);
	CHECK_EQ(cf.end, 9);
	probe = plock_rng(F_WRLCK, 200, 200);
	CHECK_EQ(cluster_plock(B, &PLOCK_FILE1, &probe, NULL, 0, 0, &cf, NULL), 0);
	/* B did not publish W[200,200]: A may take it. */
	{
		struct plock_range a3[3] = {a[0], a[1], plock_rng(F_WRLCK, 200, 200)};

		CHECK_EQ(plock_take(A, a3, 3, NULL), 0);
	}
	/* A's release (an empty set): B gets W[0,9]. */
	before = atomic_load(&A->stats.lm_requests);
	CHECK_EQ(plock_release_all(A), 0);
	printf("# A's release: %llu requests\n",
	       (unsigned long long)(atomic_load(&A->stats.lm_requests) - before));
	b[2] = plock_rng(F_WRLCK, 0, 9);
	CHECK_EQ(plock_take(B, b, 3, NULL), 0);
	cluster_unmount(A);
	cluster_unmount(B);
}

/* A downgrade (no range wanted, a weaker set): published whatever the
 * others hold; B's reader is then granted, its writer still not. */
TEST(downgrade)
{
	struct cluster *A, *B;
	struct plock_range a = plock_rng(F_WRLCK, 0, 9), r = plock_rng(F_RDLCK, 0, 9);
	struct plock_range br = plock_rng(F_RDLCK, 5, 5),
			   bw[2] = {plock_rng(F_RDLCK, 5, 5), plock_rng(F_WRLCK, 6, 6)};
	struct plock_range cf;

	node_mount_two("downgrade", SESSION_MS, &A, &B);
	CHECK_EQ(plock_take(A, &a, 1, NULL), 0);
	CHECK_EQ(plock_take(B, &br, 1, &cf), -EAGAIN);
	CHECK_EQ(cluster_plock(A, &PLOCK_FILE1, NULL, &r, 1, 0, NULL, NULL), 0);
	CHECK_EQ(plock_take(B, &br, 1, NULL), 0);
	CHECK_EQ(plock_take(B, bw, 2, &cf), -EAGAIN);
	CHECK_EQ(cf.type, F_RDLCK);
	CHECK_EQ(cf.end, 9);
	/* A's upgrade back to W conflicts with B's reader. */
	CHECK_EQ(plock_take(A, &a, 1, &cf), -EAGAIN);
	CHECK_EQ(cf.start, 5);
	cluster_unmount(A);
	cluster_unmount(B);
}

/* ---- waits ---- */

struct waiter {
	struct cluster *c;
	uint64_t seq;
	struct task *task;
	_Atomic int ret;
	pthread_t t;
};

static void *wait_thread(void *p)
{
	struct waiter *w = p;

	__atomic_store_n(&w->task, current, __ATOMIC_RELEASE);
	atomic_store(&w->ret, cluster_plock_wait(w->c, w->seq));
	return NULL;
}

/* @c's W[lo,hi] conflicts: a thread waits with the seq of that answer and
 * is asleep when this returns. */
static void start_waiter(struct waiter *w, struct cluster *c, int64_t lo, int64_t hi)
{
	struct plock_range want = plock_rng(F_WRLCK, lo, hi), cf;

	memset(w, 0, sizeof(*w));
	w->c = c;
	atomic_store(&w->ret, 1);
	CHECK_EQ(cluster_plock(c, &PLOCK_FILE1, &want, &want, 1, PLOCK_WATCH, &cf, &w->seq),
		 -EAGAIN);
	CHECK_EQ(pthread_create(&w->t, NULL, wait_thread, w), 0);
	wait_until_sleeping(&w->task, &c->plock_wait);
}

static int join_waiter(struct waiter *w)
{
	pthread_join(w->t, NULL);
	return atomic_load(&w->ret);
}

TEST(waiter_woken_by_release)
{
	struct cluster *A, *B;
	struct plock_range a = plock_rng(F_WRLCK, 0, 9), b = plock_rng(F_WRLCK, 5, 5);
	struct waiter w;

	node_mount_two("wait", SESSION_MS, &A, &B);
	CHECK_EQ(plock_take(A, &a, 1, NULL), 0);
	start_waiter(&w, B, 5, 5);
	CHECK_EQ(plock_release_all(A), 0);
	CHECK_EQ(join_waiter(&w), 0);
	CHECK_EQ(plock_take(B, &b, 1, NULL), 0);
	printf("# B waited; A's release woke it; B's retry granted W[5,5]\n");
	cluster_unmount(A);
	cluster_unmount(B);
}

TEST(waiter_woken_by_node_end)
{
	struct cluster *A, *B;
	struct plock_range a = plock_rng(F_WRLCK, 0, 9), b = plock_rng(F_WRLCK, 5, 5);
	struct waiter w;

	node_mount_two("end", SESSION_MS, &A, &B);
	CHECK_EQ(plock_take(A, &a, 1, NULL), 0);
	start_waiter(&w, B, 5, 5);
	cluster_unmount(A); /* ends A's session: its sets go */
	CHECK_EQ(join_waiter(&w), 0);
	CHECK_EQ(plock_take(B, &b, 1, NULL), 0);
	printf("# B waited; A's unmount woke it; B's retry granted W[5,5]\n");
	cluster_unmount(B);
}

TEST(waiter_killed)
{
	struct cluster *A, *B;
	struct plock_range a = plock_rng(F_WRLCK, 0, 9);
	struct waiter w;

	node_mount_two("kill", SESSION_MS, &A, &B);
	CHECK_EQ(plock_take(A, &a, 1, NULL), 0);
	start_waiter(&w, B, 5, 5);
	task_kill(w.task);
	CHECK_EQ(join_waiter(&w), -EINTR);
	cluster_unmount(A);
	cluster_unmount(B);
}

/* ---- the race of two publishes ---- */

static struct cluster *race_a, *race_b;
static _Atomic int race_b_ret = 1;
static bool race_fired;

/* In A's call, between its read and its multi: B asks for the same range
 * and, having read a table without A's set, publishes. */
static void race_hook(struct cluster *c)
{
	struct plock_range w = plock_rng(F_WRLCK, 0, 9);

	if (c != race_a || race_fired)
		return;
	race_fired = true;
	atomic_store(&race_b_ret, plock_take(race_b, &w, 1, NULL));
}

static void race(bool no_version_check)
{
	struct plock_range w = plock_rng(F_WRLCK, 0, 9), cf = {0};
	int ra;

	node_mount_two(no_version_check ? "race-hazard" : "race", SESSION_MS, &race_a, &race_b);
	race_fired = false;
	plock_test_no_version_check = no_version_check;
	plock_test_before_publish = race_hook;
	ra = plock_take(race_a, &w, 1, &cf);
	plock_test_before_publish = NULL;
	plock_test_no_version_check = false;
	CHECK(race_fired);
	printf("# A read the table, B published W[0,9] meanwhile, then A's multi: A %d, B %d\n", ra,
	       atomic_load(&race_b_ret));
	if (ra == 0 && atomic_load(&race_b_ret) == 0)
		printf("# both nodes granted W[0,9]\n");
	else
		printf("# one node granted W[0,9], the other -EAGAIN\n");
	CHECK_EQ(atomic_load(&race_b_ret), 0);
	if (no_version_check) {
		CHECK_EQ(ra, 0); /* the hazard: two writers of one range */
	} else {
		CHECK_EQ(ra, -EAGAIN);
		CHECK_EQ(cf.start, 0);
		CHECK_EQ(cf.end, 9);
	}
	cluster_unmount(race_a);
	cluster_unmount(race_b);
}

TEST(race_version_check)
{
	race(false);
}

/* Hazard: with the multi's version check off, both are granted. */
TEST(race_version_check_hazard)
{
	race(true);
}

/* ---- three nodes at random ---- */

/*
 * Three nodes, one thread each (fs/locks.c's per-file mutex serializes a
 * node's changes of one file's set: one thread per node does too), take a
 * random range of [0,16) (R or W), hold it a moment and release it, or
 * wait for the conflicting one with PLOCK_WATCH; after a release, one time in
 * four, forget the file (its last close: the table goes when no other node
 * has an entry, and is made again by the next lock). A grant is recorded after
 * cluster_plock returned and removed before the release is sent, so two
 * records that conflict mean the service granted both at once.
 */
#define RND_NODES 3
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static struct plock_range held[RND_NODES];
static bool held_on[RND_NODES];
static unsigned long rnd_conflicts;

struct rnd {
	struct cluster *c;
	int node;
	uint64_t seed;
	unsigned iters, grants, waits;
	bool forgets; /* one release in four followed by a forget */
};

static void *rnd_thread(void *p)
{
	struct rnd *r = p;
	struct rng g;
	unsigned i;

	rng_seed(&g, r->seed + (uint64_t)r->node);
	for (i = 0; i < r->iters; i++) {
		int64_t s = (int64_t)rng_below(&g, 16), len = (int64_t)rng_below(&g, 4);
		struct plock_range w = plock_rng(rng_below(&g, 3) ? F_WRLCK : F_RDLCK, s, s + len),
				   cf;
		uint64_t seq = 0;
		int ret, k;

		ret = cluster_plock(r->c, &PLOCK_FILE1, &w, &w, 1, PLOCK_WATCH, &cf, &seq);
		if (ret == -EAGAIN) {
			r->waits++;
			CHECK_EQ(cluster_plock_wait(r->c, seq), 0);
			continue;
		}
		CHECK_EQ(ret, 0);
		r->grants++;
		pthread_mutex_lock(&held_lock);
		for (k = 0; k < RND_NODES; k++)
			if (k != r->node && held_on[k] &&
			    !(held[k].end < w.start || w.end < held[k].start) &&
			    (held[k].type == F_WRLCK || w.type == F_WRLCK))
				rnd_conflicts++;
		held[r->node] = w;
		held_on[r->node] = true;
		pthread_mutex_unlock(&held_lock);
		sched_yield();
		pthread_mutex_lock(&held_lock);
		held_on[r->node] = false;
		pthread_mutex_unlock(&held_lock);
		CHECK_EQ(plock_release_all(r->c), 0);
		if (r->forgets && !rng_below(&g, 4)) /* its entry goes (an eviction) */
			CHECK_EQ(cluster_plock_forget(r->c, &PLOCK_FILE1), 0);
	}
	CHECK_EQ(cluster_plock_forget(r->c, &PLOCK_FILE1), 0);
	return NULL;
}

/* One run: the conflicting grants seen. */
static unsigned long random_run(bool no_version_check, const char *tag)
{
	char url[256];
	struct rnd r[RND_NODES];
	pthread_t t[RND_NODES];
	uint64_t seed = test_seed();
	unsigned total = 0, waits = 0;
	struct String_vector sv = {0};
	struct zk_cluster *z;
	int i;

	zk_root(tag, url, sizeof(url));
	rnd_conflicts = 0;
	for (i = 0; i < RND_NODES; i++) {
		char name[8];

		snprintf(name, sizeof(name), "N%d", i);
		/* The hazard's runs forget nothing (a grant after a forget makes
		 * its entry and looks: a longer path, where fewer threads meet
		 * between a read and a multi) and are scaled down less: under
		 * TSan, 30 grants a node met in one run of five at best. */
		r[i] = (struct rnd){.node = i,
				    .seed = seed,
				    .iters = (unsigned)test_scale(150, no_version_check ? 2 : 5),
				    .forgets = !no_version_check};
		r[i].c = node_mount(url, name, SESSION_MS, 1);
	}
	plock_test_no_version_check = no_version_check;
	for (i = 0; i < RND_NODES; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, rnd_thread, &r[i]), 0);
	for (i = 0; i < RND_NODES; i++) {
		pthread_join(t[i], NULL);
		total += r[i].grants;
		waits += r[i].waits;
	}
	plock_test_no_version_check = false;
	z = r[0].c->lm; /* every node forgot the file at its end: no table left */
	CHECK_EQ(zoo_get_children(z->zh, z->ppath, 0, &sv), ZOK);
	printf("# %u grants, %u waits, %lu conflicting grants seen%s; %d tables left\n", total,
	       waits, rnd_conflicts, no_version_check ? " (no version check)" : "", sv.count);
	CHECK(total > 0);
	CHECK_EQ(sv.count, 0);
	deallocate_String_vector(&sv);
	for (i = 0; i < RND_NODES; i++)
		cluster_unmount(r[i].c);
	return rnd_conflicts;
}

TEST(random_three_nodes)
{
	CHECK_EQ(random_run(false, "random"), 0);
}

/* Hazard: with no version check, nodes are granted conflicting ranges (the
 * overlap needs the threads to meet: up to eight runs). */
TEST(random_three_nodes_hazard)
{
	unsigned long n = 0;
	int round;

	for (round = 0; round < 8 && !n; round++)
		n = random_run(true, "random-hazard");
	CHECK(n > 0);
}

/* ---- a lost session ---- */

static void no_watch(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
}

/* Ends @c's session at the server (as its expiry would): a second client
 * attaches to the session and closes it. */
static void expire_session(struct cluster *c)
{
	struct zk_cluster *z = c->lm;
	clientid_t id;
	zhandle_t *zh;
	int i;

	pthread_rwlock_rdlock(&z->zh_lock);
	id = *zoo_client_id(z->zh);
	pthread_rwlock_unlock(&z->zh_lock);
	zoo_set_debug_level(0);
	zh = zookeeper_init(z->hosts, no_watch, SESSION_MS, &id, NULL, 0);
	CHECK(zh != NULL);
	/* Until it is attached (a few ticks of the server). */
	for (i = 0; zoo_state(zh) != ZOO_CONNECTED_STATE && i < 1000; i++)
		usleep(10 * 1000); /* waits for the client to connect, not an ordering */
	CHECK_EQ(zoo_state(zh), ZOO_CONNECTED_STATE);
	zookeeper_close(zh);
}

static bool rejoined(struct cluster *c, uint64_t gen0)
{
	return atomic_load(&c->generation) != gen0 && atomic_load(&c->membership) == CM_VALID;
}

/* The cache's key of PLOCK_FILE1 for @c's session and generation now. */
static void view_key(struct cluster *c, struct plock_view *key)
{
	struct zk_cluster *z = c->lm;

	memset(key, 0, sizeof(*key));
	key->number = PLOCK_FILE1.ln_number;
	key->gen = PLOCK_FILE1.ln_gen;
	pthread_rwlock_rdlock(&z->zh_lock);
	key->session = zoo_client_id(z->zh)->client_id;
	pthread_rwlock_unlock(&z->zh_lock);
	key->generation = cluster_generation(c);
}

TEST(session_lost)
{
	struct plock_view old_key, new_key, view;
	struct cluster *A, *B;
	struct plock_range a[2] = {plock_rng(F_WRLCK, 0, 9)}, b[2] = {plock_rng(F_WRLCK, 100, 100)};
	struct plock_range w, cf;
	struct waiter wa, wb;
	uint64_t gen0;

	node_mount_two("lost", SESSION_MS, &A, &B);
	CHECK_EQ(plock_take(A, a, 1, NULL), 0);
	CHECK_EQ(plock_take(B, b, 1, NULL), 0);
	start_waiter(&wa, A, 100, 100); /* A waits for B's range */
	start_waiter(&wb, B, 0, 9);	/* B waits for A's */
	/* A's view of the table (B's set, A's child there): its old key. */
	{
		struct plock_range probe = plock_rng(F_WRLCK, 50, 50);

		CHECK_EQ(cluster_plock(A, &PLOCK_FILE1, &probe, NULL, 0, 0, &cf, NULL), 0);
	}
	view_key(A, &old_key);
	CHECK(plock_cache_get(((struct zk_cluster *)A->lm)->pcache, &old_key, &view));
	CHECK(view.own);
	gen0 = cluster_generation(A);
	expire_session(A);
	{
		/* The server's delete of A's child may reach A's own watch before
		 * it closes A's connection: a wake-up to look again (0), which may
		 * be spurious. A's look then fails (-EIO), or after the rejoin
		 * finds B's range (-EAGAIN): never a grant of it. */
		int r = join_waiter(&wa), rr = -EIO;
		struct plock_range want = plock_rng(F_WRLCK, 100, 100);

		if (r == 0)
			rr = cluster_plock(A, &PLOCK_FILE1, &want, &want, 1, 0, &cf, NULL);
		if (r == 0)
			printf("# A's waiter woken (0), then its look: %d\n", rr);
		else
			printf("# A's waiter: %d\n", r);
		CHECK(r == -EIO || (r == 0 && (rr == -EIO || rr == -EAGAIN)));
	}
	CHECK_EQ(join_waiter(&wb), 0);
	b[1] = plock_rng(F_WRLCK, 0, 9);
	CHECK_EQ(plock_take(B, b, 2, NULL), 0); /* A's set went with its session */
	wait_event(&A->member_wait, rejoined(A, gen0), "rejoin");
	printf("# A's session ended: A's waiter let go, B granted W[0,9], A rejoined "
	       "(generation %llu -> %llu)\n",
	       (unsigned long long)gen0, (unsigned long long)cluster_generation(A));
	/* The old session's view is not A's view now (it says A's child of the
	 * old session is there: a setData to it would go with that session);
	 * looked up under the new key it is dropped. */
	view_key(A, &new_key);
	{
		struct plock_cache *pc = ((struct zk_cluster *)A->lm)->pcache;
		bool old_found = plock_cache_get(pc, &old_key, &view);
		bool new_found = plock_cache_get(pc, &new_key, &view);

		printf("# A's view of the old session: %s under its old key, %s under the "
		       "new\n",
		       old_found ? "found" : "gone", new_found ? "found" : "not found");
		CHECK(old_found);
		CHECK(!new_found);
		CHECK(!plock_cache_get(pc, &old_key, &view));
	}
	w = plock_rng(F_WRLCK, 5, 5);
	CHECK_EQ(cluster_plock(A, &PLOCK_FILE1, &w, &w, 1, 0, &cf, NULL), -EAGAIN);
	w = plock_rng(F_WRLCK, 300, 300);
	CHECK_EQ(cluster_plock(A, &PLOCK_FILE1, &w, &w, 1, 0, &cf, NULL), 0);
	cluster_unmount(A);
	cluster_unmount(B);
}

/*
 * The lease suspended: the server goes silent (SIGSTOP) until A's lease
 * margin (2T/3 after its last answered request) has passed; a call made then
 * sleeps on member_wait (no polling) until the server answers again
 * (SIGCONT, short of the session's expiry), and is then served with the
 * same session. The stop is the fault injected; its length is the subject.
 */
struct late_call {
	struct cluster *c;
	struct task *task;
	_Atomic int ret;
	_Atomic uint64_t done_ms;
};

static void server_cont(void *arg)
{
	struct zk_fixture *f = arg;

	kill(f->pid, SIGCONT);
}

static void *late_call_thread(void *p)
{
	struct late_call *l = p;
	struct plock_range w = plock_rng(F_WRLCK, 100, 100), cf;

	__atomic_store_n(&l->task, current, __ATOMIC_RELEASE);
	atomic_store(&l->ret, cluster_plock(l->c, &PLOCK_FILE1, &w, &w, 1, 0, &cf, NULL));
	atomic_store(&l->done_ms, ms_now());
	return NULL;
}

TEST(server_silent_suspends)
{
	char url[256];
	struct zk_fixture *f = zk();
	struct cluster *A;
	struct plock_range a = plock_rng(F_WRLCK, 0, 9);
	struct late_call l = {0};
	struct watched_wait ww;
	pthread_t t;
	uint64_t t_stop, t_cont;

	zk_root("silent", url, sizeof(url));
	A = node_mount(url, "A", 6000, 1);
	CHECK_EQ(plock_take(A, &a, 1, NULL), 0);
	l.c = A;
	test_on_abort(server_cont, f);
	kill(f->pid, SIGSTOP);
	t_stop = ms_now();
	/* Until the lease margin passed (a time, not an ordering). */
	watched_wait_begin(&ww, "A's lease suspended", A);
	while (glock_lease_check(A) == 0)
		watched_wait_step(&ww, 0);
	watched_wait_end(&ww);
	CHECK_EQ(pthread_create(&t, NULL, late_call_thread, &l), 0);
	/* Until it sleeps on member_wait (or, the protection broken, returned). */
	for (;;) {
		struct task *tk = __atomic_load_n(&l.task, __ATOMIC_ACQUIRE);

		if (atomic_load(&l.done_ms) ||
		    (tk && READ_ONCE(tk->wait_what) && READ_ONCE(tk->wait_obj) == &A->member_wait))
			break;
		sched_yield();
	}
	kill(f->pid, SIGCONT);
	test_abort_cancel(f);
	t_cont = ms_now();
	pthread_join(t, NULL);
	printf("# server stopped %llu ms; a call made at +%llu ms waited and returned %d at "
	       "+%llu ms, generation %llu\n",
	       (unsigned long long)(t_cont - t_stop), (unsigned long long)(t_cont - t_stop),
	       atomic_load(&l.ret), (unsigned long long)(atomic_load(&l.done_ms) - t_stop),
	       (unsigned long long)cluster_generation(A));
	CHECK_EQ(atomic_load(&l.ret), 0);
	CHECK(atomic_load(&l.done_ms) >= t_cont);
	CHECK_EQ(cluster_generation(A), 0);
	cluster_unmount(A);
}

/* A ZooKeeper restart within the session: the sets stay. */
#define RESTART_SESSION_MS 30000

TEST(zookeeper_restart_keeps_sets)
{
	char url[256];
	struct cluster *A, *B;
	struct plock_range a = plock_rng(F_WRLCK, 0, 9), b = plock_rng(F_WRLCK, 5, 5), cf;
	uint64_t t0;

	zk_root("restart", url, sizeof(url));
	A = node_mount(url, "A", RESTART_SESSION_MS, 1);
	B = node_mount(url, "B", RESTART_SESSION_MS, 1);
	CHECK_EQ(plock_take(A, &a, 1, NULL), 0);
	t0 = ms_now();
	CHECK_EQ(zk_fixture_restart(zk()), 0);
	/* Waits for B's reconnection inside the call. */
	CHECK_EQ(plock_take(B, &b, 1, &cf), -EAGAIN);
	printf("# ZooKeeper restarted; %llu ms later B's W[5,5] -EAGAIN against A's "
	       "W[%lld,%lld]; generations %llu / %llu\n",
	       (unsigned long long)(ms_now() - t0), (long long)cf.start, (long long)cf.end,
	       (unsigned long long)cluster_generation(A),
	       (unsigned long long)cluster_generation(B));
	CHECK_EQ(cf.end, 9);
	CHECK_EQ(cluster_generation(A), 0);
	CHECK_EQ(plock_release_all(A), 0);
	CHECK_EQ(plock_take(B, &b, 1, NULL), 0);
	cluster_unmount(A);
	cluster_unmount(B);
}

/*
 * ZooKeeper goes down between A's read and its multi: the hook (in A's
 * calling thread) kills the server and returns once A's client saw the
 * connection go, so the multi is not sent (zoo_multi on a lost connection
 * leaks in the client library) and A waits for the reconnection while its
 * session lasts, then looks again. The test's main thread starts the server
 * again once the hook returned (the fixture's JVM must be started by a
 * thread that outlives it). The set is published once: B then conflicts.
 */
static struct cluster *down_node;
static _Atomic bool down_fired;

static void down_hook(struct cluster *c)
{
	struct zk_cluster *z = c->lm;

	if (c != down_node || atomic_load(&down_fired))
		return;
	zk_fixture_stop(zk());
	/* Until A's client saw the connection go (the socket's end: at once).
	 * zh_lock is held shared by the caller: the handle stays. Not a watched
	 * wait: the main thread is in one, and the watchdog is started by one
	 * thread at a time. */
	while (zoo_state(z->zh) == ZOO_CONNECTED_STATE)
		sched_yield();
	atomic_store(&down_fired, true);
}

struct taker {
	struct cluster *c;
	_Atomic int ret;
};

static void *take_thread(void *p)
{
	struct taker *t = p;
	struct plock_range a = plock_rng(F_WRLCK, 0, 9);

	atomic_store(&t->ret, plock_take(t->c, &a, 1, NULL));
	return NULL;
}

/* @cached: A decides from its view (no read before the multi: the look
 * after the reconnection is a listing and the multi, 2 requests); else with
 * plock_test_no_cache (a listing before the hook: 3). */
static void down_before_multi(bool cached)
{
	char url[256];
	struct cluster *A, *B;
	struct plock_range b = plock_rng(F_WRLCK, 5, 5), cf;
	struct taker tk = {0};
	struct watched_wait ww;
	pthread_t t;
	uint64_t before, n, t0;

	zk_root(cached ? "down-multi-cached" : "down-multi", url, sizeof(url));
	A = node_mount(url, "A", RESTART_SESSION_MS, 1);
	B = node_mount(url, "B", RESTART_SESSION_MS, 1);
	/* The file's node made and A's child gone: a grant is one listing and
	 * one multi. */
	CHECK_EQ(plock_take(A, &b, 1, NULL), 0);
	CHECK_EQ(plock_release_all(A), 0);
	down_node = A;
	atomic_store(&down_fired, false);
	plock_test_before_publish = down_hook;
	plock_test_no_cache = !cached;
	before = atomic_load(&A->stats.lm_requests);
	tk.c = A;
	CHECK_EQ(pthread_create(&t, NULL, take_thread, &tk), 0);
	watched_wait_begin(&ww, "the hook killed the server", &down_fired);
	while (!atomic_load(&down_fired))
		watched_wait_step(&ww, 0);
	watched_wait_end(&ww);
	t0 = ms_now();
	CHECK_EQ(zk_fixture_restart(zk()), 0);
	pthread_join(t, NULL);
	plock_test_before_publish = NULL;
	plock_test_no_cache = false;
	n = atomic_load(&A->stats.lm_requests) - before;
	printf("# ZooKeeper down between A's %s and its multi: A's call returned %d %llu ms "
	       "after the restart began, %llu requests (%s)\n",
	       cached ? "cached view" : "read", atomic_load(&tk.ret),
	       (unsigned long long)(ms_now() - t0), (unsigned long long)n,
	       n > (cached ? 1u : 2u) ? "A looked again after the reconnection" : "no second look");
	CHECK_EQ(atomic_load(&tk.ret), 0);
	CHECK(n > (cached ? 1u : 2u));
	CHECK_EQ(plock_take(B, &b, 1, &cf), -EAGAIN);
	CHECK_EQ(cf.end, 9);
	CHECK_EQ(cluster_generation(A), 0);
	cluster_unmount(A);
	cluster_unmount(B);
}

TEST(zookeeper_down_before_multi)
{
	down_before_multi(false);
}

TEST(zookeeper_down_before_cached_multi)
{
	down_before_multi(true);
}

/* ---- bad input ---- */

TEST(bad_input)
{
	struct cluster *A, *B;
	unsigned n = 8000, i;
	struct plock_range *set = calloc(n, sizeof(*set)), w, cf;

	CHECK(set != NULL);
	for (i = 0; i < n; i++)
		set[i] = plock_rng(F_WRLCK, 1000000000000ll + 2 * i, 1000000000000ll + 2 * i);
	node_mount_two("bad", SESSION_MS, &A, &B);
	CHECK_EQ(plock_take(A, set, n, NULL), -ENOLCK);
	printf("# a set of %u ranges: -ENOLCK\n", n);
	w = plock_rng(F_WRLCK, 9, 3);
	CHECK_EQ(cluster_plock(A, &PLOCK_FILE1, &w, &w, 1, 0, &cf, NULL), -EINVAL);
	w = plock_rng(42, 0, 3);
	CHECK_EQ(cluster_plock(A, &PLOCK_FILE1, &w, &w, 1, 0, &cf, NULL), -EINVAL);
	CHECK_EQ(cluster_plock(A, &PLOCK_FILE1, &w, NULL, 1, 0, &cf, NULL), -EINVAL);
	/* Nothing was published: B takes anything. */
	w = plock_rng(F_WRLCK, 0, INT64_MAX);
	CHECK_EQ(plock_take(B, &w, 1, NULL), 0);
	free(set);
	cluster_unmount(A);
	cluster_unmount(B);
}

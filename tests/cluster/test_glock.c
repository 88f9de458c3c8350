/* SPDX-License-Identifier: MIT */
/*
 * test_glock.c - glocks between nodes of one process, on a real ZooKeeper
 * (tests/cluster/zk_fixture.c): URL parsing, nolock, an unreachable server,
 * exclusion and sharing between nodes (a checker of every grant), demote
 * callbacks in the worker in the order go_sync, go_inval, release, the
 * cached state reused with no round trip, the minimum hold time, another
 * node's EX request holding back new local holders.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "../harness.h"
#include "../threads.h"
#include "cluster_util.h"
#include "kernel/lockdep.h"
#include "kernel/rng.h"
#include "kernel/rwsem.h"
#include "kernel/sched.h"

TEST(url_parse)
{
	static const char *bad[] = {
	    "zk://",	   "zk:///x",	      "zk://h/x",     "zk://h:/x",
	    "zk://h:0/x",  "zk://h:70000/x",  "zk://h:1",     "zk://h:1,/x",
	    "zk://h:1//x", "zk://h:1/a/../b", "zk://h:1/a b", "http://h:1/x",
	    "zk://h:1x/x", "zk://h!:1/x",     "zk://,h:1/x",  "nolock:x",
	    NULL};
	struct cluster_url u;
	struct cluster *c = NULL;
	struct cluster_config cfg = {0};
	int i;

	for (i = 0; bad[i]; i++) {
		CHECKF(cluster_parse_url(bad[i], &u) == -EINVAL, "%s accepted", bad[i]);
		CHECK(strlen(cluster_last_error()) > 0);
		cfg.url = bad[i];
		CHECK_EQ(cluster_mount(&cfg, &c), -EINVAL);
		CHECK(c == NULL);
	}
	CHECK_EQ(cluster_parse_url("zk://127.0.0.1:2181,zk2.example:2182/pc/fs1/", &u), 0);
	CHECK(!u.nolock);
	CHECK(!strcmp(u.hosts, "127.0.0.1:2181,zk2.example:2182"));
	CHECK(!strcmp(u.path, "/pc/fs1"));
	CHECK_EQ(u.nhosts, 2);
	CHECK_EQ(cluster_parse_url("nolock", &u), 0);
	CHECK(u.nolock);
	CHECK_EQ(cluster_parse_url(NULL, &u), 0);
	CHECK(u.nolock);
	cfg.url = "nolock";
	cfg.node_name = "bad/name";
	CHECK_EQ(cluster_mount(&cfg, &c), -EINVAL);
}

TEST(nolock)
{
	struct cluster_config cfg = {.url = "nolock"};
	struct cluster *c;
	struct glock *a, *b;
	struct gholder ga, gb;

	CHECK_EQ(cluster_mount(&cfg, &c), 0);
	CHECK(cluster_is_nolock(c));
	CHECK_EQ(cluster_status(c), 0);
	CHECK_EQ(glock_get(c, 7, NULL, NULL, &a), 0);
	CHECK_EQ(glock_get(c, 3, NULL, NULL, &b), 0);
	gholder_init(a, LM_ST_EXCLUSIVE, 0, &ga);
	gholder_init(b, LM_ST_SHARED, 0, &gb);
	CHECK_EQ(glock_nq_two(&ga, &gb), 0);
	CHECK_EQ(glock_task_held(), 2);
	glock_dq(&gb);
	glock_dq(&ga);
	CHECK_EQ(glock_task_held(), 0);
	gholder_init(a, LM_ST_EXCLUSIVE, GL_NOWAIT, &ga);
	CHECK_EQ(glock_nq(&ga), 0);
	glock_dq(&ga);
	glock_put(a);
	glock_put(b);
	cluster_unmount(c);
}

TEST(unreachable)
{
	char url[128];
	struct cluster_config cfg = {.url = url, .node_name = "n1", .connect_timeout_ms = 800};
	struct cluster *c = NULL;
	uint64_t t0;
	int ret;

	if (zk_fixture_missing())
		test_skip("%s", zk_fixture_missing());
	snprintf(url, sizeof(url), "zk://127.0.0.1:%d/x", zk_fixture_dead_port());
	t0 = ms_now();
	ret = cluster_mount(&cfg, &c);
	printf("# unreachable: %d (%s) after %llu ms (timeout 800 ms): %s\n", ret, strerror(-ret),
	       (unsigned long long)(ms_now() - t0), cluster_last_error());
	CHECK_EQ(ret, -ETIMEDOUT);
	CHECK(c == NULL);
	CHECK(strstr(cluster_last_error(), "unreachable") != NULL);
}

/* ---- callbacks recorded in order ---- */

static _Atomic unsigned long seq;
struct rec {
	int node;
	_Atomic unsigned long sync_at, inval_at, inst_at;
	_Atomic enum gl_state inval_target;
	_Atomic int not_worker;
	_Atomic unsigned nsync, ninval, ninst;
};

static bool in_worker(void)
{
	char n[32] = "";

	pthread_getname_np(pthread_self(), n, sizeof(n));
	return !strcmp(n, "glockd");
}

static int rec_sync(struct glock *gl, void *o)
{
	struct rec *r = o;

	r->sync_at = ++seq;
	r->nsync++;
	if (!in_worker())
		r->not_worker = 1;
	return 0;
}

static void rec_inval(struct glock *gl, void *o, enum gl_state t)
{
	struct rec *r = o;

	r->inval_at = ++seq;
	r->inval_target = t;
	r->ninval++;
	if (!in_worker())
		r->not_worker = 1;
}

static int rec_inst(struct glock *gl, void *o)
{
	struct rec *r = o;

	r->inst_at = ++seq;
	r->ninst++;
	return 0;
}

static const struct glock_operations rec_ops = {rec_sync, rec_inval, rec_inst};

struct nq_arg {
	struct glock *gl;
	enum gl_state st;
	unsigned long granted_at;
	int ret;
	struct gholder gh;
};

static void *nq_thread(void *p)
{
	struct nq_arg *a = p;

	gholder_init(a->gl, a->st, 0, &a->gh);
	a->ret = glock_nq(&a->gh);
	a->granted_at = ++seq;
	if (!a->ret)
		glock_dq(&a->gh); /* the node keeps its cached state */
	return NULL;
}

/* Takes @gl in @st and lets it go: the node keeps the state cached. */
static void nq_dq(struct glock *gl, enum gl_state st)
{
	struct gholder h;

	gholder_init(gl, st, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	glock_dq(&h);
}

/* Node "A" on a fresh root for @tag (minimum hold @min_hold_ms), holding
 * glock @num (*@glp, a reference) cached in @st: the cases' prologue. */
static struct cluster *mount_cached(const char *tag, unsigned min_hold_ms, uint64_t num,
				    enum gl_state st, struct glock **glp)
{
	char url[256];
	struct cluster *c;

	zk_root(tag, url, sizeof(url));
	c = node_mount(url, "A", 4000, min_hold_ms);
	CHECK_EQ(glock_get(c, num, NULL, NULL, glp), 0);
	nq_dq(*glp, st);
	return c;
}

TEST(exclusive_transfer)
{
	char url[256];
	struct cluster *A, *B;
	struct glock *ga, *gb;
	struct rec ra = {.node = 0}, rb = {.node = 1};
	struct gholder h;
	struct nq_arg arg;
	pthread_t t;

	zk_root("excl", url, sizeof(url));
	A = node_mount(url, "A", 4000, 1);
	B = node_mount(url, "B", 4000, 1);
	CHECK_EQ(glock_get(A, 42, &rec_ops, &ra, &ga), 0);
	CHECK_EQ(glock_get(B, 42, &rec_ops, &rb, &gb), 0);
	gholder_init(ga, LM_ST_EXCLUSIVE, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	CHECK_EQ(ra.ninst, 1);
	CHECK_EQ(glock_state(ga), LM_ST_EXCLUSIVE);
	/* B asks for EX: it waits while A holds, A demotes to UN once the holder left. */
	arg = (struct nq_arg){.gl = gb, .st = LM_ST_EXCLUSIVE};
	pthread_create(&t, NULL, nq_thread, &arg);
	usleep(100 * 1000); /* not an ordering: only gives B the chance to be wrongly granted */
	CHECK_EQ(arg.granted_at, 0);
	{
		unsigned long dq_at = ++seq;

		glock_dq(&h);
		pthread_join(t, NULL);
		CHECK_EQ(arg.ret, 0);
		CHECK(ra.sync_at > dq_at);
		CHECK(ra.inval_at > ra.sync_at);
		CHECK(arg.granted_at > ra.inval_at);
		CHECK_EQ(ra.inval_target, LM_ST_UNLOCKED);
		CHECK(!ra.not_worker);
	}
	/* A gave EX up (its state reads UN once its delete is answered). */
	gholder_init(ga, LM_ST_SHARED, GL_NOWAIT, &h);
	CHECK_EQ(glock_nq(&h), -EAGAIN);
	CHECK_EQ(rb.ninst, 1);
	/* And back: A's SH request makes B go EX -> SH in place (sync, no inval). */
	CHECK_EQ(glock_state(gb), LM_ST_EXCLUSIVE);
	gholder_init(ga, LM_ST_SHARED, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	CHECK_EQ(rb.nsync, 1);
	CHECK_EQ(rb.ninval, 0);
	/* B's state reads SH once its worker has the multi's answer (A was
	 * granted at its commit): poll for it. */
	{
		int i;

		for (i = 0; i < 500 && glock_state(gb) != LM_ST_SHARED; i++)
			usleep(10 * 1000);
	}
	CHECK_EQ(glock_state(gb), LM_ST_SHARED);
	{
		struct gholder h2;

		gholder_init(gb, LM_ST_SHARED, GL_NOWAIT, &h2);
		CHECK_EQ(glock_nq(&h2), 0); /* both nodes hold SH at once, B from its cache */
		glock_dq(&h2);
		gholder_init(gb, LM_ST_EXCLUSIVE, GL_NOWAIT, &h2);
		CHECK_EQ(glock_nq(&h2), -EAGAIN);
	}
	glock_dq(&h);
	glock_put(ga);
	glock_put(gb);
	cluster_unmount(A);
	cluster_unmount(B);
}

TEST(node_name_in_use)
{
	char url[256];
	struct cluster_config cfg = {.url = url, .node_name = "twin", .connect_timeout_ms = 10000};
	struct cluster *a, *b = NULL;

	zk_root("twin", url, sizeof(url));
	a = node_mount(url, "twin", 4000, 1);
	CHECK_EQ(cluster_mount(&cfg, &b), -EEXIST);
	printf("# %s\n", cluster_last_error());
	CHECK(b == NULL);
	cluster_unmount(a);
	CHECK_EQ(cluster_mount(&cfg, &b), 0); /* free again once the first is gone */
	cluster_unmount(b);
}

/* A node of another lock recipe is refused at mount, whichever of the two
 * named the root first; the root takes nodes of its own recipe as before. */
TEST(recipe_mismatch_refused)
{
	char url[256];
	struct cluster_config cfg = {.url = url, .node_name = "b", .connect_timeout_ms = 10000};
	struct cluster *a, *b = NULL;

	zk_root("recipe", url, sizeof(url));
	a = node_mount(url, "a", 4000, 1); /* names the root with this build's recipe */
	__atomic_store_n(&zk_test_other_recipe, true, __ATOMIC_RELEASE);
	CHECK_EQ(cluster_mount(&cfg, &b), -EPROTO);
	printf("# %s\n", cluster_last_error());
	CHECK(b == NULL);
	__atomic_store_n(&zk_test_other_recipe, false, __ATOMIC_RELEASE);
	CHECK_EQ(cluster_mount(&cfg, &b), 0);
	cluster_unmount(b);
	cluster_unmount(a);

	zk_root("recipe-other", url, sizeof(url));
	__atomic_store_n(&zk_test_other_recipe, true, __ATOMIC_RELEASE);
	CHECK_EQ(cluster_mount(&cfg, &b), 0); /* the other recipe names this root */
	__atomic_store_n(&zk_test_other_recipe, false, __ATOMIC_RELEASE);
	cfg.node_name = "c";
	a = NULL;
	CHECK_EQ(cluster_mount(&cfg, &a), -EPROTO);
	printf("# %s\n", cluster_last_error());
	CHECK(a == NULL);
	cluster_unmount(b);
}

/* Nodes that name a file's generation from different sources (their stores
 * probed differently) would name one file's glock differently and never
 * exclude each other: the lock root records the source with the recipe,
 * and a node of another source is refused at mount. */
TEST(identity_mismatch_refused)
{
	char url[256];
	struct cluster_config cfg = {.url = url,
				     .node_name = "a",
				     .connect_timeout_ms = 10000,
				     .identity = "FS_IOC_GETVERSION"};
	struct cluster *a = NULL, *b = NULL;

	zk_root("identity", url, sizeof(url));
	CHECK_EQ(cluster_mount(&cfg, &a), 0);
	cfg.node_name = "b";
	cfg.identity = "statx-btime";
	CHECK_EQ(cluster_mount(&cfg, &b), -EPROTO);
	printf("# %s\n", cluster_last_error());
	CHECK(b == NULL);
	CHECK(strstr(cluster_last_error(), "generation: statx-btime") != NULL);
	cfg.identity = "FS_IOC_GETVERSION";
	CHECK_EQ(cluster_mount(&cfg, &b), 0);
	cluster_unmount(b);
	cluster_unmount(a);
}

TEST(cached_no_round_trips)
{
	struct cluster *A;
	struct glock *g;
	uint64_t before;
	int i;

	A = mount_cached("cached", 1, 1, LM_ST_EXCLUSIVE, &g);
	before = atomic_load(&A->stats.lm_requests);
	for (i = 0; i < 10000; i++)
		nq_dq(g, i & 1 ? LM_ST_SHARED : LM_ST_EXCLUSIVE);
	printf("# 10000 nq/dq alone: %llu lock-service requests\n",
	       (unsigned long long)(atomic_load(&A->stats.lm_requests) - before));
	CHECK_EQ(atomic_load(&A->stats.lm_requests), before);
	glock_put(g);
	cluster_unmount(A);
}

/*
 * One node, the want nodes' watches off (a holder learns of requests from a
 * children watch and a listing): SH, then EX converts in place (multi + want
 * reads + listing). The children watch its first listing armed fires on
 * that conversion; the listing pipelined behind the conversion saw it, so
 * the event costs no listing. A second glock's first request then goes
 * through the worker after its next poll (which handled the event).
 */
static void own_change(bool relist_every_event)
{
	struct cluster *A;
	struct glock *g, *g2;
	uint64_t before, n;

	zk_test_want_nodes_off = true;
	A = mount_cached(relist_every_event ? "ownchgh" : "ownchg", 0, 1, LM_ST_SHARED, &g);
	CHECK_EQ(glock_get(A, 2, NULL, NULL, &g2), 0);
	zk_test_relist_every_event = relist_every_event;
	before = atomic_load(&A->stats.lm_relists);
	nq_dq(g, LM_ST_EXCLUSIVE);
	nq_dq(g2, LM_ST_SHARED);
	n = atomic_load(&A->stats.lm_relists) - before;
	printf("# SH -> EX in place, then a new glock: %llu listings of their own\n",
	       (unsigned long long)n);
	CHECK_EQ(n, relist_every_event ? 1u : 0u);
	glock_put(g);
	glock_put(g2);
	cluster_unmount(A);
	/* After the worker is gone (it reads them). */
	zk_test_relist_every_event = false;
	zk_test_want_nodes_off = false;
}

TEST(own_change_no_listing)
{
	own_change(false);
}

/* Hazard: with every children event listed, the conversion costs a listing. */
TEST(own_change_no_listing_hazard)
{
	own_change(true);
}

/*
 * A holds EX (cached); B asks for SH. B's multi bumps the want node w-sh,
 * whose watch A armed when it asked for EX: the event names the mode, and A
 * demotes EX -> SH in place (one multi) with no listing of its own. With
 * zk_test_want_nodes_off, A learns of the request from its children watch
 * and must list the children first (an extra read on the critical path).
 */
static void want_event(bool off)
{
	char url[256];
	struct cluster *A, *B;
	struct glock *ga, *gb;
	struct gholder h;
	uint64_t list0, dem0, n;

	zk_root(off ? "wanth" : "want", url, sizeof(url));
	zk_test_want_nodes_off = off;
	A = node_mount(url, "A", 4000, 0);
	B = node_mount(url, "B", 4000, 0);
	CHECK_EQ(glock_get(A, 7, NULL, NULL, &ga), 0);
	CHECK_EQ(glock_get(B, 7, NULL, NULL, &gb), 0);
	nq_dq(ga, LM_ST_EXCLUSIVE);
	list0 = atomic_load(&A->stats.lm_relists);
	dem0 = atomic_load(&A->stats.demotes);
	nq_dq(gb, LM_ST_SHARED);
	/* B's grant came from the commit of A's conversion: A's worker may
	 * still be finishing the demote; an SH nq on A waits for it. */
	gholder_init(ga, LM_ST_SHARED, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	n = atomic_load(&A->stats.lm_relists) - list0;
	printf("# B's SH from A's EX: A listed %llu times, demoted %llu times, holds %s\n",
	       (unsigned long long)n, (unsigned long long)(atomic_load(&A->stats.demotes) - dem0),
	       gl_state_name(__atomic_load_n(&ga->gl_state, __ATOMIC_ACQUIRE)));
	CHECK_EQ(atomic_load(&A->stats.demotes) - dem0, 1u);
	CHECK_EQ(__atomic_load_n(&ga->gl_state, __ATOMIC_ACQUIRE), LM_ST_SHARED);
	glock_dq(&h);
	if (off)
		CHECK(n >= 1);
	else
		CHECK_EQ(n, 0u);
	glock_put(ga);
	glock_put(gb);
	cluster_unmount(A);
	cluster_unmount(B);
	zk_test_want_nodes_off = false; /* after the workers are gone */
}

TEST(want_event_no_listing)
{
	want_event(false);
}

/* Hazard: without the want nodes' watches the holder lists before it demotes. */
TEST(want_event_no_listing_hazard)
{
	want_event(true);
}

/*
 * The fired want watch is armed again at the end of the holder's run, only
 * if the state after it still conflicts with that mode. (1) A holds EX (no
 * minimum hold), B asks for SH: A's demote to SH gives the SH conflict up,
 * and its conversion's pipelined reads arm what SH watches: no re-arm;
 * B's EX request then still reaches A (w-ex, armed by those reads). (2) A
 * demote delayed by the minimum hold leaves EX held: the watch is armed
 * again at once (one re-arm). (3) A demote that waits for a local holder:
 * the glock is not run, the pending demote covers a second SH request (C),
 * and both B and C are granted once the holder leaves. With
 * zk_test_rearm_at_event (the re-arm sent from the event, as before) (1)
 * costs A one re-arm more.
 */
static void rearm_deferred(bool at_event)
{
	char url[256];
	struct cluster *A, *B, *C;
	struct glock *ga, *gb, *gc;
	struct gholder h;
	struct nq_arg argb, argc;
	pthread_t tb, tc;
	uint64_t r0, n;

	zk_root(at_event ? "rearmh" : "rearm", url, sizeof(url));
	zk_test_rearm_at_event = at_event;
	glock_test_no_min_hold = true; /* B's request may come within it */
	A = node_mount(url, "A", 4000, 0);
	B = node_mount(url, "B", 4000, 0);
	CHECK_EQ(glock_get(A, 9, NULL, NULL, &ga), 0);
	CHECK_EQ(glock_get(B, 9, NULL, NULL, &gb), 0);
	/* (1) */
	nq_dq(ga, LM_ST_EXCLUSIVE);
	r0 = atomic_load(&A->stats.lm_rearms);
	nq_dq(gb, LM_ST_SHARED);
	nq_dq(ga, LM_ST_SHARED); /* waits for A's demote to end */
	n = atomic_load(&A->stats.lm_rearms) - r0;
	printf("# EX -> SH demote: A armed %llu want watches again by reads of their own\n",
	       (unsigned long long)n);
	CHECK_EQ(n, at_event ? 1u : 0u);
	nq_dq(gb, LM_ST_EXCLUSIVE); /* A must hear of it: w-ex */
	glock_put(ga);
	glock_put(gb);
	cluster_unmount(A);
	cluster_unmount(B);
	zk_test_rearm_at_event = false; /* after the workers are gone */
	glock_test_no_min_hold = false;
	if (at_event)
		return;

	/* (2) A keeps EX for its minimum hold (2 s): B's request comes in it. */
	zk_root("rearm-hold", url, sizeof(url));
	A = node_mount(url, "A", 4000, 2000);
	B = node_mount(url, "B", 4000, 2000);
	CHECK_EQ(glock_get(A, 9, NULL, NULL, &ga), 0);
	CHECK_EQ(glock_get(B, 9, NULL, NULL, &gb), 0);
	nq_dq(ga, LM_ST_EXCLUSIVE);
	r0 = atomic_load(&A->stats.lm_rearms);
	nq_dq(gb, LM_ST_SHARED);
	n = atomic_load(&A->stats.lm_rearms) - r0;
	printf("# EX -> SH demote delayed by the minimum hold: %llu re-arm(s)\n",
	       (unsigned long long)n);
	CHECK(n >= 1);
	glock_put(ga);
	glock_put(gb);
	cluster_unmount(A);
	cluster_unmount(B);

	/* (3) A local holder keeps A's EX while B and C ask for SH. */
	zk_root("rearm-held", url, sizeof(url));
	A = node_mount(url, "A", 4000, 0);
	B = node_mount(url, "B", 4000, 0);
	C = node_mount(url, "C", 4000, 0);
	CHECK_EQ(glock_get(A, 9, NULL, NULL, &ga), 0);
	CHECK_EQ(glock_get(B, 9, NULL, NULL, &gb), 0);
	CHECK_EQ(glock_get(C, 9, NULL, NULL, &gc), 0);
	gholder_init(ga, LM_ST_EXCLUSIVE, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	argb = (struct nq_arg){.gl = gb, .st = LM_ST_SHARED};
	argc = (struct nq_arg){.gl = gc, .st = LM_ST_SHARED};
	pthread_create(&tb, NULL, nq_thread, &argb);
	pthread_create(&tc, NULL, nq_thread, &argc);
	glock_dq(&h);
	pthread_join(tb, NULL);
	pthread_join(tc, NULL);
	CHECK_EQ(argb.ret, 0);
	CHECK_EQ(argc.ret, 0);
	glock_put(ga);
	glock_put(gb);
	glock_put(gc);
	cluster_unmount(A);
	cluster_unmount(B);
	cluster_unmount(C);
}

TEST(rearm_deferred)
{
	rearm_deferred(false);
}

/* Hazard (a cost): the re-arm sent from the event, as before. */
TEST(rearm_deferred_hazard)
{
	rearm_deferred(true);
}

/*
 * The want node a request or conversion bumps is not read behind it unless
 * the new mode watches it (EX): the multi's answer carries its version at
 * the commit, before the pipelined listing, and a later conversion checks
 * that. A alone: SH, then EX in place (checks w-sh at the version its SH
 * request's set returned), DF in place, SH in place (checks w-df at the DF
 * conversion's): no listing of its own, each DF or SH conversion the multi,
 * two want reads and the listing. With zk_test_read_every_want (all three
 * read) one request more each.
 */
static void bumped_want(bool read_every)
{
	static const enum gl_state steps[] = {LM_ST_EXCLUSIVE, LM_ST_DEFERRED, LM_ST_SHARED};
	struct cluster *A;
	struct glock *ga;
	struct gholder h;
	unsigned i;

	zk_test_read_every_want = read_every;
	A = mount_cached(read_every ? "bumph" : "bump", 1, 11, LM_ST_SHARED, &ga);
	for (i = 0; i < 3; i++) {
		uint64_t r0 = atomic_load(&A->stats.lm_requests);
		uint64_t l0 = atomic_load(&A->stats.lm_relists);
		uint64_t d0 = atomic_load(&A->stats.demotes);
		uint64_t n;

		gholder_init(ga, steps[i], 0, &h);
		CHECK_EQ(glock_nq(&h), 0);
		CHECK_EQ(glock_state(ga), steps[i]);
		glock_dq(&h);
		n = atomic_load(&A->stats.lm_requests) - r0;
		printf("# %s in place: %llu requests, %llu listings of its own\n",
		       gl_state_name(steps[i]), (unsigned long long)n,
		       (unsigned long long)(atomic_load(&A->stats.lm_relists) - l0));
		CHECK_EQ(atomic_load(&A->stats.lm_relists) - l0, 0u);
		CHECK_EQ(atomic_load(&A->stats.demotes) - d0, 1u); /* one conversion */
		CHECK_EQ(n, steps[i] == LM_ST_EXCLUSIVE || read_every ? 5u : 4u);
	}
	glock_put(ga);
	cluster_unmount(A);
	zk_test_read_every_want = false; /* after the worker is gone */
}

TEST(bumped_want_unread)
{
	bumped_want(false);
}

/* Hazard (a cost): every want node read, as before. */
TEST(bumped_want_unread_hazard)
{
	bumped_want(true);
}

TEST(min_hold_time)
{
	char url[256];
	struct cluster *A, *B;
	struct glock *ga, *gb;
	struct gholder h;
	uint64_t t_grant, t_b;

	zk_root("minhold", url, sizeof(url));
	A = node_mount(url, "A", 4000, 400);
	B = node_mount(url, "B", 4000, 400);
	CHECK_EQ(glock_get(A, 5, NULL, NULL, &ga), 0);
	CHECK_EQ(glock_get(B, 5, NULL, NULL, &gb), 0);
	gholder_init(ga, LM_ST_EXCLUSIVE, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	t_grant = ms_now();
	glock_dq(&h);
	/* A holds no holder now, but keeps EX for its minimum hold time. */
	gholder_init(gb, LM_ST_EXCLUSIVE, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	t_b = ms_now();
	printf("# B granted %llu ms after A's grant (min hold 400 ms)\n",
	       (unsigned long long)(t_b - t_grant));
	CHECK(t_b - t_grant >= 400);
	glock_dq(&h);
	glock_put(ga);
	glock_put(gb);
	cluster_unmount(A);
	cluster_unmount(B);
	/* Switched off (before the nodes' workers start), A gives EX up as
	 * soon as it is asked although the hold is 3 s. */
	glock_test_no_min_hold = true;
	zk_root("minhold-off", url, sizeof(url));
	A = node_mount(url, "A", 4000, 3000);
	B = node_mount(url, "B", 4000, 3000);
	CHECK_EQ(glock_get(A, 5, NULL, NULL, &ga), 0);
	CHECK_EQ(glock_get(B, 5, NULL, NULL, &gb), 0);
	gholder_init(ga, LM_ST_EXCLUSIVE, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	t_grant = ms_now();
	glock_dq(&h);
	gholder_init(gb, LM_ST_EXCLUSIVE, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	t_b = ms_now();
	printf("# without the minimum hold: B granted %llu ms after A's grant (min hold 3000 ms)\n",
	       (unsigned long long)(t_b - t_grant));
	CHECK(t_b - t_grant < 3000);
	glock_dq(&h);
	glock_put(ga);
	glock_put(gb);
	cluster_unmount(A);
	cluster_unmount(B);
	glock_test_no_min_hold = false;
}

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
	nq_dq(g, LM_ST_EXCLUSIVE);
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

/* ---- sharing: SH on every node, DF on every node, each from its cache ---- */

struct holder_arg {
	struct glock *g;
	enum gl_state s;
	pthread_barrier_t *bar;
	int ret;
};

static void *hold_together(void *p)
{
	struct holder_arg *a = p;
	struct gholder h;

	gholder_init(a->g, a->s, 0, &h);
	a->ret = glock_nq(&h);
	pthread_barrier_wait(a->bar);
	if (!a->ret)
		glock_dq(&h);
	return NULL;
}

TEST(shared_states_on_three_nodes)
{
	char url[256];
	struct cluster *c[3];
	struct glock *g[3];
	struct gholder h[1];
	struct rec r[3] = {{.node = 0}, {.node = 1}, {.node = 2}};
	uint64_t before = 0;
	int i, k, round;

	zk_root("shared", url, sizeof(url));
	for (i = 0; i < 3; i++) {
		char name[8];

		snprintf(name, sizeof(name), "S%d", i);
		c[i] = node_mount(url, name, 4000, 1);
		CHECK_EQ(glock_get(c[i], 3, &rec_ops, &r[i], &g[i]), 0);
	}
	for (k = 0; k < 2; k++) {
		enum gl_state s = k ? LM_ST_DEFERRED : LM_ST_SHARED;

		/* All three hold s at once: each in its own thread, all past
		 * the barrier before any lets go. */
		struct holder_arg ha[3];
		pthread_t t[3];
		pthread_barrier_t bar;

		pthread_barrier_init(&bar, NULL, 3);
		for (i = 0; i < 3; i++) {
			ha[i] = (struct holder_arg){g[i], s, &bar, -1};
			pthread_create(&t[i], NULL, hold_together, &ha[i]);
		}
		for (i = 0; i < 3; i++) {
			pthread_join(t[i], NULL);
			CHECK_EQ(ha[i].ret, 0);
		}
		pthread_barrier_destroy(&bar);
		/* Then each node again from its cache: no request at all. A
		 * demote asked for by a listing that saw another node's child
		 * before that node converted may still be on its way (stale,
		 * but obeyed, as in gfs2): rounds until one makes no request. */
		for (round = 0; round < 20; round++) {
			before = 0;
			for (i = 0; i < 3; i++)
				before += atomic_load(&c[i]->stats.lm_requests);
			for (i = 0; i < 3 * 100; i++) {
				gholder_init(g[i % 3], s, 0, &h[0]);
				CHECK_EQ(glock_nq(&h[0]), 0);
				glock_dq(&h[0]);
			}
			for (i = 0; i < 3; i++)
				before -= atomic_load(&c[i]->stats.lm_requests);
			if (before == 0)
				break;
		}
		printf("# %s on 3 nodes: a round of 300 nq with no request after %d round(s)\n",
		       gl_state_name(s), round + 1);
		CHECK_EQ(before, 0);
	}
	/* SH -> DF dropped every node's cache: go_inval(UN) for SH holders that
	 * gave way, or go_inval(DF) on a local change; never go_sync (no EX). */
	for (i = 0; i < 3; i++) {
		CHECK_EQ(r[i].nsync, 0);
		CHECK(r[i].ninval >= 1);
		/* Attributes are re-read after a grant from the service; a
		 * node whose SH became DF in place (lm_convert: nobody could
		 * have held EX meanwhile) keeps them, so one grant is sure. */
		CHECK(r[i].ninst >= 1);
	}
	for (i = 0; i < 3; i++) {
		glock_put(g[i]);
		cluster_unmount(c[i]);
	}
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
	nq_dq(gb, LM_ST_SHARED);
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
	nq_dq(ch.ga, LM_ST_EXCLUSIVE); /* A holds EX cached */
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
	orph.c = mount_cached(glock_test_orphan_no_recheck ? "orphanoff" : "orphan", 1, 11,
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
	A = mount_cached(glock_test_demote_drop_skips_waiters ? "compatoff" : "compat", 1, 13,
			 LM_ST_DEFERRED, &cmp.gl);
	CHECK_EQ(glock_state(cmp.gl), LM_ST_DEFERRED);
	/* another glock's orphan release holds the worker in its window */
	CHECK_EQ(glock_get(A, 14, NULL, NULL, &other), 0);
	nq_dq(other, LM_ST_EXCLUSIVE);
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

/* SPDX-License-Identifier: MIT */
/*
 * test_glock_sweep.c - the zk module sweeps what crashed nodes left
 * (src/cluster/lock_zk_sweep.c): lock nodes with no request and byte-range
 * tables with no entry, left by a node whose session ended before it freed
 * them.
 *
 * sweep_at_mount: A takes 8 glocks and a byte-range lock and its session
 * ends with them (zk_test_keep_lock_nodes at its unmount: nothing freed,
 * as in a crash); B mounts alone, sweeps: 0 lock nodes and 0 tables left,
 * and B takes one of those glocks again. zk_test_no_sweep: 8 and 1 stay.
 * sweep_when_a_node_dies: node A (a child process) takes 8 glocks and a
 * byte-range lock and is killed; B and C, mounted meanwhile, each hold a
 * glock of their own; when A's session expires, B (the lowest name) sweeps:
 * A's 8 lock nodes and its table go, B's and C's lock nodes stay, C never
 * sweeps, and B and C still hand their glocks over. zk_test_no_sweep: A's
 * stay. sweep_spares_held_glocks: C holds glock 700 EX, D leaves a lock
 * node and unmounts, B sweeps: D's lock node goes, C's stays, and B's EX
 * try of 700 is refused; zk_test_sweep_in_use (the sweep deletes whatever
 * it reads, children too): C's child goes and B is granted EX while C holds
 * EX. sweeps_under_load: three nodes take and free 8 glocks at random with
 * their own deletes off (zk_test_keep_lock_nodes: only sweeps delete),
 * while a fourth mounts and unmounts over and over (a sweep each time):
 * every grant checked. clean_unmount_no_full_sweep: C takes a glock and a
 * byte-range lock and unmounts cleanly (its lock node deleted, its table
 * left empty): B counts a clean departure and sweeps the tables alone (0
 * left) without reading the lock nodes; zk_test_no_clean_departure: B
 * counts a crash and sweeps everything.
 *
 * Locks: none of the test's own; the nodes' handles under zh_lock (shared).
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../harness.h"
#include "cluster/lock_zk.h"
#include "cluster/plock.h"
#include "cluster_util.h"

#define NGL 8

static int lock_nodes(struct cluster *c)
{
	return node_zk_children(c, ((struct zk_cluster *)c->lm)->gpath);
}

static int tables(struct cluster *c)
{
	return node_zk_children(c, ((struct zk_cluster *)c->lm)->ppath);
}

/* Node @c takes glocks 100..100+NGL-1 (kept cached) and a byte-range lock. */
static void leave_state(struct cluster *c)
{
	struct plock_range r = plock_rng(F_WRLCK, 0, 9);
	struct glock *gl;
	int i;

	for (i = 0; i < NGL; i++) {
		CHECK_EQ(glock_get(c, 100 + (uint64_t)i, NULL, NULL, &gl), 0);
		glock_take(gl, LM_ST_EXCLUSIVE);
		glock_put(gl);
	}
	CHECK_EQ(plock_take(c, &r, 1, NULL), 0);
}

static void at_mount_case(bool off)
{
	struct cluster *A, *B;
	struct glock *gl;
	char url[512];
	int g, p;

	zk_root(off ? "sweepmoff" : "sweepm", url, sizeof(url));
	zk_test_keep_lock_nodes = true; /* A frees nothing: as a crash */
	zk_test_no_sweep = true;	/* nor sweeps its own freed glocks */
	A = node_mount(url, "A", 4000, 1);
	leave_state(A);
	CHECK_EQ(lock_nodes(A), NGL);
	CHECK_EQ(tables(A), 1);
	cluster_unmount(A);
	zk_test_keep_lock_nodes = false;

	zk_test_no_sweep = off;
	B = node_mount(url, "B", 4000, 1);
	if (!off)
		WAIT_UNTIL(node_stat(&B->stats.lm_sweeps) >= 1);
	/* A glock of B's own: a round trip through B's worker. */
	CHECK_EQ(glock_get(B, 100, NULL, NULL, &gl), 0);
	glock_take(gl, LM_ST_SHARED);
	g = lock_nodes(B);
	p = tables(B);
	printf("# %s: A ended with %d lock nodes and 1 table; after B's mount: %d lock nodes "
	       "(B's own glock's included), %d tables (sweeps %llu, deleted %llu)\n",
	       off ? "sweep off" : "fixed", NGL, g, p,
	       (unsigned long long)node_stat(&B->stats.lm_sweeps),
	       (unsigned long long)node_stat(&B->stats.lm_sweep_deleted));
	if (off) {
		CHECK_EQ(g, NGL);
		CHECK_EQ(p, 1);
		CHECK_EQ(node_stat(&B->stats.lm_sweeps), 0);
	} else {
		CHECK_EQ(g, 1);
		CHECK_EQ(p, 0);
		CHECK_EQ(node_stat(&B->stats.lm_sweep_deleted), NGL + 1);
	}
	glock_put(gl);
	cluster_unmount(B);
	zk_test_no_sweep = false;
}

TEST(sweep_at_mount)
{
	at_mount_case(false);
}

TEST(sweep_at_mount_off_shows)
{
	at_mount_case(true);
}

struct dying {
	const char *url;
	int ready; /* the pipe's write end */
};

/* Node A: leaves its state, says so, and waits to be killed. */
static int dying_node(void *arg)
{
	struct dying *d = arg;
	struct cluster *A;
	char b = 1;

	prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed case kills it too */
	zk_test_keep_lock_nodes = true;	  /* its glocks stay until it is killed */
	zk_test_no_sweep = true;
	A = node_mount(d->url, "A", 1000, 1);
	leave_state(A);
	if (write(d->ready, &b, 1) != 1)
		return 1;
	for (;;)
		pause();
}

static void dies_case(bool off)
{
	struct cluster *B, *C;
	struct glock *gb, *gc, *g2;
	struct dying d;
	char url[512], b;
	int fds[2], g, p, status;
	pid_t pid;

	zk_root(off ? "sweepdoff" : "sweepd", url, sizeof(url));
	CHECK_EQ(pipe(fds), 0);
	d.url = url;
	d.ready = fds[1];
	pid = test_fork(); /* before this process has threads */
	if (!pid)
		_exit(dying_node(&d));
	close(fds[1]);
	CHECK_EQ(read(fds[0], &b, 1), 1);
	close(fds[0]);

	zk_test_no_sweep = off;
	B = node_mount(url, "B", 4000, 1);
	C = node_mount(url, "C", 4000, 1);
	CHECK_EQ(glock_get(B, 300, NULL, NULL, &gb), 0);
	glock_take(gb, LM_ST_SHARED);
	CHECK_EQ(glock_get(C, 301, NULL, NULL, &gc), 0);
	glock_take(gc, LM_ST_EXCLUSIVE);
	CHECK_EQ(lock_nodes(B), NGL + 2);

	CHECK_EQ(kill(pid, SIGKILL), 0);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* A's session expires: its name goes, B sees it. */
	WAIT_UNTIL(node_zk_children(B, ((struct zk_cluster *)B->lm)->sweep.npath) == 2);
	if (!off)
		WAIT_UNTIL(node_stat(&B->stats.lm_sweeps) >= 1 && lock_nodes(B) == 2);
	/* The glocks B and C hold still change hands. */
	CHECK_EQ(glock_get(B, 301, NULL, NULL, &g2), 0);
	glock_take(g2, LM_ST_EXCLUSIVE);
	glock_put(g2);
	g = lock_nodes(C);
	p = tables(C);
	printf("# %s: A killed holding %d glocks and a byte-range lock; B and C hold one glock "
	       "each: %d lock nodes, %d tables left (B swept %llu times, deleted %llu; C swept "
	       "%llu times)\n",
	       off ? "sweep off" : "fixed", NGL, g, p,
	       (unsigned long long)node_stat(&B->stats.lm_sweeps),
	       (unsigned long long)node_stat(&B->stats.lm_sweep_deleted),
	       (unsigned long long)node_stat(&C->stats.lm_sweeps));
	CHECK_EQ(node_stat(&C->stats.lm_sweeps), 0);
	if (off) {
		CHECK_EQ(g, NGL + 2);
		CHECK_EQ(p, 1);
	} else {
		CHECK_EQ(g, 2);
		CHECK_EQ(p, 0);
		CHECK_EQ(node_stat(&B->stats.lm_sweep_deleted), NGL + 1);
	}
	glock_put(gb);
	glock_put(gc);
	cluster_unmount(C);
	cluster_unmount(B);
	zk_test_no_sweep = false;
}

TEST(sweep_when_a_node_dies)
{
	dies_case(false);
}

TEST(sweep_when_a_node_dies_off_shows)
{
	dies_case(true);
}

static void spares_case(bool hazard)
{
	struct cluster *B, *C, *D;
	struct glock *gc, *gd, *gb;
	struct gholder hc, hb;
	char url[512];
	int r, n;

	zk_root(hazard ? "sweepinuse" : "sweepspare", url, sizeof(url));
	B = node_mount(url, "B", 4000, 1);
	WAIT_UNTIL(node_stat(&B->stats.lm_sweeps) == 1); /* its mount's: nothing there */
	C = node_mount(url, "C", 4000, 1);
	zk_test_keep_lock_nodes = true;
	D = node_mount(url, "D", 4000, 1);
	CHECK_EQ(glock_get(D, 701, NULL, NULL, &gd), 0);
	glock_take(gd, LM_ST_SHARED);
	glock_put(gd);
	/* C's hold, before D leaves (this thread then waits for no glock). */
	CHECK_EQ(glock_get(C, 700, NULL, NULL, &gc), 0);
	gholder_init(gc, LM_ST_EXCLUSIVE, 0, &hc);
	CHECK_EQ(glock_nq(&hc), 0);    /* held until the end */
	zk_test_sweep_in_use = hazard; /* for the sweep D's departure starts */
	cluster_unmount(D);	       /* leaves 701's lock node */
	WAIT_UNTIL(node_stat(&B->stats.lm_sweeps) >= 2);
	n = lock_nodes(B);
	CHECK_EQ(glock_get(B, 700, NULL, NULL, &gb), 0);
	gholder_init(gb, LM_ST_EXCLUSIVE, GL_TRY, &hb);
	r = glock_nq(&hb);
	printf("# %s: D left, B swept: %d lock node(s) left (C holds 700 EX); B's EX try of 700: "
	       "%d (%s)\n",
	       hazard ? "sweep deletes in use" : "fixed", n, r, r ? strerror(-r) : "granted");
	if (hazard) {
		CHECK_EQ(n, 0);
		CHECK_EQ(r, 0); /* two EX holders */
	} else {
		CHECK_EQ(n, 1);
		CHECK_EQ(r, -EAGAIN);
	}
	if (!r)
		glock_dq(&hb);
	glock_put(gb);
	glock_dq(&hc);
	glock_put(gc);
	cluster_unmount(C);
	cluster_unmount(B);
	zk_test_sweep_in_use = false; /* written with no worker running */
	zk_test_keep_lock_nodes = false;
}

TEST(sweep_spares_held_glocks)
{
	spares_case(false);
}

TEST(sweep_spares_held_glocks_in_use_shows)
{
	spares_case(true);
}

#define LNODES	3
#define LGLOCKS 8

TEST(sweeps_under_load)
{
	struct cluster *c[LNODES];
	struct rworker w[LNODES];
	pthread_t t[LNODES];
	uint64_t seed = test_seed(), remakes = 0;
	unsigned long iters = test_scale(200, 4);
	unsigned churns = 0;
	char url[512];
	int n;

	zk_root("sweepload", url, sizeof(url));
	checker_reset();
	zk_test_keep_lock_nodes = true; /* the nodes' frees leave their lock nodes */
	for (n = 0; n < LNODES; n++) {
		char name[8];

		snprintf(name, sizeof(name), "B%d", n);
		c[n] = node_mount(url, name, 4000, 0);
	}
	for (n = 0; n < LNODES; n++) {
		w[n] = (struct rworker){c[n], n, seed + (uint64_t)n, iters, 800, LGLOCKS};
		pthread_create(&t[n], NULL, node_random_load, &w[n]);
	}
	/* Departures while they run: each is a sweep by B0. */
	while (churns < 40 && node_stat(&c[0]->stats.lm_sweep_deleted) < 20) {
		struct cluster *x;
		char name[16];

		/* A name of its own each time: a closed session's entry may
		 * outlive the close a moment (its name then in use). */
		snprintf(name, sizeof(name), "C%u", churns);
		x = node_mount(url, name, 4000, 0);

		cluster_unmount(x);
		churns++;
	}
	for (n = 0; n < LNODES; n++)
		pthread_join(t[n], NULL);
	for (n = 0; n < LNODES; n++)
		remakes += node_stat(&c[n]->stats.lm_remakes);
	printf("# %d nodes x %lu grants on %d glocks (seed %#llx), %u departures: %lu conflicts; "
	       "B0 swept %llu times, deleted %llu lock nodes; requests made again %llu\n",
	       LNODES, iters, LGLOCKS, (unsigned long long)seed, churns, checker_conflicts(),
	       (unsigned long long)node_stat(&c[0]->stats.lm_sweeps),
	       (unsigned long long)node_stat(&c[0]->stats.lm_sweep_deleted),
	       (unsigned long long)remakes);
	CHECK_EQ(checker_conflicts(), 0);
	CHECK(node_stat(&c[0]->stats.lm_sweeps) >= 2);
	for (n = 0; n < LNODES; n++)
		cluster_unmount(c[n]);
	zk_test_keep_lock_nodes = false; /* written with no worker running */
}

static void clean_case(bool off)
{
	struct plock_range r = plock_rng(F_WRLCK, 0, 9);
	struct cluster *B, *C;
	struct glock *gl;
	char url[512];

	zk_root(off ? "sweepcleanoff" : "sweepclean", url, sizeof(url));
	B = node_mount(url, "B", 4000, 1);
	WAIT_UNTIL(node_stat(&B->stats.lm_sweeps) == 1); /* its mount's */
	C = node_mount(url, "C", 4000, 1);
	CHECK_EQ(glock_get(C, 900, NULL, NULL, &gl), 0);
	glock_take(gl, LM_ST_EXCLUSIVE);
	glock_put(gl);
	CHECK_EQ(plock_take(C, &r, 1, NULL), 0);
	zk_test_no_clean_departure = off;
	cluster_unmount(C);
	if (off)
		WAIT_UNTIL(node_stat(&B->stats.lm_sweeps) == 2);
	else
		WAIT_UNTIL(node_stat(&B->stats.lm_table_sweeps) == 1);
	printf("# %s: C unmounted: B saw %llu departure(s), %llu clean; full sweeps %llu, table "
	       "sweeps %llu; %d lock nodes, %d tables left\n",
	       off ? "no clean departure" : "fixed",
	       (unsigned long long)node_stat(&B->stats.lm_departures),
	       (unsigned long long)node_stat(&B->stats.lm_departures_clean),
	       (unsigned long long)node_stat(&B->stats.lm_sweeps),
	       (unsigned long long)node_stat(&B->stats.lm_table_sweeps), lock_nodes(B), tables(B));
	CHECK_EQ(node_stat(&B->stats.lm_departures), 1);
	CHECK_EQ(node_stat(&B->stats.lm_departures_clean), off ? 0 : 1);
	CHECK_EQ(node_stat(&B->stats.lm_sweeps), off ? 2 : 1);
	CHECK_EQ(node_stat(&B->stats.lm_table_sweeps), off ? 0 : 1);
	CHECK_EQ(lock_nodes(B), 0);
	CHECK_EQ(tables(B), 0);
	cluster_unmount(B);
	zk_test_no_clean_departure = false;
}

TEST(clean_unmount_no_full_sweep)
{
	clean_case(false);
}

TEST(clean_unmount_no_full_sweep_announce_off_shows)
{
	clean_case(true);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_glock_proc.c - glocks between node processes on a real ZooKeeper:
 * a child node (this program re-executed with the hidden case node_child)
 * holding EX is SIGKILLed, or SIGSTOPped past its session timeout and then
 * continued (it must see EIO, never write back after losing the glock, and
 * rejoin later; with glock_test_no_lease_margin it goes on using its EX while
 * the other node holds EX: two EX holders); ZooKeeper restarted within the
 * session timeout loses nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../harness.h"
#include "../threads.h"
#include "cluster_util.h"

/* ---- the child node: commands on stdin, answers on stdout ---- */

static int sync_ran(struct glock *gl, void *o)
{
	static const char m[] = "sync\n";

	if (write(1, m, sizeof(m) - 1) < 0)
		return -EIO;
	return 0;
}

static const struct glock_operations child_ops = {.go_sync = sync_ran};

static void say(const char *s)
{
	char b[64];
	int n = snprintf(b, sizeof(b), "%s\n", s);

	if (write(1, b, (size_t)n) != n)
		_exit(3);
}

TEST_HIDDEN(node_child)
{
	const char *url = getenv("PC_NODE_URL");
	struct cluster *c;
	struct glock *g;
	struct gholder h;
	char line[64];
	int r;

	CHECK(url);
	if (getenv("PC_NODE_NO_LEASE")) {
		glock_test_no_lease_margin = true;
		/* B's EX request bumps the want node this node watches, and the
		 * server may have sent that event before it expired the stopped
		 * node's session: read after SIGCONT it would make this node -
		 * which ignores its lease - give up its EX (and then wait for
		 * good for a session that is gone) instead of showing the
		 * second EX holder. With the children watch the node must list
		 * before it demotes, which the expired session refuses. */
		zk_test_want_nodes_off = true;
	}
	c = node_mount(url, "child", (unsigned)atoi(getenv("PC_NODE_SESSION")), 1);
	CHECK_EQ(glock_get(c, 1, &child_ops, NULL, &g), 0);
	gholder_init(g, LM_ST_EXCLUSIVE, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	glock_dq(&h);
	say("ready");
	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "nq", 2)) {
			gholder_init(g, LM_ST_EXCLUSIVE, 0, &h);
			r = glock_nq(&h);
			say(r == 0 ? "ok" : r == -EIO ? "eio" : "error");
			if (!r)
				glock_dq(&h);
		} else if (!strncmp(line, "wait", 4)) {
			/* Until it rejoined: nq succeeds again. */
			for (;;) {
				gholder_init(g, LM_ST_EXCLUSIVE, 0, &h);
				r = glock_nq(&h);
				if (!r)
					break;
				usleep(20 * 1000); /* polling for the rejoin, not ordering */
			}
			glock_dq(&h);
			say("rejoined");
		} else if (!strncmp(line, "status", 6)) {
			say(cluster_status(c) ? "status-eio" : "status-ok");
		}
	}
	glock_put(g);
	cluster_unmount(c);
	glock_test_no_lease_margin = false; /* after the worker is gone */
	_exit(0);
}

struct child {
	pid_t pid;
	FILE *in, *out;
};

static void child_start(struct child *ch, const char *url, unsigned session_ms, bool no_lease)
{
	int to[2], from[2];
	char sess[16], line[64];

	CHECK(pipe(to) == 0 && pipe(from) == 0);
	snprintf(sess, sizeof(sess), "%u", session_ms);
	ch->pid = fork();
	CHECK(ch->pid >= 0);
	if (ch->pid == 0) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		close(to[1]);
		close(from[0]);
		setenv("PC_NODE_URL", url, 1);
		setenv("PC_NODE_SESSION", sess, 1);
		if (no_lease)
			setenv("PC_NODE_NO_LEASE", "1", 1);
		execl("/proc/self/exe", "test_glock_proc", "node_child", (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	ch->in = fdopen(to[1], "w");
	ch->out = fdopen(from[0], "r");
	setvbuf(ch->in, NULL, _IOLBF, 0);
	/* Its TAP lines come first: skip to "ready". */
	while (fgets(line, sizeof(line), ch->out))
		if (!strcmp(line, "ready\n"))
			return;
	CHECKF(0, "the child node did not start");
}

/* Sends @cmd; returns the first answer line that is not TAP or "sync";
 * counts "sync" lines in *syncs. */
static const char *child_ask(struct child *ch, const char *cmd, int *syncs)
{
	static char line[128];

	fprintf(ch->in, "%s\n", cmd);
	while (fgets(line, sizeof(line), ch->out)) {
		if (!strcmp(line, "sync\n")) {
			(*syncs)++;
			continue;
		}
		if (line[0] == '#' || !strncmp(line, "1..", 3) || !strncmp(line, "ok", 2) ||
		    !strncmp(line, "not ok", 6))
			if (strcmp(line, "ok\n"))
				continue;
		line[strcspn(line, "\n")] = 0;
		return line;
	}
	return "eof";
}

static void child_end(struct child *ch, bool kill9)
{
	int st;

	if (kill9)
		kill(ch->pid, SIGKILL);
	fclose(ch->in);
	fclose(ch->out);
	waitpid(ch->pid, &st, 0);
}

/* B asks for EX on glock 1; returns ms it waited. */
static uint64_t take_ex(struct cluster *B, struct glock **g, struct gholder *h)
{
	uint64_t t0 = ms_now();

	CHECK_EQ(glock_get(B, 1, NULL, NULL, g), 0);
	gholder_init(*g, LM_ST_EXCLUSIVE, 0, h);
	CHECK_EQ(glock_nq(h), 0);
	return ms_now() - t0;
}

TEST(sigkill_holder)
{
	char url[256];
	struct child ch;
	struct cluster *B;
	struct glock *g;
	struct gholder h;
	uint64_t waited;

	zk_root("kill", url, sizeof(url));
	child_start(&ch, url, 1500, false);
	child_end(&ch, true); /* dies holding EX (cached) */
	B = node_mount(url, "B", 4000, 1);
	waited = take_ex(B, &g, &h);
	printf(
	    "# the killed node's EX released by its session expiry after %llu ms (timeout 1500)\n",
	    (unsigned long long)waited);
	glock_dq(&h);
	glock_put(g);
	cluster_unmount(B);
}

static void sigstop_case(bool no_lease)
{
	char url[256];
	struct child ch;
	struct cluster *B;
	struct glock *g;
	struct gholder h;
	const char *a;
	int syncs = 0;
	uint64_t waited;

	zk_root(no_lease ? "stop-nolease" : "stop", url, sizeof(url));
	child_start(&ch, url, 1500, no_lease);
	CHECK(!strcmp(child_ask(&ch, "nq", &syncs), "ok"));
	kill(ch.pid, SIGSTOP);
	B = node_mount(url, "B", 4000, 1);
	waited = take_ex(B, &g, &h); /* granted once the stopped node's session expired */
	printf("# B got EX %llu ms after the child was stopped (its session timeout 1500 ms)\n",
	       (unsigned long long)waited);
	kill(ch.pid, SIGCONT);
	/* B holds EX now. The child asks for its EX again. */
	a = child_ask(&ch, "nq", &syncs);
	printf("# the continued child's nq: %s; go_sync runs after the stop: %d\n", a, syncs);
	if (no_lease) {
		/* The hazard: it believes its EX still holds while B holds EX. */
		CHECKF(!strcmp(a, "ok"), "without the lease margin the child answered %s", a);
		printf("# two EX holders: the stopped node and B (glock_test_no_lease_margin)\n");
		glock_dq(&h);
	} else {
		CHECKF(!strcmp(a, "eio"), "the child answered %s", a);
		CHECK_EQ(syncs, 0);
		glock_dq(&h);
		/* It rejoins with a new session and gets EX once B gives it up. */
		CHECK(!strcmp(child_ask(&ch, "wait", &syncs), "rejoined"));
		CHECK_EQ(syncs, 0);
	}
	glock_put(g);
	cluster_unmount(B);
	child_end(&ch, false);
}

TEST(sigstop_past_session)
{
	sigstop_case(false);
}

TEST(sigstop_no_lease_margin_shows_two_ex)
{
	sigstop_case(true);
}

/* ---- ZooKeeper restarted under load ---- */

struct loader {
	struct cluster *c;
	struct glock *g;
	int node;
	_Atomic bool *stop;
	_Atomic unsigned long grants;
	int errors;
};

static void *load(void *p)
{
	struct loader *l = p;

	while (!atomic_load(l->stop)) {
		struct gholder h;
		enum gl_state s = l->grants % 3 ? LM_ST_SHARED : LM_ST_EXCLUSIVE;
		int r;

		gholder_init(l->g, s, 0, &h);
		r = glock_nq(&h);
		if (r) {
			l->errors++;
			continue;
		}
		checker_grant(l->node, 0, s);
		checker_release(l->node, 0, s);
		glock_dq(&h);
		l->grants++;
	}
	return NULL;
}

/* The restart (SIGKILL, a JVM start, the first session) must fit in the
 * session, or the nodes rightly assume their sessions expired (the lease:
 * docs/cluster.md) and the case fails: 6.8 s measured at load 10 and 8.4 s
 * at load 14 (TSan build), past the 8 s this case had (one failure under
 * load: a node lost its session); test_cluster_faults allows 30 s too. */
#define RESTART_SESSION_MS 30000

TEST(zookeeper_restart)
{
	char url[256];
	struct cluster *n[2];
	struct loader l[2];
	pthread_t t[2];
	_Atomic bool stop = false;
	unsigned long before[2];
	uint64_t t_restart;
	int i;

	zk_root("restart", url, sizeof(url));
	checker_reset();
	for (i = 0; i < 2; i++) {
		n[i] = node_mount(url, i ? "R1" : "R0", RESTART_SESSION_MS, 1);
		l[i] = (struct loader){n[i], NULL, i, &stop, 0, 0};
		CHECK_EQ(glock_get(n[i], 9, NULL, NULL, &l[i].g), 0);
		pthread_create(&t[i], NULL, load, &l[i]);
	}
	while (l[0].grants < 20 || l[1].grants < 20)
		usleep(10 * 1000); /* waits for progress, not an ordering */
	t_restart = ms_now();
	CHECK_EQ(zk_fixture_restart(zk()), 0);
	printf("# ZooKeeper restarted in %llu ms (session %u ms)\n",
	       (unsigned long long)(ms_now() - t_restart), RESTART_SESSION_MS);
	before[0] = l[0].grants;
	before[1] = l[1].grants;
	while (l[0].grants < before[0] + 20 || l[1].grants < before[1] + 20)
		usleep(10 * 1000);
	atomic_store(&stop, true);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("# grants %lu / %lu, errors %d / %d, generations %llu / %llu, conflicts %lu\n",
	       atomic_load(&l[0].grants), atomic_load(&l[1].grants), l[0].errors, l[1].errors,
	       (unsigned long long)atomic_load(&n[0]->generation),
	       (unsigned long long)atomic_load(&n[1]->generation), checker_conflicts());
	for (i = 0; i < 2; i++) {
		CHECK_EQ(l[i].errors, 0);
		CHECK_EQ(atomic_load(&n[i]->generation), 0); /* the session survived */
		CHECK_EQ(cluster_status(n[i]), 0);
	}
	CHECK_EQ(checker_conflicts(), 0);
	for (i = 0; i < 2; i++) {
		glock_put(l[i].g);
		cluster_unmount(n[i]);
	}
}

/* ---- the lease margin: a silent server suspends the node's glocks ---- */

struct late_nq {
	struct glock *g;
	uint64_t done_ms;
	int ret;
};

static void *late_nq_thread(void *p)
{
	struct late_nq *a = p;
	struct gholder h;

	gholder_init(a->g, LM_ST_EXCLUSIVE, 0, &h);
	a->ret = glock_nq(&h);
	a->done_ms = ms_now();
	if (!a->ret)
		glock_dq(&h);
	return NULL;
}

static void server_silent_case(bool no_lease)
{
	char url[256];
	struct zk_fixture *f = zk();
	struct cluster *A;
	struct late_nq a = {0};
	struct gholder h;
	pthread_t t;
	uint64_t t_stop, t_cont;

	zk_root(no_lease ? "silent-nolease" : "silent", url, sizeof(url));
	glock_test_no_lease_margin = no_lease; /* before the worker starts */
	A = node_mount(url, "A", 6000, 1);
	CHECK_EQ(glock_get(A, 4, NULL, NULL, &a.g), 0);
	gholder_init(a.g, LM_ST_EXCLUSIVE, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	glock_dq(&h);
	/* The server goes silent for 4.5 s: past the lease margin (2/3 of the
	 * 6 s session timeout: 4 s after the last answered heartbeat, sent
	 * before the stop) and short of the session's expiry (the server last
	 * heard from the node at most T/6 = 1 s before the stop: 5 s after
	 * it). The stop is the fault injected; its length is the subject. */
	kill(f->pid, SIGSTOP);
	t_stop = ms_now();
	usleep(4200 * 1000);
	pthread_create(&t, NULL, late_nq_thread, &a);
	usleep(300 * 1000);
	kill(f->pid, SIGCONT);
	t_cont = ms_now();
	pthread_join(t, NULL);
	printf("# server stopped %llu ms; a cached EX nq at +4200 ms returned %d at +%llu ms\n",
	       (unsigned long long)(t_cont - t_stop), a.ret,
	       (unsigned long long)(a.done_ms - t_stop));
	CHECK_EQ(a.ret, 0);
	if (no_lease) {
		/* The hazard: it used its glock while it could not prove it
		 * still held it. */
		CHECK(a.done_ms < t_cont);
	} else {
		CHECK(a.done_ms >= t_cont);		  /* suspended until the server answered */
		CHECK_EQ(atomic_load(&A->generation), 0); /* same session: nothing lost */
		CHECK_EQ(cluster_status(A), 0);
	}
	glock_put(a.g);
	cluster_unmount(A);
	glock_test_no_lease_margin = false;
}

TEST(server_silent_suspends)
{
	server_silent_case(false);
}

TEST(server_silent_no_lease_margin_uses_glock)
{
	server_silent_case(true);
}

/* ---- a release whose delete was lost with the connection ---- */

/*
 * Node A releases a glock while the server is down: its delete of its lock
 * child fails with the connection. The session outlives the restart, so
 * the child stays - and blocks every other node's request - unless A
 * deletes it again once connected (zk_retry_strays): A no longer wants the
 * glock and never lists it again. Seen in test_cluster_faults
 * zookeeper_restart_under_load: two nodes each waited behind the other's
 * forgotten child. B's EX request after the restart must be granted.
 */
struct lost_waiter {
	struct glock *g;
	_Atomic int done, ret;
};

static void *lost_ex(void *p)
{
	struct lost_waiter *w = p;
	struct gholder h;

	gholder_init(w->g, LM_ST_EXCLUSIVE, 0, &h);
	w->ret = glock_nq(&h);
	if (!w->ret)
		glock_dq(&h);
	w->done = 1;
	return NULL;
}

static void lost_delete_run(void)
{
	char url[256];
	struct cluster *A, *B;
	struct glock *ga;
	struct gholder h;
	struct lost_waiter w = {0};
	pthread_t t;
	uint64_t t0;

	zk_root(zk_test_forget_failed_delete ? "lostdelh" : "lostdel", url, sizeof(url));
	A = node_mount(url, "LA", RESTART_SESSION_MS, 1);
	B = node_mount(url, "LB", RESTART_SESSION_MS, 1);
	CHECK_EQ(glock_get(A, 21, NULL, NULL, &ga), 0);
	gholder_init(ga, LM_ST_EXCLUSIVE, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	glock_dq(&h); /* EX cached on A */
	zk_fixture_stop(zk());
	glock_put(ga); /* the worker releases it: the delete fails */
	while (node_nglocks(A))
		usleep(1000); /* waits for the worker's release, not an ordering */
	t0 = ms_now();
	CHECK_EQ(zk_fixture_restart(zk()), 0);
	printf("# ZooKeeper restarted in %llu ms\n", (unsigned long long)(ms_now() - t0));
	CHECK_EQ(glock_get(B, 21, NULL, NULL, &w.g), 0);
	CHECK_EQ(pthread_create(&t, NULL, lost_ex, &w), 0);
	if (!zk_test_forget_failed_delete) {
		struct watched_wait ww;

		watched_wait_begin(&ww, "B's EX after A's release lost its delete", &w.done);
		while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE))
			watched_wait_step(&ww, 0);
		watched_wait_end(&ww);
	} else {
		/* The hazard: B waits behind A's forgotten child; 5 s of it
		 * shows it (A polls every few seconds at most), then A's
		 * unmount ends its session and the server deletes the child. */
		for (int i = 0; i < 5000 && !__atomic_load_n(&w.done, __ATOMIC_ACQUIRE); i++)
			usleep(1000);
		CHECKF(!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE),
		       "B was granted although A forgot its child: the hazard did not show");
		printf("# B still waits behind A's forgotten child after 5 s\n");
	}
	cluster_unmount(A);
	pthread_join(t, NULL);
	CHECK_EQ(w.ret, 0);
	glock_put(w.g);
	cluster_unmount(B);
}

TEST(zookeeper_restart_lost_delete)
{
	lost_delete_run();
}

TEST(zookeeper_restart_lost_delete_hazard)
{
	zk_test_forget_failed_delete = true;
	lost_delete_run();
	zk_test_forget_failed_delete = false;
}

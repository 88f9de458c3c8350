/* SPDX-License-Identifier: MIT */
/*
 * test_cross_fault.c - the cross-file fault deadlock across nodes (docs/cluster.md, "The restart
 * protocol"): node A reads F1 into its MAP_SHARED view of F2 while node B
 * reads F2 into its view of F1, buffered and O_DIRECT. Each read holds the
 * glock of the file it reads (SH or DF) across the copy, and the copy faults
 * on the other file's view, whose glock (EX: the store dirties the page) the
 * other node holds or wants: without the restart protocol the two nodes wait
 * for each other forever. With it, the fault fails with the restart flag,
 * the read drops its glock, faults the view in with no glock held and
 * retries. Every result is checked (both files hold the same bytes, so every
 * read must leave the view equal to them).
 *
 * The hazard: cluster_test_no_restart makes the fault wait for the glock
 * while the read holds one; the nodes then hang, each one's watchdog sees
 * it and aborts (in a child: expect_child_abort's pattern).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster/node_fixture.h"
#include "fs/cluster.h"
#include "harness.h"
#include "kernel/task.h"
#include "kernel/watchdog.h"
#include "pagecache.h"

#define LEN (64u << 10)

struct s2 {
	const char *dir, *url;
	int node; /* 0: A reads F1 into F2's view; 1: B the other way */
	bool dio; /* O_DIRECT reads */
	unsigned iters;
	bool watch;	     /* the hazard run: watchdog on */
	int ready, go, go_w; /* pipes: both nodes start their loops together */
};

static void pattern(unsigned char *p)
{
	for (unsigned i = 0; i < LEN; i++)
		p[i] = (unsigned char)(1 + (i * 7 + i / 4096) % 251);
}

static int node_fn(void *arg)
{
	const struct s2 *s = arg;
	struct pc_options o = PC_OPTIONS_INIT;
	struct pc_engine *e;
	const char *src = s->node ? "f2" : "f1", *dst = s->node ? "f1" : "f2";
	unsigned char *want = malloc(LEN);
	char name[16];
	int err, fd, vfd;

	close(s->go_w); /* the parent's: EOF on go when it closes its own */
	unsigned char *view;

	snprintf(name, sizeof(name), "node%c", 'A' + s->node);
	o.store_dir = s->dir;
	o.cluster = s->url;
	o.cluster_node = name;
	o.cluster_min_hold_ms = 1; /* 10k rounds of ping-pong: keep them short */
	err = pc_engine_open(&o, &e);
	if (err) {
		fprintf(stderr, "%s: engine: %s (%s)\n", name, strerror(-err), pc_cluster_error());
		return 1;
	}
	pattern(want);
	fd = pc_open(e, src, O_RDONLY | (s->dio ? O_DIRECT : 0), 0);
	vfd = pc_open(e, dst, O_RDWR, 0);
	if (fd < 0 || vfd < 0)
		return 1;
	view = pc_mmap(e, vfd, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, 0, &err);
	if (!view) {
		fprintf(stderr, "%s: mmap: %s\n", name, strerror(-err));
		return err == -ENODEV ? 77 : 1;
	}
	/* both set up (sessions open): start together */
	char c = 0;
	if (write(s->ready, &c, 1) != 1 || read(s->go, &c, 1) != 0)
		return 1;
	if (s->watch) {
		cluster_test_no_restart = true;
		watchdog_start(3000, NULL);
		task_set_watched(true);
	}
	for (unsigned i = 0; i < s->iters; i++) {
		ssize_t n = pc_pread(e, fd, view, LEN, 0);
		if (n != (ssize_t)LEN) {
			fprintf(stderr, "%s: iteration %u: read %zd\n", name, i, n);
			return 1;
		}
		if (memcmp(view, want, LEN)) {
			fprintf(stderr, "%s: iteration %u: the view differs\n", name, i);
			return 1;
		}
	}
	printf("# node %c: %" PRIu64 " restarts (a fault refused for a glock held)\n",
	       'A' + s->node, current->stats.fault_retries);
	fflush(stdout);
	pc_munmap(e, view, LEN);
	pc_close(e, fd);
	pc_close(e, vfd);
	free(want);
	return pc_engine_close(e) ? 1 : 0;
}

static void prepare(const char *dir)
{
	unsigned char *p = malloc(LEN);
	char path[700];

	pattern(p);
	for (int f = 1; f <= 2; f++) {
		snprintf(path, sizeof(path), "%s/f%d", dir, f);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		CHECK(fd >= 0);
		CHECK_EQ(write(fd, p, LEN), LEN);
		close(fd);
	}
	free(p);
}

/* Runs A and B; returns how many of them exited 0 (77: no userfaultfd). */
static int run_pair(const char *url, bool dio, unsigned iters, bool watch, int *status)
{
	char store[600], logs[600];
	struct s2 a[2];
	pid_t pid[2];
	int ok = 0, ready[2], go[2];
	char c;

	nf_fresh(store, sizeof(store), logs, sizeof(logs));
	prepare(store);
	CHECK(pipe(ready) == 0 && pipe(go) == 0);
	for (int i = 0; i < 2; i++) {
		a[i] = (struct s2){store, url, i, dio, iters, watch, ready[1], go[0], go[1]};
		pid[i] = nf_spawn(node_fn, &a[i]);
	}
	close(ready[1]);
	close(go[0]);
	for (int i = 0; i < 2; i++)
		if (read(ready[0], &c, 1) != 1)
			break; /* a node ended early: its status tells */
	close(go[1]);	       /* go */
	close(ready[0]);
	for (int i = 0; i < 2; i++) {
		status[i] = nf_wait(pid[i]);
		if (status[i] == 128 + SIGABRT && watch) {
			/* one hung and was reported: the other is stuck with it */
			kill(pid[!i], SIGKILL);
		}
		ok += status[i] == 0;
	}
	return ok;
}

static void both(bool dio)
{
	const char *url = nf_cluster_url();
	unsigned iters = (unsigned)test_scale(10000, 20);
	int st[2];

	if (run_pair(url, dio, iters, false, st) != 2) {
		if (st[0] == 77 || st[1] == 77)
			test_skip("userfaultfd is missing");
		CHECKF(0, "node A exit %d, node B exit %d", st[0], st[1]);
	}
	printf("# %u iterations on each node (%s), every view checked\n", iters,
	       dio ? "O_DIRECT" : "buffered");
}

TEST(cross_read_buffered)
{
	both(false);
}

TEST(cross_read_direct)
{
	both(true);
}

/* The hazard: faults wait for their glock while the read holds one. */
static void no_restart_child(bool dio)
{
	const char *url = nf_cluster_url();
	int st[2];

	run_pair(url, dio, 10000, true, st);
	printf("# without the restart signal: node A %d, node B %d (134: the watchdog's "
	       "abort)\n",
	       st[0], st[1]);
	fflush(stdout);
	if (st[0] == 128 + SIGABRT || st[1] == 128 + SIGABRT)
		abort(); /* the hang was detected */
	_exit(0);	 /* it did not show */
}

static void hazard(bool dio)
{
	pid_t pid;
	int status;

	nf_cluster_url(); /* start ZooKeeper here, outside the child */
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		alarm(120);
		no_restart_child(dio);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
	       "child: exited %d / signal %d (the hang was not detected)",
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1,
	       WIFSIGNALED(status) ? WTERMSIG(status) : -1);
}

TEST(no_restart_hangs_buffered)
{
	hazard(false);
}

TEST(no_restart_hangs_direct)
{
	hazard(true);
}

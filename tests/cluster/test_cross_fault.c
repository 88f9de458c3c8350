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

#include "api/engine.h"
#include "cluster/lock_module.h"
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
	bool nopin;	     /* cluster_test_restart_no_pin */
	int result;	     /* pipe: the node's struct s2_result */
};

/* What a node saw: its reads' restart rounds (current->stats.glock_restarts). */
struct s2_result {
	uint64_t restarts, max_per_read;
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
	cluster_test_restart_no_pin = s->nopin;
	struct s2_result res = {0, 0};
	for (unsigned i = 0; i < s->iters; i++) {
		uint64_t r0 = current->stats.glock_restarts;
		ssize_t n = pc_pread(e, fd, view, LEN, 0);

		r0 = current->stats.glock_restarts - r0;
		res.restarts += r0;
		if (r0 > res.max_per_read)
			res.max_per_read = r0;
		if (n != (ssize_t)LEN) {
			fprintf(stderr, "%s: iteration %u: read %zd\n", name, i, n);
			return 1;
		}
		if (memcmp(view, want, LEN)) {
			fprintf(stderr, "%s: iteration %u: the view differs\n", name, i);
			return 1;
		}
		/* The hazard case stops at the first read that went round twice:
		 * the ping-pong goes on for hundreds of rounds per read once it
		 * starts, faster the quicker a glock moves between nodes. */
		if (s->nopin && res.max_per_read > 1)
			break;
	}
	{
		struct glock_stats *gs = &e->cluster->stats;

		printf("# node %c: %" PRIu64 " reads restarted (at most %" PRIu64
		       " times in one read), %" PRIu64 " faults refused for a glock held; "
		       "glocks from the service %" PRIu64 ", demotes %" PRIu64
		       ", lock service requests %" PRIu64 "\n",
		       'A' + s->node, res.restarts, res.max_per_read, current->stats.fault_retries,
		       (uint64_t)gs->nq_remote, (uint64_t)gs->demotes, (uint64_t)gs->lm_requests);
	}
	if (write(s->result, &res, sizeof(res)) != sizeof(res))
		return 1;
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

/* Runs A and B; returns how many of them exited 0 (77: no userfaultfd);
 * @res (may be NULL): what each node reported. */
static int run_pair(const char *url, bool dio, unsigned iters, bool watch, bool nopin, int *status,
		    struct s2_result *res)
{
	char store[600], logs[600];
	struct s2 a[2];
	pid_t pid[2];
	int ok = 0, ready[2], go[2], result[2];
	char c;

	nf_fresh(store, sizeof(store), logs, sizeof(logs));
	prepare(store);
	CHECK(pipe(ready) == 0 && pipe(go) == 0 && pipe(result) == 0);
	for (int i = 0; i < 2; i++) {
		a[i] = (struct s2){store,    url,   i,	   dio,	  iters,    watch,
				   ready[1], go[0], go[1], nopin, result[1]};
		pid[i] = nf_spawn(node_fn, &a[i]);
	}
	close(ready[1]);
	close(go[0]);
	close(result[1]);
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
	for (int i = 0; i < 2 && res; i++) {
		/* (in the order the nodes wrote them: only their sum and max are used) */
		if (read(result[0], &res[i], sizeof(res[i])) != sizeof(res[i]))
			res[i] = (struct s2_result){0, 0};
	}
	close(result[0]);
	return ok;
}

/*
 * Each read restarts at most once: the second round holds the view's
 * glock with its own (fs/cluster.h glock_read_rounds), so nothing can take
 * the faulted-in view back before the copy.
 */
static void both(bool dio)
{
	const char *url = nf_cluster_url();
	unsigned iters = (unsigned)test_scale(10000, 20);
	struct s2_result res[2];
	int st[2];

	if (run_pair(url, dio, iters, false, false, st, res) != 2) {
		if (st[0] == 77 || st[1] == 77)
			test_skip("userfaultfd is missing");
		CHECKF(0, "node A exit %d, node B exit %d", st[0], st[1]);
	}
	printf("# %u iterations on each node (%s), every view checked; %" PRIu64
	       " reads restarted, none more than %" PRIu64 " time(s)\n",
	       iters, dio ? "O_DIRECT" : "buffered", res[0].restarts + res[1].restarts,
	       res[0].max_per_read > res[1].max_per_read ? res[0].max_per_read
							 : res[1].max_per_read);
	CHECK(res[0].max_per_read <= 1 && res[1].max_per_read <= 1);
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

	run_pair(url, dio, 10000, true, false, st, NULL);
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

/*
 * The hazard of the restart's second glock: with cluster_test_restart_no_pin
 * a restarted read faults the view in with no glock held and takes its own
 * glock alone; the other node, reading the other way, takes the view's
 * glock back in between (a ping-pong): some read restarts more than once.
 */
TEST(restart_no_pin_pingpong)
{
	const char *url = nf_cluster_url();
	unsigned iters = (unsigned)test_scale(2000, 4);
	struct s2_result res[2];
	int st[2];

	if (run_pair(url, true, iters, false, true, st, res) != 2) {
		if (st[0] == 77 || st[1] == 77)
			test_skip("userfaultfd is missing");
		CHECKF(0, "node A exit %d, node B exit %d", st[0], st[1]);
	}
	printf("# without the second glock: %" PRIu64 " reads restarted in at most 2 x %u (a node"
	       " stops at its first read restarted twice), up to %" PRIu64 " times in one read\n",
	       res[0].restarts + res[1].restarts, iters,
	       res[0].max_per_read > res[1].max_per_read ? res[0].max_per_read
							 : res[1].max_per_read);
	CHECK(res[0].max_per_read > 1 || res[1].max_per_read > 1);
}

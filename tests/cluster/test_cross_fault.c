/* SPDX-License-Identifier: MIT */
/*
 * test_cross_fault.c - the cross-file fault deadlock across nodes (docs/cluster.md, "The restart
 * protocol"): node A reads F1 into its MAP_SHARED view of F2 while node B
 * reads F2 into its view of F1, buffered and O_DIRECT. Each read holds the
 * glock of the file it reads (SH or DF) across the copy, and the copy faults
 * on the other file's view, whose glock (EX: the store dirties the page) the
 * other node holds or wants: without the restart protocol the two nodes wait
 * for each other forever. With it, the fault fails with the restart flag,
 * the read drops its glock and takes it again together with the view's
 * (number order), and the fault fills under that. Every result is checked
 * (both files hold the same bytes, so every read must leave the view equal
 * to them), and no read restarts more than once.
 *
 * The writes the other way round: node A writes F1 from its view of F2
 * while node B writes F2 from its view of F1 (each write holds EX, or DF
 * for O_DIRECT, of the file it writes; the copy's loads fault on the other
 * file's view, SH, which the other node's write holds EX or DF). Every
 * write must write it all, restarting at most once, and after the run both
 * files on the store still hold the pattern. And I/O to or from a view of
 * the file itself (own_view).
 *
 * The hazards: cluster_test_no_restart makes the fault wait for the glock
 * while the read holds one; the nodes then hang, each one's watchdog sees
 * it and aborts (in a child: expect_child_abort's pattern).
 * cluster_test_restart_no_pin: reads and writes ping-pong (restart_no_pin_*);
 * cluster_test_restart_no_own: an O_DIRECT write from a view of its own file
 * restarts without end (restart_no_own_loops).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
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
	int node;   /* 0: A reads F1 into F2's view; 1: B the other way */
	bool dio;   /* O_DIRECT reads (writes) */
	bool write; /* A writes F1 from its view of F2, B the other way */
	unsigned iters;
	bool watch;	     /* the hazard run: watchdog on */
	int ready, go, go_w; /* pipes: both nodes start their loops together */
	bool nopin;	     /* cluster_test_restart_no_pin */
	int result;	     /* pipe: the node's struct s2_result */
};

/* What a node saw: its reads' (writes') restart rounds
 * (current->stats.glock_restarts). */
struct s2_result {
	uint64_t restarts, max_per_io;
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
	fd = pc_open(e, src, (s->write ? O_WRONLY : O_RDONLY) | (s->dio ? O_DIRECT : 0), 0);
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
		ssize_t n =
		    s->write ? pc_pwrite(e, fd, view, LEN, 0) : pc_pread(e, fd, view, LEN, 0);

		r0 = current->stats.glock_restarts - r0;
		res.restarts += r0;
		if (r0 > res.max_per_io)
			res.max_per_io = r0;
		if (n != (ssize_t)LEN) {
			fprintf(stderr, "%s: iteration %u: %s %zd\n", name, i,
				s->write ? "wrote" : "read", n);
			return 1;
		}
		if (memcmp(view, want, LEN)) {
			fprintf(stderr, "%s: iteration %u: the view differs\n", name, i);
			return 1;
		}
		/* The hazard case stops at the first I/O that went round twice:
		 * the ping-pong goes on for hundreds of rounds per read once it
		 * starts, faster the quicker a glock moves between nodes. */
		if (s->nopin && res.max_per_io > 1)
			break;
	}
	{
		struct glock_stats *gs = &e->cluster->stats;

		const char *io = s->write ? "write" : "read";

		printf("# node %c: %" PRIu64 " %ss restarted (at most %" PRIu64
		       " times in one %s), %" PRIu64 " faults refused for a glock held; "
		       "glocks from the service %" PRIu64 ", demotes %" PRIu64
		       ", lock service requests %" PRIu64 "\n",
		       'A' + s->node, res.restarts, io, res.max_per_io, io,
		       current->stats.fault_retries, (uint64_t)gs->nq_remote, (uint64_t)gs->demotes,
		       (uint64_t)gs->lm_requests);
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
static int run_pair(const char *url, bool dio, bool write, unsigned iters, bool watch, bool nopin,
		    int *status, struct s2_result *res)
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
		a[i] = (struct s2){.dir = store,
				   .url = url,
				   .node = i,
				   .dio = dio,
				   .write = write,
				   .iters = iters,
				   .watch = watch,
				   .ready = ready[1],
				   .go = go[0],
				   .go_w = go[1],
				   .nopin = nopin,
				   .result = result[1]};
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
	if (write && ok == 2) {
		/* every write copied the pattern: the store holds nothing else */
		unsigned char *want = malloc(LEN), *got = malloc(LEN + 1);
		char path[700];

		pattern(want);
		for (int f = 1; f <= 2; f++) {
			snprintf(path, sizeof(path), "%s/f%d", store, f);
			int fd = open(path, O_RDONLY);

			CHECK(fd >= 0);
			CHECK_EQ(pread(fd, got, LEN + 1, 0), LEN);
			CHECKF(!memcmp(got, want, LEN), "f%d on the store differs from the pattern",
			       f);
			close(fd);
		}
		free(want);
		free(got);
	}
	return ok;
}

/*
 * Each read (write) restarts at most once: the second round holds the
 * view's glock with its own (fs/cluster.h glock_io_rounds), so nothing can
 * take the faulted-in view back before the copy.
 */
static void both(bool dio, bool write)
{
	const char *url = nf_cluster_url();
	/* (the writes: fewer; their O_DIRECT case moves about as many glocks
	 * per iteration as the reads', and the pair of them doubled the
	 * file's time) */
	unsigned iters = (unsigned)(write ? test_scale(2500, 5) : test_scale(10000, 20));
	struct s2_result res[2];
	int st[2];

	if (run_pair(url, dio, write, iters, false, false, st, res) != 2) {
		if (st[0] == 77 || st[1] == 77)
			test_skip("userfaultfd is missing");
		CHECKF(0, "node A exit %d, node B exit %d", st[0], st[1]);
	}
	printf("# %u iterations on each node (%s %ss), every view checked%s; %" PRIu64
	       " %ss restarted, none more than %" PRIu64 " time(s)\n",
	       iters, dio ? "O_DIRECT" : "buffered", write ? "write" : "read",
	       write ? ", the store after" : "", res[0].restarts + res[1].restarts,
	       write ? "write" : "read",
	       res[0].max_per_io > res[1].max_per_io ? res[0].max_per_io : res[1].max_per_io);
	CHECK(res[0].max_per_io <= 1 && res[1].max_per_io <= 1);
}

TEST(cross_read_buffered)
{
	both(false, false);
}

TEST(cross_read_direct)
{
	both(true, false);
}

/* The same for writes (fs/cluster.h glock_io_rounds): the second round
 * holds the source view's glock (SH) with the file's EX or DF. */
TEST(cross_write_buffered)
{
	both(false, true);
}

TEST(cross_write_direct)
{
	both(true, true);
}

/* The hazard: faults wait for their glock while the read holds one. */
static void no_restart_child(bool dio)
{
	const char *url = nf_cluster_url();
	int st[2];

	run_pair(url, dio, false, 10000, true, false, st, NULL);
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
	pid = test_fork();
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
 * a restarted read (write) faults the view in with no glock held and takes
 * its own glock alone; the other node, reading (writing) the other way,
 * takes the view's glock back in between (a ping-pong): some I/O restarts
 * more than once.
 */
static void no_pin(bool dio, bool write)
{
	const char *url = nf_cluster_url();
	unsigned iters = (unsigned)test_scale(2000, 4);
	struct s2_result res[2];
	int st[2];

	if (run_pair(url, dio, write, iters, false, true, st, res) != 2) {
		if (st[0] == 77 || st[1] == 77)
			test_skip("userfaultfd is missing");
		CHECKF(0, "node A exit %d, node B exit %d", st[0], st[1]);
	}
	printf("# without the second glock: %" PRIu64 " %ss restarted in at most 2 x %u (a node"
	       " stops at its first %s restarted twice), up to %" PRIu64 " times in one %s\n",
	       res[0].restarts + res[1].restarts, write ? "write" : "read", iters,
	       write ? "write" : "read",
	       res[0].max_per_io > res[1].max_per_io ? res[0].max_per_io : res[1].max_per_io,
	       write ? "write" : "read");
	CHECK(res[0].max_per_io > 1 || res[1].max_per_io > 1);
}

TEST(restart_no_pin_pingpong)
{
	no_pin(true, false);
}

TEST(restart_no_pin_pingpong_write)
{
	no_pin(true, true);
}

TEST(restart_no_pin_pingpong_write_buffered)
{
	no_pin(false, true);
}

/*
 * A view of the file the I/O itself reads or writes needs no second glock
 * (fs/cluster.h glock_io_rounds): one node writes the second half of F
 * from its view of the first half, and reads the first half into its view
 * of the second, buffered and O_DIRECT. A buffered write's EX covers the
 * SH of its source's loads (the fault fills under it); where the round's
 * state does not cover the fault's (DF; SH under a store) the next round
 * takes EX. Each I/O restarts at most once. With
 * cluster_test_restart_no_own the restart faults in with no glock and takes
 * DF again, whose demote drops what the fault-in brought: the O_DIRECT I/O
 * never ends (a watcher thread ends the node once one I/O has seen more
 * than OWN_MAX_DEMOTES demotes: the cluster's own count).
 */
#define OWN_MAX_DEMOTES 50

struct own {
	const char *dir, *url;
	bool nohazard; /* the protocol on: every I/O checked */
};

static _Atomic uint64_t own_base; /* the demotes before the I/O in progress */
static _Atomic int own_what;	  /* which I/O: 2 x O_DIRECT + write */

static void *own_watch(void *arg)
{
	struct glock_stats *gs = arg;

	for (;;) {
		uint64_t n = atomic_load(&gs->demotes) - atomic_load(&own_base);

		if (n > OWN_MAX_DEMOTES) {
			int w = atomic_load(&own_what);

			printf("# one I/O (%s %s) saw %" PRIu64 " demotes of its file: stopped\n",
			       w & 2 ? "O_DIRECT" : "buffered", w & 1 ? "write" : "read", n);
			fflush(stdout);
			_exit(3);
		}
		usleep(1000); /* polling a counter; no order between threads rests on it */
	}
	return NULL;
}

static int own_fn(void *arg)
{
	const struct own *s = arg;
	struct pc_options o = PC_OPTIONS_INIT;
	struct pc_engine *e;
	unsigned char *want = malloc(LEN), *view;
	unsigned iters = (unsigned)test_scale(100, 5);
	uint64_t restarts = 0, max = 0;
	pthread_t th;
	int err, fd[2], vfd;

	o.store_dir = s->dir;
	o.cluster = s->url;
	o.cluster_node = "nodeA";
	o.cluster_min_hold_ms = 1;
	err = pc_engine_open(&o, &e);
	if (err) {
		fprintf(stderr, "engine: %s (%s)\n", strerror(-err), pc_cluster_error());
		return 1;
	}
	pattern(want);
	fd[0] = pc_open(e, "f1", O_RDWR, 0);
	fd[1] = pc_open(e, "f1", O_RDWR | O_DIRECT, 0);
	vfd = pc_open(e, "f1", O_RDWR, 0);
	if (fd[0] < 0 || fd[1] < 0 || vfd < 0)
		return 1;
	view = pc_mmap(e, vfd, 2 * LEN, PROT_READ | PROT_WRITE, MAP_SHARED, 0, &err);
	if (!view) {
		fprintf(stderr, "mmap: %s\n", strerror(-err));
		return err == -ENODEV ? 77 : 1;
	}
	if (!s->nohazard) {
		cluster_test_restart_no_own = true;
		atomic_store(&own_base, atomic_load(&e->cluster->stats.demotes));
		if (pthread_create(&th, NULL, own_watch, &e->cluster->stats))
			return 1;
	}
	for (unsigned i = 0; i < iters; i++) {
		for (int d = 0; d < 2; d++) {
			for (int w = 1; w >= 0; w--) { /* the write first */
				uint64_t r0 = current->stats.glock_restarts;

				atomic_store(&own_base, atomic_load(&e->cluster->stats.demotes));
				atomic_store(&own_what, 2 * d + w);
				/* write: [LEN, 2 LEN) from the view of [0, LEN); read: the
				 * other way */
				ssize_t n = w ? pc_pwrite(e, fd[d], view, LEN, LEN)
					      : pc_pread(e, fd[d], view + LEN, LEN, 0);

				r0 = current->stats.glock_restarts - r0;
				restarts += r0;
				max = r0 > max ? r0 : max;
				if (n != (ssize_t)LEN) {
					fprintf(stderr, "iteration %u: %s %s %zd\n", i,
						d ? "O_DIRECT" : "buffered", w ? "write" : "read",
						n);
					return 1;
				}
				if (memcmp(view, want, LEN) || memcmp(view + LEN, want, LEN)) {
					fprintf(stderr, "iteration %u: the view differs\n", i);
					return 1;
				}
			}
		}
	}
	printf("# %u iterations of buffered and O_DIRECT reads into and writes from a view of "
	       "the same file: %" PRIu64 " I/Os restarted, at most %" PRIu64 " times in one\n",
	       iters, restarts, max);
	fflush(stdout);
	pc_munmap(e, view, 2 * LEN);
	pc_close(e, fd[0]);
	pc_close(e, fd[1]);
	pc_close(e, vfd);
	free(want);
	if (pc_engine_close(e))
		return 1;
	return max <= 1 ? 0 : 2;
}

static int own_run(bool nohazard)
{
	struct own s = {.url = nf_cluster_url(), .nohazard = nohazard};
	unsigned char *p = malloc(LEN);
	char store[600], logs[600], path[700];
	int fd, st;

	nf_fresh(store, sizeof(store), logs, sizeof(logs));
	s.dir = store;
	pattern(p);
	snprintf(path, sizeof(path), "%s/f1", store);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, p, LEN), LEN);
	CHECK_EQ(pwrite(fd, p, LEN, LEN), LEN);
	close(fd);
	free(p);
	st = nf_wait_for(nf_spawn(own_fn, &s), "own_view", 120000);
	if (st == 77)
		test_skip("userfaultfd is missing");
	return st;
}

TEST(own_view)
{
	int st = own_run(true);

	CHECKF(st == 0, "node exit %d (2: an I/O restarted more than once)", st);
}

TEST(restart_no_own_loops)
{
	int st = own_run(false);

	CHECKF(st == 3, "node exit %d (3: one I/O saw more than %u demotes)", st, OWN_MAX_DEMOTES);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_osync_rounds.c - an O_SYNC/O_DSYNC (RWF_DSYNC) write that ran in
 * several glock rounds syncs every round's bytes (docs/cluster.md, "The
 * restart protocol"; fs/cluster.h glock_io_rounds, fs/file.c
 * generic_write_sync).
 *
 * Node A appends to F1 (O_APPEND and O_SYNC, O_DSYNC, RWF_DSYNC, or
 * O_DIRECT|O_DSYNC: the extending direct write's EX rounds, write_step)
 * from a buffer of its own followed by its view of F2, whose glock node B
 * holds EX (B wrote F2): the copy faults on the view with F1's glock held, the fault is refused,
 * and the write restarts after its first round wrote the buffer. Between the rounds (the
 * sched_race_window "glock_io_rounds: between rounds", a hook in A's writing thread) B appends to
 * F1, which demotes A's EX, and only then does A's second round run: it appends the view's bytes
 * past B's. So A's two rounds are not next to each other, and ki_pos - done is not where the first
 * began.
 *
 * A's store hook records the ranges its store syncs are asked for
 * (store_sync_range: the injection hook's pos/len); both rounds' bytes
 * must be covered, the file must hold x | A's round 1 | B | A's round 2,
 * and the write must return all its bytes. The hazard:
 * cluster_test_sync_last_round_only syncs [ki_pos - done, ki_pos): the
 * range misses the first round's bytes (their data reached the store with
 * the demote's go_sync, and fdatasync covers the whole file in both
 * stores today, so nothing is lost yet; the range is what the write asks
 * to be durable, and a store that syncs ranges would lose them).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "api/engine_internal.h"
#include "cluster/node_fixture.h"
#include "fs/cluster.h"
#include "harness.h"
#include "kernel/sched.h"
#include "kernel/task.h"
#include "pagecache.h"
#include "store/store.h"

#define HEAD  4096u /* F1's bytes before the test: 'x' */
#define ROUND 8192u /* each of A's rounds: its buffer ('A'), then F2's view ('s') */
#define BAPP  4096u /* B's append between the rounds: 'B' */
#define NSYNC 16

enum variant { V_OSYNC, V_ODSYNC, V_RWF_DSYNC, V_DIO_DSYNC };

struct run {
	const char *dir, *url;
	enum variant v;
	bool hazard;
	int ready[2], to_b[2], to_a[2], done[2], result[2];
};

struct result {
	ssize_t n;
	int fired;
	uint64_t restarts;
	int nsync;
	int64_t sync_pos[NSYNC], sync_len[NSYNC];
};

static struct node_env {
	struct run *r;
	pthread_t writer;
	int armed, fired;
	int nsync;
	int64_t pos[NSYNC], len[NSYNC];
} env;

static struct pc_engine *open_node(const struct run *r, const char *name)
{
	struct pc_options o = PC_OPTIONS_INIT;
	struct pc_engine *e;
	int err;

	o.store_dir = r->dir;
	o.cluster = r->url;
	o.cluster_node = name;
	o.cluster_min_hold_ms = 1;
	err = pc_engine_open(&o, &e);
	if (err) {
		fprintf(stderr, "%s: engine: %s (%s)\n", name, strerror(-err), pc_cluster_error());
		return NULL;
	}
	return e;
}

/* B: holds F2 EX (dirty), appends to F1 when A's write is between rounds. */
static int node_b(void *arg)
{
	struct run *r = arg;
	struct pc_engine *e = open_node(r, "nodeB");
	unsigned char *p = malloc(ROUND);
	char c = 0;
	int f1, f2;

	close(r->done[1]);
	if (!e || !p)
		return 1;
	f2 = pc_open(e, "f2", O_RDWR, 0);
	f1 = pc_open(e, "f1", O_WRONLY | O_APPEND, 0);
	if (f1 < 0 || f2 < 0)
		return 1;
	memset(p, 's', ROUND);
	if (pc_pwrite(e, f2, p, ROUND, 0) != (ssize_t)ROUND)
		return 1;
	if (write(r->ready[1], &c, 1) != 1 || read(r->to_b[0], &c, 1) != 1)
		return 1;
	memset(p, 'B', BAPP);
	if (pc_write(e, f1, p, BAPP) != (ssize_t)BAPP) {
		fprintf(stderr, "nodeB: append failed\n");
		return 1;
	}
	if (write(r->to_a[1], &c, 1) != 1)
		return 1;
	(void)!read(r->done[0], &c, 1); /* EOF: A is done (B answers its demotes) */
	pc_close(e, f1);
	pc_close(e, f2);
	free(p);
	return pc_engine_close(e) ? 1 : 0;
}

/* In A's writing thread, once, with no glock held: B appends now. */
static void between_rounds(enum sched_event ev, const void *obj, const char *what)
{
	char c = 0;

	(void)obj;
	if (ev != SP_RACE || !what || strcmp(what, "glock_io_rounds: between rounds") ||
	    !__atomic_load_n(&env.armed, __ATOMIC_ACQUIRE) ||
	    !pthread_equal(pthread_self(), env.writer) || env.fired)
		return;
	env.fired = 1;
	if (write(env.r->to_b[1], &c, 1) != 1 || read(env.r->to_a[0], &c, 1) != 1)
		abort();
}

static int record_sync(void *arg, enum store_op op, struct store_inode *si, int64_t pos,
		       int64_t len)
{
	(void)arg;
	if (op == STORE_OP_SYNC && si && __atomic_load_n(&env.armed, __ATOMIC_ACQUIRE)) {
		int i = __atomic_fetch_add(&env.nsync, 1, __ATOMIC_RELAXED);

		if (i < NSYNC) {
			env.pos[i] = pos;
			env.len[i] = len;
		}
	}
	return 0;
}

static int node_a(void *arg)
{
	struct run *r = arg;
	struct pc_engine *e = open_node(r, "nodeA");
	struct result res = {0};
	unsigned char *buf = aligned_alloc(4096, ROUND), *view;
	int flags = O_WRONLY | O_APPEND, rwf = 0, f1, f2, err;
	char c;

	if (!e || !buf)
		return 1;
	if (r->v == V_OSYNC)
		flags |= O_SYNC;
	else if (r->v == V_ODSYNC)
		flags |= O_DSYNC;
	else if (r->v == V_DIO_DSYNC)
		flags |= O_DSYNC | O_DIRECT;
	else
		rwf = RWF_DSYNC;
	f1 = pc_open(e, "f1", flags, 0);
	f2 = pc_open(e, "f2", O_RDONLY, 0);
	if (f1 < 0 || f2 < 0)
		return 1;
	view = pc_mmap(e, f2, ROUND, PROT_READ, MAP_SHARED, 0, &err);
	if (!view) {
		fprintf(stderr, "nodeA: mmap: %s\n", strerror(-err));
		return err == -ENODEV ? 77 : 1;
	}
	memset(buf, 'A', ROUND);
	if (read(r->ready[0], &c, 1) != 1) /* B holds F2 EX */
		return 1;
	env.r = r;
	env.writer = pthread_self();
	store_inject_hook(pc_engine_store(e), record_sync, NULL);
	sched_set_hook(between_rounds);
	cluster_test_sync_last_round_only = r->hazard;

	struct iovec iov[2] = {{buf, ROUND}, {view, ROUND}};
	uint64_t r0 = current->stats.glock_restarts;

	__atomic_store_n(&env.armed, 1, __ATOMIC_RELEASE);
	res.n = pc_pwritev2(e, f1, iov, 2, -1, rwf);
	__atomic_store_n(&env.armed, 0, __ATOMIC_RELEASE);
	res.restarts = current->stats.glock_restarts - r0;
	sched_set_hook(NULL);
	store_inject_hook(pc_engine_store(e), NULL, NULL);
	res.fired = env.fired;
	res.nsync = env.nsync < NSYNC ? env.nsync : NSYNC;
	memcpy(res.sync_pos, env.pos, sizeof(env.pos));
	memcpy(res.sync_len, env.len, sizeof(env.len));
	if (write(r->result[1], &res, sizeof(res)) != sizeof(res))
		return 1;
	pc_munmap(e, view, ROUND);
	pc_close(e, f1);
	pc_close(e, f2);
	free(buf);
	return pc_engine_close(e) ? 1 : 0;
}

static void host_file(const char *dir, const char *name, int ch, size_t len)
{
	unsigned char *p = malloc(len);
	char path[700];
	int fd;

	memset(p, ch, len);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, p, len), (ssize_t)len);
	close(fd);
	free(p);
}

/* Whether the recorded sync ranges cover [start, end) (each alone: the
 * write's one sync must). */
static bool covered(const struct result *res, int64_t start, int64_t end)
{
	for (int i = 0; i < res->nsync; i++)
		if (res->sync_pos[i] <= start && res->sync_pos[i] + res->sync_len[i] >= end)
			return true;
	return false;
}

static void run_case(enum variant v, bool hazard)
{
	const char *url = nf_cluster_url();
	char store[600], logs[600], path[700];
	struct run r = {.v = v, .hazard = hazard};
	struct result res = {0};
	unsigned char got[HEAD + 2 * ROUND + BAPP + 1];
	pid_t a, b;
	int sa, sb, fd;

#if !PC_SCHED_HOOKS
	test_skip("needs the validator build's sched hooks (PC_SCHED_HOOKS)");
#endif
	nf_fresh(store, sizeof(store), logs, sizeof(logs));
	host_file(store, "f1", 'x', HEAD);
	host_file(store, "f2", 'v', ROUND);
	r.dir = store;
	r.url = url;
	CHECK(pipe(r.ready) == 0 && pipe(r.to_b) == 0 && pipe(r.to_a) == 0);
	CHECK(pipe(r.done) == 0 && pipe(r.result) == 0);
	b = nf_spawn(node_b, &r);
	a = nf_spawn(node_a, &r);
	close(r.result[1]);
	sa = nf_wait(a);
	close(r.done[1]); /* B may end now */
	sb = nf_wait(b);
	if (sa == 77)
		test_skip("no userfaultfd for views");
	CHECK_EQ(sa, 0);
	CHECK_EQ(sb, 0);
	CHECK_EQ(read(r.result[0], &res, sizeof(res)), (ssize_t)sizeof(res));
	for (int i = 0; i < 2; i++) {
		close(r.ready[i]);
		close(r.to_b[i]);
		close(r.to_a[i]);
	}
	close(r.done[0]);
	close(r.result[0]);

	printf("# A wrote %zd bytes in %d restart round(s) (B appended between: %s); "
	       "store syncs asked for:",
	       res.n, (int)res.restarts, res.fired ? "yes" : "no");
	for (int i = 0; i < res.nsync; i++)
		printf(" [%lld, +%lld)", (long long)res.sync_pos[i], (long long)res.sync_len[i]);
	printf("\n");
	CHECK_EQ(res.n, (ssize_t)(2 * ROUND));
	CHECK_EQ(res.fired, 1);
	CHECK(res.restarts >= 1);

	/* The store: x | A's buffer (round 1) | B | F2's bytes (round 2). */
	snprintf(path, sizeof(path), "%s/f1", store);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, got, sizeof(got), 0), (ssize_t)(sizeof(got) - 1));
	close(fd);
	for (unsigned i = 0; i < sizeof(got) - 1; i++) {
		int want = i < HEAD		     ? 'x'
			   : i < HEAD + ROUND	     ? 'A'
			   : i < HEAD + ROUND + BAPP ? 'B'
						     : 's';

		CHECKF(got[i] == want, "f1 byte %u: %c, want %c", i, got[i], want);
	}

	int64_t r1 = HEAD, r2 = HEAD + ROUND + BAPP;
	bool c1 = covered(&res, r1, r1 + ROUND), c2 = covered(&res, r2, r2 + ROUND);

	CHECK(res.nsync >= 1);
	CHECK(c2);
	if (hazard)
		CHECKF(!c1, "the sync covered the first round with the switch on");
	else
		CHECKF(c1, "the first round's bytes [%lld, %lld) were not in the write's sync",
		       (long long)r1, (long long)(r1 + ROUND));
}

TEST(osync_append_rounds)
{
	run_case(V_OSYNC, false);
}

TEST(odsync_append_rounds)
{
	run_case(V_ODSYNC, false);
}

TEST(rwf_dsync_append_rounds)
{
	run_case(V_RWF_DSYNC, false);
}

TEST(dio_dsync_append_rounds)
{
	run_case(V_DIO_DSYNC, false);
}

TEST(sync_last_round_only_misses_first)
{
	run_case(V_ODSYNC, true);
}

TEST(dio_sync_last_round_only_misses_first)
{
	run_case(V_DIO_DSYNC, true);
}

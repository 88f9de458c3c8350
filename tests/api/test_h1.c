/* SPDX-License-Identifier: MIT */
/*
 * test_h1.c - hazard H1 (docs/design.md §2, §7.2) through the public API: a
 * read, readahead or fadvise(WILLNEED) must not re-create a page between
 * "drop the cached pages" and "update the store" of a punch, zero range or
 * truncate, or the old contents come back after the call returned.
 *
 * A file holds the marker OLD (0xAA) in RANGE; a destroyer punches
 * (PUNCH_HOLE|KEEP_SIZE), zeroes (ZERO_RANGE|KEEP_SIZE), or truncates below
 * the range and then grows the file back and writes NEW (0xBB) into part of
 * it, while readers pread the range, fadvise(WILLNEED) it, and read it
 * sequentially (readahead). The invariant: no read that STARTS after the
 * destroying call has RETURNED sees OLD in the range (zeroes or NEW only). A
 * generation counter tells: the destroyer bumps it when its call has
 * returned, a reader samples it before it starts.
 *
 * (a) Under the deterministic scheduler (src/kernel/sched.h), 3 threads (one
 *     destroyer, two readers), one engine per test and a cheap per-schedule
 *     reset (pwrite OLD + fdatasync + fadvise(DONTNEED)): policy TWO_STATE
 *     survives 10,000 schedules; policy NONE_UNSAFE (no ADD/BLOCK) shows a
 *     stale read within 10,000, and the seed that showed it replays it
 *     (same trace hash, stale again).
 * (b) Free-running threads for a bounded number of rounds: TWO_STATE sees
 *     no stale read; NONE_UNSAFE must see some. A free-running hook
 *     (sched_set_hook) widens the "punch/zero: pages dropped, store not yet
 *     updated" windows: the destroyer waits there (sched_yield, bounded)
 *     until some reader has completed a fill.
 *
 * The engine's background writeback thread is not a scheduled thread, so
 * the engines here get a one-hour writeback interval; every reset leaves
 * no dirty page behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "harness.h"
#include "kernel/rng.h"
#include "kernel/sched.h"
#include "model.h"
#include "pagecache.h"

/* Every case here runs on the deterministic scheduler or its hooks. */
#if PC_SCHED_HOOKS

#define FSZ	 (128 << 10) /* the file */
#define RSTART	 (32 << 10)  /* RANGE = [RSTART, REND) */
#define REND	 (64 << 10)
#define RLEN	 (REND - RSTART)
#define OUTSIDE	 0x11
#define OLD	 0xAA
#define NEW	 0xBB
#define NREADERS 2

enum destroy_op { D_PUNCH, D_ZERO, D_TRUNC, D_NR };
static const char *const dname[D_NR] = {"punch", "zero range", "truncate+rewrite"};

struct h1 {
	struct pc_engine *e;
	const char *path;
	int anchor; /* main's fd: keeps the inode cached across schedules */
	int dio;    /* main's O_DIRECT fd: rewrites the store and drops the range */
	int fd[1 + NREADERS];
	enum destroy_op op;
	uint64_t seed;	/* of this schedule: the threads' own choices derive from it */
	unsigned gen;	/* (a): 1 once the destroying call has returned */
	unsigned seq;	/* (b): odd while OLD is being (re)written, even after a destroy */
	bool stop;	/* (b) */
	bool rewriting; /* (b): OLD is being put back: the readers stand by */
	unsigned long stale, reads, checked;
	char detail[256];
};

static struct h1 H;

/* Records a stale read: @buf holds @n bytes read at file offset @off. */
static void check_read(const char *who, const uint8_t *buf, ssize_t n, int64_t off)
{
	__atomic_fetch_add(&H.checked, 1, __ATOMIC_RELAXED);
	for (ssize_t i = 0; i < n; i++) {
		int64_t at = off + i;
		if (at >= RSTART && at < REND && buf[i] == OLD) {
			if (__atomic_fetch_add(&H.stale, 1, __ATOMIC_RELAXED) == 0)
				snprintf(
				    H.detail, sizeof(H.detail),
				    "%s read OLD (0x%02x) at offset %lld after the %s returned",
				    who, buf[i], (long long)at, dname[H.op]);
			return;
		}
	}
}

/* ---- the destroyer and the readers ---- */

static int destroy(int fd, enum destroy_op op)
{
	static uint8_t nbuf[RLEN / 2];
	int r;

	switch (op) {
	case D_PUNCH:
		return pc_fallocate(H.e, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, RSTART,
				    RLEN);
	case D_ZERO:
		return pc_fallocate(H.e, fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, RSTART,
				    RLEN);
	default:
		r = pc_ftruncate(H.e, fd, RSTART);
		if (r)
			return r;
		r = pc_ftruncate(H.e, fd, FSZ);
		if (r)
			return r;
		memset(nbuf, NEW, sizeof(nbuf));
		return pc_pwrite(H.e, fd, nbuf, sizeof(nbuf), RSTART) == (ssize_t)sizeof(nbuf)
			   ? 0
			   : -EIO;
	}
}

/* One read of the range by a reader, in one of four ways; @usable tells
 * whether the data may be checked (the destroy had returned before). */
static void reader_op(struct rng *r, int fd, const char *who, bool (*usable)(unsigned),
		      unsigned (*sample)(void))
{
	static __thread uint8_t buf[RLEN];
	unsigned kind = (unsigned)rng_below(r, 4), s;
	int64_t off;
	ssize_t n;

	switch (kind) {
	case 0: /* the whole range */
		s = sample();
		n = pc_pread(H.e, fd, buf, RLEN, RSTART);
		if (n > 0 && usable(s))
			check_read(who, buf, n, RSTART);
		break;
	case 1: /* one page */
		off = RSTART + (int64_t)rng_below(r, RLEN / 4096) * 4096;
		s = sample();
		n = pc_pread(H.e, fd, buf, 4096, off);
		if (n > 0 && usable(s))
			check_read(who, buf, n, off);
		break;
	case 2: /* sequential: readahead */
		s = sample();
		if (pc_lseek(H.e, fd, RSTART - 4096, SEEK_SET) != RSTART - 4096)
			break;
		off = RSTART - 4096;
		for (int i = 0; i < 4; i++) {
			n = pc_read(H.e, fd, buf, RLEN / 4);
			if (n <= 0)
				break;
			if (usable(s))
				check_read(who, buf, n, off);
			off += n;
		}
		break;
	default: /* fadvise(WILLNEED), then a page */
		off = RSTART + (int64_t)rng_below(r, RLEN / 4096) * 4096;
		s = sample();
		pc_fadvise(H.e, fd, RSTART, RLEN, POSIX_FADV_WILLNEED);
		n = pc_pread(H.e, fd, buf, 4096, off);
		if (n > 0 && usable(s))
			check_read(who, buf, n, off);
		break;
	}
	__atomic_fetch_add(&H.reads, 1, __ATOMIC_RELAXED);
}

/* ---- (a) the deterministic scheduler ---- */

static unsigned sample_gen(void)
{
	return __atomic_load_n(&H.gen, __ATOMIC_ACQUIRE);
}
static bool gen_usable(unsigned g)
{
	return g != 0;
}

static void sched_body(void *arg, unsigned idx)
{
	struct rng r;
	rng_seed(&r, H.seed * 31 + idx);
	if (idx == 0) {
		int err = destroy(H.fd[0], H.op);
		if (err)
			snprintf(H.detail, sizeof(H.detail), "%s failed: %s", dname[H.op],
				 strerror(-err));
		__atomic_store_n(&H.gen, 1, __ATOMIC_RELEASE);
		static uint8_t buf[RLEN];
		ssize_t n = pc_pread(H.e, H.fd[0], buf, RLEN, RSTART);
		if (n > 0)
			check_read("the destroyer", buf, n, RSTART);
		return;
	}
	for (int k = 0; k < 2; k++)
		reader_op(&r, H.fd[idx], idx == 1 ? "reader 1" : "reader 2", gen_usable,
			  sample_gen);
}

/* The whole file (@whole) or just the range. */
static void write_file(int fd, uint8_t mark, bool whole)
{
	static uint8_t buf[FSZ];
	memset(buf, OUTSIDE, FSZ);
	memset(buf + RSTART, mark, RLEN);
	if (whole)
		CHECK_EQ(pc_pwrite(H.e, fd, buf, FSZ, 0), FSZ);
	else
		CHECK_EQ(pc_pwrite(H.e, fd, buf + RSTART, RLEN, RSTART), RLEN);
}

/* OLD on the store in the range, no page of the range cached. An O_DIRECT
 * write does it at once (write back + invalidate + store write), if the
 * engine can; else a buffered write, fdatasync and fadvise(DONTNEED). */
static void reset_range(void)
{
	static uint8_t *abuf;
	if (!abuf) {
		abuf = aligned_alloc(4096, RLEN);
		CHECK(abuf);
		memset(abuf, OLD, RLEN);
	}
	if (H.dio >= 0) {
		CHECK_EQ(pc_pwrite(H.e, H.dio, abuf, RLEN, RSTART), RLEN);
		return;
	}
	write_file(H.anchor, OLD, false);
	CHECK_EQ(pc_fdatasync(H.e, H.anchor), 0);
	CHECK_EQ(pc_fadvise(H.e, H.anchor, 0, 0, POSIX_FADV_DONTNEED), 0);
}

/* Same state for the same seed: OLD on the store, no dirty page, the cache
 * empty (or, for some seeds, the range cached), fresh reader fds. */
static void reset(uint64_t seed)
{
	struct rng r;
	rng_seed(&r, seed ^ 0x5eed);
	CHECK_EQ(pc_ftruncate(H.e, H.anchor, FSZ), 0);
	reset_range();
	/* nothing of the file cached (the pages around the range too), so a
	 * seed replays with the same cache state; sometimes the range cached */
	CHECK_EQ(pc_fadvise(H.e, H.anchor, 0, 0, POSIX_FADV_DONTNEED), 0);
	if (rng_below(&r, 4) == 0) {
		static uint8_t buf[RLEN];
		int fd = pc_open(H.e, H.path, O_RDONLY, 0); /* fresh readahead state */
		CHECK(fd >= 0);
		CHECK_EQ(pc_pread(H.e, fd, buf, RLEN, RSTART), RLEN);
		CHECK_EQ(pc_close(H.e, fd), 0);
	}
	H.op = (enum destroy_op)rng_below(&r, D_NR);
	H.fd[0] = pc_open(H.e, H.path, O_RDWR, 0);
	CHECK(H.fd[0] >= 0);
	for (int i = 1; i <= NREADERS; i++) {
		H.fd[i] = pc_open(H.e, H.path, O_RDONLY, 0);
		CHECK(H.fd[i] >= 0);
	}
	H.seed = seed;
	H.gen = 0;
	H.stale = 0;
	H.detail[0] = 0;
}

static void after_run(void)
{
	/* a read that starts now: after the destroy returned */
	static uint8_t buf[RLEN];
	ssize_t n = pc_pread(H.e, H.fd[0], buf, RLEN, RSTART);
	if (n > 0)
		check_read("a read after the run", buf, n, RSTART);
	for (int i = 0; i <= NREADERS; i++)
		CHECK_EQ(pc_close(H.e, H.fd[i]), 0);
}

static void engine_up(enum pc_lock_policy policy, char **dir)
{
	struct pc_options o = {
	    .size = sizeof(struct pc_options),
	    .writeback_interval_ms = 3600 * 1000,
	    .policy = policy,
	};
	double t0 = api_now();
	*dir = api_fresh_dir("h1");
	H.e = api_engine_open(*dir, &o);
	H.path = "h1";
	H.anchor = pc_open(H.e, H.path, O_RDWR | O_CREAT, 0644);
	CHECK(H.anchor >= 0);
	write_file(H.anchor, OLD, true);
	CHECK_EQ(pc_fdatasync(H.e, H.anchor), 0);
	H.dio = pc_open(H.e, H.path, O_RDWR | O_DIRECT, 0);
	if (H.dio < 0)
		printf("# no O_DIRECT (%s): resets by write + fdatasync + DONTNEED\n",
		       strerror(-H.dio));
	printf("# engine open: %.3f ms\n", (api_now() - t0) * 1e3);
}

static void engine_down(char *dir)
{
	CHECK_EQ(pc_close(H.e, H.anchor), 0);
	if (H.dio >= 0)
		CHECK_EQ(pc_close(H.e, H.dio), 0);
	api_engine_close(H.e);
	H.e = NULL;
	api_rm_rf(dir);
	free(dir);
}

static double t_reset, t_run, t_after;

static struct sched_result run_one(struct sched_pool *pool, uint64_t seed, bool quiet)
{
	struct sched_config cfg = {
	    .seed = seed,
	    .strategy = seed & 1 ? SCHED_PCT : SCHED_RANDOM_WALK,
	    .quiet = quiet,
	};
	double t0 = api_now();
	reset(seed);
	double t1 = api_now();
	struct sched_result res = sched_run(pool, &cfg, sched_body, NULL);
	double t2 = api_now();
	after_run();
	t_reset += t1 - t0;
	t_run += t2 - t1;
	t_after += api_now() - t2;
	return res;
}

TEST(h1_sched_two_state_no_stale_read)
{
	char *dir;
	uint64_t base = test_seed();
	unsigned long n = test_scale(10000, 20), steps = 0, reads = 0;
	struct sched_pool *pool = sched_pool_create(1 + NREADERS);

	engine_up(PC_POLICY_TWO_STATE, &dir);
	double t0 = api_now();
	for (unsigned long i = 0; i < n; i++) {
		uint64_t seed = base + i;
		H.reads = 0;
		struct sched_result r = run_one(pool, seed, false);
		CHECKF(r.status == SCHED_OK,
		       "schedule %s under seed 0x%llx (replay: PC_SEED=0x%llx)",
		       r.status == SCHED_DEADLOCK ? "deadlocked" : "livelocked",
		       (unsigned long long)seed, (unsigned long long)base);
		CHECKF(H.stale == 0, "seed 0x%llx (schedule %lu of base PC_SEED=0x%llx): %s",
		       (unsigned long long)seed, i, (unsigned long long)base, H.detail);
		CHECKF(!H.detail[0], "seed 0x%llx: %s", (unsigned long long)seed, H.detail);
		steps += r.steps;
		reads += H.reads;
	}
	double dt = api_now() - t0;
	printf("# %lu schedules, %lu reads, %.1f steps per schedule, no stale read: %.2f s "
	       "(%.2f ms per schedule incl. reset)\n",
	       n, reads, (double)steps / (double)n, dt, dt * 1e3 / (double)n);
	printf("# per schedule: reset %.3f ms, run %.3f ms, check %.3f ms\n",
	       t_reset * 1e3 / (double)n, t_run * 1e3 / (double)n, t_after * 1e3 / (double)n);
	sched_pool_destroy(pool);
	engine_down(dir);
}

TEST(h1_sched_none_unsafe_finds_stale_read_and_replays_it)
{
	char *dir;
	uint64_t base = test_seed();
	unsigned long n = 10000, i;
	uint64_t found = 0;
	struct sched_result r = {0};
	struct sched_pool *pool = sched_pool_create(1 + NREADERS);

	engine_up(PC_POLICY_NONE_UNSAFE, &dir);
	double t0 = api_now();
	for (i = 0; i < n && !found; i++) {
		r = run_one(pool, base + i, true);
		CHECKF(r.status == SCHED_OK, "seed 0x%llx: status %d",
		       (unsigned long long)(base + i), r.status);
		if (H.stale)
			found = base + i;
	}
	CHECKF(found, "no stale read in %lu schedules without ADD/BLOCK (base PC_SEED=0x%llx)", n,
	       (unsigned long long)base);
	printf("# NONE_UNSAFE: stale read under seed 0x%llx (after %lu schedules, %.2f s): %s\n",
	       (unsigned long long)found, i, api_now() - t0, H.detail);

	/* the same seed replays the same schedule and the same stale read */
	char first[256];
	snprintf(first, sizeof(first), "%s", H.detail);
	for (int k = 0; k < 3; k++) {
		struct sched_result again = run_one(pool, found, true);
		CHECK_EQ(again.status, SCHED_OK);
		CHECK_EQ(again.steps, r.steps);
		CHECK_EQ(again.trace_hash, r.trace_hash);
		CHECKF(H.stale, "replay %d of seed 0x%llx saw no stale read", k,
		       (unsigned long long)found);
		CHECKF(!strcmp(first, H.detail), "replay: \"%s\" vs \"%s\"", H.detail, first);
	}
	printf("# replayed 3 times: same steps (%llu), trace hash 0x%llx, same stale read\n",
	       (unsigned long long)r.steps, (unsigned long long)r.trace_hash);
	sched_pool_destroy(pool);
	engine_down(dir);
}

/* ---- (b) free-running threads ---- */

static unsigned long fills_done; /* fills that read the store (hook count) */
static unsigned long widened;

static void widen_hook(enum sched_event ev, const void *obj, const char *what)
{
	if (ev != SP_RACE || !what)
		return;
	if (!strncmp(what, "fill: store read done", 21)) {
		__atomic_fetch_add(&fills_done, 1, __ATOMIC_RELAXED);
		return;
	}
	if (strncmp(what, "punch: pages dropped", 20) &&
	    strncmp(what, "zero range: pages dropped", 25))
		return;
	/* hold the window open until a reader completed a fill, bounded */
	unsigned long f0 = __atomic_load_n(&fills_done, __ATOMIC_RELAXED);
	for (int i = 0; i < 200 && __atomic_load_n(&fills_done, __ATOMIC_RELAXED) == f0; i++)
		sched_yield();
	__atomic_fetch_add(&widened, 1, __ATOMIC_RELAXED);
}

static unsigned sample_seq(void)
{
	return __atomic_load_n(&H.seq, __ATOMIC_ACQUIRE);
}
/* Called after the read with the value sampled before it: even and non-zero
 * (a destroy had returned), and unchanged (no rewrite of OLD began meanwhile). */
static bool seq_usable(unsigned s)
{
	return s && !(s & 1) && __atomic_load_n(&H.seq, __ATOMIC_ACQUIRE) == s;
}

static void *free_reader(void *arg)
{
	long idx = (long)arg;
	struct rng r;
	rng_seed(&r, H.seed * 31 + (uint64_t)idx);
	while (!__atomic_load_n(&H.stop, __ATOMIC_ACQUIRE)) {
		if (__atomic_load_n(&H.rewriting, __ATOMIC_ACQUIRE)) {
			sched_yield(); /* nothing to learn while OLD is legitimately back */
			continue;
		}
		reader_op(&r, H.fd[idx], idx == 1 ? "reader 1" : "reader 2", seq_usable,
			  sample_seq);
	}
	return NULL;
}

static void free_run(enum pc_lock_policy policy, unsigned long rounds, unsigned long *stale,
		     unsigned long *checked)
{
	char *dir;
	pthread_t th[NREADERS];
	struct rng r;

	engine_up(policy, &dir);
	H.seed = test_seed();
	rng_seed(&r, H.seed);
	H.stale = H.reads = H.checked = 0;
	H.seq = 0;
	H.stop = false;
	H.detail[0] = 0;
	fills_done = widened = 0;
	CHECK_EQ(pc_ftruncate(H.e, H.anchor, FSZ), 0);
	H.fd[0] = H.anchor;
	for (long i = 1; i <= NREADERS; i++) {
		H.fd[i] = pc_open(H.e, H.path, O_RDONLY, 0);
		CHECK(H.fd[i] >= 0);
	}
	sched_set_hook(widen_hook);
	for (long i = 0; i < NREADERS; i++)
		CHECK(pthread_create(&th[i], NULL, free_reader, (void *)(i + 1)) == 0);
	double t0 = api_now();
	unsigned long done;
	for (done = 0; done < rounds && api_now() - t0 < 4; done++) {
		/* OLD back on the store, cache empty; readers may see it now */
		__atomic_fetch_add(&H.seq, 1, __ATOMIC_ACQ_REL); /* odd */
		__atomic_store_n(&H.rewriting, true, __ATOMIC_RELEASE);
		CHECK_EQ(pc_ftruncate(H.e, H.anchor, FSZ), 0);
		reset_range();
		__atomic_store_n(&H.rewriting, false, __ATOMIC_RELEASE);
		H.op = (enum destroy_op)rng_below(&r, D_NR);
		int err = destroy(H.anchor, H.op);
		CHECKF(!err, "%s: %s", dname[H.op], strerror(-err));
		__atomic_fetch_add(&H.seq, 1, __ATOMIC_ACQ_REL); /* even: destroyed */
		static uint8_t buf[RLEN];
		unsigned s = sample_seq();
		ssize_t n = pc_pread(H.e, H.anchor, buf, RLEN, RSTART);
		if (n > 0 && s == sample_seq())
			check_read("the destroyer", buf, n, RSTART);
		/* let the readers look too before OLD is put back (bounded) */
		unsigned long c0 = __atomic_load_n(&H.checked, __ATOMIC_RELAXED);
		for (int i = 0; i < 1000 && __atomic_load_n(&H.checked, __ATOMIC_RELAXED) < c0 + 4;
		     i++)
			sched_yield();
	}
	__atomic_store_n(&H.stop, true, __ATOMIC_RELEASE);
	for (int i = 0; i < NREADERS; i++)
		pthread_join(th[i], NULL);
	sched_set_hook(NULL);
	printf("# %s: %lu rounds in %.2f s, %lu reads (%lu checked), %lu windows widened, %lu "
	       "stale%s%s\n",
	       policy == PC_POLICY_TWO_STATE ? "TWO_STATE" : "NONE_UNSAFE", done, api_now() - t0,
	       H.reads, H.checked, widened, H.stale, H.stale ? ": " : "", H.detail);
	for (int i = 1; i <= NREADERS; i++)
		CHECK_EQ(pc_close(H.e, H.fd[i]), 0);
	*stale = H.stale;
	*checked = H.checked;
	engine_down(dir);
}

TEST(h1_free_running_two_state_no_stale_read)
{
	unsigned long stale, checked;
	free_run(PC_POLICY_TWO_STATE, test_scale(500, 5), &stale, &checked);
	CHECK(checked > 0);
	CHECKF(stale == 0, "%s", H.detail);
}

TEST(h1_free_running_none_unsafe_shows_stale_reads)
{
	unsigned long stale, checked;
	free_run(PC_POLICY_NONE_UNSAFE, test_scale(500, 5), &stale, &checked);
	CHECK(checked > 0);
	CHECKF(stale > 0, "no stale read without ADD/BLOCK in free-running threads");
}

#else

TEST(h1_needs_scheduling_points)
{
	test_skip("built without scheduling points (release)");
}

#endif

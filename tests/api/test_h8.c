/* SPDX-License-Identifier: MIT */
/*
 * test_h8.c - hazard H8 (docs/design.md §2, §7.11) through the public API:
 * a clone or dedupe between two files must remap while fills, faults,
 * readahead, punch and direct I/O on both files are fenced out, yet the
 * dedupe must itself fill and compare pages of both.
 *
 * Two files S and D (64 KiB), a range R in each, on a store that shares
 * blocks (remap_fixture.c: vol, or dir on XFS; skipped without one). Under
 * the deterministic scheduler (src/kernel/sched.h), three threads per
 * schedule, one of two scenarios by seed:
 *
 *  clone   S's R holds SRC, D's R holds OLD. Thread 0 clones S's R over
 *          D's; thread 1 reads D (pread, a page, sequential reads with
 *          readahead, fadvise WILLNEED, a fault through a view); thread 2
 *          works on S (reads, view faults, an O_DIRECT write of NEWS over
 *          R, a punch of R) or on D (an O_DIRECT read, an O_DIRECT write
 *          of NEWD, a punch). Any read of D's R sees only bytes one of the
 *          files held (OLD, SRC, NEWS, NEWD, zeroes); a read that starts
 *          after the clone returned never sees OLD; afterwards D's R is
 *          one value (the calls on R are atomic to each other).
 *  dedupe  S's R holds OLDS, D's R holds X. Thread 0 dedupes S's R into
 *          D's; thread 1 stores X into S's R through a writable shared
 *          view, page by page; thread 2 reads D. D's R never reads anything
 *          but X (a dedupe never changes the destination's contents), and
 *          afterwards S's R is all X (no store through the view is lost).
 *
 * With the fences, every schedule keeps the rules (h8_sched_fenced). With
 * remap_test_no_dst_fence a clone leaves D's BLOCK out and a reader
 * refills D from the old block map between "drop the pages" and "remap":
 * OLD after the clone returned. With remap_test_no_src_fence a dedupe
 * leaves S's BLOCK out: stores through the view land after S was written
 * back but before the compare, the compare sees X in the cache while S's
 * blocks still hold OLDS, and the remap gives D bytes it never held. Each
 * switch test finds its violation within a bounded search, prints the
 * seed, and replays it on fresh engines (the same decisions step for step,
 * the same violation; PC_SEED=seed replays it by hand).
 *
 * The remap locks S and D in address order, so which inode the allocator
 * put lower is an input of the schedule as much as the seed: reset() gives
 * the roles so that the seed decides it. h8_test_alloc_order leaves the
 * order to the allocator again, and h8_sched_lock_order_is_a_schedule_input
 * shows what that does to replays.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "api/engine.h"
#include "fs/remap.h"
#include "harness.h"
#include "kernel/rng.h"
#include "kernel/sched.h"
#include "model.h"
#include "pagecache.h"
#include "remap_fixture.h"

/* Every case here runs on the deterministic scheduler or its hooks. */
#if PC_SCHED_HOOKS

#define PG	 4096
#define FSZ	 (64 << 10)
#define RSTART	 (16 << 10)
#define RLEN_A	 (32 << 10) /* clone: 8 pages */
#define RLEN_B	 (8 << 10)  /* dedupe: 2 pages */
#define OUT_S	 0x11
#define OUT_D	 0x22
#define SRC	 0xA5
#define NEWS	 0xC3
#define OLD	 0x5A
#define X	 0x77
#define OLDS	 0x33
#define NEWD	 0x3C
#define NTHREADS 3

enum scenario { SC_CLONE, SC_DEDUPE };

static struct {
	struct pc_engine *e;
	const char *kind;
	const char *path[2];   /* the files playing S and D in this schedule */
	int anchor[2], dio[2]; /* [0] S, [1] D */
	int fd[NTHREADS][2];   /* each thread's own fds of this schedule */
	char *view[2];
	enum scenario sc;
	int rlen;
	uint64_t seed;
	bool s_above; /* S's inode at the higher address (locked second) */
	unsigned gen; /* 1 once thread 0's call returned */
	int result;   /* thread 0's call */
	int32_t status;
	unsigned long bad;
	char detail[256];
} H;

static const char *const fname[2] = {"s", "d"}; /* the roles, in messages */

/* Test switch (this file's own protection): reset() leaves S the file made
 * first, whatever the inodes' address order - the allocator's choice again,
 * as before the seed decided it; replays of a seed then part where it flips
 * (h8_sched_lock_order_is_a_schedule_input). PC_H8_ALLOC_ORDER=1 turns it
 * on for the switch tests' replays (to count their disagreements). */
static bool h8_test_alloc_order;
/* -1: the seed picks the address order of S and D; 0: S below; 1: S above. */
static int h8_force_order = -1;

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...)
{
	if (__atomic_fetch_add(&H.bad, 1, __ATOMIC_RELAXED) == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(H.detail, sizeof(H.detail), fmt, ap);
		va_end(ap);
	}
}

/* May byte @b be at offset @at of file @f (0 S, 1 D)? @after: the read
 * started after thread 0's call returned. */
static bool allowed(int f, int64_t at, uint8_t b, bool after)
{
	if (at < RSTART || at >= RSTART + H.rlen)
		return b == (f ? OUT_D : OUT_S);
	if (H.sc == SC_DEDUPE)
		return f ? b == X : (b == OLDS || b == X);
	if (!f)
		return b == SRC || b == NEWS || b == 0;
	return b == SRC || b == NEWS || b == 0 || b == NEWD || (b == OLD && !after);
}

static void check(int f, const char *who, const uint8_t *buf, ssize_t n, int64_t off, bool after)
{
	for (ssize_t i = 0; i < n; i++)
		if (!allowed(f, off + i, buf[i], after)) {
			violation("%s: %s read 0x%02x at %lld%s (%s)", fname[f], who, buf[i],
				  (long long)(off + i), after ? " after the call returned" : "",
				  H.sc == SC_CLONE ? "clone" : "dedupe");
			return;
		}
}

static bool after_call(void)
{
	return __atomic_load_n(&H.gen, __ATOMIC_ACQUIRE) != 0;
}

/* One read of file @f's range by thread @idx, one of five ways. */
static void reader_op(struct rng *r, unsigned idx, int f, const char *who)
{
	static __thread uint8_t buf[FSZ];
	int fd = H.fd[idx][f];
	int64_t off = RSTART + (int64_t)rng_below(r, (uint64_t)H.rlen / PG) * PG;
	bool after = after_call();
	ssize_t n;

	switch (rng_below(r, 5)) {
	case 0:
		n = pc_pread(H.e, fd, buf, (size_t)H.rlen, RSTART);
		check(f, who, buf, n, RSTART, after);
		break;
	case 1:
		n = pc_pread(H.e, fd, buf, PG, off);
		check(f, who, buf, n, off, after);
		break;
	case 2: /* sequential from a page before the range: readahead */
		off = RSTART - PG;
		if (pc_lseek(H.e, fd, off, SEEK_SET) != off)
			break;
		for (int i = 0; i < 3; i++) {
			n = pc_read(H.e, fd, buf, (size_t)H.rlen / 2);
			if (n <= 0)
				break;
			check(f, who, buf, n, off, after);
			off += n;
		}
		break;
	case 3:
		pc_fadvise(H.e, fd, RSTART, H.rlen, POSIX_FADV_WILLNEED);
		n = pc_pread(H.e, fd, buf, PG, off);
		check(f, who, buf, n, off, after);
		break;
	default: /* a fault through the view */
		memcpy(buf, H.view[f] + off, PG);
		check(f, who, buf, PG, off, after);
		break;
	}
}

static uint8_t *abuf(void)
{
	static uint8_t *b;
	if (!b) {
		b = aligned_alloc(PG, FSZ);
		CHECK(b);
	}
	return b;
}

static void sched_body(void *arg, unsigned idx)
{
	struct rng r;

	(void)arg;
	rng_seed(&r, H.seed * 31 + idx);
	if (idx == 0) {
		if (H.sc == SC_CLONE) {
			H.result =
			    pc_clone_range(H.e, H.fd[0][1], H.fd[0][0], RSTART, RLEN_A, RSTART);
		} else {
			struct {
				struct pc_dedupe_range r;
				struct pc_dedupe_range_info i[1];
			} a = {.r = {.src_offset = RSTART, .src_length = RLEN_B, .dest_count = 1},
			       .i = {{.dest_fd = H.fd[0][1], .dest_offset = RSTART}}};
			H.result = pc_dedupe_range(H.e, H.fd[0][0], &a.r);
			H.status = a.i[0].status;
		}
		__atomic_store_n(&H.gen, 1, __ATOMIC_RELEASE);
		static uint8_t buf[FSZ];
		ssize_t n = pc_pread(H.e, H.fd[0][1], buf, (size_t)H.rlen, RSTART);
		check(1, "the caller", buf, n, RSTART, true);
		return;
	}
	if (H.sc == SC_DEDUPE && idx == 1) {
		/* stores of X into S's range through the view, page by page */
		for (int p = 0; p < H.rlen / PG; p++)
			memset(H.view[0] + RSTART + p * PG, X, PG);
		return;
	}
	if (H.sc == SC_DEDUPE || idx == 1) {
		for (int k = 0; k < 2; k++)
			reader_op(&r, idx, 1, idx == 1 ? "reader 1" : "reader 2");
		return;
	}
	/* clone, thread 2: S's side, or a direct read of D */
	switch (rng_below(&r, 7)) {
	case 0:
	case 1:
		reader_op(&r, idx, 0, "S's reader");
		break;
	case 5:
		if (pc_fallocate(H.e, H.fd[idx][1], FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 RSTART, RLEN_A))
			violation("punch of D failed");
		break;
	case 6: {
		static uint8_t *b;
		if (!b) {
			b = aligned_alloc(PG, RLEN_A);
			memset(b, NEWD, RLEN_A);
		}
		if (pc_pwrite(H.e, H.dio[1], b, RLEN_A, RSTART) != RLEN_A)
			violation("O_DIRECT write of D failed");
		break;
	}
	case 2: {
		uint8_t *b = abuf();
		memset(b, NEWS, RLEN_A);
		if (pc_pwrite(H.e, H.dio[0], b, RLEN_A, RSTART) != RLEN_A)
			violation("O_DIRECT write of S failed");
		break;
	}
	case 3:
		if (pc_fallocate(H.e, H.fd[idx][0], FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 RSTART, RLEN_A))
			violation("punch of S failed");
		break;
	default: {
		static uint8_t *b;
		bool after = after_call();
		if (!b)
			b = aligned_alloc(PG, FSZ);
		ssize_t n = pc_pread(H.e, H.dio[1], b, RLEN_A, RSTART);
		check(1, "an O_DIRECT reader", b, n, RSTART, after);
		break;
	}
	}
}

/* The anchor and O_DIRECT fds of file @f (created with @excl). */
static void files_open(int f, int excl)
{
	H.anchor[f] = pc_open(H.e, H.path[f], O_RDWR | O_CREAT | excl, 0644);
	CHECK(H.anchor[f] >= 0);
	H.dio[f] = pc_open(H.e, H.path[f], O_RDWR | O_DIRECT, 0);
	CHECKF(H.dio[f] >= 0, "O_DIRECT open: %s", strerror(-H.dio[f]));
}

static void files_close(void)
{
	for (int f = 0; f < 2; f++) {
		CHECK_EQ(pc_close(H.e, H.anchor[f]), 0);
		CHECK_EQ(pc_close(H.e, H.dio[f]), 0);
	}
}

/* The address of the inode behind @fd: the order a remap locks two in. */
static uintptr_t inode_addr(int fd)
{
	struct file *f = fdget(&H.e->fdt, fd);
	uintptr_t a;

	CHECK(f && f->f_inode);
	a = (uintptr_t)f->f_inode;
	fdput(H.e, f);
	return a;
}

#define SWAP(a, b)                      \
	do {                            \
		__typeof__(a) t_ = (a); \
		(a) = (b);              \
		(b) = t_;               \
	} while (0)

/* Both files' contents on the store, nothing of them cached, views and
 * fds fresh: the same state for the same seed. */
static void reset(uint64_t seed)
{
	uint8_t *b = abuf();
	struct rng r;
	int err;

	rng_seed(&r, seed ^ 0x48385eed);
	H.sc = (seed >> 1) & 1 ? SC_DEDUPE : SC_CLONE;
	H.rlen = H.sc == SC_CLONE ? RLEN_A : RLEN_B;
	/* New files on a store committed in between: the vol store lays them
	 * out the same way every time (its reads cross a scheduling point per
	 * extent, so a layout left by the last schedule's copy-on-write would
	 * change the schedule) */
	files_close();
	for (int f = 0; f < 2; f++)
		CHECK_EQ(pc_unlink(H.e, H.path[f]), 0);
	CHECK_EQ(pc_sync(H.e), 0);
	H.path[0] = "a";
	H.path[1] = "b";
	for (int f = 0; f < 2; f++)
		files_open(f, O_EXCL);
	/*
	 * A remap locks the two inodes (i_rwsem, then the invalidate locks)
	 * in address order, and a DIO's fault on the other file blocks or
	 * trylocks by the same order: which file comes first changes the
	 * schedule. The addresses are the allocator's (its state left by the
	 * engines, schedules and RCU callbacks before): not something a
	 * replay reproduces. The seed decides the order instead - which of
	 * the two new files plays S - so a replay takes the same decisions
	 * and both orders are searched.
	 */
	bool s_above = rng_below(&r, 2);
	if (h8_force_order >= 0)
		s_above = h8_force_order;
	if (!h8_test_alloc_order &&
	    (inode_addr(H.anchor[0]) > inode_addr(H.anchor[1])) != s_above) {
		SWAP(H.path[0], H.path[1]);
		SWAP(H.anchor[0], H.anchor[1]);
		SWAP(H.dio[0], H.dio[1]);
	}
	H.s_above = inode_addr(H.anchor[0]) > inode_addr(H.anchor[1]);
	for (int f = 0; f < 2; f++) {
		memset(b, f ? OUT_D : OUT_S, FSZ);
		memset(b + RSTART, H.sc == SC_CLONE ? (f ? OLD : SRC) : (f ? X : OLDS),
		       (size_t)H.rlen);
		CHECK_EQ(pc_pwrite(H.e, H.dio[f], b, FSZ, 0), FSZ);
	}
	CHECK_EQ(pc_sync(H.e), 0);
	/* nothing cached: each schedule starts from the same cache */
	struct pc_stats st = {0};
	CHECK_EQ(pc_get_stats(H.e, &st, sizeof(st)), 0);
	CHECKF(st.cached_pages == 0, "%llu pages still cached after the reset",
	       (unsigned long long)st.cached_pages);
	/* sometimes part of a range cached */
	if (rng_below(&r, 3) == 0) {
		int f = (int)rng_below(&r, 2);
		int fd = pc_open(H.e, H.path[f], O_RDONLY, 0); /* fresh readahead state */
		CHECK(fd >= 0);
		CHECK_EQ(pc_pread(H.e, fd, b, PG, RSTART + PG), PG);
		CHECK_EQ(pc_close(H.e, fd), 0);
	}
	for (int f = 0; f < 2; f++) {
		/* a view of a fresh open file: its faults' readahead state is new */
		int fd = pc_open(H.e, H.path[f], O_RDWR, 0);
		CHECK(fd >= 0);
		H.view[f] = pc_mmap(H.e, fd, FSZ, PROT_READ | PROT_WRITE, MAP_SHARED, 0, &err);
		CHECKF(H.view[f], "pc_mmap: %s", strerror(-err));
		CHECK_EQ(pc_close(H.e, fd), 0); /* the view keeps the file */
		for (int t = 0; t < NTHREADS; t++) {
			H.fd[t][f] = pc_open(H.e, H.path[f], O_RDWR, 0);
			CHECK(H.fd[t][f] >= 0);
		}
	}
	H.seed = seed;
	H.gen = 0;
	H.result = -1;
	H.status = 99;
	H.bad = 0;
	H.detail[0] = 0;
}

/* After the run: the call succeeded; D's range one value (clone)
 * or all X (dedupe); S's range whole. */
static void after_run(void)
{
	static uint8_t b[FSZ];

	if (H.result)
		violation("the %s returned %d", H.sc == SC_CLONE ? "clone" : "dedupe", H.result);
	CHECK_EQ(pc_pread(H.e, H.anchor[1], b, FSZ, 0), FSZ);
	check(1, "a read after the run", b, FSZ, 0, true);
	for (int i = 1; i < H.rlen; i++)
		if (b[RSTART + i] != b[RSTART]) {
			violation("d: the range is mixed after the %s: 0x%02x at %d, 0x%02x at %d",
				  H.sc == SC_CLONE ? "clone" : "dedupe", b[RSTART], RSTART,
				  b[RSTART + i], RSTART + i);
			break;
		}
	CHECK_EQ(pc_pread(H.e, H.anchor[0], b, FSZ, 0), FSZ);
	check(0, "a read after the run", b, FSZ, 0, true);
	if (H.sc == SC_DEDUPE) {
		for (int i = 0; i < H.rlen; i++)
			if (b[RSTART + i] != X) {
				violation("s: 0x%02x at %d: a store through the view was lost",
					  b[RSTART + i], RSTART + i);
				break;
			}
		if (H.result == 0 && H.status != PC_DEDUPE_RANGE_SAME &&
		    H.status != PC_DEDUPE_RANGE_DIFFERS)
			violation("dedupe status %d", H.status);
	}
	for (int f = 0; f < 2; f++) {
		CHECK_EQ(pc_munmap(H.e, H.view[f], FSZ), 0);
		for (int t = 0; t < NTHREADS; t++)
			CHECK_EQ(pc_close(H.e, H.fd[t][f]), 0);
	}
}

/* This file's switch and knob off at the start of each case (a failed
 * check leaves the case, and them, as they were). */
static void case_start(void)
{
	h8_test_alloc_order = false;
	h8_force_order = -1;
}

static void engine_up(void)
{
	struct pc_options o = PC_OPTIONS_INIT;
	const char *why = NULL;

	/* no background writeback or periodic commit: they are not threads of
	 * the schedule */
	o.writeback_interval_ms = 3600 * 1000;
	o.commit_interval_ms = 3600 * 1000;
	H.e = remap_engine_open("h8", &o, &H.kind, &why);
	if (!H.e)
		test_skip("%s", why);
	H.path[0] = "a";
	H.path[1] = "b";
	for (int f = 0; f < 2; f++)
		files_open(f, 0);
	static const char *said;
	if (said != H.kind)
		printf("# store: %s\n", H.kind);
	said = H.kind;
}

static void engine_down(void)
{
	files_close();
	remap_engine_close(H.e);
	H.e = NULL;
}

#define TRACE_CAP 4096

/* A run's decisions (sched_trace_diff shows where two runs part). */
struct trace {
	struct sched_trace t;
	struct sched_trace_step step[TRACE_CAP];
};

static struct sched_result run_one(struct sched_pool *pool, uint64_t seed, bool quiet,
				   struct trace *tr)
{
	struct sched_config cfg = {
	    .seed = seed,
	    .strategy = seed & 1 ? SCHED_PCT : SCHED_RANDOM_WALK,
	    .quiet = quiet,
	};
	if (tr) {
		tr->t = (struct sched_trace){.step = tr->step, .cap = TRACE_CAP};
		cfg.trace = &tr->t;
	}
	reset(seed);
	struct sched_result res = sched_run(pool, &cfg, sched_body, NULL);
	/* no thread outside the schedule (writeback, commit timer, RCU)
	 * woke a scheduled one: its timing would steer the schedule */
	CHECKF(res.outside_wakes == 0, "seed 0x%llx: %llu wake-ups from outside the schedule",
	       (unsigned long long)seed, (unsigned long long)res.outside_wakes);
	after_run();
	return res;
}

TEST(h8_sched_fenced_no_stale_or_mixed_read)
{
	uint64_t base = test_seed();
	unsigned long n = test_scale(5000, 25), steps = 0, per[2] = {0, 0}, shared = 0;
	struct sched_pool *pool;

	case_start();
	engine_up();
	pool = sched_pool_create(NTHREADS);
	double t0 = api_now();
	for (unsigned long i = 0; i < n; i++) {
		uint64_t seed = base + i;
		struct sched_result r = run_one(pool, seed, false, NULL);
		CHECKF(r.status == SCHED_OK,
		       "schedule %d under seed 0x%llx (replay: PC_SEED=0x%llx)", r.status,
		       (unsigned long long)seed, (unsigned long long)seed);
		CHECKF(H.bad == 0, "seed 0x%llx (replay: PC_SEED=0x%llx): %s",
		       (unsigned long long)seed, (unsigned long long)seed, H.detail);
		steps += r.steps;
		per[H.sc]++;
		shared += H.sc == SC_DEDUPE && H.status == PC_DEDUPE_RANGE_SAME;
	}
	printf("# %lu schedules (%lu clone, %lu dedupe: %lu found the ranges equal and shared "
	       "them), %.1f steps each, every read within the rules: %.2f s\n",
	       n, per[SC_CLONE], per[SC_DEDUPE], shared, (double)steps / (double)n, api_now() - t0);
	CHECK(shared > 0 && shared < per[SC_DEDUPE]);
	sched_pool_destroy(pool);
	engine_down();
}

/* With @sw on, search schedules of scenario @sc for a violation, then
 * replay the seed that showed it: PC_H8_REPLAYS times (default 3), each on
 * a new engine and volume, as PC_SEED=seed does by hand. Every replay must
 * take the decisions of the first one, step for step, and show the same
 * violation; where one does not, the step where they part is printed (who
 * ran, at which point, who could run). */
static void switch_finds(bool *sw, enum scenario sc, const char *name)
{
	static struct trace search, ref, again;
	uint64_t base = test_seed(), found = 0;
	unsigned long n = 20000, i, tried = 0, differ = 0, lost = 0;
	const char *env = getenv("PC_H8_REPLAYS");
	unsigned long replays = env && *env ? strtoul(env, NULL, 0) : 3;
	struct sched_result r = {0};
	struct sched_pool *pool;

	case_start();
	env = getenv("PC_H8_ALLOC_ORDER");
	h8_test_alloc_order = env && *env && *env != '0';
	engine_up();
	pool = sched_pool_create(NTHREADS);
	*sw = true;
	double t0 = api_now();
	for (i = 0; tried < n && !found; i++) {
		uint64_t seed = base + i;
		if ((enum scenario)((seed >> 1) & 1) != sc)
			continue;
		tried++;
		r = run_one(pool, seed, true, &search);
		CHECKF(r.status == SCHED_OK, "seed 0x%llx: status %d", (unsigned long long)seed,
		       r.status);
		if (H.bad)
			found = seed;
	}
	CHECKF(found, "%s: no violation in %lu schedules (base PC_SEED=0x%llx)", name, tried,
	       (unsigned long long)base);
	printf("# %s: violation under seed 0x%llx (PC_SEED=0x%llx replays it) after %lu "
	       "schedules, %.2f s: %s\n",
	       name, (unsigned long long)found, (unsigned long long)found, tried, api_now() - t0,
	       H.detail);
	char first[256];
	engine_down();
	engine_up();
	struct sched_result ref_r = run_one(pool, found, true, &ref);
	CHECK_EQ(ref_r.status, SCHED_OK);
	CHECKF(H.bad, "replay of seed 0x%llx: no violation", (unsigned long long)found);
	snprintf(first, sizeof(first), "%s", H.detail);
	fflush(stdout);
	if (sched_trace_diff(&search.t, &ref.t, 1) >= 0)
		printf("# the search's run of the seed (after %lu schedules on its engine) took "
		       "other decisions than its replay (a: search, b: replay)\n",
		       tried - 1);
	for (unsigned long k = 0; k < replays; k++) {
		engine_down();
		engine_up();
		struct sched_result a = run_one(pool, found, true, &again);
		CHECK_EQ(a.status, SCHED_OK);
		if (a.trace_hash != ref_r.trace_hash || a.steps != ref_r.steps) {
			differ++;
			printf("# replay %lu of seed 0x%llx took other decisions (a: first replay, "
			       "b: this one)\n",
			       k, (unsigned long long)found);
			fflush(stdout);
			sched_trace_diff(&ref.t, &again.t, 1);
		} else if (fflush(stdout), sched_trace_diff(&ref.t, &again.t, 1) >= 0) {
			differ++; /* same picks, other candidates: luck */
		}
		if (!H.bad || strcmp(first, H.detail)) {
			lost++;
			printf("# replay %lu: \"%s\" vs \"%s\"\n", k, H.detail, first);
		}
	}
	printf("# replayed %lu times: %lu took other decisions, %lu showed another or no "
	       "violation (%llu steps, trace hash 0x%llx)\n",
	       replays, differ, lost, (unsigned long long)ref_r.steps,
	       (unsigned long long)ref_r.trace_hash);
	CHECK_EQ(differ, 0ul);
	CHECK_EQ(lost, 0ul);
	h8_test_alloc_order = false;
	*sw = false;
	sched_pool_destroy(pool);
	engine_down();
}

TEST(h8_sched_no_dst_fence_clone_shows_stale_read)
{
	switch_finds(&remap_test_no_dst_fence, SC_CLONE, "remap_test_no_dst_fence");
}

TEST(h8_sched_no_src_fence_dedupe_changes_destination)
{
	switch_finds(&remap_test_no_src_fence, SC_DEDUPE, "remap_test_no_src_fence");
}

/*
 * Which of the two inodes sits lower in memory is an input of the
 * schedule: find a seed whose decisions differ between "S below D" and "S
 * above D" (the fenced scenarios), then replay it on fresh engines with
 * h8_test_alloc_order on - the allocator's order, as before the seed chose
 * it. Each replay must take exactly the decisions of the order it got (so
 * nothing else steers the schedule), and where the allocator flipped the
 * order, a replay took other decisions than the first: the flake the seed's
 * choice removes.
 */
TEST(h8_sched_lock_order_is_a_schedule_input)
{
	static struct trace ord[2], tr;
	uint64_t base = test_seed(), found = 0;
	unsigned long tries = 200, replays = test_scale(60, 3), flipped = 0, i;
	struct sched_result res[2];
	struct sched_pool *pool;
	int64_t at = -1;

	case_start();
	engine_up();
	pool = sched_pool_create(NTHREADS);
	for (i = 0; i < tries && !found; i++) {
		uint64_t seed = base + i;
		for (int o = 0; o < 2; o++) {
			h8_force_order = o;
			res[o] = run_one(pool, seed, false, &ord[o]);
			CHECK_EQ(res[o].status, SCHED_OK);
			CHECKF(H.bad == 0, "seed 0x%llx: %s", (unsigned long long)seed, H.detail);
			CHECK_EQ(H.s_above, o);
		}
		fflush(stdout);
		at = sched_trace_diff(&ord[0].t, &ord[1].t, 1);
		if (at >= 0)
			found = seed;
	}
	h8_force_order = -1;
	CHECKF(found, "no seed of %lu whose decisions depend on the inodes' order (base 0x%llx)",
	       tries, (unsigned long long)base);
	printf("# seed 0x%llx (%lu tried): S below D and S above D part at step %lld (%llu and "
	       "%llu steps)\n",
	       (unsigned long long)found, i, (long long)at, (unsigned long long)res[0].steps,
	       (unsigned long long)res[1].steps);

	h8_test_alloc_order = true;
	bool first = false;
	for (unsigned long k = 0; k < replays; k++) {
		engine_down();
		engine_up();
		struct sched_result a = run_one(pool, found, true, &tr);
		CHECK_EQ(a.status, SCHED_OK);
		if (k == 0)
			first = H.s_above;
		flipped += H.s_above != first; /* so the other order's decisions: */
		fflush(stdout);
		CHECKF(sched_trace_diff(&ord[H.s_above].t, &tr.t, 1) < 0 &&
			   a.trace_hash == res[H.s_above].trace_hash,
		       "replay %lu (S %s D): not the decisions of its order", k,
		       H.s_above ? "above" : "below");
	}
	h8_test_alloc_order = false;
	printf("# %lu replays on fresh engines in the allocator's order: S was %s D in the "
	       "first; %lu got the other order and took the other order's decisions\n",
	       replays, first ? "above" : "below", flipped);
	if (!flipped)
		printf("# the allocator placed every replay's inodes in the same order here "
		       "(nothing to show)\n");
	sched_pool_destroy(pool);
	engine_down();
}

#else

TEST(h8_needs_scheduling_points)
{
	test_skip("built without PC_SCHED_HOOKS (release build)");
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * test_dio_h5.c - hazard H5 (docs/design.md §2, §7.5; the
 * P1/P2 scenario): threads each doing O_DIRECT I/O on its own file with a buffer
 * that is a view of another thread's file. Each DIO write holds BLOCK of
 * its file while it faults the view of the next file in, so a ring of such
 * writers is an ABBA (ring) of invalidate locks in an order user space
 * chose; the fault rule (mm/fault_dio.c) breaks it.
 *
 * (a) Rings of 2, 3 and 8 threads/files, free-running under the watchdog:
 *     thread i O_DIRECT-writes a "target" page of file i from a "source"
 *     page of the view of file i+1, O_DIRECT-reads a source page of file i
 *     into an "inbox" page of the view of file i+1, and drops the sources
 *     of its own file from the cache (so the previous thread's view
 *     faults). Each result is checked at once (thread i is the only writer
 *     of its targets and of file i+1's inbox). 100,000 operations in all
 *     in the debug build (PC_QUICK: 2,000); no hang, correct data.
 * (b) P1/P2 under the deterministic scheduler: P1 O_DIRECT-writes file A
 *     from an uncached page of the view of B, P2 the other way round. With
 *     the rule on, every schedule completes with the right data. With the
 *     ordering/trylock rule switched off (fault_dio_test_no_order) the
 *     scheduler finds the deadlock, and its seed replays it (same steps,
 *     same trace hash). A deadlocked run leaves its locks held, so every
 *     run of the search gets an engine of its own and a deadlocked one is
 *     left behind, never closed.
 */
#include <pthread.h>

#include "kernel/rng.h"
#include "kernel/sched.h"
#include "kernel/task.h"
#include "kernel/watchdog.h"
#include "mm/fault_dio.h"
#include "test_dio_fixture.h"

#define NPG	 12 /* targets [0,4), sources [4,8), inbox [8,12) */
#define TGT(k)	 (k)
#define SRC(k)	 (4 + (k))
#define INBOX(k) (8 + (k))
#define MAXRING	 8

static uint32_t src_stamp(int file, int page)
{
	return ((uint32_t)file + 1) << 16 | (uint32_t)page;
}

struct ring {
	struct pc_engine *e;
	int n;
	int fd[MAXRING], dfd[MAXRING];
	char *view[MAXRING]; /* view[i]: of file i, used by thread i-1 */
	unsigned long iters;
	uint64_t seed;
	unsigned long ops[3];
};

struct ring_arg {
	struct ring *r;
	int me;
};

static void *ring_thread(void *p)
{
	struct ring_arg *a = p;
	struct ring *r = a->r;
	int i = a->me, j = (i + 1) % r->n;
	char *buf = dio_abuf(PG);
	struct rng rng;

	rng_seed(&rng, r->seed * 131 + (uint64_t)i);
	task_set_watched(true);
	for (unsigned long it = 0; it < r->iters; it++) {
		int k = (int)rng_below(&rng, 4), s = (int)rng_below(&rng, 4);
		uint32_t got;
		ssize_t n;

		switch (rng_below(&rng, 8)) {
		case 0:
		case 1:
		case 2:
		case 3: /* my target from the view of the next file's source */
			n = pc_pwrite(r->e, r->dfd[i], r->view[j] + (size_t)SRC(s) * PG, PG,
				      (off_t)TGT(k) * PG);
			CHECKF(n == PG, "thread %d: DIO write: %zd", i, n);
			CHECK_EQ(pc_pread(r->e, r->fd[i], buf, PG, (off_t)TGT(k) * PG), PG);
			got = page_stamp(buf);
			CHECKF(got == src_stamp(j, SRC(s)), "thread %d: target %d is %#x, want %#x",
			       i, k, got, src_stamp(j, SRC(s)));
			__atomic_fetch_add(&r->ops[0], 1, __ATOMIC_RELAXED);
			break;
		case 4:
		case 5:
		case 6: /* my source into the view of the next file's inbox */
			n = pc_pread(r->e, r->dfd[i], r->view[j] + (size_t)INBOX(k) * PG, PG,
				     (off_t)SRC(s) * PG);
			CHECKF(n == PG, "thread %d: DIO read: %zd", i, n);
			CHECK_EQ(pc_pread(r->e, r->fd[j], buf, PG, (off_t)INBOX(k) * PG), PG);
			got = page_stamp(buf);
			CHECKF(got == src_stamp(i, SRC(s)), "thread %d: inbox %d of file %d is %#x",
			       i, k, j, got);
			__atomic_fetch_add(&r->ops[1], 1, __ATOMIC_RELAXED);
			break;
		default: /* the previous thread's view of my sources faults again */
			CHECK_EQ(pc_fdatasync(r->e, r->fd[i]), 0);
			CHECK_EQ(
			    pc_fadvise(r->e, r->fd[i], SRC(0) * PG, 4 * PG, POSIX_FADV_DONTNEED),
			    0);
			__atomic_fetch_add(&r->ops[2], 1, __ATOMIC_RELAXED);
			break;
		}
	}
	task_set_watched(false);
	free(buf);
	return NULL;
}

static void ring_files(struct pc_engine *e, int n, int *fd, int *dfd)
{
	char *buf = dio_abuf(NPG * PG);

	for (int i = 0; i < n; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%d", i);
		fd[i] = pc_open(e, name, O_RDWR | O_CREAT | O_TRUNC, 0644);
		CHECK(fd[i] >= 0);
		dfd[i] = dio_open(e, name, O_RDWR);
		for (int k = 0; k < NPG; k++)
			stamp_page(buf + (size_t)k * PG, src_stamp(i, k));
		CHECK_EQ(pc_pwrite(e, dfd[i], buf, NPG * PG, 0), NPG * PG);
	}
	free(buf);
}

static void ring_run(int n, unsigned long iters, uint64_t seed)
{
	struct ring r = {
	    .e = dio_engine(PC_POLICY_TWO_STATE), .n = n, .iters = iters, .seed = seed};
	struct ring_arg a[MAXRING];
	pthread_t t[MAXRING];
	struct pc_stats st;

	ring_files(r.e, n, r.fd, r.dfd);
	for (int i = 0; i < n; i++)
		r.view[i] = dio_map(r.e, r.fd[i], NPG * PG, PROT_READ | PROT_WRITE, 0);
	CHECK_EQ(watchdog_start(20000, NULL), 0);
	for (int i = 0; i < n; i++) {
		a[i] = (struct ring_arg){&r, i};
		CHECK_EQ(pthread_create(&t[i], NULL, ring_thread, &a[i]), 0);
	}
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(watchdog_hangs(), 0);
	watchdog_stop();
	st = dio_stats(r.e);
	printf("# ring of %d: %lu DIO writes, %lu DIO reads, %lu drops; retries %llu, BLOCK "
	       "dropped %llu, bounced %llu\n",
	       n, r.ops[0], r.ops[1], r.ops[2], (unsigned long long)st.dio_retries,
	       (unsigned long long)st.dio_dropped, (unsigned long long)st.dio_bounced);
	for (int i = 0; i < n; i++) {
		CHECK_EQ(pc_munmap(r.e, r.view[i], NPG * PG), 0);
		CHECK_EQ(pc_close(r.e, r.dfd[i]), 0);
		CHECK_EQ(pc_close(r.e, r.fd[i]), 0);
	}
	CHECK_EQ(pc_engine_close(r.e), 0);
}

TEST(h5_rings_of_2_3_8)
{
	unsigned long total = test_scale(100000, 50);
	uint64_t seed = test_seed();

	/* split over the rings, each thread its share */
	ring_run(2, total / 3 / 2, seed);
	ring_run(3, total / 3 / 3, seed + 1);
	ring_run(8, total / 3 / 8, seed + 2);
}

/* ---- (b) P1/P2 under the deterministic scheduler ---- */

#if PC_SCHED_HOOKS

static struct {
	struct pc_engine *e;
	int fd[2], dfd[2];
	char *view[2];
	ssize_t res[2];
} P;

static void p_setup(void)
{
	P.e = dio_engine(PC_POLICY_TWO_STATE);
	ring_files(P.e, 2, P.fd, P.dfd);
	for (int i = 0; i < 2; i++)
		P.view[i] = dio_map(P.e, P.fd[i], NPG * PG, PROT_READ, 0);
}

static void p_teardown(void)
{
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(pc_munmap(P.e, P.view[i], NPG * PG), 0);
		CHECK_EQ(pc_close(P.e, P.dfd[i]), 0);
		CHECK_EQ(pc_close(P.e, P.fd[i]), 0);
	}
	CHECK_EQ(pc_engine_close(P.e), 0);
}

/* Both files' sources out of the cache (and so out of the views). */
static void p_reset(void)
{
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(pc_fdatasync(P.e, P.fd[i]), 0);
		CHECK_EQ(pc_fadvise(P.e, P.fd[i], 0, 0, POSIX_FADV_DONTNEED), 0);
	}
	P.res[0] = P.res[1] = 0;
}

/* P1 (idx 0): DIO write of A's target 0 from the view of B's source 0; P2
 * the other way round. */
static void p_body(void *arg, unsigned idx)
{
	P.res[idx] = pc_pwrite(P.e, P.dfd[idx], P.view[!idx] + SRC(0) * PG, PG, TGT(0) * PG);
}

static void p_check(uint64_t seed)
{
	char *buf = dio_abuf(PG);

	for (int i = 0; i < 2; i++) {
		CHECKF(P.res[i] == PG, "seed %#llx: P%d got %zd", (unsigned long long)seed, i + 1,
		       P.res[i]);
		CHECK_EQ(pc_pread(P.e, P.fd[i], buf, PG, TGT(0) * PG), PG);
		CHECKF(page_stamp(buf) == src_stamp(!i, SRC(0)), "seed %#llx: file %d is %#x",
		       (unsigned long long)seed, i, page_stamp(buf));
	}
	free(buf);
}

static struct sched_result p_run(struct sched_pool *pool, uint64_t seed, bool quiet)
{
	struct sched_config cfg = {
	    .seed = seed, .strategy = seed & 1 ? SCHED_PCT : SCHED_RANDOM_WALK, .quiet = quiet};

	return sched_run(pool, &cfg, p_body, NULL);
}

TEST(h5_sched_rule_on_never_deadlocks)
{
	uint64_t base = test_seed();
	unsigned long n = test_scale(1000, 10), steps = 0;
	struct sched_pool *pool = sched_pool_create(2);
	struct pc_stats st;

	p_setup();
	for (unsigned long i = 0; i < n; i++) {
		struct sched_result r;

		p_reset();
		r = p_run(pool, base + i, false);
		CHECKF(r.status == SCHED_OK, "seed %#llx: %s (replay: PC_SEED=%#llx)",
		       (unsigned long long)(base + i),
		       r.status == SCHED_DEADLOCK ? "deadlock" : "livelock",
		       (unsigned long long)base);
		p_check(base + i);
		steps += r.steps;
	}
	st = dio_stats(P.e);
	printf("# %lu schedules of P1/P2, %.1f steps each, all complete; BLOCK dropped %llu "
	       "times, retries %llu, bounced %llu\n",
	       n, (double)steps / (double)n, (unsigned long long)st.dio_dropped,
	       (unsigned long long)st.dio_retries, (unsigned long long)st.dio_bounced);
	p_teardown();
	sched_pool_destroy(pool);
}

TEST(h5_sched_rule_off_finds_deadlock_and_replays_it)
{
	uint64_t base = test_seed(), found = 0;
	struct sched_pool *pool = sched_pool_create(2);
	struct sched_result r = {0}, again;
	unsigned long i;

#if defined(__SANITIZE_THREAD__)
	sched_pool_destroy(pool);
	skip_case("abandoning threads inside the fault handler under ThreadSanitizer", -EOPNOTSUPP);
#endif
	fault_dio_test_no_order = true;
	for (i = 0; i < 200 && !found; i++) {
		p_setup();
		p_reset();
		r = p_run(pool, base + i, true);
		if (r.status == SCHED_DEADLOCK) {
			found = base + i; /* its engine stays behind, locks held */
		} else {
			CHECKF(r.status == SCHED_OK, "seed %#llx: livelock",
			       (unsigned long long)(base + i));
			p_check(base + i);
			p_teardown();
		}
	}
	CHECKF(found, "no deadlock in %lu schedules with the rule off (PC_SEED=%#llx)", i,
	       (unsigned long long)base);
	printf("# rule off: deadlock under seed %#llx after %lu schedules (%llu steps)\n",
	       (unsigned long long)found, i, (unsigned long long)r.steps);
	p_setup();
	p_reset();
	again = p_run(pool, found, true);
	CHECK_EQ(again.status, SCHED_DEADLOCK);
	CHECK_EQ(again.steps, r.steps);
	CHECK_EQ(again.trace_hash, r.trace_hash);
	printf("# replayed: deadlock again, same steps, trace hash %#llx\n",
	       (unsigned long long)again.trace_hash);
	fault_dio_test_no_order = false;
	sched_pool_destroy(pool);
}

#endif

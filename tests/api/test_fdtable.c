/* SPDX-License-Identifier: MIT */
/*
 * The fd table's lock-free lookup (src/api/fdtable.c): fdget under RCU with
 * get_file_unless_zero and a re-check of the slot.
 *
 * Under the deterministic scheduler, one thread looks an fd up while another
 * closes it and opens another file, which gets the same fd (the closed file
 * is kept alive by a dup, so the reference can still be taken): in every
 * schedule, a lookup that returns the closed file returns before the new
 * open did. With the re-check switched off (fdtable_test_no_recheck) some
 * schedules - those that run the close and the open inside the lookup's
 * window between loading the slot and taking the reference - return the
 * closed file after the fd named the new one. Then, free-running, readers
 * read through fds while another thread opens, dups and closes enough files
 * to grow the table under them (old arrays and closed files freed after a
 * grace period: ASan and TSan check the lifetimes). Random tests print their
 * seed. No sleeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/engine.h"
#include "basic_fixture.h"
#include "harness.h"
#include "kernel/rng.h"
#include "kernel/sched.h"

#if PC_SCHED_HOOKS
struct reuse {
	struct pc_engine *e;
	int fd, dupfd;		 /* "a" and a dup that keeps it alive */
	struct file *fa;	 /* a's struct file */
	struct file *got;	 /* what the lookup returned */
	bool reopened;		 /* the closer's open of "b" returned */
	bool reopened_at_return; /* ... before the lookup returned */
	int newfd;
};

static void reuse_fn(void *arg, unsigned idx)
{
	struct reuse *r = arg;

	if (idx == 0) {
		r->got = fdget(&r->e->fdt, r->fd);
		/* no scheduling point between the lookup's last one and here */
		r->reopened_at_return = __atomic_load_n(&r->reopened, __ATOMIC_RELAXED);
	} else {
		CHECK_EQ(pc_close(r->e, r->fd), 0);
		r->newfd = pc_open(r->e, "b", O_RDONLY, 0);
		__atomic_store_n(&r->reopened, true, __ATOMIC_RELAXED);
	}
}

#ifndef PCT_STEPS
#define PCT_STEPS 80
#endif

/* Runs @n schedules; returns how many returned "a" after "b" was open. */
static unsigned long reuse_runs(unsigned long n, bool pct_only, unsigned long *in_window)
{
	struct pc_engine *e = engine();
	struct sched_pool *pool = sched_pool_create(2);
	uint64_t base = test_seed();
	unsigned long late = 0;
	char buf[PG];

	fill(buf, PG, 1, 0);
	CHECK_EQ(pc_close(e, new_file(e, "a", buf, PG, 1)), 0);
	CHECK_EQ(pc_close(e, new_file(e, "b", buf, PG, 2)), 0);
	*in_window = 0;
	for (unsigned long i = 0; i < n; i++) {
		/* PCT with one change point within the run's few steps: the
		 * lookup's window is one of them */
		struct sched_config cfg = {.seed = base + i,
					   .strategy =
					       pct_only || i & 1 ? SCHED_PCT : SCHED_RANDOM_WALK,
					   .pct_depth = 2,
					   .pct_steps = PCT_STEPS};
		struct reuse r = {.e = e};

		r.fd = pc_open(e, "a", O_RDONLY, 0);
		CHECK(r.fd >= 0);
		r.dupfd = pc_dup(e, r.fd);
		CHECK(r.dupfd > r.fd);
		r.fa = fdget(&e->fdt, r.fd);
		fdput(e, r.fa);
		struct sched_result res = sched_run(pool, &cfg, reuse_fn, &r);
		CHECKF(res.status == SCHED_OK, "seed 0x%" PRIx64, base + i);
		CHECKF(r.newfd == r.fd, "seed 0x%" PRIx64 ": the open got fd %d, not %d", base + i,
		       r.newfd, r.fd);
		/* NULL: looked up between the close and the open */
		if (r.got == r.fa && r.reopened_at_return)
			late++;
		if (r.got && r.got != r.fa)
			(*in_window)++; /* the lookup saw the new file */
		if (r.got)
			fdput(e, r.got);
		CHECK_EQ(pc_close(e, r.newfd), 0);
		CHECK_EQ(pc_close(e, r.dupfd), 0);
	}
	sched_pool_destroy(pool);
	CHECK_EQ(pc_engine_close(e), 0);
	return late;
}

TEST(fdget_vs_close_and_reuse)
{
	unsigned long n = test_scale(2000, 10), saw_b, late = reuse_runs(n, false, &saw_b);

	printf("# %lu schedules, %lu lookups got the new file, %lu the closed one late\n", n, saw_b,
	       late);
	CHECK_EQ(late, 0);
	CHECK(saw_b > 0);
}

TEST(fdget_without_recheck_returns_closed_file)
{
	unsigned long n = 10000, saw_b, late; /* not scaled: the hazard is rare */

	fdtable_test_no_recheck = true;
	late = reuse_runs(n, true, &saw_b);
	fdtable_test_no_recheck = false;
	printf("# %lu schedules, %lu lookups returned the closed file after the new open\n", n,
	       late);
	CHECK(late > 0);
}
#endif

/* ---- free-running: lookups while the table grows and files come and go ---- */

#define NSTABLE 4

struct churn {
	struct pc_engine *e;
	int fd[NSTABLE]; /* files "s0".."s3", seed 10 + i, never closed meanwhile */
	uint32_t stop;
	unsigned long bad, reads;
	uint64_t seed;
};

static void *churn_reader(void *p)
{
	struct churn *c = p;
	char buf[256], want[256];
	struct rng r;

	rng_seed(&r, c->seed ^ (uint64_t)pthread_self());
	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		unsigned i = (unsigned)rng_below(&r, NSTABLE);
		uint64_t off = rng_below(&r, PG - sizeof(buf));

		fill(want, sizeof(want), 10 + i, off);
		if (pc_pread(c->e, c->fd[i], buf, sizeof(buf), (off_t)off) !=
			(ssize_t)sizeof(buf) ||
		    memcmp(buf, want, sizeof(buf)))
			__atomic_fetch_add(&c->bad, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&c->reads, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

TEST(lookups_while_the_table_grows)
{
	struct churn c = {.e = engine(), .seed = test_seed()};
	unsigned rounds = (unsigned)test_scale(40, 4);
	char buf[PG], name[8];
	pthread_t th[2];
	int *fds = malloc(4096 * sizeof(int));

	CHECK(fds != NULL);
	for (int i = 0; i < NSTABLE; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		fill(buf, PG, 10 + (unsigned)i, 0);
		c.fd[i] = new_file(c.e, name, buf, PG, 10 + (unsigned)i);
	}
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&th[i], NULL, churn_reader, &c) == 0);
	/* Each round opens and dups up to 4096 fds (the table grows from 64
	 * slots up, under the readers) and closes them again. */
	for (unsigned k = 0; k < rounds; k++) {
		unsigned n = 64u << (k % 7);

		for (unsigned j = 0; j < n; j++) {
			fds[j] = j & 1 ? pc_dup(c.e, c.fd[j % NSTABLE])
				       : pc_open(c.e, "s0", O_RDONLY, 0);
			CHECK(fds[j] >= 0);
		}
		for (unsigned j = 0; j < n; j++)
			CHECK_EQ(pc_close(c.e, fds[j]), 0);
	}
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	printf("# %lu reads during %u rounds of opens and closes\n", c.reads, rounds);
	CHECK_EQ(c.bad, 0);
	CHECK(c.reads > 0);
	for (int i = 0; i < NSTABLE; i++)
		CHECK_EQ(pc_close(c.e, c.fd[i]), 0);
	CHECK_EQ(pc_engine_close(c.e), 0);
	free(fds);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_dio_h6.c - hazard H6 (docs/design.md §2, §7.5): the fault
 * handler's "drop your locks and retry" must reach the I/O path as its own
 * signal, never as EFAULT, and a genuinely bad buffer must still give
 * EFAULT (or the bytes done before it).
 *
 * (a) Bad pointers: O_DIRECT pwrite/pread from/to PROT_NONE memory, from a
 *     buffer whose second half is PROT_NONE (the first half's bytes come
 *     back), into read-only memory, from a view page beyond the viewed
 *     file's EOF (SIGBUS territory): -EFAULT or the bytes done, the file
 *     unchanged beyond them.
 * (b) Restarts: P1/P2 (test_dio_h5.c) under the deterministic scheduler
 *     with the rule on, over many schedules: the handler drops BLOCK and
 *     restarts (counted: dio_dropped > 0, and the threads' fault_retries),
 *     yet every pwrite returns the full count and the data is right - no
 *     restart ever reaches the caller.
 * (c) The switch: with the rule's bits ignored (dio_test_restart_as_efault)
 *     the DIO sees only how much of its buffer came in, and an O_DIRECT
 *     pwrite from a view of its own range (a refused fault-in, normally
 *     bounced) returns -EFAULT for a valid buffer; with the bits it
 *     completes.
 */
#include "fs/file.h"
#include "kernel/sched.h"
#include "kernel/task.h"
#include "test_dio_fixture.h"

#define NPG 8

static uint32_t file_page(struct pc_engine *e, int fd, int k)
{
	char *b = dio_abuf(PG);
	uint32_t s;

	CHECK_EQ(pc_pread(e, fd, b, PG, (off_t)k * PG), PG);
	s = page_stamp(b);
	free(b);
	return s;
}

TEST(h6_bad_pointers_give_efault_or_bytes_done)
{
	struct pc_engine *e = dio_engine(PC_POLICY_TWO_STATE);
	int fd = pc_open(e, "f", O_RDWR | O_CREAT | O_TRUNC, 0644), dfd;
	char *good = dio_abuf(NPG * PG), *bad, *ro, *view;
	struct pc_stats st0, st1;

	CHECK(fd >= 0);
	dfd = dio_open(e, "f", O_RDWR);
	for (int k = 0; k < NPG; k++)
		stamp_page(good + (size_t)k * PG, 0x60 + (uint32_t)k);
	CHECK_EQ(pc_pwrite(e, dfd, good, NPG * PG, 0), NPG * PG);
	st0 = dio_stats(e);

	/* wholly bad */
	bad = mmap(NULL, 4 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(bad != MAP_FAILED);
	CHECK_EQ(pc_pwrite(e, dfd, bad, 2 * PG, 0), -EFAULT);
	CHECK_EQ(pc_pread(e, dfd, bad, 2 * PG, 0), -EFAULT);
	CHECK_EQ(file_page(e, fd, 0), 0x60);

	/* half good: the good half is done and counted */
	CHECK_EQ(mprotect(bad, 2 * PG, PROT_READ | PROT_WRITE), 0);
	stamp_page(bad, 0x77);
	stamp_page(bad + PG, 0x78);
	CHECK_EQ(pc_pwrite(e, dfd, bad, 4 * PG, 0), 2 * PG);
	CHECK_EQ(file_page(e, fd, 0), 0x77);
	CHECK_EQ(file_page(e, fd, 1), 0x78);
	CHECK_EQ(file_page(e, fd, 2), 0x62);
	CHECK_EQ(pc_pread(e, dfd, bad, 4 * PG, 2 * PG), 2 * PG);
	CHECK_EQ(page_stamp(bad), 0x62);
	CHECK_EQ(page_stamp(bad + PG), 0x63);

	/* read-only memory cannot take a read */
	ro = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ro != MAP_FAILED);
	CHECK_EQ(pc_pread(e, dfd, ro, PG, 0), -EFAULT);
	CHECK_EQ(pc_pwrite(e, dfd, ro, PG, 3 * PG), PG); /* zeroes: readable */
	CHECK_EQ(file_page(e, fd, 3), 0);

	/* a view of a file, past that file's EOF */
	{
		int g = pc_open(e, "short", O_RDWR | O_CREAT | O_TRUNC, 0644);

		CHECK(g >= 0);
		CHECK_EQ(pc_pwrite(e, g, good, PG, 0), PG);
		view = dio_map(e, g, 4 * PG, PROT_READ, 0);
		CHECK_EQ(pc_pwrite(e, dfd, view, 4 * PG, 4 * PG), PG); /* page 0 only */
		CHECK_EQ(file_page(e, fd, 4), 0x60);
		CHECK_EQ(file_page(e, fd, 5), 0x65);
		CHECK_EQ(pc_pwrite(e, dfd, view + PG, PG, 4 * PG), -EFAULT);
		CHECK_EQ(pc_munmap(e, view, 4 * PG), 0);
		CHECK_EQ(pc_close(e, g), 0);
	}
	st1 = dio_stats(e);
	printf("# bad pointers: %llu retries, %llu restarts, %llu bounced\n",
	       (unsigned long long)(st1.dio_retries - st0.dio_retries),
	       (unsigned long long)(st1.dio_dropped - st0.dio_dropped),
	       (unsigned long long)(st1.dio_bounced - st0.dio_bounced));
	munmap(bad, 4 * PG);
	munmap(ro, PG);
	free(good);
	CHECK_EQ(pc_close(e, dfd), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

#if PC_SCHED_HOOKS

static struct {
	struct pc_engine *e;
	int fd[2], dfd[2];
	char *view[2];
	ssize_t res[2];
	uint64_t retries[2];
} P;

static void body(void *arg, unsigned idx)
{
	uint64_t r0 = current->stats.fault_retries;

	P.res[idx] = pc_pwrite(P.e, P.dfd[idx], P.view[!idx] + PG, PG, 0);
	P.retries[idx] += current->stats.fault_retries - r0;
}

TEST(h6_restarts_never_reach_the_caller)
{
	uint64_t base = test_seed();
	unsigned long n = test_scale(3000, 30);
	struct sched_pool *pool = sched_pool_create(2);
	char *buf = dio_abuf(2 * PG);
	struct pc_stats st;

	P.e = dio_engine(PC_POLICY_TWO_STATE);
	for (int i = 0; i < 2; i++) {
		P.fd[i] = pc_open(P.e, i ? "b" : "a", O_RDWR | O_CREAT | O_TRUNC, 0644);
		CHECK(P.fd[i] >= 0);
		P.dfd[i] = dio_open(P.e, i ? "b" : "a", O_RDWR);
		stamp_page(buf, 0xa0 + (uint32_t)i);
		stamp_page(buf + PG, 0xb0 + (uint32_t)i);
		CHECK_EQ(pc_pwrite(P.e, P.dfd[i], buf, 2 * PG, 0), 2 * PG);
		P.view[i] = dio_map(P.e, P.fd[i], 2 * PG, PROT_READ, 0);
	}
	for (unsigned long s = 0; s < n; s++) {
		struct sched_config cfg = {.seed = base + s,
					   .strategy = s & 1 ? SCHED_PCT : SCHED_RANDOM_WALK};
		struct sched_result r;

		for (int i = 0; i < 2; i++) {
			CHECK_EQ(pc_fdatasync(P.e, P.fd[i]), 0);
			CHECK_EQ(pc_fadvise(P.e, P.fd[i], 0, 0, POSIX_FADV_DONTNEED), 0);
		}
		r = sched_run(pool, &cfg, body, NULL);
		CHECKF(r.status == SCHED_OK, "seed %#llx", (unsigned long long)(base + s));
		for (int i = 0; i < 2; i++) {
			CHECKF(P.res[i] == PG, "seed %#llx: P%d: %zd",
			       (unsigned long long)(base + s), i + 1, P.res[i]);
			CHECK_EQ(pc_pread(P.e, P.fd[i], buf, PG, 0), PG);
			CHECK_EQ(page_stamp(buf), 0xb0 + (uint32_t)!i);
		}
	}
	st = dio_stats(P.e);
	printf("# %lu schedules: BLOCK dropped + restarted %llu times (fault_retries P1 %llu, "
	       "P2 %llu), every pwrite returned %d\n",
	       n, (unsigned long long)st.dio_dropped, (unsigned long long)P.retries[0],
	       (unsigned long long)P.retries[1], PG);
	CHECK(st.dio_dropped > 0);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(pc_munmap(P.e, P.view[i], 2 * PG), 0);
		CHECK_EQ(pc_close(P.e, P.dfd[i]), 0);
		CHECK_EQ(pc_close(P.e, P.fd[i]), 0);
	}
	CHECK_EQ(pc_engine_close(P.e), 0);
	free(buf);
	sched_pool_destroy(pool);
}

#endif

TEST(h6_switch_off_valid_buffer_gets_efault)
{
	struct pc_engine *e = dio_engine(PC_POLICY_TWO_STATE);
	int fd = pc_open(e, "s", O_RDWR | O_CREAT | O_TRUNC, 0644), dfd;
	char *b = dio_abuf(2 * PG), *view;
	ssize_t r[2];

	CHECK(fd >= 0);
	dfd = dio_open(e, "s", O_RDWR);
	CHECK_EQ(pc_ftruncate(e, fd, 2 * PG), 0);
	view = dio_map(e, fd, 2 * PG, PROT_READ | PROT_WRITE, 0);
	for (int on = 1; on >= 0; on--) {
		stamp_page(b, 0x600 + (uint32_t)on);
		stamp_page(b + PG, 0x700 + (uint32_t)on);
		/* an O_DIRECT write: neither page stays in the cache or the view */
		CHECK_EQ(pc_pwrite(e, dfd, b, 2 * PG, 0), 2 * PG);
		dio_test_restart_as_efault = on;
		r[on] = pc_pwrite(e, dfd, view + PG, PG, PG);
		dio_test_restart_as_efault = false;
	}
	printf("# own range from a valid view: %zd with the switch on, %zd off\n", r[1], r[0]);
	CHECKF(r[1] == -EFAULT, "switch on: %zd, want -EFAULT (the hazard)", r[1]);
	CHECK_EQ(r[0], PG);
	CHECK_EQ(file_page(e, fd, 1), 0x700);
	CHECK_EQ(pc_munmap(e, view, 2 * PG), 0);
	free(b);
	CHECK_EQ(pc_close(e, dfd), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_dio_h3.c - hazard H3 (docs/design.md §2, §7.5): an O_DIRECT write must
 * leave no stale page in the cache, and no page of its range may be
 * faulted or read back in while it runs.
 *
 * One writer O_DIRECT-writes the whole range again and again, each time
 * with a higher stamp, and publishes the stamp once pwrite has returned.
 * Readers meanwhile read the range buffered (pread), load through a view,
 * and fadvise(WILLNEED) it before reading. The invariant: a page read by an
 * access that STARTED after the write of stamp g RETURNED holds a stamp >=
 * g (the stamp is sampled before each access). A free-running scheduling
 * hook widens the writer's window "dio write: range invalidated, store not
 * yet written" until some reader has filled a page from the store (at
 * most 10 yields). Policy TWO_STATE: no stale page, ever. Policy NONE_UNSAFE (no
 * BLOCK): the test must see stale pages - the hazard shows.
 */
#include <pthread.h>
#include <sched.h>

#include "kernel/rng.h"
#include "kernel/sched.h"
#include "kernel/task.h"
#include "kernel/watchdog.h"
#include "store/store.h"
#include "api/engine_internal.h"
#include "test_dio_fixture.h"

#define NPG	 16
#define NREADERS 2

static struct {
	struct pc_engine *e;
	int fd, dfd;
	char *view;
	uint32_t published; /* atomic: the last stamp whose pwrite returned */
	int stop;	    /* atomic */
	uint64_t seed;
	unsigned long stale, reads, writes;
	unsigned long fills; /* atomic: store reads (fills) seen by the hook */
	char detail[160];
} H;

static int count_fills(void *arg, enum store_op op, struct store_inode *si, int64_t pos,
		       int64_t len)
{
	if (op == STORE_OP_READ)
		__atomic_fetch_add(&H.fills, 1, __ATOMIC_RELAXED);
	return 0;
}

/* Holds the writer in its window until a reader filled a page (bounded). */
static void widen(enum sched_event ev, const void *obj, const char *what)
{
	unsigned long f0;

	if (ev != SP_RACE || strcmp(what, "dio write: range invalidated, store not yet written"))
		return;
	f0 = __atomic_load_n(&H.fills, __ATOMIC_RELAXED);
	for (int i = 0; i < 10 && __atomic_load_n(&H.fills, __ATOMIC_RELAXED) == f0; i++)
		sched_yield();
}

static void check_page(const char *how, const char *p, int k, uint32_t since)
{
	const uint32_t *w = (const uint32_t *)p;
	uint32_t s = w[0];

	/* A load through a view may see a page torn between two stamps (the
	 * write went on meanwhile): each word must be fresh enough. */
	for (size_t i = 1; i < PG / 4; i++)
		if (w[i] < s)
			s = w[i];
	if (s < since) {
		if (!__atomic_fetch_add(&H.stale, 1, __ATOMIC_RELAXED))
			snprintf(H.detail, sizeof(H.detail),
				 "%s: page %d holds %#x, but stamp %#x had been written before "
				 "the read started",
				 how, k, s, since);
	}
}

static void *reader(void *arg)
{
	struct rng r;
	char *buf = dio_abuf(PG);

	rng_seed(&r, H.seed + (uintptr_t)arg);
	task_set_watched(true);
	while (!__atomic_load_n(&H.stop, __ATOMIC_ACQUIRE)) {
		int k = (int)rng_below(&r, NPG);
		uint32_t since = __atomic_load_n(&H.published, __ATOMIC_ACQUIRE);

		switch (rng_below(&r, 3)) {
		case 0:
			CHECK_EQ(pc_pread(H.e, H.fd, buf, PG, (off_t)k * PG), PG);
			check_page("pread", buf, k, since);
			break;
		case 1: /* a load through the view: a fault, or an installed page */
			memcpy(buf, H.view + (size_t)k * PG, PG);
			check_page("view", buf, k, since);
			break;
		default:
			CHECK_EQ(pc_fadvise(H.e, H.fd, 0, NPG * PG, POSIX_FADV_WILLNEED), 0);
			CHECK_EQ(pc_pread(H.e, H.fd, buf, PG, (off_t)k * PG), PG);
			check_page("fadvise(WILLNEED) + pread", buf, k, since);
			break;
		}
		__atomic_fetch_add(&H.reads, 1, __ATOMIC_RELAXED);
	}
	task_set_watched(false);
	free(buf);
	return NULL;
}

static void run(enum pc_lock_policy policy, unsigned long writes)
{
	pthread_t t[NREADERS];
	char *buf = dio_abuf(NPG * PG);

	memset(&H, 0, sizeof(H));
	H.seed = test_seed();
	H.e = dio_engine(policy);
	H.fd = pc_open(H.e, "f", O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(H.fd >= 0);
	H.dfd = dio_open(H.e, "f", O_RDWR);
	for (int k = 0; k < NPG; k++)
		stamp_page(buf + (size_t)k * PG, 1);
	CHECK_EQ(pc_pwrite(H.e, H.dfd, buf, NPG * PG, 0), NPG * PG);
	H.published = 1;
	H.view = dio_map(H.e, H.fd, NPG * PG, PROT_READ, 0);
	store_inject_hook(pc_engine_store(H.e), count_fills, NULL);
	sched_set_hook(widen);
	CHECK_EQ(watchdog_start(20000, NULL), 0);
	for (uintptr_t i = 0; i < NREADERS; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, reader, (void *)i), 0);
	task_set_watched(true);
	for (uint32_t g = 2; g < writes + 2; g++) {
		for (int k = 0; k < NPG; k++)
			stamp_page(buf + (size_t)k * PG, g);
		CHECK_EQ(pc_pwrite(H.e, H.dfd, buf, NPG * PG, 0), NPG * PG);
		__atomic_store_n(&H.published, g, __ATOMIC_RELEASE);
		H.writes++;
		/* after it returned: this thread's own reads too */
		CHECK_EQ(pc_pread(H.e, H.fd, buf, PG, (off_t)(g % NPG) * PG), PG);
		check_page("the writer's pread", buf, (int)(g % NPG), g);
	}
	task_set_watched(false);
	__atomic_store_n(&H.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < NREADERS; i++)
		pthread_join(t[i], NULL);
	watchdog_stop();
	sched_set_hook(NULL);
	store_inject_hook(pc_engine_store(H.e), NULL, NULL);
	CHECK_EQ(pc_munmap(H.e, H.view, NPG * PG), 0);
	free(buf);
	CHECK_EQ(pc_close(H.e, H.dfd), 0);
	CHECK_EQ(pc_close(H.e, H.fd), 0);
	CHECK_EQ(pc_engine_close(H.e), 0);
}

TEST(h3_dio_write_leaves_no_stale_page)
{
	unsigned long n = test_scale(500, 10);

	run(PC_POLICY_TWO_STATE, n);
	printf("# TWO_STATE: %lu O_DIRECT writes, %lu checked reads, %lu fills, %lu stale\n",
	       H.writes, H.reads, H.fills, H.stale);
	CHECKF(H.stale == 0, "%lu stale: %s", H.stale, H.detail);
}

TEST(h3_none_unsafe_shows_stale_pages)
{
	unsigned long n = test_scale(200, 4);

	run(PC_POLICY_NONE_UNSAFE, n);
	printf("# NONE_UNSAFE: %lu O_DIRECT writes, %lu checked reads, %lu stale: %s\n", H.writes,
	       H.reads, H.stale, H.detail);
	CHECKF(H.stale > 0, "no stale page in %lu writes without BLOCK", H.writes);
}

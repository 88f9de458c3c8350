/* SPDX-License-Identifier: MIT */
/*
 * test_mmap_ra_bg.c - background readahead seen from views (the fault path
 * of src/mm/fault.c over src/mm/readahead_worker.c):
 *   - a fault on a page whose background read failed reads it again and
 *     gets the data, or SIGBUS while the store keeps failing, then the data
 *     once it recovers (filemap_fault -> page_not_uptodate -> re-read);
 *   - faults racing punches of the range being read ahead: a fault that
 *     began after a punch completed never returns bytes from before it,
 *     and every page reads zero after it (random, seed printed);
 *   - engine close with a background read in flight waits for it.
 * The files are written on the host, so the engine starts cold. Takes no
 * locks.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "api/engine_internal.h"
#include "basic_fixture.h"
#include "harness.h"
#include "kernel/futex.h"
#include "kernel/rng.h"
#include "kernel/sched.h"
#include "pagecache.h"
#include "store/store.h"

#define TAG 0xabcd000000000000ull

/* A host file of @npages pages, page i starting with the 8 bytes of i ^ TAG
 * (never 0). */
static void host_file(const char *name, size_t npages)
{
	char path[1400];
	int hfd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	hfd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(hfd >= 0);
	CHECK_EQ(ftruncate(hfd, (off_t)(npages * PG)), 0);
	for (size_t i = 0; i < npages; i++) {
		uint64_t v = i ^ TAG;
		CHECK_EQ(pwrite(hfd, &v, sizeof(v), (off_t)(i * PG)), (ssize_t)sizeof(v));
	}
	CHECK_EQ(close(hfd), 0);
}

/* 128 KiB readahead windows (32 pages) for reads and faults alike. */
static struct pc_engine *engine_ra(const char *d)
{
	struct pc_options o = {.size = sizeof(o),
			       .store_dir = d,
			       .readahead_max = 128u << 10,
			       .writeback_interval_ms = 600000};
	struct pc_engine *e = NULL;

	CHECK_EQ(pc_engine_open(&o, &e), 0);
	return e;
}

static uint64_t load(const char *p, size_t i)
{
	uint64_t v;

	memcpy(&v, p + i * PG, sizeof(v)); /* faults */
	return v;
}

static pthread_t main_thread;

static bool on_main(void)
{
	return pthread_equal(pthread_self(), main_thread);
}

/* The application's SIGBUS handler, installed before the engine's. */
__attribute__((constructor)) static void install_app_handler(void)
{
	install_bus_catcher();
}

/* ---- a failed background read ---- */

/* atomic: 1: the first read of the run holding page 70 fails (a worker's,
 * or this thread's if it took the queued run over: readahead_steal), 2:
 * every read */
static int fail_mode;
static unsigned long bg_failed; /* atomic: reads failed by the hook */

static int fail_hook(void *arg, enum store_op op, struct store_inode *si, int64_t pos, int64_t len)
{
	int f = __atomic_load_n(&fail_mode, __ATOMIC_ACQUIRE);

	if (op != STORE_OP_READ)
		return 0;
	if (f == 1 && pos <= 70 * (int64_t)PG && pos + len > 70 * (int64_t)PG &&
	    len > (int64_t)PG && __atomic_exchange_n(&fail_mode, 0, __ATOMIC_ACQ_REL) == 1) {
		__atomic_fetch_add(&bg_failed, 1, __ATOMIC_RELAXED);
		return -EIO;
	}
	if (f != 2)
		return 0;
	__atomic_fetch_add(&bg_failed, 1, __ATOMIC_RELAXED);
	return -EIO;
}

TEST(fault_after_failed_background_read)
{
	enum { NPAGES = 256 };
	const char *d = fresh();
	struct pc_engine *e;
	int fd;

	host_file("e", NPAGES);
	e = engine_ra(d);
	fd = pc_open(e, "e", O_RDONLY, 0);
	CHECK(fd >= 0);
	char *p = map_view(e, fd, NPAGES * PG, PROT_READ, MAP_SHARED, 0);
	main_thread = pthread_self();
	bg_failed = 0;
	__atomic_store_n(&fail_mode, 1, __ATOMIC_RELEASE);
	store_inject_hook(pc_engine_store(e), fail_hook, NULL);
	/* Read-around at page 80: 80..95 read by this fault, 64..79 queued
	 * for a worker; that run's read fails. */
	CHECK_EQ(load(p, 80), 80 ^ TAG);
	/* The fault on page 70 finds the run's read failed (after waiting for
	 * the worker, or reading the queued run itself) and reads the page
	 * again. */
	CHECK_EQ(load(p, 70), 70 ^ TAG);
	printf("# background reads failed: %lu\n", __atomic_load_n(&bg_failed, __ATOMIC_RELAXED));
	CHECK(__atomic_load_n(&bg_failed, __ATOMIC_RELAXED) > 0);
	/* The store keeps failing: the fault on page 72 (still not uptodate)
	 * gets SIGBUS; once it recovers, the data. */
	__atomic_store_n(&fail_mode, 2, __ATOMIC_RELEASE);
	CHECK(touch_bus(p + 72 * PG));
	__atomic_store_n(&fail_mode, 0, __ATOMIC_RELEASE);
	CHECK(!touch_bus(p + 72 * PG));
	for (size_t i = 0; i < NPAGES; i++)
		CHECK_EQ(load(p, i), i ^ TAG);
	store_inject_hook(pc_engine_store(e), NULL, NULL);
	CHECK_EQ(pc_munmap(e, p, NPAGES * PG), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

/* ---- faults racing punches ---- */

struct puncher {
	struct pc_engine *e;
	int fd;
	size_t first, nr; /* pages */
	uint32_t start;	  /* atomic: go */
	uint32_t punched; /* atomic: the punch returned */
};

static void *punch_fn(void *arg)
{
	struct puncher *pu = arg;

	while (!__atomic_load_n(&pu->start, __ATOMIC_ACQUIRE))
		futex_wait(&pu->start, 0, NULL);
	CHECK_EQ(pc_fallocate(pu->e, pu->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)(pu->first * PG), (off_t)(pu->nr * PG)),
		 0);
	__atomic_store_n(&pu->punched, 1, __ATOMIC_RELEASE);
	return NULL;
}

TEST(faults_vs_punch_never_stale)
{
	enum { NPAGES = 1024 };
	const char *d = fresh();
	uint64_t seed = test_seed();
	struct rng r;
	unsigned rounds = (unsigned)test_scale(40, 4), after = 0;
	struct pc_engine *e = engine_ra(d);

	rng_seed(&r, seed);
	for (unsigned round = 0; round < rounds; round++) {
		char name[32];
		struct puncher pu = {.e = e};
		pthread_t th;

		snprintf(name, sizeof(name), "r%u", round);
		host_file(name, NPAGES);
		pu.fd = pc_open(e, name, O_RDWR, 0);
		CHECK(pu.fd >= 0);
		char *p = map_view(e, pu.fd, NPAGES * PG, PROT_READ, MAP_SHARED, 0);
		size_t start = rng_below(&r, NPAGES);
		pu.first = start + rng_below(&r, 96);
		pu.nr = 1 + rng_below(&r, 128);
		if (pu.first + pu.nr > NPAGES)
			pu.first = NPAGES - pu.nr;
		CHECK_EQ(pthread_create(&th, NULL, punch_fn, &pu), 0);
		/* Sequential faults from @start: read-around, then windows read
		 * ahead at the marks, over the range being punched. */
		for (size_t k = 0; k < NPAGES; k++) {
			size_t i = (start + k) % NPAGES;
			bool in = i >= pu.first && i < pu.first + pu.nr;

			if (k == 4) {
				__atomic_store_n(&pu.start, 1, __ATOMIC_RELEASE);
				futex_wake(&pu.start, 1);
			}
			bool was = __atomic_load_n(&pu.punched, __ATOMIC_ACQUIRE);
			uint64_t v = load(p, i);

			if (in && was) {
				after++;
				CHECKF(v == 0, "round %u page %zu: %llx after the punch", round, i,
				       (unsigned long long)v);
			} else {
				CHECKF(v == (i ^ TAG) || (in && v == 0), "round %u page %zu: %llx",
				       round, i, (unsigned long long)v);
			}
		}
		CHECK_EQ(pthread_join(th, NULL), 0);
		for (size_t i = 0; i < NPAGES; i++) {
			bool in = i >= pu.first && i < pu.first + pu.nr;

			CHECK_EQ(load(p, i), in ? 0 : i ^ TAG);
		}
		CHECK_EQ(pc_munmap(e, p, NPAGES * PG), 0);
		CHECK_EQ(pc_close(e, pu.fd), 0);
	}
	printf("# %u rounds, %u pages of a punched range faulted after its punch\n", rounds, after);
	CHECK_EQ(pc_engine_close(e), 0); /* waits for the pages still being read */
}

/* ---- engine close with a read in flight ---- */

static uint32_t closing; /* atomic: close waits for the read */
static uint32_t held;	 /* atomic: a worker's read waits in the hook */

static int hold_hook(void *arg, enum store_op op, struct store_inode *si, int64_t pos, int64_t len)
{
	if (op == STORE_OP_READ && !on_main() && !__atomic_exchange_n(&held, 1, __ATOMIC_ACQ_REL))
		while (!__atomic_load_n(&closing, __ATOMIC_ACQUIRE))
			futex_wait(&closing, 0, NULL);
	return 0;
}

static void close_wait_hook(enum sched_event ev, const void *obj, const char *what)
{
	if (ev == SP_WAIT && what && !strcmp(what, "readahead_inflight") && on_main()) {
		__atomic_store_n(&closing, 1, __ATOMIC_RELEASE);
		futex_wake(&closing, 1);
	}
}

TEST(engine_close_with_readahead_in_flight)
{
	enum { NPAGES = 512 };
	const char *d = fresh();
	struct pc_engine *e;
	int fd;

	host_file("c", NPAGES);
	e = engine_ra(d);
	fd = pc_open(e, "c", O_RDONLY, 0);
	CHECK(fd >= 0);
	char *p = map_view(e, fd, NPAGES * PG, PROT_READ, MAP_SHARED, 0);
	main_thread = pthread_self();
	closing = held = 0;
	store_inject_hook(pc_engine_store(e), hold_hook, NULL);
	CHECK_EQ(load(p, 80), 80 ^ TAG); /* 64..79 go to a worker, held there */
	/* The read goes on once a teardown waits for it (no scheduling points
	 * in release builds: at the close). */
	sched_set_hook(close_wait_hook);
	CHECK_EQ(pc_munmap(e, p, NPAGES * PG), 0);
	CHECK_EQ(pc_close(e, fd), 0);
#if !PC_SCHED_HOOKS
	__atomic_store_n(&closing, 1, __ATOMIC_RELEASE);
	futex_wake(&closing, 1);
#endif
	CHECK_EQ(pc_engine_close(e), 0);
	sched_set_hook(NULL);
	CHECK_EQ(__atomic_load_n(&held, __ATOMIC_ACQUIRE), 1);
	CHECK_EQ(__atomic_load_n(&closing, __ATOMIC_ACQUIRE), 1);
}

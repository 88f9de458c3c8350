/* SPDX-License-Identifier: MIT */
/*
 * test_readahead_bg.c - background readahead (src/mm/readahead_worker.c):
 * the runs of a readahead window nobody waits for are read by the cache's
 * workers, the pages added locked under ADD and unlocked when read.
 *   - a window is read partly by the workers, the pages end uptodate and
 *     unlocked, every page counted once in misses;
 *   - a punch that dropped the range before the readahead started keeps
 *     it out (the trylock of ADD fails under BLOCK: no page is added), and
 *     the switch readahead_test_no_add_lock (pages added with no fence)
 *     shows a page read from the store before its punch, cached after it;
 *   - a failed background read leaves its pages !uptodate with PG_error and
 *     unlocked; a read re-reads them, and gets -EIO only while the store
 *     keeps failing;
 *   - mapping_destroy waits for a background read in flight.
 * Threads meet through atomics and real waits (store hooks that hold a
 * worker's read until the test says so), never sleeps. Takes no locks of
 * its own beyond the fixture's calls.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>

#include "filemap_fixture.h"
#include "kernel/futex.h"
#include "kernel/sched.h"

#define NPAGES 256ul

static pthread_t main_thread;

static bool on_main(void)
{
	return pthread_equal(pthread_self(), main_thread);
}

static unsigned char *pattern(size_t npages, unsigned gen)
{
	unsigned char *b = malloc(npages * PG);

	CHECK(b != NULL);
	fill_pat(b, npages * PG, 0, gen);
	return b;
}

/* Every page of the mapping: not locked; returns how many are uptodate. */
static unsigned check_unlocked(struct fm *t)
{
	unsigned up = 0;

	for (pgoff_t i = 0; i < NPAGES; i++) {
		struct page *p = find_get_page(&t->m.i_pages, i);

		if (!p)
			continue;
		CHECKF(!PageLocked(p), "page %lu left locked", (unsigned long)i);
		up += PageUptodate(p);
		put_page(p);
	}
	return up;
}

/* ---- store hooks ---- */

static unsigned long bg_reads; /* atomic: store reads by other threads */

static int count_hook(void *arg, enum store_op op, struct store_inode *si, int64_t pos, int64_t len)
{
	if (op == STORE_OP_READ && !on_main())
		__atomic_fetch_add(&bg_reads, 1, __ATOMIC_RELAXED);
	return 0;
}

TEST(window_read_by_workers)
{
	unsigned char *data = pattern(NPAGES, 1), buf[PG];
	struct fm t;

	main_thread = pthread_self();
	fm_setup(&t, data, NPAGES * PG);
	bg_reads = 0;
	store_inject_hook(t.s, count_hook, NULL);
	/* A fault's read-around at page 80: 80..95 read here, 64..79 by a
	 * worker (nobody waits for them: no reader takes the run over). */
	page_cache_read_around(&t.m, &t.ra, 80);
	mapping_ra_wait(&t.m);
	CHECK(__atomic_load_n(&bg_reads, __ATOMIC_RELAXED) > 0);
	/* A sequential reader: every later window starts at a mark (a run
	 * still queued when the reader needs it is read by the reader). */
	t.ra = (struct file_ra_state){.ra_pages = t.c.ra_max_pages, .prev_index = (pgoff_t)-1};
	for (pgoff_t i = 0; i < NPAGES; i++) {
		CHECK_EQ(rd(&t, &t.ra, buf, PG, (int64_t)(i * PG), 0), (ssize_t)PG);
		CHECK_EQ(bad_pat(buf, PG, (int64_t)(i * PG), 1), -1);
	}
	mapping_ra_wait(&t.m);
	store_inject_hook(t.s, NULL, NULL);
	printf("# %lu store reads by readahead workers; misses %" PRIu64 ", readahead %" PRIu64
	       "\n",
	       __atomic_load_n(&bg_reads, __ATOMIC_RELAXED), cache_stat_read(&t.c.stats.misses),
	       cache_stat_read(&t.c.stats.readahead_pages));
	CHECK_EQ(check_unlocked(&t), NPAGES);
	CHECK_EQ(cache_stat_read(&t.c.stats.misses), NPAGES); /* each page read once */
	fm_teardown(&t);
	free(data);
}

/* ---- a punch against a readahead window ---- */

struct punch_thread {
	struct fm *t;
	int64_t off, len;
	uint32_t dropped; /* the punch dropped the pages, store not punched yet */
	uint32_t go_on;	  /* the test's readahead is done: punch the store */
};

static void wait_flag(uint32_t *f)
{
	while (!__atomic_load_n(f, __ATOMIC_ACQUIRE))
		futex_wait(f, 0, NULL);
}

static void set_flag(uint32_t *f)
{
	__atomic_store_n(f, 1, __ATOMIC_RELEASE);
	futex_wake(f, 1);
}

/* fallocate(PUNCH_HOLE)'s order (fs/fallocate.c): BLOCK, drop the pages,
 * punch the store, release; paused between the drop and the store punch. */
static void *punch_fn(void *arg)
{
	struct punch_thread *p = arg;

	filemap_invalidate_lock_block(&p->t->m);
	truncate_pagecache_range(&p->t->m, p->off, p->off + p->len - 1);
	set_flag(&p->dropped);
	wait_flag(&p->go_on);
	CHECK_EQ(
	    store_fallocate(p->t->si, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, p->off, p->len),
	    0);
	filemap_invalidate_unlock_block(&p->t->m);
	return NULL;
}

/* Stale pages after the punch (0 when the fence held). */
static unsigned punch_vs_readahead(void)
{
	unsigned char *data = pattern(NPAGES, 2), buf[PG];
	struct punch_thread p = {.off = 64 * PG, .len = 64 * PG};
	unsigned stale = 0;
	pthread_t th;
	struct fm t;

	main_thread = pthread_self();
	fm_setup(&t, data, NPAGES * PG);
	p.t = &t;
	/* The range cached before the punch: the punch must drop it. */
	CHECK_EQ(force_page_cache_readahead(&t.m, 64, 64), 0);
	CHECK_EQ(pthread_create(&th, NULL, punch_fn, &p), 0);
	wait_flag(&p.dropped);
	/* A fault's read-around over the punched range, between the drop and
	 * the store punch: pages 64..79 for the workers, 80..95 read here. */
	page_cache_read_around(&t.m, &t.ra, 80);
	mapping_ra_wait(&t.m);
	set_flag(&p.go_on);
	CHECK_EQ(pthread_join(th, NULL), 0);
	for (pgoff_t i = 64; i < 128; i++) {
		CHECK_EQ(rd(&t, NULL, buf, PG, (int64_t)(i * PG), 0), (ssize_t)PG);
		for (size_t k = 0; k < PG; k++)
			if (buf[k]) {
				stale++;
				break;
			}
	}
	CHECK_EQ(check_unlocked(&t) >= 64, true);
	fm_teardown(&t);
	free(data);
	return stale;
}

TEST(punch_fences_background_readahead)
{
	unsigned stale = punch_vs_readahead();

	printf("# stale pages after the punch: %u\n", stale);
	CHECK_EQ(stale, 0);
}

TEST(punch_without_add_lock_shows_stale)
{
	readahead_test_no_add_lock = true;
	unsigned stale = punch_vs_readahead();
	readahead_test_no_add_lock = false;

	printf("# without ADD: stale pages after the punch: %u\n", stale);
	CHECK(stale > 0);
}

/* ---- errors ---- */

static int fail_reads; /* atomic: 1: background reads fail, 2: all reads */

static int fail_hook(void *arg, enum store_op op, struct store_inode *si, int64_t pos, int64_t len)
{
	int f = __atomic_load_n(&fail_reads, __ATOMIC_ACQUIRE);

	if (op == STORE_OP_READ && (f == 2 || (f == 1 && !on_main())))
		return -EIO;
	return 0;
}

TEST(background_read_error_rereads)
{
	unsigned char *data = pattern(NPAGES, 3), buf[PG];
	unsigned failed = 0;
	struct fm t;

	main_thread = pthread_self();
	fm_setup(&t, data, NPAGES * PG);
	__atomic_store_n(&fail_reads, 1, __ATOMIC_RELEASE);
	store_inject_hook(t.s, fail_hook, NULL);
	/* A fault's read-around at page 80: pages 64..79 go to the workers
	 * (80..95, from the faulting page on, are read here). */
	page_cache_read_around(&t.m, &t.ra, 80);
	mapping_ra_wait(&t.m);
	for (pgoff_t i = 1; i < NPAGES; i++) {
		struct page *p = find_get_page(&t.m.i_pages, i);

		if (!p)
			continue;
		CHECK(!PageLocked(p));
		if (!PageUptodate(p)) {
			CHECK(PageError(p));
			failed++;
		}
		put_page(p);
	}
	printf("# pages whose background read failed: %u\n", failed);
	CHECK(failed > 0);
	/* The store keeps failing: a read of such a page gets the error. */
	__atomic_store_n(&fail_reads, 2, __ATOMIC_RELEASE);
	pgoff_t bad = 0;
	for (pgoff_t i = 1; i < NPAGES && !bad; i++) {
		struct page *p = find_get_page(&t.m.i_pages, i);

		if (p && !PageUptodate(p))
			bad = i;
		if (p)
			put_page(p);
	}
	CHECK(bad != 0);
	CHECK_EQ(rd(&t, NULL, buf, PG, (int64_t)(bad * PG), 0), -EIO);
	/* It recovered: the read re-reads the page. */
	__atomic_store_n(&fail_reads, 0, __ATOMIC_RELEASE);
	for (pgoff_t i = 0; i < NPAGES; i++) {
		CHECK_EQ(rd(&t, NULL, buf, PG, (int64_t)(i * PG), 0), (ssize_t)PG);
		CHECK_EQ(bad_pat(buf, PG, (int64_t)(i * PG), 3), -1);
	}
	store_inject_hook(t.s, NULL, NULL);
	fm_teardown(&t);
	free(data);
}

/* ---- teardown with a read in flight ---- */

static uint32_t destroying; /* atomic: mapping_destroy is about to run */
static uint32_t held;	    /* atomic: a worker's read waits in the hook */

static int hold_hook(void *arg, enum store_op op, struct store_inode *si, int64_t pos, int64_t len)
{
	if (op == STORE_OP_READ && !on_main() && !__atomic_exchange_n(&held, 1, __ATOMIC_ACQ_REL))
		wait_flag(&destroying);
	return 0;
}

/* The scheduling point of mapping_destroy's wait: the read goes on only
 * once teardown waits for it. */
static void destroy_wait_hook(enum sched_event ev, const void *obj, const char *what)
{
	if (ev == SP_WAIT && what && !strcmp(what, "readahead_inflight") && on_main())
		set_flag(&destroying);
}

TEST(mapping_destroy_waits_for_readahead)
{
	unsigned char *data = pattern(NPAGES, 4);
	struct fm t;

	main_thread = pthread_self();
	fm_setup(&t, data, NPAGES * PG);
	destroying = held = 0;
	store_inject_hook(t.s, hold_hook, NULL);
	page_cache_read_around(&t.m, &t.ra, 80);
	CHECK(__atomic_load_n(&t.m.ra_inflight, __ATOMIC_ACQUIRE) > 0);
	CHECK_EQ(filemap_write_and_wait_range(&t.m, 0, INT64_MAX), 0);
	/* The worker's read stays in the store until teardown waits for it
	 * (release builds have no scheduling points: let it go now). */
	sched_set_hook(destroy_wait_hook);
#if !PC_SCHED_HOOKS
	set_flag(&destroying);
#endif
	mapping_destroy(&t.m); /* waits for the read; ASan/TSan see the rest */
	sched_set_hook(NULL);
	CHECK_EQ(__atomic_load_n(&destroying, __ATOMIC_ACQUIRE), 1);
	CHECK_EQ(__atomic_load_n(&t.m.ra_inflight, __ATOMIC_ACQUIRE), 0);
	store_inject_hook(t.s, NULL, NULL);
	store_release(t.si);
	mm_cache_destroy(&t.c);
	store_close(t.s);
	free(data);
}

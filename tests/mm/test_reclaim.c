/* SPDX-License-Identifier: MIT */
/*
 * Tests of reclaim under the memory limit (src/mm/reclaim.c, writeback.c,
 * mm_cache.c) on the mm layer directly, over a dir store: a working set ten
 * times mem_limit written and read back with every byte verified while a
 * sampler checks that the cache never holds more than limit + 5%; hot pages
 * read right and kept resident while a big file streams through; and a store
 * failing every write hanging and losing nothing. Shared helpers in
 * writeback_fixture.c.
 * Random tests print their seed (PC_SEED replays); PC_QUICK scales down.
 * Nothing sleeps to order threads.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "harness.h"
#include "kernel/futex.h"
#include "kernel/rng.h"
#include "mm/fill.h"
#include "mm/internal.h"
#include "store/fixture.h"
#include "writeback_fixture.h"

/* ---- the memory limit ---- */

struct mem_arg {
	struct wbt *t;
	int next;
	size_t file_size;
	uint64_t seed;
	unsigned long max_pages;
	uint32_t done;
	long bad_at; /* first mismatching offset, or -1 */
	int bad_file;
	ssize_t err;
	unsigned long hot_reads; /* atomic: reads done by the hot readers */
};

static void note_pages(struct mem_arg *a)
{
	atomic_max(&a->max_pages, READ_ONCE(a->t->c.nr_pages));
}

static void mem_fail(struct mem_arg *a, int f, long at, ssize_t err)
{
	long none = -1;

	if (__atomic_compare_exchange_n(&a->bad_at, &none, at, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE)) {
		a->bad_file = f;
		a->err = err;
	}
}

/* Reads [pos, pos + len) (clamped to EOF) and checks it; false on a failure. */
static bool mem_read_check(struct mem_arg *a, int f, struct file_ra_state *ra, unsigned char *buf,
			   size_t pos, size_t len)
{
	size_t want = len < a->file_size - pos ? len : a->file_size - pos;
	ssize_t n = do_read(&a->t->m[f], ra, buf, len, (int64_t)pos);
	long bad = n == (ssize_t)want ? check_pattern(buf, want, (int64_t)pos, f, 11) : 0;

	note_pages(a);
	if (n == (ssize_t)want && bad < 0)
		return true;
	mem_fail(a, f, (long)pos + bad, n == (ssize_t)want ? 0 : n);
	return false;
}

static void *mem_worker(void *p)
{
	struct mem_arg *a = p;
	int f = __atomic_fetch_add(&a->next, 1, __ATOMIC_RELAXED);
	size_t max_chunk = 5 * PAGE_SIZE + 123, pos, len;
	unsigned char *buf = malloc(max_chunk);
	struct file_ra_state ra;
	struct rng r;

	rng_seed(&r, a->seed + (uint64_t)f);
	if (!buf)
		return NULL;
	/* Sequential write in random-sized chunks. */
	for (pos = 0; pos < a->file_size; pos += len) {
		len = 1 + rng_below(&r, max_chunk); /* min_t evaluates twice */
		len = min_t(size_t, len, a->file_size - pos);
		fill_pattern(buf, len, (int64_t)pos, f, 11);
		ssize_t n = do_write(&a->t->m[f], buf, len, (int64_t)pos);
		note_pages(a);
		if (n != (ssize_t)len) {
			mem_fail(a, f, (long)pos, n);
			goto out;
		}
	}
	/* Sequential read back (readahead), then random reads. */
	ra_init(&ra, &a->t->c);
	for (pos = 0; pos < a->file_size; pos += len) {
		len = 1 + rng_below(&r, max_chunk); /* min_t evaluates twice */
		len = min_t(size_t, len, a->file_size - pos);
		if (!mem_read_check(a, f, &ra, buf, pos, len))
			goto out;
	}
	ra_init(&ra, &a->t->c);
	for (int k = 0; k < 2000; k++) {
		len = 1 + rng_below(&r, max_chunk);
		if (!mem_read_check(a, f, &ra, buf, rng_below(&r, a->file_size), len))
			goto out;
	}
out:
	free(buf);
	return NULL;
}

static void *mem_sampler(void *p)
{
	struct mem_arg *a = p;

	while (!__atomic_load_n(&a->done, __ATOMIC_ACQUIRE)) {
		note_pages(a);
		sched_yield();
	}
	return NULL;
}

TEST(memory_limit_working_set_10x)
{
	struct mm_cache_config cfg = {
	    .mem_limit = 4u << 20,
	    .writeback_interval_ms = 100,
	};
	const int nworkers = 2;
	struct wbt t;
	pthread_t workers[MAX_FILES], sampler;

	wbt_setup(&t, &cfg, nworkers);
	struct mem_arg a = {
	    .t = &t,
	    .file_size = test_scale(5 * (4u << 20), 4) + 1000, /* 10x the limit in all */
	    .seed = test_seed(),
	    .bad_at = -1,
	};
	CHECK(pthread_create(&sampler, NULL, mem_sampler, &a) == 0);
	for (int i = 0; i < nworkers; i++)
		CHECK(pthread_create(&workers[i], NULL, mem_worker, &a) == 0);
	for (int i = 0; i < nworkers; i++)
		pthread_join(workers[i], NULL);
	__atomic_store_n(&a.done, 1, __ATOMIC_RELEASE);
	pthread_join(sampler, NULL);

	unsigned long limit = t.c.mem_limit_pages;
	printf("# limit %lu pages, max resident %lu, reclaimed %llu, written back %llu, "
	       "throttled %llu\n",
	       limit, a.max_pages, (unsigned long long)cache_stat_read(&t.c.stats.reclaimed_pages),
	       (unsigned long long)cache_stat_read(&t.c.stats.written_back_pages),
	       (unsigned long long)cache_stat_read(&t.c.stats.throttled_writes));
	CHECKF(a.bad_at < 0, "file %d offset %ld: %s", a.bad_file, a.bad_at,
	       a.err ? strerror((int)-a.err) : "wrong byte");
	CHECK(a.max_pages <= limit + limit / 20);
	CHECK(cache_stat_read(&t.c.stats.reclaimed_pages) > 0);
	check_lru(&t);
	for (int f = 0; f < nworkers; f++)
		CHECK_EQ(filemap_write_and_wait_range(&t.m[f], 0, INT64_MAX), 0);
	check_dirty_accounting(&t);
	for (int f = 0; f < nworkers; f++)
		check_store(t.si[f], 0, a.file_size, f, 11);
	wbt_teardown(&t);
}

/* Reclaim frees a sequential file's clean pages a run at a time: one frame
 * punch (one fallocate, one TLB flush of the process) per run of
 * consecutive pages, not per page (with the switch, per page); every byte
 * read back is right either way. */
static void reclaim_punch_counts(bool per_page, uint64_t *reclaimed, uint64_t *punches)
{
	struct mm_cache_config cfg = {.mem_limit = 1u << 20, .writeback_interval_ms = 100};
	const size_t size = 4u << 20, chunk = 64 * 1024;
	unsigned char *buf = malloc(chunk);
	struct file_ra_state ra;
	struct wbt t;

	CHECK(buf != NULL);
	wbt_setup(&t, &cfg, 1);
	for (size_t pos = 0; pos < size; pos += chunk) {
		fill_pattern(buf, chunk, (int64_t)pos, 0, 12);
		CHECK_EQ(do_write(&t.m[0], buf, chunk, (int64_t)pos), (ssize_t)chunk);
	}
	CHECK_EQ(filemap_write_and_wait_range(&t.m[0], 0, INT64_MAX), 0);
	reclaim_test_punch_per_page = per_page;
	uint64_t r0 = cache_stat_read(&t.c.stats.reclaimed_pages);
	uint64_t p0 = cache_stat_read(&t.c.stats.reclaim_punches);
	ra_init(&ra, &t.c);
	for (size_t pos = 0; pos < size; pos += chunk) {
		CHECK_EQ(do_read(&t.m[0], &ra, buf, chunk, (int64_t)pos), (ssize_t)chunk);
		CHECK_EQ(check_pattern(buf, chunk, (int64_t)pos, 0, 12), -1);
	}
	*reclaimed = cache_stat_read(&t.c.stats.reclaimed_pages) - r0;
	*punches = cache_stat_read(&t.c.stats.reclaim_punches) - p0;
	reclaim_test_punch_per_page = false;
	check_lru(&t);
	wbt_teardown(&t);
	free(buf);
}

TEST(reclaim_punches_runs)
{
	uint64_t rb, pb, rp, pp;

	reclaim_punch_counts(false, &rb, &pb);
	reclaim_punch_counts(true, &rp, &pp);
	printf("# reclaimed %llu pages in %llu punches (switch: %llu in %llu)\n",
	       (unsigned long long)rb, (unsigned long long)pb, (unsigned long long)rp,
	       (unsigned long long)pp);
	CHECK(rb >= 512 && rp >= 512); /* a 4 MiB file read through a 1 MiB cache */
	CHECK(pb * 8 <= rb);
	CHECK_EQ(pp, rp);
}

/* Cache hits on a small hot file race with reclaim driven by streaming a
 * big one through the cache: every byte the hot readers get is right (no
 * frame is punched under a copy), and the hot pages, referenced all the
 * time, stay resident (second chance on the LRU). */
static void *hot_reader(void *p)
{
	struct mem_arg *a = p;
	unsigned char buf[3 * PAGE_SIZE];
	struct file_ra_state ra;
	struct rng r;

	rng_seed(&r, a->seed + (uint64_t)__atomic_fetch_add(&a->next, 1, __ATOMIC_RELAXED));
	ra_init(&ra, &a->t->c);
	while (!__atomic_load_n(&a->done, __ATOMIC_ACQUIRE) &&
	       mem_read_check(a, 0, &ra, buf, rng_below(&r, a->file_size),
			      1 + rng_below(&r, sizeof(buf))))
		__atomic_fetch_add(&a->hot_reads, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* The streamer lets the hot readers run between its chunks: on a loaded
 * machine they could otherwise get no CPU for the whole stream, reference
 * nothing, and lose their pages to it for lack of use - which is the LRU
 * working, not failing. Waits until they made @n more reads (or one failed
 * and stopped). */
static void let_hot_readers_run(struct mem_arg *a, unsigned long *seen, unsigned long n)
{
	while (__atomic_load_n(&a->hot_reads, __ATOMIC_ACQUIRE) < *seen + n &&
	       __atomic_load_n(&a->bad_at, __ATOMIC_RELAXED) < 0 &&
	       !__atomic_load_n(&a->err, __ATOMIC_RELAXED))
		sched_yield();
	*seen = __atomic_load_n(&a->hot_reads, __ATOMIC_ACQUIRE);
}

TEST(hot_pages_survive_streaming_and_read_right)
{
	struct mm_cache_config cfg = {.mem_limit = 4u << 20, .writeback_interval_ms = 100};
	const size_t chunk = 16 * PAGE_SIZE, cold_size = test_scale(10 * (4u << 20), 4);
	unsigned char *buf = malloc(chunk);
	struct file_ra_state ra;
	pthread_t readers[2];
	unsigned long seen = 0;
	struct wbt t;

	CHECK(buf != NULL);
	wbt_setup(&t, &cfg, 2);
	struct mem_arg a = {
	    .t = &t, .file_size = 64 * PAGE_SIZE, .seed = test_seed(), .bad_at = -1};
	write_pattern(&t.m[0], 0, a.file_size, 0, 11);
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&readers[i], NULL, hot_reader, &a) == 0);
	/* Stream the cold file through the cache: write it, then read it. */
	for (size_t pos = 0; pos < cold_size; pos += chunk) {
		write_pattern(&t.m[1], (int64_t)pos, chunk, 1, 13);
		let_hot_readers_run(&a, &seen, 4);
	}
	ra_init(&ra, &t.c);
	for (size_t pos = 0; pos < cold_size; pos += chunk) {
		CHECK_EQ(do_read(&t.m[1], &ra, buf, chunk, (int64_t)pos), chunk);
		CHECK(check_pattern(buf, chunk, (int64_t)pos, 1, 13) < 0);
		let_hot_readers_run(&a, &seen, 4);
	}
	free(buf);
	unsigned long hot_resident = page_index_nrpages(&t.m[0].i_pages);
	__atomic_store_n(&a.done, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_join(readers[i], NULL);
	printf("# hot pages resident %lu of %zu, reclaimed %llu\n", hot_resident,
	       a.file_size / PAGE_SIZE,
	       (unsigned long long)cache_stat_read(&t.c.stats.reclaimed_pages));
	CHECKF(a.bad_at < 0, "hot offset %ld: %s", a.bad_at,
	       a.err ? strerror((int)-a.err) : "wrong byte");
	CHECK(cache_stat_read(&t.c.stats.reclaimed_pages) > 0);
	CHECK(hot_resident >= a.file_size / PAGE_SIZE / 2);
	check_lru(&t);
	wbt_teardown(&t);
}

/* A store that fails every write: writers are neither hung by throttling nor
 * by reclaim (all pages dirty): once the cache is over its dirty limit they
 * get the error instead of dirtying more (writeback.c "Persistent errors"),
 * so the cache stays within its limits; fsync reports the error, and once
 * the store works again every acknowledged byte is written. */
TEST(sticky_write_errors_hang_nothing_lose_nothing)
{
	struct mm_cache_config cfg = {
	    .mem_limit = 1u << 20,
	    .dirty_background = 16 * PAGE_SIZE,
	    .dirty_limit = 32 * PAGE_SIZE,
	    .writeback_interval_ms = 10,
	};
	const size_t size = 2u << 20; /* twice the memory limit */
	unsigned char *buf = malloc(8 * PAGE_SIZE);
	size_t acked = 0;
	unsigned long errors = 0;
	struct wbt t;

	wbt_setup(&t, &cfg, 1);
	struct address_space *m = &t.m[0];
	errseq_t since = errseq_sample(&m->wb_err);

	store_inject_fail(t.s, STORE_OP_WRITE, 1, EIO, true);
	for (size_t i = 0; i < size; i += 8 * PAGE_SIZE) {
		fill_pattern(buf, 8 * PAGE_SIZE, (int64_t)acked, 0, 14);
		ssize_t n = do_write(m, buf, 8 * PAGE_SIZE, (int64_t)acked);
		if (n > 0)
			acked += (size_t)n;
		else
			CHECKF(n == -EIO && ++errors, "write: %zd", n);
		/* one page past the limit at most (a single writer); the
		 * count, not nr_dirty + nr_writeback read one after the
		 * other: the thread's failing writepage moves a page between
		 * them all the time */
		unsigned long nr = dirty_and_writeback(&t.c);
		CHECKF(nr <= t.c.dirty_limit + 1, "%lu dirty or under writeback, limit %lu", nr,
		       t.c.dirty_limit);
	}
	CHECK(errors > 0);
	CHECK(acked >= t.c.dirty_limit * PAGE_SIZE);
	CHECK_EQ(filemap_write_and_wait_range(m, 0, INT64_MAX), -EIO);
	CHECK_EQ(file_check_and_advance_wb_err(m, &since), -EIO);
	/* Quiescent from here: the accounting can be checked exactly. */
	writeback_stop(&t.c);
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), acked / PAGE_SIZE);
	check_dirty_accounting(&t);
	CHECK(READ_ONCE(t.c.nr_pages) <= t.c.mem_limit_pages);

	store_inject_clear(t.s);
	CHECK_EQ(filemap_write_and_wait_range(m, 0, INT64_MAX), 0);
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), 0);
	check_store(t.si[0], 0, acked, 0, 14);
	free(buf);
	check_lru(&t);
	wbt_teardown(&t);
}

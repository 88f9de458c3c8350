/* SPDX-License-Identifier: MIT */
/*
 * test_mmap_ra.c - readahead in the fault path of views (src/mm/fault.c)
 * and honest statistics: a cold sequential first touch of a view makes far
 * fewer store reads than pages (read-around, the async window at a
 * PG_readahead page, fault-around of what was read); MADV_SEQUENTIAL reads
 * from the fault; random access stops reading around once mmap_miss says
 * so (switch mm_fault_test_no_mmap_miss: it never stops), on both fault
 * mechanisms; sequential access on a fallback view keeps reading around
 * (switch mm_fault_test_fb_no_hits: its faults count no hits, and
 * read-around stops after MMAP_LOTSAMISS windows); pc_stats misses
 * count every page read from the store, readahead_pages those read ahead.
 * The files are written on the host, so the engine starts cold. Takes no
 * locks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "api/engine_internal.h"
#include "basic_fixture.h"
#include "harness.h"
#include "kernel/rng.h"
#include "mm/vma.h"
#include "pagecache.h"
#include "store/store.h"

/* A host file of @npages pages, page i starting with the 8 bytes of i ^ tag
 * where i is a multiple of @stride (the rest a hole): the engine has none of
 * it cached. */
static void host_file(const char *name, size_t npages, uint64_t tag, size_t stride)
{
	char path[1400];
	int hfd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	hfd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(hfd >= 0);
	CHECK_EQ(ftruncate(hfd, (off_t)(npages * PG)), 0);
	for (size_t i = 0; i < npages; i += stride) {
		uint64_t v = i ^ tag;
		CHECK_EQ(pwrite(hfd, &v, sizeof(v), (off_t)(i * PG)), (ssize_t)sizeof(v));
	}
	CHECK_EQ(close(hfd), 0);
}

/* An engine on @d with 128 KiB readahead windows (32 pages) for reads and
 * faults alike: not the store device's size, which varies by machine. */
static struct pc_engine *engine_mech(const char *d, int mech)
{
	struct pc_options o = {.size = sizeof(o),
			       .store_dir = d,
			       .readahead_max = 128u << 10,
			       .writeback_interval_ms = 600000,
			       .fault_mechanism = mech};
	struct pc_engine *e = NULL;

	CHECK_EQ(pc_engine_open(&o, &e), 0);
	return e;
}

static struct pc_engine *engine_ra(const char *d)
{
	return engine_mech(d, PC_FAULT_AUTO);
}

static struct pc_stats stats(struct pc_engine *e)
{
	struct pc_stats s;

	pc_get_stats(e, &s, sizeof(s));
	return s;
}

static void first_touch(const char *p, size_t i, uint64_t tag, size_t stride)
{
	uint64_t v, want = i % stride ? 0 : i ^ tag;

	memcpy(&v, p + i * PG, sizeof(v)); /* faults */
	CHECKF(v == want, "page %zu: %llx", i, (unsigned long long)v);
}

static void sequential(int advice)
{
	enum { NPAGES = 1024 };
	const char *d = fresh();
	struct pc_engine *e;
	int fd;

	host_file("s", NPAGES, 0x5eull, 1);
	e = engine_ra(d);
	struct store *s = pc_engine_store(e);
	fd = pc_open(e, "s", O_RDONLY, 0);
	CHECK(fd >= 0);
	char *p = map_view(e, fd, NPAGES * PG, PROT_READ, MAP_SHARED, 0);
	if (advice != MADV_NORMAL)
		CHECK_EQ(pc_madvise(e, p, NPAGES * PG, advice), 0);
	unsigned long reads0 = store_calls(s, STORE_OP_READ);
	for (size_t i = 0; i < NPAGES; i++)
		first_touch(p, i, 0x5eull, 1);
	unsigned long reads = store_calls(s, STORE_OP_READ) - reads0;
	struct pc_stats st = stats(e);

	printf("# advice %d: %lu store reads for %d pages; misses %llu, readahead %llu "
	       "(by faults %llu)\n",
	       advice, reads, NPAGES, (unsigned long long)st.misses,
	       (unsigned long long)st.readahead_pages,
	       (unsigned long long)st.fault_readahead_pages);
	/* one page per fault would be 1,024 reads: a window is 32 pages */
	CHECKF(reads <= NPAGES / 16, "%lu store reads", reads);
	/* every page was read from the store once: a miss each, nearly all
	 * of them read ahead of their fault */
	CHECK_EQ(st.misses, NPAGES);
	CHECK(st.readahead_pages >= NPAGES - NPAGES / 16);
	CHECK_EQ(st.fault_readahead_pages, st.readahead_pages);
	CHECK_EQ(pc_munmap(e, p, NPAGES * PG), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

TEST(cold_sequential_first_touch_reads_ahead)
{
	sequential(MADV_NORMAL);
}

TEST(cold_sequential_madv_sequential)
{
	sequential(MADV_SEQUENTIAL);
}

/* A cold sequential first touch of @npages pages through a fallback view
 * (PROT_NONE + mprotect): the store reads it takes. With @hazard
 * (mm_fault_test_fb_no_hits) its faults on cached pages count no hits and
 * start no next window, as before the fallback shared the userfaultfd
 * path's rule. */
static unsigned long sequential_fb(size_t npages, bool hazard)
{
	const char *d = fresh();
	struct pc_engine *e;
	int fd;

	host_file("s", npages, 0x5full, 1);
	e = engine_mech(d, PC_FAULT_FALLBACK);
	struct store *s = pc_engine_store(e);
	fd = pc_open(e, "s", O_RDONLY, 0);
	CHECK(fd >= 0);
	char *p = map_view(e, fd, npages * PG, PROT_READ, MAP_SHARED, 0);
	unsigned long reads0 = store_calls(s, STORE_OP_READ);
	mm_fault_test_fb_no_hits = hazard;
	for (size_t i = 0; i < npages; i++)
		first_touch(p, i, 0x5full, 1);
	mm_fault_test_fb_no_hits = false;
	unsigned long reads = store_calls(s, STORE_OP_READ) - reads0;
	struct pc_stats st = stats(e);

	printf("# fallback view%s: %lu store reads for %zu pages; misses %llu, readahead by "
	       "faults %llu\n",
	       hazard ? " (no hits counted)" : "", reads, npages, (unsigned long long)st.misses,
	       (unsigned long long)st.fault_readahead_pages);
	CHECK_EQ(st.misses, npages);
	CHECK_EQ(pc_munmap(e, p, npages * PG), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	return reads;
}

/* Sequential access on a fallback view keeps reading around, as on a
 * userfaultfd view: its faults on cached pages count as hits and the
 * PG_readahead page starts the next window. The switch shows the hazard:
 * mmap_miss only grows, read-around stops after MMAP_LOTSAMISS (100)
 * windows and every later page is a store read of its own. */
TEST(fallback_sequential_keeps_reading_around)
{
	/* 200 windows of 32 pages: past MMAP_LOTSAMISS */
	enum { NPAGES = 6400 };
	unsigned long with = sequential_fb(NPAGES, false);
	unsigned long without = sequential_fb(NPAGES, true);

	CHECKF(with <= NPAGES / 16, "%lu store reads", with);
	CHECKF(without > 4 * with, "without hits: %lu reads, with: %lu", without, with);
}

/* @faults random first touches of a cold file: the pages read ahead. */
static uint64_t random_touches(bool hazard, uint64_t seed, int mech)
{
	/* 1 GiB, sparse: random faults rarely land near each other (the
	 * kernel's mmap_miss stops read-around only then: hits near earlier
	 * windows count against the misses) */
	enum { NPAGES = 1 << 18, STRIDE = 64 };
	const char *d = fresh();
	unsigned faults = (unsigned)test_scale(1200, 2);
	struct pc_engine *e;
	struct rng r;
	int fd;

	host_file("r", NPAGES, 0x7aull, STRIDE);
	e = engine_mech(d, mech);
	fd = pc_open(e, "r", O_RDONLY, 0);
	CHECK(fd >= 0);
	char *p = map_view(e, fd, NPAGES * PG, PROT_READ, MAP_SHARED, 0);
	rng_seed(&r, seed);
	mm_fault_test_no_mmap_miss = hazard;
	for (unsigned k = 0; k < faults; k++)
		first_touch(p, (size_t)rng_below(&r, NPAGES), 0x7aull, STRIDE);
	mm_fault_test_no_mmap_miss = false;
	struct pc_stats st = stats(e);

	printf("# %s%s: %u random faults: %llu pages read ahead by faults, %llu misses\n",
	       hazard ? "mmap_miss ignored" : "mmap_miss",
	       mech == PC_FAULT_FALLBACK ? " (fallback view)" : "", faults,
	       (unsigned long long)st.fault_readahead_pages, (unsigned long long)st.misses);
	CHECK_EQ(pc_munmap(e, p, NPAGES * PG), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	return st.fault_readahead_pages;
}

static void random_stops(int mech)
{
	uint64_t seed = test_seed();
	uint64_t with = random_touches(false, seed, mech);
	uint64_t without = random_touches(true, seed, mech);

	/* read-around stops after about MMAP_LOTSAMISS (100) misses of 32
	 * pages; hits among the 1,200 faults let a few more through */
	CHECKF(with <= 200 * 32, "%llu pages read ahead", (unsigned long long)with);
	/* the switch shows the hazard: every cold random fault reads a window */
	CHECKF(without > 2 * with, "without mmap_miss: %llu, with: %llu",
	       (unsigned long long)without, (unsigned long long)with);
}

TEST(random_access_stops_read_around)
{
	random_stops(PC_FAULT_AUTO);
}

/* The same on a fallback view, now that its faults count hits too. */
TEST(random_access_stops_read_around_fb)
{
	random_stops(PC_FAULT_FALLBACK);
}

TEST(madv_random_reads_only_the_fault)
{
	enum { NPAGES = 256 };
	const char *d = fresh();
	struct pc_engine *e;
	int fd;

	host_file("m", NPAGES, 0x11ull, 1);
	e = engine_ra(d);
	fd = pc_open(e, "m", O_RDONLY, 0);
	char *p = map_view(e, fd, NPAGES * PG, PROT_READ, MAP_SHARED, 0);
	CHECK_EQ(pc_madvise(e, p, NPAGES * PG, MADV_RANDOM), 0);
	for (size_t i = 0; i < NPAGES; i += 3)
		first_touch(p, i, 0x11ull, 1);
	struct pc_stats st = stats(e);
	CHECK_EQ(st.fault_readahead_pages, 0);
	CHECK_EQ(st.misses, (NPAGES + 2) / 3);
	CHECK_EQ(pc_madvise(e, p, NPAGES * PG, 12345), -EINVAL);
	CHECK_EQ(pc_munmap(e, p, NPAGES * PG), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

/* pc_read of a cold file: a miss per page read from the store, the
 * readahead ones counted again apart; a second read: hits only. */
TEST(stats_count_every_page_read)
{
	enum { NPAGES = 2048 };
	const char *d = fresh();
	struct pc_engine *e;
	char *buf = malloc(NPAGES * PG);
	int fd;

	host_file("c", NPAGES, 0x33ull, 1);
	e = engine_ra(d);
	fd = pc_open(e, "c", O_RDONLY, 0);
	for (size_t off = 0; off < NPAGES * PG; off += 64 * PG)
		CHECK_EQ(pc_pread(e, fd, buf + off, 64 * PG, (off_t)off), 64 * PG);
	struct pc_stats st = stats(e);
	printf("# cold read of %d pages: misses %llu, readahead %llu, hits %llu\n", NPAGES,
	       (unsigned long long)st.misses, (unsigned long long)st.readahead_pages,
	       (unsigned long long)st.hits);
	CHECK_EQ(st.misses, NPAGES);
	/* the pages beyond each 64-page request */
	CHECK(st.readahead_pages > NPAGES / 4 && st.readahead_pages < NPAGES);
	CHECK_EQ(st.fault_readahead_pages, 0);
	CHECK_EQ(pc_pread(e, fd, buf, NPAGES * PG, 0), NPAGES * PG);
	struct pc_stats st2 = stats(e);
	CHECK_EQ(st2.misses, st.misses);
	CHECK_EQ(st2.hits, st.hits + NPAGES);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	free(buf);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_memlimit.c - the memory limit holds while a working set ten times
 * larger goes through the cache, and nothing is lost on the way.
 *
 * An engine with mem_limit 4 MiB (1,024 pages); 40 MiB over 5 files:
 * written sequentially, then overwritten at random offsets and lengths
 * (some crossing page boundaries), then read back sequentially (readahead)
 * and at random, with fadvise(WILLNEED) and fsync in the mix, every byte
 * compared with the expected pattern (a per-512-byte-sector version says
 * which write owns it). pc_get_stats().cached_pages is sampled after every
 * call and, all along, by a second thread; neither may ever see more than
 * the limit + 5% (in pages). At the end the files are checked again after
 * an engine restart (what the cache wrote back is what was written).
 * PC_QUICK halves the limit and the working set.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "harness.h"
#include "kernel/rng.h"
#include "model.h"
#include "pagecache.h"

#define NFILES 5
#define SECTOR 512
#define MAXIO  (256 << 10)

static struct pc_engine *eng;
static size_t limit_bytes, file_size;
static unsigned long limit_pages, bound_pages; /* limit, limit + 5% */
static uint8_t *version[NFILES];	       /* per sector */
static int fds[NFILES];
static uint8_t *buf;
static struct rng rng;
static unsigned long max_seen, samples, nops;
static bool stop_sampler;
static unsigned long sampler_max, sampler_samples;

static uint32_t tag_of(int f, uint8_t v)
{
	return (uint32_t)(f + 1) * 1000u + v;
}

static void sample(const char *after)
{
	struct pc_stats st;
	pc_get_stats(eng, &st, sizeof(st));
	samples++;
	if (st.cached_pages > max_seen)
		max_seen = st.cached_pages;
	CHECKF(st.cached_pages <= bound_pages,
	       "%lu pages cached after %s (op %lu): limit %lu pages + 5%% = %lu",
	       (unsigned long)st.cached_pages, after, nops, limit_pages, bound_pages);
}

static void *sampler(void *arg)
{
	while (!__atomic_load_n(&stop_sampler, __ATOMIC_ACQUIRE)) {
		struct pc_stats st;
		pc_get_stats(eng, &st, sizeof(st));
		sampler_samples++;
		if (st.cached_pages > sampler_max)
			sampler_max = st.cached_pages;
		sched_yield();
	}
	return NULL;
}

/* Writes [off, off + len) of file @f (sector-aligned) with a new version. */
static void do_write(int f, size_t off, size_t len)
{
	uint8_t v = (uint8_t)(version[f][off / SECTOR] + 1);
	for (size_t s = off / SECTOR; s < (off + len) / SECTOR; s++)
		version[f][s] = v; /* one version for the whole write */
	api_pattern_fill(buf, len, tag_of(f, v), off);
	nops++;
	ssize_t n = pc_pwrite(eng, fds[f], buf, len, (off_t)off);
	CHECKF(n == (ssize_t)len, "pwrite(file %d, %zu, %zu): %zd", f, off, len, n);
	sample("pwrite");
}

/* Compares @len bytes read at @off of file @f with what was written. */
static void verify(int f, const uint8_t *b, size_t off, size_t len)
{
	size_t at = 0;
	while (at < len) {
		size_t s = (off + at) / SECTOR;
		size_t run = SECTOR - (off + at) % SECTOR;
		uint8_t v = version[f][s];
		/* extend over the following sectors of the same version */
		while (at + run < len && version[f][(off + at + run) / SECTOR] == v)
			run += SECTOR;
		if (at + run > len)
			run = len - at;
		ssize_t bad = api_pattern_check(b + at, run, tag_of(f, v), off + at);
		CHECKF(bad < 0, "file %d byte %zu (version %u): read 0x%02x, wrote 0x%02x", f,
		       off + at + (size_t)bad, v, b[at + (size_t)bad],
		       api_pattern_byte(tag_of(f, v), off + at + (size_t)bad));
		at += run;
	}
}

static void do_pread(int f, size_t off, size_t len)
{
	nops++;
	ssize_t n = pc_pread(eng, fds[f], buf, len, (off_t)off);
	CHECKF(n == (ssize_t)len, "pread(file %d, %zu, %zu): %zd", f, off, len, n);
	sample("pread");
	verify(f, buf, off, len);
}

static void read_all_sequential(void)
{
	for (int f = 0; f < NFILES; f++) {
		CHECK_EQ(pc_lseek(eng, fds[f], 0, SEEK_SET), 0);
		size_t off = 0;
		while (off < file_size) {
			size_t len = 4096 * (1 + rng_below(&rng, 32));
			nops++;
			ssize_t n = pc_read(eng, fds[f], buf, len);
			sample("read");
			size_t want = off + len <= file_size ? len : file_size - off;
			CHECKF(n == (ssize_t)want, "read(file %d at %zu, %zu): %zd", f, off, len,
			       n);
			verify(f, buf, off, (size_t)n);
			off += (size_t)n;
		}
		nops++;
		CHECK_EQ(pc_read(eng, fds[f], buf, 4096), 0);
	}
}

static void open_all(void)
{
	for (int f = 0; f < NFILES; f++) {
		char name[16];
		snprintf(name, sizeof(name), "big%d", f);
		fds[f] = pc_open(eng, name, O_RDWR | O_CREAT, 0644);
		CHECKF(fds[f] >= 0, "open %s: %s", name, strerror(-fds[f]));
	}
}

TEST(memlimit_holds_with_a_10x_working_set)
{
	uint64_t seed = test_seed();
	char *dir = api_fresh_dir("memlimit");
	pthread_t th;

	rng_seed(&rng, seed);
	limit_bytes = test_quick() ? 2 << 20 : 4 << 20;
	file_size = limit_bytes * 10 / NFILES;
	limit_pages = limit_bytes / 4096;
	bound_pages = limit_pages + (limit_pages * 5 + 99) / 100;
	struct pc_options o = {
	    .size = sizeof(o), .mem_limit = limit_bytes, .writeback_interval_ms = 100};
	eng = api_engine_open(dir, &o);
	buf = aligned_alloc(4096, MAXIO);
	CHECK(buf);
	for (int f = 0; f < NFILES; f++) {
		version[f] = calloc(file_size / SECTOR, 1);
		CHECK(version[f]);
	}
	open_all();
	stop_sampler = false;
	CHECK(pthread_create(&th, NULL, sampler, NULL) == 0);
	double t0 = api_now();

	/* 1: sequential writes, 64 KiB at a time, the files interleaved */
	for (size_t off = 0; off < file_size; off += 65536)
		for (int f = 0; f < NFILES; f++)
			do_write(f, off, 65536);
	double t1 = api_now();

	/* 2: random overwrites and reads, sector-aligned, crossing pages */
	unsigned long nrand = file_size * NFILES / 4096 / 4;
	for (unsigned long i = 0; i < nrand; i++) {
		int f = (int)rng_below(&rng, NFILES);
		size_t len =
		    SECTOR * (1 + rng_below(&rng, rng_below(&rng, 4) ? 24 : MAXIO / SECTOR));
		size_t off = SECTOR * rng_below(&rng, (file_size - len) / SECTOR + 1);
		unsigned k = (unsigned)rng_below(&rng, 100);
		if (k < 45) {
			do_write(f, off, len);
		} else if (k < 95) {
			do_pread(f, off, len);
		} else if (k < 98) {
			nops++;
			CHECK_EQ(
			    pc_fadvise(eng, fds[f], (off_t)off, (off_t)len, POSIX_FADV_WILLNEED),
			    0);
			sample("fadvise(WILLNEED)");
		} else {
			nops++;
			CHECK_EQ(pc_fsync(eng, fds[f]), 0);
			sample("fsync");
		}
	}
	double t2 = api_now();

	/* 3: everything read back, sequentially (readahead) */
	read_all_sequential();
	double t3 = api_now();

	__atomic_store_n(&stop_sampler, true, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	struct pc_stats st;
	pc_get_stats(eng, &st, sizeof(st));
	printf("# limit %lu pages (bound %lu); max cached seen: %lu after calls (%lu samples), %lu "
	       "by the sampler thread (%lu samples)\n",
	       limit_pages, bound_pages, max_seen, samples, sampler_max, sampler_samples);
	printf("# %.1f MiB in %d files; %lu calls: sequential writes %.2f s, random %lu ops %.2f "
	       "s, sequential read %.2f s\n",
	       (double)(file_size * NFILES) / (1 << 20), NFILES, nops, t1 - t0, nrand, t2 - t1,
	       t3 - t2);
	printf(
	    "# stats: reclaimed %llu, written back %llu, readahead %llu, hits %llu, misses %llu, "
	    "throttled writes %llu\n",
	    (unsigned long long)st.reclaimed_pages, (unsigned long long)st.written_back_pages,
	    (unsigned long long)st.readahead_pages, (unsigned long long)st.hits,
	    (unsigned long long)st.misses, (unsigned long long)st.throttled_writes);
	CHECKF(sampler_max <= bound_pages, "the sampler thread saw %lu pages cached (bound %lu)",
	       sampler_max, bound_pages);
	CHECK(st.reclaimed_pages > 0);
	CHECK(st.written_back_pages >= file_size * NFILES / 4096);

	/* 4: after a restart, the store has every byte */
	api_engine_close(eng);
	eng = api_engine_open(dir, &o);
	open_all();
	for (int f = 0; f < NFILES; f++) {
		struct stat sb;
		CHECK_EQ(pc_fstat(eng, fds[f], &sb), 0);
		CHECK_EQ(sb.st_size, file_size);
	}
	read_all_sequential();
	printf("# after restart: every byte verified again (%.2f s)\n", api_now() - t3);

	for (int f = 0; f < NFILES; f++) {
		CHECK_EQ(pc_close(eng, fds[f]), 0);
		free(version[f]);
	}
	api_engine_close(eng);
	free(buf);
	api_rm_rf(dir);
	free(dir);
}

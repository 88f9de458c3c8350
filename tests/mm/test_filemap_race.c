/* SPDX-License-Identifier: MIT */
/*
 * Concurrency tests of the filemap core: a read miss waits on ADD while
 * BLOCK is held and then reads the new contents (H1); the fill's race-window
 * names; random operations (writes, checked reads, truncates and punches
 * done the fs way, invalidations, writeback, WILLNEED) against a model on a
 * cache far smaller than the file with busy background writeback; many
 * threads reading cached pages lock-free while another writes (with and
 * without reclaim pressure; TSan-clean); readers while clean pages are
 * dropped under them; and the same race under the deterministic scheduler,
 * where some schedules punch a frame inside a reader's copy and the reader
 * must still return the file's data (and, with the re-check after the
 * reference-free copy switched off, does not). Random tests print their seed; nothing
 * sleeps to order threads.
 */
#include <pthread.h>

#include "filemap_fixture.h"
#include "threads.h"
#include "kernel/rng.h"
#include "kernel/sched.h"

/* ---- a fill waits for BLOCK (H1) ---- */

struct block_arg {
	struct fm *t;
	struct task *volatile task;
	unsigned char buf[PG];
	ssize_t ret;
};

static void *block_reader(void *p)
{
	struct block_arg *a = p;

	__atomic_store_n(&a->task, current, __ATOMIC_RELEASE);
	a->ret = rd(a->t, &a->t->ra, a->buf, PG, 0, 0);
	return NULL;
}

TEST(read_miss_waits_for_block)
{
	unsigned char data[2 * PG];
	struct block_arg a = {.ret = 0};
	struct fm t;
	pthread_t th;

	fill_pat(data, sizeof(data), 0, 21);
	fm_setup(&t, data, sizeof(data));
	a.t = &t;
	filemap_invalidate_lock_block(&t.m);
	CHECK(pthread_create(&th, NULL, block_reader, &a) == 0);
	wait_until_sleeping(&a.task, &t.m.invalidate_lock.wait);
	/* The punch, while no fill can add a page: drop the cache's pages,
	 * then free the store's blocks. */
	truncate_pagecache_range(&t.m, 0, (int64_t)(2 * PG - 1));
	CHECK_EQ(store_fallocate(t.si, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 2 * PG), 0);
	filemap_invalidate_unlock_block(&t.m);
	pthread_join(th, NULL);
	CHECK_EQ(a.ret, (ssize_t)PG);
	CHECK(is_zero((char *)a.buf, PG)); /* the new contents, not the old */
	fm_teardown(&t);
}

#if PC_SCHED_HOOKS
static uint32_t seen_windows;

static void window_hook(enum sched_event ev, const void *obj, const char *what)
{
	static const char *const names[] = {"fill: lookup missed",
					    "fill: page locked, store not read",
					    "fill: store read done, page not yet uptodate"};

	if (ev != SP_RACE || !what)
		return;
	for (unsigned i = 0; i < 3; i++)
		if (!strcmp(what, names[i]))
			__atomic_fetch_or(&seen_windows, 1u << i, __ATOMIC_RELAXED);
}

TEST(fill_race_windows)
{
	unsigned char data[PG], buf[PG];
	struct fm t;

	fill_pat(data, sizeof(data), 0, 22);
	fm_setup(&t, data, sizeof(data));
	sched_set_hook(window_hook);
	CHECK_EQ(rd(&t, NULL, buf, PG, 0, 0), (ssize_t)PG);
	sched_set_hook(NULL);
	CHECK_EQ(seen_windows, 7);
	fm_teardown(&t);
}
#endif

/* ---- random operations against a model ---- */

#define MODEL_MAX ((int64_t)(48 * PG + 1000))

/*
 * Random writes, reads (checked), truncates and hole punches done the way
 * the fs layer does them (BLOCK; i_size; cache; store), invalidations,
 * writeback and WILLNEED, on a cache far smaller than the file (reclaim all
 * the time) with a busy background writeback thread, against a byte array.
 */
TEST(model_random_ops)
{
	unsigned char *model = calloc(1, MODEL_MAX), *buf = malloc(MODEL_MAX + PG);
	struct mm_cache_config cfg = quiet_config(16 * PG);
	uint64_t seed = test_seed();
	unsigned long ops = test_scale(4000, 10);
	int64_t size = 0;
	struct rng r;
	struct fm t;

	cfg.writeback_interval_ms = 2;
	cfg.dirty_background = 4 * PG;
	cfg.dirty_limit = 8 * PG;
	rng_seed(&r, seed);
	fm_setup_cfg(&t, &cfg, NULL, 0);
	for (unsigned long op = 0; op < ops; op++) {
		unsigned kind = (unsigned)rng_below(&r, 100);
		int64_t pos = (int64_t)rng_below(&r, MODEL_MAX);
		size_t len = 1 + (size_t)rng_below(&r, 3 * PG);

		if (pos + (int64_t)len > MODEL_MAX)
			len = (size_t)(MODEL_MAX - pos);
		if (kind < 40) { /* write */
			fill_pat(buf, len, pos, (unsigned)op);
			CHECKF(wr(&t, buf, len, pos) == (ssize_t)len, "op %lu", op);
			memcpy(model + pos, buf, len);
			if (pos + (int64_t)len > size)
				size = pos + (int64_t)len;
		} else if (kind < 70) { /* read */
			struct file_ra_state *ra = (kind & 1) ? &t.ra : NULL;
			ssize_t want =
			    pos >= size ? 0 : (ssize_t)min_t(int64_t, (int64_t)len, size - pos);
			ssize_t n = rd(&t, ra, buf, len, pos, 0);

			CHECKF(n == want, "op %lu: read %zd of %zd at %" PRId64, op, n, want, pos);
			for (ssize_t i = 0; i < n; i++)
				CHECKF(buf[i] == model[pos + i], "op %lu: byte %" PRId64, op,
				       pos + i);
		} else if (kind < 78) { /* truncate to pos (down or up) */
			filemap_invalidate_lock_block(&t.m);
			if (pos < size) {
				i_size_write(&t.m, pos);
				truncate_pagecache(&t.m, pos);
				memset(model + pos, 0, (size_t)(size - pos));
			} else {
				i_size_write(&t.m, pos);
			}
			CHECK_EQ(store_setsize(t.si, pos), 0);
			filemap_invalidate_unlock_block(&t.m);
			size = pos;
		} else if (kind < 86) { /* punch a hole, keep the size */
			filemap_invalidate_lock_block(&t.m);
			truncate_pagecache_range(&t.m, pos, pos + (int64_t)len - 1);
			CHECK_EQ(store_fallocate(t.si, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						 pos, (int64_t)len),
				 0);
			filemap_invalidate_unlock_block(&t.m);
			if (pos < size)
				memset(model + pos, 0,
				       (size_t)min_t(int64_t, (int64_t)len, size - pos));
		} else if (kind < 90) {
			invalidate_mapping_pages(&t.m, (pgoff_t)pos / PG,
						 (pgoff_t)(pos + len) / PG);
		} else if (kind < 94) {
			filemap_invalidate_lock_block(&t.m);
			CHECK_EQ(filemap_write_and_wait_range(&t.m, pos, pos + (int64_t)len - 1),
				 0);
			CHECK_EQ(invalidate_inode_pages2_range(&t.m, (pgoff_t)pos / PG,
							       (pgoff_t)(pos + len - 1) / PG),
				 0);
			filemap_invalidate_unlock_block(&t.m);
		} else if (kind < 97) {
			CHECK_EQ(filemap_fdatawrite_range(&t.m, 0, INT64_MAX), 0);
		} else {
			CHECK_EQ(force_page_cache_readahead(&t.m, (pgoff_t)pos / PG, len / 512 + 1),
				 0);
		}
		CHECK_EQ(i_size_read(&t.m), size);
	}
	/* Everything written back: the store matches the model. */
	CHECK_EQ(filemap_write_and_wait_range(&t.m, 0, INT64_MAX), 0);
	CHECK_EQ(store_size(t.si), size);
	CHECK_EQ(store_read(t.si, buf, MODEL_MAX, 0), size);
	CHECK(memcmp(buf, model, (size_t)size) == 0);
	printf("# %lu ops, size %" PRId64 ", %" PRIu64 " reclaimed, %" PRIu64 " written back\n",
	       ops, size, cache_stat_read(&t.c.stats.reclaimed_pages),
	       cache_stat_read(&t.c.stats.written_back_pages));
	fm_teardown(&t);
	free(model);
	free(buf);
}

/* ---- lock-free readers against a writer ---- */

#define MT_PAGES 64u

/* Every byte of page p carries p in its high nibble (never 0) and the
 * writer's generation in its low nibble: a reader can check each byte. */
static unsigned char mt_byte(pgoff_t p, unsigned gen)
{
	return (unsigned char)((((p % 15) + 1) << 4) | (gen & 15));
}

struct mt {
	struct fm *t;
	uint64_t seed;
	unsigned iters;
	uint32_t stop;
	unsigned long bad;
};

static void *mt_reader(void *p)
{
	struct mt *a = p;
	unsigned char *buf = malloc(3 * PG);
	struct rng r;

	rng_seed(&r, a->seed ^ (uint64_t)pthread_self());
	while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
		int64_t pos = (int64_t)rng_below(&r, MT_PAGES * PG);
		size_t len = 1 + (size_t)rng_below(&r, 3 * PG);
		/* Shared readahead state, as threads reading one fd share it. */
		ssize_t n = rd(a->t, &a->t->ra, buf, len, pos, 0);

		if (n < 0 || (size_t)n != min_t(size_t, len, MT_PAGES * PG - (size_t)pos)) {
			__atomic_fetch_add(&a->bad, 1, __ATOMIC_RELAXED);
			continue;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] >> 4 != (((uint64_t)(pos + i) >> 12) % 15) + 1) {
				__atomic_fetch_add(&a->bad, 1, __ATOMIC_RELAXED);
				break;
			}
	}
	free(buf);
	return NULL;
}

static void mt_run(size_t mem_limit)
{
	unsigned char *page = malloc(PG);
	uint64_t seed = test_seed();
	struct mm_cache_config cfg = quiet_config(mem_limit);
	struct mt a = {.seed = seed, .iters = (unsigned)test_scale(4000, 8)};
	pthread_t th[4];
	struct rng r;
	struct fm t;

	cfg.dirty_background = mem_limit / 4;
	cfg.dirty_limit = mem_limit / 2;
	fm_setup_cfg(&t, &cfg, NULL, 0);
	a.t = &t;
	for (pgoff_t p = 0; p < MT_PAGES; p++) {
		memset(page, mt_byte(p, 0), PG);
		CHECK_EQ(wr(&t, page, PG, (int64_t)(p * PG)), (ssize_t)PG);
	}
	for (int i = 0; i < 4; i++)
		CHECK(pthread_create(&th[i], NULL, mt_reader, &a) == 0);
	rng_seed(&r, seed);
	for (unsigned i = 1; i <= a.iters; i++) {
		pgoff_t p = rng_below(&r, MT_PAGES);
		size_t off = (size_t)rng_below(&r, PG), len = 1 + (size_t)rng_below(&r, 2 * PG);

		len = min_t(size_t, len, MT_PAGES * PG - p * PG - off);
		unsigned char *src = malloc(len);
		for (size_t k = 0; k < len; k++)
			src[k] = mt_byte(p + (off + k) / PG, i);
		CHECK_EQ(wr(&t, src, len, (int64_t)(p * PG + off)), (ssize_t)len);
		free(src);
	}
	__atomic_store_n(&a.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	printf("# %u writes, %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64 " reclaimed\n",
	       a.iters, cache_stat_read(&t.c.stats.hits), cache_stat_read(&t.c.stats.misses),
	       cache_stat_read(&t.c.stats.reclaimed_pages));
	CHECK_EQ(a.bad, 0);
	fm_teardown(&t);
	free(page);
}

TEST(lockfree_readers_vs_writer)
{
	mt_run(64u << 20);
}

TEST(lockfree_readers_vs_writer_under_reclaim)
{
	/* 16 pages of cache for a 64-page file: reclaim runs all the time. */
	mt_run(16 * PG);
}

/* ---- lock-free readers against page removal ---- */

struct inv {
	struct fm *t;
	uint64_t seed;
	uint32_t stop;
	unsigned long bad, reads;
};

static void *inv_reader(void *p)
{
	struct inv *a = p;
	unsigned char *buf = malloc(2 * PG);
	struct rng r;

	rng_seed(&r, a->seed ^ (uint64_t)pthread_self());
	while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
		int64_t pos = (int64_t)rng_below(&r, MT_PAGES * PG - 2 * PG);
		size_t len = 1 + (size_t)rng_below(&r, 2 * PG);
		ssize_t n = rd(a->t, NULL, buf, len, pos, 0);

		__atomic_fetch_add(&a->reads, 1, __ATOMIC_RELAXED);
		if (n != (ssize_t)len || bad_pat(buf, len, pos, 23) >= 0)
			__atomic_fetch_add(&a->bad, 1, __ATOMIC_RELAXED);
	}
	free(buf);
	return NULL;
}

/*
 * fadvise(DONTNEED) drops clean pages (punching their frames) while readers
 * copy from them without locks: the data never changes, so a reader must
 * never see anything but it (a copy that met a punched frame is redone).
 */
TEST(lockfree_readers_vs_invalidate)
{
	unsigned char *data = malloc(MT_PAGES * PG);
	struct inv a = {.seed = test_seed()};
	unsigned long reads = test_scale(30000, 10), dropped = 0;
	pthread_t th[3];
	struct fm t;

	fill_pat(data, MT_PAGES * PG, 0, 23);
	fm_setup(&t, data, MT_PAGES * PG);
	a.t = &t;
	for (int i = 0; i < 3; i++)
		CHECK(pthread_create(&th[i], NULL, inv_reader, &a) == 0);
	/* Until the readers have done enough reads, with pages dropped under
	 * them all along. */
	while (__atomic_load_n(&a.reads, __ATOMIC_RELAXED) < reads)
		dropped += invalidate_mapping_pages(&t.m, 0, PAGE_INDEX_MAX);
	__atomic_store_n(&a.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	printf("# %lu reads, %lu pages dropped under them\n", a.reads, dropped);
	CHECK_EQ(a.bad, 0);
	fm_teardown(&t);
	free(data);
}

#if PC_SCHED_HOOKS
struct rm_run {
	struct fm *t;
	unsigned char buf[PG];
	ssize_t ret;
};

static void rm_fn(void *arg, unsigned idx)
{
	struct rm_run *r = arg;

	if (idx == 0)
		r->ret = rd(r->t, NULL, r->buf, PG, 0, 0);
	else
		invalidate_mapping_pages(&r->t->m, 0, 1);
}

/*
 * The reader of page 0 of a two-page file (pattern @pat, cached before each
 * run) against the drop of that page, under test_scale(3000) schedules
 * from test_seed, PCT and random walks in turn, with switch *@sw (if any)
 * on. @must_read_file: every schedule must return the file's data (the
 * first that does not fails the case with its seed). Returns how many did
 * not; *@dropped_under_hit (if not NULL) counts the schedules where the
 * reader found the page and it was dropped anyway.
 */
static unsigned long removal_under_copy(unsigned pat, bool *sw, bool must_read_file,
					unsigned long *dropped_under_hit)
{
	struct sched_pool *pool = sched_pool_create(2);
	unsigned char data[2 * PG];
	uint64_t base = test_seed();
	unsigned long n = test_scale(3000, 10), stale = 0;
	struct rm_run r;
	struct fm t;

	fill_pat(data, sizeof(data), 0, pat);
	fm_setup(&t, data, sizeof(data));
	r.t = &t;
	if (sw)
		*sw = true;
	for (unsigned long i = 0; i < n; i++) {
		struct sched_config cfg = {.seed = base + i,
					   .strategy = i & 1 ? SCHED_PCT : SCHED_RANDOM_WALK};
		unsigned char warm[2 * PG];
		bool good;

		CHECK_EQ(rd(&t, NULL, warm, sizeof(warm), 0, 0), (ssize_t)sizeof(warm));
		uint64_t hits = cache_stat_read(&t.c.stats.hits);
		struct sched_result res = sched_run(pool, &cfg, rm_fn, &r);
		CHECKF(res.status == SCHED_OK, "seed 0x%" PRIx64, base + i);
		good = r.ret == (ssize_t)PG && bad_pat(r.buf, PG, 0, pat) < 0;
		CHECKF(good || !must_read_file, "seed 0x%" PRIx64 " (%s): ret %zd", base + i,
		       i & 1 ? "PCT" : "random walk", r.ret);
		stale += !good;
		if (dropped_under_hit && cache_stat_read(&t.c.stats.hits) > hits && !cached(&t, 0))
			(*dropped_under_hit)++;
	}
	if (sw)
		*sw = false;
	printf("# %lu schedules, %lu returned bytes of a punched frame\n", n, stale);
	fm_teardown(&t);
	sched_pool_destroy(pool);
	return stale;
}

/*
 * The same race under the deterministic scheduler: a reader that passed the
 * uptodate test copies while the page is dropped and its frame punched.
 * Some schedules put the punch inside the copy; in every one the reader
 * returns the file's data.
 */
TEST(removal_under_copy_is_redone)
{
	unsigned long dropped_first = 0;

	removal_under_copy(24, NULL, true, &dropped_first);
	printf("# %lu with the page dropped under a hit\n", dropped_first);
	CHECK(dropped_first > 0);
}

/*
 * The re-check is what makes the reference-free hit safe: with it switched
 * off (filemap_test_no_recheck), the schedules that punch the frame between
 * the reader's uptodate test and its copy hand the reader zeroes - bytes of
 * no version of the file. Shows the hazard the re-check prevents.
 */
TEST(removal_under_copy_without_recheck_shows)
{
	CHECK(removal_under_copy(24, &filemap_test_no_recheck, false, NULL) > 0);
}

/*
 * The uptodate bit in the index leaf is what the reference-free hit tests
 * and re-checks instead of PG_uptodate: left set when the page's flag is
 * cleared and the page deleted (page_index_test_stale_uptodate), a reader
 * that comes between the punch and the deletion takes the punched frame for
 * a hit and its re-check passes (the bit and the slot unchanged): it returns
 * zeroes. Shows that the bit must go before the frame.
 */
TEST(removal_under_copy_with_stale_uptodate_bit_shows)
{
	CHECK(removal_under_copy(25, &page_index_test_stale_uptodate, false, NULL) > 0);
}
#endif

/* SPDX-License-Identifier: MIT */
/*
 * Tests of writeback and reclaim (src/mm/writeback.c, reclaim.c, mm_cache.c)
 * on the mm layer directly, over a dir store: dirty accounting (flag, index
 * tag, per-mapping and engine counters agree), fsync's write-and-wait
 * writing every byte and nothing past EOF, injected store write errors
 * reported once per errseq sample with the data kept dirty and written by a
 * later fsync, the background thread (periodic flush within its interval,
 * kick above dirty_background, its name), writer throttling at dirty_limit,
 * mapping teardown racing the thread, and the memory limit: a working set
 * ten times mem_limit written and read back with every byte verified while
 * a sampler checks that the cache never holds more than limit + 5%.
 * Random tests print their seed (PC_SEED replays); PC_QUICK scales down.
 * Waits for the background thread poll a counter with a deadline; nothing
 * sleeps to order threads.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "threads.h"
#include "kernel/futex.h"
#include "kernel/rng.h"
#include "mm/internal.h"
#include "store/fixture.h"

#define MAX_FILES 4
#define HOUR_MS	  3600000u

struct wbt {
	struct store *s;
	struct mm_cache c;
	int nfiles;
	struct store_inode *si[MAX_FILES];
	struct address_space m[MAX_FILES];
};

static void wbt_setup(struct wbt *t, const struct mm_cache_config *cfg, int nfiles)
{
	char name[32];
	int ret;

	memset(t, 0, sizeof(*t));
	t->s = open_fresh();
	ret = mm_cache_init(&t->c, cfg);
	CHECKF(ret == 0, "mm_cache_init: %s", strerror(-ret));
	t->nfiles = nfiles;
	for (int i = 0; i < nfiles; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		t->si[i] = create(t->s, name);
		ret = mapping_init(&t->m[i], &t->c, t->si[i], 0);
		CHECKF(ret == 0, "mapping_init: %s", strerror(-ret));
	}
}

static void wbt_teardown(struct wbt *t)
{
	for (int i = 0; i < t->nfiles; i++) {
		CHECK_EQ(filemap_write_and_wait_range(&t->m[i], 0, INT64_MAX), 0);
		mapping_destroy(&t->m[i]);
		store_release(t->si[i]);
	}
	mm_cache_destroy(&t->c);
	store_close(t->s);
}

/* A quiet cache: no background writeback, no throttling, no reclaim. */
static struct mm_cache_config quiet_config(void)
{
	return (struct mm_cache_config){
	    .mem_limit = 64u << 20,
	    .dirty_background = 30u << 20,
	    .dirty_limit = 60u << 20,
	    .writeback_interval_ms = HOUR_MS,
	};
}

/* The byte at offset @o of file @f. */
static inline unsigned char pattern(int64_t o, int f, unsigned gen)
{
	uint64_t x = (uint64_t)o * 0x9E3779B97F4A7C15ull + (uint64_t)f * 131 + gen * 7919u;
	return (unsigned char)(x >> 56 ^ x >> 17);
}

static void fill_pattern(unsigned char *buf, size_t len, int64_t pos, int f, unsigned gen)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(pos + (int64_t)i, f, gen);
}

/* Index of the first byte of @buf that differs from the pattern, or -1. */
static long check_pattern(const unsigned char *buf, size_t len, int64_t pos, int f, unsigned gen)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern(pos + (int64_t)i, f, gen))
			return (long)i;
	return -1;
}

static ssize_t do_write(struct address_space *m, const void *buf, size_t len, int64_t pos)
{
	struct iovec iov = {(void *)buf, len};
	struct iov_iter it;

	iov_iter_init(&it, &iov, 1, len);
	return generic_perform_write(m, &it, pos, 0);
}

static ssize_t do_read(struct address_space *m, struct file_ra_state *ra, void *buf, size_t len,
		       int64_t pos)
{
	struct iovec iov = {buf, len};
	struct iov_iter it;

	iov_iter_init(&it, &iov, 1, len);
	return filemap_read(m, ra, &it, pos, 0);
}

static void ra_init(struct file_ra_state *ra, struct mm_cache *c)
{
	memset(ra, 0, sizeof(*ra));
	ra->ra_pages = c->ra_max_pages;
	ra->prev_index = (pgoff_t)-1;
}

static void write_pattern(struct address_space *m, int64_t pos, size_t len, int f, unsigned gen)
{
	unsigned char *buf = malloc(len);

	CHECK(buf != NULL);
	fill_pattern(buf, len, pos, f, gen);
	ssize_t n = do_write(m, buf, len, pos);
	free(buf);
	CHECKF(n == (ssize_t)len, "write %zd of %zu at %lld", n, len, (long long)pos);
}

/* The store file holds the pattern in [pos, pos + len). */
static void check_store(struct store_inode *si, int64_t pos, size_t len, int f, unsigned gen)
{
	unsigned char *buf = malloc(len);

	CHECK(buf != NULL);
	ssize_t n = store_read(si, buf, len, pos);
	CHECKF(n == (ssize_t)len, "store_read %zd of %zu", n, len);
	long bad = check_pattern(buf, len, pos, f, gen);
	free(buf);
	CHECKF(bad < 0, "store byte %lld differs", (long long)(pos + bad));
}

/* Pages of [first, last] tagged @tag. */
static unsigned long count_tagged(struct address_space *m, unsigned tag, pgoff_t first,
				  pgoff_t last)
{
	struct page *pages[64];
	unsigned long total = 0;
	unsigned n;

	do {
		n = find_get_pages_range_tag(&m->i_pages, &first, last, tag, pages, 64);
		total += n;
		for (unsigned j = 0; j < n; j++)
			put_page(pages[j]);
	} while (n == 64);
	return total;
}

/* Dirty flag, DIRTY tag and the counters agree; nothing is under writeback. */
static void check_dirty_accounting(struct wbt *t)
{
	unsigned long total = 0;

	for (int i = 0; i < t->nfiles; i++) {
		struct address_space *m = &t->m[i];
		struct page *pages[64];
		unsigned long flagged = 0;
		pgoff_t start = 0;
		unsigned n;

		do {
			n = find_get_pages_range(&m->i_pages, &start, PAGE_INDEX_MAX, pages, 64);
			for (unsigned j = 0; j < n; j++) {
				struct page *p = pages[j];
				bool tag =
				    page_index_get_tag(&m->i_pages, p->index, PAGECACHE_TAG_DIRTY);
				CHECKF(PageDirty(p) == tag, "page %llu dirty %d tag %d",
				       (unsigned long long)p->index, PageDirty(p), tag);
				CHECK(!PageWriteback(p) && PageLRU(p));
				flagged += PageDirty(p);
				put_page(p);
			}
		} while (n == 64);
		CHECK_EQ(flagged, READ_ONCE(m->nrdirty));
		CHECK_EQ(count_tagged(m, PAGECACHE_TAG_DIRTY, 0, PAGE_INDEX_MAX), flagged);
		CHECK_EQ(count_tagged(m, PAGECACHE_TAG_WRITEBACK, 0, PAGE_INDEX_MAX), 0);
		total += flagged;
	}
	CHECK_EQ(total, READ_ONCE(t->c.nr_dirty));
	CHECK_EQ(READ_ONCE(t->c.nr_writeback), 0);
}

/* Both LRU lists against the cache's page count. */
static void check_lru(struct wbt *t)
{
	unsigned long inactive = 0, active = 0, indexed = 0, bad = 0, nr_active;
	struct page *p;

	mutex_lock(&t->c.lru_lock);
	list_for_each_entry (p, &t->c.lru_inactive, lru) {
		bad += !PageLRU(p) || PageActive(p);
		inactive++;
	}
	list_for_each_entry (p, &t->c.lru_active, lru) {
		bad += !PageLRU(p) || !PageActive(p);
		active++;
	}
	nr_active = t->c.nr_active;
	mutex_unlock(&t->c.lru_lock);
	CHECK_EQ(bad, 0);
	CHECK_EQ(active, nr_active);
	for (int i = 0; i < t->nfiles; i++)
		indexed += page_index_nrpages(&t->m[i].i_pages);
	CHECK_EQ(inactive + active, READ_ONCE(t->c.nr_pages));
	CHECK_EQ(indexed, READ_ONCE(t->c.nr_pages));
}

/* *p = max(*p, v), atomically. */
static void atomic_max(unsigned long *p, unsigned long v)
{
	unsigned long old = __atomic_load_n(p, __ATOMIC_RELAXED);

	while (v > old &&
	       !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* Polls @counter until it is at most @target, for at most @ms. */
static bool poll_at_most(unsigned long *counter, unsigned long target, unsigned ms)
{
	uint64_t deadline = ktime_get_ns() + (uint64_t)ms * 1000000u;
	struct timespec tick = {0, 1000000};

	while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) > target) {
		if (ktime_get_ns() > deadline)
			return false;
		nanosleep(&tick, NULL);
	}
	return true;
}

TEST(dirty_accounting)
{
	struct mm_cache_config cfg = quiet_config();
	uint64_t seed = test_seed();
	struct rng r;
	struct wbt t;

	rng_seed(&r, seed);
	wbt_setup(&t, &cfg, 2);
	/* Scattered writes of random sizes, some pages rewritten. */
	for (int k = 0; k < 200; k++) {
		int f = (int)rng_below(&r, 2);
		int64_t pos = (int64_t)rng_below(&r, 256 * PAGE_SIZE);
		size_t len = 1 + rng_below(&r, 3 * PAGE_SIZE);

		write_pattern(&t.m[f], pos, len, f, 0);
	}
	check_dirty_accounting(&t);
	check_lru(&t);
	CHECK(READ_ONCE(t.c.nr_dirty) > 0);

	/* Dirty transitions by hand on one page. */
	struct page *page = find_get_page(&t.m[0].i_pages, 0);
	if (!page) {
		write_pattern(&t.m[0], 0, 1, 0, 0);
		page = find_get_page(&t.m[0].i_pages, 0);
	}
	CHECK(page != NULL);
	lock_page(page);
	unsigned long before = READ_ONCE(t.c.nr_dirty);
	bool was_dirty = PageDirty(page);
	CHECK_EQ(clear_page_dirty_for_io(page), was_dirty);
	CHECK(!clear_page_dirty_for_io(page));
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), before - was_dirty);
	CHECK(set_page_dirty(page));
	CHECK(!set_page_dirty(page));
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), before - was_dirty + 1);
	unlock_page(page);
	put_page(page);
	check_dirty_accounting(&t);

	/* Write back half of file 0: that range becomes clean, the rest stays. */
	unsigned long dirty1 = READ_ONCE(t.m[1].nrdirty);
	CHECK_EQ(filemap_write_and_wait_range(&t.m[0], 0, 128 * PAGE_SIZE - 1), 0);
	CHECK_EQ(count_tagged(&t.m[0], PAGECACHE_TAG_DIRTY, 0, 127), 0);
	CHECK_EQ(READ_ONCE(t.m[1].nrdirty), dirty1);
	check_dirty_accounting(&t);

	for (int f = 0; f < 2; f++)
		CHECK_EQ(filemap_write_and_wait_range(&t.m[f], 0, INT64_MAX), 0);
	check_dirty_accounting(&t);
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), 0);
	for (int f = 0; f < 2; f++) {
		CHECK(!page_index_tagged(&t.m[f].i_pages, PAGECACHE_TAG_DIRTY));
		CHECK(!page_index_tagged(&t.m[f].i_pages, PAGECACHE_TAG_WRITEBACK));
	}
	wbt_teardown(&t);
}

TEST(fsync_writes_everything_not_past_eof)
{
	struct mm_cache_config cfg = quiet_config();
	const size_t size = 100 * PAGE_SIZE + 1234; /* EOF inside a page */
	struct wbt t;

	wbt_setup(&t, &cfg, 1);
	uint64_t wb0 = t.c.stats.written_back_pages;
	write_pattern(&t.m[0], 0, size, 0, 1);
	CHECK_EQ(i_size_read(&t.m[0]), (int64_t)size);
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), 101);
	CHECK_EQ(store_size(t.si[0]), 0); /* nothing written yet */

	CHECK_EQ(filemap_write_and_wait_range(&t.m[0], 0, INT64_MAX), 0);
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), 0);
	CHECK_EQ(READ_ONCE(t.m[0].nrdirty), 0);
	CHECK_EQ(t.c.stats.written_back_pages - wb0, 101);
	CHECK(!page_index_tagged(&t.m[0].i_pages, PAGECACHE_TAG_DIRTY));
	CHECK(!page_index_tagged(&t.m[0].i_pages, PAGECACHE_TAG_WRITEBACK));
	/* The EOF page's tail was not written: the store file ends at EOF. */
	CHECK_EQ(store_size(t.si[0]), (int64_t)size);
	check_store(t.si[0], 0, size, 0, 1);

	/* A second fsync has nothing to write. */
	unsigned long writes = store_calls(t.s, STORE_OP_WRITE);
	CHECK_EQ(filemap_write_and_wait_range(&t.m[0], 0, INT64_MAX), 0);
	CHECK_EQ(store_calls(t.s, STORE_OP_WRITE), writes);
	check_dirty_accounting(&t);
	wbt_teardown(&t);
}

static void one_write_error(int err)
{
	struct mm_cache_config cfg = quiet_config();
	struct wbt t;

	wbt_setup(&t, &cfg, 1);
	struct address_space *m = &t.m[0];
	errseq_t fd1 = errseq_sample(&m->wb_err), fd2 = errseq_sample(&m->wb_err);

	write_pattern(m, 0, 4 * PAGE_SIZE, 0, 2);
	CHECK_EQ(filemap_write_and_wait_range(m, 0, INT64_MAX), 0);
	write_pattern(m, PAGE_SIZE, 2 * PAGE_SIZE, 0, 3); /* pages 1 and 2 dirty again */
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), 2);

	/* The next store write fails: fsync reports it, the page stays dirty. */
	store_inject_fail(t.s, STORE_OP_WRITE, 1, err, false);
	CHECK_EQ(filemap_write_and_wait_range(m, 0, INT64_MAX), -err);
	CHECK_EQ(store_inject_fired(t.s), 1);
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), 1);
	check_dirty_accounting(&t);
	struct page *page = find_get_page(&m->i_pages, 1);
	CHECK(page != NULL);
	CHECK(PageDirty(page) && PageError(page));

	/* Once per sample (errseq), then never again. */
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd1), -err);
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd1), 0);
	/* A file opened after the error was seen does not get it. */
	errseq_t fd3 = errseq_sample(&m->wb_err);
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd3), 0);
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd2), -err);
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd2), 0);

	/* The data was kept: a later fsync writes it. */
	CHECK_EQ(filemap_write_and_wait_range(m, 0, INT64_MAX), 0);
	CHECK(!PageDirty(page) && !PageError(page));
	put_page(page);
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), 0);
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd1), 0);
	check_store(t.si[0], 0, PAGE_SIZE, 0, 2);
	check_store(t.si[0], PAGE_SIZE, 2 * PAGE_SIZE, 0, 3);
	check_store(t.si[0], 3 * PAGE_SIZE, PAGE_SIZE, 0, 2);

	/* A second error after the first was seen is a new error for everyone. */
	write_pattern(m, 0, 10, 0, 4);
	store_inject_fail(t.s, STORE_OP_WRITE, 1, err, false);
	CHECK_EQ(filemap_fdatawrite_range(m, 0, INT64_MAX), -err);
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd1), -err);
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd2), -err);
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd3), -err);
	CHECK_EQ(filemap_write_and_wait_range(m, 0, INT64_MAX), 0);
	check_store(t.si[0], 0, 10, 0, 4);
	wbt_teardown(&t);
}

TEST(write_error_eio_reported_once_data_kept)
{
	one_write_error(EIO);
}

TEST(write_error_enospc_reported_once_data_kept)
{
	one_write_error(ENOSPC);
}

/* Threads of this process named "pc-writeback" (liburcu's call_rcu worker
 * inherits the name if the writeback thread happened to start it). */
static int writeback_threads_named(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int found = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f))
			found += !strncmp(comm, "pc-writeback", 12);
		fclose(f);
	}
	closedir(d);
	return found;
}

TEST(background_periodic_writeback)
{
	struct mm_cache_config cfg = quiet_config();
	struct wbt t;

	cfg.writeback_interval_ms = 50;
	wbt_setup(&t, &cfg, 2);
	CHECK(writeback_threads_named() >= 1);
	uint64_t t0 = ktime_get_ns();
	write_pattern(&t.m[0], 0, 10 * PAGE_SIZE + 7, 0, 5);
	write_pattern(&t.m[1], 3 * PAGE_SIZE, 5 * PAGE_SIZE, 1, 5);
	CHECK(READ_ONCE(t.c.nr_dirty) > 0);
	/* Below dirty_background: only the periodic flush writes them. Allow
	 * a generous multiple of the interval for a loaded machine. */
	CHECK(poll_at_most(&t.c.nr_dirty, 0, 200 * cfg.writeback_interval_ms));
	printf("# flushed after %llu ms (interval %u ms)\n",
	       (unsigned long long)((ktime_get_ns() - t0) / 1000000), cfg.writeback_interval_ms);
	CHECK(poll_at_most(&t.c.nr_writeback, 0, 10000));
	check_store(t.si[0], 0, 10 * PAGE_SIZE + 7, 0, 5);
	check_store(t.si[1], 3 * PAGE_SIZE, 5 * PAGE_SIZE, 1, 5);
	CHECK_EQ(store_size(t.si[0]), 10 * PAGE_SIZE + 7);
	wbt_teardown(&t);
}

TEST(background_kick_above_dirty_background)
{
	struct mm_cache_config cfg = quiet_config();
	struct wbt t;

	cfg.dirty_background = 16 * PAGE_SIZE;
	cfg.dirty_limit = 4096 * PAGE_SIZE;
	wbt_setup(&t, &cfg, 1);
	CHECK_EQ(t.c.dirty_background, 16);
	write_pattern(&t.m[0], 0, 100 * PAGE_SIZE, 0, 6);
	/* The write path kicks the thread; so does this (never sleeps). */
	balance_dirty_pages(&t.m[0], true);
	CHECK(poll_at_most(&t.c.nr_dirty, 16, 60000));
	writeback_stop(&t.c); /* quiescent: the accounting can be checked exactly */
	CHECK(READ_ONCE(t.c.nr_dirty) <= 16);
	check_dirty_accounting(&t);
	wbt_teardown(&t);
}

/* Writers of several files with a small dirty limit: the dirty count stays
 * near the limit and writers get throttled. */
struct throttle_arg {
	struct wbt *t;
	int next;
	size_t chunk, total;
	unsigned long max_seen;
	int err;
};

static void *throttle_writer(void *p)
{
	struct throttle_arg *a = p;
	struct wbt *t = a->t;
	int f = __atomic_fetch_add(&a->next, 1, __ATOMIC_RELAXED);
	unsigned char *buf = malloc(a->chunk);

	for (size_t pos = 0; buf && pos < a->total; pos += a->chunk) {
		fill_pattern(buf, a->chunk, (int64_t)pos, f, 7);
		if (do_write(&t->m[f], buf, a->chunk, (int64_t)pos) != (ssize_t)a->chunk) {
			a->err = -EIO;
			break;
		}
		atomic_max(&a->max_seen, READ_ONCE(t->c.nr_dirty) + READ_ONCE(t->c.nr_writeback));
	}
	free(buf);
	return NULL;
}

TEST(throttle_at_dirty_limit)
{
	struct mm_cache_config cfg = quiet_config();
	const int nthreads = 3;
	struct wbt t;

	cfg.dirty_background = 16 * PAGE_SIZE;
	cfg.dirty_limit = 64 * PAGE_SIZE;
	wbt_setup(&t, &cfg, nthreads);
	struct throttle_arg a = {.t = &t, .chunk = 4 * PAGE_SIZE, .total = test_scale(4u << 20, 4)};
	run_threads(nthreads, throttle_writer, &a);
	CHECK_EQ(a.err, 0);
	printf("# max dirty+writeback %lu pages (limit %lu), throttled %llu\n", a.max_seen,
	       t.c.dirty_limit, (unsigned long long)t.c.stats.throttled_writes);
	CHECK(t.c.stats.throttled_writes > 0);
	/* Each writer may run one chunk past the limit before it throttles. */
	CHECK(a.max_seen <= t.c.dirty_limit + (unsigned long)nthreads * (a.chunk / PAGE_SIZE + 1));
	for (int f = 0; f < nthreads; f++)
		CHECK_EQ(filemap_write_and_wait_range(&t.m[f], 0, INT64_MAX), 0);
	for (int f = 0; f < nthreads; f++)
		check_store(t.si[f], 0, a.total, f, 7);
	wbt_teardown(&t);
}

/* A background write error is reported to fsync once per sample, and the
 * page written later. */
TEST(background_write_error_reported_by_fsync)
{
	struct mm_cache_config cfg = quiet_config();
	struct wbt t;

	cfg.writeback_interval_ms = 20;
	wbt_setup(&t, &cfg, 1);
	struct address_space *m = &t.m[0];
	errseq_t fd1 = errseq_sample(&m->wb_err);

	store_inject_fail(t.s, STORE_OP_WRITE, 1, EIO, false);
	write_pattern(m, 0, PAGE_SIZE, 0, 8);
	/* The thread fails once (page stays dirty), then writes it on a later pass. */
	uint64_t deadline = ktime_get_ns() + 20000000000ull;
	while (store_inject_fired(t.s) == 0 && ktime_get_ns() < deadline)
		sched_yield();
	CHECK_EQ(store_inject_fired(t.s), 1);
	/* nr_dirty also reads 0 while the failing writeback is in flight: wait
	 * for the successful rewrite itself */
	while (__atomic_load_n(&t.c.stats.written_back_pages, __ATOMIC_ACQUIRE) == 0 &&
	       ktime_get_ns() < deadline)
		sched_yield();
	CHECK(__atomic_load_n(&t.c.stats.written_back_pages, __ATOMIC_ACQUIRE) >= 1);
	CHECK(poll_at_most(&t.c.nr_dirty, 0, 20000));
	CHECK(poll_at_most(&t.c.nr_writeback, 0, 20000));
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd1), -EIO);
	CHECK_EQ(filemap_write_and_wait_range(m, 0, INT64_MAX), 0);
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd1), 0);
	check_store(t.si[0], 0, PAGE_SIZE, 0, 8);
	wbt_teardown(&t);
}

/* Mappings come and go while the thread writes back every millisecond:
 * teardown waits for the thread to let go (ASan would see a use after free). */
TEST(mapping_teardown_races_writeback_thread)
{
	struct mm_cache_config cfg = quiet_config();
	struct wbt t;
	unsigned long rounds = test_scale(300, 10);

	cfg.writeback_interval_ms = 1;
	wbt_setup(&t, &cfg, 0);
	for (unsigned long i = 0; i < rounds; i++) {
		struct address_space *m = &t.m[0];
		struct store_inode *si;
		char name[32];

		snprintf(name, sizeof(name), "r%lu", i);
		si = create(t.s, name);
		CHECK_EQ(mapping_init(m, &t.c, si, 0), 0);
		write_pattern(m, 0, 8 * PAGE_SIZE, 0, 9);
		if (i & 1)
			CHECK_EQ(filemap_write_and_wait_range(m, 0, INT64_MAX), 0);
		else
			poll_at_most(&m->nrdirty, 0, 20000);
		CHECK_EQ(filemap_write_and_wait_range(m, 0, INT64_MAX), 0);
		mapping_destroy(m);
		check_store(si, 0, 8 * PAGE_SIZE, 0, 9);
		store_release(si);
	}
	wbt_teardown(&t);
}

TEST(writeback_stop_writes_nothing_further)
{
	struct mm_cache_config cfg = quiet_config();
	struct wbt t;

	wbt_setup(&t, &cfg, 1);
	write_pattern(&t.m[0], 0, 8 * PAGE_SIZE, 0, 10);
	unsigned long writes = store_calls(t.s, STORE_OP_WRITE);
	int named = writeback_threads_named();
	writeback_stop(&t.c);
	CHECK_EQ(writeback_threads_named(), named - 1);
	CHECK_EQ(store_calls(t.s, STORE_OP_WRITE), writes);
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), 8);
	/* Without the thread nothing sleeps waiting for it. */
	balance_dirty_pages(&t.m[0], false);
	CHECK_EQ(store_calls(t.s, STORE_OP_WRITE), writes);
	wbt_teardown(&t); /* fsync writes them; destroy stops nothing twice */
}

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
	       limit, a.max_pages, (unsigned long long)t.c.stats.reclaimed_pages,
	       (unsigned long long)t.c.stats.written_back_pages,
	       (unsigned long long)t.c.stats.throttled_writes);
	CHECKF(a.bad_at < 0, "file %d offset %ld: %s", a.bad_file, a.bad_at,
	       a.err ? strerror((int)-a.err) : "wrong byte");
	CHECK(a.max_pages <= limit + limit / 20);
	CHECK(t.c.stats.reclaimed_pages > 0);
	check_lru(&t);
	for (int f = 0; f < nworkers; f++)
		CHECK_EQ(filemap_write_and_wait_range(&t.m[f], 0, INT64_MAX), 0);
	check_dirty_accounting(&t);
	for (int f = 0; f < nworkers; f++)
		check_store(t.si[f], 0, a.file_size, f, 11);
	wbt_teardown(&t);
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
		;
	return NULL;
}

TEST(hot_pages_survive_streaming_and_read_right)
{
	struct mm_cache_config cfg = {.mem_limit = 4u << 20, .writeback_interval_ms = 100};
	const size_t chunk = 16 * PAGE_SIZE, cold_size = test_scale(10 * (4u << 20), 4);
	unsigned char *buf = malloc(chunk);
	struct file_ra_state ra;
	pthread_t readers[2];
	struct wbt t;

	CHECK(buf != NULL);
	wbt_setup(&t, &cfg, 2);
	struct mem_arg a = {
	    .t = &t, .file_size = 64 * PAGE_SIZE, .seed = test_seed(), .bad_at = -1};
	write_pattern(&t.m[0], 0, a.file_size, 0, 11);
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&readers[i], NULL, hot_reader, &a) == 0);
	/* Stream the cold file through the cache: write it, then read it. */
	for (size_t pos = 0; pos < cold_size; pos += chunk)
		write_pattern(&t.m[1], (int64_t)pos, chunk, 1, 13);
	ra_init(&ra, &t.c);
	for (size_t pos = 0; pos < cold_size; pos += chunk) {
		CHECK_EQ(do_read(&t.m[1], &ra, buf, chunk, (int64_t)pos), chunk);
		CHECK(check_pattern(buf, chunk, (int64_t)pos, 1, 13) < 0);
	}
	free(buf);
	unsigned long hot_resident = page_index_nrpages(&t.m[0].i_pages);
	__atomic_store_n(&a.done, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_join(readers[i], NULL);
	printf("# hot pages resident %lu of %zu, reclaimed %llu\n", hot_resident,
	       a.file_size / PAGE_SIZE, (unsigned long long)t.c.stats.reclaimed_pages);
	CHECKF(a.bad_at < 0, "hot offset %ld: %s", a.bad_at,
	       a.err ? strerror((int)-a.err) : "wrong byte");
	CHECK(t.c.stats.reclaimed_pages > 0);
	CHECK(hot_resident >= a.file_size / PAGE_SIZE / 2);
	check_lru(&t);
	wbt_teardown(&t);
}

/* A store that fails every write: writers are neither hung by throttling nor
 * by reclaim (all pages dirty), fsync reports the error, and once the store
 * works again every acknowledged byte is written. */
TEST(sticky_write_errors_hang_nothing_lose_nothing)
{
	struct mm_cache_config cfg = {
	    .mem_limit = 1u << 20,
	    .dirty_background = 16 * PAGE_SIZE,
	    .dirty_limit = 32 * PAGE_SIZE,
	    .writeback_interval_ms = 10,
	};
	const size_t size = 2u << 20; /* twice the memory limit, all dirty */
	struct wbt t;

	wbt_setup(&t, &cfg, 1);
	struct address_space *m = &t.m[0];
	errseq_t since = errseq_sample(&m->wb_err);

	store_inject_fail(t.s, STORE_OP_WRITE, 1, EIO, true);
	for (size_t pos = 0; pos < size; pos += 8 * PAGE_SIZE)
		write_pattern(m, (int64_t)pos, 8 * PAGE_SIZE, 0, 14);
	CHECK_EQ(filemap_write_and_wait_range(m, 0, INT64_MAX), -EIO);
	CHECK_EQ(file_check_and_advance_wb_err(m, &since), -EIO);
	/* Quiescent from here: the accounting can be checked exactly. */
	writeback_stop(&t.c);
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), size / PAGE_SIZE);
	check_dirty_accounting(&t);

	store_inject_clear(t.s);
	CHECK_EQ(filemap_write_and_wait_range(m, 0, INT64_MAX), 0);
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), 0);
	check_store(t.si[0], 0, size, 0, 14);
	/* Clean now: reclaim brings the cache back under its limit. */
	CHECK(READ_ONCE(t.c.nr_pages) > t.c.mem_limit_pages);
	reclaim_if_needed(&t.c, 1);
	CHECK(READ_ONCE(t.c.nr_pages) + 1 <= t.c.mem_limit_pages);
	check_lru(&t);
	wbt_teardown(&t);
}

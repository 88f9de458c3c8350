/* SPDX-License-Identifier: MIT */
/*
 * Tests of the filemap core (src/mm/filemap.c, filemap_write.c,
 * readahead.c, truncate.c, frames.c) on the mm layer over a dir store in a
 * temporary directory, one thread at a time: reads of holes and data, read
 * after write, partial-page writes over store data, writes past EOF
 * (zero-filled gap), EOF clamping, readahead (sequential reads read ahead
 * and grow the window, random reads do not), fadvise WILLNEED, NOWAIT
 * (-EAGAIN on a cold page, the cached prefix otherwise), writes from bad
 * pointers (-EFAULT) and from a source running into a PROT_NONE page (the
 * bytes before it, never zeroes over store data), truncate of a range
 * (partial pages zeroed, dirty state kept), truncate to a size, the
 * invalidations, store read errors, files past 16 GiB (frame views
 * growing), the index leaf's mirrors of PG_uptodate and PG_readahead.
 * Concurrency: test_filemap_race.c. Random tests print their seed.
 */
#include <sys/mman.h>
#include <urcu.h>

#include "filemap_fixture.h"
#include "kernel/rng.h"

/* ---- reads ---- */

TEST(read_holes_and_data)
{
	const size_t size = 64 * PG + 123;
	unsigned char *exp = calloc(1, size), *buf = malloc(size + PG);
	struct fm t;

	fm_setup(&t, NULL, 0);
	/* Data in [0, 5000) and [40 pages + 7, 41 pages), holes elsewhere. */
	fill_pat(exp, 5000, 0, 1);
	fill_pat(exp + 40 * PG + 7, PG - 7, 40 * PG + 7, 1);
	CHECK_EQ(store_write(t.si, exp, 5000, 0), 5000);
	CHECK_EQ(store_write(t.si, exp + 40 * PG + 7, PG - 7, 40 * PG + 7), (ssize_t)(PG - 7));
	CHECK_EQ(store_setsize(t.si, (int64_t)size), 0);
	i_size_write(&t.m, (int64_t)size);

	/* Whole file through readahead, then odd pieces from the cache. */
	CHECK_EQ(rd(&t, &t.ra, buf, size + PG, 0, 0), (ssize_t)size);
	CHECK(memcmp(buf, exp, size) == 0);
	for (int64_t pos = 1; pos < (int64_t)size; pos += 4093) {
		size_t len = (size_t)min_t(int64_t, 3 * PG + 17, (int64_t)size - pos);
		CHECK_EQ(rd(&t, NULL, buf, 3 * PG + 17, pos, 0), (ssize_t)len);
		CHECK(memcmp(buf, exp + pos, len) == 0);
	}
	/* The same, cold, page by page without readahead. */
	fm_teardown(&t);
	fm_setup(&t, exp, size);
	CHECK_EQ(rd(&t, NULL, buf, size, 0, 0), (ssize_t)size);
	CHECK(memcmp(buf, exp, size) == 0);
	fm_teardown(&t);
	free(exp);
	free(buf);
}

TEST(eof_clamping)
{
	unsigned char data[10000], buf[3 * PG];
	struct fm t;

	fill_pat(data, sizeof(data), 0, 2);
	fm_setup(&t, data, sizeof(data));
	CHECK_EQ(rd(&t, &t.ra, buf, sizeof(buf), 9000, 0), 1000);
	CHECK(bad_pat(buf, 1000, 9000, 2) < 0);
	CHECK_EQ(rd(&t, &t.ra, buf, sizeof(buf), 10000, 0), 0);
	CHECK_EQ(rd(&t, &t.ra, buf, sizeof(buf), 1 << 30, 0), 0);
	CHECK_EQ(rd(&t, &t.ra, buf, 0, 0, 0), 0);
	CHECK_EQ(rd(&t, &t.ra, buf, 1, -1, 0), -EINVAL);
	/* The size is sampled per page: a shrink shows at the next page. */
	i_size_write(&t.m, 5000);
	CHECK_EQ(rd(&t, &t.ra, buf, sizeof(buf), 0, 0), 5000);
	fm_teardown(&t);
}

TEST(read_error_then_retry)
{
	unsigned char data[2 * PG], buf[2 * PG];
	struct fm t;

	fill_pat(data, sizeof(data), 0, 3);
	fm_setup(&t, data, sizeof(data));
	store_inject_fail(t.s, STORE_OP_READ, 1, EIO, false);
	CHECK_EQ(rd(&t, NULL, buf, sizeof(buf), 0, 0), -EIO);
	CHECK_EQ(rd(&t, NULL, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	CHECK(bad_pat(buf, sizeof(buf), 0, 3) < 0);
	/* A failure after the first page: the bytes read so far. */
	store_inject_fail(t.s, STORE_OP_READ, 1, EIO, false);
	CHECK_EQ(rd(&t, NULL, buf, sizeof(buf), (int64_t)PG, 0), (ssize_t)PG);
	fm_teardown(&t);
}

/* ---- writes ---- */

TEST(read_after_write)
{
	const size_t size = 20 * PG;
	unsigned char *exp = calloc(1, size), *buf = malloc(size);
	struct fm t;
	uint64_t seed = test_seed();
	struct rng r;

	rng_seed(&r, seed);
	fm_setup(&t, NULL, 0);
	for (int i = 0; i < 200; i++) {
		int64_t pos = (int64_t)rng_below(&r, size - 1);
		size_t len =
		    1 + (size_t)rng_below(&r, min_t(uint64_t, size - (uint64_t)pos, 3 * PG));
		unsigned gen = (unsigned)i + 10;

		fill_pat(exp + pos, len, pos, gen);
		CHECK_EQ(wr(&t, exp + pos, len, pos), (ssize_t)len);
	}
	int64_t isize = i_size_read(&t.m);
	CHECK(isize > 0 && isize <= (int64_t)size);
	CHECK_EQ(rd(&t, &t.ra, buf, size, 0, 0), isize);
	CHECK(memcmp(buf, exp, (size_t)isize) == 0);
	/* Written back, the store holds the same bytes and nothing past EOF. */
	CHECK_EQ(filemap_write_and_wait_range(&t.m, 0, INT64_MAX), 0);
	CHECK_EQ(t.m.nrdirty, 0);
	CHECK_EQ(store_read(t.si, buf, size, 0), isize);
	CHECK(memcmp(buf, exp, (size_t)isize) == 0);
	fm_teardown(&t);
	free(exp);
	free(buf);
}

TEST(partial_page_writes_read_the_store)
{
	unsigned char data[4 * PG], buf[4 * PG], src[PG];
	struct fm t;

	fill_pat(data, sizeof(data), 0, 4);
	fm_setup(&t, data, sizeof(data));
	/* Nothing cached: each partial write reads its page first. */
	fill_pat(src, sizeof(src), 0, 5);
	CHECK_EQ(wr(&t, src, 10, 100), 10);
	CHECK_EQ(wr(&t, src, PG - 1, (int64_t)(2 * PG + 1)), (ssize_t)(PG - 1));
	memcpy(data + 100, src, 10);
	memcpy(data + 2 * PG + 1, src, PG - 1);
	CHECK_EQ(rd(&t, NULL, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	CHECK(memcmp(buf, data, sizeof(buf)) == 0);
	CHECK_EQ(t.m.nrdirty, 2);
	CHECK_EQ(i_size_read(&t.m), (int64_t)sizeof(data));
	fm_teardown(&t);
}

TEST(write_past_eof_zero_gap)
{
	unsigned char data[100], buf[6 * PG], src[PG];
	struct fm t;

	fill_pat(data, sizeof(data), 0, 6);
	fm_setup(&t, data, sizeof(data));
	CHECK_EQ(rd(&t, NULL, buf, PG, 0, 0), 100); /* the EOF page is cached */
	fill_pat(src, sizeof(src), 0, 7);
	CHECK_EQ(wr(&t, src, 50, (int64_t)(4 * PG + 10)), 50);
	CHECK_EQ(i_size_read(&t.m), (int64_t)(4 * PG + 60));
	CHECK_EQ(rd(&t, NULL, buf, sizeof(buf), 0, 0), (ssize_t)(4 * PG + 60));
	CHECK(memcmp(buf, data, 100) == 0);
	CHECK(is_zero((char *)buf + 100, 4 * PG + 10 - 100));
	CHECK(memcmp(buf + 4 * PG + 10, src, 50) == 0);
	/* And the store after writeback. */
	CHECK_EQ(filemap_write_and_wait_range(&t.m, 0, INT64_MAX), 0);
	memset(buf, 0xff, sizeof(buf));
	CHECK_EQ(store_read(t.si, buf, sizeof(buf), 0), (ssize_t)(4 * PG + 60));
	CHECK(is_zero((char *)buf + 100, 4 * PG + 10 - 100));
	fm_teardown(&t);
}

TEST(write_bad_pointer_efault)
{
	unsigned char data[PG];
	struct fm t;

	fill_pat(data, sizeof(data), 0, 8);
	fm_setup(&t, data, sizeof(data));
	CHECK_EQ(wr(&t, NULL, 100, 0), -EFAULT);
	CHECK_EQ(wr(&t, (void *)8, 2 * PG, 50), -EFAULT);
	CHECK_EQ(wr(&t, (void *)0x8000000000000000ull, 10, (int64_t)PG), -EFAULT);
	CHECK_EQ(i_size_read(&t.m), (int64_t)PG);
	CHECK_EQ(t.m.nrdirty, 0);
	unsigned char buf[PG];
	CHECK_EQ(rd(&t, NULL, buf, PG, 0, 0), (ssize_t)PG);
	CHECK(bad_pat(buf, PG, 0, 8) < 0);
	fm_teardown(&t);
}

TEST(write_source_runs_into_prot_none)
{
	static const size_t ks[] = {1, 100, 4095, 4096, 4097, 6000, 8191};
	char *area = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char data[4 * PG], buf[4 * PG];
	struct fm t;

	CHECK(area != MAP_FAILED);
	fill_pat((unsigned char *)area, 2 * PG, 0, 9);
	CHECK(mprotect(area + 2 * PG, PG, PROT_NONE) == 0);
	for (size_t j = 0; j < sizeof(ks) / sizeof(ks[0]); j++) {
		size_t k = ks[j];
		const char *src = area + 2 * PG - k;

		/* An empty file: the count is the bytes before the bad page. */
		fm_setup(&t, NULL, 0);
		uint64_t retries = cache_stat_read(&t.c.stats.write_retries);
		CHECK_EQ(wr(&t, src, 8192, 0), (ssize_t)k);
		CHECK(cache_stat_read(&t.c.stats.write_retries) > retries);
		CHECK_EQ(i_size_read(&t.m), (int64_t)k);
		CHECK_EQ(rd(&t, NULL, buf, sizeof(buf), 0, 0), (ssize_t)k);
		CHECK(memcmp(buf, src, k) == 0);
		fm_teardown(&t);

		/* Over store data, pages not cached: whole-page overwrites that
		 * copy short commit nothing, retry partially (reading the page),
		 * and the bytes after the short count are the old data, never
		 * zeroes. */
		fill_pat(data, sizeof(data), 0, 10);
		fm_setup(&t, data, sizeof(data));
		CHECK_EQ(wr(&t, src, 8192, 0), (ssize_t)k);
		CHECK_EQ(rd(&t, NULL, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
		CHECK(memcmp(buf, src, k) == 0);
		CHECK(memcmp(buf + k, data + k, sizeof(buf) - k) == 0);
		fm_teardown(&t);
	}
	/* Nothing readable at all: -EFAULT, nothing written. */
	fm_setup(&t, NULL, 0);
	CHECK_EQ(wr(&t, area + 2 * PG, 100, 0), -EFAULT);
	CHECK_EQ(i_size_read(&t.m), 0);
	fm_teardown(&t);
	munmap(area, 3 * PG);
}

/* ---- readahead ---- */

TEST(readahead_sequential)
{
	const size_t size = 256 * PG;
	unsigned char *data = malloc(size), buf[PG];
	struct fm t;

	fill_pat(data, size, 0, 11);
	fm_setup(&t, data, size);
	unsigned long reads0 = store_calls(t.s, STORE_OP_READ);
	for (size_t pos = 0; pos < size; pos += PG) {
		CHECK_EQ(rd(&t, &t.ra, buf, PG, (int64_t)pos, 0), (ssize_t)PG);
		CHECK(bad_pat(buf, PG, (int64_t)pos, 11) < 0);
	}
	unsigned long reads = store_calls(t.s, STORE_OP_READ) - reads0;
	printf("# sequential: %lu store reads, %" PRIu64 " readahead pages, %" PRIu64
	       " hits, %" PRIu64 " misses, window %lu\n",
	       reads, cache_stat_read(&t.c.stats.readahead_pages), cache_stat_read(&t.c.stats.hits),
	       cache_stat_read(&t.c.stats.misses), t.ra.size);
	CHECK(cache_stat_read(&t.c.stats.readahead_pages) >= 200);
	/* every page came from the store once: a miss each, most read ahead */
	CHECK_EQ(cache_stat_read(&t.c.stats.misses), 256);
	CHECK(cache_stat_read(&t.c.stats.misses) - cache_stat_read(&t.c.stats.readahead_pages) <=
	      4);
	CHECK_EQ(t.ra.size, RA_PAGES); /* grew to the maximum */
	CHECK(reads <= 32);
	/* Never past EOF. */
	CHECK(!cached(&t, 256));
	CHECK_EQ(page_index_nrpages(&t.m.i_pages), 256);
	fm_teardown(&t);
	free(data);
}

TEST(readahead_random_no_window)
{
	enum { npages = 256 };
	unsigned char *data = malloc(npages * PG), buf[PG];
	uint64_t seed = test_seed();
	pgoff_t order[npages / 2];
	struct rng r;
	struct fm t;

	rng_seed(&r, seed);
	fill_pat(data, npages * PG, 0, 12);
	fm_setup(&t, data, npages * PG);
	/* Even pages from 2 on, shuffled: never the next page, never page 0. */
	size_t n = 0;
	for (pgoff_t i = 2; i < npages; i += 2)
		order[n++] = i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)rng_below(&r, i + 1);
		pgoff_t x = order[i];
		order[i] = order[j];
		order[j] = x;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t pos = (int64_t)(order[i] * PG);
		CHECK_EQ(rd(&t, &t.ra, buf, PG, pos, 0), (ssize_t)PG);
		CHECK(bad_pat(buf, PG, pos, 12) < 0);
	}
	CHECK_EQ(cache_stat_read(&t.c.stats.readahead_pages), 0);
	CHECK_EQ(t.ra.size, 0);
	CHECK_EQ(cache_stat_read(&t.c.stats.misses), n);
	CHECK_EQ(page_index_nrpages(&t.m.i_pages), n);
	/* FADV_RANDOM (ra_pages 0): a sequential scan reads only what it asks. */
	t.ra.ra_pages = 0;
	for (pgoff_t i = 1; i < 40; i += 2)
		CHECK_EQ(rd(&t, &t.ra, buf, PG, (int64_t)(i * PG), 0), (ssize_t)PG);
	CHECK_EQ(cache_stat_read(&t.c.stats.readahead_pages), 0);
	CHECK(!cached(&t, 41));
	fm_teardown(&t);
	free(data);
}

TEST(force_readahead_willneed)
{
	const size_t size = 100 * PG + 5;
	unsigned char *data = malloc(size), buf[PG];
	struct fm t;

	fill_pat(data, size, 0, 13);
	fm_setup(&t, data, size);
	CHECK_EQ(force_page_cache_readahead(&t.m, 10, 1000), 0);
	CHECK_EQ(page_index_nrpages(&t.m.i_pages), 91); /* 10..100, clamped to EOF */
	CHECK_EQ(cache_stat_read(&t.c.stats.readahead_pages), 91);
	uint64_t misses = cache_stat_read(&t.c.stats.misses);
	for (pgoff_t i = 10; i <= 100; i++) {
		ssize_t want = i == 100 ? 5 : (ssize_t)PG;
		CHECK_EQ(rd(&t, NULL, buf, PG, (int64_t)(i * PG), FILEMAP_NOWAIT), want);
		CHECK(bad_pat(buf, (size_t)want, (int64_t)(i * PG), 13) < 0);
	}
	CHECK_EQ(cache_stat_read(&t.c.stats.misses), misses);
	fm_teardown(&t);
	free(data);
}

/* ---- NOWAIT ---- */

TEST(nowait_cold_page_eagain)
{
	unsigned char data[16 * PG], buf[2 * PG];
	struct fm t;

	fill_pat(data, sizeof(data), 0, 14);
	fm_setup(&t, data, sizeof(data));
	CHECK_EQ(rd(&t, &t.ra, buf, PG, 0, FILEMAP_NOWAIT), -EAGAIN);
	CHECK_EQ(page_index_nrpages(&t.m.i_pages), 0); /* no I/O was started */
	CHECK_EQ(rd(&t, NULL, buf, PG, 0, 0), (ssize_t)PG);
	/* Page 0 cached, page 1 cold: the cached prefix. */
	CHECK_EQ(rd(&t, &t.ra, buf, 2 * PG, 0, FILEMAP_NOWAIT), (ssize_t)PG);
	CHECK(bad_pat(buf, PG, 0, 14) < 0);
	CHECK(!cached(&t, 1));
	/* A cached page whose lock is held and that is not uptodate (a fill in
	 * progress elsewhere) is a sleeping lock: -EAGAIN too. */
	int err;
	filemap_invalidate_lock_add(&t.m);
	struct page *page = add_to_page_cache_locked(&t.m, 5, &err);
	CHECK(page != NULL);
	CHECK_EQ(rd(&t, NULL, buf, PG, (int64_t)(5 * PG), FILEMAP_NOWAIT), -EAGAIN);
	CHECK_EQ(filemap_fill_pages(&t.m, &page, 1), 0);
	unlock_page(page);
	put_page(page);
	filemap_invalidate_unlock_add(&t.m);
	CHECK_EQ(rd(&t, NULL, buf, PG, (int64_t)(5 * PG), FILEMAP_NOWAIT), (ssize_t)PG);
	CHECK(bad_pat(buf, PG, (int64_t)(5 * PG), 14) < 0);
	fm_teardown(&t);
}

/* ---- truncate and invalidation ---- */

TEST(truncate_range_partial_zeroing)
{
	unsigned char data[4 * PG], buf[4 * PG], src[PG];
	struct fm t;

	fill_pat(data, sizeof(data), 0, 15);
	fm_setup(&t, data, sizeof(data));
	CHECK_EQ(rd(&t, NULL, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	/* Page 0 dirty (a write), the others clean. */
	fill_pat(src, 10, 0, 16);
	CHECK_EQ(wr(&t, src, 10, 0), 10);
	memcpy(data, src, 10);
	CHECK_EQ(t.m.nrdirty, 1);

	filemap_invalidate_lock_block(&t.m);
	truncate_pagecache_range(&t.m, 100, (int64_t)(2 * PG + 50));
	filemap_invalidate_unlock_block(&t.m);

	CHECK(cached(&t, 0) && !cached(&t, 1) && cached(&t, 2) && cached(&t, 3));
	CHECK_EQ(t.m.nrdirty, 1); /* page 0 kept its dirty state */
	struct page *p0 = find_get_page(&t.m.i_pages, 0);
	CHECK(PageDirty(p0) && PageUptodate(p0));
	put_page(p0);
	/* The cache: page 0 zero from 100, page 2 zero up to 50 inclusive;
	 * page 1 comes back from the store (the store was not punched here). */
	CHECK_EQ(rd(&t, NULL, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	CHECK(memcmp(buf, data, 100) == 0);
	CHECK(is_zero((char *)buf + 100, PG - 100));
	CHECK(memcmp(buf + PG, data + PG, PG) == 0);
	CHECK(is_zero((char *)buf + 2 * PG, 51));
	CHECK(memcmp(buf + 2 * PG + 51, data + 2 * PG + 51, 2 * PG - 51) == 0);

	/* Within one page; and whole pages only. */
	filemap_invalidate_lock_block(&t.m);
	truncate_pagecache_range(&t.m, (int64_t)(3 * PG + 10), (int64_t)(3 * PG + 19));
	truncate_pagecache_range(&t.m, (int64_t)PG, (int64_t)(2 * PG - 1));
	filemap_invalidate_unlock_block(&t.m);
	CHECK(!cached(&t, 1) && cached(&t, 3));
	CHECK_EQ(rd(&t, NULL, buf, PG, (int64_t)(3 * PG), 0), (ssize_t)PG);
	CHECK(memcmp(buf, data + 3 * PG, 10) == 0 && is_zero((char *)buf + 10, 10));
	CHECK(memcmp(buf + 20, data + 3 * PG + 20, PG - 20) == 0);
	fm_teardown(&t);
}

TEST(truncate_to_size)
{
	unsigned char src[4 * PG], buf[4 * PG];
	struct fm t;

	fm_setup(&t, NULL, 0);
	fill_pat(src, sizeof(src), 0, 17);
	CHECK_EQ(wr(&t, src, sizeof(src), 0), (ssize_t)sizeof(src));
	CHECK_EQ(t.m.nrdirty, 4);
	CHECK_EQ(t.c.nr_dirty, 4);

	filemap_invalidate_lock_block(&t.m);
	i_size_write(&t.m, (int64_t)PG + 100);
	truncate_pagecache(&t.m, (int64_t)PG + 100);
	filemap_invalidate_unlock_block(&t.m);
	CHECK_EQ(page_index_nrpages(&t.m.i_pages), 2);
	CHECK_EQ(t.m.nrdirty, 2);
	CHECK_EQ(t.c.nr_dirty, 2);
	CHECK_EQ(t.c.nr_pages, 2);
	struct page *p1 = find_get_page(&t.m.i_pages, 1);
	CHECK(is_zero((char *)page_address(&t.m, p1) + 100, PG - 100));
	put_page(p1);
	/* Extending again shows zeroes past the old EOF, never the old bytes. */
	i_size_write(&t.m, (int64_t)sizeof(buf));
	CHECK_EQ(rd(&t, NULL, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	CHECK(memcmp(buf, src, PG + 100) == 0);
	CHECK(is_zero((char *)buf + PG + 100, sizeof(buf) - PG - 100));
	fm_teardown(&t);
}

TEST(invalidate_mapping_pages_clean_only)
{
	unsigned char data[8 * PG], buf[8 * PG];
	struct fm t;

	fill_pat(data, sizeof(data), 0, 18);
	fm_setup(&t, data, sizeof(data));
	CHECK_EQ(rd(&t, NULL, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	CHECK_EQ(wr(&t, data + 4 * PG, 4 * PG, (int64_t)(4 * PG)), (ssize_t)(4 * PG));
	struct page *held = find_get_page(&t.m.i_pages, 2); /* in use: stays */

	CHECK_EQ(invalidate_mapping_pages(&t.m, 0, 100), 3);
	CHECK_EQ(page_index_nrpages(&t.m.i_pages), 5);
	CHECK(cached(&t, 2) && !cached(&t, 0) && cached(&t, 4));
	CHECK_EQ(t.c.nr_pages, 5);
	put_page(held);
	CHECK_EQ(rd(&t, NULL, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	CHECK(memcmp(buf, data, sizeof(buf)) == 0);
	fm_teardown(&t);
}

/* Every cached page's leaf bits (uptodate, readahead) equal its flags.
 * Returns how many carry the readahead mark. */
static unsigned check_leaf_flags(struct fm *t, pgoff_t first, pgoff_t last)
{
	unsigned marks = 0;

	for (pgoff_t i = first; i <= last; i++) {
		struct page *page = find_get_page(&t->m.i_pages, i);
		bool up = page && PageUptodate(page), ra = page && PageReadahead(page);

		CHECKF(page_index_get_leaf_flag(&t->m.i_pages, i, PI_LEAF_UPTODATE) == up &&
			   page_index_get_leaf_flag(&t->m.i_pages, i, PI_LEAF_READAHEAD) == ra,
		       "index %lu: uptodate %d readahead %d", (unsigned long)i, up, ra);
		marks += ra;
		if (page)
			put_page(page);
	}
	return marks;
}

/*
 * The index leaf mirrors PG_uptodate and PG_readahead (page_index.h): set by
 * fills and whole-page writes, cleared by invalidation, truncation and the
 * readahead reader; the hit's lookup across two leaves and its re-check see
 * a page dropped after the lookup; the hit's referenced bit.
 */
TEST(leaf_flags_follow_page_flags)
{
	const size_t size = 130 * PG;
	unsigned char *data = malloc(size), *buf = malloc(size);
	struct page *pages[64];
	struct pi_node *leaves[2];
	struct fm t;

	fill_pat(data, size, 0, 19);
	fm_setup(&t, data, size);
	/* Readahead marks some pages; the reads that follow clear them. */
	CHECK_EQ(rd(&t, &t.ra, buf, 8 * PG, 0, 0), (ssize_t)(8 * PG));
	CHECK(check_leaf_flags(&t, 0, 129) > 0);
	CHECK_EQ(rd(&t, &t.ra, buf, size, 0, 0), (ssize_t)size);
	CHECK(memcmp(buf, data, size) == 0);
	check_leaf_flags(&t, 0, 129);
	/* A whole-page write to a page not cached, a partial one past EOF. */
	CHECK_EQ(invalidate_mapping_pages(&t.m, 100, 129), 30);
	check_leaf_flags(&t, 96, 129);
	CHECK_EQ(wr(&t, data + 100 * PG, PG, (int64_t)(100 * PG)), (ssize_t)PG);
	CHECK_EQ(wr(&t, data, 10, (int64_t)(140 * PG)), 10);
	check_leaf_flags(&t, 96, 141);
	CHECK(page_index_get_leaf_flag(&t.m.i_pages, 100, PI_LEAF_UPTODATE));
	CHECK(page_index_get_leaf_flag(&t.m.i_pages, 140, PI_LEAF_UPTODATE));
	/* The lookup of the hit over two leaves, then a page dropped. */
	CHECK_EQ(rd(&t, NULL, buf, 40 * PG, 0, 0), (ssize_t)(40 * PG));
	CHECK_EQ(rd(&t, NULL, buf, 40 * PG, (int64_t)(40 * PG), 0), (ssize_t)(40 * PG));
	mm_rcu_thread_enter();
	rcu_read_lock();
	CHECK_EQ(find_uptodate_contig_rcu(&t.m.i_pages, 60, 10, pages, leaves), 10);
	CHECK(leaves[0] && leaves[1] && leaves[0] != leaves[1]);
	CHECK_EQ(page_index_uptodate_recheck(leaves, 60, 10, pages), 10);
	rcu_read_unlock();
	CHECK_EQ(invalidate_mapping_pages(&t.m, 66, 66), 1);
	rcu_read_lock();
	CHECK_EQ(page_index_uptodate_recheck(leaves, 60, 10, pages), 6);
	CHECK_EQ(find_uptodate_contig_rcu(&t.m.i_pages, 60, 10, pages, leaves), 6);
	rcu_read_unlock();
	/* The hit marks the leaf's referenced bit, which reclaim's test of
	 * the page clears with PG_referenced. */
	CHECK_EQ(rd(&t, NULL, buf, PG, (int64_t)(5 * PG), 0), (ssize_t)PG);
	CHECK(page_index_get_leaf_flag(&t.m.i_pages, 5, PI_LEAF_REFERENCED));
	struct page *p5 = find_get_page(&t.m.i_pages, 5);
	CHECK(page_test_clear_referenced(p5));
	CHECK(!page_index_get_leaf_flag(&t.m.i_pages, 5, PI_LEAF_REFERENCED));
	CHECK(!page_test_clear_referenced(p5));
	put_page(p5);
	/* A truncation clears them with the pages. */
	truncate_pagecache_range(&t.m, (int64_t)(10 * PG), (int64_t)(20 * PG - 1));
	check_leaf_flags(&t, 0, 141);
	CHECK(!page_index_get_leaf_flag(&t.m.i_pages, 15, PI_LEAF_UPTODATE));
	CHECK(page_index_get_leaf_flag(&t.m.i_pages, 9, PI_LEAF_UPTODATE));
	fm_teardown(&t);
	free(data);
	free(buf);
}

TEST(invalidate_inode_pages2_writes_back)
{
	unsigned char src[6 * PG], buf[6 * PG];
	struct fm t;

	fm_setup(&t, NULL, 0);
	fill_pat(src, sizeof(src), 0, 19);
	CHECK_EQ(wr(&t, src, sizeof(src), 0), (ssize_t)sizeof(src));
	CHECK_EQ(invalidate_inode_pages2_range(&t.m, 1, 4), 0);
	CHECK(cached(&t, 0) && !cached(&t, 1) && !cached(&t, 4) && cached(&t, 5));
	CHECK_EQ(t.m.nrdirty, 2);
	CHECK_EQ(store_read(t.si, buf, sizeof(buf), 0), (ssize_t)(5 * PG));
	CHECK(memcmp(buf + PG, src + PG, 4 * PG) == 0);
	/* A failing writeback keeps the page dirty: -EBUSY, the page stays. */
	store_inject_fail(t.s, STORE_OP_WRITE, 1, EIO, false);
	CHECK_EQ(invalidate_inode_pages2_range(&t.m, 0, 0), -EBUSY);
	CHECK(cached(&t, 0));
	CHECK_EQ(invalidate_inode_pages2_range(&t.m, 0, PAGE_INDEX_MAX), 0);
	CHECK_EQ(page_index_nrpages(&t.m.i_pages), 0);
	CHECK_EQ(rd(&t, NULL, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	CHECK(memcmp(buf, src, sizeof(buf)) == 0);
	errseq_t since = 0;
	CHECK_EQ(file_check_and_advance_wb_err(&t.m, &since), -EIO);
	fm_teardown(&t);
}

/* ---- frames: big sparse files ---- */

TEST(sparse_file_past_16g)
{
	static const int64_t offs[] = {0, 5000, (int64_t)20 << 30, ((int64_t)64 << 30) + 123,
				       (int64_t)300 << 20};
	unsigned char src[PG], buf[PG];
	struct fm t;
	void *first = NULL;

	fm_setup(&t, NULL, 0);
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		fill_pat(src, sizeof(src), offs[i], 20);
		CHECK_EQ(wr(&t, src, sizeof(src), offs[i]), (ssize_t)sizeof(src));
		if (i == 0) {
			struct page *p = find_get_page(&t.m.i_pages, 0);
			first = page_address(&t.m, p);
			put_page(p);
		}
	}
	CHECK_EQ(i_size_read(&t.m), ((int64_t)64 << 30) + 123 + (int64_t)PG);
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		CHECK_EQ(rd(&t, NULL, buf, sizeof(buf), offs[i], 0), (ssize_t)sizeof(buf));
		CHECK(bad_pat(buf, sizeof(buf), offs[i], 20) < 0);
	}
	/* An address handed out before the views grew still reaches the page's
	 * bytes (the older view stays mapped), as does its address now. */
	struct page *p = find_get_page(&t.m.i_pages, 0);
	fill_pat(src, sizeof(src), offs[0], 20);
	CHECK(page_address(&t.m, p) != first);
	CHECK(memcmp(first, src, PG) == 0);
	CHECK(memcmp(page_address(&t.m, p), src, PG) == 0);
	put_page(p);
	/* A hole in the middle reads as zeroes. */
	CHECK_EQ(rd(&t, NULL, buf, sizeof(buf), (int64_t)40 << 30, 0), (ssize_t)sizeof(buf));
	CHECK(is_zero((char *)buf, sizeof(buf)));
	fm_teardown(&t);
}

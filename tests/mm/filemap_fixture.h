/* SPDX-License-Identifier: MIT */
/*
 * filemap_fixture.h - shared helpers of the filemap tests: a dir store in a
 * fresh temporary directory with one file, an engine cache (no background
 * writeback unless asked), a mapping on the file, buffered read/write
 * wrappers and a position-dependent byte pattern. Takes no locks itself.
 */
#ifndef PC_TESTS_MM_FILEMAP_FIXTURE_H
#define PC_TESTS_MM_FILEMAP_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "mm/fill.h"
#include "mm/internal.h"
#include "store/fixture.h"

#define PG	 4096ul
#define HOUR_MS	 3600000u
#define RA_PAGES 32ul

struct fm {
	struct store *s;
	struct mm_cache c;
	struct store_inode *si;
	struct address_space m;
	struct file_ra_state ra;
};

static inline struct mm_cache_config quiet_config(size_t mem_limit)
{
	return (struct mm_cache_config){
	    .mem_limit = mem_limit,
	    .readahead_max = RA_PAGES * PG,
	    .writeback_interval_ms = HOUR_MS,
	};
}

/* The case ends early (harness.h test_on_abort): its cache's writeback
 * thread stops before the frame holding the cache goes. */
static inline void fm_abort(void *arg)
{
	writeback_stop(&((struct fm *)arg)->c);
}

/* A store file holding @len bytes of @data (NULL: none), a cache, a mapping. */
static inline void fm_setup_cfg(struct fm *t, const struct mm_cache_config *cfg, const void *data,
				size_t len)
{
	int ret;

	memset(t, 0, sizeof(*t));
	t->s = open_fresh();
	ret = mm_cache_init(&t->c, cfg);
	CHECKF(ret == 0, "mm_cache_init: %s", strerror(-ret));
	test_on_abort(fm_abort, t);
	t->si = create(t->s, "f");
	if (data)
		CHECK_EQ(store_write(t->si, data, len, 0), (ssize_t)len);
	ret = mapping_init(&t->m, &t->c, t->si, store_size(t->si));
	CHECKF(ret == 0, "mapping_init: %s", strerror(-ret));
	t->ra.ra_pages = t->c.ra_max_pages;
	t->ra.prev_index = (pgoff_t)-1;
}

static inline void fm_setup(struct fm *t, const void *data, size_t len)
{
	struct mm_cache_config cfg = quiet_config(64u << 20);

	fm_setup_cfg(t, &cfg, data, len);
}

static inline void fm_teardown(struct fm *t)
{
	CHECK_EQ(filemap_write_and_wait_range(&t->m, 0, INT64_MAX), 0);
	mapping_destroy(&t->m);
	store_release(t->si);
	mm_cache_destroy(&t->c);
	test_abort_cancel(t);
	store_close(t->s);
}

static inline ssize_t rd(struct fm *t, struct file_ra_state *ra, void *buf, size_t len, int64_t pos,
			 int flags)
{
	struct iovec iov = {buf, len};
	struct iov_iter it;

	iov_iter_init(&it, &iov, 1, len);
	return filemap_read(&t->m, ra, &it, pos, flags);
}

static inline ssize_t wr(struct fm *t, const void *buf, size_t len, int64_t pos)
{
	struct iovec iov = {(void *)buf, len};
	struct iov_iter it;

	iov_iter_init(&it, &iov, 1, len);
	return generic_perform_write(&t->m, &it, pos, 0);
}

static inline unsigned char pat(int64_t o, unsigned gen)
{
	uint64_t x = (uint64_t)o * 0x9E3779B97F4A7C15ull + gen * 0x632BE59BD9B4E019ull;
	return (unsigned char)(x >> 56 ^ x >> 23);
}

static inline void fill_pat(unsigned char *b, size_t len, int64_t pos, unsigned gen)
{
	for (size_t i = 0; i < len; i++)
		b[i] = pat(pos + (int64_t)i, gen);
}

/* First offset in @b that is not the pattern, or -1. */
static inline long bad_pat(const unsigned char *b, size_t len, int64_t pos, unsigned gen)
{
	for (size_t i = 0; i < len; i++)
		if (b[i] != pat(pos + (int64_t)i, gen))
			return (long)i;
	return -1;
}

static inline bool cached(struct fm *t, pgoff_t index)
{
	struct page *page = find_get_page(&t->m.i_pages, index);

	if (page)
		put_page(page);
	return page != NULL;
}

#endif

/* SPDX-License-Identifier: MIT */
/* writeback_fixture.c - see writeback_fixture.h. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "kernel/futex.h"
#include "mm/internal.h"
#include "store/fixture.h"
#include "threads.h"
#include "writeback_fixture.h"

/* The case ends early (harness.h test_on_abort): no thread may use @t's
 * cache after its frame is gone. The rest leaks, as a failed case does. */
static void wbt_abort(void *arg)
{
	struct wbt *t = arg;

	writeback_stop(&t->c);
}

void wbt_setup(struct wbt *t, const struct mm_cache_config *cfg, int nfiles)
{
	char name[32];
	int ret;

	memset(t, 0, sizeof(*t));
	t->s = open_fresh();
	ret = mm_cache_init(&t->c, cfg);
	CHECKF(ret == 0, "mm_cache_init: %s", strerror(-ret));
	/* a failed CHECK leaves the case's frame: its writeback thread stops first */
	test_on_abort(wbt_abort, t);
	t->nfiles = nfiles;
	for (int i = 0; i < nfiles; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		t->si[i] = create(t->s, name);
		ret = mapping_init(&t->m[i], &t->c, t->si[i], 0);
		CHECKF(ret == 0, "mapping_init: %s", strerror(-ret));
	}
}

void wbt_teardown(struct wbt *t)
{
	for (int i = 0; i < t->nfiles; i++) {
		CHECK_EQ(filemap_write_and_wait_range(&t->m[i], 0, INT64_MAX), 0);
		mapping_destroy(&t->m[i]);
		store_release(t->si[i]);
	}
	mm_cache_destroy(&t->c);
	test_abort_cancel(t);
	store_close(t->s);
}

/* A quiet cache: no background writeback, no throttling, no reclaim. */
struct mm_cache_config quiet_config(void)
{
	return (struct mm_cache_config){
	    .mem_limit = 64u << 20,
	    .dirty_background = 30u << 20,
	    .dirty_limit = 60u << 20,
	    .writeback_interval_ms = HOUR_MS,
	};
}

void fill_pattern(unsigned char *buf, size_t len, int64_t pos, int f, unsigned gen)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(pos + (int64_t)i, f, gen);
}

/* Index of the first byte of @buf that differs from the pattern, or -1. */
long check_pattern(const unsigned char *buf, size_t len, int64_t pos, int f, unsigned gen)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern(pos + (int64_t)i, f, gen))
			return (long)i;
	return -1;
}

ssize_t do_write(struct address_space *m, const void *buf, size_t len, int64_t pos)
{
	struct iovec iov = {(void *)buf, len};
	struct iov_iter it;

	iov_iter_init(&it, &iov, 1, len);
	return generic_perform_write(m, &it, pos, 0);
}

ssize_t do_read(struct address_space *m, struct file_ra_state *ra, void *buf, size_t len,
		int64_t pos)
{
	struct iovec iov = {buf, len};
	struct iov_iter it;

	iov_iter_init(&it, &iov, 1, len);
	return filemap_read(m, ra, &it, pos, 0);
}

void ra_init(struct file_ra_state *ra, struct mm_cache *c)
{
	memset(ra, 0, sizeof(*ra));
	ra->ra_pages = c->ra_max_pages;
	ra->prev_index = (pgoff_t)-1;
}

void write_pattern(struct address_space *m, int64_t pos, size_t len, int f, unsigned gen)
{
	unsigned char *buf = malloc(len);

	CHECK(buf != NULL);
	fill_pattern(buf, len, pos, f, gen);
	ssize_t n = do_write(m, buf, len, pos);
	free(buf);
	CHECKF(n == (ssize_t)len, "write %zd of %zu at %lld", n, len, (long long)pos);
}

/* The store file holds the pattern in [pos, pos + len). */
void check_store(struct store_inode *si, int64_t pos, size_t len, int f, unsigned gen)
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
unsigned long count_tagged(struct address_space *m, unsigned tag, pgoff_t first, pgoff_t last)
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
void check_dirty_accounting(struct wbt *t)
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
	CHECK_EQ(READ_ONCE(t->c.nr_dirty_wb), total);
}

/* Both LRU lists against the cache's page count. */
void check_lru(struct wbt *t)
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
void atomic_max(unsigned long *p, unsigned long v)
{
	unsigned long old = __atomic_load_n(p, __ATOMIC_RELAXED);

	while (v > old &&
	       !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* Waits (no deadline: the hang watchdog, threads.h) until @counter is at
 * most @target. */
void wait_at_most(unsigned long *counter, unsigned long target, const char *what)
{
	struct watched_wait w;
	unsigned long v;

	watched_wait_begin(&w, what, counter);
	while ((v = __atomic_load_n(counter, __ATOMIC_ACQUIRE)) > target)
		watched_wait_step(&w, v);
	watched_wait_end(&w);
}

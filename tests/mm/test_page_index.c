/* SPDX-License-Identifier: MIT */
/*
 * Tests of struct page and the page index: the index against a simple model
 * (random operations over sparse indices up to PAGE_INDEX_MAX), range and tag
 * walks, the contiguous lookup, growth and shrinking, lock-free lookups racing with inserts and
 * deletes (every page found matches its index and mapping; run under TSan),
 * page lock contention, killable page locks, writeback waits, the uptodate
 * ordering, and the validator seeing the page lock. Random tests print their
 * seed (PC_SEED replays); sanitizer builds scale down (PC_QUICK).
 */
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "harness.h"
#include "threads.h"
#include "kernel/futex.h"
#include "kernel/lockdep.h"
#include "kernel/rng.h"
#include "kernel/rwsem.h"
#include "kernel/wait.h"
#include "mm/page.h"
#include "mm/page_index.h"

/* A fake owner: the index only compares the pointer. */
static char fake_mapping_storage[2];
#define FAKE_MAPPING  ((struct address_space *)&fake_mapping_storage[0])
#define OTHER_MAPPING ((struct address_space *)&fake_mapping_storage[1])

#define PAGE_MAGIC 0x5eedf00dul
/* A stamp in the free high bits of page->flags: a reader that finds a page
 * checks it is the object inserted at that index, not a reused one. */
#define PAGE_STAMP_SHIFT  48
#define PAGE_STAMP(index) ((((unsigned long)(index) ^ PAGE_MAGIC) & 0xffff) << PAGE_STAMP_SHIFT)

static struct page *new_page(pgoff_t index)
{
	struct page *page = page_alloc();
	CHECK(page != NULL);
	page->index = index;
	page->flags |= PAGE_STAMP(index);
	return page;
}

/* Inserts a fresh page at @index and drops the caller's reference: the index
 * then holds the only one. */
static int insert_new(struct page_index *idx, pgoff_t index)
{
	struct page *page = new_page(index);
	int ret = page_index_insert(idx, page);
	put_page(page);
	return ret;
}

static int delete_at(struct page_index *idx, pgoff_t index)
{
	struct page *page = find_get_page(idx, index);
	if (!page)
		return -ENOENT;
	int ret = page_index_delete(idx, page);
	put_page(page);
	return ret;
}

/* ---- single-threaded ---- */

TEST(struct_page_is_48_bytes)
{
	CHECK(sizeof(struct page) == 48);
	struct page *page = page_alloc();
	CHECK_EQ(page_count(page), 1);
	CHECK(!PageLocked(page) && !PageUptodate(page) && !PageDirty(page));
	CHECK(page->mapping == NULL);
	SetPageDirty(page);
	CHECK(PageDirty(page));
	CHECK(TestClearPageDirty(page));
	CHECK(!PageDirty(page));
	SetPageUptodate(page);
	CHECK(PageUptodate(page));
	ClearPageUptodate(page);
	get_page(page);
	CHECK_EQ(page_count(page), 2);
	put_page(page);
	put_page(page);
	mm_rcu_barrier();
}

TEST(insert_lookup_delete_basics)
{
	struct page_index idx;

	page_index_init(&idx, FAKE_MAPPING);
	CHECK(find_get_page(&idx, 0) == NULL);
	CHECK_EQ(page_index_height(&idx), 0);
	struct page *page = new_page(5);
	CHECK_EQ(page_index_insert(&idx, page), 0);
	CHECK_EQ(page_count(page), 2);
	CHECK(page->mapping == FAKE_MAPPING);
	CHECK_EQ(page_index_nrpages(&idx), 1);
	struct page *dup = new_page(5);
	CHECK_EQ(page_index_insert(&idx, dup), -EEXIST);
	CHECK(dup->mapping == NULL);
	CHECK_EQ(page_index_delete(&idx, dup), -ENOENT);
	put_page(dup);
	struct page *p = find_get_page(&idx, 5);
	CHECK(p == page);
	CHECK_EQ(page_count(page), 3);
	put_page(p);
	CHECK(find_get_page(&idx, 4) == NULL && find_get_page(&idx, 6) == NULL);
	CHECK(find_get_page(&idx, PAGE_INDEX_MAX) == NULL);
	struct page *big = new_page(PAGE_INDEX_MAX + 1);
	CHECK_EQ(page_index_insert(&idx, big), -EINVAL);
	put_page(big);
	CHECK_EQ(page_index_delete(&idx, page), 0);
	CHECK(page->mapping == NULL);
	CHECK_EQ(page_count(page), 1);
	CHECK_EQ(page_index_delete(&idx, page), -ENOENT);
	CHECK(find_get_page(&idx, 5) == NULL);
	CHECK_EQ(page_index_nrpages(&idx), 0);
	CHECK_EQ(page_index_height(&idx), 0);
	CHECK_EQ(idx.nr_nodes, 0);
	put_page(page);
	page_index_destroy(&idx);
	mm_rcu_barrier();
}

TEST(grows_and_shrinks_with_sparse_indices)
{
	struct page_index idx;
	const pgoff_t big = 1ull << 52;

	page_index_init(&idx, FAKE_MAPPING);
	CHECK_EQ(insert_new(&idx, 3), 0);
	CHECK_EQ(page_index_height(&idx), 1);
	CHECK_EQ(insert_new(&idx, big), 0);
	CHECK_EQ(page_index_height(&idx), 9); /* 6 bits a level: 2^52 needs 9 */
	CHECK_EQ(idx.nr_nodes, 9 + 8);	      /* root + two 8-node paths below it */
	CHECK_EQ(insert_new(&idx, PAGE_INDEX_MAX), 0);
	CHECK_EQ(page_index_height(&idx), 10);
	struct page *p = find_get_page(&idx, big);
	CHECK(p && p->index == big);
	put_page(p);
	CHECK_EQ(page_index_set_tag(&idx, 3, PAGECACHE_TAG_DIRTY), 0);
	CHECK_EQ(delete_at(&idx, PAGE_INDEX_MAX), 0);
	CHECK_EQ(page_index_height(&idx), 9);
	CHECK_EQ(delete_at(&idx, big), 0);
	CHECK_EQ(page_index_height(&idx), 1); /* shrank back to one leaf */
	CHECK_EQ(idx.nr_nodes, 1);
	CHECK(page_index_tagged(&idx, PAGECACHE_TAG_DIRTY));
	CHECK(page_index_get_tag(&idx, 3, PAGECACHE_TAG_DIRTY));
	CHECK_EQ(delete_at(&idx, 3), 0);
	CHECK_EQ(page_index_height(&idx), 0);
	CHECK_EQ(idx.nr_nodes, 0);
	CHECK(!page_index_tagged(&idx, PAGECACHE_TAG_DIRTY));
	/* a dense run fills whole leaves, then empties completely */
	for (pgoff_t i = 0; i < 64 * 64 + 1; i++)
		CHECK_EQ(insert_new(&idx, i), 0);
	CHECK_EQ(page_index_height(&idx), 3);
	CHECK_EQ(idx.nr_nodes, 1 + 2 + 65);
	for (pgoff_t i = 0; i < 64 * 64 + 1; i++)
		CHECK_EQ(delete_at(&idx, i), 0);
	CHECK_EQ(idx.nr_nodes, 0);
	CHECK_EQ(page_index_nrpages(&idx), 0);
	/* destroy drops what is left */
	CHECK_EQ(insert_new(&idx, 77), 0);
	CHECK_EQ(insert_new(&idx, big + 77), 0);
	page_index_destroy(&idx);
	mm_rcu_barrier();
}

/* ---- random operations against a model ---- */

#define MODEL_KEYS 1024

static pgoff_t random_index(struct rng *r)
{
	switch (rng_below(r, 5)) {
	case 0:
		return rng_below(r, 256);
	case 1:
		return rng_below(r, 1 << 20);
	case 2:
		return (1ull << 52) - 128 + rng_below(r, 256);
	case 3:
		return PAGE_INDEX_MAX - rng_below(r, 1 << 16);
	default:
		return rng_next(r) & PAGE_INDEX_MAX;
	}
}

static int cmp_pgoff(const void *a, const void *b)
{
	pgoff_t x = *(const pgoff_t *)a, y = *(const pgoff_t *)b;
	return x < y ? -1 : x > y;
}

struct model {
	pgoff_t key[MODEL_KEYS]; /* sorted, distinct */
	struct page *page[MODEL_KEYS];
	bool tag[MODEL_KEYS][PAGECACHE_NR_TAGS];
	unsigned long present;
};

/* Walks [lo, hi] in batches of @batch (tagged if tag >= 0) and compares. */
static void check_walk(struct page_index *idx, struct model *m, pgoff_t lo, pgoff_t hi, int tag,
		       unsigned batch)
{
	struct page *pages[64];
	pgoff_t start = lo;
	unsigned k = 0, got;

	while (k < MODEL_KEYS && m->key[k] < lo)
		k++;
	do {
		got = tag < 0
			  ? find_get_pages_range(idx, &start, hi, pages, batch)
			  : find_get_pages_range_tag(idx, &start, hi, (unsigned)tag, pages, batch);
		for (unsigned i = 0; i < got; i++) {
			while (k < MODEL_KEYS && m->key[k] <= hi &&
			       (!m->page[k] || (tag >= 0 && !m->tag[k][tag])))
				k++;
			CHECKF(k < MODEL_KEYS && pages[i] == m->page[k], "walk [%llu, %llu] tag %d",
			       (unsigned long long)lo, (unsigned long long)hi, tag);
			CHECK(pages[i]->index == m->key[k]);
			put_page(pages[i]);
			k++;
		}
	} while (got == batch);
	CHECK(start == hi + 1);
	while (k < MODEL_KEYS && m->key[k] <= hi) {
		CHECKF(!m->page[k] || (tag >= 0 && !m->tag[k][tag]), "walk missed %llu",
		       (unsigned long long)m->key[k]);
		k++;
	}
}

TEST(random_ops_match_model)
{
	struct rng r;
	struct page_index idx;
	static struct model m;
	unsigned long ops = test_scale(200000, 10);

	rng_seed(&r, test_seed());
	memset(&m, 0, sizeof(m));
	for (unsigned i = 0; i < MODEL_KEYS; i++)
		m.key[i] = random_index(&r);
	qsort(m.key, MODEL_KEYS, sizeof(m.key[0]), cmp_pgoff);
	for (unsigned i = 1; i < MODEL_KEYS; i++)
		if (m.key[i] <= m.key[i - 1])
			m.key[i] = m.key[i - 1] + 1; /* distinct; stays <= MAX in practice */
	CHECK(m.key[MODEL_KEYS - 1] <= PAGE_INDEX_MAX);

	page_index_init(&idx, FAKE_MAPPING);
	for (unsigned long op = 0; op < ops; op++) {
		unsigned k = (unsigned)rng_below(&r, MODEL_KEYS);
		unsigned what = (unsigned)rng_below(&r, 100);
		unsigned tag = (unsigned)rng_below(&r, PAGECACHE_NR_TAGS);
		if (what < 35) {
			struct page *page = new_page(m.key[k]);
			int ret = page_index_insert(&idx, page);
			CHECK_EQ(ret, m.page[k] ? -EEXIST : 0);
			if (!ret) {
				m.page[k] = page;
				m.present++;
			}
			put_page(page);
		} else if (what < 65) {
			int ret = m.page[k] ? page_index_delete(&idx, m.page[k])
					    : delete_at(&idx, m.key[k]);
			CHECK_EQ(ret, m.page[k] ? 0 : -ENOENT);
			if (m.page[k]) {
				m.page[k] = NULL;
				m.tag[k][0] = m.tag[k][1] = false;
				m.present--;
			}
		} else if (what < 85) {
			struct page *page = find_get_page(&idx, m.key[k]);
			CHECK(page == m.page[k]);
			if (page) {
				CHECK(page->index == m.key[k] && page->mapping == FAKE_MAPPING);
				put_page(page);
			}
			CHECK_EQ(page_index_get_tag(&idx, m.key[k], tag), m.tag[k][tag]);
		} else if (what < 95) {
			bool set = rng_below(&r, 2);
			int ret = set ? page_index_set_tag(&idx, m.key[k], tag)
				      : page_index_clear_tag(&idx, m.key[k], tag);
			CHECK_EQ(ret, m.page[k] ? 0 : -ENOENT);
			if (m.page[k])
				m.tag[k][tag] = set;
		} else {
			unsigned k2 = k + (unsigned)rng_below(&r, MODEL_KEYS - k);
			pgoff_t lo = m.key[k] - (m.key[k] && rng_below(&r, 2));
			pgoff_t hi = rng_below(&r, 4) ? m.key[k2] : PAGE_INDEX_MAX;
			check_walk(&idx, &m, lo, hi, (int)rng_below(&r, 3) - 1,
				   1 + (unsigned)rng_below(&r, 64));
		}
		CHECK_EQ(page_index_nrpages(&idx), m.present);
	}
	bool any[PAGECACHE_NR_TAGS] = {false, false};
	for (unsigned k = 0; k < MODEL_KEYS; k++)
		for (unsigned t = 0; t < PAGECACHE_NR_TAGS; t++)
			any[t] |= m.page[k] && m.tag[k][t];
	for (unsigned t = 0; t < PAGECACHE_NR_TAGS; t++) {
		CHECK_EQ(page_index_tagged(&idx, t), any[t]);
		check_walk(&idx, &m, 0, PAGE_INDEX_MAX, (int)t, 64);
	}
	check_walk(&idx, &m, 0, PAGE_INDEX_MAX, -1, 7);
	for (unsigned k = 0; k < MODEL_KEYS; k++)
		if (m.page[k])
			CHECK_EQ(page_index_delete(&idx, m.page[k]), 0);
	CHECK_EQ(page_index_nrpages(&idx), 0);
	CHECK_EQ(page_index_height(&idx), 0);
	CHECK_EQ(idx.nr_nodes, 0);
	page_index_destroy(&idx);
	mm_rcu_barrier();
}

TEST(range_and_tag_walks)
{
	struct page_index idx;
	struct page *pages[8];
	pgoff_t start;
	const pgoff_t far = (1ull << 40) + 5;

	page_index_init(&idx, FAKE_MAPPING);
	for (pgoff_t i = 10; i < 30; i++)
		CHECK_EQ(insert_new(&idx, i), 0);
	CHECK_EQ(insert_new(&idx, 4096), 0);
	CHECK_EQ(insert_new(&idx, far), 0);
	start = 0;
	CHECK_EQ(find_get_pages_range(&idx, &start, 15, pages, 8), 6);
	CHECK_EQ(start, 16);
	for (unsigned i = 0; i < 6; i++) {
		CHECK_EQ(pages[i]->index, 10 + i);
		put_page(pages[i]);
	}
	start = 25;
	CHECK_EQ(find_get_pages_range(&idx, &start, PAGE_INDEX_MAX, pages, 8), 7);
	CHECK_EQ(pages[4]->index, 29);
	CHECK_EQ(pages[5]->index, 4096);
	CHECK_EQ(pages[6]->index, far);
	CHECK_EQ(start, PAGE_INDEX_MAX + 1);
	for (unsigned i = 0; i < 7; i++)
		put_page(pages[i]);
	start = 12;
	CHECK_EQ(find_get_pages_range(&idx, &start, 100, pages, 3), 3);
	CHECK_EQ(start, 15); /* full batch: resume after the last one */
	for (unsigned i = 0; i < 3; i++)
		put_page(pages[i]);
	start = 31;
	CHECK_EQ(find_get_pages_range(&idx, &start, 4095, pages, 8), 0);
	CHECK_EQ(start, 4096);

	/* tags */
	CHECK(!page_index_tagged(&idx, PAGECACHE_TAG_DIRTY));
	CHECK_EQ(page_index_set_tag(&idx, 5, PAGECACHE_TAG_DIRTY), -ENOENT);
	CHECK_EQ(page_index_set_tag(&idx, 12, PAGECACHE_TAG_DIRTY), 0);
	CHECK_EQ(page_index_set_tag(&idx, 20, PAGECACHE_TAG_DIRTY), 0);
	CHECK_EQ(page_index_set_tag(&idx, far, PAGECACHE_TAG_DIRTY), 0);
	CHECK_EQ(page_index_set_tag(&idx, 4096, PAGECACHE_TAG_WRITEBACK), 0);
	CHECK(page_index_tagged(&idx, PAGECACHE_TAG_DIRTY));
	CHECK(page_index_tagged(&idx, PAGECACHE_TAG_WRITEBACK));
	start = 0;
	CHECK_EQ(
	    find_get_pages_range_tag(&idx, &start, PAGE_INDEX_MAX, PAGECACHE_TAG_DIRTY, pages, 8),
	    3);
	CHECK(pages[0]->index == 12 && pages[1]->index == 20 && pages[2]->index == far);
	for (unsigned i = 0; i < 3; i++)
		put_page(pages[i]);
	start = 13;
	CHECK_EQ(find_get_pages_range_tag(&idx, &start, far - 1, PAGECACHE_TAG_DIRTY, pages, 8), 1);
	CHECK_EQ(pages[0]->index, 20);
	put_page(pages[0]);
	CHECK_EQ(page_index_clear_tag(&idx, 20, PAGECACHE_TAG_DIRTY), 0);
	CHECK(!page_index_get_tag(&idx, 20, PAGECACHE_TAG_DIRTY));
	CHECK(page_index_get_tag(&idx, 12, PAGECACHE_TAG_DIRTY));
	CHECK_EQ(delete_at(&idx, 12), 0); /* deleting clears its tags */
	CHECK_EQ(delete_at(&idx, far), 0);
	CHECK(!page_index_tagged(&idx, PAGECACHE_TAG_DIRTY));
	start = 0;
	CHECK_EQ(find_get_pages_range_tag(&idx, &start, PAGE_INDEX_MAX, PAGECACHE_TAG_WRITEBACK,
					  pages, 8),
		 1);
	CHECK_EQ(pages[0]->index, 4096);
	put_page(pages[0]);
	CHECK(find_get_page(&idx, 12) == NULL);
	CHECK_EQ(insert_new(&idx, 12), 0);
	CHECK(!page_index_get_tag(&idx, 12, PAGECACHE_TAG_DIRTY)); /* a new entry starts clean */
	page_index_destroy(&idx);
	mm_rcu_barrier();
}

/* The contiguous lookup (the read's batch): a run over a leaf boundary,
 * cut by a hole, by a missing next leaf, by one leaf's worth and by
 * PAGE_INDEX_MAX. */
TEST(contig_lookup_walks_two_leaves)
{
	struct page_index idx;
	struct page *pages[64];

	page_index_init(&idx, FAKE_MAPPING);
	for (pgoff_t i = 40; i < 192; i++) /* leaves 0 to 2 */
		CHECK_EQ(insert_new(&idx, i), 0);
	CHECK_EQ(insert_new(&idx, PAGE_INDEX_MAX - 1), 0);
	CHECK_EQ(insert_new(&idx, PAGE_INDEX_MAX), 0);
	CHECK_EQ(find_get_pages_contig(&idx, 60, 10, pages), 10);
	for (unsigned k = 0; k < 10; k++) {
		CHECK_EQ(pages[k]->index, 60 + k);
		put_page(pages[k]);
	}
	CHECK_EQ(find_get_pages_contig(&idx, 41, 200, pages), 64); /* one leaf's worth */
	CHECK_EQ(pages[63]->index, 104);
	for (unsigned k = 0; k < 64; k++)
		put_page(pages[k]);
	CHECK_EQ(delete_at(&idx, 66), 0);
	CHECK_EQ(find_get_pages_contig(&idx, 60, 10, pages), 6); /* the hole */
	for (unsigned k = 0; k < 6; k++)
		put_page(pages[k]);
	CHECK_EQ(find_get_pages_contig(&idx, 66, 10, pages), 0);
	CHECK_EQ(find_get_pages_contig(&idx, 180, 30, pages), 12); /* no leaf from 192 */
	CHECK_EQ(pages[11]->index, 191);
	for (unsigned k = 0; k < 12; k++)
		put_page(pages[k]);
	CHECK_EQ(find_get_pages_contig(&idx, PAGE_INDEX_MAX - 1, 8, pages), 2);
	CHECK(pages[0]->index == PAGE_INDEX_MAX - 1 && pages[1]->index == PAGE_INDEX_MAX);
	put_page(pages[0]);
	put_page(pages[1]);
	CHECK_EQ(find_get_pages_contig(&idx, 60, 0, pages), 0);
	page_index_destroy(&idx);
	mm_rcu_barrier();
}

/* ---- lock-free lookups racing with updates ---- */

#define RACE_WRITERS 2
#define RACE_READERS 3
#define RACE_KEYS    512

struct race {
	struct page_index idx;
	pgoff_t key[RACE_KEYS];
	unsigned long iters;
	uint64_t seed;
	unsigned next_writer;
	unsigned long found, walked;
	int stop;
};

static void check_found(struct race *rc, struct page *page, pgoff_t index)
{
	CHECKF(page->index == index, "found %llu at %llu", (unsigned long long)page->index,
	       (unsigned long long)index);
	CHECK((page->flags & (0xfffful << PAGE_STAMP_SHIFT)) == PAGE_STAMP(index));
	/* it may have been deleted since the lookup, never moved elsewhere */
	struct address_space *m = READ_ONCE(page->mapping);
	CHECK(m == FAKE_MAPPING || m == NULL);
	CHECK(page_count(page) >= 1);
}

static void *race_writer(void *arg)
{
	struct race *rc = arg;
	unsigned w = __atomic_fetch_add(&rc->next_writer, 1, __ATOMIC_RELAXED);
	struct rng r;

	rng_seed(&r, rc->seed + w);
	for (unsigned long i = 0; i < rc->iters; i++) {
		/* writer w owns the keys k with k % RACE_WRITERS == w */
		unsigned k = (unsigned)rng_below(&r, RACE_KEYS / RACE_WRITERS) * RACE_WRITERS + w;
		pgoff_t index = rc->key[k];
		struct page *page = find_get_page(&rc->idx, index);
		if (page) {
			if (rng_below(&r, 4) == 0)
				CHECK_EQ(page_index_set_tag(&rc->idx, index, PAGECACHE_TAG_DIRTY),
					 0);
			else
				CHECK_EQ(page_index_delete(&rc->idx, page), 0);
			put_page(page);
		} else {
			CHECK_EQ(insert_new(&rc->idx, index), 0);
		}
	}
	return NULL;
}

static void *race_reader(void *arg)
{
	struct race *rc = arg;
	struct rng r;
	struct page *pages[16];
	unsigned long found = 0, walked = 0;

	rng_seed(&r, rc->seed ^ (uintptr_t)&r);
	while (!__atomic_load_n(&rc->stop, __ATOMIC_ACQUIRE)) {
		unsigned k = (unsigned)rng_below(&r, RACE_KEYS);
		struct page *page = find_get_page(&rc->idx, rc->key[k]);
		if (page) {
			check_found(rc, page, rc->key[k]);
			found++;
			put_page(page);
		}
		if (rng_below(&r, 16) == 0) {
			pgoff_t start = rc->key[k], prev = 0;
			int tag = (int)rng_below(&r, 2) - 1;
			unsigned n =
			    tag < 0
				? find_get_pages_range(&rc->idx, &start, PAGE_INDEX_MAX, pages, 16)
				: find_get_pages_range_tag(&rc->idx, &start, PAGE_INDEX_MAX, 0,
							   pages, 16);
			for (unsigned i = 0; i < n; i++) {
				pgoff_t index = pages[i]->index;
				CHECK(index >= rc->key[k] && (i == 0 || index > prev));
				check_found(rc, pages[i], index);
				prev = index;
				put_page(pages[i]);
			}
			walked += n;
		}
	}
	__atomic_fetch_add(&rc->found, found, __ATOMIC_RELAXED);
	__atomic_fetch_add(&rc->walked, walked, __ATOMIC_RELAXED);
	return NULL;
}

static void *race_writers(void *arg)
{
	struct race *rc = arg;
	run_threads(RACE_WRITERS, race_writer, rc);
	__atomic_store_n(&rc->stop, 1, __ATOMIC_RELEASE);
	return NULL;
}

TEST(lockfree_lookups_race_with_inserts_and_deletes)
{
	static struct race rc;
	struct rng r;
	pthread_t wt;

	memset(&rc, 0, sizeof(rc));
	rc.seed = test_seed();
	rc.iters = test_scale(200000, 20);
	rng_seed(&r, rc.seed);
	for (unsigned k = 0; k < RACE_KEYS; k++) /* clustered and sparse, distinct */
		rc.key[k] = k < RACE_KEYS / 2 ? k * 3 : ((rng_next(&r) & PAGE_INDEX_MAX) | k);
	page_index_init(&rc.idx, FAKE_MAPPING);
	CHECK(pthread_create(&wt, NULL, race_writers, &rc) == 0);
	run_threads(RACE_READERS, race_reader, &rc);
	pthread_join(wt, NULL);
	printf("# %lu lookups hit, %lu pages walked\n", rc.found, rc.walked);
	/* the writers' view is exact once they stopped */
	unsigned long present = 0;
	for (unsigned k = 0; k < RACE_KEYS; k++) {
		struct page *page = find_get_page(&rc.idx, rc.key[k]);
		if (page) {
			present++;
			check_found(&rc, page, rc.key[k]);
			CHECK_EQ(page_index_delete(&rc.idx, page), 0);
			put_page(page);
		}
	}
	CHECK(page_index_nrpages(&rc.idx) == 0 && present > 0);
	CHECK_EQ(rc.idx.nr_nodes, 0);
	page_index_destroy(&rc.idx);
	mm_rcu_barrier();
}

/* ---- page lock, writeback, uptodate ---- */

static struct page *lk_page;
static long lk_counter;
static unsigned long lk_iters;

static void *lock_worker(void *arg)
{
	for (unsigned long i = 0; i < lk_iters; i++) {
		if (i % 8 == 0 && trylock_page(lk_page)) {
			lk_counter++;
			unlock_page(lk_page);
			continue;
		}
		lock_page(lk_page);
		long v = lk_counter;
		if (i % 64 == 0)
			sched_yield(); /* let the others pile up on the lock */
		lk_counter = v + 1;
		unlock_page(lk_page);
	}
	return NULL;
}

TEST(page_lock_contention)
{
	lk_page = page_alloc();
	lk_counter = 0;
	lk_iters = test_scale(100000, 10);
	run_threads(4, lock_worker, NULL);
	CHECK_EQ(lk_counter, 4 * lk_iters);
	CHECK(!PageLocked(lk_page) && !test_bit(PG_waiters, &lk_page->flags));
	put_page(lk_page);
	mm_rcu_barrier();
}

static struct task *volatile kl_task;
static int kl_ret;

static void *killable_locker(void *arg)
{
	struct page *page = arg;
	__atomic_store_n(&kl_task, current, __ATOMIC_RELEASE);
	kl_ret = lock_page_killable(page);
	if (kl_ret == 0)
		unlock_page(page);
	return NULL;
}

TEST(killable_page_lock)
{
	struct page *page = page_alloc();
	pthread_t t;

	lock_page(page);
	kl_task = NULL;
	CHECK(pthread_create(&t, NULL, killable_locker, page) == 0);
	wait_until_sleeping(&kl_task, &page->flags);
	CHECK(!trylock_page(page));
	task_kill(kl_task);
	pthread_join(t, NULL);
	CHECK_EQ(kl_ret, -EINTR);
	CHECK(PageLocked(page));
	unlock_page(page);
	CHECK(trylock_page(page));
	unlock_page(page);
	put_page(page);
	mm_rcu_barrier();
}

static struct page *wb_page;
static int wb_done_plain; /* written before end_page_writeback, plainly */
static int wb_woken;
static struct task *volatile wb_tasks[4];

static void *writeback_waiter(void *arg)
{
	unsigned i = (unsigned)(uintptr_t)arg;
	__atomic_store_n(&wb_tasks[i], current, __ATOMIC_RELEASE);
	wait_on_page_writeback(wb_page);
	CHECK_EQ(wb_done_plain, 1);
	__atomic_fetch_add(&wb_woken, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void *lock_waiter(void *arg)
{
	__atomic_store_n(&wb_tasks[3], current, __ATOMIC_RELEASE);
	lock_page(wb_page);
	unlock_page(wb_page);
	return NULL;
}

TEST(writeback_waits_and_lock_waits_share_a_page)
{
	pthread_t t[4];

	wb_page = page_alloc();
	wb_done_plain = 0;
	wb_woken = 0;
	memset((void *)wb_tasks, 0, sizeof(wb_tasks));
	wait_on_page_writeback(wb_page); /* not under writeback: returns */
	lock_page(wb_page);
	CHECK(!set_page_writeback(wb_page));
	CHECK(set_page_writeback(wb_page));
	for (unsigned i = 0; i < 3; i++)
		CHECK(pthread_create(&t[i], NULL, writeback_waiter, (void *)(uintptr_t)i) == 0);
	CHECK(pthread_create(&t[3], NULL, lock_waiter, NULL) == 0);
	for (unsigned i = 0; i < 4; i++)
		wait_until_sleeping(&wb_tasks[i], &wb_page->flags);
	/* ending writeback must not lose the lock waiter's wake-up */
	wb_done_plain = 1;
	end_page_writeback(wb_page);
	for (unsigned i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(wb_woken, 3);
	CHECK(test_bit(PG_waiters, &wb_page->flags));
	unlock_page(wb_page);
	pthread_join(t[3], NULL);
	CHECK(!PageWriteback(wb_page) && !PageLocked(wb_page));
	put_page(wb_page);
	mm_rcu_barrier();
}

static struct page *ut_page;
static char ut_contents[256];

static void *uptodate_reader(void *arg)
{
	while (!PageUptodate(ut_page))
		sched_yield();
	for (unsigned i = 0; i < sizeof(ut_contents); i++)
		CHECK_EQ(ut_contents[i], (char)i);
	return NULL;
}

TEST(uptodate_publishes_contents)
{
	pthread_t t;

	ut_page = page_alloc();
	CHECK(pthread_create(&t, NULL, uptodate_reader, NULL) == 0);
	for (unsigned i = 0; i < sizeof(ut_contents); i++)
		ut_contents[i] = (char)i; /* plain writes: TSan checks the ordering */
	SetPageUptodate(ut_page);
	pthread_join(t, NULL);
	put_page(ut_page);
	mm_rcu_barrier();
}

/* ---- validator ---- */

#if PC_LOCKDEP

static char last_report[16384];
static unsigned reports;

static void capture(const char *kind, const char *text)
{
	snprintf(last_report, sizeof(last_report), "%s", text);
	reports++;
}

TEST(validator_sees_page_lock)
{
	struct rw_semaphore mm;
	struct page *page = page_alloc();

	lockdep_reset_graph();
	lockdep_set_report_handler(capture);
	reports = 0;
	init_rwsem_class(&mm, &mmap_lock_key);
	/* the fault path's order: mm lock -> page lock */
	down_read(&mm);
	lock_page(page);
	CHECK(lockdep_is_held(page));
	unlock_page(page);
	up_read(&mm);
	CHECK(!lockdep_is_held(page));
	CHECK(trylock_page(page));
	CHECK(lockdep_is_held(page));
	pagefault_disable();
	might_fault(); /* faults disabled: nothing recorded */
	pagefault_enable();
	unlock_page(page);
	CHECKF(reports == 0, "%s", last_report);
	/* a page lock held across a user copy that may fault inverts it */
	lock_page(page);
	might_fault();
	unlock_page(page);
	CHECK_EQ(reports, 1);
	CHECKF(strstr(last_report, "page_lock") && strstr(last_report, "mm_lock"), "%s",
	       last_report);
	/* page lock -> page index lock is the legal order */
	struct page_index idx;
	page_index_init(&idx, FAKE_MAPPING);
	page->index = 9;
	lock_page(page);
	CHECK_EQ(page_index_insert(&idx, page), 0);
	CHECK_EQ(page_index_delete(&idx, page), 0);
	unlock_page(page);
	CHECK_EQ(reports, 1);
	page_index_destroy(&idx);
	lockdep_set_report_handler(NULL);
	lockdep_reset_graph();
	put_page(page);
	mm_rcu_barrier();
}

#endif

/* ---- cost ---- */

static struct page_index *cost_idx;
static unsigned long cost_iters;
static const unsigned long cost_pages = 1 << 16;

static void *cost_reader(void *arg)
{
	uint64_t x = (uintptr_t)arg, *ns = arg;
	uint64_t t0 = ktime_get_ns();
	for (unsigned long i = 0; i < cost_iters; i++) {
		pgoff_t index = splitmix64(&x) & (cost_pages - 1);
		struct page *page = find_get_page(cost_idx, index);
		CHECK(page != NULL);
		put_page(page);
	}
	*ns = ktime_get_ns() - t0;
	return NULL;
}

TEST(lookup_cost)
{
	struct page_index idx;
	pthread_t t[4];
	uint64_t ns[4];

	page_index_init(&idx, FAKE_MAPPING);
	for (pgoff_t i = 0; i < cost_pages; i++)
		CHECK_EQ(insert_new(&idx, i), 0);
	cost_idx = &idx;
	cost_iters = test_scale(2000000, 20);
	cost_reader(&ns[0]);
	printf("# find_get_page+put_page, 64Ki pages, 1 thread: %.1f ns\n",
	       (double)ns[0] / (double)cost_iters);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned nt = cpus < 2 ? 2 : cpus > 4 ? 4 : (unsigned)cpus;
	for (unsigned i = 0; i < nt; i++)
		CHECK(pthread_create(&t[i], NULL, cost_reader, &ns[i]) == 0);
	uint64_t sum = 0;
	for (unsigned i = 0; i < nt; i++) {
		pthread_join(t[i], NULL);
		sum += ns[i];
	}
	printf("# find_get_page+put_page, 64Ki pages, %u threads: %.1f ns each\n", nt,
	       (double)sum / nt / (double)cost_iters);
	page_index_destroy(&idx);
	mm_rcu_barrier();
}

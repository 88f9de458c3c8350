/* SPDX-License-Identifier: MIT */
/*
 * filemap.c - the page cache of one file: mapping lifetime, adding and
 * removing pages, the fill (read a page from the store) and buffered reads
 * (the kernel's mm/filemap.c; docs/design.md §6.1, §7.1).
 *
 * Locks (docs/locking.md): cache hits take none - under rcu_read_lock an
 * RCU lookup without page references, the uptodate bits of the index leaf
 * (PG_uptodate's mirror, page_index.h) tested with acquire, the copy to the
 * user with faults disabled, then the re-check below (a
 * destination that faults: the same with page references and a copy that
 * may fault, nothing held). A hit takes a run of up to 64 consecutive
 * uptodate pages in one lookup and copies their contiguous frames with one
 * copy, the frame's first lines prefetched before the lookup. A miss takes
 * ADD of the invalidate lock (policy allowing), then the new page's lock,
 * reads the store under both, and drops them before the copy. A page found
 * not uptodate is brought uptodate under ADD and its page lock, re-checking
 * page->mapping after the sleep. Removal expects the page lock held; it
 * takes the LRU and index leaf locks inside.
 * Frame growth takes the leaf "frames_lock" inside ADD.
 *
 * Frames: a page's bytes are its frame in the memfd (frames.c), reached
 * through the filler view, at an address computed from the index
 * (page_address()). Removing a page first clears PG_uptodate (its leaf bit
 * first), then punches the frame, then deletes the page from the index -
 * punching while the page still occupies its index means no new page of
 * that index can be filled in the frame before the punch. A lock-free
 * reader that copied from a frame re-checks the uptodate bit and the slot
 * (the reference-free hit) or PG_uptodate and page->mapping (the path with
 * references) afterwards and re-reads the page if either changed: a punch
 * is ordered after the clear, so a copy that saw punched zeroes also sees
 * the page gone. A run's copy
 * re-checks every page it read from and keeps only the bytes before the
 * first one that changed.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>
#include <urcu.h>

#include "kernel/sched.h"
#include "mm/fill.h"
#include "mm/frames.h"
#include "mm/uaccess.h"
#include "mm/vma.h"

static struct lock_class_key invalidate_lock_key = {.name = "invalidate_lock"};
static struct lock_class_key i_mmap_rwsem_key = {.name = "i_mmap_rwsem"};

#define FILEMAP_BATCH 32u
/* Pages one buffered read looks up and copies at once (one index leaf). */
#define FILEMAP_READ_BATCH 64u

/* ---- mapping lifetime ---- */

int mapping_init(struct address_space *m, struct mm_cache *c, struct store_inode *host,
		 int64_t size)
{
	int err = uaccess_init();

	if (err)
		return err;
	err = frames_create(&m->frames, size);
	if (err)
		return err;
	page_index_init(&m->i_pages, m);
	two_state_init_class(&m->invalidate_lock, &invalidate_lock_key);
	init_rwsem_class(&m->i_mmap_rwsem, &i_mmap_rwsem_key);
	INIT_LIST_HEAD(&m->i_mmap);
	m->host = host;
	m->cache = c;
	m->i_size = size;
	m->wb_err = 0;
	m->wb_failing = 0;
	m->wb_fail_skips = 0;
	m->nrdirty = 0;
	m->ra_inflight = 0;
	m->dirtied_when = 0;
	INIT_LIST_HEAD(&m->cache_link);
	mm_cache_add_mapping(c, m);
	return 0;
}

void mapping_destroy(struct address_space *m)
{
	struct page *pages[FILEMAP_BATCH];
	pgoff_t start = 0;
	unsigned n;

	/* Background readahead of it done first (its pages unlocked, the
	 * workers done with @m). */
	mapping_ra_wait(m);
	/* Off the cache's list first: the writeback thread lets go of it. */
	mm_cache_del_mapping(m->cache, m);
	do {
		n = find_get_pages_range(&m->i_pages, &start, PAGE_INDEX_MAX, pages, FILEMAP_BATCH);
		for (unsigned i = 0; i < n; i++) {
			struct page *page = pages[i];

			lock_page(page);
			if (page->mapping == m) {
				wait_on_page_writeback(page);
				/* Dirty only if its writeback failed: the caller
				 * reported that error; the data goes with the file. */
				clear_page_dirty_for_io(page);
				page_cache_remove(page, false);
			}
			unlock_page(page);
			put_page(page);
		}
	} while (n == FILEMAP_BATCH);
	page_index_destroy(&m->i_pages);
	frames_destroy(m->frames);
	m->frames = NULL;
	rwsem_destroy(&m->i_mmap_rwsem);
	two_state_destroy(&m->invalidate_lock);
}

size_t mapping_frames_reserved(struct address_space *m)
{
	return frames_reserved_bytes(m->frames);
}

void frames_punch(struct address_space *m, pgoff_t index, unsigned long nr)
{
	unmap_mapping_pages(m, index, nr, false); /* fallback views (fault.c) */
	frames_punch_range(m->frames, index, nr);
}

/* ---- the invalidate lock, honouring the policy ---- */

void filemap_invalidate_lock_add(struct address_space *m)
{
	if (!policy_unsafe(m))
		two_state_lock(&m->invalidate_lock, TS_ADD);
}

bool filemap_invalidate_trylock_add(struct address_space *m)
{
	if (policy_unsafe(m))
		return true;
	return two_state_trylock(&m->invalidate_lock, TS_ADD);
}

void filemap_invalidate_unlock_add(struct address_space *m)
{
	if (!policy_unsafe(m))
		two_state_unlock(&m->invalidate_lock, TS_ADD);
}

void filemap_invalidate_lock_block(struct address_space *m)
{
	if (!policy_unsafe(m))
		two_state_lock(&m->invalidate_lock, TS_BLOCK);
}

void filemap_invalidate_lock_block_nested(struct address_space *m, unsigned subclass)
{
	if (!policy_unsafe(m))
		two_state_lock_nested(&m->invalidate_lock, TS_BLOCK, subclass);
}

void filemap_invalidate_unlock_block(struct address_space *m)
{
	if (!policy_unsafe(m))
		two_state_unlock(&m->invalidate_lock, TS_BLOCK);
}

/* ---- adding and removing pages ---- */

struct page *add_to_page_cache_locked(struct address_space *m, pgoff_t index, int *err)
{
	struct page *page;
	void *addr;

	if (index > PAGE_INDEX_MAX) {
		*err = -EFBIG;
		return NULL;
	}
	addr = frames_addr(m->frames, index, err);
	if (!addr)
		return NULL;
	page = page_alloc();
	if (!page) {
		*err = -ENOMEM;
		return NULL;
	}
	page->index = index;	 /* page_address() is now @addr */
	if (!trylock_page(page)) /* nobody else can see it yet */
		assert(0);
	*err = page_index_insert(&m->i_pages, page);
	if (*err) {
		unlock_page(page);
		put_page(page);
		return NULL;
	}
	lru_cache_add(page);
	return page;
}

void page_cache_remove(struct page *page, bool punch)
{
	struct address_space *m = page->mapping;

	assert(PageLocked(page));
	assert(m != NULL);
	assert(!PageDirty(page) && !PageWriteback(page));
	/* Readers holding a reference re-check this after their copy. */
	page_clear_uptodate(page);
	TestClearPageReadahead(page);
	if (punch) {
		unmap_mapping_pages(m, page->index, 1, false); /* fallback views (fault.c) */
		frames_punch_range(m->frames, page->index, 1);
	}
	lru_cache_del(page);
	page_index_delete(&m->i_pages, page);
}

void delete_from_page_cache(struct page *page)
{
	page_cache_remove(page, true);
}

/* ---- the fill ---- */

/*
 * Fills @len bytes of frames at @buf with the file's bytes at @pos: the
 * store's data below i_size (sampled now, under the page locks), zeroes
 * past it, in holes, and past the store's end of file. A run of several
 * pages asks the store's map first and skips holes without reading.
 */
static int fill_run(struct address_space *m, char *buf, int64_t pos, size_t len)
{
	int64_t isize;
	size_t valid, done = 0;

	sched_race_window("fill: page locked, store not read");
	isize = i_size_read(m);
	valid = isize > pos ? (size_t)min_t(int64_t, (int64_t)len, isize - pos) : 0;
	while (done < valid) {
		size_t want = valid - done;
		ssize_t r;

		if (len > PAGE_SIZE) {
			struct store_map map;
			int e = store_map(m->host, pos + (int64_t)done, (int64_t)want, &map);

			if (e)
				return e;
			if (map.length > 0) {
				size_t ext = (size_t)min_t(int64_t, (int64_t)want, map.length);

				if (map.type != STORE_MAPPED) {
					memset(buf + done, 0, ext);
					done += ext;
					continue;
				}
				want = ext;
			}
		}
		r = store_read(m->host, buf + done, want, pos + (int64_t)done);
		if (r < 0)
			return (int)r;
		done += (size_t)r;
		if ((size_t)r < want)
			break; /* the store's end of file: the rest reads as zeroes */
	}
	memset(buf + done, 0, len - done);
	sched_race_window("fill: store read done, page not yet uptodate");
	return 0;
}

int filemap_fill_pages(struct address_space *m, struct page **pages, unsigned nr)
{
	unsigned i = 0;
	int err = 0;

	while (i < nr) {
		char *base = page_address(m, pages[i]);
		unsigned n = 1;
		int e;

		/* Frames of consecutive indices are contiguous. */
		while (i + n < nr && pages[i + n]->index == pages[i]->index + n)
			n++;
		/* One call allocates the run's frames: far cheaper than a fault
		 * per page while the store read fills them. */
		frames_populate(base, (size_t)n * PAGE_SIZE);
		e = fill_run(m, base, (int64_t)(pages[i]->index << PAGE_SHIFT),
			     (size_t)n * PAGE_SIZE);
		/* pc_stats misses: every page read from the store */
		if (!e)
			cache_stat_add(&m->cache->stats.misses, n);
		for (unsigned k = i; k < i + n; k++) {
			assert(PageLocked(pages[k]) &&
			       pages[k]->index == pages[i]->index + (k - i));
			if (e) {
				SetPageError(pages[k]);
			} else {
				if (PageError(pages[k]))
					ClearPageError(pages[k]);
				page_mark_uptodate(pages[k]);
			}
		}
		if (e && !err)
			err = e;
		i += n;
	}
	return err;
}

/* ---- a fill by the owner of BLOCK ---- */

struct page *read_mapping_page_fenced(struct address_space *m, pgoff_t index, int *err)
{
	struct page *page;

	for (;;) {
		page = find_get_page(&m->i_pages, index);
		if (page && PageUptodate(page))
			return page;
		if (!page) {
			/* No ADD: the caller owns BLOCK, which excludes every
			 * other fill; no reclaim_if_needed either (never under
			 * BLOCK: it would wait on pages behind the fence). */
			page = add_to_page_cache_locked(m, index, err);
			if (!page) {
				if (*err == -EEXIST)
					continue;
				return NULL;
			}
		} else {
			lock_page(page);
			if (page->mapping != m) { /* reclaimed meanwhile */
				unlock_page(page);
				put_page(page);
				continue;
			}
			if (PageUptodate(page)) {
				unlock_page(page);
				return page;
			}
		}
		*err = filemap_fill_pages(m, &page, 1);
		unlock_page(page);
		if (*err) {
			put_page(page);
			return NULL;
		}
		return page;
	}
}

/* ---- buffered read ---- */

#define AOP_TRUNCATED_PAGE 1

/* Read miss: create the page under ADD and fill it. The page comes back
 * uptodate with a reference, or NULL with *err (-EEXIST: look again). */
static struct page *filemap_create_page(struct address_space *m, pgoff_t index, int *err)
{
	struct page *page;

	reclaim_if_needed(m->cache, 1);
	filemap_invalidate_lock_add(m);
	page = add_to_page_cache_locked(m, index, err);
	if (page) {
		*err = filemap_fill_pages(m, &page, 1);
		unlock_page(page);
		if (*err) {
			put_page(page);
			page = NULL;
		}
	}
	filemap_invalidate_unlock_add(m);
	return page;
}

/* A page found not uptodate (being filled, failed, or being reclaimed): wait
 * for its lock under ADD and fill it if still needed. 0 (uptodate),
 * AOP_TRUNCATED_PAGE (gone from the mapping: look again) or -errno. */
static int filemap_update_page(struct address_space *m, struct page *page)
{
	int err = 0;

	filemap_invalidate_lock_add(m);
	readahead_steal(m, page->index); /* still queued: read it here */
	lock_page(page);
	if (page->mapping != m)
		err = AOP_TRUNCATED_PAGE;
	else if (!PageUptodate(page))
		err = filemap_fill_pages(m, &page, 1);
	unlock_page(page);
	filemap_invalidate_unlock_add(m);
	return err;
}

struct read_stats {
	uint64_t hits; /* misses: filemap_fill_pages counts each page it reads */
};

TEST_SWITCH(filemap_test_no_recheck);

/* The bytes a read copies from a run of @n uptodate pages starting @offset
 * into the first: clipped at EOF (@to_eof) and at the request (@want). The
 * pages it touches are marked accessed; *@used says how many. */
static inline size_t run_bytes(struct page **pages, unsigned n, size_t offset, int64_t to_eof,
			       size_t want, unsigned *used)
{
	size_t nr = (size_t)min_t(int64_t, (int64_t)((size_t)n * PAGE_SIZE - offset), to_eof);

	nr = min_t(size_t, nr, want);
	*used = (unsigned)((offset + nr + PAGE_SIZE - 1) >> PAGE_SHIFT);
	for (unsigned k = 0; k < *used; k++)
		mark_page_accessed(pages[k]);
	return nr;
}

/*
 * The hit path without page references (the common case of a cached read):
 * under rcu_read_lock, the run of pages from @index on whose uptodate bit in
 * the index leaf is set (and readahead bit clear: those go the slow way,
 * which starts the next window), one copy of their contiguous frames with
 * faults disabled, then the re-check of every page copied from. No struct
 * page is read before the copy: the leaf holds the slots and the bits
 * (page_index.h, leaf flags), the frame's address follows from the index,
 * and the accessed marking after the copy sets the leaf's referenced bits
 * (reclaim tests them with PG_referenced). A page's uptodate bit is cleared before its
 * frame is punched (and before PG_uptodate), and set again only by reclaim
 * that found it busy (then nothing was punched), so a copy that met a
 * punched frame sees the bit gone or the slot changed afterwards, and only
 * the bytes before that page are kept. Returns the bytes read (@iter
 * advanced by them); 0 sends the caller the slow way (nothing cached, not
 * uptodate, a readahead mark, past i_size, or the destination faulted).
 */
static size_t filemap_read_rcu(struct address_space *m, struct file_ra_state *ra,
			       struct iov_iter *iter, int64_t pos, pgoff_t last,
			       struct read_stats *st)
{
	struct page *pages[FILEMAP_READ_BATCH];
	struct pi_node *leaves[2];
	pgoff_t index = (pgoff_t)pos >> PAGE_SHIFT;
	size_t offset = (size_t)pos & (PAGE_SIZE - 1), nr, copied, good;
	unsigned max = (unsigned)min_t(pgoff_t, last - index + 1, FILEMAP_READ_BATCH), n, k;
	int64_t isize;

	mm_rcu_thread_enter();
	rcu_read_lock();
	n = find_uptodate_contig_rcu(&m->i_pages, index, max, pages, leaves);
	/* i_size after the uptodate bits (acquire), as the slow path reads it
	 * after PG_uptodate */
	isize = i_size_read(m);
	if (!n || pos >= isize) {
		mm_rcu_tsan_release();
		rcu_read_unlock();
		return 0;
	}
	nr = (size_t)min_t(int64_t, (int64_t)((size_t)n * PAGE_SIZE - offset), isize - pos);
	nr = min_t(size_t, nr, iter->count);
	sched_race_window("read: page uptodate, copy not done");
	/* The frame's address from the index, not from pages[0]->index:
	 * the struct page is not waited for. */
	copied = copy_page_to_iter_nofault((char *)frames_page_addr(m->frames, index) + offset, nr,
					   iter);
	/* The copy's loads before the re-check's (smp_rmb: x86 keeps loads in
	 * order, so a compiler barrier; the copy is an asm call anyway). */
	__asm__ __volatile__("" ::: "memory");
	good = copied;
	if (!filemap_test_no_recheck && copied) {
		unsigned want = (unsigned)((offset + copied + PAGE_SIZE - 1) >> PAGE_SHIFT);

		k = page_index_uptodate_recheck(leaves, index, want, pages);
		if (unlikely(k < want))
			good = k ? (size_t)k * PAGE_SIZE - offset : 0;
	}
	if (good)
		page_index_mark_referenced_rcu(
		    leaves, index, (unsigned)((offset + good + PAGE_SIZE - 1) >> PAGE_SHIFT));
	mm_rcu_tsan_release();
	rcu_read_unlock();
	if (unlikely(good < copied))
		iov_iter_revert(iter, copied - good);
	if (good) {
		st->hits += (offset + good + PAGE_SIZE - 1) >> PAGE_SHIFT;
		if (ra)
			WRITE_ONCE(ra->prev_index,
				   (pgoff_t)(pos + (int64_t)good - 1) >> PAGE_SHIFT);
	}
	return good;
}

/* The page at @index, uptodate, with a reference; NULL with *err. */
static struct page *filemap_get_read_page(struct address_space *m, struct file_ra_state *ra,
					  pgoff_t index, pgoff_t last, int flags,
					  struct read_stats *st, int *err)
{
	bool nowait = flags & FILEMAP_NOWAIT, counted = false;
	struct page *page;
	int r;

	for (;;) {
		page = find_get_page(&m->i_pages, index);
		if (likely(page && PageUptodate(page))) {
			if (!counted)
				st->hits++;
			if (unlikely(PageReadahead(page)) && ra && !nowait &&
			    TestClearPageReadahead(page))
				page_cache_async_readahead(m, ra, index, last - index + 1);
			return page;
		}
		counted = true; /* not a hit: a store read counts as the miss */
		if (nowait) {	/* I/O or a sleeping lock would follow */
			if (page)
				put_page(page);
			*err = -EAGAIN;
			return NULL;
		}
		if (!page) {
			sched_race_window("fill: lookup missed");
			if (ra) {
				page_cache_sync_readahead(m, ra, index, last - index + 1);
				page = find_get_page(&m->i_pages, index);
			}
			if (!page) {
				page = filemap_create_page(m, index, err);
				if (page)
					return page;
				if (*err == -EEXIST)
					continue;
				return NULL;
			}
		}
		if (PageReadahead(page) && ra && TestClearPageReadahead(page))
			page_cache_async_readahead(m, ra, index, last - index + 1);
		if (PageUptodate(page))
			return page;
		r = filemap_update_page(m, page);
		if (!r)
			return page;
		put_page(page);
		if (r != AOP_TRUNCATED_PAGE) {
			*err = r;
			return NULL;
		}
	}
}

/*
 * The batch of a cached read: up to @max pages from @index on, each uptodate
 * with a reference, their frames one contiguous run of the filler view.
 * The run stops before a page that is missing, not uptodate, or (after the first page) carries
 * PG_readahead, so that the marker triggers async readahead exactly as a one-page lookup would:
 * from the first page of a later batch, with ra->prev_index up to date. A first page that is not a
 * plain hit goes through filemap_get_read_page (miss, fill, wait). Returns the pages in @pages (0
 * with *err).
 */
static unsigned filemap_get_read_batch(struct address_space *m, struct file_ra_state *ra,
				       pgoff_t index, pgoff_t last, int flags,
				       struct read_stats *st, struct page **pages, int *err)
{
	unsigned max = (unsigned)min_t(pgoff_t, last - index + 1, FILEMAP_READ_BATCH);
	unsigned n = find_get_pages_contig(&m->i_pages, index, max, pages), k;

	if (unlikely(!n || !PageUptodate(pages[0]))) {
		if (n)
			put_page(pages[0]);
		for (k = 1; k < n; k++)
			put_page(pages[k]);
		pages[0] = filemap_get_read_page(m, ra, index, last, flags, st, err);
		return pages[0] ? 1 : 0;
	}
	if (unlikely(PageReadahead(pages[0])) && ra && !(flags & FILEMAP_NOWAIT) &&
	    TestClearPageReadahead(pages[0]))
		page_cache_async_readahead(m, ra, index, last - index + 1);
	for (k = 1; k < n; k++) {
		struct page *page = pages[k];

		if (!PageUptodate(page) || PageReadahead(page))
			break;
	}
	for (unsigned j = k; j < n; j++)
		put_page(pages[j]);
	st->hits += k;
	return k;
}

ssize_t filemap_read(struct address_space *m, struct file_ra_state *ra, struct iov_iter *iter,
		     int64_t pos, int flags)
{
	struct page *pages[FILEMAP_READ_BATCH];
	struct read_stats st = {0};
	size_t total = 0;
	int err = 0;

	if (!iter->count)
		return 0;
	if (pos < 0)
		return -EINVAL;
	while (iter->count) {
		int64_t isize = i_size_read(m), end;
		pgoff_t index = (pgoff_t)pos >> PAGE_SHIFT, last;
		size_t offset = (size_t)pos & (PAGE_SIZE - 1), nr, copied, good;
		unsigned n, k, used;

		if (pos >= isize)
			break;
		if (__builtin_add_overflow(pos, (int64_t)iter->count, &end) || end > isize)
			end = isize;
		last = (pgoff_t)(end - 1) >> PAGE_SHIFT;
		/* The frame's address follows from the index: its first lines
		 * load while the index walk and struct page miss (a random
		 * read over a large cached file waits for all three). */
		frames_prefetch(m->frames, index, offset, (size_t)(end - pos));
		copied = filemap_read_rcu(m, ra, iter, pos, last, &st);
		if (likely(copied)) {
			pos += (int64_t)copied;
			total += copied;
			continue;
		}
		n = filemap_get_read_batch(m, ra, index, last, flags, &st, pages, &err);
		if (!n)
			break;
		/* i_size again now that the pages are uptodate: a truncate may
		 * have come first; an extending write made its bytes visible
		 * before the size (release/acquire). */
		isize = i_size_read(m);
		if (pos >= isize) {
			for (k = 0; k < n; k++)
				put_page(pages[k]);
			break;
		}
		nr = run_bytes(pages, n, offset, isize - pos, iter->count, &used);
		sched_race_window("read: page uptodate, copy not done");
		/* The run's frames are contiguous: one copy for all of it. */
		copied = copy_page_to_iter((char *)page_address(m, pages[0]) + offset, nr, iter);
		/* After the copy, each page it read from must still be uptodate
		 * and in the mapping: one removed under the copy may have had its
		 * frame punched, so its bytes and all after it are copied again. */
		good = copied;
		for (k = 0; k < used && (size_t)k * PAGE_SIZE < offset + copied; k++) {
			struct page *page = pages[k];

			if (unlikely(!PageUptodate(page) || READ_ONCE(page->mapping) != m)) {
				good = k ? (size_t)k * PAGE_SIZE - offset : 0;
				break;
			}
		}
		for (k = 0; k < n; k++)
			put_page(pages[k]);
		if (unlikely(good < copied)) {
			/* Removed under our copy: revert its part, look again. */
			iov_iter_revert(iter, copied - good);
			pos += (int64_t)good;
			total += good;
			if (good && ra)
				WRITE_ONCE(ra->prev_index, (pgoff_t)(pos - 1) >> PAGE_SHIFT);
			continue;
		}
		if (ra)
			WRITE_ONCE(ra->prev_index,
				   copied ? (pgoff_t)(pos + (int64_t)copied - 1) >> PAGE_SHIFT
					  : index);
		pos += (int64_t)copied;
		total += copied;
		if (copied < nr) {
			if (!total)
				err = -EFAULT;
			break;
		}
	}
	cache_stat_add(&m->cache->stats.hits, st.hits);
	return total ? (ssize_t)total : err;
}

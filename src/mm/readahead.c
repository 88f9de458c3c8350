/* SPDX-License-Identifier: MIT */
/*
 * readahead.c - on-demand readahead (the kernel's mm/readahead.c, reduced):
 * a read miss starts a window sized from the request and the file's
 * ra_pages; the page at the window's async mark carries PG_readahead, and a
 * reader reaching it starts the next, larger window before it is needed.
 * Sequential access (the next page after the last one read, or the expected
 * mark) grows the window (x4 while small, then x2, up to ra_pages); random
 * access reads only the pages asked for and leaves the window alone.
 *
 * Page faults on views read ahead too (fault.c, the kernel's
 * do_sync_mmap_readahead/do_async_mmap_readahead): a window around the
 * faulting page (read-around), or from it for a sequential view, and the
 * next window when a fault reaches a PG_readahead page.
 *
 * Locks: readahead triggered by reads and faults takes ADD by trylock and skips the
 * window if that fails (bcachefs: a reader must not block a truncate or DIO
 * for pages nobody asked for; the read then fills its own page under a
 * blocking ADD). force_page_cache_readahead (fadvise WILLNEED) takes ADD
 * blocking. Under ADD the new pages are created locked in index order and
 * cut into contiguous runs; no page lock is waited for while holding them
 * (pages already cached are skipped). A run holding a page the caller asked
 * for is read from the store here, marked uptodate and unlocked; the other
 * runs of a read's or fault's window (the read-around around a fault, the
 * next window at a PG_readahead mark) go to the cache's readahead workers
 * (readahead_worker.c) with their pages still locked, and the caller
 * returns: the kernel's readahead I/O, completed later. WILLNEED reads all
 * of its window before it returns. reclaim_if_needed runs first, with
 * nothing held.
 *
 * The per-file state (struct file_ra_state) may be shared by threads reading
 * one file: it is read and written with relaxed atomics, field by field, and
 * a torn update only costs a less accurate window, as in the kernel.
 */
#include "kernel/sched.h"
#include "mm/fill.h"

#define RA_BATCH       32u  /* pages per store read at most */
#define RA_BATCH_BG    128u /* the same, by a readahead worker */
#define RA_FORCE_CHUNK 512u /* WILLNEED works in 2 MiB chunks */

static unsigned long roundup_pow_of_two(unsigned long x)
{
	unsigned long r = 1;

	while (r < x)
		r <<= 1;
	return r;
}

/* The first window: a few times the request, at most @max. */
static unsigned long get_init_ra_size(unsigned long size, unsigned long max)
{
	unsigned long newsize = roundup_pow_of_two(size);

	if (newsize <= max / 32)
		newsize = newsize * 4;
	else if (newsize <= max / 4)
		newsize = newsize * 2;
	else
		newsize = max;
	return newsize;
}

/* The next window of a sequential stream. */
static unsigned long get_next_ra_size(unsigned long cur, unsigned long max)
{
	if (cur < max / 16)
		return 4 * cur;
	if (cur <= max / 2)
		return 2 * cur;
	return max;
}

/* A run of new locked pages: read here, unlocked and released, or (@bg:
 * nobody waits for them yet; their locks were handed to the I/O as they
 * were added) handed to a readahead worker, which does the same later
 * (readahead_worker.c). */
static void ra_submit_run(struct address_space *m, struct page **run, unsigned n, bool bg)
{
	if (!n)
		return;
	if (bg && readahead_submit_async(m, run, n))
		return;
	filemap_fill_pages(m, run, n); /* an error stays on the pages: a read retries */
	for (unsigned i = 0; i < n; i++) {
		if (bg)
			unlock_page_io(run[i]);
		else
			unlock_page(run[i]);
		put_page(run[i]);
	}
}

/*
 * Reads the missing pages of [index, index + nr) (clamped to EOF), marking
 * the page at index + nr - lookahead with PG_readahead. Pages outside
 * [demand_start, demand_end) count as read ahead (and, if @fault, as read
 * ahead by the fault path). Caller holds ADD (policy allowing). @bg: runs
 * without a demanded page go to the readahead workers; a run holding one
 * starts at the first demanded page and is read here, so the caller waits
 * for no more than its own pages (and those right after them).
 */
static void read_pages_range(struct address_space *m, pgoff_t index, unsigned long nr,
			     unsigned long lookahead, pgoff_t demand_start, pgoff_t demand_end,
			     bool fault, bool bg)
{
	struct page *run[RA_BATCH_BG];
	unsigned n = 0;
	bool demand = false; /* the run holds a demanded page */
	uint64_t ahead = 0;

	for (unsigned long i = 0; i < nr; i++) {
		pgoff_t idx = index + i;
		bool wanted = idx >= demand_start && idx < demand_end;
		struct page *page = find_get_page(&m->i_pages, idx);
		int err;

		if (page) { /* cached already: end the run here */
			put_page(page);
			ra_submit_run(m, run, n, bg && !demand);
			n = 0;
			demand = false;
			continue;
		}
		if (wanted && !demand && n) { /* the demanded run starts here */
			ra_submit_run(m, run, n, bg);
			n = 0;
		}
		page = add_to_page_cache_locked(m, idx, &err);
		if (!page) {
			ra_submit_run(m, run, n, bg && !demand);
			n = 0;
			demand = false;
			if (err == -EEXIST)
				continue;
			break; /* out of memory or frames: read what we have */
		}
		if (lookahead && i == nr - lookahead)
			SetPageReadahead(page);
		if (!wanted)
			ahead++;
		demand |= wanted;
		/* A run for the workers: its locks go to the I/O at once (the
		 * validator holds at most 48 locks per thread; the run, 128). */
		if (bg && !demand)
			page_lock_to_io(page);
		run[n++] = page;
		if (n == (demand || !bg ? RA_BATCH : RA_BATCH_BG)) {
			ra_submit_run(m, run, n, bg && !demand);
			n = 0;
			demand = false;
		}
	}
	ra_submit_run(m, run, n, bg && !demand);
	cache_stat_add(&m->cache->stats.readahead_pages, ahead);
	if (fault)
		cache_stat_add(&m->cache->stats.fault_readahead_pages, ahead);
}

/* Clamps to EOF, takes ADD (trylock unless @block), reads. */
static void do_page_cache_ra(struct address_space *m, pgoff_t index, unsigned long nr,
			     unsigned long lookahead, pgoff_t demand_start, pgoff_t demand_end,
			     bool block, bool fault)
{
	int64_t isize = i_size_read(m);
	pgoff_t end_index;

	if (isize <= 0 || !nr)
		return;
	end_index = (pgoff_t)(isize - 1) >> PAGE_SHIFT;
	if (index > end_index)
		return;
	if (nr > end_index - index + 1) {
		unsigned long cut = nr - (end_index - index + 1);

		nr -= cut;
		lookahead = lookahead > cut ? lookahead - cut : 0;
	}
	reclaim_if_needed(m->cache, nr);
	if (!block && readahead_test_no_add_lock) { /* the hazard: adds under no fence */
		read_pages_range(m, index, nr, lookahead, demand_start, demand_end, fault, true);
		return;
	}
	if (block)
		filemap_invalidate_lock_add(m);
	else if (!filemap_invalidate_trylock_add(m))
		return; /* a truncate, punch or DIO holds BLOCK: no speculative fills */
	/* Speculative windows read in the background; WILLNEED (@block)
	 * returns with its pages read. */
	read_pages_range(m, index, nr, lookahead, demand_start, demand_end, fault, !block);
	filemap_invalidate_unlock_add(m);
}

/* First index in (index, index + max] that is not cached, or 0. */
static pgoff_t next_miss(struct address_space *m, pgoff_t index, unsigned long max)
{
	for (pgoff_t i = index + 1; i <= index + max; i++) {
		struct page *page = find_get_page(&m->i_pages, i);

		if (!page)
			return i;
		put_page(page);
	}
	return 0;
}

static void ondemand_readahead(struct address_space *m, struct file_ra_state *ra,
			       bool hit_readahead_marker, pgoff_t index, unsigned long req,
			       bool fault)
{
	unsigned long max = READ_ONCE(ra->ra_pages);
	pgoff_t start = READ_ONCE(ra->start), prev = READ_ONCE(ra->prev_index);
	unsigned long size = READ_ONCE(ra->size), async = READ_ONCE(ra->async_size);

	if (!max)
		return;
	if (!req)
		req = 1;
	if (!index)
		goto initial;
	/* The expected mark or the end of the window: the stream goes on. */
	if (index == start + size - async || index == start + size) {
		start += size;
		size = get_next_ra_size(size, max);
		async = size;
		goto readit;
	}
	/* A mark of a window whose state we lost (another stream on the same
	 * file): continue after the cached pages. */
	if (hit_readahead_marker) {
		pgoff_t miss = next_miss(m, index, max);

		if (!miss)
			return;
		start = miss;
		size = miss - index + req;
		size = get_next_ra_size(size, max);
		async = size;
		goto readit;
	}
	if (req > max)
		goto initial;
	/* The page right after the last one read (or the same one again). */
	if (index - prev <= 1)
		goto initial;
	/* Random access: read just what was asked; the window stays as it is. */
	do_page_cache_ra(m, index, req, 0, index, fault ? index + 1 : index + req, false, fault);
	return;

initial:
	start = index;
	size = get_init_ra_size(req, max);
	async = size > req ? size - req : size;
readit:
	/* A fresh window read at once: add the next one as its async part. */
	if (!hit_readahead_marker && index == start && size == async) {
		unsigned long add = get_next_ra_size(size, max);

		if (size + add <= max) {
			async = add;
			size += add;
		} else {
			size = max;
			async = max >> 1;
		}
	}
	WRITE_ONCE(ra->start, start);
	WRITE_ONCE(ra->size, size);
	WRITE_ONCE(ra->async_size, async);
	/* A fault asks for one page: the rest of its window is read ahead. */
	do_page_cache_ra(m, start, size, async, index, fault ? index + 1 : index + req, false,
			 fault);
}

void page_cache_sync_readahead(struct address_space *m, struct file_ra_state *ra, pgoff_t index,
			       unsigned long req)
{
	if (!READ_ONCE(ra->ra_pages))
		return; /* FADV_RANDOM: the read fills its own pages */
	ondemand_readahead(m, ra, false, index, req, false);
}

void page_cache_async_readahead(struct address_space *m, struct file_ra_state *ra, pgoff_t index,
				unsigned long req)
{
	if (!READ_ONCE(ra->ra_pages))
		return;
	ondemand_readahead(m, ra, true, index, req, false);
}

void page_cache_fault_readahead(struct address_space *m, struct file_ra_state *ra, pgoff_t index,
				bool marker)
{
	if (!READ_ONCE(ra->ra_pages))
		return;
	ondemand_readahead(m, ra, marker, index, marker ? 1 : READ_ONCE(ra->ra_pages), true);
}

void page_cache_read_around(struct address_space *m, struct file_ra_state *ra, pgoff_t index)
{
	unsigned long ra_pages = READ_ONCE(ra->ra_pages);
	pgoff_t start = index > ra_pages / 2 ? index - ra_pages / 2 : 0;

	if (!ra_pages)
		return;
	WRITE_ONCE(ra->start, start);
	WRITE_ONCE(ra->size, ra_pages);
	WRITE_ONCE(ra->async_size, ra_pages / 4);
	do_page_cache_ra(m, start, ra_pages, ra_pages / 4, index, index + 1, false, true);
}

int force_page_cache_readahead(struct address_space *m, pgoff_t index, unsigned long nr)
{
	int64_t isize = i_size_read(m);
	pgoff_t end_index;

	if (isize <= 0 || !nr)
		return 0;
	end_index = (pgoff_t)(isize - 1) >> PAGE_SHIFT;
	if (index > end_index)
		return 0;
	if (nr > end_index - index + 1)
		nr = end_index - index + 1;
	while (nr) {
		unsigned long chunk = min_t(unsigned long, nr, RA_FORCE_CHUNK);

		do_page_cache_ra(m, index, chunk, 0, index, index, true, false);
		index += chunk;
		nr -= chunk;
	}
	return 0;
}

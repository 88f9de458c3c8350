/* SPDX-License-Identifier: MIT */
/*
 * truncate.c - taking pages out of the cache (the kernel's mm/truncate.c):
 * truncate and hole punch (whole pages removed, partial edge pages zeroed),
 * fadvise(DONTNEED) invalidation of clean pages, and the DIO invalidation
 * that writes back and removes every page of a range.
 *
 * Locks: truncate_pagecache_range / truncate_pagecache expect i_rwsem
 * exclusive and BLOCK of the invalidate lock (policy allowing) held by the
 * caller, and take each page lock in turn (waiting for it and for
 * writeback). With BLOCK held no page can be added to the range, so pages
 * are deleted first and the range's frames punched once at the end (which
 * also frees frames a racing lock-free reader faulted back in); without it
 * (policy none) each page's frame is punched while the page still holds its
 * index. invalidate_mapping_pages only trylocks. invalidate_inode_pages2_range
 * takes page locks one at a time and writes dirty pages back (writepage,
 * which unlocks) with nothing else of ours held.
 */
#include <string.h>

#include "mm/fill.h"
#include "mm/frames.h"
#include "mm/vma.h"

#define TRUNC_BATCH 32u

/* BLOCK is held (by our caller: nobody else may hold it while pages are
 * being dropped under it) and the policy honours it. */
static bool block_held(struct address_space *m)
{
	return !policy_unsafe(m) && two_state_count(&m->invalidate_lock) > 0;
}

/* Zero [from, to) of the page at @index if it is cached; its dirty state is
 * kept (a dirty page writes the zeroes back). */
static void truncate_partial_page(struct address_space *m, pgoff_t index, size_t from, size_t to)
{
	struct page *page = find_get_page(&m->i_pages, index);

	if (!page)
		return;
	lock_page(page);
	if (page->mapping == m) {
		wait_on_page_writeback(page);
		memset((char *)page_address(m, page) + from, 0, to - from);
	}
	unlock_page(page);
	put_page(page);
}

/* Remove every page of [first, last]. */
static void truncate_pages(struct address_space *m, pgoff_t first, pgoff_t last)
{
	struct page *pages[TRUNC_BATCH];
	bool batch_punch = block_held(m);
	pgoff_t index = first;
	unsigned n;

	do {
		n = find_get_pages_range(&m->i_pages, &index, last, pages, TRUNC_BATCH);
		for (unsigned i = 0; i < n; i++) {
			struct page *page = pages[i];

			lock_page(page);
			if (page->mapping == m) {
				wait_on_page_writeback(page);
				clear_page_dirty_for_io(page); /* the data goes */
				page_cache_remove(page, !batch_punch);
			}
			unlock_page(page);
			put_page(page);
		}
	} while (n == TRUNC_BATCH && index <= last);
	if (batch_punch)
		frames_punch(m, first, last - first + 1);
}

void truncate_pagecache_range(struct address_space *m, int64_t lstart, int64_t lend)
{
	pgoff_t first, last;
	size_t start_off, end_off;

	if (lstart < 0 || lend < lstart)
		return;
	first = (pgoff_t)lstart >> PAGE_SHIFT;
	last = (pgoff_t)lend >> PAGE_SHIFT; /* an int64_t offset is below PAGE_INDEX_MAX */
	start_off = (size_t)lstart & (PAGE_SIZE - 1);
	/* Bytes of the last page inside the range (PAGE_SIZE: all of it). */
	end_off = ((size_t)lend & (PAGE_SIZE - 1)) + 1;

	if (first == last) {
		if (start_off == 0 && end_off == PAGE_SIZE)
			truncate_pages(m, first, first);
		else
			truncate_partial_page(m, first, start_off, end_off);
		return;
	}
	if (start_off) {
		truncate_partial_page(m, first, start_off, PAGE_SIZE);
		first++;
	}
	if (end_off != PAGE_SIZE) {
		truncate_partial_page(m, last, 0, end_off);
		last--;
	}
	if (first <= last)
		truncate_pages(m, first, last);
}

void truncate_pagecache(struct address_space *m, int64_t newsize)
{
	/* Drops the pages past newsize and zeroes the tail of the EOF page, so
	 * bytes past EOF are never written back or seen after an extension. */
	truncate_pagecache_range(m, newsize, INT64_MAX);
	/* Private views lose their copies beyond the new EOF too, as Linux's
	 * unmap_mapping_range(..., even_cows = 1) does (fault.c). */
	unmap_mapping_pages(m, (pgoff_t)((newsize + (int64_t)PAGE_SIZE - 1) >> PAGE_SHIFT),
			    PAGE_INDEX_MAX, true);
}

unsigned long invalidate_mapping_pages(struct address_space *m, pgoff_t start, pgoff_t end)
{
	struct page *pages[TRUNC_BATCH], *locked[TRUNC_BATCH];
	unsigned long count = 0;
	pgoff_t index = start;
	unsigned n;

	if (end > PAGE_INDEX_MAX)
		end = PAGE_INDEX_MAX;
	if (start > end)
		return 0;
	do {
		unsigned nl = 0;

		n = find_get_pages_range(&m->i_pages, &index, end, pages, TRUNC_BATCH);
		for (unsigned i = 0; i < n; i++) {
			struct page *page = pages[i];

			if (!trylock_page(page)) {
				put_page(page);
				continue;
			}
			/* Clean, idle, and nobody but the index and us holds it. */
			if (page->mapping != m || PageDirty(page) || PageWriteback(page) ||
			    page_count(page) > 2) {
				unlock_page(page);
				put_page(page);
				continue;
			}
			locked[nl++] = page;
		}
		/* All locked (by trylock: no waiting while holding several):
		 * clear uptodate, punch each run of frames once, delete. */
		for (unsigned i = 0; i < nl; i++)
			page_clear_uptodate(locked[i]);
		for (unsigned i = 0, j; i < nl; i = j) {
			for (j = i + 1; j < nl && locked[j]->index == locked[j - 1]->index + 1; j++)
				;
			frames_punch(m, locked[i]->index,
				     locked[j - 1]->index - locked[i]->index + 1);
		}
		for (unsigned i = 0; i < nl; i++) {
			page_cache_remove(locked[i], false);
			unlock_page(locked[i]);
			put_page(locked[i]);
			count++;
		}
	} while (n == TRUNC_BATCH && index <= end);
	return count;
}

int invalidate_inode_pages2_range(struct address_space *m, pgoff_t start, pgoff_t end)
{
	struct page *pages[TRUNC_BATCH];
	pgoff_t index = start;
	unsigned n;
	int ret = 0;

	if (end > PAGE_INDEX_MAX)
		end = PAGE_INDEX_MAX;
	if (start > end)
		return 0;
	do {
		n = find_get_pages_range(&m->i_pages, &index, end, pages, TRUNC_BATCH);
		for (unsigned i = 0; i < n; i++) {
			struct page *page = pages[i];

			lock_page(page);
			if (page->mapping != m)
				goto next;
			wait_on_page_writeback(page);
			if (PageDirty(page)) {
				/* Write it back (writepage unlocks), then look again. */
				writepage(page);
				lock_page(page);
				if (page->mapping != m)
					goto next;
				wait_on_page_writeback(page);
			}
			if (PageDirty(page)) {
				ret = -EBUSY; /* the write failed, or it was dirtied again */
				goto next;
			}
			page_cache_remove(page, true);
		next:
			unlock_page(page);
			put_page(page);
		}
	} while (n == TRUNC_BATCH && index <= end);
	return ret;
}

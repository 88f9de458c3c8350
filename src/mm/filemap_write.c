/* SPDX-License-Identifier: MIT */
/*
 * filemap_write.c - buffered writes: write_begin / copy / write_end per page
 * and the generic_perform_write loop (the kernel's mm/filemap.c since
 * v6.14; docs/design.md §7.3, hazard H2).
 *
 * Locks: the caller holds i_rwsem exclusive. write_begin runs
 * reclaim_if_needed with nothing else held, then takes ADD of the
 * invalidate lock (policy allowing; NOWAIT: trylock), reserves the page's
 * space in the store under ADD alone (store_reserve: it may commit, and
 * ADD keeps a punch or truncate from releasing it before the page is
 * dirty), then takes the page lock;
 * the copy from the user runs under both with faults disabled
 * (pagefault_disable + the fix-up copy: it comes back short rather than
 * fault into our own fault handler, whose locks we may hold); write_end
 * drops both; balance_dirty_pages runs before each page with only i_rwsem
 * held (a writeback error it returns ends the write: short, or the error). Faulting the
 * source in happens with only i_rwsem held, so a source that is a mapping of
 * this very page (or of another file) is faulted in by the fault layer
 * without deadlock and the copy is retried.
 *
 * Short copies: into an uptodate page the copied prefix is committed; into a
 * page that is not uptodate (a whole-page overwrite that skipped the read)
 * nothing is: committing a prefix would expose the rest of the frame, bytes
 * no ordering of the read and the write could produce. The loop then
 * retries with the bytes that did copy (a partial write, which reads the page
 * first), and otherwise faults the source in and goes round; -EFAULT only if
 * nothing could be faulted in, and only if nothing was written.
 */
#include <string.h>

#include "kernel/task.h"
#include "mm/fill.h"
#include "mm/frames.h"

/*
 * Locks the page for a write of @len bytes at @pos (within one page) under
 * ADD, creating it if needed. A partial write into a page that is not
 * uptodate first reads it from the store (below i_size) or zeroes it
 * (beyond), making it uptodate. Returns 0 with ADD held and the page locked
 * and referenced, or -errno with nothing held.
 */
static int write_begin(struct address_space *m, int64_t pos, size_t len, bool nowait,
		       struct page **pagep)
{
	pgoff_t index = (pgoff_t)pos >> PAGE_SHIFT;
	struct page *page;
	int err = 0;

	reclaim_if_needed(m->cache, 1);
	if (nowait) {
		if (!filemap_invalidate_trylock_add(m))
			return -EAGAIN;
	} else {
		filemap_invalidate_lock_add(m);
	}
	/* Delayed allocation: space for the block this page will need at
	 * writeback, set aside before any byte is dirtied, without the page
	 * lock (it may commit). -ENOSPC here is the write's. */
	err = store_reserve(m->host, pos, (int64_t)len);
	if (err)
		goto out;
	for (;;) {
		page = find_get_page(&m->i_pages, index);
		if (page) {
			cache_stat_add(&m->cache->stats.hits, 1);
			if (nowait) {
				if (!trylock_page(page)) {
					put_page(page);
					err = -EAGAIN;
					goto out;
				}
			} else {
				lock_page(page);
			}
			if (page->mapping == m)
				break;
			unlock_page(page); /* removed while we slept */
			put_page(page);
			continue;
		}
		/* a miss only if filled from the store (filemap_fill_pages) */
		page = add_to_page_cache_locked(m, index, &err);
		if (page) {
			frames_populate(page_address(m, page), PAGE_SIZE);
			break;
		}
		if (err != -EEXIST)
			goto out;
	}
	if (!PageUptodate(page) && len != PAGE_SIZE) {
		int64_t page_pos = (int64_t)(index << PAGE_SHIFT);

		if (page_pos >= i_size_read(m)) {
			/* Wholly past EOF: its true contents are zeroes. */
			memset(page_address(m, page), 0, PAGE_SIZE);
			page_mark_uptodate(page);
		} else if (nowait) {
			err = -EAGAIN; /* would need a store read */
		} else {
			err = filemap_fill_pages(m, &page, 1);
		}
		if (err) {
			/* not uptodate, so not dirty: nothing needs the block */
			store_unreserve(m->host, (int64_t)(index << PAGE_SHIFT), PAGE_SIZE);
			unlock_page(page);
			put_page(page);
			goto out;
		}
	}
	*pagep = page;
	return 0;
out:
	filemap_invalidate_unlock_add(m);
	return err;
}

/*
 * Commits @copied of the @len bytes written at @pos: all of them, or none if
 * the copy was short and the page is not uptodate. Marks the page dirty,
 * extends i_size (under the page lock, after the bytes are in the frame),
 * unlocks the page and drops ADD. Returns the bytes committed.
 */
static size_t write_end(struct address_space *m, struct page *page, int64_t pos, size_t len,
			size_t copied)
{
	if (!PageUptodate(page)) {
		if (copied < len)
			copied = 0; /* never expose the uncopied rest of the frame */
		else
			page_mark_uptodate(page); /* the whole page was written */
	}
	if (copied) {
		set_page_dirty(page);
		if (pos + (int64_t)copied > i_size_read(m))
			i_size_write(m, pos + (int64_t)copied);
	} else if (!PageDirty(page) && !PageWriteback(page)) {
		/* Nothing dirtied: give write_begin's reservation back (a
		 * writeback in flight may be about to consume it: keep it). */
		store_unreserve(m->host, (int64_t)(page->index << PAGE_SHIFT), PAGE_SIZE);
	}
	unlock_page(page);
	put_page(page);
	filemap_invalidate_unlock_add(m);
	return copied;
}

ssize_t generic_perform_write(struct address_space *m, struct iov_iter *iter, int64_t pos,
			      int flags)
{
	bool nowait = flags & FILEMAP_NOWAIT;
	ssize_t written = 0;
	int status = 0;

	/* One page per chunk: the kernel halves large-folio chunks after a
	 * short copy; with 4 KiB pages a chunk is a page already. */
	while (iter->count) {
		size_t offset = (size_t)pos & (PAGE_SIZE - 1);
		size_t bytes = min_t(size_t, PAGE_SIZE - offset, iter->count);
		size_t copied, committed;
		struct page *page = NULL;

		/* Throttle before dirtying (the kernel does it after each page;
		 * before, a store that fails can turn the writer away without
		 * one more dirty page: the memory bound, writeback.c). */
		status = balance_dirty_pages(m, nowait);
		if (status)
			break;
	retry:
		status = write_begin(m, pos, bytes, nowait, &page);
		if (status)
			break;
		pagefault_disable();
		copied =
		    copy_page_from_iter_atomic((char *)page_address(m, page) + offset, bytes, iter);
		pagefault_enable();
		committed = write_end(m, page, pos, bytes, copied);
		if (committed) {
			iov_iter_advance(iter, committed);
			pos += (int64_t)committed;
			written += (ssize_t)committed;
		}
		if (unlikely(copied < bytes))
			cache_stat_add(&m->cache->stats.write_retries, 1);
		if (unlikely(!committed)) {
			/* A short copy the page rejected: retry what did copy
			 * (the page is read first now), else fault the source in
			 * with only i_rwsem held and go round. */
			if (copied) {
				bytes = copied;
				goto retry;
			}
			if (fault_in_iov_iter_readable(iter, bytes) == bytes) {
				status = -EFAULT;
				break;
			}
		}
	}
	return written ? written : status;
}

/* SPDX-License-Identifier: MIT */
/*
 * filemap.h - the page cache of one file (struct address_space) and of the
 * engine (struct mm_cache): the contract the fs layer calls.
 *
 * Frames: page contents live in one memfd per address_space, page i at
 * offset i * PAGE_SIZE (docs/design.md §6.1). The library reaches them through a
 * "filler" view of the memfd that is never registered or protected, so engine
 * I/O never faults. page_address() gives a page's bytes while a reference is
 * held. Dropping a page from the cache punches its frame.
 *
 * Locks (docs/locking.md): the fs layer holds i_rwsem as each call below
 * says; the invalidate lock (ADD/BLOCK) is taken here for fills and by fs for
 * truncate/punch/DIO (filemap_invalidate_lock_block); page locks and the
 * page index lock are taken here. No call here takes i_rwsem.
 *
 * Errors: counts or -errno; store errors surface as -EIO/-ENOSPC/... and
 * writeback errors are recorded in mapping->wb_err (errseq) as well.
 */
#ifndef PC_MM_FILEMAP_H
#define PC_MM_FILEMAP_H

#include <sys/uio.h>

#include "kernel/list.h"
#include "kernel/mutex.h"
#include "kernel/rwsem.h"
#include "kernel/two_state.h"
#include "mm/errseq.h"
#include "mm/frames.h"
#include "mm/iov_iter.h"
#include "mm/page.h"
#include "mm/page_index.h"
#include "store/store.h"

/* Locking policy (public enum pc_lock_policy mirrors it). */
enum lock_policy {
	POLICY_TWO_STATE = 0,
	POLICY_XFS = 1,		/* fs: buffered reads also take i_rwsem shared */
	POLICY_NONE_UNSAFE = 2, /* no ADD/BLOCK at all: hazard tests and benchmarks only */
};

/* Engine-wide page-cache state: one per engine. */
struct mm_cache {
	enum lock_policy policy;
	unsigned long mem_limit_pages;	/* reclaim keeps nr_pages <= this */
	unsigned long ra_max_pages;	/* largest readahead window */
	unsigned long fault_ra_pages;	/* the fault path's (>= ra_max_pages) */
	unsigned long dirty_background; /* pages: background writeback starts above */
	unsigned long dirty_limit;	/* pages: writers throttle above */
	unsigned writeback_interval_ms;
	uint64_t dirty_expire_ns; /* periodic writeback: data dirty this long (0: all) */

	unsigned long nr_pages;	    /* atomic: pages in every cache */
	unsigned long nr_dirty;	    /* atomic */
	unsigned long nr_writeback; /* atomic */
	/* atomic: nr_dirty + nr_writeback kept as one count, the one the dirty
	 * limit compares (writeback.c "The dirty count"): a page moving between
	 * dirty and writeback never leaves it */
	unsigned long nr_dirty_wb;
	int wb_last_err; /* atomic: last writepage's error, 0 after a success */

	struct mutex mappings_lock; /* "mm_mappings_lock" (leaf): the list below */
	struct list_head mappings;  /* every live address_space */

	struct mutex lru_lock; /* "lru_lock" (leaf) */
	struct list_head lru_inactive, lru_active;
	unsigned long nr_active; /* under lru_lock (read atomically): pages on lru_active */

	/* background writeback thread and its wake-up */
	void *wb_thread; /* private to writeback.c */
	void *ra_worker; /* private to readahead_worker.c */

	struct { /* atomics; pc_get_stats() reads them */
		uint64_t hits, misses, readahead_pages, written_back_pages, reclaimed_pages;
		uint64_t throttled_writes, write_retries;
		uint64_t fault_readahead_pages; /* of readahead_pages: by page faults */
		uint64_t reclaim_punches;	/* frame punches by reclaim (tests) */
	} stats;
	/* Sleeps in any lock while working for this cache (its engine). */
	struct lock_sink lock_stats;
};

/* Limits of an engine's cache; a 0 stands for its default (mm/defaults.h). */
struct mm_cache_config {
	enum lock_policy policy;
	size_t mem_limit;	    /* bytes */
	size_t readahead_max;	    /* bytes */
	size_t fault_readahead_max; /* bytes; 0: readahead_max */
	size_t dirty_background;    /* bytes */
	size_t dirty_limit;	    /* bytes */
	unsigned writeback_interval_ms;
	unsigned dirty_expire_ms; /* 0: every periodic pass writes all dirty data */
};

/* Creates the engine's cache and starts its writeback thread. */
int mm_cache_init(struct mm_cache *c, const struct mm_cache_config *cfg);
/* Stops the writeback thread; every mapping must be gone. */
void mm_cache_destroy(struct mm_cache *c);

/* Per-file readahead state (kernel: struct file_ra_state), owned by a struct file. */
struct file_ra_state {
	pgoff_t start; /* current window */
	unsigned long size;
	unsigned long async_size; /* start readahead again when reading here */
	pgoff_t prev_index;	  /* last page read: sequential detection */
	unsigned long ra_pages;	  /* maximum window (0 = readahead off: FADV_RANDOM) */
};

struct frames; /* private to frames.c */

struct address_space {
	struct page_index i_pages;
	struct two_state_lock invalidate_lock; /* class "invalidate_lock" */
	struct rw_semaphore i_mmap_rwsem;      /* class "i_mmap_rwsem": guards i_mmap */
	struct list_head i_mmap;	       /* views of this file (struct vma, vma.c) */
	struct store_inode *host;	       /* backing file */
	struct mm_cache *cache;
	int64_t i_size; /* atomic: i_size_read/i_size_write */
	struct frames *frames;
	errseq_t wb_err; /* writeback errors (errseq) */
	/* atomics (writeback.c): the error of this mapping's last failed
	 * writepage, 0 once one succeeds; writers turned away since */
	int wb_failing;
	unsigned long wb_fail_skips;
	unsigned long nrdirty; /* atomic */
	/* atomic: runs of this mapping's pages queued for background
	 * readahead or being read (readahead_worker.c) */
	unsigned long ra_inflight;
	/* atomic: ktime_get_ns() when the mapping went from clean to dirty (the
	 * kernel's inode->dirtied_when); 0 when clean or not known (a periodic
	 * writeback pass takes a dirty mapping without a time as expired) */
	uint64_t dirtied_when;
	struct list_head cache_link; /* in cache->mappings */
	/* Set by the file system: file_update_time for a store through a
	 * shared view (called by page_mkwrite in fault.c; no lock of ours is
	 * needed by it, it may be called under the page lock). NULL: none. */
	void (*update_time)(struct address_space *m);
	/* Set by the file system in cluster mode (fs/cluster.c): runs a
	 * fault's fill @fill(@arg) under the file's glock (@excl: a store
	 * through a write-notify view, which dirties the page, needs it
	 * exclusive) and returns its result, or false to fail the fault
	 * without filling. Called with no lock of ours held (fault.c). NULL:
	 * the fill runs at once (one engine alone). */
	bool (*fault_lock)(struct address_space *m, bool excl, bool (*fill)(void *arg), void *arg);
};

static inline int64_t i_size_read(const struct address_space *m)
{
	return __atomic_load_n(&m->i_size, __ATOMIC_ACQUIRE);
}
/* Caller holds i_rwsem exclusive (or is extending under it). */
static inline void i_size_write(struct address_space *m, int64_t size)
{
	__atomic_store_n(&m->i_size, size, __ATOMIC_RELEASE);
}

/* No dirty page and none under writeback (lock-free snapshot). */
static inline bool mapping_clean(struct address_space *m)
{
	/* The tags, not nrdirty: writepage clears PG_dirty (and nrdirty) before
	 * it sets the WRITEBACK tag, but keeps the DIRTY tag until then, so a
	 * page on its way to the store always carries one of the two. DIRTY is
	 * looked at first: seen clear, WRITEBACK was set before it. */
	return !page_index_tagged(&m->i_pages, PAGECACHE_TAG_DIRTY) &&
	       !page_index_tagged(&m->i_pages, PAGECACHE_TAG_WRITEBACK);
}
/* The writeback error recorded in m->wb_err that no file has seen yet
 * (fsync, close of the engine), or 0. Lock-free. */
static inline int mapping_unseen_error(struct address_space *m)
{
	errseq_t cur = __atomic_load_n(&m->wb_err, __ATOMIC_ACQUIRE);

	/* errseq_sample gives 0 for an error nobody has seen */
	if (!cur || errseq_sample(&m->wb_err) != 0)
		return 0;
	return errseq_check(&m->wb_err, 0);
}

int mapping_init(struct address_space *m, struct mm_cache *c, struct store_inode *host,
		 int64_t size);
/* Drops every page (they must be clean: the caller wrote back first), frees
 * frames. No reference to any page of the mapping may remain. */
void mapping_destroy(struct address_space *m);
/* The address space the mapping's frames reserve (frames_reserved_bytes). */
size_t mapping_frames_reserved(struct address_space *m);

/* The bytes of @page of @m (valid while a reference is held): its frame in
 * the mapping's filler view, computed from the index as the kernel computes a
 * lowmem page's address from its pfn, so struct page stores no address.
 * Frames of consecutive indices are contiguous. @m is the mapping the caller
 * found the page in (the page may have been removed from it since: the frame
 * stays addressable until the mapping is destroyed). */
static inline void *page_address(struct address_space *m, const struct page *page)
{
	return frames_page_addr(m->frames, page->index);
}

/*
 * PG_readahead (the first free flag bit): the page at the async mark of a
 * readahead window; a reader reaching it starts the next window.
 */
#define PG_readahead NR_PAGEFLAGS
static inline bool PageReadahead(const struct page *page)
{
	return test_bit(PG_readahead, &page->flags);
}
/* The mark is mirrored in the index leaf (page_index.h, leaf flags): set
 * there after the flag (the page locked, in its mapping), cleared there
 * before it. A bit lost to a race (the page replaced meanwhile) costs at
 * most one window started late. */
static inline void SetPageReadahead(struct page *page)
{
	struct address_space *m = READ_ONCE(page->mapping);

	set_bit(PG_readahead, &page->flags);
	if (m)
		page_index_set_leaf_flag(&m->i_pages, page, PI_LEAF_READAHEAD);
}
static inline bool TestClearPageReadahead(struct page *page)
{
	struct address_space *m = READ_ONCE(page->mapping);

	if (m)
		page_index_clear_leaf_flag(&m->i_pages, page, PI_LEAF_READAHEAD);
	return test_and_clear_bit(PG_readahead, &page->flags);
}

/*
 * PG_uptodate of a page in the cache, with its mirror in the index leaf
 * (page_index.h): the flag, then the bit; the bit cleared, then the flag. So
 * a set bit means the page in the slot is uptodate with its contents
 * visible, and the bit is gone before anything that clears the flag goes on
 * to punch the frame. The page is locked (so it stays in its mapping, or
 * out of any: then there is no bit).
 */
static inline void page_mark_uptodate(struct page *page)
{
	struct address_space *m = page->mapping;

	SetPageUptodate(page);
	if (m)
		page_index_set_leaf_flag(&m->i_pages, page, PI_LEAF_UPTODATE);
}
static inline void page_clear_uptodate(struct page *page)
{
	struct address_space *m = page->mapping;

	if (m)
		page_index_clear_leaf_flag(&m->i_pages, page, PI_LEAF_UPTODATE);
	ClearPageUptodate(page);
}
static inline bool page_test_clear_uptodate(struct page *page)
{
	struct address_space *m = page->mapping;

	if (m)
		page_index_clear_leaf_flag(&m->i_pages, page, PI_LEAF_UPTODATE);
	return test_and_clear_bit(PG_uptodate, &page->flags);
}

/*
 * Race windows of the fill (sched_race_window names, for hazard tests):
 *   "fill: lookup missed"                         read miss, nothing held yet
 *   "fill: page locked, store not read"           ADD held, new page locked
 *   "fill: store read done, page not yet uptodate"
 *   "read: page uptodate, copy not done"          a cache hit, before its copy
 */

/* ---- the invalidate lock, honouring the policy ---- */
void filemap_invalidate_lock_add(struct address_space *m);
bool filemap_invalidate_trylock_add(struct address_space *m);
void filemap_invalidate_unlock_add(struct address_space *m);
void filemap_invalidate_lock_block(struct address_space *m);
/* The second of two mappings locked at once (clone/dedupe: address order,
 * @subclass SINGLE_DEPTH_NESTING). */
void filemap_invalidate_lock_block_nested(struct address_space *m, unsigned subclass);
void filemap_invalidate_unlock_block(struct address_space *m);

/* ---- a fill by the owner of BLOCK (clone/dedupe, fs/remap_range.c) ---- */

/*
 * The page at @index, uptodate, with a reference (the kernel's
 * read_mapping_page): a cached uptodate page as it is, else one created or
 * brought uptodate from the store here. The caller holds BLOCK of @m (and
 * i_rwsem exclusive), so this takes no ADD: the fence it owns already
 * keeps every other fill out. Reclaim may still take the page afterwards:
 * the caller re-checks PageUptodate and page->mapping under the page lock
 * before trusting its bytes. NULL with *err (store error, -ENOMEM).
 */
struct page *read_mapping_page_fenced(struct address_space *m, pgoff_t index, int *err);

/* ---- read ---- */

#define FILEMAP_NOWAIT 0x1 /* RWF_NOWAIT: -EAGAIN instead of I/O or a sleeping lock */

/*
 * Buffered read of iter->count bytes at pos into the user buffers: cache
 * hits take no sleeping lock (RCU lookup + page reference); misses fill
 * under ADD; readahead as @ra says (sequential detection, async window).
 * Copies to user memory run with no lock held. Returns bytes read (short at
 * EOF), -EFAULT if nothing could be copied, -EAGAIN (NOWAIT, nothing read),
 * or a store error. Caller: nothing held (policy xfs: i_rwsem shared).
 */
ssize_t filemap_read(struct address_space *m, struct file_ra_state *ra, struct iov_iter *iter,
		     int64_t pos, int flags);

/* fadvise(WILLNEED): read [index, index+nr) into the cache (ADD). */
int force_page_cache_readahead(struct address_space *m, pgoff_t index, unsigned long nr);

/* ---- write ---- */

/*
 * Buffered write (docs/design.md §7.3): per chunk write_begin (page created and
 * locked under ADD) -> copy from user with faults disabled -> write_end; a
 * short copy into a non-uptodate page commits 0 bytes; halve the chunk;
 * fault the source in with the locks dropped and retry; -EFAULT only if
 * nothing could be written. Extends i_size. Throttles against the dirty
 * limit. Caller holds i_rwsem exclusive. Returns bytes written or -errno.
 */
ssize_t generic_perform_write(struct address_space *m, struct iov_iter *iter, int64_t pos,
			      int flags);

/* ---- writeback ---- */

/* Start writeback of dirty pages in [start, end] (bytes, inclusive) and, if
 * @wait, wait for it. Errors are recorded in m->wb_err and returned. */
int filemap_fdatawrite_range(struct address_space *m, int64_t start, int64_t end);
int filemap_fdatawait_range(struct address_space *m, int64_t start, int64_t end);
int filemap_write_and_wait_range(struct address_space *m, int64_t start, int64_t end);
/* fsync's error report: the error recorded since *since (then advance it). */
int file_check_and_advance_wb_err(struct address_space *m, errseq_t *since);
/* Record a writeback error for the mapping (writepage; a file system whose
 * own write-back failed: the cluster's go_sync). */
void mapping_set_error(struct address_space *m, int err);

/* ---- removal ---- */

/*
 * Remove every page wholly inside [lstart, lend] (bytes, inclusive) from the
 * cache, waiting for locked and under-writeback pages, and zero the parts of
 * the partial edge pages inside the range. Caller holds BLOCK (policy
 * allowing) and i_rwsem exclusive; dirty edge data was written back first if
 * it must survive.
 */
void truncate_pagecache_range(struct address_space *m, int64_t lstart, int64_t lend);
/* i_size is already newsize: drop pages past it, zero the tail of the EOF page. */
void truncate_pagecache(struct address_space *m, int64_t newsize);
/* fadvise(DONTNEED): drop clean, unlocked, unmapped pages; returns how many. */
unsigned long invalidate_mapping_pages(struct address_space *m, pgoff_t start, pgoff_t end);
/* DIO: write back then drop every page in [start, end]; -EBUSY if one could not go. */
int invalidate_inode_pages2_range(struct address_space *m, pgoff_t start, pgoff_t end);

#endif

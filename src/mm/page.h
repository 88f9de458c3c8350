/* SPDX-License-Identifier: MIT */
/*
 * page.h - struct page: the metadata of one cached 4 KiB page (the contents
 * live in the inode's memfd at index * 4096, not here), and its helpers.
 *
 * Fields and who may touch them:
 *   flags     atomic bit operations only (PG_* below).
 *   mapping   set by page_index_insert() before the page is published, cleared
 *             (NULL) by page_index_delete(); read lock-free with READ_ONCE.
 *   index     set by the owner before insertion, constant while in an index.
 *   _refcount atomic; the page index holds one reference while the page is in
 *             it. The last put_page() frees the page after an RCU grace period
 *             (lock-free lookups may still be looking at it).
 *   lru       owned by the LRU layer, under its lock; must be empty at free.
 *
 * Locks: the page lock is bit PG_locked of flags (wait_on_bit_lock with the
 * PG_waiters bit), one validator class "page_lock" for every page (the page
 * is the instance). It nests inside the invalidate lock and outside the leaf
 * locks (docs/locking.md). Writeback waits sleep on PG_writeback and share
 * PG_waiters with the lock waiters (bit waits queue by word, as in the kernel).
 * Nothing here takes any other lock.
 *
 * States and transitions (absent, locked new, uptodate, dirty, writeback,
 * removed), with the function and lock of each: docs/design.md §10.
 *
 * RCU: the default liburcu flavour (memb). Every thread that reads under RCU
 * (lookups) or frees through it calls mm_rcu_thread_enter() first; the
 * lookup and put paths of this layer do so themselves.
 */
#ifndef PC_MM_PAGE_H
#define PC_MM_PAGE_H

#include <errno.h>
#include <stdint.h>

#include "kernel/compiler.h"
#include "kernel/list.h"
#include "kernel/wait.h"

#if PC_HAVE_TSAN
#include <sanitizer/tsan_interface.h>
#endif

typedef uint64_t pgoff_t;

#define PAGE_SHIFT 12
#define PAGE_SIZE  (1ul << PAGE_SHIFT)

struct address_space;

enum pageflags {
	PG_locked,	 /* page lock (bit lock) */
	PG_waiters,	 /* someone sleeps on PG_locked or PG_writeback */
	PG_uptodate,	 /* contents valid: set with release, tested with acquire */
	PG_dirty,	 /* contents newer than the store */
	PG_writeback,	 /* being written to the store */
	PG_referenced,	 /* accessed since the LRU last looked */
	PG_error,	 /* I/O error seen */
	PG_active,	 /* on the active LRU list */
	PG_lru,		 /* on an LRU list */
	PG_reclaim,	 /* reclaim wants it freed after writeback */
	PG_mappedtodisk, /* store blocks exist for the whole page */
	NR_PAGEFLAGS,	 /* bits NR_PAGEFLAGS..63 are free */
};

/* Storage for liburcu's struct rcu_head (checked in page.c). */
struct mm_rcu_head {
	void *__next;
	void *__func;
};

struct page {
	unsigned long flags;
	struct address_space *mapping; /* NULL once removed from the cache */
	pgoff_t index;
	int32_t _refcount;
	union {
		struct list_head lru;	/* while live */
		struct mm_rcu_head rcu; /* after the last put */
	};
};

/* The bytes are found from the index (page_address(), filemap.h), so 48
 * bytes: with the index's leaves, a cached page's metadata stays under the
 * kernel's 64-byte struct page. */
_Static_assert(sizeof(struct page) == 48, "struct page is 48 bytes");

/* The slab struct pages come from (page_slab.c): zeroed objects. */
struct page *page_slab_alloc(void);
void page_slab_free(struct page *page);

/* ---- allocation and references ---- */

/* A new page: refcount 1, no flags, mapping NULL, index 0. NULL on ENOMEM. */
struct page *page_alloc(void);

static inline int page_count(const struct page *page)
{
	return __atomic_load_n(&page->_refcount, __ATOMIC_RELAXED);
}

/* The caller already holds a reference (or the index lock with the page in it). */
static inline void get_page(struct page *page)
{
	__atomic_fetch_add(&page->_refcount, 1, __ATOMIC_RELAXED);
}

/* Speculative reference under RCU: fails once the count reached zero. */
static inline bool get_page_unless_zero(struct page *page)
{
	int c = __atomic_load_n(&page->_refcount, __ATOMIC_RELAXED);

	while (c != 0) {
		if (__atomic_compare_exchange_n(&page->_refcount, &c, c + 1, true, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return true;
	}
	return false;
}

void __put_page(struct page *page);

/* Drops a reference; the last one frees the page after an RCU grace period. */
static inline void put_page(struct page *page)
{
	if (__atomic_sub_fetch(&page->_refcount, 1, __ATOMIC_ACQ_REL) == 0)
		__put_page(page);
}

/* ---- flags ---- */

#define PAGEFLAG(name, bit)                                       \
	static inline bool Page##name(const struct page *page)    \
	{                                                         \
		return test_bit(bit, &page->flags);               \
	}                                                         \
	static inline void SetPage##name(struct page *page)       \
	{                                                         \
		set_bit(bit, &page->flags);                       \
	}                                                         \
	static inline void ClearPage##name(struct page *page)     \
	{                                                         \
		clear_bit(bit, &page->flags);                     \
	}                                                         \
	static inline bool TestSetPage##name(struct page *page)   \
	{                                                         \
		return test_and_set_bit(bit, &page->flags);       \
	}                                                         \
	static inline bool TestClearPage##name(struct page *page) \
	{                                                         \
		return test_and_clear_bit(bit, &page->flags);     \
	}

PAGEFLAG(Dirty, PG_dirty)
PAGEFLAG(Referenced, PG_referenced)
PAGEFLAG(Error, PG_error)
PAGEFLAG(Active, PG_active)
PAGEFLAG(LRU, PG_lru)
PAGEFLAG(Reclaim, PG_reclaim)
PAGEFLAG(MappedToDisk, PG_mappedtodisk)

static inline bool PageLocked(const struct page *page)
{
	return test_bit(PG_locked, &page->flags);
}

static inline bool PageWriteback(const struct page *page)
{
	return test_bit(PG_writeback, &page->flags);
}

/*
 * Uptodate: the writer fills the contents, then SetPageUptodate (release); a
 * reader that sees PageUptodate (acquire) sees the contents.
 */
static inline bool PageUptodate(const struct page *page)
{
	return (__atomic_load_n(&page->flags, __ATOMIC_ACQUIRE) >> PG_uptodate) & 1;
}

static inline void SetPageUptodate(struct page *page)
{
	__atomic_fetch_or(&page->flags, 1ul << PG_uptodate, __ATOMIC_RELEASE);
}

static inline void ClearPageUptodate(struct page *page)
{
	clear_bit(PG_uptodate, &page->flags);
}

/* ---- page lock ---- */

void __lock_page(struct page *page, struct src_loc loc);
int __lock_page_killable(struct page *page, struct src_loc loc);
bool __trylock_page(struct page *page, struct src_loc loc);
void __unlock_page(struct page *page, struct src_loc loc);

/* Sleeps until the page lock is ours. */
#define lock_page(page) __lock_page((page), THIS_LOC)
/* As lock_page; returns -EINTR if the task is killed while waiting, else 0. */
#define lock_page_killable(page) __lock_page_killable((page), THIS_LOC)
/* Takes the page lock if it is free; true on success. */
#define trylock_page(page) __trylock_page((page), THIS_LOC)
/* Releases the page lock (release ordering) and wakes one waiter. */
#define unlock_page(page) __unlock_page((page), THIS_LOC)

/* Sleeps until nobody holds the page lock (does not take it). */
void wait_on_page_locked(struct page *page);

/*
 * The page lock of a page under read I/O belongs to the I/O, not to a task
 * (the kernel's readahead folios: locked when added, unlocked by the read's
 * completion). page_lock_to_io: the holder hands its lock to the I/O (the
 * validator forgets it; the bit stays set). unlock_page_io: the I/O's
 * completion (any thread) releases it and wakes the waiters.
 */
void page_lock_to_io(struct page *page);
void unlock_page_io(struct page *page);

/*
 * A write-back run (writeback.c): a thread that holds one page lock taken
 * with lock_page takes the locks of further pages with trylock_page_run only,
 * and the validator tracks those together as one more held page lock (its
 * held-lock stack is bounded; a run is longer). page_run_acquire: before the
 * run's first trylock_page_run, @run an address that names the run; the
 * thread must hold a page lock then. trylock_page_run: as trylock_page, but
 * the lock is the run's, not tracked on its own. unlock_page_run: releases
 * one such lock (the run must still be held). page_run_release: after the
 * last unlock_page_run. A trylock cannot wait, so the run's locks add no
 * ordering the first page lock does not record; what the validator no longer
 * sees is each page on its own (recursion on one of them, a wrong unlock).
 */
void __page_run_acquire(const void *run, struct src_loc loc);
void __page_run_release(const void *run, struct src_loc loc);
bool __trylock_page_run(struct page *page, struct src_loc loc);
void __unlock_page_run(struct page *page, struct src_loc loc);
#define page_run_acquire(run)  __page_run_acquire((run), THIS_LOC)
#define page_run_release(run)  __page_run_release((run), THIS_LOC)
#define trylock_page_run(page) __trylock_page_run((page), THIS_LOC)
#define unlock_page_run(page)  __unlock_page_run((page), THIS_LOC)

/* ---- writeback ---- */

/* Marks writeback started (caller holds the page lock); returns the old bit. */
static inline bool set_page_writeback(struct page *page)
{
	return test_and_set_bit(PG_writeback, &page->flags);
}

/* Ends writeback and wakes every wait_on_page_writeback() sleeper. */
void end_page_writeback(struct page *page);
/* Sleeps until PG_writeback is clear. */
void wait_on_page_writeback(struct page *page);

/* ---- RCU glue ---- */

/* Registers the calling thread with liburcu once (unregistered at thread exit). */
void mm_rcu_thread_enter(void);
/* Waits for every pending RCU callback of this layer (page and node frees). */
void mm_rcu_barrier(void);

/*
 * ThreadSanitizer does not see liburcu's grace periods: readers release a
 * token before rcu_read_unlock(), so does a writer before call_rcu(), and the
 * free callback acquires it, so a free after a grace period is ordered after
 * every access that preceded it.
 */
#if PC_HAVE_TSAN
extern char mm_rcu_tsan_token;
static inline void mm_rcu_tsan_release(void)
{
	__tsan_release(&mm_rcu_tsan_token);
}
static inline void mm_rcu_tsan_acquire(void)
{
	__tsan_acquire(&mm_rcu_tsan_token);
}
#else
static inline void mm_rcu_tsan_release(void)
{
}
static inline void mm_rcu_tsan_acquire(void)
{
}
#endif

/* Lock class of the page lock (statistics). */
extern struct lock_class_key page_lock_key;

#endif

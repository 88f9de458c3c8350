/* SPDX-License-Identifier: MIT */
/*
 * fill.h - calls between the files of the filemap core (filemap.c,
 * readahead.c, filemap_write.c, truncate.c); private to them.
 */
#ifndef PC_MM_FILL_H
#define PC_MM_FILL_H

#include "mm/internal.h"

/*
 * Reads @nr locked, not-uptodate pages of consecutive indices from the store
 * (zeroes past i_size and in holes), marks each uptodate (or PG_error on a
 * store error) and leaves them locked. Caller holds ADD (policy allowing) or
 * is the BLOCK owner. Returns 0 or the store's -errno.
 */
int filemap_fill_pages(struct address_space *m, struct page **pages, unsigned nr);

/* Removes a locked, clean page from the cache; @punch: and frees its frame
 * first (see filemap.c on why before the index delete). */
void page_cache_remove(struct page *page, bool punch);

/* Readahead (readahead.c): @req pages from @index are wanted now. */
void page_cache_sync_readahead(struct address_space *m, struct file_ra_state *ra, pgoff_t index,
			       unsigned long req);
/* A reader reached a PG_readahead page at @index. */
void page_cache_async_readahead(struct address_space *m, struct file_ra_state *ra, pgoff_t index,
				unsigned long req);

/* The fault path's (fault.c): readahead from @index (ra_pages of it, or, a
 * PG_readahead page reached (@marker), the next window), and read-around:
 * ra_pages centred on @index with the async mark a quarter from the end.
 * Nothing held; ADD taken by trylock (skipped when that fails). */
void page_cache_fault_readahead(struct address_space *m, struct file_ra_state *ra, pgoff_t index,
				bool marker);
void page_cache_read_around(struct address_space *m, struct file_ra_state *ra, pgoff_t index);

static inline void cache_stat_add(uint64_t *stat, uint64_t n)
{
	if (n)
		__atomic_fetch_add(stat, n, __ATOMIC_RELAXED);
}

/* A counter of c->stats read while others may add to it (the readahead
 * workers, the writeback thread, other readers): the tests read them so. */
static inline uint64_t cache_stat_read(const uint64_t *stat)
{
	return __atomic_load_n(stat, __ATOMIC_RELAXED);
}

static inline bool policy_unsafe(const struct address_space *m)
{
	return READ_ONCE(m->cache->policy) == POLICY_NONE_UNSAFE;
}

#endif

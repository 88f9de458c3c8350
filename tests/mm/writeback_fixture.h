/* SPDX-License-Identifier: MIT */
/*
 * writeback_fixture.h - shared helpers of the writeback and reclaim tests
 * (test_writeback, test_reclaim) on the mm layer directly: a dir store in a
 * fresh temporary directory with up to MAX_FILES files, an mm cache and a
 * mapping per file; a quiet configuration (no background writeback, no
 * throttling, no reclaim); a per-file byte pattern written through the cache
 * and checked in the store; buffered read/write wrappers; checks that the
 * dirty flags, tags and counters agree and that the LRU lists hold every
 * page; and a liveness wait on a counter (the hang watchdog, no deadline). Takes no locks itself.
 */
#ifndef PC_TESTS_MM_WRITEBACK_FIXTURE_H
#define PC_TESTS_MM_WRITEBACK_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "kernel/futex.h"
#include "mm/internal.h"
#include "store/fixture.h"

#define MAX_FILES 4
#define HOUR_MS	  3600000u

struct wbt {
	struct store *s;
	struct mm_cache c;
	int nfiles;
	struct store_inode *si[MAX_FILES];
	struct address_space m[MAX_FILES];
};

void wbt_setup(struct wbt *t, const struct mm_cache_config *cfg, int nfiles);
void wbt_teardown(struct wbt *t);
/* A quiet cache: no background writeback, no throttling, no reclaim. */
struct mm_cache_config quiet_config(void);

/* The byte at offset @o of file @f. */
static inline unsigned char pattern(int64_t o, int f, unsigned gen)
{
	uint64_t x = (uint64_t)o * 0x9E3779B97F4A7C15ull + (uint64_t)f * 131 + gen * 7919u;
	return (unsigned char)(x >> 56 ^ x >> 17);
}

void fill_pattern(unsigned char *buf, size_t len, int64_t pos, int f, unsigned gen);
/* Index of the first byte of @buf that differs from the pattern, or -1. */
long check_pattern(const unsigned char *buf, size_t len, int64_t pos, int f, unsigned gen);
ssize_t do_write(struct address_space *m, const void *buf, size_t len, int64_t pos);
ssize_t do_read(struct address_space *m, struct file_ra_state *ra, void *buf, size_t len,
		int64_t pos);
void ra_init(struct file_ra_state *ra, struct mm_cache *c);
void write_pattern(struct address_space *m, int64_t pos, size_t len, int f, unsigned gen);
/* The store file holds the pattern in [pos, pos + len). */
void check_store(struct store_inode *si, int64_t pos, size_t len, int f, unsigned gen);
/* Pages of [first, last] tagged @tag. */
unsigned long count_tagged(struct address_space *m, unsigned tag, pgoff_t first, pgoff_t last);
/* Dirty flag, DIRTY tag and the counters agree; nothing is under writeback. */
void check_dirty_accounting(struct wbt *t);
/* Both LRU lists against the cache's page count. */
void check_lru(struct wbt *t);
/* *p = max(*p, v), atomically. */
void atomic_max(unsigned long *p, unsigned long v);
/* Waits until @counter is at most @target (what: for the hang report). No
 * deadline: a wait without progress is reported by the hang watchdog. */
void wait_at_most(unsigned long *counter, unsigned long target, const char *what);

#endif

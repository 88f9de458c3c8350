/* SPDX-License-Identifier: MIT */
/*
 * mm_cache.c - the engine-wide page cache state (struct mm_cache): limits
 * from the engine's options (bytes turned into pages), the LRU and mapping
 * list heads, and the lifetime of the background writeback thread and
 * the readahead workers.
 *
 * Locks: initialises mappings_lock ("mm_mappings_lock") and lru_lock
 * ("lru_lock"), both leaves; takes none itself. The mapping list and its
 * pinning protocol against the writeback thread live in writeback.c
 * (mm_cache_add_mapping/mm_cache_del_mapping), next to the thread.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "mm/defaults.h"
#include "mm/internal.h"
#include "mm/uaccess.h"

#define MM_MIN_MEM_LIMIT_PAGES 16ul

static struct lock_class_key mappings_lock_key = {.name = "mm_mappings_lock"};
static struct lock_class_key lru_lock_key = {.name = "lru_lock"};

static unsigned long bytes_to_pages(size_t bytes)
{
	return (unsigned long)(bytes >> PAGE_SHIFT);
}

int mm_cache_init(struct mm_cache *c, const struct mm_cache_config *config)
{
	struct mm_cache_config cfg = *config;
	int ret;

	mm_cache_config_defaults(&cfg);
	memset(c, 0, sizeof(*c));
	c->policy = cfg.policy;
	c->mem_limit_pages =
	    max_t(unsigned long, bytes_to_pages(cfg.mem_limit), MM_MIN_MEM_LIMIT_PAGES);
	c->ra_max_pages = max_t(unsigned long, bytes_to_pages(cfg.readahead_max), 1);
	/* At most 1/16 of the cache per window. */
	c->fault_ra_pages =
	    min_t(unsigned long, bytes_to_pages(cfg.fault_readahead_max), c->mem_limit_pages / 16);
	c->fault_ra_pages = max_t(unsigned long, c->fault_ra_pages, c->ra_max_pages);
	c->dirty_limit = max_t(unsigned long, bytes_to_pages(cfg.dirty_limit), 2);
	c->dirty_background = max_t(unsigned long, bytes_to_pages(cfg.dirty_background), 1);
	/* As the kernel does: background writeback starts below the hard limit. */
	if (c->dirty_background >= c->dirty_limit)
		c->dirty_background = c->dirty_limit / 2;
	c->writeback_interval_ms = cfg.writeback_interval_ms;
	c->dirty_expire_ns = (uint64_t)cfg.dirty_expire_ms * 1000000u;

	mutex_init_class(&c->mappings_lock, &mappings_lock_key);
	INIT_LIST_HEAD(&c->mappings);
	mutex_init_class(&c->lru_lock, &lru_lock_key);
	INIT_LIST_HEAD(&c->lru_inactive);
	INIT_LIST_HEAD(&c->lru_active);

	ret = uaccess_init();
	if (ret < 0)
		goto fail;
	ret = writeback_start(c);
	if (ret < 0)
		goto fail;
	ret = readahead_worker_start(c);
	if (ret < 0) {
		writeback_stop(c);
		goto fail;
	}
	return 0;
fail:
	mutex_destroy(&c->lru_lock);
	mutex_destroy(&c->mappings_lock);
	return ret;
}

void mm_cache_destroy(struct mm_cache *c)
{
	readahead_worker_stop(c);
	writeback_stop(c);
	assert(list_empty(&c->mappings));
	assert(list_empty(&c->lru_inactive) && list_empty(&c->lru_active));
	assert(READ_ONCE(c->nr_pages) == 0 && READ_ONCE(c->nr_dirty) == 0);
	assert(READ_ONCE(c->nr_writeback) == 0 && READ_ONCE(c->nr_dirty_wb) == 0);
	/* Pages are freed after RCU grace periods: let every free run now. */
	mm_rcu_barrier();
	mutex_destroy(&c->lru_lock);
	mutex_destroy(&c->mappings_lock);
}

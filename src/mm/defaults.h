/* SPDX-License-Identifier: MIT */
/*
 * defaults.h - the page cache's defaults, defined once: what a 0 in
 * struct mm_cache_config (and so in struct pc_options, whose comments in
 * include/pagecache.h state the same values) stands for. Both the engine
 * (api/engine.c) and mm_cache_init apply them with mm_cache_config_defaults.
 * Locks: none.
 */
#ifndef PC_MM_DEFAULTS_H
#define PC_MM_DEFAULTS_H

#include "mm/filemap.h"

#define MM_DEFAULT_MEM_LIMIT	  (256ul << 20) /* bytes */
#define MM_DEFAULT_READAHEAD_MAX  (128ul << 10) /* bytes */
#define MM_DEFAULT_WB_INTERVAL_MS 5000u
/* of mem_limit: background writeback above a tenth, throttling above a fifth */
#define MM_DEFAULT_DIRTY_BG_DIV	   10
#define MM_DEFAULT_DIRTY_LIMIT_DIV 5

/* Replaces every 0 of @cfg by its default (the dirty thresholds from the
 * resulting mem_limit). */
static inline void mm_cache_config_defaults(struct mm_cache_config *cfg)
{
	if (!cfg->mem_limit)
		cfg->mem_limit = MM_DEFAULT_MEM_LIMIT;
	if (!cfg->readahead_max)
		cfg->readahead_max = MM_DEFAULT_READAHEAD_MAX;
	if (!cfg->dirty_background)
		cfg->dirty_background = cfg->mem_limit / MM_DEFAULT_DIRTY_BG_DIV;
	if (!cfg->dirty_limit)
		cfg->dirty_limit = cfg->mem_limit / MM_DEFAULT_DIRTY_LIMIT_DIV;
	if (!cfg->writeback_interval_ms)
		cfg->writeback_interval_ms = MM_DEFAULT_WB_INTERVAL_MS;
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * compat.c - the ABI before version 1: binaries built against the headers of
 * the library before it had a SONAME version (struct pc_options without its
 * size field, pc_get_stats without a size) bind to these, node PAGECACHE_0
 * of src/libpagecache.map: the dynamic linker gives an unversioned reference
 * the oldest version of a symbol. Each converts to the current call. The
 * frozen header of that ABI is tests/abi/pagecache-0.h; tests/lib/test_abi.sh
 * runs a program built against it.
 *
 * Locks: none of its own.
 */
#include <string.h>

#include "api/engine.h"

/* struct pc_options as the unversioned library had it. */
struct pc_options_v0 {
	const char *store_dir;
	const char *store_image;
	size_t mem_limit;
	size_t readahead_max;
	unsigned writeback_interval_ms;
	size_t dirty_background;
	size_t dirty_limit;
	enum pc_lock_policy policy;
	int fault_mechanism;
};

/* struct pc_stats of then: the counters up to dio_bounced (the same layout
 * as version 1's), without a size to say so. */
#define PC_STATS_V0_SIZE (offsetof(struct pc_stats, dio_bounced) + sizeof(uint64_t))

#define COMPAT_API __attribute__((visibility("default"), used))

COMPAT_API int compat0_pc_engine_open(const struct pc_options_v0 *o, struct pc_engine **out);
COMPAT_API void compat0_pc_get_stats(struct pc_engine *e, struct pc_stats *st);

int compat0_pc_engine_open(const struct pc_options_v0 *o, struct pc_engine **out)
{
	struct pc_options n = PC_OPTIONS_INIT;

	if (!o)
		return pc_engine_open(NULL, out);
	n.store_dir = o->store_dir;
	n.store_image = o->store_image;
	n.mem_limit = o->mem_limit;
	n.readahead_max = o->readahead_max;
	n.writeback_interval_ms = o->writeback_interval_ms;
	n.dirty_background = o->dirty_background;
	n.dirty_limit = o->dirty_limit;
	n.policy = o->policy;
	n.fault_mechanism = o->fault_mechanism;
	return pc_engine_open(&n, out);
}

void compat0_pc_get_stats(struct pc_engine *e, struct pc_stats *st)
{
	if (st && pc_get_stats(e, st, PC_STATS_V0_SIZE))
		memset(st, 0, PC_STATS_V0_SIZE);
}

__asm__(".symver compat0_pc_engine_open, pc_engine_open@PAGECACHE_0");
__asm__(".symver compat0_pc_get_stats, pc_get_stats@PAGECACHE_0");

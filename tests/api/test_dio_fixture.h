/* SPDX-License-Identifier: MIT */
/*
 * test_dio_fixture.h - small helpers shared by the O_DIRECT hazard tests
 * (test_dio_h3.c ... test_dio_h6.c): an engine under a chosen locking
 * policy on a fresh directory, files of whole pages of one stamp, views,
 * aligned buffers and the DIO counters of pc_get_stats. Header-only (static
 * functions); no locks.
 */
#ifndef PC_TESTS_API_TEST_DIO_FIXTURE_H
#define PC_TESTS_API_TEST_DIO_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "basic_fixture.h"
#include "harness.h"
#include "pagecache.h"

static inline struct pc_engine *dio_engine(enum pc_lock_policy policy)
{
	struct pc_options o = {.size = sizeof(struct pc_options),
			       .store_dir = fresh(),
			       .writeback_interval_ms = 3600 * 1000,
			       .policy = policy};
	struct pc_engine *e = NULL;

	CHECK_EQ(pc_engine_open(&o, &e), 0);
	return e;
}

/* An O_DIRECT fd of @name, or the case ends as skipped where the store has
 * none. */
static inline int dio_open(struct pc_engine *e, const char *name, int flags)
{
	int fd = pc_open(e, name, flags | O_DIRECT, 0644);

	if (fd == -EINVAL || fd == -EOPNOTSUPP) {
		skip_case("O_DIRECT on the store", fd);
	}
	CHECKF(fd >= 0, "open %s O_DIRECT: %s", name, strerror(-fd));
	return fd;
}

static inline char *dio_map(struct pc_engine *e, int fd, size_t len, int prot, off_t off)
{
	return map_view(e, fd, len, prot, MAP_SHARED, off);
}

static inline void *dio_abuf(size_t len)
{
	void *p = aligned_alloc(PG, (len + PG - 1) / PG * PG);

	CHECK(p != NULL);
	return p;
}

/* A page of 32-bit @stamp words. */
static inline void stamp_page(void *p, uint32_t stamp)
{
	uint32_t *w = p;

	for (size_t i = 0; i < PG / 4; i++)
		w[i] = stamp;
}

/* The stamp of a page whose words all agree, else UINT32_MAX (torn). */
static inline uint32_t page_stamp(const void *p)
{
	const uint32_t *w = p;

	for (size_t i = 1; i < PG / 4; i++)
		if (w[i] != w[0])
			return UINT32_MAX;
	return w[0];
}

static inline struct pc_stats dio_stats(struct pc_engine *e)
{
	struct pc_stats st;

	pc_get_stats(e, &st, sizeof(st));
	return st;
}

#endif

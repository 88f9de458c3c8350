/* SPDX-License-Identifier: MIT */
/*
 * vol extent-map tests: lookup of holes, mapped and unwritten ranges; set,
 * punch, mark_written, collapse and insert_range at extent edges and inside
 * extents; merging; a large fragmented map; and a seeded random run of every
 * operation checked block by block against a flat model, including exactly
 * which physical blocks each operation releases.
 */
#include <errno.h>
#include <time.h>

#include "harness.h"
#include "store/vol/extmap.h"
#include "store/vol/format.h"

static uint64_t released;
static void rel_count(void *arg, uint64_t pblk, uint64_t len)
{
	released += len;
}

TEST(extmap_basic)
{
	struct vol_extmap m;
	struct vol_map r;

	vol_extmap_init(&m);
	vol_extmap_lookup(&m, 5, 10, &r);
	CHECK(r.type == VOL_MAP_HOLE && r.lblk == 5 && r.len == 10);
	CHECK_EQ(vol_extmap_set(&m, 10, 1000, 10, 0, rel_count, NULL), 0);
	CHECK_EQ(vol_extmap_set(&m, 20, 1010, 5, 0, rel_count, NULL), 0); /* merges */
	CHECK_EQ(vol_extmap_count(&m), 1);
	vol_extmap_lookup(&m, 0, 100, &r);
	CHECK(r.type == VOL_MAP_HOLE && r.len == 10);
	vol_extmap_lookup(&m, 12, 100, &r);
	CHECK(r.type == VOL_MAP_MAPPED && r.pblk == 1002 && r.len == 13);
	vol_extmap_lookup(&m, 25, 3, &r);
	CHECK(r.type == VOL_MAP_HOLE && r.len == 3);

	/* unwritten in the middle splits in three; writing it merges back */
	released = 0;
	CHECK_EQ(vol_extmap_set(&m, 14, 1004, 4, VOL_EXT_UNWRITTEN, rel_count, NULL), 0);
	CHECK_EQ(released, 4);
	CHECK_EQ(vol_extmap_count(&m), 3);
	vol_extmap_lookup(&m, 15, 100, &r);
	CHECK(r.type == VOL_MAP_UNWRITTEN && r.pblk == 1005 && r.len == 3);
	CHECK_EQ(vol_extmap_mark_written(&m, 0, 100), 0);
	CHECK_EQ(vol_extmap_count(&m), 1);

	/* punch the middle, then collapse over the hole */
	released = 0;
	CHECK_EQ(vol_extmap_punch(&m, 12, 3, rel_count, NULL), 0);
	CHECK_EQ(released, 3);
	CHECK_EQ(vol_extmap_count(&m), 2);
	CHECK_EQ(vol_extmap_collapse(&m, 12, 3, rel_count, NULL), 0);
	CHECK_EQ(released, 3);
	CHECK_EQ(vol_extmap_count(&m),
		 2); /* 10..11 -> 1000, 12.. -> 1005: not contiguous on disk */
	vol_extmap_lookup(&m, 12, 100, &r);
	CHECK(r.type == VOL_MAP_MAPPED && r.pblk == 1005 && r.len == 10);
	/* insert a hole at 11, inside the first extent */
	CHECK_EQ(vol_extmap_insert_range(&m, 11, 4), 0);
	vol_extmap_lookup(&m, 11, 100, &r);
	CHECK(r.type == VOL_MAP_HOLE && r.len == 4);
	vol_extmap_lookup(&m, 15, 100, &r);
	CHECK(r.type == VOL_MAP_MAPPED && r.pblk == 1001 && r.len == 1);
	CHECK_EQ(vol_extmap_blocks(&m), 12);
	CHECK_EQ(vol_extmap_check(&m), 0);

	CHECK_EQ(vol_extmap_set(&m, 0, 0, 0, 0, NULL, NULL), -EINVAL);
	CHECK_EQ(vol_extmap_set(&m, 0, 0, VOL_EXT_MAX_LEN + 1, 0, NULL, NULL), -EINVAL);
	CHECK_EQ(vol_extmap_punch(&m, UINT64_MAX, 2, NULL, NULL), -EINVAL);
	CHECK_EQ(vol_extmap_insert_range(&m, 0, UINT64_MAX - 10), -EFBIG);
	vol_extmap_destroy(&m);
}

TEST(extmap_fragmented_large)
{
	/* 1M extents, every other block: lookups stay exact, punch frees all */
	struct vol_extmap m;
	struct vol_map r;
	uint64_t n = test_scale(1 << 20, 16);

	vol_extmap_init(&m);
	for (uint64_t i = 0; i < n; i++)
		CHECK_EQ(vol_extmap_set(&m, 2 * i, 3 * i, 1, 0, NULL, NULL), 0);
	CHECK_EQ(vol_extmap_count(&m), n);
	for (uint64_t i = 0; i < n; i += 997) {
		vol_extmap_lookup(&m, 2 * i, 8, &r);
		CHECK(r.type == VOL_MAP_MAPPED && r.pblk == 3 * i && r.len == 1);
		vol_extmap_lookup(&m, 2 * i + 1, 8, &r);
		CHECK(r.type == VOL_MAP_HOLE && r.len == (i + 1 < n ? 1 : 8));
	}
	CHECK_EQ(vol_extmap_check(&m), 0);
	/* inserts into the middle of the big map (figure, not asserted) */
	uint64_t x = 88172645463325252ull, k = test_scale(200000, 100);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint64_t i = 0; i < k; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t at = 2 * (x % n) + 1; /* a hole between two extents */
		vol_extmap_lookup(&m, at, 1, &r);
		if (r.type == VOL_MAP_HOLE)
			CHECK_EQ(
			    vol_extmap_set(&m, at, 10 * n + i, 1, VOL_EXT_UNWRITTEN, NULL, NULL),
			    0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("# %" PRIu64 " random inserts into a %" PRIu64 "-extent map: %.0f /s, depth %u\n", k,
	       n, (double)k / s, vol_extmap_depth(&m));
	CHECK_EQ(vol_extmap_check(&m), 0);
	uint64_t total = vol_extmap_count(&m);
	released = 0;
	CHECK_EQ(vol_extmap_punch(&m, 0, 2 * n, rel_count, NULL), 0);
	CHECK_EQ(released, total);
	CHECK_EQ(vol_extmap_count(&m), 0);
	vol_extmap_destroy(&m);
}

enum { M = 4096, L = 1024, P = 16384 };
static uint64_t mp[M];	     /* model: pblk or HOLE */
static unsigned char mu[M];  /* model: unwritten */
static uint64_t rel_got[P];  /* released per pblk, by the map */
static uint64_t rel_want[P]; /* released per pblk, by the model */
#define HOLE UINT64_MAX

static void rel_track(void *arg, uint64_t pblk, uint64_t len)
{
	for (uint64_t b = pblk; b < pblk + len; b++)
		rel_got[b]++;
}

static void model_drop(uint64_t a, uint64_t b)
{
	for (uint64_t i = a; i < b; i++)
		if (mp[i] != HOLE) {
			rel_want[mp[i]]++;
			mp[i] = HOLE;
		}
}

static unsigned max_depth;
static size_t max_extents;

static void verify(struct vol_extmap *m, uint64_t seed)
{
	CHECKF(vol_extmap_check(m) == 0, "seed %" PRIu64 ": %s", seed, vol_extmap_check_why);
	if (vol_extmap_depth(m) > max_depth)
		max_depth = vol_extmap_depth(m);
	if (vol_extmap_count(m) > max_extents)
		max_extents = vol_extmap_count(m);
	for (uint64_t l = 0; l < M;) {
		struct vol_map r;
		vol_extmap_lookup(m, l, M - l, &r);
		CHECK(r.len >= 1 && r.lblk == l);
		for (uint64_t k = 0; k < r.len; k++) {
			if (r.type == VOL_MAP_HOLE) {
				CHECKF(mp[l + k] == HOLE, "seed %" PRIu64 " lblk %" PRIu64, seed,
				       l + k);
			} else {
				CHECKF(mp[l + k] == r.pblk + k, "seed %" PRIu64 " lblk %" PRIu64,
				       seed, l + k);
				CHECK_EQ(mu[l + k], r.type == VOL_MAP_UNWRITTEN);
			}
		}
		l += r.len;
	}
	for (uint64_t p = 0; p < P; p++)
		CHECKF(rel_got[p] == rel_want[p], "seed %" PRIu64 " pblk %" PRIu64, seed, p);
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void random_run(uint64_t seed, unsigned long ops)
{
	uint64_t x = seed;
	struct vol_extmap m;

	vol_extmap_init(&m);
	for (uint64_t i = 0; i < M; i++)
		mp[i] = HOLE, mu[i] = 0;
	memset(rel_got, 0, sizeof(rel_got));
	memset(rel_want, 0, sizeof(rel_want));
	for (unsigned long op = 0; op < ops; op++) {
		uint64_t a = rnd(&x) % L, n = 1 + rnd(&x) % 48;
		unsigned k = rnd(&x) % 16;
		if (k < 7) {
			/* pblk near lblk + one of a few offsets, so neighbours often merge */
			uint64_t p = a + 4096 * (rnd(&x) % 3) + (rnd(&x) % 4 ? 0 : rnd(&x) % 8);
			uint32_t fl = rnd(&x) % 4 ? 0 : VOL_EXT_UNWRITTEN;
			CHECK_EQ(vol_extmap_set(&m, a, p, n, fl, rel_track, NULL), 0);
			model_drop(a, a + n);
			for (uint64_t i = 0; i < n; i++)
				mp[a + i] = p + i, mu[a + i] = fl != 0;
		} else if (k < 10) {
			CHECK_EQ(vol_extmap_punch(&m, a, n, rel_track, NULL), 0);
			model_drop(a, a + n);
		} else if (k < 12) {
			CHECK_EQ(vol_extmap_mark_written(&m, a, n), 0);
			for (uint64_t i = a; i < a + n; i++)
				mu[i] = 0;
		} else if (k < 14) {
			CHECK_EQ(vol_extmap_collapse(&m, a, n, rel_track, NULL), 0);
			model_drop(a, a + n);
			memmove(&mp[a], &mp[a + n], (M - a - n) * sizeof(mp[0]));
			memmove(&mu[a], &mu[a + n], M - a - n);
			for (uint64_t i = M - n; i < M; i++)
				mp[i] = HOLE, mu[i] = 0;
		} else {
			/* insert only while nothing would be pushed past the model */
			int room = 1;
			for (uint64_t i = M - n; i < M; i++)
				room &= mp[i] == HOLE;
			if (!room)
				continue;
			CHECK_EQ(vol_extmap_insert_range(&m, a, n), 0);
			memmove(&mp[a + n], &mp[a], (M - a - n) * sizeof(mp[0]));
			memmove(&mu[a + n], &mu[a], M - a - n);
			for (uint64_t i = a; i < a + n; i++)
				mp[i] = HOLE, mu[i] = 0;
		}
		if (op % 64 == 0)
			verify(&m, seed);
	}
	verify(&m, seed);
	/* the map holds exactly the model's blocks */
	uint64_t cnt = 0;
	for (uint64_t i = 0; i < M; i++)
		cnt += mp[i] != HOLE;
	CHECK_EQ(vol_extmap_blocks(&m), cnt);
	vol_extmap_destroy(&m);
}

TEST(extmap_random_vs_model)
{
	random_run(test_seed() | 1, test_scale(100000, 10));
}

TEST(extmap_random_small_nodes)
{
	/* nodes of 4..9 entries: deep trees, every split/merge/borrow path */
	uint64_t seed = test_seed() | 1, x = seed;
	unsigned long ops = test_scale(20000, 4);
	for (int round = 0; round < 8; round++) {
		/* the first round with the smallest nodes, so the depth check below
		 * holds for every seed (quick runs too) */
		vol_extmap_test_leaf_cap = round ? 4 + (unsigned)(rnd(&x) % 6) : 4;
		vol_extmap_test_index_cap = round ? 4 + (unsigned)(rnd(&x) % 6) : 4;
		random_run(rnd(&x) | 1, ops);
	}
	vol_extmap_test_leaf_cap = vol_extmap_test_index_cap = 0;
	printf("# deepest tree %u levels, at most %zu extents\n", max_depth, max_extents);
	CHECK(max_depth >= 4);
}

/* SPDX-License-Identifier: MIT */
/*
 * vol allocator tests: basic grants, coalescing, double-free and take
 * errors, next fit from a hint, partial grants under fragmentation, and a
 * seeded random alloc/free/take run checked block by block against a bitmap
 * model (no block granted twice, none lost, free count exact).
 */
#include <errno.h>
#include <time.h>

#include "harness.h"
#include "store/vol/alloc.h"

TEST(alloc_basic)
{
	struct vol_alloc a;
	uint64_t s;

	vol_alloc_init(&a);
	CHECK_EQ(vol_alloc_alloc(&a, 1, 0, &s), -ENOSPC);
	CHECK_EQ(vol_alloc_free(&a, 100, 50), 0);
	CHECK_EQ(vol_alloc_free(&a, 0, 0), -EINVAL);
	CHECK_EQ(vol_alloc_free(&a, 120, 1), -EINVAL); /* double free */
	CHECK_EQ(vol_alloc_free(&a, 90, 11), -EINVAL); /* overlaps the head */
	CHECK_EQ(vol_alloc_free(&a, 149, 5), -EINVAL); /* overlaps the tail */
	CHECK_EQ(vol_alloc_free(&a, 150, 10), 0);      /* coalesces at the tail */
	CHECK_EQ(vol_alloc_free(&a, 80, 20), 0);       /* and at the head */
	CHECK_EQ(a.nr, 1);
	CHECK_EQ(a.free, 80);
	CHECK_EQ(vol_alloc_alloc(&a, 0, 0, &s), -EINVAL);
	CHECK_EQ(vol_alloc_alloc(&a, 10, 0, &s), 10);
	CHECK_EQ(s, 80);
	CHECK_EQ(vol_alloc_alloc(&a, 10, 120, &s), 10); /* at the hint, splitting */
	CHECK_EQ(s, 120);
	CHECK_EQ(a.nr, 2);
	CHECK_EQ(vol_alloc_check(&a), 0);
	CHECK_EQ(vol_alloc_is_free(&a, 90, 30), 1);
	CHECK_EQ(vol_alloc_is_free(&a, 90, 31), 0);
	CHECK_EQ(vol_alloc_take(&a, 125, 1), -ENOENT);
	CHECK_EQ(vol_alloc_take(&a, 95, 5), 0);
	CHECK_EQ(vol_alloc_is_free(&a, 95, 1), 0);
	CHECK_EQ(vol_alloc_free(&a, 120, 10), 0);
	CHECK_EQ(vol_alloc_free(&a, 95, 5), 0);
	CHECK_EQ(vol_alloc_free(&a, 80, 10), 0);
	CHECK_EQ(a.nr, 1);
	CHECK_EQ(a.free, 80);
	CHECK_EQ(vol_alloc_check(&a), 0);
	vol_alloc_destroy(&a);
}

TEST(alloc_fragmented_partial)
{
	struct vol_alloc a;
	uint64_t s;

	vol_alloc_init(&a);
	/* every other block free: 1000 one-block extents, plus one of 7 */
	for (uint64_t b = 0; b < 2000; b += 2)
		CHECK_EQ(vol_alloc_free(&a, b, 1), 0);
	CHECK_EQ(vol_alloc_free(&a, 5000, 7), 0);
	CHECK_EQ(a.nr, 1001);
	CHECK_EQ(vol_alloc_alloc(&a, 5, 0, &s), 5); /* next fit finds the 7 */
	CHECK_EQ(s, 5000);
	CHECK_EQ(vol_alloc_alloc(&a, 4, 0, &s), 2); /* partial: the largest left */
	CHECK_EQ(s, 5005);
	CHECK_EQ(vol_alloc_alloc(&a, 4, 10, &s), 1);
	CHECK_EQ(vol_alloc_check(&a), 0);
	CHECK_EQ(a.free, 999);
	vol_alloc_destroy(&a);
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

TEST(alloc_random_vs_bitmap)
{
	enum { N = 4096 };
	static unsigned char used[N]; /* 1: allocated (model) */
	struct {
		uint64_t s, n;
	} held[N];
	size_t nheld = 0;
	uint64_t seed = test_seed() | 1, x = seed, nfree = N;
	struct vol_alloc a;

	memset(used, 0, sizeof(used));
	vol_alloc_init(&a);
	CHECK_EQ(vol_alloc_free(&a, 0, N), 0);
	unsigned long ops = test_scale(200000, 10);
	for (unsigned long op = 0; op < ops; op++) {
		unsigned k = rnd(&x) % 10;
		if (k < 5) {
			uint64_t want = 1 + rnd(&x) % 64, s;
			uint64_t hint = rnd(&x) % 3 ? UINT64_MAX : rnd(&x) % N;
			int64_t got = vol_alloc_alloc(&a, want, hint, &s);
			if (nfree == 0) {
				CHECK_EQ(got, -ENOSPC);
				continue;
			}
			CHECKF(got >= 1 && (uint64_t)got <= want, "seed %" PRIu64 " op %lu", seed,
			       op);
			CHECK(s + (uint64_t)got <= N);
			/* a partial grant only when no free run is as long as want */
			if ((uint64_t)got < want) {
				uint64_t run = 0, best = 0;
				for (uint64_t b = 0; b < N; b++) {
					run = used[b] ? 0 : run + 1;
					best = run > best ? run : best;
				}
				CHECKF(best < want,
				       "partial %" PRId64 " of %" PRIu64 " but a run of %" PRIu64,
				       got, want, best);
			}
			for (uint64_t b = s; b < s + (uint64_t)got; b++) {
				CHECKF(!used[b], "block %" PRIu64 " granted twice, seed %" PRIu64,
				       b, seed);
				used[b] = 1;
			}
			held[nheld].s = s;
			held[nheld++].n = (uint64_t)got;
			nfree -= (uint64_t)got;
		} else if (k < 9 && nheld) {
			size_t i = rnd(&x) % nheld;
			/* free all of it or a piece of it */
			uint64_t off = rnd(&x) % held[i].n, n = 1 + rnd(&x) % (held[i].n - off);
			if (rnd(&x) % 2) {
				off = 0;
				n = held[i].n;
			}
			CHECK_EQ(vol_alloc_free(&a, held[i].s + off, n), 0);
			for (uint64_t b = held[i].s + off; b < held[i].s + off + n; b++)
				used[b] = 0;
			nfree += n;
			if (off + n < held[i].n) { /* the tail stays held */
				held[nheld].s = held[i].s + off + n;
				held[nheld++].n = held[i].n - off - n;
			}
			if (off) {
				held[i].n = off;
			} else {
				held[i] = held[--nheld];
			}
		} else {
			/* take a specific range: succeeds iff all of it is free */
			uint64_t s = rnd(&x) % N, n = 1 + rnd(&x) % 8;
			if (s + n > N)
				n = N - s;
			int all = 1;
			for (uint64_t b = s; b < s + n; b++)
				all &= !used[b];
			CHECK_EQ(vol_alloc_is_free(&a, s, n), all);
			int any = 0;
			for (uint64_t b = s; b < s + n; b++)
				any |= !used[b];
			CHECK_EQ(vol_alloc_any_free(&a, s, n), any);
			CHECK_EQ(vol_alloc_take(&a, s, n), all ? 0 : -ENOENT);
			if (all) {
				for (uint64_t b = s; b < s + n; b++)
					used[b] = 1;
				held[nheld].s = s;
				held[nheld++].n = n;
				nfree -= n;
			}
		}
		CHECK_EQ(a.free, nfree);
		if (op % 1024 == 0) {
			CHECK_EQ(vol_alloc_check(&a), 0);
			for (uint64_t b = 0; b < N; b++)
				CHECKF(vol_alloc_is_free(&a, b, 1) == !used[b], "block %" PRIu64,
				       b);
		}
	}
	/* free everything: one extent again */
	while (nheld) {
		nheld--;
		CHECK_EQ(vol_alloc_free(&a, held[nheld].s, held[nheld].n), 0);
	}
	CHECK_EQ(a.nr, 1);
	CHECK_EQ(a.free, N);
	vol_alloc_destroy(&a);
}

/* Allocation under fragmentation: figures printed, correctness checked. */
TEST(alloc_fragmented_rate)
{
	struct vol_alloc a;
	struct timespec t0, t1;
	uint64_t n = test_scale(100000, 10), ops = test_scale(200000, 10), s, x = 7;

	vol_alloc_init(&a);
	for (uint64_t i = 0; i < n; i++) /* n free extents of 1..4 blocks, gaps between */
		CHECK_EQ(vol_alloc_free(&a, 8 * i, 1 + i % 4), 0);
	uint64_t free0 = a.free;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint64_t i = 0; i < ops; i++) {
		uint64_t want = 1 + rnd(&x) % 4;
		int64_t got = vol_alloc_alloc(&a, want, rnd(&x) % (8 * n), &s);
		CHECK(got >= 1 && (uint64_t)got <= want);
		CHECK_EQ(vol_alloc_free(&a, s, (uint64_t)got), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
	printf("# %" PRIu64 " free extents: %.0f ns per alloc+free pair\n", n, ns / (double)ops);
	CHECK_EQ(a.free, free0);
	CHECK_EQ(a.nr, n);
	CHECK_EQ(vol_alloc_check(&a), 0);
	vol_alloc_destroy(&a);
}

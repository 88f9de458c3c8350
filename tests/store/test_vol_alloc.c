/* SPDX-License-Identifier: MIT */
/*
 * vol allocator tests: basic grants, coalescing, double-free and take
 * errors, next fit from a hint, partial grants under fragmentation, the
 * in-order walk, largest and clone, the goal extent of small requests
 * (a file grown block by block over small holes stays one run; with
 * vol_alloc_test_no_goal it takes a hole a block), vol_alloc_check catching each broken
 * tree invariant, and a seeded random alloc/free/take run checked against a
 * bitmap model (the exact grant next fit must make, no block granted twice,
 * none lost, free count exact, the tree's invariants). The rate test prints
 * the cost of an alloc+free pair over 100 000 free extents (PC_ALLOC_EXTENTS
 * sets another count).
 */
#include <errno.h>
#include <stdlib.h>
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
	CHECK_EQ(vol_alloc_extents(&a), 1);
	CHECK_EQ(a.free, 80);
	CHECK_EQ(vol_alloc_alloc(&a, 0, 0, &s), -EINVAL);
	CHECK_EQ(vol_alloc_alloc(&a, 10, 0, &s), 10);
	CHECK_EQ(s, 80);
	CHECK_EQ(vol_alloc_alloc(&a, 10, 120, &s), 10); /* at the hint, splitting */
	CHECK_EQ(s, 120);
	CHECK_EQ(vol_alloc_extents(&a), 2);
	CHECK_EQ(vol_alloc_check(&a), 0);
	CHECK_EQ(vol_alloc_is_free(&a, 90, 30), 1);
	CHECK_EQ(vol_alloc_is_free(&a, 90, 31), 0);
	CHECK_EQ(vol_alloc_take(&a, 125, 1), -ENOENT);
	CHECK_EQ(vol_alloc_take(&a, 95, 5), 0);
	CHECK_EQ(vol_alloc_is_free(&a, 95, 1), 0);
	CHECK_EQ(vol_alloc_free(&a, 120, 10), 0);
	CHECK_EQ(vol_alloc_free(&a, 95, 5), 0);
	CHECK_EQ(vol_alloc_free(&a, 80, 10), 0);
	CHECK_EQ(vol_alloc_extents(&a), 1);
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
	CHECK_EQ(vol_alloc_extents(&a), 1001);
	CHECK_EQ(vol_alloc_alloc(&a, 5, 0, &s), 5); /* next fit finds the 7 */
	CHECK_EQ(s, 5000);
	CHECK_EQ(vol_alloc_alloc(&a, 4, 0, &s), 2); /* partial: the largest left */
	CHECK_EQ(s, 5005);
	CHECK_EQ(vol_alloc_alloc(&a, 4, 10, &s), 1);
	CHECK_EQ(vol_alloc_check(&a), 0);
	CHECK_EQ(a.free, 999);
	vol_alloc_destroy(&a);
}

/* Extents (runs of consecutive blocks) a file written block by block gets
 * from @a: each request asks for one block at the block after the last
 * grant, as the vol store's writes do (data.c hint_for). */
static unsigned grow_by_blocks(struct vol_alloc *a, unsigned nblk, uint64_t first_hint)
{
	uint64_t hint = first_hint, s, prev = UINT64_MAX - 1;
	unsigned runs = 0;

	for (unsigned i = 0; i < nblk; i++) {
		CHECK_EQ(vol_alloc_alloc(a, 1, hint, &s), 1);
		runs += s != prev + 1;
		prev = s;
		hint = s + 1;
	}
	return runs;
}

/* The goal extent: on free space of 2000 one-block holes and one extent of
 * 1000 blocks, 500 blocks allocated one at a time, each hinted after the
 * last, are one run in the large extent; with vol_alloc_test_no_goal each
 * takes the next hole: 500 runs. Holes serve hinted requests once no large
 * extent is left, and requests without a hint (next fit from the cursor)
 * as before. */
TEST(alloc_goal_keeps_a_file_contiguous)
{
	for (int sw = 0; sw < 2; sw++) {
		struct vol_alloc a;

		vol_alloc_init(&a);
		for (uint64_t b = 1; b < 4000; b += 2)
			CHECK_EQ(vol_alloc_free(&a, b, 1), 0);
		CHECK_EQ(vol_alloc_free(&a, 10000, 1000), 0);
		vol_alloc_test_no_goal = sw;
		unsigned runs = grow_by_blocks(&a, 500, 0);
		vol_alloc_test_no_goal = false;
		printf("# %s: 500 one-block grants in %u runs\n", sw ? "no goal" : "goal", runs);
		CHECK_EQ(runs, sw ? 500u : 1u);
		CHECK_EQ(a.free, 2000u + 1000u - 500u);
		/* holes are used once no goal extent is left */
		runs = grow_by_blocks(&a, 600, 0);
		/* a request without a hint fills a hole by next fit */
		CHECK_EQ(vol_alloc_free(&a, 20001, 100), 0);
		a.cursor = 3001;
		uint64_t s;
		CHECK_EQ(vol_alloc_alloc(&a, 1, UINT64_MAX, &s), 1);
		CHECK_EQ(s, 3001u);
		CHECK_EQ(vol_alloc_alloc(&a, 1, 3002, &s), 1); /* and a hinted one the goal */
		CHECK_EQ(s, sw ? 10600u : 20001u);	       /* the rest of the large one */
		CHECK_EQ(vol_alloc_check(&a), 0);
		CHECK_EQ(a.free, 2000u + 1000u + 100u - 1102u);
		vol_alloc_destroy(&a);
	}
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* What next fit must grant for want at hint over the free runs of used[]:
 * at hint inside the run holding it, else that run's start, else (want
 * under the goal, @hinted, the switch off) the first run after hint of the goal's
 * length, else the first such from the bottom, else the first run after
 * hint long enough for want, else the first from the bottom, else all of
 * the longest run (the lowest of equals). Returns the count, *s the start. */
static uint64_t expect_grant(const unsigned char *used, uint64_t n, uint64_t want, uint64_t hint,
			     bool hinted, uint64_t *s)
{
	uint64_t after = UINT64_MAX, wrap = UINT64_MAX, big = 0, bigs = 0;
	uint64_t gafter = UINT64_MAX, gwrap = UINT64_MAX;
	const int goal = want < VOL_ALLOC_GOAL && hinted && !vol_alloc_test_no_goal;

	for (uint64_t b = 0; b < n;) {
		if (used[b]) {
			b++;
			continue;
		}
		uint64_t r0 = b;
		while (b < n && !used[b])
			b++;
		uint64_t len = b - r0;
		if (hint >= r0 && hint < b) {
			if (b - hint >= want) {
				*s = hint;
				return want;
			}
			if (len >= want) {
				*s = r0;
				return want;
			}
		}
		if (len >= want && r0 > hint && after == UINT64_MAX)
			after = r0;
		if (len >= want && wrap == UINT64_MAX)
			wrap = r0;
		if (goal && len >= VOL_ALLOC_GOAL && r0 > hint && gafter == UINT64_MAX)
			gafter = r0;
		if (goal && len >= VOL_ALLOC_GOAL && gwrap == UINT64_MAX)
			gwrap = r0;
		if (len > big) {
			big = len;
			bigs = r0;
		}
	}
	if (gafter != UINT64_MAX || gwrap != UINT64_MAX) {
		*s = gafter != UINT64_MAX ? gafter : gwrap;
		return want;
	}
	if (after != UINT64_MAX || wrap != UINT64_MAX) {
		*s = after != UINT64_MAX ? after : wrap;
		return want;
	}
	*s = bigs;
	return big;
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
			vol_alloc_test_no_goal = rnd(&x) % 4 == 0; /* both policies */
			uint64_t es = 0,
				 eg = nfree ? expect_grant(used, N, want,
							   hint == UINT64_MAX ? a.cursor : hint,
							   hint != UINT64_MAX, &es)
					    : 0;
			int64_t got = vol_alloc_alloc(&a, want, hint, &s);
			if (nfree == 0) {
				CHECK_EQ(got, -ENOSPC);
				continue;
			}
			CHECKF(got >= 1 && (uint64_t)got <= want, "seed %" PRIu64 " op %lu", seed,
			       op);
			CHECKF((uint64_t)got == eg && s == es,
			       "seed %" PRIu64 " op %lu: granted %" PRId64 " at %" PRIu64
			       ", next fit says %" PRIu64 " at %" PRIu64,
			       seed, op, got, s, eg, es);
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
		if (op % 64 == 0)
			CHECKF(vol_alloc_check(&a) == 0, "seed %" PRIu64 " op %lu", seed, op);
		if (op % 1024 == 0) {
			for (uint64_t b = 0; b < N; b++)
				CHECKF(vol_alloc_is_free(&a, b, 1) == !used[b], "block %" PRIu64,
				       b);
			/* the walk yields exactly the model's free runs, in order */
			uint64_t b = 0, longest = 0, nruns = 0;
			vol_alloc_for_each(&a, e)
			{
				while (b < N && used[b])
					b++;
				uint64_t r0 = b;
				while (b < N && !used[b])
					b++;
				CHECKF(e.start == r0 && e.len == b - r0, "run at %" PRIu64, r0);
				longest = e.len > longest ? e.len : longest;
				nruns++;
			}
			while (b < N && used[b])
				b++;
			CHECK_EQ(b, N);
			CHECK_EQ(nruns, vol_alloc_extents(&a));
			struct vol_fext big;
			CHECK_EQ(vol_alloc_largest(&a, &big), nfree ? 0 : -ENOSPC);
			if (nfree)
				CHECK_EQ(big.len, longest);
		}
	}
	vol_alloc_test_no_goal = false;
	/* free everything: one extent again */
	while (nheld) {
		nheld--;
		CHECK_EQ(vol_alloc_free(&a, held[nheld].s, held[nheld].n), 0);
	}
	CHECK_EQ(vol_alloc_extents(&a), 1);
	CHECK_EQ(a.free, N);
	vol_alloc_destroy(&a);
}

/* Allocation under fragmentation: figures printed, correctness checked. */
TEST(alloc_fragmented_rate)
{
	struct vol_alloc a;
	struct timespec t0, t1;
	const char *env = getenv("PC_ALLOC_EXTENTS");
	uint64_t n = env ? strtoull(env, NULL, 0) : test_scale(100000, 10);
	uint64_t ops = test_scale(200000, 10), s, x = 7;

	vol_alloc_init(&a);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint64_t i = 0; i < n; i++) /* n free extents of 1..4 blocks, gaps between */
		CHECK_EQ(vol_alloc_free(&a, 8 * i, 1 + i % 4), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# %" PRIu64 " free extents: %.0f ns per free building them (ascending)\n", n,
	       ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
		   (double)(n ? n : 1));
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
	CHECK_EQ(vol_alloc_extents(&a), n);
	CHECK_EQ(vol_alloc_check(&a), 0);
	/* wants no extent can meet: each a search and a partial grant */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint64_t i = 0; i < ops; i++) {
		int64_t got = vol_alloc_alloc(&a, 5, rnd(&x) % (8 * n), &s);
		CHECK_EQ(got, 4);
		CHECK_EQ(vol_alloc_free(&a, s, 4), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
	printf("# %" PRIu64 " free extents: %.0f ns per partial alloc+free pair\n", n,
	       ns / (double)ops);
	CHECK_EQ(a.free, free0);
	CHECK_EQ(vol_alloc_check(&a), 0);
	vol_alloc_destroy(&a);
}

TEST(alloc_walk_largest_clone)
{
	struct vol_alloc a, b;
	struct vol_fext e;

	vol_alloc_init(&a);
	vol_alloc_init(&b);
	CHECK_EQ(vol_alloc_largest(&a, &e), -ENOSPC);
	e = (struct vol_fext){0, 0};
	CHECK_EQ(vol_alloc_next(&a, &e), 0);
	CHECK_EQ(vol_alloc_free(&a, 0, 3), 0); /* an extent at block 0 is walked */
	CHECK_EQ(vol_alloc_free(&a, 10, 9), 0);
	CHECK_EQ(vol_alloc_free(&a, 30, 9), 0);
	CHECK_EQ(vol_alloc_free(&a, 50, 2), 0);
	CHECK_EQ(vol_alloc_free(&a, UINT64_MAX - 5, 5), 0); /* and one at the top */
	uint64_t want[][2] = {{0, 3}, {10, 9}, {30, 9}, {50, 2}, {UINT64_MAX - 5, 5}};
	size_t k = 0;
	vol_alloc_for_each(&a, w)
	{
		CHECK(k < 5 && w.start == want[k][0] && w.len == want[k][1]);
		k++;
	}
	CHECK_EQ(k, 5);
	CHECK_EQ(vol_alloc_largest(&a, &e), 0); /* the lowest of two equals */
	CHECK(e.start == 10 && e.len == 9);
	CHECK_EQ(vol_alloc_clone(&b, &a), 0);
	CHECK_EQ(vol_alloc_check(&b), 0);
	uint64_t s;
	CHECK_EQ(vol_alloc_alloc(&b, 9, 0, &s), 9);
	CHECK_EQ(s, 10);
	CHECK_EQ(vol_alloc_is_free(&a, 10, 9), 1); /* the copy is independent */
	CHECK_EQ(vol_alloc_largest(&b, &e), 0);
	CHECK(e.start == 30 && e.len == 9);
	/* next fit wraps: nothing at or after 40 takes 9 blocks but 30 does */
	CHECK_EQ(vol_alloc_alloc(&a, 9, 40, &s), 9);
	CHECK_EQ(s, 10);
	CHECK_EQ(vol_alloc_alloc(&a, 9, 40, &s), 9);
	CHECK_EQ(s, 30);
	CHECK_EQ(vol_alloc_check(&a), 0);
	vol_alloc_reset(&b); /* empty, pool kept */
	CHECK_EQ(vol_alloc_check(&b), 0);
	CHECK_EQ(vol_alloc_extents(&b), 0);
	CHECK_EQ(vol_alloc_free(&b, 7, 1), 0);
	CHECK_EQ(vol_alloc_check(&b), 0);
	vol_alloc_destroy(&a);
	vol_alloc_destroy(&b);
}

/* vol_alloc_check finds each broken invariant of the tree. */
TEST(alloc_check_catches)
{
	struct vol_alloc a;

	vol_alloc_init(&a);
	for (uint64_t i = 0; i < 100; i++)
		CHECK_EQ(vol_alloc_free(&a, 4 * i, 1 + i % 3), 0);
	CHECK_EQ(vol_alloc_check(&a), 0);
	struct vol_anode *r = &a.pool[a.root], saved = *r;
	r->max++; /* a stale subtree maximum: next fit would descend wrongly */
	CHECK_EQ(vol_alloc_check(&a), -EUCLEAN);
	*r = saved;
	r->h++; /* a wrong height */
	CHECK_EQ(vol_alloc_check(&a), -EUCLEAN);
	*r = saved;
	r->len = 4; /* runs into the next extent: not coalesced */
	CHECK_EQ(vol_alloc_check(&a), -EUCLEAN);
	*r = saved;
	a.free--; /* the free total */
	CHECK_EQ(vol_alloc_check(&a), -EUCLEAN);
	a.free++;
	uint32_t l = r->l; /* a lost subtree */
	r->l = 0;
	CHECK_EQ(vol_alloc_check(&a), -EUCLEAN);
	r->l = l;
	r->r = a.root; /* a cycle */
	CHECK_EQ(vol_alloc_check(&a), -EUCLEAN);
	*r = saved;
	CHECK_EQ(vol_alloc_check(&a), 0);
	/* unbalanced but otherwise sound: three nodes in a chain */
	vol_alloc_destroy(&a);
	vol_alloc_init(&a);
	CHECK_EQ(vol_alloc_free(&a, 0, 1), 0);
	CHECK_EQ(vol_alloc_free(&a, 4, 1), 0);
	CHECK_EQ(vol_alloc_free(&a, 8, 1), 0);
	uint32_t m = a.root, lo = a.pool[m].l, hi = a.pool[m].r;
	a.pool[m].l = 0; /* lo <- m <- ... as a left chain hi -> m -> lo */
	a.pool[m].r = 0;
	a.pool[hi].l = m;
	a.pool[m].l = lo;
	a.pool[m].h = 2;
	a.pool[hi].h = 3;
	a.root = hi;
	CHECK_EQ(vol_alloc_check(&a), -EUCLEAN);
	vol_alloc_destroy(&a);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_plock_zk_cache.c - the zk module's cached view of a byte-range lock
 * table (plock_zk.c, plock_zk_cache.c), on a real ZooKeeper: two nodes
 * (struct cluster) of one process call cluster_plock directly. The requests
 * the view saves (against plock_test_no_cache), a stale view refused by the
 * multi's version check and, with plock_test_no_version_check, granting; a
 * conflict in the view answered by a look. The lost connection during a
 * cached multi and a lost session are test_plock_zk's
 * (zookeeper_down_before_cached_multi, session_lost).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>

#include "../harness.h"
#include "cluster/lock_module.h"
#include "cluster/plock.h"
#include "cluster_util.h"

#define SESSION_MS 10000

/*
 * The round trips the cache saves: B holds W[1000,1009] of the file; A takes
 * and releases W[0,9] N times. From its cached view, A's grant is one multi
 * (the view's version checked) and its release one multi; with
 * plock_test_no_cache every change first lists the file node's children and
 * reads the sets (B's and A's own).
 */
static uint64_t pairs(struct cluster *A, unsigned n)
{
	struct plock_range w = plock_rng(F_WRLCK, 0, 9);
	uint64_t before = atomic_load(&A->stats.lm_requests);
	unsigned i;

	for (i = 0; i < n; i++) {
		CHECK_EQ(plock_take(A, &w, 1, NULL), 0);
		CHECK_EQ(plock_release_all(A), 0);
	}
	return atomic_load(&A->stats.lm_requests) - before;
}

TEST(cache_round_trips)
{
	struct cluster *A, *B;
	struct plock_range b = plock_rng(F_WRLCK, 1000, 1009), cf;
	unsigned n = 20;
	uint64_t cached, uncached;

	node_mount_two("cache", SESSION_MS, &A, &B);
	CHECK_EQ(plock_take(B, &b, 1, NULL), 0);
	pairs(A, 1); /* the file node made, A's first view */
	cached = pairs(A, n);
	plock_test_no_cache = true;
	uncached = pairs(A, n);
	plock_test_no_cache = false;
	printf("# %u pairs: %llu requests (cache) vs %llu (no cache)\n", n,
	       (unsigned long long)cached, (unsigned long long)uncached);
	CHECK_EQ(cached, 2 * n);
	CHECK(uncached >= 5 * n);
	/* B's range is still refused to A, from a look. */
	b = plock_rng(F_WRLCK, 1005, 1005);
	CHECK_EQ(plock_take(A, &b, 1, &cf), -EAGAIN);
	CHECK_EQ(cf.start, 1000);
	cluster_unmount(A);
	cluster_unmount(B);
}

/*
 * A stale view: A's view of the table was taken before B published W[0,9].
 * A's W[5,5], decided from the view, goes out as a multi with the view's
 * version: refused (ZBADVERSION), A looks and gets -EAGAIN. With
 * plock_test_no_version_check the multi commits: both hold the range. Then a
 * conflict in the view is not an answer: B releases, A's view still shows
 * B's W[0,9], and A is granted after a look.
 */
static void stale_view(bool no_version_check)
{
	struct cluster *A, *B;
	struct plock_range a = plock_rng(F_WRLCK, 5, 5), b = plock_rng(F_WRLCK, 0, 9), cf = {0};
	uint64_t before, n;
	int ra;

	node_mount_two(no_version_check ? "stale-hazard" : "stale", SESSION_MS, &A, &B);
	CHECK_EQ(plock_take(A, &a, 1, NULL), 0);
	CHECK_EQ(plock_release_all(A), 0); /* A's view: an empty table */
	CHECK_EQ(plock_take(B, &b, 1, NULL), 0);
	plock_test_no_version_check = no_version_check;
	before = atomic_load(&A->stats.lm_requests);
	ra = plock_take(A, &a, 1, &cf);
	n = atomic_load(&A->stats.lm_requests) - before;
	plock_test_no_version_check = false;
	printf("# A's view older than B's W[0,9]; A's W[5,5]: %d after %llu requests (%s)\n", ra,
	       (unsigned long long)n,
	       ra == 0 ? "both nodes granted W[5,5]" : "the multi refused, the look found B's");
	if (no_version_check) {
		CHECK_EQ(ra, 0); /* the hazard: two writers of one byte */
		goto out;
	}
	CHECK_EQ(ra, -EAGAIN);
	CHECK_EQ(cf.end, 9);
	CHECK(n > 1);
	/* A's grant beside B's range leaves a view with it; B releases. */
	{
		struct plock_range set[2] = {plock_rng(F_WRLCK, 100, 100), a};

		CHECK_EQ(plock_take(A, set, 1, NULL), 0);
		CHECK_EQ(plock_release_all(B), 0);
		before = atomic_load(&A->stats.lm_requests);
		CHECK_EQ(plock_take(A, set, 2, NULL), 0);
		n = atomic_load(&A->stats.lm_requests) - before;
	}
	printf("# A's view showed B's W[0,9] after B's release: A's W[5,5] granted after a "
	       "look (%llu requests)\n",
	       (unsigned long long)n);
	CHECK(n > 1);
out:
	cluster_unmount(A);
	cluster_unmount(B);
}

TEST(stale_view)
{
	stale_view(false);
}

/* Hazard: with the multi's version check off, the stale view grants. */
TEST(stale_view_hazard)
{
	stale_view(true);
}

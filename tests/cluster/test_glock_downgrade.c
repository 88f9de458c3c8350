/* SPDX-License-Identifier: MIT */
/*
 * test_glock_downgrade.c - the zk module's EX -> SH demote in place: the
 * holder sets its ex- child's data (one setData) instead of the conversion
 * multi; waiters for SH take that child for SH once the server shows it,
 * waiters for EX and DF still wait for its delete (lock_zk_node.c,
 * "Downgrade in place"; docs/cluster.md). Nodes of one process on the
 * test's ZooKeeper (cluster_util.c).
 *
 * downgrade_in_place: A holds 41 EX, B asks SH: A's demote is one request
 * and keeps its child (one downgrade counted); A then holds SH with no
 * request; C asks SH later and is granted beside them, learning the
 * downgrade from the exists answer of its listing's blocker (no request of
 * A's or B's); an EX request of A's then makes B and C let go.
 * zk_test_convert_multi (the conversion multi and its reads, as the
 * previous recipe demoted): A's demote costs four requests, and C is
 * granted without a downgrade to learn of.
 *
 * weak_blocker_ex_waits: A downgraded to SH and holds it (a local holder);
 * C asks EX, its only blocker A's downgraded child: C learns of the
 * downgrade and still waits, and is granted once A lets go.
 * zk_test_weak_frees_all (a downgraded blocker taken for gone whatever the
 * mode waited for): C is granted EX while A holds SH.
 *
 * weak_name_reused: B learns of A's child's downgrade from the watch's
 * event, the child goes, the lock node is deleted while B keeps its glock
 * with no child, and A's first child in the new incarnation has the old
 * name, EX: B's SH try is refused. zk_test_keep_stale_weak: granted beside
 * A's EX.
 *
 * Locks: none of its own.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "../harness.h"
#include "cluster/lock_zk.h"
#include "cluster_util.h"

static int children(struct cluster *c, struct glock *gl)
{
	return node_zk_children(c, ((struct zk_glock *)gl->gl_lm)->lock_path);
}

static void downgrade_case(bool multi)
{
	struct cluster *A, *B, *C;
	struct glock *ga, *gb, *gc;
	uint64_t ra, rb, d0, reqs;
	char url[256];

	zk_root(multi ? "dgmulti" : "dg", url, sizeof(url));
	glock_test_no_min_hold = true; /* B's request may come within it */
	zk_test_convert_multi = multi;
	A = node_mount(url, "A", 4000, 0);
	B = node_mount(url, "B", 4000, 0);
	CHECK_EQ(glock_get(A, 41, NULL, NULL, &ga), 0);
	CHECK_EQ(glock_get(B, 41, NULL, NULL, &gb), 0);
	glock_take(ga, LM_ST_EXCLUSIVE);
	ra = node_stat(&A->stats.lm_requests);
	d0 = node_stat(&A->stats.demotes);
	glock_take(gb, LM_ST_SHARED);
	WAIT_UNTIL(node_stat(&A->stats.demotes) == d0 + 1);
	reqs = node_stat(&A->stats.lm_requests) - ra;
	printf("# %s: A's EX -> SH demote for B's SH request: %llu request(s), %llu in place; "
	       "%d children under the lock node\n",
	       multi ? "conversion multi" : "fixed", (unsigned long long)reqs,
	       (unsigned long long)node_stat(&A->stats.lm_downgrades), children(A, ga));
	CHECK_EQ(reqs, multi ? 4u : 1u);
	CHECK_EQ(node_stat(&A->stats.lm_downgrades), multi ? 0u : 1u);
	CHECK_EQ(children(A, ga), 3 + 2); /* the want nodes, A's and B's */
	/* A holds SH cached: no request. */
	ra = node_stat(&A->stats.lm_requests);
	glock_take(ga, LM_ST_SHARED);
	CHECK_EQ(node_stat(&A->stats.lm_requests), ra);

	/* C's SH request finds A's child below it, listed as ex-. */
	C = node_mount(url, "C", 4000, 0);
	CHECK_EQ(glock_get(C, 41, NULL, NULL, &gc), 0);
	rb = node_stat(&B->stats.lm_requests);
	glock_take(gc, LM_ST_SHARED);
	printf("# C's SH granted beside them: downgrades C learnt of %llu; requests of A %llu, "
	       "of B %llu\n",
	       (unsigned long long)node_stat(&C->stats.lm_weak_seen),
	       (unsigned long long)(node_stat(&A->stats.lm_requests) - ra),
	       (unsigned long long)(node_stat(&B->stats.lm_requests) - rb));
	CHECK_EQ(node_stat(&C->stats.lm_weak_seen), multi ? 0u : 1u);
	CHECK_EQ(node_stat(&A->stats.lm_requests), ra);
	CHECK_EQ(node_stat(&B->stats.lm_requests), rb);
	CHECK_EQ(children(A, ga), 3 + 3);

	/* A's EX: B and C give their SH up, A's SH child (ex-, downgraded) is
	 * replaced by its request. */
	glock_take(ga, LM_ST_EXCLUSIVE);
	WAIT_UNTIL(children(A, ga) == 3 + 1);
	/* (Each worker sets its state once its delete was answered.) */
	WAIT_UNTIL(glock_state(gb) == LM_ST_UNLOCKED && glock_state(gc) == LM_ST_UNLOCKED);
	glock_put(ga);
	glock_put(gb);
	glock_put(gc);
	cluster_unmount(A);
	cluster_unmount(B);
	cluster_unmount(C);
	zk_test_convert_multi = false; /* after the workers are gone */
	glock_test_no_min_hold = false;
}

TEST(downgrade_in_place)
{
	downgrade_case(false);
}

TEST(downgrade_in_place_conversion_multi)
{
	downgrade_case(true);
}

static void weak_blocker_case(bool hazard)
{
	struct cluster *A, *B, *C;
	struct glock *ga, *gb;
	struct node_nq w = {.st = LM_ST_EXCLUSIVE};
	struct gholder ha;
	pthread_t t;
	char url[256];
	bool granted;

	zk_root(hazard ? "dgweakh" : "dgweak", url, sizeof(url));
	glock_test_no_min_hold = true;
	A = node_mount(url, "A", 4000, 0);
	B = node_mount(url, "B", 4000, 0);
	CHECK_EQ(glock_get(A, 42, NULL, NULL, &ga), 0);
	CHECK_EQ(glock_get(B, 42, NULL, NULL, &gb), 0);
	glock_take(ga, LM_ST_EXCLUSIVE);
	glock_take(gb, LM_ST_SHARED); /* A downgrades in place */
	WAIT_UNTIL(node_stat(&A->stats.lm_downgrades) == 1);
	glock_put(gb);
	cluster_unmount(B); /* its child goes: A's is the only one */
	gholder_init(ga, LM_ST_SHARED, 0, &ha);
	CHECK_EQ(glock_nq(&ha), 0); /* A holds SH: its demote waits for this */

	zk_test_weak_frees_all = hazard;
	C = node_mount(url, "C", 4000, 0);
	CHECK_EQ(glock_get(C, 42, NULL, NULL, &w.gl), 0);
	CHECK_EQ(pthread_create(&t, NULL, node_nq_thread, &w), 0);
	/* C learns of the downgrade from its blocker's exists answer; a grant
	 * from it would be made in the same step (the state set before the
	 * count). With the hazard C's waiter returns granted while A holds
	 * SH; C's state alone would not show it for long: C, granted EX with
	 * A's child taken for SH, demotes itself at once (no minimum hold). */
	WAIT_UNTIL(node_stat(&C->stats.lm_weak_seen) >= 1);
	if (hazard)
		WAIT_UNTIL(atomic_load(&w.done));
	granted = glock_state(w.gl) == LM_ST_EXCLUSIVE || atomic_load(&w.done);
	printf("# %s: C learnt A's child was downgraded (A holds SH): C %s EX\n",
	       hazard ? "weak frees all" : "fixed", granted ? "granted" : "still waits for");
	CHECK_EQ(granted, hazard);
	glock_dq(&ha);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK(atomic_load(&w.done));
	CHECK_EQ(w.ret, 0);
	glock_put(ga);
	glock_put(w.gl);
	cluster_unmount(A);
	cluster_unmount(C);
	zk_test_weak_frees_all = false;
	glock_test_no_min_hold = false;
}

TEST(weak_blocker_ex_waits)
{
	weak_blocker_case(false);
}

TEST(weak_blocker_ex_waits_frees_all_shows)
{
	weak_blocker_case(true);
}

static int lock_nodes(struct cluster *c)
{
	return node_zk_children(c, ((struct zk_cluster *)c->lm)->gpath);
}

/*
 * One round of weak_name_reused: 1 if it checked something (*conflict: B
 * was granted SH while A held EX), 0 if B learnt of the downgrade from the
 * exists answer (its watch still armed: the delete would tell it the child
 * went, and nothing would be left to check).
 */
static int reuse_round(bool keep, int round, bool *conflict)
{
	struct cluster *A, *B;
	struct glock *ga, *gb;
	struct node_nq w = {.st = LM_ST_SHARED};
	struct gholder ha, hb;
	uint64_t r0;
	pthread_t t;
	char url[256], tag[32];
	int r;

	snprintf(tag, sizeof(tag), "dgreuse%s%d", keep ? "h" : "", round);
	zk_root(tag, url, sizeof(url));
	glock_test_no_min_hold = true;
	A = node_mount(url, "A", 4000, 0);
	B = node_mount(url, "B", 4000, 0);
	CHECK_EQ(glock_get(A, 44, NULL, NULL, &ga), 0);
	CHECK_EQ(glock_get(B, 44, NULL, NULL, &w.gl), 0);
	gb = w.gl;
	/* A holds EX while B's SH request and its exists on A's child go
	 * out: the downgrade comes after the watch, as its event. */
	gholder_init(ga, LM_ST_EXCLUSIVE, 0, &ha);
	CHECK_EQ(glock_nq(&ha), 0);
	r0 = node_stat(&B->stats.lm_requests);
	CHECK_EQ(pthread_create(&t, NULL, node_nq_thread, &w), 0);
	/* B's first request: the lock node's 4 creates, its multi, 2 want
	 * reads, the listing and the exists on A's child. */
	WAIT_UNTIL(node_stat(&B->stats.lm_requests) >= r0 + 9);
	glock_dq(&ha);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(w.ret, 0);
	r = node_stat(&B->stats.lm_weak_events) > 0;
	if (r) {
		/* A's EX: B lets go, A's downgraded child is replaced; then A
		 * frees the glock and its lock node goes (B has no child). */
		glock_take(ga, LM_ST_EXCLUSIVE);
		glock_put(ga);
		WAIT_UNTIL(lock_nodes(B) == 0);
		/* A new incarnation: A's first child has the old one's name. */
		CHECK_EQ(glock_get(A, 44, NULL, NULL, &ga), 0);
		gholder_init(ga, LM_ST_EXCLUSIVE, 0, &ha);
		CHECK_EQ(glock_nq(&ha), 0);
		gholder_init(gb, LM_ST_SHARED, GL_TRY, &hb);
		*conflict = glock_nq(&hb) == 0;
		printf("# %s, round %d: A holds EX in a new incarnation of the lock node; B's SH "
		       "try: %s\n",
		       keep ? "stale downgrades kept" : "fixed", round,
		       *conflict ? "granted" : "refused");
		if (*conflict)
			glock_dq(&hb);
		glock_dq(&ha);
	} else {
		printf("# round %d: B learnt of the downgrade from the exists answer: nothing to "
		       "check\n",
		       round);
	}
	glock_put(ga);
	glock_put(gb);
	cluster_unmount(A);
	cluster_unmount(B);
	glock_test_no_min_hold = false;
	return r;
}

/*
 * weak_name_reused: B learns that A's child ex-A-...3 was downgraded (from
 * the watch's event: the watch is spent), the child goes, A frees the glock
 * and the lock node is deleted while B keeps its glock with no child; A
 * takes EX again: the new incarnation's first child has the old name. B's
 * SH try must be refused. zk_test_keep_stale_weak (the downgrades known
 * kept across a request made with no child): B takes A's EX child for SH
 * and is granted beside it. Up to five rounds (a round where B learnt of
 * the downgrade from an answer checks nothing).
 */
static void reuse_case(bool keep)
{
	bool conflict = false, any = false;
	int round, checked = 0;

	zk_test_keep_stale_weak = keep;
	for (round = 0; round < 5 && !(keep ? any : checked >= 2); round++) {
		conflict = false;
		if (!reuse_round(keep, round, &conflict))
			continue;
		checked++;
		any |= conflict;
		if (!keep)
			CHECK(!conflict);
	}
	zk_test_keep_stale_weak = false;
	CHECK(checked > 0);
	if (keep)
		CHECK(any);
}

TEST(weak_name_reused)
{
	reuse_case(false);
}

TEST(weak_name_reused_stale_kept_shows)
{
	reuse_case(true);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_glock_gc.c - the zk module deletes the lock nodes nobody uses
 * (src/cluster/lock_zk_gc.c): two nodes of one process on the test's
 * ZooKeeper (cluster_util.c), counting the children of the lock root.
 *
 * lock_nodes_deleted: A takes 16 glocks and frees them, B holding one of
 * them: 15 lock nodes go at A's frees, the 16th (refused: B's child is
 * there) at B's. zk_test_keep_lock_nodes: all 16 stay.
 * unmount_deletes_lock_nodes: glocks put just before the unmount are
 * deleted by it. request_after_delete: B, unlocked but with the lock node
 * made, asks again after A deleted it: B makes it again and is granted;
 * zk_test_no_remake: B's try fails (-EAGAIN with nobody holding anything).
 * stray_name_reused: A's delete of its child is applied but its answer
 * "lost" (zk_test_lost_deletes), B deletes the lock node, A takes the glock
 * again and its new child has the stray's name (sequence numbers start
 * again): the stray is not deleted again and B's EX try is refused;
 * zk_test_stray_no_name_check: A's live child is deleted and B is granted
 * EX while A holds EX. random_frees_three_nodes: three nodes take and free
 * three glocks at random (every lock node deleted and made again many
 * times), every grant checked. unmount_delayed_last_reference: A's demote
 * waits out its minimum hold (the glock in the delayed queue, whose
 * reference is the last once A put its own) when A unmounts: the glock is
 * released with the session and freed, none left referenced;
 * glock_test_put_queues_after_stop: the drain's put queues it for the
 * stopped worker and glock_free_all reports it "still referenced".
 *
 * Locks: the test reads the nodes' glock counts under hash_lock and uses
 * the nodes' handles under zh_lock (shared).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../harness.h"
#include "cluster/lock_zk.h"
#include "cluster_util.h"

#define NGL 16

/* The lock nodes under the lock root, as @c's session sees them. */
static int lock_nodes(struct cluster *c)
{
	return node_zk_children(c, ((struct zk_cluster *)c->lm)->gpath);
}

/* The name of @c's child of glock @number's lock node starting @prefix. */
static bool child_of(struct cluster *c, uint64_t number, const char *prefix, char *name)
{
	struct zk_cluster *z = c->lm;
	struct String_vector sv;
	char path[ZK_PATH_MAX];
	bool found = false;
	int i;

	snprintf(path, sizeof(path), "%s/%02x-%016llx-%016llx", z->gpath, LM_TYPE_INODE,
		 (unsigned long long)number, 0ull);
	pthread_rwlock_rdlock(&z->zh_lock);
	if (zoo_get_children(z->zh, path, 0, &sv) == ZOK) {
		for (i = 0; i < sv.count && !found; i++)
			if (!strncmp(sv.data[i], prefix, strlen(prefix))) {
				strcpy(name, sv.data[i]);
				found = true;
			}
		deallocate_String_vector(&sv);
	}
	pthread_rwlock_unlock(&z->zh_lock);
	return found;
}

static void gc_case(bool keep)
{
	struct glock *ga[NGL], *gb;
	struct cluster *A, *B;
	int n1, n2, i;

	if (zk_fixture_missing())
		test_skip("%s", zk_fixture_missing());
	zk_test_keep_lock_nodes = keep;
	node_mount_two(keep ? "gckeep" : "gc", 4000, &A, &B);
	for (i = 0; i < NGL; i++) {
		CHECK_EQ(glock_get(A, 100 + (uint64_t)i, NULL, NULL, &ga[i]), 0);
		glock_take(ga[i], LM_ST_EXCLUSIVE);
	}
	CHECK_EQ(glock_get(B, 107, NULL, NULL, &gb), 0);
	glock_take(gb, LM_ST_SHARED); /* B keeps SH cached: its child stays */
	CHECK_EQ(lock_nodes(A), NGL);
	for (i = 0; i < NGL; i++)
		glock_put(ga[i]);
	WAIT_UNTIL(node_nglocks(A) == 0);
	if (!keep)
		WAIT_UNTIL(node_stat(&A->stats.lm_gc_deleted) + node_stat(&A->stats.lm_gc_busy) ==
			   NGL);
	n1 = lock_nodes(A);
	printf("# %s: A freed %d glocks (B holds one SH): %d lock nodes left (deleted %llu, "
	       "refused %llu)\n",
	       keep ? "lock nodes kept" : "fixed", NGL, n1,
	       (unsigned long long)node_stat(&A->stats.lm_gc_deleted),
	       (unsigned long long)node_stat(&A->stats.lm_gc_busy));
	glock_put(gb);
	WAIT_UNTIL(node_nglocks(B) == 0);
	if (!keep)
		WAIT_UNTIL(node_stat(&B->stats.lm_gc_deleted) == 1);
	n2 = lock_nodes(B);
	printf("# B freed its glock: %d lock nodes left\n", n2);
	if (keep) {
		CHECK_EQ(n1, NGL);
		CHECK_EQ(n2, NGL);
	} else {
		CHECK_EQ(n1, 1);
		CHECK_EQ(node_stat(&A->stats.lm_gc_busy), 1);
		CHECK_EQ(n2, 0);
	}
	cluster_unmount(A);
	cluster_unmount(B);
	zk_test_keep_lock_nodes = false;
}

TEST(lock_nodes_deleted)
{
	gc_case(false);
}

TEST(lock_nodes_deleted_kept_shows)
{
	gc_case(true);
}

static void unmount_case(bool keep)
{
	struct cluster *A, *B;
	struct glock *gl;
	int i, n;

	if (zk_fixture_missing())
		test_skip("%s", zk_fixture_missing());
	zk_test_keep_lock_nodes = keep;
	zk_test_no_sweep = keep; /* B would sweep what A left at its unmount */
	node_mount_two(keep ? "gcumkeep" : "gcum", 4000, &A, &B);
	for (i = 0; i < 5; i++) {
		CHECK_EQ(glock_get(A, 200 + (uint64_t)i, NULL, NULL, &gl), 0);
		glock_take(gl, i & 1 ? LM_ST_SHARED : LM_ST_EXCLUSIVE);
		glock_put(gl); /* cached: released and freed by the worker, or at unmount */
	}
	cluster_unmount(A);
	n = lock_nodes(B);
	printf("# %s: 5 glocks put just before the unmount: %d lock nodes left\n",
	       keep ? "lock nodes kept" : "fixed", n);
	CHECK_EQ(n, keep ? 5 : 0);
	cluster_unmount(B);
	zk_test_keep_lock_nodes = false;
	zk_test_no_sweep = false;
}

TEST(unmount_deletes_lock_nodes)
{
	unmount_case(false);
}

TEST(unmount_deletes_lock_nodes_kept_shows)
{
	unmount_case(true);
}

static void remake_case(bool hazard)
{
	struct glock *ga, *gb;
	struct cluster *A, *B;
	struct gholder h;
	int r;

	if (zk_fixture_missing())
		test_skip("%s", zk_fixture_missing());
	zk_test_no_remake = hazard;
	node_mount_two(hazard ? "gcnoremake" : "gcremake", 4000, &A, &B);
	CHECK_EQ(glock_get(B, 300, NULL, NULL, &gb), 0);
	glock_take(gb, LM_ST_SHARED); /* B made the lock node */
	CHECK_EQ(glock_get(A, 300, NULL, NULL, &ga), 0);
	glock_take(ga, LM_ST_EXCLUSIVE); /* B released it: B is unlocked, its glock kept */
	glock_put(ga);
	WAIT_UNTIL(node_stat(&A->stats.lm_gc_deleted) == 1);
	CHECK_EQ(lock_nodes(B), 0);
	gholder_init(gb, LM_ST_SHARED, GL_TRY, &h);
	r = glock_nq(&h);
	printf("# %s: B's SH try after A deleted the lock node: %d (%s), %llu remakes (lock "
	       "nodes deleted by A's sweeps: %llu)\n",
	       hazard ? "no remake" : "fixed", r, r ? strerror(-r) : "granted",
	       (unsigned long long)node_stat(&B->stats.lm_remakes),
	       (unsigned long long)node_stat(&A->stats.lm_sweep_deleted));
	if (hazard) {
		CHECK_EQ(r, -EAGAIN);
	} else {
		CHECK_EQ(r, 0);
		/* Once, or more: A's sweep at its mount, late under load, may
		 * delete the remade lock node too before B's child is in it
		 * (safe: the request is sent again; lock_zk_sweep.c). */
		CHECK(node_stat(&B->stats.lm_remakes) >= 1);
		CHECK_EQ(lock_nodes(B), 1);
		glock_dq(&h);
	}
	glock_put(gb);
	cluster_unmount(A);
	cluster_unmount(B);
	zk_test_no_remake = false;
}

TEST(request_after_delete)
{
	remake_case(false);
}

TEST(request_after_delete_no_remake_shows)
{
	remake_case(true);
}

static void stray_case(bool hazard)
{
	struct glock *ga, *gb;
	struct cluster *A, *B;
	struct gholder ha, hb;
	char first[ZK_NAME_MAX], again[ZK_NAME_MAX], path[ZK_PATH_MAX];
	struct zk_cluster *za;
	int r, rc;

	if (zk_fixture_missing())
		test_skip("%s", zk_fixture_missing());
	zk_test_stray_no_name_check = hazard;
	node_mount_two(hazard ? "gcstrayoff" : "gcstray", 4000, &A, &B);
	za = A->lm;
	CHECK_EQ(glock_get(A, 400, NULL, NULL, &ga), 0);
	glock_take(ga, LM_ST_EXCLUSIVE);
	CHECK(child_of(A, 400, "ex-A-", first));
	/* A's release: the delete is applied, its answer "lost": a stray. */
	__atomic_store_n(&zk_test_lost_deletes, A, __ATOMIC_RELEASE);
	glock_put(ga);
	WAIT_UNTIL(node_nglocks(A) == 0 && atomic_load(&za->nstrays) == 1);
	/* B takes and frees the glock: the lock node, empty, goes. */
	CHECK_EQ(glock_get(B, 400, NULL, NULL, &gb), 0);
	glock_take(gb, LM_ST_SHARED);
	glock_put(gb);
	WAIT_UNTIL(node_stat(&B->stats.lm_gc_deleted) == 1);
	/* A again: a new incarnation, the same name for its child. */
	CHECK_EQ(glock_get(A, 400, NULL, NULL, &ga), 0);
	gholder_init(ga, LM_ST_EXCLUSIVE, 0, &ha);
	CHECK_EQ(glock_nq(&ha), 0);
	CHECK(child_of(A, 400, "ex-A-", again));
	printf("# A's lost delete was of %s; its child now: %s\n", first, again);
	CHECK(!strcmp(first, again));
	/* The connection "comes back": the stray is retried. */
	__atomic_store_n(&zk_test_lost_deletes, NULL, __ATOMIC_RELEASE);
	cluster_kick(A);
	WAIT_UNTIL(atomic_load(&za->nstrays) == 0);
	snprintf(path, sizeof(path), "%s/%02x-%016llx-%016llx/%s", za->gpath, LM_TYPE_INODE, 400ull,
		 0ull, again);
	pthread_rwlock_rdlock(&za->zh_lock);
	rc = zoo_exists(za->zh, path, 0, NULL);
	pthread_rwlock_unlock(&za->zh_lock);
	CHECK_EQ(glock_get(B, 400, NULL, NULL, &gb), 0);
	gholder_init(gb, LM_ST_EXCLUSIVE, GL_TRY, &hb);
	r = glock_nq(&hb);
	printf("# %s: after the stray's retry A's child is %s; B's EX try while A holds EX: "
	       "%d (%s)\n",
	       hazard ? "no name check" : "fixed", rc == ZOK ? "there" : "gone", r,
	       r ? strerror(-r) : "granted");
	if (hazard) {
		CHECK_EQ(rc, ZNONODE);
		CHECK_EQ(r, 0); /* two EX holders */
	} else {
		CHECK_EQ(rc, ZOK);
		CHECK_EQ(r, -EAGAIN);
	}
	if (!r)
		glock_dq(&hb);
	glock_dq(&ha);
	glock_put(ga);
	glock_put(gb);
	cluster_unmount(A);
	cluster_unmount(B);
	zk_test_stray_no_name_check = false;
}

TEST(stray_name_reused)
{
	stray_case(false);
}

TEST(stray_name_reused_no_name_check_shows)
{
	stray_case(true);
}

/* ---- random gets, grants and frees on 3 nodes: lock nodes come and go ---- */

#define RNODES	3
#define RGLOCKS 3

TEST(random_frees_three_nodes)
{
	struct cluster *c[RNODES];
	struct rworker w[RNODES];
	pthread_t t[RNODES];
	uint64_t seed = test_seed(), del = 0, busy = 0, remakes = 0;
	unsigned long iters = test_scale(200, 4);
	char url[256];
	int n;

	if (zk_fixture_missing())
		test_skip("%s", zk_fixture_missing());
	zk_root("gcrandom", url, sizeof(url));
	checker_reset();
	for (n = 0; n < RNODES; n++) {
		char name[8];

		snprintf(name, sizeof(name), "N%d", n);
		c[n] = node_mount(url, name, 4000, 0);
	}
	for (n = 0; n < RNODES; n++) {
		w[n] = (struct rworker){c[n], n, seed + (uint64_t)n, iters, 500, RGLOCKS};
		pthread_create(&t[n], NULL, node_random_load, &w[n]);
	}
	for (n = 0; n < RNODES; n++)
		pthread_join(t[n], NULL);
	for (n = 0; n < RNODES; n++) {
		WAIT_UNTIL(node_nglocks(c[n]) == 0);
		del += node_stat(&c[n]->stats.lm_gc_deleted);
		busy += node_stat(&c[n]->stats.lm_gc_busy);
		remakes += node_stat(&c[n]->stats.lm_remakes);
	}
	printf("# %d nodes x %lu grants (seed %#llx): %lu conflicts; lock nodes deleted %llu, "
	       "refused %llu; requests made again %llu\n",
	       RNODES, iters, (unsigned long long)seed, checker_conflicts(),
	       (unsigned long long)del, (unsigned long long)busy, (unsigned long long)remakes);
	CHECK_EQ(checker_conflicts(), 0);
	CHECK(del > 0);
	for (n = 0; n < RNODES; n++)
		cluster_unmount(c[n]);
}

/*
 * A's demote for B's EX request waits out A's minimum hold (a minute) on
 * the worker's delayed queue, which holds the glock's last reference when
 * A unmounts: the unmount's drain puts it after the worker stopped. A
 * round where that last put found the glock idle (A's lease lapsed under
 * load and dropped its state first) checks nothing: false, another round.
 */
static bool delayed_round(bool hazard)
{
	struct cluster *A, *B;
	struct glock *ga;
	struct node_nq b = {.st = LM_ST_EXCLUSIVE};
	pthread_t t;
	char url[256];
	unsigned long left, late;

	zk_root(hazard ? "gcdelayh" : "gcdelay", url, sizeof(url));
	A = node_mount(url, "A", 4000, 60000); /* A's demote waits a minute */
	B = node_mount(url, "B", 4000, 0);
	CHECK_EQ(glock_get(A, 61, NULL, NULL, &ga), 0);
	CHECK_EQ(glock_get(B, 61, NULL, NULL, &b.gl), 0);
	glock_take(ga, LM_ST_EXCLUSIVE);
	CHECK_EQ(pthread_create(&t, NULL, node_nq_thread, &b), 0);
	WAIT_UNTIL(node_gl_flags(ga) & GLF_DEMOTE); /* B's request reached A */
	glock_put(ga); /* the worker's queue holds the last reference */
	glock_test_put_queues_after_stop = hazard;
	glock_test_referenced_at_unmount = 0;
	glock_test_puts_after_stop = 1; /* armed: counts from 1 */
	cluster_unmount(A);		/* its session's end lets B in */
	left = glock_test_referenced_at_unmount;
	late = glock_test_puts_after_stop - 1;
	glock_test_referenced_at_unmount = 0;
	glock_test_puts_after_stop = 0;
	glock_test_put_queues_after_stop = false;
	CHECK_EQ(pthread_join(t, NULL), 0);
	printf("# %s: A unmounted with its demote delayed: %lu last put(s) after the worker "
	       "stopped, %lu glock(s) left referenced; B's EX: %d\n",
	       hazard ? "put queues after stop" : "fixed", late, left, b.ret);
	CHECK_EQ(b.ret, 0);
	if (late)
		CHECK_EQ(left, hazard ? 1u : 0u);
	else
		CHECK_EQ(left, 0u);
	glock_put(b.gl);
	cluster_unmount(B);
	return late > 0;
}

static void delayed_case(bool hazard)
{
	int round;

	for (round = 0; round < 5 && !delayed_round(hazard); round++)
		;
	CHECKF(round < 5, "no round of five had its last put after the worker stopped");
}

TEST(unmount_delayed_last_reference)
{
	delayed_case(false);
}

TEST(unmount_delayed_last_reference_queued_after_stop_shows)
{
	delayed_case(true);
}

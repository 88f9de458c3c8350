/* SPDX-License-Identifier: MIT */
/*
 * test_plock_zk_tables.c - the life of a file's byte-range lock table at
 * the lock service (plock_zk.c, cluster_plock_forget), on a real ZooKeeper:
 * nodes (struct cluster) of one process call cluster_plock and
 * cluster_plock_forget directly. Tables go when their last node forgets the
 * file (with plock_test_keep_tables they stay, one per file); a table
 * deleted and made again between a node's look and its multi (the ABA of
 * the file node's version) refuses the multi, because the node's own entry
 * pinned the table it read (with plock_test_no_pin the multi commits
 * against the new table: two nodes granted one range).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>

#include "../harness.h"
#include "cluster/lock_module.h"
#include "cluster/lock_zk.h"
#include "cluster/plock.h"
#include "cluster_util.h"

#define SESSION_MS 10000

/* The tables under <root>/p, counted through @c's handle. */
static int tables_count(struct cluster *c)
{
	return node_zk_children(c, ((struct zk_cluster *)c->lm)->ppath);
}

/* The data version of @name's table (its file node), -1 if there is none. */
static int table_version(struct cluster *c, const struct lm_lockname *name)
{
	struct zk_cluster *z = c->lm;
	char path[512];
	struct Stat st;
	int rc;

	snprintf(path, sizeof(path), "%s/%016llx-%016llx", z->ppath,
		 (unsigned long long)name->ln_number, (unsigned long long)name->ln_gen);
	pthread_rwlock_rdlock(&z->zh_lock);
	rc = zoo_exists(z->zh, path, 0, &st);
	pthread_rwlock_unlock(&z->zh_lock);
	if (rc == ZNONODE)
		return -1;
	CHECK_EQ(rc, ZOK);
	return st.version;
}

static int take(struct cluster *c, const struct lm_lockname *f, const struct plock_range *set,
		unsigned n, struct plock_range *cf)
{
	struct plock_range dummy;

	return cluster_plock(c, f, &set[n - 1], set, n, 0, cf ? cf : &dummy, NULL);
}

static int release(struct cluster *c, const struct lm_lockname *f)
{
	return cluster_plock(c, f, NULL, NULL, 0, 0, NULL, NULL);
}

/*
 * Two nodes lock and unlock ranges of N files (each file shared: B refused
 * A's range, then granted it after A's release), then forget them (as the
 * engine's eviction of the inode does). The tables under <root>/p: none left; with
 * plock_test_keep_tables (nothing deleted, the old behaviour) N.
 */
static void tables(bool keep)
{
	struct cluster *A, *B;
	unsigned n = 20, i;
	int left;

	node_mount_two(keep ? "tables-kept" : "tables", SESSION_MS, &A, &B);
	plock_test_keep_tables = keep;
	for (i = 0; i < n; i++) {
		struct lm_lockname f = {.ln_number = 0x100 + i, .ln_gen = 1, .ln_type = 2};
		struct plock_range a = plock_rng(F_WRLCK, 0, 9), b = plock_rng(F_WRLCK, 100, 109);
		struct plock_range b2[2] = {b, a}, cf;

		CHECK_EQ(take(A, &f, &a, 1, NULL), 0);
		CHECK_EQ(take(B, &f, &b, 1, NULL), 0);
		CHECK_EQ(take(B, &f, b2, 2, &cf), -EAGAIN);
		CHECK_EQ(cf.end, 9);
		CHECK_EQ(release(A, &f), 0);
		CHECK_EQ(take(B, &f, b2, 2, NULL), 0);
		CHECK_EQ(release(B, &f), 0);
		/* Half the files forgotten by A first, half by B first. */
		CHECK_EQ(cluster_plock_forget(i % 2 ? A : B, &f), 0);
		CHECK_EQ(cluster_plock_forget(i % 2 ? B : A, &f), 0);
	}
	left = tables_count(A);
	plock_test_keep_tables = false;
	printf("# %u files locked by two nodes and forgotten by both: %d tables left under "
	       "<root>/p%s\n",
	       n, left, keep ? " (plock_test_keep_tables)" : "");
	CHECK_EQ(left, keep ? (int)n : 0);
	cluster_unmount(A);
	cluster_unmount(B);
}

TEST(tables_go)
{
	tables(false);
}

/* Hazard: nothing deleted, one table per file ever locked stays. */
TEST(tables_go_hazard)
{
	tables(true);
}

/*
 * The ABA of a table's version. A looks at the table at version v (B's
 * empty entry there) and is about to publish W[0,9] with a multi checked at
 * v. In between (the hook): B forgets the file - the table goes if nothing
 * else holds it - then takes W[0,9] and publishes until the table is at v
 * again. With A's own entry made before its look (the protection), B's
 * forget deletes only B's entry: the table A read stays, its version moves
 * past v, A's multi is refused and A's next look finds B's W[0,9]
 * (-EAGAIN). With plock_test_no_pin, A looked with no entry of its own: the
 * table was deleted and made again, its version restarted and reached v,
 * and A's multi commits: A and B both hold W[0,9].
 */
static struct cluster *aba_a, *aba_b;
static bool aba_fired;
static int aba_v, aba_deleted, aba_b_ret, aba_b_version;

static void aba_hook(struct cluster *c)
{
	struct plock_range w[2] = {plock_rng(F_WRLCK, 0, 9), plock_rng(F_RDLCK, 200, 200)};
	int v, k = 0;

	if (c != aba_a || aba_fired)
		return;
	aba_fired = true;
	aba_v = table_version(aba_b, &PLOCK_FILE1); /* what A read: nothing published since */
	CHECK_EQ(cluster_plock_forget(aba_b, &PLOCK_FILE1), 0);
	aba_deleted = table_version(aba_b, &PLOCK_FILE1) < 0;
	aba_b_ret = take(aba_b, &PLOCK_FILE1, w, 1, NULL);
	/* Publishes (W[0,9] kept, another range added and dropped) until the
	 * table's version is A's again. */
	while (aba_b_ret == 0 && (v = table_version(aba_b, &PLOCK_FILE1)) < aba_v) {
		w[1].start = w[1].end = 200 + k;
		CHECK_EQ(take(aba_b, &PLOCK_FILE1, w, 1 + (unsigned)(k++ % 2 == 0), NULL), 0);
	}
	aba_b_version = table_version(aba_b, &PLOCK_FILE1);
}

static void table_aba(bool no_pin)
{
	struct plock_range w = plock_rng(F_WRLCK, 0, 9), b = plock_rng(F_WRLCK, 100, 109), cf = {0};
	int ra;

	node_mount_two(no_pin ? "aba-hazard" : "aba", SESSION_MS, &aba_a, &aba_b);
	/* B's entry there, empty: the table at a version past its creation. */
	CHECK_EQ(take(aba_b, &PLOCK_FILE1, &b, 1, NULL), 0);
	CHECK_EQ(release(aba_b, &PLOCK_FILE1), 0);
	aba_fired = false;
	plock_test_no_pin = no_pin;
	plock_test_before_publish = aba_hook;
	ra = take(aba_a, &PLOCK_FILE1, &w, 1, &cf);
	plock_test_before_publish = NULL;
	plock_test_no_pin = false;
	CHECK(aba_fired);
	printf("# A read the table at version %d; B forgot the file (table %s), took W[0,9] "
	       "(%d) and published up to version %d; then A's multi: A %d\n",
	       aba_v, aba_deleted ? "deleted and made again" : "kept: A's entry pins it", aba_b_ret,
	       aba_b_version, ra);
	CHECK_EQ(aba_b_ret, 0);
	if (ra == 0)
		printf("# both nodes granted W[0,9]\n");
	else
		printf("# A refused (-EAGAIN, conflict [%lld,%lld]) after a look\n",
		       (long long)cf.start, (long long)cf.end);
	if (no_pin) {
		CHECK(aba_deleted);
		CHECK_EQ(aba_b_version, aba_v);
		CHECK_EQ(ra, 0); /* the hazard: two writers of one range */
	} else {
		CHECK(!aba_deleted);
		CHECK(aba_b_version > aba_v);
		CHECK_EQ(ra, -EAGAIN);
		CHECK_EQ(cf.start, 0);
		CHECK_EQ(cf.end, 9);
	}
	cluster_unmount(aba_a);
	cluster_unmount(aba_b);
}

TEST(table_aba)
{
	table_aba(false);
}

/* Hazard: a grant decided with no entry of A's pinning the table. */
TEST(table_aba_hazard)
{
	table_aba(true);
}

/*
 * Nodes that end (a crash, an unmount) with entries in a table: their
 * sessions' ends take the entries, and the table is left, empty, with no
 * node to forget it. A later node's forget of the file deletes it (it has no
 * entry there: only the empty table goes).
 */
TEST(forget_after_node_end)
{
	char url[256];
	struct cluster *A, *B, *C;
	struct plock_range a = plock_rng(F_WRLCK, 0, 9), b = plock_rng(F_WRLCK, 100, 109), cf;
	int before, after;

	zk_root("forget-end", url, sizeof(url));
	A = node_mount(url, "A", SESSION_MS, 1);
	B = node_mount(url, "B", SESSION_MS, 1);
	C = node_mount(url, "C", SESSION_MS, 1);
	CHECK_EQ(take(A, &PLOCK_FILE1, &a, 1, NULL), 0);
	CHECK_EQ(take(B, &PLOCK_FILE1, &b, 1, NULL), 0);
	CHECK_EQ(take(B, &PLOCK_FILE1, &a, 1, &cf), -EAGAIN);
	cluster_unmount(A);
	cluster_unmount(B);
	before = tables_count(C);
	CHECK_EQ(cluster_plock_forget(C, &PLOCK_FILE1), 0);
	after = tables_count(C);
	printf("# two nodes ended holding entries: %d table left; a third node's forget of the "
	       "file: %d\n",
	       before, after);
	CHECK_EQ(before, 1);
	CHECK_EQ(after, 0);
	cluster_unmount(C);
}

/* SPDX-License-Identifier: MIT */
/*
 * An fsync's commit and the store lock (commit.c vs_commit_sync): the
 * commit builds its trees and journal transaction under vs->lock, then
 * drops the lock across its flushes, journal write and checkpoint with the
 * state frozen, and takes it back to install. During that window lookups,
 * getattr, readdir, statfs, reads and in-place overwrites run; a change
 * (here a mkdir) waits for the install and is not part of that commit.
 *
 * window_lets_lookups_run checks all of it from inside the window
 * (vol_test_commit_window); with vol_test_commit_keep_lock (the old
 * behaviour: the lock held across the flushes) the same probe finds the
 * lock taken, so the test can fail. window_failed_flush: the ordered-data
 * flush in the window fails; the fsync gets the error, the waiting change
 * goes on, nothing is lost. group_commit_shares_the_flush: NSYNC threads
 * fsync files they created while one fsync's commit is in its window (the
 * window waits until the others wait for it): that commit covers them all
 * and the others return without a flush of their own - one flush for
 * NSYNC fsyncs (counted at the device); vol_test_group_flush_each (a flush
 * per fsync that finds nothing to commit) makes it NSYNC.
 * fsyncs_race_changes: threads creating, writing,
 * fsyncing, renaming and unlinking against a reader, seeded; remount and
 * fsck. Locks: vs->lock through the store calls only.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>

#include "harness.h"
#include "fixture.h"
#include "store/vol/vol.h"
#include "store/vol/vstore.h"

#define BS 4096

static int count_ent(void *ctx, const char *name, uint64_t ino, unsigned type, int64_t next)
{
	(*(int *)ctx)++;
	return 0;
}

static unsigned long thaw_waits(struct vstore *vs)
{
	pthread_mutex_lock(&vs->lock);
	unsigned long w = vs->thaw_waits;
	pthread_mutex_unlock(&vs->lock);
	return w;
}

/* ---- the probe run inside the window ---- */

static struct {
	struct store *s;
	struct store_inode *a; /* written and committed: overwrites go in place */
	bool lock_free;	       /* the window found vs->lock free */
	bool changer_waited;   /* the mkdir started in the window waited */
	pthread_t changer;
	int changer_ret;
} w;

static void *changer(void *arg)
{
	w.changer_ret = store_mkdir(w.s, "late", 0755);
	return NULL;
}

static void probe(struct vstore *vs)
{
	vol_test_commit_window = NULL; /* once */
	if (pthread_mutex_trylock(&vs->lock)) {
		w.lock_free = false;
		return; /* the old behaviour: anything below would wait for us */
	}
	pthread_mutex_unlock(&vs->lock);
	w.lock_free = true;
	CHECK(vs->frozen);

	/* lookups and reads */
	struct stat st;
	char buf[BS], pat[BS];
	int n = 0;
	struct store_inode *si;
	struct statvfs sv;
	fill(pat, BS, 1);
	CHECK_EQ(store_getattr(w.s, "a", &st), 0);
	CHECK_EQ(st.st_size, 4 * BS);
	CHECK_EQ(store_open(w.s, "d/x", O_RDONLY, 0, &si), 0);
	CHECK_EQ(store_read(si, buf, BS, 0), BS);
	CHECK(!memcmp(buf, pat, BS));
	store_release(si);
	CHECK_EQ(store_readdir(w.s, "d", 0, count_ent, &n), 0);
	CHECK_EQ(n, 3);
	CHECK_EQ(store_statfs(w.s, &sv), 0);
	CHECK_EQ(store_fgetattr(w.a, &st), 0);

	/* a change waits for the install: start one, see it wait */
	unsigned long w0 = thaw_waits(vs);
	CHECK_EQ(pthread_create(&w.changer, NULL, changer, NULL), 0);
	while (thaw_waits(vs) == w0)
		sched_yield();
	w.changer_waited = true;
	CHECK_EQ(store_getattr(w.s, "late", &st), -ENOENT);
}

/* A volume with a committed file "a" (4 blocks) and directory d (x, y, z),
 * then uncommitted changes: file b written, c created. */
static struct store *setup(void)
{
	char buf[BS];
	struct store_inode *si;

	vol_new_image(64 << 20, 0);
	struct store *s = vol_mount_img();
	w.s = s;
	w.a = create(s, "a");
	fill(buf, BS, 1);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(store_write(w.a, buf, BS, (int64_t)i * BS), BS);
	CHECK_EQ(store_mkdir(s, "d", 0755), 0);
	const char *names[] = {"d/x", "d/y", "d/z"};
	for (int i = 0; i < 3; i++) {
		si = create(s, names[i]);
		CHECK_EQ(store_write(si, buf, BS, 0), BS);
		store_release(si);
	}
	CHECK_EQ(store_sync(w.a, false), 0);
	si = create(s, "b");
	CHECK_EQ(store_write(si, buf, BS, 0), BS);
	store_release(si);
	store_release(create(s, "c"));
	return s;
}

/* Runs the fsync with the probe; returns whether the window saw the lock free. */
static bool run_window(bool keep_lock)
{
	struct store *s = setup();
	struct vstore *vs = VS(s);

	memset(&w.changer, 0, sizeof(w.changer));
	w.changer_waited = false;
	vol_test_commit_keep_lock = keep_lock;
	vol_test_commit_window = probe;
	unsigned long c0 = vol_store_commits(s);
	CHECK_EQ(store_sync(w.a, false), 0);
	vol_test_commit_keep_lock = false;
	vol_test_commit_window = NULL;
	CHECK(vol_store_commits(s) > c0);
	bool lock_free = w.lock_free;
	if (lock_free) {
		CHECK(w.changer_waited);
		pthread_join(w.changer, NULL);
		CHECK_EQ(w.changer_ret, 0);
		CHECK(!vs->frozen);
	}
	/* crash: nothing after that fsync reaches the image */
	store_release(w.a);
	vol_store_stop_at(s, 1);
	store_close(s);
	s = vol_mount_img();
	struct stat st;
	CHECK_EQ(store_getattr(s, "b", &st), 0); /* in the fsync'd commit */
	CHECK_EQ(st.st_size, BS);
	CHECK_EQ(store_getattr(s, "c", &st), 0);
	CHECK_EQ(store_getattr(s, "late", &st), -ENOENT); /* waited: not in it */
	store_close(s);
	vol_fsck_clean();
	return lock_free;
}

TEST(window_lets_lookups_run)
{
	CHECKF(run_window(false), "the fsync's commit held the store lock across its flushes");
	/* the old behaviour, the lock kept: the same probe sees it taken */
	CHECK(!run_window(true));
}

/* ---- group commit ---- */

#define NSYNC 6

static struct {
	struct store *s;
	struct store_inode *si[NSYNC];
	int ret[NSYNC];
	pthread_t t[NSYNC];
	unsigned long waits0;
} g;

static void *syncer(void *arg)
{
	long i = (long)arg;
	g.ret[i] = store_sync(g.si[i], false);
	return NULL;
}

/* In the first fsync's window: the others start and wait for its commit. */
static void start_syncers(struct vstore *vs)
{
	vol_test_commit_window = NULL;
	for (long i = 1; i < NSYNC; i++)
		CHECK_EQ(pthread_create(&g.t[i], NULL, syncer, (void *)i), 0);
	while (thaw_waits(vs) < g.waits0 + NSYNC - 1)
		sched_yield();
}

/* The flushes NSYNC concurrent fsyncs of fresh creates made; *grouped: the
 * fsyncs another's commit made durable. */
static unsigned long group_flushes(unsigned long *grouped)
{
	char p[32];

	vol_new_image(16 << 20, 0);
	g.s = vol_mount_img();
	struct store_inode *w0 = create(g.s, "warm");
	CHECK_EQ(store_sync(w0, false), 0); /* the first commit of the mount */
	store_release(w0);
	for (int i = 0; i < NSYNC; i++) {
		snprintf(p, sizeof(p), "f%d", i);
		g.si[i] = create(g.s, p);
	}
	g.waits0 = thaw_waits(VS(g.s));
	unsigned long f0 = vol_store_flushes(g.s);
	unsigned long gs0 = __atomic_load_n(&VS(g.s)->group_syncs, __ATOMIC_RELAXED);
	vol_test_commit_window = start_syncers;
	g.ret[0] = store_sync(g.si[0], false);
	vol_test_commit_window = NULL;
	for (int i = 1; i < NSYNC; i++)
		pthread_join(g.t[i], NULL);
	unsigned long f = vol_store_flushes(g.s) - f0;
	*grouped = __atomic_load_n(&VS(g.s)->group_syncs, __ATOMIC_RELAXED) - gs0;
	for (int i = 0; i < NSYNC; i++) {
		CHECK_EQ(g.ret[i], 0);
		store_release(g.si[i]);
	}
	vol_store_stop_at(g.s, 1); /* a crash: every fsync'd name must be there */
	store_close(g.s);
	g.s = vol_mount_img();
	struct stat st;
	for (int i = 0; i < NSYNC; i++) {
		snprintf(p, sizeof(p), "f%d", i);
		CHECK_EQ(store_getattr(g.s, p, &st), 0);
	}
	store_close(g.s);
	vol_fsck_clean();
	return f;
}

TEST(group_commit_shares_the_flush)
{
	unsigned long grouped, f = group_flushes(&grouped);
	printf("# %d concurrent fsyncs: %lu flushes, %lu made durable by another's commit\n", NSYNC,
	       f, grouped);
	CHECK(f < NSYNC);
	CHECK_EQ(f, 1);
	CHECK_EQ(grouped, NSYNC - 1);
	vol_test_group_flush_each = true;
	f = group_flushes(&grouped);
	vol_test_group_flush_each = false;
	printf("# with vol_test_group_flush_each: %lu flushes\n", f);
	CHECK_EQ(f, NSYNC);
}

/* ---- a failed flush in the window ---- */

static void start_changer(struct vstore *vs)
{
	vol_test_commit_window = NULL;
	unsigned long w0 = thaw_waits(vs);
	CHECK_EQ(pthread_create(&w.changer, NULL, changer, NULL), 0);
	while (thaw_waits(vs) == w0)
		sched_yield();
}

TEST(window_failed_flush)
{
	struct store *s = setup();
	struct stat st;

	vol_test_commit_window = start_changer;
	vol_store_fail_once(s, 2, 1); /* the ordered-data flush, in the window */
	CHECK_EQ(store_sync(w.a, false), -EIO);
	vol_test_commit_window = NULL;
	pthread_join(w.changer, NULL);
	CHECK_EQ(w.changer_ret, 0); /* the change went on after the undo */
	CHECK_EQ(store_getattr(s, "late", &st), 0);
	CHECK_EQ(store_sync(w.a, false), 0); /* the store stayed usable */
	store_release(w.a);
	store_close(s);
	vol_fsck_clean();
	s = vol_mount_img();
	CHECK_EQ(store_getattr(s, "b", &st), 0);
	CHECK_EQ(store_getattr(s, "c", &st), 0);
	CHECK_EQ(store_getattr(s, "late", &st), 0);
	store_close(s);
}

/* ---- fsyncs racing changes ---- */

#define NWORK 3

struct worker {
	struct store *s;
	int id;
	uint64_t seed;
	unsigned long ops;
	bool live[64]; /* files w<id>/f<k> that exist now */
};

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void *work(void *arg)
{
	struct worker *wk = arg;
	char p[64], q[64], buf[2 * BS];

	for (unsigned long i = 0; i < wk->ops; i++) {
		int k = (int)(rnd(&wk->seed) % 64), op = (int)(rnd(&wk->seed) % 4);
		struct store_inode *si;
		snprintf(p, sizeof(p), "w%d/f%d", wk->id, k);
		if (!wk->live[k] || op == 0) { /* create or rewrite, fsync */
			CHECK_EQ(store_open(wk->s, p, O_RDWR | O_CREAT, 0644, &si), 0);
			fill(buf, sizeof(buf), (unsigned)(wk->id * 64 + k));
			CHECK_EQ(
			    store_write(si, buf, sizeof(buf), (int64_t)(rnd(&wk->seed) % 8) * BS),
			    (ssize_t)sizeof(buf));
			CHECK_EQ(store_sync(si, rnd(&wk->seed) & 1), 0);
			store_release(si);
			wk->live[k] = true;
		} else if (op == 1) { /* rename onto a sibling */
			int k2 = (int)(rnd(&wk->seed) % 64);
			snprintf(q, sizeof(q), "w%d/f%d", wk->id, k2);
			CHECK_EQ(store_rename(wk->s, p, q, 0), 0);
			wk->live[k] = k == k2;
			wk->live[k2] = true;
		} else if (op == 2) {
			CHECK_EQ(store_unlink(wk->s, p), 0);
			wk->live[k] = false;
		} else { /* truncate, then a sync of it */
			CHECK_EQ(store_open(wk->s, p, O_RDWR, 0, &si), 0);
			CHECK_EQ(store_setsize(si, (int64_t)(rnd(&wk->seed) % (3 * BS))), 0);
			CHECK_EQ(store_sync(si, false), 0);
			store_release(si);
		}
	}
	return NULL;
}

static volatile bool readers_stop;

static void *reader(void *arg)
{
	struct store *s = arg;
	char p[64];
	struct stat st;
	uint64_t x = 88172645463325252ull;

	while (!__atomic_load_n(&readers_stop, __ATOMIC_ACQUIRE)) {
		int n = 0;
		snprintf(p, sizeof(p), "w%d/f%d", (int)(rnd(&x) % NWORK), (int)(rnd(&x) % 64));
		int r = store_getattr(s, p, &st);
		CHECK(r == 0 || r == -ENOENT);
		snprintf(p, sizeof(p), "w%d", (int)(rnd(&x) % NWORK));
		CHECK_EQ(store_readdir(s, p, 0, count_ent, &n), 0);
	}
	return NULL;
}

TEST(fsyncs_race_changes)
{
	uint64_t seed = test_seed();
	struct worker wk[NWORK];
	pthread_t t[NWORK], rt;
	char p[64];

	vol_new_image(128 << 20, 0);
	struct store *s = vol_mount_img();
	for (int i = 0; i < NWORK; i++) {
		snprintf(p, sizeof(p), "w%d", i);
		CHECK_EQ(store_mkdir(s, p, 0755), 0);
		wk[i] = (struct worker){.s = s,
					.id = i,
					.seed = seed + 77 * (uint64_t)i + 1,
					.ops = test_scale(1500, 10)};
	}
	readers_stop = false;
	CHECK_EQ(pthread_create(&rt, NULL, reader, s), 0);
	for (int i = 0; i < NWORK; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, work, &wk[i]), 0);
	for (int i = 0; i < NWORK; i++)
		pthread_join(t[i], NULL);
	__atomic_store_n(&readers_stop, true, __ATOMIC_RELEASE);
	pthread_join(rt, NULL);
	unsigned long waits = thaw_waits(VS(s));
	store_close(s);
	vol_fsck_clean();
	s = vol_mount_img();
	for (int i = 0; i < NWORK; i++)
		for (int k = 0; k < 64; k++) {
			struct stat st;
			snprintf(p, sizeof(p), "w%d/f%d", i, k);
			CHECK_EQ(store_getattr(s, p, &st), wk[i].live[k] ? 0 : -ENOENT);
		}
	store_close(s);
	printf("# %d workers x %lu ops with fsyncs, a reader: %lu changes waited for a "
	       "commit in flight\n",
	       NWORK, wk[0].ops, waits);
}

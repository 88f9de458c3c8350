/* SPDX-License-Identifier: MIT */
/*
 * Durability through the public API (issue 13): directory fsync, the
 * periodic commit and the dirty-expire writeback bound what a crash loses;
 * writeback errors reach someone (errseq for a new fd, pc_flush, the list
 * pc_engine_close_report gives).
 *
 * A crash is simulated in process, as tests/store/test_vol_jrnl.c does: the
 * vol image "device" stops at its next write (vol_store_stop_at), so that
 * nothing more reaches the image - the engine's close, its writeback and
 * final commit all fail - and the image is then mounted again (journal
 * replay) and checked.
 *
 * Each protection is shown able to fail with its test switch:
 * fsync_test_dir_noop (names lost after a directory fsync),
 * vol_test_no_periodic_commit (old changes lost), writeback_test_no_expire
 * (old dirty data lost), errseq_test_sample_current (a new fd misses the
 * error). Rounds are seeded (PC_SEED replays).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/stat.h>

#include "api/engine_internal.h"
#include "fs/file.h"
#include "harness.h"
#include "kernel/futex.h"
#include "kernel/rng.h"
#include "mm/errseq.h"
#include "mm/internal.h"
#include "model.h"
#include "pagecache.h"
#include "store/store.h"
#include "store/vol/vol.h"
#include "store/vol/vstore.h"

#define HOUR_MS (3600u * 1000u)

static char img[4200];

static void new_image(void)
{
	char *d = api_fresh_dir("durable");
	struct vol_mkfs_opts mo = {.size = 64 << 20};

	snprintf(img, sizeof(img), "%s/d.vol", d);
	free(d);
	CHECK_EQ(vol_create(img, &mo), 0);
}

static struct pc_engine *open_vol(unsigned commit_ms, unsigned wb_ms, unsigned expire_ms)
{
	struct pc_options o = {.size = sizeof(o),
			       .store_image = img,
			       .writeback_interval_ms = wb_ms,
			       .commit_interval_ms = commit_ms,
			       .dirty_expire_ms = expire_ms};
	struct pc_engine *e = NULL;

	CHECK_EQ(pc_engine_open(&o, &e), 0);
	return e;
}

/* The crash: nothing more reaches the image; the close fails. */
static void crash(struct pc_engine *e)
{
	vol_store_stop_at(pc_engine_store(e), 1);
	CHECK(pc_engine_close(e) != 0);
}

static bool exists(struct pc_engine *e, const char *path)
{
	struct stat st;
	return pc_stat(e, path, &st) == 0;
}

static int fsync_dir(struct pc_engine *e, const char *path)
{
	int fd = pc_open(e, path, O_RDONLY | O_DIRECTORY, 0);
	CHECKF(fd >= 0, "open dir %s: %d", path, fd);
	int r = pc_fsync(e, fd);
	CHECK_EQ(pc_close(e, fd), 0);
	return r;
}

static void create(struct pc_engine *e, const char *path)
{
	int fd = pc_open(e, path, O_RDWR | O_CREAT | O_EXCL, 0644);
	CHECKF(fd >= 0, "create %s: %d", path, fd);
	CHECK_EQ(pc_close(e, fd), 0);
}

/* ---- directory fsync ---- */

/* One round: on a committed base (d1/keep, d1/gone, d2/), a seeded mix of
 * creates, mkdirs, renames (across directories too) and unlinks, then
 * fsync of every directory they touched, then a crash. Returns the number
 * of changes missing after the remount. */
static int dirfsync_round(uint64_t seed, int round)
{
	struct pc_engine *e;
	struct rng r;
	char p[64], q[64];
	int nops, missing = 0;

	rng_seed(&r, seed + (uint64_t)round);
	new_image();
	e = open_vol(HOUR_MS, HOUR_MS, 0);
	CHECK_EQ(pc_mkdir(e, "d1", 0755), 0);
	CHECK_EQ(pc_mkdir(e, "d2", 0755), 0);
	create(e, "d1/keep");
	create(e, "d1/gone");
	CHECK_EQ(fsync_dir(e, "."), 0);
	CHECK_EQ(fsync_dir(e, "d1"), 0);

	/* the changes: what must exist / not exist after the crash */
	nops = 1 + (int)rng_below(&r, 6);
	bool made[8] = {0}, dir_made[8] = {0}, renamed = false, unlinked = false;
	for (int i = 0; i < nops; i++) {
		switch (rng_below(&r, 4)) {
		case 0:
			snprintf(p, sizeof(p), "d%d/c%d", 1 + (i & 1), i);
			create(e, p);
			made[i] = true;
			break;
		case 1:
			snprintf(p, sizeof(p), "d2/m%d", i);
			CHECK_EQ(pc_mkdir(e, p, 0755), 0);
			dir_made[i] = true;
			break;
		case 2:
			if (!renamed) {
				CHECK_EQ(pc_rename(e, "d1/keep", "d2/moved", 0), 0);
				renamed = true;
			}
			break;
		default:
			if (!unlinked) {
				CHECK_EQ(pc_unlink(e, "d1/gone"), 0);
				unlinked = true;
			}
		}
	}
	/* fsync(dirfd) of each directory changed, as an application does */
	CHECK_EQ(fsync_dir(e, "d1"), 0);
	CHECK_EQ(fsync_dir(e, "d2"), 0);
	/* a change after the fsyncs, which the crash may lose */
	create(e, "d1/after");
	crash(e);

	e = open_vol(HOUR_MS, HOUR_MS, 0);
	for (int i = 0; i < nops; i++) {
		if (made[i]) {
			snprintf(p, sizeof(p), "d%d/c%d", 1 + (i & 1), i);
			missing += !exists(e, p);
		}
		if (dir_made[i]) {
			snprintf(q, sizeof(q), "d2/m%d", i);
			missing += !exists(e, q);
		}
	}
	if (renamed)
		missing += !exists(e, "d2/moved") + exists(e, "d1/keep");
	if (unlinked)
		missing += exists(e, "d1/gone");
	CHECK_EQ(pc_engine_close(e), 0);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_CLEAN);
	return missing;
}

TEST(dirfsync_survives_crash)
{
	uint64_t seed = test_seed();
	int rounds = (int)test_scale(40, 2), missing = 0;

	for (int i = 0; i < rounds; i++)
		missing += dirfsync_round(seed, i);
	printf("# %d rounds: %d changes missing after fsync(dirfd) + crash\n", rounds, missing);
	CHECK_EQ(missing, 0);
}

TEST(dirfsync_switch_off_loses_names)
{
	uint64_t seed = test_seed();
	int missing = 0, rounds = 5;

	fsync_test_dir_noop = true;
	for (int i = 0; i < rounds; i++)
		missing += dirfsync_round(seed, i);
	fsync_test_dir_noop = false;
	printf("# switch on: %d changes missing in %d rounds\n", missing, rounds);
	CHECK(missing > 0);
}

/* dir store: fsync of a directory fd fsyncs the host directory (one store
 * call each), also for the root and a directory renamed away since. */
TEST(dirfsync_dir_store)
{
	char *d = api_fresh_dir("dirstore");
	struct pc_options o = {.size = sizeof(o), .store_dir = d, .writeback_interval_ms = HOUR_MS};
	struct pc_engine *e;

	CHECK_EQ(pc_engine_open(&o, &e), 0);
	struct store *s = pc_engine_store(e);
	CHECK_EQ(pc_mkdir(e, "a", 0755), 0);
	create(e, "a/f");
	unsigned long c0 = store_calls(s, STORE_OP_SYNC_DIR);
	CHECK_EQ(fsync_dir(e, "a"), 0);
	CHECK_EQ(fsync_dir(e, "."), 0);
	int fd = pc_open(e, "a", O_RDONLY | O_DIRECTORY, 0);
	CHECK(fd >= 0);
	CHECK_EQ(pc_rename(e, "a", "b", 0), 0);
	CHECK_EQ(pc_fsync(e, fd), 0);
	CHECK_EQ(pc_fdatasync(e, fd), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(store_calls(s, STORE_OP_SYNC_DIR) - c0, 4);
	/* the store's error comes back */
	store_inject_fail(s, STORE_OP_SYNC_DIR, 1, EIO, false);
	CHECK_EQ(fsync_dir(e, "b"), -EIO);
	CHECK_EQ(pc_engine_close(e), 0);
	free(d);
}

/* ---- the periodic commit and the dirty-expire age ---- */

static uint64_t stat_of(struct pc_engine *e, int which)
{
	struct pc_stats st;
	pc_get_stats(e, &st, sizeof(st));
	return which == 0 ? st.store_commits : which == 1 ? st.dirty_pages : st.periodic_commits;
}

static void fill_buf(char *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (char)(seed * 131 + i * 7 + (i >> 12));
}

/* mkdir d; write 256 KiB to d/f (left open: no close writes it back); wait
 * until the background writeback has cleaned it and the periodic commit has
 * run twice since (polling the counters, bounded), crash, remount. Returns
 * how many of {d, d/f, f's size, f's bytes} are missing. */
static int periodic_round(bool no_timer, bool no_expire)
{
	enum { LEN = 256 << 10 };
	static char buf[LEN], got[LEN];
	struct pc_engine *e;
	int missing = 0;

	new_image();
	e = open_vol(50, 50, 50);
	CHECK_EQ(pc_mkdir(e, "d", 0755), 0);
	int fd = pc_open(e, "d/f", O_RDWR | O_CREAT, 0644);
	CHECK(fd >= 0);
	fill_buf(buf, LEN, 7);
	CHECK_EQ(pc_pwrite(e, fd, buf, LEN, 0), LEN);

	/* what the commit interval + the expire age promise: bounded waits
	 * on events, not timings (a loaded machine only waits longer) */
	struct vstore *vs = VS(pc_engine_store(e));
	unsigned long t0 = __atomic_load_n(&vs->timer_ticks, __ATOMIC_RELAXED);
	uint64_t deadline = ktime_get_ns() + 60ull * 1000000000u;
	while ((!no_expire && stat_of(e, 1) != 0) && ktime_get_ns() < deadline)
		sched_yield();
	CHECK(no_expire || stat_of(e, 1) == 0);
	unsigned long t1 = __atomic_load_n(&vs->timer_ticks, __ATOMIC_RELAXED);
	while (__atomic_load_n(&vs->timer_ticks, __ATOMIC_RELAXED) < t1 + 3 &&
	       ktime_get_ns() < deadline)
		sched_yield();
	CHECK(__atomic_load_n(&vs->timer_ticks, __ATOMIC_RELAXED) >= t1 + 3);
	printf("# timer ticks %lu, commits %llu (periodic %llu), dirty pages %llu\n",
	       __atomic_load_n(&vs->timer_ticks, __ATOMIC_RELAXED) - t0,
	       (unsigned long long)stat_of(e, 0), (unsigned long long)stat_of(e, 2),
	       (unsigned long long)stat_of(e, 1));
	crash(e);

	e = open_vol(HOUR_MS, HOUR_MS, 0);
	struct stat st;
	missing += !exists(e, "d");
	missing += pc_stat(e, "d/f", &st) != 0;
	if (!missing) {
		missing += st.st_size != LEN;
		int rfd = pc_open(e, "d/f", O_RDONLY, 0);
		CHECK(rfd >= 0);
		ssize_t n = pc_pread(e, rfd, got, LEN, 0);
		missing += n != LEN || memcmp(got, buf, LEN) != 0;
		CHECK_EQ(pc_close(e, rfd), 0);
	}
	CHECK_EQ(pc_engine_close(e), 0);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_CLEAN);
	(void)fd;
	return missing;
}

TEST(periodic_commit_bounds_loss)
{
	int rounds = (int)test_scale(5, 5), missing = 0;

	for (int i = 0; i < rounds; i++)
		missing += periodic_round(false, false);
	printf("# %d rounds: %d things missing after interval + expire\n", rounds, missing);
	CHECK_EQ(missing, 0);
}

TEST(periodic_commit_switch_off_loses_changes)
{
	vol_test_no_periodic_commit = true;
	int missing = periodic_round(true, false);
	vol_test_no_periodic_commit = false;
	printf("# no periodic commit: %d things missing\n", missing);
	CHECK(missing >= 2); /* d and d/f */
}

TEST(dirty_expire_switch_off_loses_data)
{
	writeback_test_no_expire = true;
	int missing = periodic_round(false, true);
	writeback_test_no_expire = false;
	printf("# no dirty expire: %d things missing\n", missing);
	CHECK(missing >= 1); /* d/f's size or bytes */
}

/* ---- writeback errors ---- */

static struct pc_engine *dir_engine(unsigned wb_ms)
{
	char *d = api_fresh_dir("errseq");
	struct pc_options o = {.size = sizeof(o), .store_dir = d, .writeback_interval_ms = wb_ms};
	struct pc_engine *e;

	CHECK_EQ(pc_engine_open(&o, &e), 0);
	free(d);
	return e;
}

/* Runs until the background writeback met the injected error (fired). */
static void wait_fired(struct store *s, unsigned long n)
{
	uint64_t deadline = ktime_get_ns() + 60ull * 1000000000u;
	while (store_inject_fired(s) < n && ktime_get_ns() < deadline)
		sched_yield();
	CHECK(store_inject_fired(s) >= n);
}

/* fd1 writes; background writeback fails once (nobody sees it); fd2, opened
 * after the error, is told by its first fsync, once; fd3, opened after fd2
 * saw it, is not told; fd1 (opened before) is told, once. Returns what fd2's
 * first fsync returned. */
static int errseq_scenario(void)
{
	struct pc_engine *e = dir_engine(20);
	struct store *s = pc_engine_store(e);
	char buf[8192];

	fill_buf(buf, sizeof(buf), 3);
	int fd1 = pc_open(e, "f", O_RDWR | O_CREAT, 0644);
	CHECK(fd1 >= 0);
	store_inject_fail(s, STORE_OP_WRITE, 1, EIO, false);
	CHECK_EQ(pc_pwrite(e, fd1, buf, sizeof(buf), 0), sizeof(buf));
	wait_fired(s, 1);
	int fd2 = pc_open(e, "f", O_RDWR, 0);
	CHECK(fd2 >= 0);
	int first = pc_fsync(e, fd2);
	if (first == -EIO) {
		CHECK_EQ(pc_fsync(e, fd2), 0); /* once */
		int fd3 = pc_open(e, "f", O_RDONLY, 0);
		CHECK(fd3 >= 0);
		CHECK_EQ(pc_fsync(e, fd3), 0); /* seen before it opened */
		CHECK_EQ(pc_close(e, fd3), 0);
	}
	CHECK_EQ(pc_fsync(e, fd1), -EIO); /* sampled before the error */
	CHECK_EQ(pc_fsync(e, fd1), 0);
	CHECK_EQ(pc_close(e, fd2), 0);
	CHECK_EQ(pc_close(e, fd1), 0);
	/* the page was kept dirty and written by a later writeback */
	int rfd = pc_open(e, "f", O_RDONLY, 0);
	char got[8192];
	CHECK_EQ(pc_pread(e, rfd, got, sizeof(got), 0), sizeof(got));
	CHECK(memcmp(got, buf, sizeof(got)) == 0);
	CHECK_EQ(pc_close(e, rfd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	return first;
}

TEST(errseq_unseen_error_reported_to_new_fd)
{
	CHECK_EQ(errseq_scenario(), -EIO);
}

TEST(errseq_switch_off_new_fd_misses_error)
{
	errseq_test_sample_current = true;
	int first = errseq_scenario();
	errseq_test_sample_current = false;
	CHECK_EQ(first, 0);
}

/* close(2) through FUSE: pc_flush writes back and returns the error, once;
 * a read-only fd's flush is 0; the data is written by the retry. */
TEST(flush_reports_writeback_error)
{
	struct pc_engine *e = dir_engine(HOUR_MS);
	struct store *s = pc_engine_store(e);
	char buf[3 * 4096], got[sizeof(buf)];

	fill_buf(buf, sizeof(buf), 5);
	int fd = pc_open(e, "f", O_RDWR | O_CREAT, 0644);
	int ro = pc_open(e, "f", O_RDONLY, 0);
	CHECK(fd >= 0 && ro >= 0);
	CHECK_EQ(pc_pwrite(e, fd, buf, sizeof(buf), 0), sizeof(buf));
	store_inject_fail(s, STORE_OP_WRITE, 1, ENOSPC, false);
	CHECK_EQ(pc_flush(e, ro), 0);
	CHECK_EQ(pc_flush(e, fd), -ENOSPC);
	CHECK_EQ(pc_flush(e, fd), 0); /* told once; the page written now */
	CHECK_EQ(pc_fsync(e, fd), 0);
	CHECK_EQ(pc_pread(e, ro, got, sizeof(got), 0), sizeof(got));
	CHECK(memcmp(got, buf, sizeof(got)) == 0);
	CHECK_EQ(pc_flush(e, 12345), -EBADF);
	CHECK_EQ(pc_close(e, ro), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

struct lost {
	int n;
	char name[64];
	int err;
};

static void note_lost(void *arg, const char *path, int err)
{
	struct lost *l = arg;
	l->n++;
	snprintf(l->name, sizeof(l->name), "%s", path);
	l->err = err;
}

/* A file whose last close cannot write its data back: pc_close says so, and
 * so does the engine's close report (by name), which the mount prints. */
TEST(close_report_names_unwritten_files)
{
	struct pc_engine *e = dir_engine(HOUR_MS);
	struct store *s = pc_engine_store(e);
	char buf[4096];
	struct lost l = {0};

	fill_buf(buf, sizeof(buf), 9);
	CHECK_EQ(pc_mkdir(e, "sub", 0755), 0);
	int ok = pc_open(e, "fine", O_RDWR | O_CREAT, 0644);
	CHECK_EQ(pc_pwrite(e, ok, buf, sizeof(buf), 0), sizeof(buf));
	CHECK_EQ(pc_fsync(e, ok), 0);
	CHECK_EQ(pc_close(e, ok), 0);
	int fd = pc_open(e, "sub/lostfile", O_RDWR | O_CREAT, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(pc_pwrite(e, fd, buf, sizeof(buf), 0), sizeof(buf));
	store_inject_fail(s, STORE_OP_WRITE, 1, EIO, true);
	/* the last close keeps the inode cached with its dirty page (the
	 * writeback thread waits an hour): nothing is written yet */
	CHECK_EQ(pc_close(e, fd), 0);
	/* engine close evicts it, writing it back: that fails, the data is
	 * lost, and the report names the file */
	CHECK_EQ(pc_engine_close_report(e, note_lost, &l), -EIO);
	CHECK_EQ(l.n, 1);
	CHECK(strcmp(l.name, "sub/lostfile") == 0);
	CHECK_EQ(l.err, -EIO);
}

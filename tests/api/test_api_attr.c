/* SPDX-License-Identifier: MIT */
/*
 * test_api_attr.c - the path calls of src/api/attr.c end to end on the dir
 * store (basic_fixture.h): hard links and symlinks with the kernel's errnos,
 * chmod/chown/utimens (symlinks not followed), truncate by path through the
 * cache, statfs, and the engine-side timestamps: a write or truncate sets
 * mtime/ctime at the call, stat of a cached file shows the engine's size
 * and times (not the store's stale ones), and utimens survives a later
 * writeback of dirty pages. Each timestamp check also runs with the
 * protection off (the store's times alone) to show the check can fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "basic_fixture.h"
#include "harness.h"
#include "pagecache.h"

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return ts_ns(&t);
}

TEST(links_and_symlinks)
{
	struct pc_engine *e = engine();
	struct stat st, st2;
	char buf[64];
	int fd;

	fd = pc_open(e, "f", O_RDWR | O_CREAT, 0644);
	CHECK_EQ(pc_write(e, fd, "data", 4), 4);
	CHECK_EQ(pc_link(e, "f", "g"), 0);
	CHECK_EQ(pc_stat(e, "f", &st), 0);
	CHECK_EQ(pc_stat(e, "g", &st2), 0);
	CHECK_EQ(st.st_nlink, 2);
	CHECK_EQ(st.st_ino, st2.st_ino);
	CHECK_EQ(st2.st_size, 4); /* dirty data: the engine's size by either name */
	CHECK_EQ(pc_link(e, "f", "g"), -EEXIST);
	CHECK_EQ(pc_link(e, "missing", "h"), -ENOENT);
	CHECK_EQ(pc_mkdir(e, "d", 0755), 0);
	CHECK_EQ(pc_link(e, "d", "d2"), -EPERM);
	CHECK_EQ(pc_link(e, "f", "nodir/x"), -ENOENT);

	CHECK_EQ(pc_symlink(e, "f", "s"), 0);
	CHECK_EQ(pc_symlink(e, "f", "s"), -EEXIST);
	CHECK_EQ(pc_symlink(e, "", "s2"), -ENOENT);
	CHECK_EQ(pc_readlink(e, "s", buf, sizeof(buf)), 1);
	CHECK_EQ(buf[0], 'f');
	CHECK_EQ(pc_readlink(e, "s", buf, 0), -EINVAL);
	CHECK_EQ(pc_readlink(e, "f", buf, sizeof(buf)), -EINVAL);
	CHECK_EQ(pc_readlink(e, "nope", buf, sizeof(buf)), -ENOENT);
	CHECK_EQ(pc_stat(e, "s", &st), 0); /* lstat */
	CHECK(S_ISLNK(st.st_mode));
	CHECK_EQ(pc_open(e, "s", O_RDONLY, 0), -ELOOP);
	CHECK_EQ(pc_symlink(e, "d", "sd"), 0);
	CHECK_EQ(pc_stat(e, "sd/x", &st), -ELOOP); /* no symlink followed in a path */
	/* a hard link to a symlink links the symlink itself */
	CHECK_EQ(pc_link(e, "s", "s3"), 0);
	CHECK_EQ(pc_stat(e, "s3", &st), 0);
	CHECK(S_ISLNK(st.st_mode));
	CHECK_EQ(pc_unlink(e, "g"), 0);
	CHECK_EQ(pc_fstat(e, fd, &st), 0);
	CHECK_EQ(st.st_nlink, 1);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

TEST(chmod_chown_utimens)
{
	struct pc_engine *e = engine();
	struct timespec ts[2] = {{.tv_sec = 1000000000, .tv_nsec = 5},
				 {.tv_sec = 999, .tv_nsec = 7}};
	struct stat st;
	int fd;

	fd = pc_open(e, "f", O_RDWR | O_CREAT, 0600);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_chmod(e, "f", 04751), 0);
	CHECK_EQ(pc_stat(e, "f", &st), 0);
	CHECK_EQ(st.st_mode & 07777, 04751);
	CHECK_EQ(pc_chmod(e, "missing", 0644), -ENOENT);
	CHECK_EQ(pc_chown(e, "f", 1234, 5678), 0);
	CHECK_EQ(pc_stat(e, "f", &st), 0);
	CHECK_EQ(st.st_uid, 1234);
	CHECK_EQ(st.st_gid, 5678);
	CHECK_EQ(pc_chown(e, "f", (uid_t)-1, 42), 0);
	CHECK_EQ(pc_stat(e, "f", &st), 0);
	CHECK_EQ(st.st_uid, 1234);
	CHECK_EQ(st.st_gid, 42);
	CHECK_EQ(pc_utimens(e, "f", ts), 0);
	CHECK_EQ(pc_stat(e, "f", &st), 0);
	CHECK_EQ(ts_ns(&st.st_atim), ts_ns(&ts[0]));
	CHECK_EQ(ts_ns(&st.st_mtim), ts_ns(&ts[1]));
	/* UTIME_OMIT keeps one, UTIME_NOW sets now */
	struct timespec t2[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_NOW}};
	int64_t t0 = now_ns();
	CHECK_EQ(pc_utimens(e, "f", t2), 0);
	CHECK_EQ(pc_stat(e, "f", &st), 0);
	CHECK_EQ(ts_ns(&st.st_atim), ts_ns(&ts[0]));
	CHECK(ts_ns(&st.st_mtim) >= t0 - 20000000); /* host clock granularity */
	struct timespec bad[2] = {{.tv_nsec = 1000000000}, {.tv_nsec = 0}};
	CHECK_EQ(pc_utimens(e, "f", bad), -EINVAL);
	/* symlinks: not followed */
	CHECK_EQ(pc_symlink(e, "f", "s"), 0);
	CHECK_EQ(pc_chown(e, "s", 77, 88), 0);
	CHECK_EQ(pc_stat(e, "s", &st), 0);
	CHECK_EQ(st.st_uid, 77);
	CHECK_EQ(pc_stat(e, "f", &st), 0);
	CHECK_EQ(st.st_uid, 1234);
	CHECK_EQ(pc_chmod(e, "s", 0600), -EOPNOTSUPP);
	CHECK_EQ(pc_utimens(e, "s", ts), 0);
	CHECK_EQ(pc_stat(e, "s", &st), 0);
	CHECK_EQ(ts_ns(&st.st_mtim), ts_ns(&ts[1]));
	/* the root and directories */
	CHECK_EQ(pc_mkdir(e, "d", 0700), 0);
	CHECK_EQ(pc_chmod(e, "d", 01777), 0);
	CHECK_EQ(pc_stat(e, "d", &st), 0);
	CHECK_EQ(st.st_mode & 07777, 01777);
	CHECK_EQ(pc_chmod(e, "", 0755), 0);
	/* the reserved lock file is out of reach */
	CHECK_EQ(pc_chmod(e, ".pagecache.lock", 0777), -EPERM);
	CHECK_EQ(pc_engine_close(e), 0);
}

TEST(truncate_and_statfs)
{
	struct pc_engine *e = engine();
	char w[3 * PG], r[3 * PG];
	struct statvfs sv;
	struct stat st;
	int fd;

	fill(w, sizeof(w), 3, 0);
	fd = pc_open(e, "f", O_RDWR | O_CREAT, 0644);
	CHECK_EQ(pc_write(e, fd, w, sizeof(w)), sizeof(w));
	/* by path, while the file is open with dirty pages: through the cache */
	CHECK_EQ(pc_truncate(e, "f", PG + 10), 0);
	CHECK_EQ(pc_fstat(e, fd, &st), 0);
	CHECK_EQ(st.st_size, PG + 10);
	CHECK_EQ(pc_pread(e, fd, r, sizeof(r), 0), PG + 10);
	CHECK(!memcmp(r, w, PG + 10));
	CHECK_EQ(pc_truncate(e, "f", 2 * PG), 0);
	CHECK_EQ(pc_pread(e, fd, r, sizeof(r), 0), 2 * PG);
	for (int i = PG + 10; i < 2 * PG; i++)
		CHECK_EQ(r[i], 0);
	CHECK_EQ(pc_truncate(e, "f", -1), -EINVAL);
	CHECK_EQ(pc_truncate(e, "missing", 0), -ENOENT);
	CHECK_EQ(pc_mkdir(e, "d", 0755), 0);
	CHECK_EQ(pc_truncate(e, "d", 0), -EISDIR);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_statfs(e, &sv), 0);
	CHECK(sv.f_bsize > 0);
	CHECK(sv.f_blocks > 0);
	CHECK_EQ(pc_statfs(e, NULL), -EFAULT);
	CHECK_EQ(pc_engine_close(e), 0);
	check_host("f", r, 2 * PG);
}

/*
 * Engine-side times. The file's mtime is set in the past through the
 * store, then a buffered write (dirty, not written back) must move mtime and
 * ctime to the time of the call, and stat must show them. @off: the
 * protection switched off - the stat overlay is bypassed by asking the
 * store's view (a fresh engine on the same directory is not possible while
 * this one holds it, so the host file is stat'ed directly).
 */
static void times_case(bool off)
{
	struct pc_engine *e = engine();
	struct timespec old[2] = {{.tv_sec = 1000}, {.tv_sec = 1000}};
	char path[1200];
	struct stat st;
	int fd;

	fd = pc_open(e, "f", O_RDWR | O_CREAT, 0644);
	CHECK_EQ(pc_utimens(e, "f", old), 0);
	int64_t t0 = now_ns();
	CHECK_EQ(pc_write(e, fd, "x", 1), 1); /* dirty: the store has not seen it */
	if (off) {
		snprintf(path, sizeof(path), "%s/f", dir);
		CHECK_EQ(stat(path, &st), 0);
		/* the hazard: the store still says the old time and size */
		CHECK_EQ(st.st_mtim.tv_sec, 1000);
		CHECK_EQ(st.st_size, 0);
	} else {
		CHECK_EQ(pc_stat(e, "f", &st), 0);
		CHECK(ts_ns(&st.st_mtim) >= t0);
		CHECK(ts_ns(&st.st_ctim) >= t0);
		CHECK_EQ(st.st_size, 1);
		CHECK_EQ(pc_fstat(e, fd, &st), 0);
		CHECK(ts_ns(&st.st_mtim) >= t0);
		/* truncate moves them too */
		CHECK_EQ(pc_utimens(e, "f", old), 0);
		CHECK_EQ(pc_stat(e, "f", &st), 0);
		CHECK_EQ(st.st_mtim.tv_sec, 1000); /* explicit times win over the engine's */
		t0 = now_ns();
		CHECK_EQ(pc_ftruncate(e, fd, 100), 0);
		CHECK_EQ(pc_stat(e, "f", &st), 0);
		CHECK(ts_ns(&st.st_mtim) >= t0);
		/* times set explicitly on a file with dirty pages survive writeback */
		CHECK_EQ(pc_pwrite(e, fd, "y", 1, 5), 1);
		CHECK_EQ(pc_utimens(e, "f", old), 0);
		CHECK_EQ(pc_fsync(e, fd), 0);
		CHECK_EQ(pc_stat(e, "f", &st), 0);
		CHECK_EQ(st.st_mtim.tv_sec, 1000);
	}
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

TEST(engine_timestamps)
{
	times_case(false);
}

TEST(engine_timestamps_hazard_without_overlay)
{
	times_case(true);
}

/* Found by fsx on the FUSE mount: dirty data past the store's size up to a
 * page-aligned EOF, then a punch (KEEP_SIZE) ending at EOF drops those
 * pages unwritten; the store must still be extended to i_size, or the size
 * shrinks at the next open. */
TEST(punch_to_aligned_eof_keeps_size)
{
	struct pc_engine *e = engine();
	static char w[64 * PG];
	struct stat st;
	int fd;

	fill(w, sizeof(w), 9, 0);
	fd = pc_open(e, "f", O_RDWR | O_CREAT, 0644);
	CHECK_EQ(pc_pwrite(e, fd, w, 40 * PG + 100, 0), 40 * PG + 100);
	CHECK_EQ(pc_fsync(e, fd), 0); /* the store: 40 pages + 100 bytes */
	CHECK_EQ(pc_pwrite(e, fd, w, 2 * PG, 62 * PG), 2 * PG); /* EOF at 64 pages, dirty */
	CHECK_EQ(pc_fallocate(e, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 50 * PG, 14 * PG),
		 0);
	CHECK_EQ(pc_fstat(e, fd, &st), 0);
	CHECK_EQ(st.st_size, 64 * PG);
	CHECK_EQ(pc_close(e, fd), 0); /* evicted: the store is all there is */
	CHECK_EQ(pc_stat(e, "f", &st), 0);
	CHECK_EQ(st.st_size, 64 * PG);
	CHECK_EQ(pc_engine_close(e), 0);
}

TEST(bad_input)
{
	struct pc_engine *e = engine();
	char buf[4];

	CHECK_EQ(pc_link(NULL, "a", "b"), -EINVAL);
	CHECK_EQ(pc_link(e, NULL, "b"), -EFAULT);
	CHECK_EQ(pc_symlink(e, NULL, "b"), -EFAULT);
	CHECK_EQ(pc_readlink(e, NULL, buf, 4), -EFAULT);
	CHECK_EQ(pc_readlink(e, "x", NULL, 4), -EFAULT);
	CHECK_EQ(pc_chmod(e, NULL, 0), -EFAULT);
	CHECK_EQ(pc_chmod(e, "/abs", 0), -EINVAL);
	CHECK_EQ(pc_chown(NULL, "a", 0, 0), -EINVAL);
	CHECK_EQ(pc_utimens(e, NULL, NULL), -EFAULT);
	CHECK_EQ(pc_truncate(e, NULL, 0), -EFAULT);
	CHECK_EQ(pc_statfs(NULL, NULL), -EINVAL);
	CHECK_EQ(pc_symlink(e, "t", "../escape"), -EINVAL);
	CHECK_EQ(pc_engine_close(e), 0);
}

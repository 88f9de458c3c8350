/* SPDX-License-Identifier: MIT */
/*
 * Crashes inside clones and copy-on-write writes of shared blocks on the
 * vol store: a workload (clone two ranges of a into b, fsync; a write into
 * a shared block of b, fsync; a write into a shared block of a, fsync;
 * unlink a, fsync; a new file c over the freed space, fsync) is cut at
 * every image write, three ways - the device stopped there, a volatile
 * write cache that keeps, loses or tears each write since the last flush
 * (seeded), and SIGKILL before the write (a child process) - then:
 * fsck clean (so every reference count equals the extents mapping the
 * block, and no block is both free and mapped), each fsync that returned 0
 * durable, and every byte of every file one that file held (the old
 * contents, the clone's, its own writes): never a byte of another file
 * (a block freed and reused while a clone still maps it).
 *
 * The switches show the checks can fail: vol_test_refcount_skip_inc (the
 * clone takes no references: the unlink frees b's blocks, c reuses them)
 * and vol_test_cow_in_place (the write into b lands in a's block).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "fixture.h"
#include "store/vol/vol.h"
#include "store/vol/vstore.h"

#define BS  4096
#define NB  16 /* blocks of a and of b */
#define LEN (NB * BS)

/* The bytes a file may hold: tag t at offset i. Tags: A (a's), B (b's old),
 * W (the write into b), V (the write into a), C (c's). */
static char byte_of(char t, size_t i)
{
	return (char)(t * 37 + (i % 251) + (i / BS) * 3);
}

static void fill_tag(char *b, char t, size_t off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		b[i] = byte_of(t, off + i);
}

/* What steps of the workload changed (1..5) and the fsyncs that returned 0. */
#define W_OFF (3 * BS + 100) /* inside b's block 3 ... */
#define W_LEN (BS)	     /* ... and into block 4 */
#define V_OFF (5 * BS)
#define V_LEN (2 * BS + 1)

static void base(void)
{
	char *buf = malloc(LEN);
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_inode *a = create(s, "a"), *b = create(s, "b");
	fill_tag(buf, 'A', 0, LEN);
	CHECK_EQ(store_write(a, buf, LEN, 0), LEN);
	fill_tag(buf, 'B', 0, NB / 2 * BS);
	CHECK_EQ(store_write(b, buf, NB / 2 * BS, 0), NB / 2 * BS);
	CHECK_EQ(store_sync(a, false), 0);
	store_release(a);
	store_release(b);
	CHECK_EQ(store_close(s), 0);
	free(buf);
}

/* Where a child reports each step whose fsync returned (-1: nowhere). */
static int report_fd = -1;

static void step(int *done, int k)
{
	*done = k;
	if (report_fd >= 0) {
		char d = (char)k;
		(void)!write(report_fd, &d, 1);
	}
}

/* The workload; returns the last step whose fsync returned 0 (0: none). */
static int workload(struct store *s)
{
	char *buf = malloc(LEN);
	struct store_inode *a, *b, *c = NULL;
	int done = 0;

	CHECK_EQ(store_open(s, "a", O_RDWR, 0, &a), 0);
	CHECK_EQ(store_open(s, "b", O_RDWR, 0, &b), 0);
	if (store_clone_range(a, 0, b, 0, NB / 2 * BS) ||
	    store_clone_range(a, NB / 2 * BS, b, NB / 2 * BS, 0) || store_sync(b, false))
		goto out;
	step(&done, 1);
	fill_tag(buf, 'W', W_OFF, W_LEN);
	if (store_write(b, buf, W_LEN, W_OFF) != W_LEN || store_sync(b, false))
		goto out;
	step(&done, 2);
	fill_tag(buf, 'V', V_OFF, V_LEN);
	if (store_write(a, buf, V_LEN, V_OFF) != V_LEN || store_sync(a, false))
		goto out;
	step(&done, 3);
	store_release(a);
	a = NULL;
	if (store_unlink(s, "a") || store_sync(b, false))
		goto out;
	step(&done, 4);
	if (store_create(s, "c", 0644, &c))
		goto out;
	fill_tag(buf, 'C', 0, LEN);
	if (store_write(c, buf, LEN, 0) != LEN || store_sync(c, false))
		goto out;
	step(&done, 5);
out:
	if (a)
		store_release(a);
	store_release(b);
	if (c)
		store_release(c);
	free(buf);
	return done;
}

/* Each byte of the file may be one of tags (or zero where @zero_ok). The
 * bytes that are none (another file's, or garbage). */
static long foreign_bytes(struct store *s, const char *name, const char *tags, int64_t want_size,
			  bool *present)
{
	struct store_inode *si;
	char *buf = malloc(2 * LEN);
	long bad = 0;

	*present = store_open(s, name, O_RDONLY, 0, &si) == 0;
	if (!*present) {
		free(buf);
		return 0;
	}
	int64_t size = store_size(si);
	if (want_size >= 0)
		CHECK_EQ(size, want_size);
	CHECK(size <= 2 * LEN);
	CHECK_EQ(store_read(si, buf, (size_t)size, 0), size);
	for (int64_t i = 0; i < size; i++) {
		bool ok = false;
		for (const char *t = tags; *t && !ok; t++)
			ok = *t == '0' ? buf[i] == 0 : buf[i] == byte_of(*t, (size_t)i);
		bad += !ok;
	}
	store_release(si);
	free(buf);
	return bad;
}

/* After a crash: fsck clean, then what each file may hold given the
 * fsyncs that returned (@done). Foreign bytes found. */
static long check_after(int done)
{
	bool pa, pb, pc;
	vol_fsck_clean();
	struct store *s = vol_mount_img();
	long bad = 0;

	/* b: its old bytes (before the clone's fsync) or a's, and the
	 * write W (durable once its fsync returned) */
	bad += foreign_bytes(s, "b", done >= 1 ? "AW" : "AB", done >= 1 ? LEN : -1, &pb);
	CHECK(pb);
	bad += foreign_bytes(s, "a", "AV", -1, &pa);
	CHECK(!pa || done < 4);
	bad += foreign_bytes(s, "c", "C0", done >= 5 ? LEN : -1, &pc);
	CHECK(pc || done < 5);
	if (done >= 2) { /* the write into b is durable */
		struct store_inode *si;
		char w[W_LEN];
		CHECK_EQ(store_open(s, "b", O_RDONLY, 0, &si), 0);
		CHECK_EQ(store_read(si, w, W_LEN, W_OFF), W_LEN);
		for (size_t i = 0; i < W_LEN; i++)
			CHECK_EQ(w[i], byte_of('W', W_OFF + i));
		store_release(si);
	}
	CHECK_EQ(store_close(s), 0);
	vol_fsck_clean();
	return bad;
}

/* The writes of the whole workload (no crash). */
static unsigned long workload_writes(void)
{
	base();
	struct store *s = vol_mount_img();
	unsigned long w0 = vol_store_writes(s);
	CHECK_EQ(workload(s), 5);
	unsigned long w = vol_store_writes(s) - w0;
	CHECK_EQ(store_close(s), 0);
	CHECK_EQ(check_after(5), 0);
	return w;
}

/* The device stopped at each write in turn. Foreign bytes over all. */
static long stop_points(unsigned long writes, long step)
{
	long bad = 0;
	for (long at = 1; at <= (long)writes + 1; at += step) {
		base();
		struct store *s = vol_mount_img();
		vol_store_stop_at(s, at);
		int done = workload(s);
		store_close(s); /* the final commit fails: a crash */
		bad += check_after(done);
	}
	return bad;
}

TEST(crash_at_each_write_device_stop)
{
	unsigned long writes = workload_writes();
	long bad = stop_points(writes, 1);
	printf("# clone workload: %lu image writes, the device stopped at each: %ld foreign "
	       "bytes\n",
	       writes, bad);
	CHECK_EQ(bad, 0);
}

/* A volatile write cache: each write since the last flush kept, lost or
 * torn (seeded), the crash at every write. */
TEST(crash_at_each_write_volatile_cache)
{
	uint64_t seed = test_seed();
	unsigned long writes = workload_writes();
	long bad = 0;
	for (long at = 1; at <= (long)writes + 1; at++) {
		struct vol_wc_stats st = {0};
		base();
		struct store *s = vol_mount_img();
		CHECK_EQ(vol_store_wcache(s, seed + (uint64_t)at, at, 0, false, &st), 0);
		int done = workload(s);
		store_close(s);
		bad += check_after(done);
	}
	printf("# clone workload, volatile cache: %lu crash points, %ld foreign bytes\n",
	       writes + 1, bad);
	CHECK_EQ(bad, 0);
}

/* SIGKILL just before each image write (the process dies: nothing of the
 * store's memory survives); the parent checks the image. */
TEST(crash_at_each_write_sigkill)
{
	unsigned long writes = workload_writes();
	long step = test_quick() ? 3 : 1, bad = 0;
	for (long at = 1; at <= (long)writes; at += step) {
		base();
		int fds[2];
		CHECK_EQ(pipe(fds), 0);
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			struct store *s;
			if (store_open_vol(vol_img, &s))
				_exit(2);
			vol_store_kill_at(s, at);
			report_fd = fds[1]; /* each fsync that returned, as it returns */
			workload(s);
			store_close(s);
			_exit(0);
		}
		close(fds[1]);
		int status;
		CHECK_EQ(waitpid(pid, &status, 0), pid);
		char d;
		int done = 0;
		while (read(fds[0], &d, 1) == 1)
			done = d;
		close(fds[0]);
		bad += check_after(done);
	}
	printf("# clone workload: SIGKILL before each of %lu writes (every %ld): %ld foreign "
	       "bytes\n",
	       writes, step, bad);
	CHECK_EQ(bad, 0);
}

/* The switches: without references the unlink of a frees b's blocks and c
 * reuses them (c's bytes in b); with the write in place a's bytes change
 * (W in a). Both are seen without a crash already. */
TEST(switches_show_foreign_bytes)
{
	vol_test_refcount_skip_inc = true;
	base();
	struct store *s = vol_mount_img();
	CHECK_EQ(workload(s), 5);
	vol_test_refcount_skip_inc = false;
	bool p;
	long bad = foreign_bytes(s, "b", "AW", LEN, &p);
	CHECK_EQ(store_close(s), 0);
	printf("# no references taken: %ld bytes of b are another file's\n", bad);
	CHECK(bad > 0);
	/* the counts are too low: mount refuses, fsck reports */
	struct store *s2;
	CHECK_EQ(store_open_vol(vol_img, &s2), -EUCLEAN);
	CHECK_EQ(vol_fsck(vol_img, false, stderr), VOL_FSCK_UNREPAIRED);

	vol_test_cow_in_place = true;
	base();
	s = vol_mount_img();
	CHECK_EQ(workload(s), 5);
	vol_test_cow_in_place = false;
	CHECK_EQ(store_close(s), 0);
	/* a is gone; its writes went into b's shared blocks: b holds V */
	s = vol_mount_img();
	bad = foreign_bytes(s, "b", "AW", LEN, &p);
	CHECK_EQ(store_close(s), 0);
	printf("# written in place: %ld bytes of b are a's later writes\n", bad);
	CHECK(bad > 0);
}

/* SPDX-License-Identifier: MIT */
/*
 * Truncating a vol file inside a written block (data.c vs_truncate_blocks):
 * the kept head is copied to a new block, so until the commit that makes
 * the new size durable the image still holds the old bytes. A crash (the
 * image device stopped, then unmount without a commit) after a truncate
 * leaves the file at its fsync'd size with every fsync'd byte; a committed
 * truncate shows the new size and zeroes when the file is extended again.
 * vol_test_truncate_in_place restores the old in-place zeroing and the
 * crash check then finds the zeroes. On a full volume (no block for the
 * copy) the size change is committed first and the tail zeroed after.
 */
#include <errno.h>
#include <sys/stat.h>

#include "harness.h"
#include "fixture.h"
#include "store/vol/vol.h"
#include "store/vol/vstore.h"

#define BS   4096
#define CUT  (BS + 1000) /* inside file block 1 */
#define FLEN (3 * BS)

static void pattern(char *b, size_t len)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (char)(i * 131 + 7 + (i >> 12));
}

/* A 3-block patterned file "f", written and fsync'd; returns it open. */
static struct store_inode *fsynced_file(struct store *s, char *a)
{
	struct store_inode *si = create(s, "f");
	pattern(a, FLEN);
	CHECK_EQ(store_write(si, a, FLEN, 0), FLEN);
	CHECK_EQ(store_sync(si, false), 0);
	return si;
}

/* Unmount as a crash does: the device stops, the final commit fails. */
static void crash_close(struct store *s)
{
	vol_store_stop_at(s, 1);
	store_close(s); /* prints the failed final commit */
}

/* Write + fsync, truncate to CUT, crash; the bytes that differ from the
 * fsync'd file after remount (the size must be the old one). */
static long truncate_then_crash(void)
{
	char a[FLEN], b[FLEN];
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_inode *si = fsynced_file(s, a);
	CHECK_EQ(store_setsize(si, CUT), 0);
	CHECK_EQ(store_size(si), CUT);
	CHECK_EQ(store_read(si, b, FLEN, 0), CUT);
	CHECK(!memcmp(a, b, CUT));
	store_release(si);
	crash_close(s);
	vol_fsck_clean();
	s = vol_mount_img();
	CHECK_EQ(store_open(s, "f", O_RDONLY, 0, &si), 0);
	CHECK_EQ(store_size(si), FLEN); /* the truncate never committed */
	CHECK_EQ(store_read(si, b, FLEN, 0), FLEN);
	long bad = 0;
	for (int i = 0; i < FLEN; i++)
		bad += a[i] != b[i];
	store_release(si);
	store_close(s);
	vol_fsck_clean();
	return bad;
}

TEST(truncate_crash_keeps_fsynced_bytes)
{
	CHECK_EQ(truncate_then_crash(), 0);
}

/* The test above can fail: zeroing in place before the commit loses the
 * fsync'd bytes [CUT, 2 * BS) of the old-sized file. */
TEST(truncate_in_place_loses_bytes)
{
	vol_test_truncate_in_place = true;
	long bad = truncate_then_crash();
	vol_test_truncate_in_place = false;
	printf("# in-place zeroing: %ld fsync'd bytes lost by the crash\n", bad);
	CHECK(bad > 0);
}

static void check_cut(struct store_inode *si, const char *a)
{
	char b[FLEN];
	CHECK_EQ(store_size(si), CUT);
	CHECK_EQ(store_setsize(si, FLEN), 0);
	CHECK_EQ(store_read(si, b, FLEN, 0), FLEN);
	CHECK(!memcmp(a, b, CUT));
	CHECK(is_zero(b + CUT, FLEN - CUT));
	CHECK_EQ(store_setsize(si, CUT), 0);
}

TEST(truncate_committed)
{
	char a[FLEN];
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_inode *si = fsynced_file(s, a);
	CHECK_EQ(store_setsize(si, CUT), 0);
	CHECK_EQ(store_sync(si, false), 0);
	check_cut(si, a);
	CHECK_EQ(store_sync(si, false), 0);
	store_release(si);
	crash_close(s); /* everything was committed */
	vol_fsck_clean();
	s = vol_mount_img();
	CHECK_EQ(store_open(s, "f", O_RDWR, 0, &si), 0);
	check_cut(si, a);
	store_release(si);
	store_close(s);
	vol_fsck_clean();
}

/* A full volume: no block for the copy, so the truncate commits the new
 * size (one commit more) and then zeroes the tail in place. */
TEST(truncate_enospc_fallback)
{
	char a[FLEN];
	vol_new_image(2 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_inode *si = fsynced_file(s, a);
	struct store_inode *fill_si = create(s, "fill");
	char *buf = calloc(1, 64 << 10);
	int64_t done = 0;
	ssize_t w;
	while ((w = store_write(fill_si, buf, 64 << 10, done)) > 0)
		done += w;
	CHECK_EQ(w, -ENOSPC);
	while ((w = store_write(fill_si, buf, BS, done)) > 0) /* the last blocks */
		done += w;
	CHECK_EQ(w, -ENOSPC);
	CHECK_EQ(store_sync(fill_si, false), 0);
	store_release(fill_si);
	unsigned long commits = vol_store_commits(s);
	CHECK_EQ(store_setsize(si, CUT), 0);
	CHECK_EQ(vol_store_commits(s), commits + 1); /* the fallback's commit */
	store_release(si);
	crash_close(s); /* the new size is durable already */
	vol_fsck_clean();
	s = vol_mount_img();
	CHECK_EQ(store_open(s, "f", O_RDWR, 0, &si), 0);
	check_cut(si, a);
	store_release(si);
	store_close(s);
	vol_fsck_clean();
	free(buf);
}

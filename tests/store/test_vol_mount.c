/* SPDX-License-Identifier: MIT */
/*
 * vol mount time (load.c): a mount reads the inode-table blocks an image
 * holds data in, not the whole table (a hole of a sparse image reads as
 * free slots), and walks the inodes by their used groups (vs_next_ino).
 * Checked by counting the image reads of a mount of an empty 4 GiB image
 * (262144 inode slots in 16384 table blocks): a handful, where
 * vol_test_no_itable_holes (read every block) makes them more than the
 * table's blocks. Files whose inodes lie past holes of the table, in
 * several groups, all come back after a remount, fsck clean. The smoke
 * check mounts an empty 1 TiB sparse image (64M inode slots) and prints the
 * time, asserting nothing on it (the bound is asserted in bench_vol).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "fixture.h"
#include "store/vol/vol.h"
#include "store/vol/volume.h"
#include "store/vol/vstore.h"

static unsigned long mount_reads(void)
{
	struct store *s = vol_mount_img();
	unsigned long n = VS(s)->v->dev.reads;
	store_close(s);
	return n;
}

TEST(empty_mount_reads_used_blocks)
{
	vol_new_image(4ll << 30, 0);
	struct store *s = vol_mount_img();
	uint64_t tblocks = VS(s)->v->sb.itable_blocks;
	store_close(s);
	unsigned long fast = mount_reads();
	vol_test_no_itable_holes = true;
	unsigned long slow = mount_reads();
	vol_test_no_itable_holes = false;
	printf("# empty 4 GiB image, %llu inode-table blocks: a mount reads %lu blocks (%lu "
	       "with vol_test_no_itable_holes)\n",
	       (unsigned long long)tblocks, fast, slow);
	CHECK(tblocks >= 16384);
	CHECK(fast < 64);
	CHECK(slow >= tblocks);
	vol_fsck_clean();
}

/* A file "f<at>" in inode slot @at, holding its name. */
static void make_at(struct store *s, uint64_t at)
{
	char name[32];
	struct store_inode *si;
	snprintf(name, sizeof(name), "f%llu", (unsigned long long)at);
	VS(s)->ino_cursor = at;
	CHECK_EQ(store_create(s, name, 0644, &si), 0);
	CHECK_EQ(store_write(si, name, strlen(name), 0), (ssize_t)strlen(name));
	struct stat st;
	CHECK_EQ(store_fgetattr(si, &st), 0);
	CHECK_EQ((uint64_t)st.st_ino, at); /* the slot asked for */
	store_release(si);
}

static void check_at(struct store *s, uint64_t at)
{
	char name[32], buf[32] = {0};
	struct store_inode *si;
	snprintf(name, sizeof(name), "f%llu", (unsigned long long)at);
	CHECKF(store_open(s, name, O_RDONLY, 0, &si) == 0, "%s lost at remount", name);
	CHECK_EQ(store_read(si, buf, sizeof(buf), 0), (ssize_t)strlen(name));
	CHECK(!strcmp(buf, name));
	store_release(si);
}

TEST(inodes_past_holes_remount)
{
	/* slots in the first block, past holes, across groups of VS_INO_GROUP
	 * and words of the group bitmap, and the last slot of the table */
	vol_new_image(4ll << 30, 0);
	struct store *s = vol_mount_img();
	uint64_t last = VS(s)->ninodes - 1;
	uint64_t at[] = {5, 17, 700, 5000, 64 * VS_INO_GROUP + 3, 200001, last};
	size_t nat = sizeof(at) / sizeof(at[0]);
	for (size_t i = 0; i < nat; i++)
		make_at(s, at[i]);
	CHECK_EQ(store_close(s), 0);
	vol_fsck_clean();
	s = vol_mount_img();
	CHECK_EQ(VS(s)->inodes_used, nat + 1); /* and the root */
	for (size_t i = 0; i < nat; i++)
		check_at(s, at[i]);
	/* unlinked while open: an orphan past holes, freed by the next mount */
	struct store_inode *si;
	CHECK_EQ(store_open(s, "f200001", O_RDWR, 0, &si), 0);
	CHECK_EQ(store_unlink(s, "f200001"), 0);
	CHECK_EQ(store_sync(si, false), 0); /* commits it as an orphan */
	struct vol_dev *d = &VS(s)->v->dev;
	d->stop_at = (long)d->writes + 1; /* the device stops: a crash after the sync */
	store_release(si);
	store_close(s);
	s = vol_mount_img();
	CHECK_EQ(VS(s)->inodes_used, nat);
	CHECK(!VS(s)->inodes[200001]);
	CHECK_EQ(store_close(s), 0);
	vol_fsck_clean();
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

TEST(large_empty_mount_smoke)
{
	vol_new_image(1ll << 40, 0);
	double t0 = now();
	struct store *s = vol_mount_img();
	double t1 = now();
	uint64_t n = VS(s)->ninodes;
	unsigned long reads = VS(s)->v->dev.reads;
	CHECK_EQ(store_close(s), 0);
	printf("# empty 1 TiB sparse image, %llu inode slots: mount %.3f s, %lu blocks read "
	       "(not asserted: bench_vol asserts the bound)\n",
	       (unsigned long long)n, t1 - t0, reads);
	CHECK(n >= 64ull << 20);
}

/* SPDX-License-Identifier: MIT */
/*
 * vol inode record tests: encode/decode round trip; every single-bit flip
 * of a slot rejected; a slot copied to another number rejected; semantic
 * checks; free slots; read/write in an image next to other slots; mkfs's
 * root directory; a corrupt root inode fails the mount.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "fixture.h"
#include "store/vol/inode.h"
#include "store/vol/volume.h"

static struct vol_super test_sb(void)
{
	struct vol_super sb;
	CHECK_EQ(vol_super_init(&sb, 4096), 0);
	return sb;
}

static struct vol_disk_inode sample(void)
{
	struct vol_disk_inode in = {.mode = S_IFREG | 0640,
				    .nlink = 3,
				    .uid = 1000,
				    .gid = 100,
				    .size = 123456789,
				    .atime_sec = -5,
				    .mtime_sec = 1700000000,
				    .ctime_sec = 1700000001,
				    .atime_nsec = 999999999,
				    .mtime_nsec = 1,
				    .ctime_nsec = 500,
				    .generation = 7};
	return in;
}

TEST(inode_round_trip_and_flips)
{
	struct vol_super sb = test_sb();
	struct vol_disk_inode in = sample(), out;
	char slot[VOL_INODE_SIZE], bad[VOL_INODE_SIZE];
	const char *why;

	in.extent_root = sb.data_start;
	in.blocks = 10;
	vol_inode_encode(5, &in, slot);
	CHECK_EQ(vol_inode_decode(&sb, 5, slot, &out, &why), 0);
	CHECK(memcmp(&in, &out, offsetof(struct vol_disk_inode, crc)) == 0);
	CHECK_EQ(vol_inode_decode(&sb, 6, slot, &out, &why), -EUCLEAN); /* misplaced */
	for (unsigned bit = 0; bit < VOL_INODE_SIZE * 8; bit++) {
		memcpy(bad, slot, sizeof(bad));
		bad[bit / 8] ^= (char)(1 << (bit % 8));
		CHECKF(vol_inode_decode(&sb, 5, bad, &out, &why) == -EUCLEAN, "bit %u", bit);
		CHECK(why && strncmp(why, "vol: ", 5) == 0);
	}
	memset(bad, 0, sizeof(bad));
	CHECK_EQ(vol_inode_decode(&sb, 5, bad, &out, &why), -ENOENT);
}

TEST(inode_semantic_checks)
{
	struct vol_super sb = test_sb();
	char slot[VOL_INODE_SIZE];
	struct vol_disk_inode out;
	const char *why;
	struct vol_disk_inode cases[6];
	for (int i = 0; i < 6; i++)
		cases[i] = sample();
	cases[0].mode = S_IFCHR | 0600;
	cases[1].nlink = 0;
	cases[2].mtime_nsec = 1000000000u;
	cases[3].extent_root = 1; /* the journal */
	cases[4].extent_root = sb.nblocks;
	cases[5].mode |= 0100000000;
	for (int i = 0; i < 6; i++) {
		vol_inode_encode(9, &cases[i], slot);
		CHECKF(vol_inode_decode(&sb, 9, slot, &out, &why) == -EUCLEAN, "case %d", i);
	}
}

TEST(inode_image_io_mkfs_root_and_mount)
{
	char img[2100];
	struct vol_super sb;
	struct vol_disk_inode in = sample(), out;
	const char *why;

	snprintf(img, sizeof(img), "%s/vol", fresh_dir(NULL));
	CHECK_EQ(vol_mkfs(img, 16ull << 20), 0);
	CHECK_EQ(vol_read_super(img, &sb, NULL), 0);
	int fd = open(img, O_RDWR);
	CHECK_EQ(vol_inode_read(fd, &sb, VOL_ROOT_INO, &out, &why), 0);
	CHECK(S_ISDIR(out.mode) && out.nlink == 2 && out.size == 0 && out.extent_root == 0);
	uint64_t n = vol_inode_count(&sb);
	CHECK_EQ(n, sb.itable_blocks * (VOL_BLOCK_SIZE / VOL_INODE_SIZE));
	CHECK_EQ(vol_inode_read(fd, &sb, 0, &out, &why), -EINVAL);
	CHECK_EQ(vol_inode_read(fd, &sb, n, &out, &why), -EINVAL);
	CHECK_EQ(vol_inode_write(fd, &sb, n, &in), -EINVAL);
	CHECK_EQ(vol_inode_read(fd, &sb, 2, &out, &why), -ENOENT);
	/* neighbours in one table block do not disturb each other */
	for (uint64_t ino = 2; ino < 40; ino++) {
		in.size = ino;
		CHECK_EQ(vol_inode_write(fd, &sb, ino, &in), 0);
	}
	CHECK_EQ(vol_inode_write(fd, &sb, 17, NULL), 0);
	for (uint64_t ino = 2; ino < 40; ino++) {
		int r = vol_inode_read(fd, &sb, ino, &out, &why);
		if (ino == 17) {
			CHECK_EQ(r, -ENOENT);
			continue;
		}
		CHECK_EQ(r, 0);
		CHECK_EQ(out.size, ino);
	}
	CHECK_EQ(vol_inode_read(fd, &sb, VOL_ROOT_INO, &out, &why), 0);
	CHECK_EQ(vol_inode_read(fd, &sb, n - 1, &out, &why), -ENOENT);

	/* a damaged or non-directory root inode fails the mount */
	struct vol *v;
	CHECK_EQ(vol_mount(img, &v, &why), 0);
	vol_unmount(v);
	struct vol_disk_inode root;
	CHECK_EQ(vol_inode_read(fd, &sb, VOL_ROOT_INO, &root, &why), 0);
	off_t at = (off_t)(sb.itable_start * VOL_BLOCK_SIZE + VOL_INODE_SIZE + 20);
	char c;
	CHECK_EQ(pread(fd, &c, 1, at), 1);
	c ^= 1;
	CHECK_EQ(pwrite(fd, &c, 1, at), 1);
	CHECK_EQ(vol_mount(img, &v, &why), -EUCLEAN);
	CHECK(strstr(why, "inode") != NULL);
	in.size = 0;
	CHECK_EQ(vol_inode_write(fd, &sb, VOL_ROOT_INO, &in), 0); /* a regular file */
	CHECK_EQ(vol_mount(img, &v, &why), -EUCLEAN);
	CHECK(strstr(why, "root inode") != NULL);
	CHECK_EQ(vol_inode_write(fd, &sb, VOL_ROOT_INO, NULL), 0); /* missing */
	CHECK_EQ(vol_mount(img, &v, &why), -EUCLEAN);
	CHECK_EQ(vol_inode_write(fd, &sb, VOL_ROOT_INO, &root), 0);
	CHECK_EQ(vol_mount(img, &v, &why), 0);
	vol_unmount(v);
	close(fd);
}

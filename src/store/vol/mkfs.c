/* SPDX-License-Identifier: MIT */
/*
 * mkfs.c - vol_create(): an empty volume in an image file (created sparse
 * if missing) or on a block device, under the image's exclusive flock; and
 * vol_probe_existing(): what file system an image already holds, so that
 * `pagecache mkfs` does not reformat one without --force.
 *
 * Locking: none (the flock keeps a mounted image out: -EBUSY).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/vol/format.h"
#include "store/vol/vol.h"
#include "store/vol/vstore.h"

/* Zero [start, start+n) blocks (a block device: no sparse truncate). */
static int zero_blocks(int fd, uint64_t start, uint64_t n)
{
	char *z = calloc(256, VOL_BLOCK_SIZE);
	int r = z ? 0 : -ENOMEM;
	while (!r && n) {
		uint64_t k = n < 256 ? n : 256;
		r = vol_dev_pwrite(NULL, fd, z, k * VOL_BLOCK_SIZE,
				   (off_t)(start * VOL_BLOCK_SIZE));
		start += k;
		n -= k;
	}
	free(z);
	return r;
}

int vol_create(const char *image, const struct vol_mkfs_opts *opts)
{
	struct vol_super sb;
	struct stat st;
	int fd, r;

	if (!image || !opts || opts->size < 0)
		return -EINVAL;
	r = vol_lock_image(image, O_RDWR | O_CREAT, &fd);
	if (r)
		return r;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	uint64_t size = (uint64_t)opts->size;
	if (S_ISBLK(st.st_mode)) {
		uint64_t dev = 0;
		if (ioctl(fd, BLKGETSIZE64, &dev) < 0) {
			r = -errno;
			goto out;
		}
		if (!size)
			size = dev;
		if (size > dev) {
			r = -EINVAL;
			goto out;
		}
	} else if (S_ISREG(st.st_mode)) {
		if (!size)
			size = (uint64_t)st.st_size;
	} else {
		r = -EINVAL;
		goto out;
	}
	r = vol_super_init_geom(&sb, size / VOL_BLOCK_SIZE, opts->inodes,
				(uint64_t)opts->journal_kb / 4);
	if (r)
		goto out;
	if (S_ISREG(st.st_mode)) { /* everything reads as zeroes */
		if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)(sb.nblocks * VOL_BLOCK_SIZE)) < 0)
			r = -errno;
	} else {
		r = zero_blocks(fd, 0, sb.data_start);
	}
	if (!r)
		r = vol_mkfs_fd(fd, &sb);
out:
	close(fd);
	return r;
}

static bool probe_at(int fd, off_t off, const void *magic, size_t len)
{
	char buf[16];
	return len <= sizeof(buf) && pread(fd, buf, len, off) == (ssize_t)len &&
	       !memcmp(buf, magic, len);
}

int vol_probe_existing(const char *image, const char **what)
{
	struct stat st;
	uint64_t size = 0, magic = VOL_MAGIC;
	int r = 0;

	*what = NULL;
	int fd = open(image, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &size) < 0)
		r = -errno;
	else if (S_ISREG(st.st_mode))
		size = (uint64_t)st.st_size;
	if (r) {
		close(fd);
		return r;
	}
	uint64_t last = size / VOL_BLOCK_SIZE;
	if (probe_at(fd, 0, &magic, 8))
		*what = "a vol volume";
	else if (last > 1 && probe_at(fd, (off_t)((last - 1) * VOL_BLOCK_SIZE), &magic, 8))
		*what = "a vol volume (its backup superblock)";
	else if (probe_at(fd, 1080, "\x53\xef", 2))
		*what = "an ext2/ext3/ext4 file system";
	else if (probe_at(fd, 0, "XFSB", 4))
		*what = "an XFS file system";
	else if (probe_at(fd, 65536 + 64, "_BHRfS_M", 8))
		*what = "a btrfs file system";
	else if (probe_at(fd, 4086, "SWAPSPACE2", 10) || probe_at(fd, 4086, "SWAP-SPACE", 10))
		*what = "a swap area";
	else if (probe_at(fd, 510, "\x55\xaa", 2))
		*what = "a boot sector or partition table";
	close(fd);
	return *what ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * mkfs.c - vol_create(): an empty volume in an image file (created sparse
 * if missing) or on a block device, under the image's exclusive flock.
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

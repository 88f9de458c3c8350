/* SPDX-License-Identifier: MIT */
/*
 * inode.c - vol inode records (see inode.h).
 *
 * Locking: none; the caller serialises access to a table block.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/vol/inode.h"

#define PER_BLOCK (VOL_BLOCK_SIZE / VOL_INODE_SIZE)

uint64_t vol_inode_count(const struct vol_super *sb)
{
	return sb->itable_blocks * PER_BLOCK;
}

static uint32_t slot_crc(uint64_t ino, const struct vol_disk_inode *in)
{
	struct vol_disk_inode tmp = *in;

	tmp.crc = 0;
	/* seeded with the number: a slot copied to the wrong place fails */
	return vol_crc32c(vol_crc32c(0, &ino, sizeof(ino)), &tmp, sizeof(tmp));
}

void vol_inode_encode(uint64_t ino, const struct vol_disk_inode *in, void *slot)
{
	struct vol_disk_inode tmp = *in;

	tmp.crc = slot_crc(ino, &tmp);
	memcpy(slot, &tmp, sizeof(tmp));
}

static int all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	return n == 0 || (c[0] == 0 && memcmp(c, c + 1, n - 1) == 0);
}

int vol_inode_decode(const struct vol_super *sb, uint64_t ino, const void *slot,
		     struct vol_disk_inode *out, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	*why = NULL;
	if (all_zero(slot, VOL_INODE_SIZE))
		return -ENOENT;
	memcpy(out, slot, sizeof(*out));
	*why = "vol: inode checksum mismatch";
	if (out->crc != slot_crc(ino, out))
		return -EUCLEAN;
	*why = "vol: inode has a bad mode or link count";
	unsigned t = out->mode & S_IFMT;
	if (out->mode & ~(S_IFMT | 07777u) ||
	    (out->nlink == 0) != !!(out->flags & VOL_INO_ORPHAN) ||
	    (out->flags & ~VOL_INO_ORPHAN) ||
	    (t != S_IFREG && t != S_IFDIR && t != S_IFLNK && !vol_mode_special(t)))
		return -EUCLEAN;
	*why = "vol: special inode with data, or rdev on a non-device";
	if ((vol_mode_special(t) && (out->size || out->extent_root || out->blocks)) ||
	    (out->rdev && t != S_IFCHR && t != S_IFBLK))
		return -EUCLEAN;
	*why = "vol: inode uses bytes reserved by this version";
	if (!all_zero(out->reserved, sizeof(out->reserved)))
		return -EUCLEAN;
	*why = "vol: inode xattr block out of bounds";
	if (out->xattr_blk &&
	    (out->xattr_blk < sb->data_start || out->xattr_blk >= vol_data_end(sb)))
		return -EUCLEAN;
	*why = "vol: inode timestamp nanoseconds out of range";
	if (out->atime_nsec >= 1000000000u || out->mtime_nsec >= 1000000000u ||
	    out->ctime_nsec >= 1000000000u)
		return -EUCLEAN;
	*why = "vol: inode extent root or block count out of bounds";
	if ((out->extent_root &&
	     (out->extent_root < sb->data_start || out->extent_root >= sb->nblocks)) ||
	    out->blocks > sb->nblocks || out->size > (uint64_t)INT64_MAX)
		return -EUCLEAN;
	*why = NULL;
	return 0;
}

static int slot_io(int fd, const struct vol_super *sb, uint64_t ino, char *blk, off_t *at)
{
	if (ino == 0 || ino >= vol_inode_count(sb))
		return -EINVAL;
	*at = (off_t)((sb->itable_start + ino / PER_BLOCK) * VOL_BLOCK_SIZE);
	ssize_t n = pread(fd, blk, VOL_BLOCK_SIZE, *at);
	if (n < 0)
		return -errno;
	return n == VOL_BLOCK_SIZE ? 0 : -EIO;
}

int vol_inode_read(int fd, const struct vol_super *sb, uint64_t ino, struct vol_disk_inode *out,
		   const char **why)
{
	char blk[VOL_BLOCK_SIZE];
	off_t at;
	int r = slot_io(fd, sb, ino, blk, &at);
	if (r)
		return r;
	return vol_inode_decode(sb, ino, blk + (ino % PER_BLOCK) * VOL_INODE_SIZE, out, why);
}

int vol_inode_write(int fd, const struct vol_super *sb, uint64_t ino,
		    const struct vol_disk_inode *in)
{
	char blk[VOL_BLOCK_SIZE];
	off_t at;
	int r = slot_io(fd, sb, ino, blk, &at);
	if (r)
		return r;
	char *slot = blk + (ino % PER_BLOCK) * VOL_INODE_SIZE;
	if (in)
		vol_inode_encode(ino, in, slot);
	else
		memset(slot, 0, VOL_INODE_SIZE); /* free the slot */
	ssize_t n = pwrite(fd, blk, VOL_BLOCK_SIZE, at);
	if (n < 0)
		return -errno;
	return n == VOL_BLOCK_SIZE ? 0 : -EIO;
}

/* SPDX-License-Identifier: MIT */
/*
 * inode.h - vol inode records: 256-byte slots in the inode table, each with
 * its own crc32c; inode 0 is never used, 1 is the root directory. A slot of
 * all zeroes is a free inode. Encode/decode, and read/write of one slot in
 * an image (read-modify-write of its table block).
 *
 * Locking: none; the caller serialises access to a table block.
 */
#ifndef PC_STORE_VOL_INODE_H
#define PC_STORE_VOL_INODE_H

#include <stdint.h>

#include "store/vol/format.h"

struct vol_disk_inode {
	uint32_t mode; /* S_IFMT | permissions; 0: free slot */
	uint32_t nlink;
	uint32_t uid, gid;
	uint64_t size;
	int64_t atime_sec, mtime_sec, ctime_sec;
	uint32_t atime_nsec, mtime_nsec, ctime_nsec;
	uint32_t flags;	      /* VOL_INO_* */
	uint64_t extent_root; /* root of the extent-map tree, 0: no extents */
	uint64_t blocks;      /* blocks mapped (data only) */
	uint64_t generation;  /* bumped when the slot is reused */
	uint64_t next_cookie; /* directories: the readdir cookie the next entry gets */
	uint64_t rdev;	      /* character and block devices: the device number */
	uint64_t xattr_blk;   /* the extended-attribute block (xattr.c), 0: none */
	uint8_t reserved[140];
	uint32_t crc; /* crc32c of the slot with crc = 0, seeded with the inode number */
} __attribute__((packed));

_Static_assert(sizeof(struct vol_disk_inode) == VOL_INODE_SIZE, "inode layout");

#define VOL_ROOT_INO 1ull

/* flags: an orphan was unlinked while open (nlink 0); mount frees it */
#define VOL_INO_ORPHAN 0x1u

/* The directory-entry type (DT_*) of an inode of @mode. */
static inline uint8_t vol_dtype(uint32_t mode)
{
	switch (mode & 0170000u) {
	case 0040000u:
		return 4; /* DT_DIR */
	case 0120000u:
		return 10; /* DT_LNK */
	case 0010000u:
		return 1; /* DT_FIFO */
	case 0140000u:
		return 12; /* DT_SOCK */
	case 0020000u:
		return 2; /* DT_CHR */
	case 0060000u:
		return 6; /* DT_BLK */
	default:
		return 8; /* DT_REG */
	}
}

/* A fifo, socket or device: no data, no extents (rdev for devices). */
static inline int vol_mode_special(uint32_t mode)
{
	uint32_t t = mode & 0170000u;
	return t == 0010000u || t == 0140000u || t == 0020000u || t == 0060000u;
}

/* Highest inode number + 1 the table holds. */
uint64_t vol_inode_count(const struct vol_super *sb);
void vol_inode_encode(uint64_t ino, const struct vol_disk_inode *in, void *slot);
/* 0, -ENOENT (a free slot), or -EUCLEAN with *why (bad crc, bad mode, nsec
 * out of range, extent root outside the data area, nlink 0 in use). */
int vol_inode_decode(const struct vol_super *sb, uint64_t ino, const void *slot,
		     struct vol_disk_inode *out, const char **why);
/* Read or write inode ino of the image at fd. -EINVAL for ino out of range. */
int vol_inode_read(int fd, const struct vol_super *sb, uint64_t ino, struct vol_disk_inode *out,
		   const char **why);
int vol_inode_write(int fd, const struct vol_super *sb, uint64_t ino,
		    const struct vol_disk_inode *in);

#endif

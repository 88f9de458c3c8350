/* SPDX-License-Identifier: MIT */
/*
 * format.h - the on-disk format of the "vol" store (docs/vol-format.md) and
 * the pieces of it implemented so far: crc32c, superblock encode/decode with
 * checksum and geometry checks, vol_mkfs() and vol_read_super().
 *
 * All on-disk integers are little-endian; every metadata block ends with (or
 * carries in a fixed field) a crc32c of its contents with the crc field zero.
 *
 * Locking: none; these are pure functions plus file I/O on a caller's fd.
 */
#ifndef PC_STORE_VOL_FORMAT_H
#define PC_STORE_VOL_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "kernel/testswitch.h"

#define VOL_MAGIC	   0x314c4f5643474150ull /* "PAGCVOL1" little-endian */
#define VOL_VERSION	   1u
#define VOL_BLOCK_SIZE	   4096u
#define VOL_BLOCK_SHIFT	   12
#define VOL_INODE_SIZE	   256u
#define VOL_MIN_BLOCKS	   64ull
#define VOL_JOURNAL_BLOCKS 1024ull /* capped at 1/8 of the volume */

/* feature bits: incompat ones a reader must understand to mount */
#define VOL_FEAT_INCOMPAT_EXTENT_BTREE 0x1u
#define VOL_FEAT_INCOMPAT_JOURNAL      0x2u
/* set while mounted (cleared by a clean unmount): the journal may hold a
 * chain of transactions logging data-area blocks, which a reader without
 * it would replay wrongly (only the first transaction) */
#define VOL_FEAT_INCOMPAT_JCHAIN 0x4u
/* set by the first commit that writes an inode using its extension fields
 * (an xattr block, a device number) or a special file type (fifo, socket,
 * device): a reader without it would take an xattr block for a leaked one
 * (its fsck "freeing" it) and a special inode for a corrupt one */
#define VOL_FEAT_INCOMPAT_INODE_EXT 0x8u
/* set by the first commit that shares a data block between extents (a
 * clone): blocks may be mapped more than once, as the reference-count tree
 * (superblock refc_root) says; a reader without it would free a shared
 * block at the first unmap (and its fsck would "repair" every share) */
#define VOL_FEAT_INCOMPAT_REFLINK 0x10u
#define VOL_FEAT_INCOMPAT_MKFS	  (VOL_FEAT_INCOMPAT_EXTENT_BTREE | VOL_FEAT_INCOMPAT_JOURNAL)
#define VOL_FEAT_INCOMPAT_SUPPORTED                                                        \
	(VOL_FEAT_INCOMPAT_MKFS | VOL_FEAT_INCOMPAT_JCHAIN | VOL_FEAT_INCOMPAT_INODE_EXT | \
	 VOL_FEAT_INCOMPAT_REFLINK)
/* compat ones a reader may ignore: the last block holds a backup superblock */
#define VOL_FEAT_COMPAT_BACKUP_SB 0x1u

/* Block 0: the superblock (first 256 bytes used, rest zero). */
struct vol_super {
	uint64_t magic;
	uint32_t version;
	uint32_t block_size;
	uint32_t feat_compat;
	uint32_t feat_incompat;
	uint64_t nblocks;	/* volume size in blocks */
	uint64_t journal_start; /* first journal block */
	uint64_t journal_blocks;
	uint64_t itable_start;	/* first inode-table block */
	uint64_t itable_blocks; /* VOL_BLOCK_SIZE / VOL_INODE_SIZE inodes each */
	uint64_t free_root;	/* root block of the free-extent B-tree (0: empty) */
	uint64_t data_start;	/* first block the allocator may hand out */
	uint64_t free_blocks;	/* count of free blocks */
	uint64_t root_ino;	/* the root directory's inode number */
	uint64_t generation;	/* bumped at every metadata commit */
	uint8_t uuid[16];
	/* inode generations below this may have been handed out (export
	 * handles): new inodes take theirs from here up, and the limit moves
	 * up by a batch, durably, before one at or above it is used */
	uint64_t ino_gen_limit;
	/* REFLINK: root of the reference-count tree (owner VOL_REFC_OWNER,
	 * keyed by volume block: the data blocks mapped more than once and
	 * how often), 0: none; and the blocks it names (shared blocks, each
	 * counted once) */
	uint64_t refc_root;
	uint64_t shared_blocks;
	uint8_t reserved[108];
	uint32_t crc; /* crc32c of the 256 bytes with crc = 0 */
} __attribute__((packed));

_Static_assert(sizeof(struct vol_super) == 256, "superblock layout");

/* One extent, as stored in extent-map and free-space B-tree leaves. */
#define VOL_EXT_UNWRITTEN 0x1u
#define VOL_EXT_MAX32	  0xffffffffull /* longest extent an on-disk record holds */
/* Owner of the reference-count tree's nodes: leaf entries {lblk = pblk =
 * first volume block, len, flags = the count (>= 2)}. */
#define VOL_REFC_OWNER UINT64_MAX
struct vol_disk_extent {
	uint64_t lblk;	/* file block (free tree: unused, 0) */
	uint64_t pblk;	/* volume block */
	uint32_t len;	/* blocks */
	uint32_t flags; /* VOL_EXT_* */
} __attribute__((packed));

_Static_assert(sizeof(struct vol_disk_extent) == 24, "extent layout");

/* B-tree node header, at the start of every extent-map / free-tree block. */
#define VOL_NODE_MAGIC 0x45444f4eu /* "NODE" */
struct vol_node_hdr {
	uint32_t magic;
	uint16_t level; /* 0: leaf of vol_disk_extent, else index of vol_index */
	uint16_t nr;
	uint64_t owner; /* inode number, or 0 for the free tree */
	uint32_t crc;	/* crc32c of the whole block with crc = 0 */
	uint32_t pad;
} __attribute__((packed));

struct vol_index {
	uint64_t key; /* first lblk (or pblk for the free tree) below child */
	uint64_t child;
} __attribute__((packed));

/* One past the last data-area block: the backup superblock, when the volume
 * has one, is the last block and outside the data area. */
static inline uint64_t vol_data_end(const struct vol_super *sb)
{
	return sb->nblocks - ((sb->feat_compat & VOL_FEAT_COMPAT_BACKUP_SB) ? 1 : 0);
}

uint32_t vol_crc32c(uint32_t crc, const void *buf, size_t len);
/* Tests: vol_crc32c uses its table even where the CPU has the SSE4.2 crc32
 * instruction (the two must agree). */
DECLARE_TEST_SWITCH(vol_test_crc_table);

/* Geometry for a volume of nblocks: fills sb (crc included). -EINVAL if too small. */
int vol_super_init(struct vol_super *sb, uint64_t nblocks);
/* The same with a chosen inode count and journal size (0: the defaults). */
int vol_super_init_geom(struct vol_super *sb, uint64_t nblocks, uint64_t ninodes, uint64_t jblocks);
/* Writes an empty volume of geometry sb into fd, whose journal and inode
 * table read as zeroes: journal header, free-tree root, root directory,
 * then (after a flush) the superblock. 0 or -errno. */
int vol_mkfs_fd(int fd, const struct vol_super *sb);
/* Encode/decode to a 4096-byte block; decode checks magic, crc, version,
 * features and geometry: -EINVAL (not a vol), -EUCLEAN (corrupt), -EOPNOTSUPP. */
void vol_super_encode(const struct vol_super *sb, void *block);
int vol_super_decode(struct vol_super *sb, const void *block, const char **why);

/* Create a volume image of size bytes at path (created/truncated). 0 or -errno. */
int vol_mkfs(const char *path, uint64_t size);
/* Read and check the superblock of the image at path. 0 or -errno; *why says
 * what (a damaged superblock with an intact backup: -EUCLEAN, naming fsck). */
int vol_read_super(const char *path, struct vol_super *sb, const char **why);
/* The backup superblock of the image open at fd: the last block of the image
 * or, when @hint (a damaged primary, may be NULL) has the right magic, block
 * hint->nblocks - 1; it must decode, carry VOL_FEAT_COMPAT_BACKUP_SB and lie
 * at its own nblocks - 1. 0, -ENOENT (none), or -errno. Its geometry is
 * authoritative; free_root, free_blocks and generation are mkfs's. */
int vol_read_backup(int fd, const struct vol_super *hint, struct vol_super *out);

#endif

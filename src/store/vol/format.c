/* SPDX-License-Identifier: MIT */
/*
 * format.c - crc32c (Castagnoli polynomial, reflected: the SSE4.2 crc32
 * instruction where the CPU has it, else a table),
 * superblock encode/decode and checks, vol_mkfs(), vol_read_super() and
 * the backup superblock in the last block (VOL_FEAT_COMPAT_BACKUP_SB:
 * written by mkfs only - it holds the geometry, which never changes).
 *
 * Locking: none; the crc table (and the CPU check) is set up once under
 * pthread_once.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/vol/format.h"
#include "store/vol/inode.h"
#include "store/vol/io.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "vol format: little-endian host only");

static uint32_t crc_table[256];
static bool crc_hw_ok;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

TEST_SWITCH(vol_test_crc_table);

static void crc_init(void)
{
	crc_hw_ok = __builtin_cpu_supports("sse4.2");
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
}

/* The same sums eight bytes an instruction (a mount checks every inode,
 * tree node and directory block it reads). */
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;
	for (; len >= 8; len -= 8, p += 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
	}
	uint32_t c32 = (uint32_t)c;
	while (len--)
		c32 = __builtin_ia32_crc32qi(c32, *p++);
	return c32;
}

uint32_t vol_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	pthread_once(&crc_once, crc_init);
	if (crc_hw_ok && !vol_test_crc_table)
		return ~crc_hw(~crc, p, len);
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint32_t super_crc(const struct vol_super *sb)
{
	struct vol_super tmp = *sb;

	tmp.crc = 0;
	return vol_crc32c(0, &tmp, sizeof(tmp));
}

int vol_super_init(struct vol_super *sb, uint64_t nblocks)
{
	return vol_super_init_geom(sb, nblocks, 0, 0);
}

int vol_super_init_geom(struct vol_super *sb, uint64_t nblocks, uint64_t ninodes, uint64_t jblocks)
{
	if (nblocks < VOL_MIN_BLOCKS)
		return -EINVAL;
	memset(sb, 0, sizeof(*sb));
	sb->magic = VOL_MAGIC;
	sb->version = VOL_VERSION;
	sb->block_size = VOL_BLOCK_SIZE;
	sb->feat_incompat = VOL_FEAT_INCOMPAT_MKFS;
	sb->feat_compat = VOL_FEAT_COMPAT_BACKUP_SB;
	sb->nblocks = nblocks;
	sb->journal_start = 1;
	sb->journal_blocks = nblocks / 8 < VOL_JOURNAL_BLOCKS ? nblocks / 8 : VOL_JOURNAL_BLOCKS;
	if (jblocks) {
		if (jblocks < 8 || jblocks > nblocks / 2)
			return -EINVAL;
		sb->journal_blocks = jblocks;
	}
	sb->itable_start = sb->journal_start + sb->journal_blocks;
	/* one inode per 16 KiB of volume, at least one table block */
	uint64_t inodes = nblocks / 4;
	uint64_t per = VOL_BLOCK_SIZE / VOL_INODE_SIZE;
	if (ninodes) {
		if (ninodes < 2 || ninodes / per > nblocks / 2)
			return -EINVAL;
		inodes = ninodes;
	}
	sb->itable_blocks = (inodes + per - 1) / per;
	if (sb->itable_blocks == 0)
		sb->itable_blocks = 1;
	sb->free_root = sb->itable_start + sb->itable_blocks;
	sb->data_start = sb->free_root + 1;
	if (sb->data_start >= vol_data_end(sb))
		return -EINVAL;
	sb->free_blocks = vol_data_end(sb) - sb->data_start;
	sb->root_ino = 1;
	sb->generation = 1;
	if (getrandom(sb->uuid, sizeof(sb->uuid), 0) != (ssize_t)sizeof(sb->uuid))
		for (int i = 0; i < 16; i++)
			sb->uuid[i] = (uint8_t)random();
	sb->crc = super_crc(sb);
	return 0;
}

void vol_super_encode(const struct vol_super *sb, void *block)
{
	struct vol_super tmp = *sb;

	tmp.crc = super_crc(&tmp);
	memset(block, 0, VOL_BLOCK_SIZE);
	memcpy(block, &tmp, sizeof(tmp));
}

#define BAD(err, msg)         \
	do {                  \
		*why = (msg); \
		return (err); \
	} while (0)

int vol_super_decode(struct vol_super *sb, const void *block, const char **why)
{
	const char *dummy;

	if (!why)
		why = &dummy;
	memcpy(sb, block, sizeof(*sb));
	if (sb->magic != VOL_MAGIC)
		BAD(-EINVAL, "vol: bad superblock magic (not a vol image)");
	if (sb->crc != super_crc(sb))
		BAD(-EUCLEAN, "vol: superblock checksum mismatch");
	if (sb->version != VOL_VERSION)
		BAD(-EOPNOTSUPP, "vol: unsupported format version");
	if (sb->feat_incompat & ~VOL_FEAT_INCOMPAT_SUPPORTED)
		BAD(-EOPNOTSUPP, "vol: unsupported incompatible features");
	if (sb->block_size != VOL_BLOCK_SIZE)
		BAD(-EUCLEAN, "vol: bad block size");
	if (sb->nblocks < VOL_MIN_BLOCKS)
		BAD(-EUCLEAN, "vol: volume too small");
	/* regions in order, disjoint, inside the volume */
	/* journal, inode table, mkfs's free-tree root block, data: in order,
	 * disjoint, inside the volume; the free tree's root (0: no free space)
	 * is mkfs's block or, after a commit, a data-area block */
	if (sb->journal_start != 1 || sb->journal_blocks == 0 || sb->journal_blocks > sb->nblocks ||
	    sb->itable_start != sb->journal_start + sb->journal_blocks || sb->itable_blocks == 0 ||
	    sb->itable_blocks > sb->nblocks ||
	    sb->data_start != sb->itable_start + sb->itable_blocks + 1 ||
	    sb->data_start >= vol_data_end(sb) ||
	    (sb->free_root && sb->free_root != sb->data_start - 1 &&
	     (sb->free_root < sb->data_start || sb->free_root >= vol_data_end(sb))))
		BAD(-EUCLEAN, "vol: superblock geometry out of bounds");
	if (sb->free_blocks > vol_data_end(sb) - sb->data_start)
		BAD(-EUCLEAN, "vol: free block count exceeds data area");
	if ((sb->refc_root || sb->shared_blocks) &&
	    !(sb->feat_incompat & VOL_FEAT_INCOMPAT_REFLINK))
		BAD(-EUCLEAN, "vol: reference-count tree without the REFLINK feature");
	if ((sb->refc_root &&
	     (sb->refc_root < sb->data_start || sb->refc_root >= vol_data_end(sb))) ||
	    sb->shared_blocks > vol_data_end(sb) - sb->data_start)
		BAD(-EUCLEAN, "vol: reference-count tree out of bounds");
	if (sb->root_ino == 0 ||
	    sb->root_ino >= sb->itable_blocks * (VOL_BLOCK_SIZE / VOL_INODE_SIZE))
		BAD(-EUCLEAN, "vol: root inode number out of range");
	*why = NULL;
	return 0;
}

/* The free tree's initial root: one leaf holding the whole data area. */
static void free_leaf_init(const struct vol_super *sb, void *block)
{
	struct vol_node_hdr h = {.magic = VOL_NODE_MAGIC, .level = 0, .nr = 0, .owner = 0};
	char *b = block;

	memset(block, 0, VOL_BLOCK_SIZE);
	/* the data area may exceed a 32-bit extent length: split it */
	uint64_t pos = sb->data_start, left = vol_data_end(sb) - sb->data_start;
	struct vol_disk_extent *e = (struct vol_disk_extent *)(b + sizeof(h));
	while (left) {
		uint32_t n = left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
		e[h.nr++] = (struct vol_disk_extent){.lblk = 0, .pblk = pos, .len = n};
		pos += n;
		left -= n;
	}
	memcpy(b, &h, sizeof(h));
	uint32_t crc = vol_crc32c(0, b, VOL_BLOCK_SIZE);
	memcpy(b + offsetof(struct vol_node_hdr, crc), &crc, sizeof(crc));
}

int vol_mkfs_fd(int fd, const struct vol_super *sbp)
{
	struct vol_super sb = *sbp;
	char *blk = calloc(1, VOL_BLOCK_SIZE);
	int r = blk ? 0 : -ENOMEM;

	if (!r) { /* no transaction in the journal */
		r = vol_dev_pwrite(NULL, fd, blk, VOL_BLOCK_SIZE,
				   (off_t)(sb.journal_start * VOL_BLOCK_SIZE));
	}
	if (!r) {
		free_leaf_init(&sb, blk);
		r = vol_dev_pwrite(NULL, fd, blk, VOL_BLOCK_SIZE,
				   (off_t)(sb.free_root * VOL_BLOCK_SIZE));
	}
	if (!r) { /* the root directory */
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		struct vol_disk_inode root = {.mode = S_IFDIR | 0755,
					      .nlink = 2,
					      .uid = (uint32_t)getuid(),
					      .gid = (uint32_t)getgid(),
					      .atime_sec = now.tv_sec,
					      .mtime_sec = now.tv_sec,
					      .ctime_sec = now.tv_sec,
					      .atime_nsec = (uint32_t)now.tv_nsec,
					      .mtime_nsec = (uint32_t)now.tv_nsec,
					      .ctime_nsec = (uint32_t)now.tv_nsec,
					      .generation = 1,
					      .next_cookie = 1};
		r = vol_inode_write(fd, &sb, sb.root_ino, &root);
	}
	if (!r && (sb.feat_compat & VOL_FEAT_COMPAT_BACKUP_SB)) {
		vol_super_encode(&sb, blk);
		r = vol_dev_pwrite(NULL, fd, blk, VOL_BLOCK_SIZE,
				   (off_t)((sb.nblocks - 1) * VOL_BLOCK_SIZE));
	}
	if (!r && fsync(fd) < 0)
		r = -errno;
	/* the superblock last, so a torn mkfs is not a valid volume */
	if (!r) {
		vol_super_encode(&sb, blk);
		r = vol_dev_pwrite(NULL, fd, blk, VOL_BLOCK_SIZE, 0);
	}
	if (!r && fsync(fd) < 0)
		r = -errno;
	free(blk);
	return r;
}

int vol_mkfs(const char *path, uint64_t size)
{
	struct vol_super sb;
	int r = vol_super_init(&sb, size / VOL_BLOCK_SIZE);
	if (r)
		return r;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	/* size first: journal and inode table are then zero (sparse) */
	if (ftruncate(fd, (off_t)(sb.nblocks * VOL_BLOCK_SIZE)) < 0)
		r = -errno;
	if (!r)
		r = vol_mkfs_fd(fd, &sb);
	if (close(fd) < 0 && !r)
		r = -errno;
	return r;
}

int vol_read_super(const char *path, struct vol_super *sb, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*why = "vol: cannot open image";
		return -errno;
	}
	char *blk = calloc(1, VOL_BLOCK_SIZE);
	int r = 0;
	if (!blk) {
		r = -ENOMEM;
		*why = "vol: out of memory";
	} else {
		ssize_t n = pread(fd, blk, VOL_BLOCK_SIZE, 0);
		if (n < 0) {
			r = -errno;
			*why = "vol: cannot read superblock";
		} else if (n != VOL_BLOCK_SIZE) {
			r = -EINVAL;
			*why = "vol: image shorter than a superblock (not a vol image)";
		} else {
			r = vol_super_decode(sb, blk, why);
			struct vol_super backup;
			if ((r == -EUCLEAN || r == -EINVAL) &&
			    vol_read_backup(fd, sb, &backup) == 0) {
				*why = r == -EUCLEAN && strstr(*why, "checksum")
					   ? "vol: superblock checksum mismatch (the backup "
					     "superblock is intact: run `pagecache fsck -y`)"
					   : "vol: superblock damaged (the backup superblock is "
					     "intact: run `pagecache fsck -y`)";
				r = -EUCLEAN;
			}
		}
	}
	if (!r) {
		off_t end = lseek(fd, 0, SEEK_END);
		if (end < 0 || (uint64_t)end < sb->nblocks * VOL_BLOCK_SIZE) {
			r = -EUCLEAN;
			*why = "vol: image shorter than the volume the superblock describes";
		}
	}
	free(blk);
	close(fd);
	return r;
}

int vol_read_backup(int fd, const struct vol_super *hint, struct vol_super *out)
{
	off_t end = lseek(fd, 0, SEEK_END);
	uint64_t cand[2] = {0, 0};
	char *blk = malloc(VOL_BLOCK_SIZE);
	int r = blk ? -ENOENT : -ENOMEM;

	if (end >= (off_t)(VOL_MIN_BLOCKS * VOL_BLOCK_SIZE))
		cand[0] = (uint64_t)end / VOL_BLOCK_SIZE - 1;
	if (hint && hint->magic == VOL_MAGIC && hint->nblocks >= VOL_MIN_BLOCKS && end > 0 &&
	    hint->nblocks <= (uint64_t)end / VOL_BLOCK_SIZE)
		cand[1] = hint->nblocks - 1;
	for (int i = 0; blk && r == -ENOENT && i < 2; i++) {
		if (!cand[i] || (i == 1 && cand[1] == cand[0]))
			continue;
		if (pread(fd, blk, VOL_BLOCK_SIZE, (off_t)(cand[i] * VOL_BLOCK_SIZE)) !=
		    VOL_BLOCK_SIZE)
			continue;
		if (vol_super_decode(out, blk, NULL) == 0 &&
		    (out->feat_compat & VOL_FEAT_COMPAT_BACKUP_SB) && out->nblocks - 1 == cand[i])
			r = 0;
	}
	free(blk);
	return r;
}

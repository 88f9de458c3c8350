/* SPDX-License-Identifier: MIT */
/*
 * vol on-disk format tests: crc32c against known vectors, superblock
 * geometry, encode/decode round trip, every single-bit flip of the superblock
 * rejected with a clear error (never a crash), unsupported version/features,
 * vol_mkfs() then vol_read_super(), short and foreign images, and the free
 * tree's initial leaf checksum.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "harness.h"
#include "fixture.h"
#include "store/vol/format.h"

TEST(crc32c_vectors)
{
	CHECK_EQ(vol_crc32c(0, "", 0), 0);
	CHECK_EQ(vol_crc32c(0, "123456789", 9), 0xe3069283u);
	char z[32] = {0};
	CHECK_EQ(vol_crc32c(0, z, 32), 0x8a9136aau); /* RFC 3720 B.4: 32 zero bytes */
	char ff[32];
	memset(ff, 0xff, 32);
	CHECK_EQ(vol_crc32c(0, ff, 32), 0x62a8ab43u);
	/* incremental == one shot */
	CHECK_EQ(vol_crc32c(vol_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
}

/* The SSE4.2 sum (where the CPU has it) and the table agree on every length
 * and alignment, chained or not. */
TEST(crc32c_hw_matches_table)
{
	uint64_t seed = test_seed(), x = seed | 1;
	static unsigned char buf[4200];
	for (size_t i = 0; i < sizeof(buf); i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
	for (size_t off = 0; off < 9; off++)
		for (size_t len = 0; len + off <= sizeof(buf); len += len < 40 ? 1 : 97) {
			uint32_t init = (uint32_t)(len * 2654435761u);
			uint32_t a = vol_crc32c(init, buf + off, len);
			vol_test_crc_table = true;
			uint32_t b = vol_crc32c(init, buf + off, len);
			vol_test_crc_table = false;
			CHECKF(a == b, "off %zu len %zu: %08x, table %08x", off, len, a, b);
		}
	printf("# the CPU %s the SSE4.2 crc32 instruction\n",
	       __builtin_cpu_supports("sse4.2") ? "has" : "lacks");
}

TEST(super_geometry)
{
	struct vol_super sb;
	CHECK_EQ(vol_super_init(&sb, VOL_MIN_BLOCKS - 1), -EINVAL);
	uint64_t sizes[] = {VOL_MIN_BLOCKS, 1000, 1 << 20, 1ull << 34};
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		CHECK_EQ(vol_super_init(&sb, sizes[i]), 0);
		CHECK_EQ(sb.journal_start, 1);
		CHECK(sb.journal_blocks >= 1 && sb.journal_blocks <= VOL_JOURNAL_BLOCKS);
		CHECK_EQ(sb.itable_start, 1 + sb.journal_blocks);
		CHECK(sb.data_start > sb.free_root && sb.data_start < sb.nblocks);
		CHECK_EQ(sb.free_blocks, sb.nblocks - 1 - sb.data_start); /* backup: last block */
		char blk[VOL_BLOCK_SIZE];
		struct vol_super back;
		vol_super_encode(&sb, blk);
		CHECK_EQ(vol_super_decode(&back, blk, NULL), 0);
		CHECK(memcmp(&back, &sb, sizeof(sb)) == 0);
	}
}

TEST(super_bit_flips_detected)
{
	struct vol_super sb, back;
	char blk[VOL_BLOCK_SIZE], bad[VOL_BLOCK_SIZE];
	CHECK_EQ(vol_super_init(&sb, 4096), 0);
	vol_super_encode(&sb, blk);
	for (unsigned bit = 0; bit < sizeof(sb) * 8; bit++) {
		memcpy(bad, blk, sizeof(bad));
		bad[bit / 8] ^= (char)(1 << (bit % 8));
		const char *why = NULL;
		int r = vol_super_decode(&back, bad, &why);
		/* a flip in the magic reads as "not a vol"; anywhere else as corrupt */
		CHECKF(r == (bit < 64 ? -EINVAL : -EUCLEAN), "bit %u: %d", bit, r);
		CHECK(why != NULL && strncmp(why, "vol: ", 5) == 0);
	}
}

/* A superblock with a valid crc but bad contents. */
static int decode_modified(void (*mod)(struct vol_super *), const char **why)
{
	struct vol_super sb, back;
	char blk[VOL_BLOCK_SIZE];
	CHECK_EQ(vol_super_init(&sb, 4096), 0);
	mod(&sb);
	vol_super_encode(&sb, blk); /* re-checksums */
	return vol_super_decode(&back, blk, why);
}
static void m_version(struct vol_super *s)
{
	s->version = 2;
}
static void m_feat(struct vol_super *s)
{
	s->feat_incompat |= 0x80;
}
static void m_bs(struct vol_super *s)
{
	s->block_size = 512;
}
static void m_geom(struct vol_super *s)
{
	s->data_start = s->nblocks;
}
static void m_overlap(struct vol_super *s)
{
	s->itable_start = s->journal_start;
}
static void m_free(struct vol_super *s)
{
	s->free_blocks = s->nblocks;
}
static void m_root(struct vol_super *s)
{
	s->root_ino = 0;
}

TEST(super_semantic_checks)
{
	const char *why;
	CHECK_EQ(decode_modified(m_version, &why), -EOPNOTSUPP);
	CHECK_EQ(decode_modified(m_feat, &why), -EOPNOTSUPP);
	CHECK_EQ(decode_modified(m_bs, &why), -EUCLEAN);
	CHECK_EQ(decode_modified(m_geom, &why), -EUCLEAN);
	CHECK_EQ(decode_modified(m_overlap, &why), -EUCLEAN);
	CHECK_EQ(decode_modified(m_free, &why), -EUCLEAN);
	CHECK_EQ(decode_modified(m_root, &why), -EUCLEAN);
	CHECK(strstr(why, "root inode") != NULL);
}

static char *image_path(const char *name)
{
	static char p[2100];
	snprintf(p, sizeof(p), "%s/%s", fresh_dir(NULL), name);
	return p;
}

TEST(mkfs_and_read_super)
{
	char *img = image_path("img");
	struct vol_super sb;
	const char *why;

	CHECK_EQ(vol_mkfs(img, 16 * VOL_BLOCK_SIZE), -EINVAL);
	CHECK_EQ(vol_mkfs(img, 64ull << 20), 0);
	CHECK_EQ(vol_read_super(img, &sb, &why), 0);
	CHECK_EQ(sb.nblocks, (64ull << 20) / VOL_BLOCK_SIZE);

	/* the free tree's root leaf: checksummed, one extent = the data area */
	int fd = open(img, O_RDWR);
	CHECK(fd >= 0);
	char blk[VOL_BLOCK_SIZE];
	CHECK_EQ(pread(fd, blk, sizeof(blk), (off_t)(sb.free_root * VOL_BLOCK_SIZE)), sizeof(blk));
	struct vol_node_hdr h;
	memcpy(&h, blk, sizeof(h));
	CHECK_EQ(h.magic, VOL_NODE_MAGIC);
	CHECK_EQ(h.level, 0);
	CHECK_EQ(h.nr, 1);
	uint32_t crc = h.crc;
	memset(blk + offsetof(struct vol_node_hdr, crc), 0, 4);
	CHECK_EQ(vol_crc32c(0, blk, sizeof(blk)), crc);
	struct vol_disk_extent e;
	memcpy(&e, blk + sizeof(h), sizeof(e));
	CHECK_EQ(e.pblk, sb.data_start);
	CHECK_EQ(e.len, vol_data_end(&sb) - sb.data_start);

	/* a flipped superblock byte: a clear error at mount */
	char b;
	CHECK_EQ(pread(fd, &b, 1, 100), 1);
	b ^= 0x10;
	CHECK_EQ(pwrite(fd, &b, 1, 100), 1);
	CHECK_EQ(vol_read_super(img, &sb, &why), -EUCLEAN);
	CHECK(strstr(why, "checksum") != NULL);
	CHECK(strstr(why, "fsck -y") != NULL); /* the backup is intact: fsck can rebuild */
	b ^= 0x10;
	CHECK_EQ(pwrite(fd, &b, 1, 100), 1);
	CHECK_EQ(vol_read_super(img, &sb, &why), 0);

	/* an image cut short of the volume it describes */
	CHECK_EQ(ftruncate(fd, 1 << 20), 0);
	CHECK_EQ(vol_read_super(img, &sb, &why), -EUCLEAN);
	/* shorter than a superblock; then not a vol at all */
	CHECK_EQ(ftruncate(fd, 100), 0);
	CHECK_EQ(vol_read_super(img, &sb, &why), -EINVAL);
	CHECK_EQ(ftruncate(fd, 0), 0);
	CHECK_EQ(ftruncate(fd, 1 << 20), 0);
	CHECK_EQ(vol_read_super(img, &sb, &why), -EINVAL);
	CHECK(strstr(why, "magic") != NULL);
	close(fd);
	CHECK_EQ(vol_read_super(image_path("missing"), &sb, &why), -ENOENT);
}

TEST(mkfs_huge_sparse)
{
	/* 64 TiB volume: the data area exceeds a 32-bit extent; the leaf splits it */
	char *img = image_path("huge");
	struct vol_super sb;
	int r = vol_mkfs(img, 64ull << 40);
	if (r == -EFBIG || r == -EINVAL || r == -ENOSPC) {
		skip("64 TiB sparse image", r); /* host fs too small */
		return;
	}
	CHECK_EQ(r, 0);
	CHECK_EQ(vol_read_super(img, &sb, NULL), 0);
	int fd = open(img, O_RDONLY);
	char blk[VOL_BLOCK_SIZE];
	CHECK_EQ(pread(fd, blk, sizeof(blk), (off_t)(sb.free_root * VOL_BLOCK_SIZE)), sizeof(blk));
	close(fd);
	struct vol_node_hdr h;
	memcpy(&h, blk, sizeof(h));
	uint64_t total = 0;
	for (unsigned i = 0; i < h.nr; i++) {
		struct vol_disk_extent e;
		memcpy(&e, blk + sizeof(h) + i * sizeof(e), sizeof(e));
		total += e.len;
	}
	CHECK(h.nr >= 2);
	CHECK_EQ(total, sb.free_blocks);
	unlink(img);
}

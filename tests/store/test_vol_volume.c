/* SPDX-License-Identifier: MIT */
/*
 * vol volume tests: mount of a fresh mkfs image; copy-on-write commit of the
 * free-space tree and remount; a seeded random run of allocations, releases,
 * commits and simulated crashes (unmount without commit) checked against a
 * model after every remount (nothing held is free, nothing leaks, the state
 * is exactly the last commit's); released blocks are not reused before the
 * commit that frees them; corrupted tree or superblock fails the mount.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "harness.h"
#include "fixture.h"
#include "store/vol/volume.h"

static char img[2100];

static struct vol *mkfs_mount(uint64_t size)
{
	struct vol *v;
	const char *why;
	snprintf(img, sizeof(img), "%s/vol", fresh_dir(NULL));
	CHECK_EQ(vol_mkfs(img, size), 0);
	CHECK_EQ(vol_mount(img, &v, &why), 0);
	return v;
}

static uint64_t tree_blocks(struct vol *v)
{
	uint64_t n = 0;
	for (size_t i = 0; i < v->tree.nr; i++)
		n += v->tree.v[i].len;
	return n;
}

TEST(volume_mount_commit_remount)
{
	struct vol *v = mkfs_mount(64ull << 20);
	const char *why;
	uint64_t data = vol_data_end(&v->sb) - v->sb.data_start, s;

	CHECK_EQ(v->alloc.free, data);
	CHECK_EQ(tree_blocks(v), 0);
	CHECK_EQ(vol_commit(v), 0);
	CHECK_EQ(tree_blocks(v), 1);
	CHECK_EQ(v->alloc.free, data - 1);
	CHECK_EQ(vol_alloc_blocks(v, 100, v->sb.data_start, &s), 100);
	CHECK_EQ(s, v->sb.data_start);
	CHECK_EQ(vol_commit(v), 0);
	uint64_t gen = v->sb.generation;
	vol_unmount(v);
	CHECK_EQ(vol_mount(img, &v, &why), 0);
	CHECK_EQ(v->sb.generation, gen);
	CHECK_EQ(v->alloc.free, data - 101);
	CHECK_EQ(vol_alloc_is_free(&v->alloc, s, 100), 0);
	CHECK_EQ(tree_blocks(v), 1);

	/* released blocks stay out of the allocator until the commit */
	CHECK_EQ(vol_release_blocks(v, s, 100), 0);
	CHECK_EQ(vol_release_blocks(v, s + 10, 1), -EINVAL);		     /* pending already */
	CHECK_EQ(vol_release_blocks(v, v->sb.data_start + 200, 1), -EINVAL); /* free */
	CHECK_EQ(vol_release_blocks(v, 0, 1), -EINVAL); /* not in the data area */
	CHECK_EQ(vol_free_blocks(v), data - 1);
	uint64_t got = 0, t;
	int64_t r;
	while ((r = vol_alloc_blocks(v, 64, UINT64_MAX, &t)) > 0) {
		CHECKF(t + (uint64_t)r <= s || t >= s + 100, "pending block reused before commit");
		got += (uint64_t)r;
	}
	CHECK_EQ(r, -ENOSPC);
	CHECK_EQ(got, data - 101);
	/* a full allocator cannot place the new tree: the commit fails cleanly */
	CHECK_EQ(vol_commit(v), -ENOSPC);
	vol_unmount(v); /* a crash: the durable state is the last commit */
	CHECK_EQ(vol_mount(img, &v, &why), 0);
	CHECK_EQ(v->alloc.free, data - 101);
	CHECK_EQ(vol_release_blocks(v, s, 100), 0);
	CHECK_EQ(vol_commit(v), 0);
	CHECK_EQ(vol_alloc_is_free(&v->alloc, s, 100), 1);
	CHECK_EQ(v->alloc.free + tree_blocks(v), data);
	vol_unmount(v);
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

TEST(volume_random_commits_and_crashes)
{
	struct vol *v = mkfs_mount(32ull << 20);
	const uint64_t N = vol_data_end(&v->sb), D = v->sb.data_start;
	unsigned char *held = calloc(N, 1), *durable = calloc(N, 1), *pending = calloc(N, 1);
	uint64_t seed = test_seed() | 1, x = seed, commits = 0, crashes = 0;
	const char *why;

	unsigned long ops = test_scale(20000, 10);
	for (unsigned long op = 0; op < ops; op++) {
		unsigned k = rnd(&x) % 100;
		if (k < 45) {
			uint64_t s;
			int64_t r = vol_alloc_blocks(v, 1 + rnd(&x) % 16, UINT64_MAX, &s);
			if (r == -ENOSPC)
				continue;
			CHECKF(r > 0, "seed %" PRIu64, seed);
			for (uint64_t b = s; b < s + (uint64_t)r; b++) {
				CHECKF(!held[b] && b >= D, "block %" PRIu64 " seed %" PRIu64, b,
				       seed);
				held[b] = 1;
			}
		} else if (k < 90) {
			/* release a run of held blocks starting at a random one */
			uint64_t b = D + rnd(&x) % (N - D), n = 0;
			while (b + n < N && held[b + n] && n < 16)
				n++;
			if (!n)
				continue;
			CHECK_EQ(vol_release_blocks(v, b, n), 0);
			memset(held + b, 0, n);
			memset(pending + b, 1, n); /* not reusable before the commit */
		} else if (k < 97) {
			int r = vol_commit(v);
			CHECKF(r == 0 || r == -ENOSPC, "commit %d seed %" PRIu64, r, seed);
			if (r == 0) {
				memcpy(durable, held, N);
				memset(pending, 0, N);
				commits++;
			}
		} else {
			/* crash or clean remount: either way the last commit is what survives */
			vol_unmount(v);
			CHECKF(vol_mount(img, &v, &why) == 0, "%s seed %" PRIu64, why, seed);
			memcpy(held, durable, N);
			memset(pending, 0, N);
			crashes++;
			uint64_t nheld = 0;
			for (uint64_t b = D; b < N; b++) {
				nheld += held[b];
				if (held[b])
					CHECKF(!vol_alloc_is_free(&v->alloc, b, 1), "held %" PRIu64,
					       b);
			}
			/* no leak: free + tree + held covers the data area exactly */
			CHECK_EQ(v->alloc.free + tree_blocks(v) + nheld, N - D);
			CHECK_EQ(vol_alloc_check(&v->alloc), 0);
		}
	}
	printf("# %" PRIu64 " commits, %" PRIu64 " remounts\n", commits, crashes);
	CHECK(commits > 0 && crashes > 0);
	vol_unmount(v);
	free(held);
	free(durable);
	free(pending);
}

static void flip(uint64_t blk, unsigned off)
{
	int fd = open(img, O_RDWR);
	unsigned char c;
	CHECK_EQ(pread(fd, &c, 1, (off_t)(blk * VOL_BLOCK_SIZE + off)), 1);
	c ^= 0x40;
	CHECK_EQ(pwrite(fd, &c, 1, (off_t)(blk * VOL_BLOCK_SIZE + off)), 1);
	close(fd);
}

TEST(volume_corruption_fails_mount)
{
	struct vol *v = mkfs_mount(16ull << 20);
	const char *why;
	uint64_t s;

	for (int i = 0; i < 300; i++) /* a fragmented free set: a tree of several leaves */
		CHECK_EQ(vol_alloc_blocks(v, 1, v->sb.data_start + 2 * (uint64_t)i, &s), 1);
	CHECK_EQ(vol_commit(v), 0);
	struct vol_super sb = v->sb;
	uint64_t tstart = v->tree.v[0].start, tlen = tree_blocks(v);
	CHECK(tlen >= 3);
	vol_unmount(v);
	for (uint64_t b = tstart; b < tstart + tlen; b++) {
		for (unsigned off = 0; off < 200; off += 13) {
			flip(b, off);
			CHECK_EQ(vol_mount(img, &v, &why), -EUCLEAN);
			CHECK(why && strncmp(why, "vol: ", 5) == 0);
			flip(b, off);
		}
	}
	CHECK_EQ(vol_mount(img, &v, &why), 0);
	vol_unmount(v);

	/* a valid checksum but a free count that disagrees with the tree */
	char blk[VOL_BLOCK_SIZE];
	sb.free_blocks--;
	vol_super_encode(&sb, blk);
	int fd = open(img, O_RDWR);
	CHECK_EQ(pwrite(fd, blk, sizeof(blk), 0), sizeof(blk));
	CHECK_EQ(vol_mount(img, &v, &why), -EUCLEAN);
	CHECK(strstr(why, "free count") != NULL);
	/* a tree root pointing into free space */
	sb.free_blocks++;
	sb.free_root = sb.data_start + 1; /* free, never written: zeroes */
	vol_super_encode(&sb, blk);
	CHECK_EQ(pwrite(fd, blk, sizeof(blk), 0), sizeof(blk));
	CHECK_EQ(vol_mount(img, &v, &why), -EUCLEAN);
	close(fd);
}

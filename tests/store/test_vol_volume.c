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
#include "store/vol/xtree.h"

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

static int no_new_blk(const struct vol_xnode *x)
{
	if (x->new_blk)
		return 0;
	for (unsigned i = 0; x->level && i < x->nr; i++)
		if (!no_new_blk(x->ent[i].kid))
			return 0;
	return 1;
}

/* The model: the in-memory free tree holds exactly allocatable + pending,
 * as {lblk = pblk} extents, with no write of an unfinished commit left.
 * NULL, or what differs. */
static const char *ftree_differs(struct vol *v)
{
	const struct vol_extmap *f = &v->ftree;
	struct vol_extmap_iter it;
	struct vol_map m;

	if (v->ftree_stale)
		return "stale";
	if (vol_extmap_check(f))
		return vol_extmap_check_why;
	if (vol_extmap_blocks(f) != v->alloc.free + v->pend.free)
		return "block count is not allocatable + pending";
	for (const struct vol_ext *e = vol_extmap_first(f, &it); e; e = vol_extmap_next(&it))
		if (e->lblk != e->pblk || e->flags)
			return "an extent with lblk != pblk or flags";
	for (int k = 0; k < 2; k++)
		vol_alloc_for_each(k ? &v->pend : &v->alloc, e)
		{
			vol_extmap_lookup(f, e.start, e.len, &m);
			if (m.type != VOL_MAP_MAPPED || m.pblk != e.start || m.len != e.len)
				return k ? "a pending extent is not in it"
					 : "an allocatable extent is not in it";
		}
	if (f->root && !no_new_blk(f->root))
		return "a node has a new_blk";
	return NULL;
}

static void check_ftree(struct vol *v)
{
	const char *d = ftree_differs(v);
	CHECKF(!d, "free tree: %s", d);
}

/* The free tree's committed node blocks, sorted. */
static struct blks ftree_blocks(struct vol *v)
{
	struct blks b = {0};
	vol_extmap_for_each_block(&v->ftree, blks_add, &b);
	blks_sort(&b);
	return b;
}

static int same_blks(const struct blks *a, const struct blks *b)
{
	return a->n == b->n && (!a->n || memcmp(a->v, b->v, a->n * sizeof(*a->v)) == 0);
}

/* A free set of n single-block extents (every other block from the data
 * area's start), committed. */
static void fragment(struct vol *v, uint64_t n)
{
	uint64_t s;
	CHECK_EQ(vol_alloc_blocks(v, 2 * n, v->sb.data_start, &s), (int64_t)(2 * n));
	for (uint64_t i = 0; i < n; i++)
		CHECK_EQ(vol_release_blocks(v, s + 2 * i, 1), 0);
	CHECK_EQ(vol_commit(v), 0);
	check_ftree(v);
}

TEST(volume_mount_commit_remount)
{
	struct vol *v = mkfs_mount(64ull << 20);
	const char *why;
	uint64_t data = vol_data_end(&v->sb) - v->sb.data_start, s;

	CHECK_EQ(v->alloc.free, data);
	CHECK_EQ(tree_blocks(v), 0);
	/* nothing changed: the tree stays in mkfs's block below the data area */
	CHECK_EQ(vol_commit(v), 0);
	CHECK_EQ(tree_blocks(v), 0);
	CHECK_EQ(v->sb.free_root, v->sb.data_start - 1);
	CHECK_EQ(v->alloc.free, data);
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

/* Many pending extents (past the old 4096 bound, which commit.c used to
 * commit at because this check was linear): a release overlapping any of
 * them, first, middle or last, is a double free. With the check switched
 * off the double release is accepted and the next commit finds the free set
 * overlapping itself (-EUCLEAN): the hazard the check prevents. */
TEST(volume_pending_double_release)
{
	struct vol *v = mkfs_mount(256ull << 20);
	uint64_t n = test_scale(20000, 10), s;

	CHECK_EQ(vol_alloc_blocks(v, 2 * n, v->sb.data_start, &s), (int64_t)(2 * n));
	for (uint64_t i = 0; i < n; i++) /* every other block: none merge */
		CHECK_EQ(vol_release_blocks(v, s + 2 * i, 1), 0);
	CHECK_EQ(v->pending.nr, n);
	CHECK_EQ(vol_free_blocks(v), v->alloc.free + n);
	CHECK_EQ(vol_release_blocks(v, s, 1), -EINVAL);
	CHECK_EQ(vol_release_blocks(v, s + n, 1), -EINVAL);
	CHECK_EQ(vol_release_blocks(v, s + n - 1, 3), -EINVAL); /* overlaps one at an end */
	CHECK_EQ(vol_release_blocks(v, s + 2 * n - 2, 1), -EINVAL);
	CHECK_EQ(vol_release_blocks(v, s + n + 1, 1), 0); /* a held block between two */
	CHECK_EQ(v->pending.nr, n + 1);
	CHECK_EQ(vol_commit(v), 0);
	CHECK_EQ(v->pending.nr, 0);
	CHECK_EQ(vol_alloc_is_free(&v->alloc, s, 1), 1);
	CHECK_EQ(vol_alloc_check(&v->pend), 0);
	CHECK_EQ(v->pend.free, 0);

	/* the same blocks may be released again once allocated again */
	uint64_t t;
	CHECK_EQ(vol_alloc_blocks(v, 1, s, &t), 1);
	CHECK_EQ(t, s);
	CHECK_EQ(vol_release_blocks(v, s, 1), 0);
	vol_test_no_pending_check = true;
	CHECK_EQ(vol_release_blocks(v, s, 1), 0); /* accepted: the hazard */
	vol_test_no_pending_check = false;
	CHECK_EQ(vol_commit(v), -EUCLEAN);
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
				CHECK_EQ(v->pend.free, 0);
			}
			check_ftree(v); /* after a commit or a failed one */
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
			check_ftree(v);
		}
		if (op % 256 == 0)
			check_ftree(v);
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
	uint64_t tlen = tree_blocks(v), k = 0, *tb = calloc(tlen, sizeof(*tb));
	CHECK(tlen >= 3);
	for (size_t i = 0; i < v->tree.nr; i++)
		for (uint64_t b = v->tree.v[i].start; b < v->tree.v[i].start + v->tree.v[i].len;
		     b++)
			tb[k++] = b;
	vol_unmount(v);
	for (k = 0; k < tlen; k++) {
		for (unsigned off = 0; off < 200; off += 13) {
			flip(tb[k], off);
			CHECK_EQ(vol_mount(img, &v, &why), -EUCLEAN);
			CHECK(why && strncmp(why, "vol: ", 5) == 0);
			flip(tb[k], off);
		}
	}
	free(tb);
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

/* The free tree is written copy-on-write: one block allocated (or freed)
 * and committed writes only the nodes on the paths it changed (its leaf's,
 * and the leaf where the new nodes' blocks came from); every other node
 * keeps its block; a remount loads the same nodes. With
 * vol_test_freetree_rewrite_all (the whole rewrite of before) the same
 * change writes every node: the check fails. */
TEST(volume_freetree_cow)
{
	struct vol *v = mkfs_mount(256ull << 20);
	uint64_t n = test_scale(20000, 10), s, depth;
	const char *why;

	fragment(v, n);
	depth = vol_extmap_depth(&v->ftree);
	CHECK(depth >= 2);
	CHECK(vol_extmap_count(&v->ftree) > n);
	for (int rewrite_all = 0; rewrite_all < 2; rewrite_all++)
		for (int op = 0; op < 4; op++) {
			struct blks a = ftree_blocks(v);
			unsigned long w0 = vol_freetree_nodes_written;
			uint64_t blk = v->sb.data_start +
				       2 * (n / 3 + 7 * (uint64_t)op + 50 * (uint64_t)rewrite_all);
			if (op % 2 == 0) { /* a free single block in the middle, allocated */
				CHECK_EQ(vol_alloc_blocks(v, 1, blk, &s), 1);
				CHECK_EQ(s, blk);
			} else {
				CHECK_EQ(vol_release_blocks(v, blk + 1, 1), 0);
			}
			vol_test_freetree_rewrite_all = rewrite_all;
			CHECK_EQ(vol_commit(v), 0);
			vol_test_freetree_rewrite_all = false;
			check_ftree(v);
			unsigned long w = vol_freetree_nodes_written - w0;
			struct blks b = ftree_blocks(v);
			size_t kept = 0;
			for (size_t i = 0, j = 0; i < a.n; i++) {
				while (j < b.n && b.v[j] < a.v[i])
					j++;
				kept += j < b.n && b.v[j] == a.v[i];
			}
			printf("# %s: %s one block: %lu of %zu free-tree nodes written\n",
			       rewrite_all ? "whole rewrite" : "copy-on-write",
			       op % 2 ? "freed" : "allocated", w, b.n);
			CHECK_EQ(b.n - kept, w); /* every new node block was written */
			if (rewrite_all) {
				CHECK_EQ(kept, 0);
			} else {
				CHECKF(w <= 2 * depth, "%lu nodes written (depth %" PRIu64 ")", w,
				       depth);
				CHECK(kept + w >= b.n && kept >= a.n - 2 * depth);
			}
			free(a.v);
			free(b.v);
		}
	/* remount: the same nodes on the same blocks */
	struct blks a = ftree_blocks(v);
	vol_unmount(v);
	CHECK_EQ(vol_mount(img, &v, &why), 0);
	check_ftree(v);
	struct blks b = ftree_blocks(v);
	CHECK(same_blks(&a, &b));
	unsigned long w0 = vol_freetree_nodes_written;
	CHECK_EQ(vol_alloc_blocks(v, 1, v->sb.data_start + 2 * (n / 2), &s), 1);
	CHECK_EQ(vol_commit(v), 0);
	CHECK(vol_freetree_nodes_written - w0 <= 2 * depth);
	check_ftree(v);
	free(a.v);
	free(b.v);
	vol_unmount(v);
}

/* A commit failing at each write of its free tree (and at its superblock
 * write) leaves everything as it was: the same nodes on the same blocks,
 * the tree = allocatable + pending, no new block left on a node, the same
 * superblock; the next commit succeeds. Then the whole rewrite (the
 * fallback when placing the nodes does not settle) and back. */
TEST(volume_freetree_abort)
{
	struct vol *v = mkfs_mount(64ull << 20);
	uint64_t n = test_scale(3000, 4), s;
	const char *why;

	fragment(v, n);
	CHECK_EQ(vol_alloc_blocks(v, 1, v->sb.data_start + 2 * (n / 2), &s), 1);
	CHECK_EQ(vol_release_blocks(v, v->sb.data_start + 1, 1), 0);
	struct blks a = ftree_blocks(v);
	struct vol_super sb = v->sb;
	uint64_t free0 = v->alloc.free, pend0 = v->pend.free;
	unsigned fails = 0;
	for (long k = 1;; k++) {
		v->dev.fail_write = (long)v->dev.writes + k;
		unsigned long w0 = vol_freetree_nodes_written;
		int r = vol_commit(v);
		v->dev.fail_write = 0;
		if (r == 0) {
			/* every node write and the superblock's failed once */
			CHECK_EQ(fails, vol_freetree_nodes_written - w0 + 1);
			break;
		}
		CHECK_EQ(r, -EIO);
		fails++;
		check_ftree(v);
		struct blks b = ftree_blocks(v);
		CHECK(same_blks(&a, &b));
		free(b.v);
		CHECK(memcmp(&sb, &v->sb, sizeof(sb)) == 0);
		CHECK_EQ(v->alloc.free, free0);
		CHECK_EQ(v->pend.free, pend0);
	}
	CHECK(fails >= 3);
	check_ftree(v);
	/* the hazard without the undo: the tree no longer matches the allocator */
	CHECK_EQ(vol_alloc_blocks(v, 1, v->sb.data_start + 2 * (n / 2 + 2), &s), 1);
	vol_test_freetree_no_undo = true;
	v->dev.fail_write = (long)v->dev.writes + 1;
	CHECK_EQ(vol_commit(v), -EIO);
	v->dev.fail_write = 0;
	vol_test_freetree_no_undo = false;
	CHECK(ftree_differs(v) != NULL);
	vol_unmount(v); /* a crash: the last commit survives */
	CHECK_EQ(vol_mount(img, &v, &why), 0);
	check_ftree(v);

	/* the whole rewrite (the bottom-up writer, as the old code wrote every
	 * tree): a remount keeps its shape, then commits are copy-on-write */
	CHECK_EQ(vol_alloc_blocks(v, 1, v->sb.data_start + 2 * (n / 3), &s), 1);
	unsigned rounds = vol_freetree_rounds;
	vol_freetree_rounds = 0;
	unsigned long w0 = vol_freetree_nodes_written;
	CHECK_EQ(vol_commit(v), 0);
	vol_freetree_rounds = rounds;
	check_ftree(v);
	CHECK_EQ(vol_freetree_nodes_written - w0, tree_blocks(v));
	CHECK_EQ(vol_extmap_nodes(&v->ftree, &(size_t){0}), tree_blocks(v));
	CHECK_EQ(vol_commit(v), 0); /* replaces the whole tree once more */
	check_ftree(v);
	vol_freetree_rounds = 0;
	CHECK_EQ(vol_commit(v), 0);
	vol_freetree_rounds = rounds;
	free(a.v);
	a = ftree_blocks(v);
	vol_unmount(v);
	CHECK_EQ(vol_mount(img, &v, &why), 0);
	CHECK_EQ(v->ftree.nfreed, 0); /* loaded with its shape */
	struct blks b = ftree_blocks(v);
	CHECK(same_blks(&a, &b));
	check_ftree(v);
	w0 = vol_freetree_nodes_written;
	CHECK_EQ(vol_alloc_blocks(v, 1, v->sb.data_start + 2 * (n / 4), &s), 1);
	CHECK_EQ(vol_commit(v), 0);
	CHECK(vol_freetree_nodes_written - w0 <= 4);
	check_ftree(v);
	free(a.v);
	free(b.v);
	vol_unmount(v);
}

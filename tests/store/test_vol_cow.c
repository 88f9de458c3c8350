/* SPDX-License-Identifier: MIT */
/*
 * Copy-on-write of extent-tree paths on vol images.
 *
 * cow_path_only: a file with enough extents for a three-level tree is
 *   committed; one block is written and committed again: exactly the path's
 *   three nodes get new blocks, every other node keeps its block; a commit
 *   failed at its first tree-node write changes nothing and the retry does
 *   the same; after a remount the tree has the same node blocks (the shape
 *   is kept), a punch commits its path only, everything reads back and fsck
 *   is clean. With vol_extmap_test_rewrite_all (the whole-tree rewrite of
 *   before) the same write rewrites every node: the check can fail.
 * cow_figures: commit time and nodes written for a 1-block write + fsync
 *   into a 100 000-extent file, path copy-on-write against whole rewrite.
 * cow_free_tree: a volume whose free set is fragmented into single blocks
 *   (a three-level free-space tree); a 1-block write + fsync into a hole
 *   writes only the free-tree nodes on the changed paths, every other node
 *   keeps its block and its bytes; fsck clean; a remount loads the same
 *   nodes and a punch + fsync again writes a few. With
 *   vol_test_freetree_rewrite_all (the whole rewrite of before) every node
 *   is written.
 */
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "fixture.h"
#include "store/vol/vol.h"
#include "store/vol/volume.h"
#include "store/vol/vstore.h"

static char img[2200];

static void new_image(void)
{
	const char *d = access("/dev/shm", W_OK) == 0 ? fresh_dir("/dev/shm") : fresh_dir(NULL);
	snprintf(img, sizeof(img), "%s/img", d);
	struct vol_mkfs_opts o = {.size = 1ll << 30};
	CHECK_EQ(vol_create(img, &o), 0);
}

static struct vnode *node_of(struct store *s, const char *path)
{
	struct stat st;
	CHECK_EQ(store_getattr(s, path, &st), 0);
	return VS(s)->inodes[st.st_ino];
}

static struct blks node_blocks(struct vnode *n)
{
	struct blks b = {0};
	vs_for_each_meta(n, blks_add, &b);
	blks_sort(&b);
	return b;
}

/* Blocks of a not in b (both sorted). */
static size_t missing(const struct blks *a, const struct blks *b)
{
	size_t k = 0, j = 0;
	for (size_t i = 0; i < a->n; i++) {
		while (j < b->n && b->v[j] < a->v[i])
			j++;
		k += !(j < b->n && b->v[j] == a->v[i]);
	}
	return k;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A file "f" of n one-block unwritten extents at every other block. */
static struct store_inode *fragmented(struct store *s, uint64_t n)
{
	struct store_inode *si;
	CHECK_EQ(store_create(s, "f", 0644, &si), 0);
	for (uint64_t i = 0; i < n; i++)
		CHECK_EQ(store_fallocate(si, FALLOC_FL_KEEP_SIZE, (int64_t)i * 8192, 4096), 0);
	CHECK_EQ(store_sync(si, false), 0);
	return si;
}

/* Writes one block at extent k and commits; the nodes the commit wrote. */
static unsigned long write_one(struct store *s, struct store_inode *si, uint64_t k, double *ms,
			       unsigned long *writes)
{
	char buf[4096];
	memset(buf, (int)(k % 251) + 1, sizeof(buf));
	CHECK_EQ(store_write(si, buf, 4096, (int64_t)k * 8192), 4096);
	unsigned long t0 = VS(s)->tree_nodes, w0 = vol_store_writes(s);
	double t = now();
	CHECK_EQ(store_sync(si, false), 0);
	if (ms)
		*ms = (now() - t) * 1e3;
	if (writes)
		*writes = vol_store_writes(s) - w0;
	return VS(s)->tree_nodes - t0;
}

TEST(cow_path_only)
{
	uint64_t n = VOL_LEAF_CAP * VOL_INDEX_CAP + 1000, k = n / 2;
	struct store *s;

	new_image();
	CHECK_EQ(store_open_vol(img, &s), 0);
	struct store_inode *si = fragmented(s, n);
	struct vnode *f = node_of(s, "f");
	CHECK_EQ(vol_extmap_depth(&f->map), 3);
	CHECK_EQ(vol_extmap_count(&f->map), n);
	struct blks a = node_blocks(f);
	CHECK_EQ(a.n, vol_btree_nodes_for(n)); /* appends fill nodes as the bulk writer does */

	/* a commit failing at its first write (a tree node, written home as
	 * before the nodes were logged), or at its ordered-data flush (the
	 * nodes in memory for the journal), leaves the tree as it was */
	char buf[4096];
	memset(buf, 0x5a, sizeof(buf));
	for (int kind = 0; kind <= 2; kind += 2) {
		CHECK_EQ(store_write(si, buf, 4096, (int64_t)k * 8192), 4096);
		vol_test_meta_home_first = kind == 0;
		vol_store_fail_once(s, kind, 1);
		CHECK(store_sync(si, false) < 0);
		vol_test_meta_home_first = false;
		vol_store_fail_once(s, kind, 0);
		CHECK_EQ(vol_extmap_check(&f->map), 0);
		struct blks a2 = node_blocks(f);
		CHECK_EQ(a2.n, a.n);
		CHECK_EQ(missing(&a, &a2), 0);
		free(a2.v);
	}

	CHECK_EQ(write_one(s, si, k, NULL, NULL), 3);
	struct blks b = node_blocks(f);
	CHECK_EQ(b.n, a.n);
	CHECK_EQ(missing(&a, &b), 3); /* the path's old blocks went */
	CHECK_EQ(missing(&b, &a), 3); /* and three new ones came */
	CHECK_EQ(vol_extmap_check(&f->map), 0);
	store_release(si);
	store_close(s);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_CLEAN);

	/* remount: the same shape on the same blocks; a punch copies its path */
	CHECK_EQ(store_open_vol(img, &s), 0);
	f = node_of(s, "f");
	CHECK_EQ(vol_extmap_check(&f->map), 0);
	struct blks c = node_blocks(f);
	CHECK_EQ(c.n, b.n);
	CHECK_EQ(missing(&b, &c), 0);
	CHECK_EQ(store_open(s, "f", O_RDWR, 0, &si), 0);
	CHECK_EQ(store_fallocate(si, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 8 * 8192, 4096),
		 0);
	unsigned long t0 = VS(s)->tree_nodes;
	CHECK_EQ(store_sync(si, false), 0);
	CHECK_EQ(VS(s)->tree_nodes - t0, 3);
	char got[4096];
	for (uint64_t i = 0; i <= k; i++) {
		CHECK_EQ(store_read(si, got, 4096, (int64_t)i * 8192), 4096);
		CHECK(is_zero(got, 4096) == (i != k));
	}
	memset(buf, (int)(k % 251) + 1, sizeof(buf)); /* write_one's bytes */
	CHECK(memcmp(got, buf, 4096) == 0);

	/* the hazard without path copy-on-write: every node rewritten */
	vol_extmap_test_rewrite_all = true;
	unsigned long all = write_one(s, si, k - 2, NULL, NULL);
	vol_extmap_test_rewrite_all = false;
	CHECK_EQ(all, vol_btree_nodes_for(n - 1));
	store_release(si);
	store_close(s);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_CLEAN);
	free(a.v);
	free(b.v);
	free(c.v);
}

TEST(cow_figures)
{
	uint64_t n = test_scale(100000, 10);
	struct store *s;
	double ms;
	unsigned long w;

	new_image();
	CHECK_EQ(store_open_vol(img, &s), 0);
	struct store_inode *si = fragmented(s, n);
	for (int whole = 0; whole < 2; whole++) {
		vol_extmap_test_rewrite_all = whole;
		for (int i = 0; i < 3; i++) {
			unsigned long nodes =
			    write_one(s, si, n / 3 + 2 * (uint64_t)i + 10 * whole, &ms, &w);
			printf("# %s: 1-block write + fsync into a %" PRIu64
			       "-extent file: commit %.2f ms, %lu tree nodes, %lu image writes\n",
			       whole ? "whole-tree rewrite" : "path copy-on-write", n, ms, nodes,
			       w);
		}
	}
	vol_extmap_test_rewrite_all = false;
	store_release(si);
	store_close(s);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_CLEAN);
}

/* The free tree's node blocks (sorted) and their bytes. */
static struct blks free_nodes(struct store *s, char **bytes)
{
	struct blks b = {0};
	/* the deferred checkpoint (checkpoint.c) home first: the image as
	 * the next restart of the journal leaves it */
	CHECK_EQ(vol_ckpt_write(VS(s)->v), 0);
	vol_extmap_for_each_block(&VS(s)->v->ftree, blks_add, &b);
	blks_sort(&b);
	*bytes = malloc(b.n * 4096 + 1);
	int fd = open(img, O_RDONLY);
	for (size_t i = 0; i < b.n; i++)
		CHECK_EQ(pread(fd, *bytes + i * 4096, 4096, (off_t)(b.v[i] * 4096)), 4096);
	close(fd);
	return b;
}

/* Nodes of a kept in b with the same bytes (both sorted); the others
 * are counted in *changed (a kept block whose bytes changed: never). */
static size_t kept_same(const struct blks *a, const char *ab, const struct blks *b, const char *bb,
			size_t *changed)
{
	size_t k = 0, j = 0;
	*changed = 0;
	for (size_t i = 0; i < a->n; i++) {
		while (j < b->n && b->v[j] < a->v[i])
			j++;
		if (j < b->n && b->v[j] == a->v[i]) {
			if (memcmp(ab + i * 4096, bb + j * 4096, 4096) == 0)
				k++;
			else
				++*changed;
		}
	}
	return k;
}

TEST(cow_free_tree)
{
	uint64_t n = test_scale(VOL_LEAF_CAP * VOL_INDEX_CAP / 2 + 1000, 10);
	struct store *s;
	struct store_inode *si;
	char buf[4096];

	new_image();
	CHECK_EQ(store_open_vol(img, &s), 0);
	/* 2n blocks, then every other one punched: n single free blocks */
	CHECK_EQ(store_create(s, "g", 0644, &si), 0);
	memset(buf, 0x33, sizeof(buf));
	for (uint64_t i = 0; i < 2 * n; i += 1024)
		CHECK_EQ(store_fallocate(si, FALLOC_FL_KEEP_SIZE, (int64_t)i * 4096,
					 (int64_t)(2 * n - i < 1024 ? 2 * n - i : 1024) * 4096),
			 0);
	CHECK_EQ(store_sync(si, false), 0);
	for (uint64_t i = 0; i < n; i++)
		CHECK_EQ(store_fallocate(si, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					 (int64_t)(2 * i) * 4096, 4096),
			 0);
	CHECK_EQ(store_sync(si, false), 0);
	struct vol *v = VS(s)->v;
	unsigned depth = vol_extmap_depth(&v->ftree);
	printf("# free tree: %zu extents, %u levels\n", vol_extmap_count(&v->ftree), depth);
	CHECK(vol_extmap_count(&v->ftree) >= n && depth >= 2);
	for (int whole = 0; whole < 2; whole++) {
		char *ab, *bb;
		struct blks a = free_nodes(s, &ab);
		unsigned long w0 = vol_freetree_nodes_written;
		uint64_t k =
		    2 * (n / 3 + 100 * (uint64_t)whole); /* a hole: its old block is free */
		CHECK_EQ(store_write(si, buf, 4096, (int64_t)k * 4096), 4096);
		vol_test_freetree_rewrite_all = whole;
		CHECK_EQ(store_sync(si, false), 0);
		vol_test_freetree_rewrite_all = false;
		unsigned long w = vol_freetree_nodes_written - w0;
		struct blks b = free_nodes(s, &bb);
		size_t changed, kept = kept_same(&a, ab, &b, bb, &changed);
		printf(
		    "# %s: 1-block write + fsync: %lu of %zu free-tree nodes written, %zu kept\n",
		    whole ? "whole rewrite" : "copy-on-write", w, b.n, kept);
		CHECK_EQ(changed, 0);	 /* a committed node block is never overwritten */
		CHECK_EQ(kept + w, b.n); /* the others were written by this commit */
		/* paths of at most three places: the data block, the file tree's
		 * new and old node blocks (near the volume's start), the new
		 * free-tree nodes (the tail of the largest extent) */
		if (!whole)
			CHECKF(w <= 3 * depth, "%lu free-tree nodes written", w);
		else
			CHECK_EQ(w, b.n);
		free(a.v);
		free(b.v);
		free(ab);
		free(bb);
	}
	store_release(si);
	char *ab, *bb;
	struct blks a = free_nodes(s, &ab);
	store_close(s);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_CLEAN);

	/* remount: the same nodes; a punch of one block writes a few */
	CHECK_EQ(store_open_vol(img, &s), 0);
	struct blks b = free_nodes(s, &bb);
	size_t changed;
	CHECKF(VS(s)->v->ftree.nfreed == 0, "free tree loaded without its shape (%zu)",
	       VS(s)->v->ftree.nfreed);
	CHECK_EQ(kept_same(&a, ab, &b, bb, &changed), a.n);
	CHECK_EQ(b.n, a.n);
	CHECK_EQ(store_open(s, "g", O_RDWR, 0, &si), 0);
	CHECK_EQ(store_fallocate(si, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 (int64_t)(2 * (n / 2) + 1) * 4096, 4096),
		 0);
	unsigned long w0 = vol_freetree_nodes_written;
	CHECK_EQ(store_sync(si, false), 0);
	CHECKF(vol_freetree_nodes_written - w0 <= 3 * (unsigned long)depth,
	       "%lu written, %zu freed after the remount", vol_freetree_nodes_written - w0,
	       VS(s)->v->ftree.nfreed);
	store_release(si);
	store_close(s);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_CLEAN);
	free(a.v);
	free(b.v);
	free(ab);
	free(bb);
}

/* SPDX-License-Identifier: MIT */
/*
 * vol on-disk B-tree tests: write/read round trips from empty to three
 * levels for extent maps and the free tree; loading mkfs's free tree into
 * the allocator and a written map into an extent map; every byte flip in
 * every node of a two-level tree rejected with -EUCLEAN (never a crash);
 * wrong owner, bad root, unsorted input, allocation failure, early stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "harness.h"
#include "fixture.h"
#include "store/vol/alloc.h"
#include "store/vol/btree.h"
#include "store/vol/extmap.h"

struct bump {
	uint64_t next, limit;
};
static int bump_alloc(void *arg, uint64_t *blk)
{
	struct bump *b = arg;
	if (b->next >= b->limit)
		return -ENOSPC;
	*blk = b->next++;
	return 0;
}

struct collect {
	struct vol_disk_extent *v;
	size_t nr, stop_at;
};
static int collect(void *arg, const struct vol_disk_extent *e)
{
	struct collect *c = arg;
	if (c->stop_at && c->nr == c->stop_at)
		return 42;
	c->v[c->nr++] = *e;
	return 0;
}

static int open_image(uint64_t nblocks)
{
	char p[2100];
	snprintf(p, sizeof(p), "%s/img", fresh_dir(NULL));
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, (off_t)(nblocks * VOL_BLOCK_SIZE)), 0);
	return fd;
}

static struct vol_disk_extent *make_extents(size_t n, uint64_t owner)
{
	struct vol_disk_extent *e = calloc(n ? n : 1, sizeof(*e));
	for (size_t i = 0; i < n; i++) {
		e[i].lblk = owner ? 3 * i : 0;
		e[i].pblk = owner ? 1000000 + 5 * i : 1000000 + 3 * i;
		e[i].len = 1 + i % 2;
		e[i].flags = owner && i % 7 == 0 ? VOL_EXT_UNWRITTEN : 0;
	}
	return e;
}

TEST(btree_round_trip)
{
	const uint64_t NB = 1 << 22;
	int fd = open_image(NB);
	struct vol_bdev bd = {fd, NB, NULL, NULL};
	size_t sizes[] = {0,
			  1,
			  VOL_LEAF_CAP,
			  VOL_LEAF_CAP + 1,
			  VOL_LEAF_CAP * VOL_INDEX_CAP,
			  VOL_LEAF_CAP * VOL_INDEX_CAP + 1,
			  100000};
	for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (uint64_t owner = 0; owner < 2; owner++) {
			size_t n = sizes[s];
			struct vol_disk_extent *e = make_extents(n, owner * 9);
			struct bump b = {1, 1000000};
			uint64_t root, nodes;
			CHECK_EQ(
			    vol_btree_write(&bd, owner * 9, e, n, bump_alloc, &b, &root, &nodes),
			    0);
			CHECK_EQ(nodes, b.next - 1);
			CHECK(n ? root != 0 : root == 0);
			struct collect c = {calloc(n ? n : 1, sizeof(*e)), 0, 0};
			const char *why;
			CHECK_EQ(vol_btree_read(&bd, owner * 9, root, collect, &c, &why), 0);
			CHECK_EQ(c.nr, n);
			CHECK(memcmp(c.v, e, n * sizeof(*e)) == 0);
			if (n > VOL_LEAF_CAP * VOL_INDEX_CAP) {
				struct vol_node_hdr h;
				CHECK_EQ(pread(fd, &h, sizeof(h), (off_t)(root * VOL_BLOCK_SIZE)),
					 sizeof(h));
				CHECK_EQ(h.level, 2);
			}
			/* an early stop comes back as the emitter's value */
			if (n > 3) {
				c.nr = 0;
				c.stop_at = 3;
				CHECK_EQ(vol_btree_read(&bd, owner * 9, root, collect, &c, NULL),
					 42);
			}
			free(c.v);
			free(e);
		}
	}
	close(fd);
}

static int to_alloc(void *arg, const struct vol_disk_extent *e)
{
	return vol_alloc_free(arg, e->pblk, e->len);
}
static int to_extmap(void *arg, const struct vol_disk_extent *e)
{
	return vol_extmap_set(arg, e->lblk, e->pblk, e->len, e->flags, NULL, NULL);
}

static int meta_alloc(void *arg, uint64_t *blk)
{
	uint64_t s;
	int64_t r = vol_alloc_alloc(arg, 1, UINT64_MAX, &s);
	if (r < 0)
		return (int)r;
	*blk = s;
	return 0;
}

TEST(btree_load_mkfs_free_tree_and_extmap)
{
	char p[2100];
	snprintf(p, sizeof(p), "%s/vol", fresh_dir(NULL));
	CHECK_EQ(vol_mkfs(p, 256ull << 20), 0);
	struct vol_super sb;
	CHECK_EQ(vol_read_super(p, &sb, NULL), 0);
	int fd = open(p, O_RDWR);
	struct vol_bdev bd = {fd, sb.nblocks, NULL, NULL};
	struct vol_alloc a;
	vol_alloc_init(&a);
	CHECK_EQ(vol_btree_read(&bd, 0, sb.free_root, to_alloc, &a, NULL), 0);
	CHECK_EQ(a.free, sb.free_blocks);
	CHECK_EQ(vol_alloc_is_free(&a, sb.data_start, sb.free_blocks), 1);

	/* a fragmented file: allocate its blocks from the volume, write its
	 * map's tree into blocks from the same allocator, read it back */
	struct vol_extmap m;
	vol_extmap_init(&m);
	uint64_t s;
	for (uint64_t l = 0; l < 20000; l += 2) {
		CHECK_EQ(vol_alloc_alloc(&a, 1, UINT64_MAX, &s), 1);
		CHECK_EQ(vol_alloc_alloc(&a, 1, UINT64_MAX, &s), 1); /* skip one: no merging */
		CHECK_EQ(vol_extmap_set(&m, l, s, 1, l % 6 ? 0 : VOL_EXT_UNWRITTEN, NULL, NULL), 0);
	}
	size_t ne = vol_extmap_count(&m), i = 0;
	struct vol_disk_extent *e = calloc(ne, sizeof(*e));
	struct vol_extmap_iter it;
	for (const struct vol_ext *x = vol_extmap_first(&m, &it); x; x = vol_extmap_next(&it))
		e[i++] = (struct vol_disk_extent){x->lblk, x->pblk, (uint32_t)x->len, x->flags};
	CHECK_EQ(i, ne);
	uint64_t root, nodes, before = a.free;
	CHECK_EQ(vol_btree_write(&bd, 7, e, ne, meta_alloc, &a, &root, &nodes), 0);
	CHECK_EQ(nodes, (ne + VOL_LEAF_CAP - 1) / VOL_LEAF_CAP + 1); /* leaves + root */
	CHECK_EQ(a.free, before - nodes);
	struct vol_extmap back;
	vol_extmap_init(&back);
	CHECK_EQ(vol_btree_read(&bd, 7, root, to_extmap, &back, NULL), 0);
	CHECK_EQ(vol_extmap_count(&back), ne);
	struct vol_extmap_iter ib;
	const struct vol_ext *y = vol_extmap_first(&back, &ib);
	for (const struct vol_ext *x = vol_extmap_first(&m, &it); x; x = vol_extmap_next(&it)) {
		CHECK(y && y->lblk == x->lblk && y->pblk == x->pblk && y->len == x->len &&
		      y->flags == x->flags);
		y = vol_extmap_next(&ib);
	}
	CHECK(!y);
	/* the tree's blocks are no longer free */
	CHECK_EQ(vol_alloc_is_free(&a, root, 1), 0);
	vol_extmap_destroy(&back);
	free(e);
	vol_extmap_destroy(&m);
	vol_alloc_destroy(&a);
	close(fd);
}

TEST(btree_corruption_detected)
{
	const uint64_t NB = 4096;
	int fd = open_image(NB);
	struct vol_bdev bd = {fd, NB, NULL, NULL};
	size_t n = 3 * VOL_LEAF_CAP; /* three leaves under a root */
	struct vol_disk_extent *e = make_extents(n, 3);
	for (size_t i = 0; i < n; i++)
		e[i].pblk = 100 + 5 * i;
	struct bump b = {10, NB};
	uint64_t root, nodes;
	CHECK_EQ(vol_btree_write(&bd, 3, e, n, bump_alloc, &b, &root, &nodes), 0);
	CHECK_EQ(nodes, 4);
	struct collect c = {calloc(n, sizeof(*e)), 0, 0};
	const char *why;
	/* every byte of every node's used part, flipped one at a time */
	size_t used_leaf = sizeof(struct vol_node_hdr) + VOL_LEAF_CAP * sizeof(*e);
	size_t used_root = sizeof(struct vol_node_hdr) + 3 * sizeof(struct vol_index);
	uint64_t step = test_quick() ? 7 : 1, flips = 0;
	for (uint64_t blk = 10; blk < 10 + nodes; blk++) {
		size_t used = blk == root ? used_root : used_leaf;
		for (size_t off = 0; off < used; off += step) {
			unsigned char ch;
			off_t at = (off_t)(blk * VOL_BLOCK_SIZE + off);
			CHECK_EQ(pread(fd, &ch, 1, at), 1);
			ch ^= 0x5a;
			CHECK_EQ(pwrite(fd, &ch, 1, at), 1);
			c.nr = 0;
			int r = vol_btree_read(&bd, 3, root, collect, &c, &why);
			CHECKF(r == -EUCLEAN, "block %" PRIu64 " byte %zu: %d", blk, off, r);
			CHECK(why && strncmp(why, "vol: ", 5) == 0);
			ch ^= 0x5a;
			CHECK_EQ(pwrite(fd, &ch, 1, at), 1);
			flips++;
		}
	}
	printf("# %" PRIu64 " flips, all rejected\n", flips);
	c.nr = 0;
	CHECK_EQ(vol_btree_read(&bd, 3, root, collect, &c, NULL), 0);
	CHECK_EQ(c.nr, n);

	/* sound checksums, wrong context */
	CHECK_EQ(vol_btree_read(&bd, 4, root, collect, &c, &why), -EUCLEAN);
	CHECK(strstr(why, "owner") != NULL);
	CHECK_EQ(vol_btree_read(&bd, 3, NB, collect, &c, &why), -EUCLEAN);
	CHECK_EQ(vol_btree_read(&bd, 3, 5, collect, &c, &why), -EUCLEAN); /* zeroes */
	struct vol_bdev small = {fd, 50, NULL, NULL};			  /* extents past it */
	c.nr = 0;
	CHECK_EQ(vol_btree_read(&small, 3, root, collect, &c, &why), -EUCLEAN);

	/* writer errors: unsorted or overlapping input, allocation failure */
	struct vol_disk_extent sw = e[0];
	e[0] = e[1];
	e[1] = sw;
	CHECK_EQ(vol_btree_write(&bd, 3, e, n, bump_alloc, &b, &root, NULL), -EINVAL);
	e[1] = e[0];
	e[0] = sw;
	e[1].lblk = e[0].lblk;
	CHECK_EQ(vol_btree_write(&bd, 3, e, 2, bump_alloc, &b, &root, NULL), -EINVAL);
	e[1].lblk = e[0].lblk + e[0].len;
	struct bump full = {10, 12};
	CHECK_EQ(vol_btree_write(&bd, 3, e, 1, bump_alloc, &full, &root, NULL), 0);
	CHECK_EQ(vol_btree_write(&bd, 3, e, n, bump_alloc, &full, &root, NULL), -ENOSPC);
	free(c.v);
	free(e);
	close(fd);
}

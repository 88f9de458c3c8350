/* SPDX-License-Identifier: MIT */
/*
 * btree.h - the on-disk B-trees of a vol volume: extent maps (owner = inode
 * number, keyed by file block) and the free-space tree (owner 0, keyed by
 * volume block). A tree is written whole, bottom-up, from sorted extents
 * into blocks the caller allocates, and read back with every node checked:
 * magic, crc32c, owner, level, count, child bounds, key order, extents
 * disjoint and inside the key range their parent gives them.
 *
 * Locking: none; the caller serialises access to the image.
 */
#ifndef PC_STORE_VOL_BTREE_H
#define PC_STORE_VOL_BTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/vol/format.h"

#define VOL_LEAF_CAP \
	((VOL_BLOCK_SIZE - sizeof(struct vol_node_hdr)) / sizeof(struct vol_disk_extent))
#define VOL_INDEX_CAP	    ((VOL_BLOCK_SIZE - sizeof(struct vol_node_hdr)) / sizeof(struct vol_index))
#define VOL_BTREE_MAX_LEVEL 8

/* Hands out one metadata block; 0 or -errno (-ENOSPC). */
typedef int (*vol_blk_alloc_fn)(void *arg, uint64_t *blk);
/* Receives each extent in key order; nonzero stops the walk with that value. */
typedef int (*vol_ext_emit_fn)(void *arg, const struct vol_disk_extent *e);

struct vol_dev;
/* A commit's metadata blocks kept in memory for its journal transaction
 * instead of written home (commit.c); past max blocks, or without memory,
 * it spills: what it holds and every later block go home. */
struct vol_mcap {
	uint64_t *home;
	char *buf;
	size_t nr, cap, max;
	bool spilled;
};
struct vol_bdev {
	int fd;		      /* the image */
	uint64_t nblocks;     /* node blocks must lie in [1, nblocks) */
	struct vol_dev *dev;  /* writes go through vol_dev_pwrite (io.h); NULL: plain */
	struct vol_mcap *cap; /* while a commit builds: metadata writes land here */
};

/* Writes one metadata block home, or into bd->cap while a commit captures.
 * 0 or -errno. */
int vol_meta_put(const struct vol_bdev *bd, uint64_t b, const char *blk);
/* Forgets what @c holds (its memory too). */
void vol_mcap_free(struct vol_mcap *c);

/* Write n extents (sorted, disjoint by key) as a tree; *root = 0 when n == 0.
 * *nodes (optional) gets the number of blocks used. 0 or -errno. */
int vol_btree_write(const struct vol_bdev *bd, uint64_t owner, const struct vol_disk_extent *e,
		    size_t n, vol_blk_alloc_fn alloc, void *arg, uint64_t *root, uint64_t *nodes);
/* Blocks a tree of n extents occupies (0 for n == 0). */
uint64_t vol_btree_nodes_for(uint64_t n);
/* Receives the block number of every node read. */
typedef int (*vol_node_fn)(void *arg, uint64_t blk);
/* As vol_btree_read(), also reporting each node's block to node (optional). */
int vol_btree_read_nodes(const struct vol_bdev *bd, uint64_t owner, uint64_t root,
			 vol_ext_emit_fn emit, vol_node_fn node, void *arg, const char **why);
/* Receives each node's block and level as the walk reaches it (pre-order:
 * a node before its entries and children). */
typedef int (*vol_node_level_fn)(void *arg, uint64_t blk, unsigned level);
/* As vol_btree_read_nodes(), reporting each node's level too (load builds
 * in-memory trees of the same shape). */
int vol_btree_read_shape(const struct vol_bdev *bd, uint64_t owner, uint64_t root,
			 vol_ext_emit_fn emit, vol_node_level_fn node, void *arg, const char **why);
/* Writes one node into block b: blk holds its nr entries after the header
 * space; the header and crc are filled in here. 0 or -errno. */
int vol_btree_put_node(const struct vol_bdev *bd, uint64_t b, uint64_t owner, unsigned level,
		       unsigned nr, char *blk);
/* Walk the tree at root (0: empty), emitting extents in order. 0, -EUCLEAN
 * (with *why) for any damage, -EIO/-errno for read failures. */
int vol_btree_read(const struct vol_bdev *bd, uint64_t owner, uint64_t root, vol_ext_emit_fn emit,
		   void *arg, const char **why);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * extmap.h - a vol inode's extent map: file block -> volume block, as a
 * set of disjoint extents (written or unwritten) in an in-memory B+tree
 * whose nodes mirror the on-disk extent-tree nodes (btree.h): a leaf holds
 * at most VOL_LEAF_CAP extents, an index node at most VOL_INDEX_CAP
 * children, and every node remembers the block it was last committed to
 * and whether it changed since. Range operations first split the extents
 * at the range's edges, then work on whole extents, then re-merge
 * neighbours that are contiguous in both file and volume and alike in kind.
 * Physical ranges displaced by an operation are reported through a release
 * callback (the allocator's free). A commit writes only the changed nodes
 * and their ancestors (vol_extmap_write, xtree.c).
 *
 * Locking: none inside; the inode's owner serialises. The shared pool of
 * spare nodes takes its own mutex (a leaf, nothing nests in it).
 */
#ifndef PC_STORE_VOL_EXTMAP_H
#define PC_STORE_VOL_EXTMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/vol/btree.h"
#include "kernel/testswitch.h"

#define VOL_EXT_MAX_LEN 0xffffffffull /* the on-disk length field is 32-bit */

struct vol_ext {
	uint64_t lblk, pblk, len;
	uint32_t flags; /* VOL_EXT_UNWRITTEN */
};

/* block numbers one dropped node's memory holds on the freed list */
#define VOL_XFREED_CAP (VOL_LEAF_CAP * sizeof(struct vol_ext) / sizeof(uint64_t))

struct vol_xnode;
struct vol_xent {
	uint64_t key; /* the first lblk in kid's subtree */
	struct vol_xnode *kid;
};

/* One node: a leaf (level 0) of extents or an index node of children. */
struct vol_xnode {
	uint16_t level, nr;
	bool dirty;		/* changed since its last commit (then so is its parent) */
	uint64_t blk;		/* block of its last commit; 0: never written */
	uint64_t new_blk;	/* during a commit: where this commit wrote it */
	struct vol_xnode *link; /* on a spare or freed-chunk list */
	union {
		struct vol_ext ext[VOL_LEAF_CAP];
		struct vol_xent ent[VOL_INDEX_CAP];
		uint64_t freed[VOL_XFREED_CAP]; /* a chunk of the freed list */
	};
};

struct vol_extmap {
	struct vol_xnode *root; /* NULL: no extents */
	size_t nr;		/* extents */
	uint64_t blocks;	/* blocks mapped */
	unsigned lcap, icap;	/* node capacities; 0: the on-disk ones (tests set less) */
	/* committed blocks of nodes dropped since the last commit, kept in
	 * the memory of dropped nodes (so dropping never allocates) */
	struct vol_xnode *freed;
	size_t nfreed;
	struct vol_xnode *spare; /* during an operation: nodes it may need */
	unsigned nspare;
	struct vol_ext last; /* during a load: the last extent (len 0: none) */
	/* the reference-count tree: extents {lblk = pblk, len, flags = count
	 * >= 2} (vol_extmap_check's rule for flags) */
	bool counts;
};

/* A position in the tree: the node and entry index at each level. */
struct vol_xpath {
	struct vol_xnode *n[VOL_BTREE_MAX_LEVEL];
	unsigned i[VOL_BTREE_MAX_LEVEL];
	unsigned top; /* the root's level */
};

/* In-order iteration: for (e = vol_extmap_first(m, &it); e; e = vol_extmap_next(&it)). */
struct vol_extmap_iter {
	struct vol_xpath p;
	bool ok;
};

enum vol_map_type { VOL_MAP_HOLE, VOL_MAP_MAPPED, VOL_MAP_UNWRITTEN };

struct vol_map {
	enum vol_map_type type;
	uint32_t flags;		  /* the extent's (0 for a hole) */
	uint64_t lblk, pblk, len; /* pblk only for MAPPED/UNWRITTEN */
};

/* Called with each physical range an operation drops from the map. */
typedef void (*vol_release_fn)(void *arg, uint64_t pblk, uint64_t len);

/* Tests: node capacities for maps initialised from now on (0: the on-disk
 * VOL_LEAF_CAP / VOL_INDEX_CAP; at least 3). Such maps cannot be written. */
DECLARE_TEST_KNOB(unsigned, vol_extmap_test_leaf_cap);
DECLARE_TEST_KNOB(unsigned, vol_extmap_test_index_cap);

void vol_extmap_init(struct vol_extmap *m);
void vol_extmap_destroy(struct vol_extmap *m);
/* What covers lblk, up to len blocks (len >= 1): the answer's len is clipped
 * to the extent or hole containing lblk. */
void vol_extmap_lookup(const struct vol_extmap *m, uint64_t lblk, uint64_t len,
		       struct vol_map *out);
/* Map [lblk, lblk+len) to [pblk, ...), replacing whatever was there. */
int vol_extmap_set(struct vol_extmap *m, uint64_t lblk, uint64_t pblk, uint64_t len, uint32_t flags,
		   vol_release_fn rel, void *arg);
/* Make [lblk, lblk+len) a hole. */
int vol_extmap_punch(struct vol_extmap *m, uint64_t lblk, uint64_t len, vol_release_fn rel,
		     void *arg);
/* Clear VOL_EXT_UNWRITTEN over [lblk, lblk+len) (mapped parts only). */
int vol_extmap_mark_written(struct vol_extmap *m, uint64_t lblk, uint64_t len);
/* Remove [lblk, lblk+len) and shift everything after it down by len. */
int vol_extmap_collapse(struct vol_extmap *m, uint64_t lblk, uint64_t len, vol_release_fn rel,
			void *arg);
/* Shift everything at or after lblk up by len, leaving a hole. -EFBIG on overflow. */
int vol_extmap_insert_range(struct vol_extmap *m, uint64_t lblk, uint64_t len);
/* Blocks mapped (written or unwritten). */
uint64_t vol_extmap_blocks(const struct vol_extmap *m);
/* Extents in the map. */
size_t vol_extmap_count(const struct vol_extmap *m);
/* Levels of the tree (0: empty, 1: one leaf). */
unsigned vol_extmap_depth(const struct vol_extmap *m);
/* Check the invariants: extents valid, in order and not mergeable; node
 * levels, counts, fill and separator keys; counters; dirty parents of dirty
 * nodes. 0 or -EUCLEAN. */
int vol_extmap_check(const struct vol_extmap *m);
extern const char *vol_extmap_check_why; /* what the last failed check saw */

const struct vol_ext *vol_extmap_first(const struct vol_extmap *m, struct vol_extmap_iter *it);
const struct vol_ext *vol_extmap_next(struct vol_extmap_iter *it);

/* ---- on-disk shape (xtree.c) ---- */

/* Each metadata block the map owns in the last commit (its nodes' blocks and
 * those of nodes dropped since), as fn(arg, blk, 1); stops at nonzero. */
int vol_extmap_for_each_block(const struct vol_extmap *m,
			      int (*fn)(void *arg, uint64_t blk, uint64_t len), void *arg);
/* The committed blocks the next commit replaces (of changed and of dropped
 * nodes), as above. */
int vol_extmap_for_each_replaced(const struct vol_extmap *m,
				 int (*fn)(void *arg, uint64_t blk, uint64_t len), void *arg);
/* Writes every changed node (and so its ancestors) into blocks from alloc,
 * children first; *root = the tree's root block afterwards (0: empty),
 * *written (optional) += nodes written. Changes nothing in the map but the
 * nodes' new_blk: after a failure the caller only takes the blocks back. */
/* Tests: write every node at each commit (the whole-tree rewrite of before). */
DECLARE_TEST_SWITCH(vol_extmap_test_rewrite_all);
int vol_extmap_write(struct vol_extmap *m, const struct vol_bdev *bd, uint64_t owner,
		     vol_blk_alloc_fn alloc, void *arg, uint64_t *root, uint64_t *written);
/* The commit that wrote them is durable: nodes take their new blocks, are
 * clean, and the dropped nodes' blocks are forgotten. */
void vol_extmap_committed(struct vol_extmap *m);
/* Marks every node dirty (the next write rewrites the whole tree). */
void vol_extmap_dirty_all(struct vol_extmap *m);
/* Nodes in the tree; *dirty = those the next write writes. O(nodes). */
size_t vol_extmap_nodes(const struct vol_extmap *m, size_t *dirty);
/* A write that will not be committed: every node's new_blk back to 0 (the
 * blocks, dirty flags and freed list stay: the next write redoes it). */
void vol_extmap_write_abort(struct vol_extmap *m);
/* Records a committed block the map owns but no node has (a tree loaded
 * without its shape). 0 or -ENOMEM. */
int vol_extmap_adopt_block(struct vol_extmap *m, uint64_t blk);

/* Building a map with the shape of an on-disk tree (load): feed the walk of
 * vol_btree_read_shape() in its order. -EAGAIN: the tree's shape cannot be
 * kept (neighbours that should have been merged, a node over this map's
 * capacity); destroy the map and load it extent by extent instead. */
int vol_extmap_load_node(struct vol_extmap *m, uint64_t blk, unsigned level);
int vol_extmap_load_ext(struct vol_extmap *m, const struct vol_disk_extent *e);
void vol_extmap_load_done(struct vol_extmap *m);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * btree.c - vol on-disk B-trees (see btree.h).
 *
 * Locking: none; the caller serialises access to the image.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/vol/btree.h"
#include "store/vol/io.h"

static uint64_t key_of(uint64_t owner, const struct vol_disk_extent *e)
{
	return owner ? e->lblk : e->pblk;
}

static void seal(char *blk)
{
	uint32_t zero = 0, crc;

	memcpy(blk + offsetof(struct vol_node_hdr, crc), &zero, 4);
	crc = vol_crc32c(0, blk, VOL_BLOCK_SIZE);
	memcpy(blk + offsetof(struct vol_node_hdr, crc), &crc, 4);
}

void vol_mcap_free(struct vol_mcap *c)
{
	free(c->home);
	free(c->buf);
	*c = (struct vol_mcap){0};
}

/* What @c holds goes home; it takes no more. */
static int mcap_spill(const struct vol_bdev *bd, struct vol_mcap *c)
{
	int r = 0;
	for (size_t i = 0; !r && i < c->nr; i++)
		r = vol_dev_pwrite(bd->dev, bd->fd, c->buf + i * VOL_BLOCK_SIZE, VOL_BLOCK_SIZE,
				   (off_t)(c->home[i] * VOL_BLOCK_SIZE));
	c->spilled = true;
	c->nr = 0;
	return r;
}

static int mcap_add(struct vol_mcap *c, uint64_t b, const char *blk)
{
	if (c->nr == c->cap) {
		size_t n = c->cap ? 2 * c->cap : 16;
		if (n > c->max)
			n = c->max;
		uint64_t *h = realloc(c->home, n * sizeof(*h));
		if (!h)
			return -ENOMEM;
		c->home = h;
		char *d = realloc(c->buf, n * VOL_BLOCK_SIZE);
		if (!d)
			return -ENOMEM;
		c->buf = d;
		c->cap = n;
	}
	c->home[c->nr] = b;
	memcpy(c->buf + c->nr * VOL_BLOCK_SIZE, blk, VOL_BLOCK_SIZE);
	c->nr++;
	return 0;
}

int vol_meta_put(const struct vol_bdev *bd, uint64_t b, const char *blk)
{
	struct vol_mcap *c = bd->cap;

	if (b == 0 || b >= bd->nblocks)
		return -EINVAL;
	if (c && !c->spilled && c->nr < c->max && mcap_add(c, b, blk) == 0)
		return 0;
	if (c && !c->spilled) { /* full or no memory: today's path for the rest */
		int r = mcap_spill(bd, c);
		if (r)
			return r;
	}
	return vol_dev_pwrite(bd->dev, bd->fd, blk, VOL_BLOCK_SIZE, (off_t)(b * VOL_BLOCK_SIZE));
}

static int put_block(const struct vol_bdev *bd, uint64_t b, const char *blk)
{
	return vol_meta_put(bd, b, blk);
}

/* Write one node of nr entries (of size esz) from src; return its block. */
static int write_node(const struct vol_bdev *bd, uint64_t owner, uint16_t level, const void *src,
		      size_t nr, size_t esz, vol_blk_alloc_fn alloc, void *arg, char *blk,
		      uint64_t *out)
{
	struct vol_node_hdr h = {
	    .magic = VOL_NODE_MAGIC, .level = level, .nr = (uint16_t)nr, .owner = owner};
	int r = alloc(arg, out);
	if (r)
		return r;
	memset(blk, 0, VOL_BLOCK_SIZE);
	memcpy(blk, &h, sizeof(h));
	memcpy(blk + sizeof(h), src, nr * esz);
	seal(blk);
	return put_block(bd, *out, blk);
}

int vol_btree_write(const struct vol_bdev *bd, uint64_t owner, const struct vol_disk_extent *e,
		    size_t n, vol_blk_alloc_fn alloc, void *arg, uint64_t *root, uint64_t *nodes)
{
	uint64_t used = 0;
	int r = 0;

	*root = 0;
	if (nodes)
		*nodes = 0;
	if (!n)
		return 0;
	for (size_t i = 1; i < n; i++)
		if (key_of(owner, &e[i]) < key_of(owner, &e[i - 1]) + e[i - 1].len)
			return -EINVAL;
	size_t nidx = (n + VOL_LEAF_CAP - 1) / VOL_LEAF_CAP;
	struct vol_index *idx = malloc(nidx * sizeof(*idx));
	char *blk = malloc(VOL_BLOCK_SIZE);
	if (!idx || !blk) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0, k = 0; i < n; i += VOL_LEAF_CAP, k++) {
		size_t nr = n - i < VOL_LEAF_CAP ? n - i : VOL_LEAF_CAP;
		uint64_t child;
		r = write_node(bd, owner, 0, &e[i], nr, sizeof(*e), alloc, arg, blk, &child);
		if (r)
			goto out;
		idx[k] = (struct vol_index){.key = key_of(owner, &e[i]), .child = child};
		used++;
	}
	/* index levels until one node remains; entries are compacted in place */
	for (uint16_t level = 1; nidx > 1; level++) {
		if (level >= VOL_BTREE_MAX_LEVEL) {
			r = -EFBIG;
			goto out;
		}
		size_t k = 0;
		for (size_t i = 0; i < nidx; i += VOL_INDEX_CAP, k++) {
			size_t nr = nidx - i < VOL_INDEX_CAP ? nidx - i : VOL_INDEX_CAP;
			uint64_t child, key = idx[i].key;
			r = write_node(bd, owner, level, &idx[i], nr, sizeof(*idx), alloc, arg, blk,
				       &child);
			if (r)
				goto out;
			idx[k] = (struct vol_index){.key = key, .child = child};
			used++;
		}
		nidx = k;
	}
	*root = idx[0].child;
	if (nodes)
		*nodes = used;
out:
	free(idx);
	free(blk);
	return r;
}

struct walk {
	const struct vol_bdev *bd;
	uint64_t owner;
	vol_ext_emit_fn emit;
	vol_node_fn node;
	vol_node_level_fn node_level;
	void *arg;
	const char **why;
	uint64_t next_key; /* every later key must be >= this */
	char *bufs[VOL_BTREE_MAX_LEVEL];
};

#define BAD(msg)                 \
	do {                     \
		*w->why = (msg); \
		return -EUCLEAN; \
	} while (0)

/* Walk node b, expected at level, whose keys lie in [lo, hi). */
static int walk(struct walk *w, uint64_t b, unsigned level, uint64_t lo, uint64_t hi)
{
	if (b == 0 || b >= w->bd->nblocks)
		BAD("vol: B-tree child block out of bounds");
	char *blk = w->bufs[level];
	ssize_t n = pread(w->bd->fd, blk, VOL_BLOCK_SIZE, (off_t)(b * VOL_BLOCK_SIZE));
	if (n < 0)
		return -errno;
	if (n != VOL_BLOCK_SIZE)
		BAD("vol: B-tree node past the end of the image");
	struct vol_node_hdr h;
	memcpy(&h, blk, sizeof(h));
	if (h.magic != VOL_NODE_MAGIC)
		BAD("vol: B-tree node: bad magic");
	uint32_t crc = h.crc;
	seal(blk);
	if (memcmp(blk + offsetof(struct vol_node_hdr, crc), &crc, 4) != 0)
		BAD("vol: B-tree node: checksum mismatch");
	if (h.owner != w->owner)
		BAD("vol: B-tree node: wrong owner");
	if (h.level != level)
		BAD("vol: B-tree node: wrong level");
	if (h.nr == 0 || h.nr > (level ? VOL_INDEX_CAP : VOL_LEAF_CAP))
		BAD("vol: B-tree node: bad entry count");
	if (w->node || w->node_level) {
		int r = w->node ? w->node(w->arg, b) : w->node_level(w->arg, b, level);
		if (r)
			return r;
	}
	for (unsigned i = 0; i < h.nr; i++) {
		if (level == 0) {
			struct vol_disk_extent e;
			memcpy(&e, blk + sizeof(h) + i * sizeof(e), sizeof(e));
			uint64_t k = key_of(w->owner, &e);
			if (w->owner == VOL_REFC_OWNER) { /* counts: >= 2, keyed by pblk */
				if (!e.len || e.flags < 2 || e.lblk != e.pblk)
					BAD("vol: reference-count tree: bad extent or count");
			} else if (!e.len || (e.flags & ~VOL_EXT_UNWRITTEN) ||
				   (!w->owner && e.flags)) {
				BAD("vol: B-tree extent: bad length or flags");
			}
			if (k < w->next_key || k < lo || k + e.len < k || k + e.len > hi)
				BAD("vol: B-tree extent: out of order or outside its node's range");
			if (e.pblk + e.len < e.pblk || e.pblk + e.len > w->bd->nblocks)
				BAD("vol: B-tree extent: beyond the volume");
			w->next_key = k + e.len;
			int r = w->emit(w->arg, &e);
			if (r)
				return r;
			continue;
		}
		struct vol_index x, nx;
		memcpy(&x, blk + sizeof(h) + i * sizeof(x), sizeof(x));
		uint64_t end = hi;
		if (i + 1 < h.nr) {
			memcpy(&nx, blk + sizeof(h) + (i + 1) * sizeof(nx), sizeof(nx));
			end = nx.key;
		}
		if (x.key < lo || end <= x.key || end > hi)
			BAD("vol: B-tree index: keys out of order");
		int r = walk(w, x.child, level - 1, x.key, end);
		if (r)
			return r;
		/* the child clobbered nothing of ours: each level has its own buffer */
	}
	return 0;
}

uint64_t vol_btree_nodes_for(uint64_t n)
{
	uint64_t c = (n + VOL_LEAF_CAP - 1) / VOL_LEAF_CAP, total = c;

	while (c > 1) {
		c = (c + VOL_INDEX_CAP - 1) / VOL_INDEX_CAP;
		total += c;
	}
	return total;
}

int vol_btree_read(const struct vol_bdev *bd, uint64_t owner, uint64_t root, vol_ext_emit_fn emit,
		   void *arg, const char **why)
{
	return vol_btree_read_nodes(bd, owner, root, emit, NULL, arg, why);
}

static int read_tree(const struct vol_bdev *bd, uint64_t owner, uint64_t root, vol_ext_emit_fn emit,
		     vol_node_fn node, vol_node_level_fn node_level, void *arg, const char **why)
{
	const char *dummy;
	struct walk w = {.bd = bd,
			 .owner = owner,
			 .emit = emit,
			 .node = node,
			 .node_level = node_level,
			 .arg = arg,
			 .why = why ? why : &dummy};
	struct vol_node_hdr h;
	int r = 0;

	*w.why = NULL;
	if (!root)
		return 0;
	if (root >= bd->nblocks) {
		*w.why = "vol: B-tree root out of bounds";
		return -EUCLEAN;
	}
	/* the root's level says the depth; walk() then checks it node by node */
	ssize_t n = pread(bd->fd, &h, sizeof(h), (off_t)(root * VOL_BLOCK_SIZE));
	if (n < 0)
		return -errno;
	if (n != sizeof(h) || h.level >= VOL_BTREE_MAX_LEVEL) {
		*w.why = "vol: B-tree root: bad level";
		return -EUCLEAN;
	}
	for (unsigned i = 0; i <= h.level; i++)
		if (!(w.bufs[i] = malloc(VOL_BLOCK_SIZE)))
			r = -ENOMEM;
	if (!r)
		r = walk(&w, root, h.level, 0, UINT64_MAX);
	for (unsigned i = 0; i <= h.level; i++)
		free(w.bufs[i]);
	return r;
}

int vol_btree_read_nodes(const struct vol_bdev *bd, uint64_t owner, uint64_t root,
			 vol_ext_emit_fn emit, vol_node_fn node, void *arg, const char **why)
{
	return read_tree(bd, owner, root, emit, node, NULL, arg, why);
}

int vol_btree_read_shape(const struct vol_bdev *bd, uint64_t owner, uint64_t root,
			 vol_ext_emit_fn emit, vol_node_level_fn node, void *arg, const char **why)
{
	return read_tree(bd, owner, root, emit, NULL, node, arg, why);
}

int vol_btree_put_node(const struct vol_bdev *bd, uint64_t b, uint64_t owner, unsigned level,
		       unsigned nr, char *blk)
{
	struct vol_node_hdr h = {
	    .magic = VOL_NODE_MAGIC, .level = (uint16_t)level, .nr = (uint16_t)nr, .owner = owner};

	if (!nr || nr > (level ? VOL_INDEX_CAP : VOL_LEAF_CAP) || level >= VOL_BTREE_MAX_LEVEL)
		return -EINVAL;
	memcpy(blk, &h, sizeof(h));
	seal(blk);
	return put_block(bd, b, blk);
}

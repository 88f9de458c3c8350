/* SPDX-License-Identifier: MIT */
/*
 * load.c - reading a mounted vol volume into memory (vstore.h): every inode
 * record, extent tree, directory block and symlink target, with every
 * invariant checked on the way: records and nodes by checksum and bounds,
 * directory entries naming live inodes of the right type, each directory
 * reached once and the tree connected to the root, link counts, and (owners.c)
 * every block of the data area owned exactly once (by a file, by metadata,
 * by the free-space tree, or free). Mount stops at the first problem; fsck
 * (struct vs_check) reports each, skips what is broken and records the
 * repair: structures dropped, entries to remove (dangling, a directory's
 * second name, the entry closing a directory cycle), inodes to relink,
 * shared data blocks to copy (owners.c).
 * Also the in-memory directory (hash by name, slots by readdir cookie).
 *
 * Locking: none; runs before the store is shared (mount, fsck).
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/vol/check.h"
#include "store/vol/vstore.h"

/* ---- lists and directories ---- */

static uint64_t name_hash(const char *name, size_t nlen)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < nlen; i++)
		h = (h ^ (unsigned char)name[i]) * 1099511628211ull;
	return h;
}

struct vdir *vdir_new(void)
{
	struct vdir *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->hsize = 16;
	d->hash = calloc(d->hsize, sizeof(*d->hash));
	if (!d->hash) {
		free(d);
		return NULL;
	}
	return d;
}

void vdir_free(struct vdir *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->onr; i++)
		free(d->order[i].e);
	free(d->order);
	free(d->hash);
	vdir_blk_free(d);
	free(d);
}

struct vdent *vdir_lookup(const struct vdir *d, const char *name, size_t nlen)
{
	for (struct vdent *e = d->hash[name_hash(name, nlen) & (d->hsize - 1)]; e; e = e->hnext)
		if (e->nlen == nlen && memcmp(e->name, name, nlen) == 0)
			return e;
	return NULL;
}

static int grow_hash(struct vdir *d)
{
	size_t ns = d->hsize * 2;
	struct vdent **h = calloc(ns, sizeof(*h));
	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < d->hsize; i++)
		for (struct vdent *e = d->hash[i], *next; e; e = next) {
			next = e->hnext;
			size_t b = name_hash(e->name, e->nlen) & (ns - 1);
			e->hnext = h[b];
			h[b] = e;
		}
	free(d->hash);
	d->hash = h;
	d->hsize = ns;
	return 0;
}

static void compact(struct vdir *d)
{
	size_t k = 0;
	for (size_t i = 0; i < d->onr; i++)
		if (d->order[i].e)
			d->order[k++] = d->order[i];
	d->onr = k;
	d->holes = 0;
}

int vdir_insert(struct vdir *d, const char *name, size_t nlen, uint64_t ino, uint8_t type,
		uint64_t cookie)
{
	if (d->count >= d->hsize && grow_hash(d))
		return -ENOMEM;
	if (d->onr && d->order[d->onr - 1].cookie >= cookie)
		return -EUCLEAN; /* cookies only grow */
	if (d->onr == d->ocap) {
		if (d->holes * 2 > d->onr)
			compact(d);
		if (d->onr == d->ocap && vol_grow(d->order, d->ocap, 8))
			return -ENOMEM;
	}
	if (vdir_blk_reserve(d))
		return -ENOMEM;
	struct vdent *e = malloc(sizeof(*e) + nlen + 1);
	if (!e)
		return -ENOMEM;
	e->ino = ino;
	e->cookie = cookie;
	e->type = type;
	e->nlen = (uint8_t)nlen;
	memcpy(e->name, name, nlen);
	e->name[nlen] = '\0';
	size_t b = name_hash(name, nlen) & (d->hsize - 1);
	e->hnext = d->hash[b];
	d->hash[b] = e;
	d->order[d->onr++] = (struct vslot){cookie, e};
	d->count++;
	vdir_blk_add(d, cookie, vdir_rec_size(nlen));
	return 0;
}

/* Index of the first slot with cookie >= c. */
size_t vdir_seek(const struct vdir *d, uint64_t c)
{
	size_t lo = 0, hi = d->onr;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->order[mid].cookie < c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void vdir_remove(struct vdir *d, struct vdent *e)
{
	struct vdent **pp = &d->hash[name_hash(e->name, e->nlen) & (d->hsize - 1)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	size_t i = vdir_seek(d, e->cookie);
	d->order[i].e = NULL;
	d->holes++;
	d->count--;
	vdir_blk_del(d, e->cookie, vdir_rec_size(e->nlen));
	free(e);
	if (d->holes > 64 && d->holes * 2 > d->onr)
		compact(d);
}

void vnode_free(struct vnode *n)
{
	if (!n)
		return;
	vol_extmap_destroy(&n->map);
	vol_alloc_destroy(&n->resv);
	free(n->meta.v);
	free(n->new_meta.v);
	vdir_free(n->dir);
	free(n->target);
	vs_xattr_free(&n->xa);
	free(n);
}

void vs_free_nodes(struct vstore *vs)
{
	if (vs->inodes && vs->ino_groups)
		for (uint64_t i = vs_next_ino(vs, 0); i < vs->ninodes; i = vs_next_ino(vs, i + 1))
			vnode_free(vs->inodes[i]);
	free(vs->inodes);
	free(vs->ino_groups);
	vs->ino_groups = NULL;
	free(vs->dirty);
	free(vs->blk_dirty);
	vs_refc_destroy(vs);
	vs->inodes = NULL;
	vs->dirty = NULL;
	vs->blk_dirty = NULL;
}

/* ---- problems ---- */

/* Strict (no check): fail with why. Check: report, count, go on (return 0). */
int vs_problem(struct vs_check *ck, const char **why, uint64_t ino, const char *msg)
{
	if (!ck) {
		*why = msg;
		return -EUCLEAN;
	}
	ck->errors++;
	if (ck->report) {
		if (ino)
			fprintf(ck->report, "vol fsck: inode %llu: %s\n", (unsigned long long)ino,
				msg + (strncmp(msg, "vol: ", 5) ? 0 : 5));
		else
			fprintf(ck->report, "vol fsck: %s\n",
				msg + (strncmp(msg, "vol: ", 5) ? 0 : 5));
	}
	return 0;
}

/* fsck: n loses its extent tree (and directory blocks). A symlink without
 * its target goes (entries naming it dangle); a file keeps its record
 * without extents, a directory without entries (its children turn up
 * unreachable). Either way the old blocks are no longer owned: the rebuilt
 * free space gets those no one else owns. */
int vs_drop_structure(struct vstore *vs, struct vnode *n, struct vs_check *ck)
{
	if (S_ISLNK(n->di.mode)) {
		vs->inodes[n->ino] = NULL;
		vs->inodes_used--;
		int r = vblist_add(&ck->clear, n->ino, 1);
		vnode_free(n);
		return r;
	}
	vol_extmap_destroy(&n->map);
	vol_extmap_init(&n->map);
	n->meta.nr = 0;
	vs_xattr_free(&n->xa);
	n->xa.blk = 0;
	n->di.xattr_blk = 0;
	if (n->dir) {
		vdir_free(n->dir);
		if (!(n->dir = vdir_new()))
			return -ENOMEM;
	}
	n->map_dirty = true;
	n->dirty = true;
	return 0;
}

/* ---- reading one inode's trees ---- */

struct tree_ctx {
	struct vstore *vs;
	struct vnode *n;
	struct vol_blist dblk; /* directory: its blocks in lblk order */
	uint64_t next_lblk;
	const char *bad;
	bool shape; /* a file: build its map with the tree's shape */
};

static int emit_ext(void *arg, const struct vol_disk_extent *e)
{
	struct tree_ctx *c = arg;
	const struct vol_super *sb = &c->vs->v->sb;

	if (e->pblk < sb->data_start || e->pblk + e->len > sb->nblocks || e->len == 0) {
		c->bad = "vol: extent outside the data area";
		return -EUCLEAN;
	}
	if (c->n->dir) { /* directory blocks: lblk 0.. contiguous, written */
		if (e->lblk != c->next_lblk || e->flags) {
			c->bad = "vol: directory extents not contiguous from 0";
			return -EUCLEAN;
		}
		c->next_lblk += e->len;
		return vblist_add(&c->dblk, e->pblk, e->len);
	}
	if (e->lblk + e->len > (uint64_t)VOL_MAX_FILE / VOL_BLOCK_SIZE) {
		c->bad = "vol: extent beyond the largest file";
		return -EUCLEAN;
	}
	if (c->shape)
		return vol_extmap_load_ext(&c->n->map, e);
	return vol_extmap_set(&c->n->map, e->lblk, e->pblk, e->len, e->flags, NULL, NULL);
}

static int emit_node(void *arg, uint64_t blk)
{
	struct tree_ctx *c = arg;
	if (!c->n->dir) /* a file's tree loaded without its shape */
		return vol_extmap_adopt_block(&c->n->map, blk);
	return vblist_add(&c->n->meta, blk, 1);
}

static int emit_shape(void *arg, uint64_t blk, unsigned level)
{
	struct tree_ctx *c = arg;
	return vol_extmap_load_node(&c->n->map, blk, level);
}

/* A file's extents: an in-memory tree of the on-disk shape, each node clean
 * with its block, so unchanged subtrees keep their blocks at commits; a
 * tree that cannot keep its shape (neighbours that should have merged) is
 * loaded extent by extent instead, its blocks then replaced at the next
 * commit that changes the file. */
static int load_file_tree(struct vstore *vs, struct vnode *n, struct tree_ctx *c, const char **bad)
{
	c->shape = true;
	int r = vol_btree_read_shape(&vs->v->bd, n->ino, n->di.extent_root, emit_ext, emit_shape, c,
				     bad);
	if (!r)
		vol_extmap_load_done(&n->map);
	if (r != -EAGAIN)
		return r;
	vol_extmap_destroy(&n->map);
	c->shape = false;
	return vol_btree_read_nodes(&vs->v->bd, n->ino, n->di.extent_root, emit_ext, emit_node, c,
				    bad);
}

static int load_dirblock(struct vstore *vs, struct vnode *n, const char *blk, uint64_t pblk,
			 const char **bad)
{
	struct vol_dirblk_hdr h;
	memcpy(&h, blk, sizeof(h));
	uint32_t crc = h.crc;
	*bad = "vol: directory block checksum mismatch";
	if (h.magic != VOL_DIRB_MAGIC || h.owner != n->ino)
		return -EUCLEAN;
	char tmp[VOL_BLOCK_SIZE];
	memcpy(tmp, blk, VOL_BLOCK_SIZE);
	memset(tmp + offsetof(struct vol_dirblk_hdr, crc), 0, 4);
	if (vol_crc32c(0, tmp, VOL_BLOCK_SIZE) != crc)
		return -EUCLEAN;
	*bad = "vol: directory block records malformed";
	if (h.used > VOL_BLOCK_SIZE - sizeof(h))
		return -EUCLEAN;
	size_t off = sizeof(h), end = sizeof(h) + h.used;
	int e = vdir_blk_load_begin(n->dir);
	if (e)
		return e;
	for (uint32_t i = 0; i < h.nr; i++) {
		struct vol_dirent_rec r;
		if (off + sizeof(r) > end)
			return -EUCLEAN;
		memcpy(&r, blk + off, sizeof(r));
		off += sizeof(r);
		if (r.name_len == 0 || off + r.name_len > end || r.ino == 0 ||
		    r.ino >= vs->ninodes || r.cookie == 0 || r.cookie >= n->di.next_cookie ||
		    (r.type != DT_REG && r.type != DT_DIR && r.type != DT_LNK &&
		     r.type != DT_FIFO && r.type != DT_SOCK && r.type != DT_CHR &&
		     r.type != DT_BLK))
			return -EUCLEAN;
		const char *name = blk + off;
		off += r.name_len;
		if (memchr(name, '/', r.name_len) || memchr(name, 0, r.name_len) ||
		    (name[0] == '.' && (r.name_len == 1 || (r.name_len == 2 && name[1] == '.'))))
			return -EUCLEAN;
		*bad = "vol: directory entries duplicated or out of order";
		if (vdir_lookup(n->dir, name, r.name_len))
			return -EUCLEAN;
		e = vdir_insert(n->dir, name, r.name_len, r.ino, r.type, r.cookie);
		if (e)
			return e;
		*bad = "vol: directory block records malformed";
	}
	if (off != end)
		return -EUCLEAN;
	*bad = "vol: directory block empty";
	return vdir_blk_load_end(n->dir, pblk);
}

static int load_trees(struct vstore *vs, struct vnode *n, struct vs_check *ck, const char **why)
{
	struct tree_ctx c = {.vs = vs, .n = n};
	const char *bad = NULL;
	int r = n->dir ? vol_btree_read_nodes(&vs->v->bd, n->ino, n->di.extent_root, emit_ext,
					      emit_node, &c, &bad)
		       : load_file_tree(vs, n, &c, &bad);
	if (!r && n->dir) {
		char *blk = malloc(VOL_BLOCK_SIZE);
		struct vol_blist tnodes = {0};
		r = blk ? 0 : -ENOMEM;
		for (size_t i = 0; !r && i < n->meta.nr; i++)
			r = vblist_add(&tnodes, n->meta.v[i].start, n->meta.v[i].len);
		if (!r && c.next_lblk * VOL_BLOCK_SIZE != n->di.size) {
			c.bad = "vol: directory size disagrees with its blocks";
			r = -EUCLEAN;
		}
		for (size_t i = 0; !r && i < c.dblk.nr; i++)
			for (uint64_t b = c.dblk.v[i].start;
			     !r && b < c.dblk.v[i].start + c.dblk.v[i].len; b++) {
				r = vol_dev_pread(&vs->v->dev, vs->v->fd, blk, VOL_BLOCK_SIZE,
						  (off_t)(b * VOL_BLOCK_SIZE));
				if (!r)
					r = load_dirblock(vs, n, blk, b, &c.bad);
				if (!r)
					r = vblist_add(&n->meta, b, 1);
			}
		if (!r) /* n->meta: the tree's nodes, then the directory blocks */
			r = vdir_blk_load_done(n->dir, &tnodes);
		free(tnodes.v);
		free(blk);
	}
	free(c.dblk.v);
	if (!r && !n->dir && vol_extmap_blocks(&n->map) != n->di.blocks) {
		c.bad = "vol: inode block count disagrees with its extents";
		r = -EUCLEAN;
	}
	if (!r && S_ISLNK(n->di.mode)) {
		struct vol_map m;
		vol_extmap_lookup(&n->map, 0, 1, &m);
		c.bad = "vol: symlink target missing or of bad length";
		r = -EUCLEAN;
		if (n->di.size >= 1 && n->di.size < 4096 && m.type == VOL_MAP_MAPPED &&
		    vol_extmap_count(&n->map) == 1 && (n->target = calloc(1, VOL_BLOCK_SIZE))) {
			r = vol_dev_pread(&vs->v->dev, vs->v->fd, n->target, VOL_BLOCK_SIZE,
					  (off_t)(m.pblk * VOL_BLOCK_SIZE));
			if (!r && strlen(n->target) != n->di.size)
				r = -EUCLEAN;
		}
	}
	if (r == -EUCLEAN) {
		const char *msg = bad ? bad : c.bad;
		int p = vs_problem(ck, why, n->ino, msg ? msg : "vol: extent tree damaged");
		return p ? p : vs_drop_structure(vs, n, ck);
	}
	if (r && !*why)
		*why = "vol: cannot read metadata";
	return r;
}

/* n's extended attributes; fsck drops a damaged block (the attributes are
 * lost, the block returns to free space). */
static int load_xattrs(struct vstore *vs, struct vnode *n, struct vs_check *ck, const char **why)
{
	const char *bad = NULL;
	int r = vs_xattr_load(vs, n, &bad);
	if (r == -EUCLEAN) {
		r = vs_problem(ck, why, n->ino, bad);
		if (!r) {
			n->xa.blk = 0;
			n->di.xattr_blk = 0;
			n->dirty = true;
		}
	} else if (r && !*why) {
		*why = bad ? bad : "vol: cannot read metadata";
	}
	return r;
}

/* ---- the namespace ---- */

static int check_drop(struct vs_check *ck, uint64_t dir, uint64_t cookie)
{
	if (ck->ndrop == ck->cdrop && vol_grow(ck->drop, ck->cdrop, 16))
		return -ENOMEM;
	ck->drop[ck->ndrop++] = (struct vs_drop){dir, cookie};
	return 0;
}

static int check_names(struct vstore *vs, struct vs_check *ck, const char **why)
{
	uint32_t *refs = calloc(vs->ninodes, sizeof(*refs));
	uint32_t *subdirs = calloc(vs->ninodes, sizeof(*subdirs));
	uint64_t *pcookie = calloc(vs->ninodes, sizeof(*pcookie)); /* the entry naming a dir */
	uint64_t *seen = calloc(vs->ninodes, sizeof(*seen));
	int r = refs && subdirs && pcookie && seen ? 0 : -ENOMEM;
	uint64_t root = vs->v->sb.root_ino;

	for (uint64_t i = vs_next_ino(vs, 1); !r && i < vs->ninodes; i = vs_next_ino(vs, i + 1)) {
		struct vnode *d = vs->inodes[i];
		if (!d || !d->dir)
			continue;
		for (size_t k = 0; !r && k < d->dir->onr; k++) {
			struct vdent *e = d->dir->order[k].e;
			if (!e)
				continue;
			struct vnode *t = vs->inodes[e->ino];
			const char *msg = NULL;
			if (!t || t->di.nlink == 0)
				msg = "vol: directory entry names a free inode";
			else if (vol_dtype(t->di.mode) != e->type)
				msg = "vol: directory entry type disagrees with the inode";
			else if (t->dir && (e->ino == root || refs[e->ino]))
				msg = "vol: directory linked more than once";
			if (msg) {
				r = vs_problem(ck, why, i, msg);
				if (!r && ck)
					r = check_drop(ck, i, e->cookie);
				continue;
			}
			refs[e->ino]++;
			if (t->dir) {
				t->dir->parent = i;
				pcookie[e->ino] = e->cookie;
				subdirs[i]++;
			}
		}
	}
	if (!r)
		vs->inodes[root]->dir->parent = root;
	/* connected: every named directory's parent chain reaches the root (or
	 * an unnamed directory, relinked by fsck); one that loops instead is
	 * on or below a cycle of directories named only by each other. fsck
	 * breaks the cycle at its lowest-numbered directory m: the entry
	 * naming m goes and m is relinked into the root like any unreachable
	 * inode (seen[m] = UINT64_MAX: reported here already). */
	for (uint64_t i = vs_next_ino(vs, 1); !r && i < vs->ninodes; i = vs_next_ino(vs, i + 1)) {
		struct vnode *n = vs->inodes[i];
		if (!n || !n->dir || i == root || !refs[i] || n->di.nlink == 0)
			continue;
		uint64_t p = i;
		while (p != root && refs[p] && seen[p] != i) {
			seen[p] = i;
			p = vs->inodes[p]->dir->parent;
		}
		if (p == root || !refs[p])
			continue;
		uint64_t m = p;
		for (uint64_t q = vs->inodes[p]->dir->parent; q != p;
		     q = vs->inodes[q]->dir->parent)
			if (q < m)
				m = q;
		r = vs_problem(ck, why, m, "vol: directory cycle, not connected to the root");
		if (r || !ck)
			continue;
		if (vol_fsck_test_no_cycle_repair) {
			ck->unfixable++;
			continue;
		}
		uint64_t pm = vs->inodes[m]->dir->parent;
		r = check_drop(ck, pm, pcookie[m]);
		subdirs[pm]--;
		refs[m] = 0;
		seen[m] = UINT64_MAX;
	}
	for (uint64_t i = vs_next_ino(vs, 1); !r && i < vs->ninodes; i = vs_next_ino(vs, i + 1)) {
		struct vnode *n = vs->inodes[i];
		if (!n || i == root)
			continue;
		if (n->di.nlink == 0) { /* an orphan: unlinked while open */
			if (refs[i])
				r = vs_problem(ck, why, i, "vol: orphan inode still named");
			continue;
		}
		if (!refs[i]) {
			if (seen[i] != UINT64_MAX)
				r = vs_problem(ck, why, i,
					       "vol: inode not reachable from the root");
			if (!r && ck)
				r = vblist_add(&ck->lost, i, 1);
			continue;
		}
		uint32_t want = n->dir ? 2 + subdirs[i] : refs[i];
		if (n->di.nlink != want) {
			r = vs_problem(ck, why, i, "vol: link count wrong");
			if (!r && ck) {
				n->di.nlink = want;
				n->dirty = true;
			}
		}
	}
	if (!r && vs->inodes[root]->di.nlink != 2 + subdirs[root]) {
		r = vs_problem(ck, why, root, "vol: link count wrong");
		if (!r && ck) {
			vs->inodes[root]->di.nlink = 2 + subdirs[root];
			vs->inodes[root]->dirty = true;
		}
	}
	free(refs);
	free(subdirs);
	free(pcookie);
	free(seen);
	return r;
}

/* ---- the whole volume ---- */

TEST_SWITCH(vol_fsck_test_no_root_rebuild);

/* fsck: the root inode is free (its inode-table block zeroed), unreadable
 * (its slot already listed in ck->clear) or not a directory: a new, empty
 * root directory takes its slot. What the old root named is then reachable
 * from nothing: check_names lists it for relinking into /lost+found, and
 * the old root's blocks, owned by no inode, return to free space. A
 * non-directory in the root's slot is dropped (its blocks freed the same
 * way): its inode number is the root's. */
static int recreate_root(struct vstore *vs, struct vs_check *ck)
{
	uint64_t ino = vs->v->sb.root_ino;
	struct vnode *old = vs->inodes[ino];
	const char *why = NULL;
	int r = vs_problem(ck, &why, ino,
			   old ? "vol: the root inode is not a directory: recreated"
			       : "vol: the root inode is missing: recreated");
	if (r)
		return r;
	struct vnode *n = calloc(1, sizeof(*n));
	if (!n || !(n->dir = vdir_new())) {
		free(n);
		return -ENOMEM;
	}
	if (old) {
		vnode_free(old);
		vs->inodes_used--;
	}
	n->ino = ino;
	n->di.mode = S_IFDIR | 0755;
	n->di.nlink = 2;
	n->di.generation = old ? old->di.generation + 1 : 1;
	n->di.next_cookie = 1;
	vs_now(&n->di, true, true, true);
	n->dir->parent = ino;
	n->dirty = true;
	n->map_dirty = true;
	vs_ino_mark(vs, ino);
	vs->inodes[ino] = n;
	vs->inodes_used++;
	return 0;
}

TEST_SWITCH(vol_test_no_itable_holes);

/* The first inode-table block at or after @b that may hold an inode, and in
 * *data_end the end of the run of blocks that may (both relative to the
 * table). A hole in the image reads as zeroes, all free slots: an empty or
 * sparsely used table of a sparse image is skipped, so mount reads the
 * blocks that inodes were ever written to, not the table's size. A device
 * or file system without SEEK_DATA reads all. */
static uint64_t itable_next_data(struct vol *v, uint64_t b, uint64_t *data_end)
{
	const uint64_t start = v->sb.itable_start, end = v->sb.itable_blocks;
	*data_end = end;
	if (vol_test_no_itable_holes)
		return b;
	off_t off = (off_t)((start + b) * VOL_BLOCK_SIZE);
	off_t d = lseek(v->fd, off, SEEK_DATA);
	if (d < 0)
		return errno == ENXIO ? end : b; /* ENXIO: a hole to the end of the image */
	uint64_t db = (uint64_t)d / VOL_BLOCK_SIZE;
	if (db >= start + end)
		return end;
	if (db > start + b)
		b = db - start;
	off_t h = lseek(v->fd, (off_t)((start + b) * VOL_BLOCK_SIZE), SEEK_HOLE);
	if (h > 0) {
		uint64_t hb = ((uint64_t)h + VOL_BLOCK_SIZE - 1) / VOL_BLOCK_SIZE;
		if (hb > start + b && hb < start + end)
			*data_end = hb - start;
	}
	return b;
}

int vs_load_checked(struct vstore *vs, struct vs_check *ck, const char **why)
{
	struct vol *v = vs->v;
	char *blk = malloc(VOL_BLOCK_SIZE);
	const uint64_t per = VOL_BLOCK_SIZE / VOL_INODE_SIZE;
	int r = 0;

	*why = NULL;
	vs->ninodes = vol_inode_count(&v->sb);
	vs->inodes = calloc(vs->ninodes, sizeof(*vs->inodes));
	vs->ino_groups = calloc((vs->ninodes / VS_INO_GROUP + 64) / 64, sizeof(uint64_t));
	vs->blk_dirty = calloc(v->sb.itable_blocks, 1);
	if (!blk || !vs->inodes || !vs->ino_groups || !vs->blk_dirty) {
		free(blk);
		return -ENOMEM;
	}
	uint64_t data_end = 0; /* blocks below: known data (or unknown) */
	for (uint64_t b = 0; !r && b < v->sb.itable_blocks; b++) {
		if (b >= data_end) {
			b = itable_next_data(v, b, &data_end);
			if (b >= v->sb.itable_blocks)
				break;
		}
		r = vol_dev_pread(&v->dev, v->fd, blk, VOL_BLOCK_SIZE,
				  (off_t)((v->sb.itable_start + b) * VOL_BLOCK_SIZE));
		if (r) {
			*why = "vol: cannot read the inode table";
			break;
		}
		for (uint64_t s = 0; !r && s < per; s++) {
			uint64_t ino = b * per + s;
			struct vol_disk_inode di;
			const char *bad = NULL;
			int e = vol_inode_decode(&v->sb, ino, blk + s * VOL_INODE_SIZE, &di, &bad);
			if (e == -ENOENT)
				continue;
			if (!e && ino == 0)
				e = -EUCLEAN, bad = "vol: inode 0 in use";
			if (e) {
				r = vs_problem(ck, why, ino, bad ? bad : "vol: bad inode");
				if (!r && ck)
					r = vblist_add(&ck->clear, ino, 1);
				continue;
			}
			struct vnode *n = calloc(1, sizeof(*n));
			if (!n || (S_ISDIR(di.mode) && !(n->dir = vdir_new()))) {
				free(n);
				r = -ENOMEM;
				break;
			}
			n->ino = ino;
			n->di = di;
			if (di.xattr_blk || di.rdev || vol_mode_special(di.mode))
				vs_feature_inode_ext(vs); /* kept by the next commit */
			vs_ino_mark(vs, ino);
			vs->inodes[ino] = n;
			vs->inodes_used++;
		}
	}
	free(blk);
	if (!r) /* before anything releases blocks (counts decide) */
		r = vs_refc_load(vs, ck, why);
	if (r)
		return r;
	struct vnode *root = vs->inodes[v->sb.root_ino];
	if (!root || !root->dir || root->di.nlink == 0) {
		if (!ck || vol_fsck_test_no_root_rebuild) {
			*why = "vol: the root inode is missing or not a directory";
			if (ck)
				ck->unfixable++;
			return -EUCLEAN;
		}
		r = recreate_root(vs, ck);
		if (r)
			return r;
	}
	for (uint64_t i = vs_next_ino(vs, 1); !r && i < vs->ninodes; i = vs_next_ino(vs, i + 1))
		if (vs->inodes[i]) {
			r = load_trees(vs, vs->inodes[i], ck, why);
			if (!r && vs->inodes[i]) /* (fsck may have dropped a symlink) */
				r = load_xattrs(vs, vs->inodes[i], ck, why);
		}
	if (!r)
		r = vs_check_meta_claims(vs, ck, why);
	if (!r)
		r = check_names(vs, ck, why);
	if (!r)
		r = vs_check_ownership(vs, ck, why);
	if (!r)
		r = vs_refc_check(vs, ck, why);
	return r;
}

int vs_load(struct vstore *vs, const char **why)
{
	return vs_load_checked(vs, NULL, why);
}

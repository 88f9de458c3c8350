/* SPDX-License-Identifier: MIT */
/*
 * volume.c - mount, space accounting and copy-on-write commit of the
 * free-space tree of a vol volume (see volume.h, docs/vol-format.md).
 *
 * Commit: C = allocatable + pending + old tree blocks (the free set once the
 * commit is durable). The new tree's n blocks are carved from the tail of
 * the longest allocatable extent (free in the last commit too, so nothing
 * durable is overwritten) and taken out of C; the tree of C is written
 * there, flushed, then the superblock points at it and is flushed. Only then
 * does C become the allocator, so blocks freed by a commit are reused only
 * after it is durable.
 *
 * Locking: vol->lock (mutex) around every entry point; nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/vol/inode.h"
#include "store/vol/volume.h"

int vblist_add(struct vol_blist *l, uint64_t start, uint64_t len)
{
	if (l->nr && l->v[l->nr - 1].start + l->v[l->nr - 1].len == start) {
		l->v[l->nr - 1].len += len;
		return 0;
	}
	if (l->nr == l->cap && vol_grow(l->v, l->cap, 8))
		return -ENOMEM;
	l->v[l->nr++] = (struct vol_fext){start, len};
	return 0;
}

static void blist_free(struct vol_blist *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

struct mount_ctx {
	struct vol *v;
	const char **why;
};

static int mount_emit(void *arg, const struct vol_disk_extent *e)
{
	struct mount_ctx *c = arg;
	if (e->pblk < c->v->sb.data_start || e->pblk + e->len > vol_data_end(&c->v->sb) ||
	    vol_alloc_free(&c->v->alloc, e->pblk, e->len)) {
		*c->why = "vol: free-space tree: extent outside the data area or overlapping";
		return -EUCLEAN;
	}
	return 0;
}

static int mount_node(void *arg, uint64_t blk)
{
	struct mount_ctx *c = arg;
	if (blk >= c->v->sb.data_start && blk < vol_data_end(&c->v->sb))
		return vblist_add(&c->v->tree, blk, 1);
	if (blk != c->v->sb.data_start - 1) { /* mkfs's root lives just below */
		*c->why = "vol: free-space tree node inside a reserved region";
		return -EUCLEAN;
	}
	return 0;
}

int vol_mount(const char *path, struct vol **out, const char **why)
{
	return vol_mount_opts(path, NULL, 0, out, why);
}

int vol_mount_opts(const char *path, const struct vol_super *sb, unsigned flags, struct vol **out,
		   const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	*why = NULL;
	int r = sb ? 0 : vol_read_super(path, &(struct vol_super){0}, why);
	if (r)
		return r;
	struct vol *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	pthread_mutex_init(&v->lock, NULL);
	vol_alloc_init(&v->alloc);
	v->fd = open(path, O_RDWR | O_CLOEXEC);
	if (v->fd < 0) {
		r = -errno;
		*why = "vol: cannot open image read-write";
		goto fail;
	}
	char *blk = malloc(VOL_BLOCK_SIZE);
	if (!blk) {
		r = -ENOMEM;
		goto fail;
	}
	/* re-read through our fd: the image is ours from here */
	ssize_t n = sb ? 0 : pread(v->fd, blk, VOL_BLOCK_SIZE, 0);
	if (sb)
		v->sb = *sb;
	else
		r = n == VOL_BLOCK_SIZE ? vol_super_decode(&v->sb, blk, why)
					: (n < 0 ? -errno : -EIO);
	free(blk);
	if (r)
		goto fail;
	v->bd = (struct vol_bdev){v->fd, v->sb.nblocks, &v->dev};
	struct vol_disk_inode root;
	r = vol_inode_read(v->fd, &v->sb, v->sb.root_ino, &root, why);
	if (r == -ENOENT || (!r && !S_ISDIR(root.mode))) {
		*why = "vol: the root inode is not a directory";
		r = -EUCLEAN;
	}
	if (r)
		goto fail;
	if (flags & VOL_MOUNT_NO_FREE_TREE) {
		*out = v;
		return 0;
	}
	struct mount_ctx c = {v, why};
	r = vol_btree_read_nodes(&v->bd, 0, v->sb.free_root, mount_emit, mount_node, &c, why);
	if (r)
		goto fail;
	for (size_t i = 0; i < v->tree.nr; i++)
		for (uint64_t b = v->tree.v[i].start; b < v->tree.v[i].start + v->tree.v[i].len;
		     b++)
			if (vol_alloc_is_free(&v->alloc, b, 1)) {
				*why = "vol: free-space tree node lies in free space";
				r = -EUCLEAN;
				goto fail;
			}
	if (v->alloc.free != v->sb.free_blocks) {
		*why = "vol: superblock free count disagrees with the free-space tree";
		r = -EUCLEAN;
		goto fail;
	}
	*out = v;
	return 0;
fail:
	vol_unmount(v);
	return r;
}

void vol_unmount(struct vol *v)
{
	if (v->fd >= 0)
		close(v->fd);
	vol_alloc_destroy(&v->alloc);
	blist_free(&v->pending);
	blist_free(&v->tree);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

int64_t vol_alloc_blocks(struct vol *v, uint64_t want, uint64_t hint, uint64_t *start)
{
	pthread_mutex_lock(&v->lock);
	int64_t r = vol_alloc_alloc(&v->alloc, want, hint, start);
	pthread_mutex_unlock(&v->lock);
	return r;
}

int vol_release_blocks(struct vol *v, uint64_t start, uint64_t len)
{
	int r = -EINVAL;

	pthread_mutex_lock(&v->lock);
	/* a release of a block that is free (now or pending) is a double free */
	if (len && start >= v->sb.data_start && start + len <= vol_data_end(&v->sb) &&
	    start + len > start)
		r = 0;
	if (!r && vol_alloc_any_free(&v->alloc, start, len))
		r = -EINVAL;
	for (size_t i = 0; !r && i < v->pending.nr; i++)
		if (start < v->pending.v[i].start + v->pending.v[i].len &&
		    v->pending.v[i].start < start + len)
			r = -EINVAL;
	if (!r)
		r = vblist_add(&v->pending, start, len);
	pthread_mutex_unlock(&v->lock);
	return r;
}

uint64_t vol_free_blocks(struct vol *v)
{
	pthread_mutex_lock(&v->lock);
	uint64_t n = v->alloc.free;
	for (size_t i = 0; i < v->pending.nr; i++)
		n += v->pending.v[i].len;
	pthread_mutex_unlock(&v->lock);
	return n;
}

/* Extents the tree of a holds, counting splits of over-long extents. */
static uint64_t disk_extents(const struct vol_alloc *a)
{
	uint64_t n = 0;
	for (size_t i = 0; i < a->nr; i++)
		n += (a->v[i].len + VOL_EXT_MAX32 - 1) / VOL_EXT_MAX32;
	return n;
}

struct carve {
	uint64_t next, end;
};

static int carve_alloc(void *arg, uint64_t *blk)
{
	struct carve *c = arg;
	if (c->next >= c->end)
		return -ENOSPC;
	*blk = c->next++;
	return 0;
}

static int do_prepare(struct vol *v, struct vol_alloc *c, struct vol_txn *t)
{
	int r = vol_alloc_clone(c, &v->alloc);
	if (r)
		return r;
	for (size_t i = 0; !r && i < v->pending.nr; i++)
		r = vol_alloc_free(c, v->pending.v[i].start, v->pending.v[i].len);
	for (size_t i = 0; !r && i < v->tree.nr; i++)
		r = vol_alloc_free(c, v->tree.v[i].start, v->tree.v[i].len);
	if (r)
		return r == -EINVAL ? -EUCLEAN : r;
	/* the new tree's blocks: the tail of the longest allocatable extent */
	long li = vol_alloc_largest(&v->alloc);
	if (li < 0)
		return -ENOSPC;
	uint64_t end = v->alloc.v[li].start + v->alloc.v[li].len, len = v->alloc.v[li].len;
	uint64_t taken = 0;
	for (;;) {
		uint64_t need = vol_btree_nodes_for(disk_extents(c));
		if (need <= taken)
			break;
		if (need >= len) /* keep the extent: consuming it would change the count */
			return -ENOSPC;
		r = vol_alloc_take(c, end - need, need - taken);
		if (r)
			return r == -ENOENT ? -EUCLEAN : r;
		taken = need;
	}
	/* snapshot C as disk extents */
	uint64_t ne = disk_extents(c);
	struct vol_disk_extent *e = malloc((ne ? ne : 1) * sizeof(*e));
	if (!e)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < c->nr; i++)
		for (uint64_t s = c->v[i].start, left = c->v[i].len; left;) {
			uint32_t n =
			    left > VOL_EXT_MAX32 ? (uint32_t)VOL_EXT_MAX32 : (uint32_t)left;
			e[k++] = (struct vol_disk_extent){.pblk = s, .len = n};
			s += n;
			left -= n;
		}
	struct carve cv = {end - taken, end};
	uint64_t root, nodes;
	r = vol_btree_write(&v->bd, 0, e, k, carve_alloc, &cv, &root, &nodes);
	free(e);
	if (r)
		return r;
	if (nodes != taken)
		return -EUCLEAN; /* cannot happen: nodes_for() and the writer agree */
	t->sb = v->sb;
	t->sb.free_root = root;
	t->sb.free_blocks = c->free;
	t->sb.generation++;
	t->tree_start = end - taken;
	t->tree_blocks = taken;
	return 0;
}

static void do_finish(struct vol *v, struct vol_txn *t)
{
	/* durable: C is the allocator, the carved range is the committed tree */
	v->sb = t->sb;
	vol_alloc_destroy(&v->alloc);
	v->alloc = t->c;
	vol_alloc_init(&t->c);
	v->pending.nr = 0;
	v->tree.nr = 0;
	/* cannot fail: prepare made tree.cap >= 1 and tree.nr is 0 */
	if (t->tree_blocks)
		(void)vblist_add(&v->tree, t->tree_start, t->tree_blocks);
	v->commits++;
}

int vol_commit_prepare(struct vol *v, struct vol_txn *t)
{
	memset(t, 0, sizeof(*t));
	vol_alloc_init(&t->c);
	pthread_mutex_lock(&v->lock);
	/* make sure do_finish's vblist_add cannot fail */
	int r = 0;
	if (!v->tree.cap) {
		v->tree.v = malloc(8 * sizeof(*v->tree.v));
		v->tree.cap = v->tree.v ? 8 : 0;
		r = v->tree.v ? 0 : -ENOMEM;
	}
	if (!r)
		r = do_prepare(v, &t->c, t);
	pthread_mutex_unlock(&v->lock);
	if (r)
		vol_commit_abort(t);
	return r;
}

void vol_commit_finish(struct vol *v, struct vol_txn *t)
{
	pthread_mutex_lock(&v->lock);
	do_finish(v, t);
	pthread_mutex_unlock(&v->lock);
	vol_commit_abort(t);
}

void vol_commit_abort(struct vol_txn *t)
{
	vol_alloc_destroy(&t->c);
}

int vol_commit(struct vol *v)
{
	struct vol_txn t;
	int r = vol_commit_prepare(v, &t);
	if (r)
		return r;
	char *blk = calloc(1, VOL_BLOCK_SIZE);
	r = blk ? vol_dev_flush(&v->dev, v->fd) : -ENOMEM; /* the tree before the superblock */
	if (!r) {
		vol_super_encode(&t.sb, blk);
		r = vol_dev_pwrite(&v->dev, v->fd, blk, VOL_BLOCK_SIZE, 0);
	}
	if (!r)
		r = vol_dev_flush(&v->dev, v->fd);
	free(blk);
	if (r)
		vol_commit_abort(&t);
	else
		vol_commit_finish(v, &t);
	return r;
}

/* SPDX-License-Identifier: MIT */
/*
 * volume.c - mount, space accounting and the commit of the space state of
 * a vol volume (see volume.h, docs/vol-format.md).
 *
 * Mount loads the free-space tree into the allocator and, with its on-disk
 * shape, into v->ftree. Every grant, return and release of blocks here also
 * edits v->ftree, which so holds allocatable + pending at all times; a
 * commit (freetree.c) writes its changed nodes copy-on-write into blocks
 * free in the last commit, flushes, then the superblock points at it and is
 * flushed. Only then do the pending blocks become allocatable, so blocks
 * freed by a commit are reused only after it is durable. Releases are
 * checked for double frees against the allocator and against v->pend, the
 * pending blocks as a second extent set (both O(log n)).
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

/* Undo the vblist_add(l, start, len) just done. */
static void blist_unadd(struct vol_blist *l, uint64_t start, uint64_t len)
{
	struct vol_fext *e = &l->v[l->nr - 1];

	if (e->start == start && e->len == len)
		l->nr--;
	else
		e->len -= len;
}

static void blist_free(struct vol_blist *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

TEST_SWITCH(vol_test_no_pending_check);
TEST_SWITCH(vol_test_replace_free_keep_tree);

struct mount_ctx {
	struct vol *v;
	const char **why;
	bool shape; /* v->ftree keeps the on-disk shape */
};

static int mount_emit(void *arg, const struct vol_disk_extent *e)
{
	struct mount_ctx *c = arg;
	struct vol *v = c->v;
	if (e->pblk < v->sb.data_start || e->pblk + e->len > vol_data_end(&v->sb) ||
	    vol_alloc_free(&v->alloc, e->pblk, e->len)) {
		*c->why = "vol: free-space tree: extent outside the data area or overlapping";
		return -EUCLEAN;
	}
	if (c->shape) /* in memory lblk = pblk (0 on disk) */
		return vol_extmap_load_ext(&v->ftree,
					   &(struct vol_disk_extent){e->pblk, e->pblk, e->len, 0});
	return vol_extmap_set(&v->ftree, e->pblk, e->pblk, e->len, 0, NULL, NULL);
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

/* A tree without its shape: the nodes' blocks are replaced at the next commit. */
static int mount_node_flat(void *arg, uint64_t blk)
{
	struct mount_ctx *c = arg;
	int r = mount_node(arg, blk);
	return r ? r : vol_extmap_adopt_block(&c->v->ftree, blk);
}

static int mount_node_shape(void *arg, uint64_t blk, unsigned level)
{
	struct mount_ctx *c = arg;
	int r = mount_node(arg, blk);
	return r ? r : vol_extmap_load_node(&c->v->ftree, blk, level);
}

static void ftree_reset(struct vol *v)
{
	vol_extmap_destroy(&v->ftree);
	vol_extmap_init(&v->ftree);
	v->ftree.lcap = v->ftree.icap = 0; /* the on-disk capacities, whatever a test set */
}

/* The free-space tree into the allocator and v->ftree, with its shape
 * where it can be kept. */
static int mount_free_tree(struct vol *v, const char **why)
{
	struct mount_ctx c = {v, why, true};
	int r =
	    vol_btree_read_shape(&v->bd, 0, v->sb.free_root, mount_emit, mount_node_shape, &c, why);
	if (!r)
		vol_extmap_load_done(&v->ftree);
	if (r != -EAGAIN)
		return r;
	vol_alloc_reset(&v->alloc);
	v->tree.nr = 0;
	ftree_reset(v);
	c.shape = false;
	return vol_btree_read_nodes(&v->bd, 0, v->sb.free_root, mount_emit, mount_node_flat, &c,
				    why);
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
	vol_alloc_init(&v->pend);
	vol_alloc_init(&v->dq);
	vol_alloc_init(&v->ck.homes);
	ftree_reset(v);
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
	v->bd = (struct vol_bdev){v->fd, v->sb.nblocks, &v->dev, NULL};
	vol_set_discard(v, VOL_DISCARD_AUTO);
	struct vol_disk_inode root;
	r = vol_inode_read(v->fd, &v->sb, v->sb.root_ino, &root, why);
	if ((flags & VOL_MOUNT_ANY_ROOT) && (r == -ENOENT || r == -EUCLEAN || !r)) {
		*why = NULL;
		r = 0;
	} else if (r == -ENOENT || (!r && !S_ISDIR(root.mode))) {
		*why =
		    "vol: the root inode is missing or not a directory (run `pagecache fsck -y`)";
		r = -EUCLEAN;
	}
	if (r)
		goto fail;
	if (flags & VOL_MOUNT_NO_FREE_TREE) {
		*out = v;
		return 0;
	}
	r = mount_free_tree(v, why);
	if (r)
		goto fail;
	for (size_t i = 0; i < v->tree.nr; i++)
		if (vol_alloc_any_free(&v->alloc, v->tree.v[i].start, v->tree.v[i].len)) {
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
	vol_alloc_destroy(&v->pend);
	vol_alloc_destroy(&v->dq);
	vol_ckpt_free(v);
	vol_extmap_destroy(&v->ftree);
	blist_free(&v->pending);
	blist_free(&v->tree);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

int64_t vol_alloc_blocks(struct vol *v, uint64_t want, uint64_t hint, uint64_t *start)
{
	pthread_mutex_lock(&v->lock);
	int64_t r = vol_alloc_alloc(&v->alloc, want, hint, start);
	if (r > 0) {
		vol_discard_cancel(v, *start, (uint64_t)r); /* handed out: no punch */
		vol_freetree_remove(v, *start, (uint64_t)r);
	}
	pthread_mutex_unlock(&v->lock);
	return r;
}

int vol_return_blocks(struct vol *v, uint64_t start, uint64_t len)
{
	pthread_mutex_lock(&v->lock);
	int r = vol_alloc_free(&v->alloc, start, len);
	if (!r)
		vol_freetree_add(v, start, len);
	pthread_mutex_unlock(&v->lock);
	return r;
}

int vol_replace_free(struct vol *v, struct vol_alloc *a, struct vol_blist *tree)
{
	/* blocks free from now may have been logged: home before any reuse */
	int r = vol_ckpt_write(v);
	if (r)
		return r;
	pthread_mutex_lock(&v->lock);
	struct vol_alloc olda = v->alloc;
	struct vol_blist oldt = v->tree;
	v->alloc = *a;
	v->alloc.cursor = v->sb.data_start;
	*a = olda;
	v->tree = *tree;
	*tree = oldt;
	vol_pending_clear(v);
	vol_alloc_reset(&v->dq); /* the queue may name blocks not free now */
	/* the in-memory tree no longer holds allocatable + pending: the next
	 * commit writes the tree whole from the allocator (freetree.c) */
	if (!vol_test_replace_free_keep_tree) {
		ftree_reset(v);
		v->ftree_stale = true;
	}
	pthread_mutex_unlock(&v->lock);
	return 0;
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
	if (!r && !vol_test_no_pending_check && vol_alloc_any_free(&v->pend, start, len))
		r = -EINVAL;
	if (!r)
		r = vblist_add(&v->pending, start, len);
	if (!r && vol_alloc_free(&v->pend, start, len) == -ENOMEM) {
		/* (-EINVAL only when the test switch skipped the check) */
		blist_unadd(&v->pending, start, len);
		r = -ENOMEM;
	}
	if (!r)
		vol_freetree_add(v, start, len);
	if (!r && vol_test_discard_at_release)
		vol_discard(v, start, len);
	pthread_mutex_unlock(&v->lock);
	return r;
}

void vol_pending_clear(struct vol *v)
{
	v->pending.nr = 0;
	vol_alloc_reset(&v->pend);
}

uint64_t vol_free_blocks(struct vol *v)
{
	pthread_mutex_lock(&v->lock);
	uint64_t n = v->alloc.free + v->pend.free;
	pthread_mutex_unlock(&v->lock);
	return n;
}

int vol_commit_prepare(struct vol *v, struct vol_txn *t)
{
	pthread_mutex_lock(&v->lock);
	int r = vol_freetree_prepare(v, t);
	pthread_mutex_unlock(&v->lock);
	return r;
}

void vol_commit_finish(struct vol *v, struct vol_txn *t)
{
	pthread_mutex_lock(&v->lock);
	vol_freetree_finish(v, t);
	v->commits++;
	pthread_mutex_unlock(&v->lock);
}

void vol_commit_abort(struct vol *v, struct vol_txn *t)
{
	pthread_mutex_lock(&v->lock);
	vol_freetree_abort(v, t);
	pthread_mutex_unlock(&v->lock);
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
		vol_commit_abort(v, &t);
	else
		vol_commit_finish(v, &t);
	return r;
}

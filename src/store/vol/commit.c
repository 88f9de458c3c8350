/* SPDX-License-Identifier: MIT */
/*
 * commit.c - making a vol store's in-memory changes durable, and the
 * journal that makes a commit atomic.
 *
 * A commit:
 *  1. writes, for every file whose extents changed, the changed nodes of its
 *     extent tree and their ancestors (xtree_disk.c), for every changed
 *     directory its changed directory blocks (dirblk.c) and a whole new tree
 *     mapping them, copy-on-write into blocks free in the last commit; the
 *     replaced ones (and those of dropped nodes and blocks) go to the pending
 *     list;
 *     and the reference-count tree of shared data blocks (refcount.c) the
 *     same way, its root in the new superblock;
 *  2. writes the new free-space tree the same way (volume.c prepare).
 *     Steps 1-2 write through vol_meta_put: with no data waiting for a flush
 *     the blocks are captured (c->mc) for the journal instead of going home,
 *     while they fit (jcap);
 *  3. flushes, where needed: file data or metadata written home since the
 *     last flush (ordered data: on disk before anything points at it), a
 *     wrap of the journal, the first commit of a mount, and any such write
 *     since the chain started even if flushed (commit_write);
 *  4. writes the journal - a descriptor (sequence = new generation, uuid,
 *     home block numbers, crc32c over it and every logged block), the
 *     changed inode-table blocks, the captured metadata and the new
 *     superblock - after the last transaction (or at journal_start after a
 *     flush: the chain), and flushes: the commit point;
 *  5. keeps the transaction for its checkpoint (checkpoint.c): its blocks
 *     go home later, before the flush of step 3 that lets the chain start
 *     again over it (or at unmount), newest copy of each block once; so an
 *     fsync that needs no step 3 writes the journal and flushes, nothing
 *     else;
 *  6. installs: pending blocks become allocatable (volume.c finish) and
 *     are queued for their punch (discard.c; drained by the commit timer,
 *     here only when the queue overflows).
 * A failure before 4 undoes everything in memory (the last commit stays the
 * durable state); a failure in or after 4 leaves the store broken (-EIO
 * until remounted: mount replays or ignores the journal, both consistent).
 *
 * Group commit: fsyncs that arrive while a commit is writing wait for it
 * (vs_wait_thaw); the next of them commits whatever changed meanwhile, for
 * all of them, and one that then finds nothing changed and nothing written
 * since the last flush returns without a flush of its own (jbd2: an fsync
 * whose transaction another commit made durable waits for that commit).
 *
 * Replay walks the chain from journal_start and writes every transaction
 * not older than the superblock home, in order.
 *
 * Locking: caller holds vs->lock. vs_commit keeps it throughout;
 * vs_commit_sync (fsync) drops it across steps 3-4 with vs->frozen set, so
 * lookups and reads go on while changes wait (vs_lock_change), and takes it
 * back to install.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "store/vol/vstore.h"

#define BS	  VOL_BLOCK_SIZE
#define PER_BLOCK (VOL_BLOCK_SIZE / VOL_INODE_SIZE)

static uint64_t jcap(const struct vstore *vs)
{
	uint64_t c = vs->v->sb.journal_blocks - 2;
	return c < VOL_JDESC_MAX - 1 ? c : VOL_JDESC_MAX - 1;
}

int vs_break(struct vstore *vs, int err, const char *what)
{
	vs->broken = err;
	fprintf(stderr, "vol: %s (%s): remount to continue\n", what, strerror(-err));
	return -EIO;
}

void vs_dirty(struct vstore *vs, struct vnode *n)
{
	uint64_t b = n->ino / PER_BLOCK;
	n->dirty = true;
	if (vs->blk_dirty[b])
		return;
	if (vs->ndirty == vs->cdirty) {
		size_t cap = vs->cdirty ? 2 * vs->cdirty : 64;
		uint64_t *d = realloc(vs->dirty, cap * sizeof(*d));
		if (!d) {
			vs->broken = -ENOMEM; /* cannot record it: stop before losing it */
			return;
		}
		vs->dirty = d;
		vs->cdirty = cap;
	}
	vs->blk_dirty[b] = 1;
	vs->dirty[vs->ndirty++] = b;
}

int vs_make_room(struct vstore *vs, unsigned inodes)
{
	if (vs->ndirty + inodes + 8 <= jcap(vs))
		return 0;
	return vs_commit(vs);
}

int vs_for_each_meta(const struct vnode *n, int (*fn)(void *arg, uint64_t start, uint64_t len),
		     void *arg)
{
	int r = n->xa.blk ? fn(arg, n->xa.blk, 1) : 0; /* its xattr block */
	if (r)
		return r;
	if (!n->dir)
		return vol_extmap_for_each_block(&n->map, fn, arg);
	for (size_t i = 0; i < n->meta.nr; i++) {
		r = fn(arg, n->meta.v[i].start, n->meta.v[i].len);
		if (r)
			return r;
	}
	return 0;
}

static int release_meta(void *arg, uint64_t start, uint64_t len)
{
	vs_release(arg, start, len);
	return 0;
}

static int pend_meta(void *arg, uint64_t start, uint64_t len)
{
	return vblist_add(arg, start, len);
}

void vs_evict(struct vstore *vs, struct vnode *n)
{
	struct vol_extmap_iter it;

	for (const struct vol_ext *e = vol_extmap_first(&n->map, &it); e; e = vol_extmap_next(&it))
		vs_release(vs, e->pblk, e->len);
	vs_for_each_meta(n, release_meta, vs);
	vs_resv_evict(vs, n);
	vs_dirty(vs, n);
	vs->inodes[n->ino] = NULL;
	vs->inodes_used--;
	vnode_free(n);
}

/* ---- step 1: trees ---- */

struct meta_alloc {
	struct vstore *vs;
	struct vnode *n;
};

static int meta_block(void *arg, uint64_t *blk)
{
	struct meta_alloc *m = arg;
	uint64_t b;
	int64_t g = vol_alloc_blocks(m->vs->v, 1, UINT64_MAX, &b);
	if (g < 0)
		return (int)g;
	int r = vblist_add(&m->n->new_meta, b, 1);
	if (r) {
		vol_return_blocks(m->vs->v, b, 1);
		return r;
	}
	*blk = b;
	return 0;
}

/* The directory's changed blocks, written to new blocks; the extents of all
 * its blocks (dirblk.c). */
static int write_dir(struct vstore *vs, struct vnode *n, struct vol_disk_extent **ext, size_t *next,
		     uint64_t *nblocks)
{
	struct meta_alloc ma = {vs, n};
	return vdir_write_blocks(vs, n, meta_block, &ma, ext, next, nblocks);
}

/* A file's (symlink's) changed nodes and their ancestors, copy-on-write; a
 * directory's blocks and a whole new tree mapping them. */
static int write_tree(struct vstore *vs, struct vnode *n)
{
	struct meta_alloc ma = {vs, n};
	struct vol_disk_extent *e = NULL;
	size_t ne = 0;
	uint64_t dirblocks = 0, nodes = 0;
	int r;

	n->new_meta.nr = 0;
	if (!n->dir) {
		r = vol_extmap_write(&n->map, &vs->v->bd, n->ino, meta_block, &ma, &n->new_root,
				     &nodes);
		vs->tree_nodes += nodes;
		return r;
	}
	r = write_dir(vs, n, &e, &ne, &dirblocks);
	if (!r)
		r = vol_btree_write(&vs->v->bd, n->ino, e, ne, meta_block, &ma, &n->new_root,
				    &nodes);
	vs->tree_nodes += nodes;
	free(e);
	n->new_dirsize = dirblocks * BS;
	return r;
}

static void undo_trees(struct vstore *vs, size_t upto)
{
	for (size_t k = 0; k < upto; k++)
		for (uint64_t s = 0; s < PER_BLOCK; s++) {
			struct vnode *n = vs->inodes[vs->dirty[k] * PER_BLOCK + s];
			if (n)
				vs_xattr_undo(vs, n);
			if (!n || !n->map_dirty)
				continue;
			for (size_t i = 0; i < n->new_meta.nr; i++)
				vol_return_blocks(vs->v, n->new_meta.v[i].start,
						  n->new_meta.v[i].len);
			n->new_meta.nr = 0;
		}
}

/* The record as this commit writes it. */
static void encode_slot(struct vstore *vs, uint64_t ino, char *slot)
{
	struct vnode *n = vs->inodes[ino];
	if (!n || ino == 0) {
		memset(slot, 0, VOL_INODE_SIZE);
		return;
	}
	struct vol_disk_inode di = n->di;
	if (n->map_dirty) {
		di.extent_root = n->new_root;
		if (n->dir)
			di.size = n->new_dirsize;
	}
	di.blocks = n->dir ? di.size / BS : vol_extmap_blocks(&n->map);
	di.xattr_blk = vs_xattr_blk(n);
	if (di.nlink == 0)
		di.flags |= VOL_INO_ORPHAN;
	else
		di.flags &= ~VOL_INO_ORPHAN;
	vol_inode_encode(ino, &di, slot);
}

/* ---- the commit ---- */

/* One commit between its build (steps 1-2 and the journal transaction in
 * memory, under vs->lock) and its install (step 6). */
struct commit_ctx {
	struct vol_txn t;
	char *jbuf; /* the descriptor and the nlog logged blocks */
	size_t nlog;
	size_t nmeta;	 /* of them copy-on-write metadata (after the table blocks) */
	uint64_t *jnext; /* vs->jnext: where the transaction goes (commit_write) */
	struct vol_mcap mc;
	size_t pend_nr; /* the pending list before this commit added to it */
	uint64_t pend_last;
};

TEST_KNOB(vol_commit_window_fn, vol_test_commit_window);
TEST_SWITCH(vol_test_commit_keep_lock);
TEST_SWITCH(vol_test_meta_home_first);
TEST_SWITCH(vol_test_jrnl_no_chain);
TEST_SWITCH(vol_test_group_flush_each);
TEST_SWITCH(vol_test_chain_after_write);

/* Takes back everything the build did: the last commit stays the state. */
static void commit_undo(struct vstore *vs, struct commit_ctx *c)
{
	struct vol *v = vs->v;

	free(c->jbuf);
	c->jbuf = NULL;
	vol_mcap_free(&c->mc);
	v->pending.nr = c->pend_nr;
	if (c->pend_nr)
		v->pending.v[c->pend_nr - 1].len = c->pend_last;
	undo_trees(vs, vs->ndirty);
	vs_refc_undo(vs);
}

/* Steps 1, 2 and the journal transaction. 0, or -errno with nothing left
 * changed. Caller holds vs->lock. */
static int commit_build(struct vstore *vs, struct commit_ctx *c)
{
	struct vol *v = vs->v;
	size_t k = 0;
	int r = 0;

	c->nlog = vs->ndirty + 1;
	c->nmeta = 0;
	c->jbuf = NULL;
	c->jnext = &vs->jnext;
	/* the new metadata blocks go into the transaction while they fit,
	 * unless data waits for a flush: then the commit flushes first anyway,
	 * and the metadata goes home before that flush (fewer, smaller writes
	 * than logging and checkpointing it) */
	c->mc = (struct vol_mcap){.max = jcap(vs) - vs->ndirty};
	if (!vol_test_meta_home_first && !vol_dev_unflushed(&v->dev))
		v->bd.cap = &c->mc;
	/* 1 */
	for (; !r && k < vs->ndirty; k++)
		for (uint64_t s = 0; !r && s < PER_BLOCK; s++) {
			struct vnode *n = vs->inodes[vs->dirty[k] * PER_BLOCK + s];
			if (n && n->map_dirty)
				r = write_tree(vs, n);
			if (!r && n)
				r = vs_xattr_write(vs, n);
		}
	if (!r) /* the reference-count tree: like a file's, copy-on-write */
		r = vs_refc_write(vs);
	if (r) {
		v->bd.cap = NULL;
		vol_mcap_free(&c->mc);
		undo_trees(vs, k);
		vs_refc_undo(vs);
		return r;
	}
	/* old metadata blocks become pending (remember how to take them back) */
	c->pend_nr = v->pending.nr;
	c->pend_last = c->pend_nr ? v->pending.v[c->pend_nr - 1].len : 0;
	for (k = 0; !r && k < vs->ndirty; k++)
		for (uint64_t s = 0; !r && s < PER_BLOCK; s++) {
			struct vnode *n = vs->inodes[vs->dirty[k] * PER_BLOCK + s];
			if (n)
				r = vs_xattr_stage(vs, n);
			if (r || !n || !n->map_dirty)
				continue;
			if (n->dir) { /* its replaced blocks and old tree only */
				r = vdir_stage(vs, n);
				continue;
			}
			r = vol_extmap_for_each_replaced(&n->map, pend_meta, &v->pending);
		}
	if (!r)
		r = vs_refc_stage(vs);
	/* 2 */
	if (!r)
		r = vol_commit_prepare(v, &c->t);
	v->bd.cap = NULL;
	if (r) {
		commit_undo(vs, c);
		return r;
	}
	vs_refc_super(vs, &c->t.sb);
	/* the journal transaction: table blocks, captured metadata, superblock */
	if (!c->mc.spilled)
		c->nmeta = c->mc.nr;
	c->nlog = vs->ndirty + c->nmeta + 1;
	c->jbuf = calloc(c->nlog + 1, BS);
	if (!c->jbuf) {
		vol_commit_abort(v, &c->t);
		commit_undo(vs, c);
		return -ENOMEM;
	}
	struct vol_jdesc *jd = (struct vol_jdesc *)c->jbuf;
	jd->magic = VOL_JRNL_MAGIC;
	jd->seq = c->t.sb.generation;
	memcpy(jd->uuid, c->t.sb.uuid, sizeof(jd->uuid));
	jd->nr = (uint32_t)c->nlog;
	for (k = 0; k < vs->ndirty; k++) {
		uint64_t b = vs->dirty[k];
		jd->home[k] = v->sb.itable_start + b;
		for (uint64_t s = 0; s < PER_BLOCK; s++)
			encode_slot(vs, b * PER_BLOCK + s,
				    c->jbuf + (k + 1) * BS + s * VOL_INODE_SIZE);
	}
	for (size_t i = 0; i < c->nmeta; i++) {
		jd->home[vs->ndirty + i] = c->mc.home[i];
		memcpy(c->jbuf + (vs->ndirty + i + 1) * BS, c->mc.buf + i * BS, BS);
	}
	vol_mcap_free(&c->mc);
	jd->home[c->nlog - 1] = 0;
	vol_super_encode(&c->t.sb, c->jbuf + c->nlog * BS);
	jd->crc = vol_crc32c(0, c->jbuf, (c->nlog + 1) * BS);
	return 0;
}

/* Steps 3-5: image I/O from c alone (vs->lock may be dropped: nothing else
 * of the store is read; *c->jnext is the commits' own, one at a time).
 * *committed: the journal write was attempted.
 *
 * The transaction goes after the last one (the journal is a chain of
 * transactions from journal_start, each one's sequence one more than the
 * last's) so that the last one, whose checkpoint may not be on disk yet,
 * survives a torn write of this one. A flush first - ordered data, metadata
 * written home (spilled), the wrap, the first commit of a mount - lets the
 * chain start again at journal_start: every checkpoint before it is on disk.
 *
 * So does any write in place since the chain started, even one a flush
 * already made durable (another commit's, racing the write): the block it
 * wrote may be one a transaction of the chain logged and a later one freed,
 * and replay would write that transaction's copy over it. Starting again
 * takes every such transaction out of the chain before this one, which may
 * name the data, is written (vol_test_chain_after_write goes on instead). */
static int commit_write(struct vol *v, const struct commit_ctx *c, bool *committed)
{
	uint64_t pos = *c->jnext, jend = v->sb.journal_start + v->sb.journal_blocks;
	unsigned long wseq = vol_dev_wseq(&v->dev);
	int r = 0;

	if (vol_test_meta_home_first || pos == 0 || pos + c->nlog + 1 > jend ||
	    vol_dev_unflushed(&v->dev) ||
	    (wseq != v->ck.chain_wseq && !vol_test_chain_after_write)) {
		/* 3: the chain's deferred checkpoint, then ordered data (and any
		 * metadata written home) and that checkpoint flushed before the
		 * journal names the data and its space is reused */
		r = vol_ckpt_write(v);
		if (!r && !vol_test_skip_data_flush)
			r = vol_dev_flush(&v->dev, v->fd);
		pos = v->sb.journal_start;
		if (!r) /* writes from here on are since the chain's start */
			v->ck.chain_wseq = wseq;
	}
	if (vol_test_jrnl_no_chain)
		pos = v->sb.journal_start; /* the hazard: over the last transaction */
	*committed = !r;
	if (r)
		return r;
	*c->jnext = pos + c->nlog + 1;
	/* 4: the commit point */
	r = vol_dev_pwrite_jrnl(&v->dev, v->fd, c->jbuf, (c->nlog + 1) * BS, (off_t)(pos * BS));
	if (!r)
		r = vol_dev_flush(&v->dev, v->fd);
	return r;
}

/* Step 5: the blocks this commit frees leave the deferred checkpoint (all
 * of it goes home now before the whole rewrite of the free tree, which does
 * not list them); the transaction joins it (c->jbuf taken over). */
static int ckpt_install(struct vol *v, struct commit_ctx *c)
{
	int r = 0;

	if (c->t.whole)
		r = vol_ckpt_write(v);
	for (struct vol_fext e = {0, 0}; !r && !c->t.whole && vol_alloc_next(&c->t.pset, &e);)
		r = vol_ckpt_forget(v, e.start, e.len);
	for (struct vol_fext e = {0, 0}; !r && !c->t.whole && vol_alloc_next(&c->t.rep, &e);)
		r = vol_ckpt_forget(v, e.start, e.len);
	if (!r) {
		r = vol_ckpt_retain(v, c->jbuf);
		c->jbuf = NULL;
	}
	return r;
}

/* Step 6, or the undo / the broken store after a failure. Caller holds
 * vs->lock; nothing changed since commit_build. */
static int commit_install(struct vstore *vs, struct commit_ctx *c, int r, bool committed)
{
	struct vol *v = vs->v;

	if (r && !committed) {
		vol_commit_abort(v, &c->t);
		commit_undo(vs, c);
		return r;
	}
	if (!r) /* 5: before the blocks it frees can be handed out again */
		r = ckpt_install(v, c);
	free(c->jbuf);
	c->jbuf = NULL;
	if (r) {
		vol_commit_abort(v, &c->t);
		return vs_break(vs, r,
				"commit failed after its journal write; the volume stays as "
				"the journal says");
	}
	/* allocation restarts at the bottom: freed space is reused first */
	vol_commit_finish(v, &c->t);
	vs->jmeta += c->nmeta;
	v->alloc.cursor = v->sb.data_start;
	vs_refc_install(vs);
	for (size_t k = 0; k < vs->ndirty; k++) {
		for (uint64_t s = 0; s < PER_BLOCK; s++) {
			struct vnode *n = vs->inodes[vs->dirty[k] * PER_BLOCK + s];
			if (!n)
				continue;
			vs_xattr_install(n);
			if (n->map_dirty && n->dir) {
				vdir_install(n);
				n->di.extent_root = n->new_root;
				n->di.size = n->new_dirsize;
				n->map_dirty = false;
			} else if (n->map_dirty) {
				vol_extmap_committed(&n->map); /* nodes adopt their blocks */
				n->new_meta.nr = 0;
				n->di.extent_root = n->new_root;
				n->map_dirty = false;
			}
			n->di.blocks = n->dir ? n->di.size / BS : vol_extmap_blocks(&n->map);
			n->dirty = false;
		}
		vs->blk_dirty[vs->dirty[k]] = 0;
	}
	vs->ndirty = 0;
	__atomic_fetch_add(&vs->commits, 1, __ATOMIC_RELAXED); /* read without vs->lock */
	vs_resv_committed(vs); /* the tree nodes reserved for are written */
	uint64_t qb, qe;
	vol_discard_queued(v, &qb, &qe);
	if (qe > VOL_DQ_MAX_EXTENTS) /* no timer drains it, or not fast enough */
		vol_discard_run(v);
	return 0;
}

/* -1: nothing changed (data in place only wants a flush), else 0 or -errno. */
static int commit_check(struct vstore *vs)
{
	if (vs->broken)
		return -EIO;
	if (vs->ndirty > jcap(vs))
		return -ENOSPC; /* cannot happen: ops make room first */
	return vs->ndirty == 0 && vs->v->pending.nr == 0 && !vs->refc_dirty ? -1 : 0;
}

int vs_commit(struct vstore *vs)
{
	struct commit_ctx c;
	bool committed;
	int r = commit_check(vs);

	assert(!vs->frozen); /* changes, and so their commits, wait for the thaw */

	if (r == -1)
		return vol_dev_flush(&vs->v->dev, vs->v->fd);
	if (!r)
		r = commit_build(vs, &c);
	if (r)
		return r;
	r = commit_write(vs->v, &c, &committed);
	return commit_install(vs, &c, r, committed);
}

int vs_commit_sync(struct vstore *vs)
{
	struct commit_ctx c;
	bool committed;
	int r;

	vs_wait_thaw(vs); /* another fsync's commit is writing */
	r = commit_check(vs);
	if (r == -1 && !vol_dev_unflushed(&vs->v->dev) && !vol_test_group_flush_each) {
		/* group commit: the commit this fsync waited for (or an earlier
		 * one) made everything durable, and no write came since */
		__atomic_fetch_add(&vs->group_syncs, 1, __ATOMIC_RELAXED);
		return 0;
	}
	if (r == -1) { /* a flush needs no state: not even the lock */
		pthread_mutex_unlock(&vs->lock);
		r = vol_dev_flush(&vs->v->dev, vs->v->fd);
		pthread_mutex_lock(&vs->lock);
		return r;
	}
	if (!r)
		r = commit_build(vs, &c);
	if (r)
		return r;
	/* frozen: every change waits in vs_lock_change/vs_wait_thaw, so the
	 * state commit_install works on is the one commit_build saw */
	vs->frozen = true;
	if (!vol_test_commit_keep_lock)
		pthread_mutex_unlock(&vs->lock);
	if (vol_test_commit_window)
		vol_test_commit_window(vs);
	r = commit_write(vs->v, &c, &committed);
	if (!vol_test_commit_keep_lock)
		pthread_mutex_lock(&vs->lock);
	r = commit_install(vs, &c, r, committed);
	vs->frozen = false;
	pthread_cond_broadcast(&vs->thaw);
	return r;
}

/* ---- replay ---- */

/* The transaction at journal block pos if it is a valid one (crc, logged
 * superblock of sequence seq and uuid, ending before block end): 1 with *out
 * (the descriptor and the blocks), 0 if there is none there, or -errno. */
static int jread(int fd, uint64_t pos, uint64_t end, char **out, struct vol_super *logged)
{
	struct vol_jdesc jd;
	const char *bad = NULL;
	char *jb;
	int r = vol_dev_pread(NULL, fd, &jd, sizeof(jd), (off_t)(pos * BS));

	*out = NULL;
	if (r)
		return r == -EIO ? 0 : r; /* past the end of the image */
	if (jd.magic != VOL_JRNL_MAGIC || jd.nr == 0 || jd.nr > VOL_JDESC_MAX ||
	    pos + jd.nr + 1 > end)
		return 0;
	size_t bytes = (size_t)(jd.nr + 1) * BS;
	jb = malloc(bytes);
	if (!jb)
		return -ENOMEM;
	r = vol_dev_pread(NULL, fd, jb, bytes, (off_t)(pos * BS));
	if (r) {
		free(jb);
		return r == -EIO ? 0 : r; /* past the end: never committed */
	}
	struct vol_jdesc *h = (struct vol_jdesc *)jb;
	uint32_t crc = h->crc;
	h->crc = 0;
	if (vol_crc32c(0, jb, bytes) != crc || h->home[jd.nr - 1] != 0 ||
	    vol_super_decode(logged, jb + (size_t)jd.nr * BS, &bad) ||
	    logged->generation != jd.seq || memcmp(logged->uuid, jd.uuid, 16)) {
		free(jb);
		return 0; /* torn: never committed */
	}
	*out = jb;
	return 1;
}

/* A logged block may go to the inode table or the data area, nowhere else
 * (not the superblock, the journal, mkfs's free-tree block or the backup). */
static bool home_ok(const struct vol_super *sb, uint64_t b)
{
	return (b >= sb->itable_start && b < sb->itable_start + sb->itable_blocks) ||
	       (b >= sb->data_start && b < vol_data_end(sb));
}

struct jchain {
	char **tx; /* each a descriptor and its blocks, in sequence order */
	size_t n;
};

static void jchain_free(struct jchain *ch)
{
	for (size_t i = 0; i < ch->n; i++)
		free(ch->tx[i]);
	free(ch->tx);
}

/* The chain of valid transactions from journal_start: the first one there,
 * then each one at the block after the last with the next sequence and the
 * same uuid (that of @disk where it is known). 0 or -errno. */
static int jchain_read(int fd, const struct vol_super *disk, struct jchain *ch)
{
	struct vol_super logged, first;
	uint64_t pos = 1, end = disk ? disk->journal_start + disk->journal_blocks
				     : 2 + VOL_JDESC_MAX; /* journal_start is always 1 */
	int r;

	ch->tx = NULL;
	ch->n = 0;
	for (;;) {
		char *jb;
		r = jread(fd, pos, end, &jb, &logged);
		if (r <= 0)
			break;
		const struct vol_jdesc *h = (const struct vol_jdesc *)jb;
		if (ch->n == 0) {
			if (disk && memcmp(disk->uuid, h->uuid, 16)) {
				free(jb); /* an older volume's */
				break;
			}
			first = logged;
			end = logged.journal_start + logged.journal_blocks;
			if (disk && end > disk->journal_start + disk->journal_blocks)
				end = disk->journal_start + disk->journal_blocks;
			if (pos + h->nr + 1 > end) {
				free(jb);
				break;
			}
		} else {
			const struct vol_jdesc *p = (const struct vol_jdesc *)ch->tx[ch->n - 1];
			if (h->seq != p->seq + 1 || memcmp(h->uuid, first.uuid, 16)) {
				free(jb); /* an older one, past the end of the chain */
				break;
			}
		}
		if (ch->n % 16 == 0) {
			char **t = realloc(ch->tx, (ch->n + 16) * sizeof(*t));
			if (!t) {
				free(jb);
				r = -ENOMEM;
				break;
			}
			ch->tx = t;
		}
		ch->tx[ch->n++] = jb;
		pos += h->nr + 1;
	}
	if (r < 0) {
		jchain_free(ch);
		ch->tx = NULL;
		ch->n = 0;
		return r;
	}
	return 0;
}

int vol_journal_last_seq(int fd, const struct vol_super *sb, uint64_t *last)
{
	struct jchain ch;
	int r = jchain_read(fd, sb, &ch);

	*last = 0;
	if (!r && ch.n)
		*last = ((const struct vol_jdesc *)ch.tx[ch.n - 1])->seq;
	jchain_free(&ch);
	return r;
}

/* Replays, in order, every transaction of the chain not older than the
 * superblock; refuses (-EUCLEAN) a chain naming a block no transaction may
 * write. */
int vol_journal_replay(int fd, const char **why)
{
	char *sbb = malloc(BS);
	struct vol_super disk;
	struct jchain ch = {0};
	int r = sbb ? vol_dev_pread(NULL, fd, sbb, BS, 0) : -ENOMEM;
	const char *bad = NULL;
	bool any = false;

	if (r == -EIO && lseek(fd, 0, SEEK_END) < (off_t)BS)
		r = 0; /* shorter than a superblock: not a vol, mount says so */
	if (r)
		goto out;
	bool disk_ok = vol_super_decode(&disk, sbb, &bad) == 0;
	if (!disk_ok && disk.magic != VOL_MAGIC) {
		r = 0; /* not a vol: mount says so */
		goto out;
	}
	r = jchain_read(fd, disk_ok ? &disk : NULL, &ch);
	if (r)
		goto out;
	for (size_t t = 0; t < ch.n; t++) {
		const struct vol_jdesc *h = (const struct vol_jdesc *)ch.tx[t];
		struct vol_super logged;
		vol_super_decode(&logged, ch.tx[t] + (size_t)h->nr * BS, &bad);
		for (uint32_t i = 0; i + 1 < h->nr; i++)
			if (!home_ok(&logged, h->home[i])) {
				r = -EUCLEAN;
				*why = "vol: journal names a block outside the inode table and "
				       "the data area";
				goto out;
			}
	}
	for (size_t t = 0; !r && t < ch.n; t++) {
		const struct vol_jdesc *h = (const struct vol_jdesc *)ch.tx[t];
		if (disk_ok && disk.generation > h->seq)
			continue; /* older than the superblock: on disk already */
		any = true;
		for (uint32_t i = 0; !r && i < h->nr; i++)
			r = vol_dev_pwrite(NULL, fd, ch.tx[t] + (size_t)(i + 1) * BS, BS,
					   (off_t)(h->home[i] * BS));
	}
	if (!r && any)
		r = vol_dev_flush(NULL, fd);
	if (r)
		*why = "vol: cannot replay the journal";
out:
	free(sbb);
	jchain_free(&ch);
	return r;
}

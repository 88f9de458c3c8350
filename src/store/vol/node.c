/* SPDX-License-Identifier: MIT */
/*
 * node.c - the vol store's nodes: a node is the in-memory inode's embedded
 * struct store_node (one per inode), counted by the references the store's
 * users hold; the root, lookup in a directory (".." from the parent kept in
 * memory: set by the mount's load from the tree, moved by rename), dropping
 * references (the last one of an inode with no name left frees it, once no
 * store_inode of it is open either), opening a regular file for data,
 * export handles (inode number and the inode's generation, unique for the
 * volume's life: see vs_take_gen) and directory sync.
 *
 * Locking: vs->lock for each call. References are taken under it (or from
 * another reference, atomically, by store_node_get) and dropped under it, so
 * the count an eviction checks cannot rise from zero meanwhile.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/vol/vstore.h"

TEST_SWITCH(vol_test_gen_reuse);
TEST_SWITCH(vol_test_gen_no_limit);
TEST_SWITCH(vol_test_gen_small_batch);

void vs_node_init(struct vstore *vs, struct vnode *n)
{
	n->node.store = &vs->store;
	n->node.ino = n->ino;
	n->node.dev = vs->dev;
	n->node.type = n->di.mode & S_IFMT;
}

struct store_node *vs_node_ref(struct vstore *vs, struct vnode *n)
{
	(void)vs;
	return store_node_get(&n->node);
}

static unsigned refs_of(struct vnode *n)
{
	return __atomic_load_n(&n->node.refs, __ATOMIC_ACQUIRE);
}

void vs_maybe_evict(struct vstore *vs, struct vnode *n)
{
	if (n->di.nlink == 0 && n->opens == 0 && refs_of(n) == 0)
		vs_evict(vs, n);
}

int vs_live_dir(struct vnode *d)
{
	if (!d->dir)
		return -ENOTDIR;
	return d->di.nlink ? 0 : -ENOENT; /* removed: as Linux, nothing new in it */
}

/* ---- generations ---- */

void vs_gen_init(struct vstore *vs)
{
	uint64_t g = vol_test_gen_no_limit ? 0 : vs->v->sb.ino_gen_limit;
	for (uint64_t i = vs_next_ino(vs, 1); i < vs->ninodes; i = vs_next_ino(vs, i + 1))
		if (vs->inodes[i] && vs->inodes[i]->di.generation >= g)
			g = vs->inodes[i]->di.generation + 1;
	vs->gen_next = g > 1 ? g : 2;
}

int vs_take_gen(struct vstore *vs, uint64_t *gen)
{
	struct vol_super *sb = &vs->v->sb;

	if (vol_test_gen_reuse) {
		*gen = 1;
		return 0;
	}
	if (vs->gen_next >= sb->ino_gen_limit && !vol_test_gen_no_limit) {
		/* the next batch is durable before any of it is handed out:
		 * a crash never lets a generation come round again */
		uint64_t old = sb->ino_gen_limit;
		sb->ino_gen_limit = vs->gen_next + vs_gen_batch();
		vs_dirty(vs, vs->inodes[sb->root_ino]); /* a commit even if nothing else */
		int r = vs_commit(vs);
		if (r) {
			if (!vs->broken)
				sb->ino_gen_limit = old;
			return r;
		}
	}
	*gen = vs->gen_next++;
	return 0;
}

/* ---- ops ---- */

static int vol_root(struct store *s, struct store_node **out)
{
	struct vstore *vs = VS(s);

	pthread_mutex_lock(&vs->lock);
	*out = vs_node_ref(vs, vs->inodes[vs->v->sb.root_ino]);
	pthread_mutex_unlock(&vs->lock);
	return 0;
}

static int vol_lookup(struct store_node *dir, const char *name, struct store_node **out)
{
	struct vstore *vs = VS(dir->store);
	struct vnode *d = VN_OF(dir), *n = NULL;
	int r;

	pthread_mutex_lock(&vs->lock);
	r = vs_live_dir(d);
	if (!r && strcmp(name, "..") == 0) {
		n = vs->inodes[d->dir->parent];
	} else if (!r) {
		struct vdent *e = vdir_lookup(d->dir, name, strlen(name));
		if (e)
			n = vs->inodes[e->ino];
		else
			r = -ENOENT;
	}
	if (!r)
		*out = vs_node_ref(vs, n);
	pthread_mutex_unlock(&vs->lock);
	return r;
}

static void vol_node_put(struct store_node *sn)
{
	struct vstore *vs = VS(sn->store);
	struct vnode *n = VN_OF(sn);

	pthread_mutex_lock(&vs->lock);
	if (n->di.nlink == 0 && n->opens == 0 && refs_of(n) == 1)
		vs_wait_thaw(vs); /* the last reference of an unlinked inode frees it */
	if (__atomic_sub_fetch(&sn->refs, 1, __ATOMIC_ACQ_REL) == 0)
		vs_maybe_evict(vs, n);
	pthread_mutex_unlock(&vs->lock);
}

static int vol_open(struct store_node *sn, int flags, struct store_inode **out)
{
	struct vstore *vs = VS(sn->store);
	struct vnode *n = VN_OF(sn);
	struct store_inode *si = calloc(1, sizeof(*si));

	(void)flags; /* the image is read-write: every open may write */
	if (!si)
		return -ENOMEM;
	pthread_mutex_lock(&vs->lock);
	n->opens++;
	pthread_mutex_unlock(&vs->lock);
	si->store = &vs->store;
	si->fd = vs->v->fd;
	si->dio_fd = vs->dio_fd;
	si->ino = n->ino;
	si->dev = vs->dev;
	si->private = n;
	*out = si;
	return 0;
}

static void vol_release(struct store_inode *si)
{
	struct vstore *vs = VS(si->store);
	struct vnode *n = si->private;

	pthread_mutex_lock(&vs->lock);
	if (n->opens == 1 && n->di.nlink == 0 && refs_of(n) == 0)
		vs_wait_thaw(vs); /* the last close of an unlinked inode frees it */
	n->opens--;
	vs_maybe_evict(vs, n);
	pthread_mutex_unlock(&vs->lock);
	free(si);
}

struct vol_handle {
	uint64_t ino;
	uint64_t generation;
};

static int vol_encode_handle(struct store_node *sn, struct store_handle *h)
{
	struct vstore *vs = VS(sn->store);
	struct vol_handle vh;

	pthread_mutex_lock(&vs->lock);
	vh.ino = VN_OF(sn)->ino;
	vh.generation = VN_OF(sn)->di.generation;
	pthread_mutex_unlock(&vs->lock);
	h->type = STORE_HANDLE_INO_GEN;
	h->len = sizeof(vh);
	memcpy(h->data, &vh, sizeof(vh));
	return 0;
}

static int vol_decode_handle(struct store *s, const struct store_handle *h, struct store_node **out)
{
	struct vstore *vs = VS(s);
	struct vol_handle vh;
	int r = -ESTALE;

	/* the inode number alone (8 bytes): whatever the slot holds, for a
	 * caller that checks the generation itself (a FUSE LOOKUP(id, ".")) */
	bool any_gen = h->len == sizeof(vh.ino);

	if (h->type != STORE_HANDLE_INO_GEN || (h->len != sizeof(vh) && !any_gen))
		return -ESTALE; /* not one of ours */
	memset(&vh, 0, sizeof(vh));
	memcpy(&vh, h->data, h->len);
	pthread_mutex_lock(&vs->lock);
	if (vh.ino && vh.ino < vs->ninodes) {
		struct vnode *n = vs->inodes[vh.ino];
		/* a slot freed, or reused by another inode: stale. An inode
		 * with no name left is found while something holds it (an open
		 * store inode, a node: an O_PATH fd), as ext4 finds one still
		 * in its inode cache (tmpfs too); an orphan nobody holds is
		 * stale */
		if (n && (any_gen || n->di.generation == vh.generation) &&
		    (n->di.nlink || n->opens || refs_of(n))) {
			*out = vs_node_ref(vs, n);
			r = 0;
		}
	}
	pthread_mutex_unlock(&vs->lock);
	return r;
}

/* A directory's entries are in the records and directory blocks the next
 * commit writes, with every other change so far: the commit is the sync, as
 * ext4's journal commit is for a directory fsync. */
static int vol_sync_dir(struct store_node *dir)
{
	struct vstore *vs = VS(dir->store);
	pthread_mutex_lock(&vs->lock);
	int r = vs->broken ? -EIO : vs_commit_sync(vs);
	pthread_mutex_unlock(&vs->lock);
	return r;
}

const struct store_ops vol_store_ops_node = {
    .root = vol_root,
    .lookup = vol_lookup,
    .node_put = vol_node_put,
    .open = vol_open,
    .release = vol_release,
    .encode_handle = vol_encode_handle,
    .decode_handle = vol_decode_handle,
    .sync_dir = vol_sync_dir,
};

/* SPDX-License-Identifier: MIT */
/*
 * namei.c - the vol store's namespace on nodes: create (regular files,
 * directories, fifos, sockets, devices), symlink, tmpfile, link, unlink and
 * rmdir, rename (NOREPLACE, EXCHANGE), readdir with stable cookies, all on
 * the in-memory directories of directory nodes. Errnos follow the host
 * kernel's. A removed directory (nlink 0, still referenced) takes no new
 * entries (-ENOENT) and lists as empty.
 *
 * Locking: each op takes vs->lock for its whole run (vs_lock_change), except
 * readdir, which copies a batch of entries under it and calls the filler
 * without it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/vol/check.h"
#include "store/vol/vstore.h"

/* Links an inode may have (ext4's EXT4_LINK_MAX). */
#define VOL_LINK_MAX 65000u

int vs_ns_begin(struct vstore *vs, unsigned inodes)
{
	if (vs->broken)
		return -EIO;
	return vs_make_room(vs, inodes);
}

/* A new inode of @mode owned by @o, nlink 1 (2 for a directory). Changes
 * nothing if it fails (a generation batch may commit first). */
static int new_inode(struct vstore *vs, uint32_t mode, const struct store_owner *o,
		     struct vnode **out)
{
	uint64_t gen;

	for (uint64_t k = 0; k < vs->ninodes; k++) {
		uint64_t ino = (vs->ino_cursor + k) % vs->ninodes;
		if (ino == 0 || vs->inodes[ino])
			continue;
		int r = vs_take_gen(vs, &gen);
		if (r)
			return r;
		struct vnode *n = calloc(1, sizeof(*n));
		if (!n || (S_ISDIR(mode) && !(n->dir = vdir_new()))) {
			free(n);
			return -ENOMEM;
		}
		n->ino = ino;
		n->di.mode = mode;
		n->di.nlink = S_ISDIR(mode) ? 2 : 1;
		n->di.uid = (uint32_t)o->uid;
		n->di.gid = (uint32_t)o->gid;
		n->di.generation = gen;
		n->di.next_cookie = 1;
		vs_now(&n->di, true, true, true);
		vs_node_init(vs, n);
		vs_ino_mark(vs, ino);
		vs->inodes[ino] = n;
		vs->inodes_used++;
		vs->ino_cursor = ino + 1;
		n->map_dirty = true;
		vs_dirty(vs, n);
		*out = n;
		return 0;
	}
	return -ENOSPC;
}

/* A new inode that could not be named goes again. */
static void undo_inode(struct vstore *vs, struct vnode *n)
{
	n->di.nlink = 0;
	vs_evict(vs, n);
}

static int add_entry(struct vstore *vs, struct vnode *dir, const char *name, struct vnode *n)
{
	int r = vdir_insert(dir->dir, name, strlen(name), n->ino, vol_dtype(n->di.mode),
			    dir->di.next_cookie);
	if (r)
		return r;
	dir->di.next_cookie++;
	vs_now(&dir->di, false, true, true);
	dir->map_dirty = true;
	vs_dirty(vs, dir);
	return 0;
}

static void del_entry(struct vstore *vs, struct vnode *dir, struct vdent *e)
{
	vdir_remove(dir->dir, e);
	vs_now(&dir->di, false, true, true);
	dir->map_dirty = true;
	vs_dirty(vs, dir);
}

/* One name of n is gone; the last one frees it unless it is referenced or
 * open (an orphan until then). */
static void drop_link(struct vstore *vs, struct vnode *n)
{
	if (n->dir)
		n->di.nlink = 0;
	else
		n->di.nlink--;
	vs_now(&n->di, false, false, true);
	vs_dirty(vs, n);
	vs_maybe_evict(vs, n);
}

/* @name must not exist in live directory @d. */
static int new_name_ok(struct vnode *d, const char *name)
{
	int r = vs_live_dir(d);
	if (!r && vdir_lookup(d->dir, name, strlen(name)))
		r = -EEXIST;
	return r;
}

/* ---- ops ---- */

static int vol_create_at(struct store_node *dir, const char *name, mode_t mode, dev_t rdev,
			 const struct store_owner *owner, struct store_node **out)
{
	struct vstore *vs = VS(dir->store);
	struct vnode *d = VN_OF(dir), *n = NULL;

	vs_lock_change(vs);
	int r = new_name_ok(d, name);
	if (!r && S_ISDIR(mode) && d->di.nlink >= UINT32_MAX - 1)
		r = -EMLINK;
	if (!r)
		r = vs_ns_begin(vs, 2);
	if (!r)
		r = new_inode(vs, (uint32_t)mode, owner, &n);
	if (!r) {
		if (n->dir)
			n->dir->parent = d->ino;
		n->di.rdev = S_ISCHR(mode) || S_ISBLK(mode) ? (uint64_t)rdev : 0;
		r = add_entry(vs, d, name, n);
		if (r) {
			undo_inode(vs, n);
		} else {
			if (n->dir)
				d->di.nlink++;
			if (vol_mode_special(n->di.mode))
				vs_feature_inode_ext(vs);
			*out = vs_node_ref(vs, n);
		}
	}
	pthread_mutex_unlock(&vs->lock);
	return r;
}

static int vol_symlink(struct store_node *dir, const char *name, const char *target,
		       const struct store_owner *owner, struct store_node **out)
{
	struct vstore *vs = VS(dir->store);
	struct vnode *d = VN_OF(dir), *n = NULL;
	size_t len = strlen(target);

	if (len == 0)
		return -ENOENT;
	if (len >= VOL_BLOCK_SIZE)
		return -ENAMETOOLONG;
	char *blk = calloc(1, VOL_BLOCK_SIZE);
	if (!blk)
		return -ENOMEM;
	memcpy(blk, target, len);
	vs_lock_change(vs);
	int r = new_name_ok(d, name);
	if (!r)
		r = vs_ns_begin(vs, 2);
	if (!r)
		r = new_inode(vs, S_IFLNK | 0777, owner, &n);
	if (!r)
		r = vs_write_new_block(vs, n, blk);
	if (!r)
		r = add_entry(vs, d, name, n);
	if (r && n) {
		undo_inode(vs, n);
	} else if (!r) {
		n->di.size = len;
		n->target = blk;
		blk = NULL;
		*out = vs_node_ref(vs, n);
	}
	pthread_mutex_unlock(&vs->lock);
	free(blk);
	return r;
}

static int vol_tmpfile(struct store_node *dir, mode_t mode, const struct store_owner *owner,
		       struct store_node **out)
{
	struct vstore *vs = VS(dir->store);
	struct vnode *n;

	vs_lock_change(vs);
	int r = vs_live_dir(VN_OF(dir));
	if (!r)
		r = vs_ns_begin(vs, 1);
	if (!r)
		r = new_inode(vs, S_IFREG | (mode & 07777), owner, &n);
	if (!r) {
		n->di.nlink = 0; /* an orphan from the start: freed at its last reference */
		n->tmpfile = true;
		*out = vs_node_ref(vs, n);
	}
	pthread_mutex_unlock(&vs->lock);
	return r;
}

static int vol_link(struct store_node *sn, struct store_node *dir, const char *name)
{
	struct vstore *vs = VS(dir->store);
	struct vnode *d = VN_OF(dir), *n = VN_OF(sn);

	vs_lock_change(vs);
	int r = n->dir ? -EPERM : new_name_ok(d, name);
	if (!r && n->di.nlink == 0 && !n->tmpfile)
		r = -ENOENT; /* unlinked: only an O_TMPFILE file may be named again */
	if (!r && n->di.nlink >= VOL_LINK_MAX)
		r = -EMLINK;
	if (!r)
		r = vs_ns_begin(vs, 2);
	if (!r)
		r = add_entry(vs, d, name, n);
	if (!r) {
		n->di.nlink++;
		n->tmpfile = false;
		vs_now(&n->di, false, false, true);
		vs_dirty(vs, n);
	}
	pthread_mutex_unlock(&vs->lock);
	return r;
}

static int vol_unlink(struct store_node *dir, const char *name, bool is_rmdir)
{
	struct vstore *vs = VS(dir->store);
	struct vnode *d = VN_OF(dir), *n = NULL;
	struct vdent *e = NULL;

	vs_lock_change(vs);
	int r = d->dir ? 0 : -ENOTDIR;
	if (!r && !(e = vdir_lookup(d->dir, name, strlen(name))))
		r = -ENOENT;
	if (!r) {
		n = vs->inodes[e->ino];
		if (!is_rmdir)
			r = n->dir ? -EISDIR : 0;
		else
			r = !n->dir ? -ENOTDIR : n->dir->count ? -ENOTEMPTY : 0;
	}
	if (!r)
		r = vs_ns_begin(vs, 2);
	if (!r) {
		del_entry(vs, d, e);
		if (is_rmdir)
			d->di.nlink--;
		drop_link(vs, n);
	}
	pthread_mutex_unlock(&vs->lock);
	return r;
}

/* ---- rename ---- */

struct where {
	struct vnode *dir;
	const char *name;
	struct vdent *e; /* the entry, NULL if none */
};

/* Is @d @a or below it? (@d live: its parents are) */
static bool is_below(struct vstore *vs, struct vnode *d, struct vnode *a)
{
	uint64_t root = vs->v->sb.root_ino;
	for (uint64_t i = d->ino;; i = vs->inodes[i]->dir->parent) {
		if (i == a->ino)
			return true;
		if (i == root)
			return false;
	}
}

static int do_exchange(struct vstore *vs, struct where *a, struct where *b)
{
	struct vnode *x = vs->inodes[a->e->ino], *y = vs->inodes[b->e->ino];
	if (a->e == b->e)
		return 0;
	if ((x->dir && is_below(vs, b->dir, x)) || (y->dir && is_below(vs, a->dir, y)))
		return -EINVAL;
	int r = vs_ns_begin(vs, 4);
	if (r)
		return r;
	a->e->ino = y->ino;
	a->e->type = vol_dtype(y->di.mode);
	b->e->ino = x->ino;
	b->e->type = vol_dtype(x->di.mode);
	vdir_blk_touch(a->dir->dir, a->e->cookie); /* changed in place */
	vdir_blk_touch(b->dir->dir, b->e->cookie);
	if (a->dir != b->dir && !x->dir != !y->dir) {
		struct vnode *gets = x->dir ? b->dir : a->dir, *loses = x->dir ? a->dir : b->dir;
		gets->di.nlink++;
		loses->di.nlink--;
	}
	if (x->dir)
		x->dir->parent = b->dir->ino;
	if (y->dir)
		y->dir->parent = a->dir->ino;
	struct vnode *v[4] = {a->dir, b->dir, x, y};
	for (int i = 0; i < 4; i++) {
		vs_now(&v[i]->di, false, i < 2, true);
		if (i < 2)
			v[i]->map_dirty = true;
		vs_dirty(vs, v[i]);
	}
	return 0;
}

static int do_rename(struct vstore *vs, struct where *a, struct where *b, unsigned flags)
{
	struct vnode *x = vs->inodes[a->e->ino], *y = b->e ? vs->inodes[b->e->ino] : NULL;

	if (y && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (y == x)
		return 0; /* the same entry, or two links of one inode */
	if (x->dir && is_below(vs, b->dir, x))
		return -EINVAL;
	if (y && y->dir && is_below(vs, a->dir, y))
		return -ENOTEMPTY;
	if (y && x->dir && !y->dir)
		return -ENOTDIR;
	if (y && !x->dir && y->dir)
		return -EISDIR;
	if (y && y->dir && y->dir->count)
		return -ENOTEMPTY;
	int r = vs_ns_begin(vs, 4);
	if (r)
		return r;
	/* room for the new entry before anything changes */
	r = vdir_insert(b->dir->dir, b->name, strlen(b->name), x->ino, vol_dtype(x->di.mode),
			b->dir->di.next_cookie);
	if (r)
		return r;
	if (y) { /* the replaced entry, by pointer (the new one has the same name) */
		del_entry(vs, b->dir, b->e);
		if (y->dir)
			b->dir->di.nlink--;
		drop_link(vs, y);
	}
	b->dir->di.next_cookie++;
	del_entry(vs, a->dir, a->e);
	if (x->dir) {
		a->dir->di.nlink--;
		b->dir->di.nlink++;
		x->dir->parent = b->dir->ino;
	}
	vs_now(&b->dir->di, false, true, true);
	b->dir->map_dirty = true;
	vs_dirty(vs, b->dir);
	vs_now(&x->di, false, false, true);
	vs_dirty(vs, x);
	return 0;
}

static int vol_rename(struct store_node *odir, const char *oname, struct store_node *ndir,
		      const char *nname, unsigned flags)
{
	struct vstore *vs = VS(odir->store);
	struct where a = {VN_OF(odir), oname, NULL}, b = {VN_OF(ndir), nname, NULL};

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) ||
	    (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE))
		return -EINVAL;
	vs_lock_change(vs);
	int r = a.dir->dir && b.dir->dir ? 0 : -ENOTDIR;
	if (!r)
		a.e = vdir_lookup(a.dir->dir, oname, strlen(oname));
	if (!r)
		b.e = vdir_lookup(b.dir->dir, nname, strlen(nname));
	if (!r && (!a.e || (!b.e && (flags & RENAME_EXCHANGE))))
		r = -ENOENT;
	if (!r)
		r = vs_live_dir(b.dir); /* a removed directory takes no entry */
	if (!r && vs->broken)
		r = -EIO;
	if (!r)
		r = flags & RENAME_EXCHANGE ? do_exchange(vs, &a, &b)
					    : do_rename(vs, &a, &b, flags);
	pthread_mutex_unlock(&vs->lock);
	return r;
}

/* ---- readdir ---- */

struct dbatch {
	char name[256];
	uint64_t ino, cookie;
	unsigned type;
};

#define DBATCH 32

static int vol_readdir(struct store_node *dir, int64_t start, store_filldir_t fill, void *ctx)
{
	struct vstore *vs = VS(dir->store);
	struct vnode *d = VN_OF(dir); /* alive while the caller's reference is */
	struct dbatch *b = malloc(DBATCH * sizeof(*b));
	uint64_t next = start > 0 ? (uint64_t)start + 1 : 1;
	int r = b ? 0 : -ENOMEM;

	if (!r && !d->dir)
		r = -ENOTDIR;
	while (!r) {
		size_t k = 0;
		pthread_mutex_lock(&vs->lock);
		for (size_t i = vdir_seek(d->dir, next); i < d->dir->onr && k < DBATCH; i++) {
			struct vdent *e = d->dir->order[i].e;
			if (!e)
				continue;
			memcpy(b[k].name, e->name, (size_t)e->nlen + 1);
			b[k].ino = e->ino;
			b[k].cookie = e->cookie;
			b[k++].type = e->type;
		}
		pthread_mutex_unlock(&vs->lock);
		if (k == 0)
			break;
		for (size_t i = 0; i < k && !r; i++) {
			int f = fill(ctx, b[i].name, b[i].ino, b[i].type, (int64_t)b[i].cookie);
			if (f)
				r = f < 0 ? f : 1;
		}
		next = b[k - 1].cookie + 1;
	}
	free(b);
	return r > 0 ? 0 : r;
}

const struct store_ops vol_store_ops_ns = {
    .name = "vol",
    .create = vol_create_at,
    .symlink = vol_symlink,
    .tmpfile = vol_tmpfile,
    .link = vol_link,
    .unlink = vol_unlink,
    .rename = vol_rename,
    .readdir = vol_readdir,
};

/* SPDX-License-Identifier: MIT */
/*
 * namei.c - the vol store's namespace: path walks over the in-memory
 * directories, open/create, unlink, rename (NOREPLACE, EXCHANGE), mkdir,
 * rmdir, readdir with stable cookies, getattr, link, symlink, readlink,
 * setattr. Errnos follow the host kernel's (as the dir store gives them):
 * a symlink in the middle of a path is -ELOOP (no symlinks are followed),
 * a non-directory there -ENOTDIR.
 *
 * Locking: each op takes vs->lock for its whole run, except readdir, which
 * copies a batch of entries under it and calls the filler without it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/vol/check.h"
#include "store/vol/vstore.h"

void vs_now(struct vol_disk_inode *di, bool a, bool m, bool c)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (a) {
		di->atime_sec = now.tv_sec;
		di->atime_nsec = (uint32_t)now.tv_nsec;
	}
	if (m) {
		di->mtime_sec = now.tv_sec;
		di->mtime_nsec = (uint32_t)now.tv_nsec;
	}
	if (c) {
		di->ctime_sec = now.tv_sec;
		di->ctime_nsec = (uint32_t)now.tv_nsec;
	}
}

void vs_fill_stat(struct vstore *vs, const struct vnode *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = vs->dev;
	st->st_ino = n->ino;
	st->st_mode = n->di.mode;
	st->st_nlink = n->di.nlink;
	st->st_uid = n->di.uid;
	st->st_gid = n->di.gid;
	st->st_size = (off_t)n->di.size;
	st->st_blksize = VOL_BLOCK_SIZE;
	st->st_blocks =
	    (blkcnt_t)((n->dir ? n->di.size / VOL_BLOCK_SIZE : vol_extmap_blocks(&n->map)) *
		       (VOL_BLOCK_SIZE / 512));
	st->st_atim = (struct timespec){n->di.atime_sec, n->di.atime_nsec};
	st->st_mtim = (struct timespec){n->di.mtime_sec, n->di.mtime_nsec};
	st->st_ctim = (struct timespec){n->di.ctime_sec, n->di.ctime_nsec};
}

/* ---- walking ---- */

static struct vnode *root_of(struct vstore *vs)
{
	return vs->inodes[vs->v->sb.root_ino];
}

/* The directory named by path[0..len) (normalized; empty: the root). */
static int walk(struct vstore *vs, const char *path, size_t len, struct vnode **out)
{
	struct vnode *n = root_of(vs);
	size_t i = 0;

	while (i < len) {
		size_t j = i;
		while (j < len && path[j] != '/')
			j++;
		struct vdent *e = vdir_lookup(n->dir, path + i, j - i);
		if (!e)
			return -ENOENT;
		n = vs->inodes[e->ino];
		if (S_ISLNK(n->di.mode))
			return -ELOOP;
		if (!n->dir)
			return -ENOTDIR;
		i = j + 1;
	}
	*out = n;
	return 0;
}

struct where {
	struct vnode *dir;
	const char *name;
	size_t nlen;
	struct vdent *e; /* the entry, NULL if none */
};

static int resolve(struct vstore *vs, const char *path, struct where *w)
{
	const char *slash = strrchr(path, '/');
	size_t plen = slash ? (size_t)(slash - path) : 0;
	int r = walk(vs, path, plen, &w->dir);
	if (r)
		return r;
	w->name = slash ? slash + 1 : path;
	w->nlen = strlen(w->name);
	w->e = vdir_lookup(w->dir->dir, w->name, w->nlen);
	return 0;
}

/* resolve() where @path must name an entry: -ENOENT where it does not. */
static int resolve_old(struct vstore *vs, const char *path, struct where *w)
{
	int r = resolve(vs, path, w);
	return !r && !w->e ? -ENOENT : r;
}

/* resolve() where @path names an entry to make: -EEXIST where it exists. */
static int resolve_new(struct vstore *vs, const char *path, struct where *w)
{
	int r = resolve(vs, path, w);
	return !r && w->e ? -EEXIST : r;
}

/* The object @path names ("" = the root). */
static int lookup(struct vstore *vs, const char *path, struct vnode **out)
{
	if (!*path) {
		*out = root_of(vs);
		return 0;
	}
	struct where w;
	int r = resolve_old(vs, path, &w);
	if (!r)
		*out = vs->inodes[w.e->ino];
	return r;
}

/* ---- inodes ---- */

static mode_t umask_of(void)
{
	static mode_t um = 0777;
	if (__atomic_load_n(&um, __ATOMIC_RELAXED) == 0777) {
		FILE *f = fopen("/proc/self/status", "r");
		char line[128];
		mode_t v = 022;
		while (f && fgets(line, sizeof(line), f))
			if (strncmp(line, "Umask:", 6) == 0)
				v = (mode_t)strtoul(line + 6, NULL, 8);
		if (f)
			fclose(f);
		__atomic_store_n(&um, v, __ATOMIC_RELAXED);
	}
	return __atomic_load_n(&um, __ATOMIC_RELAXED);
}

static int new_inode(struct vstore *vs, uint32_t mode, struct vnode **out)
{
	for (uint64_t k = 0; k < vs->ninodes; k++) {
		uint64_t ino = (vs->ino_cursor + k) % vs->ninodes;
		if (ino == 0 || vs->inodes[ino])
			continue;
		struct vnode *n = calloc(1, sizeof(*n));
		if (!n || (S_ISDIR(mode) && !(n->dir = vdir_new()))) {
			free(n);
			return -ENOMEM;
		}
		n->ino = ino;
		n->di.mode = mode;
		n->di.nlink = S_ISDIR(mode) ? 2 : 1;
		n->di.uid = (uint32_t)geteuid();
		n->di.gid = (uint32_t)getegid();
		n->di.generation = 1;
		n->di.next_cookie = 1;
		vs_now(&n->di, true, true, true);
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

static unsigned dtype_of(uint32_t mode)
{
	return S_ISDIR(mode) ? DT_DIR : S_ISLNK(mode) ? DT_LNK : DT_REG;
}

static int add_entry(struct vstore *vs, struct vnode *dir, const char *name, size_t nlen,
		     struct vnode *n)
{
	int r = vdir_insert(dir->dir, name, nlen, n->ino, (uint8_t)dtype_of(n->di.mode),
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

/* One name of n is gone. */
static void drop_link(struct vstore *vs, struct vnode *n)
{
	if (n->dir)
		n->di.nlink = 0;
	else
		n->di.nlink--;
	vs_now(&n->di, false, false, true);
	vs_dirty(vs, n);
	if (n->di.nlink == 0) {
		if (n->opens)
			n->di.flags |= VOL_INO_ORPHAN;
		else
			vs_evict(vs, n);
	}
}

/* Where any op that changes the namespace starts: the store usable, room in
 * the journal for the records it dirties. */
static int ns_begin(struct vstore *vs, unsigned inodes)
{
	if (vs->broken)
		return -EIO;
	return vs_make_room(vs, inodes);
}

/* ---- ops ---- */

static int vol_open(struct store *s, const char *path, int flags, mode_t mode,
		    struct store_inode **out)
{
	struct vstore *vs = VS(s);
	struct where w;
	struct vnode *n;
	int r;

	if (!*path)
		return -EISDIR;
	struct store_inode *si = calloc(1, sizeof(*si));
	if (!si)
		return -ENOMEM;
	if (flags & (O_CREAT | O_TRUNC))
		vs_lock_change(vs); /* may create or truncate */
	else
		pthread_mutex_lock(&vs->lock);
	r = resolve(vs, path, &w);
	if (r)
		goto out;
	if (w.e) {
		n = vs->inodes[w.e->ino];
		r = (flags & O_CREAT) && (flags & O_EXCL) ? -EEXIST
		    : n->dir				  ? -EISDIR
		    : S_ISLNK(n->di.mode)		  ? -ELOOP
							  : 0;
		if (!r && (flags & O_TRUNC) && n->di.size) {
			r = ns_begin(vs, 1);
			if (!r)
				r = vs_truncate_blocks(vs, n, 0);
			if (!r) {
				n->di.size = 0;
				vs_now(&n->di, false, true, true);
				vs_dirty(vs, n);
			}
		}
	} else if (!(flags & O_CREAT)) {
		r = -ENOENT;
	} else {
		r = ns_begin(vs, 2);
		if (!r)
			r = new_inode(vs, S_IFREG | (mode & 07777 & ~umask_of()), &n);
		if (!r && (r = add_entry(vs, w.dir, w.name, w.nlen, n))) {
			n->di.nlink = 0;
			vs_evict(vs, n);
		}
	}
	if (r)
		goto out;
	n->opens++;
	si->store = s;
	si->fd = vs->v->fd;
	si->dio_fd = vs->dio_fd;
	si->ino = n->ino;
	si->dev = vs->dev;
	si->private = n;
	*out = si;
	si = NULL;
out:
	pthread_mutex_unlock(&vs->lock);
	free(si);
	return r;
}

static void vol_release(struct store_inode *si)
{
	struct vstore *vs = VS(si->store);
	struct vnode *n = si->private;

	pthread_mutex_lock(&vs->lock);
	if (n->opens == 1 && n->di.nlink == 0)
		vs_wait_thaw(vs); /* the last close of an unlinked inode frees it */
	if (--n->opens == 0 && n->di.nlink == 0)
		vs_evict(vs, n);
	pthread_mutex_unlock(&vs->lock);
	free(si);
}

/* unlink (@is_rmdir false) or rmdir (@is_rmdir true) of @path. */
static int remove_entry(struct store *s, const char *path, bool is_rmdir)
{
	struct vstore *vs = VS(s);
	struct where w;
	struct vnode *n = NULL;

	if (!*path)
		return is_rmdir ? -EBUSY : -EISDIR;
	vs_lock_change(vs);
	int r = resolve_old(vs, path, &w);
	if (!r) {
		n = vs->inodes[w.e->ino];
		if (!is_rmdir)
			r = n->dir ? -EISDIR : 0;
		else
			r = !n->dir ? -ENOTDIR : n->dir->count ? -ENOTEMPTY : 0;
	}
	if (!r)
		r = ns_begin(vs, 2);
	if (!r) {
		del_entry(vs, w.dir, w.e);
		if (is_rmdir)
			w.dir->di.nlink--;
		drop_link(vs, n);
	}
	pthread_mutex_unlock(&vs->lock);
	return r;
}

static int vol_unlink(struct store *s, const char *path)
{
	return remove_entry(s, path, false);
}

static int vol_mkdir(struct store *s, const char *path, mode_t mode)
{
	struct vstore *vs = VS(s);
	struct where w;
	struct vnode *n;

	if (!*path)
		return -EEXIST;
	vs_lock_change(vs);
	int r = resolve_new(vs, path, &w);
	if (!r)
		r = ns_begin(vs, 2);
	if (!r)
		r = new_inode(vs, S_IFDIR | (mode & 07777 & ~umask_of()), &n);
	if (!r) {
		n->dir->parent = w.dir->ino;
		r = add_entry(vs, w.dir, w.name, w.nlen, n);
		if (r) {
			n->di.nlink = 0;
			vs_evict(vs, n);
		} else {
			w.dir->di.nlink++;
		}
	}
	pthread_mutex_unlock(&vs->lock);
	return r;
}

static int vol_rmdir(struct store *s, const char *path)
{
	return remove_entry(s, path, true);
}

/* Is @d @a or below it? */
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
	int r = ns_begin(vs, 4);
	if (r)
		return r;
	a->e->ino = y->ino;
	a->e->type = (uint8_t)dtype_of(y->di.mode);
	b->e->ino = x->ino;
	b->e->type = (uint8_t)dtype_of(x->di.mode);
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
	int r = ns_begin(vs, 4);
	if (r)
		return r;
	/* room for the new entry before anything changes */
	r = vdir_insert(b->dir->dir, b->name, b->nlen, x->ino, (uint8_t)dtype_of(x->di.mode),
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

static int vol_rename(struct store *s, const char *from, const char *to, unsigned flags)
{
	struct vstore *vs = VS(s);
	struct where a, b;

	if (!*from || !*to)
		return -EBUSY;
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) ||
	    (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE))
		return -EINVAL;
	vs_lock_change(vs);
	int r = resolve(vs, from, &a);
	if (!r)
		r = resolve(vs, to, &b);
	if (!r && (!a.e || (!b.e && (flags & RENAME_EXCHANGE))))
		r = -ENOENT;
	if (!r && vs->broken)
		r = -EIO;
	if (!r)
		r = flags & RENAME_EXCHANGE ? do_exchange(vs, &a, &b)
					    : do_rename(vs, &a, &b, flags);
	pthread_mutex_unlock(&vs->lock);
	return r;
}

struct dbatch {
	char name[256];
	uint64_t ino, cookie;
	unsigned type;
};

#define DBATCH 32

static int vol_readdir(struct store *s, const char *path, int64_t start, store_filldir_t fill,
		       void *ctx)
{
	struct vstore *vs = VS(s);
	struct dbatch *b = malloc(DBATCH * sizeof(*b));
	uint64_t next = start > 0 ? (uint64_t)start + 1 : 1;
	int r = b ? 0 : -ENOMEM;

	while (!r) {
		size_t k = 0;
		struct vnode *d;
		pthread_mutex_lock(&vs->lock);
		r = lookup(vs, path, &d);
		if (!r && !d->dir)
			r = -ENOTDIR;
		if (!r)
			for (size_t i = vdir_seek(d->dir, next); i < d->dir->onr && k < DBATCH;
			     i++) {
				struct vdent *e = d->dir->order[i].e;
				if (!e)
					continue;
				memcpy(b[k].name, e->name, (size_t)e->nlen + 1);
				b[k].ino = e->ino;
				b[k].cookie = e->cookie;
				b[k++].type = e->type;
			}
		pthread_mutex_unlock(&vs->lock);
		if (r || k == 0)
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

static int vol_getattr(struct store *s, const char *path, struct stat *st)
{
	struct vstore *vs = VS(s);
	struct vnode *n;

	pthread_mutex_lock(&vs->lock);
	int r = lookup(vs, path, &n);
	if (!r)
		vs_fill_stat(vs, n, st);
	pthread_mutex_unlock(&vs->lock);
	return r;
}

static int vol_link(struct store *s, const char *from, const char *to)
{
	struct vstore *vs = VS(s);
	struct where a, b;

	vs_lock_change(vs);
	int r = resolve_old(vs, from, &a);
	if (!r && vs->inodes[a.e->ino]->dir)
		r = -EPERM;
	if (!r)
		r = resolve_new(vs, to, &b);
	if (!r)
		r = ns_begin(vs, 2);
	if (!r) {
		struct vnode *n = vs->inodes[a.e->ino];
		r = add_entry(vs, b.dir, b.name, b.nlen, n);
		if (!r) {
			n->di.nlink++;
			vs_now(&n->di, false, false, true);
			vs_dirty(vs, n);
		}
	}
	pthread_mutex_unlock(&vs->lock);
	return r;
}

static int vol_symlink(struct store *s, const char *target, const char *path)
{
	struct vstore *vs = VS(s);
	struct where w;
	struct vnode *n = NULL;
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
	int r = resolve_new(vs, path, &w);
	if (!r)
		r = ns_begin(vs, 2);
	if (!r)
		r = new_inode(vs, S_IFLNK | 0777, &n);
	if (!r)
		r = vs_write_new_block(vs, n, blk);
	if (!r)
		r = add_entry(vs, w.dir, w.name, w.nlen, n);
	if (r && n) {
		n->di.nlink = 0;
		vs_evict(vs, n);
	} else if (!r) {
		n->di.size = len;
		n->target = blk;
		blk = NULL;
	}
	pthread_mutex_unlock(&vs->lock);
	free(blk);
	return r;
}

static ssize_t vol_readlink(struct store *s, const char *path, char *buf, size_t size)
{
	struct vstore *vs = VS(s);
	struct vnode *n;

	pthread_mutex_lock(&vs->lock);
	ssize_t r = lookup(vs, path, &n);
	if (!r && !S_ISLNK(n->di.mode))
		r = -EINVAL;
	if (!r) {
		size_t len = n->di.size < size ? n->di.size : size;
		memcpy(buf, n->target, len);
		r = (ssize_t)len;
	}
	pthread_mutex_unlock(&vs->lock);
	return r;
}

/* The time to store for @ts (UTIME_NOW: now); false for UTIME_OMIT. */
static bool time_of(const struct timespec *ts, struct timespec *out)
{
	if (ts->tv_nsec == UTIME_OMIT)
		return false;
	if (ts->tv_nsec == UTIME_NOW)
		clock_gettime(CLOCK_REALTIME, out);
	else
		*out = *ts;
	return true;
}

static int vol_setattr(struct store *s, const char *path, const struct store_setattr *a)
{
	struct vstore *vs = VS(s);
	struct vnode *n;
	const unsigned known =
	    STORE_ATTR_MODE | STORE_ATTR_UID | STORE_ATTR_GID | STORE_ATTR_ATIME | STORE_ATTR_MTIME;

	if (a->valid & ~known)
		return -EINVAL;
	if (((a->valid & STORE_ATTR_ATIME) && a->atime.tv_nsec != UTIME_NOW &&
	     a->atime.tv_nsec != UTIME_OMIT &&
	     (a->atime.tv_nsec < 0 || a->atime.tv_nsec >= 1000000000)) ||
	    ((a->valid & STORE_ATTR_MTIME) && a->mtime.tv_nsec != UTIME_NOW &&
	     a->mtime.tv_nsec != UTIME_OMIT &&
	     (a->mtime.tv_nsec < 0 || a->mtime.tv_nsec >= 1000000000)))
		return -EINVAL;
	vs_lock_change(vs);
	int r = lookup(vs, path, &n);
	if (!r && (a->valid & STORE_ATTR_MODE) && S_ISLNK(n->di.mode))
		r = -EOPNOTSUPP;
	if (!r)
		r = ns_begin(vs, 1);
	if (!r) {
		if (a->valid & STORE_ATTR_MODE)
			n->di.mode = (n->di.mode & S_IFMT) | (a->mode & 07777);
		if (a->valid & STORE_ATTR_UID)
			n->di.uid = a->uid;
		if (a->valid & STORE_ATTR_GID)
			n->di.gid = a->gid;
		struct timespec t;
		if ((a->valid & STORE_ATTR_ATIME) && time_of(&a->atime, &t)) {
			n->di.atime_sec = t.tv_sec;
			n->di.atime_nsec = (uint32_t)t.tv_nsec;
		}
		if ((a->valid & STORE_ATTR_MTIME) && time_of(&a->mtime, &t)) {
			n->di.mtime_sec = t.tv_sec;
			n->di.mtime_nsec = (uint32_t)t.tv_nsec;
		}
		vs_now(&n->di, false, false, true);
		vs_dirty(vs, n);
	}
	pthread_mutex_unlock(&vs->lock);
	return r;
}

static int vol_statfs(struct store *s, struct statvfs *st)
{
	struct vstore *vs = VS(s);

	pthread_mutex_lock(&vs->lock);
	const struct vol_super *sb = &vs->v->sb;
	/* Reserved blocks count as used (ext4 subtracts its dirty clusters). */
	uint64_t bfree = vol_free_blocks(vs->v);
	bfree = bfree > vs->resv ? bfree - vs->resv : 0;
	memset(st, 0, sizeof(*st));
	st->f_bsize = VOL_BLOCK_SIZE;
	st->f_frsize = VOL_BLOCK_SIZE;
	st->f_blocks = vol_data_end(sb) - sb->data_start;
	st->f_bfree = bfree;
	st->f_bavail = bfree > vs->reserve ? bfree - vs->reserve : 0;
	st->f_files = vs->ninodes - 1;
	st->f_ffree = vs->ninodes - 1 - vs->inodes_used;
	st->f_favail = st->f_ffree;
	st->f_fsid = vs->dev;
	st->f_namemax = 255;
	pthread_mutex_unlock(&vs->lock);
	return 0;
}

const struct store_ops vol_store_ops_ns = {
    .name = "vol",
    .open = vol_open,
    .release = vol_release,
    .unlink = vol_unlink,
    .rename = vol_rename,
    .mkdir = vol_mkdir,
    .rmdir = vol_rmdir,
    .readdir = vol_readdir,
    .getattr = vol_getattr,
    .statfs = vol_statfs,
    .link = vol_link,
    .symlink = vol_symlink,
    .readlink = vol_readlink,
    .setattr = vol_setattr,
};

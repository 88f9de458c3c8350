/* SPDX-License-Identifier: MIT */
/*
 * path.c - the store's calls by path (store_open, store_unlink, ...): what
 * tests and the offline tools use. Each normalizes its path (the contract
 * in store.h), walks it from the root with store_walk_parent, and makes one
 * backend call on what it found; it counts and injects as one op.
 *
 * Locking: none.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "store/internal.h"

#define STORE_PATH_MAX PATH_MAX

/* ---- normalization ---- */

int store_path_normalize(const char *path, char *buf, size_t size)
{
	size_t n = 0;

	if (!path || path[0] == '/')
		return -EINVAL;
	if (strlen(path) >= STORE_PATH_MAX)
		return -ENAMETOOLONG;
	if (size == 0)
		return -ENAMETOOLONG;
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		const char *e = p;
		while (*e && *e != '/')
			e++;
		size_t len = (size_t)(e - p);
		if (len == 0)
			break;
		if (len > NAME_MAX)
			return -ENAMETOOLONG;
		if (len == 1 && p[0] == '.') {
			/* drop */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (n == 0)
				return -EINVAL; /* would leave the root */
			while (n > 0 && buf[n - 1] != '/')
				n--;
			if (n > 0)
				n--; /* the separator */
		} else {
			if (n + (n ? 1 : 0) + len + 1 > size)
				return -ENAMETOOLONG;
			if (n)
				buf[n++] = '/';
			memcpy(buf + n, p, len);
			n += len;
		}
		p = e;
	}
	buf[n] = '\0';
	return 0;
}

/* Normalizes into @buf; a path that is literally "" is -ENOENT unless
 * @root_ok (where "" names the root). */
static int norm(const char *path, char *buf, bool root_ok)
{
	if (path && !path[0] && !root_ok)
		return -ENOENT;
	return store_path_normalize(path, buf, STORE_PATH_MAX);
}

/*
 * The path calls: one store_enter for the call, the path normalized (so
 * that the old contract holds: no leading '/', '..' never above the root,
 * "" the root where allowed), then a walk from the root with the backend's
 * lookups and one backend op on the result.
 */

/* Normalizes @path (see norm) and resolves its parent: *dir and @last
 * ("" for the root). */
static int path_parent(struct store *s, const char *path, struct store_node **dir, char *last)
{
	char p[STORE_PATH_MAX];
	struct store_node *root;
	bool slash;
	int ret = norm(path, p, false);

	*dir = NULL;
	if (!ret)
		ret = s->ops->root(s, &root);
	if (ret)
		return ret;
	ret = store_walk_parent(root, p, dir, last, &slash);
	store_node_put(root);
	return ret;
}

/* Normalizes @path ("" names the root where @root_ok) and resolves it. */
static int path_node(struct store *s, const char *path, bool root_ok, struct store_node **out)
{
	char p[STORE_PATH_MAX];
	struct store_node *root;
	int ret = norm(path, p, root_ok);

	*out = NULL;
	if (!ret)
		ret = s->ops->root(s, &root);
	if (ret)
		return ret;
	ret = store_walk(root, p, out);
	store_node_put(root);
	return ret;
}

static struct store_owner *self_owner(struct store_owner *o)
{
	o->uid = geteuid();
	o->gid = getegid();
	return o;
}

int store_open(struct store *s, const char *path, int flags, mode_t mode, struct store_inode **out)
{
	char last[NAME_MAX + 1];
	struct store_node *dir = NULL, *n = NULL;
	struct store_owner self;
	int ret = store_enter(s, STORE_OP_OPEN, NULL, 0, 0);

	*out = NULL;
	if (ret)
		return ret;
	if (flags & ~(O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_DIRECT | O_CLOEXEC | O_NOFOLLOW |
		      O_LARGEFILE))
		return -EINVAL;
	if ((flags & O_DIRECT) && !s->dio_supported)
		return -EINVAL;
	ret = path_parent(s, path, &dir, last);
	if (ret)
		return ret;
	if (!last[0]) {
		store_node_put(dir);
		return -EISDIR; /* the root */
	}
	for (int tries = 0; tries < 8; tries++) {
		ret = s->ops->lookup(dir, last, &n);
		if (ret == -ENOENT && (flags & O_CREAT)) {
			ret = s->ops->create(dir, last, S_IFREG | (mode & 07777), 0,
					     self_owner(&self), &n);
			if (ret == -EEXIST && !(flags & O_EXCL))
				continue; /* made meanwhile: open it */
		} else if (!ret && (flags & O_CREAT) && (flags & O_EXCL)) {
			ret = -EEXIST;
		}
		break;
	}
	store_node_put(dir);
	if (ret) {
		store_node_put(n);
		return ret;
	}
	if (S_ISDIR(n->type))
		ret = -EISDIR;
	else if (S_ISLNK(n->type))
		ret = -ELOOP;
	else if (!S_ISREG(n->type))
		ret = -EINVAL;
	else
		ret = s->ops->open(n, flags & ~(O_CREAT | O_EXCL | O_TRUNC), out);
	if (!ret) {
		(*out)->node = n;
		n = NULL;
		if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) {
			ret = (*out)->readonly ? -EACCES : s->ops->setsize(*out, 0);
			if (ret) {
				store_release(*out);
				*out = NULL;
			}
		}
	}
	store_node_put(n);
	return ret;
}

int store_create(struct store *s, const char *path, mode_t mode, struct store_inode **out)
{
	return store_open(s, path, O_RDWR | O_CREAT | O_EXCL, mode, out);
}

/* unlink and rmdir: the last component must be a plain name. */
static int path_remove(struct store *s, enum store_op op, const char *path, bool rmdir)
{
	char last[NAME_MAX + 1];
	struct store_node *dir;
	int ret = store_enter(s, op, NULL, 0, 0);

	if (!ret)
		ret = path_parent(s, path, &dir, last);
	if (ret)
		return ret;
	ret = last[0] ? s->ops->unlink(dir, last, rmdir) : -EBUSY; /* the root */
	store_node_put(dir);
	return ret;
}

int store_unlink(struct store *s, const char *path)
{
	return path_remove(s, STORE_OP_UNLINK, path, false);
}

int store_rmdir(struct store *s, const char *path)
{
	return path_remove(s, STORE_OP_RMDIR, path, true);
}

int store_rename(struct store *s, const char *from, const char *to, unsigned flags)
{
	char la[NAME_MAX + 1], lb[NAME_MAX + 1];
	struct store_node *da = NULL, *db = NULL;
	int ret = store_enter(s, STORE_OP_RENAME, NULL, 0, 0);

	if (ret)
		return ret;
	if ((flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) ||
	    (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE))
		return -EINVAL;
	ret = path_parent(s, from, &da, la);
	if (!ret)
		ret = path_parent(s, to, &db, lb);
	if (!ret)
		ret = la[0] && lb[0] ? s->ops->rename(da, la, db, lb, flags) : -EBUSY;
	store_node_put(da);
	store_node_put(db);
	return ret;
}

/* mkdir, symlink: a new name in the parent of @p. */
int store_mkdir(struct store *s, const char *path, mode_t mode)
{
	char last[NAME_MAX + 1];
	struct store_node *dir, *n = NULL;
	struct store_owner self;
	int ret = store_enter(s, STORE_OP_MKDIR, NULL, 0, 0);

	if (!ret)
		ret = path_parent(s, path, &dir, last);
	if (ret)
		return ret;
	ret = last[0]
		  ? s->ops->create(dir, last, S_IFDIR | (mode & 07777), 0, self_owner(&self), &n)
		  : -EEXIST;
	store_node_put(n);
	store_node_put(dir);
	return ret;
}

int store_symlink(struct store *s, const char *target, const char *path)
{
	char last[NAME_MAX + 1];
	struct store_node *dir, *n = NULL;
	struct store_owner self;
	int ret = store_enter(s, STORE_OP_SYMLINK, NULL, 0, 0);

	if (!ret)
		ret = store_check_symlink_target(target);
	if (!ret)
		ret = path_parent(s, path, &dir, last);
	if (ret)
		return ret;
	ret = last[0] ? s->ops->symlink(dir, last, target, self_owner(&self), &n) : -EEXIST;
	store_node_put(n);
	store_node_put(dir);
	return ret;
}

int store_link(struct store *s, const char *from, const char *to)
{
	char last[NAME_MAX + 1];
	struct store_node *n = NULL, *dir = NULL;
	int ret = store_enter(s, STORE_OP_LINK, NULL, 0, 0);

	if (!ret)
		ret = path_node(s, from, false, &n);
	if (!ret)
		ret = path_parent(s, to, &dir, last);
	if (!ret && S_ISDIR(n->type))
		ret = -EPERM;
	if (!ret)
		ret = last[0] ? s->ops->link(n, dir, last) : -EEXIST;
	store_node_put(n);
	store_node_put(dir);
	return ret;
}

int store_readdir(struct store *s, const char *path, int64_t start, store_filldir_t fill, void *ctx)
{
	struct store_node *n;
	int ret = store_enter(s, STORE_OP_READDIR, NULL, start, 0);

	if (!ret && start < 0)
		ret = -EINVAL;
	if (!ret)
		ret = path_node(s, path, true, &n);
	if (ret)
		return ret;
	ret = S_ISDIR(n->type) ? s->ops->readdir(n, start, fill, ctx) : -ENOTDIR;
	store_node_put(n);
	return ret;
}

int store_getattr(struct store *s, const char *path, struct stat *st)
{
	struct store_node *n;
	int ret = store_enter(s, STORE_OP_GETATTR, NULL, 0, 0);

	if (!ret)
		ret = path_node(s, path, true, &n);
	if (ret)
		return ret;
	ret = s->ops->getattr(n, st);
	store_node_put(n);
	return ret;
}

ssize_t store_readlink(struct store *s, const char *path, char *buf, size_t size)
{
	struct store_node *n;
	ssize_t ret = store_enter(s, STORE_OP_READLINK, NULL, 0, 0);

	if (!ret && (!buf || !size))
		ret = -EINVAL;
	if (!ret)
		ret = path_node(s, path, true, &n);
	if (ret)
		return ret;
	ret = S_ISLNK(n->type) ? s->ops->readlink(n, buf, size) : -EINVAL;
	store_node_put(n);
	return ret;
}

int store_setattr(struct store *s, const char *path, const struct store_setattr *attr)
{
	const unsigned known =
	    STORE_ATTR_MODE | STORE_ATTR_UID | STORE_ATTR_GID | STORE_ATTR_ATIME | STORE_ATTR_MTIME;
	struct store_node *n;
	int ret = store_enter(s, STORE_OP_SETATTR, NULL, 0, 0);

	if (!ret && (!attr || (attr->valid & ~known)))
		ret = -EINVAL;
	if (!ret && (attr->valid & STORE_ATTR_MODE) && (attr->mode & ~07777u))
		ret = -EINVAL;
	if (!ret)
		ret = path_node(s, path, true, &n);
	if (ret)
		return ret;
	ret = s->ops->setattr(n, attr);
	store_node_put(n);
	return ret;
}

int store_sync_dir(struct store *s, const char *path)
{
	struct store_node *n;
	int ret = store_enter(s, STORE_OP_SYNC_DIR, NULL, 0, 0);

	if (!ret)
		ret = path_node(s, path, true, &n);
	if (ret)
		return ret;
	ret = S_ISDIR(n->type) ? s->ops->sync_dir(n) : -ENOTDIR;
	store_node_put(n);
	return ret;
}

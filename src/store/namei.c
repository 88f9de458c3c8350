/* SPDX-License-Identifier: MIT */
/*
 * namei.c - the store's namespace entry points on nodes, and the walk that
 * resolves a path one component at a time (store_walk_parent, store_walk).
 *
 * Each entry point checks its names and arguments the same way for every
 * backend (the errnos of Linux's VFS for ".", "..", empty and over-long
 * names, bad flags), then store_enter (validator, counting, injection), then
 * the backend. The walk calls the backend's lookup directly: a path call is
 * one op for counting and injection, whatever its depth.
 *
 * Locking: none. References: every node returned is a new reference the
 * caller drops with store_node_put.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "store/internal.h"

int store_check_name(const char *name)
{
	if (!name)
		return -EFAULT;
	if (!*name)
		return -ENOENT;
	size_t n = strnlen(name, NAME_MAX + 1);
	if (n > NAME_MAX)
		return -ENAMETOOLONG;
	if (memchr(name, '/', n))
		return -EINVAL;
	return 0;
}

int store_check_symlink_target(const char *target)
{
	if (!target)
		return -EFAULT;
	if (!*target)
		return -ENOENT;
	return strnlen(target, PATH_MAX) >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static int check_dir(struct store_node *dir)
{
	return S_ISDIR(dir->type) ? 0 : -ENOTDIR;
}

/* For the calls that make a name: the checks, then -EEXIST for "." and "..". */
static int check_new_name(struct store_node *dir, const char *name)
{
	int ret = store_check_name(name);

	if (!ret)
		ret = check_dir(dir);
	if (!ret && store_name_is_dot(name))
		ret = -EEXIST;
	return ret;
}

/* ---- references ---- */

int store_root(struct store *s, struct store_node **out)
{
	*out = NULL;
	return s->ops->root(s, out);
}

void store_node_put(struct store_node *n)
{
	if (n)
		n->store->ops->node_put(n);
}

/* ---- lookup and the walk ---- */

/* The backend's lookup with "." answered here: no counting, no injection. */
static int lookup_one(struct store_node *dir, const char *name, struct store_node **out)
{
	*out = NULL;
	if (!S_ISDIR(dir->type))
		return -ENOTDIR;
	if (name[0] == '.' && !name[1]) {
		*out = store_node_get(dir);
		return 0;
	}
	return dir->store->ops->lookup(dir, name, out);
}

int store_lookup(struct store_node *dir, const char *name, struct store_node **out)
{
	int ret = store_enter(dir->store, STORE_OP_LOOKUP, NULL, 0, 0);

	*out = NULL;
	if (!ret)
		ret = store_check_name(name);
	return ret ? ret : lookup_one(dir, name, out);
}

int store_walk_parent(struct store_node *start, const char *path, struct store_node **parent,
		      char *last, bool *trailing_slash)
{
	struct store_node *cur, *next;
	const char *p = path;
	int ret = 0;

	*parent = NULL;
	last[0] = '\0';
	*trailing_slash = false;
	if (!path)
		return -EFAULT;
	if (strnlen(path, PATH_MAX) >= PATH_MAX)
		return -ENAMETOOLONG;
	if (*p == '/') {
		ret = store_root(start->store, &cur);
		if (ret)
			return ret;
	} else {
		cur = store_node_get(start);
	}

	for (;;) {
		while (*p == '/')
			p++;
		const char *e = strchrnul(p, '/');
		size_t len = (size_t)(e - p);
		const char *rest = e;

		if (len == 0)
			break; /* no component left: the path names cur */
		if (len > NAME_MAX) {
			ret = -ENAMETOOLONG;
			break;
		}
		while (*rest == '/')
			rest++;
		if (!*rest) {
			/* the last component: the caller looks it up */
			memcpy(last, p, len);
			last[len] = '\0';
			*trailing_slash = *e == '/';
			if (*trailing_slash && len == 1 && p[0] == '.')
				*trailing_slash = false;
			ret = check_dir(cur);
			break;
		}
		char name[NAME_MAX + 1];
		memcpy(name, p, len);
		name[len] = '\0';
		ret = lookup_one(cur, name, &next);
		if (ret)
			break;
		store_node_put(cur);
		cur = next;
		if (S_ISLNK(cur->type)) {
			ret = -ELOOP; /* no symlink is followed */
			break;
		}
		if (!S_ISDIR(cur->type)) {
			ret = -ENOTDIR;
			break;
		}
		p = rest;
	}
	if (ret) {
		store_node_put(cur);
		last[0] = '\0';
		return ret;
	}
	*parent = cur;
	return 0;
}

int store_walk(struct store_node *start, const char *path, struct store_node **out)
{
	char last[NAME_MAX + 1];
	struct store_node *dir;
	bool slash;
	int ret;

	*out = NULL;
	ret = store_walk_parent(start, path, &dir, last, &slash);
	if (ret)
		return ret;
	if (!last[0]) {
		*out = dir;
		return 0;
	}
	ret = lookup_one(dir, last, out);
	store_node_put(dir);
	if (!ret && slash && !S_ISDIR((*out)->type)) {
		store_node_put(*out);
		*out = NULL;
		ret = -ENOTDIR;
	}
	return ret;
}

/* ---- names ---- */

static bool valid_create_type(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFIFO:
	case S_IFSOCK:
	case S_IFCHR:
	case S_IFBLK:
		return true;
	default:
		return false;
	}
}

int store_create_at(struct store_node *dir, const char *name, mode_t mode, dev_t rdev,
		    const struct store_owner *owner, struct store_node **out)
{
	enum store_op op = S_ISDIR(mode) ? STORE_OP_MKDIR : STORE_OP_CREATE;
	int ret = store_enter(dir->store, op, NULL, 0, 0);

	*out = NULL;
	if (!ret && !valid_create_type(mode))
		ret = -EINVAL;
	if (!ret)
		ret = check_new_name(dir, name);
	if (ret)
		return ret;
	if (!S_ISCHR(mode) && !S_ISBLK(mode))
		rdev = 0;
	return dir->store->ops->create(dir, name, mode & (S_IFMT | 07777), rdev, owner, out);
}

int store_symlink_at(struct store_node *dir, const char *name, const char *target,
		     const struct store_owner *owner, struct store_node **out)
{
	int ret = store_enter(dir->store, STORE_OP_SYMLINK, NULL, 0, 0);

	*out = NULL;
	if (!ret)
		ret = store_check_symlink_target(target);
	if (!ret)
		ret = check_new_name(dir, name);
	if (ret)
		return ret;
	return dir->store->ops->symlink(dir, name, target, owner, out);
}

int store_tmpfile(struct store_node *dir, mode_t mode, const struct store_owner *owner,
		  struct store_node **out)
{
	int ret = store_enter(dir->store, STORE_OP_TMPFILE, NULL, 0, 0);

	*out = NULL;
	if (!ret)
		ret = check_dir(dir);
	if (ret)
		return ret;
	if (!dir->store->ops->tmpfile)
		return -EOPNOTSUPP;
	return dir->store->ops->tmpfile(dir, (mode & 07777) | S_IFREG, owner, out);
}

int store_link_at(struct store_node *n, struct store_node *dir, const char *name)
{
	int ret = store_enter(dir->store, STORE_OP_LINK, NULL, 0, 0);

	if (!ret && n->store != dir->store)
		ret = -EXDEV;
	if (!ret)
		ret = check_new_name(dir, name);
	if (!ret && S_ISDIR(n->type))
		ret = -EPERM;
	return ret ? ret : dir->store->ops->link(n, dir, name);
}

int store_unlink_at(struct store_node *dir, const char *name, bool rmdir)
{
	int ret = store_enter(dir->store, rmdir ? STORE_OP_RMDIR : STORE_OP_UNLINK, NULL, 0, 0);

	if (!ret)
		ret = store_check_name(name);
	if (!ret)
		ret = check_dir(dir);
	if (!ret && store_name_is_dot(name)) {
		/* Linux: rmdir(".") -EINVAL, rmdir("..") -ENOTEMPTY,
		 * unlink of either -EISDIR */
		if (!rmdir)
			ret = -EISDIR;
		else
			ret = name[1] ? -ENOTEMPTY : -EINVAL;
	}
	return ret ? ret : dir->store->ops->unlink(dir, name, rmdir);
}

int store_rename_at(struct store_node *odir, const char *oname, struct store_node *ndir,
		    const char *nname, unsigned flags)
{
	int ret = store_enter(odir->store, STORE_OP_RENAME, NULL, 0, 0);

	if (ret)
		return ret;
	if ((flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) ||
	    (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE))
		return -EINVAL;
	if (odir->store != ndir->store)
		return -EXDEV;
	ret = store_check_name(oname);
	if (!ret)
		ret = store_check_name(nname);
	if (!ret)
		ret = check_dir(odir);
	if (!ret)
		ret = check_dir(ndir);
	if (!ret && (store_name_is_dot(oname) || store_name_is_dot(nname)))
		ret = -EBUSY; /* Linux: renaming "." or ".." (or onto one) */
	return ret ? ret : odir->store->ops->rename(odir, oname, ndir, nname, flags);
}

/* ---- attributes ---- */

int store_node_getattr(struct store_node *n, struct stat *st)
{
	int ret = store_enter(n->store, STORE_OP_GETATTR, NULL, 0, 0);
	return ret ? ret : n->store->ops->getattr(n, st);
}

int store_node_gen(struct store_node *n, uint64_t *gen)
{
	int ret = store_enter(n->store, STORE_OP_GETATTR, NULL, 0, 0);

	*gen = 0;
	if (ret || !n->store->ops->node_gen)
		return ret;
	return n->store->ops->node_gen(n, gen);
}

int store_node_setattr(struct store_node *n, const struct store_setattr *attr)
{
	const unsigned known =
	    STORE_ATTR_MODE | STORE_ATTR_UID | STORE_ATTR_GID | STORE_ATTR_ATIME | STORE_ATTR_MTIME;
	int ret = store_enter(n->store, STORE_OP_SETATTR, NULL, 0, 0);

	if (!ret && (!attr || (attr->valid & ~known)))
		ret = -EINVAL;
	if (!ret && (attr->valid & STORE_ATTR_MODE) && (attr->mode & ~07777u))
		ret = -EINVAL;
	return ret ? ret : n->store->ops->setattr(n, attr);
}

ssize_t store_node_readlink(struct store_node *n, char *buf, size_t size)
{
	int ret = store_enter(n->store, STORE_OP_READLINK, NULL, 0, 0);

	if (!ret && (!buf || !size))
		ret = -EINVAL;
	if (!ret && !S_ISLNK(n->type))
		ret = -EINVAL;
	return ret ? ret : n->store->ops->readlink(n, buf, size);
}

int store_node_readdir(struct store_node *dir, int64_t start, store_filldir_t fill, void *ctx)
{
	int ret = store_enter(dir->store, STORE_OP_READDIR, NULL, start, 0);

	if (!ret && start < 0)
		ret = -EINVAL;
	if (!ret)
		ret = check_dir(dir);
	return ret ? ret : dir->store->ops->readdir(dir, start, fill, ctx);
}

int store_node_open(struct store_node *n, int flags, struct store_inode **out)
{
	struct store *s = n->store;
	int ret = store_enter(s, STORE_OP_OPEN, NULL, 0, 0);

	*out = NULL;
	if (ret)
		return ret;
	flags &= ~(O_CREAT | O_EXCL | O_TRUNC);
	if (flags & ~(O_ACCMODE | O_DIRECT | O_CLOEXEC | O_NOFOLLOW | O_LARGEFILE))
		return -EINVAL;
	if ((flags & O_DIRECT) && !s->dio_supported)
		return -EINVAL;
	if (S_ISDIR(n->type))
		return -EISDIR;
	if (S_ISLNK(n->type))
		return -ELOOP;
	if (!S_ISREG(n->type))
		return -EINVAL;
	ret = s->ops->open(n, flags, out);
	if (!ret)
		(*out)->node = store_node_get(n);
	return ret;
}

/* ---- extended attributes ---- */

static int check_xattr_name(const char *name)
{
	if (!name)
		return -EFAULT;
	size_t n = strnlen(name, XATTR_NAME_MAX + 1);
	if (n == 0 || n > XATTR_NAME_MAX)
		return -ERANGE; /* as Linux for "" and over-long names */
	return 0;
}

ssize_t store_getxattr(struct store_node *n, const char *name, void *buf, size_t size)
{
	int ret = store_enter(n->store, STORE_OP_GETXATTR, NULL, 0, 0);

	if (!ret)
		ret = check_xattr_name(name);
	if (!ret && size && !buf)
		ret = -EFAULT;
	if (ret)
		return ret;
	return n->store->ops->getxattr ? n->store->ops->getxattr(n, name, buf, size) : -EOPNOTSUPP;
}

int store_setxattr(struct store_node *n, const char *name, const void *value, size_t size,
		   int flags)
{
	int ret = store_enter(n->store, STORE_OP_SETXATTR, NULL, 0, 0);

	if (!ret)
		ret = check_xattr_name(name);
	if (!ret && (flags & ~(XATTR_CREATE | XATTR_REPLACE)))
		ret = -EINVAL;
	if (!ret && size > XATTR_SIZE_MAX)
		ret = -E2BIG;
	if (!ret && size && !value)
		ret = -EFAULT;
	if (ret)
		return ret;
	return n->store->ops->setxattr ? n->store->ops->setxattr(n, name, value, size, flags)
				       : -EOPNOTSUPP;
}

ssize_t store_listxattr(struct store_node *n, char *buf, size_t size)
{
	int ret = store_enter(n->store, STORE_OP_LISTXATTR, NULL, 0, 0);

	if (!ret && size && !buf)
		ret = -EFAULT;
	if (ret)
		return ret;
	return n->store->ops->listxattr ? n->store->ops->listxattr(n, buf, size) : 0;
}

int store_removexattr(struct store_node *n, const char *name)
{
	int ret = store_enter(n->store, STORE_OP_REMOVEXATTR, NULL, 0, 0);

	if (!ret)
		ret = check_xattr_name(name);
	if (ret)
		return ret;
	return n->store->ops->removexattr ? n->store->ops->removexattr(n, name) : -EOPNOTSUPP;
}

/* ---- export ---- */

int store_encode_handle(struct store_node *n, struct store_handle *h)
{
	int ret = store_enter(n->store, STORE_OP_HANDLE, NULL, 0, 0);

	if (ret)
		return ret;
	memset(h, 0, sizeof(*h));
	return n->store->ops->encode_handle ? n->store->ops->encode_handle(n, h) : -EOPNOTSUPP;
}

int store_decode_handle(struct store *s, const struct store_handle *h, struct store_node **out)
{
	int ret = store_enter(s, STORE_OP_HANDLE, NULL, 0, 0);

	*out = NULL;
	if (ret)
		return ret;
	if (!h || h->len > STORE_HANDLE_MAX)
		return -EINVAL;
	return s->ops->decode_handle ? s->ops->decode_handle(s, h, out) : -EOPNOTSUPP;
}

/* ---- the rest ---- */

int store_node_sync_dir(struct store_node *dir)
{
	int ret = store_enter(dir->store, STORE_OP_SYNC_DIR, NULL, 0, 0);

	if (!ret)
		ret = check_dir(dir);
	return ret ? ret : dir->store->ops->sync_dir(dir);
}

int store_statfs(struct store *s, struct statvfs *st)
{
	int ret = store_enter(s, STORE_OP_STATFS, NULL, 0, 0);
	return ret ? ret : s->ops->statfs(s, st);
}

/* SPDX-License-Identifier: MIT */
/*
 * namei_at.c - the *at() calls on names: pc_openat, pc_fstatat,
 * pc_mkdirat, pc_mknodat, pc_unlinkat, pc_renameat2, pc_linkat,
 * pc_symlinkat, pc_readlinkat; and where their walks start (a dirfd's node,
 * or the store root). The resolution itself is fs/namei.c's.
 *
 * Every call checks its flags and pointers in Linux's order, takes a
 * reference to the start node (dropping the dirfd's file reference at once:
 * the node keeps the object), and hands the path to the fs layer.
 *
 * Locks: none held here; fd_table_lock (leaf) inside fdget_raw and
 * fd_install; the fs layer's as it documents them.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "api/engine.h"

int at_start(struct pc_engine *e, int dirfd, const char *path, bool empty_ok,
	     struct store_node **out)
{
	struct file *f;
	int err = 0;

	*out = NULL;
	if (!path)
		return -EFAULT;
	if (!*path && !empty_ok)
		return -ENOENT; /* getname: before the dirfd is looked at */
	if (dirfd == PC_AT_ROOT || path[0] == '/')
		return store_root(e->store, out);
	f = fdget_raw(&e->fdt, dirfd);
	if (!f)
		return -EBADF;
	if (*path && !S_ISDIR(f->f_node->type))
		err = -ENOTDIR;
	else
		*out = store_node_get(f->f_node);
	fdput(e, f);
	return err;
}

int at_lookup(struct pc_engine *e, int dirfd, const char *path, bool empty_ok,
	      struct store_node **out)
{
	struct store_node *start;
	int err = at_start(e, dirfd, path, empty_ok, &start);

	*out = NULL;
	if (err)
		return err;
	err = vfs_lookup(start, path, empty_ok ? LOOKUP_EMPTY : 0, out);
	store_node_put(start);
	return err;
}

int install_file(struct pc_engine *e, struct file *f)
{
	int fd = fd_install(&e->fdt, f);

	if (fd < 0)
		fdput(e, f);
	return fd;
}

/* Only @allowed of the AT_* flags. */
static int check_at_flags(int flags, int allowed)
{
	return (flags & ~allowed) ? -EINVAL : 0;
}

int pc_openat(struct pc_engine *e, int dirfd, const char *path, int flags, mode_t mode)
{
	ENGINE_ENTER(e);
	struct store_node *start;
	struct file *f;
	int err;

	if (!e)
		return -EINVAL;
	err = at_start(e, dirfd, path, false, &start);
	if (err)
		return err;
	err = vfs_open(&e->itable, start, path, flags, mode, &f);
	store_node_put(start);
	return err ? err : install_file(e, f);
}

int pc_fstatat(struct pc_engine *e, int dirfd, const char *path, struct stat *st, int flags)
{
	ENGINE_ENTER(e);
	struct store_node *n;
	int err;

	if (!e)
		return -EINVAL;
	err = check_at_flags(flags, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT);
	if (err)
		return err;
	err = at_lookup(e, dirfd, path, flags & AT_EMPTY_PATH, &n);
	if (err)
		return err;
	if (!st)
		err = -EFAULT;
	else
		err = inode_table_stat(&e->itable, n, st);
	store_node_put(n);
	return err;
}

/* mkdirat and mknodat. */
static int do_mknodat(struct pc_engine *e, int dirfd, const char *path, mode_t mode, dev_t dev)
{
	struct store_node *start;
	int err = at_start(e, dirfd, path, false, &start);

	if (err)
		return err;
	err = vfs_mknod(start, path, mode, dev);
	store_node_put(start);
	return err;
}

int pc_mkdirat(struct pc_engine *e, int dirfd, const char *path, mode_t mode)
{
	ENGINE_ENTER(e);
	if (!e)
		return -EINVAL;
	return do_mknodat(e, dirfd, path, S_IFDIR | (mode & 07777), 0);
}

int pc_mknodat(struct pc_engine *e, int dirfd, const char *path, mode_t mode, dev_t dev)
{
	ENGINE_ENTER(e);
	if (!e)
		return -EINVAL;
	switch (mode & S_IFMT) {
	case 0:
		mode |= S_IFREG;
		break;
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
	case S_IFCHR:
	case S_IFBLK:
		break;
	case S_IFDIR:
		return -EPERM;
	default:
		return -EINVAL;
	}
	return do_mknodat(e, dirfd, path, mode & (S_IFMT | 07777), dev);
}

int pc_unlinkat(struct pc_engine *e, int dirfd, const char *path, int flags)
{
	ENGINE_ENTER(e);
	struct store_node *start;
	int err;

	if (!e)
		return -EINVAL;
	err = check_at_flags(flags, AT_REMOVEDIR);
	if (!err)
		err = at_start(e, dirfd, path, false, &start);
	if (err)
		return err;
	err = vfs_unlink(&e->itable, start, path, flags & AT_REMOVEDIR);
	store_node_put(start);
	return err;
}

int pc_renameat2(struct pc_engine *e, int olddirfd, const char *oldpath, int newdirfd,
		 const char *newpath, unsigned flags)
{
	ENGINE_ENTER(e);
	struct store_node *os = NULL, *ns = NULL;
	int err;

	if (!e)
		return -EINVAL;
	if ((flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) ||
	    ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE)))
		return -EINVAL;
	err = at_start(e, olddirfd, oldpath, false, &os);
	if (!err)
		err = at_start(e, newdirfd, newpath, false, &ns);
	if (!err)
		err = vfs_rename(&e->itable, os, oldpath, ns, newpath, flags);
	store_node_put(os);
	store_node_put(ns);
	return err;
}

int pc_linkat(struct pc_engine *e, int olddirfd, const char *oldpath, int newdirfd,
	      const char *newpath, int flags)
{
	ENGINE_ENTER(e);
	struct store_node *n = NULL, *start = NULL;
	int err;

	if (!e)
		return -EINVAL;
	/* AT_SYMLINK_FOLLOW: accepted, a symlink is linked itself (never
	 * followed) */
	err = check_at_flags(flags, AT_EMPTY_PATH | AT_SYMLINK_FOLLOW);
	if (err)
		return err;
	if (!oldpath || !newpath)
		return -EFAULT;
	if (!*oldpath && (flags & AT_EMPTY_PATH) && olddirfd != PC_AT_ROOT) {
		struct file *f = fdget_raw(&e->fdt, olddirfd);

		if (!f)
			return -EBADF;
		/* an O_TMPFILE file opened O_EXCL is never to have a name */
		if ((f->f_flags & O_TMPFILE) == O_TMPFILE && (f->f_flags & O_EXCL))
			err = -ENOENT;
		else
			n = store_node_get(f->f_node);
		fdput(e, f);
	} else {
		err = at_lookup(e, olddirfd, oldpath, flags & AT_EMPTY_PATH, &n);
	}
	if (!err)
		err = at_start(e, newdirfd, newpath, false, &start);
	if (!err)
		err = vfs_link(n, start, newpath);
	store_node_put(start);
	store_node_put(n);
	return err;
}

int pc_symlinkat(struct pc_engine *e, const char *target, int dirfd, const char *path)
{
	ENGINE_ENTER(e);
	struct store_node *start;
	int err;

	if (!e)
		return -EINVAL;
	if (!target)
		return -EFAULT;
	if (!*target)
		return -ENOENT;
	err = at_start(e, dirfd, path, false, &start);
	if (err)
		return err;
	err = vfs_symlink(start, path, target);
	store_node_put(start);
	return err;
}

ssize_t pc_readlinkat(struct pc_engine *e, int dirfd, const char *path, char *buf, size_t size)
{
	ENGINE_ENTER(e);
	struct store_node *n;
	ssize_t ret;
	int err;

	if (!e)
		return -EINVAL;
	if ((ssize_t)size <= 0)
		return -EINVAL;
	/* an empty path reads the symlink @dirfd names (O_PATH) */
	err = at_lookup(e, dirfd, path, true, &n);
	if (err)
		return err;
	if (!S_ISLNK(n->type))
		ret = *path ? -EINVAL : -ENOENT;
	else if (!buf)
		ret = -EFAULT;
	else
		ret = store_node_readlink(n, buf, size);
	store_node_put(n);
	return ret;
}

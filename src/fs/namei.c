/* SPDX-License-Identifier: MIT */
/*
 * namei.c - the engine's name resolution (the kernel's fs/namei.c and
 * fs/open.c on top of the store's node operations): lookups from a
 * directory node, open(2) with every flag it takes, the calls that make and
 * remove names, and the ownership of new objects (inode_init_owner).
 *
 * Paths are walked by store_walk_parent (one lookup per component, ".."
 * never above the root, no symlink followed, PATH_MAX per call and NAME_MAX
 * per component); the last component is looked up or created here, so that
 * the trailing-slash rules and the "." / ".." / root cases give Linux's
 * errnos.
 *
 * Locks: none held across store calls. vfs_open takes i_rwsem exclusive
 * for O_TRUNC (do_truncate, the H1 protocol); iget_store and
 * inode_table_forget take "inode_hash_lock" (leaf) inside.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "fs/namei.h"

TEST_SWITCH(namei_test_no_sgid_inherit);

static bool name_is_dot(const char *name)
{
	return name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]));
}

/* __O_TMPFILE: the bit O_TMPFILE adds to O_DIRECTORY. */
#define O_TMPFILE_BIT (O_TMPFILE & ~O_DIRECTORY)

int vfs_lookup(struct store_node *start, const char *path, unsigned flags, struct store_node **out)
{
	*out = NULL;
	if (!path)
		return -EFAULT;
	if (!*path) {
		if (!(flags & LOOKUP_EMPTY))
			return -ENOENT;
		*out = store_node_get(start);
		return 0;
	}
	return store_walk(start, path, out);
}

int vfs_new_owner(struct store_node *dir, mode_t *mode, struct store_owner *owner)
{
	struct stat st;
	int err;

	owner->uid = geteuid();
	owner->gid = getegid();
	if (namei_test_no_sgid_inherit)
		return 0;
	err = store_node_getattr(dir, &st);
	if (err)
		return err;
	if (st.st_mode & S_ISGID) {
		owner->gid = st.st_gid;
		if (S_ISDIR(*mode))
			*mode |= S_ISGID;
	}
	return 0;
}

void vfs_forget_node(struct inode_table *t, struct store_node *n)
{
	struct stat st;

	/* another name left: its inode stays cached */
	if (store_node_getattr(n, &st) == 0 && st.st_nlink > 0)
		return;
	inode_table_forget(t, n->dev, n->ino);
}

/* The parent of a path's last component. "" is -ENOENT. */
static int walk_parent(struct store_node *start, const char *path, struct store_node **dir,
		       char *last, bool *slash)
{
	*dir = NULL;
	if (!path)
		return -EFAULT;
	if (!*path)
		return -ENOENT;
	return store_walk_parent(start, path, dir, last, slash);
}

/* filename_create for a non-directory whose name ends in '/': -EEXIST if
 * the name exists, else -ENOENT (only mkdir may make "name/"). */
static int slash_on_new_file(struct store_node *dir, const char *last)
{
	struct store_node *n;
	int err = store_lookup(dir, last, &n);

	store_node_put(n);
	return err ? err : -EEXIST;
}

/* ---- open ---- */

int vfs_open_node(struct inode_table *t, struct store_node *n, const char *name, int flags,
		  struct file **out)
{
	int acc = flags & O_ACCMODE, sflags, err;
	struct store_inode *si;
	struct inode *inode;
	struct file *f;

	*out = NULL;
	if (S_ISLNK(n->type))
		return -ELOOP; /* never followed */
	if (S_ISDIR(n->type)) {
		if (acc != O_RDONLY || (flags & (O_TRUNC | O_CREAT)))
			return -EISDIR;
		if (flags & O_DIRECT)
			return -EINVAL; /* no direct I/O on a directory */
		f = alloc_node_file(store_node_get(n), flags, FMODE_READ);
		if (!f) {
			store_node_put(n);
			return -ENOMEM;
		}
		*out = f;
		return 0;
	}
	if (flags & O_DIRECTORY)
		return -ENOTDIR;
	if (!S_ISREG(n->type))
		return -ENXIO; /* fifos, sockets, devices: O_PATH only */
	/* O_TRUNC is done below through the cache; access mode 3 ("no
	 * access", accepted by Linux) needs read and write permission. */
	sflags = (flags & O_DIRECT) | (acc == O_ACCMODE ? O_RDWR : acc);
	err = inode_store_open(t, n, sflags, &si);
	if (err)
		return err;
	err = iget_store(t, si, &inode);
	if (err)
		return err;
	if (name && *name)
		inode_set_name(inode, name);
	if (flags & O_TRUNC) {
		if (inode->i_store->readonly) {
			err = -EACCES;
		} else {
			inode_lock(inode);
			err = do_truncate(inode, 0);
			inode_unlock(inode);
		}
		if (err)
			goto out_iput;
	}
	f = alloc_file(inode, flags);
	if (!f) {
		err = -ENOMEM;
		goto out_iput;
	}
	*out = f;
	return 0;
out_iput:
	/* a fresh inode of a named file: its eviction has nothing to lose */
	iput(inode);
	return err;
}

/* O_PATH: an fd naming the object, of any type. */
static int open_path(struct inode_table *t, struct store_node *start, const char *path, int flags,
		     struct file **out)
{
	struct store_node *n;
	int err = vfs_lookup(start, path, 0, &n);

	if (err)
		return err;
	if ((flags & O_DIRECTORY) && !S_ISDIR(n->type))
		err = -ENOTDIR;
	else
		err = alloc_path_file(t, n, flags, out);
	if (err)
		store_node_put(n);
	return err;
}

/* O_TMPFILE: an unnamed regular file in directory @path. */
static int open_tmpfile(struct inode_table *t, struct store_node *start, const char *path,
			int flags, mode_t mode, struct file **out)
{
	struct store_node *dir, *n;
	struct store_owner owner;
	mode_t m = S_IFREG | (mode & 07777);
	int err = vfs_lookup(start, path, 0, &dir);

	if (err)
		return err;
	if (!S_ISDIR(dir->type))
		err = -ENOTDIR;
	if (!err)
		err = vfs_new_owner(dir, &m, &owner);
	if (!err)
		err = store_tmpfile(dir, m, &owner, &n);
	store_node_put(dir);
	if (err)
		return err;
	err = vfs_open_node(t, n, path, flags & ~(O_TMPFILE | O_CREAT | O_TRUNC), out);
	store_node_put(n);
	if (!err)
		(*out)->f_flags = flags; /* O_TMPFILE (and O_EXCL) for linkat */
	return err;
}

int vfs_open(struct inode_table *t, struct store_node *start, const char *path, int flags,
	     mode_t mode, struct file **out)
{
	int acc = flags & O_ACCMODE, err = 0;
	struct store_node *dir = NULL, *n = NULL;
	char last[NAME_MAX + 1];
	bool slash;

	*out = NULL;
	if (!path)
		return -EFAULT;
	if (flags & O_PATH)
		return *path ? open_path(t, start, path, flags, out) : -ENOENT;
	if (flags & O_TMPFILE_BIT) {
		/* build_open_flags: exactly O_TMPFILE (no O_CREAT), writable */
		if ((flags & (O_TMPFILE | O_CREAT)) != O_TMPFILE || acc == O_RDONLY)
			return -EINVAL;
		return *path ? open_tmpfile(t, start, path, flags, mode, out) : -ENOENT;
	}
	if ((flags & (O_CREAT | O_DIRECTORY)) == (O_CREAT | O_DIRECTORY))
		return -EINVAL;
	err = walk_parent(start, path, &dir, last, &slash);
	if (err)
		return err;
	if (!last[0]) {
		n = dir; /* the root ("/") */
		dir = NULL;
		if (flags & O_CREAT)
			err = -EISDIR;
	} else if (flags & O_CREAT) {
		if (slash || name_is_dot(last)) {
			err = -EISDIR; /* open_last_lookups: only a directory is named so */
			goto out;
		}
		for (int tries = 0; tries < 8; tries++) {
			struct store_owner owner;
			mode_t m = S_IFREG | (mode & 07777);

			err = store_lookup(dir, last, &n);
			if (err == -ENOENT) {
				err = vfs_new_owner(dir, &m, &owner);
				if (!err)
					err = store_create_at(dir, last, m, 0, &owner, &n);
				if (err == -EEXIST && !(flags & O_EXCL))
					continue; /* made meanwhile: open it */
			} else if (!err && (flags & O_EXCL)) {
				err = -EEXIST;
			}
			break;
		}
	} else {
		err = store_lookup(dir, last, &n);
		if (!err && slash && !S_ISDIR(n->type))
			err = -ENOTDIR;
	}
	if (!err)
		err = vfs_open_node(t, n, path, flags, out);
out:
	store_node_put(n);
	store_node_put(dir);
	return err;
}

/* ---- names made ---- */

/* The directory and name for a new object at @path (filename_create): the
 * root or a name ending in '/' (for anything but a directory, @dir_ok false)
 * is -EEXIST when it exists, else -ENOENT. *dir is a reference on success. */
static int walk_new_name(struct store_node *start, const char *path, bool dir_ok,
			 struct store_node **dir, char *last)
{
	bool slash;
	int err = walk_parent(start, path, dir, last, &slash);

	if (err)
		return err;
	if (!last[0])
		err = -EEXIST; /* the root */
	else if (slash && !dir_ok)
		err = name_is_dot(last) ? -EEXIST : slash_on_new_file(*dir, last);
	if (err) {
		store_node_put(*dir);
		*dir = NULL;
	}
	return err;
}

int vfs_mknod(struct store_node *start, const char *path, mode_t mode, dev_t dev)
{
	struct store_node *dir, *n = NULL;
	char last[NAME_MAX + 1];
	struct store_owner owner;
	int err = walk_new_name(start, path, S_ISDIR(mode), &dir, last);

	if (err)
		return err;
	err = vfs_new_owner(dir, &mode, &owner);
	if (!err)
		err = store_create_at(dir, last, mode, dev, &owner, &n);
	store_node_put(n);
	store_node_put(dir);
	return err;
}

int vfs_symlink(struct store_node *start, const char *path, const char *target)
{
	struct store_node *dir, *n = NULL;
	char last[NAME_MAX + 1];
	struct store_owner owner;
	mode_t mode = S_IFLNK | 0777;
	/* the target is copied in before the path is looked at */
	int err = store_check_symlink_target(target);

	if (!err)
		err = walk_new_name(start, path, false, &dir, last);
	if (err)
		return err;
	err = vfs_new_owner(dir, &mode, &owner);
	if (!err)
		err = store_symlink_at(dir, last, target, &owner, &n);
	store_node_put(n);
	store_node_put(dir);
	return err;
}

int vfs_link(struct store_node *n, struct store_node *start, const char *path)
{
	struct store_node *dir;
	char last[NAME_MAX + 1];
	int err = walk_new_name(start, path, false, &dir, last);

	if (err)
		return err;
	err = store_link_at(n, dir, last);
	store_node_put(dir);
	return err;
}

/* ---- names removed ---- */

int vfs_unlink(struct inode_table *t, struct store_node *start, const char *path, bool rmdir)
{
	struct store_node *dir, *victim = NULL;
	char last[NAME_MAX + 1];
	bool slash;
	int err = walk_parent(start, path, &dir, last, &slash);

	if (err)
		return err;
	if (!last[0]) {
		err = rmdir ? -EBUSY : -EISDIR; /* the root */
		goto out;
	}
	if (!rmdir && !name_is_dot(last)) {
		/* the object, to know afterwards whether it lost its last name */
		err = store_lookup(dir, last, &victim);
		if (!err && slash)
			err = S_ISDIR(victim->type) ? -EISDIR : -ENOTDIR;
		if (err == -ENOENT)
			err = 0; /* the unlink says it (or finds one made meanwhile) */
		if (err)
			goto out;
	}
	err = store_unlink_at(dir, last, rmdir);
	if (!err && victim && S_ISREG(victim->type))
		vfs_forget_node(t, victim);
out:
	store_node_put(victim);
	store_node_put(dir);
	return err;
}

int vfs_rename(struct inode_table *t, struct store_node *ostart, const char *oldpath,
	       struct store_node *nstart, const char *newpath, unsigned flags)
{
	struct store_node *odir = NULL, *ndir = NULL, *old = NULL, *victim = NULL;
	char olast[NAME_MAX + 1], nlast[NAME_MAX + 1];
	bool oslash, nslash;
	int err;

	err = walk_parent(ostart, oldpath, &odir, olast, &oslash);
	if (!err)
		err = walk_parent(nstart, newpath, &ndir, nlast, &nslash);
	if (err)
		goto out;
	if (!olast[0] || !nlast[0]) {
		err = -EBUSY; /* the root */
		goto out;
	}
	if ((oslash || nslash) && !name_is_dot(olast) && !name_is_dot(nlast)) {
		/* a trailing slash says "directory": the source must be one
		 * (and, exchanging, the target) */
		err = store_lookup(odir, olast, &old);
		if (!err && !S_ISDIR(old->type))
			err = -ENOTDIR;
		if (!err && (flags & RENAME_EXCHANGE) && nslash) {
			err = store_lookup(ndir, nlast, &victim);
			if (!err && !S_ISDIR(victim->type))
				err = -ENOTDIR;
			store_node_put(victim);
			victim = NULL;
		}
		if (err)
			goto out;
	}
	if (!(flags & RENAME_EXCHANGE) && !name_is_dot(nlast) &&
	    store_lookup(ndir, nlast, &victim) == 0 && !S_ISREG(victim->type)) {
		store_node_put(victim);
		victim = NULL;
	}
	err = store_rename_at(odir, olast, ndir, nlast, flags);
	if (!err && victim)
		vfs_forget_node(t, victim);
out:
	store_node_put(victim);
	store_node_put(old);
	store_node_put(odir);
	store_node_put(ndir);
	return err;
}

/* SPDX-License-Identifier: MIT */
/*
 * attr.c - attributes: pc_truncate (through the cache: do_truncate, the H1
 * protocol, on the file's inode), pc_statfs, pc_fstat (any fd, O_PATH ones
 * too), and the attribute setters on a node: pc_fchmodat, pc_fchownat,
 * pc_utimensat and the fd forms pc_fchmod, pc_fchown, pc_futimens, which
 * work on an object with no name left. Times set on a regular file write
 * its dirty pages back first and forget the engine-side times, so that
 * writeback does not overwrite times set explicitly. The path calls
 * (pc_chmod, ...) wrap the *at() forms in namei.c.
 *
 * Locks: none held across store calls; pc_truncate takes i_rwsem exclusive
 * through pc_ftruncate; the time setters none (filemap_write_and_wait_range),
 * inode_hash_lock (leaf) inside iget_store when they open the node. In
 * cluster mode every setter of a regular file holds its glock EX (no
 * i_rwsem: the glock is the first lock taken) across the write-back and
 * the store's setattr.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/statvfs.h>

#include "api/engine.h"
#include "fs/cluster.h"

int pc_truncate(struct pc_engine *e, const char *path, off_t length)
{
	ENGINE_ENTER(e);
	int fd, err, err2;

	if (!e)
		return -EINVAL;
	if (!path)
		return -EFAULT;
	if (length < 0)
		return -EINVAL;
	fd = pc_open(e, path, O_WRONLY, 0);
	if (fd < 0)
		return fd;
	err = pc_ftruncate(e, fd, length);
	err2 = pc_close(e, fd);
	return err ? err : err2;
}

int pc_statfs(struct pc_engine *e, struct statvfs *st)
{
	ENGINE_ENTER(e);
	if (!e)
		return -EINVAL;
	if (!st)
		return -EFAULT;
	return store_statfs(e->store, st);
}

/* ---- attributes of a node (fchmodat, fchownat, utimensat, and the fd
 * forms, which work on a file with no name left too) ---- */

static bool valid_nsec(const struct timespec *t)
{
	return t->tv_nsec == UTIME_NOW || t->tv_nsec == UTIME_OMIT ||
	       (t->tv_nsec >= 0 && t->tv_nsec < 1000000000);
}

int attr_glock_get(struct pc_engine *e, struct store_node *n, struct inode *inode, bool want_inode,
		   struct attr_glock *l)
{
	bool cluster = e->itable.cluster && !READ_ONCE(cluster_test_setattr_no_glock);
	struct store_inode *si;
	int err;

	*l = (struct attr_glock){.inode = inode};
	if (!S_ISREG(n->type) || (!cluster && !want_inode))
		return 0;
	if (!inode && inode_store_open(&e->itable, n, O_RDONLY, &si) == 0 &&
	    iget_store(&e->itable, si, &l->inode) == 0)
		l->own = true;
	if (!l->inode || !cluster || !l->inode->i_gl)
		return 0;
	gholder_init(l->inode->i_gl, LM_ST_EXCLUSIVE, 0, &l->gh);
	err = glock_nq(&l->gh);
	l->held = !err;
	return err;
}

void attr_glock_put(struct pc_engine *e, struct attr_glock *l)
{
	if (l->held)
		glock_dq(&l->gh);
	l->held = false;
	if (l->own)
		iput_engine(e, l->inode);
	l->own = false;
}

/*
 * Sets @a on node @n. Times set on a regular file: its dirty pages are
 * written back first (writeback would move the store's mtime afterwards)
 * and the engine-side times forgotten. @inode: the file's inode when the
 * caller has one (an fd), else the node is opened for it. Cluster mode:
 * any attribute of a regular file changes under EX (gfs2_setattr): a node
 * caching the file writes back and drops its cache and its engine-side
 * times first, and takes the attributes from the store at its next grant
 * (go_instantiate).
 */
static int setattr_node(struct pc_engine *e, struct store_node *n, struct inode *inode,
			const struct store_setattr *a)
{
	struct attr_glock l;
	int err;

	err = attr_glock_get(e, n, inode, a->valid & STORE_ATTR_MTIME, &l);
	if (err)
		goto out;
	if (l.inode && (a->valid & STORE_ATTR_MTIME)) {
		err = filemap_write_and_wait_range(&l.inode->i_data, 0, INT64_MAX);
		if (err)
			goto out;
	}
	err = store_node_setattr(n, a);
	/* (as before cluster mode: the caller's inode, or one opened to set
	 * the times; an inode opened only for the glock keeps its times) */
	if (!err && l.inode && (inode || (a->valid & STORE_ATTR_MTIME)))
		inode_clear_times(l.inode);
out:
	attr_glock_put(e, &l);
	return err;
}

/* The node of (@dirfd, @path) per @flags (AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW). */
static int attr_lookup(struct pc_engine *e, int dirfd, const char *path, int flags,
		       struct store_node **n)
{
	if (flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
		return -EINVAL;
	return at_lookup(e, dirfd, path, flags & AT_EMPTY_PATH, n);
}

static void chmod_attr(struct store_setattr *a, mode_t mode)
{
	*a = (struct store_setattr){.valid = STORE_ATTR_MODE, .mode = mode & 07777};
}

static void chown_attr(struct store_setattr *a, uid_t uid, gid_t gid)
{
	*a = (struct store_setattr){.uid = uid, .gid = gid};
	if (uid != (uid_t)-1)
		a->valid |= STORE_ATTR_UID;
	if (gid != (gid_t)-1)
		a->valid |= STORE_ATTR_GID;
}

static int utimens_attr(struct store_setattr *a, const struct timespec ts[2])
{
	if (ts && (!valid_nsec(&ts[0]) || !valid_nsec(&ts[1])))
		return -EINVAL;
	*a = (struct store_setattr){0};
	a->atime.tv_nsec = a->mtime.tv_nsec = UTIME_NOW;
	if (ts) {
		a->atime = ts[0];
		a->mtime = ts[1];
	}
	if (a->atime.tv_nsec != UTIME_OMIT)
		a->valid |= STORE_ATTR_ATIME;
	if (a->mtime.tv_nsec != UTIME_OMIT)
		a->valid |= STORE_ATTR_MTIME;
	return 0;
}

static int setattr_at(struct pc_engine *e, int dirfd, const char *path, int flags,
		      const struct store_setattr *a)
{
	struct store_node *n;
	int err = attr_lookup(e, dirfd, path, flags, &n);

	if (err)
		return err;
	err = setattr_node(e, n, NULL, a);
	store_node_put(n);
	return err;
}

static int setattr_fd(struct pc_engine *e, int fd, const struct store_setattr *a)
{
	struct file *f;
	int err;

	f = fdget_raw(&e->fdt, fd);
	if (!f)
		return -EBADF;
	err = setattr_node(e, f->f_node, f->f_inode, a);
	fdput(e, f);
	return err;
}

int pc_fchmodat(struct pc_engine *e, int dirfd, const char *path, mode_t mode, int flags)
{
	ENGINE_ENTER(e);
	struct store_setattr a;

	if (!e)
		return -EINVAL;
	chmod_attr(&a, mode);
	return setattr_at(e, dirfd, path, flags, &a);
}

int pc_fchownat(struct pc_engine *e, int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
	ENGINE_ENTER(e);
	struct store_setattr a;

	if (!e)
		return -EINVAL;
	chown_attr(&a, uid, gid);
	return setattr_at(e, dirfd, path, flags, &a);
}

int pc_utimensat(struct pc_engine *e, int dirfd, const char *path, const struct timespec ts[2],
		 int flags)
{
	ENGINE_ENTER(e);
	struct store_setattr a;
	int err;

	if (!e)
		return -EINVAL;
	err = utimens_attr(&a, ts);
	return err ? err : setattr_at(e, dirfd, path, flags, &a);
}

int pc_fchmod(struct pc_engine *e, int fd, mode_t mode)
{
	ENGINE_ENTER(e);
	struct store_setattr a;

	if (!e)
		return -EINVAL;
	chmod_attr(&a, mode);
	return setattr_fd(e, fd, &a);
}

int pc_fchown(struct pc_engine *e, int fd, uid_t uid, gid_t gid)
{
	ENGINE_ENTER(e);
	struct store_setattr a;

	if (!e)
		return -EINVAL;
	chown_attr(&a, uid, gid);
	return setattr_fd(e, fd, &a);
}

int pc_futimens(struct pc_engine *e, int fd, const struct timespec ts[2])
{
	ENGINE_ENTER(e);
	struct store_setattr a;
	int err;

	if (!e)
		return -EINVAL;
	err = utimens_attr(&a, ts);
	return err ? err : setattr_fd(e, fd, &a);
}

/* fstat(2): any fd, O_PATH included; the object whether or not it still
 * has a name (nlink 0 then). */
int pc_fstat(struct pc_engine *e, int fd, struct stat *st)
{
	ENGINE_ENTER(e);
	struct file *f;
	int ret;

	if (!e)
		return -EINVAL;
	f = fdget_raw(&e->fdt, fd);
	if (!f)
		return -EBADF;
	if (!st) {
		ret = -EFAULT;
	} else if (f->f_inode) {
		ret = inode_getattr(f->f_inode, st);
	} else {
		ret = inode_table_stat(&e->itable, f->f_node, st);
	}
	fdput(e, f);
	return ret;
}

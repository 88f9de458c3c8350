/* SPDX-License-Identifier: MIT */
/*
 * attr.c - the path calls a file system front end needs beyond namei.c:
 * pc_link, pc_symlink, pc_readlink, pc_chmod, pc_chown, pc_utimens,
 * pc_truncate and pc_statfs. The store does the namespace work; the page
 * cache is involved where data or its timestamps are: pc_truncate goes
 * through do_truncate (H1 protocol) on the file's inode, and pc_utimens
 * writes the file's dirty pages back first and forgets the engine-side
 * times, so that writeback does not overwrite times set explicitly.
 *
 * Locks: none held across store calls; pc_truncate takes i_rwsem exclusive
 * through pc_ftruncate, pc_utimens none (filemap_write_and_wait_range).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/statvfs.h>

#include "api/engine.h"

int pc_link(struct pc_engine *e, const char *from, const char *to)
{
	ENGINE_ENTER(e);
	if (!e)
		return -EINVAL;
	if (!from || !to)
		return -EFAULT;
	return store_link(e->store, from, to);
}

int pc_symlink(struct pc_engine *e, const char *target, const char *path)
{
	ENGINE_ENTER(e);
	if (!e)
		return -EINVAL;
	if (!target || !path)
		return -EFAULT;
	return store_symlink(e->store, target, path);
}

ssize_t pc_readlink(struct pc_engine *e, const char *path, char *buf, size_t size)
{
	ENGINE_ENTER(e);
	if (!e)
		return -EINVAL;
	if (!path || (!buf && size))
		return -EFAULT;
	return store_readlink(e->store, path, buf, size);
}

int pc_chmod(struct pc_engine *e, const char *path, mode_t mode)
{
	ENGINE_ENTER(e);
	struct store_setattr a = {.valid = STORE_ATTR_MODE, .mode = mode & 07777};

	if (!e)
		return -EINVAL;
	if (!path)
		return -EFAULT;
	return store_setattr(e->store, path, &a);
}

int pc_chown(struct pc_engine *e, const char *path, uid_t uid, gid_t gid)
{
	ENGINE_ENTER(e);
	struct store_setattr a = {.uid = uid, .gid = gid};

	if (!e)
		return -EINVAL;
	if (!path)
		return -EFAULT;
	if (uid != (uid_t)-1)
		a.valid |= STORE_ATTR_UID;
	if (gid != (gid_t)-1)
		a.valid |= STORE_ATTR_GID;
	return store_setattr(e->store, path, &a);
}

static bool valid_nsec(const struct timespec *t)
{
	return t->tv_nsec == UTIME_NOW || t->tv_nsec == UTIME_OMIT ||
	       (t->tv_nsec >= 0 && t->tv_nsec < 1000000000);
}

int pc_utimens(struct pc_engine *e, const char *path, const struct timespec ts[2])
{
	ENGINE_ENTER(e);
	struct store_setattr a = {0};
	struct file *f = NULL;
	struct stat st;
	int err, fd = -1;

	if (!e)
		return -EINVAL;
	if (!path)
		return -EFAULT;
	if (ts && (!valid_nsec(&ts[0]) || !valid_nsec(&ts[1])))
		return -EINVAL;
	a.atime.tv_nsec = a.mtime.tv_nsec = UTIME_NOW;
	if (ts) {
		a.atime = ts[0];
		a.mtime = ts[1];
	}
	if (a.atime.tv_nsec != UTIME_OMIT)
		a.valid |= STORE_ATTR_ATIME;
	if (a.mtime.tv_nsec != UTIME_OMIT)
		a.valid |= STORE_ATTR_MTIME;
	err = store_getattr(e->store, path, &st);
	if (err)
		return err;
	if (S_ISREG(st.st_mode) && (a.valid & STORE_ATTR_MTIME)) {
		/* dirty pages written back later would move the store's mtime */
		fd = pc_open(e, path, O_RDONLY, 0);
		if (fd >= 0)
			f = fdget(&e->fdt, fd);
		if (f) {
			err = filemap_write_and_wait_range(f->f_mapping, 0, INT64_MAX);
			if (err)
				goto out;
		}
	}
	err = store_setattr(e->store, path, &a);
	if (!err && f)
		inode_clear_times(f->f_inode);
out:
	if (f)
		fdput(e, f);
	if (fd >= 0)
		pc_close(e, fd);
	return err;
}

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

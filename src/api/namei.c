/* SPDX-License-Identifier: MIT */
/*
 * namei.c - the calls that take a path from the store root: pc_open (and
 * pc_close), pc_stat, pc_unlink, pc_rename, pc_mkdir, pc_rmdir. Each is the
 * *at() call of namei_at.c with PC_AT_ROOT (one code path), after the check
 * that keeps their documented contract: a path is relative to the store
 * root, so an absolute one or a ".." leaving the root is -EINVAL (the *at()
 * calls start over at the root instead, as a chroot does).
 *
 * Locks: none (see namei_at.c and fs/namei.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "api/engine.h"

int root_path_check(const char *path)
{
	int depth = 0;

	if (!path)
		return -EFAULT;
	if (path[0] == '/')
		return -EINVAL;
	for (const char *p = path; *p;) {
		const char *e = strchrnul(p, '/');
		size_t len = (size_t)(e - p);

		if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (depth-- == 0)
				return -EINVAL; /* would leave the root */
		} else if (len && !(len == 1 && p[0] == '.')) {
			depth++;
		}
		p = *e ? e + 1 : e;
	}
	return 0;
}

int pc_open(struct pc_engine *e, const char *path, int flags, mode_t mode)
{
	ENGINE_ENTER(e);
	int err = root_path_check(path);

	if (!e)
		return -EINVAL;
	return err ? err : pc_openat(e, PC_AT_ROOT, path, flags, mode);
}

int pc_close(struct pc_engine *e, int fd)
{
	ENGINE_ENTER(e);
	struct file *f;

	if (!e)
		return -EINVAL;
	f = fd_remove(&e->fdt, fd);
	if (!f)
		return -EBADF;
	/* The last close leaves the inode and its pages cached (dirty pages
	 * are written back in the background: errors reach the next fsync of
	 * the file, or pc_engine_close). Not 0 only when the file had no name
	 * left and its eviction failed, or a prune's writeback failed. */
	return fput(f);
}

/* "" names the root for the calls that looked at an object by path (the
 * store's old contract), never for those that make or remove names. */
#define ROOT_OK(path) (path && !*path ? AT_EMPTY_PATH : 0)

int pc_stat(struct pc_engine *e, const char *path, struct stat *st)
{
	ENGINE_ENTER(e);
	int err = root_path_check(path);

	if (!e)
		return -EINVAL;
	if (!err && !st)
		err = -EFAULT;
	return err ? err : pc_fstatat(e, PC_AT_ROOT, path, st, ROOT_OK(path));
}

int pc_unlink(struct pc_engine *e, const char *path)
{
	ENGINE_ENTER(e);
	int err = root_path_check(path);

	if (!e)
		return -EINVAL;
	return err ? err : pc_unlinkat(e, PC_AT_ROOT, path, 0);
}

int pc_rename(struct pc_engine *e, const char *from, const char *to, unsigned flags)
{
	ENGINE_ENTER(e);
	int err = root_path_check(from);

	if (!e)
		return -EINVAL;
	if (!err)
		err = root_path_check(to);
	return err ? err : pc_renameat2(e, PC_AT_ROOT, from, PC_AT_ROOT, to, flags);
}

int pc_mkdir(struct pc_engine *e, const char *path, mode_t mode)
{
	ENGINE_ENTER(e);
	int err = root_path_check(path);

	if (!e)
		return -EINVAL;
	return err ? err : pc_mkdirat(e, PC_AT_ROOT, path, mode);
}

int pc_rmdir(struct pc_engine *e, const char *path)
{
	ENGINE_ENTER(e);
	int err = root_path_check(path);

	if (!e)
		return -EINVAL;
	return err ? err : pc_unlinkat(e, PC_AT_ROOT, path, AT_REMOVEDIR);
}

/* ---- src/api/attr.c's path calls ---- */

int pc_link(struct pc_engine *e, const char *from, const char *to)
{
	ENGINE_ENTER(e);
	int err = root_path_check(from);

	if (!e)
		return -EINVAL;
	if (!err)
		err = root_path_check(to);
	return err ? err : pc_linkat(e, PC_AT_ROOT, from, PC_AT_ROOT, to, 0);
}

int pc_symlink(struct pc_engine *e, const char *target, const char *path)
{
	ENGINE_ENTER(e);
	int err = root_path_check(path);

	if (!e)
		return -EINVAL;
	if (!target)
		return -EFAULT;
	return err ? err : pc_symlinkat(e, target, PC_AT_ROOT, path);
}

ssize_t pc_readlink(struct pc_engine *e, const char *path, char *buf, size_t size)
{
	ENGINE_ENTER(e);
	int err = root_path_check(path);

	if (!e)
		return -EINVAL;
	if (!err && !buf && size)
		err = -EFAULT;
	return err ? err : pc_readlinkat(e, PC_AT_ROOT, path, buf, size);
}

int pc_chmod(struct pc_engine *e, const char *path, mode_t mode)
{
	ENGINE_ENTER(e);
	int err = root_path_check(path);

	if (!e)
		return -EINVAL;
	return err ? err : pc_fchmodat(e, PC_AT_ROOT, path, mode, ROOT_OK(path));
}

int pc_chown(struct pc_engine *e, const char *path, uid_t uid, gid_t gid)
{
	ENGINE_ENTER(e);
	int err = root_path_check(path);

	if (!e)
		return -EINVAL;
	return err ? err : pc_fchownat(e, PC_AT_ROOT, path, uid, gid, ROOT_OK(path));
}

int pc_utimens(struct pc_engine *e, const char *path, const struct timespec ts[2])
{
	ENGINE_ENTER(e);
	int err = root_path_check(path);

	if (!e)
		return -EINVAL;
	return err ? err : pc_utimensat(e, PC_AT_ROOT, path, ts, ROOT_OK(path));
}

/* SPDX-License-Identifier: MIT */
/*
 * dir_xattr.c - extended attributes of the dir store: the host's own, by
 * the path calls on "/proc/self/fd/N" of the node's O_PATH fd (the f*xattr
 * calls refuse O_PATH fds). Following that magic link lands on the object
 * itself and goes no further, so a symlink's own attributes are reached
 * (where the host allows them: user.* on a symlink is -EPERM there), with
 * no fchdir and no parent fd: safe in a multi-threaded engine. The host's
 * rules apply throughout: its namespaces and limits, its ACL handling of
 * system.posix_acl_*.
 *
 * Locking: none.
 */
#include <errno.h>
#include <sys/xattr.h>

#include "store/dir/dir_internal.h"

/* ENOTSUP is EOPNOTSUPP on Linux: the host's errno goes through as is. */
ssize_t dir_getxattr(struct store_node *n, const char *name, void *buf, size_t size)
{
	char proc[DIR_PROC_LEN];
	ssize_t r = getxattr(dir_proc(proc, DN(n)->fd), name, buf, size);
	return r < 0 ? -errno : r;
}

int dir_setxattr(struct store_node *n, const char *name, const void *value, size_t size, int flags)
{
	char proc[DIR_PROC_LEN];
	return SYSRET(setxattr(dir_proc(proc, DN(n)->fd), name, value, size, flags));
}

ssize_t dir_listxattr(struct store_node *n, char *buf, size_t size)
{
	char proc[DIR_PROC_LEN];
	ssize_t r = listxattr(dir_proc(proc, DN(n)->fd), buf, size);
	return r < 0 ? -errno : r;
}

int dir_removexattr(struct store_node *n, const char *name)
{
	char proc[DIR_PROC_LEN];
	return SYSRET(removexattr(dir_proc(proc, DN(n)->fd), name));
}

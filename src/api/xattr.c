/* SPDX-License-Identifier: MIT */
/*
 * xattr.c - extended attributes (xattr(7)): pc_getxattrat, pc_setxattrat,
 * pc_listxattrat, pc_removexattrat. The checks are the VFS's (fs/xattr.c:
 * the name's length, the value's size, the namespace, "user." only on
 * regular files and directories); the store keeps names and values as
 * given. No permission checks (the caller's, as for chmod): trusted. and
 * security. attributes are not restricted to a privileged caller here.
 *
 * Locks: none but, in cluster mode, the glock of a regular file (EX)
 * around a change (attr_glock_get).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/xattr.h>

#include "api/engine.h"

#ifndef XATTR_NAME_MAX
#define XATTR_NAME_MAX 255
#endif
#ifndef XATTR_SIZE_MAX
#define XATTR_SIZE_MAX 65536
#endif
#ifndef XATTR_LIST_MAX
#define XATTR_LIST_MAX 65536
#endif

static bool has_prefix(const char *name, const char *prefix)
{
	return !strncmp(name, prefix, strlen(prefix));
}

/* strncpy_from_user of the name: -ERANGE for "" and over-long ones. */
static int check_name(const char *name)
{
	size_t n;

	if (!name)
		return -EFAULT;
	n = strnlen(name, XATTR_NAME_MAX + 1);
	return n == 0 || n > XATTR_NAME_MAX ? -ERANGE : 0;
}

/* xattr_permission without the access checks: the namespaces served, and
 * "user." only on regular files and directories (others: -EPERM to set,
 * -ENODATA to get). */
static int xattr_permission(struct store_node *n, const char *name, bool write)
{
	if (has_prefix(name, "user.")) {
		if (!S_ISREG(n->type) && !S_ISDIR(n->type))
			return write ? -EPERM : -ENODATA;
		return 0;
	}
	if (has_prefix(name, "trusted.") || has_prefix(name, "security."))
		return 0;
	if (!strcmp(name, "system.posix_acl_access") || !strcmp(name, "system.posix_acl_default"))
		return 0;
	return -EOPNOTSUPP;
}

/* The node the call is about; with @name (NULL for list) also its checks:
 * the name, then whether the namespace allows reading (@write false) or
 * changing it on this node. */
static int xattr_lookup(struct pc_engine *e, int dirfd, const char *path, int flags,
			const char *name, bool write, struct store_node **n)
{
	int ret;

	*n = NULL;
	if (flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
		return -EINVAL;
	ret = at_lookup(e, dirfd, path, flags & AT_EMPTY_PATH, n);
	if (!ret && name) {
		ret = check_name(name);
		if (!ret)
			ret = xattr_permission(*n, name, write);
		if (ret) {
			store_node_put(*n);
			*n = NULL;
		}
	}
	return ret;
}

/* A change (@set_flags -1: removal). Cluster mode: under EX of a regular
 * file's glock, as gfs2's xattr handlers take it: the change moves the
 * ctime, which other nodes take from the store at their next grant. */
static int xattr_set(struct pc_engine *e, struct store_node *n, const char *name, const void *value,
		     size_t size, int set_flags)
{
	struct attr_glock l;
	int ret = attr_glock_get(e, n, NULL, false, &l);

	if (!ret)
		ret = set_flags < 0 ? store_removexattr(n, name)
				    : store_setxattr(n, name, value, size, set_flags);
	attr_glock_put(e, &l);
	return ret;
}

ssize_t pc_getxattrat(struct pc_engine *e, int dirfd, const char *path, const char *name,
		      void *value, size_t size, int flags)
{
	ENGINE_ENTER(e);
	struct store_node *n;
	ssize_t ret;

	if (!e)
		return -EINVAL;
	ret = xattr_lookup(e, dirfd, path, flags, name, false, &n);
	if (ret)
		return ret;
	if (size > XATTR_SIZE_MAX)
		size = XATTR_SIZE_MAX;
	ret = store_getxattr(n, name, value, size);
	store_node_put(n);
	return ret;
}

int pc_setxattrat(struct pc_engine *e, int dirfd, const char *path, const char *name,
		  const void *value, size_t size, int set_flags, int flags)
{
	ENGINE_ENTER(e);
	struct store_node *n;
	int ret;

	if (!e)
		return -EINVAL;
	if (set_flags & ~(XATTR_CREATE | XATTR_REPLACE))
		return -EINVAL;
	ret = xattr_lookup(e, dirfd, path, flags, name, true, &n);
	if (ret)
		return ret;
	if (size > XATTR_SIZE_MAX)
		ret = -E2BIG;
	else if (size && !value)
		ret = -EFAULT;
	else
		ret = xattr_set(e, n, name, value, size, set_flags);
	store_node_put(n);
	return ret;
}

ssize_t pc_listxattrat(struct pc_engine *e, int dirfd, const char *path, char *list, size_t size,
		       int flags)
{
	ENGINE_ENTER(e);
	struct store_node *n;
	ssize_t ret;

	if (!e)
		return -EINVAL;
	ret = xattr_lookup(e, dirfd, path, flags, NULL, false, &n);
	if (ret)
		return ret;
	if (size > XATTR_LIST_MAX)
		size = XATTR_LIST_MAX;
	ret = store_listxattr(n, list, size);
	store_node_put(n);
	return ret;
}

int pc_removexattrat(struct pc_engine *e, int dirfd, const char *path, const char *name, int flags)
{
	ENGINE_ENTER(e);
	struct store_node *n;
	int ret;

	if (!e)
		return -EINVAL;
	ret = xattr_lookup(e, dirfd, path, flags, name, true, &n);
	if (ret)
		return ret;
	ret = xattr_set(e, n, name, NULL, 0, -1);
	store_node_put(n);
	return ret;
}

/* SPDX-License-Identifier: MIT */
/*
 * fuse_xattr.c - the extended-attribute requests of `pagecache mount`:
 * get/set/list/removexattr on the node's O_PATH engine fd (the pc_*xattrat
 * calls with AT_EMPTY_PATH: symlinks, special files, unlinked files and
 * removed directories included). Setting the access ACL with POSIX ACLs on
 * also sets the mode from it (fuse_acl.c); the stats file has none.
 *
 * Locks: none of ours across engine calls or replies (docs/locking.md FUSE).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuse_nodes.h"
#include "fuse_server.h"

/* A name that is only a namespace ("user.") is -EINVAL, as the VFS answers
 * for file systems whose handlers have prefixes (FUSE's has none). */
static bool bare_prefix(const char *name)
{
	static const char *const ns[] = {"user.", "trusted.", "security.", "system."};

	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		if (!strcmp(name, ns[i]))
			return true;
	return false;
}

/* Removing a POSIX ACL that is not there is no error (set_posix_acl with
 * none: a setxattr of an empty value, or removexattr). */
static bool is_acl(const char *name)
{
	return !strcmp(name, "system.posix_acl_access") ||
	       !strcmp(name, "system.posix_acl_default");
}

/* Setting "system.posix_acl_access" (posix_acl_update_mode): the mode's
 * permission bits follow the ACL; an ACL the mode says all of is not kept;
 * S_ISGID goes when the caller is neither in the file's group nor root. */
static int set_access_acl(fuse_req_t req, struct node *n, const char *name, const char *value,
			  size_t size, int flags)
{
	int fd = node_fd(n);
	struct stat st;
	bool equiv;
	int ret = pc_fstatat(pcfs.e, fd, "", &st, AT_EMPTY_PATH);
	mode_t mode;

	if (ret)
		return ret;
	mode = st.st_mode & 07777;
	ret = acl_mode_of(value, size, &mode, &equiv);
	if (ret)
		return ret;
	if (fuse_req_ctx(req)->uid != 0 && !caller_in_group(req, st.st_gid))
		mode &= ~(mode_t)S_ISGID;
	if (equiv) {
		ret = pc_removexattrat(pcfs.e, fd, "", name, AT_EMPTY_PATH);
		if (ret == -ENODATA)
			ret = 0;
	} else {
		ret = pc_setxattrat(pcfs.e, fd, "", name, value, size, flags, AT_EMPTY_PATH);
	}
	if (!ret && mode != (st.st_mode & 07777))
		ret = pc_fchmodat(pcfs.e, fd, "", mode, AT_EMPTY_PATH);
	return ret;
}

void pcfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
		   int flags)
{
	struct node *n;
	int ret;

	count_req();
	if (bare_prefix(name)) {
		reply_err(req, -EINVAL);
		return;
	}
	if (fuse_test_unpin_hook && !strcmp(name, "user.pagecache_test.unpin")) {
		reply_err(req, fuse_test_unpin(value, size));
		return;
	}
	n = req_node(req, ino);
	if (!n)
		return;
	if (pcfs.posix_acl && is_acl(name) && !size) {
		ret = pc_removexattrat(pcfs.e, node_fd(n), "", name, AT_EMPTY_PATH);
		if (ret == -ENODATA)
			ret = 0;
	} else if (pcfs.posix_acl && !strcmp(name, "system.posix_acl_access"))
		ret = set_access_acl(req, n, name, value, size, flags);
	else
		ret =
		    pc_setxattrat(pcfs.e, node_fd(n), "", name, value, size, flags, AT_EMPTY_PATH);
	node_put(n);
	reply_err(req, ret);
}

/* The list of @n's xattr names as the caller may see it (*@out, free()):
 * "trusted." ones only for root (CAP_SYS_ADMIN, which the server sees as
 * uid 0), as Linux file systems list them. Its length or -errno. */
static ssize_t list_names(fuse_req_t req, struct node *n, char **out)
{
	ssize_t len, got;
	char *buf;

	for (;;) {
		len = pc_listxattrat(pcfs.e, node_fd(n), "", NULL, 0, AT_EMPTY_PATH);
		if (len < 0)
			return len;
		buf = malloc(len ? (size_t)len : 1);
		if (!buf)
			return -ENOMEM;
		got = pc_listxattrat(pcfs.e, node_fd(n), "", buf, (size_t)len, AT_EMPTY_PATH);
		if (got >= 0)
			break;
		free(buf);
		if (got != -ERANGE) /* else it grew meanwhile */
			return got;
	}
	if (fuse_req_ctx(req)->uid != 0) {
		ssize_t w = 0, l;
		for (ssize_t r = 0; r < got; r += l) {
			l = (ssize_t)strlen(buf + r) + 1;
			if (!strncmp(buf + r, "trusted.", 8))
				continue;
			memmove(buf + w, buf + r, (size_t)l);
			w += l;
		}
		got = w;
	}
	*out = buf;
	return got;
}

/* get (@list false) or list: with @size 0 the size needed. */
static void get_or_list(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size, bool list)
{
	struct node *n;
	char *buf = NULL;
	ssize_t len;

	count_req();
	if (ino == PCFS_STATS_NODEID) {
		if (list)
			fuse_reply_xattr(req, 0);
		else
			reply_err(req, -ENODATA);
		return;
	}
	if (!list && bare_prefix(name)) {
		reply_err(req, -EINVAL);
		return;
	}
	n = req_node(req, ino);
	if (!n)
		return;
	if (list) {
		len = list_names(req, n, &buf);
		if (len > (ssize_t)size && size)
			len = -ERANGE;
	} else if (size && !(buf = malloc(size))) {
		len = -ENOMEM;
	} else {
		len = pc_getxattrat(pcfs.e, node_fd(n), "", name, buf, size, AT_EMPTY_PATH);
	}
	node_put(n);
	if (len < 0)
		reply_err(req, (int)len);
	else if (!size)
		fuse_reply_xattr(req, (size_t)len);
	else
		fuse_reply_buf(req, buf, (size_t)len);
	free(buf);
}

void pcfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	get_or_list(req, ino, name, size, false);
}

void pcfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	get_or_list(req, ino, NULL, size, true);
}

void pcfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct node *n;
	int ret;

	count_req();
	if (bare_prefix(name)) {
		reply_err(req, -EINVAL);
		return;
	}
	n = req_node(req, ino);
	if (!n)
		return;
	ret = pc_removexattrat(pcfs.e, node_fd(n), "", name, AT_EMPTY_PATH);
	if (ret == -ENODATA && pcfs.posix_acl && is_acl(name))
		ret = 0;
	node_put(n);
	reply_err(req, ret);
}

/* SPDX-License-Identifier: MIT */
/*
 * fuse_attr.c - the attribute requests of `pagecache mount`: getattr,
 * setattr (chown with the S_ISUID/S_ISGID rule, chmod with the POSIX ACL
 * kept in step, truncate, times) and readlink, each on the node's O_PATH
 * engine fd (the AT_EMPTY_PATH calls: an unlinked file or removed
 * directory too) or, for getattr and truncate, the open file's fd.
 *
 * Locks: none of ours across engine calls or replies (docs/locking.md FUSE).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>

#include "fuse_nodes.h"
#include "fuse_server.h"

void stats_attr(struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = PCFS_STATS_NODEID;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_uid = pcfs.owner_uid;
	st->st_blksize = 4096;
}

/* Attributes of @n (through the open file @fi if any: the same object).
 * With export ids st_ino is the node id (the root's is FUSE_ROOT_ID's
 * stand-in). */
static int node_stat(struct node *n, struct fuse_file_info *fi, struct stat *st)
{
	int ret = fi && fi->fh ? pc_fstat(pcfs.e, ((struct fh *)(uintptr_t)fi->fh)->fd, st)
			       : pc_fstatat(pcfs.e, node_fd(n), "", st, AT_EMPTY_PATH);
	if (!ret && pcfs.export_ids)
		st->st_ino = node_id(n);
	return ret;
}

void pcfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	struct node *n;
	int ret;

	count_req();
	if (ino == PCFS_STATS_NODEID) {
		stats_attr(&st);
		fuse_reply_attr(req, &st, 0);
		return;
	}
	n = req_node(req, ino);
	if (!n)
		return;
	ret = node_stat(n, fi, &st);
	node_put(n);
	if (ret)
		reply_err(req, ret);
	else
		fuse_reply_attr(req, &st, 0);
}

/* truncate(2) of @n: through the open file @h if it is open for writing,
 * else through a new one (the kernel checked the permission). */
static int node_truncate(struct node *n, struct fh *h, off_t size)
{
	int ret = h ? pc_ftruncate(pcfs.e, h->fd, size) : -EBADF;

	if (ret == -EBADF || ret == -EINVAL) { /* no fh, or not open for writing */
		int fd = node_open(n, O_WRONLY);
		if (fd < 0)
			return fd;
		ret = pc_ftruncate(pcfs.e, fd, size);
		pc_close(pcfs.e, fd);
	}
	return ret;
}

static int node_chmod(struct node *n, mode_t mode)
{
	int ret = pc_fchmodat(pcfs.e, node_fd(n), "", mode, AT_EMPTY_PATH);

	if (!ret && pcfs.posix_acl && node_type(n) != S_IFLNK)
		ret = acl_chmod(node_fd(n), mode);
	return ret;
}

void pcfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		  struct fuse_file_info *fi)
{
	struct fh *h = fi && fi->fh ? (struct fh *)(uintptr_t)fi->fh : NULL;
	struct node *n;
	struct stat st;
	int ret = 0, fd;

	count_req();
	n = req_node(req, ino);
	if (!n)
		return;
	fd = node_fd(n);
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		mode_t kill = 0;
		if (!(to_set & FUSE_SET_ATTR_MODE) &&
		    !pc_fstatat(pcfs.e, fd, "", &st, AT_EMPTY_PATH))
			kill = privs_to_kill(req, &st, true);
		ret = pc_fchownat(
		    pcfs.e, fd, "", (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1,
		    (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1, AT_EMPTY_PATH);
		if (!ret && kill)
			ret =
			    pc_fchmodat(pcfs.e, fd, "", st.st_mode & 07777 & ~kill, AT_EMPTY_PATH);
		if (ret)
			goto out;
	}
	if (to_set & FUSE_SET_ATTR_MODE) {
		ret = node_chmod(n, attr->st_mode & 07777);
		if (ret)
			goto out;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		ret = node_truncate(n, h, attr->st_size);
		if (ret)
			goto out;
		kill_privs(req, n, h ? h->fd : -1);
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};
		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			ts[0].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			ts[0] = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			ts[1] = attr->st_mtim;
		ret = pc_utimensat(pcfs.e, fd, "", ts, AT_EMPTY_PATH);
		if (ret)
			goto out;
	}
	ret = node_stat(n, fi, &st);
out:
	node_put(n);
	if (ret)
		reply_err(req, ret);
	else
		fuse_reply_attr(req, &st, 0);
}

void pcfs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[PATH_MAX + 1];
	struct node *n;
	ssize_t len;

	count_req();
	n = req_node(req, ino);
	if (!n)
		return;
	len = pc_readlinkat(pcfs.e, node_fd(n), "", buf, sizeof(buf) - 1);
	node_put(n);
	if (len < 0) {
		reply_err(req, (int)len);
		return;
	}
	buf[len] = '\0';
	fuse_reply_readlink(req, buf);
}

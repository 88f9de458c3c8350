/* SPDX-License-Identifier: MIT */
/*
 * fuse_namei.c - the namespace requests of `pagecache mount`: mknod (regular
 * files only), mkdir, unlink, rmdir, symlink, rename and link, each the
 * engine's call on the store paths of its nodes (fuse_nodes.c), then the
 * node tree brought in line (a removed name detached, a renamed one moved)
 * and the new entry replied (reply_new_entry, fuse_ops.c). New objects get
 * the caller's uid and gid (fuse_perm.c).
 *
 * Locks: none of ours across engine calls or replies (docs/locking.md FUSE);
 * the node tree's own lock inside the fuse_nodes.c calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "fuse_nodes.h"
#include "fuse_server.h"

void pcfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	char path[NODES_PATH_MAX];
	int ret, fd;

	count_req();
	if (!S_ISREG(mode)) {
		reply_err(req, -EPERM); /* the stores hold regular files, dirs and symlinks */
		return;
	}
	ret = node_child_path(node_of(parent), name, path, sizeof(path));
	if (ret) {
		reply_err(req, ret);
		return;
	}
	fd = pc_open(pcfs.e, path, O_CREAT | O_EXCL | O_WRONLY, mode & 07777);
	if (fd < 0) {
		reply_err(req, fd);
		return;
	}
	pc_close(pcfs.e, fd);
	ret = set_owner(req, node_of(parent), path, false, mode);
	if (ret) {
		pc_unlink(pcfs.e, path);
		reply_err(req, ret);
		return;
	}
	reply_new_entry(req, node_of(parent), name, path, NULL, -1);
}

void pcfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	char path[NODES_PATH_MAX];
	int ret;

	count_req();
	ret = node_child_path(node_of(parent), name, path, sizeof(path));
	if (!ret)
		ret = pc_mkdir(pcfs.e, path, mode & 07777);
	if (!ret) {
		ret = set_owner(req, node_of(parent), path, true, mode);
		if (ret)
			pc_rmdir(pcfs.e, path);
	}
	if (ret)
		reply_err(req, ret);
	else
		reply_new_entry(req, node_of(parent), name, path, NULL, -1);
}

void pcfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	char path[NODES_PATH_MAX];
	int ret;

	count_req();
	ret = node_child_path(node_of(parent), name, path, sizeof(path));
	if (!ret)
		ret = pc_unlink(pcfs.e, path);
	if (!ret)
		node_detach(node_of(parent), name);
	reply_err(req, ret);
}

void pcfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	char path[NODES_PATH_MAX];
	int ret;

	count_req();
	ret = node_child_path(node_of(parent), name, path, sizeof(path));
	if (!ret)
		ret = pc_rmdir(pcfs.e, path);
	if (!ret)
		node_detach(node_of(parent), name);
	reply_err(req, ret);
}

void pcfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	char path[NODES_PATH_MAX];
	int ret;

	count_req();
	ret = node_child_path(node_of(parent), name, path, sizeof(path));
	if (!ret)
		ret = pc_symlink(pcfs.e, link, path);
	if (!ret) {
		ret = set_owner(req, node_of(parent), path, false, 0);
		if (ret)
			pc_unlink(pcfs.e, path);
	}
	if (ret)
		reply_err(req, ret);
	else
		reply_new_entry(req, node_of(parent), name, path, NULL, -1);
}

void pcfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		 const char *newname, unsigned int flags)
{
	char from[NODES_PATH_MAX], to[NODES_PATH_MAX];
	int ret;

	count_req();
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		reply_err(req, -EINVAL); /* RENAME_WHITEOUT: overlayfs only */
		return;
	}
	ret = node_child_path(node_of(parent), name, from, sizeof(from));
	if (!ret)
		ret = node_child_path(node_of(newparent), newname, to, sizeof(to));
	if (!ret)
		ret = pc_rename(pcfs.e, from, to, flags);
	if (!ret)
		node_rename(node_of(parent), name, node_of(newparent), newname, flags);
	reply_err(req, ret);
}

void pcfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	char from[NODES_PATH_MAX], to[NODES_PATH_MAX];
	int ret;

	count_req();
	ret = node_path(node_of(ino), from, sizeof(from));
	if (!ret)
		ret = node_child_path(node_of(newparent), newname, to, sizeof(to));
	if (!ret)
		ret = pc_link(pcfs.e, from, to);
	if (ret)
		reply_err(req, ret);
	else
		reply_new_entry(req, node_of(newparent), newname, to, NULL, -1);
}

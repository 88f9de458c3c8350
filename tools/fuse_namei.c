/* SPDX-License-Identifier: MIT */
/*
 * fuse_namei.c - the namespace requests of `pagecache mount`: mknod
 * (regular files, fifos, sockets, character and block devices), mkdir,
 * unlink, rmdir, symlink, rename (RENAME_NOREPLACE, RENAME_EXCHANGE,
 * RENAME_WHITEOUT) and link. Each is one engine *at() call on
 * the O_PATH fd of its directory node(s) and one name; a new object is then
 * opened O_PATH by that name, given its owner (fuse_perm.c: the caller's
 * uid and gid, a setgid directory's group, default ACLs) and replied with
 * its node (fuse_ops.c). A removed or renamed object needs nothing of the
 * node table: its node names an inode, not a name.
 *
 * Locks: none of ours across engine calls or replies (docs/locking.md FUSE);
 * the node table's own lock inside the fuse_nodes.c calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "fuse_nodes.h"
#include "fuse_server.h"

/* The mode a create asks the engine for: with POSIX ACLs the kernel left
 * the umask to us (DONT_MASK); set_owner applies a default ACL instead
 * where the directory has one. */
static mode_t create_mode(fuse_req_t req, mode_t mode)
{
	mode &= 07777;
	if (pcfs.posix_acl)
		mode &= ~fuse_req_ctx(req)->umask;
	return mode;
}

/* After @name was made in @p by the engine call that returned @ret: opens
 * it O_PATH, gives it its owner and replies its entry; on failure removes
 * it again (@rmflags: pc_unlinkat's) and replies the error. */
static void finish_new(fuse_req_t req, struct node *p, const char *name, int ret, mode_t mode,
		       int rmflags)
{
	int fd = -1;

	if (!ret) {
		fd = pc_openat(pcfs.e, node_fd(p), name, O_PATH | O_NOFOLLOW, 0);
		ret = fd < 0 ? fd : set_owner(req, p, fd, mode);
		if (ret) {
			if (fd >= 0)
				pc_close(pcfs.e, fd);
			pc_unlinkat(pcfs.e, node_fd(p), name, rmflags);
		}
	}
	node_put(p);
	if (ret)
		reply_err(req, ret);
	else
		reply_fd_entry(req, fd);
}

void pcfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct node *p;
	int ret;

	count_req();
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
	case S_IFCHR:
	case S_IFBLK:
		break;
	default:
		reply_err(req, -EINVAL); /* S_IFDIR comes as mkdir */
		return;
	}
	p = req_node(req, parent);
	if (!p)
		return;
	ret = pc_mknodat(pcfs.e, node_fd(p), name, (mode & S_IFMT) | create_mode(req, mode), rdev);
	finish_new(req, p, name, ret, mode, 0);
}

void pcfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct node *p;
	int ret;

	count_req();
	p = req_node(req, parent);
	if (!p)
		return;
	ret = pc_mkdirat(pcfs.e, node_fd(p), name, create_mode(req, mode));
	finish_new(req, p, name, ret, S_IFDIR | (mode & 07777), AT_REMOVEDIR);
}

void pcfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct node *p;
	int ret;

	count_req();
	p = req_node(req, parent);
	if (!p)
		return;
	ret = pc_symlinkat(pcfs.e, link, node_fd(p), name);
	finish_new(req, p, name, ret, S_IFLNK | 0777, 0);
}

static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name, int flags)
{
	struct node *p;
	int ret;

	count_req();
	p = req_node(req, parent);
	if (!p)
		return;
	ret = pc_unlinkat(pcfs.e, node_fd(p), name, flags);
	node_put(p);
	reply_err(req, ret);
}

void pcfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, 0);
}

void pcfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, AT_REMOVEDIR);
}

/* RENAME_WHITEOUT (overlayfs; the kernel checked CAP_MKNOD and that it
 * comes without RENAME_EXCHANGE): the renamed name is left as a whiteout,
 * a character device 0:0 with mode 0 owned by the caller. Not atomic with
 * the rename, as it is in Linux's own file systems: a crash in between
 * leaves the rename without its whiteout. */
static int whiteout(fuse_req_t req, struct node *dir, const char *name)
{
	int ret = pc_mknodat(pcfs.e, node_fd(dir), name, S_IFCHR, makedev(0, 0)), fd;

	if (ret)
		return ret;
	fd = pc_openat(pcfs.e, node_fd(dir), name, O_PATH | O_NOFOLLOW, 0);
	if (fd < 0)
		return fd;
	ret = set_owner(req, dir, fd, S_IFCHR);
	pc_close(pcfs.e, fd);
	return ret;
}

void pcfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		 const char *newname, unsigned int flags)
{
	struct node *op, *np;
	int ret;

	count_req();
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) {
		reply_err(req, -EINVAL);
		return;
	}
	op = req_node(req, parent);
	if (!op)
		return;
	np = req_node(req, newparent);
	if (!np) {
		node_put(op);
		return;
	}
	ret = pc_renameat2(pcfs.e, node_fd(op), name, node_fd(np), newname,
			   flags & ~(unsigned)RENAME_WHITEOUT);
	if (!ret && (flags & RENAME_WHITEOUT))
		ret = whiteout(req, op, name);
	node_put(np);
	node_put(op);
	reply_err(req, ret);
}

void pcfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct node *n, *np;
	int ret, fd = -1;

	count_req();
	n = req_node(req, ino);
	if (!n)
		return;
	np = req_node(req, newparent);
	if (!np) {
		node_put(n);
		return;
	}
	ret = pc_linkat(pcfs.e, node_fd(n), "", node_fd(np), newname, AT_EMPTY_PATH);
	if (!ret) /* the same object, so the same node: one more lookup */
		fd = pc_openat(pcfs.e, node_fd(np), newname, O_PATH | O_NOFOLLOW, 0);
	node_put(np);
	node_put(n);
	if (ret || fd < 0)
		reply_err(req, ret ? ret : fd);
	else
		reply_fd_entry(req, fd);
}

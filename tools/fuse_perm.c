/* SPDX-License-Identifier: MIT */
/*
 * fuse_perm.c - the FUSE front end's ownership rules: new objects get the
 * caller's uid and gid (the group of a setgid parent directory, whose bit
 * new directories inherit), and a write, truncate, fallocate or chown by
 * the caller clears S_ISUID/S_ISGID by Linux's current rule (the server
 * asks for FUSE_CAP_HANDLE_KILLPRIV: the kernel's fallback for servers that
 * don't clears S_ISGID only when the group can execute).
 *
 * Locks: none of ours; engine calls only (docs/locking.md FUSE).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "fuse_nodes.h"
#include "fuse_server.h"

/* ---- S_ISUID / S_ISGID on data changes ---- */

/* Is the request's caller in group @gid (primary or supplementary)? */
static bool caller_in_group(fuse_req_t req, gid_t gid)
{
	gid_t groups[64];
	int n;

	if (fuse_req_ctx(req)->gid == gid)
		return true;
	n = fuse_req_getgroups(req, 64, groups);
	for (int i = 0; i < n && i < 64; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/* The bits a write, truncate or fallocate by the request's caller clears in
 * @mode, Linux's rule (should_remove_suid, setattr_should_drop_sgid): none
 * for a privileged caller (CAP_FSETID; the server sees only the uid, so
 * root stands for it) or a non-regular file; else S_ISUID, and S_ISGID when
 * the group can execute or the caller is not in the file's group. For chown
 * (@chown), S_ISUID always goes and S_ISGID by setattr_should_drop_sgid
 * (group-executable, or the caller neither in the group nor privileged).
 * The PC_FUSE_OLD_KILLPRIV=1 switch (tests) gives the old fallback rule
 * (S_ISGID only when group-executable) so the hazard shows. */
mode_t privs_to_kill(fuse_req_t req, const struct stat *st, bool chown)
{
	bool priv = fuse_req_ctx(req)->uid == 0;
	mode_t kill = 0;

	if (S_ISDIR(st->st_mode) || (!chown && (priv || !S_ISREG(st->st_mode))))
		return 0;
	kill = st->st_mode & S_ISUID;
	if (!(st->st_mode & S_ISGID))
		return kill;
	if (st->st_mode & S_IXGRP)
		kill |= S_ISGID;
	else if (!pcfs.test_old_killpriv && !priv && !caller_in_group(req, st->st_gid))
		kill |= S_ISGID;
	return kill;
}

/* Clears what privs_to_kill says after a data change of @n (engine fd @fd
 * or, with @fd < 0, by path). */
void kill_privs(fuse_req_t req, struct node *n, int fd)
{
	char path[NODES_PATH_MAX];
	struct stat st;
	int ret;

	if (fuse_req_ctx(req)->uid == 0)
		return;
	ret = node_path(n, path, sizeof(path));
	if (fd >= 0)
		ret = pc_fstat(pcfs.e, fd, &st);
	else if (!ret)
		ret = pc_stat(pcfs.e, path, &st);
	if (ret)
		return;
	mode_t kill = privs_to_kill(req, &st, false);
	if (kill && !node_path(n, path, sizeof(path)))
		pc_chmod(pcfs.e, path, st.st_mode & 07777 & ~kill);
}

/* ---- ownership of new objects ---- */

/* Gives the new object @path the caller's uid and gid, or the parent's
 * group under a setgid directory (and, for a directory, the bit). */
int set_owner(fuse_req_t req, struct node *parent, const char *path, bool dir, mode_t mode)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	char ppath[NODES_PATH_MAX];
	struct stat pst;
	gid_t gid = ctx->gid;
	int ret;

	ret = node_path(parent, ppath, sizeof(ppath));
	if (!ret)
		ret = pc_stat(pcfs.e, ppath, &pst);
	if (ret)
		return ret;
	if (pst.st_mode & S_ISGID)
		gid = pst.st_gid;
	ret = pc_chown(pcfs.e, path, ctx->uid, gid);
	if (!ret && dir && (pst.st_mode & S_ISGID))
		ret = pc_chmod(pcfs.e, path, (mode & 07777) | S_ISGID);
	return ret;
}

/* Permission to open an existing file with @flags for the request's caller
 * (generic_permission's mode bits; root may do anything): for create's
 * race, where the kernel checked only the directory. 0 or -EACCES. */
int may_open_existing(fuse_req_t req, const struct stat *st, int flags)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	mode_t want = 0, bits;

	if (ctx->uid == 0)
		return 0;
	if ((flags & O_ACCMODE) != O_WRONLY)
		want |= 4;
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
		want |= 2;
	if (ctx->uid == st->st_uid)
		bits = (st->st_mode >> 6) & 7;
	else if (caller_in_group(req, st->st_gid))
		bits = (st->st_mode >> 3) & 7;
	else
		bits = st->st_mode & 7;
	return (bits & want) == want ? 0 : -EACCES;
}

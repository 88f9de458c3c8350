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

bool caller_in_group(fuse_req_t req, gid_t gid)
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

/* Clears what privs_to_kill says after a data change of @n (through its
 * open engine fd @fd, or with @fd < 0 the node's own). */
void kill_privs(fuse_req_t req, struct node *n, int fd)
{
	struct stat st;
	int ret;

	if (fuse_req_ctx(req)->uid == 0)
		return;
	ret = fd >= 0 ? pc_fstat(pcfs.e, fd, &st)
		      : pc_fstatat(pcfs.e, node_fd(n), "", &st, AT_EMPTY_PATH);
	if (ret)
		return;
	mode_t kill = privs_to_kill(req, &st, false);
	if (kill)
		pc_fchmodat(pcfs.e, node_fd(n), "", st.st_mode & 07777 & ~kill, AT_EMPTY_PATH);
}

/* ---- ownership of new objects ---- */

int set_owner(fuse_req_t req, struct node *parent, int fd, mode_t mode)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat pst, st;
	gid_t gid = ctx->gid;
	mode_t want;
	int ret;

	ret = pc_fstatat(pcfs.e, node_fd(parent), "", &pst, AT_EMPTY_PATH);
	if (!ret)
		ret = pc_fstatat(pcfs.e, fd, "", &st, AT_EMPTY_PATH);
	if (ret)
		return ret;
	if (pst.st_mode & S_ISGID)
		gid = pst.st_gid;
	want = st.st_mode & 07777;
	/* a chown, where the store did not make it the caller's already,
	 * may clear S_ISUID/S_ISGID (the dir store's host does): the mode is
	 * set again below from what the create made */
	if (st.st_uid != ctx->uid || st.st_gid != gid) {
		ret = pc_fchownat(pcfs.e, fd, "", ctx->uid, gid, AT_EMPTY_PATH);
		if (!ret)
			ret = pc_fstatat(pcfs.e, fd, "", &st, AT_EMPTY_PATH);
		if (ret)
			return ret;
	}
	if (S_ISLNK(st.st_mode))
		return 0;
	if (pcfs.posix_acl) {
		ret = acl_inherit(node_fd(parent), fd, (st.st_mode & S_IFMT) | (mode & 07777),
				  ctx->umask, &want);
		if (ret)
			return ret;
	}
	if (S_ISDIR(st.st_mode) && (pst.st_mode & S_ISGID))
		want |= S_ISGID;
	if (want != (st.st_mode & 07777))
		ret = pc_fchmodat(pcfs.e, fd, "", want, AT_EMPTY_PATH);
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

/* SPDX-License-Identifier: MIT */
/*
 * attr.c - the vol store's attributes of a node: getattr (lstat of the
 * inode, unlinked ones too: nlink 0; st_rdev of devices), setattr (mode,
 * owner, times; ctime always), readlink, statfs.
 *
 * Locking: each op takes vs->lock for its whole run (setattr as a change:
 * vs_lock_change).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/vol/vstore.h"

void vs_now(struct vol_disk_inode *di, bool a, bool m, bool c)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (a) {
		di->atime_sec = now.tv_sec;
		di->atime_nsec = (uint32_t)now.tv_nsec;
	}
	if (m) {
		di->mtime_sec = now.tv_sec;
		di->mtime_nsec = (uint32_t)now.tv_nsec;
	}
	if (c) {
		di->ctime_sec = now.tv_sec;
		di->ctime_nsec = (uint32_t)now.tv_nsec;
	}
}

void vs_fill_stat(struct vstore *vs, const struct vnode *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = vs->dev;
	st->st_ino = n->ino;
	st->st_mode = n->di.mode;
	st->st_nlink = n->di.nlink;
	st->st_uid = n->di.uid;
	st->st_gid = n->di.gid;
	st->st_rdev = (dev_t)n->di.rdev;
	st->st_size = (off_t)n->di.size;
	st->st_blksize = VOL_BLOCK_SIZE;
	st->st_blocks =
	    (blkcnt_t)((n->dir ? n->di.size / VOL_BLOCK_SIZE : vol_extmap_blocks(&n->map)) *
		       (VOL_BLOCK_SIZE / 512));
	st->st_atim = (struct timespec){n->di.atime_sec, n->di.atime_nsec};
	st->st_mtim = (struct timespec){n->di.mtime_sec, n->di.mtime_nsec};
	st->st_ctim = (struct timespec){n->di.ctime_sec, n->di.ctime_nsec};
}

static int vol_getattr(struct store_node *sn, struct stat *st)
{
	struct vstore *vs = VS(sn->store);

	pthread_mutex_lock(&vs->lock);
	vs_fill_stat(vs, VN_OF(sn), st);
	pthread_mutex_unlock(&vs->lock);
	return 0;
}

static ssize_t vol_readlink(struct store_node *sn, char *buf, size_t size)
{
	struct vstore *vs = VS(sn->store);
	struct vnode *n = VN_OF(sn);
	ssize_t r = -EINVAL;

	pthread_mutex_lock(&vs->lock);
	if (S_ISLNK(n->di.mode)) {
		size_t len = n->di.size < size ? n->di.size : size;
		memcpy(buf, n->target, len);
		r = (ssize_t)len;
	}
	pthread_mutex_unlock(&vs->lock);
	return r;
}

/* The time to store for @ts (UTIME_NOW: now); false for UTIME_OMIT. */
static bool time_of(const struct timespec *ts, struct timespec *out)
{
	if (ts->tv_nsec == UTIME_OMIT)
		return false;
	if (ts->tv_nsec == UTIME_NOW)
		clock_gettime(CLOCK_REALTIME, out);
	else
		*out = *ts;
	return true;
}

static bool bad_time(unsigned valid, unsigned bit, const struct timespec *ts)
{
	return (valid & bit) && ts->tv_nsec != UTIME_NOW && ts->tv_nsec != UTIME_OMIT &&
	       (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000);
}

static int vol_setattr(struct store_node *sn, const struct store_setattr *a)
{
	struct vstore *vs = VS(sn->store);
	struct vnode *n = VN_OF(sn);
	const unsigned known =
	    STORE_ATTR_MODE | STORE_ATTR_UID | STORE_ATTR_GID | STORE_ATTR_ATIME | STORE_ATTR_MTIME;

	if (a->valid & ~known)
		return -EINVAL;
	if (bad_time(a->valid, STORE_ATTR_ATIME, &a->atime) ||
	    bad_time(a->valid, STORE_ATTR_MTIME, &a->mtime))
		return -EINVAL;
	vs_lock_change(vs);
	int r = (a->valid & STORE_ATTR_MODE) && S_ISLNK(n->di.mode) ? -EOPNOTSUPP : 0;
	if (!r)
		r = vs_ns_begin(vs, 1);
	if (!r) {
		if (a->valid & STORE_ATTR_MODE)
			n->di.mode = (n->di.mode & S_IFMT) | (a->mode & 07777);
		if (a->valid & STORE_ATTR_UID)
			n->di.uid = a->uid;
		if (a->valid & STORE_ATTR_GID)
			n->di.gid = a->gid;
		struct timespec t;
		if ((a->valid & STORE_ATTR_ATIME) && time_of(&a->atime, &t)) {
			n->di.atime_sec = t.tv_sec;
			n->di.atime_nsec = (uint32_t)t.tv_nsec;
		}
		if ((a->valid & STORE_ATTR_MTIME) && time_of(&a->mtime, &t)) {
			n->di.mtime_sec = t.tv_sec;
			n->di.mtime_nsec = (uint32_t)t.tv_nsec;
		}
		vs_now(&n->di, false, false, true);
		vs_dirty(vs, n);
	}
	pthread_mutex_unlock(&vs->lock);
	return r;
}

static int vol_statfs(struct store *s, struct statvfs *st)
{
	struct vstore *vs = VS(s);

	pthread_mutex_lock(&vs->lock);
	const struct vol_super *sb = &vs->v->sb;
	/* Reserved blocks count as used (ext4 subtracts its dirty clusters). */
	uint64_t bfree = vol_free_blocks(vs->v);
	bfree = bfree > vs->resv ? bfree - vs->resv : 0;
	memset(st, 0, sizeof(*st));
	st->f_bsize = VOL_BLOCK_SIZE;
	st->f_frsize = VOL_BLOCK_SIZE;
	st->f_blocks = vol_data_end(sb) - sb->data_start;
	st->f_bfree = bfree;
	st->f_bavail = bfree > vs->reserve ? bfree - vs->reserve : 0;
	st->f_files = vs->ninodes - 1;
	st->f_ffree = vs->ninodes - 1 - vs->inodes_used;
	st->f_favail = st->f_ffree;
	st->f_fsid = vs->dev;
	st->f_namemax = 255;
	pthread_mutex_unlock(&vs->lock);
	return 0;
}

const struct store_ops vol_store_ops_attr = {
    .getattr = vol_getattr,
    .setattr = vol_setattr,
    .readlink = vol_readlink,
    .statfs = vol_statfs,
};

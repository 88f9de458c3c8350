/* SPDX-License-Identifier: MIT */
/*
 * discard.c - giving the blocks a commit freed back to what holds the
 * image: punched out of an image file (fallocate PUNCH_HOLE|KEEP_SIZE, so
 * the host file's allocated size follows the volume's used space), or
 * discarded on a block device (BLKDISCARD, only when asked for: a device
 * may return anything for discarded blocks, and some discard slowly).
 *
 * A block freed by commit N may still hold data of commit N-1, the durable
 * state until N's commit point: it is queued only once N is durable, where
 * the blocks become allocatable (vol_freetree_finish), never at release.
 * vol_test_discard_at_release (tests) punches at release instead, so that a
 * crash before the commit shows the loss.
 *
 * The punch itself is deferred (btrfs' discard=async): the freed blocks go
 * into the allocator at once and into the discard queue (v->dq), which the
 * commit timer drains (vol_discard_run), as does unmount, or a commit
 * when the queue grows past VOL_DQ_MAX_EXTENTS extents. So no fsync pays
 * for punching the blocks its own commit freed, and a block freed by one
 * commit and reused by the next is never punched at all (on an image file
 * a punched block costs the host an allocation when it is written again).
 * The fence: every grant of allocator blocks (vol_alloc_blocks, the free
 * tree's pool) cancels the queued discard of those blocks
 * (vol_discard_cancel) under v->lock, and the drain punches each queued
 * extent with v->lock held, so a punch never meets a block that was handed
 * out again. vol_test_discard_no_fence skips the cancel: the drain then
 * punches blocks written since. A crash loses only the queue: the blocks
 * are free in the committed free tree; discard is advisory.
 *
 * Locks: vol_discard, vol_discard_queue and vol_discard_cancel with
 * vol->lock held (finish, release, allocation); vol_discard_run takes
 * vol->lock itself, once per queued extent (the caller may hold vs->lock:
 * vs->lock -> vol->lock). A failed punch is not an error (the blocks stay
 * allocated in the host); EOPNOTSUPP turns discard off for this mount.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "store/vol/volume.h"

TEST_SWITCH(vol_test_discard_at_release);
TEST_SWITCH(vol_test_discard_no_fence);
uint64_t vol_discarded_blocks;

void vol_set_discard(struct vol *v, int mode)
{
	struct stat st;

	pthread_mutex_lock(&v->lock);
	v->discard = VOL_DISCARD_NONE;
	if (mode != VOL_DISCARD_OFF && !fstat(v->fd, &st)) {
		if (S_ISREG(st.st_mode))
			v->discard = VOL_DISCARD_PUNCH;
		else if (S_ISBLK(st.st_mode) && mode == VOL_DISCARD_ON)
			v->discard = VOL_DISCARD_BLKDEV;
	}
	if (v->discard == VOL_DISCARD_NONE)
		vol_alloc_reset(&v->dq);
	pthread_mutex_unlock(&v->lock);
}

void vol_discard(struct vol *v, uint64_t start, uint64_t len)
{
	uint64_t range[2] = {start * VOL_BLOCK_SIZE, len * VOL_BLOCK_SIZE};
	int r = 0;

	if (!len || v->discard == VOL_DISCARD_NONE)
		return;
	if (v->discard == VOL_DISCARD_PUNCH)
		r = fallocate(v->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)range[0],
			      (off_t)range[1]);
	else
		r = ioctl(v->fd, BLKDISCARD, range);
	if (r && (errno == EOPNOTSUPP || errno == ENOTTY))
		v->discard = VOL_DISCARD_NONE;
	if (!r)
		__atomic_fetch_add(&vol_discarded_blocks, len, __ATOMIC_RELAXED);
}

void vol_discard_queue(struct vol *v, uint64_t start, uint64_t len)
{
	if (!len || v->discard == VOL_DISCARD_NONE)
		return;
	/* -ENOMEM (or, with the test switch, a block queued twice): punch it
	 * now, as before the queue; it is free in the durable state */
	if (vol_alloc_free(&v->dq, start, len))
		vol_discard(v, start, len);
}

void vol_discard_cancel(struct vol *v, uint64_t start, uint64_t len)
{
	uint64_t end = start + len;
	struct vol_fext e;

	if (vol_test_discard_no_fence)
		return; /* the hazard: the drain punches a block in use */
	for (uint64_t at = start; at < end && vol_alloc_find(&v->dq, at, &e) && e.start < end;) {
		uint64_t s = e.start > at ? e.start : at;
		uint64_t t = e.start + e.len < end ? e.start + e.len : end;
		if (vol_alloc_take(&v->dq, s, t - s)) {
			/* -ENOMEM splitting an extent: forget every queued
			 * discard rather than risk one (advisory) */
			vol_alloc_reset(&v->dq);
			return;
		}
		at = t;
	}
}

uint64_t vol_discard_run(struct vol *v)
{
	uint64_t n = 0;

	pthread_mutex_lock(&v->lock);
	for (struct vol_fext e = {0, 0}; vol_alloc_next(&v->dq, &e); e = (struct vol_fext){0, 0}) {
		/* a whole extent out: no split, cannot fail */
		(void)vol_alloc_take(&v->dq, e.start, e.len);
		/* under v->lock: allocatable, but nobody is handed it meanwhile */
		vol_discard(v, e.start, e.len);
		n += e.len;
		/* let allocations in between extents */
		pthread_mutex_unlock(&v->lock);
		pthread_mutex_lock(&v->lock);
	}
	pthread_mutex_unlock(&v->lock);
	return n;
}

void vol_discard_queued(struct vol *v, uint64_t *blocks, uint64_t *extents)
{
	pthread_mutex_lock(&v->lock);
	*blocks = v->dq.free;
	*extents = vol_alloc_extents(&v->dq);
	pthread_mutex_unlock(&v->lock);
}

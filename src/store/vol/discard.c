/* SPDX-License-Identifier: MIT */
/*
 * discard.c - giving the blocks a commit freed back to what holds the
 * image: punched out of an image file (fallocate PUNCH_HOLE|KEEP_SIZE, so
 * the host file's allocated size follows the volume's used space), or
 * discarded on a block device (BLKDISCARD, only when asked for: a device
 * may return anything for discarded blocks, and some discard slowly).
 *
 * A block freed by commit N may still hold data of commit N-1, the durable
 * state until N's commit point: it is punched only once N is durable, where
 * the blocks become allocatable (vol_freetree_finish), never at release.
 * vol_test_discard_at_release (tests) punches at release instead, so that a
 * crash before the commit shows the loss.
 *
 * Locks: called with vol->lock held (finish, release); takes none. A
 * failed punch is not an error (the blocks stay allocated in the host);
 * EOPNOTSUPP turns discard off for this mount.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "store/vol/volume.h"

TEST_SWITCH(vol_test_discard_at_release);
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

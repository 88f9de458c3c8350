/* SPDX-License-Identifier: MIT */
/*
 * io.h - every write and flush a mounted vol volume makes to its image goes
 * through here, so that tests can stop the "device" at the Nth write (a
 * crash at an exact point: that write and every later one, and every flush
 * from then on, fail with -EIO, as if power was lost) and count writes.
 *
 * A second test mode models a disk with a volatile write cache: every write
 * since the last completed flush is remembered with its pre-image, and a
 * simulated crash (at the Nth write or the Nth flush) keeps only a seeded
 * random subset of them - some whole, some lost, some torn at 512-byte or
 * 4 KiB granularity - the state such a disk may legally leave after power
 * loss. The device is then dead, as with stop_at.
 *
 * Locking: none in the plain mode (the counters are atomics); the volatile
 * cache's log has its own mutex (wc->lock), held across a write's pre-image
 * read, log entry and write, and across a crash.
 */
#ifndef PC_STORE_VOL_IO_H
#define PC_STORE_VOL_IO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "kernel/testswitch.h"

/* What a volatile-cache crash did (the test reads these). */
struct vol_wc_stats {
	unsigned long crashes;	/* 0 or 1 */
	unsigned long pending;	/* writes since the last flush at the crash */
	unsigned long kept;	/* of them kept whole */
	unsigned long lost;	/* lost whole */
	unsigned long torn;	/* torn: some 512 B / 4 KiB units kept, some lost */
	unsigned long restored; /* bytes rolled back to an older content */
};

struct vol_wlog {
	off_t off;
	size_t len;
	char *pre; /* the image's bytes there before this write */
};

struct vol_wcache {
	pthread_mutex_t lock;
	int fd;		      /* the image (buffered): pre-images are read and restored here */
	uint64_t rng;	      /* seeded */
	long crash_write;     /* crash instead of this write (number as d->writes); 0: never */
	long crash_flush;     /* crash instead of this flush (number as d->flushes); 0: never */
	bool kill;	      /* then raise(SIGKILL) (a crash test's child dies there) */
	struct vol_wlog *log; /* writes since the last completed flush, in order */
	size_t nr, cap;
	struct vol_wc_stats *stats; /* where the crash reports; may be NULL */
};

struct vol_dev {
	long stop_at;	      /* fail the write with this 1-based number and all later; 0: never */
	unsigned long writes; /* writes issued (failed ones included) */
	unsigned long flushes;
	int dead;	 /* the device stopped */
	long kill_at;	 /* SIGKILL the process just before this write; 0: never */
	long fail_write; /* fail only the write with this number (transient EIO) */
	long fail_read;	 /* fail only the read with this number */
	long fail_flush; /* fail only the flush with this number */
	unsigned long reads;
	struct vol_wcache *wc; /* the volatile-cache mode; NULL: off */
	/* ordered writes: every completed write but the journal's (data, metadata
	 * written home) bumps wseq; a completed flush sets flushed to the wseq it
	 * saw before it started, so a write racing the flush stays counted */
	unsigned long wseq;
	unsigned long flushed;
};

/* Full-length pwrite (loops on short writes, EINTR). 0 or -errno. @d may be NULL. */
int vol_dev_pwrite(struct vol_dev *d, int fd, const void *buf, size_t len, off_t off);
/* As vol_dev_pwrite, for the journal and its checkpoint: the write does not
 * count as one that the next commit must flush before its journal write. */
int vol_dev_pwrite_jrnl(struct vol_dev *d, int fd, const void *buf, size_t len, off_t off);
/* Whether a write other than the journal's completed since the last completed
 * flush began (ordered data a commit must flush first). */
bool vol_dev_unflushed(struct vol_dev *d);
/* The count of completed writes other than the journal's (wseq): a commit
 * compares it with the one at its chain's start (commit.c). */
unsigned long vol_dev_wseq(struct vol_dev *d);
/* Full-length pread: 0, -EIO on a short read, or -errno. @d may be NULL. */
int vol_dev_pread(struct vol_dev *d, int fd, void *buf, size_t len, off_t off);
/* fdatasync. 0 or -errno. */
int vol_dev_flush(struct vol_dev *d, int fd);

/* Tests: model a volatile write cache on @d from now (writes through @fd,
 * a buffered fd of the image), crashing instead of write number
 * @crash_write or flush number @crash_flush (absolute, 0: never), then
 * SIGKILL if @kill; the crash reports into @stats (may be NULL). 0 or
 * -ENOMEM. Call before the device is shared. */
int vol_dev_wcache_start(struct vol_dev *d, int fd, uint64_t seed, long crash_write,
			 long crash_flush, bool kill, struct vol_wc_stats *stats);
/* Frees the mode's log (unmount). */
void vol_dev_wcache_free(struct vol_dev *d);

/* Tests: commit.c skips its ordered-data flush before the journal write
 * where data (or metadata written home) wants it (the hazard the
 * volatile-cache crash test shows). */
DECLARE_TEST_SWITCH(vol_test_skip_data_flush);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * io.h - every write and flush a mounted vol volume makes to its image goes
 * through here, so that tests can stop the "device" at the Nth write (a
 * crash at an exact point: that write and every later one, and every flush
 * from then on, fail with -EIO, as if power was lost) and count writes.
 *
 * Locking: none; the counters are atomics.
 */
#ifndef PC_STORE_VOL_IO_H
#define PC_STORE_VOL_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
};

/* Full-length pwrite (loops on short writes, EINTR). 0 or -errno. @d may be NULL. */
int vol_dev_pwrite(struct vol_dev *d, int fd, const void *buf, size_t len, off_t off);
/* Full-length pread: 0, -EIO on a short read, or -errno. @d may be NULL. */
int vol_dev_pread(struct vol_dev *d, int fd, void *buf, size_t len, off_t off);
/* fdatasync. 0 or -errno. */
int vol_dev_flush(struct vol_dev *d, int fd);

#endif

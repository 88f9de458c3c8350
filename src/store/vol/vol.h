/* SPDX-License-Identifier: MIT */
/*
 * vol.h - the vol store's entry points beyond store_open_vol (store.h):
 * making a volume and checking/repairing one at rest. Used by the
 * `pagecache mkfs` and `pagecache fsck` commands and by the tests.
 *
 * Locking: none; mkfs and fsck take the image's exclusive lock (flock) and fail with
 * -EBUSY while a store has it open.
 */
#ifndef PC_STORE_VOL_VOL_H
#define PC_STORE_VOL_VOL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct vol_mkfs_opts {
	int64_t size;	     /* bytes; 0 = the existing file's / device's size */
	unsigned inodes;     /* inode slots; 0 = one per 16 KiB, at least 1024 */
	unsigned journal_kb; /* journal size; 0 = default */
};

/* Creates an empty volume (root directory only) in @image, creating a sparse
 * file of opts->size bytes if it does not exist. 0 or -errno (-EINVAL: too
 * small or bad options, -EBUSY: mounted). */
int vol_create(const char *image, const struct vol_mkfs_opts *opts);
/* What @image already holds: 1 with *what naming it (a vol superblock or
 * backup superblock, an ext2/3/4, XFS or btrfs superblock, a swap
 * signature, a boot sector), 0 for none (or no such file), -errno. */
int vol_probe_existing(const char *image, const char **what);

/* fsck results, as fsck(8) exit codes combine them. */
enum {
	VOL_FSCK_CLEAN = 0,
	VOL_FSCK_REPAIRED = 1,	 /* errors found and all repaired */
	VOL_FSCK_UNREPAIRED = 4, /* errors left (none repaired, or not safely) */
	VOL_FSCK_FAILED = 8,	 /* operational error: could not read/check */
};

/* Checks every invariant of the volume in @image (see docs/vol-format.md):
 * blocks owned once, no leaked blocks, extent maps ordered and in bounds,
 * directory tree connected, link counts, free counts, checksums. One line per
 * problem goes to @report (may be NULL). With @repair, fixes what is safe and
 * says so. Replays a pending journal first (as mount would). Returns one of
 * VOL_FSCK_*. */
int vol_fsck(const char *image, bool repair, FILE *report);

struct store;
/* Starts the periodic commit of the vol store @s (from store_open_vol):
 * every @interval_ms (> 0) whatever changed since the last commit is
 * committed (data written only in place is flushed), so that a crash loses
 * at most about one interval of changes that reached the store. Stopped by
 * store_close, before its final commit. 0, -EINVAL (0 ms, already
 * running), or -errno from pthread_create. */
int vol_store_start_commit_timer(struct store *s, unsigned interval_ms);
/* Commits of the vol store @s so far, how many the periodic commit made
 * (it counts a flush of data written in place as one too), and how many
 * times it woke and looked for changes. */
void vol_store_commit_counts(struct store *s, uint64_t *commits, uint64_t *periodic,
			     uint64_t *checks);
/* The values of enum pc_discard (include/pagecache.h). */
enum { VOL_DISCARD_AUTO = 0, VOL_DISCARD_ON = 1, VOL_DISCARD_OFF = 2 };
/* What blocks freed by a durable commit get:
 * AUTO (the mount's default) punches them out of an image file, ON also
 * discards them on a block device (BLKDISCARD), OFF neither. 0 or -EINVAL. */
int vol_store_set_discard(struct store *s, int mode);
/* The values of enum pc_vol_data_io (include/pagecache.h). */
enum { VOL_DATA_IO_AUTO = 0, VOL_DATA_IO_BUFFERED = 1 };
/* How file data written back reaches the image (data_io.c): AUTO (the
 * default) writes each aligned data write through the image's O_DIRECT fd
 * where the host accepts O_DIRECT, else buffered; BUFFERED writes all data
 * through the host's page cache. 0 or -EINVAL. */
int vol_store_set_data_io(struct store *s, int mode);
/* Whether aligned data writes of @s go direct now. */
bool vol_store_data_direct(struct store *s);

#endif

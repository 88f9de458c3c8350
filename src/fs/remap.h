/* SPDX-License-Identifier: MIT */
/*
 * remap.h - clone, dedupe and copy_file_range on open files (remap_range.c;
 * hazard H8, docs/design.md §7.11). Every call takes the locks it needs
 * (docs/locking.md "clone, dedupe"); none may be held by the caller.
 */
#ifndef PC_FS_REMAP_H
#define PC_FS_REMAP_H

#include <stdint.h>
#include <sys/types.h>

#include "fs/file.h"
#include "kernel/testswitch.h"

/* remap flags (the kernel's REMAP_FILE_*) */
#define REMAP_FILE_DEDUP       0x1 /* compare first; both ranges inside EOF */
#define REMAP_FILE_CAN_SHORTEN 0x2 /* the caller takes a shorter remap */

/*
 * FICLONERANGE's vfs_clone_file_range: shares [pos_in, pos_in + len) of @in
 * at @pos_out of @out (len 0: to @in's EOF). Linux's checks and errnos
 * (remap_verify_area, generic_file_rw_checks, generic_remap_checks; the
 * start of both ranges page-aligned, the length too unless it ends at the
 * source's EOF, no overlap in one file); -EOPNOTSUPP when the store cannot
 * share. Returns the bytes cloned (shorter only with
 * REMAP_FILE_CAN_SHORTEN) or -errno.
 */
int64_t vfs_clone_file_range(struct file *in, int64_t pos_in, struct file *out, int64_t pos_out,
			     int64_t len, unsigned flags);

/* The source checks of vfs_dedupe_file_range (open for reading: else
 * -EINVAL; -EISDIR; -EOPNOTSUPP; the range inside EOF: else -EINVAL). */
int vfs_dedupe_src_checks(struct file *in, int64_t off, int64_t len);
/* vfs_dedupe_file_range_one: compares the ranges (at most 1 GiB) as the
 * owner of both fences and shares them if equal. Returns the bytes the
 * request covered once done (0: nothing to do), -EBADE if they differ,
 * -EPERM (the caller may not write @out), -EISDIR, or -errno. */
int64_t vfs_dedupe_file_range_one(struct file *in, int64_t pos_in, struct file *out,
				  int64_t pos_out, int64_t len);

/* copy_file_range(2) from @pos_in of @in to @pos_out of @out (positions
 * given; the caller updates f_pos). Shares blocks where the store can
 * (a clone of the page-aligned part), else copies through the page cache.
 * Returns bytes copied (short at EOF, at most MAX_RW_COUNT) or -errno. */
ssize_t vfs_copy_file_range(struct file *in, int64_t pos_in, struct file *out, int64_t pos_out,
			    size_t len, unsigned flags);

/* Test switches (tests/api/test_h8.c): a remap between two files leaves
 * the BLOCK of its source (src) or of its destination (dst) out. */
DECLARE_TEST_SWITCH(remap_test_no_src_fence);
DECLARE_TEST_SWITCH(remap_test_no_dst_fence);

#endif

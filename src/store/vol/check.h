/* SPDX-License-Identifier: MIT */
/*
 * check.h - what a tolerant load (fsck) found and what repairing it takes:
 * load.c reports each problem and records the repair; fsck.c applies the
 * repairs to the in-memory volume and commits it.
 *
 * Locking: none (fsck runs alone, the image flocked).
 */
#ifndef PC_STORE_VOL_CHECK_H
#define PC_STORE_VOL_CHECK_H

#include <stdio.h>

#include "store/vol/vstore.h"

struct vs_drop {
	uint64_t dir, cookie;
};

/* File blocks [lblk, lblk + len) of inode ino share their volume blocks
 * with an owner that keeps them: the file gets a copy. */
struct vs_copy {
	uint64_t ino, lblk, len;
};

struct vs_check {
	FILE *report;
	unsigned long errors;	 /* problems found */
	unsigned long unfixable; /* problems no repair handles */
	struct vs_drop *drop;	 /* directory entries to remove */
	size_t ndrop, cdrop;
	struct vol_blist lost;	/* inodes to relink into the root (start = ino) */
	struct vol_blist clear; /* inode slots to zero (start = ino) */
	struct vs_copy *copy;	/* shared data blocks to copy */
	size_t ncopy, ccopy;
	/* the free-space tree was not read (damaged): every block no inode
	 * owns is the free space to rebuild, not a leak to report */
	bool no_free_tree;
	bool backup_bad; /* the backup superblock is to be rewritten */
};

/* Repair rebuilds free space from what the inodes own (leaked blocks freed,
 * owned blocks taken out of free space): nothing in vs_check lists them. */
int vs_load_checked(struct vstore *vs, struct vs_check *ck, const char **why);
size_t vdir_seek(const struct vdir *d, uint64_t c);
/* Calls fn with each extent of m (through the extmap API), in file order;
 * stops at and returns fn's first nonzero value. */
int vs_each_extent(const struct vol_extmap *m, int (*fn)(void *arg, const struct vol_map *e),
		   void *arg);
/* Test switches: fsck leaves blocks owned twice as they are (reported,
 * unrepaired), and leaves directory cycles unbroken. */
extern bool vol_fsck_test_no_dup_repair;
extern bool vol_fsck_test_no_cycle_repair;

#endif

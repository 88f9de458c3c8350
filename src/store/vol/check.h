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

struct vs_check {
	FILE *report;
	unsigned long errors;	 /* problems found */
	unsigned long unfixable; /* problems no repair handles */
	struct vs_drop *drop;	 /* directory entries to remove */
	size_t ndrop, cdrop;
	struct vol_blist lost;	/* inodes to relink into the root (start = ino) */
	struct vol_blist clear; /* inode slots to zero (start = ino) */
	struct vol_blist leak;	/* blocks neither owned nor free: free them */
	struct vol_blist taken; /* blocks owned but also free: take them from free space */
};

int vs_load_checked(struct vstore *vs, struct vs_check *ck, const char **why);
size_t vdir_seek(const struct vdir *d, uint64_t c);

#endif

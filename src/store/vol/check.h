/* SPDX-License-Identifier: MIT */
/*
 * check.h - what a tolerant load (fsck) found and what repairing it takes:
 * load.c and owners.c report each problem and record the repair; fsck.c
 * applies the repairs to the in-memory volume and commits it.
 *
 * Locking: none (fsck runs alone, the image flocked).
 */
#ifndef PC_STORE_VOL_CHECK_H
#define PC_STORE_VOL_CHECK_H

#include <stdio.h>

#include "store/vol/vstore.h"
#include "kernel/testswitch.h"

struct vs_drop {
	uint64_t dir, cookie;
};

/* File blocks [lblk, lblk + len) of inode ino share their volume blocks
 * with an owner that keeps them: the file gets a copy. */
struct vs_copy {
	uint64_t ino, lblk, len;
};

/* Volume blocks [start, start + len) get reference count @count (the
 * extents mapping them). */
struct vs_refc_fix {
	uint64_t start, len;
	uint32_t count;
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
	struct vs_refc_fix *refc; /* reference counts to rewrite */
	size_t nrefc, crefc;
	/* the free-space tree was not read (damaged): every block no inode
	 * owns is the free space to rebuild, not a leak to report */
	bool no_free_tree;
	bool backup_bad; /* the backup superblock is to be rewritten */
};

/* Repair rebuilds free space from what the inodes own (leaked blocks freed,
 * owned blocks taken out of free space): nothing in vs_check lists them. */
int vs_load_checked(struct vstore *vs, struct vs_check *ck, const char **why);
size_t vdir_seek(const struct vdir *d, uint64_t c);
/* Strict (ck NULL): *why = msg, -EUCLEAN. Checking: report (naming inode
 * ino unless 0), count, 0. */
int vs_problem(struct vs_check *ck, const char **why, uint64_t ino, const char *msg);
/* fsck: n loses its extent tree (and directory blocks); a symlink goes
 * (its slot listed in ck->clear). 0 or -ENOMEM. */
int vs_drop_structure(struct vstore *vs, struct vnode *n, struct vs_check *ck);
/* owners.c: metadata outside the data area or claimed twice (the later
 * inode's structure dropped), then every block owned exactly once (a data
 * extent giving way to another owner listed in ck->copy). 0 or -errno;
 * strict: -EUCLEAN at the first problem. */
int vs_check_meta_claims(struct vstore *vs, struct vs_check *ck, const char **why);
int vs_check_ownership(struct vstore *vs, struct vs_check *ck, const char **why);
/* refcount.c: the reference-count tree read (damaged: reported, the counts
 * then rebuilt by the check); every data block's count checked against the
 * extents that map it (a disagreement listed in ck->refc); repair rewrites
 * the listed counts. 0 or -errno; strict: -EUCLEAN at the first problem. */
int vs_refc_load(struct vstore *vs, struct vs_check *ck, const char **why);
int vs_refc_check(struct vstore *vs, struct vs_check *ck, const char **why);
int vs_refc_repair(struct vstore *vs, struct vs_check *ck);
/* Test switches: fsck leaves blocks owned twice as they are (reported,
 * unrepaired), and leaves directory cycles unbroken. */
DECLARE_TEST_SWITCH(vol_fsck_test_no_dup_repair);
DECLARE_TEST_SWITCH(vol_fsck_test_no_cycle_repair);
/* fsck leaves a missing root directory (or a non-directory in its slot)
 * unrepaired (-EUCLEAN, "errors left") instead of recreating it. */
DECLARE_TEST_SWITCH(vol_fsck_test_no_root_rebuild);

#endif

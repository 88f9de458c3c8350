/* SPDX-License-Identifier: MIT */
/*
 * flock_glock.h - flock(2) across the nodes of a cluster (flock_glock.c):
 * the inode's flock glock held by the open file that holds a flock lock.
 * In nolock mode file_flock is locks_flock.
 *
 * Locks: f_flock_lock (per open file) -> flock glock -> flc_lock.
 */
#ifndef PC_FS_FLOCK_GLOCK_H
#define PC_FS_FLOCK_GLOCK_H

#include "kernel/testswitch.h"

struct file;
struct inode;

/* flock(2) on @f: LOCK_SH | LOCK_EX | LOCK_UN, optionally | LOCK_NB.
 * 0, -EWOULDBLOCK (LOCK_NB: a conflicting lock on this node or another),
 * -EINVAL, -ENOMEM, -EIO (cluster membership lost). */
int file_flock(struct file *f, int op);
/* The last reference of @f is going (after locks_remove_file): its flock
 * glock is released. */
void file_flock_remove(struct file *f);
/* At inode free: the flock glock, if one was got. */
void inode_flock_glock_put(struct inode *inode);

/* Test switch (tests/cluster/test_flock.c): flock stays per node (the local
 * logic alone): two nodes both hold LOCK_EX. */
DECLARE_TEST_SWITCH(cluster_test_flock_local_only);

#endif

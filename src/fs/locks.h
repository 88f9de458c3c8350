/* SPDX-License-Identifier: MIT */
/*
 * locks.h - advisory file locks, as fs/locks.c: flock(2) locks and open file
 * description (OFD) byte-range locks. Both belong to a struct file (so
 * pc_dup copies share them) and end when its last reference goes (fput).
 * They live in the inode's lock context and are the engine's own: they
 * conflict between the open files of this process, nothing else (in
 * cluster mode fs/flock_glock.c adds a glock over flock locks, so that
 * they conflict across nodes too; OFD locks stay per node).
 *
 * Locks: "flc_lock" (the inode's i_flc.lock, a leaf mutex) around the lists;
 * a waiter sleeps with no lock held, on i_flc.wait, until the context's
 * sequence number moves (every release bumps it).
 */
#ifndef PC_FS_LOCKS_H
#define PC_FS_LOCKS_H

#include <fcntl.h>
#include <stdint.h>

#include "kernel/list.h"
#include "kernel/mutex.h"
#include "kernel/testswitch.h"
#include "kernel/wait.h"

struct file;

/* Per-inode lock context (struct file_lock_context). */
struct file_lock_context {
	struct mutex lock;	    /* "flc_lock" (leaf) */
	struct list_head flc_flock; /* struct file_lock: flock locks */
	struct list_head flc_posix; /* struct file_lock: OFD locks, sorted by start */
	struct wait_queue_head wait;
	uint64_t seq; /* atomic: bumped under lock at every release */
};

void locks_init_context(struct file_lock_context *ctx);
/* No lock may be left (every file of the inode is gone). */
void locks_destroy_context(struct file_lock_context *ctx);

/* flock(2) on @f: LOCK_SH | LOCK_EX | LOCK_UN, optionally | LOCK_NB.
 * 0, -EWOULDBLOCK, -EINVAL (bad op, or a directory), -ENOMEM; -EINTR when
 * a blocked one was cancelled (a kill of the task: kernel/cancel.h). */
int locks_flock(struct file *f, int op);
/* F_OFD_GETLK / F_OFD_SETLK / F_OFD_SETLKW on @f. 0 or -errno as fcntl(2):
 * -EAGAIN (conflict, SETLK), -EBADF (mode), -EINVAL, -ENOMEM. */
int locks_ofd(struct file *f, int cmd, struct flock *fl);
/* The last reference of @f is going: its locks are released. */
void locks_remove_file(struct file *f);

/* Test switch (tests/api/test_flock_cancel.c): a blocked flock ignores the
 * kill of a fired cancel token and waits on until it is granted (the FUSE
 * mount's interrupted flock(2) then never returns EINTR). */
DECLARE_TEST_SWITCH(locks_test_flock_unkillable);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * locks.h - advisory file locks, as fs/locks.c: flock(2) locks (locks.c),
 * and byte-range locks (posix_locks.c): open file description (OFD) locks
 * and POSIX locks of an owner the caller names (a FUSE server's lock_owner,
 * standing for a process). flock and OFD locks belong to a struct file (so
 * pc_dup copies share them) and end when its last reference goes (fput);
 * an owner's POSIX locks end with its unlock, or with the last reference of
 * the file they were set through. They live in the inode's lock context
 * and are the engine's own: they conflict between the open files and
 * owners of this process, nothing else - but in cluster mode, where
 * fs/flock_glock.c adds a glock over flock locks and posix_locks.c
 * publishes this node's byte ranges to the lock service (cluster/plock.h),
 * so that both conflict across nodes too.
 *
 * Locks: "flc_plock" (the context's plock mutex; cluster mode only: one
 * change of the node's published ranges of the file at a time, held across
 * the lock-service round trip) -> "flc_lock" (the inode's i_flc.lock, a
 * leaf mutex) around the lists; a waiter sleeps with no lock held, on
 * i_flc.wait, until the context's sequence number moves (every release
 * bumps it), or on the cluster's plock wait until the service's table
 * changed.
 */
#ifndef PC_FS_LOCKS_H
#define PC_FS_LOCKS_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>

#include "kernel/list.h"
#include "kernel/mutex.h"
#include "kernel/testswitch.h"
#include "kernel/wait.h"

struct file;
struct pc_cancel;

#define OFFSET_MAX INT64_MAX

struct file_lock {
	struct list_head fl_list;
	struct file *fl_file;	  /* flock, OFD: the owner; POSIX: the file it was set through */
	int fl_type;		  /* F_RDLCK or F_WRLCK */
	bool fl_ofd;		  /* byte ranges: an OFD lock (owner fl_file), else POSIX */
	int fl_pid;		  /* POSIX: the pid F_GETLK reports */
	uint64_t fl_owner;	  /* POSIX: the caller's owner */
	int64_t fl_start, fl_end; /* inclusive; OFFSET_MAX: to the end of any file */
};

/* Per-inode lock context (struct file_lock_context). */
struct file_lock_context {
	struct mutex plock;	    /* "flc_plock" (cluster mode) */
	struct mutex lock;	    /* "flc_lock" (leaf) */
	struct list_head flc_flock; /* struct file_lock: flock locks */
	struct list_head flc_posix; /* struct file_lock: OFD and POSIX locks, sorted by start */
	struct wait_queue_head wait;
	uint64_t seq; /* atomic: bumped under lock at every release */
	/* Under plock: the cluster generation (session) of the ranges this
	 * node published for the file; published: any since. */
	uint64_t plock_gen;
	bool plock_published;
	/* Under plock: a publish was sent since the last forget (the node may
	 * have an entry in the file's table at the lock service). */
	bool plock_entry;
};

/* @f's inode's context (NULL: a directory's file has none here). */
struct file_lock_context *file_ctx(struct file *f);

/* A release happened (ctx->lock held): waiters look again. */
static inline void locks_wake(struct file_lock_context *ctx)
{
	__atomic_fetch_add(&ctx->seq, 1, __ATOMIC_RELEASE);
}

/* Sleeps until a release after @seen. @killable: a kill of the task (a
 * fired cancel token, kernel/cancel.h) ends the wait: -EINTR. */
int locks_wait(struct file_lock_context *ctx, uint64_t seen, bool killable);

static inline bool types_conflict(int a, int b)
{
	return a == F_WRLCK || b == F_WRLCK;
}

void locks_init_context(struct file_lock_context *ctx);
/* No lock may be left (every file of the inode is gone). */
void locks_destroy_context(struct file_lock_context *ctx);

/* flock(2) on @f: LOCK_SH | LOCK_EX | LOCK_UN, optionally | LOCK_NB.
 * 0, -EWOULDBLOCK, -EINVAL (bad op, or a directory), -ENOMEM; -EINTR when
 * a blocked one was cancelled (a kill of the task: kernel/cancel.h). */
int locks_flock(struct file *f, int op);
/* F_OFD_GETLK / F_OFD_SETLK / F_OFD_SETLKW on @f. 0 or -errno as fcntl(2):
 * -EAGAIN (conflict, SETLK), -EBADF (mode), -EINVAL, -ENOMEM; cluster mode:
 * -EIO (the node lost its lock-service session), -ENOLCK. */
int locks_ofd(struct file *f, int cmd, struct flock *fl);
/* F_GETLK / F_SETLK / F_SETLKW on @f for POSIX locks of @owner (@fl->l_pid
 * recorded). The same errors; F_SETLKW's wait ends with -EINTR when the
 * task is killed. */
int locks_posix(struct file *f, uint64_t owner, int cmd, struct flock *fl);
/* The last reference of @f is going: its locks are released. */
void locks_remove_file(struct file *f);
/* posix_locks.c: the byte-range part of locks_remove_file. */
void posix_locks_remove_file(struct file *f);
/* posix_locks.c: before I/O through @f (read, write, fsync, truncate,
 * fallocate of a file that took a lock once, f_has_locks): -EIO when
 * byte-range locks set through it were lost with the node's session. */
int posix_locks_fence(struct file *f);
struct inode;
/* posix_locks.c: @inode is evicted (evict_and_free, I_FREEING set: no file
 * of it comes meanwhile). Cluster mode: this node's entry of the file's
 * byte-range lock table at the lock service goes (cluster/plock.h,
 * cluster_plock_forget); an unused inode kept cached keeps it (empty). */
void posix_locks_forget(struct inode *inode);

/* Test switch (tests/api/test_flock_cancel.c): a blocked flock ignores the
 * kill of a fired cancel token and waits on until it is granted (the FUSE
 * mount's interrupted flock(2) then never returns EINTR). */
DECLARE_TEST_SWITCH(locks_test_flock_unkillable);
/* Cluster mode: byte-range locks are this node's only, as before they were
 * published to the lock service (tests/cluster/test_plock.c: two nodes
 * both hold a write lock on one range). */
DECLARE_TEST_SWITCH(locks_test_plock_local_only);
/* Cluster mode: the locks listed from a lost session are kept after the
 * rejoin, and published again with the node's next change of the file,
 * over the ranges another node took meanwhile (tests/cluster/test_plock.c
 * plock_lost_with_the_session*). */
DECLARE_TEST_SWITCH(locks_test_plock_keep_lost);
/* Cluster mode: a file whose byte-range locks were lost with the session
 * is not fenced: its owner writes through it after the rejoin while
 * another node holds the range (tests/cluster/test_plock.c
 * plock_lost_fences_the_file*). */
DECLARE_TEST_SWITCH(locks_test_plock_no_fence);
/* F_SETLKW of a POSIX owner sleeps on a local conflict without walking the
 * chain of owners that wait for each other: a cycle is never refused with
 * -EDEADLK and its owners sleep for good (test_posix_locks
 * setlkw_deadlock_*). */
DECLARE_TEST_SWITCH(locks_test_no_deadlock_check);

#endif

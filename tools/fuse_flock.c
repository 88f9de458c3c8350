/* SPDX-License-Identifier: MIT */
/*
 * fuse_flock.c - advisory locks on the mount, the engine's, so that in
 * cluster mode they conflict with the other nodes' locks:
 * - flock(2) (FUSE_SETLK/SETLKW with FUSE_LK_FLOCK; FUSE_CAP_FLOCK_LOCKS
 *   asked for at init): the engine's flock of the open file's engine fd
 *   (fs/flock_glock.c). One kernel open file description is one FUSE open
 *   and one engine open file (fork and dup share it, and so its lock; every
 *   open(2) is an open of its own), as for flock on a local file; the lock
 *   goes with the release of the last reference (op_release:
 *   FUSE_RELEASE_FLOCK_UNLOCK).
 * - POSIX and OFD byte-range locks (FUSE_GETLK, FUSE_SETLK/SETLKW;
 *   FUSE_CAP_POSIX_LOCKS, asked for in cluster mode only: alone, the
 *   kernel's own locks are as good, cost no round trip and detect
 *   deadlocks): pc_posix_lock of the request's lock_owner (the kernel's
 *   id of the process's file table, or of the open file for an OFD lock),
 *   which refuses an F_SETLKW closing a cycle of this node's owners with
 *   EDEADLK as the kernel does (an OFD lock's owner too: FUSE does not say
 *   which kind a request is).
 *   A process's close(2) of any fd of the file is a FUSE_FLUSH with its
 *   owner: its locks on the file go (pcfs_flush_locks), as POSIX says; an
 *   OFD lock goes with the open file's release (the engine drops the locks
 *   set through a file at its last close).
 *
 * A blocking lock that cannot be granted at once is not waited for in a
 * libfuse worker (a few of them would stall the mount: --threads, 16 by
 * default, and FUSE_INTERRUPT itself needs a free worker to be read): a
 * thread of its own waits (pc_flock_cancelable) and replies. The kernel
 * sends FUSE_INTERRUPT when the caller gets a signal; libfuse calls
 * flock_interrupted, which fires the wait's cancel token: the engine gives
 * up with -EINTR (leaving no waiter and no lock-service request) and the
 * kernel restarts flock(2) or fcntl(2), or returns EINTR, as the caller's SA_RESTART
 * says. At the end of the session every wait is cancelled (ENOLCK) and
 * waited for (pcfs_flock_stop) before the open files are closed: else the
 * server could not exit while a flock waits for a lock that no release
 * will ever let go.
 *
 * Locks: flock_lock (pthread leaf) around the list of waits; libfuse's
 * req->lock is held by it while it calls flock_interrupted (which takes
 * only the token's lock); no lock of ours across an engine call or a reply.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/file.h>

#include "fuse_server.h"

struct flock_wait {
	struct flock_wait *next, **pprev; /* on waits, under flock_lock */
	fuse_req_t req;
	struct pc_cancel *c;
	int fd, op;	 /* op: LOCK_SH or LOCK_EX, or -1: a POSIX lock */
	struct flock fl; /* a POSIX lock (F_SETLKW) */
	uint64_t owner;	 /* its owner */
	bool stopped;	 /* cancelled by pcfs_flock_stop (under flock_lock) */
};

static pthread_mutex_t flock_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t flock_idle = PTHREAD_COND_INITIALIZER;
static struct flock_wait *waits;
static unsigned nwaits;
static bool stopping;

/* FUSE_INTERRUPT of a blocked flock (libfuse's thread, req->lock held). */
static void flock_interrupted(fuse_req_t req, void *data)
{
	(void)req;
	pc_cancel_fire(data);
}

/* The wait's end: its answer, then off the list (pcfs_flock_stop waits for
 * that, so no reply is written after the session is gone). */
static void wait_done(struct flock_wait *w, int ret)
{
	/* Under req->lock, which a running flock_interrupted holds: none
	 * runs after this, and the token can go. */
	fuse_req_interrupt_func(w->req, NULL, NULL);
	pthread_mutex_lock(&flock_lock);
	/* Cancelled by the end of the session, not by a signal: -EINTR, which
	 * the kernel turns into a restart, would reach a caller that has no
	 * signal pending as errno 512. */
	if (ret == -EINTR && w->stopped)
		ret = -ENOLCK;
	pthread_mutex_unlock(&flock_lock);
	reply_err(w->req, ret);
	pthread_mutex_lock(&flock_lock);
	*w->pprev = w->next;
	if (w->next)
		w->next->pprev = w->pprev;
	if (!--nwaits)
		pthread_cond_broadcast(&flock_idle);
	pthread_mutex_unlock(&flock_lock);
	pc_cancel_free(w->c);
	free(w);
}

static void *wait_thread(void *arg)
{
	struct flock_wait *w = arg;

	if (w->op < 0)
		wait_done(w, pc_posix_lock(pcfs.e, w->fd, F_SETLKW, &w->fl, w->owner, w->c));
	else
		wait_done(w, pc_flock_cancelable(pcfs.e, w->fd, w->op, w->c));
	return NULL;
}

/* A blocking lock not granted at once: waited for by a thread of its own
 * (or, without one, by this worker). @op: the flock's, or -1 for the POSIX
 * lock @fl of @owner. */
static void flock_wait(fuse_req_t req, int fd, int op, const struct flock *fl, uint64_t owner)
{
	struct flock_wait *w = calloc(1, sizeof(*w));
	pthread_attr_t attr;
	pthread_t t;
	int err;

	if (w)
		w->c = pc_cancel_new();
	if (!w || !w->c) {
		free(w);
		reply_err(req, -ENOLCK);
		return;
	}
	w->req = req;
	w->fd = fd;
	w->op = op;
	if (fl)
		w->fl = *fl;
	w->owner = owner;
	pthread_mutex_lock(&flock_lock);
	w->next = waits;
	w->pprev = &waits;
	if (waits)
		waits->pprev = &w->next;
	waits = w;
	nwaits++;
	if (stopping) {
		w->stopped = true;
		pc_cancel_fire(w->c);
	}
	pthread_mutex_unlock(&flock_lock);
	/* (an interrupt that came already fires the token at once) */
	fuse_req_interrupt_func(req, flock_interrupted, w->c);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&t, &attr, wait_thread, w);
	pthread_attr_destroy(&attr);
	if (err)
		wait_thread(w);
}

void pcfs_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	struct fh *h;
	int ret;

	count_req();
	__atomic_fetch_add(&pcfs.flocks, 1, __ATOMIC_RELAXED);
	if (ino == PCFS_STATS_NODEID) {
		reply_err(req, -ENOLCK); /* no engine file to lock */
		return;
	}
	h = (struct fh *)(uintptr_t)fi->fh;
	if ((op & LOCK_NB) || (op & ~LOCK_NB) == LOCK_UN) {
		reply_err(req, pc_flock(pcfs.e, h->fd, op));
		return;
	}
	/* A blocking one: granted at once if it can be (a conversion drops
	 * the old lock first either way, as flock(2) does). */
	ret = pc_flock(pcfs.e, h->fd, op | LOCK_NB);
	if (ret != -EWOULDBLOCK) {
		reply_err(req, ret);
		return;
	}
	flock_wait(req, h->fd, op, NULL, 0);
}

void pcfs_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock)
{
	struct fh *h;
	int ret;

	count_req();
	if (ino == PCFS_STATS_NODEID) {
		reply_err(req, -ENOLCK);
		return;
	}
	h = (struct fh *)(uintptr_t)fi->fh;
	ret = pc_posix_lock(pcfs.e, h->fd, F_GETLK, lock, fi->lock_owner, NULL);
	if (ret)
		reply_err(req, ret);
	else
		fuse_reply_lock(req, lock);
}

void pcfs_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock,
		int sleep)
{
	struct fh *h;
	int ret;

	count_req();
	__atomic_fetch_add(&pcfs.flocks, 1, __ATOMIC_RELAXED);
	if (ino == PCFS_STATS_NODEID) {
		reply_err(req, -ENOLCK);
		return;
	}
	h = (struct fh *)(uintptr_t)fi->fh;
	if (lock->l_type != F_UNLCK)
		__atomic_store_n(&h->plocked, true, __ATOMIC_RELAXED);
	ret = pc_posix_lock(pcfs.e, h->fd, F_SETLK, lock, fi->lock_owner, NULL);
	if (ret != -EAGAIN || !sleep || lock->l_type == F_UNLCK) {
		reply_err(req, ret);
		return;
	}
	flock_wait(req, h->fd, -1, lock, fi->lock_owner);
}

int pcfs_flush_locks(int fd, uint64_t owner)
{
	struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET};

	return pc_posix_lock(pcfs.e, fd, F_SETLK, &fl, owner, NULL);
}

unsigned pcfs_flock_waiting(void)
{
	unsigned n;

	pthread_mutex_lock(&flock_lock);
	n = nwaits;
	pthread_mutex_unlock(&flock_lock);
	return n;
}

void pcfs_flock_stop(void)
{
	struct flock_wait *w;

	pthread_mutex_lock(&flock_lock);
	stopping = true;
	for (w = waits; w; w = w->next) {
		w->stopped = true;
		pc_cancel_fire(w->c);
	}
	while (nwaits)
		pthread_cond_wait(&flock_idle, &flock_lock);
	pthread_mutex_unlock(&flock_lock);
}

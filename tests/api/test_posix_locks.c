/* SPDX-License-Identifier: MIT */
/*
 * test_posix_locks.c - pc_posix_lock: POSIX byte-range locks of owners the
 * caller names (one engine, nolock; across nodes: tests/cluster/test_plock.c):
 *   - owners: one owner's locks never conflict with each other, whatever
 *     fd they are set through; another owner's do; F_GETLK reports the
 *     holder's l_pid (an OFD holder's as -1); POSIX and OFD locks conflict;
 *   - an owner's lock splits and merges as a process's: unlocking the
 *     middle of a range leaves both ends held, a read lock inside a write
 *     lock replaces that part;
 *   - an owner's whole-file unlock (a FUSE close) releases everything it
 *     holds on the file, through any fd; an unlock of nothing is 0;
 *   - the open file a lock was set through takes it with its last close;
 *   - a blocked F_SETLKW sleeps until the conflict goes; with a cancel
 *     token fired it returns -EINTR and leaves nothing behind;
 *   - deadlock: an F_SETLKW that would close a cycle of owners waiting for
 *     each other's locks is refused with -EDEADLK, across ranges of one
 *     file (three owners) and across files (two); F_SETLK and an OFD
 *     request are not checked (as in Linux); with
 *     locks_test_no_deadlock_check the request that closes the cycle
 *     sleeps too, three owners asleep for good (a cancel ends it);
 *   - bad input: a bad cmd (F_OFD_*), type, range, a read-only fd's write
 *     lock, NULL arguments.
 * Threads meet by the lock context's sleeper count (no sleep orders them).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "api/engine.h"
#include "basic_fixture.h"
#include "fs/file.h"
#include "fs/locks.h"
#include "harness.h"
#include "pagecache.h"

struct waiter {
	struct pc_engine *e;
	int fd;
	uint64_t owner;
	struct flock fl;
	struct pc_cancel *c;
	int ret;
	_Atomic bool done;
};

static void *setlkw_thread(void *arg)
{
	struct waiter *w = arg;

	w->ret = pc_posix_lock(w->e, w->fd, F_SETLKW, &w->fl, w->owner, w->c);
	atomic_store(&w->done, true);
	return NULL;
}

static unsigned sleepers(struct pc_engine *e, int fd)
{
	struct file *f = fdget(&e->fdt, fd);
	unsigned n = __atomic_load_n(&f->f_inode->i_flctx.wait.nr_waiters, __ATOMIC_ACQUIRE);

	fdput(e, f);
	return n;
}

/* Until @n threads sleep on @fd's file's locks. */
static void wait_for_sleepers(struct pc_engine *e, int fd, unsigned n)
{
	while (sleepers(e, fd) < n)
		sched_yield();
}

static struct flock rng(short type, off_t start, off_t len, pid_t pid)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = start;
	fl.l_len = len;
	fl.l_pid = pid;
	return fl;
}

/* pc_posix_lock(F_SETLK) of @type [start, start + len) by @owner. */
static int setlk(struct pc_engine *e, int fd, uint64_t owner, short type, off_t start, off_t len)
{
	struct flock fl = rng(type, start, len, (pid_t)(1000 + owner));

	return pc_posix_lock(e, fd, F_SETLK, &fl, owner, NULL);
}

/* F_GETLK by @owner: the conflicting lock found (l_type F_UNLCK: none). */
static struct flock getlk(struct pc_engine *e, int fd, uint64_t owner, short type, off_t start,
			  off_t len)
{
	struct flock fl = rng(type, start, len, 0);

	CHECK_EQ(pc_posix_lock(e, fd, F_GETLK, &fl, owner, NULL), 0);
	return fl;
}

static int open_f(struct pc_engine *e, int flags)
{
	int fd = pc_open(e, "f", flags | O_CREAT, 0644);

	CHECK(fd >= 0);
	return fd;
}

TEST(owners_conflict_and_report)
{
	struct pc_engine *e = engine();
	int a1 = open_f(e, O_RDWR), a2 = open_f(e, O_RDWR), b = open_f(e, O_RDWR);
	struct flock fl;

	CHECK_EQ(setlk(e, a1, 1, F_WRLCK, 0, 100), 0);
	CHECK_EQ(setlk(e, a2, 1, F_WRLCK, 50, 100), 0); /* its own: another fd, no conflict */
	CHECK_EQ(setlk(e, b, 2, F_RDLCK, 120, 1), -EAGAIN);
	CHECK_EQ(setlk(e, b, 2, F_RDLCK, 150, 10), 0);
	CHECK_EQ(setlk(e, a1, 1, F_WRLCK, 155, 1), -EAGAIN); /* owner 2's read lock */
	fl = getlk(e, b, 2, F_WRLCK, 10, 1);
	printf("# owner 2's F_GETLK of [10]: type %d [%lld, +%lld) pid %d\n", fl.l_type,
	       (long long)fl.l_start, (long long)fl.l_len, fl.l_pid);
	CHECK(fl.l_type == F_WRLCK && fl.l_start == 0 && fl.l_len == 50 && fl.l_pid == 1001);
	fl = getlk(e, a1, 1, F_WRLCK, 0, 150); /* its own locks: none conflicts */
	CHECK_EQ(fl.l_type, F_UNLCK);
	/* An OFD lock conflicts with an owner's POSIX lock, and reports -1. */
	fl = rng(F_WRLCK, 300, 10, 0);
	CHECK_EQ(pc_ofd_lock(e, b, F_OFD_SETLK, &fl), 0);
	CHECK_EQ(setlk(e, a1, 1, F_RDLCK, 305, 1), -EAGAIN);
	fl = getlk(e, a1, 1, F_RDLCK, 305, 1);
	CHECK(fl.l_type == F_WRLCK && fl.l_start == 300 && fl.l_pid == -1);
	fl = rng(F_RDLCK, 0, 1, 0);
	CHECK_EQ(pc_ofd_lock(e, b, F_OFD_SETLK, &fl), -EAGAIN);
	CHECK_EQ(pc_close(e, a1), 0);
	CHECK_EQ(pc_close(e, a2), 0);
	CHECK_EQ(pc_close(e, b), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

TEST(split_merge_and_owner_unlock)
{
	struct pc_engine *e = engine();
	int a1 = open_f(e, O_RDWR), a2 = open_f(e, O_RDWR), b = open_f(e, O_RDWR);
	struct flock fl;

	CHECK_EQ(setlk(e, a1, 1, F_WRLCK, 0, 100), 0);
	CHECK_EQ(setlk(e, a1, 1, F_UNLCK, 40, 20), 0); /* [0,39] and [60,99] stay */
	CHECK_EQ(setlk(e, b, 2, F_WRLCK, 45, 10), 0);
	CHECK_EQ(setlk(e, b, 2, F_WRLCK, 39, 1), -EAGAIN);
	CHECK_EQ(setlk(e, b, 2, F_WRLCK, 60, 1), -EAGAIN);
	CHECK_EQ(setlk(e, a1, 1, F_RDLCK, 60, 10), 0); /* [60,69] read now */
	CHECK_EQ(setlk(e, b, 2, F_RDLCK, 65, 1), 0);
	CHECK_EQ(setlk(e, b, 2, F_RDLCK, 70, 1), -EAGAIN);
	/* Adjacent ranges of one owner, type and file merge. */
	CHECK_EQ(setlk(e, a2, 3, F_WRLCK, 200, 10), 0);
	CHECK_EQ(setlk(e, a2, 3, F_WRLCK, 210, 10), 0);
	fl = getlk(e, b, 2, F_RDLCK, 200, 20);
	CHECK(fl.l_type == F_WRLCK && fl.l_start == 200 && fl.l_len == 20);
	/* A whole-file unlock by owner 1 (a close(2) of a FUSE process),
	 * through another fd: all its locks go. */
	CHECK_EQ(setlk(e, a2, 1, F_UNLCK, 0, 0), 0);
	CHECK_EQ(setlk(e, b, 2, F_WRLCK, 0, 45), 0);
	CHECK_EQ(setlk(e, b, 2, F_WRLCK, 70, 30), 0);
	CHECK_EQ(setlk(e, b, 9, F_UNLCK, 0, 0), 0); /* nothing held: 0 */
	CHECK_EQ(pc_close(e, a1), 0);
	CHECK_EQ(pc_close(e, a2), 0);
	CHECK_EQ(pc_close(e, b), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

TEST(last_close_of_the_file_releases)
{
	struct pc_engine *e = engine();
	int a = open_f(e, O_RDWR), b = open_f(e, O_RDWR), d;
	struct waiter w = {.e = e, .fd = b, .owner = 2};
	pthread_t t;

	CHECK_EQ(setlk(e, a, 1, F_WRLCK, 0, 10), 0);
	d = pc_dup(e, a);
	CHECK(d >= 0);
	w.fl = rng(F_WRLCK, 5, 1, 1002);
	CHECK_EQ(pthread_create(&t, NULL, setlkw_thread, &w), 0);
	wait_for_sleepers(e, b, 1);
	CHECK_EQ(pc_close(e, a), 0); /* d still holds the open file */
	CHECK_EQ(setlk(e, b, 3, F_WRLCK, 5, 1), -EAGAIN);
	CHECK_EQ(pc_close(e, d), 0); /* its last close: owner 1's lock goes */
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(w.ret, 0);
	CHECK_EQ(setlk(e, b, 3, F_RDLCK, 5, 1), -EAGAIN); /* owner 2 holds it now */
	CHECK_EQ(pc_close(e, b), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

TEST(cancelled_setlkw_leaves_nothing)
{
	struct pc_engine *e = engine();
	int a = open_f(e, O_RDWR), b = open_f(e, O_RDWR);
	struct waiter w = {.e = e, .fd = b, .owner = 2, .c = pc_cancel_new()};
	pthread_t t;

	CHECK(w.c != NULL);
	CHECK_EQ(setlk(e, a, 1, F_WRLCK, 0, 10), 0);
	w.fl = rng(F_WRLCK, 0, 1, 1002);
	CHECK_EQ(pthread_create(&t, NULL, setlkw_thread, &w), 0);
	wait_for_sleepers(e, b, 1);
	pc_cancel_fire(w.c);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(w.ret, -EINTR);
	CHECK_EQ(sleepers(e, b), 0u);
	CHECK_EQ(setlk(e, a, 1, F_UNLCK, 0, 0), 0);
	CHECK_EQ(setlk(e, a, 3, F_WRLCK, 0, 10), 0); /* owner 2 holds nothing */
	w.fl = rng(F_WRLCK, 0, 1, 1002);
	CHECK_EQ(pc_posix_lock(e, b, F_SETLKW, &w.fl, 2, w.c), -EINTR); /* fired: refused */
	pc_cancel_free(w.c);
	CHECK_EQ(pc_close(e, a), 0);
	CHECK_EQ(pc_close(e, b), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

/* Owner @owner's F_SETLKW of a write lock on byte @at of @fd, in a thread
 * (@c: its cancel token, or NULL). */
static void setlkw_start(struct waiter *w, pthread_t *t, struct pc_engine *e, int fd,
			 uint64_t owner, off_t at, struct pc_cancel *c)
{
	*w = (struct waiter){.e = e, .fd = fd, .owner = owner, .c = c};
	w->fl = rng(F_WRLCK, at, 1, (pid_t)(1000 + owner));
	CHECK_EQ(pthread_create(t, NULL, setlkw_thread, w), 0);
}

/*
 * Three owners on one file: 1 holds byte 0, 2 byte 1, 3 byte 2; 1 waits
 * for 2's byte, 2 for 3's; 3's F_SETLKW of 1's byte would close the cycle:
 * -EDEADLK at once. @hazard (no check): it sleeps too - three owners
 * asleep for good, until a cancel ends 3's wait and unlocks free the rest.
 */
static void deadlock_case(bool hazard)
{
	struct pc_engine *e = engine();
	int f = open_f(e, O_RDWR);
	struct waiter w1, w2, w3;
	struct pc_cancel *c;
	struct flock fl;
	pthread_t t1, t2, t3;

	locks_test_no_deadlock_check = hazard;
	CHECK_EQ(setlk(e, f, 1, F_WRLCK, 0, 1), 0);
	CHECK_EQ(setlk(e, f, 2, F_WRLCK, 1, 1), 0);
	CHECK_EQ(setlk(e, f, 3, F_WRLCK, 2, 1), 0);
	setlkw_start(&w1, &t1, e, f, 1, 1, NULL);
	wait_for_sleepers(e, f, 1);
	setlkw_start(&w2, &t2, e, f, 2, 2, NULL);
	wait_for_sleepers(e, f, 2);
	c = pc_cancel_new();
	CHECK(c != NULL);
	setlkw_start(&w3, &t3, e, f, 3, 0, c);
	while (!atomic_load(&w3.done) && sleepers(e, f) < 3)
		sched_yield();
	if (atomic_load(&w3.done)) {
		printf("# owner 3's F_SETLKW that closes the cycle: %d (%s)\n", w3.ret,
		       strerror(-w3.ret));
	} else {
		printf("# owner 3's F_SETLKW that closes the cycle sleeps: owners 1, 2 and 3 "
		       "each wait for the next one's lock\n");
		pc_cancel_fire(c);
	}
	CHECK_EQ(pthread_join(t3, NULL), 0);
	CHECK_EQ(w3.ret, hazard ? -EINTR : -EDEADLK);
	fl = rng(F_WRLCK, 0, 1, 1003);
	CHECK_EQ(pc_posix_lock(e, f, F_SETLK, &fl, 3, NULL), -EAGAIN); /* F_SETLK: no check */
	fl = rng(F_WRLCK, 0, 1, 0);
	CHECK_EQ(pc_ofd_lock(e, f, F_OFD_SETLK, &fl), -EAGAIN);
	CHECK_EQ(setlk(e, f, 3, F_UNLCK, 0, 0), 0); /* 2 gets byte 2 */
	CHECK_EQ(pthread_join(t2, NULL), 0);
	CHECK_EQ(w2.ret, 0);
	CHECK_EQ(setlk(e, f, 2, F_UNLCK, 0, 0), 0); /* 1 gets byte 1 */
	CHECK_EQ(pthread_join(t1, NULL), 0);
	CHECK_EQ(w1.ret, 0);
	CHECK_EQ(setlk(e, f, 1, F_UNLCK, 0, 0), 0);
	pc_cancel_free(c);
	locks_test_no_deadlock_check = false;
	CHECK_EQ(pc_close(e, f), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

TEST(setlkw_deadlock_refused)
{
	deadlock_case(false);
}

TEST(setlkw_deadlock_no_check_shows)
{
	deadlock_case(true);
}

/* The cycle through two files: 1 holds f, 2 holds g, 1 waits for g; 2's
 * F_SETLKW of f: -EDEADLK. Then no cycle: 2 waits for 1's f and is
 * granted at its unlock. */
TEST(setlkw_deadlock_across_files)
{
	struct pc_engine *e = engine();
	int f = open_f(e, O_RDWR), g = pc_open(e, "g", O_RDWR | O_CREAT, 0644);
	struct waiter w1, w2;
	struct flock fl;
	pthread_t t1, t2;

	CHECK(g >= 0);
	CHECK_EQ(setlk(e, f, 1, F_WRLCK, 0, 0), 0);
	CHECK_EQ(setlk(e, g, 2, F_WRLCK, 0, 0), 0);
	setlkw_start(&w1, &t1, e, g, 1, 0, NULL);
	wait_for_sleepers(e, g, 1);
	fl = rng(F_WRLCK, 0, 1, 1002);
	CHECK_EQ(pc_posix_lock(e, f, F_SETLKW, &fl, 2, NULL), -EDEADLK);
	CHECK_EQ(setlk(e, g, 2, F_UNLCK, 0, 0), 0);
	CHECK_EQ(pthread_join(t1, NULL), 0);
	CHECK_EQ(w1.ret, 0);
	setlkw_start(&w2, &t2, e, f, 2, 0, NULL);
	wait_for_sleepers(e, f, 1);
	CHECK_EQ(setlk(e, f, 1, F_UNLCK, 0, 0), 0);
	CHECK_EQ(setlk(e, g, 1, F_UNLCK, 0, 0), 0);
	CHECK_EQ(pthread_join(t2, NULL), 0);
	CHECK_EQ(w2.ret, 0);
	CHECK_EQ(pc_close(e, f), 0);
	CHECK_EQ(pc_close(e, g), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

TEST(bad_input)
{
	struct pc_engine *e = engine();
	int rw = open_f(e, O_RDWR), ro = open_f(e, O_RDONLY), wo = open_f(e, O_WRONLY);
	struct flock fl;

	fl = rng(F_WRLCK, 0, 1, 1);
	CHECK_EQ(pc_posix_lock(e, ro, F_SETLK, &fl, 1, NULL), -EBADF);
	fl = rng(F_RDLCK, 0, 1, 1);
	CHECK_EQ(pc_posix_lock(e, wo, F_SETLK, &fl, 1, NULL), -EBADF);
	CHECK_EQ(pc_posix_lock(e, rw, F_OFD_SETLK, &fl, 1, NULL), -EINVAL);
	CHECK_EQ(pc_posix_lock(e, rw, 12345, &fl, 1, NULL), -EINVAL);
	fl = rng(7, 0, 1, 1);
	CHECK_EQ(pc_posix_lock(e, rw, F_SETLK, &fl, 1, NULL), -EINVAL);
	fl = rng(F_RDLCK, -5, 1, 1);
	CHECK_EQ(pc_posix_lock(e, rw, F_SETLK, &fl, 1, NULL), -EINVAL);
	fl = rng(F_UNLCK, 0, 1, 1);
	CHECK_EQ(pc_posix_lock(e, rw, F_GETLK, &fl, 1, NULL), -EINVAL);
	fl = rng(F_RDLCK, 0, 1, 1);
	fl.l_whence = 9;
	CHECK_EQ(pc_posix_lock(e, rw, F_SETLK, &fl, 1, NULL), -EINVAL);
	CHECK_EQ(pc_posix_lock(e, rw, F_SETLK, NULL, 1, NULL), -EFAULT);
	fl = rng(F_RDLCK, 0, 1, 1);
	CHECK_EQ(pc_posix_lock(e, 99, F_SETLK, &fl, 1, NULL), -EBADF);
	CHECK_EQ(pc_posix_lock(NULL, rw, F_SETLK, &fl, 1, NULL), -EINVAL);
	CHECK_EQ(pc_close(e, rw), 0);
	CHECK_EQ(pc_close(e, ro), 0);
	CHECK_EQ(pc_close(e, wo), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

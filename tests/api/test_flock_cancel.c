/* SPDX-License-Identifier: MIT */
/*
 * test_flock_cancel.c - pc_flock_cancelable and its cancel tokens (one
 * engine, nolock; the cluster case is tests/cluster/test_flock.c):
 *   - a blocked LOCK_EX whose token is fired returns -EINTR and leaves
 *     nothing behind: no sleeper on the inode's lock context, no lock of
 *     its open file; once the holder lets go another open file is granted
 *     at once (LOCK_NB);
 *   - a token fired before the call: a blocking flock is refused (-EINTR)
 *     without waiting; LOCK_NB and LOCK_UN ignore the token;
 *   - a cancelled conversion (SH -> EX) holds nothing after (the SH went
 *     first, as flock(2) documents);
 *   - the kill is the call's own: the same thread's next blocking flock
 *     waits and is granted (no -EINTR left over);
 *   - locks_test_flock_unkillable: the fired token does not end the wait
 *     (the flock is still blocked after the cancel, and is granted once
 *     the holder lets go: an interrupted flock(2) on the mount would hang).
 * Threads meet by the lock context's sleeper count (no sleep orders them).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/file.h>
#include <time.h>

#include "api/engine.h"
#include "basic_fixture.h"
#include "fs/file.h"
#include "fs/locks.h"
#include "harness.h"
#include "pagecache.h"

#ifndef PC_TEST_SWITCHES
#error "the tests are built with the test switches (src/kernel/testswitch.h)"
#endif

struct locker {
	struct pc_engine *e;
	int fd, op;
	struct pc_cancel *c;
	int ret, ret2;
	int second; /* then a plain blocking LOCK_EX on fd2 */
	int fd2;
	int done, done1; /* atomic */
};

static void *locker_thread(void *arg)
{
	struct locker *l = arg;

	l->ret = pc_flock_cancelable(l->e, l->fd, l->op, l->c);
	__atomic_store_n(&l->done1, 1, __ATOMIC_RELEASE);
	if (l->second)
		l->ret2 = pc_flock(l->e, l->fd2, LOCK_EX);
	__atomic_store_n(&l->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static unsigned sleepers(struct pc_engine *e, int fd)
{
	struct file *f = fdget(&e->fdt, fd);
	unsigned n = __atomic_load_n(&f->f_inode->i_flctx.wait.nr_waiters, __ATOMIC_ACQUIRE);

	fdput(e, f);
	return n;
}

static void wait_for_sleepers(struct pc_engine *e, int fd, unsigned n)
{
	while (sleepers(e, fd) < n)
		sched_yield();
}

static int open_f(struct pc_engine *e)
{
	int fd = pc_open(e, "f", O_RDWR | O_CREAT, 0644);

	CHECK(fd >= 0);
	return fd;
}

/* Closes the case's files (-1: none) and its engine. */
static void close_all(struct pc_engine *e, int f1, int f2, int f3)
{
	int fds[] = {f1, f2, f3};

	for (unsigned i = 0; i < 3; i++)
		if (fds[i] >= 0)
			CHECK_EQ(pc_close(e, fds[i]), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

TEST(cancel_blocked_ex_leaves_nothing)
{
	struct pc_engine *e = engine();
	int f1 = open_f(e), f2 = open_f(e), f3 = open_f(e);
	struct locker l = {.e = e, .fd = f2, .op = LOCK_EX, .c = pc_cancel_new()};
	pthread_t t;

	CHECK(l.c != NULL);
	CHECK_EQ(pc_flock(e, f1, LOCK_EX), 0);
	CHECK_EQ(pthread_create(&t, NULL, locker_thread, &l), 0);
	wait_for_sleepers(e, f2, 1);
	pc_cancel_fire(l.c);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(l.ret, -EINTR);
	CHECK_EQ(sleepers(e, f2), 0u);
	CHECK_EQ(pc_flock(e, f3, LOCK_SH | LOCK_NB), -EWOULDBLOCK); /* f1 still holds it */
	CHECK_EQ(pc_flock(e, f1, LOCK_UN), 0);
	/* f2 holds nothing and waits for nothing: f3 at once */
	CHECK_EQ(pc_flock(e, f3, LOCK_EX | LOCK_NB), 0);
	CHECK_EQ(pc_flock(e, f3, LOCK_UN), 0);
	CHECK_EQ(pc_flock(e, f2, LOCK_EX | LOCK_NB), 0);
	pc_cancel_free(l.c);
	close_all(e, f1, f2, f3);
}

TEST(cancel_fired_before_the_call)
{
	struct pc_engine *e = engine();
	int f1 = open_f(e), f2 = open_f(e);
	struct pc_cancel *c = pc_cancel_new();

	CHECK(c != NULL);
	pc_cancel_fire(c);
	CHECK_EQ(pc_flock(e, f1, LOCK_SH), 0);
	CHECK_EQ(pc_flock_cancelable(e, f2, LOCK_EX, c), -EINTR); /* would wait */
	CHECK_EQ(pc_flock_cancelable(e, f2, LOCK_SH, c), -EINTR); /* refused, no wait either */
	CHECK_EQ(pc_flock_cancelable(e, f2, LOCK_SH | LOCK_NB, c), 0);
	CHECK_EQ(pc_flock_cancelable(e, f2, LOCK_EX | LOCK_NB, c), -EWOULDBLOCK);
	CHECK_EQ(pc_flock_cancelable(e, f2, LOCK_UN, c), 0);
	CHECK_EQ(pc_flock_cancelable(e, f2, LOCK_EX | LOCK_NB, NULL), -EWOULDBLOCK);
	CHECK_EQ(pc_flock_cancelable(e, 99, LOCK_EX, c), -EBADF);
	CHECK_EQ(pc_flock_cancelable(e, f2, 77, NULL), -EINVAL);
	CHECK_EQ(pc_flock_cancelable(NULL, f2, LOCK_EX, c), -EINVAL);
	pc_cancel_fire(NULL);
	pc_cancel_free(NULL);
	pc_cancel_free(c);
	close_all(e, f1, f2, -1);
}

TEST(cancel_conversion_holds_nothing)
{
	struct pc_engine *e = engine();
	int f1 = open_f(e), f2 = open_f(e), f3 = open_f(e);
	struct locker l = {.e = e, .fd = f2, .op = LOCK_EX, .c = pc_cancel_new()};
	pthread_t t;

	CHECK(l.c != NULL);
	CHECK_EQ(pc_flock(e, f1, LOCK_SH), 0);
	CHECK_EQ(pc_flock(e, f2, LOCK_SH), 0);
	CHECK_EQ(pthread_create(&t, NULL, locker_thread, &l), 0); /* SH -> EX waits for f1 */
	wait_for_sleepers(e, f2, 1);
	pc_cancel_fire(l.c);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(l.ret, -EINTR);
	CHECK_EQ(pc_flock(e, f1, LOCK_UN), 0);
	CHECK_EQ(pc_flock(e, f3, LOCK_EX | LOCK_NB), 0); /* f2's SH is gone too */
	pc_cancel_free(l.c);
	close_all(e, f1, f2, f3);
}

TEST(cancel_kill_ends_with_the_call)
{
	struct pc_engine *e = engine();
	int f1 = open_f(e), f2 = open_f(e), f3 = open_f(e);
	struct locker l = {
	    .e = e, .fd = f2, .op = LOCK_EX, .c = pc_cancel_new(), .second = 1, .fd2 = f3};
	pthread_t t;

	CHECK(l.c != NULL);
	CHECK_EQ(pc_flock(e, f1, LOCK_EX), 0);
	CHECK_EQ(pthread_create(&t, NULL, locker_thread, &l), 0);
	wait_for_sleepers(e, f2, 1);
	pc_cancel_fire(l.c);
	while (!__atomic_load_n(&l.done1, __ATOMIC_ACQUIRE))
		sched_yield();
	CHECK_EQ(l.ret, -EINTR);
	/* the thread's plain LOCK_EX on f3 now sleeps: no kill left over */
	wait_for_sleepers(e, f3, 1);
	CHECK(!__atomic_load_n(&l.done, __ATOMIC_ACQUIRE));
	CHECK_EQ(pc_flock(e, f1, LOCK_UN), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(l.ret2, 0);
	pc_cancel_free(l.c);
	close_all(e, f1, f2, f3);
}

/* The hazard: the fired token does not end the wait. Whether the flock
 * still waits after the cancel can only be seen by waiting for it a while:
 * 2 s without an answer is reported as the hang (the protected case needs
 * no bound: it joins). */
TEST(cancel_unkillable_shows_hang)
{
	struct pc_engine *e = engine();
	int f1 = open_f(e), f2 = open_f(e);
	struct locker l = {.e = e, .fd = f2, .op = LOCK_EX, .c = pc_cancel_new()};
	struct timespec ms = {0, 1000000};
	unsigned polls = 0;
	pthread_t t;

	CHECK(l.c != NULL);
	locks_test_flock_unkillable = true;
	CHECK_EQ(pc_flock(e, f1, LOCK_EX), 0);
	CHECK_EQ(pthread_create(&t, NULL, locker_thread, &l), 0);
	wait_for_sleepers(e, f2, 1);
	pc_cancel_fire(l.c);
	while (!__atomic_load_n(&l.done, __ATOMIC_ACQUIRE) && ++polls < 2000)
		nanosleep(&ms, NULL);
	printf("# with locks_test_flock_unkillable: %s\n",
	       l.done ? "the flock returned after the cancel"
		      : "the flock still waits 2 s after the cancel (an interrupted flock(2) "
			"on the mount would hang)");
	CHECK(!__atomic_load_n(&l.done, __ATOMIC_ACQUIRE));
	CHECK_EQ(pc_flock(e, f1, LOCK_UN), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(l.ret, 0); /* granted: the cancel was lost */
	locks_test_flock_unkillable = false;
	pc_cancel_free(l.c);
	close_all(e, f1, f2, -1);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_plock.c - byte-range locks across nodes (src/fs/posix_locks.c over
 * cluster/plock.h): two nodes (processes, each its own engine on one shared
 * directory) step through a script in lockstep over a pair of pipes.
 *
 * - OFD locks: A holds F_WRLCK [0,99]; B's F_OFD_SETLK of [50] fails with
 *   EAGAIN (F_RDLCK too), F_OFD_GETLK reports A's range (l_pid -1), B's
 *   lock of [100,199] is granted (disjoint); read locks on both nodes are
 *   granted together; A unlocks the middle [40,59]: B's [45] is granted,
 *   [39] and [60] still fail; A's close releases the rest.
 * - POSIX locks of named owners (pc_posix_lock, the FUSE mount's): A's
 *   owner 1 holds F_WRLCK [0,9]; B's owners fail, F_GETLK reports pid 0
 *   (another node's); A's whole-file unlock of owner 1 (a close(2) on the
 *   mount) lets B in; B's lock then keeps A's OFD lock out (one table).
 * - A blocking F_SETLKW on B waits while A holds the range (B sees itself
 *   asleep in cluster_plock_wait before A is told to let go) and is granted
 *   after A's unlock - and after A's close, in a second round; a cancelled
 *   one (pc_posix_lock with a token) returns EINTR and leaves nothing: A's
 *   F_SETLK after its own unlock is granted... and B's later F_SETLK too.
 * - locks_test_plock_local_only (the ranges not published, locks per node
 *   as before): B's F_WRLCK is granted while A holds one on the same range.
 * - A node that loses its session loses its byte-range locks: A holds
 *   F_WRLCK [0,9] and is SIGSTOPped; B's blocking F_SETLKW of [0,9] is
 *   granted once A's session expired; A, continued and rejoined, locks
 *   [20,29] - and B, having unlocked, finds [0,9] free (F_GETLK): A dropped
 *   the lock of its lost session at that change instead of publishing it
 *   again. locks_test_plock_keep_lost: A's change publishes its lost
 *   [0,9] again while B holds it (B's F_GETLK reports A's range).
 * - The file a lost lock was set through is fenced: the same loss, then
 *   A's owner, which still thinks it holds [0,9], writes through that file:
 *   EIO; after a lock change (the lost lock dropped) write, fsync and
 *   ftruncate through it still fail; a new open of the file writes.
 *   locks_test_plock_no_fence: A's write lands while B holds the range.
 *
 * A node's exit status: 0 as expected, 13 both nodes held a write lock on
 * one range, 16 a lost lock published again, 17 a write through the file
 * of a lost lock, else a failure (its stderr says which).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/engine.h"
#include "cluster/lock_module.h"
#include "cluster/lockstep.h"
#include "cluster/node_fixture.h"
#include "fs/locks.h"
#include "harness.h"
#include "pagecache.h"

#define BOTH_WRITE	  13
#define STALE_REPUBLISHED 16
#define FENCE_MISSED	  17

struct shared {
	int b_waiting;	 /* B: its F_SETLKW sleeps on the lock service's table */
	int a_unlocking; /* A: about to let go (B's grant must see it) */
	/* the session loss cases: */
	int a_locked, a_stopped, b_locked, resumed, a_published, b_checked;
};

static int open_f(struct ls_node *n)
{
	int fd = pc_open(n->e, "f", O_RDWR, 0);

	if (fd < 0)
		LS_FAIL(n, "open f: %s", strerror(-fd));
	return fd;
}

static struct flock rng(short type, off_t start, off_t len)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = start;
	fl.l_len = len;
	return fl;
}

/* An OFD lock call that must return @want. */
static void ofd_is(struct ls_node *n, int fd, int cmd, short type, off_t start, off_t len, int want,
		   int line)
{
	struct flock fl = rng(type, start, len);
	int r = pc_ofd_lock(n->e, fd, cmd, &fl);

	if (r != want) {
		fprintf(stderr, "node %c: line %d: OFD lock %d [%lld,+%lld) = %d (%s), want %d\n",
			ls_name(n), line, type, (long long)start, (long long)len, r,
			r ? strerror(-r) : "granted", want);
		_exit(1);
	}
}
#define OFD_IS(n, fd, type, start, len, want) \
	ofd_is(n, fd, F_OFD_SETLK, type, start, len, want, __LINE__)

/* A POSIX lock of @owner that must return @want. */
static void posix_is(struct ls_node *n, int fd, uint64_t owner, short type, off_t start, off_t len,
		     int want, int line)
{
	struct flock fl = rng(type, start, len);
	int r;

	fl.l_pid = (pid_t)getpid();
	r = pc_posix_lock(n->e, fd, F_SETLK, &fl, owner, NULL);
	if (r != want) {
		fprintf(stderr, "node %c: line %d: POSIX lock %d [%lld,+%lld) = %d (%s), want %d\n",
			ls_name(n), line, type, (long long)start, (long long)len, r,
			r ? strerror(-r) : "granted", want);
		_exit(1);
	}
}
#define POSIX_IS(n, fd, owner, type, start, len, want) \
	posix_is(n, fd, owner, type, start, len, want, __LINE__)

/* Node @who runs @stmt; then both meet. */
#define STEP(n, who, stmt)                \
	do {                              \
		if ((n)->role == (who)) { \
			stmt;             \
		}                         \
		ls_barrier(n);            \
	} while (0)

static int sc_ofd(struct ls_node *n)
{
	int fd = open_f(n), fd2;
	struct flock fl;

	STEP(n, 0, OFD_IS(n, fd, F_WRLCK, 0, 100, 0));
	if (n->role == 1) {
		OFD_IS(n, fd, F_WRLCK, 50, 1, -EAGAIN);
		OFD_IS(n, fd, F_RDLCK, 50, 1, -EAGAIN);
		fl = rng(F_RDLCK, 50, 1);
		if (pc_ofd_lock(n->e, fd, F_OFD_GETLK, &fl))
			LS_FAIL(n, "F_OFD_GETLK");
		printf("# node B: F_OFD_GETLK of [50]: type %d [%lld,+%lld) pid %d\n", fl.l_type,
		       (long long)fl.l_start, (long long)fl.l_len, fl.l_pid);
		if (fl.l_type != F_WRLCK || fl.l_start != 0 || fl.l_len != 100 || fl.l_pid != -1)
			LS_FAIL(n, "F_OFD_GETLK did not report A's lock");
		OFD_IS(n, fd, F_WRLCK, 100, 100, 0); /* disjoint */
	}
	ls_barrier(n);
	/* A unlocks the middle: [0,39] and [60,99] stay A's */
	STEP(n, 0, OFD_IS(n, fd, F_UNLCK, 40, 20, 0));
	if (n->role == 1) {
		OFD_IS(n, fd, F_WRLCK, 45, 1, 0);
		OFD_IS(n, fd, F_WRLCK, 39, 1, -EAGAIN);
		OFD_IS(n, fd, F_WRLCK, 60, 1, -EAGAIN);
		OFD_IS(n, fd, F_UNLCK, 0, 0, 0);
	}
	ls_barrier(n);
	/* read locks on both nodes; a write lock of either fails */
	STEP(n, 0, OFD_IS(n, fd, F_RDLCK, 0, 100, 0));
	STEP(n, 1, OFD_IS(n, fd, F_RDLCK, 0, 10, 0));
	STEP(n, 0, OFD_IS(n, fd, F_WRLCK, 5, 1, -EAGAIN));
	/* A's other open file: A's own other owner conflicts too (local) */
	if (n->role == 0) {
		fd2 = open_f(n);
		OFD_IS(n, fd2, F_WRLCK, 50, 1, -EAGAIN);
		pc_close(n->e, fd2);
	}
	ls_barrier(n);
	STEP(n, 1, OFD_IS(n, fd, F_UNLCK, 0, 0, 0));
	STEP(n, 0, OFD_IS(n, fd, F_WRLCK, 0, 100, 0)); /* a conversion, B gone */
	STEP(n, 1, OFD_IS(n, fd, F_RDLCK, 99, 1, -EAGAIN));
	/* A's close releases */
	STEP(n, 0, pc_close(n->e, fd));
	if (n->role == 1) {
		OFD_IS(n, fd, F_WRLCK, 0, 0, 0);
		pc_close(n->e, fd);
	}
	printf("# node %c: OFD script done\n", ls_name(n));
	return 0;
}

static int sc_posix(struct ls_node *n)
{
	int fd = open_f(n);
	struct flock fl;

	STEP(n, 0, POSIX_IS(n, fd, 1, F_WRLCK, 0, 10, 0));
	if (n->role == 1) {
		POSIX_IS(n, fd, 1, F_WRLCK, 5, 1, -EAGAIN); /* another node's owner 1 */
		POSIX_IS(n, fd, 2, F_RDLCK, 0, 1, -EAGAIN);
		fl = rng(F_WRLCK, 0, 0);
		if (pc_posix_lock(n->e, fd, F_GETLK, &fl, 2, NULL))
			LS_FAIL(n, "F_GETLK");
		printf("# node B: F_GETLK: type %d [%lld,+%lld) pid %d\n", fl.l_type,
		       (long long)fl.l_start, (long long)fl.l_len, fl.l_pid);
		if (fl.l_type != F_WRLCK || fl.l_start != 0 || fl.l_len != 10 || fl.l_pid != 0)
			LS_FAIL(n, "F_GETLK did not report A's lock");
	}
	ls_barrier(n);
	/* A's owner 1 closes the file (a FUSE flush: unlock the whole file) */
	STEP(n, 0, POSIX_IS(n, fd, 1, F_UNLCK, 0, 0, 0));
	STEP(n, 1, POSIX_IS(n, fd, 2, F_WRLCK, 0, 10, 0));
	/* one table: A's OFD lock is kept out by B's POSIX lock */
	STEP(n, 0, OFD_IS(n, fd, F_RDLCK, 9, 1, -EAGAIN));
	STEP(n, 1, POSIX_IS(n, fd, 2, F_UNLCK, 0, 0, 0));
	STEP(n, 0, OFD_IS(n, fd, F_RDLCK, 9, 1, 0));
	pc_close(n->e, fd);
	printf("# node %c: POSIX script done\n", ls_name(n));
	return 0;
}

/* ---- a blocking F_SETLKW on B ---- */

struct setlkw_call {
	struct ls_node *n;
	int fd, ret;
	struct pc_cancel *c;
};

static void *setlkw_thread(void *arg)
{
	struct setlkw_call *sc = arg;
	struct flock fl = rng(F_WRLCK, 5, 1);

	sc->ret = pc_posix_lock(sc->n->e, sc->fd, F_SETLKW, &fl, 2, sc->c);
	return NULL;
}

/* B's main thread: until its other thread sleeps on the lock service's table. */
static void wait_remote_sleeper(struct ls_node *n)
{
	struct timespec t = {0, 1000000};
	unsigned polls = 0;

	while (!__atomic_load_n(&n->e->cluster->plock_wait.nr_waiters, __ATOMIC_ACQUIRE)) {
		if (++polls > 60000)
			LS_FAIL(n, "B's F_SETLKW never waited for the lock service");
		nanosleep(&t, NULL); /* polling its own state, bounded */
	}
}

/* @by_close: A lets go by closing its fd, else by F_UNLCK; @cancel: B's wait is
 * cancelled instead. */
static int blocking(struct ls_node *n, bool by_close, bool cancel)
{
	int fd = open_f(n);

	STEP(n, 0, POSIX_IS(n, fd, 1, F_WRLCK, 0, 10, 0));
	if (n->role == 1) {
		struct setlkw_call sc = {.n = n, .fd = fd, .c = cancel ? pc_cancel_new() : NULL};
		pthread_t th;

		if ((cancel && !sc.c) || pthread_create(&th, NULL, setlkw_thread, &sc))
			LS_FAIL(n, "thread");
		wait_remote_sleeper(n);
		if (cancel)
			pc_cancel_fire(sc.c);
		else
			__atomic_store_n(&n->sh->b_waiting, 1, __ATOMIC_RELEASE);
		pthread_join(th, NULL);
		pc_cancel_free(sc.c);
		if (cancel) {
			if (sc.ret != -EINTR)
				LS_FAIL(n, "cancelled F_SETLKW: %d, want -EINTR", sc.ret);
			printf("# node B: F_SETLKW cancelled: EINTR\n");
		} else {
			if (sc.ret)
				LS_FAIL(n, "F_SETLKW: %s", strerror(-sc.ret));
			if (!__atomic_load_n(&n->sh->a_unlocking, __ATOMIC_ACQUIRE))
				LS_FAIL(n, "F_SETLKW granted while A held the range");
			printf("# node B: F_SETLKW granted after A's %s\n",
			       by_close ? "close" : "unlock");
			POSIX_IS(n, fd, 2, F_UNLCK, 0, 0, 0);
		}
	} else if (!cancel) {
		struct timespec t = {0, 1000000};

		while (!__atomic_load_n(&n->sh->b_waiting, __ATOMIC_ACQUIRE))
			nanosleep(&t, NULL); /* B tells when it sleeps */
		__atomic_store_n(&n->sh->a_unlocking, 1, __ATOMIC_RELEASE);
		if (by_close) {
			pc_close(n->e, fd);
			fd = -1;
		} else {
			POSIX_IS(n, fd, 1, F_UNLCK, 0, 10, 0);
		}
	}
	ls_barrier(n);
	if (cancel) { /* nothing of B's left: A unlocks, then both lock in turn */
		STEP(n, 0, POSIX_IS(n, fd, 1, F_UNLCK, 0, 0, 0));
		STEP(n, 0, POSIX_IS(n, fd, 3, F_WRLCK, 0, 10, 0));
		STEP(n, 0, POSIX_IS(n, fd, 3, F_UNLCK, 0, 0, 0));
		STEP(n, 1, POSIX_IS(n, fd, 2, F_WRLCK, 0, 10, 0));
		STEP(n, 1, POSIX_IS(n, fd, 2, F_UNLCK, 0, 0, 0));
	}
	if (fd >= 0)
		pc_close(n->e, fd);
	return 0;
}

static int sc_blocking_unlock(struct ls_node *n)
{
	return blocking(n, false, false);
}

static int sc_blocking_close(struct ls_node *n)
{
	return blocking(n, true, false);
}

static int sc_blocking_cancel(struct ls_node *n)
{
	return blocking(n, false, true);
}

/* ---- the switch: both nodes hold a write lock ---- */

static int sc_local_only(struct ls_node *n)
{
	int fd = open_f(n), ret = 0, r;
	struct flock fl;

	STEP(n, 0, OFD_IS(n, fd, F_WRLCK, 0, 10, 0));
	if (n->role == 1) {
		fl = rng(F_WRLCK, 0, 10);
		r = pc_ofd_lock(n->e, fd, F_OFD_SETLK, &fl);
		printf("# node B: F_WRLCK [0,9] while A holds it: %s\n",
		       r ? strerror(-r) : "granted (both nodes hold a write lock)");
		ret = r == 0 ? BOTH_WRITE : r == -EAGAIN ? 0 : 1;
	}
	ls_barrier(n);
	pc_close(n->e, fd);
	return ret;
}

/* Runs @fn on two nodes over a fresh store. */
static void plock_case(int (*fn)(struct ls_node *n), bool hazard, int a, int b)
{
	struct shared *sh = ls_shared_map(sizeof(*sh));
	char store[600];
	int st[2];

	ls_fresh_store(store, sizeof(store));
	ls_run2(&(struct ls_node){.dir = store,
				  .url = nf_cluster_url(),
				  .hazard = hazard,
				  .sw = &locks_test_plock_local_only,
				  .fn = fn,
				  .sh = sh},
		st);
	ls_shared_unmap(sh, sizeof(*sh));
	ls_expect(st, a, b);
}

TEST(ofd_locks_across_nodes)
{
	plock_case(sc_ofd, false, 0, 0);
}

TEST(posix_owner_locks_across_nodes)
{
	plock_case(sc_posix, false, 0, 0);
}

TEST(setlkw_granted_after_remote_unlock)
{
	plock_case(sc_blocking_unlock, false, 0, 0);
}

TEST(setlkw_granted_after_remote_close)
{
	plock_case(sc_blocking_close, false, 0, 0);
}

TEST(setlkw_cancelled_leaves_nothing)
{
	plock_case(sc_blocking_cancel, false, 0, 0);
}

TEST(write_lock_exclusive_across_nodes)
{
	plock_case(sc_local_only, false, 0, 0);
}

TEST(write_lock_local_only_shows_both)
{
	plock_case(sc_local_only, true, 0, BOTH_WRITE);
}

/* ---- a node loses its session while it holds a write lock ---- */

#define LOSS_SESSION_MS 2000

/* A: holds W[0,9] for owner 1, is stopped past its session (B's F_SETLKW
 * is granted meanwhile), continued, and rejoins. */
static void a_lock_until_rejoined(struct ls_node *n, int fd)
{
	uint64_t gen = ls_generation(n);

	POSIX_IS(n, fd, 1, F_WRLCK, 0, 10, 0);
	__atomic_store_n(&n->sh->a_locked, 1, __ATOMIC_RELEASE);
	ls_poll_until(&n->sh->resumed); /* stopped past the session meanwhile */
	if (!ls_wait_rejoin(n, gen, 60000))
		LS_FAIL(n, "no rejoin within 60 s");
}

/* B: F_SETLKW of [0,9] for owner 2, granted once A's session expired. */
static void b_lock_after_a_lost(struct ls_node *n, int fd)
{
	struct flock w = rng(F_WRLCK, 0, 10);
	int err;

	ls_poll_until(&n->sh->a_locked);
	__atomic_store_n(&n->sh->b_waiting, 1, __ATOMIC_RELEASE);
	err = pc_posix_lock(n->e, fd, F_SETLKW, &w, 2, NULL);
	if (err)
		LS_FAIL(n, "F_SETLKW: %s", strerror(-err));
	if (!__atomic_load_n(&n->sh->a_stopped, __ATOMIC_ACQUIRE))
		LS_FAIL(n, "F_SETLKW granted while A held [0,9], alive");
	__atomic_store_n(&n->sh->b_locked, 1, __ATOMIC_RELEASE);
}

static int loss_node(void *arg)
{
	struct ls_node *n = arg;
	int fd, ret = 0;
	struct flock fl;

	/* A's session expires while it is stopped; B's is the default */
	ls_open_engine(n, n->role == 0 ? LOSS_SESSION_MS : 0);
	fd = open_f(n);
	if (n->role == 0) {
		a_lock_until_rejoined(n, fd);
		/* A change of the file after the rejoin: the lost [0,9] goes
		 * (or, with the switch, is published again) */
		POSIX_IS(n, fd, 3, F_WRLCK, 20, 10, 0);
		__atomic_store_n(&n->sh->a_published, 1, __ATOMIC_RELEASE);
		printf("# node A: rejoined, F_WRLCK [20,29] granted\n");
		ls_poll_until(&n->sh->b_checked); /* its close would take the ranges away */
	} else {
		b_lock_after_a_lost(n, fd);
		printf("# node B: F_SETLKW [0,9] granted after A's session expired\n");
		ls_poll_until(&n->sh->a_published);
		POSIX_IS(n, fd, 2, F_UNLCK, 0, 0, 0);
		fl = rng(F_WRLCK, 0, 10);
		if (pc_posix_lock(n->e, fd, F_GETLK, &fl, 4, NULL))
			LS_FAIL(n, "F_GETLK");
		printf("# node B: after A's change, F_GETLK of [0,9]: %s\n",
		       fl.l_type == F_UNLCK ? "free" : "A's lost range published again");
		ret = fl.l_type == F_UNLCK ? 0 : STALE_REPUBLISHED;
		/* and A's new lock is there (A closes only after this) */
		POSIX_IS(n, fd, 4, F_WRLCK, 25, 1, -EAGAIN);
		__atomic_store_n(&n->sh->b_checked, 1, __ATOMIC_RELEASE);
	}
	return ls_node_end(n, fd, ret);
}

/* A session-loss case: @node_fn's two nodes, the case's switch @sw. */
static void loss_run(int (*node_fn)(void *arg), bool *sw, bool hazard, int want_a, int want_b)
{
	struct shared *sh = ls_shared_map(sizeof(*sh));
	int st[2];

	ls_loss_case(
	    node_fn, sw, hazard, sh,
	    &(struct ls_loss_flags){&sh->b_waiting, &sh->a_stopped, &sh->b_locked, &sh->resumed},
	    st);
	ls_shared_unmap(sh, sizeof(*sh));
	ls_expect(st, want_a, want_b);
}

TEST(plock_lost_with_the_session)
{
	loss_run(loss_node, &locks_test_plock_keep_lost, false, 0, 0);
}

TEST(plock_lost_with_the_session_keep_lost_shows_republished)
{
	loss_run(loss_node, &locks_test_plock_keep_lost, true, 0, STALE_REPUBLISHED);
}

/* ---- the file whose lock was lost is fenced ---- */

/* A's pwrite of "A!" at 0 through @fd: 0 written, else -errno. */
static int a_write(struct ls_node *n, int fd)
{
	ssize_t w = pc_pwrite(n->e, fd, "A!", 2, 0);

	return w == 2 ? 0 : w < 0 ? (int)w : -EIO;
}

static int fence_node(void *arg)
{
	struct ls_node *n = arg;
	int err, fd, fd2, ret = 0;

	ls_open_engine(n, n->role == 0 ? LOSS_SESSION_MS : 0);
	fd = open_f(n);
	if (n->role == 0) {
		a_lock_until_rejoined(n, fd);
		/* Owner 1 still thinks it holds [0,9]; B holds it now. */
		err = a_write(n, fd);
		printf("# node A: rejoined; its write through the file of its lost lock: %s\n",
		       err ? strerror(-err) : "written (B holds the range)");
		if (!err)
			ret = FENCE_MISSED;
		else if (err != -EIO)
			LS_FAIL(n, "write: %s, not EIO", strerror(-err));
		if (!ret) {
			/* Lock calls go on (the lost lock is dropped at this
			 * change); the file stays fenced until closed ... */
			POSIX_IS(n, fd, 1, F_WRLCK, 20, 10, 0);
			if (a_write(n, fd) != -EIO || pc_fsync(n->e, fd) != -EIO ||
			    pc_ftruncate(n->e, fd, 100) != -EIO)
				LS_FAIL(n, "the fenced file did I/O after a lock change");
			/* ... and another open of the file is not fenced */
			fd2 = open_f(n);
			if (pc_pwrite(n->e, fd2, "a", 1, 50) != 1)
				LS_FAIL(n, "write through a new open failed");
			pc_close(n->e, fd2);
			printf("# node A: still fenced after a lock change (write, fsync, "
			       "ftruncate: EIO); a new open of the file writes\n");
		}
		__atomic_store_n(&n->sh->a_published, 1, __ATOMIC_RELEASE);
		ls_poll_until(&n->sh->b_checked);
	} else {
		b_lock_after_a_lost(n, fd);
		ls_poll_until(&n->sh->a_published);
		__atomic_store_n(&n->sh->b_checked, 1, __ATOMIC_RELEASE);
	}
	return ls_node_end(n, fd, ret);
}

TEST(plock_lost_fences_the_file)
{
	loss_run(fence_node, &locks_test_plock_no_fence, false, 0, 0);
}

TEST(plock_lost_fences_the_file_no_fence_shows_write)
{
	loss_run(fence_node, &locks_test_plock_no_fence, true, FENCE_MISSED, 0);
}

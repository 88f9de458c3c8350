/* SPDX-License-Identifier: MIT */
/*
 * test_flock.c - flock(2) across nodes (src/fs/flock_glock.c): two nodes
 * (processes, each its own engine on one shared directory) step through a
 * script in lockstep over a pair of pipes.
 *
 * - LOCK_EX on A, then LOCK_EX|LOCK_NB on B fails with EWOULDBLOCK (and so
 *   does LOCK_SH|LOCK_NB, and A's own LOCK_EX|LOCK_NB on another open file,
 *   at once); after A's LOCK_UN, B's LOCK_EX|LOCK_NB is granted.
 * - LOCK_SH on both nodes is granted (B with LOCK_NB); B's LOCK_EX|LOCK_NB
 *   fails meanwhile, and A's LOCK_SH|LOCK_NB on a second open file is still
 *   granted (the demote request B's try left does not hold it up).
 * - A's close of its locked file releases the lock: B's LOCK_NB is granted.
 * - A conversion: A holds LOCK_SH, converts to LOCK_EX (dropping the SH
 *   first); B's LOCK_SH|LOCK_NB then fails.
 * - A blocking LOCK_EX on B waits while A holds LOCK_EX and is granted once
 *   A lets go: A waits until its flock glock has B's request (its demote
 *   pending: real synchronization, no sleep orders the nodes), records
 *   that it unlocks, unlocks; B's grant must come after that record.
 * - A node that loses its session loses its flock lock: A holds LOCK_EX
 *   and is SIGSTOPped; B's blocking LOCK_EX is granted once A's session
 *   expired; A, continued, withdraws (a flock held by an open file does not
 *   hold the withdrawal up) and rejoins before it unlocks and closes.
 *   glock_test_withdraw_waits_file_holders: A's withdrawal waits for the
 *   flock's holder: no rejoin until A lets go (15 s bound).
 * - cluster_test_flock_local_only (the glock skipped, flock per node as
 *   before): B's LOCK_EX|LOCK_NB is granted while A holds LOCK_EX (both
 *   nodes hold EX).
 * - A cancelled flock (pc_flock_cancelable: the FUSE mount's interrupted
 *   flock(2)): B's blocking LOCK_EX waits for A's (A sees B's request
 *   arrive), B fires the token: -EINTR; A unlocks, and A's LOCK_EX|LOCK_NB
 *   is granted (B's request was withdrawn from the lock service).
 *   glock_test_cancel_leaves_request: B's request stays queued, is granted
 *   to B after A's unlock, and A's LOCK_NB fails though nobody holds a
 *   flock.
 *
 * A node's exit status: 0 as expected, 13 both nodes held LOCK_EX, 14 the
 * withdrawal hung on the flock, 15 a flock -n failed after a cancelled
 * request, else a failure (its stderr says which).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "api/engine.h"
#include "cluster/lock_module.h"
#include "cluster/lockstep.h"
#include "cluster/node_fixture.h"
#include "fs/file.h"
#include "fs/flock_glock.h"
#include "fs/inode.h"
#include "harness.h"
#include "pagecache.h"

#define BOTH_EX	      13
#define WITHDRAW_HUNG 14
#define LEFT_REQUEST  15

struct shared {
	int a_unlocking;   /* A: about to LOCK_UN (B's blocking grant must see it) */
	int a_saw_request; /* A: B's blocking request reached A's flock glock */
	/* the session loss case: */
	int a_locked, b_waiting, a_stopped, b_locked, resumed;
	/* the LOCK_NB stream case: A's attempts made, granted, failed, held
	 * now; what B saw at its grant */
	unsigned nb_n, attempts, acquired, failed, inside, stop;
	unsigned a_streaming, b_granted, b_saw_acquired, b_saw_inside;
	/* A's LOCK_NB with no request of B's: lock service use */
	unsigned long long cached_nq, cached_remote, cached_requests;
};

static int open_f(struct ls_node *n)
{
	int fd = pc_open(n->e, "f", O_RDWR, 0);

	if (fd < 0)
		LS_FAIL(n, "open f: %s", strerror(-fd));
	return fd;
}

/* flock that must return @want. */
static void flock_is(struct ls_node *n, int fd, int op, int want, int line)
{
	int r = pc_flock(n->e, fd, op);

	if (r != want) {
		fprintf(stderr, "node %c: line %d: flock(0x%x) = %d (%s), want %d\n", ls_name(n),
			line, op, r, r ? strerror(-r) : "granted", want);
		_exit(1);
	}
}
#define FLOCK_IS(n, fd, op, want) flock_is(n, fd, op, want, __LINE__)
/* A step of the script: node @who (0: A, 1: B) flocks @fd with @op, which
 * must return @want; then both nodes meet. */
#define FLOCK_STEP(n, who, fd, op, want)           \
	do {                                       \
		if ((n)->role == (who))            \
			FLOCK_IS(n, fd, op, want); \
		ls_barrier(n);                     \
	} while (0)

/* Whether another node asked for @fd's flock glock (its demote pending). */
static bool demote_pending(struct ls_node *n, int fd)
{
	struct file *f = fdget(&n->e->fdt, fd);
	struct glock *gl;
	bool pending = false;

	if (!f)
		LS_FAIL(n, "fdget");
	gl = __atomic_load_n(&f->f_inode->i_flock_gl, __ATOMIC_ACQUIRE);
	if (gl) {
		mutex_lock(&gl->gl_lock);
		pending = gl->gl_flags & GLF_DEMOTE;
		mutex_unlock(&gl->gl_lock);
	}
	fdput(n->e, f);
	return pending;
}

/* Waits (polling) until another node's request reached @fd's flock glock. */
static void wait_demote_pending(struct ls_node *n, int fd)
{
	struct timespec t = {0, 1000000};
	unsigned polls = 0;

	while (!demote_pending(n, fd)) {
		if (++polls > 120000)
			LS_FAIL(n, "the other node's request never reached the flock glock");
		nanosleep(&t, NULL);
	}
}

/* ---- LOCK_EX vs LOCK_NB, SH + SH, close, conversion ---- */

static int sc_basic(struct ls_node *n)
{
	int fd = open_f(n);

	/* A: LOCK_EX; B: LOCK_NB fails, for either mode */
	FLOCK_STEP(n, 0, fd, LOCK_EX, 0);
	FLOCK_STEP(n, 1, fd, LOCK_SH | LOCK_NB, -EWOULDBLOCK);
	if (n->role == 0) {
		/* B's failed try left A a demote request (to SH): A's
		 * LOCK_EX|LOCK_NB on another open file fails at once (the local
		 * conflict), not queued behind that request until A's lock
		 * goes. */
		int fd2 = open_f(n);

		wait_demote_pending(n, fd);
		FLOCK_IS(n, fd2, LOCK_EX | LOCK_NB, -EWOULDBLOCK);
		pc_close(n->e, fd2);
	}
	ls_barrier(n);
	FLOCK_STEP(n, 1, fd, LOCK_EX | LOCK_NB, -EWOULDBLOCK);
	/* A: LOCK_UN; B: granted, then lets go */
	FLOCK_STEP(n, 0, fd, LOCK_UN, 0);
	if (n->role == 1) {
		FLOCK_IS(n, fd, LOCK_EX | LOCK_NB, 0);
		FLOCK_IS(n, fd, LOCK_UN, 0);
	}
	ls_barrier(n);
	/* SH on both; B's EX|NB fails meanwhile */
	if (n->role == 0) {
		int fd2 = open_f(n);

		FLOCK_IS(n, fd, LOCK_SH, 0);
		/* this node's own conflict: at once, though the flock glock
		 * would have to change state (SH -> EX) under the SH holder */
		FLOCK_IS(n, fd2, LOCK_EX | LOCK_NB, -EWOULDBLOCK);
		pc_close(n->e, fd2);
	}
	ls_barrier(n);
	if (n->role == 1) {
		FLOCK_IS(n, fd, LOCK_SH | LOCK_NB, 0);
		FLOCK_IS(n, fd, LOCK_UN, 0);
		FLOCK_IS(n, fd, LOCK_EX | LOCK_NB, -EWOULDBLOCK);
	}
	ls_barrier(n);
	if (n->role == 0) {
		/* B's failed try left A a demote request (its want node was
		 * bumped): A's own LOCK_SH|LOCK_NB on another open file fails
		 * at once, not queued behind it. A try is never granted under
		 * another node's pending EX request (nb_stream below); this one
		 * was withdrawn, and A cannot tell: a spurious failure until
		 * A's flock goes and the demote runs (docs/cluster.md). */
		int fd2 = open_f(n);

		wait_demote_pending(n, fd);
		FLOCK_IS(n, fd2, LOCK_SH | LOCK_NB, -EWOULDBLOCK);
		pc_close(n->e, fd2);
	}
	ls_barrier(n);
	/* A converts SH -> EX (nobody else holds it); B's SH|NB fails */
	FLOCK_STEP(n, 0, fd, LOCK_EX, 0);
	FLOCK_STEP(n, 1, fd, LOCK_SH | LOCK_NB, -EWOULDBLOCK);
	/* A's close releases; B is granted */
	if (n->role == 0)
		pc_close(n->e, fd);
	ls_barrier(n);
	if (n->role == 1) {
		FLOCK_IS(n, fd, LOCK_EX | LOCK_NB, 0);
		pc_close(n->e, fd); /* releases */
	}
	printf("# node %c: basic script done\n", ls_name(n));
	return 0;
}

/* ---- a blocking LOCK_EX on B, granted after A's LOCK_UN ---- */

static int sc_blocking(struct ls_node *n)
{
	int fd = open_f(n);

	FLOCK_STEP(n, 0, fd, LOCK_EX, 0);
	if (n->role == 1) {
		FLOCK_IS(n, fd, LOCK_EX, 0); /* waits for A */
		if (!__atomic_load_n(&n->sh->a_unlocking, __ATOMIC_ACQUIRE))
			LS_FAIL(n, "LOCK_EX granted while A held LOCK_EX");
		printf("# node B: blocking LOCK_EX granted after A's LOCK_UN\n");
		FLOCK_IS(n, fd, LOCK_UN, 0);
	} else {
		/* B's request reaches A as a demote request of the flock glock. */
		wait_demote_pending(n, fd);
		__atomic_store_n(&n->sh->a_unlocking, 1, __ATOMIC_RELEASE);
		FLOCK_IS(n, fd, LOCK_UN, 0);
	}
	ls_barrier(n);
	pc_close(n->e, fd);
	return 0;
}

/* ---- a stream of LOCK_NB flocks on A against B's blocking LOCK_EX ---- */

#define NB_STREAM_MAX 2000u
#define NB_CACHED     100u

struct nb_thread {
	struct ls_node *n;
	unsigned idx;
	int fd;
};

static unsigned ld(const unsigned *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void st(unsigned *p, unsigned v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Attempt k (k = idx, idx + 2, ...) is made once attempt k - 1 is done;
 * granted, it is held until attempt k + 1 is done: while the attempts
 * succeed, A always holds one (the flock glock never goes). */
static void *nb_thread(void *p)
{
	struct nb_thread *t = p;
	struct shared *sh = t->n->sh;
	unsigned k;
	int r;

	for (k = t->idx;; k += 2) {
		while (ld(&sh->attempts) < k && !ld(&sh->stop))
			sched_yield();
		if (ld(&sh->b_granted) || k >= sh->nb_n)
			st(&sh->stop, 1);
		if (ld(&sh->stop))
			break;
		r = pc_flock(t->n->e, t->fd, LOCK_SH | LOCK_NB);
		if (r == 0) {
			__atomic_add_fetch(&sh->inside, 1, __ATOMIC_ACQ_REL);
			__atomic_add_fetch(&sh->acquired, 1, __ATOMIC_ACQ_REL);
		} else if (r == -EWOULDBLOCK) {
			__atomic_add_fetch(&sh->failed, 1, __ATOMIC_ACQ_REL);
		} else {
			LS_FAIL(t->n, "LOCK_SH|LOCK_NB: %s", strerror(-r));
		}
		st(&sh->attempts, k + 1);
		if (r)
			continue;
		while (ld(&sh->attempts) < k + 2 && !ld(&sh->stop))
			sched_yield();
		__atomic_sub_fetch(&sh->inside, 1, __ATOMIC_ACQ_REL);
		FLOCK_IS(t->n, t->fd, LOCK_UN, 0);
	}
	return NULL;
}

static int sc_nb_stream(struct ls_node *n)
{
	struct shared *sh = n->sh;
	int fd = open_f(n);

	if (n->role == 0) {
		/* Nobody else asks: A's LOCK_NB under its own LOCK_SH is
		 * granted from the cached state, no lock service. */
		struct glock_stats *gs = &n->e->cluster->stats;
		uint64_t nq = atomic_load(&gs->nq_cached), rem = atomic_load(&gs->nq_remote);
		uint64_t req;
		int fd2 = open_f(n);

		FLOCK_IS(n, fd, LOCK_SH, 0);
		nq = atomic_load(&gs->nq_cached);
		rem = atomic_load(&gs->nq_remote);
		req = atomic_load(&gs->lm_requests);
		for (unsigned i = 0; i < NB_CACHED; i++) {
			FLOCK_IS(n, fd2, LOCK_SH | LOCK_NB, 0);
			FLOCK_IS(n, fd2, LOCK_UN, 0);
		}
		sh->cached_nq = atomic_load(&gs->nq_cached) - nq;
		sh->cached_remote = atomic_load(&gs->nq_remote) - rem;
		sh->cached_requests = atomic_load(&gs->lm_requests) - req;
		FLOCK_IS(n, fd, LOCK_UN, 0);
		pc_close(n->e, fd2);
	}
	ls_barrier(n);
	if (n->role == 0) {
		struct nb_thread t[2];
		pthread_t th[2];

		for (unsigned i = 0; i < 2; i++)
			t[i] = (struct nb_thread){n, i, i ? open_f(n) : fd};
		if (pthread_create(&th[0], NULL, nb_thread, &t[0]))
			LS_FAIL(n, "pthread_create");
		while (ld(&sh->acquired) < 1)
			sched_yield();
		/* attempt 0 is held: B asks; the stream goes on once A has
		 * B's request */
		st(&sh->a_streaming, 1);
		wait_demote_pending(n, fd);
		if (pthread_create(&th[1], NULL, nb_thread, &t[1]))
			LS_FAIL(n, "pthread_create");
		for (unsigned i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		pc_close(n->e, t[1].fd);
	} else {
		while (!ld(&sh->a_streaming))
			sched_yield();
		FLOCK_IS(n, fd, LOCK_EX, 0); /* waits for A's stream */
		sh->b_saw_inside = ld(&sh->inside);
		sh->b_saw_acquired = ld(&sh->acquired);
		st(&sh->b_granted, 1);
		FLOCK_IS(n, fd, LOCK_UN, 0);
	}
	ls_barrier(n);
	pc_close(n->e, fd);
	return 0;
}

/* ---- the switch: both nodes hold LOCK_EX ---- */

static int sc_local_only(struct ls_node *n)
{
	int fd = open_f(n), ret = 0, r;

	FLOCK_STEP(n, 0, fd, LOCK_EX, 0);
	if (n->role == 1) {
		r = pc_flock(n->e, fd, LOCK_EX | LOCK_NB);
		printf("# node B: LOCK_EX|LOCK_NB while A holds LOCK_EX: %s\n",
		       r ? strerror(-r) : "granted (both nodes hold EX)");
		ret = r == 0 ? BOTH_EX : r == -EWOULDBLOCK ? 0 : 1;
	}
	ls_barrier(n);
	pc_close(n->e, fd);
	return ret;
}

/* ---- a cancelled blocking flock leaves no request behind ---- */

struct cancel_call {
	struct ls_node *n;
	int fd, ret;
	struct pc_cancel *c;
};

static void *cancel_call_thread(void *arg)
{
	struct cancel_call *cc = arg;

	cc->ret = pc_flock_cancelable(cc->n->e, cc->fd, LOCK_EX, cc->c);
	return NULL;
}

static int sc_cancel(struct ls_node *n)
{
	int fd = open_f(n), ret = 0, r;

	FLOCK_STEP(n, 0, fd, LOCK_EX, 0);
	if (n->role == 1) {
		struct cancel_call cc = {.n = n, .fd = fd, .c = pc_cancel_new()};
		struct timespec t = {0, 1000000};
		pthread_t th;

		if (!cc.c || pthread_create(&th, NULL, cancel_call_thread, &cc))
			LS_FAIL(n, "cancel token or thread");
		while (!__atomic_load_n(&n->sh->a_saw_request, __ATOMIC_ACQUIRE))
			nanosleep(&t, NULL); /* A polls for B's request, bounded */
		pc_cancel_fire(cc.c);
		pthread_join(th, NULL);
		pc_cancel_free(cc.c);
		if (cc.ret != -EINTR)
			LS_FAIL(n, "cancelled LOCK_EX: %d, want -EINTR", cc.ret);
		printf("# node B: blocking LOCK_EX cancelled: EINTR\n");
	} else {
		wait_demote_pending(n, fd);
		__atomic_store_n(&n->sh->a_saw_request, 1, __ATOMIC_RELEASE);
	}
	ls_barrier(n);
	FLOCK_STEP(n, 0, fd, LOCK_UN, 0);
	if (n->role == 0) {
		r = pc_flock(n->e, fd, LOCK_EX | LOCK_NB);
		printf("# node A: LOCK_EX|LOCK_NB after B's cancelled request: %s\n",
		       r ? strerror(-r) : "granted");
		ret = r == 0 ? 0 : r == -EWOULDBLOCK ? LEFT_REQUEST : 1;
		if (!r)
			FLOCK_IS(n, fd, LOCK_UN, 0);
	}
	ls_barrier(n);
	pc_close(n->e, fd);
	return ret;
}

/* Runs @fn on two nodes over a fresh store and checks their exit
 * statuses: @a for A, @b for B. */
static void flock_case_sw(int (*fn)(struct ls_node *n), bool *sw, bool hazard, int a, int b)
{
	const char *url = nf_cluster_url();
	struct shared *sh = ls_shared_map(sizeof(*sh));
	char store[600];
	int st[2];

	ls_fresh_store(store, sizeof(store));
	ls_run2(
	    &(struct ls_node){
		.dir = store, .url = url, .hazard = hazard, .sw = sw, .fn = fn, .sh = sh},
	    st);
	ls_shared_unmap(sh, sizeof(*sh));
	ls_expect(st, a, b);
}

static void flock_case(int (*fn)(struct ls_node *n), bool hazard, int a, int b)
{
	flock_case_sw(fn, &cluster_test_flock_local_only, hazard, a, b);
}

/* ---- a node loses its session while it holds LOCK_EX ---- */

#define LOSS_SESSION_MS 2000

static int loss_node(void *arg)
{
	struct ls_node *n = arg;
	int err, fd, ret = 0;

	/* A's session expires while it is stopped; B's is the default */
	ls_open_engine(n, n->role == 0 ? LOSS_SESSION_MS : 0);
	fd = open_f(n);
	if (n->role == 0) {
		uint64_t gen = ls_generation(n);
		unsigned bound = n->hazard ? 15000u : 60000u;

		FLOCK_IS(n, fd, LOCK_EX, 0);
		__atomic_store_n(&n->sh->a_locked, 1, __ATOMIC_RELEASE);
		ls_poll_until(&n->sh->resumed); /* stopped past the session meanwhile */
		/* The withdrawal (and the rejoin after it) with the flock still
		 * held by the open file: it must not wait for that holder. */
		if (!ls_wait_rejoin(n, gen, bound)) {
			printf("# node A: no rejoin within %u s: the withdrawal waits for "
			       "the flock's holder\n",
			       bound / 1000);
			ret = WITHDRAW_HUNG; /* LOCK_UN below lets it go on */
		}
		err = pc_flock(n->e, fd, LOCK_UN);
		printf("# node A: LOCK_UN after the session loss: %s\n",
		       err ? strerror(-err) : "0");
	} else {
		ls_poll_until(&n->sh->a_locked);
		__atomic_store_n(&n->sh->b_waiting, 1, __ATOMIC_RELEASE);
		FLOCK_IS(n, fd, LOCK_EX, 0); /* granted once A's session expired */
		if (!__atomic_load_n(&n->sh->a_stopped, __ATOMIC_ACQUIRE))
			LS_FAIL(n, "LOCK_EX granted while A held LOCK_EX, alive");
		__atomic_store_n(&n->sh->b_locked, 1, __ATOMIC_RELEASE);
		ls_poll_until(&n->sh->resumed);
		FLOCK_IS(n, fd, LOCK_UN, 0);
	}
	return ls_node_end(n, fd, ret);
}

static void loss_case(bool hazard)
{
	struct shared *sh = ls_shared_map(sizeof(*sh));
	int st[2];

	ls_loss_case(
	    loss_node, &glock_test_withdraw_waits_file_holders, hazard, sh,
	    &(struct ls_loss_flags){&sh->b_waiting, &sh->a_stopped, &sh->b_locked, &sh->resumed},
	    st);
	ls_shared_unmap(sh, sizeof(*sh));
	ls_expect(st, hazard ? WITHDRAW_HUNG : 0, 0);
}

TEST(flock_lost_with_the_session)
{
	loss_case(false);
}

TEST(flock_lost_with_the_session_withdraw_waits_shows_hang)
{
	loss_case(true);
}

/* A's threads hand overlapping LOCK_SH|LOCK_NB flocks on (one always held)
 * while B asks LOCK_EX, blocking: A's next try fails once B's request is
 * there, A's flocks drain and B is granted after a few of A's holders.
 * glock_test_try_ignores_remote_ex: A's tries are granted from the cached
 * state under B's request, and B only after A's whole stream. */
static void nb_stream_case(bool hazard)
{
	const char *url = nf_cluster_url();
	struct shared *sh = ls_shared_map(sizeof(*sh));
	char store[600];
	int st[2];

	ls_fresh_store(store, sizeof(store));
	sh->nb_n = (unsigned)test_scale(NB_STREAM_MAX, 4);
	ls_run2(&(struct ls_node){.dir = store,
				  .url = url,
				  .hazard = hazard,
				  .sw = &glock_test_try_ignores_remote_ex,
				  .fn = sc_nb_stream,
				  .sh = sh},
		st);
	ls_expect(st, 0, 0);
	printf("# A's LOCK_NB under its LOCK_SH, nobody else asking: %u tries, %llu granted from "
	       "the cached state, %llu needed the lock service, %llu requests sent\n",
	       NB_CACHED, sh->cached_nq, sh->cached_remote, sh->cached_requests);
	CHECK_EQ(sh->cached_nq, NB_CACHED);
	CHECK_EQ(sh->cached_remote, 0);
	CHECK_EQ(sh->cached_requests, 0);
	printf("# %s: B's LOCK_EX granted after %u of A's LOCK_NB flocks (stream of at most %u; "
	       "%u of A's tries failed)\n",
	       hazard ? "try ignores B's request" : "fixed", sh->b_saw_acquired, sh->nb_n,
	       sh->failed);
	CHECK_EQ(sh->b_saw_inside, 0);
	if (hazard) {
		/* starved: B came only after A's stream ran out */
		CHECK_EQ(sh->b_saw_acquired, sh->nb_n);
	} else {
		CHECK(sh->b_saw_acquired >= 1 && sh->b_saw_acquired < sh->nb_n / 4);
		CHECK(sh->failed >= 1);
	}
	ls_shared_unmap(sh, sizeof(*sh));
}

TEST(flock_nb_stream_lets_remote_ex_in)
{
	nb_stream_case(false);
}

TEST(flock_nb_stream_try_ignores_remote_ex_starves)
{
	nb_stream_case(true);
}

TEST(flock_ex_nb_sh_close_convert)
{
	flock_case(sc_basic, false, 0, 0);
}

TEST(flock_blocking_granted_after_unlock)
{
	flock_case(sc_blocking, false, 0, 0);
}

TEST(flock_exclusive_across_nodes)
{
	flock_case(sc_local_only, false, 0, 0);
}

TEST(flock_local_only_shows_both_ex)
{
	flock_case(sc_local_only, true, 0, BOTH_EX);
}

TEST(flock_cancel_withdraws_request)
{
	flock_case_sw(sc_cancel, &glock_test_cancel_leaves_request, false, 0, 0);
}

TEST(flock_cancel_withdraws_request_leaves_request_shows)
{
	flock_case_sw(sc_cancel, &glock_test_cancel_leaves_request, true, LEFT_REQUEST, 0);
}

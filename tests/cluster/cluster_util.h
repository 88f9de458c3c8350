/* SPDX-License-Identifier: MIT */
/*
 * cluster_util.h - shared by the cluster tests: one ZooKeeper fixture per
 * test process (started on first use, stopped at exit), nodes (struct
 * cluster) on a fresh root path per case, and a cross-node grant checker.
 */
#ifndef PC_TESTS_CLUSTER_UTIL_H
#define PC_TESTS_CLUSTER_UTIL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "cluster/glock.h"
#include "cluster/lock_module.h"
#include "zk_fixture.h"

/* The fixture (skips the case if ZooKeeper is not installed). */
struct zk_fixture *zk(void);
/* A root URL unique to this process and @tag. */
void zk_root(const char *tag, char *url, size_t size);
/* Mounts node @name on @url (the case fails on error). */
struct cluster *node_mount(const char *url, const char *name, unsigned session_ms,
			   unsigned min_hold_ms);

/* The checker: every grant and release of every node of this process. */
void checker_reset(void);
void checker_grant(int node, unsigned glock, enum gl_state s);
void checker_release(int node, unsigned glock, enum gl_state s);
/* Conflicting grants seen (EX with anything, SH with DF, on two nodes). */
unsigned long checker_conflicts(void);

uint64_t ms_now(void);

/* Two nodes "A" and "B" on a fresh root for @tag (minimum hold 1 ms). */
void node_mount_two(const char *tag, unsigned session_ms, struct cluster **a, struct cluster **b);
/* The children of @path at the lock service, counted through @c's handle
 * (under its zh_lock): the case fails if @path cannot be listed. */
int node_zk_children(struct cluster *c, const char *path);
/* Waits (20 s at most) until @cond holds (answers of the server to
 * come); the case fails if it does not. */
#define WAIT_UNTIL(cond)                                         \
	do {                                                     \
		uint64_t t0_ = ms_now();                         \
		while (!(cond) && ms_now() - t0_ < 20000)        \
			usleep(1000);                            \
		CHECKF(cond, "timed out waiting for %s", #cond); \
	} while (0)
/* A node's statistic (struct glock_stats), read once. */
static inline uint64_t node_stat(_Atomic uint64_t *v)
{
	return atomic_load(v);
}
/* How many glocks node @c has now (under its hash_lock). */
unsigned node_nglocks(struct cluster *c);
/* Takes @gl in @st and lets it go: the node keeps the state cached. */
void glock_take(struct glock *gl, enum gl_state st);
/* A thread's request (pthread_create(..., node_nq_thread, &nq)): @gl taken
 * in @st, glock_nq's result in @ret, @done set once it returned; then let
 * go (the node keeps the state cached). */
struct node_nq {
	struct glock *gl;
	enum gl_state st;
	int ret;
	_Atomic bool done;
};
void *node_nq_thread(void *node_nq);
/* @gl's gl_flags, read under its gl_lock. */
unsigned node_gl_flags(struct glock *gl);
/* Node "A" on a fresh root for @tag (minimum hold @min_hold_ms), holding
 * glock @num (*@glp, a reference) cached in @st: the cases' prologue. */
struct cluster *node_mount_cached(const char *tag, unsigned min_hold_ms, uint64_t num,
				  enum gl_state st, struct glock **glp);

/* A node's random load (test_glock_gc, test_glock_sweep): @iters times,
 * a random glock of @first..@first+@nglocks-1 got, taken in a random state
 * (checked by the checker as node @node), let go and put: the worker
 * releases and frees it, and the free tries to delete its lock node. */
struct rworker {
	struct cluster *c;
	int node;
	uint64_t seed;
	unsigned long iters;
	uint64_t first;
	unsigned nglocks;
};
void *node_random_load(void *rworker);

/* Byte-range locks at the lock service (test_plock_zk, test_plock_zk_cache):
 * the file their cases lock, a range, a publish of @set whose last range is
 * the one wanted (the call's result; @conflict may be NULL), a release of
 * everything. */
struct plock_range;
extern const struct lm_lockname PLOCK_FILE1;
struct plock_range plock_rng(int type, int64_t s, int64_t e);
int plock_take(struct cluster *c, const struct plock_range *set, unsigned n,
	       struct plock_range *conflict);
int plock_release_all(struct cluster *c);

#endif

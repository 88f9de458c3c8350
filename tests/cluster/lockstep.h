/* SPDX-License-Identifier: MIT */
/*
 * lockstep.h - two nodes (processes forked from the test, each its own
 * engine on one shared store directory, node_fixture.h) that step through
 * one script in lockstep over a pair of pipes: test_flock, test_generation
 * and test_glock_ops.
 *
 * struct shared is each test's own (the case's parameters and the state its
 * two nodes share): the test defines it, ls_shared_map maps it MAP_SHARED.
 *
 * No locks: the test's side runs in the thread running the case, a node's
 * side in the node process (single-threaded until its engine opens).
 */
#ifndef PC_TESTS_CLUSTER_LOCKSTEP_H
#define PC_TESTS_CLUSTER_LOCKSTEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

struct pc_engine;
struct shared;

struct ls_node {
	const char *dir, *url;	      /* the shared store, the lock service */
	int role;		      /* 0: A, 1: B */
	bool hazard;		      /* the case with the test's switch on */
	bool *sw;		      /* NULL, or the switch a hazard node turns on first */
	int (*fn)(struct ls_node *n); /* the script, run by both nodes */
	struct shared *sh;	      /* the test's own, shared by the nodes */
	int out, in;		      /* pipes to and from the other node */
	int close1, close2;	      /* the other node's ends */
	struct pc_engine *e;
};

/* 'A' or 'B'. */
static inline char ls_name(const struct ls_node *n)
{
	return (char)('A' + n->role);
}

/* Both nodes reach the same point of their scripts; a node whose peer
 * ended exits 2. */
void ls_barrier(struct ls_node *n);

/* A node's failure: its line and message on stderr, exit status 1. */
#define LS_FAIL(n, ...)                                                      \
	do {                                                                 \
		fprintf(stderr, "node %c: line %d: ", ls_name(n), __LINE__); \
		fprintf(stderr, __VA_ARGS__);                                \
		fprintf(stderr, "\n");                                       \
		_exit(1);                                                    \
	} while (0)

/* A zeroed struct shared of @size bytes, shared with the nodes forked
 * after; ls_shared_unmap lets go of it. */
struct shared *ls_shared_map(size_t size);
void ls_shared_unmap(struct shared *sh, size_t size);

/* In a node: closes the other node's pipe ends, turns *n->sw on where
 * n->hazard, opens the node's engine (named "nodeA" / "nodeB", minimum hold
 * 1 ms, a session of @session_ms, 0: the default) into n->e. */
void ls_open_engine(struct ls_node *n, unsigned session_ms);

/* Runs two nodes made from @tmpl (dir, url, hazard, sw, fn, sh; role, pipes
 * and engine filled in): each opens its engine, meets the other, runs
 * tmpl->fn, meets the other again (neither closes, writing back, before the
 * other is done), closes its engine. st[]: their exit statuses (nf_wait). */
void ls_run2(const struct ls_node *tmpl, int st[2]);

/* Checks the nodes' exit statuses. */
void ls_expect(const int st[2], int a, int b);

/* A fresh shared store (nf_fresh) with an empty file "f" in it. */
void ls_fresh_store(char *store, size_t len);

/* The flags of a session-loss case, in the case's struct shared. */
struct ls_loss_flags {
	int *b_waiting; /* B: about to wait for A's lock (set by B) */
	int *a_stopped; /* A is stopped (set here) */
	int *b_locked;	/* B was granted: A's session expired (set by B) */
	int *resumed;	/* A was continued (set here) */
};

/* A session-loss case (test_flock, test_plock): two nodes made from @tmpl
 * (dir, url, hazard, sw, sh; no pipes: they meet through sh) run @node_fn
 * (which opens its own engine, ls_open_engine, A with a short session).
 * Once B is waiting, A is SIGSTOPped past its session; once B is granted
 * (or a bound passed) A is continued. st[]: their exit statuses. */
void ls_run_loss(const struct ls_node *tmpl, int (*node_fn)(void *arg),
		 const struct ls_loss_flags *fl, int st[2]);
/* ls_run_loss on a fresh store (ls_fresh_store) and the fixture's lock
 * service, with the case's switch @sw (on in both nodes where @hazard). */
void ls_loss_case(int (*node_fn)(void *arg), bool *sw, bool hazard, struct shared *sh,
		  const struct ls_loss_flags *fl, int st[2]);

/* In a node: sleeps (1 ms steps) until *@flag, set by the other side. */
void ls_poll_until(const int *flag);
/* In a node: waits until its cluster's generation is no longer @gen (it
 * rejoined); false after @max_ms. */
bool ls_wait_rejoin(struct ls_node *n, uint64_t gen, unsigned max_ms);
/* In a node: the generation of its cluster now. */
uint64_t ls_generation(struct ls_node *n);
/* The end of a node's script: closes @fd and the engine; returns @ret. */
int ls_node_end(struct ls_node *n, int fd, int ret);

#endif

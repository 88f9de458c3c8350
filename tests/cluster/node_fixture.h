/* SPDX-License-Identifier: MIT */
/*
 * node_fixture.h - helpers of the engine-level cluster tests: a fresh
 * shared store directory and log directory per case, node processes forked
 * from the test (each opens its own engine: a node), and the lock service
 * URL the nodes use.
 *
 * No locks: call from the thread running the case. Fork happens before the
 * test process opens any engine, so the children start single-threaded.
 */
#ifndef PC_TESTS_CLUSTER_NODE_FIXTURE_H
#define PC_TESTS_CLUSTER_NODE_FIXTURE_H

#include <stdbool.h>
#include <sys/types.h>

/* A fresh directory (the shared store) and one for the logs. */
void nf_fresh(char *store, size_t n, char *logs, size_t ln);
/* The lock service the nodes use: a ZooKeeper server of the test's own
 * (started on first use, on 127.0.0.1 at a free port, its data in a temp
 * directory). Ends the case as skipped where ZooKeeper is missing. */
const char *nf_cluster_url(void);
/* Stops the test's ZooKeeper (all data kept) / starts it again on the same
 * port: the fault tests' "ZooKeeper restarted under load". */
void nf_zk_stop(void);
void nf_zk_start(void);

/* Forks a node running @fn(@arg); returns its pid. */
pid_t nf_spawn(int (*fn)(void *arg), void *arg);
/* Waits for @pid: its exit status, or 128 + signal. A node that has not
 * ended after @ms (a hang; test_cross_fault's O_DIRECT case took 2-5 min in
 * the debug build when its reads ping-ponged, 1-2.5 min since; the default
 * stays under meson's 600 s) is reported on
 * stderr as @what with its threads' stacks (gdb, where installed), killed,
 * and NF_WAIT_HUNG returned, so that the case fails instead of hanging.
 * nf_wait: NF_WAIT_MS, or PC_NODE_WAIT_MS from the environment. */
#define NF_WAIT_HUNG -2
#define NF_WAIT_MS   540000u
int nf_wait_for(pid_t pid, const char *what, unsigned ms);
int nf_wait(pid_t pid);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * cluster_util.h - shared by the cluster tests: one ZooKeeper fixture per
 * test process (started on first use, stopped at exit), nodes (struct
 * cluster) on a fresh root path per case, and a cross-node grant checker.
 */
#ifndef PC_TESTS_CLUSTER_UTIL_H
#define PC_TESTS_CLUSTER_UTIL_H

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

#endif

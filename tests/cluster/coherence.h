/* SPDX-License-Identifier: MIT */
/*
 * coherence.h - the multi-node coherence checker of cluster mode
 * (docs/cluster.md, "Testing"): node processes, each its own engine on one
 * shared directory, run a random mix of pread/pwrite, loads and stores
 * through MAP_SHARED views, truncate, hole punch and O_DIRECT reads and
 * writes on a few shared files, and log every operation with its real-time
 * interval (CLOCK_MONOTONIC, comparable between processes) and, for reads,
 * the bytes read. The checker then proves per byte that every read returned
 * the value of a write that may be the newest one completed before the read
 * began, or of a write concurrent with the read - never an older value,
 * never one of a write that had not started (linearizability per byte).
 *
 * Writes fill their range with a pattern of their unique id that has no zero
 * byte; truncate and punch are writes of zeroes (a byte past EOF reads as 0,
 * the short part of a read too). A node killed (or cut off) may lose the
 * writes it had not fsync'd: those are given an end of +infinity (they may
 * show up or not, but never prove an older value stale).
 *
 * Each node's log is a file in the test directory (written with O_APPEND
 * after each step, so a killed node's log ends at its last whole record).
 */
#ifndef PC_TESTS_CLUSTER_COHERENCE_H
#define PC_TESTS_CLUSTER_COHERENCE_H

#include <stdbool.h>
#include <stdint.h>

#define COH_FILES     2
#define COH_FILE_MIN  (64u << 10)  /* every file is at least this long; views map it */
#define COH_FILE_MAX  (128u << 10) /* no write or truncate goes past it */
#define COH_IO_MAX    (8u << 10)
#define COH_NODES_MAX 8

struct coh_node_args {
	const char *dir;     /* the shared store directory */
	const char *logdir;  /* where node<N>.log goes */
	const char *cluster; /* lock service URL */
	int node;	     /* 0.. */
	uint64_t seed;	     /* the run's seed (each node derives its own) */
	unsigned nops;	     /* operations to run */
	unsigned session_ms; /* cluster_session_ms */
	bool dio;	     /* O_DIRECT steps (the store supports them) */
	bool fsync_often;    /* an fsync after every change (fault tests: all
			      * but the change in flight are durable) */
	bool final_read;     /* no random steps: read every file whole (the
			      * last reader of a fault test) */
	bool reopen;	     /* steps that close a file (its view and both
			      * fds) and open and map it again: with a
			      * small inode cache its glock is freed */
	/* Set by the node: where it is (fault tests signal it mid-run). */
	volatile unsigned *progress;
};

/* Creates the files (COH_FILE_MIN zero bytes each) through a plain host
 * write, before any node starts. 0 or -errno. */
int coh_prepare(const char *dir);
/* The body of a node process: returns its exit status (0: every step ran;
 * COH_EXIT_LOST: the lease was lost - a call failed with EIO, or a view
 * access with SIGBUS). */
#define COH_EXIT_LOST 3
int coh_node_main(const struct coh_node_args *a);

struct coh_result {
	unsigned long reads, writes, bytes_checked;
	unsigned long stale; /* reads with a byte no allowed write explains */
	char first[512];     /* the first stale read, in words */
};

/* Reads the logs of nodes [0, @nnodes) and checks them. @lost: nodes whose
 * unsynced writes may be lost (killed or cut off). */
int coh_check(const char *logdir, int nnodes, const bool *lost, struct coh_result *r);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * cluster_eng.h - the engines and the loops of bench_cluster and
 * probe_cluster (issue 18's "one node alone"): an engine (nolock, or a node
 * of a ZooKeeper cluster) with a 16 MiB file, cached and mapped, and one
 * loop of 4 KiB random pread hits, 4 KiB buffered pwrites, loads through
 * the view, or fstat.
 *
 * Locks: none of its own (the caller's thread).
 */
#ifndef PC_BENCH_CLUSTER_ENG_H
#define PC_BENCH_CLUSTER_ENG_H

#include <stdint.h>

#define CL_FILE_SIZE (16u << 20) /* below dirty_background: no writeback in the loops */
#define CL_IO	     4096u

enum cl_op { OP_PREAD, OP_PWRITE, OP_LOAD, OP_FSTAT, NOPS };

struct eng {
	struct pc_engine *e;
	int fd;
	char *view;
};

/* An engine on @dir (@url NULL: nolock) as node @node with a lock-service
 * session of @session_ms (0: the default), and its empty file "f". */
void eng_open(struct eng *g, const char *dir, const char *url, const char *node,
	      unsigned session_ms);
/* The @neng engines' files written, then faulted into their views, a page
 * of each engine in turn (bench/NOTES.md, issue 18: placement alike). */
void eng_fill_all(struct eng *g, int neng);
void eng_close(struct eng *g);
/* @n operations @op at offsets drawn from @seed; never inlined (callgrind
 * toggles on it: probe_cluster). */
void cluster_op_loop(struct eng *g, enum cl_op op, unsigned n, uint64_t seed);

#endif

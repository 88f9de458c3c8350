/* SPDX-License-Identifier: MIT */
/*
 * cluster_eng.c - the engines and the loops of bench_cluster and
 * probe_cluster (cluster_eng.h).
 *
 * Locks: none of its own (the caller's thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "bench.h"
#include "cluster_eng.h"

void eng_open(struct eng *g, const char *dir, const char *url, const char *node,
	      unsigned session_ms)
{
	struct pc_options o = PC_OPTIONS_INIT;

	o.store_dir = dir;
	o.writeback_interval_ms = 600000;
	o.mem_limit = 256u << 20;
	o.cluster = url;
	o.cluster_node = node;
	o.cluster_session_ms = session_ms;
	if (pc_engine_open(&o, &g->e))
		die("pc_engine_open %s: %s", url ? url : "nolock", pc_cluster_error());
	g->fd = (int)ck(pc_open(g->e, "f", O_RDWR | O_CREAT | O_TRUNC, 0644), "open");
}

/*
 * Filled one engine after the other, each engine's 16 MiB came from a
 * stretch of memory of its own, and the control row (two nolock engines,
 * the same code) read up to 10% apart, differing from run to run.
 */
void eng_fill_all(struct eng *g, int neng)
{
	static char page[CL_IO];
	int err;

	for (unsigned off = 0; off < CL_FILE_SIZE; off += CL_IO)
		for (int e = 0; e < neng; e++)
			ck(pc_pwrite(g[e].e, g[e].fd, page, CL_IO, off), "fill");
	for (int e = 0; e < neng; e++) {
		ck(pc_fsync(g[e].e, g[e].fd), "fsync");
		g[e].view = pc_mmap(g[e].e, g[e].fd, CL_FILE_SIZE, PROT_READ, MAP_SHARED, 0, &err);
		if (!g[e].view)
			die("mmap: %s", strerror(-err));
	}
	for (unsigned off = 0; off < CL_FILE_SIZE; off += CL_IO)
		for (int e = 0; e < neng; e++)
			(void)*(volatile char *)(g[e].view + off); /* fault everything in */
}

void eng_close(struct eng *g)
{
	pc_munmap(g->e, g->view, CL_FILE_SIZE);
	pc_close(g->e, g->fd);
	ck(pc_engine_close(g->e), "close");
}

__attribute__((noinline)) void cluster_op_loop(struct eng *g, enum cl_op op, unsigned n,
					       uint64_t seed)
{
	char buf[CL_IO];
	volatile char sink = 0;
	struct stat st;
	uint64_t s = seed;

	memset(buf, 7, sizeof(buf));
	for (unsigned i = 0; i < n; i++) {
		uint64_t off = (rnd(&s) % (CL_FILE_SIZE / CL_IO)) * CL_IO;

		switch (op) {
		case OP_PREAD:
			ck(pc_pread(g->e, g->fd, buf, CL_IO, (off_t)off), "pread");
			break;
		case OP_PWRITE:
			ck(pc_pwrite(g->e, g->fd, buf, CL_IO, (off_t)off), "pwrite");
			break;
		case OP_LOAD:
			for (unsigned k = 0; k < CL_IO; k += 64)
				sink += g->view[off + k];
			break;
		case OP_FSTAT:
			ck(pc_fstat(g->e, g->fd, &st), "fstat");
			break;
		default:
			break;
		}
	}
	(void)sink;
}

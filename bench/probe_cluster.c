/* SPDX-License-Identifier: MIT */
/*
 * probe_cluster.c - one side of bench_cluster alone (issue 18): one engine,
 * nolock or a node of a ZooKeeper cluster it starts, on a 16 MiB cached
 * file, runs one of bench_cluster's loops (4 KiB random pread hits, 4 KiB
 * buffered pwrites, loads through a view, fstat) and prints ns per call.
 * For per-call instruction counts where the PMU is closed to us (a VM):
 * the loop is probe_loop alone, so that
 *   valgrind --tool=callgrind --collect-atstart=no --toggle-collect=probe_loop
 * counts it and nothing else; perf record -e cpu-clock profiles it. The ZK
 * session is long (60 s) so that a slow run under valgrind keeps its lease.
 * Not run by run.sh.
 *
 *   probe_cluster nolock|zk pread|pwrite|load|fstat [calls] [reps]
 *
 * Locks: none of its own (one thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "bench.h"
#include "zk_fixture.h"

#define FILE_SIZE (16u << 20)
#define IO	  4096u

enum op { OP_PREAD, OP_PWRITE, OP_LOAD, OP_FSTAT, NOPS };
static const char *const op_arg[] = {"pread", "pwrite", "load", "fstat"};

struct eng {
	struct pc_engine *e;
	int fd;
	char *view;
};

static void eng_open(struct eng *g, const char *dir, const char *url)
{
	struct pc_options o = PC_OPTIONS_INIT;
	char *buf = calloc(1, 1 << 20);
	int err;

	o.store_dir = dir;
	o.writeback_interval_ms = 600000;
	o.mem_limit = 256u << 20;
	o.cluster = url;
	o.cluster_node = "probe";
	o.cluster_session_ms = 60000;
	if (pc_engine_open(&o, &g->e))
		die("pc_engine_open %s: %s", url ? url : "nolock", pc_cluster_error());
	g->fd = (int)ck(pc_open(g->e, "f", O_RDWR | O_CREAT | O_TRUNC, 0644), "open");
	for (unsigned off = 0; off < FILE_SIZE; off += 1 << 20)
		ck(pc_pwrite(g->e, g->fd, buf, 1 << 20, off), "fill");
	ck(pc_fsync(g->e, g->fd), "fsync");
	g->view = pc_mmap(g->e, g->fd, FILE_SIZE, PROT_READ, MAP_SHARED, 0, &err);
	if (!g->view)
		die("mmap: %s", strerror(-err));
	for (unsigned off = 0; off < FILE_SIZE; off += 4096)
		(void)*(volatile char *)(g->view + off);
	free(buf);
}

/* The measured loop, and nothing else (callgrind's toggle). */
__attribute__((noinline)) void probe_loop(struct eng *g, enum op op, unsigned n, uint64_t seed);
__attribute__((noinline)) void probe_loop(struct eng *g, enum op op, unsigned n, uint64_t seed)
{
	char buf[IO];
	volatile char sink = 0;
	struct stat st;
	uint64_t s = seed;

	memset(buf, 7, sizeof(buf));
	for (unsigned i = 0; i < n; i++) {
		uint64_t off = (rnd(&s) % (FILE_SIZE / IO)) * IO;

		switch (op) {
		case OP_PREAD:
			ck(pc_pread(g->e, g->fd, buf, IO, (off_t)off), "pread");
			break;
		case OP_PWRITE:
			ck(pc_pwrite(g->e, g->fd, buf, IO, (off_t)off), "pwrite");
			break;
		case OP_LOAD:
			for (unsigned k = 0; k < IO; k += 64)
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

int main(int argc, char **argv)
{
	static struct series s;
	struct zk_fixture f;
	char url[400];
	struct eng g;
	bool zk;
	int op, reps;
	unsigned n;

	if (argc < 3 || (strcmp(argv[1], "nolock") && strcmp(argv[1], "zk")))
		die("usage: %s nolock|zk pread|pwrite|load|fstat [calls] [reps]", argv[0]);
	zk = !strcmp(argv[1], "zk");
	for (op = 0; op < NOPS; op++)
		if (!strcmp(argv[2], op_arg[op]))
			break;
	if (op == NOPS)
		die("unknown operation %s", argv[2]);
	n = argc > 3 ? (unsigned)atoi(argv[3]) : 200000;
	reps = argc > 4 ? atoi(argv[4]) : 7;
	if (reps < 1 || reps > BENCH_MAXREP || !n)
		die("calls > 0, reps 1..%d", BENCH_MAXREP);
	bench_init(1, argv, reps);
	if (zk) {
		if (zk_fixture_missing())
			die("%s", zk_fixture_missing());
		if (zk_fixture_start(&f))
			die("ZooKeeper did not start");
		zk_fixture_url(&f, "probe", url, sizeof(url));
	}
	eng_open(&g, bench_tmpdir(bcfg.store_base, argv[1]), zk ? url : NULL);
	probe_loop(&g, (enum op)op, n / 10 + 1, 12345); /* warm: the glock cached */
	for (int r = 0; r < reps; r++) {
		uint64_t t0 = now_ns();

		probe_loop(&g, (enum op)op, n, (uint64_t)r * 77 + 1);
		series_add(&s, (double)(now_ns() - t0) / n);
	}
	emit_row("probe_cluster", op_arg[op], argv[1], "ns", &s);
	pc_munmap(g.e, g.view, FILE_SIZE);
	pc_close(g.e, g.fd);
	ck(pc_engine_close(g.e), "close");
	if (zk)
		zk_fixture_destroy(&f);
	return 0;
}

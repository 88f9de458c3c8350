/* SPDX-License-Identifier: MIT */
/*
 * probe_cluster.c - one side of bench_cluster alone (issue 18): one engine,
 * nolock or a node of a ZooKeeper cluster it starts, on a 16 MiB cached
 * file, runs one of bench_cluster's loops (4 KiB random pread hits, 4 KiB
 * buffered pwrites, loads through a view, fstat) and prints ns per call.
 * For per-call instruction counts where the PMU is closed to us (a VM):
 * the loop is cluster_op_loop alone (cluster_eng.c), so that
 *   valgrind --tool=callgrind --collect-atstart=no --toggle-collect=cluster_op_loop
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
#include "cluster_eng.h"
#include "zk_fixture.h"

static const char *const op_arg[] = {"pread", "pwrite", "load", "fstat"};

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
	/* a long session: a slow run under valgrind keeps its lease */
	eng_open(&g, bench_tmpdir(bcfg.store_base, argv[1]), zk ? url : NULL, "probe", 60000);
	eng_fill_all(&g, 1);
	cluster_op_loop(&g, (enum cl_op)op, n / 10 + 1, 12345); /* warm: the glock cached */
	for (int r = 0; r < reps; r++) {
		uint64_t t0 = now_ns();

		cluster_op_loop(&g, (enum cl_op)op, n, (uint64_t)r * 77 + 1);
		series_add(&s, (double)(now_ns() - t0) / n);
	}
	emit_row("probe_cluster", op_arg[op], argv[1], "ns", &s);
	eng_close(&g);
	if (zk)
		zk_fixture_destroy(&f);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * probe_dio.c - 1 MiB (or @KiB) O_DIRECT reads of one store file through the
 * engine (pc_pread on an O_DIRECT engine fd) and raw (pread on the host fd
 * of the same file, O_DIRECT), alternating in slices, sequential over the
 * file; prints per-call microseconds (wall and thread CPU time) for both,
 * median and range over repetitions. Small enough to run under perf or
 * strace -c: with only=engine or only=raw, just that side runs. Not run by
 * run.sh.
 *
 *   probe_dio [reps [KiB [only]]]   (7 1024 both; BENCH_STORE: /var/tmp)
 *
 * Locks: none of its own (one thread).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pagecache.h"

#define FSIZE  (256ull << 20)
#define SLICES 16

static uint64_t clk(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void die(const char *what, long r)
{
	fprintf(stderr, "probe_dio: %s: %ld\n", what, r);
	exit(1);
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 7;
	size_t sz = (argc > 2 ? (size_t)atol(argv[2]) : 1024) << 10;
	const char *only = argc > 3 ? argv[3] : "both";
	const char *base = getenv("BENCH_STORE") ? getenv("BENCH_STORE") : "/var/tmp";
	char dir[4096], path[4200];
	size_t nops = (128u << 20) / sz;
	double wall[2][64], cpu[2][64];
	struct pc_engine *e;
	char *buf;
	int fd, rfd, efd;

	if (reps < 1 || reps > 64 || !sz || sz > FSIZE)
		die("usage: probe_dio [reps (1-64) [KiB [engine|raw|both]]]", 0);
	snprintf(dir, sizeof(dir), "%s/probe_dio.%d", base, (int)getpid());
	snprintf(path, sizeof(path), "%s/f", dir);
	if (mkdir(dir, 0755))
		die("mkdir", -1);
	fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd < 0 || posix_memalign((void **)&buf, 4096, sz))
		die("open", fd);
	memset(buf, 0x5a, sz);
	for (uint64_t o = 0; o < FSIZE; o += sz)
		if (pwrite(fd, buf, sz, (off_t)o) != (ssize_t)sz)
			die("fill", (long)o);
	fsync(fd);
	close(fd);
	rfd = open(path, O_RDONLY | O_DIRECT);
	struct pc_options o = {.size = sizeof(o),
			       .store_dir = dir,
			       .mem_limit = 64u << 20,
			       .writeback_interval_ms = 600000,
			       .policy = PC_POLICY_TWO_STATE};
	long r = pc_engine_open(&o, &e);

	if (r)
		die("pc_engine_open", r);
	efd = pc_open(e, "f", O_RDONLY | O_DIRECT, 0);
	if (rfd < 0 || efd < 0)
		die("open O_DIRECT", efd);
	for (int rep = 0; rep < reps; rep++) {
		uint64_t tw[2] = {0, 0}, tc[2] = {0, 0};

		for (int j = 0; j < SLICES; j++) {
			size_t from = nops * (size_t)j / SLICES,
			       to = nops * (size_t)(j + 1) / SLICES;

			for (int k = 0; k < 2; k++) {
				int im = (k + rep + j) % 2; /* 0 engine, 1 raw */

				if ((im == 0 && !strcmp(only, "raw")) ||
				    (im == 1 && !strcmp(only, "engine")))
					continue;
				uint64_t w0 = clk(CLOCK_MONOTONIC),
					 c0 = clk(CLOCK_THREAD_CPUTIME_ID);

				for (size_t i = from; i < to; i++) {
					off_t off = (off_t)((i * sz) % FSIZE);
					ssize_t n = im ? pread(rfd, buf, sz, off)
						       : pc_pread(e, efd, buf, sz, off);
					if (n != (ssize_t)sz)
						die(im ? "pread" : "pc_pread", (long)n);
				}
				tw[im] += clk(CLOCK_MONOTONIC) - w0;
				tc[im] += clk(CLOCK_THREAD_CPUTIME_ID) - c0;
			}
		}
		for (int im = 0; im < 2; im++) {
			wall[im][rep] = (double)tw[im] / 1e3 / (double)nops;
			cpu[im][rep] = (double)tc[im] / 1e3 / (double)nops;
		}
	}
	static const char *name[2] = {"engine", "raw"};

	for (int im = 0; im < 2; im++) {
		qsort(wall[im], (size_t)reps, sizeof(double), cmpd);
		qsort(cpu[im], (size_t)reps, sizeof(double), cmpd);
		printf("%-6s %zu KiB: wall %.1f us [%.1f-%.1f], thread cpu %.2f us [%.2f-%.2f]\n",
		       name[im], sz >> 10, wall[im][reps / 2], wall[im][0], wall[im][reps - 1],
		       cpu[im][reps / 2], cpu[im][0], cpu[im][reps - 1]);
	}
	printf("engine/raw wall time %.3f (throughput ratio %.3f)\n",
	       wall[0][reps / 2] / wall[1][reps / 2], wall[1][reps / 2] / wall[0][reps / 2]);
	pc_close(e, efd);
	pc_engine_close(e);
	close(rfd);
	unlink(path);
	snprintf(path, sizeof(path), "%s/.pagecache.lock", dir); /* the engine's */
	unlink(path);
	rmdir(dir);
	return 0;
}

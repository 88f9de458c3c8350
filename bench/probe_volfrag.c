/* SPDX-License-Identifier: MIT */
/*
 * probe_volfrag.c - the engine side of bench_vol's "4K alloc write,
 * fragmented" alone, with each phase timed: a vol image whose free space is
 * mostly @holes single-block holes (bench_vol's fragment()), then @reps runs
 * of @nblk single-block pc_pwrite into a new file, one fsync, close and
 * unlink. Prints per run the microseconds per block of the whole run and of
 * each phase (writes, fsync, close, unlink), then the median and range of
 * the whole. With "direct", the new file is written with O_DIRECT (each
 * 4 KiB write one store write that allocates one block). Small enough for
 * perf record. Not run by run.sh.
 *
 *   probe_volfrag [reps [nblk [holes [direct]]]]   (7 4096 40000;
 *                                                   BENCH_STORE: /var/tmp)
 *
 * Locks: none of its own (one thread).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "pagecache.h"

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 7;
	uint64_t nblk = argc > 2 ? strtoull(argv[2], NULL, 0) : 4096;
	uint64_t holes = argc > 3 ? strtoull(argv[3], NULL, 0) : 40000;
	const char *base = getenv("BENCH_STORE") ? getenv("BENCH_STORE") : "/var/tmp";
	char img[4096];
	const int direct = argc > 4 && !strcmp(argv[4], "direct") ? O_DIRECT : 0;
	static char buf[4096] __attribute__((aligned(4096))), big[1 << 20];
	double tot[64];

	if (reps < 1 || reps > 64 || !nblk || !holes) {
		fprintf(stderr, "usage: probe_volfrag [reps [nblk [holes]]]\n");
		return 2;
	}
	snprintf(img, sizeof(img), "probe_volfrag.%d.img", (int)getpid());
	uint64_t vsize = (holes * 2 + nblk) * 4096 * 5 / 4 + (8u << 20);
	/* bench_vol's engine: 256 MiB of cache, no periodic writeback */
	struct pc_engine *e = bench_vol_engine(base, img, vsize);
	memset(buf, 11, sizeof(buf));
	memset(big, 7, sizeof(big));

	uint64_t t0 = now_ns();
	int ffd = (int)ck(pc_open(e, "frag", O_RDWR | O_CREAT, 0644), "pc_open");
	for (uint64_t off = 0; off < holes * 2 * 4096; off += sizeof(big)) {
		size_t n =
		    holes * 2 * 4096 - off < sizeof(big) ? holes * 2 * 4096 - off : sizeof(big);
		ck(pc_pwrite(e, ffd, big, n, (off_t)off), "pc_pwrite");
	}
	ck(pc_fsync(e, ffd), "pc_fsync");
	uint64_t t1 = now_ns();
	for (uint64_t i = 0; i < holes; i++)
		ck(pc_fallocate(e, ffd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				(off_t)(2 * i * 4096), 4096),
		   "pc_fallocate");
	ck(pc_fsync(e, ffd), "pc_fsync");
	uint64_t t2 = now_ns();
	printf("fill %.1f ms, punch+fsync %.1f ms (%llu holes)\n", (t1 - t0) / 1e6, (t2 - t1) / 1e6,
	       (unsigned long long)holes);

	for (int r = 0; r < reps; r++) {
		uint64_t a = now_ns();
		int fd =
		    (int)ck(pc_open(e, "a", O_RDWR | O_CREAT | O_TRUNC | direct, 0644), "pc_open");
		for (uint64_t b = 0; b < nblk; b++)
			if (pc_pwrite(e, fd, buf, 4096, (off_t)(b * 4096)) != 4096)
				return 1;
		uint64_t w = now_ns();
		ck(pc_fsync(e, fd), "pc_fsync");
		uint64_t s = now_ns();
		ck(pc_close(e, fd), "pc_close");
		uint64_t c = now_ns();
		ck(pc_unlink(e, "a"), "pc_unlink");
		uint64_t u = now_ns();
		double k = 1000.0 * (double)nblk;
		tot[r] = (u - a) / k;
		printf("run %d: %.2f us/blk (write %.2f fsync %.2f close %.2f unlink %.2f)\n", r,
		       tot[r], (w - a) / k, (s - w) / k, (c - s) / k, (u - c) / k);
		fflush(stdout);
	}
	ck(pc_close(e, ffd), "pc_close");
	ck(pc_engine_close(e), "pc_engine_close");
	unlink(path_join(base, img));
	qsort(tot, (size_t)reps, sizeof(double), cmpd);
	printf("median %.2f us/blk [%.2f-%.2f]\n", tot[reps / 2], tot[0], tot[reps - 1]);
	return 0;
}

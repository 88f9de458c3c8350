/* SPDX-License-Identifier: MIT */
/*
 * probe_first_store.c - first stores to clean mapped pages, in thread CPU
 * time (CLOCK_THREAD_CPUTIME_ID), for A/B work on the write fault path on a
 * shared, loaded machine: time other processes take from the CPU is not
 * counted, unlike bench_fault's wall-clock rows. Not run by run.sh.
 *
 *   probe_first_store [MiB [reps [which [rand]]]]   (32 9 3 0)
 *
 * Each repetition: pc_fsync (the engine's pages clean: each first store is a
 * write-notify fault), a fresh shared view of the engine file, one byte
 * stored per page (sequential, or a fixed random order with rand=1), unmap;
 * then the same on a tmpfs file (/dev/shm) with the kernel's mmap. which:
 * 1 kernel only, 2 engine only, 3 both. Prints the medians and ranges of
 * ns per page and the ratio of medians. PROBE_PERF_CTL=<fifo>: writes
 * "enable"/"disable" around the engine's store loop (perf record -D -1
 * --control=fifo:<fifo>), so that a profile holds only the faults.
 * Locks: none of its own (one thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "pagecache.h"

#define PG 4096ul

static int ctl = -1;

static uint64_t thread_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void perf_ctl(const char *cmd)
{
	if (ctl >= 0 && write(ctl, cmd, strlen(cmd)) < 0)
		ctl = -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "probe_first_store: %s: %s\n", what, strerror(err));
	exit(1);
}

/* One byte per page of @p in @order; ns per page. */
static double stores(volatile char *p, const size_t *order, size_t np)
{
	uint64_t t0 = thread_ns();

	for (size_t i = 0; i < np; i++)
		p[order[i] * PG] = (char)i;
	return (double)(thread_ns() - t0) / (double)np;
}

int main(int argc, char **argv)
{
	size_t len = (size_t)(argc > 1 ? atol(argv[1]) : 32) << 20, np = len / PG;
	int reps = argc > 2 ? atoi(argv[2]) : 9, which = argc > 3 ? atoi(argv[3]) : 3;
	int rnd = argc > 4 ? atoi(argv[4]) : 0, fd, kfd, err;
	char dir[] = "/var/tmp/probe_first_storeXXXXXX", kpath[64];
	struct pc_options o = PC_OPTIONS_INIT;
	size_t *order = malloc(np * sizeof(*order));
	double *te = calloc((size_t)reps, sizeof(double)),
	       *tk = calloc((size_t)reps, sizeof(double));
	char *buf = malloc(1 << 20);
	struct pc_engine *e;
	uint64_t x = 88172645463325252ull;

	if (reps < 1 || !np || !order || !te || !tk || !buf || !mkdtemp(dir))
		die("setup", EINVAL);
	if (getenv("PROBE_PERF_CTL"))
		ctl = open(getenv("PROBE_PERF_CTL"), O_WRONLY);
	for (size_t i = 0; i < np; i++)
		order[i] = i;
	for (size_t i = np - 1; rnd && i > 0; i--) { /* xorshift: the same order every run */
		size_t j, t;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		j = (size_t)(x % (i + 1));
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	memset(buf, 7, 1 << 20);
	o.store_dir = dir;
	o.mem_limit = len * 2 + (64u << 20);
	o.writeback_interval_ms = 600000;
	err = pc_engine_open(&o, &e);
	if (err)
		die("pc_engine_open", -err);
	fd = pc_open(e, "f", O_RDWR | O_CREAT, 0644);
	if (fd < 0)
		die("pc_open", -fd);
	snprintf(kpath, sizeof(kpath), "/dev/shm/probe_first_store.%d", (int)getpid());
	kfd = open(kpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (kfd < 0)
		die("open /dev/shm", errno);
	for (size_t off = 0; off < len; off += 1 << 20)
		if (pc_pwrite(e, fd, buf, 1 << 20, (off_t)off) != 1 << 20 ||
		    pwrite(kfd, buf, 1 << 20, (off_t)off) != 1 << 20)
			die("fill", EIO);
	for (int r = 0; r < reps; r++) {
		if (which & 2) {
			volatile char *p;

			if ((err = pc_fsync(e, fd)))
				die("pc_fsync", -err);
			p = pc_mmap(e, fd, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0, &err);
			if (!p)
				die("pc_mmap", -err);
			perf_ctl("enable\n");
			te[r] = stores(p, order, np);
			perf_ctl("disable\n");
			pc_munmap(e, (void *)p, len);
		}
		if (which & 1) {
			volatile char *q =
			    mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, kfd, 0);

			if (q == MAP_FAILED)
				die("mmap", errno);
			tk[r] = stores(q, order, np);
			munmap((void *)q, len);
		}
	}
	qsort(te, (size_t)reps, sizeof(double), cmp_double);
	qsort(tk, (size_t)reps, sizeof(double), cmp_double);
	printf("first store %s, %zu pages: engine med %.0f [%.0f-%.0f] ns/page, kernel-tmpfs med "
	       "%.0f [%.0f-%.0f], ratio %.2f\n",
	       rnd ? "rand" : "seq", np, te[reps / 2], te[0], te[reps - 1], tk[reps / 2], tk[0],
	       tk[reps - 1], tk[reps / 2] > 0 ? te[reps / 2] / tk[reps / 2] : 0.0);
	pc_close(e, fd);
	pc_engine_close(e);
	close(kfd);
	unlink(kpath);
	snprintf(buf, 1 << 20, "rm -rf '%s'", dir);
	return system(buf) == 0 ? 0 : 1;
}

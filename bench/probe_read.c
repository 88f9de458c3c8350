/* SPDX-License-Identifier: MIT */
/*
 * probe_read.c - cached pc_pread against memcpy from an anonymous buffer of
 * the same bytes (bench_read's anchor), per call: thread CPU time and, where
 * perf events are open to us, cycles, instructions, cache misses and dTLB
 * load misses of the calling thread (user and kernel) counted around each
 * side's loop alone. The two alternate in slices; offsets aligned to the
 * size, random or sequential over a 256 MiB file, the same for both. Not
 * run by run.sh.
 *
 *   probe_read [KiB [rand|seq [reps]]]   (4 rand 7; BENCH_STORE: /var/tmp)
 *
 * Prints medians and ranges over repetitions and the ratio of the medians
 * (memcpy time / engine time: the bench's throughput ratio).
 * Locks: none of its own (one thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "pagecache.h"

#define FSIZE  (256ull << 20)
#define SLICES 40
#define NEV    4
#define MAXREP 64

static const struct {
	uint32_t type;
	uint64_t config;
	const char *name;
} events[NEV] = {
    {PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES, "cycles"},
    {PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS, "instructions"},
    {PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES, "cache-misses"},
    {PERF_TYPE_HW_CACHE,
     PERF_COUNT_HW_CACHE_DTLB | (PERF_COUNT_HW_CACHE_OP_READ << 8) |
	 (PERF_COUNT_HW_CACHE_RESULT_MISS << 16),
     "dTLB-load-misses"},
};
static int evfd[NEV];

static uint64_t thread_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void ev_open(void)
{
	for (int i = 0; i < NEV; i++) {
		struct perf_event_attr a = {.size = sizeof(a),
					    .type = events[i].type,
					    .config = events[i].config,
					    .disabled = 0,
					    .exclude_hv = 1};

		evfd[i] = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
		if (evfd[i] < 0)
			printf("%s: not counted (%s)\n", events[i].name, strerror(errno));
	}
}

static void ev_read(uint64_t *v)
{
	for (int i = 0; i < NEV; i++)
		if (evfd[i] < 0 || read(evfd[i], &v[i], sizeof(v[i])) != sizeof(v[i]))
			v[i] = 0;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static void die(const char *what, long r)
{
	fprintf(stderr, "probe_read: %s: %ld\n", what, r);
	exit(1);
}

int main(int argc, char **argv)
{
	size_t sz = (argc > 1 ? (size_t)atol(argv[1]) : 4) << 10;
	int rand = argc > 2 ? strcmp(argv[2], "seq") != 0 : 1;
	int reps = argc > 3 ? atoi(argv[3]) : 7;
	const char *base = getenv("BENCH_STORE") ? getenv("BENCH_STORE") : "/var/tmp";
	size_t nops = (64u << 20) / sz;
	char dir[4096], path[4200], *src, *dst;
	double v[2][1 + NEV][MAXREP];
	uint64_t seed = getenv("PC_SEED") ? strtoull(getenv("PC_SEED"), NULL, 0) : 0x1234567;
	uint64_t *offs;
	struct pc_engine *e;
	int fd;

	if (!sz || sz > (1u << 20) || reps < 1 || reps > MAXREP)
		die("usage: probe_read [KiB (<= 1024) [rand|seq [reps (1-64)]]]", 0);
	printf("seed %llu (PC_SEED)\n", (unsigned long long)seed);
	snprintf(dir, sizeof(dir), "%s/probe_read.%d", base, (int)getpid());
	if (mkdir(dir, 0755))
		die("mkdir", -1);
	struct pc_options o = {.size = sizeof(o),
			       .store_dir = dir,
			       .mem_limit = FSIZE + (64u << 20),
			       .writeback_interval_ms = 600000,
			       .policy = PC_POLICY_TWO_STATE};
	long r = pc_engine_open(&o, &e);

	if (r)
		die("pc_engine_open", r);
	fd = pc_open(e, "f", O_RDWR | O_CREAT, 0644);
	src = aligned_alloc(4096, FSIZE); /* page-aligned, as the frames (and bench_read) */
	dst = aligned_alloc(4096, 1u << 20);
	offs = malloc(sizeof(*offs) * nops);
	if (fd < 0 || !src || !dst || !offs)
		die("setup", fd);
	for (uint64_t i = 0; i < FSIZE / 8; i++)
		((uint64_t *)src)[i] = rnd(&seed);
	for (uint64_t off = 0; off < FSIZE; off += 1u << 20)
		if (pc_pwrite(e, fd, src + off, 1u << 20, (off_t)off) != 1 << 20)
			die("fill", (long)off);
	ev_open();
	for (int rep = 0; rep < reps; rep++) {
		uint64_t t[2] = {0, 0}, c[2][NEV] = {{0}};

		for (size_t i = 0; i < nops; i++)
			offs[i] = (rand ? rnd(&seed) % (FSIZE / sz) : i % (FSIZE / sz)) * sz;
		for (int j = 0; j < SLICES; j++) {
			size_t from = nops * (size_t)j / SLICES,
			       to = nops * (size_t)(j + 1) / SLICES;

			for (int k = 0; k < 2; k++) {
				int im = (k + rep + j) % 2; /* 0 engine, 1 memcpy */
				uint64_t e0[NEV], e1[NEV], t0 = thread_ns();

				ev_read(e0);
				if (!im) {
					for (size_t i = from; i < to; i++)
						if (pc_pread(e, fd, dst, sz, (off_t)offs[i]) !=
						    (ssize_t)sz)
							die("pc_pread", (long)i);
				} else {
					for (size_t i = from; i < to; i++) {
						memcpy(dst, src + offs[i], sz);
						__asm__ volatile("" : : "r"(dst) : "memory");
					}
				}
				ev_read(e1);
				t[im] += thread_ns() - t0;
				for (int x = 0; x < NEV; x++)
					c[im][x] += e1[x] - e0[x];
			}
		}
		for (int im = 0; im < 2; im++) {
			v[im][0][rep] = (double)t[im] / (double)nops;
			for (int x = 0; x < NEV; x++)
				v[im][1 + x][rep] = (double)c[im][x] / (double)nops;
		}
	}
	static const char *name[2] = {"engine", "memcpy"};
	double med[2][1 + NEV];

	for (int im = 0; im < 2; im++) {
		printf("%-6s %s %zuK per call:", name[im], rand ? "rand" : "seq", sz >> 10);
		for (int x = 0; x <= NEV; x++) {
			qsort(v[im][x], (size_t)reps, sizeof(double), cmpd);
			med[im][x] = v[im][x][reps / 2];
			if (x && evfd[x - 1] < 0)
				continue;
			printf(" %s %.1f [%.1f-%.1f]", x ? events[x - 1].name : "ns", med[im][x],
			       v[im][x][0], v[im][x][reps - 1]);
		}
		printf("\n");
	}
	printf("ratio (memcpy ns / engine ns) %.3f\n", med[1][0] / med[0][0]);
	pc_close(e, fd);
	pc_engine_close(e);
	snprintf(path, sizeof(path), "%s/f", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/.pagecache.lock", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * probe_rewrite.c - stores that re-dirty pages writeback left mapped
 * write-protected in one shared view (a write-protect fault each), in thread
 * CPU time (CLOCK_THREAD_CPUTIME_ID) per page. Links the test build of the
 * library so that one binary runs both sides of the A/B: with old=1 it sets
 * mm_uffd_test_continue_first (a UFFDIO_CONTINUE failing with -EEXIST, then
 * UFFDIO_WRITEPROTECT: two ioctls a page), else the fault's present hint
 * makes it one UFFDIO_WRITEPROTECT. Not run by run.sh.
 *
 *   probe_rewrite [old [reps [MiB]]]   (0 9 32)
 *
 * Each repetition: pc_msync(MS_SYNC) (every page clean, write-protected),
 * then one byte stored per page. Prints the median and range of ns per page
 * and the install ioctls per page. Locks: none of its own (one thread).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mm/vma.h"
#include "pagecache.h"

#define PG 4096ul

static uint64_t thread_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void check(int err, const char *what)
{
	if (err < 0) {
		fprintf(stderr, "probe_rewrite: %s: %d\n", what, err);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	int old = argc > 1 ? atoi(argv[1]) : 0, reps = argc > 2 ? atoi(argv[2]) : 9;
	size_t np = (argc > 3 ? (size_t)atoi(argv[3]) : 32) << 20 >> 12, len = np * PG;
	char dir[] = "/tmp/probe_rewrite.XXXXXX";
	struct pc_engine *e = NULL;
	double ns[64];
	uint64_t ioctls = 0;
	int err = 0, fd;

	if (reps < 1 || reps > 64 || !np || !mkdtemp(dir))
		return 2;
	struct pc_options o = {
	    .size = sizeof(o), .store_dir = dir, .writeback_interval_ms = 600000};
	check(pc_engine_open(&o, &e), "pc_engine_open");
	fd = pc_open(e, "f", O_RDWR | O_CREAT, 0644);
	check(fd, "pc_open");
	check(pc_ftruncate(e, fd, (off_t)len), "pc_ftruncate");
	volatile char *p = pc_mmap(e, fd, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0, &err);
	check(p ? 0 : err, "pc_mmap");
	for (size_t i = 0; i < np; i++)
		p[i * PG] = 1; /* every page mapped (writable) */
	mm_uffd_test_continue_first = old;
	for (int r = 0; r < reps; r++) {
		check(pc_msync(e, (void *)p, len, MS_SYNC), "pc_msync");
		uint64_t n0 = __atomic_load_n(&mm_uffd_install_ioctls, __ATOMIC_RELAXED);
		uint64_t t0 = thread_ns();
		for (size_t i = 0; i < np; i++)
			p[i * PG + (size_t)r] = (char)r;
		ns[r] = (double)(thread_ns() - t0) / (double)np;
		ioctls += __atomic_load_n(&mm_uffd_install_ioctls, __ATOMIC_RELAXED) - n0;
	}
	qsort(ns, (size_t)reps, sizeof(ns[0]), cmp_double);
	printf("%s: re-dirtying store after writeback: median %.0f ns/page (%.0f-%.0f), "
	       "%.2f install ioctls/page\n",
	       old ? "continue first" : "present hint", ns[reps / 2], ns[0], ns[reps - 1],
	       (double)ioctls / (double)reps / (double)np);
	check(pc_munmap(e, (void *)p, len), "pc_munmap");
	check(pc_close(e, fd), "pc_close");
	check(pc_engine_close(e), "pc_engine_close");
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * bench_views.c - fault cost against the number of views, and faults while
 * another thread maps and unmaps (issue 17).
 *
 * Many views: a fully cached engine file; a sample is the read first-touch
 * cost per page (one load per 4 KiB page, random page order) through fresh
 * shared views of the whole file, taken while 0, 1k, 10k and 100k other
 * one-page views of the same file exist (made untimed, after the timed
 * views so that those are the oldest, and unmapped after each count). Goal: the cost with
 * 100k views <= 1.3x the cost with none. Each view is a host mapping, so the
 * process needs vm.max_map_count above the view count: the program raises it
 * when it can (root) and otherwise stops at the count that fits, said in an
 * INFO record and in the metric's name (the sysctl is put back afterwards).
 *
 * Map/unmap neighbour: the same first-touch pass (pages per second) with and
 * without a second thread that pc_mmap()s and pc_munmap()s a 16-page view of
 * the same file in a loop, the two runs alternating; the kernel's mmap of a
 * tmpfs twin with a thread doing mmap/munmap for reference. Goal: the
 * engine's throughput with the neighbour >= 0.9x without.
 * Locks: none of its own; the neighbour thread shares only atomics.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

enum impl { ENGINE, KERNEL, NIMPL };
static const char *impl_name[NIMPL] = {"engine", "kernel-tmpfs"};

static struct pc_engine *eng;
static int efd, kfd;
static uint64_t fsize;
static size_t npages;
static uint64_t *perm;

static volatile char *map_view(enum impl im, size_t len)
{
	int err = 0;
	volatile char *p;

	if (im == ENGINE) {
		p = pc_mmap(eng, efd, len, PROT_READ, MAP_SHARED, 0, &err);
		if (!p)
			die("pc_mmap: %s", strerror(-err));
	} else {
		p = mmap(NULL, len, PROT_READ, MAP_SHARED, kfd, 0);
		if (p == MAP_FAILED)
			die("mmap: %s", strerror(errno));
	}
	return p;
}

static void unmap_view(enum impl im, volatile char *p, size_t len)
{
	if (im == ENGINE)
		ck(pc_munmap(eng, (void *)p, len), "pc_munmap");
	else
		munmap((void *)p, len);
}

/* Every page of view @p touched once (random order); ns of the touches. */
static uint64_t touch_all(volatile char *p)
{
	uint64_t sum = 0, t0 = now_ns();

	for (size_t i = 0; i < npages; i++)
		sum += (unsigned char)p[perm[i] * 4096];
	uint64_t t = now_ns() - t0;

	bench_sink += sum;
	return t;
}

/* A fresh view of the whole file, every page touched once, unmapped; ns of
 * the touches. */
static uint64_t fault_pass(enum impl im)
{
	volatile char *p = map_view(im, fsize);
	uint64_t t = touch_all(p);

	unmap_view(im, p, fsize);
	return t;
}

/* ---- many views ---- */

static long raised_from; /* vm.max_map_count before fit_views raised it, or 0 */

/* Puts vm.max_map_count back after the views are gone. */
static void restore_max_map_count(void)
{
	FILE *f;

	if (!raised_from || !(f = fopen("/proc/sys/vm/max_map_count", "w")))
		return;
	fprintf(f, "%ld\n", raised_from);
	fclose(f);
	raised_from = 0;
}

/* Raises vm.max_map_count to fit @want views (and the rest of the
 * process) when it is lower and writable (put back by
 * restore_max_map_count); returns the count that fits. */
static size_t fit_views(size_t want)
{
	long cur = 0;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");

	if (f) {
		if (fscanf(f, "%ld", &cur) != 1)
			cur = 0;
		fclose(f);
	}
	long need = (long)want * 2 + 8192; /* a view can take two VMAs; the rest */
	if (cur < need) {
		f = fopen("/proc/sys/vm/max_map_count", "w");
		if (f) {
			fprintf(f, "%ld\n", need);
			if (fclose(f) == 0) {
				emit_info("views_max_map_count",
					  "raised from %ld to %ld for the run, then put back", cur,
					  need);
				raised_from = cur;
				return want;
			}
		}
		emit_info("views_max_map_count", "%ld, not writable: views capped", cur);
		return cur > 131072 ? want : (size_t)(cur - 4096) / 2;
	}
	emit_info("views_max_map_count", "%ld", cur);
	return want;
}

static void many_views(void)
{
	const size_t full[] = {0, 1000, 10000, 100000}, smoke[] = {0, 10, 100};
	const size_t *counts = bcfg.smoke ? smoke : full;
	const int ncounts = bcfg.smoke ? 3 : 4;
	size_t maxv = fit_views(counts[ncounts - 1]);
	void **views = malloc(sizeof(*views) * counts[ncounts - 1]);
	struct series s[4];
	size_t made = 0, reached[4];
	int passes = bcfg.smoke ? 1 : 4;

	if (!views)
		die("out of memory");
	memset(s, 0, sizeof(s));
	for (int c = 0; c < ncounts; c++)
		reached[c] = counts[c];
	fault_pass(ENGINE); /* untimed warm-up */
	for (int r = 0; r < bcfg.reps; r++) {
		for (int c = 0; c < ncounts; c++) {
			size_t want = counts[c] < maxv ? counts[c] : maxv;
			volatile char *tv[4];
			uint64_t t = 0;

			/* the timed views are the oldest: a lookup meets every other
			 * view before them in a list, where a tree would not care */
			for (int p = 0; p < passes; p++)
				tv[p] = map_view(ENGINE, fsize);
			while (made < want) {
				int err = 0;
				off_t off = (off_t)(made % npages) * 4096;
				void *v = pc_mmap(eng, efd, 4096, PROT_READ, MAP_SHARED, off, &err);

				if (!v) {
					emit_info("views_pc_mmap_failed", "at %zu views: %s", made,
						  strerror(-err));
					maxv = made;
					break;
				}
				views[made++] = v;
			}
			if (made < reached[c])
				reached[c] = made;
			for (int p = 0; p < passes; p++) {
				t += touch_all(tv[p]);
				unmap_view(ENGINE, tv[p], fsize);
			}
			series_add(&s[c], (double)t / (double)(npages * (size_t)passes));
			while (made)
				ck(pc_munmap(eng, views[--made], 4096), "pc_munmap");
		}
	}
	char m0[64], mn[64];

	snprintf(m0, sizeof(m0), "fault read with 0 other views");
	emit_row("views", m0, "engine", "ns/page", &s[0]);
	for (int c = 1; c < ncounts; c++) {
		snprintf(mn, sizeof(mn), "fault read with %zu other views", reached[c]);
		emit_row("views", mn, "engine", "ns/page", &s[c]);
		emit_cmp("views", mn, "ns/page", "engine", &s[c], "0 views", &s[0],
			 c == ncounts - 1 ? "<=" : NULL, 1.3);
	}
	free(views);
	restore_max_map_count();
}

/* ---- a neighbour thread mapping and unmapping ---- */

static atomic_bool stop;
static atomic_ulong mapper_loops;
static enum impl mapper_impl;

static void *mapper(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		volatile char *p = map_view(mapper_impl, 16 * 4096);

		unmap_view(mapper_impl, p, 16 * 4096);
		atomic_fetch_add_explicit(&mapper_loops, 1, memory_order_relaxed);
	}
	return NULL;
}

static void map_neighbour(void)
{
	int passes = bcfg.smoke ? 1 : 4;

	for (int im = 0; im < NIMPL; im++) {
		struct series s[2], loops;
		char metric[64];

		memset(s, 0, sizeof(s));
		memset(&loops, 0, sizeof(loops));
		fault_pass((enum impl)im); /* untimed warm-up */
		for (int r = 0; r < bcfg.reps; r++) {
			for (int k = 0; k < 2; k++) {
				int with = (k + r) % 2;
				pthread_t th;
				uint64_t t = 0;

				if (with) {
					atomic_store(&stop, false);
					atomic_store(&mapper_loops, 0);
					mapper_impl = (enum impl)im;
					if (pthread_create(&th, NULL, mapper, NULL))
						die("pthread_create");
					while (atomic_load(&mapper_loops) == 0)
						; /* the neighbour is running */
				}
				for (int p = 0; p < passes; p++)
					t += fault_pass((enum impl)im);
				if (with) {
					atomic_store(&stop, true);
					pthread_join(th, NULL);
					series_add(&loops, (double)atomic_load(&mapper_loops) /
							       ((double)t / 1e9) / 1e3);
				}
				/* M faulted pages per second */
				series_add(&s[with], (double)(npages * (size_t)passes) /
							 ((double)t / 1e9) / 1e6);
			}
		}
		snprintf(metric, sizeof(metric), "fault read, %s", impl_name[im]);
		emit_row("views-mapper", metric, "with map/unmap thread", "Mpages/s", &s[1]);
		emit_row("views-mapper", metric, "alone", "Mpages/s", &s[0]);
		snprintf(metric, sizeof(metric), "map+unmap loops beside faults, %s",
			 impl_name[im]);
		emit_row("views-mapper", metric, "neighbour", "k loops/s", &loops);
		snprintf(metric, sizeof(metric), "fault read beside a map/unmap thread, %s",
			 impl_name[im]);
		emit_cmp("views", metric, "Mpages/s", "with", &s[1], "alone", &s[0],
			 im == ENGINE ? ">=" : NULL, 0.9);
	}
}

int main(int argc, char **argv)
{
	bench_init(argc, argv, 5);
	fsize = bcfg.smoke ? 1u << 20 : 16u << 20;
	npages = fsize / 4096;
	uint64_t seed = bench_seed();

	const char *sd = bench_tmpdir(bcfg.store_base, "views");
	const char *kd = bench_tmpdir(bcfg.shm_base, "views");

	kfd = twin_files(sd, kd, fsize, &eng, &efd);

	int err = 0;
	void *probe = pc_mmap(eng, efd, 4096, PROT_READ, MAP_SHARED, 0, &err);

	if (!probe) {
		emit_skip("views", "all", "pc_mmap unavailable: %s", strerror(-err));
		return 0;
	}
	ck(pc_munmap(eng, probe, 4096), "pc_munmap");
	perm = malloc(sizeof(*perm) * npages);
	if (!perm)
		die("out of memory");
	shuffle(perm, npages, &seed);
	many_views();
	map_neighbour();
	free(perm);
	pc_close(eng, efd);
	ck(pc_engine_close(eng), "pc_engine_close");
	close(kfd);
	return 0;
}

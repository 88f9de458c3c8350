/* SPDX-License-Identifier: MIT */
/*
 * bench_fault.c - first-touch page faults on a mapping of a fully cached
 * file: pc_mmap of an engine file against the kernel's mmap of a tmpfs file
 * (both MAP_SHARED, pages already in the respective page cache, so every
 * fault is a minor one). Each repetition maps both files afresh, touches one
 * byte per 4 KiB page (a load, or a store of one byte) in sequential or
 * random page order, the two alternating in slices of the order, then
 * unmaps; only the touches are timed, reported per page. Engine pages are written back before every
 * store pass so that each store meets a clean page (write-notify), like the kernel's first write.
 *
 * Then cold first touch (read): neither the engine nor the host caches the
 * file (DONTNEED before each pass), the engine's view against the kernel's
 * mmap of the same host file, sequential and random.
 *
 * Then msync of dirty mapped pages: one store per page through a shared
 * view dirties a run of pages (untimed), then msync(MS_SYNC) of the view is
 * timed, per page: the engine's view against the kernel's mmap of a file on
 * the store's file system (ext4 here). The engine write-protects each run
 * of dirty pages in the view with one operation (issue 17).
 *
 * Goals (issue 17): cached reads <= 1.5x the kernel per page; first write
 * to a clean page <= 2x; cold reads <= 1.5x; msync <= 2x.
 * Locks: none of its own (one thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"

enum impl { ENGINE, KERNEL, NIMPL };
static const char *impl_name[NIMPL] = {"engine", "kernel-tmpfs"};
#define SLICES 32 /* per pass, alternating the implementations */

static struct pc_engine *eng;
static int efd, kfd;
static uint64_t fsize;

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static volatile char *map_view(enum impl im, bool write)
{
	int prot = PROT_READ | (write ? PROT_WRITE : 0);
	int err = 0;
	volatile char *p;

	if (im == ENGINE) {
		p = pc_mmap(eng, efd, fsize, prot, MAP_SHARED, 0, &err);
		if (!p)
			die("pc_mmap: %s", strerror(-err));
	} else {
		p = mmap(NULL, fsize, prot, MAP_SHARED, kfd, 0);
		if (p == MAP_FAILED)
			die("mmap: %s", strerror(errno));
	}
	return p;
}

static void unmap_view(enum impl im, volatile char *p)
{
	if (im == ENGINE)
		ck(pc_munmap(eng, (void *)p, fsize), "pc_munmap");
	else
		munmap((void *)p, fsize);
}

/* Touches pages order[from..to) of @p; returns ns. */
static uint64_t touch(volatile char *p, bool write, const uint64_t *order, size_t from, size_t to)
{
	uint64_t t0 = now_ns(), sum = 0;

	if (write) {
		for (size_t i = from; i < to; i++)
			p[order[i] * 4096] = (char)i;
	} else {
		for (size_t i = from; i < to; i++)
			sum += (unsigned char)p[order[i] * 4096];
	}
	uint64_t t = now_ns() - t0;

	bench_sink += sum;
	return t;
}

/* One pass: fresh views of both, every page touched once in @order, the two
 * alternating slice by slice; ns per implementation in t[], the kernel's
 * minor faults in *faults. Engine pages are clean first for a store pass. */
static void pass(int r, bool write, const uint64_t *order, size_t npages, uint64_t *t, long *faults)
{
	volatile char *v[NIMPL];

	if (write)
		ck(pc_fsync(eng, efd), "pc_fsync");
	for (int im = 0; im < NIMPL; im++) {
		v[im] = map_view((enum impl)im, write);
		t[im] = 0;
	}
	*faults = 0;
	for (size_t j = 0; j < SLICES; j++) {
		size_t from = npages * j / SLICES, to = npages * (j + 1) / SLICES;

		for (int k = 0; k < NIMPL; k++) {
			int im = (k + r + (int)j) % NIMPL;
			long f0 = minflt();

			t[im] += touch(v[im], write, order, from, to);
			if (im == KERNEL)
				*faults += minflt() - f0;
		}
	}
	for (int im = 0; im < NIMPL; im++)
		unmap_view((enum impl)im, v[im]);
}

/*
 * Cold first touch: neither the engine nor the host has the data cached
 * (pc_fadvise and posix_fadvise DONTNEED before every pass), the engine's
 * view of its file against the kernel's mmap of the same host file (the
 * engine's store file on the store's file system). Pages [0, npages) in
 * @order; ns per page in *t.
 */
static uint64_t cold_pass(enum impl im, int hfd, uint64_t len, const uint64_t *order, size_t npages)
{
	volatile char *p;
	int err = 0;
	uint64_t t;

	if (im == ENGINE)
		ck(pc_fadvise(eng, efd, 0, 0, POSIX_FADV_DONTNEED), "pc_fadvise");
	ckerr(posix_fadvise(hfd, 0, 0, POSIX_FADV_DONTNEED) ? -1 : 0, "posix_fadvise");
	if (im == ENGINE) {
		p = pc_mmap(eng, efd, len, PROT_READ, MAP_SHARED, 0, &err);
		if (!p)
			die("pc_mmap: %s", strerror(-err));
	} else {
		p = mmap(NULL, len, PROT_READ, MAP_SHARED, hfd, 0);
		if (p == MAP_FAILED)
			die("mmap: %s", strerror(errno));
	}
	t = touch(p, false, order, 0, npages);
	if (im == ENGINE)
		ck(pc_munmap(eng, (void *)p, len), "pc_munmap");
	else
		munmap((void *)p, len);
	return t;
}

static void cold(const char *sd, uint64_t *seed)
{
	uint64_t len = bcfg.smoke ? 1u << 20 : 32u << 20;
	size_t npages = len / 4096;
	uint64_t *seq = malloc(sizeof(*seq) * npages), *perm = malloc(sizeof(*perm) * npages);
	int hfd = (int)ckerr(open(path_join(sd, "f"), O_RDONLY), "open store file");
	struct pc_stats a, b;

	if (!seq || !perm)
		die("out of memory");
	for (size_t i = 0; i < npages; i++)
		seq[i] = i;
	shuffle(perm, npages, seed);
	ck(pc_fsync(eng, efd), "pc_fsync");
	for (int rand = 0; rand < 2; rand++) {
		struct series s[NIMPL], reads;
		char metric[64];

		memset(s, 0, sizeof(s));
		memset(&reads, 0, sizeof(reads));
		snprintf(metric, sizeof(metric), "cold read %s", rand ? "rand" : "seq");
		for (int r = 0; r < bcfg.reps; r++) {
			for (int k = 0; k < NIMPL; k++) {
				enum impl im = (enum impl)((k + r) % NIMPL);

				pc_get_stats(eng, &a, sizeof(a));
				uint64_t t = cold_pass(im, hfd, len, rand ? perm : seq, npages);
				pc_get_stats(eng, &b, sizeof(b));
				series_add(&s[im], (double)t / (double)npages);
				if (im == ENGINE)
					series_add(&reads,
						   (double)(b.misses - a.misses) / (double)npages);
			}
		}
		for (int im = 0; im < NIMPL; im++)
			emit_row("fault", metric, im == ENGINE ? "engine" : "kernel-store-fs",
				 "ns/page", &s[im]);
		char m2[128];
		snprintf(m2, sizeof(m2), "%s: pages read from the store per page", metric);
		emit_row("fault-count", m2, "engine", "pages/page", &reads);
		emit_cmp("fault", metric, "ns/page", "engine", &s[ENGINE], "kernel-store-fs",
			 &s[KERNEL], "<=", 1.5);
	}
	close(hfd);
	free(seq);
	free(perm);
}

/*
 * msync(MS_SYNC) of @npages pages of a shared view, each dirtied by one
 * store first (untimed). Engine: pc_msync of the engine's file; kernel:
 * msync of a file on the store's file system. ns per page.
 */
static void msync_bench(const char *sd)
{
	size_t npages = bcfg.smoke ? 256 : 4096;
	uint64_t len = (uint64_t)npages * 4096;
	int hfd = (int)ckerr(open(path_join(sd, "msync-host"), O_RDWR | O_CREAT, 0644), "open");
	struct series s[NIMPL];
	volatile char *v[NIMPL];
	int err = 0;

	host_fill(hfd, len);
	ckerr(fsync(hfd), "fsync");
	v[ENGINE] = pc_mmap(eng, efd, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0, &err);
	if (!v[ENGINE])
		die("pc_mmap: %s", strerror(-err));
	v[KERNEL] = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, hfd, 0);
	if (v[KERNEL] == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	memset(s, 0, sizeof(s));
	for (int r = -1; r < bcfg.reps; r++) { /* r = -1: untimed warm-up */
		for (int k = 0; k < NIMPL; k++) {
			enum impl im = (enum impl)((k + r + 1) % NIMPL);
			uint64_t t0;

			for (size_t i = 0; i < npages; i++)
				v[im][i * 4096 + (size_t)(r + 1) % 4096] = (char)(i + (size_t)r);
			t0 = now_ns();
			if (im == ENGINE)
				ck(pc_msync(eng, (void *)v[im], len, MS_SYNC), "pc_msync");
			else
				ckerr(msync((void *)v[im], len, MS_SYNC), "msync");
			uint64_t t = now_ns() - t0;
			if (r >= 0)
				series_add(&s[im], (double)t / (double)npages);
		}
	}
	emit_row("fault", "msync dirty", "engine", "ns/page", &s[ENGINE]);
	emit_row("fault", "msync dirty", "kernel-store-fs", "ns/page", &s[KERNEL]);
	emit_cmp("fault", "msync dirty", "ns/page", "engine", &s[ENGINE], "kernel-store-fs",
		 &s[KERNEL], "<=", 2.0);
	ck(pc_munmap(eng, (void *)v[ENGINE], len), "pc_munmap");
	munmap((void *)v[KERNEL], len);
	close(hfd);
}

int main(int argc, char **argv)
{
	bench_init(argc, argv, 7);
	fsize = bcfg.smoke ? 4u << 20 : 128u << 20;
	size_t npages = fsize / 4096;
	uint64_t seed = bench_seed();

	const char *sd = bench_tmpdir(bcfg.store_base, "fault");
	const char *kd = bench_tmpdir(bcfg.shm_base, "fault");

	kfd = twin_files(sd, kd, fsize, &eng, &efd);

	/* can the engine map at all here (userfaultfd)? */
	int err = 0;
	void *probe = pc_mmap(eng, efd, 4096, PROT_READ, MAP_SHARED, 0, &err);

	if (!probe) {
		emit_skip("fault", "all", "pc_mmap unavailable: %s", strerror(-err));
		return 0;
	}
	ck(pc_munmap(eng, probe, 4096), "pc_munmap");

	uint64_t *seq = malloc(sizeof(*seq) * npages), *perm = malloc(sizeof(*perm) * npages);

	if (!seq || !perm)
		die("out of memory");
	for (size_t i = 0; i < npages; i++)
		seq[i] = i;
	shuffle(perm, npages, &seed);

	for (int write = 0; write < 2; write++) {
		for (int rand = 0; rand < 2; rand++) {
			struct series s[NIMPL], f[NIMPL];
			char metric[64];
			long faults;

			memset(s, 0, sizeof(s));
			memset(f, 0, sizeof(f));
			snprintf(metric, sizeof(metric), "%s %s", write ? "write" : "read",
				 rand ? "rand" : "seq");
			const uint64_t *order = rand ? perm : seq;

			uint64_t t[NIMPL];

			pass(0, write, order, npages, t, &faults); /* untimed warm-up */
			for (int r = 0; r < bcfg.reps; r++) {
				pass(r, write, order, npages, t, &faults);
				for (int im = 0; im < NIMPL; im++)
					series_add(&s[im], (double)t[im] / (double)npages);
				series_add(&f[KERNEL], (double)faults / (double)npages);
			}
			for (int im = 0; im < NIMPL; im++) {
				char m2[80];

				emit_row("fault", metric, impl_name[im], "ns/page", &s[im]);
				if (im != KERNEL)
					continue; /* the engine's faults are not the kernel's minflt
						   */
				snprintf(m2, sizeof(m2), "%s faults/page", metric);
				emit_row("fault-count", m2, impl_name[im], "faults/page", &f[im]);
			}
			emit_cmp("fault", metric, "ns/page", "engine", &s[ENGINE], "kernel-tmpfs",
				 &s[KERNEL], "<=", write ? 2.0 : 1.5);
		}
	}
	cold(sd, &seed);
	msync_bench(sd);
	free(seq);
	free(perm);
	pc_close(eng, efd);
	ck(pc_engine_close(eng), "pc_engine_close");
	close(kfd);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * bench_punch.c - hole punch latency in a cached file: pc_fallocate(PUNCH_HOLE)
 * on an engine file whose pages are cached (written through the engine and
 * written back, so the store holds blocks) against the store's own punch
 * (fallocate on a host file in the same file system, written and synced the
 * same way), and the kernel's punch in a cached tmpfs file for reference.
 * Sizes 4 KiB, 64 KiB, 1 MiB at distinct random aligned offsets; before each
 * repetition (untimed) the ranges are written again and synced; within it
 * the implementations alternate punch by punch. Each sample is the median
 * latency of one repetition's punches.
 *
 * Goal (issue 17): engine <= 2x the store at every size; the tmpfs ratio is
 * for reference.
 * Locks: none of its own (one thread).
 */
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

enum impl { ENGINE, STORE, TMPFS, NIMPL };
static const char *impl_name[NIMPL] = {"engine", "store-host", "kernel-tmpfs"};

static struct pc_engine *eng;
static int efd, hfd, kfd;

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void refill(enum impl im, const char *buf, size_t sz, const uint64_t *offs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ssize_t r = im == ENGINE ? pc_pwrite(eng, efd, buf, sz, (off_t)offs[i])
					 : pwrite(im == STORE ? hfd : kfd, buf, sz, (off_t)offs[i]);

		if (r != (ssize_t)sz)
			die("refill");
	}
	if (im == ENGINE)
		ck(pc_fsync(eng, efd), "pc_fsync");
	else if (im == STORE)
		ckerr(fsync(hfd), "fsync");
}

/* One punch; ns. */
static uint64_t punch_one(enum impl im, size_t sz, uint64_t off)
{
	const int mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	uint64_t t0 = now_ns();

	if (im == ENGINE)
		ck(pc_fallocate(eng, efd, mode, (off_t)off, (off_t)sz), "pc_fallocate");
	else
		ckerr(fallocate(im == STORE ? hfd : kfd, mode, (off_t)off, (off_t)sz), "fallocate");
	return now_ns() - t0;
}

static double median_u64(uint64_t *lat, size_t n)
{
	qsort(lat, n, sizeof(*lat), cmp_u64);
	return (double)lat[n / 2];
}

int main(int argc, char **argv)
{
	bench_init(argc, argv, 7);
	const uint64_t fsize = bcfg.smoke ? 4u << 20 : 256u << 20;
	const size_t sizes[] = {4096, 65536, 1u << 20};
	const size_t nper = bcfg.smoke ? 4 : 48;
	uint64_t seed = bench_seed();

	const char *sd = bench_tmpdir(bcfg.store_base, "punch");
	const char *hd = bench_tmpdir(bcfg.store_base, "punchhost");
	const char *kd = bench_tmpdir(bcfg.shm_base, "punch");

	hfd = twin_files(sd, hd, fsize, &eng, &efd);
	ckerr(fsync(hfd), "fsync");
	kfd = (int)ckerr(open(path_join(kd, "f"), O_RDWR | O_CREAT, 0644), "open tmpfs");
	host_fill(kfd, fsize);

	char *buf = xalloc(1u << 20);
	uint64_t *offs = malloc(sizeof(*offs) * nper), *lat = malloc(sizeof(*lat) * nper * NIMPL);
	uint64_t *perm = malloc(sizeof(*perm) * (fsize >> 20));

	if (!offs || !lat || !perm)
		die("out of memory");
	fill_pattern(buf, 1u << 20, 5);
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		size_t sz = sizes[si];
		struct series s[NIMPL];
		char metric[32];

		memset(s, 0, sizeof(s));
		snprintf(metric, sizeof(metric), "punch %zuK", sz / 1024);
		for (int r = 0; r < bcfg.reps; r++) {
			/* distinct ranges: one per MiB slot, at a random aligned place in it */
			shuffle(perm, fsize >> 20, &seed);
			for (size_t i = 0; i < nper; i++)
				offs[i] = (perm[i % (fsize >> 20)] << 20) +
					  rnd(&seed) % ((1u << 20) / sz) * sz;
			for (int im = 0; im < NIMPL; im++)
				refill((enum impl)im, buf, sz, offs, nper);
			/* the implementations alternate punch by punch */
			for (size_t i = 0; i < nper; i++)
				for (int k = 0; k < NIMPL; k++) {
					int im = (int)((k + r + i) % NIMPL);

					lat[im * nper + i] = punch_one((enum impl)im, sz, offs[i]);
				}
			for (int im = 0; im < NIMPL; im++)
				series_add(&s[im], median_u64(lat + im * nper, nper) / 1000.0);
		}
		for (int im = 0; im < NIMPL; im++)
			emit_row("punch", metric, impl_name[im], "us", &s[im]);
		/* issue 17: <= 2x the store's own punch at every size */
		emit_cmp("punch", metric, "us", "engine", &s[ENGINE], "store-host", &s[STORE],
			 "<=", 2.0);
		emit_cmp("punch", metric, "us", "engine", &s[ENGINE], "kernel-tmpfs", &s[TMPFS],
			 NULL, 0);
	}
	free(buf);
	free(offs);
	free(lat);
	free(perm);
	pc_close(eng, efd);
	ck(pc_engine_close(eng), "pc_engine_close");
	close(hfd);
	close(kfd);
	return 0;
}

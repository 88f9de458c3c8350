/* SPDX-License-Identifier: MIT */
/*
 * bench_read.c - cached buffered reads: pc_pread of a fully cached engine
 * file against the kernel's pread of a tmpfs file and against memcpy from
 * an anonymous buffer of the same size, at 4 KiB, 64 KiB, 128 KiB and 1 MiB,
 * sequential and random (offsets aligned to the size, the same offsets for
 * every implementation within a repetition, which alternate in slices of
 * it). The destination is one hot
 * buffer of the request size, as an application's read buffer would be.
 *
 * Then re-open after the last close: open + read all + close of the closed
 * cached engine file against the same on the tmpfs twin.
 *
 * Goals: 4 KiB reads >= 2x the kernel's and >= 80% of memcpy; 128 KiB and
 * up >= 90% of memcpy; re-open + read >= 1/1.5 of the kernel's; a cold
 * read counts a pc_stats miss for every page it reads from the store.
 * Locks: none of its own (one thread).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

enum impl { ENGINE, KERNEL, MEMCPY, NIMPL };
static const char *impl_name[NIMPL] = {"engine", "kernel-tmpfs", "memcpy"};
#define SLICES 64 /* per repetition, alternating the implementations */

static struct pc_engine *eng;
static int efd, kfd;
static char *src; /* the memcpy anchor's source */

static void run_one(enum impl im, char *dst, size_t sz, const uint64_t *offs, size_t nops)
{
	switch (im) {
	case ENGINE:
		for (size_t i = 0; i < nops; i++)
			if (pc_pread(eng, efd, dst, sz, (off_t)offs[i]) != (ssize_t)sz)
				die("pc_pread short or failed");
		break;
	case KERNEL:
		for (size_t i = 0; i < nops; i++)
			if (pread(kfd, dst, sz, (off_t)offs[i]) != (ssize_t)sz)
				die("pread short or failed");
		break;
	default:
		for (size_t i = 0; i < nops; i++) {
			memcpy(dst, src + offs[i], sz);
			__asm__ volatile("" : : "r"(dst) : "memory");
		}
		break;
	}
}

/* open, read all of @len in 1 MiB reads, close: ns */
static uint64_t open_read_close(enum impl im, const char *path, uint64_t len, char *dst)
{
	uint64_t t0 = now_ns();
	int fd = im == ENGINE ? (int)ck(pc_open(eng, "f", O_RDONLY, 0), "pc_open")
			      : (int)ckerr(open(path, O_RDONLY), "open");

	for (uint64_t off = 0; off < len; off += 1u << 20) {
		ssize_t n = im == ENGINE ? pc_pread(eng, fd, dst, 1u << 20, (off_t)off)
					 : pread(fd, dst, 1u << 20, (off_t)off);
		if (n != (ssize_t)(1u << 20))
			die("short read");
	}
	if (im == ENGINE)
		ck(pc_close(eng, fd), "pc_close");
	else
		close(fd);
	return now_ns() - t0;
}

/*
 * Re-open after the last close: the engine keeps the unused inode and its
 * pages (the kernel's inode LRU), so open + read all + close of a closed
 * cached file costs what a cached read does; the anchor is the same on the
 * kernel's tmpfs twin. The pages the engine read from the store meanwhile
 * (pc_stats misses) are reported: 0 when the cache survived the closes.
 */
static void reopen_after_close(const char *sd, const char *kd, uint64_t len, char *dst)
{
	struct series s[2], miss;
	struct pc_stats a, b;
	const char *kpath = path_join(kd, "f");

	(void)sd;
	memset(s, 0, sizeof(s));
	memset(&miss, 0, sizeof(miss));
	open_read_close(ENGINE, NULL, len, dst); /* untimed */
	open_read_close(KERNEL, kpath, len, dst);
	for (int r = 0; r < bcfg.reps; r++) {
		for (int k = 0; k < 2; k++) {
			enum impl im = (enum impl)((k + r) % 2);

			pc_get_stats(eng, &a, sizeof(a));
			uint64_t t = open_read_close(im, kpath, len, dst);
			pc_get_stats(eng, &b, sizeof(b));
			series_add(&s[im], (double)len / (double)t); /* GB/s */
			if (im == ENGINE)
				series_add(&miss, (double)(b.misses - a.misses));
		}
	}
	emit_row("read", "reopen+read all", "engine", "GB/s", &s[ENGINE]);
	emit_row("read", "reopen+read all", "kernel-tmpfs", "GB/s", &s[KERNEL]);
	emit_row("fault-count", "reopen: pages re-read from the store", "engine", "pages", &miss);
	emit_cmp("read", "reopen+read all", "GB/s", "engine", &s[ENGINE], "kernel-tmpfs",
		 &s[KERNEL], ">=", 1 / 1.5);
	/* issue 17: a re-open re-reads nothing (pages read from the store per cached page) */
	struct series pages = {0};
	for (int r = 0; r < miss.n; r++)
		series_add(&pages, (double)(len / 4096));
	emit_cmp("read", "reopen after last close: pages re-read from the store", "pages",
		 "re-read", &miss, "file-pages", &pages, "<=", 0.0);
}

/*
 * Re-open of many closed files: NFILES files of four pages each written and
 * closed, then each opened, read whole and closed again, per repetition;
 * the pages the engine read from the store meanwhile (pc_stats misses): 0
 * while the engine keeps every closed file's inode and pages (its bound on
 * unused inodes comes from the open-file limit, fs/inode_lru.c; it was 128,
 * and every pass over more files re-read them all).
 */
static void reopen_many(char *dst)
{
	const int nfiles = 1000;
	const size_t flen = 4 * 4096;
	struct series miss = {0}, pages = {0};
	char name[32];

	memset(dst, 'm', flen);
	for (int f = 0; f < nfiles; f++) {
		snprintf(name, sizeof(name), "many%d", f);
		int fd = (int)ck(pc_open(eng, name, O_RDWR | O_CREAT | O_TRUNC, 0644), "pc_open");
		ck(pc_pwrite(eng, fd, dst, flen, 0), "pc_pwrite");
		ck(pc_close(eng, fd), "pc_close");
	}
	for (int r = 0; r < bcfg.reps; r++) {
		struct pc_stats a, b;

		pc_get_stats(eng, &a, sizeof(a));
		for (int f = 0; f < nfiles; f++) {
			snprintf(name, sizeof(name), "many%d", f);
			int fd = (int)ck(pc_open(eng, name, O_RDONLY, 0), "pc_open");
			if (pc_pread(eng, fd, dst, flen, 0) != (ssize_t)flen)
				die("short read");
			ck(pc_close(eng, fd), "pc_close");
		}
		pc_get_stats(eng, &b, sizeof(b));
		series_add(&miss, (double)(b.misses - a.misses));
		series_add(&pages, (double)(nfiles * (flen / 4096)));
	}
	emit_cmp("read", "reopen of 1000 closed files: pages re-read from the store", "pages",
		 "re-read", &miss, "file-pages", &pages, "<=", 0.0);
}

/*
 * Statistics honesty: a cold read of the whole file (the engine's pages
 * dropped with pc_fadvise DONTNEED first) reads every page from the store
 * once, and pc_stats misses must count each (readahead pages included).
 */
static void stats_honesty(uint64_t len, char *dst)
{
	struct series m, pages;
	struct pc_stats a, b;

	memset(&m, 0, sizeof(m));
	memset(&pages, 0, sizeof(pages));
	for (int r = 0; r < bcfg.reps; r++) {
		int fd = (int)ck(pc_open(eng, "f", O_RDONLY, 0), "pc_open");

		ck(pc_fadvise(eng, fd, 0, 0, POSIX_FADV_DONTNEED), "pc_fadvise");
		pc_get_stats(eng, &a, sizeof(a));
		open_read_close(ENGINE, NULL, len, dst);
		pc_get_stats(eng, &b, sizeof(b));
		ck(pc_close(eng, fd), "pc_close");
		series_add(&m, (double)(b.misses - a.misses));
		series_add(&pages, (double)(len / 4096));
	}
	emit_cmp("read", "cold read all: pc_stats misses per page read", "pages", "misses", &m,
		 "pages-read", &pages, ">=", 1.0);
}

int main(int argc, char **argv)
{
	bench_init(argc, argv, 9);
	const uint64_t fsize = bcfg.smoke ? 4u << 20 : 256u << 20;
	const uint64_t per_rep = bcfg.smoke ? 4u << 20 : 128u << 20;
	const size_t sizes[] = {4096, 65536, 131072, 1u << 20};
	uint64_t seed = bench_seed();

	const char *sd = bench_tmpdir(bcfg.store_base, "read");
	const char *kd = bench_tmpdir(bcfg.shm_base, "read");

	kfd = twin_files(sd, kd, fsize, &eng, &efd);
	src = xalloc(fsize);
	fill_pattern(src, fsize, 7);

	struct pc_stats st;

	pc_get_stats(eng, &st, sizeof(st));
	emit_info("engine_cached_pages", "%llu", (unsigned long long)st.cached_pages);

	char *dst = xalloc(1u << 20);
	size_t maxops = per_rep / 4096;
	uint64_t *offs = malloc(sizeof(*offs) * maxops);

	if (!offs)
		die("out of memory");
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		size_t sz = sizes[si], nops = per_rep / sz;
		uint64_t nslots = fsize / sz;

		for (int rand = 0; rand < 2; rand++) {
			struct series s[NIMPL];

			memset(s, 0, sizeof(s));
			char metric[64];

			snprintf(metric, sizeof(metric), "%s %zuK", rand ? "rand" : "seq",
				 sz / 1024);
			for (size_t i = 0; i < nops; i++)
				offs[i] = (rand ? rnd(&seed) % nslots : i % nslots) * sz;
			/* one untimed pass of each, then the repetitions */
			for (int im = 0; im < NIMPL; im++)
				run_one((enum impl)im, dst, sz, offs, nops);
			for (int r = 0; r < bcfg.reps; r++) {
				/* the three alternate slice by slice, so that preemption
				 * and other noise fall on all of them */
				uint64_t t[NIMPL] = {0};

				for (size_t j = 0; j < SLICES; j++) {
					size_t from = nops * j / SLICES,
					       to = nops * (j + 1) / SLICES;

					for (int k = 0; k < NIMPL; k++) {
						enum impl im =
						    (enum impl)((k + r + (int)j) % NIMPL);
						uint64_t t0 = now_ns();

						run_one(im, dst, sz, offs + from, to - from);
						t[im] += now_ns() - t0;
					}
				}
				for (int im = 0; im < NIMPL; im++)
					series_add(&s[im],
						   (double)(nops * sz) / (double)t[im]); /* GB/s */
			}
			for (int im = 0; im < NIMPL; im++)
				emit_row("read", metric, impl_name[im], "GB/s", &s[im]);
			emit_cmp("read", metric, "GB/s", "engine", &s[ENGINE], "kernel-tmpfs",
				 &s[KERNEL], sz == 4096 ? ">=" : NULL, 2.0);
			/* issue 17: random 4 KiB >= 0.8 of memcpy, 128 KiB >= 0.95 */
			emit_cmp("read", metric, "GB/s", "engine", &s[ENGINE], "memcpy", &s[MEMCPY],
				 (sz == 4096 && rand) || sz == 131072 ? ">=" : NULL,
				 sz == 4096 ? 0.8 : 0.95);
		}
	}
	pc_get_stats(eng, &st, sizeof(st));
	emit_info("engine_misses_after", "%llu", (unsigned long long)st.misses);
	pc_close(eng, efd);
	reopen_after_close(sd, kd, fsize, dst);
	reopen_many(dst);
	stats_honesty(fsize, dst);
	free(offs);
	free(dst);
	free(src);
	ck(pc_engine_close(eng), "pc_engine_close");
	close(kfd);
	return 0;
}

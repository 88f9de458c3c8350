/* SPDX-License-Identifier: MIT */
/*
 * bench_mem.c - memory cost of the cache: a file laid out by the host in the
 * store is read through the engine in steps (1/16, 1/8, 1/4, 1/2, all of it); after each step the
 * engine's cached page count and /proc/self/status (VmHWM, VmRSS, RssAnon, RssShmem) are read. Page
 * contents live in memfds (shared memory), metadata in the heap (anonymous memory), so metadata
 * bytes per cached page = growth of RssAnon / growth of cached pages and peak RSS is compared with
 * the bytes cached. The kernel's anchor is its struct page: 64 bytes per 4 KiB page.
 *
 * Goal: metadata <= 64 bytes per cached page.
 * Locks: none of its own (one thread).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

struct memst {
	double hwm, rss, anon, shmem; /* KiB */
};

static void read_status(struct memst *m)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];

	memset(m, 0, sizeof(*m));
	if (!f)
		die("/proc/self/status");
	while (fgets(line, sizeof(line), f)) {
		double v;

		if (sscanf(line, "VmHWM: %lf", &v) == 1)
			m->hwm = v;
		else if (sscanf(line, "VmRSS: %lf", &v) == 1)
			m->rss = v;
		else if (sscanf(line, "RssAnon: %lf", &v) == 1)
			m->anon = v;
		else if (sscanf(line, "RssShmem: %lf", &v) == 1)
			m->shmem = v;
	}
	fclose(f);
}

static struct series one(double v)
{
	struct series s = {.n = 0};

	series_add(&s, v);
	return s;
}

int main(int argc, char **argv)
{
	bench_init(argc, argv, 1);
	const uint64_t fsize = bcfg.smoke ? 8u << 20 : 1024u << 20;
	const int den[] = {16, 8, 4, 2, 1};
	const size_t chunk = 1u << 20;

	const char *sd = bench_tmpdir(bcfg.store_base, "mem");
	int hfd = (int)ckerr(open(path_join(sd, "f"), O_RDWR | O_CREAT, 0644), "open");

	host_fill(hfd, fsize);
	close(hfd);
	char *buf = xalloc(chunk);
	struct pc_engine *e = bench_engine(sd, PC_POLICY_TWO_STATE, fsize + (64u << 20));
	int fd = (int)ck(pc_open(e, "f", O_RDONLY, 0), "pc_open");
	struct pc_stats st0, st;
	struct memst m0, m;
	uint64_t done = 0;

	/* one read so that lazily created per-thread and per-inode state exists */
	ck(pc_pread(e, fd, buf, 4096, 0), "pc_pread");
	pc_get_stats(e, &st0, sizeof(st0));
	read_status(&m0);
	emit_info("file_bytes", "%llu", (unsigned long long)fsize);
	emit_info("baseline", "cached_pages %llu VmHWM %.0f KiB RssAnon %.0f KiB RssShmem %.0f KiB",
		  (unsigned long long)st0.cached_pages, m0.hwm, m0.anon, m0.shmem);
	double meta = 0;

	for (size_t i = 0; i < sizeof(den) / sizeof(den[0]); i++) {
		uint64_t upto = fsize / (uint64_t)den[i];
		char metric[64];

		for (; done < upto; done += chunk)
			if (ck(pc_pread(e, fd, buf, chunk, (off_t)done), "pc_pread") != (long)chunk)
				die("short read");
		pc_get_stats(e, &st, sizeof(st));
		read_status(&m);
		double pages = (double)(st.cached_pages - st0.cached_pages);
		double cached_mib = (double)st.cached_pages * 4096 / 1048576.0;

		meta = pages > 0 ? (m.anon - m0.anon) * 1024.0 / pages : 0;
		snprintf(metric, sizeof(metric), "cached %.0f MiB", cached_mib);
		struct series s;

		s = one(meta);
		emit_row("mem", metric, "metadata", "B/page", &s);
		s = one((m.hwm - m0.hwm) / 1024.0);
		emit_row("mem", metric, "peak RSS growth", "MiB", &s);
		s = one(m.shmem / 1024.0);
		emit_row("mem", metric, "RssShmem", "MiB", &s);
		s = one(m.anon / 1024.0);
		emit_row("mem", metric, "RssAnon", "MiB", &s);
		s = one(m.hwm / 1024.0);
		emit_row("mem", metric, "VmHWM", "MiB", &s);
		s = one(cached_mib);
		emit_row("mem", metric, "cached", "MiB", &s);
	}
	struct series a = one(meta), b = one(64.0);

	emit_cmp("mem", "metadata per cached page", "B/page", "engine", &a, "kernel struct page",
		 &b, "<=", 1.0);
	pc_get_stats(e, &st, sizeof(st));
	read_status(&m);
	a = one(m.hwm / 1024.0);
	b = one((double)st.cached_pages * 4096 / 1048576.0);
	emit_cmp("mem", "peak RSS vs cached bytes", "MiB", "VmHWM", &a, "cached", &b, NULL, 0);
	free(buf);
	pc_close(e, fd);
	ck(pc_engine_close(e), "pc_engine_close");
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * bench_scale.c - cost per operation as a sparse file grows from 1 MiB to
 * 16 GiB: the same number of 4 KiB pages (at most 256, at random distinct
 * places) are written into a sparse file, then timed:
 *   lookup  4 KiB pread of those cached pages (random order, several rounds)
 *   fault   first touch of each of those pages through a fresh shared
 *           mapping of the whole file (load)
 *   punch   4 KiB punch of each of those pages (rewritten, untimed, first)
 * for the engine (pc_*) and for the kernel on a sparse tmpfs file. What
 * matters is the shape: the cost should not grow with the file size.
 *
 * No goal. Locks: none of its own (one thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

enum impl { ENGINE, KERNEL, NIMPL };
static const char *impl_name[NIMPL] = {"engine", "kernel-tmpfs"};
enum op { LOOKUP, FAULT, PUNCH, NOP };
static const char *op_name[NOP] = {"lookup", "fault", "punch"};

static struct pc_engine *eng;
static bool can_map = true;

struct target {
	int efd, kfd;
	uint64_t size;
	uint64_t *pages; /* page indexes, distinct, in random order */
	size_t n;
};

static void write_pages(enum impl im, struct target *t, const char *buf)
{
	for (size_t i = 0; i < t->n; i++) {
		off_t off = (off_t)(t->pages[i] * 4096);
		ssize_t r = im == ENGINE ? pc_pwrite(eng, t->efd, buf, 4096, off)
					 : pwrite(t->kfd, buf, 4096, off);

		if (r != 4096)
			die("write_pages");
	}
}

/* ns per operation */
static double run_op(enum impl im, enum op op, struct target *t, const char *wbuf, char *rbuf)
{
	const int mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	const int rounds = 8;
	uint64_t t0, ns;
	size_t nops = t->n;

	switch (op) {
	case LOOKUP:
		t0 = now_ns();
		for (int r = 0; r < rounds; r++)
			for (size_t i = 0; i < t->n; i++) {
				off_t off = (off_t)(t->pages[i] * 4096);
				ssize_t n = im == ENGINE ? pc_pread(eng, t->efd, rbuf, 4096, off)
							 : pread(t->kfd, rbuf, 4096, off);

				if (n != 4096)
					die("lookup read");
			}
		ns = now_ns() - t0;
		nops *= rounds;
		break;
	case FAULT: {
		/* several fresh mappings per sample: one is only t->n faults */
		const int passes = 4;

		ns = 0;
		for (int pass = 0; pass < passes; pass++) {
			volatile unsigned char *p;
			uint64_t sum = 0;
			int err = 0;

			p = im == ENGINE
				? pc_mmap(eng, t->efd, t->size, PROT_READ, MAP_SHARED, 0, &err)
				: mmap(NULL, t->size, PROT_READ, MAP_SHARED, t->kfd, 0);
			if (!p || p == MAP_FAILED)
				die("map %s: %s", impl_name[im],
				    strerror(im == ENGINE ? -err : errno));
			t0 = now_ns();
			for (size_t i = 0; i < t->n; i++)
				sum += p[t->pages[i] * 4096];
			ns += now_ns() - t0;
			bench_sink += sum;
			if (im == ENGINE)
				ck(pc_munmap(eng, (void *)p, t->size), "pc_munmap");
			else
				munmap((void *)p, t->size);
		}
		nops *= passes;
		break;
	}
	default:
		write_pages(im, t, wbuf);
		t0 = now_ns();
		for (size_t i = 0; i < t->n; i++) {
			off_t off = (off_t)(t->pages[i] * 4096);

			if (im == ENGINE)
				ck(pc_fallocate(eng, t->efd, mode, off, 4096), "pc_fallocate");
			else
				ckerr(fallocate(t->kfd, mode, off, 4096), "fallocate");
		}
		ns = now_ns() - t0;
		write_pages(im, t, wbuf); /* leave them cached for the next op */
		break;
	}
	return (double)ns / (double)nops;
}

int main(int argc, char **argv)
{
	bench_init(argc, argv, 9);
	const uint64_t sizes_full[] = {1ull << 20, 16ull << 20, 256ull << 20, 4ull << 30,
				       16ull << 30};
	const uint64_t sizes_smoke[] = {1ull << 20, 16ull << 20};
	const uint64_t *sizes = bcfg.smoke ? sizes_smoke : sizes_full;
	size_t nsizes = bcfg.smoke ? 2 : 5;
	const size_t want = bcfg.smoke ? 16 : 256;
	uint64_t seed = bench_seed();

	const char *sd = bench_tmpdir(bcfg.store_base, "scale");
	const char *kd = bench_tmpdir(bcfg.shm_base, "scale");

	eng = bench_engine(sd, PC_POLICY_TWO_STATE, 256u << 20);
	char *wbuf = xalloc(4096), *rbuf = xalloc(4096);

	fill_pattern(wbuf, 4096, 11);
	{
		int err = 0, fd = (int)ck(pc_open(eng, "probe", O_RDWR | O_CREAT, 0644), "pc_open");
		void *p;

		ck(pc_ftruncate(eng, fd, 4096), "pc_ftruncate");
		p = pc_mmap(eng, fd, 4096, PROT_READ, MAP_SHARED, 0, &err);
		if (p)
			pc_munmap(eng, p, 4096);
		else
			can_map = false;
		pc_close(eng, fd);
	}
	for (size_t si = 0; si < nsizes; si++) {
		struct target t = {.size = sizes[si]};
		char name[32], metric[64];
		uint64_t npages = t.size / 4096;

		snprintf(name, sizeof(name), "f%zu", si);
		t.efd = (int)ck(pc_open(eng, name, O_RDWR | O_CREAT, 0644), "pc_open");
		ck(pc_ftruncate(eng, t.efd, (off_t)t.size), "pc_ftruncate");
		t.kfd = (int)ckerr(open(path_join(kd, name), O_RDWR | O_CREAT, 0644), "open");
		ckerr(ftruncate(t.kfd, (off_t)t.size), "ftruncate");
		t.n = npages < want ? (size_t)npages : want;
		t.pages = malloc(sizeof(*t.pages) * t.n);
		if (!t.pages)
			die("out of memory");
		/* distinct random pages: one per stride, at a random place in it */
		for (size_t i = 0; i < t.n; i++) {
			uint64_t stride = npages / t.n;

			t.pages[i] = i * stride + rnd(&seed) % stride;
		}
		for (size_t i = t.n; i > 1; i--) {
			size_t j = rnd(&seed) % i;
			uint64_t x = t.pages[i - 1];

			t.pages[i - 1] = t.pages[j];
			t.pages[j] = x;
		}
		write_pages(ENGINE, &t, wbuf);
		write_pages(KERNEL, &t, wbuf);
		for (int op = 0; op < NOP; op++) {
			struct series s[NIMPL];

			if (op == FAULT && !can_map) {
				emit_skip("scale", "fault", "pc_mmap unavailable");
				continue;
			}
			memset(s, 0, sizeof(s));
			snprintf(metric, sizeof(metric), "%s %llu MiB", op_name[op],
				 (unsigned long long)(t.size >> 20));
			for (int r = 0; r < bcfg.reps; r++)
				for (int k = 0; k < NIMPL; k++) {
					enum impl im = (enum impl)((k + r) % NIMPL);

					series_add(&s[im], run_op(im, (enum op)op, &t, wbuf, rbuf));
				}
			for (int im = 0; im < NIMPL; im++)
				emit_row("scale", metric, impl_name[im], "ns/op", &s[im]);
			emit_cmp("scale", metric, "ns/op", "engine", &s[ENGINE], "kernel-tmpfs",
				 &s[KERNEL], NULL, 0);
		}
		/* drop this file's pages before the next size (untimed) */
		ck(pc_ftruncate(eng, t.efd, 0), "pc_ftruncate");
		pc_close(eng, t.efd);
		close(t.kfd);
		unlink(path_join(kd, name));
		free(t.pages);
	}
	ck(pc_engine_close(eng), "pc_engine_close");
	free(wbuf);
	free(rbuf);
	return 0;
}

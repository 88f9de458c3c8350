/* SPDX-License-Identifier: MIT */
/*
 * bench_dio.c - direct I/O: pc_pread/pc_pwrite on an engine fd opened
 * O_DIRECT against raw pread/pwrite on the host fd of the very same store
 * file opened O_DIRECT, at QD1: 4 KiB random reads and writes, 1 MiB
 * sequential reads and writes. The store directory must accept O_DIRECT
 * (tmpfs refuses it on kernels before 6.6): it is probed and reported. The
 * same offsets are used by both sides within a repetition, and the two
 * alternate in slices of it.
 *
 * Goal: engine >= 95% of raw O_DIRECT throughput.
 * Locks: none of its own (one thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "bench.h"

enum impl { ENGINE, RAW, NIMPL };
#define DIO_SLICES 16
static const char *impl_name[NIMPL] = {"engine", "raw-odirect"};

static struct pc_engine *eng;
static int efd, rfd;

static const char *fs_name(long t)
{
	switch ((unsigned long)t) {
	case 0xEF53:
		return "ext4";
	case 0x01021994:
		return "tmpfs";
	case 0x58465342:
		return "xfs";
	case 0x9123683E:
		return "btrfs";
	default:
		return "other";
	}
}

/* Does @dir take an O_DIRECT open and a 4 KiB O_DIRECT write? */
static bool odirect_ok(const char *dir, char *fs, size_t fslen)
{
	struct statfs sf;
	const char *p = path_join(dir, ".odirect-probe");
	bool ok = false;

	if (statfs(dir, &sf) == 0)
		snprintf(fs, fslen, "%s (0x%lx)", fs_name((long)sf.f_type), (long)sf.f_type);
	else
		snprintf(fs, fslen, "unknown");
	int fd = open(p, O_RDWR | O_CREAT | O_DIRECT, 0644);

	if (fd >= 0) {
		void *b = xalloc(4096);

		ok = pwrite(fd, b, 4096, 0) == 4096;
		free(b);
		close(fd);
	}
	unlink(p);
	return ok;
}

static void run_one(enum impl im, bool write, char *buf, size_t sz, const uint64_t *offs,
		    size_t nops)
{
	for (size_t i = 0; i < nops; i++) {
		ssize_t n;

		if (im == ENGINE)
			n = write ? pc_pwrite(eng, efd, buf, sz, (off_t)offs[i])
				  : pc_pread(eng, efd, buf, sz, (off_t)offs[i]);
		else
			n = write ? pwrite(rfd, buf, sz, (off_t)offs[i])
				  : pread(rfd, buf, sz, (off_t)offs[i]);
		if (n != (ssize_t)sz)
			die("%s %s: %zd (%s)", impl_name[im], write ? "write" : "read", n,
			    n < 0 ? strerror(im == ENGINE ? (int)-n : errno) : "short");
	}
}

int main(int argc, char **argv)
{
	bench_init(argc, argv, 7);
	const uint64_t fsize = bcfg.smoke ? 4u << 20 : 256u << 20;
	uint64_t seed = bench_seed();
	char fs[64];

	const char *shm = bench_tmpdir(bcfg.shm_base, "dioprobe");

	emit_info("tmpfs_odirect", "%s", odirect_ok(shm, fs, sizeof(fs)) ? "yes" : "no");
	const char *sd = bench_tmpdir(bcfg.store_base, "dio");
	bool ok = odirect_ok(sd, fs, sizeof(fs));

	emit_info("store_dir", "%s", sd);
	emit_info("store_fs", "%s", fs);
	if (!ok) {
		emit_skip("dio", "all", "store directory %s (%s) refuses O_DIRECT", sd, fs);
		return 0;
	}
	/* the file is laid out by the host first (allocated blocks, synced) */
	int hfd = (int)ckerr(open(path_join(sd, "f"), O_RDWR | O_CREAT, 0644), "open");

	host_fill(hfd, fsize);
	ckerr(fsync(hfd), "fsync");
	close(hfd);
	rfd = (int)ckerr(open(path_join(sd, "f"), O_RDWR | O_DIRECT), "open O_DIRECT");
	eng = bench_engine(sd, PC_POLICY_TWO_STATE, 64u << 20);
	efd = (int)ck(pc_open(eng, "f", O_RDWR | O_DIRECT, 0), "pc_open O_DIRECT");

	struct {
		const char *name;
		size_t sz;
		bool rand, write;
		uint64_t bytes; /* per repetition */
	} cases[] = {
	    {"rand read 4K", 4096, true, false, bcfg.smoke ? 64u << 10 : 16u << 20},
	    {"rand write 4K", 4096, true, true, bcfg.smoke ? 64u << 10 : 16u << 20},
	    {"seq read 1M", 1u << 20, false, false, bcfg.smoke ? 2u << 20 : 128u << 20},
	    {"seq write 1M", 1u << 20, false, true, bcfg.smoke ? 2u << 20 : 128u << 20},
	};
	char *buf = xalloc(1u << 20);

	fill_pattern(buf, 1u << 20, 3);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		size_t sz = cases[c].sz, nops = cases[c].bytes / sz;
		uint64_t nslots = fsize / sz;
		uint64_t *offs = malloc(sizeof(*offs) * nops);
		struct series s[NIMPL];

		if (!offs)
			die("out of memory");
		memset(s, 0, sizeof(s));
		run_one(ENGINE, cases[c].write, buf, sz, (uint64_t[]){0}, 1); /* warm-up */
		run_one(RAW, cases[c].write, buf, sz, (uint64_t[]){0}, 1);
		for (int r = 0; r < bcfg.reps; r++) {
			for (size_t i = 0; i < nops; i++)
				offs[i] = (cases[c].rand ? rnd(&seed) % nslots : i % nslots) * sz;
			/* the two alternate slice by slice, so that the disk's bursts of
			 * slowness fall on both */
			uint64_t t[NIMPL] = {0};

			for (size_t j = 0; j < DIO_SLICES; j++) {
				size_t from = nops * j / DIO_SLICES,
				       to = nops * (j + 1) / DIO_SLICES;

				for (int k = 0; k < NIMPL; k++) {
					enum impl im = (enum impl)((k + r + (int)j) % NIMPL);
					uint64_t t0 = now_ns();

					run_one(im, cases[c].write, buf, sz, offs + from,
						to - from);
					t[im] += now_ns() - t0;
				}
			}
			for (int im = 0; im < NIMPL; im++)
				series_add(&s[im],
					   (double)(nops * sz) / (double)t[im] * 1000.0); /* MB/s */
		}
		for (int im = 0; im < NIMPL; im++)
			emit_row("dio", cases[c].name, impl_name[im], "MB/s", &s[im]);
		emit_cmp("dio", cases[c].name, "MB/s", "engine", &s[ENGINE], "raw-odirect", &s[RAW],
			 ">=", 0.95);
		free(offs);
	}
	struct pc_stats st;

	pc_get_stats(eng, &st, sizeof(st));
	emit_info("engine_cached_pages_after", "%llu", (unsigned long long)st.cached_pages);
	free(buf);
	pc_close(eng, efd);
	ck(pc_engine_close(eng), "pc_engine_close");
	close(rfd);
	return 0;
}

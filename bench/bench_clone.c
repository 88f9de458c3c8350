/* SPDX-License-Identifier: MIT */
/*
 * bench_clone.c - sharing blocks on the vol store through the engine:
 *   - a whole-file clone of a 1 GiB file (pc_clone_range, then fsync of the
 *     clone) against copying it through the engine (1 MiB pread/pwrite,
 *     then fsync) and against the kernel's copy_file_range of the same file
 *     on the host file system (BENCH_STORE, normally ext4: a copy);
 *   - a 4 KiB write + fdatasync at random offsets into a shared extent (the
 *     clone's blocks: copy-on-write allocates) against the same into an
 *     unshared file.
 * Implementations: "engine-vol clone", "engine-vol copy", "kernel-host
 * copy_file_range"; "shared", "unshared". Each repetition runs each once,
 * in an order rotated by the repetition. --smoke: a 16 MiB file. No goal:
 * the ratios say what sharing buys.
 * Locks: none of its own (one thread).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* ---- clone of a whole file ---- */

static double clone_once(struct pc_engine *e, int src)
{
	int dst = (int)ck(pc_open(e, "clone", O_RDWR | O_CREAT | O_TRUNC, 0644), "pc_open");
	uint64_t t0 = now_ns();

	ck(pc_clone_range(e, dst, src, 0, 0, 0), "pc_clone_range");
	ck(pc_fsync(e, dst), "pc_fsync");
	double ms = (double)(now_ns() - t0) / 1e6;
	ck(pc_close(e, dst), "pc_close");
	ck(pc_unlink(e, "clone"), "pc_unlink");
	return ms;
}

static double copy_once(struct pc_engine *e, int src, uint64_t len, char *buf)
{
	int dst = (int)ck(pc_open(e, "copy", O_RDWR | O_CREAT | O_TRUNC, 0644), "pc_open");
	uint64_t t0 = now_ns();

	for (uint64_t off = 0; off < len; off += 1u << 20) {
		ssize_t n = ck(pc_pread(e, src, buf, 1u << 20, (off_t)off), "pc_pread");
		ck(pc_pwrite(e, dst, buf, (size_t)n, (off_t)off), "pc_pwrite");
	}
	ck(pc_fsync(e, dst), "pc_fsync");
	double ms = (double)(now_ns() - t0) / 1e6;
	ck(pc_close(e, dst), "pc_close");
	ck(pc_unlink(e, "copy"), "pc_unlink");
	/* the copy's pages out of the cache: the next run starts alike */
	ck(pc_fadvise(e, src, 0, 0, POSIX_FADV_DONTNEED), "pc_fadvise");
	return ms;
}

static double host_copy_once(const char *hdir, int hsrc, uint64_t len)
{
	const char *p = path_join(hdir, "copy");
	int dst = (int)ckerr(open(p, O_RDWR | O_CREAT | O_TRUNC, 0644), "open");
	uint64_t t0 = now_ns();
	loff_t a = 0, b = 0;

	while ((uint64_t)a < len)
		if (ckerr(copy_file_range(hsrc, &a, dst, &b, len - (uint64_t)a, 0),
			  "copy_file_range") == 0)
			break;
	ckerr(fsync(dst), "fsync");
	double ms = (double)(now_ns() - t0) / 1e6;
	close(dst);
	unlink(p);
	return ms;
}

/* ---- writes into shared and unshared blocks ---- */

/* Mean microseconds of @n 4 KiB pwrite + fdatasync at random offsets. */
static double writes(struct pc_engine *e, int fd, uint64_t len, int n, char *buf, uint64_t *s)
{
	uint64_t t0 = now_ns();

	for (int i = 0; i < n; i++) {
		uint64_t off = rnd(s) % (len / 4096) * 4096;
		ck(pc_pwrite(e, fd, buf, 4096, (off_t)off), "pc_pwrite");
		ck(pc_fdatasync(e, fd), "pc_fdatasync");
	}
	return (double)(now_ns() - t0) / 1e3 / n;
}

int main(int argc, char **argv)
{
	bench_init(argc, argv, 3);
	const uint64_t len = bcfg.smoke ? 16u << 20 : 1ull << 30;
	const int nw = bcfg.smoke ? 16 : 400;
	const char *vdir = bench_tmpdir(bcfg.store_base, "clone");
	const char *hdir = bench_tmpdir(bcfg.store_base, "clonehost");
	char *buf = xalloc(1u << 20);
	struct series cl = {0}, cp = {0}, hc = {0}, sh = {0}, un = {0};
	uint64_t seed = bench_seed();

	/* room for the file, its copy, and the copy-on-write blocks */
	struct pc_engine *e = bench_vol_engine(vdir, "clone.img", 3 * len + (256u << 20));
	int src = (int)ck(pc_open(e, "src", O_RDWR | O_CREAT, 0644), "pc_open");
	engine_fill(e, src, len);
	ck(pc_fsync(e, src), "pc_fsync");
	int hsrc = (int)ckerr(open(path_join(hdir, "src"), O_RDWR | O_CREAT, 0644), "open");
	host_fill(hsrc, len);
	ckerr(fsync(hsrc), "fsync");
	emit_info("clone_file_bytes", "%llu", (unsigned long long)len);

	for (int r = 0; r < bcfg.reps; r++)
		for (int k = 0; k < 3; k++)
			switch ((k + r) % 3) {
			case 0:
				series_add(&cl, clone_once(e, src));
				break;
			case 1:
				series_add(&cp, copy_once(e, src, len, buf));
				break;
			default:
				series_add(&hc, host_copy_once(hdir, hsrc, len));
				break;
			}
	emit_row("clone", "whole file + fsync", "engine-vol clone", "ms", &cl);
	emit_row("clone", "whole file + fsync", "engine-vol copy", "ms", &cp);
	emit_row("clone", "whole file + fsync", "kernel-host copy_file_range", "ms", &hc);
	emit_cmp("clone", "whole file + fsync", "ms", "engine-vol clone", &cl, "engine-vol copy",
		 &cp, NULL, 0);
	emit_cmp("clone", "whole file + fsync", "ms", "engine-vol clone", &cl,
		 "kernel-host copy_file_range", &hc, NULL, 0);

	/* writes: into a fresh clone of src (every block shared until its first
	 * write) and into src's own blocks once nothing else shares them */
	fill_pattern(buf, 4096, 3);
	for (int r = 0; r < bcfg.reps; r++) {
		int c = (int)ck(pc_open(e, "shared", O_RDWR | O_CREAT | O_TRUNC, 0644), "pc_open");
		ck(pc_clone_range(e, c, src, 0, 0, 0), "pc_clone_range");
		ck(pc_fsync(e, c), "pc_fsync");
		uint64_t s1 = seed + (uint64_t)r, s2 = s1;
		if (r % 2) {
			series_add(&sh, writes(e, c, len, nw, buf, &s1));
			ck(pc_close(e, c), "pc_close");
			ck(pc_unlink(e, "shared"), "pc_unlink");
			series_add(&un, writes(e, src, len, nw, buf, &s2));
		} else {
			ck(pc_close(e, c), "pc_close");
			ck(pc_unlink(e, "shared"), "pc_unlink");
			series_add(&un, writes(e, src, len, nw, buf, &s2));
			c = (int)ck(pc_open(e, "shared", O_RDWR | O_CREAT | O_TRUNC, 0644),
				    "pc_open");
			ck(pc_clone_range(e, c, src, 0, 0, 0), "pc_clone_range");
			ck(pc_fsync(e, c), "pc_fsync");
			series_add(&sh, writes(e, c, len, nw, buf, &s1));
			ck(pc_close(e, c), "pc_close");
			ck(pc_unlink(e, "shared"), "pc_unlink");
		}
	}
	emit_row("clone", "4K write + fdatasync", "shared", "us", &sh);
	emit_row("clone", "4K write + fdatasync", "unshared", "us", &un);
	emit_cmp("clone", "4K write + fdatasync", "us", "shared", &sh, "unshared", &un, NULL, 0);

	ck(pc_close(e, src), "pc_close");
	ck(pc_engine_close(e), "pc_engine_close");
	close(hsrc);
	free(buf);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * probe_volseq.c - the vol store's sequential write + fsync and cold reads
 * through the C API, by phase, against the same calls on a host file in the
 * same directory (BENCH_STORE, default /var/tmp). What the fio row "seq
 * write 1M + fsync" of the mount costs without FUSE, and what the image's
 * I/O model (buffered or O_DIRECT data writes) does to reads of data the
 * engine no longer caches. Not run by run.sh.
 *
 *   probe_volseq [MiB [rounds [engine-only]]]   (256 4 0)
 *
 * Each round: unlink and create "f", MiB pwrites of 1 MiB, fsync (the
 * write and fsync phases timed apart); then, on the engine, the file's
 * pages dropped (pc_fadvise DONTNEED) and read back whole in 1 MiB preads
 * (cold 1), dropped and read again (cold 2: the host may cache the image
 * by then), dropped and 4096 random 4 KiB preads (cold rand). The host
 * side drops its cache with posix_fadvise DONTNEED likewise. One line per
 * round and side, in ms (reads in MB/s). Locks: none of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pagecache.h"

#define MB (1ul << 20)

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void ck(long r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "probe_volseq: %s: %s\n", what, strerror((int)-r));
		exit(1);
	}
}

static void cke(long r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "probe_volseq: %s: %s\n", what, strerror(errno));
		exit(1);
	}
}

/* One side: @e NULL is the host file @path. */
static ssize_t do_pwrite(struct pc_engine *e, int fd, const void *b, size_t n, off_t o)
{
	return e ? pc_pwrite(e, fd, b, n, o) : pwrite(fd, b, n, o);
}

static ssize_t do_pread(struct pc_engine *e, int fd, void *b, size_t n, off_t o)
{
	return e ? pc_pread(e, fd, b, n, o) : pread(fd, b, n, o);
}

static void drop(struct pc_engine *e, int fd)
{
	if (e)
		ck(pc_fadvise(e, fd, 0, 0, POSIX_FADV_DONTNEED), "pc_fadvise");
	else
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

static double seq_read(struct pc_engine *e, int fd, char *buf, unsigned long mib)
{
	drop(e, fd);
	double t0 = now_ms();
	for (unsigned long i = 0; i < mib; i++)
		if (do_pread(e, fd, buf, MB, (off_t)(i * MB)) != (ssize_t)MB)
			ck(-EIO, "pread");
	return (double)(mib * MB) / 1e3 / (now_ms() - t0); /* MB/s */
}

static double rand_read(struct pc_engine *e, int fd, char *buf, unsigned long mib, uint64_t *rng)
{
	drop(e, fd);
	double t0 = now_ms();
	for (int i = 0; i < 4096; i++) {
		*rng ^= *rng << 13;
		*rng ^= *rng >> 7;
		*rng ^= *rng << 17;
		off_t o = (off_t)(*rng % (mib * 256)) * 4096;
		if (do_pread(e, fd, buf, 4096, o) != 4096)
			ck(-EIO, "pread 4k");
	}
	return 4096.0 * 4096 / 1e3 / (now_ms() - t0);
}

static void round_one(struct pc_engine *e, const char *hostdir, int round, char *buf,
		      unsigned long mib)
{
	char path[4096];
	int fd;
	uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(round + 1);

	if (e) {
		pc_unlink(e, "f");
		fd = pc_open(e, "f", O_RDWR | O_CREAT | O_TRUNC, 0644);
		ck(fd, "pc_open");
	} else {
		snprintf(path, sizeof(path), "%s/f", hostdir);
		unlink(path);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
		cke(fd, "open");
	}
	double t0 = now_ms();
	for (unsigned long i = 0; i < mib; i++) {
		memset(buf, (int)(i + (unsigned long)round), 64);
		if (do_pwrite(e, fd, buf, MB, (off_t)(i * MB)) != (ssize_t)MB)
			ck(-EIO, "pwrite");
	}
	double t1 = now_ms();
	if (e)
		ck(pc_fsync(e, fd), "pc_fsync");
	else
		cke(fsync(fd), "fsync");
	double t2 = now_ms();
	double c1 = seq_read(e, fd, buf, mib);
	double c2 = seq_read(e, fd, buf, mib);
	double cr = rand_read(e, fd, buf, mib, &rng);
	printf("%-6s round %d: write %7.1f ms fsync %7.1f ms total %6.0f MB/s | cold seq1 %6.0f "
	       "seq2 %6.0f MB/s rand4k %6.1f MB/s\n",
	       e ? "engine" : "host", round, t1 - t0, t2 - t1, (double)(mib * MB) / 1e3 / (t2 - t0),
	       c1, c2, cr);
	fflush(stdout);
	if (e)
		ck(pc_close(e, fd), "pc_close");
	else
		close(fd);
}

int main(int argc, char **argv)
{
	unsigned long mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 256;
	int rounds = argc > 2 ? atoi(argv[2]) : 4;
	int engine_only = argc > 3 ? atoi(argv[3]) : 0;
	const char *base = getenv("BENCH_STORE") ? getenv("BENCH_STORE") : "/var/tmp";
	char dir[4096], img[4200], hdir[4200];
	char *buf;

	snprintf(dir, sizeof(dir), "%s/probe_volseq-XXXXXX", base);
	if (!mkdtemp(dir))
		cke(-1, "mkdtemp");
	snprintf(img, sizeof(img), "%s/vol.img", dir);
	snprintf(hdir, sizeof(hdir), "%s/host", dir);
	cke(mkdir(hdir, 0755), "mkdir");
	if (posix_memalign((void **)&buf, 4096, MB))
		return 1;
	memset(buf, 0x5a, MB);

	struct pc_vol_mkfs_options mo = {.size = sizeof(mo),
					 .bytes = (int64_t)(mib * 3 + 512) * MB};
	ck(pc_vol_mkfs(img, &mo), "pc_vol_mkfs");
	struct pc_options o = PC_OPTIONS_INIT;
	o.store_image = img;
	struct pc_engine *e = NULL;
	ck(pc_engine_open(&o, &e), "pc_engine_open");
	for (int r = 1; r <= rounds; r++) {
		/* alternate which side goes first */
		if (engine_only) {
			round_one(e, NULL, r, buf, mib);
		} else if (r % 2) {
			round_one(e, NULL, r, buf, mib);
			round_one(NULL, hdir, r, buf, mib);
		} else {
			round_one(NULL, hdir, r, buf, mib);
			round_one(e, NULL, r, buf, mib);
		}
	}
	ck(pc_engine_close(e), "pc_engine_close");
	char cmd[8600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * fsx.c - a random-operation exerciser in the spirit of fsx: on one file of
 * a mounted file system it runs random writes, reads, truncates, fallocate
 * (allocate, punch, zero range), copy_file_range within the file (the
 * FUSE copy_file_range request: on vol its page-aligned part shares blocks,
 * so a short count is taken as it comes), fsync, close/reopen and - with --mmap -
 * mmap reads and writes (MAP_SHARED), keeping an in-memory copy of the file
 * and checking every read and the size against it.
 *
 * usage: fsx DIR [--mmap]; FSX_OPS (default 2000) operations; PC_SEED
 * replays. Prints TAP: one test point, the seed, and on a mismatch the last
 * operations and the first differing offset. Exit 0 pass, 1 fail.
 *
 * Locks: none (one thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAXLEN (1 << 20) /* largest file */
#define MAXOP  (64 << 10)
#define HIST   16

static unsigned char *good, *buf;
static int64_t size;
static int fd = -1;
static char path[4096];
static uint64_t rng;
static char hist[HIST][96];
static unsigned nop;
static bool use_mmap;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(hist[nop % HIST], sizeof(hist[0]), fmt, ap);
	va_end(ap);
	nop++;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;
	printf("# FAILED at op %u: ", nop);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n# last operations:\n");
	for (unsigned i = nop > HIST ? nop - HIST : 0; i < nop; i++)
		printf("#   %u: %s\n", i, hist[i % HIST]);
	printf("not ok 1 - fsx%s\n", use_mmap ? " with mmap" : "");
	exit(1);
}

static void check(const unsigned char *got, int64_t off, int64_t len, const char *what)
{
	for (int64_t i = 0; i < len; i++)
		if (got[i] != good[off + i])
			fail("%s: byte at %" PRId64 " is 0x%02x, expected 0x%02x", what, off + i,
			     got[i], good[off + i]);
}

static void reopen(void)
{
	if (fd >= 0 && close(fd))
		fail("close: %s", strerror(errno));
	fd = open(path, O_RDWR);
	if (fd < 0)
		fail("open: %s", strerror(errno));
}

static void check_size(void)
{
	struct stat st;
	if (fstat(fd, &st))
		fail("fstat: %s", strerror(errno));
	if (st.st_size != size)
		fail("size is %" PRId64 ", expected %" PRId64, (int64_t)st.st_size, size);
}

static void op_read(int64_t off, int64_t len)
{
	note("read %" PRId64 " +%" PRId64, off, len);
	ssize_t n = pread(fd, buf, (size_t)len, off);
	int64_t expect = off >= size ? 0 : (off + len > size ? size - off : len);
	if (n != expect)
		fail("read returned %zd, expected %" PRId64 " (%s)", n, expect,
		     n < 0 ? strerror(errno) : "short");
	check(buf, off, n, "read");
}

static void op_write(int64_t off, int64_t len)
{
	note("write %" PRId64 " +%" PRId64, off, len);
	for (int64_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(next() | 1);
	if (pwrite(fd, buf, (size_t)len, off) != len)
		fail("write: %s", strerror(errno));
	if (off > size)
		memset(good + size, 0, (size_t)(off - size));
	memcpy(good + off, buf, (size_t)len);
	if (off + len > size)
		size = off + len;
}

static void op_copy(int64_t from, int64_t to, int64_t len)
{
	int64_t count = from >= size ? 0 : (from + len > size ? size - from : len);
	loff_t a = from, b = to;

	if (next() % 2) { /* page-aligned: shared where the store can */
		a = from &= ~4095ll;
		b = to &= ~4095ll;
		count = from >= size ? 0 : (from + len > size ? size - from : len);
	}
	note("copy_file_range %" PRId64 " -> %" PRId64 " +%" PRId64, from, to, len);
	ssize_t n = copy_file_range(fd, &a, fd, &b, (size_t)len, 0);
	if (count && to + count > from && to < from + count) {
		if (n != -1 || errno != EINVAL)
			fail("overlapping copy_file_range returned %zd (%s), expected EINVAL", n,
			     n < 0 ? strerror(errno) : "a count");
		return;
	}
	if (n < 0 || n > count || (count && !n))
		fail("copy_file_range returned %zd, expected 1..%" PRId64 " (%s)", n, count,
		     n < 0 ? strerror(errno) : "count");
	if (a != from + n || b != to + n)
		fail("copy_file_range moved the offsets to %lld and %lld", (long long)a,
		     (long long)b);
	if (!n)
		return; /* nothing copied: the file stays as it is */
	if (to > size)
		memset(good + size, 0, (size_t)(to - size));
	memmove(good + to, good + from, (size_t)n);
	if (to + n > size)
		size = to + n;
}

static void op_truncate(int64_t len)
{
	note("truncate %" PRId64, len);
	if (ftruncate(fd, len))
		fail("ftruncate: %s", strerror(errno));
	if (len > size)
		memset(good + size, 0, (size_t)(len - size));
	size = len;
}

static void op_falloc(int mode, int64_t off, int64_t len)
{
	note("fallocate mode %d %" PRId64 " +%" PRId64, mode, off, len);
	if (fallocate(fd, mode, off, len)) {
		if (errno == EOPNOTSUPP)
			return;
		fail("fallocate(%d): %s", mode, strerror(errno));
	}
	int64_t end = off + len;
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		int64_t zend = (mode & FALLOC_FL_KEEP_SIZE) && end > size ? size : end;
		if (zend > off)
			memset(good + off, 0, (size_t)(zend - off));
	}
	if (!(mode & FALLOC_FL_KEEP_SIZE) && end > size) {
		memset(good + size, 0, (size_t)(end - size));
		size = end;
	}
}

static void op_mapread(int64_t off, int64_t len)
{
	if (!size)
		return;
	if (off >= size)
		off = (int64_t)(next() % (uint64_t)size);
	if (off + len > size)
		len = size - off;
	int64_t pg = off & ~4095ll;
	note("mapread %" PRId64 " +%" PRId64, off, len);
	unsigned char *p = mmap(NULL, (size_t)(off + len - pg), PROT_READ, MAP_SHARED, fd, pg);
	if (p == MAP_FAILED)
		fail("mmap read: %s", strerror(errno));
	check(p + (off - pg), off, len, "mapread");
	munmap(p, (size_t)(off + len - pg));
}

static void op_mapwrite(int64_t off, int64_t len)
{
	int64_t pg = off & ~4095ll;
	note("mapwrite %" PRId64 " +%" PRId64, off, len);
	if (off + len > size) {
		if (ftruncate(fd, off + len))
			fail("ftruncate for mapwrite: %s", strerror(errno));
		memset(good + size, 0, (size_t)(off + len - size));
		size = off + len;
	}
	unsigned char *p =
	    mmap(NULL, (size_t)(off + len - pg), PROT_READ | PROT_WRITE, MAP_SHARED, fd, pg);
	if (p == MAP_FAILED)
		fail("mmap write: %s", strerror(errno));
	for (int64_t i = 0; i < len; i++)
		good[off + i] = p[off - pg + i] = (unsigned char)(next() | 1);
	if (msync(p, (size_t)(off + len - pg), MS_SYNC))
		fail("msync: %s", strerror(errno));
	munmap(p, (size_t)(off + len - pg));
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : NULL;
	const char *s = getenv("PC_SEED"), *o = getenv("FSX_OPS");
	unsigned ops = o ? (unsigned)strtoul(o, NULL, 0) : 2000;

	use_mmap = argc > 2 && !strcmp(argv[2], "--mmap");
	if (!dir) {
		fprintf(stderr, "usage: fsx DIR [--mmap]\n");
		return 2;
	}
	rng = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	if (!rng)
		rng = 1;
	printf("1..1\n# seed 0x%" PRIx64 " (replay: PC_SEED=0x%" PRIx64 ")\n", rng, rng);
	snprintf(path, sizeof(path), "%s/fsx.%d%s", dir, getpid(), use_mmap ? ".mmap" : "");
	good = calloc(1, MAXLEN + MAXOP);
	buf = malloc(MAXLEN + MAXOP);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || !good || !buf) {
		printf("not ok 1 - fsx: open %s: %s\n", path, strerror(errno));
		return 1;
	}
	for (unsigned i = 0; i < ops; i++) {
		int64_t off = (int64_t)(next() % MAXLEN), len = (int64_t)(next() % MAXOP) + 1;
		if (off + len > MAXLEN)
			len = MAXLEN - off;
		switch (next() % (use_mmap ? 13 : 11)) {
		case 0:
		case 1:
		case 2:
			op_read(off, len);
			break;
		case 3:
		case 4:
		case 5:
			op_write(off, len);
			break;
		case 6:
			op_truncate((int64_t)(next() % MAXLEN));
			break;
		case 7: {
			static const int modes[] = {
			    0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    FALLOC_FL_ZERO_RANGE, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE};
			op_falloc(modes[next() % 5], off, len);
			break;
		}
		case 8:
			note("fsync");
			if (fsync(fd))
				fail("fsync: %s", strerror(errno));
			break;
		case 9:
			note("reopen");
			reopen();
			break;
		case 10: {
			int64_t to = (int64_t)(next() % MAXLEN);
			if (to + len > MAXLEN)
				len = MAXLEN - to;
			op_copy(off, to, len);
			break;
		}
		case 11:
			op_mapread(off, len);
			break;
		case 12:
			op_mapwrite(off, len);
			break;
		}
		check_size();
	}
	/* the whole file, after a close and reopen */
	reopen();
	op_read(0, size + 1);
	close(fd);
	unlink(path);
	printf("ok 1 - fsx%s: %u operations, final size %" PRId64 "\n",
	       use_mmap ? " with mmap" : "", ops, size);
	return 0;
}

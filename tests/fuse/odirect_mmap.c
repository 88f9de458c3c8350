/* SPDX-License-Identifier: MIT */
/*
 * odirect_mmap.c - one fd opened O_DIRECT on a mounted file is also mapped
 * MAP_SHARED, and each side sees the other: an aligned O_DIRECT pwrite
 * shows in the mapping, a store through the mapping (msync) reads back
 * through O_DIRECT, an unaligned O_DIRECT write (the kernel forwards those
 * at any alignment) shows in the mapping, and a buffered reader on a second
 * fd sees the final bytes.
 *
 * usage: odirect_mmap FILE; exit 0 when coherent, 1 with a message when
 * not, 3 when mmap fails (the message names the errno: --direct-io mounts
 * refuse MAP_SHARED with ENODEV).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SZ 65536

static int fail(const char *what)
{
	fprintf(stderr, "odirect_mmap: %s: %s\n", what, errno ? strerror(errno) : "mismatch");
	return 1;
}

int main(int argc, char **argv)
{
	unsigned char *buf, *m;
	int fd, fd2;

	if (argc != 2) {
		fprintf(stderr, "usage: odirect_mmap FILE\n");
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
	if (fd < 0)
		return fail("open O_DIRECT");
	if (posix_memalign((void **)&buf, 4096, SZ))
		return fail("posix_memalign");
	memset(buf, 'a', SZ);
	if (pwrite(fd, buf, SZ, 0) != SZ)
		return fail("aligned O_DIRECT pwrite");
	m = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		fprintf(stderr, "odirect_mmap: mmap MAP_SHARED of the O_DIRECT fd: %s\n",
			strerror(errno));
		return 3;
	}
	errno = 0;
	if (m[0] != 'a' || m[SZ - 1] != 'a')
		return fail("mapping after the O_DIRECT write");
	memset(m + 4096, 'b', 4096);
	if (msync(m, SZ, MS_SYNC))
		return fail("msync");
	memset(buf, 0, SZ);
	if (pread(fd, buf, SZ, 0) != SZ)
		return fail("aligned O_DIRECT pread");
	errno = 0;
	if (buf[4096] != 'b' || buf[8191] != 'b' || buf[0] != 'a')
		return fail("O_DIRECT read of the mapping's store");
	if (pwrite(fd, "XYZ", 3, 12345) != 3)
		return fail("unaligned O_DIRECT pwrite");
	errno = 0;
	if (memcmp(m + 12345, "XYZ", 3))
		return fail("mapping after the unaligned O_DIRECT write");
	fd2 = open(argv[1], O_RDONLY);
	if (fd2 < 0)
		return fail("open a second fd");
	if (pread(fd2, buf, SZ, 0) != SZ)
		return fail("buffered pread");
	errno = 0;
	if (buf[0] != 'a' || buf[4096] != 'b' || memcmp(buf + 12345, "XYZ", 3))
		return fail("buffered read of the final bytes");
	munmap(m, SZ);
	close(fd2);
	close(fd);
	printf("odirect_mmap: ok\n");
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * example.c - a program as a new user writes it against the installed
 * library: compiled by tests/lib/test_install.sh with only
 * `pkg-config --cflags --libs libpagecache` and -std=c11 -Wall -Wextra
 * -Werror -pedantic. Opens an engine on the directory argv[1], writes a
 * file, maps it, reads it through the view and with pc_pread, closes.
 * Prints the library version; exit 0 when every step gave what it should.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <pagecache.h>

#define FAIL(what, err)                                                   \
	do {                                                              \
		fprintf(stderr, "example: %s: %d\n", (what), (int)(err)); \
		return 1;                                                 \
	} while (0)

int main(int argc, char **argv)
{
	struct pc_options o = PC_OPTIONS_INIT;
	struct pc_engine *e;
	struct pc_stats st;
	char buf[8192], back[16];
	char *view;
	int fd, err;
	ssize_t n;

	if (argc != 2)
		return 2;
	printf("header %s library %s\n", PC_VERSION_STRING, pc_version());
	o.store_dir = argv[1];
	err = pc_engine_open(&o, &e);
	if (err)
		FAIL("pc_engine_open", err);
	fd = pc_open(e, "hello", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		FAIL("pc_open", fd);
	memset(buf, 'x', sizeof(buf));
	memcpy(buf + 4096, "hello, world", 12);
	n = pc_pwrite(e, fd, buf, sizeof(buf), 0);
	if (n != (ssize_t)sizeof(buf))
		FAIL("pc_pwrite", n);
	view = pc_mmap(e, fd, sizeof(buf), PROT_READ | PROT_WRITE, MAP_SHARED, 0, &err);
	if (!view)
		FAIL("pc_mmap", err);
	if (memcmp(view + 4096, "hello, world", 12))
		FAIL("view contents", 0);
	view[0] = 'X'; /* a store through the view */
	n = pc_pread(e, fd, back, 12, 4096);
	if (n != 12 || memcmp(back, "hello, world", 12))
		FAIL("pc_pread", n);
	n = pc_pread(e, fd, back, 1, 0);
	if (n != 1 || back[0] != 'X')
		FAIL("pc_pread after the store", n);
	err = pc_munmap(e, view, sizeof(buf));
	if (err)
		FAIL("pc_munmap", err);
	err = pc_get_stats(e, &st, sizeof(st));
	if (err || st.cached_pages != 2)
		FAIL("pc_get_stats", err ? err : (int)st.cached_pages);
	err = pc_close(e, fd);
	if (err)
		FAIL("pc_close", err);
	err = pc_engine_close(e);
	if (err)
		FAIL("pc_engine_close", err);
	printf("example: ok (%llu pages were cached)\n", (unsigned long long)st.cached_pages);
	return 0;
}

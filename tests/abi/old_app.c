/* SPDX-License-Identifier: MIT */
/*
 * old_app.c - a program of the ABI before version 1: built against the frozen
 * header tests/abi/pagecache-0.h (struct pc_options without a size field,
 * pc_get_stats(e, st) without a size), linked against an unversioned
 * libpagecache.so (a stub with that old ABI's names: tests/lib/test_abi.sh),
 * then run against the new library. Its unversioned references bind to
 * PAGECACHE_0 (src/api/compat.c). Exit 0 when everything works.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "pagecache-0.h"

int main(int argc, char **argv)
{
	struct pc_options o;
	struct pc_engine *e;
	struct pc_stats st;
	char buf[8192], *view;
	int fd, err;

	if (argc != 2)
		return 2;
	memset(&o, 0, sizeof(o));
	o.store_dir = argv[1];
	o.mem_limit = 64 << 20;
	err = pc_engine_open(&o, &e);
	if (err)
		return fprintf(stderr, "old_app: pc_engine_open: %d\n", err), 1;
	fd = pc_open(e, "old", O_RDWR | O_CREAT | O_TRUNC, 0644);
	memset(buf, 'o', sizeof(buf));
	if (fd < 0 || pc_pwrite(e, fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
		return fprintf(stderr, "old_app: write\n"), 1;
	view = pc_mmap(e, fd, sizeof(buf), PROT_READ, MAP_SHARED, 0, &err);
	if (!view || view[5000] != 'o')
		return fprintf(stderr, "old_app: mmap %d\n", err), 1;
	memset(&st, 0xff, sizeof(st));
	pc_get_stats(e, &st);
	if (st.cached_pages != 2 || st.dirty_pages != 2 || st.dio_bounced != 0)
		return fprintf(stderr, "old_app: stats %llu %llu\n",
			       (unsigned long long)st.cached_pages,
			       (unsigned long long)st.dirty_pages),
		       1;
	if (pc_munmap(e, view, sizeof(buf)) || pc_close(e, fd) || pc_engine_close(e))
		return fprintf(stderr, "old_app: close\n"), 1;
	printf("old_app: ok\n");
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * globals.c - an application whose own globals are named like the
 * library's internals (mm, find_vma, writepage, copy_to_user, fdget, iput,
 * current_task...), linked against libpagecache.so: the library must
 * neither use them nor write into them (before hidden visibility it wrote
 * its mm state into this `mm` and crashed in pc_munmap). Exit 0 when the
 * engine works and the globals are untouched.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <pagecache.h>

char mm[4096];
int find_vma = 41;
int writepage(void);
int writepage(void)
{
	return 7;
}
long copy_to_user[4] = {1, 2, 3, 4};
int fdget(int x);
int fdget(int x)
{
	return x + 1;
}
int iput;
void *filemap_fault = (void *)1;

int main(int argc, char **argv)
{
	struct pc_options o = PC_OPTIONS_INIT;
	struct pc_engine *e;
	char buf[4096], *view;
	int fd, err;

	if (argc != 2)
		return 2;
	memset(mm, 0x5a, sizeof(mm));
	o.store_dir = argv[1];
	if ((err = pc_engine_open(&o, &e)))
		return fprintf(stderr, "globals: open %d\n", err), 1;
	fd = pc_open(e, "g", O_RDWR | O_CREAT | O_TRUNC, 0644);
	memset(buf, 'g', sizeof(buf));
	if (fd < 0 || pc_pwrite(e, fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
		return fprintf(stderr, "globals: write\n"), 1;
	view = pc_mmap(e, fd, sizeof(buf), PROT_READ, MAP_SHARED, 0, &err);
	if (!view || view[100] != 'g')
		return fprintf(stderr, "globals: mmap %d\n", err), 1;
	if ((err = pc_munmap(e, view, sizeof(buf))) || (err = pc_close(e, fd)) ||
	    (err = pc_engine_close(e)))
		return fprintf(stderr, "globals: close %d\n", err), 1;
	for (size_t i = 0; i < sizeof(mm); i++)
		if (mm[i] != 0x5a)
			return fprintf(stderr, "globals: mm[%zu] written\n", i), 1;
	if (find_vma != 41 || writepage() != 7 || copy_to_user[3] != 4 || fdget(1) != 2 ||
	    iput != 0 || filemap_fault != (void *)1)
		return fprintf(stderr, "globals: a global changed\n"), 1;
	printf("globals: ok\n");
	return 0;
}

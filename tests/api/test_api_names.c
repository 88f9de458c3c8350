/* SPDX-License-Identifier: MIT */
/*
 * test_api_names.c - the public API end to end on names (see
 * basic_fixture.h for the temporary directories): an unlinked-but-open
 * file, rename flags, and directories with readdir and the errnos of
 * directory fds and names.
 * PC_API_POLICY=0|1|2 runs every test under that locking policy.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/engine_internal.h"
#include "basic_fixture.h"
#include "harness.h"
#include "pagecache.h"
#include "store/store.h"

/* ---- names ---- */

TEST(unlinked_open_file)
{
	struct pc_engine *e = engine();
	char w[3 * PG], r[3 * PG];
	struct stat st;
	int fd, fd2;

	fill(w, sizeof(w), 12, 0);
	fd = pc_open(e, "u", O_RDWR | O_CREAT, 0644);
	CHECK_EQ(pc_write(e, fd, w, 2 * PG), 2 * PG);
	CHECK_EQ(pc_unlink(e, "u"), 0);
	CHECK_EQ(pc_stat(e, "u", &st), -ENOENT);
	CHECK_EQ(pc_open(e, "u", O_RDONLY, 0), -ENOENT);
	CHECK_EQ(pc_unlink(e, "u"), -ENOENT);
	CHECK_EQ(pc_write(e, fd, w + 2 * PG, PG), PG);
	CHECK_EQ(pc_fsync(e, fd), 0);
	CHECK_EQ(pc_pread(e, fd, r, sizeof(r), 0), sizeof(r));
	CHECK(!memcmp(r, w, sizeof(r)));
	CHECK_EQ(pc_fstat(e, fd, &st), 0);
	CHECK_EQ(st.st_size, sizeof(w));
	CHECK_EQ(st.st_nlink, 0);
	/* a new file of the same name is another file */
	fd2 = pc_open(e, "u", O_RDWR | O_CREAT | O_EXCL, 0644);
	CHECK(fd2 >= 0);
	CHECK_EQ(pc_pread(e, fd2, r, sizeof(r), 0), 0);
	CHECK_EQ(pc_write(e, fd2, "new", 3), 3);
	CHECK_EQ(pc_pread(e, fd, r, 3, 0), 3);
	CHECK(!memcmp(r, w, 3));
	/* dirty pages of a nameless file are dropped at last close, unwritten */
	CHECK_EQ(pc_pwrite(e, fd, w, sizeof(w), PG), sizeof(w));
	unsigned long writes = store_calls(pc_engine_store(e), STORE_OP_WRITE);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(store_calls(pc_engine_store(e), STORE_OP_WRITE), writes);
	/* what is left cached is the one page of "new" */
	struct pc_stats s;
	pc_get_stats(e, &s, sizeof(s));
	CHECK_EQ(s.cached_pages, 1);
	CHECK_EQ(pc_close(e, fd2), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	check_host("u", "new", 3);
}

TEST(rename_flags)
{
	struct pc_engine *e = engine();
	char r[8];
	int a, fd;

	a = pc_open(e, "a", O_RDWR | O_CREAT, 0644);
	CHECK_EQ(pc_write(e, a, "AAAA", 4), 4); /* dirty, follows the file */
	fd = pc_open(e, "b", O_RDWR | O_CREAT, 0644);
	CHECK_EQ(pc_write(e, fd, "BB", 2), 2);
	CHECK_EQ(pc_close(e, fd), 0);

	CHECK_EQ(pc_rename(e, "a", "b", RENAME_NOREPLACE), -EEXIST);
	CHECK_EQ(pc_rename(e, "a", "b", RENAME_EXCHANGE), 0);
	fd = pc_open(e, "b", O_RDONLY, 0);
	CHECK_EQ(pc_read(e, fd, r, sizeof(r)), 4);
	CHECK(!memcmp(r, "AAAA", 4));
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_rename(e, "b", "c", RENAME_NOREPLACE), 0);
	CHECK_EQ(pc_write(e, a, "x", 1), 1);	/* still the same file, now "c" */
	CHECK_EQ(pc_rename(e, "c", "a", 0), 0); /* replaces a */
	CHECK_EQ(pc_rename(e, "zz", "y", RENAME_EXCHANGE), -ENOENT);
	CHECK_EQ(pc_rename(e, "a", "y", 0x80), -EINVAL);
	CHECK_EQ(pc_mkdir(e, "d", 0755), 0);
	CHECK_EQ(pc_rename(e, "a", "d", 0), -EISDIR);
	CHECK_EQ(pc_close(e, a), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	check_host("a", "AAAAx", 5);
}

TEST(directories_and_readdir)
{
	struct pc_engine *e = engine();
	struct pc_dirent ents[4];
	char name[32], b[8];
	int seen[10] = {0}, nsub = 0, total = 0, dfd, fd;
	ssize_t n;

	CHECK_EQ(pc_mkdir(e, "d", 0755), 0);
	CHECK_EQ(pc_mkdir(e, "d", 0755), -EEXIST);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "d/x%d", i);
		fd = pc_open(e, name, O_WRONLY | O_CREAT, 0644);
		CHECK(fd >= 0);
		CHECK_EQ(pc_close(e, fd), 0);
	}
	CHECK_EQ(pc_mkdir(e, "d/sub", 0755), 0);
	dfd = pc_open(e, "d", O_RDONLY | O_DIRECTORY, 0);
	CHECK(dfd >= 0);
	while ((n = pc_readdir(e, dfd, ents, 3)) > 0) {
		CHECK(n <= 3);
		for (ssize_t i = 0; i < n; i++, total++) {
			if (!strcmp(ents[i].name, "sub")) {
				CHECK_EQ(ents[i].type, DT_DIR);
				nsub++;
			} else {
				int k = -1;
				CHECK(sscanf(ents[i].name, "x%d", &k) == 1 && k >= 0 && k < 10);
				CHECK_EQ(ents[i].type, DT_REG);
				CHECK(ents[i].ino != 0);
				seen[k]++;
			}
		}
	}
	CHECK_EQ(n, 0);
	CHECK_EQ(total, 11);
	CHECK_EQ(nsub, 1);
	for (int i = 0; i < 10; i++)
		CHECK_EQ(seen[i], 1);
	/* rewind */
	CHECK_EQ(pc_lseek(e, dfd, 0, SEEK_SET), 0);
	for (total = 0; (n = pc_readdir(e, dfd, ents, 4)) > 0;)
		total += (int)n;
	CHECK_EQ(total, 11);

	/* directory fds and names: errnos of open(2), read(2), rmdir(2) */
	struct stat st;
	CHECK_EQ(pc_fstat(e, dfd, &st), 0);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_EQ(pc_read(e, dfd, b, sizeof(b)), -EISDIR);
	CHECK_EQ(pc_pread(e, dfd, b, sizeof(b), 0), -EISDIR);
	CHECK_EQ(pc_write(e, dfd, b, 1), -EBADF);
	CHECK_EQ(pc_ftruncate(e, dfd, 0), -EINVAL);
	CHECK_EQ(pc_fallocate(e, dfd, 0, 0, 1), -EBADF);
	CHECK_EQ(pc_fsync(e, dfd), 0);
	CHECK_EQ(pc_close(e, dfd), 0);
	CHECK_EQ(pc_open(e, "d", O_WRONLY, 0), -EISDIR);
	CHECK_EQ(pc_open(e, "d", O_RDWR | O_DIRECTORY, 0), -EISDIR);
	CHECK_EQ(pc_open(e, "d", O_RDONLY | O_CREAT, 0644), -EISDIR);
	CHECK_EQ(pc_open(e, "d", O_RDONLY | O_DIRECTORY | O_CREAT, 0644), -EINVAL);
	CHECK_EQ(pc_open(e, "d/x0", O_RDONLY | O_DIRECTORY, 0), -ENOTDIR);
	CHECK_EQ(pc_open(e, "nope", O_RDONLY | O_DIRECTORY, 0), -ENOENT);
	fd = pc_open(e, "d/x0", O_RDONLY, 0);
	CHECK_EQ(pc_readdir(e, fd, ents, 4), -ENOTDIR);
	CHECK_EQ(pc_close(e, fd), 0);
	dfd = pc_open(e, "d", O_RDONLY, 0); /* a directory without O_DIRECTORY */
	CHECK(dfd >= 0);
	CHECK(pc_readdir(e, dfd, ents, 4) > 0);
	CHECK_EQ(pc_close(e, dfd), 0);
	dfd = pc_open(e, ".", O_RDONLY | O_DIRECTORY, 0); /* the root */
	CHECK_EQ(pc_readdir(e, dfd, ents, 4), 1);
	CHECK(!strcmp(ents[0].name, "d"));
	CHECK_EQ(pc_close(e, dfd), 0);
	CHECK_EQ(pc_rmdir(e, "d"), -ENOTEMPTY);
	CHECK_EQ(pc_rmdir(e, "d/sub"), 0);
	CHECK_EQ(pc_stat(e, "d/sub", &st), -ENOENT);
	CHECK_EQ(pc_engine_close(e), 0);
}

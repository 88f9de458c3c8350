/* SPDX-License-Identifier: MIT */
/*
 * test_api_reopen.c - pc_reopen (an fd's object opened anew, as Linux's open
 * of /proc/self/fd/N; the FUSE server's OPEN) and the 8-byte inode-number
 * handle of pc_open_by_handle_at (its LOOKUP(nodeid, ".")), on both stores:
 * O_PATH fds of files, unlinked files, directories and fifos reopened with
 * open flags (O_TRUNC included), and the errors (EBADF, ENXIO, EISDIR,
 * EINVAL); an 8-byte handle opens the inode number's object whatever its
 * generation, and is stale once the slot is free (vol). An O_PATH fd of an
 * unlinked file keeps its inode and cache, dirty pages included, past the
 * last close of its open files, as Linux's dentry keeps the inode: a reopen
 * through it (or its handle, while it is held) reads what was written, never
 * written back; inode_test_opath_no_pin shows the loss.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/inode.h"
#include "harness.h"
#include "model.h"
#include "pagecache.h"
#include "store/vol/vol.h"

struct fixture {
	bool vol;
	char *dir;
	char img[4200];
};

static struct fixture fx;

static struct pc_engine *start(bool vol)
{
	struct pc_options o = {.size = sizeof(o)};

	fx.vol = vol;
	fx.dir = api_fresh_dir(vol ? "reopen-vol" : "reopen-dir");
	if (vol) {
		struct vol_mkfs_opts mo = {.size = 64 << 20};

		snprintf(fx.img, sizeof(fx.img), "%s/r.vol", fx.dir);
		CHECK_EQ(vol_create(fx.img, &mo), 0);
		o.store_image = fx.img;
	} else {
		o.store_dir = fx.dir;
	}
	printf("# store: %s\n", vol ? "vol" : "dir");
	return api_engine_open(vol ? NULL : fx.dir, &o);
}

static void finish(struct pc_engine *e)
{
	api_engine_close(e);
	api_rm_rf(fx.dir);
	free(fx.dir);
}

#define BOTH_STORES(...)                          \
	for (int __v = 0; __v < 2; __v++) {       \
		struct pc_engine *e = start(__v); \
		__VA_ARGS__                       \
		finish(e);                        \
	}

static void check_data(struct pc_engine *e, int fd, const char *data)
{
	char r[64] = {0};

	CHECK_EQ(pc_pread(e, fd, r, sizeof(r) - 1, 0), (ssize_t)strlen(data));
	CHECK(!strcmp(r, data));
}

TEST(reopen_o_path_fds){BOTH_STORES({
	char buf[8];
	int fd = pc_openat(e, PC_AT_ROOT, "f", O_RDWR | O_CREAT, 0644), pfd, rfd;

	CHECK(fd >= 0);
	CHECK_EQ(pc_write(e, fd, "hello", 5), 5);
	CHECK_EQ(pc_close(e, fd), 0);
	pfd = pc_openat(e, PC_AT_ROOT, "f", O_PATH, 0);
	CHECK(pfd >= 0);
	CHECK_EQ(pc_read(e, pfd, buf, sizeof(buf)), -EBADF);
	rfd = pc_reopen(e, pfd, O_RDWR);
	CHECK(rfd >= 0);
	check_data(e, rfd, "hello");
	CHECK_EQ(pc_pwrite(e, rfd, "J", 1, 0), 1);
	CHECK_EQ(pc_close(e, rfd), 0);
	/* another O_PATH fd, then O_TRUNC through it */
	rfd = pc_reopen(e, pfd, O_PATH);
	CHECK(rfd >= 0);
	CHECK_EQ(pc_read(e, rfd, buf, sizeof(buf)), -EBADF);
	fd = pc_reopen(e, rfd, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0);
	struct stat st;
	CHECK_EQ(pc_fstat(e, fd, &st), 0);
	CHECK_EQ(st.st_size, 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_close(e, rfd), 0);
	CHECK_EQ(pc_close(e, pfd), 0);
	/* errors */
	CHECK_EQ(pc_reopen(e, 12345, O_RDONLY), -EBADF);
	CHECK_EQ(pc_reopen(e, -1, O_RDONLY), -EBADF);
	CHECK_EQ(pc_reopen(NULL, 0, O_RDONLY), -EINVAL);
})}

TEST(reopen_unlinked_file_and_directories){BOTH_STORES({
	int fd = pc_openat(e, PC_AT_ROOT, "gone", O_RDWR | O_CREAT, 0644), pfd, rfd;
	struct pc_dirent64 ents[4];

	CHECK(fd >= 0);
	CHECK_EQ(pc_write(e, fd, "still", 5), 5);
	/* closed dirty, then pinned by the O_PATH fd: the unlink keeps the
	 * cached inode, dirty pages and all, for the reopen */
	CHECK_EQ(pc_close(e, fd), 0);
	pfd = pc_openat(e, PC_AT_ROOT, "gone", O_PATH, 0);
	CHECK(pfd >= 0);
	CHECK_EQ(pc_unlinkat(e, PC_AT_ROOT, "gone", 0), 0);
	rfd = pc_reopen(e, pfd, O_RDONLY);
	CHECK(rfd >= 0);
	check_data(e, rfd, "still");
	CHECK_EQ(pc_close(e, rfd), 0);
	CHECK_EQ(pc_close(e, pfd), 0);

	CHECK_EQ(pc_mkdirat(e, PC_AT_ROOT, "d", 0755), 0);
	CHECK_EQ(pc_mknodat(e, PC_AT_ROOT, "d/x", S_IFREG | 0644, 0), 0);
	pfd = pc_openat(e, PC_AT_ROOT, "d", O_PATH | O_DIRECTORY, 0);
	CHECK(pfd >= 0);
	CHECK_EQ(pc_reopen(e, pfd, O_WRONLY), -EISDIR);
	rfd = pc_reopen(e, pfd, O_RDONLY | O_DIRECTORY);
	CHECK(rfd >= 0);
	CHECK_EQ(pc_getdents(e, rfd, ents, 4), 1);
	CHECK(!strcmp(ents[0].name, "x"));
	CHECK_EQ(pc_close(e, rfd), 0);
	CHECK_EQ(pc_close(e, pfd), 0);

	CHECK_EQ(pc_mknodat(e, PC_AT_ROOT, "fifo", S_IFIFO | 0644, 0), 0);
	pfd = pc_openat(e, PC_AT_ROOT, "fifo", O_PATH, 0);
	CHECK(pfd >= 0);
	CHECK_EQ(pc_reopen(e, pfd, O_RDONLY), -ENXIO);
	CHECK_EQ(pc_reopen(e, pfd, O_DIRECTORY), -ENOTDIR);
	rfd = pc_reopen(e, pfd, O_PATH);
	CHECK(rfd >= 0);
	CHECK_EQ(pc_close(e, rfd), 0);
	CHECK_EQ(pc_reopen(e, pfd, O_TMPFILE | O_RDWR), -EINVAL);
	CHECK_EQ(pc_close(e, pfd), 0);
})}

/* vol: the 8-byte handle (inode number alone) opens the slot's object of
 * any generation; a free slot is stale. dir: its handles are the host's. */
TEST(inode_number_handles)
{
	struct pc_engine *e = start(true);
	struct pc_file_handle h, h8;
	int fd;

	fd = pc_openat(e, PC_AT_ROOT, "f", O_RDWR | O_CREAT, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(pc_write(e, fd, "eight", 5), 5);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_name_to_handle_at(e, PC_AT_ROOT, "f", &h, 0), 0);
	CHECK_EQ(h.handle_type, PC_HANDLE_INO_GEN);
	h8 = h;
	h8.handle_bytes = 8;
	memset(h8.f_handle + 8, 0xff, 8); /* a generation it is not */
	fd = pc_open_by_handle_at(e, &h8, O_RDONLY);
	CHECK(fd >= 0);
	check_data(e, fd, "eight");
	CHECK_EQ(pc_close(e, fd), 0);
	h.handle_bytes = 12; /* neither size */
	CHECK_EQ(pc_open_by_handle_at(e, &h, O_RDONLY), -ESTALE);
	CHECK_EQ(pc_unlinkat(e, PC_AT_ROOT, "f", 0), 0);
	CHECK_EQ(pc_open_by_handle_at(e, &h8, O_PATH), -ESTALE);
	finish(e);
}

static uint64_t cached_pages(struct pc_engine *e)
{
	struct pc_stats st;

	CHECK_EQ(pc_get_stats(e, &st, sizeof(st)), 0);
	return st.cached_pages;
}

/* Written through fd A, never synced; unlinked; A closed while an O_PATH fd
 * B names the file (made before A when @pin_first, else from A after the
 * unlink); B reopened: the bytes are there, fstat through B says nlink 0
 * and the size. Hazard (no pin): the last close discards the pages. */
static void opath_keeps_nameless_file(struct pc_engine *e, bool pin_first, bool hazard)
{
	static const char data[] = "written, never synced";
	size_t len = sizeof(data) - 1;
	struct pc_file_handle h;
	struct stat st;
	int fd, pfd = -1, rfd, hfd, herr;

	inode_test_opath_no_pin = hazard;
	if (pin_first) {
		CHECK_EQ(pc_mknodat(e, PC_AT_ROOT, "u", S_IFREG | 0644, 0), 0);
		pfd = pc_openat(e, PC_AT_ROOT, "u", O_PATH, 0);
		CHECK(pfd >= 0);
	}
	fd = pc_openat(e, PC_AT_ROOT, "u", O_RDWR | O_CREAT, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(pc_write(e, fd, data, len), (ssize_t)len);
	herr = pc_name_to_handle_at(e, PC_AT_ROOT, "u", &h, 0);
	CHECK_EQ(pc_unlinkat(e, PC_AT_ROOT, "u", 0), 0);
	if (!pin_first) {
		pfd = pc_reopen(e, fd, O_PATH);
		CHECK(pfd >= 0);
	}
	CHECK_EQ(pc_close(e, fd), 0); /* the last open file */
	CHECK_EQ(pc_fstat(e, pfd, &st), 0);
	CHECK_EQ(st.st_nlink, 0);
	rfd = pc_reopen(e, pfd, O_RDWR);
	CHECK(rfd >= 0);
	if (hazard) {
		char r[64] = {0};

		CHECKF(pc_pread(e, rfd, r, sizeof(r), 0) != (ssize_t)len || memcmp(r, data, len),
		       "the nameless file's dirty pages were discarded at the last close");
		CHECK_EQ(pc_close(e, rfd), 0);
		CHECK_EQ(pc_close(e, pfd), 0);
		inode_test_opath_no_pin = false;
		return;
	}
	CHECK_EQ(st.st_size, (off_t)len);
	check_data(e, rfd, data);
	CHECK_EQ(pc_pwrite(e, rfd, "W", 1, 0), 1);
	CHECK_EQ(pc_close(e, rfd), 0);
	/* a handle of the file opens it while the O_PATH fd holds it (dir:
	 * the host's open_by_handle_at, which needs CAP_DAC_READ_SEARCH) */
	if (!herr) {
		hfd = pc_open_by_handle_at(e, &h, O_RDONLY);
		if (hfd == -EPERM && !fx.vol) {
			test_skip_part("dir: open_by_handle_at needs CAP_DAC_READ_SEARCH");
		} else {
			CHECK(hfd >= 0);
			if (hfd >= 0) {
				check_data(e, hfd, "Written, never synced");
				CHECK_EQ(pc_close(e, hfd), 0);
			}
		}
	}
	CHECK(cached_pages(e) > 0);
	/* the last reference: the nameless file goes, pages and all */
	CHECK_EQ(pc_close(e, pfd), 0);
	CHECK_EQ(cached_pages(e), 0);
	if (!herr && fx.vol)
		CHECK_EQ(pc_open_by_handle_at(e, &h, O_PATH), -ESTALE); /* gone */
}

TEST(o_path_keeps_unlinked_file){BOTH_STORES({
	opath_keeps_nameless_file(e, false, false);
	opath_keeps_nameless_file(e, true, false);
})}

TEST(o_path_keeps_unlinked_file_hazard)
{
	BOTH_STORES({ opath_keeps_nameless_file(e, false, true); })
}

/* SPDX-License-Identifier: MIT */
/*
 * test_badinput_at.c - the *at() calls, the fd attribute calls, O_PATH,
 * O_TMPFILE, special files, xattrs and directory positions, compared with
 * the host kernel on an identical layout (badinput_fixture.h: SAME, SOFT,
 * ONLY): each call is made on the engine relative to an engine fd and on
 * the host relative to the twin fd, and the results (or errnos) compared.
 * Also: a chain of directories whose path from the root is longer than
 * PATH_MAX, reached by openat level by level; fstat of a removed open
 * directory; attribute calls on an unlinked open file; rewinddir seeing
 * entries made after opendir; ".." never above the store root.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "badinput_fixture.h"
#include "harness.h"
#include "model.h"
#include "pagecache.h"

/* The engine's and the host's fds of one directory (or file). */
static struct pair dir_pair(const char *path, int flags)
{
	struct pair p = {pc_open(eng, path, flags, 0), open(hp(path), flags, 0)};

	CHECKF(p.e >= 0 && p.h >= 0, "open %s: engine %s, host %s", path, en(p.e),
	       en(p.h < 0 ? -errno : p.h));
	return p;
}

/* openat on both sides relative to @d: compares the result, closes both. */
static void openat_same(int line, const char *what, struct pair d, const char *path, int flags)
{
	int e = pc_openat(eng, d.e, path, flags, 0644);
	int h = openat(d.h, path, flags, 0644);
	int herr = h < 0 ? -errno : 0;

	if (e >= 0)
		pc_close(eng, e);
	if (h >= 0)
		close(h);
	same(line, false, what, 0, e < 0 ? e : 0, herr);
}
#define OPENAT(what, d, path, flags) openat_same(__LINE__, what, d, path, flags)

TEST(at_calls_relative_to_dirfds)
{
	setup();
	struct pair d = dir_pair("d", O_RDONLY | O_DIRECTORY);
	struct pair f = dir_pair("f", O_RDONLY);
	struct stat a, b;

	OPENAT("openat a name in a dirfd", d, "x", O_RDONLY);
	OPENAT("openat '..' then a name", d, "../f", O_RDONLY);
	OPENAT("openat a missing name", d, "nope", O_RDONLY);
	OPENAT("openat O_CREAT in a dirfd", d, "new", O_RDWR | O_CREAT | O_EXCL);
	OPENAT("openat through a file dirfd", f, "x", O_RDONLY);
	OPENAT("openat the empty path", d, "", O_RDONLY);
	SAME("openat a bad dirfd", -EBADF, pc_openat(eng, 999, "x", O_RDONLY, 0),
	     openat(999, "x", O_RDONLY));
	SAME("fstatat in a dirfd", 0, pc_fstatat(eng, d.e, "x", &a, 0),
	     fstatat(d.h, "x", &b, AT_SYMLINK_NOFOLLOW));
	SAME("fstatat AT_EMPTY_PATH of a file fd", 0, pc_fstatat(eng, f.e, "", &a, AT_EMPTY_PATH),
	     fstatat(f.h, "", &b, AT_EMPTY_PATH));
	CHECK_EQ(a.st_size, b.st_size);
	SAME("fstatat the empty path without AT_EMPTY_PATH", -ENOENT,
	     pc_fstatat(eng, f.e, "", &a, 0), fstatat(f.h, "", &b, 0));
	SAME("fstatat an unknown flag", -EINVAL, pc_fstatat(eng, d.e, "x", &a, 0x40000000),
	     fstatat(d.h, "x", &b, 0x40000000));
	SAME("mkdirat in a dirfd", 0, pc_mkdirat(eng, d.e, "sub", 0755), mkdirat(d.h, "sub", 0755));
	SAME("mkdirat existing", -EEXIST, pc_mkdirat(eng, d.e, "sub", 0755),
	     mkdirat(d.h, "sub", 0755));
	SAME("unlinkat a dir without AT_REMOVEDIR", -EISDIR, pc_unlinkat(eng, d.e, "sub", 0),
	     unlinkat(d.h, "sub", 0));
	SAME("unlinkat AT_REMOVEDIR of a file", -ENOTDIR, pc_unlinkat(eng, d.e, "x", AT_REMOVEDIR),
	     unlinkat(d.h, "x", AT_REMOVEDIR));
	SAME("unlinkat an unknown flag", -EINVAL, pc_unlinkat(eng, d.e, "x", 0x1000),
	     unlinkat(d.h, "x", 0x1000));
	SAME("unlinkat AT_REMOVEDIR", 0, pc_unlinkat(eng, d.e, "sub", AT_REMOVEDIR),
	     unlinkat(d.h, "sub", AT_REMOVEDIR));
	SAME("renameat2 between dirfds", 0, pc_renameat2(eng, d.e, "new", PC_AT_ROOT, "moved", 0),
	     renameat2(d.h, "new", AT_FDCWD, hp("moved"), 0));
	SAME("renameat2 NOREPLACE", -EEXIST,
	     pc_renameat2(eng, d.e, "x", PC_AT_ROOT, "moved", RENAME_NOREPLACE),
	     renameat2(d.h, "x", AT_FDCWD, hp("moved"), RENAME_NOREPLACE));
	SAME("linkat between dirfds", 0, pc_linkat(eng, PC_AT_ROOT, "f", d.e, "f2", 0),
	     linkat(AT_FDCWD, hp("f"), d.h, "f2", 0));
	SAME("linkat a dir", -EPERM, pc_linkat(eng, PC_AT_ROOT, "e", d.e, "e2", 0),
	     linkat(AT_FDCWD, hp("e"), d.h, "e2", 0));
	SAME("linkat an unknown flag", -EINVAL, pc_linkat(eng, PC_AT_ROOT, "f", d.e, "f3", 0x1),
	     linkat(AT_FDCWD, hp("f"), d.h, "f3", 0x1));
	SAME("fstatat nlink after linkat", 0, pc_fstatat(eng, d.e, "f2", &a, 0),
	     fstatat(d.h, "f2", &b, AT_SYMLINK_NOFOLLOW));
	CHECK_EQ(a.st_nlink, b.st_nlink);
	SAME("symlinkat in a dirfd", 0, pc_symlinkat(eng, "x", d.e, "sl"),
	     symlinkat("x", d.h, "sl"));
	SAME("symlinkat an empty target", -ENOENT, pc_symlinkat(eng, "", d.e, "sl2"),
	     symlinkat("", d.h, "sl2"));
	char rb[64], hb[64];
	SAME("readlinkat in a dirfd", 1, pc_readlinkat(eng, d.e, "sl", rb, sizeof(rb)),
	     readlinkat(d.h, "sl", hb, sizeof(hb)));
	SAME("readlinkat of a file", -EINVAL, pc_readlinkat(eng, d.e, "x", rb, sizeof(rb)),
	     readlinkat(d.h, "x", hb, sizeof(hb)));
	SAME("readlinkat size 0", -EINVAL, pc_readlinkat(eng, d.e, "sl", rb, 0),
	     readlinkat(d.h, "sl", hb, 0));
	SAME("fchmodat in a dirfd", 0, pc_fchmodat(eng, d.e, "x", 0600, 0),
	     fchmodat(d.h, "x", 0600, 0));
	SAME("fchownat AT_EMPTY_PATH", 0, pc_fchownat(eng, f.e, "", 4321, 8765, AT_EMPTY_PATH),
	     fchownat(f.h, "", 4321, 8765, AT_EMPTY_PATH));
	SAME("fstat after fchownat", 0, pc_fstat(eng, f.e, &a), fstat(f.h, &b));
	CHECK_EQ(a.st_uid, b.st_uid);
	CHECK_EQ(a.st_gid, b.st_gid);
	struct timespec ts[2] = {{1000, 5}, {2000, 7}};
	SAME("utimensat in a dirfd", 0, pc_utimensat(eng, d.e, "x", ts, 0),
	     utimensat(d.h, "x", ts, AT_SYMLINK_NOFOLLOW));
	SAME("fstatat after utimensat", 0, pc_fstatat(eng, d.e, "x", &a, 0),
	     fstatat(d.h, "x", &b, AT_SYMLINK_NOFOLLOW));
	CHECK_EQ(a.st_mtim.tv_sec, b.st_mtim.tv_sec);
	CHECK_EQ(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
	CHECK_EQ(a.st_mode, b.st_mode);
	close_pair(f);
	close_pair(d);
	teardown();
}

TEST(o_path_fds)
{
	setup();
	struct stat a, b;
	char c;
	struct pair f = dir_pair("f", O_PATH);
	struct pair d = dir_pair("d", O_PATH | O_DIRECTORY);

	SAME("read an O_PATH fd", -EBADF, pc_read(eng, f.e, &c, 1), read(f.h, &c, 1));
	SAME("write an O_PATH fd", -EBADF, pc_write(eng, f.e, &c, 1), write(f.h, &c, 1));
	SAME("fsync an O_PATH fd", -EBADF, pc_fsync(eng, f.e), fsync(f.h));
	SAME("lseek an O_PATH fd", -EBADF, pc_lseek(eng, f.e, 0, SEEK_SET),
	     lseek(f.h, 0, SEEK_SET));
	SAME("ftruncate an O_PATH fd", -EBADF, pc_ftruncate(eng, f.e, 0), ftruncate(f.h, 0));
	SAME("fstat an O_PATH fd", 0, pc_fstat(eng, f.e, &a), fstat(f.h, &b));
	CHECK_EQ(a.st_size, b.st_size);
	CHECK_EQ(a.st_mode, b.st_mode);
	SAME("getdents on an O_PATH dir", -EBADF,
	     pc_getdents(eng, d.e, (struct pc_dirent64 *)buf, 4), h_getdents(d.h, buf, 4096));
	OPENAT("openat relative to an O_PATH dir", d, "x", O_RDONLY);
	SAME("an O_PATH dirfd for fstatat", 0, pc_fstatat(eng, d.e, "x", &a, 0),
	     fstatat(d.h, "x", &b, AT_SYMLINK_NOFOLLOW));
	SAME("O_PATH|O_DIRECTORY on a file", -ENOTDIR, pc_open(eng, "f", O_PATH | O_DIRECTORY, 0),
	     open(hp("f"), O_PATH | O_DIRECTORY));
	int e2 = pc_dup(eng, f.e);
	CHECK(e2 >= 0);
	CHECK_EQ(pc_fstat(eng, e2, &a), 0);
	CHECK_EQ(pc_close(eng, e2), 0);
	/* symlinks: O_NOFOLLOW refuses one, O_PATH|O_NOFOLLOW names it */
	CHECK_EQ(pc_symlink(eng, "f", "sl"), 0);
	CHECK_EQ(symlink("f", hp("sl")), 0);
	SAME("O_NOFOLLOW on a symlink", -ELOOP, pc_open(eng, "sl", O_RDONLY | O_NOFOLLOW, 0),
	     open(hp("sl"), O_RDONLY | O_NOFOLLOW));
	struct pair s = dir_pair("sl", O_PATH | O_NOFOLLOW);
	SAME("fstat an O_PATH symlink fd", 0, pc_fstat(eng, s.e, &a), fstat(s.h, &b));
	CHECK(S_ISLNK(a.st_mode));
	char rb[16], hb[16];
	SAME("readlinkat of an O_PATH symlink fd", 1, pc_readlinkat(eng, s.e, "", rb, sizeof(rb)),
	     readlinkat(s.h, "", hb, sizeof(hb)));
	SAME("readlinkat '' of a file fd", -ENOENT, pc_readlinkat(eng, f.e, "", rb, sizeof(rb)),
	     readlinkat(f.h, "", hb, sizeof(hb)));
	close_pair(s);
	close_pair(d);
	close_pair(f);
	teardown();
}

TEST(o_tmpfile_and_linkat)
{
	setup();
	struct stat a, b;

	SAME("O_TMPFILE read-only", -EINVAL, pc_open(eng, "d", O_TMPFILE | O_RDONLY, 0600),
	     open(hp("d"), O_TMPFILE | O_RDONLY, 0600));
	SAME("O_TMPFILE|O_CREAT", -EINVAL, pc_open(eng, "d", O_TMPFILE | O_CREAT | O_RDWR, 0600),
	     open(hp("d"), O_TMPFILE | O_CREAT | O_RDWR, 0600));
	SAME("O_TMPFILE in a file", -ENOTDIR, pc_open(eng, "f", O_TMPFILE | O_RDWR, 0600),
	     open(hp("f"), O_TMPFILE | O_RDWR, 0600));
	if (geteuid() != 0) {
		/* the host's linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH */
		printf("# needs root: skipped\n");
		teardown();
		return;
	}
	struct pair t = {pc_open(eng, "d", O_TMPFILE | O_RDWR, 0600),
			 open(hp("d"), O_TMPFILE | O_RDWR, 0600)};
	CHECK(t.e >= 0 && t.h >= 0);
	CHECK_EQ(pc_write(eng, t.e, "tmp data", 8), 8);
	CHECK_EQ(write(t.h, "tmp data", 8), 8);
	SAME("fstat of a tmpfile", 0, pc_fstat(eng, t.e, &a), fstat(t.h, &b));
	CHECK_EQ(a.st_nlink, b.st_nlink);
	CHECK_EQ(a.st_size, b.st_size);
	SAME("linkat AT_EMPTY_PATH of a tmpfile", 0,
	     pc_linkat(eng, t.e, "", PC_AT_ROOT, "named", AT_EMPTY_PATH),
	     linkat(t.h, "", AT_FDCWD, hp("named"), AT_EMPTY_PATH));
	SAME("fstat after linkat", 0, pc_fstat(eng, t.e, &a), fstat(t.h, &b));
	CHECK_EQ(a.st_nlink, b.st_nlink);
	close_pair(t);
	/* the data is there under the new name */
	int fd = pc_open(eng, "named", O_RDONLY, 0);
	char r[8];
	CHECK_EQ(pc_read(eng, fd, r, 8), 8);
	CHECK(!memcmp(r, "tmp data", 8));
	pc_close(eng, fd);
	/* O_EXCL: never linkable */
	t = (struct pair){pc_open(eng, "d", O_TMPFILE | O_RDWR | O_EXCL, 0600),
			  open(hp("d"), O_TMPFILE | O_RDWR | O_EXCL, 0600)};
	CHECK(t.e >= 0 && t.h >= 0);
	SAME("linkat of an O_TMPFILE|O_EXCL file", -ENOENT,
	     pc_linkat(eng, t.e, "", PC_AT_ROOT, "named2", AT_EMPTY_PATH),
	     linkat(t.h, "", AT_FDCWD, hp("named2"), AT_EMPTY_PATH));
	close_pair(t);
	teardown();
}

TEST(special_files)
{
	setup();
	struct stat a, b;
#define MKNOD(what, doc, path, mode, dev) \
	SAME(what, doc, pc_mknodat(eng, PC_AT_ROOT, path, mode, dev), mknod(hp(path), mode, dev))
	MKNOD("mknod a fifo", 0, "fifo", S_IFIFO | 0640, 0);
	MKNOD("mknod a socket", 0, "sock", S_IFSOCK | 0600, 0);
	MKNOD("mknod a char device", 0, "chr", S_IFCHR | 0600, makedev(1, 3));
	MKNOD("mknod a block device", 0, "blk", S_IFBLK | 0600, makedev(7, 0));
	MKNOD("mknod a regular file", 0, "reg", S_IFREG | 0600, 0);
	MKNOD("mknod type 0", 0, "reg0", 0600, 0);
	MKNOD("mknod a directory", -EPERM, "dir", S_IFDIR | 0755, 0);
	MKNOD("mknod existing", -EEXIST, "fifo", S_IFIFO | 0640, 0);
	MKNOD("mknod with a trailing slash", -ENOENT, "fifo2/", S_IFIFO | 0640, 0);
	MKNOD("mknod existing with a trailing slash", -EEXIST, "fifo/", S_IFIFO | 0640, 0);
	MKNOD("mknod a bad type", -EINVAL, "bad", 0170000 | 0600, 0);
#undef MKNOD
	const char *names[] = {"fifo", "sock", "chr", "blk", "reg", "reg0"};
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		SAME(names[i], 0, pc_stat(eng, names[i], &a), lstat(hp(names[i]), &b));
		if (lstat(hp(names[i]), &b))
			continue; /* devices without CAP_MKNOD: EPERM on both */
		CHECK_EQ(a.st_mode, b.st_mode);
		CHECK_EQ(a.st_rdev, b.st_rdev);
	}
	/* the engine serves no I/O on them; O_PATH names them */
	ONLY("open a fifo", -ENXIO, pc_open(eng, "fifo", O_RDONLY | O_NONBLOCK, 0));
	int fd = pc_open(eng, "sock", O_PATH, 0);
	CHECK(fd >= 0);
	CHECK_EQ(pc_fstat(eng, fd, &a), 0);
	CHECK(S_ISSOCK(a.st_mode));
	CHECK_EQ(pc_close(eng, fd), 0);
	SAME("unlink a fifo", 0, pc_unlink(eng, "fifo"), unlink(hp("fifo")));
	SAME("rename a socket", 0, pc_rename(eng, "sock", "sock2", 0),
	     rename(hp("sock"), hp("sock2")));
	teardown();
}

TEST(trailing_slashes_and_dotdot)
{
	setup();
	struct stat a, b;
	int rfd = pc_open(eng, ".", O_RDONLY | O_DIRECTORY, 0);

	SAME("symlinkat with a trailing slash", -ENOENT, pc_symlinkat(eng, "x", PC_AT_ROOT, "s/"),
	     symlink("x", hp("s/")));
	SAME("symlinkat onto an existing name with a slash", -EEXIST,
	     pc_symlinkat(eng, "x", PC_AT_ROOT, "d/"), symlink("x", hp("d/")));
	SAME("linkat onto a new name with a slash", -ENOENT,
	     pc_linkat(eng, PC_AT_ROOT, "f", PC_AT_ROOT, "l/", 0), link(hp("f"), hp("l/")));
	SAME("linkat of a file with a slash", -ENOTDIR,
	     pc_linkat(eng, PC_AT_ROOT, "f/", PC_AT_ROOT, "l", 0), link(hp("f/"), hp("l")));
	SAME("unlinkat a dir with a slash", -EISDIR, pc_unlinkat(eng, PC_AT_ROOT, "e/", 0),
	     unlink(hp("e/")));
	SAME("rename a dir with slashes", 0, pc_rename(eng, "e/", "e2/", 0),
	     rename(hp("e/"), hp("e2/")));
	SAME("rename a file onto a dir name with a slash", -ENOTDIR, pc_rename(eng, "g", "e2/", 0),
	     rename(hp("g"), hp("e2/")));
	SAME("rename of '.'", -EBUSY, pc_renameat2(eng, rfd, "d/.", rfd, "z", 0),
	     rename(hp("d/."), hp("z")));
	SAME("unlink '.'", -EISDIR, pc_unlinkat(eng, rfd, "d/.", 0), unlink(hp("d/.")));
	SAME("rmdir '.'", -EINVAL, pc_unlinkat(eng, rfd, "d/.", AT_REMOVEDIR), rmdir(hp("d/.")));
	SAME("mkdir '.'", -EEXIST, pc_mkdirat(eng, rfd, "d/.", 0755), mkdir(hp("d/."), 0755));
	/* ".." at the root is the root, for every *at call (a chroot) */
	CHECK_EQ(pc_fstatat(eng, rfd, "", &a, AT_EMPTY_PATH), 0);
	CHECK_EQ(pc_fstatat(eng, rfd, "../../..", &b, 0), 0);
	CHECK_EQ(a.st_ino, b.st_ino);
	CHECK_EQ(pc_fstatat(eng, PC_AT_ROOT, "/../d/../..", &b, 0), 0);
	CHECK_EQ(a.st_ino, b.st_ino);
	int fd = pc_openat(eng, rfd, "../../f", O_RDONLY, 0);
	CHECK(fd >= 0);
	CHECK_EQ(pc_fstat(eng, fd, &b), 0);
	CHECK_EQ(b.st_size, 8192);
	pc_close(eng, fd);
	ONLY("'..' above the root creates at the root", 0,
	     pc_mkdirat(eng, rfd, "../../newtop", 0755));
	ONLY("... and it is there", 0, pc_stat(eng, "newtop", &b));
	/* the old path calls keep their contract */
	ONLY("pc_open of '../f'", -EINVAL, pc_open(eng, "../f", O_RDONLY, 0));
	pc_close(eng, rfd);
	teardown();
}

/* A chain of directories whose path from the root is far longer than
 * PATH_MAX, walked one level at a time on both sides. */
TEST(path_longer_than_path_max)
{
	setup();
	char name[201];
	int levels = 60; /* 60 * 201 bytes: a path of about 12,000 */
	struct pair cur = dir_pair(".", O_RDONLY | O_DIRECTORY);
	struct stat a, b;

	memset(name, 'L', 200);
	name[200] = 0;
	for (int i = 0; i < levels; i++) {
		name[0] = (char)('a' + i % 26);
		SAME("mkdirat a level", 0, pc_mkdirat(eng, cur.e, name, 0755),
		     mkdirat(cur.h, name, 0755));
		struct pair next = {pc_openat(eng, cur.e, name, O_RDONLY | O_DIRECTORY, 0),
				    openat(cur.h, name, O_RDONLY | O_DIRECTORY)};
		CHECKF(next.e >= 0 && next.h >= 0, "level %d: engine %s", i, en(next.e));
		close_pair(cur);
		cur = next;
	}
	/* a file at the bottom: created, written, read, stat'ed, renamed,
	 * removed, all from the dirfd */
	int e = pc_openat(eng, cur.e, "deep", O_RDWR | O_CREAT | O_EXCL, 0644);
	int h = openat(cur.h, "deep", O_RDWR | O_CREAT | O_EXCL, 0644);
	CHECK(e >= 0 && h >= 0);
	CHECK_EQ(pc_write(eng, e, "bottom", 6), 6);
	CHECK_EQ(write(h, "bottom", 6), 6);
	CHECK_EQ(pc_fsync(eng, e), 0);
	CHECK_EQ(pc_close(eng, e), 0);
	close(h);
	e = pc_openat(eng, cur.e, "deep", O_RDONLY, 0);
	char r[6];
	CHECK_EQ(pc_pread(eng, e, r, 6, 0), 6);
	CHECK(!memcmp(r, "bottom", 6));
	pc_close(eng, e);
	SAME("fstatat at the bottom", 0, pc_fstatat(eng, cur.e, "deep", &a, 0),
	     fstatat(cur.h, "deep", &b, AT_SYMLINK_NOFOLLOW));
	CHECK_EQ(a.st_size, b.st_size);
	SAME("renameat at the bottom", 0, pc_renameat2(eng, cur.e, "deep", cur.e, "deeper", 0),
	     renameat(cur.h, "deep", cur.h, "deeper"));
	SAME("unlinkat at the bottom", 0, pc_unlinkat(eng, cur.e, "deeper", 0),
	     unlinkat(cur.h, "deeper", 0));
	SAME("'..' from the bottom", 0, pc_fstatat(eng, cur.e, "..", &a, 0),
	     fstatat(cur.h, "..", &b, AT_SYMLINK_NOFOLLOW));
	close_pair(cur);
	teardown();
}

TEST(fd_calls_on_removed_objects)
{
	setup();
	struct stat a, b;

	/* fstat of a removed open directory: nlink 0 */
	CHECK_EQ(pc_mkdir(eng, "gone", 0755), 0);
	CHECK_EQ(mkdir(hp("gone"), 0755), 0);
	struct pair d = dir_pair("gone", O_RDONLY | O_DIRECTORY);
	SAME("rmdir an open dir", 0, pc_rmdir(eng, "gone"), rmdir(hp("gone")));
	SAME("fstat of the removed dir", 0, pc_fstat(eng, d.e, &a), fstat(d.h, &b));
	CHECK_EQ(a.st_nlink, b.st_nlink);
	CHECK(S_ISDIR(a.st_mode));
	SAME("fchmod of the removed dir", 0, pc_fchmod(eng, d.e, 0700), fchmod(d.h, 0700));
	SAME("openat in the removed dir", -ENOENT, pc_openat(eng, d.e, "x", O_RDWR | O_CREAT, 0644),
	     openat(d.h, "x", O_RDWR | O_CREAT, 0644));
	close_pair(d);
	/* a directory renamed over: the fd still names the old one */
	CHECK_EQ(pc_mkdir(eng, "old", 0755), 0);
	CHECK_EQ(mkdir(hp("old"), 0755), 0);
	d = dir_pair("old", O_RDONLY | O_DIRECTORY);
	SAME("rename a dir over the open one", 0, pc_rename(eng, "e", "old", 0),
	     rename(hp("e"), hp("old")));
	SAME("fstat of the dir renamed over", 0, pc_fstat(eng, d.e, &a), fstat(d.h, &b));
	CHECK_EQ(a.st_nlink, b.st_nlink);
	close_pair(d);

	/* attribute calls on an unlinked open file */
	struct pair f = dir_pair("g", O_RDWR);
	SAME("unlink the open file", 0, pc_unlink(eng, "g"), unlink(hp("g")));
	SAME("fchmod of the unlinked file", 0, pc_fchmod(eng, f.e, 0611), fchmod(f.h, 0611));
	SAME("fchown of the unlinked file", 0, pc_fchown(eng, f.e, 99, 98), fchown(f.h, 99, 98));
	struct timespec ts[2] = {{12345, 0}, {23456, 789}};
	SAME("futimens of the unlinked file", 0, pc_futimens(eng, f.e, ts), futimens(f.h, ts));
	SAME("fstat of the unlinked file", 0, pc_fstat(eng, f.e, &a), fstat(f.h, &b));
	CHECK_EQ(a.st_nlink, 0);
	CHECK_EQ(a.st_nlink, b.st_nlink);
	CHECK_EQ(a.st_mode, b.st_mode);
	CHECK_EQ(a.st_uid, b.st_uid);
	CHECK_EQ(a.st_gid, b.st_gid);
	CHECK_EQ(a.st_mtim.tv_sec, b.st_mtim.tv_sec);
	CHECK_EQ(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
	/* fchmodat2 (Linux 6.6; glibc's fchmodat refuses AT_EMPTY_PATH) */
	SAME("fchmodat AT_EMPTY_PATH of the unlinked file", 0,
	     pc_fchmodat(eng, f.e, "", 0644, AT_EMPTY_PATH),
	     syscall(452 /* fchmodat2 */, f.h, "", 0644, AT_EMPTY_PATH));
	close_pair(f);
	teardown();
}

/* Names of one getdents listing: a bitmask over "n0".."n31". */
static unsigned list_mask(int fd, bool engine)
{
	unsigned mask = 0;

	if (engine) {
		struct pc_dirent64 ents[8];
		ssize_t n;

		while ((n = pc_getdents(eng, fd, ents, 8)) > 0)
			for (ssize_t i = 0; i < n; i++)
				if (ents[i].name[0] == 'n')
					mask |= 1u << atoi(ents[i].name + 1);
		CHECK_EQ(n, 0);
	} else {
		long n;

		while ((n = h_getdents(fd, buf, 65536)) > 0)
			for (long o = 0; o < n;) {
				struct {
					uint64_t ino;
					int64_t off;
					unsigned short reclen;
					unsigned char type;
					char name[];
				} *d = (void *)(buf + o);
				if (d->name[0] == 'n')
					mask |= 1u << atoi(d->name + 1);
				o += d->reclen;
			}
	}
	return mask;
}

static void make_pair_file(const char *name)
{
	close_pair(open_pair(name, O_RDWR | O_CREAT));
}

TEST(rewinddir_sees_new_entries)
{
	setup();
	char name[8];

	CHECK_EQ(pc_mkdir(eng, "l", 0755), 0);
	CHECK_EQ(mkdir(hp("l"), 0755), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "l/n%d", i);
		make_pair_file(name);
	}
	struct pair d = dir_pair("l", O_RDONLY | O_DIRECTORY);
	CHECK_EQ(list_mask(d.e, true), list_mask(d.h, false));
	for (int i = 10; i < 20; i++) {
		snprintf(name, sizeof(name), "l/n%d", i);
		make_pair_file(name);
	}
	SAME("rewind a dir fd", 0, pc_lseek(eng, d.e, 0, SEEK_SET), lseek(d.h, 0, SEEK_SET));
	unsigned em = list_mask(d.e, true);
	CHECK_EQ(em, list_mask(d.h, false));
	CHECK_EQ(em, (1u << 20) - 1);
	/* lseek to an entry's off resumes after it */
	struct pc_dirent64 ents[4], more[32];
	CHECK_EQ(pc_lseek(eng, d.e, 0, SEEK_SET), 0);
	CHECK_EQ(pc_getdents(eng, d.e, ents, 4), 4);
	ssize_t n = pc_getdents(eng, d.e, more, 32);
	CHECK(n > 0);
	CHECK_EQ(pc_lseek(eng, d.e, ents[3].off, SEEK_SET), ents[3].off);
	struct pc_dirent64 again[32];
	CHECK_EQ(pc_getdents(eng, d.e, again, 32), n);
	for (ssize_t i = 0; i < n; i++)
		CHECK(!strcmp(again[i].name, more[i].name));
	/* pc_readdir reads from the same position */
	CHECK_EQ(pc_lseek(eng, d.e, ents[1].off, SEEK_SET), ents[1].off);
	struct pc_dirent one;
	CHECK_EQ(pc_readdir(eng, d.e, &one, 1), 1);
	CHECK(!strcmp(one.name, ents[2].name));
	/* a removed directory lists nothing */
	close_pair(d);
	teardown();
}

/* user. xattrs on the dir store, against the host's. */
TEST(xattrs_against_the_host)
{
	setup();
	char v[128], w[128];

	if (setxattr(hp("f"), "user.probe", "1", 1, 0) != 0) {
		printf("# the host file system has no user xattrs (%s): skipped\n",
		       strerrorname_np(errno));
		teardown();
		return;
	}
	CHECK_EQ(removexattr(hp("f"), "user.probe"), 0);
#define SX(what, doc, path, name, val, len, fl)                                      \
	SAME(what, doc, pc_setxattrat(eng, PC_AT_ROOT, path, name, val, len, fl, 0), \
	     lsetxattr(hp(path), name, val, len, fl))
#define GX(what, doc, path, name, size)                                         \
	SAME(what, doc, pc_getxattrat(eng, PC_AT_ROOT, path, name, v, size, 0), \
	     lgetxattr(hp(path), name, w, size))
	SX("set user.a on a file", 0, "f", "user.a", "hello", 5, 0);
	SX("set user.a on a dir", 0, "d", "user.a", "dir", 3, 0);
	GX("get user.a of a file", 5, "f", "user.a", sizeof(v));
	CHECK(!memcmp(v, w, 5));
	GX("get the size needed", 5, "f", "user.a", 0);
	GX("get into a small buffer", -ERANGE, "f", "user.a", 2);
	GX("get a missing one", -ENODATA, "f", "user.b", sizeof(v));
	SX("XATTR_CREATE of an existing one", -EEXIST, "f", "user.a", "x", 1, XATTR_CREATE);
	SX("XATTR_REPLACE of a missing one", -ENODATA, "f", "user.b", "x", 1, XATTR_REPLACE);
	SX("XATTR_REPLACE", 0, "f", "user.a", "bye", 3, XATTR_REPLACE);
	SX("an empty value", 0, "f", "user.e", "", 0, 0);
	GX("get the empty value", 0, "f", "user.e", sizeof(v));
	SX("an unknown namespace", -EOPNOTSUPP, "f", "bogus.a", "x", 1, 0);
	SX("an empty name", -ERANGE, "f", "", "x", 1, 0);
	SX("a value over 64 KiB", -E2BIG, "f", "user.big", buf, 65537, 0);
	CHECK_EQ(pc_symlink(eng, "f", "sl"), 0);
	CHECK_EQ(symlink("f", hp("sl")), 0);
	SX("user. on a symlink", -EPERM, "sl", "user.a", "x", 1, 0);
	GX("user. of a symlink", -ENODATA, "sl", "user.a", sizeof(v));
	SAME("list", 0, pc_listxattrat(eng, PC_AT_ROOT, "f", v, sizeof(v), 0) > 0 ? 0 : -1,
	     llistxattr(hp("f"), w, sizeof(w)) > 0 ? 0 : -1);
	CHECK(memmem(v, sizeof(v), "user.a", 7) && memmem(v, sizeof(v), "user.e", 7));
	SAME("list size", llistxattr(hp("f"), NULL, 0),
	     pc_listxattrat(eng, PC_AT_ROOT, "f", NULL, 0, 0), llistxattr(hp("f"), NULL, 0));
	SAME("remove", 0, pc_removexattrat(eng, PC_AT_ROOT, "f", "user.a", 0),
	     lremovexattr(hp("f"), "user.a"));
	SAME("remove a missing one", -ENODATA, pc_removexattrat(eng, PC_AT_ROOT, "f", "user.a", 0),
	     lremovexattr(hp("f"), "user.a"));
	/* through an fd (AT_EMPTY_PATH), also of an unlinked file */
	struct pair f = dir_pair("f", O_RDONLY);
	SAME("set by fd", 0, pc_setxattrat(eng, f.e, "", "user.fd", "1", 1, 0, AT_EMPTY_PATH),
	     fsetxattr(f.h, "user.fd", "1", 1, 0));
	SAME("unlink", 0, pc_unlink(eng, "f"), unlink(hp("f")));
	SAME("get by fd of the unlinked file", 1,
	     pc_getxattrat(eng, f.e, "", "user.fd", v, sizeof(v), AT_EMPTY_PATH),
	     fgetxattr(f.h, "user.fd", w, sizeof(w)));
	ONLY("bad flags", -EINVAL, pc_getxattrat(eng, f.e, "", "user.fd", v, sizeof(v), 0x1));
	close_pair(f);
#undef SX
#undef GX
	teardown();
}

/* SPDX-License-Identifier: MIT */
/*
 * test_badinput_names.c - invalid paths and names given to the public API,
 * and the errno each gets, compared with the host kernel's on an identical
 * layout (see test_badinput.c for the contract and badinput_fixture.h for
 * SAME/SOFT/ONLY): open flag combinations on files, directories and missing
 * names, over-long names and paths, paths that leave the store, unlink,
 * rmdir, mkdir, rename with flags, stat, and trailing slashes.
 * Every mismatch is printed ("# MISMATCH ...") and the test fails at the end
 * if there was any; "SOFT" differences are reported, never failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "badinput_fixture.h"
#include "harness.h"
#include "model.h"
#include "pagecache.h"

#define OPEN(desc, doc, path, flags)                                                         \
	do {                                                                                 \
		int __e = pc_open(eng, path, flags, 0644);                                   \
		int __h = open(hp(path), flags, 0644);                                       \
		int __herr = __h < 0 ? -errno : __h;                                         \
		if (__e >= 0)                                                                \
			pc_close(eng, __e);                                                  \
		if (__h >= 0)                                                                \
			close(__h);                                                          \
		same(__LINE__, false, desc, doc, __e >= 0 ? 0 : __e, __h >= 0 ? 0 : __herr); \
	} while (0)
#define OPEN_SOFT(desc, path, flags)                                                      \
	do {                                                                              \
		int __e = pc_open(eng, path, flags, 0644);                                \
		int __h = open(hp(path), flags, 0644);                                    \
		int __herr = __h < 0 ? -errno : __h;                                      \
		if (__e >= 0)                                                             \
			pc_close(eng, __e);                                               \
		if (__h >= 0)                                                             \
			close(__h);                                                       \
		same(__LINE__, true, desc, 0, __e >= 0 ? 0 : __e, __h >= 0 ? 0 : __herr); \
	} while (0)

TEST(bad_paths_and_names)
{
	setup();
	char *longname = malloc(300), *longpath = malloc(PATH_MAX + 16);
	memset(longname, 'n', 256);
	longname[256] = 0;
	for (int i = 0; i < PATH_MAX + 8; i += 2)
		longpath[i] = 'p', longpath[i + 1] = '/';
	longpath[PATH_MAX + 8] = 0;
	struct stat st;
	OPEN("O_CREAT|O_EXCL on an existing file", -EEXIST, "f", O_RDWR | O_CREAT | O_EXCL);
	OPEN("O_CREAT|O_EXCL on an existing dir", -EEXIST, "d", O_RDONLY | O_CREAT | O_EXCL);
	OPEN("missing without O_CREAT", -ENOENT, "nope", O_RDONLY);
	OPEN("missing parent with O_CREAT", -ENOENT, "nope/x", O_RDWR | O_CREAT);
	OPEN("dir for writing", -EISDIR, "d", O_WRONLY);
	OPEN("dir for reading and writing", -EISDIR, "d", O_RDWR);
	OPEN("dir with O_TRUNC", -EISDIR, "d", O_RDONLY | O_TRUNC);
	OPEN("dir with O_CREAT", -EISDIR, "d", O_RDONLY | O_CREAT);
	OPEN("dir read-only", 0, "d", O_RDONLY);
	OPEN("O_DIRECTORY on a file", -ENOTDIR, "f", O_RDONLY | O_DIRECTORY);
	OPEN("O_DIRECTORY on a missing name", -ENOENT, "nope", O_RDONLY | O_DIRECTORY);
	OPEN("O_DIRECTORY|O_WRONLY on a dir", -EISDIR, "d", O_WRONLY | O_DIRECTORY);
	OPEN("O_CREAT|O_DIRECTORY", -EINVAL, "newdir", O_RDONLY | O_CREAT | O_DIRECTORY);
	OPEN("path through a file", -ENOTDIR, "f/x", O_RDONLY);
	OPEN("path through a file, O_CREAT", -ENOTDIR, "f/x", O_RDWR | O_CREAT);
	OPEN("name of 256 bytes", -ENAMETOOLONG, longname, O_RDWR | O_CREAT);
	OPEN("name of 256 bytes, no O_CREAT", -ENAMETOOLONG, longname, O_RDONLY);
	OPEN("empty path", -ENOENT, "", O_RDONLY);
	OPEN("empty path, O_CREAT", -ENOENT, "", O_RDWR | O_CREAT);
	OPEN_SOFT("O_DIRECT on a dir", "d", O_RDONLY | O_DIRECT);
	OPEN_SOFT("access mode 3", "f", 3);
	longname[255] = 0;
	OPEN("name of 255 bytes", 0, longname, O_RDWR | O_CREAT);
	longname[255] = 'n';
	/* a path longer than PATH_MAX: the kernel fails before resolving */
	{
		int e = pc_open(eng, longpath, O_RDONLY, 0);
		if (e >= 0)
			pc_close(eng, e);
		ONLY("path longer than PATH_MAX", -ENAMETOOLONG, e < 0 ? e : 0);
	}

	/* paths that leave the store: no kernel twin (the host would resolve
	 * them), the store's contract says -EINVAL */
	ONLY("absolute path", -EINVAL, pc_open(eng, "/etc/passwd", O_RDONLY, 0));
	ONLY("absolute path, O_CREAT", -EINVAL,
	     pc_open(eng, "/tmp/pc-escape", O_RDWR | O_CREAT, 0644));
	ONLY("escaping '..'", -EINVAL, pc_open(eng, "..", O_RDONLY, 0));
	ONLY("escaping '../x'", -EINVAL, pc_open(eng, "../x", O_RDWR | O_CREAT, 0644));
	ONLY("escaping 'd/../../x'", -EINVAL, pc_open(eng, "d/../../x", O_RDONLY, 0));
	ONLY("stat of an absolute path", -EINVAL, pc_stat(eng, "/", &st));
	ONLY("mkdir escaping", -EINVAL, pc_mkdir(eng, "../escape", 0755));
	ONLY("unlink escaping", -EINVAL, pc_unlink(eng, "../x"));
	ONLY("rename escaping", -EINVAL, pc_rename(eng, "f", "../f", 0));
	ONLY("the store's lock file is reserved", -EPERM,
	     pc_open(eng, ".pagecache.lock", O_RDONLY, 0));
	OPEN("'..' inside the store", 0, "d/../f", O_RDONLY);

	/* unlink, rmdir, mkdir, rename, stat */
	SAME("unlink a dir", -EISDIR, pc_unlink(eng, "d"), unlink(hp("d")));
	SAME("unlink a missing name", -ENOENT, pc_unlink(eng, "nope"), unlink(hp("nope")));
	SAME("unlink through a file", -ENOTDIR, pc_unlink(eng, "f/x"), unlink(hp("f/x")));
	SAME("unlink a long name", -ENAMETOOLONG, pc_unlink(eng, longname), unlink(hp(longname)));
	SAME("rmdir a file", -ENOTDIR, pc_rmdir(eng, "f"), rmdir(hp("f")));
	SAME("rmdir non-empty", -ENOTEMPTY, pc_rmdir(eng, "d"), rmdir(hp("d")));
	SAME("rmdir missing", -ENOENT, pc_rmdir(eng, "nope"), rmdir(hp("nope")));
	SAME("rmdir through a file", -ENOTDIR, pc_rmdir(eng, "f/x"), rmdir(hp("f/x")));
	SAME("mkdir existing dir", -EEXIST, pc_mkdir(eng, "d", 0755), mkdir(hp("d"), 0755));
	SAME("mkdir existing file", -EEXIST, pc_mkdir(eng, "f", 0755), mkdir(hp("f"), 0755));
	SAME("mkdir missing parent", -ENOENT, pc_mkdir(eng, "nope/x", 0755),
	     mkdir(hp("nope/x"), 0755));
	SAME("mkdir through a file", -ENOTDIR, pc_mkdir(eng, "f/x", 0755), mkdir(hp("f/x"), 0755));
	SAME("mkdir a long name", -ENAMETOOLONG, pc_mkdir(eng, longname, 0755),
	     mkdir(hp(longname), 0755));
	SAME("stat missing", -ENOENT, pc_stat(eng, "nope", &st), lstat(hp("nope"), &st));
	SAME("stat through a file", -ENOTDIR, pc_stat(eng, "f/x", &st), lstat(hp("f/x"), &st));
#define REN(desc, doc, a, b, fl) \
	SAME(desc, doc, pc_rename(eng, a, b, fl), renameat2(AT_FDCWD, hp(a), AT_FDCWD, hp(b), fl))
	REN("rename NOREPLACE onto a file", -EEXIST, "g", "f", RENAME_NOREPLACE);
	REN("rename NOREPLACE onto a dir", -EEXIST, "e", "d", RENAME_NOREPLACE);
	REN("rename NOREPLACE onto itself", -EEXIST, "f", "f", RENAME_NOREPLACE);
	REN("rename NOREPLACE|EXCHANGE", -EINVAL, "g", "f", RENAME_NOREPLACE | RENAME_EXCHANGE);
	REN("rename unknown flag", -EINVAL, "g", "f", 1u << 5);
	REN("rename missing source", -ENOENT, "nope", "f2", 0);
	REN("rename EXCHANGE with a missing target", -ENOENT, "g", "nope", RENAME_EXCHANGE);
	REN("rename into a missing dir", -ENOENT, "g", "nope/g", 0);
	REN("rename through a file", -ENOTDIR, "g", "f/g", 0);
	REN("rename a dir into itself", -EINVAL, "d", "d/sub", 0);
	REN("rename a dir onto its child", -ENOTEMPTY, "d/x", "d", 0);
	REN("rename a file over a dir", -EISDIR, "g", "e", 0);
	REN("rename a dir over a file", -ENOTDIR, "e", "g", 0);
	REN("rename a dir over a non-empty dir", -ENOTEMPTY, "e", "d", 0);
	REN("rename a long name", -ENAMETOOLONG, "g", longname, 0);
	REN("rename onto itself", 0, "g", "g", 0);
#undef REN
	/* pc_readdir on a directory works and on a file does not (bad_fds and
	 * wrong_access_mode cover the fd cases) */
	free(longname);
	free(longpath);
	teardown();
}

/* A trailing slash says "a directory": files named so are refused. */
TEST(trailing_slashes)
{
	setup();
	struct stat st;
	/* each destructive check on its own file, so one wrong answer does not
	 * change what the next one sees */
	close_pair(open_pair("s1", O_RDWR | O_CREAT));
	close_pair(open_pair("s2", O_RDWR | O_CREAT));
	close_pair(open_pair("s3", O_RDWR | O_CREAT));
	SAME("rename a file with a trailing slash", -ENOTDIR, pc_rename(eng, "s1/", "h1", 0),
	     rename(hp("s1/"), hp("h1")));
	SAME("rename a file onto a name with a trailing slash", -ENOTDIR,
	     pc_rename(eng, "s2", "h2/", 0), rename(hp("s2"), hp("h2/")));
	OPEN("open a file with a trailing slash", -ENOTDIR, "f/", O_RDONLY);
	OPEN("open a file with a trailing slash for writing", -ENOTDIR, "f/", O_RDWR);
	OPEN("O_CREAT of a new name with a trailing slash", -EISDIR, "newfile/", O_RDWR | O_CREAT);
	OPEN("O_CREAT of a file with a trailing slash", -EISDIR, "f/", O_RDWR | O_CREAT);
	OPEN("open a dir with a trailing slash", 0, "d/", O_RDONLY);
	OPEN("O_DIRECTORY on a dir with a trailing slash", 0, "d/", O_RDONLY | O_DIRECTORY);
	SAME("stat a file with a trailing slash", -ENOTDIR, pc_stat(eng, "f/", &st),
	     lstat(hp("f/"), &st));
	SAME("stat a dir with a trailing slash", 0, pc_stat(eng, "d/", &st), lstat(hp("d/"), &st));
	SAME("mkdir with a trailing slash", 0, pc_mkdir(eng, "newdir/", 0755),
	     mkdir(hp("newdir/"), 0755));
	SAME("rmdir with a trailing slash", 0, pc_rmdir(eng, "newdir/"), rmdir(hp("newdir/")));
	SAME("unlink a file with a trailing slash", -ENOTDIR, pc_unlink(eng, "s3/"),
	     unlink(hp("s3/")));
	teardown();
}

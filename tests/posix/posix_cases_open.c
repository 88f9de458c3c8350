/* SPDX-License-Identifier: MIT */
/*
 * posix_cases_open.c - the suite's cases of open objects and directories:
 * rewinddir sees new entries, an open directory removed or renamed over
 * (fstat: nlink 0, no new entries), fchmod/fchown/futimens/ftruncate/
 * fsetxattr on an open unlinked file, O_TMPFILE made visible by linkat
 * (AT_EMPTY_PATH), file handles (name_to_handle_at/open_by_handle_at,
 * ESTALE once the file is gone), and the times a directory change marks.
 *
 * Locks: none (a test program).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "posix_suite.h"

static void show_dirp(DIR *d, const char *what)
{
	char line[1024] = "";
	char *names[64];
	size_t n = 0, len = 0;
	struct dirent *de;

	if (!d) {
		say("readdir %s = no stream (%s)", what, errname(errno));
		return;
	}
	errno = 0;
	while ((de = readdir(d)) && n < 64)
		names[n++] = strdup(de->d_name);
	if (errno)
		say("readdir %s = %s", what, errname(errno));
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(names[j], names[i]) < 0) {
				char *t = names[i];
				names[i] = names[j];
				names[j] = t;
			}
	for (size_t i = 0; i < n; i++) {
		len += snprintf(line + len, sizeof(line) - len, " %s", names[i]);
		free(names[i]);
	}
	say("readdir %s =%s", what, line);
}

static void c_rewinddir(void)
{
	DIR *d;

	T(put_file("a", "a"));
	d = opendir(".");
	show_dirp(d, "first pass");
	T(put_file("b", "b"));
	T(mkdir("c", 0755));
	rewinddir(d);
	show_dirp(d, "after rewinddir");
	T(unlink("a"));
	rewinddir(d);
	show_dirp(d, "after unlink and rewinddir");
	closedir(d);
	/* seekdir back to a telldir position of the first entry */
	d = opendir(".");
	long pos = telldir(d);
	show_dirp(d, "all");
	seekdir(d, pos);
	show_dirp(d, "after seekdir to the start");
	closedir(d);
}

static void c_removed_dir(void)
{
	int fd, fd2, x;

	T(mkdir("d", 0755));
	TFD(fd, open("d", O_RDONLY | O_DIRECTORY));
	T(rmdir("d"));
	show_fstat("removed d", fd);
	TFD(x, openat(fd, "new", O_WRONLY | O_CREAT, 0644));
	T(mkdirat(fd, "sub", 0755));
	T(fstatat(fd, "..", &(struct stat){0}, 0));
	{
		int dfd = dup(fd);
		DIR *dp = fdopendir(dfd);

		show_dirp(dp, "removed d");
		if (dp)
			closedir(dp);
		else
			close(dfd);
	}
	T(fchmod(fd, 0700));
	show_fstat("removed d", fd);
	T(close(fd));
	/* renamed over: the victim is gone */
	T(mkdir("victim", 0755));
	T(mkdir("src", 0755));
	T(put_file("src/f", "x"));
	TFD(fd, open("victim", O_RDONLY | O_DIRECTORY));
	T(rename("src", "victim"));
	show_fstat("renamed-over victim", fd);
	TFD(x, openat(fd, "f", O_RDONLY));
	TFD(fd2, open("victim", O_RDONLY | O_DIRECTORY));
	show_fstat("new victim", fd2);
	T(close(fd2));
	T(close(fd));
	/* fchdir into a removed directory */
	T(mkdir("cwd", 0755));
	TFD(fd, open(".", O_RDONLY | O_DIRECTORY));
	T(chdir("cwd"));
	T(rmdir("../cwd"));
	TFD(x, open("f", O_WRONLY | O_CREAT, 0644));
	show_stat(".", true);
	T(fchdir(fd));
	T(close(fd));
}

static void c_unlinked_file(void)
{
	struct timespec ts[2] = {{1000000000, 0}, {1000000001, 0}};
	int fd;
	char buf[16] = "";

	T(put_file("f", "payload"));
	TFD(fd, open("f", O_RDWR));
	T(unlink("f"));
	show_fstat("unlinked f", fd);
	T(fchmod(fd, 0600));
	T(fchown(fd, NOBODY, 42));
	T(ftruncate(fd, 3));
	T(futimens(fd, ts));
	show_fstat("unlinked f", fd);
	{
		struct stat st;

		fstat(fd, &st);
		say("unlinked f: mtime %lld", (long long)st.st_mtim.tv_sec);
	}
	T(fsetxattr(fd, "user.x", "1", 1, 0));
	T(fgetxattr(fd, "user.x", buf, sizeof(buf)));
	T(pwrite(fd, "abcdef", 6, 2));
	T(pread(fd, buf, sizeof(buf), 0));
	say("read %.8s", buf);
	T(fsync(fd));
	T(fchmod(fd, 04755));
	show_fstat("unlinked f", fd);
	T(close(fd));
	show_dir(".");
	/* an unlinked file stays open across a rename over it too */
	T(put_file("g", "old"));
	T(put_file("h", "new"));
	TFD(fd, open("g", O_RDONLY));
	T(rename("h", "g"));
	show_fstat("renamed-over g", fd);
	memset(buf, 0, sizeof(buf));
	T(read(fd, buf, sizeof(buf)));
	say("read %s", buf);
	T(close(fd));
}

/* The O_PATH fd holds the inode: the data written (never synced) through
 * the last open fd, closed after the unlink, is read back through it. */
static void c_opath_unlinked(void)
{
	char path[64], buf[32] = "";
	int fd, pfd, rfd;

	TFD(fd, open("f", O_RDWR | O_CREAT | O_TRUNC, 0644));
	T(write(fd, "never synced", 12));
	TFD(pfd, open("f", O_PATH));
	T(unlink("f"));
	T(close(fd));
	show_fstat("O_PATH of unlinked f", pfd);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd);
	TFD(rfd, open(path, O_RDWR));
	T(pread(rfd, buf, sizeof(buf) - 1, 0));
	say("read %s", buf);
	T(pwrite(rfd, "N", 1, 0));
	T(close(rfd));
	memset(buf, 0, sizeof(buf));
	TFD(rfd, open(path, O_RDONLY));
	T(pread(rfd, buf, sizeof(buf) - 1, 0));
	say("read %s", buf);
	show_fstat("reopened unlinked f", rfd);
	T(close(rfd));
	T(close(pfd));
	show_dir(".");
}

static void c_tmpfile(void)
{
	int fd;
	char path[64];

	TFD(fd, open(".", O_TMPFILE | O_RDWR, 0640));
	T(write(fd, "tmp", 3));
	show_fstat("tmpfile", fd);
	T(linkat(fd, "", AT_FDCWD, "linked", AT_EMPTY_PATH));
	show_stat("linked", true);
	T(close(fd));
	TFD(fd, open(".", O_TMPFILE | O_WRONLY | O_EXCL, 0600));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	TN("linkat(/proc/self/fd/N, AT_SYMLINK_FOLLOW) of O_EXCL",
	   linkat(AT_FDCWD, path, AT_FDCWD, "excl", AT_SYMLINK_FOLLOW));
	T(close(fd));
	TFD(fd, open(".", O_TMPFILE | O_RDONLY, 0600));
	TFD(fd, open("missing", O_TMPFILE | O_RDWR, 0600));
	show_dir(".");
}

static void c_handle(void)
{
	struct file_handle *fh = malloc(sizeof(*fh) + MAX_HANDLE_SZ);
	int mount_id, fd, top = open(".", O_RDONLY | O_DIRECTORY);
	char buf[16] = "";

	T(put_file("f", "by handle"));
	fh->handle_bytes = MAX_HANDLE_SZ;
	T(name_to_handle_at(AT_FDCWD, "f", fh, &mount_id, 0));
	TFD(fd, open_by_handle_at(top, fh, O_RDONLY));
	T(read(fd, buf, sizeof(buf) - 1));
	say("read %s", buf);
	T(close(fd));
	T(rename("f", "g"));
	TFD(fd, open_by_handle_at(top, fh, O_RDONLY));
	T(close(fd));
	T(unlink("g"));
	TFD(fd, open_by_handle_at(top, fh, O_RDONLY));
	fh->handle_bytes = 0;
	T(name_to_handle_at(AT_FDCWD, ".", fh, &mount_id, 0));
	close(top);
	free(fh);
}

static void c_dir_times(void)
{
	struct timespec old[2] = {{946684800, 0}, {946684800, 0}};
	struct stat a, b;
	int fd;

	T(mkdir("d", 0755));
	T(utimensat(AT_FDCWD, "d", old, 0));
	lstat("d", &a);
	T(put_file("d/f", "x"));
	lstat("d", &b);
	say("create: dir mtime %s", a.st_mtim.tv_sec != b.st_mtim.tv_sec ? "changed" : "same");
	T(utimensat(AT_FDCWD, "d", old, 0));
	T(rename("d/f", "d/g"));
	lstat("d", &b);
	say("rename: dir mtime %s", b.st_mtim.tv_sec != 946684800 ? "changed" : "same");
	T(utimensat(AT_FDCWD, "d", old, 0));
	T(unlink("d/g"));
	lstat("d", &b);
	say("unlink: dir mtime %s", b.st_mtim.tv_sec != 946684800 ? "changed" : "same");
	T(put_file("f", "x"));
	T(utimensat(AT_FDCWD, "f", old, 0));
	TFD(fd, open("f", O_RDONLY));
	T(read(fd, (char[4]){0}, 4));
	T(close(fd));
	lstat("f", &b);
	say("read: file mtime %s", b.st_mtim.tv_sec != 946684800 ? "changed" : "same");
	TFD(fd, open("f", O_WRONLY));
	T(write(fd, "y", 1));
	T(close(fd));
	lstat("f", &b);
	say("write: file mtime %s", b.st_mtim.tv_sec != 946684800 ? "changed" : "same");
	T(utimensat(AT_FDCWD, "f", old, 0));
	T(link("f", "f2"));
	lstat("f", &b);
	say("link: file mtime %s", b.st_mtim.tv_sec != 946684800 ? "changed" : "same");
}

const struct posix_case posix_cases_open[] = {
    {"rewinddir", c_rewinddir, false},
    {"removed_dir", c_removed_dir, false},
    {"unlinked_file", c_unlinked_file, false},
    {"opath_unlinked", c_opath_unlinked, false},
    {"tmpfile", c_tmpfile, false},
    {"handle", c_handle, true},
    {"dir_times", c_dir_times, false},
    {NULL, NULL, false},
};

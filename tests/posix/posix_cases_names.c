/* SPDX-License-Identifier: MIT */
/*
 * posix_cases_names.c - the suite's cases of the namespace calls: open and
 * creat, link, unlink, rename (renameat2 flags), mkdir/rmdir, symlink,
 * mknod (fifo, devices, sockets, a bound unix socket), long names and long
 * paths (a 10,000-byte path reached one openat per level, and a rename that
 * pushes a file past PATH_MAX), with their errno cases.
 *
 * Locks: none (a test program).
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "posix_suite.h"

static void c_open(void)
{
	int fd;
	char buf[16];

	TFD(fd, open("f", O_WRONLY | O_CREAT | O_EXCL, 0666));
	T(write(fd, "hello", 5));
	T(close(fd));
	show_stat("f", true);
	TFD(fd, open("f", O_WRONLY | O_CREAT | O_EXCL, 0666));
	TFD(fd, open("missing", O_RDONLY));
	TFD(fd, open("nodir/f", O_RDWR | O_CREAT, 0644));
	TFD(fd, open("f/", O_RDONLY));
	TFD(fd, open("f/x", O_RDONLY | O_CREAT, 0644));
	TFD(fd, open("f", O_RDONLY | O_DIRECTORY));
	TFD(fd, open("", O_RDONLY));
	T(mkdir("d", 0755));
	TFD(fd, open("d", O_WRONLY));
	TFD(fd, open("d", O_RDWR));
	TFD(fd, open("d", O_RDONLY | O_CREAT, 0644));
	TFD(fd, open("d", O_RDONLY | O_DIRECTORY));
	T(close(fd));
	TFD(fd, open("f", O_WRONLY | O_APPEND));
	T(write(fd, "!", 1));
	T(close(fd));
	TFD(fd, open("f", O_RDONLY));
	T(read(fd, buf, sizeof(buf)));
	T(close(fd));
	show_stat("f", true);
	TFD(fd, open("f", O_WRONLY | O_TRUNC));
	T(close(fd));
	show_stat("f", true);
	TFD(fd, creat("c", 0640));
	T(write(fd, "abc", 3));
	T(close(fd));
	TFD(fd, creat("c", 0600));
	T(close(fd));
	show_stat("c", true);
	/* symlinks: O_EXCL never follows, O_NOFOLLOW refuses, O_CREAT through a
	 * dangling one makes its target */
	T(symlink("target", "dangling"));
	TFD(fd, open("dangling", O_WRONLY | O_CREAT | O_EXCL, 0644));
	TFD(fd, open("dangling", O_RDONLY | O_NOFOLLOW));
	TFD(fd, open("dangling", O_WRONLY | O_CREAT, 0600));
	T(close(fd));
	show_stat("target", true);
	TFD(fd, open("dangling", O_PATH | O_NOFOLLOW));
	T(close(fd));
	/* umask applies to creation */
	umask(077);
	TFD(fd, open("masked", O_WRONLY | O_CREAT, 0666));
	T(close(fd));
	umask(022);
	show_stat("masked", true);
	TFD(fd, open("./d/../f", O_RDONLY));
	T(close(fd));
}

static void c_link(void)
{
	int fd;

	T(put_file("f", "data"));
	T(link("f", "g"));
	show_stat("f", true);
	T(link("f", "g"));
	T(link("missing", "h"));
	T(link("f", "nodir/h"));
	T(mkdir("d", 0755));
	T(link("d", "d2"));
	T(link("f", "d/h"));
	show_stat("d/h", true);
	T(link("f/", "h2"));
	T(link("f", "/dev/shm/pc-posix-suite")); /* another file system: EXDEV */
	T(rename("f", "/dev/shm/pc-posix-suite"));
	T(symlink("f", "s"));
	T(linkat(AT_FDCWD, "s", AT_FDCWD, "s_nofollow", 0));
	show_stat("s_nofollow", true);
	T(linkat(AT_FDCWD, "s", AT_FDCWD, "s_follow", AT_SYMLINK_FOLLOW));
	show_stat("s_follow", true);
	show_stat("f", true);
	T(unlink("g"));
	T(unlink("d/h"));
	T(unlink("s_follow"));
	show_stat("f", true);
	TFD(fd, open("f", O_RDONLY));
	T(unlink("f"));
	T(linkat(fd, "", AT_FDCWD, "relinked", AT_EMPTY_PATH));
	T(close(fd));
	T(linkat(AT_FDCWD, "s", AT_FDCWD, "bad", 0x8000));
}

static void c_unlink(void)
{
	int fd;
	char buf[16] = "";

	T(put_file("f", "contents"));
	T(mkdir("d", 0755));
	T(unlink("d"));
	T(unlink("missing"));
	T(unlink("f/"));
	T(unlink("f/x"));
	T(unlinkat(AT_FDCWD, "f", AT_REMOVEDIR));
	T(unlinkat(AT_FDCWD, "d", AT_REMOVEDIR));
	TFD(fd, open("f", O_RDWR));
	T(unlink("f"));
	show_stat("f", true);
	show_fstat("unlinked f", fd);
	T(pread(fd, buf, sizeof(buf) - 1, 0));
	say("read back %s", buf);
	T(pwrite(fd, "more", 4, 8));
	show_fstat("unlinked f", fd);
	T(close(fd));
	show_dir(".");
}

static void c_rename(void)
{
	struct stat a, b;

	T(put_file("r1", "one"));
	T(put_file("r2", "two"));
	T(rename("r1", "r2"));
	show_stat("r1", true);
	show_stat("r2", true);
	T(mkdir("d1", 0755));
	T(mkdir("d2", 0755));
	T(mkdir("d2/x", 0755));
	T(rename("d1", "d2"));
	T(mkdir("d3", 0755));
	T(rename("d1", "d3"));
	show_stat("d3", true);
	T(rename("r2", "d2"));
	T(rename("d2", "r2"));
	T(rename("d2", "d2/x/y"));
	T(rename("d2", "d2/x"));
	T(rename("missing", "z"));
	T(rename("r2", "nodir/z"));
	T(rename("r2", "r2"));
	T(link("r2", "r2link"));
	T(rename("r2", "r2link"));
	show_stat("r2", true);
	show_stat("r2link", true);
	T(rename(".", "dot"));
	T(rename("d2/x", "d2/x/."));
	/* directories across parents: link counts and .. */
	T(mkdir("p1", 0755));
	T(mkdir("p2", 0755));
	T(mkdir("p1/c", 0755));
	show_stat("p1", true);
	T(rename("p1/c", "p2/c"));
	show_stat("p1", true);
	show_stat("p2", true);
	stat("p2/c/..", &a);
	stat("p2", &b);
	say("p2/c/.. is p2 = %s", a.st_ino == b.st_ino && a.st_dev == b.st_dev ? "yes" : "no");
	/* renameat2 */
	T(put_file("ea", "a"));
	T(put_file("eb", "bb"));
	T(renameat2(AT_FDCWD, "ea", AT_FDCWD, "eb", RENAME_NOREPLACE));
	T(renameat2(AT_FDCWD, "ea", AT_FDCWD, "eb", RENAME_EXCHANGE));
	show_stat("ea", true);
	show_stat("eb", true);
	T(renameat2(AT_FDCWD, "ea", AT_FDCWD, "missing", RENAME_EXCHANGE));
	T(renameat2(AT_FDCWD, "ea", AT_FDCWD, "ec", RENAME_NOREPLACE));
	T(renameat2(AT_FDCWD, "ec", AT_FDCWD, "eb", RENAME_NOREPLACE | RENAME_EXCHANGE));
	T(renameat2(AT_FDCWD, "ec", AT_FDCWD, "p2", RENAME_EXCHANGE));
	show_stat("ec", true);
	show_stat("p2", true);
	T(renameat2(AT_FDCWD, "p2", AT_FDCWD, "ec", RENAME_EXCHANGE));
	T(renameat2(AT_FDCWD, "ec", AT_FDCWD, "ed", 0x100));
	show_dir(".");
}

static void c_whiteout(void)
{
	T(put_file("w", "x"));
	T(renameat2(AT_FDCWD, "w", AT_FDCWD, "w2", RENAME_WHITEOUT));
	show_stat("w", true);
	show_stat("w2", true);
}

static void c_mkdir(void)
{
	T(mkdir("d", 0755));
	show_stat("d", true);
	T(mkdir("d", 0755));
	T(mkdir("nodir/d", 0755));
	T(mkdir("d/sub/", 0700));
	show_stat("d/sub", true);
	show_stat("d", true);
	umask(027);
	T(mkdir("masked", 0777));
	umask(022);
	show_stat("masked", true);
	T(mkdir("sticky", 01777));
	show_stat("sticky", true);
	T(symlink("d", "s"));
	T(mkdir("s", 0755));
	T(put_file("f", "x"));
	T(mkdir("f/x", 0755));
	T(rmdir("d"));
	T(rmdir("f"));
	T(rmdir("missing"));
	T(rmdir("."));
	T(rmdir("d/sub/."));
	T(rmdir(".."));
	T(rmdir("d/sub/.."));
	T(rmdir("s"));
	T(rmdir("d/sub"));
	show_stat("d", true);
	T(rmdir("d/"));
	show_stat("d", true);
	show_dir(".");
}

static void c_symlink(void)
{
	char buf[PATH_MAX + 8];
	/* A target's longest length is file-system specific (ext4: the block
	 * size less one, 1023 on a small ext4), so the long one has 1023 bytes;
	 * past PATH_MAX the VFS refuses on every file system. */
	char *t1023 = long_name(1023, 't'), *t4096 = long_name(4096, 't');
	int fd;

	T(symlink("some/target", "s"));
	show_stat("s", true);
	T(readlink("s", buf, sizeof(buf)));
	T(readlink("s", buf, 4));
	say("readlink prefix %.4s", buf);
	T(symlink("x", "s"));
	T(symlink("", "empty"));
	T(symlink("x", "nodir/s"));
	TN("symlink(1023-byte target)", symlink(t1023, "long"));
	show_stat("long", true);
	TN("readlink(long)", readlink("long", buf, sizeof(buf)));
	TN("symlink(4096-byte target)", symlink(t4096, "toolong"));
	T(stat("s", &(struct stat){0}));
	T(symlink("loop2", "loop1"));
	T(symlink("loop1", "loop2"));
	TFD(fd, open("loop1", O_RDONLY));
	T(put_file("f", "x"));
	T(readlink("f", buf, sizeof(buf)));
	T(readlink("missing", buf, sizeof(buf)));
	T(symlink("f", "tofile"));
	show_stat("tofile", false);
	T(mkdir("d", 0755));
	T(symlink("../f", "d/up"));
	show_stat("d/up", false);
	T(symlink("d", "tod"));
	show_stat("tod/up", false);
	T(unlink("tod/"));
	T(unlink("tod"));
	show_stat("d", true);
	free(t1023);
	free(t4096);
}

static void c_mknod(void)
{
	int fd;
	char buf[8] = "";

	T(mkfifo("fifo", 0644));
	show_stat("fifo", true);
	T(mkfifo("fifo", 0644));
	TFD(fd, open("fifo", O_RDWR));
	T(write(fd, "pipe", 4));
	T(read(fd, buf, 4));
	say("fifo read %s", buf);
	T(close(fd));
	T(mknod("reg", S_IFREG | 0600, 0));
	show_stat("reg", true);
	T(mknod("sock", S_IFSOCK | 0600, 0));
	show_stat("sock", true);
	T(mknod("bad", 0170000 | 0600, 0));
	T(mknod("nodir/x", S_IFIFO | 0600, 0));
	T(truncate("fifo", 0));
	T(unlink("fifo"));
	T(unlink("sock"));
}

static void mknod_user(void)
{
	T(mknod("chr_user", S_IFCHR | 0600, makedev(1, 3)));
	T(mkfifo("fifo_user", 0600));
	show_stat("fifo_user", true);
}

static void c_mknod_dev(void)
{
	int fd;
	char buf[4];

	T(mknod("null", S_IFCHR | 0666, makedev(1, 3)));
	show_stat("null", true);
	TFD(fd, open("null", O_RDWR));
	T(write(fd, "abc", 3));
	T(read(fd, buf, sizeof(buf)));
	T(close(fd));
	T(mknod("blk", S_IFBLK | 0600, makedev(7, 200)));
	show_stat("blk", true);
	T(chmod(".", 0777));
	as_nobody(mknod_user);
}

static void c_socket(void)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int s, c, conn;
	char buf[8] = "";

	snprintf(a.sun_path, sizeof(a.sun_path), "sock");
	TFD(s, socket(AF_UNIX, SOCK_STREAM, 0));
	T(bind(s, (struct sockaddr *)&a, sizeof(a)));
	show_stat("sock", true);
	T(bind(socket(AF_UNIX, SOCK_STREAM, 0), (struct sockaddr *)&a, sizeof(a)));
	T(listen(s, 1));
	TFD(c, socket(AF_UNIX, SOCK_STREAM, 0));
	T(connect(c, (struct sockaddr *)&a, sizeof(a)));
	TFD(conn, accept(s, NULL, NULL));
	T(write(c, "hi", 2));
	T(read(conn, buf, 2));
	say("socket read %s", buf);
	T(close(conn));
	T(close(c));
	T(close(s));
	T(rename("sock", "sock2"));
	TFD(c, socket(AF_UNIX, SOCK_STREAM, 0));
	memcpy(a.sun_path, "sock2", 6);
	T(connect(c, (struct sockaddr *)&a, sizeof(a)));
	T(close(c));
	T(unlink("sock2"));
}

static void c_names(void)
{
	char *n255 = long_name(255, 'n'), *n256 = long_name(256, 'n');
	char path[PATH_MAX + 16];
	int fd;

	TFD(fd, open(n255, O_WRONLY | O_CREAT, 0644));
	T(close(fd));
	TN("open(256-byte name, O_CREAT)", open(n256, O_WRONLY | O_CREAT, 0644));
	TN("stat(256-byte name)", stat(n256, &(struct stat){0}));
	TN("mkdir(256)", mkdir(n256, 0755));
	TN("symlink(x, 256)", symlink("x", n256));
	TN("link(255, 256)", link(n255, n256));
	TN("rename(255, 256)", rename(n255, n256));
	TN("mknod(256)", mknod(n256, S_IFIFO | 0644, 0));
	TN("unlink(256)", unlink(n256));
	T(mkdir("d", 0755));
	snprintf(path, sizeof(path), "d/%s", n255);
	TN("rename(255, d/255)", rename(n255, path));
	show_dir("d");
	/* paths: 4095 bytes ("./" repeated, then the name) work, 4096 do not */
	memset(path, 0, sizeof(path));
	for (size_t i = 0; i < 2047; i++)
		memcpy(path + 2 * i, "./", 2);
	path[4094] = 'd';
	say("path length %zu", strlen(path));
	TN("stat(4095-byte path)", stat(path, &(struct stat){0}));
	memmove(path + 2, path, strlen(path) + 1);
	memcpy(path, "./", 2);
	say("path length %zu", strlen(path));
	TN("stat(4097-byte path)", stat(path, &(struct stat){0}));
	TN("mkdir(4097-byte path)", mkdir(path, 0755));
	free(n255);
	free(n256);
}

/* A chain of @depth directories named @c (200 bytes) under @dfd; returns the
 * deepest one's descriptor or -1, printing only the first failure. */
static int deep_chain(int dfd, int depth, char c, bool make)
{
	char *n = long_name(200, c);
	int fd = dup(dfd);

	for (int i = 0; i < depth && fd >= 0; i++) {
		int next;

		if (make && mkdirat(fd, n, 0755) < 0) {
			say("mkdirat level %d = %s", i, errname(errno));
			close(fd);
			fd = -1;
			break;
		}
		next = openat(fd, n, O_RDONLY | O_DIRECTORY);
		if (next < 0)
			say("openat level %d = %s", i, errname(errno));
		close(fd);
		fd = next;
	}
	free(n);
	return fd;
}

static void c_deep_path(void)
{
	int top = open(".", O_RDONLY | O_DIRECTORY), d, fd;
	char buf[8] = "";

	d = deep_chain(top, 50, 'p', true);
	say("50 levels of 200-byte names (10050 bytes) = %s", d >= 0 ? "reached" : "failed");
	TFD(fd, openat(d, "f", O_RDWR | O_CREAT, 0644));
	T(write(fd, "deep", 4));
	T(close(fd));
	show_statat(d, "f", "deep/f");
	T(close(d));
	d = deep_chain(top, 50, 'p', false);
	TFD(fd, openat(d, "f", O_RDONLY));
	T(read(fd, buf, 4));
	say("read %s", buf);
	T(close(fd));
	T(unlinkat(d, "f", 0));
	T(close(d));
	/* remove the chain bottom-up, one dirfd per level */
	for (int lvl = 49; lvl >= 0; lvl--) {
		char *n = long_name(200, 'p');
		int p = deep_chain(top, lvl, 'p', false);

		if (unlinkat(p, n, AT_REMOVEDIR) < 0)
			say("rmdir level %d = %s", lvl, errname(errno));
		close(p);
		free(n);
	}
	show_dir(".");
	close(top);
}

static void c_deep_rename(void)
{
	int top = open(".", O_RDONLY | O_DIRECTORY), a, b, fd;
	char *nb = long_name(200, 'b');

	a = deep_chain(top, 12, 'a', true);
	b = deep_chain(top, 12, 'b', true);
	TFD(fd, openat(b, "f", O_RDWR | O_CREAT, 0644));
	T(close(fd));
	T(close(b));
	/* moving b (2400 bytes deep) under a (2400 bytes) puts f past PATH_MAX */
	TN("renameat(b chain under a chain)", renameat(top, nb, a, nb));
	b = deep_chain(a, 12, 'b', false);
	show_statat(b, "f", "moved f");
	TFD(fd, openat(b, "f", O_RDONLY));
	T(close(fd));
	T(unlinkat(b, "f", 0));
	show_statat(b, "f", "moved f");
	T(close(b));
	T(close(a));
	close(top);
	free(nb);
}

const struct posix_case posix_cases_names[] = {
    {"open", c_open, false},
    {"link", c_link, false},
    {"unlink", c_unlink, false},
    {"rename", c_rename, false},
    {"rename_whiteout", c_whiteout, true},
    {"mkdir_rmdir", c_mkdir, false},
    {"symlink", c_symlink, false},
    {"mknod", c_mknod, false},
    {"mknod_dev", c_mknod_dev, true},
    {"socket", c_socket, false},
    {"names", c_names, false},
    {"deep_path", c_deep_path, false},
    {"deep_rename", c_deep_rename, false},
    {NULL, NULL, false},
};

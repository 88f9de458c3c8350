/* SPDX-License-Identifier: MIT */
/*
 * posix_cases_attrs.c - the suite's cases of attributes and permissions:
 * chmod, chown, truncate, utimensat, permission checks of another user,
 * sticky and setgid directories, S_ISUID/S_ISGID dropped on write,
 * truncate and fallocate, extended attributes (user., trusted., security.)
 * and POSIX ACLs (raw system.posix_acl_* bytes) that must grant and deny
 * access to the unprivileged user.
 *
 * Locks: none (a test program).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "posix_suite.h"

/* mtime/ctime relations: a stat before, one after */
static struct stat before;
static void snap(const char *path)
{
	memset(&before, 0, sizeof(before));
	lstat(path, &before);
}
static void times_moved(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		say("times %s = %s", path, errname(errno));
		return;
	}
	say("%s: mtime %s, ctime %s", path,
	    st.st_mtim.tv_sec == before.st_mtim.tv_sec &&
		    st.st_mtim.tv_nsec == before.st_mtim.tv_nsec
		? "same"
		: "changed",
	    st.st_ctim.tv_sec == before.st_ctim.tv_sec &&
		    st.st_ctim.tv_nsec == before.st_ctim.tv_nsec
		? "same"
		: "changed");
}
/* Sets atime and mtime to a fixed past value, so that a change shows. */
static void age(const char *path)
{
	struct timespec ts[2] = {{946684800, 0}, {946684800, 0}};

	utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
}

/* ---- chmod ---- */

static void chmod_user(void)
{
	T(chmod("f", 0777));
	T(chmod("mine", 02755)); /* group 0: not a member, the bit is dropped */
	show_stat("mine", true);
	T(chmod("mine", 04755));
	show_stat("mine", true);
	T(chmod("mine", 01755));
	show_stat("mine", true);
}

static void c_chmod(void)
{
	T(put_file("f", "x"));
	T(chmod("f", 0600));
	show_stat("f", true);
	T(chmod("f", 07777));
	show_stat("f", true);
	T(chmod("missing", 0600));
	T(symlink("f", "s"));
	T(chmod("s", 0640));
	show_stat("f", true);
	show_stat("s", true);
	T(fchmodat(AT_FDCWD, "s", 0600, AT_SYMLINK_NOFOLLOW));
	T(fchmodat(AT_FDCWD, "f", 0600, 0x8000));
	age("f");
	snap("f");
	T(chmod("f", 0644));
	times_moved("f");
	T(put_file("mine", "y"));
	T(chown("mine", NOBODY, 0));
	T(chmod(".", 0777));
	as_nobody(chmod_user);
	show_stat("f", true);
}

/* ---- chown ---- */

static void chown_user(void)
{
	T(chown("mine", NOBODY, NOBODY));
	T(chown("mine", -1, -1));
	T(chown("mine", 0, -1));
	T(chown("mine", -1, OTHER_GID));
	T(chown("mine", -1, 0));
	T(chown("f", NOBODY, -1));
	show_stat("mine", true);
}

static void c_chown(void)
{
	T(put_file("f", "x"));
	T(chown("f", 1234, 5678));
	show_stat("f", true);
	T(symlink("f", "s"));
	T(lchown("s", 42, 43));
	show_stat("s", true);
	show_stat("f", true);
	T(chown("s", 7, 8));
	show_stat("f", true);
	T(chown("missing", 1, 1));
	/* chown drops S_ISUID, and S_ISGID where the group can execute */
	T(chmod("f", 06755));
	T(chown("f", 0, 0));
	show_stat("f", true);
	T(chmod("f", 06745));
	T(chown("f", -1, -1));
	show_stat("f", true);
	T(mkdir("d", 0755));
	T(chmod("d", 06755));
	T(chown("d", 1, 1));
	show_stat("d", true);
	age("f");
	snap("f");
	T(chown("f", 3, 3));
	times_moved("f");
	T(put_file("mine", "y"));
	T(chown("mine", NOBODY, 0));
	as_nobody(chown_user);
}

/* ---- truncate ---- */

static void truncate_user(void)
{
	int fd;

	T(truncate("f", 0));
	TFD(fd, open("f", O_WRONLY));
	T(truncate("mine", 1));
	show_stat("mine", true);
}

static void c_truncate(void)
{
	int fd;
	char buf[16] = "";

	T(put_file("f", "0123456789"));
	T(truncate("f", 10000));
	show_stat("f", true);
	T(truncate("f", 3));
	show_stat("f", true);
	TFD(fd, open("f", O_RDONLY));
	T(read(fd, buf, sizeof(buf)));
	say("read %s", buf);
	T(ftruncate(fd, 0));
	T(close(fd));
	T(truncate("f", -1));
	T(mkdir("d", 0755));
	T(truncate("d", 0));
	T(truncate("missing", 0));
	T(truncate("f/", 0));
	age("f");
	snap("f");
	T(truncate("f", 5));
	times_moved("f");
	age("f");
	snap("f");
	T(truncate("f", 5));
	times_moved("f");
	TFD(fd, open("f", O_WRONLY));
	age("f");
	snap("f");
	T(ftruncate(fd, 5));
	times_moved("f");
	T(close(fd));
	T(put_file("mine", "abc"));
	T(chown("mine", NOBODY, NOBODY));
	as_nobody(truncate_user);
}

/* ---- utimensat ---- */

static void show_times(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		say("times %s = %s", path, errname(errno));
		return;
	}
	say("times %s: atime %lld.%09ld mtime %lld.%09ld", path, (long long)st.st_atim.tv_sec,
	    st.st_atim.tv_nsec, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

static void utimes_user(void)
{
	struct timespec ts[2] = {{5, 0}, {6, 0}};
	struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};

	T(utimensat(AT_FDCWD, "w", NULL, 0));
	T(utimensat(AT_FDCWD, "w", now, 0));
	T(utimensat(AT_FDCWD, "w", ts, 0));
	T(utimensat(AT_FDCWD, "r", NULL, 0));
	T(utimensat(AT_FDCWD, "r", now, 0));
	T(utimensat(AT_FDCWD, "mine", ts, 0));
	show_times("mine");
}

static void c_utimes(void)
{
	struct timespec ts[2] = {{1000000000, 5}, {1100000000, 999999999}};
	struct timespec omit[2] = {{0, UTIME_OMIT}, {1200000000, 7}};
	struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
	struct timespec neg[2] = {{-1, 0}, {-100000, 500}};

	T(put_file("f", "x"));
	T(utimensat(AT_FDCWD, "f", ts, 0));
	show_times("f");
	T(utimensat(AT_FDCWD, "f", omit, 0));
	show_times("f");
	T(utimensat(AT_FDCWD, "f", bad, 0));
	T(utimensat(AT_FDCWD, "f", neg, 0));
	show_times("f");
	T(utimensat(AT_FDCWD, "missing", ts, 0));
	T(utimensat(AT_FDCWD, "f", ts, 0x8000));
	T(symlink("f", "s"));
	T(utimensat(AT_FDCWD, "s", ts, AT_SYMLINK_NOFOLLOW));
	show_times("s");
	show_times("f");
	T(mkdir("d", 0755));
	T(utimensat(AT_FDCWD, "d", ts, 0));
	show_times("d");
	T(put_file("w", "x"));
	T(chmod("w", 0666));
	T(put_file("r", "x"));
	T(put_file("mine", "x"));
	T(chown("mine", NOBODY, NOBODY));
	as_nobody(utimes_user);
}

/* ---- permission checks ---- */

static void perm_user(void)
{
	int fd;

	TFD(fd, open("r644", O_RDONLY));
	T(close(fd));
	TFD(fd, open("r644", O_WRONLY));
	TFD(fd, open("r600", O_RDONLY));
	TFD(fd, open("new", O_WRONLY | O_CREAT, 0644));
	T(mkdir("newdir", 0755));
	T(unlink("r644"));
	T(stat("d700/x", &(struct stat){0}));
	T(stat("d711/x", &(struct stat){0}));
	TFD(fd, open("d711", O_RDONLY | O_DIRECTORY));
	T(access("r644", R_OK));
	T(access("r644", W_OK));
	T(access("r644", X_OK));
	T(access("x755", X_OK));
	TFD(fd, open("g604", O_RDONLY)); /* in the group: the group bits apply */
	T(access("g604", R_OK));
	T(faccessat(AT_FDCWD, "r600", R_OK, AT_EACCESS));
	T(put_file("pub/mine", "m"));
	show_stat("pub/mine", true);
	T(chmod("pub/mine", 0));
	TFD(fd, open("pub/mine", O_RDONLY));
}

static void c_permissions(void)
{
	int fd;

	T(put_file("r644", "r"));
	T(put_file("r600", "r"));
	T(chmod("r600", 0600));
	T(put_file("x755", "x"));
	T(chmod("x755", 0755));
	T(put_file("g604", "g"));
	T(chown("g604", 0, NOBODY));
	T(chmod("g604", 0604));
	T(mkdir("d700", 0700));
	T(put_file("d700/x", "x"));
	T(mkdir("d711", 0711));
	T(put_file("d711/x", "x"));
	T(mkdir("pub", 0777));
	T(chmod("pub", 0777));
	as_nobody(perm_user);
	/* root: no execute bit anywhere means no exec, read/write always */
	T(access("r644", X_OK));
	T(access("x755", X_OK));
	T(chmod("r600", 0));
	TFD(fd, open("r600", O_RDWR));
	T(close(fd));
	T(chmod("d700", 0));
	T(stat("d700/x", &(struct stat){0}));
	T(chmod("d700", 0700));
	show_dir("pub");
}

/* ---- sticky and setgid directories ---- */

static void sticky_user(void)
{
	T(unlink("t/rootfile"));
	T(rename("t/rootfile", "t/moved"));
	T(put_file("t/userfile", "u"));
	T(rename("t/userfile", "t/rootfile"));
	T(put_file("t/userfile2", "u"));
	T(rename("t/userfile2", "t/userfile3"));
	T(unlink("t/userfile3"));
	T(rmdir("t/rootdir"));
	T(unlink("own/rootfile"));
}

static void c_sticky(void)
{
	T(mkdir("t", 01777));
	T(chmod("t", 01777));
	show_stat("t", true);
	T(put_file("t/rootfile", "r"));
	T(chmod("t/rootfile", 0666));
	T(mkdir("t/rootdir", 0777));
	T(mkdir("own", 01777));
	T(chmod("own", 01777));
	T(chown("own", NOBODY, NOBODY));
	T(put_file("own/rootfile", "r"));
	as_nobody(sticky_user);
	T(unlink("t/userfile"));
	show_dir("t");
	show_dir("own");
}

static void setgid_user(void)
{
	int fd;

	TFD(fd, open("sg/uf", O_WRONLY | O_CREAT, 02755));
	T(close(fd));
	show_stat("sg/uf", true);
	T(mkdir("sg/ud", 0755));
	show_stat("sg/ud", true);
	T(symlink("x", "sg/ul"));
	show_stat("sg/ul", true);
	T(mkfifo("sg/up", 0644));
	show_stat("sg/up", true);
}

static void c_setgid(void)
{
	int fd;

	T(mkdir("sg", 0777));
	T(chown("sg", 0, OTHER_GID));
	T(chmod("sg", 02777));
	show_stat("sg", true);
	T(put_file("sg/f", "x"));
	show_stat("sg/f", true);
	T(mkdir("sg/sub", 0755));
	show_stat("sg/sub", true);
	TFD(fd, open("sg/sgf", O_WRONLY | O_CREAT, 02755));
	T(close(fd));
	show_stat("sg/sgf", true);
	T(mkdir("sg/sub/deeper", 0700));
	show_stat("sg/sub/deeper", true);
	as_nobody(setgid_user);
	T(mkdir("plain", 0777));
	T(chown("plain", 0, OTHER_GID));
	T(put_file("plain/f", "x"));
	show_stat("plain/f", true);
}

/* ---- S_ISUID / S_ISGID dropped on data changes ---- */

static void suid_user(void)
{
	int fd;

	TFD(fd, open("w", O_WRONLY));
	T(write(fd, "x", 1));
	T(close(fd));
	show_stat("w", true);
	TFD(fd, open("g", O_WRONLY));
	T(write(fd, "x", 1));
	T(close(fd));
	show_stat("g", true);
	T(truncate("t", 1));
	show_stat("t", true);
	TFD(fd, open("ft", O_WRONLY));
	T(ftruncate(fd, 1));
	T(close(fd));
	show_stat("ft", true);
	TFD(fd, open("fa", O_WRONLY));
	T(fallocate(fd, 0, 0, 8192));
	T(close(fd));
	show_stat("fa", true);
	TFD(fd, open("own", O_WRONLY | O_APPEND));
	T(write(fd, "x", 1));
	T(close(fd));
	show_stat("own", true);
	TFD(fd, open("noop", O_WRONLY));
	T(write(fd, "", 0));
	T(close(fd));
	show_stat("noop", true);
}

static void c_suid_drop(void)
{
	const char *names[] = {"w", "t", "ft", "fa", "noop", "rootw"};
	int fd;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		T(put_file(names[i], "data"));
		T(chmod(names[i], 06777));
	}
	T(put_file("g", "data"));
	T(chmod("g", 02767));
	T(put_file("own", "data"));
	T(chown("own", NOBODY, NOBODY));
	T(chmod("own", 04755));
	as_nobody(suid_user);
	/* root writing keeps both (CAP_FSETID) */
	TFD(fd, open("rootw", O_WRONLY));
	T(write(fd, "x", 1));
	T(close(fd));
	show_stat("rootw", true);
}

/* ---- extended attributes ---- */

static void show_list(const char *path)
{
	char buf[1024], line[1024] = "";
	ssize_t n = llistxattr(path, buf, sizeof(buf));
	char *names[64];
	size_t k = 0, len = 0;

	if (n < 0) {
		say("listxattr %s = %s", path, errname(errno));
		return;
	}
	for (char *p = buf; p < buf + n && k < 64; p += strlen(p) + 1)
		names[k++] = p;
	for (size_t i = 0; i < k; i++)
		for (size_t j = i + 1; j < k; j++)
			if (strcmp(names[j], names[i]) < 0) {
				char *t = names[i];
				names[i] = names[j];
				names[j] = t;
			}
	for (size_t i = 0; i < k; i++)
		len += snprintf(line + len, sizeof(line) - len, " %s", names[i]);
	say("listxattr %s =%s", path, line);
}

static void xattr_user(void)
{
	char buf[64];

	T(setxattr("f", "user.u", "v", 1, 0));
	T(getxattr("f", "user.a", buf, sizeof(buf)));
	T(getxattr("f", "trusted.t", buf, sizeof(buf)));
	T(setxattr("f", "trusted.u", "v", 1, 0));
	T(setxattr("f", "security.u", "v", 1, 0));
	T(setxattr("mine", "user.u", "v", 1, 0));
	T(setxattr("mine", "trusted.u", "v", 1, 0));
	T(removexattr("f", "user.a"));
	T(setxattr("t/rootfile", "user.u", "v", 1, 0));
	show_list("f");
	show_list("mine");
}

static void c_xattr(void)
{
	char buf[256] = "";
	char *n255 = long_name(255, 'x'), *n256 = long_name(256, 'x');
	int fd;

	memcpy(n255, "user.", 5);
	memcpy(n256, "user.", 5);
	T(put_file("f", "x"));
	T(setxattr("f", "user.a", "value-a", 7, 0));
	T(getxattr("f", "user.a", buf, sizeof(buf)));
	say("user.a = %s", buf);
	T(getxattr("f", "user.a", NULL, 0));
	T(getxattr("f", "user.a", buf, 3));
	T(getxattr("f", "user.missing", buf, sizeof(buf)));
	T(setxattr("f", "user.a", "x", 1, XATTR_CREATE));
	T(setxattr("f", "user.b", "x", 1, XATTR_REPLACE));
	T(setxattr("f", "user.a", "new", 3, XATTR_REPLACE));
	T(setxattr("f", "user.empty", "", 0, 0));
	T(getxattr("f", "user.empty", buf, sizeof(buf)));
	T(setxattr("f", "user.b", "x", 1, XATTR_CREATE | XATTR_REPLACE));
	T(setxattr("f", "trusted.t", "tv", 2, 0));
	T(setxattr("f", "security.s", "sv", 2, 0));
	T(getxattr("f", "security.s", buf, sizeof(buf)));
	T(setxattr("f", "bogus.x", "v", 1, 0));
	T(setxattr("f", "user.", "v", 1, 0));
	T(setxattr("f", "", "v", 1, 0));
	TN("setxattr(255-byte name)", setxattr("f", n255, "v", 1, 0));
	TN("setxattr(256-byte name)", setxattr("f", n256, "v", 1, 0));
	TN("getxattr(256-byte name)", getxattr("f", n256, buf, sizeof(buf)));
	show_list("f");
	T(listxattr("f", buf, 4));
	T(removexattr("f", "user.empty"));
	T(removexattr("f", "user.empty"));
	T(removexattr(n255, "user.a"));
	TN("removexattr(255-byte name)", removexattr("f", n255));
	show_list("f");
	/* user.* only on regular files and directories */
	T(symlink("f", "s"));
	T(lsetxattr("s", "user.a", "v", 1, 0));
	T(lgetxattr("s", "user.a", buf, sizeof(buf)));
	T(lsetxattr("s", "trusted.a", "v", 1, 0));
	T(mkfifo("p", 0666));
	T(setxattr("p", "user.a", "v", 1, 0));
	T(mkdir("d", 0755));
	T(setxattr("d", "user.d", "dv", 2, 0));
	show_list("d");
	T(setxattr("missing", "user.a", "v", 1, 0));
	TFD(fd, open("f", O_RDONLY));
	T(fsetxattr(fd, "user.fd", "1", 1, 0));
	T(fgetxattr(fd, "user.fd", buf, sizeof(buf)));
	T(close(fd));
	/* another user: user.* follows the mode, trusted.* is hidden */
	T(put_file("mine", "m"));
	T(chown("mine", NOBODY, NOBODY));
	T(chmod(".", 0777));
	T(mkdir("t", 01777));
	T(chmod("t", 01777));
	T(put_file("t/rootfile", "r"));
	T(chmod("t/rootfile", 0666));
	as_nobody(xattr_user);
	T(chmod("f", 0666));
	as_nobody(xattr_user);
	free(n255);
	free(n256);
}

/* ---- POSIX ACLs (the raw xattr format of <linux/posix_acl_xattr.h>) ---- */

#define ACL_USER_OBJ  0x01
#define ACL_USER      0x02
#define ACL_GROUP_OBJ 0x04
#define ACL_GROUP     0x08
#define ACL_MASK      0x10
#define ACL_OTHER     0x20
#define ACL_NOID      0xffffffffu

struct acl_entry {
	uint16_t tag, perm;
	uint32_t id;
};

static size_t acl_make(char *buf, const struct acl_entry *e, size_t n)
{
	uint32_t version = 2;

	memcpy(buf, &version, 4);
	memcpy(buf + 4, e, n * sizeof(*e));
	return 4 + n * sizeof(*e);
}

static void show_acl(const char *path, const char *name)
{
	char buf[512], line[512] = "";
	ssize_t n = getxattr(path, name, buf, sizeof(buf));
	size_t len = 0;

	if (n < 0) {
		say("getxattr %s %s = %s", path, name, errname(errno));
		return;
	}
	for (ssize_t off = 4; off + 8 <= n; off += 8) {
		struct acl_entry e;
		static const char *tags[] = {
		    [1] = "u", [2] = "u", [4] = "g", [8] = "g", [16] = "m", [32] = "o"};

		memcpy(&e, buf + off, 8);
		len += snprintf(line + len, sizeof(line) - len,
				" %s:", e.tag < 33 && tags[e.tag] ? tags[e.tag] : "?");
		if (e.id != ACL_NOID)
			len += snprintf(line + len, sizeof(line) - len, "%u", e.id);
		len += snprintf(line + len, sizeof(line) - len, ":%o", e.perm);
	}
	say("%s %s = %zd bytes:%s", path, name, n, line);
}

static void acl_user(void)
{
	int fd;

	TFD(fd, open("f", O_RDONLY));
	T(close(fd));
	TFD(fd, open("f", O_WRONLY));
	TFD(fd, open("d/new", O_WRONLY | O_CREAT, 0644));
	T(close(fd));
	TFD(fd, open("d/inherited", O_RDWR));
	T(close(fd));
	T(setxattr("f", "system.posix_acl_access", "", 0, 0));
}

static void c_acl(void)
{
	static const struct acl_entry fa[] = {
	    {ACL_USER_OBJ, 6, ACL_NOID}, {ACL_USER, 4, NOBODY},	   {ACL_GROUP_OBJ, 0, ACL_NOID},
	    {ACL_MASK, 4, ACL_NOID},	 {ACL_OTHER, 0, ACL_NOID},
	};
	static const struct acl_entry nomask[] = {
	    {ACL_USER_OBJ, 6, ACL_NOID},
	    {ACL_USER, 4, NOBODY},
	    {ACL_GROUP_OBJ, 0, ACL_NOID},
	    {ACL_OTHER, 0, ACL_NOID},
	};
	static const struct acl_entry da[] = {
	    {ACL_USER_OBJ, 7, ACL_NOID}, {ACL_USER, 7, NOBODY},	   {ACL_GROUP_OBJ, 5, ACL_NOID},
	    {ACL_MASK, 7, ACL_NOID},	 {ACL_OTHER, 0, ACL_NOID},
	};
	char buf[256];
	size_t n;
	int fd;

	T(put_file("f", "secret"));
	T(chmod("f", 0600));
	as_nobody(acl_user);
	n = acl_make(buf, fa, 5);
	T(setxattr("f", "system.posix_acl_access", buf, n, 0));
	show_stat("f", true);
	show_acl("f", "system.posix_acl_access");
	as_nobody(acl_user);
	T(chmod("f", 0600)); /* the mask becomes --- */
	show_acl("f", "system.posix_acl_access");
	as_nobody(acl_user);
	T(chmod("f", 0640));
	n = acl_make(buf, nomask, 4);
	T(setxattr("f", "system.posix_acl_access", buf, n, 0));
	T(setxattr("f", "system.posix_acl_access", "junk", 4, 0));
	T(setxattr("f", "system.posix_acl_default", buf, n, 0));
	T(removexattr("f", "system.posix_acl_access"));
	show_stat("f", true);
	T(getxattr("f", "system.posix_acl_access", buf, sizeof(buf)));
	as_nobody(acl_user);
	/* a default ACL: inherited by new files and directories, umask ignored */
	T(mkdir("d", 0755));
	n = acl_make(buf, da, 5);
	T(setxattr("d", "system.posix_acl_default", buf, n, 0));
	show_acl("d", "system.posix_acl_default");
	umask(077);
	TFD(fd, open("d/inherited", O_WRONLY | O_CREAT, 0666));
	T(close(fd));
	T(mkdir("d/sub", 0777));
	umask(022);
	show_stat("d/inherited", true);
	show_acl("d/inherited", "system.posix_acl_access");
	show_stat("d/sub", true);
	show_acl("d/sub", "system.posix_acl_access");
	show_acl("d/sub", "system.posix_acl_default");
	as_nobody(acl_user);
	show_stat("d/new", true);
	show_acl("d/new", "system.posix_acl_access");
	T(removexattr("d", "system.posix_acl_default"));
	T(getxattr("d", "system.posix_acl_default", buf, sizeof(buf)));
	show_list("f");
}

const struct posix_case posix_cases_attrs[] = {
    {"chmod", c_chmod, false},
    {"chown", c_chown, true},
    {"truncate", c_truncate, false},
    {"utimensat", c_utimes, false},
    {"permissions", c_permissions, false},
    {"sticky", c_sticky, false},
    {"setgid", c_setgid, true},
    {"suid_drop", c_suid_drop, false},
    {"xattr", c_xattr, false},
    {"acl", c_acl, false},
    {NULL, NULL, false},
};

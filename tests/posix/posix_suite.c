/* SPDX-License-Identifier: MIT */
/*
 * posix_suite.c - the POSIX conformance suite's driver: runs the case
 * tables (posix_cases_*.c) inside a directory and prints normalized lines
 * (posix_suite.h says what is normalized and why), and two helpers of the
 * handle check across an unmount (--handle-save, --handle-open).
 *
 *   posix_suite DIR [FILTER]   every case whose name contains FILTER, each in
 *                              its own subdirectory DIR/<case> (made fresh)
 *   posix_suite --handle-save FILE OUT    name_to_handle_at(FILE) -> OUT
 *   posix_suite --handle-open MOUNTDIR IN open_by_handle_at, print contents
 *
 * Run as root, permission checks fork a child that drops to uid/gid 65534
 * with no supplementary groups; run as 65534, the root-only cases print
 * "SKIP not root" and everything else runs as that user.
 *
 * Locks: none (a test program).
 */
#include "posix_suite.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

bool suite_root;
static const char *cur_case = "-";

void say(const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", cur_case);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

const char *errname(int e)
{
	const char *n = strerrorname_np(e);
	static char buf[32];

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "errno%d", e);
	return buf;
}

void result(const char *call, long r, int e)
{
	if (r < 0)
		say("%s = %s", call, errname(e));
	else if (r == 0)
		say("%s = ok", call);
	else
		say("%s = %ld", call, r);
}

void result_fd(const char *call, long r, int e)
{
	if (r < 0)
		say("%s = %s", call, errname(e));
	else
		say("%s = fd", call);
}

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG:
		return "reg";
	case S_IFDIR:
		return "dir";
	case S_IFLNK:
		return "lnk";
	case S_IFIFO:
		return "fifo";
	case S_IFSOCK:
		return "sock";
	case S_IFCHR:
		return "chr";
	case S_IFBLK:
		return "blk";
	}
	return "?";
}

static void print_stat(const char *what, const struct stat *st)
{
	char extra[64] = "";

	/* Directory sizes differ between file systems (tmpfs counts entries,
	 * ext4 blocks): left out. Device numbers only of device nodes. */
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		snprintf(extra, sizeof(extra), " rdev=%u:%u", major(st->st_rdev),
			 minor(st->st_rdev));
	else if (!S_ISDIR(st->st_mode))
		snprintf(extra, sizeof(extra), " size=%lld", (long long)st->st_size);
	say("stat %s = %s mode=%04o nlink=%lu uid=%u gid=%u%s", what, type_name(st->st_mode),
	    st->st_mode & 07777, (unsigned long)st->st_nlink, st->st_uid, st->st_gid, extra);
}

void show_statat(int dfd, const char *path, const char *what)
{
	struct stat st;

	if (fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		say("stat %s = %s", what, errname(errno));
	else
		print_stat(what, &st);
}

void show_stat(const char *path, bool nofollow)
{
	struct stat st;
	int r = nofollow ? lstat(path, &st) : stat(path, &st);

	if (r < 0)
		say("%sstat %s = %s", nofollow ? "l" : "", path, errname(errno));
	else
		print_stat(path, &st);
}

void show_fstat(const char *what, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		say("fstat %s = %s", what, errname(errno));
	else
		print_stat(what, &st);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void show_dir(const char *path)
{
	DIR *d = opendir(path);
	char *names[256];
	size_t n = 0;
	struct dirent *de;
	char line[4096];
	size_t len = 0;

	if (!d) {
		say("opendir %s = %s", path, errname(errno));
		return;
	}
	while ((de = readdir(d)) && n < 256) {
		/* d_type may be DT_UNKNOWN on some file systems: the type is
		 * printed only where both would know it (lstat). */
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	line[0] = 0;
	for (size_t i = 0; i < n; i++) {
		len += snprintf(line + len, len < sizeof(line) ? sizeof(line) - len : 0, " %.40s",
				names[i]);
		free(names[i]);
	}
	say("readdir %s =%s", path, line);
}

void as_nobody(void (*fn)(void))
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		say("fork = %s", errname(errno));
		return;
	}
	if (pid == 0) {
		if (geteuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
		     setresuid(NOBODY, NOBODY, NOBODY) < 0)) {
			say("drop privileges = %s", errname(errno));
			fflush(stdout);
			_exit(1);
		}
		fn();
		fflush(stdout);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		say("child exit status %#x", status);
}

char *long_name(size_t len, char c)
{
	char *s = malloc(len + 1);

	memset(s, c, len);
	s[len] = 0;
	return s;
}

int put_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* ---- the handle check across an unmount ---- */

static int handle_save(const char *file, const char *out)
{
	struct file_handle *fh = malloc(sizeof(*fh) + MAX_HANDLE_SZ);
	int mount_id;
	FILE *f;

	fh->handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, file, fh, &mount_id, 0) < 0) {
		printf("name_to_handle_at = %s\n", errname(errno));
		free(fh);
		return 1;
	}
	f = fopen(out, "w");
	if (!f || fwrite(fh, sizeof(*fh) + fh->handle_bytes, 1, f) != 1 || fclose(f)) {
		printf("writing %s failed\n", out);
		free(fh);
		return 1;
	}
	printf("name_to_handle_at = ok (%u bytes)\n", fh->handle_bytes);
	free(fh);
	return 0;
}

static int handle_open(const char *mountdir, const char *in)
{
	struct file_handle *fh = malloc(sizeof(*fh) + MAX_HANDLE_SZ);
	int mfd, fd;
	char buf[256];
	ssize_t n;
	FILE *f = fopen(in, "r");

	if (!f || fread(fh, 1, sizeof(*fh) + MAX_HANDLE_SZ, f) < sizeof(*fh)) {
		printf("reading %s failed\n", in);
		if (f)
			fclose(f);
		free(fh);
		return 1;
	}
	fclose(f);
	mfd = open(mountdir, O_RDONLY | O_DIRECTORY);
	fd = open_by_handle_at(mfd, fh, O_RDONLY);
	free(fh);
	if (fd < 0) {
		printf("open_by_handle_at = %s\n", errname(errno));
		close(mfd);
		return 1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("open_by_handle_at = fd, read = %zd: %s\n", n, buf);
	close(fd);
	close(mfd);
	return 0;
}

static bool run_table(const struct posix_case *t, int top, const char *filter)
{
	for (; t->name; t++) {
		if (filter && !strstr(t->name, filter))
			continue;
		cur_case = t->name;
		if (t->root_only && !suite_root) {
			say("SKIP not root");
			continue;
		}
		if (mkdir(t->name, 0755) < 0 || chdir(t->name) < 0) {
			say("case directory = %s", errname(errno));
			continue;
		}
		t->fn();
		fflush(stdout);
		if (fchdir(top) < 0) {
			say("fchdir top = %s", errname(errno));
			return false;
		}
	}
	return true;
}

int main(int argc, char **argv)
{
	int top;

	if (argc == 4 && !strcmp(argv[1], "--handle-save"))
		return handle_save(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "--handle-open"))
		return handle_open(argv[2], argv[3]);
	if (argc < 2 || argc > 3) {
		fprintf(stderr,
			"usage: %s DIR [FILTER]\n"
			"       %s --handle-save FILE OUT\n"
			"       %s --handle-open MOUNTDIR IN\n",
			argv[0], argv[0], argv[0]);
		return 2;
	}
	/* line by line: a crash loses nothing, a fork duplicates nothing */
	setvbuf(stdout, NULL, _IOLBF, 0);
	suite_root = geteuid() == 0;
	umask(022);
	if (chdir(argv[1]) < 0 || (top = open(".", O_RDONLY | O_DIRECTORY)) < 0) {
		perror(argv[1]);
		return 2;
	}
	if (!run_table(posix_cases_names, top, argv[2]) ||
	    !run_table(posix_cases_attrs, top, argv[2]) ||
	    !run_table(posix_cases_open, top, argv[2]))
		return 1;
	return 0;
}

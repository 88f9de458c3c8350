/* SPDX-License-Identifier: MIT */
/*
 * posix_suite.h - the POSIX conformance suite's framework (posix_suite.c)
 * and its case tables (posix_cases_*.c). The suite runs a fixed table of
 * cases inside a directory and prints one normalized line per assertion,
 * "case: call = result", so that two runs (the host kernel on tmpfs and a
 * pagecache mount) compare by a line diff (tests/fuse/test_posix_suite.sh).
 *
 * Normalization: results are "ok", a count, "fd" (never a descriptor's
 * number) or the errno's name; stat lines show the type, mode, nlink,
 * uid/gid and, for non-directories, the size (never inode numbers, block
 * counts, device numbers of the file system or directory sizes, which are
 * file-system specific); times only as relations ("mtime changed") or as
 * values the case set itself.
 *
 * Locks: none (a test program; single-threaded, permission checks in
 * forked children).
 */
#ifndef PC_TESTS_POSIX_SUITE_H
#define PC_TESTS_POSIX_SUITE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#define NOBODY	  65534 /* the unprivileged user (and group) of the checks */
#define OTHER_GID 4242	/* a group NOBODY is not a member of */

struct posix_case {
	const char *name;
	void (*fn)(void);
	bool root_only; /* prints "SKIP not root" when the suite runs unprivileged */
};

/* The case tables, each ended by a {NULL} entry. */
extern const struct posix_case posix_cases_names[];
extern const struct posix_case posix_cases_attrs[];
extern const struct posix_case posix_cases_open[];

/* Is the suite running as root (then permission checks fork a child that
 * drops to NOBODY)? */
extern bool suite_root;

/* One output line "case: " + the formatted text. */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A call's result: @r < 0 prints the errno's name (@e), 0 "ok", more the
 * value. */
void result(const char *call, long r, int e);
/* Like result(), for calls returning a descriptor: "fd" when @r >= 0. */
void result_fd(const char *call, long r, int e);
/* A stat line for @path (lstat when @nofollow), or the errno's name. */
void show_stat(const char *path, bool nofollow);
void show_fstat(const char *what, int fd);
void show_statat(int dfd, const char *path, const char *what);
/* The names in directory @path, sorted, with their d_type. */
void show_dir(const char *path);
/* The errno's name ("ENOENT"). */
const char *errname(int e);
/* Runs @fn in a forked child with uid/gid NOBODY and no supplementary
 * groups (or as is, when the suite already runs as NOBODY) and waits. */
void as_nobody(void (*fn)(void));
/* Makes @path with @len bytes of 'a'..: a name of exactly @len bytes. */
char *long_name(size_t len, char c);
/* Writes @s to @path (created 0644, truncated); -1 with errno on failure. */
int put_file(const char *path, const char *s);

/* T(expr): evaluate a call returning 0/-1 (or a count) and print it under
 * its own source text; TFD for calls returning a descriptor, kept in @var. */
#define T(expr)                           \
	do {                              \
		errno = 0;                \
		long r_ = (long)(expr);   \
		result(#expr, r_, errno); \
	} while (0)
#define TFD(var, expr)                          \
	do {                                    \
		errno = 0;                      \
		(var) = (expr);                 \
		result_fd(#expr, (var), errno); \
	} while (0)
/* TN(label, expr): like T under a short label (for calls with long arguments). */
#define TN(label, expr)                   \
	do {                              \
		errno = 0;                \
		long r_ = (long)(expr);   \
		result(label, r_, errno); \
	} while (0)

#endif

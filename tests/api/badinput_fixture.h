/* SPDX-License-Identifier: MIT */
/*
 * badinput_fixture.h - shared helpers of the bad-input tests (test_badinput,
 * test_badinput_names): an engine on one temporary directory and its host
 * twin in another, both holding the same layout (f: 8192 bytes, d/x, e/
 * empty, g: 0 bytes); SAME() makes one call on each and compares the
 * results, counting mismatches (printed as "# MISMATCH ..."; teardown()
 * fails the test if there was any), SOFT() only reports a difference, ONLY()
 * checks a call with no kernel twin against the documented value. No locks:
 * call from the main test thread.
 */
#ifndef PC_TESTS_API_BADINPUT_FIXTURE_H
#define PC_TESTS_API_BADINPUT_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"
#include "pagecache.h"

#ifndef RWF_NOAPPEND
#define RWF_NOAPPEND 0x20
#endif

extern struct pc_engine *eng;
extern char *sdir;	   /* the engine's store (the host twin: hp()) */
extern unsigned char *buf; /* 4096-aligned, 64 KiB */

/* A result as text: the number, or -ENAME. */
const char *en(long r);
void same(int line, bool soft, const char *what, long doc, long e, long h);
void only(int line, const char *what, long want, long e);

/* SAME(what, documented errno or 0, engine call, host call setting errno) */
#define SAME(what, doc, ecall, hcall) \
	same(__LINE__, false, what, doc, (long)(ecall), API_HOST(hcall))
#define SOFT(what, ecall, hcall) same(__LINE__, true, what, 0, (long)(ecall), API_HOST(hcall))
/* the host call returns an error number (posix_fadvise) */
#define SAME_RAW(what, doc, ecall, hval) same(__LINE__, false, what, doc, (long)(ecall), (hval))
#define ONLY(what, want, ecall)		 only(__LINE__, what, want, (long)(ecall))

/* @path in the host twin. */
const char *hp(const char *path);

struct pair {
	int e, h;
};

struct pair open_pair(const char *path, int flags);
void close_pair(struct pair p);
long h_getdents(int fd, void *b, size_t n);
/* A fresh engine and host twin with the layout; teardown() removes them and
 * fails the test if any check mismatched. */
void setup(void);
void teardown(void);

#endif

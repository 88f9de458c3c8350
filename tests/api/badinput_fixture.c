/* SPDX-License-Identifier: MIT */
/* badinput_fixture.c - see badinput_fixture.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "badinput_fixture.h"
#include "harness.h"
#include "model.h"
#include "pagecache.h"

struct pc_engine *eng;
char *sdir;
static char *hdir; /* the host twin */
static int nchecks, nmismatch, nsoft;
unsigned char *buf; /* 4096-aligned, 64 KiB */

const char *en(long r)
{
	static char b[4][48];
	static int k;
	char *s = b[k++ & 3];
	if (r >= 0)
		snprintf(s, sizeof(b[0]), "%ld", r);
	else
		snprintf(s, sizeof(b[0]), "-%s", strerrorname_np((int)-r) ?: "?");
	return s;
}

void same(int line, bool soft, const char *what, long doc, long e, long h)
{
	nchecks++;
	if (e != h) {
		if (soft) {
			nsoft++;
			printf("# soft difference (line %d): %s: engine %s, kernel %s\n", line,
			       what, en(e), en(h));
		} else {
			nmismatch++;
			printf("# MISMATCH (line %d): %s: engine %s, kernel %s%s%s\n", line, what,
			       en(e), en(h), doc ? ", documented " : "", doc ? en(doc) : "");
		}
	} else if (doc && h != doc) {
		printf("# note (line %d): %s: the kernel gives %s, not the documented %s; the "
		       "engine matches the kernel\n",
		       line, what, en(h), en(doc));
	}
}

void only(int line, const char *what, long want, long e)
{
	nchecks++;
	if (e != want) {
		nmismatch++;
		printf("# MISMATCH (line %d): %s: engine %s, documented %s (no kernel twin)\n",
		       line, what, en(e), en(want));
	}
}

const char *hp(const char *path)
{
	static char b[4][PATH_MAX + 64];
	static int k;
	char *s = b[k++ & 3];
	if (!*path)
		return ""; /* the empty path stays empty: -ENOENT on the host */
	snprintf(s, sizeof(b[0]), "%s/%s", hdir, path);
	return s;
}

struct pair open_pair(const char *path, int flags)
{
	struct pair p = {pc_open(eng, path, flags, 0644), open(hp(path), flags, 0644)};
	CHECKF(p.e >= 0 && p.h >= 0, "open %s 0x%x: engine %s, host %s", path, flags, en(p.e),
	       en(p.h < 0 ? -errno : p.h));
	return p;
}

void close_pair(struct pair p)
{
	CHECK_EQ(pc_close(eng, p.e), 0);
	CHECK_EQ(close(p.h), 0);
}

long h_getdents(int fd, void *b, size_t n)
{
	return syscall(SYS_getdents64, fd, b, n);
}

/* The same layout on both sides: f (8192 bytes), d/x, e/ (empty), g (0 bytes). */
static void make_layout(void)
{
	struct pair p = open_pair("f", O_RDWR | O_CREAT | O_TRUNC);
	api_pattern_fill(buf, 8192, 1, 0);
	CHECK_EQ(pc_pwrite(eng, p.e, buf, 8192, 0), 8192);
	CHECK_EQ(pwrite(p.h, buf, 8192, 0), 8192);
	close_pair(p);
	CHECK_EQ(pc_mkdir(eng, "d", 0755), 0);
	CHECK_EQ(mkdir(hp("d"), 0755), 0);
	CHECK_EQ(pc_mkdir(eng, "e", 0755), 0);
	CHECK_EQ(mkdir(hp("e"), 0755), 0);
	close_pair(open_pair("d/x", O_RDWR | O_CREAT));
	close_pair(open_pair("g", O_RDWR | O_CREAT));
}

void setup(void)
{
	nchecks = nmismatch = nsoft = 0;
	buf = aligned_alloc(4096, 65536);
	CHECK(buf);
	sdir = api_fresh_dir("store");
	hdir = api_fresh_dir("host");
	eng = api_engine_open(sdir, NULL);
	make_layout();
}

void teardown(void)
{
	api_engine_close(eng);
	eng = NULL;
	api_rm_rf(sdir);
	api_rm_rf(hdir);
	free(sdir);
	free(hdir);
	free(buf);
	printf("# %d checks, %d mismatches, %d soft differences\n", nchecks, nmismatch, nsoft);
	CHECKF(nmismatch == 0, "%d calls did not return what the kernel returns", nmismatch);
}

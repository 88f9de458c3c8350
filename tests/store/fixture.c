/* SPDX-License-Identifier: MIT */
/* fixture.c - see fixture.h. */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "fixture.h"
#include "store/vol/vol.h"

char tmp_root[1024];

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void cleanup(void)
{
	if (tmp_root[0])
		rm_rf(tmp_root);
}

/* A fresh empty directory under the test's private temp root. */
const char *fresh_dir(const char *base)
{
	static char path[2048];
	static unsigned n;

	if (!tmp_root[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(tmp_root, sizeof(tmp_root), "%s/pc-store-XXXXXX", t && *t ? t : "/tmp");
		CHECK(mkdtemp(tmp_root) != NULL);
		atexit(cleanup);
	}
	/* the pid too: a forked child's counter starts where the parent's is */
	snprintf(path, sizeof(path), "%s/%s%u.%d", base ? base : tmp_root, base ? "pc-store-" : "d",
		 n++, (int)getpid());
	if (base)
		CHECK(mkdtemp(strcat(path, "-XXXXXX")) != NULL);
	else
		CHECK(mkdir(path, 0700) == 0);
	return path;
}

struct store *open_fresh(void)
{
	struct store *s;
	int ret = store_open_dir(fresh_dir(NULL), &s);
	CHECKF(ret == 0, "store_open_dir: %s", strerror(-ret));
	return s;
}

struct store_inode *create(struct store *s, const char *path)
{
	struct store_inode *si;
	int ret = store_create(s, path, 0644, &si);
	CHECKF(ret == 0, "create %s: %s", path, strerror(-ret));
	return si;
}

void fill(char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)('a' + (i * 7 + seed) % 26);
}

bool is_zero(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			return false;
	return true;
}

void skip(const char *what, int err)
{
	test_skip_part("%s: %s", what, strerror(-err));
}

char vol_img[2200];

void vol_new_image(int64_t size, unsigned inodes)
{
	snprintf(vol_img, sizeof(vol_img), "%s/img", fresh_dir(NULL));
	struct vol_mkfs_opts o = {.size = size, .inodes = inodes};
	int r = vol_create(vol_img, &o);
	CHECKF(r == 0, "vol_create: %s", strerror(-r));
}

struct store *vol_mount_img(void)
{
	struct store *s;
	int r = store_open_vol(vol_img, &s);
	CHECKF(r == 0, "store_open_vol %s: %s", vol_img, strerror(-r));
	return s;
}

void vol_fsck_clean(void)
{
	int r = vol_fsck(vol_img, false, stderr);
	CHECKF(r == VOL_FSCK_CLEAN, "fsck of %s: %d", vol_img, r);
}

int blks_add(void *arg, uint64_t start, uint64_t len)
{
	struct blks *b = arg;
	for (uint64_t i = 0; i < len; i++) {
		if (b->n == b->cap) {
			b->cap = b->cap ? 2 * b->cap : 256;
			b->v = realloc(b->v, b->cap * sizeof(*b->v));
			CHECK(b->v);
		}
		b->v[b->n++] = start + i;
	}
	return 0;
}

static int u64cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

void blks_sort(struct blks *b)
{
	if (b->n)
		qsort(b->v, b->n, sizeof(*b->v), u64cmp);
}

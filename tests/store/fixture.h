/* SPDX-License-Identifier: MIT */
/*
 * fixture.h - shared helpers of the store tests: a fresh empty directory per
 * call under one private temporary root ($TMPDIR or /tmp, removed at exit),
 * a store opened on one, and small buffer helpers. Takes no locks.
 */
#ifndef PC_TESTS_STORE_FIXTURE_H
#define PC_TESTS_STORE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

extern char tmp_root[1024];

/* rm -rf @path (no symlinks followed). */
void rm_rf(const char *path);
/* A fresh empty directory: under the private temp root (@base NULL), or a
 * new mkdtemp() directory under @base (the caller removes it). Overwritten by
 * the next call. */
const char *fresh_dir(const char *base);
/* store_open_dir() on a fresh directory; fails the test otherwise. */
struct store *open_fresh(void);
/* store_create(path, 0644); fails the test otherwise. */
struct store_inode *create(struct store *s, const char *path);
void fill(char *buf, size_t len, unsigned seed);
bool is_zero(const char *buf, size_t len);
/* A sub-check the host cannot run: "# skip what: strerror(-err)", and the
 * case goes on (test_skip_part). */
void skip(const char *what, int err);

/* A growing list of block numbers, for the tests that compare which
 * blocks a structure occupies before and after a commit. */
struct blks {
	uint64_t *v;
	size_t n, cap;
};
/* Appends [start, start + len) block by block (a for_each callback: 0). */
int blks_add(void *arg, uint64_t start, uint64_t len);
/* Sorts them ascending. */
void blks_sort(struct blks *b);

/* vol tests: vol_img names the image the helpers below work on. */
extern char vol_img[2200];
/* A new empty volume of @size bytes (@inodes slots, 0: the default) in a
 * fresh directory, as vol_img; fails the test otherwise. */
void vol_new_image(int64_t size, unsigned inodes);
/* store_open_vol(vol_img); fails the test otherwise. */
struct store *vol_mount_img(void);
/* vol_fsck(vol_img) must find it clean (problems go to stderr). */
void vol_fsck_clean(void);

#endif

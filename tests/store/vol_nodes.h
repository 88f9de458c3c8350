/* SPDX-License-Identifier: MIT */
/*
 * vol_nodes.h - helpers of the vol node tests (test_vol_nodes.c,
 * test_vol_xattr.c): references by name, a readdir collector, the
 * superblock's INODE_EXT bit. Each fails the test on an unexpected error.
 * Takes no locks.
 */
#ifndef PC_TESTS_STORE_VOL_NODES_H
#define PC_TESTS_STORE_VOL_NODES_H

#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "harness.h"
#include "fixture.h"
#include "store/vol/vol.h"
#include "store/vol/vstore.h"

static const struct store_owner me = {0, 0};

static inline struct store_node *root_of(struct store *s)
{
	struct store_node *r;
	CHECK_EQ(store_root(s, &r), 0);
	return r;
}

static inline struct store_node *mk(struct store_node *dir, const char *name, mode_t mode,
				    dev_t rdev)
{
	struct store_node *n;
	CHECK_EQ(store_create_at(dir, name, mode, rdev, &me, &n), 0);
	return n;
}

static inline struct store_node *look(struct store_node *dir, const char *name)
{
	struct store_node *n;
	CHECK_EQ(store_lookup(dir, name, &n), 0);
	return n;
}

static inline uint64_t ffree(struct store *s)
{
	struct statvfs sv;
	CHECK_EQ(store_statfs(s, &sv), 0);
	return sv.f_ffree;
}

static inline bool feature_ext(void)
{
	struct vol_super sb;
	const char *why;
	CHECK_EQ(vol_read_super(vol_img, &sb, &why), 0);
	return sb.feat_incompat & VOL_FEAT_INCOMPAT_INODE_EXT;
}

struct seen {
	char names[8][32];
	unsigned types[8];
	int n;
};

static inline int collect(void *ctx, const char *name, uint64_t ino, unsigned type, int64_t next)
{
	struct seen *s = ctx;
	(void)ino;
	(void)next;
	if (s->n < 8) {
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
		s->types[s->n++] = type;
	}
	return 0;
}

static inline unsigned type_of(const struct seen *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->names[i], name))
			return s->types[i];
	return 0;
}

#endif

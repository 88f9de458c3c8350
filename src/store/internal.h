/* SPDX-License-Identifier: MIT */
/*
 * internal.h - what the store's entry-point files (store.c, namei.c,
 * path.c) share; backends do not include it.
 *
 * Locking: none (see store.h).
 */
#ifndef PC_STORE_INTERNAL_H
#define PC_STORE_INTERNAL_H

#include "store/store.h"

/* Every entry point starts here: the validator's check that no lock
 * forbids blocking I/O, the per-op call count, then fault injection.
 * 0, or the injected -errno. */
int store_enter(struct store *s, enum store_op op, struct store_inode *si, int64_t pos,
		int64_t len);

/* Checks one component name given to a namespace call: 0, -EFAULT (NULL),
 * -ENOENT (""), -EINVAL ('/' in it), -ENAMETOOLONG (over NAME_MAX). */
int store_check_name(const char *name);

static inline bool store_name_is_dot(const char *name)
{
	return name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]));
}

#endif

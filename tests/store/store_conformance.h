/* SPDX-License-Identifier: MIT */
/*
 * store_conformance.h - the store_ops conformance checks that every backend
 * must pass (test_dir_store.c and test_vol_store.c call them on a fresh
 * store of their kind, then add what only their backend has), and the small
 * helpers both use. Takes no locks; each check runs on one thread.
 */
#ifndef PC_TESTS_STORE_CONFORMANCE_H
#define PC_TESTS_STORE_CONFORMANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* Create or truncate @path and write @str to it; fails the test otherwise. */
void write_str(struct store *s, const char *path, const char *str);
/* Whether @path holds exactly @str. */
bool has_str(struct store *s, const char *path, const char *str);

/* Up to 16 readdir entries; a walk stops after @stop_after of them (0: none). */
struct names {
	char name[16][32];
	int64_t next[16];
	int n;
	int stop_after;
};

/* store_readdir() callback filling a struct names. */
int collect(void *ctx, const char *name, uint64_t ino, unsigned type, int64_t next);
bool listed(struct names *nm, const char *name);

/*
 * Open, create, O_EXCL, O_TRUNC and error cases on an empty store. Returns
 * the handle of "f" (holding "" after the truncate) for conf_unlinked_handle().
 */
struct store_inode *conf_open_create(struct store *s);
/* "f" unlinked under @si stays readable through @si; @si is kept open. */
void conf_unlinked_handle(struct store *s, struct store_inode *si);
/* mkdir, rmdir, unlink, getattr and statfs on an empty store; with @nlink
 * the backend counts directory links (2 + subdirectories). */
void conf_mkdir_rmdir_unlink(struct store *s, bool nlink);
/* RENAME_NOREPLACE, RENAME_EXCHANGE (may be unsupported unless
 * @need_exchange), plain renames and their errors on an empty store. */
void conf_rename_flags(struct store *s, bool need_exchange);
/* Fills an empty store with one, two, sub/ and sub/three and lists the root
 * into @nm, then its first entry into @first (stop_after 1). */
void conf_readdir_fill(struct store *s, struct names *nm, struct names *first);
/* Lists sub/ of conf_readdir_fill()'s tree; @notdir is a file's path. */
void conf_readdir_sub(struct store *s, const char *notdir);
/* Writes @n bytes of @a at 12345 in the empty @si and reads them back, a
 * hole before and EOF after, into @b. */
void conf_read_write(struct store_inode *si, char *a, char *b, size_t n);
/*
 * Maps [@pos, @pos + @len) and returns the first extent's type and, in
 * @elen, its length; checks its offset and length, and its address: @pos
 * where the backend maps @identity, else a non-hole's address is a
 * positive one with @pos's offset in its 4 KiB block.
 */
enum store_map_type conf_map1(struct store_inode *si, int64_t pos, int64_t len, int64_t *elen,
			      bool identity);
/* O_DIRECT misalignment errors (dio alignment @al), then a write of @n
 * bytes of @a read back into @b by O_DIRECT and buffered reads. */
void conf_dio_read_write(struct store_inode *si, char *a, char *b, size_t n, unsigned al);

#endif

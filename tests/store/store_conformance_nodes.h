/* SPDX-License-Identifier: MIT */
/*
 * store_conformance_nodes.h - the node-level conformance checks (the
 * namespace on struct store_node: store.h "namespace on nodes") that every
 * backend must pass: test_dir_store.c and test_vol_store.c call each on a
 * fresh, empty store of their kind. Where the host or the caller cannot do
 * something (a dir store's host without user xattrs or O_TMPFILE, mknod or
 * handle decoding without the capability) the sub-check is skipped with a
 * "# skip" line, never passed. Takes no locks; each check runs on one thread.
 */
#ifndef PC_TESTS_STORE_CONFORMANCE_NODES_H
#define PC_TESTS_STORE_CONFORMANCE_NODES_H

#include "store/store.h"

/* lookup (".", ".." of a subdirectory and of the root), create, link,
 * rename and unlink by node, name checks, symlink and readlink, a node
 * following its object across renames. */
void conf_nodes_namei(struct store *s);
/* fifo, socket, char and block devices: type, mode, rdev, d_type. */
void conf_nodes_special(struct store *s);
/* user, trusted and security xattrs on a file, a directory and (trusted)
 * a symlink: XATTR_CREATE/REPLACE, ERANGE, ENODATA, sizes, list, remove. */
void conf_nodes_xattr(struct store *s);
/* O_TMPFILE: nlink 0, unlisted, data, then linked; a plain unlinked file
 * cannot be linked again (-ENOENT). */
void conf_nodes_tmpfile(struct store *s);
/* Export handles: round trip, across a remount (@remount closes @s and
 * opens the same store again, returning it), -ESTALE once the object is
 * gone, a foreign handle refused. Returns the store in use afterwards. */
struct store *conf_nodes_handles(struct store *s, struct store *(*remount)(struct store *s));
/* An unlinked file's node: getattr nlink 0, setattr, xattrs and data still
 * work; a removed directory's: nlink 0, lists empty, refuses creates. */
void conf_nodes_unlinked(struct store *s);
/* Readdir cookies stay valid across creates and unlinks: a listing resumed
 * at a cookie neither repeats nor skips an entry that was there throughout. */
void conf_nodes_readdir_cookies(struct store *s);
/* a listing resumed after its directory was removed: empty */
void conf_nodes_readdir_removed(struct store *s);
/* A chain of directories deeper than PATH_MAX from the root, made, used
 * and removed node by node; the walk refuses a path over PATH_MAX. */
void conf_nodes_deep(struct store *s);
/* New objects get exactly the owner and permission bits asked for,
 * whatever the process's umask or a setgid parent (the caller's rules). */
void conf_nodes_owner_mode(struct store *s);

#endif

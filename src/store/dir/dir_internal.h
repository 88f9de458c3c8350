/* SPDX-License-Identifier: MIT */
/*
 * dir_internal.h - what the files of the dir store share: the store
 * (struct dir_store: the root, the one-engine lock), the node (struct
 * dir_node: an O_PATH fd of the host object, one per lookup, as libfuse's
 * passthrough_ll keeps one per inode) and the helpers that reach a node's
 * host object through /proc/self/fd/N.
 *
 * Files: dir.c (opening, closing, data), dir_namei.c (the namespace on
 * nodes), dir_xattr.c (extended attributes), dir_export.c (export handles),
 * dir_gen.c (a file's generation, for cluster mode).
 *
 * Locking: none. A node is immutable after lookup but for its reference
 * count (atomic); its fd is closed with the last reference.
 */
#ifndef PC_STORE_DIR_INTERNAL_H
#define PC_STORE_DIR_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kernel/testswitch.h"
#include "store/store.h"

/* <root>/.pagecache.lock: the one-engine lock, reserved (-EPERM) and
 * hidden from readdir. */
#define DIR_LOCK_NAME ".pagecache.lock"

/* A store handle of the dir store: the object's host file handle and its
 * directory's, their host types in the low 16 bits of the store handle's
 * type (the layout: dir_export.c). */
#define DIR_HANDLE_TAG	     0x64690000u /* "di" */
#define DIR_HANDLE_TYPE_MASK 0xffffu

struct dir_node {
	struct store_node node;
	int fd; /* O_PATH | O_NOFOLLOW of the host object */
	/* A non-directory's directory at lookup (a reference; NULL for
	 * directories and where unknown): the parent half of its export
	 * handle, which lets a cold decode find the object (dir_export.c).
	 * A hint only: the object may have moved since. */
	struct store_node *parent;
};

struct dir_store {
	struct store store;
	int root_fd;	       /* O_RDONLY | O_DIRECTORY: fsync, statfs, handles */
	int lock_fd;	       /* the locked DIR_LOCK_NAME */
	uint64_t lock_ino;     /* its inode number (never decoded from a handle) */
	struct dir_node *root; /* the root node; the store holds one reference */
	char root_path[4096];  /* the root's host path (handle decode checks) */
	bool cluster;	       /* store_open_dir_cluster: shared, host cache bypassed */
	/* Cluster mode: the generation's source (dir_gen.c), NULL: none. */
	bool (*gen_get)(int fd, uint64_t *gen);
};

static inline struct dir_store *DS(struct store *s)
{
	return (struct dir_store *)s;
}

static inline struct dir_node *DN(struct store_node *n)
{
	return (struct dir_node *)n;
}

static inline bool dir_same(const struct store_node *a, const struct store_node *b)
{
	return a->ino == b->ino && a->dev == b->dev;
}

/* Whether @n is the store's root directory (by dev and ino). */
static inline bool dir_is_root(const struct store_node *n)
{
	return dir_same(n, &DS(n->store)->root->node);
}

/* Whether @name in directory @dir is the reserved lock file. */
static inline bool dir_reserved(const struct store_node *dir, const char *name)
{
	return strcmp(name, DIR_LOCK_NAME) == 0 && dir_is_root(dir);
}

/* "/proc/self/fd/N": reaches the host object of an O_PATH fd (magic link:
 * a path call through it acts on the object itself, a symlink included). */
#define DIR_PROC_LEN 32
static inline const char *dir_proc(char buf[DIR_PROC_LEN], int fd)
{
	snprintf(buf, DIR_PROC_LEN, "/proc/self/fd/%d", fd);
	return buf;
}

/* 0, or -errno where the system call's result @r says it failed. */
#define SYSRET(r) ((r) < 0 ? -errno : 0)

/* A node for host fd @fd (O_PATH, taken over: closed on failure); a
 * non-directory takes a reference to @parent (may be NULL). */
int dir_node_new(struct store *s, int fd, struct store_node *parent, struct store_node **out);

/* ".." at the root is the root itself (lookup), and a decoded handle must
 * name an object beneath the root: each switch turns one check off, so
 * that a test sees the escape it prevents. */
DECLARE_TEST_SWITCH(dir_test_dotdot_escape);
DECLARE_TEST_SWITCH(dir_test_handle_any);
/* Not a protection: decode treats every non-directory as decoded cold (no
 * host path), so that tests reach the reconnect through its directory. */
DECLARE_TEST_SWITCH(dir_test_handle_cold);

extern const struct store_ops dir_store_ops;

/* dir_namei.c */
int dir_root(struct store *s, struct store_node **out);
int dir_lookup(struct store_node *dir, const char *name, struct store_node **out);
void dir_node_put(struct store_node *n);
int dir_create(struct store_node *dir, const char *name, mode_t mode, dev_t rdev,
	       const struct store_owner *owner, struct store_node **out);
int dir_symlink(struct store_node *dir, const char *name, const char *target,
		const struct store_owner *owner, struct store_node **out);
int dir_tmpfile(struct store_node *dir, mode_t mode, const struct store_owner *owner,
		struct store_node **out);
int dir_link(struct store_node *n, struct store_node *dir, const char *name);
int dir_unlink(struct store_node *dir, const char *name, bool rmdir);
int dir_rename(struct store_node *odir, const char *oname, struct store_node *ndir,
	       const char *nname, unsigned flags);
int dir_getattr(struct store_node *n, struct stat *st);
int dir_setattr(struct store_node *n, const struct store_setattr *attr);
ssize_t dir_readlink(struct store_node *n, char *buf, size_t size);
int dir_readdir(struct store_node *dir, int64_t start, store_filldir_t fill, void *ctx);
int dir_sync_dir(struct store_node *dir);

/* dir.c */
int dir_open(struct store_node *n, int flags, struct store_inode **out);
/* dir_gen.c: picks the generation's source (cluster mode); the
 * generation of the open host file @fd (0 where none). */
void dir_gen_probe(struct dir_store *d);
uint64_t dir_gen(const struct dir_store *d, int fd);
/* store_ops.node_gen: from the node's O_PATH fd where the source allows
 * (statx-btime, file-handle), else through an open of it for reading or
 * writing (FS_IOC_GETVERSION needs one): -EACCES where neither is allowed. */
int dir_node_gen(struct store_node *n, uint64_t *gen);

/* dir_xattr.c */
ssize_t dir_getxattr(struct store_node *n, const char *name, void *buf, size_t size);
int dir_setxattr(struct store_node *n, const char *name, const void *value, size_t size, int flags);
ssize_t dir_listxattr(struct store_node *n, char *buf, size_t size);
int dir_removexattr(struct store_node *n, const char *name);

/* dir_export.c */
int dir_encode_handle(struct store_node *n, struct store_handle *h);
int dir_decode_handle(struct store *s, const struct store_handle *h, struct store_node **out);

#endif

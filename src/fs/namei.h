/* SPDX-License-Identifier: MIT */
/*
 * namei.h - name resolution for the engine (fs/namei.c): paths walked one
 * component at a time from a directory node (store_walk_parent), open(2)
 * with its flags, and the calls that make or remove names (mknod, mkdir,
 * symlink, link, unlink, rmdir, rename) with Linux's errnos, trailing-slash
 * rules and ownership of new objects (inode_init_owner: the setgid-directory
 * rule). A name lost by a regular file evicts its cached unused inode when
 * that was its last name.
 *
 * Every path is relative to @start (a directory node, a reference held by
 * the caller), or to the store root when it starts with '/'. Every node
 * returned is a new reference (store_node_put).
 *
 * Locks: none held on entry or return; vfs_open takes i_rwsem exclusive
 * for O_TRUNC (do_truncate), the inode table's lock (leaf) inside iget and
 * the forget. Store calls are made with no lock held.
 */
#ifndef PC_FS_NAMEI_H
#define PC_FS_NAMEI_H

#include "fs/file.h"
#include "fs/inode.h"
#include "kernel/testswitch.h"
#include "store/store.h"

/* Test switch: new objects in a setgid directory keep the creator's group
 * and new directories do not inherit S_ISGID (the rule is then broken). */
DECLARE_TEST_SWITCH(namei_test_no_sgid_inherit);

/* LOOKUP_EMPTY: an empty @path names @start itself (AT_EMPTY_PATH). */
#define LOOKUP_EMPTY 0x1

/* The node @path names (a final symlink is not followed; one in a parent
 * is -ELOOP); a trailing slash on a non-directory is -ENOTDIR. */
int vfs_lookup(struct store_node *start, const char *path, unsigned flags, struct store_node **out);

/* The owner of a new object in @dir and its final mode (inode_init_owner):
 * the caller's euid/egid, the directory's group when the directory has
 * S_ISGID, and S_ISGID kept on new directories there. */
int vfs_new_owner(struct store_node *dir, mode_t *mode, struct store_owner *owner);

/* open(2) of @path from @start: O_CREAT/O_EXCL/O_TRUNC/O_DIRECTORY/
 * O_NOFOLLOW/O_PATH/O_TMPFILE as Linux. *out is a new file (one reference)
 * for the caller to install. */
int vfs_open(struct inode_table *t, struct store_node *start, const char *path, int flags,
	     mode_t mode, struct file **out);
/* Opens the node @n itself (open_by_handle_at, and vfs_open's last step):
 * @n is the caller's, left referenced. @name: a debug name for the inode. */
int vfs_open_node(struct inode_table *t, struct store_node *n, const char *name, int flags,
		  struct file **out);

/* mknodat(2)/mkdirat(2): @mode carries the type (S_IFDIR for mkdir). */
int vfs_mknod(struct store_node *start, const char *path, mode_t mode, dev_t dev);
int vfs_symlink(struct store_node *start, const char *path, const char *target);
/* linkat(2): @n gets the new name @path from @start. */
int vfs_link(struct store_node *n, struct store_node *start, const char *path);
/* unlinkat(2) (@rmdir: AT_REMOVEDIR). */
int vfs_unlink(struct inode_table *t, struct store_node *start, const char *path, bool rmdir);
/* renameat2(2). */
int vfs_rename(struct inode_table *t, struct store_node *ostart, const char *oldpath,
	       struct store_node *nstart, const char *newpath, unsigned flags);

/* The regular file @n lost a name: evict its cached unused inode if that
 * was its last. */
void vfs_forget_node(struct inode_table *t, struct store_node *n);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * fuse_nodes.h - the FUSE front end's node table: one node per name the
 * kernel has looked up (FUSE nodeid = the node's address, the root is 1),
 * with its lookup count, its place in the directory tree (parent + name, so
 * that a store path can be built for the path-based engine API), the store
 * inode number (hard links share it: invalidations reach every alias) and
 * the engine fds open on it.
 *
 * Lifetime: a node lives while the kernel holds lookups on it (FORGET
 * drops them) or it has children in the table. unlink/rmdir/rename-over
 * detach a node from the tree: it keeps working through its open fds; path
 * calls on it give -ENOENT.
 *
 * Locks: one mutex "nodes_lock" (pthread, leaf) around every table access;
 * never held across an engine call or a FUSE reply.
 */
#ifndef PC_TOOLS_FUSE_NODES_H
#define PC_TOOLS_FUSE_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NODES_PATH_MAX 4096

struct node;

void nodes_init(uint64_t root_ino);
void nodes_destroy(void);
/* The node of FUSE @nodeid (1 = the root). */
struct node *node_of(uint64_t nodeid);
uint64_t node_id(struct node *n);
/* Store path of @n into @buf ("" for the root); -ENOENT if detached,
 * -ENAMETOOLONG. */
int node_path(struct node *n, char *buf, size_t size);
/* Path of child @name of @parent. */
int node_child_path(struct node *parent, const char *name, char *buf, size_t size);
/* The node for child @name of @parent (created if new) with one more
 * lookup; @ino is its store inode number. */
struct node *node_lookup_add(struct node *parent, const char *name, uint64_t ino);
/* Drops @n lookups; frees the node when nothing holds it. */
void node_forget(struct node *n, uint64_t nlookup);
/* Detaches child @name of @parent (after unlink/rmdir). */
void node_detach(struct node *parent, const char *name);
/* Moves the tree after a successful rename(2) with @flags. */
void node_rename(struct node *op, const char *oname, struct node *np, const char *nname,
		 unsigned flags);
/* Engine fds open on a node: an unlinked node's getattr uses one. */
void node_add_fd(struct node *n, int fd);
void node_del_fd(struct node *n, int fd);
int node_any_fd(struct node *n);
/* Page-cache mode (the default): node_set_cached marks a node opened with
 * the kernel page cache. node_aliases marks every other cached node of
 * store inode @ino (all of them when @self is NULL) stale - its file changed
 * behind its kernel page cache - and collects up to @max of their nodeids
 * for invalidation. node_take_stale reads and clears the mark (an open then
 * tells the kernel to drop the node's pages: keep_cache off). */
void node_set_cached(struct node *n);
int node_aliases(uint64_t ino, struct node *self, uint64_t *ids, int max);
bool node_take_stale(struct node *n);
/* Marks @n stale again (an open that would have dropped its pages failed). */
void node_set_stale(struct node *n);
uint64_t node_ino(struct node *n);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * fuse_nodes.h - the FUSE front end's node table: one node per store inode
 * the kernel has looked up (hashed by (st_dev, st_ino); hard links share
 * one node, so one kernel inode and one page cache), with its lookup count
 * and an engine fd opened O_PATH on the object. Every request names its
 * object by that fd: the node itself (AT_EMPTY_PATH calls) or one name in
 * the directory it is (pc_*at(fd, name)); no path is ever built.
 *
 * Node ids: with export ids (the store's handles are PC_HANDLE_INO_GEN:
 * vol) the FUSE node id is the store's inode number (the root's and inode
 * 1's swapped so that the root is FUSE_ROOT_ID), stable across mounts, so
 * that open_by_handle_at works after a remount; otherwise (dir) the node's
 * address, as before, with a per-mount generation counter.
 *
 * Lifetime: a node lives while the kernel holds lookups on it (FORGET drops
 * them) or a request uses it (node_get/node_put). Its O_PATH fd keeps the
 * object alive in the store, so (dev, ino) names one object while the node
 * exists, even unlinked.
 *
 * Locks: one mutex "nodes_lock" (pthread, leaf) around every table access;
 * never held across an engine call or a FUSE reply (the fd of a freed node
 * is closed after the lock is dropped).
 */
#ifndef PC_TOOLS_FUSE_NODES_H
#define PC_TOOLS_FUSE_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct node;
struct pc_engine;

/* Opens the root node (an O_PATH fd of the store root). @export_ids: node
 * ids are the store's inode numbers. 0 or -errno. */
int nodes_init(struct pc_engine *e, bool export_ids);
/* Closes every node's fd (before pc_engine_close) and frees the table. */
void nodes_destroy(void);
bool nodes_export_ids(void);

/* The node of FUSE @nodeid with a reference (node_put), or NULL if the
 * server has none (export ids: a node id the kernel kept across a
 * remount). */
struct node *node_get(uint64_t nodeid);
void node_put(struct node *n);

/* Find-or-insert by (st->st_dev, st->st_ino): the node with one more lookup
 * and a reference. Takes @fd (an O_PATH engine fd on the object): kept by a
 * new node, closed when the node existed. NULL (fd closed) without memory. */
struct node *node_insert(int fd, const struct stat *st, uint64_t gen);
/* The inode number a node id stands for (export ids). */
uint64_t node_id_to_ino(uint64_t nodeid);
/* Drops @nlookup lookups of node id @nodeid. */
void node_forget(uint64_t nodeid, uint64_t nlookup);

/* The node id of the node of store inode @ino (any device), 0 if none. */
uint64_t nodes_find_ino(uint64_t ino);
uint64_t node_id(const struct node *n);
int node_fd(const struct node *n);
uint64_t node_gen(const struct node *n);
mode_t node_type(const struct node *n);
/* Nodes in the table (statistics: fuse_nodes). */
uint64_t nodes_count(void);

#endif

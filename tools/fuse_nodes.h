/* SPDX-License-Identifier: MIT */
/*
 * fuse_nodes.h - the FUSE front end's node table: one node per store inode
 * the kernel has looked up (hashed by (st_dev, st_ino), and in cluster mode
 * keyed by the store generation too; hard links share one node, so one
 * kernel inode and one page cache), with its lookup count
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
 * exists, even unlinked - on one machine. On the shared file system of a
 * cluster another node's unlink frees the object all the same and the host
 * may give its number to a new file (docs/cluster.md, "File identity"):
 * there a lookup passes the object's store generation (pc_fgetgen), and a
 * node of the number with another one is a dead file's, left as it is
 * (requests on it go to its own fd) until the kernel forgets it, while the
 * new file gets a node and a node id of its own.
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

/* Find-or-insert by (st->st_dev, st->st_ino) and, when @key is not NULL
 * (cluster mode), the object's store generation *@key: the node with one
 * more lookup and a reference. A node of the number whose generation is
 * known and differs is not it; one whose generation is unknown (inserted
 * with NULL) is, as is any node of the number for a NULL @key. @gen is a
 * new node's FUSE entry generation (export ids). Takes @fd (an O_PATH
 * engine fd on the object): kept by a new node, closed when the node
 * existed. NULL (fd closed) without memory. */
struct node *node_insert(int fd, const struct stat *st, uint64_t gen, const uint64_t *key);
/* The inode number a node id stands for (export ids). */
uint64_t node_id_to_ino(uint64_t nodeid);
/* Drops @nlookup lookups of node id @nodeid. */
void node_forget(uint64_t nodeid, uint64_t nlookup);

/* The node ids of the nodes of store inode number @ino (any device, any
 * generation: a dead file's and the live one's) in @ids, at most @max of
 * them; returns how many there are (more than @max: call again with
 * room). */
size_t nodes_find_ino(uint64_t ino, uint64_t *ids, size_t max);
uint64_t node_id(const struct node *n);
int node_fd(const struct node *n);
uint64_t node_gen(const struct node *n);
mode_t node_type(const struct node *n);
/* Nodes in the table (statistics: fuse_nodes). */
uint64_t nodes_count(void);

/* Test switch (set by PC_FUSE_NO_GEN_KEY=1 in mount.c; tests set it
 * directly): the store generation is left out of the key, so a lookup of a
 * new file that got a dead file's number finds the dead file's node (the
 * hazard the key closes: tests/fuse/test_fuse_nodes.c,
 * tests/cluster/test_cluster_mount_reuse.sh). */
#ifdef PC_TEST_SWITCHES
extern bool fuse_test_no_gen_key;
#else
#define fuse_test_no_gen_key false
#endif

#endif

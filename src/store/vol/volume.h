/* SPDX-License-Identifier: MIT */
/*
 * volume.h - a mounted vol volume's space management: mount reads and
 * checks the superblock and the free-space tree into the allocator; commit
 * writes a new free-space tree copy-on-write into blocks that were free in
 * the previous commit, flushes, then switches the superblock to it; blocks
 * released since the last commit (the old tree's included) return to the
 * allocator only once the commit is durable.
 *
 * Locking: vol->lock (a mutex) serialises every entry point here.
 */
#ifndef PC_STORE_VOL_VOLUME_H
#define PC_STORE_VOL_VOLUME_H

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "store/vol/alloc.h"
#include "store/vol/btree.h"
#include "store/vol/format.h"
#include "store/vol/io.h"

struct vol_blist {
	struct vol_fext *v;
	size_t nr, cap;
};

/* Grow the array @arr of capacity @cap (lvalues) to twice its capacity, or
 * @first entries when empty. Evaluates to 0, or -ENOMEM leaving both as
 * they were. */
#define vol_grow(arr, cap, first)                                           \
	({                                                                  \
		size_t __n = (cap) ? 2 * (cap) : (first);                   \
		__typeof__(arr) __v = realloc((arr), __n * sizeof(*(arr))); \
		__v ? ((arr) = __v, (cap) = __n, 0) : -ENOMEM;              \
	})

/* Append [start, start + len) to @l, merged into its last extent where they
 * touch. Returns 0 or -ENOMEM. Takes no locks: the caller owns @l. */
int vblist_add(struct vol_blist *l, uint64_t start, uint64_t len);

struct vol {
	pthread_mutex_t lock;
	int fd;
	struct vol_bdev bd;
	struct vol_super sb;	  /* as last committed */
	struct vol_alloc alloc;	  /* allocatable now */
	struct vol_blist pending; /* released since the last commit: free after the next */
	struct vol_blist tree;	  /* blocks of the committed free tree inside the data area */
	unsigned long commits;
	struct vol_dev dev; /* bd.dev points here */
};

/* A commit split in two for callers that make more than the free tree
 * durable with it (the store's journal): prepare writes the new free tree
 * into blocks free in the last commit (not flushed) and computes the new
 * superblock; the caller makes both durable, then finish installs the new
 * free set (or abort forgets it). Caller holds nothing; v->lock is taken. */
struct vol_txn {
	struct vol_alloc c;  /* the free set once durable */
	struct vol_super sb; /* the superblock naming it */
	uint64_t tree_start; /* the new tree's blocks */
	uint64_t tree_blocks;
};
int vol_commit_prepare(struct vol *v, struct vol_txn *t);
void vol_commit_finish(struct vol *v, struct vol_txn *t);
void vol_commit_abort(struct vol_txn *t);

/* 0 or -errno; on -EINVAL/-EUCLEAN/-EOPNOTSUPP *why says what is wrong. */
int vol_mount(const char *path, struct vol **out, const char **why);
/* fsck: vol_mount() with the superblock @sb (NULL: read block 0) and, with
 * VOL_MOUNT_NO_FREE_TREE, without reading the free-space tree (the allocator
 * and v->tree start empty, the free count is not checked): for rebuilding
 * free space from what the inodes own. */
#define VOL_MOUNT_NO_FREE_TREE 0x1u
int vol_mount_opts(const char *path, const struct vol_super *sb, unsigned flags, struct vol **out,
		   const char **why);
/* Drops uncommitted changes (as a crash would), closes the image. */
void vol_unmount(struct vol *v);
/* Allocate up to want blocks (see vol_alloc_alloc). */
int64_t vol_alloc_blocks(struct vol *v, uint64_t want, uint64_t hint, uint64_t *start);
/* Release blocks; they become allocatable after the next commit. */
int vol_release_blocks(struct vol *v, uint64_t start, uint64_t len);
/* Make the current space state durable. 0 or -errno (-ENOSPC, -EIO...); on
 * error the previous commit stays the durable state and v stays usable. */
int vol_commit(struct vol *v);
/* Free blocks as of now (allocatable plus pending). */
uint64_t vol_free_blocks(struct vol *v);

#endif

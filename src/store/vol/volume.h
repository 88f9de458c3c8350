/* SPDX-License-Identifier: MIT */
/*
 * volume.h - a mounted vol volume's space management: mount reads and
 * checks the superblock and the free-space tree into the allocator and into
 * an in-memory copy of the tree with its on-disk shape; commit writes the
 * changed nodes of the free-space tree (and their ancestors) copy-on-write
 * into blocks that were free in the previous commit (freetree.c), flushes,
 * then switches the superblock to it; blocks released since the last commit
 * (the replaced tree nodes included) return to the allocator only once the
 * commit is durable. Every grant and return of allocator blocks goes
 * through the functions here, which keep the in-memory tree in step.
 *
 * Locking: vol->lock (a mutex) serialises every entry point here.
 */
#ifndef PC_STORE_VOL_VOLUME_H
#define PC_STORE_VOL_VOLUME_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "store/vol/alloc.h"
#include "store/vol/btree.h"
#include "store/vol/extmap.h"
#include "store/vol/format.h"
#include "store/vol/vol.h"
#include "store/vol/io.h"
#include "kernel/testswitch.h"

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
	struct vol_alloc pend;	  /* what vol_release_blocks put there, as a set */
	struct vol_blist tree;	  /* blocks of the committed free tree inside the data area */
	/* the free-space tree in memory: always allocatable + pending as
	 * extents {lblk = pblk = start, len}; its nodes know their committed
	 * blocks and which changed since (freetree.c) */
	struct vol_extmap ftree;
	bool ftree_stale; /* an update was lost (-ENOMEM): the next commit rebuilds it */
	unsigned long commits;
	struct vol_dev dev; /* bd.dev points here */
	int discard;	    /* enum vol_discard_how: what freed blocks get (discard.c) */
	/* freed by a durable commit, allocatable, their punch still to come
	 * (discard.c); a subset of alloc */
	struct vol_alloc dq;
	/* the journal's deferred checkpoint (checkpoint.c): committed
	 * transactions (descriptor + blocks, oldest first) whose blocks are not
	 * written home yet, and the homes among them still metadata */
	struct vol_ckpt {
		char **tx;
		size_t n, cap;
		struct vol_alloc homes;
		/* vol_dev_wseq when the journal's chain last started (commit.c):
		 * a write in place since then makes the next commit start it again */
		unsigned long chain_wseq;
	} ck;
};

/* A commit split in two for callers that make more than the free tree
 * durable with it (the store's journal): prepare writes the new free tree
 * into blocks free in the last commit (not flushed) and computes the new
 * superblock; the caller makes both durable, then finish installs the new
 * free set (or abort forgets it). Caller holds nothing; v->lock is taken. */
struct vol_txn {
	struct vol_super sb; /* the superblock naming the new tree */
	bool whole;	     /* whole rewrite (freetree.c's fallback) */
	/* copy-on-write: */
	struct vol_alloc pset; /* the pending list as a set */
	struct vol_alloc rep;  /* replaced tree blocks in the data area: free once durable */
	struct vol_alloc pool; /* the new nodes' blocks, out of the allocator */
	uint64_t lo;	       /* the pool's lowest block (it grows downwards) */
	uint64_t written;      /* nodes written */
	/* whole rewrite: */
	struct vol_alloc c;  /* the free set once durable */
	struct vol_extmap f; /* ... as the in-memory tree */
	uint64_t tree_start; /* the new tree's blocks */
	uint64_t tree_blocks;
};
int vol_commit_prepare(struct vol *v, struct vol_txn *t);
void vol_commit_finish(struct vol *v, struct vol_txn *t);
void vol_commit_abort(struct vol *v, struct vol_txn *t);

/* 0 or -errno; on -EINVAL/-EUCLEAN/-EOPNOTSUPP *why says what is wrong. */
int vol_mount(const char *path, struct vol **out, const char **why);
/* fsck: vol_mount() with the superblock @sb (NULL: read block 0) and, with
 * VOL_MOUNT_NO_FREE_TREE, without reading the free-space tree (the allocator
 * and v->tree start empty, the free count is not checked): for rebuilding
 * free space from what the inodes own. */
#define VOL_MOUNT_NO_FREE_TREE 0x1u
/* VOL_MOUNT_ANY_ROOT: the root inode is not checked here (fsck: its tolerant
 * load reports and recreates a missing root directory). */
#define VOL_MOUNT_ANY_ROOT 0x2u
int vol_mount_opts(const char *path, const struct vol_super *sb, unsigned flags, struct vol **out,
		   const char **why);
/* Drops uncommitted changes (as a crash would), closes the image. */
void vol_unmount(struct vol *v);
/* Allocate up to want blocks (see vol_alloc_alloc). */
int64_t vol_alloc_blocks(struct vol *v, uint64_t want, uint64_t hint, uint64_t *start);
/* Blocks granted by vol_alloc_blocks that nothing durable ever named go
 * straight back to the allocator. 0 or -EINVAL (not granted). */
int vol_return_blocks(struct vol *v, uint64_t start, uint64_t len);
/* fsck's rebuild of free space: the allocator becomes *a and the committed
 * free tree's blocks (freed once the next commit is durable) *tree, both
 * taken over (*a and *tree get the old ones, for the caller to free);
 * nothing is pending, and the in-memory tree is marked stale, so the next
 * commit rewrites the free-space tree whole. 0, or -errno from writing the
 * deferred checkpoint first (checkpoint.c; nothing changed then). */
int vol_replace_free(struct vol *v, struct vol_alloc *a, struct vol_blist *tree);
/* Test only: vol_replace_free leaves the in-memory tree as it was (not
 * stale), so the next commit writes that tree copy-on-write. */
DECLARE_TEST_SWITCH(vol_test_replace_free_keep_tree);
/* Release blocks; they become allocatable after the next commit. */
int vol_release_blocks(struct vol *v, uint64_t start, uint64_t len);
/* Make the current space state durable. 0 or -errno (-ENOSPC, -EIO...); on
 * error the previous commit stays the durable state and v stays usable. */
int vol_commit(struct vol *v);
/* Free blocks as of now (allocatable plus pending). */
uint64_t vol_free_blocks(struct vol *v);
/* Forget the pending blocks (they were freed or became allocatable). The
 * caller holds v->lock or owns v. */
void vol_pending_clear(struct vol *v);
/* Test only: vol_release_blocks skips its check against the pending set. */
DECLARE_TEST_SWITCH(vol_test_no_pending_check);

/* ---- discard.c: freed blocks given back to the image's host ---- */

/* vol_set_discard modes (VOL_DISCARD_AUTO/ON/OFF, vol.h); vol_mount sets
 * AUTO. */
enum vol_discard_how { VOL_DISCARD_NONE, VOL_DISCARD_PUNCH, VOL_DISCARD_BLKDEV };
void vol_set_discard(struct vol *v, int mode);
/* Gives [start, start + len) back (punch or BLKDISCARD) where discard is
 * on. Only for blocks free in the durable state. Caller holds v->lock. */
void vol_discard(struct vol *v, uint64_t start, uint64_t len);
/* Queues [start, start + len) (free in the durable state and allocatable)
 * for a later punch; with discard off, nothing. Caller holds v->lock. */
void vol_discard_queue(struct vol *v, uint64_t start, uint64_t len);
/* The blocks [start, start + len) were handed out: their queued punch is
 * cancelled (the fence). Caller holds v->lock. */
void vol_discard_cancel(struct vol *v, uint64_t start, uint64_t len);
/* Punches every queued extent (takes v->lock per extent); the blocks
 * punched. */
uint64_t vol_discard_run(struct vol *v);
/* Blocks and extents queued now (takes v->lock). */
void vol_discard_queued(struct vol *v, uint64_t *blocks, uint64_t *extents);
/* A commit drains the queue itself past this many extents (the commit
 * timer normally does, every interval). */
#define VOL_DQ_MAX_EXTENTS 4096
/* Blocks punched or discarded (atomic; tests and statistics). */
extern uint64_t vol_discarded_blocks;
/* Test only: allocation does not cancel queued discards, so the drain
 * punches blocks handed out (and written) since they were queued. */
DECLARE_TEST_SWITCH(vol_test_discard_no_fence);
/* Test only: vol_release_blocks punches at once, before the commit that
 * frees the blocks is durable (the committed state's data are lost if it
 * never is). */
DECLARE_TEST_SWITCH(vol_test_discard_at_release);

/* ---- checkpoint.c: the journal's deferred checkpoint (commits only) ---- */

/* Keeps the committed transaction @jbuf (taken over) for a later
 * checkpoint; on -ENOMEM writes everything home now. 0 or -errno. */
int vol_ckpt_retain(struct vol *v, char *jbuf);
/* [start, start + len) is freed by the commit installing now: its logged
 * copies are not written home (they may be reused). 0 or -errno. */
int vol_ckpt_forget(struct vol *v, uint64_t start, uint64_t len);
/* Writes the newest copy of every retained block still metadata home and
 * drops the transactions: the older transactions' blocks, a flush (if it
 * wrote any), then the newest transaction's, its superblock last (not
 * flushed). 0 or -errno (kept then). */
int vol_ckpt_write(struct vol *v);
/* Unmount: drops what is retained. */
void vol_ckpt_free(struct vol *v);
/* Blocks checkpoints wrote (tests, figures). */
extern unsigned long vol_ckpt_blocks_written;
/* Test only: freed blocks stay in the set of homes, so the deferred
 * checkpoint writes their stale copies over a reuse. */
DECLARE_TEST_SWITCH(vol_test_ckpt_keep_freed);
/* Test only: the checkpoint writes every block, newest copy first, in one
 * pass without the flush that must come before the newest superblock goes
 * home (the ordering rule, checkpoint.c): a crash inside it can leave a
 * superblock newer than a transaction whose blocks are missing. */
DECLARE_TEST_SWITCH(vol_test_ckpt_sb_unordered);

/* ---- freetree.c: the free-space tree's commit (v->lock held) ---- */

/* Rounds of placing the new nodes before the whole rewrite takes over. */
extern unsigned vol_freetree_rounds;
/* Tests: write every free-tree node at each commit (the old behaviour). */
DECLARE_TEST_SWITCH(vol_test_freetree_rewrite_all);
/* Tests: an aborted commit gives the pool back to the allocator but leaves
 * the tree's edits in place (the hazard the undo prevents). */
DECLARE_TEST_SWITCH(vol_test_freetree_no_undo);
/* Free-tree nodes written by the commits so far (tests, figures). */
extern unsigned long vol_freetree_nodes_written;
int vol_freetree_prepare(struct vol *v, struct vol_txn *t);
void vol_freetree_finish(struct vol *v, struct vol_txn *t);
void vol_freetree_abort(struct vol *v, struct vol_txn *t);
/* The in-memory tree gains / loses [start, start + len); on -ENOMEM it is
 * marked stale (rebuilt by the next commit). */
void vol_freetree_add(struct vol *v, uint64_t start, uint64_t len);
void vol_freetree_remove(struct vol *v, uint64_t start, uint64_t len);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * vstore.h - the vol store's in-memory state behind store_ops: every inode
 * in use (attributes, extent map, directory entries, symlink target) is held
 * in memory from mount to unmount; changes are made durable by a commit
 * (commit.c) that writes new extent trees and directory blocks copy-on-write
 * into blocks free in the last commit, then the changed inode-table blocks
 * and the superblock through the journal. See docs/vol-format.md.
 *
 * Files: backend.c (ops table, open/close), node.c (node references,
 * lookup, handles, opening for data), namei.c (create, link, unlink, rename,
 * readdir), attr.c (getattr, setattr, readlink, statfs), xattr.c (extended
 * attributes), data.c (data ops), refcount.c (shared data blocks: counts),
 * clone.c (clone_range), commit.c (commit, journal, replay),
 * commit_timer.c (the periodic commit),
 * load.c (reading a volume into memory, shared with fsck), mkfs.c, fsck.c.
 *
 * Locking: vs->lock (a mutex) covers all of this state: the namespace,
 * every inode's attributes and extent map, the allocator, and commits.
 * Data reads and writes look up or allocate their extents under it, then
 * drop it across the image pread/pwrite; the caller (the engine) keeps data
 * I/O and punch/truncate of the same range apart (its invalidate lock).
 * An fsync's commit (vs_commit_sync) drops it across its flushes and
 * journal write with the state frozen (vs->frozen): lookups, getattr,
 * readdir, reads and in-place overwrites go on; anything that changes the
 * state takes the lock with vs_lock_change() (or calls vs_wait_thaw() under
 * it before its first change) and so waits for the commit to install.
 * Lock order: vs->lock -> vol->lock (volume.c's, internal).
 */
#ifndef PC_STORE_VOL_VSTORE_H
#define PC_STORE_VOL_VSTORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "store/store.h"
#include "store/vol/extmap.h"
#include "store/vol/inode.h"
#include "store/vol/volume.h"
#include "kernel/testswitch.h"

#define VOL_MAX_FILE   (1ll << 44) /* bytes: -EFBIG beyond */
#define VOL_DIRB_MAGIC 0x42524944u /* "DIRB" */
#define VOL_JRNL_MAGIC 0x4c4e524au /* "JRNL" */

/* A directory block: this header, then packed records. */
struct vol_dirblk_hdr {
	uint32_t magic;
	uint32_t crc; /* crc32c (seed 0) of the block with crc = 0 */
	uint64_t owner;
	uint32_t nr;   /* records */
	uint32_t used; /* bytes of records after the header */
} __attribute__((packed));

/* A directory record: this, then name_len bytes of name (no NUL). */
struct vol_dirent_rec {
	uint64_t ino;
	uint64_t cookie;
	uint8_t name_len;
	uint8_t type; /* DT_REG, DT_DIR, DT_LNK */
} __attribute__((packed));

/* The journal's descriptor block, at journal_start; the logged blocks follow. */
struct vol_jdesc {
	uint32_t magic;
	uint32_t crc; /* crc32c of this block (crc = 0) and every logged block */
	uint64_t seq; /* = the generation of the superblock logged with it */
	uint8_t uuid[16];
	uint32_t nr; /* logged blocks */
	uint32_t pad;
	uint64_t home[]; /* home block of each logged block, in order */
} __attribute__((packed));
#define VOL_JDESC_MAX ((4096 - sizeof(struct vol_jdesc)) / sizeof(uint64_t))

struct vdent {
	struct vdent *hnext;
	uint64_t ino;
	uint64_t cookie;
	uint8_t type;
	uint8_t nlen;
	char name[]; /* NUL-terminated */
};

struct vslot {
	uint64_t cookie;
	struct vdent *e; /* NULL: removed */
};

/* One directory block as it is (or will be) on disk: it holds the entries
 * with cookies in [first, the next block's first) (dirblk.c). */
struct vdirblk {
	uint64_t first;	   /* lowest cookie it may hold */
	uint64_t pblk;	   /* committed volume block, 0: new */
	uint64_t new_pblk; /* during a commit: where a dirty block went */
	uint32_t used, nr; /* record bytes after the header, records */
	bool dirty;	   /* to be written at the next commit */
};

struct vdir {
	struct vdent **hash;
	size_t hsize, count;
	struct vslot *order; /* by cookie */
	size_t onr, ocap, holes;
	uint64_t parent; /* the directory's parent (root: itself) */
	/* the blocks (dirblk.c), in cookie order = lblk order */
	struct vdirblk *blk;
	size_t nblk, cblk;
	uint64_t *dropped; /* committed blocks no longer used (capacity reserved) */
	size_t ndropped, cdropped;
	struct vol_blist tnodes; /* the committed extent tree's nodes */
	/* during a commit (install swaps them in) */
	struct vol_blist stage_meta, stage_tnodes;
};

/* One extended attribute (xattr.c). */
struct vxent {
	char *name; /* NUL-terminated */
	void *value;
	uint8_t nlen;
	uint16_t vlen;
};

/* An inode's extended attributes, all in memory; on disk one block. */
struct vxattr {
	struct vxent *e;
	size_t nr, cap;
	size_t used;	  /* record bytes they take in the block */
	uint64_t blk;	  /* the committed block, 0: none */
	uint64_t new_blk; /* during a commit: where they went (0: nowhere) */
	bool dirty;	  /* to be written at the next commit */
};

/*
 * The in-memory inode. Every inode with a name is here from mount to
 * unmount; its store_node (node.c) counts the references the store's users
 * hold. An inode with no name left (nlink 0: unlinked, or an O_TMPFILE
 * file never linked) lives while it has references or open store_inodes,
 * committed meanwhile as an orphan (VOL_INO_ORPHAN, freed by the next
 * mount if the process dies), and is freed at the last of both.
 */
struct vnode {
	struct store_node node; /* node.refs: references (atomic, dropped under vs->lock) */
	uint64_t ino;
	struct vol_disk_inode di; /* attributes; extent_root/blocks as last committed */
	struct vol_extmap map;	  /* data extents (files, symlinks); knows its node blocks */
	struct vol_blist meta;	  /* directories: committed tree nodes and directory blocks */
	struct vdir *dir;	  /* directories */
	char *target;		  /* symlinks */
	/* delayed allocation (reserve.c): file blocks reserved (holes the page
	 * cache has dirtied and writeback will allocate) as a set of lblk
	 * extents, and the metadata blocks charged for them */
	struct vol_alloc resv;
	uint64_t resv_meta;
	struct vxattr xa;
	unsigned opens; /* open store_inodes */
	bool tmpfile;	/* made by tmpfile() and never named: link() may name it */
	bool dirty;	/* the record changed since the last commit */
	bool map_dirty; /* extents / entries changed: rewrite the tree */
	/* during a commit */
	uint64_t new_root;
	uint64_t new_dirsize;
	struct vol_blist new_meta; /* blocks this commit wrote (taken back on failure) */
};

struct vstore {
	struct store store;
	pthread_mutex_t lock;
	struct vol *v;
	int lock_fd; /* holds the flock */
	int dio_fd;  /* the image O_DIRECT, -1 if the host has none */
	/* file data written back goes through dio_fd when aligned (data_io.c);
	 * atomics: a refused direct write turns it off for the mount */
	bool data_direct;
	unsigned long data_direct_writes, data_buffered_writes, data_direct_fallbacks;
	uint64_t dev, ninodes, ino_cursor, inodes_used;
	uint64_t gen_next;     /* the generation the next new inode gets */
	struct vnode **inodes; /* [ninodes] */
	/* a bit per VS_INO_GROUP slots of inodes[]: set once any slot of the
	 * group was filled (never cleared), so that walks of the inodes skip
	 * the empty groups of a large table (vs_next_ino) */
	uint64_t *ino_groups;
	uint64_t *dirty; /* inode numbers whose slot must be rewritten */
	size_t ndirty, cdirty;
	uint8_t *blk_dirty; /* per inode-table block */
	size_t nblk_dirty;
	uint64_t reserve;   /* blocks data allocation leaves for commits */
	uint64_t resv;	    /* blocks reserved by every vnode: data + metadata (reserve.c) */
	uint64_t resv_held; /* of which metadata of consumed reservations, until a commit */
	unsigned long resv_commits; /* commits a reservation forced (tests, figures) */
	int broken;		    /* a commit failed after its journal write: -EIO from now */
	unsigned long commits;
	unsigned long tree_nodes;  /* extent-tree nodes written by commits */
	uint64_t jnext;		   /* journal block the next transaction goes to; 0: the first
				    * commit of this mount (flushes first, starts the chain) */
	unsigned long jmeta;	   /* metadata blocks commits logged in the journal */
	unsigned long group_syncs; /* fsyncs another's commit made durable (atomic) */
	/* an fsync's commit writing with vs->lock dropped: no change until it
	 * installs (thaw is signalled then, under vs->lock) */
	bool frozen;
	pthread_cond_t thaw;
	unsigned long thaw_waits; /* changes that waited for a commit (tests) */
	/* the periodic commit (commit_timer.c): timer_lock guards timer_stop
	 * and the sleep; the rest is set before the thread starts */
	pthread_mutex_t timer_lock;
	pthread_cond_t timer_cond;
	pthread_t timer;
	bool timer_running, timer_stop;
	bool timer_failing; /* the timer thread's own */
	unsigned commit_interval_ms;
	unsigned long periodic_commits; /* atomic: commits (or flushes) the timer made */
	unsigned long timer_ticks;	/* atomic: times the timer woke and looked (tests) */
	/* shared data blocks (refcount.c): the reference-count tree (counts
	 * >= 2 by volume block), whether it changed since the last commit,
	 * where this commit wrote it, and the blocks it names */
	struct vol_extmap refc;
	bool refc_dirty;
	uint64_t refc_new_root;
	struct vol_blist refc_new;
	uint64_t shared_blocks;
};

/* vs->lock for an operation that changes the store's state: taken, then
 * waited on (dropped and retaken) while a commit is in flight. */
static inline void vs_wait_thaw(struct vstore *vs)
{
	while (vs->frozen) {
		vs->thaw_waits++;
		pthread_cond_wait(&vs->thaw, &vs->lock);
	}
}

static inline void vs_lock_change(struct vstore *vs)
{
	pthread_mutex_lock(&vs->lock);
	vs_wait_thaw(vs);
}

/* ---- load.c ---- */
#define VS_INO_GROUP 512u

/* Slot @ino of vs->inodes is about to be filled. */
static inline void vs_ino_mark(struct vstore *vs, uint64_t ino)
{
	uint64_t g = ino / VS_INO_GROUP;
	vs->ino_groups[g / 64] |= 1ull << (g % 64);
}

/* The first slot at or after @ino that may hold an inode (vs->inodes[] of
 * the slots between is NULL), or vs->ninodes. Walk the inodes with
 * for (i = vs_next_ino(vs, 1); i < vs->ninodes; i = vs_next_ino(vs, i + 1)):
 * O(inodes ever used), not O(table size). */
static inline uint64_t vs_next_ino(const struct vstore *vs, uint64_t ino)
{
	const uint64_t nwords = (vs->ninodes / VS_INO_GROUP + 64) / 64;
	if (ino >= vs->ninodes)
		return vs->ninodes;
	uint64_t g = ino / VS_INO_GROUP, w = g / 64;
	uint64_t bits = vs->ino_groups[w] & (~0ull << (g % 64));
	while (!bits) {
		if (++w >= nwords)
			return vs->ninodes;
		bits = vs->ino_groups[w];
	}
	uint64_t first = (w * 64 + (uint64_t)__builtin_ctzll(bits)) * VS_INO_GROUP;
	if (first > ino)
		ino = first;
	return ino < vs->ninodes ? ino : vs->ninodes;
}
/* Reads every inode, extent tree, directory and symlink of the mounted v
 * into vs (vs->v set, inodes allocated). Checks: each structure valid, every
 * owned block inside the data area, owned once, and not free. 0, or -errno
 * with *why. */
int vs_load(struct vstore *vs, const char **why);
void vs_free_nodes(struct vstore *vs);
/* Tests: the load reads every inode-table block, holes of a sparse image
 * included (mount then reads O(table size), not O(blocks written)). */
DECLARE_TEST_SWITCH(vol_test_no_itable_holes);
void vnode_free(struct vnode *n);
int vdir_insert(struct vdir *d, const char *name, size_t nlen, uint64_t ino, uint8_t type,
		uint64_t cookie);
struct vdent *vdir_lookup(const struct vdir *d, const char *name, size_t nlen);
void vdir_remove(struct vdir *d, struct vdent *e);
struct vdir *vdir_new(void);
void vdir_free(struct vdir *d);

/* ---- dirblk.c ---- */
/* Bytes of a record of a name of nlen bytes; usable bytes of a block. */
#define VOL_DIRB_CAP (4096 - sizeof(struct vol_dirblk_hdr))
static inline size_t vdir_rec_size(size_t nlen)
{
	return sizeof(struct vol_dirent_rec) + nlen;
}
/* Block bookkeeping behind vdir_insert()/vdir_remove() (load.c): room for
 * one more block (0 or -ENOMEM, nothing changed); an entry of @sz bytes
 * with the largest @cookie goes into the last block or a new one; one
 * leaves the block holding it (an emptied block is dropped, under-full
 * neighbours merged). */
int vdir_blk_reserve(struct vdir *d);
void vdir_blk_add(struct vdir *d, uint64_t cookie, size_t sz);
void vdir_blk_del(struct vdir *d, uint64_t cookie, size_t sz);
/* The entry with @cookie changed in place (rename exchange): rewrite its block. */
void vdir_blk_touch(struct vdir *d, uint64_t cookie);
void vdir_blk_free(struct vdir *d);
/* Mount: the following inserts fill a block that starts here; then it is
 * committed block @pblk (-EUCLEAN if it held nothing). After the last
 * block, with the tree's node blocks (n->meta so far): 0 or -errno. */
int vdir_blk_load_begin(struct vdir *d);
int vdir_blk_load_end(struct vdir *d, uint64_t pblk);
int vdir_blk_load_done(struct vdir *d, const struct vol_blist *tnodes);
/* Commit: writes the dirty blocks of n into blocks from @alloc (which
 * records them in n->new_meta) and returns every block's extents (lblk =
 * position); then, after the tree is written: the replaced and dropped
 * blocks and the old tree go to pending, the new metadata list is staged;
 * after the commit point: install. Until install nothing changes, so a
 * failed commit leaves the directory as it was. */
int vdir_write_blocks(struct vstore *vs, struct vnode *n, vol_blk_alloc_fn alloc, void *arg,
		      struct vol_disk_extent **ext, size_t *next, uint64_t *nblocks);
int vdir_stage(struct vstore *vs, struct vnode *n);
void vdir_install(struct vnode *n);
/* Tests: write every block at each commit (the old behaviour, for figures);
 * install the new blocks as soon as they are written (shows why install
 * waits for the commit point). */
DECLARE_TEST_SWITCH(vdir_test_rewrite_all);
DECLARE_TEST_SWITCH(vdir_test_install_early);

/* ---- commit.c ---- */
/* Make everything durable. Caller holds vs->lock (and no commit is in
 * flight: it took the lock with vs_lock_change or waited for the thaw). */
int vs_commit(struct vstore *vs);
/* The same for fsync: vs->lock held on entry and on return, dropped across
 * the flushes, the journal write and the checkpoint, the state frozen. */
int vs_commit_sync(struct vstore *vs);
/* Tests: called in vs_commit_sync's window (vs->lock dropped, frozen);
 * vol_test_commit_keep_lock keeps the lock across the window (the old
 * behaviour: the window test then sees the lock held). */
typedef void (*vol_commit_window_fn)(struct vstore *vs);
DECLARE_TEST_KNOB(vol_commit_window_fn, vol_test_commit_window);
DECLARE_TEST_SWITCH(vol_test_commit_keep_lock);
/* Tests: commits write their metadata home and flush it before the journal,
 * which holds only the inode-table blocks and starts at journal_start every
 * time (the two-flush commit from before the metadata was logged). */
DECLARE_TEST_SWITCH(vol_test_meta_home_first);
/* Tests: an fsync that finds nothing to commit flushes even when nothing
 * was written since the last flush (no group commit: one flush per fsync). */
DECLARE_TEST_SWITCH(vol_test_group_flush_each);
/* Tests: every transaction at journal_start, over the last one, whether or
 * not a flush made its checkpoint durable (the hazard the chain removes). */
DECLARE_TEST_SWITCH(vol_test_jrnl_no_chain);
/* Tests: a commit goes on with the chain after a write in place (file data,
 * metadata written home) that a flush already made durable (the hazard:
 * replay writes an older transaction's copy of a block the write reused). */
DECLARE_TEST_SWITCH(vol_test_chain_after_write);
/* The chain of valid journal transactions of the volume at fd from
 * journal_start (commit.c): *last gets the sequence of the last (0: none).
 * 0 or -errno. */
int vol_journal_last_seq(int fd, const struct vol_super *sb, uint64_t *last);
/* Replays a committed journal transaction newer than the image's superblock
 * (idempotent). 0, or -errno with *why. */
int vol_journal_replay(int fd, const char **why);
/* Turns the store broken (-EIO for every call until remounted) after err,
 * saying what failed on stderr; returns -EIO. Caller holds vs->lock. */
int vs_break(struct vstore *vs, int err, const char *what);
/* Marks ino's record for the next commit (and commits first if the journal
 * could not take more). Caller holds vs->lock. */
void vs_dirty(struct vstore *vs, struct vnode *n);
/* Commit first if the journal lacks room for @inodes more records. */
int vs_make_room(struct vstore *vs, unsigned inodes);
/* Drops an unlinked inode whose last open closed: blocks to pending, slot freed. */
void vs_evict(struct vstore *vs, struct vnode *n);
/* Each metadata block n owns in the last commit (a file's extent-tree nodes,
 * a directory's tree nodes and blocks) as ranges fn(arg, start, len);
 * stops at a nonzero return. */
int vs_for_each_meta(const struct vnode *n, int (*fn)(void *arg, uint64_t start, uint64_t len),
		     void *arg);

/* ---- commit_timer.c ---- */
/* Stops the periodic commit thread (if running) and waits for it. Caller
 * holds no lock. */
void vs_stop_commit_timer(struct vstore *vs);
/* Tests: the timer wakes up but commits nothing (a crash then loses every
 * change since the last fsync). */
DECLARE_TEST_SWITCH(vol_test_no_periodic_commit);

/* ---- node.c: references, lookup, handles, opening for data ---- */
static inline struct vnode *VN_OF(struct store_node *sn)
{
	return (struct vnode *)((char *)sn - __builtin_offsetof(struct vnode, node));
}
/* Fills n->node (after vs->dev is known, before any reference). */
void vs_node_init(struct vstore *vs, struct vnode *n);
/* A new reference to n. vs->lock held. */
struct store_node *vs_node_ref(struct vstore *vs, struct vnode *n);
/* n (nlink 0) has no reference and no open store_inode left: free it. vs->lock
 * held, no commit in flight. */
void vs_maybe_evict(struct vstore *vs, struct vnode *n);
/* The directory a node names (vs->lock held): 0, -ENOTDIR, or -ENOENT for a
 * directory already removed (nothing may be made in it). */
int vs_live_dir(struct vnode *d);
/* New inodes' generations: the durable limit moves up a batch at a time
 * (tests: vol_test_gen_small_batch, a batch of 3, to see it move). */
#define VOL_GEN_BATCH 4096u
DECLARE_TEST_SWITCH(vol_test_gen_small_batch);
static inline uint64_t vs_gen_batch(void)
{
	return vol_test_gen_small_batch ? 3 : VOL_GEN_BATCH;
}
/* A generation for a new inode: commits first when the batch is used up
 * (then @n's caller has changed nothing yet). 0 or -errno. */
int vs_take_gen(struct vstore *vs, uint64_t *gen);
/* Mount: the first generation to give (above every inode's and the limit). */
void vs_gen_init(struct vstore *vs);
/* Tests: new inodes reuse generation 1 (the old behaviour: a handle to a
 * freed inode then names whatever reuses its slot). */
DECLARE_TEST_SWITCH(vol_test_gen_reuse);
/* Tests: generations continue from the inodes' at mount, with no durable
 * limit (a crash that lost a create then hands its generation out again). */
DECLARE_TEST_SWITCH(vol_test_gen_no_limit);
extern const struct store_ops vol_store_ops_node;

/* ---- namei.c: create, link, unlink, rename, readdir ---- */
extern const struct store_ops vol_store_ops_ns; /* the namespace half */
/* Where any op that changes the namespace starts: the store usable, room in
 * the journal for @inodes records. */
int vs_ns_begin(struct vstore *vs, unsigned inodes);

/* ---- attr.c: attributes ---- */
void vs_now(struct vol_disk_inode *di, bool a, bool m, bool c);
void vs_fill_stat(struct vstore *vs, const struct vnode *n, struct stat *st);
extern const struct store_ops vol_store_ops_attr;

/* ---- xattr.c: extended attributes, one block per inode ---- */
#define VOL_XATTR_MAGIC 0x52544158u /* "XATR" */
struct vol_xattr_hdr {
	uint32_t magic;
	uint32_t crc; /* crc32c (seed 0) of the block with crc = 0 */
	uint64_t owner;
	uint32_t nr;   /* records */
	uint32_t used; /* bytes of records after the header */
} __attribute__((packed));
/* A record: this, then name_len bytes of name (no NUL), then value_len bytes. */
struct vol_xattr_rec {
	uint8_t name_len;
	uint8_t pad;
	uint16_t value_len;
} __attribute__((packed));
#define VOL_XATTR_CAP (VOL_BLOCK_SIZE - sizeof(struct vol_xattr_hdr))
extern const struct store_ops vol_store_ops_xattr;
/* Mount/fsck: reads n's xattr block (n->di.xattr_blk). 0, -EUCLEAN with *bad
 * (damaged: crc, magic, owner, layout), or -errno. */
int vs_xattr_load(struct vstore *vs, struct vnode *n, const char **bad);
void vs_xattr_free(struct vxattr *xa);
/* Commit: writes n's attributes (dirty) into a new block from the allocator
 * (none when there are none); the old block goes to pending; undo returns
 * the new block; install adopts it. */
int vs_xattr_write(struct vstore *vs, struct vnode *n);
int vs_xattr_stage(struct vstore *vs, struct vnode *n);
void vs_xattr_undo(struct vstore *vs, struct vnode *n);
void vs_xattr_install(struct vnode *n);
/* Tests: a changed set is written over its committed block, in place,
 * before the commit point (a crash then shows attributes of a commit that
 * never happened). */
DECLARE_TEST_SWITCH(vol_test_xattr_in_place);
/* Tests: a changed set is not charged a block until its commit (a full
 * volume then takes sets that no commit can write: the commit fails). */
DECLARE_TEST_SWITCH(vol_test_xattr_no_charge);
/* Where the next commit's record of n points (dirty: the new block). */
static inline uint64_t vs_xattr_blk(const struct vnode *n)
{
	return n->xa.dirty ? n->xa.new_blk : n->xa.blk;
}
/* The volume now holds inodes using the extension fields: the feature bit
 * goes into the next commit's superblock (the backup superblock keeps
 * mkfs's bits: fsck does not compare this one; the load sets it again from
 * the inodes, so a volume restored from the backup gets it back). vs->lock
 * held (or the volume not yet shared). */
void vs_feature_inode_ext(struct vstore *vs);

/* ---- refcount.c: shared data blocks (reflink) ---- */
/* Drops one reference from each block of [pblk, pblk + len) displaced from
 * an extent map: a shared block's count goes down, a block whose last
 * reference goes is released (pending). vs->lock held. */
void vs_release(void *arg, uint64_t pblk, uint64_t len);
/* The count of block pblk (1: mapped once or not at all) and in *run the
 * blocks from pblk (at most len) that have the same. */
uint32_t vs_refc_get(const struct vstore *vs, uint64_t pblk, uint64_t len, uint64_t *run);
/* Whether pblk is shared; *run as above (the run of one count). */
bool vs_refc_shared(const struct vstore *vs, uint64_t pblk, uint64_t len, uint64_t *run);
/* One more reference to each block of [pblk, pblk + len) (a clone maps it
 * once more); sets REFLINK. 0, -ENOMEM or -EMLINK (count at 2^32 - 1),
 * nothing changed. */
int vs_refc_inc(struct vstore *vs, uint64_t pblk, uint64_t len);
/* Commit: write the changed tree (new blocks recorded for the undo), stage
 * the replaced blocks to pending, put root and shared count in the new
 * superblock; undo / install. */
int vs_refc_write(struct vstore *vs);
int vs_refc_stage(struct vstore *vs);
void vs_refc_undo(struct vstore *vs);
void vs_refc_super(const struct vstore *vs, struct vol_super *sb);
void vs_refc_install(struct vstore *vs);
/* The tree's committed node blocks (and dropped ones), as ranges. */
int vs_refc_for_each_meta(const struct vstore *vs,
			  int (*fn)(void *arg, uint64_t start, uint64_t len), void *arg);
void vs_refc_destroy(struct vstore *vs);
/* Tests: a clone takes no reference (a block mapped twice keeps count 1: the
 * first unmap frees it while the other file still maps it). */
DECLARE_TEST_SWITCH(vol_test_refcount_skip_inc);
/* Tests: mount does not check the counts against the extent maps (a volume
 * with wrong counts is used as it is: the damage they do shows). */
DECLARE_TEST_SWITCH(vol_test_refcount_no_check);

/* ---- clone.c ---- */
int vol_clone_range(struct store_inode *src, int64_t src_off, struct store_inode *dst,
		    int64_t dst_off, int64_t len);

/* ---- data.c ---- */
/* Cuts n to size < its size and sets it; a kept written block is copied
 * (the durable state keeps its bytes until the commit). 0 or -errno. */
int vs_truncate_blocks(struct vstore *vs, struct vnode *n, uint64_t size);
/* Tests: zero the cut tail in place before the commit (the old hazard). */
DECLARE_TEST_SWITCH(vol_test_truncate_in_place);
/* Tests: a write into a shared block goes in place (no copy-on-write: the
 * other files mapping it see the bytes). */
DECLARE_TEST_SWITCH(vol_test_cow_in_place);
/* Data blocks for a write: up to want near hint (reserved: blocks the
 * caller reserved, see reserve.c). Commits once to recover freed ones.
 * The count (*start set) or -errno. vs->lock held, not frozen. */
int64_t vs_alloc_data(struct vstore *vs, uint64_t want, uint64_t hint, uint64_t *start,
		      bool reserved);
/* Gives n one new block at file block 0 holding blk (symlinks). */
int vs_write_new_block(struct vstore *vs, struct vnode *n, const void *blk);
extern const struct store_ops vol_store_ops_data; /* the data half */

/* ---- reserve.c: delayed-allocation reservations (store_reserve) ---- */
/* Blocks that unreserved allocations (O_DIRECT writes, fallocate, writes of
 * blocks no one reserved) may take: free minus the commit reserve minus
 * every reservation. Caller holds vs->lock. */
uint64_t vs_unreserved_avail(const struct vstore *vs);
/* The run of file blocks from @lblk (at most @max) that are all reserved
 * (true) or all not (false); *len its length (>= 1). vs->lock held. */
bool vs_resv_run(const struct vnode *n, uint64_t lblk, uint64_t max, uint64_t *len);
/* The reserved blocks among [lblk, lblk+len) were allocated (@consumed)
 * or are no longer needed (released): they leave n's set and vs->resv; so
 * does their metadata charge, which for consumed blocks is held until the
 * next commit installs. vs->lock held. */
void vs_resv_drop(struct vstore *vs, struct vnode *n, uint64_t lblk, uint64_t len, bool consumed);
/* A commit installed: the metadata charge held for it goes (commit.c). */
void vs_resv_committed(struct vstore *vs);
/* Eviction: every reservation of n goes. */
void vs_resv_evict(struct vstore *vs, struct vnode *n);
/* Test switch: store_reserve reserves nothing (writeback finds space, as
 * before delayed allocation: the hazard test_enospc shows). */
DECLARE_TEST_SWITCH(vol_test_no_reserve);
int vol_reserve(struct store_inode *si, int64_t pos, int64_t len);
void vol_unreserve(struct store_inode *si, int64_t pos, int64_t len);

/* ---- backend.c ---- */
/* Opens @image with @flags and takes its exclusive flock: 0, -EBUSY, -errno. */
int vol_lock_image(const char *image, int flags, int *fdp);
/* Tests: stop the image device at its nth write from now (0: never); writes
 * so far; whether it stopped; commits so far. */
void vol_store_stop_at(struct store *s, long nth);
void vol_store_kill_at(struct store *s, long nth); /* raise(SIGKILL) before the nth write */
/* Fail only the nth write (kind 0), read (1) or flush (2) from now. */
void vol_store_fail_once(struct store *s, int kind, long nth);
unsigned long vol_store_writes(struct store *s);
unsigned long vol_store_flushes(struct store *s);
/* Model a volatile write cache from now (io.h): crash instead of the
 * crash_write-th write or the crash_flush-th flush from now (0: never),
 * keeping a seeded random part of the writes since the last flush; then
 * SIGKILL if kill. 0 or -ENOMEM. Call before the store is shared. */
int vol_store_wcache(struct store *s, uint64_t seed, long crash_write, long crash_flush, bool kill,
		     struct vol_wc_stats *stats);
int vol_store_dead(struct store *s);
unsigned long vol_store_commits(struct store *s);

/* data_io.c: the data I/O mode (VOL_DATA_IO_*, vol.h) once dio_fd is
 * known; a file-data write of @buf, @len at @off through the O_DIRECT fd
 * where the mode and alignment allow (always for a caller's O_DIRECT write,
 * @dio), else the buffered one. 0 or -errno, as vol_dev_pwrite. */
void vs_data_io_init(struct vstore *vs, int mode);
int vs_data_pwrite(struct vstore *vs, bool dio, const void *buf, size_t len, off_t off);
/* Tests: without the fallback a data write the host refuses (EINVAL) fails
 * (the hazard); the host refuses every direct data write; the host refuses
 * O_DIRECT at open (backend.c). */
DECLARE_TEST_SWITCH(vol_test_data_dio_no_fallback);
DECLARE_TEST_KNOB(bool, vol_test_data_dio_einval);
DECLARE_TEST_KNOB(bool, vol_test_odirect_refused);
DECLARE_TEST_KNOB(unsigned long, vol_test_host_fs_magic);

static inline struct vstore *VS(struct store *s)
{
	return (struct vstore *)s;
}

#endif

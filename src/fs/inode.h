/* SPDX-License-Identifier: MIT */
/*
 * inode.h - struct inode (one per backing file in use by an engine) and the
 * engine's inode table, keyed by the store inode's (dev, ino), so that every
 * open of one file shares one inode, one i_rwsem and one page cache.
 *
 * Lifetime: i_count counts the struct files using the inode (under the table
 * lock). The last iput() does not evict (the kernel's inode LRU): a file
 * that still has a name stays hashed with i_count 0 on the table's list of
 * unused inodes, with its pages (dirty ones are written by the background
 * writeback thread as any others; close does not wait for them), and its
 * writeback errors (errseq) for the next open to see. Reclaim takes its pages
 * like anyone's; the inode itself is evicted (prune, at each last iput) once
 * it is clean, has no unseen writeback error, and has no pages left or the
 * unused list is over its bound (each unused inode keeps a store handle: a
 * host fd). An open that finds an unused inode marks it I_REVAL and
 * revalidates it against the store (dir: another program may have changed
 * the host file; a clean inode whose store attributes moved since its last
 * close drops its pages) before handing it out. A file whose last name is
 * gone (unlink, rename over it, at the last iput) is evicted at once:
 * eviction marks it I_FREEING (still hashed, so an open of the same file
 * waits for it), writes it back (or, when the file has no name left,
 * discards its pages), destroys the mapping, releases the store inode,
 * unhashes it and wakes the waiters. Engine close evicts every unused inode
 * (writing it back). An unlinked file keeps working through its open store
 * inode until then.
 *
 * Pins: an O_PATH file of a regular file holds a pin on its object (dev,
 * ino), as its dentry holds the kernel's inode: a pinned file's inode is not
 * evicted when it loses its last name or its last open file, whether the
 * inode existed when the pin was taken or came later. It stays cached unused
 * with its pages (dirty ones written back by the writeback thread like any
 * others, so prune may then evict it: the store has the data), so a reopen
 * through the O_PATH fd, or a handle while it is pinned, finds the same
 * cache. The last unpin of a nameless file evicts it (its pages discarded).
 * Pins are counted per (dev, ino) in a hash of their own, since an O_PATH
 * file has no inode (a data handle would need read permission).
 *
 * Locks: i_rwsem (class "i_rwsem", outermost: docs/locking.md row 1);
 * "inode_hash_lock" (leaf mutex of the table: no I/O, no other lock inside).
 * The DIO count is an atomic with a wait queue (inode_dio_wait sleeps on it
 * holding i_rwsem exclusive, so no new DIO can start meanwhile).
 */
#ifndef PC_FS_INODE_H
#define PC_FS_INODE_H

#include <stdint.h>

#include "fs/locks.h"
#include "kernel/list.h"
#include "kernel/mutex.h"
#include "kernel/rwsem.h"
#include "kernel/wait.h"
#include "mm/filemap.h"
#include "store/store.h"
#include "kernel/testswitch.h"

/*
 * The largest file the engine allows (the kernel's s_maxbytes): 8 TiB. It is
 * below what ext4 (16 TiB with 4 KiB blocks), XFS and tmpfs accept, so a
 * write the engine acknowledges into the cache can always be written back
 * to a host file on those. Writes at or past it get -EFBIG, writes crossing
 * it are clipped; truncate and fallocate past it get -EFBIG.
 */
#define PC_MAX_FILE_SIZE (1ll << 43)

/* i_state */
#define I_FREEING 0x1 /* being written back and freed (or looked at by the last iput) */
#define I_REVAL	  0x2 /* unused, being taken back by an open: revalidating */
#define I_FORGET  0x4 /* lost a name while I_FREEING: the last iput looks again */

/* The bound on unused inodes (fs/inode_lru.c): as many as half the
 * process's open-file limit leaves room for, each keeping fds open (the
 * store's, store.inode_fds, and its frames memfd), between these two. */
#define INODE_UNUSED_MIN 128
#define INODE_UNUSED_CAP 16384

/* Test switches and knob (tests/api/test_icache.c):
 * - inode_test_no_revalidate: an open takes a cached unused inode back
 *   without comparing the store's attributes (a host file changed behind
 *   our back is then read from stale pages);
 * - inode_test_evict_unseen_error: prune evicts an inode whose writeback
 *   error nobody has seen yet (the report is then lost);
 * - inode_test_no_forget_recheck: a name lost while the last iput looked
 *   (I_FORGET) is not looked at again (the nameless inode stays cached);
 * - inode_test_opath_no_pin: pins are not looked at (the last close of a
 *   nameless file that an O_PATH fd still names discards its dirty pages,
 *   and a reopen through that fd reads what the store had);
 * - inode_test_stat_late_look: stat looks for the file's inode only after
 *   the store's attributes (an unused inode written back in between shows
 *   the store's old size);
 * - inode_test_unused_max: the bound on unused inodes (0: the table's
 *   unused_max, from the open-file limit);
 * - inode_test_no_shrink: an open that finds no file descriptor left does
 *   not evict unused inodes to free theirs (it fails with -EMFILE);
 * - inode_test_fd_budget_per_engine: each engine keeps its own bound only,
 *   not the process-wide fd budget (two engines then hold twice the fds);
 * - inode_test_keep_dirty_unused: dirty unused inodes are never evicted to
 *   free their fds (neither at a last close over the fd budget nor by the
 *   shrink of an open short of fds): closed files written faster than the
 *   writeback thread cleans them use up the process's fds;
 * - inode_test_coarse_time_always: a store through a view sets mtime and
 *   ctime to the coarse clock's time even when a write set them later with
 *   the precise clock (they then move back);
 * - inode_test_no_generation (tests/cluster/test_generation.c): the
 *   generation is left out of the inode table's key and of the glock's
 *   name: a file that got the number of another node's unlinked file is
 *   served by the dead file's cached inode (its size, pages and store
 *   handle) and shares its glock;
 * - inode_test_stat_any_generation (tests/cluster/test_generation.c): a
 *   stat by name that cannot open the file (cluster mode) takes the size
 *   and times of whichever cached inode has its number, also one of a dead
 *   file whose number the host gave to the name's file;
 * - inode_test_estale_named (tests/api/test_icache.c): the last iput and
 *   the forget after an unlink take -ESTALE from the inode's own store
 *   handle (a dead file on NFS) as "a name is left" for a clean inode
 *   too: the dead file's inode and pages stay cached until the next open
 *   of its number or the bound. */
DECLARE_TEST_SWITCH(inode_test_no_revalidate);
DECLARE_TEST_SWITCH(inode_test_coarse_time_always);
DECLARE_TEST_SWITCH(inode_test_opath_no_pin);
DECLARE_TEST_SWITCH(inode_test_stat_late_look);
DECLARE_TEST_SWITCH(inode_test_evict_unseen_error);
DECLARE_TEST_SWITCH(inode_test_no_forget_recheck);
DECLARE_TEST_SWITCH(inode_test_no_generation);
DECLARE_TEST_SWITCH(inode_test_stat_any_generation);
DECLARE_TEST_SWITCH(inode_test_estale_named);
DECLARE_TEST_KNOB(unsigned long, inode_test_unused_max);
DECLARE_TEST_SWITCH(inode_test_no_shrink);
DECLARE_TEST_SWITCH(inode_test_fd_budget_per_engine);
DECLARE_TEST_SWITCH(inode_test_keep_dirty_unused);

struct inode_table;
struct cluster;
struct glock;

struct inode {
	struct rw_semaphore i_rwsem; /* "i_rwsem" */
	long i_dio_count;	     /* atomic: direct I/Os in flight */
	struct wait_queue_head i_dio_wq;
	struct address_space i_data; /* the page cache; i_size lives in it */
	struct store_inode *i_store;
	/* Of the store inode: the table key. i_gen tells apart the files a
	 * host file system gave one number in turn (store_inode.gen; 0 where
	 * the store names none, always so for one engine alone). */
	uint64_t i_ino, i_dev, i_gen;
	unsigned i_blksize; /* host block size: collapse/insert alignment */
	/* Under i_rwsem exclusive: a truncate dropped pages but the store kept
	 * its old size (store error); the store must be resized before the
	 * file may grow again, or old store bytes would reappear. */
	bool i_store_size_stale;
	/* atomic: mtime and ctime (ns since the epoch) of the last write or
	 * truncate through the engine, 0 when the store's times are current;
	 * stat shows them over the store's (attr.c: inode_update_time). */
	int64_t i_mtime_ns, i_ctime_ns;
	struct inode_table *i_table;
	/* atomic, set once: the path of the first open (for messages about
	 * the file once it is gone), or NULL */
	char *i_name;
	struct file_lock_context i_flctx; /* flock and OFD locks (fs/locks.c) */
	/* Cluster mode: the inode's glock (fs/cluster.h), named (i_ino, i_gen); NULL
	 * for one engine alone (nolock). Set at allocation, put at free. */
	struct glock *i_gl;
	/* Cluster mode: the flock glock (fs/flock_glock.c), got at the first
	 * flock (atomic, set once); put at free. */
	struct glock *i_flock_gl;
	/* The store's attributes when the inode last went unused clean (written
	 * by the last iput, read by the reviver: I_FREEING and I_REVAL keep them
	 * apart). Not valid: the inode was dirty then. */
	bool i_stamp_valid;
	struct timespec i_stamp_mtime, i_stamp_ctime;
	int64_t i_stamp_size;
	uint64_t i_stamp_ino;

	/* under the table lock */
	unsigned i_count;
	unsigned i_state;
	unsigned long i_unused_va; /* address space its frames reserve, while unused */
	struct list_head i_hash;
	struct list_head i_lru; /* in the table's unused list while i_count == 0 */
};

struct inode_table {
	struct mutex lock; /* "inode_hash_lock" (leaf) */
	struct list_head *buckets;
	unsigned nbuckets;
	unsigned long nr_inodes;
	/* bumped (under lock) each time an inode is unhashed, or leaves the
	 * I_FREEING / I_REVAL state */
	uint64_t evict_seq;
	struct list_head *pin_buckets; /* struct inode_pin, same hash as inodes */
	struct list_head unused;       /* i_count 0, hashed, not I_FREEING: oldest first */
	unsigned long nr_unused;
	unsigned long unused_max; /* the bound on nr_unused (inode_unused_bound), set at init */
	unsigned long fd_budget;  /* host fds the unused inodes of all engines may hold */
	unsigned long va_budget;  /* address space they may reserve (ULONG_MAX: no RLIMIT_AS) */
	/* atomics: direct I/O slow paths (fs/direct.c), for pc_get_stats */
	uint64_t dio_retries, dio_dropped, dio_bounced;
	struct wait_queue_head evict_wq;
	struct store *store;
	struct mm_cache *cache;
	/* under the lock: files whose eviction could not write their dirty
	 * data back (it is lost), newest first, for pc_engine_close_report */
	struct inode_unwritten *unwritten;
	unsigned long nr_unwritten;
	/* Cluster mode (fs/cluster.c): the lock module instance, NULL alone;
	 * set before the first inode. inval_notify (a FUSE mount's kernel
	 * cache, NULL: none) is told the store inode number of a file whose
	 * cached pages another node made stale. */
	struct cluster *cluster;
	void (*inval_notify)(void *arg, uint64_t ino);
	void *inval_arg;
	/* fs/posix_locks.c: the POSIX lock requests of this engine asleep on
	 * a local conflict (F_SETLKW), for the deadlock check; under
	 * posix_blocked_lock ("posix_blocked_lock", a leaf). */
	struct mutex posix_blocked_lock;
	struct list_head posix_blocked;
};

/* The O_PATH files of one regular file (see Pins above). Under the table lock. */
struct inode_pin {
	struct list_head p_hash;
	uint64_t p_dev, p_ino;
	unsigned long p_count;
};

/* The bucket of (@dev, @ino) in the inode and pin hashes. */
static inline unsigned inode_hashfn(const struct inode_table *t, uint64_t dev, uint64_t ino)
{
	uint64_t h = (ino ^ (dev * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;

	return (unsigned)(h >> 32) & (t->nbuckets - 1);
}

struct inode_unwritten {
	struct inode_unwritten *next;
	int err;
	char name[]; /* i_name, or "" */
};

int inode_table_init(struct inode_table *t, struct store *s, struct mm_cache *c);
/* Every inode must be gone. Frees the unwritten list. */
void inode_table_destroy(struct inode_table *t);
/* Records @path as the inode's name if it has none yet (no lock needed). */
void inode_set_name(struct inode *inode, const char *path);

/*
 * The inode of the open store file @si (consumed: kept by a new inode, or
 * released when the file already has one). Waits for an I_FREEING inode of
 * the same file to go. Takes the table lock (not held on return); called
 * with no lock held. 0 or -errno (-ENOMEM, store errors).
 */
int iget_store(struct inode_table *t, struct store_inode *si, struct inode **out);
/*
 * store_node_open for the engine's own opens: where the process has no file
 * descriptor left for it (-EMFILE, -ENFILE), evicts up to
 * INODE_SHRINK_BATCH of the oldest unused inodes (their host fds and frames
 * memfd close: the kernel's inode shrinker, asked when a resource runs
 * short) and tries once more; iget_store does the same for the new inode's
 * frames memfd. No lock held.
 */
#define INODE_SHRINK_BATCH 64
int inode_store_open(struct inode_table *t, struct store_node *n, int flags,
		     struct store_inode **out);
/* Evicts up to @nr of the oldest unused inodes, whatever the bound: clean
 * ones, or where none is, dirty ones, written back as they go (evict: a
 * failed write-back is reported at engine close, as for any eviction);
 * never one with a write-back error no file has seen. True if any went.
 * No lock held. */
bool inode_table_shrink(struct inode_table *t, unsigned long nr);

/* Inside fs/ (inode.c, inode_lru.c): the cache of unused inodes. */
unsigned long inode_fd_budget(const struct store *s);
unsigned long inode_va_budget(void);
unsigned long inode_unused_bound(const struct store *s);
/* Under the table lock: @t's unused list gained or lost @inode. */
void inode_unused_add(struct inode_table *t, struct inode *inode);
void inode_unused_del(struct inode_table *t, struct inode *inode);
/* At a last close: evicts the oldest clean unused inodes over the bound (or
 * over the process's fd or address-space budget), then, still over budget,
 * the oldest dirty ones, written back; the first error of the clean ones'
 * evictions. No lock held. */
int inode_prune(struct inode_table *t);
/* Writes back (or, @unlinked, discards) and frees an inode taken off the
 * unused list and marked I_FREEING; an error of the write-back. No lock
 * held. */
int evict_and_free(struct inode *inode, bool unlinked);
/* Drops a reference. The last one keeps the inode cached unused (see
 * above) and returns 0, or evicts a file with no name left; the error of an
 * eviction (prune included) is returned: the caller must pass it on, and
 * when writing the data back failed the data is lost (the file is added to
 * the table's unwritten list). Called with no lock held. */
int iput(struct inode *inode);
/* The file (@dev, @ino) lost a name (unlink, rename over it): if its inode
 * is cached unused and the file has no name left, evict it now. No lock
 * held. */
void inode_table_forget(struct inode_table *t, uint64_t dev, uint64_t ino);
/* An O_PATH file of the regular file (@dev, @ino) is made (pin) or goes
 * (unpin). inode_pin: 0 or -ENOMEM. The last unpin of a file with no name
 * left evicts its unused inode (inode_table_forget). No lock held. */
int inode_pin(struct inode_table *t, uint64_t dev, uint64_t ino);
void inode_unpin(struct inode_table *t, uint64_t dev, uint64_t ino);
/* Whether an O_PATH file still names (@dev, @ino). Takes the table lock. */
bool inode_pinned(struct inode_table *t, uint64_t dev, uint64_t ino);
/* Engine close: evicts every unused inode, writing it back. Returns the
 * first error met, or an unseen writeback error of one of them, else 0. */
int inode_table_evict_all(struct inode_table *t);
/* syncfs: writes back and waits for every cached inode of @t, unused ones
 * included, and syncs its store inode (each referenced in turn, under no
 * lock). The first error, or 0. The table lock (leaf) only to take the
 * references. */
int sync_inodes(struct inode_table *t);
/* Inside fs/inode*.c, under the table lock: an inode of (@dev, @ino), any
 * generation, the newest first (inodes are added at the head of their
 * chain); and the inode of (@dev, @ino, @gen), where with @stale an unused
 * inode of (@dev, @ino) with another generation, if any, is left in
 * *@stale: a dead file (a host file system gave its number to a new one,
 * cluster mode) for the caller to evict. */
struct inode *find_inode(struct inode_table *t, uint64_t dev, uint64_t ino);
struct inode *find_inode_gen(struct inode_table *t, uint64_t dev, uint64_t ino, uint64_t gen,
			     struct inode **stale);
/* stat(2) of a store node (fs/inode_stat.c): the store's attributes, with the size and times
 * of the file's inode when it is in use, being evicted, or dirty, before or
 * after the store was asked (dirty data may extend it; an inode being
 * evicted still has the right size). No lock held by the caller. */
int inode_table_stat(struct inode_table *t, struct store_node *node, struct stat *st);

static inline struct inode *mapping_inode(struct address_space *m)
{
	return container_of(m, struct inode, i_data);
}

/* ---- i_rwsem ---- */

static inline void inode_lock(struct inode *inode)
{
	down_write(&inode->i_rwsem);
}
static inline bool inode_trylock(struct inode *inode)
{
	return down_write_trylock(&inode->i_rwsem);
}
static inline void inode_unlock(struct inode *inode)
{
	up_write(&inode->i_rwsem);
}
static inline void inode_lock_shared(struct inode *inode)
{
	down_read(&inode->i_rwsem);
}
static inline bool inode_trylock_shared(struct inode *inode)
{
	return down_read_trylock(&inode->i_rwsem);
}
static inline void inode_unlock_shared(struct inode *inode)
{
	up_read(&inode->i_rwsem);
}

/* ---- direct I/O in flight ---- */

/* Caller holds i_rwsem (either mode). */
static inline void inode_dio_begin(struct inode *inode)
{
	__atomic_fetch_add(&inode->i_dio_count, 1, __ATOMIC_SEQ_CST);
}
void inode_dio_end(struct inode *inode);
/* Sleeps until no DIO is in flight. Caller holds i_rwsem exclusive. */
void inode_dio_wait(struct inode *inode);

/* ---- size changes (attr.c) ---- */

/*
 * Sets the file size to @newsize through the H1 protocol (docs/design.md §7.2):
 * inode_dio_wait -> BLOCK -> write back the partial EOF page -> i_size and
 * page cache -> store -> drop BLOCK. Shrinking zeroes the tail of the new
 * EOF page; growing leaves zeroes. Caller holds i_rwsem exclusive and checked
 * @newsize (0 <= newsize <= PC_MAX_FILE_SIZE). 0 or -errno.
 */
int do_truncate(struct inode *inode, int64_t newsize);
/* If a failed truncate left the store longer than i_size, resize it now.
 * Caller holds i_rwsem exclusive. 0 or -errno. */
int inode_sync_store_size(struct inode *inode);
/* The store's size is carried by the EOF page until it is written back
 * (the dir store has no size of its own beyond its host file's): after
 * dropping pages up to EOF unwritten (punch, zero range), make the store
 * span i_size again. Caller holds i_rwsem exclusive. 0 or -errno. */
int store_cover_isize(struct inode *inode);
/* file_update_time: the write or truncate happening now sets mtime and
 * ctime (engine-side until the store's are set explicitly). No lock. */
void inode_update_time(struct inode *inode);
/* The same for page_mkwrite (a first store through a shared view, per
 * page): the coarse clock, never moving a time back that a write set with
 * the precise clock, and nothing written while unchanged (attr.c). No lock. */
void inode_update_time_coarse(struct inode *inode);
/* fstat of an open file: the store's attributes with the inode's size and
 * times (under SH in cluster mode). No lock held. */
int inode_getattr(struct inode *inode, struct stat *st);
/* Overlays the engine-side times of @inode on the store's attributes @st. */
void inode_fill_times(struct inode *inode, struct stat *st);
/* Forgets the engine-side times (the store's are current again). */
void inode_clear_times(struct inode *inode);

/* When @pos is not page-aligned, writes back the page containing it: the
 * partial edge page of a range starting or ending at @pos (docs/design.md §7.2).
 * 0 or -errno. */
int write_back_edge_page(struct address_space *m, int64_t pos);

#endif

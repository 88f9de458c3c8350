/* SPDX-License-Identifier: MIT */
/*
 * file.h - struct file (one per open), struct kiocb (one I/O request), and
 * the fs layer's file operations: buffered and direct read/write iterators,
 * fsync, llseek, fadvise, fallocate, ftruncate.
 *
 * A file is reference counted: the engine's fd table holds one reference
 * and every call in flight on the fd holds another, so a close racing a
 * read frees the file only when the read is done (the kernel's fget/fput).
 * The fd table's lookup takes its reference without a lock, under RCU
 * (get_file_unless_zero), so the struct itself is freed after a grace
 * period; what the last fput releases (inode, node) goes at once.
 * The last fput drops the inode (iput), which may evict it, and the
 * store node every file holds (f_node: the object the fd names, also once
 * it has no name left).
 *
 * Locks: "f_pos_lock" (per-file leaf mutex) guards f_pos, f_wb_err and the
 * directory cookie; it is never held across I/O, a user copy or another
 * lock, so concurrent read()s on one fd may both start from the same f_pos
 * (unlike Linux, which holds f_pos_lock across the call). Each operation
 * below says which inode locks it takes; none is held on entry.
 */
/*
 * Race windows of this layer (sched_race_window names, for hazard tests):
 *   "punch: pages dropped, store not yet updated"        BLOCK held
 *   "zero range: pages dropped, store not yet updated"   BLOCK held
 *   "collapse: pages dropped, store not yet updated"     BLOCK held
 *   "insert: pages dropped, store not yet updated"       BLOCK held
 *   "truncate: pages dropped, store not yet updated"     BLOCK held
 *   "dio write: range invalidated, store not yet written" BLOCK held
 *   "evict: inode freeing, not yet written back"         nothing held
 *   "iput: attributes read, not yet unused"               nothing held
 *   "iget: unused inode taken back, not revalidated"      nothing held
 *   "iget: size sampled, inode not yet hashed"           nothing held
 *   "stat: store attributes read, inode not yet looked at" nothing held
 *   "remap: both ranges written back and fenced"         both BLOCKs held
 *   "dedupe: both pages uptodate, not yet compared"      both BLOCKs held
 *   "remap: destination pages dropped, store not yet remapped" both BLOCKs
 */
#ifndef PC_FS_FILE_H
#define PC_FS_FILE_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "fs/inode.h"
#include "kernel/mutex.h"
#include "mm/errseq.h"
#include "mm/filemap.h"
#include "mm/iov_iter.h"
#include "kernel/testswitch.h"

#define FMODE_READ  0x1
#define FMODE_WRITE 0x2
#define FMODE_PATH  0x4 /* O_PATH: names the object, no I/O (fdget refuses it) */

struct file_flock;

struct file {
	struct store_node *f_node;	 /* the object (a reference): every file */
	struct inode *f_inode;		 /* regular files opened for I/O; else NULL */
	struct address_space *f_mapping; /* &f_inode->i_data */
	unsigned f_mode;		 /* FMODE_* */
	int f_flags;			 /* open flags: O_APPEND, O_DIRECT, O_SYNC, ... */
	long f_count;			 /* atomic */
	struct mutex f_pos_lock;	 /* "f_pos_lock" (leaf) */
	int64_t f_pos;			 /* files: offset; directories: readdir cookie */
	errseq_t f_wb_err;		 /* writeback errors reported to this file so far */
	struct file_ra_state f_ra;
	bool f_has_locks; /* atomic: took a flock/OFD lock once (fs/locks.c) */
	/* atomic: cluster mode, byte-range locks set through it were lost
	 * with the node's session: I/O through it fails -EIO until its last
	 * close (posix_locks_fence) */
	bool f_locks_lost;
	/* Cluster mode: the flock glock's holder of this open file, made at
	 * its first flock (fs/flock_glock.c); NULL before */
	struct file_flock *f_flock;
	/* O_PATH file of a regular file: the table it holds a pin in (the
	 * object's inode is kept for it, fs/inode.h), else NULL */
	struct inode_table *f_pin_table;
	struct mm_rcu_head f_rcu; /* the deferred free after the last fput */
};

/* Regular file on @inode (the file takes over the caller's inode
 * reference and takes its own of the store node); @flags: the open flags.
 * NULL on ENOMEM. */
struct file *alloc_file(struct inode *inode, int flags);
/* A directory (@fmode FMODE_READ) or O_PATH (FMODE_PATH) file on @node,
 * taking over the caller's node reference. NULL on ENOMEM (the reference
 * is then still the caller's). */
struct file *alloc_node_file(struct store_node *node, int flags, unsigned fmode);
/* An O_PATH file on @node (flags masked to what O_PATH keeps), taking over
 * the caller's node reference on success; a regular file's pins its inode
 * in @t (inode_pin) until the last fput. 0, or -ENOMEM (the reference is
 * then still the caller's). */
int alloc_path_file(struct inode_table *t, struct store_node *node, int flags, struct file **out);

/* A directory opened for reading. Only meaningful for files fdget gave
 * (not O_PATH ones, which have no f_inode either). */
static inline bool file_is_dir(const struct file *f)
{
	return f->f_inode == NULL;
}
static inline void get_file(struct file *f)
{
	__atomic_fetch_add(&f->f_count, 1, __ATOMIC_RELAXED);
}
/* A reference on a file found under RCU whose last reference may be going:
 * false if it already went (the file is being freed). */
static inline bool get_file_unless_zero(struct file *f)
{
	long c = __atomic_load_n(&f->f_count, __ATOMIC_RELAXED);

	do {
		if (!c)
			return false;
	} while (!__atomic_compare_exchange_n(&f->f_count, &c, c + 1, true, __ATOMIC_ACQUIRE,
					      __ATOMIC_RELAXED));
	return true;
}
/* Drops a reference; the last frees the file and iputs the inode, and
 * returns the error of that eviction's writeback (0 otherwise). */
int fput(struct file *f);

static inline int64_t file_pos_read(struct file *f)
{
	int64_t pos;

	mutex_lock(&f->f_pos_lock);
	pos = f->f_pos;
	mutex_unlock(&f->f_pos_lock);
	return pos;
}
static inline void file_pos_write(struct file *f, int64_t pos)
{
	mutex_lock(&f->f_pos_lock);
	f->f_pos = pos;
	mutex_unlock(&f->f_pos_lock);
}

/* ---- one I/O request ---- */

#define IOCB_APPEND 0x01
#define IOCB_DIRECT 0x02
#define IOCB_DSYNC  0x04
#define IOCB_SYNC   0x08
#define IOCB_NOWAIT 0x10

struct kiocb {
	struct file *ki_filp;
	int64_t ki_pos; /* advanced by the I/O */
	int ki_flags;	/* IOCB_* */
};

/* Flags from the file's open flags. */
void init_sync_kiocb(struct kiocb *iocb, struct file *f, int64_t pos);
/* Applies preadv2/pwritev2 RWF_* flags: -EOPNOTSUPP for unknown ones. */
int kiocb_set_rw_flags(struct kiocb *iocb, int rwf);

/* Reads/writes that move more are cut to this (the kernel's MAX_RW_COUNT). */
#define MAX_RW_COUNT ((size_t)0x7ffff000)

/*
 * Read at iocb->ki_pos. Buffered: filemap_read with no lock (policy xfs:
 * i_rwsem shared). Direct: see direct_read. Returns bytes read or -errno;
 * advances ki_pos.
 */
ssize_t generic_file_read_iter(struct kiocb *iocb, struct iov_iter *iter);
/*
 * Write at iocb->ki_pos (append: at i_size). Takes i_rwsem exclusive
 * (NOWAIT: trylock, else -EAGAIN); generic_write_checks; buffered
 * (generic_perform_write) or direct; then the O_SYNC/RWF_DSYNC flush.
 * Returns bytes written or -errno; advances ki_pos.
 */
ssize_t generic_file_write_iter(struct kiocb *iocb, struct iov_iter *iter);

/* Position checks and count clipping of a write, after the append position
 * is fixed (caller holds i_rwsem exclusive). Returns the count to write
 * (0: nothing) or -EFBIG / -EINVAL. */
ssize_t generic_write_checks(struct kiocb *iocb, size_t count);

/* ---- direct I/O (direct.c) ---- */

/* Needs i_rwsem shared: writes back the range, then reads the store
 * straight into the user buffers. Alignment: pos, lengths and buffer
 * addresses multiples of the store's dio_align, else -EINVAL. */
ssize_t direct_read(struct kiocb *iocb, struct iov_iter *iter);
/* Caller holds i_rwsem exclusive and did generic_write_checks: DIO count,
 * BLOCK, write back + invalidate, store write, i_size. Same alignment. */
ssize_t direct_write(struct kiocb *iocb, struct iov_iter *iter);
/* A write inside i_size (not O_APPEND) under i_rwsem shared, taken here;
 * -ENOTBLK: it must take the exclusive path (extending, or a buffered
 * fallback). Same checks and alignment. @span: the bytes written (for the
 * O_DSYNC sync: fs/cluster.h glock_io_rounds). */
struct io_span;
ssize_t direct_write_shared(struct kiocb *iocb, struct iov_iter *iter, struct io_span *span);
/* Test switch (H6): the DIO ignores what the fault rule told it (the
 * restart and bounce bits) and sees only how much of its buffer came in:
 * a refused or dropped fault-in reads as a bad address, -EFAULT. */
DECLARE_TEST_SWITCH(dio_test_restart_as_efault);
/* Test knob: called by an O_DIRECT read after each store read that moved
 * bytes (@len of them into @buf, from file offset @pos), before its pages
 * are re-dirtied (i_rwsem shared and the DIO count held; test_dio_redirty
 * runs writeback of a viewed file there, as if it had run during the
 * store read). */
typedef void (*dio_read_hook_fn)(void *buf, size_t len, int64_t pos);
DECLARE_TEST_KNOB(dio_read_hook_fn, dio_test_after_store_read);

/* ---- the rest of the file operations ---- */

/* Writes back [start, end], reports this file's unseen writeback error
 * once (errseq), syncs the store. A directory: 0 (see vfs_fsync_dir). No
 * inode lock. */
int vfs_fsync_range(struct file *f, int64_t start, int64_t end, bool datasync);
/* fsync of a directory file: store_node_sync_dir of its node, so that
 * every change of its entries so far is durable. */
int vfs_fsync_dir(struct file *f);
/* Tests: directory fsync returns 0 and syncs nothing (the old behaviour: a
 * crash after it loses the names it was to make durable). */
DECLARE_TEST_SWITCH(fsync_test_dir_noop);
/* close(2)'s flush, as NFS's: writes the file's dirty pages back and
 * reports, once, a writeback error this file was not told of yet (errseq,
 * as fsync does); makes nothing durable (no store sync). 0 for a directory
 * or a file not open for writing. No inode lock. */
int vfs_flush(struct file *f);
/* SEEK_SET/CUR/END/DATA/HOLE; DATA/HOLE take i_rwsem shared, write the
 * range back and ask the store's map. Returns the new offset or -errno. */
int64_t generic_file_llseek(struct file *f, int64_t offset, int whence);
/* POSIX_FADV_*: readahead, writeback + invalidation, or the readahead
 * window. No inode lock (WILLNEED fills under ADD inside mm). */
int generic_fadvise(struct file *f, int64_t offset, int64_t len, int advice);
/* fallocate(2) (fallocate.c): every check and mode; i_rwsem exclusive. */
int vfs_fallocate(struct file *f, int mode, int64_t offset, int64_t len);
/* ftruncate(2) (attr.c): checks, then do_truncate under i_rwsem exclusive. */
int do_ftruncate(struct file *f, int64_t length);

#endif

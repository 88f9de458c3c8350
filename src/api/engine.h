/* SPDX-License-Identifier: MIT */
/*
 * engine.h - the engine behind the public API (private to src/api): its
 * store, page cache, inode table and fd table.
 *
 * The fd table maps small integers to struct file references. Slots are
 * reused lowest-first, as POSIX requires of open(). fdget() takes a
 * reference without a lock (the kernel's files_struct: the slot array is
 * published under RCU, the reference taken with get_file_unless_zero and
 * the slot re-checked) and the call drops it with fput() when done, so a
 * pc_close() racing a call on the same fd only removes the slot; the file
 * lives until the call finishes.
 *
 * Locks: "fd_table_lock" (leaf mutex) around slot updates (install,
 * remove, growth); no I/O and no other lock inside it. Lookups take none.
 */
#ifndef PC_API_ENGINE_H
#define PC_API_ENGINE_H

#include "cluster/glock.h"
#include "fs/file.h"
#include "fs/inode.h"
#include "fs/namei.h"
#include "kernel/mutex.h"
#include "mm/filemap.h"
#include "pagecache.h"
#include "store/store.h"

/* Largest number of fds one engine hands out (then -EMFILE). */
#define PC_NR_OPEN_MAX (1u << 20)

struct fdt_array; /* the slots (fdtable.c) */

struct fdtable {
	struct mutex lock;     /* "fd_table_lock" (leaf) */
	struct fdt_array *fdt; /* RCU-published; replaced (grown) under lock */
	unsigned next_fd;      /* under lock: no free slot below this */
};

struct pc_engine {
	struct store *store;
	struct mm_cache cache;
	struct inode_table itable;
	struct fdtable fdt;
	/* atomic: the first writeback error of an eviction that no call could
	 * return (the last reference was dropped by a read racing a close):
	 * pc_engine_close returns it. */
	int unreported_err;
	int fault_mechanism;	 /* enum pc_fault_mechanism (src/api/mmap.c) */
	struct cluster *cluster; /* cluster mode (fs/cluster.h), NULL alone */
	bool vol;		 /* the store is vol (its commit counts, the periodic commit) */
};

/*
 * A call on @e runs in this thread: its lock sleeps count for @e
 * (pc_get_stats). ENGINE_ENTER(e), the first statement of every public call
 * taking an engine, points the thread's lock sink at @e for the call and
 * puts the previous one back on every return (a cleanup variable), so a
 * sink never outlives its call - the engine may be closed afterwards.
 */
static inline struct lock_sink *engine_enter(struct pc_engine *e)
{
	struct task *t = current;
	struct lock_sink *old = t->lock_sink;

	t->lock_sink = e ? &e->cache.lock_stats : NULL;
	return old;
}

static inline void engine_leave(struct lock_sink **old)
{
	current->lock_sink = *old;
}

#define ENGINE_ENTER(e) \
	struct lock_sink *__engine_old_sink __attribute__((cleanup(engine_leave))) = engine_enter(e)

/* The smallest layouts accepted: struct pc_options of version 1 (every
 * field through fault_mechanism), struct pc_stats with its first counter. */
#define PC_OPTIONS_SIZE_V1 (offsetof(struct pc_options, fault_mechanism) + sizeof(int))
#define PC_STATS_SIZE_V0   sizeof(uint64_t)

/* Copies a caller's struct of @usize bytes into @dst (@ksize bytes): see
 * engine.c. 0, -EINVAL (@usize < @min) or -E2BIG. */
int copy_struct_in(void *dst, size_t ksize, const void *src, size_t usize, size_t min);

/* Unmaps every view pc_mmap made on @e (pc_engine_close, before the files
 * go): src/api/mmap.c. */
void pc_munmap_all(struct pc_engine *e);

/* fput() for a file the caller got from fdget (or never installed): an
 * eviction error it cannot return is kept for pc_engine_close. */
void fdput(struct pc_engine *e, struct file *f);
/* The same for an inode reference. */
void iput_engine(struct pc_engine *e, struct inode *inode);

void fdtable_init(struct fdtable *t);
void fdtable_destroy(struct fdtable *t);
/* Installs @f (taking over the caller's reference) in the lowest free slot.
 * Returns the fd, or -EMFILE / -ENOMEM. */
int fd_install(struct fdtable *t, struct file *f);
/* The file of @fd with a reference taken, or NULL (unknown, closed, < 0,
 * or an O_PATH file: the calls that do I/O on an fd refuse those, EBADF). */
struct file *fdget(struct fdtable *t, int fd);
/* fdget that also gives O_PATH files (the kernel's fdget_raw): for the
 * calls that only name the object (fstat, *at dirfds, attributes, dup). */
struct file *fdget_raw(struct fdtable *t, int fd);
/* Test switch: fdget keeps a reference it took without re-checking that
 * the slot still held the file (test_api_basic: a call on an fd closed and
 * reused for another file then works on the closed file). */
DECLARE_TEST_SWITCH(fdtable_test_no_recheck);

/* ---- names (namei_at.c) ---- */

/* The node a walk of @path starts from: the root for PC_AT_ROOT or a path
 * starting with '/', else @dirfd's node (-EBADF; -ENOTDIR when @path is
 * not empty and @dirfd is not a directory). An empty @path is -ENOENT
 * unless @empty_ok. A new reference. */
int at_start(struct pc_engine *e, int dirfd, const char *path, bool empty_ok,
	     struct store_node **out);
/* at_start then the walk: the node @path names (@empty_ok: "" names @dirfd's
 * object itself). */
int at_lookup(struct pc_engine *e, int dirfd, const char *path, bool empty_ok,
	      struct store_node **out);
/* The old path calls' contract (a path relative to the store root): 0, or
 * -EFAULT (NULL), -EINVAL (absolute, or ".." leaving the root). */
int root_path_check(const char *path);
/* Installs @f (consumed) in the fd table: the fd, or -EMFILE / -ENOMEM. */
int install_file(struct pc_engine *e, struct file *f);
/* Empties slot @fd and returns the table's reference, or NULL. */
struct file *fd_remove(struct fdtable *t, int fd);
/* Empties the lowest used slot at or after *fd and returns its reference
 * (*fd set to it), or NULL when none is left. */
struct file *fd_remove_next(struct fdtable *t, int *fd);

/* ---- attributes in cluster mode (attr.c) ---- */

/* The glock a change of a node's attributes holds (cluster mode, a regular
 * file): EX on its inode, opened for the call when the caller has none. */
struct attr_glock {
	struct inode *inode; /* the caller's, or opened here (own); NULL: none */
	bool own;
	bool held;
	struct gholder gh;
};
/* Takes EX of @n's glock when the engine is in cluster mode and @n is a
 * regular file (@inode: the caller's inode of @n, or NULL); with
 * @want_inode, the inode is opened whenever @n is a regular file. 0, or
 * the glock's error (-EIO: membership lost). Release with attr_glock_put
 * whatever it returned. No lock held on entry; the glock is the first. */
int attr_glock_get(struct pc_engine *e, struct store_node *n, struct inode *inode, bool want_inode,
		   struct attr_glock *l);
void attr_glock_put(struct pc_engine *e, struct attr_glock *l);

#endif

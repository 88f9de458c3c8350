/* SPDX-License-Identifier: MIT */
/*
 * pagecache.h - the public C API of libpagecache (see libpagecache(7) and
 * the section-3 pages of every call).
 *
 * An engine serves one store - a host directory (the "dir" store) or a vol
 * image (pagecache's own copy-on-write, journaled volume format, in a file or
 * a block device) - and gives its files the Linux VFS semantics through a
 * page cache: buffered I/O with readahead and writeback, direct I/O,
 * truncate and fallocate, fsync, shared and private mappings. Files are named
 * by paths relative to the store root and used through integer file
 * descriptors private to the engine.
 *
 * Platform: Linux on x86-64 only (the fault-safe user copy is x86-64
 * assembly; mappings use userfaultfd or mprotect + SIGSEGV).
 *
 * Headers: this header compiles alone under any C standard from C11 and as
 * C++. The flag values the calls take are Linux's own: O_* from <fcntl.h>
 * (O_DIRECT needs _GNU_SOURCE), RWF_* from <sys/uio.h> (_GNU_SOURCE),
 * FALLOC_FL_* from <linux/falloc.h>, POSIX_FADV_* from <fcntl.h>, PROT_*,
 * MAP_*, MS_* and MADV_* from <sys/mman.h> (MADV_POPULATE_* need
 * _DEFAULT_SOURCE and glibc >= 2.35, or <linux/mman.h>), RENAME_* from
 * <stdio.h> (_GNU_SOURCE) or <linux/fs.h>, LOCK_* from <sys/file.h>,
 * F_OFD_* from <fcntl.h> (_GNU_SOURCE), UTIME_* from <sys/stat.h>.
 *
 * Error contract: every call returns what the kernel's equivalent returns -
 * a count or 0 on success, or a negative errno (-EBADF, -EINVAL, -EFAULT,
 * -EAGAIN for RWF_NOWAIT, -ENOSPC, -EFBIG, -EIO, -EISDIR, -ENOTDIR, -ENOENT,
 * -EEXIST, ...). errno itself is never set. Writeback errors are reported
 * once to every open file descriptor (errseq semantics) by fsync/fdatasync
 * and pc_flush (FUSE: close), never dropped.
 *
 * Threads: calls on an open engine may be made from any thread at the same
 * time (the library keeps per-thread state, freed when the thread exits).
 * pc_engine_open and pc_engine_close are the exceptions: no other call on
 * the same engine may run while pc_engine_close runs or after it (the engine
 * is freed: that is a use-after-free, as close(2) racing read(2) on the same
 * number is a bug in a program). Different engines are independent.
 *
 * Signals (libpagecache(7), SIGNALS): the first pc_engine_open installs
 * process-wide SIGSEGV and SIGBUS handlers (SA_SIGINFO | SA_ONSTACK |
 * SA_NODEFER). They serve the faults of views (pc_mmap) and of the fault-safe
 * copies, and pass every other signal to the handler that was installed
 * before them (or the default action). A handler the application installs
 * later must call pc_handle_signal() first. A thread that blocks SIGSEGV or
 * SIGBUS cannot take a fault the library could serve: the kernel kills the
 * process instead. The library notices such a mask at a thread's first call
 * and at every pc_mmap: that thread's copies then run without signals (a bad
 * pointer gives -EFAULT) and pc_mmap refuses with -EDEADLK; a view touched
 * by such a thread kills the process (undetectable).
 *
 * Growing structs (ABI): struct pc_options and struct pc_stats may grow at
 * their ends in later releases. The caller says which layout it was built
 * with - pc_options.size = sizeof(struct pc_options) (PC_OPTIONS_INIT does
 * it), and the size argument of pc_get_stats - the way Linux's openat2(2)
 * and clone3(2) take struct sizes: the library reads or writes only that
 * many bytes, treats a missing tail as zero (the defaults), and refuses a
 * larger struct with -E2BIG unless its unknown tail is zero. A size field
 * was chosen over an init function because the struct can then stay a plain
 * designated initializer on the stack and the check is visible at the call.
 */
#ifndef PAGECACHE_H
#define PAGECACHE_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The release this header belongs to; pc_version() gives the library's. */
#define PC_VERSION_MAJOR  0
#define PC_VERSION_MINOR  1
#define PC_VERSION_PATCH  0
#define PC_VERSION_STRING "0.1.0"
/* MAJOR * 10000 + MINOR * 100 + PATCH, for #if tests. */
#define PC_VERSION_NUMBER (PC_VERSION_MAJOR * 10000 + PC_VERSION_MINOR * 100 + PC_VERSION_PATCH)

/* Exported functions (the library is built with hidden visibility). */
#if defined(__GNUC__)
#define PC_API __attribute__((visibility("default")))
#else
#define PC_API
#endif

/* The version string of the library running ("0.1.0"): may be newer than
 * PC_VERSION_STRING of the header a program was built with. */
PC_API const char *pc_version(void);

struct pc_engine;

/* Locking policy for page-cache fills (docs/design.md §5). */
enum pc_lock_policy {
	PC_POLICY_TWO_STATE = 0,   /* default: ADD/BLOCK invalidate lock */
	PC_POLICY_XFS = 1,	   /* buffered reads also take i_rwsem shared, as XFS does */
	PC_POLICY_NONE_UNSAFE = 2, /* UNSAFE: no fencing of fills (hazard tests, benchmarks) */
};

struct pc_options {
	size_t size;		 /* sizeof(struct pc_options) (see "Growing structs") */
	const char *store_dir;	 /* host directory served by the "dir" store, or */
	const char *store_image; /* vol image file or block device (exactly one of the two) */
	size_t mem_limit;	 /* bytes of cached pages; 0 = 256 MiB */
	size_t readahead_max;	 /* largest readahead window in bytes; 0 = 128 KiB (page
				  * faults on views: the store device's readahead size,
				  * at most 8 MiB and 1/16 of mem_limit, as the kernel's
				  * mmap read-around uses the device's) */
	unsigned writeback_interval_ms; /* background writeback period; 0 = 5000 */
	size_t dirty_background;	/* start background writeback above; 0 = 10% of mem_limit */
	size_t dirty_limit;		/* throttle writers above; 0 = 20% of mem_limit */
	enum pc_lock_policy policy;
	int fault_mechanism; /* enum pc_fault_mechanism: how views fault; 0 = AUTO */
	/* Durability bounds (what a crash of the process can lose):
	 * commit_interval_ms: vol store: whatever changed is committed this
	 *   often (jbd2's commit interval); 0 = 5000. Names, attributes and
	 *   data written back are durable at most this long after the change.
	 *   The dir store leaves it to the host file system.
	 * dirty_expire_ms: cached data dirty longer than this is written back
	 *   by the background writeback (the kernel's dirty_expire_centisecs,
	 *   30 s there); 0 = writeback_interval_ms (5000 by default). A
	 *   shorter age also makes the writeback thread wake that often.
	 * A crash loses at most the changes of the last commit_interval_ms +
	 * dirty_expire_ms (plus the time the writes take), and nothing that
	 * an fsync of the file (or, for names, of its directory) covered. */
	unsigned commit_interval_ms;
	unsigned dirty_expire_ms;
	int discard; /* enum pc_discard (vol store): freed blocks; 0 = AUTO */
	/* Cluster mode (docs/cluster.md): engines on several nodes share one
	 * dir store, kept strictly coherent by per-inode glocks in a lock
	 * service. cluster: NULL or "nolock" (one engine, the default), or
	 * "zk://host:port[,host:port]/path" (ZooKeeper; -EINVAL when malformed).
	 * cluster_node: this engine's node name (NULL: the host name and pid;
	 * -EEXIST while a live node has it). -EPROTO: the path's nodes run
	 * another lock recipe (another build); pc_cluster_error says which.
	 * cluster_connect_ms: how long pc_engine_open waits for the lock service
	 * (0 = 5000; then -ETIMEDOUT or -ECONNREFUSED); cluster_session_ms: the
	 * lock service session timeout (0 = 6000): a node silent this long loses
	 * its glocks. cluster_min_hold_ms: a glock granted to this node stays
	 * at least this long before a demote (0 = the lock layer's default):
	 * it stops ping-pong. The vol store refuses cluster mode (-EINVAL). */
	const char *cluster;
	const char *cluster_node;
	unsigned cluster_connect_ms;
	unsigned cluster_session_ms;
	unsigned cluster_min_hold_ms;
	/* The tail padding of the layouts before vol_data_io (a caller built with
	 * them may leave anything there): never read; PC_OPTIONS_INIT zeroes it. */
	unsigned pad0;
	int vol_data_io; /* enum pc_vol_data_io (vol store): how file data reaches the
			  * image; 0 = AUTO */
};

/* How the vol store writes file data to its image (pc_options.vol_data_io).
 * The dir store ignores it. */
enum pc_vol_data_io {
	PC_VOL_DATA_AUTO = 0,	  /* a write whose buffer, offset and length are aligned
				   * (write-back of whole pages) goes through an O_DIRECT
				   * descriptor of the image where the host accepts
				   * O_DIRECT: no copy into the host's page cache; the
				   * rest, and every write where O_DIRECT is refused,
				   * buffered */
	PC_VOL_DATA_BUFFERED = 1, /* every write through the host's page cache */
};

/* What the vol store does with blocks freed by a durable commit
 * (pc_options.discard). The dir store ignores it. */
enum pc_discard {
	PC_DISCARD_AUTO = 0, /* punched out of an image file (fallocate PUNCH_HOLE), so
			      * it shrinks back; a block device is left alone */
	PC_DISCARD_ON = 1,   /* also BLKDISCARD on a block device */
	PC_DISCARD_OFF = 2,  /* neither: the image keeps its allocated size */
};
/* struct pc_options o = PC_OPTIONS_INIT; then set the fields wanted. */
/* (Every field, in order, so that it also compiles as C++ before C++20 and
 * under -Wextra; a field added to the struct is added here.) */
#define PC_OPTIONS_INIT                                                                          \
	{                                                                                        \
		sizeof(struct pc_options), NULL, NULL, 0, 0, 0, 0, 0, PC_POLICY_TWO_STATE, 0, 0, \
		    0, 0, NULL, NULL, 0, 0, 0, 0, 0                                              \
	}

/* How pc_mmap views take their page faults (pc_options.fault_mechanism). */
enum pc_fault_mechanism {
	PC_FAULT_AUTO = 0,     /* userfaultfd where the kernel offers it, else FALLBACK */
	PC_FAULT_UFFD = 1,     /* userfaultfd (SIGBUS mode) only: pc_mmap fails with -ENODEV
				* without it */
	PC_FAULT_FALLBACK = 2, /* PROT_NONE views, SIGSEGV, mprotect per page. Each page
				* made accessible may split a kernel VMA: the views together
				* use at most a quarter of vm.max_map_count (pages are taken
				* back to PROT_NONE to stay within it) and pc_mmap fails with
				* -ENOMEM rather than pass it, so malloc never runs out */
};

/* Opens an engine on a store. -EBUSY if another engine serves that store;
 * -EINVAL for a size below the first layout's, -E2BIG for a larger struct
 * with a non-zero tail this library does not know.
 * RLIMIT_FSIZE: the cache holds files of any size whatever the process's
 * limit (its frames are grown past it without SIGXFSZ). The limit is not
 * applied to pc_write, pc_ftruncate or pc_fallocate themselves; the store's
 * host writes are the process's own, so writing back bytes past the soft
 * limit fails with EFBIG and raises SIGXFSZ, as the process's own write(2)
 * there would (with the signal ignored or caught, fsync reports -EFBIG). */
PC_API int pc_engine_open(const struct pc_options *opts, struct pc_engine **out);
/* Why the calling thread's last pc_engine_open failed in cluster mode (an
 * unreachable or refusing lock service, a vol store), or "". */
PC_API const char *pc_cluster_error(void);
/* Cluster mode: @fn(@arg, ino) is called (from the engine's demote worker)
 * when another node made this engine's cached pages of the file with store
 * inode number @ino stale: a FUSE server drops its kernel's cache of that
 * inode. It must not call into the engine. NULL: none. The worker may be
 * in a call of the old @fn while this returns (a FUSE server stops its
 * hook's thread only after that). */
PC_API void pc_set_invalidate_notify(struct pc_engine *e, void (*fn)(void *arg, uint64_t ino),
				     void *arg);
/* Unmaps the views still mapped (pc_mmap), writes back everything, closes
 * every fd, commits and releases the store. Returns the first writeback
 * error it met (or the store's, when its final commit failed), or 0. */
PC_API int pc_engine_close(struct pc_engine *e);
/* pc_engine_close, and tells what could not be written: @unwritten (if not
 * NULL) is called once for every file whose dirty data was lost because
 * writing it back when its cached inode was evicted failed - during this
 * call or earlier (an unlink or a prune that evicted it) - with the path it
 * was first opened by ("" if unknown) and the error. */
PC_API int pc_engine_close_report(struct pc_engine *e,
				  void (*unwritten)(void *arg, const char *path, int err),
				  void *arg);

/* ---- files ---- */

/* flags: O_RDONLY/O_WRONLY/O_RDWR | O_CREAT | O_EXCL | O_TRUNC | O_APPEND |
 * O_DIRECT | O_DIRECTORY. Returns an fd >= 0. */
PC_API int pc_open(struct pc_engine *e, const char *path, int flags, mode_t mode);
PC_API int pc_close(struct pc_engine *e, int fd);

PC_API ssize_t pc_read(struct pc_engine *e, int fd, void *buf, size_t count);
PC_API ssize_t pc_write(struct pc_engine *e, int fd, const void *buf, size_t count);
PC_API ssize_t pc_pread(struct pc_engine *e, int fd, void *buf, size_t count, off_t offset);
PC_API ssize_t pc_pwrite(struct pc_engine *e, int fd, const void *buf, size_t count, off_t offset);
/* offset -1: the file position. flags: 0, RWF_NOWAIT (-EAGAIN rather than
 * block on I/O or a lock), RWF_DSYNC, RWF_SYNC, RWF_APPEND. */
PC_API ssize_t pc_preadv2(struct pc_engine *e, int fd, const struct iovec *iov, int iovcnt,
			  off_t offset, int flags);
PC_API ssize_t pc_pwritev2(struct pc_engine *e, int fd, const struct iovec *iov, int iovcnt,
			   off_t offset, int flags);

/* whence: SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA, SEEK_HOLE. */
PC_API off_t pc_lseek(struct pc_engine *e, int fd, off_t offset, int whence);
/* On a directory fd (O_DIRECTORY): every change of its entries so far
 * (create, unlink, rename, mkdir, rmdir in it) is durable on return (vol:
 * a journal commit, which covers every change so far; dir: fsync of the
 * host directory). Writeback errors: reported once per fd, also an error
 * met before the fd was opened that no fd has been told of yet (errseq). */
PC_API int pc_fsync(struct pc_engine *e, int fd);
PC_API int pc_fdatasync(struct pc_engine *e, int fd);
/* What close(2) does on NFS (FUSE flush): writes the file's dirty data
 * back and returns a writeback error this fd was not told of yet (once, as
 * fsync; -EIO, -ENOSPC, ...), so that a program's close fails visibly. Makes
 * nothing durable. 0 at once for a directory or an fd not open for
 * writing. */
PC_API int pc_flush(struct pc_engine *e, int fd);
PC_API int pc_ftruncate(struct pc_engine *e, int fd, off_t length);
/* mode: 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE,
 * FALLOC_FL_ZERO_RANGE[|KEEP_SIZE], FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE. */
PC_API int pc_fallocate(struct pc_engine *e, int fd, int mode, off_t offset, off_t len);
/* advice: POSIX_FADV_NORMAL, _SEQUENTIAL, _RANDOM, _WILLNEED, _DONTNEED, _NOREUSE. */
PC_API int pc_fadvise(struct pc_engine *e, int fd, off_t offset, off_t len, int advice);
PC_API int pc_fstat(struct pc_engine *e, int fd, struct stat *st);

/* ---- mappings ---- */

/* Maps @len bytes of the file open at @fd from @offset (page aligned).
 * prot: PROT_READ [| PROT_WRITE]; flags: MAP_SHARED or MAP_PRIVATE. Loads
 * and stores fault into the engine's handler in the faulting thread (a
 * userfaultfd in SIGBUS mode). MAP_SHARED views are coherent with
 * pc_read/pc_write and written back like written pages; MAP_PRIVATE views
 * copy each page from the cache at its first touch and are never written
 * back. A whole page beyond EOF raises SIGBUS; the tail of the EOF page
 * reads zeroes and is not written back. The view keeps the file open until
 * pc_munmap (pc_close of @fd does not end it); pc_engine_close unmaps the
 * views still mapped (accessing them afterwards is an access to unmapped
 * memory). MAP_PRIVATE follows Linux: a page not yet stored to shows the
 * file's current bytes; a store copies the page, which from then on is
 * private; ftruncate removes the private copies beyond the new EOF too
 * (accesses there raise SIGBUS), while a hole punch, zero range and a
 * collapse/insert keep them; MADV_DONTNEED drops them.
 * fork(): views are MADV_DONTFORK - the child has nothing mapped at those
 * addresses (an access there is SIGSEGV, or the child's own handler). The
 * child must make no call on an engine its parent opened (as with any
 * library with threads: it has none of the engine's threads, and a call
 * may wait for them for good); it may open and use engines of its own.
 * Kernel system
 * calls given a view as their
 * buffer do not fault into the engine: they fail with EFAULT on pages not
 * yet touched (with PC_FAULT_FALLBACK: on pages not yet accessed). Returns
 * the address, or NULL with *err = -errno (-ENODEV: userfaultfd unavailable
 * under PC_FAULT_UFFD, or a directory; -EACCES: fd not readable, or
 * MAP_SHARED|PROT_WRITE on a fd not open for writing; -ENOMEM: the
 * fallback's VMA budget is spent; -EDEADLK: the calling thread blocks
 * SIGSEGV or SIGBUS, so its first access would kill the process).
 * A view belongs to the engine that mapped it: pc_munmap, pc_msync,
 * pc_mprotect and pc_madvise through another engine refuse it (-EINVAL). */
PC_API void *pc_mmap(struct pc_engine *e, int fd, size_t len, int prot, int flags, off_t offset,
		     int *err);
/* munmap(2): unmaps [addr, addr + len) (len rounded up to whole pages): the
 * views inside go, a view partly inside is split and keeps its parts
 * outside the range mapped (their pages, protection and dirty state
 * intact); a range with no view is not an error (0). The file stays open
 * until no part of its view is left. -EINVAL: addr not page aligned, len 0,
 * a range that wraps, or a view of another engine in the range (nothing is
 * unmapped); -ENOMEM: no memory to split a view. Memory in the range that is
 * not a view of this engine is left alone. */
PC_API int pc_munmap(struct pc_engine *e, void *addr, size_t len);
/* flags: MS_SYNC (write back and wait), MS_ASYNC (start writeback),
 * MS_INVALIDATE (nothing to do: views are coherent), for every view in the
 * range, as msync(2): -ENOMEM if part of the range is not a view (MS_ASYNC
 * stops there, the others sync the views in the range first). */
PC_API int pc_msync(struct pc_engine *e, void *addr, size_t len, int flags);
/* prot: PROT_NONE, PROT_READ [| PROT_WRITE], for every view in the range
 * (a view partly inside is split: only its part inside changes), as
 * mprotect(2): -ENOMEM at a part of the range that is not a view, -EACCES
 * for PROT_WRITE on a MAP_SHARED view of a file not open for writing; the
 * views before either are changed. Stores on a view made writable are
 * still noticed (write-notify) and written back. */
PC_API int pc_mprotect(struct pc_engine *e, void *addr, size_t len, int prot);
/* advice: MADV_WILLNEED (readahead), MADV_DONTNEED (drop the range from the
 * view: the next access faults again; a MAP_PRIVATE view loses its private
 * copies and sees the file's current bytes), MADV_POPULATE_READ and
 * MADV_POPULATE_WRITE (fault the range in now, as loads / as stores;
 * -EFAULT where an access would raise SIGBUS, -EINVAL for POPULATE_WRITE
 * without PROT_WRITE). MADV_NORMAL, MADV_SEQUENTIAL and MADV_RANDOM set the
 * fault path's readahead for the range (a view partly inside is split).
 * The range may cover several views; -ENOMEM if part of it is not a view,
 * as madvise(2) (the views in the range are advised first; POPULATE stops
 * at the hole). */
PC_API int pc_madvise(struct pc_engine *e, void *addr, size_t len, int advice);

/* ---- names ---- */

/* lstat(2): a final symlink is not followed (paths never follow symlinks:
 * one in a parent gives -ELOOP). A cached file shows the engine's size and
 * its mtime/ctime of the last write or truncate through the engine. */
PC_API int pc_stat(struct pc_engine *e, const char *path, struct stat *st);
PC_API int pc_unlink(struct pc_engine *e, const char *path);
/* flags: 0, RENAME_NOREPLACE, RENAME_EXCHANGE */
PC_API int pc_rename(struct pc_engine *e, const char *from, const char *to, unsigned flags);
PC_API int pc_mkdir(struct pc_engine *e, const char *path, mode_t mode);
PC_API int pc_rmdir(struct pc_engine *e, const char *path);

/* ---- attributes and links (src/api/attr.c) ---- */

/* link(2): -EPERM for a directory, -EEXIST if @to exists. */
PC_API int pc_link(struct pc_engine *e, const char *from, const char *to);
/* symlink(2): @path holds @target. */
PC_API int pc_symlink(struct pc_engine *e, const char *target, const char *path);
/* readlink(2): bytes placed (no NUL), -EINVAL if not a symlink. */
PC_API ssize_t pc_readlink(struct pc_engine *e, const char *path, char *buf, size_t size);
/* chmod/chown/utimensat(AT_SYMLINK_NOFOLLOW) of @path; no permission checks
 * (the caller's job, as the FUSE front end's default_permissions). chown:
 * (uid_t)-1 / (gid_t)-1 keep one. utimens: @ts NULL = now; tv_nsec may be
 * UTIME_NOW or UTIME_OMIT. Dirty data of the file is written back first, so
 * that times set explicitly stay set. chmod of a symlink: -EOPNOTSUPP. */
PC_API int pc_chmod(struct pc_engine *e, const char *path, mode_t mode);
PC_API int pc_chown(struct pc_engine *e, const char *path, uid_t uid, gid_t gid);
PC_API int pc_utimens(struct pc_engine *e, const char *path, const struct timespec ts[2]);
/* truncate(2) through the cache (as pc_ftruncate). */
PC_API int pc_truncate(struct pc_engine *e, const char *path, off_t length);
/* statvfs(3) of the store. */
struct statvfs;
PC_API int pc_statfs(struct pc_engine *e, struct statvfs *st);

struct pc_dirent {
	uint64_t ino;
	unsigned char type; /* DT_REG, DT_DIR, ... */
	char name[256];
};
/* Reads up to max entries from a directory fd (opened with O_DIRECTORY),
 * continuing where the last call stopped. Returns the number read, 0 at the
 * end. "." and ".." are not listed. */
PC_API ssize_t pc_readdir(struct pc_engine *e, int fd, struct pc_dirent *ents, size_t max);

/* ---- names relative to a directory fd (src/api/namei_at.c) ---- */

/*
 * The *at() calls, as Linux's, with the engine's fds: @dirfd is an fd opened
 * on a directory (O_DIRECTORY, or O_PATH of one), or PC_AT_ROOT for the
 * store root (what the path calls above use; a path starting with '/' also
 * starts there). Paths are walked one component at a time from @dirfd, so
 * only PATH_MAX per call and NAME_MAX per component limit them, never the
 * object's depth; ".." goes up (never above the store root); no symlink is
 * ever followed (one in a parent gives -ELOOP, as for the path calls).
 * @flags take AT_EMPTY_PATH (an empty @path names @dirfd itself, any kind
 * of fd), AT_SYMLINK_NOFOLLOW (accepted; always in effect) and, for
 * pc_unlinkat, AT_REMOVEDIR; others give -EINVAL.
 */
#define PC_AT_ROOT (-100)

/* openat(2). Besides pc_open's flags: O_PATH (an fd that names the object,
 * any type, for *at() calls, fstat, the attribute and xattr calls and
 * pc_linkat; read/write give -EBADF), O_NOFOLLOW (-ELOOP for a symlink
 * unless O_PATH), O_TMPFILE (an unnamed regular file in directory @path,
 * to be named with pc_linkat(AT_EMPTY_PATH); O_EXCL: never linkable),
 * O_NOATIME and O_CLOEXEC (accepted). Fifos, sockets and device nodes open
 * only with O_PATH (-ENXIO otherwise: the engine does not serve their I/O). */
PC_API int pc_openat(struct pc_engine *e, int dirfd, const char *path, int flags, mode_t mode);
/* What open("/proc/self/fd/N") does on Linux: a new open file of the
 * object of engine fd @fd (any fd, O_PATH included; named or not: an
 * unlinked file while it lives) with pc_open's @flags (O_CREAT and O_EXCL
 * ignored; O_PATH gives another O_PATH fd). -ENXIO for a fifo, socket or
 * device unless O_PATH, -EISDIR for a directory opened for writing.
 * (The FUSE server opens its nodes with it: FUSE's OPEN names an inode.) */
PC_API int pc_reopen(struct pc_engine *e, int fd, int flags);
/* fstatat(2); @flags AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW. */
PC_API int pc_fstatat(struct pc_engine *e, int dirfd, const char *path, struct stat *st, int flags);
PC_API int pc_mkdirat(struct pc_engine *e, int dirfd, const char *path, mode_t mode);
/* mknodat(2): S_IFREG, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK (@dev for the
 * last two); S_IFDIR gives -EPERM as Linux. No privilege check (the
 * caller's, as for chown). */
PC_API int pc_mknodat(struct pc_engine *e, int dirfd, const char *path, mode_t mode, dev_t dev);
PC_API int pc_unlinkat(struct pc_engine *e, int dirfd, const char *path, int flags);
/* renameat2(2): flags 0, RENAME_NOREPLACE, RENAME_EXCHANGE. */
PC_API int pc_renameat2(struct pc_engine *e, int olddirfd, const char *oldpath, int newdirfd,
			const char *newpath, unsigned flags);
/* linkat(2): AT_EMPTY_PATH links the object of fd @olddirfd (an O_TMPFILE
 * file, or any non-directory that still has a name). */
PC_API int pc_linkat(struct pc_engine *e, int olddirfd, const char *oldpath, int newdirfd,
		     const char *newpath, int flags);
PC_API int pc_symlinkat(struct pc_engine *e, const char *target, int dirfd, const char *path);
/* readlinkat(2); an empty @path reads the symlink fd @dirfd (O_PATH). */
PC_API ssize_t pc_readlinkat(struct pc_engine *e, int dirfd, const char *path, char *buf,
			     size_t size);
/* fchmodat/fchownat/utimensat: same rules as pc_chmod/pc_chown/pc_utimens;
 * AT_EMPTY_PATH with "" changes the object of fd @dirfd, whatever it is
 * (also one with no name left). */
PC_API int pc_fchmodat(struct pc_engine *e, int dirfd, const char *path, mode_t mode, int flags);
PC_API int pc_fchownat(struct pc_engine *e, int dirfd, const char *path, uid_t uid, gid_t gid,
		       int flags);
PC_API int pc_utimensat(struct pc_engine *e, int dirfd, const char *path,
			const struct timespec ts[2], int flags);
/* fchmod/fchown/futimens: the object of @fd (O_PATH included), named or not. */
PC_API int pc_fchmod(struct pc_engine *e, int fd, mode_t mode);
PC_API int pc_fchown(struct pc_engine *e, int fd, uid_t uid, gid_t gid);
PC_API int pc_futimens(struct pc_engine *e, int fd, const struct timespec ts[2]);

/* ---- extended attributes (xattr(7); src/api/xattr.c) ---- */

/* getxattrat/setxattrat/listxattrat/removexattrat of Linux 6.13, flattened:
 * @flags AT_EMPTY_PATH and AT_SYMLINK_NOFOLLOW (always in effect: the
 * attributes of a symlink are its own). Namespaces "user.", "trusted.",
 * "security." and the POSIX ACLs "system.posix_acl_access" /
 * "system.posix_acl_default" (stored as given; a file's ACL is checked by
 * whoever checks permissions, as FUSE's default_permissions does), names
 * up to XATTR_NAME_MAX, values up to XATTR_SIZE_MAX. @set_flags:
 * XATTR_CREATE, XATTR_REPLACE. get/list: size (@size 0: the size needed),
 * -ERANGE, -ENODATA; set: -E2BIG, -ENOSPC, -EEXIST, -ENODATA; another
 * namespace: -EOPNOTSUPP. "user." attributes exist only on regular files
 * and directories (-EPERM elsewhere, as Linux). */
PC_API ssize_t pc_getxattrat(struct pc_engine *e, int dirfd, const char *path, const char *name,
			     void *value, size_t size, int flags);
PC_API int pc_setxattrat(struct pc_engine *e, int dirfd, const char *path, const char *name,
			 const void *value, size_t size, int set_flags, int flags);
PC_API ssize_t pc_listxattrat(struct pc_engine *e, int dirfd, const char *path, char *list,
			      size_t size, int flags);
PC_API int pc_removexattrat(struct pc_engine *e, int dirfd, const char *path, const char *name,
			    int flags);

/* ---- export handles (name_to_handle_at(2); src/api/handle.c) ---- */

#define PC_HANDLE_MAX 64
struct pc_file_handle {
	uint32_t handle_bytes; /* bytes used in f_handle */
	int handle_type;       /* PC_HANDLE_INO_GEN, or another store's kind */
	unsigned char f_handle[PC_HANDLE_MAX];
};
/* f_handle is { uint64_t ino; uint64_t generation; } (the vol store): it
 * can be rebuilt from an inode number and generation (a FUSE node id).
 * With handle_bytes 8 (the inode number alone) pc_open_by_handle_at opens
 * whatever object that inode number names now, any generation (-ESTALE if
 * none): for a caller that checks the generation itself, as the FUSE
 * kernel does after its LOOKUP(nodeid, "."), which carries none. */
#define PC_HANDLE_INO_GEN 1
/* A handle naming the object @path names from @dirfd (flags: AT_EMPTY_PATH)
 * for as long as it lives, across engine close and open, never another
 * object later. -EOPNOTSUPP where the store cannot. */
PC_API int pc_name_to_handle_at(struct pc_engine *e, int dirfd, const char *path,
				struct pc_file_handle *h, int flags);
/* open_by_handle_at(2): an fd on the object (@flags as pc_openat: O_PATH for
 * any type). -ESTALE once the object is gone. */
PC_API int pc_open_by_handle_at(struct pc_engine *e, const struct pc_file_handle *h, int flags);
/* The generation number of the object of @fd (what st_ino's slot holds
 * now; FUSE's entry generation): 0 and *gen, or -EOPNOTSUPP. */
PC_API int pc_fgetgen(struct pc_engine *e, int fd, uint64_t *gen);

/* ---- directories with positions (getdents64(2)) ---- */

struct pc_dirent64 {
	uint64_t ino;
	int64_t off;	    /* the position after this entry (pc_lseek SEEK_SET) */
	unsigned char type; /* DT_REG, DT_DIR, DT_LNK, DT_FIFO, DT_SOCK, DT_CHR, DT_BLK */
	char name[256];
};
/* Like pc_readdir, with each entry's resume position: pc_lseek(fd, off,
 * SEEK_SET) on a directory fd continues after that entry, 0 rewinds. The
 * listing is read from the directory as it is at each call (rewinddir
 * shows entries made since opendir); an entry present throughout a listing
 * is reported exactly once. */
PC_API ssize_t pc_getdents(struct pc_engine *e, int fd, struct pc_dirent64 *ents, size_t max);

/* ---- more calls on files ---- */

/* dup(2): a new fd (the lowest free) for the same open file: the offset,
 * the status flags and flock/OFD locks are shared with @fd. */
PC_API int pc_dup(struct pc_engine *e, int fd);
/* syncfs(2): writes back every dirty page of every file of the engine and
 * makes the store durable (fsync of each written file, the vol store's
 * commit). Returns the first error met (a writeback error is also kept for
 * each fd's own fsync, as Linux does), or 0. */
PC_API int pc_sync(struct pc_engine *e);
/* flock(2): @op LOCK_SH, LOCK_EX or LOCK_UN, with LOCK_NB (-EWOULDBLOCK
 * rather than wait). The lock belongs to the open file (pc_dup copies share
 * it) and ends with its last fd; an open file converts its own lock (not
 * atomically, as Linux). Locks are the engine's own, in-process: they
 * conflict between open files of the same engine (threads of the program),
 * never with other processes or the host's flock - except in cluster mode,
 * where they also conflict with the flock locks of the other nodes (held
 * through the file's flock glock, docs/cluster.md; -EIO once the node lost
 * its lock-service session, until it rejoins). */
PC_API int pc_flock(struct pc_engine *e, int fd, int op);
/* A cancel token (PAGECACHE_1.4): pc_cancel_fire, from any thread, ends
 * the wait of the pc_flock_cancelable made with it, as a signal interrupts
 * flock(2) (a FUSE server's FUSE_INTERRUPT). Once fired, for good. NULL from
 * pc_cancel_new when out of memory. */
struct pc_cancel;
PC_API struct pc_cancel *pc_cancel_new(void);
PC_API void pc_cancel_fire(struct pc_cancel *c);
PC_API void pc_cancel_free(struct pc_cancel *c);
/* pc_flock whose blocking LOCK_SH or LOCK_EX gives up with -EINTR when @c
 * is fired (before or while it waits), leaving nothing queued behind: no
 * local waiter and, in cluster mode, no request at the lock service. Its
 * lock (or the one it converted, which went first) is then not held. @c
 * NULL, LOCK_NB or LOCK_UN: pc_flock. One call per token at a time. */
PC_API int pc_flock_cancelable(struct pc_engine *e, int fd, int op, struct pc_cancel *c);
/* Open file description (OFD) byte-range locks, fcntl(2)'s F_OFD_SETLK,
 * F_OFD_SETLKW (waits; -EDEADLK never detected: OFD locks have no owner
 * process to walk) and F_OFD_GETLK, with struct flock (l_pid must be 0; GETLK
 * reports -1 as Linux does for OFD locks). Same ownership and in-process
 * scope as pc_flock - except in cluster mode, where they also conflict
 * with the byte-range locks of the other nodes (-EIO once the node lost its
 * lock-service session; the locks it held then are gone); independent of
 * pc_flock locks, as in Linux. */
PC_API int pc_ofd_lock(struct pc_engine *e, int fd, int cmd, struct flock *fl);
/* POSIX byte-range locks for a caller that names the owner itself
 * (PAGECACHE_1.5; a FUSE server's FUSE_GETLK/SETLK/SETLKW, whose lock_owner
 * stands for a process): fcntl(2)'s F_GETLK, F_SETLK and F_SETLKW on @fd's
 * file, owned by @owner, @fl->l_pid recorded (F_GETLK reports it, -1 for an
 * OFD lock, 0 for another node's). One table with pc_ofd_lock's locks (the
 * two conflict); an owner's locks on a file split and merge as a process's
 * do, through whichever fd; they end with the owner's F_UNLCK (a close of
 * the process's fd: unlock the whole file, l_len 0) or when the open file
 * they were set through is closed for good. @c: as for
 * pc_flock_cancelable, F_SETLKW's wait gives up with -EINTR (NULL: none).
 * F_SETLKW fails with -EDEADLK, as fcntl(2), where it would sleep on a lock
 * of an owner of this engine that waits (itself or through up to ten
 * owners) for one of @owner's; not across OFD locks, nor across nodes.
 * Cluster mode: cluster-wide, as pc_ofd_lock's. */
PC_API int pc_posix_lock(struct pc_engine *e, int fd, int cmd, struct flock *fl, uint64_t owner,
			 struct pc_cancel *c);

/* ---- sharing data between files: clone, dedupe, copy (PAGECACHE_1.2) ---- */

/* ioctl(dst_fd, FICLONERANGE): @dst_fd's bytes at @dst_off become @src_fd's
 * [@src_off, +@len), sharing the store's blocks (copy-on-write); @len 0:
 * to the source's EOF, so (0, 0, 0) clones the whole file (FICLONE). The
 * offsets on a page (4096), the length too unless it reaches the source's
 * EOF; no overlap within one file; the destination grows if needed. 0 or
 * the ioctl's -errno: -EBADF (bad fds, source not readable, destination
 * not writable or O_APPEND), -EISDIR, -EINVAL (negative, unaligned,
 * overlapping, past EOF, a partial last block inside the destination),
 * -EFBIG, -EOPNOTSUPP where the store cannot share (vol; dir on a host
 * without reflink, e.g. ext4 - XFS, btrfs can). */
PC_API int pc_clone_range(struct pc_engine *e, int dst_fd, int src_fd, int64_t src_off,
			  uint64_t len, int64_t dst_off);

/* FIDEDUPERANGE, struct file_dedupe_range of <linux/fs.h> with the same
 * layout: compare then share. */
#define PC_DEDUPE_RANGE_SAME	0
#define PC_DEDUPE_RANGE_DIFFERS 1
struct pc_dedupe_range_info {
	int64_t dest_fd;	/* in */
	uint64_t dest_offset;	/* in */
	uint64_t bytes_deduped; /* out: the request's length (at most 1 GiB) once done */
	int32_t status;		/* out: PC_DEDUPE_RANGE_SAME, _DIFFERS or -errno */
	uint32_t reserved;	/* must be 0 */
};
struct pc_dedupe_range {
	uint64_t src_offset;
	uint64_t src_length;
	uint16_t dest_count; /* entries in info[] (at most 127, as the ioctl's page) */
	uint16_t reserved1;  /* must be 0 */
	uint32_t reserved2;  /* must be 0 */
	__extension__ struct pc_dedupe_range_info info[]; /* C++: a GNU extension */
};
/* ioctl(src_fd, FIDEDUPERANGE, arg): for each destination, compares its
 * range with the source's and, where equal, shares the source's blocks:
 * the destination's contents never change. Returns 0 with a status per
 * destination (-EBADF, -EINVAL, -EPERM, -EISDIR, ... or
 * PC_DEDUPE_RANGE_DIFFERS), or -errno for the whole call: -EINVAL (source
 * not open for reading, reserved fields, negative or past the source's
 * EOF), -EISDIR, -EOPNOTSUPP, -ENOMEM (more than 127 destinations), -EFAULT
 * (@arg NULL). */
PC_API int pc_dedupe_range(struct pc_engine *e, int src_fd, struct pc_dedupe_range *arg);

/* copy_file_range(2): up to @len bytes from @fd_in at *@off_in (NULL: its
 * file position, advanced) to @fd_out at *@off_out (likewise); @flags 0.
 * Shares blocks where the store can, copies through the cache otherwise.
 * Returns bytes copied (short at the source's EOF, 0 at or past it) or
 * -errno: -EBADF, -EISDIR, -EINVAL (flags, overlap in one file, negative
 * offsets), -EOVERFLOW, -EFBIG. Both fds are of one engine, so Linux's
 * -EXDEV (different file systems) never arises. */
PC_API ssize_t pc_copy_file_range(struct pc_engine *e, int fd_in, int64_t *off_in, int fd_out,
				  int64_t *off_out, size_t len, unsigned flags);

/* The mechanism the engine's views take their faults with: PC_FAULT_UFFD or
 * PC_FAULT_FALLBACK (AUTO resolved: what pc_mmap would use now). */
PC_API int pc_engine_fault_mechanism(struct pc_engine *e);

/* ---- signals (libpagecache(7), SIGNALS) ---- */

/* For a SIGSEGV or SIGBUS handler the application installs after
 * pc_engine_open (a crash reporter, a language runtime): call it first with
 * the handler's three arguments (@info is a siginfo_t *, @ucontext the
 * third argument of an SA_SIGINFO handler). Returns 1 if the fault was the
 * library's and is handled (return from the handler at once: the
 * instruction re-runs or resumes at a fix-up), 0 if it is not (handle it as
 * your own). Async-signal-safe. The library's own handler chains to the
 * handler that was installed before the first pc_engine_open. */
PC_API int pc_handle_signal(int sig, void *info, void *ucontext);

/* ---- vol volumes at rest (the `pagecache mkfs|fsck|stat` commands) ---- */

struct pc_vol_mkfs_options {
	size_t size;	     /* sizeof(struct pc_vol_mkfs_options) */
	int64_t bytes;	     /* volume size; 0 = the existing file's / device's size */
	unsigned inodes;     /* inode slots; 0 = one per 16 KiB, at least 1024 */
	unsigned journal_kb; /* journal size; 0 = the default */
};
/* Makes an empty volume (root directory only) in @image, creating a sparse
 * file of opts->bytes if it does not exist. 0 or -errno (-EINVAL: too small
 * or bad options; -EBUSY: an engine or fsck has it open). */
PC_API int pc_vol_mkfs(const char *image, const struct pc_vol_mkfs_options *opts);

/* What @image already holds, before a pc_vol_mkfs would overwrite it: 1 with
 * *@what (may be NULL) naming it (a vol superblock or its backup, an
 * ext2/3/4, XFS or btrfs superblock, a swap signature, a boot sector), 0
 * for none (or no such file), or -errno. `pagecache mkfs` refuses 1 unless
 * forced. */
PC_API int pc_vol_probe(const char *image, const char **what);

/* pc_vol_fsck results, as fsck(8)'s exit codes. */
enum {
	PC_FSCK_CLEAN = 0,
	PC_FSCK_REPAIRED = 1,	/* errors found and all repaired */
	PC_FSCK_UNREPAIRED = 4, /* errors left */
	PC_FSCK_FAILED = 8,	/* could not read or check */
};
/* Checks every invariant of the volume in @image; with @repair non-zero
 * fixes what is safe. One line per problem goes to @report (may be NULL).
 * Replays a pending journal first. Returns a PC_FSCK_* value. */
PC_API int pc_vol_fsck(const char *image, int repair, FILE *report);

struct pc_vol_info {
	size_t size; /* sizeof(struct pc_vol_info) */
	uint32_t version, block_size;
	uint64_t blocks, free_blocks, journal_blocks, inode_slots, generation;
	uint32_t features_incompat;
	uint8_t uuid[16];
	/* data blocks mapped by more than one extent (clones), each counted
	 * once (0 where the caller's struct ends before it) */
	uint64_t shared_blocks;
};
/* The superblock summary of the volume in @image (read only; it may be in
 * use). 0, or -errno with *@why (may be NULL) naming the problem found. */
PC_API int pc_vol_stat(const char *image, struct pc_vol_info *info, const char **why);

/* ---- statistics ---- */

struct pc_stats {
	uint64_t cached_pages; /* pages in the cache now */
	uint64_t dirty_pages;
	uint64_t writeback_pages;
	uint64_t hits;		  /* page lookups by reads and writes that found the page cached */
	uint64_t misses;	  /* pages read from the store, readahead_pages included */
	uint64_t readahead_pages; /* pages read ahead of a read or fault (and WILLNEED) */
	uint64_t written_back_pages;
	uint64_t reclaimed_pages;
	uint64_t throttled_writes; /* writers that waited for writeback */
	uint64_t write_retries;	   /* buffered-write chunks retried after a short copy */
	uint64_t lock_contended;   /* sleeping acquisitions of this engine's locks */
	uint64_t lock_wait_ns;	   /* time those acquisitions slept */
	/* O_DIRECT: windows faulted in and retried, restarts after the fault
	 * rule dropped the DIO's BLOCK, windows copied through a bounce buffer */
	uint64_t dio_retries, dio_dropped, dio_bounced;
	/* vol store: commits made, of them by the periodic commit (a flush
	 * of data written in place counts there too), and the times the
	 * periodic commit looked for changes; 0 for dir */
	uint64_t store_commits, periodic_commits, periodic_checks;
	/* of readahead_pages: read ahead by page faults on views (read-around,
	 * MADV_SEQUENTIAL windows, the next window at a PG_readahead page) */
	uint64_t fault_readahead_pages;
};
/* Fills the first @size bytes of *@st (pass sizeof *st): 0, or -EINVAL (no
 * engine, no @st, or @size below one counter). Counters a
 * binary built with a smaller struct does not know are left out; a larger
 * struct gets zeroes past the ones this library knows. */
PC_API int pc_get_stats(struct pc_engine *e, struct pc_stats *st, size_t size);

#ifdef __cplusplus
}
#endif
#endif

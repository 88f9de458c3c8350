/* SPDX-License-Identifier: MIT */
/*
 * pagecache-0.h - FROZEN: include/pagecache.h as it was before ABI 1 (no
 * SONAME version, no struct sizes), kept verbatim below this note for
 * tests/lib/test_abi.sh. Never edit.
 *
 * pagecache.h - the public C API of libpagecache.
 *
 * An engine serves one store (today: a host directory, the "dir" store) and
 * gives its files the Linux VFS semantics through a page cache: buffered I/O
 * with readahead and writeback, direct I/O, truncate and fallocate, fsync.
 * Files are named by paths relative to the store root and used through
 * integer file descriptors private to the engine.
 *
 * Error contract: every call returns what the kernel's equivalent returns -
 * a count or 0 on success, or a negative errno (-EBADF, -EINVAL, -EFAULT,
 * -EAGAIN for RWF_NOWAIT, -ENOSPC, -EFBIG, -EIO, -EISDIR, -ENOTDIR, -ENOENT,
 * -EEXIST, ...). errno itself is never set. Writeback errors are reported
 * once to every open file descriptor (errseq semantics) by fsync/fdatasync
 * (and close), never dropped.
 *
 * Every call is thread-safe. Calls may be made from any thread; the library
 * keeps per-thread state that is freed when the thread exits.
 */
#ifndef PAGECACHE_H
#define PAGECACHE_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pc_engine;

/* Locking policy for page-cache fills (docs/design.md §5). */
enum pc_lock_policy {
	PC_POLICY_TWO_STATE = 0,   /* default: ADD/BLOCK invalidate lock */
	PC_POLICY_XFS = 1,	   /* buffered reads also take i_rwsem shared, as XFS does */
	PC_POLICY_NONE_UNSAFE = 2, /* UNSAFE: no fencing of fills (hazard tests, benchmarks) */
};

struct pc_options {
	const char *store_dir;	 /* host directory served by the "dir" store, or */
	const char *store_image; /* vol image file or block device (exactly one of the two) */
	size_t mem_limit;	 /* bytes of cached pages; 0 = 256 MiB */
	size_t readahead_max;	 /* largest readahead window in bytes; 0 = 128 KiB */
	unsigned writeback_interval_ms; /* background writeback period; 0 = 5000 */
	size_t dirty_background;	/* start background writeback above; 0 = 10% of mem_limit */
	size_t dirty_limit;		/* throttle writers above; 0 = 20% of mem_limit */
	enum pc_lock_policy policy;
	int fault_mechanism; /* enum pc_fault_mechanism: how views fault; 0 = AUTO */
};

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

/* Opens an engine on a store. -EBUSY if another engine serves that store. */
int pc_engine_open(const struct pc_options *opts, struct pc_engine **out);
/* Unmaps the views still mapped (pc_mmap), writes back everything, closes
 * every fd, releases the store. Returns the first writeback error it met,
 * or 0. */
int pc_engine_close(struct pc_engine *e);

/* ---- files ---- */

/* flags: O_RDONLY/O_WRONLY/O_RDWR | O_CREAT | O_EXCL | O_TRUNC | O_APPEND |
 * O_DIRECT | O_DIRECTORY. Returns an fd >= 0. */
int pc_open(struct pc_engine *e, const char *path, int flags, mode_t mode);
int pc_close(struct pc_engine *e, int fd);

ssize_t pc_read(struct pc_engine *e, int fd, void *buf, size_t count);
ssize_t pc_write(struct pc_engine *e, int fd, const void *buf, size_t count);
ssize_t pc_pread(struct pc_engine *e, int fd, void *buf, size_t count, off_t offset);
ssize_t pc_pwrite(struct pc_engine *e, int fd, const void *buf, size_t count, off_t offset);
/* offset -1: the file position. flags: 0, RWF_NOWAIT (-EAGAIN rather than
 * block on I/O or a lock), RWF_DSYNC, RWF_SYNC, RWF_APPEND. */
ssize_t pc_preadv2(struct pc_engine *e, int fd, const struct iovec *iov, int iovcnt, off_t offset,
		   int flags);
ssize_t pc_pwritev2(struct pc_engine *e, int fd, const struct iovec *iov, int iovcnt, off_t offset,
		    int flags);

/* whence: SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA, SEEK_HOLE. */
off_t pc_lseek(struct pc_engine *e, int fd, off_t offset, int whence);
int pc_fsync(struct pc_engine *e, int fd);
int pc_fdatasync(struct pc_engine *e, int fd);
int pc_ftruncate(struct pc_engine *e, int fd, off_t length);
/* mode: 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE,
 * FALLOC_FL_ZERO_RANGE[|KEEP_SIZE], FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE. */
int pc_fallocate(struct pc_engine *e, int fd, int mode, off_t offset, off_t len);
/* advice: POSIX_FADV_NORMAL, _SEQUENTIAL, _RANDOM, _WILLNEED, _DONTNEED, _NOREUSE. */
int pc_fadvise(struct pc_engine *e, int fd, off_t offset, off_t len, int advice);
int pc_fstat(struct pc_engine *e, int fd, struct stat *st);

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
 * addresses (an access there is SIGSEGV, or the child's own handler) and
 * its copy of the engine knows no view (pc_msync/pc_munmap there: -ENOMEM/
 * -EINVAL). Kernel system calls given a view as their
 * buffer do not fault into the engine: they fail with EFAULT on pages not
 * yet touched (with PC_FAULT_FALLBACK: on pages not yet accessed). Returns
 * the address, or NULL with *err = -errno (-ENODEV: userfaultfd unavailable
 * under PC_FAULT_UFFD, or a directory; -EACCES: fd not readable, or
 * MAP_SHARED|PROT_WRITE on a fd not open for writing; -ENOMEM: the
 * fallback's VMA budget is spent). */
void *pc_mmap(struct pc_engine *e, int fd, size_t len, int prot, int flags, off_t offset, int *err);
/* Unmaps a whole view (the address and length pc_mmap was given). */
int pc_munmap(struct pc_engine *e, void *addr, size_t len);
/* flags: MS_SYNC (write back and wait), MS_ASYNC (start writeback),
 * MS_INVALIDATE (nothing to do: views are coherent). Range in one view. */
int pc_msync(struct pc_engine *e, void *addr, size_t len, int flags);
/* prot: PROT_NONE, PROT_READ [| PROT_WRITE], for a range inside one view
 * (-ENOMEM otherwise). -EACCES: PROT_WRITE on a MAP_SHARED view of a file
 * not open for writing. Stores on a view made writable are still noticed
 * (write-notify) and written back. */
int pc_mprotect(struct pc_engine *e, void *addr, size_t len, int prot);
/* advice: MADV_WILLNEED (readahead), MADV_DONTNEED (drop the range from the
 * view: the next access faults again; a MAP_PRIVATE view loses its private
 * copies and sees the file's current bytes), MADV_POPULATE_READ and
 * MADV_POPULATE_WRITE (fault the range in now, as loads / as stores;
 * -EFAULT where an access would raise SIGBUS, -EINVAL for POPULATE_WRITE
 * without PROT_WRITE). The range must lie in one view (else -ENOMEM). */
int pc_madvise(struct pc_engine *e, void *addr, size_t len, int advice);

/* ---- names ---- */

/* lstat(2): a final symlink is not followed (paths never follow symlinks:
 * one in a parent gives -ELOOP). A cached file shows the engine's size and
 * its mtime/ctime of the last write or truncate through the engine. */
int pc_stat(struct pc_engine *e, const char *path, struct stat *st);
int pc_unlink(struct pc_engine *e, const char *path);
/* flags: 0, RENAME_NOREPLACE, RENAME_EXCHANGE */
int pc_rename(struct pc_engine *e, const char *from, const char *to, unsigned flags);
int pc_mkdir(struct pc_engine *e, const char *path, mode_t mode);
int pc_rmdir(struct pc_engine *e, const char *path);

/* ---- attributes and links (src/api/attr.c) ---- */

/* link(2): -EPERM for a directory, -EEXIST if @to exists. */
int pc_link(struct pc_engine *e, const char *from, const char *to);
/* symlink(2): @path holds @target. */
int pc_symlink(struct pc_engine *e, const char *target, const char *path);
/* readlink(2): bytes placed (no NUL), -EINVAL if not a symlink. */
ssize_t pc_readlink(struct pc_engine *e, const char *path, char *buf, size_t size);
/* chmod/chown/utimensat(AT_SYMLINK_NOFOLLOW) of @path; no permission checks
 * (the caller's job, as the FUSE front end's default_permissions). chown:
 * (uid_t)-1 / (gid_t)-1 keep one. utimens: @ts NULL = now; tv_nsec may be
 * UTIME_NOW or UTIME_OMIT. Dirty data of the file is written back first, so
 * that times set explicitly stay set. chmod of a symlink: -EOPNOTSUPP. */
int pc_chmod(struct pc_engine *e, const char *path, mode_t mode);
int pc_chown(struct pc_engine *e, const char *path, uid_t uid, gid_t gid);
int pc_utimens(struct pc_engine *e, const char *path, const struct timespec ts[2]);
/* truncate(2) through the cache (as pc_ftruncate). */
int pc_truncate(struct pc_engine *e, const char *path, off_t length);
/* statvfs(3) of the store. */
struct statvfs;
int pc_statfs(struct pc_engine *e, struct statvfs *st);

struct pc_dirent {
	uint64_t ino;
	unsigned char type; /* DT_REG, DT_DIR, ... */
	char name[256];
};
/* Reads up to max entries from a directory fd (opened with O_DIRECTORY),
 * continuing where the last call stopped. Returns the number read, 0 at the
 * end. "." and ".." are not listed. */
ssize_t pc_readdir(struct pc_engine *e, int fd, struct pc_dirent *ents, size_t max);

/* ---- statistics ---- */

struct pc_stats {
	uint64_t cached_pages; /* pages in the cache now */
	uint64_t dirty_pages;
	uint64_t writeback_pages;
	uint64_t hits, misses; /* page lookups by reads and writes */
	uint64_t readahead_pages;
	uint64_t written_back_pages;
	uint64_t reclaimed_pages;
	uint64_t throttled_writes; /* writers that waited for writeback */
	uint64_t write_retries;	   /* buffered-write chunks retried after a short copy */
	uint64_t lock_contended;   /* sleeping acquisitions, all lock classes */
	uint64_t lock_wait_ns;
	/* O_DIRECT: windows faulted in and retried, restarts after the fault
	 * rule dropped the DIO's BLOCK, windows copied through a bounce buffer */
	uint64_t dio_retries, dio_dropped, dio_bounced;
};
void pc_get_stats(struct pc_engine *e, struct pc_stats *st);

#ifdef __cplusplus
}
#endif
#endif

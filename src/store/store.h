/* SPDX-License-Identifier: MIT */
/*
 * store.h - the backing-store interface (docs/design.md §8), iomap-style: the
 * page cache (mm, fs) reaches every byte on disk through these calls, never
 * through a host file descriptor of its own.
 *
 * Objects:
 *   struct store        an opened store (one engine per store: see
 *                       store_open_dir); its ops, DIO alignment, fault
 *                       injection and per-op call counters.
 *   struct store_inode  one opened backing file: the handle every data call
 *                       takes. Opened by path (store_open), freed by
 *                       store_release once no call on it is in flight.
 *
 * Paths are relative to the store root: no leading '/', '.' components are
 * dropped, '..' may not climb above the root (-EINVAL), "" names the root
 * itself (getattr, readdir), the empty string for a create/open is -ENOENT.
 *
 * Errors: every call returns 0 / a count, or -errno (never sets errno).
 *
 * Every entry point (store.c) first calls assert_io_allowed() - the
 * validator reports blocking store I/O under the mm lock - then consults the
 * store's fault injection, then calls the backend.
 *
 * Locking: none. Calls on one store_inode may run concurrently from any
 * threads; the caller guarantees none is in flight at store_release and
 * none at all at store_close. Fault-injection state is atomics.
 */
#ifndef PC_STORE_STORE_H
#define PC_STORE_STORE_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

struct store;
struct store_inode;

/* ---- map ---- */

enum store_map_type {
	STORE_HOLE = 0,	     /* reads as zeroes, nothing allocated */
	STORE_MAPPED = 1,    /* data on the store */
	STORE_UNWRITTEN = 2, /* allocated, reads as zeroes (dir never reports it) */
};

struct store_map {
	enum store_map_type type;
	int64_t offset; /* file offset of the extent: always the pos asked for */
	int64_t length; /* bytes from offset, > 0, never past pos + len */
	int64_t addr;	/* store address of offset (dir: the host file offset) */
};

/* ---- fault injection ---- */

/* Every entry point is one op; counters and injection are kept per op. */
enum store_op {
	STORE_OP_OPEN,
	STORE_OP_UNLINK,
	STORE_OP_RENAME,
	STORE_OP_MKDIR,
	STORE_OP_RMDIR,
	STORE_OP_READDIR,
	STORE_OP_GETATTR,
	STORE_OP_SETSIZE,
	STORE_OP_MAP,
	STORE_OP_READ,
	STORE_OP_WRITE,
	STORE_OP_DIO_READ,
	STORE_OP_DIO_WRITE,
	STORE_OP_FALLOCATE,
	STORE_OP_CLONE,
	STORE_OP_SYNC,
	STORE_OP_STATFS,
	STORE_OP_LINK,
	STORE_OP_SYMLINK,
	STORE_OP_READLINK,
	STORE_OP_SETATTR,
	STORE_OP_RESERVE,
	STORE_OP_SYNC_DIR,
	STORE_OP_NR,
	STORE_OP_ANY = STORE_OP_NR, /* injection slot consulted by every op */
};

/* A hook sees each call before the backend does: return 0 to let it run or
 * -errno to fail it. @si is NULL for namespace ops, @pos/@len 0 where none. */
typedef int (*store_inject_fn)(void *arg, enum store_op op, struct store_inode *si, int64_t pos,
			       int64_t len);

struct store_fail {
	long countdown; /* calls left until the failing one; 0: disarmed */
	int err;	/* positive errno to return */
	int sticky;	/* after firing, fail every later call */
	int firing;	/* sticky and fired */
};

struct store_inject {
	store_inject_fn hook;
	void *hook_arg;
	struct store_fail fail[STORE_OP_NR + 1]; /* [STORE_OP_ANY]: any op */
	unsigned long fired;			 /* failures injected so far */
};

/* ---- attributes ---- */

/* store_setattr: which fields to set. ctime is always set to now. */
#define STORE_ATTR_MODE	 (1u << 0) /* permission bits and S_ISUID/S_ISGID/S_ISVTX only */
#define STORE_ATTR_UID	 (1u << 1)
#define STORE_ATTR_GID	 (1u << 2)
#define STORE_ATTR_ATIME (1u << 3) /* tv_nsec may be UTIME_NOW */
#define STORE_ATTR_MTIME (1u << 4) /* tv_nsec may be UTIME_NOW */

struct store_setattr {
	unsigned valid;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec atime, mtime;
};

/* ---- the backend ---- */

/* readdir callback: @next is the cookie to resume after this entry; return 0
 * to go on, > 0 to stop (store_readdir returns 0), < 0 to stop and return it. */
typedef int (*store_filldir_t)(void *ctx, const char *name, uint64_t ino, unsigned d_type,
			       int64_t next);

/* Backends see normalized paths ("" = root, no '.', '..', '//', or leading
 * '/') and checked arguments; they do not inject faults or assert. */
struct store_ops {
	const char *name;
	int (*open)(struct store *s, const char *path, int flags, mode_t mode,
		    struct store_inode **out);
	void (*release)(struct store_inode *si);
	int (*unlink)(struct store *s, const char *path);
	int (*rename)(struct store *s, const char *from, const char *to, unsigned flags);
	int (*mkdir)(struct store *s, const char *path, mode_t mode);
	int (*rmdir)(struct store *s, const char *path);
	int (*readdir)(struct store *s, const char *path, int64_t start, store_filldir_t fill,
		       void *ctx);
	int (*getattr)(struct store *s, const char *path, struct stat *st);
	int (*fgetattr)(struct store_inode *si, struct stat *st);
	int (*setsize)(struct store_inode *si, int64_t size);
	int (*map)(struct store_inode *si, int64_t pos, int64_t len, struct store_map *out);
	ssize_t (*read)(struct store_inode *si, void *buf, size_t len, int64_t pos);
	ssize_t (*write)(struct store_inode *si, const void *buf, size_t len, int64_t pos);
	ssize_t (*dio_read)(struct store_inode *si, void *buf, size_t len, int64_t pos);
	ssize_t (*dio_write)(struct store_inode *si, const void *buf, size_t len, int64_t pos);
	int (*fallocate)(struct store_inode *si, int mode, int64_t off, int64_t len);
	int (*clone_range)(struct store_inode *src, int64_t src_off, struct store_inode *dst,
			   int64_t dst_off, int64_t len);
	int (*sync)(struct store_inode *si, bool datasync);
	int (*statfs)(struct store *s, struct statvfs *st);
	int (*link)(struct store *s, const char *from, const char *to);
	int (*symlink)(struct store *s, const char *target, const char *path);
	ssize_t (*readlink)(struct store *s, const char *path, char *buf, size_t size);
	int (*setattr)(struct store *s, const char *path, const struct store_setattr *attr);
	int (*sync_dir)(struct store *s, const char *path);
	/* Optional (NULL: the store finds space at write time, as dir does). */
	int (*reserve)(struct store_inode *si, int64_t pos, int64_t len);
	void (*unreserve)(struct store_inode *si, int64_t pos, int64_t len);
	int (*close)(struct store *s);
};

struct store {
	const struct store_ops *ops;
	void *private; /* the backend's */
	/* O_DIRECT: offset, length and buffer address must be multiples of
	 * dio_align (the host's statx STATX_DIOALIGN, else 512). */
	unsigned dio_align;
	bool dio_supported; /* false: O_DIRECT opens and dio_* return -EINVAL */
	/* Nobody but this store's user changes its files (vol: the image is
	 * locked). false (dir): another program may rewrite a host file, so
	 * pages cached across a close are revalidated at the next open. */
	bool sole_writer;
	/* Bytes: the readahead size of the host block device under the store
	 * (sysfs read_ahead_kb, the kernel's bdi ra_pages), 0 if unknown. */
	size_t ra_hint;
	struct store_inject inject;
	unsigned long calls[STORE_OP_NR]; /* entry-point calls, per op (atomic) */
};

struct store_inode {
	struct store *store;
	int fd;	       /* host fd (dir), read-write unless readonly */
	int dio_fd;    /* host fd opened O_DIRECT, -1 until first needed */
	bool readonly; /* the host allowed only O_RDONLY: writes give -EBADF */
	uint64_t ino;  /* host inode number */
	uint64_t dev;  /* host device */
	void *private; /* the backend's */
};

/* ---- opening and closing ---- */

/* Opens the dir store at @root (an existing directory): one host file per
 * file, same offsets. Takes an exclusive lock on
 * <root>/.pagecache.lock (hidden from readdir, reserved: -EPERM): a second
 * opener of the same root, in this process or another, gets -EBUSY. */
int store_open_dir(const char *root, struct store **out);
/* Opens the vol store in the image file or block device @image (see
 * src/store/vol/vol.h for mkfs and fsck). Takes an exclusive lock on the
 * image (flock): a second opener gets -EBUSY. A volume that is not vol,
 * corrupt or of an unknown version gives -EINVAL / -EUCLEAN / -EOPNOTSUPP
 * and logs one clear line to stderr saying what is wrong. */
int store_open_vol(const char *image, struct store **out);
/* Closes the store and drops its lock. No store_inode may remain open.
 * 0, or -errno when what the store still held could not be made durable
 * (vol: the final commit failed; the store is closed all the same). */
int store_close(struct store *s);
/* For backends: sets s->ra_hint from the block device @dev (sysfs). */
void store_probe_ra_hint(struct store *s, dev_t dev);

/* ---- namespace ---- */

/* Opens the regular file @path. @flags: O_CREAT, O_EXCL, O_TRUNC with the
 * usual meaning, O_DIRECT (fail now with -EINVAL if the store cannot do it),
 * access mode O_RDONLY/O_WRONLY/O_RDWR. The host file is always opened
 * read-write when the host permits (writeback needs it whatever the user's
 * mode); a read-only host file is opened read-only only for an O_RDONLY open.
 * -EISDIR for a directory, -EINVAL for other non-regular files, -ELOOP for
 * a symlink. */
int store_open(struct store *s, const char *path, int flags, mode_t mode, struct store_inode **out);
/* store_open(path, O_RDWR | O_CREAT | O_EXCL, mode). */
int store_create(struct store *s, const char *path, mode_t mode, struct store_inode **out);
/* Closes the handle; the caller guarantees no call on it is in flight. */
void store_release(struct store_inode *si);
int store_unlink(struct store *s, const char *path);
/* @flags: 0, RENAME_NOREPLACE (-EEXIST if @to exists), RENAME_EXCHANGE
 * (both must exist; swapped atomically). Anything else: -EINVAL. */
int store_rename(struct store *s, const char *from, const char *to, unsigned flags);
int store_mkdir(struct store *s, const char *path, mode_t mode);
int store_rmdir(struct store *s, const char *path);
/* Lists directory @path ("" = root) from cookie @start (0 = beginning),
 * without "." and "..". */
int store_readdir(struct store *s, const char *path, int64_t start, store_filldir_t fill,
		  void *ctx);
/* lstat() of @path ("" = root). */
int store_getattr(struct store *s, const char *path, struct stat *st);
int store_statfs(struct store *s, struct statvfs *st);
/* Hard link: @to (must not exist: -EEXIST) names the object @from names
 * (not a directory: -EPERM). nlink and ctime of the object change. */
int store_link(struct store *s, const char *from, const char *to);
/* Creates symlink @path holding @target (1..4095 bytes, else -ENAMETOOLONG
 * or -ENOENT for ""). */
int store_symlink(struct store *s, const char *target, const char *path);
/* readlink(2): bytes placed in @buf (not NUL-terminated, truncated to
 * @size), -EINVAL if @path is not a symlink. */
ssize_t store_readlink(struct store *s, const char *path, char *buf, size_t size);
/* chmod/chown/utimensat of @path itself (a symlink is not followed; mode on
 * a symlink: -EOPNOTSUPP). -EINVAL for unknown bits in attr->valid. The
 * store does no permission checks: the caller does. */
int store_setattr(struct store *s, const char *path, const struct store_setattr *attr);

/* ---- data ---- */

/* fstat() of the open file. */
int store_fgetattr(struct store_inode *si, struct stat *st);
/* The file's size, or -errno. */
int64_t store_size(struct store_inode *si);
/* Truncates or extends (with a hole) to @size. */
int store_setsize(struct store_inode *si, int64_t size);
/* Describes the extent at @pos (len > 0): a hole, data, or unwritten space,
 * at most @len bytes long. Past end of file it is a hole of @len. */
int store_map(struct store_inode *si, int64_t pos, int64_t len, struct store_map *out);
/* Buffered host I/O. read: bytes read, fewer than @len only at end of file;
 * write: @len, or -errno (some bytes may have reached the host before it). */
ssize_t store_read(struct store_inode *si, void *buf, size_t len, int64_t pos);
ssize_t store_write(struct store_inode *si, const void *buf, size_t len, int64_t pos);
/* O_DIRECT host I/O, bypassing the host cache: -EINVAL unless dio_supported
 * and @pos, @len and @buf are multiples of store->dio_align. Same results as
 * store_read/store_write otherwise (a read stops at end of file). */
ssize_t store_dio_read(struct store_inode *si, void *buf, size_t len, int64_t pos);
ssize_t store_dio_write(struct store_inode *si, const void *buf, size_t len, int64_t pos);
/* Host fallocate. @mode: 0, FALLOC_FL_KEEP_SIZE,
 * FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, FALLOC_FL_ZERO_RANGE
 * (optionally | KEEP_SIZE), FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE;
 * other modes and hosts lacking one give -EOPNOTSUPP. Collapse/insert need
 * block-aligned @off/@len (-EINVAL otherwise, from the host). */
int store_fallocate(struct store_inode *si, int mode, int64_t off, int64_t len);
/* Shares @len bytes of @src at @src_off into @dst at @dst_off (reflink);
 * -EOPNOTSUPP where the host cannot (ext4, tmpfs). @len 0 = to src's EOF. */
int store_clone_range(struct store_inode *src, int64_t src_off, struct store_inode *dst,
		      int64_t dst_off, int64_t len);
/* fsync (datasync false) or fdatasync (true). */
int store_sync(struct store_inode *si, bool datasync);
/*
 * Delayed allocation (ext4's delalloc reservation): the page cache calls
 * store_reserve before it dirties the bytes [pos, pos+len) in memory, so
 * that their later store_write cannot fail for lack of space. The store
 * sets aside, for every block of the range that a write would have to
 * allocate (a hole not yet reserved), that block and the metadata its
 * allocation can need; store_write consumes the reservation when it
 * allocates the block, and truncate, punch, collapse/insert and the last
 * close of an unlinked file release what is left. Re-reserving a reserved
 * block is free. 0 (all of the range covered) or -ENOSPC (nothing reserved:
 * the volume cannot hold it, even after committing to recover freed
 * blocks), -ENOMEM, -EIO. May commit (blocking I/O). Stores that allocate
 * at write time (dir: the host decides) return 0.
 * store_unreserve releases the reservations of the blocks inside
 * [pos, pos+len) (rounded out to whole blocks): the caller dirtied nothing
 * there after all and no dirty cached byte lies in those blocks.
 */
int store_reserve(struct store_inode *si, int64_t pos, int64_t len);
void store_unreserve(struct store_inode *si, int64_t pos, int64_t len);
/* fsync of the directory @path ("" = root): every change of its entries
 * made so far (create, unlink, rename into or out of it, mkdir, rmdir) is
 * durable when it returns 0. vol: a commit of the journal, which makes
 * every change up to now durable (as ext4's journal does); dir: fsync of
 * the host directory (syncfs of the host file system if the path no longer
 * names a directory of ours). */
int store_sync_dir(struct store *s, const char *path);

/* ---- fault injection (tests) ---- */

/* Fail the @nth next call of @op (1 = the very next; STORE_OP_ANY: of any op)
 * with -@err; @sticky: and every call of it after that. Re-arming replaces. */
void store_inject_fail(struct store *s, enum store_op op, unsigned long nth, int err, bool sticky);
/* Installs (or with NULL removes) a hook seeing every call; set it while no
 * store call is in flight. */
void store_inject_hook(struct store *s, store_inject_fn fn, void *arg);
/* Disarms everything (the fired count stays). */
void store_inject_clear(struct store *s);
/* Failures injected so far. */
unsigned long store_inject_fired(struct store *s);
/* Entry-point calls of @op so far. */
unsigned long store_calls(struct store *s, enum store_op op);
const char *store_op_name(enum store_op op);

/* ---- for backends ---- */

/* Normalizes @path into @buf (see above). 0, or -EINVAL (absolute, escapes
 * the root), -ENAMETOOLONG. An empty result means the root. */
int store_path_normalize(const char *path, char *buf, size_t size);

/* dir: resolve parents with openat2(RESOLVE_BENEATH) (true, the default;
 * cleared by itself on hosts without it) or a walk of O_NOFOLLOW openat()s. */
extern bool store_dir_use_openat2;

#endif

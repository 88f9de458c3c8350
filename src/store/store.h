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

#include "kernel/testswitch.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

struct store;
struct store_inode;
struct store_node;

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
	STORE_OP_LOOKUP,
	STORE_OP_CREATE, /* regular files, fifos, sockets, devices (mkdir: STORE_OP_MKDIR) */
	STORE_OP_TMPFILE,
	STORE_OP_GETXATTR,
	STORE_OP_SETXATTR,
	STORE_OP_LISTXATTR,
	STORE_OP_REMOVEXATTR,
	STORE_OP_HANDLE, /* encode and decode */
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

/* ---- nodes ---- */

/*
 * struct store_node: a counted reference to one object of the store - a
 * directory, regular file, symlink, fifo, socket or device node - whether or
 * not it still has a name (an unlinked node stays usable: getattr gives
 * nlink 0, setattr and xattrs work, a regular file's data stays readable
 * through its store_inodes). The backend embeds it in its own object
 * (dir: an O_PATH fd of the host object; vol: the in-memory inode). Nodes
 * are the namespace: every store call that names something takes a
 * directory node and one component name.
 *
 * A backend may hand out one node per object (vol) or one per lookup (dir);
 * callers compare objects by (dev, ino), never by node address.
 */
struct store_node {
	struct store *store;
	uint64_t ino;  /* st_ino */
	uint64_t dev;  /* st_dev */
	mode_t type;   /* S_IFMT bits: fixed for the object's life */
	unsigned refs; /* atomic; the backend's node_put frees at 0 */
};

/* Who a new object belongs to (create, symlink, tmpfile); never NULL (the
 * path calls pass the process's euid/egid). */
struct store_owner {
	uid_t uid;
	gid_t gid;
};

/* An export handle (name_to_handle_at): opaque bytes of the backend. */
#define STORE_HANDLE_MAX 64
struct store_handle {
	uint32_t len;  /* bytes used in data[] */
	uint32_t type; /* backend's kind; STORE_HANDLE_INO_GEN below is public */
	unsigned char data[STORE_HANDLE_MAX];
};
/* type of a handle whose data[] is { uint64_t ino; uint64_t generation; }
 * (vol): a FUSE front end can rebuild it from a node id and generation;
 * with len 8 (ino alone) decode takes whatever object the inode number
 * names now (FUSE's LOOKUP(nodeid, ".") carries no generation: the kernel
 * compares it itself). */
#define STORE_HANDLE_INO_GEN 1u

/* ---- the backend ---- */

/* readdir callback: @next is the cookie to resume after this entry; return 0
 * to go on, > 0 to stop (store_readdir returns 0), < 0 to stop and return it. */
typedef int (*store_filldir_t)(void *ctx, const char *name, uint64_t ino, unsigned d_type,
			       int64_t next);

/*
 * Backends implement the namespace on nodes (struct store_node, below): one
 * directory and one component name per call, never a path. store.c checks
 * names (non-empty, no '/', at most NAME_MAX bytes, not "." or ".."; lookup
 * alone accepts ".."), injects faults and asserts, then calls the backend.
 * The path calls further down are store.c's walks over these.
 */
struct store_ops {
	const char *name;

	/* ---- nodes ---- */
	/* A new reference to the root directory. */
	int (*root)(struct store *s, struct store_node **out);
	/* The node @name names in directory @dir (a new reference); ".." is the
	 * parent (the root's is the root). -ENOENT, -ENOTDIR (@dir not a dir). */
	int (*lookup)(struct store_node *dir, const char *name, struct store_node **out);
	/* Drops a reference; the last one of a node with no name left frees
	 * the object (and its data once no store_inode of it is open). */
	void (*node_put)(struct store_node *n);
	/* Creates @name in @dir: a directory (S_IFDIR), regular file, fifo,
	 * socket, or char/block device (@rdev) per @mode's type; permission
	 * bits as given (the caller applied the umask and the setgid-directory
	 * rule: @owner says whose it is). -EEXIST, -ENOSPC, -EMLINK. */
	int (*create)(struct store_node *dir, const char *name, mode_t mode, dev_t rdev,
		      const struct store_owner *owner, struct store_node **out);
	/* Creates symlink @name in @dir holding @target (1..4095 bytes). */
	int (*symlink)(struct store_node *dir, const char *name, const char *target,
		       const struct store_owner *owner, struct store_node **out);
	/* An unnamed regular file (O_TMPFILE) on @dir's file system: nlink 0
	 * until link() names it; freed with its last reference otherwise. */
	int (*tmpfile)(struct store_node *dir, mode_t mode, const struct store_owner *owner,
		       struct store_node **out);
	/* Hard link: @name in @dir names @n (-EPERM for a directory, -EEXIST,
	 * -ENOENT if @n has no name left and is not an O_TMPFILE file). */
	int (*link)(struct store_node *n, struct store_node *dir, const char *name);
	/* unlink (@rmdir false: -EISDIR for a directory) or rmdir (true:
	 * -ENOTDIR, -ENOTEMPTY). */
	int (*unlink)(struct store_node *dir, const char *name, bool rmdir);
	/* rename(2)/renameat2 semantics, @flags checked by store.c. -EINVAL for
	 * a directory moved below itself, -EXDEV never (one store). */
	int (*rename)(struct store_node *odir, const char *oname, struct store_node *ndir,
		      const char *nname, unsigned flags);
	/* lstat() of the node itself (an unlinked node too: nlink 0). */
	int (*getattr)(struct store_node *n, struct stat *st);
	int (*setattr)(struct store_node *n, const struct store_setattr *attr);
	ssize_t (*readlink)(struct store_node *n, char *buf, size_t size);
	/* Lists @dir from cookie @start (0: the beginning) without "." and "..".
	 * Cookies are stable: an entry keeps its cookie while it exists, so a
	 * listing resumed at a cookie neither repeats nor skips the entries that
	 * were there throughout. */
	int (*readdir)(struct store_node *dir, int64_t start, store_filldir_t fill, void *ctx);
	/* Opens the regular file @n for data (see store_open for @flags). */
	int (*open)(struct store_node *n, int flags, struct store_inode **out);
	/* The generation of regular file @n as an open of it would set
	 * store_inode.gen, without the open where the source allows (NULL:
	 * always 0). -EACCES where it needs an open the caller may not make. */
	int (*node_gen)(struct store_node *n, uint64_t *gen);
	/* Extended attributes of any node (symlinks included), as the xattr(7)
	 * calls: get/list return the size (@size 0: only the size needed) or
	 * -ERANGE, -ENODATA; set honours XATTR_CREATE/XATTR_REPLACE, -E2BIG
	 * (value over 64 KiB), -ENOSPC (the node's attribute space is full).
	 * Names carry their namespace ("user.", "trusted.", "security.",
	 * "system.posix_acl_access", ...); the store keeps them opaquely. */
	ssize_t (*getxattr)(struct store_node *n, const char *name, void *buf, size_t size);
	int (*setxattr)(struct store_node *n, const char *name, const void *value, size_t size,
			int flags);
	ssize_t (*listxattr)(struct store_node *n, char *buf, size_t size);
	int (*removexattr)(struct store_node *n, const char *name);
	/* Export: a handle that names @n for as long as the object lives, and
	 * never names another object afterwards (generation numbers), across
	 * store close and open; decode gives a new reference or -ESTALE.
	 * NULL where the store cannot (-EOPNOTSUPP). */
	int (*encode_handle)(struct store_node *n, struct store_handle *h);
	int (*decode_handle)(struct store *s, const struct store_handle *h,
			     struct store_node **out);
	/* fsync of directory @dir (see store_sync_dir). */
	int (*sync_dir)(struct store_node *dir);
	int (*statfs)(struct store *s, struct statvfs *st);

	/* ---- data (struct store_inode) ---- */
	void (*release)(struct store_inode *si);
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
	/* Host fds one open store inode may hold (dir: its data fd, its
	 * O_DIRECT fd and its node's O_PATH fd; vol: none). The inode table
	 * sizes its cache of unused inodes from the process's limit of open
	 * files with it (fs/inode_lru.c). */
	unsigned inode_fds;
	/* Bytes: the readahead size of the host block device under the store
	 * (sysfs read_ahead_kb, the kernel's bdi ra_pages), 0 if unknown. */
	size_t ra_hint;
	struct store_inject inject;
	unsigned long calls[STORE_OP_NR]; /* entry-point calls, per op (atomic) */
	/* Cluster mode (docs/cluster.md): every call that changes file data
	 * or size (setsize, write, dio_write, fallocate, clone) first asks
	 * fence(fence_arg): an error (-EIO once the node's lock-service lease
	 * is lost) fails the call, so a node never writes under glocks it may
	 * no longer hold. NULL: no fence. Set before the first call. */
	int (*fence)(void *arg);
	void *fence_arg;
	/* Cluster mode (dir): where store_inode.gen comes from, the same for
	 * every file, probed at open on the root ("FS_IOC_GETVERSION",
	 * "statx-btime", "file-handle", or "none": every gen 0). Every node of
	 * a cluster must use the same source (the lock service compares it). */
	const char *gen_source;
};

struct store_inode {
	struct store *store;
	int fd;	       /* host fd (dir), read-write unless readonly */
	int dio_fd;    /* host fd opened O_DIRECT, -1 until first needed */
	bool readonly; /* the host allowed only O_RDONLY: writes give -EBADF */
	uint64_t ino;  /* host inode number */
	uint64_t dev;  /* host device */
	/* The generation of ino (cluster mode: a host file system may give the
	 * number of an unlinked file to a new one; see store.gen_source).
	 * 0 where the store has none (always, outside cluster mode). */
	uint64_t gen;
	struct store_node *node; /* the object (a reference, set by store.c) */
	void *private;		 /* the backend's */
};

/* ---- opening and closing ---- */

/* Opens the dir store at @root (an existing directory): one host file per
 * file, same offsets. Takes an exclusive lock on
 * <root>/.pagecache.lock (hidden from readdir, reserved: -EPERM): a second
 * opener of the same root, in this process or another, gets -EBUSY. */
int store_open_dir(const char *root, struct store **out);
/* The dir store for cluster mode: several engines (nodes) serve @root at
 * once, kept coherent by their glocks, so the exclusive lock is not taken;
 * file data moves with O_DIRECT where the request is aligned, else through
 * the host cache written through (sync_file_range) and dropped
 * (POSIX_FADV_DONTNEED) around each transfer, so that no node is served
 * from a host cache another machine's writes do not reach (NFS, CephFS). */
int store_open_dir_cluster(const char *root, struct store **out);
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

/* ---- namespace on nodes ---- */

/* Every call here: 0 / a count, or -errno. @name arguments are one
 * component: "" -> -ENOENT, containing '/' -> -EINVAL, over NAME_MAX ->
 * -ENAMETOOLONG, "." or ".." -> -EEXIST for creates, -EINVAL for
 * unlink/rename sources, -ENOTEMPTY/-EBUSY as Linux for rmdir (store.c
 * makes those checks before the backend sees the call). Nodes passed as
 * directories that are not: -ENOTDIR. */
int store_root(struct store *s, struct store_node **out);
int store_lookup(struct store_node *dir, const char *name, struct store_node **out);
static inline struct store_node *store_node_get(struct store_node *n)
{
	__atomic_fetch_add(&n->refs, 1, __ATOMIC_RELAXED);
	return n;
}
void store_node_put(struct store_node *n);
/* mknod(2)/mkdir(2)/creat(2) without opening: see store_ops.create. */
int store_create_at(struct store_node *dir, const char *name, mode_t mode, dev_t rdev,
		    const struct store_owner *owner, struct store_node **out);
/* A symlink's target: 0, -EFAULT (NULL), -ENOENT (""), -ENAMETOOLONG. */
int store_check_symlink_target(const char *target);
int store_symlink_at(struct store_node *dir, const char *name, const char *target,
		     const struct store_owner *owner, struct store_node **out);
int store_tmpfile(struct store_node *dir, mode_t mode, const struct store_owner *owner,
		  struct store_node **out);
int store_link_at(struct store_node *n, struct store_node *dir, const char *name);
int store_unlink_at(struct store_node *dir, const char *name, bool rmdir);
int store_rename_at(struct store_node *odir, const char *oname, struct store_node *ndir,
		    const char *nname, unsigned flags);
int store_node_getattr(struct store_node *n, struct stat *st);
int store_node_setattr(struct store_node *n, const struct store_setattr *attr);
ssize_t store_node_readlink(struct store_node *n, char *buf, size_t size);
int store_node_readdir(struct store_node *dir, int64_t start, store_filldir_t fill, void *ctx);
/* Opens regular file @n for data: @flags as store_open (O_CREAT, O_EXCL
 * and O_TRUNC are the caller's business and ignored here). -EISDIR,
 * -EINVAL (not regular), -ELOOP (symlink). si->node is a new reference. */
int store_node_open(struct store_node *n, int flags, struct store_inode **out);
/* store_inode.gen of regular file @n without opening it for data where the
 * store's source allows (stat of a file this engine may not read): 0, or
 * -EACCES / -errno when it cannot be known. */
int store_node_gen(struct store_node *n, uint64_t *gen);
ssize_t store_getxattr(struct store_node *n, const char *name, void *buf, size_t size);
int store_setxattr(struct store_node *n, const char *name, const void *value, size_t size,
		   int flags);
ssize_t store_listxattr(struct store_node *n, char *buf, size_t size);
int store_removexattr(struct store_node *n, const char *name);
int store_encode_handle(struct store_node *n, struct store_handle *h);
int store_decode_handle(struct store *s, const struct store_handle *h, struct store_node **out);
int store_node_sync_dir(struct store_node *dir);

/*
 * The walk behind every path call (store.c): resolves @path (PATH_MAX at
 * most, -ENAMETOOLONG; components NAME_MAX) from directory @start, one
 * lookup per component, ".." going up (never above the store root), no
 * symlink followed (one in a parent is -ELOOP, a non-directory -ENOTDIR).
 * On success *parent is a reference to the directory holding the last
 * component and @last (NAME_MAX + 1 bytes) its name: "" when the path names
 * @start itself or the root ("", ".", "/"), "." or ".." kept as such when
 * the path ends in one. *trailing_slash tells whether the path ended in
 * '/' (or "/." ), which the caller must check against the object found.
 * A leading '/' starts at the root.
 */
int store_walk_parent(struct store_node *start, const char *path, struct store_node **parent,
		      char *last, bool *trailing_slash);
/* The whole walk: a reference to the node @path names from @start. */
int store_walk(struct store_node *start, const char *path, struct store_node **out);

/* ---- namespace by path (walks from the root: tests and tools) ---- */

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
/* The store has a clone_range op (it may still answer -EOPNOTSUPP: a dir
 * store on a host file system without reflink). */
bool store_has_clone_range(const struct store_inode *si);
int store_clone_range(struct store_inode *src, int64_t src_off, struct store_inode *dst,
		      int64_t dst_off, int64_t len);
/* fsync (datasync false) or fdatasync (true). */
int store_sync(struct store_inode *si, bool datasync);
/* The same for a caller that needs the bytes [@start, @end] durable
 * (fsync_range, an O_SYNC write): the injection hook sees the range as its
 * pos/len (store_sync: 0, 0); every backend syncs the whole file. */
int store_sync_range(struct store_inode *si, int64_t start, int64_t end, bool datasync);
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
/* Below the entry points, test builds only (kernel/testswitch.h): the dir
 * store's host pread(2) of its data reads, replaced so that a test can make
 * the host fail part-way through one (not a protection). */
typedef ssize_t (*dir_pread_fn)(int fd, void *buf, size_t len, off_t pos);
DECLARE_TEST_KNOB(dir_pread_fn, dir_test_pread);

/* ---- for backends ---- */

/* Normalizes @path into @buf (see above). 0, or -EINVAL (absolute, escapes
 * the root), -ENAMETOOLONG. An empty result means the root. */
int store_path_normalize(const char *path, char *buf, size_t size);

#endif

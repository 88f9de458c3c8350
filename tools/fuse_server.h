/* SPDX-License-Identifier: MIT */
/*
 * fuse_server.h - the FUSE front end of `pagecache mount`: the low-level
 * operations (fuse_ops.c, fuse_namei.c, fuse_dir.c, fuse_xattr.c,
 * fuse_flock.c), the
 * ownership rules (fuse_perm.c), POSIX ACLs (fuse_acl.c) and the session
 * driver (mount.c). Every request works on the engine fd of its node
 * (fuse_nodes.c) and at most one name in it.
 *
 * Locks: see docs/locking.md "FUSE". The node table has its own leaf lock;
 * no lock of ours is held across an engine call or a reply.
 */
#ifndef PC_TOOLS_FUSE_SERVER_H
#define PC_TOOLS_FUSE_SERVER_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>

#include "pagecache.h"

/* The hidden, read-only file in the mount's root that `pagecache stat`
 * reads: the engine's statistics as "key value" lines. */
#define PCFS_STATS_NAME ".pagecache-stats"
/* Its node id: no store inode number (vol's are slots) and no id made by
 * the server (a counter) comes near it. */
#define PCFS_STATS_NODEID 0xffffffffffffff01ull

struct pcfs {
	struct pc_engine *e;
	struct fuse_session *se;
	/* Opens use the kernel page cache (mmap works; keep_cache): the
	 * default mode. False with --direct-io: every read and write goes to
	 * the server. */
	bool mmap_mode;
	uid_t owner_uid; /* who mounted */
	uint64_t reqs;	 /* atomic: requests served */
	/* Node ids are the store's inode numbers and entries carry the store's
	 * generation (FUSE_CAP_EXPORT_SUPPORT): the store's export handles are
	 * PC_HANDLE_INO_GEN (vol). */
	bool export_ids;
	/* FUSE_CAP_POSIX_ACL was granted: the kernel checks ACLs, the server
	 * keeps modes and ACLs in step and applies default ACLs (fuse_acl.c). */
	bool posix_acl;
	/* PC_FUSE_NO_FLUSH_REPORT=1 (tests only): flush answers 0 without
	 * writing back, so a writeback error reaches no close(2). */
	bool no_flush_report;
	/* PC_FUSE_NO_EXPORT=1 (tests only): server-made node ids, as on the dir
	 * store, so a file handle goes stale at a remount. */
	bool test_no_export;
	/* PC_FUSE_NO_ACL=1 (tests only): FUSE_CAP_POSIX_ACL not asked for, so
	 * the kernel enforces the mode bits alone (ACLs stored, not honoured). */
	bool test_no_acl;
	/* PC_FUSE_OLD_KILLPRIV=1 (tests only): writes by a caller outside the
	 * file's group keep a non-group-executable S_ISGID (the old rule). */
	bool test_old_killpriv;
	/* --cluster: other nodes change the files and names too: no entry
	 * caching, and the kernel's cached pages of a file are dropped when
	 * another node makes the engine's stale (fuse_inval.c). */
	bool cluster;
	unsigned max_write;	/* negotiated at FUSE_INIT */
	uint64_t largest_read;	/* atomic: the largest read request seen */
	uint64_t largest_write; /* atomic: the largest write request seen */
	uint64_t flocks;	/* atomic: flock and POSIX lock requests served (fuse_flock.c) */
	/* Cluster mode: POSIX and OFD locks are the engine's (FUSE_CAP_POSIX_LOCKS, at init). */
	bool posix_locks;
};

/* Largest read and write request (max_write, readahead): 1 MiB, the
 * kernel's default limit of 256 pages per request. */
#define PCFS_MAX_IO (1u << 20)

extern struct pcfs pcfs;

/* fuse_inval.c: cluster mode, kernel page cache: a thread that tells the
 * kernel to drop its pages of each inode the engine invalidated. */
int cluster_inval_start(void);
void cluster_inval_stop(void);
extern const struct fuse_lowlevel_ops pcfs_ops;
/* Test switch (mount.c; set by PC_MOUNT_TEST_KEEP_SIGINT=1): the inherited
 * dispositions of SIGINT/SIGTERM/SIGHUP are kept, so a server started in
 * the background by a script ignores SIGINT (the bug the reset fixes). */
#ifdef PC_TEST_SWITCHES
extern bool mount_test_keep_sigint;
#else
#define mount_test_keep_sigint false
#endif

/* Test switch (fuse_ops.c; set by PC_FUSE_NO_FLOCK=1): FUSE_CAP_FLOCK_LOCKS
 * is not asked for, so the kernel keeps flock locks of the mount itself, per
 * node: two cluster mounts of one directory both grant LOCK_EX (the gap the
 * flock op closes: tests/cluster/test_cluster_mount_flock.sh). */
#ifdef PC_TEST_SWITCHES
extern bool fuse_test_no_flock_op;
#else
#define fuse_test_no_flock_op false
#endif
/* Test switch (fuse_ops.c; set by PC_FUSE_NO_POSIX_LOCKS=1): cluster mode
 * does not ask for FUSE_CAP_POSIX_LOCKS, so the kernel keeps fcntl locks
 * of the mount itself, per node: two cluster mounts of one directory both
 * grant a write lock on one range (tests/cluster/test_cluster_mount_plock.sh). */
#ifdef PC_TEST_SWITCHES
extern bool fuse_test_no_posix_lock_op;
#else
#define fuse_test_no_posix_lock_op false
#endif
/* Test switch (fuse_ops.c; set by PC_FUSE_CLUSTER_SHARED_MMAP=1): cluster
 * mode with the kernel page cache keeps it for opens with write access too,
 * so MAP_SHARED writable mappings are the kernel's, unseen by the glocks:
 * bytes one node stored and msync'd are undone by another node's write-back
 * of the same page (tests/cluster/test_cluster_mount_mmap.sh). */
#ifdef PC_TEST_SWITCHES
extern bool fuse_test_cluster_shared_mmap;
#else
#define fuse_test_cluster_shared_mmap false
#endif

/* Test hook (fuse_test_unpin.c; on with PC_FUSE_TEST_UNPIN=1): a setxattr
 * of "user.pagecache_test.unpin" = HOSTPATH points this process's host fds
 * of that file at a detached copy, as if another machine's unlink had freed
 * it (a shared file system). 0, or -errno (-ENOENT: no fd named it). */
#ifdef PC_TEST_SWITCHES
extern bool fuse_test_unpin_hook;
int fuse_test_unpin(const char *value, size_t size);
#else
#define fuse_test_unpin_hook  false
#define fuse_test_unpin(v, s) (-EOPNOTSUPP)
#endif

/* Frees the handles the kernel never released (after the session loop). */
void pcfs_free_handles(void);

/* Every open handle (file, directory, stats file) is on one list
 * (handles_lock, leaf), so that those the kernel never released (the
 * session ended first) are freed at exit by their ->free. */
struct handle {
	struct handle *next, **pprev;
	void (*free)(struct handle *h);
};
void handle_add(struct handle *h, void (*fn)(struct handle *));
void handle_del(struct handle *h);

struct node;

/* Shared by the operations: count a request; reply -errno (or 0). */
void count_req(void);
int reply_err(fuse_req_t req, int neg);

/* An open file: the engine fd, and a second one opened O_DIRECT for
 * aligned requests on a file the caller opened O_DIRECT; a reference to
 * its node (dropped at release, or at exit with the handle). */
struct fh {
	struct handle h;
	int fd, dfd;
	struct node *n;
	/* atomic: a byte-range lock was asked for through this handle: every
	 * read and write goes through fd (where the engine fences the I/O of
	 * a file whose locks were lost with a cluster session), not dfd */
	bool plocked;
};

/* fuse_flock.c: flock(2) on the mount (the engine's). */
void pcfs_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op);
/* POSIX and OFD byte-range locks (cluster mode: FUSE_CAP_POSIX_LOCKS). */
void pcfs_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock);
void pcfs_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock,
		int sleep);
/* A close(2) by @owner (FUSE_FLUSH): its byte-range locks on the file go. */
int pcfs_flush_locks(int fd, uint64_t owner);
/* Blocking flocks and POSIX locks waiting now (their threads). */
unsigned pcfs_flock_waiting(void);
/* After the session loop: cancels the flocks still waiting and waits for
 * their threads (before the open files are closed). */
void pcfs_flock_stop(void);

/* fuse_attr.c */
/* The stats file's attributes. */
void stats_attr(struct stat *st);
void pcfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void pcfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		  struct fuse_file_info *fi);
void pcfs_readlink(fuse_req_t req, fuse_ino_t ino);

/* fuse_ops.c: a new open file of node @n's object with @flags (the node's
 * O_PATH fd reopened): fd >= 0 or -errno. */
int node_open(struct node *n, int flags);
/* The node of FUSE @ino with a reference (node_put), or NULL after
 * replying ESTALE (a node id the server does not know) or EPERM (the
 * stats file). */
struct node *req_node(fuse_req_t req, fuse_ino_t ino);
/* The entry of @name in directory fd @dirfd, its node given one more
 * lookup (readdirplus: the kernel forgets it). 0 or -errno. */
int entry_at(int dirfd, const char *name, struct fuse_entry_param *ep);
/* Replies with the entry of the object of O_PATH engine fd @fd (taken:
 * kept by the node or closed). */
void reply_fd_entry(fuse_req_t req, int fd);

/* fuse_perm.c: ownership of new objects, S_ISUID/S_ISGID on changes. */
/* Gives the new object (O_PATH engine fd @fd) in @parent the caller's uid
 * and gid, or the parent's group under a setgid directory (and, for a
 * directory, the bit); with POSIX ACLs the parent's default ACL or the
 * caller's umask (fuse_acl.c: the kernel leaves both to the server then).
 * @mode: the create's mode. */
int set_owner(fuse_req_t req, struct node *parent, int fd, mode_t mode);
/* The bits a data change (@chown: a chown) by the request's caller clears
 * in @st's mode. */
mode_t privs_to_kill(fuse_req_t req, const struct stat *st, bool chown);
/* Clears them after a data change of @n (engine fd @fd, or the node's). */
void kill_privs(fuse_req_t req, struct node *n, int fd);
/* May the caller open existing file @st with @flags? 0 or -EACCES. */
int may_open_existing(fuse_req_t req, const struct stat *st, int flags);
/* Is the request's caller in group @gid (primary or supplementary)? */
bool caller_in_group(fuse_req_t req, gid_t gid);

/* fuse_acl.c: POSIX ACLs kept in step with modes (with pcfs.posix_acl). */
/* A new object (O_PATH engine fd @fd) in directory fd @dirfd created with
 * @mode (type and the caller's permission bits, the umask not applied):
 * with a default ACL on the directory, the object inherits it (as its
 * access ACL; a directory also as its default) and *@final is @mode masked
 * by it (posix_acl_create); without, *@final is @mode less @umask. 0 or
 * -errno. */
int acl_inherit(int dirfd, int fd, mode_t mode, mode_t umask, mode_t *final);
/* After a chmod of @fd to @mode: the access ACL's mask (or group) entry
 * follows the group bits (posix_acl_chmod). */
int acl_chmod(int fd, mode_t mode);
/* A "system.posix_acl_access" value about to be set on @fd (@st): the mode
 * it implies, and whether the ACL is equivalent to the mode alone (then it
 * is not stored: posix_acl_update_mode). 0 or -EINVAL. */
int acl_mode_of(const void *value, size_t size, mode_t *mode, bool *equiv);

/* fuse_namei.c */
void pcfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void pcfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void pcfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void pcfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void pcfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void pcfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		 const char *newname, unsigned int flags);
void pcfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
/* fuse_dir.c */
void pcfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void pcfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		  struct fuse_file_info *fi);
void pcfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi);
void pcfs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void pcfs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void pcfs_statfs(fuse_req_t req, fuse_ino_t ino);
/* fuse_xattr.c */
void pcfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
		   int flags);
void pcfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void pcfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void pcfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* Formats the statistics ("key value\n" lines) into @buf; returns length. */
int pcfs_stats_text(char *buf, size_t size);
/* One-line summary for the foreground log. */
void pcfs_stats_line(char *buf, size_t size);

#endif

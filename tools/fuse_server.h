/* SPDX-License-Identifier: MIT */
/*
 * fuse_server.h - the FUSE front end of `pagecache mount`: the low-level
 * operations (fuse_ops.c), the invalidation queue (fuse_notify.c) and the
 * session driver (mount.c).
 *
 * Locks: see docs/locking.md "FUSE". The node table has its own leaf lock;
 * the invalidation queue a leaf mutex; no lock of ours is held across an
 * engine call, a reply, or a notification.
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
#define PCFS_STATS_NAME	  ".pagecache-stats"
#define PCFS_STATS_NODEID 2

struct pcfs {
	struct pc_engine *e;
	struct fuse_session *se;
	/* Opens use the kernel page cache (mmap works; keep_cache unless the
	 * file changed behind it), with invalidation: the default mode. False
	 * with --direct-io: every read and write goes to the server. */
	bool mmap_mode;
	uid_t owner_uid; /* who mounted */
	uint64_t root_ino;
	uint64_t reqs;		/* atomic: requests served */
	uint64_t notifies_sent; /* atomic */
	/* PC_FUSE_NO_INVAL=1 (tests only): the protection off - notifications
	 * are counted but not sent, so stale kernel pages show. */
	bool no_inval;
	uint64_t notifies_lost; /* atomic: no memory to queue one */
	/* PC_FUSE_NO_FLUSH_REPORT=1 (tests only): flush answers 0 without
	 * writing back, so a writeback error reaches no close(2). */
	bool no_flush_report;
	/* PC_FUSE_KEEP_STALE=1 (tests only): opens keep the kernel's pages even
	 * of a node whose file changed behind them (the stale mark ignored). */
	bool test_keep_stale;
	/* PC_FUSE_OLD_KILLPRIV=1 (tests only): writes by a caller outside the
	 * file's group keep a non-group-executable S_ISGID (the old rule). */
	bool test_old_killpriv;
	unsigned max_write;	/* negotiated at FUSE_INIT */
	uint64_t largest_read;	/* atomic: the largest read request seen */
	uint64_t largest_write; /* atomic: the largest write request seen */
};

/* Largest read and write request (max_write, readahead): 1 MiB, the
 * kernel's default limit of 256 pages per request. */
#define PCFS_MAX_IO (1u << 20)

extern struct pcfs pcfs;
extern const struct fuse_lowlevel_ops pcfs_ops;
/* Test switch (mount.c; set by PC_MOUNT_TEST_KEEP_SIGINT=1): the inherited
 * dispositions of SIGINT/SIGTERM/SIGHUP are kept, so a server started in
 * the background by a script ignores SIGINT (the bug the reset fixes). */
#ifdef PC_TEST_SWITCHES
extern bool mount_test_keep_sigint;
#else
#define mount_test_keep_sigint false
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

/* Shared by the operations: count a request; reply -errno (or 0). */
void count_req(void);
int reply_err(fuse_req_t req, int neg);

/* fuse_perm.c: ownership of new objects, S_ISUID/S_ISGID on changes. */
struct node;
/* Gives the new object @path the caller's uid and gid, or the parent's
 * group under a setgid directory (and, for a directory, the bit). */
int set_owner(fuse_req_t req, struct node *parent, const char *path, bool dir, mode_t mode);
/* The bits a data change (@chown: a chown) by the request's caller clears
 * in @st's mode. */
mode_t privs_to_kill(fuse_req_t req, const struct stat *st, bool chown);
/* Clears them after a data change of @n (engine fd @fd, or by path). */
void kill_privs(fuse_req_t req, struct node *n, int fd);
/* May the caller open existing file @st with @flags? 0 or -EACCES. */
int may_open_existing(fuse_req_t req, const struct stat *st, int flags);

/* fuse_dir.c: directories, statfs, extended attributes. */
/* fuse_ops.c: replies with the entry of child @name of @parent (whose path
 * is @path); with @fi, as the reply to a create of the open file @fd. */
void reply_new_entry(fuse_req_t req, struct node *parent, const char *name, const char *path,
		     struct fuse_file_info *fi, int fd);
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
void pcfs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void pcfs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void pcfs_statfs(fuse_req_t req, fuse_ino_t ino);
void pcfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
		   int flags);
void pcfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void pcfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void pcfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* Formats the statistics ("key value\n" lines) into @buf; returns length. */
int pcfs_stats_text(char *buf, size_t size);
/* One-line summary for the foreground log. */
void pcfs_stats_line(char *buf, size_t size);

/* Invalidation queue: requests never notify the kernel themselves (it may
 * hold page locks of the inode while it waits for them); they queue, and
 * one thread sends. */
int notify_start(void);
void notify_stop(void);
/* Queue "drop the kernel's pages of nodeid @id in [off, off+len)" (len 0:
 * to EOF, off -1: attributes only). Never blocks on the kernel. */
void notify_inval(uint64_t id, int64_t off, int64_t len);

#endif

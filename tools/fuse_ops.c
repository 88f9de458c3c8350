/* SPDX-License-Identifier: MIT */
/*
 * fuse_ops.c - the FUSE low-level operations of `pagecache mount`: each
 * request becomes engine calls (include/pagecache.h) on the store path of
 * its node (fuse_nodes.c) or on the engine fd of its open file; every data
 * byte goes through the engine.
 *
 * Caching: attributes are not cached by the kernel (timeout 0) so stat
 * always shows the engine's size and times; names are (1 s: they change
 * only through this kernel, which updates its dentries itself). By default
 * opens (O_DIRECT ones too, so they can be mapped) use the kernel's page
 * cache, kept across opens (keep_cache) unless the node is stale: a change
 * made through the engine to a file (write, truncate, fallocate) marks
 * every other node naming that file stale and queues an invalidation of
 * its kernel pages (fuse_notify.c); the writer's own node the kernel keeps
 * coherent itself. With --direct-io opens use direct_io (no kernel cache).
 *
 * Ownership and the S_ISUID/S_ISGID rule are in fuse_perm.c: files are
 * created with the caller's uid and gid; the kernel applied the caller's
 * umask to create modes (the server runs with umask 0); permission checks
 * are the kernel's (default_permissions).
 *
 * The namespace calls (mknod, mkdir, unlink, rmdir, symlink, rename, link)
 * are in fuse_namei.c; directories, statfs and xattrs in fuse_dir.c.
 *
 * Locks: none of ours across engine calls or replies (docs/locking.md FUSE);
 * handles_lock (leaf) around the list of open handles.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fuse_nodes.h"
#include "fuse_server.h"

struct pcfs pcfs;

static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct handle *handles;

void handle_add(struct handle *h, void (*fn)(struct handle *))
{
	h->free = fn;
	pthread_mutex_lock(&handles_lock);
	h->next = handles;
	h->pprev = &handles;
	if (handles)
		handles->pprev = &h->next;
	handles = h;
	pthread_mutex_unlock(&handles_lock);
}

void handle_del(struct handle *h)
{
	pthread_mutex_lock(&handles_lock);
	*h->pprev = h->next;
	if (h->next)
		h->next->pprev = h->pprev;
	pthread_mutex_unlock(&handles_lock);
}

void pcfs_free_handles(void)
{
	pthread_mutex_lock(&handles_lock);
	while (handles) {
		struct handle *h = handles;
		handles = h->next;
		if (handles)
			handles->pprev = &handles;
		h->free(h); /* memory only: pc_engine_close closes the engine fds */
	}
	pthread_mutex_unlock(&handles_lock);
}

static void free_plain(struct handle *h)
{
	free(h);
}

/* The stats file's contents, made at open. */
struct stats_fh {
	struct handle h;
	char text[8192];
};

/* An open file: the engine fd, and a second one opened O_DIRECT for
 * aligned requests on a file the caller opened O_DIRECT. */
struct fh {
	struct handle h;
	int fd, dfd;
	struct node *n;
	bool cached; /* kernel page cache in use for this open (not --direct-io) */
};

#define DIO_ALIGN 4096

void count_req(void)
{
	__atomic_fetch_add(&pcfs.reqs, 1, __ATOMIC_RELAXED);
}

int reply_err(fuse_req_t req, int neg)
{
	return fuse_reply_err(req, neg < 0 ? -neg : neg);
}

static void stats_attr(struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = 0xffffffffffffff01ull;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_uid = pcfs.owner_uid;
	st->st_blksize = 4096;
}

static int node_stat(struct node *n, struct fuse_file_info *fi, struct stat *st)
{
	char path[NODES_PATH_MAX];
	int ret;

	if (fi && fi->fh)
		return pc_fstat(pcfs.e, ((struct fh *)(uintptr_t)fi->fh)->fd, st);
	ret = node_path(n, path, sizeof(path));
	if (ret == -ENOENT) {
		int fd = node_any_fd(n);
		return fd >= 0 ? pc_fstat(pcfs.e, fd, st) : -ENOENT;
	}
	return ret ? ret : pc_stat(pcfs.e, path, st);
}

/* Replies with the entry of child @name of @parent (whose path is @path). */
void reply_new_entry(fuse_req_t req, struct node *parent, const char *name, const char *path,
		     struct fuse_file_info *fi, int fd)
{
	struct fuse_entry_param ep = {0};
	int ret = fd >= 0 ? pc_fstat(pcfs.e, fd, &ep.attr) : pc_stat(pcfs.e, path, &ep.attr);
	struct node *n;

	if (ret) {
		reply_err(req, ret);
		return;
	}
	n = node_lookup_add(parent, name, ep.attr.st_ino);
	if (!n) {
		reply_err(req, -ENOMEM);
		return;
	}
	ep.ino = node_id(n);
	ep.generation = 1;
	ep.attr_timeout = 0;	/* stat always asks: the engine's size and times */
	ep.entry_timeout = 1.0; /* names change only through this kernel */
	if (fi) {
		struct fh *h = (struct fh *)(uintptr_t)fi->fh;
		h->n = n;
		node_add_fd(n, h->fd);
		if (h->cached)
			node_set_cached(n);
		if (fuse_reply_create(req, &ep, fi)) {
			node_forget(n, 1);
		}
		return;
	}
	if (fuse_reply_entry(req, &ep))
		node_forget(n, 1);
}

/* A change to @n's file in [off, off+len) (len 0: to EOF) made through
 * node @self's kernel inode (NULL: through none): every other cached node
 * of the file (hard links are separate kernel inodes) is marked stale - its
 * next open drops its pages - and gets an invalidation queued for the fds
 * already open on it. @self's kernel cache saw the change itself: its own
 * write-through updated the pages, its truncate and punch dropped them, and
 * its O_DIRECT writes invalidate the range. The direct_io mode has no kernel
 * page cache: nothing to do. */
static void inval_ino(uint64_t ino, struct node *self, int64_t off, int64_t len)
{
	uint64_t ids[64];
	int k;

	if (!pcfs.mmap_mode)
		return;
	k = node_aliases(ino, self, ids, 64);
	for (int i = 0; i < k; i++)
		notify_inval(ids[i], off, len);
}

static void inval_aliases(struct node *n, struct node *self, int64_t off, int64_t len)
{
	inval_ino(node_ino(n), self, off, len);
}

/* Keeps the largest request size seen (statistics). */
static void note_size(uint64_t *largest, size_t size)
{
	uint64_t cur = __atomic_load_n(largest, __ATOMIC_RELAXED);

	while (size > cur && !__atomic_compare_exchange_n(largest, &cur, size, false,
							  __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* ---- lookups and attributes ---- */

/* Connection setup. No writeback cache: with it the kernel keeps written
 * data past write(2) and even close(2), so an engine-side reader (or a
 * crash of the server) could miss acknowledged data. No auto_inval_data:
 * with attributes never cached (timeout 0) it costs a GETATTR per read(2);
 * every change behind a node's kernel cache is invalidated explicitly
 * (inval_aliases). Requests up to 1 MiB (max_write; libfuse derives
 * max_pages from it) and 1 MiB readahead. The server kills S_ISUID/S_ISGID
 * itself (HANDLE_KILLPRIV): the kernel's fallback for servers that don't
 * clears S_ISGID only when group-executable. Splice: libfuse 3.14 splices
 * a reply only from an fd-backed buffer, and the engine's data are in
 * memory, so replies are written (one copy either way). */
static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->want &= ~(unsigned)(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_AUTO_INVAL_DATA);
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_HANDLE_KILLPRIV)
		conn->want |= FUSE_CAP_HANDLE_KILLPRIV;
	else
		conn->want &= ~(unsigned)FUSE_CAP_HANDLE_KILLPRIV;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	conn->max_write = PCFS_MAX_IO;
	conn->max_readahead = PCFS_MAX_IO;
	pcfs.max_write = conn->max_write;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	char path[NODES_PATH_MAX];
	int ret;

	count_req();
	if (parent == 1 && !strcmp(name, PCFS_STATS_NAME)) {
		struct fuse_entry_param ep = {.ino = PCFS_STATS_NODEID, .generation = 1};
		stats_attr(&ep.attr);
		fuse_reply_entry(req, &ep);
		return;
	}
	ret = node_child_path(node_of(parent), name, path, sizeof(path));
	if (ret) {
		reply_err(req, ret);
		return;
	}
	reply_new_entry(req, node_of(parent), name, path, NULL, -1);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	if (ino != PCFS_STATS_NODEID)
		node_forget(node_of(ino), nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		if (forgets[i].ino != PCFS_STATS_NODEID)
			node_forget(node_of(forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int ret;

	count_req();
	if (ino == PCFS_STATS_NODEID) {
		stats_attr(&st);
		fuse_reply_attr(req, &st, 0);
		return;
	}
	ret = node_stat(node_of(ino), fi, &st);
	if (ret)
		reply_err(req, ret);
	else
		fuse_reply_attr(req, &st, 0);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct node *n = node_of(ino);
	char path[NODES_PATH_MAX];
	struct stat st;
	int ret;

	count_req();
	if (ino == PCFS_STATS_NODEID) {
		reply_err(req, -EPERM);
		return;
	}
	ret = node_path(n, path, sizeof(path));
	if (ret && !(ret == -ENOENT && fi && fi->fh && to_set == FUSE_SET_ATTR_SIZE))
		goto out;
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		mode_t kill = 0;
		if (!(to_set & FUSE_SET_ATTR_MODE) && !pc_stat(pcfs.e, path, &st))
			kill = privs_to_kill(req, &st, true);
		ret =
		    pc_chown(pcfs.e, path, (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1,
			     (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1);
		if (!ret && kill)
			ret = pc_chmod(pcfs.e, path, st.st_mode & 07777 & ~kill);
		if (ret)
			goto out;
	}
	if (to_set & FUSE_SET_ATTR_MODE) {
		ret = pc_chmod(pcfs.e, path, attr->st_mode & 07777);
		if (ret)
			goto out;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		struct fh *h = fi ? (struct fh *)(uintptr_t)fi->fh : NULL;
		ret = h ? pc_ftruncate(pcfs.e, h->fd, attr->st_size)
			: pc_truncate(pcfs.e, path, attr->st_size);
		if (ret == -EINVAL && h) /* fh not open for writing: by path */
			ret = pc_truncate(pcfs.e, path, attr->st_size);
		if (ret)
			goto out;
		kill_privs(req, n, h ? h->fd : -1);
		inval_aliases(n, n, attr->st_size, 0);
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};
		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			ts[0].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			ts[0] = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			ts[1] = attr->st_mtim;
		ret = pc_utimens(pcfs.e, path, ts);
		if (ret)
			goto out;
	}
	ret = node_stat(n, fi, &st);
out:
	if (ret)
		reply_err(req, ret);
	else
		fuse_reply_attr(req, &st, 0);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char path[NODES_PATH_MAX], buf[PATH_MAX + 1];
	int ret = node_path(node_of(ino), path, sizeof(path));
	ssize_t n;

	count_req();
	if (ret) {
		reply_err(req, ret);
		return;
	}
	n = pc_readlink(pcfs.e, path, buf, sizeof(buf) - 1);
	if (n < 0) {
		reply_err(req, (int)n);
		return;
	}
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

/* ---- files ---- */

static int engine_flags(int flags)
{
	return flags & (O_ACCMODE | O_APPEND | O_TRUNC | O_CREAT | O_EXCL);
}

static struct fh *new_fh(int fd, int flags)
{
	struct fh *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	(void)flags;
	h->fd = fd;
	h->dfd = -1;
	handle_add(&h->h, free_plain);
	h->cached = pcfs.mmap_mode; /* O_DIRECT opens too: they can be mapped */
	return h;
}

/* Cached mode: the kernel keeps the node's pages at open (keep_cache)
 * unless the file changed behind them since the last open (node stale);
 * then it drops them. A create (@n NULL) drops them: a new kernel inode
 * has none, an existing one may be stale. PC_FUSE_KEEP_STALE=1 (tests)
 * keeps them always, so that the hazard shows. */
static void set_open_flags(struct fh *h, struct node *n, struct fuse_file_info *fi)
{
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = !h->cached;
	fi->keep_cache = 0;
	if (h->cached && n)
		fi->keep_cache = !node_take_stale(n) || pcfs.test_keep_stale;
}

/* For a caller's O_DIRECT open: a second engine fd with O_DIRECT, used for
 * requests aligned to DIO_ALIGN (others take the buffered path, since the
 * kernel forwards O_DIRECT requests at any alignment). */
static void open_direct(struct fh *h, const char *path, int flags)
{
	if (!(flags & O_DIRECT))
		return;
	h->dfd = pc_open(pcfs.e, path, (flags & (O_ACCMODE | O_APPEND)) | O_DIRECT, 0);
	if (h->dfd < 0)
		h->dfd = -1;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char path[NODES_PATH_MAX];
	struct node *n = node_of(ino);
	struct fh *h;
	int ret, fd;

	count_req();
	if (ino == PCFS_STATS_NODEID) {
		if ((fi->flags & O_ACCMODE) != O_RDONLY) {
			reply_err(req, -EACCES);
			return;
		}
		struct stats_fh *sf = malloc(sizeof(*sf));
		if (!sf) {
			reply_err(req, -ENOMEM);
			return;
		}
		pcfs_stats_text(sf->text, sizeof(sf->text));
		handle_add(&sf->h, free_plain);
		fi->fh = (uint64_t)(uintptr_t)sf;
		fi->direct_io = 1;
		fuse_reply_open(req, fi);
		return;
	}
	ret = node_path(n, path, sizeof(path));
	if (ret) {
		reply_err(req, ret);
		return;
	}
	fd = pc_open(pcfs.e, path, engine_flags(fi->flags) & ~(O_CREAT | O_EXCL), 0);
	if (fd < 0) {
		reply_err(req, fd);
		return;
	}
	h = new_fh(fd, fi->flags);
	if (!h) {
		pc_close(pcfs.e, fd);
		reply_err(req, -ENOMEM);
		return;
	}
	h->n = n;
	open_direct(h, path, fi->flags);
	node_add_fd(n, fd);
	if (h->cached)
		node_set_cached(n);
	if (fi->flags & O_TRUNC) {
		kill_privs(req, n, fd);
		inval_aliases(n, n, 0, 0);
	}
	set_open_flags(h, n, fi);
	if (fuse_reply_open(req, fi)) {
		if (h->cached && !fi->keep_cache)
			node_set_stale(n); /* the kernel never dropped its pages */
		node_del_fd(n, fd);
		if (h->dfd >= 0)
			pc_close(pcfs.e, h->dfd);
		pc_close(pcfs.e, fd);
		handle_del(&h->h);
		free(h);
	}
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	char path[NODES_PATH_MAX];
	struct fh *h;
	int ret, fd;

	count_req();
	ret = node_child_path(node_of(parent), name, path, sizeof(path));
	if (ret) {
		reply_err(req, ret);
		return;
	}
	/* The kernel asks to create only after a lookup found no such name,
	 * but another request may have created it since: then this is an open
	 * of an existing file, which keeps its owner (and is not unlinked on
	 * failure); with O_TRUNC it is truncated. */
	bool created = true;
	fd = pc_open(pcfs.e, path, engine_flags(fi->flags) | O_CREAT | O_EXCL, mode & 07777);
	if (fd == -EEXIST && !(fi->flags & O_EXCL)) {
		created = false;
		fd = pc_open(pcfs.e, path, engine_flags(fi->flags) & ~(O_CREAT | O_TRUNC), 0);
	}
	if (fd < 0) {
		reply_err(req, fd);
		return;
	}
	ret = created ? set_owner(req, node_of(parent), path, false, mode) : 0;
	if (!created) {
		/* the kernel checked only the directory: the file's own mode
		 * bits, before the truncate that O_TRUNC asks for */
		struct stat st;
		ret = pc_fstat(pcfs.e, fd, &st);
		if (!ret)
			ret = may_open_existing(req, &st, fi->flags);
		if (!ret && (fi->flags & O_TRUNC))
			ret = pc_truncate(pcfs.e, path, 0);
		if (!ret && (fi->flags & O_TRUNC)) {
			mode_t kill = privs_to_kill(req, &st, false);
			if (kill)
				pc_chmod(pcfs.e, path, st.st_mode & 07777 & ~kill);
			inval_ino(st.st_ino, NULL, 0, 0);
		}
	}
	h = ret ? NULL : new_fh(fd, fi->flags);
	if (!h) {
		pc_close(pcfs.e, fd);
		if (created)
			pc_unlink(pcfs.e, path);
		reply_err(req, ret ? ret : -ENOMEM);
		return;
	}
	open_direct(h, path, fi->flags);
	set_open_flags(h, NULL, fi);
	reply_new_entry(req, node_of(parent), name, path, fi, fd);
}

static bool aligned(struct fh *h, size_t size, off_t off)
{
	return h->dfd >= 0 && size % DIO_ALIGN == 0 && off % DIO_ALIGN == 0;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	count_req();
	if (ino == PCFS_STATS_NODEID) {
		/* reply from a copy: once the reply is written the reader may
		 * close, and the release free sf, while this thread is still in
		 * fuse_reply_buf (ASan's writev interceptor reads the iovec
		 * after the write returned) */
		const struct stats_fh *sf = (const struct stats_fh *)(uintptr_t)fi->fh;
		char text[sizeof(sf->text)];
		size_t len = strlen(sf->text);
		if ((size_t)off >= len) {
			fuse_reply_buf(req, NULL, 0);
			return;
		}
		len = len - (size_t)off < size ? len - (size_t)off : size;
		memcpy(text, sf->text + off, len);
		fuse_reply_buf(req, text, len);
		return;
	}
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	void *buf = NULL;
	note_size(&pcfs.largest_read, size);
	if (posix_memalign(&buf, DIO_ALIGN, size ? size : 1)) {
		reply_err(req, -ENOMEM);
		return;
	}
	ssize_t n = pc_pread(pcfs.e, aligned(h, size, off) ? h->dfd : h->fd, buf, size, off);
	if (n < 0)
		reply_err(req, (int)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	ssize_t n;

	count_req();
	note_size(&pcfs.largest_write, size);
	if (aligned(h, size, off)) {
		void *abuf = NULL;
		if (posix_memalign(&abuf, DIO_ALIGN, size ? size : 1)) {
			reply_err(req, -ENOMEM);
			return;
		}
		memcpy(abuf, buf, size);
		n = pc_pwrite(pcfs.e, h->dfd, abuf, size, off);
		free(abuf);
	} else {
		n = pc_pwrite(pcfs.e, h->fd, buf, size, off);
	}
	if (n < 0) {
		reply_err(req, (int)n);
		return;
	}
	if (n > 0) {
		kill_privs(req, h->n, h->fd);
		inval_aliases(h->n, h->n, off, n);
	}
	fuse_reply_write(req, (size_t)n);
}

/* Every close(2) of the file: as NFS does, its dirty data is written back
 * and a writeback error this open was not told of yet is returned, so that
 * cp, dd or tar fail visibly instead of losing data quietly (the release
 * that follows cannot report anything: the kernel ignores its reply). */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	count_req();
	if (ino == PCFS_STATS_NODEID || pcfs.no_flush_report) {
		reply_err(req, 0);
		return;
	}
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	reply_err(req, pc_flush(pcfs.e, h->fd));
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	count_req();
	if (ino == PCFS_STATS_NODEID) {
		struct stats_fh *sf = (struct stats_fh *)(uintptr_t)fi->fh;
		handle_del(&sf->h);
		free(sf);
		reply_err(req, 0);
		return;
	}
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	if (h->n)
		node_del_fd(h->n, h->fd);
	if (h->dfd >= 0)
		pc_close(pcfs.e, h->dfd);
	int ret = pc_close(pcfs.e, h->fd);
	handle_del(&h->h);
	free(h);
	reply_err(req, ret);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;

	count_req();
	if (ino == PCFS_STATS_NODEID) {
		reply_err(req, 0);
		return;
	}
	reply_err(req, datasync ? pc_fdatasync(pcfs.e, h->fd) : pc_fsync(pcfs.e, h->fd));
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
			 struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	int ret;

	count_req();
	ret = pc_fallocate(pcfs.e, h->fd, mode, offset, length);
	if (!ret) {
		kill_privs(req, h->n, h->fd);
		inval_aliases(h->n, h->n, offset, (mode & FALLOC_FL_KEEP_SIZE) ? length : 0);
	}
	reply_err(req, ret);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;

	count_req();
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		reply_err(req, -EINVAL); /* the kernel handles the others */
		return;
	}
	off_t r = pc_lseek(pcfs.e, h->fd, off, whence);
	if (r < 0)
		reply_err(req, (int)r);
	else
		fuse_reply_lseek(req, r);
}

const struct fuse_lowlevel_ops pcfs_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .readlink = op_readlink,
    .mknod = pcfs_mknod,
    .mkdir = pcfs_mkdir,
    .unlink = pcfs_unlink,
    .rmdir = pcfs_rmdir,
    .symlink = pcfs_symlink,
    .rename = pcfs_rename,
    .link = pcfs_link,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .release = op_release,
    .fsync = op_fsync,
    .opendir = pcfs_opendir,
    .readdir = pcfs_readdir,
    .releasedir = pcfs_releasedir,
    .fsyncdir = pcfs_fsyncdir,
    .statfs = pcfs_statfs,
    .setxattr = pcfs_setxattr,
    .getxattr = pcfs_getxattr,
    .listxattr = pcfs_listxattr,
    .removexattr = pcfs_removexattr,
    .create = op_create,
    .fallocate = op_fallocate,
    .lseek = op_lseek,
};

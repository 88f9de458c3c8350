/* SPDX-License-Identifier: MIT */
/*
 * fuse_ops.c - the FUSE low-level operations of `pagecache mount` on files:
 * init, lookup and forget, open/create, read/write and the rest of the data
 * path, copy_file_range (attributes are in fuse_attr.c). Each request names its object by its
 * node's O_PATH engine fd (fuse_nodes.c) and, for a lookup or create, one name in it: attribute
 * calls are the AT_EMPTY_PATH ones on that fd (so they work on an unlinked file or removed
 * directory), opens reopen it (pc_reopen), and no path is ever built. Every data byte goes through
 * the engine.
 *
 * Caching: attributes are not cached by the kernel (timeout 0) so stat
 * always shows the engine's size and times; names are (1 s: they change
 * only through this kernel, which updates its dentries itself). By default
 * opens (O_DIRECT ones too, so they can be mapped) use the kernel's page
 * cache, kept across opens (keep_cache): a store inode has one node, so one
 * kernel inode, whichever of its names (hard links) was opened, and every
 * change the engine makes to a file comes through that inode, which keeps
 * its pages coherent itself. With --direct-io opens use direct_io; in
 * cluster mode so do opens with write access (set_open_flags).
 *
 * Ownership and the S_ISUID/S_ISGID rule are in fuse_perm.c: files are
 * created with the caller's uid and gid; the kernel applied the caller's
 * umask to create modes (the server runs with umask 0) unless POSIX ACLs
 * are on (fuse_acl.c); permission checks are the kernel's
 * (default_permissions).
 *
 * The namespace calls (mknod, mkdir, unlink, rmdir, symlink, rename, link)
 * are in fuse_namei.c; directories and statfs in fuse_dir.c; extended
 * attributes in fuse_xattr.c.
 *
 * flock(2) is the engine's (fuse_flock.c; cluster-wide in cluster mode);
 * POSIX and OFD byte-range locks are the engine's in cluster mode
 * (getlk/setlk, cluster-wide) and the kernel's otherwise.
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
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fuse_nodes.h"
#include "fuse_server.h"

struct pcfs pcfs;
#ifdef PC_TEST_SWITCHES
bool fuse_test_no_flock_op;
bool fuse_test_no_posix_lock_op;
bool fuse_test_cluster_shared_mmap;
#endif

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

#define DIO_ALIGN 4096

void count_req(void)
{
	__atomic_fetch_add(&pcfs.reqs, 1, __ATOMIC_RELAXED);
}

int reply_err(fuse_req_t req, int neg)
{
	return fuse_reply_err(req, neg < 0 ? -neg : neg);
}

struct node *req_node(fuse_req_t req, fuse_ino_t ino)
{
	struct node *n = ino == PCFS_STATS_NODEID ? NULL : node_get(ino);

	if (!n)
		reply_err(req, ino == PCFS_STATS_NODEID ? -EPERM : -ESTALE);
	return n;
}

int node_open(struct node *n, int flags)
{
	return pc_reopen(pcfs.e, node_fd(n), flags);
}

/* The entry of the object of O_PATH fd @fd (taken) in @ep; its node (one
 * more lookup and a reference) in *@out. */
static int fd_entry(int fd, struct fuse_entry_param *ep, struct node **out)
{
	uint64_t gen = 0, key;
	bool keyed = false;
	int ret;

	memset(ep, 0, sizeof(*ep));
	ret = pc_fstatat(pcfs.e, fd, "", &ep->attr, AT_EMPTY_PATH);
	if (!ret && pcfs.export_ids)
		ret = pc_fgetgen(pcfs.e, fd, &gen);
	/* Cluster mode: the host may have given a dead file's number to this
	 * one (another node's unlink): the store generation tells them apart.
	 * Unknown (not opened for it: a special file, no access), the number
	 * alone keys the node. */
	if (!ret && pcfs.cluster && !pcfs.export_ids && !fuse_test_no_gen_key)
		keyed = pc_fgetgen(pcfs.e, fd, &key) == 0;
	if (ret) {
		pc_close(pcfs.e, fd);
		return ret;
	}
	*out = node_insert(fd, &ep->attr, gen, keyed ? &key : NULL);
	if (!*out)
		return -ENOMEM;
	ep->ino = node_id(*out);
	ep->attr.st_ino = pcfs.export_ids ? ep->ino : ep->attr.st_ino;
	ep->generation = node_gen(*out);
	ep->attr_timeout = 0; /* stat always asks: the engine's size and times */
	/* names change only through this kernel - unless other nodes of a
	 * cluster serve the same directory */
	ep->entry_timeout = pcfs.cluster ? 0 : 1.0;
	return 0;
}

int entry_at(int dirfd, const char *name, struct fuse_entry_param *ep)
{
	struct node *n;
	int fd = pc_openat(pcfs.e, dirfd, name, O_PATH | O_NOFOLLOW, 0), ret;

	if (fd < 0)
		return fd;
	ret = fd_entry(fd, ep, &n);
	if (!ret)
		node_put(n); /* the lookup stays, for the kernel to forget */
	return ret;
}

void reply_fd_entry(fuse_req_t req, int fd)
{
	struct fuse_entry_param ep;
	struct node *n;
	int ret = fd_entry(fd, &ep, &n);

	if (ret) {
		reply_err(req, ret);
		return;
	}
	if (fuse_reply_entry(req, &ep))
		node_forget(ep.ino, 1);
	node_put(n);
}

/* Keeps the largest request size seen (statistics). */
static void note_size(uint64_t *largest, size_t size)
{
	uint64_t cur = __atomic_load_n(largest, __ATOMIC_RELAXED);

	while (size > cur && !__atomic_compare_exchange_n(largest, &cur, size, false,
							  __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* ---- lookups ---- */

/* Connection setup. No writeback cache: with it the kernel keeps written
 * data past write(2) and even close(2), so an engine-side reader (or a
 * crash of the server) could miss acknowledged data. No auto_inval_data:
 * with attributes never cached (timeout 0) it costs a GETATTR per read(2);
 * nothing changes a file behind its kernel inode (one node per inode).
 * Requests up to 1 MiB (max_write; libfuse derives max_pages from it) and
 * 1 MiB readahead. The server kills S_ISUID/S_ISGID itself
 * (HANDLE_KILLPRIV): the kernel's fallback for servers that don't clears
 * S_ISGID only when group-executable. Export support (lookups of "." and
 * "..") with node ids that are the store's inode numbers (export_ids), so
 * that a file handle outlives the mount. POSIX ACLs: the kernel checks them
 * (with default_permissions) and leaves the umask to the server
 * (DONT_MASK), which applies it or the directory's default ACL. Splice:
 * libfuse 3.14 splices a reply only from an fd-backed buffer, and the
 * engine's data are in memory, so replies are written (one copy either
 * way). */
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
	if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
		conn->want |= FUSE_CAP_EXPORT_SUPPORT;
	pcfs.posix_acl = false;
	if (!pcfs.test_no_acl && (conn->capable & FUSE_CAP_POSIX_ACL) &&
	    (conn->capable & FUSE_CAP_DONT_MASK)) {
		conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
		pcfs.posix_acl = true;
	}
	/* flock(2) is the engine's (fuse_flock.c): in cluster mode it conflicts
	 * with the other nodes' flocks. POSIX and OFD locks are the engine's in
	 * cluster mode only (cluster-wide); alone the kernel's own are as good
	 * (no round trip, deadlock detection). */
	if ((conn->capable & FUSE_CAP_FLOCK_LOCKS) && !fuse_test_no_flock_op)
		conn->want |= FUSE_CAP_FLOCK_LOCKS;
	else
		conn->want &= ~(unsigned)FUSE_CAP_FLOCK_LOCKS;
	pcfs.posix_locks =
	    pcfs.cluster && (conn->capable & FUSE_CAP_POSIX_LOCKS) && !fuse_test_no_posix_lock_op;
	if (pcfs.posix_locks)
		conn->want |= FUSE_CAP_POSIX_LOCKS;
	else
		conn->want &= ~(unsigned)FUSE_CAP_POSIX_LOCKS;
	conn->max_write = PCFS_MAX_IO;
	conn->max_readahead = PCFS_MAX_IO;
	pcfs.max_write = conn->max_write;
}

/* An object reached by a file handle (LOOKUP(id, ".")) is stale once it
 * has no name left. The kernel asks only for an id whose inode it does not
 * hold, and ext4 or tmpfs find a deleted file by handle only while it is
 * held in memory: so even while the server still knows the node (a FORGET
 * not yet sent), nothing the kernel holds names it any more. */
static int by_handle_fd(int fd)
{
	struct stat st;

	if (fd < 0)
		return fd;
	if (pc_fstatat(pcfs.e, fd, "", &st, AT_EMPTY_PATH) || !st.st_nlink) {
		pc_close(pcfs.e, fd);
		return -ESTALE;
	}
	return fd;
}

/* LOOKUP(nodeid, ".") (export support): the kernel decodes a file handle
 * whose inode it no longer has, typically after a remount: the object the
 * node id names, opened from the store's handle, which the store rebuilds
 * from the inode number alone (the kernel compares the generation). */
static void lookup_by_id(fuse_req_t req, fuse_ino_t ino)
{
	struct pc_file_handle h = {.handle_bytes = sizeof(uint64_t),
				   .handle_type = PC_HANDLE_INO_GEN};
	uint64_t sino = node_id_to_ino(ino);
	int fd;

	if (!pcfs.export_ids) {
		reply_err(req, -ESTALE);
		return;
	}
	memcpy(h.f_handle, &sino, sizeof(sino));
	fd = by_handle_fd(pc_open_by_handle_at(pcfs.e, &h, O_PATH));
	if (fd < 0) {
		reply_err(req, fd == -ESTALE || fd == -ENOENT ? -ESTALE : fd);
		return;
	}
	reply_fd_entry(req, fd);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node *p;
	int fd;

	count_req();
	if (parent == 1 && !strcmp(name, PCFS_STATS_NAME)) {
		struct fuse_entry_param ep = {.ino = PCFS_STATS_NODEID, .generation = 1};
		stats_attr(&ep.attr);
		fuse_reply_entry(req, &ep);
		return;
	}
	p = parent == PCFS_STATS_NODEID ? NULL : node_get(parent);
	if (!p) {
		if (!strcmp(name, ".") && parent != PCFS_STATS_NODEID)
			lookup_by_id(req, parent);
		else
			reply_err(req, parent == PCFS_STATS_NODEID ? -ENOTDIR : -ESTALE);
		return;
	}
	/* "." and ".." come only with export support: "." is the node itself
	 * (of any type), ".." its directory's parent (the walk knows it) */
	if (!strcmp(name, "."))
		fd = by_handle_fd(pc_reopen(pcfs.e, node_fd(p), O_PATH));
	else
		fd = pc_openat(pcfs.e, node_fd(p), name, O_PATH | O_NOFOLLOW, 0);
	node_put(p);
	if (fd < 0)
		reply_err(req, fd);
	else
		reply_fd_entry(req, fd);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	if (ino != PCFS_STATS_NODEID)
		node_forget(ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		if (forgets[i].ino != PCFS_STATS_NODEID)
			node_forget(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

/* ---- files ---- */

static int engine_flags(int flags)
{
	return flags & (O_ACCMODE | O_APPEND | O_TRUNC | O_CREAT | O_EXCL);
}

/* A handle for engine fd @fd of node @n (whose reference it takes). */
static struct fh *new_fh(int fd, struct node *n)
{
	struct fh *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->fd = fd;
	h->dfd = -1;
	h->n = n;
	handle_add(&h->h, free_plain);
	return h;
}

static void free_fh(struct fh *h)
{
	if (h->dfd >= 0)
		pc_close(pcfs.e, h->dfd);
	handle_del(&h->h);
	if (h->n)
		node_put(h->n);
	free(h);
}

/* Cached mode: the kernel keeps the inode's pages across opens: they are
 * coherent (every change came through that kernel inode). Cluster mode: an
 * open with write access uses direct_io, so the kernel refuses MAP_SHARED
 * on it (ENODEV): a store into the kernel's page cache would reach the
 * engine only at the kernel's write-back of the whole page, unseen by the
 * glocks (docs/cluster.md "Shared writable mappings through the FUSE
 * mount": SQLite's WAL lost transactions so). Read-only opens keep the
 * kernel cache; a demote drops it. */
static void set_open_flags(struct fh *h, struct fuse_file_info *fi)
{
	bool cached = pcfs.mmap_mode;

	if (cached && pcfs.cluster && (fi->flags & O_ACCMODE) != O_RDONLY &&
	    !fuse_test_cluster_shared_mmap)
		cached = false;
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = !cached;
	fi->keep_cache = pcfs.mmap_mode;
}

/* For a caller's O_DIRECT open: a second engine fd with O_DIRECT, used for
 * requests aligned to DIO_ALIGN (others take the buffered path, since the
 * kernel forwards O_DIRECT requests at any alignment). */
static void open_direct(struct fh *h, int flags)
{
	if (!(flags & O_DIRECT))
		return;
	h->dfd = pc_reopen(pcfs.e, h->fd, (flags & (O_ACCMODE | O_APPEND)) | O_DIRECT);
	if (h->dfd < 0)
		h->dfd = -1;
}

static void open_stats(fuse_req_t req, struct fuse_file_info *fi)
{
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
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node *n;
	struct fh *h;
	int fd;

	count_req();
	if (ino == PCFS_STATS_NODEID) {
		open_stats(req, fi);
		return;
	}
	n = req_node(req, ino);
	if (!n)
		return;
	fd = node_open(n, engine_flags(fi->flags) & ~(O_CREAT | O_EXCL));
	if (fd < 0) {
		node_put(n);
		reply_err(req, fd);
		return;
	}
	h = new_fh(fd, n);
	if (!h) {
		pc_close(pcfs.e, fd);
		node_put(n);
		reply_err(req, -ENOMEM);
		return;
	}
	open_direct(h, fi->flags);
	if (fi->flags & O_TRUNC)
		kill_privs(req, n, fd);
	set_open_flags(h, fi);
	if (fuse_reply_open(req, fi)) {
		pc_close(pcfs.e, fd);
		free_fh(h);
	}
}

/* The kernel asks to create only after a lookup found no such name, but
 * another request may have created it since: then this is an open of the
 * existing file, which keeps its owner (and is not unlinked on failure),
 * checked against its own mode bits first (the kernel checked only the
 * directory); with O_TRUNC it is truncated. @pfd: the name's O_PATH fd.
 * Returns the open fd or -errno. */
static int open_existing(fuse_req_t req, int pfd, int flags)
{
	struct stat st;
	int ret = pc_fstatat(pcfs.e, pfd, "", &st, AT_EMPTY_PATH);

	if (!ret)
		ret = may_open_existing(req, &st, flags);
	if (!ret)
		ret = pc_reopen(pcfs.e, pfd, engine_flags(flags) & ~(O_CREAT | O_EXCL));
	if (ret >= 0 && (flags & O_TRUNC)) {
		mode_t kill = privs_to_kill(req, &st, false);
		if (kill)
			pc_fchmodat(pcfs.e, pfd, "", st.st_mode & 07777 & ~kill, AT_EMPTY_PATH);
	}
	return ret;
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	mode_t cmode = mode & 07777;
	struct node *p;
	bool created = true;
	struct fh *h;
	int ret, fd, pfd;

	count_req();
	p = req_node(req, parent);
	if (!p)
		return;
	if (pcfs.posix_acl) /* DONT_MASK: ours to apply (or the default ACL) */
		cmode &= ~fuse_req_ctx(req)->umask;
	fd = pc_openat(pcfs.e, node_fd(p), name, engine_flags(fi->flags) | O_CREAT | O_EXCL, cmode);
	if (fd == -EEXIST && !(fi->flags & O_EXCL))
		created = false;
	else if (fd < 0)
		goto fail;
	pfd = pc_openat(pcfs.e, node_fd(p), name, O_PATH | O_NOFOLLOW, 0);
	if (pfd < 0) {
		ret = pfd;
		goto fail_fd;
	}
	if (created) {
		ret = set_owner(req, p, pfd, mode);
	} else {
		fd = open_existing(req, pfd, fi->flags);
		ret = fd < 0 ? fd : 0;
	}
	h = ret ? NULL : new_fh(fd, NULL);
	if (!h) {
		pc_close(pcfs.e, pfd);
		if (!ret)
			ret = -ENOMEM;
		goto fail_fd;
	}
	node_put(p);
	open_direct(h, fi->flags);
	set_open_flags(h, fi);
	/* the entry's node reference goes to the handle */
	struct fuse_entry_param ep;
	struct node *n;
	ret = fd_entry(pfd, &ep, &n);
	if (ret) {
		pc_close(pcfs.e, fd);
		free_fh(h);
		reply_err(req, ret);
		return;
	}
	h->n = n;
	if (fuse_reply_create(req, &ep, fi)) {
		node_forget(ep.ino, 1);
		pc_close(pcfs.e, fd);
		free_fh(h);
	}
	return;

fail_fd:
	if (fd >= 0)
		pc_close(pcfs.e, fd);
	if (created && fd >= 0)
		pc_unlinkat(pcfs.e, node_fd(p), name, 0);
	fd = ret;
fail:
	node_put(p);
	reply_err(req, fd);
}

/* Through dfd: an aligned request of a handle that never asked for a
 * byte-range lock (fh.plocked). */
static bool aligned(struct fh *h, size_t size, off_t off)
{
	return h->dfd >= 0 && size % DIO_ALIGN == 0 && off % DIO_ALIGN == 0 &&
	       !__atomic_load_n(&h->plocked, __ATOMIC_RELAXED);
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
	if (ino == PCFS_STATS_NODEID) {
		reply_err(req, -EBADF);
		return;
	}
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
	if (n > 0)
		kill_privs(req, h->n, h->fd);
	fuse_reply_write(req, (size_t)n);
}

/* Every close(2) of the file: as NFS does, its dirty data is written back
 * and a writeback error this open was not told of yet is returned, so that
 * cp, dd or tar fail visibly instead of losing data quietly (the release
 * that follows cannot report anything: the kernel ignores its reply). */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	count_req();
	if (ino == PCFS_STATS_NODEID) {
		reply_err(req, 0);
		return;
	}
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	int ret = pcfs.no_flush_report ? 0 : pc_flush(pcfs.e, h->fd);

	/* The closing process's byte-range locks on the file go (fuse_flock.c). */
	if (pcfs.posix_locks) {
		int err = pcfs_flush_locks(h->fd, fi->lock_owner);

		if (!ret)
			ret = err;
	}
	reply_err(req, ret);
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
	/* The open file's flock lock goes with it (FUSE_RELEASE_FLOCK_UNLOCK),
	 * also while another engine call still references h->fd's file. */
	if (fi->flock_release)
		pc_flock(pcfs.e, h->fd, LOCK_UN);
	int ret = pc_close(pcfs.e, h->fd);
	free_fh(h);
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
	if (ino == PCFS_STATS_NODEID) {
		reply_err(req, -EBADF);
		return;
	}
	ret = pc_fallocate(pcfs.e, h->fd, mode, offset, length);
	if (!ret)
		kill_privs(req, h->n, h->fd);
	reply_err(req, ret);
}

/* copy_file_range(2) between two files of the mount (cp uses it): the
 * engine shares the blocks where the store can (vol), else copies. The
 * kernel wrote back the source range first and drops the destination's
 * pages of the range from its cache after our reply. (FICLONE and
 * FICLONERANGE do not pass through FUSE: no request carries them.) */
static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			       struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			       struct fuse_file_info *fi_out, size_t len, int flags)
{
	struct fh *in = (struct fh *)(uintptr_t)fi_in->fh,
		  *out = (struct fh *)(uintptr_t)fi_out->fh;
	int64_t a = off_in, b = off_out;
	ssize_t n;

	count_req();
	if (ino_in == PCFS_STATS_NODEID || ino_out == PCFS_STATS_NODEID) {
		reply_err(req, -EOPNOTSUPP); /* the kernel copies it itself */
		return;
	}
	n = pc_copy_file_range(pcfs.e, in->fd, &a, out->fd, &b, len, (unsigned)flags);
	if (n < 0) {
		reply_err(req, (int)n);
		return;
	}
	if (n > 0)
		kill_privs(req, out->n, out->fd);
	fuse_reply_write(req, (size_t)n);
}

/* SEEK_DATA and SEEK_HOLE (the kernel handles the others): the store's
 * holes and data, as pc_lseek sees them (cached pages count as data). */
static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;

	count_req();
	if (ino == PCFS_STATS_NODEID || (whence != SEEK_DATA && whence != SEEK_HOLE)) {
		reply_err(req, -EINVAL);
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
    .getattr = pcfs_getattr,
    .setattr = pcfs_setattr,
    .readlink = pcfs_readlink,
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
    .readdirplus = pcfs_readdirplus,
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
    .copy_file_range = op_copy_file_range,
    .flock = pcfs_flock,
    .getlk = pcfs_getlk,
    .setlk = pcfs_setlk,
};

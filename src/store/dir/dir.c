/* SPDX-License-Identifier: MIT */
/*
 * dir.c - the "dir" store: one host file per file, at the same offsets, under
 * a host root directory. This file opens and closes the store and serves
 * the data of its files: host fallocate does the block work, SEEK_DATA /
 * SEEK_HOLE answer map(), a second host fd opened O_DIRECT serves direct
 * I/O. The namespace on nodes (O_PATH fds) is dir_namei.c, extended
 * attributes dir_xattr.c, export handles dir_export.c.
 *
 * <root>/.pagecache.lock carries an exclusive OFD lock (flock where OFD locks
 * are missing) so that two engines never serve one root - except in cluster
 * mode (store_open_dir_cluster), where the engines' glocks keep them
 * coherent instead and data bypasses the host cache (cluster_read/write).
 *
 * Locking: none. The lazily opened O_DIRECT fd is installed with a CAS.
 */
#include <errno.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel/compiler.h"
#include "store/dir/dir_internal.h"

/* ---- opening files ---- */

/* Opens regular file @n for data: the O_PATH fd reopened through
 * /proc/self/fd/N (an unlinked file too), read-write when the host
 * permits, else read-only for an O_RDONLY open. */
int dir_open(struct store_node *n, int flags, struct store_inode **out)
{
	char proc[DIR_PROC_LEN];
	int ret, fd;
	bool ro = false;

	dir_proc(proc, DN(n)->fd);
	fd = open(proc, O_RDWR | O_CLOEXEC);
	if (fd < 0 && (errno == EACCES || errno == EROFS || errno == ETXTBSY) &&
	    (flags & O_ACCMODE) == O_RDONLY) {
		fd = open(proc, O_RDONLY | O_CLOEXEC);
		ro = true;
	}
	if (fd < 0)
		return -errno;
	struct store_inode *si = calloc(1, sizeof(*si));
	if (!si) {
		ret = -ENOMEM;
		goto out_close;
	}
	si->store = n->store;
	si->fd = fd;
	si->dio_fd = -1;
	si->readonly = ro;
	si->ino = n->ino;
	si->dev = n->dev;
	if (unlikely(DS(n->store)->cluster))
		si->gen = dir_gen(DS(n->store), fd);
	if (flags & O_DIRECT) {
		si->dio_fd =
		    open(dir_proc(proc, fd), (ro ? O_RDONLY : O_RDWR) | O_DIRECT | O_CLOEXEC);
		if (si->dio_fd < 0) {
			ret = -errno;
			free(si);
			goto out_close;
		}
	}
	*out = si;
	return 0;
out_close:
	close(fd);
	return ret;
}

static void dir_release(struct store_inode *si)
{
	close(si->fd);
	if (si->dio_fd >= 0)
		close(si->dio_fd);
	free(si);
}

static int dir_statfs(struct store *s, struct statvfs *st)
{
	return fstatvfs(DS(s)->root_fd, st) < 0 ? -errno : 0;
}

/* ---- data ---- */

static int dir_fgetattr(struct store_inode *si, struct stat *st)
{
	return fstat(si->fd, st) < 0 ? -errno : 0;
}

static int dir_setsize(struct store_inode *si, int64_t size)
{
	int r;
	do
		r = ftruncate(si->fd, size);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

static int dir_map(struct store_inode *si, int64_t pos, int64_t len, struct store_map *out)
{
	int64_t end = pos + len;
	off_t data = lseek(si->fd, pos, SEEK_DATA);

	out->offset = pos;
	out->addr = pos;
	if (data < 0 && errno != ENXIO)
		return -errno;
	if (data < 0 || data > pos) { /* ENXIO: no data from pos to EOF */
		out->type = STORE_HOLE;
		out->length = (data < 0 || data > end ? end : data) - pos;
		return 0;
	}
	off_t hole = lseek(si->fd, pos, SEEK_HOLE);
	if (hole < 0 && errno != ENXIO)
		return -errno;
	if (hole < 0 || hole <= pos) { /* truncated meanwhile */
		out->type = STORE_HOLE;
		out->length = len;
		return 0;
	}
	out->type = STORE_MAPPED;
	out->length = (hole > end ? end : hole) - pos;
	return 0;
}

TEST_KNOB(dir_pread_fn, dir_test_pread);

static ssize_t do_read(int fd, void *buf, size_t len, int64_t pos, size_t align)
{
	size_t done = 0;

	while (done < len) {
		char *at = (char *)buf + done;
		int64_t from = pos + (int64_t)done;
		ssize_t r = dir_test_pread ? dir_test_pread(fd, at, len - done, from)
					   : pread(fd, at, len - done, from);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* Short only at end of file: an error after some bytes
			 * is the error (a page cache fill would take a short
			 * count for EOF and zero the rest); a bad user buffer of
			 * a direct read returns the bytes done, as the kernel. */
			return errno == EFAULT && done ? (ssize_t)done : -errno;
		}
		if (r == 0)
			break;
		done += (size_t)r;
		if (align > 1 && r % (ssize_t)align)
			break; /* a short O_DIRECT read ends at EOF */
	}
	return (ssize_t)done;
}

static ssize_t do_write(int fd, const void *buf, size_t len, int64_t pos)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pwrite(fd, (const char *)buf + done, len - done, pos + (int64_t)done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

static int dio_fd(struct store_inode *si);

/* Cluster mode: can this transfer go O_DIRECT? */
static bool cluster_dio_ok(struct store_inode *si, const void *buf, size_t len, int64_t pos)
{
	uint64_t a = si->store->dio_align;

	return si->store->dio_supported && a && !((uint64_t)pos % a) && !(len % a) &&
	       !((uintptr_t)buf % a);
}

/* Cluster mode: data never served from or left in the host's cache, which
 * is not coherent between machines. */
static ssize_t cluster_read(struct store_inode *si, void *buf, size_t len, int64_t pos)
{
	if (cluster_dio_ok(si, buf, len, pos)) {
		int fd = dio_fd(si);
		if (fd >= 0)
			return do_read(fd, buf, len, pos, si->store->dio_align);
	}
	(void)posix_fadvise(si->fd, pos, (off_t)len, POSIX_FADV_DONTNEED);
	return do_read(si->fd, buf, len, pos, 1);
}

static ssize_t cluster_write(struct store_inode *si, const void *buf, size_t len, int64_t pos)
{
	ssize_t n;

	if (cluster_dio_ok(si, buf, len, pos)) {
		int fd = dio_fd(si);
		if (fd >= 0)
			return do_write(fd, buf, len, pos);
	}
	n = do_write(si->fd, buf, len, pos);
	if (n > 0) {
		/* written through to the shared file system, then dropped */
		if (sync_file_range(si->fd, pos, n,
				    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
					SYNC_FILE_RANGE_WAIT_AFTER) < 0 &&
		    errno != ESPIPE && errno != EINVAL)
			return -errno;
		(void)posix_fadvise(si->fd, pos, n, POSIX_FADV_DONTNEED);
	}
	return n;
}

static ssize_t dir_read(struct store_inode *si, void *buf, size_t len, int64_t pos)
{
	if (unlikely(DS(si->store)->cluster))
		return cluster_read(si, buf, len, pos);
	return do_read(si->fd, buf, len, pos, 1);
}

static ssize_t dir_write(struct store_inode *si, const void *buf, size_t len, int64_t pos)
{
	if (unlikely(DS(si->store)->cluster))
		return cluster_write(si, buf, len, pos);
	return do_write(si->fd, buf, len, pos);
}

/* The O_DIRECT fd, opened on first use by reopening the host fd. */
static int dio_fd(struct store_inode *si)
{
	int fd = __atomic_load_n(&si->dio_fd, __ATOMIC_ACQUIRE);
	if (fd >= 0)
		return fd;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", si->fd);
	fd = open(proc, (si->readonly ? O_RDONLY : O_RDWR) | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int expect = -1;
	if (!__atomic_compare_exchange_n(&si->dio_fd, &expect, fd, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		close(fd);
		fd = expect;
	}
	return fd;
}

static ssize_t dir_dio_read(struct store_inode *si, void *buf, size_t len, int64_t pos)
{
	int fd = dio_fd(si);
	return fd < 0 ? fd : do_read(fd, buf, len, pos, si->store->dio_align);
}

static ssize_t dir_dio_write(struct store_inode *si, const void *buf, size_t len, int64_t pos)
{
	int fd = dio_fd(si);
	return fd < 0 ? fd : do_write(fd, buf, len, pos);
}

static int dir_fallocate(struct store_inode *si, int mode, int64_t off, int64_t len)
{
	int r;
	do
		r = fallocate(si->fd, mode, off, len);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == ENOSYS ? -EOPNOTSUPP : -errno;
	return 0;
}

static int dir_clone_range(struct store_inode *src, int64_t src_off, struct store_inode *dst,
			   int64_t dst_off, int64_t len)
{
	struct file_clone_range fcr = {
	    .src_fd = src->fd,
	    .src_offset = (uint64_t)src_off,
	    .src_length = (uint64_t)len,
	    .dest_offset = (uint64_t)dst_off,
	};
	if (ioctl(dst->fd, FICLONERANGE, &fcr) < 0) {
		if (errno == ENOTTY || errno == EINVAL || errno == ENOSYS || errno == EXDEV)
			return errno == EINVAL ? -EINVAL : -EOPNOTSUPP;
		return -errno;
	}
	return 0;
}

static int dir_sync(struct store_inode *si, bool datasync)
{
	int r;
	do
		r = datasync ? fdatasync(si->fd) : fsync(si->fd);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

static int dir_close(struct store *s)
{
	struct dir_store *d = DS(s);
	store_node_put(&d->root->node);
	close(d->lock_fd); /* drops the lock */
	close(d->root_fd);
	free(d);
	return 0;
}

const struct store_ops dir_store_ops = {
    .name = "dir",
    /* nodes: dir_namei.c, dir_xattr.c, dir_export.c */
    .root = dir_root,
    .lookup = dir_lookup,
    .node_put = dir_node_put,
    .create = dir_create,
    .symlink = dir_symlink,
    .tmpfile = dir_tmpfile,
    .link = dir_link,
    .unlink = dir_unlink,
    .rename = dir_rename,
    .getattr = dir_getattr,
    .setattr = dir_setattr,
    .readlink = dir_readlink,
    .readdir = dir_readdir,
    .open = dir_open,
    .node_gen = dir_node_gen,
    .getxattr = dir_getxattr,
    .setxattr = dir_setxattr,
    .listxattr = dir_listxattr,
    .removexattr = dir_removexattr,
    .encode_handle = dir_encode_handle,
    .decode_handle = dir_decode_handle,
    .sync_dir = dir_sync_dir,
    .statfs = dir_statfs,
    /* data */
    .release = dir_release,
    .fgetattr = dir_fgetattr,
    .setsize = dir_setsize,
    .map = dir_map,
    .read = dir_read,
    .write = dir_write,
    .dio_read = dir_dio_read,
    .dio_write = dir_dio_write,
    .fallocate = dir_fallocate,
    .clone_range = dir_clone_range,
    .sync = dir_sync,
    .close = dir_close,
};

/* ---- opening ---- */

/* Exclusive lock on the open file description: -EBUSY if someone holds it. */
static int lock_exclusive(int fd)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};

	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	if (errno == EAGAIN || errno == EACCES)
		return -EBUSY;
	if (errno != EINVAL)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) /* no OFD locks: flock is per description too */
		return 0;
	return errno == EWOULDBLOCK ? -EBUSY : -errno;
}

/* DIO support and alignment, probed on the lock file (a regular file). */
static void probe_dio(struct dir_store *d)
{
	struct store *s = &d->store;
	struct statx stx;

	s->dio_supported = false;
	s->dio_align = 512;
	int fd = openat(d->root_fd, DIR_LOCK_NAME, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return;
	close(fd);
	s->dio_supported = true;
	if (statx(d->lock_fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
		unsigned a = stx.stx_dio_offset_align;
		if (stx.stx_dio_mem_align > a)
			a = stx.stx_dio_mem_align;
		s->dio_align = a;
	}
}

static int open_dir(const char *root, bool cluster, struct store **out)
{
	struct dir_store *d;
	int ret;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->lock_fd = -1;
	d->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->root_fd < 0) {
		ret = -errno;
		goto fail;
	}
	d->lock_fd =
	    openat(d->root_fd, DIR_LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (d->lock_fd < 0) {
		ret = -errno;
		goto fail;
	}
	/* Cluster mode: the nodes share the root; their glocks order them. */
	ret = cluster ? 0 : lock_exclusive(d->lock_fd);
	if (ret)
		goto fail;
	d->cluster = cluster;
	d->store.inode_fds = 3; /* an inode's data fd, O_DIRECT fd, its node's O_PATH */
	d->store.gen_source = "none";
	if (cluster)
		dir_gen_probe(d);
	d->store.ops = &dir_store_ops;
	d->store.private = d;
	int rfd = openat(d->root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct store_node *rn;
	ret = rfd < 0 ? -errno : dir_node_new(&d->store, rfd, NULL, &rn);
	if (ret)
		goto fail;
	d->root = DN(rn);
	if (!realpath(root, d->root_path))
		d->root_path[0] = '\0'; /* handles of non-directories then decode -ESTALE */
	probe_dio(d);
	struct stat rst;
	if (fstat(d->lock_fd, &rst) == 0)
		d->lock_ino = rst.st_ino;
	if (fstat(d->root_fd, &rst) == 0)
		store_probe_ra_hint(&d->store, rst.st_dev);
	*out = &d->store;
	return 0;
fail:
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	if (d->root_fd >= 0)
		close(d->root_fd);
	free(d);
	return ret;
}

int store_open_dir(const char *root, struct store **out)
{
	return open_dir(root, false, out);
}

int store_open_dir_cluster(const char *root, struct store **out)
{
	return open_dir(root, true, out);
}

/* SPDX-License-Identifier: MIT */
/*
 * dir.c - the "dir" store: one host file per file, at the same offsets, under
 * a host root directory. Host fallocate does the block work, SEEK_DATA /
 * SEEK_HOLE answer map(), a second host fd opened O_DIRECT serves direct I/O.
 *
 * Paths resolve beneath a root dirfd: the parent with openat2(RESOLVE_BENEATH
 * | RESOLVE_NO_SYMLINKS) or, where the host lacks openat2, one O_NOFOLLOW
 * component at a time; the last component is used with the *at() call.
 * <root>/.pagecache.lock carries an exclusive OFD lock (flock where OFD locks
 * are missing) so that two engines never serve one root.
 *
 * link/symlink/readlink/setattr use linkat/symlinkat/readlinkat and
 * fchownat/fchmodat/utimensat with AT_SYMLINK_NOFOLLOW on the last component.
 *
 * Locking: none. The lazily opened O_DIRECT fd is installed with a CAS.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "store/store.h"

#define LOCK_NAME ".pagecache.lock"

struct dir_store {
	struct store store;
	int root_fd;
	int lock_fd;
};

static inline struct dir_store *DS(struct store *s)
{
	return (struct dir_store *)s;
}

/* ---- path resolution ---- */

/* Cleared (racily, idempotently) where the host lacks openat2; tests clear it
 * to exercise the component walk. */
bool store_dir_use_openat2 = true;

/* Opens directory @path (normalized, non-empty) beneath the root, O_PATH. */
static int open_beneath(struct dir_store *d, const char *path)
{
	if (__atomic_load_n(&store_dir_use_openat2, __ATOMIC_RELAXED)) {
		struct open_how how = {
		    .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
		};
		int fd = (int)syscall(SYS_openat2, d->root_fd, path, &how, sizeof(how));
		if (fd >= 0)
			return fd;
		if (errno != ENOSYS && errno != EPERM)
			return -errno;
		__atomic_store_n(&store_dir_use_openat2, false, __ATOMIC_RELAXED);
	}
	/* Walk: every component O_NOFOLLOW, never '..' (normalized away). */
	char comp[NAME_MAX + 1];
	int dfd = d->root_fd;
	for (const char *p = path; *p;) {
		const char *e = strchrnul(p, '/');
		size_t len = (size_t)(e - p);
		memcpy(comp, p, len);
		comp[len] = '\0';
		int fd = openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int err = errno;
		if (dfd != d->root_fd)
			close(dfd);
		if (fd < 0)
			return -err;
		dfd = fd;
		p = *e ? e + 1 : e;
	}
	return dfd == d->root_fd ? fcntl(d->root_fd, F_DUPFD_CLOEXEC, 0) : dfd;
}

struct dir_path {
	int dfd;	  /* parent directory: root_fd or an O_PATH fd of ours */
	const char *name; /* last component, within the caller's path */
};

/* Splits @path (normalized, non-empty) and opens its parent. */
static int resolve_parent(struct dir_store *d, const char *path, struct dir_path *out)
{
	char parent[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (strcmp(path, LOCK_NAME) == 0)
		return -EPERM; /* reserved */
	if (!slash) {
		out->dfd = d->root_fd;
		out->name = path;
		return 0;
	}
	memcpy(parent, path, (size_t)(slash - path));
	parent[slash - path] = '\0';
	int fd = open_beneath(d, parent);
	if (fd < 0)
		return fd;
	out->dfd = fd;
	out->name = slash + 1;
	return 0;
}

static void put_parent(struct dir_store *d, struct dir_path *dp)
{
	if (dp->dfd != d->root_fd)
		close(dp->dfd);
}

/* resolve_parent() of @path, which names the root where empty: @root_err. */
static int get_parent(struct dir_store *d, const char *path, int root_err, struct dir_path *dp)
{
	return *path ? resolve_parent(d, path, dp) : root_err;
}

/* put_parent(), passing @ret on (computed, errno included, before the close). */
static long put_parent_ret(struct dir_store *d, struct dir_path *dp, long ret)
{
	put_parent(d, dp);
	return ret;
}

/* 0, or -errno where the system call's result @r says it failed. */
#define SYSRET(r) ((r) < 0 ? -errno : 0)

/* ---- namespace ---- */

static int dir_open(struct store *s, const char *path, int flags, mode_t mode,
		    struct store_inode **out)
{
	struct dir_store *d = DS(s);
	struct dir_path dp;
	struct stat st;
	int ret, fd;
	bool ro = false;

	ret = get_parent(d, path, -EISDIR, &dp);
	if (ret)
		return ret;
	int hflags = O_RDWR | O_NOFOLLOW | O_CLOEXEC | (flags & (O_CREAT | O_EXCL | O_TRUNC));
	fd = openat(dp.dfd, dp.name, hflags, mode);
	if (fd < 0 && (errno == EACCES || errno == EROFS || errno == ETXTBSY) &&
	    (flags & O_ACCMODE) == O_RDONLY) {
		fd = openat(dp.dfd, dp.name, (hflags & ~O_ACCMODE) | O_RDONLY, mode);
		ro = true;
	}
	ret = fd < 0 ? -errno : 0;
	put_parent(d, &dp);
	if (ret)
		return ret;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto out_close;
	}
	struct store_inode *si = calloc(1, sizeof(*si));
	if (!si) {
		ret = -ENOMEM;
		goto out_close;
	}
	si->store = s;
	si->fd = fd;
	si->dio_fd = -1;
	si->readonly = ro;
	si->ino = st.st_ino;
	si->dev = st.st_dev;
	if (flags & O_DIRECT) {
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		si->dio_fd = open(proc, (ro ? O_RDONLY : O_RDWR) | O_DIRECT | O_CLOEXEC);
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

static int dir_unlink(struct store *s, const char *path)
{
	struct dir_store *d = DS(s);
	struct dir_path dp;
	int ret = get_parent(d, path, -EISDIR, &dp);

	return ret ? ret : (int)put_parent_ret(d, &dp, SYSRET(unlinkat(dp.dfd, dp.name, 0)));
}

static int dir_rename(struct store *s, const char *from, const char *to, unsigned flags)
{
	struct dir_store *d = DS(s);
	struct dir_path a, b;

	if (!*from || !*to)
		return -EBUSY; /* the root */
	int ret = resolve_parent(d, from, &a);
	if (ret)
		return ret;
	ret = resolve_parent(d, to, &b);
	if (ret) {
		put_parent(d, &a);
		return ret;
	}
	ret = renameat2(a.dfd, a.name, b.dfd, b.name, flags) < 0 ? -errno : 0;
	put_parent(d, &b);
	put_parent(d, &a);
	return ret;
}

static int dir_mkdir(struct store *s, const char *path, mode_t mode)
{
	struct dir_store *d = DS(s);
	struct dir_path dp;
	int ret = get_parent(d, path, -EEXIST, &dp);

	return ret ? ret : (int)put_parent_ret(d, &dp, SYSRET(mkdirat(dp.dfd, dp.name, mode)));
}

static int dir_rmdir(struct store *s, const char *path)
{
	struct dir_store *d = DS(s);
	struct dir_path dp;
	int ret = get_parent(d, path, -EBUSY, &dp);

	return ret ? ret
		   : (int)put_parent_ret(d, &dp, SYSRET(unlinkat(dp.dfd, dp.name, AT_REMOVEDIR)));
}

static int dir_readdir(struct store *s, const char *path, int64_t start, store_filldir_t fill,
		       void *ctx)
{
	struct dir_store *d = DS(s);
	int fd, ret = 0;
	bool root = !*path;

	if (root) {
		fd = openat(d->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		struct dir_path dp;
		ret = resolve_parent(d, path, &dp);
		if (ret)
			return ret;
		fd = openat(dp.dfd, dp.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		put_parent(d, &dp);
	}
	if (fd < 0)
		return -errno;
	DIR *dir = fdopendir(fd);
	if (!dir) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (start > 0)
		seekdir(dir, (long)start);
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(dir);
		if (!de) {
			ret = errno ? -errno : 0;
			break;
		}
		const char *n = de->d_name;
		if ((n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2]))) ||
		    (root && strcmp(n, LOCK_NAME) == 0))
			continue;
		int r = fill(ctx, n, de->d_ino, de->d_type, (int64_t)de->d_off);
		if (r) {
			ret = r < 0 ? r : 0;
			break;
		}
	}
	closedir(dir);
	return ret;
}

static int dir_getattr(struct store *s, const char *path, struct stat *st)
{
	struct dir_store *d = DS(s);
	struct dir_path dp;

	if (!*path)
		return SYSRET(fstat(d->root_fd, st));
	int ret = resolve_parent(d, path, &dp);
	return ret ? ret
		   : (int)put_parent_ret(d, &dp,
					 SYSRET(fstatat(dp.dfd, dp.name, st, AT_SYMLINK_NOFOLLOW)));
}

static int dir_link(struct store *s, const char *from, const char *to)
{
	struct dir_store *d = DS(s);
	struct dir_path a, b;
	struct stat st;

	if (!*from)
		return -EPERM; /* the root directory */
	if (!*to)
		return -EEXIST;
	int ret = resolve_parent(d, from, &a);
	if (ret)
		return ret;
	ret = resolve_parent(d, to, &b);
	if (ret) {
		put_parent(d, &a);
		return ret;
	}
	/* linkat(2) does not follow a symlink @from (flags 0): link(2) on Linux */
	if (fstatat(a.dfd, a.name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		ret = -errno;
	else if (S_ISDIR(st.st_mode))
		ret = -EPERM;
	else
		ret = linkat(a.dfd, a.name, b.dfd, b.name, 0) < 0 ? -errno : 0;
	put_parent(d, &b);
	put_parent(d, &a);
	return ret;
}

static int dir_symlink(struct store *s, const char *target, const char *path)
{
	struct dir_store *d = DS(s);
	struct dir_path dp;
	int ret = get_parent(d, path, -EEXIST, &dp);

	return ret ? ret : (int)put_parent_ret(d, &dp, SYSRET(symlinkat(target, dp.dfd, dp.name)));
}

static ssize_t dir_readlink(struct store *s, const char *path, char *buf, size_t size)
{
	struct dir_store *d = DS(s);
	struct dir_path dp;
	int ret = get_parent(d, path, -EINVAL, &dp); /* the root is a directory */

	if (ret)
		return ret;
	ssize_t n = readlinkat(dp.dfd, dp.name, buf, size);
	return put_parent_ret(d, &dp, n < 0 ? -errno : n);
}

/* fchmodat/fchownat/utimensat on the last component, never following it.
 * The root itself is reached through its own fd. */
static int dir_setattr(struct store *s, const char *path, const struct store_setattr *attr)
{
	struct dir_store *d = DS(s);
	struct dir_path dp = {.dfd = d->root_fd, .name = "."};
	int ret = 0;

	if (*path) {
		ret = resolve_parent(d, path, &dp);
		if (ret)
			return ret;
	}
	int fl = *path ? AT_SYMLINK_NOFOLLOW : 0;
	if ((attr->valid & (STORE_ATTR_UID | STORE_ATTR_GID)) &&
	    fchownat(dp.dfd, dp.name, (attr->valid & STORE_ATTR_UID) ? attr->uid : (uid_t)-1,
		     (attr->valid & STORE_ATTR_GID) ? attr->gid : (gid_t)-1, fl) < 0)
		ret = -errno;
	/* after chown, which may have cleared S_ISUID/S_ISGID: an explicit mode wins */
	if (!ret && (attr->valid & STORE_ATTR_MODE) &&
	    fchmodat(dp.dfd, dp.name, attr->mode, fl) < 0)
		ret = errno == ENOTSUP ? -EOPNOTSUPP : -errno;
	if (!ret && (attr->valid & (STORE_ATTR_ATIME | STORE_ATTR_MTIME))) {
		struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};
		if (attr->valid & STORE_ATTR_ATIME)
			ts[0] = attr->atime;
		if (attr->valid & STORE_ATTR_MTIME)
			ts[1] = attr->mtime;
		if (utimensat(dp.dfd, dp.name, ts, fl) < 0)
			ret = -errno;
	}
	if (!ret && !attr->valid) {
		/* nothing but ctime: a no-op chown changes it, as the contract says */
		if (fchownat(dp.dfd, dp.name, (uid_t)-1, (gid_t)-1, fl) < 0)
			ret = -errno;
	}
	if (*path)
		put_parent(d, &dp);
	return ret;
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

static ssize_t do_read(int fd, void *buf, size_t len, int64_t pos, size_t align)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done, pos + (int64_t)done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return done ? (ssize_t)done : -errno;
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

static ssize_t dir_read(struct store_inode *si, void *buf, size_t len, int64_t pos)
{
	return do_read(si->fd, buf, len, pos, 1);
}

static ssize_t dir_write(struct store_inode *si, const void *buf, size_t len, int64_t pos)
{
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

static int fsync_fd(int fd)
{
	int r;
	do
		r = fsync(fd);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

/* fsync of the host directory: its entries are what the host made durable.
 * A path that no longer names a directory of ours (renamed or removed since
 * the caller opened it): syncfs of the host file system, a superset. */
static int dir_sync_dir(struct store *s, const char *path)
{
	struct dir_store *d = DS(s);
	struct dir_path dp;
	int fd, r;

	if (!*path)
		return fsync_fd(d->root_fd);
	r = resolve_parent(d, path, &dp);
	if (r)
		fd = -1;
	else {
		fd = openat(dp.dfd, dp.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		put_parent(d, &dp);
	}
	if (fd < 0)
		return syncfs(d->root_fd) < 0 ? -errno : 0;
	r = fsync_fd(fd);
	close(fd);
	return r;
}

static int dir_close(struct store *s)
{
	struct dir_store *d = DS(s);
	close(d->lock_fd); /* drops the lock */
	close(d->root_fd);
	free(d);
	return 0;
}

static const struct store_ops dir_store_ops = {
    .name = "dir",
    .open = dir_open,
    .release = dir_release,
    .unlink = dir_unlink,
    .rename = dir_rename,
    .mkdir = dir_mkdir,
    .rmdir = dir_rmdir,
    .readdir = dir_readdir,
    .getattr = dir_getattr,
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
    .statfs = dir_statfs,
    .link = dir_link,
    .symlink = dir_symlink,
    .readlink = dir_readlink,
    .setattr = dir_setattr,
    .sync_dir = dir_sync_dir,
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
	int fd = openat(d->root_fd, LOCK_NAME, O_RDONLY | O_DIRECT | O_CLOEXEC);
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

int store_open_dir(const char *root, struct store **out)
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
	d->lock_fd = openat(d->root_fd, LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (d->lock_fd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = lock_exclusive(d->lock_fd);
	if (ret)
		goto fail;
	d->store.ops = &dir_store_ops;
	d->store.private = d;
	probe_dio(d);
	struct stat rst;
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

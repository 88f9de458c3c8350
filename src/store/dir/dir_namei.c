/* SPDX-License-Identifier: MIT */
/*
 * dir_namei.c - the dir store's namespace on nodes. A node (struct
 * dir_node) holds an O_PATH | O_NOFOLLOW fd of its host object, opened by
 * lookup (one node per lookup; callers compare by dev and ino), so every
 * call is one *at() system call on a directory fd and one name, whatever
 * the object's depth below the root, and a node keeps working after its
 * object is unlinked or renamed (getattr, setattr, xattrs, reopening).
 *
 *   lookup   openat(dirfd, name, O_PATH | O_NOFOLLOW); ".." of the root
 *            is the root (never above it), the lock file is -EPERM
 *   create   mkdirat / openat(O_CREAT | O_EXCL) / mknodat, then the owner
 *            and the exact mode asked for (the host's umask and setgid rule
 *            undone: the caller applied the real ones)
 *   tmpfile  openat(dirfd, ".", O_TMPFILE); link names it later
 *   link     linkat("/proc/self/fd/N", AT_SYMLINK_FOLLOW): needs no
 *            CAP_DAC_READ_SEARCH, unlike AT_EMPTY_PATH, and links O_TMPFILE
 *            files
 *   getattr  fstatat(fd, "", AT_EMPTY_PATH); setattr fchownat(AT_EMPTY_PATH),
 *            chmod of /proc/self/fd/N, utimensat(AT_EMPTY_PATH)
 *   readdir  getdents64 on a fresh O_RDONLY reopen; cookies are the host's
 *            d_off (stable on ext4, xfs, btrfs and tmpfs since Linux 6.6);
 *            a removed directory lists empty, from any cookie
 *
 * Locking: none (node references are atomic).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "store/dir/dir_internal.h"

TEST_SWITCH(dir_test_dotdot_escape);

#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif

/* ---- nodes ---- */

int dir_node_new(struct store *s, int fd, struct store_node *parent, struct store_node **out)
{
	struct stat st;
	struct dir_node *dn;

	*out = NULL;
	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	dn = calloc(1, sizeof(*dn));
	if (!dn) {
		close(fd);
		return -ENOMEM;
	}
	dn->fd = fd;
	dn->node.store = s;
	dn->node.ino = st.st_ino;
	dn->node.dev = st.st_dev;
	dn->node.type = st.st_mode & S_IFMT;
	dn->node.refs = 1;
	if (parent && !S_ISDIR(st.st_mode))
		dn->parent = store_node_get(parent);
	*out = &dn->node;
	return 0;
}

int dir_root(struct store *s, struct store_node **out)
{
	*out = store_node_get(&DS(s)->root->node);
	return 0;
}

void dir_node_put(struct store_node *n)
{
	if (__atomic_sub_fetch(&n->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		struct store_node *parent = DN(n)->parent;
		close(DN(n)->fd);
		free(DN(n));
		if (parent)
			dir_node_put(parent);
	}
}

/* The node @name names in @dir, opened O_PATH without following it. */
static int open_node(struct store_node *dir, const char *name, struct store_node **out)
{
	int fd = openat(DN(dir)->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		*out = NULL;
		return -errno;
	}
	return dir_node_new(dir->store, fd, dir, out);
}

int dir_lookup(struct store_node *dir, const char *name, struct store_node **out)
{
	*out = NULL;
	if (dir_reserved(dir, name))
		return -EPERM;
	if (name[0] == '.' && name[1] == '.' && !name[2] && dir_is_root(dir) &&
	    !dir_test_dotdot_escape)
		return dir_root(dir->store, out);
	return open_node(dir, name, out);
}

/* ---- new objects ---- */

/*
 * Gives the new object @n the owner @o and the permission bits @mode (not
 * for a symlink), undoing what the host did on its own: its umask, the
 * setgid-directory rule, the creating process's ids. An unprivileged engine
 * cannot give a file away: there the object keeps the host's owner, as a
 * file it created itself would.
 */
static int own_new(struct store_node *n, const struct store_owner *o, mode_t mode)
{
	struct stat st;
	char proc[DIR_PROC_LEN];
	int fd = DN(n)->fd;

	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (o && (st.st_uid != o->uid || st.st_gid != o->gid)) {
		if (fchownat(fd, "", o->uid, o->gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != EPERM || geteuid() == 0)
				return -errno;
		} else if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
			return -errno;
		}
	}
	if (!S_ISLNK(st.st_mode) && (st.st_mode & 07777) != (mode & 07777) &&
	    chmod(dir_proc(proc, fd), mode & 07777) < 0)
		return -errno;
	return 0;
}

/* The node of the object just made as @name in @dir, owned as asked; on
 * failure the object is removed again. */
static int finish_new(struct store_node *dir, const char *name, mode_t mode,
		      const struct store_owner *owner, struct store_node **out)
{
	int ret = open_node(dir, name, out);

	if (!ret)
		ret = own_new(*out, owner, mode);
	if (ret) {
		unlinkat(DN(dir)->fd, name, S_ISDIR(mode) ? AT_REMOVEDIR : 0);
		store_node_put(*out);
		*out = NULL;
	}
	return ret;
}

int dir_create(struct store_node *dir, const char *name, mode_t mode, dev_t rdev,
	       const struct store_owner *owner, struct store_node **out)
{
	int dfd = DN(dir)->fd, r;

	*out = NULL;
	if (dir_reserved(dir, name))
		return -EPERM;
	switch (mode & S_IFMT) {
	case S_IFDIR:
		r = mkdirat(dfd, name, mode & 07777);
		break;
	case S_IFREG:
		r = openat(dfd, name, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			   mode & 07777);
		if (r >= 0)
			close(r);
		break;
	default: /* fifo, socket, char and block devices (CAP_MKNOD: -EPERM) */
		r = mknodat(dfd, name, mode, rdev);
		break;
	}
	if (r < 0)
		return -errno;
	return finish_new(dir, name, mode, owner, out);
}

int dir_symlink(struct store_node *dir, const char *name, const char *target,
		const struct store_owner *owner, struct store_node **out)
{
	*out = NULL;
	if (dir_reserved(dir, name))
		return -EPERM;
	if (symlinkat(target, DN(dir)->fd, name) < 0)
		return -errno;
	return finish_new(dir, name, S_IFLNK | 0777, owner, out);
}

int dir_tmpfile(struct store_node *dir, mode_t mode, const struct store_owner *owner,
		struct store_node **out)
{
	char proc[DIR_PROC_LEN];
	int ret, fd;

	*out = NULL;
	fd = openat(DN(dir)->fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, mode & 07777);
	if (fd < 0) /* hosts without O_TMPFILE: EISDIR (old kernels) or EOPNOTSUPP */
		return errno == EISDIR ? -EOPNOTSUPP : -errno;
	int pfd = open(dir_proc(proc, fd), O_PATH | O_CLOEXEC);
	ret = pfd < 0 ? -errno : dir_node_new(dir->store, pfd, dir, out);
	close(fd);
	if (!ret) {
		ret = own_new(*out, owner, mode);
		if (ret) {
			store_node_put(*out);
			*out = NULL;
		}
	}
	return ret;
}

/* ---- names ---- */

int dir_link(struct store_node *n, struct store_node *dir, const char *name)
{
	char proc[DIR_PROC_LEN];

	if (dir_reserved(dir, name))
		return -EPERM;
	/* the magic link names the object itself (a symlink is not followed
	 * further); an unlinked file that is not an O_TMPFILE one: -ENOENT */
	return SYSRET(
	    linkat(AT_FDCWD, dir_proc(proc, DN(n)->fd), DN(dir)->fd, name, AT_SYMLINK_FOLLOW));
}

int dir_unlink(struct store_node *dir, const char *name, bool rmdir)
{
	if (dir_reserved(dir, name))
		return -EPERM;
	return SYSRET(unlinkat(DN(dir)->fd, name, rmdir ? AT_REMOVEDIR : 0));
}

int dir_rename(struct store_node *odir, const char *oname, struct store_node *ndir,
	       const char *nname, unsigned flags)
{
	if (dir_reserved(odir, oname) || dir_reserved(ndir, nname))
		return -EPERM;
	return SYSRET(renameat2(DN(odir)->fd, oname, DN(ndir)->fd, nname, flags));
}

/* ---- attributes ---- */

int dir_getattr(struct store_node *n, struct stat *st)
{
	return SYSRET(fstatat(DN(n)->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW));
}

/* utimensat of the object itself: AT_EMPTY_PATH on the O_PATH fd (Linux
 * 5.8 on), else the magic link (not for a symlink: there it is -EINVAL). */
static int set_times(struct store_node *n, const struct timespec ts[2])
{
	char proc[DIR_PROC_LEN];

	if (utimensat(DN(n)->fd, "", ts, AT_EMPTY_PATH) == 0)
		return 0;
	if ((errno != EINVAL && errno != ENOENT) || S_ISLNK(n->type))
		return -errno;
	return SYSRET(utimensat(AT_FDCWD, dir_proc(proc, DN(n)->fd), ts, 0));
}

int dir_setattr(struct store_node *n, const struct store_setattr *attr)
{
	char proc[DIR_PROC_LEN];
	int fd = DN(n)->fd;
	const int fl = AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW;

	if ((attr->valid & (STORE_ATTR_UID | STORE_ATTR_GID)) &&
	    fchownat(fd, "", (attr->valid & STORE_ATTR_UID) ? attr->uid : (uid_t)-1,
		     (attr->valid & STORE_ATTR_GID) ? attr->gid : (gid_t)-1, fl) < 0)
		return -errno;
	/* after chown, which may have cleared S_ISUID/S_ISGID: an explicit mode wins */
	if (attr->valid & STORE_ATTR_MODE) {
		if (S_ISLNK(n->type))
			return -EOPNOTSUPP; /* Linux: a symlink's mode is fixed */
		if (chmod(dir_proc(proc, fd), attr->mode) < 0)
			return -errno;
	}
	if (attr->valid & (STORE_ATTR_ATIME | STORE_ATTR_MTIME)) {
		struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};
		if (attr->valid & STORE_ATTR_ATIME)
			ts[0] = attr->atime;
		if (attr->valid & STORE_ATTR_MTIME)
			ts[1] = attr->mtime;
		int ret = set_times(n, ts);
		if (ret)
			return ret;
	}
	/* nothing but ctime: a no-op chown changes it, as the contract says */
	if (!attr->valid && fchownat(fd, "", (uid_t)-1, (gid_t)-1, fl) < 0)
		return -errno;
	return 0;
}

ssize_t dir_readlink(struct store_node *n, char *buf, size_t size)
{
	ssize_t r = readlinkat(DN(n)->fd, "", buf, size);
	return r < 0 ? -errno : r;
}

/* ---- directories ---- */

/* A directory node reopened for reading (getdents64, fsync). */
static int open_dir_fd(struct store_node *dir)
{
	char proc[DIR_PROC_LEN];
	int fd = open(dir_proc(proc, DN(dir)->fd), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* The directory of @fd has no name left (rmdir'ed): no links. */
static bool dir_is_removed(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_nlink == 0;
}

int dir_readdir(struct store_node *dir, int64_t start, store_filldir_t fill, void *ctx)
{
	enum { BUF = 32768 };
	bool root = dir_is_root(dir);
	int fd = open_dir_fd(dir), ret = 0;
	char *buf;

	if (fd < 0)
		return fd;
	buf = malloc(BUF);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	if (start > 0 && lseek(fd, (off_t)start, SEEK_SET) < 0) {
		ret = -errno;
		/* A removed directory (another node's rmdir, or this engine's
		 * while the listing was open) is empty, as getdents' ENOENT
		 * below: ext4 refuses the seek to a hash cookie with EINVAL
		 * once the directory has lost its blocks. */
		if (ret == -EINVAL && dir_is_removed(fd))
			ret = 0;
		goto out;
	}
	for (;;) {
		long n = syscall(SYS_getdents64, fd, buf, BUF);
		if (n < 0) {
			ret = errno == ENOENT ? 0 : -errno; /* removed meanwhile: empty */
			break;
		}
		if (n == 0)
			break;
		for (long off = 0; off < n;) {
			struct linux_dirent64 *de = (struct linux_dirent64 *)(buf + off);
			const char *nm = de->d_name;
			off += de->d_reclen;
			if ((nm[0] == '.' && (!nm[1] || (nm[1] == '.' && !nm[2]))) ||
			    (root && strcmp(nm, DIR_LOCK_NAME) == 0))
				continue;
			int r = fill(ctx, nm, de->d_ino, de->d_type, de->d_off);
			if (r) {
				ret = r < 0 ? r : 0;
				goto out;
			}
		}
	}
out:
	free(buf);
	close(fd);
	return ret;
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
 * Where it cannot be reopened, syncfs of the host file system, a superset. */
int dir_sync_dir(struct store_node *dir)
{
	int fd = open_dir_fd(dir);

	if (fd < 0)
		return SYSRET(syncfs(DS(dir->store)->root_fd));
	int r = fsync_fd(fd);
	close(fd);
	return r;
}

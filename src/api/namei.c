/* SPDX-License-Identifier: MIT */
/*
 * namei.c - the calls that take a path: pc_open (and pc_close), pc_stat,
 * pc_unlink, pc_rename, pc_mkdir, pc_rmdir, and pc_readdir on a directory
 * fd. Errnos follow open(2) and friends on Linux 6.x, trailing slashes
 * included.
 *
 * pc_unlink and pc_rename evict the cached unused inode of a file that has
 * lost its last name (inode_table_forget).
 *
 * Locks: none held across store calls. pc_open with O_TRUNC truncates
 * through do_truncate under i_rwsem exclusive (the H1 protocol), never
 * through the store directly, so other opens of the file see a coherent
 * cache. fd_table_lock and inode_hash_lock (leaves) are taken inside the
 * helpers only.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "api/engine.h"

/*
 * A path ending in '/' (or "/.", or "." itself) names a directory only: the
 * store drops the slash when it normalizes, so the checks Linux makes for it
 * (-ENOTDIR for a file, -EISDIR for O_CREAT) are made here.
 */
static bool path_wants_dir(const char *path)
{
	size_t n = strlen(path);

	return (n && path[n - 1] == '/') || !strcmp(path, ".") ||
	       (n >= 2 && !strcmp(path + n - 2, "/."));
}

/* For a path that must name a directory: 0 if it does, else -ENOTDIR, or
 * the lookup's error. */
static int must_be_dir(struct pc_engine *e, const char *path)
{
	struct stat st;
	int err = store_getattr(e->store, path, &st);

	if (err)
		return err;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Directory fds: read-only, no truncation; "" is not a name (the root is "."). */
static int open_dir(struct pc_engine *e, const char *path, int flags)
{
	struct stat st;
	struct file *f;
	int err, fd;

	if (!*path)
		return -ENOENT;
	err = store_getattr(e->store, path, &st);
	if (err)
		return err;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_TRUNC | O_CREAT)))
		return -EISDIR;
	if (flags & O_DIRECT)
		return -EINVAL; /* no direct I/O on a directory */
	f = alloc_dir_file(path, &st, flags);
	if (!f)
		return -ENOMEM;
	fd = fd_install(&e->fdt, f);
	if (fd < 0)
		fdput(e, f);
	return fd;
}

int pc_open(struct pc_engine *e, const char *path, int flags, mode_t mode)
{
	ENGINE_ENTER(e);
	int acc = flags & O_ACCMODE, sflags, err, fd;
	struct store_inode *si;
	struct inode *inode;
	struct file *f;

	if (!e)
		return -EINVAL;
	if (!path)
		return -EFAULT;
	if ((flags & O_TMPFILE) == O_TMPFILE)
		return acc == O_RDONLY ? -EINVAL : -EOPNOTSUPP;
	if ((flags & (O_CREAT | O_DIRECTORY)) == (O_CREAT | O_DIRECTORY))
		return -EINVAL;
	if (path_wants_dir(path) && (flags & O_CREAT))
		return -EISDIR;
	if ((flags & O_DIRECTORY) || path_wants_dir(path))
		return open_dir(e, path, flags);

	/* O_TRUNC is done below through the cache; access mode 3 ("no
	 * access", accepted by Linux) needs read and write permission. */
	sflags = (flags & (O_CREAT | O_EXCL | O_DIRECT)) | (acc == O_ACCMODE ? O_RDWR : acc);
	err = store_open(e->store, path, sflags, mode, &si);
	if (err == -EISDIR && acc == O_RDONLY && !(flags & (O_CREAT | O_TRUNC)))
		return open_dir(e, path, flags); /* a directory opened without O_DIRECTORY */
	if (err)
		return err;
	err = iget_store(&e->itable, si, &inode);
	if (err)
		return err;
	inode_set_name(inode, path);
	if (flags & O_TRUNC) {
		if (inode->i_store->readonly) {
			err = -EACCES;
		} else {
			inode_lock(inode);
			err = do_truncate(inode, 0);
			inode_unlock(inode);
		}
		if (err) {
			iput_engine(e, inode);
			return err;
		}
	}
	f = alloc_file(inode, flags);
	if (!f) {
		iput_engine(e, inode);
		return -ENOMEM;
	}
	fd = fd_install(&e->fdt, f);
	if (fd < 0)
		fdput(e, f);
	return fd;
}

int pc_close(struct pc_engine *e, int fd)
{
	ENGINE_ENTER(e);
	struct file *f;

	if (!e)
		return -EINVAL;
	f = fd_remove(&e->fdt, fd);
	if (!f)
		return -EBADF;
	/* The last close leaves the inode and its pages cached (dirty pages
	 * are written back in the background: errors reach the next fsync of
	 * the file, or pc_engine_close). Not 0 only when the file had no name
	 * left and its eviction failed, or a prune's writeback failed. */
	return fput(f);
}

int pc_stat(struct pc_engine *e, const char *path, struct stat *st)
{
	ENGINE_ENTER(e);
	int err;

	if (!e)
		return -EINVAL;
	if (!path || !st)
		return -EFAULT;
	err = inode_table_stat(&e->itable, path, st);
	if (!err && path_wants_dir(path) && !S_ISDIR(st->st_mode))
		return -ENOTDIR;
	return err;
}

/* The regular file @path names now (dev, ino), or false. */
static bool path_file_id(struct pc_engine *e, const char *path, struct stat *st)
{
	return store_getattr(e->store, path, st) == 0 && S_ISREG(st->st_mode);
}

/* After an unlink or a rename over @st's file (@ret its result): a cached
 * unused inode of a file with no name left goes now. */
static int forget_file(struct pc_engine *e, bool had, const struct stat *st, int ret)
{
	if (!ret && had)
		inode_table_forget(&e->itable, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
	return ret;
}

int pc_unlink(struct pc_engine *e, const char *path)
{
	ENGINE_ENTER(e);
	if (!e)
		return -EINVAL;
	if (!path)
		return -EFAULT;
	if (path_wants_dir(path)) {
		int err = must_be_dir(e, path);

		return err ? err : -EISDIR; /* unlink(2) of a directory */
	}
	struct stat st;
	bool had = path_file_id(e, path, &st);

	return forget_file(e, had, &st, store_unlink(e->store, path));
}

int pc_rename(struct pc_engine *e, const char *from, const char *to, unsigned flags)
{
	ENGINE_ENTER(e);
	if (!e)
		return -EINVAL;
	if (!from || !to)
		return -EFAULT;
	if (path_wants_dir(from) || path_wants_dir(to)) {
		/* the source must be a directory (and, exchanging, the target) */
		int err = must_be_dir(e, from);

		if (!err && (flags & RENAME_EXCHANGE))
			err = must_be_dir(e, to);
		if (err)
			return err;
	}
	struct stat st;
	bool had = path_file_id(e, to, &st);

	return forget_file(e, had, &st, store_rename(e->store, from, to, flags));
}

int pc_mkdir(struct pc_engine *e, const char *path, mode_t mode)
{
	ENGINE_ENTER(e);
	if (!e)
		return -EINVAL;
	if (!path)
		return -EFAULT;
	return store_mkdir(e->store, path, mode);
}

int pc_rmdir(struct pc_engine *e, const char *path)
{
	ENGINE_ENTER(e);
	if (!e)
		return -EINVAL;
	if (!path)
		return -EFAULT;
	return store_rmdir(e->store, path);
}

struct readdir_ctx {
	struct pc_dirent *ents;
	size_t max, n;
	int64_t next; /* cookie after the last entry taken */
};

static int readdir_fill(void *arg, const char *name, uint64_t ino, unsigned d_type, int64_t next)
{
	struct readdir_ctx *ctx = arg;
	struct pc_dirent *d = &ctx->ents[ctx->n];
	size_t len = strlen(name);

	if (len >= sizeof(d->name))
		len = sizeof(d->name) - 1;
	d->ino = ino;
	d->type = (unsigned char)d_type;
	memcpy(d->name, name, len);
	d->name[len] = '\0';
	ctx->next = next;
	return ++ctx->n == ctx->max; /* > 0: stop, the table is full */
}

ssize_t pc_readdir(struct pc_engine *e, int fd, struct pc_dirent *ents, size_t max)
{
	ENGINE_ENTER(e);
	struct readdir_ctx ctx = {.ents = ents, .max = max};
	struct stat st;
	struct file *f;
	int err;

	if (!e)
		return -EINVAL;
	f = fdget(&e->fdt, fd);
	if (!f)
		return -EBADF;
	if (!file_is_dir(f)) {
		err = -ENOTDIR;
		goto out;
	}
	if (!max) {
		err = 0;
		goto out;
	}
	if (!ents) {
		err = -EFAULT;
		goto out;
	}
	/* The cookie is read and stored under f_pos_lock, not held across
	 * the store call: two threads reading one directory fd at once may
	 * both get the same entries. */
	if (!dir_file_still_there(e->store, f, &st)) {
		err = 0; /* gone (or moved: the store cannot follow it) */
		goto out;
	}
	ctx.next = file_pos_read(f);
	err = store_readdir(e->store, f->f_path, ctx.next, readdir_fill, &ctx);
	if (!err && ctx.n)
		file_pos_write(f, ctx.next);
out:
	fdput(e, f);
	return err < 0 ? err : (ssize_t)ctx.n;
}

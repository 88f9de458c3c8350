/* SPDX-License-Identifier: MIT */
/*
 * rw.c - the fd calls of the public API: read/write and their positioned
 * and vectored forms, lseek, fsync/fdatasync (of a directory too), flush,
 * ftruncate, fallocate, fadvise (fstat: attr.c). Each takes a file reference (fdget) for its
 * duration and checks its arguments in the order Linux does, then calls the fs layer.
 *
 * A file whose byte-range locks were lost with a cluster session fails its
 * I/O with -EIO (locks_fence, fs/locks.h).
 *
 * Locks: none held here; the fs layer takes the inode locks it documents.
 * f_pos is read before and written after the I/O under f_pos_lock (leaf).
 */
#include <errno.h>
#include <limits.h>

#include "api/engine.h"
#include "fs/locks.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/* The largest user address plus one (5-level paging), as access_ok() sees
 * it: a buffer that wraps or reaches past it is -EFAULT before any copy. */
#define TASK_SIZE_MAX ((1ul << 56) - PAGE_SIZE)

static bool access_ok(const void *p, size_t n)
{
	return n <= TASK_SIZE_MAX && (uintptr_t)p <= TASK_SIZE_MAX - n;
}

/* Before I/O through @f: the one test made on every call (a file that never
 * took a lock cannot have lost one). */
static inline int locks_fence(struct file *f)
{
	if (likely(!__atomic_load_n(&f->f_has_locks, __ATOMIC_RELAXED)))
		return 0;
	return posix_locks_fence(f);
}

/* import_iovec: validates the vector and sums it (cut to MAX_RW_COUNT). */
static int import_iovec(const struct iovec *iov, int iovcnt, size_t *total)
{
	size_t tot = 0;

	if (iovcnt < 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	if (iovcnt && !iov)
		return -EFAULT;
	for (int i = 0; i < iovcnt; i++) {
		size_t len = iov[i].iov_len;

		if ((ssize_t)len < 0)
			return -EINVAL;
		if (!access_ok(iov[i].iov_base, len))
			return -EFAULT;
		if (len > MAX_RW_COUNT - tot)
			len = MAX_RW_COUNT - tot;
		tot += len;
	}
	*total = tot;
	return 0;
}

/* One read or write; @pos -1: at (and advancing) the file position. */
static ssize_t do_rw(struct pc_engine *e, int fd, const struct iovec *iov, int iovcnt, int64_t pos,
		     int rwf, bool write)
{
	bool use_fpos = pos == -1;
	struct iov_iter iter;
	struct kiocb iocb;
	struct file *f;
	size_t count;
	int64_t end;
	ssize_t ret;

	if (!e)
		return -EINVAL;
	f = fdget(&e->fdt, fd);
	if (!f)
		return -EBADF;
	if (!(f->f_mode & (write ? FMODE_WRITE : FMODE_READ))) {
		ret = -EBADF;
		goto out;
	}
	ret = import_iovec(iov, iovcnt, &count);
	if (ret)
		goto out;
	if (file_is_dir(f)) {
		ret = -EISDIR;
		goto out;
	}
	if (!count)
		goto out; /* ret 0: nothing moves, not even the flags are looked at */
	if (use_fpos)
		pos = file_pos_read(f);
	/* rw_verify_area */
	if (pos < 0 || __builtin_add_overflow(pos, (int64_t)count, &end)) {
		ret = -EINVAL;
		goto out;
	}
	init_sync_kiocb(&iocb, f, pos);
	ret = kiocb_set_rw_flags(&iocb, rwf);
	if (ret)
		goto out;
	ret = locks_fence(f);
	if (ret)
		goto out;
	iov_iter_init(&iter, iov, (unsigned long)iovcnt, count);
	ret = write ? generic_file_write_iter(&iocb, &iter) : generic_file_read_iter(&iocb, &iter);
	if (ret > 0 && use_fpos)
		file_pos_write(f, iocb.ki_pos);
out:
	fdput(e, f);
	return ret;
}

ssize_t pc_read(struct pc_engine *e, int fd, void *buf, size_t count)
{
	ENGINE_ENTER(e);
	struct iovec iov = {buf, count};

	if (!access_ok(buf, count))
		return e ? -EFAULT : -EINVAL;
	return do_rw(e, fd, &iov, 1, -1, 0, false);
}

ssize_t pc_write(struct pc_engine *e, int fd, const void *buf, size_t count)
{
	ENGINE_ENTER(e);
	struct iovec iov = {(void *)buf, count};

	if (!access_ok(buf, count))
		return e ? -EFAULT : -EINVAL;
	return do_rw(e, fd, &iov, 1, -1, 0, true);
}

ssize_t pc_pread(struct pc_engine *e, int fd, void *buf, size_t count, off_t offset)
{
	ENGINE_ENTER(e);
	struct iovec iov = {buf, count};

	if (offset < 0)
		return -EINVAL;
	if (!access_ok(buf, count))
		return e ? -EFAULT : -EINVAL;
	return do_rw(e, fd, &iov, 1, offset, 0, false);
}

ssize_t pc_pwrite(struct pc_engine *e, int fd, const void *buf, size_t count, off_t offset)
{
	ENGINE_ENTER(e);
	struct iovec iov = {(void *)buf, count};

	if (offset < 0)
		return -EINVAL;
	if (!access_ok(buf, count))
		return e ? -EFAULT : -EINVAL;
	return do_rw(e, fd, &iov, 1, offset, 0, true);
}

ssize_t pc_preadv2(struct pc_engine *e, int fd, const struct iovec *iov, int iovcnt, off_t offset,
		   int flags)
{
	ENGINE_ENTER(e);
	if (offset < -1)
		return -EINVAL;
	return do_rw(e, fd, iov, iovcnt, offset, flags, false);
}

ssize_t pc_pwritev2(struct pc_engine *e, int fd, const struct iovec *iov, int iovcnt, off_t offset,
		    int flags)
{
	ENGINE_ENTER(e);
	if (offset < -1)
		return -EINVAL;
	return do_rw(e, fd, iov, iovcnt, offset, flags, true);
}

/* fdget for the calls below; "goto out" drops the reference. */
#define FDGET(e, fd, f)                       \
	do {                                  \
		if (!(e))                     \
			return -EINVAL;       \
		(f) = fdget(&(e)->fdt, (fd)); \
		if (!(f))                     \
			return -EBADF;        \
	} while (0)

off_t pc_lseek(struct pc_engine *e, int fd, off_t offset, int whence)
{
	ENGINE_ENTER(e);
	struct file *f;
	off_t ret;

	FDGET(e, fd, f);
	ret = generic_file_llseek(f, offset, whence);
	fdput(e, f);
	return ret;
}

static int do_fsync(struct pc_engine *e, int fd, bool datasync)
{
	struct file *f;
	int ret;

	FDGET(e, fd, f);
	if (file_is_dir(f))
		ret = vfs_fsync_dir(f);
	else if (!(ret = locks_fence(f)))
		ret = vfs_fsync_range(f, 0, INT64_MAX, datasync);
	fdput(e, f);
	return ret;
}

int pc_fsync(struct pc_engine *e, int fd)
{
	ENGINE_ENTER(e);
	return do_fsync(e, fd, false);
}

int pc_fdatasync(struct pc_engine *e, int fd)
{
	ENGINE_ENTER(e);
	return do_fsync(e, fd, true);
}

int pc_flush(struct pc_engine *e, int fd)
{
	struct file *f;
	int ret;

	FDGET(e, fd, f);
	ret = vfs_flush(f);
	fdput(e, f);
	return ret;
}

int pc_ftruncate(struct pc_engine *e, int fd, off_t length)
{
	ENGINE_ENTER(e);
	struct file *f;
	int ret;

	if (length < 0)
		return -EINVAL;
	FDGET(e, fd, f);
	ret = locks_fence(f);
	if (!ret)
		ret = do_ftruncate(f, length);
	fdput(e, f);
	return ret;
}

int pc_fallocate(struct pc_engine *e, int fd, int mode, off_t offset, off_t len)
{
	ENGINE_ENTER(e);
	struct file *f;
	int ret;

	FDGET(e, fd, f);
	ret = locks_fence(f);
	if (!ret)
		ret = vfs_fallocate(f, mode, offset, len);
	fdput(e, f);
	return ret;
}

int pc_fadvise(struct pc_engine *e, int fd, off_t offset, off_t len, int advice)
{
	ENGINE_ENTER(e);
	struct file *f;
	int ret;

	FDGET(e, fd, f);
	ret = generic_fadvise(f, offset, len, advice);
	fdput(e, f);
	return ret;
}

/* SPDX-License-Identifier: MIT */
/*
 * remap.c - the calls that share data between files: pc_clone_range
 * (FICLONERANGE, FICLONE), pc_dedupe_range (FIDEDUPERANGE) and
 * pc_copy_file_range (copy_file_range(2)). Each takes the fds' file
 * references and makes the checks the ioctl or syscall makes before the
 * VFS (fs/ioctl.c, fs/remap_range.c's vfs_dedupe_file_range,
 * fs/read_write.c's syscall), in Linux's order; fs/remap_range.c does the
 * rest.
 *
 * Locks: none held here (fd_table_lock, a leaf, inside fdget; f_pos_lock,
 * a leaf, around the file positions of copy_file_range); the fs layer
 * takes both files' inode locks.
 */
#include <errno.h>
#include <stddef.h>

#include "api/engine.h"
#include "fs/remap.h"

/* The ioctl copies at most a page of struct file_dedupe_range. */
#define DEDUPE_ARG_MAX 4096

int pc_clone_range(struct pc_engine *e, int dst_fd, int src_fd, int64_t src_off, uint64_t len,
		   int64_t dst_off)
{
	ENGINE_ENTER(e);
	struct file *dst, *src;
	int64_t cloned;

	if (!e)
		return -EINVAL;
	dst = fdget(&e->fdt, dst_fd);
	if (!dst)
		return -EBADF;
	src = fdget(&e->fdt, src_fd);
	if (!src) {
		fdput(e, dst);
		return -EBADF;
	}
	cloned = vfs_clone_file_range(src, src_off, dst, dst_off, (int64_t)len, 0);
	fdput(e, src);
	fdput(e, dst);
	if (cloned < 0)
		return (int)cloned;
	/* a clone that came out shorter than asked is refused (ioctl_file_clone) */
	return len && (uint64_t)cloned != len ? -EINVAL : 0;
}

int pc_dedupe_range(struct pc_engine *e, int src_fd, struct pc_dedupe_range *arg)
{
	ENGINE_ENTER(e);
	struct file *src;
	int64_t off, len;
	int err;

	if (!e)
		return -EINVAL;
	src = fdget(&e->fdt, src_fd);
	if (!src)
		return -EBADF;
	err = -EFAULT;
	if (!arg)
		goto out;
	err = -ENOMEM;
	if (offsetof(struct pc_dedupe_range, info) +
		(size_t)arg->dest_count * sizeof(arg->info[0]) >
	    DEDUPE_ARG_MAX)
		goto out;
	/* vfs_dedupe_file_range */
	err = -EINVAL;
	if (!(src->f_mode & FMODE_READ) || arg->reserved1 || arg->reserved2)
		goto out;
	off = (int64_t)arg->src_offset;
	len = (int64_t)arg->src_length;
	err = vfs_dedupe_src_checks(src, off, len);
	if (err)
		goto out;
	if (len > (int64_t)1 << 30)
		len = (int64_t)1 << 30;
	for (unsigned i = 0; i < arg->dest_count; i++) {
		arg->info[i].bytes_deduped = 0;
		arg->info[i].status = PC_DEDUPE_RANGE_SAME;
	}
	for (unsigned i = 0; i < arg->dest_count; i++) {
		struct pc_dedupe_range_info *info = &arg->info[i];
		struct file *dst;
		int64_t r;

		/* fdget(unsigned int), as the kernel: the low 32 bits */
		if (!(dst = fdget(&e->fdt, (int)(uint32_t)info->dest_fd))) {
			info->status = -EBADF;
			continue;
		}
		if (info->reserved) {
			info->status = -EINVAL;
			fdput(e, dst);
			continue;
		}
		r = vfs_dedupe_file_range_one(src, off, dst, (int64_t)info->dest_offset, len);
		if (r == -EBADE)
			info->status = PC_DEDUPE_RANGE_DIFFERS;
		else if (r < 0)
			info->status = (int32_t)r;
		else
			info->bytes_deduped = (uint64_t)len; /* as Linux: the request's length */
		fdput(e, dst);
	}
	err = 0;
out:
	fdput(e, src);
	return err;
}

ssize_t pc_copy_file_range(struct pc_engine *e, int fd_in, int64_t *off_in, int fd_out,
			   int64_t *off_out, size_t len, unsigned flags)
{
	ENGINE_ENTER(e);
	struct file *in, *out;
	int64_t pos_in, pos_out;
	ssize_t ret;

	if (!e)
		return -EINVAL;
	in = fdget(&e->fdt, fd_in);
	if (!in)
		return -EBADF;
	out = fdget(&e->fdt, fd_out);
	if (!out) {
		fdput(e, in);
		return -EBADF;
	}
	pos_in = off_in ? *off_in : file_pos_read(in);
	pos_out = off_out ? *off_out : file_pos_read(out);
	ret = flags ? -EINVAL : vfs_copy_file_range(in, pos_in, out, pos_out, len, flags);
	if (ret > 0) {
		if (off_in)
			*off_in = pos_in + ret;
		else
			file_pos_write(in, pos_in + ret);
		if (off_out)
			*off_out = pos_out + ret;
		else
			file_pos_write(out, pos_out + ret);
	}
	fdput(e, out);
	fdput(e, in);
	return ret;
}

/* SPDX-License-Identifier: MIT */
/*
 * readdir.c - listing a directory fd: pc_readdir and pc_getdents. Each call
 * reads the directory as it is now through store_node_readdir from the
 * fd's position, a cookie of the store (no snapshot is taken at open, so
 * a rewind - pc_lseek(fd, 0, SEEK_SET) - shows entries made since; cookies
 * are stable, so a listing resumed at one neither repeats nor skips an
 * entry that was there throughout). pc_lseek(fd, off, SEEK_SET) with an
 * entry's off (pc_getdents) resumes after that entry.
 *
 * Locks: the position is read and stored under f_pos_lock (leaf), not held
 * across the store call: two threads reading one directory fd at once may
 * both get the same entries (as two getdents on one fd without the
 * kernel's f_pos_lock would).
 */
#include <errno.h>
#include <string.h>

#include "api/engine.h"

struct readdir_ctx {
	struct pc_dirent *ents;	    /* pc_readdir */
	struct pc_dirent64 *ents64; /* pc_getdents */
	size_t max, n;
	int64_t next; /* cookie after the last entry taken */
};

static int readdir_fill(void *arg, const char *name, uint64_t ino, unsigned d_type, int64_t next)
{
	struct readdir_ctx *ctx = arg;
	size_t len = strlen(name);
	char *dst;

	if (ctx->ents64) {
		struct pc_dirent64 *d = &ctx->ents64[ctx->n];

		d->ino = ino;
		d->off = next;
		d->type = (unsigned char)d_type;
		dst = d->name;
	} else {
		struct pc_dirent *d = &ctx->ents[ctx->n];

		d->ino = ino;
		d->type = (unsigned char)d_type;
		dst = d->name;
	}
	if (len > 255)
		len = 255; /* NAME_MAX: never longer */
	memcpy(dst, name, len);
	dst[len] = '\0';
	ctx->next = next;
	return ++ctx->n == ctx->max; /* > 0: stop, the table is full */
}

static ssize_t do_readdir(struct pc_engine *e, int fd, struct readdir_ctx *ctx, const void *ents)
{
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
	if (!ctx->max) {
		err = 0;
		goto out;
	}
	if (!ents) {
		err = -EFAULT;
		goto out;
	}
	ctx->next = file_pos_read(f);
	err = store_node_readdir(f->f_node, ctx->next, readdir_fill, ctx);
	if (!err && ctx->n)
		file_pos_write(f, ctx->next);
out:
	fdput(e, f);
	return err < 0 ? err : (ssize_t)ctx->n;
}

ssize_t pc_readdir(struct pc_engine *e, int fd, struct pc_dirent *ents, size_t max)
{
	ENGINE_ENTER(e);
	struct readdir_ctx ctx = {.ents = ents, .max = max};

	return do_readdir(e, fd, &ctx, ents);
}

ssize_t pc_getdents(struct pc_engine *e, int fd, struct pc_dirent64 *ents, size_t max)
{
	ENGINE_ENTER(e);
	struct readdir_ctx ctx = {.ents64 = ents, .max = max};

	return do_readdir(e, fd, &ctx, ents);
}

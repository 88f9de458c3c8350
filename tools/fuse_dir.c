/* SPDX-License-Identifier: MIT */
/*
 * fuse_dir.c - the FUSE directory operations of `pagecache mount` (opendir
 * takes a snapshot of the entries through pc_readdir; readdir serves it by
 * index; fsyncdir syncs it through pc_fsync), statfs, and the
 * extended-attribute operations (not supported by the stores: EOPNOTSUPP).
 * The file operations are in fuse_ops.c.
 *
 * Locks: handles_lock (fuse_ops.c, leaf) inside handle_add/handle_del only;
 * none across engine calls or replies.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "fuse_nodes.h"
#include "fuse_server.h"

struct dent {
	uint64_t ino;
	unsigned type;
	char *name;
};

/* An open directory: a snapshot of its entries taken at opendir. */
struct dh {
	struct handle h;
	size_t n;
	struct dent *ents;
};

/* Frees a handle already off the list (also from pcfs_free_handles at exit). */
static void free_dh_handle(struct handle *h)
{
	struct dh *d = (struct dh *)h;

	for (size_t i = 0; i < d->n; i++)
		free(d->ents[i].name);
	free(d->ents);
	free(d);
}

static void free_dh(struct dh *d)
{
	handle_del(&d->h);
	free_dh_handle(&d->h);
}

static int dh_add(struct dh *d, size_t *cap, const char *name, uint64_t ino, unsigned type)
{
	if (d->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct dent *ne = realloc(d->ents, nc * sizeof(*ne));
		if (!ne)
			return -ENOMEM;
		d->ents = ne;
		*cap = nc;
	}
	d->ents[d->n].name = strdup(name);
	if (!d->ents[d->n].name)
		return -ENOMEM;
	d->ents[d->n].ino = ino;
	d->ents[d->n].type = type;
	d->n++;
	return 0;
}

/* An engine fd of the directory node @ino, its store path left in @path:
 * fd >= 0 or -errno. */
static int open_node_dir(fuse_ino_t ino, char *path, size_t size)
{
	int ret = node_path(node_of(ino), path, size);

	if (ret)
		return ret;
	return pc_open(pcfs.e, *path ? path : ".", O_RDONLY | O_DIRECTORY, 0);
}

void pcfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char path[NODES_PATH_MAX];
	struct pc_dirent ents[64];
	struct dh *d;
	size_t cap = 0;
	struct stat st;
	int ret, fd;
	ssize_t n;

	count_req();
	fd = open_node_dir(ino, path, sizeof(path));
	if (fd < 0) {
		reply_err(req, fd);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (d)
		handle_add(&d->h, free_dh_handle);
	ret = d ? pc_fstat(pcfs.e, fd, &st) : -ENOMEM;
	if (!ret)
		ret = dh_add(d, &cap, ".", st.st_ino, DT_DIR);
	if (!ret) { /* an entry with inode 0 is one readdir(3) skips */
		char *slash = strrchr(path, '/');
		struct stat pst = st;
		if (slash) {
			*slash = '\0';
			ret = pc_stat(pcfs.e, path, &pst);
		} else if (*path) {
			ret = pc_stat(pcfs.e, ".", &pst);
		}
		if (!ret)
			ret = dh_add(d, &cap, "..", pst.st_ino, DT_DIR);
	}
	while (!ret && (n = pc_readdir(pcfs.e, fd, ents, 64)) != 0) {
		if (n < 0) {
			ret = (int)n;
			break;
		}
		for (ssize_t i = 0; i < n && !ret; i++)
			ret = dh_add(d, &cap, ents[i].name, ents[i].ino, ents[i].type);
	}
	pc_close(pcfs.e, fd);
	if (ret) {
		if (d)
			free_dh(d);
		reply_err(req, ret);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	if (fuse_reply_open(req, fi))
		free_dh(d);
}

void pcfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct dh *d = (struct dh *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	size_t pos = 0;

	count_req();
	if (!buf) {
		reply_err(req, -ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; i < d->n; i++) {
		struct stat st = {.st_ino = d->ents[i].ino, .st_mode = d->ents[i].type << 12};
		size_t l = fuse_add_direntry(req, buf + pos, size - pos, d->ents[i].name, &st,
					     (off_t)(i + 1));
		if (l > size - pos)
			break;
		pos += l;
	}
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

void pcfs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	count_req();
	free_dh((struct dh *)(uintptr_t)fi->fh);
	reply_err(req, 0);
}

/* fsync(2) of a directory: pc_fsync of it, so that the names made in it so
 * far are durable (vol: a journal commit; dir: the host directory's fsync). */
void pcfs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	char path[NODES_PATH_MAX];
	int ret, fd;

	count_req();
	fd = open_node_dir(ino, path, sizeof(path));
	if (fd < 0) {
		reply_err(req, fd);
		return;
	}
	ret = pc_fsync(pcfs.e, fd);
	pc_close(pcfs.e, fd);
	reply_err(req, ret);
}

void pcfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;
	int ret;

	count_req();
	ret = pc_statfs(pcfs.e, &st);
	if (ret)
		reply_err(req, ret);
	else
		fuse_reply_statfs(req, &st);
}

/* Extended attributes: not supported by the stores. */
void pcfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
		   int flags)
{
	reply_err(req, -EOPNOTSUPP);
}

/* ENOSYS, not EOPNOTSUPP: the kernel then stops asking for this mount and
 * answers EOPNOTSUPP itself. Asked each time, it costs a request on every
 * write(2) (the security.capability check of file_remove_privs). */
void pcfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	reply_err(req, -ENOSYS);
}

void pcfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	if (size)
		reply_err(req, -EOPNOTSUPP);
	else
		fuse_reply_xattr(req, 0);
}

void pcfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	reply_err(req, -EOPNOTSUPP);
}

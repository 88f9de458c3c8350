/* SPDX-License-Identifier: MIT */
/*
 * fuse_dir.c - the FUSE directory operations of `pagecache mount`: opendir
 * opens an engine fd on the node's directory; readdir (and readdirplus,
 * whose entries also carry their node and attributes) lists it from the
 * kernel's offset with pc_getdents, whose entry offsets are the store's
 * stable cookies (so a listing resumed at an offset neither repeats nor
 * skips an entry, and a rewinddir - offset 0 - reads the directory as it is
 * then, new entries included); fsyncdir syncs it through pc_fsync; and
 * statfs. "." and ".." lead every listing, with two offsets no store cookie
 * takes. The file operations are in fuse_ops.c.
 *
 * Locks: handles_lock (fuse_ops.c, leaf) inside handle_add/handle_del only;
 * none across engine calls or replies. The kernel serializes the readdirs
 * of one open directory (its f_pos lock), so a handle's position needs none.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "fuse_nodes.h"
#include "fuse_server.h"

/* The offsets after "." and "..": above every cookie the stores hand out
 * (dir: the host's d_off, positive; vol: entry positions), below
 * INT64_MAX, which ext4 uses for its end. */
#define OFF_DOT	   (INT64_MAX - 2)
#define OFF_DOTDOT (INT64_MAX - 1)

/* An open directory: its engine fd and where that fd stands. */
struct dh {
	struct handle h;
	int fd;
	int64_t pos; /* the cookie the fd's next pc_getdents starts at */
	uint64_t ino, parent_ino;
};

/* Frees a handle already off the list (also from pcfs_free_handles at exit:
 * then pc_engine_close closes the fd). */
static void free_dh_handle(struct handle *h)
{
	free(h);
}

/* The inode number a listing shows for store inode @ino: with export ids
 * the node id (stat's st_ino), else the store's. */
static uint64_t shown_ino(uint64_t ino)
{
	return nodes_export_ids() ? node_id_to_ino(ino) : ino;
}

void pcfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st, pst;
	struct node *n;
	struct dh *d;
	int ret, fd;

	count_req();
	n = req_node(req, ino);
	if (!n)
		return;
	fd = node_open(n, O_RDONLY | O_DIRECTORY);
	ret = fd < 0 ? fd : pc_fstat(pcfs.e, fd, &st);
	/* a removed directory has no parent left: its own number then */
	if (!ret && pc_fstatat(pcfs.e, node_fd(n), "..", &pst, AT_SYMLINK_NOFOLLOW))
		pst = st;
	node_put(n);
	d = ret ? NULL : calloc(1, sizeof(*d));
	if (!d) {
		if (fd >= 0)
			pc_close(pcfs.e, fd);
		reply_err(req, ret ? ret : -ENOMEM);
		return;
	}
	d->fd = fd;
	d->pos = 0;
	d->ino = shown_ino(st.st_ino);
	d->parent_ino = shown_ino(pst.st_ino);
	handle_add(&d->h, free_dh_handle);
	fi->fh = (uint64_t)(uintptr_t)d;
	if (fuse_reply_open(req, fi)) {
		pc_close(pcfs.e, fd);
		handle_del(&d->h);
		free(d);
	}
}

/* Adds one entry to @buf at *@pos; false when it does not fit. With @plus
 * (readdirplus) the entry carries its node and attributes, a lookup the
 * kernel will forget (none for "." and "..", which carry none, and none
 * left for an entry that does not fit); an entry gone meanwhile goes
 * without them. */
static bool add_ent(fuse_req_t req, struct dh *d, bool plus, char *buf, size_t size, size_t *pos,
		    const char *name, uint64_t ino, unsigned type, int64_t next)
{
	struct fuse_entry_param ep = {.attr = {.st_ino = ino, .st_mode = type << 12}};
	bool dots = !strcmp(name, ".") || !strcmp(name, "..");
	size_t l;

	if (!plus) {
		l = fuse_add_direntry(req, buf + *pos, size - *pos, name, &ep.attr, next);
	} else {
		if (!dots && entry_at(d->fd, name, &ep)) {
			memset(&ep, 0, sizeof(ep)); /* no node: a plain entry */
			ep.attr.st_ino = ino;
			ep.attr.st_mode = type << 12;
		}
		l = fuse_add_direntry_plus(req, buf + *pos, size - *pos, name, &ep, next);
	}
	if (l > size - *pos) {
		if (plus && ep.ino)
			node_forget(ep.ino, 1);
		return false;
	}
	*pos += l;
	return true;
}

static void do_readdir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi, bool plus)
{
	struct dh *d = (struct dh *)(uintptr_t)fi->fh;
	struct pc_dirent64 ents[32];
	char *buf = malloc(size);
	size_t pos = 0;
	int64_t cookie = off;
	int ret = 0;

	count_req();
	if (!buf) {
		reply_err(req, -ENOMEM);
		return;
	}
	if (off == 0 && !add_ent(req, d, plus, buf, size, &pos, ".", d->ino, DT_DIR, OFF_DOT))
		goto out;
	if ((off == 0 || off == OFF_DOT) &&
	    !add_ent(req, d, plus, buf, size, &pos, "..", d->parent_ino, DT_DIR, OFF_DOTDOT))
		goto out;
	if (off == 0 || off == OFF_DOT || off == OFF_DOTDOT)
		cookie = 0;
	if (d->pos != cookie) {
		off_t r = pc_lseek(pcfs.e, d->fd, cookie, SEEK_SET);
		if (r < 0) {
			ret = (int)r;
			goto out;
		}
		d->pos = cookie;
	}
	for (;;) {
		ssize_t k = pc_getdents(pcfs.e, d->fd, ents, sizeof(ents) / sizeof(ents[0]));
		if (k <= 0) {
			ret = (int)k;
			break;
		}
		d->pos = ents[k - 1].off;
		for (ssize_t i = 0; i < k; i++)
			if (!add_ent(req, d, plus, buf, size, &pos, ents[i].name,
				     shown_ino(ents[i].ino), ents[i].type, ents[i].off))
				goto out; /* the next readdir seeks back */
	}
out:
	if (ret && !pos)
		reply_err(req, ret);
	else
		fuse_reply_buf(req, buf, pos);
	free(buf);
}

void pcfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, size, off, fi, false);
}

void pcfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, size, off, fi, true);
}

void pcfs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dh *d = (struct dh *)(uintptr_t)fi->fh;

	count_req();
	(void)ino;
	pc_close(pcfs.e, d->fd);
	handle_del(&d->h);
	free(d);
	reply_err(req, 0);
}

/* fsync(2) of a directory: pc_fsync of it, so that the names made in it so
 * far are durable (vol: a journal commit; dir: the host directory's fsync). */
void pcfs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct dh *d = (struct dh *)(uintptr_t)fi->fh;

	count_req();
	(void)ino;
	(void)datasync;
	reply_err(req, pc_fsync(pcfs.e, d->fd));
}

void pcfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;
	int ret;

	count_req();
	(void)ino;
	ret = pc_statfs(pcfs.e, &st);
	if (ret)
		reply_err(req, ret);
	else
		fuse_reply_statfs(req, &st);
}

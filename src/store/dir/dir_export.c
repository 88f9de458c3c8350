/* SPDX-License-Identifier: MIT */
/*
 * dir_export.c - export handles of the dir store: the host's own file
 * handles, so the host's generation numbers make a handle of a removed
 * object -ESTALE, across store close and open as across reboots.
 *
 * A store handle holds the object's host handle and, for a non-directory,
 * the host handle of the directory it was looked up in (what the kernel
 * calls a connectable handle):
 *	data[0]			n, the object's host handle length
 *	data[1 .. 1+n)		the object's host handle
 *	data[1+n .. len)	its directory's host handle (may be empty)
 *	type			DIR_HANDLE_TAG | object's host type |
 *				directory's host type << 8
 * encode is name_to_handle_at(fd, "", AT_EMPTY_PATH) (no privilege needed);
 * a host whose handles do not fit gives -EOPNOTSUPP.
 *
 * decode is open_by_handle_at(root fd, O_PATH), which needs
 * CAP_DAC_READ_SEARCH on the host (-EPERM otherwise, the host's answer).
 * The host accepts any object of its file system, so the result must be
 * shown to lie beneath the store root (else -ESTALE, as for a foreign
 * handle): a directory by walking ".." up to the root; another object by
 * the path the host knows it by (/proc/self/fd/N), which must start with the
 * root's. A non-directory decoded cold (not in the host's dentry cache) has
 * no path ("/"): then its directory's handle is decoded, checked beneath the
 * root, and searched for the object's inode number; a name found there that
 * still names the object gives the node. Limit: a non-directory that has
 * moved to another directory since the handle was made, and is not in the
 * host's cache, gives -ESTALE.
 *
 * Locking: none.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/dir/dir_internal.h"

TEST_SWITCH(dir_test_handle_any);
TEST_SWITCH(dir_test_handle_cold);

struct host_handle {
	struct file_handle fh;
	unsigned char bytes[STORE_HANDLE_MAX];
};

/* The host handle of O_PATH fd @fd, at most @max bytes of type < 256. */
static int host_encode(int fd, struct host_handle *hh, size_t max)
{
	int mnt;

	hh->fh.handle_bytes = (unsigned)max;
	if (name_to_handle_at(fd, "", &hh->fh, &mnt, AT_EMPTY_PATH) < 0)
		return errno == EOVERFLOW ? -EOPNOTSUPP : -errno;
	if (hh->fh.handle_type < 0 || hh->fh.handle_type > 0xff || !hh->fh.handle_bytes)
		return -EOPNOTSUPP;
	return 0;
}

int dir_encode_handle(struct store_node *n, struct store_handle *h)
{
	struct host_handle obj, dir;
	struct store_node *parent = DN(n)->parent;
	int ret = host_encode(DN(n)->fd, &obj, STORE_HANDLE_MAX - 1);

	if (ret)
		return ret;
	size_t n1 = obj.fh.handle_bytes, room = STORE_HANDLE_MAX - 1 - n1;
	h->data[0] = (unsigned char)n1;
	memcpy(h->data + 1, obj.fh.f_handle, n1);
	h->len = (uint32_t)(1 + n1);
	h->type = DIR_HANDLE_TAG | (unsigned)obj.fh.handle_type;
	/* the directory's half is a hint: without it (no room), only a warm
	 * decode finds the object */
	if (parent && room && host_encode(DN(parent)->fd, &dir, room) == 0) {
		memcpy(h->data + h->len, dir.fh.f_handle, dir.fh.handle_bytes);
		h->len += dir.fh.handle_bytes;
		h->type |= (unsigned)dir.fh.handle_type << 8;
	}
	return 0;
}

/* open_by_handle_at of a host handle, O_PATH, on the root's file system. */
static int host_decode(struct dir_store *d, unsigned type, const unsigned char *bytes, size_t len)
{
	struct host_handle hh;

	hh.fh.handle_bytes = (unsigned)len;
	hh.fh.handle_type = (int)type;
	memcpy(hh.fh.f_handle, bytes, len);
	int fd = open_by_handle_at(d->root_fd, &hh.fh, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == EINVAL ? -ESTALE : -errno;
	return fd;
}

/* Whether directory fd @fd (ours: closed here) lies beneath the root: its
 * ".." chain reaches the root before the top of the host file system. */
static bool dir_beneath(struct dir_store *d, int fd)
{
	const struct store_node *root = &d->root->node;
	struct stat st;

	for (;;) {
		if (fstatat(fd, "", &st, AT_EMPTY_PATH) < 0)
			break;
		if ((uint64_t)st.st_ino == root->ino && (uint64_t)st.st_dev == root->dev) {
			close(fd);
			return true;
		}
		int up = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (up < 0)
			break;
		struct stat ust;
		if (fstatat(up, "", &ust, AT_EMPTY_PATH) < 0 ||
		    (ust.st_ino == st.st_ino && ust.st_dev == st.st_dev)) {
			close(up); /* the top: not beneath */
			break;
		}
		close(fd);
		fd = up;
	}
	close(fd);
	return false;
}

static bool node_dir_beneath(struct dir_store *d, struct store_node *n)
{
	int dup = fcntl(DN(n)->fd, F_DUPFD_CLOEXEC, 0);
	return dup >= 0 && dir_beneath(d, dup);
}

/* Whether non-directory node @n lies beneath the root, by its host path. */
static bool path_beneath(struct dir_store *d, struct store_node *n)
{
	static const char deleted[] = " (deleted)";
	char proc[DIR_PROC_LEN];
	size_t rl = strlen(d->root_path);
	char *p = malloc(PATH_MAX + 1);
	bool ok = false;

	if (!p)
		return false;
	ssize_t len = readlink(dir_proc(proc, DN(n)->fd), p, PATH_MAX);
	if (len > 0 && len < PATH_MAX) {
		p[len] = '\0';
		size_t dl = sizeof(deleted) - 1;
		if ((size_t)len > dl && !strcmp(p + len - dl, deleted))
			p[len - dl] = '\0';
		/* "/" as the root: every absolute path is beneath it */
		ok = rl && !strncmp(p, d->root_path, rl) &&
		     (p[rl] == '/' || (rl == 1 && p[0] == '/'));
	}
	free(p);
	return ok;
}

struct find_ino {
	struct store_node *dir, *want, *found;
};

/* readdir callback: the first name in the directory that still names the
 * object (same inode number, then same dev and ino once looked up). */
static int find_ino(void *ctx, const char *name, uint64_t ino, unsigned type, int64_t next)
{
	struct find_ino *f = ctx;
	struct store_node *n;

	if (ino != f->want->ino || dir_lookup(f->dir, name, &n))
		return 0;
	if (dir_same(n, f->want)) {
		f->found = n;
		return 1;
	}
	dir_node_put(n);
	return 0;
}

/* A cold non-directory @n: its node looked up by name in the directory of
 * the handle's second half, which must lie beneath the root. */
static int reconnect(struct dir_store *d, const struct store_handle *h, struct store_node *n,
		     struct store_node **out)
{
	size_t n1 = h->data[0], n2 = h->len - 1 - n1;
	struct store_node *dir;
	int ret, fd;

	*out = NULL;
	if (!n2)
		return -ESTALE;
	fd = host_decode(d, (h->type >> 8) & 0xff, h->data + 1 + n1, n2);
	if (fd < 0)
		return fd;
	ret = dir_node_new(&d->store, fd, NULL, &dir);
	if (ret)
		return ret;
	if (!S_ISDIR(dir->type) || dir->dev != n->dev || !node_dir_beneath(d, dir)) {
		dir_node_put(dir);
		return -ESTALE;
	}
	struct find_ino f = {.dir = dir, .want = n};
	ret = dir_readdir(dir, 0, find_ino, &f);
	dir_node_put(dir);
	if (!ret && !f.found)
		ret = -ESTALE;
	*out = f.found;
	return ret;
}

int dir_decode_handle(struct store *s, const struct store_handle *h, struct store_node **out)
{
	struct dir_store *d = DS(s);
	struct store_node *n, *c;
	int ret, fd;

	*out = NULL;
	if ((h->type & ~DIR_HANDLE_TYPE_MASK) != DIR_HANDLE_TAG || h->len < 2 || !h->data[0] ||
	    1u + h->data[0] > h->len)
		return -ESTALE; /* not a handle of this store */
	fd = host_decode(d, h->type & 0xff, h->data + 1, h->data[0]);
	if (fd < 0)
		return fd;
	ret = dir_node_new(s, fd, NULL, &n);
	if (ret)
		return ret;
	if (dir_test_handle_any) {
		*out = n;
		return 0;
	}
	if (n->dev != d->root->node.dev || n->ino == d->lock_ino)
		ret = -ESTALE; /* another file system, or the reserved lock file */
	else if (S_ISDIR(n->type))
		ret = node_dir_beneath(d, n) ? 0 : -ESTALE;
	else if (dir_test_handle_cold || !path_beneath(d, n)) {
		ret = reconnect(d, h, n, &c);
		dir_node_put(n);
		n = c;
	}
	if (ret) {
		store_node_put(n);
		return ret;
	}
	*out = n;
	return 0;
}

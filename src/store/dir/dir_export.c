/* SPDX-License-Identifier: MIT */
/*
 * dir_export.c - export handles of the dir store: the host's own file
 * handles. encode is name_to_handle_at(fd, "", AT_EMPTY_PATH) of the node
 * (no privilege needed); the store handle's type is DIR_HANDLE_TAG with the
 * host's handle type in its low 16 bits, its bytes the host's (ext4, xfs,
 * tmpfs and btrfs fit in STORE_HANDLE_MAX; a host needing more gives
 * -EOPNOTSUPP). The host's generation numbers make a handle of a removed
 * object -ESTALE, across store close and open as across reboots.
 *
 * decode is open_by_handle_at(root fd, O_PATH), which needs
 * CAP_DAC_READ_SEARCH on the host (-EPERM otherwise, the host's answer).
 * The host accepts any object of the file system, so the result must be
 * shown to lie beneath the store root (else -ESTALE, as a foreign handle):
 * a directory by walking ".." up to the root; another object by the path
 * the host knows it by (/proc/self/fd/N, " (deleted)" for an unlinked one),
 * which must start with the root's. Limit: a non-directory whose host
 * dentry is disconnected (decoded cold, not in the host's dentry cache) or
 * whose path exceeds PATH_MAX cannot be placed and gives -ESTALE.
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

#define DIR_HANDLE_TAG	     0x64690000u /* "di": a host file handle */
#define DIR_HANDLE_TYPE_MASK 0xffffu

struct host_handle {
	struct file_handle fh;
	unsigned char bytes[STORE_HANDLE_MAX];
};

int dir_encode_handle(struct store_node *n, struct store_handle *h)
{
	struct host_handle hh = {.fh.handle_bytes = STORE_HANDLE_MAX};
	int mnt;

	if (name_to_handle_at(DN(n)->fd, "", &hh.fh, &mnt, AT_EMPTY_PATH) < 0)
		return errno == EOVERFLOW ? -EOPNOTSUPP : -errno;
	if ((unsigned)hh.fh.handle_type & ~DIR_HANDLE_TYPE_MASK ||
	    hh.fh.handle_bytes > STORE_HANDLE_MAX)
		return -EOPNOTSUPP;
	h->type = DIR_HANDLE_TAG | (unsigned)hh.fh.handle_type;
	h->len = hh.fh.handle_bytes;
	memcpy(h->data, hh.fh.f_handle, h->len);
	return 0;
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

int dir_decode_handle(struct store *s, const struct store_handle *h, struct store_node **out)
{
	struct dir_store *d = DS(s);
	struct host_handle hh;
	int ret, fd;

	*out = NULL;
	if ((h->type & ~DIR_HANDLE_TYPE_MASK) != DIR_HANDLE_TAG || !h->len)
		return -ESTALE; /* not a handle of this store */
	hh.fh.handle_bytes = h->len;
	hh.fh.handle_type = (int)(h->type & DIR_HANDLE_TYPE_MASK);
	memcpy(hh.fh.f_handle, h->data, h->len);
	fd = open_by_handle_at(d->root_fd, &hh.fh, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == EINVAL ? -ESTALE : -errno;
	ret = dir_node_new(s, fd, out);
	if (ret || dir_test_handle_any)
		return ret;
	bool ok;
	if ((*out)->dev != d->root->node.dev || (*out)->ino == d->lock_ino) {
		ok = false; /* another file system, or the reserved lock file */
	} else if (S_ISDIR((*out)->type)) {
		int dup = fcntl(DN(*out)->fd, F_DUPFD_CLOEXEC, 0);
		ok = dup >= 0 && dir_beneath(d, dup);
	} else {
		ok = path_beneath(d, *out);
	}
	if (!ok) {
		store_node_put(*out);
		*out = NULL;
		return -ESTALE;
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * handle.c - export handles: pc_name_to_handle_at, pc_open_by_handle_at and
 * pc_fgetgen (a FUSE server's entry generation; in cluster mode the store
 * generation the engine keys a file by); pc_reopen (an fd's object
 * opened anew, as through /proc/self/fd: what a FUSE server's OPEN needs). A handle is the store's
 * (store_encode_handle): it names its object across engine close and open
 * for as long as the object lives, and never another one afterwards
 * (-ESTALE).
 *
 * Locks: none here; pc_open_by_handle_at and pc_reopen open through fs/namei.c
 * (vfs_open_node) and installs the fd under fd_table_lock (leaf).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "api/engine.h"

_Static_assert(PC_HANDLE_MAX == STORE_HANDLE_MAX, "handle sizes differ");
_Static_assert(PC_HANDLE_INO_GEN == STORE_HANDLE_INO_GEN, "handle types differ");

/* A new fd on node @n (the caller's reference, consumed) with open @flags
 * (O_PATH: of any type). */
static int open_node(struct pc_engine *e, struct store_node *n, int flags)
{
	struct file *f;
	int err;

	if (flags & O_PATH) {
		if ((flags & O_DIRECTORY) && !S_ISDIR(n->type))
			err = -ENOTDIR;
		else if (!(err = alloc_path_file(&e->itable, n, flags, &f)))
			return install_file(e, f); /* the node is the file's */
	} else {
		err = vfs_open_node(&e->itable, n, NULL, flags, &f);
	}
	store_node_put(n);
	return err ? err : install_file(e, f);
}

int pc_name_to_handle_at(struct pc_engine *e, int dirfd, const char *path, struct pc_file_handle *h,
			 int flags)
{
	ENGINE_ENTER(e);
	struct store_handle sh;
	struct store_node *n;
	int err;

	if (!e)
		return -EINVAL;
	if (flags & ~(AT_EMPTY_PATH | AT_SYMLINK_FOLLOW))
		return -EINVAL;
	err = at_lookup(e, dirfd, path, flags & AT_EMPTY_PATH, &n);
	if (err)
		return err;
	if (!h)
		err = -EFAULT;
	else
		err = store_encode_handle(n, &sh);
	store_node_put(n);
	if (err)
		return err;
	memset(h, 0, sizeof(*h));
	h->handle_bytes = sh.len;
	h->handle_type = (int)sh.type;
	memcpy(h->f_handle, sh.data, sh.len);
	return 0;
}

int pc_open_by_handle_at(struct pc_engine *e, const struct pc_file_handle *h, int flags)
{
	ENGINE_ENTER(e);
	struct store_handle sh;
	struct store_node *n;
	int err;

	if (!e)
		return -EINVAL;
	if (!h)
		return -EFAULT;
	if (h->handle_bytes > PC_HANDLE_MAX)
		return -EINVAL;
	if (flags & (O_CREAT | (O_TMPFILE & ~O_DIRECTORY)))
		return -EINVAL; /* names nothing new */
	memset(&sh, 0, sizeof(sh));
	sh.len = h->handle_bytes;
	sh.type = (uint32_t)h->handle_type;
	memcpy(sh.data, h->f_handle, sh.len);
	err = store_decode_handle(e->store, &sh, &n);
	if (err)
		return err;
	return open_node(e, n, flags);
}

int pc_reopen(struct pc_engine *e, int fd, int flags)
{
	ENGINE_ENTER(e);
	struct store_node *n;
	struct file *f;

	if (!e)
		return -EINVAL;
	if ((flags & O_TMPFILE) == O_TMPFILE)
		return -EINVAL;
	f = fdget_raw(&e->fdt, fd);
	if (!f)
		return -EBADF;
	n = store_node_get(f->f_node);
	fdput(e, f);
	return open_node(e, n, flags & ~(O_CREAT | O_EXCL));
}

int pc_fgetgen(struct pc_engine *e, int fd, uint64_t *gen)
{
	ENGINE_ENTER(e);
	struct store_handle sh;
	struct file *f;
	int err;

	if (!e)
		return -EINVAL;
	if (!gen)
		return -EFAULT;
	f = fdget_raw(&e->fdt, fd);
	if (!f)
		return -EBADF;
	if (e->cluster) {
		/* the dir store: the generation the engine keys the file by
		 * (store_inode.gen), from the fd's node as a stat by name
		 * takes it */
		err = store_node_gen(f->f_node, gen);
		fdput(e, f);
		return err;
	}
	err = store_encode_handle(f->f_node, &sh);
	fdput(e, f);
	if (err)
		return err;
	if (sh.type != STORE_HANDLE_INO_GEN || sh.len < 2 * sizeof(uint64_t))
		return -EOPNOTSUPP;
	memcpy(gen, sh.data + sizeof(uint64_t), sizeof(*gen));
	return 0;
}

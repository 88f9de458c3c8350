/* SPDX-License-Identifier: MIT */
/*
 * dir_gen.c - the generation of a host file's inode number, for the dir
 * store in cluster mode (store_inode.gen): a host file system may give the
 * number of an unlinked file to a new one while another node still caches
 * the old file (docs/cluster.md, "File identity"). The engine keys its
 * inodes and glocks by (dev, ino, gen).
 *
 * The source is probed once, on the root directory, and then used for every
 * file (each node must name one file alike; the lock service compares the
 * source's name, store.gen_source):
 *   FS_IOC_GETVERSION  the inode's i_generation (ext4: random at creation;
 *                      XFS, btrfs);
 *   statx-btime        the birth time, ns (CephFS, NFSv4 servers that
 *                      report it, and any local file system with one);
 *   file-handle        a 64-bit hash of the host's export file handle
 *                      (name_to_handle_at): what NFS itself names a file by,
 *                      generation included on every exporting file system;
 *   none               gen 0: identity by number alone (the hazard stays).
 * The ctime at first open is not a generation: any chmod or write changes
 * it, and two nodes that first opened the file at different times would
 * name it differently.
 *
 * dir_node_gen answers for a node without a data open where it can (the
 * stat of a file the engine may not read; pc_fgetgen of an O_PATH fd, a
 * FUSE lookup's); else it opens a file or directory for the ioctl, never
 * another type (-EOPNOTSUPP).
 *
 * Locking: none.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/dir/dir_internal.h"

static bool gen_ioc(int fd, uint64_t *gen)
{
	long v = 0; /* the file systems write an int */

	if (ioctl(fd, FS_IOC_GETVERSION, &v) < 0)
		return false;
	*gen = (uint32_t)v;
	return true;
}

static bool gen_btime(int fd, uint64_t *gen)
{
	struct statx stx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_BTIME, &stx) < 0 || !(stx.stx_mask & STATX_BTIME))
		return false;
	*gen = (uint64_t)stx.stx_btime.tv_sec * 1000000000ull + stx.stx_btime.tv_nsec;
	return true;
}

static bool gen_handle(int fd, uint64_t *gen)
{
	union {
		struct file_handle fh;
		unsigned char raw[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} h;
	/* the handle's bytes, read through the buffer: f_handle is declared
	 * with no length */
	const unsigned char *b = h.raw + offsetof(struct file_handle, f_handle);
	uint64_t x = 0xcbf29ce484222325ull; /* FNV-1a */
	int mnt;

	h.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(fd, "", &h.fh, &mnt, AT_EMPTY_PATH) < 0 ||
	    h.fh.handle_bytes > MAX_HANDLE_SZ)
		return false;
	x = (x ^ (uint32_t)h.fh.handle_type) * 0x100000001b3ull;
	for (unsigned i = 0; i < h.fh.handle_bytes; i++)
		x = (x ^ b[i]) * 0x100000001b3ull;
	*gen = x;
	return true;
}

static const struct {
	const char *name;
	bool (*get)(int fd, uint64_t *gen);
} sources[] = {
    {"FS_IOC_GETVERSION", gen_ioc},
    {"statx-btime", gen_btime},
    {"file-handle", gen_handle},
};

void dir_gen_probe(struct dir_store *d)
{
	uint64_t gen;

	d->gen_get = NULL;
	d->store.gen_source = "none";
	for (unsigned i = 0; i < sizeof(sources) / sizeof(sources[0]); i++)
		if (sources[i].get(d->root_fd, &gen)) {
			d->gen_get = sources[i].get;
			d->store.gen_source = sources[i].name;
			return;
		}
}

uint64_t dir_gen(const struct dir_store *d, int fd)
{
	uint64_t gen = 0;

	if (d->gen_get && !d->gen_get(fd, &gen))
		gen = 0;
	return gen;
}

int dir_node_gen(struct store_node *n, uint64_t *gen)
{
	const struct dir_store *d = DS(n->store);
	static const int modes[] = {O_RDONLY, O_WRONLY};
	char proc[DIR_PROC_LEN];
	int err = -EACCES;

	*gen = 0;
	if (!d->cluster || !d->gen_get)
		return 0;
	if (d->gen_get(DN(n)->fd, gen))
		return 0; /* statx and name_to_handle_at take an O_PATH fd */
	/* an open of a device node may act on the device, one of a symlink
	 * fails: only files and directories are opened for the ioctl */
	if (!S_ISREG(n->type) && !S_ISDIR(n->type))
		return -EOPNOTSUPP;
	/* FS_IOC_GETVERSION wants a file opened for data: either way will do */
	for (unsigned i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		int fd =
		    open(dir_proc(proc, DN(n)->fd), modes[i] | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

		if (fd < 0) {
			err = -errno;
			continue;
		}
		*gen = dir_gen(d, fd); /* as dir_open sets store_inode.gen */
		close(fd);
		return 0;
	}
	*gen = 0;
	return err;
}

/* SPDX-License-Identifier: MIT */
/*
 * data_io.c - which of the image's two fds a file-data write goes through.
 *
 * File data written back from the engine's cache is already cached there;
 * writing it through the host's page cache copies it once more and caches
 * it twice. With the data I/O mode AUTO (the default) a data write whose
 * buffer, offset and length are multiples of the store's dio_align goes
 * through the image's O_DIRECT fd (vs->dio_fd) instead: the host copies
 * nothing and the write reaches the device before it returns. Everything
 * else - metadata, the journal, the zero padding of partial blocks, an
 * unaligned write (the EOF page's part below i_size) - stays on the
 * buffered fd. BUFFERED sends every data write there, as before.
 *
 * Ordering does not change: an O_DIRECT write may still sit in the
 * device's volatile cache, so it counts in the device's write sequence
 * (io.c) like any other, and the commit flushes (fdatasync of the image,
 * which covers every fd of the file) before its journal names the data.
 * Reads stay buffered; Linux keeps a buffered read coherent with a direct
 * write to the same file (the direct write writes back and drops the
 * cached pages of its range).
 *
 * Fallback: a host that refuses O_DIRECT at open (EINVAL: tmpfs before
 * Linux 6.6, some FUSE file systems) leaves vs->dio_fd at -1 (backend.c);
 * one that accepts the open but refuses a write with EINVAL turns direct
 * data writes off for the mount, and that write is retried buffered.
 * Host pages larger than a vol block keep data buffered: a direct write
 * of one block and a buffered write of its neighbour would share a host
 * page, which Linux cannot keep coherent. So does a host file system that
 * checksums data (btrfs, bcachefs, ZFS): the engine does not hold pages
 * stable during write-back (a store through a view may change a page while
 * it is written; it is dirtied and written again), and such a file system
 * may checksum a direct write's bytes in the caller's memory and store
 * others - a checksum error at the next read. Its buffered path copies
 * first.
 *
 * Locking: none; vs->data_direct and the counters are atomics. Called
 * with or without vs->lock, as the data paths of data.c are.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "store/vol/vol.h"
#include "store/vol/vstore.h"

TEST_SWITCH(vol_test_data_dio_no_fallback);
TEST_KNOB(bool, vol_test_data_dio_einval);
TEST_KNOB(bool, vol_test_odirect_refused);
TEST_KNOB(unsigned long, vol_test_host_fs_magic);

/* statfs f_type of file systems that checksum file data */
#define BTRFS_MAGIC    0x9123683eul
#define BCACHEFS_MAGIC 0xca451a4eul
#define ZFS_MAGIC      0x2fc12fc1ul

/* Whether the image's host file system checksums the data written to it. */
static bool host_checksums_data(struct vstore *vs)
{
	unsigned long magic = vol_test_host_fs_magic;
	struct statfs sf;

	if (!magic) {
		if (fstatfs(vs->v->fd, &sf))
			return true; /* unknown: the safe side */
		magic = (unsigned long)sf.f_type;
	}
	return magic == BTRFS_MAGIC || magic == BCACHEFS_MAGIC || magic == ZFS_MAGIC;
}

void vs_data_io_init(struct vstore *vs, int mode)
{
	long pg = sysconf(_SC_PAGESIZE);
	bool on = mode == VOL_DATA_IO_AUTO && vs->dio_fd >= 0 && pg > 0 && pg <= VOL_BLOCK_SIZE &&
		  !host_checksums_data(vs);

	__atomic_store_n(&vs->data_direct, on, __ATOMIC_RELAXED);
}

int vol_store_set_data_io(struct store *s, int mode)
{
	if (mode != VOL_DATA_IO_AUTO && mode != VOL_DATA_IO_BUFFERED)
		return -EINVAL;
	vs_data_io_init(VS(s), mode);
	return 0;
}

bool vol_store_data_direct(struct store *s)
{
	return __atomic_load_n(&VS(s)->data_direct, __ATOMIC_RELAXED);
}

/* Whether a data write of @buf, @len at @off may go through the O_DIRECT fd. */
static bool direct_ok(struct vstore *vs, const void *buf, size_t len, off_t off)
{
	uint64_t a = vs->store.dio_align;

	if (!__atomic_load_n(&vs->data_direct, __ATOMIC_RELAXED) || !len)
		return false;
	return (((uintptr_t)buf | (uint64_t)len | (uint64_t)off) & (a - 1)) == 0;
}

int vs_data_pwrite(struct vstore *vs, bool dio, const void *buf, size_t len, off_t off)
{
	struct vol *v = vs->v;

	if (dio) /* a caller's O_DIRECT write: aligned to dio_align (fs/direct.c) */
		return vol_dev_pwrite(&v->dev, vs->dio_fd >= 0 ? vs->dio_fd : v->fd, buf, len, off);
	if (!direct_ok(vs, buf, len, off)) {
		__atomic_add_fetch(&vs->data_buffered_writes, 1, __ATOMIC_RELAXED);
		return vol_dev_pwrite(&v->dev, v->fd, buf, len, off);
	}
	int r =
	    vol_test_data_dio_einval ? -EINVAL : vol_dev_pwrite(&v->dev, vs->dio_fd, buf, len, off);
	if (r != -EINVAL || vol_test_data_dio_no_fallback) {
		if (!r)
			__atomic_add_fetch(&vs->data_direct_writes, 1, __ATOMIC_RELAXED);
		return r;
	}
	/* The host refused it: buffered from now on, starting with this write
	 * (done again whole: the same bytes at the same place). */
	if (__atomic_exchange_n(&vs->data_direct, false, __ATOMIC_RELAXED))
		fprintf(stderr, "vol: the host refused an O_DIRECT data write (EINVAL); data goes "
				"through its page cache from now on\n");
	__atomic_add_fetch(&vs->data_direct_fallbacks, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&vs->data_buffered_writes, 1, __ATOMIC_RELAXED);
	return vol_dev_pwrite(&v->dev, v->fd, buf, len, off);
}

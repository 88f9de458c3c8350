/* SPDX-License-Identifier: MIT */
/*
 * backend.c - opening and closing a vol store: the image's exclusive flock,
 * journal replay, mount (volume.c), loading the volume into memory
 * (load.c), the superblock's JCHAIN bit (set while mounted), freeing
 * orphans left by a crash, the O_DIRECT fd and alignment (also used for
 * aligned file-data writes, data_io.c);
 * the store_ops table joining node.c, namei.c, attr.c, xattr.c and data.c.
 * Close commits.
 *
 * Locking: open runs before the store is shared; close after the last call.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/vol/vol.h"
#include "store/vol/vstore.h"

static struct store_ops vol_ops;
static pthread_once_t ops_once = PTHREAD_ONCE_INIT;

/* Sets (mount) or clears (clean unmount, the journal empty) the superblock's
 * JCHAIN bit in place, flushed: while it is set, binaries that know only a
 * one-transaction journal refuse the volume. At mount the inode-generation
 * limit moves up a batch with it (node.c: vs_take_gen then commits only
 * after a batch of creates). The superblock is the last committed one (the
 * journal empty or replayed). 0 or -errno. */
static int set_jchain(struct vstore *vs, bool on, uint64_t gen_limit)
{
	struct vol *v = vs->v;
	uint32_t f = on ? v->sb.feat_incompat | VOL_FEAT_INCOMPAT_JCHAIN
			: v->sb.feat_incompat & ~VOL_FEAT_INCOMPAT_JCHAIN;
	if (f == v->sb.feat_incompat && gen_limit == v->sb.ino_gen_limit)
		return 0;
	char *blk = calloc(1, VOL_BLOCK_SIZE);
	if (!blk)
		return -ENOMEM;
	struct vol_super sb = v->sb;
	sb.feat_incompat = f;
	sb.ino_gen_limit = gen_limit;
	vol_super_encode(&sb, blk);
	int r = vol_dev_pwrite(&v->dev, v->fd, blk, VOL_BLOCK_SIZE, 0);
	if (!r)
		r = vol_dev_flush(&v->dev, v->fd);
	free(blk);
	if (!r) {
		v->sb.feat_incompat = f;
		v->sb.ino_gen_limit = gen_limit;
	}
	return r;
}

static int vol_close(struct store *s);

static void ops_init(void)
{
	const struct store_ops *nd = &vol_store_ops_node, *a = &vol_store_ops_attr,
			       *x = &vol_store_ops_xattr;
	vol_ops = vol_store_ops_ns; /* name, create, symlink, tmpfile, link, unlink,
				     * rename, readdir */
	vol_ops.root = nd->root;
	vol_ops.lookup = nd->lookup;
	vol_ops.node_put = nd->node_put;
	vol_ops.open = nd->open;
	vol_ops.release = nd->release;
	vol_ops.encode_handle = nd->encode_handle;
	vol_ops.decode_handle = nd->decode_handle;
	vol_ops.sync_dir = nd->sync_dir;
	vol_ops.getattr = a->getattr;
	vol_ops.setattr = a->setattr;
	vol_ops.readlink = a->readlink;
	vol_ops.statfs = a->statfs;
	vol_ops.getxattr = x->getxattr;
	vol_ops.setxattr = x->setxattr;
	vol_ops.listxattr = x->listxattr;
	vol_ops.removexattr = x->removexattr;
	const struct store_ops *d = &vol_store_ops_data;
	vol_ops.fgetattr = d->fgetattr;
	vol_ops.setsize = d->setsize;
	vol_ops.map = d->map;
	vol_ops.read = d->read;
	vol_ops.write = d->write;
	vol_ops.dio_read = d->dio_read;
	vol_ops.dio_write = d->dio_write;
	vol_ops.fallocate = d->fallocate;
	vol_ops.clone_range = d->clone_range;
	vol_ops.sync = d->sync;
	vol_ops.reserve = vol_reserve;
	vol_ops.unreserve = vol_unreserve;
	vol_ops.close = vol_close;
}

int vol_lock_image(const char *image, int flags, int *fdp)
{
	int fd = open(image, flags | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		return e;
	}
	*fdp = fd;
	return 0;
}

static void probe_dio(struct vstore *vs, const char *image)
{
	struct store *s = &vs->store;
	struct statx stx;

	s->dio_supported = false;
	s->dio_align = 512;
	s->sole_writer = true; /* the image is locked: only we write it */
	vs->dio_fd = vol_test_odirect_refused ? -1 : open(image, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (vs->dio_fd < 0)
		return; /* EINVAL: the host has no O_DIRECT; data stays buffered */
	s->dio_supported = true;
	if (statx(vs->dio_fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
		unsigned a = stx.stx_dio_offset_align;
		if (stx.stx_dio_mem_align > a)
			a = stx.stx_dio_mem_align;
		s->dio_align = a;
	}
	if (s->dio_align > VOL_BLOCK_SIZE) { /* blocks could not be addressed */
		s->dio_supported = false;
		close(vs->dio_fd);
		vs->dio_fd = -1;
	}
}

static void free_vs(struct vstore *vs)
{
	vs_free_nodes(vs);
	if (vs->v)
		vol_dev_wcache_free(&vs->v->dev);
	if (vs->v)
		vol_unmount(vs->v);
	if (vs->dio_fd >= 0)
		close(vs->dio_fd);
	if (vs->lock_fd >= 0)
		close(vs->lock_fd);
	pthread_mutex_destroy(&vs->lock);
	pthread_cond_destroy(&vs->thaw);
	pthread_mutex_destroy(&vs->timer_lock);
	free(vs);
}

int store_open_vol(const char *image, struct store **out)
{
	const char *why = NULL;
	struct stat st;
	int r;

	*out = NULL;
	if (!image)
		return -EINVAL;
	pthread_once(&ops_once, ops_init);
	struct vstore *vs = calloc(1, sizeof(*vs));
	if (!vs)
		return -ENOMEM;
	pthread_mutex_init(&vs->lock, NULL);
	pthread_cond_init(&vs->thaw, NULL);
	pthread_mutex_init(&vs->timer_lock, NULL);
	vs->dio_fd = -1;
	r = vol_lock_image(image, O_RDWR, &vs->lock_fd);
	if (r) {
		vs->lock_fd = -1;
		if (r != -EBUSY)
			fprintf(stderr, "vol: %s: cannot open the image: %s\n", image,
				strerror(-r));
		free_vs(vs);
		return r;
	}
	r = vol_journal_replay(vs->lock_fd, &why);
	if (!r)
		r = vol_mount(image, &vs->v, &why);
	if (!r)
		r = vs_load(vs, &why);
	if (!r && fstat(vs->lock_fd, &st) < 0)
		r = -errno;
	if (r) {
		fprintf(stderr, "%s: %s%s\n", image,
			why ? why : "vol: cannot mount: ", why ? "" : strerror(-r));
		free_vs(vs);
		return r;
	}
	vs->dev = S_ISBLK(st.st_mode) ? st.st_rdev : st.st_ino;
	for (uint64_t i = vs_next_ino(vs, 1); i < vs->ninodes; i = vs_next_ino(vs, i + 1))
		if (vs->inodes[i])
			vs_node_init(vs, vs->inodes[i]);
	vs_gen_init(vs);
	r = set_jchain(vs, true, vs->gen_next + vs_gen_batch());
	if (r) {
		fprintf(stderr, "%s: vol: cannot write the superblock: %s\n", image, strerror(-r));
		free_vs(vs);
		return r;
	}
	uint64_t data = vol_data_end(&vs->v->sb) - vs->v->sb.data_start;
	vs->reserve = data / 64 < 16 ? 16 : data / 64 > 4096 ? 4096 : data / 64;
	if (vs->reserve > data / 4)
		vs->reserve = data / 4;
	vs->ino_cursor = 2;
	/* orphans: unlinked while open when the last session ended */
	bool orphans = false;
	vs_lock_change(vs); /* an fsync's commit in flight installs first */
	for (uint64_t i = vs_next_ino(vs, 1); i < vs->ninodes; i = vs_next_ino(vs, i + 1))
		if (vs->inodes[i] && vs->inodes[i]->di.nlink == 0) {
			vs_evict(vs, vs->inodes[i]);
			orphans = true;
		}
	if (orphans && (r = vs_commit(vs)))
		fprintf(stderr, "%s: vol: cannot free orphan inodes: %s\n", image, strerror(-r));
	pthread_mutex_unlock(&vs->lock);
	if (r) {
		free_vs(vs);
		return r;
	}
	vs->store.ops = &vol_ops;
	vs->store.private = vs;
	probe_dio(vs, image);
	vs_data_io_init(vs, VOL_DATA_IO_AUTO);
	*out = &vs->store;
	return 0;
}

int vol_store_set_discard(struct store *s, int mode)
{
	if (mode != VOL_DISCARD_AUTO && mode != VOL_DISCARD_ON && mode != VOL_DISCARD_OFF)
		return -EINVAL;
	vol_set_discard(VS(s)->v, mode);
	return 0;
}

static int vol_close(struct store *s)
{
	struct vstore *vs = VS(s);
	int r = 0;

	vs_stop_commit_timer(vs);
	pthread_mutex_lock(&vs->lock);
	if (vs->broken) {
		r = -EIO;
	} else {
		r = vs_commit(vs);
		if (!r) /* the punches still queued (discard.c) */
			vol_discard_run(vs->v);
		if (!r) /* the deferred checkpoint, flushed below */
			r = vol_ckpt_write(vs->v);
		/* checkpointed and flushed: the journal is done with (a clean
		 * image needs no replay, so damage to its blocks is not masked) */
		if (!r)
			r = vol_dev_flush(&vs->v->dev, vs->v->fd);
		if (!r) {
			static const char zero[VOL_BLOCK_SIZE];
			r = vol_dev_pwrite(&vs->v->dev, vs->v->fd, zero, VOL_BLOCK_SIZE,
					   (off_t)(vs->v->sb.journal_start * VOL_BLOCK_SIZE));
		}
		if (!r)
			r = vol_dev_flush(&vs->v->dev, vs->v->fd);
		if (!r) /* no chain left: readers without JCHAIN may mount it */
			r = set_jchain(vs, false, vs->v->sb.ino_gen_limit);
		if (r)
			fprintf(stderr, "vol: unmount: final commit failed: %s\n", strerror(-r));
	}
	pthread_mutex_unlock(&vs->lock);
	free_vs(vs);
	return r;
}

/* Tests: stop the image "device" at its nth write from now (0: never). */
void vol_store_stop_at(struct store *s, long nth)
{
	struct vstore *vs = VS(s);
	unsigned long w = __atomic_load_n(&vs->v->dev.writes, __ATOMIC_RELAXED);
	__atomic_store_n(&vs->v->dev.stop_at, nth ? (long)w + nth : 0, __ATOMIC_RELAXED);
}

void vol_store_kill_at(struct store *s, long nth)
{
	struct vstore *vs = VS(s);
	unsigned long w = __atomic_load_n(&vs->v->dev.writes, __ATOMIC_RELAXED);
	__atomic_store_n(&vs->v->dev.kill_at, nth ? (long)w + nth : 0, __ATOMIC_RELAXED);
}

int vol_store_wcache(struct store *s, uint64_t seed, long crash_write, long crash_flush, bool kill,
		     struct vol_wc_stats *stats)
{
	struct vol_dev *d = &VS(s)->v->dev;
	unsigned long w = __atomic_load_n(&d->writes, __ATOMIC_RELAXED);
	unsigned long f = __atomic_load_n(&d->flushes, __ATOMIC_RELAXED);
	return vol_dev_wcache_start(d, VS(s)->v->fd, seed, crash_write ? (long)w + crash_write : 0,
				    crash_flush ? (long)f + crash_flush : 0, kill, stats);
}

unsigned long vol_store_flushes(struct store *s)
{
	return __atomic_load_n(&VS(s)->v->dev.flushes, __ATOMIC_RELAXED);
}

void vol_store_fail_once(struct store *s, int kind, long nth)
{
	struct vol_dev *d = &VS(s)->v->dev;
	unsigned long base = __atomic_load_n(kind == 0	 ? &d->writes
					     : kind == 1 ? &d->reads
							 : &d->flushes,
					     __ATOMIC_RELAXED);
	long *slot = kind == 0 ? &d->fail_write : kind == 1 ? &d->fail_read : &d->fail_flush;
	__atomic_store_n(slot, nth ? (long)base + nth : 0, __ATOMIC_RELAXED);
}

unsigned long vol_store_writes(struct store *s)
{
	return __atomic_load_n(&VS(s)->v->dev.writes, __ATOMIC_RELAXED);
}

int vol_store_dead(struct store *s)
{
	return __atomic_load_n(&VS(s)->v->dev.dead, __ATOMIC_RELAXED);
}

unsigned long vol_store_commits(struct store *s)
{
	return __atomic_load_n(&VS(s)->commits, __ATOMIC_RELAXED);
}

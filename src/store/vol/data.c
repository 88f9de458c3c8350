/* SPDX-License-Identifier: MIT */
/*
 * data.c - the vol store's data ops: map, read/write and O_DIRECT
 * read/write against the image, fallocate (allocate unwritten, punch, zero,
 * collapse, insert), setsize, sync, fgetattr.
 *
 * Ordered data without a global lock across I/O: a write into a hole
 * allocates its blocks and maps them UNWRITTEN under vs->lock, writes the
 * data (whole blocks: zero padding at the edges, so a reused block never
 * shows its last owner's bytes) without the lock, then marks them written
 * under the lock again. A commit in between records them unwritten (reads
 * as zeroes); a commit after it flushes the data before the journal names
 * the extent written. Freed blocks go to the volume's pending list: reused
 * only after the commit that freed them is durable. A write into a shared
 * block (refcount.c) is copy-on-write (cow_write; cow_zero for a partial
 * zero and truncate's kept head): new blocks, the old bytes around the
 * written ones, a remap that drops one reference, all under vs->lock.
 *
 * The written bytes go to the image through vs_data_pwrite (data_io.c:
 * O_DIRECT when aligned, by default); the padding and the copied edges of
 * partial blocks through the buffered fd.
 *
 * Locking: vs->lock around every lookup and change of an extent map,
 * size or attribute; image preads/pwrites of file data run without it. The
 * caller keeps I/O and punch/truncate of one range apart.
 */
#include <fcntl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel/sched.h"
#include "store/vol/vstore.h"

#define BS VOL_BLOCK_SIZE

static const char zero_block[VOL_BLOCK_SIZE];

/* The extents changed: the next commit rewrites the tree and the record. */
static void vs_map_dirty(struct vstore *vs, struct vnode *n)
{
	n->map_dirty = true;
	vs_dirty(vs, n);
}

static struct vnode *VN(struct store_inode *si)
{
	return si->private;
}

/* Allocate up to want data blocks near hint. Blocks nobody reserved leave
 * the commit reserve and every reservation alone (vs_unreserved_avail);
 * @reserved: the caller allocates blocks it reserved (reserve.c), which
 * that space was kept for. Commits once to recover blocks freed since the
 * last. */
int64_t vs_alloc_data(struct vstore *vs, uint64_t want, uint64_t hint, uint64_t *start,
		      bool reserved)
{
	for (int tries = 0;; tries++) {
		uint64_t avail = reserved ? vs->v->alloc.free : vs_unreserved_avail(vs);
		if (avail) {
			if (want > avail)
				want = avail;
			return vol_alloc_blocks(vs->v, want, hint, start);
		}
		if (tries || vs->v->pending.nr == 0)
			return -ENOSPC;
		int r = vs_commit(vs);
		if (r)
			return r;
	}
}

static uint64_t hint_for(struct vnode *n, uint64_t lblk)
{
	struct vol_map m;
	if (lblk == 0)
		return UINT64_MAX;
	vol_extmap_lookup(&n->map, lblk - 1, 1, &m);
	return m.type == VOL_MAP_HOLE ? UINT64_MAX : m.pblk + 1;
}

/* Maps new unwritten blocks at the start of the hole [lblk, lblk+len) of n:
 * a run that is all reserved (consumed here) or all not. Returns the count
 * (*pblk set), or -errno. vs->lock held, not frozen. */
static int64_t alloc_hole(struct vstore *vs, struct vnode *n, uint64_t lblk, uint64_t len,
			  uint64_t *pblk)
{
	uint64_t run;
	bool reserved = vs_resv_run(n, lblk, len, &run);
	int64_t g = vs_alloc_data(vs, run, hint_for(n, lblk), pblk, reserved);

	if (g <= 0)
		return g;
	int r =
	    vol_extmap_set(&n->map, lblk, *pblk, (uint64_t)g, VOL_EXT_UNWRITTEN, vs_release, vs);
	if (r) {
		vol_return_blocks(vs->v, *pblk, (uint64_t)g);
		return r;
	}
	if (reserved)
		vs_resv_drop(vs, n, lblk, (uint64_t)g, true);
	vs_map_dirty(vs, n);
	return g;
}

int vs_write_new_block(struct vstore *vs, struct vnode *n, const void *blk)
{
	uint64_t pblk;
	int64_t g = vs_alloc_data(vs, 1, UINT64_MAX, &pblk, false);
	if (g < 0)
		return (int)g;
	int r = vol_dev_pwrite(&vs->v->dev, vs->v->fd, blk, BS, (off_t)(pblk * BS));
	if (!r)
		r = vol_extmap_set(&n->map, 0, pblk, 1, 0, vs_release, vs);
	if (r) {
		vol_return_blocks(vs->v, pblk, 1); /* never durable */
		return r;
	}
	vs_map_dirty(vs, n);
	return 0;
}

TEST_SWITCH(vol_test_truncate_in_place);
TEST_SWITCH(vol_test_cow_in_place);

/* Copy-on-write of file block lblk, mapped at old, with bytes [from, to)
 * zeroed: a new block gets the rest of old's bytes and replaces it in the
 * map (old loses a reference: pending if it was the last, so the durable
 * state keeps its bytes until the commit; a shared block stays with its
 * other owners). 0, -ENOSPC (nothing changed), or -errno. */
static int cow_zero(struct vstore *vs, struct vnode *n, uint64_t lblk, uint64_t old, size_t from,
		    size_t to)
{
	char *blk = malloc(BS);
	uint64_t pblk, run;
	int r = blk ? 0 : -ENOMEM;
	bool reserved = vs_resv_run(n, lblk, 1, &run);

	if (!r) {
		int64_t g = vs_alloc_data(vs, 1, old + 1, &pblk, reserved);
		r = g < 0 ? (int)g : 0;
	}
	if (r) {
		free(blk);
		return r;
	}
	r = vol_dev_pread(&vs->v->dev, vs->v->fd, blk, BS, (off_t)(old * BS));
	if (!r) {
		memset(blk + from, 0, to - from);
		r = vol_dev_pwrite(&vs->v->dev, vs->v->fd, blk, BS, (off_t)(pblk * BS));
	}
	if (!r)
		r = vol_extmap_set(&n->map, lblk, pblk, 1, 0, vs_release, vs);
	if (r)
		vol_return_blocks(vs->v, pblk, 1); /* never durable */
	free(blk);
	if (r)
		return r;
	if (reserved) /* the block it was reserved for is allocated */
		vs_resv_drop(vs, n, lblk, 1, true);
	vs_map_dirty(vs, n);
	return 0;
}

/* Zero bytes [from, to) of file block lblk if it holds data: in place, or
 * copy-on-write for a shared block. */
static int zero_partial(struct vstore *vs, struct vnode *n, uint64_t lblk, size_t from, size_t to)
{
	struct vol_map m;
	uint64_t run;
	if (from >= to)
		return 0;
	vol_extmap_lookup(&n->map, lblk, 1, &m);
	if (m.type != VOL_MAP_MAPPED)
		return 0;
	if (vs_refc_shared(vs, m.pblk, 1, &run) &&
	    !__atomic_load_n(&vol_test_cow_in_place, __ATOMIC_RELAXED))
		return cow_zero(vs, n, lblk, m.pblk, from, to);
	return vol_dev_pwrite(&vs->v->dev, vs->v->fd, zero_block, to - from,
			      (off_t)(m.pblk * BS + from));
}

/* Copy-on-write of the kept head [0, keep) of file block lblk, mapped at
 * old (truncate). */
static int cow_head(struct vstore *vs, struct vnode *n, uint64_t lblk, uint64_t old, size_t keep)
{
	return cow_zero(vs, n, lblk, old, keep, BS);
}

/*
 * Cuts n to size (size < n->di.size) and sets it. The cut tail of a kept
 * written block must not be zeroed in place before the commit that makes
 * the new size durable (a crash would show zeroes at the old size), so the
 * block is copied (cow_head) before the punch. Without a block to copy to,
 * the size change and the punch are committed first and the tail, past the
 * durable size from then on, is zeroed in place after; if that commit fails
 * the store turns broken (-EIO until remounted) rather than keep a cut
 * block whose tail could reappear.
 */
int vs_truncate_blocks(struct vstore *vs, struct vnode *n, uint64_t size)
{
	uint64_t first = (size + BS - 1) / BS, lblk = size / BS;
	size_t keep = size % BS;
	bool late_zero = false;
	struct vol_map m;
	int r = 0;

	if (keep) {
		vol_extmap_lookup(&n->map, lblk, 1, &m);
		if (m.type != VOL_MAP_MAPPED)
			keep = 0; /* a hole or unwritten: reads as zeroes already */
	}
	if (keep && !__atomic_load_n(&vol_test_truncate_in_place, __ATOMIC_RELAXED)) {
		r = cow_head(vs, n, lblk, m.pblk, keep);
		if (r == -ENOSPC)
			late_zero = true;
		else if (r)
			return r;
		vs_map_dirty(vs, n);
	}
	r = vol_extmap_punch(&n->map, first, UINT64_MAX - first, vs_release, vs);
	vs_map_dirty(vs, n);
	if (r)
		return r;
	vs_resv_drop(vs, n, first, UINT64_MAX - first, false); /* the cache dropped those pages */
	n->di.size = size;
	vs_dirty(vs, n);
	if (late_zero) {
		r = vs_commit(vs);
		if (r)
			return vs_break(vs, r, "truncate: commit before zeroing in place failed");
		return zero_partial(vs, n, lblk, keep, BS);
	}
	if (keep && __atomic_load_n(&vol_test_truncate_in_place, __ATOMIC_RELAXED))
		return zero_partial(vs, n, lblk, keep, BS); /* the hazard the tests show */
	return 0;
}

/* ---- attributes, size, map ---- */

static int vol_fgetattr(struct store_inode *si, struct stat *st)
{
	struct vstore *vs = VS(si->store);
	pthread_mutex_lock(&vs->lock);
	vs_fill_stat(vs, VN(si), st);
	pthread_mutex_unlock(&vs->lock);
	return 0;
}

static int vol_setsize(struct store_inode *si, int64_t size)
{
	struct vstore *vs = VS(si->store);
	struct vnode *n = VN(si);

	if (size < 0)
		return -EINVAL;
	if (size > VOL_MAX_FILE)
		return -EFBIG;
	vs_lock_change(vs);
	int r = vs->broken ? -EIO : vs_make_room(vs, 1);
	if (!r && (uint64_t)size < n->di.size)
		r = vs_truncate_blocks(vs, n, (uint64_t)size);
	if (!r) {
		n->di.size = (uint64_t)size;
		vs_now(&n->di, false, true, true);
		vs_dirty(vs, n);
	}
	pthread_mutex_unlock(&vs->lock);
	return r;
}

static int vol_map(struct store_inode *si, int64_t pos, int64_t len, struct store_map *out)
{
	struct vstore *vs = VS(si->store);
	struct vnode *n = VN(si);
	struct vol_map m;

	out->offset = pos;
	pthread_mutex_lock(&vs->lock);
	int64_t size = (int64_t)n->di.size;
	if (pos >= size) {
		pthread_mutex_unlock(&vs->lock);
		out->type = STORE_HOLE;
		out->length = len;
		out->addr = 0;
		return 0;
	}
	int64_t end = pos + len < size ? pos + len : size;
	uint64_t lblk = (uint64_t)pos / BS;
	vol_extmap_lookup(&n->map, lblk, ((uint64_t)end + BS - 1) / BS - lblk, &m);
	pthread_mutex_unlock(&vs->lock);
	int64_t ext_end = (int64_t)((lblk + m.len) * BS);
	out->length = (ext_end < end ? ext_end : end) - pos;
	out->type = m.type == VOL_MAP_MAPPED	  ? STORE_MAPPED
		    : m.type == VOL_MAP_UNWRITTEN ? STORE_UNWRITTEN
						  : STORE_HOLE;
	out->addr = m.type == VOL_MAP_HOLE ? 0 : (int64_t)(m.pblk * BS + (uint64_t)pos % BS);
	return 0;
}

/* ---- read ---- */

/* Zeroes a caller's O_DIRECT buffer over a hole. That buffer is user memory
 * (any address an application passed): a bad one must give -EFAULT or a
 * short count as the host's O_DIRECT read would, never a crash, so the
 * zeroes come from a read of /dev/zero rather than memset. Returns the
 * bytes zeroed, or -errno when none could be. */
static ssize_t zero_user(char *buf, size_t len)
{
	static int zero_fd = -1;
	int fd = __atomic_load_n(&zero_fd, __ATOMIC_ACQUIRE);
	size_t done = 0;

	if (fd < 0) {
		int nfd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
		int expect = -1;
		if (nfd < 0)
			return -errno;
		if (__atomic_compare_exchange_n(&zero_fd, &expect, nfd, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			fd = nfd;
		else {
			close(nfd);
			fd = expect;
		}
	}
	while (done < len) {
		ssize_t r = read(fd, buf + done, len - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return done ? (ssize_t)done : (r < 0 ? -errno : -EFAULT);
		done += (size_t)r;
	}
	return (ssize_t)done;
}

static ssize_t do_read(struct store_inode *si, char *buf, size_t len, int64_t pos, bool dio)
{
	struct vstore *vs = VS(si->store);
	struct vnode *n = VN(si);
	size_t done = 0;

	pthread_mutex_lock(&vs->lock);
	int64_t size = (int64_t)n->di.size;
	pthread_mutex_unlock(&vs->lock);
	if (pos >= size)
		return 0;
	size_t valid = (size_t)(size - pos) < len ? (size_t)(size - pos) : len;
	while (done < valid) {
		uint64_t at = (uint64_t)pos + done, lblk = at / BS;
		struct vol_map m;
		pthread_mutex_lock(&vs->lock);
		vol_extmap_lookup(&n->map, lblk, (at + (valid - done) + BS - 1) / BS - lblk, &m);
		pthread_mutex_unlock(&vs->lock);
		size_t chunk = (size_t)((lblk + m.len) * BS - at);
		if (chunk > valid - done)
			chunk = valid - done;
		if (m.type != VOL_MAP_MAPPED && dio) {
			ssize_t z = zero_user(buf + done, chunk);
			if (z < 0)
				return done ? (ssize_t)done : z;
			if ((size_t)z < chunk)
				return (ssize_t)(done + (size_t)z);
		} else if (m.type != VOL_MAP_MAPPED) {
			memset(buf + done, 0, chunk); /* an engine frame */
		} else {
			sched_race_window("vol read: extent looked up, image not read");
			off_t off = (off_t)(m.pblk * BS + at % BS);
			int r;
			if (dio) {
				size_t a = si->store->dio_align;
				size_t dl = (chunk + a - 1) / a * a; /* EOF: the buffer has room */
				r = vol_dev_pread(&vs->v->dev, vs->dio_fd, buf + done, dl, off);
			} else {
				r = vol_dev_pread(&vs->v->dev, vs->v->fd, buf + done, chunk, off);
			}
			if (r == -EFAULT && dio && done)
				return (ssize_t)done; /* a bad user buffer: the bytes done */
			if (r)
				return r; /* short only at EOF: an error is an error */
		}
		done += chunk;
	}
	return (ssize_t)done;
}

static ssize_t vol_read(struct store_inode *si, void *buf, size_t len, int64_t pos)
{
	return do_read(si, buf, len, pos, false);
}

static ssize_t vol_dio_read(struct store_inode *si, void *buf, size_t len, int64_t pos)
{
	return do_read(si, buf, len, pos, true);
}

/* ---- write ---- */

/* Writes user bytes [at, at+n) into blocks from lblk at pblk (fresh or
 * unwritten: the rest of each block is zeroed). */
static int write_fresh(struct vstore *vs, bool dio, const char *src, uint64_t at, size_t n,
		       uint64_t lblk, uint64_t pblk, uint64_t nblk)
{
	struct vol *v = vs->v;
	uint64_t b0 = lblk * BS, b1 = (lblk + nblk) * BS;
	off_t base = (off_t)(pblk * BS);
	int r = 0;

	if (at > b0)
		r = vol_dev_pwrite(&v->dev, v->fd, zero_block, at - b0, base);
	if (!r)
		r = vs_data_pwrite(vs, dio, src, n, base + (off_t)(at - b0));
	if (!r && at + n < b1) {
		uint64_t tail = b1 - (at + n);
		/* the tail lies in the last block only */
		r = vol_dev_pwrite(&v->dev, v->fd, zero_block, tail, base + (off_t)(at + n - b0));
	}
	return r;
}

/*
 * A write of [at, at + len) bytes from src into file blocks from lblk that
 * are mapped at pblk and shared (nshared of them): copy-on-write. New
 * blocks get the old bytes around the written ones and the written ones,
 * then replace the shared blocks in the map (each loses one reference:
 * the other files keep theirs). The reads, writes and remap run under
 * vs->lock, so no commit sees the new blocks owned by nothing. Reserved
 * blocks (reserve.c: a shared block the page cache dirtied was reserved
 * as a new allocation) may take any free block. Bytes written, or -errno.
 * vs->lock held, not frozen.
 */
static ssize_t cow_write(struct vstore *vs, struct vnode *n, bool dio, const char *src, uint64_t at,
			 size_t len, uint64_t lblk, uint64_t pblk, uint64_t nshared)
{
	const uint64_t cap = 256; /* blocks copied per step (the lock is held) */
	struct vol *v = vs->v;
	uint64_t last = (at + len + BS - 1) / BS, nblk = last - lblk, run, npblk;

	if (nblk > nshared)
		nblk = nshared;
	if (nblk > cap)
		nblk = cap;
	bool reserved = vs_resv_run(n, lblk, nblk, &run);
	int64_t g = vs_alloc_data(vs, run, pblk, &npblk, reserved);
	if (g <= 0)
		return g ? g : -ENOSPC;
	nblk = (uint64_t)g;
	uint64_t b0 = lblk * BS, b1 = (lblk + nblk) * BS;
	size_t chunk = (size_t)(b1 - at) < len ? (size_t)(b1 - at) : len;
	char *edge = malloc(BS);
	int r = edge ? 0 : -ENOMEM;
	if (!r && at > b0) { /* the old bytes before the write, in its first block */
		r = vol_dev_pread(&v->dev, v->fd, edge, at - b0, (off_t)(pblk * BS));
		if (!r)
			r = vol_dev_pwrite(&v->dev, v->fd, edge, at - b0, (off_t)(npblk * BS));
	}
	if (!r)
		r = vs_data_pwrite(vs, dio, src, chunk, (off_t)(npblk * BS + (at - b0)));
	if (!r && at + chunk < b1) { /* ... and after it, in its last block */
		uint64_t off = at + chunk - b0;
		r = vol_dev_pread(&v->dev, v->fd, edge, b1 - at - chunk, (off_t)(pblk * BS + off));
		if (!r)
			r = vol_dev_pwrite(&v->dev, v->fd, edge, b1 - at - chunk,
					   (off_t)(npblk * BS + off));
	}
	free(edge);
	if (!r)
		r = vol_extmap_set(&n->map, lblk, npblk, nblk, 0, vs_release, vs);
	if (r) {
		vol_return_blocks(v, npblk, nblk); /* never durable */
		return r;
	}
	if (reserved)
		vs_resv_drop(vs, n, lblk, nblk, true);
	vs_map_dirty(vs, n);
	return (ssize_t)chunk;
}

static ssize_t do_write(struct store_inode *si, const char *buf, size_t len, int64_t pos, bool dio)
{
	struct vstore *vs = VS(si->store);
	struct vnode *n = VN(si);
	size_t done = 0;
	int r = 0;

	if ((uint64_t)pos + len > (uint64_t)VOL_MAX_FILE)
		return -EFBIG;
	while (done < len && !r) {
		uint64_t at = (uint64_t)pos + done, lblk = at / BS;
		uint64_t last = (at + (len - done) + BS - 1) / BS;
		struct vol_map m;
		pthread_mutex_lock(&vs->lock);
		if (vs->broken) {
			pthread_mutex_unlock(&vs->lock);
			r = -EIO;
			break;
		}
		vol_extmap_lookup(&n->map, lblk, last - lblk, &m);
		uint64_t nshared = 0;
		if (m.type == VOL_MAP_MAPPED && vs_refc_shared(vs, m.pblk, m.len, &nshared) &&
		    !__atomic_load_n(&vol_test_cow_in_place, __ATOMIC_RELAXED)) {
			if (vs->frozen) { /* the copy changes the map: after the commit */
				vs_wait_thaw(vs);
				pthread_mutex_unlock(&vs->lock);
				continue;
			}
			ssize_t w = cow_write(vs, n, dio, buf + done, at, len - done, lblk, m.pblk,
					      nshared);
			pthread_mutex_unlock(&vs->lock);
			if (w < 0)
				r = (int)w;
			else
				done += (size_t)w;
			continue;
		}
		if (m.type == VOL_MAP_MAPPED && nshared) {
			m.len = nshared; /* unshared run: in place */
			/* a block reserved while it was shared and written in
			 * place now (the other owners went): the reservation
			 * is not needed any more */
			vs_resv_drop(vs, n, lblk, m.len, false);
		}
		if (m.type != VOL_MAP_MAPPED && vs->frozen) {
			vs_wait_thaw(vs); /* allocating changes the state: after the commit */
			pthread_mutex_unlock(&vs->lock);
			continue; /* and look again */
		}
		if (m.type == VOL_MAP_MAPPED) {
			pthread_mutex_unlock(&vs->lock);
			size_t chunk = (size_t)((lblk + m.len) * BS - at);
			if (chunk > len - done)
				chunk = len - done;
			sched_race_window("vol write: extent looked up, image not written");
			r = vs_data_pwrite(vs, dio, buf + done, chunk,
					   (off_t)(m.pblk * BS + at % BS));
			done += r ? 0 : chunk;
			continue;
		}
		uint64_t nblk = m.len < 1024 ? m.len : 1024, pblk = m.pblk;
		if (m.type == VOL_MAP_HOLE) {
			int64_t g = alloc_hole(vs, n, lblk, nblk, &pblk);
			if (g < 0)
				r = (int)g;
			nblk = g > 0 ? (uint64_t)g : 0;
		}
		pthread_mutex_unlock(&vs->lock);
		if (r)
			break;
		size_t chunk = (size_t)((lblk + nblk) * BS - at);
		if (chunk > len - done)
			chunk = len - done;
		r = write_fresh(vs, dio, buf + done, at, chunk, lblk, pblk, nblk);
		if (r)
			break;
		vs_lock_change(vs);
		vol_extmap_lookup(&n->map, lblk, nblk, &m);
		if (m.type == VOL_MAP_UNWRITTEN && m.pblk == pblk) /* still ours */
			r = vol_extmap_mark_written(&n->map, lblk, m.len);
		vs_map_dirty(vs, n);
		pthread_mutex_unlock(&vs->lock);
		done += chunk;
	}
	vs_lock_change(vs);
	if ((uint64_t)pos + done > n->di.size)
		n->di.size = (uint64_t)pos + done;
	if (done) {
		vs_now(&n->di, false, true, true);
		vs_dirty(vs, n);
	}
	pthread_mutex_unlock(&vs->lock);
	return r ? r : (ssize_t)done;
}

static ssize_t vol_write(struct store_inode *si, const void *buf, size_t len, int64_t pos)
{
	return do_write(si, buf, len, pos, false);
}

static ssize_t vol_dio_write(struct store_inode *si, const void *buf, size_t len, int64_t pos)
{
	return do_write(si, buf, len, pos, true);
}

/* ---- fallocate ---- */

/* Maps every hole of [lblk, end) to new unwritten blocks. */
static int alloc_range(struct vstore *vs, struct vnode *n, uint64_t lblk, uint64_t end)
{
	while (lblk < end) {
		struct vol_map m;
		vol_extmap_lookup(&n->map, lblk, end - lblk, &m);
		if (m.type == VOL_MAP_HOLE) {
			uint64_t pblk;
			int64_t g = alloc_hole(vs, n, lblk, m.len, &pblk);
			if (g < 0)
				return (int)g;
			m.len = (uint64_t)g;
		}
		lblk += m.len;
	}
	return 0;
}

/* Zero [off, end) in the file: partial blocks in place, whole blocks punched
 * (and, with @alloc, replaced by unwritten ones). */
static int zero_range(struct vstore *vs, struct vnode *n, uint64_t off, uint64_t end, bool alloc)
{
	uint64_t b0 = (off + BS - 1) / BS, b1 = end / BS;
	int r = 0;

	if (b0 > b1) /* inside one block */
		return zero_partial(vs, n, off / BS, off % BS, end % BS ? end % BS : BS);
	if (off % BS)
		r = zero_partial(vs, n, off / BS, off % BS, BS);
	if (!r && end % BS)
		r = zero_partial(vs, n, end / BS, 0, end % BS);
	if (!r && b1 > b0) {
		r = vol_extmap_punch(&n->map, b0, b1 - b0, vs_release, vs);
		vs_map_dirty(vs, n);
		if (!r) /* the cache dropped those pages */
			vs_resv_drop(vs, n, b0, b1 - b0, false);
		if (!r && alloc)
			r = alloc_range(vs, n, b0, b1);
	}
	return r;
}

static int vol_fallocate(struct store_inode *si, int mode, int64_t off, int64_t len)
{
	struct vstore *vs = VS(si->store);
	struct vnode *n = VN(si);
	uint64_t o = (uint64_t)off, end = (uint64_t)off + (uint64_t)len;
	bool keep = mode & FALLOC_FL_KEEP_SIZE;
	int r;

	if ((mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)) && (o % BS || len % BS))
		return -EINVAL;
	vs_lock_change(vs);
	uint64_t size = n->di.size;
	r = vs->broken ? -EIO : vs_make_room(vs, 1);
	if (r)
		goto out;
	if (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE))
		/* The cache wrote back and dropped everything from o on: what
		 * is still reserved there was never used. */
		vs_resv_drop(vs, n, o / BS, UINT64_MAX - o / BS, false);
	if (mode & FALLOC_FL_PUNCH_HOLE) {
		r = zero_range(vs, n, o, end, false);
	} else if (mode & FALLOC_FL_ZERO_RANGE) {
		if (end > (uint64_t)VOL_MAX_FILE)
			r = -EFBIG;
		else
			r = zero_range(vs, n, o, end, true);
		if (!r && !keep && end > size)
			n->di.size = end;
	} else if (mode & FALLOC_FL_COLLAPSE_RANGE) {
		if (end >= size)
			r = -EINVAL;
		else
			r = vol_extmap_collapse(&n->map, o / BS, (uint64_t)len / BS, vs_release,
						vs);
		if (!r)
			n->di.size = size - (uint64_t)len;
	} else if (mode & FALLOC_FL_INSERT_RANGE) {
		if (o >= size)
			r = -EINVAL;
		else if (size + (uint64_t)len > (uint64_t)VOL_MAX_FILE)
			r = -EFBIG;
		else
			r = vol_extmap_insert_range(&n->map, o / BS, (uint64_t)len / BS);
		if (!r)
			n->di.size = size + (uint64_t)len;
	} else {
		if (end > (uint64_t)VOL_MAX_FILE)
			r = -EFBIG;
		else
			r = alloc_range(vs, n, o / BS, (end + BS - 1) / BS);
		if (!r && !keep && end > size)
			n->di.size = end;
	}
	vs_map_dirty(vs, n);
	vs_now(&n->di, false, true, true);
	vs_dirty(vs, n);
out:
	pthread_mutex_unlock(&vs->lock);
	return r;
}

static int vol_sync(struct store_inode *si, bool datasync)
{
	struct vstore *vs = VS(si->store);
	(void)datasync; /* a commit makes both data and metadata durable */
	pthread_mutex_lock(&vs->lock);
	int r = vs->broken ? -EIO : vs_commit_sync(vs);
	pthread_mutex_unlock(&vs->lock);
	return r;
}

const struct store_ops vol_store_ops_data = {
    .fgetattr = vol_fgetattr,
    .setsize = vol_setsize,
    .map = vol_map,
    .read = vol_read,
    .write = vol_write,
    .dio_read = vol_dio_read,
    .dio_write = vol_dio_write,
    .fallocate = vol_fallocate,
    .clone_range = vol_clone_range,
    .sync = vol_sync,
};

/* SPDX-License-Identifier: MIT */
/*
 * clone.c - store_clone_range on the vol store (reflink, FICLONERANGE): the
 * destination range maps the source range's blocks, each of which gains a
 * reference (refcount.c); the destination's old blocks in the range lose
 * one. No data is copied: a later write into a shared block is
 * copy-on-write (data.c cow_write, cow_zero).
 *
 * The rules (Linux's generic_remap_checks, which the engine applies too):
 * a length of 0 clones to the source's EOF; block-aligned offsets; a length that is a whole number
 * of blocks, or ends at the source's EOF (the last block is then shared whole, and the destination
 * range must end at or past the destination's EOF); a range past the source's EOF is cut to it
 * (none left: -EINVAL); the same file with overlapping ranges -EINVAL; regular files only (-EISDIR,
 * -EINVAL); two stores -EXDEV; past the largest file -EFBIG. Holes in the source become holes in
 * the destination; unwritten (preallocated) source blocks too: they read as zeroes either way, and
 * a block that is never shared unwritten keeps the rule that a shared block is always written (a
 * write into a hole or unwritten block writes in place without looking at counts). The destination
 * grows to the range's end if that is past its size. One store call, one set of changes under one
 * lock; durable with the next commit (fsync), like any other change.
 *
 * Locking: vs->lock taken with vs_lock_change (a clone changes the state:
 * it waits for an fsync's commit in flight) across the whole clone; the
 * engine keeps I/O and page cache of both ranges out of the way (it wrote
 * back the source and dropped the destination's pages first).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "store/vol/vstore.h"

#define BS VOL_BLOCK_SIZE

static struct vnode *VN(struct store_inode *si)
{
	return si->private;
}

/* The written extents of n in [lblk, lblk + len), clipped, into *out. */
static int collect(struct vnode *n, uint64_t lblk, uint64_t len, struct vol_ext **out, size_t *nr)
{
	size_t cap = 0;
	*out = NULL;
	*nr = 0;
	for (uint64_t at = lblk; at < lblk + len;) {
		struct vol_map m;
		vol_extmap_lookup(&n->map, at, lblk + len - at, &m);
		if (m.type == VOL_MAP_MAPPED) {
			if (*nr == cap && vol_grow(*out, cap, 16)) {
				free(*out);
				*out = NULL;
				return -ENOMEM;
			}
			(*out)[(*nr)++] = (struct vol_ext){at, m.pblk, m.len, 0};
		}
		at += m.len;
	}
	return 0;
}

/* The checks that need the sizes (vs->lock held): *len cut to the source's
 * EOF. 0 or -EINVAL. */
static int check_range(const struct vnode *s, uint64_t so, const struct vnode *d, uint64_t dof,
		       uint64_t *len)
{
	uint64_t ssize = s->di.size;
	if (*len == UINT64_MAX && so == ssize) {
		*len = 0; /* to EOF, from EOF: nothing */
		return 0;
	}
	if (so >= ssize)
		return -EINVAL;
	if (*len > ssize - so)
		*len = ssize - so;
	if (*len % BS) {
		/* a partial last block only at the source's EOF, and only
		 * where the destination's EOF is not inside the range's end */
		if (so + *len != ssize || dof + *len < d->di.size)
			return -EINVAL;
	}
	if (s == d && so < dof + *len && dof < so + *len)
		return -EINVAL;
	return 0;
}

int vol_clone_range(struct store_inode *src, int64_t src_off, struct store_inode *dst,
		    int64_t dst_off, int64_t len)
{
	struct vstore *vs = VS(src->store);
	struct vnode *s = VN(src), *d = VN(dst);
	struct vol_ext *ext = NULL;
	size_t next = 0, i = 0;
	int r;

	if (dst->store != src->store)
		return -EXDEV;
	if (S_ISDIR(s->di.mode) || S_ISDIR(d->di.mode))
		return -EISDIR;
	if (!S_ISREG(s->di.mode) || !S_ISREG(d->di.mode))
		return -EINVAL;
	if (src_off < 0 || dst_off < 0 || len < 0 || src_off % BS || dst_off % BS)
		return -EINVAL;
	uint64_t so = (uint64_t)src_off, dof = (uint64_t)dst_off;
	uint64_t n = len ? (uint64_t)len : UINT64_MAX; /* 0: to the source's EOF */

	vs_lock_change(vs);
	r = vs->broken ? -EIO : check_range(s, so, d, dof, &n);
	if (!r && dof + n > (uint64_t)VOL_MAX_FILE)
		r = -EFBIG;
	if (!r && n == 0)
		goto out;
	if (!r)
		r = vs_make_room(vs, 2);
	uint64_t sb = so / BS, db = dof / BS, nblk = (n + BS - 1) / BS;
	if (!r)
		r = collect(s, sb, nblk, &ext, &next);
	/* every source block gains its reference before any destination
	 * block loses one: cloning a range over itself (the same blocks
	 * mapped again) never drops a count to 0 on the way */
	for (; !r && i < next; i++)
		r = vs_refc_inc(vs, ext[i].pblk, ext[i].len);
	if (r) {
		while (i-- > 0) /* (only counts back: nothing was mapped) */
			vs_release(vs, ext[i].pblk, ext[i].len);
		goto out;
	}
	r = vol_extmap_punch(&d->map, db, nblk, vs_release, vs);
	size_t mapped = 0;
	for (; !r && mapped < next; mapped += !r)
		r = vol_extmap_set(&d->map, db + (ext[mapped].lblk - sb), ext[mapped].pblk,
				   ext[mapped].len, 0, vs_release, vs);
	/* out of memory half-way: the references not mapped go back */
	for (size_t k = mapped; r && k < next; k++)
		vs_release(vs, ext[k].pblk, ext[k].len);
	/* the engine dropped the destination's pages: reservations there go
	 * (a shared block is reserved again when the cache dirties it) */
	vs_resv_drop(vs, d, db, nblk, false);
	if (!r && dof + n > d->di.size)
		d->di.size = dof + n;
	d->map_dirty = true;
	vs_now(&d->di, false, true, true);
	vs_dirty(vs, d);
out:
	pthread_mutex_unlock(&vs->lock);
	free(ext);
	return r;
}

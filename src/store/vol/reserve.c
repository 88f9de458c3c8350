/* SPDX-License-Identifier: MIT */
/*
 * reserve.c - delayed-allocation reservations of the vol store (ext4's
 * ext4_da_reserve_space / ext4_da_release_space): store_reserve sets space
 * aside when the page cache dirties a hole, so that writeback, which
 * allocates, never meets -ENOSPC for data a write already acknowledged.
 *
 * Each vnode keeps the file blocks it has reserved as a set of lblk extents
 * (n->resv, the allocator's extent set reused: a block reserved twice is
 * counted once) and a metadata charge for them (n->resv_meta, meta_for());
 * vs->resv is the sum over all vnodes of both, plus the metadata charge of
 * reservations writeback consumed since the last commit (vs->resv_held:
 * the nodes it stands for are allocated by that commit). Allocation
 * (data.c) keeps the invariant "free >= commit reserve + vs->resv" for
 * everything that was not reserved: unreserved allocations may take only
 * vs_unreserved_avail(); an allocation of reserved blocks consumes them
 * (vs_resv_drop) and may take any free block. Truncate, punch,
 * collapse/insert and eviction release what is left. A write into a shared
 * block (refcount.c) allocates too (copy-on-write): store_reserve reserves
 * those blocks as it does holes, and the copy consumes the reservation
 * (data.c cow_write, cow_zero). See
 * docs/vol-format.md "Delayed allocation".
 *
 * Locking: vs->lock around every read and change of the sets and counts.
 * A reservation that does not fit commits once (pending frees become free)
 * and so first waits for an fsync's commit in flight (vs_wait_thaw); it
 * takes no other lock and is never called by vol itself.
 */
#include <errno.h>

#include "store/vol/btree.h"
#include "store/vol/vstore.h"

#define BS VOL_BLOCK_SIZE
/* Fewest entries a non-rightmost node holds (xtree.h invariant). */
#define LEAF_MIN  ((uint64_t)(VOL_LEAF_CAP + 1) / 2)
#define INDEX_MIN ((uint64_t)(VOL_INDEX_CAP + 1) / 2)

TEST_SWITCH(vol_test_no_reserve);

static struct vnode *VN(struct store_inode *si)
{
	return si->private;
}

/*
 * Metadata charged for @nres reserved blocks of file n. Worst case each
 * block becomes an extent of its own (free space fragmented block by
 * block): nres records split at most ceil(nres / LEAF_MIN) leaves (a split
 * leaves two half-full nodes, so the next split of either needs LEAF_MIN
 * more records), and more than one new leaf splits at most
 * ceil(leaves / INDEX_MIN) index nodes; and the commit writes the path
 * from the root to the changed leaves copy-on-write (the tree's levels,
 * plus one for a new root), its old nodes freed only after that commit.
 * Other changed nodes' copy-on-write, the free-space tree's and the
 * journal's share of a commit come out of the commit reserve
 * (vs->reserve), as they did before reservations.
 */
static uint64_t meta_for(const struct vnode *n, uint64_t nres)
{
	if (!nres)
		return 0;
	uint64_t leaves = (nres + LEAF_MIN - 1) / LEAF_MIN;
	uint64_t index = leaves > 1 ? (leaves + INDEX_MIN - 1) / INDEX_MIN : 0;
	uint64_t path = (n->map.root ? n->map.root->level + 1u : 0) + 1;
	return leaves + index + path;
}

/* n's data set went from @before blocks to its current size: fix both
 * charges and the volume's total. @consumed: the blocks left because they
 * were allocated, so the tree nodes their charge stood for are still to be
 * written by the next commit: the charge moves to vs->resv_held (still in
 * vs->resv) until a commit installs (vs_resv_committed). */
static void resv_account(struct vstore *vs, struct vnode *n, uint64_t before, bool consumed)
{
	uint64_t now = n->resv.free, meta = meta_for(n, now);

	if (consumed && n->resv_meta > meta) {
		vs->resv_held += n->resv_meta - meta;
		vs->resv += n->resv_meta - meta;
	}
	vs->resv = vs->resv + now - before + meta - n->resv_meta;
	n->resv_meta = meta;
}

void vs_resv_committed(struct vstore *vs)
{
	vs->resv -= vs->resv_held;
	vs->resv_held = 0;
}

uint64_t vs_unreserved_avail(const struct vstore *vs)
{
	uint64_t free = vs->v->alloc.free, keep = vs->reserve + vs->resv;

	return free > keep ? free - keep : 0;
}

static uint64_t end_of_range(uint64_t lblk, uint64_t len)
{
	return len > UINT64_MAX - lblk ? UINT64_MAX : lblk + len;
}

/* Reserved blocks of n among [lblk, end). */
static uint64_t resv_count(const struct vnode *n, uint64_t lblk, uint64_t end)
{
	struct vol_fext e;
	uint64_t cnt = 0;

	for (uint64_t at = lblk; at < end && vol_alloc_find(&n->resv, at, &e) && e.start < end;
	     at = e.start + e.len) {
		uint64_t s = e.start > at ? e.start : at;
		uint64_t t = e.start + e.len < end ? e.start + e.len : end;
		cnt += t - s;
	}
	return cnt;
}

bool vs_resv_run(const struct vnode *n, uint64_t lblk, uint64_t max, uint64_t *len)
{
	struct vol_fext e;
	bool found = vol_alloc_find(&n->resv, lblk, &e);

	if (found && e.start <= lblk) {
		uint64_t l = e.start + e.len - lblk;
		*len = l < max ? l : max;
		return true;
	}
	*len = found && e.start - lblk < max ? e.start - lblk : max;
	return false;
}

void vs_resv_drop(struct vstore *vs, struct vnode *n, uint64_t lblk, uint64_t len, bool consumed)
{
	uint64_t end = end_of_range(lblk, len), before = n->resv.free;
	struct vol_fext e;

	if (!before)
		return;
	for (uint64_t at = lblk; at < end && vol_alloc_find(&n->resv, at, &e) && e.start < end;) {
		uint64_t s = e.start > at ? e.start : at;
		uint64_t t = e.start + e.len < end ? e.start + e.len : end;
		/* A take from the middle splits an extent: room for one more
		 * node first. Without it the blocks stay reserved (safe: space
		 * held too long, never too little) until the vnode goes. */
		if (vol_alloc_reserve(&n->resv, 1) || vol_alloc_take(&n->resv, s, t - s))
			break;
		at = t;
	}
	resv_account(vs, n, before, consumed);
}

void vs_resv_evict(struct vstore *vs, struct vnode *n)
{
	vs->resv -= n->resv.free + n->resv_meta;
	n->resv_meta = 0;
	vol_alloc_destroy(&n->resv);
}

/* The run of file blocks from b (before end) that a write allocates
 * (alloc: a hole, or a shared block, which a write copies) or does not:
 * its length. vs->lock held. */
static uint64_t alloc_run(const struct vstore *vs, const struct vnode *n, uint64_t b, uint64_t end,
			  bool *alloc)
{
	struct vol_map m;
	uint64_t run;
	vol_extmap_lookup(&n->map, b, end - b, &m);
	*alloc = m.type == VOL_MAP_HOLE;
	if (m.type != VOL_MAP_MAPPED)
		return m.len;
	*alloc = vs_refc_shared(vs, m.pblk, m.len, &run);
	return run;
}

/* The blocks of [lblk, end) that a write would allocate (holes, shared
 * blocks) and that are not reserved. */
static uint64_t resv_needed(const struct vstore *vs, const struct vnode *n, uint64_t lblk,
			    uint64_t end)
{
	uint64_t need = 0;

	for (uint64_t b = lblk, len; b < end; b += len) {
		bool alloc;
		len = alloc_run(vs, n, b, end, &alloc);
		if (alloc)
			need += len - resv_count(n, b, b + len);
	}
	return need;
}

/* Adds every block of [lblk, end) a write would allocate to n's set. 0 or
 * -ENOMEM (some may have been added: the caller accounts from the set's
 * size). */
static int resv_add(const struct vstore *vs, struct vnode *n, uint64_t lblk, uint64_t end)
{
	if (!n->resv.top)
		vol_alloc_init(&n->resv); /* first reservation of this vnode */
	for (uint64_t b = lblk; b < end;) {
		struct vol_map m;
		bool alloc;
		m.len = alloc_run(vs, n, b, end, &alloc);
		for (uint64_t at = b; alloc && at < b + m.len;) {
			uint64_t len;
			bool reserved = vs_resv_run(n, at, b + m.len - at, &len);
			if (!reserved) {
				int r = vol_alloc_free(&n->resv, at, len);
				if (r)
					return r;
			}
			at += len;
		}
		b += m.len;
	}
	return 0;
}

int vol_reserve(struct store_inode *si, int64_t pos, int64_t len)
{
	struct vstore *vs = VS(si->store);
	struct vnode *n = VN(si);
	uint64_t lblk = (uint64_t)pos / BS, end = ((uint64_t)pos + (uint64_t)len + BS - 1) / BS;
	int r = 0;

	if ((uint64_t)pos + (uint64_t)len > (uint64_t)VOL_MAX_FILE)
		return -EFBIG;
	if (__atomic_load_n(&vol_test_no_reserve, __ATOMIC_RELAXED))
		return 0;
	pthread_mutex_lock(&vs->lock);
	for (int tries = 0;; tries++) {
		if (vs->broken) {
			r = -EIO;
			break;
		}
		uint64_t need = resv_needed(vs, n, lblk, end);
		if (!need)
			break;
		uint64_t before = n->resv.free;
		uint64_t cost = need + meta_for(n, before + need) - n->resv_meta;
		if (cost <= vs_unreserved_avail(vs)) {
			r = resv_add(vs, n, lblk, end);
			resv_account(vs, n, before, false);
			break;
		}
		/* Blocks freed since the last commit become free with the
		 * next, and the metadata charge held for it goes: commit once
		 * and look again (ext4 forces a journal commit and retries
		 * the same way). */
		if (tries || (vs->v->pending.nr == 0 && vs->resv_held == 0)) {
			r = -ENOSPC;
			break;
		}
		vs_wait_thaw(vs);
		vs->resv_commits++;
		r = vs_commit(vs);
		if (r)
			break;
	}
	pthread_mutex_unlock(&vs->lock);
	return r;
}

void vol_unreserve(struct store_inode *si, int64_t pos, int64_t len)
{
	struct vstore *vs = VS(si->store);
	uint64_t lblk = (uint64_t)pos / BS, end = ((uint64_t)pos + (uint64_t)len + BS - 1) / BS;

	pthread_mutex_lock(&vs->lock);
	vs_resv_drop(vs, VN(si), lblk, end - lblk, false);
	pthread_mutex_unlock(&vs->lock);
}

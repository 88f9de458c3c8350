/* SPDX-License-Identifier: MIT */
/*
 * vma_index.c - the RCU-readable index of views by start address
 * (vma_index.h): a copy-on-write B+tree of fan-out VI_FAN, the structure the
 * fault path walks with no lock (lock_vma_under_rcu in vma.c). 100,000
 * views are four levels.
 *
 * Layout: a leaf holds up to VI_FAN (start, view) pairs in start order; an
 * internal node up to VI_FAN (key, child) pairs where key is the smallest
 * start in the child's subtree, exactly (every copy recomputes it), so
 * "the last key <= addr" at each level leads to the view with the greatest
 * start <= addr. Removals do not merge underfull nodes (an empty node
 * leaves its parent, a root with one child gives way to it); the depth is
 * bounded by the inserts' splits.
 *
 * Updates copy the root-to-leaf path, splitting a full node in two, publish
 * the new root with release and retire the old path with call_rcu: a reader
 * sees the old tree or the new one, never a mix. Only a removal whose
 * copies cannot be allocated writes a published node: it stores NULL in the
 * view's leaf slot (a tombstone; readers then fall back to the locked
 * lookup, and the next copy of that leaf drops it).
 *
 * Locks: none of its own. Updates run under the mm lock exclusive (vma.c),
 * lookups under the caller's rcu_read_lock.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <urcu.h>

#include "mm/fault_internal.h"
#include "mm/page.h"
#include "mm/vma_index.h"

#define VI_FAN	    32
#define VI_MAXDEPTH 16 /* 32^16 keys: never reached */

struct vi_node {
	struct rcu_head rcu;
	int nr;
	bool leaf;
	uintptr_t key[VI_FAN];
	void *slot[VI_FAN]; /* leaf: struct vma * (NULL: tombstone); else a child */
};

struct vi_ent {
	uintptr_t key;
	void *slot;
};

/* New nodes of one update, freed at once if it fails (never published). */
struct vi_batch {
	struct vi_node *made[2 * VI_MAXDEPTH + 2];
	int nmade;
};

static inline struct vi_node *root_load(struct vma_index *idx)
{
	return __atomic_load_n(&idx->root, __ATOMIC_ACQUIRE);
}

static inline void root_store(struct vma_index *idx, struct vi_node *n)
{
	__atomic_store_n(&idx->root, n, __ATOMIC_RELEASE);
}

static inline void *slot_load(struct vi_node *n, int i)
{
	return __atomic_load_n(&n->slot[i], __ATOMIC_ACQUIRE);
}

static void node_free_rcu(struct rcu_head *head)
{
	mm_rcu_tsan_acquire();
	free(container_of(head, struct vi_node, rcu));
}

/* @n left the published tree: freed after a grace period. */
static void node_retire(struct vi_node *n)
{
	mm_rcu_tsan_release();
	call_rcu(&n->rcu, node_free_rcu);
}

/* How many keys of @n are <= @addr. */
static int vi_rank(const struct vi_node *n, uintptr_t addr)
{
	int lo = 0, hi = n->nr;

	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (n->key[mid] <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct vma *vma_index_find(struct vma_index *idx, uintptr_t addr)
{
	struct vi_node *n = root_load(idx);

	while (n) {
		int r = vi_rank(n, addr);

		if (!r)
			return NULL; /* below every view */
		if (n->leaf)
			return slot_load(n, r - 1);
		n = slot_load(n, r - 1);
	}
	return NULL;
}

TEST_SWITCH(vma_index_test_nomem);

static struct vi_node *node_new(struct vi_batch *b, bool leaf)
{
	struct vi_node *n = READ_ONCE(vma_index_test_nomem) ? NULL : malloc(sizeof(*n));

	if (!n)
		return NULL;
	n->nr = 0;
	n->leaf = leaf;
	b->made[b->nmade++] = n;
	return n;
}

static void batch_abort(struct vi_batch *b)
{
	while (b->nmade)
		free(b->made[--b->nmade]);
}

/* Nodes holding @e[0..cnt) (cnt <= VI_FAN + 1): one, or two halves when
 * they do not fit; out[1] NULL for one, both NULL for cnt 0. 0 or -ENOMEM. */
static int vi_build(struct vi_batch *b, bool leaf, const struct vi_ent *e, int cnt,
		    struct vi_node *out[2])
{
	int parts = cnt > VI_FAN ? 2 : 1, from = 0;

	out[0] = out[1] = NULL;
	if (!cnt)
		return 0;
	for (int p = 0; p < parts; p++) {
		int to = parts == 1 ? cnt : (p ? cnt : cnt / 2);
		struct vi_node *n = node_new(b, leaf);

		if (!n)
			return -ENOMEM;
		for (int i = from; i < to; i++) {
			n->key[n->nr] = e[i].key;
			n->slot[n->nr++] = e[i].slot;
		}
		out[p] = n;
		from = to;
	}
	return 0;
}

/* Appends the copies @out of a changed child (none if it became empty). */
static int add_children(struct vi_ent *e, int cnt, struct vi_node *out[2])
{
	for (int k = 0; k < 2 && out[k]; k++)
		e[cnt++] = (struct vi_ent){out[k]->key[0], out[k]};
	return cnt;
}

/* Copies the inner nodes of @path, bottom up: each copy takes its old
 * entries with slot pos[d] replaced by the one or two nodes the level below
 * made (@out). The new root is out[0], and out[1] if the root split. */
static int copy_path(struct vi_batch *b, struct vi_node *const path[], const int pos[], int depth,
		     struct vi_ent e[], struct vi_node *out[2])
{
	for (int d = depth - 2; d >= 0; d--) {
		const struct vi_node *p = path[d];
		int cnt = 0;

		for (int i = 0; i < p->nr; i++)
			if (i == pos[d])
				cnt = add_children(e, cnt, out);
			else
				e[cnt++] = (struct vi_ent){p->key[i], p->slot[i]};
		if (vi_build(b, false, e, cnt, out))
			return -ENOMEM;
	}
	return 0;
}

int vma_index_insert(struct vma_index *idx, struct vma *v)
{
	struct vi_node *path[VI_MAXDEPTH], *out[2], *n = root_load(idx);
	struct vi_ent e[VI_FAN + 1];
	struct vi_batch b = {.nmade = 0};
	uintptr_t key = v->start;
	int pos[VI_MAXDEPTH], depth = 0, cnt = 0, d;

	mm_rcu_thread_enter();
	for (; n; n = n->leaf ? NULL : n->slot[pos[depth - 1]]) {
		int r = vi_rank(n, key);

		if (depth == VI_MAXDEPTH)
			return -ENOMEM;
		path[depth] = n;
		pos[depth++] = n->leaf ? r : (r ? r - 1 : 0);
	}
	if (depth) { /* the leaf's pairs, tombstones dropped, @v inserted */
		struct vi_node *l = path[depth - 1];

		for (int i = 0; i <= l->nr; i++) {
			void *s = i < l->nr ? slot_load(l, i) : NULL;

			if (i == pos[depth - 1])
				e[cnt++] = (struct vi_ent){key, v};
			if (s)
				e[cnt++] = (struct vi_ent){l->key[i], s};
		}
	} else {
		e[cnt++] = (struct vi_ent){key, v};
	}
	if (vi_build(&b, true, e, cnt, out))
		goto nomem;
	if (copy_path(&b, path, pos, depth, e, out))
		goto nomem;
	if (out[1]) { /* the root split: one level more */
		cnt = add_children(e, 0, out);
		if (depth == VI_MAXDEPTH || vi_build(&b, false, e, cnt, out))
			goto nomem;
	}
	root_store(idx, out[0]);
	for (d = 0; d < depth; d++)
		node_retire(path[d]);
	return 0;
nomem:
	batch_abort(&b);
	return -ENOMEM;
}

void vma_index_remove(struct vma_index *idx, struct vma *v)
{
	struct vi_node *path[VI_MAXDEPTH], *out[2], *n = root_load(idx), *root;
	struct vi_ent e[VI_FAN + 1];
	struct vi_batch b = {.nmade = 0};
	uintptr_t key = v->start;
	int pos[VI_MAXDEPTH], depth = 0, cnt = 0, d;

	mm_rcu_thread_enter();
	for (; n; n = n->leaf ? NULL : n->slot[pos[depth - 1]]) {
		int r = vi_rank(n, key);

		if (!r)
			return; /* not in the index */
		path[depth] = n;
		pos[depth++] = r - 1;
	}
	if (!depth)
		return;
	n = path[depth - 1];
	if (n->key[pos[depth - 1]] != key || slot_load(n, pos[depth - 1]) != v)
		return;
	for (int i = 0; i < n->nr; i++) {
		void *s = slot_load(n, i);

		if (i != pos[depth - 1] && s)
			e[cnt++] = (struct vi_ent){n->key[i], s};
	}
	if (vi_build(&b, true, e, cnt, out))
		goto nomem;
	if (copy_path(&b, path, pos, depth, e, out))
		goto nomem;
	/* A root with one child gives way to it: one of this update's copies
	 * (never published) is freed now, an old node retired. */
	root = out[0];
	while (root && !root->leaf && root->nr == 1) {
		struct vi_node *child = root->slot[0];
		bool mine = false;

		for (int i = 0; i < b.nmade; i++)
			mine |= b.made[i] == root;
		if (mine)
			free(root);
		else
			node_retire(root);
		root = child;
	}
	root_store(idx, root);
	for (d = 0; d < depth; d++)
		node_retire(path[d]);
	return;
nomem:
	batch_abort(&b);
	/* No memory for the copies: a tombstone in place. A reader that
	 * meets it looks again under the mm lock. */
	__atomic_store_n(&path[depth - 1]->slot[pos[depth - 1]], NULL, __ATOMIC_RELEASE);
}

static void forget_subtree(struct vi_node *n)
{
	if (!n->leaf)
		for (int i = 0; i < n->nr; i++)
			forget_subtree(n->slot[i]);
	free(n);
}

void vma_index_forget(struct vma_index *idx)
{
	struct vi_node *root = root_load(idx);

	root_store(idx, NULL);
	if (root)
		forget_subtree(root);
}

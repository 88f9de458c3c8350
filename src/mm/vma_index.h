/* SPDX-License-Identifier: MIT */
/*
 * vma_index.h - the views of the process by start address, readable under
 * RCU with no lock (the kernel's maple tree as lock_vma_under_rcu reads it):
 * a copy-on-write B+tree. Private to src/mm (vma.c keeps one in mm.index).
 *
 * Published nodes never change, with one exception: a leaf slot may be set
 * to NULL (a removal that could not allocate its copies leaves that
 * tombstone; a reader meeting it takes the locked lookup). An update copies
 * the path from the root to the leaf it changes, publishes the new root
 * (release) and frees the old path after a grace period (call_rcu).
 *
 * Locks: updates under the mm lock exclusive (one writer at a time; the
 * index has no lock of its own); lookups under rcu_read_lock, the caller's.
 */
#ifndef PC_MM_VMA_INDEX_H
#define PC_MM_VMA_INDEX_H

#include <stdint.h>

#include "kernel/testswitch.h"

struct vma;
struct vi_node;

struct vma_index {
	struct vi_node *root; /* published with release, read with acquire */
};

/* Adds @v, keyed by v->start (unique: views never overlap). 0 or -ENOMEM
 * (nothing changed). Mm lock exclusive. */
int vma_index_insert(struct vma_index *idx, struct vma *v);
/* Removes @v; never fails (without memory for the copies, a tombstone in
 * place). Mm lock exclusive. */
void vma_index_remove(struct vma_index *idx, struct vma *v);
/* The view with the greatest start <= @addr, or NULL (none, or a
 * tombstone: the caller looks again under the mm lock). The caller checks
 * that @addr is below the view's end. rcu_read_lock held; the view stays
 * allocated until the caller's rcu_read_unlock. */
struct vma *vma_index_find(struct vma_index *idx, uintptr_t addr);
/* Test switch: every node allocation of an update fails (inserts return
 * -ENOMEM, removals leave a tombstone). */
DECLARE_TEST_SWITCH(vma_index_test_nomem);

/* Drops every node at once (the child of fork: no other thread; the views
 * are left alone). */
void vma_index_forget(struct vma_index *idx);

#endif

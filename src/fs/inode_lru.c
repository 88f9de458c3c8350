/* SPDX-License-Identifier: MIT */
/*
 * inode_lru.c - the inode table's cache of unused inodes (the kernel's inode
 * LRU and its shrinker): how many a table keeps (a budget of host fds from
 * the process's open-file limit, shared by every engine of the process),
 * the prune at each last close, the shrink of an open that finds no file
 * descriptor left. The list itself is the table's (t->unused, oldest
 * first); inode.c puts inodes on it and takes them off.
 *
 * Locks: "inode_hash_lock" (the table lock) to look at the list and take a
 * victim off it (I_FREEING); the eviction runs with no lock held
 * (evict_and_free, inode.c). unused_fds is an atomic.
 */
#include <errno.h>
#include <limits.h>
#include <sys/resource.h>

#include "fs/inode.h"

TEST_KNOB(unsigned long, inode_test_unused_max);
TEST_SWITCH(inode_test_fd_budget_per_engine);
TEST_SWITCH(inode_test_keep_dirty_unused);

#define INODE_FD_RESERVE 256 /* open files left out of the budget */

/* The fds an unused inode keeps: the store's, and its frames memfd. */
static unsigned long fds_per_inode(const struct store *s)
{
	return (unsigned long)s->inode_fds + 1;
}

/*
 * How many unused inodes a table keeps (the kernel keeps them until its
 * inode shrinker runs; here each holds fds - the store's, store.inode_fds,
 * and its frames memfd - and a process has a limit of open files). The fd
 * budget is half of the limit, less a reserve, for the unused inodes of
 * every engine of the process together (unused_fds), and at least
 * INODE_UNUSED_MIN inodes' worth; a table keeps as many as its budget
 * holds, within [INODE_UNUSED_MIN, INODE_UNUSED_CAP], and fewer while the
 * engines together are over the budget (prune_unused, inode_prune: dirty
 * ones too, written back). The FUSE server raises its soft limit to the
 * hard one before it opens the engine. With 1024 open files (a shell's
 * default soft limit) that is 128 on dir (4 fds each) and 384 on vol (1);
 * with 20,000, 2,468 and 9,872; with a million, the cap. In
 * cluster mode an unused inode also keeps its glock cached: a stat or open
 * of a file among as many needs no lock service.
 */
unsigned long inode_fd_budget(const struct store *s)
{
	unsigned long fds = (unsigned long)INODE_UNUSED_CAP * fds_per_inode(s);
	unsigned long floor = fds_per_inode(s) * INODE_UNUSED_MIN;
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY) {
		fds = rl.rlim_cur > INODE_FD_RESERVE
			  ? (unsigned long)(rl.rlim_cur - INODE_FD_RESERVE) / 2
			  : 0;
		/* never more than half of the limit, however small */
		floor = min_t(unsigned long, floor, (unsigned long)rl.rlim_cur / 2);
	}
	return max_t(unsigned long, fds, floor);
}

unsigned long inode_unused_bound(const struct store *s)
{
	unsigned long max = inode_fd_budget(s) / fds_per_inode(s);

	return max_t(unsigned long, min_t(unsigned long, max, INODE_UNUSED_CAP), INODE_UNUSED_MIN);
}

/* Host fds kept open by the unused inodes of every engine of the process:
 * a table over its fd budget prunes its own oldest ones too. Atomic. */
static unsigned long unused_fds;

/*
 * The address space the unused inodes of every engine may keep reserved
 * (their frames' views, mm/frames.c), as the fds: half of a finite
 * RLIMIT_AS, which the kernel's page cache does not use; no bound without
 * one. Atomic, as unused_fds; an unused inode's frames do not grow, so
 * the amount added is the amount taken off.
 */
static unsigned long unused_va;

unsigned long inode_va_budget(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_AS, &rl) || rl.rlim_cur == RLIM_INFINITY)
		return ULONG_MAX;
	return (unsigned long)rl.rlim_cur / 2;
}

void inode_unused_add(struct inode_table *t, struct inode *inode)
{
	t->nr_unused++;
	__atomic_add_fetch(&unused_fds, fds_per_inode(t->store), __ATOMIC_RELAXED);
	inode->i_unused_va = mapping_frames_reserved(&inode->i_data);
	__atomic_add_fetch(&unused_va, inode->i_unused_va, __ATOMIC_RELAXED);
}

void inode_unused_del(struct inode_table *t, struct inode *inode)
{
	t->nr_unused--;
	__atomic_sub_fetch(&unused_fds, fds_per_inode(t->store), __ATOMIC_RELAXED);
	__atomic_sub_fetch(&unused_va, inode->i_unused_va, __ATOMIC_RELAXED);
}

/* The unused inodes of every engine hold more fds or address space than
 * @t's budgets allow. */
static bool over_budget(struct inode_table *t)
{
	return __atomic_load_n(&unused_fds, __ATOMIC_RELAXED) > t->fd_budget ||
	       __atomic_load_n(&unused_va, __ATOMIC_RELAXED) > t->va_budget;
}

/* Under the table lock: prune may evict it without losing a report, and
 * (unless @dirty) without a write-back. */
static bool inode_evictable(struct inode *inode, bool dirty)
{
	struct address_space *m = &inode->i_data;

	return ((dirty && !inode_test_keep_dirty_unused) || mapping_clean(m)) &&
	       (inode_test_evict_unseen_error || !mapping_unseen_error(m));
}

/* While more than @keep inodes are unused (or, @budget, the unused inodes of
 * every engine hold more fds or address space than the table's budgets:
 * over_budget), evicts the oldest evictable one (@dirty: dirty ones too,
 * written back by evict), at most @nr of them: the number evicted, the
 * first error in *@err. */
static unsigned long prune_unused(struct inode_table *t, unsigned long keep, unsigned long nr,
				  bool budget, bool dirty, int *err)
{
	unsigned long done = 0;
	struct inode *inode;

	while (done < nr) {
		struct inode *victim = NULL;
		int e;

		mutex_lock(&t->lock);
		if (t->nr_unused > keep || (budget && t->nr_unused &&
					    !inode_test_fd_budget_per_engine && over_budget(t))) {
			list_for_each_entry (inode, &t->unused, i_lru) {
				if (inode_evictable(inode, dirty)) {
					victim = inode;
					break;
				}
			}
		}
		if (!victim) {
			mutex_unlock(&t->lock);
			break;
		}
		list_del_init(&victim->i_lru);
		inode_unused_del(t, victim);
		victim->i_state |= I_FREEING;
		mutex_unlock(&t->lock);
		e = evict_and_free(victim, false);
		if (!*err)
			*err = e;
		done++;
	}
	return done;
}

/*
 * The kernel's prune_icache_sb, run at each last iput: while the table holds
 * more unused inodes than its bound (unused_bound), evicts the oldest that
 * are clean and have no unseen writeback error. Dirty ones over the bound
 * stay until the writeback thread has cleaned them - unless the unused
 * inodes of the process hold more fds than its budget. Under the bound nothing
 * is looked at: an unused inode whose pages reclaim took stays too (its
 * store handle and, in cluster mode, its glock's cached state make the next
 * open or stat cheaper), as the kernel keeps such an inode until its inode
 * shrinker runs.
 */
int inode_prune(struct inode_table *t)
{
	unsigned long max = READ_ONCE(inode_test_unused_max);
	int err = 0;

	prune_unused(t, max ? max : t->unused_max, ULONG_MAX, !max, false, &err);
	if (!max && !inode_test_fd_budget_per_engine && over_budget(t)) {
		/* Still over the process's budget (checked again under the
		 * table lock), the unused inodes left all dirty (created and
		 * written faster than the writeback thread cleans them): the
		 * oldest are written back and evicted now, so that the
		 * program's own opens keep their half of the open-file limit.
		 * Their write-back errors are the engine close's to report
		 * (evict), not this close's. */
		int others = 0;

		prune_unused(t, ULONG_MAX, ULONG_MAX, true, true, &others);
	}
	return err;
}

TEST_SWITCH(inode_test_no_shrink);

bool inode_table_shrink(struct inode_table *t, unsigned long nr)
{
	int err = 0;

	if (READ_ONCE(inode_test_no_shrink))
		return false;
	/* Dirty ones only where no clean one is: a program that creates and
	 * writes files faster than the writeback thread cleans them would
	 * otherwise run out of fds with every file closed. */
	return prune_unused(t, 0, nr, false, false, &err) > 0 ||
	       prune_unused(t, 0, nr, false, true, &err) > 0;
}

int inode_store_open(struct inode_table *t, struct store_node *n, int flags,
		     struct store_inode **out)
{
	int err = store_node_open(n, flags, out);

	if ((err == -EMFILE || err == -ENFILE) && inode_table_shrink(t, INODE_SHRINK_BATCH))
		err = store_node_open(n, flags, out);
	return err;
}

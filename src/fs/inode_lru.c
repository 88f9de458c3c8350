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

#define INODE_FD_RESERVE 256 /* open files left out of the budget */

/*
 * How many unused inodes a table keeps (the kernel keeps them until its
 * inode shrinker runs; here each may hold host fds, store.inode_fds, and a
 * process has a limit of open files). The fd budget is half of the limit,
 * less a reserve, for the unused inodes of every engine of the process
 * together (unused_fds), and at least INODE_UNUSED_MIN inodes' worth; a
 * table keeps as many as its budget holds, within [INODE_UNUSED_MIN,
 * INODE_UNUSED_CAP], and fewer while the engines together are over the
 * budget (prune_unused). The FUSE server raises its soft limit to the hard
 * one before it opens the engine. With 1024 open files (a shell's default
 * soft limit) that is 128; with 20,000, 3,290; with a million, the cap. A
 * store with no host fd per inode (vol) gets the cap and no fd budget. In
 * cluster mode an unused inode also keeps its glock cached: a stat or open
 * of a file among as many needs no lock service.
 */
unsigned long inode_fd_budget(const struct store *s)
{
	unsigned long fds = (unsigned long)INODE_UNUSED_CAP * s->inode_fds;
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY)
		fds = rl.rlim_cur > INODE_FD_RESERVE
			  ? (unsigned long)(rl.rlim_cur - INODE_FD_RESERVE) / 2
			  : 0;
	return max_t(unsigned long, fds, (unsigned long)INODE_UNUSED_MIN * s->inode_fds);
}

unsigned long inode_unused_bound(const struct store *s)
{
	unsigned long max = s->inode_fds ? inode_fd_budget(s) / s->inode_fds : INODE_UNUSED_CAP;

	return max_t(unsigned long, min_t(unsigned long, max, INODE_UNUSED_CAP), INODE_UNUSED_MIN);
}

/* Host fds kept open by the unused inodes of every engine of the process:
 * a table over its fd budget prunes its own oldest ones too. Atomic. */
static unsigned long unused_fds;

void inode_unused_add(struct inode_table *t)
{
	t->nr_unused++;
	__atomic_add_fetch(&unused_fds, t->store->inode_fds, __ATOMIC_RELAXED);
}

void inode_unused_del(struct inode_table *t)
{
	t->nr_unused--;
	__atomic_sub_fetch(&unused_fds, t->store->inode_fds, __ATOMIC_RELAXED);
}

/* Under the table lock: prune may evict it without losing data or a report. */
static bool inode_evictable(struct inode *inode)
{
	struct address_space *m = &inode->i_data;

	return mapping_clean(m) && (inode_test_evict_unseen_error || !mapping_unseen_error(m));
}

/* While more than @keep inodes are unused (or, @budget, the unused inodes of
 * every engine hold more host fds than the table's budget), evicts the
 * oldest evictable one, at most @nr of them: the number evicted, the first
 * error in *@err. */
static unsigned long prune_unused(struct inode_table *t, unsigned long keep, unsigned long nr,
				  bool budget, int *err)
{
	unsigned long done = 0;
	struct inode *inode;

	while (done < nr) {
		struct inode *victim = NULL;
		int e;

		mutex_lock(&t->lock);
		if (t->nr_unused > keep ||
		    (budget && t->nr_unused && t->store->inode_fds &&
		     !inode_test_fd_budget_per_engine &&
		     __atomic_load_n(&unused_fds, __ATOMIC_RELAXED) > t->fd_budget)) {
			list_for_each_entry (inode, &t->unused, i_lru) {
				if (inode_evictable(inode)) {
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
		inode_unused_del(t);
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
 * stay until the writeback thread has cleaned them. Under the bound nothing
 * is looked at: an unused inode whose pages reclaim took stays too (its
 * store handle and, in cluster mode, its glock's cached state make the next
 * open or stat cheaper), as the kernel keeps such an inode until its inode
 * shrinker runs.
 */
int inode_prune(struct inode_table *t)
{
	unsigned long max = READ_ONCE(inode_test_unused_max);
	int err = 0;

	prune_unused(t, max ? max : t->unused_max, ULONG_MAX, !max, &err);
	return err;
}

TEST_SWITCH(inode_test_no_shrink);

bool inode_table_shrink(struct inode_table *t, unsigned long nr)
{
	int err = 0;

	if (READ_ONCE(inode_test_no_shrink))
		return false;
	return prune_unused(t, 0, nr, false, &err) > 0;
}

int inode_store_open(struct inode_table *t, struct store_node *n, int flags,
		     struct store_inode **out)
{
	int err = store_node_open(n, flags, out);

	if ((err == -EMFILE || err == -ENFILE) && inode_table_shrink(t, INODE_SHRINK_BATCH))
		err = store_node_open(n, flags, out);
	return err;
}

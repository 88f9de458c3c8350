/* SPDX-License-Identifier: MIT */
/*
 * plock.c - byte-range locks across nodes, the generic half (plock.h): the
 * lease check before a call goes to the lock module's lm_plock, the wait
 * for a change of the tables (plock_seq, plock_wait) and the generation.
 *
 * Locks: none of its own. Called with no engine lock held but the caller's
 * per-file mutex (fs/posix_locks.c's "flc_plock"); sleeps on c->member_wait (the
 * lease suspended) and c->plock_wait (cluster_plock_wait). The module's
 * lm_plock takes its own locks (plock_zk.c: the handle's zh_lock, a leaf).
 */
#include <errno.h>

#include "cluster/lock_module.h"
#include "cluster/plock.h"

TEST_SWITCH(plock_test_no_version_check);
TEST_SWITCH(plock_test_no_cache);
TEST_SWITCH(plock_test_keep_tables);
TEST_SWITCH(plock_test_no_pin);
TEST_KNOB(plock_publish_hook_fn, plock_test_before_publish);

static void ns_to_timespec(uint64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / 1000000000ull);
	ts->tv_nsec = (long)(ns % 1000000000ull);
}

/*
 * The lease as glock_nq sees it; while it is suspended (no answer from the
 * server for the lease margin), sleeps on member_wait until it is valid
 * again or lost. The worker wakes member_wait when an answer renews the
 * lease and when membership changes; the sleep ends by itself at the time
 * the session must be assumed expired.
 */
static int plock_lease_wait(struct cluster *c)
{
	struct wait_queue_entry e;
	int l = glock_lease_check(c);

	if (l <= 0)
		return l;
	init_wait_entry(&e, 0);
	for (;;) {
		uint64_t lost;
		struct timespec dl;

		prepare_to_wait(&c->member_wait, &e);
		l = glock_lease_check(c);
		if (l <= 0)
			break;
		lost = atomic_load(&c->lost_at_ns);
		ns_to_timespec(lost, &dl);
		wait_entry_sleep(&e, lost == UINT64_MAX ? NULL : &dl, false, "cluster lease",
				 &c->member_wait);
	}
	finish_wait(&c->member_wait, &e);
	return l;
}

int cluster_plock(struct cluster *c, const struct lm_lockname *name, const struct plock_range *want,
		  const struct plock_range *set, unsigned n, unsigned flags,
		  struct plock_range *conflict, uint64_t *seq)
{
	int l;

	if (cluster_is_nolock(c))
		return 0;
	if (!c->ops->lm_plock)
		return -ENOLCK;
	if (n && !set)
		return -EINVAL;
	l = plock_lease_wait(c);
	if (l < 0)
		return l;
	return c->ops->lm_plock(c, name, want, set, n, flags, conflict, seq);
}

int cluster_plock_forget(struct cluster *c, const struct lm_lockname *name)
{
	if (cluster_is_nolock(c) || !c->ops->lm_plock_forget)
		return 0;
	if (glock_lease_check(c) < 0)
		return -EIO; /* the session took our entry with it */
	return c->ops->lm_plock_forget(c, name);
}

/* The wait's end: a watch fired (or a loss or rejoin bumped plock_seq), the
 * session is lost, or it was replaced since the wait began. */
static bool plock_wait_done(struct cluster *c, uint64_t seq, uint64_t gen)
{
	return atomic_load(&c->plock_seq) != seq || atomic_load(&c->membership) == CM_LOST ||
	       atomic_load(&c->generation) != gen;
}

int cluster_plock_wait(struct cluster *c, uint64_t seq)
{
	uint64_t gen = atomic_load(&c->generation);

	if (cluster_is_nolock(c))
		return 0;
	if (wait_event_killable(&c->plock_wait, plock_wait_done(c, seq, gen), "plock"))
		return -EINTR;
	if (atomic_load(&c->membership) == CM_LOST || atomic_load(&c->generation) != gen ||
	    glock_lease_check(c) < 0)
		return -EIO;
	return 0;
}

uint64_t cluster_generation(struct cluster *c)
{
	return atomic_load(&c->generation);
}

/* SPDX-License-Identifier: MIT */
/*
 * fault_dio.c - the fault rule while current->fdm is set (fault_dio.h):
 * a direct I/O write holds BLOCK of its file and faults its user buffer in
 * from user mode; a fault of that fault-in must neither wait for its own
 * BLOCK (H4) nor wait on another file's ADD in an order user space chose
 * (H5), and a "drop your locks and retry" reaches the DIO as task state,
 * never as EFAULT (H6).
 *
 * Why it is deadlock-free: a thread holding BLOCK(X) only ever waits for
 * ADD(Y) with Y at a higher address than X; for a lower Y it trylocks, and
 * on failure waits with no invalidate lock held. So every wait of a BLOCK
 * holder for an ADD goes up the address order and no cycle of such waits
 * can close; BLOCK holders do not wait for each other (BLOCK is shared).
 * The residual risk is livelock (a drop, then the same conflict again): the
 * DIO bounds its rounds without progress and then copies through a bounce
 * buffer with no BLOCK held during the copy (fs/direct.c).
 *
 * Locks: called by the DIO with i_rwsem of its file (either mode) and BLOCK
 * of its mapping; the fault side runs in the faulting thread's signal
 * handler with the mm lock dropped (fault.c) and takes the invalidate locks
 * as fault_dio.h says, nothing else. The DIO's BLOCK is taken with validator
 * subclass DIO_BLOCK_SUBCLASS: "BLOCK held across user-memory faults" is a
 * class of its own, so the validator records BLOCK(dio) -> mm lock ->
 * ADD as legal while still catching any plain BLOCK held across a fault.
 */
#include "kernel/task.h"
#include "mm/fault_dio.h"

TEST_SWITCH(fault_dio_test_no_order);
TEST_SWITCH(fault_dio_test_no_self_rule);

/* The DIO range and what the handler did, for this thread's DIO. */
static __thread_hot struct {
	struct address_space *m;
	pgoff_t first, last; /* pages of the DIO range */
	unsigned flags;	     /* FDM_* */
} fdm_ctx;

static bool policy_none(const struct address_space *m)
{
	return READ_ONCE(m->cache->policy) == POLICY_NONE_UNSAFE;
}

void dio_block_lock(struct address_space *m)
{
	if (!policy_none(m))
		two_state_lock_nested(&m->invalidate_lock, TS_BLOCK, DIO_BLOCK_SUBCLASS);
}

bool dio_block_trylock(struct address_space *m)
{
	return policy_none(m) || two_state_trylock(&m->invalidate_lock, TS_BLOCK);
}

void dio_block_unlock(struct address_space *m)
{
	if (!policy_none(m))
		two_state_unlock(&m->invalidate_lock, TS_BLOCK);
}

void fdm_begin(struct address_space *m, int64_t start, int64_t end)
{
	struct task *t = current;

	fdm_ctx.m = m;
	fdm_ctx.first = (pgoff_t)start >> PAGE_SHIFT;
	fdm_ctx.last = (pgoff_t)end >> PAGE_SHIFT;
	fdm_ctx.flags = 0;
	t->fdm_dropped = false;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	t->fdm = m;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

unsigned fdm_end(void)
{
	struct task *t = current;
	unsigned flags;

	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	t->fdm = NULL;
	flags = fdm_ctx.flags;
	if (t->fdm_dropped)
		flags |= FDM_DROPPED;
	t->fdm_dropped = false;
	fdm_ctx.m = NULL;
	if (flags & (FDM_DROPPED | FDM_RELEASED))
		t->stats.fault_retries++;
	return flags;
}

bool fault_dio_lock_add(struct address_space *m, pgoff_t index)
{
	struct task *t = __current_task; /* fdm is only set in a task */
	struct address_space *fdm = t ? t->fdm : NULL;

	if (likely(!fdm) || policy_none(fdm)) {
		filemap_invalidate_lock_add(m);
		return true;
	}
	if (fdm == m) {
		if (unlikely(READ_ONCE(fault_dio_test_no_self_rule))) {
			filemap_invalidate_lock_add(m); /* waits for our own BLOCK */
			return true;
		}
		if (index >= fdm_ctx.first && index <= fdm_ctx.last) {
			/* Filling it would undo the DIO's invalidation, and ADD of
			 * our own file waits for our own BLOCK: refuse. */
			fdm_ctx.flags |= FDM_SELF;
			return false;
		}
		/* Outside the range: the page may come in, but not under our
		 * BLOCK. Give BLOCK up until the fault-in is over. */
		t->fdm = NULL;
		fdm_ctx.flags |= FDM_RELEASED;
		dio_block_unlock(fdm);
		filemap_invalidate_lock_add(m);
		return true;
	}
	if ((uintptr_t)m > (uintptr_t)fdm || READ_ONCE(fault_dio_test_no_order)) {
		filemap_invalidate_lock_add(m); /* increasing address order */
		return true;
	}
	if (filemap_invalidate_trylock_add(m))
		return true;
	/* Wrong order and contended: wait with no invalidate lock held. */
	dio_block_unlock(fdm);
	filemap_invalidate_lock_add(m);
	filemap_invalidate_unlock_add(m);
	dio_block_lock(fdm);
	t->fdm_dropped = true;
	return false;
}

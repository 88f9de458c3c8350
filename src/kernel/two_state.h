/* SPDX-License-Identifier: MIT */
/*
 * two_state.h - a lock with two shared states that exclude each other (after
 * bcachefs' two_state_shared_lock). The invalidate lock of a mapping is one:
 * state ADD (page-cache fills, faults, buffered writes) and state BLOCK
 * (direct I/O writes, truncate, hole punch, clone). Many holders of one state
 * run together; a holder of the other state waits until the count drains.
 *
 * One signed counter: > 0 counts BLOCK holders, < 0 counts ADD holders.
 * There is no waiter preference inside a state: a new ADD gets in whenever
 * the lock is free or in ADD, even while a BLOCK waiter sleeps. That is what
 * makes ADD->ADD nesting across two mappings deadlock-free (a fair lock would
 * queue the second ADD behind the BLOCK waiter). The price is that a steady
 * stream of one state can starve the other; the per-class contention counters
 * (count, total and worst wait per state) make that visible in the stats.
 */
#ifndef PC_KERNEL_TWO_STATE_H
#define PC_KERNEL_TWO_STATE_H

#include "kernel/lockdep.h"
#include "kernel/lockstat.h"
#include "kernel/wait.h"

enum two_state {
	TS_ADD = 0,
	TS_BLOCK = 1,
};

struct two_state_lock {
	long v;
	struct wait_queue_head wait;
	struct lock_class_key *key;
#if PC_LOCKDEP
	struct lockdep_map dep_map;
#endif
};

void __two_state_init(struct two_state_lock *l, const char *name, struct lock_class_key *key);
void two_state_destroy(struct two_state_lock *l);
void __two_state_lock(struct two_state_lock *l, enum two_state s, unsigned subclass,
		      struct src_loc loc);
bool __two_state_trylock(struct two_state_lock *l, enum two_state s, struct src_loc loc);
void __two_state_unlock(struct two_state_lock *l, enum two_state s, struct src_loc loc);

#define two_state_init(l)                                                                          \
	do {                                                                                       \
		static struct lock_class_key __key = { .name = #l };                               \
		__two_state_init((l), #l, &__key);                                                 \
	} while (0)
#define two_state_init_class(l, key)	 __two_state_init((l), (key)->name, (key))
#define two_state_lock(l, s)		 __two_state_lock((l), (s), 0, THIS_LOC)
#define two_state_lock_nested(l, s, sub) __two_state_lock((l), (s), (sub), THIS_LOC)
#define two_state_trylock(l, s)		 __two_state_trylock((l), (s), THIS_LOC)
#define two_state_unlock(l, s)		 __two_state_unlock((l), (s), THIS_LOC)

/* Holders: > 0 BLOCK, < 0 ADD, 0 free. */
static inline long two_state_count(const struct two_state_lock *l)
{
	return __atomic_load_n(&l->v, __ATOMIC_RELAXED);
}

#endif

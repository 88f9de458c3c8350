/* SPDX-License-Identifier: MIT */
/*
 * raw_spinlock.h - a test-and-test-and-set spinlock for a handful of
 * instructions (wait-queue lists, a task's current wait). Never held across a
 * sleep, a scheduling point, user memory or another lock, so it is invisible
 * to the validator and to the deterministic scheduler.
 */
#ifndef PC_KERNEL_RAW_SPINLOCK_H
#define PC_KERNEL_RAW_SPINLOCK_H

#include <sched.h>

#include "kernel/compiler.h"

typedef struct {
	uint32_t v;
} raw_spinlock_t;

#define RAW_SPINLOCK_INIT { 0 }

static inline void raw_spin_lock(raw_spinlock_t *l)
{
	for (unsigned spins = 0;; spins++) {
		if (!__atomic_load_n(&l->v, __ATOMIC_RELAXED) &&
		    !__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE))
			return;
		if (spins > 64)
			sched_yield(); /* the holder was preempted: let it run */
		else
			__builtin_ia32_pause();
	}
}

static inline void raw_spin_unlock(raw_spinlock_t *l)
{
	__atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
}

#endif

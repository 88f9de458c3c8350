/* SPDX-License-Identifier: MIT */
/*
 * mutex.h - a sleeping exclusive lock for short leaf sections (page index,
 * LRU, store tables): spins briefly, then sleeps on a hashed bit wait queue
 * with exclusive wake-up. Validated, scheduled and counted like every lock.
 * Use it only as a leaf: no I/O, no user memory, no other lock inside.
 */
#ifndef PC_KERNEL_MUTEX_H
#define PC_KERNEL_MUTEX_H

#include "kernel/lockdep.h"
#include "kernel/lockstat.h"

struct mutex {
	unsigned long word; /* bit 0 locked, bit 1 waiters */
	struct lock_class_key *key;
#if PC_LOCKDEP
	struct lockdep_map dep_map;
#endif
};

void __mutex_init(struct mutex *m, const char *name, struct lock_class_key *key);
void __mutex_lock(struct mutex *m, unsigned subclass, struct src_loc loc);
bool __mutex_trylock(struct mutex *m, struct src_loc loc);
void __mutex_unlock(struct mutex *m, struct src_loc loc);
void mutex_destroy(struct mutex *m);

#define mutex_init(m)                                                                              \
	do {                                                                                       \
		static struct lock_class_key __key = { .name = #m };                               \
		__mutex_init((m), #m, &__key);                                                     \
	} while (0)
#define mutex_init_class(m, key)	 __mutex_init((m), (key)->name, (key))
#define mutex_lock(m)			 __mutex_lock((m), 0, THIS_LOC)
#define mutex_lock_nested(m, sub)	 __mutex_lock((m), (sub), THIS_LOC)
#define mutex_trylock(m)		 __mutex_trylock((m), THIS_LOC)
#define mutex_unlock(m)			 __mutex_unlock((m), THIS_LOC)

static inline bool mutex_is_locked(const struct mutex *m)
{
	return __atomic_load_n(&m->word, __ATOMIC_RELAXED) & 1;
}

#endif

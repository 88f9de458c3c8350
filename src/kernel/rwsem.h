/* SPDX-License-Identifier: MIT */
/*
 * rwsem.h - reader/writer semaphore (i_rwsem, the mm lock, i_mmap).
 *
 * Policy against starvation: FIFO hand-off. While anyone waits, new arrivals
 * of either kind queue behind them; a release grants the lock to the head of
 * the queue - one writer, or every consecutive reader at the head together -
 * before waking them. So neither writers nor readers starve, and a reader
 * that already holds the lock and asks again behind a queued writer
 * deadlocks, exactly as in the kernel: the validator treats read as
 * non-recursive and reports it.
 *
 * Uncontended acquire and release are one atomic each.
 */
#ifndef PC_KERNEL_RWSEM_H
#define PC_KERNEL_RWSEM_H

#include "kernel/lockdep.h"
#include "kernel/lockstat.h"
#include "kernel/wait.h"

struct rw_semaphore {
	unsigned long count; /* RWSEM_WRITER | RWSEM_WAITERS | readers * RWSEM_READER */
	struct wait_queue_head wait;
	struct lock_class_key *key;
#if PC_LOCKDEP
	struct lockdep_map dep_map;
#endif
};

#define RWSEM_WRITER  1ul
#define RWSEM_WAITERS 2ul
#define RWSEM_READER  4ul

void __init_rwsem(struct rw_semaphore *sem, const char *name, struct lock_class_key *key);
void rwsem_destroy(struct rw_semaphore *sem);
void __down_read(struct rw_semaphore *sem, unsigned subclass, struct src_loc loc);
bool __down_read_trylock(struct rw_semaphore *sem, struct src_loc loc);
void __up_read(struct rw_semaphore *sem, struct src_loc loc);
void __down_write(struct rw_semaphore *sem, unsigned subclass, struct src_loc loc);
bool __down_write_trylock(struct rw_semaphore *sem, struct src_loc loc);
void __up_write(struct rw_semaphore *sem, struct src_loc loc);
void __downgrade_write(struct rw_semaphore *sem, struct src_loc loc);

#define init_rwsem(sem)                                                                            \
	do {                                                                                       \
		static struct lock_class_key __key = { .name = #sem };                             \
		__init_rwsem((sem), #sem, &__key);                                                 \
	} while (0)
#define init_rwsem_class(sem, key)   __init_rwsem((sem), (key)->name, (key))
#define down_read(s)		     __down_read((s), 0, THIS_LOC)
#define down_read_nested(s, sub)     __down_read((s), (sub), THIS_LOC)
#define down_read_trylock(s)	     __down_read_trylock((s), THIS_LOC)
#define up_read(s)		     __up_read((s), THIS_LOC)
#define down_write(s)		     __down_write((s), 0, THIS_LOC)
#define down_write_nested(s, sub)    __down_write((s), (sub), THIS_LOC)
#define down_write_trylock(s)	     __down_write_trylock((s), THIS_LOC)
#define up_write(s)		     __up_write((s), THIS_LOC)
#define downgrade_write(s)	     __downgrade_write((s), THIS_LOC)

static inline bool rwsem_is_locked(const struct rw_semaphore *sem)
{
	return __atomic_load_n(&sem->count, __ATOMIC_RELAXED) & ~RWSEM_WAITERS;
}

static inline bool rwsem_is_write_locked(const struct rw_semaphore *sem)
{
	return __atomic_load_n(&sem->count, __ATOMIC_RELAXED) & RWSEM_WRITER;
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * tsan.h - ThreadSanitizer annotations for our futex-based locks, so that TSan
 * knows them as mutexes (its reports then name them and their holders).
 * Outside TSan builds these are empty. No locks.
 */
#ifndef PC_KERNEL_TSAN_H
#define PC_KERNEL_TSAN_H

#include "kernel/compiler.h"
#include "kernel/task.h"

#if PC_HAVE_TSAN
#include <sanitizer/tsan_interface.h>
#define TSAN_READ    __tsan_mutex_read_lock
#define TSAN_TRY     __tsan_mutex_try_lock
#define TSAN_TRYFAIL __tsan_mutex_try_lock_failed
static inline void tsan_create(void *a, unsigned f)
{
	__tsan_mutex_create(a, f | __tsan_mutex_not_static);
}
static inline void tsan_destroy(void *a)
{
	__tsan_mutex_destroy(a, __tsan_mutex_not_static);
}
static inline void tsan_pre_lock(void *a, unsigned f)
{
	struct task *t = current;
	t->tsan_lock = a;
	t->tsan_flags = f;
	__tsan_mutex_pre_lock(a, f);
}
static inline void tsan_post_lock(void *a, unsigned f)
{
	__tsan_mutex_post_lock(a, f, 0);
	current->tsan_lock = NULL;
}
/*
 * TSan ignores every memory access and every synchronisation inside a lock
 * operation (pre_lock..post_lock, pre_unlock..post_unlock). A slow path that
 * queues a wait entry on a queue other threads walk (a hashed bit-wait queue
 * is shared with page locks, which are not annotated) must be seen, or the
 * next thread to walk that queue is reported racing with whatever the sleeper
 * last wrote at its entry's stack address. So the sleep, and the hand-off of
 * a parked thread's turn, run diverted; wake-ups run after post_unlock.
 * Diverts do not nest: only the outermost one counts.
 */
static inline bool tsan_divert_begin(void *a, unsigned f)
{
	struct task *t = current;
	if (t->tsan_diverted)
		return false;
	__tsan_mutex_pre_divert(a, f);
	t->tsan_diverted = true;
	return true;
}
static inline void tsan_divert_end(void *a, unsigned f, bool diverted)
{
	if (diverted) {
		current->tsan_diverted = false;
		__tsan_mutex_post_divert(a, f);
	}
}
/* The scheduler parks a thread: divert if it is inside a lock operation. */
static inline bool tsan_park_begin(void)
{
	struct task *t = current;
	return t->tsan_lock ? tsan_divert_begin(t->tsan_lock, t->tsan_flags) : false;
}
static inline void tsan_park_end(bool diverted)
{
	struct task *t = current;
	tsan_divert_end(t->tsan_lock, t->tsan_flags, diverted);
}
/* A schedule abandons a thread inside a lock operation: end it as failed. */
static inline void tsan_abandon_lock(void)
{
	struct task *t = current;
	tsan_divert_end(t->tsan_lock, t->tsan_flags, t->tsan_diverted);
	if (t->tsan_lock)
		__tsan_mutex_post_lock(t->tsan_lock, t->tsan_flags | TSAN_TRY | TSAN_TRYFAIL, 0);
	t->tsan_lock = NULL;
}
static inline void tsan_pre_unlock(void *a, unsigned f)
{
	__tsan_mutex_pre_unlock(a, f);
}
static inline void tsan_post_unlock(void *a, unsigned f)
{
	__tsan_mutex_post_unlock(a, f);
}
#else
#define TSAN_READ    0u
#define TSAN_TRY     0u
#define TSAN_TRYFAIL 0u
static inline void tsan_create(void *a, unsigned f)
{
}
static inline void tsan_destroy(void *a)
{
}
static inline void tsan_pre_lock(void *a, unsigned f)
{
}
static inline void tsan_post_lock(void *a, unsigned f)
{
}
static inline void tsan_abandon_lock(void)
{
}
static inline bool tsan_divert_begin(void *a, unsigned f)
{
	return false;
}
static inline void tsan_divert_end(void *a, unsigned f, bool diverted)
{
}
static inline bool tsan_park_begin(void)
{
	return false;
}
static inline void tsan_park_end(bool diverted)
{
}
static inline void tsan_pre_unlock(void *a, unsigned f)
{
}
static inline void tsan_post_unlock(void *a, unsigned f)
{
}
#endif

#endif

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
 * TSan ignores synchronisation inside a lock operation (pre_lock..post_lock).
 * When the deterministic scheduler parks a thread there, the hand-off of the
 * turn must be seen: divert around the park.
 */
static inline void tsan_park_begin(void)
{
	struct task *t = current;
	if (t->tsan_lock && !t->tsan_diverted) {
		__tsan_mutex_pre_divert(t->tsan_lock, t->tsan_flags);
		t->tsan_diverted = true;
	}
}
static inline void tsan_park_end(void)
{
	struct task *t = current;
	if (t->tsan_diverted) {
		t->tsan_diverted = false;
		__tsan_mutex_post_divert(t->tsan_lock, t->tsan_flags);
	}
}
/* A schedule abandons a thread inside a lock operation: end it as failed. */
static inline void tsan_abandon_lock(void)
{
	struct task *t = current;
	tsan_park_end();
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
static inline void tsan_park_begin(void)
{
}
static inline void tsan_park_end(void)
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

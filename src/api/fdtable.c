/* SPDX-License-Identifier: MIT */
/*
 * fdtable.c - the engine's fd table: slot allocation (lowest free first),
 * lock-free lookups that take a file reference, and removal (the kernel's
 * fs/file.c files_struct/fdtable).
 *
 * The slots live in an array published with release/acquire under RCU:
 * growth copies them into a larger array, publishes it and frees the old
 * one after a grace period. A lookup, under rcu_read_lock, loads the slot,
 * takes a reference with get_file_unless_zero (a count of zero: the file's
 * last fput is running, its slot is already empty - look again), then
 * re-checks that the table and slot still hold the file, else drops the
 * reference and looks again: the reference it returns was taken while the
 * fd named the file. The struct file is freed after a grace period (fput).
 *
 * Locks: "fd_table_lock" (leaf mutex) around every update of the slots
 * (install, remove, growth); only memory allocation happens inside it.
 * Lookups take no lock; a reference dropped on a re-check is dropped after
 * rcu_read_unlock (the last fput may evict).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <urcu.h>

#include "api/engine.h"
#include "kernel/sched.h"

static DEFINE_LOCK_CLASS(fd_table_lock_key, "fd_table_lock");

struct fdt_array {
	struct rcu_head rcu;
	unsigned max_fds;  /* slots */
	struct file *fd[]; /* atomic: release on install, acquire on lookup */
};

TEST_SWITCH(fdtable_test_no_recheck);

static inline struct fdt_array *fdt_load(struct fdtable *t)
{
	return __atomic_load_n(&t->fdt, __ATOMIC_ACQUIRE);
}

static inline struct file *slot_load(struct fdt_array *a, unsigned nr)
{
	return __atomic_load_n(&a->fd[nr], __ATOMIC_ACQUIRE);
}

static inline void slot_store(struct fdt_array *a, unsigned nr, struct file *f)
{
	__atomic_store_n(&a->fd[nr], f, __ATOMIC_RELEASE);
}

void fdtable_init(struct fdtable *t)
{
	mutex_init_class(&t->lock, &fd_table_lock_key);
	t->fdt = NULL;
	t->next_fd = 0;
}

/* No lookup can run any more (pc_engine_close): the array goes now. */
void fdtable_destroy(struct fdtable *t)
{
	free(t->fdt);
	t->fdt = NULL;
	mutex_destroy(&t->lock);
}

static void fdt_free_rcu(struct rcu_head *head)
{
	mm_rcu_tsan_acquire();
	free(container_of(head, struct fdt_array, rcu));
}

/* Under the lock: room for slot @nr. */
static int expand_fdtable(struct fdtable *t, unsigned nr)
{
	struct fdt_array *old = t->fdt, *a;
	unsigned cur = old ? old->max_fds : 0, n = cur ? cur : 64;

	while (n <= nr)
		n *= 2;
	if (n > PC_NR_OPEN_MAX)
		n = PC_NR_OPEN_MAX;
	if (nr >= n)
		return -EMFILE;
	a = calloc(1, sizeof(*a) + n * sizeof(a->fd[0]));
	if (!a)
		return -ENOMEM;
	a->max_fds = n;
	for (unsigned i = 0; i < cur; i++)
		a->fd[i] = old->fd[i];
	__atomic_store_n(&t->fdt, a, __ATOMIC_RELEASE); /* rcu_assign_pointer */
	if (old) {
		mm_rcu_thread_enter();
		mm_rcu_tsan_release();
		call_rcu(&old->rcu, fdt_free_rcu);
	}
	return 0;
}

int fd_install(struct fdtable *t, struct file *f)
{
	struct fdt_array *a;
	unsigned nr;
	int err;

	mutex_lock(&t->lock);
	a = t->fdt;
	for (nr = t->next_fd; a && nr < a->max_fds; nr++)
		if (!a->fd[nr])
			break;
	if (!a || nr >= a->max_fds) {
		err = expand_fdtable(t, nr);
		if (err) {
			mutex_unlock(&t->lock);
			return err;
		}
		a = t->fdt;
	}
	slot_store(a, nr, f);
	t->next_fd = nr + 1;
	mutex_unlock(&t->lock);
	return (int)nr;
}

/* @mask: f_mode bits that make the lookup fail (FMODE_PATH for fdget). */
static struct file *__fget(struct fdtable *t, int fd, unsigned mask)
{
	struct fdt_array *a;
	struct file *f;

	if (fd < 0)
		return NULL;
	mm_rcu_thread_enter();
	for (;;) {
		rcu_read_lock();
		a = fdt_load(t);
		if (!a || (unsigned)fd >= a->max_fds) {
			f = NULL;
			break;
		}
		f = slot_load(a, (unsigned)fd);
		if (!f || (f->f_mode & mask)) {
			f = NULL;
			break;
		}
		sched_race_window("fdget: slot loaded, no reference");
		if (!get_file_unless_zero(f)) { /* its last fput: the slot is empty now */
			mm_rcu_tsan_release();
			rcu_read_unlock();
			continue;
		}
		/* The reference must have been taken while the slot held the
		 * file: else it may be a file closed (and the fd reused) before
		 * this call's lookup could linearise. */
		if (likely(fdtable_test_no_recheck ||
			   (fdt_load(t) == a && slot_load(a, (unsigned)fd) == f)))
			break;
		mm_rcu_tsan_release();
		rcu_read_unlock();
		fdput(container_of(t, struct pc_engine, fdt), f);
	}
	mm_rcu_tsan_release();
	rcu_read_unlock();
	return f;
}

struct file *fdget(struct fdtable *t, int fd)
{
	return __fget(t, fd, FMODE_PATH);
}

struct file *fdget_raw(struct fdtable *t, int fd)
{
	return __fget(t, fd, 0);
}

struct file *fd_remove(struct fdtable *t, int fd)
{
	struct fdt_array *a;
	struct file *f = NULL;

	if (fd < 0)
		return NULL;
	mutex_lock(&t->lock);
	a = t->fdt;
	if (a && (unsigned)fd < a->max_fds) {
		f = a->fd[fd];
		slot_store(a, (unsigned)fd, NULL);
		if (f && (unsigned)fd < t->next_fd)
			t->next_fd = (unsigned)fd;
	}
	mutex_unlock(&t->lock);
	return f;
}

struct file *fd_remove_next(struct fdtable *t, int *fd)
{
	struct fdt_array *a;
	struct file *f = NULL;

	mutex_lock(&t->lock);
	a = t->fdt;
	for (unsigned nr = (unsigned)*fd; a && nr < a->max_fds; nr++) {
		if (a->fd[nr]) {
			f = a->fd[nr];
			slot_store(a, nr, NULL);
			if (nr < t->next_fd)
				t->next_fd = nr;
			*fd = (int)nr;
			break;
		}
	}
	mutex_unlock(&t->lock);
	return f;
}

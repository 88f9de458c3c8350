/* SPDX-License-Identifier: MIT */
/*
 * fdtable.c - the engine's fd table: slot allocation (lowest free first),
 * lookups that take a file reference, and removal.
 *
 * Locks: "fd_table_lock" (leaf mutex) around every access to the slots;
 * only memory allocation happens inside it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/engine.h"

static DEFINE_LOCK_CLASS(fd_table_lock_key, "fd_table_lock");

void fdtable_init(struct fdtable *t)
{
	mutex_init_class(&t->lock, &fd_table_lock_key);
	t->fd = NULL;
	t->max_fds = 0;
	t->next_fd = 0;
}

void fdtable_destroy(struct fdtable *t)
{
	free(t->fd);
	t->fd = NULL;
	t->max_fds = 0;
	mutex_destroy(&t->lock);
}

/* Under the lock: room for slot @nr. */
static int expand_fdtable(struct fdtable *t, unsigned nr)
{
	unsigned n = t->max_fds ? t->max_fds : 64;
	struct file **fd;

	while (n <= nr)
		n *= 2;
	if (n > PC_NR_OPEN_MAX)
		n = PC_NR_OPEN_MAX;
	if (nr >= n)
		return -EMFILE;
	fd = realloc(t->fd, n * sizeof(*fd));
	if (!fd)
		return -ENOMEM;
	memset(fd + t->max_fds, 0, (n - t->max_fds) * sizeof(*fd));
	t->fd = fd;
	t->max_fds = n;
	return 0;
}

int fd_install(struct fdtable *t, struct file *f)
{
	unsigned nr;
	int err;

	mutex_lock(&t->lock);
	for (nr = t->next_fd; nr < t->max_fds; nr++)
		if (!t->fd[nr])
			break;
	if (nr >= t->max_fds) {
		err = expand_fdtable(t, nr);
		if (err) {
			mutex_unlock(&t->lock);
			return err;
		}
	}
	t->fd[nr] = f;
	t->next_fd = nr + 1;
	mutex_unlock(&t->lock);
	return (int)nr;
}

/* @mask: f_mode bits that make the lookup fail (FMODE_PATH for fdget). */
static struct file *__fget(struct fdtable *t, int fd, unsigned mask)
{
	struct file *f = NULL;

	if (fd < 0)
		return NULL;
	mutex_lock(&t->lock);
	if ((unsigned)fd < t->max_fds) {
		f = t->fd[fd];
		if (f && (f->f_mode & mask))
			f = NULL;
		if (f)
			get_file(f);
	}
	mutex_unlock(&t->lock);
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
	struct file *f = NULL;

	if (fd < 0)
		return NULL;
	mutex_lock(&t->lock);
	if ((unsigned)fd < t->max_fds) {
		f = t->fd[fd];
		t->fd[fd] = NULL;
		if (f && (unsigned)fd < t->next_fd)
			t->next_fd = (unsigned)fd;
	}
	mutex_unlock(&t->lock);
	return f;
}

struct file *fd_remove_next(struct fdtable *t, int *fd)
{
	struct file *f = NULL;

	mutex_lock(&t->lock);
	for (unsigned nr = (unsigned)*fd; nr < t->max_fds; nr++) {
		if (t->fd[nr]) {
			f = t->fd[nr];
			t->fd[nr] = NULL;
			if (nr < t->next_fd)
				t->next_fd = nr;
			*fd = (int)nr;
			break;
		}
	}
	mutex_unlock(&t->lock);
	return f;
}

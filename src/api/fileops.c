/* SPDX-License-Identifier: MIT */
/*
 * fileops.c - the calls on open files beyond I/O: pc_dup (a second fd for
 * the same open file), pc_sync (syncfs of the whole engine), pc_flock and
 * pc_ofd_lock (advisory locks, fs/locks.c: owned by the open file, shared
 * by its pc_dup copies, in-process), and pc_flock_cancelable with its
 * cancel tokens (struct pc_cancel: kernel/cancel.h).
 *
 * Locks: none held here; fd_table_lock (leaf) inside fdget/fd_install;
 * a token's mutex (leaf) inside kernel/cancel.c;
 * flc_lock (leaf) inside fs/locks.c; sync_inodes takes the inode table
 * lock (leaf) only to reference the inodes.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/file.h>

#include "api/engine.h"
#include "fs/flock_glock.h"
#include "fs/locks.h"
#include "kernel/cancel.h"

struct pc_cancel {
	struct cancel_token t;
};

int pc_dup(struct pc_engine *e, int fd)
{
	ENGINE_ENTER(e);
	struct file *f;
	int nfd;

	if (!e)
		return -EINVAL;
	f = fdget_raw(&e->fdt, fd); /* O_PATH fds too */
	if (!f)
		return -EBADF;
	nfd = fd_install(&e->fdt, f); /* takes over fdget's reference */
	if (nfd < 0)
		fdput(e, f);
	return nfd;
}

int pc_sync(struct pc_engine *e)
{
	ENGINE_ENTER(e);
	if (!e)
		return -EINVAL;
	return sync_inodes(&e->itable);
}

struct pc_cancel *pc_cancel_new(void)
{
	struct pc_cancel *c = malloc(sizeof(*c));

	if (c)
		cancel_init(&c->t);
	return c;
}

void pc_cancel_fire(struct pc_cancel *c)
{
	if (c)
		cancel_fire(&c->t);
}

void pc_cancel_free(struct pc_cancel *c)
{
	if (!c)
		return;
	cancel_destroy(&c->t);
	free(c);
}

/* A call that may wait, under the token @c (NULL: none): 0, or -EINTR when
 * @c was fired already (the call is not made). */
static int call_enter(struct pc_cancel *c)
{
	return c ? cancel_enter(&c->t) : 0;
}

static void call_leave(struct pc_cancel *c)
{
	if (c)
		cancel_leave(&c->t);
}

int pc_flock_cancelable(struct pc_engine *e, int fd, int op, struct pc_cancel *c)
{
	ENGINE_ENTER(e);
	struct file *f;
	bool waits = !(op & LOCK_NB) && (op & ~LOCK_NB) != LOCK_UN;
	int ret;

	if (!e)
		return -EINVAL;
	f = fdget(&e->fdt, fd);
	if (!f)
		return -EBADF;
	ret = call_enter(waits ? c : NULL);
	if (!ret) {
		ret = file_flock(f, op);
		call_leave(waits ? c : NULL);
	}
	fdput(e, f);
	return ret;
}

int pc_flock(struct pc_engine *e, int fd, int op)
{
	return pc_flock_cancelable(e, fd, op, NULL);
}

int pc_ofd_lock(struct pc_engine *e, int fd, int cmd, struct flock *fl)
{
	ENGINE_ENTER(e);
	struct file *f;
	int ret;

	if (!e)
		return -EINVAL;
	if (!fl)
		return -EFAULT;
	f = fdget(&e->fdt, fd);
	if (!f)
		return -EBADF;
	ret = locks_ofd(f, cmd, fl);
	fdput(e, f);
	return ret;
}

int pc_posix_lock(struct pc_engine *e, int fd, int cmd, struct flock *fl, uint64_t owner,
		  struct pc_cancel *c)
{
	ENGINE_ENTER(e);
	struct file *f;
	int ret;

	if (!e)
		return -EINVAL;
	if (!fl)
		return -EFAULT;
	f = fdget(&e->fdt, fd);
	if (!f)
		return -EBADF;
	ret = call_enter(cmd == F_SETLKW ? c : NULL);
	if (!ret) {
		ret = locks_posix(f, owner, cmd, fl);
		call_leave(cmd == F_SETLKW ? c : NULL);
	}
	fdput(e, f);
	return ret;
}

/* SPDX-License-Identifier: MIT */
/*
 * locks.c - flock(2) locks on the engine's files, after Linux's fs/locks.c,
 * and the inode's lock context they share with the byte-range locks
 * (posix_locks.c): a flock lock's owner is the open file (struct file), so
 * every fd of one open file (pc_dup) shares it and it goes with the file's
 * last reference (fput -> locks_remove_file). A flock lock is whole file,
 * shared or exclusive, converted by taking it again (the old lock is
 * dropped first and waiters woken, as Linux does).
 *
 * A blocked flock gives up with -EINTR when its task is killed: a cancel
 * token fired (kernel/cancel.h; the FUSE server's FUSE_INTERRUPT). A waiter
 * is no entry in the lists, only a sleeper, so it leaves nothing behind.
 *
 * Locks: the inode's "flc_lock" (leaf mutex) around its lists; waiting
 * sleeps with no lock held on ctx->wait until ctx->seq moves.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/file.h>

#include "fs/file.h"
#include "fs/locks.h"

TEST_SWITCH(locks_test_flock_unkillable);

static DEFINE_LOCK_CLASS(flc_plock_key, "flc_plock");
static DEFINE_LOCK_CLASS(flc_lock_key, "flc_lock");

void locks_init_context(struct file_lock_context *ctx)
{
	mutex_init_class(&ctx->plock, &flc_plock_key);
	mutex_init_class(&ctx->lock, &flc_lock_key);
	INIT_LIST_HEAD(&ctx->flc_flock);
	INIT_LIST_HEAD(&ctx->flc_posix);
	init_waitqueue_head(&ctx->wait);
	ctx->seq = 0;
}

void locks_destroy_context(struct file_lock_context *ctx)
{
	mutex_destroy(&ctx->lock);
	mutex_destroy(&ctx->plock);
}

struct file_lock_context *file_ctx(struct file *f)
{
	return f->f_inode ? &f->f_inode->i_flctx : NULL;
}

int locks_wait(struct file_lock_context *ctx, uint64_t seen, bool killable)
{
	if (killable)
		return wait_event_killable(
		    &ctx->wait, __atomic_load_n(&ctx->seq, __ATOMIC_ACQUIRE) != seen, "file lock");
	wait_event(&ctx->wait, __atomic_load_n(&ctx->seq, __ATOMIC_ACQUIRE) != seen, "file lock");
	return 0;
}

/* ---- flock ---- */

static struct file_lock *flock_find_own(struct file_lock_context *ctx, struct file *f)
{
	struct file_lock *fl;

	list_for_each_entry (fl, &ctx->flc_flock, fl_list)
		if (fl->fl_file == f)
			return fl;
	return NULL;
}

static bool flock_conflicts(struct file_lock_context *ctx, struct file *f, int type)
{
	struct file_lock *fl;

	list_for_each_entry (fl, &ctx->flc_flock, fl_list)
		if (fl->fl_file != f && types_conflict(fl->fl_type, type))
			return true;
	return false;
}

int locks_flock(struct file *f, int op)
{
	struct file_lock_context *ctx = file_ctx(f);
	bool nb = op & LOCK_NB;
	struct file_lock *own, *nfl = NULL;
	int type, err = 0;

	switch (op & ~LOCK_NB) {
	case LOCK_SH:
		type = F_RDLCK;
		break;
	case LOCK_EX:
		type = F_WRLCK;
		break;
	case LOCK_UN:
		type = F_UNLCK;
		break;
	default:
		return -EINVAL;
	}
	if (!ctx)
		return -EINVAL; /* directories have no lock context here */
	if (type != F_UNLCK) {
		nfl = calloc(1, sizeof(*nfl));
		if (!nfl)
			return -ENOMEM;
		nfl->fl_file = f;
		nfl->fl_type = type;
		nfl->fl_start = 0;
		nfl->fl_end = OFFSET_MAX;
	}
	__atomic_store_n(&f->f_has_locks, true, __ATOMIC_RELAXED);
	mutex_lock(&ctx->lock);
	own = flock_find_own(ctx, f);
	if (own && own->fl_type == type) {
		mutex_unlock(&ctx->lock);
		free(nfl);
		return 0;
	}
	if (own) { /* unlock, or a conversion: the old lock goes first */
		list_del_init(&own->fl_list);
		free(own);
		locks_wake(ctx);
		wake_up_all(&ctx->wait);
	}
	while (nfl && flock_conflicts(ctx, f, type)) {
		uint64_t seen = __atomic_load_n(&ctx->seq, __ATOMIC_ACQUIRE);

		if (nb) {
			err = -EWOULDBLOCK;
			break;
		}
		mutex_unlock(&ctx->lock);
		err = locks_wait(ctx, seen, !READ_ONCE(locks_test_flock_unkillable));
		mutex_lock(&ctx->lock);
		if (err)
			break; /* a fired cancel token: nothing queued to undo */
	}
	if (nfl && !err) {
		list_add_tail(&nfl->fl_list, &ctx->flc_flock);
		nfl = NULL;
	}
	mutex_unlock(&ctx->lock);
	free(nfl);
	return err;
}

void locks_remove_file(struct file *f)
{
	struct file_lock_context *ctx = file_ctx(f);
	struct file_lock *fl, *tmp;
	bool released = false;

	if (!ctx || !__atomic_load_n(&f->f_has_locks, __ATOMIC_RELAXED))
		return;
	mutex_lock(&ctx->lock);
	list_for_each_entry_safe (fl, tmp, &ctx->flc_flock, fl_list)
		if (fl->fl_file == f) {
			list_del_init(&fl->fl_list);
			free(fl);
			released = true;
		}
	if (released)
		locks_wake(ctx);
	mutex_unlock(&ctx->lock);
	if (released)
		wake_up_all(&ctx->wait);
	posix_locks_remove_file(f);
}

/* SPDX-License-Identifier: MIT */
/*
 * locks.c - flock(2) and OFD byte-range locks on the engine's files, after
 * Linux's fs/locks.c: a lock's owner is the open file (struct file), so
 * every fd of one open file (pc_dup) shares its locks and they go with the
 * file's last reference (fput -> locks_remove_file). A flock lock is whole
 * file, shared or exclusive, converted by taking it again (the old lock is
 * dropped first and waiters woken, as Linux does). OFD locks are
 * fcntl-style ranges: a file's own locks in a range are replaced (split at
 * the edges) by a new one; F_UNLCK removes them. OFD waits have no deadlock
 * detection (Linux has none for OFD locks either).
 *
 * A blocked flock gives up with -EINTR when its task is killed: a cancel
 * token fired (kernel/cancel.h; the FUSE server's FUSE_INTERRUPT). A waiter
 * is no entry in the lists, only a sleeper, so it leaves nothing behind.
 * OFD waits are not killable (no caller has a token for them).
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

static DEFINE_LOCK_CLASS(flc_lock_key, "flc_lock");

#define OFFSET_MAX INT64_MAX

struct file_lock {
	struct list_head fl_list;
	struct file *fl_file;	  /* the owner */
	int fl_type;		  /* F_RDLCK or F_WRLCK */
	int64_t fl_start, fl_end; /* inclusive; OFFSET_MAX: to the end of any file */
};

void locks_init_context(struct file_lock_context *ctx)
{
	mutex_init_class(&ctx->lock, &flc_lock_key);
	INIT_LIST_HEAD(&ctx->flc_flock);
	INIT_LIST_HEAD(&ctx->flc_posix);
	init_waitqueue_head(&ctx->wait);
	ctx->seq = 0;
}

void locks_destroy_context(struct file_lock_context *ctx)
{
	mutex_destroy(&ctx->lock);
}

static struct file_lock_context *file_ctx(struct file *f)
{
	return f->f_inode ? &f->f_inode->i_flctx : NULL;
}

/* A release happened (ctx->lock held): waiters look again. */
static void locks_wake(struct file_lock_context *ctx)
{
	__atomic_fetch_add(&ctx->seq, 1, __ATOMIC_RELEASE);
}

/* Sleeps until a release after @seen. @killable: a kill of the task (a
 * fired cancel token, kernel/cancel.h) ends the wait: -EINTR. */
static int locks_wait(struct file_lock_context *ctx, uint64_t seen, bool killable)
{
	if (killable)
		return wait_event_killable(
		    &ctx->wait, __atomic_load_n(&ctx->seq, __ATOMIC_ACQUIRE) != seen, "file lock");
	wait_event(&ctx->wait, __atomic_load_n(&ctx->seq, __ATOMIC_ACQUIRE) != seen, "file lock");
	return 0;
}

static bool types_conflict(int a, int b)
{
	return a == F_WRLCK || b == F_WRLCK;
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

/* ---- OFD byte-range locks ---- */

/* struct flock -> [*start, *end] (inclusive), fcntl(2)'s rules. */
static int flock_to_range(struct file *f, const struct flock *fl, int64_t *start, int64_t *end)
{
	int64_t base, s, len = fl->l_len;

	switch (fl->l_whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = file_pos_read(f);
		break;
	case SEEK_END:
		base = i_size_read(f->f_mapping);
		break;
	default:
		return -EINVAL;
	}
	if (__builtin_add_overflow(base, (int64_t)fl->l_start, &s))
		return -EOVERFLOW;
	if (len > 0) {
		if (s < 0)
			return -EINVAL;
		*start = s;
		*end = len - 1 > OFFSET_MAX - s ? OFFSET_MAX : s + len - 1;
	} else if (len < 0) { /* [s + len, s - 1] */
		if (s + len < 0)
			return -EINVAL;
		*start = s + len;
		*end = s - 1;
	} else {
		if (s < 0)
			return -EINVAL;
		*start = s;
		*end = OFFSET_MAX;
	}
	return 0;
}

static struct file_lock *posix_conflict(struct file_lock_context *ctx, struct file *f, int type,
					int64_t start, int64_t end)
{
	struct file_lock *fl;

	list_for_each_entry (fl, &ctx->flc_posix, fl_list)
		if (fl->fl_file != f && fl->fl_start <= end && start <= fl->fl_end &&
		    types_conflict(fl->fl_type, type))
			return fl;
	return NULL;
}

static void posix_insert_sorted(struct file_lock_context *ctx, struct file_lock *nfl)
{
	struct file_lock *fl;

	list_for_each_entry (fl, &ctx->flc_posix, fl_list)
		if (fl->fl_start > nfl->fl_start) {
			list_add_tail(&nfl->fl_list, &fl->fl_list);
			return;
		}
	list_add_tail(&nfl->fl_list, &ctx->flc_posix);
}

/*
 * Replaces @f's locks in [start, end] by one of @type (F_UNLCK: none),
 * ctx->lock held. @spare: a preallocated lock for a split (consumed if
 * used, else left). Returns true if a lock was removed or shrunk.
 */
static bool posix_apply(struct file_lock_context *ctx, struct file *f, int type, int64_t start,
			int64_t end, struct file_lock *nfl, struct file_lock **spare)
{
	struct file_lock *fl, *tmp;
	bool released = false;

	list_for_each_entry_safe (fl, tmp, &ctx->flc_posix, fl_list) {
		if (fl->fl_file != f || fl->fl_end < start || fl->fl_start > end)
			continue;
		if (fl->fl_type != type)
			released = true;
		if (fl->fl_start < start && fl->fl_end > end) { /* split in two */
			struct file_lock *right = *spare;

			*spare = NULL;
			*right = *fl;
			right->fl_start = end + 1;
			fl->fl_end = start - 1;
			posix_insert_sorted(ctx, right);
		} else if (fl->fl_start < start) {
			fl->fl_end = start - 1;
		} else if (fl->fl_end > end) {
			list_del_init(&fl->fl_list);
			fl->fl_start = end + 1;
			posix_insert_sorted(ctx, fl);
		} else {
			list_del_init(&fl->fl_list);
			free(fl);
		}
	}
	if (nfl) {
		/* Merge with @f's adjacent locks of the same type. */
		list_for_each_entry_safe (fl, tmp, &ctx->flc_posix, fl_list) {
			if (fl->fl_file != f || fl->fl_type != type)
				continue;
			if ((fl->fl_end != OFFSET_MAX && fl->fl_end + 1 == nfl->fl_start) ||
			    (nfl->fl_end != OFFSET_MAX && nfl->fl_end + 1 == fl->fl_start)) {
				if (fl->fl_start < nfl->fl_start)
					nfl->fl_start = fl->fl_start;
				if (fl->fl_end > nfl->fl_end)
					nfl->fl_end = fl->fl_end;
				list_del_init(&fl->fl_list);
				free(fl);
			}
		}
		posix_insert_sorted(ctx, nfl);
	}
	return released;
}

int locks_ofd(struct file *f, int cmd, struct flock *fl)
{
	struct file_lock_context *ctx = file_ctx(f);
	struct file_lock *nfl = NULL, *spare = NULL, *c;
	int64_t start, end;
	int err;

	if (cmd != F_OFD_GETLK && cmd != F_OFD_SETLK && cmd != F_OFD_SETLKW)
		return -EINVAL;
	if (fl->l_pid != 0)
		return -EINVAL; /* fcntl(2): l_pid must be 0 for OFD locks */
	if (fl->l_type != F_RDLCK && fl->l_type != F_WRLCK && fl->l_type != F_UNLCK)
		return -EINVAL;
	if (!ctx)
		return -EINVAL;
	err = flock_to_range(f, fl, &start, &end);
	if (err)
		return err;
	if (cmd == F_OFD_GETLK) {
		if (fl->l_type == F_UNLCK)
			return -EINVAL;
		mutex_lock(&ctx->lock);
		c = posix_conflict(ctx, f, fl->l_type, start, end);
		if (c) {
			fl->l_type = (short)c->fl_type;
			fl->l_whence = SEEK_SET;
			fl->l_start = c->fl_start;
			fl->l_len = c->fl_end == OFFSET_MAX ? 0 : c->fl_end - c->fl_start + 1;
			fl->l_pid = -1;
		} else {
			fl->l_type = F_UNLCK;
		}
		mutex_unlock(&ctx->lock);
		return 0;
	}
	if ((fl->l_type == F_RDLCK && !(f->f_mode & FMODE_READ)) ||
	    (fl->l_type == F_WRLCK && !(f->f_mode & FMODE_WRITE)))
		return -EBADF;
	spare = malloc(sizeof(*spare));
	if (fl->l_type != F_UNLCK)
		nfl = calloc(1, sizeof(*nfl));
	if (!spare || (fl->l_type != F_UNLCK && !nfl)) {
		free(spare);
		free(nfl);
		return -ENOMEM;
	}
	if (nfl) {
		nfl->fl_file = f;
		nfl->fl_type = fl->l_type;
		nfl->fl_start = start;
		nfl->fl_end = end;
	}
	__atomic_store_n(&f->f_has_locks, true, __ATOMIC_RELAXED);
	mutex_lock(&ctx->lock);
	while (nfl && posix_conflict(ctx, f, nfl->fl_type, start, end)) {
		uint64_t seen = __atomic_load_n(&ctx->seq, __ATOMIC_ACQUIRE);

		if (cmd == F_OFD_SETLK) {
			err = -EAGAIN;
			break;
		}
		mutex_unlock(&ctx->lock);
		locks_wait(ctx, seen, false);
		mutex_lock(&ctx->lock);
	}
	if (!err) {
		if (posix_apply(ctx, f, fl->l_type, start, end, nfl, &spare)) {
			locks_wake(ctx);
			wake_up_all(&ctx->wait);
		}
		nfl = NULL;
	}
	mutex_unlock(&ctx->lock);
	free(spare);
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
	list_for_each_entry_safe (fl, tmp, &ctx->flc_posix, fl_list)
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
}

/* SPDX-License-Identifier: MIT */
/*
 * flock_glock.c - flock(2) across the nodes of a cluster (gfs2's do_flock /
 * do_unflock, fs/gfs2/file.c): each inode has a second glock, of type
 * LM_TYPE_FLOCK, taken lazily at the first flock. An open file that holds a
 * flock lock holds that glock for as long (one holder per open file: EX for
 * LOCK_EX, SH for LOCK_SH; GL_NOCACHE: released to the lock service at the
 * last dq). LOCK_NB asks with GL_TRY (-EWOULDBLOCK while another node holds
 * a conflicting lock, without waiting). A conversion drops the old lock
 * first, as flock(2) documents; LOCK_UN and the open file's last close
 * release it and wait until the lock service has it back. The glock comes
 * first, then the local flock logic (fs/locks.c), which still arbitrates
 * among this node's own open files. The flock glock has no cache to write
 * back or drop: no glock operations.
 *
 * A blocking flock waits in glock_nq (GL_KILLABLE) as the local one waits
 * in fs/locks.c: until granted, or until the call's cancel token is fired
 * (pc_flock_cancelable: the FUSE server's FUSE_INTERRUPT). Cancelled, it
 * returns -EINTR once the request made for it is withdrawn from the lock
 * service (or a grant that came meanwhile released): nothing is left
 * queued that another node's flock would wait behind. A flock of the same
 * open file waiting for f_flock_lock meanwhile is not cancelled there (a
 * mutex): it waits for the first call to end.
 *
 * Locks: the open file's "f_flock_lock" (struct file_flock, a mutex) around
 * the whole call, so that one file's flock calls do not interleave (gfs2's
 * f_fl_mutex); under it the flock glock, then flc_lock (fs/locks.c). The
 * glock is outside the validator's held set once granted (GL_FILE: it
 * belongs to the file, not the thread).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/file.h>

#include "cluster/lock_module.h" /* glock_test_cancel_leaves_request */
#include "fs/cluster.h"
#include "fs/flock_glock.h"
#include "fs/locks.h"

TEST_SWITCH(cluster_test_flock_local_only);

static DEFINE_LOCK_CLASS(f_flock_lock_key, "f_flock_lock");

struct file_flock {
	struct mutex lock; /* "f_flock_lock" */
	struct gholder gh; /* held while gh.gh_held */
};

/* The inode's flock glock, got at first use. */
static int inode_flock_glock(struct inode *inode, struct glock **out)
{
	struct glock *gl = __atomic_load_n(&inode->i_flock_gl, __ATOMIC_ACQUIRE), *none = NULL;
	struct lm_lockname name = {
	    .ln_number = inode->i_ino, .ln_gen = inode->i_gen, .ln_type = LM_TYPE_FLOCK};
	int err;

	if (gl) {
		*out = gl;
		return 0;
	}
	err = glock_get_name(inode->i_table->cluster, &name, NULL, NULL, &gl);
	if (err)
		return err;
	if (!__atomic_compare_exchange_n(&inode->i_flock_gl, &none, gl, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		glock_put(gl); /* another thread's is in place (one more reference here) */
		gl = none;
	}
	*out = gl;
	return 0;
}

/* The open file's flock state, made at first use. */
static struct file_flock *file_flock_get(struct file *f)
{
	struct file_flock *ff = __atomic_load_n(&f->f_flock, __ATOMIC_ACQUIRE), *none = NULL;

	if (ff)
		return ff;
	ff = calloc(1, sizeof(*ff));
	if (!ff)
		return NULL;
	mutex_init_class(&ff->lock, &f_flock_lock_key);
	if (!__atomic_compare_exchange_n(&f->f_flock, &none, ff, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		mutex_destroy(&ff->lock);
		free(ff);
		ff = none;
	}
	return ff;
}

/* Under ff->lock: the held glock goes (and is back at the lock service). */
static void flock_glock_release(struct file_flock *ff)
{
	struct glock *gl = ff->gh.gh_gl;

	if (!ff->gh.gh_held)
		return;
	glock_dq(&ff->gh);
	glock_wait_released(gl);
}

int file_flock(struct file *f, int op)
{
	struct inode *inode = f->f_inode;
	enum gl_state state;
	struct file_flock *ff;
	struct glock *gl;
	int err;

	if (likely(!inode || !inode->i_table->cluster) || READ_ONCE(cluster_test_flock_local_only))
		return locks_flock(f, op);
	switch (op & ~LOCK_NB) {
	case LOCK_SH:
		state = LM_ST_SHARED;
		break;
	case LOCK_EX:
		state = LM_ST_EXCLUSIVE;
		break;
	case LOCK_UN:
		state = LM_ST_UNLOCKED;
		break;
	default:
		return -EINVAL;
	}
	ff = file_flock_get(f);
	if (!ff)
		return -ENOMEM;
	mutex_lock(&ff->lock);
	if (ff->gh.gh_held) {
		err = 0;
		if (ff->gh.gh_state == state)
			goto out;
		/* LOCK_UN, or a conversion: the old lock goes first. */
		err = locks_flock(f, LOCK_UN);
		flock_glock_release(ff);
		if (err || state == LM_ST_UNLOCKED)
			goto out;
	} else if (state == LM_ST_UNLOCKED) {
		err = locks_flock(f, op);
		goto out;
	}
	err = inode_flock_glock(inode, &gl);
	if (err)
		goto out;
	gholder_init(gl, state, GL_FILE | GL_NOCACHE | ((op & LOCK_NB) ? GL_TRY : GL_KILLABLE),
		     &ff->gh);
	err = glock_nq(&ff->gh);
	if (err) {
		if (err == -EAGAIN)
			err = -EWOULDBLOCK;
		if (err == -EINTR && !READ_ONCE(glock_test_cancel_leaves_request))
			glock_wait_released(gl); /* its request withdrawn */
		goto out;
	}
	/* This node's own open files: the local logic. */
	err = locks_flock(f, op);
	if (err)
		flock_glock_release(ff);
out:
	mutex_unlock(&ff->lock);
	return err;
}

void file_flock_remove(struct file *f)
{
	struct file_flock *ff = f->f_flock;

	if (!ff)
		return;
	mutex_lock(&ff->lock);
	flock_glock_release(ff);
	mutex_unlock(&ff->lock);
	mutex_destroy(&ff->lock);
	free(ff);
	f->f_flock = NULL;
}

void inode_flock_glock_put(struct inode *inode)
{
	if (inode->i_flock_gl) {
		glock_put(inode->i_flock_gl);
		inode->i_flock_gl = NULL;
	}
}

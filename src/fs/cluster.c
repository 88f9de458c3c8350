/* SPDX-License-Identifier: MIT */
/*
 * cluster.c - the engine glue of cluster mode (fs/cluster.h): each inode's
 * glock (named by the store inode number and its generation, the same on
 * every node of a shared dir store), the fault path's glock (the mapping's fault_lock hook),
 * the rounds of an I/O after a restart (glock_io_rounds_restart) and the
 * restart step of the cross-file fault protocol.
 *
 * Locks: the fault hook takes the faulting file's glock (SH, or EX for a
 * store that dirties a page) with the mm lock dropped and the view pinned
 * (mm/fault.c), before the fill's invalidate lock. While the faulting thread
 * holds a glock (an I/O path copying to or from a view) it never waits for
 * another: it asks with GL_NOWAIT, and when that fails it fails the fault
 * with current->glock_restart set and the glock it wanted recorded; the
 * I/O path drops its glock and takes it again with that one (number order,
 * glock_io_rounds), under which the fault then fills (current->glock_pin);
 * a fault on the file the I/O holds the glock of fills under that glock
 * where its state covers the fault's (current->glock_io). Where nothing was
 * recorded the I/O faults in with glock_restart_fault_in (no glock held:
 * the fault may wait) and takes its glock again. No lock of its own.
 */
#include <errno.h>

#include "fs/cluster.h"

#define GLOCK_FAULT_IN_MAX (256u << 10)

TEST_SWITCH(cluster_test_no_restart);
TEST_SWITCH(cluster_test_no_inval);
TEST_SWITCH(cluster_test_seek_no_glock);
TEST_SWITCH(cluster_test_setattr_no_glock);
TEST_SWITCH(cluster_test_remap_no_glock);
TEST_SWITCH(cluster_test_sync_error_ignored);
TEST_SWITCH(cluster_test_fadvise_no_glock);
TEST_SWITCH(cluster_test_restart_no_pin);
TEST_SWITCH(cluster_test_restart_no_own);
TEST_SWITCH(cluster_test_sync_last_round_only);

static void glock_restart_want(struct task *t, struct glock *gl, enum gl_state state);

void inode_table_set_cluster(struct inode_table *t, struct cluster *c)
{
	t->cluster = c && !cluster_is_nolock(c) ? c : NULL;
}

/*
 * The fault's fill under the glock. A thread that already holds a glock
 * (its I/O path is copying into or out of this view) must not wait: the
 * holder of the glock it would wait for may be another node waiting for
 * ours (the cross-file fault deadlock: A reads F1 into its view of F2 while B reads F2 into its
 * view of F1). It takes the glock only if the cached state grants it at
 * once, else it fails the fault with the restart flag set.
 */
static bool inode_fault_lock(struct address_space *m, bool excl, bool (*fill)(void *arg), void *arg)
{
	struct inode *inode = mapping_inode(m);
	enum gl_state state = excl ? LM_ST_EXCLUSIVE : LM_ST_SHARED;
	struct gholder gh;
	bool ok;
	int err;

	struct task *t = current;

	/* The restart's second round holds this glock for us, or the I/O is
	 * of this very file and holds its glock in a state that covers ours
	 * (glock_io_rounds). */
	if (glock_ref_covers(&t->glock_pin, inode->i_gl, state))
		return fill(arg);
	if (!READ_ONCE(cluster_test_restart_no_own) &&
	    glock_ref_covers(&t->glock_io, inode->i_gl, state))
		return fill(arg);
	if (glock_task_held() && !READ_ONCE(cluster_test_no_restart)) {
		gholder_init(inode->i_gl, state, GL_NOWAIT, &gh);
		err = glock_nq(&gh);
		if (err == -EAGAIN) {
			t->glock_restart = true;
			t->stats.fault_retries++;
			glock_restart_want(t, inode->i_gl, state);
			return false;
		}
	} else {
		gholder_init(inode->i_gl, state, 0, &gh);
		err = glock_nq(&gh);
	}
	if (err)
		return false; /* -EIO: membership lost; the access gets SIGBUS */
	ok = fill(arg);
	glock_dq(&gh);
	return ok;
}

/* The inode's glock name: its number and generation (inode_test_no_generation:
 * i_gen is 0). */
static void inode_glock_name(const struct inode *inode, struct lm_lockname *name)
{
	name->ln_number = inode->i_ino;
	name->ln_gen = inode->i_gen;
	name->ln_type = LM_TYPE_INODE;
}

int inode_glock_get(struct inode *inode)
{
	struct cluster *c = inode->i_table->cluster;
	struct lm_lockname name;
	int err;

	if (likely(!c))
		return 0;
	inode_glock_name(inode, &name);
	err = glock_get_name(c, &name, &inode_glops, inode, &inode->i_gl);
	if (err)
		return err;
	inode->i_data.fault_lock = inode_fault_lock;
	return 0;
}

/*
 * The inode goes: its glock must never run an operation on it again, and
 * one may be running now (glock_put forgets the object but does not wait).
 * The worker runs them only while no holder is active, and no holder is
 * granted while one runs: so hold the glock (the cached state if that is
 * granted at once, else SH), detach the object while holding it (glock_get
 * of the same number with no object), let go, and put both references. A
 * node that lost its membership runs no operation (nq fails): detach only.
 */
void inode_glock_put(struct inode *inode)
{
	struct glock *gl = inode->i_gl, *same;
	struct lm_lockname name;
	enum gl_state cached;
	struct gholder gh;
	int err = -EAGAIN;

	if (!gl)
		return;
	cached = glock_state(gl);
	if (cached != LM_ST_UNLOCKED) {
		gholder_init(gl, cached, GL_NOWAIT, &gh);
		err = glock_nq(&gh);
	}
	if (err == -EAGAIN) {
		gholder_init(gl, LM_ST_SHARED, 0, &gh);
		err = glock_nq(&gh);
	}
	inode_glock_name(inode, &name);
	if (glock_get_name(inode->i_table->cluster, &name, &inode_glops, NULL, &same) == 0)
		glock_put(same); /* (never freed here: ours is still counted) */
	if (!err)
		glock_dq(&gh);
	inode->i_gl = NULL;
	inode->i_data.fault_lock = NULL;
	glock_put(gl);
}

/* A fault refused for @gl in @state while a read's or a write's step runs:
 * the next round takes @gl too (the first refusal's glock; a stronger state for it
 * wins). */
static void glock_restart_want(struct task *t, struct glock *gl, enum gl_state state)
{
	if (!t->glock_want_record || READ_ONCE(cluster_test_restart_no_pin))
		return;
	if (!t->glock_want.gl) {
		glock_hold(gl);
		t->glock_want = (struct glock_ref){gl, (uint8_t)state};
	} else if (t->glock_want.gl == gl && state == LM_ST_EXCLUSIVE) {
		t->glock_want.state = LM_ST_EXCLUSIVE;
	}
}

void glock_restart_unwant(struct task *t)
{
	if (t->glock_want.gl) {
		glock_put(t->glock_want.gl);
		t->glock_want.gl = NULL;
	}
}

/*
 * The rounds after the first one's restart: @ret is what the last round's
 * step returned, @done and @last_end the bytes of the rounds so far and
 * where they ended. Each pass decides how the next round goes (with the
 * glock the refused fault wanted, in EX for the file's own view, or after
 * a fault-in with no glock held) and runs it.
 */
ssize_t glock_io_rounds_restart(struct kiocb *iocb, struct iov_iter *iter, enum gl_state state,
				bool to_user,
				ssize_t (*step)(struct kiocb *iocb, struct iov_iter *iter),
				struct io_span *span, ssize_t ret, ssize_t done, int64_t last_end)
{
	struct glock *gl = iocb->ki_filp->f_inode->i_gl;
	bool nowait = iocb->ki_flags & IOCB_NOWAIT;
	unsigned flags = nowait ? GL_NOWAIT : 0;
	struct task *t = current;
	struct glock_ref pin = {NULL, LM_ST_UNLOCKED};
	enum gl_state io_state = state;
	struct gholder gh, pgh;
	bool restart;

	for (;;) {
		/* (tests/cluster test_osync_rounds: another node appends here) */
		sched_race_window("glock_io_rounds: between rounds");
		if (t->glock_want.gl == gl && !READ_ONCE(cluster_test_restart_no_own)) {
			io_state = LM_ST_EXCLUSIVE; /* the file's own view */
			glock_restart_unwant(t);
		} else if (t->glock_want.gl && t->glock_want.gl != gl) {
			pin = t->glock_want; /* (its reference) */
			t->glock_want.gl = NULL;
		} else if (nowait) {
			ret = -EAGAIN; /* a fault-in may wait for a glock */
			break;
		} else if (!glock_restart_fault_in(iter, to_user)) {
			break;
		}
		gholder_init(gl, io_state, flags, &gh);
		if (pin.gl) {
			gholder_init(pin.gl, (enum gl_state)pin.state, flags, &pgh);
			ret = glock_nq_two(&gh, &pgh);
		} else {
			ret = glock_nq(&gh);
		}
		if (ret)
			break;
		if (pin.gl)
			t->glock_pin = pin;
		ret = round_step(t, gl, io_state, iocb, iter, step, &restart);
		if (pin.gl) {
			t->glock_pin.gl = NULL;
			glock_dq(&pgh);
		}
		glock_dq(&gh);
		if (pin.gl) {
			glock_put(pin.gl);
			pin.gl = NULL;
		}
		if (ret > 0) {
			done += ret;
			last_end = iocb->ki_pos;
			if (span)
				io_span_add(span, last_end - ret, last_end);
		}
		if (!restart)
			break;
	}
	if (pin.gl)
		glock_put(pin.gl);
	glock_restart_unwant(t);
	if (done)
		iocb->ki_pos = last_end;
	return done ? done : ret;
}

bool glock_restart_fault_in(struct iov_iter *iter, bool to_user)
{
	/* A window at a time, as the kernel's fault_in_iov_iter_*: what a
	 * round faults in is what its copy can use before another node may
	 * take the pages back. */
	size_t n = iter->count < GLOCK_FAULT_IN_MAX ? iter->count : GLOCK_FAULT_IN_MAX, left;

	if (!n)
		return false;
	left = to_user ? fault_in_iov_iter_writeable(iter, n) : fault_in_iov_iter_readable(iter, n);
	return left < n;
}

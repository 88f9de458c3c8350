/* SPDX-License-Identifier: MIT */
/*
 * cluster.h - the engine's side of cluster mode (docs/cluster.md): one glock
 * per inode (src/cluster/glock.h), taken by every I/O path of src/fs and by
 * the fault path, and the cross-file fault restart protocol.
 *
 * In nolock mode (one engine, the default) an inode has no glock (i_gl is
 * NULL) and every helper here is one predictable branch: nothing else runs.
 *
 * Which state each path takes (gfs2's):
 *   buffered read, stat of an open file, fault for a load or a store to a
 *   private view, SEEK_DATA/SEEK_HOLE, WILLNEED readahead,
 *   the source of a clone                              SH
 *   buffered write, truncate, fallocate/punch, a direct write that extends
 *   the file or falls back to the cache, a store fault through a shared
 *   writable view (page_mkwrite), chmod/chown/utimes/xattr changes, the
 *   destination of a clone                             EX
 *   direct read and direct write inside i_size         DF
 *   fsync/flush/writeback: none (dirty pages exist only under a cached EX,
 *   which go_sync writes back before it goes: fs/file.c vfs_fsync_range)
 *
 * Lock order (docs/locking.md): i_rwsem -> glock -> invalidate lock; the
 * fault path: (mm lock dropped, view pinned) -> glock -> invalidate lock.
 * A thread never waits for a glock while it holds one: the fault handler
 * asks with GL_NOWAIT when glock_task_held() is not 0 and otherwise fails
 * the fault with current->glock_restart set; the I/O path then drops its
 * glock and retries holding it and the glock the fault wanted, taken in
 * number order (glock_io_rounds below).
 */
#ifndef PC_FS_CLUSTER_H
#define PC_FS_CLUSTER_H

#include "cluster/glock.h"
#include "fs/file.h"
#include "fs/inode.h"
#include "kernel/sched.h"
#include "kernel/task.h"
#include "kernel/testswitch.h"
#include "mm/iov_iter.h"

/* Test switches (tests/cluster):
 * - cluster_test_no_restart: the fault handler waits for the glock even
 *   while its thread holds one (the cross-file fault deadlock: two nodes reading each file into
 *   a view of the other deadlock; the watchdog reports it);
 * - cluster_test_no_inval: go_inval keeps the cached pages and views (a
 *   node reads its stale cache after another node wrote: the coherence
 *   checker reports the stale read). */
DECLARE_TEST_SWITCH(cluster_test_no_restart);
DECLARE_TEST_SWITCH(cluster_test_no_inval);
/* The operations outside read/write (tests/cluster/test_glock_ops.c):
 * - cluster_test_seek_no_glock: SEEK_DATA/SEEK_HOLE takes no glock (it
 *   walks the store's map while another node holds the file's data dirty:
 *   a stale answer);
 * - cluster_test_setattr_no_glock: chmod/chown/utimes take no glock
 *   (another node's cached times hide them, its later writeback moves
 *   the mtime set);
 * - cluster_test_remap_no_glock: clone/dedupe (and copy_file_range's clone)
 *   take no glock (a clone of the store's stale data);
 * - cluster_test_sync_error_ignored: go_sync ignores a writeback that
 *   failed (the dirty pages stay past the demote: dirty under SH, written
 *   to the store later while other nodes hold SH). */
DECLARE_TEST_SWITCH(cluster_test_seek_no_glock);
DECLARE_TEST_SWITCH(cluster_test_setattr_no_glock);
DECLARE_TEST_SWITCH(cluster_test_remap_no_glock);
DECLARE_TEST_SWITCH(cluster_test_sync_error_ignored);
/* - cluster_test_fadvise_no_glock: POSIX_FADV_WILLNEED reads ahead with no
 *   glock (pages read while another node holds EX stay cached, stale). */
DECLARE_TEST_SWITCH(cluster_test_fadvise_no_glock);
/* - cluster_test_restart_no_pin: a read's or a write's restart faults in
 *   with no glock held and retries with its own glock alone (no second
 *   glock taken with it): two nodes reading, or writing, crosswise
 *   ping-pong (tests/cluster test_cross_fault: an I/O that restarts more
 *   than once). */
DECLARE_TEST_SWITCH(cluster_test_restart_no_pin);
/* - cluster_test_restart_no_own: a fault on a view of the file the I/O
 *   holds the glock of is refused as any other (no fill under the round's
 *   own glock) and its restart faults in with no glock held, then takes
 *   the round's state again (no EX round): an O_DIRECT write from (or a
 *   read into) a view of the same file restarts without end, each DF
 *   round dropping the pages the fault-in brought (tests/cluster
 *   test_cross_fault own_view_*). */
DECLARE_TEST_SWITCH(cluster_test_restart_no_own);
/* - cluster_test_sync_last_round_only: an O_SYNC/O_DSYNC (RWF_SYNC) write
 *   syncs [ki_pos - done, ki_pos) after its rounds rather than the span of
 *   every round's bytes: where another node appended between two rounds of
 *   an O_APPEND write the range misses the first round's bytes (tests/cluster
 *   test_osync_rounds: the store's sync ranges, seen by its hook, do not
 *   cover them). */
DECLARE_TEST_SWITCH(cluster_test_sync_last_round_only);

/* The bytes a write's rounds wrote, [start, end) (the lowest start and the
 * highest end of them: rounds of an O_APPEND write land where the file ended
 * as of each round's glock, not next to each other, when another node
 * appended or truncated in between). Empty (start >= end) when none. */
struct io_span {
	int64_t start, end;
};

static inline void io_span_add(struct io_span *span, int64_t start, int64_t end)
{
	if (span->start >= span->end) {
		span->start = start;
		span->end = end;
		return;
	}
	if (start < span->start)
		span->start = start;
	if (end > span->end)
		span->end = end;
}

/* The glock held by one call: a holder, or nothing (nolock). */
struct inode_gh {
	struct gholder gh;
	bool held;
};

/* Engine open/close: the inode table's cluster (NULL or a nolock one: no
 * glocks) and the mount's kernel-cache invalidation hook. */
void inode_table_set_cluster(struct inode_table *t, struct cluster *c);

/* At inode allocation / free: the inode's glock (cluster mode only). */
int inode_glock_get(struct inode *inode);
void inode_glock_put(struct inode *inode);

/* Takes @inode's glock in @state (GL_NOWAIT in @flags: -EAGAIN rather than
 * wait for the lock service). 0, -EAGAIN or -EIO (membership lost). */
static inline int inode_gl_nq(struct inode *inode, enum gl_state state, unsigned flags,
			      struct inode_gh *h)
{
	int err;

	h->held = false;
	if (likely(!inode->i_gl))
		return 0;
	gholder_init(inode->i_gl, state, flags, &h->gh);
	err = glock_nq(&h->gh);
	h->held = !err;
	return err;
}

static inline void inode_gl_dq(struct inode_gh *h)
{
	if (h->held) {
		glock_dq(&h->gh);
		h->held = false;
	}
}

/* Drops the glock a refused fault recorded for the next round (fs/cluster.c). */
void glock_restart_unwant(struct task *t);

/* The restart step, with no glock held: faults in what is left of @iter
 * (@to_user: the I/O writes into it, a read). False when not even its
 * first byte can be faulted in (a bad address: the call ends). */
bool glock_restart_fault_in(struct iov_iter *iter, bool to_user);

/* A glock held in @held lets a holder of @want share it (EX covers SH;
 * DF only DF: glock.h). */
static inline bool glock_state_covers(enum gl_state held, enum gl_state want)
{
	return held == want || (held == LM_ST_EXCLUSIVE && want == LM_ST_SHARED);
}

/* Does @ref name @gl in a state that covers @want (a task's glock_pin or
 * glock_io: the fault may fill at once)? */
static inline bool glock_ref_covers(const struct glock_ref *ref, struct glock *gl,
				    enum gl_state want)
{
	return ref->gl == gl && glock_state_covers((enum gl_state)ref->state, want);
}

/*
 * One round's step under the glock(s) just granted: the task names the
 * file's glock and state for the fault handler (glock_io), clears the
 * restart flag and records what a refused fault wants; *restart: a fault
 * asked for the glock to be dropped and the I/O retried.
 */
static inline ssize_t round_step(struct task *t, struct glock *gl, enum gl_state io_state,
				 struct kiocb *iocb, struct iov_iter *iter,
				 ssize_t (*step)(struct kiocb *iocb, struct iov_iter *iter),
				 bool *restart)
{
	struct glock_ref io_prev = t->glock_io;
	ssize_t ret;

	t->glock_io = (struct glock_ref){gl, (uint8_t)io_state};
	t->glock_restart = false;
	if (unlikely(t->glock_want.gl))
		glock_restart_unwant(t);
	t->glock_want_record = true;
	ret = step(iocb, iter);
	t->glock_want_record = false;
	*restart = t->glock_restart;
	if (unlikely(*restart)) {
		t->glock_restart = false;
		t->stats.glock_restarts++;
	}
	t->glock_io = io_prev;
	return ret;
}

/* The rounds after a first round's restart (fs/cluster.c): @ret is what
 * that round's step returned, @done and @last_end its bytes and their end. */
ssize_t glock_io_rounds_restart(struct kiocb *iocb, struct iov_iter *iter, enum gl_state state,
				bool to_user,
				ssize_t (*step)(struct kiocb *iocb, struct iov_iter *iter),
				struct io_span *span, ssize_t ret, ssize_t done, int64_t last_end);

/*
 * glock_io_rounds with a glock (below; @span reset there). The common call is one round: the
 * file's glock granted from the cached state (cluster/glock_fast.h), the
 * step, the dq; the rounds after a restart are out of line
 * (glock_io_rounds_restart), so that the one round is straight code in the
 * caller with a direct call of its step.
 */
static inline ssize_t glock_io_rounds_gl(struct kiocb *iocb, struct iov_iter *iter,
					 enum gl_state state, bool to_user,
					 ssize_t (*step)(struct kiocb *iocb, struct iov_iter *iter),
					 struct io_span *span)
{
	struct glock *gl = iocb->ki_filp->f_inode->i_gl;
	struct task *t = current;
	struct gholder gh;
	ssize_t ret;
	bool restart;

	gholder_init(gl, state, iocb->ki_flags & IOCB_NOWAIT ? GL_NOWAIT : 0, &gh);
	ret = glock_nq(&gh);
	if (ret)
		goto out;
	ret = round_step(t, gl, state, iocb, iter, step, &restart);
	glock_dq(&gh);
	if (ret > 0 && span)
		io_span_add(span, iocb->ki_pos - ret, iocb->ki_pos);
	if (unlikely(restart))
		return glock_io_rounds_restart(iocb, iter, state, to_user, step, span, ret,
					       ret > 0 ? ret : 0, ret > 0 ? iocb->ki_pos : 0);
out:
	if (unlikely(t->glock_want.gl))
		glock_restart_unwant(t);
	return ret;
}

/*
 * A read or a write in rounds, each holding the file's glock in @state
 * across @step (which copies into @iter's user memory for a read,
 * @to_user, or out of it for a write, and advances iocb->ki_pos; a write's
 * step makes its checks under the glock each round). A round a fault ended
 * short (the restart) lets its glock go; the bytes it did stay done and
 * counted. The next round takes the file's glock and the one the refused
 * fault wanted (current->glock_want: a view of another file; SH for the
 * load of a write's source, EX for a read's store into a shared view)
 * together, in number order as glock_nq_two (never holding a
 * higher-numbered glock while waiting for a lower one: no deadlock across
 * nodes), and runs the step holding both: the fault handler fills from the
 * second at once (current->glock_pin). Faulting in with no glock held and
 * retrying with the file's glock alone would let another node take the
 * view's glock back in between, every time when two nodes read or write
 * crosswise (a ping-pong of restarts; the kernel's gfs2 damps it only by
 * its minimum hold time).
 *
 * A view of the file itself needs no second glock: the fault handler fills
 * at once under the round's own glock where its state covers the fault's
 * (current->glock_io: a write's EX covers the SH of its source's loads).
 * Where it does not (DF, or a read's SH under a store), the next round
 * takes the file's glock in EX, which covers both the I/O and the fault
 * (a direct I/O under EX is the extending write's). Where no glock was
 * recorded at all, the round faults the rest of @iter in with no glock
 * held (a fault may wait then) and retries - never with IOCB_NOWAIT, which
 * ends with the bytes done or -EAGAIN rather than wait. Returns the bytes
 * of all rounds, or the error that ended the first. Without a glock: one
 * round, @step alone. Caller holds i_rwsem (before any glock).
 *
 * @span (writes; NULL for reads): where the rounds' bytes went, for the
 * write's O_SYNC/O_DSYNC sync (fs/file.c generic_write_sync), which must
 * cover every round's bytes: ki_pos - done is not the first round's start
 * once an O_APPEND round found the file grown (or cut) by another node. On
 * return iocb->ki_pos is the end of the last bytes written (a later round
 * that failed may have moved it to the file's new end in its checks).
 */
static inline ssize_t glock_io_rounds(struct kiocb *iocb, struct iov_iter *iter,
				      enum gl_state state, bool to_user,
				      ssize_t (*step)(struct kiocb *iocb, struct iov_iter *iter),
				      struct io_span *span)
{
	ssize_t ret;

	if (span)
		*span = (struct io_span){0, 0};
	/* nolock: the step alone (unlikely: a cluster's first round is
	 * inline, its restart's rounds out of line). */
	if (unlikely(iocb->ki_filp->f_inode->i_gl))
		return glock_io_rounds_gl(iocb, iter, state, to_user, step, span);
	ret = step(iocb, iter);
	if (ret > 0 && span)
		io_span_add(span, iocb->ki_pos - ret, iocb->ki_pos);
	return ret;
}

/* The glock operations on an inode (fs/glops.c). */
extern const struct glock_operations inode_glops;

#endif

/* SPDX-License-Identifier: MIT */
/*
 * glock.h - cluster glocks (after gfs2): one lock per (cluster, lock name:
 * type, 64-bit number, generation), held cluster-wide through a lock module (lm_ops: nolock or zk)
 * and cached on the node in its granted state until another node asks for a
 * conflicting one. docs/cluster.md describes the states and the protocol.
 *
 * States: UN (nothing), SH (may cache clean pages, map read-only), DF (direct
 * I/O by several nodes, nobody caches), EX (may dirty). Local holders share
 * the glock when its cached state covers the request (EX covers SH; DF only
 * DF); exclusion between local threads is the inode's own locks.
 *
 * Lock order (docs/locking.md): i_rwsem -> mm lock -> glock -> invalidate
 * lock. glock_nq is a blocking acquisition of the validator class "glock"
 * (EX exclusive, SH and DF read: a queued conflicting request, local or
 * remote, blocks new holders as a queued writer blocks rwsem readers). The
 * glock_operations run in the cluster's demote worker thread with no
 * glock-layer lock held and no holder of that glock active.
 *
 * A holder whose request the cached state covers, with nothing pending on
 * the glock, is granted on a fast path with no lock and no atomic
 * read-modify-write (src/cluster/glock_fast.h); its dq is as cheap unless
 * the worker waits for it.
 */
#ifndef PC_CLUSTER_GLOCK_H
#define PC_CLUSTER_GLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "kernel/list.h"

enum gl_state { LM_ST_UNLOCKED = 0, LM_ST_EXCLUSIVE = 1, LM_ST_DEFERRED = 2, LM_ST_SHARED = 3 };

#define GL_NOWAIT                                                                                \
	0x1 /* glock_nq: -EAGAIN unless grantable from the cached state without the lock service \
	     */
#define GL_NOCACHE 0x2 /* release to the lock service at the last dq (gfs2's GL_NOCACHE) */
/* glock_nq: ask the lock service if need be, but -EAGAIN instead of waiting
 * while another node holds a conflicting lock (gfs2's LM_FLAG_TRY): the
 * request is withdrawn. Also -EAGAIN, with no wait, while another node's
 * conflicting request is pending here past the minimum hold (the holders
 * it holds back would wait for the demote). Spurious failures are possible
 * (a lost connection; a request of another node's withdrawn try). */
#define GL_TRY 0x4
/* The holder belongs to an open file, not to the calling thread, and may be
 * dq'd by another thread (a flock): it is not counted in glock_task_held()
 * and is outside the validator's held locks once granted. Only with
 * GL_NOCACHE, which keeps it off the fast path (its slots are per thread). */
#define GL_FILE 0x8
/* glock_nq may be cancelled while it waits: a kill of the task (a fired
 * cancel token, kernel/cancel.h) ends the wait with -EINTR. The request
 * made for it, if no other local waiter wants it, is withdrawn from the lock
 * service, and a grant that came meanwhile released (GL_NOCACHE holders:
 * a flock). glock_wait_released() then waits for that. */
#define GL_KILLABLE 0x10

struct cluster; /* one per engine: lock-module instance, demote worker, membership state */
struct glock;	/* one per (cluster, lock name); counted */

/*
 * A glock's name (gfs2's struct lm_lockname): the lock type, the number and
 * the generation. For an inode: LM_TYPE_INODE, the store inode number and
 * the store's generation of that number (a host file system may give the
 * number of an unlinked file to a new one: the generation tells them
 * apart; 0 where the store has none). Every node must name one object
 * alike: the lock service's name of the lock is made of all three.
 */
enum { LM_TYPE_INODE = 2, LM_TYPE_FLOCK = 6, LM_TYPE_PLOCK = 7 }; /* gfs2's values */
struct lm_lockname {
	uint64_t ln_number;
	uint64_t ln_gen;
	uint32_t ln_type;
};

struct glock_operations {
	/* All run in the cluster's demote worker thread, with no glock-layer
	 * lock held and no holder of this glock active. */
	/* Leaving EX: write back dirty data; write-protect mapped pages.
	 * An error is logged; the demote goes on (the data stays dirty in the
	 * cache only until go_inval, as after a crash). */
	int (*go_sync)(struct glock *gl, void *object);
	/* Target UN or DF: drop cached pages, zap views, the kernel cache. */
	void (*go_inval)(struct glock *gl, void *object, enum gl_state target);
	/* First holder after a grant from the lock service: re-read attributes.
	 * Runs in the thread of that first holder (glock_nq), before any other
	 * holder is granted; an error fails that glock_nq (and the next holder
	 * tries again). */
	int (*go_instantiate)(struct glock *gl, void *object);
};

struct cluster_config {
	const char *url;	     /* NULL or "nolock" or zk://h:p[,h:p]/path */
	const char *node_name;	     /* this node's name in the lock service (NULL: host.pid) */
	unsigned connect_timeout_ms; /* 0: 5000 */
	unsigned session_timeout_ms; /* 0: 10000 */
	unsigned min_hold_ms;	     /* 0: 10 (the kernel's gl_hold_time is 200 ms) */
	/* How the nodes name a file's generation (the store's source of it,
	 * e.g. "FS_IOC_GETVERSION"; NULL: "none"). Every node of a cluster must
	 * use the same: it is part of the recipe the lock root names. */
	const char *identity;
};

/*
 * Returns 0, -EINVAL for a malformed URL, -ETIMEDOUT or -ECONNREFUSED for an
 * unreachable lock service, -ENOMEM. The reason of a failure is also left in
 * cluster_last_error() (a thread-local string) for the caller to print.
 */
int cluster_mount(const struct cluster_config *cfg, struct cluster **out);
const char *cluster_last_error(void);
/* Releases every glock (no go_* callbacks: the engine has written back
 * already) and ends the session. All glocks must have been put. */
void cluster_unmount(struct cluster *c);
bool cluster_is_nolock(const struct cluster *c);
/* 0 while membership is valid; -EIO after the lease was lost, until rejoined. */
int cluster_status(const struct cluster *c);

/* The glock named @name (created unlocked at first use), counted. Points the
 * glock's operations at @object (NULL detaches). */
int glock_get_name(struct cluster *c, const struct lm_lockname *name,
		   const struct glock_operations *ops, void *object, struct glock **out);
/* The inode glock of @number, generation 0 (the tests' and benchmarks'). */
int glock_get(struct cluster *c, uint64_t number, const struct glock_operations *ops, void *object,
	      struct glock **out);
void glock_put(struct glock *gl);
/* Another reference to @gl (one glock_put each). */
void glock_hold(struct glock *gl);
uint64_t glock_number(const struct glock *gl);
const struct lm_lockname *glock_name(const struct glock *gl);
/* The granted (cached) state, for assertions and tests (racy by nature). */
enum gl_state glock_state(const struct glock *gl);

struct gholder {
	/* Opaque: only glock.c looks inside. */
	struct glock *gh_gl;
	unsigned gh_flags;
	uint8_t gh_state;	/* enum gl_state requested */
	uint8_t gh_held;	/* granted and not yet dq'd */
	uint8_t gh_subclass;	/* validator nesting (glock_nq_two) */
	struct glock **gh_slot; /* granted on the fast path: the thread's slot */
};

/* (inline: every I/O of an inode in cluster mode makes one) */
static inline void gholder_init(struct glock *gl, enum gl_state state, unsigned flags,
				struct gholder *gh)
{
	gh->gh_gl = gl;
	gh->gh_state = (uint8_t)state;
	gh->gh_flags = flags;
	gh->gh_held = 0;
	gh->gh_subclass = 0;
	gh->gh_slot = NULL;
}
/* 0; -EAGAIN (GL_NOWAIT, GL_TRY); -EIO (membership lost); -EINTR
 * (GL_KILLABLE, cancelled); an error of go_instantiate. */
int glock_nq(struct gholder *gh);
void glock_dq(struct gholder *gh);
/* After the last dq of a GL_NOCACHE holder, or a cancelled GL_KILLABLE
 * glock_nq: waits until the worker has released the glock at the lock
 * service (and withdrawn a request made for it), unless a local holder or
 * waiter came meanwhile or membership is lost (then at once). */
void glock_wait_released(struct glock *gl);
/* Two glocks in name order (number, generation, type: clone); a and b may
 * name one glock. */
int glock_nq_two(struct gholder *a, struct gholder *b);
/* How many glock holders the calling thread holds now (the fault path's
 * "never wait for a glock while holding one" test). */
unsigned glock_task_held(void);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * lock_module.h - inside the cluster layer: struct cluster, struct glock and
 * the lock-module interface (gfs2's lm_lockops) that nolock and zk implement.
 *
 * Locks: gl_lock (a leaf mutex per glock) guards the glock's state fields;
 * c->hash_lock (leaf) guards the glock table and reference counts;
 * c->work_lock (a pthread leaf) guards the worker's queue. Lock-module calls
 * (lm_*) are made only from the demote worker, with no lock held, but for
 * lm_plock, which the calling application thread makes (cluster/plock.c:
 * with no engine lock held but fs/posix_locks.c's per-file mutex); the module's
 * callbacks into the glock layer (glock_lm_*) are made from the worker too
 * (the zk module queues its client-library events for it).
 */
#ifndef PC_CLUSTER_LOCK_MODULE_H
#define PC_CLUSTER_LOCK_MODULE_H

#include <pthread.h>
#include <stdatomic.h>

#include "cluster/glock.h"
#include "cluster/plock.h"
#include "kernel/mutex.h"
#include "kernel/testswitch.h"
#include "kernel/wait.h"

#define CLUSTER_MAX_HOSTS 8

struct cluster_url {
	bool nolock;
	char hosts[256]; /* "h:p,h:p" as the ZooKeeper client takes it */
	char path[256];	 /* the root znode, no trailing '/' ("" for /) */
	unsigned nhosts;
};

/* Parses @url into @u: 0 or -EINVAL (the reason in cluster_last_error()). */
int cluster_parse_url(const char *url, struct cluster_url *u);
void cluster_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct lm_lockops {
	const char *lm_proto_name;
	int (*lm_mount)(struct cluster *c, const struct cluster_url *u);
	void (*lm_unmount)(struct cluster *c);
	int (*lm_glock_init)(struct glock *gl);
	void (*lm_glock_free)(struct glock *gl);
	/* Ask for @req while holding nothing (gl_state UN). 1: granted now;
	 * 0: queued (glock_lm_granted() follows); -errno. */
	int (*lm_lock)(struct glock *gl, enum gl_state req);
	/* Change a held lock to @req in place, atomically (nobody else can be
	 * granted in between). 0: done; -EAGAIN: not possible now (the caller
	 * invalidates and unlocks instead); -errno. */
	int (*lm_convert)(struct glock *gl, enum gl_state req);
	/* Release what is held or queued (to UN). */
	void (*lm_unlock)(struct glock *gl);
	/* The worker's turn: handle queued events, heartbeat. Returns the
	 * longest the worker may sleep before the next call, in ms. */
	unsigned (*lm_poll)(struct cluster *c);
	/* The session was lost: forget every lock (no calls to the service). */
	void (*lm_forget)(struct glock *gl);
	/* Make a new session after a loss: 0 or -errno. */
	int (*lm_rejoin)(struct cluster *c);
	/* Optional: the worker has run @gl (glock_run: a demote, a request or
	 * nothing, e.g. a demote delayed by the minimum hold): what the module
	 * put off until the state after the run was known. No lock held. */
	void (*lm_ran)(struct glock *gl);
	/* Optional: the byte-range lock table of file @name (cluster/plock.h,
	 * cluster_plock: the same arguments and returns). The exception to the
	 * rule above: called in the application's thread, not the worker's,
	 * with no engine lock held but the caller's per-file mutex; the lease
	 * was valid just before. NULL: byte-range locks stay per node (-ENOLCK). */
	int (*lm_plock)(struct cluster *c, const struct lm_lockname *name,
			const struct plock_range *want, const struct plock_range *set, unsigned n,
			unsigned flags, struct plock_range *conflict, uint64_t *seq);
	/* Optional with lm_plock: this node no longer uses file @name's table
	 * (cluster/plock.h, cluster_plock_forget); the same context. */
	int (*lm_plock_forget)(struct cluster *c, const struct lm_lockname *name);
};

extern const struct lm_lockops nolock_ops;
extern const struct lm_lockops zk_ops;

/* Membership (c->membership). */
enum {
	CM_VALID = 0,	  /* lease valid */
	CM_SUSPENDED = 1, /* no server contact for the lease margin: glocks unusable, nq waits */
	CM_LOST = 2,	  /* session gone (or assumed gone): caches dropped, -EIO until rejoined */
};

struct glock_stats {
	_Atomic uint64_t nq_cached;   /* granted from the cached state (slow path) */
	_Atomic uint64_t nq_remote;   /* needed the lock service */
	_Atomic uint64_t demotes;     /* demotes run by the worker */
	_Atomic uint64_t lm_requests; /* requests sent to the lock service */
	_Atomic uint64_t lm_waits;    /* round trips waited for (sync calls) */
	/* Listings of the zk module not pipelined behind a create or conversion
	 * of ours (a children event, a failed conversion's check, a resync). */
	_Atomic uint64_t lm_relists;
	/* Fired want watches of the zk module armed again by a read of their
	 * own (not a read pipelined behind a request or conversion). */
	_Atomic uint64_t lm_rearms;
	/* EX -> SH demotes of the zk module done in place (one setData), and
	 * blockers this node learnt were so downgraded (an event or the
	 * answer of the exists that watched them; by the event alone). */
	_Atomic uint64_t lm_downgrades;
	_Atomic uint64_t lm_weak_seen;
	_Atomic uint64_t lm_weak_events;
	/* Lock nodes nobody used, deleted by this node (zk module); refused
	 * (another node held or waited); requests sent again after another
	 * node deleted the lock node under them. */
	_Atomic uint64_t lm_gc_deleted;
	_Atomic uint64_t lm_gc_busy;
	_Atomic uint64_t lm_remakes;
	/* Sweeps of what crashed nodes left (zk module) done by this node,
	 * the lock and table nodes they deleted, and their requests (reads
	 * and deletes: counted here, not in lm_requests, which counts what
	 * the glocks and byte-range locks themselves cost). */
	_Atomic uint64_t lm_sweeps;
	_Atomic uint64_t lm_table_sweeps; /* of the tables alone */
	_Atomic uint64_t lm_sweep_deleted;
	_Atomic uint64_t lm_sweep_requests;
	/* Nodes seen gone from the membership, and clean unmounts seen (zk
	 * module; a sweep follows only when more went than left cleanly). */
	_Atomic uint64_t lm_departures;
	_Atomic uint64_t lm_departures_clean;
};

struct cluster {
	const struct lm_lockops *ops;
	void *lm; /* the module's */
	char node_name[64];
	char identity[64]; /* cluster_config.identity ("none" for NULL) */
	unsigned connect_timeout_ms, session_timeout_ms, min_hold_ms;

	struct mutex hash_lock;
	struct list_head *hash; /* glock table */
	unsigned hash_size;
	unsigned nglocks;

	/* Worker. */
	pthread_t worker;
	bool worker_started;
	pthread_mutex_t work_lock;
	pthread_cond_t work_cond;
	struct list_head work;	  /* glocks queued for the worker */
	struct list_head delayed; /* glocks waiting out their minimum hold time */
	bool work_kick;		  /* lm_poll has events */
	bool stopping;

	_Atomic int membership; /* CM_* */
	/* The lease: CLOCK_MONOTONIC ns until which the server cannot have
	 * expired the session (the send time of the last answered request plus
	 * the margin); written by the module, read by glock_nq. */
	_Atomic uint64_t lease_until_ns;
	_Atomic uint64_t lost_at_ns; /* when the session is assumed expired */
	_Atomic uint64_t generation; /* bumped at each rejoin */
	/* Woken when the lease may have changed (renewed, lost, rejoined):
	 * cluster_plock and glock_nq wait here while the lease is suspended. */
	struct wait_queue_head member_wait;

	/* Byte-range locks (plock.c): bumped by the module's watches (a table
	 * changed, a node ended) and by membership_check at a loss and at a
	 * rejoin; cluster_plock_wait sleeps on plock_wait until it moves. */
	_Atomic uint64_t plock_seq;
	struct wait_queue_head plock_wait;

	struct glock_stats stats;
};

/* Glock flags (gl_flags, under gl_lock). */
#define GLF_QUEUED	  0x01 /* on c->work */
#define GLF_PENDING	  0x02 /* lm_lock queued at the lock service */
#define GLF_DEMOTE	  0x04 /* a remote node asked for gl_demote_state */
#define GLF_BUSY	  0x08 /* the worker runs go_* or lm_* for this glock */
#define GLF_INSTANTIATE	  0x10 /* granted by the service: the first holder runs go_instantiate */
#define GLF_INSTANTIATING 0x20
#define GLF_NOCACHE	  0x40	/* release at the last dq */
#define GLF_FRESH	  0x80	/* changed for local waiters, none granted yet */
#define GLF_TRY		  0x800 /* the pending request is for GL_TRY waiters only */
/* The fast path (glock_fast.h): */
#define GLF_DRAIN      0x100 /* the worker (or a withdrawal) closed the fast path */
#define GLF_DRAINED    0x200 /* ... and ran the barrier since: the scan is final */
#define GLF_DRAIN_WAIT 0x400 /* ... and waits for fast holders to leave (GL_FAST_WAITER) */
#define GL_FAST_WAITER 0x100 /* in gl_fast: a fast dq requeues the worker */
/* Any of these, or a local waiter, or state UN: gl_fast is 0. */
#define GLF_FAST_BLOCK                                                                             \
	(GLF_PENDING | GLF_DEMOTE | GLF_BUSY | GLF_INSTANTIATE | GLF_INSTANTIATING | GLF_NOCACHE | \
	 GLF_FRESH | GLF_DRAIN | GLF_DRAINED | GLF_DRAIN_WAIT)

struct glock {
	struct cluster *gl_cluster;
	struct lm_lockname gl_name;
	const struct glock_operations *gl_ops;
	void *gl_object;
	unsigned gl_ref; /* under hash_lock */
	struct list_head gl_hash;
	struct list_head gl_work; /* on c->work while GLF_QUEUED */

	struct mutex gl_lock;
	enum gl_state gl_state;	       /* granted and cached */
	enum gl_state gl_target;       /* requested from the service while GLF_PENDING */
	enum gl_state gl_demote_state; /* while GLF_DEMOTE */
	unsigned gl_flags;
	/* The states the fast path may grant now (1 << enum gl_state; none:
	 * closed), and GL_FAST_WAITER while the worker waits for the fast
	 * holders to leave: written under gl_lock (gl_fast_update), read
	 * without. */
	unsigned gl_fast;
	unsigned gl_holders;	  /* local holders granted by the slow path */
	unsigned gl_file_holders; /* ... of them GL_FILE ones (held across calls: a flock) */
	unsigned gl_want_ex, gl_want_sh, gl_want_df; /* local waiters by state */
	unsigned gl_want_try;			     /* ... of them GL_TRY ones */
	uint64_t gl_try_seq;	/* bumped when a request for GL_TRY waiters was withdrawn */
	uint64_t gl_tchange_ns; /* last grant, for the minimum hold time */
	uint64_t gl_generation; /* membership generation of the grant */
	struct wait_queue_head gl_wait;

	uint64_t gl_delay_until; /* on c->delayed (under work_lock): run again then */
	struct lockdep_map gl_dep_map;

	void *gl_lm; /* the module's */
};

/* Called by the module in the worker: the queued request was granted. */
void glock_lm_granted(struct glock *gl, enum gl_state state);
/* Called by the module in the worker: another node asked for @state. */
void glock_lm_demote_request(struct glock *gl, enum gl_state state);
/* The module found glock @name's lock node changed: a counted reference, or NULL. */
struct glock *glock_lookup(struct cluster *c, const struct lm_lockname *name);
/* Orders two names (number, generation, type): <0, 0, >0. */
int lm_name_cmp(const struct lm_lockname *a, const struct lm_lockname *b);
/* Kick the worker (any thread, any context: takes only work_lock). */
void cluster_kick(struct cluster *c);
void glock_queue_work(struct glock *gl);

uint64_t cluster_now_ns(void);
/* The lease as glock_nq and the worker see it: 0 valid, 1 suspended (wait),
 * -EIO lost (always 0 with glock_test_no_lease_margin). */
int glock_lease_check(struct cluster *c);
/* glock.c and glock_demote.c, for the worker (cluster.c): */
uint64_t glock_run(struct glock *gl);
void glock_withdraw_all(struct cluster *c);
void glock_wake_all(struct cluster *c);
void glock_requeue_all(struct cluster *c);
void glock_free_all(struct cluster *c);
/* Calls @fn on every glock (a reference held, no lock). */
void glock_for_each(struct cluster *c, void (*fn)(struct glock *gl, void *arg), void *arg);
/* The module's view of the session (any thread): @sent_ns, the time a request
 * was sent that the server answered; pushes the lease forward. */
void cluster_lease_renew(struct cluster *c, uint64_t sent_ns);
/* The module learnt that the session expired. */
void cluster_session_expired(struct cluster *c);

/* Test switches (tests/cluster): */
/* The node ignores its lease: it goes on granting from cached states after
 * it lost contact and after its session expired (two EX holders show). */
DECLARE_TEST_SWITCH(glock_test_no_lease_margin);
/* A glock waiter that finds the lease suspended polls every 50 ms on
 * gl_wait (the old wait) instead of sleeping on member_wait: a renewal
 * that the worker has not yet turned into a membership change wakes
 * nobody, and the waiter goes on only at its next poll (test_glock_fast
 * lease_wait_woken_by_renewal*). */
DECLARE_TEST_SWITCH(glock_test_suspended_poll);
/* The demote skips the minimum hold time. */
DECLARE_TEST_SWITCH(glock_test_no_min_hold);
/* A put of a glock's last reference queues it for the worker even after
 * cluster_unmount stopped the worker (the put of a delayed glock's queue
 * reference there): the glock stays referenced and glock_free_all reports
 * it (test_glock_gc unmount_delayed_last_reference*). Defined in glock.c. */
DECLARE_TEST_SWITCH(glock_test_put_queues_after_stop);
/* Glocks glock_free_all found still referenced, and - once a test armed
 * the count by setting it to 1 - last puts of a glock that still held a
 * state after cluster_unmount stopped the worker (test builds count them;
 * under the cluster's hash_lock). */
DECLARE_TEST_KNOB(unsigned long, glock_test_referenced_at_unmount);
DECLARE_TEST_KNOB(unsigned long, glock_test_puts_after_stop);
/* A pending demote holds back only the new local holders that the state
 * the other node asked for does not cover (the old check): none for an EX
 * request, so overlapping local holders starve that node for as long as
 * they overlap (test_glock_fair remote_ex_holds_back_local*). */
DECLARE_TEST_SWITCH(glock_test_demote_ignores_remote_ex);
/* A GL_TRY holder (a LOCK_NB flock) is granted from the cached state under
 * another node's pending conflicting request (the old rule): overlapping
 * LOCK_NB flocks on one node hold another node's blocking LOCK_EX off for
 * as long as their stream lasts (test_flock nb_stream_*). */
DECLARE_TEST_SWITCH(glock_test_try_ignores_remote_ex);
/* A state just granted for local waiters (GLF_FRESH) is demoted for another
 * node's request before those waiters ran (with no minimum hold, or a
 * waiter woken later than it): the grant is wasted, the waiter asks again
 * (test_glock_fresh fresh_grant_serves_waiter_first*). */
DECLARE_TEST_SWITCH(glock_test_demote_before_fresh_waiters);
/* The worker's release of an unused glock forgets a holder that came meanwhile
 * (it neither wakes it nor requests what it wants): test_glock_fair orphan_*. */
DECLARE_TEST_SWITCH(glock_test_orphan_no_recheck);
/* The worker, dropping a demote request the held state already satisfies,
 * stops there instead of serving the local waiters (the waiter that queued
 * the run sleeps for good: test_glock_fair compatible_demote_then_waiter_*). */
DECLARE_TEST_SWITCH(glock_test_demote_drop_skips_waiters);
/* The zk module forgets a child of ours whose delete the server did not
 * confirm (the connection was lost: a ZooKeeper restart): the child stays
 * and blocks the other nodes for good (test_glock_proc
 * zookeeper_restart_lost_delete*). Defined in cluster.c (every build). */
DECLARE_TEST_SWITCH(zk_test_forget_failed_delete);
/* The zk module lists the children on every children event, also on one a
 * later listing of ours already saw (a node's own create or conversion
 * fires the watch its previous listing armed): one request more (test_glock
 * own_change_no_listing*). Defined in cluster.c (every build). */
DECLARE_TEST_SWITCH(zk_test_relist_every_event);
/* The zk module arms no watch on the want nodes: a holder learns of a
 * conflicting request from a children watch and a listing, as before the
 * want nodes (test_glock want_event_no_listing*: the holder's demote costs
 * it a listing). Defined in cluster.c (every build). */
DECLARE_TEST_SWITCH(zk_test_want_nodes_off);
/* The zk module mounts with a recipe name that is not this build's: it
 * stands in for a node of another build, whose recipe the lock root already
 * names or is about to (test_glock recipe_mismatch_refused). Defined in
 * cluster.c (every build). */
DECLARE_TEST_SWITCH(zk_test_other_recipe);
/* The zk module arms a fired want watch again at once, from the event, as
 * before the re-arm was deferred to the end of the glock's run (where a
 * demote that gives up the watched conflict needs none): one request more
 * per demote (test_glock rearm_deferred*; bench_glock PC_ZK_REARM_AT_EVENT).
 * Defined in cluster.c (every build). */
DECLARE_TEST_SWITCH(zk_test_rearm_at_event);
/* The zk module reads every want node behind a request or conversion, also
 * the one its own multi bumped (whose version the multi's answer carries):
 * one read more per SH or DF request and conversion (test_glock
 * bumped_want_unread*; bench_glock PC_ZK_READ_EVERY_WANT). Defined in
 * cluster.c (every build). */
DECLARE_TEST_SWITCH(zk_test_read_every_want);
/* The zk module demotes EX to SH by the conversion multi (check, delete,
 * create, bump) instead of downgrading its child in place (one setData):
 * the previous recipe's demote, a multi and three reads more per transfer
 * (test_glock_downgrade; bench_glock PC_ZK_CONVERT_MULTI). Defined in
 * cluster.c (every build). */
DECLARE_TEST_SWITCH(zk_test_convert_multi);
/* A waiter takes a blocker downgraded to SH in place for gone whatever mode
 * it waits for: an EX or DF waiter is granted beside the SH holder
 * (test_glock_downgrade weak_blocker_ex_waits*). Defined in cluster.c
 * (every build). */
DECLARE_TEST_SWITCH(zk_test_weak_frees_all);
/* A node that makes a request with no child of its own keeps the downgrades
 * it knew of (test_glock_downgrade weak_name_reused*: a child of a new
 * incarnation of the lock node named as a downgraded one of the old is
 * taken for SH while it is EX). Defined in cluster.c (every build). */
DECLARE_TEST_SWITCH(zk_test_keep_stale_weak);
/* The zk module publishes a byte-range lock set with no check of the
 * file's table version (a multi with version -1): two nodes that read the
 * table before either published are both granted conflicting ranges
 * (test_plock_zk race*). Defined in plock.c (every build). */
DECLARE_TEST_SWITCH(plock_test_no_version_check);
/* The zk module never deletes a lock node (lock_zk_gc.c): every glock ever
 * taken stays in ZooKeeper (test_glock_gc lock_nodes_deleted*). Defined in
 * cluster.c (every build). */
DECLARE_TEST_SWITCH(zk_test_keep_lock_nodes);
/* The zk module never sweeps what crashed nodes left (lock_zk_sweep.c):
 * their unused lock nodes and byte-range tables stay in ZooKeeper
 * (test_glock_gc sweep_*). Defined in cluster.c (every build). */
DECLARE_TEST_SWITCH(zk_test_no_sweep);
/* An unmount does not say it left cleanly (lock_zk_sweep.c): the
 * lowest-named node sweeps after it as after a crash (test_glock_sweep
 * clean_unmount_no_sweep*). Defined in cluster.c (every build). */
DECLARE_TEST_SWITCH(zk_test_no_clean_departure);
/* The sweep deletes every lock node it reads, with whatever children it
 * has - holders' and waiters' too - as a sweep that did not read first
 * would (test_glock_sweep sweep_spares_held_glocks*). Defined in cluster.c
 * (every build). */
DECLARE_TEST_SWITCH(zk_test_sweep_in_use);
/* A request whose lock node another node deleted fails (-EIO) instead of
 * making it again (test_glock_gc request_after_delete*). Defined in
 * cluster.c (every build). */
DECLARE_TEST_SWITCH(zk_test_no_remake);
/* A stray of ours is deleted again even when its name is now our current
 * child's in a new incarnation of the lock node: our live child goes
 * (test_glock_gc stray_name_reused*). Defined in cluster.c (every build). */
DECLARE_TEST_SWITCH(zk_test_stray_no_name_check);
/* Fault injection: while it names a node, that node's deletes of its
 * children are applied but taken as unanswered (a connection lost after
 * the server applied them): each is remembered as a stray and not retried
 * until the knob is cleared (test_glock_gc stray_name_reused*). Read and
 * written with __atomic builtins (set while the worker runs). */
typedef struct cluster *zk_node_knob;
DECLARE_TEST_KNOB(zk_node_knob, zk_test_lost_deletes);
/* The zk module looks at a file's table (a listing and the other nodes'
 * sets) before every change, never deciding from its cached view of the
 * table (test_plock_zk_cache cache_round_trips: the requests counted both ways;
 * bench_glock PC_PLOCK_NO_CACHE). Defined in plock.c (every build). */
DECLARE_TEST_SWITCH(plock_test_no_cache);
/* Called by the zk module between its read of a file's table and the multi
 * that publishes (test_plock_zk race*: another node publishes there). */
/* The zk module deletes nothing at cluster_plock_forget: every file's table
 * stays at the lock service, empty (the old behaviour: test_plock_zk_tables
 * tables_go: <root>/p keeps one node per file). Defined in plock.c (every
 * build). */
DECLARE_TEST_SWITCH(plock_test_keep_tables);
/* The zk module decides a grant without its own entry in the file's table
 * (from a look or a view taken with none: the entry is created in the
 * publishing multi, as before tables were deleted): a table deleted and made
 * again between the look and the multi restarts its version, and the multi
 * commits against the new one (test_plock_zk_tables table_aba_hazard: two
 * nodes granted one range). Defined in plock.c (every build). */
DECLARE_TEST_SWITCH(plock_test_no_pin);
typedef void (*plock_publish_hook_fn)(struct cluster *c);
DECLARE_TEST_KNOB(plock_publish_hook_fn, plock_test_before_publish);
/* The worker does not wait for the fast path's holders to leave before it
 * runs go_sync/go_inval (test_glock_fast fastpath_drain_*: the overlap shows). */
DECLARE_TEST_SWITCH(glock_test_fastpath_no_drain_check);
/* The child of a fork keeps the fast-path slots of the parent's threads
 * (stale: a glock at a reused address would read as held for good). */
DECLARE_TEST_SWITCH(glock_test_fork_keeps_slots);
/* The withdrawal after a session loss waits for every holder, those of open
 * files (GL_FILE: a flock held for good) too: it hangs until the file lets
 * go (test_flock flock_lost_with_the_session*: no rejoin). */
DECLARE_TEST_SWITCH(glock_test_withdraw_waits_file_holders);
/* A cancelled GL_KILLABLE glock_nq leaves the request made for it queued at
 * the lock service (and a grant of it cached on the node): the flock glock
 * stays this node's after the cancelled flock, and another node's flock -n
 * fails though no flock is held (test_flock flock_cancel_withdraws*). */
DECLARE_TEST_SWITCH(glock_test_cancel_leaves_request);

static inline bool gl_covers(enum gl_state held, enum gl_state want)
{
	if (held == want)
		return true;
	return held == LM_ST_EXCLUSIVE && want == LM_ST_SHARED;
}

static inline bool gl_compatible(enum gl_state a, enum gl_state b)
{
	if (a == LM_ST_UNLOCKED || b == LM_ST_UNLOCKED)
		return true;
	if (a == LM_ST_EXCLUSIVE || b == LM_ST_EXCLUSIVE)
		return false;
	return a == b;
}

const char *gl_state_name(enum gl_state s);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * lock_zk.h - inside the ZooKeeper lock module: the session (lock_zk.c),
 * the per-glock lock recipe (lock_zk_node.c) and the byte-range lock tables
 * (plock_zk.c). The first two run in the cluster's worker only, but for the
 * client library's callbacks into lock_zk.c, which take ev_lock (a pthread
 * leaf) and nothing else; plock_zk.c runs in application threads and holds
 * zh_lock shared around its use of the handle (the worker takes it
 * exclusively to close or replace the handle).
 */
#ifndef PC_CLUSTER_LOCK_ZK_H
#define PC_CLUSTER_LOCK_ZK_H

/* The multi-threaded client (libzookeeper_mt): its synchronous calls. */
#ifndef THREADED
#define THREADED 1
#endif
#include <zookeeper/zookeeper.h>

#include "cluster/lock_module.h"

#define ZK_PATH_MAX 512
#define ZK_NAME_MAX 96
/* Requests sent again when another node deleted the lock node under them. */
#define ZK_REMAKE_TRIES 16

/* The want nodes of a lock node (lock_zk_node.c), by mode. */
enum { ZK_W_SH, ZK_W_EX, ZK_W_DF, ZK_NWANT };

/* What a pipelined read of the want nodes and the children returned. */
struct zk_listing {
	int rc; /* the listing's */
	struct String_vector sv;
	struct Stat st;
	int wrc[ZK_NWANT];
	int32_t wver[ZK_NWANT];
	uint64_t wseq[ZK_NWANT]; /* stream positions of the want reads' answers */
	bool warmed[ZK_NWANT];	 /* the read armed the want node's watch */
	uint64_t seq;		 /* stream position of the listing's answer */
};

/* Items of the worker's queue besides the client library's events. */
#define ZK_EV_LISTING (-1000) /* an asynchronous listing's answer (listing) */
#define ZK_EV_WANTVER (-1001) /* a want node's watch armed again (rc, version) */
/* lock_zk_sweep.c's reads (listing: the children, or the Stat). */
#define ZK_EV_MEMBERS	  (-1002) /* <root>/nodes */
#define ZK_EV_DEPARTED	  (-1003) /* <root>/departed (its Stat) */
#define ZK_EV_SWEEP_ROOT  (-1004) /* <root>/g or <root>/p */
#define ZK_EV_SWEEP_LOCK  (-1005) /* a lock node */
#define ZK_EV_SWEEP_TABLE (-1006) /* a table node (its Stat) */
/* A blocker's exists answer: an ex- child downgraded to SH in place (its
 * data version above 0; the watch is armed: its delete still comes). */
#define ZK_EV_WEAK (-1007)

struct zk_event {
	struct zk_event *next;
	int type;
	uint64_t seq; /* zk_cluster.ev_seq when it came */
	struct zk_listing *listing;
	int rc;
	int32_t version;
	char path[];
};

/* The sweep of what crashed nodes left (lock_zk_sweep.c): the worker's
 * but for the atomics, which its completions read or count. */
#define SWEEP_LOCKS  1u /* the lock nodes (and the tables) */
#define SWEEP_TABLES 2u /* the byte-range lock tables */
struct zk_sweep {
	char npath[272];	      /* root/nodes: the membership */
	char dpath[272];	      /* root/departed: bumped by clean unmounts */
	struct String_vector members; /* as last listed */
	int32_t members_cversion;     /* its children's version then */
	int32_t departed_version;     /* root/departed's version then */
	int gone;		      /* nodes gone by the last listing (-1: first) */
	bool lowest;		      /* our name the lowest in it */
	bool members_got;	      /* a listing waits for its departed read */
	bool members_seen;	      /* listed (both reads) once in this session */
	bool members_stale;	      /* to list (again): a children event */
	bool members_out;	      /* a listing of it is out */
	unsigned due, running;	      /* SWEEP_* asked for; running */
	struct String_vector g, p;    /* the lock and table nodes to read */
	unsigned gi, pi;	      /* the next of each to read */
	unsigned reads_out;
	_Atomic unsigned deletes_out;
	_Atomic unsigned lost;	   /* answers that could not be queued */
	_Atomic bool members_lost; /* the membership's answer could not be */
	_Atomic uint64_t epoch;	   /* bumped at each reset: answers of before */
};

struct zk_cluster {
	/* Written by the worker under zh_lock held exclusively (a pthread
	 * rwlock, a leaf that prefers writers); read by the worker without it
	 * and by plock_zk.c (application threads) with it held shared. */
	zhandle_t *zh;
	/* plock_zk_cache.c: the byte-range lock tables' views (NULL: none;
	 * made at mount, freed at unmount; its own leaf lock inside). */
	struct plock_cache *pcache;
	pthread_rwlock_t zh_lock;
	char hosts[256];
	char root[256];	 /* the URL's path ("" for /) */
	char gpath[264]; /* root/g: one child per glock */
	char ppath[264]; /* root/p: one child per file with byte-range locks */

	pthread_mutex_t ev_lock; /* leaf: the fields below */
	pthread_cond_t ev_cond;
	bool connected, expired, resync;
	bool answered; /* zk_unmount's last exists: its completion ran */
	struct zk_event *ev_head, **ev_tail;
	/* Events and answers come in one order, in the client library's
	 * completion thread: it counts the events and the answers of the
	 * reads that the worker orders against them (a stream position). */
	_Atomic uint64_t ev_seq;

	_Atomic int hb_inflight;
	uint64_t next_hb_ns; /* worker only */
	uint64_t next_rejoin_ns;
	/* Worker only: children of ours whose delete the server did not
	 * confirm (the connection was lost): deleted again until it does. */
	struct zk_stray *strays;
	_Atomic unsigned nstrays; /* how many (read by tests) */
	/* Lock nodes to delete (lock_zk_gc.c): queued by any thread under
	 * ev_lock; multis of them in flight (under ev_lock, ev_cond). */
	struct zk_gc *gc_head;
	unsigned gc_inflight;
	bool gc_failed; /* a delete of ours failed: not a clean departure */
	struct zk_sweep sweep;
};

struct zk_gc {
	struct zk_gc *next;
	struct lm_lockname name;
	char path[];
};

struct zk_stray {
	struct zk_stray *next;
	char path[];
};

/* Deletes our child @path; a delete the server did not confirm (ZOK or
 * ZNONODE) is remembered and retried by zk_poll (zk_retry_strays). */
void zk_delete_child_path(struct cluster *c, const char *path);
void zk_retry_strays(struct cluster *c);
/* lock_zk.c: parses <gpath>/<type>-<number>-<gen>[/<child>]. */
bool zk_parse_path(struct zk_cluster *z, const char *path, struct lm_lockname *name,
		   const char **child);

/* lock_zk_gc.c: the lock nodes nobody uses are deleted. */
void zk_gc_queue(struct cluster *c, const struct lm_lockname *name, const char *lock_path);
void zk_gc_run(struct cluster *c, bool connected);
void zk_gc_unmount(struct cluster *c, unsigned wait_ms);
void zk_gc_free(struct zk_cluster *z);
bool zk_stray_is_current(struct cluster *c, const char *path);

/* lock_zk_sweep.c: what crashed nodes left is deleted. */
void zk_sweep_init(struct cluster *c);
bool zk_sweep_item(struct cluster *c, struct zk_event *ev);
void zk_sweep_run(struct cluster *c, bool connected);
void zk_sweep_reset(struct zk_cluster *z, bool rejoin);
void zk_sweep_departure(struct cluster *c);

/* Per glock (gl->gl_lm), worker only. */
struct zk_glock {
	char lock_path[ZK_PATH_MAX]; /* gpath/<type 2 hex>-<number 16 hex>-<gen 16 hex> */
	bool parent_made;
	char held[ZK_NAME_MAX]; /* our granted child, "" if none */
	enum gl_state held_mode;
	char pend[ZK_NAME_MAX]; /* our queued child, "" if none */
	enum gl_state pend_mode;
	/* The last listing: the children, and the want nodes' versions read
	 * just before it (every create bumps its mode's want node in its
	 * multi: a conversion checks those that conflict with its mode). */
	char **names;
	unsigned nnames;
	int32_t wv[ZK_NWANT];
	bool wv_ok[ZK_NWANT];
	bool listed;
	/* ev_seq when the answer to our last listing came: an event counted
	 * up to it reported a change that listing saw. */
	uint64_t listed_seq;
	/* Requests learnt from want events since that listing, the highest
	 * version seen of each want node, and the stream position of the
	 * answer that last armed its watch (UINT64_MAX: a re-arm is out). */
	bool wanted[ZK_NWANT];
	int32_t wseen[ZK_NWANT];
	uint64_t warm_seq[ZK_NWANT];
	/* Want watches that fired (a bit per ZK_W_*) and the stream position
	 * of the last such event: armed again at the end of the glock's run
	 * if the state after it still conflicts with that mode (zk_ran). */
	unsigned rearm_due;
	uint64_t rearm_seq[ZK_NWANT];
	/* An asynchronous listing is out; another was asked for meanwhile. */
	bool relist_out, relist_more;
	/* Children below pend that conflict with it: granted when all are gone. */
	char **blockers;
	unsigned nblockers;
	/* ex- children of the listing known downgraded to SH in place (their
	 * data set: lock_zk_node.c, "Downgrade in place"). */
	char **weak;
	unsigned nweak;
};

void zk_watch_fn(zhandle_t *zh, int type, int state, const char *path, void *ctx);
/* Completion thread: the next stream position, and the queueing of an item
 * for the worker (which zk_poll hands to the glock by its path). */
uint64_t zk_stream_pos(struct cluster *c);
void zk_queue_item(struct cluster *c, struct zk_event *ev);
void zk_listing_free(struct zk_listing *l);
/* lock_zk_pipe.c: copies a listing's answer (names, Stat) into @l. */
int zk_listing_copy(struct zk_listing *l, int rc, const struct String_vector *strings,
		    const struct Stat *stat);
uint64_t zk_call_begin(struct cluster *c);
void zk_call_end(struct cluster *c, uint64_t sent, int rc);

/* plock_zk_cache.c: what this node's last look at a file's byte-range lock
 * table saw. The key is the file (number, gen), the session (its client id)
 * and the membership generation: a view of another session is never found. */
#define PLOCK_CACHE_RANGES 32 /* the other nodes' ranges a view keeps at most */
struct plock_view {
	uint64_t number, gen; /* the file */
	uint64_t generation;  /* c->generation */
	int64_t session;      /* the handle's client id */
	int32_t version;      /* the file node's data version the view is of */
	bool own;	      /* our child is there (this session's) */
	unsigned nothers;
	struct plock_range others[PLOCK_CACHE_RANGES]; /* the other nodes' sets' union */
};
struct plock_cache;
struct plock_cache *plock_cache_new(void);
void plock_cache_free(struct plock_cache *pc);
/* Copies the key's view into *out: false if there is none. */
bool plock_cache_get(struct plock_cache *pc, const struct plock_view *key, struct plock_view *out);
/* Stores a view read or published at v->version (an older one is ignored). */
void plock_cache_put(struct plock_cache *pc, const struct plock_view *v);
void plock_cache_drop(struct plock_cache *pc, const struct plock_view *key);
/* Our multi made the file node's version @version and our child's presence
 * @own: the view follows if it was of @version - 1, else it goes. */
void plock_cache_published(struct plock_cache *pc, const struct plock_view *key, int32_t version,
			   bool own);

/* plock_zk.c: the byte-range lock tables (lm_plock). */
int zk_plock(struct cluster *c, const struct lm_lockname *name, const struct plock_range *want,
	     const struct plock_range *set, unsigned n, unsigned flags,
	     struct plock_range *conflict, uint64_t *seq);
int zk_plock_forget(struct cluster *c, const struct lm_lockname *name);

/* lock_zk.c: the session. */
int zk_mount(struct cluster *c, const struct cluster_url *u);
void zk_unmount(struct cluster *c);
int zk_rejoin(struct cluster *c);
unsigned zk_poll(struct cluster *c);

/* lock_zk_node.c: the recipe. */
/* The mode this node holds or waits for (UN: neither). */
static inline enum gl_state zk_our_mode(const struct zk_glock *zg)
{
	if (zg->pend[0])
		return zg->pend_mode;
	return zg->held[0] ? zg->held_mode : LM_ST_UNLOCKED;
}
/* A demote request for a holder that conflicts with what the other
 * children and the want events since the listing ask. */
void zk_maybe_demote(struct glock *gl);
void zk_relist(struct glock *gl);
void zk_relist_after(struct glock *gl, uint64_t ev_seq);
void zk_blocker_gone(struct glock *gl, const char *child, uint64_t seq);
void zk_blocker_weakened(struct glock *gl, const char *child, bool fired, uint64_t seq);
void zk_listing_done(struct glock *gl, struct zk_listing *l);

/* lock_zk_pipe.c: pipelined and asynchronous requests. */
void zk_want_path(const struct zk_glock *zg, int i, char *buf);
const char *zk_want_name(int i);
int zk_want_index(const char *child); /* -1: not a want node */
enum gl_state zk_want_mode(int i);
int zk_mode_want(enum gl_state s);
#define ZK_WANT_ALL ((1u << ZK_NWANT) - 1)
int zk_pipeline(struct glock *gl, int nops, const zoo_op_t *ops, zoo_op_result_t *res,
		unsigned read_mask, unsigned watch_mask, struct zk_listing **out);
int zk_rearm_want(struct glock *gl, int i);
int zk_watch_child(struct cluster *c, const char *path);
int zk_make_lock_nodes(struct glock *gl);
/* lock_zk_want.c: the want nodes' watches. */
void zk_ran(struct glock *gl);
void zk_want_event(struct glock *gl, const char *child, uint64_t seq);
void zk_want_version(struct glock *gl, const char *child, int rc, int32_t version, uint64_t seq);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * lock_zk.h - inside the ZooKeeper lock module: the session (lock_zk.c) and
 * the per-glock lock recipe (lock_zk_node.c). Both run in the cluster's
 * worker only, but for the client library's callbacks into lock_zk.c, which
 * take ev_lock (a pthread leaf) and nothing else.
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

struct zk_event {
	struct zk_event *next;
	int type;
	uint64_t seq; /* zk_cluster.ev_seq when it came */
	char path[];
};

struct zk_cluster {
	zhandle_t *zh;
	char hosts[256];
	char root[256];	 /* the URL's path ("" for /) */
	char gpath[264]; /* root/g: one child per glock */

	pthread_mutex_t ev_lock; /* leaf: the fields below */
	pthread_cond_t ev_cond;
	bool connected, expired, resync;
	struct zk_event *ev_head, **ev_tail;
	/* Events and listing answers come in one order, in the client
	 * library's completion thread: it counts the events. */
	_Atomic uint64_t ev_seq;

	_Atomic int hb_inflight;
	uint64_t next_hb_ns; /* worker only */
	uint64_t next_rejoin_ns;
	/* Worker only: children of ours whose delete the server did not
	 * confirm (the connection was lost): deleted again until it does. */
	struct zk_stray *strays;
};

struct zk_stray {
	struct zk_stray *next;
	char path[];
};

/* Deletes our child @path; a delete the server did not confirm (ZOK or
 * ZNONODE) is remembered and retried by zk_poll (zk_retry_strays). */
void zk_delete_child_path(struct cluster *c, const char *path);
void zk_retry_strays(struct cluster *c);

/* Per glock (gl->gl_lm), worker only. */
struct zk_glock {
	char lock_path[ZK_PATH_MAX]; /* gpath/<16 hex> */
	bool parent_made;
	char held[ZK_NAME_MAX]; /* our granted child, "" if none */
	enum gl_state held_mode;
	char pend[ZK_NAME_MAX]; /* our queued child, "" if none */
	enum gl_state pend_mode;
	/* The last listing: the children and the lock node's data version
	 * (every create bumps it: a conversion checks it). */
	char **names;
	unsigned nnames;
	int32_t version;
	bool listed;
	/* ev_seq when the answer to our last listing came: a children event
	 * counted up to it reported a change that listing saw. */
	uint64_t listed_seq;
	/* Children below pend that conflict with it: granted when all are gone. */
	char **blockers;
	unsigned nblockers;
};

void zk_watch_fn(zhandle_t *zh, int type, int state, const char *path, void *ctx);
uint64_t zk_call_begin(struct cluster *c);
void zk_call_end(struct cluster *c, uint64_t sent, int rc);

/* lock_zk.c: the session. */
int zk_mount(struct cluster *c, const struct cluster_url *u);
void zk_unmount(struct cluster *c);
int zk_rejoin(struct cluster *c);
unsigned zk_poll(struct cluster *c);

/* lock_zk_node.c: the recipe. */
void zk_relist(struct glock *gl);
void zk_relist_after(struct glock *gl, uint64_t ev_seq);
void zk_blocker_gone(struct glock *gl, const char *child);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * lock_zk_gc.c - the ZooKeeper module deletes the lock nodes nobody uses.
 * A lock node and its three want nodes are persistent: left alone, every
 * glock any node ever took (every file ever opened in cluster mode) would
 * stay in ZooKeeper's memory and snapshots for good. When a node frees a
 * glock whose lock node it made (zk_glock_free: the inode left its cache,
 * the glock is idle, its children deleted), the worker sends one
 * asynchronous multi { delete w-sh, w-ex, w-df, delete the lock node }.
 * ZooKeeper refuses to delete a node that has children, so the multi is
 * applied only if no node holds or waits for the glock (else ZNOTEMPTY, and
 * nothing changes: the last node to free it deletes it).
 *
 * What a delete and a later re-creation may break, and why it does not
 * (docs/cluster.md, "Lock nodes nobody uses"): versions and sequence numbers
 * start again in the new incarnation. A conversion checks want versions,
 * but only while this node's own child exists, which pins the incarnation
 * its reads were of. A request's create under a deleted lock node fails
 * (ZNONODE): the requester makes the nodes again and sends it again
 * (zk_lock). The highest want versions seen are forgotten at a new request
 * (they may be of an older incarnation). A stray of ours (a delete whose
 * answer was lost) is never deleted again once its name is our current
 * child's: a name can come back only in a new incarnation, which the old
 * child, gone with the old one, cannot be in (zk_stray_is_current).
 *
 * At unmount the same multi, with our own children's deletes first, goes
 * for every glock still known, and the items queued; the unmount waits for
 * the answers a bounded time (zk_gc_unmount).
 *
 * Locks: zk_gc_queue runs in any thread (zk_glock_free) and takes ev_lock
 * (a pthread leaf) around the queue; the rest is the worker's (or the
 * unmount's, after the worker stopped); the completions run in the client
 * library's completion thread and take ev_lock to count the answers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/lock_zk.h"
#include "kernel/futex.h"

/* One multi in flight: its ops point into the paths here. */
struct zk_gc_req {
	struct cluster *c;
	int nops;
	zoo_op_t ops[3 + ZK_NWANT];
	zoo_op_result_t res[3 + ZK_NWANT];
	char paths[3 + ZK_NWANT][ZK_PATH_MAX];
};

void zk_gc_queue(struct cluster *c, const struct lm_lockname *name, const char *lock_path)
{
	struct zk_cluster *z = c->lm;
	struct zk_gc *g;

	if (!z || zk_test_keep_lock_nodes)
		return;
	g = malloc(sizeof(*g) + strlen(lock_path) + 1);
	if (!g)
		return; /* stays: deleted by whichever node frees the glock next */
	g->name = *name;
	strcpy(g->path, lock_path);
	pthread_mutex_lock(&z->ev_lock);
	g->next = z->gc_head;
	z->gc_head = g;
	pthread_mutex_unlock(&z->ev_lock);
	cluster_kick(c);
}

static void gc_done(int rc, const void *data)
{
	struct zk_gc_req *r = (struct zk_gc_req *)data;
	struct cluster *c = r->c;
	struct zk_cluster *z = c->lm;

	if (rc == ZOK)
		atomic_fetch_add_explicit(&c->stats.lm_gc_deleted, 1, memory_order_relaxed);
	else if (rc == ZNOTEMPTY)
		atomic_fetch_add_explicit(&c->stats.lm_gc_busy, 1, memory_order_relaxed);
	free(r);
	pthread_mutex_lock(&z->ev_lock);
	if (rc != ZOK && rc != ZNOTEMPTY && rc != ZNONODE)
		z->gc_failed = true; /* a lock node of ours may stay: for the sweep */
	if (!--z->gc_inflight)
		pthread_cond_broadcast(&z->ev_cond);
	pthread_mutex_unlock(&z->ev_lock);
}

/* Adds the delete of @lock_path/@child (@child NULL: of the lock node itself)
 * to @r; false if the path does not fit. */
static bool gc_add(struct zk_gc_req *r, const char *lock_path, const char *child)
{
	int n = child ? snprintf(r->paths[r->nops], ZK_PATH_MAX, "%s/%s", lock_path, child)
		      : snprintf(r->paths[r->nops], ZK_PATH_MAX, "%s", lock_path);

	if (n < 0 || n >= ZK_PATH_MAX)
		return false;
	zoo_delete_op_init(&r->ops[r->nops], r->paths[r->nops], -1);
	r->nops++;
	return true;
}

/* Sends multi { delete @children (ours), the want nodes, the lock node }. */
static void gc_send(struct cluster *c, const char *lock_path, const char *const *children,
		    unsigned nchildren)
{
	struct zk_cluster *z = c->lm;
	struct zk_gc_req *r = calloc(1, sizeof(*r));
	unsigned i;
	int rc;

	if (!r)
		return;
	r->c = c;
	for (i = 0; i < nchildren; i++)
		if (!gc_add(r, lock_path, children[i]))
			goto too_long;
	for (i = 0; i < ZK_NWANT; i++)
		if (!gc_add(r, lock_path, zk_want_name((int)i)))
			goto too_long;
	if (!gc_add(r, lock_path, NULL))
		goto too_long;
	atomic_fetch_add_explicit(&c->stats.lm_requests, 1, memory_order_relaxed);
	pthread_mutex_lock(&z->ev_lock);
	z->gc_inflight++;
	pthread_mutex_unlock(&z->ev_lock);
	rc = zoo_amulti(z->zh, r->nops, r->ops, r->res, gc_done, r);
	if (rc != ZOK) {
		pthread_mutex_lock(&z->ev_lock);
		z->gc_inflight--;
		pthread_mutex_unlock(&z->ev_lock);
		free(r);
	}
	return;
too_long: /* cannot happen: a lock path is under 300 bytes, a child's name short */
	free(r);
	pthread_mutex_lock(&z->ev_lock);
	z->gc_failed = true;
	pthread_mutex_unlock(&z->ev_lock);
}

/*
 * Worker (zk_poll): sends the queued deletes. Not while a stray of ours is
 * left (it would make them fail) or while not connected; not for a glock
 * this node took again meanwhile (its own free queues it again).
 */
void zk_gc_run(struct cluster *c, bool connected)
{
	struct zk_cluster *z = c->lm;
	struct zk_gc *list, *g;

	if (!connected || z->strays || !z->zh)
		return;
	pthread_mutex_lock(&z->ev_lock);
	list = z->gc_head;
	z->gc_head = NULL;
	pthread_mutex_unlock(&z->ev_lock);
	while ((g = list)) {
		struct glock *gl = glock_lookup(c, &g->name);

		list = g->next;
		if (gl)
			glock_put(gl);
		else
			gc_send(c, g->path, NULL, 0);
		free(g);
	}
}

/* Unmount: the lock node of every glock still known, our children first. */
static void gc_known(struct glock *gl, void *arg)
{
	struct zk_glock *zg = gl->gl_lm;
	const char *children[2];
	unsigned n = 0;

	(void)arg;
	if (!zg || !zg->parent_made)
		return;
	if (zg->held[0])
		children[n++] = zg->held;
	if (zg->pend[0])
		children[n++] = zg->pend;
	gc_send(gl->gl_cluster, zg->lock_path, children, n);
}

/*
 * Unmount, after the worker stopped and before the session ends: sends the
 * deletes queued and those of the glocks still known, and waits for their
 * answers up to @wait_ms (a server that does not answer leaves them: the
 * next node that frees those glocks deletes them).
 */
void zk_gc_unmount(struct cluster *c, unsigned wait_ms)
{
	struct zk_cluster *z = c->lm;
	struct timespec ts;
	bool connected;

	pthread_mutex_lock(&z->ev_lock);
	connected = z->connected && z->zh;
	pthread_mutex_unlock(&z->ev_lock);
	if (connected && !zk_test_keep_lock_nodes) {
		zk_retry_strays(c);
		glock_for_each(c, gc_known, NULL);
		zk_gc_run(c, true);
	}
	clock_gettime(CLOCK_MONOTONIC, &ts); /* ev_cond's clock */
	timespec_add_ns(&ts, (uint64_t)wait_ms * 1000000u);
	pthread_mutex_lock(&z->ev_lock);
	while (z->gc_inflight && !z->expired)
		if (pthread_cond_timedwait(&z->ev_cond, &z->ev_lock, &ts))
			break;
	pthread_mutex_unlock(&z->ev_lock);
}

/* Frees what is still queued (the session is over). */
void zk_gc_free(struct zk_cluster *z)
{
	struct zk_gc *g;

	while ((g = z->gc_head)) {
		z->gc_head = g->next;
		free(g);
	}
}

/*
 * Whether stray @path (a child of ours whose delete the server did not
 * confirm) now names the current child of its glock: then the stray is
 * gone - the same name comes back only from a new incarnation of the lock
 * node, which was made after the old one, stray included, was deleted -
 * and deleting it again would delete our live child.
 */
bool zk_stray_is_current(struct cluster *c, const char *path)
{
	struct lm_lockname name;
	const char *child;
	struct glock *gl;
	bool cur = false;

	if (!zk_parse_path(c->lm, path, &name, &child) || !child)
		return false;
	gl = glock_lookup(c, &name);
	if (!gl)
		return false;
	if (gl->gl_lm && !zk_test_stray_no_name_check) {
		struct zk_glock *zg = gl->gl_lm;

		cur = !strcmp(zg->held, child) || !strcmp(zg->pend, child);
	}
	glock_put(gl);
	return cur;
}

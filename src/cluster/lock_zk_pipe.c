/* SPDX-License-Identifier: MIT */
/*
 * lock_zk_pipe.c - the ZooKeeper module's pipelined requests: a lock node
 * and its want nodes, made in one round trip; and one round trip that
 * carries [a multi,] a read of each want node asked for (arming the watches
 * asked for) and the listing of the children, in that order. The server answers a
 * session's requests in order, so the reads see the multi's effect and the
 * listing sees every create the want reads counted (lock_zk_node.c relies
 * on it). Synchronous (the worker waits for the answers) or asynchronous
 * (the answers are queued for the worker, which hands them to
 * zk_listing_done); and the asynchronous re-arming of one want node's watch.
 *
 * Worker only, but for the completions, which run in the client library's
 * completion thread and touch only their batch, the stream counter and the
 * event queue (ev_lock, a pthread leaf).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/lock_zk.h"

static const char *const want_names[ZK_NWANT] = {"w-sh", "w-ex", "w-df"};

void zk_want_path(const struct zk_glock *zg, int i, char *buf)
{
	if (snprintf(buf, ZK_PATH_MAX, "%s/%s", zg->lock_path, want_names[i]) >= ZK_PATH_MAX)
		buf[0] = 0; /* cannot happen: the lock path is < 300 */
}

const char *zk_want_name(int i)
{
	return want_names[i];
}

int zk_want_index(const char *child)
{
	int i;

	for (i = 0; i < ZK_NWANT; i++)
		if (!strcmp(child, want_names[i]))
			return i;
	return -1;
}

enum gl_state zk_want_mode(int i)
{
	return i == ZK_W_SH ? LM_ST_SHARED : i == ZK_W_EX ? LM_ST_EXCLUSIVE : LM_ST_DEFERRED;
}

int zk_mode_want(enum gl_state s)
{
	return s == LM_ST_SHARED ? ZK_W_SH : s == LM_ST_EXCLUSIVE ? ZK_W_EX : ZK_W_DF;
}

static void count_request(struct cluster *c)
{
	atomic_fetch_add_explicit(&c->stats.lm_requests, 1, memory_order_relaxed);
}

struct zk_batch;
struct zk_wctx {
	struct zk_batch *b;
	int i;
};

struct zk_batch {
	struct cluster *c;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int pending; /* answers to come, plus the sender's reference */
	bool async;
	uint64_t sent;
	int multi_rc;
	struct zk_listing *l;
	struct zk_wctx w[ZK_NWANT];
	int create_rc[1 + ZK_NWANT]; /* zk_make_lock_nodes */
};

static void batch_free(struct zk_batch *b)
{
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->cond);
	free(b);
}

/* Queues an asynchronous batch's listing for the worker (by its lock node). */
static void batch_queue(struct zk_batch *b, const char *lock_path)
{
	struct zk_event *ev = calloc(1, sizeof(*ev) + strlen(lock_path) + 1);

	if (!ev) {
		zk_listing_free(b->l); /* the worker retries on its next children event */
		return;
	}
	ev->type = ZK_EV_LISTING;
	ev->seq = b->l->seq;
	ev->listing = b->l;
	strcpy(ev->path, lock_path);
	zk_queue_item(b->c, ev);
}

static void batch_put(struct zk_batch *b)
{
	bool last, async = b->async; /* a synchronous batch may be gone at the unlock */

	pthread_mutex_lock(&b->lock);
	last = !--b->pending;
	if (last && !async)
		pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
	if (last && async) {
		/* The answers came in order: the listing's is the last. */
		if (b->l->seq == 0)
			b->l->seq = zk_stream_pos(b->c);
		batch_queue(b, (const char *)(b + 1));
		batch_free(b);
	}
}

static void multi_done(int rc, const void *data)
{
	struct zk_batch *b = (struct zk_batch *)data;

	b->multi_rc = rc;
	batch_put(b);
}

static void want_done(int rc, const char *value, int len, const struct Stat *st, const void *data)
{
	struct zk_wctx *w = (struct zk_wctx *)data;
	struct zk_batch *b = w->b;

	(void)value;
	(void)len;
	b->l->wrc[w->i] = rc;
	if (rc == ZOK && st)
		b->l->wver[w->i] = st->version;
	b->l->wseq[w->i] = zk_stream_pos(b->c);
	batch_put(b);
}

/* A listing's answer into @l (the client library frees its own copy after
 * the completion): ZSYSTEMERROR if it could not be copied (out of memory:
 * as if not answered), else @rc. */
int zk_listing_copy(struct zk_listing *l, int rc, const struct String_vector *strings,
		    const struct Stat *stat)
{
	int i;

	if (rc == ZOK && stat)
		l->st = *stat;
	if (rc != ZOK || !strings)
		return rc;
	l->sv.data = calloc((size_t)strings->count + 1, sizeof(char *));
	for (i = 0; l->sv.data && i < strings->count; i++)
		if (!(l->sv.data[i] = strdup(strings->data[i])))
			break;
	l->sv.count = l->sv.data ? i : 0;
	if (!l->sv.data || l->sv.count != strings->count) {
		deallocate_String_vector(&l->sv);
		return ZSYSTEMERROR;
	}
	return rc;
}

static void list_done(int rc, const struct String_vector *strings, const struct Stat *stat,
		      const void *data)
{
	struct zk_batch *b = (struct zk_batch *)data;
	struct zk_listing *l = b->l;

	l->seq = zk_stream_pos(b->c);
	rc = zk_listing_copy(l, rc, strings, stat);
	l->rc = rc;
	if (rc == ZOK || rc == ZNONODE)
		cluster_lease_renew(b->c, b->sent);
	batch_put(b);
}

static struct zk_batch *batch_new(struct cluster *c, bool async, const char *lock_path)
{
	struct zk_batch *b = calloc(1, sizeof(*b) + strlen(lock_path) + 1);
	int i;

	if (!b)
		return NULL;
	b->l = calloc(1, sizeof(*b->l));
	if (!b->l) {
		free(b);
		return NULL;
	}
	b->c = c;
	b->async = async;
	b->pending = 1;
	b->multi_rc = ZSYSTEMERROR;
	b->l->rc = ZSYSTEMERROR;
	for (i = 0; i < ZK_NWANT; i++) {
		b->l->wrc[i] = ZSYSTEMERROR;
		b->w[i].b = b;
		b->w[i].i = i;
	}
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	strcpy((char *)(b + 1), lock_path);
	return b;
}

/* The sender counts a request before it sends it (answers may come at once). */
static void batch_get(struct zk_batch *b)
{
	pthread_mutex_lock(&b->lock);
	b->pending++;
	pthread_mutex_unlock(&b->lock);
}

/* ... and uncounts one that was not sent. */
static void batch_unget(struct zk_batch *b)
{
	pthread_mutex_lock(&b->lock);
	b->pending--;
	pthread_mutex_unlock(&b->lock);
}

/* The sender's reference: waits for every answer of a synchronous batch. */
static void batch_wait(struct zk_batch *b)
{
	pthread_mutex_lock(&b->lock);
	b->pending--;
	while (b->pending)
		pthread_cond_wait(&b->cond, &b->lock);
	pthread_mutex_unlock(&b->lock);
}

/*
 * Sends [multi @ops,] the want reads of @read_mask (watching those in
 * @watch_mask, a bit per ZK_W_*, unless zk_test_want_nodes_off) and the listing (watching the
 * children instead with zk_test_want_nodes_off). Synchronous (@out): waits,
 * returns the multi's answer (ZOK without a multi) and the listing in *out
 * (the caller frees it). Asynchronous (@out NULL): returns ZOK if anything
 * was sent; the listing reaches zk_listing_done.
 */
int zk_pipeline(struct glock *gl, int nops, const zoo_op_t *ops, zoo_op_result_t *res,
		unsigned read_mask, unsigned watch_mask, struct zk_listing **out)
{
	struct cluster *c = gl->gl_cluster;
	struct zk_cluster *z = c->lm;
	struct zk_glock *zg = gl->gl_lm;
	struct zk_batch *b = batch_new(c, !out, zg->lock_path);
	bool wants = !zk_test_want_nodes_off;
	int i, rc, sent = 0;

	if (!b)
		return ZSYSTEMERROR;
	b->sent = cluster_now_ns();
	if (nops && (zoo_state(z->zh) == ZOO_EXPIRED_SESSION_STATE ||
		     zoo_state(z->zh) == ZOO_AUTH_FAILED_STATE)) {
		/* Not sent: the client library's zoo_amulti (3.8.0) frees a
		 * path pointer it never set when a handle that cannot recover
		 * fails an op before the last (Request_path_init's
		 * ZINVALIDSTATE). The session is gone: so is the request. */
		b->multi_rc = ZINVALIDSTATE;
		if (!out) {
			batch_put(b);
			return ZINVALIDSTATE;
		}
		batch_wait(b);
		*out = b->l;
		batch_free(b);
		return ZINVALIDSTATE;
	}
	if (nops) {
		count_request(c);
		batch_get(b);
		rc = zoo_amulti(z->zh, nops, ops, res, multi_done, b);
		if (rc != ZOK) {
			batch_unget(b);
			b->multi_rc = rc;
		}
	} else {
		b->multi_rc = ZOK;
	}
	for (i = 0; i < ZK_NWANT; i++) {
		char path[ZK_PATH_MAX];
		bool w = wants && (watch_mask & (1u << i));

		if (!(read_mask & (1u << i)))
			continue; /* the caller knows its version (wrc stays an error) */
		zk_want_path(zg, i, path);
		b->l->warmed[i] = w;
		count_request(c);
		batch_get(b);
		rc = w ? zoo_awget(z->zh, path, zk_watch_fn, c, want_done, &b->w[i])
		       : zoo_aget(z->zh, path, 0, want_done, &b->w[i]);
		if (rc != ZOK) {
			batch_unget(b);
			b->l->warmed[i] = false;
		} else {
			sent++;
		}
	}
	count_request(c);
	batch_get(b);
	rc = wants ? zoo_aget_children2(z->zh, zg->lock_path, 0, list_done, b)
		   : zoo_awget_children2(z->zh, zg->lock_path, zk_watch_fn, c, list_done, b);
	if (rc != ZOK) {
		batch_unget(b);
		b->l->rc = rc;
	} else {
		sent++;
	}
	if (!out) {
		batch_put(b); /* the last answer queues the listing */
		return sent ? ZOK : ZCONNECTIONLOSS;
	}
	batch_wait(b);
	rc = b->multi_rc;
	if (nops)
		zk_call_end(c, b->sent, rc);
	*out = b->l;
	batch_free(b);
	return rc;
}

struct zk_rearm {
	struct cluster *c;
	uint64_t sent;
	char path[ZK_PATH_MAX];
};

/* A request's record for its completion: the path it names and when it was
 * sent (an answer renews the lease from then). */
static struct zk_rearm *rearm_alloc(struct cluster *c, const char *path)
{
	struct zk_rearm *r = malloc(sizeof(*r));

	if (r) {
		r->c = c;
		r->sent = cluster_now_ns();
		snprintf(r->path, sizeof(r->path), "%s", path);
	}
	return r;
}

static void rearm_done(int rc, const char *value, int len, const struct Stat *st, const void *data)
{
	struct zk_rearm *r = (struct zk_rearm *)data;
	struct zk_event *ev = calloc(1, sizeof(*ev) + strlen(r->path) + 1);

	(void)value;
	(void)len;
	if (ev) {
		ev->type = ZK_EV_WANTVER;
		ev->rc = rc;
		ev->version = rc == ZOK && st ? st->version : -1;
		ev->seq = zk_stream_pos(r->c);
		strcpy(ev->path, r->path);
		zk_queue_item(r->c, ev);
	}
	if (rc == ZOK || rc == ZNONODE)
		cluster_lease_renew(r->c, r->sent);
	free(r);
}

/* Arms want node @i's watch again (its answer: zk_want_version). */
int zk_rearm_want(struct glock *gl, int i)
{
	struct cluster *c = gl->gl_cluster;
	struct zk_cluster *z = c->lm;
	char path[ZK_PATH_MAX];
	struct zk_rearm *r;
	int rc;

	zk_want_path(gl->gl_lm, i, path);
	if (!(r = rearm_alloc(c, path)))
		return ZSYSTEMERROR;
	count_request(c);
	atomic_fetch_add_explicit(&c->stats.lm_rearms, 1, memory_order_relaxed);
	rc = zoo_awget(z->zh, r->path, zk_watch_fn, c, rearm_done, r);
	if (rc != ZOK)
		free(r);
	return rc;
}

static void exists_done(int rc, const struct Stat *st, const void *data)
{
	struct zk_rearm *r = (struct zk_rearm *)data;
	struct zk_event *ev;

	/* Gone already: as its deleted event. Armed: the event comes; if the
	 * child was downgraded in place before (its data set: version above
	 * 0), no changed event will, so the answer says it (ZK_EV_WEAK). Not
	 * answered: the resync after the reconnect watches it again. */
	if ((rc == ZNONODE || (rc == ZOK && st && st->version > 0)) &&
	    (ev = calloc(1, sizeof(*ev) + strlen(r->path) + 1))) {
		ev->type = rc == ZNONODE ? ZOO_DELETED_EVENT : ZK_EV_WEAK;
		ev->seq = zk_stream_pos(r->c);
		strcpy(ev->path, r->path);
		zk_queue_item(r->c, ev);
	}
	if (rc == ZOK || rc == ZNONODE)
		cluster_lease_renew(r->c, r->sent);
	free(r);
}

/* Arms an exists watch on the child @path (a blocker), asynchronously; one
 * already gone reaches the worker as a deleted event. */
int zk_watch_child(struct cluster *c, const char *path)
{
	struct zk_cluster *z = c->lm;
	struct zk_rearm *r = rearm_alloc(c, path);
	int rc;

	if (!r)
		return ZSYSTEMERROR;
	count_request(c);
	rc = zoo_awexists(z->zh, r->path, zk_watch_fn, c, exists_done, r);
	if (rc != ZOK)
		free(r);
	return rc;
}

struct zk_creates {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int pending;
	int bad; /* the first answer neither ZOK nor ZNODEEXISTS */
};

static void create_done(int rc, const char *value, const void *data)
{
	struct zk_creates *k = (struct zk_creates *)data;

	(void)value;
	pthread_mutex_lock(&k->lock);
	if (rc != ZOK && rc != ZNODEEXISTS && k->bad == ZOK)
		k->bad = rc;
	if (!--k->pending)
		pthread_cond_signal(&k->cond);
	pthread_mutex_unlock(&k->lock);
}

/* The lock node and its want nodes (persistent), in one round trip: 0,
 * -ENOENT (the lock node went between our creates) or -EIO. */
int zk_make_lock_nodes(struct glock *gl)
{
	struct cluster *c = gl->gl_cluster;
	struct zk_cluster *z = c->lm;
	struct zk_glock *zg = gl->gl_lm;
	struct zk_creates k = {.pending = 1, .bad = ZOK};
	uint64_t t = cluster_now_ns();
	int i, rc;

	pthread_mutex_init(&k.lock, NULL);
	pthread_cond_init(&k.cond, NULL);
	for (i = -1; i < ZK_NWANT; i++) {
		char path[ZK_PATH_MAX];

		if (i < 0)
			snprintf(path, sizeof(path), "%s", zg->lock_path);
		else
			zk_want_path(zg, i, path);
		count_request(c);
		pthread_mutex_lock(&k.lock);
		k.pending++;
		pthread_mutex_unlock(&k.lock);
		rc = zoo_acreate(z->zh, path, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT,
				 create_done, &k);
		if (rc != ZOK) {
			pthread_mutex_lock(&k.lock);
			k.pending--;
			if (k.bad == ZOK)
				k.bad = rc;
			pthread_mutex_unlock(&k.lock);
		}
	}
	pthread_mutex_lock(&k.lock);
	k.pending--;
	while (k.pending)
		pthread_cond_wait(&k.cond, &k.lock);
	pthread_mutex_unlock(&k.lock);
	pthread_mutex_destroy(&k.lock);
	pthread_cond_destroy(&k.cond);
	zk_call_end(c, t, k.bad);
	/* ZNONODE: the lock node was deleted between our creates. */
	return k.bad == ZOK ? 0 : k.bad == ZNONODE ? -ENOENT : -EIO;
}

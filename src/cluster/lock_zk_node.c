/* SPDX-License-Identifier: MIT */
/*
 * lock_zk_node.c - the lock recipe of the ZooKeeper module, one lock node per
 * glock (<root>/g/<number, 16 hex>), each request an ephemeral sequential
 * child named by its mode ("ex-", "sh-", "df-" + node name + '-' + sequence):
 * the shared-lock recipe of the ZooKeeper documentation with three modes.
 *
 *   A request is granted when no child with a lower sequence conflicts
 *   with it (SH waits for lower EX and DF; DF for lower EX and SH; EX for
 *   any lower child). The waiter watches each such blocker (exists watch):
 *   when the last one is deleted it is granted without listing again.
 *   A holder watches the lock node's children: a conflicting child is a
 *   demote request (glock_lm_demote_request, which the worker runs later).
 *   Every create also bumps the lock node's data version (in one multi), so
 *   that a conversion in place - multi { check version, delete held, create
 *   the new mode, bump } - succeeds only if no child appeared since the
 *   listing that showed every other child compatible with the new mode:
 *   the new child is then granted at once and nobody can have been granted
 *   in between.
 *
 * Round trips: a request is one multi plus one listing (plus one exists per
 * blocker, in parallel with the holder's work); a demote is one listing
 * (the watch) plus one multi or delete. Worker only; no locks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/lock_zk.h"

static const char *mode_prefix(enum gl_state s)
{
	return s == LM_ST_EXCLUSIVE ? "ex" : s == LM_ST_SHARED ? "sh" : "df";
}

static enum gl_state name_mode(const char *name)
{
	if (!strncmp(name, "ex-", 3))
		return LM_ST_EXCLUSIVE;
	if (!strncmp(name, "sh-", 3))
		return LM_ST_SHARED;
	if (!strncmp(name, "df-", 3))
		return LM_ST_DEFERRED;
	return LM_ST_EXCLUSIVE; /* unknown: conflicts with everything */
}

static long long name_seq(const char *name)
{
	size_t n = strlen(name);

	return n > 10 ? atoll(name + n - 10) : -1;
}

/* Ours: "<mode>-<node_name>-<seq>". */
static bool name_is_ours(const struct cluster *c, const char *name)
{
	size_t nl = strlen(c->node_name), n = strlen(name);

	return n == 3 + nl + 1 + 10 && !strncmp(name + 3, c->node_name, nl) && name[3 + nl] == '-';
}

static void free_names(char **v, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void child_path(const struct zk_glock *zg, const char *name, char *buf)
{
	if (snprintf(buf, ZK_PATH_MAX, "%s/%s", zg->lock_path, name) >= ZK_PATH_MAX)
		buf[0] = 0; /* cannot happen: the root is < 256, a name < 96 */
}

int zk_glock_init(struct glock *gl);
int zk_glock_init(struct glock *gl)
{
	struct zk_cluster *z = gl->gl_cluster->lm;
	struct zk_glock *zg = calloc(1, sizeof(*zg));

	if (!zg)
		return -ENOMEM;
	snprintf(zg->lock_path, sizeof(zg->lock_path), "%s/%016llx", z->gpath,
		 (unsigned long long)gl->gl_number);
	gl->gl_lm = zg;
	return 0;
}

static void forget(struct zk_glock *zg)
{
	free_names(zg->names, zg->nnames);
	free_names(zg->blockers, zg->nblockers);
	zg->names = zg->blockers = NULL;
	zg->nnames = zg->nblockers = 0;
	zg->held[0] = zg->pend[0] = 0;
	zg->listed = false;
	zg->listed_seq = 0;
}

void zk_glock_free(struct glock *gl);
void zk_glock_free(struct glock *gl)
{
	struct zk_glock *zg = gl->gl_lm;

	if (!zg)
		return;
	forget(zg);
	free(zg);
	gl->gl_lm = NULL;
}

void zk_forget(struct glock *gl);
void zk_forget(struct glock *gl)
{
	forget(gl->gl_lm);
}

static void delete_child(struct glock *gl, const char *name)
{
	char path[ZK_PATH_MAX];

	child_path(gl->gl_lm, name, path);
	zk_delete_child_path(gl->gl_cluster, path);
}

static void grant_pending(struct glock *gl)
{
	struct zk_glock *zg = gl->gl_lm;
	enum gl_state mode = zg->pend_mode;

	strcpy(zg->held, zg->pend);
	zg->held_mode = mode;
	zg->pend[0] = 0;
	free_names(zg->blockers, zg->nblockers);
	zg->blockers = NULL;
	zg->nblockers = 0;
	glock_lm_granted(gl, mode);
}

/* What the other children ask of a holder, as one state for
 * glock_lm_demote_request (EX: give up everything; SH or DF: keep that at
 * most), or UN when nobody else is there. */
static enum gl_state others_request(const struct zk_glock *zg)
{
	bool sh = false, df = false, ex = false;
	unsigned i;

	for (i = 0; i < zg->nnames; i++) {
		const char *n = zg->names[i];

		if (!strcmp(n, zg->held) || !strcmp(n, zg->pend))
			continue;
		switch (name_mode(n)) {
		case LM_ST_EXCLUSIVE:
			ex = true;
			break;
		case LM_ST_SHARED:
			sh = true;
			break;
		default:
			df = true;
		}
	}
	if (ex || (sh && df))
		return LM_ST_EXCLUSIVE;
	return sh ? LM_ST_SHARED : df ? LM_ST_DEFERRED : LM_ST_UNLOCKED;
}

static void maybe_demote(struct glock *gl)
{
	struct zk_glock *zg = gl->gl_lm;
	enum gl_state r = others_request(zg);

	if (!gl_compatible(zg->held_mode, r))
		glock_lm_demote_request(gl, r);
}

/*
 * Lists the lock node's children (arming the children watch), deletes strays
 * of ours (a create whose answer was lost), and decides: a pending request
 * with no blocker left is granted; a holder that conflicts with another
 * child gets a demote request. Returns 1 if the pending request was granted.
 */
static int decide(struct glock *gl, struct String_vector *sv, struct Stat *pst,
		  bool watch_blockers);

static int list_and_decide(struct glock *gl, bool watch_blockers)
{
	struct cluster *c = gl->gl_cluster;
	struct zk_cluster *z = c->lm;
	struct zk_glock *zg = gl->gl_lm;
	struct String_vector sv = {0, NULL};
	struct Stat st;
	uint64_t t, seq = atomic_load(&z->ev_seq);
	int rc;

	t = zk_call_begin(c);
	rc = zoo_wget_children2(z->zh, zg->lock_path, zk_watch_fn, c, &sv, &st);
	zk_call_end(c, t, rc);
	if (rc != ZOK)
		return rc == ZNONODE ? 0 : -EIO;
	/* Every event counted before the request was sent is seen. */
	zg->listed_seq = seq;
	return decide(gl, &sv, &st, watch_blockers);
}

/* Decides on a listing (and frees it). */
static int decide(struct glock *gl, struct String_vector *sv, struct Stat *pst, bool watch_blockers)
{
	struct cluster *c = gl->gl_cluster;
	struct zk_cluster *z = c->lm;
	struct zk_glock *zg = gl->gl_lm;
	struct String_vector sv_ = *sv;
	struct Stat st = *pst;
	long long pseq = zg->pend[0] ? name_seq(zg->pend) : -1;
	unsigned i;
	uint64_t t;
	int rc;

#define sv sv_
	free_names(zg->names, zg->nnames);
	zg->names = calloc((size_t)sv.count + 1, sizeof(char *));
	zg->nnames = 0;
	zg->version = st.version;
	zg->listed = true;
	free_names(zg->blockers, zg->nblockers);
	zg->blockers = calloc((size_t)sv.count + 1, sizeof(char *));
	zg->nblockers = 0;
	for (i = 0; i < (unsigned)sv.count; i++) {
		const char *n = sv.data[i];

		if (name_is_ours(c, n) && strcmp(n, zg->held) && strcmp(n, zg->pend)) {
			delete_child(gl, n); /* a stray of ours */
			continue;
		}
		if (zg->names)
			zg->names[zg->nnames++] = strdup(n);
		if (pseq >= 0 && name_seq(n) < pseq && strcmp(n, zg->held) &&
		    !gl_compatible(name_mode(n), zg->pend_mode) && zg->blockers)
			zg->blockers[zg->nblockers++] = strdup(n);
	}
	deallocate_String_vector(&sv);
	if (zg->pend[0] && watch_blockers) {
		/* Watch each blocker; those already gone drop out. */
		for (i = 0; i < zg->nblockers;) {
			char path[ZK_PATH_MAX];

			child_path(zg, zg->blockers[i], path);
			t = zk_call_begin(c);
			rc = zoo_wexists(z->zh, path, zk_watch_fn, c, &st);
			zk_call_end(c, t, rc);
			if (rc == ZNONODE) {
				free(zg->blockers[i]);
				zg->blockers[i] = zg->blockers[--zg->nblockers];
				continue;
			}
			i++;
		}
	}
	if (zg->held[0])
		maybe_demote(gl);
	if (zg->pend[0] && !zg->nblockers) {
		/* Demote requests for the new holder come from the listing too. */
		enum gl_state mode = zg->pend_mode;

		strcpy(zg->held, zg->pend);
		zg->held_mode = mode;
		zg->pend[0] = 0;
		maybe_demote(gl);
		return 1;
	}
	return 0;
#undef sv
}

void zk_relist(struct glock *gl)
{
	struct zk_glock *zg = gl->gl_lm;

	if (!zg->held[0] && !zg->pend[0])
		return;
	if (list_and_decide(gl, false) == 1)
		glock_lm_granted(gl, zg->held_mode);
}

/* A children event (counted @ev_seq): a listing, unless the answer to one
 * sent after the change came later (the event then came before it: the
 * server sends a session's events and answers in order, and the client
 * library hands both to its completion thread in that order). */
void zk_relist_after(struct glock *gl, uint64_t ev_seq)
{
	struct zk_glock *zg = gl->gl_lm;

	if (ev_seq <= zg->listed_seq && !zk_test_relist_every_event)
		return;
	zk_relist(gl);
}

void zk_blocker_gone(struct glock *gl, const char *child)
{
	struct zk_glock *zg = gl->gl_lm;
	unsigned i;

	if (!zg->pend[0])
		return;
	for (i = 0; i < zg->nblockers; i++)
		if (!strcmp(zg->blockers[i], child)) {
			free(zg->blockers[i]);
			zg->blockers[i] = zg->blockers[--zg->nblockers];
			if (!zg->nblockers)
				grant_pending(gl);
			return;
		}
}

/* Requests sent together and answered together: one round trip. */
struct zk_batch {
	struct zk_cluster *z;
	uint64_t list_seq; /* ev_seq when the listing's answer came */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int pending;
	int multi_rc, list_rc;
	struct String_vector sv;
	struct Stat st;
};

static void batch_done(struct zk_batch *b)
{
	pthread_mutex_lock(&b->lock);
	if (!--b->pending)
		pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

static void batch_multi_done(int rc, const void *data)
{
	struct zk_batch *b = (struct zk_batch *)data;

	b->multi_rc = rc;
	batch_done(b);
}

static void batch_list_done(int rc, const struct String_vector *strings, const struct Stat *stat,
			    const void *data)
{
	struct zk_batch *b = (struct zk_batch *)data;
	int i;

	b->list_rc = rc;
	b->list_seq = atomic_load(&b->z->ev_seq);
	if (rc == ZOK && strings) {
		b->sv.data = calloc((size_t)strings->count + 1, sizeof(char *));
		for (i = 0; b->sv.data && i < strings->count; i++)
			b->sv.data[i] = strdup(strings->data[i]);
		b->sv.count = b->sv.data ? strings->count : 0;
		b->st = *stat;
	}
	batch_done(b);
}

enum { CREATE_NEW, CREATE_CONVERT, CREATE_REPLACE };

/*
 * One round trip: multi { [check the lock node's version,] [delete the held
 * child,] create a <mode> child, bump the version } and, pipelined behind
 * it, a listing of the children that arms the children watch (the server
 * answers a session's requests in order: the listing sees the multi's
 * effect). @name gets the new child; *sv and *st the listing (list_rc).
 */
static int create_child(struct glock *gl, enum gl_state mode, char *name, int kind,
			struct String_vector *sv, struct Stat *lst, int *list_rc,
			uint64_t *list_seq)
{
	struct cluster *c = gl->gl_cluster;
	struct zk_cluster *z = c->lm;
	struct zk_glock *zg = gl->gl_lm;
	char prefix[ZK_PATH_MAX], created[ZK_PATH_MAX], held[ZK_PATH_MAX];
	zoo_op_t ops[4];
	zoo_op_result_t res[4];
	struct Stat st;
	struct zk_batch b = {.z = z, .pending = 2, .sv = {0, NULL}};
	int n = 0, rc;
	uint64_t t;

	if (snprintf(prefix, sizeof(prefix), "%s/%s-%s-", zg->lock_path, mode_prefix(mode),
		     c->node_name) >= (int)sizeof(prefix))
		return ZBADARGUMENTS;
	if (kind == CREATE_CONVERT)
		zoo_check_op_init(&ops[n++], zg->lock_path, zg->version);
	if (kind != CREATE_NEW) {
		child_path(zg, zg->held, held);
		zoo_delete_op_init(&ops[n++], held, -1);
	}
	zoo_create_op_init(&ops[n++], prefix, NULL, -1, &ZOO_OPEN_ACL_UNSAFE,
			   ZOO_EPHEMERAL_SEQUENTIAL, created, sizeof(created));
	zoo_set_op_init(&ops[n++], zg->lock_path, NULL, -1, -1, &st);
	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.cond, NULL);
	t = zk_call_begin(c);
	atomic_fetch_add_explicit(&c->stats.lm_requests, 1, memory_order_relaxed);
	rc = zoo_amulti(z->zh, n, ops, res, batch_multi_done, &b);
	if (rc != ZOK)
		b.pending--, b.multi_rc = rc;
	rc = zoo_awget_children2(z->zh, zg->lock_path, zk_watch_fn, c, batch_list_done, &b);
	if (rc != ZOK)
		b.pending--, b.list_rc = rc;
	pthread_mutex_lock(&b.lock);
	while (b.pending)
		pthread_cond_wait(&b.cond, &b.lock);
	pthread_mutex_unlock(&b.lock);
	pthread_mutex_destroy(&b.lock);
	pthread_cond_destroy(&b.cond);
	rc = b.multi_rc;
	zk_call_end(c, t, rc);
	*sv = b.sv;
	*lst = b.st;
	*list_rc = b.list_rc;
	*list_seq = b.list_seq;
	if (rc != ZOK)
		return rc;
	snprintf(name, ZK_NAME_MAX, "%s", strrchr(created, '/') + 1);
	zg->version = st.version;
	return ZOK;
}

int zk_lock(struct glock *gl, enum gl_state req);
int zk_lock(struct glock *gl, enum gl_state req)
{
	struct cluster *c = gl->gl_cluster;
	struct zk_cluster *z = c->lm;
	struct zk_glock *zg = gl->gl_lm;
	struct String_vector sv = {0, NULL};
	struct Stat st;
	uint64_t lseq = 0;
	int rc, r, lrc;

	if (!zg->parent_made) {
		uint64_t t = zk_call_begin(c);

		rc = zoo_create(z->zh, zg->lock_path, NULL, -1, &ZOO_OPEN_ACL_UNSAFE,
				ZOO_PERSISTENT, NULL, 0);
		zk_call_end(c, t, rc);
		if (rc != ZOK && rc != ZNODEEXISTS)
			return -EIO;
		zg->parent_made = true;
	}
	zg->pend_mode = req;
	rc = create_child(gl, req, zg->pend, zg->held[0] ? CREATE_REPLACE : CREATE_NEW, &sv, &st,
			  &lrc, &lseq);
	if (rc != ZOK) {
		/* The multi may not have run: the held child may still be there
		 * (and so may the new one - the next listing deletes that). */
		if (zg->held[0])
			delete_child(gl, zg->held);
		zg->pend[0] = 0;
		zg->held[0] = 0;
		if (lrc == ZOK)
			deallocate_String_vector(&sv);
		/* A lost answer may have left the child: the next listing deletes it. */
		return -EIO;
	}
	zg->held[0] = 0; /* CREATE_REPLACE deleted it */
	if (lrc != ZOK)
		return 0; /* queued; a reconnect relists */
	zg->listed_seq = lseq;
	r = decide(gl, &sv, &st, true);
	if (r < 0)
		return 0;
	return r;
}

int zk_convert(struct glock *gl, enum gl_state req);
int zk_convert(struct glock *gl, enum gl_state req)
{
	struct zk_glock *zg = gl->gl_lm;
	char name[ZK_NAME_MAX];
	unsigned i, tries;
	int rc;

	if (!zg->held[0] || zg->pend[0])
		return -EAGAIN;
	for (tries = 0; tries < 2; tries++) {
		bool ok = zg->listed;

		for (i = 0; ok && i < zg->nnames; i++)
			if (strcmp(zg->names[i], zg->held) &&
			    !gl_compatible(name_mode(zg->names[i]), req))
				ok = false;
		if (!ok)
			return -EAGAIN;
		struct String_vector sv = {0, NULL};
		struct Stat st;
		uint64_t lseq = 0;
		int lrc;

		rc = create_child(gl, req, name, CREATE_CONVERT, &sv, &st, &lrc, &lseq);
		if (rc == ZOK) {
			strcpy(zg->held, name);
			zg->held_mode = req;
			if (lrc == ZOK) {
				zg->listed_seq = lseq;
				decide(gl, &sv, &st, false); /* the watch is armed again */
			}
			return 0;
		}
		if (lrc == ZOK)
			deallocate_String_vector(&sv);
		if (rc != ZBADVERSION)
			return -EAGAIN;
		/* A child appeared since the listing: look again. */
		if (list_and_decide(gl, false) < 0)
			return -EAGAIN;
	}
	return -EAGAIN;
}

int zk_unlock(struct glock *gl);
int zk_unlock(struct glock *gl)
{
	struct zk_glock *zg = gl->gl_lm;

	if (zg->pend[0])
		delete_child(gl, zg->pend);
	if (zg->held[0])
		delete_child(gl, zg->held);
	zg->pend[0] = zg->held[0] = 0;
	free_names(zg->blockers, zg->nblockers);
	zg->blockers = NULL;
	zg->nblockers = 0;
	return 0;
}

static void zk_unlock_v(struct glock *gl)
{
	zk_unlock(gl);
}

const struct lm_lockops zk_ops = {
    .lm_proto_name = "lock_zk",
    .lm_mount = zk_mount,
    .lm_unmount = zk_unmount,
    .lm_glock_init = zk_glock_init,
    .lm_glock_free = zk_glock_free,
    .lm_lock = zk_lock,
    .lm_convert = zk_convert,
    .lm_unlock = zk_unlock_v,
    .lm_poll = zk_poll,
    .lm_forget = zk_forget,
    .lm_rejoin = zk_rejoin,
};

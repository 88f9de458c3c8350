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
 *
 *   Each lock node has three persistent want nodes, w-sh, w-ex and w-df:
 *   every create of a child bumps its mode's want node (setData) in the
 *   same multi. A holder watches the want nodes of the modes that conflict
 *   with what it holds (or waits for): the event's path names the mode
 *   wanted, a demote request (glock_lm_demote_request, which the worker runs
 *   later) with no listing. The want nodes also make conversion in place
 *   safe: multi { check the versions of the want nodes that conflict with
 *   the new mode, as read just before the listing that showed no such child,
 *   bump the new mode's want node, delete the held child, create the new
 *   mode's child } succeeds only if no conflicting child was created since:
 *   the new child is then granted at once and nobody can have been granted
 *   in between.
 *   Safety never rests on the notification: grants come only from listings,
 *   blockers' deletes, checked conversions and downgrades in place seen at
 *   the server (docs/cluster.md).
 *
 *   Downgrade in place: an EX holder demoted to SH sets its ex- child's
 *   data (setData at version 0: once) and keeps the child and its place.
 *   Nothing is below it (it was granted EX), so it is granted SH at once,
 *   and a weakening cannot let anyone in wrongly: a node takes an ex-
 *   child for SH only once the server showed its data set (the changed
 *   event of its exists watch, or a data version above 0 in the exists
 *   answer), after which it stays SH until it is deleted. An SH waiter
 *   blocked only by such children is granted; EX and DF waiters still wait
 *   for the delete.
 *
 * Round trips: a request is one multi, with the want reads and the listing
 * pipelined behind it (plus one exists per blocker, beside the holder's
 * work); a demote is one setData (EX -> SH), multi or delete (its want
 * event asks for no read).
 * The want node a multi bumps is read only if the new mode watches it (its
 * version is in the multi's answer); a fired want watch is armed again only
 * at the end of the glock's run, if the state still conflicts (zk_ran).
 * Worker only; no locks.
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

/* Whether @name is among the ex- children known downgraded to SH. */
static int weak_index(const struct zk_glock *zg, const char *name)
{
	unsigned i;

	for (i = 0; i < zg->nweak; i++)
		if (!strcmp(zg->weak[i], name))
			return (int)i;
	return -1;
}

/* The mode a child of the listing stands for: its name's, but SH for an
 * ex- child known downgraded in place ("Downgrade in place" above). */
static enum gl_state child_mode(const struct zk_glock *zg, const char *name)
{
	enum gl_state m = name_mode(name);

	return m == LM_ST_EXCLUSIVE && weak_index(zg, name) >= 0 ? LM_ST_SHARED : m;
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
	/* <type>-<number>-<generation> (lock_zk.c parses it back) */
	snprintf(zg->lock_path, sizeof(zg->lock_path), "%s/%02x-%016llx-%016llx", z->gpath,
		 (unsigned)gl->gl_name.ln_type & 0xff, (unsigned long long)gl->gl_name.ln_number,
		 (unsigned long long)gl->gl_name.ln_gen);
	gl->gl_lm = zg;
	return 0;
}

static void forget(struct zk_glock *zg)
{
	free_names(zg->names, zg->nnames);
	free_names(zg->blockers, zg->nblockers);
	free_names(zg->weak, zg->nweak);
	zg->names = zg->blockers = zg->weak = NULL;
	zg->nnames = zg->nblockers = zg->nweak = 0;
	zg->held[0] = zg->pend[0] = 0;
	zg->listed = false;
	zg->listed_seq = 0;
	memset(zg->wanted, 0, sizeof(zg->wanted));
	memset(zg->wv_ok, 0, sizeof(zg->wv_ok));
	memset(zg->wseen, 0, sizeof(zg->wseen));
	memset(zg->warm_seq, 0, sizeof(zg->warm_seq));
	memset(zg->rearm_seq, 0, sizeof(zg->rearm_seq));
	zg->rearm_due = 0;
	zg->relist_out = zg->relist_more = false;
}

void zk_glock_free(struct glock *gl);
void zk_glock_free(struct glock *gl)
{
	struct zk_glock *zg = gl->gl_lm;

	if (!zg)
		return;
	/* Idle: our children are deleted (or strays, retried first). */
	if (zg->parent_made && !zg->held[0] && !zg->pend[0])
		zk_gc_queue(gl->gl_cluster, &gl->gl_name, zg->lock_path);
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

/* The last blocker is gone: granted; the requests the listing or the want
 * events showed since are demote requests for the new holder. */
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
	zk_maybe_demote(gl);
	glock_lm_granted(gl, mode);
}

/* What the other children (and the want events since the listing) ask of a
 * holder, as one state for
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
		switch (child_mode(zg, n)) {
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
	ex |= zg->wanted[ZK_W_EX];
	sh |= zg->wanted[ZK_W_SH];
	df |= zg->wanted[ZK_W_DF];
	if (ex || (sh && df))
		return LM_ST_EXCLUSIVE;
	return sh ? LM_ST_SHARED : df ? LM_ST_DEFERRED : LM_ST_UNLOCKED;
}

void zk_maybe_demote(struct glock *gl)
{
	struct zk_glock *zg = gl->gl_lm;
	enum gl_state r = others_request(zg);

	if (zg->held[0] && !gl_compatible(zg->held_mode, r))
		glock_lm_demote_request(gl, r);
}

/* A child known deleted leaves the listing too: it asks nothing of the holder. */
static void names_remove(struct zk_glock *zg, const char *child)
{
	int w = weak_index(zg, child);
	unsigned i;

	if (w >= 0) {
		free(zg->weak[w]);
		zg->weak[w] = zg->weak[--zg->nweak];
	}

	for (i = 0; i < zg->nnames; i++)
		if (!strcmp(zg->names[i], child)) {
			free(zg->names[i]);
			zg->names[i] = zg->names[--zg->nnames];
			return;
		}
}

/* The want nodes a holder of (or waiter for) @s watches: those of the modes
 * that conflict with it. */
static unsigned watch_mask(enum gl_state s)
{
	unsigned m = 0;
	int i;

	for (i = 0; i < ZK_NWANT; i++)
		if (!gl_compatible(s, zk_want_mode(i)))
			m |= 1u << i;
	return m;
}

/*
 * Decides on a listing (and frees it): deletes strays of ours (a create
 * whose answer was lost); a pending request with no blocker left is granted;
 * a holder that conflicts with another child gets a demote request. The
 * want versions read before the listing become the ones a conversion
 * checks; the requests learnt from want events are now in the listing.
 * Returns 1 if the pending request was granted.
 */
static int decide(struct glock *gl, struct zk_listing *l)
{
	struct cluster *c = gl->gl_cluster;
	struct zk_glock *zg = gl->gl_lm;
	struct String_vector *sv = &l->sv;
	long long pseq = zg->pend[0] ? name_seq(zg->pend) : -1;
	unsigned i;

	free_names(zg->names, zg->nnames);
	zg->names = calloc((size_t)sv->count + 1, sizeof(char *));
	zg->nnames = 0;
	zg->listed = true;
	zg->listed_seq = l->seq;
	for (i = 0; i < ZK_NWANT; i++) {
		zg->wanted[i] = false;
		zg->wv_ok[i] = l->wrc[i] == ZOK;
		zg->wv[i] = l->wver[i];
		if (zg->wv_ok[i] && l->wver[i] > zg->wseen[i])
			zg->wseen[i] = l->wver[i];
		if (l->warmed[i] && l->wrc[i] == ZOK)
			zg->warm_seq[i] = l->wseq[i];
	}
	free_names(zg->blockers, zg->nblockers);
	zg->blockers = calloc((size_t)sv->count + 1, sizeof(char *));
	zg->nblockers = 0;
	for (i = 0; i < (unsigned)sv->count; i++) {
		const char *n = sv->data[i];

		if (zk_want_index(n) >= 0)
			continue;
		if (name_is_ours(c, n) && strcmp(n, zg->held) && strcmp(n, zg->pend)) {
			delete_child(gl, n); /* a stray of ours */
			continue;
		}
		if (zg->names)
			zg->names[zg->nnames++] = strdup(n);
		if (pseq >= 0 && name_seq(n) < pseq && strcmp(n, zg->held) &&
		    !gl_compatible(child_mode(zg, n), zg->pend_mode) && zg->blockers)
			zg->blockers[zg->nblockers++] = strdup(n);
	}
	/* Downgrades known of children this listing no longer shows: gone. */
	for (i = 0; i < zg->nweak;) {
		unsigned j;

		for (j = 0; j < (unsigned)sv->count && strcmp(sv->data[j], zg->weak[i]); j++)
			;
		if (j < (unsigned)sv->count) {
			i++;
			continue;
		}
		free(zg->weak[i]);
		zg->weak[i] = zg->weak[--zg->nweak];
	}
	zk_listing_free(l);
	/* Watch each blocker (again: a watch whose request was lost in a
	 * reconnect was never armed, and nothing else would tell us). Those
	 * already gone come back as deleted events: the worker never waits
	 * for these reads. */
	for (i = 0; zg->pend[0] && i < zg->nblockers; i++) {
		char path[ZK_PATH_MAX];

		child_path(zg, zg->blockers[i], path);
		zk_watch_child(c, path);
	}
	if (zg->held[0])
		zk_maybe_demote(gl);
	if (zg->pend[0] && !zg->nblockers) {
		/* Demote requests for the new holder come from the listing too. */
		enum gl_state mode = zg->pend_mode;

		strcpy(zg->held, zg->pend);
		zg->held_mode = mode;
		zg->pend[0] = 0;
		zk_maybe_demote(gl);
		return 1;
	}
	return 0;
}

/* A listing of its own (not behind a create), synchronous: the worker
 * waits (a conversion whose check failed). 1 if granted, <0 on error. */
static int list_and_decide(struct glock *gl)
{
	struct cluster *c = gl->gl_cluster;
	struct zk_listing *l = NULL;
	int rc;

	atomic_fetch_add_explicit(&c->stats.lm_relists, 1, memory_order_relaxed);
	rc = zk_pipeline(gl, 0, NULL, NULL, ZK_WANT_ALL, watch_mask(zk_our_mode(gl->gl_lm)), &l);
	if (rc != ZOK || !l || l->rc != ZOK) {
		rc = l && l->rc == ZNONODE ? 0 : -EIO;
		zk_listing_free(l);
		return rc;
	}
	return decide(gl, l);
}

/* A listing of its own, asynchronous: the worker goes on handling events;
 * the answer comes to zk_listing_done. One at a time per glock. */
void zk_relist(struct glock *gl)
{
	struct cluster *c = gl->gl_cluster;
	struct zk_glock *zg = gl->gl_lm;

	if (!zg->held[0] && !zg->pend[0])
		return;
	if (zg->relist_out) {
		zg->relist_more = true;
		return;
	}
	atomic_fetch_add_explicit(&c->stats.lm_relists, 1, memory_order_relaxed);
	if (zk_pipeline(gl, 0, NULL, NULL, ZK_WANT_ALL, watch_mask(zk_our_mode(zg)), NULL) == ZOK)
		zg->relist_out = true;
}

void zk_listing_done(struct glock *gl, struct zk_listing *l)
{
	struct zk_glock *zg = gl->gl_lm;

	zg->relist_out = false;
	/* A listing answered before one we decided on already is stale. */
	if (!l || l->rc != ZOK || l->seq <= zg->listed_seq || (!zg->held[0] && !zg->pend[0])) {
		zk_listing_free(l);
	} else if (decide(gl, l) == 1) {
		glock_lm_granted(gl, zg->held_mode);
	}
	if (zg->relist_more) {
		zg->relist_more = false;
		zk_relist(gl);
	}
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

/*
 * A child's deleted event (or the answer of an exists that found it gone),
 * counted @seq. One that came before the answer of our last listing is
 * covered by it: that listing was served after the delete and does not show
 * the child - or shows another child of that name, in a new incarnation of
 * the lock node (deleted and made again while we had no child: sequence
 * numbers start again), which the stale event must not take away.
 */
void zk_blocker_gone(struct glock *gl, const char *child, uint64_t seq)
{
	struct zk_glock *zg = gl->gl_lm;
	unsigned i;

	if (seq <= zg->listed_seq)
		return;
	names_remove(zg, child);
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

/* A waiter's blocker @child was downgraded to SH: an SH waiter no longer
 * waits for it; an EX or DF waiter does, and watches it again if the event
 * spent the watch (@fired). */
static void blocker_weakened(struct glock *gl, const char *child, bool fired)
{
	struct zk_glock *zg = gl->gl_lm;
	char path[ZK_PATH_MAX];
	unsigned i;

	for (i = 0; zg->pend[0] && i < zg->nblockers; i++) {
		if (strcmp(zg->blockers[i], child))
			continue;
		if (gl_compatible(LM_ST_SHARED, zg->pend_mode) || zk_test_weak_frees_all) {
			free(zg->blockers[i]);
			zg->blockers[i] = zg->blockers[--zg->nblockers];
			if (!zg->nblockers)
				grant_pending(gl);
		} else if (fired) {
			child_path(zg, child, path);
			zk_watch_child(gl->gl_cluster, path);
		}
		return;
	}
}

/*
 * An ex- child was downgraded to SH in place: its changed event (@fired:
 * the exists watch is spent) or the answer of the exists that armed the
 * watch (its data version above 0; such an answer to the exists sent again
 * above comes back here with @fired false, and nothing more is sent). The
 * child counts as SH from now on, in this listing and the next ones.
 */
void zk_blocker_weakened(struct glock *gl, const char *child, bool fired, uint64_t seq)
{
	struct zk_glock *zg = gl->gl_lm;
	char **v;

	/* Only ex- children are downgraded in place, and only once: the
	 * data of any other child never changes. One that came before our
	 * last listing's answer may be of a child of an older incarnation
	 * (above); the exists that listing's decision sent on each blocker
	 * tells of a downgrade since. */
	if (strncmp(child, "ex-", 3) || seq <= zg->listed_seq)
		return;
	if (weak_index(zg, child) < 0 && (v = realloc(zg->weak, (zg->nweak + 1) * sizeof(*v)))) {
		zg->weak = v;
		if ((v[zg->nweak] = strdup(child)))
			zg->nweak++;
	}
	blocker_weakened(gl, child, fired);
	atomic_fetch_add_explicit(&gl->gl_cluster->stats.lm_weak_seen, 1, memory_order_relaxed);
	if (fired)
		atomic_fetch_add_explicit(&gl->gl_cluster->stats.lm_weak_events, 1,
					  memory_order_relaxed);
}

enum { CREATE_NEW, CREATE_CONVERT, CREATE_REPLACE };

/*
 * One round trip: multi { [check the want nodes that conflict with @mode,]
 * bump <mode>'s want node, [delete the held child,] create a <mode> child }
 * and, pipelined behind it, the want reads (arming the watches a holder of
 * @mode needs) and the listing. @name gets the new child; *l the listing
 * (NULL if it was not sent). ZBADVERSION without a request: a conversion
 * with a want version unknown.
 */
static int create_child(struct glock *gl, enum gl_state mode, char *name, int kind,
			struct zk_listing **l)
{
	struct cluster *c = gl->gl_cluster;
	struct zk_glock *zg = gl->gl_lm;
	char prefix[ZK_PATH_MAX], created[ZK_PATH_MAX], held[ZK_PATH_MAX];
	char wpath[ZK_NWANT][ZK_PATH_MAX], bump[ZK_PATH_MAX];
	zoo_op_t ops[3 + ZK_NWANT];
	zoo_op_result_t res[3 + ZK_NWANT];
	struct Stat st;
	int n = 0, i, rc, b = zk_mode_want(mode);
	unsigned reads;

	*l = NULL;
	if (snprintf(prefix, sizeof(prefix), "%s/%s-%s-", zg->lock_path, mode_prefix(mode),
		     c->node_name) >= (int)sizeof(prefix))
		return ZBADARGUMENTS;
	if (kind == CREATE_CONVERT)
		for (i = 0; i < ZK_NWANT; i++) {
			if (gl_compatible(mode, zk_want_mode(i)))
				continue;
			if (!zg->wv_ok[i])
				return ZBADVERSION;
			zk_want_path(zg, i, wpath[i]);
			zoo_check_op_init(&ops[n++], wpath[i], zg->wv[i]);
		}
	/* The bump before the delete: the server sends a commit's watch
	 * events in the order of its operations, and the holder's want event
	 * is the one on the critical path (the delete's fires the exists
	 * watch another node may keep on our old child: nothing to do). */
	zk_want_path(zg, b, bump);
	memset(&st, 0, sizeof(st));
	zoo_set_op_init(&ops[n++], bump, NULL, -1, -1, &st);
	if (kind != CREATE_NEW) {
		child_path(zg, zg->held, held);
		zoo_delete_op_init(&ops[n++], held, -1);
	}
	zoo_create_op_init(&ops[n++], prefix, NULL, -1, &ZOO_OPEN_ACL_UNSAFE,
			   ZOO_EPHEMERAL_SEQUENTIAL, created, sizeof(created));
	/* The want node we bump needs no read unless @mode watches it (EX):
	 * the set's answer is its version at the commit, before the listing. */
	reads = ZK_WANT_ALL;
	if (!(watch_mask(mode) & (1u << b)) && !zk_test_read_every_want)
		reads &= ~(1u << b);
	rc = zk_pipeline(gl, n, ops, res, reads, watch_mask(mode), l);
	if (rc != ZOK)
		return rc;
	if (*l && !(reads & (1u << b))) {
		(*l)->wrc[b] = ZOK;
		(*l)->wver[b] = st.version;
	}
	snprintf(name, ZK_NAME_MAX, "%s", strrchr(created, '/') + 1);
	return ZOK;
}

int zk_lock(struct glock *gl, enum gl_state req);
int zk_lock(struct glock *gl, enum gl_state req)
{
	struct zk_glock *zg = gl->gl_lm;
	struct zk_listing *l = NULL;
	unsigned tries = 0;
	int rc, r;

again:
	if (!zg->parent_made) {
		rc = zk_make_lock_nodes(gl);
		if (rc == -ENOENT && ++tries < ZK_REMAKE_TRIES)
			goto again; /* deleted meanwhile by another node (lock_zk_gc.c) */
		if (rc)
			return -EIO;
		zg->parent_made = true;
	}
	/* With no child of ours, the lock node may be a new incarnation: the
	 * want versions seen before are not its (lock_zk_gc.c), nor are the
	 * downgrades known: a child of the new one may have the name of a
	 * downgraded one, and be EX. */
	if (!zg->held[0]) {
		memset(zg->wseen, 0, sizeof(zg->wseen));
		if (!zk_test_keep_stale_weak) {
			free_names(zg->weak, zg->nweak);
			zg->weak = NULL;
			zg->nweak = 0;
		}
	}
	zg->pend_mode = req;
	rc = create_child(gl, req, zg->pend, zg->held[0] ? CREATE_REPLACE : CREATE_NEW, &l);
	if (rc == ZNONODE && !zg->held[0] && !zk_test_no_remake && ++tries < ZK_REMAKE_TRIES) {
		/* The lock node is gone (another node deleted it unused): the
		 * multi was not applied; make it again and send it again. */
		zk_listing_free(l);
		zg->pend[0] = 0;
		zg->parent_made = false;
		atomic_fetch_add_explicit(&gl->gl_cluster->stats.lm_remakes, 1,
					  memory_order_relaxed);
		goto again;
	}
	if (rc != ZOK) {
		/* The multi may not have run: the held child may still be there
		 * (and so may the new one - the next listing deletes that). */
		if (zg->held[0])
			delete_child(gl, zg->held);
		zg->pend[0] = 0;
		zg->held[0] = 0;
		zk_listing_free(l);
		/* A lost answer may have left the child: the next listing deletes it. */
		return -EIO;
	}
	zg->held[0] = 0; /* CREATE_REPLACE deleted it */
	if (!l || l->rc != ZOK) {
		zk_listing_free(l);
		return 0; /* queued; a reconnect relists */
	}
	r = decide(gl, l);
	if (r < 0)
		return 0;
	return r;
}

/*
 * EX -> SH in place: our ex- child's data set (to "sh"; one setData, at
 * version 0: it is set once), with no read behind it. The child keeps its
 * place, so nothing below it conflicts (we were granted EX: nothing is
 * below it) and nobody can be granted in between; the watches of an EX
 * holder on w-ex and w-df are what SH keeps. A waiter for SH learns of it
 * from its exists watch on the child (zk_blocker_weakened), and a later
 * listing's reader from the data version its exists answer carries.
 */
static int downgrade(struct glock *gl)
{
	struct cluster *c = gl->gl_cluster;
	struct zk_cluster *z = c->lm;
	struct zk_glock *zg = gl->gl_lm;
	char path[ZK_PATH_MAX];
	uint64_t t;
	int rc;

	child_path(zg, zg->held, path);
	t = zk_call_begin(c);
	rc = zoo_set(z->zh, path, "sh", 2, 0);
	zk_call_end(c, t, rc);
	if (rc != ZOK)
		return -EAGAIN; /* the glock layer releases: our child is deleted */
	zg->held_mode = LM_ST_SHARED;
	atomic_fetch_add_explicit(&c->stats.lm_downgrades, 1, memory_order_relaxed);
	return 0;
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
	if (zg->held_mode == LM_ST_EXCLUSIVE && req == LM_ST_SHARED && !zk_test_convert_multi)
		return downgrade(gl);
	/* A request of a conflicting mode came since the listing (a want
	 * event): its child is there, the check would fail. (After a downgrade
	 * in place, which reads nothing, this is how an SH -> EX attempt knows
	 * of the SH requester it was for.) */
	for (i = 0; i < ZK_NWANT; i++)
		if (zg->wanted[i] && !gl_compatible(zk_want_mode(i), req))
			return -EAGAIN;
	for (tries = 0; tries < 2; tries++) {
		bool ok = zg->listed;
		struct zk_listing *l = NULL;

		for (i = 0; ok && i < zg->nnames; i++)
			if (strcmp(zg->names[i], zg->held) &&
			    !gl_compatible(child_mode(zg, zg->names[i]), req))
				ok = false;
		if (!ok)
			return -EAGAIN;
		rc = create_child(gl, req, name, CREATE_CONVERT, &l);
		if (rc == ZOK) {
			strcpy(zg->held, name);
			zg->held_mode = req;
			if (l && l->rc == ZOK)
				decide(gl, l); /* the watches are armed again */
			else
				zk_listing_free(l);
			return 0;
		}
		zk_listing_free(l);
		if (rc != ZBADVERSION)
			return -EAGAIN;
		/* A child appeared since the listing: look again. */
		if (list_and_decide(gl) < 0)
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
    .lm_ran = zk_ran,
    .lm_plock = zk_plock,
    .lm_plock_forget = zk_plock_forget,
};

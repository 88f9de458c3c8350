/* SPDX-License-Identifier: MIT */
/*
 * lock_zk_sweep.c - the zk module sweeps what crashed nodes left.
 *
 * A node that frees a glock or forgets a file's byte-range lock table
 * deletes its znodes when nobody else uses them (lock_zk_gc.c,
 * plock_zk.c). A node that crashes, or whose session ends before it could,
 * frees nothing: its children go with its session, the persistent lock
 * nodes (with their three want nodes) and table nodes stay, and nobody may
 * ever take those glocks again. The sweep deletes them: every lock node
 * whose only children are want nodes, and every table node with no entry.
 * Deleting such a node is safe whoever does it (docs/cluster.md, "Lock nodes
 * nobody uses" and "Tables go when no node uses them"): a request under a
 * deleted lock node fails whole and makes it again, a byte-range grant is
 * decided only while its own entry pins the table, and the delete itself
 * is refused (ZNOTEMPTY) if a child appeared since the sweep's read.
 *
 * Who sweeps, and when: the live node whose name is the lowest, when it
 * sees a name go from the membership (<root>/nodes, a children watch) - a
 * node crashed, lost its session or unmounted - and at its mount or
 * rejoin (a node that crashed while no other was mounted). One sweep at a
 * time per node; a sweep asked for while one runs runs again after it.
 * A sweep lists <root>/g and <root>/p, then reads each lock node's children
 * and each table node's Stat, at most SWEEP_WINDOW reads and deletes out
 * at once, and deletes what it found unused (a read first: a refused
 * write is still a logged transaction at the server). Glocks this node
 * knows are skipped (its own frees delete them).
 *
 * Locks: everything here runs in the worker (zk_poll), with no lock held,
 * but the completions, which run in the client library's completion thread
 * and only queue an item (zk_queue_item: ev_lock) or count a delete's answer
 * (an atomic) and kick the worker.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/lock_zk.h"

/* Reads and deletes of one sweep out at once. */
#define SWEEP_WINDOW 32

/* What a completion hands to the worker: in a struct zk_event. */
struct sweep_req {
	struct cluster *c;
	int type;
	uint64_t epoch; /* zk_sweep.epoch when sent */
	char path[ZK_PATH_MAX];
};

/* A read's answer, for the worker (a children listing or a Stat). */
static void sweep_answer(struct sweep_req *r, int rc, const struct String_vector *sv,
			 const struct Stat *st)
{
	struct zk_event *ev = calloc(1, sizeof(*ev) + strlen(r->path) + 1);
	struct zk_listing *l = calloc(1, sizeof(*l));

	if (!ev || !l) {
		free(ev);
		free(l);
		ev = NULL;
	}
	if (ev) {
		l->rc = zk_listing_copy(l, rc, sv, st);
		ev->type = r->type;
		ev->seq = r->epoch; /* (sweep items have no stream position) */
		ev->listing = l;
		strcpy(ev->path, r->path);
		zk_queue_item(r->c, ev);
	} else {
		/* Out of memory: the worker still counts the read back. */
		struct zk_sweep *sw = &((struct zk_cluster *)r->c->lm)->sweep;

		if (r->epoch == atomic_load(&sw->epoch)) {
			if (r->type == ZK_EV_MEMBERS || r->type == ZK_EV_DEPARTED)
				atomic_store(&sw->members_lost, true);
			else
				atomic_fetch_add(&sw->lost, 1);
		}
		cluster_kick(r->c);
	}
	free(r);
}

static void strings_done(int rc, const struct String_vector *sv, const void *data)
{
	sweep_answer((struct sweep_req *)data, rc, sv, NULL);
}

static void strings_stat_done(int rc, const struct String_vector *sv, const struct Stat *st,
			      const void *data)
{
	sweep_answer((struct sweep_req *)data, rc, sv, st);
}

static void stat_done(int rc, const struct Stat *st, const void *data)
{
	sweep_answer((struct sweep_req *)data, rc, NULL, st);
}

static void delete_done(int rc, const void *data)
{
	struct sweep_req *r = (struct sweep_req *)data;
	struct cluster *c = r->c;
	struct zk_cluster *z = c->lm;

	if (rc == ZOK)
		atomic_fetch_add_explicit(&c->stats.lm_sweep_deleted, 1, memory_order_relaxed);
	free(r);
	atomic_fetch_sub(&z->sweep.deletes_out, 1);
	cluster_kick(c);
}

static struct sweep_req *sweep_req(struct cluster *c, int type, const char *path)
{
	struct sweep_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->c = c;
	r->type = type;
	r->epoch = atomic_load(&((struct zk_cluster *)c->lm)->sweep.epoch);
	snprintf(r->path, sizeof(r->path), "%s", path);
	atomic_fetch_add_explicit(&c->stats.lm_sweep_requests, 1, memory_order_relaxed);
	return r;
}

/* Sends a read of @path; its answer comes back as an item of @type. */
static bool sweep_read(struct cluster *c, int type, const char *path, bool watch)
{
	struct zk_cluster *z = c->lm;
	struct sweep_req *r = sweep_req(c, type, path);
	int rc;

	if (!r)
		return false;
	if (type == ZK_EV_SWEEP_TABLE || type == ZK_EV_DEPARTED)
		rc = zoo_aexists(z->zh, r->path, 0, stat_done, r);
	else if (watch)
		rc = zoo_awget_children2(z->zh, r->path, zk_watch_fn, c, strings_stat_done, r);
	else
		rc = zoo_aget_children(z->zh, r->path, 0, strings_done, r);
	if (rc != ZOK) {
		free(r);
		return false;
	}
	if (type != ZK_EV_MEMBERS && type != ZK_EV_DEPARTED)
		z->sweep.reads_out++;
	return true;
}

/* A multi in flight: its results are written at its answer. */
#define SWEEP_MULTI_MAX (ZK_NWANT + 8) /* children deleted: test switch only */
struct sweep_multi {
	struct sweep_req r; /* first: freed as one by delete_done */
	zoo_op_t ops[SWEEP_MULTI_MAX + 1];
	zoo_op_result_t res[SWEEP_MULTI_MAX + 1];
	char paths[SWEEP_MULTI_MAX + 1][ZK_PATH_MAX];
};

/* Lock node @path has only the want nodes @sv: multi { delete them, it }. */
static void sweep_lock_node(struct cluster *c, const char *path, const struct String_vector *sv)
{
	struct zk_cluster *z = c->lm;
	struct sweep_multi *m;
	int i, n = 0;

	if (sv->count > (zk_test_sweep_in_use ? SWEEP_MULTI_MAX : ZK_NWANT))
		return;
	for (i = 0; i < sv->count && !zk_test_sweep_in_use; i++)
		if (zk_want_index(sv->data[i]) < 0)
			return; /* a request or a holder: in use */
	m = calloc(1, sizeof(*m));
	if (!m)
		return;
	m->r.c = c;
	snprintf(m->r.path, sizeof(m->r.path), "%s", path);
	for (i = 0; i < sv->count; i++) {
		snprintf(m->paths[n], ZK_PATH_MAX, "%s/%s", path, sv->data[i]);
		zoo_delete_op_init(&m->ops[n], m->paths[n], -1);
		n++;
	}
	zoo_delete_op_init(&m->ops[n], m->r.path, -1);
	n++;
	atomic_fetch_add_explicit(&c->stats.lm_sweep_requests, 1, memory_order_relaxed);
	atomic_fetch_add(&z->sweep.deletes_out, 1);
	if (zoo_amulti(z->zh, n, m->ops, m->res, delete_done, &m->r) != ZOK) {
		atomic_fetch_sub(&z->sweep.deletes_out, 1);
		free(m);
	}
}

/* Table node @path with Stat @st: deleted if no node has an entry. */
static void sweep_table(struct cluster *c, const char *path, const struct Stat *st)
{
	struct zk_cluster *z = c->lm;
	struct sweep_req *r;

	if (st->numChildren)
		return;
	r = sweep_req(c, 0, path);
	if (!r)
		return;
	atomic_fetch_add(&z->sweep.deletes_out, 1);
	if (zoo_adelete(z->zh, r->path, st->version, delete_done, r) != ZOK) {
		atomic_fetch_sub(&z->sweep.deletes_out, 1);
		free(r);
	}
}

static void free_names(struct String_vector *sv)
{
	if (sv->data)
		deallocate_String_vector(sv);
	sv->data = NULL;
	sv->count = 0;
}

/* How many names of @a are not in @b. */
static int names_not_in(const struct String_vector *a, const struct String_vector *b)
{
	int i, j, n = 0;

	for (i = 0; i < a->count; i++) {
		for (j = 0; j < b->count; j++)
			if (!strcmp(a->data[i], b->data[j]))
				break;
		n += j == b->count;
	}
	return n;
}

/*
 * The membership as listed (the first of the pair of reads; the second is
 * sweep_departed's): how many nodes went since the last listing - names
 * missing, and pairs of changes the names in and out do not account for
 * (its cversion counts every create and delete: a node that came and went
 * between two listings, or one that rejoined, its old session gone) - and
 * whether our name is the lowest.
 */
static void sweep_members(struct cluster *c, struct zk_listing *l)
{
	struct zk_sweep *sw = &((struct zk_cluster *)c->lm)->sweep;
	int in, out, pairs, j;

	sw->members_got = l->rc == ZOK;
	if (!sw->members_got)
		return; /* sweep_departed lists it again */
	sw->gone = -1;
	if (sw->members_seen) {
		out = names_not_in(&sw->members, &l->sv);
		in = names_not_in(&l->sv, &sw->members);
		pairs = (l->st.cversion - sw->members_cversion - in - out) / 2;
		sw->gone = out + (pairs > 0 ? pairs : 0);
	}
	sw->members_cversion = l->st.cversion;
	sw->lowest = true;
	for (j = 0; j < l->sv.count; j++)
		if (strcmp(l->sv.data[j], c->node_name) < 0)
			sw->lowest = false;
	free_names(&sw->members);
	sw->members = l->sv;
	l->sv.data = NULL;
	l->sv.count = 0;
}

/*
 * The version of <root>/departed, read right after the listing: a node
 * that unmounts cleanly deletes its membership entry and bumps it in one
 * multi (zk_sweep_departure), so a name the listing misses for a clean
 * unmount is counted here. If our name is the lowest, a sweep is due: of
 * the lock nodes and the tables if more nodes went than left cleanly (and
 * at the first listing of a session), of the tables alone if every node
 * that went left cleanly (a clean unmount deleted the lock nodes it used,
 * but a file it still had open kept its entry, and the table then stays
 * empty). A bump read before the listing shows its name gone (the multi
 * came between the two reads) may hide a crash counted in this listing;
 * the clean node's name then goes uncounted by the next listing, which
 * sweeps: nothing is left for good.
 */
static void sweep_departed(struct cluster *c, struct zk_listing *l)
{
	struct zk_sweep *sw = &((struct zk_cluster *)c->lm)->sweep;
	int clean = 0;

	sw->members_out = false;
	if (!sw->members_got) {
		sw->members_stale = true; /* listed again by the next zk_sweep_run */
		return;
	}
	sw->members_got = false;
	if (l->rc == ZOK && sw->members_seen)
		clean = l->st.version - sw->departed_version;
	if (l->rc == ZOK)
		sw->departed_version = l->st.version;
	if (sw->gone > 0) {
		atomic_fetch_add_explicit(&c->stats.lm_departures, (uint64_t)sw->gone,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&c->stats.lm_departures_clean,
					  (uint64_t)(clean < sw->gone ? clean : sw->gone),
					  memory_order_relaxed);
	}
	if (sw->lowest && (!sw->members_seen || sw->gone > clean))
		sw->due = SWEEP_LOCKS | SWEEP_TABLES;
	else if (sw->lowest && sw->gone > 0)
		sw->due |= SWEEP_TABLES;
	/* Not read (or gone): no version to count the next clean departures
	 * from; the next listing decides as at mount. */
	sw->members_seen = l->rc == ZOK;
}

/* Worker: an item of the sweep's (true), or not. */
bool zk_sweep_item(struct cluster *c, struct zk_event *ev)
{
	struct zk_cluster *z = c->lm;
	struct zk_sweep *sw = &z->sweep;
	struct zk_listing *l = ev->listing;
	struct lm_lockname name;
	const char *child;
	struct glock *gl;

	if (ev->type == ZOO_CHILD_EVENT && !strcmp(ev->path, sw->npath)) {
		sw->members_stale = true; /* a node came or went: list it again */
		return true;
	}
	if (ev->type > ZK_EV_MEMBERS || ev->type < ZK_EV_SWEEP_TABLE)
		return false;
	if (ev->seq != atomic_load(&sw->epoch))
		return true; /* of a session before the last reset */
	if (ev->type == ZK_EV_MEMBERS) {
		sweep_members(c, l);
		return true;
	}
	if (ev->type == ZK_EV_DEPARTED) {
		sweep_departed(c, l);
		return true;
	}
	if (sw->reads_out)
		sw->reads_out--;
	if (l->rc != ZOK)
		return true; /* gone, or not answered: the next sweep sees it */
	switch (ev->type) {
	case ZK_EV_SWEEP_ROOT:
		if (!strcmp(ev->path, z->gpath)) {
			free_names(&sw->g);
			sw->g = l->sv;
			sw->gi = 0;
		} else {
			free_names(&sw->p);
			sw->p = l->sv;
			sw->pi = 0;
		}
		l->sv.data = NULL;
		l->sv.count = 0;
		break;
	case ZK_EV_SWEEP_LOCK:
		if (!zk_parse_path(z, ev->path, &name, &child) || child)
			break;
		gl = glock_lookup(c, &name);
		if (gl)
			glock_put(gl); /* ours: its free deletes it */
		else
			sweep_lock_node(c, ev->path, &l->sv);
		break;
	case ZK_EV_SWEEP_TABLE:
		sweep_table(c, ev->path, &l->st);
		break;
	}
	return true;
}

/*
 * Worker (zk_poll): lists the membership when it changed, starts a sweep
 * when one is due, and keeps up to SWEEP_WINDOW of its reads and deletes
 * out.
 */
void zk_sweep_run(struct cluster *c, bool connected)
{
	struct zk_cluster *z = c->lm;
	struct zk_sweep *sw = &z->sweep;
	char path[ZK_PATH_MAX];
	unsigned lost = atomic_exchange(&sw->lost, 0);

	sw->reads_out -= lost < sw->reads_out ? lost : sw->reads_out;
	if (atomic_exchange(&sw->members_lost, false)) {
		/* The pair is broken: listed again, and decided as at mount
		 * (a sweep if our name is the lowest). */
		sw->members_out = false;
		sw->members_got = false;
		sw->members_seen = false;
		sw->members_stale = true;
	}
	if (!connected || !z->zh || zk_test_no_sweep)
		return;
	if (sw->members_stale && !sw->members_out) {
		/* The listing (its watch armed again) and the departed read
		 * behind it: answered in that order. */
		sw->members_stale = false;
		sw->members_out = sweep_read(c, ZK_EV_MEMBERS, sw->npath, true) &&
				  sweep_read(c, ZK_EV_DEPARTED, sw->dpath, false);
		if (!sw->members_out) {
			sw->members_stale = true;
			sw->members_seen = false; /* a pair half sent: as at mount */
		}
	}
	if (sw->due && !sw->running) {
		sw->running = sw->due;
		sw->due = 0;
		free_names(&sw->g);
		free_names(&sw->p);
		if (sw->running & SWEEP_LOCKS)
			sweep_read(c, ZK_EV_SWEEP_ROOT, z->gpath, false);
		sweep_read(c, ZK_EV_SWEEP_ROOT, z->ppath, false);
	}
	if (!sw->running)
		return;
	while (sw->reads_out + atomic_load(&sw->deletes_out) < SWEEP_WINDOW) {
		if (sw->gi < (unsigned)sw->g.count) {
			struct lm_lockname name;
			const char *child;
			struct glock *gl = NULL;

			snprintf(path, sizeof(path), "%s/%s", z->gpath, sw->g.data[sw->gi++]);
			/* Ours (its free deletes it), or not a lock node. */
			if (!zk_parse_path(z, path, &name, &child) || child ||
			    (gl = glock_lookup(c, &name))) {
				if (gl)
					glock_put(gl);
				continue;
			}
			sweep_read(c, ZK_EV_SWEEP_LOCK, path, false);
		} else if (sw->pi < (unsigned)sw->p.count) {
			snprintf(path, sizeof(path), "%s/%s", z->ppath, sw->p.data[sw->pi++]);
			sweep_read(c, ZK_EV_SWEEP_TABLE, path, false);
		} else {
			break;
		}
	}
	if (!sw->reads_out && !atomic_load(&sw->deletes_out) && sw->gi >= (unsigned)sw->g.count &&
	    sw->pi >= (unsigned)sw->p.count) {
		atomic_fetch_add_explicit(sw->running & SWEEP_LOCKS ? &c->stats.lm_sweeps
								    : &c->stats.lm_table_sweeps,
					  1, memory_order_relaxed);
		sw->running = 0;
		free_names(&sw->g);
		free_names(&sw->p);
	}
}

/* Mount: the paths (<root>/departed is made by zk_mount); the membership is
 * listed (and a sweep decided) at the worker's first poll. */
void zk_sweep_init(struct cluster *c)
{
	struct zk_cluster *z = c->lm;

	snprintf(z->sweep.npath, sizeof(z->sweep.npath), "%s/nodes", z->root);
	snprintf(z->sweep.dpath, sizeof(z->sweep.dpath), "%s/departed", z->root);
	z->sweep.members_stale = true;
}

/*
 * The session was replaced (a rejoin) or is over (unmount), after the old
 * handle was closed and its items dropped: what was out is not coming (an
 * answer still delivered later is of an older epoch: ignored; a delete's
 * answer is counted in deletes_out whatever its session). A rejoin lists the membership again (its
 * watch went with the session) and sweeps if its name is the lowest.
 */
void zk_sweep_reset(struct zk_cluster *z, bool rejoin)
{
	struct zk_sweep *sw = &z->sweep;

	free_names(&sw->g);
	free_names(&sw->p);
	sw->gi = sw->pi = 0;
	sw->reads_out = 0;
	/* An answer of the old session still to come is ignored. */
	atomic_fetch_add(&sw->epoch, 1);
	atomic_store(&sw->lost, 0);
	atomic_store(&sw->members_lost, false);
	sw->running = 0;
	sw->members_out = false;
	sw->members_got = false;
	if (rejoin) {
		sw->members_stale = true;
		sw->members_seen = false; /* sweeps if lowest, as at mount */
	} else {
		free_names(&sw->members);
	}
}

/*
 * A clean unmount, before its session ends: multi { delete our membership
 * entry, bump <root>/departed }, so that the other nodes need not read
 * every lock node after us (zk_gc_unmount deleted those we used; the
 * tables are swept anyway). Not sent if a lock-node delete of ours failed
 * or is unanswered, or while a stray of ours is left (what they leave is
 * for the sweep), nor if the server does not answer: then the entry goes
 * with the session, a departure like a crash's.
 */
void zk_sweep_departure(struct cluster *c)
{
	struct zk_cluster *z = c->lm;
	char path[ZK_PATH_MAX];
	zoo_op_t ops[2];
	zoo_op_result_t res[2];
	uint64_t t;
	int rc;

	bool busy;

	pthread_mutex_lock(&z->ev_lock);
	busy = z->gc_inflight || z->gc_failed || !z->connected || !z->zh;
	pthread_mutex_unlock(&z->ev_lock);
	if (zk_test_no_clean_departure || zk_test_keep_lock_nodes || z->strays || busy)
		return;
	snprintf(path, sizeof(path), "%s/%s", z->sweep.npath, c->node_name);
	zoo_delete_op_init(&ops[0], path, -1);
	zoo_set_op_init(&ops[1], z->sweep.dpath, NULL, -1, -1, NULL);
	t = zk_call_begin(c);
	rc = zoo_multi(z->zh, 2, ops, res);
	zk_call_end(c, t, rc);
}

/* SPDX-License-Identifier: MIT */
/*
 * plock_zk.c - the zk module's byte-range lock tables (lm_plock, plock.h).
 *
 * Layout: <root>/p/<number 16 hex>-<gen 16 hex>, a persistent znode per file
 * (its data is empty; its data version is the table's version), and under
 * it one EPHEMERAL child per node, named by the node, whose data is that
 * node's set ("plock/1\n" then a line "R|W <start> <end>" per range).
 *
 * A call reads the file node's children with its Stat (version v) and the
 * sets of the other nodes; a conflict with the range wanted is -EAGAIN.
 * Otherwise it publishes with one multi: setData(file node, version v) and
 * the set (create, setData or delete of its own child). Every publish bumps
 * the file node, so a node whose read came before another's publish fails
 * its multi (ZBADVERSION), reads again and decides again: no two nodes are
 * granted conflicting ranges. A release (no range wanted) publishes with
 * version -1: it removes ranges only, yet still bumps the version. Parents
 * are never deleted (a recreated one would restart its version).
 *
 * A change first tries the cached view of the table (plock_zk_cache.c: the
 * version and the other nodes' sets of the last look): decided from it and
 * published in one multi with the view's version, which commits only if the
 * view was still the table. A refused multi or a conflict in the view: a
 * look as above (only a look answers -EAGAIN).
 *
 * Locks: zh_lock (lock_zk.h), held shared for the whole call: the worker
 * cannot close or replace the handle meanwhile. The caller holds only its
 * per-file mutex (fs/posix_locks.c's "flc_plock"); nothing else is taken but
 * ev_lock, briefly, to wait for a reconnection, and the view cache's leaf
 * mutex to copy a view. plock_watcher runs in the client library's
 * completion thread: an atomic and a wake-up only.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/lock_zk.h"

#define PLOCK_TAG      "plock/1\n"
#define PLOCK_DATA_MAX (64 * 1024) /* a set's encoding; ZooKeeper allows < 1 MiB */

/* Any watch of a table: a set changed or went (a node's end). The client
 * library also hands every watcher the session's events: those are
 * membership's (cluster.c bumps plock_seq at a loss and at a rejoin; the
 * client arms the watches again itself after a reconnection). */
static void plock_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	struct cluster *c = ctx;

	if (type == ZOO_SESSION_EVENT)
		return;

	atomic_fetch_add(&c->plock_seq, 1);
	if (wq_has_sleeper(&c->plock_wait))
		wake_up_all(&c->plock_wait);
}

/* The set's encoding into @buf: its length, -ENOLCK if it does not fit,
 * -EINVAL for a malformed range. */
static int plock_encode(const struct plock_range *set, unsigned n, char *buf, size_t size)
{
	size_t len = strlen(PLOCK_TAG);
	unsigned i;

	memcpy(buf, PLOCK_TAG, len);
	for (i = 0; i < n; i++) {
		const struct plock_range *r = &set[i];
		int k;

		if ((r->type != F_RDLCK && r->type != F_WRLCK) || r->start < 0 || r->end < r->start)
			return -EINVAL;
		k = snprintf(buf + len, size - len, "%c %" PRId64 " %" PRId64 "\n",
			     r->type == F_WRLCK ? 'W' : 'R', r->start, r->end);
		if (k < 0 || (size_t)k >= size - len)
			return -ENOLCK;
		len += (size_t)k;
	}
	return (int)len;
}

static bool plock_conflicts(const struct plock_range *a, const struct plock_range *b)
{
	if (a->end < b->start || b->end < a->start)
		return false;
	return a->type == F_WRLCK || b->type == F_WRLCK;
}

/* Another node's set (@data, @len) against @want: true with *@out a
 * conflicting range. A set this build cannot read conflicts with anything
 * (a node of another format must not be overlooked). Its ranges are added
 * to @acc's (one more than it keeps: too many to keep). */
static bool plock_find_conflict(char *data, int len, const struct plock_range *want,
				struct plock_range *out, struct plock_view *acc)
{
	size_t tl = strlen(PLOCK_TAG);
	char *p, *end;

	if (len < (int)tl || memcmp(data, PLOCK_TAG, tl))
		goto unreadable;
	data[len] = 0;
	for (p = data + tl; *p; p = end) {
		struct plock_range r;
		char t;
		long long s, e;
		int used = 0;

		end = strchr(p, '\n');
		if (!end)
			goto unreadable;
		*end++ = 0;
		if (sscanf(p, "%c %lld %lld%n", &t, &s, &e, &used) != 3 || p[used] ||
		    (t != 'R' && t != 'W') || s < 0 || e < s)
			goto unreadable;
		r.type = t == 'W' ? F_WRLCK : F_RDLCK;
		r.start = s;
		r.end = e;
		if (acc->nothers < PLOCK_CACHE_RANGES)
			acc->others[acc->nothers++] = r;
		else
			acc->nothers = PLOCK_CACHE_RANGES + 1;
		if (plock_conflicts(&r, want)) {
			*out = r;
			return true;
		}
	}
	return false;
unreadable:
	out->type = F_WRLCK;
	out->start = 0;
	out->end = INT64_MAX;
	return true;
}

static bool lost_connection(int rc)
{
	return rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT;
}

/* A lost connection while the session lasts: until the client is connected
 * again (0) or the session is lost (-EIO). Under zh_lock shared. */
static int plock_wait_connected(struct cluster *c, struct zk_cluster *z)
{
	int ret = 0;

	pthread_mutex_lock(&z->ev_lock);
	for (;;) {
		struct timespec dl;
		uint64_t until;

		if (z->expired || glock_lease_check(c) < 0) {
			ret = -EIO;
			break;
		}
		if (z->connected && zoo_state(z->zh) == ZOO_CONNECTED_STATE)
			break;
		/* The watcher signals ev_cond when connected or expired; the
		 * lease's end has no signal: the wait ends there at the latest
		 * (and at 50 ms, for a state change the flag does not show yet). */
		until = cluster_now_ns() + 50 * 1000000ull;
		if (atomic_load(&c->lost_at_ns) < until)
			until = atomic_load(&c->lost_at_ns);
		dl.tv_sec = (time_t)(until / 1000000000ull);
		dl.tv_nsec = (long)(until % 1000000000ull);
		pthread_cond_timedwait(&z->ev_cond, &z->ev_lock, &dl);
	}
	pthread_mutex_unlock(&z->ev_lock);
	return ret;
}

/* Creates the file's node (and <root>/p, for a root made before it). */
static int plock_make_parent(struct cluster *c, struct zk_cluster *z, const char *fpath)
{
	uint64_t t;
	int rc, tries;

	for (tries = 0; tries < 2; tries++) {
		t = zk_call_begin(c);
		rc = zoo_create(z->zh, fpath, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL,
				0);
		zk_call_end(c, t, rc);
		if (rc != ZNONODE)
			break;
		t = zk_call_begin(c);
		rc = zoo_create(z->zh, z->ppath, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT,
				NULL, 0);
		zk_call_end(c, t, rc);
		if (rc != ZOK && rc != ZNODEEXISTS)
			break;
	}
	return rc == ZNODEEXISTS ? ZOK : rc;
}

struct plock_call {
	const struct plock_range *want, *set;
	unsigned n, flags;
	struct plock_range *conflict;
	uint64_t *seq;
	bool publish;	  /* false: a test only (F_GETLK) */
	const char *mine; /* the set's encoding (NULL when @n is 0) */
	int mlen;
	bool unknown; /* a multi of ours may have been applied */
	char fpath[ZK_PATH_MAX], cpath[ZK_PATH_MAX];
	char *buf; /* PLOCK_DATA_MAX + 1 */
	/* The file, session and generation (the cache's key) and what the
	 * last look read: the view it leaves in the cache. */
	struct plock_view view;
};

/* The outcome of one look: a result for the caller, or one of these. */
#define PLOCK_AGAIN (-10000) /* the table changed under us: look again */
#define PLOCK_LOST  (-10001) /* lost connection: reconnect, look again */
#define PLOCK_MISS  (-10002) /* no cached view to decide with: look */

static int plock_zrc(int rc)
{
	if (lost_connection(rc))
		return PLOCK_LOST;
	return -EIO; /* ZSESSIONEXPIRED, ZINVALIDSTATE, or worse */
}

/* Our multi committed, making the file node's version @version. A grant's
 * look read every other node's set at @version - 1 (the multi's version
 * check): with our new set that is the table at @version. A release read no
 * other set: an older view follows it only if no other publish came between. */
static void plock_published(struct zk_cluster *z, struct plock_call *pc, int32_t version)
{
	if (pc->want && !plock_test_no_version_check && version == pc->view.version + 1 &&
	    pc->view.nothers <= PLOCK_CACHE_RANGES) {
		pc->view.version = version;
		pc->view.own = pc->n > 0;
		plock_cache_put(z->pcache, &pc->view);
	} else {
		plock_cache_published(z->pcache, &pc->view, version, pc->n > 0);
	}
}

/*
 * Our set published in one multi: setData(file node, @version, or -1 for a
 * release) and our child's op - delete it (nothing held), write it (@own:
 * ours is there, @own_ours: of this session), or create it (a child of our
 * previous session is deleted first: its end would take our new set with
 * it). Not sent on a handle that is not connected (*@sent false):
 * ZSESSIONEXPIRED where it cannot recover, ZCONNECTIONLOSS where it may -
 * the client library's zoo_multi (3.8.0) frees a path pointer it never set
 * when a handle that cannot recover fails an op (lock_zk_pipe.c), and leaks
 * its completion list when the connection is lost; a look after the
 * reconnection decides as well. Returns the multi's ZooKeeper rc; *@fst:
 * the file node's Stat after it.
 */
static int plock_multi(struct cluster *c, struct zk_cluster *z, struct plock_call *pc,
		       int32_t version, bool own, bool own_ours, struct Stat *fst, bool *sent)
{
	zoo_op_t ops[3];
	zoo_op_result_t res[3];
	struct Stat sst;
	int nops = 0, rc;
	uint64_t t;

	if (sent)
		*sent = false;
	zoo_set_op_init(&ops[nops++], pc->fpath, "", 0,
			pc->want && !plock_test_no_version_check ? version : -1, fst);
	if (!pc->n || (own && !own_ours))
		zoo_delete_op_init(&ops[nops++], pc->cpath, -1);
	if (pc->n && own && own_ours)
		zoo_set_op_init(&ops[nops++], pc->cpath, pc->mine, pc->mlen, -1, &sst);
	else if (pc->n)
		zoo_create_op_init(&ops[nops++], pc->cpath, pc->mine, pc->mlen,
				   &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0);
	if (plock_test_before_publish)
		plock_test_before_publish(c);
	rc = zoo_state(z->zh);
	if (rc == ZOO_EXPIRED_SESSION_STATE || rc == ZOO_AUTH_FAILED_STATE)
		return ZSESSIONEXPIRED;
	if (rc != ZOO_CONNECTED_STATE)
		return ZCONNECTIONLOSS;
	if (sent)
		*sent = true;
	t = zk_call_begin(c);
	rc = zoo_multi(z->zh, nops, ops, res);
	zk_call_end(c, t, rc);
	return rc;
}

/*
 * A change decided with the cached view of the table and published in one
 * multi: setData(file node, the view's version) with our child's op. The
 * multi commits only if no publish came since the view (every publish bumps
 * the version; a node's end only removes ranges): then the view's sets were
 * the table's and the decision was right. PLOCK_MISS: no view, a conflict in
 * the view (it may be stale: only a look may answer -EAGAIN), or the multi
 * refused (the view dropped): the caller looks. A release publishes with
 * version -1 as a look's does: the view says whether our child is there.
 */
static int plock_try_cached(struct cluster *c, struct zk_cluster *z, struct plock_call *pc)
{
	struct plock_view *v;
	struct Stat fst;
	unsigned i;
	int rc;

	if (!pc->publish || plock_test_no_cache || !z->pcache)
		return PLOCK_MISS;
	v = malloc(sizeof(*v));
	if (!v)
		return PLOCK_MISS;
	if (!plock_cache_get(z->pcache, &pc->view, v))
		goto miss;
	if (pc->want) {
		for (i = 0; i < v->nothers; i++)
			if (plock_conflicts(&v->others[i], pc->want))
				goto miss;
	} else if (!v->own) {
		goto miss; /* nothing of ours there (or a lost delete): a look decides */
	}
	if (!pc->n && !v->own)
		goto miss; /* nothing to delete (a lock asked with an empty set) */
	rc = plock_multi(c, z, pc, v->version, v->own, true, &fst, NULL);
	if (rc == ZOK) {
		pc->view.version = v->version;
		free(v);
		plock_cache_published(z->pcache, &pc->view, fst.version, pc->n > 0);
		return 0;
	}
	plock_cache_drop(z->pcache, &pc->view);
	free(v);
	if (rc == ZBADVERSION || rc == ZNONODE || rc == ZNODEEXISTS)
		return PLOCK_MISS; /* the table changed since the view */
	return plock_zrc(rc);
miss:
	free(v);
	return PLOCK_MISS;
}

/* One look at the table and, if nothing conflicts, one publish. */
static int plock_look(struct cluster *c, struct zk_cluster *z, struct plock_call *pc)
{
	bool watch = (pc->flags & PLOCK_WATCH) && pc->want;
	watcher_fn wfn = watch ? plock_watcher : NULL;
	struct String_vector sv = {0};
	struct Stat st, ost;
	bool own = false, own_ours = true, sent;
	struct Stat fst;
	int rc, ret = 0, i;
	uint64_t s, t;

	pc->view.nothers = 0;
	/* Before the reads that arm the watches: a change after them moves it. */
	s = atomic_load(&c->plock_seq);
	t = zk_call_begin(c);
	rc = zoo_wget_children2(z->zh, pc->fpath, wfn, c, &sv, &st);
	zk_call_end(c, t, rc);
	if (rc == ZNONODE) {
		/* Nobody ever published on this file: nothing conflicts. */
		if (!pc->publish || !pc->n)
			return 0;
		rc = plock_make_parent(c, z, pc->fpath);
		if (rc != ZOK)
			return plock_zrc(rc);
		return PLOCK_AGAIN;
	}
	if (rc != ZOK)
		return plock_zrc(rc);
	for (i = 0; i < sv.count; i++) {
		bool mine = !strcmp(sv.data[i], c->node_name);
		char path[ZK_PATH_MAX];
		int len = PLOCK_DATA_MAX;

		if (!mine && !pc->want)
			continue; /* a release reads only its own */
		if (snprintf(path, sizeof(path), "%s/%s", pc->fpath, sv.data[i]) >=
		    (int)sizeof(path))
			continue;
		t = zk_call_begin(c);
		rc = zoo_wget(z->zh, path, mine ? NULL : wfn, c, pc->buf, &len, &ost);
		zk_call_end(c, t, rc);
		if (rc == ZNONODE)
			continue; /* it went since the listing: its ranges went with it */
		if (rc != ZOK) {
			ret = plock_zrc(rc);
			goto out;
		}
		if (mine) {
			const clientid_t *id = zoo_client_id(z->zh);

			own = true;
			/* A child of our previous session lingers until the server
			 * expires it: replaced, not written (its end would take
			 * our new set with it). */
			own_ours = id && ost.ephemeralOwner == id->client_id;
			if (pc->unknown && own_ours && pc->mine && len == pc->mlen &&
			    !memcmp(pc->buf, pc->mine, (size_t)len))
				goto out; /* our lost multi was applied: done */
			continue;
		}
		if (len < 0)
			len = 0;
		if (len > PLOCK_DATA_MAX)
			len = PLOCK_DATA_MAX;
		if (plock_find_conflict(pc->buf, len, pc->want, pc->conflict, &pc->view)) {
			if (pc->seq)
				*pc->seq = s;
			/* A view of ours older than this table is stale. */
			plock_cache_drop(z->pcache, &pc->view);
			ret = -EAGAIN;
			goto out;
		}
	}
	pc->view.version = st.version;
	pc->view.own = own;
	if (!pc->publish) {
		/* A test (F_GETLK): nothing published; what it read is the
		 * table at st.version (a child of our previous session: not
		 * a view to publish from). */
		if (own_ours && pc->view.nothers <= PLOCK_CACHE_RANGES)
			plock_cache_put(z->pcache, &pc->view);
		goto out;
	}
	if (!pc->n && !own)
		goto out; /* nothing held, nothing to hold (a lost delete: applied) */
	rc = plock_multi(c, z, pc, st.version, own, own_ours, &fst, &sent);
	if (rc == ZOK) {
		plock_published(z, pc, fst.version);
		goto out;
	}
	if (!sent) {
		ret = plock_zrc(rc);
		goto out;
	}
	plock_cache_drop(z->pcache, &pc->view);
	if (rc == ZBADVERSION || rc == ZNONODE || rc == ZNODEEXISTS)
		ret = PLOCK_AGAIN; /* another node published, or a child came or went */
	else
		ret = plock_zrc(rc);
out:
	deallocate_String_vector(&sv);
	return ret;
}

int zk_plock(struct cluster *c, const struct lm_lockname *name, const struct plock_range *want,
	     const struct plock_range *set, unsigned n, unsigned flags,
	     struct plock_range *conflict, uint64_t *seq)
{
	struct zk_cluster *z = c->lm;
	struct plock_call *pc;
	char *enc = NULL;
	int ret;

	pc = calloc(1, sizeof(*pc));
	if (pc)
		pc->buf = malloc(PLOCK_DATA_MAX + 1);
	if (set)
		enc = malloc(PLOCK_DATA_MAX);
	if (!pc || !pc->buf || (set && !enc)) {
		ret = -ENOMEM;
		goto free;
	}
	pc->want = want;
	pc->set = set;
	pc->n = n;
	pc->flags = flags;
	pc->conflict = conflict;
	pc->seq = seq;
	if (set) {
		ret = plock_encode(set, n, enc, PLOCK_DATA_MAX);
		if (ret < 0)
			goto free;
		pc->mine = enc;
		pc->mlen = ret;
	}
	pc->publish = set || !want;
	if (want && ((want->type != F_RDLCK && want->type != F_WRLCK) || want->start < 0 ||
		     want->end < want->start)) {
		ret = -EINVAL;
		goto free;
	}
	if (snprintf(pc->fpath, sizeof(pc->fpath), "%s/%016" PRIx64 "-%016" PRIx64, z->ppath,
		     name->ln_number, name->ln_gen) >= (int)sizeof(pc->fpath) ||
	    snprintf(pc->cpath, sizeof(pc->cpath), "%s/%s", pc->fpath, c->node_name) >=
		(int)sizeof(pc->cpath)) {
		ret = -ENOLCK; /* a root path too long for the layout */
		goto free;
	}

	pc->view.number = name->ln_number;
	pc->view.gen = name->ln_gen;

	pthread_rwlock_rdlock(&z->zh_lock);
	if (!z->zh || glock_lease_check(c) < 0) {
		ret = -EIO;
		goto unlock;
	}
	{
		const clientid_t *id = zoo_client_id(z->zh);

		/* The handle's session, fixed while zh_lock is held shared. */
		pc->view.session = id ? id->client_id : 0;
		pc->view.generation = atomic_load(&c->generation);
	}
	ret = plock_try_cached(c, z, pc);
	if (ret == PLOCK_LOST) {
		pc->unknown = true; /* the next look finds out */
		ret = plock_wait_connected(c, z);
		if (ret)
			goto unlock;
		ret = PLOCK_MISS;
	}
	if (ret != PLOCK_MISS)
		goto unlock;
	for (;;) {
		if (!z->zh || glock_lease_check(c) < 0) {
			ret = -EIO;
			break;
		}
		ret = plock_look(c, z, pc);
		if (ret == PLOCK_AGAIN)
			continue;
		if (ret != PLOCK_LOST)
			break;
		/* The multi, if sent, may have been applied: the next look
		 * finds out (our own child's data). */
		pc->unknown = true;
		ret = plock_wait_connected(c, z);
		if (ret)
			break;
	}
unlock:
	pthread_rwlock_unlock(&z->zh_lock);
free:
	if (pc)
		free(pc->buf);
	free(pc);
	free(enc);
	return ret;
}

/* SPDX-License-Identifier: MIT */
/*
 * plock_zk.c - the zk module's byte-range lock tables (lm_plock, plock.h).
 *
 * Layout: <root>/p/<number 16 hex>-<gen 16 hex>, a persistent znode per file
 * (its data is empty; its data version is the table's version), and under
 * it one EPHEMERAL child per node that uses the table (its entry), named by
 * the node, whose data is that node's set ("plock/1\n" then a line
 * "R|W <start> <end>" per range; an empty set after its last release).
 *
 * A grant first makes our entry (if no view says it is there), then reads
 * the file node's children with its Stat (version v) and the sets of the
 * other nodes; a conflict with the range wanted is -EAGAIN. Otherwise it
 * publishes with one multi: setData(file node, version v) and setData of our
 * entry (its set). Every publish bumps the file node, so a node whose read
 * came before another's publish fails its multi (ZBADVERSION), reads again
 * and decides again: no two nodes are granted conflicting ranges. Our entry
 * pins the file node (a node with children is not deleted): the v read while
 * it exists is of the node the multi's write of it finds, never of an
 * earlier one deleted and made again at the same version. A release (no
 * range wanted) publishes with version -1: it removes ranges only, yet
 * still bumps the version. cluster_plock_forget (the engine evicts the
 * file's inode) deletes our entry and, when it was the last, the file node.
 *
 * A change first tries the cached view of the table (plock_zk_cache.c: the
 * version and the other nodes' sets of the last look): decided from it and
 * published in one multi with the view's version, which commits only if the
 * view was still the table. A refused multi or a conflict in the view: a
 * look as above (only a look answers -EAGAIN).
 *
 * Locks: zh_lock (lock_zk.h), held shared for the whole call (a forget's
 * too): the worker cannot close or replace the handle meanwhile. The caller
 * holds only its per-file mutex (fs/posix_locks.c's "flc_plock"); nothing
 * else is taken but ev_lock, briefly, to wait for a reconnection, and the
 * view cache's leaf mutex to copy a view. plock_watcher runs in the client
 * library's completion thread: an atomic and a wake-up only.
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

/* The file node's and our entry's paths (ZK_PATH_MAX each): 0, or -ENOLCK
 * for a root path too long for the layout. */
static int plock_paths(struct cluster *c, struct zk_cluster *z, const struct lm_lockname *name,
		       char *fpath, char *cpath)
{
	if (snprintf(fpath, ZK_PATH_MAX, "%s/%016" PRIx64 "-%016" PRIx64, z->ppath, name->ln_number,
		     name->ln_gen) >= ZK_PATH_MAX ||
	    snprintf(cpath, ZK_PATH_MAX, "%s/%s", fpath, c->node_name) >= ZK_PATH_MAX)
		return -ENOLCK;
	return 0;
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
	bool sent;    /* a multi of ours was sent in this call */
	/* A grant is decided only while our entry pins the file node: made
	 * first (need_entry), replacing a child of our previous session
	 * (replace); made: by this call, in this session (an empty set). */
	bool need_entry, replace, made;
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
		pc->view.own = true;
		plock_cache_put(z->pcache, &pc->view);
	} else {
		plock_cache_published(z->pcache, &pc->view, version, true);
	}
}

/*
 * A multi sent on a connected handle only: ZSESSIONEXPIRED where it cannot
 * recover, ZCONNECTIONLOSS where it may, without sending - the client
 * library's zoo_multi (3.8.0) frees a path pointer it never set when a
 * handle that cannot recover fails an op (lock_zk_pipe.c), and leaks its
 * completion list when the connection is lost; a look after the
 * reconnection decides as well. *@sent: whether it went out.
 */
static int plock_send(struct cluster *c, struct zk_cluster *z, int nops, const zoo_op_t *ops,
		      zoo_op_result_t *res, bool *sent)
{
	uint64_t t;
	int rc;

	*sent = false;
	rc = zoo_state(z->zh);
	if (rc == ZOO_EXPIRED_SESSION_STATE || rc == ZOO_AUTH_FAILED_STATE)
		return ZSESSIONEXPIRED;
	if (rc != ZOO_CONNECTED_STATE)
		return ZCONNECTIONLOSS;
	*sent = true;
	t = zk_call_begin(c);
	rc = zoo_multi(z->zh, nops, ops, res);
	zk_call_end(c, t, rc);
	return rc;
}

/*
 * Our set published in one multi: setData(file node, @version, or -1 for a
 * release) and our entry's op - written (@own: ours is there, @own_ours: of
 * this session), or created (a child of our previous session is deleted
 * first: its end would take our new set with it). The entry is never deleted
 * here: an empty set stays until cluster_plock_forget. The write of our
 * entry fails the multi (ZNONODE) if the entry is gone: a commit proves it
 * was there, and so the file node it pins. Returns the multi's ZooKeeper rc;
 * *@fst: the file node's Stat after it; *@sent as plock_send's.
 */
static int plock_multi(struct cluster *c, struct zk_cluster *z, struct plock_call *pc,
		       int32_t version, bool own, bool own_ours, struct Stat *fst, bool *sent)
{
	zoo_op_t ops[3];
	zoo_op_result_t res[3];
	struct Stat sst;
	bool went;
	int nops = 0, rc;

	zoo_set_op_init(&ops[nops++], pc->fpath, "", 0,
			pc->want && !plock_test_no_version_check ? version : -1, fst);
	if (own && own_ours) {
		zoo_set_op_init(&ops[nops++], pc->cpath, pc->mine, pc->mlen, -1, &sst);
	} else {
		if (own)
			zoo_delete_op_init(&ops[nops++], pc->cpath, -1);
		zoo_create_op_init(&ops[nops++], pc->cpath, pc->mine, pc->mlen,
				   &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0);
	}
	if (plock_test_before_publish)
		plock_test_before_publish(c);
	rc = plock_send(c, z, nops, ops, res, &went);
	if (went)
		pc->sent = true;
	if (sent)
		*sent = went;
	return rc;
}

/*
 * Our entry (an empty set) made before a grant's look: a version read while
 * it exists is of the file node it pins (a node with children is not
 * deleted), and the publishing multi's write of it proves it still exists.
 * A child of our previous session is replaced (@pc->replace). 0: there (made
 * now, pc->made, or found: the look reads whose it is); PLOCK_AGAIN: not
 * made (the file node went again, or our old child did): look again.
 */
static int plock_make_entry(struct cluster *c, struct zk_cluster *z, struct plock_call *pc)
{
	size_t tl = strlen(PLOCK_TAG);
	uint64_t t;
	int rc;

	if (pc->replace) {
		zoo_op_t ops[2];
		zoo_op_result_t res[2];
		bool sent;

		zoo_delete_op_init(&ops[0], pc->cpath, -1);
		zoo_create_op_init(&ops[1], pc->cpath, PLOCK_TAG, (int)tl, &ZOO_OPEN_ACL_UNSAFE,
				   ZOO_EPHEMERAL, NULL, 0);
		rc = plock_send(c, z, 2, ops, res, &sent);
		if (rc == ZNONODE)
			pc->replace = false; /* gone meanwhile (expired): made below */
	} else {
		int tries;

		/* No file node: made, and our entry again (once: a file node
		 * deleted meanwhile - forgotten by its last node - is looked
		 * for again). */
		for (tries = 0; tries < 2; tries++) {
			t = zk_call_begin(c);
			rc = zoo_create(z->zh, pc->cpath, PLOCK_TAG, (int)tl, &ZOO_OPEN_ACL_UNSAFE,
					ZOO_EPHEMERAL, NULL, 0);
			zk_call_end(c, t, rc);
			if (rc != ZNONODE || tries)
				break;
			rc = plock_make_parent(c, z, pc->fpath);
			if (rc != ZOK)
				return plock_zrc(rc);
		}
	}
	if (rc == ZNONODE)
		return PLOCK_AGAIN;
	if (rc == ZOK) {
		pc->made = true;
		pc->replace = false;
	}
	if (rc != ZOK && rc != ZNODEEXISTS)
		return plock_zrc(rc);
	return 0;
}

/*
 * A change decided with the cached view of the table and published in one
 * multi: setData(file node, the view's version) with the write of our entry.
 * The multi commits only if no publish came since the view (every publish
 * bumps the version; a node's end or forget only removes ranges) and our
 * entry is still there: then the view's version was of this file node (our
 * entry pinned it since the view's look), its sets were the table's and the
 * decision was right. A view without our entry (a test's) decides no grant.
 * PLOCK_MISS: no view, a conflict in the view (it may be stale: only a look
 * may answer -EAGAIN), or the multi refused (the view dropped): the caller
 * looks. A release publishes with version -1 as a look's does.
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
	pc->need_entry = !v->own;
	if (!v->own && (!pc->want || !plock_test_no_pin))
		goto miss; /* no entry of ours: a look decides (a release: nothing held) */
	if (pc->want)
		for (i = 0; i < v->nothers; i++)
			if (plock_conflicts(&v->others[i], pc->want))
				goto miss;
	rc = plock_multi(c, z, pc, v->version, v->own, true, &fst, NULL);
	if (rc == ZOK) {
		pc->view.version = v->version;
		free(v);
		plock_cache_published(z->pcache, &pc->view, fst.version, true);
		return 0;
	}
	plock_cache_drop(z->pcache, &pc->view);
	free(v);
	if (rc == ZBADVERSION || rc == ZNONODE || rc == ZNODEEXISTS) {
		/* the table changed since the view, or our entry is not there */
		if (rc != ZBADVERSION)
			pc->need_entry = true;
		return PLOCK_MISS;
	}
	return plock_zrc(rc);
miss:
	free(v);
	return PLOCK_MISS;
}

/* Our entry's data (a lost multi's outcome) and session: *@own_ours; 1 when
 * the multi whose answer was lost was applied (done), 0, or an error. */
static int plock_read_own(struct cluster *c, struct zk_cluster *z, struct plock_call *pc, bool *own,
			  bool *own_ours)
{
	const clientid_t *id;
	struct Stat ost;
	int len = PLOCK_DATA_MAX, rc;
	uint64_t t;

	t = zk_call_begin(c);
	rc = zoo_wget(z->zh, pc->cpath, NULL, NULL, pc->buf, &len, &ost);
	zk_call_end(c, t, rc);
	if (rc == ZNONODE)
		return 0; /* gone since the listing */
	if (rc != ZOK)
		return plock_zrc(rc);
	id = zoo_client_id(z->zh);
	*own = true;
	/* A child of our previous session lingers until the server expires it:
	 * replaced, not written (its end would take our new set with it). */
	*own_ours = id && ost.ephemeralOwner == id->client_id;
	return pc->unknown && *own_ours && pc->mine && len == pc->mlen &&
	       !memcmp(pc->buf, pc->mine, (size_t)len);
}

/*
 * One look at the table and, if nothing conflicts, one publish. A grant is
 * looked at only with our entry there (made first): the version read is of
 * the file node our entry pins.
 */
static int plock_look(struct cluster *c, struct zk_cluster *z, struct plock_call *pc)
{
	bool watch = (pc->flags & PLOCK_WATCH) && pc->want;
	bool pin = pc->want && pc->publish && !plock_test_no_pin;
	watcher_fn wfn = watch ? plock_watcher : NULL;
	struct String_vector sv = {0};
	struct Stat st, ost;
	bool own = false, own_ours = true, sent;
	struct Stat fst;
	int rc, ret = 0, i;
	uint64_t s, t;

	pc->view.nothers = 0;
	if (pin && pc->need_entry) {
		ret = plock_make_entry(c, z, pc);
		if (ret)
			return ret;
		pc->need_entry = false;
	}
	/* Before the reads that arm the watches: a change after them moves it. */
	s = atomic_load(&c->plock_seq);
	t = zk_call_begin(c);
	rc = zoo_wget_children2(z->zh, pc->fpath, wfn, c, &sv, &st);
	zk_call_end(c, t, rc);
	if (rc == ZNONODE) {
		/* No table (nobody uses the file, or it was just forgotten):
		 * nothing conflicts. */
		if (!pc->publish || (!pc->want && !pc->n))
			return 0;
		pc->need_entry = true;
		if (!pin) {
			rc = plock_make_parent(c, z, pc->fpath);
			if (rc != ZOK)
				return plock_zrc(rc);
		}
		return PLOCK_AGAIN;
	}
	if (rc != ZOK)
		return plock_zrc(rc);
	for (i = 0; i < sv.count; i++) {
		if (strcmp(sv.data[i], c->node_name))
			continue;
		if (pc->made && !pc->unknown) {
			own = true; /* made by this call: ours, empty */
			break;
		}
		ret = plock_read_own(c, z, pc, &own, &own_ours);
		if (ret == 1)
			ret = 0; /* our lost multi was applied: done */
		else if (!ret)
			break;
		goto out;
	}
	if (pin && (!own || !own_ours)) {
		/* No entry of ours in this listing (or one of our previous
		 * session): made, then the table looked at again. */
		pc->need_entry = true;
		pc->replace = own && !own_ours;
		ret = PLOCK_AGAIN;
		goto out;
	}
	for (i = 0; pc->want && i < sv.count; i++) {
		char path[ZK_PATH_MAX];
		int len = PLOCK_DATA_MAX;

		if (!strcmp(sv.data[i], c->node_name))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", pc->fpath, sv.data[i]) >=
		    (int)sizeof(path))
			continue;
		t = zk_call_begin(c);
		rc = zoo_wget(z->zh, path, wfn, c, pc->buf, &len, &ost);
		zk_call_end(c, t, rc);
		if (rc == ZNONODE)
			continue; /* it went since the listing: its ranges went with it */
		if (rc != ZOK) {
			ret = plock_zrc(rc);
			goto out;
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
	pc->view.own = own && own_ours;
	if (!pc->publish) {
		/* A test (F_GETLK): nothing published; what it read is the
		 * table at st.version, a view to decide from only if our entry
		 * (of this session) was there to pin it. */
		if (pc->view.own && pc->view.nothers <= PLOCK_CACHE_RANGES)
			plock_cache_put(z->pcache, &pc->view);
		goto out;
	}
	if (!pc->n && !own)
		goto out; /* a release, nothing of ours there */
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
	if (rc == ZBADVERSION || rc == ZNONODE || rc == ZNODEEXISTS) {
		/* another node published, or our entry is not as we read it */
		pc->need_entry = rc != ZBADVERSION;
		ret = PLOCK_AGAIN;
	} else {
		ret = plock_zrc(rc);
	}
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
	bool pc_publish;
	int ret;

	pc = calloc(1, sizeof(*pc));
	if (pc)
		pc->buf = malloc(PLOCK_DATA_MAX + 1);
	pc_publish = set || !want;
	if (pc_publish)
		enc = malloc(PLOCK_DATA_MAX);
	if (!pc || !pc->buf || (pc_publish && !enc)) {
		ret = -ENOMEM;
		goto free;
	}
	pc->want = want;
	pc->set = set;
	pc->n = n;
	pc->flags = flags;
	pc->conflict = conflict;
	pc->seq = seq;
	pc->publish = pc_publish;
	if (pc->publish) {
		/* An empty set too: a release keeps our entry, empty. */
		ret = plock_encode(set, set ? n : 0, enc, PLOCK_DATA_MAX);
		if (ret < 0)
			goto free;
		pc->mine = enc;
		pc->mlen = ret;
	}
	pc->need_entry = true; /* unless a view says it is there */
	if (want && ((want->type != F_RDLCK && want->type != F_WRLCK) || want->start < 0 ||
		     want->end < want->start)) {
		ret = -EINVAL;
		goto free;
	}
	if (plock_paths(c, z, name, pc->fpath, pc->cpath)) {
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
		pc->unknown = pc->sent; /* the next look finds out */
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
		pc->unknown = pc->sent;
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

/*
 * This node's entry of the file's table goes, and the file node with it
 * when no other node has one: one multi { delete our entry; delete the file
 * node }. Other entries there (ZNOTEMPTY): ours alone, then the file node
 * again (two nodes forgetting at once each fail the multi while the other's
 * entry is there; the later of their second deletes finds the node empty).
 * No entry of ours (a lost session's, or a lost answer of this call's):
 * the file node only, if it is empty. Deleting an empty file node is safe
 * whoever does it: a node decides a grant only while its own entry pins
 * the file node (plock_look), and a node without one has no decision to
 * commit. A lost connection: waited for, then all again (each delete is
 * idempotent).
 */
int zk_plock_forget(struct cluster *c, const struct lm_lockname *name)
{
	struct zk_cluster *z = c->lm;
	char fpath[ZK_PATH_MAX], cpath[ZK_PATH_MAX];
	struct plock_view key = {.number = name->ln_number, .gen = name->ln_gen};
	zoo_op_t ops[2];
	zoo_op_result_t res[2];
	bool sent;
	uint64_t t;
	int rc, ret;

	if (plock_paths(c, z, name, fpath, cpath))
		return 0; /* no table could have been made */
	pthread_rwlock_rdlock(&z->zh_lock);
	/* Our view of the table says our entry is there: not after this. */
	plock_cache_drop(z->pcache, &key);
	for (;;) {
		if (!z->zh || glock_lease_check(c) < 0) {
			ret = -EIO;
			break;
		}
		ret = 0;
		if (plock_test_keep_tables)
			break;
		zoo_delete_op_init(&ops[0], cpath, -1);
		zoo_delete_op_init(&ops[1], fpath, -1);
		rc = plock_send(c, z, 2, ops, res, &sent);
		if (rc == ZOK)
			break; /* both gone */
		if (rc == ZNOTEMPTY) {
			t = zk_call_begin(c);
			rc = zoo_delete(z->zh, cpath, -1);
			zk_call_end(c, t, rc);
		}
		if (rc == ZOK || rc == ZNONODE) {
			t = zk_call_begin(c);
			rc = zoo_delete(z->zh, fpath, -1);
			zk_call_end(c, t, rc);
		}
		if (rc == ZOK || rc == ZNONODE || rc == ZNOTEMPTY)
			break;
		if (!lost_connection(rc)) {
			ret = -EIO;
			break;
		}
		ret = plock_wait_connected(c, z);
		if (ret)
			break;
	}
	pthread_rwlock_unlock(&z->zh_lock);
	return ret;
}

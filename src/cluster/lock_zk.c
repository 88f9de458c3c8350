/* SPDX-License-Identifier: MIT */
/*
 * lock_zk.c - the ZooKeeper lock module: the session, its lease (a heartbeat
 * whose answers push the lease forward, cluster.c), the client library's
 * events and the per-glock lock recipe (lock_zk_node.c).
 *
 * The client library calls zk_watcher() and zk_hb_done() in its own
 * completion thread, and so do the completions of the recipe's pipelined
 * and asynchronous requests (lock_zk_pipe.c): they only append to the event
 * queue (ev_lock, a pthread leaf), signal their batch (a pthread leaf) or
 * store atomics, and kick the worker; every request to the server and every
 * call into the glock layer is made by the worker (lm_* and lm_poll), with
 * no lock held. The list of our children whose delete the
 * server did not confirm (strays, retried by zk_poll) is the worker's only.
 * The handle is also used by application threads (plock_zk.c, holding
 * zh_lock shared): the worker closes or replaces it only with zh_lock held
 * exclusively (set_handle), never while waiting for a connection.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/lock_zk.h"
#include "kernel/futex.h"

static void zk_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	struct cluster *c = ctx;
	struct zk_cluster *z = c->lm;
	struct zk_event *ev;

	/* No callback of a closed handle comes after zookeeper_close(); the
	 * first ones of a new handle may come before zookeeper_init() returns. */
	if (!z)
		return;
	if (type == ZOO_SESSION_EVENT) {
		pthread_mutex_lock(&z->ev_lock);
		if (state == ZOO_CONNECTED_STATE) {
			z->connected = true;
			z->resync = true; /* relist everything: a request may have been lost */
			pthread_cond_broadcast(&z->ev_cond);
		} else if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE) {
			z->expired = true;
			pthread_cond_broadcast(&z->ev_cond);
		} else {
			z->connected = false;
		}
		pthread_mutex_unlock(&z->ev_lock);
		if (z->expired)
			cluster_session_expired(c);
		else
			cluster_kick(c);
		return;
	}
	if (!path)
		return;
	ev = calloc(1, sizeof(*ev) + strlen(path) + 1);
	if (!ev)
		return; /* the next relist (resync on reconnect, or any event) catches up */
	ev->type = type;
	ev->seq = zk_stream_pos(c);
	strcpy(ev->path, path);
	zk_queue_item(c, ev);
}

/* Worker: closes the handle (if any) and installs @zh, with zh_lock held
 * exclusively (a byte-range lock call in flight finishes first). */
static void set_handle(struct zk_cluster *z, zhandle_t *zh)
{
	zhandle_t *old;

	pthread_rwlock_wrlock(&z->zh_lock);
	old = z->zh;
	z->zh = zh;
	if (old)
		zookeeper_close(old);
	pthread_rwlock_unlock(&z->zh_lock);
}

uint64_t zk_stream_pos(struct cluster *c)
{
	struct zk_cluster *z = c->lm;

	return atomic_fetch_add(&z->ev_seq, 1) + 1;
}

void zk_queue_item(struct cluster *c, struct zk_event *ev)
{
	struct zk_cluster *z = c->lm;

	pthread_mutex_lock(&z->ev_lock);
	ev->next = NULL;
	*z->ev_tail = ev;
	z->ev_tail = &ev->next;
	pthread_mutex_unlock(&z->ev_lock);
	cluster_kick(c);
}

void zk_listing_free(struct zk_listing *l)
{
	if (!l)
		return;
	if (l->rc == ZOK)
		deallocate_String_vector(&l->sv);
	free(l);
}

void zk_watch_fn(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	zk_watcher(zh, type, state, path, ctx);
}

uint64_t zk_call_begin(struct cluster *c)
{
	atomic_fetch_add_explicit(&c->stats.lm_requests, 1, memory_order_relaxed);
	return cluster_now_ns();
}

/* A synchronous request came back: an answer from the server renews the lease. */
void zk_call_end(struct cluster *c, uint64_t sent, int rc)
{
	if (rc == ZOK || rc == ZNONODE || rc == ZNODEEXISTS || rc == ZBADVERSION || rc == ZNOTEMPTY)
		cluster_lease_renew(c, sent);
}

void zk_delete_child_path(struct cluster *c, const char *path)
{
	struct zk_cluster *z = c->lm;
	struct zk_stray *st;
	uint64_t t;
	int rc;

	t = zk_call_begin(c);
	rc = zoo_delete(z->zh, path, -1);
	zk_call_end(c, t, rc);
	if (rc == ZOK && __atomic_load_n(&zk_test_lost_deletes, __ATOMIC_ACQUIRE) == c)
		rc = ZCONNECTIONLOSS; /* applied, its answer "lost" */
	if (rc == ZOK || rc == ZNONODE || zk_test_forget_failed_delete)
		return;
	/* Lost with the connection, or not sent: the child may still be
	 * there, and with the session alive (a server restart) it stays and
	 * blocks every other node's request - while this node, which no
	 * longer wants the glock, never lists it again. */
	st = malloc(sizeof(*st) + strlen(path) + 1);
	if (!st)
		return; /* the next listing of this glock by this node deletes it */
	strcpy(st->path, path);
	st->next = z->strays;
	z->strays = st;
	atomic_fetch_add_explicit(&z->nstrays, 1, memory_order_relaxed);
}

/* Worker: deletes the remembered strays (while connected). */
void zk_retry_strays(struct cluster *c)
{
	struct zk_cluster *z = c->lm;
	struct zk_stray **pp = &z->strays, *st;

	if (__atomic_load_n(&zk_test_lost_deletes, __ATOMIC_ACQUIRE) == c)
		return; /* "not connected" until the test clears it */
	while ((st = *pp)) {
		uint64_t t;
		int rc;

		/* A name that is our current child's again is gone (lock_zk_gc.c). */
		rc = zk_stray_is_current(c, st->path) ? ZNONODE : ZOK;
		if (rc == ZOK) {
			t = zk_call_begin(c);
			rc = zoo_delete(z->zh, st->path, -1);
			zk_call_end(c, t, rc);
		}
		if (rc == ZOK || rc == ZNONODE) {
			*pp = st->next;
			free(st);
			atomic_fetch_sub_explicit(&z->nstrays, 1, memory_order_relaxed);
			continue;
		}
		if (rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT || rc == ZINVALIDSTATE ||
		    rc == ZSESSIONEXPIRED)
			return; /* the next poll tries again */
		pp = &st->next;
	}
}

static void free_strays(struct zk_cluster *z)
{
	struct zk_stray *st;

	while ((st = z->strays)) {
		z->strays = st->next;
		free(st);
	}
	atomic_store_explicit(&z->nstrays, 0, memory_order_relaxed);
}

struct hb {
	struct cluster *c;
	zhandle_t *zh;
	uint64_t sent;
};

static void zk_hb_done(int rc, const struct Stat *stat, const void *data)
{
	struct hb *h = (struct hb *)data;
	struct zk_cluster *z = h->c->lm;

	if ((rc == ZOK || rc == ZNONODE) && z)
		cluster_lease_renew(h->c, h->sent);
	if (z)
		atomic_fetch_sub(&z->hb_inflight, 1);
	free(h);
}

static void heartbeat(struct cluster *c)
{
	struct zk_cluster *z = c->lm;
	struct hb *h;

	if (atomic_load(&z->hb_inflight) > 4)
		return;
	h = malloc(sizeof(*h));
	if (!h)
		return;
	h->c = c;
	h->zh = z->zh;
	h->sent = cluster_now_ns();
	atomic_fetch_add(&z->hb_inflight, 1);
	if (zoo_aexists(z->zh, z->root[0] ? z->root : "/", 0, zk_hb_done, h) != ZOK) {
		atomic_fetch_sub(&z->hb_inflight, 1);
		free(h);
	}
}

/* Connects a new session: 0, or -ETIMEDOUT with the reason set. */
static int zk_connect(struct cluster *c)
{
	struct zk_cluster *z = c->lm;
	uint64_t t0 = cluster_now_ns();
	struct timespec dl;
	int ret = 0;

	pthread_mutex_lock(&z->ev_lock);
	z->connected = z->expired = false;
	pthread_mutex_unlock(&z->ev_lock);
	set_handle(z, zookeeper_init(z->hosts, zk_watcher, (int)c->session_timeout_ms, NULL, c, 0));
	if (!z->zh) {
		cluster_set_error("ZooKeeper client for %s: %s", z->hosts, strerror(errno));
		return errno == EINVAL ? -EINVAL : -ENOMEM;
	}
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += c->connect_timeout_ms / 1000;
	dl.tv_nsec += (long)(c->connect_timeout_ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&z->ev_lock);
	while (!z->connected && !z->expired && ret == 0)
		ret = pthread_cond_timedwait(&z->ev_cond, &z->ev_lock, &dl);
	ret = z->connected ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&z->ev_lock);
	if (ret) {
		cluster_set_error("ZooKeeper at %s unreachable: no session within %u ms", z->hosts,
				  c->connect_timeout_ms);
		set_handle(z, NULL);
		return ret;
	}
	/* The server may have negotiated another timeout: the lease follows it. */
	c->session_timeout_ms = (unsigned)zoo_recv_timeout(z->zh);
	atomic_store(&c->lease_until_ns, 0);
	atomic_store(&c->lost_at_ns, 0);
	cluster_lease_renew(c, t0);
	return 0;
}

/* Creates the persistent nodes of @path ("/a/b"), each in turn. */
static int make_path(struct cluster *c, const char *path)
{
	struct zk_cluster *z = c->lm;
	char buf[ZK_PATH_MAX];
	size_t i;
	int rc;

	for (i = 1; i <= strlen(path); i++) {
		if (path[i] != '/' && path[i] != 0)
			continue;
		if (i == 1 && path[0] == '/' && path[1] == '/')
			continue;
		memcpy(buf, path, i);
		buf[i] = 0;
		uint64_t t = zk_call_begin(c);

		rc =
		    zoo_create(z->zh, buf, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0);
		zk_call_end(c, t, rc);
		if (rc != ZOK && rc != ZNODEEXISTS) {
			cluster_set_error("ZooKeeper: cannot create %s: %s", buf, zerror(rc));
			return -EIO;
		}
	}
	return 0;
}

/*
 * Every node of one lock root must run the same lock recipe: the conversion's
 * safety rests on every requester bumping its mode's want node (lock_zk_node.c),
 * which a node of an older recipe does not do. The root's "recipe" node names
 * the recipe; the first node creates it, every later one compares, and a node
 * of another recipe is refused at mount (-EPROTO). Roots made before this
 * check existed have no recipe node: the first node of this build names them.
 * /3: lock nodes are named <type>-<number>-<generation> (/2: <number>), and
 * the recipe node also names the nodes' source of the generation
 * (cluster_config.identity): nodes that name a file's lock differently
 * must not mix. /4: byte-range locks are published in <path>/p (plock_zk.c):
 * a node of /3 would take its byte-range locks without looking there. /5:
 * lock nodes nobody uses are deleted (lock_zk_gc.c): a node of /4 would
 * fail for good on a lock node deleted under it, and delete a stray of
 * its own whose name its current child has again; and a file's table in
 * p/ is deleted when its last node forgets it, a grant decided only while
 * the node's own entry pins the table: a node of /4 decides without one,
 * and could commit against a table made again. /6: an EX holder demoted
 * to SH sets its ex- child's data instead of replacing the child
 * (lock_zk_node.c, "Downgrade in place"): a node of /5 would take that
 * child for EX until it goes, and its SH request would wait for a holder
 * that no longer watches SH requests.
 */
#define ZK_RECIPE                                                                          \
	"pagecache-glock/6 (ex-/sh-/df- children, ex- downgraded to SH by its data, want " \
	"nodes, lock nodes <type>-<number>-<generation>, deleted unused; byte-range sets " \
	"in p/, deleted when unused)"

static int check_recipe(struct cluster *c)
{
	struct zk_cluster *z = c->lm;
	char path[ZK_PATH_MAX], theirs[512], mine[512];
	int rc, len = sizeof(theirs) - 1;
	uint64_t t;

	/* The recipe and how the nodes name a file's generation: nodes that
	 * named one file's glock differently would never exclude each other. */
	snprintf(mine, sizeof(mine), "%s; generation: %s",
		 READ_ONCE(zk_test_other_recipe) ? "pagecache-glock/test-other" : ZK_RECIPE,
		 c->identity);
	if (snprintf(path, sizeof(path), "%s/recipe", z->root) >= (int)sizeof(path))
		return -EINVAL;
	t = zk_call_begin(c);
	rc = zoo_create(z->zh, path, mine, (int)strlen(mine), &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT,
			NULL, 0);
	zk_call_end(c, t, rc);
	if (rc == ZOK)
		return 0;
	if (rc == ZNODEEXISTS) {
		t = zk_call_begin(c);
		rc = zoo_get(z->zh, path, 0, theirs, &len, NULL);
		zk_call_end(c, t, rc);
	}
	if (rc != ZOK) {
		cluster_set_error("ZooKeeper: cannot read %s: %s", path, zerror(rc));
		return -EIO;
	}
	theirs[len < 0 ? 0 : len] = 0;
	if (strcmp(theirs, mine)) {
		cluster_set_error("cluster: the lock root %s%s runs the lock recipe '%s', this "
				  "node runs '%s': every node of one root must run the same",
				  z->hosts, z->root, theirs, mine);
		return -EPROTO;
	}
	return 0;
}

/*
 * The node's name is its membership entry <path>/nodes/<name>, ephemeral:
 * two live nodes with one name would take each other's lock children for
 * strays of their own. A second mount of a live name is -EEXIST; a node that
 * rejoins after losing its session replaces its old entry (if the old
 * session still lingers, its entry is this node's, withdrawn).
 */
static int claim_name(struct cluster *c, bool rejoin)
{
	struct zk_cluster *z = c->lm;
	char path[ZK_PATH_MAX];
	uint64_t t;
	int rc;

	snprintf(path, sizeof(path), "%s/nodes", z->root);
	if (make_path(c, path))
		return -EIO;
	if (snprintf(path, sizeof(path), "%s/nodes/%s", z->root, c->node_name) >= (int)sizeof(path))
		return -EINVAL;
	if (rejoin) {
		t = zk_call_begin(c);
		rc = zoo_delete(z->zh, path, -1);
		zk_call_end(c, t, rc);
	}
	t = zk_call_begin(c);
	rc = zoo_create(z->zh, path, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0);
	zk_call_end(c, t, rc);
	if (rc == ZNODEEXISTS) {
		cluster_set_error(
		    "cluster: node name '%s' is in use at %s%s (another live node, or "
		    "this node's previous session until its timeout)",
		    c->node_name, z->hosts, z->root);
		return -EEXIST;
	}
	if (rc != ZOK) {
		cluster_set_error("ZooKeeper: cannot create %s: %s", path, zerror(rc));
		return -EIO;
	}
	return 0;
}

int zk_mount(struct cluster *c, const struct cluster_url *u)
{
	struct zk_cluster *z = calloc(1, sizeof(*z));
	pthread_condattr_t ca;
	int ret;

	if (!z)
		return -ENOMEM;
	if (!getenv("PC_ZK_DEBUG"))
		zoo_set_debug_level(0);
	else
		zoo_set_debug_level(ZOO_LOG_LEVEL_DEBUG);
	strcpy(z->hosts, u->hosts);
	snprintf(z->root, sizeof(z->root), "%s", u->path);
	snprintf(z->gpath, sizeof(z->gpath), "%s/g", u->path);
	snprintf(z->ppath, sizeof(z->ppath), "%s/p", u->path);
	pthread_mutex_init(&z->ev_lock, NULL);
	{
		pthread_rwlockattr_t ra;

		pthread_rwlockattr_init(&ra);
		pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&z->zh_lock, &ra);
		pthread_rwlockattr_destroy(&ra);
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&z->ev_cond, &ca);
	pthread_condattr_destroy(&ca);
	z->ev_tail = &z->ev_head;
	z->pcache = plock_cache_new(); /* NULL: every byte-range call looks */
	c->lm = z;
	ret = zk_connect(c);
	if (!ret)
		ret = make_path(c, z->gpath);
	if (!ret)
		ret = make_path(c, z->ppath);
	if (!ret) {
		zk_sweep_init(c);
		ret = make_path(c, z->sweep.dpath);
	}
	if (!ret)
		ret = check_recipe(c);
	if (!ret)
		ret = claim_name(c, false);
	if (ret) {
		set_handle(z, NULL);
		c->lm = NULL;
		pthread_rwlock_destroy(&z->zh_lock);
		plock_cache_free(z->pcache);
		free(z);
	}
	return ret;
}

static void drop_events(struct zk_cluster *z)
{
	struct zk_event *ev;

	pthread_mutex_lock(&z->ev_lock);
	while ((ev = z->ev_head)) {
		z->ev_head = ev->next;
		zk_listing_free(ev->listing);
		free(ev);
	}
	z->ev_tail = &z->ev_head;
	pthread_mutex_unlock(&z->ev_lock);
}

static void last_done(int rc, const struct Stat *st, const void *data)
{
	struct zk_cluster *z = (struct zk_cluster *)data;

	(void)rc;
	(void)st;
	pthread_mutex_lock(&z->ev_lock);
	z->answered = true;
	pthread_cond_broadcast(&z->ev_cond);
	pthread_mutex_unlock(&z->ev_lock);
}

/*
 * Before the handle is closed: the client library (3.8, multi-threaded)
 * never calls the completion of a request still unanswered at
 * zookeeper_close - it queues a faked answer for a completion thread it
 * has already stopped - and what that completion would free (a sweep's
 * read, a batch) leaks. The server answers a session's requests in order
 * and the completion thread calls their completions in order, so once the
 * completion of one more exists has run, every earlier one has. Bounded
 * by @wait_ms; a server that does not answer is waited for by
 * zookeeper_close itself, until the client's own timeout fails what is out
 * and runs the completions (docs/cluster.md, "Lock nodes nobody uses").
 */
static void wait_answers(struct cluster *c, unsigned wait_ms)
{
	struct zk_cluster *z = c->lm;
	struct timespec ts;
	bool connected;

	pthread_mutex_lock(&z->ev_lock);
	connected = z->connected && z->zh;
	z->answered = false;
	pthread_mutex_unlock(&z->ev_lock);
	if (!connected || zoo_aexists(z->zh, z->gpath, 0, last_done, z) != ZOK)
		return;
	atomic_fetch_add_explicit(&c->stats.lm_requests, 1, memory_order_relaxed);
	clock_gettime(CLOCK_MONOTONIC, &ts); /* ev_cond's clock */
	timespec_add_ns(&ts, (uint64_t)wait_ms * 1000000u);
	pthread_mutex_lock(&z->ev_lock);
	while (!z->answered && !z->expired)
		if (pthread_cond_timedwait(&z->ev_cond, &z->ev_lock, &ts))
			break;
	pthread_mutex_unlock(&z->ev_lock);
}

void zk_unmount(struct cluster *c)
{
	struct zk_cluster *z = c->lm;

	if (!z)
		return;
	zk_gc_unmount(c, c->session_timeout_ms / 3);
	zk_sweep_departure(c);
	wait_answers(c, c->session_timeout_ms / 3);
	set_handle(z, NULL); /* ends the session: its ephemeral nodes go */
	drop_events(z);
	zk_sweep_reset(z, false);
	free_strays(z); /* the session's end deleted them */
	zk_gc_free(z);
	c->lm = NULL;
	plock_cache_free(z->pcache);
	pthread_rwlock_destroy(&z->zh_lock);
	pthread_mutex_destroy(&z->ev_lock);
	pthread_cond_destroy(&z->ev_cond);
	free(z);
}

int zk_rejoin(struct cluster *c)
{
	struct zk_cluster *z = c->lm;
	uint64_t now = cluster_now_ns();
	int ret;

	if (now < z->next_rejoin_ns)
		return -EAGAIN;
	z->next_rejoin_ns = now + 500 * 1000000ull;
	set_handle(z, NULL);
	drop_events(z);
	zk_sweep_reset(z, true);
	ret = zk_connect(c);
	if (!ret)
		ret = claim_name(c, true);
	return ret;
}

/* Parses one hex field of @len digits at @p followed by @sep. */
static bool parse_hex(const char *p, size_t len, char sep, uint64_t *v)
{
	char *end;

	if (!isxdigit((unsigned char)*p))
		return false;
	*v = strtoull(p, &end, 16);
	return end == p + len && *end == sep;
}

/* Parses <gpath>/<type 2 hex>-<number 16 hex>-<gen 16 hex>[/<child>]: the
 * glock's name and the child name. */
bool zk_parse_path(struct zk_cluster *z, const char *path, struct lm_lockname *name,
		   const char **child)
{
	size_t gl = strlen(z->gpath);
	const char *p = path + gl + 1, *end = p + 2 + 1 + 16 + 1 + 16;
	uint64_t type;

	if (strncmp(path, z->gpath, gl) || path[gl] != '/' || strnlen(p, 36) < 36)
		return false;
	if (!parse_hex(p, 2, '-', &type) || !parse_hex(p + 3, 16, '-', &name->ln_number))
		return false;
	if (!parse_hex(p + 20, 16, *end, &name->ln_gen) || (*end && *end != '/'))
		return false;
	name->ln_type = (uint32_t)type;
	*child = *end == '/' ? end + 1 : NULL;
	return true;
}

static void resync_one(struct glock *gl, void *arg)
{
	zk_relist(gl);
}

unsigned zk_poll(struct cluster *c)
{
	struct zk_cluster *z = c->lm;
	struct zk_event *list, *ev;
	uint64_t now = cluster_now_ns();
	bool resync, connected;
	unsigned period = c->session_timeout_ms / 6;

	if (!z->zh)
		return 100;
	if (now >= z->next_hb_ns ||
	    now + (uint64_t)period * 1000000ull / 2 >= atomic_load(&c->lease_until_ns)) {
		heartbeat(c);
		z->next_hb_ns = now + (uint64_t)period * 1000000ull;
	}
	pthread_mutex_lock(&z->ev_lock);
	list = z->ev_head;
	z->ev_head = NULL;
	z->ev_tail = &z->ev_head;
	resync = z->resync && z->connected;
	connected = z->connected;
	z->resync = false;
	pthread_mutex_unlock(&z->ev_lock);
	if (resync)
		glock_for_each(c, resync_one, NULL);
	if (z->strays && connected)
		zk_retry_strays(c);
	zk_gc_run(c, connected);
	zk_sweep_run(c, connected);
	/* In the order they came (the stream positions the recipe compares):
	 * a blocker's deleted event (a grant, no request), a want node's
	 * changed event (a demote request, no listing), a blocker's changed
	 * event or exists answer (downgraded in place), the answer of an
	 * asynchronous listing or re-armed watch, and - with the want nodes'
	 * watches off, or after a reconnect - a children event (a listing, sent
	 * asynchronously, unless a later listing of ours already saw it). */
	while ((ev = list)) {
		struct lm_lockname name;
		const char *child;
		struct glock *gl;

		list = ev->next;
		if (zk_sweep_item(c, ev)) {
			/* the sweep's (lock_zk_sweep.c) */
		} else if (zk_parse_path(z, ev->path, &name, &child) &&
			   (gl = glock_lookup(c, &name))) {
			if (ev->type == ZK_EV_LISTING) {
				zk_listing_done(gl, ev->listing);
				ev->listing = NULL;
			} else if (ev->type == ZK_EV_WANTVER && child) {
				zk_want_version(gl, child, ev->rc, ev->version, ev->seq);
			} else if (child && ev->type == ZOO_DELETED_EVENT) {
				zk_blocker_gone(gl, child, ev->seq);
			} else if (child && ev->type == ZOO_CHANGED_EVENT &&
				   zk_want_index(child) >= 0) {
				zk_want_event(gl, child, ev->seq);
			} else if (child &&
				   (ev->type == ZOO_CHANGED_EVENT || ev->type == ZK_EV_WEAK)) {
				/* a blocker downgraded in place (its watch fired, or not) */
				zk_blocker_weakened(gl, child, ev->type == ZOO_CHANGED_EVENT,
						    ev->seq);
			} else if (!child && ev->type == ZOO_CHILD_EVENT) {
				zk_relist_after(gl, ev->seq);
			}
			glock_put(gl);
		}
		zk_listing_free(ev->listing);
		free(ev);
	}
	if (period > 100 && atomic_load(&c->membership) != CM_VALID)
		period = 100;
	return period ? period : 1;
}

/* SPDX-License-Identifier: MIT */
/*
 * cluster.c - one cluster per engine: the lock-service URL, the choice of
 * lock module (nolock or zk), the demote worker thread and membership (the
 * lease: VALID -> SUSPENDED when the server was not heard from for the lease
 * margin -> LOST when the session is or must be assumed expired -> a new
 * session). docs/cluster.md gives the fencing argument.
 *
 * Locks: work_lock (pthread, leaf) guards the worker's queues; the worker
 * calls the lock module and the glock layer with no lock held. hash_lock and
 * gl_lock: glock.c. Membership changes wake member_wait and plock_wait (the
 * queues' own spinlocks; the lease's renewal wakes member_wait from any
 * thread, the client library's completion thread included).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/glock_fast.h"
#include "kernel/thread_buf.h"

TEST_SWITCH(zk_test_forget_failed_delete);
TEST_SWITCH(zk_test_relist_every_event);
TEST_SWITCH(zk_test_want_nodes_off);
TEST_SWITCH(zk_test_other_recipe);
TEST_SWITCH(zk_test_rearm_at_event);
TEST_SWITCH(zk_test_read_every_want);
TEST_SWITCH(zk_test_convert_multi);
TEST_SWITCH(zk_test_weak_frees_all);
TEST_SWITCH(zk_test_keep_stale_weak);
TEST_SWITCH(zk_test_keep_lock_nodes);
TEST_SWITCH(zk_test_no_remake);
TEST_SWITCH(zk_test_no_sweep);
TEST_SWITCH(zk_test_no_clean_departure);
TEST_SWITCH(zk_test_sweep_in_use);
TEST_SWITCH(zk_test_stray_no_name_check);
TEST_KNOB(zk_node_knob, zk_test_lost_deletes);

/* The calling thread's last cluster error (on the heap: kernel/thread_buf.h). */
static struct thread_buf last_error = THREAD_BUF_INIT(640);

void cluster_set_error(const char *fmt, ...)
{
	char *b = thread_buf(&last_error);
	va_list ap;

	if (!b)
		return;
	va_start(ap, fmt);
	vsnprintf(b, last_error.size, fmt, ap);
	va_end(ap);
}

const char *cluster_last_error(void)
{
	const char *b = thread_buf_peek(&last_error);

	return b ? b : "";
}

static bool host_char(int ch)
{
	return isalnum(ch) || ch == '.' || ch == '-' || ch == '_';
}

static bool path_char(int ch)
{
	return isalnum(ch) || ch == '.' || ch == '-' || ch == '_';
}

/* "nolock" (or NULL / "") or zk://host:port[,host:port...]/path */
int cluster_parse_url(const char *url, struct cluster_url *u)
{
	const char *p, *slash;
	size_t hl, n = 0;

	memset(u, 0, sizeof(*u));
	if (!url || !*url || !strcmp(url, "nolock") || !strcmp(url, "nolock://")) {
		u->nolock = true;
		return 0;
	}
	if (strncmp(url, "zk://", 5)) {
		cluster_set_error(
		    "cluster URL '%s': expected zk://host:port[,host:port]/path or nolock", url);
		return -EINVAL;
	}
	p = url + 5;
	slash = strchr(p, '/');
	if (!slash) {
		cluster_set_error("cluster URL '%s': no /path after the hosts", url);
		return -EINVAL;
	}
	hl = (size_t)(slash - p);
	if (!hl || hl >= sizeof(u->hosts)) {
		cluster_set_error("cluster URL '%s': no hosts", url);
		return -EINVAL;
	}
	/* host:port, comma-separated */
	while (p < slash) {
		const char *h = p, *colon = NULL;
		unsigned long port = 0;
		char *end;

		while (p < slash && *p != ',' && *p != ':') {
			if (!host_char((unsigned char)*p)) {
				cluster_set_error("cluster URL '%s': bad character '%c' in a host",
						  url, *p);
				return -EINVAL;
			}
			p++;
		}
		if (p == h || p >= slash || *p != ':') {
			cluster_set_error("cluster URL '%s': each host needs host:port", url);
			return -EINVAL;
		}
		colon = p++;
		if (!isdigit((unsigned char)*p)) {
			cluster_set_error("cluster URL '%s': bad port", url);
			return -EINVAL;
		}
		port = strtoul(p, &end, 10);
		if (end > slash || (end < slash && *end != ',') || port == 0 || port > 65535) {
			cluster_set_error("cluster URL '%s': bad port", url);
			return -EINVAL;
		}
		(void)colon;
		p = end;
		if (++n > CLUSTER_MAX_HOSTS) {
			cluster_set_error("cluster URL '%s': more than %d hosts", url,
					  CLUSTER_MAX_HOSTS);
			return -EINVAL;
		}
		if (p < slash) {
			p++; /* ',' */
			if (p == slash) {
				cluster_set_error("cluster URL '%s': empty host after ','", url);
				return -EINVAL;
			}
		}
	}
	memcpy(u->hosts, url + 5, hl);
	u->hosts[hl] = 0;
	u->nhosts = (unsigned)n;
	/* /path: components of [A-Za-z0-9._-], no empty one but a trailing '/' */
	p = slash;
	if (strlen(p) >= sizeof(u->path)) {
		cluster_set_error("cluster URL '%s': path too long", url);
		return -EINVAL;
	}
	while (*p) {
		const char *c0;

		p++; /* '/' */
		c0 = p;
		while (*p && *p != '/') {
			if (!path_char((unsigned char)*p)) {
				cluster_set_error(
				    "cluster URL '%s': bad character '%c' in the path", url, *p);
				return -EINVAL;
			}
			p++;
		}
		if (p == c0 && *p) {
			cluster_set_error("cluster URL '%s': empty path component", url);
			return -EINVAL;
		}
		if ((p - c0 == 1 && c0[0] == '.') ||
		    (p - c0 == 2 && c0[0] == '.' && c0[1] == '.')) {
			cluster_set_error("cluster URL '%s': '.' or '..' in the path", url);
			return -EINVAL;
		}
	}
	memcpy(u->path, slash, strlen(slash) + 1);
	n = strlen(u->path);
	while (n && u->path[n - 1] == '/')
		u->path[--n] = 0;
	return 0;
}

/* ---- the lease ---- */

void cluster_lease_renew(struct cluster *c, uint64_t sent_ns)
{
	uint64_t t = (uint64_t)c->session_timeout_ms * 1000000ull;
	uint64_t until = sent_ns + t * 2 / 3, lost = sent_ns + t;
	uint64_t cur = atomic_load(&c->lease_until_ns);

	/* Monotonic: an old answer never shortens the lease. */
	while (cur < until && !atomic_compare_exchange_weak(&c->lease_until_ns, &cur, until))
		;
	cur = atomic_load(&c->lost_at_ns);
	while (cur < lost && !atomic_compare_exchange_weak(&c->lost_at_ns, &cur, lost))
		;
	/* A byte-range lock call waits for the lease while it is suspended. */
	if (wq_has_sleeper(&c->member_wait))
		wake_up_all(&c->member_wait);
	cluster_kick(c);
}

void cluster_session_expired(struct cluster *c)
{
	atomic_store(&c->lease_until_ns, 0);
	atomic_store(&c->lost_at_ns, 0);
	if (wq_has_sleeper(&c->member_wait))
		wake_up_all(&c->member_wait);
	cluster_kick(c);
}

/* Worker: membership changed (lost, rejoined, valid again): the lease's
 * waiters look again; at a loss and a rejoin, so do the byte-range lock
 * waiters (the lost session took this node's published sets with it). */
static void membership_wake(struct cluster *c, bool plocks)
{
	wake_up_all(&c->member_wait);
	if (plocks) {
		atomic_fetch_add(&c->plock_seq, 1);
		wake_up_all(&c->plock_wait);
	}
}

int cluster_status(const struct cluster *c)
{
	uint64_t now;

	if (c->ops == &nolock_ops)
		return 0;
	if (atomic_load(&c->membership) == CM_LOST)
		return -EIO;
	now = cluster_now_ns();
	if (now >= atomic_load(&c->lost_at_ns))
		return -EIO;
	return 0;
}

bool cluster_is_nolock(const struct cluster *c)
{
	return c->ops == &nolock_ops;
}

void cluster_kick(struct cluster *c)
{
	pthread_mutex_lock(&c->work_lock);
	c->work_kick = true;
	pthread_cond_signal(&c->work_cond);
	pthread_mutex_unlock(&c->work_lock);
}

/* The worker: membership transitions. */
static void membership_check(struct cluster *c)
{
	int m = atomic_load(&c->membership);
	uint64_t now = cluster_now_ns();

	if (m == CM_LOST) {
		/* (read without work_lock: the worker's own loop takes it) */
		if (__atomic_load_n(&c->stopping, __ATOMIC_ACQUIRE) || c->ops->lm_rejoin(c))
			return;
		atomic_fetch_add(&c->generation, 1);
		atomic_store(&c->membership, CM_VALID);
		fprintf(stderr, "pagecache: cluster: node %s rejoined with a new session\n",
			c->node_name);
		membership_wake(c, true);
		glock_requeue_all(c);
		return;
	}
	if (glock_test_no_lease_margin)
		return;
	if (now >= atomic_load(&c->lost_at_ns)) {
		fprintf(stderr,
			"pagecache: cluster: node %s lost its session: cached data dropped, calls "
			"fail with EIO until it rejoins\n",
			c->node_name);
		atomic_store(&c->membership, CM_LOST);
		membership_wake(c, true);
		glock_withdraw_all(c);
		glock_wake_all(c);
	} else if (now >= atomic_load(&c->lease_until_ns)) {
		if (m == CM_VALID)
			atomic_store(&c->membership, CM_SUSPENDED);
	} else if (m == CM_SUSPENDED) {
		atomic_store(&c->membership, CM_VALID);
		membership_wake(c, false);
		glock_requeue_all(c);
	}
}

static void abs_deadline(struct timespec *ts, uint64_t ns_from_now)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ns_from_now / 1000000000ull);
	ts->tv_nsec += (long)(ns_from_now % 1000000000ull);
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static void *cluster_worker(void *arg)
{
	struct cluster *c = arg;
	uint64_t poll_ns = 0;

	pthread_setname_np(pthread_self(), "glockd");
	for (;;) {
		LIST_HEAD_DECL(batch);
		struct glock *gl, *n;
		uint64_t now, wait_ns = poll_ns;
		unsigned ms;

		pthread_mutex_lock(&c->work_lock);
		now = cluster_now_ns();
		list_for_each_entry_safe (gl, n, &c->delayed, gl_work) {
			if (gl->gl_delay_until <= now)
				list_move_tail(&gl->gl_work, &c->work);
			else if (gl->gl_delay_until - now < wait_ns)
				wait_ns = gl->gl_delay_until - now;
		}
		if (list_empty(&c->work) && !c->work_kick && !c->stopping && wait_ns) {
			struct timespec ts;

			abs_deadline(&ts, wait_ns);
			pthread_cond_timedwait(&c->work_cond, &c->work_lock, &ts);
		}
		if (c->stopping && list_empty(&c->work)) {
			pthread_mutex_unlock(&c->work_lock);
			break;
		}
		while (!list_empty(&c->work))
			list_move_tail(c->work.next, &batch);
		c->work_kick = false;
		pthread_mutex_unlock(&c->work_lock);

		ms = c->ops->lm_poll(c);
		poll_ns = (uint64_t)ms * 1000000ull;
		membership_check(c);
		list_for_each_entry_safe (gl, n, &batch, gl_work) {
			uint64_t d;

			list_del_init(&gl->gl_work);
			d = glock_run(gl);
			if (d) {
				mutex_lock(&gl->gl_lock);
				if (!(gl->gl_flags & GLF_QUEUED)) {
					gl->gl_flags |= GLF_QUEUED;
					pthread_mutex_lock(&c->work_lock);
					gl->gl_delay_until = cluster_now_ns() + d;
					list_add_tail(&gl->gl_work, &c->delayed);
					pthread_mutex_unlock(&c->work_lock);
					mutex_unlock(&gl->gl_lock);
					continue; /* the queue keeps the reference */
				}
				mutex_unlock(&gl->gl_lock);
			}
			glock_put(gl);
		}
	}
	return NULL;
}

int cluster_mount(const struct cluster_config *cfg, struct cluster **out)
{
	struct cluster_url u;
	struct cluster *c;
	unsigned i;
	int ret;

	*out = NULL;
	char *prev = thread_buf_peek(&last_error);

	if (prev)
		prev[0] = 0;
	ret = cluster_parse_url(cfg ? cfg->url : NULL, &u);
	if (ret)
		return ret;
	if (cfg && cfg->node_name &&
	    (!*cfg->node_name || strlen(cfg->node_name) >= sizeof(c->node_name) ||
	     strspn(cfg->node_name,
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._") !=
		 strlen(cfg->node_name))) {
		cluster_set_error("cluster node name '%s': 1-63 characters of [A-Za-z0-9._]",
				  cfg->node_name);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->ops = u.nolock ? &nolock_ops : &zk_ops;
	if (cfg && cfg->node_name) {
		strcpy(c->node_name, cfg->node_name);
	} else {
		char h[40] = "node";

		gethostname(h, sizeof(h) - 1);
		h[strspn(h, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.")] = 0;
		snprintf(c->node_name, sizeof(c->node_name), "%s.%d", h, (int)getpid());
	}
	snprintf(c->identity, sizeof(c->identity), "%s",
		 cfg && cfg->identity && *cfg->identity ? cfg->identity : "none");
	c->connect_timeout_ms = cfg && cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 5000;
	c->session_timeout_ms = cfg && cfg->session_timeout_ms ? cfg->session_timeout_ms : 10000;
	c->min_hold_ms = cfg && cfg->min_hold_ms ? cfg->min_hold_ms : 10;
	c->hash_size = 1024;
	c->hash = calloc(c->hash_size, sizeof(*c->hash));
	if (!c->hash) {
		free(c);
		return -ENOMEM;
	}
	for (i = 0; i < c->hash_size; i++)
		INIT_LIST_HEAD(&c->hash[i]);
	mutex_init(&c->hash_lock);
	pthread_mutex_init(&c->work_lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&c->work_cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	INIT_LIST_HEAD(&c->work);
	INIT_LIST_HEAD(&c->delayed);
	init_waitqueue_head(&c->member_wait);
	init_waitqueue_head(&c->plock_wait);
	atomic_store(&c->lease_until_ns, UINT64_MAX);
	atomic_store(&c->lost_at_ns, UINT64_MAX);
	if (c->ops != &nolock_ops)
		glock_fast_init();
	ret = c->ops->lm_mount(c, &u);
	if (ret)
		goto fail;
	if (c->ops != &nolock_ops) {
		ret = -pthread_create(&c->worker, NULL, cluster_worker, c);
		if (ret) {
			c->ops->lm_unmount(c);
			goto fail;
		}
		c->worker_started = true;
	}
	*out = c;
	return 0;
fail:
	free(c->hash);
	free(c);
	return ret;
}

void cluster_unmount(struct cluster *c)
{
	if (!c)
		return;
	if (c->worker_started) {
		pthread_mutex_lock(&c->work_lock);
		__atomic_store_n(&c->stopping, true, __ATOMIC_RELEASE);
		pthread_cond_signal(&c->work_cond);
		pthread_mutex_unlock(&c->work_lock);
		pthread_join(c->worker, NULL);
	}
	/* Glocks waiting out a delay (a minimum hold, a failed request's
	 * retry) are not run now: the session's end releases them. Their
	 * queue's references go (the last frees them: lock_zk_gc.c). */
	for (;;) {
		struct glock *gl = NULL;

		pthread_mutex_lock(&c->work_lock);
		if (!list_empty(&c->delayed)) {
			gl = list_first_entry(&c->delayed, struct glock, gl_work);
			list_del_init(&gl->gl_work);
		}
		pthread_mutex_unlock(&c->work_lock);
		if (!gl)
			break;
		mutex_lock(&gl->gl_lock);
		gl->gl_flags &= ~GLF_QUEUED;
		gl_unlock(gl);
		glock_put(gl);
	}
	/* Closing the session deletes this node's lock nodes: everything it
	 * held is released at once. */
	c->ops->lm_unmount(c);
	glock_free_all(c);
	mutex_destroy(&c->hash_lock);
	pthread_mutex_destroy(&c->work_lock);
	pthread_cond_destroy(&c->work_cond);
	free(c->hash);
	free(c);
}

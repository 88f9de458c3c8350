/* SPDX-License-Identifier: MIT */
/*
 * cluster_util.c - the cluster tests' fixture and grant checker
 * (cluster_util.h). The checker's counts are under one pthread mutex.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../harness.h"
#include "cluster/lock_zk.h"
#include "cluster/plock.h"
#include "cluster_util.h"
#include "kernel/rng.h"

static struct zk_fixture fixture;
static bool started;

static void stop_fixture(void)
{
	if (started && fixture.pid > 0)
		zk_fixture_destroy(&fixture);
}

struct zk_fixture *zk(void)
{
	const char *why;

	if (started)
		return &fixture;
	why = zk_fixture_missing();
	if (why)
		test_skip("%s", why);
	CHECKF(zk_fixture_start(&fixture) == 0, "cannot start ZooKeeper (log in %s)", fixture.dir);
	started = true;
	atexit(stop_fixture);
	return &fixture;
}

void zk_root(const char *tag, char *url, size_t size)
{
	static unsigned seq;
	char name[96];

	snprintf(name, sizeof(name), "t%d-%s-%u", (int)getpid(), tag, seq++);
	zk_fixture_url(zk(), name, url, size);
}

struct cluster *node_mount(const char *url, const char *name, unsigned session_ms,
			   unsigned min_hold_ms)
{
	struct cluster_config cfg = {.url = url,
				     .node_name = name,
				     .connect_timeout_ms = 10000,
				     .session_timeout_ms = session_ms,
				     .min_hold_ms = min_hold_ms};
	struct cluster *c = NULL;
	int ret = cluster_mount(&cfg, &c);

	CHECKF(ret == 0, "cluster_mount(%s, %s): %d %s", url, name, ret, cluster_last_error());
	return c;
}

void *node_random_load(void *p)
{
	struct rworker *w = p;
	struct rng r;
	unsigned long i;

	rng_seed(&r, w->seed);
	for (i = 0; i < w->iters; i++) {
		static const enum gl_state sts[] = {LM_ST_EXCLUSIVE, LM_ST_SHARED, LM_ST_DEFERRED,
						    LM_ST_SHARED};
		enum gl_state s = sts[rng_next(&r) % 4];
		unsigned gi = (unsigned)(rng_next(&r) % w->nglocks);
		struct glock *g;
		struct gholder h;

		CHECK_EQ(glock_get(w->c, w->first + gi, NULL, NULL, &g), 0);
		gholder_init(g, s, 0, &h);
		CHECK_EQ(glock_nq(&h), 0);
		checker_grant(w->node, gi, s);
		checker_release(w->node, gi, s);
		glock_dq(&h);
		glock_put(g);
	}
	return NULL;
}

int node_zk_children(struct cluster *c, const char *path)
{
	struct zk_cluster *z = c->lm;
	struct String_vector sv = {0};
	int rc, n;

	pthread_rwlock_rdlock(&z->zh_lock);
	rc = zoo_get_children(z->zh, path, 0, &sv);
	pthread_rwlock_unlock(&z->zh_lock);
	CHECKF(rc == ZOK, "%s: %s", path, zerror(rc));
	n = sv.count;
	deallocate_String_vector(&sv);
	return n;
}

unsigned node_nglocks(struct cluster *c)
{
	unsigned n;

	mutex_lock(&c->hash_lock);
	n = c->nglocks;
	mutex_unlock(&c->hash_lock);
	return n;
}

void glock_take(struct glock *gl, enum gl_state st)
{
	struct gholder h;

	gholder_init(gl, st, 0, &h);
	CHECK_EQ(glock_nq(&h), 0);
	glock_dq(&h);
}

void *node_nq_thread(void *p)
{
	struct node_nq *a = p;
	struct gholder h;

	gholder_init(a->gl, a->st, 0, &h);
	a->ret = glock_nq(&h);
	atomic_store(&a->done, true);
	if (!a->ret)
		glock_dq(&h);
	return NULL;
}

unsigned node_gl_flags(struct glock *gl)
{
	unsigned f;

	mutex_lock(&gl->gl_lock);
	f = gl->gl_flags;
	mutex_unlock(&gl->gl_lock);
	return f;
}

struct cluster *node_mount_cached(const char *tag, unsigned min_hold_ms, uint64_t num,
				  enum gl_state st, struct glock **glp)
{
	char url[256];
	struct cluster *c;

	zk_root(tag, url, sizeof(url));
	c = node_mount(url, "A", 4000, min_hold_ms);
	CHECK_EQ(glock_get(c, num, NULL, NULL, glp), 0);
	glock_take(*glp, st);
	return c;
}

#define MAXN 8
static pthread_mutex_t ck_lock = PTHREAD_MUTEX_INITIALIZER;
#define MAXG 16
static unsigned ck_count[MAXG][MAXN][4];
static unsigned long ck_conflicts;

void checker_reset(void)
{
	pthread_mutex_lock(&ck_lock);
	memset(ck_count, 0, sizeof(ck_count));
	ck_conflicts = 0;
	pthread_mutex_unlock(&ck_lock);
}

void checker_grant(int node, unsigned g, enum gl_state s)
{
	int o, t;

	pthread_mutex_lock(&ck_lock);
	for (o = 0; o < MAXN; o++) {
		if (o == node)
			continue;
		for (t = 1; t < 4; t++)
			if (ck_count[g][o][t] && !gl_compatible((enum gl_state)t, s)) {
				ck_conflicts++;
				fprintf(stderr,
					"# checker: glock %u: node %d granted %s while node %d "
					"holds %s\n",
					g, node, gl_state_name(s), o,
					gl_state_name((enum gl_state)t));
			}
	}
	ck_count[g][node][s]++;
	pthread_mutex_unlock(&ck_lock);
}

void checker_release(int node, unsigned g, enum gl_state s)
{
	pthread_mutex_lock(&ck_lock);
	ck_count[g][node][s]--;
	pthread_mutex_unlock(&ck_lock);
}

unsigned long checker_conflicts(void)
{
	unsigned long n;

	pthread_mutex_lock(&ck_lock);
	n = ck_conflicts;
	pthread_mutex_unlock(&ck_lock);
	return n;
}

uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const struct lm_lockname PLOCK_FILE1 = {.ln_number = 0x1234, .ln_gen = 7, .ln_type = 2};

struct plock_range plock_rng(int type, int64_t s, int64_t e)
{
	return (struct plock_range){.start = s, .end = e, .type = type};
}

int plock_take(struct cluster *c, const struct plock_range *set, unsigned n,
	       struct plock_range *conflict)
{
	struct plock_range cf;

	return cluster_plock(c, &PLOCK_FILE1, &set[n - 1], set, n, 0, conflict ? conflict : &cf,
			     NULL);
}

int plock_release_all(struct cluster *c)
{
	return cluster_plock(c, &PLOCK_FILE1, NULL, NULL, 0, 0, NULL, NULL);
}

void node_mount_two(const char *tag, unsigned session_ms, struct cluster **a, struct cluster **b)
{
	char url[256];

	zk_root(tag, url, sizeof(url));
	*a = node_mount(url, "A", session_ms, 1);
	*b = node_mount(url, "B", session_ms, 1);
}

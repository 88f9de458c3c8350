/* SPDX-License-Identifier: MIT */
/*
 * bench_glock.c - glock costs (issue 18), against a real ZooKeeper server
 * that it starts on a free port (tests/cluster/zk_fixture.c):
 *   - nq+dq of a glock whose state is cached, nolock vs zk (one node alone:
 *     no lock-service round trip; the cost is the state machine's);
 *   - glock transfer latency: EX on node A, then SH on node B, alternating
 *     (each nq a transfer from the other node), in ZooKeeper round trips:
 *     the median transfer time divided by the median time of one
 *     synchronous write (zoo_set) of the same client library; the requests
 *     both nodes sent per transfer, the listings among them that were not
 *     pipelined behind a create or conversion (lm_relists), and the demotes;
 *   - a byte-range lock+unlock pair (cluster_plock: take W[0,9], release)
 *     by node A alone while node B holds W[1000,1009] of the same file, in
 *     write round trips too: with A's cached view of the table (one multi
 *     each) and with plock_test_no_cache (a look before each), alternated
 *     within each repetition; then with A forgetting the file after each
 *     pair (cluster_plock_forget: the file's inode evicted each time).
 * The server runs without its I/O worker pool (zk_fixture.h); the transfer
 * and the write round trip are measured again at the end against one with
 * the pool on (the server's default threading).
 * The minimum hold time is set to 0 here (the transfer is what is timed).
 * PC_ZK_WANT_OFF=1 turns the want nodes' watches off (docs/cluster.md);
 * PC_ZK_REARM_AT_EVENT=1 re-arms a fired want watch at the event;
 * PC_ZK_READ_EVERY_WANT=1 reads the want node a request bumped as well;
 * PC_ZK_CONVERT_MULTI=1 demotes EX to SH by the conversion multi.
 * Links the test build of the library (it reaches src/cluster's internals).
 * Locks: none of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cluster/glock.h"
#include "cluster/lock_module.h"
#include "cluster/plock.h"
#include "zk_fixture.h"

#define THREADED 1
#include <zookeeper/zookeeper.h>

static struct cluster *mount_node(const char *url, const char *name)
{
	struct cluster_config cfg = {.url = url, .node_name = name, .session_timeout_ms = 10000};
	struct cluster *c;
	int r = cluster_mount(&cfg, &c);

	if (r)
		die("cluster_mount %s: %s (%s)", url, strerror(-r), cluster_last_error());
	c->min_hold_ms = 0;
	return c;
}

static double cached_ns(struct cluster *c, unsigned long n)
{
	struct glock *g;
	struct gholder h;
	uint64_t t0;
	unsigned long i;

	ck(glock_get(c, 77, NULL, NULL, &g), "glock_get");
	gholder_init(g, LM_ST_EXCLUSIVE, 0, &h);
	ck(glock_nq(&h), "glock_nq");
	glock_dq(&h);
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		gholder_init(g, LM_ST_EXCLUSIVE, 0, &h);
		glock_nq(&h);
		glock_dq(&h);
	}
	t0 = now_ns() - t0;
	glock_put(g);
	return (double)t0 / (double)n;
}

static void connected(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	if (type == ZOO_SESSION_EVENT && state == ZOO_CONNECTED_STATE)
		__atomic_store_n((int *)ctx, 1, __ATOMIC_RELEASE);
}

/* One synchronous request of the same client library: the round trip of a
 * read (zoo_exists) or of a write (zoo_set: a transaction, logged and
 * synced by the server like every create and delete of the lock recipe). */
static double rtt_us(const struct zk_fixture *f, int n, bool write)
{
	char hosts[64];
	int ok = 0, i;
	struct Stat st;
	zhandle_t *zh;
	uint64_t t0;

	snprintf(hosts, sizeof(hosts), "127.0.0.1:%d", f->port);
	zh = zookeeper_init(hosts, connected, 10000, NULL, &ok, 0);
	while (zh && !__atomic_load_n(&ok, __ATOMIC_ACQUIRE))
		usleep(1000);
	if (!zh)
		die("zookeeper_init");
	zoo_create(zh, "/rtt", NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		if (write)
			zoo_set(zh, "/rtt", "x", 1, -1);
		else
			zoo_exists(zh, "/", 0, &st);
	}
	t0 = now_ns() - t0;
	zookeeper_close(zh);
	return (double)t0 / n / 1000.0;
}

struct xfer {
	double us, half_sh_us, half_ex_us;  /* per transfer */
	double requests, listings, demotes; /* both nodes, per transfer */
};

/* @xfers rounds of EX on @A then SH on @B on glock @number: 2 * @xfers
 * transfers. */
static void transfers(struct cluster *A, struct cluster *B, uint64_t number, int xfers,
		      struct xfer *x)
{
	struct glock *ga, *gb;
	struct gholder h;
	uint64_t req0, list0, dem0, t0, t_sh = 0, t_ex = 0;
	int i;

	ck(glock_get(A, number, NULL, NULL, &ga), "glock_get");
	ck(glock_get(B, number, NULL, NULL, &gb), "glock_get");
	gholder_init(ga, LM_ST_EXCLUSIVE, 0, &h);
	ck(glock_nq(&h), "nq");
	glock_dq(&h);
	req0 = atomic_load(&A->stats.lm_requests) + atomic_load(&B->stats.lm_requests);
	list0 = atomic_load(&A->stats.lm_relists) + atomic_load(&B->stats.lm_relists);
	dem0 = atomic_load(&A->stats.demotes) + atomic_load(&B->stats.demotes);
	t0 = now_ns();
	for (i = 0; i < xfers; i++) {
		uint64_t t1 = now_ns(), t2;

		gholder_init(gb, LM_ST_SHARED, 0, &h); /* A: EX -> SH, B: SH */
		ck(glock_nq(&h), "nq B");
		glock_dq(&h);
		t2 = now_ns();
		gholder_init(ga, LM_ST_EXCLUSIVE, 0, &h); /* B: SH -> UN, A: SH -> EX */
		ck(glock_nq(&h), "nq A");
		glock_dq(&h);
		t_sh += t2 - t1;
		t_ex += now_ns() - t2;
	}
	t0 = now_ns() - t0;
	x->us = (double)t0 / (2.0 * xfers) / 1000.0;
	x->half_sh_us = (double)t_sh / xfers / 1000.0;
	x->half_ex_us = (double)t_ex / xfers / 1000.0;
	x->requests = (double)(atomic_load(&A->stats.lm_requests) +
			       atomic_load(&B->stats.lm_requests) - req0) /
		      (2.0 * xfers);
	x->listings = (double)(atomic_load(&A->stats.lm_relists) +
			       atomic_load(&B->stats.lm_relists) - list0) /
		      (2.0 * xfers);
	x->demotes =
	    (double)(atomic_load(&A->stats.demotes) + atomic_load(&B->stats.demotes) - dem0) /
	    (2.0 * xfers);
	glock_put(ga);
	glock_put(gb);
}

/* The transfer and the write round trip again against a server with its
 * I/O worker pool on (zk_fixture_start_pool): the same ratio under the
 * server's default threading. */
static void transfers_pool_on(void)
{
	struct series s_x = {0}, s_w = {0}, s_rt = {0};
	struct zk_fixture f;
	struct cluster *A, *B;
	char url[300];
	int r;

	if (zk_fixture_start_pool(&f, true))
		die("cannot start ZooKeeper (worker pool on)");
	zk_fixture_url(&f, "bench", url, sizeof(url));
	A = mount_node(url, "A");
	B = mount_node(url, "B");
	for (r = 0; r < bcfg.reps; r++) {
		struct xfer x;

		series_add(&s_w, rtt_us(&f, bcfg.smoke ? 50 : 500, true));
		transfers(A, B, 1000 + (uint64_t)r, bcfg.smoke ? 20 : 500, &x);
		series_add(&s_x, x.us);
		series_add(&s_rt, x.us / s_w.v[r]);
	}
	emit_row("glock", "zk round trip", "write (zoo_set), server worker pool on", "us", &s_w);
	emit_row("glock", "transfer", "zk, server worker pool on", "us", &s_x);
	emit_row("glock", "transfer", "zk, server worker pool on", "round trips", &s_rt);
	cluster_unmount(A);
	cluster_unmount(B);
	zk_fixture_destroy(&f);
}

/* N nodes read-share one glock: after the first grants every nq is served
 * from each node's cached SH (requests per nq: 0). Returns ns per nq+dq. */
static double shared_readers(struct cluster **n, int nn, unsigned long ops, double *req_per_op)
{
	struct glock *g[3];
	struct gholder h;
	uint64_t req0 = 0, req1 = 0, t0;
	unsigned long i;
	int k;

	for (k = 0; k < nn; k++) {
		ck(glock_get(n[k], 500 + (uint64_t)nn, NULL, NULL, &g[k]), "glock_get");
		gholder_init(g[k], LM_ST_SHARED, 0, &h);
		ck(glock_nq(&h), "nq");
		glock_dq(&h);
		req0 += atomic_load(&n[k]->stats.lm_requests);
	}
	t0 = now_ns();
	for (i = 0; i < ops; i++) {
		gholder_init(g[i % (unsigned long)nn], LM_ST_SHARED, 0, &h);
		glock_nq(&h);
		glock_dq(&h);
	}
	t0 = now_ns() - t0;
	for (k = 0; k < nn; k++) {
		req1 += atomic_load(&n[k]->stats.lm_requests);
		glock_put(g[k]);
	}
	*req_per_op = (double)(req1 - req0) / (double)ops;
	return (double)t0 / (double)ops;
}

/* @pairs byte-range lock+unlock pairs of node A on file @file while B holds
 * another range of it: us per pair, and the requests A sent per pair.
 * @forget: A forgets the file after each pair (as if its inode were evicted
 * each time: its entry made and deleted each time). */
static double plock_pairs_us(struct cluster *A, struct cluster *B, uint64_t file, int pairs,
			     bool no_cache, bool forget, double *req_per_pair)
{
	struct lm_lockname name = {.ln_number = file, .ln_gen = 1, .ln_type = 2};
	struct plock_range a = {.start = 0, .end = 9, .type = F_WRLCK};
	struct plock_range b = {.start = 1000, .end = 1009, .type = F_WRLCK}, cf;
	uint64_t req0, t0;
	int i;

	ck(cluster_plock(B, &name, &b, &b, 1, 0, &cf, NULL), "cluster_plock B");
	/* The file's node made and A's first look: not timed. */
	ck(cluster_plock(A, &name, &a, &a, 1, 0, &cf, NULL), "cluster_plock A");
	ck(cluster_plock(A, &name, NULL, NULL, 0, 0, NULL, NULL), "cluster_plock A release");
	plock_test_no_cache = no_cache;
	req0 = atomic_load(&A->stats.lm_requests);
	t0 = now_ns();
	for (i = 0; i < pairs; i++) {
		ck(cluster_plock(A, &name, &a, &a, 1, 0, &cf, NULL), "cluster_plock A");
		ck(cluster_plock(A, &name, NULL, NULL, 0, 0, NULL, NULL),
		   "cluster_plock A release");
		if (forget)
			ck(cluster_plock_forget(A, &name), "cluster_plock_forget A");
	}
	t0 = now_ns() - t0;
	plock_test_no_cache = false;
	*req_per_pair = (double)(atomic_load(&A->stats.lm_requests) - req0) / pairs;
	ck(cluster_plock(B, &name, NULL, NULL, 0, 0, NULL, NULL), "cluster_plock B release");
	ck(cluster_plock_forget(A, &name), "cluster_plock_forget A");
	ck(cluster_plock_forget(B, &name), "cluster_plock_forget B");
	return (double)t0 / pairs / 1000.0;
}

int main(int argc, char **argv)
{
	struct series s_nolock = {0}, s_zk = {0}, s_xfer = {0}, s_rtt = {0}, s_wrtt = {0},
		      s_req = {0}, s_rt = {0}, s_list = {0}, s_dem = {0}, s_half_sh = {0},
		      s_half_ex = {0};
	struct series s_pl = {0}, s_plnc = {0}, s_plrt = {0}, s_plrtnc = {0}, s_plreq = {0},
		      s_plreqnc = {0}, s_plf = {0}, s_plreqf = {0};
	struct zk_fixture f;
	struct cluster *nl, *A, *B;
	struct cluster_config ncfg = {.url = "nolock"};
	char url[300];
	int r;

	bench_init(argc, argv, 5);
	/* PC_ZK_WANT_OFF=1: the holder learns of requests from a children watch
	 * and a listing (zk_test_want_nodes_off), for an A/B in one binary. */
	if (getenv("PC_ZK_WANT_OFF"))
		zk_test_want_nodes_off = true;
	/* PC_ZK_REARM_AT_EVENT=1: the holder arms a fired want watch again at
	 * once (zk_test_rearm_at_event), for an A/B in one binary. */
	if (getenv("PC_ZK_REARM_AT_EVENT"))
		zk_test_rearm_at_event = true;
	/* PC_ZK_READ_EVERY_WANT=1: every want node is read behind a request
	 * (zk_test_read_every_want), for an A/B in one binary. */
	if (getenv("PC_ZK_READ_EVERY_WANT"))
		zk_test_read_every_want = true;
	/* PC_ZK_CONVERT_MULTI=1: EX -> SH by the conversion multi, not the
	 * downgrade in place (zk_test_convert_multi), for an A/B in one binary. */
	if (getenv("PC_ZK_CONVERT_MULTI"))
		zk_test_convert_multi = true;
	if (zk_fixture_missing()) {
		emit_skip("glock", "transfer", "%s", zk_fixture_missing());
		return 0;
	}
	if (zk_fixture_start(&f))
		die("cannot start ZooKeeper");
	zk_fixture_url(&f, "bench", url, sizeof(url));
	ck(cluster_mount(&ncfg, &nl), "cluster_mount nolock");
	A = mount_node(url, "A");
	B = mount_node(url, "B");
	{
		struct cluster *nodes[3] = {A, B, mount_node(url, "C")};
		struct series s_ns[3], s_rq[3];

		memset(s_ns, 0, sizeof(s_ns));
		memset(s_rq, 0, sizeof(s_rq));
		int nn;

		for (r = 0; r < bcfg.reps; r++)
			for (nn = 1; nn <= 3; nn++) {
				double rq;

				series_add(
				    &s_ns[nn - 1],
				    shared_readers(nodes, nn, bcfg.smoke ? 1000 : 300000, &rq));
				series_add(&s_rq[nn - 1], rq);
			}
		for (nn = 1; nn <= 3; nn++) {
			char impl[32];

			snprintf(impl, sizeof(impl), "%d node%s", nn, nn > 1 ? "s" : "");
			emit_row("glock", "SH readers: nq+dq", impl, "ns", &s_ns[nn - 1]);
			emit_row("glock", "SH readers: requests per nq", impl, "requests",
				 &s_rq[nn - 1]);
		}
		cluster_unmount(nodes[2]);
	}
	for (r = 0; r < bcfg.reps; r++) {
		unsigned long n = bcfg.smoke ? 1000 : 1000000;
		int xfers = bcfg.smoke ? 20 : 500;
		struct xfer x;

		series_add(&s_nolock, cached_ns(nl, n));
		series_add(&s_zk, cached_ns(A, n));
		series_add(&s_rtt, rtt_us(&f, bcfg.smoke ? 50 : 2000, false));
		series_add(&s_wrtt, rtt_us(&f, bcfg.smoke ? 50 : 500, true));
		transfers(A, B, 1000 + (uint64_t)r, xfers, &x);
		series_add(&s_xfer, x.us);
		series_add(&s_half_sh, x.half_sh_us);
		series_add(&s_half_ex, x.half_ex_us);
		series_add(&s_req, x.requests);
		series_add(&s_list, x.listings);
		series_add(&s_dem, x.demotes);
		{
			int pairs = bcfg.smoke ? 20 : 300;
			double rq;

			/* cache and no cache alternated: one file each per rep */
			series_add(&s_pl, plock_pairs_us(A, B, 2000 + 3 * (uint64_t)r, pairs, false,
							 false, &rq));
			series_add(&s_plreq, rq);
			series_add(&s_plnc, plock_pairs_us(A, B, 2001 + 3 * (uint64_t)r, pairs,
							   true, false, &rq));
			series_add(&s_plreqnc, rq);
			series_add(&s_plf, plock_pairs_us(A, B, 2002 + 3 * (uint64_t)r, pairs,
							  false, true, &rq));
			series_add(&s_plreqf, rq);
		}
	}
	for (r = 0; r < s_xfer.n; r++) {
		series_add(&s_rt, s_xfer.v[r] / s_wrtt.v[r]);
		series_add(&s_plrt, s_pl.v[r] / s_wrtt.v[r]);
		series_add(&s_plrtnc, s_plnc.v[r] / s_wrtt.v[r]);
	}
	emit_row("glock", "nq+dq cached", "nolock", "ns", &s_nolock);
	emit_row("glock", "nq+dq cached", "zk", "ns", &s_zk);
	emit_cmp("glock", "nq+dq cached", "ns", "zk", &s_zk, "nolock", &s_nolock, NULL, 0);
	emit_row("glock", "zk round trip", "read (zoo_exists)", "us", &s_rtt);
	emit_row("glock", "zk round trip", "write (zoo_set)", "us", &s_wrtt);
	emit_row("glock", "transfer", "zk", "us", &s_xfer);
	emit_row("glock", "transfer", "zk", "round trips", &s_rt);
	emit_row("glock", "transfer", "EX->SH half (B asks SH)", "us", &s_half_sh);
	emit_row("glock", "transfer", "SH->UN half (A asks EX)", "us", &s_half_ex);
	emit_row("glock", "requests per transfer", "zk", "requests", &s_req);
	emit_row("glock", "listings per transfer", "zk", "listings", &s_list);
	emit_row("glock", "demotes per transfer", "zk", "demotes", &s_dem);
	emit_cmp("glock", "transfer latency", "us", "transfer", &s_xfer, "write round trip",
		 &s_wrtt, "<=", 3);
	emit_row("glock", "byte-range lock+unlock pair", "zk (cache)", "us", &s_pl);
	emit_row("glock", "byte-range lock+unlock pair", "zk (no cache)", "us", &s_plnc);
	emit_row("glock", "byte-range lock+unlock pair", "zk (cache)", "round trips", &s_plrt);
	emit_row("glock", "byte-range lock+unlock pair", "zk (no cache)", "round trips", &s_plrtnc);
	emit_row("glock", "requests per byte-range pair", "zk (cache)", "requests", &s_plreq);
	emit_row("glock", "requests per byte-range pair", "zk (no cache)", "requests", &s_plreqnc);
	emit_row("glock", "byte-range lock+unlock pair", "zk (forget after each)", "us", &s_plf);
	emit_row("glock", "requests per byte-range pair", "zk (forget after each)", "requests",
		 &s_plreqf);
	emit_cmp("glock",
		 "byte-range lock+unlock pair, one node alone (another holds another range)", "us",
		 "pair", &s_pl, "write round trip", &s_wrtt, "<=", 2.5);
	cluster_unmount(A);
	cluster_unmount(B);
	cluster_unmount(nl);
	zk_fixture_destroy(&f);
	transfers_pool_on();
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * test_coherence.c - cluster mode's strict coherence across nodes
 * (coherence.h): node processes, each its own engine on one shared
 * directory, run random pread/pwrite/mmap load and store/truncate/punch/
 * O_DIRECT on shared files; the checker proves every byte of every read
 * linearizable. With the demote's invalidation switched off
 * (cluster_test_no_inval) it reports a stale read, with the seed.
 *
 * Cases: one node under nolock (the workload and checker alone, no lock
 * service); three nodes through ZooKeeper; three nodes that also close and
 * reopen their files with one unused inode cached (glocks freed, lock
 * nodes deleted and made again under the load; none left at the end); the
 * hazard switch.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/coherence.h"
#include "cluster/lock_zk.h" /* the ZooKeeper client */
#include "cluster/node_fixture.h"
#include "fs/cluster.h"
#include "fs/inode.h"
#include "harness.h"
#include "pagecache.h"

static int node_fn(void *arg)
{
	return coh_node_main(arg);
}

static bool dio_here(const char *dir)
{
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "%s/coh0", dir);
	fd = open(path, O_RDONLY | O_DIRECT);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* The lock nodes left under @url's root (zk://hosts/root) once every node
 * has unmounted: none (the last node to free a glock deletes its lock
 * node), counted through a plain client session. */
static int lock_nodes_left(const char *url)
{
	char hosts[256], gpath[512];
	const char *p = url + strlen("zk://"), *slash = strchr(p, '/');
	struct String_vector sv;
	zhandle_t *zh;
	int i, n, rc;

	CHECK(slash != NULL);
	snprintf(hosts, sizeof(hosts), "%.*s", (int)(slash - p), p);
	snprintf(gpath, sizeof(gpath), "%s/g", slash);
	zoo_set_debug_level(0);
	zh = zookeeper_init(hosts, NULL, 10000, NULL, NULL, 0);
	CHECK(zh != NULL);
	for (i = 0; zoo_state(zh) != ZOO_CONNECTED_STATE && i < 10000; i++)
		usleep(1000); /* the connection to come */
	rc = zoo_get_children(zh, gpath, 0, &sv);
	CHECKF(rc == ZOK, "%s: %s", gpath, zerror(rc));
	n = sv.count;
	deallocate_String_vector(&sv);
	zookeeper_close(zh);
	return n;
}

/* Runs @nnodes nodes of @nops steps each and checks their logs. */
static void run_nodes(const char *url, int nnodes, unsigned nops, uint64_t seed, bool reopen,
		      struct coh_result *res)
{
	char store[600], logs[600];
	struct coh_node_args a[COH_NODES_MAX];
	pid_t pid[COH_NODES_MAX];

	nf_fresh(store, sizeof(store), logs, sizeof(logs));
	CHECK_EQ(coh_prepare(store), 0);
	for (int i = 0; i < nnodes; i++) {
		a[i] = (struct coh_node_args){.dir = store,
					      .logdir = logs,
					      .cluster = url,
					      .node = i,
					      .seed = seed,
					      .nops = nops,
					      .session_ms = 10000,
					      .dio = dio_here(store),
					      .reopen = reopen};
		pid[i] = nf_spawn(node_fn, &a[i]);
	}
	for (int i = 0; i < nnodes; i++) {
		int st = nf_wait(pid[i]);
		CHECKF(st == 0, "node %d: exit status %d (seed %#" PRIx64 ")", i, st, seed);
	}
	CHECK_EQ(coh_check(logs, nnodes, NULL, res), 0);
	printf("# %d nodes x %u operations: %lu reads (%lu bytes) checked against %lu writes: "
	       "%lu stale\n",
	       nnodes, nops, res->reads, res->bytes_checked, res->writes, res->stale);
}

/* Operations per node: PC_COH_OPS (make stress), else @full (a quarter
 * under PC_QUICK). */
static unsigned coh_ops(unsigned full)
{
	const char *s = getenv("PC_COH_OPS");

	if (s && *s)
		return (unsigned)strtoul(s, NULL, 0);
	return (unsigned)test_scale(full, 4);
}

static void run(const char *url, int nnodes, unsigned nops, uint64_t seed, struct coh_result *res)
{
	run_nodes(url, nnodes, nops, seed, false, res);
}

TEST(one_node_nolock)
{
	struct coh_result res;
	uint64_t seed = test_seed();

	run("nolock", 1, coh_ops(2000), seed, &res);
	CHECKF(res.stale == 0, "seed %" PRIu64 ": %s", seed, res.first);
	CHECK(res.reads > 0);
}

TEST(three_nodes)
{
	const char *url = nf_cluster_url();
	struct coh_result res;
	uint64_t seed = test_seed();

	run(url, 3, coh_ops(600), seed, &res);
	CHECKF(res.stale == 0, "stale read (replay: PC_SEED=%#" PRIx64 "): %s", seed, res.first);
	CHECK(res.reads > 0);
}

/* Files closed and opened again at random with one unused inode cached:
 * inodes are evicted (written back) and their glocks freed, and lock nodes
 * deleted and made again under the load (lock_zk_gc.c); every read still
 * linearizable, and no lock node left once the nodes unmounted. */
TEST(three_nodes_reopen)
{
	const char *url = nf_cluster_url();
	struct coh_result res;
	uint64_t seed = test_seed();
	int left;

	inode_test_unused_max = 1; /* inherited by the node processes */
	run_nodes(url, 3, coh_ops(600), seed, true, &res);
	inode_test_unused_max = 0;
	CHECKF(res.stale == 0, "stale read (replay: PC_SEED=%#" PRIx64 "): %s", seed, res.first);
	CHECK(res.reads > 0);
	left = lock_nodes_left(url);
	printf("# lock nodes left after the unmounts: %d\n", left);
	CHECK_EQ(left, 0);
}

/* The hazard: a node that keeps its pages when it loses its glock reads
 * them after another node wrote. */
TEST(no_inval_reports_stale)
{
	const char *url = nf_cluster_url();
	struct coh_result res = {0};
	uint64_t seed = test_seed();

	cluster_test_no_inval = true; /* inherited by the node processes */
	uint64_t s = seed;

	for (int round = 0; round < 3 && !res.stale; round++)
		run(url, 3, (unsigned)test_scale(600, 4), s = seed + (uint64_t)round, &res);
	cluster_test_no_inval = false;
	CHECKF(res.stale > 0, "no stale read with go_inval off (seed %#" PRIx64 ")", seed);
	printf("# with go_inval off: stale read (replay: PC_SEED=%#" PRIx64 "): %s\n", s,
	       res.first);
}

/* Bad input at pc_engine_open: a malformed URL is -EINVAL, a vol store is
 * refused (-EINVAL with a message), and nolock is today's engine. */
TEST(engine_open_bad_input)
{
	char store[600], logs[600];
	struct pc_options o = PC_OPTIONS_INIT;
	struct pc_engine *e = NULL;

	nf_fresh(store, sizeof(store), logs, sizeof(logs));
	o.store_dir = store;
	o.cluster = "zk://127.0.0.1:notaport/x";
	CHECK_EQ(pc_engine_open(&o, &e), -EINVAL);
	CHECK(strstr(pc_cluster_error(), "zk://127.0.0.1:notaport/x") != NULL);
	o.cluster = "zk:/";
	CHECK_EQ(pc_engine_open(&o, &e), -EINVAL);
	o.cluster = "nolock";
	CHECK_EQ(pc_engine_open(&o, &e), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	o.store_dir = NULL;
	o.store_image = logs; /* never opened: refused first */
	o.cluster = "zk://127.0.0.1:2181/x";
	CHECK_EQ(pc_engine_open(&o, &e), -EINVAL);
	CHECKF(strstr(pc_cluster_error(), "vol store does not support cluster mode") != NULL, "%s",
	       pc_cluster_error());
	printf("# vol: %s\n", pc_cluster_error());
}

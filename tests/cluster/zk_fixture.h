/* SPDX-License-Identifier: MIT */
/*
 * zk_fixture.h - a real ZooKeeper server for the cluster tests: standalone,
 * on 127.0.0.1 at a free port, its data in a temporary directory, started as
 * a child JVM (Debian's zookeeper package: /usr/share/java/zookeeper.jar,
 * org.apache.zookeeper.server.ZooKeeperServerMain) and waited for with a
 * real client session (the four-letter words may be disabled). It can be
 * stopped and restarted on the same port with the same data (sessions and
 * their ephemeral nodes survive a restart within their timeout).
 * tickTime is 100 ms so that session timeouts of 1-4 s are allowed.
 * The server's pool of I/O worker threads is off by default
 * (zookeeper.nio.numWorkerThreads=0: its selector thread reads a request
 * and passes it to the processor chain itself), one thread hand-off less per
 * request: on the 2-vCPU development host a bare write round trip 5-10%
 * and a glock transfer about 8% shorter (docs/cluster.md, "Costs").
 * zk_fixture_start_pool() starts one with the pool as the server sizes it
 * (twice the cores) for the benchmark's comparison.
 * Shell tests use the zk_server program (zk_server.c) built on it.
 */
#ifndef PC_TESTS_CLUSTER_ZK_FIXTURE_H
#define PC_TESTS_CLUSTER_ZK_FIXTURE_H

#include <stdbool.h>
#include <sys/types.h>

struct zk_fixture {
	pid_t pid;
	int port;
	char dir[256];	  /* data and config */
	char url[300];	  /* zk://127.0.0.1:port */
	bool worker_pool; /* the server's I/O worker threads on */
};

/* Why ZooKeeper cannot run here (no java or no zookeeper.jar), or NULL. */
const char *zk_fixture_missing(void);
/* 0, or -1 with a message on stderr. */
int zk_fixture_start(struct zk_fixture *f);
/* The same, with the server's I/O worker pool on (@worker_pool) or off. */
int zk_fixture_start_pool(struct zk_fixture *f, bool worker_pool);
int zk_fixture_restart(struct zk_fixture *f);
/* SIGKILL (a crash: what was acknowledged is in the transaction log). */
void zk_fixture_stop(struct zk_fixture *f);
/* Stops it and removes its directory. */
void zk_fixture_destroy(struct zk_fixture *f);
/* The URL of a fresh root path under the server: zk://127.0.0.1:port/<name> */
void zk_fixture_url(const struct zk_fixture *f, const char *name, char *buf, size_t size);
/* A port on which nothing listens (for the unreachable case). */
int zk_fixture_dead_port(void);

#endif

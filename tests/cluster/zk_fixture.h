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
 * Shell tests use the zk_server program (zk_server.c) built on it.
 */
#ifndef PC_TESTS_CLUSTER_ZK_FIXTURE_H
#define PC_TESTS_CLUSTER_ZK_FIXTURE_H

#include <stdbool.h>
#include <sys/types.h>

struct zk_fixture {
	pid_t pid;
	int port;
	char dir[256]; /* data and config */
	char url[300]; /* zk://127.0.0.1:port */
};

/* Why ZooKeeper cannot run here (no java or no zookeeper.jar), or NULL. */
const char *zk_fixture_missing(void);
/* 0, or -1 with a message on stderr. */
int zk_fixture_start(struct zk_fixture *f);
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

/* SPDX-License-Identifier: MIT */
/*
 * zk_server.c - the ZooKeeper fixture for shell tests: starts a server on a
 * free port of 127.0.0.1 with its data in a temporary directory, prints its
 * URL (zk://127.0.0.1:PORT) on the first line of stdout, and then obeys
 * lines on stdin: "restart" (kill and start again on the same port with the
 * same data; prints "ok" when it serves again), "stop" (kill), "start",
 * "children PATH" (prints the number of PATH's children, -1 if PATH is
 * not there or the server does not answer: a test's look at what a cluster
 * left in ZooKeeper).
 * At end of stdin (or SIGTERM) it stops the server and removes its data.
 * Exit 77 (skip) when java or ZooKeeper is not installed.
 *   coproc ZK { build/tests/cluster/zk_server; }; read -r URL <&"${ZK[0]}"
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#ifndef THREADED
#define THREADED 1 /* the synchronous calls of zookeeper_mt */
#endif
#include <zookeeper/zookeeper.h>

#include "zk_fixture.h"

static struct zk_fixture f;

static void no_watch(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
}

/* PATH's children counted through a client of our own; -1 on error. */
static int children(const char *path)
{
	struct String_vector sv = {0};
	zhandle_t *zh;
	int i, n = -1;

	zoo_set_debug_level(0);
	zh = zookeeper_init(f.url + strlen("zk://"), no_watch, 10000, NULL, NULL, 0);
	if (!zh)
		return -1;
	for (i = 0; zoo_state(zh) != ZOO_CONNECTED_STATE && i < 1000; i++)
		usleep(10 * 1000); /* waiting for the connection, not ordering threads */
	if (zoo_get_children(zh, path, 0, &sv) == ZOK)
		n = sv.count;
	deallocate_String_vector(&sv);
	zookeeper_close(zh);
	return n;
}

static void on_term(int sig)
{
	zk_fixture_destroy(&f);
	_exit(0);
}

int main(void)
{
	char line[512];
	const char *why = zk_fixture_missing();

	if (why) {
		fprintf(stderr, "zk_server: %s\n", why);
		return 77;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	if (zk_fixture_start(&f)) {
		zk_fixture_destroy(&f);
		return 1;
	}
	printf("%s\n", f.url);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		int r = 0;

		if (!strncmp(line, "children ", 9)) {
			line[strcspn(line, "\n")] = 0;
			printf("%d\n", children(line + 9));
			fflush(stdout);
			continue;
		}
		if (!strncmp(line, "restart", 7))
			r = zk_fixture_restart(&f);
		else if (!strncmp(line, "stop", 4))
			zk_fixture_stop(&f);
		else if (!strncmp(line, "start", 5))
			r = zk_fixture_restart(&f);
		printf("%s\n", r ? "error" : "ok");
		fflush(stdout);
	}
	zk_fixture_destroy(&f);
	return 0;
}

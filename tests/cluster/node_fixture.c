/* SPDX-License-Identifier: MIT */
/*
 * node_fixture.c - see node_fixture.h. The ZooKeeper server is the
 * cluster tests' fixture (zk_fixture.h), started at the first case that
 * asks for it and destroyed when the test process exits.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster/node_fixture.h"
#include "cluster/zk_fixture.h"
#include "harness.h"

static char root[512];
static int ncase;
static struct zk_fixture zk;
static bool zk_up;
static char zk_url[400];

static pid_t owner;

static void at_exit(void)
{
	if (getpid() != owner)
		return; /* a node process */
	if (zk_up) {
		zk_fixture_destroy(&zk);
		zk_up = false;
	}
	if (root[0]) {
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		if (system(cmd)) {
		}
	}
}

static void ensure_root(void)
{
	if (root[0])
		return;
	const char *t = getenv("TMPDIR");
	snprintf(root, sizeof(root), "%s/pc-cluster-XXXXXX", t && *t ? t : "/tmp");
	CHECK(mkdtemp(root) != NULL);
	owner = getpid();
	atexit(at_exit);
}

void nf_fresh(char *store, size_t n, char *logs, size_t ln)
{
	ensure_root();
	ncase++;
	/* the pid too: a forked child (a hazard run) makes its own */
	snprintf(store, n, "%s/store%d.%d", root, ncase, (int)getpid());
	snprintf(logs, ln, "%s/logs%d.%d", root, ncase, (int)getpid());
	CHECK(mkdir(store, 0755) == 0);
	CHECK(mkdir(logs, 0755) == 0);
}

void nf_zk_start(void)
{
	CHECK(zk_fixture_restart(&zk) == 0);
}

void nf_zk_stop(void)
{
	zk_fixture_stop(&zk);
}

const char *nf_cluster_url(void)
{
	const char *why = zk_fixture_missing();
	static int nurl;
	char name[32];

	if (why)
		test_skip("%s", why);
	if (!zk_up) {
		CHECK(zk_fixture_start(&zk) == 0);
		zk_up = true;
	}
	/* a fresh root path per case: no glock of an earlier case */
	snprintf(name, sizeof(name), "pc-engine-%d", ++nurl);
	zk_fixture_url(&zk, name, zk_url, sizeof(zk_url));
	return zk_url;
}

pid_t nf_spawn(int (*fn)(void *arg), void *arg)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

int nf_wait(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

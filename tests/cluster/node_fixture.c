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
#include <stdint.h>
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
	/* a fresh root path per case: no glock of an earlier case (the pid
	 * too: a forked child's count does not reach its parent, and the
	 * sessions of the nodes a hazard child killed live on until their
	 * timeout, their node names in use) */
	snprintf(name, sizeof(name), "pc-engine-%d.%d", ++nurl, (int)getpid());
	zk_fixture_url(&zk, name, zk_url, sizeof(zk_url));
	return zk_url;
}

pid_t nf_spawn(int (*fn)(void *arg), void *arg)
{
	pid_t pid;

	pid = test_fork();
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

/* Prints the stacks of @pid's threads (gdb, where installed) to stderr. */
static void print_stacks(pid_t pid)
{
	char cmd[200];

	if (access("/usr/bin/gdb", X_OK))
		return;
	fflush(stderr);
	snprintf(cmd, sizeof(cmd),
		 "timeout 60 /usr/bin/gdb -p %d -batch -ex 'thread apply all bt' 1>&2 "
		 "</dev/null",
		 (int)pid);
	if (system(cmd)) {
	}
}

int nf_wait_for(pid_t pid, const char *what, unsigned ms)
{
	struct timespec t0, now, nap = {0, 10 * 1000000};
	int st;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (r < 0)
			return -1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((uint64_t)(now.tv_sec - t0.tv_sec) * 1000 +
			(uint64_t)((now.tv_nsec - t0.tv_nsec) / 1000000) >=
		    ms)
			break;
		/* waits for another process to end, orders no thread */
		nanosleep(&nap, NULL);
	}
	fprintf(stderr, "# node_fixture: %s (pid %d) did not exit within %u ms; its threads:\n",
		what ? what : "a node", (int)pid, ms);
	print_stacks(pid);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return NF_WAIT_HUNG;
}

int nf_wait(pid_t pid)
{
	const char *env = getenv("PC_NODE_WAIT_MS");
	unsigned ms = env && *env ? (unsigned)strtoul(env, NULL, 0) : NF_WAIT_MS;

	return nf_wait_for(pid, NULL, ms);
}

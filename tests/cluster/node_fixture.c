/* SPDX-License-Identifier: MIT */
/*
 * node_fixture.c - see node_fixture.h. The ZooKeeper server is Debian's
 * (scripts/deps.sh: zookeeper, java): QuorumPeerMain in standalone mode with
 * a zoo.cfg of our own (tickTime 200 ms, so sessions may be as short as
 * 400 ms), on 127.0.0.1 at a port the kernel chose free, data in the test's
 * temporary root. It is killed when the test process exits.
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
#include "harness.h"

#define ZK_CLASSPATH "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar"
#define ZK_MAIN	     "org.apache.zookeeper.server.quorum.QuorumPeerMain"

static char root[512];
static int ncase;
static pid_t zk_pid = -1;
static int zk_port;
static char zk_url[128], zk_cfg[600];

static pid_t owner;

static void at_exit(void)
{
	if (getpid() != owner)
		return; /* a node process */
	if (zk_pid > 0) {
		kill(zk_pid, SIGKILL);
		waitpid(zk_pid, NULL, 0);
		zk_pid = -1;
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
	snprintf(store, n, "%s/store%d", root, ncase);
	snprintf(logs, ln, "%s/logs%d", root, ncase);
	CHECK(mkdir(store, 0755) == 0);
	CHECK(mkdir(logs, 0755) == 0);
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0), port;

	CHECK(s >= 0);
	CHECK(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(getsockname(s, (struct sockaddr *)&a, &len) == 0);
	port = ntohs(a.sin_port);
	close(s);
	return port;
}

static bool zk_answers(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)zk_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char buf[8] = {0};
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = false;

	if (s < 0)
		return false;
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) == 0 && write(s, "ruok", 4) == 4)
		ok = read(s, buf, 4) == 4 && !memcmp(buf, "imok", 4);
	close(s);
	return ok;
}

void nf_zk_start(void)
{
	char log[600];

	fflush(stdout);
	fflush(stderr);
	snprintf(log, sizeof(log), "%s/zk.log", root);
	zk_pid = fork();
	CHECK(zk_pid >= 0);
	if (zk_pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		setpgid(0, 0);
		execlp("java", "java", "-Xmx256m", "-cp", ZK_CLASSPATH, ZK_MAIN, zk_cfg, (char *)NULL);
		_exit(127);
	}
	/* Java takes seconds to start: wait for "imok" (up to 60 s). */
	for (int i = 0; i < 600; i++) {
		int st;
		if (waitpid(zk_pid, &st, WNOHANG) == zk_pid) {
			zk_pid = -1;
			test_skip("ZooKeeper did not start (see %s)", log);
		}
		if (zk_answers())
			return;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL); /* polling a server's start, not ordering threads */
	}
	test_skip("ZooKeeper did not answer within 60 s (see %s)", log);
}

void nf_zk_stop(void)
{
	if (zk_pid > 0) {
		kill(zk_pid, SIGKILL);
		waitpid(zk_pid, NULL, 0);
		zk_pid = -1;
	}
}

const char *nf_cluster_url(void)
{
	char data[560];
	FILE *f;

	if (zk_pid > 0)
		return zk_url;
	if (access("/usr/share/java/zookeeper.jar", R_OK))
		test_skip("ZooKeeper is not installed (scripts/deps.sh: zookeeper)");
	ensure_root();
	zk_port = free_port();
	snprintf(data, sizeof(data), "%s/zkdata", root);
	mkdir(data, 0755);
	snprintf(zk_cfg, sizeof(zk_cfg), "%s/zoo.cfg", root);
	f = fopen(zk_cfg, "w");
	CHECK(f != NULL);
	fprintf(f,
		"tickTime=200\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n"
		"admin.enableServer=false\n4lw.commands.whitelist=ruok\nmaxSessionTimeout=60000\n",
		data, zk_port);
	fclose(f);
	nf_zk_start();
	snprintf(zk_url, sizeof(zk_url), "zk://127.0.0.1:%d/pc-test", zk_port);
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

/* SPDX-License-Identifier: MIT */
/*
 * zk_fixture.c - starts, waits for, restarts and stops a standalone
 * ZooKeeper server for the tests (zk_fixture.h). No locks.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define THREADED 1
#include <zookeeper/zookeeper.h>

#include "zk_fixture.h"

#define ZK_JAR "/usr/share/java/zookeeper.jar"

static const char *java_path(void)
{
	static const char *cands[] = {"/usr/bin/java", "/usr/lib/jvm/default-java/bin/java", NULL};
	int i;

	for (i = 0; cands[i]; i++)
		if (access(cands[i], X_OK) == 0)
			return cands[i];
	return NULL;
}

const char *zk_fixture_missing(void)
{
	if (!java_path())
		return "no java (scripts/deps.sh installs zookeeper, which brings it)";
	if (access(ZK_JAR, R_OK))
		return "no " ZK_JAR " (scripts/deps.sh installs the zookeeper package)";
	return NULL;
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (s < 0)
		return -1;
	if (!bind(s, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(s, (struct sockaddr *)&a, &l))
		port = ntohs(a.sin_port);
	close(s);
	return port;
}

int zk_fixture_dead_port(void)
{
	return free_port();
}

static void connected_cb(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	if (type == ZOO_SESSION_EVENT && state == ZOO_CONNECTED_STATE)
		__atomic_store_n((int *)ctx, 1, __ATOMIC_RELEASE);
}

/* Serves when a client gets a session. */
static int wait_serving(struct zk_fixture *f, int timeout_s)
{
	char hosts[64];
	time_t end = time(NULL) + timeout_s;

	snprintf(hosts, sizeof(hosts), "127.0.0.1:%d", f->port);
	zoo_set_debug_level(0);
	while (time(NULL) < end) {
		int ok = 0, i, st;
		zhandle_t *zh = zookeeper_init(hosts, connected_cb, 4000, NULL, &ok, 0);

		for (i = 0; zh && i < 40 && !__atomic_load_n(&ok, __ATOMIC_ACQUIRE); i++)
			usleep(50 * 1000);
		if (zh)
			zookeeper_close(zh);
		if (ok)
			return 0;
		if (waitpid(f->pid, &st, WNOHANG) == f->pid) {
			fprintf(
			    stderr,
			    "zk_fixture: the ZooKeeper server exited (status %#x); log in %s/log\n",
			    st, f->dir);
			f->pid = 0;
			return -1;
		}
	}
	fprintf(stderr, "zk_fixture: ZooKeeper on port %d did not serve within %d s\n", f->port,
		timeout_s);
	return -1;
}

static int spawn(struct zk_fixture *f)
{
	char cfg[300], log[300];
	const char *java = java_path();
	pid_t parent = getpid();
	const char *argv[12] = {"java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
				"-Dzookeeper.admin.enableServer=false"};
	int n = 5;

	/* Without the I/O worker pool the selector thread reads a request and
	 * passes it to the processor chain itself (zk_fixture.h). */
	if (!f->worker_pool)
		argv[n++] = "-Dzookeeper.nio.numWorkerThreads=0";
	argv[n++] = "-cp";
	argv[n++] = ZK_JAR;
	argv[n++] = "org.apache.zookeeper.server.ZooKeeperServerMain";
	argv[n++] = cfg;
	argv[n] = NULL;

	snprintf(cfg, sizeof(cfg), "%s/zoo.cfg", f->dir);
	snprintf(log, sizeof(log), "%s/log", f->dir);
	f->pid = fork();
	if (f->pid < 0)
		return -1;
	if (f->pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		/* The server goes with the test, however it ends. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		setpgid(0, 0);
		execv(java, (char **)argv);
		_exit(127);
	}
	return wait_serving(f, 60);
}

int zk_fixture_start(struct zk_fixture *f)
{
	return zk_fixture_start_pool(f, false);
}

int zk_fixture_start_pool(struct zk_fixture *f, bool worker_pool)
{
	char cfg[300];
	const char *tmp = getenv("TMPDIR");
	FILE *fp;

	memset(f, 0, sizeof(*f));
	f->worker_pool = worker_pool;
	snprintf(f->dir, sizeof(f->dir), "%s/pc-zk-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(f->dir)) {
		perror("zk_fixture: mkdtemp");
		return -1;
	}
	f->port = free_port();
	snprintf(f->url, sizeof(f->url), "zk://127.0.0.1:%d", f->port);
	snprintf(cfg, sizeof(cfg), "%s/zoo.cfg", f->dir);
	fp = fopen(cfg, "w");
	if (!fp)
		return -1;
	fprintf(fp,
		"tickTime=100\ndataDir=%s/data\nclientPort=%d\nclientPortAddress=127.0.0.1\n"
		"minSessionTimeout=200\nmaxSessionTimeout=60000\nadmin.enableServer=false\n"
		"maxClientCnxns=0\npreAllocSize=1024\nsnapCount=100000\n",
		f->dir, f->port);
	fclose(fp);
	return spawn(f);
}

void zk_fixture_stop(struct zk_fixture *f)
{
	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
	}
	f->pid = 0;
}

int zk_fixture_restart(struct zk_fixture *f)
{
	zk_fixture_stop(f);
	return spawn(f);
}

void zk_fixture_destroy(struct zk_fixture *f)
{
	char cmd[400];

	zk_fixture_stop(f);
	if (f->dir[0] && !getenv("PC_ZK_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
		if (system(cmd))
			fprintf(stderr, "zk_fixture: could not remove %s\n", f->dir);
	}
	f->dir[0] = 0;
}

void zk_fixture_url(const struct zk_fixture *f, const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", f->url, name);
}

/* SPDX-License-Identifier: MIT */
/*
 * lockstep.c - see lockstep.h. Node processes come from node_fixture.c
 * (nf_spawn, nf_wait). No locks.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

#include "api/engine.h"
#include "cluster/lock_module.h"
#include "cluster/lockstep.h"
#include "cluster/node_fixture.h"
#include "harness.h"
#include "pagecache.h"

void ls_barrier(struct ls_node *n)
{
	char c = 0;

	if (write(n->out, &c, 1) != 1 || read(n->in, &c, 1) != 1) {
		fprintf(stderr, "node %c: the other node ended\n", ls_name(n));
		_exit(2);
	}
}

struct shared *ls_shared_map(size_t size)
{
	void *sh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	CHECK(sh != MAP_FAILED);
	memset(sh, 0, size);
	return sh;
}

void ls_shared_unmap(struct shared *sh, size_t size)
{
	munmap(sh, size);
}

void ls_open_engine(struct ls_node *n, unsigned session_ms)
{
	struct pc_options o = PC_OPTIONS_INIT;
	char name[16];
	int err;

	close(n->close1);
	close(n->close2);
	snprintf(name, sizeof(name), "node%c", ls_name(n));
	o.store_dir = n->dir;
	o.cluster = n->url;
	o.cluster_node = name;
	o.cluster_min_hold_ms = 1;
	o.cluster_session_ms = session_ms;
	if (n->hazard && n->sw)
		__atomic_store_n(n->sw, true, __ATOMIC_RELEASE);
	err = pc_engine_open(&o, &n->e);
	if (err)
		LS_FAIL(n, "engine: %s (%s)", strerror(-err), pc_cluster_error());
}

static int node_main(void *arg)
{
	struct ls_node *n = arg;
	int err, ret;

	ls_open_engine(n, 0);
	ls_barrier(n); /* both sessions open */
	ret = n->fn(n);
	ls_barrier(n); /* neither closes (writes back) before the other is done */
	err = pc_engine_close(n->e);
	if (err && !ret)
		LS_FAIL(n, "engine close: %s", strerror(-err));
	fflush(stdout);
	return ret;
}

void ls_run2(const struct ls_node *tmpl, int st[2])
{
	int ab[2], ba[2];
	struct ls_node nd[2] = {*tmpl, *tmpl};
	pid_t pid[2];

	CHECK(pipe(ab) == 0 && pipe(ba) == 0);
	nd[0].role = 0;
	nd[0].out = ab[1];
	nd[0].in = ba[0];
	nd[0].close1 = ab[0];
	nd[0].close2 = ba[1];
	nd[1].role = 1;
	nd[1].out = ba[1];
	nd[1].in = ab[0];
	nd[1].close1 = ba[0];
	nd[1].close2 = ab[1];
	for (int i = 0; i < 2; i++) {
		nd[i].e = NULL;
		pid[i] = nf_spawn(node_main, &nd[i]);
	}
	close(ab[0]);
	close(ab[1]);
	close(ba[0]);
	close(ba[1]);
	for (int i = 0; i < 2; i++)
		st[i] = nf_wait(pid[i]);
}

void ls_expect(const int st[2], int a, int b)
{
	CHECKF(st[0] == a && st[1] == b, "node A exit %d (want %d), node B exit %d (want %d)",
	       st[0], a, st[1], b);
}

void ls_fresh_store(char *store, size_t len)
{
	char logs[600], path[700];
	int fd;

	nf_fresh(store, len, logs, sizeof(logs));
	snprintf(path, sizeof(path), "%s/f", store);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	close(fd);
}

void ls_run_loss(const struct ls_node *tmpl, int (*node_fn)(void *arg),
		 const struct ls_loss_flags *fl, int st[2])
{
	struct timespec t = {0, 1000000};
	struct ls_node nd[2];
	unsigned polls = 0;
	pid_t pid[2];

	for (int i = 0; i < 2; i++) {
		nd[i] = *tmpl;
		nd[i].role = i;
		nd[i].out = nd[i].in = nd[i].close1 = nd[i].close2 = -1;
		pid[i] = nf_spawn(node_fn, &nd[i]);
	}
	while (!__atomic_load_n(fl->b_waiting, __ATOMIC_ACQUIRE) && ++polls < 60000)
		nanosleep(&t, NULL);
	CHECK(*fl->b_waiting);
	kill(pid[0], SIGSTOP);
	__atomic_store_n(fl->a_stopped, 1, __ATOMIC_RELEASE);
	/* the session timeout, the server's expiry and B's grant: bounded */
	for (polls = 0; !__atomic_load_n(fl->b_locked, __ATOMIC_ACQUIRE) && polls < 60000; polls++)
		nanosleep(&t, NULL);
	printf("# B granted %s A was stopped (%u polls)\n", *fl->b_locked ? "after" : "never after",
	       polls);
	kill(pid[0], SIGCONT);
	__atomic_store_n(fl->resumed, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		st[i] = nf_wait_for(pid[i], i ? "node B" : "node A", 120000);
}

void ls_loss_case(int (*node_fn)(void *arg), bool *sw, bool hazard, struct shared *sh,
		  const struct ls_loss_flags *fl, int st[2])
{
	char store[600];

	ls_fresh_store(store, sizeof(store));
	ls_run_loss(
	    &(struct ls_node){
		.dir = store, .url = nf_cluster_url(), .hazard = hazard, .sw = sw, .sh = sh},
	    node_fn, fl, st);
}

void ls_poll_until(const int *flag)
{
	struct timespec t = {0, 1000000};

	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE))
		nanosleep(&t, NULL);
}

uint64_t ls_generation(struct ls_node *n)
{
	return atomic_load(&n->e->cluster->generation);
}

bool ls_wait_rejoin(struct ls_node *n, uint64_t gen, unsigned max_ms)
{
	struct timespec t = {0, 1000000};
	unsigned polls = 0;

	while (ls_generation(n) == gen) {
		if (++polls > max_ms)
			return false;
		nanosleep(&t, NULL);
	}
	return true;
}

int ls_node_end(struct ls_node *n, int fd, int ret)
{
	int err;

	pc_close(n->e, fd);
	err = pc_engine_close(n->e);
	if (err)
		printf("# node %c: engine close: %s\n", ls_name(n), strerror(-err));
	fflush(stdout);
	return ret;
}

/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_faults.c - failures under the coherence checker's load
 * (coherence.h): a node SIGKILLed mid-run; a node SIGSTOPped past its
 * session timeout, then SIGCONTed; the ZooKeeper server killed and
 * restarted under load within the session timeout. The node at fault
 * fsyncs after every change, so all it may lose is the change in flight
 * (the checker treats that one as maybe-lost). After the run a fresh node
 * reads every file whole, and every read of every node is checked: nothing
 * fsync'd is lost, no read is stale - in particular the node that was cut
 * off wrote nothing back after it lost its glocks (its old data would then
 * overwrite newer data and the last reads would show it).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "cluster/coherence.h"
#include "cluster/node_fixture.h"
#include "harness.h"

#define NODES	   3
#define SESSION_MS 2000
/* the ZooKeeper restart (a JVM start, seconds) must fit in the session */
#define ZK_SESSION_MS 30000

/* How long the nodes may take to end after the fault (a few seconds to a
 * minute on a loaded machine): past it the case fails, naming the node and
 * printing its stacks, instead of waiting for meson's timeout. */
#define WAIT_MS 180000u

enum fault { F_KILL, F_STOP, F_ZK_RESTART };
static const char *const fault_name[] = {"sigkill_mid_write", "sigstop_past_session_timeout",
					 "zookeeper_restart_under_load"};

static int node_fn(void *arg)
{
	return coh_node_main(arg);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Polls (1 ms naps) until @cond holds or @ms pass: waiting for other
 * processes' progress or for a timeout to pass, not ordering threads. */
#define POLL_UNTIL(cond, ms)                                 \
	do {                                                 \
		uint64_t __end = now_ms() + (ms);            \
		while (!(cond) && now_ms() < __end) {        \
			struct timespec __ts = {0, 1000000}; \
			nanosleep(&__ts, NULL);              \
		}                                            \
	} while (0)

static void run_fault(enum fault what)
{
	const char *url = nf_cluster_url();
	char store[600], logs[600];
	struct coh_node_args a[NODES + 1];
	pid_t pid[NODES + 1];
	bool lost[NODES + 1] = {false};
	unsigned nops = (unsigned)test_scale(600, 4);
	unsigned *progress =
	    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t seed = test_seed();
	struct coh_result res;
	int victim = NODES - 1, st, st_all[NODES];
	uint64_t deadline;

	CHECK(progress != MAP_FAILED);
	nf_fresh(store, sizeof(store), logs, sizeof(logs));
	CHECK_EQ(coh_prepare(store), 0);
	for (int i = 0; i <= NODES; i++)
		a[i] = (struct coh_node_args){.dir = store,
					      .logdir = logs,
					      .cluster = url,
					      .node = i,
					      .seed = seed,
					      .nops = nops,
					      .session_ms =
						  what == F_ZK_RESTART ? ZK_SESSION_MS : SESSION_MS,
					      .dio = true,
					      .fsync_often = i == victim,
					      .final_read = i == NODES,
					      .progress = progress};
	for (int i = 0; i < NODES; i++)
		pid[i] = nf_spawn(node_fn, &a[i]);
	/* a third of the way through */
	POLL_UNTIL(__atomic_load_n(&progress[victim], __ATOMIC_ACQUIRE) >= nops / 3, 60000);
	CHECK(progress[victim] >= nops / 3);
	deadline = now_ms() + WAIT_MS;
	switch (what) {
	case F_KILL:
		kill(pid[victim], SIGKILL);
		lost[victim] = true;
		break;
	case F_STOP: {
		unsigned others = progress[0] + progress[1];
		uint64_t t0 = now_ms();
		kill(pid[victim], SIGSTOP);
		lost[victim] = true;
		/* past the session timeout, and the others moved on meanwhile */
		POLL_UNTIL(now_ms() >= t0 + 3 * SESSION_MS &&
			       progress[0] + progress[1] >= others + 20,
			   60000);
		printf("# node %d stopped for %" PRIu64 " ms; the others did %u steps\n", victim,
		       now_ms() - t0, progress[0] + progress[1] - others);
		kill(pid[victim], SIGCONT);
		break;
	}
	case F_ZK_RESTART:
		nf_zk_stop();
		nf_zk_start(); /* a JVM start: well within ZK_SESSION_MS */
		break;
	}
	/* Every node ends (a hung one is reported with its stacks and killed:
	 * nf_wait_for) before any is judged, so that none is left running. */
	for (int i = 0; i < NODES; i++) {
		uint64_t t = now_ms();
		char name[64];

		snprintf(name, sizeof(name), "node %d of %s", i, fault_name[what]);
		st_all[i] =
		    nf_wait_for(pid[i], name, t < deadline ? (unsigned)(deadline - t) : 1000);
	}
	for (int i = 0; i < NODES; i++) {
		st = st_all[i];
		CHECKF(st != NF_WAIT_HUNG,
		       "node %d did not end within %u s of the fault (stacks above; replay: "
		       "PC_SEED=%#" PRIx64 ")",
		       i, WAIT_MS / 1000, seed);
		if (i == victim && what == F_KILL)
			CHECK_EQ(st, 128 + SIGKILL);
		else if (i == victim && what == F_STOP)
			/* its lease is gone: EIO or SIGBUS, or it rejoined and
			 * finished */
			CHECKF(st == 0 || st == COH_EXIT_LOST, "node %d: exit %d", i, st);
		else
			CHECKF(st == 0, "node %d: exit %d (seed %#" PRIx64 ")", i, st, seed);
	}
	/* a fresh node reads everything */
	pid[NODES] = nf_spawn(node_fn, &a[NODES]);
	st = nf_wait_for(pid[NODES], "the final reader", WAIT_MS);
	CHECKF(st == 0, "the final reader: exit %d", st);
	CHECK_EQ(coh_check(logs, NODES + 1, lost, &res), 0);
	printf("# %lu reads (%lu bytes) checked against %lu writes: %lu stale\n", res.reads,
	       res.bytes_checked, res.writes, res.stale);
	CHECKF(res.stale == 0, "stale read (replay: PC_SEED=%#" PRIx64 "): %s", seed, res.first);
	munmap(progress, 4096);
}

TEST(sigkill_mid_write)
{
	run_fault(F_KILL);
}

TEST(sigstop_past_session_timeout)
{
	run_fault(F_STOP);
}

TEST(zookeeper_restart_under_load)
{
	run_fault(F_ZK_RESTART);
}

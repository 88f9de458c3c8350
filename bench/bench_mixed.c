/* SPDX-License-Identifier: MIT */
/*
 * bench_mixed.c - N reader threads doing random 4 KiB pc_pread of a cached
 * file while one writer thread overwrites random 4 KiB blocks, or appends
 * 4 KiB blocks, as fast as it can or paced at a fixed rate (the same write
 * load under every policy: a policy that starves the writer cannot look
 * good for it), or is absent; N = 1 .. number of CPUs; under the three
 * locking policies (two-state, xfs, none), each on its own engine and store
 * so that the policies can alternate within every repetition. A run lasts
 * a fixed time; the readers' aggregate throughput is reported. Between runs
 * (untimed) the overwritten file is fsynced and the appended one truncated
 * back to its size. Threads are pinned (reader i on CPU i, the writer on the
 * last CPU), so that with one reader the two really run at the same time.
 *
 * Goal: with the writer active, two-state reads >= 3x xfs reads.
 * Locks: none of its own; threads meet at a pthread barrier and stop on an
 * atomic flag.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define NPOL 3
static const char *pol_name[NPOL] = {"two-state", "xfs", "none"};
static const enum pc_lock_policy pols[NPOL] = {PC_POLICY_TWO_STATE, PC_POLICY_XFS,
					       PC_POLICY_NONE_UNSAFE};
enum wmode { W_NONE, W_OVERWRITE, W_APPEND, W_OVERWRITE_PACED, W_APPEND_PACED, NW };
static const char *wmode_name[NW] = {"no writer", "overwrite", "append", "paced overwrite",
				     "paced append"};
/* The paced writer's rate: the same write load under every policy. */
#define PACED_WRITES_PER_S 10000
#define PACE_BATCH	   10 /* writes per wake-up */

static struct pc_engine *engs[NPOL];
static int fds[NPOL], afds[NPOL];
static uint64_t fsize;

struct run {
	struct pc_engine *e;
	int fd, afd;
	enum wmode wm;
	pthread_barrier_t bar;
	atomic_bool stop;
	uint64_t reads, writes;
};

struct worker {
	struct run *run;
	uint64_t seed, ops;
	bool writer;
	int cpu; /* pinned there, or -1 */
	pthread_t th;
};

static int ncpu;

static void *work(void *arg)
{
	struct worker *w = arg;
	struct run *run = w->run;
	char *buf = xalloc(4096);
	uint64_t nslots = fsize / 4096, ops = 0;

	bool paced = w->writer && (run->wm == W_OVERWRITE_PACED || run->wm == W_APPEND_PACED);
	bool append = run->wm == W_APPEND || run->wm == W_APPEND_PACED;
	struct timespec next;

	if (w->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	fill_pattern(buf, 4096, w->seed);
	pthread_barrier_wait(&run->bar);
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!atomic_load_explicit(&run->stop, memory_order_relaxed)) {
		ssize_t n;

		if (paced && ops % PACE_BATCH == 0) {
			/* sleep to the next batch's start; a writer behind does not sleep */
			next.tv_nsec += 1000000000L / PACED_WRITES_PER_S * PACE_BATCH;
			if (next.tv_nsec >= 1000000000L) {
				next.tv_sec++;
				next.tv_nsec -= 1000000000L;
			}
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		}
		if (!w->writer)
			n = pc_pread(run->e, run->fd, buf, 4096,
				     (off_t)(rnd(&w->seed) % nslots * 4096));
		else if (!append)
			n = pc_pwrite(run->e, run->fd, buf, 4096,
				      (off_t)(rnd(&w->seed) % nslots * 4096));
		else
			n = pc_write(run->e, run->afd, buf, 4096);
		if (n != 4096)
			die("%s: %zd", w->writer ? "write" : "read", n);
		ops++;
	}
	w->ops = ops;
	free(buf);
	return NULL;
}

/* One timed run; returns reader ops per second (writer ops/s in *wps). */
static double one_run(int p, int nreaders, enum wmode wm, double secs, uint64_t *seed, double *wps)
{
	struct run run = {.e = engs[p], .fd = fds[p], .afd = afds[p], .wm = wm};
	int nw = nreaders + (wm != W_NONE);
	struct worker w[64];

	atomic_init(&run.stop, false);
	pthread_barrier_init(&run.bar, NULL, (unsigned)nw + 1);
	for (int i = 0; i < nw; i++) {
		/* readers on CPUs 0, 1, ...; the writer on the last CPU */
		w[i] = (struct worker){.run = &run,
				       .seed = rnd(seed) | 1,
				       .writer = i == nreaders,
				       .cpu = i == nreaders ? ncpu - 1 : i % ncpu};
		if (pthread_create(&w[i].th, NULL, work, &w[i]))
			die("pthread_create");
	}
	pthread_barrier_wait(&run.bar);
	uint64_t t0 = now_ns();
	struct timespec ts = {.tv_sec = (time_t)secs,
			      .tv_nsec = (long)((secs - (double)(time_t)secs) * 1e9)};

	nanosleep(&ts, NULL);
	atomic_store(&run.stop, true);
	uint64_t t = now_ns() - t0;
	uint64_t reads = 0, writes = 0;

	for (int i = 0; i < nw; i++) {
		pthread_join(w[i].th, NULL);
		if (w[i].writer)
			writes += w[i].ops;
		else
			reads += w[i].ops;
	}
	pthread_barrier_destroy(&run.bar);
	/* untimed: put the file back as it was */
	if (wm == W_APPEND || wm == W_APPEND_PACED)
		ck(pc_ftruncate(engs[p], fds[p], (off_t)fsize), "pc_ftruncate");
	if (wm != W_NONE)
		ck(pc_fsync(engs[p], fds[p]), "pc_fsync");
	*wps = (double)writes / ((double)t / 1e9);
	return (double)reads / ((double)t / 1e9);
}

int main(int argc, char **argv)
{
	bench_init(argc, argv, 9);
	fsize = bcfg.smoke ? 1u << 20 : 64u << 20;
	double secs = bcfg.smoke ? 0.01 : 0.12;
	long onln = sysconf(_SC_NPROCESSORS_ONLN);
	int maxr = onln < 1 ? 1 : onln > 32 ? 32 : (int)onln;
	uint64_t seed = bench_seed();

	ncpu = maxr;
	if (bcfg.smoke && maxr > 2)
		maxr = 2;
	emit_info("pinning", "reader i on CPU i mod %d, the writer on CPU %d", ncpu, ncpu - 1);
	emit_info("file_bytes", "%llu", (unsigned long long)fsize);
	emit_info("run_seconds", "%g", secs);
	emit_info("max_readers", "%d", maxr);
	emit_info("paced_writer", "%d writes/s in batches of %d", PACED_WRITES_PER_S, PACE_BATCH);
	for (int p = 0; p < NPOL; p++) {
		const char *d = bench_tmpdir(bcfg.store_base, "mixed");

		engs[p] = bench_engine(d, pols[p], 1u << 30);
		fds[p] = (int)ck(pc_open(engs[p], "f", O_RDWR | O_CREAT, 0644), "pc_open");
		afds[p] = (int)ck(pc_open(engs[p], "f", O_WRONLY | O_APPEND, 0), "pc_open append");
		engine_fill(engs[p], fds[p], fsize);
		ck(pc_fsync(engs[p], fds[p]), "pc_fsync");
	}
	for (int wm = 0; wm < NW; wm++) {
		for (int n = 1; n <= maxr; n++) {
			struct series rs[NPOL], ws[NPOL];
			char metric[64];
			double wps;

			memset(rs, 0, sizeof(rs));
			memset(ws, 0, sizeof(ws));
			snprintf(metric, sizeof(metric), "%s, %d reader%s", wmode_name[wm], n,
				 n > 1 ? "s" : "");
			for (int r = 0; r < bcfg.reps; r++) {
				for (int k = 0; k < NPOL; k++) {
					int p = (k + r) % NPOL;

					series_add(
					    &rs[p],
					    one_run(p, n, (enum wmode)wm, secs, &seed, &wps) / 1e6);
					series_add(&ws[p], wps / 1e6);
				}
			}
			for (int p = 0; p < NPOL; p++) {
				char m2[80];

				emit_row("mixed", metric, pol_name[p], "Mreads/s", &rs[p]);
				if (wm != W_NONE) {
					snprintf(m2, sizeof(m2), "%s (writer)", metric);
					emit_row("mixed-writer", m2, pol_name[p], "Mwrites/s",
						 &ws[p]);
				}
			}
			emit_cmp("mixed", metric, "Mreads/s", "two-state", &rs[0], "xfs", &rs[1],
				 wm != W_NONE ? ">=" : NULL, 3.0);
			emit_cmp("mixed", metric, "Mreads/s", "two-state", &rs[0], "none", &rs[2],
				 NULL, 0);
		}
	}
	for (int p = 0; p < NPOL; p++) {
		struct pc_stats st;

		pc_get_stats(engs[p], &st, sizeof(st)); /* lock statistics are per engine */
		emit_info(p == 0   ? "lock_contended"
			  : p == 1 ? "lock_contended_xfs"
				   : "lock_contended_none",
			  "%llu sleeping acquisitions, %.1f ms waited",
			  (unsigned long long)st.lock_contended, (double)st.lock_wait_ns / 1e6);
	}
	for (int p = 0; p < NPOL; p++) {
		pc_close(engs[p], afds[p]);
		pc_close(engs[p], fds[p]);
		ck(pc_engine_close(engs[p]), "pc_engine_close");
	}
	return 0;
}

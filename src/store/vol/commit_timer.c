/* SPDX-License-Identifier: MIT */
/*
 * commit_timer.c - the vol store's periodic commit (jbd2's j_commit_interval
 * and kjournald2's timer): a thread that, every commit interval, commits
 * whatever changed since the last commit (namespace, attributes, extents of
 * data written back) or, when only data was written in place, flushes it.
 * Without it a change reaches the disk only at an fsync, a full journal or
 * unmount, so a crash could lose any amount of work; with it a crash loses
 * at most what changed in the last interval (plus what the page cache had
 * not yet written back: its dirty-expire age, see mm/writeback.c).
 *
 * Each tick also drains the discard queue (discard.c: the punches of blocks
 * that commits freed), outside vs->lock.
 *
 * Locks: timer_lock (a pthread mutex, leaf) guards the thread's stop flag
 * and its sleep; the commit itself takes vs->lock and runs as an fsync's
 * commit does (vs_commit_sync: the lock dropped across its I/O, changes
 * waiting for the thaw). timer_lock is never held with vs->lock.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "store/vol/vol.h"
#include "store/vol/vstore.h"

TEST_SWITCH(vol_test_no_periodic_commit);

/* Something for a commit to do: changed records, blocks waiting for a
 * commit to free them, or data written since the last flush. */
static bool commit_wanted(struct vstore *vs)
{
	return vs->ndirty || vs->v->pending.nr || vol_dev_unflushed(&vs->v->dev);
}

static void commit_tick(struct vstore *vs)
{
	int r = 0;

	pthread_mutex_lock(&vs->lock);
	if (!vs->broken && commit_wanted(vs) && !vol_test_no_periodic_commit) {
		r = vs_commit_sync(vs);
		if (!r)
			__atomic_fetch_add(&vs->periodic_commits, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&vs->lock);
	/* the punches the commits since the last tick queued (discard.c):
	 * here rather than in the fsyncs whose commits freed the blocks */
	vol_discard_run(vs->v);
	__atomic_fetch_add(&vs->timer_ticks, 1, __ATOMIC_RELEASE);
	/* A failure before the journal write left everything as it was: the
	 * next tick (or fsync, which then reports it) tries again. Say so
	 * once per run of failures; one after it broke the store said why. */
	if (r && !vs->timer_failing)
		fprintf(stderr, "vol: periodic commit failed (%s); retrying every %u ms\n",
			strerror(-r), vs->commit_interval_ms);
	vs->timer_failing = r != 0;
}

static void *commit_timer_fn(void *arg)
{
	struct vstore *vs = arg;
	struct timespec ts;

	pthread_setname_np(pthread_self(), "pc-vol-commit");
	pthread_mutex_lock(&vs->timer_lock);
	while (!vs->timer_stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += vs->commit_interval_ms / 1000;
		ts.tv_nsec += (long)(vs->commit_interval_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!vs->timer_stop &&
		       pthread_cond_timedwait(&vs->timer_cond, &vs->timer_lock, &ts) != ETIMEDOUT)
			;
		if (vs->timer_stop)
			break;
		pthread_mutex_unlock(&vs->timer_lock);
		commit_tick(vs);
		pthread_mutex_lock(&vs->timer_lock);
	}
	pthread_mutex_unlock(&vs->timer_lock);
	return NULL;
}

int vol_store_start_commit_timer(struct store *s, unsigned interval_ms)
{
	struct vstore *vs = VS(s);
	pthread_condattr_t ca;
	int r;

	if (!interval_ms || vs->timer_running)
		return -EINVAL;
	vs->commit_interval_ms = interval_ms;
	vs->timer_stop = false;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&vs->timer_cond, &ca);
	pthread_condattr_destroy(&ca);
	r = pthread_create(&vs->timer, NULL, commit_timer_fn, vs);
	if (r) {
		pthread_cond_destroy(&vs->timer_cond);
		return -r;
	}
	vs->timer_running = true;
	return 0;
}

void vs_stop_commit_timer(struct vstore *vs)
{
	if (!vs->timer_running)
		return;
	pthread_mutex_lock(&vs->timer_lock);
	vs->timer_stop = true;
	pthread_cond_signal(&vs->timer_cond);
	pthread_mutex_unlock(&vs->timer_lock);
	pthread_join(vs->timer, NULL);
	pthread_cond_destroy(&vs->timer_cond);
	vs->timer_running = false;
}

void vol_store_commit_counts(struct store *s, uint64_t *commits, uint64_t *periodic,
			     uint64_t *checks)
{
	*commits = __atomic_load_n(&VS(s)->commits, __ATOMIC_RELAXED);
	*periodic = __atomic_load_n(&VS(s)->periodic_commits, __ATOMIC_RELAXED);
	*checks = __atomic_load_n(&VS(s)->timer_ticks, __ATOMIC_ACQUIRE);
}

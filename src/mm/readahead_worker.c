/* SPDX-License-Identifier: MIT */
/*
 * readahead_worker.c - background readahead I/O (the kernel's readahead
 * bios: submitted by the reader, completed later). readahead.c adds the
 * pages of a window to the cache locked and !uptodate under ADD, as it
 * always did; runs that nobody is waiting for yet are handed here instead
 * of being read by the faulting or reading thread. A worker thread of the
 * cache reads each run from the store (filemap_fill_pages: uptodate, or
 * PG_error with the page left !uptodate), then unlocks the pages
 * (unlock_page_io) and drops the references the submitter took. A reader
 * or fault that meets such a page waits on its page lock (filemap_fault's
 * lock_folio), re-checks uptodate and reads it itself if the background
 * read failed (filemap_update_page, fault_fill).
 *
 * Locks: the queue is under "ra_queue_lock" (leaf: nothing is taken inside
 * it, the work is done outside it). A worker holds no lock of the engine
 * while it reads: not the invalidate lock (the add was made under ADD by
 * the submitter, which dropped it; truncate/punch/DIO holding BLOCK find
 * the pages locked and wait for them, truncate_pages and
 * invalidate_inode_pages2_range lock_page each page), no i_rwsem, no mm
 * lock, and it never waits for a page lock. So whoever waits for the
 * worker (a page lock, mapping_ra_wait) cannot be holding anything it
 * needs: the worker only needs the store. The page locks it releases were
 * handed to the I/O by the submitter (page_lock_to_io: the validator no
 * longer counts them as the submitter's).
 *
 * A reader or fault about to wait for a page whose run is still queued
 * takes the run off the queue and reads it itself (readahead_steal): the
 * kernel's readahead I/O runs without a CPU, ours needs a worker to be
 * scheduled, and on a loaded machine waiting for that costs more than the
 * read. A run a worker has started is waited for.
 *
 * Lifetime: each queued run counts in its mapping's ra_inflight until the
 * worker is done with the mapping; mapping_destroy waits for it to reach 0
 * (mapping_ra_wait) before it tears the mapping down, so inode eviction
 * and engine close wait for readahead in flight. mm_cache_destroy stops the
 * workers after they drained the queue.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "kernel/mutex.h"
#include "kernel/task.h"
#include "kernel/wait.h"
#include "mm/fill.h"

#define RA_WORKERS     2 /* threads per cache: two reads in flight */
#define RA_THREAD_NAME "pc-readahead"

static struct lock_class_key ra_queue_lock_key = {.name = "ra_queue_lock"};

struct ra_work {
	struct list_head link;
	struct address_space *m;
	unsigned nr;
	struct page *pages[];
};

struct ra_worker {
	struct mm_cache *cache;
	pthread_t thread[RA_WORKERS];
	unsigned nthreads;
	struct mutex lock;	     /* "ra_queue_lock": the queue */
	struct list_head queue;	     /* struct ra_work, oldest first */
	unsigned long nqueued;	     /* atomic: works on the queue */
	struct wait_queue_head wait; /* idle workers */
	struct wait_queue_head done; /* mapping_ra_wait: a mapping's ra_inflight fell to 0 */
	bool stop;		     /* atomic */
};

TEST_SWITCH(readahead_test_no_add_lock);

static struct ra_work *ra_next(struct ra_worker *w)
{
	struct ra_work *work = NULL;

	mutex_lock(&w->lock);
	if (!list_empty(&w->queue)) {
		work = list_first_entry(&w->queue, struct ra_work, link);
		list_del_init(&work->link);
		__atomic_fetch_sub(&w->nqueued, 1, __ATOMIC_RELEASE);
	}
	mutex_unlock(&w->lock);
	return work;
}

/* No lock in a wait condition: the two atomics say it. */
static bool ra_idle_cond(struct ra_worker *w)
{
	return __atomic_load_n(&w->stop, __ATOMIC_ACQUIRE) ||
	       __atomic_load_n(&w->nqueued, __ATOMIC_ACQUIRE);
}

static void ra_do_work(struct ra_worker *w, struct ra_work *work)
{
	struct address_space *m = work->m;

	/* An error stays on the pages (PG_error, !uptodate): whoever needs
	 * one reads it again and reports the error if that fails too. */
	filemap_fill_pages(m, work->pages, work->nr);
	for (unsigned i = 0; i < work->nr; i++) {
		unlock_page_io(work->pages[i]);
		put_page(work->pages[i]);
	}
	/* The last touch of @m: mapping_destroy may run from here on. */
	if (__atomic_sub_fetch(&m->ra_inflight, 1, __ATOMIC_ACQ_REL) == 0)
		wake_up_all(&w->done);
	free(work);
}

static void *ra_thread_fn(void *arg)
{
	struct ra_worker *w = arg;

	pthread_setname_np(pthread_self(), RA_THREAD_NAME);
	current->lock_sink = &w->cache->lock_stats;
	mm_rcu_thread_enter();
	for (;;) {
		struct ra_work *work = ra_next(w);

		if (work) {
			ra_do_work(w, work);
			continue;
		}
		if (__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE))
			break; /* stopped and drained */
		wait_event(&w->wait, ra_idle_cond(w), "readahead_idle");
	}
	return NULL;
}

int readahead_worker_start(struct mm_cache *c)
{
	struct ra_worker *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->cache = c;
	mutex_init_class(&w->lock, &ra_queue_lock_key);
	INIT_LIST_HEAD(&w->queue);
	init_waitqueue_head(&w->wait);
	init_waitqueue_head(&w->done);
	for (unsigned i = 0; i < RA_WORKERS; i++) {
		int ret = pthread_create(&w->thread[i], NULL, ra_thread_fn, w);

		if (ret) {
			if (!i) {
				mutex_destroy(&w->lock);
				free(w);
				return -ret;
			}
			break; /* fewer workers: still correct */
		}
		pthread_setname_np(w->thread[i], RA_THREAD_NAME);
		w->nthreads++;
	}
	c->ra_worker = w;
	return 0;
}

void readahead_worker_stop(struct mm_cache *c)
{
	struct ra_worker *w = c->ra_worker;

	if (!w)
		return;
	__atomic_store_n(&w->stop, true, __ATOMIC_RELEASE);
	wake_up_all(&w->wait);
	for (unsigned i = 0; i < w->nthreads; i++)
		pthread_join(w->thread[i], NULL);
	c->ra_worker = NULL;
	mutex_destroy(&w->lock);
	free(w);
}

bool readahead_submit_async(struct address_space *m, struct page **pages, unsigned nr)
{
	struct ra_worker *w = m->cache->ra_worker;
	struct ra_work *work;

	/* A thread under the deterministic scheduler reads its windows itself:
	 * a waker outside the schedule would steer it. */
	if (!w || !nr || current->sched)
		return false;
	work = malloc(sizeof(*work) + nr * sizeof(work->pages[0]));
	if (!work)
		return false;
	work->m = m;
	work->nr = nr;
	for (unsigned i = 0; i < nr; i++)
		work->pages[i] = pages[i]; /* the caller's reference goes with it */
	__atomic_fetch_add(&m->ra_inflight, 1, __ATOMIC_ACQ_REL);
	mutex_lock(&w->lock);
	list_add_tail(&work->link, &w->queue);
	__atomic_fetch_add(&w->nqueued, 1, __ATOMIC_RELEASE);
	mutex_unlock(&w->lock);
	wake_up(&w->wait);
	return true;
}

void readahead_steal(struct address_space *m, pgoff_t index)
{
	struct ra_worker *w = m->cache->ra_worker;
	struct ra_work *work, *found = NULL;

	if (!w || !__atomic_load_n(&w->nqueued, __ATOMIC_ACQUIRE))
		return;
	mutex_lock(&w->lock);
	list_for_each_entry (work, &w->queue, link) {
		if (work->m == m && index >= work->pages[0]->index &&
		    index < work->pages[0]->index + work->nr) {
			found = work;
			list_del_init(&work->link);
			__atomic_fetch_sub(&w->nqueued, 1, __ATOMIC_RELEASE);
			break;
		}
	}
	mutex_unlock(&w->lock);
	if (found)
		ra_do_work(w, found);
}

void mapping_ra_wait(struct address_space *m)
{
	struct ra_worker *w = m->cache->ra_worker;

	if (!w)
		return;
	wait_event(&w->done, !__atomic_load_n(&m->ra_inflight, __ATOMIC_ACQUIRE),
		   "readahead_inflight");
}

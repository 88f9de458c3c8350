/* SPDX-License-Identifier: MIT */
/*
 * fuse_inval.c - cluster mode with the kernel page cache (`pagecache mount
 * --cluster`, not --direct-io): when another node takes a file's glock in a
 * conflicting state, the engine drops its own cached pages (go_inval) and
 * calls our hook with the store inode number; this thread then asks the
 * kernel to drop its pages of that inode (fuse_lowlevel_notify_inval_inode).
 *
 * Why a thread: the kernel's invalidation waits for the pages it finds
 * locked, and a page is locked while its FUSE read is in flight; that read
 * may be waiting in the engine for the very glock whose demote is calling
 * the hook. The hook only queues the inode number and returns. The kernel
 * cache of a mount is therefore dropped shortly after the engine's, not
 * before the glock leaves the node (docs/cluster.md: "kernel cache").
 *
 * The hook passes the number alone: every node of it is invalidated (in
 * cluster mode a dead file's node may share the number with the live
 * file's, fuse_nodes.h; invalidating both is harmless, missing the live
 * one is not).
 *
 * Locks: inval_lock (pthread, leaf) around the queue and the lost count;
 * nodes_lock inside nodes_find_ino, never both.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuse_nodes.h"
#include "fuse_server.h"

static pthread_mutex_t inval_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t inval_cond = PTHREAD_COND_INITIALIZER;
static uint64_t *queue;
static size_t nqueued, cap;
static bool stop, running;
static unsigned long lost;
static pthread_t thread;

/* The engine's hook (its demote worker): queue, never block on the kernel. */
static void inval_hook(void *arg, uint64_t ino)
{
	(void)arg;
	pthread_mutex_lock(&inval_lock);
	if (nqueued == cap) {
		size_t ncap = cap ? cap * 2 : 64;
		uint64_t *q = realloc(queue, ncap * sizeof(*q));
		if (q) {
			queue = q;
			cap = ncap;
		}
	}
	for (size_t i = 0; i < nqueued; i++)
		if (queue[i] == ino)
			goto out; /* already queued */
	if (nqueued < cap)
		queue[nqueued++] = ino;
	else
		lost++; /* no memory (counted; the stats line shows it) */
out:
	pthread_cond_signal(&inval_cond);
	pthread_mutex_unlock(&inval_lock);
}

/* Every node of the number: the hook names none by generation, and a
 * dead file's node of the number (fuse_nodes.h) losing its kernel pages
 * costs nothing, while the live file's keeping them would be stale data. */
static void notify_ino(uint64_t ino)
{
	uint64_t few[4], *ids = few;
	size_t n = nodes_find_ino(ino, few, 4), room = 4;

	if (n > room) { /* more than a few dead files of one number: rare */
		ids = malloc(n * sizeof(*ids));
		if (ids) {
			room = n;
			n = nodes_find_ino(ino, ids, room);
		} else {
			ids = few;
			pthread_mutex_lock(&inval_lock);
			lost++; /* the first four are still told */
			pthread_mutex_unlock(&inval_lock);
		}
	}
	for (size_t i = 0; i < n && i < room; i++)
		(void)fuse_lowlevel_notify_inval_inode(pcfs.se, ids[i], 0, 0);
	if (ids != few)
		free(ids);
}

static void *inval_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&inval_lock);
	for (;;) {
		while (!nqueued && !stop)
			pthread_cond_wait(&inval_cond, &inval_lock);
		if (stop)
			break;
		uint64_t ino = queue[--nqueued];
		pthread_mutex_unlock(&inval_lock);
		notify_ino(ino);
		pthread_mutex_lock(&inval_lock);
	}
	pthread_mutex_unlock(&inval_lock);
	return NULL;
}

int cluster_inval_start(void)
{
	int err = pthread_create(&thread, NULL, inval_thread, NULL);

	if (err)
		return -err;
	running = true;
	pc_set_invalidate_notify(pcfs.e, inval_hook, NULL);
	return 0;
}

void cluster_inval_stop(void)
{
	if (!running)
		return;
	pc_set_invalidate_notify(pcfs.e, NULL, NULL);
	pthread_mutex_lock(&inval_lock);
	stop = true;
	pthread_cond_signal(&inval_cond);
	pthread_mutex_unlock(&inval_lock);
	pthread_join(thread, NULL);
	running = false;
	free(queue);
	queue = NULL;
	nqueued = cap = 0;
	if (lost)
		fprintf(stderr, "pagecache: %lu kernel cache invalidations lost (no memory)\n",
			lost);
}

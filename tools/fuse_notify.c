/* SPDX-License-Identifier: MIT */
/*
 * fuse_notify.c - the invalidation queue of the FUSE front end.
 *
 * The kernel can hold page locks of an inode while it waits for our reply
 * to a request on that inode (a read filling those pages, a write-through
 * holding them). fuse_lowlevel_notify_inval_inode() makes the kernel take
 * the same page locks. Sending it from a request handler could therefore
 * wait for a request that waits for it. So a handler only appends to this
 * queue (leaf mutex "notify_lock", never held across anything else), and a
 * dedicated thread, which serves no request and holds no lock of ours while
 * it writes to /dev/fuse, sends the notifications. The thread may block in
 * the kernel until the request holding those pages is answered; the
 * answering thread never waits for the notifier, so no cycle can form.
 *
 * The queue is unbounded (a list): a handler must never wait for queue
 * space, since the notifier may be waiting for that handler's reply.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "fuse_server.h"

struct inval {
	uint64_t id;
	int64_t off, len;
	struct inval *next;
};

static pthread_mutex_t notify_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t notify_cond = PTHREAD_COND_INITIALIZER;
static struct inval *qfirst, **qlast = &qfirst;
static bool stopping, running;
static pthread_t thread;

static void *notifier(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&notify_lock);
	for (;;) {
		while (!qfirst && !stopping)
			pthread_cond_wait(&notify_cond, &notify_lock);
		if (!qfirst)
			break;
		struct inval *v = qfirst;
		qfirst = v->next;
		if (!qfirst)
			qlast = &qfirst;
		pthread_mutex_unlock(&notify_lock);
		/* -ENOENT: the kernel forgot the inode meanwhile; fine. The
		 * hazard switch (tests) skips the notification itself. */
		if (!pcfs.no_inval)
			fuse_lowlevel_notify_inval_inode(pcfs.se, v->id, v->off, v->len);
		__atomic_fetch_add(&pcfs.notifies_sent, 1, __ATOMIC_RELAXED);
		free(v);
		pthread_mutex_lock(&notify_lock);
	}
	pthread_mutex_unlock(&notify_lock);
	return NULL;
}

int notify_start(void)
{
	stopping = false;
	int err = pthread_create(&thread, NULL, notifier, NULL);
	if (!err)
		running = true;
	return -err;
}

/* Sends what is queued, then stops the thread. */
void notify_stop(void)
{
	if (!running)
		return;
	pthread_mutex_lock(&notify_lock);
	stopping = true;
	pthread_cond_signal(&notify_cond);
	pthread_mutex_unlock(&notify_lock);
	pthread_join(thread, NULL);
	running = false;
}

void notify_inval(uint64_t id, int64_t off, int64_t len)
{
	struct inval *v = malloc(sizeof(*v));

	if (!v) {
		__atomic_fetch_add(&pcfs.notifies_lost, 1, __ATOMIC_RELAXED);
		return;
	}
	*v = (struct inval){id, off, len, NULL};
	pthread_mutex_lock(&notify_lock);
	*qlast = v;
	qlast = &v->next;
	pthread_cond_signal(&notify_cond);
	pthread_mutex_unlock(&notify_lock);
}

/* SPDX-License-Identifier: MIT */
/*
 * thread_buf.c - per-thread heap buffers (see thread_buf.h).
 *
 * Locks: tb->lock (pthread leaf) around the key's creation.
 */
#include <stdlib.h>

#include "kernel/thread_buf.h"

static bool thread_buf_key(struct thread_buf *tb)
{
	if (__atomic_load_n(&tb->ready, __ATOMIC_ACQUIRE))
		return true;
	pthread_mutex_lock(&tb->lock);
	if (!tb->ready && !pthread_key_create(&tb->key, free))
		__atomic_store_n(&tb->ready, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&tb->lock);
	return __atomic_load_n(&tb->ready, __ATOMIC_ACQUIRE);
}

char *thread_buf(struct thread_buf *tb)
{
	char *b;

	if (!thread_buf_key(tb))
		return NULL;
	b = pthread_getspecific(tb->key);
	if (!b) {
		b = calloc(1, tb->size);
		if (b && pthread_setspecific(tb->key, b)) {
			free(b);
			b = NULL;
		}
	}
	return b;
}

char *thread_buf_peek(struct thread_buf *tb)
{
	if (!__atomic_load_n(&tb->ready, __ATOMIC_ACQUIRE))
		return NULL;
	return pthread_getspecific(tb->key);
}

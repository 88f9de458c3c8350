/* SPDX-License-Identifier: MIT */
/*
 * thread_buf.h - a per-thread buffer on the heap, for thread-local data too
 * large to sit in the library's TLS block (an error message of the calling
 * thread): allocated (zeroed) by the thread's first thread_buf, freed when
 * the thread exits (a pthread key's destructor). The library's TLS block
 * is kept small because it holds initial-exec data (compiler.h
 * __thread_hot): a dlopen of the library must find room for the whole
 * block in glibc's spare static TLS.
 *
 * Locks: the buffer's lock (pthread leaf) only while its key is created,
 * once per process.
 */
#ifndef PC_KERNEL_THREAD_BUF_H
#define PC_KERNEL_THREAD_BUF_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct thread_buf {
	pthread_mutex_t lock;
	bool ready; /* atomic: key created */
	pthread_key_t key;
	size_t size;
};

#define THREAD_BUF_INIT(bytes)                               \
	{                                                    \
		PTHREAD_MUTEX_INITIALIZER, false, 0, (bytes) \
	}

/* The calling thread's buffer of tb->size bytes, or NULL when memory (or a
 * pthread key) runs out. */
char *thread_buf(struct thread_buf *tb);
/* The calling thread's buffer if it has one yet, else NULL (no allocation). */
char *thread_buf_peek(struct thread_buf *tb);

#endif

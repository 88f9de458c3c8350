/* SPDX-License-Identifier: MIT */
/*
 * cancel.h - a cancel token: another thread ends the waits of a call made
 * under the token, as a signal ends an interruptible sleep (the FUSE
 * server's FUSE_INTERRUPT of a blocked flock). The calling thread enters
 * the token for the length of the call; a fire kills its task (task_kill),
 * which ends its killable waits with -EINTR; leaving the token clears the
 * kill again, so that nothing reaches the thread's later calls. Only the
 * waits written to be ended so are: the others ignore the kill (a token
 * fired there ends the next killable wait of the call, or nothing).
 *
 * Locks: the token's own mutex (a pthread leaf) around the task it names;
 * a fire takes the task's wait_lock (raw) under it.
 */
#ifndef PC_KERNEL_CANCEL_H
#define PC_KERNEL_CANCEL_H

#include <pthread.h>
#include <stdbool.h>

struct task;

struct cancel_token {
	pthread_mutex_t lock;
	struct task *task; /* the thread inside the call, or NULL */
	bool fired;	   /* once fired, for good */
};

void cancel_init(struct cancel_token *c);
void cancel_destroy(struct cancel_token *c);
/* The calling thread starts a call under @c: 0, or -EINTR if @c was fired
 * already (the call is not to be made). One thread at a time. */
int cancel_enter(struct cancel_token *c);
/* ... and ends it: a fire from now on does not reach the thread, and one
 * that came meanwhile is forgotten (the thread's kill flag cleared). */
void cancel_leave(struct cancel_token *c);
/* Any thread: the call under @c gives up its killable waits (-EINTR); a
 * call not yet entered is refused. */
void cancel_fire(struct cancel_token *c);

#endif

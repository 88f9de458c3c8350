/* SPDX-License-Identifier: MIT */
/*
 * cancel.c - cancel tokens (cancel.h): a fire is a task_kill of the thread
 * inside the call, scoped by cancel_enter/cancel_leave.
 *
 * Locks: the token's mutex (pthread, leaf but for the task's wait_lock,
 * which task_kill takes under it).
 */
#include <errno.h>

#include "kernel/cancel.h"
#include "kernel/task.h"

void cancel_init(struct cancel_token *c)
{
	pthread_mutex_init(&c->lock, NULL);
	c->task = NULL;
	c->fired = false;
}

void cancel_destroy(struct cancel_token *c)
{
	pthread_mutex_destroy(&c->lock);
}

int cancel_enter(struct cancel_token *c)
{
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	if (c->fired)
		ret = -EINTR;
	else
		c->task = current;
	pthread_mutex_unlock(&c->lock);
	return ret;
}

void cancel_leave(struct cancel_token *c)
{
	struct task *t = current;

	pthread_mutex_lock(&c->lock);
	c->task = NULL;
	pthread_mutex_unlock(&c->lock);
	/* No fire reaches @t now: the kill (if one came) was this call's. */
	__atomic_store_n(&t->killed, 0, __ATOMIC_SEQ_CST);
}

void cancel_fire(struct cancel_token *c)
{
	pthread_mutex_lock(&c->lock);
	c->fired = true;
	if (c->task)
		task_kill(c->task);
	pthread_mutex_unlock(&c->lock);
}

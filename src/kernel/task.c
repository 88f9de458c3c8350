/* SPDX-License-Identifier: MIT */
/*
 * task.c - lifetime of struct task: created on a thread's first entry into the
 * library, freed by a pthread key destructor at thread exit. Takes
 * task_list_lock, a leaf pthread mutex that nothing else nests inside.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernel/task.h"
#include "kernel/wait.h"
#include "kernel/lockdep.h"

__thread_hot struct task *__current_task;

static pthread_mutex_t task_list_lock = PTHREAD_MUTEX_INITIALIZER;
static LIST_HEAD_DECL(task_list);
static pthread_key_t task_key;
static pthread_once_t task_key_once = PTHREAD_ONCE_INIT;

static void task_exit(void *p)
{
	struct task *t = p;

	pthread_mutex_lock(&task_list_lock);
	list_del_init(&t->all);
	pthread_mutex_unlock(&task_list_lock);
	__current_task = NULL;
	free(t);
}

static void task_key_init(void)
{
	if (pthread_key_create(&task_key, task_exit))
		abort();
}

bool task_check_sigmask(struct task *t)
{
	sigset_t set;
	bool blocked = false;

	if (!pthread_sigmask(SIG_BLOCK, NULL, &set))
		blocked = sigismember(&set, SIGSEGV) == 1 || sigismember(&set, SIGBUS) == 1;
	t->fault_sigs_blocked = blocked;
	return blocked;
}

struct task *task_create_current(void)
{
	struct task *t = calloc(1, sizeof(*t));

	if (!t) {
		fputs("pagecache: out of memory creating task state\n", stderr);
		abort();
	}
	t->tid = (int)syscall(SYS_gettid);
	if (pthread_getname_np(pthread_self(), t->name, sizeof(t->name)))
		snprintf(t->name, sizeof(t->name), "tid%d", t->tid);
	INIT_LIST_HEAD(&t->all);
	task_check_sigmask(t);
	pthread_once(&task_key_once, task_key_init);
	pthread_setspecific(task_key, t);
	pthread_mutex_lock(&task_list_lock);
	list_add_tail(&t->all, &task_list);
	pthread_mutex_unlock(&task_list_lock);
	__current_task = t;
	return t;
}

void task_kill(struct task *t)
{
	__atomic_store_n(&t->killed, 1, __ATOMIC_SEQ_CST);
	wake_up_task_wait(t);
}

void task_set_watched(bool on)
{
	WRITE_ONCE(current->watched, on);
}

void task_reset(struct task *t)
{
	t->nheld = 0;
	t->pagefault_disabled = 0;
	t->fdm = NULL;
	t->fdm_dropped = false;
	WRITE_ONCE(t->wait_what, NULL);
	WRITE_ONCE(t->wait_obj, NULL);
	__atomic_store_n(&t->cur_wait, NULL, __ATOMIC_RELEASE);
	__atomic_store_n(&t->killed, 0, __ATOMIC_RELAXED);
}

void task_for_each(void (*fn)(struct task *t, void *arg), void *arg)
{
	struct task *t;

	pthread_mutex_lock(&task_list_lock);
	list_for_each_entry(t, &task_list, all)
		fn(t, arg);
	pthread_mutex_unlock(&task_list_lock);
}

void task_print_state(int fd, struct task *t)
{
	const char *what = READ_ONCE(t->wait_what);

	dprintf(fd, "  thread %d (%s): %s", t->tid, t->name, what ? "waiting for " : "running");
	if (what)
		dprintf(fd, "%s at %p", what, READ_ONCE(t->wait_obj));
	dprintf(fd, "\n");
	lockdep_print_held(fd, t);
}

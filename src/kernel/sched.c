/* SPDX-License-Identifier: MIT */
/*
 * sched.c - scheduling points and the deterministic scheduler.
 *
 * A run: the main thread wakes the pool's workers, waits until each has
 * registered (parked, waiting for its turn), then hands the turn to the thread
 * the strategy picks. From then on exactly one worker runs; at each scheduling
 * point it picks the next thread and hands over (or keeps) the turn. A thread
 * that would sleep parks with a pointer to its wake word; it is runnable again
 * once a waker has set that word. No runnable thread and some not finished is
 * a deadlock: report, then every worker leaves its function by siglongjmp.
 *
 * Locks: none. The turn hand-off (a futex word per worker, release/acquire)
 * orders everything the previous runner wrote before the next one reads it.
 * The one field a thread outside the run writes, the pool's count of
 * wake-ups from outside (__sched_note_wake, called by wait.c under a wait
 * queue's lock), is an atomic counter.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel/futex.h"
#include "kernel/lockdep.h"
#include "kernel/rng.h"
#include "kernel/sched.h"
#include "kernel/task.h"
#include "kernel/tsan.h"
#include "kernel/wait.h"

#if PC_SCHED_HOOKS
int sched_hooks_active;
#endif
static sched_hook_fn free_hook;

enum { ST_RUNNABLE, ST_BLOCKED, ST_DONE };

#define PCT_MAX_DEPTH 16

struct sched_thread {
	struct sched_pool *pool;
	unsigned idx;
	pthread_t th;
	uint32_t turn; /* futex: 1 = this thread may run */
	int state;
	uint32_t *block_word;
	uint32_t *kill_word;
	bool timed;
	bool timed_out;
	uint64_t prio;
	struct task *task;
	sigjmp_buf env;
};

struct sched_pool {
	unsigned n;
	struct sched_thread *th;
	/* main <-> workers, between runs: a pthread mutex and condvar */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned gen;	      /* workers wait for a new run */
	unsigned nregistered; /* main waits for all to park */
	unsigned ndone;	      /* main waits for all to finish */
	bool exiting;

	/* the current run */
	struct sched_config cfg;
	sched_fn fn;
	void *arg;
	struct rng rng;
	uint64_t steps;
	uint64_t trace_hash;
	enum sched_status status;
	bool aborting;
	uint64_t outside_wakes; /* atomic: any thread may count */
	/* the point the running thread is at (for the trace) */
	uint8_t cur_ev, cur_from;
	const char *cur_what;
	const void *cur_obj;
	uint64_t change_point[PCT_MAX_DEPTH];
	unsigned nr_change_points;
};

static const char *const ev_name[] = {"acquire", "release", "wait", "wake", "race"};

static bool step_same(const struct sched_trace_step *a, const struct sched_trace_step *b)
{
	/* not the objects' addresses: two engines allocate them differently */
	return a->from == b->from && a->to == b->to && a->ev == b->ev &&
	       a->runnable == b->runnable && a->blocked == b->blocked &&
	       a->timed_out == b->timed_out &&
	       (a->what == b->what || (a->what && b->what && !strcmp(a->what, b->what)));
}

static void step_print(int fd, char tag, uint64_t i, const struct sched_trace_step *s)
{
	char from[8];

	snprintf(from, sizeof(from), "%d", s->from == SCHED_TRACE_NONE ? -1 : s->from);
	dprintf(
	    fd,
	    "#  %c step %llu: thread %s at %s%s%s (%p): runnable 0x%llx blocked 0x%llx -> %d%s\n",
	    tag, (unsigned long long)i, from, s->ev == SCHED_TRACE_EXIT ? "" : ev_name[s->ev % 5],
	    s->ev == SCHED_TRACE_EXIT ? "" : " ", s->what ? s->what : "?", s->obj,
	    (unsigned long long)s->runnable, (unsigned long long)s->blocked,
	    s->to == SCHED_TRACE_NONE ? -1 : s->to, s->timed_out ? " (timed wait expired)" : "");
}

int64_t sched_trace_diff(const struct sched_trace *a, const struct sched_trace *b, int fd)
{
	uint64_t na = a->n < a->cap ? a->n : a->cap, nb = b->n < b->cap ? b->n : b->cap;
	uint64_t n = na < nb ? na : nb, i;

	for (i = 0; i < n; i++)
		if (!step_same(&a->step[i], &b->step[i]))
			break;
	if (i == n && a->n == b->n)
		return -1;
	if (fd < 0)
		return (int64_t)i;
	dprintf(fd, "# the runs' decisions differ at step %llu (of %llu and %llu):\n",
		(unsigned long long)i, (unsigned long long)a->n, (unsigned long long)b->n);
	for (uint64_t k = i > 4 ? i - 4 : 0; k <= i; k++) {
		if (k < na)
			step_print(fd, 'a', k, &a->step[k]);
		if (k < nb && (k == i || k >= na))
			step_print(fd, 'b', k, &b->step[k]);
	}
	return (int64_t)i;
}

uint64_t seed_from_env(uint64_t dflt)
{
	const char *s = getenv("PC_SEED");
	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

void sched_set_hook(sched_hook_fn fn)
{
	sched_hook_fn old = __atomic_exchange_n(&free_hook, fn, __ATOMIC_ACQ_REL);

	/* counted on a change only: a hook that removes itself, followed by
	 * its test's own sched_set_hook(NULL), must not leave the count one
	 * short (the next test's hook would then never be called) */
#if PC_SCHED_HOOKS
	if (!old != !fn)
		__atomic_fetch_add(&sched_hooks_active, fn ? 1 : -1, __ATOMIC_RELAXED);
#else
	(void)old;
#endif
}

static bool can_run(struct sched_thread *t)
{
	if (t->state == ST_RUNNABLE)
		return true;
	if (t->state != ST_BLOCKED)
		return false;
	if (__atomic_load_n(t->block_word, __ATOMIC_ACQUIRE))
		return true;
	return t->kill_word && __atomic_load_n(t->kill_word, __ATOMIC_ACQUIRE);
}

/* Records the decision being taken (sched_config.trace). */
static void trace_step(struct sched_pool *p, uint64_t runnable, bool timed_out)
{
	struct sched_trace *tr = p->cfg.trace;

	if (!tr)
		return;
	if (tr->n < tr->cap) {
		struct sched_trace_step *s = &tr->step[tr->n];
		s->from = p->cur_from;
		s->ev = p->cur_ev;
		s->what = p->cur_what;
		s->obj = p->cur_obj;
		s->runnable = runnable;
		s->blocked = 0;
		for (unsigned i = 0; i < p->n; i++)
			if (p->th[i].state == ST_BLOCKED)
				s->blocked |= 1ull << i;
		s->to = SCHED_TRACE_NONE;
		s->timed_out = timed_out;
	}
	tr->n++;
}

static void trace_pick(struct sched_pool *p, struct sched_thread *next)
{
	struct sched_trace *tr = p->cfg.trace;

	if (tr && tr->n && tr->n <= tr->cap)
		tr->step[tr->n - 1].to = (uint8_t)next->idx;
}

/* The running thread (or main, for the first pick) chooses who runs next. */
static struct sched_thread *pick_next(struct sched_pool *p, struct sched_thread *me)
{
	struct sched_thread *cand[64];
	uint64_t runnable = 0;
	unsigned nc = 0;

	for (unsigned i = 0; i < p->n; i++)
		if (can_run(&p->th[i])) {
			cand[nc++] = &p->th[i];
			runnable |= 1ull << i;
		}
	trace_step(p, runnable, !nc);
	if (!nc) {
		/* nothing runnable: a timed sleeper's deadline "expires" */
		for (unsigned i = 0; i < p->n; i++)
			if (p->th[i].state == ST_BLOCKED && p->th[i].timed)
				cand[nc++] = &p->th[i];
		if (!nc)
			return NULL;
		struct sched_thread *t = cand[rng_below(&p->rng, nc)];
		t->timed_out = true;
		trace_pick(p, t);
		return t;
	}

	if (p->cfg.strategy == SCHED_PCT) {
		/* lower the running thread's priority at a change point */
		for (unsigned k = 0; k < p->nr_change_points; k++)
			if (p->change_point[k] == p->steps && me)
				me->prio = k; /* below every initial priority */
		struct sched_thread *best = cand[0];
		for (unsigned i = 1; i < nc; i++)
			if (cand[i]->prio > best->prio)
				best = cand[i];
		trace_pick(p, best);
		return best;
	}
	struct sched_thread *t = cand[rng_below(&p->rng, nc)];
	trace_pick(p, t);
	return t;
}

static __attribute__((noreturn)) void leave_run(struct sched_thread *me);

static void report(struct sched_pool *p, const char *what)
{
	if (p->cfg.quiet)
		return;
	fprintf(stderr,
		"\n=== deterministic scheduler: %s at step %llu (seed 0x%llx, %s) ===\n"
		"replay: PC_SEED=0x%llx\n",
		what, (unsigned long long)p->steps, (unsigned long long)p->cfg.seed,
		p->cfg.strategy == SCHED_PCT ? "PCT" : "random walk",
		(unsigned long long)p->cfg.seed);
	fflush(stderr);
	for (unsigned i = 0; i < p->n; i++) {
		struct sched_thread *t = &p->th[i];
		dprintf(2, " worker %u: %s\n", i,
			t->state == ST_DONE	 ? "finished"
			: t->state == ST_BLOCKED ? "blocked"
						 : "runnable");
		if (t->state != ST_DONE)
			task_print_state(2, t->task);
	}
}

static void wait_turn(struct sched_thread *t)
{
	while (!__atomic_load_n(&t->turn, __ATOMIC_ACQUIRE))
		futex_wait(&t->turn, 0, NULL);
	__atomic_store_n(&t->turn, 0, __ATOMIC_RELAXED);
}

static void give_turn(struct sched_thread *t)
{
	__atomic_store_n(&t->turn, 1, __ATOMIC_RELEASE);
	futex_wake(&t->turn, 1);
}

/* Every other unfinished worker leaves its function; so does the caller. */
static __attribute__((noreturn)) void abandon_run(struct sched_pool *p, struct sched_thread *me,
						  enum sched_status status, const char *what)
{
	p->status = status;
	report(p, what);
	__atomic_store_n(&p->aborting, true, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < p->n; i++)
		if (&p->th[i] != me && p->th[i].state != ST_DONE)
			give_turn(&p->th[i]);
	leave_run(me);
}

/* Leave a run being abandoned: unlink our wait, and let TSan know that the
 * lock operation we were in ended and the locks we held are gone. */
static __attribute__((noreturn)) void leave_run(struct sched_thread *me)
{
	wait_abandon_current();
	tsan_abandon_lock();
	lockdep_abandon_held();
	(void)__atomic_load_n(&me->pool->aborting, __ATOMIC_ACQUIRE);
	siglongjmp(me->env, 1);
}

static void after_turn(struct sched_thread *me)
{
	if (__atomic_load_n(&me->pool->aborting, __ATOMIC_RELAXED))
		leave_run(me);
}

static void sched_switch(struct sched_thread *me, enum sched_event ev, const void *obj,
			 const char *what)
{
	struct sched_pool *p = me->pool;

	p->cur_ev = (uint8_t)ev;
	p->cur_from = (uint8_t)me->idx;
	p->cur_what = what;
	p->cur_obj = obj;
	if (++p->steps > p->cfg.max_steps)
		abandon_run(p, me, SCHED_LIVELOCK, "livelock (step bound reached)");
	struct sched_thread *next = pick_next(p, me);
	if (!next)
		abandon_run(p, me, SCHED_DEADLOCK, "deadlock: every thread is blocked");
	p->trace_hash = (p->trace_hash ^ (next->idx + 1)) * 0x100000001B3ull;
	if (next->state == ST_BLOCKED)
		next->state = ST_RUNNABLE;
	if (next == me)
		return;
	give_turn(next);
	wait_turn(me);
	after_turn(me);
}

#if PC_SCHED_HOOKS
void __sched_point(enum sched_event ev, const void *obj, const char *what)
{
	struct task *t = current;

	if (t->sched) {
		sched_switch(t->sched, ev, obj, what);
		return;
	}
	sched_hook_fn fn = __atomic_load_n(&free_hook, __ATOMIC_ACQUIRE);
	if (fn)
		fn(ev, obj, what);
}

void __sched_note_wake(struct task *waiter)
{
	struct sched_thread *w = waiter ? waiter->sched : NULL;

	/* the running scheduled thread's wakes are part of the schedule */
	if (w && !current->sched)
		__atomic_fetch_add(&w->pool->outside_wakes, 1, __ATOMIC_RELAXED);
}
#endif

int sched_block(uint32_t *word, uint32_t *kill, bool timed)
{
	struct sched_thread *me = current->sched;

	me->block_word = word;
	me->kill_word = kill;
	me->timed = timed;
	me->timed_out = false;
	me->state = ST_BLOCKED;
	bool diverted = tsan_park_begin();
	sched_switch(me, SP_WAIT, current->wait_obj, current->wait_what);
	tsan_park_end(diverted);
	me->state = ST_RUNNABLE;
	if (me->timed_out && !__atomic_load_n(word, __ATOMIC_ACQUIRE))
		return -ETIMEDOUT;
	if (kill && __atomic_load_n(kill, __ATOMIC_ACQUIRE))
		return -EINTR;
	return 0;
}

void sched_fail_current(const char *why)
{
	struct task *t = __current_task;

	if (t && t->sched)
		abandon_run(t->sched->pool, t->sched, SCHED_FAILED, why);
}

static void *worker_main(void *arg)
{
	struct sched_thread *t = arg;
	struct sched_pool *p = t->pool;
	volatile unsigned gen = 0; /* live across sigsetjmp */
	char name[16];

	snprintf(name, sizeof(name), "sched-w%u", t->idx);
	pthread_setname_np(pthread_self(), name);
	t->task = current;
	snprintf(t->task->name, sizeof(t->task->name), "%s", name);
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->gen == gen)
			pthread_cond_wait(&p->cv, &p->mu);
		gen = p->gen;
		if (p->exiting) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		t->state = ST_RUNNABLE;
		t->task->sched = t;
		p->nregistered++;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		wait_turn(t);
		if (sigsetjmp(t->env, 1) == 0) {
			after_turn(t);
			p->fn(p->arg, t->idx);
			t->task->sched = NULL;
			t->state = ST_DONE;
			/* hand the turn on; nobody left runnable with some unfinished = deadlock */
			bool unfinished = false;
			for (unsigned i = 0; i < p->n; i++)
				unfinished |= p->th[i].state != ST_DONE;
			if (unfinished) {
				p->cur_ev = SCHED_TRACE_EXIT;
				p->cur_what = "exit";
				p->cur_obj = NULL;
				p->cur_from = (uint8_t)t->idx;
				struct sched_thread *next = pick_next(p, NULL);
				if (!next) {
					t->task->sched = t;
					abandon_run(p, t, SCHED_DEADLOCK,
						    "deadlock: every remaining thread is blocked");
				}
				p->trace_hash =
				    (p->trace_hash ^ (next->idx + 1)) * 0x100000001B3ull;
				next->state = ST_RUNNABLE;
				give_turn(next);
			}
		} else {
			task_reset(t->task);
			t->task->sched = NULL;
			t->state = ST_DONE;
		}
		pthread_mutex_lock(&p->mu);
		p->ndone++;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
}

struct sched_pool *sched_pool_create(unsigned nthreads)
{
	struct sched_pool *p = calloc(1, sizeof(*p));

	if (!p || nthreads == 0 || nthreads > 64)
		abort();
	p->n = nthreads;
	p->th = calloc(nthreads, sizeof(*p->th));
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (unsigned i = 0; i < nthreads; i++) {
		p->th[i].pool = p;
		p->th[i].idx = i;
		p->th[i].state = ST_DONE;
		if (pthread_create(&p->th[i].th, NULL, worker_main, &p->th[i]))
			abort();
	}
	return p;
}

void sched_pool_destroy(struct sched_pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->exiting = true;
	p->gen++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->n; i++)
		pthread_join(p->th[i].th, NULL);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->th);
	free(p);
}

static void wait_count(struct sched_pool *p, unsigned *count, unsigned target)
{
	pthread_mutex_lock(&p->mu);
	while (*count < target)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

struct sched_result sched_run(struct sched_pool *p, const struct sched_config *cfg, sched_fn fn,
			      void *arg)
{
	struct sched_result res;

	p->cfg = *cfg;
	if (!p->cfg.max_steps)
		p->cfg.max_steps = 1000000;
	if (!p->cfg.pct_depth)
		p->cfg.pct_depth = 3;
	if (p->cfg.pct_depth > PCT_MAX_DEPTH)
		p->cfg.pct_depth = PCT_MAX_DEPTH;
	if (!p->cfg.pct_steps)
		p->cfg.pct_steps = 200;
	p->fn = fn;
	p->arg = arg;
	rng_seed(&p->rng, cfg->seed);
	p->steps = 0;
	p->trace_hash = 0xcbf29ce484222325ull;
	p->status = SCHED_OK;
	p->aborting = false;
	__atomic_store_n(&p->outside_wakes, 0, __ATOMIC_RELAXED);
	p->nr_change_points = p->cfg.pct_depth - 1;
	for (unsigned k = 0; k < p->nr_change_points; k++)
		p->change_point[k] = 1 + rng_below(&p->rng, p->cfg.pct_steps);
	for (unsigned i = 0; i < p->n; i++) {
		/* initial priorities: a random order, all above the change-point values */
		p->th[i].prio = PCT_MAX_DEPTH + 1 + rng_next(&p->rng) % 1000000;
		p->th[i].turn = 0;
		p->th[i].block_word = NULL;
		p->th[i].kill_word = NULL;
	}

#if PC_SCHED_HOOKS
	__atomic_fetch_add(&sched_hooks_active, 1, __ATOMIC_RELAXED);
#endif
	pthread_mutex_lock(&p->mu);
	p->nregistered = 0;
	p->ndone = 0;
	p->gen++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	wait_count(p, &p->nregistered, p->n);

	p->cur_ev = SCHED_TRACE_EXIT;
	p->cur_from = SCHED_TRACE_NONE;
	p->cur_what = "start";
	p->cur_obj = NULL;
	if (p->cfg.trace)
		p->cfg.trace->n = 0;
	struct sched_thread *first = pick_next(p, NULL);
	p->trace_hash = (p->trace_hash ^ (first->idx + 1)) * 0x100000001B3ull;
	give_turn(first);
	wait_count(p, &p->ndone, p->n);
#if PC_SCHED_HOOKS
	__atomic_fetch_sub(&sched_hooks_active, 1, __ATOMIC_RELAXED);
#endif

	res.status = p->status;
	res.steps = p->steps;
	res.trace_hash = p->trace_hash;
	res.outside_wakes = __atomic_load_n(&p->outside_wakes, __ATOMIC_RELAXED);
	return res;
}

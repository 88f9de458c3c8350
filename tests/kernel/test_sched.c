/* SPDX-License-Identifier: MIT */
/*
 * Deterministic scheduler tests: a toy ABBA program deadlocks under some seed
 * within 1,000 schedules, the report names the seed, and the same seed
 * replays the same schedule (same steps, same trace hash, same outcome); the
 * address-ordered variant survives 100,000 schedules; the decision trace
 * (sched_config.trace) of two runs of a seed is the same, and an input the
 * seed does not decide shows as the step where they part. Also: PCT finds the
 * deadlock, virtual timeouts, and the watchdog catching a real hang of
 * free-running threads (in a child process).
 */
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "kernel/futex.h"
#include "kernel/lockdep.h"
#include "kernel/mutex.h"
#include "kernel/rwsem.h"
#include "kernel/sched.h"
#include "kernel/two_state.h"
#include "kernel/wait.h"
#include "kernel/watchdog.h"

#if PC_SCHED_HOOKS /* the deterministic scheduler needs scheduling points */

static struct lock_class_key ka = { .name = "toy_A" }, kb = { .name = "toy_B" };
static struct mutex A, B;
static bool ordered;
static long shared_counter;

static void quiet_report(const char *kind, const char *text)
{
	(void)kind;
	(void)text; /* the validator would flag ABBA at once; here the scheduler must find it */
}

static void abba(void *arg, unsigned idx)
{
	struct mutex *first = idx == 0 || ordered ? &A : &B;
	struct mutex *second = first == &A ? &B : &A;

	mutex_lock(first);
	shared_counter++;
	mutex_lock(second);
	shared_counter++;
	mutex_unlock(second);
	mutex_unlock(first);
}

static void fresh_locks(void)
{
	mutex_init_class(&A, &ka);
	mutex_init_class(&B, &kb);
	shared_counter = 0;
}

static struct sched_result run_abba(struct sched_pool *pool, uint64_t seed,
				    enum sched_strategy strat, bool quiet)
{
	struct sched_config cfg = { .seed = seed, .strategy = strat, .quiet = quiet };
	fresh_locks();
	return sched_run(pool, &cfg, abba, NULL);
}

TEST(abba_deadlock_found_and_replayed_from_seed)
{
	struct sched_pool *pool = sched_pool_create(2);
	lockdep_report_fn old = lockdep_set_report_handler(quiet_report);
	uint64_t base = test_seed();
	uint64_t found = 0;
	struct sched_result r = { 0 };

	ordered = false;
	for (unsigned i = 0; i < 1000; i++) {
		r = run_abba(pool, base + i, SCHED_RANDOM_WALK, true);
		if (r.status == SCHED_DEADLOCK) {
			found = base + i;
			break;
		}
	}
	CHECKF(found, "no deadlock in 1000 schedules");
	printf("# deadlock under seed 0x%llx after %llu steps\n", (unsigned long long)found,
	       (unsigned long long)r.steps);

	/* the report (with the seed) and an exact replay */
	struct sched_result again = run_abba(pool, found, SCHED_RANDOM_WALK, false);
	CHECK_EQ(again.status, SCHED_DEADLOCK);
	CHECK_EQ(again.steps, r.steps);
	CHECK_EQ(again.trace_hash, r.trace_hash);
	for (int k = 0; k < 5; k++) {
		struct sched_result x = run_abba(pool, found, SCHED_RANDOM_WALK, true);
		CHECK_EQ(x.trace_hash, r.trace_hash);
	}

	/* PCT finds it too */
	found = 0;
	for (unsigned i = 0; i < 1000 && !found; i++)
		if (run_abba(pool, base + i, SCHED_PCT, true).status == SCHED_DEADLOCK)
			found = base + i;
	CHECKF(found, "PCT found no deadlock in 1000 schedules");

	lockdep_set_report_handler(old);
	lockdep_reset_graph();
	sched_pool_destroy(pool);
}

TEST(address_ordered_survives_100k_schedules)
{
	struct sched_pool *pool = sched_pool_create(2);
	uint64_t base = test_seed();
	unsigned long n = test_scale(100000, 20);

	ordered = true;
	for (unsigned long i = 0; i < n; i++) {
		struct sched_result r =
			run_abba(pool, base + i, i & 1 ? SCHED_PCT : SCHED_RANDOM_WALK, false);
		CHECKF(r.status == SCHED_OK, "seed 0x%llx", (unsigned long long)(base + i));
		CHECK_EQ(shared_counter, 4);
	}
	printf("# %lu schedules, no deadlock\n", n);
	sched_pool_destroy(pool);
}

/* A richer program: rwsem + two-state + counter; replay must be exact. */
static struct rw_semaphore rs;
static struct two_state_lock tl;
static long order_log[64];
static int order_len;

static void mixed(void *arg, unsigned idx)
{
	for (int i = 0; i < 4; i++) {
		if (idx == 0) {
			down_write(&rs);
			order_log[order_len++ & 63] = idx;
			up_write(&rs);
		} else {
			down_read(&rs);
			up_read(&rs);
		}
		two_state_lock(&tl, idx == 2 ? TS_BLOCK : TS_ADD);
		order_log[order_len++ & 63] = idx;
		two_state_unlock(&tl, idx == 2 ? TS_BLOCK : TS_ADD);
	}
}

TEST(replay_is_exact_for_mixed_program)
{
	struct sched_pool *pool = sched_pool_create(3);
	uint64_t base = test_seed();
	unsigned distinct = 0;
	uint64_t prev = 0;

	for (unsigned s = 0; s < 50; s++) {
		struct sched_config cfg = { .seed = base + s, .strategy = s & 1 ? SCHED_PCT : 0 };
		long log1[64];
		init_rwsem(&rs);
		two_state_init(&tl);
		order_len = 0;
		struct sched_result r1 = sched_run(pool, &cfg, mixed, NULL);
		memcpy(log1, order_log, sizeof(log1));
		int len1 = order_len;
		init_rwsem(&rs);
		two_state_init(&tl);
		order_len = 0;
		struct sched_result r2 = sched_run(pool, &cfg, mixed, NULL);
		CHECK_EQ(r1.status, SCHED_OK);
		CHECK_EQ(r1.trace_hash, r2.trace_hash);
		CHECK_EQ(len1, order_len);
		CHECK(!memcmp(log1, order_log, sizeof(log1)));
		distinct += r1.trace_hash != prev;
		prev = r1.trace_hash;
	}
	CHECK(distinct > 10); /* different seeds explore different schedules */
	sched_pool_destroy(pool);
}

/* The trace's invariants: step 0 is main's first pick; each later step is
 * taken by the thread the step before picked (it is the one running), and
 * the pick is one of the threads that could run - none only at the last
 * step of a deadlock. */
static void check_trace(const struct sched_trace *t, struct sched_result r)
{
	CHECK(t->n <= t->cap);
	CHECK(t->n >= r.steps);
	CHECK_EQ(t->step[0].from, SCHED_TRACE_NONE);
	for (uint64_t i = 0; i < t->n; i++) {
		const struct sched_trace_step *s = &t->step[i];
		if (s->to == SCHED_TRACE_NONE) {
			CHECK_EQ(i, t->n - 1);
			CHECK_EQ(r.status, SCHED_DEADLOCK);
			CHECK_EQ(s->runnable, 0);
			break;
		}
		CHECKF(s->timed_out || (s->runnable >> s->to & 1), "step %llu: picked %d of 0x%llx",
		       (unsigned long long)i, s->to, (unsigned long long)s->runnable);
		if (i)
			CHECK_EQ(s->from, t->step[i - 1].to);
	}
}

/*
 * sched_config.trace records each decision; two runs of one seed record the
 * same ones (sched_trace_diff: -1), and an input the seed does not decide
 * (here: whether thread 1 takes the locks in A-B order) shows as the first
 * step where the runs part, with every step before it the same.
 */
TEST(trace_shows_where_two_runs_part)
{
	static struct sched_trace_step sa[256], sb[256];
	struct sched_trace ta = {.step = sa, .cap = 256}, tb = {.step = sb, .cap = 256};
	struct sched_pool *pool = sched_pool_create(2);
	lockdep_report_fn old = lockdep_set_report_handler(quiet_report);
	uint64_t base = test_seed();
	unsigned parted = 0;

	for (unsigned i = 0; i < 50; i++) {
		struct sched_config cfg = {.seed = base + i, .quiet = true};

		ordered = true;
		fresh_locks();
		cfg.trace = &ta;
		struct sched_result ra = sched_run(pool, &cfg, abba, NULL);
		check_trace(&ta, ra);
		CHECK_EQ(ra.status, SCHED_OK);
		fresh_locks();
		cfg.trace = &tb;
		struct sched_result rb = sched_run(pool, &cfg, abba, NULL);
		CHECK_EQ(sched_trace_diff(&ta, &tb, 2), -1);
		CHECK_EQ(ra.trace_hash, rb.trace_hash);

		ordered = false; /* an input outside the seed changes */
		fresh_locks();
		rb = sched_run(pool, &cfg, abba, NULL);
		check_trace(&tb, rb);
		if (ra.trace_hash == rb.trace_hash)
			continue;
		int64_t at = sched_trace_diff(&ta, &tb, parted ? -1 : 1);
		CHECK(at >= 0);
		for (int64_t k = 0; k < at; k++) /* the same decisions up to there */
			CHECK(sa[k].to == sb[k].to && sa[k].runnable == sb[k].runnable);
		CHECK(sa[at].to != sb[at].to || sa[at].runnable != sb[at].runnable ||
		      sa[at].ev != sb[at].ev || ta.n != tb.n);
		parted++;
	}
	printf("# %u of 50 seeds took other decisions with thread 1's order changed\n", parted);
	CHECK(parted > 0);
	ordered = false;
	lockdep_set_report_handler(old);
	lockdep_reset_graph();
	sched_pool_destroy(pool);
}

/* A wake-up from a thread outside the run: thread 0 sleeps on a queue that
 * only a free-running helper wakes; thread 1 passes scheduling points until
 * it has. The run counts the wake-up (sched_result.outside_wakes); wakes
 * among scheduled threads are part of the schedule and not counted. */
static struct wait_queue_head outside_wq;
static uint32_t outside_flag, outside_go, outside_done;

static void *outside_waker(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&outside_go, __ATOMIC_ACQUIRE))
		futex_wait(&outside_go, 0, NULL);
	__atomic_store_n(&outside_flag, 1, __ATOMIC_RELEASE);
	wake_up(&outside_wq);
	__atomic_store_n(&outside_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void outside_body(void *arg, unsigned idx)
{
	(void)arg;
	if (idx == 0) {
		wait_event(&outside_wq, __atomic_load_n(&outside_flag, __ATOMIC_ACQUIRE),
			   "outside flag");
		return;
	}
	/* the helper may wake only once thread 0 sleeps: it went to sleep at
	 * its point (the schedule ran it first, see below), so let it go */
	__atomic_store_n(&outside_go, 1, __ATOMIC_RELEASE);
	futex_wake(&outside_go, 1);
	while (!__atomic_load_n(&outside_done, __ATOMIC_ACQUIRE))
		sched_race_window("outside: wait for the helper");
}

TEST(wake_from_outside_the_run_is_counted)
{
	struct sched_pool *pool = sched_pool_create(2);
	uint64_t base = test_seed();
	unsigned runs = 0;

	/* scheduled threads waking each other: none counted */
	ordered = true;
	for (unsigned i = 0; i < 20; i++) {
		struct sched_result r = run_abba(pool, base + i, SCHED_RANDOM_WALK, false);
		CHECK_EQ(r.status, SCHED_OK);
		CHECK_EQ(r.outside_wakes, 0);
	}
	ordered = false;
	for (unsigned i = 0; i < 200 && runs < 5; i++) {
		struct sched_config cfg = {.seed = base + i};
		struct sched_trace_step st[4];
		struct sched_trace t = {.step = st, .cap = 4};
		pthread_t th;

		init_waitqueue_head(&outside_wq);
		outside_flag = outside_go = outside_done = 0;
		cfg.trace = &t;
		CHECK_EQ(pthread_create(&th, NULL, outside_waker, NULL), 0);
		struct sched_result r = sched_run(pool, &cfg, outside_body, NULL);
		__atomic_store_n(&outside_go, 1, __ATOMIC_RELEASE); /* (thread 1 did) */
		futex_wake(&outside_go, 1);
		CHECK_EQ(pthread_join(th, NULL), 0);
		CHECK_EQ(r.status, SCHED_OK);
		CHECK(t.n >= 2);
		if (st[0].to != 0 || st[1].ev != SP_WAIT)
			continue; /* thread 1 first: the helper may be done before 0 sleeps */
		/* thread 0 ran first and its first point was its sleep: thread 1 let
		 * the helper go only then */
		CHECK_EQ(r.outside_wakes, 1);
		runs++;
	}
	CHECK(runs > 0);
	printf("# %u runs: the helper's wake-up of thread 0 counted once each\n", runs);
	sched_pool_destroy(pool);
}

static int timed_result;

static void timed_sleeper(void *arg, unsigned idx)
{
	struct timespec dl;
	unsigned long word = 1ul << 5;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	timespec_add_ns(&dl, 3600ull * 1000000000ull); /* an hour: only virtual time passes */
	timed_result = wait_on_bit(&word, 5, 6, 0, &dl, "never cleared");
}

TEST(virtual_timeout_under_scheduler)
{
	struct sched_pool *pool = sched_pool_create(1);
	struct sched_config cfg = { .seed = 1 };
	struct sched_result r = sched_run(pool, &cfg, timed_sleeper, NULL);
	CHECK_EQ(r.status, SCHED_OK);
	CHECK_EQ(timed_result, -ETIMEDOUT);
	sched_pool_destroy(pool);
}

#else
static struct lock_class_key ka = { .name = "toy_A" }, kb = { .name = "toy_B" };
static struct mutex A, B;

static void quiet_report(const char *kind, const char *text)
{
}

static void fresh_locks(void)
{
	mutex_init_class(&A, &ka);
	mutex_init_class(&B, &kb);
}
#endif

/* ---- watchdog: a real ABBA hang of free-running threads, in a child ---- */

static pthread_barrier_t bar;

static void *hang_worker(void *arg)
{
	uintptr_t idx = (uintptr_t)arg;
	task_set_watched(true);
	mutex_lock(idx ? &B : &A);
	pthread_barrier_wait(&bar); /* both hold their first lock: the ABBA is certain */
	mutex_lock(idx ? &A : &B);
	return NULL;
}

static void hang_found(void)
{
	_exit(42);
}

TEST(watchdog_reports_free_running_hang)
{
	int pipefd[2];
	CHECK(pipe(pipefd) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		pthread_t t[2];
		dup2(pipefd[1], 2);
		lockdep_set_report_handler(quiet_report);
		fresh_locks();
		pthread_barrier_init(&bar, NULL, 2);
		watchdog_start(200, hang_found);
		for (uintptr_t i = 0; i < 2; i++)
			pthread_create(&t[i], NULL, hang_worker, (void *)i);
		pthread_join(t[0], NULL);
		_exit(1);
	}
	close(pipefd[1]);
	char buf[8192];
	size_t len = 0;
	ssize_t n;
	while ((n = read(pipefd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = 0;
	close(pipefd[0]);
	int status;
	waitpid(pid, &status, 0);
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 42, "status %d: %s", status, buf);
	CHECKF(strstr(buf, "watchdog: all 2 watched threads blocked"), "%s", buf);
	CHECKF(strstr(buf, "waiting for toy_"), "%s", buf);
#if PC_LOCKDEP
	CHECKF(strstr(buf, "holds #0 toy_A") && strstr(buf, "holds #0 toy_B"), "%s", buf);
#endif
}

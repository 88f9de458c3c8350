/* SPDX-License-Identifier: MIT */
/*
 * test_harness.c - the test harness's self-test (tests/harness.c). The
 * hidden demo_* cases fail, skip or leave switches on deliberately; the
 * visible cases run this binary again as a child with a list of demos and
 * check its TAP output and exit status: a failing CHECK in a worker thread
 * is reported (not ok, with its message) without a longjmp across threads
 * and the worker stops at the CHECK; a failing CHECK under the deterministic
 * scheduler abandons the run; the next case starts with every test switch
 * off; a passing case that leaves a switch on fails; test_skip reports
 * `ok N - name # SKIP reason` and the closing comment counts it as skipped.
 * With the harness's own switch (harness_test_no_switch_reset, set by the
 * demo_no_reset case) the next case starts with the switch still on. A
 * liveness wait (threads.h) without progress is reported by the watchdog.
 * A case that fails runs its test_on_abort cleanups before its frame goes:
 * the writeback fixture's stops the cache's writeback thread, which would
 * otherwise go on using the dead frame (harness_test_no_abort_cleanup, set
 * by demo_no_abort_cleanup, shows it still running in the next case).
 * test_fork flushes stdout before it forks: a line the case had buffered
 * comes out once (a plain fork prints it twice).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/test_switches.h"
#include "harness.h"
#include "kernel/lockdep.h"
#include "kernel/sched.h"
#include "mm/vma.h"
#include "mm/writeback_thread.h"
#include "store/vol/io.h"
#include "threads.h"
#include "../mm/writeback_fixture.h"

/* ---- the demonstrations (run only when named) ---- */

TEST_HIDDEN(demo_no_reset)
{
	harness_test_no_switch_reset = true;
}

static int worker_went_on;

static void *failing_worker(void *arg)
{
	(void)arg;
	CHECKF(0 == 1, "deliberate failure in a worker thread, value %d", 42);
	__atomic_store_n(&worker_went_on, 1, __ATOMIC_RELAXED);
	return NULL;
}

TEST_HIDDEN(demo_worker_fails)
{
	pthread_t th;

	mm_fault_test_keep_mm_lock = true;
	vol_test_skip_data_flush = true;
	CHECK(pthread_create(&th, NULL, failing_worker, NULL) == 0);
	CHECK(pthread_join(th, NULL) == 0);
	printf("# worker went on past its CHECK: %d\n", worker_went_on);
}

TEST_HIDDEN(demo_main_fails)
{
	mm_fault_test_keep_mm_lock = true;
	CHECK_EQ(1, 2);
}

static void sched_body(void *arg, unsigned idx)
{
	(void)arg;
	CHECKF(idx != 1, "deliberate failure under the scheduler in worker %u", idx);
}

TEST_HIDDEN(demo_sched_fails)
{
	struct sched_pool *pool = sched_pool_create(2);
	struct sched_config cfg = {.seed = 1, .quiet = true};
	struct sched_result res;

	vol_test_skip_data_flush = true;
	res = sched_run(pool, &cfg, sched_body, NULL);
	sched_pool_destroy(pool);
	printf("# sched_run status %d (SCHED_FAILED is %d)\n", (int)res.status, (int)SCHED_FAILED);
}

TEST_HIDDEN(demo_leaves_switch_on)
{
	vol_test_skip_data_flush = true;
}

TEST_HIDDEN(demo_switches_off)
{
	const char *on = test_switches_first_on();

	CHECKF(!on, "test switch %s is on", on);
}

/* A liveness wait on a value nothing changes: the watchdog reports it. */
TEST_HIDDEN(demo_liveness_hang)
{
	static unsigned long never;
	struct watched_wait w;

	watched_wait_begin(&w, "demo counter to move", &never);
	while (__atomic_load_n(&never, __ATOMIC_ACQUIRE) == 0)
		watched_wait_step(&w, 0);
	watched_wait_end(&w);
}

TEST_HIDDEN(demo_skip)
{
	test_skip("deliberately skipped: %s", "demo");
}

/* A part of a line in stdout's buffer at the fork, then each process ends
 * the line: printed once (test_fork flushes first) or twice (@plain). */
static void fork_with_buffered_line(bool plain)
{
	pid_t pid;
	int st;

	printf("# before the fork, unflushed");
	pid = plain ? fork() : test_fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		printf(" (child)\n");
		fflush(stdout);
		_exit(0);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	printf(" (parent)\n");
}

TEST_HIDDEN(demo_test_fork)
{
	fork_with_buffered_line(false);
}

TEST_HIDDEN(demo_plain_fork)
{
	fork_with_buffered_line(true);
}

TEST_HIDDEN(demo_no_abort_cleanup)
{
	harness_test_no_abort_cleanup = true;
}

/* A lock only the validator knows (no real lock behind it). */
static struct lock_class_key demo_key = {.name = "demo_lock"};
static struct lockdep_map demo_map;
static int demo_obj;

static void demo_lock(void)
{
	lockdep_init_map(&demo_map, "demo_lock", &demo_key);
	lock_acquire(&demo_map, &demo_obj, 0, LM_EXCL, false, THIS_LOC);
	lock_acquired(&demo_obj);
}

TEST_HIDDEN(demo_keep_held)
{
	harness_test_keep_held = true;
}

TEST_HIDDEN(demo_fails_holding_lock)
{
	demo_lock();
	CHECKF(0, "deliberate failure holding demo_lock");
}

TEST_HIDDEN(demo_takes_lock)
{
	demo_lock();
	lock_release(&demo_map, &demo_obj, THIS_LOC);
}

/* The threads of this process named @name (/proc/self/task/<tid>/comm). */
static int threads_named(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	CHECK(d != NULL);
	while ((e = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		if (!(f = fopen(path, "r")))
			continue; /* ended meanwhile */
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = 0;
		fclose(f);
		n += !strcmp(comm, name);
	}
	closedir(d);
	return n;
}

/* A case with a cache in its frame (the writeback fixture) fails. */
TEST_HIDDEN(demo_cache_case_fails)
{
	struct mm_cache_config cfg = quiet_config();
	struct wbt t;

	wbt_setup(&t, &cfg, 1);
	printf("# writeback threads in the case: %d\n", threads_named(WB_THREAD_NAME));
	CHECKF(0 == 1, "deliberate failure with a cache in the frame");
	wbt_teardown(&t);
}

TEST_HIDDEN(demo_no_writeback_thread)
{
	int n = threads_named(WB_THREAD_NAME);

	CHECKF(n == 0, "%d writeback threads of an ended case still run", n);
}

/* ---- the checks ---- */

struct child {
	char out[16384];
	int status; /* exit status, or -1 if it did not exit */
	int sig;    /* the signal that ended it, or 0 */
};

/* Runs this binary with the cases @cases (NULL-terminated), its stdout and
 * stderr captured; @env: one NAME=VALUE more, or NULL. */
static void run_child_env(struct child *c, const char *const *cases, const char *env)
{
	char *argv[16];
	int fds[2], n = 0, wst;
	size_t len = 0;
	ssize_t got;
	pid_t pid;

	argv[n++] = (char *)"test_harness";
	for (; *cases && n < 15; cases++)
		argv[n++] = (char *)*cases;
	argv[n] = NULL;
	CHECK(pipe(fds) == 0);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		if (env)
			putenv((char *)env);
		close(fds[1]);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(fds[1]);
	while (len < sizeof(c->out) - 1 &&
	       (got = read(fds[0], c->out + len, sizeof(c->out) - 1 - len)) != 0) {
		if (got < 0) {
			CHECK(errno == EINTR);
			continue;
		}
		len += (size_t)got;
	}
	c->out[len] = 0;
	close(fds[0]);
	CHECK(waitpid(pid, &wst, 0) == pid);
	c->status = WIFEXITED(wst) ? WEXITSTATUS(wst) : -1;
	c->sig = WIFSIGNALED(wst) ? WTERMSIG(wst) : 0;
	/* show it, as comments */
	for (char *line = c->out, *end; *line; line = end) {
		end = strchr(line, '\n');
		end = end ? end + 1 : line + strlen(line);
		printf("#   | %.*s", (int)(end - line), line);
	}
	printf("#   child exit status %d, signal %d\n", c->status, c->sig);
}

static void run_child(struct child *c, const char *const *cases)
{
	run_child_env(c, cases, NULL);
}

static void expect(const struct child *c, const char *line)
{
	CHECKF(strstr(c->out, line), "child output lacks \"%s\"", line);
}

TEST(worker_failure_is_reported)
{
	static struct child c;
	const char *const cases[] = {"demo_worker_fails", "demo_switches_off", "demo_skip", NULL};

	run_child(&c, cases);
	CHECK_EQ(c.status, 1);
	expect(&c, "\nnot ok 1 - demo_worker_fails\n");
	expect(&c, "# FAILED in a thread of demo_worker_fails: ");
	expect(&c, "deliberate failure in a worker thread, value 42");
	expect(&c, "test_harness.c:");
	expect(&c, "# worker went on past its CHECK: 0\n");
	expect(&c, "# test switch mm_fault_test_keep_mm_lock was on: reset\n");
	expect(&c, "# test switch vol_test_skip_data_flush was on: reset\n");
	expect(&c, "\nok 2 - demo_switches_off\n");
	expect(&c, "\nok 3 - demo_skip # SKIP deliberately skipped: demo\n");
	expect(&c, "\n# 1 passed, 1 failed, 1 skipped\n");
}

TEST(main_failure_resets_switches)
{
	static struct child c;
	const char *const cases[] = {"demo_main_fails", "demo_switches_off", NULL};

	run_child(&c, cases);
	CHECK_EQ(c.status, 1);
	expect(&c, "\nnot ok 1 - demo_main_fails\n");
	expect(&c, "1 == 2 (1 != 2)");
	expect(&c, "# test switch mm_fault_test_keep_mm_lock was on: reset\n");
	expect(&c, "\nok 2 - demo_switches_off\n");
}

TEST(sched_failure_is_reported)
{
	static struct child c;
	const char *const cases[] = {"demo_sched_fails", "demo_switches_off", NULL};
	char status[64];

	run_child(&c, cases);
	CHECK_EQ(c.status, 1);
	snprintf(status, sizeof(status), "# sched_run status %d", (int)SCHED_FAILED);
	expect(&c, status);
	expect(&c, "\nnot ok 1 - demo_sched_fails\n");
	expect(&c, "deliberate failure under the scheduler in worker 1");
	expect(&c, "\nok 2 - demo_switches_off\n");
}

TEST(passing_case_leaving_a_switch_on_fails)
{
	static struct child c;
	const char *const cases[] = {"demo_leaves_switch_on", "demo_switches_off", NULL};

	run_child(&c, cases);
	CHECK_EQ(c.status, 1);
	expect(&c, "# FAILED demo_leaves_switch_on left test switch vol_test_skip_data_flush on\n");
	expect(&c, "\nnot ok 1 - demo_leaves_switch_on\n");
	expect(&c, "\nok 2 - demo_switches_off\n");
}

/* The harness's switch off: the switch the failed case set is still on in
 * the next case (the hazard the reset removes). */
TEST(no_reset_shows_the_hazard)
{
	static struct child c;
	const char *const cases[] = {"demo_no_reset", "demo_worker_fails", "demo_switches_off",
				     NULL};

	run_child(&c, cases);
	CHECK_EQ(c.status, 1);
	expect(&c, "\nnot ok 2 - demo_worker_fails\n");
	expect(&c, "test switch mm_fault_test_keep_mm_lock is on");
	expect(&c, "\nnot ok 3 - demo_switches_off\n");
}

/* A liveness wait that stops making progress is a hang the watchdog
 * reports (every thread's state), then aborts; no deadline in the test. */
TEST(liveness_wait_hang_is_reported)
{
	static struct child c;
	const char *const cases[] = {"demo_liveness_hang", NULL};

	run_child_env(&c, cases, "PC_HANG_MS=200");
	CHECK_EQ(c.sig, SIGABRT);
	expect(&c, "=== watchdog: all 1 watched threads blocked for 200 ms ===");
	expect(&c, "waiting for demo counter to move");
	expect(&c, "=== liveness wait: no progress; every thread: ===");
}

/* A failed case's cache stops its writeback thread before the case's frame
 * goes (the thread used to go on with its periodic passes on the dead frame:
 * test_reclaim's SEGV in wb_do_pass after a failed CHECK). */
TEST(failed_case_stops_its_writeback_thread)
{
	static struct child c;
	const char *const cases[] = {"demo_cache_case_fails", "demo_no_writeback_thread", NULL};

	/* a failed case leaks its fixture: no leak report */
	run_child_env(&c, cases, "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1");
	CHECK_EQ(c.status, 1);
	expect(&c, "# writeback threads in the case: 1\n");
	expect(&c, "\nnot ok 1 - demo_cache_case_fails\n");
	expect(&c, "\nok 2 - demo_no_writeback_thread\n");
}

/* The harness's switch on: the thread outlives the failed case. */
TEST(no_abort_cleanup_shows_the_hazard)
{
	static struct child c;
	const char *const cases[] = {"demo_no_abort_cleanup", "demo_cache_case_fails",
				     "demo_no_writeback_thread", NULL};

	/* a failed case leaks its fixture: no leak report */
	run_child_env(&c, cases, "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1");
	CHECK_EQ(c.status, 1);
	expect(&c, "\nnot ok 2 - demo_cache_case_fails\n");
	expect(&c, "1 writeback threads of an ended case still run");
	expect(&c, "\nnot ok 3 - demo_no_writeback_thread\n");
}

/* A case that failed holding a lock: the next case takes it again. */
TEST(failed_case_held_locks_forgotten)
{
	static struct child c;
	const char *const cases[] = {"demo_fails_holding_lock", "demo_takes_lock", NULL};

	if (!PC_LOCKDEP)
		test_skip("no lock validator in this build");
	run_child(&c, cases);
	CHECK_EQ(c.status, 1);
	expect(&c, "\nnot ok 1 - demo_fails_holding_lock\n");
	expect(&c, "# demo_fails_holding_lock ended holding 1 lock(s)");
	expect(&c, "\nok 2 - demo_takes_lock\n");
	expect(&c, "\n# 1 passed, 1 failed, 0 skipped\n");
}

/* The harness's switch on: the next case is reported, and the process ends. */
TEST(failed_case_held_locks_kept_shows)
{
	static struct child c;
	const char *const cases[] = {"demo_keep_held", "demo_fails_holding_lock", "demo_takes_lock",
				     NULL};

	if (!PC_LOCKDEP)
		test_skip("no lock validator in this build");
	run_child(&c, cases);
	CHECK_EQ(c.sig, SIGABRT);
	expect(&c, "\nnot ok 2 - demo_fails_holding_lock\n");
	expect(&c, "recursive locking");
	CHECK(!strstr(c.out, "\nok 3 - demo_takes_lock\n"));
}

static int occurrences(const char *s, const char *what)
{
	int n = 0;

	for (; (s = strstr(s, what)); s++)
		n++;
	return n;
}

static void fork_case(const char *demo, int want)
{
	static struct child c;
	const char *const cases[] = {demo, NULL};

#if defined(__SANITIZE_THREAD__)
	test_skip("fork under ThreadSanitizer");
#endif
	run_child(&c, cases);
	CHECK_EQ(c.status, 0);
	CHECK_EQ(occurrences(c.out, "# before the fork, unflushed"), want);
}

/* test_fork flushes stdout first: the child does not print the parent's
 * buffered line again. */
TEST(test_fork_prints_buffered_line_once)
{
	fork_case("demo_test_fork", 1);
}

/* The hazard, with a plain fork: the buffered line comes out twice. */
TEST(plain_fork_prints_buffered_line_twice)
{
	fork_case("demo_plain_fork", 2);
}

/* Every switch the source defines is in the table (by name, for the ones
 * the demos use) and starts off. */
TEST(switch_table)
{
	bool keep = false, flush = false;

	for (size_t i = 0; i < nr_test_switches; i++) {
		keep |= !strcmp(test_switches[i].name, "mm_fault_test_keep_mm_lock");
		flush |= !strcmp(test_switches[i].name, "vol_test_skip_data_flush");
		CHECK(!*test_switches[i].sw);
	}
	CHECK(keep && flush);
	CHECK(nr_test_switches >= 18);
	CHECK(!test_switches_first_on());
}

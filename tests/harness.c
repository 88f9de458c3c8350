/* SPDX-License-Identifier: MIT */
/*
 * harness.c - see harness.h. State of the running case: the longjmp target
 * of the thread that runs it (main), the first failure recorded by another
 * thread (claimed with an atomic exchange, then filled in by its claimant
 * before it ends), the skip reason, the cleanups for an early end
 * (test_on_abort; touched only by the thread running the case). Locks:
 * none; the main thread reads the recorded failure after the case
 * returned, i.e. after joining its threads.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include "api/test_switches.h"
#include "harness.h"
#include "kernel/lockdep.h"
#include "kernel/sched.h"
#include "kernel/task.h"

bool harness_test_no_switch_reset;
bool harness_test_no_abort_cleanup;
bool harness_test_keep_held;

static struct test_case *head, **tail = &head;
static jmp_buf case_env;
static pthread_t case_thread;
static int in_test;
/* Set in a child of test_fork: a CHECK that fails there ends the child. */
static bool in_forked_child;
static char skip_reason[256];
static int parts_skipped;

/* The first failure of another thread in the running case. */
static int worker_claimed;  /* atomic: 0, then 1 once claimed */
static int worker_recorded; /* atomic: the message below is complete */
static char worker_msg[512];

/* The running case's cleanups for an early end, in registration order. */
#define MAX_ABORT_CLEANUPS 16
static struct {
	void (*fn)(void *);
	void *arg;
} abort_cleanups[MAX_ABORT_CLEANUPS];
static int nr_abort_cleanups;

void test_on_abort(void (*fn)(void *arg), void *arg)
{
	if (nr_abort_cleanups == MAX_ABORT_CLEANUPS)
		test_fail(__FILE__, __LINE__, "nr_abort_cleanups < MAX_ABORT_CLEANUPS", NULL);
	abort_cleanups[nr_abort_cleanups].fn = fn;
	abort_cleanups[nr_abort_cleanups].arg = arg;
	nr_abort_cleanups++;
}

void test_abort_cancel(void *arg)
{
	for (int i = nr_abort_cleanups - 1; i >= 0; i--) {
		if (abort_cleanups[i].arg != arg)
			continue;
		memmove(&abort_cleanups[i], &abort_cleanups[i + 1],
			(size_t)(nr_abort_cleanups - i - 1) * sizeof(abort_cleanups[0]));
		nr_abort_cleanups--;
		return;
	}
}

/* The case ends early: its cleanups, most recent first, while its frame is
 * still there. Each is dropped before it runs, so one that fails a CHECK
 * (test_fail comes back here) does not run again. */
static void run_abort_cleanups(void)
{
	if (harness_test_no_abort_cleanup) {
		nr_abort_cleanups = 0;
		return;
	}
	while (nr_abort_cleanups > 0) {
		nr_abort_cleanups--;
		abort_cleanups[nr_abort_cleanups].fn(abort_cleanups[nr_abort_cleanups].arg);
	}
}

void test_register(struct test_case *tc)
{
	*tail = tc;
	tail = &tc->next;
}

void test_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "%s:%d: %s", file, line, expr);

	if (fmt && n >= 0 && (size_t)n < sizeof(msg)) {
		va_list ap;
		va_start(ap, fmt);
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, " (");
		if ((size_t)n < sizeof(msg))
			n += vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
		if ((size_t)n < sizeof(msg))
			snprintf(msg + n, sizeof(msg) - (size_t)n, ")");
		va_end(ap);
	}
	if (in_forked_child) {
		/* A child's failure is its parent's to report (by the child's
		 * status): the case's TAP lines are the parent's alone. */
		fprintf(stderr, "# FAILED in a forked child: %s\n", msg);
		_exit(125);
	}
	if (!__atomic_load_n(&in_test, __ATOMIC_ACQUIRE)) {
		printf("# FAILED %s\n", msg);
		fflush(stdout);
		abort();
	}
	if (pthread_equal(pthread_self(), case_thread)) {
		printf("# FAILED %s\n", msg);
		fflush(stdout);
		run_abort_cleanups();
		longjmp(case_env, 1);
	}
	/* Another thread of the case: record the first failure, end the thread. */
	printf("# FAILED (in a thread of the case) %s\n", msg);
	fflush(stdout);
	if (!__atomic_exchange_n(&worker_claimed, 1, __ATOMIC_ACQ_REL)) {
		memcpy(worker_msg, msg, sizeof(msg));
		__atomic_store_n(&worker_recorded, 1, __ATOMIC_RELEASE);
	}
	sched_fail_current("a check failed in this thread (test harness)");
	pthread_exit(NULL);
}

static void vformat(char *buf, size_t size, const char *fmt, va_list ap)
{
	vsnprintf(buf, size, fmt, ap);
	for (char *c = buf; *c; c++)
		if (*c == '\n' || *c == '#')
			*c = ' '; /* one TAP line; no second directive */
}

void test_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vformat(skip_reason, sizeof(skip_reason), fmt, ap);
	va_end(ap);
	if (in_forked_child)
		test_fail(__FILE__, __LINE__, "test_skip() in a forked child", "%s", skip_reason);
	if (!__atomic_load_n(&in_test, __ATOMIC_ACQUIRE) ||
	    !pthread_equal(pthread_self(), case_thread))
		test_fail(__FILE__, __LINE__, "test_skip() from the thread running the case", "%s",
			  skip_reason);
	run_abort_cleanups();
	longjmp(case_env, 2);
}

void test_skip_part(const char *fmt, ...)
{
	char reason[256];
	va_list ap;

	va_start(ap, fmt);
	vformat(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	printf("# skip %s\n", reason);
	fflush(stdout);
	__atomic_fetch_add(&parts_skipped, 1, __ATOMIC_RELAXED);
}

bool test_quick(void)
{
	const char *q = getenv("PC_QUICK");
	return q && *q && *q != '0';
}

unsigned long test_scale(unsigned long full, unsigned long div)
{
	return test_quick() ? (full / div ? full / div : 1) : full;
}

uint64_t test_seed(void)
{
	const char *s = getenv("PC_SEED");
	uint64_t seed;

	if (s && *s) {
		seed = strtoull(s, NULL, 0);
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec ^
		       (uint64_t)getpid() << 32;
	}
	printf("# seed 0x%" PRIx64 " (replay: PC_SEED=0x%" PRIx64 ")\n", seed, seed);
	fflush(stdout);
	return seed;
}

pid_t test_fork_at(const char *file, int line)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		test_fail(file, line, "fork() >= 0", "%s", strerror(errno));
	if (pid == 0)
		in_forked_child = true;
	return pid;
}

static void report_reset(const char *name)
{
	printf("# test switch %s was on: reset\n", name);
}

static bool selected(const struct test_case *tc, int argc, char **argv)
{
	bool sel = argc < 2 && !tc->hidden;

	for (int i = 1; i < argc; i++)
		sel |= !strcmp(argv[i], tc->name);
	return sel;
}

enum outcome { PASSED, FAILED, SKIPPED };

/*
 * A case left by its longjmp (a failed CHECK, a skip) may still hold locks
 * the validator tracks - a glock holder, a range lock - on the thread that
 * runs every case: the next case to take one of that class would be
 * reported as recursive locking and abort the process, and one failure
 * would cost every later case. They are named (stderr) and forgotten; what
 * they lock stays locked (each case uses objects of its own).
 */
static void forget_held(const struct test_case *tc)
{
	if (!current->nheld || harness_test_keep_held)
		return;
	printf("# %s ended holding %d lock(s); the validator forgets them (list on stderr)\n",
	       tc->name, current->nheld);
	fflush(stdout);
	lockdep_print_held(STDERR_FILENO, current);
	lockdep_abandon_held();
}

/* Runs @tc: its outcome. */
static enum outcome run_case(struct test_case *tc)
{
	volatile enum outcome res = PASSED; /* live across setjmp */
	const char *on;
	int jumped;

	__atomic_store_n(&worker_claimed, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&worker_recorded, 0, __ATOMIC_RELAXED);
	skip_reason[0] = 0;
	nr_abort_cleanups = 0;
	case_thread = pthread_self();
	__atomic_store_n(&in_test, 1, __ATOMIC_RELEASE);
	jumped = setjmp(case_env);
	if (jumped == 0) {
		tc->fn();
	} else {
		res = jumped == 2 ? SKIPPED : FAILED;
		forget_held(tc);
	}
	__atomic_store_n(&in_test, 0, __ATOMIC_RELEASE);
	nr_abort_cleanups = 0; /* ended normally: not run */
	if (__atomic_load_n(&worker_claimed, __ATOMIC_ACQUIRE)) {
		/* the claimant fills the message in before it ends; the case
		 * joined it, or it is about to end */
		while (!__atomic_load_n(&worker_recorded, __ATOMIC_ACQUIRE))
			sched_yield();
		printf("# FAILED in a thread of %s: %s\n", tc->name, worker_msg);
		res = FAILED;
	}
	if (harness_test_no_switch_reset)
		return res;
	if (res == FAILED) {
		test_switches_reset(report_reset);
	} else if ((on = test_switches_first_on())) {
		printf("# FAILED %s left test switch %s on\n", tc->name, on);
		test_switches_reset(report_reset);
		res = FAILED;
	}
	return res;
}

int main(int argc, char **argv)
{
	int n = 0, idx = 0, counts[3] = {0};

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (struct test_case *tc = head; tc; tc = tc->next)
		n += selected(tc, argc, argv);
	printf("1..%d\n", n);
	for (struct test_case *tc = head; tc; tc = tc->next) {
		enum outcome res;

		if (!selected(tc, argc, argv))
			continue;
		idx++;
		printf("# running %s\n", tc->name);
		res = run_case(tc);
		counts[res]++;
		if (res == PASSED)
			printf("ok %d - %s\n", idx, tc->name);
		else if (res == SKIPPED)
			printf("ok %d - %s # SKIP %s\n", idx, tc->name, skip_reason);
		else
			printf("not ok %d - %s\n", idx, tc->name);
	}
	printf("# %d passed, %d failed, %d skipped", counts[PASSED], counts[FAILED],
	       counts[SKIPPED]);
	if (parts_skipped)
		printf(" (and %d sub-checks skipped in cases that ran)", parts_skipped);
	printf("\n");
	return counts[FAILED] ? 1 : 0;
}

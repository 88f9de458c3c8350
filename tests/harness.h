/* SPDX-License-Identifier: MIT */
/*
 * harness.h - the test harness: TEST(name) registers a case, CHECK() fails it
 * with file:line, test_skip() ends it as skipped, main() runs every case (or
 * those named on the command line) and prints TAP, which meson reads:
 * `ok N - name`, `not ok N - name`, `ok N - name # SKIP reason`, and last a
 * comment `# N passed, N failed, N skipped`. Random tests print their seed;
 * PC_SEED replays. PC_QUICK=1 (sanitizer builds) asks tests to scale down.
 *
 * Failures in other threads: a CHECK that fails in a thread other than the
 * one running the case never longjmps across threads. The first such failure
 * (message and file:line) is recorded and the thread ends (pthread_exit; a
 * thread under the deterministic scheduler abandons the whole run instead,
 * sched_fail_current). The case is reported failed, with that message, once
 * its function returns (it joins its threads as usual; a thread that ends
 * this way holding an engine lock others wait for turns the failure into a
 * hang, which the hang watchdog reports with stacks).
 *
 * A case that ends early (a failed CHECK, a skip) while its thread holds
 * locks the validator tracks (a glock holder, a range lock): they are named
 * and forgotten, so that the next case taking one of that class is not
 * reported as recursive locking (which would end the process and hide the
 * later cases' results). What they lock stays locked.
 *
 * Test switches: after every case, every switch and knob of the library
 * (src/api/test_switches.c) is turned off again; a case that failed gets
 * them reset and named, a case that passed but left one on is a failure.
 */
#ifndef PC_TESTS_HARNESS_H
#define PC_TESTS_HARNESS_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

struct test_case {
	const char *name;
	void (*fn)(void);
	struct test_case *next;
	bool hidden; /* runs only when named on the command line */
};

void test_register(struct test_case *tc);
__attribute__((noreturn)) void test_fail(const char *file, int line, const char *expr,
					 const char *fmt, ...);
/* Ends the running case as skipped: `ok N - name # SKIP reason`. For a case
 * whose subject the host or build cannot exercise at all (no /dev/fuse, no
 * userfaultfd, no scheduling points). Only from the thread running the case. */
__attribute__((noreturn)) void test_skip(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* Notes a sub-check the case cannot run (`# skip reason`) and goes on: the
 * case still counts as passed for what it did run; the closing comment
 * counts the parts skipped. */
void test_skip_part(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Scale an iteration count: the full count normally, count/div under PC_QUICK. */
unsigned long test_scale(unsigned long full, unsigned long div);
bool test_quick(void);
/* The seed for a random test: $PC_SEED or a fresh one; printed either way. */
uint64_t test_seed(void);
/* fork(2) for a case that runs a part in a child process: stdout and stderr
 * flushed first (no buffered line printed twice); a failed fork fails the
 * case at the caller's file:line. The child's pid; 0 in the child, where a
 * CHECK that fails (or a test_skip) prints to stderr and ends the child
 * with _exit(125), for the parent to see in its status: the case's TAP
 * lines stay the parent's. */
pid_t test_fork_at(const char *file, int line);
#define test_fork() test_fork_at(__FILE__, __LINE__)

/*
 * A cleanup of the running case for when it ends early (a CHECK that fails,
 * or test_skip, on the thread running it): run on that thread, most recent
 * first, before the longjmp leaves the case's frame. For fixtures in that
 * frame which threads of the library go on using until a teardown that the
 * early end skips: a cache's writeback thread would otherwise run its next
 * pass on the dead frame, reused by the next case (a SEGV in wb_do_pass,
 * or a data race with the next case's mm_cache_init). A case that returns
 * drops its cleanups unrun; test_abort_cancel(@arg) drops the latest one
 * registered with @arg (its fixture was torn down). Only from the thread
 * running the case; a cleanup must not wait for what that thread holds.
 */
void test_on_abort(void (*fn)(void *arg), void *arg);
void test_abort_cancel(void *arg);

/* Test switch of the harness itself: no reset of the library's switches
 * between cases (the harness self-test shows the next case then starts with
 * a switch on). */
extern bool harness_test_no_switch_reset;
/* Test switch of the harness itself: a case that ends early runs none of
 * its test_on_abort cleanups (the harness self-test shows the failed case's
 * writeback thread still running in the next case). */
extern bool harness_test_no_abort_cleanup;
/* Test switch of the harness itself: a case that ends early leaves the locks
 * its thread holds on the validator's held stack (the harness self-test
 * shows the next case's acquisition then reported as recursive locking). */
extern bool harness_test_keep_held;

#define TEST_CASE_(name, hide)                                                \
	static void test_##name(void);                                        \
	static struct test_case tc_##name = {#name, test_##name, NULL, hide}; \
	__attribute__((constructor)) static void reg_##name(void)             \
	{                                                                     \
		test_register(&tc_##name);                                    \
	}                                                                     \
	static void test_##name(void)

#define TEST(name) TEST_CASE_(name, false)
/* A case that runs only when named on the command line (demonstrations that
 * are meant to fail, run by another case that checks their output). */
#define TEST_HIDDEN(name) TEST_CASE_(name, true)

#define CHECK(cond)                                                 \
	do {                                                        \
		if (!(cond))                                        \
			test_fail(__FILE__, __LINE__, #cond, NULL); \
	} while (0)

#define CHECKF(cond, ...)                                                  \
	do {                                                               \
		if (!(cond))                                               \
			test_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
	} while (0)

#define CHECK_EQ(a, b)                                                                         \
	do {                                                                                   \
		long long __a = (long long)(a), __b = (long long)(b);                          \
		if (__a != __b)                                                                \
			test_fail(__FILE__, __LINE__, #a " == " #b, "%lld != %lld", __a, __b); \
	} while (0)

#endif

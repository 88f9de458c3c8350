/* SPDX-License-Identifier: MIT */
/* harness.c - see harness.h. */
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct test_case *head, **tail = &head;
static jmp_buf fail_env;
static int in_test;

void test_register(struct test_case *tc)
{
	*tail = tc;
	tail = &tc->next;
}

void test_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
	fprintf(stdout, "# FAILED %s:%d: %s", file, line, expr);
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		fputs(" (", stdout);
		vfprintf(stdout, fmt, ap);
		fputs(")", stdout);
		va_end(ap);
	}
	fputc('\n', stdout);
	fflush(stdout);
	if (in_test)
		longjmp(fail_env, 1);
	abort();
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

int main(int argc, char **argv)
{
	int n = 0;
	volatile int failed = 0, idx = 0; /* live across setjmp */

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (struct test_case *tc = head; tc; tc = tc->next) {
		bool sel = argc < 2;
		for (int i = 1; i < argc; i++)
			sel |= !strcmp(argv[i], tc->name);
		n += sel;
	}
	printf("1..%d\n", n);
	for (struct test_case *tc = head; tc; tc = tc->next) {
		bool sel = argc < 2;
		for (int i = 1; i < argc; i++)
			sel |= !strcmp(argv[i], tc->name);
		if (!sel)
			continue;
		idx = idx + 1;
		printf("# running %s\n", tc->name);
		in_test = 1;
		if (setjmp(fail_env) == 0) {
			tc->fn();
			printf("ok %d - %s\n", idx, tc->name);
		} else {
			printf("not ok %d - %s\n", idx, tc->name);
			failed = failed + 1;
		}
		in_test = 0;
	}
	return failed ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * harness.h - the test harness: TEST(name) registers a case, CHECK() fails it
 * with file:line, main() runs every case (or those named on the command line)
 * and prints TAP, which meson reads. Random tests print their seed; PC_SEED
 * replays. PC_QUICK=1 (sanitizer builds) asks tests to scale down.
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

struct test_case {
	const char *name;
	void (*fn)(void);
	struct test_case *next;
};

void test_register(struct test_case *tc);
__attribute__((noreturn)) void test_fail(const char *file, int line, const char *expr,
					 const char *fmt, ...);
/* Scale an iteration count: the full count normally, count/div under PC_QUICK. */
unsigned long test_scale(unsigned long full, unsigned long div);
bool test_quick(void);
/* The seed for a random test: $PC_SEED or a fresh one; printed either way. */
uint64_t test_seed(void);

#define TEST(name)                                                                                 \
	static void test_##name(void);                                                             \
	static struct test_case tc_##name = { #name, test_##name, NULL };                          \
	__attribute__((constructor)) static void reg_##name(void)                                  \
	{                                                                                          \
		test_register(&tc_##name);                                                         \
	}                                                                                          \
	static void test_##name(void)

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			test_fail(__FILE__, __LINE__, #cond, NULL);                                \
	} while (0)

#define CHECKF(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			test_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                         \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long __a = (long long)(a), __b = (long long)(b);                              \
		if (__a != __b)                                                                    \
			test_fail(__FILE__, __LINE__, #a " == " #b, "%lld != %lld", __a, __b);     \
	} while (0)

#endif

/* SPDX-License-Identifier: MIT */
/*
 * model.h - shared helpers of the API tests (test_model, test_badinput,
 * test_h1, test_memlimit): fresh directories under one private temporary
 * root ($TMPDIR or /tmp, removed at exit), engines opened on them, byte
 * patterns, and the host-kernel errno of a call for comparison. No locks:
 * call from the main test thread (the pattern helpers are thread-safe).
 */
#ifndef PC_TESTS_API_MODEL_H
#define PC_TESTS_API_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pagecache.h"

/* rm -rf @path (no symlinks followed). */
void api_rm_rf(const char *path);
/* A fresh empty directory under the private temp root, named after @tag.
 * Returns a malloc'd path the caller frees (removed at exit anyway). */
char *api_fresh_dir(const char *tag);
/* pc_engine_open() on @dir with @opts (NULL: defaults); fails the test
 * otherwise. */
struct pc_engine *api_engine_open(const char *dir, const struct pc_options *opts);
/* pc_engine_close(), checking it returns 0. */
void api_engine_close(struct pc_engine *e);

/* Deterministic contents: byte @off of the stream named @tag. */
static inline uint8_t api_pattern_byte(uint32_t tag, uint64_t off)
{
	uint64_t x = (off >> 3) * 0x9E3779B97F4A7C15ull ^ (uint64_t)tag * 0xBF58476D1CE4E5B9ull;
	x ^= x >> 29;
	x *= 0x94D049BB133111EBull;
	x ^= x >> 32;
	uint8_t b = (uint8_t)(x >> ((off & 7) * 8));
	return b ? b : 0x5a; /* never zero: a hole or a lost write is always visible */
}
void api_pattern_fill(void *buf, size_t len, uint32_t tag, uint64_t off);
/* Index of the first byte that differs from the pattern, or -1. */
ssize_t api_pattern_check(const void *buf, size_t len, uint32_t tag, uint64_t off);

/* The value of a host call that returns -1 and sets errno, as -errno. */
#define API_HOST(call)                        \
	({                                    \
		long __r = (long)(call);      \
		__r < 0 ? -(long)errno : __r; \
	})

/* Monotonic time in seconds. */
double api_now(void);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * futex.h - thin wrappers over the futex system call (private futexes only).
 * The primitives in this folder build every sleeping lock on these; nothing
 * else calls futex directly. Takes no locks.
 */
#ifndef PC_KERNEL_FUTEX_H
#define PC_KERNEL_FUTEX_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kernel/compiler.h"

/*
 * Sleep while *word == val. @abs_timeout is CLOCK_MONOTONIC, NULL for none.
 * Returns 0 on wake-up (or spurious return), -ETIMEDOUT, -EAGAIN if *word
 * already differed, -EINTR on a signal.
 */
static inline int futex_wait(uint32_t *word, uint32_t val, const struct timespec *abs_timeout)
{
	long r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, val, abs_timeout,
			 NULL, FUTEX_BITSET_MATCH_ANY);
	return r < 0 ? -errno : 0;
}

static inline void futex_wake(uint32_t *word, int nr)
{
	syscall(SYS_futex, word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, nr, NULL, NULL, 0);
}

static inline void timespec_add_ns(struct timespec *ts, uint64_t ns)
{
	ts->tv_sec += (time_t)(ns / 1000000000u);
	ts->tv_nsec += (long)(ns % 1000000000u);
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_nsec -= 1000000000L;
		ts->tv_sec++;
	}
}

static inline uint64_t ktime_get_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif

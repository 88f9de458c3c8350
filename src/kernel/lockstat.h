/* SPDX-License-Identifier: MIT */
/*
 * lockstat.h - lock classes and their contention statistics.
 *
 * Every lock type has one static struct lock_class_key (the kernel's idiom:
 * the key's address *is* the class). The key carries the class name and its
 * contention counters, which exist in every build: a sleeping acquisition
 * counts once, with the time it slept, per state (0 = exclusive/ADD,
 * 1 = shared/BLOCK). Uncontended acquisitions touch nothing shared.
 * Counters are atomics; the registry of keys is a lock-free push-only list.
 */
#ifndef PC_KERNEL_LOCKSTAT_H
#define PC_KERNEL_LOCKSTAT_H

#include <stdint.h>

#include "kernel/compiler.h"

struct lock_stats {
	uint64_t contended[2];
	uint64_t wait_ns[2];
	uint64_t max_wait_ns[2];
};

struct lock_class_key {
	const char *name;
	struct lock_stats stats;
	struct lock_class_key *next_registered;
	uint32_t registered;
};

#define DEFINE_LOCK_CLASS(var, nm) struct lock_class_key var = {.name = (nm)}

/* The contention of one set of locks, whatever their classes: an engine's
 * (struct mm_cache). A sleeping acquisition is added to the sink of the
 * task that slept (task->lock_sink, set by whoever runs work for the set:
 * the API's entry points, the fault path, the writeback thread). Atomics. */
struct lock_sink {
	uint64_t contended, wait_ns;
};

/* Accounts one sleep of @ns nanoseconds in state @state (0 or 1). */
void lockstat_contended(struct lock_class_key *key, int state, uint64_t ns);

/* Calls fn for each class that has ever been contended. */
void lockstat_for_each(void (*fn)(const struct lock_class_key *key, void *arg), void *arg);

/* Zeroes every class's counters (tests and benchmarks). */
void lockstat_reset(void);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * lockstat.c - contention counters per lock class. Lock-free: atomics on the
 * key, and a push-only registry list of contended classes.
 */
#include "kernel/lockstat.h"

static struct lock_class_key *registry;

static void lockstat_register(struct lock_class_key *key)
{
	uint32_t zero = 0;

	if (__atomic_load_n(&key->registered, __ATOMIC_ACQUIRE))
		return;
	if (!__atomic_compare_exchange_n(&key->registered, &zero, 1, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return;
	struct lock_class_key *head = __atomic_load_n(&registry, __ATOMIC_ACQUIRE);
	do {
		key->next_registered = head;
	} while (!__atomic_compare_exchange_n(&registry, &head, key, true, __ATOMIC_RELEASE,
					      __ATOMIC_ACQUIRE));
}

void lockstat_contended(struct lock_class_key *key, int state, uint64_t ns)
{
	struct lock_stats *s = &key->stats;
	uint64_t old;

	lockstat_register(key);
	__atomic_fetch_add(&s->contended[state], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->wait_ns[state], ns, __ATOMIC_RELAXED);
	old = __atomic_load_n(&s->max_wait_ns[state], __ATOMIC_RELAXED);
	while (ns > old && !__atomic_compare_exchange_n(&s->max_wait_ns[state], &old, ns, true,
							__ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void lockstat_for_each(void (*fn)(const struct lock_class_key *key, void *arg), void *arg)
{
	for (struct lock_class_key *k = __atomic_load_n(&registry, __ATOMIC_ACQUIRE); k;
	     k = k->next_registered)
		fn(k, arg);
}

void lockstat_reset(void)
{
	for (struct lock_class_key *k = __atomic_load_n(&registry, __ATOMIC_ACQUIRE); k;
	     k = k->next_registered) {
		for (int i = 0; i < 2; i++) {
			__atomic_store_n(&k->stats.contended[i], 0, __ATOMIC_RELAXED);
			__atomic_store_n(&k->stats.wait_ns[i], 0, __ATOMIC_RELAXED);
			__atomic_store_n(&k->stats.max_wait_ns[i], 0, __ATOMIC_RELAXED);
		}
	}
}

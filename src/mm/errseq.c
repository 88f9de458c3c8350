/* SPDX-License-Identifier: MIT */
/*
 * errseq.c - error sequence counters (the kernel's lib/errseq.c): one 32-bit
 * word per mapping records the latest writeback error, whether anybody has
 * seen it, and a counter that moves when a new error arrives after the last
 * one was seen. Each file keeps its own sample and so learns of every error
 * once. Lock-free: every update is a compare-and-swap on the word; no locks
 * taken or expected.
 */
#include <errno.h>
#include <stdbool.h>

#include "kernel/compiler.h"
#include "mm/errseq.h"

#define MAX_ERRNO      4095u
#define ERRSEQ_SHIFT   12 /* ilog2(MAX_ERRNO + 1) */
#define ERRSEQ_SEEN    (1u << ERRSEQ_SHIFT)
#define ERRSEQ_CTR_INC (1u << (ERRSEQ_SHIFT + 1))

errseq_t errseq_set(errseq_t *eseq, int err)
{
	errseq_t old = __atomic_load_n(eseq, __ATOMIC_RELAXED), next;

	/* Only real errnos: anything else would corrupt the counter bits. */
	if (err >= 0 || err < -(int)MAX_ERRNO)
		return old;
	for (;;) {
		next = (old & ~(MAX_ERRNO | ERRSEQ_SEEN)) | (errseq_t)-err;
		/* Only bump the counter if somebody saw the previous error. */
		if (old & ERRSEQ_SEEN)
			next += ERRSEQ_CTR_INC;
		if (next == old)
			break;
		if (__atomic_compare_exchange_n(eseq, &old, next, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			break;
	}
	return next;
}

TEST_SWITCH(errseq_test_sample_current);

errseq_t errseq_sample(errseq_t *eseq)
{
	errseq_t old = __atomic_load_n(eseq, __ATOMIC_ACQUIRE);

	/* An error nobody has seen yet is reported to the new sampler too. */
	if (!(old & ERRSEQ_SEEN) && !errseq_test_sample_current)
		old = 0;
	return old;
}

int errseq_check(errseq_t *eseq, errseq_t since)
{
	errseq_t cur = __atomic_load_n(eseq, __ATOMIC_ACQUIRE);

	if (likely((cur | ERRSEQ_SEEN) == (since | ERRSEQ_SEEN)))
		return 0;
	return -(int)(cur & MAX_ERRNO);
}

int errseq_check_and_advance(errseq_t *eseq, errseq_t *since)
{
	errseq_t old = __atomic_load_n(eseq, __ATOMIC_ACQUIRE), next;
	int err = 0;

	if (old != *since) {
		/* Mark it seen (so the next error bumps the counter), then report. */
		next = old | ERRSEQ_SEEN;
		if (next != old)
			__atomic_compare_exchange_n(eseq, &old, next, false, __ATOMIC_ACQ_REL,
						    __ATOMIC_RELAXED);
		*since = next;
		err = -(int)(next & MAX_ERRNO);
	}
	return err;
}

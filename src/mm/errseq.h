/* SPDX-License-Identifier: MIT */
/*
 * errseq.h - error sequence counters (the kernel's errseq_t): a writeback
 * error is recorded once in the mapping and reported once to every file that
 * sampled the counter before it, and never lost. Lock-free (one atomic word).
 *
 * Layout: bits 0-11 hold the negated errno, bit 12 "seen", bits 13-31 a
 * counter bumped when a new error is recorded after the last one was seen.
 */
#ifndef PC_MM_ERRSEQ_H
#define PC_MM_ERRSEQ_H

#include <stdbool.h>
#include <stdint.h>
#include "kernel/testswitch.h"

typedef uint32_t errseq_t;

/* Record -err (err < 0). Returns the new value. */
errseq_t errseq_set(errseq_t *eseq, int err);
/* Sample for a new file: errors before it are not reported to it, unless
 * nobody has seen them yet. */
errseq_t errseq_sample(errseq_t *eseq);
/* Tests: errseq_sample returns the current value even when nobody has seen
 * the error (a file opened after an unseen error is never told of it). */
DECLARE_TEST_SWITCH(errseq_test_sample_current);
/* 0 if no error since @since, else -errno. */
int errseq_check(errseq_t *eseq, errseq_t since);
/* As errseq_check, and move *since to now (marking the error seen). */
int errseq_check_and_advance(errseq_t *eseq, errseq_t *since);

#endif

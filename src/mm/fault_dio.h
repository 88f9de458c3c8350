/* SPDX-License-Identifier: MIT */
/*
 * fault_dio.h - the fault rule while a direct I/O write holds BLOCK of its
 * file's invalidate lock and faults its user buffer in (docs/design.md §7.5,
 * after bcachefs' faults_disabled_mapping).
 *
 * The DIO side (fs/direct.c, through mm/direct_io.h): dio_block_lock()
 * takes BLOCK in the validator subclass of "BLOCK held across user-memory
 * faults"; dio_fault_in_readable() (direct_io.c) brackets its user-mode
 * fault-in with fdm_begin(), which sets current->fdm and the DIO range, and
 * fdm_end(), which clears it and returns what the fault handler did
 * meanwhile (FDM_* bits).
 *
 * The fault side (mm/fault.c's fill path): fault_dio_lock_add() replaces
 * the plain ADD of a fill. With no fdm it is that ADD. With one:
 *   - the DIO's own file, a page inside the DIO range: the fault fails
 *     (FDM_SELF): the DIO copies that window through a bounce buffer;
 *   - the DIO's own file, outside the range: the fault gives BLOCK up for
 *     the rest of the fault-in (FDM_RELEASED; fdm cleared, so later faults
 *     are ordinary ones) and fills under ADD as any fault; the DIO takes
 *     BLOCK again, invalidates its range again and goes round;
 *   - another file at a higher address than the DIO's (lock order: two
 *     mappings in increasing address order, docs/design.md §5): block on its ADD;
 *   - at a lower address: trylock ADD; on failure drop our BLOCK, wait
 *     until ADD can be had, take BLOCK again, set current->fdm_dropped and
 *     fail the fault (FDM_DROPPED): the DIO invalidates again and goes
 *     round. That restart is task state, never an EFAULT (H6).
 * It returns true with ADD of @m held (the caller's unlock stays as it is),
 * false to fail the fault (SIGBUS: the fault-in comes back short).
 *
 * Locks: the DIO holds i_rwsem of its file (either mode) and BLOCK; the
 * fault side runs with the mm lock dropped (fault.c) and takes ADD / BLOCK
 * of the invalidate locks as above, nothing else.
 */
#ifndef PC_MM_FAULT_DIO_H
#define PC_MM_FAULT_DIO_H

#include <stdbool.h>
#include <stdint.h>

#include "mm/direct_io.h"
#include "mm/filemap.h"
#include "kernel/testswitch.h"

/* The validator subclass of a DIO's BLOCK (held across user faults). */
#define DIO_BLOCK_SUBCLASS 2

/* fdm_end() bits */
#define FDM_DROPPED  0x1 /* BLOCK was dropped and taken again: invalidate again */
#define FDM_RELEASED 0x2 /* BLOCK was given up and is NOT held now: take it again */
#define FDM_SELF     0x4 /* a fault on the DIO's own range was refused: bounce */

/* Before / after a user-mode fault-in of a DIO write holding BLOCK of @m;
 * [start, end] (bytes, inclusive) is what the DIO is writing. */
void fdm_begin(struct address_space *m, int64_t start, int64_t end);
unsigned fdm_end(void);

/* The fill path's ADD (see above). @index: the faulting page of @m. */
bool fault_dio_lock_add(struct address_space *m, pgoff_t index);

/* Test switch (H5): block on ADD whatever the address order (the rule's
 * trylock + drop-and-retry off): two DIOs between two files can deadlock. */
DECLARE_TEST_SWITCH(fault_dio_test_no_order);
/* Test switch (H4): a fault of the DIO's own file waits for ADD like any
 * other fault, under the DIO's own BLOCK: the DIO waits for itself. */
DECLARE_TEST_SWITCH(fault_dio_test_no_self_rule);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * direct_io.h - what direct I/O (fs/direct.c) asks of the page cache: one
 * entry point per step of its protocol (docs/design.md §7.5, H3-H6), with the
 * kernel's names where the kernel has the step:
 *
 *   read:  filemap_dio_write_and_wait (kiocb_write_and_wait)
 *   write: dio_block_lock / dio_block_trylock (BLOCK of the invalidate lock)
 *          -> filemap_range_has_page (NOWAIT) or filemap_dio_invalidate
 *          (kiocb_invalidate_pages, until the range is empty)
 *          -> dio_fault_in_readable (the user buffer faulted in under the
 *          DIO fault rule, mm/fault_dio.h) -> dio_block_unlock.
 *
 * Locks: the caller holds i_rwsem of the file (either mode); the write steps
 * after dio_block_lock run with BLOCK held (policy allowing), which
 * dio_fault_in_readable may drop and take again (it says so).
 */
#ifndef PC_MM_DIRECT_IO_H
#define PC_MM_DIRECT_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/filemap.h"

/* BLOCK of @m for a DIO write (policy allowing; validator subclass
 * DIO_BLOCK_SUBCLASS: held across user-memory faults). mm/fault_dio.c. */
void dio_block_lock(struct address_space *m);
void dio_block_unlock(struct address_space *m);
/* RWF_NOWAIT: BLOCK only if it is free or held as BLOCK. */
bool dio_block_trylock(struct address_space *m);

/* Is any page of [start, end] (bytes, inclusive) in the cache? */
bool filemap_range_has_page(struct address_space *m, int64_t start, int64_t end);

/* A DIO read's write-back of [start, end] (bytes, inclusive): with @nowait,
 * -EAGAIN if the file has dirty or writeback pages at all (no waiting),
 * else 0; otherwise the range written back and waited for (0 or -errno). */
int filemap_dio_write_and_wait(struct address_space *m, int64_t start, int64_t end, bool nowait);

/* A DIO write's invalidation of [start, end] (bytes, inclusive), BLOCK
 * held (no page can be added): write back and drop every page until none
 * is left (a page redirtied through a view is written back once more).
 * 0, -errno of the write-back, or -EBUSY if pages keep failing to go. */
int filemap_dio_invalidate(struct address_space *m, int64_t start, int64_t end);

/* dio_fault_in_readable() result bits */
#define DIO_FAULT_RETAKEN                                                      \
	0x1		   /* BLOCK was dropped or given up and is held again: \
			    * pages may have come in, invalidate again */
#define DIO_FAULT_SELF 0x2 /* a page of the write's own range was refused: bounce */

/*
 * Faults [p, p + len) in as loads for a DIO write holding BLOCK of @m and
 * writing [start, end] (bytes) of it, under the DIO fault rule
 * (mm/fault_dio.h). BLOCK is held again on return. *left: the bytes not
 * faulted in. Returns DIO_FAULT_* bits (0: an ordinary fault-in).
 */
unsigned dio_fault_in_readable(struct address_space *m, char *p, size_t len, int64_t start,
			       int64_t end, size_t *left);

#endif

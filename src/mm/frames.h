/* SPDX-License-Identifier: MIT */
/*
 * frames.h - the frame store of one address_space (private to the mm
 * layer): a memfd holding page i at offset i * PAGE_SIZE, and the engine's
 * "filler" view of it (docs/design.md §6.1). See frames.c.
 */
#ifndef PC_MM_FRAMES_H
#define PC_MM_FRAMES_H

#include <stddef.h>
#include <stdint.h>

#include "kernel/testswitch.h"
#include "mm/page.h"

struct frames;

/* Not a protection: the memfd is always grown by the child that a finite
 * RLIMIT_FSIZE needs (frames.c), so that tests reach that path without
 * lowering the limit. */
DECLARE_TEST_SWITCH(frames_test_grow_in_child);

/* A memfd and a first view sized for a file of @size bytes. */
int frames_create(struct frames **out, int64_t size);
/* Unmaps every view (current and retired) and closes the memfd. */
void frames_destroy(struct frames *f);
/* The filler address of frame @index, growing the memfd and the view as
 * needed. Lock-free when the current view covers @index. NULL with *err set
 * (-ENOMEM, -EFBIG past the largest file the views can cover). The address
 * stays valid until frames_destroy. */
void *frames_addr(struct frames *f, pgoff_t index, int *err);
/* The filler address of frame @index, which a page in the cache already has
 * (add_to_page_cache_locked got it from frames_addr): computed from the
 * current view, lock-free. Every later view maps at least what earlier ones
 * did, so the current view covers any frame ever handed out. */
void *frames_page_addr(struct frames *f, pgoff_t index);
/* Starts loading the first bytes (up to FRAMES_PREFETCH_MAX) of
 * [offset, offset + len) of frame @index into the cache, so that a read's
 * copy does not wait for them after the index walk: a prefetch (it never
 * faults, not even on a punched frame or past the memfd). No locks. */
#define FRAMES_PREFETCH_MAX 256u
void frames_prefetch(struct frames *f, pgoff_t index, size_t offset, size_t len);
/* Frees the memory of frames [index, index + nr) (fallocate PUNCH_HOLE):
 * every view, ours and the applications', sees zeroes there afterwards. */
int frames_punch_range(struct frames *f, pgoff_t index, unsigned long nr);
/* Allocates the memory of the frames at [addr, addr + len) in the filler
 * view in one call (MADV_POPULATE_WRITE) rather than one page fault per page
 * when they are first written; advice only (older kernels: nothing). */
void frames_populate(void *addr, size_t len);
/* The memfd (the fault layer maps application views of it). */
int frames_fd(const struct frames *f);
/* The address space @f's views reserve (all of them: an outgrown one stays
 * mapped). Lock-free. */
size_t frames_reserved_bytes(struct frames *f);
/* Frames the memfd covers now (its size / PAGE_SIZE). */
pgoff_t frames_nr(const struct frames *f);

#endif

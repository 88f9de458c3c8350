/* SPDX-License-Identifier: MIT */
/*
 * fault_internal.h - what the view registry and the two fault mechanisms
 * share (private to src/mm/vma.c and src/mm/fault*.c): the view record, the
 * process's view list and mm lock (vma.c), the filemap fault core
 * (fault.c), the userfaultfd mechanism's entry points (fault_uffd.c) and the
 * fallback mechanism's (fault_fallback.c).
 *
 * Locks: mm.lock ("mm_lock") as in vma.h. The fallback mechanism adds one
 * leaf mutex, "mm_fallback_lock", taken last (after the mm lock, a page lock
 * or i_mmap_rwsem): it guards every fallback view's per-page state, the count
 * of kernel VMAs those states need, and the list of fallback views. Only
 * mprotect/mmap system calls run under it.
 */
#ifndef PC_MM_FAULT_INTERNAL_H
#define PC_MM_FAULT_INTERNAL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "kernel/list.h"
#include "kernel/rwsem.h"
#include "mm/fill.h"
#include "mm/vma_index.h"

#define X86_PF_PROT  1ul /* the page was present: a protection fault */
#define X86_PF_WRITE 2ul

/* What the fault path knows of a fault (the kernel's vmf->flags, and the
 * orig_pte's present bit): FAULT_FLAG_WRITE, a store; FAULT_FLAG_PRESENT,
 * the page was mapped when the CPU faulted (the error code's P bit: on a
 * userfaultfd view, a write-protect fault of a store to a page mapped
 * read-only after writeback, not a missing page). Only a hint: the page may
 * have been unmapped or mapped meanwhile. */
#define FAULT_FLAG_WRITE   1u
#define FAULT_FLAG_PRESENT 2u

/* The caller's reference a view keeps (the file, for the API): shared by
 * the parts of a split view, handed back when the last part is unmapped
 * (the kernel's get_file at __split_vma, fput at remove_vma). */
struct vm_owner {
	void *owner;
	long refs; /* atomic: the views that share it */
};

struct vma {
	uintptr_t start, end; /* [start, end), page aligned */
	pgoff_t pgoff;	      /* file page at start */
	int prot, flags;
	bool wp; /* MAP_SHARED of a writable file: write-notify */
	bool shared;
	bool fallback; /* served by PROT_NONE + mprotect (fault_fallback.c) */
	struct address_space *mapping;
	struct vm_owner *owner;
	void *tag;
	/* atomic: faults, msyncs, madvises using the view without the mm
	 * lock; VMA_PIN_DEAD once munmap has seen none (no pin after that),
	 * or while split_vma changes the record */
	long pins;
	bool linked;		      /* in mm.index and mm.vma_tree (written under the mm lock) */
	struct mm_rcu_head rcu;	      /* the record's free, after a grace period */
	struct list_head mm_link;     /* mm.vmas, under the mm lock */
	struct list_head i_mmap_link; /* mapping->i_mmap, under i_mmap_rwsem */
	/* fallback only, under mm_fallback_lock */
	uint8_t *pte;		  /* per page: FB_* state | user prot << FB_PROT_SHIFT */
	long nvmas;		  /* kernel VMAs the view is split into now */
	struct list_head fb_link; /* fb.views */
	/* Fault-path readahead (fault.c; the kernel keeps these in the
	 * mapped file's f_ra): relaxed atomics, field by field. ra.prev_index
	 * is the last page of the run installed at the last fault. */
	struct file_ra_state ra;
	unsigned mmap_miss; /* misses minus hits: read-around stops above MMAP_LOTSAMISS */
	int advice;	    /* MADV_NORMAL, MADV_SEQUENTIAL or MADV_RANDOM */
};

/* Three cache lines: what every fault reads and nobody writes after
 * init; what mmap/munmap write; the RCU index's root (read by every fault,
 * written by every mmap/munmap: apart from the lock's line, so that a fault
 * does not miss on it while another thread takes and releases the lock). */
struct mm_state {
	int uffd;
	int init_err;
	struct rw_semaphore lock __attribute__((aligned(64))); /* "mm_lock" */
	struct list_head vmas;				       /* every view, newest first */
	void *vma_tree; /* the same views by address (tsearch: a red-black tree) */
	struct vma_index index __attribute__((aligned(64))); /* for lookups under RCU */
};
extern struct mm_state mm;
/* Fallback views alive (atomic, vma.c): the page-removal hook does nothing
 * at 0. */
extern long mm_fallback_views;

/* The view holding @addr, or NULL: O(log views). mm.lock held. */
struct vma *find_vma(uintptr_t addr);
/* The lowest view overlapping [s, e), or NULL (the kernel's find_vma
 * bounded by an end). mm.lock held. */
struct vma *find_vma_from(uintptr_t s, uintptr_t e);
/* -EINVAL if a view overlapping [s, e) is not @tag's (another engine's),
 * else 0. mm.lock held. */
int check_range_tag(uintptr_t s, uintptr_t e, void *tag);
/* The kernel's __split_vma (vma.c): @v keeps [v->start, @at), a new view
 * takes [@at, v->end) (found by find_vma). Mm lock exclusive held; waits
 * for @v's pins. 0 or -ENOMEM (nothing changed). */
int split_vma(struct vma *v, uintptr_t at);
/* The kernel's vma_merge after mprotect or madvise changed @v: @v and a
 * neighbour that is another part of the same mmap, contiguous in the file
 * and alike again (protection, advice) become one view. Returns the view
 * that now holds @v's range. Mm lock exclusive held; waits for the pins of
 * both. Without memory (a fallback view's page states) nothing merges. */
struct vma *vma_merge(struct vma *v);
/* Sets the process's fault state up once (vma.c); its error, or 0. */
int mm_ready(void);

/* A pin that munmap has closed off: set when the count is 0; cleared again
 * only by split_vma, under the mm lock exclusive, once the record is whole
 * again (a view being removed stays closed). */
#define VMA_PIN_DEAD (1l << 62)
/* The view holding @addr, pinned (vma_unpin), or NULL: the kernel's
 * lock_vma_under_rcu. No mm lock: the view is found in mm.index under RCU,
 * pinned unless munmap has closed it (VMA_PIN_DEAD), and checked again to
 * be linked and to hold @addr. NULL on any doubt (a tombstone, a view
 * being unmapped): the caller looks again with vma_lookup_pin. */
struct vma *lock_vma_under_rcu(uintptr_t addr);
/* lock_vma_under_rcu, and when it finds nothing, find_vma under the mm
 * lock shared (counted in mm_vma_locked_lookups) and a pin: the fault
 * path's lookup. Nothing held on return. */
struct vma *vma_lookup_pin(uintptr_t addr);
/* Pins @v found under the mm lock (it is linked, so not dead). */
static inline void vma_pin(struct vma *v)
{
	__atomic_fetch_add(&v->pins, 1, __ATOMIC_ACQUIRE);
}
static inline void vma_unpin(struct vma *v)
{
	__atomic_fetch_sub(&v->pins, 1, __ATOMIC_RELEASE);
}
/* Fault-path lookups that fell back to the mm lock (atomic; tests, bench). */
extern uint64_t mm_vma_locked_lookups;

static inline pgoff_t vma_index(const struct vma *v, uintptr_t addr)
{
	return v->pgoff + ((addr - v->start) >> PAGE_SHIFT);
}

static inline pgoff_t vma_pages(const struct vma *v)
{
	return (v->end - v->start) >> PAGE_SHIFT;
}

pgoff_t eof_pages(struct address_space *m);

/* The fault core (fault.c): @v pinned, no mm lock (unless the H7 test
 * switch takes it); @flags: FAULT_FLAG_*. The page uptodate under ADD + page
 * lock, dirtied for a write to a write-notify view, installed. false: SIGBUS
 * (EOF, I/O error). */
bool fault_fill(struct vma *v, uintptr_t addr, unsigned int flags);
/* @v pinned by the caller, no mm lock: fault_fill (under the file
 * system's fault lock when it has one). */
bool fault_slow(struct vma *v, uintptr_t addr, unsigned int flags);
/* Installs uptodate neighbours of @addr: the aligned block around it
 * (FAULT_AROUND_UFFD pages, FAULT_AROUND for a fallback view), or, when
 * access is sequential, up to FAULT_AROUND_SEQ pages from it; stops short
 * of a PG_readahead page (its access must fault to start the next window).
 * Returns how many count as hits (fault.c: those in the FAULT_AROUND block,
 * all of a sequential fault's). @v pinned. */
unsigned fault_around(struct vma *v, uintptr_t addr);
/* The fault on the cached, uptodate @page at @addr of @v installed it:
 * counts the hits (a read: the page and fault-around's, against mmap_miss)
 * and starts the next readahead window at a PG_readahead page; drops the
 * caller's reference on @page. Both mechanisms (fault.c). @v pinned, no
 * lock held. */
void fault_cached_hit(struct vma *v, uintptr_t addr, struct page *page, bool write);
/* A read fault on a page not cached: fault-around first, its pages counted
 * as hits (fault.c). @v pinned, no lock held. */
void fault_miss_around(struct vma *v, uintptr_t addr);
/* Sets @v's ra_pages and advice at mm_map (vma.c). */
void fault_ra_init(struct vma *v);

/* The fault hook (uaccess_set_fault_hook, installed by vma.c): true if the
 * fault was on one of our views and is served. */
bool mm_fault(int sig, siginfo_t *si, void *ucv);

/* Reports (validator) a page lock, invalidate lock or i_mmap_rwsem held by
 * the faulting thread at fault entry (docs/design.md §7.7). */
void fault_assert_nothing_forbidden(void);

/* ---- the userfaultfd mechanism (fault_uffd.c) ---- */

/* The process's userfaultfd (SIGBUS mode, user-mode-only), or -1. */
int uffd_open(void);
/* ioctl on mm.uffd, retried on EAGAIN: 0 or -errno. */
int uffd_ioctl(unsigned long req, void *arg);
/* Registers @v with the userfaultfd: 0, or -errno (-ENODEV: the kernel
 * cannot serve this view). */
int uffd_register(struct vma *v);
/* Unregisters @v (mm_map's failure path; munmap alone drops it too). */
void uffd_unregister(struct vma *v);
/* Installs page @addr (aligned) of @v: writable if @writable, else read-only
 * (write-protected where @v->wp). @present: the fault found the page mapped
 * (FAULT_FLAG_PRESENT): a writable install of a write-notify view then
 * lifts the write protection with one UFFDIO_WRITEPROTECT instead of a
 * UFFDIO_CONTINUE that fails with -EEXIST first. 0 or -errno (-EFAULT:
 * faults again). */
int uffd_install(struct vma *v, uintptr_t addr, bool writable, bool present);
/* Installs the run [start, end) of uptodate pages (fault-around). */
void uffd_install_run(struct vma *v, uintptr_t start, uintptr_t end);
/* Write-protects [addr, addr + len) of @v, one ioctl (writeback). */
void uffd_mkclean(struct vma *v, uintptr_t addr, size_t len);
/* The child of fork(): a userfaultfd of its own. */
void uffd_atfork_child(void);

/* ---- the fallback mechanism (fault_fallback.c) ---- */

/* Sets up @v (mapped at v->start, fresh) as a fallback view: every page
 * PROT_NONE. -ENOMEM when the VMA budget would not allow it. */
int fb_map(struct vma *v);
/* Forgets @v (before it is unmapped). */
void fb_unmap(struct vma *v);
/* split_vma of a fallback view: @v is cut at @at; @hi (the part from @at,
 * not yet visible to faults, its pte array of vma_pages(hi) bytes
 * allocated) takes the page states of its pages, both get their VMA counts.
 * v->end is set here, under mm_fallback_lock (collapse walks every view).
 * fb_unsplit undoes it (hi never became visible). */
void fb_split(struct vma *v, struct vma *hi, uintptr_t at);
void fb_unsplit(struct vma *v, struct vma *hi);
/* merge_vma's part (vma.c): @hi's pages join @v, whose page states move to
 * @pte (room for both, allocated by the caller); @hi leaves the fallback
 * views. */
void fb_merge(struct vma *v, struct vma *hi, uint8_t *pte);
/* The child of fork(): no fallback views. */
void fb_atfork_child(void);
/* SIGSEGV/SIGBUS raised by an access (@write: a store) to fallback view
 * @v: true if served. @v pinned by the caller; no mm lock. */
bool fb_fault(struct vma *v, uintptr_t addr, int sig, bool write);
/* Makes page @addr of @v accessible: read-only, or writable if @writable.
 * Page locked (or the page's frame otherwise known not to go away). */
int fb_install(struct vma *v, uintptr_t addr, bool writable);
/* Takes [a, a + len) of @v back to PROT_NONE (the next access faults);
 * pages a private view has copied keep their access unless @even_cows. */
void fb_protect_none(struct vma *v, uintptr_t a, size_t len, bool even_cows);
/* Write-protects the writable pages of [a, a + len) of @v, one mprotect
 * per run of them (writeback). */
void fb_mkclean(struct vma *v, uintptr_t a, size_t len);
/* The user's mprotect of [a, a + len) of @v. */
int fb_mprotect(struct vma *v, uintptr_t a, size_t len, int prot);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * vma.h - the process's mappings of cached files (docs/design.md §6, §7.7) and
 * the fault handler that serves them (the registry vma.c, the fault core
 * fault.c, the mechanisms fault_uffd.c and fault_fallback.c).
 *
 * A MAP_SHARED view is a MAP_SHARED mapping of the file's memfd (frames.c),
 * registered with one userfaultfd (SIGBUS mode, user-mode-only) for MISSING |
 * MINOR, plus WP when the file is writable: every first access of a page raises SIGBUS in
 * the faulting thread, and the fault hook (uaccess_set_fault_hook) makes the
 * page uptodate in the cache and installs it (UFFDIO_CONTINUE). Such
 * shared views install pages write-protected until a write fault dirties the
 * page (page_mkwrite); writeback write-protects a page in every view again
 * before writing it (mm_page_mkclean). A MAP_PRIVATE view is a
 * MAP_PRIVATE mapping of the same memfd, registered MISSING | MINOR: pages
 * are installed read-only (UFFDIO_CONTINUE) and show the file until a store
 * makes the kernel copy the page (COW); copies are never written back, are
 * dropped by MADV_DONTNEED and by truncate beyond the new EOF
 * (unmap_mapping_pages with even_cows), kept by a hole punch.
 * Without a usable userfaultfd, or when the engine asks for it, views use
 * the fallback mechanism (fault_fallback.c): PROT_NONE pages, SIGSEGV, the
 * same fault core, mprotect to install.
 *
 * Locks: the mm lock (class "mm_lock", mmap_lock_key): exclusive to add,
 * split or remove a view, shared to find one for msync/madvise; the fault path finds
 * its view under RCU and pins it, with no mm lock (lock_vma_under_rcu); the
 * mm lock is never held across store I/O (H7). i_mmap_rwsem of the file: exclusive to link/unlink a
 * view, shared to walk them (write-protect). Views are MADV_DONTFORK: a forked child has no mapping
 * at those addresses.
 */
#ifndef PC_MM_VMA_H
#define PC_MM_VMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/page.h"
#include "kernel/testswitch.h"

struct address_space;

/* Fault mechanisms (the values of enum pc_fault_mechanism). */
enum { MM_FAULT_AUTO = 0, MM_FAULT_UFFD = 1, MM_FAULT_FALLBACK = 2 };

/*
 * Maps @len bytes of @m from @off (page aligned). @prot: PROT_READ [|
 * PROT_WRITE]; @flags: MAP_SHARED or MAP_PRIVATE. @may_write: the file is
 * open for writing (a shared view is then registered for write-notify, so
 * mm_protect can make it writable later). @mech: MM_FAULT_* (AUTO: the
 * userfaultfd where the kernel offers it, else the fallback). @owner is kept
 * with the view (the caller's reference to the file) and handed back by
 * mm_unmap; @tag names the caller (the engine) for mm_unmap_one_tagged.
 * 0 with *addr set, or -errno (-ENODEV: userfaultfd unavailable and @mech
 * UFFD; -ENOMEM: the fallback's VMA budget is spent).
 */
int mm_map(struct address_space *m, size_t len, int prot, int flags, int64_t off, bool may_write,
	   int mech, void *tag, void *owner, void **addr);
/* munmap of [addr, addr + len) (len rounded up to pages), as Linux's: every
 * view of @tag inside the range goes; a view partly inside is split
 * (split_vma, the kernel's __split_vma) and its parts outside stay mapped
 * with their pages, protection and dirty state. A range with no view in it
 * is not an error. @put(@tag, owner) is called, with no lock held, for each
 * owner passed to mm_map whose view has no part left. 0; -EINVAL for an
 * unaligned @addr, @len 0, a range that wraps, or a range holding a view
 * mapped with another tag (another engine's: nothing is unmapped);
 * -ENOMEM if a split cannot allocate (views inside the range may then be
 * split, none is unmapped). Host mappings in the range that are not views
 * are left alone. The calls below also take the caller's @tag: a range in a
 * view mapped with another tag is -EINVAL. */
int mm_unmap(void *addr, size_t len, void *tag, void (*put)(void *tag, void *owner));
/* The mechanism a view asking for @mech gets now: MM_FAULT_UFFD or
 * MM_FAULT_FALLBACK, -ENODEV for UFFD without a usable userfaultfd. */
int mm_fault_mechanism(int mech);
/* Unmaps views mapped with @tag until one hands its owner back (its last
 * part) and returns that owner; NULL when none is left (pc_engine_close
 * unmaps an engine's views this way). */
void *mm_unmap_one_tagged(void *tag);
/* msync: MS_SYNC writes back and waits, MS_ASYNC starts writeback,
 * MS_INVALIDATE alone does nothing (views are coherent with the cache).
 * The range may cover parts of several views (each is synced); -ENOMEM if
 * some of it is not a view: MS_ASYNC stops at the first hole, the others
 * sync every view in the range first (Linux's msync). */
int mm_sync(void *addr, size_t len, int flags, void *tag);

/* mprotect of [addr, addr + len): PROT_NONE, PROT_READ [| PROT_WRITE].
 * Every view in the range is changed, a view partly inside it split
 * (split_vma) so that only its part inside changes, and parts of one mmap
 * alike again merged back (vma_merge), as Linux's mprotect.
 * -EACCES: PROT_WRITE on a shared view of a file not open for writing;
 * -ENOMEM: a hole in the range. Either stops the walk there, the views
 * before it changed. Pages stay write-protected for write-notify whatever
 * the protection. */
int mm_protect(void *addr, size_t len, int prot, void *tag);

/* madvise: MADV_NORMAL, MADV_SEQUENTIAL, MADV_RANDOM (the fault path's
 * readahead: read-around, readahead from the fault, none; a view partly in
 * the range is split so that only its part inside takes the advice),
 * MADV_WILLNEED (readahead of the range), MADV_DONTNEED (unmap the range
 * from the view: the next access faults; a private view loses its copies
 * and sees the file again), MADV_POPULATE_READ/WRITE (fault the range in,
 * as loads / as stores: -EFAULT where a SIGBUS would be raised, -EINVAL
 * for POPULATE_WRITE on a view without PROT_WRITE). The range may cover
 * parts of several views; -ENOMEM if some of it is not a view (POPULATE
 * stops at the first hole, the others advise every view in the range
 * first, as Linux's madvise). */
int mm_advise(void *addr, size_t len, int advice, void *tag);

/*
 * Does any view (of any engine in the process) overlap [addr, addr + len)?
 * What O_DIRECT reads ask before re-dirtying the pages they read into: only
 * a view page can have been cleaned by writeback while the store wrote into
 * it. No lock when the process has no view at all (an atomic count), else
 * the mm lock shared around one tree lookup; the answer holds for views
 * mapped before the call (a view mapped or unmapped meanwhile is the
 * caller's race, as a munmap during the I/O would be). Call with no lock
 * that may not be taken before the mm lock (i_rwsem, a glock: as a fault).
 */
bool mm_range_has_view(const void *addr, size_t len);
/* Test switch: mm_range_has_view always answers false (an O_DIRECT read
 * into a view then leaves a page that writeback cleaned during the store
 * read clean, its new bytes never written back: test_dio_redirty). */
DECLARE_TEST_SWITCH(mm_test_range_never_view);

/* Writeback (writepage), page locked, dirty bit just cleared: write-protect
 * the page in every writable shared view so the next store re-dirties it. */
struct page;
void mm_page_mkclean(struct page *page);
/* The same for file pages [start, start + nr) of @m, all locked by the
 * caller (write_cache_pages' run of dirty pages): one write-protect
 * operation per view (per run of writable pages in a fallback view), as the
 * kernel's folio_mkclean of a large folio. */
void mm_mkclean_range(struct address_space *m, pgoff_t start, pgoff_t nr);
/* Write-protect operations issued by writeback (UFFDIO_WRITEPROTECT ioctls,
 * fallback mprotect runs): atomic, for tests and benchmarks. */
extern uint64_t mm_writeprotect_ops;

/*
 * Removes file pages [start, start + nr) of @m from every view, as the
 * kernel's unmap_mapping_pages: the next access faults. Called before their
 * frames are punched (page removal: only fallback views need it, the punch
 * itself unmaps the others) and, with @even_cows, by truncate for the pages
 * beyond the new EOF: private views then lose their copies of those too, as
 * Linux's truncate does (a hole punch keeps them). i_mmap_rwsem shared
 * inside: call with no lock below the page lock held.
 */
void unmap_mapping_pages(struct address_space *m, pgoff_t start, pgoff_t nr, bool even_cows);

/* Test switch (H7): the fault path keeps the mm lock across the fill. */
DECLARE_TEST_SWITCH(mm_fault_test_keep_mm_lock);
/* Test switch: fault-path read-around never stops for random access (the
 * mmap_miss count is ignored): every cold random fault reads a window. */
DECLARE_TEST_SWITCH(mm_fault_test_no_mmap_miss);
/* Test knob: the most kernel VMAs fallback views may use together (0: the
 * default, a quarter of vm.max_map_count). Set before mapping. */
DECLARE_TEST_KNOB(long, mm_fallback_test_vma_budget);
/* Test switch: a fallback view's fault on a cached page counts no hits
 * against mmap_miss and starts no readahead window at a PG_readahead page,
 * and its misses map no cached neighbours first (the fault path before
 * this was shared with userfaultfd views): sequential access there ends
 * up missing page by page once read-around stops (test_mmap_ra). */
DECLARE_TEST_SWITCH(mm_fault_test_fb_no_hits);
/* Test switch: a store to a page mapped write-protected in a userfaultfd
 * view tries UFFDIO_CONTINUE first (-EEXIST), then UFFDIO_WRITEPROTECT: two
 * ioctls where one does (fault_uffd.c). */
DECLARE_TEST_SWITCH(mm_uffd_test_continue_first);
#ifdef PC_TEST_SWITCHES
/* Test builds: ioctls uffd_install issued (UFFDIO_CONTINUE and
 * UFFDIO_WRITEPROTECT of faulting pages, not fault-around's runs nor
 * writeback's write-protects): atomic, for tests. */
extern uint64_t mm_uffd_install_ioctls;
#endif
/* Test switch: mm_sync/mm_protect/mm_advise take a view of any tag (another
 * engine's view is then synced, protected, advised through this one). */
DECLARE_TEST_SWITCH(mm_test_any_tag);
/* Test switch: find_vma walks the list of views instead of the tree (the
 * reference the tree is checked against; 65 us a fault at 100k views). */
DECLARE_TEST_SWITCH(mm_test_vma_list_lookup);
/* madvise(MADV_WILLNEED) reads ahead without the mapping's fault_lock hook
 * (cluster mode: with no glock; tests/cluster/test_glock_ops). */
DECLARE_TEST_SWITCH(mm_test_willneed_no_fault_lock);
/* Test switch: lock_vma_under_rcu pins the view it found without the
 * dead check and without checking again that it is linked and holds the
 * address: a lookup racing with munmap hands back a view being torn down
 * (use after unmap, then after free). */
DECLARE_TEST_SWITCH(vma_test_no_pin_recheck);
/* Test switch: the fault path looks its view up under the mm lock shared
 * (find_vma), as before the RCU lookup: a fault then waits for an mmap or
 * munmap elsewhere (and for a holder of the mm lock). */
DECLARE_TEST_SWITCH(vma_test_locked_lookup);
/* Test knob: called by lock_vma_under_rcu between finding a view under RCU
 * and pinning it (a test makes munmap run there). */
struct vma;
typedef void (*vma_lookup_hook_fn)(struct vma *v);
DECLARE_TEST_KNOB(vma_lookup_hook_fn, vma_test_lookup_hook);
/* Test switch: split_vma (a munmap of part of a view) changes the view's
 * record without waiting for its pins first: a fault that pinned the view
 * then runs on a record whose range shrank under it (test_munmap_partial
 * split_waits_for_pinned_fault). */
DECLARE_TEST_SWITCH(vma_test_split_no_drain);
/* Test knob: called by the fault hook with the view found and pinned,
 * before the fault is served (signal context: async-signal-safe calls
 * only). */
typedef void (*vma_fault_hook_fn)(struct vma *v, uintptr_t addr);
DECLARE_TEST_KNOB(vma_fault_hook_fn, vma_test_fault_hook);
/* Test switch: mprotect and madvise(NORMAL/SEQUENTIAL/RANDOM) of part of
 * a view change the whole view's record (v->prot, v->advice) without
 * splitting it, as before split_vma served them: the part outside the range
 * then has the wrong protection or advice on record (test_munmap_partial
 * mprotect_middle_splits: MADV_POPULATE_WRITE of a writable part refused). */
DECLARE_TEST_SWITCH(mm_test_modify_no_split);
/* Test switch: mprotect and madvise leave the parts of a view split even
 * when they are alike again (no vma_merge): the records pile up
 * (test_vma_calls protect_back_merges). */
DECLARE_TEST_SWITCH(vma_test_no_merge);
/* Waits of munmap/split_vma for a view's pins to drain (atomic; tests). */
extern uint64_t mm_vma_drain_waits;
/* Kernel VMAs the fallback views use now (for tests). */
long mm_fallback_vmas(void);

#endif

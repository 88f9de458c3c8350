/* SPDX-License-Identifier: MIT */
/*
 * fault.c - the filemap fault core of mappings of cached files (vma.h):
 * the fault hook, fault-around and the fill path, shared by both fault
 * mechanisms (fault_internal.h): the userfaultfd one (fault_uffd.c) and
 * the fallback (PROT_NONE + mprotect, fault_fallback.c). The views
 * themselves are registered in vma.c.
 *
 * The fault hook runs in the faulting thread, in signal context, for a
 * SIGBUS/SIGSEGV the CPU raised (never for a fault of a nofault copy:
 * uaccess.c fixes those up before calling us). It first asserts that the
 * thread holds no page lock, invalidate lock or i_mmap_rwsem (a fault with
 * faults enabled under those deadlocks: validator report). It takes only our
 * own locks, which the interrupted instruction (an application load or
 * store, or one of our faulting copies, run with no engine lock but i_rwsem)
 * cannot hold. It uses no stdio; the one allocation it can reach is the
 * per-thread task of a thread that never called the engine (get_current),
 * which is safe here because the interrupted code is a load or store of our
 * view, never inside the allocator.
 *
 * Sequence (docs/design.md §7.7): find the view and pin it with no mm lock
 * (lock_vma_under_rcu, vma.c: an RCU lookup in the views' index and a pin
 * that munmap's teardown refuses; on any doubt, find_vma under the mm lock
 * shared, pin, drop; not ours: return false, the hook chains) → page
 * beyond EOF: false (SIGBUS) → page uptodate and a read (or a view without
 * write-notify): install it and its uptodate neighbours (fault-around),
 * done, unless it carried PG_readahead: then read the next window
 * (do_async_mmap_readahead) → else (H7: store I/O never runs under the mm
 * lock, which is not held) a miss reads ahead first
 * (do_sync_mmap_readahead: read-around, or from the fault for
 * MADV_SEQUENTIAL; none once mmap_miss says access is random; the runs
 * of the window this fault does not need are read by the readahead
 * workers, readahead_worker.c), ADD →
 * (write: the block's delayed-allocation reservation, store_reserve;
 * -ENOSPC: SIGBUS) → page lock → fill → (write: set_page_dirty =
 * page_mkwrite) → install → unlock → fault-around of what was read →
 * unpin. munmap (vma.c) unlinks the view under the mm lock exclusive and
 * waits for its pins to drain before unmapping it: the pin is what keeps a
 * view (its record, host mapping and fields) alive under a fault.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "kernel/lockdep.h"
#include "kernel/rwsem.h"
#include "mm/fault_dio.h"
#include "mm/fill.h"
#include "kernel/task.h"
#include "mm/fault_internal.h"
#include "mm/uaccess.h"
#include "mm/vma.h"

/* Fault-around (the kernel's fault_around_bytes, do_fault_around): the
 * aligned block around a read fault whose uptodate cached pages are mapped
 * with it, read-only. The kernel's is 64 KiB (16 pages): its minor fault
 * costs about 0.5 us. Ours costs a signal round trip (several us) plus one
 * UFFDIO_CONTINUE per run, so a userfaultfd view maps an eight times larger
 * block (512 KiB): random first touches over a cached range then take one
 * fault per 128 pages instead of 16 (bench_fault "read rand"). Fallback
 * views keep 16: each page there is an mprotect and counts against the VMA
 * budget. Pages that are not uptodate (absent, being read) are skipped:
 * fault-around never waits and never reads. */
#define FAULT_AROUND	  16  /* pages: fallback views */
#define FAULT_AROUND_UFFD 128 /* pages: userfaultfd views */
#define FAULT_AROUND_SEQ  128 /* pages ahead of a sequential fault */
#define FAULT_AROUND_RUN  128 /* pages per UFFDIO_CONTINUE at most */
#define MMAP_LOTSAMISS	  100 /* the kernel's: read-around stops above */

TEST_SWITCH(mm_fault_test_keep_mm_lock);
TEST_SWITCH(mm_fault_test_no_mmap_miss);
TEST_KNOB(vma_fault_hook_fn, vma_test_fault_hook);

/* Makes @page visible at @addr in @v: writable if @writable (a dirtied
 * page of a write-notify view, or a store to a private view: the kernel
 * copies it), else read-only (write-protected where @v->wp; a private view's
 * store then copies it). 0, or -errno (-EFAULT: the frame went away
 * meanwhile; the access faults again). Fallback views: page locked. */
static int install_page(struct vma *v, uintptr_t addr, struct page *page, bool writable,
			bool present)
{
	(void)page;
	addr &= ~(uintptr_t)(PAGE_SIZE - 1);
	if (v->fallback)
		return fb_install(v, addr, writable);
	return uffd_install(v, addr, writable, present);
}

pgoff_t eof_pages(struct address_space *m)
{
	int64_t size = i_size_read(m);
	return (pgoff_t)((size + (int64_t)PAGE_SIZE - 1) >> PAGE_SHIFT);
}

void fault_ra_init(struct vma *v)
{
	v->ra.ra_pages = v->mapping->cache->fault_ra_pages;
	v->ra.prev_index = (pgoff_t)-1;
	v->advice = MADV_NORMAL;
}

/* Access looks sequential: MADV_SEQUENTIAL, or the fault is on the page
 * right after the run installed at the previous fault. */
static bool fault_sequential(struct vma *v, pgoff_t index)
{
	return READ_ONCE(v->advice) == MADV_SEQUENTIAL || index == READ_ONCE(v->ra.prev_index) + 1;
}

/* Fallback view: page @addr (aligned) accessible again if still uptodate. */
static void fb_reinstall(struct vma *v, uintptr_t addr)
{
	struct page *p = find_get_page(&v->mapping->i_pages, vma_index(v, addr));

	if (!p)
		return;
	if (trylock_page(p)) {
		if (p->mapping == v->mapping && PageUptodate(p))
			(void)install_page(v, addr, p, false, false);
		unlock_page(p);
	}
	put_page(p);
}

/* Of @nr pages from @start, how many lie in the kernel-sized (FAULT_AROUND)
 * aligned block around @page_addr. */
static unsigned in_block(uintptr_t start, unsigned nr, uintptr_t page_addr)
{
	uintptr_t lo = page_addr & ~(uintptr_t)(FAULT_AROUND * PAGE_SIZE - 1);
	uintptr_t hi = lo + FAULT_AROUND * PAGE_SIZE, end = start + nr * PAGE_SIZE;

	if (start < lo)
		start = lo;
	if (end > hi)
		end = hi;
	return end > start ? (unsigned)((end - start) >> PAGE_SHIFT) : 0;
}

/* Read fault-around: install uptodate cached neighbours of @addr (@v
 * pinned; no page lock: a page truncated meanwhile has its frame
 * punched, which unmaps it again. A uffd view maps each run of uptodate
 * neighbours with one call, holding a reference on each page of the run
 * across it. A fallback view takes each page's lock by trylock: the
 * removal hook must see the page it protects). A PG_readahead page is left
 * unmapped, and nothing after it, as filemap_map_pages does: its access
 * must fault to start the next readahead window. Returns the pages it
 * installed that count as hits for mmap_miss: all of them for a sequential
 * fault, else those inside the kernel-sized 16-page block (the larger block
 * of a userfaultfd view must not make random access look like hits: the
 * read-around would never stop, test_mmap_ra random_access_stops_read_around). */
unsigned fault_around(struct vma *v, uintptr_t addr)
{
	uintptr_t page_addr = addr & ~(uintptr_t)(PAGE_SIZE - 1);
	pgoff_t index = vma_index(v, page_addr), seq_end = index;
	bool seq = fault_sequential(v, index), gap = false;
	uintptr_t from, to;
	pgoff_t eof = eof_pages(v->mapping);
	struct page *run[FAULT_AROUND_RUN];
	uintptr_t run_start = 0;
	unsigned nr = 0, installed = 0;

	if (seq) { /* ahead of the fault only, further */
		from = page_addr;
		to = page_addr + FAULT_AROUND_SEQ * PAGE_SIZE;
	} else {
		uintptr_t block = (v->fallback ? FAULT_AROUND : FAULT_AROUND_UFFD) * PAGE_SIZE;

		from = page_addr & ~(block - 1);
		to = from + block;
	}
	if (from < v->start)
		from = v->start;
	if (to > v->end || to < from)
		to = v->end;
	for (uintptr_t a = from;; a += PAGE_SIZE) {
		struct page *p = NULL;
		bool more = a < to && vma_index(v, a) < eof, took = false;

		if (more && a != page_addr)
			p = find_get_page(&v->mapping->i_pages, vma_index(v, a));
		if (p && PageReadahead(p)) {
			put_page(p); /* the next window starts here: stop */
			p = NULL;
			more = false;
		}
		if (p && !v->fallback && PageUptodate(p)) {
			if (!nr)
				run_start = a;
			run[nr++] = p;
			took = true;
		}
		if (nr && (!took || nr == FAULT_AROUND_RUN || !more)) {
			uffd_install_run(v, run_start, run_start + nr * PAGE_SIZE);
			installed += seq ? nr : in_block(run_start, nr, page_addr);
			while (nr)
				put_page(run[--nr]);
		}
		if (p && !took && v->fallback && trylock_page(p)) {
			long vmas = mm_fallback_vmas();

			if (p->mapping == v->mapping && PageUptodate(p) &&
			    !install_page(v, a, p, false, false)) {
				took = true;
				installed++;
			}
			unlock_page(p);
			if (mm_fallback_vmas() < vmas) {
				/* Over the VMA budget the view went back to
				 * PROT_NONE, the faulting page with it: give
				 * that one back and stop (or it faults again,
				 * forever). */
				fb_reinstall(v, page_addr);
				more = false;
			}
		}
		if (p && (v->fallback || !took)) /* uffd: the run holds it */
			put_page(p);
		if (a > page_addr && more && !gap) {
			if (took)
				seq_end = vma_index(v, a);
			else
				gap = true;
		}
		if (!more)
			break;
	}
	/* Where a sequential reader's next fault will be: right after this. */
	WRITE_ONCE(v->ra.prev_index, seq_end);
	return installed;
}

/* A fault on a cached page, or fault-around, used @n pages the fault
 * path's readahead (or the cache) provided: the kernel's mmap_miss
 * bookkeeping of hits. */
static void mmap_hits(struct vma *v, unsigned n)
{
	unsigned miss = READ_ONCE(v->mmap_miss);

	if (miss)
		WRITE_ONCE(v->mmap_miss, miss > n ? miss - n : 0);
}

/*
 * The kernel's do_sync_mmap_readahead: the page at @index missed. Nothing
 * held. MADV_RANDOM: none. MADV_SEQUENTIAL: a readahead window from the
 * fault. Otherwise read-around (ra_pages centred on the fault, the async
 * mark a quarter from its end) while hits keep up with misses: mmap_miss
 * counts misses and fault-around/cached hits take it down; above
 * MMAP_LOTSAMISS (random access) only the faulting page is read.
 */
static void fault_sync_readahead(struct vma *v, pgoff_t index)
{
	int advice = READ_ONCE(v->advice);
	unsigned miss;

	if (advice == MADV_RANDOM || !READ_ONCE(v->ra.ra_pages))
		return;
	if (advice == MADV_SEQUENTIAL) {
		page_cache_fault_readahead(v->mapping, &v->ra, index, false);
		return;
	}
	miss = READ_ONCE(v->mmap_miss);
	if (miss < MMAP_LOTSAMISS * 10)
		WRITE_ONCE(v->mmap_miss, ++miss);
	if (miss > MMAP_LOTSAMISS && !READ_ONCE(mm_fault_test_no_mmap_miss))
		return;
	page_cache_read_around(v->mapping, &v->ra, index);
}

/* The kernel's do_async_mmap_readahead: a fault reached the PG_readahead
 * page at @index (its mark already cleared): read the next window. Nothing
 * held. */
static void fault_async_readahead(struct vma *v, pgoff_t index)
{
	if (READ_ONCE(v->advice) == MADV_RANDOM)
		return;
	page_cache_fault_readahead(v->mapping, &v->ra, index, true);
}

/* The fault on the cached, uptodate @page at @addr of @v (pinned) installed
 * it: the page's hit and fault-around's count against mmap_miss (a read),
 * and a PG_readahead page starts the next window (do_async_mmap_readahead).
 * Drops the caller's reference on @page. No lock held (H7). */
void fault_cached_hit(struct vma *v, uintptr_t addr, struct page *page, bool write)
{
	bool marker = PageReadahead(page) && TestClearPageReadahead(page);

	put_page(page);
	if (!write)
		mmap_hits(v, 1 + fault_around(v, addr));
	if (marker)
		fault_async_readahead(v, vma_index(v, addr));
}

/* A read fault on a page not cached: first map the neighbours already
 * cached and count them as hits, as do_read_fault's fault-around before
 * filemap_fault does (random access that lands near earlier windows keeps
 * its read-around). @v pinned, no lock held. */
void fault_miss_around(struct vma *v, uintptr_t addr)
{
	mmap_hits(v, fault_around(v, addr));
}

/* The slow path (fault_internal.h). */
bool fault_fill(struct vma *v, uintptr_t addr, unsigned int flags)
{
	bool write = flags & FAULT_FLAG_WRITE;
	struct address_space *m = v->mapping;
	pgoff_t index = vma_index(v, addr);
	struct page *page;
	bool ok = false, around = false;
	int err = 0;

	page = find_get_page(&m->i_pages, index);
	if (page) {
		/* Being read ahead (locked, !uptodate) and the next window's
		 * mark: start that window before waiting for this page, as
		 * filemap_fault does (do_async_mmap_readahead before
		 * lock_folio). Nothing held. */
		bool marker = !write && PageReadahead(page) && TestClearPageReadahead(page);

		put_page(page);
		if (marker)
			fault_async_readahead(v, index);
	} else if (index < eof_pages(m)) {
		fault_sync_readahead(v, index); /* nothing held */
	}
	reclaim_if_needed(m->cache, 1);
	if (!fault_dio_lock_add(m, index)) /* ADD, or the DIO rule (fault_dio.c) */
		return false;
	if (index >= eof_pages(m))
		goto out; /* truncated meanwhile */
	/* page_mkwrite's delayed-allocation reservation, before the page
	 * lock (it may commit); no space: SIGBUS, as the kernel's -ENOSPC
	 * from page_mkwrite gives. */
	if (write && v->wp && store_reserve(m->host, (int64_t)(index << PAGE_SHIFT), PAGE_SIZE))
		goto out;
	for (;;) {
		page = find_get_page(&m->i_pages, index);
		if (!page) {
			page = add_to_page_cache_locked(m, index, &err);
			if (!page) {
				if (err == -EEXIST)
					continue;
				goto out;
			}
			break;
		}
		if (!PageUptodate(page))
			readahead_steal(m, index); /* queued: read it here */
		lock_page(page);
		if (page->mapping == m)
			break;
		unlock_page(page);
		put_page(page);
	}
	err = 0;
	if (!PageUptodate(page))
		err = filemap_fill_pages(m, &page, 1);
	if (!err) {
		bool dirty = write && v->wp;
		/* A short buffered write may have given the block's reservation
		 * back (write_end's store_unreserve, for a page it left clean)
		 * between ours and this page lock: take it again (in memory, a
		 * no-op while it is held). */
		if (dirty && !PageDirty(page))
			err = store_reserve(m->host, (int64_t)(index << PAGE_SHIFT), PAGE_SIZE);
	}
	if (!err) {
		bool dirty = write && v->wp;
		if (dirty) {
			set_page_dirty(page);
			if (m->update_time)
				m->update_time(m); /* page_mkwrite's file_update_time */
		}
		err = install_page(v, addr, page, dirty || (write && !v->shared),
				   flags & FAULT_FLAG_PRESENT);
		ok = !err || err == -EFAULT; /* -EFAULT: faults again */
		around = !err && !write;
	}
	unlock_page(page);
	put_page(page);
out:
	filemap_invalidate_unlock_add(m);
	if (around) {
		/* Map what the readahead brought in (the view is pinned). Not
		 * counted as hits: mmap_miss must still see random access. */
		fault_around(v, addr);
	}
	return ok;
}

void fault_assert_nothing_forbidden(void)
{
#if PC_LOCKDEP
	/* Held-lock classes a thread must not hold when it faults with faults
	 * enabled: the fault path takes them (docs/design.md §7.7). */
	static const char *const fault_forbidden[] = {"page_lock", "invalidate_lock",
						      "i_mmap_rwsem"};
	/* Not `current`: a thread without a task holds no lock. */
	struct task *t = __current_task;

	if (!t || t->pagefault_disabled)
		return;
	for (int i = 0; i < t->nheld; i++) {
		const char *name = t->held[i].map->key ? t->held[i].map->key->name : NULL;
		for (size_t k = 0; name && k < ARRAY_SIZE(fault_forbidden); k++)
			if (!strcmp(name, fault_forbidden[k]) &&
			    /* a direct I/O write's BLOCK across its fault-in: the
			     * faults-disabled-mapping rule (fault_dio.h) serves it */
			    !(k == 1 && t->fdm)) {
				lockdep_fail_assert(
				    "(at a page fault with faults enabled) no page "
				    "lock, invalidate lock or i_mmap_rwsem, but one",
				    THIS_LOC);
				return;
			}
	}
#endif
}

/* The fault on our view @v (pinned by the caller): true if served. */
static bool do_fault(struct vma *v, uintptr_t addr, int sig, unsigned int flags)
{
	bool write = flags & FAULT_FLAG_WRITE;
	struct page *page;

	if (v->fallback)
		return fb_fault(v, addr, sig, write);
	if (sig != SIGBUS || vma_index(v, addr) >= eof_pages(v->mapping))
		return false; /* a protection fault, or a whole page beyond EOF: SIGBUS */
	if (!write || !v->wp) {
		pgoff_t index = vma_index(v, addr);

		page = find_get_page(&v->mapping->i_pages, index);
		if (page && PageUptodate(page)) {
			int err = install_page(v, addr, page, false, false);

			if (!err) {
				fault_cached_hit(v, addr, page, write);
				return true;
			}
			put_page(page);
			return err == -EFAULT;
		}
		if (page)
			put_page(page);
		if (!page && !write)
			fault_miss_around(v, addr);
	}
	return fault_slow(v, addr, flags);
}

bool mm_fault(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	uintptr_t addr = (uintptr_t)si->si_addr;
	unsigned long err_code = (unsigned long)uc->uc_mcontext.gregs[REG_ERR];
	unsigned int flags = (err_code & X86_PF_WRITE ? FAULT_FLAG_WRITE : 0) |
			     (err_code & X86_PF_PROT ? FAULT_FLAG_PRESENT : 0);
	bool ok;
	struct vma *v;

	/* Only fallback views take SIGSEGV: others' segfaults never look. */
	if (sig != SIGBUS && !__atomic_load_n(&mm_fallback_views, __ATOMIC_ACQUIRE))
		return false;
	v = vma_lookup_pin(addr); /* no mm lock unless the RCU lookup failed */
	if (!v)
		return false; /* not ours */
	if (unlikely(vma_test_fault_hook))
		vma_test_fault_hook(v, addr);
	fault_assert_nothing_forbidden();
	ok = do_fault(v, addr, sig, flags);
	vma_unpin(v);
	return ok;
}

struct fill_args {
	struct vma *v;
	uintptr_t addr;
	unsigned int flags;
};

static bool fill_cb(void *arg)
{
	struct fill_args *a = arg;

	return fault_fill(a->v, a->addr, a->flags);
}

/* The fill, under the file system's fault lock (the cluster glock) when it
 * has one. */
static bool fault_fill_locked(struct vma *v, uintptr_t addr, unsigned int flags)
{
	struct address_space *m = v->mapping;
	struct fill_args a = {v, addr, flags};

	if (likely(!m->fault_lock))
		return fault_fill(v, addr, flags);
	return m->fault_lock(m, (flags & FAULT_FLAG_WRITE) && v->wp, fill_cb, &a);
}

bool fault_slow(struct vma *v, uintptr_t addr, unsigned int flags)
{
	struct task *t = current;
	struct lock_sink *sink = t->lock_sink;
	bool ok;

	/* Lock sleeps from here on are the view's engine's. */
	t->lock_sink = &v->mapping->cache->lock_stats;
	if (mm_fault_test_keep_mm_lock) {
		/* H7's hazard: the fill (store I/O) under the mm lock */
		down_read(&mm.lock);
		ok = fault_fill(v, addr, flags);
		up_read(&mm.lock);
	} else {
		ok = fault_fill_locked(v, addr, flags);
	}
	t->lock_sink = sink;
	return ok;
}

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
 * Sequence (docs/design.md §7.7): mm lock shared → find the view (not
 * ours: return false, the hook chains) → page beyond EOF: false (SIGBUS) →
 * page uptodate and a read (or a view without write-notify): install it and
 * up to FAULT_AROUND uptodate neighbours, done → else pin the view, drop the
 * mm lock (H7: store I/O never runs under it), ADD → (write: the block's
 * delayed-allocation reservation, store_reserve; -ENOSPC: SIGBUS) → page
 * lock → fill → (write: set_page_dirty = page_mkwrite) → install → unlock.
 * munmap (vma.c) waits for the pins of a view to drain before unmapping it.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>

#include "kernel/lockdep.h"
#include "kernel/rwsem.h"
#include "mm/fault_dio.h"
#include "mm/fill.h"
#include "kernel/task.h"
#include "mm/fault_internal.h"
#include "mm/uaccess.h"
#include "mm/vma.h"

#define FAULT_AROUND 16

bool mm_fault_test_keep_mm_lock;

/* Makes @page visible at @addr in @v: writable if @writable (a dirtied
 * page of a write-notify view, or a store to a private view: the kernel
 * copies it), else read-only (write-protected where @v->wp; a private view's
 * store then copies it). 0, or -errno (-EFAULT: the frame went away
 * meanwhile; the access faults again). Fallback views: page locked. */
static int install_page(struct vma *v, uintptr_t addr, struct page *page, bool writable)
{
	(void)page;
	addr &= ~(uintptr_t)(PAGE_SIZE - 1);
	if (v->fallback)
		return fb_install(v, addr, writable);
	return uffd_install(v, addr, writable);
}

pgoff_t eof_pages(struct address_space *m)
{
	int64_t size = i_size_read(m);
	return (pgoff_t)((size + (int64_t)PAGE_SIZE - 1) >> PAGE_SHIFT);
}

/* Read fault-around: install uptodate cached neighbours of @addr (mm lock
 * shared held; no page lock: a page truncated meanwhile has its frame
 * punched, which unmaps it again. A uffd view maps each run of uptodate
 * neighbours with one call, holding a reference on each page of the run
 * across it. A fallback view takes each page's lock by trylock: the
 * removal hook must see the page it protects). */
void fault_around(struct vma *v, uintptr_t addr)
{
	uintptr_t page_addr = addr & ~(uintptr_t)(PAGE_SIZE - 1);
	uintptr_t from = page_addr & ~(uintptr_t)(FAULT_AROUND * PAGE_SIZE - 1);
	pgoff_t eof = eof_pages(v->mapping);
	struct page *run[FAULT_AROUND];
	uintptr_t run_start = 0;
	unsigned nr = 0;

	if (from < v->start)
		from = v->start;
	for (uintptr_t a = from;; a += PAGE_SIZE) {
		struct page *p = NULL;
		bool more =
		    a < v->end && a < from + FAULT_AROUND * PAGE_SIZE && vma_index(v, a) < eof;

		if (more && a != page_addr)
			p = find_get_page(&v->mapping->i_pages, vma_index(v, a));
		if (p && !v->fallback && PageUptodate(p)) {
			if (!nr)
				run_start = a;
			run[nr++] = p;
			continue;
		}
		if (nr) { /* the run ends before @a */
			uffd_install_run(v, run_start, run_start + nr * PAGE_SIZE);
			while (nr)
				put_page(run[--nr]);
		}
		if (!more)
			break;
		if (!p)
			continue;
		if (v->fallback && trylock_page(p)) {
			if (p->mapping == v->mapping && PageUptodate(p))
				(void)install_page(v, a, p, false);
			unlock_page(p);
		}
		put_page(p);
	}
}

/* The slow path (fault_internal.h). */
bool fault_fill(struct vma *v, uintptr_t addr, bool write)
{
	struct address_space *m = v->mapping;
	pgoff_t index = vma_index(v, addr);
	struct page *page;
	bool ok = false;
	int err = 0;

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
		err = install_page(v, addr, page, dirty || (write && !v->shared));
		ok = !err || err == -EFAULT; /* -EFAULT: faults again */
	}
	unlock_page(page);
	put_page(page);
out:
	filemap_invalidate_unlock_add(m);
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

bool mm_fault(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	uintptr_t addr = (uintptr_t)si->si_addr;
	unsigned long err_code = (unsigned long)uc->uc_mcontext.gregs[REG_ERR];
	bool write = err_code & X86_PF_WRITE;
	struct vma *v;
	struct page *page;

	/* Only fallback views take SIGSEGV: others' segfaults never wait for
	 * the mm lock. */
	if (sig != SIGBUS && !__atomic_load_n(&mm_fallback_views, __ATOMIC_ACQUIRE))
		return false;
	down_read(&mm.lock);
	v = find_vma(addr);
	if (!v) {
		up_read(&mm.lock);
		return false; /* not ours */
	}
	fault_assert_nothing_forbidden();
	if (v->fallback)
		return fb_fault(v, addr, sig, write); /* drops the mm lock */
	if (sig != SIGBUS || vma_index(v, addr) >= eof_pages(v->mapping)) {
		up_read(&mm.lock);
		return false; /* a protection fault, or a whole page beyond EOF: SIGBUS */
	}
	if (!write || !v->wp) {
		page = find_get_page(&v->mapping->i_pages, vma_index(v, addr));
		if (page && PageUptodate(page)) {
			int err = install_page(v, addr, page, false);
			put_page(page);
			if (!err && !write)
				fault_around(v, addr);
			up_read(&mm.lock);
			return !err || err == -EFAULT;
		}
		if (page)
			put_page(page);
	}
	return fault_slow(v, addr, write);
}

bool fault_slow(struct vma *v, uintptr_t addr, bool write)
{
	bool ok;

	__atomic_fetch_add(&v->pins, 1, __ATOMIC_ACQUIRE);
	if (mm_fault_test_keep_mm_lock) {
		ok = fault_fill(v, addr, write);
		up_read(&mm.lock);
	} else {
		up_read(&mm.lock);
		ok = fault_fill(v, addr, write);
	}
	__atomic_fetch_sub(&v->pins, 1, __ATOMIC_RELEASE);
	return ok;
}

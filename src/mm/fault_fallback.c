/* SPDX-License-Identifier: MIT */
/*
 * fault_fallback.c - the fault mechanism for kernels without a usable
 * userfaultfd (or when an engine asks for it: PC_FAULT_FALLBACK): views are
 * PROT_NONE, an access raises SIGSEGV in the faulting thread, and the fault
 * core (fault.c: the same filemap fault, the same lock protocol, H7
 * included) makes the page uptodate and then mprotects it: read-only for a
 * load (write-notify, as userfaultfd's write-protect does for the other
 * mechanism), writable for a store (page_mkwrite dirtied it; a private
 * view's store makes the kernel copy the page).
 *
 * Every page of a view has a state: NONE, READ, WRITE, or BUS - a whole page
 * beyond EOF that an access touched: the page is then replaced by a page of
 * an empty memfd, so the access re-runs and raises a real SIGBUS (Linux's
 * semantics), which the hook lets through to the application's handler. A
 * SIGBUS on such a page after the file grew back restores the file page.
 *
 * VMAs: each run of pages with the same protection is one kernel VMA
 * (same file, contiguous offsets and flags: the kernel merges them back).
 * The views' count is kept exactly here and never exceeds the budget (a
 * quarter of vm.max_map_count, or the test knob), so the process always
 * keeps most of its map count for malloc: pc_mmap refuses a view (-ENOMEM)
 * unless three VMAs per view remain available, and a change that would pass
 * the budget first takes the faulting view (then, if need be, every
 * fallback view) back to PROT_NONE: one VMA each, all its pages fault again.
 *
 * Removal: a page leaving the cache is protected again in every view
 * (unmap_mapping_pages, under the page lock) before its frame is punched,
 * and pages are made accessible only under their page lock: a view never
 * reads a punched (zero) frame.
 *
 * Signal safety: runs in the SIGSEGV/SIGBUS handler; uses only our locks
 * (page locks, mm_fallback_lock; the view is pinned, fault.c), mprotect and mmap - no
 * allocation, no stdio.
 *
 * Locks: mm_fallback_lock is a leaf, taken after the mm lock, a page lock or
 * i_mmap_rwsem; only mprotect/mmap run under it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernel/mutex.h"
#include "mm/fault_internal.h"
#include "mm/frames.h"
#include "mm/vma.h"

enum { FB_NONE = 0, FB_READ = 1, FB_WRITE = 2, FB_BUS = 3 };
#define FB_STATE      3
#define FB_PROT_SHIFT 2

static struct lock_class_key fb_lock_key = {.name = "mm_fallback_lock"};

static struct {
	struct mutex lock;
	struct list_head views;
	long nviews, vmas, budget;
	int bus_fd; /* an empty memfd: any access to a page of it is SIGBUS */
} fb;
static pthread_once_t fb_once = PTHREAD_ONCE_INIT;

TEST_KNOB(long, mm_fallback_test_vma_budget);
TEST_SWITCH(mm_fault_test_fb_no_hits);

static long read_max_map_count(void)
{
	char buf[32];
	long n = 0;
	int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (got > 0) {
		buf[got] = 0;
		n = strtol(buf, NULL, 10);
	}
	return n > 0 ? n : 65530;
}

static void fb_init_once(void)
{
	mutex_init_class(&fb.lock, &fb_lock_key);
	INIT_LIST_HEAD(&fb.views);
	fb.budget = read_max_map_count() / 4;
	fb.bus_fd = memfd_create("pagecache-sigbus", MFD_CLOEXEC);
}

static long budget(void)
{
	long b = __atomic_load_n(&mm_fallback_test_vma_budget, __ATOMIC_RELAXED);
	return b > 0 ? b : fb.budget;
}

long mm_fallback_vmas(void)
{
	long n;

	pthread_once(&fb_once, fb_init_once);
	mutex_lock(&fb.lock);
	n = fb.vmas;
	mutex_unlock(&fb.lock);
	return n;
}

void fb_atfork_child(void)
{
	if (!fb.budget)
		return; /* never set up */
	mutex_init_class(&fb.lock, &fb_lock_key);
	INIT_LIST_HEAD(&fb.views);
	fb.nviews = fb.vmas = 0;
	__atomic_store_n(&mm_fallback_views, 0, __ATOMIC_RELEASE);
}

/* ---- per-page state and the VMAs it needs ---- */

static int state(const struct vma *v, pgoff_t i)
{
	return v->pte[i] & FB_STATE;
}

static int uprot(const struct vma *v, pgoff_t i)
{
	return v->pte[i] >> FB_PROT_SHIFT;
}

/* The protection page @i has in the kernel. */
static int eff_prot(const struct vma *v, pgoff_t i)
{
	switch (state(v, i)) {
	case FB_READ:
		return uprot(v, i) & PROT_READ;
	case FB_WRITE:
	case FB_BUS:
		return uprot(v, i);
	default:
		return PROT_NONE;
	}
}

/* Pages with equal keys side by side are one VMA. A BUS page is a mapping
 * of its own: never equal to a neighbour. */
static int vma_key(const struct vma *v, pgoff_t i)
{
	return state(v, i) == FB_BUS ? 0x100 | (int)(i & 1) : eff_prot(v, i);
}

/* VMA boundaries inside the view between pages lo - 1 .. hi (inclusive
 * pairs (lo-1, lo) ... (hi-1, hi)), clipped to the view. */
static long boundaries(const struct vma *v, pgoff_t lo, pgoff_t hi)
{
	long n = 0;
	pgoff_t from = lo ? lo : 1, to = hi < vma_pages(v) ? hi + 1 : vma_pages(v);

	for (pgoff_t i = from; i < to; i++)
		n += vma_key(v, i - 1) != vma_key(v, i);
	return n;
}

static uintptr_t page_addr(const struct vma *v, pgoff_t i)
{
	return v->start + (i << PAGE_SHIFT);
}

/* Puts a BUS page back to the file page (PROT_NONE). A shared view maps it
 * PROT_NONE at once (no store can reach the file unseen); a private view
 * maps it writable for a moment, so that the new VMA is accounted as the
 * rest of the view and merges with it (VM_ACCOUNT) - a store racing into
 * that moment copies the file page into the view, unseen by the engine. */
static int unbus(struct vma *v, pgoff_t i)
{
	void *a = (void *)page_addr(v, i);
	off_t off = (off_t)((v->pgoff + i) << PAGE_SHIFT);

	if (mmap(a, PAGE_SIZE, v->shared ? PROT_NONE : PROT_READ | PROT_WRITE, v->flags | MAP_FIXED,
		 frames_fd(v->mapping->frames), off) == MAP_FAILED)
		return -errno;
	(void)madvise(a, PAGE_SIZE, MADV_DONTFORK);
	(void)madvise(a, PAGE_SIZE, MADV_NOHUGEPAGE);
	return mprotect(a, PAGE_SIZE, PROT_NONE) ? -errno : 0;
}

static int bus(struct vma *v, pgoff_t i)
{
	if (fb.bus_fd < 0)
		return -ENODEV;
	if (mmap((void *)page_addr(v, i), PAGE_SIZE, uprot(v, i), MAP_SHARED | MAP_FIXED, fb.bus_fd,
		 0) == MAP_FAILED)
		return -errno;
	return 0;
}

/* Tells the kernel the protections of pages [lo, hi): one mprotect per run. */
static int apply(struct vma *v, pgoff_t lo, pgoff_t hi)
{
	pgoff_t i = lo;

	while (i < hi) {
		pgoff_t j = i + 1;
		if (state(v, i) == FB_BUS) {
			if (mprotect((void *)page_addr(v, i), PAGE_SIZE, uprot(v, i)))
				return -errno;
			i = j;
			continue;
		}
		while (j < hi && state(v, j) != FB_BUS && eff_prot(v, j) == eff_prot(v, i))
			j++;
		if (mprotect((void *)page_addr(v, i), (j - i) << PAGE_SHIFT, eff_prot(v, i)))
			return -errno;
		i = j;
	}
	return 0;
}

/* Every page of @v back to PROT_NONE: one VMA. fb.lock held. */
static void collapse(struct vma *v)
{
	pgoff_t n = vma_pages(v);

	for (pgoff_t i = 0; i < n; i++) {
		if (state(v, i) == FB_BUS)
			(void)unbus(v, i);
		v->pte[i] &= (uint8_t)~FB_STATE;
	}
	(void)mprotect((void *)v->start, v->end - v->start, PROT_NONE);
	fb.vmas -= v->nvmas - 1;
	v->nvmas = 1;
}

/*
 * Sets pages [lo, hi) of @v: state @st (or -1: keep; with @keep_cows a
 * private view's WRITE pages - its copies - keep theirs; BUS pages keep
 * theirs unless @st leaves BUS explicitly) and user protection @up (or -1),
 * within the budget. fb.lock held.
 */
static int fb_set(struct vma *v, pgoff_t lo, pgoff_t hi, int st, int up, bool keep_cows)
{
	long before, delta;
	int err;

	for (int pass = 0;; pass++) {
		before = boundaries(v, lo, hi);
		for (pgoff_t i = lo; i < hi; i++) {
			int s = state(v, i), ns = s;
			if (st >= 0 && !(keep_cows && !v->shared && s == FB_WRITE) &&
			    !(s == FB_BUS && st == FB_NONE && hi - lo > 1))
				ns = st;
			if (s == FB_BUS && ns != FB_BUS) {
				err = unbus(v, i);
				if (err)
					return err;
			} else if (ns == FB_BUS && s != FB_BUS) {
				err = bus(v, i);
				if (err)
					return err;
			}
			v->pte[i] = (uint8_t)(ns | ((up >= 0 ? up : uprot(v, i)) << FB_PROT_SHIFT));
		}
		delta = boundaries(v, lo, hi) - before;
		if (fb.vmas + delta <= budget() || pass == 2)
			break;
		/* Over budget: this view (pass 0), then every view (pass 1) back to
		 * PROT_NONE, and set the range again. */
		if (pass == 0) {
			collapse(v);
		} else {
			struct vma *o;
			list_for_each_entry (o, &fb.views, fb_link)
				collapse(o);
		}
	}
	v->nvmas += delta;
	fb.vmas += delta;
	return apply(v, lo, hi);
}

/* ---- the entry points (fault_internal.h) ---- */

int fb_map(struct vma *v)
{
	pgoff_t n = vma_pages(v);
	int err = 0;

	pthread_once(&fb_once, fb_init_once);
	v->pte = malloc(n);
	if (!v->pte)
		return -ENOMEM;
	memset(v->pte, v->prot << FB_PROT_SHIFT, n);
	mutex_lock(&fb.lock);
	if ((fb.nviews + 1) * 3 > budget() || fb.vmas + 3 > budget())
		err = -ENOMEM;
	else if (mprotect((void *)v->start, v->end - v->start, PROT_NONE))
		err = -errno;
	if (!err) {
		v->nvmas = 1;
		fb.vmas++;
		fb.nviews++;
		list_add(&v->fb_link, &fb.views);
		__atomic_fetch_add(&mm_fallback_views, 1, __ATOMIC_RELEASE);
	}
	mutex_unlock(&fb.lock);
	if (err) {
		free(v->pte);
		v->pte = NULL;
	}
	return err;
}

void fb_unmap(struct vma *v)
{
	mutex_lock(&fb.lock);
	list_del_init(&v->fb_link);
	fb.vmas -= v->nvmas;
	fb.nviews--;
	__atomic_fetch_sub(&mm_fallback_views, 1, __ATOMIC_RELEASE);
	mutex_unlock(&fb.lock);
	free(v->pte);
	v->pte = NULL;
}

void fb_split(struct vma *v, struct vma *hi, uintptr_t at)
{
	pgoff_t nlo = (at - v->start) >> PAGE_SHIFT;
	long before = v->nvmas;

	mutex_lock(&fb.lock);
	memcpy(hi->pte, v->pte + nlo, vma_pages(hi));
	WRITE_ONCE(v->end, at); /* v->pte keeps its size; the tail is unused */
	v->nvmas = 1 + boundaries(v, 0, vma_pages(v));
	hi->nvmas = 1 + boundaries(hi, 0, vma_pages(hi));
	fb.vmas += v->nvmas + hi->nvmas - before;
	fb.nviews++;
	list_add(&hi->fb_link, &fb.views);
	__atomic_fetch_add(&mm_fallback_views, 1, __ATOMIC_RELEASE);
	mutex_unlock(&fb.lock);
}

void fb_unsplit(struct vma *v, struct vma *hi)
{
	pgoff_t nlo = vma_pages(v);
	long before = v->nvmas + hi->nvmas;

	mutex_lock(&fb.lock);
	list_del_init(&hi->fb_link);
	fb.nviews--;
	__atomic_fetch_sub(&mm_fallback_views, 1, __ATOMIC_RELEASE);
	memcpy(v->pte + nlo, hi->pte, vma_pages(hi));
	WRITE_ONCE(v->end, hi->end);
	v->nvmas = 1 + boundaries(v, 0, vma_pages(v));
	fb.vmas += v->nvmas - before;
	mutex_unlock(&fb.lock);
	free(hi->pte);
	hi->pte = NULL;
}

void fb_merge(struct vma *v, struct vma *hi, uint8_t *pte)
{
	pgoff_t nlo = vma_pages(v);
	long before = v->nvmas + hi->nvmas;
	uint8_t *old;

	mutex_lock(&fb.lock);
	memcpy(pte, v->pte, nlo);
	memcpy(pte + nlo, hi->pte, vma_pages(hi));
	old = v->pte;
	v->pte = pte;
	list_del_init(&hi->fb_link);
	fb.nviews--;
	__atomic_fetch_sub(&mm_fallback_views, 1, __ATOMIC_RELEASE);
	WRITE_ONCE(v->end, hi->end);
	v->nvmas = 1 + boundaries(v, 0, vma_pages(v));
	fb.vmas += v->nvmas - before;
	mutex_unlock(&fb.lock);
	free(old);
	free(hi->pte);
	hi->pte = NULL;
}

int fb_install(struct vma *v, uintptr_t addr, bool writable)
{
	pgoff_t i = (addr - v->start) >> PAGE_SHIFT;
	int err = 0;

	mutex_lock(&fb.lock);
	if (state(v, i) == FB_NONE || (writable && state(v, i) == FB_READ)) {
		err = fb_set(v, i, i + 1, writable ? FB_WRITE : FB_READ, -1, false);
		/* A private view's page made writable: copy it now, while the page
		 * lock keeps its frame (the removal hook leaves copies alone, so
		 * a copy made after the frame's punch would copy zeroes). An
		 * atomic add of zero changes no byte. */
		if (!err && writable && !v->shared)
			(void)__atomic_fetch_add((uint8_t *)addr, 0, __ATOMIC_RELAXED);
	}
	mutex_unlock(&fb.lock);
	return err;
}

void fb_protect_none(struct vma *v, uintptr_t a, size_t len, bool even_cows)
{
	pgoff_t lo = (a - v->start) >> PAGE_SHIFT, hi = lo + (len >> PAGE_SHIFT);

	mutex_lock(&fb.lock);
	(void)fb_set(v, lo, hi, FB_NONE, -1, !even_cows);
	mutex_unlock(&fb.lock);
}

void fb_mkclean(struct vma *v, uintptr_t a, size_t len)
{
	pgoff_t lo = (a - v->start) >> PAGE_SHIFT, hi = lo + (len >> PAGE_SHIFT), i, j;

	mutex_lock(&fb.lock);
	/* One mprotect per run of writable pages (fb_set merges the range). */
	for (i = lo; i < hi; i = j + 1) {
		if (state(v, i) != FB_WRITE) {
			j = i;
			continue;
		}
		for (j = i + 1; j < hi && state(v, j) == FB_WRITE; j++)
			;
		__atomic_fetch_add(&mm_writeprotect_ops, 1, __ATOMIC_RELAXED);
		(void)fb_set(v, i, j, FB_READ, -1, false);
	}
	mutex_unlock(&fb.lock);
}

int fb_mprotect(struct vma *v, uintptr_t a, size_t len, int prot)
{
	pgoff_t lo = (a - v->start) >> PAGE_SHIFT, hi = lo + (len >> PAGE_SHIFT);
	int err;

	mutex_lock(&fb.lock);
	err = fb_set(v, lo, hi, -1, prot, false);
	mutex_unlock(&fb.lock);
	return err;
}

bool fb_fault(struct vma *v, uintptr_t addr, int sig, bool write)
{
	pgoff_t i = (addr - v->start) >> PAGE_SHIFT, index = vma_index(v, addr);
	bool beyond = index >= eof_pages(v->mapping);
	int need = write ? PROT_WRITE : PROT_READ, st, up, eff;
	struct page *page;

	mutex_lock(&fb.lock);
	st = state(v, i);
	up = uprot(v, i);
	eff = eff_prot(v, i);
	if (sig == SIGBUS) {
		/* A BUS page: SIGBUS for the application unless the file grew. */
		bool ok = st == FB_BUS && !beyond && !fb_set(v, i, i + 1, FB_NONE, -1, false);
		mutex_unlock(&fb.lock);
		return ok;
	}
	if (!(up & need) || (eff & need) == need || st == FB_BUS) {
		/* The application's protection (its SIGSEGV), or served meanwhile. */
		mutex_unlock(&fb.lock);
		return (up & need) && st != FB_BUS;
	}
	if (beyond) {
		/* Re-run as a real SIGBUS of an empty memfd's page. */
		bool ok = !fb_set(v, i, i + 1, FB_BUS, -1, false);
		mutex_unlock(&fb.lock);
		return ok;
	}
	mutex_unlock(&fb.lock);
	if (!write || !v->wp) {
		page = find_get_page(&v->mapping->i_pages, index);
		if (page && PageUptodate(page) && trylock_page(page)) {
			int err = -EAGAIN;
			if (page->mapping == v->mapping && PageUptodate(page))
				err = fb_install(v, addr & ~(uintptr_t)(PAGE_SIZE - 1), write);
			unlock_page(page);
			if (!err && READ_ONCE(mm_fault_test_fb_no_hits)) {
				put_page(page); /* the hazard: no hits, no next window */
				if (!write)
					fault_around(v, addr);
				return true;
			}
			if (!err) {
				/* the same rule as a userfaultfd view's (fault.c) */
				fault_cached_hit(v, addr, page, write);
				return true;
			}
		}
		if (page)
			put_page(page);
		if (!page && !write && !READ_ONCE(mm_fault_test_fb_no_hits))
			fault_miss_around(v, addr);
	}
	return fault_slow(v, addr, write ? FAULT_FLAG_WRITE : 0);
}

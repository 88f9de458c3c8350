/* SPDX-License-Identifier: MIT */
/*
 * vma.c - the view registry of mappings of cached files (vma.h): the
 * process's mm state (the mm lock, the views in a list and in a tree by
 * address, the userfaultfd),
 * mmap/munmap of views (split_vma for a part, vma_merge to join parts
 * again), writeback's write-protect
 * (mm_page_mkclean) and unmap_mapping_pages. msync/mprotect/madvise are in
 * vma_calls.c. Faults on the views are served
 * by fault.c (the core) through fault_uffd.c or fault_fallback.c.
 *
 * Both kinds of view map the file's memfd (frames.c): MAP_SHARED views
 * share its pages; MAP_PRIVATE views map them read-only until a store
 * copies the page (the kernel's COW), as Linux does for a private file
 * mapping: a page not yet stored to shows the file's current bytes.
 *
 * Locks: the mm lock (mm.lock, "mm_lock") exclusive to add or remove a
 * view, shared to look one up (msync, madvise); i_mmap_rwsem of the file
 * exclusive to link/unlink a view, shared to walk its views; order mm lock
 * -> i_mmap_rwsem. The fault path takes no mm lock: lock_vma_under_rcu
 * finds the view in mm.index under RCU and pins it (v->pins, refused once
 * munmap has closed it: VMA_PIN_DEAD), as the kernel's per-VMA lock. A view
 * found under the mm lock is pinned before the lock is dropped for blocking
 * work (H7). munmap unlinks a view under the mm lock exclusive, then waits
 * for its pins to drain and closes it (VMA_PIN_DEAD) before unmapping it;
 * the record is freed after a grace period (RCU readers may still look at
 * it). munmap of part of a view first splits it (split_vma): the pins are
 * drained under the mm lock exclusive, the record shrinks in place under
 * i_mmap_rwsem exclusive and a new record takes the upper part, then the
 * pins are let in again; no pin holder takes the mm lock. mprotect (and
 * madvise's NORMAL/SEQUENTIAL/RANDOM) of part of a view split it the same
 * way, then change the part's v->prot under the mm lock exclusive: the
 * fault path never reads v->prot (the host protection and, for fallback
 * views, the per-page state under mm_fallback_lock decide); parts of one
 * mmap alike again then merge back (vma_merge: both drained, the upper
 * unlinked as by munmap, the lower grown under i_mmap_rwsem exclusive).
 * madvise(MADV_WILLNEED) reads ahead as a fault fills: through the mapping's
 * fault_lock hook (cluster mode: the file's glock) with the view pinned and
 * the mm lock dropped. A count of the views (mm_views, atomic, changed under
 * the mm lock exclusive) lets mm_range_has_view answer with no lock while
 * the process has none; else it looks under the mm lock shared.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <urcu.h>

#include "kernel/lockdep.h"
#include "kernel/rwsem.h"
#include "mm/fault_internal.h"
#include "mm/frames.h"
#include "mm/uaccess.h"
#include "mm/vma.h"

struct mm_state mm;
static pthread_once_t mm_once = PTHREAD_ONCE_INIT;

/* Fallback views alive (atomic): the page-removal hook does nothing at 0. */
long mm_fallback_views;
/* Views in mm.vmas (atomic; changed under the mm lock exclusive):
 * mm_range_has_view answers at 0 with no lock. */
static long mm_views;

/* fork(): the child has none of the views (MADV_DONTFORK) and the
 * userfaultfd belongs to the parent's address space. The child starts with
 * no views and a userfaultfd of its own; the parent's view records are
 * left allocated (the files' i_mmap lists still link them) but are never
 * found by an address lookup, and write-protecting through them fails
 * harmlessly (their ranges are not registered, or not mapped, in the
 * child). */
static void vma_node_keep(void *v)
{
	(void)v; /* the record stays; only the tree's nodes go */
}

static void mm_atfork_child(void)
{
	INIT_LIST_HEAD(&mm.vmas);
	__atomic_store_n(&mm_views, 0, __ATOMIC_RELEASE);
	tdestroy(mm.vma_tree, vma_node_keep);
	mm.vma_tree = NULL;
	vma_index_forget(&mm.index);
	fb_atfork_child();
	uffd_atfork_child();
}

static void mm_init_once(void)
{
	init_rwsem_class(&mm.lock, &mmap_lock_key);
	INIT_LIST_HEAD(&mm.vmas);
	mm.uffd = uffd_open();
	pthread_atfork(NULL, NULL, mm_atfork_child);
	uaccess_set_fault_hook(mm_fault);
}

/* Views never overlap: a range is "equal" to every range it overlaps, which
 * orders the views by address and finds the one holding an address. */
static int vma_cmp(const void *a, const void *b)
{
	const struct vma *x = a, *y = b;

	if (x->end <= y->start)
		return -1;
	return x->start >= y->end ? 1 : 0;
}

/* The kernel's find_vma walks a tree (the maple tree) too; a list walk cost
 * 65 us a fault with 100k views (bench_views). The switch walks the list. */
TEST_SWITCH(mm_test_vma_list_lookup);

struct vma *find_vma(uintptr_t addr)
{
	struct vma key = {.start = addr, .end = addr + 1}, *v;
	void *node;

	if (READ_ONCE(mm_test_vma_list_lookup)) {
		list_for_each_entry (v, &mm.vmas, mm_link)
			if (addr >= v->start && addr < v->end)
				return v;
		return NULL;
	}
	node = tfind(&key, &mm.vma_tree, vma_cmp);
	return node ? *(struct vma **)node : NULL;
}

TEST_SWITCH(vma_test_no_pin_recheck);
TEST_KNOB(vma_lookup_hook_fn, vma_test_lookup_hook);
uint64_t mm_vma_locked_lookups;

/* Pins @v unless munmap has closed it. */
static bool vma_pin_unless_dead(struct vma *v)
{
	long p = __atomic_load_n(&v->pins, __ATOMIC_RELAXED);

	do {
		if (p & VMA_PIN_DEAD)
			return false;
	} while (!__atomic_compare_exchange_n(&v->pins, &p, p + 1, false, __ATOMIC_ACQUIRE,
					      __ATOMIC_RELAXED));
	return true;
}

struct vma *lock_vma_under_rcu(uintptr_t addr)
{
	struct vma *v;

	mm_rcu_thread_enter();
	rcu_read_lock();
	v = vma_index_find(&mm.index, addr);
	if (!v || addr >= READ_ONCE(v->end)) /* split_vma may shrink it meanwhile */
		goto miss;
	if (vma_test_lookup_hook)
		vma_test_lookup_hook(v);
	if (READ_ONCE(vma_test_no_pin_recheck)) {
		vma_pin(v); /* the hazard: a closed view pinned, nothing checked */
		goto out;
	}
	if (!vma_pin_unless_dead(v))
		goto miss; /* munmap is tearing it down */
	/* Pinned: munmap now waits for us. Still the view of @addr? (A split
	 * changed v->end before it let pins in again: release/acquire.) */
	if (!READ_ONCE(v->linked) || addr < v->start || addr >= READ_ONCE(v->end)) {
		vma_unpin(v);
		goto miss;
	}
out:
	mm_rcu_tsan_release();
	rcu_read_unlock();
	return v;
miss:
	mm_rcu_tsan_release();
	rcu_read_unlock();
	return NULL;
}

TEST_SWITCH(vma_test_locked_lookup);

struct vma *vma_lookup_pin(uintptr_t addr)
{
	struct vma *v = READ_ONCE(vma_test_locked_lookup) ? NULL : lock_vma_under_rcu(addr);

	if (v)
		return v;
	__atomic_fetch_add(&mm_vma_locked_lookups, 1, __ATOMIC_RELAXED);
	down_read(&mm.lock);
	v = find_vma(addr);
	if (v)
		vma_pin(v);
	up_read(&mm.lock);
	return v;
}

/* fault_internal.h */
int mm_ready(void)
{
	pthread_once(&mm_once, mm_init_once);
	return mm.init_err;
}

TEST_SWITCH(mm_test_any_tag);

int mm_fault_mechanism(int mech)
{
	int err = mm_ready();

	if (err)
		return err;
	if (mech == MM_FAULT_FALLBACK)
		return MM_FAULT_FALLBACK;
	if (mm.uffd >= 0)
		return MM_FAULT_UFFD;
	return mech == MM_FAULT_UFFD ? -ENODEV : MM_FAULT_FALLBACK;
}

/* ---- map, unmap, sync ---- */

int mm_map(struct address_space *m, size_t len, int prot, int flags, int64_t off, bool may_write,
	   int mech, void *tag, void *owner, void **addr)
{
	struct vma *v;
	void *p;
	int err;

	err = mm_ready();
	if (err)
		return err;
	if (!len || off < 0 || (off & (int64_t)(PAGE_SIZE - 1)) ||
	    (prot & ~(PROT_READ | PROT_WRITE)) || !(prot & PROT_READ) ||
	    (flags != MAP_SHARED && flags != MAP_PRIVATE) ||
	    (mech != MM_FAULT_AUTO && mech != MM_FAULT_UFFD && mech != MM_FAULT_FALLBACK))
		return -EINVAL;
	if (len > SIZE_MAX - PAGE_SIZE)
		return -ENOMEM;
	len = (len + PAGE_SIZE - 1) & ~(size_t)(PAGE_SIZE - 1);
	if ((uint64_t)off + len > ((uint64_t)PAGE_INDEX_MAX << PAGE_SHIFT))
		return -EOVERFLOW;
	if (mech == MM_FAULT_UFFD && mm.uffd < 0)
		return -ENODEV;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->owner = malloc(sizeof(*v->owner));
	if (!v->owner) {
		free(v);
		return -ENOMEM;
	}
	v->owner->owner = owner;
	v->owner->refs = 1;
	v->pgoff = (pgoff_t)(off >> PAGE_SHIFT);
	v->prot = prot;
	v->flags = flags;
	v->shared = flags == MAP_SHARED;
	v->wp = v->shared && may_write;
	v->mapping = m;
	v->tag = tag;
	v->fallback = mech == MM_FAULT_FALLBACK || (mech == MM_FAULT_AUTO && mm.uffd < 0);
	fault_ra_init(v);
retry:
	/* Both kinds map the memfd: a private view's stores copy the page. A
	 * fallback view starts PROT_READ|PROT_WRITE (so that every part of it
	 * has the same VMA flags and merges back) and fb_map protects it. */
	p = mmap(NULL, len, v->fallback ? PROT_READ | PROT_WRITE : prot, flags,
		 frames_fd(m->frames), (off_t)off);
	if (p == MAP_FAILED) {
		err = -errno;
		free(v->owner);
		free(v);
		return err;
	}
	(void)madvise(p, len, MADV_DONTFORK);
	(void)madvise(p, len, MADV_NOHUGEPAGE);
	v->start = (uintptr_t)p;
	v->end = v->start + len;
	err = v->fallback ? fb_map(v) : uffd_register(v);
	if (err) {
		munmap(p, len);
		if (err == -ENODEV && mech == MM_FAULT_AUTO && !v->fallback) {
			v->fallback = true;
			goto retry;
		}
		free(v->owner);
		free(v);
		return err;
	}
	down_write(&mm.lock);
	v->linked = true; /* before a reader can find it */
	if (!tsearch(v, &mm.vma_tree, vma_cmp) || vma_index_insert(&mm.index, v)) {
		tdelete(v, &mm.vma_tree, vma_cmp);
		up_write(&mm.lock);
		if (v->fallback)
			fb_unmap(v);
		else
			uffd_unregister(v);
		munmap(p, len);
		free(v->owner);
		free(v);
		return -ENOMEM;
	}
	down_write(&m->i_mmap_rwsem);
	list_add(&v->i_mmap_link, &m->i_mmap);
	up_write(&m->i_mmap_rwsem);
	list_add(&v->mm_link, &mm.vmas);
	__atomic_fetch_add(&mm_views, 1, __ATOMIC_RELEASE);
	up_write(&mm.lock);
	*addr = p;
	return 0;
}

/* Unlinks @v (mm lock exclusive held); vma_free then waits for its pins and
 * unmaps it. */
static void vma_remove(struct vma *v)
{
	vma_index_remove(&mm.index, v);
	WRITE_ONCE(v->linked, false);
	tdelete(v, &mm.vma_tree, vma_cmp);
	list_del_init(&v->mm_link);
	__atomic_fetch_sub(&mm_views, 1, __ATOMIC_RELEASE);
	down_write(&v->mapping->i_mmap_rwsem);
	list_del_init(&v->i_mmap_link);
	up_write(&v->mapping->i_mmap_rwsem);
}

static void vma_free_rcu(struct rcu_head *head)
{
	mm_rcu_tsan_acquire();
	free(container_of((struct mm_rcu_head *)head, struct vma, rcu));
}

uint64_t mm_vma_drain_waits;

/* Waits until no fault, msync or madvise holds @v pinned, and closes it
 * (VMA_PIN_DEAD): a lookup that still finds the record under RCU cannot pin
 * it. The kernel's vma_start_write, for munmap and split_vma. */
static void vma_drain(struct vma *v)
{
	long idle = 0;
	bool waited = false;

	while (!__atomic_compare_exchange_n(&v->pins, &idle, VMA_PIN_DEAD, false, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE)) {
		idle = 0;
		if (!waited) {
			waited = true;
			__atomic_fetch_add(&mm_vma_drain_waits, 1, __ATOMIC_RELAXED);
		}
		sched_yield();
	}
}

/* Tears down @v, unlinked by vma_remove, with no lock held: drains its
 * pins, unmaps it, frees the record after a grace period. Returns the
 * owner if @v held its last reference (the caller hands it back), else
 * NULL. */
static void *vma_free(struct vma *v)
{
	struct vm_owner *o = v->owner;
	void *owner = NULL;

	/* Faults that pinned the view before it was unlinked finish first;
	 * then no pin can be taken. */
	vma_drain(v);
	/* A userfaultfd view needs no UFFDIO_UNREGISTER first: munmap drops
	 * the registration with the kernel VMA (our userfaultfd asks for no
	 * UNMAP event), and the unregister would take the host mmap_lock for
	 * writing once more and walk the range's page tables to clear the
	 * write-protect bits, interrupting the other threads' faults. */
	if (v->fallback)
		fb_unmap(v);
	munmap((void *)v->start, v->end - v->start);
	/* RCU readers may still read the record (not use the view). */
	mm_rcu_thread_enter();
	mm_rcu_tsan_release();
	call_rcu((struct rcu_head *)&v->rcu, vma_free_rcu);
	if (__atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		owner = o->owner;
		free(o);
	}
	return owner;
}

/* Skips split_vma's drain of the view's pins (hazard switch). */
TEST_SWITCH(vma_test_split_no_drain);

/*
 * The kernel's __split_vma: @v becomes [v->start, @at) in place (its start,
 * so its keys in the tree and the index, does not change) and a new record
 * takes [@at, v->end) with the file offset, protection, owner (one more
 * reference), tag, readahead state and, for a fallback view, the page
 * states of its pages; it is linked in the tree, the RCU index and the
 * file's i_mmap list (so truncate and writeback reach both halves). Mm lock
 * exclusive held, nothing else. The host mapping is not touched (munmap of
 * a part splits the kernel VMA; userfaultfd registrations and the pages'
 * write-protection go with each part).
 *
 * First the pins of @v are drained (the kernel write-locks the VMA:
 * vma_start_write): a fault that pinned @v finishes on the unchanged record;
 * one that looks it up meanwhile cannot pin it (VMA_PIN_DEAD), looks again
 * under the mm lock (vma_lookup_pin) and so waits for the split to end and
 * finds the half that holds its address. No pin holder takes the mm lock
 * (madvise POPULATE drops its pin before faulting), so the wait under it
 * ends. The pins are let in again (release) once the record is consistent.
 * 0 or -ENOMEM (nothing changed).
 */
int split_vma(struct vma *v, uintptr_t at)
{
	pgoff_t nlo = (at - v->start) >> PAGE_SHIFT;
	struct address_space *m = v->mapping;
	struct vma *hi = calloc(1, sizeof(*hi));
	bool drain = !READ_ONCE(vma_test_split_no_drain);

	if (!hi)
		return -ENOMEM;
	if (v->fallback) {
		hi->pte = malloc(vma_pages(v) - nlo);
		if (!hi->pte) {
			free(hi);
			return -ENOMEM;
		}
	}
	if (drain)
		vma_drain(v);
	hi->start = at;
	hi->end = v->end;
	hi->pgoff = v->pgoff + nlo;
	hi->prot = v->prot;
	hi->flags = v->flags;
	hi->wp = v->wp;
	hi->shared = v->shared;
	hi->fallback = v->fallback;
	hi->mapping = m;
	hi->owner = v->owner;
	hi->tag = v->tag;
	/* the kernel keeps f_ra in the file: both halves go on from it (relaxed
	 * atomics, field by field, as the fault path writes them) */
	hi->ra.start = READ_ONCE(v->ra.start);
	hi->ra.size = READ_ONCE(v->ra.size);
	hi->ra.async_size = READ_ONCE(v->ra.async_size);
	hi->ra.prev_index = READ_ONCE(v->ra.prev_index);
	hi->ra.ra_pages = READ_ONCE(v->ra.ra_pages);
	hi->mmap_miss = READ_ONCE(v->mmap_miss);
	hi->advice = READ_ONCE(v->advice);
	hi->linked = true;
	INIT_LIST_HEAD(&hi->fb_link);
	down_write(&m->i_mmap_rwsem);
	if (v->fallback)
		fb_split(v, hi, at);
	else
		WRITE_ONCE(v->end, at);
	/* Only now can the tree take @hi (it compares overlapping ranges as
	 * equal). */
	if (!tsearch(hi, &mm.vma_tree, vma_cmp)) {
		if (v->fallback)
			fb_unsplit(v, hi);
		else
			WRITE_ONCE(v->end, hi->end);
		up_write(&m->i_mmap_rwsem);
		if (drain)
			__atomic_store_n(&v->pins, 0, __ATOMIC_RELEASE);
		free(hi);
		return -ENOMEM;
	}
	__atomic_fetch_add(&v->owner->refs, 1, __ATOMIC_RELAXED);
	list_add(&hi->i_mmap_link, &v->i_mmap_link);
	up_write(&m->i_mmap_rwsem);
	/* Without memory for the index's copies the half is found by the
	 * locked lookup alone (the RCU lookup finds @v, which ends below the
	 * address: a miss). */
	(void)vma_index_insert(&mm.index, hi);
	list_add(&hi->mm_link, &mm.vmas);
	__atomic_fetch_add(&mm_views, 1, __ATOMIC_RELEASE);
	if (drain)
		__atomic_store_n(&v->pins, 0, __ATOMIC_RELEASE);
	return 0;
}

/* @lo and @hi are parts of one mmap (split_vma's) that are alike again:
 * adjacent, the same owner, contiguous in the file, the same protection,
 * flags and advice. */
static bool vma_mergeable(const struct vma *lo, const struct vma *hi)
{
	return lo->end == hi->start && lo->owner == hi->owner && lo->tag == hi->tag &&
	       lo->mapping == hi->mapping && hi->pgoff == lo->pgoff + vma_pages(lo) &&
	       lo->prot == hi->prot && lo->flags == hi->flags && lo->wp == hi->wp &&
	       lo->fallback == hi->fallback && READ_ONCE(lo->advice) == READ_ONCE(hi->advice);
}

TEST_SWITCH(vma_test_no_merge);

/*
 * @hi joins @lo (vma_mergeable), split_vma undone: both views' pins are
 * drained (as split_vma's, under the mm lock exclusive), @hi is unlinked
 * from the tree, the RCU index, the list and the file's i_mmap, @lo's end
 * grows under i_mmap_rwsem exclusive (a fallback view's page states move to
 * @lo under mm_fallback_lock), the owner's reference of @hi is dropped
 * (@lo keeps one), @lo's pins are let in again; @hi stays closed and its
 * record is freed after a grace period. The host mapping is not touched
 * (the kernel merges its VMAs itself). A lookup that finds @hi meanwhile
 * cannot pin it and looks again under the mm lock, finding @lo.
 */
static void merge_vma(struct vma *lo, struct vma *hi)
{
	struct address_space *m = lo->mapping;
	uint8_t *pte = NULL;

	if (lo->fallback && !(pte = malloc(vma_pages(lo) + vma_pages(hi))))
		return; /* stays in two */
	vma_drain(lo);
	vma_drain(hi);
	vma_index_remove(&mm.index, hi);
	WRITE_ONCE(hi->linked, false);
	tdelete(hi, &mm.vma_tree, vma_cmp); /* before @lo overlaps it */
	list_del_init(&hi->mm_link);
	__atomic_fetch_sub(&mm_views, 1, __ATOMIC_RELEASE); /* @lo stays */
	down_write(&m->i_mmap_rwsem);
	list_del_init(&hi->i_mmap_link);
	if (lo->fallback)
		fb_merge(lo, hi, pte);
	else
		WRITE_ONCE(lo->end, hi->end);
	up_write(&m->i_mmap_rwsem);
	__atomic_fetch_sub(&lo->owner->refs, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&lo->pins, 0, __ATOMIC_RELEASE);
	mm_rcu_thread_enter();
	mm_rcu_tsan_release();
	call_rcu((struct rcu_head *)&hi->rcu, vma_free_rcu);
}

/* fault_internal.h */
struct vma *vma_merge(struct vma *v)
{
	struct vma *prev = v->start ? find_vma(v->start - 1) : NULL, *next = find_vma(v->end);

	if (READ_ONCE(vma_test_no_merge))
		return v;
	if (next && vma_mergeable(v, next))
		merge_vma(v, next);
	if (prev && vma_mergeable(prev, v)) {
		merge_vma(prev, v);
		v = prev;
	}
	return v;
}

/* Some view overlapping [s, e), or NULL. mm.lock held. */
static struct vma *find_vma_intersection(uintptr_t s, uintptr_t e)
{
	struct vma key = {.start = s, .end = e};
	void *node = tfind(&key, &mm.vma_tree, vma_cmp);

	return node ? *(struct vma **)node : NULL;
}

/* fault_internal.h */
struct vma *find_vma_from(uintptr_t s, uintptr_t e)
{
	struct vma *v = s < e ? find_vma_intersection(s, e) : NULL, *lo;

	while (v && (lo = find_vma_intersection(s, v->start)))
		v = lo;
	return v;
}

TEST_SWITCH(mm_test_range_never_view);

bool mm_range_has_view(const void *addr, size_t len)
{
	uintptr_t s = (uintptr_t)addr, e = s + len;
	struct vma *v;

	if (unlikely(READ_ONCE(mm_test_range_never_view)))
		return false;
	if (!len)
		return false;
	if (e < s)
		e = UINTPTR_MAX; /* wraps: up to the top */
	/* The common case, a process that maps no view: no lock at all. */
	if (!__atomic_load_n(&mm_views, __ATOMIC_ACQUIRE))
		return false;
	down_read(&mm.lock);
	v = find_vma_from(s, e);
	up_read(&mm.lock);
	return v != NULL;
}

/* fault_internal.h: the tree's views in the range, found by halving around
 * each one found (depth: the tree's). */
int check_range_tag(uintptr_t s, uintptr_t e, void *tag)
{
	struct vma *v;

	if (s >= e || !(v = find_vma_intersection(s, e)))
		return 0;
	if (v->tag != tag)
		return -EINVAL;
	if (check_range_tag(s, v->start, tag))
		return -EINVAL;
	return check_range_tag(v->end, e, tag);
}

int mm_unmap(void *addr, size_t len, void *tag, void (*put)(void *tag, void *owner))
{
	uintptr_t s = (uintptr_t)addr, e;
	LIST_HEAD_DECL(gone);
	struct vma *v, *n;
	int err;

	if ((s & (PAGE_SIZE - 1)) || !len || len > SIZE_MAX - PAGE_SIZE)
		return -EINVAL;
	len = (len + PAGE_SIZE - 1) & ~(size_t)(PAGE_SIZE - 1);
	if (s + len < s)
		return -EINVAL;
	e = s + len;
	if (mm_ready())
		return 0; /* no view was ever made */
	/* The kernel's do_vmi_align_munmap: split the views that straddle
	 * either end, then remove every view inside. */
	down_write(&mm.lock);
	err = check_range_tag(s, e, tag);
	if (!err && (v = find_vma(s)) && v->start < s)
		err = split_vma(v, s);
	if (!err && (v = find_vma(e - 1)) && v->end > e)
		err = split_vma(v, e);
	while (!err && (v = find_vma_intersection(s, e))) {
		vma_remove(v);
		list_add_tail(&v->mm_link, &gone);
	}
	up_write(&mm.lock);
	list_for_each_entry_safe (v, n, &gone, mm_link) {
		void *owner;

		list_del_init(&v->mm_link);
		owner = vma_free(v);
		if (owner)
			put(tag, owner);
	}
	return err;
}

void *mm_unmap_one_tagged(void *tag)
{
	struct vma *v, *found;
	void *owner = NULL;

	if (mm_ready())
		return NULL;
	while (!owner) {
		found = NULL;
		down_write(&mm.lock);
		list_for_each_entry (v, &mm.vmas, mm_link)
			if (v->tag == tag) {
				found = v;
				break;
			}
		if (found)
			vma_remove(found);
		up_write(&mm.lock);
		if (!found)
			return NULL;
		owner = vma_free(found); /* NULL: other parts of its view remain */
	}
	return owner;
}

/* The part of @v that shows file pages [start, start + nr), clipped: false
 * if none. */
static bool vma_clip(const struct vma *v, pgoff_t start, pgoff_t nr, uintptr_t *a, size_t *len)
{
	pgoff_t first = start > v->pgoff ? start : v->pgoff;
	pgoff_t end = v->pgoff + vma_pages(v);

	if (start >= end || !nr)
		return false;
	if (nr < end - start)
		end = start + nr;
	if (first >= end)
		return false;
	*a = v->start + ((first - v->pgoff) << PAGE_SHIFT);
	*len = (end - first) << PAGE_SHIFT;
	return true;
}

uint64_t mm_writeprotect_ops;

void mm_mkclean_range(struct address_space *m, pgoff_t start, pgoff_t nr)
{
	struct vma *v;

	down_read(&m->i_mmap_rwsem);
	list_for_each_entry (v, &m->i_mmap, i_mmap_link) {
		uintptr_t a;
		size_t len;
		if (!v->wp || !vma_clip(v, start, nr, &a, &len))
			continue;
		if (v->fallback)
			fb_mkclean(v, a, len);
		else
			uffd_mkclean(v, a, len);
	}
	up_read(&m->i_mmap_rwsem);
}

void mm_page_mkclean(struct page *page)
{
	mm_mkclean_range(page->mapping, page->index, 1);
}

void unmap_mapping_pages(struct address_space *m, pgoff_t start, pgoff_t nr, bool even_cows)
{
	struct vma *v;

	if (!even_cows && !__atomic_load_n(&mm_fallback_views, __ATOMIC_ACQUIRE))
		return; /* the frame punch that follows unmaps it from uffd views */
	down_read(&m->i_mmap_rwsem);
	list_for_each_entry (v, &m->i_mmap, i_mmap_link) {
		uintptr_t a;
		size_t len;
		if (!vma_clip(v, start, nr, &a, &len))
			continue;
		if (v->fallback)
			fb_protect_none(v, a, len, even_cows);
		if (even_cows && !v->shared)
			(void)madvise((void *)a, len, MADV_DONTNEED);
	}
	up_read(&m->i_mmap_rwsem);
}

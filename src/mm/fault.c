/* SPDX-License-Identifier: MIT */
/*
 * fault.c - mappings of cached files and their page faults (vma.h): the
 * views, the filemap fault core, and the userfaultfd mechanism. The fallback
 * mechanism (PROT_NONE + mprotect) is in fault_fallback.c and shares the
 * core (fault_internal.h).
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
 * Both kinds of view map the file's memfd (frames.c): MAP_SHARED views
 * share its pages; MAP_PRIVATE views map them read-only until a store
 * copies the page (the kernel's COW), as Linux does for a private file
 * mapping: a page not yet stored to shows the file's current bytes.
 *
 * Sequence (ARCHITECTURE §7 "Faults"): mm lock shared → find the view (not
 * ours: return false, the hook chains) → page beyond EOF: false (SIGBUS) →
 * page uptodate and a read (or a view without write-notify): install it and
 * up to FAULT_AROUND uptodate neighbours, done → else pin the view, drop the
 * mm lock (H7: store I/O never runs under it), ADD → (write: the block's
 * delayed-allocation reservation, store_reserve; -ENOSPC: SIGBUS) → page
 * lock → fill → (write: set_page_dirty = page_mkwrite) → install → unlock. munmap waits for
 * the pins of a view to drain before unmapping it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "kernel/lockdep.h"
#include "kernel/rwsem.h"
#include "mm/fault_dio.h"
#include "mm/fill.h"
#include "kernel/task.h"
#include "mm/fault_internal.h"
#include "mm/frames.h"
#include "mm/uaccess.h"
#include "mm/vma.h"

#ifndef UFFDIO_CONTINUE_MODE_WP
#define UFFDIO_CONTINUE_MODE_WP ((__u64)1 << 1)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#define FAULT_AROUND 16

struct mm_state mm;
static pthread_once_t mm_once = PTHREAD_ONCE_INIT;

/* Fallback views alive (atomic): the page-removal hook does nothing at 0. */
long mm_fallback_views;

bool mm_fault_test_keep_mm_lock;

static bool mm_fault(int sig, siginfo_t *si, void *ucv);

static int uffd_open(void)
{
	struct uffdio_api api = {
	    .api = UFFD_API,
	    .features = UFFD_FEATURE_SIGBUS | UFFD_FEATURE_MINOR_SHMEM |
			UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
	};
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);

	if (fd < 0)
		return -1;
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* fork(): the child has none of the views (MADV_DONTFORK) and the
 * userfaultfd belongs to the parent's address space. The child starts with
 * no views and a userfaultfd of its own; the parent's view records are
 * left allocated (the files' i_mmap lists still link them) but are never
 * found by an address lookup, and write-protecting through them fails
 * harmlessly (their ranges are not registered, or not mapped, in the
 * child). */
static void mm_atfork_child(void)
{
	INIT_LIST_HEAD(&mm.vmas);
	fb_atfork_child();
	if (mm.uffd < 0)
		return;
	close(mm.uffd);
	mm.uffd = uffd_open();
}

static void mm_init_once(void)
{
	init_rwsem_class(&mm.lock, &mmap_lock_key);
	INIT_LIST_HEAD(&mm.vmas);
	mm.uffd = uffd_open();
	pthread_atfork(NULL, NULL, mm_atfork_child);
	uaccess_set_fault_hook(mm_fault);
}

struct vma *find_vma(uintptr_t addr)
{
	struct vma *v;

	list_for_each_entry (v, &mm.vmas, mm_link)
		if (addr >= v->start && addr < v->end)
			return v;
	return NULL;
}

/* The view that holds all of [addr, addr + len), or NULL. mm.lock held. */
static struct vma *find_vma_range(uintptr_t addr, size_t len)
{
	struct vma *v = find_vma(addr);

	if (!v || addr + len > v->end || addr + len < addr)
		return NULL;
	return v;
}

/* Sets the process's fault state up once; its error, or 0. */
static int mm_ready(void)
{
	pthread_once(&mm_once, mm_init_once);
	return mm.init_err;
}

/* ---- installing a page in a view ---- */

static int uffd_ioctl(unsigned long req, void *arg)
{
	for (;;) {
		if (ioctl(mm.uffd, req, arg) == 0)
			return 0;
		if (errno != EAGAIN)
			return -errno;
	}
}

/* Makes @page visible at @addr in @v: writable if @writable (a dirtied
 * page of a write-notify view, or a store to a private view: the kernel
 * copies it), else read-only (write-protected where @v->wp; a private view's
 * store then copies it). 0, or -errno (-EFAULT: the frame went away
 * meanwhile; the access faults again). Fallback views: page locked. */
static int install_page(struct vma *v, uintptr_t addr, struct page *page, bool writable)
{
	struct uffdio_continue c;
	int err;

	(void)page;
	addr &= ~(uintptr_t)(PAGE_SIZE - 1);
	if (v->fallback)
		return fb_install(v, addr, writable);
	c.range.start = addr;
	c.range.len = PAGE_SIZE;
	c.mode = v->wp && !writable ? UFFDIO_CONTINUE_MODE_WP : 0;
	err = uffd_ioctl(UFFDIO_CONTINUE, &c);
	if (err == -EEXIST && writable && v->wp) {
		struct uffdio_writeprotect w = {.range = {.start = addr, .len = PAGE_SIZE},
						.mode = 0};
		err = uffd_ioctl(UFFDIO_WRITEPROTECT, &w);
	}
	return err == -EEXIST ? 0 : err;
}

pgoff_t eof_pages(struct address_space *m)
{
	int64_t size = i_size_read(m);
	return (pgoff_t)((size + (int64_t)PAGE_SIZE - 1) >> PAGE_SHIFT);
}

/* Maps the run [start, end) of uptodate pages into a uffd view with as few
 * UFFDIO_CONTINUE calls as possible: one per run, skipping any page that is
 * already mapped (-EEXIST: the kernel reports the bytes it mapped before
 * it). Write-protected where the view needs write notification. */
static void install_run(struct vma *v, uintptr_t start, uintptr_t end)
{
	while (start < end) {
		struct uffdio_continue c = {.range = {.start = start, .len = end - start},
					    .mode = v->wp ? UFFDIO_CONTINUE_MODE_WP : 0};
		if (ioctl(mm.uffd, UFFDIO_CONTINUE, &c) == 0)
			return;
		if (errno != EEXIST && errno != EAGAIN)
			return; /* the frame went away: those pages fault again */
		if (c.mapped > 0)
			start += (uintptr_t)c.mapped;
		if (errno == EEXIST)
			start += PAGE_SIZE; /* that one is mapped already */
		else if (c.mapped <= 0)
			continue; /* EAGAIN without progress: try again */
	}
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
			install_run(v, run_start, run_start + nr * PAGE_SIZE);
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
	 * enabled: the fault path takes them (ARCHITECTURE §9). */
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

static bool mm_fault(int sig, siginfo_t *si, void *ucv)
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

/* ---- map, unmap, sync ---- */

/* Registers @v with the userfaultfd: 0, or -errno (-ENODEV: the kernel
 * cannot serve this view). */
static int uffd_register(struct vma *v)
{
	struct uffdio_register reg;

	if (mm.uffd < 0)
		return -ENODEV;
	memset(&reg, 0, sizeof(reg));
	reg.range.start = v->start;
	reg.range.len = v->end - v->start;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR;
	if (v->wp)
		reg.mode |= UFFDIO_REGISTER_MODE_WP;
	if (ioctl(mm.uffd, UFFDIO_REGISTER, &reg) < 0)
		return errno == EINVAL || errno == EPERM ? -ENODEV : -errno;
	return 0;
}

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
	v->pgoff = (pgoff_t)(off >> PAGE_SHIFT);
	v->prot = prot;
	v->flags = flags;
	v->shared = flags == MAP_SHARED;
	v->wp = v->shared && may_write;
	v->mapping = m;
	v->owner = owner;
	v->tag = tag;
	v->fallback = mech == MM_FAULT_FALLBACK || (mech == MM_FAULT_AUTO && mm.uffd < 0);
retry:
	/* Both kinds map the memfd: a private view's stores copy the page. A
	 * fallback view starts PROT_READ|PROT_WRITE (so that every part of it
	 * has the same VMA flags and merges back) and fb_map protects it. */
	p = mmap(NULL, len, v->fallback ? PROT_READ | PROT_WRITE : prot, flags,
		 frames_fd(m->frames), (off_t)off);
	if (p == MAP_FAILED) {
		err = -errno;
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
		free(v);
		return err;
	}
	down_write(&mm.lock);
	down_write(&m->i_mmap_rwsem);
	list_add(&v->i_mmap_link, &m->i_mmap);
	up_write(&m->i_mmap_rwsem);
	list_add(&v->mm_link, &mm.vmas);
	up_write(&mm.lock);
	*addr = p;
	return 0;
}

/* Unlinks @v (mm lock exclusive held), waits for its pins, unmaps it. */
static void vma_remove(struct vma *v)
{
	list_del_init(&v->mm_link);
	down_write(&v->mapping->i_mmap_rwsem);
	list_del_init(&v->i_mmap_link);
	up_write(&v->mapping->i_mmap_rwsem);
}

static void vma_free(struct vma *v)
{
	/* Faults that found the view before it left the list finish first. */
	while (__atomic_load_n(&v->pins, __ATOMIC_ACQUIRE))
		sched_yield();
	if (v->fallback) {
		fb_unmap(v);
	} else {
		struct uffdio_range range = {.start = v->start, .len = v->end - v->start};
		(void)ioctl(mm.uffd, UFFDIO_UNREGISTER, &range);
	}
	munmap((void *)v->start, v->end - v->start);
	free(v);
}

int mm_unmap(void *addr, size_t len, void **owner)
{
	struct vma *v;

	if (mm_ready())
		return -EINVAL;
	len = (len + PAGE_SIZE - 1) & ~(size_t)(PAGE_SIZE - 1);
	down_write(&mm.lock);
	v = find_vma((uintptr_t)addr);
	if (!v || v->start != (uintptr_t)addr || v->end - v->start != len) {
		up_write(&mm.lock);
		return -EINVAL; /* only whole views */
	}
	vma_remove(v);
	up_write(&mm.lock);
	*owner = v->owner;
	vma_free(v);
	return 0;
}

void *mm_unmap_one_tagged(void *tag)
{
	struct vma *v, *found = NULL;
	void *owner;

	if (mm_ready())
		return NULL;
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
	owner = found->owner;
	vma_free(found);
	return owner;
}

int mm_sync(void *addr, size_t len, int flags)
{
	uintptr_t a = (uintptr_t)addr;
	struct vma *v;
	int64_t start, end;
	int err = 0;

	if ((a & (PAGE_SIZE - 1)) || (flags & ~(MS_SYNC | MS_ASYNC | MS_INVALIDATE)) ||
	    ((flags & MS_SYNC) && (flags & MS_ASYNC)))
		return -EINVAL;
	if (mm_ready())
		return -ENOMEM;
	down_read(&mm.lock);
	v = find_vma_range(a, len);
	if (!v) {
		up_read(&mm.lock);
		return -ENOMEM; /* Linux: range not mapped */
	}
	__atomic_fetch_add(&v->pins, 1, __ATOMIC_ACQUIRE);
	up_read(&mm.lock);
	if (v->shared && (flags & (MS_SYNC | MS_ASYNC))) {
		start = (int64_t)(vma_index(v, a) << PAGE_SHIFT);
		end = start + (int64_t)(len ? len : 1) - 1;
		if (flags & MS_SYNC)
			err = filemap_write_and_wait_range(v->mapping, start, end);
		else
			err = filemap_fdatawrite_range(v->mapping, start, end);
	}
	__atomic_fetch_sub(&v->pins, 1, __ATOMIC_RELEASE);
	return err;
}

int mm_protect(void *addr, size_t len, int prot)
{
	uintptr_t a = (uintptr_t)addr;
	struct vma *v;
	int err = 0;

	if ((a & (PAGE_SIZE - 1)) || (prot & ~(PROT_READ | PROT_WRITE)))
		return -EINVAL;
	len = (len + PAGE_SIZE - 1) & ~(size_t)(PAGE_SIZE - 1);
	if (!len)
		return 0;
	if (mm_ready())
		return -ENOMEM;
	down_write(&mm.lock);
	v = find_vma_range(a, len);
	if (!v)
		err = -ENOMEM;
	else if (v->shared && (prot & PROT_WRITE) && !v->wp)
		err = -EACCES; /* the file is not open for writing */
	else if (v->fallback)
		err = fb_mprotect(v, a, len, prot);
	else if (mprotect(addr, len, prot) < 0)
		err = -errno;
	else if (a == v->start && a + len == v->end)
		v->prot = prot;
	else
		v->prot |= prot;
	up_write(&mm.lock);
	return err;
}

int mm_advise(void *addr, size_t len, int advice)
{
	uintptr_t a = (uintptr_t)addr;
	struct vma *v;
	pgoff_t index, nr, eof;
	int err = 0;

	if (a & (PAGE_SIZE - 1))
		return -EINVAL;
	if (advice != MADV_WILLNEED && advice != MADV_DONTNEED && advice != MADV_POPULATE_READ &&
	    advice != MADV_POPULATE_WRITE)
		return -EINVAL;
	len = (len + PAGE_SIZE - 1) & ~(size_t)(PAGE_SIZE - 1);
	if (!len)
		return 0;
	if (mm_ready())
		return -ENOMEM;
	down_read(&mm.lock);
	v = find_vma_range(a, len);
	if (!v) {
		up_read(&mm.lock);
		return -ENOMEM; /* Linux: range not mapped */
	}
	if (advice == MADV_POPULATE_WRITE && !(v->prot & PROT_WRITE)) {
		up_read(&mm.lock);
		return -EINVAL;
	}
	__atomic_fetch_add(&v->pins, 1, __ATOMIC_ACQUIRE);
	up_read(&mm.lock);
	switch (advice) {
	case MADV_WILLNEED: /* readahead of the range, clipped at EOF */
		index = vma_index(v, a);
		eof = eof_pages(v->mapping);
		nr = len >> PAGE_SHIFT;
		if (index < eof)
			err = force_page_cache_readahead(
			    v->mapping, index, (unsigned long)min_t(pgoff_t, nr, eof - index));
		break;
	case MADV_DONTNEED: /* unmap: the next access faults (shared: from the
			     * cache; private: the copy is dropped, as Linux) */
		if (v->fallback)
			fb_protect_none(v, a, len, true);
		if (madvise(addr, len, MADV_DONTNEED) < 0)
			err = -errno;
		break;
	case MADV_POPULATE_READ: /* fault in from user mode, no lock held */
		if (fault_in_readable(addr, len))
			err = -EFAULT;
		break;
	case MADV_POPULATE_WRITE:
		if (fault_in_writeable(addr, len))
			err = -EFAULT;
		break;
	}
	__atomic_fetch_sub(&v->pins, 1, __ATOMIC_RELEASE);
	return err;
}

void mm_page_mkclean(struct page *page)
{
	struct address_space *m = page->mapping;
	struct vma *v;

	down_read(&m->i_mmap_rwsem);
	list_for_each_entry (v, &m->i_mmap, i_mmap_link) {
		struct uffdio_writeprotect w;
		if (!v->wp || page->index < v->pgoff || page->index >= v->pgoff + vma_pages(v))
			continue;
		w.range.start = v->start + ((page->index - v->pgoff) << PAGE_SHIFT);
		w.range.len = PAGE_SIZE;
		w.mode = UFFDIO_WRITEPROTECT_MODE_WP;
		if (v->fallback)
			fb_mkclean(v, w.range.start);
		else
			(void)uffd_ioctl(UFFDIO_WRITEPROTECT, &w);
	}
	up_read(&m->i_mmap_rwsem);
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

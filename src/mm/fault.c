/* SPDX-License-Identifier: MIT */
/*
 * fault.c - mappings of cached files and their page faults (vma.h).
 *
 * The fault hook runs in the faulting thread, in signal context, for a
 * SIGBUS the CPU raised (never for a fault of a nofault copy: uaccess.c
 * fixes those up before calling us). It takes only our own locks, which
 * the interrupted instruction (an application load or store, or one of our
 * faulting copies, run with no engine lock but i_rwsem) cannot hold. It
 * uses no stdio; the one allocation it can reach is the per-thread task of
 * a thread that never called the engine (get_current), which is safe here
 * because the interrupted code is a load or store of our view, never
 * inside the allocator.
 *
 * Sequence (ARCHITECTURE §7 "Faults"): mm lock shared → find the view (not
 * ours: return false, the hook chains) → page beyond EOF: false (SIGBUS) →
 * page uptodate and a read (or a view without write-notify): install it and
 * up to FAULT_AROUND uptodate neighbours, done → else pin the view, drop the
 * mm lock (H7: store I/O never runs under it), ADD → page lock → fill →
 * (write: set_page_dirty = page_mkwrite) → install → unlock. munmap waits for
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
#include "mm/fill.h"
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
#define X86_PF_PROT  1ul
#define X86_PF_WRITE 2ul

struct vma {
	uintptr_t start, end; /* [start, end), page aligned */
	pgoff_t pgoff;	      /* file page at start */
	int prot, flags;
	bool wp; /* MAP_SHARED of a writable file: write-notify */
	bool shared;
	struct address_space *mapping;
	void *owner;
	long pins;		      /* atomic: fault paths running without the mm lock */
	struct list_head mm_link;     /* mm.vmas, under the mm lock */
	struct list_head i_mmap_link; /* mapping->i_mmap, under i_mmap_rwsem */
};

static struct {
	struct rw_semaphore lock; /* "mm_lock" */
	struct list_head vmas;
	int uffd;
	int init_err;
} mm;
static pthread_once_t mm_once = PTHREAD_ONCE_INIT;

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
 * harmlessly (their ranges are not registered in the child). */
static void mm_atfork_child(void)
{
	if (mm.uffd < 0)
		return;
	close(mm.uffd);
	mm.uffd = uffd_open();
	if (mm.uffd < 0)
		mm.init_err = -ENODEV;
	INIT_LIST_HEAD(&mm.vmas);
}

static void mm_init_once(void)
{
	init_rwsem_class(&mm.lock, &mmap_lock_key);
	INIT_LIST_HEAD(&mm.vmas);
	mm.uffd = uffd_open();
	if (mm.uffd < 0) {
		mm.init_err = -ENODEV;
		return;
	}
	pthread_atfork(NULL, NULL, mm_atfork_child);
	uaccess_set_fault_hook(mm_fault);
}

static struct vma *find_vma(uintptr_t addr)
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
 * page of a write-notify view), else write-protected where @v->wp. 0, or
 * -errno (-EFAULT: the frame went away meanwhile; the access faults again). */
static int install_page(struct vma *v, uintptr_t addr, struct page *page, bool writable)
{
	addr &= ~(uintptr_t)(PAGE_SIZE - 1);
	if (v->shared) {
		struct uffdio_continue c = {
		    .range = {.start = addr, .len = PAGE_SIZE},
		    .mode = v->wp && !writable ? UFFDIO_CONTINUE_MODE_WP : 0,
		};
		int err = uffd_ioctl(UFFDIO_CONTINUE, &c);
		if (err == -EEXIST && writable) {
			struct uffdio_writeprotect w = {.range = {.start = addr, .len = PAGE_SIZE},
							.mode = 0};
			err = uffd_ioctl(UFFDIO_WRITEPROTECT, &w);
		}
		return err == -EEXIST ? 0 : err;
	} else {
		struct uffdio_copy c = {
		    .dst = addr, .src = (uintptr_t)page_address(page), .len = PAGE_SIZE};
		int err = uffd_ioctl(UFFDIO_COPY, &c);
		return err == -EEXIST ? 0 : err;
	}
}

static pgoff_t vma_index(const struct vma *v, uintptr_t addr)
{
	return v->pgoff + ((addr - v->start) >> PAGE_SHIFT);
}

static pgoff_t eof_pages(struct address_space *m)
{
	int64_t size = i_size_read(m);
	return (pgoff_t)((size + (int64_t)PAGE_SIZE - 1) >> PAGE_SHIFT);
}

/* Read fault-around: install uptodate cached neighbours of @addr (mm lock
 * shared held; no page lock: a page truncated meanwhile has its frame
 * punched, which unmaps it again). */
static void fault_around(struct vma *v, uintptr_t addr)
{
	uintptr_t page_addr = addr & ~(uintptr_t)(PAGE_SIZE - 1);
	uintptr_t from = page_addr & ~(uintptr_t)(FAULT_AROUND * PAGE_SIZE - 1);
	pgoff_t eof = eof_pages(v->mapping);

	if (from < v->start)
		from = v->start;
	for (uintptr_t a = from; a < v->end && a < from + FAULT_AROUND * PAGE_SIZE;
	     a += PAGE_SIZE) {
		struct page *p;
		if (a == page_addr)
			continue;
		if (vma_index(v, a) >= eof)
			break;
		p = find_get_page(&v->mapping->i_pages, vma_index(v, a));
		if (!p)
			continue;
		if (PageUptodate(p))
			(void)install_page(v, a, p, false);
		put_page(p);
	}
}

/* The slow path, with @v pinned and the mm lock dropped (unless the test
 * switch keeps it): the page uptodate under ADD + page lock, dirtied for a
 * write to a write-notify view, installed. false: SIGBUS (EOF, I/O error). */
static bool fault_fill(struct vma *v, uintptr_t addr, bool write)
{
	struct address_space *m = v->mapping;
	pgoff_t index = vma_index(v, addr);
	struct page *page;
	bool ok = false;
	int err = 0;

	reclaim_if_needed(m->cache, 1);
	filemap_invalidate_lock_add(m);
	if (index >= eof_pages(m))
		goto out; /* truncated meanwhile */
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
		if (dirty)
			set_page_dirty(page);
		err = install_page(v, addr, page, dirty);
		ok = !err || err == -EFAULT; /* -EFAULT: faults again */
	}
	unlock_page(page);
	put_page(page);
out:
	filemap_invalidate_unlock_add(m);
	return ok;
}

static bool mm_fault(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	uintptr_t addr = (uintptr_t)si->si_addr;
	unsigned long err_code = (unsigned long)uc->uc_mcontext.gregs[REG_ERR];
	bool write = err_code & X86_PF_WRITE;
	struct vma *v;
	struct page *page;
	bool ok;

	if (sig != SIGBUS || mm.uffd < 0)
		return false;
	down_read(&mm.lock);
	v = find_vma(addr);
	if (!v || vma_index(v, addr) >= eof_pages(v->mapping)) {
		up_read(&mm.lock);
		return false; /* not ours, or a whole page beyond EOF: SIGBUS */
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

int mm_map(struct address_space *m, size_t len, int prot, int flags, int64_t off, bool may_write,
	   void *owner, void **addr)
{
	struct uffdio_register reg;
	struct vma *v;
	void *p;
	int err;

	err = mm_ready();
	if (err)
		return err;
	if (!len || off < 0 || (off & (int64_t)(PAGE_SIZE - 1)) ||
	    (prot & ~(PROT_READ | PROT_WRITE)) || !(prot & PROT_READ) ||
	    (flags != MAP_SHARED && flags != MAP_PRIVATE))
		return -EINVAL;
	len = (len + PAGE_SIZE - 1) & ~(size_t)(PAGE_SIZE - 1);
	if ((uint64_t)off + len > ((uint64_t)PAGE_INDEX_MAX << PAGE_SHIFT))
		return -EOVERFLOW;
	/* The memfd must cover the view's offsets (a MAP_SHARED mapping of a
	 * shorter file would SIGBUS outside our handler's control... it does
	 * raise SIGBUS, which we serve, but keep the mapping well-formed). */
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (flags == MAP_SHARED)
		p = mmap(NULL, len, prot, MAP_SHARED, frames_fd(m->frames), (off_t)off);
	else
		p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		err = -errno;
		free(v);
		return err;
	}
	(void)madvise(p, len, MADV_DONTFORK);
	(void)madvise(p, len, MADV_NOHUGEPAGE);
	v->start = (uintptr_t)p;
	v->end = v->start + len;
	v->pgoff = (pgoff_t)(off >> PAGE_SHIFT);
	v->prot = prot;
	v->flags = flags;
	v->shared = flags == MAP_SHARED;
	v->wp = v->shared && may_write;
	v->mapping = m;
	v->owner = owner;
	memset(&reg, 0, sizeof(reg));
	reg.range.start = v->start;
	reg.range.len = len;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (v->shared)
		reg.mode |= UFFDIO_REGISTER_MODE_MINOR;
	if (v->wp)
		reg.mode |= UFFDIO_REGISTER_MODE_WP;
	if (ioctl(mm.uffd, UFFDIO_REGISTER, &reg) < 0) {
		err = -errno;
		munmap(p, len);
		free(v);
		return err == -EINVAL ? -ENODEV : err;
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

int mm_unmap(void *addr, size_t len, void **owner)
{
	struct uffdio_range range;
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
	list_del_init(&v->mm_link);
	down_write(&v->mapping->i_mmap_rwsem);
	list_del_init(&v->i_mmap_link);
	up_write(&v->mapping->i_mmap_rwsem);
	up_write(&mm.lock);
	/* Faults that found the view before it left the list finish first. */
	while (__atomic_load_n(&v->pins, __ATOMIC_ACQUIRE))
		sched_yield();
	range.start = v->start;
	range.len = len;
	(void)ioctl(mm.uffd, UFFDIO_UNREGISTER, &range);
	munmap(addr, len);
	*owner = v->owner;
	free(v);
	return 0;
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
		if (!v->wp || page->index < v->pgoff ||
		    page->index >= v->pgoff + ((v->end - v->start) >> PAGE_SHIFT))
			continue;
		w.range.start = v->start + ((page->index - v->pgoff) << PAGE_SHIFT);
		w.range.len = PAGE_SIZE;
		w.mode = UFFDIO_WRITEPROTECT_MODE_WP;
		(void)uffd_ioctl(UFFDIO_WRITEPROTECT, &w);
	}
	up_read(&m->i_mmap_rwsem);
}

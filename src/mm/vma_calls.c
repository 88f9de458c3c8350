/* SPDX-License-Identifier: MIT */
/*
 * vma_calls.c - msync, mprotect and madvise of views (vma.h: mm_sync,
 * mm_protect, mm_advise); the view registry itself (mmap, munmap, the
 * lookups) is vma.c.
 *
 * Locks: the mm lock shared to find the view of a range (find_vma_range) for
 * msync and madvise, which pin it and drop the lock before blocking work
 * (writeback, readahead: H7); exclusive for mprotect, which changes v->prot
 * and the host protection with no wait for pins (the fault path reads
 * neither v->prot nor, unlocked, a fallback view's page states, which
 * mm_fallback_lock guards). madvise POPULATE faults with no pin held: a
 * split (munmap of part of a view) waits for pins under the mm lock, which
 * those faults' locked lookup takes. MADV_WILLNEED reads ahead through the
 * mapping's fault_lock hook (cluster mode: the file's glock), as a fault.
 */
#include <errno.h>
#include <sys/mman.h>

#include "kernel/rwsem.h"
#include "mm/fault_internal.h"
#include "mm/uaccess.h"
#include "mm/vma.h"

int mm_sync(void *addr, size_t len, int flags, void *tag)
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
	err = find_vma_range(a, len, tag, &v);
	if (err) {
		up_read(&mm.lock);
		return err;
	}
	vma_pin(v);
	up_read(&mm.lock);
	if (v->shared && (flags & (MS_SYNC | MS_ASYNC))) {
		start = (int64_t)(vma_index(v, a) << PAGE_SHIFT);
		end = start + (int64_t)(len ? len : 1) - 1;
		if (flags & MS_SYNC)
			err = filemap_write_and_wait_range(v->mapping, start, end);
		else
			err = filemap_fdatawrite_range(v->mapping, start, end);
	}
	vma_unpin(v);
	return err;
}

static int protect_view(struct vma *v, void *addr, size_t len, int prot);

int mm_protect(void *addr, size_t len, int prot, void *tag)
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
	err = find_vma_range(a, len, tag, &v);
	if (!err)
		err = protect_view(v, addr, len, prot);
	up_write(&mm.lock);
	return err;
}

/* mm_protect's change of @v (mm lock exclusive held). */
static int protect_view(struct vma *v, void *addr, size_t len, int prot)
{
	uintptr_t a = (uintptr_t)addr;
	int err = 0;

	if (v->shared && (prot & PROT_WRITE) && !v->wp)
		err = -EACCES; /* the file is not open for writing */
	else if (v->fallback)
		err = fb_mprotect(v, a, len, prot);
	else if (mprotect(addr, len, prot) < 0)
		err = -errno;
	else if (a == v->start && a + len == v->end)
		v->prot = prot;
	else
		v->prot |= prot;
	return err;
}

struct willneed_arg {
	struct vma *v;
	uintptr_t a;
	size_t len;
	int err;
};

static bool willneed_fill(void *arg)
{
	struct willneed_arg *w = arg;
	struct address_space *m = w->v->mapping;
	pgoff_t index = vma_index(w->v, w->a), nr = w->len >> PAGE_SHIFT, eof;

	eof = eof_pages(m); /* the size under the fault lock (cluster: a fresh one) */
	if (index < eof)
		w->err = force_page_cache_readahead(m, index,
						    (unsigned long)min_t(pgoff_t, nr, eof - index));
	return true;
}

/* MADV_WILLNEED: readahead, as a fill: under the mapping's fault_lock hook
 * when it has one (cluster mode: the file's glock SH, so that pages enter
 * the cache only under a glock that lets the node cache them); the view is
 * pinned and the mm lock dropped, as for a fault. A hook that refuses
 * (membership lost) makes the advice a no-op. */
static int willneed(struct vma *v, uintptr_t a, size_t len)
{
	struct willneed_arg w = {v, a, len, 0};
	struct address_space *m = v->mapping;

	if (m->fault_lock && likely(!READ_ONCE(mm_test_willneed_no_fault_lock)))
		m->fault_lock(m, false, willneed_fill, &w);
	else
		willneed_fill(&w);
	return w.err;
}

TEST_SWITCH(mm_test_willneed_no_fault_lock);

int mm_advise(void *addr, size_t len, int advice, void *tag)
{
	uintptr_t a = (uintptr_t)addr;
	struct vma *v;
	int err = 0;

	if (a & (PAGE_SIZE - 1))
		return -EINVAL;
	if (advice != MADV_WILLNEED && advice != MADV_DONTNEED && advice != MADV_POPULATE_READ &&
	    advice != MADV_POPULATE_WRITE && advice != MADV_NORMAL && advice != MADV_SEQUENTIAL &&
	    advice != MADV_RANDOM)
		return -EINVAL;
	len = (len + PAGE_SIZE - 1) & ~(size_t)(PAGE_SIZE - 1);
	if (!len)
		return 0;
	if (mm_ready())
		return -ENOMEM;
	down_read(&mm.lock);
	err = find_vma_range(a, len, tag, &v);
	if (err) {
		up_read(&mm.lock);
		return err;
	}
	if (advice == MADV_POPULATE_WRITE && !(v->prot & PROT_WRITE)) {
		up_read(&mm.lock);
		return -EINVAL;
	}
	if (advice == MADV_NORMAL || advice == MADV_SEQUENTIAL || advice == MADV_RANDOM) {
		/* The fault path's readahead pattern (VM_SEQ_READ/VM_RAND_READ),
		 * for the whole view. */
		WRITE_ONCE(v->advice, advice);
		up_read(&mm.lock);
		return 0;
	}
	vma_pin(v);
	up_read(&mm.lock);
	switch (advice) {
	case MADV_WILLNEED: /* readahead of the range, clipped at EOF */
		err = willneed(v, a, len);
		break;
	case MADV_DONTNEED: /* unmap: the next access faults (shared: from the
			     * cache; private: the copy is dropped, as Linux) */
		if (v->fallback)
			fb_protect_none(v, a, len, true);
		if (madvise(addr, len, MADV_DONTNEED) < 0)
			err = -errno;
		break;
	case MADV_POPULATE_READ: /* fault in from user mode, no lock held */
	case MADV_POPULATE_WRITE:
		/* without the pin: the faults pin the view themselves, and a
		 * split (munmap) waits for pins under the mm lock, which the
		 * faults' locked lookup takes */
		vma_unpin(v);
		if (advice == MADV_POPULATE_READ ? fault_in_readable(addr, len)
						 : fault_in_writeable(addr, len))
			return -EFAULT;
		return 0;
	}
	vma_unpin(v);
	return err;
}

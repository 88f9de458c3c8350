/* SPDX-License-Identifier: MIT */
/*
 * vma_calls.c - msync, mprotect and madvise of views (vma.h: mm_sync,
 * mm_protect, mm_advise); the view registry itself (mmap, munmap, the
 * lookups, split_vma) is vma.c. A range may cover parts of several
 * adjacent views, as Linux's: each call works on every view in the range,
 * view by view, and answers -ENOMEM for an unmapped hole the way the
 * kernel's does (mprotect, MS_ASYNC and MADV_POPULATE_* stop at the hole,
 * after the views before it; msync otherwise and the other madvises go on
 * past it and return -ENOMEM at the end).
 *
 * Locks: the mm lock shared to find each view of the range (find_vma_from)
 * for msync and madvise, which pin it and drop the lock before blocking
 * work (writeback, readahead: H7); exclusive for mprotect and
 * MADV_NORMAL/SEQUENTIAL/RANDOM, which split a view that the range covers
 * in part (split_vma: the kernel's vma_modify, waits for the view's pins)
 * and change the part's v->prot (and the host protection) or v->advice,
 * then merge it with a neighbouring part of the same mmap alike again
 * (vma_merge, which waits for the pins of both);
 * the fault path reads neither v->prot nor, unlocked, a fallback view's
 * page states, which mm_fallback_lock guards. madvise POPULATE faults with
 * no pin held: a split waits for pins under the mm lock, which those
 * faults' locked lookup takes. MADV_WILLNEED reads ahead through the
 * mapping's fault_lock hook (cluster mode: the file's glock), as a fault.
 */
#include <errno.h>
#include <sys/mman.h>

#include "kernel/rwsem.h"
#include "mm/fault_internal.h"
#include "mm/uaccess.h"
#include "mm/vma.h"

TEST_SWITCH(mm_test_modify_no_split);

/* The checks the three calls share (the kernel's): @a page aligned
 * (-EINVAL), @len rounded up to whole pages, a range that wraps (or @len
 * that rounds up past the top) gives @wrap_err (mprotect and msync -ENOMEM,
 * madvise -EINVAL). 0 with *end set (*end == @a: empty, the call does
 * nothing). */
static int user_range(uintptr_t a, size_t len, int wrap_err, uintptr_t *end)
{
	size_t r = (len + PAGE_SIZE - 1) & ~(size_t)(PAGE_SIZE - 1);

	if (a & (PAGE_SIZE - 1))
		return -EINVAL;
	if ((len && !r) || a + r < a)
		return wrap_err;
	*end = a + r;
	return 0;
}

/* Views of another engine in [s, e): -EINVAL, before anything is done. */
static int range_tag(uintptr_t s, uintptr_t e, void *tag)
{
	return READ_ONCE(mm_test_any_tag) ? 0 : check_range_tag(s, e, tag);
}

/*
 * The next view of [*cur, e), as the kernel's msync and madvise walk the
 * VMAs: under the mm lock shared, the lowest view at or after *cur (one
 * beyond a hole sets *hole and moves *cur up to it), pinned, the lock
 * dropped. Returns it with *pend = min(e, its end), or NULL when no view
 * is left in the range (*hole set if some of it was not mapped; *err
 * -EINVAL for a view of another tag mapped meanwhile).
 */
static struct vma *pin_next(uintptr_t *cur, uintptr_t e, void *tag, uintptr_t *pend, bool *hole,
			    int *err)
{
	struct vma *v;

	down_read(&mm.lock);
	v = find_vma_from(*cur, e);
	if (v && v->tag != tag && !READ_ONCE(mm_test_any_tag)) {
		*err = -EINVAL;
		v = NULL;
	}
	if (!v) {
		up_read(&mm.lock);
		*hole = true;
		return NULL;
	}
	if (v->start > *cur) {
		*hole = true;
		*cur = v->start;
	}
	*pend = v->end < e ? v->end : e;
	vma_pin(v);
	up_read(&mm.lock);
	return v;
}

int mm_sync(void *addr, size_t len, int flags, void *tag)
{
	uintptr_t cur = (uintptr_t)addr, e, pend;
	bool hole = false;
	struct vma *v;
	int err;

	if ((flags & ~(MS_SYNC | MS_ASYNC | MS_INVALIDATE)) ||
	    ((flags & MS_SYNC) && (flags & MS_ASYNC)))
		return -EINVAL;
	err = user_range(cur, len, -ENOMEM, &e);
	if (err || e == cur)
		return err;
	if (mm_ready())
		return -ENOMEM;
	down_read(&mm.lock);
	err = range_tag(cur, e, tag);
	up_read(&mm.lock);
	/* The kernel's msync: MS_ASYNC alone stops at a hole, the others sync
	 * every view in the range and say -ENOMEM at the end. */
	while (!err && cur < e && (v = pin_next(&cur, e, tag, &pend, &hole, &err))) {
		int64_t start = (int64_t)(vma_index(v, cur) << PAGE_SHIFT);
		int64_t end = start + (int64_t)(pend - cur) - 1;

		if (hole && flags == MS_ASYNC) {
			vma_unpin(v);
			break;
		}
		if (v->shared && (flags & MS_SYNC))
			err = filemap_write_and_wait_range(v->mapping, start, end);
		else if (v->shared && (flags & MS_ASYNC))
			err = filemap_fdatawrite_range(v->mapping, start, end);
		vma_unpin(v);
		cur = pend;
	}
	return err ? err : hole ? -ENOMEM : 0;
}

/* The part [s, e) of view @v as a view of its own (mm lock exclusive): split
 * where @s or @e fall inside it (the kernel's vma_modify). The view of
 * [s, min(e, v->end)), or NULL with *err (-ENOMEM: the split found no
 * memory; the views before stay changed, as Linux's). With
 * mm_test_modify_no_split, @v itself, whole. */
static struct vma *vma_modify(struct vma *v, uintptr_t s, uintptr_t e, int *err)
{
	if (READ_ONCE(mm_test_modify_no_split))
		return v;
	if (v->start < s) {
		*err = split_vma(v, s);
		if (*err)
			return NULL;
		v = find_vma(s);
	}
	if (v->end > e) {
		*err = split_vma(v, e);
		if (*err)
			return NULL;
	}
	return v;
}

/* mm_protect's change of view @v, whole (the range's part of it with
 * mm_test_modify_no_split). Mm lock exclusive held. */
static int protect_view(struct vma *v, uintptr_t s, uintptr_t e, int prot)
{
	if (v->start > s)
		s = v->start;
	if (v->end < e)
		e = v->end;
	if (v->fallback) {
		int err = fb_mprotect(v, s, e - s, prot);
		if (err)
			return err;
	} else if (mprotect((void *)s, e - s, prot) < 0) {
		return -errno;
	}
	v->prot = prot;
	return 0;
}

int mm_protect(void *addr, size_t len, int prot, void *tag)
{
	uintptr_t cur = (uintptr_t)addr, e;
	struct vma *v;
	int err;

	if (prot & ~(PROT_READ | PROT_WRITE))
		return -EINVAL;
	err = user_range(cur, len, -ENOMEM, &e);
	if (err || e == cur)
		return err;
	if (mm_ready())
		return -ENOMEM;
	down_write(&mm.lock);
	err = range_tag(cur, e, tag);
	/* The kernel's do_mprotect_pkey: view by view from the start, to the
	 * first hole (-ENOMEM) or refusal, the views before it changed. A view
	 * already so protected is left whole. */
	while (!err && cur < e) {
		v = find_vma(cur);
		if (!v)
			err = -ENOMEM;
		else if (v->shared && (prot & PROT_WRITE) && !v->wp)
			err = -EACCES; /* the file is not open for writing */
		else if (v->prot != prot && (v = vma_modify(v, cur, e, &err)) &&
			 !(err = protect_view(v, cur, e, prot)))
			v = vma_merge(v);
		if (!err)
			cur = v->end;
	}
	up_write(&mm.lock);
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
	uintptr_t cur = (uintptr_t)addr, e, pend;
	bool populate = advice == MADV_POPULATE_READ || advice == MADV_POPULATE_WRITE;
	bool hole = false;
	struct vma *v;
	int err;

	if (advice != MADV_WILLNEED && advice != MADV_DONTNEED && advice != MADV_POPULATE_READ &&
	    advice != MADV_POPULATE_WRITE && advice != MADV_NORMAL && advice != MADV_SEQUENTIAL &&
	    advice != MADV_RANDOM)
		return -EINVAL;
	err = user_range(cur, len, -EINVAL, &e);
	if (err || e == cur)
		return err;
	if (mm_ready())
		return -ENOMEM;
	if (advice == MADV_NORMAL || advice == MADV_SEQUENTIAL || advice == MADV_RANDOM) {
		/* The fault path's readahead pattern (VM_SEQ_READ/VM_RAND_READ) of
		 * the range's views, split to the range (madvise_update_vma);
		 * holes skipped, -ENOMEM at the end. */
		down_write(&mm.lock);
		err = range_tag(cur, e, tag);
		while (!err && cur < e && (v = find_vma_from(cur, e))) {
			if (v->start > cur) {
				hole = true;
				cur = v->start;
			}
			if (v->advice != advice && (v = vma_modify(v, cur, e, &err))) {
				WRITE_ONCE(v->advice, advice);
				v = vma_merge(v);
			}
			if (v)
				cur = v->end;
		}
		up_write(&mm.lock);
		return err ? err : (hole || cur < e) ? -ENOMEM : 0;
	}
	down_read(&mm.lock);
	err = range_tag(cur, e, tag);
	up_read(&mm.lock);
	while (!err && cur < e && (v = pin_next(&cur, e, tag, &pend, &hole, &err))) {
		void *a = (void *)cur;
		size_t n = pend - cur;

		if (populate && hole) { /* the kernel's madvise_populate stops there */
			vma_unpin(v);
			break;
		}
		if (advice == MADV_POPULATE_WRITE && !(v->prot & PROT_WRITE)) {
			vma_unpin(v);
			return -EINVAL;
		}
		switch (advice) {
		case MADV_WILLNEED: /* readahead of the range, clipped at EOF */
			err = willneed(v, cur, n);
			break;
		case MADV_DONTNEED: /* unmap: the next access faults (shared: from
				     * the cache; private: the copy is dropped, as
				     * Linux) */
			if (v->fallback)
				fb_protect_none(v, cur, n, true);
			if (madvise(a, n, MADV_DONTNEED) < 0)
				err = -errno;
			break;
		}
		/* POPULATE: fault in from user mode with no pin held: the faults
		 * pin the view themselves, and a split (munmap) waits for pins
		 * under the mm lock, which the faults' locked lookup takes */
		vma_unpin(v);
		if (advice == MADV_POPULATE_READ && fault_in_readable(a, n))
			return -EFAULT;
		if (advice == MADV_POPULATE_WRITE && fault_in_writeable(a, n))
			return -EFAULT;
		cur = pend;
	}
	return err ? err : hole ? -ENOMEM : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * mmap.c - the mapping calls of the public API (pc_mmap, pc_munmap,
 * pc_msync, pc_mprotect, pc_madvise). A view keeps the file reference it took at pc_mmap (fdget)
 * until pc_munmap, so the mapping outlives pc_close of the descriptor; the
 * mm layer (src/mm/vma.c, fault.c) owns the views and serves their faults.
 *
 * The engine's fault_mechanism option picks the mechanism of its views;
 * pc_engine_close unmaps the views still mapped (pc_munmap_all).
 *
 * Locks: none held here; mm_map/mm_unmap take the mm lock exclusive and
 * the file's i_mmap_rwsem; mm_sync drops the mm lock before writeback.
 */
#include <errno.h>
#include <sys/mman.h>

#include "api/engine.h"
#include "mm/uaccess.h"
#include "mm/vma.h"

void *pc_mmap(struct pc_engine *e, int fd, size_t len, int prot, int flags, off_t offset, int *err)
{
	ENGINE_ENTER(e);
	struct file *f;
	void *addr = NULL;
	int ret;

	if (!e || !err) {
		if (err)
			*err = -EINVAL;
		return NULL;
	}
	f = fdget(&e->fdt, fd);
	if (!f) {
		*err = -EBADF;
		return NULL;
	}
	/* A thread that blocks SIGSEGV/SIGBUS would be killed by its first
	 * access to the view: say so now. */
	if (uaccess_check_sigmask()) {
		fdput(e, f);
		*err = -EDEADLK;
		return NULL;
	}
	/* Linux's order: the access mode first, then a file without mmap. */
	if (!(f->f_mode & FMODE_READ) ||
	    (flags == MAP_SHARED && (prot & PROT_WRITE) && !(f->f_mode & FMODE_WRITE)))
		ret = -EACCES;
	else if (!f->f_inode)
		ret = -ENODEV; /* a directory */
	else
		ret = mm_map(f->f_mapping, len, prot, flags, (int64_t)offset,
			     (f->f_mode & FMODE_WRITE) != 0, e->fault_mechanism, e, f, &addr);
	if (ret) {
		fdput(e, f);
		*err = ret;
		return NULL;
	}
	*err = 0;
	return addr;
}

/* A view's file reference, handed back by mm_unmap when no part of the
 * view is left. */
static void view_put_file(void *tag, void *owner)
{
	fdput(tag, owner);
}

int pc_munmap(struct pc_engine *e, void *addr, size_t len)
{
	ENGINE_ENTER(e);
	if (!e)
		return -EINVAL;
	return mm_unmap(addr, len, e, view_put_file);
}

void pc_munmap_all(struct pc_engine *e)
{
	void *owner;

	while ((owner = mm_unmap_one_tagged(e)))
		fdput(e, owner);
}

int pc_msync(struct pc_engine *e, void *addr, size_t len, int flags)
{
	ENGINE_ENTER(e);
	if (!e)
		return -EINVAL;
	return mm_sync(addr, len, flags, e);
}

int pc_madvise(struct pc_engine *e, void *addr, size_t len, int advice)
{
	ENGINE_ENTER(e);
	if (!e)
		return -EINVAL;
	return mm_advise(addr, len, advice, e);
}

int pc_mprotect(struct pc_engine *e, void *addr, size_t len, int prot)
{
	ENGINE_ENTER(e);
	if (!e)
		return -EINVAL;
	return mm_protect(addr, len, prot, e);
}

int pc_engine_fault_mechanism(struct pc_engine *e)
{
	ENGINE_ENTER(e);
	if (!e)
		return -EINVAL;
	return mm_fault_mechanism(e->fault_mechanism);
}

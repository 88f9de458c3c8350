/* SPDX-License-Identifier: MIT */
/*
 * fault_uffd.c - the userfaultfd fault mechanism: one userfaultfd per
 * process (SIGBUS mode, user-mode-only) with every non-fallback view
 * registered for MISSING | MINOR (and WP for write-notify views); the fault
 * core (fault.c) installs pages with UFFDIO_CONTINUE (a store to a page
 * mapped write-protected: UFFDIO_WRITEPROTECT lifting the protection) and
 * writeback write-protects them again with UFFDIO_WRITEPROTECT. The view
 * registry is vma.c, the fallback mechanism fault_fallback.c.
 *
 * Locks: none of its own. Installing runs in the faulting thread (signal
 * context) with the view pinned (and the page lock or a page reference),
 * as fault.c documents; registering runs from vma.c's mm_map before the
 * view is linked (unregistering only when mm_map fails after it: munmap
 * drops a registration with the kernel VMA, so vma_free does not). Only
 * ioctl/close system calls: async-signal-safe.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mm/fault_internal.h"
#include "mm/vma.h"

#ifndef UFFDIO_CONTINUE_MODE_WP
#define UFFDIO_CONTINUE_MODE_WP ((__u64)1 << 1)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

int uffd_open(void)
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

int uffd_ioctl(unsigned long req, void *arg)
{
	for (;;) {
		if (ioctl(mm.uffd, req, arg) == 0)
			return 0;
		if (errno != EAGAIN)
			return -errno;
	}
}

TEST_SWITCH(mm_uffd_test_continue_first);
#ifdef PC_TEST_SWITCHES
uint64_t mm_uffd_install_ioctls;
#endif

/* An ioctl of uffd_install: counted in test builds. */
static int install_ioctl(unsigned long req, void *arg)
{
#ifdef PC_TEST_SWITCHES
	__atomic_fetch_add(&mm_uffd_install_ioctls, 1, __ATOMIC_RELAXED);
#endif
	return uffd_ioctl(req, arg);
}

/* Lifts the write protection of page @addr (a store to a write-notify view
 * just dirtied it): 0 or -errno. Succeeds too where the page is not mapped
 * (any more): the store then faults again, as a missing page. */
static int uffd_unprotect(uintptr_t addr)
{
	struct uffdio_writeprotect w = {.range = {.start = addr, .len = PAGE_SIZE}, .mode = 0};

	return install_ioctl(UFFDIO_WRITEPROTECT, &w);
}

/* The userfaultfd half of install_page (fault.c): @addr page aligned. A
 * store that found the page mapped (write-protected by writeback, or by a
 * read fault's install) needs only the protection lifted: one
 * UFFDIO_WRITEPROTECT. Otherwise UFFDIO_CONTINUE maps it; -EEXIST there
 * means another thread (or fault-around) mapped it meanwhile: for a store,
 * lift the protection of that mapping. */
int uffd_install(struct vma *v, uintptr_t addr, bool writable, bool present)
{
	struct uffdio_continue c;
	int err;

	if (present && writable && v->wp && !READ_ONCE(mm_uffd_test_continue_first) &&
	    !uffd_unprotect(addr))
		return 0;
	c.range.start = addr;
	c.range.len = PAGE_SIZE;
	c.mode = v->wp && !writable ? UFFDIO_CONTINUE_MODE_WP : 0;
	err = install_ioctl(UFFDIO_CONTINUE, &c);
	if (err == -EEXIST && writable && v->wp)
		err = uffd_unprotect(addr);
	return err == -EEXIST ? 0 : err;
}

/* Maps the run [start, end) of uptodate pages into a uffd view with as few
 * UFFDIO_CONTINUE calls as possible: one per run, skipping any page that is
 * already mapped (-EEXIST: the kernel reports the bytes it mapped before
 * it). Write-protected where the view needs write notification. */
void uffd_install_run(struct vma *v, uintptr_t start, uintptr_t end)
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

/* Registers @v with the userfaultfd: 0, or -errno (-ENODEV: the kernel
 * cannot serve this view). */
int uffd_register(struct vma *v)
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

/* Unregisters @v (before it is unmapped). */
void uffd_unregister(struct vma *v)
{
	struct uffdio_range range = {.start = v->start, .len = v->end - v->start};
	(void)ioctl(mm.uffd, UFFDIO_UNREGISTER, &range);
}

/* Write-protects [addr, addr + len) of @v with one ioctl (writeback:
 * mm_mkclean_range). */
void uffd_mkclean(struct vma *v, uintptr_t addr, size_t len)
{
	struct uffdio_writeprotect w;

	(void)v;
	w.range.start = addr;
	w.range.len = len;
	w.mode = UFFDIO_WRITEPROTECT_MODE_WP;
	__atomic_fetch_add(&mm_writeprotect_ops, 1, __ATOMIC_RELAXED);
	(void)uffd_ioctl(UFFDIO_WRITEPROTECT, &w);
}

/* fork(): the userfaultfd belongs to the parent's address space; the child
 * opens one of its own. */
void uffd_atfork_child(void)
{
	if (mm.uffd < 0)
		return;
	close(mm.uffd);
	mm.uffd = uffd_open();
}

/* SPDX-License-Identifier: MIT */
/*
 * frames.c - where page contents live (docs/design.md §6.1): one memfd per
 * address_space, page i at offset i * PAGE_SIZE, reached by the engine through
 * a "filler" view (MAP_SHARED, read-write, MADV_DONTFORK, no huge pages) that
 * is never registered with userfaultfd or protected, so engine I/O never
 * faults into the fault layer.
 *
 * A view is a reservation of address space (PROT_NONE, no memory) whose
 * first `mapped` pages map the memfd; growth maps more of the reservation in
 * place. When a file outgrows its reservation a new, larger view replaces it
 * as the current one; the old one stays mapped until frames_destroy, since an
 * address handed out (a copy in flight through the older view) must stay
 * valid for as long as anyone may hold the page. Both views map the same memfd pages, so
 * the contents are the same through either. The memfd's size always covers
 * the mapped part (a shared mapping past its end would SIGBUS); it is sparse,
 * and costs memory only where frames were written.
 *
 * Locks: lookups are lock-free (the current view and its mapped size are
 * published with release, read with acquire); growth takes the leaf mutex
 * "frames_lock" (no other lock inside; mmap and ftruncate, no store I/O).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernel/compiler.h"
#include "kernel/mutex.h"
#include "kernel/testswitch.h"
#include "mm/frames.h"

#define FRAMES_STEP	   512ul			/* map in 2 MiB steps at least */
#define FRAMES_MIN_RESERVE (256ul << (20 - PAGE_SHIFT)) /* 256 MiB of address space */
#define FRAMES_MAX_PAGES   (1ul << 34)			/* 64 TiB: the largest file */

struct frames_view {
	char *base;
	pgoff_t reserved; /* pages of address space at base */
	pgoff_t mapped;	  /* atomic: [0, mapped) maps the memfd */
	struct frames_view *older;
};

struct frames {
	int fd;
	struct frames_view *cur; /* atomic: the view new pages get addresses in */
	pgoff_t size;		 /* atomic: memfd size in pages */
	struct mutex lock;	 /* "frames_lock": growth */
};

static struct lock_class_key frames_lock_key = {.name = "frames_lock"};

static pgoff_t roundup_pow2(pgoff_t x)
{
	pgoff_t r = 1;

	while (r < x)
		r <<= 1;
	return r;
}

static pgoff_t roundup_step(pgoff_t x)
{
	return (x + FRAMES_STEP - 1) & ~(FRAMES_STEP - 1);
}

/*
 * The memfd is a file of this process, so growing it past the process's
 * soft RLIMIT_FSIZE fails with EFBIG and raises SIGXFSZ - sent to the whole
 * process, whose default action ends it - where the kernel's page cache has
 * no such limit: a program run under `ulimit -f` would die opening a file.
 * Under a finite limit the memfd is grown by a child sharing our memory and
 * files (CLONE_VM | CLONE_FILES | CLONE_VFORK, no exit signal, so that no
 * waitpid(-1) of the program reaps it), which raises its own copy of the
 * limit to what its hard limit allows (no limit for a privileged process)
 * and truncates the shared fd up; all signals stay blocked in it. Only the
 * growth steps pay it (doubling, at least 2 MiB).
 */
#define GROW_STACK (64u << 10)

struct grow_req {
	int fd;
	off_t size;
};

/* Runs in the child, on its own stack but in our memory and with our
 * thread's TLS: raw system calls only, and no sanitizer bookkeeping (it
 * would act on the suspended parent thread's state). */
__attribute__((no_sanitize("address", "thread", "undefined"))) static int grow_child(void *arg)
{
	const struct grow_req *r = arg;
	struct rlimit rl;

	if (syscall(SYS_prlimit64, 0, RLIMIT_FSIZE, NULL, &rl) == 0) {
		struct rlimit all = {RLIM_INFINITY, RLIM_INFINITY};

		/* no limit where allowed (CAP_SYS_RESOURCE), else the hard one */
		if (syscall(SYS_prlimit64, 0, RLIMIT_FSIZE, &all, NULL) != 0) {
			rl.rlim_cur = rl.rlim_max;
			syscall(SYS_prlimit64, 0, RLIMIT_FSIZE, &rl, NULL);
		}
	}
	if (syscall(SYS_ftruncate, r->fd, r->size) != 0)
		syscall(SYS_exit, errno ? errno : EIO);
	syscall(SYS_exit, 0);
	return 0;
}

static int grow_in_child(int fd, off_t size)
{
	struct grow_req req = {.fd = fd, .size = size};
	sigset_t all, old;
	int pid, st, err;
	void *stack = mmap(NULL, GROW_STACK, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);

	if (stack == MAP_FAILED)
		return -ENOMEM;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = clone(grow_child, (char *)stack + GROW_STACK, CLONE_VM | CLONE_FILES | CLONE_VFORK,
		    &req);
	err = pid < 0 ? -errno : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!err) {
		while (waitpid(pid, &st, __WALL) < 0)
			if (errno != EINTR) {
				err = -errno;
				break;
			}
		if (!err)
			err = WIFEXITED(st) ? -WEXITSTATUS(st) : -EFBIG;
	}
	munmap(stack, GROW_STACK);
	return err;
}

TEST_SWITCH(frames_test_grow_in_child);

/* ThreadSanitizer takes our clone for a fork of a multi-threaded process
 * and refuses every thread started after it: a TSan build grows the memfd
 * itself (under a finite limit: -EFBIG and SIGXFSZ, as before). */
static int memfd_grow(int fd, off_t size)
{
	struct rlimit rl;

	if (PC_HAVE_TSAN || (!READ_ONCE(frames_test_grow_in_child) &&
			     (getrlimit(RLIMIT_FSIZE, &rl) || rl.rlim_cur == RLIM_INFINITY ||
			      rl.rlim_cur >= (rlim_t)size)))
		return ftruncate(fd, size) ? -errno : 0;
	return grow_in_child(fd, size);
}

/* Memfd at least @pages long. Caller holds f->lock (or is creating f). */
static int frames_size_at_least(struct frames *f, pgoff_t pages)
{
	int err;

	if (pages <= f->size)
		return 0;
	err = memfd_grow(f->fd, (off_t)(pages << PAGE_SHIFT));
	if (err)
		return err;
	__atomic_store_n(&f->size, pages, __ATOMIC_RELEASE);
	return 0;
}

/* Map memfd pages [from, to) at their place in @v. */
static int view_map(struct frames *f, struct frames_view *v, pgoff_t from, pgoff_t to)
{
	char *want = v->base + (from << PAGE_SHIFT);
	size_t len = (to - from) << PAGE_SHIFT;
	void *p = mmap(want, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, f->fd,
		       (off_t)(from << PAGE_SHIFT));

	if (p == MAP_FAILED)
		return -errno;
	/* A forked child must not fault zero pages into our memfd; huge pages
	 * would defeat per-page punching. Both are advice: failure is harmless. */
	madvise(p, len, MADV_DONTFORK);
	madvise(p, len, MADV_NOHUGEPAGE);
	return 0;
}

/* A new view reserving @reserved pages with [0, @mapped) mapped. */
static struct frames_view *view_create(struct frames *f, pgoff_t reserved, pgoff_t mapped, int *err)
{
	struct frames_view *v = calloc(1, sizeof(*v));
	void *base;

	if (!v) {
		*err = -ENOMEM;
		return NULL;
	}
	base = mmap(NULL, reserved << PAGE_SHIFT, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		*err = -ENOMEM;
		free(v);
		return NULL;
	}
	v->base = base;
	v->reserved = reserved;
	*err = frames_size_at_least(f, mapped);
	if (!*err)
		*err = view_map(f, v, 0, mapped);
	if (*err) {
		munmap(base, reserved << PAGE_SHIFT);
		free(v);
		return NULL;
	}
	v->mapped = mapped;
	return v;
}

/*
 * The address space a new file's first view reserves at least: 256 MiB, so
 * that most files never outgrow it (a larger view replaces an outgrown one,
 * which stays mapped). Under a finite RLIMIT_AS (address space, which the
 * kernel's page cache does not use) a 4096th of the limit, at least one
 * growth step: with `ulimit -v 8388608` the 256 MiB let 30 files be open
 * or cached before the 31st open got -ENOMEM.
 */
static pgoff_t min_reserve(void)
{
	struct rlimit rl;
	pgoff_t pages;

	if (getrlimit(RLIMIT_AS, &rl) || rl.rlim_cur == RLIM_INFINITY)
		return FRAMES_MIN_RESERVE;
	pages = (pgoff_t)(rl.rlim_cur >> PAGE_SHIFT) / 4096;
	return min_t(pgoff_t, FRAMES_MIN_RESERVE, max_t(pgoff_t, pages, FRAMES_STEP));
}

int frames_create(struct frames **out, int64_t size)
{
	struct frames *f = calloc(1, sizeof(*f));
	pgoff_t pages = size > 0 ? ((pgoff_t)size + PAGE_SIZE - 1) >> PAGE_SHIFT : 0;
	pgoff_t reserved, mapped;
	int err;

	if (!f)
		return -ENOMEM;
	if (pages > FRAMES_MAX_PAGES)
		pages = FRAMES_MAX_PAGES;
	f->fd = memfd_create("pagecache-frames", MFD_CLOEXEC);
	if (f->fd < 0) {
		err = -errno;
		free(f);
		return err;
	}
	mutex_init_class(&f->lock, &frames_lock_key);
	reserved = max_t(pgoff_t, min_reserve(), 2 * roundup_pow2(pages));
	reserved = min_t(pgoff_t, reserved, FRAMES_MAX_PAGES);
	mapped = min_t(pgoff_t, roundup_step(max_t(pgoff_t, pages, 1)), reserved);
	f->cur = view_create(f, reserved, mapped, &err);
	if (!f->cur) {
		mutex_destroy(&f->lock);
		close(f->fd);
		free(f);
		return err;
	}
	*out = f;
	return 0;
}

void frames_destroy(struct frames *f)
{
	struct frames_view *v = f->cur, *older;

	for (; v; v = older) {
		older = v->older;
		munmap(v->base, v->reserved << PAGE_SHIFT);
		free(v);
	}
	mutex_destroy(&f->lock);
	close(f->fd);
	free(f);
}

static __noinline void *frames_grow(struct frames *f, pgoff_t index, int *err)
{
	struct frames_view *v, *nv;
	pgoff_t want;
	void *addr = NULL;

	if (index >= FRAMES_MAX_PAGES) {
		*err = -EFBIG;
		return NULL;
	}
	mutex_lock(&f->lock);
	v = f->cur;
	if (index < v->mapped)
		goto done;
	/* Double the mapped part (at least up to @index): few mmaps for a file
	 * growing page by page, and the memfd is sparse anyway. */
	want = roundup_step(max_t(pgoff_t, index + 1, 2 * v->mapped));
	want = min_t(pgoff_t, want, FRAMES_MAX_PAGES);
	if (want <= v->reserved) {
		*err = frames_size_at_least(f, want);
		if (!*err)
			*err = view_map(f, v, v->mapped, want);
		if (*err)
			goto out;
		__atomic_store_n(&v->mapped, want, __ATOMIC_RELEASE);
		goto done;
	}
	/* Outgrown: a new view twice as large; the old one stays mapped. */
	nv = view_create(f, min_t(pgoff_t, 2 * roundup_pow2(want), FRAMES_MAX_PAGES), want, err);
	if (!nv)
		goto out;
	nv->older = v;
	__atomic_store_n(&f->cur, nv, __ATOMIC_RELEASE);
	v = nv;
done:
	addr = v->base + (index << PAGE_SHIFT);
out:
	mutex_unlock(&f->lock);
	return addr;
}

void *frames_addr(struct frames *f, pgoff_t index, int *err)
{
	struct frames_view *v = __atomic_load_n(&f->cur, __ATOMIC_ACQUIRE);

	if (likely(index < __atomic_load_n(&v->mapped, __ATOMIC_ACQUIRE)))
		return v->base + (index << PAGE_SHIFT);
	return frames_grow(f, index, err);
}

void *frames_page_addr(struct frames *f, pgoff_t index)
{
	struct frames_view *v = __atomic_load_n(&f->cur, __ATOMIC_ACQUIRE);

	assert(index < __atomic_load_n(&v->mapped, __ATOMIC_ACQUIRE));
	return v->base + (index << PAGE_SHIFT);
}

void frames_prefetch(struct frames *f, pgoff_t index, size_t offset, size_t len)
{
	struct frames_view *v = __atomic_load_n(&f->cur, __ATOMIC_ACQUIRE);
	const char *p;

	if (index >= __atomic_load_n(&v->mapped, __ATOMIC_RELAXED))
		return;
	p = v->base + (index << PAGE_SHIFT) + offset;
	if (len > FRAMES_PREFETCH_MAX)
		len = FRAMES_PREFETCH_MAX;
	for (size_t o = 0; o < len; o += 64)
		__builtin_prefetch(p + o, 0, 3);
}

int frames_punch_range(struct frames *f, pgoff_t index, unsigned long nr)
{
	pgoff_t size = __atomic_load_n(&f->size, __ATOMIC_ACQUIRE);

	if (index >= size || !nr)
		return 0; /* nothing was ever there */
	if (nr > size - index)
		nr = size - index;
	if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(index << PAGE_SHIFT), (off_t)(nr << PAGE_SHIFT)))
		return -errno;
	return 0;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static bool populate_unsupported; /* atomic */

void frames_populate(void *addr, size_t len)
{
	if (__atomic_load_n(&populate_unsupported, __ATOMIC_RELAXED))
		return;
	if (madvise(addr, len, MADV_POPULATE_WRITE) && errno == EINVAL)
		__atomic_store_n(&populate_unsupported, true, __ATOMIC_RELAXED);
}

int frames_fd(const struct frames *f)
{
	return f->fd;
}

pgoff_t frames_nr(const struct frames *f)
{
	return __atomic_load_n(&f->size, __ATOMIC_ACQUIRE);
}

size_t frames_reserved_bytes(struct frames *f)
{
	size_t bytes = 0;

	/* Views are made under frames_lock and freed only by frames_destroy;
	 * a view's older link and size never change once published. */
	for (struct frames_view *v = __atomic_load_n(&f->cur, __ATOMIC_ACQUIRE); v; v = v->older)
		bytes += v->reserved << PAGE_SHIFT;
	return bytes;
}

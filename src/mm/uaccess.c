/* SPDX-License-Identifier: MIT */
/*
 * uaccess.c - copies to and from user memory that survive faults, after the
 * kernel's exception table (docs/design.md §6.4).
 *
 * Three tiny assembly routines below each have one instruction that may
 * fault on a user address: the copy's `rep movsb`, a one-byte load and a
 * `lock addb $0` (an atomic add of zero: it makes a page writable-present
 * without changing a byte). A table pairs each such instruction with a
 * fix-up label. The SIGSEGV/SIGBUS handler, installed once by
 * uaccess_init(), looks the interrupted RIP up in the table; on a match it
 * moves RIP to the fix-up and returns. For the copy, RCX then holds the bytes
 * not copied (a faulting `rep movsb` leaves RCX/RSI/RDI at the exact point of
 * the fault), which the fix-up returns. Nothing runs on the fast path.
 *
 * Order of decisions in the handler:
 *   1. a table instruction faulted while faults are disabled (the nofault
 *      copies, which callers use with locks held): fix up, never anything
 *      else - the fault layer's handler may need those very locks;
 *   2. the fault hook (uaccess_set_fault_hook: the fault layer serving its
 *      own mappings) resolves the fault: return, the instruction re-runs;
 *   3. a table instruction: fix up (a bad user address: short copy);
 *   4. otherwise chain to the handler installed before ours (SIG_DFL: reset
 *      and re-raise; SIG_IGN; or the application's handler).
 * A handled fault returns to the interrupted code in user mode where the
 * signal frame allows it (uaccess_sigreturn.c), else through rt_sigreturn.
 * The handler is async-signal-safe (no locks, no allocation; it reads only
 * the interrupted thread's own task). Works under ASan and TSan, whose
 * signal wrappers pass the ucontext through (docs/design.md §6.4).
 *
 * Locks: none. might_fault() (the validator's "user access may take the mm
 * lock") is called by copy_to_user/copy_from_user and the fault-ins, not by
 * the nofault copies.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include "kernel/lockdep.h"
#include "kernel/task.h"
#include "mm/page.h"
#include "mm/uaccess.h"

#if !defined(__x86_64__)
#error "uaccess.c: the fault fix-up copy is written for x86-64"
#endif

#ifdef __CET__
#define ENDBR "endbr64\n"
#else
#define ENDBR ""
#endif

#define ASM_FUNC(name)                \
	".globl " #name "\n"          \
	".hidden " #name "\n"         \
	".type " #name ",@function\n" \
	".p2align 4\n" #name ":\n" ENDBR
#define ASM_LABEL(name) ".globl " #name "\n.hidden " #name "\n" #name ":\n"
#define ASM_END(name)	".size " #name ",.-" #name "\n"

/*
 * size_t uaccess_copy(void *dst, const void *src, size_t n): bytes NOT copied.
 * int uaccess_touch_read(const void *p), uaccess_touch_write(void *p): 0, or
 * 1 if the access faulted.
 */
/* clang-format off */
__asm__(".pushsection .text\n"
	ASM_FUNC(uaccess_copy)
	"	movq %rdx, %rcx\n"
	ASM_LABEL(uaccess_copy_insn)
	"	rep movsb\n"
	ASM_LABEL(uaccess_copy_fixup)
	"	movq %rcx, %rax\n"
	"	ret\n"
	ASM_END(uaccess_copy)

	ASM_FUNC(uaccess_touch_read)
	"	xorl %eax, %eax\n"
	ASM_LABEL(uaccess_touch_read_insn)
	"	movb (%rdi), %cl\n"
	"	ret\n"
	ASM_LABEL(uaccess_touch_read_fixup)
	"	movl $1, %eax\n"
	"	ret\n"
	ASM_END(uaccess_touch_read)

	ASM_FUNC(uaccess_touch_write)
	"	xorl %eax, %eax\n"
	ASM_LABEL(uaccess_touch_write_insn)
	"	lock addb $0, (%rdi)\n"
	"	ret\n"
	ASM_LABEL(uaccess_touch_write_fixup)
	"	movl $1, %eax\n"
	"	ret\n"
	ASM_END(uaccess_touch_write)
	".popsection\n");
/* clang-format on */

#define __hidden __attribute__((visibility("hidden")))
__hidden size_t uaccess_copy(void *dst, const void *src, size_t n);
__hidden int uaccess_touch_read(const void *p);
__hidden int uaccess_touch_write(void *p);
extern __hidden const char uaccess_copy_insn[], uaccess_copy_fixup[];
extern __hidden const char uaccess_touch_read_insn[], uaccess_touch_read_fixup[];
extern __hidden const char uaccess_touch_write_insn[], uaccess_touch_write_fixup[];

/* The exception table: faulting instruction -> where to resume. */
static const struct {
	const char *insn, *fixup;
} extable[] = {
    {uaccess_copy_insn, uaccess_copy_fixup},
    {uaccess_touch_read_insn, uaccess_touch_read_fixup},
    {uaccess_touch_write_insn, uaccess_touch_write_fixup},
};

static struct sigaction prev_segv, prev_bus; /* written once, before ours is live */
static uaccess_fault_fn fault_hook;	     /* atomic */
static pthread_once_t uaccess_once = PTHREAD_ONCE_INIT;
static bool uaccess_live; /* atomic: our handler is installed */

/* The test switches of uaccess.h. */
TEST_SWITCH(uaccess_test_faulting_nofault);
TEST_SWITCH(uaccess_test_ignore_blocked);
static int uaccess_init_err;

static const char *extable_fixup(uintptr_t rip)
{
	for (size_t k = 0; k < ARRAY_SIZE(extable); k++)
		if (rip == (uintptr_t)extable[k].insn)
			return extable[k].fixup;
	return NULL;
}

/* A fault the CPU raised (not a signal some thread sent with kill/tgkill). */
static bool fault_is_synchronous(const siginfo_t *si)
{
	return si->si_code > 0;
}

static void chain(int sig, siginfo_t *si, void *uc)
{
	const struct sigaction *p = sig == SIGSEGV ? &prev_segv : &prev_bus;

	if (p->sa_flags & SA_SIGINFO) {
		p->sa_sigaction(sig, si, uc);
		return;
	}
	/* An ignored fault would re-run forever: the kernel then kills, so do we. */
	if (p->sa_handler == SIG_IGN && !fault_is_synchronous(si))
		return;
	if (p->sa_handler == SIG_DFL || p->sa_handler == SIG_IGN) {
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		sigaction(sig, &dfl, NULL);
		/* Delivered at once (SA_NODEFER), or when a sanitizer's wrapper unblocks
		 * it; a real fault also recurs when the instruction re-runs. */
		raise(sig);
		return;
	}
	p->sa_handler(sig);
}

bool uaccess_handle(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	bool handled = true;
	int saved_errno = errno;
	uintptr_t rip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	const char *fixup = fault_is_synchronous(si) ? extable_fixup(rip) : NULL;
	/* Not `current`: that may allocate a task; a thread without one has
	 * faults enabled. */
	struct task *t = __current_task;
	uaccess_fault_fn hook;

	if (fixup && t && __atomic_load_n(&t->pagefault_disabled, __ATOMIC_RELAXED) &&
	    !__atomic_load_n(&uaccess_test_faulting_nofault, __ATOMIC_RELAXED)) {
		uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)fixup;
		goto out;
	}
	hook = __atomic_load_n(&fault_hook, __ATOMIC_ACQUIRE);
	if (hook && fault_is_synchronous(si) && hook(sig, si, uc))
		goto out;
	if (fixup) {
		uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)fixup;
		goto out;
	}
	handled = false;
out:
	errno = saved_errno;
	return handled;
}

static __attribute__((noinline)) void uaccess_handler(int sig, siginfo_t *si, void *uc)
{
	if (!uaccess_handle(sig, si, uc)) {
		chain(sig, si, uc);
		return;
	}
	/* Resume the interrupted code without rt_sigreturn where the frame
	 * allows it (uaccess_sigreturn.c); else return through the frame. */
	uaccess_fast_return(uc, __builtin_return_address(0));
}

static void uaccess_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = uaccess_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	sigemptyset(&sa.sa_mask); /* uaccess_sigreturn.c relies on it, and on SA_NODEFER */
	uaccess_sigreturn_init();
	/* Read the previous handlers first: ours may run the moment it is in. */
	if (sigaction(SIGSEGV, NULL, &prev_segv) || sigaction(SIGBUS, NULL, &prev_bus)) {
		uaccess_init_err = -errno;
		return;
	}
	if (uaccess_sigaction_install(SIGSEGV, &sa) || uaccess_sigaction_install(SIGBUS, &sa))
		uaccess_init_err = -errno;
	else
		__atomic_store_n(&uaccess_live, true, __ATOMIC_RELEASE);
}

bool uaccess_installed(void)
{
	return __atomic_load_n(&uaccess_live, __ATOMIC_ACQUIRE);
}

int uaccess_init(void)
{
	pthread_once(&uaccess_once, uaccess_install);
	return uaccess_init_err;
}

void uaccess_set_fault_hook(uaccess_fault_fn fn)
{
	__atomic_store_n(&fault_hook, fn, __ATOMIC_RELEASE);
}

/* ---- copies without signals (a thread that blocks SIGSEGV/SIGBUS) ---- */

/* Up to this many pages per system call. */
#define NOSIG_IOV 64

/*
 * Copies @n bytes between the library's @kbuf and the caller's @ubuf with
 * process_vm_readv/writev on our own process: the kernel reads or writes
 * the caller's memory and a bad address is an error, never a signal. One
 * iovec per user page, so that a partial transfer (the kernel stops at the
 * first iovec it cannot complete) ends at the first bad page, as a
 * faulting copy would (to the page, not the byte). Returns bytes NOT
 * copied. Pages of a view not yet touched count as bad (the kernel's own
 * accesses do not fault into the engine).
 */
static size_t copy_nosignal(void *kbuf, void *ubuf, size_t n, bool to_user)
{
	struct iovec local[NOSIG_IOV], remote[NOSIG_IOV];
	uintptr_t u = (uintptr_t)ubuf;
	char *k = kbuf;
	size_t done = 0;

	while (done < n) {
		size_t want = 0;
		int cnt = 0;
		ssize_t got;

		while (cnt < NOSIG_IOV && done + want < n) {
			uintptr_t a = u + done + want;
			size_t chunk = PAGE_SIZE - (a & (PAGE_SIZE - 1));

			if (chunk > n - done - want)
				chunk = n - done - want;
			local[cnt] = (struct iovec){k + done + want, chunk};
			remote[cnt] = (struct iovec){(void *)a, chunk};
			want += chunk;
			cnt++;
		}
		got = to_user ? process_vm_writev(getpid(), local, (unsigned long)cnt, remote,
						  (unsigned long)cnt, 0)
			      : process_vm_readv(getpid(), local, (unsigned long)cnt, remote,
						 (unsigned long)cnt, 0);
		if (got <= 0)
			break;
		done += (size_t)got;
		if ((size_t)got < want)
			break;
	}
	if (done < n)
		current->stats.copy_short++;
	return n - done;
}

static bool use_nosignal(void)
{
	return unlikely(current->fault_sigs_blocked) &&
	       !__atomic_load_n(&uaccess_test_ignore_blocked, __ATOMIC_RELAXED);
}

bool uaccess_check_sigmask(void)
{
	return task_check_sigmask(current);
}

/* ---- copies ---- */

size_t copy_from_user_nofault(void *dst, const void *usrc, size_t n)
{
	size_t left;

	if (unlikely(!n))
		return 0;
	if (use_nosignal())
		return copy_nosignal(dst, (void *)usrc, n, false);
	pagefault_disable();
	left = uaccess_copy(dst, usrc, n);
	pagefault_enable();
	if (unlikely(left))
		current->stats.copy_short++;
	return left;
}

size_t copy_to_user_nofault(void *udst, const void *src, size_t n)
{
	size_t left;

	if (unlikely(!n))
		return 0;
	if (use_nosignal())
		return copy_nosignal((void *)src, udst, n, true);
	pagefault_disable();
	left = uaccess_copy(udst, src, n);
	pagefault_enable();
	if (unlikely(left))
		current->stats.copy_short++;
	return left;
}

size_t copy_from_user(void *dst, const void *usrc, size_t n)
{
	might_fault();
	if (unlikely(!n))
		return 0;
	if (use_nosignal())
		return copy_nosignal(dst, (void *)usrc, n, false);
	return uaccess_copy(dst, usrc, n);
}

size_t copy_to_user(void *udst, const void *src, size_t n)
{
	might_fault();
	if (unlikely(!n))
		return 0;
	if (use_nosignal())
		return copy_nosignal((void *)src, udst, n, true);
	return uaccess_copy(udst, src, n);
}

/* ---- fault-in ---- */

/*
 * Touch one byte in every page of [uaddr, uaddr + size) from user mode (with
 * the fault hook able to serve it), stopping at the first page that cannot be
 * touched. Returns the bytes from there on: those NOT faulted in. A range
 * that wraps around the address space fails at the top (no user page lives
 * there) and reports the rest as not faulted in.
 */
static size_t fault_in(uintptr_t start, size_t size, int (*touch)(void *))
{
	uintptr_t last = start + size - 1, p = start;

	if (unlikely(!size))
		return 0;
	might_fault();
	if (last < start)
		last = UINTPTR_MAX;
	for (;;) {
		if (touch((void *)p))
			return size - (p - start);
		p = (p & ~(PAGE_SIZE - 1)) + PAGE_SIZE;
		if (p == 0 || p > last)
			break;
	}
	return last == start + size - 1 ? 0 : size - (last - start + 1);
}

static int touch_read(void *p)
{
	return uaccess_touch_read(p);
}

/* Does the kernel know MADV_POPULATE_READ (Linux 5.14)? Asked once, on a
 * page of our own: EINVAL there means it does not (later, EINVAL also means
 * a page without the permission, e.g. PROT_NONE). */
static char populate_probe[2 * PAGE_SIZE];
static int populate_ok = -1; /* atomic: -1 unknown, 0 no, 1 yes */

static bool have_populate(void)
{
	int ok = __atomic_load_n(&populate_ok, __ATOMIC_RELAXED);

	if (ok < 0) {
		uintptr_t p =
		    ((uintptr_t)populate_probe + PAGE_SIZE - 1) & ~(uintptr_t)(PAGE_SIZE - 1);

		ok = madvise((void *)p, PAGE_SIZE, MADV_POPULATE_READ) == 0;
		__atomic_store_n(&populate_ok, ok, __ATOMIC_RELAXED);
	}
	return ok;
}

/*
 * fault_in without signals: MADV_POPULATE_READ/WRITE page by page fault the
 * pages in from the kernel, an error for a page that cannot be (unmapped,
 * PROT_NONE, or read-only for a write). A kernel without them (before
 * 5.14): the pages are probed by reading one byte of each with
 * process_vm_readv, for writes too (a read-only page then passes here and
 * the copy that follows comes back short at it).
 */
static size_t fault_in_nosignal(uintptr_t start, size_t size, int advice)
{
	uintptr_t p = start & ~(uintptr_t)(PAGE_SIZE - 1);
	uintptr_t end = start + size < start ? UINTPTR_MAX : start + size;
	bool populate = have_populate();

	for (; p < end; p += PAGE_SIZE) {
		uintptr_t a = p < start ? start : p;
		char byte;

		if (populate ? !madvise((void *)p, PAGE_SIZE, advice)
			     : !copy_nosignal(&byte, (void *)a, 1, false))
			continue;
		return p <= start ? size : size - (p - start);
	}
	return end == start + size ? 0 : size - (end - start);
}

size_t fault_in_readable(const void *uaddr, size_t size)
{
	if (size && use_nosignal())
		return fault_in_nosignal((uintptr_t)uaddr, size, MADV_POPULATE_READ);
	return fault_in((uintptr_t)uaddr, size, touch_read);
}

size_t fault_in_writeable(void *uaddr, size_t size)
{
	if (size && use_nosignal())
		return fault_in_nosignal((uintptr_t)uaddr, size, MADV_POPULATE_WRITE);
	return fault_in((uintptr_t)uaddr, size, uaccess_touch_write);
}

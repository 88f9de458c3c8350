/* SPDX-License-Identifier: MIT */
/*
 * uaccess_sigreturn.c - the return from a fault the SIGSEGV/SIGBUS handler
 * (uaccess.c) served, done in user mode instead of by rt_sigreturn.
 *
 * After the handler has mapped the page (or moved RIP to a fix-up), all the
 * kernel's rt_sigreturn would do is load back what its signal frame holds:
 * the general registers, RFLAGS, RSP and RIP (uc_mcontext.gregs), the
 * FPU/vector state (the XSAVE image uc_mcontext.fpregs points to), the
 * signal mask (uc_sigmask) and the alternate signal stack (uc_stack). For
 * our handler, installed with SA_NODEFER and an empty sa_mask, the mask in
 * the handler is the one in the frame already, and the alternate stack is
 * unchanged unless SS_AUTODISARM disarmed it. Then XRSTOR of the frame's
 * image with the frame's own feature mask (as the kernel's restore: features
 * absent from the image are reset to their initial state) and an IRETQ
 * (a user-mode IRETQ to the same privilege level pops RIP, CS, RFLAGS, RSP
 * and SS at once, so no register is needed for the jump and nothing is
 * written below the interrupted RSP) return to the faulting instruction
 * without a second kernel entry. A page fault served by the engine
 * (bench_fault "write seq") is one exception, one signal delivery and one
 * UFFDIO_CONTINUE ioctl; the rt_sigreturn it saves is about 7% of it.
 *
 * Taken only when every condition holds, else the handler returns normally
 * (rt_sigreturn): our handler was called by the kernel's signal frame (its
 * return address is the frame's pretcode: not through an application's
 * handler that chains to ours, nor a sanitizer's wrapper, which must run
 * their code after ours); the frame was built for our sigaction (its
 * pretcode is our own restorer, uaccess_restore_rt, which only our
 * installation names: an application's handler installed after ours, with
 * its own sa_mask or without SA_NODEFER, that chains to ours by a tail call
 * leaves the pretcode as the return address, and the mask the kernel set
 * for it must be undone by rt_sigreturn); no shadow stack (rt_sigreturn
 * pops the token the delivery pushed: checked once at uaccess_init); the
 * frame's FPU image is an XSAVE one (FP_XSTATE_MAGIC1) at 64-byte
 * alignment; the interrupted CS and SS are ours (a 64-bit thread); the interrupted code does not
 * run with RFLAGS.NT set (IRETQ raises #GP under it in 64-bit mode; user mode may set it with
 * POPF); the alternate stack was not auto-disarmed. Not in ASan/TSan builds: jumping out of the
 * handler leaves the handler's frames (ASan's stack poisoning, TSan's signal bookkeeping) as a
 * longjmp would without their interceptors.
 *
 * A signal arriving in the middle of the return is delivered below the
 * frame's register block we are popping (below RSP): it overwrites only the
 * handler's own, abandoned, stack.
 *
 * Locks: none (signal context, nothing held: uaccess.c calls it after the
 * fault hook returned).
 */
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "kernel/compiler.h"
#include "mm/uaccess.h"

/* Test knob: always return with rt_sigreturn (A/B, and the old path). */
TEST_SWITCH(uaccess_test_no_fast_return);
/* Test switch: the user-mode return skips the FPU/vector state restore
 * (the handler's own SSE/AVX registers leak into the interrupted code). */
TEST_SWITCH(uaccess_test_fast_return_no_fpu);
/* Test switch: return in user mode even when our handler was called by
 * another handler (an application's that chains to ours): its code after
 * the call never runs. */
TEST_SWITCH(uaccess_test_fast_return_any_caller);
/* Test switch: return in user mode under RFLAGS.NT (#GP at the IRETQ). */
TEST_SWITCH(uaccess_test_fast_return_nt);
/* Test switch: return in user mode from a frame built for another
 * sigaction (a handler that tail-calls ours): its signal mask stays. */
TEST_SWITCH(uaccess_test_fast_return_any_frame);

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FAST_RETURN_BUILD 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FAST_RETURN_BUILD 0
#endif
#endif
#ifndef FAST_RETURN_BUILD
#define FAST_RETURN_BUILD 1
#endif

#define FPX_SW_OFFSET	   464	       /* struct _fpx_sw_bytes in the FXSAVE image */
#define FP_XSTATE_MAGIC1_V 0x46505853u /* the kernel's FP_XSTATE_MAGIC1 */
#define UC_SIGCONTEXT_SS_F 0x2	       /* the kernel's UC_SIGCONTEXT_SS */
#define X86_EFLAGS_NT_F	   0x4000ul    /* RFLAGS.NT, nested task */
#ifndef ARCH_SHSTK_STATUS
#define ARCH_SHSTK_STATUS 0x5005
#endif
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1u << 31)
#endif

static bool fast_return_usable; /* written once by uaccess_sigreturn_init */

/*
 * The signal frames' return trampoline for our handler (sa_restorer): the
 * rt_sigreturn system call, in the very bytes of glibc's __restore_rt
 * (mov $15, %rax; syscall, written out so that no assembler shortens
 * them), which unwinders (libgcc, gdb) recognise as a signal frame's
 * return address. An application that saves our sigaction and installs it
 * again with sigaction() gets the C library's restorer in its stead: the
 * handler then always returns through rt_sigreturn.
 */
/* clang-format off */
__asm__(".pushsection .text\n"
	".globl uaccess_restore_rt\n"
	".hidden uaccess_restore_rt\n"
	".type uaccess_restore_rt,@function\n"
	".p2align 4\n"
	"	nop\n"
	"uaccess_restore_rt:\n"
	"	.byte 0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00\n" /* mov $15, %rax */
	"	.byte 0x0f, 0x05\n"				      /* syscall */
	".size uaccess_restore_rt,.-uaccess_restore_rt\n"
	".popsection\n");
/* clang-format on */
__attribute__((visibility("hidden"))) void uaccess_restore_rt(void);

/*
 * void uaccess_iret(greg_t *gregs, const void *xsave, uint64_t rfbm):
 * XRSTOR of @xsave with the requested-feature mask @rfbm, then the 15
 * general registers popped from @gregs[REG_R8..REG_RCX] (the frame's
 * order) and IRETQ over the five words after them, which the caller has
 * rewritten as RIP, CS, RFLAGS, RSP, SS.
 */
/* clang-format off */
__asm__(".pushsection .text\n"
	".globl uaccess_iret\n"
	".hidden uaccess_iret\n"
	".type uaccess_iret,@function\n"
	".p2align 4\n"
	"uaccess_iret:\n"
#ifdef __CET__
	"	endbr64\n"
#endif
	"	movl %edx, %eax\n"
	"	shrq $32, %rdx\n"
	"	xrstor64 (%rsi)\n"
	"	movq %rdi, %rsp\n"
	"	popq %r8\n	popq %r9\n	popq %r10\n	popq %r11\n"
	"	popq %r12\n	popq %r13\n	popq %r14\n	popq %r15\n"
	"	popq %rdi\n	popq %rsi\n	popq %rbp\n	popq %rbx\n"
	"	popq %rdx\n	popq %rax\n	popq %rcx\n"
	"	iretq\n"
	".size uaccess_iret,.-uaccess_iret\n"
	".popsection\n");
/* clang-format on */
__attribute__((visibility("hidden"), noreturn)) void uaccess_iret(greg_t *gregs, const void *xsave,
								  uint64_t rfbm);

_Static_assert(REG_R8 == 0 && REG_RCX == 14 && REG_RSP == 15 && REG_RIP == 16 && REG_EFL == 17 &&
		   REG_CSGSFS == 18 && REG_ERR == 19,
	       "the x86-64 signal frame's register order");

void uaccess_sigreturn_init(void)
{
	unsigned long shstk = 0;
	unsigned a, b, c, d;

	if (!FAST_RETURN_BUILD)
		return;
	/* XSAVE enabled by the kernel (CPUID.1:ECX.OSXSAVE) */
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	if (!(c & (1u << 27)))
		return;
	/* A shadow stack holds the delivery's token that only rt_sigreturn
	 * pops (an older kernel answers EINVAL: none). */
	if (syscall(SYS_arch_prctl, ARCH_SHSTK_STATUS, &shstk) == 0 && (shstk & 1))
		return;
	__atomic_store_n(&fast_return_usable, true, __ATOMIC_RELEASE);
}

/* The kernel's struct sigaction for rt_sigaction on x86-64. */
struct kernel_sigaction {
	void (*handler)(int, siginfo_t *, void *);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};
#define SA_RESTORER_F 0x04000000ul /* the kernel's SA_RESTORER */

int uaccess_sigaction_install(int sig, const struct sigaction *sa)
{
	struct kernel_sigaction k = {.handler = sa->sa_sigaction,
				     .flags = (unsigned long)sa->sa_flags | SA_RESTORER_F,
				     .restorer = uaccess_restore_rt};

	/* Where the user-mode return may be taken (not under a sanitizer,
	 * whose sigaction wrapper must see the handler): rt_sigaction with
	 * our own restorer. Else the C library's, with its. */
	if (!__atomic_load_n(&fast_return_usable, __ATOMIC_ACQUIRE))
		return sigaction(sig, sa, NULL);
	for (int s = 1; s <= 64; s++)
		if (sigismember(&sa->sa_mask, s) == 1)
			k.mask |= 1ull << (s - 1);
	return (int)syscall(SYS_rt_sigaction, sig, &k, NULL, sizeof(k.mask));
}

bool uaccess_fast_return_usable(void)
{
	return __atomic_load_n(&fast_return_usable, __ATOMIC_ACQUIRE) &&
	       !uaccess_test_no_fast_return;
}

void uaccess_fast_return(ucontext_t *uc, const void *handler_ret)
{
	greg_t *g = uc->uc_mcontext.gregs;
	const unsigned char *xs = (const unsigned char *)uc->uc_mcontext.fpregs;
	uint32_t magic1;
	uint64_t xfeatures, rip, rsp, efl;
	uint16_t cs, ss;

	if (!uaccess_fast_return_usable())
		return;
	/* Called by the frame's return trampoline (sa_restorer), i.e. by the
	 * kernel: the frame's pretcode sits right below uc_mcontext's ucontext. */
	if (handler_ret != *(void *const *)((const char *)uc - sizeof(void *)) &&
	    !uaccess_test_fast_return_any_caller)
		return;
	/* ... and the frame is one for our sigaction (our restorer): the mask
	 * in the handler is then the frame's. */
	if (handler_ret != (const void *)uaccess_restore_rt && !uaccess_test_fast_return_any_frame)
		return;
	if (!xs || ((uintptr_t)xs & 63) || (uc->uc_stack.ss_flags & SS_AUTODISARM))
		return;
	__builtin_memcpy(&magic1, xs + FPX_SW_OFFSET, sizeof(magic1));
	__builtin_memcpy(&xfeatures, xs + FPX_SW_OFFSET + 8, sizeof(xfeatures));
	if (magic1 != FP_XSTATE_MAGIC1_V)
		return;
	__asm__("mov %%cs, %0" : "=r"(cs));
	__asm__("mov %%ss, %0" : "=r"(ss));
	if ((uint16_t)g[REG_CSGSFS] != cs || ((uc->uc_flags & UC_SIGCONTEXT_SS_F) &&
					      (uint16_t)((uint64_t)g[REG_CSGSFS] >> 48) != ss))
		return;
	rip = (uint64_t)g[REG_RIP];
	rsp = (uint64_t)g[REG_RSP];
	efl = (uint64_t)g[REG_EFL];
	/* In 64-bit mode IRETQ raises #GP under NT, which the handler runs
	 * with when the interrupted code set it (delivery keeps it); the
	 * kernel's return to user mode does not mind. */
	if ((efl & X86_EFLAGS_NT_F) && !uaccess_test_fast_return_nt)
		return;
	/* The IRETQ frame over the words after the general registers. */
	g[REG_RSP] = (greg_t)rip;
	g[REG_RIP] = (greg_t)cs;
	g[REG_EFL] = (greg_t)efl;
	g[REG_CSGSFS] = (greg_t)rsp;
	g[REG_ERR] = (greg_t)ss;
	uaccess_iret(g, xs, uaccess_test_fast_return_no_fpu ? 0 : xfeatures);
}

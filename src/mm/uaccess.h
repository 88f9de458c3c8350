/* SPDX-License-Identifier: MIT */
/*
 * uaccess.h - copies to and from user memory that survive faults, the way the
 * kernel's exception table does: a `rep movsb` copy whose faulting
 * instruction the SIGSEGV/SIGBUS handler recognises; the handler moves the
 * interrupted instruction pointer to a fix-up label that returns the bytes
 * not copied. Nothing runs on the fast path. Signals at other addresses are
 * chained to the handler the application had installed (or the default).
 *
 * copy_*_nofault(): for sections with faults disabled (locks held).
 * copy_*_user(): may fault into our handler (no engine lock held); a bad
 * address still comes back as a short copy. Both return bytes NOT copied.
 * fault_in_readable/writeable: touch each page from user mode (the writeable
 * touch is an atomic add of zero); return bytes NOT faulted in. No locks.
 */
#ifndef PC_MM_UACCESS_H
#define PC_MM_UACCESS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <ucontext.h>
#include "kernel/testswitch.h"

/* Installs the fault handler once (idempotent; called by mm_cache_init). */
int uaccess_init(void);
/* Is the handler installed (uaccess_init ran and succeeded)? */
bool uaccess_installed(void);

/*
 * The handler's decisions 1-3 (above), without the chaining: true if the
 * fault was ours and is handled (the instruction re-runs, or resumes at a
 * fix-up), false if it is not ours. pc_handle_signal() for an
 * application's handler installed after ours. Async-signal-safe.
 */
bool uaccess_handle(int sig, siginfo_t *si, void *ucontext);

/*
 * The user-mode return from a handled fault (uaccess_sigreturn.c): loads
 * the frame's registers and FPU state and resumes the interrupted code
 * without rt_sigreturn, if the handler was called by the kernel's frame
 * (@handler_ret: the handler's return address) and the frame allows it;
 * else returns, and the handler returns normally. _init once, before the
 * handler is live.
 */
void uaccess_sigreturn_init(void);
/* Installs @sa for @sig (after _init): where the user-mode return may be
 * taken, by rt_sigaction with our own restorer, which marks the frames
 * built for this sigaction; else by sigaction(). 0 or -1 with errno. */
int uaccess_sigaction_install(int sig, const struct sigaction *sa);
bool uaccess_fast_return_usable(void);
void uaccess_fast_return(ucontext_t *uc, const void *handler_ret);
/* Test knob: never return in user mode (every handled fault ends in
 * rt_sigreturn, as before). */
DECLARE_TEST_SWITCH(uaccess_test_no_fast_return);
/* Test switch: the user-mode return does not restore the FPU/vector
 * registers (the handler's own values reach the interrupted code). */
DECLARE_TEST_SWITCH(uaccess_test_fast_return_no_fpu);
/* Test switch: the user-mode return is taken also when an application's
 * handler called ours (its code after the call is skipped). */
DECLARE_TEST_SWITCH(uaccess_test_fast_return_any_caller);
/* Test switch: return in user mode even when the interrupted code runs
 * with RFLAGS.NT set (the IRETQ then raises #GP). */
DECLARE_TEST_SWITCH(uaccess_test_fast_return_nt);
/* Test switch: return in user mode also from a frame built for another
 * sigaction (an application's handler that tail-calls ours): the mask
 * the kernel set for that handler stays in force. */
DECLARE_TEST_SWITCH(uaccess_test_fast_return_any_frame);

/*
 * Blocked SIGSEGV/SIGBUS: a thread that blocks them is killed by the kernel
 * at a fault instead of entering our handler. Its mask is looked at when
 * its task is created (its first call) and by uaccess_check_sigmask (at
 * pc_engine_open and pc_mmap; a system call, too slow for every copy). A
 * thread found blocking them copies with process_vm_readv/writev on its own
 * process and faults in with MADV_POPULATE_*: a bad address is an error,
 * never a signal. Returns whether the calling thread blocks them.
 */
bool uaccess_check_sigmask(void);

/*
 * The fault layer's entry (docs/design.md §6.2): called from the handler for a
 * SIGSEGV/SIGBUS the CPU raised, except a fault of a nofault copy (faults
 * disabled: that one is always fixed up). Returns true if it resolved the
 * fault (the instruction re-runs), false to let the handler go on: fix up a
 * copy or fault-in, else chain to the application's handler. It runs in
 * signal context on the faulting thread. NULL removes it.
 */
typedef bool (*uaccess_fault_fn)(int sig, siginfo_t *info, void *ucontext);
void uaccess_set_fault_hook(uaccess_fault_fn fn);

/* Test switch (hazard H2): a nofault copy's fault goes to the fault hook
 * like any other (the "faulting copy" the design forbids under locks). */
DECLARE_TEST_SWITCH(uaccess_test_faulting_nofault);
/* Test switch: a thread blocking SIGSEGV/SIGBUS copies with signals all the
 * same (the kernel then kills the process at a bad address). */
DECLARE_TEST_SWITCH(uaccess_test_ignore_blocked);

size_t copy_from_user_nofault(void *dst, const void *usrc, size_t n);
size_t copy_to_user_nofault(void *udst, const void *src, size_t n);
size_t copy_from_user(void *dst, const void *usrc, size_t n);
size_t copy_to_user(void *udst, const void *src, size_t n);
size_t fault_in_readable(const void *uaddr, size_t size);
size_t fault_in_writeable(void *uaddr, size_t size);

#endif

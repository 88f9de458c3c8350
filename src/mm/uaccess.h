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
#include "kernel/testswitch.h"

/* Installs the fault handler once (idempotent; called by mm_cache_init). */
int uaccess_init(void);

/*
 * The fault layer's entry (ARCHITECTURE §6): called from the handler for a
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

size_t copy_from_user_nofault(void *dst, const void *usrc, size_t n);
size_t copy_to_user_nofault(void *udst, const void *src, size_t n);
size_t copy_from_user(void *dst, const void *usrc, size_t n);
size_t copy_to_user(void *udst, const void *src, size_t n);
size_t fault_in_readable(const void *uaddr, size_t size);
size_t fault_in_writeable(void *uaddr, size_t size);

#endif

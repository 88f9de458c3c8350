/* SPDX-License-Identifier: MIT */
/*
 * signal.c - pc_handle_signal: the chaining entry point for an application
 * (or a language runtime) that installs its own SIGSEGV/SIGBUS handler
 * after the library's (mm/uaccess.c installs ours at the first
 * pc_engine_open). The application's handler calls it first; 1 means the
 * fault was the library's and is handled, so the handler returns at once.
 * Async-signal-safe: only the fault core, as our own handler runs it.
 *
 * Locks: those of a fault (mm lock, page locks, the fill path), as the
 * library's handler takes them; none when the fault is not ours.
 */
#include <signal.h>

#include "api/engine.h"
#include "mm/uaccess.h"

int pc_handle_signal(int sig, void *info, void *ucontext)
{
	siginfo_t *si = info;

	if ((sig != SIGSEGV && sig != SIGBUS) || !si || !ucontext || !uaccess_installed())
		return 0;
	return uaccess_handle(sig, si, ucontext) ? 1 : 0;
}

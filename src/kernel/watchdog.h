/* SPDX-License-Identifier: MIT */
/*
 * watchdog.h - hang detection for free-running threads. A monitor thread
 * samples the watched tasks (task_set_watched()); when every one of them has
 * been asleep in a library wait, with no progress anywhere, for the timeout,
 * it prints each thread's held locks and what it waits for, then calls the
 * handler (default: abort). The deterministic scheduler needs no watchdog: it
 * sees "all blocked" exactly. Start and stop may be called from any thread
 * (one monitor: a second start is -EBUSY); the handler runs in the monitor
 * and must not call watchdog_stop.
 */
#ifndef PC_KERNEL_WATCHDOG_H
#define PC_KERNEL_WATCHDOG_H

int watchdog_start(unsigned timeout_ms, void (*on_hang)(void));
void watchdog_stop(void);
/* Number of hangs reported since start. */
unsigned long watchdog_hangs(void);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * test_switches.h - the registry of every test switch and test knob of the
 * library: a table of names and addresses (test_switches.c), so that the
 * test harness can reset them all after a failed case and check that a case
 * starts with every one off.
 *
 * A test switch is a global `bool <area>_test_<what>;` declared in its
 * module's internal header that turns one protection off (tests set it, show
 * the hazard, and clear it); a test knob is a number that replaces a default
 * (0: the default). Adding one means adding a line here.
 *
 * It lives in api/ (the top layer, which may name every layer's symbols)
 * rather than in kernel/. Locks: none; tests set and reset the switches
 * while no engine thread of theirs runs.
 */
#ifndef PC_API_TEST_SWITCHES_H
#define PC_API_TEST_SWITCHES_H

#include <stdbool.h>
#include <stddef.h>

struct test_switch {
	const char *name;
	bool *sw;
};

struct test_knob {
	const char *name;
	void *knob; /* an integer of @size bytes */
	size_t size;
};

extern const struct test_switch test_switches[];
extern const size_t nr_test_switches;
extern const struct test_knob test_knobs[];
extern const size_t nr_test_knobs;

/* The first switch that is on, or knob that is not 0, or NULL. */
const char *test_switches_first_on(void);
/* Turns every switch off and every knob back to 0; calls @report (if not
 * NULL) with the name of each that was on. Returns how many were. */
int test_switches_reset(void (*report)(const char *name));

#endif

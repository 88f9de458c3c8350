/* SPDX-License-Identifier: MIT */
/*
 * testswitch.h - test switches exist only in test builds.
 *
 * A test switch turns one protection off so that a test can show the hazard
 * it prevents (the pattern `bool <area>_test_<what>;`). The library is built
 * twice (src/meson.build): libpagecache_test, with PC_TEST_SWITCHES defined,
 * which the tests link, and the installed libpagecache without it. In the
 * installed library a switch is a compile-time constant 0 (false, 0, NULL):
 * the code it guards is removed by the compiler, no writable global is left
 * and nothing outside the library can turn a protection off.
 *
 * Use, for a bool switch:
 *	header:	DECLARE_TEST_SWITCH(vol_test_skip_data_flush);
 *	one .c:	TEST_SWITCH(vol_test_skip_data_flush);
 * and for a knob of another type (a count, a hook; use a typedef for a
 * function pointer):
 *	header:	DECLARE_TEST_KNOB(long, mm_fallback_test_vma_budget);
 *	one .c:	TEST_KNOB(long, mm_fallback_test_vma_budget);
 * In test builds these are the plain `extern bool name;` / `bool name;` (so
 * a table of `bool *` can list them, e.g. for the harness to reset them
 * after a failing case: guard such a table with #ifdef PC_TEST_SWITCHES).
 * Code that must know whether switches exist tests PC_TEST_SWITCHES.
 *
 * No locks.
 */
#ifndef PC_KERNEL_TESTSWITCH_H
#define PC_KERNEL_TESTSWITCH_H

#include <stdbool.h>

#ifdef PC_TEST_SWITCHES
#define DECLARE_TEST_KNOB(type, name) extern type name
#define TEST_KNOB(type, name)	      type name
#else
#define DECLARE_TEST_KNOB(type, name) static const type name = 0
#define TEST_KNOB(type, name)	      _Static_assert(1, #name " is a constant")
#endif

#define DECLARE_TEST_SWITCH(name) DECLARE_TEST_KNOB(bool, name)
#define TEST_SWITCH(name)	  TEST_KNOB(bool, name)

#endif

/* SPDX-License-Identifier: MIT */
/*
 * basic_fixture.h - shared helpers of the API end-to-end tests
 * (test_api_basic, test_api_size, test_api_names): a fresh empty directory
 * per test under one private temporary root ($TMPDIR or /tmp, removed at
 * exit), an engine opened on it with background writeback effectively off
 * (PC_API_POLICY=0|1|2 picks the locking policy), a byte pattern, and checks
 * of a file's contents through the engine and of the host file under the
 * store; for the mapping tests (test_mmap, test_mmap_fallback, test_mmap_h2,
 * test_dio_h*), a file of a byte pattern, pc_mmap() with a skip where the
 * mechanism is missing, and SIGBUS and SIGSEGV catching. Takes no locks:
 * call from the main test thread.
 */
#ifndef PC_TESTS_API_BASIC_FIXTURE_H
#define PC_TESTS_API_BASIC_FIXTURE_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pagecache.h"

#define PG 4096

/* The directory of the test running now (the last fresh() one). */
extern char dir[1100];

/* A fresh empty directory for one test (in dir[]). */
const char *fresh(void);
struct pc_engine *engine_on(const char *d);
/* The options of engine_on for @d with fault mechanism @mech, without its
 * PC_API_POLICY/PC_FAULT overrides (for tests that choose themselves). */
struct pc_options engine_options(const char *d, int mech);
/* engine_on(fresh()). */
struct pc_engine *engine(void);
void fill(char *buf, size_t len, unsigned seed, uint64_t off);
/* The file read through @fd equals model[0, len) and its size is len. */
void check_contents(struct pc_engine *e, int fd, const char *model, size_t len);
/* The host file under the store equals model[0, len). */
void check_host(const char *name, const char *model, size_t len);
/* A sub-check the host cannot run: "# skip what: strerror(-err)", and the
 * case goes on (test_skip_part). */
void skip(const char *what, long err);
/* The whole case cannot run here: ends it as skipped (test_skip). */
__attribute__((noreturn)) void skip_case(const char *what, long err);

/* The file descriptors the process has open (/proc/self/fd); _in: through
 * @d, an opendir of it made earlier (no fd needed: the count works with
 * none left), its own fd not counted. */
unsigned open_fds(void);
unsigned open_fds_in(DIR *d);

/* A hazard switch's demonstration: runs @child in a forked child process,
 * which the hang or lock inversion it provokes must kill with SIGABRT (the
 * validator's report, or the watchdog's); the case fails if the child ends
 * any other way (SIGALRM after 60 s: neither saw it). Ends the case as
 * skipped under TSan, which cannot start threads in the child of a
 * multi-threaded fork (the engine's writeback thread). */
void expect_child_abort(void (*child)(void *arg), void *arg);

/* Creates or truncates @name and writes @len bytes of fill(@seed) from
 * @buf to it; returns its fd. */
int new_file(struct pc_engine *e, const char *name, char *buf, size_t len, unsigned seed);
/* pc_mmap(), or the case ends as skipped where the host lacks userfaultfd; any
 * other failure fails the test. */
char *map_view(struct pc_engine *e, int fd, size_t len, int prot, int flags, off_t off);
/* Installs the application's SIGBUS handler that touch_bus() needs: call
 * from a constructor, before any engine installs its own (which then
 * chains here for faults that are not its to serve). */
void install_bus_catcher(void);
/* Loads from @p; true if that raised SIGBUS at @p in that handler. Any
 * other SIGBUS aborts. */
bool touch_bus(volatile char *p);
/* Stores @v at @p; true if that raised SIGBUS at @p in that handler. */
bool store_bus(volatile char *p, char v);
/* The application's SIGSEGV handler that store_segv() and load_segv() need
 * (as install_bus_catcher: from a constructor, before any engine's). */
void install_segv_catcher(void);
/* Stores @v at @p, or loads from @p into *@out; true if that raised SIGSEGV
 * (the access did not happen: a page not writable, or not mapped). Any
 * other SIGSEGV aborts. */
bool store_segv(volatile char *p, char v);
bool load_segv(volatile char *p, char *out);

#endif

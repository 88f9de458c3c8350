/* SPDX-License-Identifier: MIT */
/*
 * bench.h - the shared harness of the bench/ programs: options, timing,
 * sample series with median/min/max, scratch directories, engine setup and
 * the line-oriented output that bench/run.sh turns into RESULTS.md and plots.
 *
 * Every program measures the engine and its anchor (the kernel doing the
 * same thing, or memcpy) alternately inside one run: repetition r runs
 * every implementation once, in an order rotated by r, so drift of the
 * machine hits all of them alike. Nothing here asserts a time; goals are
 * reported as met or not.
 *
 * Output (tab separated, one record a line, anything else is commentary):
 *   INFO  key value
 *   ROW   group metric impl unit median min max n
 *   CMP   group metric unit a a_med a_min a_max b b_med b_min b_max ratio goal met
 *         (ratio = a_med / b_med, or for a paired comparison the median of
 *          the ratios of slices run next to each other; goal is text such
 *          as ">= 2" or "-"; met is yes, no or -)
 *   SKIP  group metric reason
 *
 * Options: --smoke (tiny sizes and counts, for make check), --reps N.
 * Environment: BENCH_STORE (directory for engine stores and host anchor
 * files; default /var/tmp), BENCH_SHM (tmpfs directory for kernel anchors;
 * default /dev/shm). Locks: none (single-threaded apart from bench_mixed's
 * own threads, which share nothing here but the output lock).
 */
#ifndef PC_BENCH_H
#define PC_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pagecache.h"

#define BENCH_MAXREP 64

struct bench_cfg {
	bool smoke;
	int reps;
	const char *store_base; /* engine stores and host anchor files */
	const char *shm_base;	/* tmpfs anchors */
};
extern struct bench_cfg bcfg;

/* Parses the options; default_reps when --reps is not given (1 with --smoke). */
void bench_init(int argc, char **argv, int default_reps);

/* A monotonic clock in nanoseconds. */
uint64_t now_ns(void);

struct series {
	double v[BENCH_MAXREP];
	int n;
};
void series_add(struct series *s, double v);
double series_median(const struct series *s);
double series_min(const struct series *s);
double series_max(const struct series *s);

void emit_info(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void emit_row(const char *group, const char *metric, const char *impl, const char *unit,
	      const struct series *s);
/* Compares a with b (ratio of medians). goal_op: ">=", "<=" or NULL (no goal). */
double emit_cmp(const char *group, const char *metric, const char *unit, const char *a,
		const struct series *sa, const char *b, const struct series *sb,
		const char *goal_op, double goal);
/* The same record with the ratio the median of @n paired ratios a/b (each
 * from slices of a and b run next to each other), not of the medians. */
double emit_cmp_paired(const char *group, const char *metric, const char *unit, const char *a,
		       const struct series *sa, const char *b, const struct series *sb,
		       const double *ratios, size_t n, const char *goal_op, double goal);
/* The median of @n values (0 for none). */
double median_of(const double *v, size_t n);
void emit_skip(const char *group, const char *metric, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prints the message and exits 1. */
__attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...);
/* Dies with the call's text when r < 0 (r is a -errno). */
long ck(long r, const char *what);
/* Same for a libc call that returns -1 and sets errno. */
long ckerr(long r, const char *what);

/* A fresh directory base/pc-bench-TAG-XXXXXX, removed with its contents at exit. */
const char *bench_tmpdir(const char *base, const char *tag);
/* Joins a directory and a name into a static ring of buffers. */
const char *path_join(const char *d, const char *name);

/* Opens an engine on @dir; background writeback stays out of the way. */
struct pc_engine *bench_engine(const char *dir, enum pc_lock_policy pol, size_t mem_limit);
/* An engine on a new vol image @name of @size bytes in @dir (replaced if
 * there); BENCH_VOL_FILL set: every block of the image written first, so
 * that the host file system allocates nothing inside a flush. */
struct pc_engine *bench_vol_engine(const char *dir, const char *name, uint64_t size);

/* xorshift64*: fast and reproducible; seeded from BENCH_SEED or a constant. */
uint64_t rnd(uint64_t *s);
uint64_t bench_seed(void);
/* A random permutation of 0..n-1. */
void shuffle(uint64_t *a, size_t n, uint64_t *s);
/* Deterministic non-zero bytes. */
void fill_pattern(void *buf, size_t len, uint64_t seed);
/* Allocates @len bytes aligned to 4096, touched. */
void *xalloc(size_t len);

/* Writes @len bytes of pattern to the engine file fd / host fd in 1 MiB chunks. */
void engine_fill(struct pc_engine *e, int fd, uint64_t len);
void host_fill(int fd, uint64_t len);
/* The file every comparison starts from: an engine (two-state, room for
 * twice the file) on @store_dir with "f" filled with @len bytes of pattern
 * and written back (*efd: its fd), and the same bytes in a host file "f"
 * under @host_dir (returned fd). */
int twin_files(const char *store_dir, const char *host_dir, uint64_t len, struct pc_engine **e,
	       int *efd);

/* Keeps the compiler from dropping a loaded value. */
extern volatile uint64_t bench_sink;

#endif

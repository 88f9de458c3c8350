/* SPDX-License-Identifier: MIT */
/*
 * test_mmap_fallback.c - the fallback fault mechanism (PROT_NONE + mprotect,
 * src/mm/fault_fallback.c) and the mapping rules both mechanisms share:
 *   - the VMA budget (lowered through mm_fallback_test_vma_budget): faults
 *     that would split a view into more VMAs than the budget allows take
 *     views back to PROT_NONE instead; the count kept agrees with the
 *     kernel's (/proc/self/maps); pc_mmap refuses with -ENOMEM before the
 *     budget could be passed, and malloc goes on working. With the budget
 *     effectively off (huge) the same touches split the view page by page:
 *     that is what the budget prevents;
 *   - a fault taken with a page lock held and faults enabled is a validator
 *     report (docs/design.md §7.7); the report is captured here;
 *   - MAP_PRIVATE as Linux: ftruncate removes private copies beyond the new
 *     EOF (SIGBUS there, zeroes after the file grows back), a hole punch
 *     keeps them;
 *   - pc_engine_close with views still mapped unmaps them (and writes their
 *     stores back).
 * Each test runs on both mechanisms where userfaultfd is available.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "api/engine.h"
#include "fs/file.h"
#include "mm/filemap.h"
#include "basic_fixture.h"
#include "harness.h"
#include "kernel/lockdep.h"
#include "mm/vma.h"
#include "pagecache.h"

static struct pc_engine *engine_mech(int mech)
{
	struct pc_options o = {.size = sizeof(struct pc_options),
			       .store_dir = fresh(),
			       .writeback_interval_ms = 600000,
			       .fault_mechanism = mech};
	struct pc_engine *e = NULL;

	CHECK_EQ(pc_engine_open(&o, &e), 0);
	return e;
}

/* Kernel VMAs inside [a, a + len), from /proc/self/maps. */
static long count_vmas(const void *a, size_t len)
{
	FILE *f = fopen("/proc/self/maps", "r");
	uintptr_t lo = (uintptr_t)a, hi = lo + len, s, t;
	char line[512];
	long n = 0;

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &s, &t) == 2 && s < hi && t > lo)
			n++;
	fclose(f);
	return n;
}

/* The application's SIGBUS handler, installed before the engine's. */
__attribute__((constructor)) static void install_app_handler(void)
{
	install_bus_catcher();
}

/* Every other page of a 64-page view read: 64 VMAs without a budget. */
static long touch_alternate(struct pc_engine *e, long budget, long *max_seen)
{
	size_t len = 64 * PG;
	char *w = malloc(len);
	int fd = new_file(e, "f", w, len, 11);
	char *p = map_view(e, fd, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	long kernel;

	mm_fallback_test_vma_budget = budget;
	*max_seen = 0;
	CHECK_EQ(pc_fdatasync(e, fd), 0);
	CHECK_EQ(pc_fadvise(e, fd, 0, 0, POSIX_FADV_DONTNEED), 0); /* no fault-around */
	CHECK_EQ(pc_madvise(e, p, len, MADV_RANDOM), 0);	   /* nor read-around */
	for (int k = 0; k < 64; k += 2) {
		CHECK_EQ(p[k * PG + 5], w[k * PG + 5]);
		if (mm_fallback_vmas() > *max_seen)
			*max_seen = mm_fallback_vmas();
		CHECK_EQ(count_vmas(p, len), mm_fallback_vmas());
	}
	/* stores: write-notify makes pages writable, same accounting */
	for (int k = 1; k < 64; k += 4)
		p[k * PG] = w[k * PG] = 'S';
	kernel = count_vmas(p, len);
	CHECK_EQ(kernel, mm_fallback_vmas());
	CHECK(!memcmp(p, w, len));
	CHECK_EQ(pc_munmap(e, p, len), 0);
	CHECK_EQ(mm_fallback_vmas(), 0);
	check_contents(e, fd, w, len);
	CHECK_EQ(pc_close(e, fd), 0);
	free(w);
	return kernel;
}

TEST(fallback_vma_budget)
{
	struct pc_engine *e = engine_mech(PC_FAULT_FALLBACK);
	long max_seen, n;

	/* The protection off (a budget far above what the view can use): the
	 * touches split the view page by page. */
	n = touch_alternate(e, 1000000, &max_seen);
	printf("# no budget: up to %ld VMAs in one 64-page view\n", max_seen);
	CHECK(max_seen >= 32);
	/* A budget of 12: never more, whatever the faults. */
	n = touch_alternate(e, 12, &max_seen);
	printf("# budget 12: up to %ld VMAs (kernel count at the end: %ld)\n", max_seen, n);
	CHECK(max_seen <= 12);

	/* pc_mmap refuses before the budget could be passed: 3 per view. */
	char w[PG];
	int fd = new_file(e, "g", w, PG, 11), made = 0, err = 0;
	char *v[8];
	for (;;) {
		v[made] = pc_mmap(e, fd, PG, PROT_READ, MAP_PRIVATE, 0, &err);
		if (!v[made])
			break;
		CHECK_EQ(v[made][7], w[7]);
		made++;
		CHECK(made < 8);
	}
	CHECK_EQ(err, -ENOMEM);
	CHECK_EQ(made, 4);
	void *m = malloc(1 << 20); /* the process's own mappings go on */
	CHECK(m != NULL);
	free(m);
	while (made)
		CHECK_EQ(pc_munmap(e, v[--made], PG), 0);
	mm_fallback_test_vma_budget = 0;
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

#if PC_LOCKDEP
static char reports_text[8192];
static unsigned nreports;

static void capture(const char *kind, const char *text)
{
	size_t l = strlen(reports_text);

	snprintf(reports_text + l, sizeof(reports_text) - l, "[%s] %s\n", kind, text);
	nreports++;
}
#endif

static void fault_under_page_lock(int mech, bool hold)
{
#if PC_LOCKDEP
	struct pc_engine *e = engine_mech(mech);
	char w[4 * PG];
	int fd = new_file(e, "f", w, sizeof(w), 11);
	char *p = map_view(e, fd, sizeof(w), PROT_READ, MAP_SHARED, 0);
	struct file *f = fdget(&e->fdt, fd);
	struct page *page;

	CHECK(f != NULL);
	CHECK_EQ(pc_fdatasync(e, fd), 0);
	CHECK_EQ(pc_fadvise(e, fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	CHECK_EQ(pc_pread(e, fd, w, PG, 0), PG); /* page 0 cached again */
	page = find_get_page(&f->f_mapping->i_pages, 0);
	CHECK(page != NULL);
	reports_text[0] = 0;
	nreports = 0;
	lockdep_set_report_handler(capture);
	if (hold)
		lock_page(page);
	CHECK_EQ(p[2 * PG + 1], w[2 * PG + 1]); /* a fault on another page */
	if (hold)
		unlock_page(page);
	lockdep_set_report_handler(NULL);
	lockdep_reset_graph();
	put_page(page);
	fdput(e, f);
	if (hold) {
		CHECKF(nreports >= 1 && strstr(reports_text, "[assert held]") &&
			   strstr(reports_text, "at a page fault with faults enabled") &&
			   strstr(reports_text, "page_lock"),
		       "reports: %s", reports_text);
	} else {
		CHECKF(nreports == 0, "reports: %s", reports_text);
	}
	CHECK_EQ(pc_munmap(e, p, sizeof(w)), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
#else
	(void)mech;
	(void)hold;
#endif
}

TEST(fault_with_page_lock_held_is_reported)
{
#if !PC_LOCKDEP
	skip_case("validator", -EOPNOTSUPP);
#endif
	for (int mech = PC_FAULT_AUTO; mech <= PC_FAULT_FALLBACK; mech += 2) {
		fault_under_page_lock(mech, false); /* the switch off: silent */
		fault_under_page_lock(mech, true);
	}
}

TEST(private_truncate_drops_copies_punch_keeps)
{
	for (int mech = PC_FAULT_AUTO; mech <= PC_FAULT_FALLBACK; mech += 2) {
		struct pc_engine *e = engine_mech(mech);
		char w[4 * PG], r[PG];
		int fd = new_file(e, "f", w, sizeof(w), 11);
		char *p = map_view(e, fd, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, 0);
		int err;

		memset(p + PG, 'A', PG); /* copies of pages 1 and 3 */
		memset(p + 3 * PG, 'C', PG);
		CHECK_EQ(p[2 * PG], w[2 * PG]); /* page 2 shows the file ... */
		memset(r, 'n', PG);
		CHECK_EQ(pc_pwrite(e, fd, r, PG, 2 * PG), PG);
		CHECK_EQ(p[2 * PG], 'n'); /* ... and its later changes (not copied) */
		err = pc_fallocate(e, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, PG, PG);
		CHECK(err == 0 || err == -EOPNOTSUPP);
		CHECK_EQ(p[PG + 9], 'A'); /* a punch keeps the copy */
		CHECK_EQ(pc_ftruncate(e, fd, 2 * PG + 10), 0);
		CHECK_EQ(p[PG + 9], 'A');	  /* below the new EOF: kept */
		CHECK(touch_bus(p + 3 * PG + 1)); /* beyond: gone, SIGBUS */
		CHECK_EQ(pc_ftruncate(e, fd, 4 * PG), 0);
		CHECK_EQ(p[3 * PG + 1], 0); /* the file's zeroes, not the copy */
		CHECK_EQ(p[2 * PG + 11], 0);
		CHECK_EQ(pc_munmap(e, p, 4 * PG), 0);
		CHECK_EQ(pc_close(e, fd), 0);
		CHECK_EQ(pc_engine_close(e), 0);
	}
}

TEST(engine_close_unmaps_views)
{
	for (int mech = PC_FAULT_AUTO; mech <= PC_FAULT_FALLBACK; mech += 2) {
		struct pc_engine *e = engine_mech(mech);
		char w[2 * PG];
		int fd = new_file(e, "f", w, sizeof(w), 11);
		char *p = map_view(e, fd, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
		char *q = map_view(e, fd, PG, PROT_READ, MAP_PRIVATE, 0);

		p[PG + 3] = w[PG + 3] = 'Z';
		CHECK_EQ(q[3], w[3]);
		CHECK_EQ(pc_close(e, fd), 0);
		CHECK_EQ(pc_engine_close(e), 0); /* views still mapped */
		CHECK_EQ(count_vmas(p, 2 * PG), 0);
		CHECK_EQ(count_vmas(q, PG), 0);
		check_host("f", w, sizeof(w));
	}
}

/* SPDX-License-Identifier: MIT */
/*
 * test_mmap_h2.c - hazards H2 and H7 with real mappings (src/mm/fault.c).
 *
 * H2 (a) pc_pwrite of a page from a view of that very page, for a hole, a
 * page with data not cached, and a cached page: the nofault copy under the
 * page lock fails short, the write faults the source in with its locks
 * dropped and retries; (b) two threads each pwriting its file from a view of
 * the other's file while the pages keep being dropped; (c) a concurrent
 * reader (pread and loads through a view) never sees a zero byte, which no
 * writer ever writes. Watchdog on: a hang aborts. With the nofault copy made
 * a faulting copy (uaccess_test_faulting_nofault), (a) self-deadlocks on
 * its page lock, and the validator or the watchdog kills the forked child.
 *
 * H7: with the fault path made to keep the mm lock across its fill
 * (mm_fault_test_keep_mm_lock), the validator reports the store read under
 * the mm lock; with a store read held up (store_inject_hook), faults on
 * other, cached pages and mmap/munmap proceed meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/engine_internal.h"
#include "basic_fixture.h"
#include "harness.h"
#include "kernel/lockdep.h"
#include "kernel/rng.h"
#include "kernel/task.h"
#include "kernel/watchdog.h"
#include "mm/uaccess.h"
#include "mm/vma.h"
#include "pagecache.h"
#include "store/store.h"

#define NP 8

static int new_pages(struct pc_engine *e, const char *name, int val)
{
	char page[PG];
	int fd = pc_open(e, name, O_RDWR | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0);
	memset(page, val, PG);
	for (int k = 0; k < NP; k++)
		CHECK_EQ(pc_pwrite(e, fd, page, PG, (off_t)k * PG), PG);
	return fd;
}

static bool page_is(const char *p, int val)
{
	for (size_t i = 0; i < PG; i++)
		if (p[i] != (char)val)
			return false;
	return true;
}

/* Drops page @k of @fd from the cache (and so from every view). */
static void drop_page(struct pc_engine *e, int fd, int k)
{
	CHECK_EQ(pc_fdatasync(e, fd), 0);
	CHECK_EQ(pc_fadvise(e, fd, (off_t)k * PG, PG, POSIX_FADV_DONTNEED), 0);
}

/* ---- H2 (a): a page written from a view of itself ---- */

/* One pc_pwrite of page @k from a fresh view of page @k, in state @state
 * (0 hole, 1 data not cached, 2 cached); the page must keep @val. */
static void self_write(struct pc_engine *e, int fd, int k, int state, int val)
{
	char page[PG], *v;

	memset(page, val, PG);
	if (state == 0) {
		int err = pc_fallocate(e, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				       (off_t)k * PG, PG);
		CHECK(err == 0 || err == -EOPNOTSUPP);
		if (err)
			CHECK_EQ(pc_pwrite(e, fd, memset(page, 0, PG), PG, (off_t)k * PG), PG);
		val = 0;
	} else {
		CHECK_EQ(pc_pwrite(e, fd, page, PG, (off_t)k * PG), PG);
		if (state == 1)
			drop_page(e, fd, k);
	}
	v = map_view(e, fd, PG, PROT_READ, MAP_SHARED, (off_t)k * PG);
	CHECK_EQ(pc_pwrite(e, fd, v, PG, (off_t)k * PG), PG);
	CHECK(page_is(v, val));
	CHECK_EQ(pc_munmap(e, v, PG), 0);
	CHECK_EQ(pc_pread(e, fd, page, PG, (off_t)k * PG), PG);
	CHECK(page_is(page, val));
}

TEST(h2_write_from_own_page)
{
	struct pc_engine *e = engine();
	int fd = new_pages(e, "f", 1);
	unsigned long n = test_scale(100000, 20);

	CHECK_EQ(watchdog_start(20000, NULL), 0);
	task_set_watched(true);
	for (unsigned long i = 0; i < n; i++)
		self_write(e, fd, (int)(i % NP), (int)(i % 3), (int)(i % 250) + 1);
	task_set_watched(false);
	watchdog_stop();
	printf("# %lu writes of a page from a view of itself\n", n);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

/* The hazard switch: a faulting copy under the page lock hangs (a). */
static void h2_faulting_copy_child(void *root)
{
	struct pc_engine *e = engine_on(root);
	int fd = new_pages(e, "f", 7);
	char *v;

	watchdog_start(2000, NULL);
	task_set_watched(true);
	drop_page(e, fd, 3);
	v = map_view(e, fd, PG, PROT_READ, MAP_SHARED, 3 * PG);
	uaccess_test_faulting_nofault = true;
	(void)pc_pwrite(e, fd, v, PG, 3 * PG);
}

TEST(h2_faulting_copy_hangs)
{
	expect_child_abort(h2_faulting_copy_child, (void *)fresh());
}

/* ---- H2 (b), (c): two files written from views of each other ---- */

struct cross {
	struct pc_engine *e;
	int fd[2];
	unsigned long iters;
	int stop; /* atomic */
	unsigned long reads;
};

struct cross_arg {
	struct cross *c;
	int me;
};

static void *cross_writer(void *p)
{
	struct cross_arg *a = p;
	struct cross *c = a->c;
	int mine = c->fd[a->me], other = c->fd[!a->me];
	char *v = map_view(c->e, other, NP * PG, PROT_READ, MAP_SHARED, 0);
	char page[PG];
	struct rng rng;

	rng_seed(&rng, test_seed() + (uint64_t)a->me);

	task_set_watched(true);
	for (unsigned long i = 0; i < c->iters; i++) {
		int k = (int)(rng_next(&rng) % NP);
		switch (rng_next(&rng) % 4) {
		case 0: /* a fresh value */
			memset(page, (int)(rng_next(&rng) % 250) + 1, PG);
			CHECK_EQ(pc_pwrite(c->e, mine, page, PG, (off_t)k * PG), PG);
			break;
		case 1: /* drop one of my pages: the other writer's view faults */
			CHECK_EQ(pc_fadvise(c->e, mine, (off_t)k * PG, PG, POSIX_FADV_DONTNEED), 0);
			break;
		default: /* copy from the view of the other file */
			CHECK_EQ(pc_pwrite(c->e, mine, v + (size_t)k * PG, PG, (off_t)k * PG), PG);
			break;
		}
	}
	task_set_watched(false);
	CHECK_EQ(pc_munmap(c->e, v, NP * PG), 0);
	return NULL;
}

static void *cross_reader(void *p)
{
	struct cross *c = p;
	char *v[2] = {map_view(c->e, c->fd[0], NP * PG, PROT_READ, MAP_SHARED, 0),
		      map_view(c->e, c->fd[1], NP * PG, PROT_READ, MAP_SHARED, 0)};
	char page[PG];
	struct rng rng;

	rng_seed(&rng, test_seed() + 77);

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		int f = (int)(rng_next(&rng) % 2), k = (int)(rng_next(&rng) % NP);
		const char *src = page;
		if (rng_next(&rng) % 2)
			CHECK_EQ(pc_pread(c->e, c->fd[f], page, PG, (off_t)k * PG), PG);
		else
			src = v[f] + (size_t)k * PG; /* loads through the view */
		for (size_t i = 0; i < PG; i += 64)
			CHECKF(src[i] != 0, "file %d page %d byte %zu: a zero nobody wrote", f, k,
			       i);
		c->reads++;
	}
	CHECK_EQ(pc_munmap(c->e, v[0], NP * PG), 0);
	CHECK_EQ(pc_munmap(c->e, v[1], NP * PG), 0);
	return NULL;
}

TEST(h2_cross_files)
{
	struct cross c = {.e = engine(), .iters = test_scale(100000, 20)};
	struct cross_arg a[2] = {{&c, 0}, {&c, 1}};
	pthread_t w[2], r;
	char page[PG];

	c.fd[0] = new_pages(c.e, "a", 'a');
	c.fd[1] = new_pages(c.e, "b", 'b');
	CHECK_EQ(watchdog_start(20000, NULL), 0);
	CHECK_EQ(pthread_create(&r, NULL, cross_reader, &c), 0);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&w[i], NULL, cross_writer, &a[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(w[i], NULL);
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	pthread_join(r, NULL);
	watchdog_stop();
	for (int f = 0; f < 2; f++)
		for (int k = 0; k < NP; k++) {
			CHECK_EQ(pc_pread(c.e, c.fd[f], page, PG, (off_t)k * PG), PG);
			for (size_t i = 0; i < PG; i++)
				CHECK(page[i] != 0);
		}
	printf("# %lu ops per writer, %lu checked reads\n", c.iters, c.reads);
	CHECK_EQ(pc_close(c.e, c.fd[0]), 0);
	CHECK_EQ(pc_close(c.e, c.fd[1]), 0);
	CHECK_EQ(pc_engine_close(c.e), 0);
}

/* ---- H7 ---- */

#if PC_LOCKDEP
static char report[4096];
static int nreports;

static void capture(const char *kind, const char *text)
{
	nreports++;
	snprintf(report, sizeof(report), "%s: %s", kind, text);
}
#endif

TEST(h7_switch_reports_io_under_mm_lock)
{
#if PC_LOCKDEP
	struct pc_engine *e = engine();
	int fd = new_pages(e, "f", 9);
	char *v;
	lockdep_report_fn old;

	drop_page(e, fd, 2);
	v = map_view(e, fd, NP * PG, PROT_READ, MAP_SHARED, 0);
	old = lockdep_set_report_handler(capture);
	mm_fault_test_keep_mm_lock = true;
	CHECK_EQ(v[2 * PG], 9); /* a miss: the fill reads the store */
	mm_fault_test_keep_mm_lock = false;
	lockdep_set_report_handler(old);
	CHECKF(nreports >= 1 && strstr(report, "mm lock"), "reports %d: %s", nreports, report);
	/* and without the switch, none */
	nreports = 0;
	drop_page(e, fd, 5);
	old = lockdep_set_report_handler(capture);
	CHECK_EQ(v[5 * PG], 9);
	lockdep_set_report_handler(old);
	CHECK_EQ(nreports, 0);
	CHECK_EQ(pc_munmap(e, v, NP * PG), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
#else
	skip_case("validator off", -EOPNOTSUPP);
#endif
}

/* A store read held up until released. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool armed, blocked, release;
	struct store_inode *si;
} slow = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static int slow_hook(void *arg, enum store_op op, struct store_inode *si, int64_t pos, int64_t len)
{
	if (op != STORE_OP_READ && op != STORE_OP_MAP)
		return 0;
	pthread_mutex_lock(&slow.lock);
	if (slow.armed) {
		slow.armed = false;
		slow.blocked = true;
		pthread_cond_broadcast(&slow.cond);
		while (!slow.release)
			pthread_cond_wait(&slow.cond, &slow.lock);
	}
	pthread_mutex_unlock(&slow.lock);
	return 0;
}

static char *slow_view;

static void *slow_toucher(void *p)
{
	CHECK_EQ(slow_view[6 * PG], 11); /* blocks in the store */
	return NULL;
}

TEST(h7_slow_store_other_faults_proceed)
{
	struct pc_engine *e = engine();
	int fd = new_pages(e, "f", 11), fd2 = new_pages(e, "g", 12);
	pthread_t t;
	char *v2, *v3;

	drop_page(e, fd, 6);
	slow_view = map_view(e, fd, NP * PG, PROT_READ, MAP_SHARED, 0);
	store_inject_hook(pc_engine_store(e), slow_hook, NULL);
	pthread_mutex_lock(&slow.lock);
	slow.armed = true;
	pthread_mutex_unlock(&slow.lock);
	CHECK_EQ(pthread_create(&t, NULL, slow_toucher, NULL), 0);
	pthread_mutex_lock(&slow.lock);
	while (!slow.blocked)
		pthread_cond_wait(&slow.cond, &slow.lock);
	pthread_mutex_unlock(&slow.lock);
	/* Meanwhile: faults on cached pages of the same view and file, and a
	 * new view (mm lock exclusive) with its faults, all complete. */
	CHECK_EQ(slow_view[0], 11);
	CHECK_EQ(slow_view[7 * PG + 5], 11);
	v2 = map_view(e, fd2, NP * PG, PROT_READ, MAP_SHARED, 0);
	for (int k = 0; k < NP; k++)
		CHECK_EQ(v2[k * PG], 12);
	v3 = map_view(e, fd, PG, PROT_READ, MAP_SHARED, PG);
	CHECK_EQ(v3[1], 11);
	CHECK_EQ(pc_munmap(e, v3, PG), 0);
	CHECK_EQ(pc_munmap(e, v2, NP * PG), 0);
	pthread_mutex_lock(&slow.lock);
	CHECK(!slow.release); /* the slow fault is still waiting */
	slow.release = true;
	pthread_cond_broadcast(&slow.cond);
	pthread_mutex_unlock(&slow.lock);
	pthread_join(t, NULL);
	store_inject_hook(pc_engine_store(e), NULL, NULL);
	CHECK_EQ(pc_munmap(e, slow_view, NP * PG), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_close(e, fd2), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

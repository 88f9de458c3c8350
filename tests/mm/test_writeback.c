/* SPDX-License-Identifier: MIT */
/*
 * Tests of writeback (src/mm/writeback.c, mm_cache.c) on the mm layer
 * directly, over a dir store: dirty accounting (flag, index tag,
 * per-mapping and engine counters agree), fsync's write-and-wait writing
 * every byte and nothing past EOF, injected store write errors reported once
 * per errseq sample with the data kept dirty and written by a later fsync,
 * the background thread (periodic flush within its interval, kick above
 * dirty_background, its name), writer throttling at dirty_limit, and mapping
 * teardown racing the thread, and (deterministic scheduler) a write-and-wait
 * racing another thread's writepage of the same page: it must not return
 * before that store write (writeback_test_untag_early shows the hazard),
 * and a writer's dirty count read while another thread's writepage moves a
 * page from dirty to writeback and back: never low
 * (writeback_test_split_count shows it one page low). The memory limit and reclaim are in
 * test_reclaim.c, the shared helpers in writeback_fixture.c.
 * Random tests print their seed (PC_SEED replays); PC_QUICK scales down.
 * Waits for the background thread poll a counter with no deadline: the hang
 * watchdog reports one that stops making progress (threads.h,
 * watched_wait_*); nothing sleeps to order threads.
 */
#include <dirent.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "threads.h"
#include "kernel/futex.h"
#include "kernel/rng.h"
#include "kernel/sched.h"
#include "mm/fill.h"
#include "mm/internal.h"
#include "mm/writeback_thread.h"
#include "store/fixture.h"
#include "writeback_fixture.h"

#define WB_TEST_RUN 256 /* writeback.c's WB_RUN */

TEST(dirty_accounting)
{
	struct mm_cache_config cfg = quiet_config();
	uint64_t seed = test_seed();
	struct rng r;
	struct wbt t;

	rng_seed(&r, seed);
	wbt_setup(&t, &cfg, 2);
	/* Scattered writes of random sizes, some pages rewritten. */
	for (int k = 0; k < 200; k++) {
		int f = (int)rng_below(&r, 2);
		int64_t pos = (int64_t)rng_below(&r, 256 * PAGE_SIZE);
		size_t len = 1 + rng_below(&r, 3 * PAGE_SIZE);

		write_pattern(&t.m[f], pos, len, f, 0);
	}
	check_dirty_accounting(&t);
	check_lru(&t);
	CHECK(READ_ONCE(t.c.nr_dirty) > 0);

	/* Dirty transitions by hand on one page. */
	struct page *page = find_get_page(&t.m[0].i_pages, 0);
	if (!page) {
		write_pattern(&t.m[0], 0, 1, 0, 0);
		page = find_get_page(&t.m[0].i_pages, 0);
	}
	CHECK(page != NULL);
	lock_page(page);
	unsigned long before = READ_ONCE(t.c.nr_dirty);
	bool was_dirty = PageDirty(page);
	CHECK_EQ(clear_page_dirty_for_io(page), was_dirty);
	CHECK(!clear_page_dirty_for_io(page));
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), before - was_dirty);
	CHECK(set_page_dirty(page));
	CHECK(!set_page_dirty(page));
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), before - was_dirty + 1);
	unlock_page(page);
	put_page(page);
	check_dirty_accounting(&t);

	/* Write back half of file 0: that range becomes clean, the rest stays. */
	unsigned long dirty1 = READ_ONCE(t.m[1].nrdirty);
	CHECK_EQ(filemap_write_and_wait_range(&t.m[0], 0, 128 * PAGE_SIZE - 1), 0);
	CHECK_EQ(count_tagged(&t.m[0], PAGECACHE_TAG_DIRTY, 0, 127), 0);
	CHECK_EQ(READ_ONCE(t.m[1].nrdirty), dirty1);
	check_dirty_accounting(&t);

	for (int f = 0; f < 2; f++)
		CHECK_EQ(filemap_write_and_wait_range(&t.m[f], 0, INT64_MAX), 0);
	check_dirty_accounting(&t);
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), 0);
	for (int f = 0; f < 2; f++) {
		CHECK(!page_index_tagged(&t.m[f].i_pages, PAGECACHE_TAG_DIRTY));
		CHECK(!page_index_tagged(&t.m[f].i_pages, PAGECACHE_TAG_WRITEBACK));
	}
	wbt_teardown(&t);
}

TEST(fsync_writes_everything_not_past_eof)
{
	struct mm_cache_config cfg = quiet_config();
	const size_t size = 100 * PAGE_SIZE + 1234; /* EOF inside a page */
	struct wbt t;

	wbt_setup(&t, &cfg, 1);
	uint64_t wb0 = cache_stat_read(&t.c.stats.written_back_pages);
	write_pattern(&t.m[0], 0, size, 0, 1);
	CHECK_EQ(i_size_read(&t.m[0]), (int64_t)size);
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), 101);
	CHECK_EQ(store_size(t.si[0]), 0); /* nothing written yet */

	CHECK_EQ(filemap_write_and_wait_range(&t.m[0], 0, INT64_MAX), 0);
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), 0);
	CHECK_EQ(READ_ONCE(t.m[0].nrdirty), 0);
	CHECK_EQ(cache_stat_read(&t.c.stats.written_back_pages) - wb0, 101);
	CHECK(!page_index_tagged(&t.m[0].i_pages, PAGECACHE_TAG_DIRTY));
	CHECK(!page_index_tagged(&t.m[0].i_pages, PAGECACHE_TAG_WRITEBACK));
	/* The EOF page's tail was not written: the store file ends at EOF. */
	CHECK_EQ(store_size(t.si[0]), (int64_t)size);
	check_store(t.si[0], 0, size, 0, 1);

	/* A second fsync has nothing to write. */
	unsigned long writes = store_calls(t.s, STORE_OP_WRITE);
	CHECK_EQ(filemap_write_and_wait_range(&t.m[0], 0, INT64_MAX), 0);
	CHECK_EQ(store_calls(t.s, STORE_OP_WRITE), writes);
	check_dirty_accounting(&t);
	wbt_teardown(&t);
}

static void one_write_error(int err)
{
	struct mm_cache_config cfg = quiet_config();
	struct wbt t;

	wbt_setup(&t, &cfg, 1);
	struct address_space *m = &t.m[0];
	errseq_t fd1 = errseq_sample(&m->wb_err), fd2 = errseq_sample(&m->wb_err);

	write_pattern(m, 0, 4 * PAGE_SIZE, 0, 2);
	CHECK_EQ(filemap_write_and_wait_range(m, 0, INT64_MAX), 0);
	write_pattern(m, PAGE_SIZE, 2 * PAGE_SIZE, 0, 3); /* pages 1 and 2 dirty again */
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), 2);

	/* The next store write fails: fsync reports it, the pages it carried
	 * (1 and 2, consecutive: one write) stay dirty. */
	store_inject_fail(t.s, STORE_OP_WRITE, 1, err, false);
	CHECK_EQ(filemap_write_and_wait_range(m, 0, INT64_MAX), -err);
	CHECK_EQ(store_inject_fired(t.s), 1);
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), 2);
	check_dirty_accounting(&t);
	struct page *page = find_get_page(&m->i_pages, 1);
	struct page *page2 = find_get_page(&m->i_pages, 2);
	CHECK(page != NULL && page2 != NULL);
	CHECK(PageDirty(page) && PageError(page));
	CHECK(PageDirty(page2) && PageError(page2));

	/* Once per sample (errseq), then never again. */
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd1), -err);
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd1), 0);
	/* A file opened after the error was seen does not get it. */
	errseq_t fd3 = errseq_sample(&m->wb_err);
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd3), 0);
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd2), -err);
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd2), 0);

	/* The data was kept: a later fsync writes it. */
	CHECK_EQ(filemap_write_and_wait_range(m, 0, INT64_MAX), 0);
	CHECK(!PageDirty(page) && !PageError(page));
	CHECK(!PageDirty(page2) && !PageError(page2));
	put_page(page);
	put_page(page2);
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), 0);
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd1), 0);
	check_store(t.si[0], 0, PAGE_SIZE, 0, 2);
	check_store(t.si[0], PAGE_SIZE, 2 * PAGE_SIZE, 0, 3);
	check_store(t.si[0], 3 * PAGE_SIZE, PAGE_SIZE, 0, 2);

	/* A second error after the first was seen is a new error for everyone. */
	write_pattern(m, 0, 10, 0, 4);
	store_inject_fail(t.s, STORE_OP_WRITE, 1, err, false);
	CHECK_EQ(filemap_fdatawrite_range(m, 0, INT64_MAX), -err);
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd1), -err);
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd2), -err);
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd3), -err);
	CHECK_EQ(filemap_write_and_wait_range(m, 0, INT64_MAX), 0);
	check_store(t.si[0], 0, 10, 0, 4);
	wbt_teardown(&t);
}

/* write_run sends consecutive dirty pages to the store as one write per
 * segment (of at most a run, WB_RUN = 256 pages), the EOF page on its own;
 * with the switch, one write per page. The bytes on the store are the same. */
static unsigned long segment_writes(bool per_page)
{
	struct mm_cache_config cfg = quiet_config();
	const size_t size = 300 * PAGE_SIZE + 1234; /* EOF inside page 300 */
	struct wbt t;

	wbt_setup(&t, &cfg, 1);
	write_pattern(&t.m[0], 0, size, 0, 6);
	writeback_test_write_per_page = per_page;
	unsigned long writes = store_calls(t.s, STORE_OP_WRITE);
	CHECK_EQ(filemap_write_and_wait_range(&t.m[0], 0, INT64_MAX), 0);
	writes = store_calls(t.s, STORE_OP_WRITE) - writes;
	writeback_test_write_per_page = false;
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), 0);
	CHECK_EQ(store_size(t.si[0]), (int64_t)size);
	check_store(t.si[0], 0, size, 0, 6);
	check_dirty_accounting(&t);
	wbt_teardown(&t);
	return writes;
}

TEST(run_is_one_store_write_per_segment)
{
	unsigned long batched = segment_writes(false), per_page = segment_writes(true);

	printf("# 301 dirty pages written in %lu store writes (%lu with the switch)\n", batched,
	       per_page);
	/* pages 0-255 (1 MiB), 256-299, and the EOF page 300 */
	CHECK_EQ(batched, 3);
	CHECK_EQ(per_page, 301);
}

/* A run of 256 pages is one held lock of the validator, whose held-lock
 * stack has 48 entries: pages 1-255 are the run's (trylock_page_run). With
 * writeback_test_track_run_pages each page is an entry of its own and the
 * validator stops the process on the 49th. Each side writes a run in a child
 * process; the parent reads how the child ended. */
static int run_in_child(bool track)
{
	int st = 0;

	(void)fresh_dir(NULL); /* the temp root: the parent's, removed at its exit */
	pid_t pid = test_fork();

	if (pid == 0) {
		struct mm_cache_config cfg = quiet_config();
		struct wbt t;

		/* the validator's report goes to the child's stderr, which the
		 * parent expects only on the switch's side */
		if (track && !freopen("/dev/null", "w", stderr))
			_exit(3);
		wbt_setup(&t, &cfg, 1);
		write_pattern(&t.m[0], 0, WB_TEST_RUN * PAGE_SIZE, 0, 8);
		writeback_test_track_run_pages = track;
		int ret = filemap_write_and_wait_range(&t.m[0], 0, INT64_MAX);
		writeback_test_track_run_pages = false;
		if (ret || READ_ONCE(t.c.nr_dirty))
			_exit(2);
		check_store(t.si[0], 0, WB_TEST_RUN * PAGE_SIZE, 0, 8);
		/* no teardown: the child has none of the parent's RCU threads */
		_exit(0);
	}
	CHECK(pid > 0);
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	return st;
}

TEST(run_is_one_validator_lock)
{
#if !PC_LOCKDEP
	test_skip("no lock validator in this build");
#endif
#if PC_HAVE_TSAN
	/* the child starts the writeback thread, which TSan refuses after a
	 * fork of a process with threads */
	test_skip("ThreadSanitizer: no new threads in a forked child");
#endif
	int run = run_in_child(false), tracked = run_in_child(true);

	printf("# a run of %d pages: child %s; with the switch: child %s\n", WB_TEST_RUN,
	       WIFEXITED(run) && !WEXITSTATUS(run) ? "exits 0" : "fails",
	       WIFSIGNALED(tracked) ? strsignal(WTERMSIG(tracked)) : "exits");
	CHECK(WIFEXITED(run) && WEXITSTATUS(run) == 0);
	CHECK(WIFSIGNALED(tracked) && WTERMSIG(tracked) == SIGABRT);
}

/* Background passes that write down to a target while the file keeps
 * growing (each round the writer adds two pages and a pass writes to two
 * pages below the dirty count), until a backlog of 300 dirty pages is clean:
 * the target ends a pass between runs only, so each pass writes a whole run
 * (up to WB_RUN pages) in one store write; with
 * writeback_test_target_per_page the target cuts every run at two pages.
 * Store writes and pages written, both sides. */
static unsigned long backlog_writes(bool per_page, unsigned long *pages)
{
	struct mm_cache_config cfg = quiet_config();
	struct wbt t;
	size_t end = 300 * PAGE_SIZE;

	wbt_setup(&t, &cfg, 1);
	write_pattern(&t.m[0], 0, end, 0, 9);
	writeback_test_target_per_page = per_page;
	unsigned long writes = store_calls(t.s, STORE_OP_WRITE);
	*pages = 0;
	for (int r = 0; r < 1000 && *pages < 300; r++) {
		write_pattern(&t.m[0], (int64_t)end, 2 * PAGE_SIZE, 0, 9);
		end += 2 * PAGE_SIZE;
		unsigned long dirty = READ_ONCE(t.c.nr_dirty);
		*pages += (unsigned long)wb_do_pass(cache_wb(&t.c), dirty - 2, false, NULL);
	}
	writes = store_calls(t.s, STORE_OP_WRITE) - writes;
	writeback_test_target_per_page = false;
	CHECK(*pages >= 300);
	CHECK_EQ(filemap_write_and_wait_range(&t.m[0], 0, INT64_MAX), 0);
	check_store(t.si[0], 0, end, 0, 9);
	check_dirty_accounting(&t);
	wbt_teardown(&t);
	return writes;
}

TEST(background_pass_writes_whole_runs)
{
	unsigned long pw, pc;
	unsigned long whole = backlog_writes(false, &pw), cut = backlog_writes(true, &pc);

	printf("# a 300-page backlog written by passes to a target 2 pages below the dirty "
	       "count: %lu pages in %lu store writes (%lu in %lu with the switch)\n",
	       pw, whole, pc, cut);
	CHECK(whole <= 3);
	CHECK(cut >= pc / 2);
}

TEST(write_error_eio_reported_once_data_kept)
{
	one_write_error(EIO);
}

TEST(write_error_enospc_reported_once_data_kept)
{
	one_write_error(ENOSPC);
}

/* Threads of this process named "pc-writeback" (liburcu's call_rcu worker
 * inherits the name if the writeback thread happened to start it). */
static int writeback_threads_named(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int found = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f))
			found += !strncmp(comm, "pc-writeback", 12);
		fclose(f);
	}
	closedir(d);
	return found;
}

TEST(background_periodic_writeback)
{
	struct mm_cache_config cfg = quiet_config();
	struct wbt t;

	cfg.writeback_interval_ms = 50;
	wbt_setup(&t, &cfg, 2);
	CHECK(writeback_threads_named() >= 1);
	uint64_t t0 = ktime_get_ns();
	write_pattern(&t.m[0], 0, 10 * PAGE_SIZE + 7, 0, 5);
	write_pattern(&t.m[1], 3 * PAGE_SIZE, 5 * PAGE_SIZE, 1, 5);
	CHECK(READ_ONCE(t.c.nr_dirty) > 0);
	/* Below dirty_background: only the periodic flush writes them. */
	wait_at_most(&t.c.nr_dirty, 0, "nr_dirty 0 (periodic flush)");
	printf("# flushed after %llu ms (interval %u ms)\n",
	       (unsigned long long)((ktime_get_ns() - t0) / 1000000), cfg.writeback_interval_ms);
	wait_at_most(&t.c.nr_writeback, 0, "nr_writeback 0");
	check_store(t.si[0], 0, 10 * PAGE_SIZE + 7, 0, 5);
	check_store(t.si[1], 3 * PAGE_SIZE, 5 * PAGE_SIZE, 1, 5);
	CHECK_EQ(store_size(t.si[0]), 10 * PAGE_SIZE + 7);
	wbt_teardown(&t);
}

TEST(background_kick_above_dirty_background)
{
	struct mm_cache_config cfg = quiet_config();
	struct wbt t;

	cfg.dirty_background = 16 * PAGE_SIZE;
	cfg.dirty_limit = 4096 * PAGE_SIZE;
	wbt_setup(&t, &cfg, 1);
	CHECK_EQ(t.c.dirty_background, 16);
	write_pattern(&t.m[0], 0, 100 * PAGE_SIZE, 0, 6);
	/* The write path kicks the thread; so does this (never sleeps). */
	balance_dirty_pages(&t.m[0], true);
	wait_at_most(&t.c.nr_dirty, 16, "nr_dirty <= dirty_background (kicked flush)");
	writeback_stop(&t.c); /* quiescent: the accounting can be checked exactly */
	CHECK(READ_ONCE(t.c.nr_dirty) <= 16);
	check_dirty_accounting(&t);
	wbt_teardown(&t);
}

/* Writers of several files with a small dirty limit: the dirty count stays
 * near the limit and writers get throttled. */
struct throttle_arg {
	struct wbt *t;
	int next;
	size_t chunk, total;
	unsigned long max_seen;
	int err;
};

static void *throttle_writer(void *p)
{
	struct throttle_arg *a = p;
	struct wbt *t = a->t;
	int f = __atomic_fetch_add(&a->next, 1, __ATOMIC_RELAXED);
	unsigned char *buf = malloc(a->chunk);

	for (size_t pos = 0; buf && pos < a->total; pos += a->chunk) {
		fill_pattern(buf, a->chunk, (int64_t)pos, f, 7);
		if (do_write(&t->m[f], buf, a->chunk, (int64_t)pos) != (ssize_t)a->chunk) {
			a->err = -EIO;
			break;
		}
		atomic_max(&a->max_seen, READ_ONCE(t->c.nr_dirty) + READ_ONCE(t->c.nr_writeback));
	}
	free(buf);
	return NULL;
}

/* Holds the store's writes (the writeback thread's) until opened, so that
 * the writers must reach the dirty limit whatever the machine's speed. */
struct write_gate {
	pthread_mutex_t lock;
	pthread_cond_t open_cv;
	bool open;
};

static int gate_hook(void *arg, enum store_op op, struct store_inode *si, int64_t pos, int64_t len)
{
	struct write_gate *g = arg;

	if (op != STORE_OP_WRITE)
		return 0;
	pthread_mutex_lock(&g->lock);
	while (!g->open)
		pthread_cond_wait(&g->open_cv, &g->lock);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

/* Three writers against a dirty limit of 64 pages while writeback is held
 * back: they must be throttled (not merely slowed), and none runs more than
 * one chunk past the limit; once writeback flows again they all finish. */
TEST(throttle_at_dirty_limit)
{
	struct mm_cache_config cfg = quiet_config();
	struct write_gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
	const int nthreads = 3;
	pthread_t th[3];
	struct wbt t;

	cfg.dirty_background = 16 * PAGE_SIZE;
	cfg.dirty_limit = 64 * PAGE_SIZE;
	wbt_setup(&t, &cfg, nthreads);
	store_inject_hook(t.s, gate_hook, &gate);
	struct throttle_arg a = {.t = &t, .chunk = 4 * PAGE_SIZE, .total = test_scale(4u << 20, 4)};
	for (int i = 0; i < nthreads; i++)
		CHECK(pthread_create(&th[i], NULL, throttle_writer, &a) == 0);

	struct watched_wait w;
	watched_wait_begin(&w, "a writer throttled", &t.c.stats.throttled_writes);
	while (!__atomic_load_n(&t.c.stats.throttled_writes, __ATOMIC_ACQUIRE))
		watched_wait_step(&w, READ_ONCE(t.c.nr_dirty));
	watched_wait_end(&w);
	pthread_mutex_lock(&gate.lock);
	gate.open = true;
	pthread_cond_broadcast(&gate.open_cv);
	pthread_mutex_unlock(&gate.lock);
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	store_inject_hook(t.s, NULL, NULL);

	CHECK_EQ(a.err, 0);
	printf("# max dirty+writeback %lu pages (limit %lu), throttled %llu\n", a.max_seen,
	       t.c.dirty_limit, (unsigned long long)cache_stat_read(&t.c.stats.throttled_writes));
	/* Each writer may run one chunk past the limit before it throttles. */
	CHECK(a.max_seen <= t.c.dirty_limit + (unsigned long)nthreads * (a.chunk / PAGE_SIZE + 1));
	for (int f = 0; f < nthreads; f++)
		CHECK_EQ(filemap_write_and_wait_range(&t.m[f], 0, INT64_MAX), 0);
	for (int f = 0; f < nthreads; f++)
		check_store(t.si[f], 0, a.total, f, 7);
	wbt_teardown(&t);
}

/* A background write error is reported to fsync once per sample, and the
 * page written later. */
TEST(background_write_error_reported_by_fsync)
{
	struct mm_cache_config cfg = quiet_config();
	struct wbt t;

	cfg.writeback_interval_ms = 20;
	wbt_setup(&t, &cfg, 1);
	struct address_space *m = &t.m[0];
	errseq_t fd1 = errseq_sample(&m->wb_err);

	store_inject_fail(t.s, STORE_OP_WRITE, 1, EIO, false);
	write_pattern(m, 0, PAGE_SIZE, 0, 8);
	/* The thread fails once (page stays dirty), then writes it on a later pass. */
	struct watched_wait w;
	uint64_t v;
	watched_wait_begin(&w, "the injected write error", t.s);
	while ((v = (uint64_t)store_inject_fired(t.s)) == 0)
		watched_wait_step(&w, v);
	watched_wait_end(&w);
	CHECK_EQ(store_inject_fired(t.s), 1);
	/* nr_dirty also reads 0 while the failing writeback is in flight: wait
	 * for the successful rewrite itself */
	watched_wait_begin(&w, "the rewrite after the error", &t.c.stats.written_back_pages);
	while ((v = __atomic_load_n(&t.c.stats.written_back_pages, __ATOMIC_ACQUIRE)) == 0)
		watched_wait_step(&w, v);
	watched_wait_end(&w);
	wait_at_most(&t.c.nr_dirty, 0, "nr_dirty 0");
	wait_at_most(&t.c.nr_writeback, 0, "nr_writeback 0");
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd1), -EIO);
	CHECK_EQ(filemap_write_and_wait_range(m, 0, INT64_MAX), 0);
	CHECK_EQ(file_check_and_advance_wb_err(m, &fd1), 0);
	check_store(t.si[0], 0, PAGE_SIZE, 0, 8);
	wbt_teardown(&t);
}

/* Mappings come and go while the thread writes back every millisecond:
 * teardown waits for the thread to let go (ASan would see a use after free). */
TEST(mapping_teardown_races_writeback_thread)
{
	struct mm_cache_config cfg = quiet_config();
	struct wbt t;
	unsigned long rounds = test_scale(300, 10);

	cfg.writeback_interval_ms = 1;
	wbt_setup(&t, &cfg, 0);
	for (unsigned long i = 0; i < rounds; i++) {
		struct address_space *m = &t.m[0];
		struct store_inode *si;
		char name[32];

		snprintf(name, sizeof(name), "r%lu", i);
		si = create(t.s, name);
		CHECK_EQ(mapping_init(m, &t.c, si, 0), 0);
		write_pattern(m, 0, 8 * PAGE_SIZE, 0, 9);
		if (i & 1)
			CHECK_EQ(filemap_write_and_wait_range(m, 0, INT64_MAX), 0);
		else
			wait_at_most(&m->nrdirty, 0, "the mapping's nrdirty 0");
		CHECK_EQ(filemap_write_and_wait_range(m, 0, INT64_MAX), 0);
		mapping_destroy(m);
		check_store(si, 0, 8 * PAGE_SIZE, 0, 9);
		store_release(si);
	}
	wbt_teardown(&t);
}

TEST(writeback_stop_writes_nothing_further)
{
	struct mm_cache_config cfg = quiet_config();
	struct wbt t;

	wbt_setup(&t, &cfg, 1);
	write_pattern(&t.m[0], 0, 8 * PAGE_SIZE, 0, 10);
	unsigned long writes = store_calls(t.s, STORE_OP_WRITE);
	int named = writeback_threads_named();
	writeback_stop(&t.c);
	CHECK_EQ(writeback_threads_named(), named - 1);
	CHECK_EQ(store_calls(t.s, STORE_OP_WRITE), writes);
	CHECK_EQ(READ_ONCE(t.c.nr_dirty), 8);
	/* Without the thread nothing sleeps waiting for it. */
	balance_dirty_pages(&t.m[0], false);
	CHECK_EQ(store_calls(t.s, STORE_OP_WRITE), writes);
	wbt_teardown(&t); /* fsync writes them; destroy stops nothing twice */
}

#if PC_SCHED_HOOKS
/* ---- a write-and-wait racing another writer's writepage ---- */

struct ww_run {
	struct wbt *t;
	unsigned gen;
	bool clean_check; /* the waiter asks mapping_clean instead */
	int ret;
	long bad; /* first byte of the store not of generation gen, or -1 */
};

static void ww_fn(void *arg, unsigned idx)
{
	struct ww_run *r = arg;
	struct address_space *m = &r->t->m[0];
	unsigned char buf[PAGE_SIZE];
	ssize_t n;

	if (idx == 0) {
		/* another writer of the page: the background thread, reclaim */
		(void)filemap_fdatawrite_range(m, 0, PAGE_SIZE - 1);
		return;
	}
	if (r->clean_check) {
		/* mapping_clean (the inode cache revalidating a re-open):
		 * clean must mean the store holds the data */
		r->ret = 0;
		if (!mapping_clean(m)) {
			r->bad = -1;
			return;
		}
	} else {
		/* fsync's or a DIO read's write-and-wait */
		r->ret = filemap_write_and_wait_range(m, 0, PAGE_SIZE - 1);
	}
	n = store_read(r->t->si[0], buf, PAGE_SIZE, 0);
	r->bad = n == (ssize_t)PAGE_SIZE ? check_pattern(buf, PAGE_SIZE, 0, 0, r->gen) : 0;
}

/* Up to @n schedules from @base, each with the page dirtied anew; stops at
 * the first whose waiter read old contents if @stop_at_stale. Returns the
 * number of stale reads; *ran: schedules run. */
static unsigned long ww_schedules(struct sched_pool *pool, struct wbt *t, uint64_t base,
				  unsigned long n, bool stop_at_stale, unsigned long *ran,
				  uint64_t *stale_seed, bool clean_check)
{
	unsigned long stale = 0, i;

	for (i = 0; i < n && !(stop_at_stale && stale); i++) {
		struct sched_config cfg = {.seed = base + i,
					   .strategy = i & 1 ? SCHED_PCT : SCHED_RANDOM_WALK};
		struct ww_run r = {.t = t,
				   .gen = (unsigned)(i + 1) * 2 + stop_at_stale,
				   .clean_check = clean_check};

		write_pattern(&t->m[0], 0, PAGE_SIZE, 0, r.gen);
		struct sched_result res = sched_run(pool, &cfg, ww_fn, &r);
		CHECKF(res.status == SCHED_OK, "seed 0x%" PRIx64, base + i);
		CHECK_EQ(r.ret, 0);
		if (r.bad >= 0) {
			if (!stale)
				*stale_seed = base + i;
			stale++;
		}
		/* whatever the schedule, the page ends clean with the store current */
		CHECK_EQ(count_tagged(&t->m[0], PAGECACHE_TAG_DIRTY, 0, 0), 0);
		check_store(t->si[0], 0, PAGE_SIZE, 0, r.gen);
	}
	*ran = i;
	return stale;
}

/*
 * A write-and-wait (fsync, a DIO read, SEEK_DATA) that runs while another
 * thread's writepage has cleaned the page but not yet set PG_writeback must
 * still wait for that store write: the DIRTY tag stays until the WRITEBACK
 * tag is set. With the old order (writeback_test_untag_early) the waiter saw
 * neither tag and read the old contents from the store (test_model's rare
 * "DIO read found zeroes where the cache had data").
 */
TEST(write_and_wait_vs_writepage_in_flight)
{
	struct mm_cache_config cfg = quiet_config();
	struct sched_pool *pool = sched_pool_create(2);
	uint64_t base = test_seed(), seed = 0;
	unsigned long n = test_scale(2000, 10), ran, stale;
	struct wbt t;

	wbt_setup(&t, &cfg, 1);
	stale = ww_schedules(pool, &t, base, n, false, &ran, &seed, false);
	CHECKF(stale == 0, "%lu of %lu schedules read old contents, first seed 0x%" PRIx64, stale,
	       ran, seed);
	printf("# %lu schedules, none read old contents\n", ran);

	writeback_test_untag_early = true;
	stale = ww_schedules(pool, &t, base, 50 * n, true, &ran, &seed, false);
	writeback_test_untag_early = false;
	CHECKF(stale, "untag early: no schedule of %lu read old contents (PC_SEED=0x%" PRIx64 ")",
	       ran, base);
	if (stale)
		printf("# untag early: seed 0x%" PRIx64 " read old contents after %lu schedules\n",
		       seed, ran);
	wbt_teardown(&t);
	sched_pool_destroy(pool);
}

/*
 * mapping_clean (the inode cache trusts the store's size and contents of a
 * clean unused inode when it is opened again) racing another thread's
 * writepage: whenever it says clean, the store holds the page. With the
 * DIRTY tag cleared early (writeback_test_untag_early) it reads clean in the
 * window before the store write (test_model's rare "size smaller than the
 * model" after a re-open on dir).
 */
TEST(mapping_clean_vs_writepage_in_flight)
{
	struct mm_cache_config cfg = quiet_config();
	struct sched_pool *pool = sched_pool_create(2);
	uint64_t base = test_seed(), seed = 0;
	unsigned long n = test_scale(2000, 10), ran, stale;
	struct wbt t;

	wbt_setup(&t, &cfg, 1);
	stale = ww_schedules(pool, &t, base, n, false, &ran, &seed, true);
	CHECKF(stale == 0,
	       "%lu of %lu schedules saw clean before the store write, first seed 0x%" PRIx64,
	       stale, ran, seed);
	printf("# %lu schedules, clean never before the store write\n", ran);

	writeback_test_untag_early = true;
	stale = ww_schedules(pool, &t, base, 50 * n, true, &ran, &seed, true);
	writeback_test_untag_early = false;
	CHECKF(stale, "untag early: no schedule of %lu saw clean early (PC_SEED=0x%" PRIx64 ")",
	       ran, base);
	if (stale)
		printf("# untag early: seed 0x%" PRIx64 " saw clean early after %lu schedules\n",
		       seed, ran);
	wbt_teardown(&t);
	sched_pool_destroy(pool);
}

/* ---- the dirty count while writepage moves a page ---- */

struct dc_run {
	struct wbt *t;
	unsigned long want; /* pages dirty or under writeback, all along */
	unsigned long low, high;
};

static void dc_fn(void *arg, unsigned idx)
{
	struct dc_run *r = arg;

	if (idx == 0) {
		/* another thread's writepage (fsync, the background thread):
		 * the store fails it, so the page goes back to dirty */
		(void)filemap_fdatawrite_range(&r->t->m[0], 0, PAGE_SIZE - 1);
		return;
	}
	/* a writer in balance_dirty_pages, reading the count */
	for (int i = 0; i < 16; i++) {
		unsigned long nr = dirty_and_writeback(&r->t->c);

		r->low += nr < r->want;
		r->high += nr > r->want;
		sched_race_window("dirty count sampled");
	}
}

/* Schedules from @base until one reads the count low (if @stop_at_low) or
 * @n ran: the schedules that read it low; *ran: schedules run. */
static unsigned long dc_schedules(struct sched_pool *pool, struct wbt *t, uint64_t base,
				  unsigned long n, bool stop_at_low, unsigned long *ran,
				  unsigned long *high)
{
	unsigned long low = 0, i;

	for (i = 0; i < n && !(stop_at_low && low); i++) {
		struct sched_config cfg = {.seed = base + i,
					   .strategy = i & 1 ? SCHED_PCT : SCHED_RANDOM_WALK};
		struct dc_run r = {.t = t, .want = 1};
		struct sched_result res = sched_run(pool, &cfg, dc_fn, &r);

		CHECKF(res.status == SCHED_OK, "seed 0x%" PRIx64, base + i);
		low += r.low > 0;
		*high += r.high > 0;
		CHECK_EQ(READ_ONCE(t->c.nr_dirty), 1); /* the store failed it: still dirty */
	}
	*ran = i;
	return low;
}

/*
 * The count the dirty limits compare (dirty plus under writeback) stays
 * exact while another thread's writepage cleans a page, sets writeback,
 * fails and dirties it again: a throttled writer reading it in between
 * must not see the cache a page emptier than it is, or it dirties one page
 * past the limit each time (test_reclaim's sticky error test saw 34 dirty
 * pages with a limit of 32 and a single writer). With the count added from
 * nr_dirty and nr_writeback (writeback_test_split_count) a schedule reads
 * it low in writepage's window between the two.
 */
TEST(dirty_count_exact_while_writepage_moves_a_page)
{
	struct mm_cache_config cfg = quiet_config();
	struct sched_pool *pool = sched_pool_create(2);
	uint64_t base = test_seed();
	unsigned long n = test_scale(1000, 10), ran, low, high = 0;
	struct wbt t;

	wbt_setup(&t, &cfg, 1);
	write_pattern(&t.m[0], 0, PAGE_SIZE, 0, 3);
	store_inject_fail(t.s, STORE_OP_WRITE, 1, EIO, true);
	low = dc_schedules(pool, &t, base, n, false, &ran, &high);
	CHECKF(low == 0 && high == 0, "%lu of %lu schedules read the count low, %lu high", low, ran,
	       high);
	printf("# %lu schedules, the count exact in every one\n", ran);

	writeback_test_split_count = true;
	low = dc_schedules(pool, &t, base, 50 * n, true, &ran, &high);
	writeback_test_split_count = false;
	CHECKF(low, "split count: no schedule of %lu read it low (PC_SEED=0x%" PRIx64 ")", ran,
	       base);
	printf("# split count: read low after %lu schedules (%lu read it high)\n", ran, high);

	store_inject_clear(t.s);
	wbt_teardown(&t);
	sched_pool_destroy(pool);
}
#endif

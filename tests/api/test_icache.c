/* SPDX-License-Identifier: MIT */
/*
 * test_icache.c - inodes and their pages outlive the last close (the
 * kernel's inode LRU, src/fs/inode.c): a re-open hits the cache, a host
 * file changed behind the engine's back is seen anew, the memory limit
 * holds with many closed files, unlink and rename of a closed cached file,
 * and a background writeback error after the last close reaches the next
 * opener's fsync, an unlink racing the last close, the last O_PATH fd of a
 * nameless file closed while its last open file closes, a stat racing the
 * writeback of a closed file (inode_test_stat_late_look: the store's old
 * size is shown). Each protection has its
 * switch: inode_test_no_revalidate (stale bytes are read),
 * inode_test_evict_unseen_error (the report is lost),
 * inode_test_no_forget_recheck (a nameless file stays cached). Many closed
 * files stay cached, as many as the open-file limit leaves room for
 * (inode_test_unused_max = 128, the old fixed bound: most are re-read), and
 * an open that finds no file descriptor left evicts some of them to free
 * theirs (inode_test_no_shrink: it fails with EMFILE); two engines of one
 * process share one budget of host fds (inode_test_fd_budget_per_engine:
 * they hold twice as many). A store
 * handle answering -ESTALE (a dead file on NFS, here a store hook) at the
 * last close or the forget after an unlink: a clean inode is evicted
 * (inode_test_estale_named: its pages stay cached), a dirty one kept.
 * Takes no locks.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "api/engine.h"
#include "api/engine_internal.h"
#include "basic_fixture.h"
#include "fs/file.h"
#include "fs/inode.h"
#include "harness.h"
#include "kernel/sched.h"
#include "pagecache.h"
#include "store/store.h"

static struct pc_stats stats(struct pc_engine *e)
{
	struct pc_stats s;

	pc_get_stats(e, &s, sizeof(s));
	return s;
}

/* Reads the whole file through a fresh fd and compares with @model. */
static void reopen_check(struct pc_engine *e, const char *name, const char *model, size_t len)
{
	int fd = pc_open(e, name, O_RDONLY, 0);

	CHECK(fd >= 0);
	check_contents(e, fd, model, len);
	CHECK_EQ(pc_close(e, fd), 0);
}

TEST(reopen_hits_the_cache)
{
	struct pc_engine *e = engine();
	struct store *s = pc_engine_store(e);
	size_t len = 64 * PG;
	char *w = malloc(len);
	int fd = new_file(e, "f", w, len, 7);

	CHECK_EQ(pc_fsync(e, fd), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	struct pc_stats before = stats(e);
	unsigned long reads = store_calls(s, STORE_OP_READ);

	CHECK_EQ(before.cached_pages, len / PG);
	reopen_check(e, "f", w, len);
	reopen_check(e, "f", w, len);
	struct pc_stats after = stats(e);

	/* every page came from the cache: no miss, no store read */
	CHECK_EQ(after.misses, before.misses);
	CHECK_EQ(store_calls(s, STORE_OP_READ), reads);
	CHECK(after.hits >= before.hits + 2 * len / PG);
	CHECK_EQ(pc_engine_close(e), 0);
	check_host("f", w, len);
	free(w);
}

/*
 * 600 closed files of two pages each, then each opened and read again: all
 * from the cache. The table keeps as many unused inodes as half the
 * open-file limit holds (each keeps four fds on the dir store: three host
 * fds, one of them opened only for direct I/O, and its frames memfd): with
 * the soft limit raised to 8192 (or the hard limit, at least 4096), over
 * 600. @old_bound: the fixed bound of 128 there was: the files closed first
 * are evicted with their pages and read from the store again.
 */
static void many_closed_files(bool old_bound)
{
	enum { NFILES = 600, FPAGES = 2 };
	struct rlimit saved, rl;

	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
	rl = saved;
	if (rl.rlim_cur < 8192)
		rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
	if (rl.rlim_cur < 4096)
		test_skip("open-file limit %llu: 600 cached files need 4096",
			  (unsigned long long)rl.rlim_cur);
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);

	struct pc_engine *e = engine();
	struct store *s = pc_engine_store(e);
	size_t len = FPAGES * PG;
	char *w = malloc(len);
	char name[32];

	printf("# open-file limit %llu: the engine keeps %lu unused inodes%s\n",
	       (unsigned long long)rl.rlim_cur, e->itable.unused_max,
	       old_bound ? " (the test bounds them at 128)" : "");
	CHECK(e->itable.unused_max >= NFILES);
	inode_test_unused_max = old_bound ? 128 : 0;
	for (int f = 0; f < NFILES; f++) {
		snprintf(name, sizeof(name), "c%d", f);
		int fd = new_file(e, name, w, len, 500 + (unsigned)f);
		CHECK_EQ(pc_fsync(e, fd), 0);
		CHECK_EQ(pc_close(e, fd), 0);
	}
	struct pc_stats before = stats(e);
	unsigned long reads = store_calls(s, STORE_OP_READ);

	for (int f = 0; f < NFILES; f++) {
		snprintf(name, sizeof(name), "c%d", f);
		fill(w, len, 500 + (unsigned)f, 0);
		reopen_check(e, name, w, len);
	}
	struct pc_stats after = stats(e);
	unsigned long long missed = after.misses - before.misses;

	printf("# %d closed files opened and read again: %llu of %d pages read from the store\n",
	       NFILES, missed, NFILES * FPAGES);
	if (old_bound) {
		CHECKF(missed >= (NFILES - 128) * FPAGES, "only %llu pages re-read", missed);
	} else {
		CHECK_EQ(missed, 0);
		CHECK_EQ(store_calls(s, STORE_OP_READ), reads);
	}
	inode_test_unused_max = 0;
	CHECK_EQ(pc_engine_close(e), 0);
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
	free(w);
}

TEST(many_closed_files_stay_cached)
{
	many_closed_files(false);
}

TEST(many_closed_files_old_bound_rereads)
{
	many_closed_files(true);
}

/*
 * The host has no file descriptor left for an open (the process's limit):
 * the engine evicts some of its unused inodes, whose host fds then close,
 * and opens (inode_store_open). 200 closed files cached, then 20 opens of
 * other files, each with the soft limit set to one more fd than the process
 * has open: the name's lookup takes that one, the data fd finds none.
 * @hazard: inode_test_no_shrink, every open fails with -EMFILE.
 */
static void open_out_of_fds(bool hazard)
{
	enum { NCACHED = 200, NOPEN = 20 };
	struct rlimit saved, rl;
	int fds[NOPEN], failed = 0;
	char name[32], path[1400];

	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
	if (saved.rlim_max < 2048)
		test_skip("open-file limit %llu", (unsigned long long)saved.rlim_max);
	struct pc_engine *e = engine();
	char *w = malloc(PG);

	for (int f = 0; f < NCACHED; f++) {
		snprintf(name, sizeof(name), "k%d", f);
		int fd = new_file(e, name, w, PG, 900 + (unsigned)f);
		CHECK_EQ(pc_fsync(e, fd), 0);
		CHECK_EQ(pc_close(e, fd), 0);
	}
	for (int f = 0; f < NOPEN; f++) {
		snprintf(path, sizeof(path), "%s/n%d", dir, f);
		int hfd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		CHECK(hfd >= 0);
		CHECK_EQ(close(hfd), 0);
	}
	unsigned before = open_fds();

	inode_test_no_shrink = hazard;
	for (int f = 0; f < NOPEN; f++) {
		snprintf(name, sizeof(name), "n%d", f);
		rl = saved;
		rl.rlim_cur = open_fds() + 1;
		CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
		fds[f] = pc_open(e, name, O_RDWR, 0);
		CHECK_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
		if (fds[f] < 0) {
			CHECK_EQ(fds[f], -EMFILE);
			failed++;
		}
	}
	inode_test_no_shrink = false;
	printf("# %d opens with one fd to spare, %d unused inodes cached: %d failed with EMFILE; "
	       "host fds %u -> %u\n",
	       NOPEN, NCACHED, failed, before, open_fds());
	if (hazard)
		CHECK_EQ(failed, NOPEN);
	else
		CHECK_EQ(failed, 0);
	for (int f = 0; f < NOPEN; f++)
		if (fds[f] >= 0)
			CHECK_EQ(pc_close(e, fds[f]), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	free(w);
}

/*
 * Two engines of one process share one fd budget: with the soft limit at
 * 1656 it is 700 fds (half of it less 256) and each table's bound 175
 * inodes (four fds each on the dir store: three host fds and the frames
 * memfd); engine A caches 150 closed files (600 fds), then engine B 150:
 * B prunes its own oldest while the two together are over the budget, A's
 * stay. @hazard: inode_test_fd_budget_per_engine, each only under its own
 * bound: 1200 fds held.
 */
static void two_engines_one_budget(bool hazard)
{
	enum { NFILES = 150 };
	struct rlimit saved, rl;
	struct pc_engine *e[2];
	char name[32];
	char *w = malloc(PG);

	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
	rl = saved;
	rl.rlim_cur = 1656;
	if (rl.rlim_max < rl.rlim_cur)
		test_skip("hard open-file limit %llu", (unsigned long long)rl.rlim_max);
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
	inode_test_fd_budget_per_engine = hazard;
	for (int k = 0; k < 2; k++) {
		e[k] = engine();
		CHECK_EQ(e[k]->itable.unused_max, 175);
		CHECK_EQ(e[k]->itable.fd_budget, 700);
		for (int f = 0; f < NFILES; f++) {
			snprintf(name, sizeof(name), "b%d", f);
			int fd = new_file(e[k], name, w, PG, 1000 + (unsigned)f);
			CHECK_EQ(pc_fsync(e[k], fd), 0);
			CHECK_EQ(pc_close(e[k], fd), 0);
		}
	}
	inode_test_fd_budget_per_engine = false;
	unsigned long a = e[0]->itable.nr_unused, b = e[1]->itable.nr_unused;
	unsigned fds = (unsigned)(4 * (a + b));

	printf("# two engines, fd budget 700: %lu and %lu unused inodes cached, %u fds%s\n", a, b,
	       fds, hazard ? " (each engine alone under its bound)" : "");
	CHECK_EQ(a, NFILES);
	if (hazard) {
		CHECK_EQ(b, NFILES);
	} else {
		CHECK(fds <= 700);
		CHECK(b < NFILES);
	}
	for (int k = 0; k < 2; k++)
		CHECK_EQ(pc_engine_close(e[k]), 0);
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
	free(w);
}

TEST(two_engines_share_one_fd_budget)
{
	two_engines_one_budget(false);
}

TEST(two_engines_budget_per_engine_holds_twice)
{
	two_engines_one_budget(true);
}

TEST(open_out_of_fds_evicts_unused_inodes)
{
	open_out_of_fds(false);
}

TEST(open_out_of_fds_no_shrink_fails)
{
	open_out_of_fds(true);
}

/* Rewrites the host file in place, same size, other bytes. */
static void rewrite_host(const char *name, char *model, size_t len, unsigned seed)
{
	char path[1400];
	int hfd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	hfd = open(path, O_WRONLY);
	CHECK(hfd >= 0);
	fill(model, len, seed, 0);
	CHECK_EQ(pwrite(hfd, model, len, 0), (ssize_t)len);
	CHECK_EQ(close(hfd), 0);
}

static void changed_behind_our_back(bool hazard)
{
	struct pc_engine *e = engine();
	size_t len = 8 * PG;
	char *w = malloc(len), *old = malloc(len), *r = malloc(len);
	int fd = new_file(e, "h", w, len, 3);

	CHECK_EQ(pc_fsync(e, fd), 0);
	memcpy(old, w, len);
	CHECK_EQ(pc_close(e, fd), 0);
	rewrite_host("h", w, len, 4); /* another program writes the file */
	inode_test_no_revalidate = hazard;
	fd = pc_open(e, "h", O_RDONLY, 0);
	inode_test_no_revalidate = false;
	CHECK(fd >= 0);
	CHECK_EQ(pc_pread(e, fd, r, len, 0), (ssize_t)len);
	if (hazard)
		CHECKF(!memcmp(r, old, len), "without revalidation the stale pages are read");
	else
		CHECKF(!memcmp(r, w, len), "the re-open sees the host's new bytes");
	CHECK_EQ(pc_close(e, fd), 0);
	/* a size change is seen too */
	if (!hazard) {
		char path[1400];

		snprintf(path, sizeof(path), "%s/h", dir);
		CHECK_EQ(truncate(path, 3 * PG), 0);
		reopen_check(e, "h", w, 3 * PG);
	}
	CHECK_EQ(pc_engine_close(e), 0);
	free(w);
	free(old);
	free(r);
}

TEST(host_change_seen_at_reopen)
{
	changed_behind_our_back(false);
}

TEST(host_change_hazard_without_revalidation)
{
	changed_behind_our_back(true);
}

TEST(memory_limit_with_many_closed_files)
{
	enum { NFILES = 48, FPAGES = 16 };
	size_t limit = 128 * PG, len = FPAGES * PG;
	struct pc_options o = {.size = sizeof(o),
			       .store_dir = fresh(),
			       .mem_limit = limit,
			       .writeback_interval_ms = 600000};
	struct pc_engine *e = NULL;
	char *w = malloc(len);
	char name[32];

	CHECK_EQ(pc_engine_open(&o, &e), 0);
	/* a small bound on unused inodes too: prune runs */
	inode_test_unused_max = 8;
	for (int f = 0; f < NFILES; f++) {
		snprintf(name, sizeof(name), "m%d", f);
		int fd = new_file(e, name, w, len, 100 + (unsigned)f);
		CHECK_EQ(pc_close(e, fd), 0);
		struct pc_stats s = stats(e);
		/* the limit plus reclaim's batch of slack */
		CHECKF(s.cached_pages <= limit / PG + 32, "%llu pages cached after file %d",
		       (unsigned long long)s.cached_pages, f);
	}
	for (int f = 0; f < NFILES; f++) {
		snprintf(name, sizeof(name), "m%d", f);
		fill(w, len, 100 + (unsigned)f, 0);
		reopen_check(e, name, w, len);
	}
	CHECK(stats(e).reclaimed_pages > 0);
	inode_test_unused_max = 0;
	CHECK_EQ(pc_engine_close(e), 0);
	for (int f = 0; f < NFILES; f += 7) {
		snprintf(name, sizeof(name), "m%d", f);
		fill(w, len, 100 + (unsigned)f, 0);
		check_host(name, w, len);
	}
	free(w);
}

TEST(unlink_and_rename_of_a_closed_cached_file)
{
	struct pc_engine *e = engine();
	struct store *s = pc_engine_store(e);
	char a[3 * PG], b[2 * PG], r[16];
	struct stat st;
	int fd;

	fd = new_file(e, "a", a, sizeof(a), 1);
	CHECK_EQ(pc_close(e, fd), 0); /* dirty, cached, unused */
	unsigned long writes = store_calls(s, STORE_OP_WRITE);
	CHECK_EQ(pc_unlink(e, "a"), 0);
	/* its dirty pages went with it, never written */
	CHECK_EQ(store_calls(s, STORE_OP_WRITE), writes);
	CHECK_EQ(stats(e).cached_pages, 0);
	CHECK_EQ(pc_stat(e, "a", &st), -ENOENT);
	fd = pc_open(e, "a", O_RDWR | O_CREAT, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(pc_pread(e, fd, r, sizeof(r), 0), 0); /* another, empty file */
	CHECK_EQ(pc_close(e, fd), 0);

	/* rename over a closed cached file: the target's pages go */
	fd = new_file(e, "t", a, sizeof(a), 2);
	CHECK_EQ(pc_close(e, fd), 0);
	fd = new_file(e, "src", b, sizeof(b), 3);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(stats(e).cached_pages, 5);
	CHECK_EQ(pc_rename(e, "src", "t", 0), 0);
	CHECK_EQ(stats(e).cached_pages, 2);
	reopen_check(e, "t", b, sizeof(b));
	CHECK_EQ(pc_stat(e, "t", &st), 0);
	CHECK_EQ(st.st_size, sizeof(b));
	/* a closed file with a second name keeps its pages when one goes */
	CHECK_EQ(pc_link(e, "t", "t2"), 0);
	CHECK_EQ(pc_unlink(e, "t"), 0);
	CHECK_EQ(stats(e).cached_pages, 2);
	reopen_check(e, "t2", b, sizeof(b));
	CHECK_EQ(pc_engine_close(e), 0);
	check_host("t2", b, sizeof(b));
}

/* Waits (bounded) until the store has seen @n more write calls than @base:
 * the background writeback thread ran. */
static bool wait_store_writes(struct store *s, unsigned long base, unsigned long n)
{
	for (int i = 0; i < 20000; i++) {
		if (store_calls(s, STORE_OP_WRITE) >= base + n)
			return true;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL); /* waiting for an event, not ordering threads */
	}
	return false;
}

static void writeback_error_after_close(bool hazard)
{
	struct pc_options o = {.size = sizeof(o), .store_dir = fresh(), .writeback_interval_ms = 5};
	struct pc_engine *e = NULL;
	char w[2 * PG];
	int fd, err;

	CHECK_EQ(pc_engine_open(&o, &e), 0);
	struct store *s = pc_engine_store(e);
	fd = pc_open(e, "e", O_RDWR | O_CREAT, 0644);
	CHECK(fd >= 0);
	fill(w, sizeof(w), 9, 0);
	unsigned long base = store_calls(s, STORE_OP_WRITE);
	store_inject_fail(s, STORE_OP_WRITE, 1, EIO, false);
	CHECK_EQ(pc_pwrite(e, fd, w, sizeof(w), 0), (ssize_t)sizeof(w));
	CHECK_EQ(pc_close(e, fd), 0); /* returns at once: nothing written yet */
	/* the background writeback fails once, then writes the pages again */
	CHECK(wait_store_writes(s, base, 2));
	struct pc_stats st;
	for (int i = 0; i < 20000; i++) {
		st = stats(e);
		if (!st.dirty_pages && !st.writeback_pages)
			break;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	CHECK_EQ(st.dirty_pages, 0);
	/* clean now, but with an error nobody saw: prune keeps it (bound 1,
	 * and another file closed after it) */
	inode_test_unused_max = 1;
	inode_test_evict_unseen_error = hazard;
	fd = pc_open(e, "other", O_RDWR | O_CREAT, 0644);
	CHECK(fd >= 0);
	err = pc_close(e, fd);
	inode_test_evict_unseen_error = false;
	/* evicted with the error: only that close could still say it */
	CHECK_EQ(err, hazard ? -EIO : 0);
	fd = pc_open(e, "e", O_RDWR, 0);
	CHECK(fd >= 0);
	if (hazard) {
		CHECKF(pc_fsync(e, fd) == 0, "evicted: the re-open's fsync never hears of it");
	} else {
		CHECK_EQ(pc_fsync(e, fd), -EIO); /* reported once */
		CHECK_EQ(pc_fsync(e, fd), 0);
	}
	check_contents(e, fd, w, sizeof(w));
	CHECK_EQ(pc_close(e, fd), 0);
	inode_test_unused_max = 0;
	CHECK_EQ(pc_engine_close(e), 0);
	check_host("e", w, sizeof(w));
}

TEST(writeback_error_after_close_reaches_next_fsync)
{
	writeback_error_after_close(false);
}

TEST(writeback_error_hazard_when_evicted)
{
	writeback_error_after_close(true);
}

TEST(engine_close_writes_back_cached_files)
{
	struct pc_engine *e = engine();
	char w[5 * PG];
	int fd = new_file(e, "c", w, sizeof(w), 11);

	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(stats(e).dirty_pages, 5);
	CHECK_EQ(pc_engine_close(e), 0);
	check_host("c", w, sizeof(w));
}

#if PC_SCHED_HOOKS
/* Unlinks "w" from inside the last close, after it read the attributes
 * (nlink 1) and before the inode goes on the unused list. */
static struct pc_engine *hook_engine;
static void unlink_in_window(enum sched_event ev, const void *obj, const char *what)
{
	(void)obj;
	if (ev == SP_RACE && !strcmp(what, "iput: attributes read, not yet unused")) {
		sched_set_hook(NULL);
		CHECK_EQ(pc_unlink(hook_engine, "w"), 0);
	}
}

static void unlink_during_last_close(bool hazard)
{
	struct pc_engine *e = engine();
	struct store *s = pc_engine_store(e);
	char w[4 * PG];
	int fd = new_file(e, "w", w, sizeof(w), 21);
	unsigned long writes = store_calls(s, STORE_OP_WRITE);

	hook_engine = e;
	inode_test_no_forget_recheck = hazard;
	sched_set_hook(unlink_in_window);
	CHECK_EQ(pc_close(e, fd), 0);
	sched_set_hook(NULL);
	inode_test_no_forget_recheck = false;
	if (hazard) {
		CHECKF(stats(e).cached_pages == 4, "the nameless file stays cached");
	} else {
		/* the unlink's look came too early; the close looked again */
		CHECK_EQ(stats(e).cached_pages, 0);
		CHECK_EQ(store_calls(s, STORE_OP_WRITE), writes); /* never written */
	}
	CHECK_EQ(pc_engine_close(e), 0);
}
#endif

#if PC_SCHED_HOOKS
/* Closes the O_PATH fd hook_pfd (the file's last pin) from inside the last
 * close of the unlinked file, after that close saw the pin and decided to
 * keep the inode. */
static int hook_pfd;
static void unpin_in_window(enum sched_event ev, const void *obj, const char *what)
{
	(void)obj;
	if (ev == SP_RACE && !strcmp(what, "iput: attributes read, not yet unused")) {
		sched_set_hook(NULL);
		CHECK_EQ(pc_close(hook_engine, hook_pfd), 0);
	}
}

static void unpin_during_last_close(bool hazard)
{
	struct pc_engine *e = engine();
	struct store *s = pc_engine_store(e);
	char w[4 * PG];
	int fd = new_file(e, "p", w, sizeof(w), 22);
	unsigned long writes = store_calls(s, STORE_OP_WRITE);

	hook_engine = e;
	hook_pfd = pc_open(e, "p", O_PATH, 0);
	CHECK(hook_pfd >= 0);
	CHECK_EQ(pc_unlink(e, "p"), 0);
	CHECK_EQ(stats(e).cached_pages, 4); /* in use */
	inode_test_no_forget_recheck = hazard;
	sched_set_hook(unpin_in_window);
	CHECK_EQ(pc_close(e, fd), 0);
	sched_set_hook(NULL);
	inode_test_no_forget_recheck = false;
	if (hazard) {
		CHECKF(stats(e).cached_pages == 4, "the nameless file stays cached");
	} else {
		/* the unpin came while the close looked; the close looked again */
		CHECK_EQ(stats(e).cached_pages, 0);
		CHECK_EQ(store_calls(s, STORE_OP_WRITE), writes); /* never written */
	}
	CHECK_EQ(pc_engine_close(e), 0);
}
#endif

#if PC_SCHED_HOOKS
/* Writes every cached file back (syncfs) between stat's read of the store's
 * attributes and its look at the inode. */
static void sync_in_stat_window(enum sched_event ev, const void *obj, const char *what)
{
	(void)obj;
	if (ev == SP_RACE &&
	    !strcmp(what, "stat: store attributes read, inode not yet looked at")) {
		sched_set_hook(NULL);
		CHECK_EQ(pc_sync(hook_engine), 0);
	}
}

static void stat_during_writeback(bool hazard)
{
	struct pc_engine *e = engine();
	size_t len = 6 * PG + 2596;
	char *w = malloc(len);
	struct stat st;
	int fd = new_file(e, "s", w, len, 23);

	CHECK_EQ(pc_close(e, fd), 0); /* unused, dirty: the store has none of it */
	hook_engine = e;
	inode_test_stat_late_look = hazard;
	sched_set_hook(sync_in_stat_window);
	CHECK_EQ(pc_stat(e, "s", &st), 0);
	sched_set_hook(NULL);
	inode_test_stat_late_look = false;
	if (hazard)
		CHECKF(st.st_size != (off_t)len,
		       "stat showed the store's size from before the sync");
	else
		CHECK_EQ(st.st_size, (off_t)len);
	CHECK_EQ(pc_stat(e, "s", &st), 0);
	CHECK_EQ(st.st_size, (off_t)len);
	CHECK_EQ(pc_engine_close(e), 0);
	free(w);
}
#endif

TEST(stat_during_writeback_of_a_closed_file)
{
#if PC_SCHED_HOOKS
	stat_during_writeback(false);
#else
	test_skip("scheduling points not compiled in");
#endif
}

TEST(stat_during_writeback_of_a_closed_file_hazard)
{
#if PC_SCHED_HOOKS
	stat_during_writeback(true);
#else
	test_skip("scheduling points not compiled in");
#endif
}

TEST(unpin_during_last_close)
{
#if PC_SCHED_HOOKS
	unpin_during_last_close(false);
#else
	test_skip("scheduling points not compiled in");
#endif
}

TEST(unpin_during_last_close_hazard)
{
#if PC_SCHED_HOOKS
	unpin_during_last_close(true);
#else
	test_skip("scheduling points not compiled in");
#endif
}

TEST(unlink_during_last_close)
{
#if PC_SCHED_HOOKS
	unlink_during_last_close(false);
#else
	test_skip("scheduling points not compiled in");
#endif
}

TEST(unlink_during_last_close_hazard)
{
#if PC_SCHED_HOOKS
	unlink_during_last_close(true);
#else
	test_skip("scheduling points not compiled in");
#endif
}

/* A store handle gone stale: on NFS another machine's unlink frees a file
 * this engine caches, and its handle then answers -ESTALE. A local file
 * system never does; a store hook answers -ESTALE to the attribute calls on
 * the cached file's own handle, nothing else. */
static struct store_inode *stale_si;
static int stale_hook(void *arg, enum store_op op, struct store_inode *si, int64_t pos, int64_t len)
{
	(void)arg, (void)pos, (void)len;
	return op == STORE_OP_GETATTR && si == stale_si ? -ESTALE : 0;
}

/* The file's store handle (the inode's) while @fd is open. */
static struct store_inode *handle_of(struct pc_engine *e, int fd)
{
	struct file *f = fdget(&e->fdt, fd);
	struct store_inode *si;

	CHECK(f != NULL);
	si = f->f_inode->i_store;
	fdput(e, f);
	return si;
}

/* @last_close: the stale answer reaches the last iput (the file closed
 * after its handle went stale); else the forget after an unlink of it
 * (closed and cached before; the unlinked name's node says no link is
 * left, and the cached inode's own handle answers -ESTALE, as a dead
 * file's does on NFS). Without the protection (inode_test_estale_named)
 * the dead file's pages stay cached. */
static void stale_handle(bool last_close, bool hazard)
{
	struct pc_engine *e = engine();
	struct store *s = pc_engine_store(e);
	char w[3 * PG];
	int fd = new_file(e, "a", w, sizeof(w), 31);

	CHECK_EQ(pc_fsync(e, fd), 0);
	stale_si = handle_of(e, fd);
	inode_test_estale_named = hazard;
	if (last_close) {
		store_inject_hook(s, stale_hook, NULL);
		CHECK_EQ(pc_close(e, fd), 0);
	} else {
		CHECK_EQ(pc_close(e, fd), 0);
		CHECK_EQ(stats(e).cached_pages, 3); /* unused, cached */
		store_inject_hook(s, stale_hook, NULL);
		CHECK_EQ(pc_unlink(e, "a"), 0);
	}
	store_inject_hook(s, NULL, NULL);
	inode_test_estale_named = false;
	unsigned long pages = stats(e).cached_pages;
	printf("# %s with a stale handle%s: %lu pages stay cached\n",
	       last_close ? "last close" : "unlink", hazard ? " (inode_test_estale_named)" : "",
	       pages);
	CHECK_EQ(pages, hazard ? 3 : 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

/* Dirty pages behind a stale handle stay (a stale handle does not prove
 * that no name is left): writeback fails on them and reports it. */
TEST(stale_handle_dirty_pages_stay)
{
	struct pc_engine *e = engine();
	struct store *s = pc_engine_store(e);
	char w[3 * PG];
	int fd = new_file(e, "a", w, sizeof(w), 32); /* dirty */

	stale_si = handle_of(e, fd);
	store_inject_hook(s, stale_hook, NULL);
	CHECK_EQ(pc_close(e, fd), 0);
	store_inject_hook(s, NULL, NULL);
	CHECK_EQ(stats(e).cached_pages, 3);
	CHECK_EQ(pc_engine_close(e), 0);
	check_host("a", w, sizeof(w));
}

TEST(stale_handle_at_last_close_evicts)
{
	stale_handle(true, false);
}

TEST(stale_handle_at_last_close_hazard)
{
	stale_handle(true, true);
}

TEST(stale_handle_at_forget_evicts)
{
	stale_handle(false, false);
}

TEST(stale_handle_at_forget_hazard)
{
	stale_handle(false, true);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_api_lib.c - the library-level calls and rules of include/pagecache.h:
 *   - two engines in one process: each engine's view calls (pc_munmap,
 *     pc_msync, pc_madvise, pc_mprotect) refuse the other's views with
 *     -EINVAL, and the statistics are per engine (lock sleeps included: a
 *     writer made to sleep on engine A's i_rwsem counts for A only);
 *   - the growing structs: pc_options.size below the first layout (-EINVAL),
 *     larger with an unknown non-zero tail (-E2BIG) or a zero one (fine);
 *     pc_get_stats writes only the bytes its caller asked for;
 *   - pc_version, pc_engine_fault_mechanism, pc_dup, pc_sync;
 *   - pc_flock and pc_ofd_lock: conflicts between open files, sharing by
 *     pc_dup copies, release at the last close, waiters woken, ranges split.
 * Test switches exist in this (test) build: PC_TEST_SWITCHES is defined.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include "api/engine.h"
#include "basic_fixture.h"
#include "fs/file.h"
#include "harness.h"
#include "mm/vma.h"
#include "pagecache.h"

#ifndef PC_TEST_SWITCHES
#error "the tests are built with the test switches (src/kernel/testswitch.h)"
#endif

static struct pc_engine *engine_mech(int mech)
{
	struct pc_options o = engine_options(fresh(), mech);
	struct pc_engine *e = NULL;

	CHECK_EQ(pc_engine_open(&o, &e), 0);
	return e;
}

static void views_of_two_engines(int mech)
{
	struct pc_engine *a = engine_mech(mech), *b = engine_mech(mech);
	char buf[2 * PG];
	int fa = new_file(a, "f", buf, sizeof(buf), 1);
	int fb = new_file(b, "f", buf, sizeof(buf), 2);
	char *va = map_view(a, fa, sizeof(buf), PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	char *vb = map_view(b, fb, sizeof(buf), PROT_READ | PROT_WRITE, MAP_SHARED, 0);

	va[0] = 'a';
	vb[0] = 'b';
	/* Every view call through the other engine: -EINVAL, nothing done. */
	CHECK_EQ(pc_munmap(b, va, sizeof(buf)), -EINVAL);
	CHECK_EQ(pc_munmap(a, vb, sizeof(buf)), -EINVAL);
	CHECK_EQ(pc_msync(b, va, PG, MS_SYNC), -EINVAL);
	CHECK_EQ(pc_madvise(b, va, PG, MADV_DONTNEED), -EINVAL);
	CHECK_EQ(pc_mprotect(b, va, PG, PROT_READ), -EINVAL);
	/* Not mapped at all: Linux's -ENOMEM, as before. */
	CHECK_EQ(pc_msync(a, va + 16 * PG, PG, MS_SYNC), -ENOMEM);
	/* The views are intact and their own engines' calls work. */
	CHECK(va[0] == 'a' && vb[0] == 'b');
	CHECK_EQ(pc_msync(a, va, PG, MS_SYNC), 0);
	CHECK_EQ(pc_mprotect(a, va, PG, PROT_READ), 0);
	CHECK_EQ(pc_madvise(b, vb, PG, MADV_WILLNEED), 0);
	CHECK_EQ(pc_munmap(a, va, sizeof(buf)), 0);
	CHECK_EQ(pc_munmap(b, vb, sizeof(buf)), 0);
	CHECK_EQ(pc_close(a, fa), 0);
	CHECK_EQ(pc_close(b, fb), 0);
	CHECK_EQ(pc_engine_close(a), 0);
	CHECK_EQ(pc_engine_close(b), 0);
}

TEST(views_refuse_another_engines_view)
{
	views_of_two_engines(PC_FAULT_AUTO);
}

TEST(views_refuse_another_engines_view_fallback)
{
	views_of_two_engines(PC_FAULT_FALLBACK);
}

/* mm_test_any_tag: the check off, engine B's calls act on A's view. */
TEST(views_of_any_engine_when_unchecked)
{
	struct pc_engine *a = engine(), *b = engine();
	char buf[PG];
	int fa = new_file(a, "f", buf, sizeof(buf), 1);
	char *va = map_view(a, fa, sizeof(buf), PROT_READ | PROT_WRITE, MAP_SHARED, 0);

	va[0] = 'x';
	mm_test_any_tag = true;
	int ret = pc_msync(b, va, PG, MS_SYNC);
	int ret2 = pc_mprotect(b, va, PG, PROT_READ);
	mm_test_any_tag = false;
	CHECK_EQ(ret, 0);  /* A's page written back through B */
	CHECK_EQ(ret2, 0); /* A's view made read-only through B */
	CHECK_EQ(pc_munmap(a, va, sizeof(buf)), 0);
	CHECK_EQ(pc_close(a, fa), 0);
	CHECK_EQ(pc_engine_close(a), 0);
	CHECK_EQ(pc_engine_close(b), 0);
}

struct writer {
	struct pc_engine *e;
	int fd;
};

static void *write_one(void *arg)
{
	struct writer *w = arg;
	char c = 'w';

	CHECK_EQ(pc_pwrite(w->e, w->fd, &c, 1, 0), 1);
	return NULL;
}

TEST(stats_are_per_engine)
{
	struct pc_engine *a = engine(), *b = engine();
	struct pc_stats sa, sb;
	char buf[4 * PG];
	int fa = new_file(a, "f", buf, sizeof(buf), 1);
	int fb = new_file(b, "g", buf, PG, 2);
	struct writer w = {a, fa};
	struct file *f = fdget(&a->fdt, fa);
	struct inode *inode = f->f_inode;
	pthread_t t;

	/* A writer of engine A sleeps on its i_rwsem, held here. */
	inode_lock(inode);
	CHECK_EQ(pthread_create(&t, NULL, write_one, &w), 0);
	while (!__atomic_load_n(&inode->i_rwsem.wait.nr_waiters, __ATOMIC_ACQUIRE))
		sched_yield();
	inode_unlock(inode);
	CHECK_EQ(pthread_join(t, NULL), 0);
	fdput(a, f);

	CHECK_EQ(pc_get_stats(a, &sa, sizeof(sa)), 0);
	CHECK_EQ(pc_get_stats(b, &sb, sizeof(sb)), 0);
	/* Between calls a thread's lock sink is off: it never outlives a call
	 * (the engine may be closed next). */
	CHECK(current->lock_sink == NULL);
	CHECKF(sa.lock_contended >= 1 && sa.lock_wait_ns > 0, "A: %llu sleeps",
	       (unsigned long long)sa.lock_contended);
	CHECKF(sb.lock_contended == 0 && sb.lock_wait_ns == 0, "B: %llu sleeps",
	       (unsigned long long)sb.lock_contended);
	CHECK_EQ(sa.cached_pages, 4);
	CHECK_EQ(sb.cached_pages, 1);
	CHECK_EQ(pc_close(a, fa), 0);
	CHECK_EQ(pc_close(b, fb), 0);
	CHECK_EQ(pc_engine_close(a), 0);
	CHECK_EQ(pc_engine_close(b), 0);
}

TEST(struct_sizes)
{
	struct {
		struct pc_options o;
		uint64_t future[4];
	} big;
	struct pc_options o = PC_OPTIONS_INIT;
	struct pc_engine *e = NULL;
	struct pc_stats st;
	unsigned char raw[sizeof(struct pc_stats) + 8];

	o.store_dir = fresh();
	o.size = offsetof(struct pc_options, fault_mechanism); /* older than any layout */
	CHECK_EQ(pc_engine_open(&o, &e), -EINVAL);
	o.size = 0; /* a caller that forgot the size */
	CHECK_EQ(pc_engine_open(&o, &e), -EINVAL);
	memset(&big, 0, sizeof(big));
	big.o = o;
	big.o.size = sizeof(big);
	big.future[2] = 1; /* something this library cannot know */
	CHECK_EQ(pc_engine_open(&big.o, &e), -E2BIG);
	big.future[2] = 0; /* a newer binary asking for nothing new */
	CHECK_EQ(pc_engine_open(&big.o, &e), 0);

	/* An older, shorter pc_stats: only its bytes are written. */
	memset(raw, 0xa5, sizeof(raw));
	CHECK_EQ(pc_get_stats(e, (struct pc_stats *)(void *)raw, 3 * sizeof(uint64_t)), 0);
	for (size_t i = 3 * sizeof(uint64_t); i < sizeof(raw); i++)
		CHECK_EQ(raw[i], 0xa5);
	/* A newer, longer one: zeroes past what this library knows. */
	memset(raw, 0xa5, sizeof(raw));
	CHECK_EQ(pc_get_stats(e, (struct pc_stats *)(void *)raw, sizeof(raw)), 0);
	for (size_t i = sizeof(struct pc_stats); i < sizeof(raw); i++)
		CHECK_EQ(raw[i], 0);
	CHECK_EQ(pc_get_stats(e, &st, 0), -EINVAL);
	CHECK_EQ(pc_get_stats(NULL, &st, sizeof(st)), -EINVAL);
	CHECK_EQ(pc_get_stats(e, NULL, sizeof(st)), -EINVAL);
	CHECK_EQ(pc_engine_close(e), 0);
}

TEST(version_and_mechanism)
{
	struct pc_engine *e = engine_mech(PC_FAULT_FALLBACK), *a = engine_mech(PC_FAULT_AUTO);
	int m;

	CHECK(!strcmp(pc_version(), PC_VERSION_STRING));
	CHECK_EQ(PC_VERSION_NUMBER,
		 PC_VERSION_MAJOR * 10000 + PC_VERSION_MINOR * 100 + PC_VERSION_PATCH);
	CHECK_EQ(pc_engine_fault_mechanism(e), PC_FAULT_FALLBACK);
	m = pc_engine_fault_mechanism(a);
	CHECK(m == PC_FAULT_UFFD || m == PC_FAULT_FALLBACK);
	printf("# AUTO gives %s here\n", m == PC_FAULT_UFFD ? "userfaultfd" : "the fallback");
	CHECK_EQ(pc_engine_fault_mechanism(NULL), -EINVAL);
	CHECK_EQ(pc_engine_close(e), 0);
	CHECK_EQ(pc_engine_close(a), 0);
}

TEST(dup_shares_the_open_file)
{
	struct pc_engine *e = engine();
	char buf[PG], got[8];
	int fd = new_file(e, "f", buf, sizeof(buf), 3), fd2;

	CHECK_EQ(pc_lseek(e, fd, 100, SEEK_SET), 100);
	fd2 = pc_dup(e, fd);
	CHECK(fd2 >= 0 && fd2 != fd);
	CHECK_EQ(pc_read(e, fd2, got, 8), 8); /* the shared offset */
	CHECK(!memcmp(got, buf + 100, 8));
	CHECK_EQ(pc_lseek(e, fd, 0, SEEK_CUR), 108);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_read(e, fd2, got, 8), 8); /* still open through the copy */
	CHECK(!memcmp(got, buf + 108, 8));
	CHECK_EQ(pc_dup(e, fd), -EBADF);
	CHECK_EQ(pc_dup(e, -1), -EBADF);
	CHECK_EQ(pc_dup(NULL, fd2), -EINVAL);
	CHECK_EQ(pc_close(e, fd2), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

TEST(sync_writes_everything_back)
{
	struct pc_engine *e = engine();
	struct pc_stats st;
	char buf[8 * PG], buf2[3 * PG];
	int f1 = new_file(e, "a", buf, sizeof(buf), 4);
	int f2 = new_file(e, "b", buf2, sizeof(buf2), 5);

	CHECK_EQ(pc_get_stats(e, &st, sizeof(st)), 0);
	CHECK(st.dirty_pages == 11); /* background writeback is off */
	CHECK_EQ(pc_sync(e), 0);
	CHECK_EQ(pc_get_stats(e, &st, sizeof(st)), 0);
	CHECK_EQ(st.dirty_pages, 0);
	check_host("a", buf, sizeof(buf));
	check_host("b", buf2, sizeof(buf2));
	CHECK_EQ(pc_sync(NULL), -EINVAL);
	CHECK_EQ(pc_close(e, f1), 0);
	CHECK_EQ(pc_close(e, f2), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

struct locker {
	struct pc_engine *e;
	int fd, op;
	int ret;
	int done; /* atomic */
	struct flock fl;
};

static void *flock_thread(void *arg)
{
	struct locker *l = arg;

	l->ret = pc_flock(l->e, l->fd, l->op);
	__atomic_store_n(&l->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *ofd_thread(void *arg)
{
	struct locker *l = arg;

	l->ret = pc_ofd_lock(l->e, l->fd, F_OFD_SETLKW, &l->fl);
	__atomic_store_n(&l->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Waits until @inode's lock context has a sleeper. */
static void wait_for_lock_waiter(struct pc_engine *e, int fd)
{
	struct file *f = fdget(&e->fdt, fd);

	while (!__atomic_load_n(&f->f_inode->i_flctx.wait.nr_waiters, __ATOMIC_ACQUIRE))
		sched_yield();
	fdput(e, f);
}

TEST(flock_between_open_files)
{
	struct pc_engine *e = engine();
	char buf[PG];
	int f1 = new_file(e, "f", buf, sizeof(buf), 6);
	int f2 = pc_open(e, "f", O_RDWR, 0), d1;
	struct locker l = {.e = e, .fd = f2, .op = LOCK_EX};
	pthread_t t;

	CHECK(f2 >= 0);
	CHECK_EQ(pc_flock(e, f1, LOCK_SH), 0);
	CHECK_EQ(pc_flock(e, f2, LOCK_SH | LOCK_NB), 0); /* shared + shared */
	CHECK_EQ(pc_flock(e, f2, LOCK_EX | LOCK_NB), -EWOULDBLOCK);
	CHECK_EQ(pc_flock(e, f2, LOCK_UN), 0);
	CHECK_EQ(pc_flock(e, f1, LOCK_EX), 0); /* conversion */
	CHECK_EQ(pc_flock(e, f2, LOCK_SH | LOCK_NB), -EWOULDBLOCK);
	/* A dup of f1 shares its lock: taking it again converts, no conflict. */
	d1 = pc_dup(e, f1);
	CHECK(d1 >= 0);
	CHECK_EQ(pc_flock(e, d1, LOCK_EX | LOCK_NB), 0);
	/* A waiter on f2 sleeps until the last fd of f1's open file closes. */
	CHECK_EQ(pthread_create(&t, NULL, flock_thread, &l), 0);
	wait_for_lock_waiter(e, f2);
	CHECK_EQ(pc_close(e, f1), 0);
	CHECK(!__atomic_load_n(&l.done, __ATOMIC_ACQUIRE)); /* d1 still holds it */
	CHECK_EQ(pc_close(e, d1), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(l.ret, 0);
	CHECK_EQ(pc_flock(e, f2, 99), -EINVAL);
	CHECK_EQ(pc_flock(e, 77, LOCK_SH), -EBADF);
	CHECK_EQ(pc_close(e, f2), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

static struct flock range(short type, off_t start, off_t len)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = start;
	fl.l_len = len;
	return fl;
}

TEST(ofd_locks_ranges)
{
	struct pc_engine *e = engine();
	char buf[PG];
	int f1 = new_file(e, "f", buf, sizeof(buf), 7);
	int f2 = pc_open(e, "f", O_RDWR, 0), ro = pc_open(e, "f", O_RDONLY, 0);
	struct flock fl;
	struct locker l = {.e = e, .fd = f2};
	pthread_t t;

	CHECK(f2 >= 0 && ro >= 0);
	fl = range(F_WRLCK, 0, 100);
	CHECK_EQ(pc_ofd_lock(e, f1, F_OFD_SETLK, &fl), 0);
	fl = range(F_RDLCK, 50, 10);
	CHECK_EQ(pc_ofd_lock(e, f2, F_OFD_GETLK, &fl), 0);
	CHECK(fl.l_type == F_WRLCK && fl.l_start == 0 && fl.l_len == 100 && fl.l_pid == -1);
	fl = range(F_RDLCK, 50, 10);
	CHECK_EQ(pc_ofd_lock(e, f2, F_OFD_SETLK, &fl), -EAGAIN);
	fl = range(F_WRLCK, 100, 100); /* right after: no conflict */
	CHECK_EQ(pc_ofd_lock(e, f2, F_OFD_SETLK, &fl), 0);
	/* f1 unlocks the middle: its lock splits into [0,39] and [60,99]. */
	fl = range(F_UNLCK, 40, 20);
	CHECK_EQ(pc_ofd_lock(e, f1, F_OFD_SETLK, &fl), 0);
	fl = range(F_WRLCK, 45, 10);
	CHECK_EQ(pc_ofd_lock(e, f2, F_OFD_SETLK, &fl), 0);
	fl = range(F_WRLCK, 39, 1);
	CHECK_EQ(pc_ofd_lock(e, f2, F_OFD_SETLK, &fl), -EAGAIN);
	fl = range(F_WRLCK, 60, 1);
	CHECK_EQ(pc_ofd_lock(e, f2, F_OFD_SETLK, &fl), -EAGAIN);
	fl = range(F_RDLCK, 0, 0); /* to EOF: f2's own locks do not conflict */
	CHECK_EQ(pc_ofd_lock(e, f1, F_OFD_GETLK, &fl), 0);
	CHECK(fl.l_type == F_WRLCK && fl.l_start == 45 && fl.l_len == 10);
	/* A waiter from f2 on f1's [0,39] wakes when f1's open file closes. */
	l.fl = range(F_WRLCK, 10, 5);
	CHECK_EQ(pthread_create(&t, NULL, ofd_thread, &l), 0);
	wait_for_lock_waiter(e, f2);
	CHECK_EQ(pc_close(e, f1), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(l.ret, 0);
	/* fcntl(2)'s errors. */
	fl = range(F_WRLCK, 0, 1);
	CHECK_EQ(pc_ofd_lock(e, ro, F_OFD_SETLK, &fl), -EBADF);
	fl = range(F_RDLCK, 0, 1);
	fl.l_pid = 1;
	CHECK_EQ(pc_ofd_lock(e, ro, F_OFD_SETLK, &fl), -EINVAL);
	fl = range(F_RDLCK, -5, 1);
	CHECK_EQ(pc_ofd_lock(e, ro, F_OFD_SETLK, &fl), -EINVAL);
	fl = range(F_RDLCK, 0, 1);
	CHECK_EQ(pc_ofd_lock(e, ro, F_SETLK, &fl), -EINVAL);
	CHECK_EQ(pc_ofd_lock(e, ro, F_OFD_SETLK, NULL), -EFAULT);
	CHECK_EQ(pc_close(e, f2), 0);
	CHECK_EQ(pc_close(e, ro), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

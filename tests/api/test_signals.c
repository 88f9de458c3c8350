/* SPDX-License-Identifier: MIT */
/*
 * test_signals.c - the signal contract of libpagecache(7):
 *   - pc_pwrite/pc_pread with a bad pointer return -EFAULT (the fault-safe
 *     copy), also for a buffer that goes bad half way (a short count);
 *   - an application handler installed after pc_engine_open that chains
 *     with pc_handle_signal as documented: view faults and the copies'
 *     faults are served, the application's own faults reach its handler.
 *     Without the chaining call, the library's faults land in the
 *     application's handler (the hazard the contract is for);
 *   - a handler installed before pc_engine_open is chained to by the library;
 *   - a thread that blocks SIGSEGV and SIGBUS: bad pointers give -EFAULT (the
 *     copies then run without signals), pc_mmap refuses with -EDEADLK. With
 *     uaccess_test_ignore_blocked the process dies of SIGSEGV instead (the
 *     issue's rc 139).
 * Each case runs in a child process (the handlers are process-wide); the
 * parent checks how it ended. Children end with _exit, never exit().
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic_fixture.h"
#include "harness.h"
#include "mm/uaccess.h"
#include "pagecache.h"

/* A child's checks: failing one ends the child with status 1 and the line. */
#define KCHECK(cond)                                                                        \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "# child: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			_exit(1);                                                           \
		}                                                                           \
	} while (0)

#define KCHECK_EQ(a, b)                                                                       \
	do {                                                                                  \
		long long __a = (long long)(a), __b = (long long)(b);                         \
		if (__a != __b) {                                                             \
			fprintf(stderr, "# child: %s:%d: %s == %s: %lld != %lld\n", __FILE__, \
				__LINE__, #a, #b, __a, __b);                                  \
			_exit(1);                                                             \
		}                                                                             \
	} while (0)

/* Runs @fn(@arg) in a child; returns its wait status. */
static int in_child(void (*fn)(int), int arg)
{
	int status;
	pid_t pid;

	pid = test_fork();
	if (pid == 0) {
		fn(arg);
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	return status;
}

static void expect_clean_exit(void (*fn)(int), int arg)
{
	int status = in_child(fn, arg);

	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
}

/* A page no access may touch: PROT_NONE, and kept mapped so that nothing
 * else (the engine's own mmaps included) can land at its address. */
static char *bad_page(void)
{
	char *p = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	KCHECK(p != MAP_FAILED);
	return p;
}

/* Two pages, the second PROT_NONE: a buffer that goes bad half way. */
static char *half_bad(void)
{
	char *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	KCHECK(p != MAP_FAILED);
	KCHECK(mprotect(p + PG, PG, PROT_NONE) == 0);
	memset(p, 'h', PG);
	return p;
}

static struct pc_engine *child_engine(int mech)
{
	struct pc_options o = engine_options(fresh(), mech);
	struct pc_engine *e = NULL;

	KCHECK(pc_engine_open(&o, &e) == 0);
	return e;
}

/* The copies' contract on @e from this thread: -EFAULT and short counts. */
static void bad_pointers(struct pc_engine *e)
{
	char buf[PG];
	int fd = pc_open(e, "bad", O_RDWR | O_CREAT, 0644);
	char *nothing = bad_page(), *half = half_bad();

	KCHECK(fd >= 0);
	memset(buf, 'g', sizeof(buf));
	KCHECK(pc_pwrite(e, fd, buf, sizeof(buf), 0) == PG);
	KCHECK_EQ(pc_pwrite(e, fd, nothing, 100, 0), -EFAULT);
	KCHECK_EQ(pc_pread(e, fd, nothing, 100, 0), -EFAULT);
	KCHECK_EQ(pc_pwrite(e, fd, half, 2 * PG, PG), PG); /* short: up to the bad page */
	KCHECK_EQ(pc_pread(e, fd, half + PG - 10, 100, 0), 10);
	KCHECK(pc_pread(e, fd, buf, sizeof(buf), PG) == PG);
	KCHECK(buf[0] == 'h' && buf[PG - 1] == 'h');
	KCHECK(pc_close(e, fd) == 0);
}

static void child_bad_pointer(int mech)
{
	struct pc_engine *e = child_engine(mech);

	bad_pointers(e);
	KCHECK(pc_engine_close(e) == 0);
}

TEST(bad_pointer_gives_efault)
{
	expect_clean_exit(child_bad_pointer, PC_FAULT_AUTO);
}

/* ---- an application handler installed after pc_engine_open ---- */

static sigjmp_buf app_jmp;
static volatile sig_atomic_t app_faults, app_chains;

static void app_handler(int sig, siginfo_t *si, void *uc)
{
	if (app_chains && pc_handle_signal(sig, si, uc))
		return; /* the library's: handled */
	app_faults++;
	siglongjmp(app_jmp, 1);
}

static void install_app_handler(bool chain)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = app_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	app_chains = chain;
	KCHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
	KCHECK(sigaction(SIGBUS, &sa, NULL) == 0);
}

/* The application's own fault: reaches its handler. */
static void own_fault_reaches_app(void)
{
	volatile char *p = bad_page();
	int before = app_faults;

	if (!sigsetjmp(app_jmp, 1))
		(void)*p;
	KCHECK(app_faults == before + 1);
}

static void child_chaining_app(int mech)
{
	struct pc_engine *e = child_engine(mech);
	char buf[2 * PG];
	int fd;
	volatile char *v;
	int err;

	install_app_handler(true);
	bad_pointers(e); /* the copies' faults, through the chain */
	KCHECK(app_faults == 0);
	fd = pc_open(e, "view", O_RDWR | O_CREAT, 0644);
	KCHECK(fd >= 0);
	memset(buf, 'v', sizeof(buf));
	KCHECK(pc_pwrite(e, fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf));
	v = pc_mmap(e, fd, sizeof(buf), PROT_READ | PROT_WRITE, MAP_SHARED, 0, &err);
	KCHECK(v != NULL);
	KCHECK(v[0] == 'v' && v[PG] == 'v'); /* view faults, through the chain */
	v[1] = 'w';
	KCHECK(pc_pread(e, fd, buf, 2, 0) == 2 && buf[1] == 'w');
	KCHECK(app_faults == 0);
	own_fault_reaches_app();
	KCHECK(pc_munmap(e, (void *)v, sizeof(buf)) == 0);
	KCHECK(pc_close(e, fd) == 0);
	KCHECK(pc_engine_close(e) == 0);
}

TEST(app_handler_chaining_after_open)
{
	expect_clean_exit(child_chaining_app, PC_FAULT_AUTO);
}

TEST(app_handler_chaining_after_open_fallback)
{
	expect_clean_exit(child_chaining_app, PC_FAULT_FALLBACK);
}

/* Without the pc_handle_signal call the library's faults are the app's. */
static void child_app_without_chaining(int mech)
{
	struct pc_engine *e = child_engine(mech);
	char *nothing = bad_page();
	int fd = pc_open(e, "f", O_RDWR | O_CREAT, 0644);

	KCHECK(fd >= 0);
	install_app_handler(false);
	if (!sigsetjmp(app_jmp, 1))
		(void)pc_pwrite(e, fd, nothing, 100, 0);
	/* The copy's fault went to the application, not to -EFAULT. */
	KCHECK(app_faults == 1);
	_exit(0); /* the engine is left as the jump left it */
}

TEST(app_handler_without_chaining_gets_the_librarys_faults)
{
	expect_clean_exit(child_app_without_chaining, PC_FAULT_AUTO);
}

/* A handler installed before the first pc_engine_open: the library chains. */
static void child_handler_before_open(int mech)
{
	struct pc_engine *e;

	install_app_handler(false);
	e = child_engine(mech);
	own_fault_reaches_app();
	bad_pointers(e); /* the library's own faults stay the library's */
	KCHECK(app_faults == 1);
	KCHECK(pc_engine_close(e) == 0);
}

TEST(handler_installed_before_open_is_chained)
{
	expect_clean_exit(child_handler_before_open, PC_FAULT_AUTO);
}

/* ---- a thread that blocks SIGSEGV and SIGBUS ---- */

static void *blocked_thread(void *arg)
{
	struct pc_engine *e = arg;
	char buf[PG];
	int fd, err;

	/* Its first call: the mask is looked at. */
	bad_pointers(e);
	fd = pc_open(e, "blk", O_RDWR | O_CREAT, 0644);
	KCHECK(fd >= 0);
	memset(buf, 'b', sizeof(buf));
	KCHECK(pc_pwrite(e, fd, buf, sizeof(buf), 0) == PG);
	KCHECK(pc_mmap(e, fd, PG, PROT_READ, MAP_SHARED, 0, &err) == NULL && err == -EDEADLK);
	KCHECK(pc_close(e, fd) == 0);
	return NULL;
}

static void child_blocked(int ignore_blocked)
{
	struct pc_engine *e = child_engine(PC_FAULT_AUTO);
	sigset_t set, old;
	pthread_t t;

	uaccess_test_ignore_blocked = ignore_blocked;
	sigemptyset(&set);
	sigaddset(&set, SIGSEGV);
	sigaddset(&set, SIGBUS);
	KCHECK(pthread_sigmask(SIG_BLOCK, &set, &old) == 0);
	KCHECK(pthread_create(&t, NULL, blocked_thread, e) == 0); /* inherits the mask */
	KCHECK(pthread_sigmask(SIG_SETMASK, &old, NULL) == 0);
	KCHECK(pthread_join(t, NULL) == 0);
	KCHECK(pc_engine_close(e) == 0);
}

TEST(blocked_signals_give_efault_not_death)
{
	expect_clean_exit(child_blocked, 0);
}

/* uaccess_test_ignore_blocked: the copies take signals all the same and the
 * kernel kills the process at the first bad pointer. */
TEST(blocked_signals_unchecked_kill_the_process)
{
	int status = in_child(child_blocked, 1);

	CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "child status 0x%x", status);
}

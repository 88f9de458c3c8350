/* SPDX-License-Identifier: MIT */
/*
 * Tests of the fault-surviving user copies (src/mm/uaccess.c), the iovec
 * iterator (iov_iter.c) and error sequences (errseq.c).
 *
 * uaccess: copies from and to a buffer that runs into a PROT_NONE page
 * after k bytes return exactly n - k with the prefix intact, for several k,
 * in every flavour (nofault and faulting, to and from); bad pointers (NULL,
 * low, non-canonical, kernel) come back wholly uncopied; a SIGBUS (a shared
 * memfd mapping past the memfd's end) is fixed up too; the fault-ins stop
 * at the first bad page and the writeable one changes no byte; the fault
 * hook serves faulting copies but never nofault ones; many threads fault at
 * once. Chaining runs in fresh processes (this executable re-executed with
 * PC_UACCESS_CHILD set, handled before main by a constructor, so that the
 * application's handler is installed before ours): a fault outside our
 * copies reaches the application's SIGSEGV handler, or with none kills the
 * process, while faults inside our copies are still fixed up.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "kernel/task.h"
#include "mm/errseq.h"
#include "mm/iov_iter.h"
#include "mm/page.h"
#include "mm/uaccess.h"

#define PG 4096ul

/* Three pages: the first two read-write, the third PROT_NONE. */
static char *guarded_area(void)
{
	char *p = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED);
	CHECK(mprotect(p + 2 * PG, PG, PROT_NONE) == 0);
	for (size_t i = 0; i < 2 * PG; i++)
		p[i] = (char)(i * 7 + 1);
	return p;
}

static const size_t ks[] = {0, 1, 100, 2048, 4095, 4096, 6000, 8191};

TEST(copy_from_short_exact)
{
	char *area = guarded_area();
	char *dst = malloc(8192);
	const size_t n = 8192;

	CHECK(uaccess_init() == 0);
	for (size_t j = 0; j < sizeof(ks) / sizeof(ks[0]); j++) {
		size_t k = ks[j];
		const char *src = area + 2 * PG - k;

		for (int flavour = 0; flavour < 2; flavour++) {
			memset(dst, 0xee, n);
			size_t left = flavour ? copy_from_user(dst, src, n)
					      : copy_from_user_nofault(dst, src, n);
			CHECKF(left == n - k, "k=%zu flavour=%d left=%zu", k, flavour, left);
			CHECK(memcmp(dst, src, k) == 0);
			CHECK((unsigned char)dst[k] == 0xee);
		}
	}
	free(dst);
	munmap(area, 3 * PG);
}

TEST(copy_to_short_exact)
{
	char *area = guarded_area();
	char *src = malloc(8192);
	const size_t n = 8192;

	CHECK(uaccess_init() == 0);
	for (size_t i = 0; i < n; i++)
		src[i] = (char)(i ^ 0x5a);
	for (size_t j = 0; j < sizeof(ks) / sizeof(ks[0]); j++) {
		size_t k = ks[j];
		char *dst = area + 2 * PG - k;

		for (int flavour = 0; flavour < 2; flavour++) {
			memset(area, 0, 2 * PG);
			size_t left =
			    flavour ? copy_to_user(dst, src, n) : copy_to_user_nofault(dst, src, n);
			CHECKF(left == n - k, "k=%zu flavour=%d left=%zu", k, flavour, left);
			CHECK(memcmp(dst, src, k) == 0);
		}
	}
	free(src);
	munmap(area, 3 * PG);
}

TEST(bad_pointers)
{
	static const uintptr_t bad[] = {
	    0, 1, 4095, 0x8000000000000000ull, 0xffffffff81000000ull, 0x00007ffffffff000ull};
	char buf[256];

	CHECK(uaccess_init() == 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		void *p = (void *)bad[i];

		CHECK_EQ(copy_from_user_nofault(buf, p, sizeof(buf)), sizeof(buf));
		CHECK_EQ(copy_from_user(buf, p, sizeof(buf)), sizeof(buf));
		CHECK_EQ(copy_to_user_nofault(p, buf, sizeof(buf)), sizeof(buf));
		CHECK_EQ(copy_to_user(p, buf, sizeof(buf)), sizeof(buf));
		CHECK_EQ(fault_in_readable(p, 100), 100);
		CHECK_EQ(fault_in_writeable(p, 100), 100);
	}
	CHECK_EQ(copy_from_user(buf, NULL, 0), 0);
	/* A range that wraps around the top of the address space. */
	CHECK_EQ(fault_in_readable((void *)(UINTPTR_MAX - 10), 100), 100);
}

TEST(sigbus_fixed_up)
{
	int fd = memfd_create("uaccess-test", MFD_CLOEXEC);
	char buf[2 * PG];

	CHECK(uaccess_init() == 0);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, PG) == 0);
	char *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	memset(p, 'x', PG);
	/* The second page lies past the memfd's end: SIGBUS. */
	CHECK_EQ(copy_from_user_nofault(buf, p + 100, 2 * PG - 100), PG);
	CHECK(buf[0] == 'x' && buf[PG - 101] == 'x');
	CHECK_EQ(copy_to_user(p + PG - 10, buf, 20), 10);
	CHECK_EQ(fault_in_writeable(p, 2 * PG), PG);
	munmap(p, 2 * PG);
	close(fd);
}

TEST(fault_in)
{
	char *area = guarded_area();

	CHECK(uaccess_init() == 0);
	CHECK_EQ(fault_in_readable(area, 2 * PG), 0);
	CHECK_EQ(fault_in_readable(area + 10, 2 * PG - 10), 0);
	CHECK_EQ(fault_in_readable(area + 10, 3 * PG), PG + 10);
	CHECK_EQ(fault_in_readable(area + 2 * PG - 1, 2), 1);
	CHECK_EQ(fault_in_writeable(area + PG + 5, 2 * PG), PG + 5);
	/* The writeable touch changes no byte. */
	for (size_t i = 0; i < 2 * PG; i++)
		CHECK(area[i] == (char)(i * 7 + 1));
	/* Read-only memory: readable, not writeable. */
	CHECK(mprotect(area, 2 * PG, PROT_READ) == 0);
	CHECK_EQ(fault_in_readable(area, 2 * PG), 0);
	CHECK_EQ(fault_in_writeable(area + 3, 100), 100);
	CHECK_EQ(fault_in_readable(area, 0), 0);
	munmap(area, 3 * PG);
}

/* ---- the fault hook ---- */

static char *hook_area;
static unsigned long hook_calls;

static bool test_hook(int sig, siginfo_t *si, void *uc)
{
	char *a = si->si_addr;

	if (sig != SIGSEGV || a < hook_area || a >= hook_area + 2 * PG)
		return false;
	__atomic_fetch_add(&hook_calls, 1, __ATOMIC_RELAXED);
	return mprotect((void *)((uintptr_t)a & ~(PG - 1)), PG, PROT_READ | PROT_WRITE) == 0;
}

TEST(fault_hook_serves_faulting_copies_only)
{
	char buf[2 * PG];

	CHECK(uaccess_init() == 0);
	hook_area = mmap(NULL, 2 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(hook_area != MAP_FAILED);
	uaccess_set_fault_hook(test_hook);

	/* Faults disabled: fixed up, the hook never runs. */
	CHECK_EQ(copy_from_user_nofault(buf, hook_area, 2 * PG), 2 * PG);
	CHECK_EQ(hook_calls, 0);
	/* Faults enabled: the hook maps the pages in and the copy completes. */
	CHECK_EQ(copy_from_user(buf, hook_area + 100, PG), 0);
	CHECK_EQ(hook_calls, 2);
	CHECK(buf[0] == 0);
	CHECK(mprotect(hook_area, 2 * PG, PROT_NONE) == 0);
	CHECK_EQ(fault_in_writeable(hook_area, 2 * PG), 0);
	CHECK_EQ(hook_calls, 4);
	/* Under pagefault_disable() even the faulting flavours do not call it. */
	CHECK(mprotect(hook_area, 2 * PG, PROT_NONE) == 0);
	pagefault_disable();
	CHECK_EQ(copy_to_user(hook_area, buf, 10), 10);
	pagefault_enable();
	CHECK_EQ(hook_calls, 4);

	uaccess_set_fault_hook(NULL);
	CHECK_EQ(copy_from_user(buf, hook_area, 10), 10);
	munmap(hook_area, 2 * PG);
}

/* ---- many threads faulting at once ---- */

static char *mt_area;

static void *mt_worker(void *arg)
{
	char buf[PG];
	uintptr_t id = (uintptr_t)arg;

	for (int i = 0; i < 2000; i++) {
		size_t k = (size_t)(i * 37 + id * 11) % PG;
		size_t left = (i & 1) ? copy_from_user_nofault(buf, mt_area + 2 * PG - k, PG)
				      : copy_to_user(mt_area + 2 * PG - k, buf, PG);
		if (left != PG - k)
			return (void *)1;
	}
	return NULL;
}

TEST(concurrent_faults)
{
	pthread_t th[8];

	CHECK(uaccess_init() == 0);
	mt_area = guarded_area();
	for (uintptr_t i = 0; i < 8; i++)
		CHECK(pthread_create(&th[i], NULL, mt_worker, (void *)i) == 0);
	for (int i = 0; i < 8; i++) {
		void *r;
		pthread_join(th[i], &r);
		CHECK(r == NULL);
	}
	munmap(mt_area, 3 * PG);
}

/* ---- chaining, in fresh processes ---- */

static void child_app_handler(int sig, siginfo_t *si, void *uc)
{
	static const char msg[] = "# child: the application's handler ran\n";

	(void)!write(1, msg, sizeof(msg) - 1);
	_exit(sig == SIGSEGV ? 42 : 43);
}

/* Runs before main in a re-executed child. */
__attribute__((constructor)) static void uaccess_child(void)
{
	const char *mode = getenv("PC_UACCESS_CHILD");
	char buf[64];

	if (!mode)
		return;
	if (!strcmp(mode, "app")) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = child_app_handler;
		sa.sa_flags = SA_SIGINFO;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGSEGV, &sa, NULL))
			_exit(2);
	}
	if (uaccess_init())
		_exit(3);
	/* Our own copies are still fixed up, not chained. */
	if (copy_from_user(buf, (void *)8, sizeof(buf)) != sizeof(buf))
		_exit(4);
	if (copy_to_user_nofault((void *)8, buf, sizeof(buf)) != sizeof(buf))
		_exit(5);
	/* A fault anywhere else goes to the application's handler. */
	char *volatile bad = (char *)8;
	*bad = 1;
	_exit(0); /* not reached */
}

static int run_child(const char *mode)
{
	pid_t pid = fork();
	int status;

	CHECK(pid >= 0);
	if (pid == 0) {
		char *argv[] = {"test_uaccess", "no_such_test", NULL};

		/* The default action under a sanitizer prints its crash report:
		 * expected, so keep it out of the test log. */
		if (!strcmp(mode, "dfl")) {
			int null = open("/dev/null", O_WRONLY);
			if (null >= 0)
				dup2(null, 2);
		}
		setenv("PC_UACCESS_CHILD", mode, 1);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	return status;
}

TEST(chains_to_application_handler)
{
	int status = run_child("app");

	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 42, "status 0x%x", status);
}

TEST(chains_to_default_action)
{
	int status = run_child("dfl");

	/* Killed by SIGSEGV; or, under a sanitizer (whose handler was there
	 * before ours, so ours chains to it), reported and aborted or exited
	 * with the sanitizer's code. Never a clean exit, nor one of the child's
	 * own codes (2-5: a step before the fault failed). */
	if (WIFSIGNALED(status))
		CHECKF(WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGABRT, "signal %d",
		       WTERMSIG(status));
	else
		CHECKF(WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
			   (WEXITSTATUS(status) < 2 || WEXITSTATUS(status) > 5) &&
			   WEXITSTATUS(status) != 127,
		       "status 0x%x", status);
}

/* ---- iov_iter ---- */

TEST(iov_iter_segments)
{
	char a[10], b[0 + 1], c[20], out[64];
	struct iovec iov[5] = {{a, sizeof(a)}, {b, 0}, {c, sizeof(c)}, {NULL, 0}, {out, 5}};
	struct iov_iter it;
	char src[64];

	CHECK(uaccess_init() == 0);
	for (int i = 0; i < 64; i++)
		src[i] = (char)('A' + i % 26);
	iov_iter_init(&it, iov, 5, 35);
	CHECK_EQ(copy_page_to_iter(src, 12, &it), 12);
	CHECK_EQ(it.count, 23);
	CHECK(memcmp(a, src, 10) == 0 && c[0] == src[10] && c[1] == src[11]);
	/* Revert across the empty segment and back. */
	iov_iter_revert(&it, 5);
	CHECK_EQ(it.count, 28);
	CHECK(it.iov == &iov[0] && it.iov_offset == 7);
	iov_iter_advance(&it, 5);
	CHECK(it.iov == &iov[2] && it.iov_offset == 2);
	/* Atomic copy does not advance. */
	char to[64];
	CHECK_EQ(copy_page_from_iter_atomic(to, 100, &it), 23);
	CHECK_EQ(it.count, 23);
	CHECK(to[0] == c[2] && to[18] == out[0]);
	CHECK_EQ(copy_page_to_iter(src, 64, &it), 23);
	CHECK_EQ(it.count, 0);
	CHECK(memcmp(out, src + 18, 5) == 0);
	iov_iter_revert(&it, 23);
	CHECK_EQ(it.count, 23);
	CHECK(it.iov == &iov[2] && it.iov_offset == 2);
	CHECK_EQ(fault_in_iov_iter_readable(&it, 23), 0);
	CHECK_EQ(fault_in_iov_iter_readable(&it, 30), 7); /* more than the iterator holds */
}

TEST(iov_iter_faults)
{
	char *area = guarded_area();
	char dst[3 * PG], ok[100];
	struct iovec iov[2] = {{ok, sizeof(ok)}, {area + PG, 2 * PG}};
	struct iov_iter it;

	CHECK(uaccess_init() == 0);
	iov_iter_init(&it, iov, 2, sizeof(ok) + 2 * PG);
	/* From the source: stops at the PROT_NONE page. */
	CHECK_EQ(copy_page_from_iter_atomic(dst, sizeof(ok) + 2 * PG, &it), sizeof(ok) + PG);
	CHECK_EQ(fault_in_iov_iter_readable(&it, sizeof(ok) + 2 * PG), PG);
	CHECK_EQ(fault_in_iov_iter_writeable(&it, sizeof(ok) + PG), 0);
	/* To the destination: advances by what was copied. */
	memset(dst, 'q', sizeof(dst));
	CHECK_EQ(copy_page_to_iter(dst, sizeof(ok) + 2 * PG, &it), sizeof(ok) + PG);
	CHECK_EQ(it.count, PG);
	CHECK(area[PG] == 'q' && area[2 * PG - 1] == 'q');
	munmap(area, 3 * PG);
}

/* ---- errseq ---- */

TEST(errseq_semantics)
{
	errseq_t wb = 0, f1, f2, f3;

	f1 = errseq_sample(&wb);
	CHECK_EQ(errseq_check(&wb, f1), 0);
	errseq_set(&wb, -EIO);
	CHECK_EQ(errseq_check(&wb, f1), -EIO);
	/* Sampled before anyone saw it: reported to the new file too. */
	f2 = errseq_sample(&wb);
	CHECK_EQ(errseq_check_and_advance(&wb, &f1), -EIO);
	CHECK_EQ(errseq_check_and_advance(&wb, &f1), 0);
	CHECK_EQ(errseq_check_and_advance(&wb, &f2), -EIO);
	CHECK_EQ(errseq_check_and_advance(&wb, &f2), 0);
	/* Seen: a file opened now does not get it. */
	f3 = errseq_sample(&wb);
	CHECK_EQ(errseq_check(&wb, f3), 0);
	/* The same errno again after it was seen is a new error for everyone. */
	errseq_set(&wb, -EIO);
	CHECK_EQ(errseq_check_and_advance(&wb, &f1), -EIO);
	CHECK_EQ(errseq_check_and_advance(&wb, &f3), -EIO);
	/* Two errors before anyone looks: reported once, the latest errno. */
	errseq_set(&wb, -ENOSPC);
	errseq_set(&wb, -EIO);
	errseq_set(&wb, -ENOSPC);
	CHECK_EQ(errseq_check_and_advance(&wb, &f1), -ENOSPC);
	CHECK_EQ(errseq_check_and_advance(&wb, &f1), 0);
	CHECK_EQ(errseq_check_and_advance(&wb, &f2), -ENOSPC);
	/* Not errors: ignored. */
	errseq_t before = wb;
	errseq_set(&wb, 0);
	errseq_set(&wb, -5000);
	CHECK_EQ(wb, before);
}

/* SPDX-License-Identifier: MIT */
/*
 * Tests of the user-mode return from a handled fault (src/mm/uaccess_sigreturn.c).
 *
 * A probe (assembly below) loads chosen values into every general register
 * but RSP, into xmm0-15 and into the arithmetic flags, stores one byte to a
 * PROT_NONE page that the fault hook makes writable (the SIGSEGV is served,
 * the store re-runs), then saves all of them: each must come back as it
 * went in, with the user-mode return and with rt_sigreturn. The hook writes
 * a marker into xmm7 (as any handler code may clobber vector registers):
 * with the FPU restore switched off (uaccess_test_fast_return_no_fpu) the
 * marker reaches the probe, which shows the user-mode return was taken and
 * that the check sees a missing restore. An application handler installed
 * after ours that chains to it must get control back after the call
 * (uaccess_test_fast_return_any_caller shows the hazard: it does not). And
 * a thread pelted with another signal (whose handler clobbers the vector
 * registers) while it takes served faults keeps its registers: a signal
 * arriving in the middle of the return is delivered below the frame being
 * popped. An application's handler that chains to ours by a tail call
 * (returning to its own frame) gets its signal mask undone
 * (uaccess_test_fast_return_any_frame shows SIGSEGV left blocked). A fault
 * served while the interrupted code runs with RFLAGS.NT
 * set returns through rt_sigreturn (uaccess_test_fast_return_nt shows the
 * hazard in a child: the IRETQ's #GP kills it).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "mm/uaccess.h"

#define PG 4096ul

/* The probe's in/out block; offsets used by the assembly. */
struct probe {
	uint64_t in[15]; /* 0: rax rbx rcx rdx rsi rbp r8 r9 r10 r11 r12 r13 r14 r15, [14] unused */
	uint64_t out[15];  /* 120: the same after the store, [14]: rdi */
	uint8_t xin[256];  /* 240: xmm0-15 */
	uint8_t xout[256]; /* 496 */
	uint64_t addr;	   /* 752: the byte stored to (loaded into rdi) */
	uint64_t flags;	   /* 760: RFLAGS after the store */
};
_Static_assert(__builtin_offsetof(struct probe, xin) == 240, "probe layout");
_Static_assert(__builtin_offsetof(struct probe, addr) == 752, "probe layout");

#define PROBE_FLAGS 0x8d5ul /* CF PF AF ZF SF OF */

void probe_store(struct probe *p);
/* clang-format off */
#define XLD(n) "	movdqu " #n "*16+240(%rdi), %xmm" #n "\n"
#define XST(n) "	movdqu %xmm" #n ", " #n "*16+496(%rdi)\n"
__asm__(".pushsection .text\n"
	".globl probe_store\n"
	".type probe_store,@function\n"
	"probe_store:\n"
	"	pushq %rbx\n	pushq %rbp\n	pushq %r12\n	pushq %r13\n	pushq %r14\n	pushq %r15\n"
	"	pushq %rdi\n"
	XLD(0) XLD(1) XLD(2) XLD(3) XLD(4) XLD(5) XLD(6) XLD(7)
	XLD(8) XLD(9) XLD(10) XLD(11) XLD(12) XLD(13) XLD(14) XLD(15)
	"	movq 0(%rdi), %rax\n	movq 8(%rdi), %rbx\n	movq 16(%rdi), %rcx\n"
	"	movq 24(%rdi), %rdx\n	movq 32(%rdi), %rsi\n	movq 40(%rdi), %rbp\n"
	"	movq 48(%rdi), %r8\n	movq 56(%rdi), %r9\n	movq 64(%rdi), %r10\n"
	"	movq 72(%rdi), %r11\n	movq 80(%rdi), %r12\n	movq 88(%rdi), %r13\n"
	"	movq 96(%rdi), %r14\n	movq 104(%rdi), %r15\n"
	"	pushq $0x8d7\n	popfq\n"
	"	movq 752(%rdi), %rdi\n"
	"	movb $0x5a, (%rdi)\n" /* faults: served by the hook */
	"	pushfq\n"
	"	pushq %rdi\n"
	"	movq 16(%rsp), %rdi\n"
	"	movq %rax, 120(%rdi)\n	movq %rbx, 128(%rdi)\n	movq %rcx, 136(%rdi)\n"
	"	movq %rdx, 144(%rdi)\n	movq %rsi, 152(%rdi)\n	movq %rbp, 160(%rdi)\n"
	"	movq %r8, 168(%rdi)\n	movq %r9, 176(%rdi)\n	movq %r10, 184(%rdi)\n"
	"	movq %r11, 192(%rdi)\n	movq %r12, 200(%rdi)\n	movq %r13, 208(%rdi)\n"
	"	movq %r14, 216(%rdi)\n	movq %r15, 224(%rdi)\n"
	"	popq %rax\n	movq %rax, 232(%rdi)\n"
	"	popq %rax\n	movq %rax, 760(%rdi)\n"
	XST(0) XST(1) XST(2) XST(3) XST(4) XST(5) XST(6) XST(7)
	XST(8) XST(9) XST(10) XST(11) XST(12) XST(13) XST(14) XST(15)
	"	popq %rdi\n"
	"	popq %r15\n	popq %r14\n	popq %r13\n	popq %r12\n	popq %rbp\n	popq %rbx\n"
	"	cld\n"
	"	ret\n"
	".size probe_store,.-probe_store\n"
	".popsection\n");
/* clang-format on */

static char *area; /* hook_pages PROT_NONE pages the hook serves */
static size_t area_pages;
static unsigned long hook_calls;
static const uint64_t marker = 0x6d61726b6572ull;

static bool hook(int sig, siginfo_t *si, void *uc)
{
	char *a = si->si_addr;

	(void)uc;
	if (sig != SIGSEGV || a < area || a >= area + area_pages * PG)
		return false;
	__atomic_fetch_add(&hook_calls, 1, __ATOMIC_RELAXED);
	/* Handler code may use the vector registers: this one does. */
	__asm__ volatile("movq %0, %%xmm7" : : "r"(marker) : "xmm7");
	return mprotect((void *)((uintptr_t)a & ~(PG - 1)), PG, PROT_READ | PROT_WRITE) == 0;
}

static void setup(size_t pages)
{
	CHECK(uaccess_init() == 0);
	area_pages = pages;
	area = mmap(NULL, pages * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(area != MAP_FAILED);
	hook_calls = 0;
	uaccess_set_fault_hook(hook);
}

static void teardown(void)
{
	uaccess_set_fault_hook(NULL);
	munmap(area, area_pages * PG);
	area = NULL;
}

static void fill(struct probe *p, uint64_t seed, char *addr)
{
	memset(p, 0, sizeof(*p));
	for (int i = 0; i < 14; i++)
		p->in[i] = seed * 0x9e3779b97f4a7c15ull + (uint64_t)i * 0x0101010101010101ull;
	for (int i = 0; i < 256; i++)
		p->xin[i] = (uint8_t)(seed * 31 + (uint64_t)i * 7 + 1);
	p->addr = (uint64_t)(uintptr_t)addr;
}

/* Runs the probe on @addr (PROT_NONE): NULL if everything came back,
 * else what differed. */
static const char *probe_once(uint64_t seed, char *addr)
{
	struct probe p;

	fill(&p, seed, addr);
	probe_store(&p);
	if (*addr != 0x5a)
		return "the store did not land";
	for (int i = 0; i < 14; i++)
		if (p.out[i] != p.in[i])
			return "a general register changed";
	if (p.out[14] != p.addr)
		return "rdi changed";
	if ((p.flags & PROBE_FLAGS) != PROBE_FLAGS)
		return "the flags changed";
	if (memcmp(p.xin, p.xout, sizeof(p.xin)))
		return "a vector register changed";
	return NULL;
}

TEST(registers_survive_a_served_fault)
{
	setup(8);
	for (int mode = 0; mode < 2; mode++) {
		uaccess_test_no_fast_return = mode; /* 1: rt_sigreturn, as before */
		for (int i = 0; i < 4; i++) {
			const char *bad =
			    probe_once((uint64_t)(mode * 4 + i), area + (mode * 4 + i) * PG);

			CHECKF(!bad, "%s (mode %d)", bad, mode);
		}
	}
	uaccess_test_no_fast_return = false;
	CHECK_EQ(hook_calls, 8);
	teardown();
}

/* The hazard: without the XRSTOR the hook's xmm7 reaches the interrupted
 * code. Also the proof that the user-mode return is the one taken. */
TEST(no_fpu_restore_shows)
{
	struct probe p;

	if (!uaccess_fast_return_usable())
		test_skip("no user-mode return here (sanitizer build, shadow stack or no XSAVE)");
	setup(2);
	uaccess_test_fast_return_no_fpu = true;
	fill(&p, 1, area);
	probe_store(&p);
	uint64_t x7;
	memcpy(&x7, p.xout + 7 * 16, sizeof(x7));
	CHECK_EQ(x7, marker);
	/* Through rt_sigreturn the kernel restores them whatever the switch. */
	uaccess_test_no_fast_return = true;
	CHECK(probe_once(2, area + PG) == NULL);
	uaccess_test_fast_return_no_fpu = false;
	uaccess_test_no_fast_return = false;
	teardown();
}

/* ---- an application's handler chaining to ours ---- */

static struct sigaction ours;
static unsigned long app_after;

static void app_handler(int sig, siginfo_t *si, void *uc)
{
	ours.sa_sigaction(sig, si, uc); /* the classic chaining */
	__atomic_fetch_add(&app_after, 1, __ATOMIC_RELAXED);
}

static unsigned long chained_fault(char *addr)
{
	struct sigaction app;

	memset(&app, 0, sizeof(app));
	app.sa_sigaction = app_handler;
	app.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&app.sa_mask);
	app_after = 0;
	CHECK(sigaction(SIGSEGV, &app, &ours) == 0);
	CHECK(ours.sa_flags & SA_SIGINFO);
	*(volatile char *)addr = 1;
	/* Back as uaccess_init installed it (its restorer marks its frames). */
	CHECK(uaccess_sigaction_install(SIGSEGV, &ours) == 0);
	return app_after;
}

TEST(chaining_handler_gets_control_back)
{
	setup(2);
	CHECK_EQ(chained_fault(area), 1);
	CHECK_EQ(hook_calls, 1);
	if (uaccess_fast_return_usable()) {
		/* The hazard: the return skips the application's handler
		 * (the frame is the application's too: both checks off). */
		uaccess_test_fast_return_any_caller = true;
		uaccess_test_fast_return_any_frame = true;
		CHECK_EQ(chained_fault(area + PG), 0);
		uaccess_test_fast_return_any_caller = false;
		uaccess_test_fast_return_any_frame = false;
	} else {
		test_skip_part("no user-mode return here: the hazard cannot show");
	}
	teardown();
}

/* ---- another signal in the middle ---- */

static volatile bool pelt_stop;
static pthread_t victim;

static void usr1(int sig)
{
	(void)sig;
	__asm__ volatile("pxor %%xmm0, %%xmm0\n\tpcmpeqd %%xmm1, %%xmm1\n\tmovq %0, %%xmm7"
			 :
			 : "r"(~marker)
			 : "xmm0", "xmm1", "xmm7");
}

static void *pelter(void *arg)
{
	unsigned long *sent = arg;

	while (!__atomic_load_n(&pelt_stop, __ATOMIC_ACQUIRE)) {
		pthread_kill(victim, SIGUSR1);
		__atomic_fetch_add(sent, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

TEST(other_signals_during_the_return)
{
	size_t n = test_scale(4000, 8);
	struct sigaction sa, old;
	unsigned long sent = 0;
	pthread_t t;

	setup(n);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = usr1;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, &old) == 0);
	victim = pthread_self();
	pelt_stop = false;
	CHECK(pthread_create(&t, NULL, pelter, &sent) == 0);
	const char *bad = NULL;
	size_t i;

	/* Until n probes ran and n/2 signals were sent (a page is made
	 * PROT_NONE again for its next probe), at most 64 rounds of n. */
	for (i = 0;
	     !bad && i < 64 * n && (i < n || __atomic_load_n(&sent, __ATOMIC_RELAXED) < n / 2);
	     i++) {
		char *a = area + (i % n) * PG;

		if (i >= n)
			CHECK(mprotect(a, PG, PROT_NONE) == 0);
		bad = probe_once(i, a);
	}
	__atomic_store_n(&pelt_stop, true, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	CHECK(sigaction(SIGUSR1, &old, NULL) == 0);
	CHECKF(!bad, "%s (probe %zu)", bad, i - 1);
	CHECK_EQ(hook_calls, i);
	printf("# %zu served faults, %lu SIGUSR1 sent\n", i, sent);
	teardown();
}

/* ---- RFLAGS.NT ---- */

/*
 * User code may run with RFLAGS.NT set (POPF sets it at any privilege; the
 * kernel's own return to user mode keeps it). In 64-bit mode an IRETQ with
 * NT set raises #GP: the user-mode return must leave such a fault to
 * rt_sigreturn. nt_store() sets NT, stores to @addr (the hook serves the
 * fault), clears NT and returns RFLAGS as it was after the store.
 */
uint64_t nt_store(char *addr);
/* clang-format off */
__asm__(".pushsection .text\n"
	".globl nt_store\n"
	".type nt_store,@function\n"
	"nt_store:\n"
	"	pushfq\n	orq $0x4000, (%rsp)\n	popfq\n"
	"	movb $0x5a, (%rdi)\n" /* faults: served by the hook */
	"	pushfq\n	movq (%rsp), %rax\n	andq $~0x4000, (%rsp)\n	popfq\n"
	"	ret\n"
	".size nt_store,.-nt_store\n"
	".popsection\n");
/* clang-format on */

/* In a child (a #GP in the return kills it): a served fault under NT, with
 * the check of NT off if @no_check. The child's wait status. */
static int nt_fault_in_child(bool no_check)
{
	pid_t pid;
	int status;

	pid = test_fork();
	if (pid == 0) {
		uint64_t flags;

		setup(1);
		uaccess_test_fast_return_nt = no_check;
		flags = nt_store(area);
		_exit(*area == 0x5a && (flags & 0x4000) && hook_calls == 1 ? 0 : 1);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	return status;
}

TEST(nested_task_flag_survives_a_served_fault)
{
	int status;

	setup(1);
	CHECK_EQ(nt_store(area) & 0x4000, 0x4000);
	CHECK_EQ(*area, 0x5a);
	CHECK_EQ(hook_calls, 1);
	teardown();
	status = nt_fault_in_child(false);
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: exited %d / signal %d",
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1,
	       WIFSIGNALED(status) ? WTERMSIG(status) : -1);
	if (!uaccess_fast_return_usable()) {
		test_skip_part("no user-mode return here: the hazard cannot show");
		return;
	}
	/* The hazard: the IRETQ under NT faults (#GP), which no one serves. */
	status = nt_fault_in_child(true);
	CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "child: exited %d / signal %d",
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1,
	       WIFSIGNALED(status) ? WTERMSIG(status) : -1);
}

/* ---- an application's handler chaining to ours by a tail call ---- */

/*
 * Installed after ours without SA_NODEFER (the default: SIGSEGV blocked
 * while it runs), it jumps to ours (as a compiler's sibling call of the
 * classic chaining does): ours then returns straight to the frame's
 * pretcode, but the frame is the application's, and the mask the kernel
 * set for its handler must be undone by rt_sigreturn. With
 * uaccess_test_fast_return_any_frame the user-mode return is taken and
 * SIGSEGV stays blocked in the interrupted code (where the next fault the
 * engine would serve kills the process).
 */
void app_tail(int sig, siginfo_t *si, void *uc);
void (*app_tail_to)(int sig, siginfo_t *si, void *uc); /* ours.sa_sigaction */
/* clang-format off */
__asm__(".pushsection .text\n"
	".globl app_tail\n"
	".type app_tail,@function\n"
	"app_tail:\n"
	"	movq app_tail_to(%rip), %rax\n"
	"	jmp *%rax\n"
	".size app_tail,.-app_tail\n"
	".popsection\n");
/* clang-format on */

/* A served fault through app_tail: is SIGSEGV blocked after it? */
static bool tail_chained_fault_leaves_blocked(char *addr)
{
	struct sigaction app;
	sigset_t cur, segv;

	memset(&app, 0, sizeof(app));
	app.sa_sigaction = app_tail;
	app.sa_flags = SA_SIGINFO;
	sigemptyset(&app.sa_mask);
	CHECK(sigaction(SIGSEGV, &app, &ours) == 0);
	app_tail_to = ours.sa_sigaction;
	*(volatile char *)addr = 1;
	CHECK(uaccess_sigaction_install(SIGSEGV, &ours) == 0);
	CHECK(sigprocmask(SIG_BLOCK, NULL, &cur) == 0);
	sigemptyset(&segv);
	sigaddset(&segv, SIGSEGV);
	CHECK(sigprocmask(SIG_UNBLOCK, &segv, NULL) == 0);
	return sigismember(&cur, SIGSEGV) == 1;
}

TEST(tail_chaining_handler_mask_restored)
{
	setup(2);
	CHECK(!tail_chained_fault_leaves_blocked(area));
	CHECK_EQ(hook_calls, 1);
	if (uaccess_fast_return_usable()) {
		uaccess_test_fast_return_any_frame = true;
		CHECK(tail_chained_fault_leaves_blocked(area + PG));
		uaccess_test_fast_return_any_frame = false;
		CHECK_EQ(hook_calls, 2);
	} else {
		test_skip_part("no user-mode return here: the hazard cannot show");
	}
	teardown();
}

/* SPDX-License-Identifier: MIT */
/* basic_fixture.c - see basic_fixture.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic_fixture.h"
#include "harness.h"
#include "pagecache.h"

static char root[1024];
char dir[1100];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void cleanup(void)
{
	if (root[0])
		nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh empty directory for one test (in dir[]). */
const char *fresh(void)
{
	static int n;

	if (!root[0]) {
		const char *t = getenv("TMPDIR");

		snprintf(root, sizeof(root), "%s/pc-api-basic-XXXXXX", t && *t ? t : "/tmp");
		CHECK(mkdtemp(root) != NULL);
		atexit(cleanup);
	}
	snprintf(dir, sizeof(dir), "%s/%d", root, n++);
	CHECK(mkdir(dir, 0755) == 0);
	return dir;
}

struct pc_options engine_options(const char *d, int mech)
{
	/* Background writeback effectively off: the tests decide when data
	 * goes to the store. */
	struct pc_options o = PC_OPTIONS_INIT;

	o.store_dir = d;
	o.writeback_interval_ms = 600000;
	o.fault_mechanism = mech;
	return o;
}

struct pc_engine *engine_on(const char *d)
{
	struct pc_options o = engine_options(d, PC_FAULT_AUTO);
	const char *pol = getenv("PC_API_POLICY"); /* 0, 1, 2: run every test under a policy */
	struct pc_engine *e = NULL;

	if (pol && *pol)
		o.policy = (enum pc_lock_policy)atoi(pol);
	if (getenv("PC_FAULT") && !strcmp(getenv("PC_FAULT"), "fallback"))
		o.fault_mechanism = PC_FAULT_FALLBACK; /* the mmap tests, second run */

	CHECK_EQ(pc_engine_open(&o, &e), 0);
	return e;
}

struct pc_engine *engine(void)
{
	return engine_on(fresh());
}

static uint8_t pat(unsigned seed, uint64_t off)
{
	uint8_t b = (uint8_t)((off * 131 + seed * 7 + (off >> 12)) ^ (off >> 8));

	return b ? b : 1;
}

void fill(char *buf, size_t len, unsigned seed, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)pat(seed, off + i);
}

/* The file read through @fd equals model[0, len) and its size is len. */
void check_contents(struct pc_engine *e, int fd, const char *model, size_t len)
{
	char *buf = malloc(len + PG);
	struct stat st;
	size_t got = 0;

	CHECK(buf);
	CHECK_EQ(pc_fstat(e, fd, &st), 0);
	CHECK_EQ(st.st_size, len);
	while (got < len + PG) {
		ssize_t r = pc_pread(e, fd, buf + got, len + PG - got, (off_t)got);

		CHECK(r >= 0);
		if (r == 0)
			break;
		got += (size_t)r;
	}
	CHECK_EQ(got, len);
	for (size_t i = 0; i < len; i++)
		CHECKF(buf[i] == model[i], "byte %zu: %d != %d", i, buf[i], model[i]);
	free(buf);
}

/* The host file under the store equals model[0, len). */
void check_host(const char *name, const char *model, size_t len)
{
	char path[1400];
	char *buf = malloc(len + 1);
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && buf);
	CHECK(fstat(fd, &st) == 0);
	CHECK_EQ(st.st_size, len);
	CHECK_EQ(pread(fd, buf, len + 1, 0), len);
	CHECK(memcmp(buf, model, len) == 0);
	close(fd);
	free(buf);
}

void skip(const char *what, long err)
{
	test_skip_part("%s: %s", what, strerror((int)-err));
}

void skip_case(const char *what, long err)
{
	test_skip("%s: %s", what, strerror((int)-err));
}

void expect_child_abort(void (*child)(void *arg), void *arg)
{
	pid_t pid;
	int status;

#if defined(__SANITIZE_THREAD__)
	skip_case("fork under ThreadSanitizer", -EOPNOTSUPP);
#endif
	pid = test_fork();
	if (pid == 0) {
		alarm(60); /* neither validator nor watchdog: SIGALRM */
		child(arg);
		_exit(0); /* completed: the hazard did not show */
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "child: exited %d / signal %d",
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1,
	       WIFSIGNALED(status) ? WTERMSIG(status) : -1);
}

int new_file(struct pc_engine *e, const char *name, char *buf, size_t len, unsigned seed)
{
	int fd = pc_open(e, name, O_RDWR | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0);
	fill(buf, len, seed, 0);
	CHECK_EQ(pc_pwrite(e, fd, buf, len, 0), (ssize_t)len);
	return fd;
}

char *map_view(struct pc_engine *e, int fd, size_t len, int prot, int flags, off_t off)
{
	int err = 1;
	char *p = pc_mmap(e, fd, len, prot, flags, off, &err);

	if (!p && err == -ENODEV) {
		skip_case("userfaultfd", err);
	}
	CHECKF(p != NULL, "pc_mmap: %s", strerror(-err));
	CHECK_EQ(err, 0);
	return p;
}

static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_armed;
static volatile void *bus_addr;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	if (!bus_armed)
		abort();
	bus_addr = si->si_addr;
	siglongjmp(bus_jmp, 1);
}

void install_bus_catcher(void)
{
	struct sigaction sa = {0};

	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

bool touch_bus(volatile char *p)
{
	bool bus = false;

	bus_addr = NULL;
	if (sigsetjmp(bus_jmp, 1) == 0) {
		bus_armed = 1;
		(void)*p;
	} else {
		bus = bus_addr == (volatile void *)p;
	}
	bus_armed = 0;
	return bus;
}

bool store_bus(volatile char *p, char v)
{
	bool bus = false;

	bus_addr = NULL;
	if (sigsetjmp(bus_jmp, 1) == 0) {
		bus_armed = 1;
		*p = v;
	} else {
		bus = bus_addr == (volatile void *)p;
	}
	bus_armed = 0;
	return bus;
}

static sigjmp_buf segv_jmp;
static volatile sig_atomic_t segv_armed;

static void on_sigsegv(int sig)
{
	(void)sig;
	if (!segv_armed)
		abort();
	siglongjmp(segv_jmp, 1);
}

void install_segv_catcher(void)
{
	struct sigaction sa = {0};

	sa.sa_handler = on_sigsegv;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
}

/* One access to @p with the catcher armed: a store of *@v, or a load into
 * *@v. True if it raised SIGSEGV. */
static bool access_segv(volatile char *p, char *v, bool store)
{
	bool segv = false;

	if (sigsetjmp(segv_jmp, 1) == 0) {
		segv_armed = 1;
		if (store)
			*p = *v;
		else
			*v = *p;
	} else {
		segv = true;
	}
	segv_armed = 0;
	return segv;
}

bool store_segv(volatile char *p, char v)
{
	return access_segv(p, &v, true);
}

bool load_segv(volatile char *p, char *out)
{
	return access_segv(p, out, false);
}

unsigned open_fds_in(DIR *d)
{
	unsigned n = 0;

	rewinddir(d);
	while (readdir(d))
		n++;
	return n - 3; /* ".", "..", the DIR's own */
}

unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n;

	CHECK(d != NULL);
	n = open_fds_in(d);
	closedir(d);
	return n;
}

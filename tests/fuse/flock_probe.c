/* SPDX-License-Identifier: MIT */
/*
 * flock_probe.c - flock(2) on a `pagecache mount` as programs see it
 * (tests/fuse/test_flock.sh): `flock_probe CASE DIR` runs one case on
 * DIR/f with processes of its own and exits 0 when it held, 1 with a line
 * on stderr when not.
 *   excl      A holds LOCK_EX; B (its own open) LOCK_EX|LOCK_NB: EWOULDBLOCK,
 *             LOCK_SH|LOCK_NB too; A's LOCK_UN; B granted
 *   shared    A LOCK_SH, B LOCK_SH|LOCK_NB granted, B's LOCK_EX|LOCK_NB not
 *   eintr     A holds LOCK_EX; B's blocking LOCK_EX gets a signal (handler
 *             without SA_RESTART) once it is inside flock(2): EINTR; then C's
 *             LOCK_EX|LOCK_NB still fails while A holds it and is granted
 *             after A's LOCK_UN (nothing of B's left behind)
 *   close     A's close(2) releases A's lock: B granted
 *   fork      a lock is the open file's: a forked child shares it (its own
 *             LOCK_EX|LOCK_NB on the inherited fd is granted), and it lasts
 *             until the last of parent and child closes it
 *   posix     fcntl(2) POSIX locks stay the kernel's and independent of
 *             flock: B's F_SETLK fails while A holds F_WRLCK, and is granted
 *             while A holds a flock LOCK_EX
 * Processes meet over pipes; "inside flock(2)" is read from
 * /proc/PID/syscall (no sleep orders them).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char path[4096];

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static int open_f(void)
{
	int fd = open(path, O_RDWR | O_CREAT, 0644);

	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	return fd;
}

/* flock that must give @want (0 or an errno). */
static void flock_is(int fd, int op, int want, const char *what)
{
	int r = flock(fd, op) ? errno : 0;

	if (r != want)
		die("%s: flock(0x%x) = %s, want %s", what, op, r ? strerror(r) : "0",
		    want ? strerror(want) : "0");
}

/* A child running @fn(@arg); its status is checked by reap(). */
static pid_t spawn(void (*fn)(int), int arg)
{
	pid_t p = fork();

	if (p < 0)
		die("fork: %s", strerror(errno));
	if (!p) {
		fn(arg);
		exit(0);
	}
	return p;
}

static void reap(pid_t p, const char *who)
{
	int st;

	if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st))
		die("%s failed (status 0x%x)", who, st);
}

static void in_other(void (*fn)(int), int arg, const char *who)
{
	reap(spawn(fn, arg), who);
}

static void b_nb_fails(int mode)
{
	int fd = open_f();

	flock_is(fd, mode | LOCK_NB, EWOULDBLOCK, "B while A holds it");
	close(fd);
}

static void b_nb_granted(int mode)
{
	int fd = open_f();

	flock_is(fd, mode | LOCK_NB, 0, "B");
	close(fd);
}

static void case_excl(void)
{
	int a = open_f();

	flock_is(a, LOCK_EX, 0, "A LOCK_EX");
	in_other(b_nb_fails, LOCK_EX, "B's LOCK_EX|LOCK_NB");
	in_other(b_nb_fails, LOCK_SH, "B's LOCK_SH|LOCK_NB");
	flock_is(a, LOCK_UN, 0, "A LOCK_UN");
	in_other(b_nb_granted, LOCK_EX, "B's LOCK_EX|LOCK_NB after A's LOCK_UN");
	close(a);
}

static void b_sh_then_ex(int unused)
{
	int fd = open_f();

	(void)unused;
	flock_is(fd, LOCK_SH | LOCK_NB, 0, "B LOCK_SH|LOCK_NB beside A's SH");
	flock_is(fd, LOCK_EX | LOCK_NB, EWOULDBLOCK, "B's conversion to EX beside A's SH");
	close(fd);
}

static void case_shared(void)
{
	int a = open_f();

	flock_is(a, LOCK_SH, 0, "A LOCK_SH");
	in_other(b_sh_then_ex, 0, "B");
	close(a);
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* B: a blocking LOCK_EX that a signal interrupts. */
static void b_interrupted(int unused)
{
	struct sigaction sa = {.sa_handler = on_usr1}; /* no SA_RESTART */
	int fd = open_f();

	(void)unused;
	sigaction(SIGUSR1, &sa, NULL);
	flock_is(fd, LOCK_EX, EINTR, "B's blocking LOCK_EX, signalled");
	/* B's open file holds nothing: its own LOCK_NB still conflicts */
	flock_is(fd, LOCK_SH | LOCK_NB, EWOULDBLOCK, "B's LOCK_SH|LOCK_NB after EINTR");
	close(fd);
}

/* Waits until @p sleeps inside flock(2) (its /proc syscall line). */
static void wait_in_flock(pid_t p)
{
	char f[64], line[256];

	snprintf(f, sizeof(f), "/proc/%d/syscall", (int)p);
	for (;;) {
		FILE *s = fopen(f, "r");
		long nr = -1;

		if (!s)
			die("%s: %s", f, strerror(errno));
		if (fgets(line, sizeof(line), s))
			nr = strtol(line, NULL, 10);
		fclose(s);
		if (nr == SYS_flock)
			return;
		if (waitpid(p, NULL, WNOHANG) == p)
			die("B ended before it blocked in flock(2)");
		sched_yield();
	}
}

static void case_eintr(void)
{
	int a = open_f();
	pid_t b;

	flock_is(a, LOCK_EX, 0, "A LOCK_EX");
	b = spawn(b_interrupted, 0);
	wait_in_flock(b);
	kill(b, SIGUSR1);
	reap(b, "B (interrupted LOCK_EX)");
	in_other(b_nb_fails, LOCK_EX, "C's LOCK_EX|LOCK_NB while A holds it");
	flock_is(a, LOCK_UN, 0, "A LOCK_UN");
	in_other(b_nb_granted, LOCK_EX, "C's LOCK_EX|LOCK_NB after A's LOCK_UN");
	close(a);
}

static void case_close(void)
{
	int a = open_f();

	flock_is(a, LOCK_EX, 0, "A LOCK_EX");
	in_other(b_nb_fails, LOCK_EX, "B's LOCK_EX|LOCK_NB");
	close(a);
	in_other(b_nb_granted, LOCK_EX, "B's LOCK_EX|LOCK_NB after A's close");
}

static int fork_pipe[2], fork_go[2];

/* The child of the fork: the inherited fd is the same open file. */
static void forked_child(int fd)
{
	char c;

	flock_is(fd, LOCK_EX | LOCK_NB, 0, "the child's LOCK_EX|LOCK_NB on the shared fd");
	if (write(fork_pipe[1], "x", 1) != 1 || read(fork_go[0], &c, 1) != 1)
		die("pipe");
	close(fd); /* the last reference: the lock goes */
}

static void case_fork(void)
{
	int a = open_f();
	pid_t ch;
	char c;

	if (pipe(fork_pipe) || pipe(fork_go))
		die("pipe");
	flock_is(a, LOCK_EX, 0, "A LOCK_EX");
	ch = spawn(forked_child, a);
	if (read(fork_pipe[0], &c, 1) != 1)
		die("pipe");
	close(a); /* the child still holds the open file */
	in_other(b_nb_fails, LOCK_EX, "B's LOCK_EX|LOCK_NB while the child holds the file");
	if (write(fork_go[1], "x", 1) != 1)
		die("pipe");
	reap(ch, "the forked child");
	in_other(b_nb_granted, LOCK_EX, "B's LOCK_EX|LOCK_NB after the last close");
}

static void b_posix(int want)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	int fd = open_f();
	int r = fcntl(fd, F_SETLK, &fl) ? errno : 0;

	if (want ? (r != EAGAIN && r != EACCES) : r != 0)
		die("B's F_SETLK F_WRLCK: %s, want %s", r ? strerror(r) : "0",
		    want ? "EAGAIN" : "0");
	close(fd);
}

static void case_posix(void)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	int a = open_f();

	if (fcntl(a, F_SETLK, &fl))
		die("A's F_SETLK: %s", strerror(errno));
	in_other(b_posix, 1, "B's POSIX lock while A holds one");
	fl.l_type = F_UNLCK;
	if (fcntl(a, F_SETLK, &fl))
		die("A's F_UNLCK: %s", strerror(errno));
	flock_is(a, LOCK_EX, 0, "A LOCK_EX");
	in_other(b_posix, 0, "B's POSIX lock while A holds a flock");
	close(a);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} cases[] = {{"excl", case_excl},   {"shared", case_shared}, {"eintr", case_eintr},
		     {"close", case_close}, {"fork", case_fork},     {"posix", case_posix}};

	if (argc != 3)
		die("usage: flock_probe CASE DIR");
	snprintf(path, sizeof(path), "%s/f", argv[2]);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!strcmp(argv[1], cases[i].name)) {
			cases[i].fn();
			return 0;
		}
	die("unknown case %s", argv[1]);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_api_process.c - the engine as part of a process: a forked child of a
 * process that used engines runs its own (liburcu's fork hooks), and a soft
 * RLIMIT_FSIZE below a cached file's size neither ends the process nor
 * stops the file being cached (the frames memfd grown by a child beyond the
 * limit, mm/frames.c), and closed files written faster than they are
 * written back leave the program its share of the open-file limit
 * (fs/inode_lru.c). Children are forked (skipped under TSan, which cannot
 * start threads in the child of a multi-threaded fork). Helpers in
 * basic_fixture.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic_fixture.h"
#include "fs/inode.h"
#include "harness.h"
#include "mm/frames.h"
#include "pagecache.h"

/* Waits for forked child @pid, which must exit 0 (@what names it). */
static void expect_child_ok(pid_t pid, const char *what)
{
	int status;

	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: exited %d / signal %d (%s)",
	       what, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
	       WIFSIGNALED(status) ? WTERMSIG(status) : -1,
	       WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "-");
}

/* Reads @fd's @len bytes with pc_pread and through a view; 0 if both equal
 * @want, else a reason. */
static const char *read_both_ways(struct pc_engine *e, int fd, const char *want, size_t len)
{
	char *r = malloc(len);
	const char *why = NULL;
	int err = 0;
	char *v;

	if (!r)
		return "malloc";
	if (pc_pread(e, fd, r, len, 0) != (ssize_t)len)
		why = "pc_pread short or failed";
	else if (memcmp(r, want, len))
		why = "pc_pread: other bytes";
	free(r);
	if (why)
		return why;
	v = pc_mmap(e, fd, len, PROT_READ, MAP_SHARED, 0, &err);
	if (!v)
		return err == -ENODEV ? NULL : "pc_mmap";
	if (memcmp(v, want, len))
		why = "view: other bytes";
	pc_munmap(e, v, len);
	return why;
}

/* The end of a forked child that has @e and @fd, a file that should hold
 * @w: reads it both ways, closes, exits 0 if all went well. */
__attribute__((noreturn)) static void child_read_and_exit(struct pc_engine *e, int fd,
							  const char *w, size_t len)
{
	const char *why = read_both_ways(e, fd, w, len);

	if (why) {
		fprintf(stderr, "# child: %s\n", why);
		_exit(1);
	}
	_exit(pc_close(e, fd) || pc_engine_close(e) ? 4 : 0);
}

/* A soft RLIMIT_FSIZE below a file's size: the engine's frames (a memfd of
 * the process) grow past it all the same, as the kernel's page cache has no
 * such limit - where the memfd's growth raised SIGXFSZ, whose default
 * action ends the process (a forked child shows which). */
TEST(rlimit_fsize_below_cached_file)
{
	enum { LEN = 8 << 20 };
	char *w = malloc(LEN), host[1200];
	struct pc_engine *e;
	int fd;
	pid_t pid;

#if defined(__SANITIZE_THREAD__)
	skip_case("fork under ThreadSanitizer", -EOPNOTSUPP);
#endif
	/* the file written on the host: no engine in this process to fork */
	snprintf(host, sizeof(host), "%s/big", fresh());
	fill(w, LEN, 31, 0);
	fd = open(host, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(pwrite(fd, w, LEN, 0), LEN);
	CHECK_EQ(close(fd), 0);
	pid = test_fork();
	if (pid == 0) {
		struct rlimit rl = {1 << 20, RLIM_INFINITY};

		alarm(60);
		signal(SIGXFSZ, SIG_DFL);
		if (setrlimit(RLIMIT_FSIZE, &rl))
			_exit(3);
		e = engine_on(dir);
		fd = pc_open(e, "big", O_RDONLY, 0);
		if (fd < 0) {
			fprintf(stderr, "# child: pc_open: %s\n", strerror(-fd));
			_exit(2);
		}
		child_read_and_exit(e, fd, w, LEN);
	}
	expect_child_ok(pid, "child under a 1 MiB RLIMIT_FSIZE");
	free(w);
}

/* A forked child of a process that used engines opens, uses and closes
 * one of its own: liburcu's call_rcu worker is not in the child, whose
 * engine close waited for it for good (rcu_barrier) until the engine
 * registered liburcu's fork hooks (mm/page.c). */
TEST(engine_in_forked_child)
{
	enum { LEN = 64 * PG };
	struct pc_engine *e = engine();
	char *w = malloc(LEN);
	int fd;
	pid_t pid;

#if defined(__SANITIZE_THREAD__)
	skip_case("fork under ThreadSanitizer", -EOPNOTSUPP);
#endif
	fd = new_file(e, "parent", w, LEN, 41);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0); /* its RCU callbacks ran on the worker */
	pid = test_fork();
	if (pid == 0) {
		alarm(60);
		e = engine_on(dir);
		fd = new_file(e, "child", w, LEN, 43);
		child_read_and_exit(e, fd, w, LEN);
	}
	expect_child_ok(pid, "child's engine");
	free(w);
}

/* The growth by a child (what a finite limit takes), in this process (not
 * under TSan, which takes the child for a fork: frames.c). */
TEST(frames_grown_by_child)
{
	enum { LEN = 8 << 20 };
	struct pc_engine *e;
	const char *why;
	char *w;
	int fd;

#if defined(__SANITIZE_THREAD__)
	skip_case("the growth child under ThreadSanitizer", -EOPNOTSUPP);
#endif
	e = engine();
	w = malloc(LEN);
	frames_test_grow_in_child = true;
	fd = new_file(e, "grown", w, LEN, 37);
	why = read_both_ways(e, fd, w, LEN);
	CHECKF(!why, "%s", why);
	frames_test_grow_in_child = false;
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	free(w);
}

/*
 * With the soft open-file limit at 1024 (a shell's default), 1500 files
 * created, written and closed with no fsync, faster than the writeback
 * thread cleans them: every open succeeds, and the program keeps half of
 * its fds for its own opens - the unused inodes over the engine's budget
 * are written back and evicted at the last close (fs/inode_lru.c). Every
 * file reads back what was written. @hazard: inode_test_keep_dirty_unused,
 * the dirty closed files keep their fds: the engine's opens or the
 * program's own run out.
 */
static struct rlimit saved_nofile;

static void restore_nofile(void *arg)
{
	setrlimit(RLIMIT_NOFILE, &saved_nofile);
}

static void closed_dirty_files(bool hazard)
{
	enum { NFILES = 1500, OWN = 400 };
	int own[OWN], nown = 0, failed = 0, f;
	char name[32], w[PG], r[PG];
	struct pc_engine *e;
	unsigned most = 0, n;
	struct rlimit rl;
	DIR *fds;

	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &saved_nofile), 0);
	if (saved_nofile.rlim_max < 1024)
		test_skip("hard open-file limit %llu", (unsigned long long)saved_nofile.rlim_max);
	fds = opendir("/proc/self/fd"); /* counts with no fd left */
	CHECK(fds != NULL);
	rl = saved_nofile;
	rl.rlim_cur = 1024;
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
	test_on_abort(restore_nofile, NULL);
	e = engine();
	inode_test_keep_dirty_unused = hazard;
	for (f = 0; f < NFILES && !failed; f++) {
		int fd;

		snprintf(name, sizeof(name), "d%d", f);
		fd = pc_open(e, name, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (fd < 0) {
			CHECK_EQ(fd, -EMFILE);
			failed = f + 1;
			break;
		}
		fill(w, PG, 3000 + (unsigned)f, 0);
		CHECK_EQ(pc_pwrite(e, fd, w, PG, 0), PG);
		CHECK_EQ(pc_close(e, fd), 0);
		n = open_fds_in(fds);
		if (n > most)
			most = n;
	}
	/* the program's own opens */
	while (nown < OWN && (own[nown] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		nown++;
	printf("# soft open-file limit 1024, %d files written and closed%s: at most %u fds open, "
	       "%d of the program's own %d opens then%s\n",
	       failed ? failed - 1 : NFILES, failed ? " (then pc_open -EMFILE)" : "", most, nown,
	       OWN, hazard ? " (dirty closed files keep their fds)" : "");
	for (int k = 0; k < nown; k++)
		close(own[k]);
	inode_test_keep_dirty_unused = false;
	if (hazard) {
		CHECK(failed || nown < OWN);
	} else {
		CHECK_EQ(failed, 0);
		CHECK_EQ(nown, OWN);
		for (f = 0; f < NFILES; f += 37) {
			int fd;

			snprintf(name, sizeof(name), "d%d", f);
			fd = pc_open(e, name, O_RDONLY, 0);
			CHECK(fd >= 0);
			fill(w, PG, 3000 + (unsigned)f, 0);
			CHECK_EQ(pc_pread(e, fd, r, PG, 0), PG);
			CHECKF(!memcmp(r, w, PG), "%s", name);
			CHECK_EQ(pc_close(e, fd), 0);
		}
	}
	CHECK_EQ(pc_engine_close(e), 0);
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &saved_nofile), 0);
	closedir(fds);
}

TEST(closed_dirty_files_leave_fds)
{
	closed_dirty_files(false);
}

TEST(closed_dirty_files_keep_fds_hazard)
{
	closed_dirty_files(true);
}

static unsigned long vm_size_bytes(void)
{
	char line[256];
	unsigned long kb = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %lu kB", &kb) == 1)
			break;
	fclose(f);
	return kb << 10;
}

/*
 * A finite RLIMIT_AS (address space), 2 GiB above what the process maps:
 * 1000 files created, written and closed, then the program maps 512 MiB of
 * its own. The frames' views reserve address space, which the kernel's
 * page cache does not use: each file's first view took 256 MiB, and the 7th
 * pc_open got -ENOMEM (debug build). Now a new file's view is sized from the limit, and
 * unused inodes over half of it are evicted (fs/inode_lru.c). In a forked
 * child; not under the sanitizers, whose shadow memory needs more address
 * space than any such limit leaves.
 */
TEST(rlimit_as_leaves_room)
{
	enum { NFILES = 1000 };
	pid_t pid;

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
	skip_case("RLIMIT_AS under a sanitizer", -EOPNOTSUPP);
#endif
	fresh();
	pid = test_fork();
	if (pid == 0) {
		unsigned long mapped = vm_size_bytes();
		struct rlimit rl = {mapped + (2ul << 30), RLIM_INFINITY};
		char name[32], w[PG], r[PG];
		struct pc_engine *e;
		void *own;
		int f, fd;

		alarm(60);
		if (!mapped || setrlimit(RLIMIT_AS, &rl))
			_exit(9);
		e = engine_on(dir);
		for (f = 0; f < NFILES; f++) {
			snprintf(name, sizeof(name), "a%d", f);
			fd = pc_open(e, name, O_RDWR | O_CREAT | O_TRUNC, 0644);
			if (fd < 0) {
				fprintf(stderr, "# child: pc_open of file %d: %s\n", f,
					strerror(-fd));
				_exit(1);
			}
			fill(w, PG, 5000 + (unsigned)f, 0);
			if (pc_pwrite(e, fd, w, PG, 0) != PG || pc_close(e, fd))
				_exit(2);
		}
		own = mmap(NULL, 512ul << 20, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (own == MAP_FAILED) {
			fprintf(stderr, "# child: the program's own 512 MiB: %s\n",
				strerror(errno));
			_exit(3);
		}
		munmap(own, 512ul << 20);
		for (f = 0; f < NFILES; f += 41) {
			snprintf(name, sizeof(name), "a%d", f);
			fd = pc_open(e, name, O_RDONLY, 0);
			fill(w, PG, 5000 + (unsigned)f, 0);
			if (fd < 0 || pc_pread(e, fd, r, PG, 0) != PG || memcmp(r, w, PG) ||
			    pc_close(e, fd))
				_exit(4);
		}
		_exit(pc_engine_close(e) ? 5 : 0);
	}
	expect_child_ok(pid, "child under RLIMIT_AS");
}

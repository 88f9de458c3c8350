/* SPDX-License-Identifier: MIT */
/*
 * stress.c - `pagecache stress` and `pagecache bench`: both run helper
 * programs: those of the build tree that holds this executable
 * (<build>/tests, <build>/bench), or, for an installed executable, the same
 * paths under <libexecdir>/pagecache (PC_HELPERS_REL, from the bindir: see
 * tools/meson.build).
 *
 * stress: rounds until the duration is spent; each round runs the hazard
 * tests (H1-H6, mmap faults), the model-based test on the dir and the vol
 * store, vol crash points, and - given an IMAGE - mounts it (`pagecache
 * mount --mmap` as a child), runs the fsx-style exerciser on the mount with
 * and without mmap, unmounts it and fscks the image. Every run gets a fresh
 * seed (PC_SEED) and PC_QUICK=1 (short runs, more seeds); failing runs print
 * their replay command. A progress bar on stderr, a final table on stdout;
 * exit 1 if any run failed.
 *
 * Locks: none (single-threaded, child processes).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "pagecache.h"

struct prog {
	const char *name; /* shown in the table */
	const char *rel;  /* path relative to the build directory */
	const char *env;  /* extra NAME=VALUE, or NULL */
	bool on_mount;	  /* takes the mount point as its argument */
	const char *arg;  /* extra argument */
	unsigned runs, fails;
	uint64_t fail_seed;
};

#ifndef PC_HELPERS_REL
#define PC_HELPERS_REL "../libexec/pagecache"
#endif

/* The directory the helper programs' paths (tests/..., bench/...) are
 * relative to: the build tree when this executable is in one (a
 * build.ninja beside <build>/tools), else the installed helpers. */
static const char *helper_root(void)
{
	static char root[PATH_MAX + 64];
	char probe[PATH_MAX + 64];

	if (root[0])
		return root;
	snprintf(probe, sizeof(probe), "%s/../build.ninja", cli_exe_dir());
	if (!access(probe, F_OK))
		snprintf(root, sizeof(root), "%s/..", cli_exe_dir());
	else if (PC_HELPERS_REL[0] == '/')
		snprintf(root, sizeof(root), "%s", PC_HELPERS_REL);
	else
		snprintf(root, sizeof(root), "%s/%s", cli_exe_dir(), PC_HELPERS_REL);
	return root;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t fresh_seed(void)
{
	uint64_t s = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, &s, sizeof(s)) != (ssize_t)sizeof(s))
			s = 0;
		close(fd);
	}
	return s ? s : (uint64_t)time(NULL) * 2654435761u;
}

/* Runs @path with PC_SEED=@seed (output to @log); returns the exit status. */
static int run_prog(const char *path, const struct prog *p, const char *mnt, uint64_t seed,
		    const char *log)
{
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		char s[32];
		snprintf(s, sizeof(s), "0x%" PRIx64, seed);
		setenv("PC_SEED", s, 1);
		setenv("PC_QUICK", "1", 0); /* short runs: more seeds per duration */
		if (p->env) {		    /* "NAME=VALUE NAME=VALUE" */
			char *e = strdup(p->env), *save = NULL;
			for (char *t = strtok_r(e, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
				char *eq = strchr(t, '=');
				if (eq) {
					*eq = '\0';
					setenv(t, eq + 1, 1);
				}
			}
		}
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (p->on_mount)
			execl(path, path, mnt, p->arg, (char *)NULL);
		else
			execl(path, path, (char *)NULL);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static bool is_fuse_mounted(const char *mnt)
{
	struct statfs sf;
	return statfs(mnt, &sf) == 0 && sf.f_type == 0x65735546; /* FUSE_SUPER_MAGIC */
}

static pid_t start_mount(const char *image, const char *mnt, const char *log)
{
	char exe[PATH_MAX];
	pid_t pid;

	snprintf(exe, sizeof(exe), "%s/pagecache", cli_exe_dir());
	pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(exe, exe, "mount", "--mmap", "--stats-interval", "0", image, mnt,
		      (char *)NULL);
		_exit(127);
	}
	/* wait (bounded) until the mount is there, or the child gave up */
	for (int i = 0; pid > 0 && i < 1000; i++) {
		if (is_fuse_mounted(mnt))
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		usleep(10000);
	}
	return -1;
}

static int stop_mount(pid_t pid)
{
	int st;
	kill(pid, SIGTERM);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void progress(double done, double total, unsigned runs, unsigned fails)
{
	int w = 40, k = total > 0 ? (int)(w * (done / total > 1 ? 1 : done / total)) : w;
	fprintf(stderr, "\r[%.*s%*s] %3d%%  runs %u  failures %u", k,
		"########################################", w - k, "",
		(int)(100 * (done / total > 1 ? 1 : done / total)), runs, fails);
}

int cmd_stress(int argc, char **argv)
{
	struct prog progs[] = {
	    {"H1 punch/truncate vs fill", "tests/api/test_h1", NULL, false, NULL, 0, 0, 0},
	    {"H2 write from own mapping", "tests/api/test_mmap_h2", NULL, false, NULL, 0, 0, 0},
	    {"H3 DIO write vs cache", "tests/api/test_dio_h3", NULL, false, NULL, 0, 0, 0},
	    {"H4 DIO from own mapping", "tests/api/test_dio_h4", NULL, false, NULL, 0, 0, 0},
	    {"H5 DIO ABBA mappings", "tests/api/test_dio_h5", NULL, false, NULL, 0, 0, 0},
	    {"H6 fault restart signal", "tests/api/test_dio_h6", NULL, false, NULL, 0, 0, 0},
	    {"mmap faults", "tests/api/test_mmap", NULL, false, NULL, 0, 0, 0},
	    {"model, dir store (20k ops)", "tests/api/test_model", "PC_MODEL_OPS=20000", false,
	     NULL, 0, 0, 0},
	    {"model, vol store (20k ops)", "tests/api/test_model",
	     "PC_MODEL_OPS=20000 PC_MODEL_STORE=vol", false, NULL, 0, 0, 0},
	    {"vol crash points (50)", "tests/api/test_vol_crash", "PC_CRASH_POINTS=50", false, NULL,
	     0, 0, 0},
	    {"fsx on mount", "tests/fuse/fsx", "FSX_OPS=3000", true, NULL, 0, 0, 0},
	    {"fsx on mount, mmap", "tests/fuse/fsx", "FSX_OPS=3000", true, "--mmap", 0, 0, 0},
	};
	const int nprogs = (int)(sizeof(progs) / sizeof(progs[0]));
	const char *image = NULL;
	long duration = 60;
	char build[PATH_MAX + 64], logdir[] = "/tmp/pagecache-stress-XXXXXX", mnt[PATH_MAX + 8];
	unsigned runs = 0, fails = 0, rounds = 0;
	int fsck_bad = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf(
			    "usage: pagecache stress [IMAGE] [--duration D]\n"
			    "Runs the hazard tests (H1-H6, mmap faults), the model-based test "
			    "(dir\n"
			    "and vol stores) and vol crash points in rounds for D (e.g. 90s, 10m, "
			    "1h; default 60s), each run with a\n"
			    "fresh seed. Given IMAGE, each round also mounts it and runs the fsx\n"
			    "exerciser on the mount with and without mmap, then fscks it.\n"
			    "Failing runs print their replay command (PC_SEED=...).\n"
			    "Exit: 0 all passed, 1 any failure, 2 bad usage.\n");
			return 0;
		} else if (!strcmp(argv[i], "--duration") && i + 1 < argc) {
			duration = cli_parse_duration(argv[++i]);
			if (duration < 0) {
				fprintf(stderr, "pagecache stress: bad duration '%s'\n", argv[i]);
				return 2;
			}
		} else if (argv[i][0] == '-' || image) {
			fprintf(stderr, "pagecache stress: bad argument '%s'\n", argv[i]);
			return 2;
		} else {
			image = argv[i];
		}
	}
	snprintf(build, sizeof(build), "%s", helper_root());
	if (!mkdtemp(logdir)) {
		perror("pagecache stress: mkdtemp");
		return 1;
	}
	snprintf(mnt, sizeof(mnt), "%s/mnt", logdir);
	mkdir(mnt, 0755);
	for (int i = 0; i < nprogs; i++) {
		char path[PATH_MAX * 2];
		snprintf(path, sizeof(path), "%s/%s", build, progs[i].rel);
		if (access(path, X_OK)) {
			fprintf(stderr, "pagecache stress: %s not built (%s)\n", progs[i].rel,
				path);
			return 1;
		}
	}
	double t0 = now_s();
	do {
		pid_t mpid = -1;
		rounds++;
		if (image) {
			char mlog[PATH_MAX];
			snprintf(mlog, sizeof(mlog), "%s/mount.log", logdir);
			mpid = start_mount(image, mnt, mlog);
			if (mpid < 0) {
				fprintf(stderr, "\npagecache stress: cannot mount %s (see %s)\n",
					image, mlog);
				fails++;
				break;
			}
		}
		for (int i = 0; i < nprogs; i++) {
			char path[PATH_MAX * 2], log[PATH_MAX + 64];
			if (progs[i].on_mount && mpid < 0)
				continue;
			uint64_t seed = fresh_seed();
			snprintf(path, sizeof(path), "%s/%s", build, progs[i].rel);
			snprintf(log, sizeof(log), "%s/run-%u.log", logdir, runs);
			int rc = run_prog(path, &progs[i], mnt, seed, log);
			progs[i].runs++;
			runs++;
			if (rc != 0) {
				progs[i].fails++;
				progs[i].fail_seed = seed;
				fails++;
				fprintf(stderr,
					"\nFAIL %s (exit %d), log %s\n  replay: PC_SEED=0x%" PRIx64
					"%s%s %s%s%s%s%s\n",
					progs[i].name, rc, log, seed, progs[i].env ? " " : "",
					progs[i].env ? progs[i].env : "", path,
					progs[i].on_mount ? " " : "", progs[i].on_mount ? mnt : "",
					progs[i].arg ? " " : "", progs[i].arg ? progs[i].arg : "");
			} else {
				unlink(log);
			}
			progress(now_s() - t0, (double)duration, runs, fails);
			if (now_s() - t0 >= (double)duration)
				break;
		}
		if (mpid > 0) {
			if (stop_mount(mpid) != 0) {
				fprintf(stderr, "\npagecache stress: unmount reported an error\n");
				fails++;
			}
			int r = pc_vol_fsck(image, 0, stderr);
			if (r != PC_FSCK_CLEAN) {
				fprintf(stderr, "\npagecache stress: fsck of %s: %d\n", image, r);
				fsck_bad++;
				fails++;
			}
		}
	} while (now_s() - t0 < (double)duration);
	progress((double)duration, (double)duration, runs, fails);
	fprintf(stderr, "\n");
	printf("%-30s %6s %6s  %s\n", "scenario", "runs", "fails", "last failing seed");
	for (int i = 0; i < nprogs; i++) {
		if (!progs[i].runs)
			continue;
		printf("%-30s %6u %6u  ", progs[i].name, progs[i].runs, progs[i].fails);
		if (progs[i].fails)
			printf("PC_SEED=0x%" PRIx64 "\n", progs[i].fail_seed);
		else
			printf("-\n");
	}
	if (image)
		printf("%-30s %6u %6d\n", "fsck after unmount", rounds, fsck_bad);
	printf("%u runs in %u rounds, %u failures, %.0f s\n", runs, rounds, fails, now_s() - t0);
	if (fails)
		printf("logs of the failing runs: %s\n", logdir);
	rmdir(mnt);
	if (!fails)
		rmdir(logdir);
	return fails ? 1 : 0;
}

int cmd_bench(int argc, char **argv)
{
	static const char *all[] = {"bench_read",  "bench_fault", "bench_dio",
				    "bench_mixed", "bench_punch", "bench_scale",
				    "bench_mem",   "bench_vol",	  "bench_views"};
	char path[PATH_MAX * 2];
	const char *names[16];
	char *extra[8];
	int nn = 0, ne = 0, failed = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf(
			    "usage: pagecache bench [--smoke] [--reps N] [NAME...]\n"
			    "Runs the benchmark programs of this build (bench_read, bench_fault,\n"
			    "bench_dio, bench_mixed, bench_punch, bench_scale, bench_mem,\n"
			    "bench_vol, bench_views; all by default), each comparing the engine\n"
			    "with the kernel; they print one\n"
			    "record per line. Use a release build for figures.\n"
			    "Exit: 0 all ran, 1 one failed, 2 bad usage.\n");
			return 0;
		} else if (!strcmp(argv[i], "--smoke") && ne < 7) {
			extra[ne++] = argv[i];
		} else if (!strcmp(argv[i], "--reps") && i + 1 < argc && ne < 6) {
			extra[ne++] = argv[i];
			extra[ne++] = argv[++i];
		} else if (argv[i][0] != '-' && nn < 16) {
			names[nn++] = argv[i];
		} else {
			fprintf(stderr, "pagecache bench: bad argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (!nn)
		for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
			names[nn++] = all[i];
	for (int i = 0; i < nn; i++) {
		snprintf(path, sizeof(path), "%s/bench/%s", helper_root(), names[i]);
		if (access(path, X_OK)) {
			fprintf(stderr, "pagecache bench: %s is not built here (%s)\n", names[i],
				path);
			return 1;
		}
		char *av[12] = {path};
		for (int k = 0; k < ne; k++)
			av[1 + k] = extra[k];
		av[1 + ne] = NULL;
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			execv(path, av);
			_exit(127);
		}
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "pagecache bench: %s failed\n", names[i]);
			failed = 1;
		}
	}
	return failed;
}

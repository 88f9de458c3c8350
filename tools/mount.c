/* SPDX-License-Identifier: MIT */
/*
 * mount.c - `pagecache mount`: opens an engine on a vol image (or, with
 * --dir, a host directory), mounts it with libfuse 3's low-level API and
 * serves it with the multi-threaded session loop in the foreground. A
 * thread prints a one-line statistics summary every few seconds. SIGINT,
 * SIGTERM and SIGHUP end the loop (their dispositions are reset first: a
 * background job of a script starts with SIGINT ignored); the file system
 * is then unmounted and pc_engine_close writes everything back before the
 * process exits. Options are parsed strictly, and a mount point that is
 * not a directory, or that holds the image (or overlaps the served
 * directory), is refused.
 *
 * Locks: stats_lock (pthread, leaf) only for the stats thread's sleep.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fuse_nodes.h"
#include "fuse_server.h"
#ifdef PC_TEST_SWITCHES
/* pagecache-test, the CLI of the tests (tools/meson.build): the test
 * switches of the library, set from the environment */
#include "api/engine_internal.h"
#include "cluster/lock_module.h"
#include "fs/file.h"
#include "store/vol/vstore.h"
#endif

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stats_cond = PTHREAD_COND_INITIALIZER;
static bool stats_stop;
static unsigned stats_interval = 5;

int pcfs_stats_text(char *buf, size_t size)
{
	struct pc_stats s;

	pc_get_stats(pcfs.e, &s, sizeof(s));
	return snprintf(
	    buf, size,
	    "cached_pages %" PRIu64 "\ndirty_pages %" PRIu64 "\nwriteback_pages %" PRIu64
	    "\nhits %" PRIu64 "\nmisses %" PRIu64 "\nreadahead_pages %" PRIu64
	    "\nwritten_back_pages %" PRIu64 "\nreclaimed_pages %" PRIu64
	    "\nthrottled_writes %" PRIu64 "\nwrite_retries %" PRIu64 "\nlock_contended %" PRIu64
	    "\nlock_wait_ns %" PRIu64 "\nfuse_requests %" PRIu64 "\nfuse_nodes %" PRIu64
	    "\nexport_ids %d\nposix_acl %d\nmmap_mode %d\nstore_commits %" PRIu64
	    "\nperiodic_commits %" PRIu64 "\nperiodic_checks %" PRIu64
	    "\nmax_write %u\nlargest_read %" PRIu64 "\nlargest_write %" PRIu64
	    "\nfuse_flocks %" PRIu64 "\nfuse_flocks_waiting %u\n",
	    s.cached_pages, s.dirty_pages, s.writeback_pages, s.hits, s.misses, s.readahead_pages,
	    s.written_back_pages, s.reclaimed_pages, s.throttled_writes, s.write_retries,
	    s.lock_contended, s.lock_wait_ns, __atomic_load_n(&pcfs.reqs, __ATOMIC_RELAXED),
	    nodes_count(), pcfs.export_ids, pcfs.posix_acl, pcfs.mmap_mode, s.store_commits,
	    s.periodic_commits, s.periodic_checks, pcfs.max_write,
	    __atomic_load_n(&pcfs.largest_read, __ATOMIC_RELAXED),
	    __atomic_load_n(&pcfs.largest_write, __ATOMIC_RELAXED),
	    __atomic_load_n(&pcfs.flocks, __ATOMIC_RELAXED), pcfs_flock_waiting());
}

void pcfs_stats_line(char *buf, size_t size)
{
	struct pc_stats s;
	uint64_t look;

	pc_get_stats(pcfs.e, &s, sizeof(s));
	look = s.hits + s.misses;
	snprintf(buf, size,
		 "pagecache: cache %" PRIu64 " KiB, hit %.1f%%, misses %" PRIu64 ", dirty %" PRIu64
		 " KiB, writeback %" PRIu64 " KiB, lock waits %" PRIu64
		 " (%.1f ms), retries %" PRIu64 ", throttled %" PRIu64 ", requests %" PRIu64,
		 s.cached_pages * 4, look ? 100.0 * (double)s.hits / (double)look : 100.0, s.misses,
		 s.dirty_pages * 4, s.writeback_pages * 4, s.lock_contended,
		 (double)s.lock_wait_ns / 1e6, s.write_retries, s.throttled_writes,
		 __atomic_load_n(&pcfs.reqs, __ATOMIC_RELAXED));
}

static void *stats_thread(void *arg)
{
	char line[512];

	(void)arg;
	pthread_mutex_lock(&stats_lock);
	while (!stats_stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += stats_interval;
		pthread_cond_timedwait(&stats_cond, &stats_lock, &ts);
		if (stats_stop)
			break;
		pcfs_stats_line(line, sizeof(line));
		fprintf(stderr, "%s\n", line);
	}
	pthread_mutex_unlock(&stats_lock);
	return NULL;
}

#define MEM_LIMIT_MIN (1ll << 20)
#define MEM_LIMIT_MAX (1ll << 40)
#define THREADS_MAX   1024

/* The signals that end the session (libfuse handles these three). */
static const int end_signals[] = {SIGINT, SIGTERM, SIGHUP};
#ifdef PC_TEST_SWITCHES
bool mount_test_keep_sigint;
#endif

/* Is path p (canonical) equal to or below directory d (canonical)? */
static bool path_within(const char *p, const char *d)
{
	size_t n = strlen(d);
	if (n == 1) /* "/" */
		return true;
	return !strncmp(p, d, n) && (p[n] == '/' || p[n] == '\0');
}

/* The mount point must be an existing directory that is not the store and
 * does not hold it (an image inside the mount point, or a directory store
 * overlapping it, would be served through itself): 0, or the exit status
 * after saying why. */
static int check_paths(const char *store, bool is_dir, const char *mnt)
{
	char rs[PATH_MAX], rm[PATH_MAX];
	struct stat st;

	if (stat(mnt, &st)) {
		fprintf(stderr, "pagecache mount: mount point %s: %s\n", mnt, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "pagecache mount: mount point %s is not a directory\n", mnt);
		return 2;
	}
	if (!realpath(store, rs)) {
		fprintf(stderr, "pagecache mount: %s: %s\n", store, strerror(errno));
		return 1;
	}
	if (!realpath(mnt, rm)) {
		fprintf(stderr, "pagecache mount: mount point %s: %s\n", mnt, strerror(errno));
		return 1;
	}
	if (path_within(rs, rm)) {
		fprintf(stderr,
			"pagecache mount: %s %s lies in the mount point %s: it would be "
			"hidden by (and served through) the mount\n",
			is_dir ? "the directory" : "the image", store, mnt);
		return 2;
	}
	if (is_dir && path_within(rm, rs)) {
		fprintf(stderr,
			"pagecache mount: the mount point %s lies in the served directory "
			"%s: the mount would serve itself\n",
			mnt, store);
		return 2;
	}
	return 0;
}

#ifdef PC_TEST_SWITCHES
static bool env_on(const char *name)
{
	const char *v = getenv(name);
	return v && !strcmp(v, "1");
}
#endif

/* Every node holds an engine fd, and on the dir store a host fd: as many
 * as the kernel has inodes of the mount; and the engine keeps as many
 * closed files cached as half the limit holds. Raise the soft limit of open
 * files to the hard one (as libfuse's passthrough does). */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* pc_engine_close_report: one line per file whose data was lost. */
static void note_unwritten(void *arg, const char *path, int err)
{
	unsigned long *n = arg;
	if (++*n <= 20)
		fprintf(stderr, "pagecache: could not write back %s: %s\n",
			*path ? path : "(a file)", strerror(-err));
}

static void mount_usage(FILE *f)
{
	fprintf(f, "usage: pagecache mount [OPTIONS] IMAGE MOUNTPOINT\n"
		   "       pagecache mount [OPTIONS] --dir DIR MOUNTPOINT\n"
		   "Serves a vol image (or a host directory) through FUSE in the foreground.\n"
		   "Every data byte goes through the engine; Ctrl-C (SIGINT/SIGTERM) unmounts\n"
		   "and writes everything back.\n\n"
		   "  --dir DIR            serve host directory DIR (the \"dir\" store)\n"
		   "  --cluster URL        cluster mode (dir store only): several mounts, on\n"
		   "                       one or several machines, serve DIR at once, kept\n"
		   "                       coherent by glocks in ZooKeeper (URL\n"
		   "                       zk://host:port[,host:port]/path; \"nolock\": alone)\n"
		   "  --node NAME          this mount's node name in the cluster (default:\n"
		   "                       the host name and pid)\n"
		   "  --direct-io          strict mode: no kernel page cache, every read and\n"
		   "                       write is a request (MAP_SHARED gives ENODEV)\n"
		   "  --mmap               the default mode (kept for compatibility): opens use\n"
		   "                       the kernel page cache, invalidated on every change\n"
		   "                       behind it; MAP_SHARED works\n"
		   "  --discard            punch blocks the volume frees out of the image file\n"
		   "                       (default for image files); on a block device,\n"
		   "                       BLKDISCARD them (only with this option)\n"
		   "  --nodiscard          keep freed blocks allocated in the image\n"
		   "  --data-io MODE       vol: how file data reaches the image: \"direct\"\n"
		   "                       (default: aligned writes through O_DIRECT where\n"
		   "                       the host accepts it) or \"buffered\" (through the\n"
		   "                       host's page cache)\n"
		   "  --mem-limit SIZE     page cache size: MiB, or with a K/M/G/T suffix\n"
		   "                       (1M to 1T; default 256)\n"
		   "  --threads N          most FUSE worker threads, 1 to 1024 (default 16)\n"
		   "  --stats-interval S   seconds between statistics lines, 0 = none\n"
		   "                       (0 to 86400; default 5)\n"
		   "  --commit-interval MS vol: commit what changed this often (default 5000)\n"
		   "  --dirty-expire MS    write back data dirty this long (default: the\n"
		   "                       writeback interval, 5000); a crash loses at most\n"
		   "                       about commit interval + dirty expire of changes\n"
		   "  -o OPT[,OPT]         extra FUSE mount options (e.g. ro)\n"
		   "  -h, --help           this help\n"
		   "Exit: 0 after a clean unmount, 1 on an error (also when some data could\n"
		   "not be written back: the files are named), 2 on bad usage.\n");
}

int cmd_mount(int argc, char **argv)
{
	/* clang-format off */
	static const struct option lo[] = {
	    {"dir", required_argument, 0, 'd'},
	    {"cluster", required_argument, 0, 'c'},
	    {"node", required_argument, 0, 'n'},
	    {"mmap", no_argument, 0, 'm'},
	    {"direct-io", no_argument, 0, 'D'},
	    {"discard", no_argument, 0, 'g'},
	    {"nodiscard", no_argument, 0, 'G'},
	    {"data-io", required_argument, 0, 'I'},
	    {"mem-limit", required_argument, 0, 'M'},
	    {"threads", required_argument, 0, 't'},
	    {"stats-interval", required_argument, 0, 's'},
	    {"commit-interval", required_argument, 0, 'C'},
	    {"dirty-expire", required_argument, 0, 'E'},
	    {"help", no_argument, 0, 'h'},
	    {0, 0, 0, 0},
	};
	/* clang-format on */
	const char *dir = NULL, *image = NULL, *mnt, *extra = NULL;
	struct pc_options po = {.size = sizeof(po)};
	unsigned threads = 16;
	unsigned long long num;
	bool served = false;
	int c, ret, rc = 1;
	char opts[1024];

	optind = 1;
	pcfs.mmap_mode = true;
	while ((c = getopt_long(argc, argv, "ho:", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'c':
			po.cluster = optarg;
			break;
		case 'n':
			po.cluster_node = optarg;
			break;
		case 'm':
			pcfs.mmap_mode = true;
			break;
		case 'D':
			pcfs.mmap_mode = false;
			break;
		case 'g':
			po.discard = PC_DISCARD_ON;
			break;
		case 'G':
			po.discard = PC_DISCARD_OFF;
			break;
		case 'I':
			if (!strcmp(optarg, "direct")) {
				po.vol_data_io = PC_VOL_DATA_AUTO;
			} else if (!strcmp(optarg, "buffered")) {
				po.vol_data_io = PC_VOL_DATA_BUFFERED;
			} else {
				fprintf(stderr,
					"pagecache mount: bad --data-io '%s': \"direct\" or "
					"\"buffered\"\n",
					optarg);
				return 2;
			}
			break;
		case 'M': {
			long long v = cli_parse_size_unit(optarg, 1ull << 20);
			if (v < MEM_LIMIT_MIN || v > MEM_LIMIT_MAX) {
				fprintf(stderr,
					"pagecache mount: bad --mem-limit '%s': a size in MiB "
					"(or with a K, M, G or T suffix) from 1M to 1T\n",
					optarg);
				return 2;
			}
			po.mem_limit = (size_t)v;
			break;
		}
		case 't':
			if (cli_parse_num(optarg, 1, THREADS_MAX, &num)) {
				fprintf(stderr,
					"pagecache mount: bad --threads '%s': a number from 1 to "
					"%d\n",
					optarg, THREADS_MAX);
				return 2;
			}
			threads = (unsigned)num;
			break;
		case 's':
			if (cli_parse_num(optarg, 0, 86400, &num)) {
				fprintf(stderr,
					"pagecache mount: bad --stats-interval '%s': seconds from "
					"0 (none) to 86400\n",
					optarg);
				return 2;
			}
			stats_interval = (unsigned)num;
			break;
		case 'C':
		case 'E':
			/* at most a day: a longer interval is a mistake, not a policy */
			if (cli_parse_num(optarg, 1, 86400000, &num)) {
				fprintf(stderr,
					"pagecache mount: bad --%s '%s': milliseconds from 1 to "
					"86400000\n",
					c == 'C' ? "commit-interval" : "dirty-expire", optarg);
				return 2;
			}
			if (c == 'C')
				po.commit_interval_ms = (unsigned)num;
			else
				po.dirty_expire_ms = (unsigned)num;
			break;
		case 'o':
			extra = optarg;
			break;
		case 'h':
			mount_usage(stdout);
			return 0;
		default:
			mount_usage(stderr);
			return 2;
		}
	}
	if (argc - optind != (dir ? 1 : 2)) {
		mount_usage(stderr);
		return 2;
	}
	if (!dir)
		image = argv[optind++];
	mnt = argv[optind];
	if (image && po.cluster && strcmp(po.cluster, "nolock")) {
		fprintf(stderr,
			"pagecache mount: --cluster: the vol store does not support cluster "
			"mode (it has one journal; per-node journals would be needed): "
			"serve a directory with --dir\n");
		return 1;
	}
	ret = check_paths(dir ? dir : image, !!dir, mnt);
	if (ret)
		return ret;
	if (image) {
		/* not a vol at all (empty, short, another magic): say so before
		 * anything needs FUSE */
		struct pc_vol_info info = {.size = sizeof(info)};
		const char *why = NULL;
		if (pc_vol_stat(image, &info, &why) == -EINVAL) {
			/* (bad magic, or shorter than a superblock) */
			fprintf(stderr, "pagecache mount: %s: %s\n", image,
				why ? why + (strncmp(why, "vol: ", 5) ? 0 : 5) : "not a vol image");
			return 1;
		}
	}
	if (access("/dev/fuse", R_OK | W_OK)) {
		fprintf(stderr,
			"pagecache mount: /dev/fuse is missing or not accessible (%s): "
			"load the fuse module or run where FUSE is available\n",
			strerror(errno));
		return 1;
	}
	umask(0); /* the kernel applies each caller's umask */
#ifdef PC_TEST_SWITCHES
	/* each turns a protection off, so that tests/fuse shows the loss it
	 * prevents; only pagecache-test reads them */
	pcfs.test_no_export = env_on("PC_FUSE_NO_EXPORT");
	pcfs.test_no_acl = env_on("PC_FUSE_NO_ACL");
	pcfs.test_old_killpriv = env_on("PC_FUSE_OLD_KILLPRIV");
	pcfs.no_flush_report = env_on("PC_FUSE_NO_FLUSH_REPORT");
	mount_test_keep_sigint = env_on("PC_MOUNT_TEST_KEEP_SIGINT");
	fuse_test_no_flock_op = env_on("PC_FUSE_NO_FLOCK");
	fuse_test_no_posix_lock_op = env_on("PC_FUSE_NO_POSIX_LOCKS");
	fuse_test_cluster_shared_mmap = env_on("PC_FUSE_CLUSTER_SHARED_MMAP");
	fuse_test_no_gen_key = env_on("PC_FUSE_NO_GEN_KEY");
	fuse_test_unpin_hook = env_on("PC_FUSE_TEST_UNPIN");
	fsync_test_dir_noop = env_on("PC_TEST_FSYNCDIR_NOOP");
	vol_test_no_periodic_commit = env_on("PC_TEST_NO_PERIODIC_COMMIT");
	plock_test_no_cache = env_on("PC_PLOCK_NO_CACHE"); /* for an A/B of the round trips */
	/* the mount test's table check, shown failing */
	plock_test_keep_tables = env_on("PC_PLOCK_KEEP_TABLES");
#endif
	po.store_dir = dir;
	po.store_image = image;
	raise_nofile(); /* first: the engine sizes its inode cache from it */
	ret = pc_engine_open(&po, &pcfs.e);
	if (ret && *pc_cluster_error()) {
		fprintf(stderr, "pagecache mount: --cluster %s (%s)\n", pc_cluster_error(),
			strerror(-ret));
		return 1;
	}
	if (ret) {
		fprintf(stderr, "pagecache mount: cannot open %s: %s\n", dir ? dir : image,
			image && ret == -EINVAL ? "not a vol image (make one with `pagecache mkfs`)"
			: image && ret == -EUCLEAN
			    ? "the volume is damaged (run `pagecache fsck -y` on it)"
			    : strerror(-ret));
		return 1;
	}
#ifdef PC_TEST_SWITCHES
	/* tests: PC_TEST_FAIL_STORE_WRITES=ERRNO fails every store write of
	 * file data (writeback) with it, to show where the error surfaces */
	const char *fail = getenv("PC_TEST_FAIL_STORE_WRITES");
	if (fail && atoi(fail) > 0)
		store_inject_fail(pc_engine_store(pcfs.e), STORE_OP_WRITE, 1, atoi(fail), true);
#endif
	/* Export ids where the store's handles are an inode number and a
	 * generation (vol): node ids survive a remount. */
	struct pc_file_handle fh = {.handle_bytes = PC_HANDLE_MAX};
	pcfs.export_ids = !pcfs.test_no_export &&
			  !pc_name_to_handle_at(pcfs.e, PC_AT_ROOT, "/", &fh, 0) &&
			  fh.handle_type == PC_HANDLE_INO_GEN;
	ret = nodes_init(pcfs.e, pcfs.export_ids);
	if (ret) {
		fprintf(stderr, "pagecache mount: root: %s\n", strerror(-ret));
		goto out_engine;
	}
	pcfs.cluster = po.cluster && strcmp(po.cluster, "nolock");
	pcfs.owner_uid = getuid();

	/* root's mount is one as a block device's is: every user (allow_other),
	 * device nodes and set-id programs working (dev, suid; libfuse's
	 * default is nodev,nosuid, and -o can ask for them again) */
	snprintf(opts, sizeof(opts), "default_permissions,fsname=%s,subtype=pagecache%s%s%s",
		 dir ? dir : image, getuid() == 0 ? ",allow_other,dev,suid" : "", extra ? "," : "",
		 extra ? extra : "");
	char *fargv[] = {argv[0], (char *)"-o", opts, NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
	pcfs.se = fuse_session_new(&args, &pcfs_ops, sizeof(pcfs_ops), NULL);
	fuse_opt_free_args(&args);
	if (!pcfs.se) {
		fprintf(stderr, "pagecache mount: cannot create the FUSE session\n");
		goto out_nodes;
	}
	/* A job started with & by a non-interactive shell inherits SIGINT and
	 * SIGQUIT ignored, and fuse_set_signal_handlers() leaves a signal
	 * that is not SIG_DFL alone: Ctrl-C / kill -INT would then do
	 * nothing. Ours unmount, as documented: reset and unblock them. */
	if (!mount_test_keep_sigint) {
		sigset_t set;
		sigemptyset(&set);
		for (size_t i = 0; i < sizeof(end_signals) / sizeof(end_signals[0]); i++) {
			signal(end_signals[i], SIG_DFL);
			sigaddset(&set, end_signals[i]);
		}
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	if (fuse_set_signal_handlers(pcfs.se)) {
		fprintf(stderr, "pagecache mount: cannot install signal handlers\n");
		goto out_session;
	}
	if (fuse_session_mount(pcfs.se, mnt)) {
		fprintf(stderr,
			"pagecache mount: cannot mount on %s (is fusermount3 installed, "
			"the mount point an existing directory?)\n",
			mnt);
		goto out_signals;
	}
	if (pcfs.cluster && pcfs.mmap_mode && cluster_inval_start()) {
		fprintf(stderr, "pagecache mount: cannot start the invalidation thread\n");
		fuse_session_unmount(pcfs.se);
		goto out_signals;
	}
	pthread_t st;
	bool st_running = stats_interval && !pthread_create(&st, NULL, stats_thread, NULL);
	fprintf(stderr, "pagecache: %s mounted on %s (%s, %s); Ctrl-C unmounts\n",
		dir ? dir : image, mnt, dir ? "dir store" : "vol store",
		pcfs.mmap_mode ? "kernel page cache" : "direct_io");

	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_max_threads(cfg, threads ? threads : 1);
	ret = fuse_session_loop_mt(pcfs.se, cfg);
	fuse_loop_cfg_destroy(cfg);
	rc = ret < 0 ? 1 : 0;
	served = true;

	if (st_running) {
		pthread_mutex_lock(&stats_lock);
		stats_stop = true;
		pthread_cond_signal(&stats_cond);
		pthread_mutex_unlock(&stats_lock);
		pthread_join(st, NULL);
	}
	pcfs_flock_stop();
	pcfs_free_handles();
	cluster_inval_stop();
	fuse_session_unmount(pcfs.se);
out_signals:
	fuse_remove_signal_handlers(pcfs.se);
out_session:
	fuse_session_destroy(pcfs.se);
out_nodes:
	nodes_destroy();
out_engine:
	if (served) {
		char line[512];
		pcfs_stats_line(line, sizeof(line));
		fprintf(stderr, "%s\n", line);
	}
	unsigned long lost = 0;
	ret = pc_engine_close_report(pcfs.e, note_unwritten, &lost);
	if (lost > 20)
		fprintf(stderr, "pagecache: ... and %lu more\n", lost - 20);
	if (lost)
		fprintf(stderr,
			"pagecache mount: %lu file(s) could not be written back: their dirty "
			"data is lost\n",
			lost);
	if (ret)
		fprintf(stderr, "pagecache mount: writing everything back failed: %s\n",
			strerror(-ret));
	if (ret || lost)
		rc = 1;
	else if (served) {
		fprintf(stderr, "pagecache: unmounted %s, everything written back\n", mnt);
	}
	return rc;
}

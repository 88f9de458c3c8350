/* SPDX-License-Identifier: MIT */
/*
 * mount.c - `pagecache mount`: opens an engine on a vol image (or, with
 * --dir, a host directory), mounts it with libfuse 3's low-level API and
 * serves it with the multi-threaded session loop in the foreground. A
 * thread prints a one-line statistics summary every few seconds. SIGINT,
 * SIGTERM and SIGHUP end the loop; the file system is then unmounted and
 * pc_engine_close writes everything back before the process exits.
 *
 * Locks: stats_lock (pthread, leaf) only for the stats thread's sleep.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fuse_nodes.h"
#include "fuse_server.h"

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stats_cond = PTHREAD_COND_INITIALIZER;
static bool stats_stop;
static unsigned stats_interval = 5;

int pcfs_stats_text(char *buf, size_t size)
{
	struct pc_stats s;

	pc_get_stats(pcfs.e, &s);
	return snprintf(
	    buf, size,
	    "cached_pages %" PRIu64 "\ndirty_pages %" PRIu64 "\nwriteback_pages %" PRIu64
	    "\nhits %" PRIu64 "\nmisses %" PRIu64 "\nreadahead_pages %" PRIu64
	    "\nwritten_back_pages %" PRIu64 "\nreclaimed_pages %" PRIu64
	    "\nthrottled_writes %" PRIu64 "\nwrite_retries %" PRIu64 "\nlock_contended %" PRIu64
	    "\nlock_wait_ns %" PRIu64 "\nfuse_requests %" PRIu64 "\nfuse_invalidations %" PRIu64
	    "\nmmap_mode %d\nmax_write %u\nlargest_read %" PRIu64 "\nlargest_write %" PRIu64 "\n",
	    s.cached_pages, s.dirty_pages, s.writeback_pages, s.hits, s.misses, s.readahead_pages,
	    s.written_back_pages, s.reclaimed_pages, s.throttled_writes, s.write_retries,
	    s.lock_contended, s.lock_wait_ns, __atomic_load_n(&pcfs.reqs, __ATOMIC_RELAXED),
	    __atomic_load_n(&pcfs.notifies_sent, __ATOMIC_RELAXED), pcfs.mmap_mode, pcfs.max_write,
	    __atomic_load_n(&pcfs.largest_read, __ATOMIC_RELAXED),
	    __atomic_load_n(&pcfs.largest_write, __ATOMIC_RELAXED));
}

void pcfs_stats_line(char *buf, size_t size)
{
	struct pc_stats s;
	uint64_t look;

	pc_get_stats(pcfs.e, &s);
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

static bool env_on(const char *name)
{
	const char *v = getenv(name);

	return v && !strcmp(v, "1");
}

static void mount_usage(FILE *f)
{
	fprintf(f, "usage: pagecache mount [OPTIONS] IMAGE MOUNTPOINT\n"
		   "       pagecache mount [OPTIONS] --dir DIR MOUNTPOINT\n"
		   "Serves a vol image (or a host directory) through FUSE in the foreground.\n"
		   "Every data byte goes through the engine; Ctrl-C (SIGINT/SIGTERM) unmounts\n"
		   "and writes everything back.\n\n"
		   "  --dir DIR            serve host directory DIR (the \"dir\" store)\n"
		   "  --direct-io          strict mode: no kernel page cache, every read and\n"
		   "                       write is a request (MAP_SHARED gives ENODEV)\n"
		   "  --mmap               the default mode (kept for compatibility): opens use\n"
		   "                       the kernel page cache, invalidated on every change\n"
		   "                       behind it; MAP_SHARED works\n"
		   "  --discard            punch blocks the volume frees out of the image file\n"
		   "                       (default for image files); on a block device,\n"
		   "                       BLKDISCARD them (only with this option)\n"
		   "  --nodiscard          keep freed blocks allocated in the image\n"
		   "  --mem-limit MIB      page cache size in MiB (default 256)\n"
		   "  --threads N          most FUSE worker threads (default 16)\n"
		   "  --stats-interval S   seconds between statistics lines, 0 = none (default 5)\n"
		   "  -o OPT[,OPT]         extra FUSE mount options (e.g. ro)\n"
		   "  -h, --help           this help\n"
		   "Exit: 0 after a clean unmount, 1 on an error, 2 on bad usage.\n");
}

int cmd_mount(int argc, char **argv)
{
	/* clang-format off */
	static const struct option lo[] = {
	    {"dir", required_argument, 0, 'd'},
	    {"mmap", no_argument, 0, 'm'},
	    {"direct-io", no_argument, 0, 'D'},
	    {"discard", no_argument, 0, 'c'},
	    {"nodiscard", no_argument, 0, 'C'},
	    {"mem-limit", required_argument, 0, 'M'},
	    {"threads", required_argument, 0, 't'},
	    {"stats-interval", required_argument, 0, 's'},
	    {"help", no_argument, 0, 'h'},
	    {0, 0, 0, 0},
	};
	/* clang-format on */
	const char *dir = NULL, *image = NULL, *mnt, *extra = NULL;
	struct pc_options po = {0};
	unsigned threads = 16;
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
		case 'm':
			pcfs.mmap_mode = true;
			break;
		case 'D':
			pcfs.mmap_mode = false;
			break;
		case 'c':
			po.discard = PC_DISCARD_ON;
			break;
		case 'C':
			po.discard = PC_DISCARD_OFF;
			break;
		case 'M':
			po.mem_limit = (size_t)strtoull(optarg, NULL, 0) << 20;
			break;
		case 't':
			threads = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 's':
			stats_interval = (unsigned)strtoul(optarg, NULL, 0);
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
	if (access("/dev/fuse", R_OK | W_OK)) {
		fprintf(stderr,
			"pagecache mount: /dev/fuse is missing or not accessible (%s): "
			"load the fuse module or run where FUSE is available\n",
			strerror(errno));
		return 1;
	}
	umask(0); /* the kernel applies each caller's umask */
	pcfs.no_inval = env_on("PC_FUSE_NO_INVAL");
	pcfs.test_keep_stale = env_on("PC_FUSE_KEEP_STALE");
	pcfs.test_old_killpriv = env_on("PC_FUSE_OLD_KILLPRIV");
	po.store_dir = dir;
	po.store_image = image;
	ret = pc_engine_open(&po, &pcfs.e);
	if (ret) {
		fprintf(stderr, "pagecache mount: cannot open %s: %s\n", dir ? dir : image,
			strerror(-ret));
		return 1;
	}
	struct stat rst;
	ret = pc_stat(pcfs.e, "", &rst);
	if (ret) {
		fprintf(stderr, "pagecache mount: root: %s\n", strerror(-ret));
		goto out_engine;
	}
	pcfs.root_ino = rst.st_ino;
	pcfs.owner_uid = getuid();
	nodes_init(rst.st_ino);

	snprintf(opts, sizeof(opts), "default_permissions,fsname=%s,subtype=pagecache%s%s%s",
		 dir ? dir : image, getuid() == 0 ? ",allow_other" : "", extra ? "," : "",
		 extra ? extra : "");
	char *fargv[] = {argv[0], (char *)"-o", opts, NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
	pcfs.se = fuse_session_new(&args, &pcfs_ops, sizeof(pcfs_ops), NULL);
	fuse_opt_free_args(&args);
	if (!pcfs.se) {
		fprintf(stderr, "pagecache mount: cannot create the FUSE session\n");
		goto out_nodes;
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
	if (notify_start()) {
		fprintf(stderr, "pagecache mount: cannot start the notifier thread\n");
		goto out_unmount;
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
	notify_stop();
	pcfs_free_handles();
out_unmount:
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
	ret = pc_engine_close(pcfs.e);
	if (ret) {
		fprintf(stderr, "pagecache mount: writing everything back failed: %s\n",
			strerror(-ret));
		rc = 1;
	} else if (served) {
		fprintf(stderr, "pagecache: unmounted %s, everything written back\n", mnt);
	}
	return rc;
}

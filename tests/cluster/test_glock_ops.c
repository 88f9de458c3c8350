/* SPDX-License-Identifier: MIT */
/*
 * test_glock_ops.c - the operations besides read and write under the glock
 * (docs/cluster.md, "The engine: which path takes which state"), each seen
 * from two nodes (two processes, each its own engine on one shared
 * directory) that step through a script in lockstep over a pair of pipes:
 *
 * - SEEK_DATA/SEEK_HOLE on node B right after node A wrote (A's data only
 *   in A's cache): B finds A's extent (SH demotes A, whose go_sync writes
 *   it back). cluster_test_seek_no_glock: B walks the store's map alone and
 *   finds no data (the stale answer).
 * - chmod and utimes on B while A holds EX with engine-side times: A's
 *   fstat shows B's mode and mtime. cluster_test_setattr_no_glock: A shows
 *   its own write's mtime (stale).
 * - setxattr on B likewise: A's fstat shows the store's new ctime (the
 *   same switch: A shows its own write's ctime).
 * - fsync on a node whose EX was taken away: writes nothing, and the other
 *   node's newer data stays.
 * - A writeback that fails in go_sync (the store's injected EIO on B, a
 *   demote forced by A): B's next fsync is -EIO, and B's dirty pages are
 *   not kept past the demote. cluster_test_sync_error_ignored: B keeps its
 *   dirty pages under SH: while A holds SH and read the store's 'o', B
 *   reads its own 'b' (and writes it at its fsync, under SH).
 * - posix_fadvise and madvise WILLNEED on B while A holds its data dirty:
 *   the readahead runs under SH, so B's next read sees A's data.
 *   cluster_test_fadvise_no_glock / mm_test_willneed_no_fault_lock: B
 *   caches the store's old data with no glock and reads it after (stale).
 * - copy_file_range (the copy through the cache: ext4 has no reflink) and
 *   clone (dir store on XFS, tests/api/remap_fixture.c) on A while B
 *   rewrites the source whole, each version published in shared memory
 *   once its pwrite returned: every copy is one version (not torn) and not
 *   older than the one published before it began (not stale).
 *   cluster_test_remap_no_glock: the clone reads the store while B's data
 *   is only in B's cache (stale).
 * - clones crosswise (A: f1 -> f2 while B: f2 -> f1): both glocks in number
 *   order, no deadlock.
 * - stat of many files on one node (an engine in this process), twice: the
 *   second pass makes no lock-service request (each file's unused inode
 *   keeps its glock cached; the inode cache's bound comes from the
 *   open-file limit). inode_test_unused_max = 128 (the old fixed bound):
 *   every stat of the second pass asks the lock service again.
 *
 * A node's exit status: 0 as expected, 10 a stale result seen, 11 a torn
 * copy, else a failure (its stderr says which).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/engine.h"
#include "api/engine_internal.h"
#include "cluster/lock_module.h"
#include "fs/inode.h"
#include "api/remap_fixture.h"
#include "cluster/lockstep.h"
#include "cluster/node_fixture.h"
#include "fs/cluster.h"
#include "harness.h"
#include "mm/vma.h"
#include "pagecache.h"
#include "store/store.h"

#define MIB   (1 << 20)
#define STALE 10
#define TORN  11

struct shared {
	int arg;       /* the case: its variant of the script */
	int published; /* B: the last version whose pwrite returned */
	int done;      /* B: no more versions */
};

/* Runs @fn on two nodes over the store @dir, @arg its variant of the
 * script; st[]: their exit statuses. */
static void run2(const char *dir, int (*fn)(struct ls_node *n), int arg, bool hazard, int st[2])
{
	const char *url = nf_cluster_url();
	struct shared *sh = ls_shared_map(sizeof(*sh));

	sh->arg = arg;
	ls_run2(&(struct ls_node){.dir = dir, .url = url, .hazard = hazard, .fn = fn, .sh = sh},
		st);
	ls_shared_unmap(sh, sizeof(*sh));
}

static void host_file(const char *dir, const char *name, int c, size_t len)
{
	char path[700];
	char *buf = malloc(len ? len : 1);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	memset(buf, c, len);
	CHECK_EQ(write(fd, buf, len), (ssize_t)len);
	close(fd);
	free(buf);
}

static int open_f(struct ls_node *n, const char *name)
{
	int fd = pc_open(n->e, name, O_RDWR, 0);

	if (fd < 0)
		LS_FAIL(n, "open %s: %s", name, strerror(-fd));
	return fd;
}

static void pwrite_c(struct ls_node *n, int fd, int c, size_t len, off_t off)
{
	char *buf = malloc(len);
	ssize_t r;

	memset(buf, c, len);
	r = pc_pwrite(n->e, fd, buf, len, off);
	if (r != (ssize_t)len)
		LS_FAIL(n, "pwrite: %zd", r);
	free(buf);
}

/* The one byte value of [off, +len), or -1 when they differ (torn). */
static int pread_one(struct ls_node *n, int fd, size_t len, off_t off)
{
	unsigned char *buf = malloc(len);
	ssize_t r = pc_pread(n->e, fd, buf, len, off);
	int v = buf[0];

	if (r != (ssize_t)len)
		LS_FAIL(n, "pread: %zd", r);
	for (size_t i = 1; i < len; i++)
		if (buf[i] != v) {
			v = -1;
			break;
		}
	free(buf);
	return v;
}

/* ---- SEEK_DATA / SEEK_HOLE ---- */

static int sc_seek(struct ls_node *n)
{
	int fd = open_f(n, "f"), ret = 0;
	off_t d, h;

	if (n->role == 1 && pc_lseek(n->e, fd, 0, SEEK_DATA) != -ENXIO)
		LS_FAIL(n, "SEEK_DATA of a hole-only file is not -ENXIO");
	ls_barrier(n); /* B holds SH */
	if (n->role == 0)
		pwrite_c(n, fd, 'x', 4096, MIB); /* dirty in A's cache, A holds EX */
	ls_barrier(n);
	if (n->role == 1) {
		if (n->hazard)
			__atomic_store_n(&cluster_test_seek_no_glock, true, __ATOMIC_RELEASE);
		d = pc_lseek(n->e, fd, 0, SEEK_DATA);
		h = pc_lseek(n->e, fd, MIB, SEEK_HOLE);
		printf("# node B: SEEK_DATA from 0: %lld, SEEK_HOLE from 1 MiB: %lld (A wrote "
		       "[1 MiB, +4 KiB))\n",
		       (long long)d, (long long)h);
		ret = d == MIB && h == MIB + 4096 ? 0 : STALE;
	}
	pc_close(n->e, fd);
	return ret;
}

static void seek_case(bool hazard)
{
	char store[600], logs[600], path[700];
	int st[2];

	/* The hazard needs A's page still dirty in A's cache when B looks;
	 * anything that writes it back first (A's writeback thread on a slow
	 * sanitizer build) hides it for that round: up to 5 rounds. */
	for (int round = 0; round < (hazard ? 5 : 1); round++) {
		nf_fresh(store, sizeof(store), logs, sizeof(logs));
		host_file(store, "f", 0, 0);
		snprintf(path, sizeof(path), "%s/f", store);
		CHECK(truncate(path, 2 * MIB) == 0);
		run2(store, sc_seek, 0, hazard, st);
		if (!hazard || st[1] == STALE)
			break;
		printf("# round %d: the hazard did not show (A's page was on the store already)\n",
		       round);
	}
	ls_expect(st, 0, hazard ? STALE : 0);
}

TEST(seek_data_sees_other_node_write)
{
	seek_case(false);
}

TEST(seek_no_glock_shows_stale_map)
{
	seek_case(true);
}

/* ---- chmod, utimes ---- */

static int sc_setattr(struct ls_node *n)
{
	int fd = open_f(n, "f"), ret = 0;
	struct timespec ts[2] = {{0, UTIME_OMIT}, {1000000000, 500}};
	struct stat st;
	int err;

	if (n->role == 0)
		pwrite_c(n, fd, 'a', 4096, 0); /* EX, engine-side times */
	ls_barrier(n);
	if (n->role == 1) {
		if (n->hazard)
			__atomic_store_n(&cluster_test_setattr_no_glock, true, __ATOMIC_RELEASE);
		err = pc_fchmod(n->e, fd, 0600);
		if (err)
			LS_FAIL(n, "fchmod: %s", strerror(-err));
		err = pc_utimens(n->e, "f", ts); /* by path */
		if (err)
			LS_FAIL(n, "utimens: %s", strerror(-err));
	}
	ls_barrier(n);
	if (n->role == 0) {
		err = pc_fstat(n->e, fd, &st);
		if (err)
			LS_FAIL(n, "fstat: %s", strerror(-err));
		printf("# node A: mode %o, mtime %lld.%09ld (B set 600, 1000000000.000000500)\n",
		       st.st_mode & 07777, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
		ret = (st.st_mode & 07777) == 0600 && st.st_mtim.tv_sec == 1000000000 &&
			      st.st_mtim.tv_nsec == 500
			  ? 0
			  : STALE;
	}
	pc_close(n->e, fd);
	return ret;
}

static void setattr_case(bool hazard)
{
	char store[600], logs[600];
	int st[2];

	nf_fresh(store, sizeof(store), logs, sizeof(logs));
	host_file(store, "f", 'o', 4096);
	run2(store, sc_setattr, 0, hazard, st);
	ls_expect(st, hazard ? STALE : 0, 0);
}

TEST(setattr_seen_by_other_node)
{
	setattr_case(false);
}

TEST(setattr_no_glock_shows_stale_times)
{
	setattr_case(true);
}

/* setxattr on B while A holds EX with engine-side times: A's fstat shows
 * the ctime the store has after the change. */
static int sc_xattr(struct ls_node *n)
{
	int fd = open_f(n, "f"), ret = 0, err;
	struct stat st, host;
	char path[700];

	if (n->role == 0)
		pwrite_c(n, fd, 'a', 4096, 0); /* EX, engine-side times */
	ls_barrier(n);
	if (n->role == 1) {
		if (n->hazard)
			__atomic_store_n(&cluster_test_setattr_no_glock, true, __ATOMIC_RELEASE);
		err = pc_setxattrat(n->e, PC_AT_ROOT, "f", "user.k", "v", 1, 0, 0);
		if (err == -EOPNOTSUPP)
			return 77;
		if (err)
			LS_FAIL(n, "setxattr: %s", strerror(-err));
	}
	ls_barrier(n);
	if (n->role == 0) {
		err = pc_fstat(n->e, fd, &st);
		if (err)
			LS_FAIL(n, "fstat: %s", strerror(-err));
		snprintf(path, sizeof(path), "%s/f", n->dir);
		if (stat(path, &host))
			LS_FAIL(n, "host stat");
		printf("# node A: ctime %lld.%09ld, the store's %lld.%09ld\n",
		       (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec,
		       (long long)host.st_ctim.tv_sec, host.st_ctim.tv_nsec);
		ret = st.st_ctim.tv_sec == host.st_ctim.tv_sec &&
			      st.st_ctim.tv_nsec == host.st_ctim.tv_nsec
			  ? 0
			  : STALE;
	}
	pc_close(n->e, fd);
	return ret;
}

static void xattr_case(bool hazard)
{
	char store[600], logs[600];
	int st[2];

	/* The hazard needs A's cached ctime to differ from the store's after
	 * B's setxattr. Under TSan it did not show in 2 of 4 runs of one
	 * engineer's (cause not pinned down: A's times refreshed, or the host's
	 * coarse ctime giving both changes one tick): up to 5 rounds. */
	for (int round = 0; round < (hazard ? 5 : 1); round++) {
		nf_fresh(store, sizeof(store), logs, sizeof(logs));
		host_file(store, "f", 'o', 4096);
		run2(store, sc_xattr, 0, hazard, st);
		if (st[1] == 77)
			test_skip("no user xattrs on the host file system");
		if (!hazard || st[0] == STALE)
			break;
		printf("# round %d: the hazard did not show (A's ctime matched the store's)\n",
		       round);
	}
	ls_expect(st, hazard ? STALE : 0, 0);
}

TEST(setxattr_ctime_seen_by_other_node)
{
	xattr_case(false);
}

TEST(setxattr_no_glock_shows_stale_ctime)
{
	xattr_case(true);
}

/* ---- fsync after the glock went ---- */

static int sc_fsync(struct ls_node *n)
{
	int fd = open_f(n, "f"), err, v;
	struct store *s = pc_engine_store(n->e);
	unsigned long w0;

	if (n->role == 1)
		pwrite_c(n, fd, 'b', 4096, 0); /* B: EX, dirty */
	ls_barrier(n);
	if (n->role == 0) {
		pwrite_c(n, fd, 'a', 4096, 0); /* B writes back and drops */
		err = pc_fsync(n->e, fd);
		if (err)
			LS_FAIL(n, "fsync: %s", strerror(-err));
	}
	ls_barrier(n);
	if (n->role == 1) {
		w0 = store_calls(s, STORE_OP_WRITE) + store_calls(s, STORE_OP_DIO_WRITE);
		err = pc_fsync(n->e, fd);
		if (err)
			LS_FAIL(n, "fsync: %s", strerror(-err));
		if (store_calls(s, STORE_OP_WRITE) + store_calls(s, STORE_OP_DIO_WRITE) != w0)
			LS_FAIL(n, "fsync with no glock wrote to the store");
		v = pread_one(n, fd, 4096, 0);
		printf("# node B: fsync 0, no store write; then reads '%c' (A wrote 'a')\n", v);
		if (v != 'a')
			return STALE;
	}
	pc_close(n->e, fd);
	return 0;
}

TEST(fsync_after_demote_writes_nothing)
{
	char store[600], logs[600], path[700];
	int st[2], fd;
	char c = 0;

	nf_fresh(store, sizeof(store), logs, sizeof(logs));
	host_file(store, "f", 'o', 4096);
	run2(store, sc_fsync, 0, false, st);
	ls_expect(st, 0, 0);
	snprintf(path, sizeof(path), "%s/f", store);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, &c, 1, 0), 1);
	CHECK_EQ(c, 'a');
	close(fd);
}

/* ---- a failed write-back in go_sync ---- */

#define SYNC_LEN (64u << 10)

/* arg 0: A forces EX -> SH (a read); 1: EX -> UN (a write). */
static int sc_sync_error(struct ls_node *n)
{
	int fd = open_f(n, "f"), err, v, ret = 0;
	struct store *s = pc_engine_store(n->e);
	unsigned char host[SYNC_LEN];
	char path[700];
	int hfd;

	if (n->role == 1) {
		pwrite_c(n, fd, 'b', SYNC_LEN, 0); /* B: EX, dirty */
		store_inject_fail(s, STORE_OP_WRITE, 1, EIO, true);
		store_inject_fail(s, STORE_OP_DIO_WRITE, 1, EIO, true);
		if (n->hazard)
			__atomic_store_n(&cluster_test_sync_error_ignored, true, __ATOMIC_RELEASE);
	}
	ls_barrier(n);
	if (n->role == 0) {
		if (n->sh->arg == 1)
			pwrite_c(n, fd, 'a', 4096, SYNC_LEN);
		v = pread_one(n, fd, SYNC_LEN, 0);
		if (v != 'o')
			LS_FAIL(n, "read %d, the store held 'o' (B's write-back failed)", v);
	}
	ls_barrier(n);
	if (n->role == 1) {
		/* A holds SH now and read 'o': so must B (SH, or nothing) */
		int before = pread_one(n, fd, SYNC_LEN, 0);

		store_inject_clear(s);
		err = pc_fsync(n->e, fd);
		v = pread_one(n, fd, SYNC_LEN, 0);
		printf("# node B: reads '%c' after the failed demote (A read 'o'); fsync: %d "
		       "(%s); then reads '%c'\n",
		       before, err, err ? strerror(-err) : "ok", v);
		if (err != -EIO)
			LS_FAIL(n, "the lost write-back was not reported (fsync %d)", err);
		if (before != 'o')
			ret = STALE; /* B serves bytes the store and A do not have */
		else if (v != 'o')
			LS_FAIL(n, "B reads data that never reached the store");
	}
	ls_barrier(n);
	if (n->role == 0) {
		/* what A reads (under SH) must be what the store holds */
		v = pread_one(n, fd, SYNC_LEN, 0);
		snprintf(path, sizeof(path), "%s/f", n->dir);
		hfd = open(path, O_RDONLY);
		if (hfd < 0 || pread(hfd, host, SYNC_LEN, 0) != SYNC_LEN)
			LS_FAIL(n, "host read");
		close(hfd);
		printf("# node A: reads '%c', the store holds '%c'\n", v, host[0]);
		if (v != host[0] && !n->hazard)
			ret = STALE;
	}
	pc_close(n->e, fd);
	return ret;
}

static void sync_error_case(int arg, bool hazard)
{
	char store[600], logs[600];
	int st[2];

	nf_fresh(store, sizeof(store), logs, sizeof(logs));
	host_file(store, "f", 'o', SYNC_LEN);
	run2(store, sc_sync_error, arg, hazard, st);
	ls_expect(st, 0, hazard ? STALE : 0);
}

TEST(sync_error_ex_to_sh_reported_and_dropped)
{
	sync_error_case(0, false);
}

TEST(sync_error_ex_to_un_reported)
{
	sync_error_case(1, false);
}

TEST(sync_error_ignored_shows_dirty_under_sh)
{
	sync_error_case(0, true);
}

/* ---- fadvise / madvise WILLNEED ---- */

#define RA_LEN (64u << 10)

/* arg 0: posix_fadvise; 1: madvise of a view. */
static int sc_willneed(struct ls_node *n)
{
	int fd = open_f(n, "f"), err = 0, v, ret = 0;
	void *view = NULL;

	if (n->role == 0)
		pwrite_c(n, fd, 'a', RA_LEN, 0); /* A: EX, dirty */
	ls_barrier(n);
	if (n->role == 1) {
		if (n->hazard) {
			__atomic_store_n(&cluster_test_fadvise_no_glock, true, __ATOMIC_RELEASE);
			__atomic_store_n(&mm_test_willneed_no_fault_lock, true, __ATOMIC_RELEASE);
		}
		if (n->sh->arg == 0) {
			err = pc_fadvise(n->e, fd, 0, 0, POSIX_FADV_WILLNEED);
		} else {
			view = pc_mmap(n->e, fd, RA_LEN, PROT_READ, MAP_SHARED, 0, &err);
			if (!view && err == -ENODEV)
				return 77;
			if (view)
				err = pc_madvise(n->e, view, RA_LEN, MADV_WILLNEED);
		}
		if (err)
			LS_FAIL(n, "WILLNEED: %s", strerror(-err));
		v = pread_one(n, fd, RA_LEN, 0);
		printf("# node B: after %s WILLNEED reads '%c' (A wrote 'a')\n",
		       n->sh->arg ? "madvise" : "posix_fadvise", v);
		ret = v == 'a' ? 0 : STALE;
		if (view)
			pc_munmap(n->e, view, RA_LEN);
	}
	pc_close(n->e, fd);
	return ret;
}

static void willneed_case(int arg, bool hazard)
{
	char store[600], logs[600];
	int st[2];

	nf_fresh(store, sizeof(store), logs, sizeof(logs));
	host_file(store, "f", 'o', RA_LEN);
	run2(store, sc_willneed, arg, hazard, st);
	if (st[1] == 77)
		test_skip("no userfaultfd for a view");
	ls_expect(st, 0, hazard ? STALE : 0);
}

TEST(fadvise_willneed_under_sh)
{
	willneed_case(0, false);
}

TEST(fadvise_willneed_no_glock_shows_stale)
{
	willneed_case(0, true);
}

TEST(madvise_willneed_under_sh)
{
	willneed_case(1, false);
}

TEST(madvise_willneed_no_glock_shows_stale)
{
	willneed_case(1, true);
}

/* ---- copy_file_range and clone while the other node writes the source ---- */

#define COPY_LEN (64u << 10)

/* Fills [0, COPY_LEN) of @fd with the 32-bit word @k (version k). */
static void pwrite_version(struct ls_node *n, int fd, uint32_t k)
{
	uint32_t *buf = malloc(COPY_LEN);
	ssize_t r;

	for (size_t i = 0; i < COPY_LEN / 4; i++)
		buf[i] = k;
	r = pc_pwrite(n->e, fd, buf, COPY_LEN, 0);
	if (r != (ssize_t)COPY_LEN)
		LS_FAIL(n, "pwrite: %zd", r);
	free(buf);
}

/* The version [0, COPY_LEN) of @fd holds, or -1 when torn. */
static int64_t pread_version(struct ls_node *n, int fd)
{
	uint32_t *buf = malloc(COPY_LEN);
	ssize_t r = pc_pread(n->e, fd, buf, COPY_LEN, 0);
	int64_t v = buf[0];

	if (r != (ssize_t)COPY_LEN)
		LS_FAIL(n, "pread: %zd", r);
	for (size_t i = 1; i < COPY_LEN / 4; i++)
		if (buf[i] != buf[0]) {
			v = -1;
			break;
		}
	free(buf);
	return v;
}

/* arg 0: copy_file_range; 1: clone. A copies src -> dst a number of
 * times; B rewrites src whole (versions 1, 2, ...) until A is done. */
static int sc_copy(struct ls_node *n)
{
	int src = open_f(n, "src"), dst = open_f(n, "dst"), ret = 0;
	unsigned iters = (unsigned)test_scale(200, 8), copies, versions = 0;

	ls_barrier(n);
	if (n->role == 1) {
		for (uint32_t k = 1; !__atomic_load_n(&n->sh->done, __ATOMIC_ACQUIRE); k++) {
			pwrite_version(n, src, k);
			__atomic_store_n(&n->sh->published, (int)k, __ATOMIC_RELEASE);
			versions = k;
		}
		printf("# node B: %u versions written meanwhile\n", versions);
	} else {
		if (n->hazard)
			__atomic_store_n(&cluster_test_remap_no_glock, true, __ATOMIC_RELEASE);
		for (copies = 1; copies <= iters; copies++) {
			int p = __atomic_load_n(&n->sh->published, __ATOMIC_ACQUIRE);
			int64_t in = 0, out = 0, v;
			ssize_t r;

			if (n->sh->arg == 1)
				r = pc_clone_range(n->e, dst, src, 0, COPY_LEN, 0)
					?: (ssize_t)COPY_LEN;
			else
				r = pc_copy_file_range(n->e, src, &in, dst, &out, COPY_LEN, 0);
			if (r != COPY_LEN)
				LS_FAIL(n, "%s: %zd", n->sh->arg ? "clone" : "copy_file_range", r);
			v = pread_version(n, dst);
			if (v < 0) {
				fprintf(stderr, "node A: copy %u torn\n", copies);
				ret = TORN;
				break;
			}
			if (v < p) {
				fprintf(stderr,
					"node A: copy %u holds version %" PRId64
					", version %d was published before it began\n",
					copies, v, p);
				ret = STALE;
				break;
			}
		}
		__atomic_store_n(&n->sh->done, 1, __ATOMIC_RELEASE);
		printf("# node A: %u copies (%s), each one version, none older than the "
		       "last published\n",
		       ret ? copies : copies - 1, n->sh->arg ? "clone" : "copy_file_range");
	}
	pc_close(n->e, src);
	pc_close(n->e, dst);
	return ret;
}

static void copy_case(const char *store, int arg, bool hazard)
{
	int st[2];

	host_file(store, "src", 0, COPY_LEN);
	host_file(store, "dst", 0, COPY_LEN);
	run2(store, sc_copy, arg, hazard, st);
	if (hazard)
		CHECKF((st[0] == STALE || st[0] == TORN) && st[1] == 0,
		       "node A exit %d (want %d or %d), node B exit %d", st[0], STALE, TORN, st[1]);
	else
		ls_expect(st, 0, 0);
}

TEST(copy_file_range_one_version)
{
	char store[600], logs[600];

	nf_fresh(store, sizeof(store), logs, sizeof(logs));
	copy_case(store, 0, false);
}

/* A fresh store directory on the XFS reflink mount (skips without one). */
static void xfs_store(char *store, size_t n)
{
	const char *why, *m = remap_xfs_mount(&why);
	static int k;

	if (!m)
		test_skip("no reflink file system: %s", why);
	snprintf(store, n, "%s/cluster%d.%d", m, ++k, (int)getpid());
	CHECK(mkdir(store, 0755) == 0);
}

TEST(clone_one_version)
{
	char store[600];

	xfs_store(store, sizeof(store));
	copy_case(store, 1, false);
}

TEST(clone_no_glock_shows_stale)
{
	char store[600];

	xfs_store(store, sizeof(store));
	copy_case(store, 1, true);
}

/* ---- clones crosswise ---- */

static int sc_cross(struct ls_node *n)
{
	int f1 = open_f(n, "f1"), f2 = open_f(n, "f2");
	unsigned iters = (unsigned)test_scale(300, 10);
	int err;

	ls_barrier(n);
	for (unsigned i = 0; i < iters; i++) {
		err = n->role ? pc_clone_range(n->e, f1, f2, 0, COPY_LEN, 0)
			      : pc_clone_range(n->e, f2, f1, 0, COPY_LEN, 0);
		if (err)
			LS_FAIL(n, "clone %u: %s", i, strerror(-err));
	}
	if (n->role == 0)
		printf("# %u clones crosswise on each node\n", iters);
	pc_close(n->e, f1);
	pc_close(n->e, f2);
	return 0;
}

TEST(clone_crosswise_no_deadlock)
{
	char store[600];
	int st[2];

	xfs_store(store, sizeof(store));
	host_file(store, "f1", 1, COPY_LEN);
	host_file(store, "f2", 2, COPY_LEN);
	run2(store, sc_cross, 0, false, st);
	ls_expect(st, 0, 0);
}

/* Stats @n files by name; the lock-service requests they made. */
static uint64_t stat_pass(struct pc_engine *e, unsigned n)
{
	uint64_t before = atomic_load(&e->cluster->stats.lm_requests);
	struct stat st;
	char name[32];

	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "s%u", i);
		CHECK_EQ(pc_fstatat(e, PC_AT_ROOT, name, &st, 0), 0);
		CHECK_EQ(st.st_size, (off_t)i);
	}
	return atomic_load(&e->cluster->stats.lm_requests) - before;
}

static void stat_many(bool old_bound)
{
	enum { NFILES = 300 };
	struct pc_options o = PC_OPTIONS_INIT;
	struct pc_engine *e = NULL;
	char store[600], logs[600], name[32];
	uint64_t first, second;

	nf_fresh(store, sizeof(store), logs, sizeof(logs));
	for (unsigned i = 0; i < NFILES; i++) {
		snprintf(name, sizeof(name), "s%u", i);
		host_file(store, name, 's', i);
	}
	o.store_dir = store;
	o.cluster = nf_cluster_url();
	o.cluster_node = "stat";
	CHECK_EQ(pc_engine_open(&o, &e), 0);
	if (e->itable.unused_max < NFILES)
		test_skip("open-file limit: the engine keeps %lu unused inodes",
			  e->itable.unused_max);
	inode_test_unused_max = old_bound ? 128 : 0;
	first = stat_pass(e, NFILES);
	second = stat_pass(e, NFILES);
	inode_test_unused_max = 0;
	printf("# %u files stat'ed twice on one node (%lu unused inodes kept%s): %" PRIu64
	       " lock-service requests, then %" PRIu64 "\n",
	       NFILES, old_bound ? 128ul : e->itable.unused_max, old_bound ? ", the old bound" : "",
	       first, second);
	CHECK(first >= NFILES);
	if (old_bound)
		CHECKF(second >= NFILES, "only %" PRIu64 " requests", second);
	else
		CHECK_EQ(second, 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

TEST(stat_many_files_glocks_stay_cached)
{
	stat_many(false);
}

TEST(stat_many_files_old_bound_asks_again)
{
	stat_many(true);
}

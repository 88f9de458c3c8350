/* SPDX-License-Identifier: MIT */
/*
 * test_generation.c - a file's identity across nodes carries the store's
 * generation (docs/cluster.md, "File identity"): node A caches file F,
 * node B unlinks F and creates G, to which the host file system gives F's
 * inode number; A must read G's content and size, not F's cached ones.
 *
 * Two nodes (processes, each its own engine on one shared ext4 directory
 * under /var/tmp: tmpfs never reuses an inode number) step through a
 * script in lockstep over a pair of pipes.
 *
 * A local file system never gives away the number of a file that some
 * process holds open, and node A's cached inode holds host fds of F (its
 * store handle, its node's O_PATH fd). On the shared file systems of a
 * real cluster another machine's open does not keep the file alive (NFSv3:
 * the server frees it at B's unlink and A's handle goes stale). The test
 * stands in for that: once A cached F, it points each of its host fds of F
 * at a detached copy of F (dup2), so that F itself is held by nobody, as
 * on the server. A then reads, through its dead inode of F, the copy's old
 * bytes: what it would have served from its cache anyway.
 *
 * Cases: A read F and closed it (its inode unused, cached); A holds F open
 * (a live inode of the number). inode_test_no_generation (the generation
 * left out of the inode table's key and the glock's name): A reads F's
 * bytes through G.
 *
 * A node's exit status: 0 as expected, 10 a stale read seen, 12 the host
 * never reused the number (the case is skipped), else a failure.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "api/engine.h"
#include "cluster/lockstep.h"
#include "cluster/node_fixture.h"
#include "fs/file.h"
#include "fs/inode.h"
#include "harness.h"
#include "pagecache.h"
#include "store/store.h"

#define LEN	 8192
#define STALE	 10
#define NO_REUSE 12
#define TRIES	 200

struct shared {
	bool keep_open;	  /* the case: A holds F open */
	bool stat_only;	  /* the case: A stats G by name, unable to open it */
	uint64_t old_ino; /* F's host inode number */
	int tries;	  /* B: creates until G got it */
	uint64_t g_gen;	  /* B: G's generation (its inode's) */
};

#define G_STAT_LEN 3000 /* G's length in the stat case (F has LEN) */

/* The one byte value of the file's first @len bytes, -1 if they differ. */
static int read_one(struct ls_node *n, int fd, ssize_t *got)
{
	unsigned char buf[LEN];
	ssize_t r = pc_pread(n->e, fd, buf, LEN, 0);
	int v;

	*got = r;
	if (r <= 0)
		return r < 0 ? (int)r : 0;
	v = buf[0];
	for (ssize_t i = 1; i < r; i++)
		if (buf[i] != v)
			return -1;
	return v;
}

/*
 * Stands in for a shared file system that does not keep a file alive for
 * another machine's open: each host fd of this process that names @path
 * is pointed at a detached copy of the file (the copy is unlinked).
 */
static int unpin(struct ls_node *n, const char *path)
{
	char copy[PATH_MAX + 8], link[PATH_MAX], fdpath[64], buf[LEN];
	struct stat st, fst;
	int cfd, src, moved = 0;
	struct dirent *de;
	DIR *d;

	if (stat(path, &st))
		LS_FAIL(n, "stat %s: %s", path, strerror(errno));
	snprintf(copy, sizeof(copy), "%s.copy", path);
	src = open(path, O_RDONLY);
	cfd = open(copy, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (src < 0 || cfd < 0 || read(src, buf, LEN) != LEN || write(cfd, buf, LEN) != LEN)
		LS_FAIL(n, "copy of %s: %s", path, strerror(errno));
	close(src);
	unlink(copy);
	d = opendir("/proc/self/fd");
	if (!d)
		LS_FAIL(n, "/proc/self/fd: %s", strerror(errno));
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] == '.' || fd == cfd || fd == dirfd(d))
			continue;
		snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
		ssize_t l = readlink(fdpath, link, sizeof(link) - 1);
		if (l <= 0 || fstat(fd, &fst) || fst.st_ino != st.st_ino || fst.st_dev != st.st_dev)
			continue;
		link[l] = 0;
		if (dup2(cfd, fd) != fd)
			LS_FAIL(n, "dup2: %s", strerror(errno));
		moved++;
	}
	closedir(d);
	close(cfd);
	return moved;
}

static int node_a(struct ls_node *n)
{
	char path[700];
	struct stat st;
	int fd, v, ret = 0;
	ssize_t got;

	snprintf(path, sizeof(path), "%s/f", n->dir);
	fd = pc_open(n->e, "f", O_RDONLY, 0);
	if (fd < 0)
		LS_FAIL(n, "open f: %s", strerror(-fd));
	v = read_one(n, fd, &got);
	if (v != 'a' || got != LEN)
		LS_FAIL(n, "F reads %d x %zd", v, got);
	if (!n->sh->keep_open)
		pc_close(n->e, fd); /* cached, unused: caches outlive close */
	printf("# node A: F cached (%s), %d host fds of it moved to a detached copy\n",
	       n->sh->keep_open ? "open" : "closed", unpin(n, path));
	ls_barrier(n); /* B: unlink F, create G until it has F's number */
	ls_barrier(n);
	if (n->sh->tries < 0)
		return NO_REUSE;
	if (n->sh->stat_only) {
		/* G is root's, mode 0600: as nobody (this thread's fsuid) the
		 * stat cannot open it and takes the other path */
		int err, pfd = pc_open(n->e, "f", O_PATH, 0);
		struct file *pf = pfd >= 0 ? fdget_raw(&n->e->fdt, pfd) : NULL;
		uint64_t gen = 0;

		if (!pf)
			LS_FAIL(n, "O_PATH open of G: %s", strerror(-pfd));
		/* the name's generation without a data open: as root the
		 * store may open it for FS_IOC_GETVERSION, as nobody not */
		err = store_node_gen(pf->f_node, &gen);
		if (err || gen != n->sh->g_gen)
			LS_FAIL(n, "store_node_gen of G: %d, %llu (B's inode: %llu)", err,
				(unsigned long long)gen, (unsigned long long)n->sh->g_gen);
		setfsuid(65534);
		err = store_node_gen(pf->f_node, &gen);
		setfsuid(0);
		if (strcmp(n->e->store->gen_source, "FS_IOC_GETVERSION") == 0 && err != -EACCES)
			LS_FAIL(n, "store_node_gen of G as nobody: %d", err);
		/* the public call (a FUSE server's lookup) answers alike */
		err = pc_fgetgen(n->e, pfd, &gen);
		if (err || gen != n->sh->g_gen)
			LS_FAIL(n, "pc_fgetgen of G: %d, %llu (B's inode: %llu)", err,
				(unsigned long long)gen, (unsigned long long)n->sh->g_gen);
		setfsuid(65534);
		err = pc_fgetgen(n->e, pfd, &gen);
		setfsuid(0);
		if (strcmp(n->e->store->gen_source, "FS_IOC_GETVERSION") == 0 && err != -EACCES)
			LS_FAIL(n, "pc_fgetgen of G as nobody: %d", err);
		fdput(n->e, pf);
		pc_close(n->e, pfd);
		setfsuid(65534);
		err = pc_stat(n->e, "f", &st);
		setfsuid(0);
		if (err)
			LS_FAIL(n, "stat G: %s", strerror(-err));
		printf("# node A: stat of G by name (not openable): ino %llu, size %lld (B wrote "
		       "%d, F had %d)\n",
		       (unsigned long long)st.st_ino, (long long)st.st_size, G_STAT_LEN, LEN);
		if ((uint64_t)st.st_ino != n->sh->old_ino)
			LS_FAIL(n, "stat G: another number");
		ret = st.st_size == G_STAT_LEN ? 0 : STALE;
		pc_close(n->e, fd);
		return ret;
	}
	int g = pc_open(n->e, "f", O_RDONLY, 0);
	if (g < 0)
		LS_FAIL(n, "open G: %s", strerror(-g));
	v = read_one(n, g, &got);
	if (pc_fstat(n->e, g, &st))
		LS_FAIL(n, "fstat G");
	if (!n->hazard) {
		/* pc_fgetgen (a FUSE server's lookup, cluster mode) gives the
		 * generation the engine keys G's inode by */
		struct file *gf = fdget(&n->e->fdt, g);
		int gpath = pc_open(n->e, "f", O_PATH, 0);
		uint64_t pgen = 0, igen = gf ? gf->f_inode->i_gen : 0;
		int err = gpath >= 0 ? pc_fgetgen(n->e, gpath, &pgen) : gpath;

		if (gf)
			fdput(n->e, gf);
		if (gpath >= 0)
			pc_close(n->e, gpath);
		if (!gf || err || pgen != igen)
			LS_FAIL(n, "pc_fgetgen of G: %d, %llu (its inode: %llu)", err,
				(unsigned long long)pgen, (unsigned long long)igen);
	}
	printf("# node A: G reads %zd bytes of '%c', fstat size %lld (B wrote %d of 'b')\n", got,
	       v > 0 ? v : '?', (long long)st.st_size, LEN);
	if (v != 'b' || got != LEN || st.st_size != LEN)
		ret = STALE;
	pc_close(n->e, g);
	if (n->sh->keep_open)
		pc_close(n->e, fd);
	return ret;
}

static int node_b(struct ls_node *n)
{
	char buf[LEN], aside[32];
	struct stat st;
	int err, fd = -1;

	ls_barrier(n); /* A cached F and let go of it on the host */
	err = pc_unlink(n->e, "f");
	if (err)
		LS_FAIL(n, "unlink F: %s", strerror(-err));
	memset(buf, 'b', sizeof(buf));
	n->sh->tries = -1;
	for (int i = 1; i <= TRIES; i++) {
		fd = pc_open(n->e, "f", O_RDWR | O_CREAT | O_EXCL, n->sh->stat_only ? 0600 : 0644);
		if (fd < 0)
			LS_FAIL(n, "create: %s", strerror(-fd));
		if (pc_fstat(n->e, fd, &st))
			LS_FAIL(n, "fstat");
		if (st.st_ino == n->sh->old_ino) {
			n->sh->tries = i;
			break;
		}
		pc_close(n->e, fd);
		fd = -1;
		snprintf(aside, sizeof(aside), "x%d", i); /* keeps its number taken */
		err = pc_rename(n->e, "f", aside, 0);
		if (err)
			LS_FAIL(n, "rename: %s", strerror(-err));
	}
	if (fd >= 0) {
		/* same size as F, other bytes: only the content tells */
		ssize_t glen = n->sh->stat_only ? G_STAT_LEN : LEN;

		if (pc_pwrite(n->e, fd, buf, (size_t)glen, 0) != glen)
			LS_FAIL(n, "pwrite G");
		/* a stat that cannot open G (no glock) sees the store's size */
		if (n->sh->stat_only) {
			struct file *f = fdget(&n->e->fdt, fd);

			if (!f || pc_fsync(n->e, fd))
				LS_FAIL(n, "fsync G");
			n->sh->g_gen = f->f_inode->i_gen;
			fdput(n->e, f);
		}
		pc_close(n->e, fd);
		printf("# node B: G got F's number %llu at create %d\n",
		       (unsigned long long)n->sh->old_ino, n->sh->tries);
	}
	ls_barrier(n);
	return 0;
}

/* Both nodes' script (inode_test_no_generation on where hazard). */
static int sc_reuse(struct ls_node *n)
{
	if (n->role == 0)
		printf("# generation source: %s\n", n->e->store->gen_source);
	return n->role ? node_b(n) : node_a(n);
}

/* A fresh directory on ext4 under /var/tmp (or $PC_GEN_DIR), else a skip. */
static void ext4_store(char *dir, size_t len)
{
	const char *base = getenv("PC_GEN_DIR");
	struct statfs sf;

	snprintf(dir, len, "%s/pc-gen-XXXXXX", base && *base ? base : "/var/tmp");
	if (!mkdtemp(dir))
		test_skip("mkdtemp %s: %s", dir, strerror(errno));
	if (statfs(dir, &sf) || sf.f_type != EXT4_SUPER_MAGIC) {
		rmdir(dir);
		test_skip("%s is not ext4 (f_type 0x%lx): the test needs a file system that "
			  "reuses inode numbers",
			  dir, (unsigned long)sf.f_type);
	}
}

static void run_case(bool keep_open, bool stat_only, bool hazard, bool *sw)
{
	const char *url = nf_cluster_url();
	struct shared *sh;
	char dir[600], path[700], cmd[700], buf[LEN];
	int st[2], fd;
	struct stat sb;

	if (stat_only && geteuid() != 0)
		test_skip("the stat case makes a file the node cannot open: it needs root");
	sh = ls_shared_map(sizeof(*sh));
	ext4_store(dir, sizeof(dir));
	CHECK(chmod(dir, 0755) == 0); /* nobody may look names up (the stat case) */
	snprintf(path, sizeof(path), "%s/f", dir);
	memset(buf, 'a', sizeof(buf));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, buf, LEN), LEN);
	CHECK(fstat(fd, &sb) == 0);
	close(fd);
	sh->keep_open = keep_open;
	sh->stat_only = stat_only;
	sh->old_ino = sb.st_ino;
	sh->tries = 0;
	ls_run2(
	    &(struct ls_node){
		.dir = dir, .url = url, .hazard = hazard, .sw = sw, .fn = sc_reuse, .sh = sh},
	    st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "# %s failed\n", cmd);
	ls_shared_unmap(sh, sizeof(*sh));
	if (st[0] == NO_REUSE)
		test_skip("the host gave F's inode number to none of %d new files", TRIES);
	CHECKF(st[1] == 0, "node B exit %d", st[1]);
	if (hazard)
		CHECKF(st[0] == STALE,
		       "node A exit %d: with the switch the stale answer did not show", st[0]);
	else
		CHECKF(st[0] == 0, "node A exit %d (10: a stale read)", st[0]);
}

TEST(reused_number_after_close)
{
	run_case(false, false, false, &inode_test_no_generation);
}

TEST(reused_number_after_close_no_generation_shows_stale)
{
	run_case(false, false, true, &inode_test_no_generation);
}

TEST(reused_number_while_open)
{
	run_case(true, false, false, &inode_test_no_generation);
}

TEST(reused_number_while_open_no_generation_shows_stale)
{
	run_case(true, false, true, &inode_test_no_generation);
}

/* A holds F open; G, F's number, is not A's to open: the stat by name
 * takes the store's attributes (the generation of the name is unknown
 * without an open here: FS_IOC_GETVERSION), not A's live inode of F. */
TEST(reused_number_stat_unopenable)
{
	run_case(true, true, false, &inode_test_stat_any_generation);
}

/* inode_test_stat_any_generation: the stat shows F's size for G. */
TEST(reused_number_stat_unopenable_any_generation_shows_stale)
{
	run_case(true, true, true, &inode_test_stat_any_generation);
}

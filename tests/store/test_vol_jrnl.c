/* SPDX-License-Identifier: MIT */
/*
 * The journal logs a commit's copy-on-write metadata (commit.c): a commit
 * with no data written since the last flush makes one flush, its commit
 * point; one with data two (the ordered-data flush first). Transactions
 * chain in the journal, each after the last, so the last one - its
 * checkpoint not flushed yet - survives a torn write of the next.
 *
 * meta_commit_one_flush counts flushes at the device (vol_store_flushes):
 * create + fsync 1, a setattr + fsync 1, a data write + fsync 3 (the
 * deferred checkpoint of the three retained transactions flushes its older
 * blocks before the newest superblock goes home), the next one 2, and 2 again
 * with vol_test_meta_home_first (the metadata written home and flushed
 * first, as before); 300 creates + fsyncs wrap the journal (a flush each
 * wrap) and remount with every name. meta_commit_crash_points crashes three
 * metadata-only commits (create + fsync) at every one of their writes and
 * flushes - the device stopped, or a volatile write cache losing, tearing and
 * reordering what was not flushed (io.c) - and wants fsck clean and the
 * names of a prefix of the commits, every fsync'd one included; with
 * vol_test_jrnl_no_chain (each transaction over the last) the same points
 * find damage. replay_refuses_bad_homes: a valid transaction naming the
 * superblock, a journal block, mkfs's free-tree block or the backup
 * superblock is refused at mount (-EUCLEAN); one naming a data-area block
 * is replayed there.
 *
 * Locks: none beyond the store calls' own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "fixture.h"
#include "store/vol/vol.h"
#include "store/vol/vstore.h"

#define BS 4096

static void mk(struct store *s, const char *p)
{
	struct store_inode *si;
	CHECK_EQ(store_create(s, p, 0644, &si), 0);
	store_release(si);
}

/* create + fsync: the flushes it made */
static unsigned long create_sync(struct store *s, const char *p)
{
	struct store_inode *si;
	CHECK_EQ(store_create(s, p, 0644, &si), 0);
	unsigned long f0 = vol_store_flushes(s);
	CHECK_EQ(store_sync(si, false), 0);
	store_release(si);
	return vol_store_flushes(s) - f0;
}

TEST(meta_commit_one_flush)
{
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_inode *si;
	char buf[BS], p[32];

	CHECK_EQ(store_mkdir(s, "d", 0755), 0);
	CHECK_EQ(create_sync(s, "d/a"), 2); /* the first commit of a mount flushes first */
	unsigned long m0 = VS(s)->jmeta;
	CHECK_EQ(create_sync(s, "d/b"), 1);
	CHECK(VS(s)->jmeta > m0); /* its directory block and trees went through the journal */
	struct store_setattr sa = {.valid = STORE_ATTR_MODE, .mode = 0600};
	CHECK_EQ(store_setattr(s, "d/b", &sa), 0);
	CHECK_EQ(store_open(s, "d/b", O_RDWR, 0, &si), 0);
	unsigned long f0 = vol_store_flushes(s);
	CHECK_EQ(store_sync(si, false), 0);
	CHECK_EQ(vol_store_flushes(s) - f0, 1);
	/* data: the ordered-data flush, then the commit point; the deferred
	 * checkpoint goes before the first, with a flush of its own between
	 * the older transactions' blocks and the newest superblock
	 * (checkpoint.c's ordering rule; three are retained here) */
	memset(buf, 0x6b, sizeof(buf));
	CHECK_EQ(store_write(si, buf, BS, 0), BS);
	CHECK_EQ(VS(s)->v->ck.n, 3);
	f0 = vol_store_flushes(s);
	CHECK_EQ(store_sync(si, false), 0);
	CHECK_EQ(vol_store_flushes(s) - f0, 3);
	/* again: only this commit's transaction is retained, no checkpoint flush */
	CHECK_EQ(VS(s)->v->ck.n, 1);
	CHECK_EQ(store_write(si, buf, BS, 0), BS);
	f0 = vol_store_flushes(s);
	CHECK_EQ(store_sync(si, false), 0);
	CHECK_EQ(vol_store_flushes(s) - f0, 2);
	store_release(si);
	/* the old path: metadata home, flushed, then the journal */
	vol_test_meta_home_first = true;
	m0 = VS(s)->jmeta;
	unsigned long old = create_sync(s, "d/c");
	vol_test_meta_home_first = false;
	CHECK_EQ(old, 2);
	CHECK_EQ(VS(s)->jmeta, m0);
	CHECK_EQ(create_sync(s, "d/e"), 1); /* chained after the old path's transaction */
	/* many: the journal wraps, a flush each time */
	unsigned long total = 0, n = test_scale(300, 3);
	for (unsigned long i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "d/n%lu", i);
		total += create_sync(s, p);
	}
	printf("# %lu creates + fsyncs: %lu flushes (%lu journal blocks)\n", n, total,
	       (unsigned long)VS(s)->v->sb.journal_blocks);
	CHECK(total > n);	       /* wrapped at least once */
	CHECK(total < n + n / 10 + 1); /* but mostly one flush each */
	/* a crash now (the device stopped): the chain is replayed at mount */
	vol_store_stop_at(s, 1);
	store_close(s);
	vol_fsck_clean();
	s = vol_mount_img();
	struct stat st;
	for (unsigned long i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "d/n%lu", i);
		CHECK_EQ(store_getattr(s, p, &st), 0);
	}
	CHECK_EQ(store_getattr(s, "d/b", &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0600);
	CHECK_EQ(st.st_size, BS);
	store_close(s);
	vol_fsck_clean();
}

/* ---- crashes at every point of metadata-only commits ---- */

#define NCOMMIT 3

static void base_image(void)
{
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	char p[32];
	CHECK_EQ(store_mkdir(s, "d", 0755), 0);
	for (int i = 0; i < 40; i++) {
		snprintf(p, sizeof(p), "d/f%d", i);
		mk(s, p);
	}
	store_close(s);
}

/* kind 0: the device stopped at write @at; 1: a volatile-cache crash at
 * write @at; 2: at flush @at (0: no crash). *synced: the commits whose fsync
 * returned 0. *writes / *flushes (optional): what the run issued. */
static void crash_run(int kind, long at, uint64_t seed, int *synced, unsigned long *writes,
		      unsigned long *flushes)
{
	struct store *s = vol_mount_img();
	struct vol_wc_stats st;
	char p[32];

	if (kind == 0 && at)
		vol_store_stop_at(s, at);
	else if (at)
		CHECK_EQ(
		    vol_store_wcache(s, seed, kind == 1 ? at : 0, kind == 2 ? at : 0, false, &st),
		    0);
	unsigned long w0 = vol_store_writes(s), f0 = vol_store_flushes(s);
	*synced = 0;
	for (int c = 0; c < NCOMMIT; c++) {
		struct store_inode *si;
		snprintf(p, sizeof(p), "d/x%d", c);
		if (store_create(s, p, 0644, &si))
			break;
		int r = store_sync(si, false);
		store_release(si);
		if (r)
			break;
		*synced = c + 1;
	}
	if (writes)
		*writes = vol_store_writes(s) - w0;
	if (flushes)
		*flushes = vol_store_flushes(s) - f0;
	if (at == 0)
		vol_store_stop_at(s, 1); /* the dry run: a crash after its commits */
	store_close(s);
}

/* After a crash: fsck clean, the base names, the names of a prefix of the
 * commits covering every fsync'd one. */
static bool crash_ok(int synced, FILE *report)
{
	if (vol_fsck(vol_img, false, report) != VOL_FSCK_CLEAN)
		return false;
	struct store *s;
	if (store_open_vol(vol_img, &s))
		return false;
	struct stat st;
	char p[32];
	bool ok = true;
	for (int i = 0; ok && i < 40; i++) {
		snprintf(p, sizeof(p), "d/f%d", i);
		ok = store_getattr(s, p, &st) == 0;
	}
	int have = 0;
	for (int c = 0; c < NCOMMIT; c++) {
		snprintf(p, sizeof(p), "d/x%d", c);
		if (store_getattr(s, p, &st) == 0) {
			ok &= have == c; /* a prefix: the commits in order */
			have = c + 1;
		}
	}
	ok &= have >= synced;
	store_close(s);
	return ok && vol_fsck(vol_img, false, report) == VOL_FSCK_CLEAN;
}

/* Every write and flush position of the three commits, each with @seeds
 * volatile-cache seeds; the damaged points. */
static unsigned long crash_points(unsigned seeds, uint64_t seed, FILE *report)
{
	unsigned long writes, flushes, damaged = 0, points = 0;
	int synced;

	base_image();
	char base[2300];
	snprintf(base, sizeof(base), "%s.base", vol_img);
	CHECK_EQ(rename(vol_img, base), 0);
	char cmd[4700];
	snprintf(cmd, sizeof(cmd), "cp --sparse=always '%s' '%s'", base, vol_img);
	CHECK_EQ(system(cmd), 0);
	crash_run(0, 0, 0, &synced, &writes, &flushes);
	CHECK_EQ(synced, NCOMMIT);
	for (int kind = 0; kind < 3; kind++) {
		long n = kind == 2 ? (long)flushes : (long)writes;
		for (long at = 1; at <= n; at++)
			for (unsigned k = 0; k < (kind ? seeds : 1); k++) {
				CHECK_EQ(system(cmd), 0);
				crash_run(kind, at, seed + (uint64_t)points, &synced, NULL, NULL);
				bool ok = crash_ok(synced, report);
				damaged += !ok;
				points++;
				if (!ok && report)
					printf("# damaged: kind %d at %ld seed %#llx\n", kind, at,
					       (unsigned long long)(seed + points - 1));
			}
	}
	printf("# %lu crash points over %lu writes and %lu flushes of %d commits: %lu damaged\n",
	       points, writes, flushes, NCOMMIT, damaged);
	unlink(base);
	return damaged;
}

TEST(meta_commit_crash_points)
{
	unsigned seeds = (unsigned)test_scale(8, 4);
	uint64_t seed = test_seed();
	CHECK_EQ(crash_points(seeds, seed, stderr), 0);
	/* the hazard: each transaction written over the last one, whose
	 * checkpoint a volatile cache may not have kept (a few points in 200
	 * show it: up to 8 rounds of other seeds) */
	vol_test_jrnl_no_chain = true;
	unsigned long bad = 0;
	for (int round = 1; !bad && round <= 8; round++)
		bad = crash_points(seeds, seed + (uint64_t)round * 1000003, NULL);
	vol_test_jrnl_no_chain = false;
	CHECK(bad > 0);
}

/* ---- replay's rule for homes ---- */

/* A valid transaction logging one block (content @fill) for @home, with
 * the image's superblock (generation + 1). */
static void put_txn(uint64_t home, int fill)
{
	int fd = open(vol_img, O_RDWR);
	CHECK(fd >= 0);
	char *jb = calloc(3, BS);
	struct vol_super sb;
	const char *why = NULL;
	CHECK_EQ(pread(fd, jb, BS, 0), BS);
	CHECK_EQ(vol_super_decode(&sb, jb, &why), 0);
	memset(jb, 0, BS);
	sb.generation++;
	struct vol_jdesc *jd = (struct vol_jdesc *)jb;
	jd->magic = VOL_JRNL_MAGIC;
	jd->seq = sb.generation;
	memcpy(jd->uuid, sb.uuid, 16);
	jd->nr = 2;
	jd->home[0] = home;
	jd->home[1] = 0;
	memset(jb + BS, fill, BS);
	vol_super_encode(&sb, jb + 2 * BS);
	jd->crc = vol_crc32c(0, jb, 3 * BS);
	CHECK_EQ(pwrite(fd, jb, 3 * BS, (off_t)(sb.journal_start * BS)), 3 * BS);
	free(jb);
	close(fd);
}

TEST(replay_refuses_bad_homes)
{
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct vol_super sb = VS(s)->v->sb;
	store_close(s);
	uint64_t bad[] = {0,
			  sb.journal_start,
			  sb.journal_start + sb.journal_blocks - 1,
			  sb.data_start - 1,
			  sb.nblocks - 1,
			  sb.nblocks};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vol_new_image(16 << 20, 0);
		put_txn(bad[i], 0x11);
		CHECK_EQ(store_open_vol(vol_img, &s), -EUCLEAN);
		CHECK_EQ(vol_fsck(vol_img, false, NULL), VOL_FSCK_UNREPAIRED);
	}
	/* a free data-area block: replayed there, the volume still clean */
	vol_new_image(16 << 20, 0);
	uint64_t b = sb.nblocks - 2;
	put_txn(b, 0x5c);
	s = vol_mount_img();
	char got[BS];
	int fd = open(vol_img, O_RDONLY);
	CHECK_EQ(pread(fd, got, BS, (off_t)(b * BS)), BS);
	close(fd);
	CHECK(got[0] == 0x5c && got[BS - 1] == 0x5c);
	store_close(s);
	vol_fsck_clean();
}

/* SPDX-License-Identifier: MIT */
/*
 * The journal's deferred checkpoint (checkpoint.c): a metadata-only commit
 * writes its transaction and flushes, nothing else; the logged blocks go
 * home before the journal space is reused (the flush that restarts the
 * chain) or at unmount.
 *
 * fsync_writes_the_journal_only: after the first commit of a mount, each
 * create + fsync makes one image write (the transaction) and one flush;
 * a crash after them (the device stopped: nothing went home) is replayed
 * at mount with every name, fsck clean; a clean unmount writes them home
 * (checkpointed blocks counted) and leaves an image fsck finds clean.
 *
 * freed_logged_block_reused: a block one commit logged and the next freed
 * is handed out again for file data; the commit that makes the data durable
 * flushes first and so writes the deferred checkpoint, which must skip the
 * freed block: the data reads back intact after a remount.
 * vol_test_ckpt_keep_freed (the freed block stays a checkpoint target)
 * shows the hazard: the stale logged copy lands over the data.
 *
 * freed_logged_block_reused_after_a_flush: the same, with a flush of the
 * device between the data writes and the fsync (another commit's flush
 * racing the writes makes one): no write is waiting for a flush, but the
 * commit must still start the chain again, else replay writes the logged
 * copy of the transaction that the chain still holds over the data.
 * vol_test_chain_after_write (the commit goes on with the chain) shows it.
 *
 * stop_inside_the_checkpoint: metadata-only commits in NDIRS directories
 * (each transaction the newest copy of its directory's blocks), then the
 * checkpoint - at unmount, or before the flush of a data fsync that starts
 * the chain again - with the device stopped at each of its writes in
 * turn: fsck clean after replay and every fsync'd name there. The
 * regression case of test_vol_crash's seed 0xdd753bc4bf168a94 (stop point
 * 142): the newest superblock went home before an older transaction's
 * blocks, so replay skipped that transaction. vol_test_ckpt_sb_unordered
 * (one pass, newest first, no flush before the newest superblock) shows
 * it: damaged volumes at the stops between them.
 *
 * Locks: none beyond the store calls' own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "fixture.h"
#include "store/vol/vol.h"
#include "store/vol/volume.h"
#include "store/vol/vstore.h"

#define BS 4096

static void create_sync(struct store *s, const char *p, unsigned long *writes,
			unsigned long *flushes)
{
	struct store_inode *si;
	CHECK_EQ(store_create(s, p, 0644, &si), 0);
	unsigned long w0 = vol_store_writes(s), f0 = vol_store_flushes(s);
	CHECK_EQ(store_sync(si, false), 0);
	store_release(si);
	if (writes)
		*writes = vol_store_writes(s) - w0;
	if (flushes)
		*flushes = vol_store_flushes(s) - f0;
}

TEST(fsync_writes_the_journal_only)
{
	unsigned long w, f, n = test_scale(40, 10);
	char p[32];
	struct stat st;

	vol_new_image(64 << 20, 0);
	struct store *s = vol_mount_img();
	CHECK_EQ(store_mkdir(s, "d", 0755), 0);
	create_sync(s, "d/first", NULL, NULL); /* the first commit of a mount flushes first */
	unsigned long ck0 = __atomic_load_n(&vol_ckpt_blocks_written, __ATOMIC_RELAXED);
	for (unsigned long i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "d/f%lu", i);
		create_sync(s, p, &w, &f);
		CHECK_EQ(w, 1); /* the transaction, no checkpoint */
		CHECK_EQ(f, 1); /* its commit point */
	}
	CHECK_EQ(__atomic_load_n(&vol_ckpt_blocks_written, __ATOMIC_RELAXED), ck0);
	CHECK_EQ(VS(s)->v->ck.n, n + 1);
	printf("# %lu creates + fsyncs: 1 write and 1 flush each, %zu transactions retained\n", n,
	       VS(s)->v->ck.n);
	vol_store_stop_at(s, 1); /* a crash: nothing of them went home */
	store_close(s);
	vol_fsck_clean(); /* replays the chain */
	s = vol_mount_img();
	for (unsigned long i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "d/f%lu", i);
		CHECK_EQ(store_getattr(s, p, &st), 0);
	}
	for (unsigned long i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "d/g%lu", i);
		create_sync(s, p, NULL, NULL);
	}
	ck0 = __atomic_load_n(&vol_ckpt_blocks_written, __ATOMIC_RELAXED);
	store_close(s); /* clean: the checkpoint written and flushed */
	unsigned long ck = __atomic_load_n(&vol_ckpt_blocks_written, __ATOMIC_RELAXED) - ck0;
	printf("# unmount checkpointed %lu blocks for %lu transactions\n", ck, n);
	CHECK(ck > 0);
	CHECK(ck < 4 * n); /* the newest copy of each block, once */
	vol_fsck_clean();
	s = vol_mount_img();
	for (unsigned long i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "d/g%lu", i);
		CHECK_EQ(store_getattr(s, p, &st), 0);
	}
	store_close(s);
	vol_fsck_clean();
}

static uint64_t first_pblk(struct store_inode *si)
{
	struct vnode *n = si->private;
	struct vol_extmap_iter it;
	const struct vol_ext *e = vol_extmap_first(&n->map, &it);
	return e ? e->pblk : 0;
}

/* Whether a retained transaction logged block @b. */
static bool logged(struct vol *v, uint64_t b)
{
	for (size_t t = 0; t < v->ck.n; t++) {
		const struct vol_jdesc *jd = (const struct vol_jdesc *)v->ck.tx[t];
		for (uint32_t k = 0; k < jd->nr; k++)
			if (jd->home[k] == b)
				return true;
	}
	return false;
}

#define NDATA 8

/* Commits that log and then free metadata blocks, then NDATA one-block
 * files written into the lowest free blocks and fsync'd (the deferred
 * checkpoint goes before that commit's flush); remount and compare: the
 * bytes that differ. @flushed: a flush of the device between the writes
 * and the fsync, as another commit's flush racing the writes makes. */
static long reuse_logged_blocks_flushed(bool flushed)
{
	char b[BS], got[BS], p[32];
	struct store_inode *si[NDATA];
	int reused = 0;
	long bad = 0;

	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	CHECK_EQ(store_mkdir(s, "d", 0755), 0);
	for (int i = 0; i < 6; i++) { /* each replaces the last one's tree blocks */
		snprintf(p, sizeof(p), "d/m%d", i);
		create_sync(s, p, NULL, NULL);
	}
	for (int i = 0; i < NDATA; i++) {
		snprintf(p, sizeof(p), "x%d", i);
		si[i] = create(s, p);
		memset(b, 'A' + i, BS);
		CHECK_EQ(store_write(si[i], b, BS, 0), BS);
		reused += logged(VS(s)->v, first_pblk(si[i]));
	}
	printf("# %d of %d data blocks went to blocks a retained transaction logged\n", reused,
	       NDATA);
	CHECK(reused > 0); /* the case under test happened */
	if (flushed)	   /* the data durable, but the commit naming it still to come */
		CHECK_EQ(vol_dev_flush(&VS(s)->v->dev, VS(s)->v->fd), 0);
	CHECK_EQ(store_sync(si[0], false), 0); /* flushes first: the deferred checkpoint */
	for (int i = 0; i < NDATA; i++)
		store_release(si[i]);
	vol_store_stop_at(s, 1); /* a crash: nothing more written */
	store_close(s);
	s = vol_mount_img();
	for (int i = 0; i < NDATA; i++) {
		struct store_inode *r;
		snprintf(p, sizeof(p), "x%d", i);
		CHECK_EQ(store_open(s, p, O_RDONLY, 0, &r), 0);
		CHECK_EQ(store_read(r, got, BS, 0), BS);
		for (int k = 0; k < BS; k++)
			bad += got[k] != 'A' + i;
		store_release(r);
	}
	store_close(s);
	return bad;
}

static long reuse_logged_blocks(void)
{
	return reuse_logged_blocks_flushed(false);
}

TEST(freed_logged_block_reused)
{
	CHECK_EQ(reuse_logged_blocks(), 0);
	vol_fsck_clean();
}

TEST(freed_logged_block_reused_after_a_flush)
{
	CHECK_EQ(reuse_logged_blocks_flushed(true), 0);
	vol_fsck_clean();
}

TEST(hazard_chain_after_write_overwrites_data)
{
	vol_test_chain_after_write = true;
	long bad = reuse_logged_blocks_flushed(true);
	vol_test_chain_after_write = false;
	printf("# the chain kept after a flushed write: %ld bytes wrong after replay\n", bad);
	CHECK(bad > 0);
}

TEST(hazard_ckpt_keep_freed_overwrites_data)
{
	vol_test_ckpt_keep_freed = true;
	long bad = reuse_logged_blocks();
	vol_test_ckpt_keep_freed = false;
	printf("# stale logged copies written over reused blocks: %ld bytes wrong\n", bad);
	CHECK(bad > 0);
}

#define NDIRS 6

/* Directories, then a create + fsync in each (one transaction each), then
 * the checkpoint (@data: a data write + fsync restarts the chain; else the
 * unmount) with the device stopped at its @stop-th write (0: never).
 * Returns whether fsck found the volume damaged; the names are checked
 * when it is clean. *ckpt: blocks the checkpoint wrote (stop 0). */
static bool stop_in_ckpt(bool data, long stop, unsigned long *ckpt)
{
	char p[32], b[BS];
	struct stat st;

	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	for (int i = 0; i < NDIRS; i++) {
		snprintf(p, sizeof(p), "d%d", i);
		CHECK_EQ(store_mkdir(s, p, 0755), 0);
	}
	create_sync(s, "first", NULL, NULL); /* the first commit: the chain starts */
	for (int i = 0; i < NDIRS; i++) {
		snprintf(p, sizeof(p), "d%d/f", i);
		create_sync(s, p, NULL, NULL);
	}
	CHECK_EQ(VS(s)->v->ck.n, NDIRS + 1);
	unsigned long ck0 = __atomic_load_n(&vol_ckpt_blocks_written, __ATOMIC_RELAXED);
	struct store_inode *si = NULL;
	if (data) {
		si = create(s, "data");
		memset(b, 0x5d, BS);
		CHECK_EQ(store_write(si, b, BS, 0), BS);
	}
	if (stop)
		vol_store_stop_at(s, stop);
	if (data) {
		int r = store_sync(si, false);
		CHECK(r == 0 || (stop && r == -EIO));
		store_release(si);
	}
	store_close(s);
	*ckpt = __atomic_load_n(&vol_ckpt_blocks_written, __ATOMIC_RELAXED) - ck0;
	FILE *devnull = fopen("/dev/null", "w");
	CHECK(devnull != NULL);
	int r = vol_fsck(vol_img, false, vol_test_ckpt_sb_unordered ? devnull : stderr);
	fclose(devnull);
	if (r != VOL_FSCK_CLEAN) {
		CHECKF(vol_test_ckpt_sb_unordered, "%s, stop at write %ld: fsck %d",
		       data ? "data fsync" : "unmount", stop, r);
		return true;
	}
	s = vol_mount_img();
	CHECK_EQ(store_getattr(s, "first", &st), 0);
	for (int i = 0; i < NDIRS; i++) {
		snprintf(p, sizeof(p), "d%d/f", i);
		CHECKF(store_getattr(s, p, &st) == 0, "%s, stop at write %ld: %s lost",
		       data ? "data fsync" : "unmount", stop, p);
	}
	store_close(s);
	return false;
}

/* Every stop point inside the checkpoint of both triggers: how many left
 * a damaged volume. */
static long stops_in_ckpt(void)
{
	long damaged = 0, points = 0;

	for (int data = 0; data < 2; data++) {
		unsigned long w;
		CHECK(!stop_in_ckpt(data, 0, &w)); /* the whole checkpoint: w blocks */
		CHECK(w > NDIRS);
		for (long stop = 1; stop <= (long)w + 2; stop++, points++)
			damaged += stop_in_ckpt(data, stop, &(unsigned long){0});
	}
	printf("# %ld stop points inside the checkpoint: %ld damaged volumes\n", points, damaged);
	return damaged;
}

TEST(stop_inside_the_checkpoint)
{
	CHECK_EQ(stops_in_ckpt(), 0);
}

TEST(hazard_ckpt_sb_unordered_skips_a_transaction)
{
	vol_test_ckpt_sb_unordered = true;
	long damaged = stops_in_ckpt();
	vol_test_ckpt_sb_unordered = false;
	CHECK(damaged > 0);
}

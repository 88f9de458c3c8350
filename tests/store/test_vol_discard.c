/* SPDX-License-Identifier: MIT */
/*
 * Image discard (discard.c): blocks a durable commit freed are punched out
 * of the image file, so after writing and deleting a file the image's
 * allocated size (st_blocks) is within 10% of the volume's used space; a
 * volume with discard off keeps them allocated. Freed blocks still belong
 * to the durable state until the freeing commit is durable: a crash after
 * a truncate that never committed keeps every fsync'd byte.
 * vol_test_discard_at_release punches at release instead, and the crash
 * check then finds zeroes.
 *
 * The punches are deferred (discard.c's queue, drained by the commit timer
 * or here by hand): reused_block_survives_the_drain frees a file's blocks
 * (a durable commit queues their punch), writes a new file into the same
 * blocks (the allocator hands the lowest free ones out again, which cancels
 * their queued punch), drains the queue, remounts and reads the new file
 * back intact; vol_test_discard_no_fence (allocation leaves the queue
 * alone) makes the drain punch the reused blocks and the read finds
 * zeroes. queue_drains_later: a commit that frees blocks punches nothing
 * itself; the drain punches them. drain_races_reuse: a thread drains the
 * queue without pause while files are written, fsync'd and unlinked (their
 * blocks freed, queued and reused); every live file reads back intact
 * after a remount, fsck clean (and TSan sees the locking).
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "harness.h"
#include "fixture.h"
#include "store/vol/vol.h"
#include "store/vol/volume.h"
#include "store/vol/vstore.h"

#define BS    4096
#define CHUNK (1 << 20)

static void pattern(char *b, size_t len, size_t base)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (char)((base + i) * 131 + 7 + ((base + i) >> 12));
}

static uint64_t allocated(void)
{
	struct stat st;
	CHECK_EQ(stat(vol_img, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static uint64_t used(struct store *s)
{
	struct statvfs sv;
	CHECK_EQ(store_statfs(s, &sv), 0);
	return (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
}

/* Writes 4 MiB to "keep" and @mib MiB to "f" (fsync'd), then unlinks "f"
 * and commits (an fsync); returns the image's allocated bytes minus the
 * used space. */
static int64_t write_delete(struct store *s, size_t mib, uint64_t *peak)
{
	char *b = malloc(CHUNK);
	struct store_inode *si = create(s, "keep");
	for (size_t k = 0; k < 4; k++) {
		pattern(b, CHUNK, k * CHUNK);
		CHECK_EQ(store_write(si, b, CHUNK, (int64_t)(k * CHUNK)), CHUNK);
	}
	CHECK_EQ(store_sync(si, false), 0);
	store_release(si);
	si = create(s, "f");
	for (size_t k = 0; k < mib; k++) {
		pattern(b, CHUNK, k * CHUNK);
		CHECK_EQ(store_write(si, b, CHUNK, (int64_t)(k * CHUNK)), CHUNK);
	}
	CHECK_EQ(store_sync(si, false), 0);
	*peak = allocated();
	store_release(si);
	CHECK_EQ(store_unlink(s, "f"), 0);
	si = create(s, "g"); /* a commit through an fsync */
	CHECK_EQ(store_sync(si, false), 0);
	store_release(si);
	vol_discard_run(VS(s)->v); /* the commit timer's part */
	free(b);
	return (int64_t)allocated() - (int64_t)used(s);
}

TEST(write_delete_image_shrinks)
{
	size_t mib = test_scale(96, 3);
	uint64_t peak;
	vol_new_image((int64_t)(mib + 64) << 20, 0);
	struct store *s = vol_mount_img();
	uint64_t d0 = __atomic_load_n(&vol_discarded_blocks, __ATOMIC_RELAXED);
	int64_t excess = write_delete(s, mib, &peak);
	uint64_t u = used(s);
	/* at least the deleted file's blocks were punched */
	CHECK(__atomic_load_n(&vol_discarded_blocks, __ATOMIC_RELAXED) - d0 >= (mib << 20) / BS);
	printf("# 4 MiB kept, %zu MiB written and deleted: peak %llu KiB allocated, now %llu KiB "
	       "allocated, %llu KiB used\n",
	       mib, (unsigned long long)peak >> 10, (unsigned long long)allocated() >> 10,
	       (unsigned long long)u >> 10);
	fflush(stdout);
	CHECK(peak >= (uint64_t)(mib + 4) << 20);
	CHECK(u >= 4 << 20);
	CHECK(excess <= (int64_t)(u / 10)); /* within 10% of the used space */
	store_close(s);
	vol_fsck_clean();
}

TEST(discard_off_keeps_blocks)
{
	size_t mib = test_scale(32, 2);
	uint64_t peak;
	vol_new_image((int64_t)(mib + 64) << 20, 0);
	struct store *s = vol_mount_img();
	vol_set_discard(VS(s)->v, VOL_DISCARD_OFF);
	uint64_t d0 = __atomic_load_n(&vol_discarded_blocks, __ATOMIC_RELAXED);
	int64_t excess = write_delete(s, mib, &peak);
	CHECK_EQ(__atomic_load_n(&vol_discarded_blocks, __ATOMIC_RELAXED), d0);
	CHECK(excess >= (int64_t)(mib << 20) * 9 / 10);
	store_close(s);
	vol_fsck_clean();
}

/* Write + fsync 4 MiB, truncate to 0 (pending frees), a crash; the bytes
 * that differ from the fsync'd file after remount. */
static long truncate_then_crash(void)
{
	size_t len = 4 << 20;
	char *a = malloc(len), *b = malloc(len);
	vol_new_image(32 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_inode *si = create(s, "f");
	pattern(a, len, 0);
	CHECK_EQ(store_write(si, a, len, 0), (ssize_t)len);
	CHECK_EQ(store_sync(si, false), 0);
	CHECK_EQ(store_setsize(si, 0), 0);
	store_release(si);
	vol_store_stop_at(s, 1);
	store_close(s); /* the final commit fails: a crash */
	s = vol_mount_img();
	CHECK_EQ(store_open(s, "f", O_RDONLY, 0, &si), 0);
	CHECK_EQ(store_size(si), (int64_t)len);
	CHECK_EQ(store_read(si, b, len, 0), (ssize_t)len);
	long bad = 0;
	for (size_t i = 0; i < len; i++)
		bad += a[i] != b[i];
	store_release(si);
	store_close(s);
	free(a);
	free(b);
	return bad;
}

TEST(crash_before_commit_keeps_freed_data)
{
	CHECK_EQ(truncate_then_crash(), 0);
}

TEST(hazard_discard_at_release_loses_data)
{
	vol_test_discard_at_release = true;
	long bad = truncate_then_crash();
	vol_test_discard_at_release = false;
	printf("# punched at release: %ld bytes lost\n", bad);
	CHECK(bad > 0);
}

/* The first physical block of the file's data. */
static uint64_t first_pblk(struct store_inode *si)
{
	struct vnode *n = si->private;
	struct vol_extmap_iter it;
	const struct vol_ext *e = vol_extmap_first(&n->map, &it);
	CHECK(e != NULL);
	return e ? e->pblk : 0;
}

/* Frees 64 KiB of "a" by a durable commit, writes and fsyncs 64 KiB of "b"
 * into the same blocks, drains the discard queue, remounts: the bytes of b
 * that differ from what was written (all of them when the volume no longer
 * mounts: the punch hit reused metadata too). */
static long reuse_then_drain(void)
{
	size_t len = 64 << 10;
	char *a = malloc(len), *b = malloc(len);
	uint64_t qb, qe;

	vol_new_image(32 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_inode *si = create(s, "a");
	pattern(a, len, 0);
	CHECK_EQ(store_write(si, a, len, 0), (ssize_t)len);
	CHECK_EQ(store_sync(si, false), 0);
	uint64_t freed = first_pblk(si);
	store_release(si);
	CHECK_EQ(store_unlink(s, "a"), 0);
	si = create(s, "x"); /* the commit that frees a's blocks */
	CHECK_EQ(store_sync(si, false), 0);
	store_release(si);
	vol_discard_queued(VS(s)->v, &qb, &qe);
	CHECK(qb >= len / BS); /* queued, not punched by the fsync */

	si = create(s, "b");
	pattern(b, len, 12345);
	CHECK_EQ(store_write(si, b, len, 0), (ssize_t)len);
	CHECK_EQ(store_sync(si, false), 0);
	uint64_t reused = first_pblk(si);
	printf("# a's data at block %llu freed, b's data at %llu\n", (unsigned long long)freed,
	       (unsigned long long)reused);
	CHECK_EQ(reused, freed); /* the allocator handed the freed blocks out again */
	store_release(si);
	vol_discard_run(VS(s)->v); /* what the commit timer would do now */
	store_close(s);

	long bad = 0;
	int r = store_open_vol(vol_img, &s);
	if (r) {
		printf("# remount: %s\n", strerror(-r));
		bad = (long)len;
		goto out;
	}
	CHECK_EQ(store_open(s, "b", O_RDONLY, 0, &si), 0);
	memset(a, 0, len);
	CHECK_EQ(store_read(si, a, len, 0), (ssize_t)len);
	for (size_t i = 0; i < len; i++)
		bad += a[i] != b[i];
	store_release(si);
	store_close(s);
	if (!vol_test_discard_no_fence)
		vol_fsck_clean();
out:
	free(a);
	free(b);
	return bad;
}

TEST(reused_block_survives_the_drain)
{
	CHECK_EQ(reuse_then_drain(), 0);
}

TEST(hazard_discard_no_fence_zeroes_reused_block)
{
	vol_test_discard_no_fence = true;
	long bad = reuse_then_drain();
	vol_test_discard_no_fence = false;
	printf("# queued punch not cancelled by the reuse: %ld bytes lost\n", bad);
	CHECK(bad > 0);
}

TEST(queue_drains_later)
{
	size_t len = 1 << 20;
	char *b = malloc(len);
	uint64_t qb, qe;

	vol_new_image(32 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_inode *si = create(s, "f");
	pattern(b, len, 0);
	CHECK_EQ(store_write(si, b, len, 0), (ssize_t)len);
	CHECK_EQ(store_sync(si, false), 0);
	store_release(si);
	uint64_t peak = allocated();
	CHECK_EQ(store_unlink(s, "f"), 0);
	uint64_t d0 = __atomic_load_n(&vol_discarded_blocks, __ATOMIC_RELAXED);
	si = create(s, "g");
	CHECK_EQ(store_sync(si, false), 0); /* frees f's blocks */
	store_release(si);
	CHECK_EQ(__atomic_load_n(&vol_discarded_blocks, __ATOMIC_RELAXED), d0);
	vol_discard_queued(VS(s)->v, &qb, &qe);
	CHECK(qb >= len / BS);
	CHECK(allocated() + len / 2 > peak); /* still allocated in the host */
	CHECK(vol_discard_run(VS(s)->v) >= len / BS);
	vol_discard_queued(VS(s)->v, &qb, &qe);
	CHECK_EQ(qb, 0);
	CHECK(allocated() + len / 2 <= peak); /* punched now */
	store_close(s);
	vol_fsck_clean();
	free(b);
}

static struct {
	struct vol *v;
	int stop;
	unsigned long runs;
} dr;

static void *drainer(void *arg)
{
	while (!__atomic_load_n(&dr.stop, __ATOMIC_ACQUIRE)) {
		vol_discard_run(dr.v);
		dr.runs++;
	}
	return NULL;
}

TEST(drain_races_reuse)
{
	const int rounds = (int)test_scale(60, 15), blocks = 8;
	char *b = malloc(blocks * BS), *got = malloc(blocks * BS), p[32];
	struct store_inode *si;
	pthread_t t;

	vol_new_image(32 << 20, 0);
	struct store *s = vol_mount_img();
	dr.v = VS(s)->v;
	dr.stop = 0;
	dr.runs = 0;
	CHECK_EQ(pthread_create(&t, NULL, drainer, NULL), 0);
	for (int r = 0; r < rounds; r++) {
		snprintf(p, sizeof(p), "f%d", r);
		si = create(s, p);
		pattern(b, blocks * BS, (size_t)r * 7919);
		for (int k = 0; k < blocks; k++) /* block by block: the lowest free ones */
			CHECK_EQ(store_write(si, b + k * BS, BS, (int64_t)k * BS), BS);
		CHECK_EQ(store_sync(si, false), 0);
		store_release(si);
		if (r % 2) { /* free the previous one: its blocks queued, then reused */
			snprintf(p, sizeof(p), "f%d", r - 1);
			CHECK_EQ(store_unlink(s, p), 0);
		}
	}
	__atomic_store_n(&dr.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	printf("# %d rounds beside %lu drains\n", rounds, dr.runs);
	store_close(s);
	vol_fsck_clean();
	s = vol_mount_img();
	long bad = 0;
	for (int r = 1; r < rounds; r += 2) {
		snprintf(p, sizeof(p), "f%d", r);
		CHECK_EQ(store_open(s, p, O_RDONLY, 0, &si), 0);
		CHECK_EQ(store_read(si, got, blocks * BS, 0), blocks * BS);
		pattern(b, blocks * BS, (size_t)r * 7919);
		for (int i = 0; i < blocks * BS; i++)
			bad += got[i] != b[i];
		store_release(si);
	}
	CHECK_EQ(bad, 0);
	store_close(s);
	free(b);
	free(got);
}

/* SPDX-License-Identifier: MIT */
/*
 * The reference-count tree against the extent maps (refcount.c): a count
 * written wrong - too high (a block mapped twice counted three times, an
 * unshared block counted twice: space that would never be freed) or too
 * low (a block mapped twice counted once: the first unmap would free a
 * block still mapped) - is refused by mount, reported by fsck -n and
 * rewritten by fsck -y, after which the volume checks clean and behaves:
 * every block is freed exactly with its last mapping and nothing is
 * reused while mapped. Without the repair the hazard shows: after a count
 * too low, unlinking one file of the pair frees the other's blocks and a
 * new file overwrites them; after a count too high, unlinking both leaks
 * the block. The counts are corrupted through the store's own tree (a
 * commit writes them, checksummed, as a buggy binary would).
 *
 * Also the tree at scale: thousands of separate shared extents (a
 * multi-level tree), committed copy-on-write, remounted and checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "fixture.h"
#include "store/vol/vol.h"
#include "store/vol/volume.h"
#include "store/vol/vstore.h"

#define BS 4096
#define NB 8

enum bad_kind { TOO_HIGH_SHARED, TOO_HIGH_UNSHARED, TOO_LOW };

static void pattern(char *b, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (char)(i * 29 + seed * 11 + (i >> 12));
}

static uint64_t pblk_of(struct store_inode *si, int64_t pos)
{
	struct store_map m;
	CHECK_EQ(store_map(si, pos, BS, &m), 0);
	CHECK_EQ(m.type, STORE_MAPPED);
	return (uint64_t)m.addr / BS;
}

/* a (NB blocks) cloned into b, c unshared (NB blocks); then the count of
 * one block set wrong and committed. Returns the block. */
static uint64_t make_bad(enum bad_kind kind, char *a, char *c)
{
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_inode *x = create(s, "a"), *y = create(s, "b"), *z = create(s, "c");
	pattern(a, NB * BS, 1);
	pattern(c, NB * BS, 2);
	CHECK_EQ(store_write(x, a, NB * BS, 0), NB * BS);
	CHECK_EQ(store_write(z, c, NB * BS, 0), NB * BS);
	CHECK_EQ(store_clone_range(x, 0, y, 0, 0), 0);
	CHECK_EQ(store_sync(x, false), 0);
	struct vstore *vs = VS(s);
	uint64_t p = kind == TOO_HIGH_UNSHARED ? pblk_of(z, 2 * BS) : pblk_of(x, 2 * BS);
	pthread_mutex_lock(&vs->lock);
	int r = kind == TOO_LOW ? vol_extmap_punch(&vs->refc, p, 1, NULL, NULL)
				: vol_extmap_set(&vs->refc, p, p, 1,
						 kind == TOO_HIGH_SHARED ? 3 : 2, NULL, NULL);
	CHECK_EQ(r, 0);
	vs->refc_dirty = true;
	/* the superblock's shared count as the wrong tree says (only the
	 * counts are wrong) */
	if (kind == TOO_LOW)
		vs->shared_blocks--;
	if (kind == TOO_HIGH_UNSHARED)
		vs->shared_blocks++;
	pthread_mutex_unlock(&vs->lock);
	CHECK_EQ(store_sync(x, false), 0); /* written, checksummed */
	store_release(x);
	store_release(y);
	store_release(z);
	CHECK_EQ(store_close(s), 0);
	return p;
}

static void check_file(struct store *s, const char *name, const char *want)
{
	struct store_inode *si;
	char *b = malloc(NB * BS);
	CHECK_EQ(store_open(s, name, O_RDONLY, 0, &si), 0);
	CHECK_EQ(store_read(si, b, NB * BS, 0), NB * BS);
	CHECK(!memcmp(b, want, NB * BS));
	store_release(si);
	free(b);
}

/* Unlink a, write a new file d over the freed space: b still reads a's
 * bytes (its blocks were not freed). Then unlink everything: no block of
 * the files stays allocated (fsck: nothing leaked). */
static void exercise(const char *a, const char *c)
{
	struct store *s = vol_mount_img();
	struct store_inode *d;
	char *buf = malloc(NB * BS);
	pattern(buf, NB * BS, 3);
	CHECK_EQ(store_unlink(s, "a"), 0);
	CHECK_EQ(store_sync_dir(s, ""), 0);
	d = create(s, "d");
	CHECK_EQ(store_write(d, buf, NB * BS, 0), NB * BS);
	CHECK_EQ(store_sync(d, false), 0);
	store_release(d);
	check_file(s, "b", a);
	check_file(s, "c", c);
	CHECK_EQ(store_unlink(s, "b"), 0);
	CHECK_EQ(store_unlink(s, "c"), 0);
	CHECK_EQ(store_unlink(s, "d"), 0);
	CHECK_EQ(store_close(s), 0);
	free(buf);
}

static void bad_count_repaired(enum bad_kind kind)
{
	char *a = malloc(NB * BS), *c = malloc(NB * BS);
	struct store *s;
	make_bad(kind, a, c);
	CHECK_EQ(store_open_vol(vol_img, &s), -EUCLEAN);
	CHECK_EQ(vol_fsck(vol_img, false, stderr), VOL_FSCK_UNREPAIRED);
	CHECK_EQ(vol_fsck(vol_img, true, stderr), VOL_FSCK_REPAIRED);
	vol_fsck_clean();
	s = vol_mount_img();
	check_file(s, "a", a);
	check_file(s, "b", a);
	check_file(s, "c", c);
	CHECK_EQ(VS(s)->shared_blocks, NB);
	CHECK_EQ(store_close(s), 0);
	exercise(a, c);
	vol_fsck_clean();
	free(a);
	free(c);
}

TEST(count_too_high_shared_repaired)
{
	bad_count_repaired(TOO_HIGH_SHARED);
}

TEST(count_too_high_unshared_repaired)
{
	bad_count_repaired(TOO_HIGH_UNSHARED);
}

TEST(count_too_low_repaired)
{
	bad_count_repaired(TOO_LOW);
}

/* Opened anyway (the mount check skipped by going round it: the store
 * loaded with the counts as written), the wrong counts do what fsck
 * prevents: too low frees b's block at the unlink of a (its deferred
 * punch zeroes it, or d reuses it);
 * too high leaks c's block after its unlink. */
TEST(unrepaired_counts_do_damage)
{
	char *a = malloc(NB * BS), *c = malloc(NB * BS), *buf = malloc(NB * BS);
	struct store *s;

	make_bad(TOO_LOW, a, c);
	vol_test_refcount_no_check = true;
	s = vol_mount_img();
	vol_test_refcount_no_check = false;
	struct store_inode *d;
	pattern(buf, NB * BS, 3);
	CHECK_EQ(store_unlink(s, "a"), 0);
	CHECK_EQ(store_sync_dir(s, ""), 0);
	d = create(s, "d");
	CHECK_EQ(store_write(d, buf, NB * BS, 0), NB * BS);
	CHECK_EQ(store_sync(d, false), 0);
	store_release(d);
	/* the freed block's deferred punch (discard.c), as the commit timer
	 * would run it: b's block is free as far as the store knows */
	vol_discard_run(VS(s)->v);
	struct store_inode *y;
	CHECK_EQ(store_open(s, "b", O_RDONLY, 0, &y), 0);
	CHECK_EQ(store_read(y, buf, NB * BS, 0), NB * BS);
	long diff = 0;
	for (int i = 0; i < NB * BS; i++)
		diff += buf[i] != a[i];
	store_release(y);
	CHECK_EQ(store_close(s), 0);
	printf("# count too low, unrepaired: %ld bytes of b overwritten by a new file\n", diff);
	CHECK(diff > 0);

	make_bad(TOO_HIGH_UNSHARED, a, c);
	vol_test_refcount_no_check = true;
	s = vol_mount_img();
	vol_test_refcount_no_check = false;
	CHECK_EQ(store_unlink(s, "c"), 0);
	CHECK_EQ(store_close(s), 0);
	CHECK_EQ(vol_fsck(vol_img, false, stderr), VOL_FSCK_UNREPAIRED); /* leaked */
	free(a);
	free(c);
	free(buf);
}

/* Thousands of separate shared extents: every other block of a large file
 * cloned one block at a time into another (a tree of several levels),
 * then every fourth block overwritten (copy-on-write); remounts keep the
 * counts; fsck clean; unlinking both frees everything. */
TEST(many_shared_extents)
{
	const int nb = test_quick() ? 4000 : 20000;
	char *buf = malloc((size_t)nb * BS);
	pattern(buf, (size_t)nb * BS, 4);
	vol_new_image(256 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_inode *x = create(s, "a"), *y = create(s, "b");
	CHECK_EQ(store_write(x, buf, (size_t)nb * BS, 0), (ssize_t)nb * BS);
	CHECK_EQ(store_sync(x, false), 0);
	uint64_t free0 = vol_free_blocks(VS(s)->v);
	for (int i = 0; i < nb; i += 2)
		CHECK_EQ(store_clone_range(x, (int64_t)i * BS, y, (int64_t)i * BS, BS), 0);
	CHECK_EQ(store_sync(y, false), 0);
	CHECK_EQ(VS(s)->shared_blocks, (uint64_t)nb / 2);
	CHECK(vol_extmap_depth(&VS(s)->refc) >= 1);
	for (int i = 0; i < nb; i += 4)
		CHECK_EQ(store_write(y, "x", 1, (int64_t)i * BS + 5), 1);
	CHECK_EQ(store_sync(y, false), 0);
	CHECK_EQ(VS(s)->shared_blocks, (uint64_t)nb / 4);
	printf("# %d blocks shared one by one: %zu count extents, depth %u, %llu blocks used\n",
	       nb / 2, vol_extmap_count(&VS(s)->refc), vol_extmap_depth(&VS(s)->refc),
	       (unsigned long long)(free0 - vol_free_blocks(VS(s)->v)));
	store_release(x);
	store_release(y);
	CHECK_EQ(store_close(s), 0);
	vol_fsck_clean();
	s = vol_mount_img();
	CHECK_EQ(VS(s)->shared_blocks, (uint64_t)nb / 4);
	CHECK_EQ(store_open(s, "b", O_RDONLY, 0, &y), 0);
	char b[BS];
	for (int i = 0; i < nb; i += 97) {
		CHECK_EQ(store_read(y, b, BS, (int64_t)i * BS), BS);
		if (i % 2)
			CHECK(b[0] == 0);
		else if (i % 4 == 0)
			CHECK(b[5] == 'x' && !memcmp(b, buf + (size_t)i * BS, 5));
		else
			CHECK(!memcmp(b, buf + (size_t)i * BS, BS));
	}
	store_release(y);
	CHECK_EQ(store_unlink(s, "a"), 0);
	CHECK_EQ(store_unlink(s, "b"), 0);
	CHECK_EQ(store_sync_dir(s, ""), 0);
	CHECK_EQ(VS(s)->shared_blocks, 0);
	CHECK_EQ(vol_extmap_count(&VS(s)->refc), 0);
	CHECK_EQ(store_close(s), 0);
	vol_fsck_clean();
	free(buf);
}

/* A damaged reference-count tree node (a flipped byte: its crc fails):
 * mount refuses, fsck -y rebuilds the counts from the extent maps into a
 * new tree and frees the old tree's block. */
TEST(damaged_tree_rebuilt)
{
	char *a = malloc(NB * BS), *c = malloc(NB * BS);
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_inode *x = create(s, "a"), *y = create(s, "b"), *z = create(s, "c");
	pattern(a, NB * BS, 1);
	pattern(c, NB * BS, 2);
	CHECK_EQ(store_write(x, a, NB * BS, 0), NB * BS);
	CHECK_EQ(store_write(z, c, NB * BS, 0), NB * BS);
	CHECK_EQ(store_clone_range(x, 0, y, 0, 0), 0);
	store_release(x);
	store_release(y);
	store_release(z);
	CHECK_EQ(store_close(s), 0);
	struct vol_super sb;
	const char *why;
	CHECK_EQ(vol_read_super(vol_img, &sb, &why), 0);
	CHECK(sb.refc_root);
	int fd = open(vol_img, O_RDWR);
	CHECK(fd >= 0);
	char byte;
	off_t off = (off_t)(sb.refc_root * BS + 40); /* inside the first entry */
	CHECK_EQ(pread(fd, &byte, 1, off), 1);
	byte ^= 0x10;
	CHECK_EQ(pwrite(fd, &byte, 1, off), 1);
	close(fd);
	CHECK_EQ(store_open_vol(vol_img, &s), -EUCLEAN);
	CHECK_EQ(vol_fsck(vol_img, false, stderr), VOL_FSCK_UNREPAIRED);
	CHECK_EQ(vol_fsck(vol_img, true, stderr), VOL_FSCK_REPAIRED);
	vol_fsck_clean();
	CHECK_EQ(vol_read_super(vol_img, &sb, &why), 0);
	CHECK_EQ(sb.shared_blocks, NB);
	s = vol_mount_img();
	check_file(s, "a", a);
	check_file(s, "b", a);
	CHECK_EQ(store_close(s), 0);
	exercise(a, c);
	vol_fsck_clean();
	free(a);
	free(c);
}

/* The primary superblock damaged: fsck checks with the backup, which keeps
 * mkfs's features and no reference-count tree, so the blocks a and b share
 * are repaired as cross-links - b gets copies - and nothing is lost. */
TEST(primary_superblock_lost_shares_copied)
{
	char *a = malloc(NB * BS), *c = malloc(NB * BS);
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_inode *x = create(s, "a"), *y = create(s, "b"), *z = create(s, "c");
	pattern(a, NB * BS, 1);
	pattern(c, NB * BS, 2);
	CHECK_EQ(store_write(x, a, NB * BS, 0), NB * BS);
	CHECK_EQ(store_write(z, c, NB * BS, 0), NB * BS);
	CHECK_EQ(store_clone_range(x, 0, y, 0, 0), 0);
	store_release(x);
	store_release(y);
	store_release(z);
	CHECK_EQ(store_close(s), 0);
	int fd = open(vol_img, O_RDWR);
	CHECK(fd >= 0);
	char byte;
	CHECK_EQ(pread(fd, &byte, 1, 100), 1);
	byte ^= 1;
	CHECK_EQ(pwrite(fd, &byte, 1, 100), 1);
	close(fd);
	CHECK_EQ(vol_fsck(vol_img, true, stderr), VOL_FSCK_REPAIRED);
	vol_fsck_clean();
	s = vol_mount_img();
	check_file(s, "a", a);
	check_file(s, "b", a);
	check_file(s, "c", c);
	CHECK_EQ(VS(s)->shared_blocks, 0);
	CHECK_EQ(store_close(s), 0);
	exercise(a, c);
	vol_fsck_clean();
	free(a);
	free(c);
}

/* SPDX-License-Identifier: MIT */
/*
 * Shared extents on the vol store (refcount.c, clone.c, data.c's
 * copy-on-write): store_clone_range shares blocks instead of copying them;
 * a write into a shared block copies it (the other file keeps its bytes),
 * punch, truncate and unlink drop one reference and free a block only at
 * the last; the counts survive remounts and fsck checks them against the
 * extent maps. The space cases show that a clone of a large file costs
 * (almost) nothing and an overwrite allocates only what it writes; the
 * reservation cases that a write into a shared block is charged as a new
 * block when the cache dirties it. The crash cases (test_vol_clone_crash.c)
 * and fsck's repair of wrong counts (test_vol_refcount.c) are apart.
 *
 * Test switches: vol_test_cow_in_place (a write into a shared block goes
 * in place: the clone's bytes change), vol_test_refcount_skip_inc (a clone
 * takes no reference: unlinking the source frees blocks the clone still
 * maps, a new file reuses them and the clone reads its bytes; fsck finds
 * the count too low).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "harness.h"
#include "fixture.h"
#include "pagecache.h"
#include "threads.h"
#include "store/vol/vol.h"
#include "store/vol/vstore.h"

#define BS 4096

static void pattern(char *b, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (char)(i * 131 + seed * 7 + (i >> 12));
}

static struct store_inode *file_with(struct store *s, const char *name, const char *buf, size_t len)
{
	struct store_inode *si = create(s, name);
	CHECK_EQ(store_write(si, buf, len, 0), (ssize_t)len);
	return si;
}

static struct store_inode *reopen(struct store *s, const char *name)
{
	struct store_inode *si;
	CHECK_EQ(store_open(s, name, O_RDWR, 0, &si), 0);
	return si;
}

static void check_bytes(struct store_inode *si, const char *want, size_t len)
{
	char *b = malloc(len + 1);
	CHECK_EQ(store_size(si), (int64_t)len);
	CHECK_EQ(store_read(si, b, len + 1, 0), (ssize_t)len);
	CHECK(!memcmp(b, want, len));
	free(b);
}

static uint64_t used_blocks(struct store *s)
{
	struct statvfs st;
	CHECK_EQ(store_statfs(s, &st), 0);
	return vol_free_blocks(VS(s)->v) <= st.f_blocks ? st.f_blocks - vol_free_blocks(VS(s)->v)
							: 0;
}

static uint64_t shared_blocks(struct store *s)
{
	return VS(s)->shared_blocks;
}

/* Clone a whole file (length 0: to EOF, a partial last block), read it,
 * remount, read both, fsck clean; the blocks are shared, not copied. */
TEST(clone_whole_file)
{
	const size_t len = 5 * BS + 123;
	char *a = malloc(len);
	pattern(a, len, 1);
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_inode *x = file_with(s, "a", a, len);
	CHECK_EQ(store_sync(x, false), 0);
	uint64_t used = used_blocks(s);
	struct store_inode *y = create(s, "b");
	CHECK_EQ(store_clone_range(x, 0, y, 0, 0), 0);
	check_bytes(y, a, len);
	CHECK_EQ(shared_blocks(s), 6);
	CHECK_EQ(store_sync(y, false), 0);
	CHECK(used_blocks(s) <= used + 2); /* tree nodes only */
	struct store_map m1, m2;
	CHECK_EQ(store_map(x, 0, BS, &m1), 0);
	CHECK_EQ(store_map(y, 0, BS, &m2), 0);
	CHECK_EQ(m1.addr, m2.addr);
	store_release(x);
	store_release(y);
	CHECK_EQ(store_close(s), 0);
	vol_fsck_clean();
	struct vol_super sb;
	const char *why;
	CHECK_EQ(vol_read_super(vol_img, &sb, &why), 0);
	CHECK(sb.feat_incompat & VOL_FEAT_INCOMPAT_REFLINK);
	CHECK_EQ(sb.shared_blocks, 6);
	CHECK(sb.refc_root != 0);
	struct pc_vol_info info = {.size = sizeof(info)};
	CHECK_EQ(pc_vol_stat(vol_img, &info, &why), 0); /* pagecache stat IMAGE */
	CHECK_EQ(info.shared_blocks, 6);
	s = vol_mount_img();
	x = reopen(s, "a");
	y = reopen(s, "b");
	check_bytes(x, a, len);
	check_bytes(y, a, len);
	CHECK_EQ(shared_blocks(s), 6);
	store_release(x);
	store_release(y);
	CHECK_EQ(store_close(s), 0);
	vol_fsck_clean();
	free(a);
}

/* A write into a shared block is copy-on-write: the clone keeps its bytes
 * (buffered and O_DIRECT, inside a block and across blocks); the counts
 * follow; after remount both files read as written. */
static long cow_write_case(void)
{
	const size_t len = 8 * BS;
	char *a = malloc(len), *b = malloc(len), *w = aligned_alloc(BS, 3 * BS);
	pattern(a, len, 2);
	pattern(w, 3 * BS, 3);
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_inode *x = file_with(s, "a", a, len);
	struct store_inode *y = create(s, "b");
	CHECK_EQ(store_sync(x, false), 0);
	CHECK_EQ(store_clone_range(x, 0, y, 0, (int64_t)len), 0);
	CHECK_EQ(store_sync(y, false), 0);
	memcpy(b, a, len);
	/* partial block, then a range across three blocks, then O_DIRECT */
	CHECK_EQ(store_write(y, w, 100, 10), 100);
	memcpy(b + 10, w, 100);
	CHECK_EQ(store_write(y, w, 2 * BS + 50, 3 * BS - 20), 2 * BS + 50);
	memcpy(b + 3 * BS - 20, w, 2 * BS + 50);
	CHECK_EQ(store_dio_write(y, w, BS, 7 * BS), BS);
	memcpy(b + 7 * BS, w, BS);
	check_bytes(y, b, len);
	long bad = 0;
	char *r = malloc(len);
	CHECK_EQ(store_read(x, r, len, 0), (ssize_t)len);
	for (size_t i = 0; i < len; i++)
		bad += r[i] != a[i];
	if (!vol_test_cow_in_place) {
		CHECK_EQ(shared_blocks(s), 2); /* blocks 1 and 6 */
		CHECK_EQ(store_sync(y, false), 0);
		store_release(x);
		store_release(y);
		CHECK_EQ(store_close(s), 0);
		vol_fsck_clean();
		s = vol_mount_img();
		x = reopen(s, "a");
		y = reopen(s, "b");
		check_bytes(x, a, len);
		check_bytes(y, b, len);
	}
	store_release(x);
	store_release(y);
	CHECK_EQ(store_close(s), 0);
	free(a);
	free(b);
	free(w);
	free(r);
	return bad;
}

TEST(write_to_shared_block_copies)
{
	CHECK_EQ(cow_write_case(), 0);
}

/* The switch: written in place, the source's bytes change (the cross-file
 * leak a shared block must never show). */
TEST(cow_in_place_changes_the_clone)
{
	vol_test_cow_in_place = true;
	long bad = cow_write_case();
	vol_test_cow_in_place = false;
	printf("# in place: %ld bytes of the source changed by writes to the clone\n", bad);
	CHECK(bad > 0);
}

/* Punch, zero range, truncate, unlink: one reference each; a block is freed
 * only with its last. */
TEST(release_drops_one_reference)
{
	const size_t len = 16 * BS;
	char *a = malloc(len), *z = calloc(1, len);
	pattern(a, len, 4);
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_inode *x = file_with(s, "a", a, len);
	struct store_inode *y = create(s, "b");
	CHECK_EQ(store_sync(x, false), 0);
	CHECK_EQ(store_clone_range(x, 0, y, 0, 0), 0);
	CHECK_EQ(store_sync(x, false), 0);
	uint64_t used = used_blocks(s);
	CHECK_EQ(shared_blocks(s), 16);
	/* punch 2 blocks of y, zero 2 more (with a partial edge), truncate y */
	CHECK_EQ(store_fallocate(y, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2 * BS, 2 * BS), 0);
	CHECK_EQ(store_fallocate(y, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 6 * BS + 7, 2 * BS),
		 0);
	CHECK_EQ(store_setsize(y, 12 * BS + 5), 0);
	CHECK_EQ(store_sync(y, false), 0);
	CHECK_EQ(shared_blocks(s), 7); /* 0,1, 4,5, 9..11 */
	check_bytes(x, a, len);
	/* unlink x: its blocks stay (y maps them) except those only x had */
	store_release(x);
	CHECK_EQ(store_unlink(s, "a"), 0);
	CHECK_EQ(store_sync(y, false), 0);
	CHECK_EQ(shared_blocks(s), 0);
	char *b = malloc(len);
	memcpy(b, a, 12 * BS + 5);
	memset(b + 2 * BS, 0, 2 * BS);
	memset(b + 6 * BS + 7, 0, 2 * BS);
	check_bytes(y, b, 12 * BS + 5);
	CHECK(used_blocks(s) < used);
	store_release(y);
	CHECK_EQ(store_close(s), 0);
	vol_fsck_clean();
	s = vol_mount_img();
	y = reopen(s, "b");
	check_bytes(y, b, 12 * BS + 5);
	store_release(y);
	CHECK_EQ(store_unlink(s, "b"), 0);
	CHECK_EQ(store_close(s), 0);
	vol_fsck_clean();
	free(a);
	free(b);
	free(z);
}

/* Clone without references (the switch): unlinking the source frees blocks
 * the clone maps; a new file takes them and the clone reads its bytes -
 * the cross-file leak - and fsck reports the counts too low. */
TEST(refcount_skip_inc_leaks_across_files)
{
	const size_t len = 8 * BS;
	char *a = malloc(len), *c = malloc(len), *r = malloc(len);
	pattern(a, len, 5);
	pattern(c, len, 6);
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_inode *x = file_with(s, "a", a, len);
	struct store_inode *y = create(s, "b");
	CHECK_EQ(store_sync(x, false), 0);
	vol_test_refcount_skip_inc = true;
	CHECK_EQ(store_clone_range(x, 0, y, 0, 0), 0);
	vol_test_refcount_skip_inc = false;
	store_release(x);
	CHECK_EQ(store_unlink(s, "a"), 0);
	CHECK_EQ(store_sync(y, false), 0); /* the blocks are free now */
	struct store_inode *z = file_with(s, "c", c, len);
	CHECK_EQ(store_sync(z, false), 0);
	CHECK_EQ(store_read(y, r, len, 0), (ssize_t)len);
	long leaked = 0;
	for (size_t i = 0; i < len; i++)
		leaked += r[i] == c[i] && r[i] != a[i];
	printf("# without references: %ld bytes of file c read through the clone\n", leaked);
	CHECK(leaked > 0);
	store_release(y);
	store_release(z);
	CHECK_EQ(store_close(s), 0);
	CHECK_EQ(vol_fsck(vol_img, false, stderr), VOL_FSCK_UNREPAIRED);
	free(a);
	free(c);
	free(r);
}

/* The store's checks: unaligned offsets or lengths (but a length to the
 * source's EOF), overlapping ranges of one file, past EOF, directories. */
TEST(clone_errors)
{
	const size_t len = 4 * BS + 10;
	char *a = malloc(len);
	pattern(a, len, 7);
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_inode *x = file_with(s, "a", a, len);
	struct store_inode *y = create(s, "b");
	CHECK_EQ(store_clone_range(x, 1, y, 0, BS), -EINVAL);
	CHECK_EQ(store_clone_range(x, 0, y, 7, BS), -EINVAL);
	CHECK_EQ(store_clone_range(x, 0, y, 0, BS + 1), -EINVAL);
	CHECK_EQ(store_clone_range(x, 0, x, BS, 2 * BS), -EINVAL);	/* overlap */
	CHECK_EQ(store_clone_range(x, 8 * BS, y, 0, BS), -EINVAL);	/* past EOF */
	CHECK_EQ(store_clone_range(x, (int64_t)len, y, 0, 0), -EINVAL); /* unaligned */
	/* a partial EOF block only where the destination's EOF is not past it */
	CHECK_EQ(store_write(y, a, 3 * BS, 0), 3 * BS);
	CHECK_EQ(store_clone_range(x, 0, y, 0, (int64_t)len), 0);
	check_bytes(y, a, len);
	CHECK_EQ(store_write(y, a, BS, 10 * BS), BS);
	CHECK_EQ(store_clone_range(x, 0, y, 0, (int64_t)len), -EINVAL);
	/* the same file, ranges apart; a range past the source's EOF is cut */
	CHECK_EQ(store_clone_range(x, 0, x, 4 * BS, 0), -EINVAL); /* block 4 in both */
	CHECK_EQ(store_clone_range(x, 0, x, 8 * BS, 0), 0);
	CHECK_EQ(store_size(x), (int64_t)(12 * BS + 10));
	char *b = malloc(12 * BS + 10);
	CHECK_EQ(store_read(x, b, 12 * BS + 10, 0), 12 * BS + 10);
	CHECK(!memcmp(b, a, len));
	CHECK(is_zero(b + len, 8 * BS - len));
	CHECK(!memcmp(b + 8 * BS, a, len));
	CHECK_EQ(store_mkdir(s, "d", 0755), 0);
	struct store_inode *dsi;
	if (store_open(s, "d", O_RDONLY, 0, &dsi) == 0) {
		CHECK_EQ(store_clone_range(x, 0, dsi, 0, BS), -EISDIR);
		store_release(dsi);
	}
	CHECK_EQ(store_sync(x, false), 0);
	store_release(x);
	store_release(y);
	CHECK_EQ(store_close(s), 0);
	vol_fsck_clean();
	free(a);
	free(b);
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Used blocks as statfs counts them (a shared block once). */
static uint64_t statfs_used(struct store *s)
{
	struct statvfs st;
	CHECK_EQ(store_statfs(s, &st), 0);
	return st.f_blocks - st.f_bfree;
}

/* A clone of a large file uses < 1% more space (only tree nodes); writing
 * into the clone afterwards allocates what is written and nothing else;
 * the source keeps its bytes. 1 GiB in the debug run (PC_QUICK: 64 MiB),
 * on a sparse image. */
TEST(clone_space)
{
	const uint64_t size = test_quick() ? (64ull << 20) : (1ull << 30), nb = size / BS;
	const size_t chunk = 1 << 20;
	char *buf = malloc(chunk), *b = malloc(4 << 20);
	uint64_t seed = test_seed(), x = seed | 1;

	vol_new_image((int64_t)(2 * size + (256 << 20)), 0);
	struct store *s = vol_mount_img();
	struct store_inode *a = create(s, "a"), *c = create(s, "b");
	for (uint64_t off = 0; off < size; off += chunk) {
		pattern(buf, chunk, (unsigned)(off / chunk));
		CHECK_EQ(store_write(a, buf, chunk, (int64_t)off), (ssize_t)chunk);
	}
	CHECK_EQ(store_sync(a, false), 0);
	uint64_t used0 = statfs_used(s);
	CHECK_EQ(store_clone_range(a, 0, c, 0, 0), 0);
	CHECK_EQ(store_sync(c, false), 0);
	uint64_t used1 = statfs_used(s);
	printf("# clone of %llu MiB: %llu blocks more used (%.4f%%), %llu shared\n",
	       (unsigned long long)(size >> 20), (unsigned long long)(used1 - used0),
	       100.0 * (double)(used1 - used0) / (double)nb, (unsigned long long)shared_blocks(s));
	CHECK((used1 - used0) * 100 < nb);
	CHECK_EQ(shared_blocks(s), nb);
	/* overwrite: 256 single blocks at random (some may repeat) and one
	 * 4 MiB run, all in the clone */
	uint64_t written = 0;
	char *seen = calloc(nb, 1);
	memset(b, 'w', 4 << 20);
	for (int i = 0; i < 256; i++) {
		uint64_t k = rnd(&x) % nb;
		CHECK_EQ(store_write(c, b, BS, (int64_t)(k * BS)), BS);
		written += !seen[k];
		seen[k] = 1;
	}
	uint64_t run = rnd(&x) % (nb - 1024);
	CHECK_EQ(store_write(c, b, 4 << 20, (int64_t)(run * BS)), 4 << 20);
	for (uint64_t k = run; k < run + 1024; k++) {
		written += !seen[k];
		seen[k] = 1;
	}
	CHECK_EQ(store_sync(c, false), 0);
	uint64_t used2 = statfs_used(s);
	printf("# %llu blocks written into the clone: %llu blocks more used\n",
	       (unsigned long long)written, (unsigned long long)(used2 - used1));
	CHECK(used2 - used1 >= written);
	CHECK(used2 - used1 <= written + written / 32 + 16);
	CHECK_EQ(shared_blocks(s), nb - written);
	/* the source keeps its bytes where the clone was written */
	for (uint64_t k = 0; k < nb; k++) {
		if (!seen[k])
			continue;
		CHECK_EQ(store_read(a, b, BS, (int64_t)(k * BS)), BS);
		pattern(buf, chunk, (unsigned)(k * BS / chunk));
		CHECK(!memcmp(b, buf + (k * BS) % chunk, BS));
	}
	store_release(a);
	store_release(c);
	CHECK_EQ(store_close(s), 0);
	vol_fsck_clean();
	free(seen);
	free(buf);
	free(b);
}

/* Fills the volume with unreserved writes (a new file) until -ENOSPC. */
static void fill_volume(struct store *s)
{
	struct store_inode *f = create(s, "fill");
	char *buf = calloc(1, 64 << 10);
	int64_t done = 0;
	ssize_t w;
	while ((w = store_write(f, buf, 64 << 10, done)) > 0)
		done += w;
	CHECK_EQ(w, -ENOSPC);
	while ((w = store_write(f, buf, BS, done)) > 0)
		done += w;
	CHECK_EQ(w, -ENOSPC);
	store_release(f);
	free(buf);
}

/* The page cache dirtying a shared block reserves a new block for it (the
 * write will copy): on a volume that then fills up, the write back of
 * those pages still succeeds; a reservation the full volume cannot give
 * fails at once (the write call's -ENOSPC). Returns the write back's
 * result. */
static ssize_t shared_writeback_on_full_volume(void)
{
	const size_t len = 64 * BS;
	char *a = malloc(len), *w = malloc(16 * BS), *r = malloc(len);
	pattern(a, len, 9);
	memset(w, 'w', 16 * BS);
	vol_new_image(8 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_inode *x = file_with(s, "a", a, len), *y = create(s, "b");
	CHECK_EQ(store_clone_range(x, 0, y, 0, 0), 0);
	CHECK_EQ(store_sync(y, false), 0);
	uint64_t resv0 = VS(s)->resv;
	CHECK_EQ(store_reserve(y, 0, 16 * BS), 0); /* write_begin of 16 pages */
	if (!vol_test_no_reserve)
		CHECK(VS(s)->resv >= resv0 + 16);
	fill_volume(s);
	if (!vol_test_no_reserve) /* the rest of the shared blocks: no room */
		CHECK_EQ(store_reserve(y, 16 * BS, 16 * BS), -ENOSPC);
	ssize_t wb = store_write(y, w, 16 * BS, 0); /* writeback */
	if (wb == 16 * BS) {
		CHECK_EQ(store_sync(y, false), 0);
		CHECK_EQ(store_read(y, r, 16 * BS, 0), 16 * BS);
		CHECK(!memcmp(r, w, 16 * BS));
		/* now unshared: no reservation needed there */
		CHECK_EQ(store_reserve(y, 0, 16 * BS), 0);
	}
	CHECK_EQ(store_read(x, r, len, 0), (ssize_t)len);
	CHECK(!memcmp(r, a, len));
	store_release(x);
	store_release(y);
	store_close(s);
	vol_fsck_clean();
	free(a);
	free(w);
	free(r);
	return wb;
}

TEST(reserve_charges_shared_blocks)
{
	CHECK_EQ(shared_writeback_on_full_volume(), 16 * BS);
}

/* Without the reservation (vol_test_no_reserve) the write back of the
 * acknowledged pages finds the volume full. */
TEST(no_reserve_writeback_fails)
{
	vol_test_no_reserve = true;
	ssize_t wb = shared_writeback_on_full_volume();
	vol_test_no_reserve = false;
	printf("# no reservation: write back into shared blocks on a full volume: %zd\n", wb);
	CHECK_EQ(wb, -ENOSPC);
}

/* ---- threads: copy-on-write writes, clones, reads and fsyncs at once ---- */

struct race {
	struct store *s;
	struct store_inode *a, *b, *c;
	const char *pat; /* a's bytes */
	uint64_t seed;
	int iters;
	long bad; /* bytes of a seen changed (atomic) */
	int next; /* thread index (atomic) */
};

#define RACE_NB 256

static void *racer(void *arg)
{
	struct race *r = arg;
	int me = __atomic_fetch_add(&r->next, 1, __ATOMIC_RELAXED);
	uint64_t x = (r->seed + (uint64_t)me * 0x9e3779b97f4a7c15ull) | 1;
	char *buf = malloc(2 * BS);
	memset(buf, 'w' + me, 2 * BS);
	for (int i = 0; i < r->iters; i++) {
		uint64_t k = rnd(&x) % (RACE_NB - 1);
		switch (me) {
		case 0: /* writes into b: copy-on-write of a's shared blocks */
			CHECK_EQ(store_write(r->b, buf, BS + 100, (int64_t)(k * BS + 50)),
				 BS + 100);
			break;
		case 1: /* clones of a's ranges into c (a keeps every block) */
			CHECK_EQ(store_clone_range(r->a, (int64_t)(k * BS), r->c,
						   (int64_t)(((k * 7) % (RACE_NB - 1)) * BS),
						   2 * BS),
				 0);
			break;
		case 2: /* a never changes */
			CHECK_EQ(store_read(r->a, buf, 2 * BS, (int64_t)(k * BS)), 2 * BS);
			for (size_t j = 0; j < 2 * BS; j++)
				if (buf[j] != r->pat[k * BS + j])
					__atomic_fetch_add(&r->bad, 1, __ATOMIC_RELAXED);
			break;
		default:
			CHECK_EQ(store_sync(r->c, false), 0);
		}
	}
	free(buf);
	return NULL;
}

/* Seeded threads: one writes into the clone (copy-on-write), one clones the
 * source's ranges into a third file, one reads the source, one fsyncs:
 * the source never changes, fsck is clean after. */
TEST(threads_cow_clone_read_sync)
{
	const size_t len = RACE_NB * BS;
	char *a = malloc(len);
	pattern(a, len, 11);
	vol_new_image(32 << 20, 0);
	struct store *s = vol_mount_img();
	struct race r = {.s = s, .pat = a, .seed = test_seed(), .iters = test_quick() ? 200 : 1000};
	r.a = file_with(s, "a", a, len);
	r.b = create(s, "b");
	r.c = create(s, "c");
	CHECK_EQ(store_clone_range(r.a, 0, r.b, 0, 0), 0);
	run_threads(4, racer, &r);
	printf("# %d rounds each: %ld bytes of the source changed\n", r.iters, r.bad);
	CHECK_EQ(r.bad, 0);
	check_bytes(r.a, a, len);
	CHECK_EQ(store_sync(r.a, false), 0);
	store_release(r.a);
	store_release(r.b);
	store_release(r.c);
	CHECK_EQ(store_close(s), 0);
	vol_fsck_clean();
	free(a);
}

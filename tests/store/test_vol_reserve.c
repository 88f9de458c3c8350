/* SPDX-License-Identifier: MIT */
/*
 * The vol store's delayed-allocation reservations (reserve.c) at the store
 * interface: what store_reserve charges and statfs shows, that a block is
 * charged once, that writes consume, and truncate, punch, store_unreserve
 * and eviction release; that a full volume refuses a reservation, that
 * allocations nobody reserved (another file's write, fallocate) cannot take
 * reserved space, and that every reserved block can then be written.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <string.h>

#include "fixture.h"
#include "harness.h"
#include "store/vol/vstore.h"

#define BS 4096

static uint64_t bfree(struct store *s)
{
	struct statvfs st;
	CHECK_EQ(store_statfs(s, &st), 0);
	return st.f_bfree;
}

TEST(reserve_charges_once_and_is_released)
{
	static char buf[8 * BS];
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct vstore *vs = VS(s);
	struct store_inode *si = create(s, "f");
	uint64_t f0 = bfree(s);

	/* one block of a new file: the block, a leaf, a new root level */
	CHECK_EQ(store_reserve(si, 0, BS), 0);
	CHECK_EQ(vs->resv, 3);
	CHECK_EQ(bfree(s), f0 - 3);
	CHECK_EQ(store_reserve(si, 100, 10), 0); /* the same block: free */
	CHECK_EQ(vs->resv, 3);
	CHECK_EQ(store_reserve(si, 0, 2 * BS), 0); /* one more block */
	CHECK_EQ(vs->resv, 4);

	/* a write consumes it; the metadata charge waits for the commit */
	fill(buf, 2 * BS, 1);
	CHECK_EQ(store_write(si, buf, 2 * BS, 0), 2 * BS);
	CHECK_EQ(vs->resv, vs->resv_held);
	CHECK(vs->resv_held > 0);
	CHECK_EQ(store_sync(si, false), 0);
	CHECK_EQ(vs->resv, 0);
	/* written blocks need none */
	CHECK_EQ(store_reserve(si, 0, 2 * BS), 0);
	CHECK_EQ(vs->resv, 0);

	/* released: truncate, punch, unreserve */
	CHECK_EQ(store_setsize(si, 8 * BS), 0);
	CHECK_EQ(store_reserve(si, 4 * BS, 4 * BS), 0);
	uint64_t r4 = vs->resv;
	CHECK_EQ(store_setsize(si, 5 * BS), 0); /* block 4 stays in the file */
	CHECK_EQ(r4 - vs->resv, 3);
	CHECK_EQ(store_setsize(si, 4 * BS), 0);
	CHECK_EQ(vs->resv, 0);
	CHECK_EQ(store_reserve(si, 2 * BS, 2 * BS), 0);
	CHECK_EQ(store_fallocate(si, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2 * BS, 2 * BS),
		 0);
	CHECK_EQ(vs->resv, 0);
	CHECK_EQ(store_reserve(si, 8 * BS, BS), 0);
	store_unreserve(si, 8 * BS, BS);
	CHECK_EQ(vs->resv, 0);

	/* eviction of an unlinked file */
	CHECK_EQ(store_reserve(si, 16 * BS, 8 * BS), 0);
	CHECK(vs->resv >= 8);
	CHECK_EQ(store_unlink(s, "f"), 0);
	store_release(si);
	CHECK_EQ(vs->resv, 0);
	store_close(s);
	vol_fsck_clean();
}

TEST(full_volume_refuses_and_keeps_its_promises)
{
	static char blk[BS];
	vol_new_image(4 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_inode *f = create(s, "f"), *g = create(s, "g");
	int64_t n = 0;
	int r;

	while ((r = store_reserve(f, n * BS, BS)) == 0)
		n++;
	CHECK_EQ(r, -ENOSPC);
	CHECK(n > 100);
	printf("# a 4 MiB volume reserved %lld blocks; statfs: %llu free\n", (long long)n,
	       (unsigned long long)bfree(s));
	CHECK_EQ(bfree(s) < (uint64_t)VS(s)->reserve + 8, 1);
	/* nobody else gets that space */
	fill(blk, BS, 2);
	CHECK_EQ(store_write(g, blk, BS, 0), -ENOSPC);
	CHECK_EQ(store_fallocate(g, 0, 0, BS), -ENOSPC);
	/* and every reserved block is written */
	for (int64_t i = 0; i < n; i++) {
		fill(blk, BS, (unsigned)i);
		CHECK_EQ(store_write(f, blk, BS, i * BS), BS);
	}
	CHECK_EQ(store_sync(f, false), 0);
	CHECK_EQ(VS(s)->resv, 0);
	store_release(f);
	store_release(g);
	store_close(s);
	vol_fsck_clean();
}

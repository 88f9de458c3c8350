/* SPDX-License-Identifier: MIT */
/*
 * test_api_size.c - the public API end to end on file size and space (see
 * basic_fixture.h for the temporary directories): every fallocate mode
 * checked byte for byte against a model, with its errnos, and truncate
 * down/up with partial-page zeroing, its errnos, and a store that fails to
 * shrink. Where the host file system lacks a feature (EOPNOTSUPP) the
 * sub-check prints "# skip".
 * PC_API_POLICY=0|1|2 runs every test under that locking policy.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/engine_internal.h"
#include "basic_fixture.h"
#include "harness.h"
#include "pagecache.h"
#include "store/store.h"

/* ---- fallocate ---- */

/* The model: bytes and size of one file. */
static char *model;
static size_t msize;
#define MCAP (64 * PG)

static void m_zero(size_t off, size_t len, bool keep)
{
	if (off >= msize && keep)
		return;
	size_t end = off + len;
	if (keep && end > msize)
		end = msize;
	if (end > msize)
		msize = end;
	memset(model + off, 0, end - off);
}

/* Applies a mode to the engine and the model; false: skipped (EOPNOTSUPP). */
static bool falloc(struct pc_engine *e, int fd, int mode, size_t off, size_t len, const char *what)
{
	int err = pc_fallocate(e, fd, mode, (off_t)off, (off_t)len);

	if (err == -EOPNOTSUPP) {
		skip(what, err);
		return false;
	}
	CHECKF(err == 0, "%s: %s", what, strerror(-err));
	switch (mode & ~FALLOC_FL_KEEP_SIZE) {
	case 0:
		if (!(mode & FALLOC_FL_KEEP_SIZE) && off + len > msize) {
			memset(model + msize, 0, off + len - msize);
			msize = off + len;
		}
		break;
	case FALLOC_FL_PUNCH_HOLE:
	case FALLOC_FL_ZERO_RANGE:
		m_zero(off, len, mode & FALLOC_FL_KEEP_SIZE);
		break;
	case FALLOC_FL_COLLAPSE_RANGE:
		memmove(model + off, model + off + len, msize - off - len);
		msize -= len;
		break;
	case FALLOC_FL_INSERT_RANGE:
		memmove(model + off + len, model + off, msize - off);
		memset(model + off, 0, len);
		msize += len;
		break;
	}
	check_contents(e, fd, model, msize);
	return true;
}

/* Rewrites [off, off + len) with fresh bytes in engine and model (dirty). */
static void scribble(struct pc_engine *e, int fd, size_t off, size_t len, unsigned seed)
{
	fill(model + off, len, seed, off);
	CHECK_EQ(pc_pwrite(e, fd, model + off, len, (off_t)off), len);
	if (off + len > msize)
		msize = off + len;
}

TEST(fallocate_modes)
{
	struct pc_engine *e = engine();
	struct stat hst;
	int fd;

	model = calloc(1, MCAP);
	msize = 0;
	fd = pc_open(e, "fa", O_RDWR | O_CREAT, 0644);
	CHECK(fd >= 0);
	scribble(e, fd, 0, 6 * PG + 100, 5);
	CHECK_EQ(pc_fsync(e, fd), 0);
	/* dirty edges: the punch must keep their outside bytes */
	scribble(e, fd, 500, 1000, 6);
	scribble(e, fd, 3 * PG - 200, 400, 7);

	falloc(e, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1000, 2 * PG + 100, "punch");
	falloc(e, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 6 * PG, 10 * PG,
	       "punch past EOF");
	scribble(e, fd, 4 * PG + 10, 100, 8);
	falloc(e, fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 4 * PG, 3 * PG,
	       "zero range keep size");
	falloc(e, fd, FALLOC_FL_ZERO_RANGE, 6 * PG + 50, 2 * PG, "zero range extending");
	falloc(e, fd, 0, 10 * PG + 7, 100, "allocate extending");
	falloc(e, fd, FALLOC_FL_KEEP_SIZE, 12 * PG, PG, "allocate keep size");
	scribble(e, fd, 0, 11 * PG, 9); /* data everywhere again, dirty */

	CHECK_EQ(stat(dir, &hst), 0);
	if (hst.st_blksize > PG) {
		skip("collapse/insert: host block larger than a page", -EOPNOTSUPP);
	} else {
		CHECK_EQ(pc_fallocate(e, fd, FALLOC_FL_COLLAPSE_RANGE, 100, PG), -EINVAL);
		CHECK_EQ(pc_fallocate(e, fd, FALLOC_FL_COLLAPSE_RANGE, 8 * PG, 4 * PG), -EINVAL);
		CHECK_EQ(pc_fallocate(e, fd, FALLOC_FL_INSERT_RANGE, 12 * PG, PG), -EINVAL);
		CHECK_EQ(pc_fallocate(e, fd, FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_KEEP_SIZE, 0, PG),
			 -EOPNOTSUPP);
		if (falloc(e, fd, FALLOC_FL_COLLAPSE_RANGE, 2 * PG, 3 * PG, "collapse")) {
			scribble(e, fd, PG + 5, 10, 10);
			falloc(e, fd, FALLOC_FL_INSERT_RANGE, PG, 2 * PG, "insert");
			falloc(e, fd, FALLOC_FL_INSERT_RANGE, 0, PG, "insert at 0");
		}
	}
	CHECK_EQ(pc_fsync(e, fd), 0);
	check_host("fa", model, msize);

	/* errnos (fallocate(2), Linux 6.x order) */
	int ro = pc_open(e, "fa", O_RDONLY, 0);
	CHECK_EQ(pc_fallocate(e, ro, 0, 0, 10), -EBADF);
	CHECK_EQ(pc_fallocate(e, ro, 0, 0, 0), -EINVAL);
	CHECK_EQ(pc_fallocate(e, fd, 0, -1, 10), -EINVAL);
	CHECK_EQ(pc_fallocate(e, fd, 0, 0, -5), -EINVAL);
	CHECK_EQ(pc_fallocate(e, fd, FALLOC_FL_PUNCH_HOLE, 0, 10), -EOPNOTSUPP);
	CHECK_EQ(pc_fallocate(e, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE, 0, 10),
		 -EOPNOTSUPP);
	CHECK_EQ(pc_fallocate(e, fd, 0x100, 0, 10), -EOPNOTSUPP);
	CHECK_EQ(pc_fallocate(e, fd, 0, INT64_MAX, 10), -EFBIG);
	CHECK_EQ(pc_fallocate(e, fd, 0, 1ll << 50, 10), -EFBIG);
	CHECK_EQ(pc_fallocate(e, -1, 0, 0, 10), -EBADF);
	CHECK_EQ(pc_close(e, ro), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	check_host("fa", model, msize);
	free(model);
}

/* ---- truncate ---- */

TEST(truncate_partial_pages)
{
	struct pc_engine *e = engine();
	char *w = malloc(4 * PG), *r = malloc(4 * PG);
	int fd, ro;

	fill(w, 4 * PG, 11, 0);
	fd = pc_open(e, "tr", O_RDWR | O_CREAT, 0644);
	CHECK_EQ(pc_write(e, fd, w, 3 * PG + 500), 3 * PG + 500);
	/* down into a dirty page, then up: the old tail reads as zeroes */
	CHECK_EQ(pc_ftruncate(e, fd, PG + 100), 0);
	check_contents(e, fd, w, PG + 100);
	CHECK_EQ(pc_ftruncate(e, fd, 3 * PG), 0);
	memset(w + PG + 100, 0, 2 * PG - 100);
	check_contents(e, fd, w, 3 * PG);
	/* the same with a clean, cached EOF page */
	CHECK_EQ(pc_fsync(e, fd), 0);
	CHECK_EQ(pc_pread(e, fd, r, PG, 0), PG);
	CHECK_EQ(pc_ftruncate(e, fd, 77), 0);
	CHECK_EQ(pc_ftruncate(e, fd, PG + 1), 0);
	memset(w + 77, 0, PG + 1 - 77);
	check_contents(e, fd, w, PG + 1);
	/* and at page boundaries and to zero */
	CHECK_EQ(pc_ftruncate(e, fd, PG), 0);
	check_contents(e, fd, w, PG);
	CHECK_EQ(pc_ftruncate(e, fd, 0), 0);
	check_contents(e, fd, w, 0);
	CHECK_EQ(pc_pwrite(e, fd, w, 300, 0), 300);
	CHECK_EQ(pc_ftruncate(e, fd, 2 * PG + 3), 0);
	memset(w + 300, 0, 2 * PG);
	check_contents(e, fd, w, 2 * PG + 3);
	CHECK_EQ(pc_fsync(e, fd), 0);
	check_host("tr", w, 2 * PG + 3);
	/* a write past EOF leaves zeroes in the gap */
	CHECK_EQ(pc_pwrite(e, fd, "E", 1, 3 * PG + 9), 1);
	memset(w + 2 * PG + 3, 0, PG + 6);
	w[3 * PG + 9] = 'E';
	check_contents(e, fd, w, 3 * PG + 10);

	/* errnos (ftruncate(2) on Linux: EINVAL for a read-only fd) */
	ro = pc_open(e, "tr", O_RDONLY, 0);
	CHECK_EQ(pc_ftruncate(e, ro, 0), -EINVAL);
	CHECK_EQ(pc_ftruncate(e, fd, -1), -EINVAL);
	CHECK_EQ(pc_ftruncate(e, 12345, -1), -EINVAL);
	CHECK_EQ(pc_ftruncate(e, 12345, 0), -EBADF);
	CHECK_EQ(pc_ftruncate(e, fd, (1ll << 43) + 1), -EFBIG);
	CHECK_EQ(pc_close(e, ro), 0);

	/* The store fails to shrink: the cache has shrunk (its dirty pages
	 * past the new EOF are gone), so the old store bytes must never come
	 * back when the file grows again. */
	fill(w, 3 * PG, 18, 0);
	CHECK_EQ(pc_pwrite(e, fd, w, 3 * PG, 0), 3 * PG);
	CHECK_EQ(pc_fsync(e, fd), 0);
	store_inject_fail(pc_engine_store(e), STORE_OP_SETSIZE, 1, EIO, false);
	CHECK_EQ(pc_ftruncate(e, fd, 100), -EIO);
	CHECK_EQ(pc_pwrite(e, fd, "Z", 1, 2 * PG), 1);
	memset(w + 100, 0, 2 * PG - 100);
	w[2 * PG] = 'Z';
	check_contents(e, fd, w, 2 * PG + 1);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	check_host("tr", w, 2 * PG + 1);
	free(w);
	free(r);
}

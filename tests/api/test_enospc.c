/* SPDX-License-Identifier: MIT */
/*
 * A full volume and a failing store, through the public API.
 *
 * full_volume_*: a 16 MiB vol volume, mem_limit 8 MiB; one file written
 * 1 MiB at a time towards 64 MiB. Delayed allocation (store_reserve, vol's
 * reserve.c) must make every write that reports success durable: -ENOSPC
 * (or a short count) comes from the pwrite itself, never later from
 * writeback, fsync or close; the size after a failed write equals what was
 * acknowledged; fallocate and a second file get -ENOSPC; the cache stays
 * within mem_limit + the documented slack (sampled after every call). After
 * a remount every acknowledged byte reads back (none as zeroes), fsck finds
 * the volume clean, and after unlinking the file the volume takes a new
 * 8 MiB file. full_volume_loses_data_without_reservation turns the
 * reservation off (vol_test_no_reserve) and shows acknowledged bytes lost.
 *
 * full_volume_write_fault_sigbus: on the full volume a store through a
 * shared view into a hole gets SIGBUS at the fault (page_mkwrite's
 * reservation), a store into written data does not; with the reservation
 * off the store is taken and its byte is lost at writeback. Runs last: it
 * skips (exits) where userfaultfd is missing.
 *
 * failing_store_*: a 64 MiB vol volume, mem_limit 8 MiB; store writes fail
 * (injected -EIO, then -ENOSPC, sticky) for a period while a writer keeps
 * calling pc_pwrite a fixed number of times, then the injection clears.
 * Writers must get the error; the engine's store writes during the period
 * are bounded by a count (no retry storm: writeback.c's back-off); dirty
 * pages stay under dirty_limit + slack; data written before, during
 * (acknowledged) and after the period reads back after a remount, fsck
 * clean. failing_store_storms_without_backoff turns the back-off off
 * (writeback_test_retry_failing) and shows the storm or the growth.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/engine.h"
#include "basic_fixture.h"
#include "harness.h"
#include "mm/internal.h"
#include "store/vol/vol.h"
#include "store/vol/vstore.h"

#define MiB	  (1u << 20)
#define MEM_LIMIT (8u * MiB)
/* Slack over the limits (writeback.c "Persistent errors"): one page per
 * concurrent writer (one here) and the pages a fill is allowed past the
 * limit before reclaim catches up; generous. */
#define SLACK_PAGES 64

/* Never zero, so a byte that reads as zero was lost. */
static inline char pat(unsigned seed, uint64_t off)
{
	return (char)(((off * 131u + (off >> 12) * 7u + seed * 29u) % 255u) + 1u);
}

static void fill_pat(char *buf, size_t len, unsigned seed, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pat(seed, off + i);
}

static struct pc_engine *open_vol(const char *img)
{
	struct pc_options o = {.size = sizeof(o),
			       .store_image = img,
			       .mem_limit = MEM_LIMIT,
			       .writeback_interval_ms = 3600 * 1000};
	struct pc_engine *e = NULL;
	CHECK_EQ(pc_engine_open(&o, &e), 0);
	return e;
}

struct sample {
	unsigned long max_cached, max_dirty;
};

static void sample(struct pc_engine *e, struct sample *s)
{
	struct pc_stats st;
	pc_get_stats(e, &st, sizeof(st));
	if (st.cached_pages > s->max_cached)
		s->max_cached = st.cached_pages;
	if (st.dirty_pages + st.writeback_pages > s->max_dirty)
		s->max_dirty = st.dirty_pages + st.writeback_pages;
}

/* Bytes of [0, len) of @name that do not read back as the pattern. */
static size_t count_lost(struct pc_engine *e, const char *name, unsigned seed, size_t len,
			 size_t *zero_bytes)
{
	int fd = pc_open(e, name, O_RDONLY, 0);
	char *buf, *want;
	size_t lost = 0;

	*zero_bytes = 0;
	if (fd == -ENOENT)
		return len; /* the file is gone: all of it */
	buf = malloc(MiB);
	want = malloc(MiB);
	CHECK(fd >= 0 && buf && want);
	for (size_t off = 0; off < len; off += MiB) {
		size_t n = len - off < MiB ? len - off : MiB;
		ssize_t r = pc_pread(e, fd, buf, n, (int64_t)off);
		if (r < 0)
			r = 0;
		fill_pat(want, n, seed, off);
		for (size_t i = 0; i < n; i++) {
			if (i >= (size_t)r || buf[i] != want[i])
				lost++;
			if (i < (size_t)r && buf[i] == 0)
				(*zero_bytes)++;
		}
	}
	CHECK_EQ(pc_close(e, fd), 0);
	free(buf);
	free(want);
	return lost;
}

struct full_result {
	size_t acked;		 /* bytes the writes reported written */
	unsigned enospc, shorts; /* pwrites that returned -ENOSPC / short */
	int fsync_err, close_err;
	size_t lost, zeroes; /* after the remount */
	int64_t size_after;
};

static void full_volume(bool no_reserve, struct full_result *res)
{
	char img[1200];
	snprintf(img, sizeof(img), "%s/full.vol", fresh());
	struct vol_mkfs_opts mo = {.size = 16 << 20};
	CHECK_EQ(vol_create(img, &mo), 0);
	char *buf = malloc(MiB);
	struct sample smp = {0, 0};
	struct stat st;

	memset(res, 0, sizeof(*res));
	__atomic_store_n(&vol_test_no_reserve, no_reserve, __ATOMIC_RELAXED);
	struct pc_engine *e = open_vol(img);
	unsigned long dirty_limit = e->cache.dirty_limit;
	int fd = pc_open(e, "x", O_RDWR | O_CREAT, 0644);
	CHECK(fd >= 0);
	unsigned fails = 0;
	for (int i = 0; i < 64 && fails < 4; i++) {
		fill_pat(buf, MiB, 1, res->acked);
		ssize_t n = pc_pwrite(e, fd, buf, MiB, (int64_t)res->acked);
		sample(e, &smp);
		if (n == (ssize_t)MiB) {
			res->acked += MiB;
		} else if (n > 0) {
			res->acked += (size_t)n;
			res->shorts++;
			fails++;
		} else {
			CHECKF(n == -ENOSPC, "pwrite at %zu: %zd", res->acked, n);
			res->enospc++;
			fails++;
		}
		/* size and readable data agree with what was acknowledged */
		CHECK_EQ(pc_fstat(e, fd, &st), 0);
		CHECK_EQ((size_t)st.st_size, res->acked);
	}
	if (!no_reserve) {
		/* Space is gone for everyone: fallocate and another file. */
		CHECK_EQ(pc_fallocate(e, fd, 0, (int64_t)res->acked, MiB), -ENOSPC);
		int fb = pc_open(e, "b", O_RDWR | O_CREAT, 0644);
		CHECK(fb >= 0);
		fill_pat(buf, MiB, 2, 0);
		CHECK_EQ(pc_pwrite(e, fb, buf, MiB, 0), -ENOSPC);
		CHECK_EQ(pc_fstat(e, fb, &st), 0);
		CHECK_EQ(st.st_size, 0);
		CHECK_EQ(pc_close(e, fb), 0);
		CHECK_EQ(pc_unlink(e, "b"), 0);
	}
	res->fsync_err = pc_fsync(e, fd);
	res->close_err = pc_close(e, fd);
	sample(e, &smp);
	(void)pc_engine_close(e);
	__atomic_store_n(&vol_test_no_reserve, false, __ATOMIC_RELAXED);
	printf("# %s: acked %zu MiB + %zu B, %u -ENOSPC, %u short; fsync %d close %d; "
	       "max cached %lu pages (limit %u), max dirty %lu (limit %lu)\n",
	       no_reserve ? "reservation off" : "reservation on", res->acked / MiB,
	       res->acked % MiB, res->enospc, res->shorts, res->fsync_err, res->close_err,
	       smp.max_cached, MEM_LIMIT / PG, smp.max_dirty, dirty_limit);
	CHECK(smp.max_cached <= MEM_LIMIT / PG + SLACK_PAGES);
	if (!no_reserve)
		CHECK(smp.max_dirty <= dirty_limit + SLACK_PAGES);

	/* Remount: fsck, then every acknowledged byte. */
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_CLEAN);
	e = open_vol(img);
	fd = pc_open(e, "x", O_RDONLY, 0);
	CHECK(fd >= 0);
	CHECK_EQ(pc_fstat(e, fd, &st), 0);
	res->size_after = st.st_size;
	CHECK_EQ(pc_close(e, fd), 0);
	res->lost = count_lost(e, "x", 1, res->acked, &res->zeroes);
	printf("# after remount: size %lld, %zu acknowledged bytes lost (%zu read as zeroes)\n",
	       (long long)res->size_after, res->lost, res->zeroes);
	if (!no_reserve) {
		/* The volume is usable again once the file goes. */
		CHECK_EQ(pc_unlink(e, "x"), 0);
		int fy = pc_open(e, "y", O_RDWR | O_CREAT, 0644);
		CHECK(fy >= 0);
		for (size_t off = 0; off < 8 * MiB; off += MiB) {
			fill_pat(buf, MiB, 3, off);
			CHECK_EQ(pc_pwrite(e, fy, buf, MiB, (int64_t)off), (ssize_t)MiB);
		}
		CHECK_EQ(pc_fsync(e, fy), 0);
		CHECK_EQ(pc_close(e, fy), 0);
		size_t z;
		CHECK_EQ(count_lost(e, "y", 3, 8 * MiB, &z), 0);
	}
	CHECK_EQ(pc_engine_close(e), 0);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_CLEAN);
	free(buf);
}

TEST(full_volume_reports_enospc_at_write)
{
	struct full_result r;
	full_volume(false, &r);
	CHECK(r.acked > 8 * MiB && r.acked < 16 * MiB);
	CHECK(r.enospc + r.shorts > 0);
	CHECK_EQ(r.fsync_err, 0); /* writeback never met -ENOSPC */
	CHECK_EQ(r.close_err, 0);
	CHECK_EQ(r.size_after, (int64_t)r.acked);
	CHECK_EQ(r.lost, 0);
	CHECK_EQ(r.zeroes, 0);
}

TEST(full_volume_loses_data_without_reservation)
{
	struct full_result r;
	full_volume(true, &r);
	/* Writes were acknowledged that the volume could not hold: they show
	 * up lost after the remount (or at best as errors after the fact). */
	CHECKF(r.lost > 0, "acknowledged %zu, lost %zu", r.acked, r.lost);
}

/* Many small files (tar into a full volume): 20 KiB each into a 16 MiB
 * volume until its inodes run out (about 1,000: 20 MiB), the writes
 * failing on the way; each file's size is what its write acknowledged, and
 * after a remount every acknowledged byte is there. */
#define NSMALL 2400
#define SMALL  (20 * 1024)

static void small_files(bool no_reserve, size_t *lost, unsigned *failed, int *fsync_err)
{
	char img[1200], name[32];
	snprintf(img, sizeof(img), "%s/small.vol", fresh());
	struct vol_mkfs_opts mo = {.size = 16 << 20};
	CHECK_EQ(vol_create(img, &mo), 0);
	static char buf[SMALL];
	static uint32_t acked[NSMALL];
	struct stat st;

	__atomic_store_n(&vol_test_no_reserve, no_reserve, __ATOMIC_RELAXED);
	struct pc_engine *e = open_vol(img);
	unsigned nfiles = NSMALL;
	*failed = 0;
	*fsync_err = 0;
	for (unsigned i = 0; i < NSMALL; i++) {
		snprintf(name, sizeof(name), "f%u", i);
		int fd = pc_open(e, name, O_RDWR | O_CREAT, 0644);
		if (fd == -ENOSPC) { /* no inode left */
			nfiles = i;
			break;
		}
		CHECKF(fd >= 0, "create %s: %d", name, fd);
		fill_pat(buf, SMALL, 10 + i, 0);
		ssize_t n = pc_pwrite(e, fd, buf, SMALL, 0);
		CHECKF(n == -ENOSPC || n > 0, "write %s: %zd", name, n);
		acked[i] = n > 0 ? (uint32_t)n : 0;
		*failed += n != SMALL;
		CHECK_EQ(pc_fstat(e, fd, &st), 0);
		CHECK_EQ((uint32_t)st.st_size, acked[i]);
		int c = pc_close(e, fd);
		if (c && !*fsync_err)
			*fsync_err = c;
		CHECK(no_reserve || c == 0);
	}
	(void)pc_engine_close(e);
	__atomic_store_n(&vol_test_no_reserve, false, __ATOMIC_RELAXED);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_CLEAN);
	e = open_vol(img);
	*lost = 0;
	for (unsigned i = 0; i < nfiles; i++) {
		size_t z;
		snprintf(name, sizeof(name), "f%u", i);
		*lost += count_lost(e, name, 10 + i, acked[i], &z);
	}
	CHECK_EQ(pc_engine_close(e), 0);
	printf("# %s: %u files, %u writes failed or were short; first close error %d; "
	       "%zu acknowledged bytes lost after remount\n",
	       no_reserve ? "reservation off" : "reservation on", nfiles, *failed, *fsync_err,
	       *lost);
}

TEST(small_files_fill_volume)
{
	size_t lost;
	unsigned failed;
	int err;
	small_files(false, &lost, &failed, &err);
	CHECK(failed > 0);
	CHECK_EQ(err, 0);
	CHECK_EQ(lost, 0);
	small_files(true, &lost, &failed, &err);
	CHECKF(lost > 0 || err != 0, "reservation off: nothing lost or reported late");
}

/* ---- a failing store ---- */

struct fail_result {
	unsigned long store_writes[2]; /* engine's store writes per failing period */
	unsigned long calls[2], errors[2];
	unsigned long max_dirty, dirty_limit;
	size_t lost;
};

#define FAIL_CALLS 256
#define CHUNK	   (64 * 1024)

static void failing_store(bool storm, struct fail_result *res)
{
	static const int errs[2] = {EIO, ENOSPC};
	char img[1200];
	snprintf(img, sizeof(img), "%s/fail.vol", fresh());
	struct vol_mkfs_opts mo = {.size = 64 << 20};
	CHECK_EQ(vol_create(img, &mo), 0);
	char *buf = malloc(4 * MiB);
	struct sample smp = {0, 0};

	memset(res, 0, sizeof(*res));
	struct pc_engine *e = open_vol(img);
	res->dirty_limit = e->cache.dirty_limit;
	int fd = pc_open(e, "a", O_RDWR | O_CREAT, 0644);
	CHECK(fd >= 0);
	/* before: 4 MiB, durable */
	fill_pat(buf, 4 * MiB, 7, 0);
	CHECK_EQ(pc_pwrite(e, fd, buf, 4 * MiB, 0), (ssize_t)(4 * MiB));
	CHECK_EQ(pc_fsync(e, fd), 0);
	size_t acked = 4 * MiB;

	__atomic_store_n(&writeback_test_retry_failing, storm, __ATOMIC_RELAXED);
	for (int k = 0; k < 2; k++) {
		unsigned long w0 = store_calls(e->store, STORE_OP_WRITE);
		store_inject_fail(e->store, STORE_OP_WRITE, 1, errs[k], true);
		/* without the back-off each call costs thousands of store
		 * writes: fewer calls show it */
		for (int i = 0; i < (storm ? 32 : FAIL_CALLS); i++) {
			fill_pat(buf, CHUNK, 7, acked);
			ssize_t n = pc_pwrite(e, fd, buf, CHUNK, (int64_t)acked);
			sample(e, &smp);
			res->calls[k]++;
			if (n > 0)
				acked += (size_t)n;
			else if (n == -errs[k])
				res->errors[k]++;
			else
				CHECKF(0, "pwrite: %zd, want %d", n, -errs[k]);
		}
		res->store_writes[k] = store_calls(e->store, STORE_OP_WRITE) - w0;
		store_inject_clear(e->store);
		/* the store is back: fsync writes everything and reports the
		 * error once for this file (errseq), then 0 */
		int f1 = pc_fsync(e, fd);
		CHECKF(f1 == -errs[k] || f1 == 0, "fsync after the period: %d", f1);
		CHECK_EQ(pc_fsync(e, fd), 0);
	}
	__atomic_store_n(&writeback_test_retry_failing, false, __ATOMIC_RELAXED);
	res->max_dirty = smp.max_dirty;
	/* after: 4 MiB more, durable */
	for (size_t off = 0; off < 4 * MiB; off += MiB) {
		fill_pat(buf, MiB, 7, acked);
		CHECK_EQ(pc_pwrite(e, fd, buf, MiB, (int64_t)acked), (ssize_t)MiB);
		acked += MiB;
	}
	CHECK_EQ(pc_fsync(e, fd), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_CLEAN);
	e = open_vol(img);
	size_t z;
	res->lost = count_lost(e, "a", 7, acked, &z);
	CHECK_EQ(pc_engine_close(e), 0);
	for (int k = 0; k < 2; k++)
		printf("# %s, -%s period: %lu pwrites, %lu got the error, %lu store writes by "
		       "the engine\n",
		       storm ? "back-off off" : "back-off on", k ? "ENOSPC" : "EIO", res->calls[k],
		       res->errors[k], res->store_writes[k]);
	printf("# max dirty+writeback %lu pages (dirty_limit %lu); %zu MiB acknowledged, %zu "
	       "bytes lost after remount\n",
	       res->max_dirty, res->dirty_limit, acked / MiB, res->lost);
	free(buf);
}

TEST(failing_store_bounded_and_reported)
{
	struct fail_result r;
	failing_store(false, &r);
	for (int k = 0; k < 2; k++) {
		CHECK(r.errors[k] > 0); /* writers got the error */
		/* No storm: a bounded number of store writes per period (the
		 * first failures, one probe per WB_FAIL_PROBE turned-away
		 * calls), however often the writer calls. */
		CHECKF(r.store_writes[k] <= 16 + r.calls[k] / WB_FAIL_PROBE, "%lu store writes",
		       r.store_writes[k]);
	}
	CHECK(r.max_dirty <= r.dirty_limit + SLACK_PAGES);
	CHECK_EQ(r.lost, 0);
}

TEST(failing_store_storms_without_backoff)
{
	struct fail_result r;
	failing_store(true, &r);
	bool storm = false;
	for (int k = 0; k < 2; k++)
		storm |= r.store_writes[k] > 16 + r.calls[k] / WB_FAIL_PROBE;
	CHECKF(storm || r.max_dirty > r.dirty_limit + SLACK_PAGES,
	       "store writes %lu/%lu, max dirty %lu", r.store_writes[0], r.store_writes[1],
	       r.max_dirty);
	CHECK_EQ(r.lost, 0); /* the data is kept either way */
}

__attribute__((constructor)) static void install_app_handler(void)
{
	install_bus_catcher(); /* before any engine installs its own */
}

static void write_fault(bool no_reserve)
{
	char img[1200];
	snprintf(img, sizeof(img), "%s/fault.vol", fresh());
	struct vol_mkfs_opts mo = {.size = 16 << 20};
	CHECK_EQ(vol_create(img, &mo), 0);
	char *buf = malloc(MiB);
	size_t acked = 0;

	struct pc_engine *e = open_vol(img);
	int fd = pc_open(e, "x", O_RDWR | O_CREAT, 0644);
	CHECK(fd >= 0);
	for (ssize_t n = MiB; n == (ssize_t)MiB;) {
		fill_pat(buf, MiB, 1, acked);
		n = pc_pwrite(e, fd, buf, MiB, (int64_t)acked);
		acked += n > 0 ? (size_t)n : 0;
	}
	acked &= ~(size_t)(PG - 1);
	CHECK_EQ(pc_ftruncate(e, fd, (int64_t)acked), 0);
	CHECK_EQ(pc_fsync(e, fd), 0);
	/* a hole of 64 pages past the data */
	size_t len = acked + 64 * PG;
	CHECK_EQ(pc_ftruncate(e, fd, (int64_t)len), 0);
	__atomic_store_n(&vol_test_no_reserve, no_reserve, __ATOMIC_RELAXED);
	char *p = map_view(e, fd, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	CHECK(!store_bus(p, 'a')); /* written data: no allocation needed */
	unsigned bus = 0;
	for (size_t off = acked; off < len; off += PG)
		bus += store_bus(p + off, 'b');
	CHECK_EQ(pc_munmap(e, p, len), 0);
	int fs = pc_fsync(e, fd);
	__atomic_store_n(&vol_test_no_reserve, false, __ATOMIC_RELAXED);
	printf("# %s: %u of 64 stores into holes of a full volume got SIGBUS; fsync %d\n",
	       no_reserve ? "reservation off" : "reservation on", bus, fs);
	if (no_reserve) {
		CHECK(bus == 0 && fs == -ENOSPC); /* taken, then lost */
	} else {
		/* the first few may fit (what the truncate and the last short
		 * write left); the rest fault, and what was taken is durable */
		CHECK(bus >= 56);
		CHECK_EQ(fs, 0);
	}
	CHECK_EQ(pc_ftruncate(e, fd, (int64_t)acked), 0);
	(void)pc_close(e, fd);
	(void)pc_engine_close(e);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_CLEAN);
	free(buf);
}

TEST(full_volume_write_fault_sigbus)
{
	write_fault(false);
	write_fault(true);
}

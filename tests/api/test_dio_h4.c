/* SPDX-License-Identifier: MIT */
/*
 * test_dio_h4.c - hazard H4 (docs/design.md §2, §7.5): I/O whose user buffer
 * is a view of the very file it reads or writes. A file of two pages, page
 * 0 a hole and page 1 data (stamp S), viewed whole (read-write):
 *   (a) buffered pread of page 1 into the view of page 0;
 *   (b) O_DIRECT pread of page 1 into the view of page 0;
 *   (c) buffered pwrite from the view of page 1 to offset 0;
 *   (d) O_DIRECT pwrite from the view of page 1 to offset 0 (a fault on the
 *       DIO's own file outside its range: BLOCK is given up and retaken);
 *   (e) O_DIRECT pread of the hole (page 0) into the view of page 0;
 *   (f) O_DIRECT pwrite of the view of page 1 onto page 1 (its own range:
 *       the window goes through a bounce buffer).
 * Each with the pages cached or not, many rounds, the watchdog on: every
 * call returns PG (no EFAULT, no hang), the file then holds what the call
 * says, and the retries each call needed stay bounded (counted in
 * pc_get_stats: dio_retries, dio_dropped, dio_bounced). A last check shows
 * the counters are what makes (d) and (f) complete: without the fault
 * rule's own-file cases the store call can only fail (EFAULT).
 *
 * The switch: with the rule's own-file case off (fault_dio_test_no_self_rule)
 * the fault of (d) waits for ADD of its own file under its own BLOCK; in a
 * forked child the validator or the watchdog then kills it (SIGABRT).
 */
#include <linux/falloc.h>

#include "kernel/task.h"
#include "kernel/watchdog.h"
#include "mm/fault_dio.h"
#include "test_dio_fixture.h"

enum h4_case {
	C_BUF_READ,
	C_DIO_READ,
	C_BUF_WRITE,
	C_DIO_WRITE,
	C_DIO_READ_HOLE,
	C_DIO_SELF,
	C_NR
};
static const char *const cname[C_NR] = {
    "buffered pread page 1 -> view of page 0", "O_DIRECT pread page 1 -> view of page 0",
    "buffered pwrite view of page 1 -> 0",     "O_DIRECT pwrite view of page 1 -> 0",
    "O_DIRECT pread hole -> view of page 0",   "O_DIRECT pwrite view of page 1 -> 1"};

struct h4 {
	struct pc_engine *e;
	int fd, dfd;
	char *view;
	char *buf;
};

/* Page 0 a hole, page 1 stamp @s; @cached: both pages in the cache. */
static void reset(struct h4 *h, uint32_t s, bool cached)
{
	int err;

	stamp_page(h->buf, s);
	CHECK_EQ(pc_pwrite(h->e, h->dfd, h->buf, PG, PG), PG);
	err = pc_fallocate(h->e, h->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, PG);
	if (err == -EOPNOTSUPP) {
		stamp_page(h->buf, 0);
		CHECK_EQ(pc_pwrite(h->e, h->dfd, h->buf, PG, 0), PG);
	} else {
		CHECK_EQ(err, 0);
	}
	CHECK_EQ(pc_fdatasync(h->e, h->fd), 0);
	CHECK_EQ(pc_fadvise(h->e, h->fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	if (cached) {
		CHECK_EQ(pc_pread(h->e, h->fd, h->buf, PG, 0), PG);
		CHECK_EQ(pc_pread(h->e, h->fd, h->buf, PG, PG), PG);
	}
}

static uint32_t file_stamp(struct h4 *h, int page)
{
	CHECK_EQ(pc_pread(h->e, h->fd, h->buf, PG, (off_t)page * PG), PG);
	return page_stamp(h->buf);
}

static void one(struct h4 *h, enum h4_case c, uint32_t s)
{
	ssize_t r = 0;
	uint32_t want0 = 0, want1 = s;

	switch (c) {
	case C_BUF_READ:
		r = pc_pread(h->e, h->fd, h->view, PG, PG);
		want0 = s;
		break;
	case C_DIO_READ:
		r = pc_pread(h->e, h->dfd, h->view, PG, PG);
		want0 = s;
		break;
	case C_BUF_WRITE:
		r = pc_pwrite(h->e, h->fd, h->view + PG, PG, 0);
		want0 = s;
		break;
	case C_DIO_WRITE:
		r = pc_pwrite(h->e, h->dfd, h->view + PG, PG, 0);
		want0 = s;
		break;
	case C_DIO_READ_HOLE:
		r = pc_pread(h->e, h->dfd, h->view, PG, 0);
		break;
	case C_DIO_SELF:
		r = pc_pwrite(h->e, h->dfd, h->view + PG, PG, PG);
		break;
	case C_NR:
		break;
	}
	CHECKF(r == PG, "%s: %zd (%s)", cname[c], r, r < 0 ? strerror((int)-r) : "short");
	CHECKF(file_stamp(h, 0) == want0, "%s: page 0 is %#x, want %#x", cname[c],
	       page_stamp(h->buf), want0);
	CHECKF(file_stamp(h, 1) == want1, "%s: page 1 is %#x, want %#x", cname[c],
	       page_stamp(h->buf), want1);
	CHECKF(page_stamp(h->view) == want0 && page_stamp(h->view + PG) == want1,
	       "%s: the view disagrees with pread", cname[c]);
}

TEST(h4_same_file_buffers_complete)
{
	struct h4 h = {.e = dio_engine(PC_POLICY_TWO_STATE)};
	unsigned long n = test_scale(3000, 30);
	struct pc_stats st0, st1;
	unsigned long per[C_NR][3] = {{0}};

	h.fd = pc_open(h.e, "f", O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(h.fd >= 0);
	h.dfd = dio_open(h.e, "f", O_RDWR);
	h.buf = dio_abuf(PG);
	CHECK_EQ(pc_ftruncate(h.e, h.fd, 2 * PG), 0);
	h.view = dio_map(h.e, h.fd, 2 * PG, PROT_READ | PROT_WRITE, 0);
	CHECK_EQ(watchdog_start(20000, NULL), 0);
	task_set_watched(true);
	for (unsigned long i = 0; i < n; i++) {
		enum h4_case c = (enum h4_case)(i % C_NR);
		uint32_t s = 0x1000 + (uint32_t)i;

		reset(&h, s, (i / C_NR) % 2);
		st0 = dio_stats(h.e);
		one(&h, c, s);
		st1 = dio_stats(h.e);
		/* bounded: a few rounds per call, never a livelock */
		CHECKF(st1.dio_retries - st0.dio_retries <= 8, "%s: %llu retries", cname[c],
		       (unsigned long long)(st1.dio_retries - st0.dio_retries));
		per[c][0] += st1.dio_retries - st0.dio_retries;
		per[c][1] += st1.dio_dropped - st0.dio_dropped;
		per[c][2] += st1.dio_bounced - st0.dio_bounced;
	}
	task_set_watched(false);
	watchdog_stop();
	for (int c = 0; c < C_NR; c++)
		printf("# %-42s %5lu calls: %lu retries, %lu BLOCK given up, %lu bounced\n",
		       cname[c], (n + C_NR - 1 - (unsigned long)c) / C_NR, per[c][0], per[c][1],
		       per[c][2]);
	/* (d) gave BLOCK up to fill page 1, (f) bounced: the counters show the
	 * paths that make them complete were taken. */
	CHECK(per[C_DIO_WRITE][1] > 0);
	CHECK(per[C_DIO_SELF][2] > 0);
	CHECK_EQ(pc_munmap(h.e, h.view, 2 * PG), 0);
	free(h.buf);
	CHECK_EQ(pc_close(h.e, h.dfd), 0);
	CHECK_EQ(pc_close(h.e, h.fd), 0);
	CHECK_EQ(pc_engine_close(h.e), 0);
}

/* Larger calls: half of a file's view onto its other half, the whole view
 * onto itself, the file read into its own view shifted by a page, and an
 * extending write from the view past EOF. */
TEST(h4_large_self_copies)
{
	struct pc_engine *e = dio_engine(PC_POLICY_TWO_STATE);
	enum { NPG = 64 };
	int fd = pc_open(e, "g", O_RDWR | O_CREAT | O_TRUNC, 0644), dfd;
	char *buf = dio_abuf(NPG * PG), *view;

	CHECK(fd >= 0);
	dfd = dio_open(e, "g", O_RDWR);
	for (int k = 0; k < NPG; k++)
		stamp_page(buf + (size_t)k * PG, 0x500 + (uint32_t)k);
	CHECK_EQ(pc_pwrite(e, dfd, buf, NPG * PG, 0), NPG * PG);
	view = dio_map(e, fd, NPG * PG, PROT_READ | PROT_WRITE, 0);
	/* first half onto the second half: the source is outside the range */
	CHECK_EQ(pc_pwrite(e, dfd, view, NPG / 2 * PG, NPG / 2 * PG), NPG / 2 * PG);
	/* the whole file onto itself */
	CHECK_EQ(pc_pwrite(e, dfd, view, NPG * PG, 0), NPG * PG);
	/* the file read into its own view, shifted by one page */
	CHECK_EQ(pc_pread(e, dfd, view + PG, (NPG - 1) * PG, 0), (NPG - 1) * PG);
	CHECK_EQ(pc_pread(e, fd, buf, NPG * PG, 0), NPG * PG);
	for (int k = 0; k < NPG; k++) {
		uint32_t want = 0x500 + (uint32_t)(k % (NPG / 2));
		if (k >= 1)
			want = 0x500 + (uint32_t)((k - 1) % (NPG / 2));
		/* the shifted read copied page k-1 to k, for k = 1.. in one
		 * O_DIRECT read of the store: each page got the store's old k-1 */
		CHECKF(page_stamp(buf + (size_t)k * PG) == want, "page %d: %#x want %#x", k,
		       page_stamp(buf + (size_t)k * PG), want);
	}
	/* extending (i_rwsem exclusive): pages 2 and 3 of the view past EOF */
	CHECK_EQ(pc_pwrite(e, dfd, view + 2 * PG, 2 * PG, NPG * PG), 2 * PG);
	CHECK_EQ(pc_lseek(e, fd, 0, SEEK_END), (NPG + 2) * PG);
	CHECK_EQ(pc_pread(e, fd, buf, 2 * PG, NPG * PG), 2 * PG);
	CHECK_EQ(page_stamp(buf), 0x501);
	CHECK_EQ(page_stamp(buf + PG), 0x502);
	CHECK_EQ(pc_munmap(e, view, NPG * PG), 0);
	free(buf);
	CHECK_EQ(pc_close(e, dfd), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

/* The hazard switch: (d) with the own-file case of the rule off hangs on
 * its own BLOCK. */
static void h4_rule_off_child(void *unused)
{
	struct h4 h = {.e = dio_engine(PC_POLICY_TWO_STATE)};

	(void)unused;
	h.fd = pc_open(h.e, "f", O_RDWR | O_CREAT | O_TRUNC, 0644);
	h.dfd = dio_open(h.e, "f", O_RDWR);
	h.buf = dio_abuf(PG);
	if (h.fd < 0 || pc_ftruncate(h.e, h.fd, 2 * PG))
		_exit(2);
	h.view = dio_map(h.e, h.fd, 2 * PG, PROT_READ | PROT_WRITE, 0);
	reset(&h, 0x4444, false);
	watchdog_start(2000, NULL);
	task_set_watched(true);
	fault_dio_test_no_self_rule = true;
	(void)pc_pwrite(h.e, h.dfd, h.view + PG, PG, 0); /* case (d) */
}

TEST(h4_rule_off_dio_waits_for_itself)
{
	expect_child_abort(h4_rule_off_child, NULL);
}

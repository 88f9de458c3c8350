/* SPDX-License-Identifier: MIT */
/*
 * test_dio_redirty.c - an O_DIRECT read re-dirties the view pages it read
 * into, and only those (fs/direct.c dio_redirty, mm/vma.c
 * mm_range_has_view).
 *
 * The hazard: a page of a writable shared view, installed writable, is the
 * read's buffer; writeback of the viewed file cleans it (and write-protects
 * it) while the store read is still writing into it, so the new bytes sit
 * under a clean page and never reach the viewed file's store. The read
 * touches its pages as stores afterwards (page_mkwrite re-dirties such a
 * page), but only where the buffer overlaps a view: ordinary memory is left
 * alone (the touch cost a cache miss a page after the device wrote it).
 *
 * (a) mm_range_has_view against views, their neighbours, a split view and
 *     no view at all; the switch mm_test_range_never_view makes it false.
 * (b) The race, made deterministic: the knob dio_test_after_store_read
 *     runs, between the store read and the re-dirtying, what writeback
 *     during the store read would have left (a helper thread writes the
 *     viewed file back, then puts the bytes from before the read back into
 *     its host file, as a writeback that copied the page before the device
 *     wrote it). Then the view's file is written back again: with the
 *     re-dirtying its host file holds the read's bytes; with
 *     mm_test_range_never_view on it keeps the old ones (the hazard shows).
 *     Both fault mechanisms (userfaultfd write-protect, the fallback's
 *     mprotect), each where the host offers it.
 * (c) A read into ordinary memory (nothing re-dirtied) and a read into
 *     pages of a view not yet faulted in (the fault-in round, then the
 *     re-dirtying): the bytes are right and reach the viewed file.
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>

#include "fs/file.h"
#include "mm/vma.h"
#include "test_dio_fixture.h"

#define OLD_STAMP 0x01d01d01u
#define NEW_STAMP 0x0e0e0e0eu

TEST(range_has_view_bounds)
{
	struct pc_engine *e = dio_engine(PC_POLICY_TWO_STATE);
	char *plain = dio_abuf(4 * PG), *v;
	int fd = pc_open(e, "v", O_RDWR | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0);
	CHECK_EQ(pc_ftruncate(e, fd, 6 * PG), 0);
	/* no view in the process (every other case unmaps its own) */
	CHECK(!mm_range_has_view(plain, 4 * PG));
	v = dio_map(e, fd, 6 * PG, PROT_READ | PROT_WRITE, 0);
	CHECK(!mm_range_has_view(plain, 4 * PG));
	CHECK(mm_range_has_view(v, 6 * PG));
	CHECK(mm_range_has_view(v, 1));
	CHECK(mm_range_has_view(v + 6 * PG - 1, 1));
	CHECK(mm_range_has_view(v - PG, PG + 1));      /* ends in the view's first byte */
	CHECK(!mm_range_has_view(v - PG, PG));	       /* ends just below it */
	CHECK(!mm_range_has_view(v + 6 * PG, PG));     /* starts just above it */
	CHECK(mm_range_has_view(v - 8 * PG, 20 * PG)); /* holds it */
	CHECK(mm_range_has_view(v + PG, SIZE_MAX));    /* wraps: up to the top */
	CHECK(!mm_range_has_view(v, 0));
	/* a hole in the middle: two views, nothing between them */
	CHECK_EQ(pc_munmap(e, v + 2 * PG, 2 * PG), 0);
	CHECK(!mm_range_has_view(v + 2 * PG, 2 * PG));
	CHECK(mm_range_has_view(v + 2 * PG, 2 * PG + 1));
	CHECK(mm_range_has_view(v + PG, 2 * PG));
	CHECK(mm_range_has_view(v + 3 * PG, 2 * PG));
	mm_test_range_never_view = true;
	CHECK(!mm_range_has_view(v, 6 * PG)); /* the switch */
	mm_test_range_never_view = false;
	CHECK_EQ(pc_munmap(e, v, 2 * PG), 0);
	CHECK(mm_range_has_view(v, 6 * PG));
	CHECK_EQ(pc_munmap(e, v + 4 * PG, 2 * PG), 0);
	CHECK(!mm_range_has_view(v, 6 * PG)); /* none left */
	free(plain);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

/* (b): the helper thread that plays writeback during the store read. */
static struct {
	struct pc_engine *e;
	int fd;	    /* the viewed file "b" */
	char *path; /* its host file */
	sem_t go, done;
	int calls;
	bool stop;
} wb;

static void *writeback_thread(void *arg)
{
	(void)arg;
	for (;;) {
		CHECK_EQ(sem_wait(&wb.go), 0);
		if (wb.stop)
			return NULL;
		/* cleans and write-protects the page (it holds the new bytes) */
		CHECK_EQ(pc_fsync(wb.e, wb.fd), 0);
		/* ... as if writeback had copied it before the device wrote it */
		char *old = dio_abuf(PG);
		int hfd = open(wb.path, O_WRONLY);

		stamp_page(old, OLD_STAMP);
		CHECK(hfd >= 0);
		CHECK_EQ(pwrite(hfd, old, PG, 0), PG);
		CHECK_EQ(close(hfd), 0);
		free(old);
		CHECK_EQ(sem_post(&wb.done), 0);
	}
}

static void after_store_read(void *buf, size_t len, int64_t pos)
{
	(void)buf, (void)len, (void)pos;
	wb.calls++;
	CHECK_EQ(sem_post(&wb.go), 0);
	CHECK_EQ(sem_wait(&wb.done), 0);
}

static uint32_t host_stamp(const char *path)
{
	char *p = dio_abuf(PG);
	int hfd = open(path, O_RDONLY);
	uint32_t s;

	CHECK(hfd >= 0);
	CHECK_EQ(pread(hfd, p, PG, 0), PG);
	CHECK_EQ(close(hfd), 0);
	s = page_stamp(p);
	free(p);
	return s;
}

/* One O_DIRECT read of a NEW page of "a" into the first page of a writable
 * view of "b" (OLD), with writeback of "b" played during the store read;
 * returns the stamp of b's host file after "b" is written back again. */
static uint32_t read_into_cleaned_view(bool never_view, int mech)
{
	struct pc_options o = {.size = sizeof(struct pc_options),
			       .store_dir = fresh(),
			       .writeback_interval_ms = 3600 * 1000,
			       .fault_mechanism = mech,
			       .policy = PC_POLICY_TWO_STATE};
	struct pc_engine *e = NULL;
	char *page = dio_abuf(PG), path[1400];
	int afd, adfd, bfd;
	pthread_t t;
	uint32_t got;
	char *v;

	CHECK_EQ(pc_engine_open(&o, &e), 0);
	afd = pc_open(e, "a", O_RDWR | O_CREAT | O_TRUNC, 0644);
	bfd = pc_open(e, "b", O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(afd >= 0 && bfd >= 0);
	stamp_page(page, NEW_STAMP);
	CHECK_EQ(pc_pwrite(e, afd, page, PG, 0), PG);
	CHECK_EQ(pc_fsync(e, afd), 0);
	adfd = dio_open(e, "a", O_RDONLY);
	stamp_page(page, OLD_STAMP);
	CHECK_EQ(pc_pwrite(e, bfd, page, PG, 0), PG);
	CHECK_EQ(pc_fsync(e, bfd), 0);
	snprintf(path, sizeof(path), "%s/b", dir);
	v = dio_map(e, bfd, PG, PROT_READ | PROT_WRITE, 0);
	/* installed writable: a store re-dirties it (page_mkwrite) */
	stamp_page(v, OLD_STAMP);

	wb.e = e;
	wb.fd = bfd;
	wb.path = path;
	wb.calls = 0;
	wb.stop = false;
	CHECK_EQ(sem_init(&wb.go, 0, 0), 0);
	CHECK_EQ(sem_init(&wb.done, 0, 0), 0);
	CHECK_EQ(pthread_create(&t, NULL, writeback_thread, NULL), 0);
	mm_test_range_never_view = never_view;
	dio_test_after_store_read = after_store_read;
	CHECK_EQ(pc_pread(e, adfd, v, PG, 0), PG);
	dio_test_after_store_read = NULL;
	mm_test_range_never_view = false;
	wb.stop = true;
	CHECK_EQ(sem_post(&wb.go), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	sem_destroy(&wb.go);
	sem_destroy(&wb.done);
	/* the store read went straight into the page (no fault-in round) */
	CHECK_EQ(wb.calls, 1);
	CHECK_EQ(page_stamp(v), NEW_STAMP);

	CHECK_EQ(pc_fsync(e, bfd), 0);
	got = host_stamp(path);
	CHECK_EQ(pc_munmap(e, v, PG), 0);
	free(page);
	CHECK_EQ(pc_close(e, adfd), 0);
	CHECK_EQ(pc_close(e, afd), 0);
	CHECK_EQ(pc_close(e, bfd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	return got;
}

static const struct {
	int mech;
	const char *name;
} mechs[] = {{PC_FAULT_UFFD, "userfaultfd"}, {PC_FAULT_FALLBACK, "fallback"}};

TEST(view_page_cleaned_during_read_is_redirtied)
{
	for (size_t k = 0; k < sizeof(mechs) / sizeof(mechs[0]); k++) {
		if (mm_fault_mechanism(mechs[k].mech) < 0) {
			test_skip_part("%s: not available here", mechs[k].name);
			continue;
		}
		uint32_t got = read_into_cleaned_view(false, mechs[k].mech);

		printf("# %s: b's host page after writeback: 0x%08x (read's 0x%08x)\n",
		       mechs[k].name, got, NEW_STAMP);
		CHECK_EQ(got, NEW_STAMP);
	}
}

TEST(view_page_left_clean_without_redirty_shows)
{
	for (size_t k = 0; k < sizeof(mechs) / sizeof(mechs[0]); k++) {
		if (mm_fault_mechanism(mechs[k].mech) < 0) {
			test_skip_part("%s: not available here", mechs[k].name);
			continue;
		}
		uint32_t got = read_into_cleaned_view(true, mechs[k].mech);

		printf("# %s, switch on: b's host page after writeback: 0x%08x (read's 0x%08x, "
		       "old 0x%08x)\n",
		       mechs[k].name, got, NEW_STAMP, OLD_STAMP);
		CHECKF(got == OLD_STAMP, "%s, switch on: 0x%08x, want the old bytes (the hazard)",
		       mechs[k].name, got);
	}
}

TEST(reads_into_plain_memory_and_into_a_cold_view)
{
	struct pc_engine *e = dio_engine(PC_POLICY_TWO_STATE);
	int afd = pc_open(e, "a", O_RDWR | O_CREAT | O_TRUNC, 0644), adfd;
	int bfd = pc_open(e, "b", O_RDWR | O_CREAT | O_TRUNC, 0644);
	char *src = dio_abuf(4 * PG), *plain = dio_abuf(4 * PG), *v;

	CHECK(afd >= 0 && bfd >= 0);
	for (int i = 0; i < 4; i++)
		stamp_page(src + i * PG, 0xa0 + (uint32_t)i);
	CHECK_EQ(pc_pwrite(e, afd, src, 4 * PG, 0), 4 * PG);
	CHECK_EQ(pc_fsync(e, afd), 0);
	adfd = dio_open(e, "a", O_RDONLY);
	/* ordinary memory: nothing to re-dirty, the bytes right */
	CHECK_EQ(pc_pread(e, adfd, plain, 4 * PG, 0), 4 * PG);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(page_stamp(plain + i * PG), 0xa0 + (uint32_t)i);
	/* pages 1-3 of a view of b, not faulted in yet: the store read gets
	 * EFAULT, the window is faulted in, read again, re-dirtied */
	CHECK_EQ(pc_ftruncate(e, bfd, 4 * PG), 0);
	v = dio_map(e, bfd, 4 * PG, PROT_READ | PROT_WRITE, 0);
	CHECK_EQ(pc_pread(e, adfd, v + PG, 3 * PG, PG), 3 * PG);
	CHECK_EQ(pc_fsync(e, bfd), 0);
	for (int i = 1; i < 4; i++) {
		CHECK_EQ(page_stamp(v + i * PG), 0xa0 + (uint32_t)i);
		memcpy(src + i * PG, v + i * PG, PG);
	}
	memset(src, 0, PG);
	check_host("b", src, 4 * PG);
	CHECK_EQ(pc_munmap(e, v, 4 * PG), 0);
	free(src);
	free(plain);
	CHECK_EQ(pc_close(e, adfd), 0);
	CHECK_EQ(pc_close(e, afd), 0);
	CHECK_EQ(pc_close(e, bfd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

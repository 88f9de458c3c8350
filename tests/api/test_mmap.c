/* SPDX-License-Identifier: MIT */
/*
 * test_mmap.c - pc_mmap end to end: loads and stores on views fault into
 * the engine's handler (src/mm/fault.c). Coherence of MAP_SHARED views with
 * pc_pread/pc_pwrite both ways, msync to the host file, write-notify after
 * writeback (a store re-dirties a cleaned page), SIGBUS on whole pages past
 * EOF and a zero tail of the EOF page that is never written back, a mapping
 * that outlives pc_close, MAP_PRIVATE isolation, truncate and punch
 * removing pages from views, madvise, mprotect, bad arguments; msync
 * write-protecting each run of dirty pages with one operation per view; a
 * store re-dirtying a write-protected page with one ioctl;
 * thousands of views found by address (the tree against the list walk of
 * mm_test_vma_list_lookup). See basic_fixture.h for the temporary
 * directories.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "basic_fixture.h"
#include "fs/inode.h"
#include "harness.h"
#include "kernel/rwsem.h"
#include "mm/fault_internal.h"
#include "mm/internal.h"
#include "mm/vma.h"
#include "pagecache.h"

TEST(mmap_shared_coherence)
{
	struct pc_engine *e = engine();
	size_t len = 40 * PG + 100;
	char *w = malloc(len), *r = malloc(len);
	int fd = new_file(e, "f", w, len, 1);
	char *p = map_view(e, fd, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0);

	/* loads see what pwrite wrote (cached pages, then fault-around) */
	CHECK(!memcmp(p, w, len));
	/* stores are seen by pread */
	for (size_t i = 0; i < len; i += 997)
		p[i] = w[i] = (char)(w[i] ^ 0x5a);
	CHECK_EQ(pc_pread(e, fd, r, len, 0), (ssize_t)len);
	CHECK(!memcmp(r, w, len));
	/* pwrite is seen by loads of already-mapped pages */
	memset(w + 3 * PG + 7, 'x', 2 * PG);
	CHECK_EQ(pc_pwrite(e, fd, w + 3 * PG + 7, 2 * PG, 3 * PG + 7), (ssize_t)(2 * PG));
	CHECK(!memcmp(p, w, len));
	/* msync writes the stores to the host file */
	CHECK_EQ(pc_msync(e, p, len, MS_SYNC), 0);
	check_host("f", w, len);
	/* a store after writeback re-dirties the page (write-notify) */
	p[5 * PG + 1] = w[5 * PG + 1] = 'W';
	CHECK_EQ(pc_msync(e, p, len, MS_ASYNC), 0);
	CHECK_EQ(pc_msync(e, p, len, MS_SYNC | MS_INVALIDATE), 0);
	check_host("f", w, len);
	CHECK_EQ(pc_munmap(e, p, len), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	check_host("f", w, len);
	free(w);
	free(r);
}

/* Stores to pages [first, first + nr) of @p (and @w, the model): dirties
 * them through the view (page_mkwrite). */
static void store_pages(char *p, char *w, size_t first, size_t nr, char v)
{
	for (size_t i = first; i < first + nr; i++)
		p[i * PG + (i % 97)] = w[i * PG + (i % 97)] = (char)(v + i);
}

/* msync write-protects each run of consecutive dirty pages in the view with
 * one operation (UFFDIO_WRITEPROTECT, or one mprotect in the fallback
 * run), not one per page; stores after it still re-dirty the pages
 * (page_mkwrite) and reach the host file. The switch writes page by page:
 * one operation per page. */
TEST(msync_write_protect_per_run)
{
	struct pc_engine *e = engine();
	const size_t n = 32; /* write_cache_pages runs: up to 32 pages */
	size_t len = n * PG;
	char *w = malloc(len);
	int fd = new_file(e, "f", w, len, 3);
	char *p = map_view(e, fd, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	uint64_t ops;

	CHECK_EQ(pc_msync(e, p, len, MS_SYNC), 0); /* all clean */
	/* one run of n pages: one operation */
	store_pages(p, w, 0, n, 'a');
	ops = __atomic_load_n(&mm_writeprotect_ops, __ATOMIC_RELAXED);
	CHECK_EQ(pc_msync(e, p, len, MS_SYNC), 0);
	CHECK_EQ(__atomic_load_n(&mm_writeprotect_ops, __ATOMIC_RELAXED) - ops, 1);
	check_host("f", w, len);
	/* nothing dirty: none */
	ops = __atomic_load_n(&mm_writeprotect_ops, __ATOMIC_RELAXED);
	CHECK_EQ(pc_msync(e, p, len, MS_SYNC), 0);
	CHECK_EQ(__atomic_load_n(&mm_writeprotect_ops, __ATOMIC_RELAXED) - ops, 0);
	/* two runs (a clean gap between): two; the pages were write-protected
	 * by the last msync, so these stores re-dirty them (write-notify) */
	store_pages(p, w, 1, 10, 'b');
	store_pages(p, w, 20, 10, 'c');
	ops = __atomic_load_n(&mm_writeprotect_ops, __ATOMIC_RELAXED);
	CHECK_EQ(pc_msync(e, p, len, MS_SYNC), 0);
	CHECK_EQ(__atomic_load_n(&mm_writeprotect_ops, __ATOMIC_RELAXED) - ops, 2);
	check_host("f", w, len);
	/* a single page re-dirtied after that writeback reaches the host too */
	store_pages(p, w, 30, 1, 'd');
	CHECK_EQ(pc_msync(e, p, len, MS_SYNC), 0);
	check_host("f", w, len);
	/* the switch: one operation per page */
	writeback_test_mkclean_per_page = true;
	store_pages(p, w, 0, n, 'e');
	ops = __atomic_load_n(&mm_writeprotect_ops, __ATOMIC_RELAXED);
	CHECK_EQ(pc_msync(e, p, len, MS_SYNC), 0);
	writeback_test_mkclean_per_page = false;
	CHECK_EQ(__atomic_load_n(&mm_writeprotect_ops, __ATOMIC_RELAXED) - ops, n);
	check_host("f", w, len);
	CHECK_EQ(pc_munmap(e, p, len), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	check_host("f", w, len);
	free(w);
}

/* A store to a page that writeback left mapped write-protected in a
 * userfaultfd view (the fault's error code says the page was present) lifts
 * the protection with one ioctl (UFFDIO_WRITEPROTECT), not a UFFDIO_CONTINUE
 * that fails with -EEXIST and then that; the pages still re-dirty and reach
 * the host file. The switch mm_uffd_test_continue_first shows the two
 * ioctls per page. Fallback views use no ioctl: skipped there. */
TEST(rewrite_after_writeback_one_ioctl_per_page)
{
	struct pc_engine *e = engine();
	const size_t n = 24;
	size_t len = n * PG;
	char *w = malloc(len);
	int fd = new_file(e, "f", w, len, 5);
	char *p = map_view(e, fd, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0);

	if (getenv("PC_FAULT") && !strcmp(getenv("PC_FAULT"), "fallback")) {
		CHECK_EQ(pc_munmap(e, p, len), 0);
		CHECK_EQ(pc_close(e, fd), 0);
		CHECK_EQ(pc_engine_close(e), 0);
		free(w);
		test_skip("fallback views: no userfaultfd ioctls");
	}
	store_pages(p, w, 0, n, 'a'); /* missing pages: mapped writable */
	for (int round = 0; round < 4; round++) {
		bool hazard = round == 3;
		uint64_t ops;

		CHECK_EQ(pc_msync(e, p, len, MS_SYNC), 0); /* clean, write-protected */
		check_host("f", w, len);
		mm_uffd_test_continue_first = hazard;
		ops = __atomic_load_n(&mm_uffd_install_ioctls, __ATOMIC_RELAXED);
		store_pages(p, w, 0, n, (char)('b' + round));
		ops = __atomic_load_n(&mm_uffd_install_ioctls, __ATOMIC_RELAXED) - ops;
		mm_uffd_test_continue_first = false;
		printf("# round %d%s: %llu ioctls for %zu re-dirtied pages\n", round,
		       hazard ? " (continue first)" : "", (unsigned long long)ops, n);
		CHECK_EQ(ops, hazard ? 2 * n : n);
	}
	/* The hint gone stale: the page was unmapped after the CPU faulted
	 * (a punch, a truncate). Lifting the protection of a page not mapped
	 * succeeds and maps nothing: the store faults again as a missing
	 * page and is served then. */
	CHECK_EQ(pc_fallocate(e, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 5 * PG, PG), 0);
	memset(w + 5 * PG, 0, PG);
	struct vma *v = vma_lookup_pin((uintptr_t)p);
	CHECK(v != NULL);
	CHECK_EQ(uffd_install(v, (uintptr_t)p + 5 * PG, true, true), 0);
	vma_unpin(v);
	store_pages(p, w, 5, 1, 'z');
	CHECK_EQ(pc_msync(e, p, len, MS_SYNC), 0);
	check_host("f", w, len);
	CHECK_EQ(pc_munmap(e, p, len), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	check_host("f", w, len);
	free(w);
}

/* A store through a shared view to a clean page sets mtime and ctime, as the
 * kernel's page_mkwrite does (file_update_time); a store to a private view
 * does not. Times are first set far in the past, so no sleep is needed. */
TEST(mmap_store_updates_mtime)
{
	struct pc_engine *e = engine();
	size_t len = 4 * PG;
	char *w = malloc(len);
	int fd = new_file(e, "t", w, len, 3);
	char *p = map_view(e, fd, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	char *q = map_view(e, fd, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, 0);
	const struct timespec old[2] = {{1000, 0}, {1000, 0}};
	struct stat st;

	CHECK_EQ(pc_msync(e, p, len, MS_SYNC), 0); /* clean: the next store faults */
	CHECK_EQ(pc_utimens(e, "t", old), 0);
	CHECK_EQ(pc_fstat(e, fd, &st), 0);
	CHECK_EQ((long long)st.st_mtim.tv_sec, 1000);
	q[1] = 'p'; /* private: the file's times stay */
	CHECK_EQ(pc_fstat(e, fd, &st), 0);
	CHECK_EQ((long long)st.st_mtim.tv_sec, 1000);
	p[PG + 1] = 's';
	CHECK_EQ(pc_fstat(e, fd, &st), 0);
	CHECKF(st.st_mtim.tv_sec > 1000, "mtime %lld", (long long)st.st_mtim.tv_sec);
	CHECKF(st.st_ctim.tv_sec > 1000, "ctime %lld", (long long)st.st_ctim.tv_sec);
	CHECK_EQ(pc_munmap(e, q, len), 0);
	CHECK_EQ(pc_munmap(e, p, len), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	free(w);
}

/* The first store to a clean page sets the times from the coarse clock,
 * which runs up to a tick behind the precise one a write uses: mtime must
 * never go back (the store leaves a time set within the current tick).
 * inode_test_coarse_time_always sets it all the same: then it goes back. */
static int store_after_write(bool hazard)
{
	struct pc_engine *e = engine();
	size_t n = 32, len = (n + 1) * PG;
	char *w = malloc(len);
	int fd = new_file(e, "t", w, len, 5), back = 0;
	char *p = map_view(e, fd, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	struct stat a, b;

	CHECK_EQ(pc_msync(e, p, len, MS_SYNC), 0); /* clean: each store faults */
	inode_test_coarse_time_always = hazard;
	for (size_t k = 0; k < n; k++) {
		CHECK_EQ(pc_pwrite(e, fd, "w", 1, (off_t)(n * PG)), 1); /* precise time */
		CHECK_EQ(pc_fstat(e, fd, &a), 0);
		p[k * PG] = 's'; /* page_mkwrite: coarse time */
		CHECK_EQ(pc_fstat(e, fd, &b), 0);
		if (b.st_mtim.tv_sec < a.st_mtim.tv_sec ||
		    (b.st_mtim.tv_sec == a.st_mtim.tv_sec && b.st_mtim.tv_nsec < a.st_mtim.tv_nsec))
			back++;
		else
			CHECK(b.st_ctim.tv_sec > a.st_ctim.tv_sec ||
			      (b.st_ctim.tv_sec == a.st_ctim.tv_sec &&
			       b.st_ctim.tv_nsec >= a.st_ctim.tv_nsec));
	}
	inode_test_coarse_time_always = false;
	CHECK_EQ(pc_munmap(e, p, len), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	free(w);
	return back;
}

TEST(mmap_store_time_never_goes_back)
{
	CHECK_EQ(store_after_write(false), 0);
	/* the hazard: nearly every store moves the write's time back (none
	 * only if each pair straddled a tick) */
	int back = store_after_write(true);

	printf("# with the switch on, %d of 32 stores moved mtime back\n", back);
	CHECK(back > 0);
}

TEST(mmap_uncached_and_offset)
{
	struct pc_engine *e = engine();
	size_t len = 64 * PG;
	char *w = malloc(len);
	int fd = new_file(e, "f", w, len, 2);

	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0); /* nothing cached any more */
	e = engine_on(dir);
	fd = pc_open(e, "f", O_RDONLY, 0);
	CHECK(fd >= 0);
	char *p = map_view(e, fd, 32 * PG, PROT_READ, MAP_SHARED, 16 * PG);
	/* random order: each miss fills from the store with the mm lock dropped */
	for (unsigned i = 0; i < 32; i++) {
		unsigned pg = (i * 7) % 32;
		CHECK(!memcmp(p + pg * PG, w + (16 + pg) * PG, PG));
	}
	CHECK_EQ(pc_munmap(e, p, 32 * PG), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	free(w);
}

/* The application's SIGBUS handler, installed before the engine's. */
__attribute__((constructor)) static void install_app_handler(void)
{
	install_bus_catcher();
}

TEST(mmap_eof)
{
	struct pc_engine *e = engine();
	size_t len = 2 * PG + 100;
	char *w = malloc(4 * PG);
	int fd = new_file(e, "f", w, len, 3);
	char *p = map_view(e, fd, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, 0);

	CHECK(!memcmp(p, w, len));
	/* the tail of the EOF page reads zeroes; a store there is not written back */
	for (size_t i = len; i < 3 * PG; i++)
		CHECK_EQ(p[i], 0);
	p[len + 5] = 'T';
	CHECK_EQ(pc_msync(e, p, 4 * PG, MS_SYNC), 0);
	check_host("f", w, len);
	/* whole pages past EOF: SIGBUS, delivered to the application's handler */
	CHECK(touch_bus(p + 3 * PG));
	CHECK(touch_bus(p + 3 * PG + 17));
	/* extending the file makes the page accessible */
	memset(w + len, 0, 4 * PG - len);
	w[3 * PG + 1] = 'E';
	CHECK_EQ(pc_pwrite(e, fd, "E", 1, 3 * PG + 1), 1);
	CHECK(!touch_bus(p + 3 * PG));
	CHECK_EQ(p[3 * PG + 1], 'E');
	CHECK_EQ(p[3 * PG], 0);
	CHECK_EQ(p[len + 5], 0); /* the extending write zeroed the old tail */
	/* truncate removes the pages from the view at once */
	CHECK_EQ(pc_ftruncate(e, fd, PG), 0);
	CHECK(touch_bus(p + PG));
	CHECK(touch_bus(p + 3 * PG + 1));
	CHECK(!memcmp(p, w, PG));
	CHECK_EQ(pc_munmap(e, p, 4 * PG), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	free(w);
}

TEST(mmap_punch_removes_pages)
{
	struct pc_engine *e = engine();
	size_t len = 8 * PG;
	char *w = malloc(len);
	int fd = new_file(e, "f", w, len, 4);
	char *p = map_view(e, fd, len, PROT_READ, MAP_SHARED, 0);
	int err;

	CHECK(!memcmp(p, w, len));
	err = pc_fallocate(e, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2 * PG, 3 * PG);
	if (err == -EOPNOTSUPP) {
		skip("punch", err);
	} else {
		CHECK_EQ(err, 0);
		memset(w + 2 * PG, 0, 3 * PG);
		CHECK(!memcmp(p, w, len));
	}
	CHECK_EQ(pc_munmap(e, p, len), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	free(w);
}

TEST(mmap_outlives_close)
{
	struct pc_engine *e = engine();
	size_t len = 4 * PG;
	char *w = malloc(len), *r = malloc(len);
	int fd = new_file(e, "f", w, len, 5);
	char *p = map_view(e, fd, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0);

	CHECK_EQ(pc_close(e, fd), 0);
	CHECK(!memcmp(p, w, len)); /* faults after the close */
	p[PG] = w[PG] = 'C';
	CHECK_EQ(pc_msync(e, p, len, MS_SYNC), 0);
	check_host("f", w, len);
	fd = pc_open(e, "f", O_RDONLY, 0);
	CHECK_EQ(pc_pread(e, fd, r, len, 0), (ssize_t)len);
	CHECK(!memcmp(r, w, len));
	CHECK_EQ(pc_close(e, fd), 0);
	p[2 * PG] = w[2 * PG] = 'D';
	CHECK_EQ(pc_munmap(e, p, len), 0); /* last reference: stays cached */
	fd = pc_open(e, "f", O_RDONLY, 0);
	CHECK_EQ(pc_pread(e, fd, r, len, 0), (ssize_t)len);
	CHECK(!memcmp(r, w, len));
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0); /* writes it back */
	check_host("f", w, len);
	free(w);
	free(r);
}

TEST(mmap_private)
{
	struct pc_engine *e = engine();
	size_t len = 6 * PG + 10;
	char *w = malloc(len), *r = malloc(len);
	int fd = new_file(e, "f", w, len, 6);
	char *p = map_view(e, fd, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, 0);

	CHECK(!memcmp(p, w, PG));
	memset(p, 'P', PG);	     /* touched page: private copy */
	memset(p + 3 * PG, 'Q', 10); /* first touch is a store */
	CHECK_EQ(pc_pread(e, fd, r, len, 0), (ssize_t)len);
	CHECK(!memcmp(r, w, len));
	CHECK_EQ(pc_msync(e, p, len, MS_SYNC), 0);
	CHECK_EQ(pc_fsync(e, fd), 0);
	check_host("f", w, len);
	CHECK(!memcmp(p + PG, w + PG, 2 * PG));
	CHECK(!memcmp(p + 3 * PG + 10, w + 3 * PG + 10, len - 3 * PG - 10));
	for (size_t i = len; i < 7 * PG; i++)
		CHECK_EQ(p[i], 0);
	CHECK(touch_bus(p + 7 * PG));
	CHECK_EQ(pc_munmap(e, p, 8 * PG), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	check_host("f", w, len);
	free(w);
	free(r);
}

TEST(mmap_bad_args)
{
	struct pc_engine *e = engine();
	char w[PG];
	int fd = new_file(e, "f", w, PG, 7), err = 0;
	int ro = pc_open(e, "f", O_RDONLY, 0);

	CHECK(!pc_mmap(e, 1000, PG, PROT_READ, MAP_SHARED, 0, &err));
	CHECK_EQ(err, -EBADF);
	CHECK(!pc_mmap(e, fd, 0, PROT_READ, MAP_SHARED, 0, &err));
	CHECK_EQ(err, -EINVAL);
	CHECK(!pc_mmap(e, fd, PG, PROT_READ, MAP_SHARED, 100, &err));
	CHECK_EQ(err, -EINVAL);
	CHECK(!pc_mmap(e, fd, PG, PROT_READ, MAP_SHARED | MAP_PRIVATE, 0, &err));
	CHECK_EQ(err, -EINVAL);
	CHECK(!pc_mmap(e, ro, PG, PROT_READ | PROT_WRITE, MAP_SHARED, 0, &err));
	CHECK_EQ(err, -EACCES);
	char *p = map_view(e, ro, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, 0);
	/* munmap as Linux's: a range with no view is not an error; an
	 * unaligned address or a length of 0 is */
	CHECK_EQ(pc_munmap(e, p + PG, PG), 0);
	CHECK_EQ(pc_munmap(e, p + 1, PG), -EINVAL);
	CHECK_EQ(pc_munmap(e, p, 0), -EINVAL);
	CHECK_EQ(pc_munmap(e, (char *)(UINTPTR_MAX & ~(uintptr_t)(PG - 1)), 2 * PG), -EINVAL);
	CHECK_EQ(pc_msync(e, p + 1, PG, MS_SYNC), -EINVAL);
	CHECK_EQ(pc_msync(e, p, PG, MS_SYNC | MS_ASYNC), -EINVAL);
	char *notours = aligned_alloc(PG, PG);
	CHECK_EQ(pc_msync(e, notours, PG, MS_SYNC), -ENOMEM);
	free(notours);
	CHECK_EQ(pc_munmap(e, p, PG), 0);
	CHECK_EQ(pc_close(e, ro), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
}

TEST(mmap_madvise)
{
	struct pc_engine *e = engine();
	size_t len = 16 * PG + 50;
	char *w = malloc(len), *r = malloc(len);
	int fd = new_file(e, "f", w, len, 8);
	char *p, *q;
	struct pc_stats st;

	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	e = engine_on(dir);
	fd = pc_open(e, "f", O_RDWR, 0);
	CHECK(fd >= 0);
	p = map_view(e, fd, 20 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	/* WILLNEED reads the file into the cache; loads then miss nothing */
	CHECK_EQ(pc_madvise(e, p, 20 * PG, MADV_WILLNEED), 0);
	pc_get_stats(e, &st, sizeof(st));
	CHECK(st.cached_pages >= 17);
	CHECK(!memcmp(p, w, len));
	/* POPULATE_READ / POPULATE_WRITE fault in; beyond EOF: EFAULT */
	CHECK_EQ(pc_madvise(e, p, 17 * PG, MADV_POPULATE_READ), 0);
	CHECK_EQ(pc_madvise(e, p, 4 * PG, MADV_POPULATE_WRITE), 0);
	pc_get_stats(e, &st, sizeof(st));
	CHECK(st.dirty_pages >= 4); /* write faults dirtied them (page_mkwrite) */
	CHECK_EQ(pc_madvise(e, p, 18 * PG, MADV_POPULATE_READ), -EFAULT);
	/* DONTNEED on a shared view: the bytes stay (the next load faults) */
	p[3] = w[3] = 'd';
	CHECK_EQ(pc_madvise(e, p, 8 * PG, MADV_DONTNEED), 0);
	CHECK(!memcmp(p, w, len));
	CHECK_EQ(pc_msync(e, p, 20 * PG, MS_SYNC), 0);
	check_host("f", w, len);
	/* DONTNEED on a private view drops its copies: the file shows again */
	q = map_view(e, fd, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, 0);
	memset(q, 'z', PG);
	CHECK_EQ(pc_madvise(e, q, 4 * PG, MADV_DONTNEED), 0);
	CHECK(!memcmp(q, w, 4 * PG));
	CHECK_EQ(pc_pread(e, fd, r, len, 0), (ssize_t)len);
	CHECK(!memcmp(r, w, len));
	/* errors */
	CHECK_EQ(pc_madvise(e, p + 1, PG, MADV_WILLNEED), -EINVAL);
	CHECK_EQ(pc_madvise(e, p, PG, MADV_HUGEPAGE), -EINVAL);
	CHECK_EQ(pc_madvise(e, p, 21 * PG, MADV_WILLNEED), -ENOMEM);
	CHECK_EQ(pc_munmap(e, q, 4 * PG), 0);
	q = map_view(e, fd, PG, PROT_READ, MAP_SHARED, 0);
	CHECK_EQ(pc_madvise(e, q, PG, MADV_POPULATE_WRITE), -EINVAL);
	CHECK_EQ(pc_munmap(e, q, PG), 0);
	CHECK_EQ(pc_munmap(e, p, 20 * PG), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	free(w);
	free(r);
}

/* The application's SIGSEGV handler, installed before the engine's. */
__attribute__((constructor)) static void install_app_segv(void)
{
	install_segv_catcher();
}

TEST(mmap_mprotect)
{
	struct pc_engine *e = engine();
	size_t len = 4 * PG;
	char *w = malloc(len);
	int fd = new_file(e, "f", w, len, 9), ro;
	char *p = map_view(e, fd, len, PROT_READ, MAP_SHARED, 0);

	CHECK(!memcmp(p, w, len));
	CHECK(store_segv(p + 10, 'x')); /* read-only view */
	CHECK_EQ(pc_mprotect(e, p, len, PROT_READ | PROT_WRITE), 0);
	CHECK(!store_segv(p + 10, 'x')); /* write-notify: dirties the page */
	w[10] = 'x';
	CHECK_EQ(pc_msync(e, p, len, MS_SYNC), 0);
	check_host("f", w, len);
	CHECK_EQ(pc_mprotect(e, p + PG, PG, PROT_READ), 0);
	CHECK(store_segv(p + PG, 'y'));
	CHECK(!store_segv(p + 2 * PG, 'y')); /* the rest stays writable */
	w[2 * PG] = 'y';
	CHECK_EQ(pc_msync(e, p, len, MS_SYNC), 0);
	check_host("f", w, len);
	CHECK_EQ(pc_mprotect(e, p + 1, PG, PROT_READ), -EINVAL);
	CHECK_EQ(pc_mprotect(e, p, len, PROT_EXEC), -EINVAL);
	CHECK_EQ(pc_mprotect(e, p, len + PG, PROT_READ), -ENOMEM);
	CHECK_EQ(pc_munmap(e, p, len), 0);
	ro = pc_open(e, "f", O_RDONLY, 0);
	p = map_view(e, ro, len, PROT_READ, MAP_SHARED, 0);
	CHECK_EQ(pc_mprotect(e, p, len, PROT_READ | PROT_WRITE), -EACCES);
	CHECK_EQ(pc_munmap(e, p, len), 0);
	CHECK_EQ(pc_close(e, ro), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	free(w);
}

/* The view registry finds views by address in a tree (vma.c): thousands of
 * two-page views, half unmapped at random; every remaining view's pages
 * (the second one: an address inside a view) show their file pages, and
 * find_vma agrees with the list walk (mm_test_vma_list_lookup, the
 * reference) at the first, middle and last byte of every view, around
 * every removed one and at random addresses. */
TEST(mmap_many_views_lookup)
{
	struct pc_engine *e = engine();
	const size_t nfile = 64, nv = test_scale(4000, 8);
	char *w = malloc(nfile * PG);
	int fd = new_file(e, "f", w, nfile * PG, 3);
	char **v = calloc(nv, sizeof(*v));
	uint64_t seed = test_seed();

	for (size_t i = 0; i < nv; i++)
		v[i] =
		    map_view(e, fd, 2 * PG, PROT_READ, MAP_SHARED, (off_t)(i % (nfile - 1)) * PG);
	for (size_t i = 0; i < nv; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		if ((seed >> 33) & 1) {
			CHECK_EQ(pc_munmap(e, v[i], 2 * PG), 0);
			CHECK_EQ(pc_munmap(e, v[i], 2 * PG), 0); /* gone: nothing to do */
			v[i] = NULL;
		}
	}
	for (size_t i = 0; i < nv; i++)
		if (v[i])
			CHECK_EQ(v[i][PG + 5], w[(i % (nfile - 1) + 1) * PG + 5]);
	down_read(&mm.lock);
	for (size_t i = 0; i < nv; i++) {
		uintptr_t a = v[i] ? (uintptr_t)v[i] : 0;
		uintptr_t probe[5] = {a, a + PG + 7, a + 2 * PG - 1, a + 2 * PG, a - 1};

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		if (!a)
			probe[0] = (uintptr_t)v[(seed >> 33) % nv] + (seed >> 20) % (2 * PG);
		for (int k = 0; k < 5; k++) {
			struct vma *tree = find_vma(probe[k]), *list;

			mm_test_vma_list_lookup = true;
			list = find_vma(probe[k]);
			mm_test_vma_list_lookup = false;
			CHECK(tree == list);
			if (k < 3 && a)
				CHECK(tree && tree->start == a);
		}
	}
	up_read(&mm.lock);
	for (size_t i = 0; i < nv; i++)
		if (v[i])
			CHECK_EQ(pc_munmap(e, v[i], 2 * PG), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	free(v);
	free(w);
}

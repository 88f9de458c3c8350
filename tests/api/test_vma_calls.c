/* SPDX-License-Identifier: MIT */
/*
 * test_vma_calls.c - msync, mprotect and madvise over part of a view and
 * across several views, as Linux's (src/mm/vma_calls.c; split_vma in
 * src/mm/vma.c):
 * - mprotect of the middle of a view splits it into three views: each part
 *   faults in and reads the file, stores to the outer parts reach the file,
 *   a store to the read-only middle raises SIGSEGV, MADV_POPULATE_WRITE is
 *   refused only there; with mm_test_modify_no_split the whole view's
 *   record takes the middle's protection (POPULATE_WRITE of the writable
 *   head refused);
 * - msync, mprotect and madvise across two adjacent views (the parts of a
 *   split view, and views of two files mapped side by side) reach both;
 *   MADV_RANDOM of part of a view splits it;
 * - a range with an unmapped hole: -ENOMEM, with Linux's rule of what is
 *   done first (mprotect and MS_ASYNC stop at the hole, MS_SYNC and
 *   MADV_DONTNEED do every view in the range);
 * - another engine's view in the range: -EINVAL, nothing changed;
 * - random: mprotect, msync, MADV_POPULATE_WRITE and MADV_DONTNEED over
 *   ranges of a view with holes punched in it, loads and stores, checked
 *   against a model of each page's protection and bytes (return values,
 *   SIGSEGV or not, the records' protection; seed printed, PC_SEED
 *   replays; with mm_test_modify_no_split it fails at once);
 * - parts alike again merge back into one view (vma_merge; with
 *   vma_test_no_merge the records pile up, one a page);
 * - race: one thread faults a view's pages in while this one mprotects a
 *   part of it and back (each split waits for the pinned fault; every load
 *   sees the file).
 * Runs on the mechanism PC_FAULT picks (test_vma_calls_fb: fallback).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "basic_fixture.h"
#include "harness.h"
#include "kernel/rwsem.h"
#include "mm/fault_internal.h"
#include "mm/vma.h"
#include "pagecache.h"

/* ---- the application's SIGSEGV handler (before the engine's) ---- */

__attribute__((constructor)) static void install_app_handlers(void)
{
	install_bus_catcher();
	install_segv_catcher();
}

/* The view record holding @p: its range and protection. */
struct rec {
	uintptr_t start, end;
	int prot, advice;
};

static bool rec_of(char *p, struct rec *r)
{
	struct vma *v;

	down_read(&mm.lock);
	v = find_vma((uintptr_t)p);
	if (v)
		*r = (struct rec){v->start, v->end, v->prot, v->advice};
	up_read(&mm.lock);
	return v != NULL;
}

/* Pages [lo, hi) of @p are one view record of protection @prot. */
static void check_rec(char *p, size_t lo, size_t hi, int prot)
{
	struct rec r;

	CHECKF(rec_of(p + lo * PG, &r), "no view at page %zu", lo);
	CHECKF(r.start == (uintptr_t)p + lo * PG && r.end == (uintptr_t)p + hi * PG,
	       "view at page %zu: pages %ld-%ld, want %zu-%zu", lo,
	       (long)((r.start - (uintptr_t)p) / PG), (long)((r.end - (uintptr_t)p) / PG), lo, hi);
	CHECKF(r.prot == prot, "view at page %zu: prot %d, want %d", lo, r.prot, prot);
}

/* ---- mprotect of the middle ---- */

/* Maps an 8-page writable view of @fd and makes pages 2-4 read-only before
 * any access. Returns the view. */
static char *protect_middle(struct pc_engine *e, int fd)
{
	char *p = map_view(e, fd, 8 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, 0);

	CHECK_EQ(pc_mprotect(e, p + 2 * PG, 3 * PG, PROT_READ), 0);
	return p;
}

TEST(mprotect_middle_splits)
{
	struct pc_engine *e = engine();
	const size_t len = 8 * PG;
	char *w = malloc(len);
	int fd = new_file(e, "f", w, len, 21);
	char *p = protect_middle(e, fd);

	/* three views: head and tail writable, the middle read-only */
	check_rec(p, 0, 2, PROT_READ | PROT_WRITE);
	check_rec(p, 2, 5, PROT_READ);
	check_rec(p, 5, 8, PROT_READ | PROT_WRITE);
	/* each part faults in and shows the file */
	for (size_t i = 0; i < 8; i++)
		CHECKF(!memcmp(p + i * PG, w + i * PG, PG), "page %zu", i);
	/* stores: the outer parts take them, the middle raises SIGSEGV */
	CHECK(!store_segv(p + 1 * PG + 3, 'h'));
	w[1 * PG + 3] = 'h';
	CHECK(!store_segv(p + 5 * PG + 4, 't'));
	w[5 * PG + 4] = 't';
	for (size_t i = 2; i < 5; i++)
		CHECKF(store_segv(p + i * PG + 5, 'm'), "store to read-only page %zu", i);
	CHECK_EQ(pc_madvise(e, p, 2 * PG, MADV_POPULATE_WRITE), 0);
	CHECK_EQ(pc_madvise(e, p + 6 * PG, 2 * PG, MADV_POPULATE_WRITE), 0);
	CHECK_EQ(pc_madvise(e, p + 3 * PG, PG, MADV_POPULATE_WRITE), -EINVAL);
	CHECK_EQ(pc_madvise(e, p, len, MADV_POPULATE_READ), 0);
	/* one msync over the three views writes back the dirty pages of both
	 * writable ones */
	CHECK_EQ(pc_msync(e, p, len, MS_SYNC), 0);
	check_host("f", w, len);
	/* writable again over the three: one mprotect, stores everywhere, and
	 * the parts alike again are one view (vma_merge) */
	CHECK_EQ(pc_mprotect(e, p, len, PROT_READ | PROT_WRITE), 0);
	check_rec(p, 0, 8, PROT_READ | PROT_WRITE);
	CHECK(!store_segv(p + 3 * PG + 6, 'M'));
	w[3 * PG + 6] = 'M';
	/* read-only across all three, then a store anywhere faults */
	CHECK_EQ(pc_mprotect(e, p + PG, 6 * PG, PROT_READ), 0);
	CHECK(store_segv(p + 1 * PG, 'x') && store_segv(p + 6 * PG, 'x'));
	CHECK(!store_segv(p + 7 * PG + 1, 'y'));
	w[7 * PG + 1] = 'y';
	check_rec(p, 0, 1, PROT_READ | PROT_WRITE);
	check_rec(p, 1, 7, PROT_READ);
	check_rec(p, 7, 8, PROT_READ | PROT_WRITE);
	CHECK_EQ(pc_munmap(e, p, len), 0);
	CHECK_EQ(pc_fsync(e, fd), 0);
	check_host("f", w, len);
	check_contents(e, fd, w, len);

	/* The hazard: without the split the whole record says read-only. */
	mm_test_modify_no_split = true;
	p = protect_middle(e, fd);
	mm_test_modify_no_split = false;
	check_rec(p, 0, 8, PROT_READ);
	CHECK(!store_segv(p + 5, 'z')); /* the host's head is still writable */
	w[5] = 'z';
	CHECKF(pc_madvise(e, p, 2 * PG, MADV_POPULATE_WRITE) == -EINVAL,
	       "the switch did not show the head's protection lost");
	CHECK(store_segv(p + 3 * PG, 'x'));
	CHECK_EQ(pc_munmap(e, p, len), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	check_host("f", w, len);
	free(w);
}

/* ---- merging back ---- */

/* The view records that cover [p, p + np pages). */
static int records(char *p, size_t np)
{
	struct rec r;
	int n = 0;

	for (uintptr_t a = (uintptr_t)p; a < (uintptr_t)p + np * PG; a = r.end, n++)
		if (!rec_of((char *)a, &r))
			return -1;
	return n;
}

/* A page at a time read-only and writable again, advised random and normal
 * again: the parts are one view again after each (vma_merge, as the
 * kernel's mprotect and madvise); with vma_test_no_merge they pile up, one
 * record a page. */
static int toggle_pages(struct pc_engine *e, char *p, size_t np)
{
	for (size_t i = 0; i < np; i++) {
		CHECK_EQ(pc_mprotect(e, p + i * PG, PG, PROT_READ), 0);
		CHECK(store_segv(p + i * PG, 'x'));
		CHECK_EQ(pc_mprotect(e, p + i * PG, PG, PROT_READ | PROT_WRITE), 0);
		CHECK_EQ(pc_madvise(e, p + i * PG, PG, MADV_RANDOM), 0);
		CHECK_EQ(pc_madvise(e, p + i * PG, PG, MADV_NORMAL), 0);
	}
	return records(p, np);
}

TEST(protect_back_merges)
{
	struct pc_engine *e = engine();
	const size_t np = 16, len = np * PG;
	char *w = malloc(len);
	int fd = new_file(e, "f", w, len, 28);
	char *p = map_view(e, fd, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	int n;

	CHECK_EQ(toggle_pages(e, p, np), 1);
	check_rec(p, 0, np, PROT_READ | PROT_WRITE);
	/* the merged view holds its owner's one reference, and takes stores */
	down_read(&mm.lock);
	CHECK_EQ(find_vma((uintptr_t)p)->owner->refs, 1);
	up_read(&mm.lock);
	p[5] = w[5] = 'm';
	p[len - 1] = w[len - 1] = 'n';
	CHECK(!memcmp(p, w, len));
	CHECK_EQ(pc_msync(e, p, len, MS_SYNC), 0);
	check_host("f", w, len);
	vma_test_no_merge = true;
	n = toggle_pages(e, p, np);
	vma_test_no_merge = false;
	CHECKF(n == (int)np, "with vma_test_no_merge: %d records for %zu pages", n, np);
	/* one more change merges what it touches only */
	CHECK_EQ(pc_mprotect(e, p, len, PROT_READ), 0);
	CHECK_EQ(records(p, np), 1);
	CHECK_EQ(pc_munmap(e, p, len), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	CHECK_EQ(mm_fallback_vmas(), 0);
	check_host("f", w, len);
	free(w);
}

/* ---- two adjacent views of two files ---- */

struct side {
	const char *name;
	int fd;
	char *w, *p; /* the file's bytes, its view */
};

/* Views of 4 pages of @x and of @y that the host put side by side (its
 * top-down placement puts a new mapping right below the last one): *lo the
 * lower one. Views that are not are kept mapped until the end (so that the
 * next tries land elsewhere). False if no try gave a pair. */
static bool map_adjacent(struct pc_engine *e, struct side *x, struct side *y, struct side **lo,
			 struct side **hi)
{
	char *left[16];
	int nleft = 0;
	bool found = false;

	for (int tries = 0; tries < 8 && !found; tries++) {
		x->p = map_view(e, x->fd, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
		y->p = map_view(e, y->fd, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
		if (y->p + 4 * PG == x->p || x->p + 4 * PG == y->p) {
			found = true;
			*lo = y->p < x->p ? y : x;
			*hi = *lo == x ? y : x;
		} else {
			left[nleft++] = x->p;
			left[nleft++] = y->p;
		}
	}
	while (nleft)
		CHECK_EQ(pc_munmap(e, left[--nleft], 4 * PG), 0);
	return found;
}

TEST(calls_across_adjacent_views)
{
	struct pc_engine *e = engine();
	struct side f = {"f", -1, malloc(4 * PG), NULL}, g = {"g", -1, malloc(4 * PG), NULL};
	struct side *lo = NULL, *hi = NULL;
	struct pc_stats st;
	struct rec r;

	f.fd = new_file(e, "f", f.w, 4 * PG, 22);
	g.fd = new_file(e, "g", g.w, 4 * PG, 23);
	CHECK_EQ(pc_fsync(e, f.fd), 0);
	CHECK_EQ(pc_fsync(e, g.fd), 0);
	if (!map_adjacent(e, &f, &g, &lo, &hi)) {
		free(f.w);
		free(g.w);
		skip_case("the host never mapped two views side by side", -EAGAIN);
	}
	char *a = lo->p, *b = hi->p; /* b == a + 4 pages */
	/* dirty pages in both views; one msync over lo's tail and hi */
	a[3 * PG + 7] = lo->w[3 * PG + 7] = 'a';
	b[0 * PG + 9] = hi->w[0 * PG + 9] = 'b';
	b[3 * PG + 1] = hi->w[3 * PG + 1] = 'c';
	CHECK_EQ(pc_msync(e, a + 2 * PG, 6 * PG, MS_SYNC), 0);
	check_host("f", f.w, 4 * PG);
	check_host("g", g.w, 4 * PG);
	pc_get_stats(e, &st, sizeof(st));
	CHECK_EQ(st.dirty_pages, 0);
	/* MS_ASYNC and MS_INVALIDATE over both: no hole, 0 */
	CHECK_EQ(pc_msync(e, a, 8 * PG, MS_ASYNC), 0);
	CHECK_EQ(pc_msync(e, a, 8 * PG, MS_INVALIDATE), 0);
	/* mprotect across both: lo's tail and hi's head read-only, each split */
	CHECK_EQ(pc_mprotect(e, a + 3 * PG, 2 * PG, PROT_READ), 0);
	check_rec(a, 0, 3, PROT_READ | PROT_WRITE);
	check_rec(a, 3, 4, PROT_READ);
	check_rec(a, 4, 5, PROT_READ);
	check_rec(a, 5, 8, PROT_READ | PROT_WRITE);
	CHECK(store_segv(a + 3 * PG, 'x') && store_segv(b, 'x'));
	CHECK(!store_segv(a + 2 * PG, 'd') && !store_segv(b + PG, 'e'));
	lo->w[2 * PG] = 'd';
	hi->w[PG] = 'e';
	/* madvise across both: DONTNEED (the next loads fault again and see
	 * the bytes), WILLNEED, POPULATE_READ, RANDOM (split at both ends) */
	CHECK_EQ(pc_madvise(e, a, 8 * PG, MADV_DONTNEED), 0);
	CHECK(!memcmp(a, lo->w, 4 * PG) && !memcmp(b, hi->w, 4 * PG));
	CHECK_EQ(pc_fadvise(e, hi->fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	CHECK_EQ(pc_madvise(e, a + PG, 7 * PG, MADV_WILLNEED), 0);
	CHECK_EQ(pc_madvise(e, a, 8 * PG, MADV_POPULATE_READ), 0);
	CHECK_EQ(pc_madvise(e, a + 2 * PG, 4 * PG, MADV_RANDOM), 0);
	CHECK(rec_of(a + PG, &r) && r.advice == MADV_NORMAL && r.end == (uintptr_t)a + 2 * PG);
	CHECK(rec_of(a + 2 * PG, &r) && r.advice == MADV_RANDOM && r.end == (uintptr_t)a + 3 * PG);
	CHECK(rec_of(b + PG, &r) && r.advice == MADV_RANDOM && r.end == (uintptr_t)b + 2 * PG);
	CHECK(rec_of(b + 2 * PG, &r) && r.advice == MADV_NORMAL);
	CHECK_EQ(pc_munmap(e, a, 8 * PG), 0); /* both views, every part */
	CHECK_EQ(pc_close(e, f.fd), 0);
	CHECK_EQ(pc_close(e, g.fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	check_host("f", f.w, 4 * PG);
	check_host("g", g.w, 4 * PG);
	free(f.w);
	free(g.w);
}

/* ---- a hole in the range ---- */

TEST(hole_in_range)
{
	struct pc_engine *e = engine();
	const size_t len = 8 * PG;
	char *w = malloc(len);
	int fd = new_file(e, "f", w, len, 24);
	char *p = map_view(e, fd, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	struct pc_stats st;

	CHECK_EQ(pc_fsync(e, fd), 0);
	CHECK_EQ(pc_munmap(e, p + 3 * PG, 2 * PG), 0); /* views: pages 0-2, 5-7 */
	/* mprotect stops at the hole: the head changed, the tail not */
	CHECK_EQ(pc_mprotect(e, p, len, PROT_READ), -ENOMEM);
	CHECK(store_segv(p + PG, 'x'));
	CHECK(!store_segv(p + 6 * PG, 't'));
	w[6 * PG] = 't';
	check_rec(p, 5, 8, PROT_READ | PROT_WRITE);
	/* a range starting in the hole changes nothing */
	CHECK_EQ(pc_mprotect(e, p + 4 * PG, 2 * PG, PROT_READ), -ENOMEM);
	check_rec(p, 5, 8, PROT_READ | PROT_WRITE);
	/* MS_ASYNC stops at the hole; MS_SYNC writes the tail back first */
	CHECK_EQ(pc_msync(e, p, len, MS_ASYNC), -ENOMEM);
	CHECK_EQ(pc_msync(e, p, len, MS_SYNC), -ENOMEM);
	pc_get_stats(e, &st, sizeof(st));
	CHECK_EQ(st.dirty_pages, 0);
	check_host("f", w, len);
	CHECK_EQ(pc_msync(e, p + 3 * PG, 2 * PG, MS_SYNC), -ENOMEM);
	/* madvise: DONTNEED reaches the tail past the hole; POPULATE stops */
	CHECK_EQ(pc_madvise(e, p, len, MADV_DONTNEED), -ENOMEM);
	CHECK_EQ(pc_madvise(e, p, len, MADV_POPULATE_READ), -ENOMEM);
	CHECK_EQ(pc_madvise(e, p + 2 * PG, 4 * PG, MADV_RANDOM), -ENOMEM);
	struct rec r;
	CHECK(rec_of(p + 5 * PG, &r) && r.advice == MADV_RANDOM && r.end == (uintptr_t)p + 6 * PG);
	CHECK(rec_of(p + 2 * PG, &r) && r.advice == MADV_RANDOM);
	CHECK(rec_of(p + 1 * PG, &r) && r.advice == MADV_NORMAL);
	/* a range past the last view's end */
	CHECK_EQ(pc_msync(e, p + 5 * PG, 4 * PG, MS_SYNC), -ENOMEM);
	CHECK_EQ(pc_mprotect(e, p + 7 * PG, 2 * PG, PROT_READ), -ENOMEM);
	CHECK(store_segv(p + 7 * PG, 'x')); /* changed before the end */
	/* empty ranges: nothing to do (the kernel's 0) */
	CHECK_EQ(pc_mprotect(e, p + 3 * PG, 0, PROT_READ), 0);
	CHECK_EQ(pc_msync(e, p + 3 * PG, 0, MS_SYNC), 0);
	CHECK_EQ(pc_madvise(e, p + 3 * PG, 0, MADV_WILLNEED), 0);
	/* wrapping ranges */
	CHECK_EQ(pc_mprotect(e, p, SIZE_MAX - PG, PROT_READ), -ENOMEM);
	CHECK_EQ(pc_madvise(e, p, SIZE_MAX - PG, MADV_WILLNEED), -EINVAL);
	CHECK_EQ(pc_munmap(e, p, len), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	check_host("f", w, len);
	free(w);
}

/* Another engine's view inside the range: -EINVAL, nothing changed. */
TEST(other_engine_in_range)
{
	struct pc_engine *e = engine(), *e2;
	char *w = malloc(4 * PG), *p, *q, *lo;
	int fd = new_file(e, "f", w, 4 * PG, 25), fd2;

	p = map_view(e, fd, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	e2 = engine();
	fd2 = pc_open(e2, "g", O_RDWR | O_CREAT, 0644);
	CHECK(fd2 >= 0);
	CHECK_EQ(pc_pwrite(e2, fd2, w, 4 * PG, 0), 4 * PG);
	q = map_view(e2, fd2, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	lo = p < q ? p : q;
	size_t span = (size_t)((p < q ? q : p) - lo) + 4 * PG;
	CHECK_EQ(pc_mprotect(e, lo, span, PROT_READ), -EINVAL);
	CHECK_EQ(pc_msync(e, lo, span, MS_SYNC), -EINVAL);
	CHECK_EQ(pc_madvise(e, lo, span, MADV_RANDOM), -EINVAL);
	check_rec(p, 0, 4, PROT_READ | PROT_WRITE);
	check_rec(q, 0, 4, PROT_READ | PROT_WRITE);
	CHECK(!store_segv(p, 'x') && !store_segv(q, 'y'));
	CHECK_EQ(pc_munmap(e2, q, 4 * PG), 0);
	CHECK_EQ(pc_close(e2, fd2), 0);
	CHECK_EQ(pc_engine_close(e2), 0);
	CHECK_EQ(pc_munmap(e, p, 4 * PG), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	free(w);
}

/* ---- random: mprotect, msync, madvise, munmap and accesses on a model ---- */

#define RP_NP 32

static uint64_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

/* Every view record in the region covers pages of one protection, the one
 * the model gives them, and none covers an unmapped page. */
static void check_records(char *p, const bool *mapped, const int *prot)
{
	for (size_t i = 0; i < RP_NP; i++) {
		struct rec r;
		bool found = rec_of(p + i * PG, &r);

		CHECKF(found == mapped[i], "page %zu: view %d, model %d", i, found, mapped[i]);
		if (found)
			CHECKF(r.prot == prot[i], "page %zu: view prot %d, model %d", i, r.prot,
			       prot[i]);
	}
}

TEST(random_calls_on_model)
{
	static const int prots[] = {PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE};
	struct pc_engine *e = engine();
	const size_t len = RP_NP * PG, rounds = test_scale(3000, 10);
	char *w = malloc(len), c;
	int fd = new_file(e, "f", w, len, 26);
	char *p = map_view(e, fd, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	bool mapped[RP_NP];
	int prot[RP_NP];
	uint64_t seed = test_seed();
	unsigned long n[6] = {0};

	for (size_t i = 0; i < RP_NP; i++) {
		mapped[i] = true;
		prot[i] = PROT_READ | PROT_WRITE;
	}
	for (size_t round = 0; round < rounds; round++) {
		size_t s = rnd(&seed) % RP_NP, np = 1 + rnd(&seed) % (RP_NP - s), k, hole = RP_NP;
		unsigned op = (unsigned)(rnd(&seed) % 100);

		for (k = s; k < s + np; k++)
			if (!mapped[k] && hole == RP_NP)
				hole = k;
		if (op < 30) { /* mprotect: up to the first hole */
			int pr = prots[rnd(&seed) % 3];

			CHECKF(pc_mprotect(e, p + s * PG, np * PG, pr) ==
				   (hole < s + np ? -ENOMEM : 0),
			       "round %zu: mprotect of pages %zu-%zu", round, s, s + np);
			for (k = s; k < s + np && k < hole; k++)
				prot[k] = pr;
			n[0]++;
		} else if (op < 40) { /* msync: -ENOMEM for a hole */
			int fl = rnd(&seed) & 1 ? MS_SYNC : MS_ASYNC;

			CHECKF(pc_msync(e, p + s * PG, np * PG, fl) ==
				   (hole < s + np ? -ENOMEM : 0),
			       "round %zu: msync of pages %zu-%zu", round, s, s + np);
			n[1]++;
		} else if (op < 50) { /* POPULATE_WRITE: to a hole or a page not writable */
			int want = 0;

			for (k = s; k < s + np && !want; k++)
				if (!mapped[k])
					want = -ENOMEM;
				else if (!(prot[k] & PROT_WRITE))
					want = -EINVAL;
			CHECKF(pc_madvise(e, p + s * PG, np * PG, MADV_POPULATE_WRITE) == want,
			       "round %zu: populate of pages %zu-%zu", round, s, s + np);
			n[2]++;
		} else if (op < 55) { /* DONTNEED: the bytes stay (shared) */
			CHECKF(pc_madvise(e, p + s * PG, np * PG, MADV_DONTNEED) ==
				   (hole < s + np ? -ENOMEM : 0),
			       "round %zu: dontneed of pages %zu-%zu", round, s, s + np);
			n[3]++;
		} else if (op < 58) { /* munmap of a few pages */
			np = 1 + np % 3;
			if (s + np > RP_NP)
				np = RP_NP - s;
			CHECK_EQ(pc_munmap(e, p + s * PG, np * PG), 0);
			for (k = s; k < s + np; k++)
				mapped[k] = false;
			n[4]++;
		} else if (mapped[s]) { /* an access as the protection allows */
			size_t o = s * PG + rnd(&seed) % PG;

			if (op < 80) {
				c = (char)rnd(&seed);
				bool segv = store_segv(p + o, c);
				CHECKF(segv == !(prot[s] & PROT_WRITE),
				       "round %zu: store to page %zu", round, s);
				if (!segv)
					w[o] = c;
			} else {
				bool segv = load_segv(p + o, &c);
				CHECKF(segv == !(prot[s] & PROT_READ),
				       "round %zu: load from page %zu", round, s);
				CHECKF(segv || c == w[o], "round %zu: page %zu differs", round, s);
			}
			n[5]++;
		}
		if (round % 16 == 0)
			check_records(p, mapped, prot);
		if (round % 150 == 149) { /* a fresh view: holes come back */
			CHECK_EQ(pc_munmap(e, p, len), 0);
			p = map_view(e, fd, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
			for (size_t i = 0; i < RP_NP; i++) {
				mapped[i] = true;
				prot[i] = PROT_READ | PROT_WRITE;
			}
		}
	}
	check_records(p, mapped, prot);
	printf("# %lu mprotect, %lu msync, %lu populate, %lu dontneed, %lu munmap, %lu "
	       "accesses\n",
	       n[0], n[1], n[2], n[3], n[4], n[5]);
	CHECK_EQ(pc_munmap(e, p, len), 0);
	CHECK_EQ(pc_fsync(e, fd), 0);
	check_contents(e, fd, w, len);
	check_host("f", w, len);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	CHECK_EQ(mm_fallback_vmas(), 0);
	free(w);
}

/* ---- faults while mprotect splits the view ---- */

static struct {
	char *p;
	const char *w;
	size_t first; /* the page the pass starts at */
	sem_t go, in_fault, swept;
	bool done, posted; /* posted: in_fault, this round (loader only) */
	unsigned long loads, bad;
} fr;

/* The fault hook (signal context, the loader's thread): the round's first
 * fault tells the main thread it holds its pin, and every fault holds it a
 * little longer, so that the split meets it. */
static void slow_fault(struct vma *v, uintptr_t addr)
{
	(void)v;
	(void)addr;
	if (!fr.posted) {
		fr.posted = true;
		sem_post(&fr.in_fault);
	}
	for (int i = 0; i < 4; i++)
		sched_yield();
}

/* One pass over every page per round, while the main thread mprotects. */
static void *loader(void *arg)
{
	(void)arg;
	for (;;) {
		CHECK_EQ(sem_wait(&fr.go), 0);
		if (fr.done)
			return NULL;
		for (size_t i = 0; i < RP_NP; i++) {
			size_t k = (fr.first + i) % RP_NP, o = k * PG + (k * 131 + fr.loads) % PG;

			if (((volatile char *)fr.p)[o] != fr.w[o])
				fr.bad++;
			fr.loads++;
		}
		if (!fr.posted) { /* no fault this round */
			fr.posted = true;
			CHECK_EQ(sem_post(&fr.in_fault), 0);
		}
		CHECK_EQ(sem_post(&fr.swept), 0);
	}
}

/* Each round: the view's pages dropped (MADV_DONTNEED across every part),
 * then one thread loads every page from page s on (faulting them in again)
 * and, once its first fault holds the view pinned, this one makes pages
 * [s, s + n) read-only (a split of the view the loads fault on at s, which
 * waits for their pins): every load sees the file. Every other round the
 * view is a fresh one, else the same made writable again (its parts merge
 * back into one: vma_merge, which waits for the pins too). */
TEST(faults_race_mprotect_splits)
{
	struct pc_engine *e = engine();
	const size_t len = RP_NP * PG, rounds = test_scale(2000, 10);
	char *w = malloc(len);
	int fd = new_file(e, "f", w, len, 27);
	uint64_t seed = test_seed();
	uint64_t waits = __atomic_load_n(&mm_vma_drain_waits, __ATOMIC_RELAXED);
	pthread_t th;

	fr.p = map_view(e, fd, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	fr.w = w;
	fr.loads = fr.bad = 0;
	fr.done = false;
	CHECK_EQ(sem_init(&fr.go, 0, 0), 0);
	CHECK_EQ(sem_init(&fr.swept, 0, 0), 0);
	CHECK_EQ(sem_init(&fr.in_fault, 0, 0), 0);
	vma_test_fault_hook = slow_fault;
	CHECK_EQ(pthread_create(&th, NULL, loader, NULL), 0);
	for (size_t round = 0; round < rounds; round++) {
		size_t s = 1 + rnd(&seed) % (RP_NP - 1), np = 1 + rnd(&seed) % (RP_NP - s);

		/* a view of its own each round, its pages to fault in again */
		if (round % 2 == 0) {
			CHECK_EQ(pc_munmap(e, fr.p, len), 0);
			fr.p = map_view(e, fd, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
		} else {
			CHECK_EQ(pc_mprotect(e, fr.p, len, PROT_READ | PROT_WRITE), 0);
			CHECK_EQ(pc_madvise(e, fr.p, len, MADV_DONTNEED), 0);
		}
		fr.first = s;
		fr.posted = false;
		CHECK_EQ(sem_post(&fr.go), 0);
		CHECK_EQ(sem_wait(&fr.in_fault), 0); /* a fault holds the view pinned */
		CHECK_EQ(pc_mprotect(e, fr.p + s * PG, np * PG, PROT_READ), 0); /* splits it */
		if (round % 4 == 1) /* merges it back, the loads perhaps still faulting */
			CHECK_EQ(pc_mprotect(e, fr.p + s * PG, np * PG, PROT_READ | PROT_WRITE), 0);
		CHECK_EQ(sem_wait(&fr.swept), 0);
	}
	fr.done = true;
	CHECK_EQ(sem_post(&fr.go), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
	vma_test_fault_hook = NULL;
	printf(
	    "# %lu loads beside %zu mprotects; splits and merges that waited for a fault's pin: "
	    "%llu\n",
	    fr.loads, rounds,
	    (unsigned long long)(__atomic_load_n(&mm_vma_drain_waits, __ATOMIC_RELAXED) - waits));
	CHECK_EQ(fr.bad, 0);
	sem_destroy(&fr.go);
	sem_destroy(&fr.swept);
	sem_destroy(&fr.in_fault);
	CHECK_EQ(pc_munmap(e, fr.p, len), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	CHECK_EQ(mm_fallback_vmas(), 0);
	free(w);
}

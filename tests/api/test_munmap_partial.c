/* SPDX-License-Identifier: MIT */
/*
 * test_munmap_partial.c - munmap of any page range, as Linux's (src/mm/vma.c
 * mm_unmap, split_vma: the kernel's do_vmi_munmap and __split_vma):
 * - the middle of a view of a written file: head and tail keep their bytes
 *   and their dirty state, take stores that reach the file (msync, fsync),
 *   msync/madvise/mprotect of a half work, the middle is gone (SIGSEGV, and
 *   the engine's calls say -ENOMEM there);
 * - truncate after the split zaps both halves (a load beyond EOF in either:
 *   SIGBUS), both are in the file's i_mmap list;
 * - one range over two views and the hole between them; a range with holes
 *   around a whole view; a range with no view (0); bad input (-EINVAL);
 *   another engine's view in the range (-EINVAL, nothing unmapped);
 * - random: views of one file mapped, partly unmapped (ranges over views
 *   and holes), stored to and checked page by page against a model of the
 *   file and of which pages are mapped (seed printed, PC_SEED replays);
 * - race: faults on the tail pages while another thread unmaps the head
 *   page by page (every unmap splits the view the faults use);
 * - a fault that pinned the view before a split finishes on the record as
 *   it was (split_vma waits for the pin); with vma_test_split_no_drain the
 *   record's range shrinks under the pinned fault.
 * Runs on the mechanism PC_FAULT picks (test_munmap_partial_fb: fallback).
 * Threads synchronize with semaphores, barriers and atomics, never sleeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
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
#include "mm/vma_index.h"
#include "pagecache.h"

/* ---- the application's SIGBUS and SIGSEGV handlers (before the engine's) ---- */

__attribute__((constructor)) static void install_app_handlers(void)
{
	install_bus_catcher();
	install_segv_catcher();
}

/* The host no longer maps the file's frames at @p: a load there raises
 * SIGSEGV, unless another mapping took the address meanwhile (the
 * sanitizers' allocators, another thread's malloc): then /proc/self/maps
 * must show that it is not a mapping of the frames' memfd. */
static bool host_unmapped(char *p)
{
	uintptr_t a = (uintptr_t)p;
	char line[512];
	bool frames = false, found = false;
	FILE *f;
	char c;

	if (load_segv(p, &c))
		return true;
	f = fopen("/proc/self/maps", "r");
	CHECK(f);
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && a >= lo && a < hi) {
			found = true;
			frames = strstr(line, "pagecache-frames") != NULL;
		}
	}
	fclose(f);
	return found && !frames;
}

/* A view's page is ours to the engine: msync of it works (0), else
 * -ENOMEM (not a view). */
static bool is_view(struct pc_engine *e, char *p)
{
	int r = pc_msync(e, p, PG, MS_ASYNC);

	CHECKF(r == 0 || r == -ENOMEM, "msync %d", r);
	return r == 0;
}

static uint64_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

/* The views of @m (i_mmap) that show file page @index. */
static int i_mmap_views_of(struct address_space *m, pgoff_t index)
{
	struct vma *v;
	int n = 0;

	down_read(&m->i_mmap_rwsem);
	list_for_each_entry (v, &m->i_mmap, i_mmap_link)
		n += index >= v->pgoff && index < v->pgoff + vma_pages(v);
	up_read(&m->i_mmap_rwsem);
	return n;
}

/* ---- the middle of a view ---- */

TEST(unmap_middle)
{
	struct pc_engine *e = engine();
	const size_t np = 8, len = np * PG;
	char *w = malloc(len), *r = malloc(len);
	int fd = new_file(e, "f", w, len, 11);
	char *p = map_view(e, fd, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	struct vma *head, *tail;

	CHECK_EQ(pc_fsync(e, fd), 0); /* the host file: w; msync must bring the rest */
	CHECK(!memcmp(p, w, len));
	/* dirty pages on both sides before the split */
	p[1 * PG + 3] = w[1 * PG + 3] = 'h';
	p[6 * PG + 5] = w[6 * PG + 5] = 't';
	CHECK_EQ(pc_munmap(e, p + 2 * PG, 4 * PG), 0);
	/* the halves: two records, the tail's file offset moved with it */
	down_read(&mm.lock);
	head = find_vma((uintptr_t)p);
	tail = find_vma((uintptr_t)p + 6 * PG);
	CHECK(head && head->start == (uintptr_t)p && head->end == (uintptr_t)p + 2 * PG);
	CHECK(tail && tail->start == (uintptr_t)p + 6 * PG && tail->end == (uintptr_t)p + len);
	CHECK_EQ(tail->pgoff, 6);
	CHECK(head->owner == tail->owner && head->owner->refs == 2);
	CHECK(!find_vma((uintptr_t)p + 2 * PG) && !find_vma((uintptr_t)p + 5 * PG));
	up_read(&mm.lock);
	/* both halves reach the lock-free lookup */
	struct vma *got = lock_vma_under_rcu((uintptr_t)p + 7 * PG);
	CHECK(got == tail);
	if (got)
		vma_unpin(got);
	/* head and tail read the file, the middle is gone */
	CHECK(!memcmp(p, w, 2 * PG));
	CHECK(!memcmp(p + 6 * PG, w + 6 * PG, 2 * PG));
	for (size_t i = 2; i < 6; i++) {
		CHECK(!is_view(e, p + i * PG));
		CHECK(host_unmapped(p + i * PG));
	}
	CHECK_EQ(pc_madvise(e, p + 2 * PG, PG, MADV_WILLNEED), -ENOMEM);
	CHECK_EQ(pc_mprotect(e, p + 3 * PG, PG, PROT_READ), -ENOMEM);
	/* the dirty pages are still dirty (written by msync), and new stores
	 * to either half reach the file */
	p[0 * PG + 7] = w[0 * PG + 7] = 'H';
	p[7 * PG + 9] = w[7 * PG + 9] = 'T';
	CHECK_EQ(pc_msync(e, p, 2 * PG, MS_SYNC), 0);
	CHECK_EQ(pc_msync(e, p + 6 * PG, 2 * PG, MS_SYNC), 0);
	check_contents(e, fd, w, len);
	check_host("f", w, len);
	/* a store after writeback is seen again (write-notify survived) */
	p[7 * PG + 10] = w[7 * PG + 10] = 'U';
	p[1 * PG + 10] = w[1 * PG + 10] = 'V';
	CHECK_EQ(pc_fsync(e, fd), 0);
	check_host("f", w, len);
	/* sub-ranges of a half: madvise, mprotect */
	CHECK_EQ(pc_madvise(e, p + 6 * PG, 2 * PG, MADV_DONTNEED), 0);
	CHECK(!memcmp(p + 6 * PG, w + 6 * PG, 2 * PG));
	CHECK_EQ(pc_mprotect(e, p + 7 * PG, PG, PROT_READ), 0);
	CHECK_EQ(p[7 * PG + 10], 'U');
	CHECK_EQ(pc_mprotect(e, p + 7 * PG, PG, PROT_READ | PROT_WRITE), 0);
	p[7 * PG + 11] = w[7 * PG + 11] = 'W';
	/* unmapping the middle again: nothing there, not an error */
	CHECK_EQ(pc_munmap(e, p + 2 * PG, 4 * PG), 0);
	/* the whole original range: both halves go, the file stays open */
	CHECK_EQ(pc_munmap(e, p, len), 0);
	CHECK(!is_view(e, p) && !is_view(e, p + 7 * PG));
	CHECK_EQ(pc_pread(e, fd, r, len, 0), (ssize_t)len);
	CHECK(!memcmp(r, w, len));
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	check_host("f", w, len);
	free(w);
	free(r);
}

/* Truncate after the split: both halves are in the file's i_mmap list, so
 * it zaps both (a load beyond the new EOF raises SIGBUS in either). */
TEST(truncate_zaps_both_halves)
{
	struct pc_engine *e = engine();
	const size_t np = 8, len = np * PG;
	char *w = malloc(len);
	int fd = new_file(e, "f", w, len, 12);
	char *p = map_view(e, fd, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	struct address_space *m;

	CHECK(!memcmp(p, w, len)); /* every page installed */
	CHECK_EQ(pc_munmap(e, p + 3 * PG, 2 * PG), 0);
	down_read(&mm.lock);
	m = find_vma((uintptr_t)p)->mapping;
	up_read(&mm.lock);
	CHECK_EQ(i_mmap_views_of(m, 1), 1);
	CHECK_EQ(i_mmap_views_of(m, 6), 1);
	CHECK_EQ(i_mmap_views_of(m, 3), 0);
	CHECK_EQ(pc_ftruncate(e, fd, PG), 0);
	CHECK_EQ(p[5], w[5]);
	CHECK(touch_bus(p + 2 * PG));
	CHECK(touch_bus(p + 1 * PG));
	CHECK(touch_bus(p + 5 * PG));
	CHECK(touch_bus(p + 7 * PG));
	/* grown back: zeroes in both halves */
	CHECK_EQ(pc_ftruncate(e, fd, (off_t)len), 0);
	CHECK_EQ(p[2 * PG + 1], 0);
	CHECK_EQ(p[7 * PG + 1], 0);
	CHECK_EQ(pc_munmap(e, p, len), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	free(w);
}

/* One range over the tail of one view, the hole between two views and the
 * head of the other; a range with holes around a whole view; a range with
 * no view. Host memory in the holes that is not a view is left alone. */
TEST(unmap_spanning_views_and_holes)
{
	struct pc_engine *e = engine();
	const size_t np = 6, len = np * PG;
	char *w = malloc(len);
	int fd = new_file(e, "f", w, len, 13);
	char *a = map_view(e, fd, len, PROT_READ, MAP_SHARED, 0);
	char *b = map_view(e, fd, 4 * PG, PROT_READ, MAP_SHARED, 2 * PG);
	char *c = map_view(e, fd, 2 * PG, PROT_READ, MAP_SHARED, 0);
	char *lo, *hi;

	if (a > b) {
		lo = b;
		hi = a;
	} else {
		lo = a;
		hi = b;
	}
	const size_t lo_len = lo == a ? len : 4 * PG, hi_len = hi == a ? len : 4 * PG;
	const size_t lo_off = lo == a ? 0 : 2 * PG, hi_off = hi == a ? 0 : 2 * PG;
	CHECK(!memcmp(a, w, len) && !memcmp(b, w + 2 * PG, 4 * PG) && !memcmp(c, w, 2 * PG));
	/* c lies between a and b? then it goes too: keep it out of the range */
	bool c_between = c > lo && c < hi;
	if (!c_between) {
		/* from the last 2 pages of lo to the first page of hi */
		CHECK_EQ(pc_munmap(e, lo + lo_len - 2 * PG, (size_t)(hi - lo) - lo_len + 3 * PG),
			 0);
		CHECK(!memcmp(lo, w + lo_off, lo_len - 2 * PG));
		CHECK(!memcmp(hi + PG, w + hi_off + PG, hi_len - PG));
		CHECK(!is_view(e, lo + lo_len - PG) && !is_view(e, hi));
		CHECK(host_unmapped(lo + lo_len - 2 * PG) && host_unmapped(hi));
		CHECK(is_view(e, lo + lo_len - 3 * PG) && is_view(e, hi + PG));
	} else {
		skip("the third view landed between the others", -EAGAIN);
	}
	/* c with a page of margin on both sides (holes, or other views: only
	 * views of this engine can be there) */
	CHECK(!memcmp(c, w, 2 * PG));
	CHECK_EQ(pc_munmap(e, c - PG, 4 * PG), 0);
	CHECK(!is_view(e, c) && !is_view(e, c + PG));
	/* no view at all: 0 */
	CHECK_EQ(pc_munmap(e, c, 2 * PG), 0);
	CHECK_EQ(pc_munmap(e, a, len), 0);
	CHECK_EQ(pc_munmap(e, b, 4 * PG), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	free(w);
}

/* Bad input, and another engine's view in the range. */
TEST(unmap_bad_input)
{
	struct pc_engine *e = engine(), *e2;
	char *w = malloc(4 * PG);
	int fd = new_file(e, "f", w, 4 * PG, 14), fd2;
	char *p = map_view(e, fd, 4 * PG, PROT_READ, MAP_SHARED, 0), *q;

	CHECK_EQ(pc_munmap(e, p + 1, PG), -EINVAL);
	CHECK_EQ(pc_munmap(e, p + PG - 1, PG), -EINVAL);
	CHECK_EQ(pc_munmap(e, p, 0), -EINVAL);
	CHECK_EQ(pc_munmap(e, p, SIZE_MAX), -EINVAL);
	CHECK_EQ(pc_munmap(e, (char *)(UINTPTR_MAX & ~(uintptr_t)(PG - 1)), PG + 1), -EINVAL);
	CHECK_EQ(pc_munmap(NULL, p, PG), -EINVAL);
	CHECK(!memcmp(p, w, 4 * PG)); /* untouched */
	/* a length that is not a multiple of the page: rounded up */
	CHECK_EQ(pc_munmap(e, p + 3 * PG, 1), 0);
	CHECK(!is_view(e, p + 3 * PG) && is_view(e, p + 2 * PG));
	/* another engine's view inside the range: -EINVAL, nothing unmapped */
	e2 = engine(); /* on a directory of its own */
	fd2 = pc_open(e2, "g", O_RDWR | O_CREAT, 0644);
	CHECK(fd2 >= 0);
	CHECK_EQ(pc_pwrite(e2, fd2, w, 4 * PG, 0), 4 * PG);
	q = map_view(e2, fd2, 4 * PG, PROT_READ, MAP_SHARED, 0);
	CHECK_EQ(pc_munmap(e, q + PG, PG), -EINVAL);
	char *from = p < q ? p : q, *to = p < q ? q + 4 * PG : p + 3 * PG;
	CHECK_EQ(pc_munmap(e, from, (size_t)(to - from)), -EINVAL);
	CHECK(is_view(e, p) && is_view(e2, q + PG));
	CHECK(!memcmp(p, w, 3 * PG) && !memcmp(q, w, 4 * PG));
	CHECK_EQ(pc_munmap(e2, q + PG, 2 * PG), 0);
	CHECK_EQ(pc_close(e2, fd2), 0);
	CHECK_EQ(pc_engine_close(e2), 0); /* unmaps q's two parts, puts the file */
	CHECK_EQ(pc_munmap(e, p, 4 * PG), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	free(w);
}

/* pc_engine_close with split views left: every part goes, the file's
 * reference once (the engine closes cleanly). */
TEST(engine_close_unmaps_split_views)
{
	struct pc_engine *e = engine();
	char *w = malloc(8 * PG);
	int fd = new_file(e, "f", w, 8 * PG, 15);
	char *p = map_view(e, fd, 8 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, 0);

	CHECK_EQ(pc_munmap(e, p + PG, PG), 0);
	CHECK_EQ(pc_munmap(e, p + 4 * PG, PG), 0);
	p[0] = w[0] = 'x';
	p[7 * PG] = w[7 * PG] = 'y';
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	check_host("f", w, 8 * PG);
	free(w);
}

/* ---- random ---- */

#define RV_SLOTS 6
#define RV_MAXP	 16
#define RV_FILEP 48

struct rview {
	char *base; /* NULL: free slot */
	size_t np, off;
	bool mapped[RV_MAXP];
};

/* Applies munmap of [s, e) to the model: every slot's pages inside. */
static void model_unmap(struct rview *v, uintptr_t s, uintptr_t e)
{
	for (int i = 0; i < RV_SLOTS; i++) {
		bool any = false;

		if (!v[i].base)
			continue;
		for (size_t k = 0; k < v[i].np; k++) {
			uintptr_t a = (uintptr_t)v[i].base + k * PG;

			if (a >= s && a < e)
				v[i].mapped[k] = false;
			any |= v[i].mapped[k];
		}
		if (!any)
			v[i].base = NULL;
	}
}

/* Some slot's mapped page at @a. */
static bool model_mapped(const struct rview *v, uintptr_t a)
{
	for (int i = 0; i < RV_SLOTS; i++)
		if (v[i].base && a >= (uintptr_t)v[i].base &&
		    a < (uintptr_t)v[i].base + v[i].np * PG &&
		    v[i].mapped[(a - (uintptr_t)v[i].base) / PG])
			return true;
	return false;
}

static void model_check(struct pc_engine *e, const struct rview *v, const char *model)
{
	for (int i = 0; i < RV_SLOTS; i++) {
		if (!v[i].base)
			continue;
		for (size_t k = 0; k < v[i].np; k++) {
			char *a = v[i].base + k * PG;

			if (v[i].mapped[k]) {
				CHECKF(!memcmp(a, model + (v[i].off + k) * PG, PG),
				       "view %d page %zu (file page %zu) differs", i, k,
				       v[i].off + k);
				CHECKF(is_view(e, a), "view %d page %zu not a view", i, k);
			} else if (!model_mapped(v, (uintptr_t)a)) {
				CHECKF(!is_view(e, a), "view %d page %zu still a view", i, k);
			}
		}
	}
}

TEST(random_partial_unmaps)
{
	struct pc_engine *e = engine();
	const size_t flen = RV_FILEP * PG, rounds = test_scale(1500, 10);
	char *model = malloc(flen), *r = malloc(flen);
	int fd = new_file(e, "f", model, flen, 16);
	struct rview v[RV_SLOTS];
	uint64_t seed = test_seed();
	unsigned long maps = 0, unmaps = 0, spans = 0, stores = 0;

	memset(v, 0, sizeof(v));
	for (size_t round = 0; round < rounds; round++) {
		unsigned op = (unsigned)(rnd(&seed) % 100);
		int i = (int)(rnd(&seed) % RV_SLOTS), j;

		if (!v[i].base || op < 10) {
			if (v[i].base) { /* the rest of the old one first */
				uintptr_t s = (uintptr_t)v[i].base;

				CHECK_EQ(pc_munmap(e, v[i].base, v[i].np * PG), 0);
				model_unmap(v, s, s + v[i].np * PG);
			}
			v[i].np = 1 + rnd(&seed) % RV_MAXP;
			v[i].off = rnd(&seed) % (RV_FILEP - v[i].np + 1);
			v[i].base = map_view(e, fd, v[i].np * PG, PROT_READ | PROT_WRITE,
					     MAP_SHARED, (off_t)(v[i].off * PG));
			for (size_t k = 0; k < RV_MAXP; k++)
				v[i].mapped[k] = k < v[i].np;
			maps++;
		} else if (op < 45) {
			/* a range from 2 pages below the view to 2 above */
			long a = (long)(rnd(&seed) % (v[i].np + 2)) - 2;
			long b = a + 1 + (long)(rnd(&seed) % (v[i].np + 2));
			uintptr_t s = (uintptr_t)v[i].base + (uintptr_t)(a * PG);
			uintptr_t en = (uintptr_t)v[i].base + (uintptr_t)(b * PG);

			CHECK_EQ(pc_munmap(e, (void *)s, en - s), 0);
			model_unmap(v, s, en);
			unmaps++;
		} else if (op < 55 && v[j = (int)(rnd(&seed) % RV_SLOTS)].base && j != i) {
			/* from inside one view to inside another (the holes between,
			 * with whatever the host has there, stay) */
			int x = v[i].base < v[j].base ? i : j, y = x == i ? j : i;
			uintptr_t s = (uintptr_t)v[x].base + (rnd(&seed) % v[x].np) * PG;
			uintptr_t en = (uintptr_t)v[y].base + (1 + rnd(&seed) % v[y].np) * PG;

			if (en <= s) /* y was mapped in a hole of x's range */
				continue;
			CHECK_EQ(pc_munmap(e, (void *)s, en - s), 0);
			model_unmap(v, s, en);
			spans++;
		} else if (op < 85) {
			size_t k = rnd(&seed) % v[i].np, o = rnd(&seed) % PG;
			char c = (char)rnd(&seed);

			if (v[i].mapped[k]) {
				v[i].base[k * PG + o] = c;
				model[(v[i].off + k) * PG + o] = c;
				stores++;
			}
		} else {
			model_check(e, v, model);
		}
	}
	model_check(e, v, model);
	CHECK_EQ(pc_pread(e, fd, r, flen, 0), (ssize_t)flen);
	CHECK(!memcmp(r, model, flen));
	for (int i = 0; i < RV_SLOTS; i++)
		if (v[i].base)
			CHECK_EQ(pc_munmap(e, v[i].base, v[i].np * PG), 0);
	CHECK_EQ(pc_fsync(e, fd), 0);
	check_host("f", model, flen);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	/* the fallback's count of kernel VMAs followed every split */
	CHECK_EQ(mm_fallback_vmas(), 0);
	printf("# %lu maps, %lu unmaps, %lu spanning unmaps, %lu stores\n", maps, unmaps, spans,
	       stores);
	free(model);
	free(r);
}

/* ---- faults on the tail while another thread unmaps the head ---- */

#define RACE_NP 16

static struct {
	struct pc_engine *e;
	char *p;
	const char *w;
	pthread_barrier_t start;
	atomic_bool done;
	int err;
} tr;

static void *head_unmapper(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&tr.start);
	/* page by page: each munmap splits the view the tail faults use */
	for (size_t k = 0; k < RACE_NP / 2 && !tr.err; k++)
		tr.err = pc_munmap(tr.e, tr.p + k * PG, PG);
	atomic_store(&tr.done, true);
	return NULL;
}

TEST(faults_on_tail_race_head_unmap)
{
	struct pc_engine *e = engine();
	const size_t len = RACE_NP * PG, rounds = test_scale(150, 10);
	char *w = malloc(len);
	int fd = new_file(e, "f", w, len, 17);
	unsigned long loads = 0;

	tr.e = e;
	tr.w = w;
	for (size_t round = 0; round < rounds; round++) {
		pthread_t th;
		bool last = false;

		/* uncached tail pages every other round: the fill path too */
		if (round & 1)
			CHECK_EQ(pc_fadvise(e, fd, 0, 0, POSIX_FADV_DONTNEED), 0);
		tr.p = map_view(e, fd, len, PROT_READ, MAP_SHARED, 0);
		tr.err = 0;
		atomic_store(&tr.done, false);
		CHECK_EQ(pthread_barrier_init(&tr.start, NULL, 2), 0);
		CHECK_EQ(pthread_create(&th, NULL, head_unmapper, NULL), 0);
		pthread_barrier_wait(&tr.start);
		while (!last) {
			last = atomic_load(&tr.done);
			for (size_t k = RACE_NP / 2; k < RACE_NP; k++) {
				size_t o = k * PG + (k * 131 + loads) % PG;

				CHECKF(tr.p[o] == w[o], "round %zu page %zu", round, k);
				loads++;
			}
			/* the tail is inside one view whatever the head has become */
			CHECK_EQ(pc_madvise(e, tr.p + len / 2, len / 2, MADV_DONTNEED), 0);
		}
		CHECK_EQ(pthread_join(th, NULL), 0);
		CHECK_EQ(tr.err, 0);
		pthread_barrier_destroy(&tr.start);
		CHECK(!is_view(e, tr.p) && !is_view(e, tr.p + (len / 2 - PG)));
		CHECK(!memcmp(tr.p + len / 2, w + len / 2, len / 2));
		CHECK_EQ(pc_munmap(e, tr.p, len), 0);
	}
	printf("# %lu loads beside %zu head unmaps\n", loads, rounds * RACE_NP / 2);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	free(w);
}

/* ---- a fault pinned on the view across its split ---- */

static struct {
	sem_t paused, go;
	uintptr_t target;
	uintptr_t end_at_pin, end_after;
	bool dead_after;
	struct pc_engine *e;
	char *p;
	int err;
} pf;

/* The fault hook (signal context: semaphores only). */
static void pause_fault(struct vma *v, uintptr_t addr)
{
	if ((addr & ~(uintptr_t)(PG - 1)) != pf.target)
		return;
	vma_test_fault_hook = NULL; /* once */
	pf.end_at_pin = READ_ONCE(v->end);
	sem_post(&pf.paused);
	while (sem_wait(&pf.go) && errno == EINTR)
		;
	/* What the fault is about to use: the record as it was when pinned? */
	pf.end_after = READ_ONCE(v->end);
	pf.dead_after = __atomic_load_n(&v->pins, __ATOMIC_ACQUIRE) & VMA_PIN_DEAD;
}

static void *tail_fault(void *arg)
{
	volatile char *c = (volatile char *)pf.target + 5;

	*(char *)arg = *c;
	return NULL;
}

static void *head_unmap(void *arg)
{
	(void)arg;
	pf.err = pc_munmap(pf.e, pf.p, 4 * PG);
	return NULL;
}

/* 0: the fault ran on the record as pinned; 1: its range changed under it. */
static int fault_across_split(struct pc_engine *e, int fd, const char *w)
{
	pthread_t ft, ut;
	char got = 0;
	uint64_t waits;

	pf.e = e;
	pf.p = map_view(e, fd, 8 * PG, PROT_READ, MAP_SHARED, 0);
	pf.target = (uintptr_t)pf.p + 6 * PG;
	CHECK_EQ(sem_init(&pf.paused, 0, 0), 0);
	CHECK_EQ(sem_init(&pf.go, 0, 0), 0);
	vma_test_fault_hook = pause_fault;
	CHECK_EQ(pthread_create(&ft, NULL, tail_fault, &got), 0);
	CHECK_EQ(sem_wait(&pf.paused), 0); /* the fault holds the view pinned */
	waits = __atomic_load_n(&mm_vma_drain_waits, __ATOMIC_ACQUIRE);
	CHECK_EQ(pthread_create(&ut, NULL, head_unmap, NULL), 0);
	/* munmap waits for our pin: in split_vma, under the mm lock, before it
	 * changes the record; with the switch, only after the split, in the
	 * teardown of the head (vma_free) */
	while (__atomic_load_n(&mm_vma_drain_waits, __ATOMIC_ACQUIRE) == waits)
		sched_yield();
	sem_post(&pf.go);
	CHECK_EQ(pthread_join(ft, NULL), 0);
	CHECK_EQ(pthread_join(ut, NULL), 0);
	CHECK_EQ(pf.err, 0);
	CHECK_EQ(got, w[6 * PG + 5]);
	CHECK_EQ(pf.end_at_pin, (uintptr_t)pf.p + 8 * PG);
	CHECK(!pf.dead_after);
	CHECK(!memcmp(pf.p + 4 * PG, w + 4 * PG, 4 * PG));
	CHECK(!is_view(e, pf.p));
	CHECK_EQ(pc_munmap(e, pf.p, 8 * PG), 0);
	sem_destroy(&pf.paused);
	sem_destroy(&pf.go);
	return pf.end_after != pf.end_at_pin;
}

TEST(split_waits_for_pinned_fault)
{
	struct pc_engine *e = engine();
	char *w = malloc(8 * PG);
	int fd = new_file(e, "f", w, 8 * PG, 18);

	CHECK_EQ(fault_across_split(e, fd, w), 0);
	vma_test_split_no_drain = true;
	int hazard = fault_across_split(e, fd, w);
	vma_test_split_no_drain = false;
	CHECKF(hazard == 1, "the switch did not show the record changing under the fault");
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	free(w);
}

/* A split whose RCU-index insert finds no memory (vma_index_test_nomem):
 * the upper part is still found, by the locked lookup (the RCU lookup
 * finds the lower part, which ends below the address: a miss). */
TEST(split_without_index_memory)
{
	struct pc_engine *e = engine();
	char *w = malloc(8 * PG);
	int fd = new_file(e, "f", w, 8 * PG, 19);
	char *p = map_view(e, fd, 8 * PG, PROT_READ, MAP_SHARED, 0);
	uint64_t locked;

	vma_index_test_nomem = true;
	CHECK_EQ(pc_munmap(e, p + 2 * PG, 2 * PG), 0);
	vma_index_test_nomem = false;
	CHECK(lock_vma_under_rcu((uintptr_t)p + 5 * PG) == NULL);
	locked = __atomic_load_n(&mm_vma_locked_lookups, __ATOMIC_RELAXED);
	CHECK(!memcmp(p + 4 * PG, w + 4 * PG, 4 * PG));
	CHECK(__atomic_load_n(&mm_vma_locked_lookups, __ATOMIC_RELAXED) > locked);
	CHECK(!memcmp(p, w, 2 * PG));
	CHECK(!is_view(e, p + 2 * PG) && is_view(e, p + 4 * PG));
	CHECK_EQ(pc_munmap(e, p, 8 * PG), 0);
	CHECK(!is_view(e, p + 4 * PG) && !is_view(e, p));
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	free(w);
}

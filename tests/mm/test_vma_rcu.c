/* SPDX-License-Identifier: MIT */
/*
 * test_vma_rcu.c - the fault path's view lookup without the mm lock
 * (src/mm/vma.c lock_vma_under_rcu, src/mm/vma_index.c):
 * - the RCU index against a sorted array under random inserts and removals
 *   (seeded; splits, empty nodes, root collapse);
 * - a removal without memory (switch vma_index_test_nomem): a tombstone;
 * - munmap of the view that a lookup has found but not yet pinned (forced
 *   with the lookup hook): the lookup refuses it; with the switch
 *   vma_test_no_pin_recheck it hands back the view munmap tore down;
 * - munmap of a pinned view waits for the pin;
 * - lookups pinning views that another thread maps and unmaps (random):
 *   a pinned view always holds the address and is never closed;
 * - faults (real loads, checked against the file) on a view of their own
 *   while another thread maps, touches and unmaps views in a loop
 *   (random): every load sees the file's bytes.
 * - a fault (cached page and miss) while another thread holds the mm lock
 *   exclusive does not queue on it; with vma_test_locked_lookup it does.
 * Random cases print their seed; PC_SEED replays. Threads synchronize with
 * mutexes, condition variables and atomics, never sleeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <urcu.h>

#include "api/basic_fixture.h"
#include "harness.h"
#include "mm/fault_internal.h"
#include "mm/page.h"
#include "mm/vma.h"
#include "mm/vma_index.h"
#include "kernel/rwsem.h"

static uint64_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

/* ---- the index alone ---- */

static int cmp_start(const void *a, const void *b)
{
	const struct vma *x = *(struct vma *const *)a, *y = *(struct vma *const *)b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* The index agrees with a sorted array (the reference) at the first, a
 * middle and the last byte of views, in gaps and below every view, while
 * views (records only, no mappings) come and go at random. */
TEST(index_matches_reference)
{
	const size_t slots = test_scale(20000, 10), rounds = test_scale(60000, 10);
	struct vma *recs = calloc(slots, sizeof(*recs)), **live = calloc(slots, sizeof(*live));
	bool *in = calloc(slots, sizeof(*in));
	struct vma_index idx = {NULL};
	uint64_t seed = test_seed();
	size_t nlive = 0;

	CHECK(recs && live && in);
	mm_rcu_thread_enter();
	/* slot i covers [i * 16 pages + 4096, + 1..8 pages): never overlapping */
	for (size_t i = 0; i < slots; i++) {
		recs[i].start = 0x100000000ul + i * 16 * PG + PG;
		recs[i].end = recs[i].start + (1 + rnd(&seed) % 8) * PG;
	}
	for (size_t r = 0; r < rounds; r++) {
		size_t i = rnd(&seed) % slots;

		if (in[i]) {
			vma_index_remove(&idx, &recs[i]);
		} else {
			CHECK_EQ(vma_index_insert(&idx, &recs[i]), 0);
		}
		in[i] = !in[i];
		if (r % (rounds / 8) && r != rounds - 1)
			continue;
		nlive = 0;
		for (size_t k = 0; k < slots; k++)
			if (in[k])
				live[nlive++] = &recs[k];
		qsort(live, nlive, sizeof(*live), cmp_start);
		rcu_read_lock();
		CHECK(vma_index_find(&idx, recs[0].start - 1) == NULL);
		for (size_t k = 0; k < slots; k++) {
			uintptr_t probe[4] = {recs[k].start, recs[k].start + PG + 17,
					      recs[k].end - 1, recs[k].end + PG};
			for (int p = 0; p < 4; p++) {
				struct vma *got = vma_index_find(&idx, probe[p]);
				/* the reference: the last live view starting <= probe */
				size_t lo = 0, hi = nlive;

				while (lo < hi) {
					size_t mid = (lo + hi) / 2;
					if (live[mid]->start <= probe[p])
						lo = mid + 1;
					else
						hi = mid;
				}
				CHECKF(got == (lo ? live[lo - 1] : NULL),
				       "round %zu probe %#lx: %p, want %p", r,
				       (unsigned long)probe[p], (void *)got,
				       (void *)(lo ? live[lo - 1] : NULL));
			}
		}
		mm_rcu_tsan_release();
		rcu_read_unlock();
	}
	for (size_t k = 0; k < slots; k++)
		if (in[k])
			vma_index_remove(&idx, &recs[k]);
	CHECK(idx.root == NULL);
	mm_rcu_barrier(); /* the retired nodes are freed */
	free(recs);
	free(live);
	free(in);
}

/* Without memory for its copies a removal leaves a tombstone: a lookup at
 * the removed view finds nothing, its neighbours are still found, an insert
 * fails cleanly (-ENOMEM, nothing changed), and the next copy of the leaf
 * drops the tombstone. (In the engine a fault that meets a tombstone takes
 * the locked lookup, vma_lookup_pin: fault_never_waits_for_mm_lock's switch
 * runs that path.) */
TEST(index_tombstone_without_memory)
{
	struct vma r[3];
	struct vma_index idx = {NULL};

	memset(r, 0, sizeof(r));
	mm_rcu_thread_enter();
	for (int i = 0; i < 3; i++) {
		r[i].start = 0x200000000ul + (uintptr_t)i * 4 * PG;
		r[i].end = r[i].start + 2 * PG;
		CHECK_EQ(vma_index_insert(&idx, &r[i]), 0);
	}
	vma_index_test_nomem = true;
	vma_index_remove(&idx, &r[1]);
	CHECK_EQ(vma_index_insert(&idx, &r[1]), -ENOMEM);
	vma_index_test_nomem = false;
	rcu_read_lock();
	CHECK(vma_index_find(&idx, r[0].start + PG) == &r[0]);
	CHECK(vma_index_find(&idx, r[1].start + PG) == NULL); /* the tombstone */
	CHECK(vma_index_find(&idx, r[2].start + PG) == &r[2]);
	mm_rcu_tsan_release();
	rcu_read_unlock();
	CHECK_EQ(vma_index_insert(&idx, &r[1]), 0); /* copies the leaf: no tombstone */
	rcu_read_lock();
	for (int i = 0; i < 3; i++)
		CHECK(vma_index_find(&idx, r[i].start + PG) == &r[i]);
	mm_rcu_tsan_release();
	rcu_read_unlock();
	for (int i = 0; i < 3; i++)
		vma_index_remove(&idx, &r[i]);
	CHECK(idx.root == NULL);

	/* the engine: munmap without memory for the index copies still
	 * succeeds, and a view beside the tombstone is found under RCU */
	struct pc_engine *e = engine();
	char *w = malloc(8 * PG);
	int fd = new_file(e, "f", w, 8 * PG, 4);
	char *a = map_view(e, fd, 8 * PG, PROT_READ, MAP_SHARED, 0);
	char *b = map_view(e, fd, 4 * PG, PROT_READ, MAP_SHARED, 0);
	uint64_t locked;

	vma_index_test_nomem = true;
	CHECK_EQ(pc_munmap(e, b, 4 * PG), 0);
	vma_index_test_nomem = false;
	locked = __atomic_load_n(&mm_vma_locked_lookups, __ATOMIC_RELAXED);
	CHECK_EQ(a[6 * PG + 1], w[6 * PG + 1]); /* found under RCU */
	CHECK_EQ(__atomic_load_n(&mm_vma_locked_lookups, __ATOMIC_RELAXED), locked);
	CHECK_EQ(pc_munmap(e, a, 8 * PG), 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	mm_rcu_barrier();
	free(w);
}

/* ---- munmap between the lookup and the pin ---- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int phase; /* 1: unmap now; 2: unmapped */
	struct pc_engine *e;
	char *view;
	size_t len;
	int err;
} race = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void wait_phase(int phase)
{
	pthread_mutex_lock(&race.lock);
	while (race.phase < phase)
		pthread_cond_wait(&race.cond, &race.lock);
	pthread_mutex_unlock(&race.lock);
}

static void set_phase(int phase)
{
	pthread_mutex_lock(&race.lock);
	race.phase = phase;
	pthread_cond_broadcast(&race.cond);
	pthread_mutex_unlock(&race.lock);
}

static void *unmapper(void *arg)
{
	(void)arg;
	wait_phase(1);
	race.err = pc_munmap(race.e, race.view, race.len);
	set_phase(2);
	return NULL;
}

/* In the lookup, after it found the view under RCU and before the pin:
 * munmap runs to its end (it sees no pin, closes the view, unmaps it and
 * queues the record's free behind our read-side section). */
static void unmap_now(struct vma *v)
{
	(void)v;
	vma_test_lookup_hook = NULL; /* once */
	set_phase(1);
	wait_phase(2);
}

/* One lookup with munmap forced into its window: 0 if it found nothing,
 * 2 if it handed back the torn-down view (closed: VMA_PIN_DEAD), 1 for a
 * live view (never: munmap has finished). */
static int lookup_meets_munmap(struct pc_engine *e, int fd)
{
	pthread_t th;
	struct vma *v;
	bool torn;

	race.e = e;
	race.len = 4 * PG;
	race.view = map_view(e, fd, race.len, PROT_READ, MAP_SHARED, 0);
	race.phase = 0;
	CHECK_EQ(pthread_create(&th, NULL, unmapper, NULL), 0);
	vma_test_lookup_hook = unmap_now;
	/* an outer read-side section keeps the record allocated while we look
	 * at what the lookup returned */
	rcu_read_lock();
	v = lock_vma_under_rcu((uintptr_t)race.view + PG);
	torn = v && (__atomic_load_n(&v->pins, __ATOMIC_ACQUIRE) & VMA_PIN_DEAD);
	if (v && !torn)
		vma_unpin(v);
	mm_rcu_tsan_release(); /* our reads of the record precede its free */
	rcu_read_unlock();
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(race.err, 0);
	CHECK(vma_test_lookup_hook == NULL);
	/* the locked lookup does not find it either */
	CHECK(vma_lookup_pin((uintptr_t)race.view + PG) == NULL);
	return torn ? 2 : v ? 1 : 0;
}

TEST(munmap_between_lookup_and_pin)
{
	struct pc_engine *e = engine();
	char *w = malloc(8 * PG);
	int fd = new_file(e, "f", w, 8 * PG, 5);

	mm_rcu_thread_enter();
	/* with the dead check and the re-check: the lookup refuses the view */
	CHECK_EQ(lookup_meets_munmap(e, fd), 0);
	/* without them: it pins and hands back the view munmap tore down */
	vma_test_no_pin_recheck = true;
	int got = lookup_meets_munmap(e, fd);
	vma_test_no_pin_recheck = false;
	CHECKF(got == 2, "the switch did not show the use after unmap (%d)", got);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	mm_rcu_barrier();
	free(w);
}

/* ---- munmap waits for a pin ---- */

static atomic_bool unmap_done;

static void *unmap_pinned(void *arg)
{
	(void)arg;
	race.err = pc_munmap(race.e, race.view, race.len);
	atomic_store(&unmap_done, true);
	return NULL;
}

TEST(munmap_waits_for_pin)
{
	struct pc_engine *e = engine();
	char *w = malloc(8 * PG);
	int fd = new_file(e, "f", w, 8 * PG, 6);
	pthread_t th;
	struct vma *v;

	race.e = e;
	race.len = 8 * PG;
	race.view = map_view(e, fd, race.len, PROT_READ, MAP_SHARED, 0);
	CHECK_EQ(race.view[3 * PG + 9], w[3 * PG + 9]);
	v = lock_vma_under_rcu((uintptr_t)race.view + 3 * PG);
	CHECK(v && v->start == (uintptr_t)race.view);
	atomic_store(&unmap_done, false);
	CHECK_EQ(pthread_create(&th, NULL, unmap_pinned, NULL), 0);
	/* munmap has unlinked the view: it is past the mm lock, at the pins */
	while (__atomic_load_n(&v->linked, __ATOMIC_ACQUIRE))
		sched_yield();
	CHECK(lock_vma_under_rcu((uintptr_t)race.view) == NULL); /* unlinked */
	CHECK(!atomic_load(&unmap_done));			 /* our pin holds it */
	CHECK(!(__atomic_load_n(&v->pins, __ATOMIC_ACQUIRE) & VMA_PIN_DEAD));
	vma_unpin(v);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK(atomic_load(&unmap_done));
	CHECK_EQ(race.err, 0);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	free(w);
}

/* ---- random races ---- */

#define NSLOTS 16

static struct {
	struct pc_engine *e;
	int fd;
	char *w;
	_Atomic(char *) view[NSLOTS]; /* mapped views (16 pages), or NULL */
	atomic_bool stop;
	atomic_long bad, pins, loops;
	uint64_t seed;
} rr;

/* Maps and unmaps the slots' views at random, touching some of their
 * pages (its own faults) in between. */
static void *churn(void *arg)
{
	uint64_t s = rr.seed ^ 0x5bd1e995;
	char *mine[NSLOTS] = {NULL};

	(void)arg;
	mm_rcu_thread_enter();
	while (!atomic_load(&rr.stop)) {
		int i = (int)(rnd(&s) % NSLOTS), err = 0;

		if (mine[i]) {
			atomic_store(&rr.view[i], NULL);
			if (pc_munmap(rr.e, mine[i], 16 * PG))
				atomic_fetch_add(&rr.bad, 1);
			mine[i] = NULL;
		} else {
			off_t off = (off_t)(rnd(&s) % 16) * PG;

			mine[i] = pc_mmap(rr.e, rr.fd, 16 * PG, PROT_READ, MAP_SHARED, off, &err);
			if (!mine[i]) {
				atomic_fetch_add(&rr.bad, 1);
				continue;
			}
			size_t pg = rnd(&s) % 16;
			if (mine[i][pg * PG + 1] != rr.w[(size_t)off + pg * PG + 1])
				atomic_fetch_add(&rr.bad, 1);
			atomic_store(&rr.view[i], mine[i]);
		}
		atomic_fetch_add(&rr.loops, 1);
	}
	for (int i = 0; i < NSLOTS; i++)
		if (mine[i] && pc_munmap(rr.e, mine[i], 16 * PG))
			atomic_fetch_add(&rr.bad, 1);
	return NULL;
}

static void churn_start(pthread_t *th, unsigned seed_file)
{
	rr.e = engine();
	rr.w = malloc(64 * PG);
	rr.fd = new_file(rr.e, "f", rr.w, 64 * PG, seed_file);
	rr.seed = test_seed();
	atomic_store(&rr.stop, false);
	atomic_store(&rr.bad, 0);
	atomic_store(&rr.pins, 0);
	atomic_store(&rr.loops, 0);
	for (int i = 0; i < NSLOTS; i++)
		atomic_store(&rr.view[i], NULL);
	/* pc_mmap skips the case where the host has no userfaultfd */
	char *probe = map_view(rr.e, rr.fd, PG, PROT_READ, MAP_SHARED, 0);
	CHECK_EQ(pc_munmap(rr.e, probe, PG), 0);
	CHECK_EQ(pthread_create(th, NULL, churn, NULL), 0);
}

static void churn_stop(pthread_t th)
{
	atomic_store(&rr.stop, true);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(atomic_load(&rr.bad), 0);
	CHECK_EQ(pc_close(rr.e, rr.fd), 0);
	CHECK_EQ(pc_engine_close(rr.e), 0);
	free(rr.w);
}

/* Lookups at addresses in the views another thread maps and unmaps: a
 * view that lock_vma_under_rcu pins holds the address, is not closed, and
 * stays so until unpinned (munmap waits). ASan/TSan see any use of a
 * record after its free. */
TEST(pin_races_munmap_same_view)
{
	const long n = (long)test_scale(300000, 10);
	pthread_t th;
	uint64_t s;

	churn_start(&th, 7);
	s = rr.seed;
	mm_rcu_thread_enter();
	/* until both sides have done enough, however the threads are
	 * scheduled: @n lookups in mapped slots, 100 map/unmap loops */
	for (long k = 0; (k < n || atomic_load(&rr.loops) < 100) && !atomic_load(&rr.bad);) {
		char *p = atomic_load(&rr.view[rnd(&s) % NSLOTS]);
		uintptr_t a;
		struct vma *v;

		if (!p)
			continue;
		k++;
		a = (uintptr_t)p + rnd(&s) % (16 * PG);
		v = lock_vma_under_rcu(a);
		if (!v)
			continue; /* unmapped meanwhile (or being unmapped) */
		atomic_fetch_add(&rr.pins, 1);
		if (a < v->start || a >= v->end || v->mapping == NULL ||
		    (__atomic_load_n(&v->pins, __ATOMIC_ACQUIRE) & VMA_PIN_DEAD))
			atomic_fetch_add(&rr.bad, 1);
		vma_unpin(v);
	}
	churn_stop(th);
	printf("# %ld pins, %ld map/unmap loops\n", atomic_load(&rr.pins), atomic_load(&rr.loops));
}

/* Faults on a view of our own (every page dropped from the view between
 * passes, so each load faults) while another thread maps, faults and
 * unmaps views in a loop: every load sees the file. */
TEST(faults_race_map_unmap)
{
	const int passes = (int)test_scale(200, 10);
	pthread_t th;
	uint64_t s;
	char *v;

	churn_start(&th, 8);
	s = rr.seed * 31 + 1;
	v = map_view(rr.e, rr.fd, 64 * PG, PROT_READ, MAP_SHARED, 0);
	for (int p = 0; (p < passes || atomic_load(&rr.loops) < 100) && !atomic_load(&rr.bad);
	     p++) {
		for (int k = 0; k < 64; k++) {
			size_t pg = rnd(&s) % 64, off = pg * PG + rnd(&s) % PG;

			if (v[off] != rr.w[off])
				atomic_fetch_add(&rr.bad, 1);
		}
		CHECK_EQ(pc_madvise(rr.e, v, 64 * PG, MADV_DONTNEED), 0);
	}
	CHECK_EQ(pc_munmap(rr.e, v, 64 * PG), 0);
	churn_stop(th);
	printf("# %ld map/unmap loops beside the faults\n", atomic_load(&rr.loops));
}

/* ---- a fault never waits for the mm lock ---- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool held, faults_done, waited;
} hold = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* Holds the mm lock exclusive (as mmap/munmap do) until the faulting
 * thread is done, or until it queues on the lock (RWSEM_WAITERS: nothing
 * else in the process takes the mm lock meanwhile). */
static void *mm_lock_holder(void *arg)
{
	(void)arg;
	down_write(&mm.lock);
	pthread_mutex_lock(&hold.lock);
	hold.held = true;
	pthread_cond_broadcast(&hold.cond);
	pthread_mutex_unlock(&hold.lock);
	for (;;) {
		if (__atomic_load_n(&hold.faults_done, __ATOMIC_ACQUIRE))
			break;
		if (__atomic_load_n(&mm.lock.count, __ATOMIC_ACQUIRE) & RWSEM_WAITERS) {
			__atomic_store_n(&hold.waited, true, __ATOMIC_RELEASE);
			break;
		}
		sched_yield();
	}
	up_write(&mm.lock);
	return NULL;
}

/* Faults on a cached page and on a miss while another thread holds the
 * mm lock; whether they queued on it. */
static bool faults_beside_held_mm_lock(struct pc_engine *e, int fd, const char *w)
{
	char *v = map_view(e, fd, 64 * PG, PROT_READ, MAP_SHARED, 0);
	pthread_t th;

	CHECK_EQ(v[5 * PG], w[5 * PG]); /* page 5 cached */
	CHECK_EQ(pc_madvise(e, v, 64 * PG, MADV_DONTNEED), 0);
	hold.held = hold.faults_done = hold.waited = false;
	CHECK_EQ(pthread_create(&th, NULL, mm_lock_holder, NULL), 0);
	pthread_mutex_lock(&hold.lock);
	while (!hold.held)
		pthread_cond_wait(&hold.cond, &hold.lock);
	pthread_mutex_unlock(&hold.lock);
	CHECK_EQ(v[5 * PG + 3], w[5 * PG + 3]);	  /* cached */
	CHECK_EQ(v[60 * PG + 7], w[60 * PG + 7]); /* never read: a miss */
	__atomic_store_n(&hold.faults_done, true, __ATOMIC_RELEASE);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(pc_munmap(e, v, 64 * PG), 0);
	return __atomic_load_n(&hold.waited, __ATOMIC_ACQUIRE);
}

TEST(fault_never_waits_for_mm_lock)
{
	struct pc_engine *e = engine();
	char *w = malloc(64 * PG);
	int fd = new_file(e, "f", w, 64 * PG, 9);
	uint64_t locked = __atomic_load_n(&mm_vma_locked_lookups, __ATOMIC_RELAXED);

	CHECK(!faults_beside_held_mm_lock(e, fd, w));
	CHECK_EQ(__atomic_load_n(&mm_vma_locked_lookups, __ATOMIC_RELAXED), locked);
	/* the lookup under the mm lock (before issue 17): the fault queues */
	vma_test_locked_lookup = true;
	bool waited = faults_beside_held_mm_lock(e, fd, w);
	vma_test_locked_lookup = false;
	CHECKF(waited, "the switch did not show the fault waiting for the mm lock");
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	free(w);
}

/* SPDX-License-Identifier: MIT */
/*
 * Validator tests: each provokes (or must not provoke) a report. Reports are
 * captured by a handler instead of aborting, and their text is checked for
 * both acquisition chains (file:line). The graph is reset between tests.
 */
#include <pthread.h>

#include "harness.h"
#include "kernel/lockdep.h"
#include "kernel/mutex.h"
#include "kernel/rwsem.h"
#include "kernel/two_state.h"
#include "kernel/wait.h"

#if PC_LOCKDEP

static char last_report[16384];
static char last_kind[64];
static unsigned reports;

static void capture(const char *kind, const char *text)
{
	snprintf(last_report, sizeof(last_report), "%s", text);
	snprintf(last_kind, sizeof(last_kind), "%s", kind);
	reports++;
}

static void setup(void)
{
	lockdep_reset_graph();
	lockdep_set_report_handler(capture);
	reports = 0;
	last_report[0] = 0;
}

static void teardown(void)
{
	lockdep_set_report_handler(NULL);
	lockdep_reset_graph();
}

static bool report_has(const char *s)
{
	return strstr(last_report, s) != NULL;
}

static struct mutex ma, mb;
static int line_a_then_b, line_b_then_a;

static void *take_a_then_b(void *arg)
{
	mutex_lock(&ma);
	line_a_then_b = __LINE__ + 1;
	mutex_lock(&mb);
	mutex_unlock(&mb);
	mutex_unlock(&ma);
	return NULL;
}

static void *take_b_then_a(void *arg)
{
	mutex_lock(&mb);
	line_b_then_a = __LINE__ + 1;
	mutex_lock(&ma);
	mutex_unlock(&ma);
	mutex_unlock(&mb);
	return NULL;
}

TEST(abba_reported_with_both_chains)
{
	static struct lock_class_key ka = { .name = "lock_A" }, kb = { .name = "lock_B" };
	pthread_t t;
	char where[64];

	setup();
	mutex_init_class(&ma, &ka);
	mutex_init_class(&mb, &kb);
	pthread_create(&t, NULL, take_a_then_b, NULL);
	pthread_join(t, NULL);
	CHECK_EQ(reports, 0);
	/* later, never concurrently: B then A */
	pthread_create(&t, NULL, take_b_then_a, NULL);
	pthread_join(t, NULL);
	CHECK_EQ(reports, 1);
	CHECK(report_has("circular locking dependency"));
	CHECK(report_has("lock_A") && report_has("lock_B"));
	snprintf(where, sizeof(where), "test_lockdep.c:%d", line_a_then_b);
	CHECKF(report_has(where), "chain 2 must name %s:\n%s", where, last_report);
	snprintf(where, sizeof(where), "test_lockdep.c:%d", line_b_then_a);
	CHECKF(report_has(where), "chain 1 must name %s:\n%s", where, last_report);
	teardown();
}

TEST(add_add_nesting_across_two_mappings_is_legal)
{
	static struct lock_class_key ik = { .name = "invalidate_lock" };
	struct two_state_lock x, y;

	setup();
	two_state_init_class(&x, &ik);
	two_state_init_class(&y, &ik);
	two_state_lock(&x, TS_ADD);
	two_state_lock(&y, TS_ADD);
	two_state_unlock(&y, TS_ADD);
	two_state_unlock(&x, TS_ADD);
	two_state_lock(&y, TS_ADD);
	two_state_lock(&x, TS_ADD);
	two_state_lock(&x, TS_ADD); /* recursive ADD on one mapping is fine too */
	two_state_unlock(&x, TS_ADD);
	two_state_unlock(&x, TS_ADD);
	two_state_unlock(&y, TS_ADD);
	/* BLOCK -> BLOCK in address order with the nesting subclass */
	two_state_lock(&x, TS_BLOCK);
	two_state_lock_nested(&y, TS_BLOCK, SINGLE_DEPTH_NESTING);
	two_state_unlock(&y, TS_BLOCK);
	two_state_unlock(&x, TS_BLOCK);
	CHECKF(reports == 0, "%s", last_report);
	teardown();
}

TEST(cycle_through_add_and_block_is_reported)
{
	static struct lock_class_key ik = { .name = "invalidate_lock" };
	static struct lock_class_key rk = { .name = "i_rwsem" };
	struct two_state_lock x;
	struct rw_semaphore r;

	setup();
	two_state_init_class(&x, &ik);
	init_rwsem_class(&r, &rk);
	/* DIO-like: i_rwsem then BLOCK */
	down_read(&r);
	two_state_lock(&x, TS_BLOCK);
	two_state_unlock(&x, TS_BLOCK);
	up_read(&r);
	/* ADD then i_rwsem: ADD(X) waits... i_rwsem -> BLOCK(X) conflicts with ADD(X) */
	two_state_lock(&x, TS_ADD);
	down_write(&r);
	up_write(&r);
	two_state_unlock(&x, TS_ADD);
	CHECK_EQ(reports, 1);
	CHECK(report_has("invalidate_lock [BLOCK]") && report_has("invalidate_lock [ADD]"));

	/* the same shape with ADD in both places is not a deadlock */
	setup();
	down_read(&r);
	two_state_lock(&x, TS_ADD);
	two_state_unlock(&x, TS_ADD);
	up_read(&r);
	two_state_lock(&x, TS_ADD);
	down_read(&r);
	up_read(&r);
	two_state_unlock(&x, TS_ADD);
	CHECKF(reports == 0, "%s", last_report);

	/* ADD on one mapping then BLOCK on another without address-order subclass */
	setup();
	struct two_state_lock y;
	two_state_init_class(&y, &ik);
	two_state_lock(&x, TS_ADD);
	two_state_lock(&y, TS_BLOCK);
	two_state_unlock(&y, TS_BLOCK);
	two_state_unlock(&x, TS_ADD);
	CHECK_EQ(reports, 1);
	teardown();
}

TEST(page_lock_held_across_might_fault_is_reported)
{
	static struct lock_class_key pk = { .name = "page_lock" };
	static struct lock_class_key ik = { .name = "invalidate_lock" };
	static struct lock_class_key rk = { .name = "i_rwsem" };
	struct mutex page;
	struct rw_semaphore mm, ir;
	struct two_state_lock inv;

	setup();
	mutex_init_class(&page, &pk);
	init_rwsem_class(&mm, &mmap_lock_key);
	two_state_init_class(&inv, &ik);
	init_rwsem_class(&ir, &rk);
	/* what the fault path does: mm lock -> ADD -> page lock */
	down_read(&mm);
	two_state_lock(&inv, TS_ADD);
	mutex_lock(&page);
	mutex_unlock(&page);
	two_state_unlock(&inv, TS_ADD);
	up_read(&mm);
	CHECK_EQ(reports, 0);

	/* i_rwsem held across a user copy is legal (the kernel's order) */
	down_write(&ir);
	might_fault();
	up_write(&ir);
	CHECK_EQ(reports, 0);

	/* a copy with faults disabled records nothing */
	mutex_lock(&page);
	pagefault_disable();
	might_fault();
	pagefault_enable();
	CHECK_EQ(reports, 0);
	/* but a page lock held across a copy that may fault is a deadlock */
	might_fault();
	mutex_unlock(&page);
	CHECK_EQ(reports, 1);
	CHECK(report_has("page_lock") && report_has("mm_lock"));
	teardown();
}

TEST(io_under_mm_lock_is_reported)
{
	struct rw_semaphore mm;

	setup();
	init_rwsem_class(&mm, &mmap_lock_key);
	assert_io_allowed("store read");
	CHECK_EQ(reports, 0);
	down_read(&mm);
	assert_io_allowed("store read");
	up_read(&mm);
	CHECK_EQ(reports, 1);
	CHECK(report_has("blocking I/O while holding the mm lock"));
	teardown();
}

TEST(recursive_read_and_same_class_nesting)
{
	static struct lock_class_key rk = { .name = "some_rwsem" };
	static struct lock_class_key mk = { .name = "inode_mutex" };
	struct rw_semaphore r;
	struct mutex m1, m2;

	setup();
	init_rwsem_class(&r, &rk);
	down_read(&r);
	CHECK(down_read_trylock(&r)); /* a trylock cannot deadlock: no report */
	up_read(&r);
	CHECK_EQ(reports, 0);
	down_read(&r); /* a queued writer would deadlock this: reported */
	up_read(&r);
	up_read(&r);
	CHECK_EQ(reports, 1);
	CHECK(report_has("recursive locking"));

	setup();
	mutex_init_class(&m1, &mk);
	mutex_init_class(&m2, &mk);
	mutex_lock(&m1);
	mutex_lock_nested(&m2, SINGLE_DEPTH_NESTING);
	mutex_unlock(&m2);
	mutex_unlock(&m1);
	CHECK_EQ(reports, 0);
	mutex_lock(&m1);
	mutex_lock(&m2); /* two of one class, no address-order annotation */
	mutex_unlock(&m2);
	mutex_unlock(&m1);
	CHECK_EQ(reports, 1);
	teardown();
}

TEST(trylock_adds_no_dependency_and_bad_unlock_is_reported)
{
	static struct lock_class_key ka = { .name = "lock_A" }, kb = { .name = "lock_B" };

	setup();
	mutex_init_class(&ma, &ka);
	mutex_init_class(&mb, &kb);
	mutex_lock(&ma);
	CHECK(mutex_trylock(&mb));
	mutex_unlock(&mb);
	mutex_unlock(&ma);
	mutex_lock(&mb);
	mutex_lock(&ma);
	mutex_unlock(&ma);
	mutex_unlock(&mb);
	CHECKF(reports == 0, "%s", last_report);

	struct task *t = current;
	int n = t->nheld;
	lock_release(&ma.dep_map, &ma, THIS_LOC);
	CHECK_EQ(reports, 1);
	CHECK(report_has("bad unlock balance"));
	CHECK_EQ(t->nheld, n);
	teardown();
}

#else

TEST(validator_compiled_out)
{
	might_fault();
	assert_io_allowed("io");
}

#endif

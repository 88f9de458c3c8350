/* SPDX-License-Identifier: MIT */
/*
 * test_dio_wait.c - truncate, punch hole, zero range, collapse range and
 * insert range wait for a direct I/O in flight (docs/design.md §7.2: they take
 * i_rwsem exclusive and call inode_dio_wait; a DIO holds i_rwsem, shared
 * or exclusive, for its whole duration).
 *
 * An O_DIRECT write is held inside its store write (store_inject_hook);
 * meanwhile another thread starts the size or contents change and is seen
 * asleep in a library wait; only then is the DIO released. The store calls
 * arrive in that order - the DIO's write done, then the change's store call
 * - and the file ends as "DIO, then the change" says. No sleeps: the test
 * waits on the hook's condition variable and on the task's wait state.
 */
#include <linux/falloc.h>
#include <pthread.h>
#include <sched.h>

#include "api/engine_internal.h"
#include "kernel/task.h"
#include "store/store.h"
#include "test_dio_fixture.h"

#define NPG 16

enum change { CH_TRUNCATE, CH_PUNCH, CH_ZERO, CH_COLLAPSE, CH_INSERT, CH_NR };
static const char *const chname[CH_NR] = {"truncate", "punch hole", "zero range", "collapse range",
					  "insert range"};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool armed, blocked, release;
	int log[8], nlog; /* store ops seen, in order: -1 = the DIO write's release */
	struct pc_engine *e;
	int fd, dfd;
	enum change ch;
	struct task *changer;
	int err;
} W = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static int hook(void *arg, enum store_op op, struct store_inode *si, int64_t pos, int64_t len)
{
	pthread_mutex_lock(&W.lock);
	if (op == STORE_OP_DIO_WRITE && W.armed) {
		W.armed = false;
		W.blocked = true;
		pthread_cond_broadcast(&W.cond);
		while (!W.release)
			pthread_cond_wait(&W.cond, &W.lock);
		if (W.nlog < 8)
			W.log[W.nlog++] = -1;
	} else if ((op == STORE_OP_SETSIZE || op == STORE_OP_FALLOCATE) && W.nlog < 8) {
		W.log[W.nlog++] = (int)op;
	}
	pthread_mutex_unlock(&W.lock);
	return 0;
}

static void *dio_writer(void *p)
{
	char *buf = dio_abuf(4 * PG);

	for (int k = 0; k < 4; k++)
		stamp_page(buf + (size_t)k * PG, 0xd10);
	CHECK_EQ(pc_pwrite(W.e, W.dfd, buf, 4 * PG, 4 * PG), 4 * PG);
	free(buf);
	return NULL;
}

static void *changer(void *p)
{
	__atomic_store_n(&W.changer, current, __ATOMIC_RELEASE);
	switch (W.ch) {
	case CH_TRUNCATE:
		W.err = pc_ftruncate(W.e, W.fd, 6 * PG);
		break;
	case CH_PUNCH:
		W.err = pc_fallocate(W.e, W.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 5 * PG,
				     2 * PG);
		break;
	case CH_ZERO:
		W.err = pc_fallocate(W.e, W.fd, FALLOC_FL_ZERO_RANGE, 5 * PG, 2 * PG);
		break;
	case CH_COLLAPSE:
		W.err = pc_fallocate(W.e, W.fd, FALLOC_FL_COLLAPSE_RANGE, 5 * PG, 2 * PG);
		break;
	case CH_INSERT:
		W.err = pc_fallocate(W.e, W.fd, FALLOC_FL_INSERT_RANGE, 5 * PG, 2 * PG);
		break;
	case CH_NR:
		break;
	}
	return NULL;
}

/* The stamp page @k of the file should have after DIO then the change. */
static uint32_t expect(enum change ch, int k)
{
	static const int size[CH_NR] = {6, NPG, NPG, NPG - 2, NPG + 2};
	uint32_t before[NPG];

	if (k >= size[ch])
		return UINT32_MAX; /* past EOF */
	for (int i = 0; i < NPG; i++)
		before[i] = i >= 4 && i < 8 ? 0xd10 : 0x100 + (uint32_t)i;
	switch (ch) {
	case CH_TRUNCATE:
		return before[k];
	case CH_PUNCH:
	case CH_ZERO:
		return k == 5 || k == 6 ? 0 : before[k];
	case CH_COLLAPSE:
		return k < 5 ? before[k] : before[k + 2];
	case CH_INSERT:
		return k < 5 ? before[k] : k < 7 ? 0 : before[k - 2];
	default:
		return 0;
	}
}

TEST(changes_wait_for_dio_in_flight)
{
	char *buf = dio_abuf(PG);

	for (int ch = 0; ch < CH_NR; ch++) {
		pthread_t a, b;
		struct task *t;
		int err;

		W.e = dio_engine(PC_POLICY_TWO_STATE);
		W.fd = pc_open(W.e, "f", O_RDWR | O_CREAT | O_TRUNC, 0644);
		CHECK(W.fd >= 0);
		W.dfd = dio_open(W.e, "f", O_RDWR);
		for (int k = 0; k < NPG; k++) {
			stamp_page(buf, 0x100 + (uint32_t)k);
			CHECK_EQ(pc_pwrite(W.e, W.fd, buf, PG, (off_t)k * PG), PG);
		}
		CHECK_EQ(pc_fdatasync(W.e, W.fd), 0);
		W.ch = (enum change)ch;
		W.armed = true;
		W.blocked = W.release = false;
		W.nlog = 0;
		W.changer = NULL;
		store_inject_hook(pc_engine_store(W.e), hook, NULL);
		CHECK_EQ(pthread_create(&a, NULL, dio_writer, NULL), 0);
		pthread_mutex_lock(&W.lock);
		while (!W.blocked)
			pthread_cond_wait(&W.cond, &W.lock);
		pthread_mutex_unlock(&W.lock);
		CHECK_EQ(pthread_create(&b, NULL, changer, NULL), 0);
		/* the change is asleep in a library wait (i_rwsem, held by the DIO) */
		while (!(t = __atomic_load_n(&W.changer, __ATOMIC_ACQUIRE)) ||
		       !READ_ONCE(t->wait_what))
			sched_yield();
		pthread_mutex_lock(&W.lock);
		CHECKF(W.nlog == 0, "%s: a store call (%d) while the DIO was in flight", chname[ch],
		       W.log[0]);
		W.release = true;
		pthread_cond_broadcast(&W.cond);
		pthread_mutex_unlock(&W.lock);
		pthread_join(a, NULL);
		pthread_join(b, NULL);
		store_inject_hook(pc_engine_store(W.e), NULL, NULL);
		err = W.err;
		if (err == -EOPNOTSUPP && (ch == CH_COLLAPSE || ch == CH_INSERT || ch == CH_ZERO)) {
			test_skip_part("%s: not offered by the host", chname[ch]);
		} else {
			CHECKF(err == 0, "%s: %s", chname[ch], strerror(-err));
			CHECKF(W.nlog >= 2 && W.log[0] == -1, "%s: the DIO did not finish first",
			       chname[ch]);
			for (int k = 0; k < NPG + 2; k++) {
				uint32_t want = expect(W.ch, k);
				ssize_t n = pc_pread(W.e, W.fd, buf, PG, (off_t)k * PG);

				if (want == UINT32_MAX) {
					CHECK_EQ(n, 0);
					continue;
				}
				CHECK_EQ(n, PG);
				CHECKF(page_stamp(buf) == want, "%s: page %d is %#x, want %#x",
				       chname[ch], k, page_stamp(buf), want);
			}
			printf("# %s waited for the O_DIRECT write in flight\n", chname[ch]);
		}
		CHECK_EQ(pc_close(W.e, W.dfd), 0);
		CHECK_EQ(pc_close(W.e, W.fd), 0);
		CHECK_EQ(pc_engine_close(W.e), 0);
	}
	free(buf);
}

/* SPDX-License-Identifier: MIT */
/*
 * Store entry-point tests on the dir backend: fault injection (per op, any
 * op, sticky, hook) at every data, sync and namespace entry point, the
 * validator's report of store I/O under the mm lock, and concurrent I/O
 * (buffered, O_DIRECT with its lazily opened fd, map) on one handle.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "kernel/lockdep.h"
#include "kernel/rwsem.h"
#include "fixture.h"

/* ---- fault injection ---- */

static int hook_calls;
static int hook(void *arg, enum store_op op, struct store_inode *si, int64_t pos, int64_t len)
{
	hook_calls++;
	return op == STORE_OP_WRITE && pos == 4096 ? -*(int *)arg : 0;
}

TEST(fault_injection)
{
	struct store *s = open_fresh();
	struct store_inode *si = create(s, "f");
	char buf[8192];

	fill(buf, sizeof(buf), 2);
	CHECK_EQ(store_write(si, buf, sizeof(buf), 0), sizeof(buf));

	/* the 2nd read fails once */
	store_inject_fail(s, STORE_OP_READ, 2, EIO, false);
	CHECK_EQ(store_read(si, buf, 10, 0), 10);
	CHECK_EQ(store_read(si, buf, 10, 0), -EIO);
	CHECK_EQ(store_read(si, buf, 10, 0), 10);
	CHECK_EQ(store_inject_fired(s), 1);

	/* sticky: every write from the first on */
	store_inject_fail(s, STORE_OP_WRITE, 1, ENOSPC, true);
	CHECK_EQ(store_write(si, buf, 10, 0), -ENOSPC);
	CHECK_EQ(store_write(si, buf, 10, 0), -ENOSPC);
	CHECK_EQ(store_read(si, buf, 10, 0), 10); /* other ops unaffected */
	store_inject_clear(s);
	CHECK_EQ(store_write(si, buf, 10, 0), 10);
	CHECK_EQ(store_inject_fired(s), 3);

	/* every data and sync entry point consults it */
	static const enum store_op ops[] = {STORE_OP_SYNC,    STORE_OP_MAP,	 STORE_OP_FALLOCATE,
					    STORE_OP_SETSIZE, STORE_OP_DIO_READ, STORE_OP_DIO_WRITE,
					    STORE_OP_GETATTR, STORE_OP_OPEN,	 STORE_OP_UNLINK,
					    STORE_OP_RENAME};
	for (unsigned i = 0; i < ARRAY_SIZE(ops); i++) {
		struct store_map m;
		struct store_inode *x;
		store_inject_fail(s, ops[i], 1, EROFS, false);
		int r = 0;
		switch (ops[i]) {
		case STORE_OP_SYNC:
			r = store_sync(si, true);
			break;
		case STORE_OP_MAP:
			r = store_map(si, 0, 10, &m);
			break;
		case STORE_OP_FALLOCATE:
			r = store_fallocate(si, 0, 0, 10);
			break;
		case STORE_OP_SETSIZE:
			r = store_setsize(si, 10);
			break;
		case STORE_OP_DIO_READ:
			r = (int)store_dio_read(si, buf, 0, 0);
			break;
		case STORE_OP_DIO_WRITE:
			r = (int)store_dio_write(si, buf, 0, 0);
			break;
		case STORE_OP_GETATTR:
			r = (int)store_size(si);
			break;
		case STORE_OP_OPEN:
			r = store_open(s, "f", O_RDWR, 0, &x);
			break;
		case STORE_OP_UNLINK:
			r = store_unlink(s, "f");
			break;
		case STORE_OP_RENAME:
			r = store_rename(s, "f", "g", 0);
			break;
		default:
			break;
		}
		CHECKF(r == -EROFS, "%s: %d", store_op_name(ops[i]), r);
	}
	struct stat st;
	CHECK_EQ(store_getattr(s, "f", &st), 0); /* unlink and rename never ran */

	/* any op: the 3rd call of whatever kind */
	unsigned long reads = store_calls(s, STORE_OP_READ);
	store_inject_fail(s, STORE_OP_ANY, 3, EIO, false);
	CHECK_EQ(store_read(si, buf, 10, 0), 10);
	CHECK_EQ(store_sync(si, true), 0);
	CHECK_EQ(store_write(si, buf, 10, 0), -EIO);
	CHECK_EQ(store_write(si, buf, 10, 0), 10);
	CHECK_EQ(store_calls(s, STORE_OP_READ), reads + 1);

	/* a hook decides per call */
	int err = EFBIG;
	hook_calls = 0;
	store_inject_hook(s, hook, &err);
	CHECK_EQ(store_write(si, buf, 10, 0), 10);
	CHECK_EQ(store_write(si, buf, 10, 4096), -EFBIG);
	CHECK_EQ(store_read(si, buf, 10, 4096), 10);
	CHECK_EQ(hook_calls, 3);
	store_inject_hook(s, NULL, NULL);
	CHECK_EQ(store_write(si, buf, 10, 4096), 10);
	store_release(si);
	store_close(s);
}

/* Every node entry point consults injection too, before the backend runs:
 * the injected error comes back and nothing changed on the host. */
TEST(fault_injection_nodes)
{
	struct store *s = open_fresh();
	struct store_node *root, *f, *x = NULL;
	struct store_owner o = {geteuid(), getegid()};
	struct store_handle h;
	struct stat st;
	char buf[8];

	CHECK_EQ(store_root(s, &root), 0);
	CHECK_EQ(store_create_at(root, "f", S_IFREG | 0644, 0, &o, &f), 0);
	static const enum store_op ops[] = {
	    STORE_OP_LOOKUP,   STORE_OP_CREATE,	  STORE_OP_MKDIR,	STORE_OP_TMPFILE,
	    STORE_OP_LINK,     STORE_OP_UNLINK,	  STORE_OP_RENAME,	STORE_OP_SETATTR,
	    STORE_OP_GETXATTR, STORE_OP_SETXATTR, STORE_OP_REMOVEXATTR, STORE_OP_HANDLE,
	    STORE_OP_SYNC_DIR, STORE_OP_READDIR,  STORE_OP_GETATTR};
	for (unsigned i = 0; i < ARRAY_SIZE(ops); i++) {
		struct store_setattr sa = {.valid = STORE_ATTR_MODE, .mode = 0600};
		int r = 0;
		store_inject_fail(s, ops[i], 1, EROFS, false);
		switch (ops[i]) {
		case STORE_OP_LOOKUP:
			r = store_lookup(root, "f", &x);
			break;
		case STORE_OP_CREATE:
			r = store_create_at(root, "g", S_IFIFO | 0644, 0, &o, &x);
			break;
		case STORE_OP_MKDIR:
			r = store_create_at(root, "g", S_IFDIR | 0755, 0, &o, &x);
			break;
		case STORE_OP_TMPFILE:
			r = store_tmpfile(root, 0600, &o, &x);
			break;
		case STORE_OP_LINK:
			r = store_link_at(f, root, "g");
			break;
		case STORE_OP_UNLINK:
			r = store_unlink_at(root, "f", false);
			break;
		case STORE_OP_RENAME:
			r = store_rename_at(root, "f", root, "g", 0);
			break;
		case STORE_OP_SETATTR:
			r = store_node_setattr(f, &sa);
			break;
		case STORE_OP_GETXATTR:
			r = (int)store_getxattr(f, "user.a", buf, sizeof(buf));
			break;
		case STORE_OP_SETXATTR:
			r = store_setxattr(f, "user.a", "v", 1, 0);
			break;
		case STORE_OP_REMOVEXATTR:
			r = store_removexattr(f, "user.a");
			break;
		case STORE_OP_HANDLE:
			r = store_encode_handle(f, &h);
			break;
		case STORE_OP_SYNC_DIR:
			r = store_node_sync_dir(root);
			break;
		case STORE_OP_READDIR:
			r = store_node_readdir(root, 0, NULL, NULL);
			break;
		case STORE_OP_GETATTR:
			r = store_node_getattr(f, &st);
			break;
		default:
			break;
		}
		CHECKF(r == -EROFS, "%s: %d", store_op_name(ops[i]), r);
		CHECK(x == NULL);
	}
	CHECK_EQ(store_inject_fired(s), ARRAY_SIZE(ops));
	/* none of them reached the host */
	CHECK_EQ(store_getattr(s, "g", &st), -ENOENT);
	CHECK_EQ(store_node_getattr(f, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0644);
	CHECK_EQ(st.st_nlink, 1);
	store_node_put(f);
	store_node_put(root);
	store_close(s);
}

/* ---- validator ---- */

#if PC_LOCKDEP
static unsigned reports;
static char last_report[8192];
static void capture(const char *kind, const char *text)
{
	snprintf(last_report, sizeof(last_report), "%s", text);
	reports++;
}

TEST(io_under_mm_lock_reported)
{
	struct store *s = open_fresh();
	struct store_inode *si = create(s, "f");
	struct rw_semaphore mm;
	char buf[16];

	lockdep_set_report_handler(capture);
	reports = 0;
	init_rwsem_class(&mm, &mmap_lock_key);
	CHECK_EQ(store_write(si, "x", 1, 0), 1);
	CHECK_EQ(reports, 0);
	down_read(&mm);
	CHECK_EQ(store_read(si, buf, 1, 0), 1);
	up_read(&mm);
	CHECK_EQ(reports, 1);
	CHECK(strstr(last_report, "store read"));
	CHECK(strstr(last_report, "blocking I/O while holding the mm lock"));
	lockdep_set_report_handler(NULL);
	lockdep_reset_graph();
	store_release(si);
	store_close(s);
}
#endif

/* ---- concurrency ---- */

struct worker {
	struct store_inode *si;
	int id;
	unsigned long iters;
};

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	struct store *s = w->si->store;
	unsigned al = s->dio_align;
	char *buf;

	CHECK(posix_memalign((void **)&buf, 4096, 4096) == 0);
	for (unsigned long i = 0; i < w->iters; i++) {
		int64_t pos = (int64_t)w->id * 65536 + (int64_t)(i % 8) * 4096;
		memset(buf, 'A' + w->id, 4096);
		CHECK_EQ(store_write(w->si, buf, 4096, pos), 4096);
		memset(buf, 0, 4096);
		if (s->dio_supported && 4096 % al == 0)
			CHECK_EQ(store_dio_read(w->si, buf, 4096, pos), 4096);
		else
			CHECK_EQ(store_read(w->si, buf, 4096, pos), 4096);
		CHECK(buf[0] == 'A' + w->id && buf[4095] == 'A' + w->id);
		struct store_map m;
		CHECK_EQ(store_map(w->si, pos, 4096, &m), 0);
		CHECK_EQ(m.type, STORE_MAPPED);
	}
	free(buf);
	return NULL;
}

TEST(concurrent_io_one_handle)
{
	struct store *s = open_fresh();
	struct store_inode *si = create(s, "f");
	struct worker w[4];
	pthread_t th[4];

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){si, i, test_scale(400, 8)};
		CHECK(pthread_create(&th[i], NULL, worker_fn, &w[i]) == 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ(store_calls(s, STORE_OP_WRITE), 4 * w[0].iters);
	store_release(si);
	store_close(s);
}

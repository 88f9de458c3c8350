/* SPDX-License-Identifier: MIT */
/*
 * store.c - the store's data entry points and what every entry point
 * shares: argument checks (O_DIRECT alignment, fallocate modes), the
 * validator's assert_io_allowed() and fault injection (store_enter), then a
 * call through store->ops. The namespace entry points are in namei.c (on
 * nodes) and path.c (walks by path).
 *
 * Locking: none. Injection state and call counters are atomics.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "kernel/lockdep.h"
#include "store/internal.h"

static const char *const op_names[STORE_OP_NR + 1] = {
    [STORE_OP_OPEN] = "store open",
    [STORE_OP_UNLINK] = "store unlink",
    [STORE_OP_RENAME] = "store rename",
    [STORE_OP_MKDIR] = "store mkdir",
    [STORE_OP_RMDIR] = "store rmdir",
    [STORE_OP_READDIR] = "store readdir",
    [STORE_OP_GETATTR] = "store getattr",
    [STORE_OP_SETSIZE] = "store setsize",
    [STORE_OP_MAP] = "store map",
    [STORE_OP_READ] = "store read",
    [STORE_OP_WRITE] = "store write",
    [STORE_OP_DIO_READ] = "store dio read",
    [STORE_OP_DIO_WRITE] = "store dio write",
    [STORE_OP_FALLOCATE] = "store fallocate",
    [STORE_OP_CLONE] = "store clone",
    [STORE_OP_SYNC] = "store sync",
    [STORE_OP_STATFS] = "store statfs",
    [STORE_OP_LINK] = "store link",
    [STORE_OP_SYMLINK] = "store symlink",
    [STORE_OP_READLINK] = "store readlink",
    [STORE_OP_SETATTR] = "store setattr",
    [STORE_OP_RESERVE] = "store reserve",
    [STORE_OP_SYNC_DIR] = "store sync dir",
    [STORE_OP_LOOKUP] = "store lookup",
    [STORE_OP_CREATE] = "store create",
    [STORE_OP_TMPFILE] = "store tmpfile",
    [STORE_OP_GETXATTR] = "store getxattr",
    [STORE_OP_SETXATTR] = "store setxattr",
    [STORE_OP_LISTXATTR] = "store listxattr",
    [STORE_OP_REMOVEXATTR] = "store removexattr",
    [STORE_OP_HANDLE] = "store handle",
    [STORE_OP_ANY] = "store any",
};

const char *store_op_name(enum store_op op)
{
	return (unsigned)op <= STORE_OP_ANY ? op_names[op] : "store ?";
}

/* ---- fault injection ---- */

void store_inject_fail(struct store *s, enum store_op op, unsigned long nth, int err, bool sticky)
{
	struct store_fail *f = &s->inject.fail[op];

	__atomic_store_n(&f->countdown, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&f->firing, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&f->err, err > 0 ? err : EIO, __ATOMIC_RELAXED);
	__atomic_store_n(&f->sticky, sticky, __ATOMIC_RELAXED);
	__atomic_store_n(&f->countdown, (long)(nth ? nth : 1), __ATOMIC_RELEASE);
}

void store_inject_hook(struct store *s, store_inject_fn fn, void *arg)
{
	__atomic_store_n(&s->inject.hook_arg, arg, __ATOMIC_RELAXED);
	__atomic_store_n(&s->inject.hook, fn, __ATOMIC_RELEASE);
}

void store_inject_clear(struct store *s)
{
	__atomic_store_n(&s->inject.hook, NULL, __ATOMIC_RELEASE);
	for (int i = 0; i <= STORE_OP_ANY; i++) {
		__atomic_store_n(&s->inject.fail[i].countdown, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&s->inject.fail[i].firing, 0, __ATOMIC_RELEASE);
	}
}

unsigned long store_inject_fired(struct store *s)
{
	return __atomic_load_n(&s->inject.fired, __ATOMIC_RELAXED);
}

unsigned long store_calls(struct store *s, enum store_op op)
{
	return (unsigned)op < STORE_OP_NR ? __atomic_load_n(&s->calls[op], __ATOMIC_RELAXED) : 0;
}

/* 0, or the positive errno this call of slot @f must fail with. */
static int fail_slot(struct store_fail *f)
{
	if (__atomic_load_n(&f->firing, __ATOMIC_ACQUIRE))
		return __atomic_load_n(&f->err, __ATOMIC_RELAXED);
	long c = __atomic_load_n(&f->countdown, __ATOMIC_ACQUIRE);
	while (c > 0) {
		if (__atomic_compare_exchange_n(&f->countdown, &c, c - 1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			if (c != 1)
				return 0;
			if (__atomic_load_n(&f->sticky, __ATOMIC_RELAXED))
				__atomic_store_n(&f->firing, 1, __ATOMIC_RELEASE);
			return __atomic_load_n(&f->err, __ATOMIC_RELAXED);
		}
	}
	return 0;
}

/* Every entry point starts here: validator check, count, injection. */
int store_enter(struct store *s, enum store_op op, struct store_inode *si, int64_t pos, int64_t len)
{
	assert_io_allowed(op_names[op]);
	__atomic_add_fetch(&s->calls[op], 1, __ATOMIC_RELAXED);

	int err = 0;
	if (unlikely(s->fence)) {
		switch (op) {
		case STORE_OP_SETSIZE:
		case STORE_OP_WRITE:
		case STORE_OP_DIO_WRITE:
		case STORE_OP_FALLOCATE:
		case STORE_OP_CLONE: {
			int r = s->fence(s->fence_arg);
			if (r)
				return r;
			break;
		}
		default:
			break;
		}
	}
	store_inject_fn hook = __atomic_load_n(&s->inject.hook, __ATOMIC_ACQUIRE);
	if (hook) {
		int r =
		    hook(__atomic_load_n(&s->inject.hook_arg, __ATOMIC_RELAXED), op, si, pos, len);
		if (r < 0)
			err = -r;
	}
	if (!err)
		err = fail_slot(&s->inject.fail[op]);
	if (!err)
		err = fail_slot(&s->inject.fail[STORE_OP_ANY]);
	if (err) {
		__atomic_add_fetch(&s->inject.fired, 1, __ATOMIC_RELAXED);
		return -err;
	}
	return 0;
}

void store_probe_ra_hint(struct store *s, dev_t dev)
{
	/* a whole disk has queue/ itself; a partition's is its parent's */
	static const char *const fmt[] = {"/sys/dev/block/%u:%u/queue/read_ahead_kb",
					  "/sys/dev/block/%u:%u/../queue/read_ahead_kb"};
	char path[96];

	s->ra_hint = 0;
	for (size_t i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
		unsigned long kb = 0;
		FILE *f;

		snprintf(path, sizeof(path), fmt[i], major(dev), minor(dev));
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fscanf(f, "%lu", &kb) == 1 && kb) {
			s->ra_hint = (size_t)kb << 10;
			fclose(f);
			return;
		}
		fclose(f);
	}
}

int store_close(struct store *s)
{
	return s ? s->ops->close(s) : 0;
}

/* ---- data ---- */

void store_release(struct store_inode *si)
{
	if (si) {
		struct store_node *n = si->node;

		si->store->ops->release(si);
		if (n)
			store_node_put(n);
	}
}

int store_fgetattr(struct store_inode *si, struct stat *st)
{
	int ret = store_enter(si->store, STORE_OP_GETATTR, si, 0, 0);
	return ret ? ret : si->store->ops->fgetattr(si, st);
}

int64_t store_size(struct store_inode *si)
{
	struct stat st;
	int ret = store_fgetattr(si, &st);
	return ret ? ret : (int64_t)st.st_size;
}

int store_setsize(struct store_inode *si, int64_t size)
{
	int ret = store_enter(si->store, STORE_OP_SETSIZE, si, size, 0);
	if (ret)
		return ret;
	if (size < 0)
		return -EINVAL;
	return si->readonly ? -EBADF : si->store->ops->setsize(si, size);
}

int store_map(struct store_inode *si, int64_t pos, int64_t len, struct store_map *out)
{
	int ret = store_enter(si->store, STORE_OP_MAP, si, pos, len);
	if (ret)
		return ret;
	if (pos < 0 || len <= 0 || pos > INT64_MAX - len)
		return -EINVAL;
	return si->store->ops->map(si, pos, len, out);
}

static int check_io(size_t len, int64_t pos)
{
	if (pos < 0 || len > (size_t)SSIZE_MAX || (int64_t)len > INT64_MAX - pos)
		return -EINVAL;
	return 0;
}

ssize_t store_read(struct store_inode *si, void *buf, size_t len, int64_t pos)
{
	int ret = store_enter(si->store, STORE_OP_READ, si, pos, (int64_t)len);
	if (!ret)
		ret = check_io(len, pos);
	if (ret)
		return ret;
	return len ? si->store->ops->read(si, buf, len, pos) : 0;
}

ssize_t store_write(struct store_inode *si, const void *buf, size_t len, int64_t pos)
{
	int ret = store_enter(si->store, STORE_OP_WRITE, si, pos, (int64_t)len);
	if (!ret)
		ret = check_io(len, pos);
	if (!ret && si->readonly)
		ret = -EBADF;
	if (ret)
		return ret;
	return len ? si->store->ops->write(si, buf, len, pos) : 0;
}

static int check_dio(struct store *s, const void *buf, size_t len, int64_t pos)
{
	uint64_t a = s->dio_align;

	if (!s->dio_supported || !a)
		return -EINVAL;
	if ((uint64_t)pos % a || len % a || (uintptr_t)buf % a)
		return -EINVAL;
	return check_io(len, pos);
}

ssize_t store_dio_read(struct store_inode *si, void *buf, size_t len, int64_t pos)
{
	int ret = store_enter(si->store, STORE_OP_DIO_READ, si, pos, (int64_t)len);
	if (!ret)
		ret = check_dio(si->store, buf, len, pos);
	if (ret)
		return ret;
	return len ? si->store->ops->dio_read(si, buf, len, pos) : 0;
}

ssize_t store_dio_write(struct store_inode *si, const void *buf, size_t len, int64_t pos)
{
	int ret = store_enter(si->store, STORE_OP_DIO_WRITE, si, pos, (int64_t)len);
	if (!ret)
		ret = check_dio(si->store, buf, len, pos);
	if (!ret && si->readonly)
		ret = -EBADF;
	if (ret)
		return ret;
	return len ? si->store->ops->dio_write(si, buf, len, pos) : 0;
}

int store_fallocate(struct store_inode *si, int mode, int64_t off, int64_t len)
{
	int ret = store_enter(si->store, STORE_OP_FALLOCATE, si, off, len);
	if (ret)
		return ret;
	switch (mode) {
	case 0:
	case FALLOC_FL_KEEP_SIZE:
	case FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE:
	case FALLOC_FL_ZERO_RANGE:
	case FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE:
	case FALLOC_FL_COLLAPSE_RANGE:
	case FALLOC_FL_INSERT_RANGE:
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (off < 0 || len <= 0 || off > INT64_MAX - len)
		return -EINVAL;
	if (si->readonly)
		return -EBADF;
	return si->store->ops->fallocate(si, mode, off, len);
}

bool store_has_clone_range(const struct store_inode *si)
{
	return si->store->ops->clone_range != NULL;
}

int store_clone_range(struct store_inode *src, int64_t src_off, struct store_inode *dst,
		      int64_t dst_off, int64_t len)
{
	int ret = store_enter(dst->store, STORE_OP_CLONE, dst, dst_off, len);
	if (ret)
		return ret;
	if (src->store != dst->store)
		return -EXDEV;
	if (src_off < 0 || dst_off < 0 || len < 0)
		return -EINVAL;
	if (dst->readonly)
		return -EBADF;
	if (!dst->store->ops->clone_range)
		return -EOPNOTSUPP;
	return dst->store->ops->clone_range(src, src_off, dst, dst_off, len);
}

int store_sync(struct store_inode *si, bool datasync)
{
	int ret = store_enter(si->store, STORE_OP_SYNC, si, 0, 0);
	return ret ? ret : si->store->ops->sync(si, datasync);
}

int store_sync_range(struct store_inode *si, int64_t start, int64_t end, bool datasync)
{
	int64_t len;
	int ret;

	if (start < 0)
		start = 0;
	if (end < start)
		return store_sync(si, datasync);
	len = end == INT64_MAX ? INT64_MAX - start : end - start + 1;
	ret = store_enter(si->store, STORE_OP_SYNC, si, start, len);
	return ret ? ret : si->store->ops->sync(si, datasync);
}

int store_reserve(struct store_inode *si, int64_t pos, int64_t len)
{
	int ret = store_enter(si->store, STORE_OP_RESERVE, si, pos, len);
	if (ret)
		return ret;
	if (pos < 0 || len <= 0 || pos > INT64_MAX - len)
		return -EINVAL;
	return si->store->ops->reserve ? si->store->ops->reserve(si, pos, len) : 0;
}

/* Not an op of its own (no injection: releasing cannot fail). */
void store_unreserve(struct store_inode *si, int64_t pos, int64_t len)
{
	if (pos >= 0 && len > 0 && pos <= INT64_MAX - len && si->store->ops->unreserve)
		si->store->ops->unreserve(si, pos, len);
}

/* SPDX-License-Identifier: MIT */
/*
 * model_backend.c - the backend of test_model (see model_ops.h): every call
 * goes to the engine, or with PC_MODEL_HOST to the host kernel in a temp
 * directory (errors as -errno either way), and the engine's start (random
 * options) and stop (every fd dropped from the model). Half of the calls on
 * a path of two or more components use the *at() form (at_split).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "harness.h"
#include "model.h"
#include "model_ops.h"
#include "pagecache.h"
#include "store/vol/vol.h"

/* ---- backend calls ---- */

static const char *hp(const char *path)
{
	static char buf[2][PATH_MAX];
	static int k;
	char *b = buf[k++ & 1];
	snprintf(b, PATH_MAX, "%s/%s", store_dir, path);
	return b;
}

#define HR(call) API_HOST(call)

/*
 * Half of the namespace calls on a path of two or more components go
 * through the *at() form instead: an O_PATH directory fd on the first
 * component (host: open(O_PATH); engine: pc_open(O_PATH)) and the call
 * relative to it with the rest, so that the model checks the *at() calls
 * and the dirfd walk against the same expectations. When the first
 * component is no directory the path call is made (its flags are checked
 * before the walk: an error of the dirfd's open could come first).
 * The model's paths have no "..", no "//" and no symlinks.
 */
struct at {
	int dirfd; /* -1: the path call */
	const char *rest;
};

static struct at at_split(const char *path)
{
	struct at a = {.dirfd = -1, .rest = path};
	const char *slash = strchr(path, '/');
	char first[NAME_MAX + 1];
	size_t len;

	if (!chance(50) || !slash || !slash[1] || slash[1] == '/' || strstr(path, ".."))
		return a;
	len = (size_t)(slash - path);
	if (len == 0 || len > NAME_MAX)
		return a;
	memcpy(first, path, len);
	first[len] = 0;
	a.dirfd = host ? (int)HR(open(hp(first), O_PATH | O_DIRECTORY))
		       : pc_open(eng, first, O_PATH | O_DIRECTORY, 0);
	if (a.dirfd >= 0)
		a.rest = slash + 1;
	else
		a.dirfd = -1;
	return a;
}

static void at_done(struct at *a)
{
	if (a->dirfd >= 0)
		host ? close(a->dirfd) : pc_close(eng, a->dirfd);
}

/* The call on @path, or its *at() form on @a's dirfd and rest. */
#define AT_CALL(a, path, hostcall, at_hostcall, engcall, at_engcall)          \
	({                                                                    \
		long __at_r;                                                  \
		if ((a).dirfd < 0)                                            \
			__at_r = host ? HR(hostcall) : (long)(engcall);       \
		else                                                          \
			__at_r = host ? HR(at_hostcall) : (long)(at_engcall); \
		at_done(&(a));                                                \
		__at_r;                                                       \
	})

int b_open(const char *path, int flags, mode_t mode)
{
	struct at a = at_split(path);

	return (int)AT_CALL(a, path, open(hp(path), flags, mode),
			    openat(a.dirfd, a.rest, flags, mode), pc_open(eng, path, flags, mode),
			    pc_openat(eng, a.dirfd, a.rest, flags, mode));
}
int b_close(int fd)
{
	return host ? (int)HR(close(fd)) : pc_close(eng, fd);
}
ssize_t b_read(int fd, void *buf, size_t n)
{
	return host ? HR(read(fd, buf, n)) : pc_read(eng, fd, buf, n);
}
ssize_t b_write(int fd, const void *buf, size_t n)
{
	return host ? HR(write(fd, buf, n)) : pc_write(eng, fd, buf, n);
}
ssize_t b_pread(int fd, void *buf, size_t n, off_t off)
{
	return host ? HR(pread(fd, buf, n, off)) : pc_pread(eng, fd, buf, n, off);
}
ssize_t b_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return host ? HR(pwrite(fd, buf, n, off)) : pc_pwrite(eng, fd, buf, n, off);
}
ssize_t b_preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	return host ? HR(preadv2(fd, iov, cnt, off, flags))
		    : pc_preadv2(eng, fd, iov, cnt, off, flags);
}
ssize_t b_pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	return host ? HR(pwritev2(fd, iov, cnt, off, flags))
		    : pc_pwritev2(eng, fd, iov, cnt, off, flags);
}
off_t b_lseek(int fd, off_t off, int whence)
{
	return host ? HR(lseek(fd, off, whence)) : pc_lseek(eng, fd, off, whence);
}
int b_fsync(int fd, bool data)
{
	if (host)
		return (int)HR(data ? fdatasync(fd) : fsync(fd));
	return data ? pc_fdatasync(eng, fd) : pc_fsync(eng, fd);
}
int b_ftruncate(int fd, off_t len)
{
	return host ? (int)HR(ftruncate(fd, len)) : pc_ftruncate(eng, fd, len);
}
int b_fallocate(int fd, int mode, off_t off, off_t len)
{
	return host ? (int)HR(fallocate(fd, mode, off, len))
		    : pc_fallocate(eng, fd, mode, off, len);
}
int b_fadvise(int fd, off_t off, off_t len, int advice)
{
	return host ? -posix_fadvise(fd, off, len, advice) : pc_fadvise(eng, fd, off, len, advice);
}
int b_fstat(int fd, struct stat *st)
{
	return host ? (int)HR(fstat(fd, st)) : pc_fstat(eng, fd, st);
}
int b_stat(const char *path, struct stat *st)
{
	struct at a = at_split(path);

	return (int)AT_CALL(a, path, lstat(hp(path), st),
			    fstatat(a.dirfd, a.rest, st, AT_SYMLINK_NOFOLLOW),
			    pc_stat(eng, path, st), pc_fstatat(eng, a.dirfd, a.rest, st, 0));
}
int b_unlink(const char *path)
{
	struct at a = at_split(path);

	return (int)AT_CALL(a, path, unlink(hp(path)), unlinkat(a.dirfd, a.rest, 0),
			    pc_unlink(eng, path), pc_unlinkat(eng, a.dirfd, a.rest, 0));
}
/* The source may go through a dirfd, the target by its path. */
int b_rename(const char *from, const char *to, unsigned flags)
{
	struct at a = at_split(from);

	return (int)AT_CALL(a, from, renameat2(AT_FDCWD, hp(from), AT_FDCWD, hp(to), flags),
			    renameat2(a.dirfd, a.rest, AT_FDCWD, hp(to), flags),
			    pc_rename(eng, from, to, flags),
			    pc_renameat2(eng, a.dirfd, a.rest, PC_AT_ROOT, to, flags));
}
int b_mkdir(const char *path, mode_t mode)
{
	struct at a = at_split(path);

	return (int)AT_CALL(a, path, mkdir(hp(path), mode), mkdirat(a.dirfd, a.rest, mode),
			    pc_mkdir(eng, path, mode), pc_mkdirat(eng, a.dirfd, a.rest, mode));
}
int b_rmdir(const char *path)
{
	struct at a = at_split(path);

	return (int)AT_CALL(a, path, rmdir(hp(path)), unlinkat(a.dirfd, a.rest, AT_REMOVEDIR),
			    pc_rmdir(eng, path), pc_unlinkat(eng, a.dirfd, a.rest, AT_REMOVEDIR));
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* Up to @max entries; host: getdents64, seeking back to the first entry
 * that did not fit (its start is the previous entry's d_off). */
ssize_t b_readdir(int fd, struct pc_dirent *ents, size_t max)
{
	if (!host)
		return pc_readdir(eng, fd, ents, max);
	size_t n = 0;
	while (n < max) {
		char buf[512];
		off_t start = lseek(fd, 0, SEEK_CUR);
		long got = syscall(SYS_getdents64, fd, buf, sizeof(buf));
		if (got < 0)
			return n ? (ssize_t)n : -errno;
		if (got == 0)
			break;
		for (long pos = 0; pos < got;) {
			struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + pos);
			pos += d->d_reclen;
			if (n == max) {
				lseek(fd, start, SEEK_SET);
				break;
			}
			start = d->d_off;
			if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
				continue;
			ents[n].ino = d->d_ino;
			ents[n].type = d->d_type;
			snprintf(ents[n].name, sizeof(ents[n].name), "%s", d->d_name);
			n++;
		}
	}
	return (ssize_t)n;
}

/* ---- engine lifetime ---- */

void engine_start(void)
{
	static const size_t limits[] = {0, 2 << 20, 8 << 20, 64 << 20};
	static const size_t ra[] = {0, 16 << 10, 64 << 10, 512 << 10};
	static const unsigned wb[] = {0, 20, 200, 1000};
	struct pc_options o = {
	    .size = sizeof(struct pc_options),
	    .store_dir = store_dir,
	    .mem_limit = limits[rnd(4)],
	    .readahead_max = ra[rnd(4)],
	    .writeback_interval_ms = wb[rnd(4)],
	    .policy = chance(70) ? PC_POLICY_TWO_STATE : PC_POLICY_XFS,
	    /* PC_FAULT=fallback: views on the fallback fault mechanism */
	    .fault_mechanism = getenv("PC_FAULT") && !strcmp(getenv("PC_FAULT"), "fallback")
				   ? PC_FAULT_FALLBACK
				   : PC_FAULT_AUTO,
	};
	if (host)
		return;
	/* PC_MODEL_STORE=vol: the same run on a vol image inside store_dir,
	 * made at the first start and kept across restarts */
	static char image[PATH_MAX];
	if (getenv("PC_MODEL_STORE") && !strcmp(getenv("PC_MODEL_STORE"), "vol")) {
		if (!image[0]) {
			snprintf(image, sizeof(image), "%s/model.vol", store_dir);
			struct vol_mkfs_opts mo = {.size = 1ll << 30};
			if (vol_create(image, &mo))
				FAIL("vol_create %s", image);
		}
		o.store_dir = NULL;
		o.store_image = image;
	}
	int ret = pc_engine_open(&o, &eng);
	if (ret)
		FAIL("pc_engine_open: %s (mem_limit %zu ra %zu wb %u policy %d)", errname(ret),
		     o.mem_limit, o.readahead_max, o.writeback_interval_ms, o.policy);
	note("engine open: mem_limit %zu ra %zu wb %u policy %d", o.mem_limit, o.readahead_max,
	     o.writeback_interval_ms, o.policy);
}

void drop_fd(int i)
{
	if (fds[i].node)
		node_put(fds[i].node);
	last_closed_fd = fds[i].fd;
	fds[i] = fds[--nfds];
}

void engine_stop(void)
{
	if (host) {
		while (nfds)
			close(fds[0].fd), drop_fd(0);
		return;
	}
	int ret = pc_engine_close(eng);
	eng = NULL;
	if (ret)
		FAIL("pc_engine_close: %s", errname(ret));
	while (nfds)
		drop_fd(0);
}

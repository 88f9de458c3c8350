/* SPDX-License-Identifier: MIT */
/*
 * io.c - image writes, reads and flushes with a stoppable device (io.h).
 *
 * Locking: none; atomics only.
 */
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "store/vol/io.h"

static bool dev_write_ok(struct vol_dev *d)
{
	if (!d)
		return true;
	unsigned long n = __atomic_add_fetch(&d->writes, 1, __ATOMIC_RELAXED);
	long stop = __atomic_load_n(&d->stop_at, __ATOMIC_RELAXED);
	long kill_at = __atomic_load_n(&d->kill_at, __ATOMIC_RELAXED);
	if (kill_at > 0 && n >= (unsigned long)kill_at)
		raise(SIGKILL); /* a crash test's process dies before this write */
	if ((unsigned long)__atomic_load_n(&d->fail_write, __ATOMIC_RELAXED) == n)
		return false;
	if (stop > 0 && n >= (unsigned long)stop)
		__atomic_store_n(&d->dead, 1, __ATOMIC_RELAXED);
	return !__atomic_load_n(&d->dead, __ATOMIC_RELAXED);
}

/* Reads [off, off + len) of @fd whole into @rbuf, or writes @wbuf there
 * (the other one NULL), looping on short transfers and EINTR. 0, -EIO where
 * a transfer moves nothing (a read past EOF), or -errno. */
static int io_all(int fd, void *rbuf, const void *wbuf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		off_t at = off + (off_t)done;
		ssize_t n = rbuf ? pread(fd, (char *)rbuf + done, len - done, at)
				 : pwrite(fd, (const char *)wbuf + done, len - done, at);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

int vol_dev_pwrite(struct vol_dev *d, int fd, const void *buf, size_t len, off_t off)
{
	if (!dev_write_ok(d))
		return -EIO; /* the device is dead, or this one write fails */
	return io_all(fd, NULL, buf, len, off);
}

int vol_dev_pread(struct vol_dev *d, int fd, void *buf, size_t len, off_t off)
{
	if (d) {
		unsigned long n = __atomic_add_fetch(&d->reads, 1, __ATOMIC_RELAXED);
		if ((unsigned long)__atomic_load_n(&d->fail_read, __ATOMIC_RELAXED) == n)
			return -EIO;
	}
	return io_all(fd, buf, NULL, len, off);
}

int vol_dev_flush(struct vol_dev *d, int fd)
{
	if (d) {
		unsigned long n = __atomic_add_fetch(&d->flushes, 1, __ATOMIC_RELAXED);
		if (__atomic_load_n(&d->dead, __ATOMIC_RELAXED) ||
		    (unsigned long)__atomic_load_n(&d->fail_flush, __ATOMIC_RELAXED) == n)
			return -EIO;
	}
	int r;
	do
		r = fdatasync(fd);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

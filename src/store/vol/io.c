/* SPDX-License-Identifier: MIT */
/*
 * io.c - image writes, reads and flushes with a stoppable device (io.h).
 *
 * The volatile-cache mode: each write since the last completed flush is
 * logged with its pre-image; a crash walks the log backwards and, per
 * write, keeps it whole, loses it whole, or tears it (each 512 B or 4 KiB
 * unit kept or lost), restoring pre-images of what is lost. A sector is
 * "decided" by the latest kept write covering it (its content as of that
 * write, earlier writes included); sectors no kept write covers return to
 * their content at the last flush.
 *
 * Ordered writes: every write but the journal's bumps d->wseq when it is
 * done; a completed flush publishes the wseq it read before it began, so a
 * commit knows whether anything but its journal awaits a flush.
 *
 * Locking: atomics only in the plain mode; wc->lock in the volatile-cache
 * mode (held across a write's pre-image read, log entry and write, a
 * flush's log reset and a crash).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/vol/io.h"

#define SECTOR 512

TEST_SWITCH(vol_test_skip_data_flush);

static uint64_t wc_rnd(struct vol_wcache *wc, uint64_t n)
{
	wc->rng ^= wc->rng << 13;
	wc->rng ^= wc->rng >> 7;
	wc->rng ^= wc->rng << 17;
	return wc->rng % n;
}

static int io_all(int fd, void *rbuf, const void *wbuf, size_t len, off_t off);

static void wc_reset(struct vol_wcache *wc)
{
	for (size_t i = 0; i < wc->nr; i++)
		free(wc->log[i].pre);
	wc->nr = 0;
}

/* Power loss: what a volatile cache may leave of the logged writes.
 * Caller holds wc->lock. */
static void wc_crash(struct vol_wcache *wc)
{
	struct vol_wc_stats st = {.crashes = 1, .pending = wc->nr};
	off_t end = 0;

	for (size_t i = 0; i < wc->nr; i++)
		if (wc->log[i].off + (off_t)wc->log[i].len > end)
			end = wc->log[i].off + (off_t)wc->log[i].len;
	size_t nsec = (size_t)(end + SECTOR - 1) / SECTOR;
	uint8_t *decided = calloc(nsec / 8 + 1, 1);
	if (!decided) {
		/* no memory to choose: every write lost is still a legal state */
		nsec = 0;
	}
	for (size_t i = wc->nr; i-- > 0;) {
		struct vol_wlog *w = &wc->log[i];
		unsigned how = (unsigned)wc_rnd(wc, 8); /* 0-2 keep, 3-5 lose, 6-7 tear */
		size_t unit = how == 6 ? SECTOR : 4096;
		bool any_kept = false, any_lost = false;
		off_t a = w->off, wend = w->off + (off_t)w->len;
		while (a < wend) {
			off_t ue = (a / (off_t)unit + 1) * (off_t)unit;
			if (ue > wend)
				ue = wend;
			bool keep = how < 3 || (how >= 6 && wc_rnd(wc, 2));
			for (off_t p = a; p < ue;) {
				size_t sec = (size_t)(p / SECTOR);
				off_t se =
				    ((off_t)sec + 1) * SECTOR < ue ? ((off_t)sec + 1) * SECTOR : ue;
				bool done = decided && (decided[sec / 8] >> (sec % 8) & 1);
				if (!done && keep) {
					if (decided)
						decided[sec / 8] |= (uint8_t)(1u << (sec % 8));
				} else if (!done) {
					if (io_all(wc->fd, NULL, w->pre + (p - w->off),
						   (size_t)(se - p), p) == 0)
						st.restored += (size_t)(se - p);
				}
				p = se;
			}
			any_kept |= keep;
			any_lost |= !keep;
			a = ue;
		}
		st.kept += any_kept && !any_lost;
		st.lost += any_lost && !any_kept;
		st.torn += any_kept && any_lost;
	}
	free(decided);
	wc_reset(wc);
	if (wc->stats)
		*wc->stats = st;
}

/* A crash point reached: the crash, the device dead, maybe the process. */
static void wc_die(struct vol_dev *d)
{
	wc_crash(d->wc);
	__atomic_store_n(&d->dead, 1, __ATOMIC_RELAXED);
	if (d->wc->kill)
		raise(SIGKILL);
}

int vol_dev_wcache_start(struct vol_dev *d, int fd, uint64_t seed, long crash_write,
			 long crash_flush, bool kill, struct vol_wc_stats *stats)
{
	struct vol_wcache *wc = calloc(1, sizeof(*wc));
	if (!wc)
		return -ENOMEM;
	pthread_mutex_init(&wc->lock, NULL);
	wc->fd = fd;
	wc->rng = seed * 0x9e3779b97f4a7c15ull | 1;
	wc->crash_write = crash_write;
	wc->crash_flush = crash_flush;
	wc->kill = kill;
	wc->stats = stats;
	d->wc = wc;
	return 0;
}

void vol_dev_wcache_free(struct vol_dev *d)
{
	struct vol_wcache *wc = d->wc;
	if (!wc)
		return;
	d->wc = NULL;
	wc_reset(wc);
	free(wc->log);
	pthread_mutex_destroy(&wc->lock);
	free(wc);
}

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
	if (d->wc && (unsigned long)d->wc->crash_write == n &&
	    !__atomic_load_n(&d->dead, __ATOMIC_RELAXED))
		wc_die(d); /* caller holds wc->lock */
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

/* The volatile-cache mode's write: logged with its pre-image first. */
static int wc_pwrite(struct vol_dev *d, int fd, const void *buf, size_t len, off_t off)
{
	struct vol_wcache *wc = d->wc;
	int r = -EIO;

	pthread_mutex_lock(&wc->lock);
	if (!dev_write_ok(d))
		goto out;
	if (wc->nr == wc->cap) {
		size_t cap = wc->cap ? 2 * wc->cap : 64;
		struct vol_wlog *l = realloc(wc->log, cap * sizeof(*l));
		if (!l) {
			r = -ENOMEM;
			goto out;
		}
		wc->log = l;
		wc->cap = cap;
	}
	char *pre = malloc(len ? len : 1);
	r = pre ? io_all(wc->fd, pre, NULL, len, off) : -ENOMEM;
	if (r == -EIO) { /* past the end of the image: reads as zeroes */
		memset(pre, 0, len);
		r = 0;
	}
	if (r) {
		free(pre);
		goto out;
	}
	wc->log[wc->nr++] = (struct vol_wlog){off, len, pre};
	r = io_all(fd, NULL, buf, len, off);
out:
	pthread_mutex_unlock(&wc->lock);
	return r;
}

int vol_dev_pwrite_jrnl(struct vol_dev *d, int fd, const void *buf, size_t len, off_t off)
{
	if (d && d->wc)
		return wc_pwrite(d, fd, buf, len, off);
	if (!dev_write_ok(d))
		return -EIO; /* the device is dead, or this one write fails */
	return io_all(fd, NULL, buf, len, off);
}

int vol_dev_pwrite(struct vol_dev *d, int fd, const void *buf, size_t len, off_t off)
{
	int r = vol_dev_pwrite_jrnl(d, fd, buf, len, off);
	/* after the write: a flush that began before it may not cover it */
	if (d)
		__atomic_add_fetch(&d->wseq, 1, __ATOMIC_SEQ_CST);
	return r;
}

bool vol_dev_unflushed(struct vol_dev *d)
{
	return __atomic_load_n(&d->wseq, __ATOMIC_SEQ_CST) !=
	       __atomic_load_n(&d->flushed, __ATOMIC_SEQ_CST);
}

unsigned long vol_dev_wseq(struct vol_dev *d)
{
	return __atomic_load_n(&d->wseq, __ATOMIC_SEQ_CST);
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

static int do_flush(struct vol_dev *d, int fd)
{
	if (d) {
		unsigned long n = __atomic_add_fetch(&d->flushes, 1, __ATOMIC_RELAXED);
		if (d->wc && (unsigned long)d->wc->crash_flush == n &&
		    !__atomic_load_n(&d->dead, __ATOMIC_RELAXED))
			wc_die(d); /* power lost before this flush completed */
		if (__atomic_load_n(&d->dead, __ATOMIC_RELAXED) ||
		    (unsigned long)__atomic_load_n(&d->fail_flush, __ATOMIC_RELAXED) == n)
			return -EIO;
	}
	unsigned long seen = d ? __atomic_load_n(&d->wseq, __ATOMIC_SEQ_CST) : 0;
	int r;
	do
		r = fdatasync(fd);
	while (r < 0 && errno == EINTR);
	if (!r && d && d->wc)
		wc_reset(d->wc); /* on stable storage: nothing left to lose */
	if (!r && d) {		 /* writes counted by then are on disk; never move back */
		unsigned long f = __atomic_load_n(&d->flushed, __ATOMIC_SEQ_CST);
		while ((long)(seen - f) > 0 &&
		       !__atomic_compare_exchange_n(&d->flushed, &f, seen, false, __ATOMIC_SEQ_CST,
						    __ATOMIC_SEQ_CST))
			;
	}
	return r < 0 ? -errno : 0;
}

int vol_dev_flush(struct vol_dev *d, int fd)
{
	if (!d || !d->wc)
		return do_flush(d, fd);
	pthread_mutex_lock(&d->wc->lock);
	int r = do_flush(d, fd);
	pthread_mutex_unlock(&d->wc->lock);
	return r;
}

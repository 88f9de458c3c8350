/* SPDX-License-Identifier: MIT */
/*
 * model_ops_dio.c - test_model's step for O_DIRECT I/O whose user buffer
 * is a view of a model file (see model_ops.h; the plain O_DIRECT reads and
 * writes with ordinary buffers are op_readish/op_writeish on O_DIRECT fds).
 *
 * One step: an O_DIRECT fd is opened on an open regular file F, and a
 * shared view is made of a file V (F itself half of the time, else another
 * open file); then
 *   - pwrite of whole pages of F from the view (anywhere in V, F's own
 *     written range included - the engine bounces that window - but not
 *     shifted onto itself, where as with an overlapping memcpy the order of
 *     the pieces decides): F gets V's bytes as they were before the call;
 *   - pread of whole pages of F inside its size into the view (not
 *     overlapping the range read, when V is F): V gets F's bytes (past a
 *     short count or an error, each byte is V's old one or F's: the store
 *     may have moved a resident prefix, as Linux's O_DIRECT may);
 *   - sometimes RWF_NOWAIT (-EAGAIN or a prefix allowed), sometimes a
 *     misaligned offset (-EINVAL, nothing changes).
 * Then the view must show V's model bytes and F read back (O_DIRECT) F's.
 * The view and the fd go away at the end of the step. Engine only: with
 * PC_MODEL_HOST the step does nothing (the kernel's O_DIRECT from a mapping
 * of the same file is the kernel's business). All on the one test thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "harness.h"
#include "model_ops.h"
#include "pagecache.h"

#define MAXDIOPAGES 16

/* The path of a live node, or false. */
static bool node_path(const struct mnode *n, char *buf, size_t size)
{
	const struct mnode *chain[MAXDEPTH + 1];
	int depth = 0;
	size_t at = 0;

	for (const struct mnode *p = n; p && p != root; p = p->parent) {
		if (p->dead || depth > MAXDEPTH)
			return false;
		chain[depth++] = p;
	}
	buf[0] = 0;
	while (depth--) {
		int w =
		    snprintf(buf + at, size - at, "%s%s", at ? "/" : "", names[chain[depth]->name]);
		if (w < 0 || (size_t)w >= size - at)
			return false;
		at += (size_t)w;
	}
	return at > 0;
}

/* A random open fd of a live regular file (readable if @readable). */
static int pick_file(bool readable, bool writable)
{
	int cand[MAXFD], nc = 0;

	for (int i = 0; i < nfds; i++) {
		const struct mfd *f = &fds[i];
		if (f->node->dir || f->node->dead)
			continue;
		if (readable && f->acc == O_WRONLY)
			continue;
		if (writable && f->acc != O_RDWR)
			continue;
		cand[nc++] = i;
	}
	return nc ? cand[rnd((uint64_t)nc)] : -1;
}

void op_dio_view(void)
{
	char path[96];
	int fi, vi, dfd, rwf = 0, err = 0;
	struct mnode *fn, *vn;
	bool write = chance(50);
	size_t vpages, npg, len, vstart;
	int64_t off;
	uint8_t *snap;
	char *view;
	long got, want;

	if (host)
		return;
	fi = pick_file(false, false);
	if (fi < 0)
		return;
	fn = fds[fi].node;
	if (!node_path(fn, path, sizeof(path)))
		return;
	/* the view: F itself or another file, readable (writable for a read into it) */
	vi = chance(50) ? fi : pick_file(true, !write);
	if (vi < 0 || fds[vi].acc == O_WRONLY || (!write && fds[vi].acc != O_RDWR))
		return;
	vn = fds[vi].node;
	vpages = vn->size / PAGE;
	if (vpages > MAXDIOPAGES)
		vpages = MAXDIOPAGES;
	if (!vpages)
		return;
	npg = 1 + (size_t)rnd(vpages);
	len = npg * PAGE;
	{
		size_t vfirst = (size_t)rnd(vn->size / PAGE - vpages + 1); /* view at this page */
		size_t vo = (size_t)rnd(vpages - npg + 1); /* buffer at this view page */

		vstart = (vfirst + vo) * PAGE;
		if (write) {
			off = (int64_t)rnd(fn->size / PAGE + 2) * PAGE;
			if ((size_t)off + len > CAP)
				return;
			if (vn == fn && (size_t)off != vstart && (size_t)off < vstart + len &&
			    vstart < (size_t)off + len)
				return; /* shifted onto itself: like memcpy, the order decides */
		} else {
			if (fn->size < len)
				return;
			off = (int64_t)rnd((fn->size - len) / PAGE + 1) * PAGE;
			if (vn == fn && (size_t)off < vstart + len && vstart < (size_t)off + len)
				return; /* a read into its own range: the order of pages decides */
		}
		if (chance(8))
			rwf = RWF_NOWAIT;
		dfd = b_open(path, O_RDWR | O_DIRECT, 0);
		if (dfd < 0)
			FAIL("open %s O_DIRECT: %s", path, errname(dfd));
		view = pc_mmap(eng, fds[vi].fd, vpages * PAGE, PROT_READ | (write ? 0 : PROT_WRITE),
			       MAP_SHARED, (off_t)(vfirst * PAGE), &err);
		if (!view) {
			b_close(dfd);
			if (err != -ENODEV)
				FAIL("pc_mmap for DIO: %s", errname(err));
			return;
		}
		note("dio %s(file %s, off %lld, len %zu, rwf 0x%x) %s view of fd %d page %zu",
		     write ? "pwrite" : "pread", path, (long long)off, len, rwf,
		     vn == fn ? "own" : "other", fds[vi].fd, vstart / PAGE);
		snap = malloc(len);
		CHECK(snap != NULL);
		if (chance(5)) { /* misaligned: nothing moves */
			memcpy(snap, vn->data + vstart, len);
			got = write ? b_pwrite(dfd, view + (vstart - vfirst * PAGE), len, off + 1)
				    : b_pread(dfd, view + (vstart - vfirst * PAGE) + 1, len, off);
			EXPECT(got, -EINVAL);
			if (memcmp(snap, view + (vstart - vfirst * PAGE), len))
				FAIL("a DIO that failed with EINVAL changed the view");
		} else if (write) {
			struct iovec iov = {view + (vstart - vfirst * PAGE), len};

			memcpy(snap, vn->data + vstart, len);
			got = rwf ? b_pwritev2(dfd, &iov, 1, off, rwf)
				  : b_pwrite(dfd, iov.iov_base, len, off);
			want = (long)len;
			if (rwf && (got == -EAGAIN || (got > 0 && got < want))) {
				nowait_eagain += got == -EAGAIN;
				want = got;
			}
			EXPECT(got, want);
			if (got > 0)
				file_write(fn, (size_t)off, snap, (size_t)got);
			if (got < (long)len && (size_t)off < fn->size) {
				/* a NOWAIT write that stopped: blocks past the count
				 * may hold the new bytes (as with Linux's O_DIRECT) */
				size_t from = (size_t)off + (size_t)(got > 0 ? got : 0);
				size_t to =
				    (size_t)off + len < fn->size ? (size_t)off + len : fn->size;

				if (from < to) {
					EXPECT(b_pread(dfd, rbuf,
						       (to - from + PAGE - 1) / PAGE * PAGE,
						       (off_t)from),
					       (long)(to - from));
					for (size_t k = 0; k < to - from; k++) {
						uint8_t b = rbuf[k];
						size_t at = from + k;

						if (b != fn->data[at] &&
						    b != snap[at - (size_t)off])
							FAIL("byte %zu after a write that returned "
							     "%ld: 0x%02x, neither old nor new",
							     at, got, b);
						fn->data[at] = b;
					}
				}
			}
		} else {
			struct iovec iov = {view + (vstart - vfirst * PAGE), len};

			memcpy(snap, fn->data + off, len);
			got = rwf ? b_preadv2(dfd, &iov, 1, off, rwf)
				  : b_pread(dfd, iov.iov_base, len, off);
			want = (long)len;
			if (rwf && (got == -EAGAIN || (got > 0 && got < want))) {
				nowait_eagain += got == -EAGAIN;
				want = got;
			}
			EXPECT(got, want);
			if (got > 0) {
				file_write(vn, vstart, snap, (size_t)got);
				check_bytes(vn, (int64_t)vstart, (const uint8_t *)iov.iov_base,
					    (size_t)got);
			}
			/* Past what a failed or short read reports, the store may
			 * have moved a resident prefix anyway (as Linux's O_DIRECT
			 * does): each byte is the old one or F's; the view is V. */
			for (size_t k = got > 0 ? (size_t)got : 0; k < len; k++) {
				uint8_t b = ((const uint8_t *)iov.iov_base)[k];

				if (b != vn->data[vstart + k] && b != snap[k])
					FAIL("view byte +%zu after a read that returned %ld: "
					     "0x%02x, "
					     "neither the old 0x%02x nor F's 0x%02x",
					     k, got, b, vn->data[vstart + k], snap[k]);
				vn->data[vstart + k] = b;
			}
		}
		free(snap);
		/* afterwards: the view shows V, and F reads back (O_DIRECT) as the model */
		check_bytes(vn, (int64_t)(vfirst * PAGE), (const uint8_t *)view, vpages * PAGE);
		if ((size_t)off < fn->size) {
			size_t n = fn->size - (size_t)off < len ? fn->size - (size_t)off : len;

			got = b_pread(dfd, rbuf, len, off);
			EXPECT(got, (long)n);
			check_bytes(fn, off, rbuf, n);
		}
		EXPECT(pc_munmap(eng, view, vpages * PAGE), 0);
		EXPECT(b_close(dfd), 0);
	}
}

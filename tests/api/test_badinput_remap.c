/* SPDX-License-Identifier: MIT */
/*
 * test_badinput_remap.c - invalid inputs to pc_copy_file_range,
 * pc_clone_range and pc_dedupe_range, compared with the host kernel's
 * copy_file_range(2), FICLONERANGE and FIDEDUPERANGE on the same layout
 * (badinput_fixture.c: SAME compares, ONLY checks the documented value).
 *
 * copy_file_range is compared on any host file system (ext4 copies). The
 * clone and dedupe ioctls are compared where both the engine's dir store
 * and its host twin lie on an XFS file system with reflink (a loop mount
 * made by remap_fixture.c: root and mkfs.xfs needed); elsewhere the host
 * cannot clone at all (-EOPNOTSUPP before any check), so each case is
 * checked against the kernel's documented rule instead (fs/remap_range.c,
 * fs/ioctl.c) and the store's own -EOPNOTSUPP only where the range is
 * valid. The file size limit differs by design (the engine's 8 TiB against
 * the host's), so EFBIG at 8 TiB is checked against the documented value.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "badinput_fixture.h"
#include "harness.h"
#include "model.h"
#include "pagecache.h"
#include "remap_fixture.h"

#define TIB8 ((int64_t)1 << 43)

static bool on_xfs;

static long h_cfr(int in, int64_t *oin, int out, int64_t *oout, size_t len, unsigned flags)
{
	loff_t a = oin ? *oin : 0, b = oout ? *oout : 0;
	ssize_t r = copy_file_range(in, oin ? &a : NULL, out, oout ? &b : NULL, len, flags);
	if (r < 0)
		return -errno;
	if (oin)
		*oin = a;
	if (oout)
		*oout = b;
	return r;
}

static long h_clone(int dst, int src, int64_t soff, uint64_t len, int64_t doff)
{
	struct file_clone_range a = {.src_fd = src,
				     .src_offset = (uint64_t)soff,
				     .src_length = len,
				     .dest_offset = (uint64_t)doff};
	return ioctl(dst, FICLONERANGE, &a) < 0 ? -errno : 0;
}

/* A file of @size bytes (pattern @tag) on both sides. */
static void make_file(const char *name, size_t size, uint32_t tag)
{
	struct pair p = open_pair(name, O_RDWR | O_CREAT | O_TRUNC);
	api_pattern_fill(buf, size, tag, 0);
	CHECK_EQ(pc_pwrite(eng, p.e, buf, size, 0), (ssize_t)size);
	CHECK_EQ(pwrite(p.h, buf, size, 0), (ssize_t)size);
	close_pair(p);
}

TEST(copy_file_range_errnos_as_the_kernel)
{
	remap_tmpdir_on_xfs();
	setup();
	make_file("u", 5000, 2);
	struct pair rw = open_pair("f", O_RDWR), ro = open_pair("f", O_RDONLY);
	struct pair wo = open_pair("u", O_WRONLY), ap = open_pair("u", O_WRONLY | O_APPEND);
	struct pair u = open_pair("u", O_RDWR), dir = open_pair("d", O_RDONLY);
	struct pair path = open_pair("u", O_PATH), g = open_pair("g", O_RDWR);
	int64_t a, b, c, d;

#define CFR(what, doc, ein, eoin, eout, eoout, hin, hoin, hout, hoout, len, fl)   \
	SAME(what, doc, pc_copy_file_range(eng, ein, eoin, eout, eoout, len, fl), \
	     h_cfr(hin, hoin, hout, hoout, len, fl))
#define OFF2(x, y) (a = (x), b = (y), c = (x), d = (y))
	struct pair dio = open_pair("f", O_RDONLY | O_DIRECT);
	OFF2(100, 0);
	CFR("cfr unaligned from an O_DIRECT file", -EINVAL, dio.e, &a, g.e, &b, dio.h, &c, g.h, &d,
	    4096, 0);
	OFF2(4096, 0);
	CFR("cfr aligned from an O_DIRECT file", 4096, dio.e, &a, g.e, &b, dio.h, &c, g.h, &d, 4096,
	    0);
	close_pair(dio);
	OFF2(0, 0);
	CFR("cfr bad in fd", -EBADF, -1, &a, u.e, &b, -1, &c, u.h, &d, 16, 0);
	CFR("cfr bad out fd", -EBADF, rw.e, &a, 999, &b, rw.h, &c, 999, &d, 16, 0);
	CFR("cfr O_PATH in", -EBADF, path.e, &a, u.e, &b, path.h, &c, u.h, &d, 16, 0);
	CFR("cfr O_PATH out", -EBADF, rw.e, &a, path.e, &b, rw.h, &c, path.h, &d, 16, 0);
	CFR("cfr flags 1", -EINVAL, rw.e, &a, u.e, &b, rw.h, &c, u.h, &d, 16, 1);
	CFR("cfr in not readable", -EBADF, wo.e, &a, u.e, &b, wo.h, &c, u.h, &d, 16, 0);
	CFR("cfr out read-only", -EBADF, rw.e, &a, ro.e, &b, rw.h, &c, ro.h, &d, 16, 0);
	CFR("cfr out O_APPEND", -EBADF, rw.e, &a, ap.e, &b, rw.h, &c, ap.h, &d, 16, 0);
	CFR("cfr in directory", -EISDIR, dir.e, &a, u.e, &b, dir.h, &c, u.h, &d, 16, 0);
	CFR("cfr out directory", -EISDIR, rw.e, &a, dir.e, &b, rw.h, &c, dir.h, &d, 16, 0);
	OFF2(-1, 0);
	CFR("cfr off_in -1", -EOVERFLOW, rw.e, &a, u.e, &b, rw.h, &c, u.h, &d, 16, 0);
	OFF2(-4096, 0);
	CFR("cfr off_in -4096, len 0", -EINVAL, rw.e, &a, u.e, &b, rw.h, &c, u.h, &d, 0, 0);
	OFF2(0, -1);
	CFR("cfr off_out -1", -EOVERFLOW, rw.e, &a, u.e, &b, rw.h, &c, u.h, &d, 16, 0);
	OFF2(0, INT64_MAX);
	CFR("cfr off_out INT64_MAX (past the size limit)", -EFBIG, rw.e, &a, u.e, &b, rw.h, &c, u.h,
	    &d, 16, 0);
	OFF2(INT64_MAX, 0);
	CFR("cfr off_in INT64_MAX (past EOF)", 0, rw.e, &a, u.e, &b, rw.h, &c, u.h, &d, 16, 0);
	OFF2(16, 0);
	CFR("cfr len SIZE_MAX (wraps)", -EOVERFLOW, rw.e, &a, u.e, &b, rw.h, &c, u.h, &d, SIZE_MAX,
	    0);
	OFF2(0, 0);
	CFR("cfr len SSIZE_MAX from 0", 8192, rw.e, &a, u.e, &b, rw.h, &c, u.h, &d,
	    (size_t)LONG_MAX, 0);
	CHECK_EQ(a, c);
	CHECK_EQ(b, d);
	OFF2(8192, 0);
	CFR("cfr at EOF", 0, rw.e, &a, u.e, &b, rw.h, &c, u.h, &d, 16, 0);
	OFF2(8000, 100);
	CFR("cfr short at EOF", 192, rw.e, &a, u.e, &b, rw.h, &c, u.h, &d, 4096, 0);
	CHECK_EQ(a, c);
	CHECK_EQ(b, d);
	OFF2(0, 100);
	CFR("cfr overlapping in one file", -EINVAL, u.e, &a, u.e, &b, u.h, &c, u.h, &d, 200, 0);
	OFF2(0, 3000);
	CFR("cfr disjoint in one file", 1000, u.e, &a, u.e, &b, u.h, &c, u.h, &d, 1000, 0);
	OFF2(0, TIB8);
	ONLY("cfr off_out 8 TiB (the engine's limit)", -EFBIG,
	     pc_copy_file_range(eng, rw.e, &a, g.e, &b, 16, 0));
	/* NULL offsets: the file positions, advanced */
	CHECK_EQ(pc_lseek(eng, rw.e, 100, SEEK_SET), 100);
	CHECK_EQ(lseek(rw.h, 100, SEEK_SET), 100);
	CFR("cfr at the file positions", 300, rw.e, NULL, g.e, NULL, rw.h, NULL, g.h, NULL, 300, 0);
	SAME("f_pos in after", 400, pc_lseek(eng, rw.e, 0, SEEK_CUR), lseek(rw.h, 0, SEEK_CUR));
	SAME("f_pos out after", 300, pc_lseek(eng, g.e, 0, SEEK_CUR), lseek(g.h, 0, SEEK_CUR));
	SAME("bytes at the destination", 4096, pc_pread(eng, g.e, buf, 4096, 0),
	     pread(g.h, buf + 8192, 4096, 0));
	CHECK(!memcmp(buf, buf + 8192, 300));
	struct pair ps[] = {rw, ro, wo, ap, u, dir, path, g};
	for (unsigned i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
		close_pair(ps[i]);
	teardown();
}

/* CMP: the kernel's answer where the host can clone, the documented one
 * otherwise; NOSTORE: a valid request, which on a host without reflink the
 * engine's store refuses as the host does (-EOPNOTSUPP). */
#define CMP(what, doc, ecall, hcall)                   \
	do {                                           \
		if (on_xfs)                            \
			SAME(what, doc, ecall, hcall); \
		else                                   \
			ONLY(what, doc, ecall);        \
	} while (0)
#define VALID(what, doc, ecall, hcall)                         \
	do {                                                   \
		if (on_xfs)                                    \
			SAME(what, doc, ecall, hcall);         \
		else                                           \
			SAME(what, -EOPNOTSUPP, ecall, hcall); \
	} while (0)

TEST(clone_range_errnos_as_the_kernel)
{
	on_xfs = remap_tmpdir_on_xfs();
	if (!on_xfs)
		printf("# no XFS reflink mount: documented values (the host cannot clone)\n");
	setup();
	make_file("u", 5000, 2);    /* unaligned size */
	make_file("big", 20480, 3); /* larger than u */
	make_file("s", 16384, 4);
	struct pair rw = open_pair("f", O_RDWR), ro = open_pair("f", O_RDONLY);
	struct pair wo = open_pair("u", O_WRONLY), ap = open_pair("big", O_WRONLY | O_APPEND);
	struct pair u = open_pair("u", O_RDWR), dir = open_pair("d", O_RDONLY);
	struct pair path = open_pair("big", O_PATH), g = open_pair("g", O_RDWR);
	struct pair big = open_pair("big", O_RDWR), s = open_pair("s", O_RDWR);

#define CL(what, doc, d, sf, so, len, dof)                           \
	CMP(what, doc, pc_clone_range(eng, d.e, sf.e, so, len, dof), \
	    h_clone(d.h, sf.h, so, len, dof))
#define CLV(what, doc, d, sf, so, len, dof)                            \
	VALID(what, doc, pc_clone_range(eng, d.e, sf.e, so, len, dof), \
	      h_clone(d.h, sf.h, so, len, dof))
	SAME("clone bad dst fd", -EBADF, pc_clone_range(eng, 999, rw.e, 0, 4096, 0),
	     h_clone(999, rw.h, 0, 4096, 0));
	SAME("clone bad src fd", -EBADF, pc_clone_range(eng, g.e, -1, 0, 4096, 0),
	     h_clone(g.h, -1, 0, 4096, 0));
	SAME("clone O_PATH dst", -EBADF, pc_clone_range(eng, path.e, rw.e, 0, 4096, 0),
	     h_clone(path.h, rw.h, 0, 4096, 0));
	CL("clone O_PATH src", -EBADF, g, path, 0, 4096, 0);
	CL("clone src not readable", -EBADF, g, wo, 0, 4096, 0);
	CL("clone dst read-only", -EBADF, ro, s, 0, 4096, 0);
	CL("clone dst O_APPEND", -EBADF, ap, rw, 0, 4096, 0);
	CL("clone src directory", -EISDIR, g, dir, 0, 4096, 0);
	CL("clone dst directory", -EISDIR, dir, rw, 0, 4096, 0);
	CL("clone src_off -4096", -EINVAL, g, rw, -4096, 4096, 0);
	CL("clone dst_off -4096", -EINVAL, g, rw, 0, 4096, -4096);
	CL("clone len 2^63", -EINVAL, g, rw, 0, (uint64_t)1 << 63, 0);
	CL("clone off + len wraps", -EINVAL, g, rw, 4096, (uint64_t)INT64_MAX, 0);
	CL("clone src_off unaligned", -EINVAL, g, rw, 100, 4096, 0);
	CL("clone dst_off unaligned", -EINVAL, big, rw, 0, 4096, 100);
	CL("clone len unaligned mid-file", -EINVAL, big, rw, 0, 100, 0);
	CL("clone src_off past EOF", -EINVAL, g, rw, 16384, 4096, 0);
	CL("clone src range past EOF", -EINVAL, g, rw, 4096, 8192, 0);
	CL("clone src_off at EOF, len 0", 0, g, rw, 8192, 0, 0);
	CL("clone src_off past EOF, len 0", -EINVAL, g, rw, 12288, 0, 0);
	CL("clone overlap in one file", -EINVAL, s, s, 0, 8192, 4096);
	CL("clone unaligned EOF block inside dst", -EINVAL, big, u, 0, 0, 0);
	CL("clone dst_off INT64_MAX - 4095", -EINVAL, g, rw, 0, 4096, INT64_MAX - 4095);
	ONLY("clone dst_off 8 TiB (the engine's limit)", -EFBIG,
	     pc_clone_range(eng, g.e, rw.e, 0, 4096, TIB8));
	CLV("clone disjoint in one file", 0, s, s, 0, 4096, 8192);
	CLV("clone whole file (FICLONE) into an empty one", 0, g, u, 0, 0, 0);
	CLV("clone unaligned EOF block past dst EOF", 0, big, u, 0, 5000, 16384);
	CLV("clone a page", 0, big, rw, 4096, 4096, 0);
	if (on_xfs) {
		SAME("size after the clones", 16384 + 5000, pc_lseek(eng, big.e, 0, SEEK_END),
		     lseek(big.h, 0, SEEK_END));
		SAME("read back", 21384, pc_pread(eng, big.e, buf, 32768, 0),
		     pread(big.h, buf + 32768, 32768, 0));
		CHECK(!memcmp(buf, buf + 32768, 21384));
	}
	struct pair ps[] = {rw, ro, wo, ap, u, dir, path, g, big, s};
	for (unsigned i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
		close_pair(ps[i]);
	teardown();
}

/* One dedupe on both sides with one destination each; compares the call's
 * result, the status and bytes_deduped. @nox_status: the status where the
 * host cannot clone (the store's -EOPNOTSUPP once the ranges are equal). */
static void ddx(const char *what, long doc_ret, long doc_status, long nox_status, struct pair src,
		int64_t soff, uint64_t len, struct pair dst, int64_t doff, uint32_t reserved,
		uint16_t r1)
{
	struct {
		struct pc_dedupe_range r;
		struct pc_dedupe_range_info i[1];
	} ea = {0};
	struct {
		struct file_dedupe_range r;
		struct file_dedupe_range_info i[1];
	} ha = {0};
	char w[160];
	long er, hr;

	ea.r.src_offset = (uint64_t)soff;
	ea.r.src_length = len;
	ea.r.dest_count = 1;
	ea.r.reserved1 = r1;
	ea.i[0].dest_fd = dst.e;
	ea.i[0].dest_offset = (uint64_t)doff;
	ea.i[0].reserved = reserved;
	ha.r.src_offset = (uint64_t)soff;
	ha.r.src_length = len;
	ha.r.dest_count = 1;
	ha.r.reserved1 = r1;
	ha.i[0].dest_fd = dst.h;
	ha.i[0].dest_offset = (uint64_t)doff;
	ha.i[0].reserved = reserved;
	er = pc_dedupe_range(eng, src.e, &ea.r);
	hr = API_HOST(ioctl(src.h, FIDEDUPERANGE, &ha.r));
	CMP(what, doc_ret, er, hr);
	if (er == 0 && (!on_xfs || hr == 0)) {
		snprintf(w, sizeof(w), "%s: status", what);
		if (on_xfs)
			SAME_RAW(w, doc_status, ea.i[0].status, ha.i[0].status);
		else
			ONLY(w, nox_status, ea.i[0].status);
		snprintf(w, sizeof(w), "%s: bytes_deduped", what);
		if (on_xfs)
			SAME_RAW(w, 0, (long)ea.i[0].bytes_deduped, (long)ha.i[0].bytes_deduped);
	}
}

#define dd(what, ret, st, ...) ddx(what, ret, st, st, __VA_ARGS__)
#define dd_valid(what, ...)    ddx(what, 0, PC_DEDUPE_RANGE_SAME, -EOPNOTSUPP, __VA_ARGS__)

TEST(dedupe_range_errnos_as_the_kernel)
{
	on_xfs = remap_tmpdir_on_xfs();
	setup();
	make_file("a", 16384, 5);
	make_file("b", 16384, 5); /* same bytes as a */
	make_file("c", 16384, 6);
	struct pair a = open_pair("a", O_RDWR), b = open_pair("b", O_RDWR);
	struct pair c = open_pair("c", O_RDWR), bro = open_pair("b", O_RDONLY);
	struct pair awo = open_pair("a", O_WRONLY), dir = open_pair("d", O_RDONLY);
	struct pair bap = open_pair("b", O_WRONLY | O_APPEND), bad = {-1, -1};

	dd("dedupe src not readable", -EINVAL, 0, awo, 0, 4096, b, 0, 0, 0);
	dd("dedupe reserved1", -EINVAL, 0, a, 0, 4096, b, 0, 0, 1);
	dd("dedupe src directory", -EISDIR, 0, dir, 0, 4096, b, 0, 0, 0);
	dd("dedupe src_off -4096", -EINVAL, 0, a, -4096, 4096, b, 0, 0, 0);
	dd("dedupe len 2^63", -EINVAL, 0, a, 0, (uint64_t)1 << 63, b, 0, 0, 0);
	dd("dedupe src range past EOF", -EINVAL, 0, a, 8192, 16384, b, 0, 0, 0);
	dd("dedupe bad dst fd", 0, -EBADF, a, 0, 4096, bad, 0, 0, 0);
	dd("dedupe dst reserved", 0, -EINVAL, a, 0, 4096, b, 0, 1, 0);
	dd("dedupe dst directory", 0, -EISDIR, a, 0, 4096, dir, 0, 0, 0);
	dd("dedupe dst_off -4096", 0, -EINVAL, a, 0, 4096, b, -4096, 0, 0);
	dd("dedupe src_off unaligned", 0, -EINVAL, a, 100, 4096, b, 0, 0, 0);
	dd("dedupe dst_off unaligned", 0, -EINVAL, a, 0, 4096, b, 100, 0, 0);
	dd("dedupe dst range past EOF", 0, -EINVAL, a, 0, 8192, b, 12288, 0, 0);
	dd("dedupe overlap in one file", 0, -EINVAL, a, 0, 8192, a, 4096, 0, 0);
	dd("dedupe len 0", 0, PC_DEDUPE_RANGE_SAME, a, 0, 0, b, 0, 0, 0);
	dd("dedupe differs", 0, PC_DEDUPE_RANGE_DIFFERS, a, 0, 8192, c, 0, 0, 0);
	dd_valid("dedupe same", a, 0, 8192, b, 0, 0, 0);
	dd_valid("dedupe same, unaligned length (shortened)", a, 0, 5000, b, 0, 0, 0);
	dd_valid("dedupe dst read-only fd (root or owner: allowed)", a, 0, 4096, bro, 0, 0, 0);
	dd_valid("dedupe dst O_APPEND", a, 4096, 4096, bap, 4096, 0, 0);
	/* more destinations than a page holds */
	{
		size_t n = 200;
		struct pc_dedupe_range *r =
		    calloc(1, sizeof(*r) + n * sizeof(struct pc_dedupe_range_info));
		struct file_dedupe_range *h =
		    calloc(1, sizeof(*h) + n * sizeof(struct file_dedupe_range_info));
		CHECK(r && h);
		r->dest_count = h->dest_count = (uint16_t)n;
		r->src_length = h->src_length = 4096;
		CMP("dedupe 200 destinations", -ENOMEM, pc_dedupe_range(eng, a.e, r),
		    ioctl(a.h, FIDEDUPERANGE, h));
		free(r);
		free(h);
	}
	ONLY("dedupe NULL arg", -EFAULT, pc_dedupe_range(eng, a.e, NULL));
	SAME("dedupe bad src fd", -EBADF, pc_dedupe_range(eng, 999, NULL),
	     ioctl(999, FIDEDUPERANGE, NULL));
	struct pair ps[] = {a, b, c, bro, awo, dir, bap};
	for (unsigned i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
		close_pair(ps[i]);
	teardown();
}

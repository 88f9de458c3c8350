/* SPDX-License-Identifier: MIT */
/*
 * model_ops_remap.c - test_model's steps for pc_clone_range,
 * pc_dedupe_range and pc_copy_file_range (model_ops.h).
 *
 * The model's own semantics are Linux's rules (fs/remap_range.c,
 * fs/read_write.c; page-sized blocks): every check and errno, the lengths
 * (a clone to the source's EOF, a dedupe shortened to whole blocks), and the
 * bytes: a clone copies them, a dedupe never changes them, copy_file_range
 * copies them. Whether the store shares blocks is learnt from the first
 * valid clone (0, or -EOPNOTSUPP from the store: dir on ext4) and must
 * stay so. copy_file_range shares the page-aligned part where the store
 * can (a short count, as Linux on XFS), else copies everything. With
 * PC_MODEL_HOST (the host kernel on ext4) copy_file_range is checked as on
 * the engine; clone and dedupe are not run there: ext4 refuses them before
 * any check.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "model_ops.h"

/* -1 not known yet, 0 the store refuses (-EOPNOTSUPP), 1 it shares */
static int can_clone = -1;
unsigned long remap_shared, remap_refused;

static ssize_t b_copy_file_range(int in, int64_t *oin, int out, int64_t *oout, size_t len)
{
	if (!host)
		return pc_copy_file_range(eng, in, oin, out, oout, len, 0);
	loff_t a = oin ? *oin : 0, b = oout ? *oout : 0;
	ssize_t r = copy_file_range(in, oin ? &a : NULL, out, oout ? &b : NULL, len, 0);
	if (r < 0)
		return -errno;
	if (oin)
		*oin = a;
	if (oout)
		*oout = b;
	return r;
}

static int64_t gen_remap_off(size_t size)
{
	if (chance(3))
		return (int64_t)rnd(size + 1); /* unaligned */
	if (chance(2))
		return -PAGE;
	return (int64_t)rnd(size / PAGE + 2) * PAGE;
}

static uint64_t gen_remap_len(void)
{
	if (chance(15))
		return 0;
	if (chance(5))
		return 1 + rnd(3 * PAGE);
	return (1 + rnd(16)) * PAGE;
}

/* generic_remap_checks (@dedup: both ranges inside EOF; @shorten: the
 * caller takes a shorter count). 0 and *count, or -errno. */
static long remap_checks(const struct mnode *src, int64_t pin, const struct mnode *dst,
			 int64_t pout, int64_t *count, bool dedup, bool shorten)
{
	int64_t c = *count, bc, si = (int64_t)src->size, so = (int64_t)dst->size;

	if (pin % PAGE || pout % PAGE)
		return -EINVAL;
	if (dedup && (pin >= si || pin + c > si || pout >= so || pout + c > so))
		return -EINVAL;
	if (pin >= si)
		return -EINVAL;
	if (c > si - pin)
		c = si - pin;
	if (pin + c == si && (!dedup || pout + c == so)) {
		bc = (si + PAGE - 1) / PAGE * PAGE - pin;
	} else {
		c -= c % PAGE;
		bc = c;
	}
	if (src == dst && pout + bc > pin && pout < pin + bc)
		return -EINVAL;
	if (c != *count && !shorten)
		return -EINVAL;
	*count = c;
	return 0;
}

/* generic_remap_check_len */
static long remap_check_len(const struct mnode *dst, int64_t pout, int64_t *len, bool dedup,
			    bool shorten)
{
	int64_t nl = *len;

	if (*len % PAGE == 0)
		return 0;
	if (pout + *len < (int64_t)dst->size)
		nl -= nl % PAGE;
	if (nl == *len)
		return 0;
	if (shorten) {
		*len = nl;
		return 0;
	}
	return dedup ? -EBADE : -EINVAL;
}

/* The store's answer to a valid remap: learnt once, then checked. */
static bool store_shares(long got)
{
	if (can_clone < 0 && (got == 0 || got == -EOPNOTSUPP))
		can_clone = got == 0;
	return can_clone == 1;
}

static void copy_bytes(struct mnode *dst, int64_t pout, const struct mnode *src, int64_t pin,
		       int64_t len)
{
	uint8_t *tmp = malloc((size_t)len + 1);
	CHECK(tmp);
	memcpy(tmp, src->data + pin, (size_t)len);
	file_write(dst, (size_t)pout, tmp, (size_t)len);
	free(tmp);
}

void op_clone(void)
{
	int di = pick_fd_for(NEED_WRITE), si = pick_fd_for(NEED_READ);
	if (di < 0 || si < 0 || host)
		return;
	struct mfd *d = &fds[di], *s = &fds[si];
	struct mnode *dn = d->node, *sn = s->node;
	int64_t pin = gen_remap_off(sn->dir ? 0 : sn->size);
	int64_t pout = gen_remap_off(dn->dir ? 0 : dn->size);
	int64_t len = (int64_t)gen_remap_len(), req = len;
	long want = 0;

	if (chance(30) && !sn->dir) { /* to (or just short of) the source's EOF */
		pin = (int64_t)rnd(sn->size / PAGE + 1) * PAGE;
		len = req = chance(50) ? 0 : (int64_t)sn->size - pin;
	}
	if (pout + (len ? len : (int64_t)(sn->dir ? 0 : sn->size)) > CAP)
		pout = 0;
	note("clone(dst fd %d, src fd %d, %lld, %lld, %lld) sizes %zu %zu", d->fd, s->fd,
	     (long long)pin, (long long)len, (long long)pout, sn->size, dn->size);
	if (pin < 0 || pout < 0)
		want = -EINVAL;
	else if (sn->dir || dn->dir)
		want = -EISDIR;
	else if (s->acc == O_WRONLY || d->acc == O_RDONLY || d->append)
		want = -EBADF;
	else if (len == 0 && pin >= (int64_t)sn->size)
		want = pin == (int64_t)sn->size ? 0 : -EINVAL;
	else {
		if (len == 0)
			len = req = (int64_t)sn->size - pin;
		want = remap_checks(sn, pin, dn, pout, &len, false, false);
		if (!want)
			want = remap_check_len(dn, pout, &len, false, false);
		if (!want && req && len != req)
			want = -EINVAL;
	}
	long got = pc_clone_range(eng, d->fd, s->fd, pin, (uint64_t)req, pout);
	if (want == 0 && len > 0) {
		if (!store_shares(got)) {
			EXPECT(got, -EOPNOTSUPP);
			remap_refused++;
			return;
		}
		remap_shared++;
	}
	EXPECT(got, want);
	if (got == 0 && len > 0)
		copy_bytes(dn, pout, sn, pin, len);
}

void op_dedupe(void)
{
	int si = pick_fd_for(NEED_READ), di = pick_fd_for(NEED_FILE);
	if (si < 0 || di < 0 || host)
		return;
	struct mfd *s = &fds[si], *d = &fds[di];
	struct mnode *sn = s->node, *dn = d->node;
	int64_t pin = gen_remap_off(sn->dir ? 0 : sn->size);
	int64_t pout = gen_remap_off(dn->dir ? 0 : dn->size);
	int64_t len = (int64_t)gen_remap_len();
	long want = 0, wstatus = PC_DEDUPE_RANGE_SAME;
	struct {
		struct pc_dedupe_range r;
		struct pc_dedupe_range_info i[1];
	} a = {0};

	if (chance(40) && !sn->dir && !dn->dir && sn != dn) {
		/* make the ranges equal in the file being deduped into, often */
		int64_t n = (int64_t)(rnd(8) + 1) * PAGE;
		pin = (int64_t)rnd(sn->size / PAGE + 1) * PAGE;
		pout = (int64_t)rnd(dn->size / PAGE + 1) * PAGE;
		if (pin + n > (int64_t)sn->size)
			n = (int64_t)sn->size - pin;
		if (pout + n > (int64_t)dn->size)
			n = (int64_t)dn->size - pout;
		len = n > 0 ? n : 0;
		if (len && chance(70) && d->acc != O_RDONLY && !d->append && !d->direct) {
			EXPECT(pc_pwrite(eng, d->fd, sn->data + pin, (size_t)len, pout), len);
			file_write(dn, (size_t)pout, sn->data + pin, (size_t)len);
		}
	}
	a.r.src_offset = (uint64_t)pin;
	a.r.src_length = (uint64_t)len;
	a.r.dest_count = 1;
	a.i[0].dest_fd = d->fd;
	a.i[0].dest_offset = (uint64_t)pout;
	note("dedupe(src fd %d, %lld, %lld -> fd %d, %lld) sizes %zu %zu", s->fd, (long long)pin,
	     (long long)len, d->fd, (long long)pout, sn->size, dn->size);
	if (s->acc == O_WRONLY)
		want = -EINVAL;
	else if (sn->dir)
		want = -EISDIR;
	else if (pin < 0 || pin + len > (int64_t)sn->size)
		want = -EINVAL;
	else if (pout < 0)
		wstatus = -EINVAL;
	else if (dn->dir)
		wstatus = -EISDIR;
	else if (len > 0) {
		int64_t l = len;
		wstatus = remap_checks(sn, pin, dn, pout, &l, true, true);
		if (!wstatus && l > 0 && memcmp(sn->data + pin, dn->data + pout, (size_t)l))
			wstatus = PC_DEDUPE_RANGE_DIFFERS;
		if (!wstatus)
			wstatus = remap_check_len(dn, pout, &l, true, true);
		if (!wstatus && l > 0)
			wstatus = 1000; /* the store decides */
	}
	long got = pc_dedupe_range(eng, s->fd, &a.r);
	EXPECT(got, want);
	if (got)
		return;
	long st = a.i[0].status;
	if (wstatus == 1000) {
		if (!store_shares(st)) {
			EXPECT(st, -EOPNOTSUPP);
			remap_refused++;
			return;
		}
		remap_shared++;
		wstatus = PC_DEDUPE_RANGE_SAME;
	}
	EXPECT(st, wstatus);
	EXPECT(a.i[0].bytes_deduped, st == PC_DEDUPE_RANGE_SAME ? (uint64_t)len : 0);
}

void op_copy_file_range(void)
{
	int ii = pick_fd_for(NEED_READ), oi = pick_fd_for(NEED_WRITE);
	if (ii < 0 || oi < 0)
		return;
	struct mfd *in = &fds[ii], *out = &fds[oi];
	/* O_DIRECT files copy directly, with the direct I/O alignment rules
	 * of each side (test_badinput_remap compares one such case with the
	 * kernel); the model leaves them out */
	if (in->direct || out->direct)
		return;
	struct mnode *sn = in->node, *dn = out->node;
	bool use_pos = chance(20);
	int64_t pin = use_pos ? in->pos : gen_off(sn->dir ? 0 : sn->size);
	int64_t pout = use_pos ? out->pos : gen_off(dn->dir ? 0 : dn->size);
	size_t len = chance(3) ? 0 : gen_len();
	long want;

	if (!use_pos && chance(40) && !sn->dir) { /* page-aligned: shared where the store can */
		pin = (int64_t)rnd(sn->size / PAGE + 1) * PAGE;
		pout = (int64_t)rnd(dn->dir ? 1 : dn->size / PAGE + 2) * PAGE;
		len = (size_t)(rnd(16) + 1) * PAGE + (chance(30) ? rnd(PAGE) : 0);
	}
	if (!use_pos && chance(2))
		pin = -1;
	if (pout >= 0 && pout + (int64_t)len > CAP)
		len = pout < CAP ? (size_t)(CAP - pout) : 0;
	note("copy_file_range(fd %d @%lld -> fd %d @%lld, %zu)%s sizes %zu %zu", in->fd,
	     (long long)pin, out->fd, (long long)pout, len, use_pos ? " at the positions" : "",
	     sn->size, dn->size);
	int64_t c = (int64_t)len;
	if (sn->dir || dn->dir)
		want = -EISDIR;
	else if (in->acc == O_WRONLY || out->acc == O_RDONLY || out->append)
		want = -EBADF;
	else if (pin < 0 && (uint64_t)pin + len < (uint64_t)pin)
		want = -EOVERFLOW;
	else {
		if (pin >= (int64_t)sn->size)
			c = 0;
		else if (c > (int64_t)sn->size - pin)
			c = (int64_t)sn->size - pin;
		if (sn == dn && pout + c > pin && pout < pin + c)
			want = -EINVAL;
		else if (pin < 0 || pout < 0)
			want = -EINVAL;
		else
			want = c;
	}
	int64_t a = pin, b = pout;
	long got =
	    b_copy_file_range(in->fd, use_pos ? NULL : &a, out->fd, use_pos ? NULL : &b, len);
	if (want > 0 && !host) {
		/* a clone of the page-aligned part first (REMAP_FILE_CAN_SHORTEN):
		 * where the store shares, a shorter count */
		int64_t l = want;
		if (!remap_checks(sn, pin, dn, pout, &l, false, true) &&
		    !remap_check_len(dn, pout, &l, false, true) && l > 0 && l < want) {
			if (can_clone < 0 && (got == l || got == want))
				can_clone = got == l;
			if (can_clone == 1)
				want = l;
		}
	}
	EXPECT(got, want);
	if (got <= 0)
		return;
	copy_bytes(dn, pout, sn, pin, got);
	if (use_pos) {
		in->pos = pin + got;
		out->pos = pout + got; /* one fd: both are its position, as Linux */
	} else {
		EXPECT(a, pin + got);
		EXPECT(b, pout + got);
	}
}

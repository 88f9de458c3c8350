/* SPDX-License-Identifier: MIT */
/*
 * model_ops_io.c - test_model's steps for the fd and data calls (see
 * model_ops.h): open with flag combinations, close, read/write/pread/pwrite,
 * preadv2/pwritev2 with multi-segment iovecs and RWF flags, O_DIRECT I/O,
 * lseek including SEEK_DATA/SEEK_HOLE, fsync/fdatasync, ftruncate,
 * fallocate in every mode, fadvise and fstat. Each runs the call on the
 * backend, compares every byte and errno with the model, then updates it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "harness.h"
#include "model_ops.h"
#include "pagecache.h"

/* ---- ops ---- */

void op_open(void)
{
	static const int accs[] = {O_RDONLY, O_WRONLY, O_RDWR};
	struct mpath p;
	gen_path(&p, chance(8));
	int acc = accs[rnd(3)];
	int flags = acc;
	if (chance(50))
		flags |= O_CREAT;
	if (chance(15))
		flags |= O_EXCL;
	if (chance(8))
		flags |= O_TRUNC;
	if (chance(20))
		flags |= O_APPEND;
	if (!(flags & O_CREAT) && chance(8))
		flags |= O_DIRECTORY;
	if (!(flags & O_APPEND) && chance(5))
		flags |= O_DIRECT;
	note("open(%s, %s%s%s%s%s%s%s)", p.str,
	     acc == O_RDONLY   ? "RDONLY"
	     : acc == O_WRONLY ? "WRONLY"
			       : "RDWR",
	     flags & O_CREAT ? "|CREAT" : "", flags & O_EXCL ? "|EXCL" : "",
	     flags & O_TRUNC ? "|TRUNC" : "", flags & O_APPEND ? "|APPEND" : "",
	     flags & O_DIRECTORY ? "|DIRECTORY" : "", flags & O_DIRECT ? "|DIRECT" : "");

	if (nfds == MAXFD) {
		int i = pick_fd();
		EXPECT(b_close(fds[i].fd), 0);
		drop_fd(i);
	}

	struct mnode *par, *n = NULL;
	int want = resolve_parent(&p, &par);
	if (!want) {
		n = par->kids[p.comp[p.n - 1]];
		if (n) {
			if ((flags & O_CREAT) && (flags & O_EXCL))
				want = -EEXIST;
			else if ((flags & O_CREAT) && n->dir)
				want = -EISDIR;
			else if ((flags & O_DIRECTORY) && !n->dir)
				want = -ENOTDIR;
			else if (n->dir && (acc != O_RDONLY || (flags & O_TRUNC)))
				want = -EISDIR;
			else if (n->dir && (flags & O_DIRECT))
				want = -EINVAL;
		} else if (!(flags & O_CREAT)) {
			want = -ENOENT;
		}
	}
	int fd = b_open(p.str, flags, 0644);
	if (want == -EINVAL && n && n->dir && fd >= 0)
		want = 0; /* O_DIRECT on a directory: Linux says EINVAL, the engine may
			   * open it (test_badinput reports the difference) */
	if (want) {
		if (fd >= 0)
			b_close(fd);
		EXPECT(fd, want);
		return;
	}
	if (fd < 0)
		FAIL("open: got %s, model says success", errname(fd));
	for (int i = 0; i < nfds; i++)
		if (fds[i].fd == fd)
			FAIL("open returned fd %d, which is already open", fd);
	if (!n)
		n = node_new(false, par, p.comp[p.n - 1]);
	else if ((flags & O_TRUNC) && !n->dir)
		file_resize(n, 0);
	n->opens++;
	fds[nfds++] = (struct mfd){.fd = fd,
				   .node = n,
				   .acc = acc,
				   .append = !!(flags & O_APPEND),
				   .direct = !!(flags & O_DIRECT),
				   .pos = 0};
}

void op_close(void)
{
	int i = pick_fd();
	if (i < 0)
		return;
	note("close(fd %d)", fds[i].fd);
	EXPECT(b_close(fds[i].fd), 0);
	drop_fd(i);
}

void check_bytes(const struct mnode *n, int64_t off, const uint8_t *got, size_t len)
{
	if (!len || !memcmp(n->data + off, got, len))
		return;
	for (size_t i = 0; i < len; i++)
		if (n->data[off + (int64_t)i] != got[i])
			FAIL("byte at file offset %lld (+%zu) is 0x%02x, model says 0x%02x (file "
			     "size "
			     "%zu)",
			     (long long)(off + (int64_t)i), i, got[i], n->data[off + (int64_t)i],
			     n->size);
}

/* Expected result of a read of @len at @off on fd @f (-errno or count). */
static long read_expect(const struct mfd *f, int64_t off, size_t len)
{
	if (f->acc == O_WRONLY)
		return -EBADF;
	if (f->node->dir)
		return -EISDIR;
	if (off >= (int64_t)f->node->size)
		return 0;
	size_t avail = f->node->size - (size_t)off;
	return (long)(len < avail ? len : avail);
}

static long write_expect(const struct mfd *f)
{
	if (f->acc == O_RDONLY)
		return -EBADF;
	return 0;
}

/* Splits [0, len) of @buf into 1-6 segments (some empty); DIO: page multiples. */
static int gen_iov(struct iovec *iov, uint8_t *buf, size_t len, bool dio)
{
	int cnt = 1 + (int)rnd(6);
	size_t left = len, at = 0;
	for (int i = 0; i < cnt; i++) {
		size_t l;
		if (i == cnt - 1)
			l = left;
		else if (dio)
			l = (size_t)rnd(left / PAGE + 1) * PAGE;
		else
			l = chance(15) ? 0 : (size_t)rnd(left + 1);
		iov[i].iov_base = buf + at;
		iov[i].iov_len = l;
		at += l;
		left -= l;
	}
	return cnt;
}

/* Read ops: read / pread / preadv2. */
void op_readish(int kind)
{
	int i = pick_fd_for(NEED_READ);
	if (i < 0)
		return;
	struct mfd *f = &fds[i];
	struct mnode *n = f->node;
	size_t size = n->dir ? 0 : n->size;
	bool dio = f->direct;
	int64_t off;
	size_t len;
	int rwf = 0;
	bool usepos = kind == OP_READ;

	if (dio) {
		if (kind == OP_READ)
			kind = OP_PREAD;
		usepos = false;
		off = (int64_t)rnd(size / PAGE + 2) * PAGE;
		len = (size_t)(1 + rnd(16)) * PAGE;
	} else {
		off = gen_off(size);
		len = gen_len();
		if (kind == OP_PREADV2 && chance(30))
			usepos = true;
	}
	if (kind == OP_PREADV2 && !n->dir) {
		unsigned r = (unsigned)rnd(10);
		rwf = r == 0 ? RWF_NOWAIT : r == 1 ? RWF_HIPRI : r == 2 ? RWF_DSYNC : 0;
	}
	if (usepos)
		off = f->pos;
	if (n->dir && !len)
		len = 1; /* readv of nothing on a directory: 0 on Linux, not EISDIR */
	if (off > CAP)
		off = CAP;
	if ((size_t)off + len > CAP + 2 * PAGE)
		len = CAP + 2 * PAGE - (size_t)off;

	note("%s(fd %d, off %lld%s, len %zu, rwf 0x%x) size %zu%s%s", op_names[kind], f->fd,
	     (long long)off, usepos ? " (pos)" : "", len, rwf, size, dio ? " DIO" : "",
	     n->dir ? " DIR" : "");
	long want = read_expect(f, off, len);
	long got;
	memset(rbuf, 0xE7, len < 64 ? len : 64);
	switch (kind) {
	case OP_READ:
		got = b_read(f->fd, rbuf, len);
		break;
	case OP_PREAD:
		got = b_pread(f->fd, rbuf, len, off);
		break;
	default: {
		struct iovec iov[8];
		int cnt = gen_iov(iov, rbuf, len, dio);
		got = b_preadv2(f->fd, iov, cnt, usepos ? -1 : off, rwf);
		break;
	}
	}
	if ((rwf & RWF_NOWAIT) && want > 0) {
		/* may fail with EAGAIN or read a prefix */
		if (got == -EAGAIN) {
			nowait_eagain++;
			return;
		}
		if (got > 0 && got < want)
			want = got;
	}
	EXPECT(got, want);
	if (got < 0)
		return;
	check_bytes(n, off, rbuf, (size_t)got);
	if (usepos)
		f->pos = off + got;
}

void op_writeish(int kind)
{
	int i = pick_fd_for(NEED_WRITE);
	if (i < 0)
		return;
	struct mfd *f = &fds[i];
	struct mnode *n = f->node;
	size_t size = n->dir ? 0 : n->size;
	bool dio = f->direct;
	int64_t off;
	size_t len;
	int rwf = 0;
	bool usepos = kind == OP_WRITE;

	if (dio) {
		if (kind == OP_WRITE)
			kind = OP_PWRITE;
		usepos = false;
		off = (int64_t)rnd(size / PAGE + 2) * PAGE;
		len = (size_t)(1 + rnd(16)) * PAGE;
	} else {
		off = gen_off(size);
		len = gen_len();
		if (kind == OP_PWRITEV2 && chance(30))
			usepos = true;
	}
	if (kind == OP_PWRITEV2 && !n->dir) {
		/* the sync flags cost a host fsync each: rarer */
		unsigned r = (unsigned)rnd(24);
		rwf = r < 2 ? RWF_NOWAIT : r == 2 ? RWF_DSYNC : r == 3 ? RWF_SYNC : 0;
		if (!dio && (r == 4 || r == 5))
			rwf = RWF_APPEND;
	}
	if (usepos)
		off = f->pos;
	bool append = !dio && (f->append || (rwf & RWF_APPEND));
	int64_t at = append ? (int64_t)size : off;
	if (at >= CAP)
		len = 0;
	else if ((size_t)at + len > CAP)
		len = CAP - (size_t)at;
	if (dio)
		len &= ~(size_t)(PAGE - 1);

	note("%s(fd %d, off %lld%s, len %zu, rwf 0x%x) size %zu%s%s%s", op_names[kind], f->fd,
	     (long long)off, usepos ? " (pos)" : "", len, rwf, size, append ? " APPEND" : "",
	     dio ? " DIO" : "", n->dir ? " DIR" : "");
	long want = write_expect(f);
	if (!want)
		want = (long)len;
	const uint8_t *src = gen_data(len, dio);
	long got;
	switch (kind) {
	case OP_WRITE:
		got = b_write(f->fd, src, len);
		break;
	case OP_PWRITE:
		got = b_pwrite(f->fd, src, len, off);
		break;
	default: {
		struct iovec iov[8];
		int cnt = gen_iov(iov, (uint8_t *)src, len, dio);
		got = b_pwritev2(f->fd, iov, cnt, usepos ? -1 : off, rwf);
		break;
	}
	}
	if ((rwf & RWF_NOWAIT) && want > 0) {
		if (got == -EAGAIN || got == -EOPNOTSUPP) {
			nowait_eagain++;
			return;
		}
		if (got > 0 && got < want)
			want = got;
	}
	EXPECT(got, want);
	if (got < 0)
		return;
	file_write(n, (size_t)at, src, (size_t)got);
	if (usepos) /* an empty write does not move an O_APPEND position to EOF */
		f->pos = got ? at + got : off;
}

static size_t first_nonzero(const struct mnode *n, size_t from)
{
	const uint8_t *d = n->data;
	size_t i = from;
	while (i < n->size && (i & 7))
		if (d[i++])
			return i - 1;
	while (i + 8 <= n->size) {
		uint64_t w;
		memcpy(&w, d + i, 8);
		if (w)
			break;
		i += 8;
	}
	for (; i < n->size; i++)
		if (d[i])
			return i;
	return n->size;
}

void op_lseek(void)
{
	int i = pick_fd_for(NEED_FILE);
	if (i < 0)
		return;
	struct mfd *f = &fds[i];
	struct mnode *n = f->node;
	if (n->dir)
		return;
	int whence = (int)rnd(5);
	int64_t off;
	switch (whence) {
	case SEEK_SET:
		off = chance(5) ? -(int64_t)rnd(PAGE) - 1 : gen_off(n->size);
		break;
	case SEEK_CUR:
		off = chance(5) ? -f->pos - 1 - (int64_t)rnd(10) : gen_off(n->size) - f->pos;
		break;
	case SEEK_END:
		off = chance(5) ? -(int64_t)n->size - 1 : gen_off(n->size) - (int64_t)n->size;
		break;
	default:
		off = chance(80) ? gen_off(n->size) : (int64_t)rnd(n->size + 1);
		whence = chance(50) ? SEEK_DATA : SEEK_HOLE;
		break;
	}
	if (chance(1))
		whence = 5 + (int)rnd(3);
	note("lseek(fd %d, %lld, %d) size %zu pos %lld", f->fd, (long long)off, whence, n->size,
	     (long long)f->pos);
	off_t got = b_lseek(f->fd, off, whence);
	int64_t want;
	switch (whence) {
	case SEEK_SET:
		want = off;
		break;
	case SEEK_CUR:
		want = f->pos + off;
		break;
	case SEEK_END:
		want = (int64_t)n->size + off;
		break;
	case SEEK_DATA:
	case SEEK_HOLE:
		if (off < 0 || off >= (int64_t)n->size) {
			EXPECT(got, -ENXIO);
			return;
		}
		if (whence == SEEK_DATA) {
			size_t nz = first_nonzero(n, (size_t)off);
			if (got == -ENXIO && nz == n->size) {
				seek_data_enxio_zero++;
				return;
			}
			if (got < off || (size_t)got > nz || (size_t)got >= n->size)
				FAIL("SEEK_DATA from %lld returned %s; first non-zero byte at %zu, "
				     "size %zu",
				     (long long)off, errname(got), nz, n->size);
		} else {
			if (got < off || (size_t)got > n->size ||
			    ((size_t)got < n->size && n->data[got]))
				FAIL("SEEK_HOLE from %lld returned %s; size %zu, byte there 0x%02x",
				     (long long)off, errname(got), n->size,
				     got >= 0 && (size_t)got < n->size ? n->data[got] : 0);
		}
		f->pos = got;
		return;
	default:
		EXPECT(got, -EINVAL);
		return;
	}
	if (want < 0)
		want = -EINVAL;
	EXPECT(got, want);
	if (got >= 0)
		f->pos = got;
}

void op_fsync(void)
{
	int i = pick_fd();
	if (i < 0)
		return;
	bool data = chance(50);
	note("%s(fd %d)", data ? "fdatasync" : "fsync", fds[i].fd);
	EXPECT(b_fsync(fds[i].fd, data), 0);
}

void op_ftruncate(void)
{
	int i = pick_fd_for(NEED_WRITE);
	if (i < 0)
		return;
	struct mfd *f = &fds[i];
	struct mnode *n = f->node;
	size_t size = n->dir ? 0 : n->size;
	int64_t len;
	switch (rnd(6)) {
	case 0:
		len = size ? (int64_t)rnd(size) : 0;
		break;
	case 1:
		len = (int64_t)size + 1 + (int64_t)rnd(65536);
		break;
	case 2:
		len = (int64_t)rnd(size / PAGE + 2) * PAGE + (int64_t)rnd(5) - 2;
		break;
	case 3:
		len = chance(10) ? -1 - (int64_t)rnd(100) : 0;
		break;
	default:
		len = gen_off(size);
		break;
	}
	if (len > CAP)
		len = CAP;
	if (len < -1000)
		len = 0;
	note("ftruncate(fd %d, %lld) size %zu%s", f->fd, (long long)len, size,
	     n->dir ? " DIR" : "");
	long want = 0;
	if (len < 0)
		want = -EINVAL;
	else if (n->dir || f->acc == O_RDONLY)
		want = -EINVAL;
	int got = b_ftruncate(f->fd, len);
	EXPECT(got, want);
	if (got < 0)
		return;
	file_resize(n, (size_t)len);
}

void op_fallocate(void)
{
	static const int modes[] = {
	    0,
	    FALLOC_FL_KEEP_SIZE,
	    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	    FALLOC_FL_ZERO_RANGE,
	    FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
	    FALLOC_FL_COLLAPSE_RANGE,
	    FALLOC_FL_INSERT_RANGE,
	};
	int i = pick_fd_for(NEED_WRITE);
	if (i < 0)
		return;
	struct mfd *f = &fds[i];
	struct mnode *n = f->node;
	size_t size = n->dir ? 0 : n->size;
	int mode = modes[rnd(7)];
	int64_t off, len;
	bool shift = mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE);
	if (shift && chance(85)) {
		off = (int64_t)rnd(size / PAGE + 1) * PAGE;
		len = (int64_t)(1 + rnd(8)) * PAGE;
	} else {
		off = gen_off(size);
		len = (int64_t)gen_len();
	}
	if (chance(2))
		len = -(int64_t)rnd(2);
	if (off + len > CAP)
		len = CAP - off;
	if (mode == FALLOC_FL_INSERT_RANGE && (int64_t)size + len > CAP)
		len = ((int64_t)(CAP - size) / PAGE) * PAGE;
	note("fallocate(fd %d, mode 0x%x, %lld, %lld) size %zu", f->fd, mode, (long long)off,
	     (long long)len, size);

	long want = 0;
	if (off < 0 || len <= 0)
		want = -EINVAL;
	else if (f->acc == O_RDONLY)
		want = -EBADF;
	else if (n->dir)
		want = -EISDIR;
	else if (mode == FALLOC_FL_COLLAPSE_RANGE &&
		 ((off | len) % PAGE || off + len >= (int64_t)size))
		want = -EINVAL;
	else if (mode == FALLOC_FL_INSERT_RANGE && ((off | len) % PAGE || off >= (int64_t)size))
		want = -EINVAL;
	int got = b_fallocate(f->fd, mode, off, len);
	if (got == -EOPNOTSUPP && mode && (want == 0 || want == -EINVAL)) {
		/* allowed only if nothing changed: later reads check that */
		falloc_unsupported++;
		return;
	}
	EXPECT(got, want);
	if (got < 0)
		return;
	size_t end = (size_t)(off + len);
	switch (mode) {
	case 0:
	case FALLOC_FL_ZERO_RANGE:
		if (mode)
			file_zero(n, (size_t)off, end);
		if (end > n->size)
			file_resize(n, end);
		break;
	case FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE:
	case FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE:
		file_zero(n, (size_t)off, end);
		break;
	case FALLOC_FL_COLLAPSE_RANGE:
		memmove(n->data + off, n->data + end, n->size - end);
		n->size -= (size_t)len;
		break;
	case FALLOC_FL_INSERT_RANGE: {
		size_t old = n->size;
		file_resize(n, old + (size_t)len);
		memmove(n->data + end, n->data + off, old - (size_t)off);
		memset(n->data + off, 0, (size_t)len);
		break;
	}
	default:
		break;
	}
	if (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE))
		mview_file_shifted(n, off);
}

void op_fadvise(void)
{
	static const int adv[] = {POSIX_FADV_NORMAL,   POSIX_FADV_SEQUENTIAL, POSIX_FADV_RANDOM,
				  POSIX_FADV_WILLNEED, POSIX_FADV_DONTNEED,   POSIX_FADV_NOREUSE,
				  POSIX_FADV_WILLNEED, POSIX_FADV_DONTNEED};
	int i = pick_fd_for(NEED_FILE);
	if (i < 0)
		return;
	struct mfd *f = &fds[i];
	if (f->node->dir)
		return;
	int a = adv[rnd(8)];
	int64_t off = chance(30) ? 0 : gen_off(f->node->size);
	int64_t len = chance(30) ? 0 : (int64_t)gen_len() * (chance(50) ? 8 : 1);
	if (chance(2))
		len = -1;
	note("fadvise(fd %d, %lld, %lld, %d)", f->fd, (long long)off, (long long)len, a);
	EXPECT(b_fadvise(f->fd, off, len, a), len < 0 ? -EINVAL : 0);
}

void op_fstat(void)
{
	int i = pick_fd();
	if (i < 0)
		return;
	struct mfd *f = &fds[i];
	struct stat st;
	note("fstat(fd %d)", f->fd);
	EXPECT(b_fstat(f->fd, &st), 0);
	if (f->node->dir) {
		if (!S_ISDIR(st.st_mode))
			FAIL("fstat of a directory fd: mode 0%o", st.st_mode);
	} else {
		if (!S_ISREG(st.st_mode))
			FAIL("fstat of a file fd: mode 0%o", st.st_mode);
		EXPECT(st.st_size, f->node->size);
	}
}

/* SPDX-License-Identifier: MIT */
/*
 * test_badinput.c - invalid inputs to every call of the public API, and the
 * errno each gets.
 *
 * The contract (include/pagecache.h) is "every call returns what the
 * kernel's equivalent returns". So, wherever the host kernel has the same
 * call, the expected errno is not written down here: the test makes the
 * same bad call against the kernel on an identical layout in another
 * temporary directory and compares. The errno expected when the check was written is kept
 * beside each check; where the kernel disagrees with it the kernel wins
 * and a "# note" line says so. Calls with no kernel equivalent (paths that
 * leave the store, the engine itself) are checked against the documented
 * value.
 *
 * Every mismatch is printed ("# MISMATCH ...") and the test fails at the end
 * if there was any, so one run lists them all. "SOFT" checks compare calls
 * whose answer depends on the kernel version or on a file system detail
 * outside the contract; they are reported, never failed.
 *
 * Here: every fd-taking call on fds that are not open and in the wrong
 * mode, bad offsets, counts and flags, fallocate modes, bad buffers and
 * O_DIRECT alignment, the engine itself, and store errors reaching the
 * caller. Paths and names are in test_badinput_names.c, the shared helpers
 * in badinput_fixture.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "api/engine_internal.h"
#include "badinput_fixture.h"
#include "harness.h"
#include "model.h"
#include "pagecache.h"
#include "store/store.h"

/* Every fd-taking call on an fd that is not open: -EBADF. */
static void bad_fd_calls(const char *label, int efd, int hfd)
{
	char what[128];
	struct stat st;
	struct iovec iov = {buf, 16};
	struct pc_dirent de;
#define W(call) (snprintf(what, sizeof(what), "%s on %s fd", call, label), what)
	SAME(W("read"), -EBADF, pc_read(eng, efd, buf, 16), read(hfd, buf, 16));
	SAME(W("write"), -EBADF, pc_write(eng, efd, buf, 16), write(hfd, buf, 16));
	SAME(W("pread"), -EBADF, pc_pread(eng, efd, buf, 16, 0), pread(hfd, buf, 16, 0));
	SAME(W("pwrite"), -EBADF, pc_pwrite(eng, efd, buf, 16, 0), pwrite(hfd, buf, 16, 0));
	SAME(W("preadv2"), -EBADF, pc_preadv2(eng, efd, &iov, 1, 0, 0),
	     preadv2(hfd, &iov, 1, 0, 0));
	SAME(W("pwritev2"), -EBADF, pc_pwritev2(eng, efd, &iov, 1, -1, 0),
	     pwritev2(hfd, &iov, 1, -1, 0));
	SAME(W("lseek"), -EBADF, pc_lseek(eng, efd, 0, SEEK_SET), lseek(hfd, 0, SEEK_SET));
	SAME(W("fsync"), -EBADF, pc_fsync(eng, efd), fsync(hfd));
	SAME(W("fdatasync"), -EBADF, pc_fdatasync(eng, efd), fdatasync(hfd));
	SAME(W("ftruncate"), -EBADF, pc_ftruncate(eng, efd, 0), ftruncate(hfd, 0));
	SAME(W("fallocate"), -EBADF, pc_fallocate(eng, efd, 0, 0, 4096),
	     fallocate(hfd, 0, 0, 4096));
	SAME_RAW(W("fadvise"), -EBADF, pc_fadvise(eng, efd, 0, 0, POSIX_FADV_DONTNEED),
		 -posix_fadvise(hfd, 0, 0, POSIX_FADV_DONTNEED));
	SAME(W("fstat"), -EBADF, pc_fstat(eng, efd, &st), fstat(hfd, &st));
	SAME(W("readdir"), -EBADF, pc_readdir(eng, efd, &de, 1), h_getdents(hfd, buf, 4096));
	SAME(W("close"), -EBADF, pc_close(eng, efd), close(hfd));
#undef W
}

TEST(bad_fds)
{
	setup();
	bad_fd_calls("-1", -1, -1);
	bad_fd_calls("INT_MAX", INT_MAX, INT_MAX);
	bad_fd_calls("INT_MIN", INT_MIN, INT_MIN);
	int never = 777;
	while (fcntl(never, F_GETFD) >= 0)
		never++;
	bad_fd_calls("never-opened", 777, never);
	/* closed: the numbers stay free while nothing else is opened */
	struct pair p = open_pair("f", O_RDWR);
	close_pair(p);
	bad_fd_calls("closed", p.e, p.h);
	teardown();
}

TEST(wrong_access_mode)
{
	setup();
	struct pair ro = open_pair("f", O_RDONLY), wo = open_pair("f", O_WRONLY);
	struct pair dir = open_pair("d", O_RDONLY | O_DIRECTORY);
	struct iovec iov = {buf, 16};
	struct pc_dirent de;

	SAME("read on O_WRONLY", -EBADF, pc_read(eng, wo.e, buf, 16), read(wo.h, buf, 16));
	SAME("read 0 bytes on O_WRONLY", -EBADF, pc_read(eng, wo.e, buf, 0), read(wo.h, buf, 0));
	SAME("pread on O_WRONLY", -EBADF, pc_pread(eng, wo.e, buf, 16, 0), pread(wo.h, buf, 16, 0));
	SAME("preadv2 on O_WRONLY", -EBADF, pc_preadv2(eng, wo.e, &iov, 1, -1, 0),
	     preadv2(wo.h, &iov, 1, -1, 0));
	SAME("write on O_RDONLY", -EBADF, pc_write(eng, ro.e, buf, 16), write(ro.h, buf, 16));
	SAME("write 0 bytes on O_RDONLY", -EBADF, pc_write(eng, ro.e, buf, 0), write(ro.h, buf, 0));
	SAME("pwrite on O_RDONLY", -EBADF, pc_pwrite(eng, ro.e, buf, 16, 0),
	     pwrite(ro.h, buf, 16, 0));
	SAME("pwritev2 on O_RDONLY", -EBADF, pc_pwritev2(eng, ro.e, &iov, 1, 0, 0),
	     pwritev2(ro.h, &iov, 1, 0, 0));
	SAME("ftruncate on O_RDONLY (Linux: EINVAL)", -EINVAL, pc_ftruncate(eng, ro.e, 0),
	     ftruncate(ro.h, 0));
	SAME("fallocate on O_RDONLY", -EBADF, pc_fallocate(eng, ro.e, 0, 0, 4096),
	     fallocate(ro.h, 0, 0, 4096));
	SAME("punch on O_RDONLY", -EBADF,
	     pc_fallocate(eng, ro.e, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096),
	     fallocate(ro.h, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096));
	SAME("fsync on O_RDONLY", 0, pc_fsync(eng, ro.e), fsync(ro.h));
	SAME("fdatasync on O_WRONLY", 0, pc_fdatasync(eng, wo.e), fdatasync(wo.h));
	SAME_RAW("fadvise on O_WRONLY", 0, pc_fadvise(eng, wo.e, 0, 0, POSIX_FADV_WILLNEED),
		 -posix_fadvise(wo.h, 0, 0, POSIX_FADV_WILLNEED));
	SAME("readdir on a file fd", -ENOTDIR, pc_readdir(eng, ro.e, &de, 1),
	     h_getdents(ro.h, buf, 4096));
	SAME("readdir on an O_WRONLY file fd", -ENOTDIR, pc_readdir(eng, wo.e, &de, 1),
	     h_getdents(wo.h, buf, 4096));

	/* a directory fd */
	SAME("read on a dir fd", -EISDIR, pc_read(eng, dir.e, buf, 16), read(dir.h, buf, 16));
	SAME("pread on a dir fd", -EISDIR, pc_pread(eng, dir.e, buf, 16, 0),
	     pread(dir.h, buf, 16, 0));
	SAME("write on a dir fd", -EBADF, pc_write(eng, dir.e, buf, 16), write(dir.h, buf, 16));
	SAME("pwrite on a dir fd", -EBADF, pc_pwrite(eng, dir.e, buf, 16, 0),
	     pwrite(dir.h, buf, 16, 0));
	SAME("ftruncate on a dir fd", -EINVAL, pc_ftruncate(eng, dir.e, 0), ftruncate(dir.h, 0));
	SAME("fallocate on a dir fd", -EBADF, pc_fallocate(eng, dir.e, 0, 0, 4096),
	     fallocate(dir.h, 0, 0, 4096));
	SAME("fsync on a dir fd", 0, pc_fsync(eng, dir.e), fsync(dir.h));
	struct stat es, hs;
	SAME("fstat on a dir fd", 0, pc_fstat(eng, dir.e, &es), fstat(dir.h, &hs));
	CHECK(S_ISDIR(es.st_mode));
	same(__LINE__, true, "fadvise on a dir fd", 0,
	     pc_fadvise(eng, dir.e, 0, 0, POSIX_FADV_WILLNEED),
	     -posix_fadvise(dir.h, 0, 0, POSIX_FADV_WILLNEED));

	close_pair(ro);
	close_pair(wo);
	close_pair(dir);
	teardown();
}

TEST(bad_offsets_counts_and_flags)
{
	setup();
	struct pair rw = open_pair("f", O_RDWR);
	struct iovec iov[2] = {{buf, 16}, {buf + 16, 16}};
	char what[96];

	/* negative offsets */
	SAME("pread offset -1", -EINVAL, pc_pread(eng, rw.e, buf, 16, -1),
	     pread(rw.h, buf, 16, -1));
	SAME("pwrite offset -1", -EINVAL, pc_pwrite(eng, rw.e, buf, 16, -1),
	     pwrite(rw.h, buf, 16, -1));
	SAME("pread offset LLONG_MIN", -EINVAL, pc_pread(eng, rw.e, buf, 16, LLONG_MIN),
	     pread(rw.h, buf, 16, LLONG_MIN));
	SAME("preadv2 offset -2", -EINVAL, pc_preadv2(eng, rw.e, iov, 2, -2, 0),
	     preadv2(rw.h, iov, 2, -2, 0));
	SAME("pwritev2 offset -2", -EINVAL, pc_pwritev2(eng, rw.e, iov, 2, -2, 0),
	     pwritev2(rw.h, iov, 2, -2, 0));
	SAME("pwrite at offset + count overflowing", -EINVAL,
	     pc_pwrite(eng, rw.e, buf, 16, LLONG_MAX - 5), pwrite(rw.h, buf, 16, LLONG_MAX - 5));
	SAME("pread at offset + count overflowing", 0, pc_pread(eng, rw.e, buf, 16, LLONG_MAX - 5),
	     pread(rw.h, buf, 16, LLONG_MAX - 5));
	SAME("pwrite past the largest file size", -EFBIG, pc_pwrite(eng, rw.e, buf, 16, 1ll << 50),
	     pwrite(rw.h, buf, 16, 1ll << 50));
	SAME("pread far past EOF", 0, pc_pread(eng, rw.e, buf, 16, 1ll << 50),
	     pread(rw.h, buf, 16, 1ll << 50));

	/* iovec counts */
	volatile int minus_one = -1; /* hides the bad count from the compiler's checks */
	SAME("preadv2 iovcnt -1", -EINVAL, pc_preadv2(eng, rw.e, iov, minus_one, 0, 0),
	     preadv2(rw.h, iov, minus_one, 0, 0));
	SAME("pwritev2 iovcnt -1", -EINVAL, pc_pwritev2(eng, rw.e, iov, minus_one, 0, 0),
	     pwritev2(rw.h, iov, minus_one, 0, 0));
	struct iovec *many = calloc(IOV_MAX + 1, sizeof(*many));
	for (int i = 0; i <= IOV_MAX; i++)
		many[i] = (struct iovec){buf, 1};
	SAME("preadv2 iovcnt IOV_MAX+1", -EINVAL, pc_preadv2(eng, rw.e, many, IOV_MAX + 1, 0, 0),
	     preadv2(rw.h, many, IOV_MAX + 1, 0, 0));
	SAME("pwritev2 iovcnt IOV_MAX+1", -EINVAL, pc_pwritev2(eng, rw.e, many, IOV_MAX + 1, 0, 0),
	     pwritev2(rw.h, many, IOV_MAX + 1, 0, 0));
	SAME("preadv2 iovcnt IOV_MAX", 0, pc_preadv2(eng, rw.e, many, IOV_MAX, 0, 0),
	     preadv2(rw.h, many, IOV_MAX, 0, 0));
	SAME("preadv2 iovcnt 0", 0, pc_preadv2(eng, rw.e, iov, 0, 0, 0),
	     preadv2(rw.h, iov, 0, 0, 0));
	SAME("pwritev2 iovcnt 0", 0, pc_pwritev2(eng, rw.e, iov, 0, 0, 0),
	     pwritev2(rw.h, iov, 0, 0, 0));
	free(many);
	struct iovec huge[2] = {{buf, SSIZE_MAX}, {buf, SSIZE_MAX}};
	SAME("preadv2 total length > SSIZE_MAX", -EFAULT, pc_preadv2(eng, rw.e, huge, 2, 0, 0),
	     preadv2(rw.h, huge, 2, 0, 0));
	SAME("pwritev2 total length > SSIZE_MAX", -EFAULT, pc_pwritev2(eng, rw.e, huge, 2, 0, 0),
	     pwritev2(rw.h, huge, 2, 0, 0));

	/* RWF flags: unknown bits */
	for (int bit = 9; bit < 32; bit++) {
		int fl = (int)(1u << bit);
		snprintf(what, sizeof(what), "preadv2 RWF bit %d", bit);
		SAME(what, -EOPNOTSUPP, pc_preadv2(eng, rw.e, iov, 1, 0, fl),
		     preadv2(rw.h, iov, 1, 0, fl));
		snprintf(what, sizeof(what), "pwritev2 RWF bit %d", bit);
		SAME(what, -EOPNOTSUPP, pc_pwritev2(eng, rw.e, iov, 1, 0, fl),
		     pwritev2(rw.h, iov, 1, 0, fl));
	}
	/* flags Linux knows that the contract does not list: report only */
	static const int known[] = {RWF_HIPRI, RWF_NOAPPEND, 0x40 /* ATOMIC */,
				    0x80 /* DONTCACHE */, 0x100 /* NOSIGNAL (6.18) */};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		snprintf(what, sizeof(what), "preadv2 RWF 0x%x", known[i]);
		SOFT(what, pc_preadv2(eng, rw.e, iov, 1, 0, known[i]),
		     preadv2(rw.h, iov, 1, 0, known[i]));
		snprintf(what, sizeof(what), "pwritev2 RWF 0x%x", known[i]);
		SOFT(what, pc_pwritev2(eng, rw.e, iov, 1, 0, known[i]),
		     pwritev2(rw.h, iov, 1, 0, known[i]));
	}
	/* the listed flags are accepted */
	static const int listed[] = {RWF_DSYNC, RWF_SYNC, RWF_APPEND};
	for (size_t i = 0; i < 3; i++) {
		snprintf(what, sizeof(what), "pwritev2 RWF 0x%x", listed[i]);
		SAME(what, 16, pc_pwritev2(eng, rw.e, iov, 1, 0, listed[i]),
		     pwritev2(rw.h, iov, 1, 0, listed[i]));
	}
	SOFT("preadv2 RWF_APPEND", pc_preadv2(eng, rw.e, iov, 1, 0, RWF_APPEND),
	     preadv2(rw.h, iov, 1, 0, RWF_APPEND));

	/* lseek */
	struct stat st;
	CHECK_EQ(fstat(rw.h, &st), 0);
	int64_t size = st.st_size;
	CHECK_EQ(pc_fstat(eng, rw.e, &st), 0);
	CHECK_EQ(st.st_size, size);
	static const int whences[] = {-1, 5, 6, 7, 100, INT_MAX};
	for (size_t i = 0; i < sizeof(whences) / sizeof(whences[0]); i++) {
		snprintf(what, sizeof(what), "lseek whence %d", whences[i]);
		SAME(what, -EINVAL, pc_lseek(eng, rw.e, 0, whences[i]), lseek(rw.h, 0, whences[i]));
	}
	SAME("lseek SEEK_SET -1", -EINVAL, pc_lseek(eng, rw.e, -1, SEEK_SET),
	     lseek(rw.h, -1, SEEK_SET));
	SAME("lseek SEEK_SET 100", 100, pc_lseek(eng, rw.e, 100, SEEK_SET),
	     lseek(rw.h, 100, SEEK_SET));
	SAME("lseek SEEK_CUR to -1", -EINVAL, pc_lseek(eng, rw.e, -101, SEEK_CUR),
	     lseek(rw.h, -101, SEEK_CUR));
	SAME("lseek SEEK_CUR after a failed one", 100, pc_lseek(eng, rw.e, 0, SEEK_CUR),
	     lseek(rw.h, 0, SEEK_CUR));
	SAME("lseek SEEK_CUR overflowing", -EINVAL, pc_lseek(eng, rw.e, LLONG_MAX, SEEK_CUR),
	     lseek(rw.h, LLONG_MAX, SEEK_CUR));
	SAME("lseek SEEK_END to -1", -EINVAL, pc_lseek(eng, rw.e, -size - 1, SEEK_END),
	     lseek(rw.h, -size - 1, SEEK_END));
	SAME("lseek SEEK_END overflowing", -EINVAL, pc_lseek(eng, rw.e, LLONG_MAX, SEEK_END),
	     lseek(rw.h, LLONG_MAX, SEEK_END));
	SAME("lseek SEEK_DATA at EOF", -ENXIO, pc_lseek(eng, rw.e, size, SEEK_DATA),
	     lseek(rw.h, size, SEEK_DATA));
	SAME("lseek SEEK_HOLE at EOF", -ENXIO, pc_lseek(eng, rw.e, size, SEEK_HOLE),
	     lseek(rw.h, size, SEEK_HOLE));
	SAME("lseek SEEK_DATA past EOF", -ENXIO, pc_lseek(eng, rw.e, size + 4096, SEEK_DATA),
	     lseek(rw.h, size + 4096, SEEK_DATA));
	SAME("lseek SEEK_HOLE past EOF", -ENXIO, pc_lseek(eng, rw.e, size + 1, SEEK_HOLE),
	     lseek(rw.h, size + 1, SEEK_HOLE));
	SAME("lseek SEEK_DATA at -1", -ENXIO, pc_lseek(eng, rw.e, -1, SEEK_DATA),
	     lseek(rw.h, -1, SEEK_DATA));
	SAME("lseek SEEK_HOLE at -1", -ENXIO, pc_lseek(eng, rw.e, -1, SEEK_HOLE),
	     lseek(rw.h, -1, SEEK_HOLE));
	SAME("lseek SEEK_DATA at 0", 0, pc_lseek(eng, rw.e, 0, SEEK_DATA),
	     lseek(rw.h, 0, SEEK_DATA));
	SAME("lseek SEEK_HOLE at 0", size, pc_lseek(eng, rw.e, 0, SEEK_HOLE),
	     lseek(rw.h, 0, SEEK_HOLE));
	struct pair empty = open_pair("g", O_RDONLY);
	SAME("lseek SEEK_DATA on an empty file", -ENXIO, pc_lseek(eng, empty.e, 0, SEEK_DATA),
	     lseek(empty.h, 0, SEEK_DATA));
	SAME("lseek SEEK_END on an empty file", 0, pc_lseek(eng, empty.e, 0, SEEK_END),
	     lseek(empty.h, 0, SEEK_END));
	close_pair(empty);

	/* ftruncate */
	SAME("ftruncate -1", -EINVAL, pc_ftruncate(eng, rw.e, -1), ftruncate(rw.h, -1));
	SAME("ftruncate LLONG_MIN", -EINVAL, pc_ftruncate(eng, rw.e, LLONG_MIN),
	     ftruncate(rw.h, LLONG_MIN));
	SAME("ftruncate past the largest file size", -EFBIG, pc_ftruncate(eng, rw.e, 1ll << 62),
	     ftruncate(rw.h, 1ll << 62));

	/* fadvise */
	static const int advs[] = {-1, 6, 7, 99, INT_MAX};
	for (size_t i = 0; i < sizeof(advs) / sizeof(advs[0]); i++) {
		snprintf(what, sizeof(what), "fadvise advice %d", advs[i]);
		SAME_RAW(what, -EINVAL, pc_fadvise(eng, rw.e, 0, 0, advs[i]),
			 -posix_fadvise(rw.h, 0, 0, advs[i]));
	}
	SAME_RAW("fadvise len -1", -EINVAL, pc_fadvise(eng, rw.e, 0, -1, POSIX_FADV_WILLNEED),
		 -posix_fadvise(rw.h, 0, -1, POSIX_FADV_WILLNEED));
	SAME_RAW("fadvise len -1 DONTNEED", -EINVAL,
		 pc_fadvise(eng, rw.e, 0, -1, POSIX_FADV_DONTNEED),
		 -posix_fadvise(rw.h, 0, -1, POSIX_FADV_DONTNEED));
	SAME_RAW("fadvise offset -1", 0, pc_fadvise(eng, rw.e, -1, 4096, POSIX_FADV_WILLNEED),
		 -posix_fadvise(rw.h, -1, 4096, POSIX_FADV_WILLNEED));
	SAME_RAW("fadvise offset+len overflowing", 0,
		 pc_fadvise(eng, rw.e, 4096, LLONG_MAX, POSIX_FADV_DONTNEED),
		 -posix_fadvise(rw.h, 4096, LLONG_MAX, POSIX_FADV_DONTNEED));

	close_pair(rw);
	teardown();
}

TEST(fallocate_modes)
{
	setup();
	struct pair rw = open_pair("f", O_RDWR); /* 8192 bytes */
	const int P = FALLOC_FL_PUNCH_HOLE, K = FALLOC_FL_KEEP_SIZE, Z = FALLOC_FL_ZERO_RANGE;
	const int C = FALLOC_FL_COLLAPSE_RANGE, I = FALLOC_FL_INSERT_RANGE;
	char what[96];
#define FA(desc, doc, mode, off, len) \
	SAME(desc, doc, pc_fallocate(eng, rw.e, mode, off, len), fallocate(rw.h, mode, off, len))

	FA("punch without KEEP_SIZE", -EOPNOTSUPP, P, 0, 4096);
	FA("punch | zero range", -EOPNOTSUPP, P | Z | K, 0, 4096);
	FA("len 0", -EINVAL, 0, 0, 0);
	FA("len -1", -EINVAL, 0, 0, -1);
	FA("punch len 0", -EINVAL, P | K, 0, 0);
	FA("offset -1", -EINVAL, 0, -1, 4096);
	FA("zero range offset -4096", -EINVAL, Z, -4096, 4096);
	FA("offset + len overflowing", -EFBIG, 0, 4096, LLONG_MAX);
	FA("past the largest file size", -EFBIG, K, 1ll << 62, 4096);
	FA("collapse unaligned offset", -EINVAL, C, 1, 4096);
	FA("collapse unaligned len", -EINVAL, C, 0, 100);
	FA("collapse reaching EOF", -EINVAL, C, 4096, 4096);
	FA("collapse past EOF", -EINVAL, C, 4096, 8192);
	FA("collapse starting past EOF", -EINVAL, C, 16384, 4096);
	FA("insert at EOF", -EINVAL, I, 8192, 4096);
	FA("insert after EOF", -EINVAL, I, 16384, 4096);
	FA("insert unaligned offset", -EINVAL, I, 1, 4096);
	FA("insert unaligned len", -EINVAL, I, 0, 4095);
	FA("collapse | KEEP_SIZE", -EOPNOTSUPP, C | K, 0, 4096);
	FA("insert | KEEP_SIZE", -EOPNOTSUPP, I | K, 0, 4096);
	FA("collapse | insert", -EOPNOTSUPP, C | I, 0, 4096);
	FA("collapse | punch", -EOPNOTSUPP, C | P | K, 0, 4096);
	/* NO_HIDE_STALE, UNSHARE_RANGE, WRITE_ZEROES (6.17): kernel- and
	 * file-system-specific, not in the contract */
	static const int odd[] = {0x04, 0x40, 0x80};
	for (size_t i = 0; i < 3; i++) {
		snprintf(what, sizeof(what), "fallocate mode 0x%x", odd[i]);
		SOFT(what, pc_fallocate(eng, rw.e, odd[i], 0, 4096),
		     fallocate(rw.h, odd[i], 0, 4096));
	}
	for (int bit = 8; bit < 31; bit++) {
		snprintf(what, sizeof(what), "fallocate mode bit %d", bit);
		FA(what, -EOPNOTSUPP, 1 << bit, 0, 4096);
	}
	/* the file is unchanged on both sides by all of that */
	struct stat es, hs;
	CHECK_EQ(pc_fstat(eng, rw.e, &es), 0);
	CHECK_EQ(fstat(rw.h, &hs), 0);
	CHECK_EQ(es.st_size, hs.st_size);
	CHECK_EQ(es.st_size, 8192);
	CHECK_EQ(pc_pread(eng, rw.e, buf, 8192, 0), 8192);
	CHECK_EQ(api_pattern_check(buf, 8192, 1, 0), -1);
	/* and the valid modes work on both */
	FA("allocate", 0, 0, 8192, 4096);
	FA("keep size", 0, K, 16384, 4096);
	FA("punch", 0, P | K, 0, 100);
	FA("zero range", 0, Z, 100, 100);
	FA("zero range keep size", 0, Z | K, 12000, 10000);
	FA("collapse", 0, C, 0, 4096);
	FA("insert", 0, I, 0, 4096);
#undef FA
	CHECK_EQ(pc_fstat(eng, rw.e, &es), 0);
	CHECK_EQ(fstat(rw.h, &hs), 0);
	CHECK_EQ(es.st_size, hs.st_size);
	static unsigned char hb[16384];
	CHECK_EQ(pc_pread(eng, rw.e, buf, 16384, 0), hs.st_size);
	CHECK_EQ(pread(rw.h, hb, 16384, 0), hs.st_size);
	CHECK(!memcmp(buf, hb, (size_t)hs.st_size));
	close_pair(rw);
	teardown();
}

TEST(bad_buffers_and_direct_io)
{
	setup();
	struct pair rw = open_pair("f", O_RDWR);
	void *volatile nul = NULL; /* hidden from the compiler's nonnull checks */
	struct iovec iov[2] = {{nul, 16}, {buf, 16}};

	SAME("read into nul", -EFAULT, pc_read(eng, rw.e, nul, 16), read(rw.h, nul, 16));
	SAME("write from nul", -EFAULT, pc_write(eng, rw.e, nul, 16), write(rw.h, nul, 16));
	SAME("pread into nul", -EFAULT, pc_pread(eng, rw.e, nul, 16, 0), pread(rw.h, nul, 16, 0));
	SAME("pwrite from nul", -EFAULT, pc_pwrite(eng, rw.e, nul, 16, 0),
	     pwrite(rw.h, nul, 16, 0));
	SAME("preadv2 first iov nul", -EFAULT, pc_preadv2(eng, rw.e, iov, 2, 0, 0),
	     preadv2(rw.h, iov, 2, 0, 0));
	SAME("pwritev2 first iov nul", -EFAULT, pc_pwritev2(eng, rw.e, iov, 2, 0, 0),
	     pwritev2(rw.h, iov, 2, 0, 0));
	SAME("read 0 bytes into nul", 0, pc_read(eng, rw.e, nul, 0), read(rw.h, nul, 0));
	SAME("write 0 bytes from nul", 0, pc_write(eng, rw.e, nul, 0), write(rw.h, nul, 0));
	SAME("pread nul at EOF", 0, pc_pread(eng, rw.e, nul, 16, 1 << 20),
	     pread(rw.h, nul, 16, 1 << 20));

	/* a buffer whose second page is not mapped: a short count, then EFAULT */
	long pg = sysconf(_SC_PAGESIZE);
	unsigned char *m =
	    mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	CHECK_EQ(mprotect(m + pg, pg, PROT_NONE), 0);
	api_pattern_fill(m, pg, 2, 0);
	SAME("pread into a half-mapped buffer", 4096, pc_pread(eng, rw.e, m, 2 * pg, 0),
	     pread(rw.h, m, 2 * pg, 0));
	SAME("pread entirely into an unmapped page", -EFAULT, pc_pread(eng, rw.e, m + pg, 16, 0),
	     pread(rw.h, m + pg, 16, 0));
	SAME("pwrite from a half-mapped buffer", 4096, pc_pwrite(eng, rw.e, m, 2 * pg, 100),
	     pwrite(rw.h, m, 2 * pg, 100));
	SAME("pwrite entirely from an unmapped page", -EFAULT, pc_pwrite(eng, rw.e, m + pg, 16, 0),
	     pwrite(rw.h, m + pg, 16, 0));
	munmap(m, 2 * pg);
	/* the file reads the same on both sides afterwards */
	static unsigned char hb[16384];
	CHECK_EQ(pc_pread(eng, rw.e, buf, 16384, 0), pread(rw.h, hb, 16384, 0));
	CHECK(!memcmp(buf, hb, 8192));
	close_pair(rw);

	/* O_DIRECT alignment */
	struct pair d = {pc_open(eng, "f", O_RDWR | O_DIRECT, 0), open(hp("f"), O_RDWR | O_DIRECT)};
	if (d.h < 0 || d.e < 0) {
		test_skip_part("O_DIRECT checks: engine %s, host %s", en(d.e), en(-errno));
		if (d.e >= 0)
			pc_close(eng, d.e);
		if (d.h >= 0)
			close(d.h);
	} else {
		SAME("O_DIRECT pread, offset 1", -EINVAL, pc_pread(eng, d.e, buf, 4096, 1),
		     pread(d.h, buf, 4096, 1));
		SAME("O_DIRECT pread, length 100", -EINVAL, pc_pread(eng, d.e, buf, 100, 0),
		     pread(d.h, buf, 100, 0));
		SAME("O_DIRECT pread, buffer + 1", -EINVAL, pc_pread(eng, d.e, buf + 1, 4096, 0),
		     pread(d.h, buf + 1, 4096, 0));
		SAME("O_DIRECT pwrite, offset 1", -EINVAL, pc_pwrite(eng, d.e, buf, 4096, 1),
		     pwrite(d.h, buf, 4096, 1));
		SAME("O_DIRECT pwrite, length 100", -EINVAL, pc_pwrite(eng, d.e, buf, 100, 0),
		     pwrite(d.h, buf, 100, 0));
		SAME("O_DIRECT pwrite, buffer + 1", -EINVAL, pc_pwrite(eng, d.e, buf + 1, 4096, 0),
		     pwrite(d.h, buf + 1, 4096, 0));
		struct iovec dv[2] = {{buf, 4096}, {buf + 4096 + 1, 4096}};
		SAME("O_DIRECT preadv2, second iov misaligned", -EINVAL,
		     pc_preadv2(eng, d.e, dv, 2, 0, 0), preadv2(d.h, dv, 2, 0, 0));
		SAME("O_DIRECT pread aligned", 4096, pc_pread(eng, d.e, buf, 4096, 4096),
		     pread(d.h, buf, 4096, 4096));
		close_pair(d);
	}

	/* the engine itself */
	struct pc_options o = {.size = sizeof(o), .store_dir = sdir};
	struct pc_engine *e2 = NULL;
	ONLY("a second engine on the same store", -EBUSY, pc_engine_open(&o, &e2));
	char *missing = api_fresh_dir("gone");
	api_rm_rf(missing);
	o.store_dir = missing;
	int r = pc_engine_open(&o, &e2);
	if (r == 0)
		pc_engine_close(e2);
	ONLY("an engine on a missing directory", -ENOENT, r);
	free(missing);
	teardown();
}

/*
 * Store errors reach the caller (src/store fault injection through
 * pc_engine_store()). No kernel twin: the errno is the one injected, as the
 * kernel passes a file system's error through. Writeback errors: reported
 * once to every fd that was open when they happened (errseq), then no more;
 * an fd opened afterwards is not told.
 */
TEST(store_errors_reach_the_caller)
{
	setup();
	struct store *st = pc_engine_store(eng);
	struct stat sb;
	CHECK(st);

	/* a read miss */
	struct pair p = open_pair("f", O_RDWR);
	CHECK_EQ(pc_fadvise(eng, p.e, 0, 0, POSIX_FADV_DONTNEED), 0);
	store_inject_fail(st, STORE_OP_READ, 1, EIO, true);
	ONLY("pread of an uncached page, store read fails", -EIO, pc_pread(eng, p.e, buf, 4096, 0));
	ONLY("read of an uncached page, store read fails", -EIO, pc_read(eng, p.e, buf, 100));
	store_inject_clear(st);
	ONLY("the same pread once the store works", 4096, pc_pread(eng, p.e, buf, 4096, 0));
	CHECK_EQ(api_pattern_check(buf, 4096, 1, 0), -1);

	/* writeback: fsync reports it once per fd open at the time */
	int other = pc_open(eng, "f", O_RDONLY, 0);
	CHECK(other >= 0);
	api_pattern_fill(buf, 8192, 7, 0);
	CHECK_EQ(pc_pwrite(eng, p.e, buf, 8192, 0), 8192);
	store_inject_fail(st, STORE_OP_WRITE, 1, EIO, true);
	ONLY("fsync when the store write fails", -EIO, pc_fsync(eng, p.e));
	store_inject_clear(st);
	int later = pc_open(eng, "f", O_RDONLY, 0);
	CHECK(later >= 0);
	ONLY("fsync again on the same fd: already reported", 0, pc_fsync(eng, p.e));
	ONLY("fsync on another fd open at the time: reported there too", -EIO,
	     pc_fdatasync(eng, other));
	ONLY("and only once there", 0, pc_fdatasync(eng, other));
	ONLY("fsync on an fd opened after the error", 0, pc_fsync(eng, later));
	CHECK_EQ(pc_close(eng, other), 0);
	CHECK_EQ(pc_close(eng, later), 0);
	/* new data after the error is written back and kept */
	api_pattern_fill(buf, 8192, 8, 0);
	CHECK_EQ(pc_pwrite(eng, p.e, buf, 8192, 0), 8192);
	ONLY("fsync after the store recovered", 0, pc_fsync(eng, p.e));
	CHECK_EQ(pc_fadvise(eng, p.e, 0, 0, POSIX_FADV_DONTNEED), 0);
	CHECK_EQ(pc_pread(eng, p.e, buf, 8192, 0), 8192);
	CHECK_EQ(api_pattern_check(buf, 8192, 8, 0), -1);

	/* ENOSPC from the store's writeback */
	CHECK_EQ(pc_pwrite(eng, p.e, buf, 100, 20000), 100);
	store_inject_fail(st, STORE_OP_WRITE, 1, ENOSPC, true);
	ONLY("fdatasync when the store is full", -ENOSPC, pc_fdatasync(eng, p.e));
	store_inject_clear(st);
	CHECK_EQ(pc_pwrite(eng, p.e, buf, 100, 20000), 100);
	ONLY("fdatasync once there is space", 0, pc_fdatasync(eng, p.e));

	/* size changes and fallocate: the error, and nothing changed */
	CHECK_EQ(pc_fstat(eng, p.e, &sb), 0);
	off_t size = sb.st_size;
	store_inject_fail(st, STORE_OP_SETSIZE, 1, EIO, false);
	ONLY("ftruncate up when the store fails", -EIO, pc_ftruncate(eng, p.e, size + 5000));
	CHECK_EQ(pc_fstat(eng, p.e, &sb), 0);
	ONLY("the size after the failed ftruncate", size, sb.st_size);
	store_inject_fail(st, STORE_OP_FALLOCATE, 1, ENOSPC, false);
	ONLY("fallocate when the store is full", -ENOSPC, pc_fallocate(eng, p.e, 0, 0, 1 << 20));
	CHECK_EQ(pc_fstat(eng, p.e, &sb), 0);
	ONLY("the size after the failed fallocate", size, sb.st_size);
	store_inject_fail(st, STORE_OP_FALLOCATE, 1, EIO, false);
	ONLY("punch when the store fails", -EIO,
	     pc_fallocate(eng, p.e, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096));
	store_inject_clear(st);
	CHECK_EQ(pc_pread(eng, p.e, buf, 4096, 4096), 4096);
	CHECK_EQ(api_pattern_check(buf, 4096, 8, 4096), -1);
	close_pair(p);

	/* namespace calls */
	store_inject_fail(st, STORE_OP_OPEN, 1, EIO, false);
	ONLY("open when the store fails", -EIO, pc_open(eng, "f", O_RDONLY, 0));
	store_inject_fail(st, STORE_OP_CREATE, 1, ENOSPC, false); /* the create, not the open */
	ONLY("create when the store is full", -ENOSPC, pc_open(eng, "new", O_RDWR | O_CREAT, 0644));
	ONLY("the file was not created", -ENOENT, pc_stat(eng, "new", &sb));
	store_inject_fail(st, STORE_OP_MKDIR, 1, ENOSPC, false);
	ONLY("mkdir when the store is full", -ENOSPC, pc_mkdir(eng, "nd", 0755));
	store_inject_fail(st, STORE_OP_UNLINK, 1, EIO, false);
	ONLY("unlink when the store fails", -EIO, pc_unlink(eng, "g"));
	ONLY("g is still there", 0, pc_stat(eng, "g", &sb));
	store_inject_fail(st, STORE_OP_RENAME, 1, EIO, false);
	ONLY("rename when the store fails", -EIO, pc_rename(eng, "g", "h", 0));
	store_inject_fail(st, STORE_OP_RMDIR, 1, EIO, false);
	ONLY("rmdir when the store fails", -EIO, pc_rmdir(eng, "e"));
	store_inject_fail(st, STORE_OP_GETATTR, 1, EIO, false);
	ONLY("stat when the store fails", -EIO, pc_stat(eng, "g", &sb));
	store_inject_clear(st);
	printf("# %lu failures injected\n", store_inject_fired(st));
	teardown();
}

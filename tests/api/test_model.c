/* SPDX-License-Identifier: MIT */
/*
 * test_model.c - model-based random test of the public API.
 *
 * One thread runs a random sequence of every call of include/pagecache.h
 * (open with flag combinations, close, read/write/pread/pwrite, preadv2/
 * pwritev2 with multi-segment iovecs and RWF flags, lseek including
 * SEEK_DATA/SEEK_HOLE, fsync/fdatasync, ftruncate, fallocate in every mode,
 * fadvise, fstat, stat, unlink, rename with flags, mkdir, rmdir, readdir,
 * O_DIRECT I/O, and engine close + reopen with new options) against an
 * in-memory model: per file a byte vector (files capped at 1 MiB), a
 * namespace tree, and the open fds with their modes and positions. Every
 * byte read and every errno is compared with what the model (Linux
 * semantics) says. Offsets and lengths are biased towards page (4096)
 * boundaries and the current EOF.
 *
 * PC_SEED replays a run; a mismatch prints the op index, the op, the last
 * ops before it and the seed. PC_MODEL_OPS overrides the op count.
 * PC_MODEL_HOST=1 runs the same sequence against the host kernel in a temp
 * directory instead of the engine: that is how the model itself is checked
 * against Linux (it must pass there too). PC_MODEL_TREE=1 prints the final
 * namespace.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "harness.h"
#include "kernel/rng.h"
#include "model.h"
#include "pagecache.h"

#define PAGE	 4096
#define CAP	 (1 << 20) /* largest file the model keeps */
#define MAXFD	 16
#define NNAMES	 6
#define MAXDEPTH 3

static const char *const names[NNAMES] = {"f0", "f1", "f2", "f3", "d0", "d1"};

/* ---- the model ---- */

struct mnode {
	bool dir;
	bool dead; /* unlinked / removed; alive while open fds refer to it */
	int opens;
	int name; /* index into names[] */
	struct mnode *parent;
	struct mnode *kids[NNAMES]; /* dir: child per name */
	uint8_t *data;		    /* file: contents */
	size_t size, cap;
};

struct mfd {
	int fd; /* backend fd */
	struct mnode *node;
	int acc; /* O_RDONLY, O_WRONLY, O_RDWR */
	bool append, direct;
	int64_t pos;
};

static struct mnode *root;
static struct mfd fds[MAXFD];
static int nfds;
static struct rng rng;
static uint64_t seed;
static unsigned long opno;

/* backend */
static bool host; /* PC_MODEL_HOST: the kernel in a temp dir instead of the engine */
static struct pc_engine *eng;
static char *store_dir;
static int last_closed_fd = -1;

/* buffers */
static uint8_t *rbuf, *wbuf, *pool; /* 4096-aligned, CAP + 2 pages each; pool: random bytes */

/* statistics */
enum {
	OP_OPEN,
	OP_CLOSE,
	OP_READ,
	OP_WRITE,
	OP_PREAD,
	OP_PWRITE,
	OP_PREADV2,
	OP_PWRITEV2,
	OP_LSEEK,
	OP_FSYNC,
	OP_FTRUNCATE,
	OP_FALLOCATE,
	OP_FADVISE,
	OP_FSTAT,
	OP_STAT,
	OP_UNLINK,
	OP_RENAME,
	OP_MKDIR,
	OP_RMDIR,
	OP_READDIR,
	OP_VERIFY,
	OP_BADFD,
	OP_RESTART,
	OP_NR
};
static const char *const op_names[OP_NR] = {
    "open",   "close", "read",	 "write",   "pread",   "pwrite", "preadv2", "pwritev2",
    "lseek",  "fsync", "ftrunc", "falloc",  "fadvise", "fstat",	 "stat",    "unlink",
    "rename", "mkdir", "rmdir",	 "readdir", "verify",  "badfd",	 "restart",
};
static unsigned long op_count[OP_NR], op_errno[OP_NR][134];
static double op_time[OP_NR];
static int cur_op;
static unsigned long nowait_eagain, falloc_unsupported, seek_data_enxio_zero;

/* the last ops, for the failure report */
#define HIST 24
static char hist[HIST][160];

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(hist[opno % HIST], sizeof(hist[0]), fmt, ap);
	va_end(ap);
}

#define FAIL(...)                                                                             \
	do {                                                                                  \
		dump_history();                                                               \
		CHECKF(0, "op #%lu (%s), seed 0x%llx (replay: PC_SEED=0x%llx): %s", opno,     \
		       hist[opno % HIST], (unsigned long long)seed, (unsigned long long)seed, \
		       fmtmsg(__VA_ARGS__));                                                  \
	} while (0)

static const char *fmtmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *fmtmsg(const char *fmt, ...)
{
	static char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return buf;
}

static void dump_history(void)
{
	printf("# last ops (seed 0x%llx):\n", (unsigned long long)seed);
	for (unsigned long i = opno >= HIST ? opno - HIST + 1 : 0; i <= opno; i++)
		printf("#   #%lu %s\n", i, hist[i % HIST]);
}

static const char *errname(long r)
{
	static char buf[4][48];
	static int k;
	char *b = buf[k++ & 3];
	if (r >= 0)
		snprintf(b, sizeof(buf[0]), "%ld", r);
	else
		snprintf(b, sizeof(buf[0]), "%ld(%s)", r, strerrorname_np((int)-r) ?: "?");
	return b;
}

#define EXPECT(got, want)                                                                    \
	do {                                                                                 \
		long __g = (long)(got), __w = (long)(want);                                  \
		if (__g != __w)                                                              \
			FAIL("%s: got %s, model says %s", #got, errname(__g), errname(__w)); \
		if (__w < 0 && __w > -134)                                                   \
			op_errno[cur_op][-__w]++;                                            \
	} while (0)

static uint64_t rnd(uint64_t n)
{
	return n ? rng_below(&rng, n) : 0;
}

static bool chance(unsigned pct)
{
	return rnd(100) < pct;
}

/* ---- model nodes ---- */

static struct mnode *node_new(bool dir, struct mnode *parent, int name)
{
	struct mnode *n = calloc(1, sizeof(*n));
	CHECK(n);
	n->dir = dir;
	n->parent = parent;
	n->name = name;
	if (parent)
		parent->kids[name] = n;
	return n;
}

static void node_free_tree(struct mnode *n)
{
	if (!n)
		return;
	for (int i = 0; i < NNAMES; i++)
		node_free_tree(n->kids[i]);
	free(n->data);
	free(n);
}

/* PC_MODEL_TREE: the namespace at the end, for tuning the generators. */
static void dump_tree(struct mnode *d, int depth)
{
	for (int i = 0; i < NNAMES; i++)
		if (d->kids[i]) {
			printf("# %*s%s%s %zu\n", depth * 2, "", names[i],
			       d->kids[i]->dir ? "/" : "", d->kids[i]->size);
			if (d->kids[i]->dir)
				dump_tree(d->kids[i], depth + 1);
		}
}

/* Detach from the tree; free unless an open fd keeps it. */
static void node_unlink(struct mnode *n)
{
	n->parent->kids[n->name] = NULL;
	n->parent = NULL;
	n->dead = true;
	if (!n->opens) {
		free(n->data);
		free(n);
	}
}

static void node_put(struct mnode *n)
{
	if (--n->opens == 0 && n->dead) {
		free(n->data);
		free(n);
	}
}

static bool dir_empty(const struct mnode *d)
{
	for (int i = 0; i < NNAMES; i++)
		if (d->kids[i])
			return false;
	return true;
}

static void file_resize(struct mnode *n, size_t size)
{
	CHECK(size <= CAP);
	if (size > n->cap) {
		size_t c = n->cap ? n->cap : 8192;
		while (c < size)
			c *= 2;
		n->data = realloc(n->data, c);
		CHECK(n->data);
		n->cap = c;
	}
	if (size > n->size)
		memset(n->data + n->size, 0, size - n->size);
	n->size = size;
}

static void file_write(struct mnode *n, size_t off, const void *src, size_t len)
{
	if (!len)
		return;
	if (off + len > n->size)
		file_resize(n, off + len);
	memcpy(n->data + off, src, len);
}

static void file_zero(struct mnode *n, size_t off, size_t end)
{
	if (end > n->size)
		end = n->size;
	if (off < end)
		memset(n->data + off, 0, end - off);
}

/* ---- paths ---- */

struct mpath {
	int n;
	int comp[MAXDEPTH];
	char str[64];
};

static void path_str(struct mpath *p)
{
	char *s = p->str;
	for (int i = 0; i < p->n; i++)
		s += sprintf(s, "%s%s", i ? "/" : "", names[p->comp[i]]);
}

/* Mostly through existing directories, sometimes not (ENOENT, ENOTDIR). */
static void gen_path(struct mpath *p, bool want_dir)
{
	struct mnode *d = root;
	p->n = 0;
	for (;;) {
		int depth_left = MAXDEPTH - p->n;
		bool go_down = depth_left > 1 && chance(45);
		if (!go_down)
			break;
		int c = (int)rnd(NNAMES);
		if (d && chance(90)) {
			/* prefer an existing subdirectory */
			int start = (int)rnd(NNAMES), k;
			for (k = 0; k < NNAMES; k++) {
				int i = (start + k) % NNAMES;
				if (d->kids[i] && d->kids[i]->dir) {
					c = i;
					break;
				}
			}
			if (k == NNAMES && chance(90))
				break;
		}
		p->comp[p->n++] = c;
		d = d && d->kids[c] && d->kids[c]->dir ? d->kids[c] : NULL;
	}
	/* the last name: of the wanted class (f* files, d* dirs) mostly, an
	 * existing entry of the wanted kind often */
	int last = chance(97) ? (want_dir ? 4 + (int)rnd(2) : (int)rnd(4)) : (int)rnd(NNAMES);
	if (d && chance(60)) {
		int start = (int)rnd(NNAMES);
		for (int k = 0; k < NNAMES; k++) {
			int i = (start + k) % NNAMES;
			if (d->kids[i] && d->kids[i]->dir == want_dir) {
				last = i;
				break;
			}
		}
	}
	p->comp[p->n++] = last;
	path_str(p);
}

/* Walk all but the last component: 0 and the parent dir, or -ENOENT/-ENOTDIR. */
static int resolve_parent(const struct mpath *p, struct mnode **parent)
{
	struct mnode *d = root;
	for (int i = 0; i < p->n - 1; i++) {
		struct mnode *k = d->kids[p->comp[i]];
		if (!k)
			return -ENOENT;
		if (!k->dir)
			return -ENOTDIR;
		d = k;
	}
	*parent = d;
	return 0;
}

static int node_depth(const struct mnode *n)
{
	int d = 0;
	for (; n->parent; n = n->parent)
		d++;
	return d;
}

static int node_height(const struct mnode *n)
{
	int h = 0;
	if (n->dir)
		for (int i = 0; i < NNAMES; i++)
			if (n->kids[i]) {
				int k = node_height(n->kids[i]);
				h = k > h ? k : h;
			}
	return h + 1;
}

static bool is_ancestor_or_self(const struct mnode *a, const struct mnode *n)
{
	for (; n; n = n->parent)
		if (n == a)
			return true;
	return false;
}

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

static int b_open(const char *path, int flags, mode_t mode)
{
	return host ? (int)HR(open(hp(path), flags, mode)) : pc_open(eng, path, flags, mode);
}
static int b_close(int fd)
{
	return host ? (int)HR(close(fd)) : pc_close(eng, fd);
}
static ssize_t b_read(int fd, void *buf, size_t n)
{
	return host ? HR(read(fd, buf, n)) : pc_read(eng, fd, buf, n);
}
static ssize_t b_write(int fd, const void *buf, size_t n)
{
	return host ? HR(write(fd, buf, n)) : pc_write(eng, fd, buf, n);
}
static ssize_t b_pread(int fd, void *buf, size_t n, off_t off)
{
	return host ? HR(pread(fd, buf, n, off)) : pc_pread(eng, fd, buf, n, off);
}
static ssize_t b_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return host ? HR(pwrite(fd, buf, n, off)) : pc_pwrite(eng, fd, buf, n, off);
}
static ssize_t b_preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	return host ? HR(preadv2(fd, iov, cnt, off, flags))
		    : pc_preadv2(eng, fd, iov, cnt, off, flags);
}
static ssize_t b_pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	return host ? HR(pwritev2(fd, iov, cnt, off, flags))
		    : pc_pwritev2(eng, fd, iov, cnt, off, flags);
}
static off_t b_lseek(int fd, off_t off, int whence)
{
	return host ? HR(lseek(fd, off, whence)) : pc_lseek(eng, fd, off, whence);
}
static int b_fsync(int fd, bool data)
{
	if (host)
		return (int)HR(data ? fdatasync(fd) : fsync(fd));
	return data ? pc_fdatasync(eng, fd) : pc_fsync(eng, fd);
}
static int b_ftruncate(int fd, off_t len)
{
	return host ? (int)HR(ftruncate(fd, len)) : pc_ftruncate(eng, fd, len);
}
static int b_fallocate(int fd, int mode, off_t off, off_t len)
{
	return host ? (int)HR(fallocate(fd, mode, off, len))
		    : pc_fallocate(eng, fd, mode, off, len);
}
static int b_fadvise(int fd, off_t off, off_t len, int advice)
{
	return host ? -posix_fadvise(fd, off, len, advice) : pc_fadvise(eng, fd, off, len, advice);
}
static int b_fstat(int fd, struct stat *st)
{
	return host ? (int)HR(fstat(fd, st)) : pc_fstat(eng, fd, st);
}
static int b_stat(const char *path, struct stat *st)
{
	return host ? (int)HR(lstat(hp(path), st)) : pc_stat(eng, path, st);
}
static int b_unlink(const char *path)
{
	return host ? (int)HR(unlink(hp(path))) : pc_unlink(eng, path);
}
static int b_rename(const char *from, const char *to, unsigned flags)
{
	if (host)
		return (int)HR(renameat2(AT_FDCWD, hp(from), AT_FDCWD, hp(to), flags));
	return pc_rename(eng, from, to, flags);
}
static int b_mkdir(const char *path, mode_t mode)
{
	return host ? (int)HR(mkdir(hp(path), mode)) : pc_mkdir(eng, path, mode);
}
static int b_rmdir(const char *path)
{
	return host ? (int)HR(rmdir(hp(path))) : pc_rmdir(eng, path);
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
static ssize_t b_readdir(int fd, struct pc_dirent *ents, size_t max)
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

static void engine_start(void)
{
	static const size_t limits[] = {0, 2 << 20, 8 << 20, 64 << 20};
	static const size_t ra[] = {0, 16 << 10, 64 << 10, 512 << 10};
	static const unsigned wb[] = {0, 20, 200, 1000};
	struct pc_options o = {
	    .store_dir = store_dir,
	    .mem_limit = limits[rnd(4)],
	    .readahead_max = ra[rnd(4)],
	    .writeback_interval_ms = wb[rnd(4)],
	    .policy = chance(70) ? PC_POLICY_TWO_STATE : PC_POLICY_XFS,
	};
	if (host)
		return;
	int ret = pc_engine_open(&o, &eng);
	if (ret)
		FAIL("pc_engine_open: %s (mem_limit %zu ra %zu wb %u policy %d)", errname(ret),
		     o.mem_limit, o.readahead_max, o.writeback_interval_ms, o.policy);
	note("engine open: mem_limit %zu ra %zu wb %u policy %d", o.mem_limit, o.readahead_max,
	     o.writeback_interval_ms, o.policy);
}

static void drop_fd(int i)
{
	if (fds[i].node)
		node_put(fds[i].node);
	last_closed_fd = fds[i].fd;
	fds[i] = fds[--nfds];
}

static void engine_stop(void)
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

/* ---- generators ---- */

static int64_t gen_off(size_t size)
{
	int64_t o;
	switch (rnd(10)) {
	case 0:
	case 1:
	case 2: /* near a page boundary */
		o = (int64_t)rnd(size / PAGE + 3) * PAGE + (int64_t)rnd(9) - 4;
		break;
	case 3:
	case 4:
	case 5: /* near EOF */
		o = (int64_t)size + (int64_t)rnd(10001) - 5000;
		if (chance(50))
			o = (int64_t)size + (int64_t)rnd(9) - 4;
		break;
	case 6:
	case 7:
	case 8:
		o = (int64_t)rnd(size + PAGE);
		break;
	default:
		o = chance(5) ? (int64_t)rnd(CAP - 65536) : (int64_t)rnd(128 << 10);
		break;
	}
	if (o < 0)
		o = 0;
	if (o > CAP)
		o = CAP;
	return o;
}

static size_t gen_len(void)
{
	switch (rnd(10)) {
	case 0:
		return 0;
	case 1:
	case 2:
	case 3:
		return 1 + rnd(64);
	case 4:
	case 5:
	case 6: {
		int64_t l = (int64_t)(1 + rnd(4)) * PAGE + (int64_t)rnd(9) - 4;
		return (size_t)(l < 1 ? 1 : l);
	}
	case 7:
	case 8:
		return 1 + rnd(65536);
	default:
		return 1 + rnd(3 * PAGE);
	}
}

/* Source bytes: random, zeroes, or a mix (zero runs make SEEK_DATA loose). */
static const uint8_t *gen_data(size_t len, bool aligned)
{
	unsigned kind = (unsigned)rnd(10);
	if (kind == 0) {
		memset(wbuf, 0, len);
		return wbuf;
	}
	const uint8_t *src = pool + rnd(CAP);
	if (!aligned && kind < 8)
		return src;
	memcpy(wbuf, src, len);
	if (kind == 9 && len > 2) {
		size_t a = rnd(len), b = a + rnd(len - a);
		memset(wbuf + a, 0, b - a);
	}
	return wbuf;
}

/* An open fd (index into fds[]), or -1 if none is open. */
static int pick_fd(void)
{
	return nfds ? (int)rnd((uint64_t)nfds) : -1;
}

enum { NEED_FILE, NEED_READ, NEED_WRITE };

/* Mostly an fd of a file that allows @need, sometimes any: wrong-mode calls
 * are checked too, but rarely. */
static int pick_fd_for(int need)
{
	if (!nfds)
		return -1;
	if (chance(95)) {
		int start = (int)rnd((uint64_t)nfds);
		for (int k = 0; k < nfds; k++) {
			int i = (start + k) % nfds;
			if (!fds[i].node->dir &&
			    (need == NEED_FILE || fds[i].acc == O_RDWR ||
			     fds[i].acc == (need == NEED_READ ? O_RDONLY : O_WRONLY)))
				return i;
		}
	}
	return pick_fd();
}

/* ---- ops ---- */

static void op_open(void)
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

static void op_close(void)
{
	int i = pick_fd();
	if (i < 0)
		return;
	note("close(fd %d)", fds[i].fd);
	EXPECT(b_close(fds[i].fd), 0);
	drop_fd(i);
}

static void check_bytes(const struct mnode *n, int64_t off, const uint8_t *got, size_t len)
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
static void op_readish(int kind)
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

static void op_writeish(int kind)
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

static void op_lseek(void)
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

static void op_fsync(void)
{
	int i = pick_fd();
	if (i < 0)
		return;
	bool data = chance(50);
	note("%s(fd %d)", data ? "fdatasync" : "fsync", fds[i].fd);
	EXPECT(b_fsync(fds[i].fd, data), 0);
}

static void op_ftruncate(void)
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

static void op_fallocate(void)
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
}

static void op_fadvise(void)
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

static void op_fstat(void)
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

static void op_stat(void)
{
	struct mpath p;
	gen_path(&p, chance(30));
	struct mnode *par, *n = NULL;
	int want = resolve_parent(&p, &par);
	if (!want) {
		n = par->kids[p.comp[p.n - 1]];
		if (!n)
			want = -ENOENT;
	}
	note("stat(%s)", p.str);
	struct stat st;
	int got = b_stat(p.str, &st);
	EXPECT(got, want);
	if (got)
		return;
	if (n->dir != !!S_ISDIR(st.st_mode) || (!n->dir && !S_ISREG(st.st_mode)))
		FAIL("stat(%s): mode 0%o, model says %s", p.str, st.st_mode,
		     n->dir ? "dir" : "file");
	if (!n->dir)
		EXPECT(st.st_size, n->size);
}

static void op_unlink(void)
{
	struct mpath p;
	gen_path(&p, chance(10));
	struct mnode *par, *n = NULL;
	int want = resolve_parent(&p, &par);
	if (!want) {
		n = par->kids[p.comp[p.n - 1]];
		if (!n)
			want = -ENOENT;
		else if (n->dir)
			want = -EISDIR;
	}
	note("unlink(%s)", p.str);
	int got = b_unlink(p.str);
	EXPECT(got, want);
	if (!got)
		node_unlink(n);
}

static void op_mkdir(void)
{
	struct mpath p;
	gen_path(&p, true);
	struct mnode *par;
	int want = resolve_parent(&p, &par);
	if (!want && par->kids[p.comp[p.n - 1]])
		want = -EEXIST;
	note("mkdir(%s)", p.str);
	int got = b_mkdir(p.str, 0755);
	EXPECT(got, want);
	if (!got)
		node_new(true, par, p.comp[p.n - 1]);
}

static void op_rmdir(void)
{
	struct mpath p;
	gen_path(&p, chance(90));
	struct mnode *par, *n = NULL;
	int want = resolve_parent(&p, &par);
	if (!want) {
		n = par->kids[p.comp[p.n - 1]];
		if (!n)
			want = -ENOENT;
		else if (!n->dir)
			want = -ENOTDIR;
		else if (!dir_empty(n))
			want = -ENOTEMPTY;
	}
	note("rmdir(%s)", p.str);
	int got = b_rmdir(p.str);
	EXPECT(got, want);
	if (!got)
		node_unlink(n);
}

/* Linux do_renameat2() + vfs_rename() order of checks. */
static int rename_expect(const struct mpath *a, const struct mpath *b, unsigned flags,
			 struct mnode **pa, struct mnode **pb, struct mnode **oa, struct mnode **ob)
{
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
		return -EINVAL;
	int r = resolve_parent(a, pa);
	if (r)
		return r;
	r = resolve_parent(b, pb);
	if (r)
		return r;
	struct mnode *old = (*pa)->kids[a->comp[a->n - 1]];
	struct mnode *new = (*pb)->kids[b->comp[b->n - 1]];
	*oa = old;
	*ob = new;
	if (!old)
		return -ENOENT;
	if ((flags & RENAME_NOREPLACE) && new)
		return -EEXIST;
	if ((flags & RENAME_EXCHANGE) && !new)
		return -ENOENT;
	if (*pa != *pb) {
		/* source must not be an ancestor of the target's directory */
		if (old->dir && is_ancestor_or_self(old, *pb))
			return -EINVAL;
		/* target must not be an ancestor of the source */
		if (new &&new->dir && is_ancestor_or_self(new, *pa))
			return flags & RENAME_EXCHANGE ? -EINVAL : -ENOTEMPTY;
	}
	if (old == new)
		return 0;
	if (new && !(flags & RENAME_EXCHANGE)) {
		if (old->dir && !new->dir)
			return -ENOTDIR;
		if (!old->dir && new->dir)
			return -EISDIR;
		if (new->dir && !dir_empty(new))
			return -ENOTEMPTY;
	}
	return 0;
}

static void op_rename(void)
{
	struct mpath a, b;
	bool dir = chance(25);
	gen_path(&a, dir);
	gen_path(&b, chance(90) ? dir : !dir);
	unsigned flags = 0;
	switch (rnd(10)) {
	case 0:
	case 1:
		flags = RENAME_NOREPLACE;
		break;
	case 2:
	case 3:
		flags = RENAME_EXCHANGE;
		break;
	case 4:
		if (chance(10))
			flags = chance(50) ? RENAME_NOREPLACE | RENAME_EXCHANGE : 1u << 7;
		break;
	default:
		break;
	}
	note("rename(%s, %s, 0x%x)", a.str, b.str, flags);
	struct mnode *pa = NULL, *pb = NULL, *old = NULL, *new = NULL;
	int want = rename_expect(&a, &b, flags, &pa, &pb, &old, &new);
	/* keep the tree shallow: at most 2 * MAXDEPTH levels */
	if (!want && old && node_depth(pb) + node_height(old) > 2 * MAXDEPTH)
		return;
	if (!want && new && (flags & RENAME_EXCHANGE) &&
	    node_depth(pa) + node_height(new) > 2 * MAXDEPTH)
		return;
	int got = b_rename(a.str, b.str, flags);
	EXPECT(got, want);
	if (got)
		return;
	if (old == new)
		return;
	int na = a.comp[a.n - 1], nb = b.comp[b.n - 1];
	if (flags & RENAME_EXCHANGE) {
		pa->kids[na] = new;
		pb->kids[nb] = old;
		new->parent = pa;
		new->name = na;
		old->parent = pb;
		old->name = nb;
		return;
	}
	if (new)
		node_unlink(new);
	pa->kids[na] = NULL;
	pb->kids[nb] = old;
	old->parent = pb;
	old->name = nb;
}

static void op_readdir(void)
{
	struct mpath p;
	bool at_root = chance(30);
	struct mnode *par = NULL, *n = NULL;
	int want;
	if (at_root) {
		p.n = 0;
		strcpy(p.str, "");
		n = root;
		want = 0;
	} else {
		gen_path(&p, chance(85));
		want = resolve_parent(&p, &par);
		if (!want) {
			n = par->kids[p.comp[p.n - 1]];
			if (!n)
				want = -ENOENT;
			else if (!n->dir)
				want = -ENOTDIR;
		}
	}
	const char *path = at_root ? "." : p.str;
	note("readdir(\"%s\")", path);
	int fd = b_open(path, O_RDONLY | O_DIRECTORY, 0);
	if (want) {
		if (fd >= 0)
			b_close(fd);
		EXPECT(fd, want);
		return;
	}
	if (fd < 0)
		FAIL("open(\"%s\", O_DIRECTORY): %s", path, errname(fd));
	bool seen[NNAMES] = {0};
	struct pc_dirent ents[8];
	for (int rounds = 0;; rounds++) {
		if (rounds > 64)
			FAIL("readdir does not end");
		size_t max = 1 + rnd(8);
		ssize_t got = b_readdir(fd, ents, max);
		if (got < 0 || (size_t)got > max)
			FAIL("readdir(max %zu): %s", max, errname(got));
		if (!got)
			break;
		for (ssize_t k = 0; k < got; k++) {
			int idx = -1;
			for (int j = 0; j < NNAMES; j++)
				if (!strcmp(ents[k].name, names[j]))
					idx = j;
			if (idx < 0 || !n->kids[idx])
				FAIL("readdir: unexpected entry \"%s\"", ents[k].name);
			if (seen[idx])
				FAIL("readdir: \"%s\" listed twice", ents[k].name);
			seen[idx] = true;
			if (ents[k].type != (n->kids[idx]->dir ? DT_DIR : DT_REG))
				FAIL("readdir: \"%s\" has type %u", ents[k].name, ents[k].type);
		}
	}
	for (int j = 0; j < NNAMES; j++)
		if (n->kids[j] && !seen[j])
			FAIL("readdir: \"%s\" missing", names[j]);
	EXPECT(b_close(fd), 0);
}

/* Every reachable file, read in full through a fresh fd. */
static void verify_tree(struct mnode *d, char *path, size_t plen)
{
	for (int i = 0; i < NNAMES; i++) {
		struct mnode *n = d->kids[i];
		if (!n)
			continue;
		int l = snprintf(path + plen, PATH_MAX - plen, "%s%s", plen ? "/" : "", names[i]);
		if (n->dir) {
			verify_tree(n, path, plen + (size_t)l);
			continue;
		}
		note("verify(%s) size %zu", path, n->size);
		int fd = b_open(path, O_RDONLY, 0);
		if (fd < 0)
			FAIL("verify: open(%s): %s", path, errname(fd));
		struct stat st;
		EXPECT(b_fstat(fd, &st), 0);
		EXPECT(st.st_size, n->size);
		size_t at = 0;
		while (at <= n->size) {
			size_t chunk = 1 + rnd(256 << 10);
			ssize_t got = b_pread(fd, rbuf, chunk, (off_t)at);
			size_t want = at + chunk <= n->size ? chunk : n->size - at;
			EXPECT(got, want);
			check_bytes(n, (int64_t)at, rbuf, want);
			if (!got)
				break;
			at += (size_t)got;
		}
		EXPECT(b_close(fd), 0);
	}
	path[plen] = 0;
}

static void op_verify(void)
{
	char path[PATH_MAX] = "";
	verify_tree(root, path, 0);
}

static void op_badfd(void)
{
	int fd = last_closed_fd;
	for (int i = 0; i < nfds; i++)
		if (fds[i].fd == fd)
			fd = -1;
	if (fd < 0 || chance(30))
		fd = chance(50) ? -1 : 100000 + (int)rnd(1000);
	if (host && fd >= 0 && fcntl(fd, F_GETFD) >= 0)
		return; /* reused by the host for something else */
	struct stat st;
	uint8_t b[8] = {0};
	struct iovec iov = {b, sizeof(b)};
	int k = (int)rnd(12);
	note("badfd op %d on fd %d", k, fd);
	long got;
	switch (k) {
	case 0:
		got = b_read(fd, b, 1);
		break;
	case 1:
		got = b_write(fd, b, 1);
		break;
	case 2:
		got = b_pread(fd, b, 1, 0);
		break;
	case 3:
		got = b_pwritev2(fd, &iov, 1, 0, 0);
		break;
	case 4:
		got = b_lseek(fd, 0, SEEK_SET);
		break;
	case 5:
		got = b_fsync(fd, false);
		break;
	case 6:
		got = b_ftruncate(fd, 0);
		break;
	case 7:
		got = b_fallocate(fd, 0, 0, 1);
		break;
	case 8:
		got = b_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		break;
	case 9:
		got = b_fstat(fd, &st);
		break;
	case 10:
		got = b_preadv2(fd, &iov, 1, -1, 0);
		break;
	default:
		got = b_close(fd);
		break;
	}
	EXPECT(got, -EBADF);
}

static void op_restart(void)
{
	note("restart");
	engine_stop();
	engine_start();
	op_verify();
}

/* ---- the run ---- */

struct weight {
	int op;
	unsigned w;
};
static const struct weight weights[] = {
    /* the last close of a file (eviction), truncate and fsync cost the
     * engine most: they are rarer than reads and writes */
    {OP_OPEN, 30},	{OP_CLOSE, 22},	    {OP_READ, 80},     {OP_WRITE, 70}, {OP_PREAD, 120},
    {OP_PWRITE, 110},	{OP_PREADV2, 70},   {OP_PWRITEV2, 70}, {OP_LSEEK, 60}, {OP_FSYNC, 3},
    {OP_FTRUNCATE, 15}, {OP_FALLOCATE, 35}, {OP_FADVISE, 30},  {OP_FSTAT, 30}, {OP_STAT, 20},
    {OP_UNLINK, 8},	{OP_RENAME, 16},    {OP_MKDIR, 5},     {OP_RMDIR, 12}, {OP_READDIR, 5},
    {OP_VERIFY, 0},	{OP_BADFD, 5},
};

static void run_op(void)
{
	static unsigned total;
	if (!total)
		for (size_t i = 0; i < sizeof(weights) / sizeof(weights[0]); i++)
			total += weights[i].w;
	unsigned r = (unsigned)rnd(total);
	int op = OP_OPEN;
	for (size_t i = 0; i < sizeof(weights) / sizeof(weights[0]); i++) {
		if (r < weights[i].w) {
			op = weights[i].op;
			break;
		}
		r -= weights[i].w;
	}
	if (op != OP_OPEN && op < OP_FSTAT && !nfds)
		op = OP_OPEN;
	op_count[op]++;
	cur_op = op;
	double t0 = api_now();
	switch (op) {
	case OP_OPEN:
		op_open();
		break;
	case OP_CLOSE:
		op_close();
		break;
	case OP_READ:
	case OP_PREAD:
	case OP_PREADV2:
		op_readish(op);
		break;
	case OP_WRITE:
	case OP_PWRITE:
	case OP_PWRITEV2:
		op_writeish(op);
		break;
	case OP_LSEEK:
		op_lseek();
		break;
	case OP_FSYNC:
		op_fsync();
		break;
	case OP_FTRUNCATE:
		op_ftruncate();
		break;
	case OP_FALLOCATE:
		op_fallocate();
		break;
	case OP_FADVISE:
		op_fadvise();
		break;
	case OP_FSTAT:
		op_fstat();
		break;
	case OP_STAT:
		op_stat();
		break;
	case OP_UNLINK:
		op_unlink();
		break;
	case OP_RENAME:
		op_rename();
		break;
	case OP_MKDIR:
		op_mkdir();
		break;
	case OP_RMDIR:
		op_rmdir();
		break;
	case OP_READDIR:
		op_readdir();
		break;
	default:
		op_badfd();
		break;
	}
	op_time[op] += api_now() - t0;
}

TEST(model_random_ops)
{
	const char *h = getenv("PC_MODEL_HOST");
	const char *ops_env = getenv("PC_MODEL_OPS");
	unsigned long nops =
	    ops_env && *ops_env ? strtoul(ops_env, NULL, 0) : test_scale(1000000, 20);
	unsigned long restart_every = nops >= 200000 ? 20000 : nops / 10 + 1;
	unsigned long verify_every = 10000;

	host = h && *h && *h != '0';
	seed = test_seed();
	rng_seed(&rng, seed);
	printf("# %lu ops against %s\n", nops,
	       host ? "the HOST KERNEL (model check)" : "the engine");
	store_dir = api_fresh_dir("model");
	rbuf = aligned_alloc(PAGE, CAP + 4 * PAGE);
	wbuf = aligned_alloc(PAGE, CAP + 4 * PAGE);
	pool = aligned_alloc(PAGE, 2 * CAP + 4 * PAGE);
	CHECK(rbuf && wbuf && pool);
	for (size_t i = 0; i < 2 * CAP + 4 * PAGE; i += 8) {
		uint64_t x = rng_next(&rng);
		memcpy(pool + i, &x, 8);
	}
	root = node_new(true, NULL, 0);
	engine_start();

	double t0 = api_now();
	for (opno = 0; opno < nops; opno++) {
		if (opno && opno % restart_every == 0) {
			double t1 = api_now();
			op_count[OP_RESTART]++;
			op_restart();
			op_time[OP_RESTART] += api_now() - t1;
		} else if (opno && opno % verify_every == 0) {
			double t1 = api_now();
			op_count[OP_VERIFY]++;
			op_verify();
			op_time[OP_VERIFY] += api_now() - t1;
		} else {
			run_op();
		}
	}
	op_restart();
	double dt = api_now() - t0;

	printf("# %lu ops in %.2f s (%.1f us/op)\n", nops, dt, dt * 1e6 / (double)nops);
	for (int i = 0; i < OP_NR; i++) {
		char errs[512] = "";
		size_t el = 0;
		for (int e = 1; e < 134; e++)
			if (op_errno[i][e])
				el += (size_t)snprintf(errs + el, sizeof(errs) - el, " %s:%lu",
						       strerrorname_np(e), op_errno[i][e]);
		printf("#   %-9s %8lu %6.2fs %s\n", op_names[i], op_count[i], op_time[i], errs);
	}
	printf("# NOWAIT refused: %lu; fallocate EOPNOTSUPP: %lu; SEEK_DATA ENXIO over zeroes: "
	       "%lu\n",
	       nowait_eagain, falloc_unsupported, seek_data_enxio_zero);

	if (getenv("PC_MODEL_TREE"))
		dump_tree(root, 0);
	engine_stop();
	node_free_tree(root);
	root = NULL;
	free(rbuf);
	free(wbuf);
	free(pool);
	api_rm_rf(store_dir);
	free(store_dir);
}

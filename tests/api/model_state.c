/* SPDX-License-Identifier: MIT */
/*
 * model_state.c - the model of test_model and its state (see model_ops.h):
 * the globals, the op history for failure reports, the random helpers, the
 * model's nodes (files as byte vectors, directories as child tables), the
 * paths over them, and the generators of offsets, lengths, data and fds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kernel/rng.h"
#include "model_ops.h"

const char *const names[NNAMES] = {"f0", "f1", "f2", "f3", "d0", "d1"};

/* ---- the model ---- */

struct mnode *root;
struct mfd fds[MAXFD];
int nfds;
struct rng rng;
uint64_t seed;
unsigned long opno;

/* backend */
bool host; /* PC_MODEL_HOST: the kernel in a temp dir instead of the engine */
struct pc_engine *eng;
char *store_dir;
int last_closed_fd = -1;

/* buffers */
uint8_t *rbuf, *wbuf, *pool; /* 4096-aligned, CAP + 2 pages each; pool: random bytes */

/* statistics */
const char *const op_names[OP_NR] = {
    "open",  "close",	"read",	  "write",   "pread",	"pwrite", "preadv2",   "pwritev2", "lseek",
    "fsync", "ftrunc",	"falloc", "fadvise", "fstat",	"stat",	  "unlink",    "rename",   "mkdir",
    "rmdir", "readdir", "verify", "badfd",   "restart", "mmap",	  "munmap",    "mread",	   "mwrite",
    "msync", "madvise", "mio",	  "dioview", "clone",	"dedupe", "copyrange",
};
unsigned long op_count[OP_NR], op_errno[OP_NR][134];
double op_time[OP_NR];
int cur_op;
unsigned long nowait_eagain, falloc_unsupported, seek_data_enxio_zero;

/* the last ops, for the failure report */
char hist[HIST][160];

void note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(hist[opno % HIST], sizeof(hist[0]), fmt, ap);
	va_end(ap);
}

const char *fmt_msg(const char *fmt, ...)
{
	static char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return buf;
}

void dump_history(void)
{
	printf("# last ops (seed 0x%llx):\n", (unsigned long long)seed);
	for (unsigned long i = opno >= HIST ? opno - HIST + 1 : 0; i <= opno; i++)
		printf("#   #%lu %s\n", i, hist[i % HIST]);
}

const char *errname(long r)
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

uint64_t rnd(uint64_t n)
{
	return n ? rng_below(&rng, n) : 0;
}

bool chance(unsigned pct)
{
	return rnd(100) < pct;
}

/* ---- model nodes ---- */

struct mnode *node_new(bool dir, struct mnode *parent, int name)
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

void node_free_tree(struct mnode *n)
{
	if (!n)
		return;
	for (int i = 0; i < NNAMES; i++)
		node_free_tree(n->kids[i]);
	free(n->data);
	free(n);
}

/* PC_MODEL_TREE: the namespace at the end, for tuning the generators. */
void dump_tree(struct mnode *d, int depth)
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
void node_unlink(struct mnode *n)
{
	n->parent->kids[n->name] = NULL;
	n->parent = NULL;
	n->dead = true;
	if (!n->opens) {
		free(n->data);
		free(n);
	}
}

void node_put(struct mnode *n)
{
	if (--n->opens == 0 && n->dead) {
		free(n->data);
		free(n);
	}
}

bool dir_empty(const struct mnode *d)
{
	for (int i = 0; i < NNAMES; i++)
		if (d->kids[i])
			return false;
	return true;
}

void file_resize(struct mnode *n, size_t size)
{
	CHECK(size <= CAP);
	mview_file_resized(n, n->size, size);
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

void file_write(struct mnode *n, size_t off, const void *src, size_t len)
{
	if (!len)
		return;
	if (off + len > n->size)
		file_resize(n, off + len);
	memcpy(n->data + off, src, len);
}

void file_zero(struct mnode *n, size_t off, size_t end)
{
	if (end > n->size)
		end = n->size;
	if (off < end)
		memset(n->data + off, 0, end - off);
}

/* ---- paths ---- */

static void path_str(struct mpath *p)
{
	char *s = p->str;
	for (int i = 0; i < p->n; i++)
		s += sprintf(s, "%s%s", i ? "/" : "", names[p->comp[i]]);
}

/* Mostly through existing directories, sometimes not (ENOENT, ENOTDIR). */
void gen_path(struct mpath *p, bool want_dir)
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
int resolve_parent(const struct mpath *p, struct mnode **parent)
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

int node_depth(const struct mnode *n)
{
	int d = 0;
	for (; n->parent; n = n->parent)
		d++;
	return d;
}

int node_height(const struct mnode *n)
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

bool is_ancestor_or_self(const struct mnode *a, const struct mnode *n)
{
	for (; n; n = n->parent)
		if (n == a)
			return true;
	return false;
}

/* ---- generators ---- */

int64_t gen_off(size_t size)
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

size_t gen_len(void)
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
const uint8_t *gen_data(size_t len, bool aligned)
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
int pick_fd(void)
{
	return nfds ? (int)rnd((uint64_t)nfds) : -1;
}

/* Mostly an fd of a file that allows @need, sometimes any: wrong-mode calls
 * are checked too, but rarely. */
int pick_fd_for(int need)
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

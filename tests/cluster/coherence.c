/* SPDX-License-Identifier: MIT */
/*
 * coherence.c - the node workload and the checker (coherence.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cluster/coherence.h"
#include "pagecache.h"

enum { REC_WBEGIN = 1, REC_WRITE, REC_READ, REC_SYNC };

struct coh_rec {
	uint8_t type;
	uint8_t file;
	uint8_t node;
	uint8_t kind; /* what step made it (for the report) */
	uint32_t len;
	uint64_t off;
	uint64_t id; /* writes: unique (node << 40 | seq); 0 for zeroes */
	uint64_t t0, t1;
	/* REC_READ: len bytes follow */
};

static const char *const kind_name[] = {"pread", "pwrite",   "load",	  "store", "truncate",
					"punch", "dio-read", "dio-write", "fsync"};
enum { K_PREAD, K_PWRITE, K_LOAD, K_STORE, K_TRUNC, K_PUNCH, K_DREAD, K_DWRITE, K_FSYNC };

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The byte write @id puts at file offset @p: never 0 (0 is "zeroes"). */
static uint8_t val(uint64_t id, uint64_t p)
{
	uint64_t z = id * 0x9e3779b97f4a7c15ull ^ (p * 0xc2b2ae3d27d4eb4full);
	z ^= z >> 29;
	z *= 0xbf58476d1ce4e5b9ull;
	z ^= z >> 32;
	return id ? (uint8_t)(1 + z % 255) : 0;
}

static void fname(char *buf, size_t n, int file)
{
	snprintf(buf, n, "coh%d", file);
}

int coh_prepare(const char *dir)
{
	for (int f = 0; f < COH_FILES; f++) {
		char path[4200], name[16];
		fname(name, sizeof(name), f);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			return -errno;
		int r = ftruncate(fd, COH_FILE_MIN);
		close(fd);
		if (r)
			return -errno;
	}
	return 0;
}

/* ---- the node ---- */

struct node {
	const struct coh_node_args *a;
	struct pc_engine *e;
	int fd[COH_FILES], dfd[COH_FILES];
	char *view[COH_FILES];
	int log;
	uint64_t rng, seq;
	char *buf; /* aligned, COH_IO_MAX */
};

static void log_rec(struct node *n, struct coh_rec *r, const void *data)
{
	struct iovec iov[2] = {{r, sizeof(*r)}, {(void *)data, data ? r->len : 0}};
	r->node = (uint8_t)n->a->node;
	if (writev(n->log, iov, data ? 2 : 1) < 0)
		_exit(4);
}

static void pattern(char *buf, uint64_t id, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)val(id, off + i);
}

/* An I/O result: the count, or the end of the node (lease lost: 3). */
static long io_ok(struct node *n, long ret, const char *what)
{
	if (ret == -EIO) {
		fprintf(stderr, "node %d: %s: EIO (the lease is lost): stopping\n", n->a->node,
			what);
		_exit(COH_EXIT_LOST);
	}
	if (ret < 0) {
		fprintf(stderr, "node %d: %s: %s\n", n->a->node, what, strerror((int)-ret));
		_exit(1);
	}
	return ret;
}

static void do_write(struct node *n, int kind, int f, uint64_t off, uint32_t len)
{
	struct coh_rec r = {
	    .type = REC_WBEGIN, .file = (uint8_t)f, .kind = (uint8_t)kind, .len = len, .off = off};
	long ret = 0;

	if (kind == K_PWRITE || kind == K_STORE || kind == K_DWRITE) {
		r.id = ((uint64_t)(n->a->node + 1) << 40) | ++n->seq;
		pattern(n->buf, r.id, off, len);
	}
	r.t0 = now_ns();
	log_rec(n, &r, NULL);
	r.t0 = now_ns();
	switch (kind) {
	case K_PWRITE:
		ret = io_ok(n, pc_pwrite(n->e, n->fd[f], n->buf, len, (off_t)off), "pwrite");
		break;
	case K_DWRITE:
		ret = io_ok(n, pc_pwrite(n->e, n->dfd[f], n->buf, len, (off_t)off), "dio pwrite");
		break;
	case K_STORE:
		memcpy(n->view[f] + off, n->buf, len);
		ret = len;
		break;
	case K_TRUNC:
		io_ok(n, pc_ftruncate(n->e, n->fd[f], (off_t)off), "ftruncate");
		ret = len;
		break;
	case K_PUNCH:
		io_ok(n,
		      pc_fallocate(n->e, n->fd[f], FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				   (off_t)off, len),
		      "punch");
		ret = len;
		break;
	}
	r.t1 = now_ns();
	if ((uint32_t)ret != len) {
		fprintf(stderr, "node %d: %s short: %ld of %u\n", n->a->node, kind_name[kind], ret,
			len);
		_exit(1);
	}
	r.type = REC_WRITE;
	log_rec(n, &r, NULL);
}

static void do_read(struct node *n, int kind, int f, uint64_t off, uint32_t len)
{
	struct coh_rec r = {
	    .type = REC_READ, .file = (uint8_t)f, .kind = (uint8_t)kind, .len = len, .off = off};
	long ret;

	memset(n->buf, 0xee, len);
	r.t0 = now_ns();
	if (kind == K_LOAD) {
		memcpy(n->buf, n->view[f] + off, len);
		ret = len;
	} else {
		ret = io_ok(
		    n,
		    pc_pread(n->e, kind == K_DREAD ? n->dfd[f] : n->fd[f], n->buf, len, (off_t)off),
		    "pread");
	}
	r.t1 = now_ns();
	if (ret < (long)len)
		memset(n->buf + ret, 0, len - (size_t)ret); /* past EOF: zeroes */
	log_rec(n, &r, n->buf);
}

static void do_fsync(struct node *n, int f)
{
	struct coh_rec r = {.type = REC_SYNC, .file = (uint8_t)f, .kind = K_FSYNC};

	r.t0 = now_ns();
	io_ok(n, pc_fsync(n->e, n->fd[f]), "fsync");
	r.t1 = now_ns();
	log_rec(n, &r, NULL);
}

static void open_file(struct node *n, int f)
{
	char name[16];
	int err;

	fname(name, sizeof(name), f);
	n->fd[f] = (int)io_ok(n, pc_open(n->e, name, O_RDWR, 0), "open");
	n->dfd[f] =
	    n->a->dio ? (int)io_ok(n, pc_open(n->e, name, O_RDWR | O_DIRECT, 0), "open") : -1;
	n->view[f] =
	    pc_mmap(n->e, n->fd[f], COH_FILE_MIN, PROT_READ | PROT_WRITE, MAP_SHARED, 0, &err);
	if (!n->view[f])
		io_ok(n, err, "mmap");
}

static void close_file(struct node *n, int f)
{
	pc_munmap(n->e, n->view[f], COH_FILE_MIN);
	pc_close(n->e, n->fd[f]);
	if (n->dfd[f] >= 0)
		pc_close(n->e, n->dfd[f]);
}

static void step(struct node *n)
{
	unsigned pick = (unsigned)(rng_next(&n->rng) % 100);
	int f = (int)(rng_next(&n->rng) % COH_FILES);
	uint32_t len = 1 + (uint32_t)(rng_next(&n->rng) % COH_IO_MAX);
	uint64_t off = rng_next(&n->rng) % (COH_FILE_MAX - len);
	uint64_t moff = rng_next(&n->rng) % (COH_FILE_MIN - len);

	if (!n->a->dio && pick >= 75 && pick < 95)
		pick -= 50; /* no O_DIRECT: buffered instead */
	if (n->a->reopen && pick % 10 == 9) {
		/* Its last close: with a small inode cache the inode goes,
		 * written back, and its glock with it (lock_zk_gc.c). */
		close_file(n, f);
		open_file(n, f);
		return;
	}
	if (pick < 22) {
		do_read(n, K_PREAD, f, off, len);
	} else if (pick < 40) {
		do_write(n, K_PWRITE, f, off, len);
	} else if (pick < 50) {
		do_read(n, K_LOAD, f, moff, len);
	} else if (pick < 60) {
		do_write(n, K_STORE, f, moff, len);
	} else if (pick < 65) {
		uint64_t l = COH_FILE_MIN + rng_next(&n->rng) % (COH_FILE_MAX - COH_FILE_MIN);
		do_write(n, K_TRUNC, f, l, (uint32_t)(COH_FILE_MAX - l));
	} else if (pick < 70) {
		do_write(n, K_PUNCH, f, off, len);
	} else if (pick < 75) {
		do_fsync(n, f);
	} else {
		/* O_DIRECT: whole 4 KiB blocks */
		uint32_t blocks = 1 + (uint32_t)(rng_next(&n->rng) % (COH_IO_MAX / 4096));
		uint64_t b = rng_next(&n->rng) % (COH_FILE_MAX / 4096 - blocks);
		if (pick < 85)
			do_read(n, K_DREAD, f, b * 4096, blocks * 4096);
		else
			do_write(n, K_DWRITE, f, b * 4096, blocks * 4096);
	}
	if (n->a->fsync_often &&
	    ((pick >= 22 && pick < 40) || (pick >= 50 && pick < 70) || pick >= 85))
		do_fsync(n, f); /* every change durable but the one in flight */
}

/* A load or store through a view after the lease was lost: the engine
 * fails the fault (SIGBUS, chained here): the node ends as on EIO. */
static void on_sigbus(int sig)
{
	(void)sig;
	_exit(COH_EXIT_LOST);
}

int coh_node_main(const struct coh_node_args *a)
{
	struct pc_options o = PC_OPTIONS_INIT;
	struct node n = {.a = a, .rng = a->seed * 31 + (uint64_t)a->node + 1};
	char path[4200], name[64];
	int err;

	snprintf(path, sizeof(path), "%s/node%d.log", a->logdir, a->node);
	n.log = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	if (n.log < 0)
		return 1;
	signal(SIGBUS, on_sigbus); /* before the engine installs its own */
	snprintf(name, sizeof(name), "node%d", a->node);
	o.store_dir = a->dir;
	o.cluster = a->cluster;
	o.cluster_node = name;
	o.cluster_session_ms = a->session_ms;
	err = pc_engine_open(&o, &n.e);
	if (err) {
		fprintf(stderr, "node %d: engine: %s (%s)\n", a->node, strerror(-err),
			pc_cluster_error());
		return 1;
	}
	if (posix_memalign((void **)&n.buf, 4096, COH_IO_MAX))
		return 1;
	for (int f = 0; f < COH_FILES; f++)
		open_file(&n, f);
	for (int f = 0; a->final_read && f < COH_FILES; f++)
		for (uint64_t off = 0; off < COH_FILE_MAX; off += COH_IO_MAX)
			do_read(&n, K_PREAD, f, off, COH_IO_MAX);
	for (unsigned i = 0; !a->final_read && i < a->nops; i++) {
		step(&n);
		if (a->progress)
			__atomic_store_n(&a->progress[a->node], i + 1, __ATOMIC_RELEASE);
	}
	for (int f = 0; f < COH_FILES; f++) {
		pc_munmap(n.e, n.view[f], COH_FILE_MIN);
		n.view[f] = NULL;
		do_fsync(&n, f);
		pc_close(n.e, n.fd[f]);
		if (n.dfd[f] >= 0)
			pc_close(n.e, n.dfd[f]);
	}
	err = pc_engine_close(n.e);
	close(n.log);
	free(n.buf);
	return err ? 1 : 0;
}

/* ---- the checker ---- */

struct wr {
	uint64_t id, off, end; /* [off, end) */
	uint64_t t0, t1;       /* t1 = UINT64_MAX: may or may not have happened */
	uint8_t file, node, kind;
};

struct rd {
	struct coh_rec r;
	unsigned char *data;
};

struct logs {
	struct wr *w;
	size_t nw, capw;
	struct rd *rd;
	size_t nr, capr;
};

static int load_log(const char *logdir, int node, bool lost, struct logs *L)
{
	char path[4200];
	FILE *fp;
	struct coh_rec r;
	size_t first = L->nw;
	uint64_t synced[COH_FILES] = {0}; /* start of the last fsync, per file */

	snprintf(path, sizeof(path), "%s/node%d.log", logdir, node);
	fp = fopen(path, "r");
	if (!fp)
		return -errno;
	while (fread(&r, sizeof(r), 1, fp) == 1) {
		if (r.file >= COH_FILES || r.len > COH_FILE_MAX)
			break;
		if (r.type == REC_READ) {
			unsigned char *d = malloc(r.len ? r.len : 1);
			if (!d || fread(d, 1, r.len, fp) != r.len) {
				free(d);
				break; /* a killed node's last record */
			}
			if (L->nr == L->capr) {
				L->capr = L->capr ? 2 * L->capr : 1024;
				L->rd = realloc(L->rd, L->capr * sizeof(*L->rd));
			}
			L->rd[L->nr++] = (struct rd){r, d};
		} else if (r.type == REC_WBEGIN) {
			if (L->nw == L->capw) {
				L->capw = L->capw ? 2 * L->capw : 1024;
				L->w = realloc(L->w, L->capw * sizeof(*L->w));
			}
			L->w[L->nw++] = (struct wr){r.id,	r.off,	r.off + r.len, r.t0,
						    UINT64_MAX, r.file, r.node,	       r.kind};
		} else if (r.type == REC_WRITE) {
			/* the last begin of this node is this write */
			struct wr *w = &L->w[L->nw - 1];
			if (L->nw > first && w->t1 == UINT64_MAX && w->off == r.off) {
				w->t0 = r.t0;
				w->t1 = r.t1;
			}
		} else if (r.type == REC_SYNC) {
			synced[r.file] = r.t0;
		}
	}
	fclose(fp);
	/* A lost node's writes that no fsync covered may be gone: they may
	 * show up, but prove nothing older stale. */
	if (lost)
		for (size_t i = first; i < L->nw; i++)
			if (L->w[i].t1 == UINT64_MAX || L->w[i].t1 >= synced[L->w[i].file])
				L->w[i].t1 = UINT64_MAX;
	return 0;
}

static void check_read(const struct logs *L, const struct rd *rd, struct coh_result *res,
		       uint64_t *s)
{
	const struct coh_rec *r = &rd->r;
	uint64_t end = r->off + r->len;
	size_t nc = 0;
	static size_t *cand;
	static size_t capc;

	/* writes of the file overlapping the read that started before it ended */
	for (size_t i = 0; i < L->nw; i++) {
		const struct wr *w = &L->w[i];
		if (w->file != r->file || w->end <= r->off || w->off >= end || w->t0 >= r->t1)
			continue;
		if (nc == capc) {
			capc = capc ? 2 * capc : 256;
			cand = realloc(cand, capc * sizeof(*cand));
		}
		cand[nc++] = i;
	}
	for (uint64_t p = r->off; p < end; p++) {
		uint8_t got = rd->data[p - r->off];
		bool have_s = false, ok = false;
		uint64_t S = 0;
		const struct wr *newest = NULL;

		/* S: the latest start of a write covering p completed before the
		 * read began; a write that ended before S is overwritten. */
		for (size_t k = 0; k < nc; k++) {
			const struct wr *w = &L->w[cand[k]];
			if (p < w->off || p >= w->end || w->t1 >= r->t0)
				continue;
			if (!have_s || w->t0 > S) {
				S = w->t0;
				newest = w;
			}
			have_s = true;
		}
		if (!have_s && got == 0)
			ok = true; /* the initial zeroes */
		for (size_t k = 0; k < nc && !ok; k++) {
			const struct wr *w = &L->w[cand[k]];
			if (p < w->off || p >= w->end)
				continue;
			if (have_s && w->t1 < S)
				continue; /* overwritten before the read began */
			if (val(w->id, p) == got)
				ok = true;
		}
		res->bytes_checked++;
		if (!ok) {
			if (!res->stale++)
				snprintf(
				    res->first, sizeof(res->first),
				    "node %u %s of coh%u [%" PRIu64 ", +%u) at t=%" PRIu64
				    "..%" PRIu64 ": byte %" PRIu64 " is %#x; the newest write "
				    "completed before it began: %s by node %u (%#x), t=%" PRIu64
				    "..%" PRIu64,
				    r->node, kind_name[r->kind], r->file, r->off, r->len, r->t0,
				    r->t1, p, got, newest ? kind_name[newest->kind] : "none",
				    newest ? newest->node : 0, newest ? val(newest->id, p) : 0,
				    newest ? newest->t0 : 0, newest ? newest->t1 : 0);
			(void)s;
			return; /* one report per read */
		}
	}
}

int coh_check(const char *logdir, int nnodes, const bool *lost, struct coh_result *res)
{
	struct logs L = {0};
	int err = 0;

	memset(res, 0, sizeof(*res));
	for (int i = 0; i < nnodes && !err; i++)
		err = load_log(logdir, i, lost && lost[i], &L);
	if (!err) {
		res->writes = L.nw;
		res->reads = L.nr;
		for (size_t i = 0; i < L.nr; i++)
			check_read(&L, &L.rd[i], res, NULL);
	}
	for (size_t i = 0; i < L.nr; i++)
		free(L.rd[i].data);
	free(L.rd);
	free(L.w);
	return err;
}

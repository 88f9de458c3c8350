/* SPDX-License-Identifier: MIT */
/*
 * model_ops.h - the pieces of test_model (the model-based random test of the
 * public API): the in-memory model (per file a byte vector, a namespace tree,
 * the open fds with their modes and positions) and its state
 * (model_state.c), the backend calls that go to the engine or, with
 * PC_MODEL_HOST, to the host kernel (model_backend.c), and one step per
 * operation that runs it on the backend and checks the result against the
 * model (model_ops_io.c: fd and data calls; model_ops_ns.c: namespace calls,
 * verification, bad fds, restart). test_model.c holds the driver loop. All
 * of it runs on the one test thread: no locks.
 */
#ifndef PC_TESTS_API_MODEL_OPS_H
#define PC_TESTS_API_MODEL_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "harness.h"
#include "kernel/rng.h"
#include "model.h"
#include "pagecache.h"

#define PAGE	 4096
#define CAP	 (1 << 20) /* largest file the model keeps */
#define MAXFD	 16
#define NNAMES	 6
#define MAXDEPTH 3

extern const char *const names[NNAMES];

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

extern struct mnode *root;
extern struct mfd fds[MAXFD];
extern int nfds;
extern struct rng rng;
extern uint64_t seed;
extern unsigned long opno;

/* backend */
extern bool host; /* PC_MODEL_HOST: the kernel in a temp dir instead of the engine */
extern struct pc_engine *eng;
extern char *store_dir;
extern int last_closed_fd;

/* buffers */
extern uint8_t *rbuf, *wbuf, *pool; /* 4096-aligned, CAP + 2 pages each; pool: random bytes */

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
	OP_MMAP, /* model_ops_mmap.c */
	OP_MUNMAP,
	OP_MREAD,
	OP_MWRITE,
	OP_MSYNC,
	OP_MADVISE,
	OP_MIO,
	OP_DIO_VIEW, /* model_ops_dio.c */
	OP_CLONE,    /* model_ops_remap.c */
	OP_DEDUPE,
	OP_COPY_RANGE,
	OP_NR
};
extern const char *const op_names[OP_NR];
extern unsigned long op_count[OP_NR], op_errno[OP_NR][134];
extern double op_time[OP_NR];
extern int cur_op;
extern unsigned long nowait_eagain, falloc_unsupported, seek_data_enxio_zero;

/* the last ops, for the failure report */
#define HIST 24
extern char hist[HIST][160];

void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *fmt_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void dump_history(void);
const char *errname(long r);

#define FAIL(...)                                                                             \
	do {                                                                                  \
		dump_history();                                                               \
		CHECKF(0, "op #%lu (%s), seed 0x%llx (replay: PC_SEED=0x%llx): %s", opno,     \
		       hist[opno % HIST], (unsigned long long)seed, (unsigned long long)seed, \
		       fmt_msg(__VA_ARGS__));                                                 \
	} while (0)

#define EXPECT(got, want)                                                                    \
	do {                                                                                 \
		long __g = (long)(got), __w = (long)(want);                                  \
		if (__g != __w)                                                              \
			FAIL("%s: got %s, model says %s", #got, errname(__g), errname(__w)); \
		if (__w < 0 && __w > -134)                                                   \
			op_errno[cur_op][-__w]++;                                            \
	} while (0)

uint64_t rnd(uint64_t n);
bool chance(unsigned pct);

/* ---- model nodes (model_state.c) ---- */

struct mnode *node_new(bool dir, struct mnode *parent, int name);
void node_free_tree(struct mnode *n);
/* PC_MODEL_TREE: the namespace at the end, for tuning the generators. */
void dump_tree(struct mnode *d, int depth);
/* Detach from the tree; free unless an open fd keeps it. */
void node_unlink(struct mnode *n);
void node_put(struct mnode *n);
bool dir_empty(const struct mnode *d);
void file_resize(struct mnode *n, size_t size);
void file_write(struct mnode *n, size_t off, const void *src, size_t len);
void file_zero(struct mnode *n, size_t off, size_t end);

/* ---- paths (model_state.c) ---- */

struct mpath {
	int n;
	int comp[MAXDEPTH];
	char str[64];
};

/* Mostly through existing directories, sometimes not (ENOENT, ENOTDIR). */
void gen_path(struct mpath *p, bool want_dir);
/* Walk all but the last component: 0 and the parent dir, or -ENOENT/-ENOTDIR. */
int resolve_parent(const struct mpath *p, struct mnode **parent);
int node_depth(const struct mnode *n);
int node_height(const struct mnode *n);
bool is_ancestor_or_self(const struct mnode *a, const struct mnode *n);

/* ---- generators (model_state.c) ---- */

int64_t gen_off(size_t size);
size_t gen_len(void);
/* Source bytes: random, zeroes, or a mix (zero runs make SEEK_DATA loose). */
const uint8_t *gen_data(size_t len, bool aligned);
/* An open fd (index into fds[]), or -1 if none is open. */
int pick_fd(void);

enum { NEED_FILE, NEED_READ, NEED_WRITE };

/* Mostly an fd of a file that allows @need, sometimes any: wrong-mode calls
 * are checked too, but rarely. */
int pick_fd_for(int need);

/* ---- backend calls (model_backend.c) ---- */

int b_open(const char *path, int flags, mode_t mode);
int b_close(int fd);
ssize_t b_read(int fd, void *buf, size_t n);
ssize_t b_write(int fd, const void *buf, size_t n);
ssize_t b_pread(int fd, void *buf, size_t n, off_t off);
ssize_t b_pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t b_preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags);
ssize_t b_pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags);
off_t b_lseek(int fd, off_t off, int whence);
int b_fsync(int fd, bool data);
int b_ftruncate(int fd, off_t len);
int b_fallocate(int fd, int mode, off_t off, off_t len);
int b_fadvise(int fd, off_t off, off_t len, int advice);
int b_fstat(int fd, struct stat *st);
int b_stat(const char *path, struct stat *st);
int b_unlink(const char *path);
int b_rename(const char *from, const char *to, unsigned flags);
int b_mkdir(const char *path, mode_t mode);
int b_rmdir(const char *path);
/* Up to @max entries; host: getdents64, seeking back to the first entry
 * that did not fit (its start is the previous entry's d_off). */
ssize_t b_readdir(int fd, struct pc_dirent *ents, size_t max);

/* ---- engine lifetime (model_backend.c) ---- */

void engine_start(void);
void drop_fd(int i);
void engine_stop(void);

/* ---- ops: fds and data (model_ops_io.c) ---- */

void op_open(void);
void op_close(void);
void check_bytes(const struct mnode *n, int64_t off, const uint8_t *got, size_t len);
/* Read ops: read / pread / preadv2. */
void op_readish(int kind);
void op_writeish(int kind);
void op_lseek(void);
void op_fsync(void);
void op_ftruncate(void);
void op_fallocate(void);
void op_fadvise(void);
void op_fstat(void);

/* ---- ops: namespace, verification, bad fds, restart (model_ops_ns.c) ---- */

void op_stat(void);
void op_unlink(void);
void op_mkdir(void);
void op_rmdir(void);
void op_rename(void);
void op_readdir(void);
void op_verify(void);
void op_badfd(void);
void op_restart(void);

/* ---- ops: O_DIRECT from/into views (model_ops_dio.c) ---- */

void op_dio_view(void);

/* ---- ops: clone, dedupe, copy_file_range (model_ops_remap.c) ---- */

void op_clone(void);
void op_dedupe(void);
void op_copy_file_range(void);
/* valid remaps the store shared, and refused (-EOPNOTSUPP: it cannot) */
extern unsigned long remap_shared, remap_refused;

/* ---- ops: mappings (model_ops_mmap.c) ---- */

void op_mmap(void);
void op_munmap(void);
void op_mread(void);
void op_mwrite(void);
void op_msync(void);
void op_madvise(void);
void op_mio(void);
/* Hooks: the file shrank or grew (file_resize); a collapse/insert range
 * moved the bytes from @off on; the engine restarts (unmap every view). */
void mview_file_resized(struct mnode *n, size_t old, size_t size);
void mview_file_shifted(struct mnode *n, int64_t off);
void mview_drop_all(void);

#endif

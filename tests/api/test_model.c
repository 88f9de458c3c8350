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
 *
 * The model, the backend and the per-operation steps are in model_state.c,
 * model_backend.c, model_ops_io.c and model_ops_ns.c (model_ops.h); this
 * file holds the op mix and the driver loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kernel/rng.h"
#include "model.h"
#include "model_ops.h"
#include "remap_fixture.h"

/* ---- the run ---- */

struct weight {
	int op;
	unsigned w;
};
static const struct weight weights[] = {
    /* the last close of a file (eviction), truncate and fsync cost the
     * engine most: they are rarer than reads and writes */
    {OP_OPEN, 30},
    {OP_CLOSE, 22},
    {OP_READ, 80},
    {OP_WRITE, 70},
    {OP_PREAD, 120},
    {OP_PWRITE, 110},
    {OP_PREADV2, 70},
    {OP_PWRITEV2, 70},
    {OP_LSEEK, 60},
    {OP_FSYNC, 3},
    {OP_FTRUNCATE, 15},
    {OP_FALLOCATE, 35},
    {OP_FADVISE, 30},
    {OP_FSTAT, 30},
    {OP_STAT, 20},
    {OP_UNLINK, 8},
    {OP_RENAME, 16},
    {OP_MKDIR, 5},
    {OP_RMDIR, 12},
    {OP_READDIR, 5},
    {OP_VERIFY, 0},
    {OP_BADFD, 5},
    /* mappings (model_ops_mmap.c) */
    {OP_MMAP, 8},
    {OP_MUNMAP, 5},
    {OP_MREAD, 40},
    {OP_MWRITE, 30},
    {OP_MSYNC, 4},
    {OP_MADVISE, 10},
    {OP_MIO, 10},
    /* O_DIRECT with a view as the buffer (model_ops_dio.c) */
    {OP_DIO_VIEW, 12},
    /* clone, dedupe, copy_file_range (model_ops_remap.c) */
    {OP_CLONE, 10},
    {OP_DEDUPE, 8},
    {OP_COPY_RANGE, 12},
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
	case OP_MMAP:
		op_mmap();
		break;
	case OP_MUNMAP:
		op_munmap();
		break;
	case OP_MREAD:
		op_mread();
		break;
	case OP_MWRITE:
		op_mwrite();
		break;
	case OP_MSYNC:
		op_msync();
		break;
	case OP_MADVISE:
		op_madvise();
		break;
	case OP_MIO:
		op_mio();
		break;
	case OP_DIO_VIEW:
		op_dio_view();
		break;
	case OP_CLONE:
		op_clone();
		break;
	case OP_DEDUPE:
		op_dedupe();
		break;
	case OP_COPY_RANGE:
		op_copy_file_range();
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
	const char *xfs = getenv("PC_MODEL_XFS");
	if (xfs && *xfs && *xfs != '0' && !remap_tmpdir_on_xfs())
		test_skip("PC_MODEL_XFS: no XFS reflink mount here");
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
			mview_drop_all();
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
	mview_drop_all();
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
	       "%lu; valid clones/dedupes shared: %lu, refused by the store: %lu\n",
	       nowait_eagain, falloc_unsupported, seek_data_enxio_zero, remap_shared,
	       remap_refused);

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

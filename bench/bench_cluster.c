/* SPDX-License-Identifier: MIT */
/*
 * bench_cluster.c - cluster mode's cost for one node working alone on its
 * files (issue 18: "within 5% of nolock"). Two engines on two directories,
 * one with no cluster (nolock) and one a node of a ZooKeeper cluster it
 * starts (tests/cluster/zk_fixture.c), run the same loops alternately in
 * each repetition: 4 KiB random preads of a cached file (cache hits: an SH
 * holder per call, granted from the cached state), 4 KiB random buffered
 * pwrites (an EX holder per call), loads through a view of a cached file
 * (no glock: installed pages), and stat of the open file (SH). The glock is
 * taken from the lock service once; after that every holder is granted
 * from the cached state with no round trip. A repetition interleaves the
 * two engines in ten slices each (ABBA order), so that a slow moment of the
 * shared machine is paid by both sides.
 *
 * Records: CMP cluster <metric> ns zk nolock ratio goal "<= 1.05".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "bench.h"
#include "zk_fixture.h"

#define FILE_SIZE (16u << 20) /* below dirty_background: no writeback in the loops */
#define IO	  4096u
#define CHUNKS	  10u /* slices per engine per repetition */

struct eng {
	struct pc_engine *e;
	int fd;
	char *view;
};

static void eng_open(struct eng *g, const char *dir, const char *url)
{
	struct pc_options o = PC_OPTIONS_INIT;
	char *buf = calloc(1, 1 << 20);

	o.store_dir = dir;
	o.writeback_interval_ms = 600000;
	o.mem_limit = 256u << 20;
	o.cluster = url;
	o.cluster_node = "bench";
	if (pc_engine_open(&o, &g->e))
		die("pc_engine_open %s: %s", url ? url : "nolock", pc_cluster_error());
	g->fd = (int)ck(pc_open(g->e, "f", O_RDWR | O_CREAT | O_TRUNC, 0644), "open");
	for (unsigned off = 0; off < FILE_SIZE; off += 1 << 20)
		ck(pc_pwrite(g->e, g->fd, buf, 1 << 20, off), "fill");
	ck(pc_fsync(g->e, g->fd), "fsync");
	int err;
	g->view = pc_mmap(g->e, g->fd, FILE_SIZE, PROT_READ, MAP_SHARED, 0, &err);
	if (!g->view)
		die("mmap: %s", strerror(-err));
	for (unsigned off = 0; off < FILE_SIZE; off += 4096)
		(void)*(volatile char *)(g->view + off); /* fault everything in */
	free(buf);
}

static void eng_close(struct eng *g)
{
	pc_munmap(g->e, g->view, FILE_SIZE);
	pc_close(g->e, g->fd);
	ck(pc_engine_close(g->e), "close");
}

enum op { OP_PREAD, OP_PWRITE, OP_LOAD, OP_FSTAT, NOPS };
static const char *const op_name[] = {"4K pread (cache hit)", "4K pwrite (buffered)",
				      "4K load through a view", "fstat"};

/* ns per operation */
static double run(struct eng *g, enum op op, unsigned n, uint64_t seed)
{
	char buf[IO];
	volatile char sink = 0;
	struct stat st;
	uint64_t s = seed, t0 = now_ns();

	memset(buf, 7, sizeof(buf));
	for (unsigned i = 0; i < n; i++) {
		uint64_t off = (rnd(&s) % (FILE_SIZE / IO)) * IO;
		switch (op) {
		case OP_PREAD:
			ck(pc_pread(g->e, g->fd, buf, IO, (off_t)off), "pread");
			break;
		case OP_PWRITE:
			ck(pc_pwrite(g->e, g->fd, buf, IO, (off_t)off), "pwrite");
			break;
		case OP_LOAD:
			for (unsigned k = 0; k < IO; k += 64)
				sink += g->view[off + k];
			break;
		case OP_FSTAT:
			ck(pc_fstat(g->e, g->fd, &st), "fstat");
			break;
		default:
			break;
		}
	}
	(void)sink;
	return (double)(now_ns() - t0) / n;
}

int main(int argc, char **argv)
{
	struct zk_fixture f;
	char url[400];
	struct eng a, b;
	static struct series s[NOPS][2];
	unsigned n;

	bench_init(argc, argv, 7);
	if (zk_fixture_missing()) {
		emit_skip("cluster", "one node alone", "%s", zk_fixture_missing());
		return 0;
	}
	if (zk_fixture_start(&f))
		die("ZooKeeper did not start");
	zk_fixture_url(&f, "bench-alone", url, sizeof(url));
	n = bcfg.smoke ? 2000 : 200000;
	eng_open(&a, bench_tmpdir(bcfg.store_base, "nolock"), NULL);
	eng_open(&b, bench_tmpdir(bcfg.store_base, "zk"), url);
	emit_info("cluster_url", "%s", url);
	for (int r = 0; r < bcfg.reps; r++)
		for (int op = 0; op < NOPS; op++) {
			/* Each repetition is CHUNKS slices per engine in the order
			 * ABBA ABBA ... (or BAAB ...): a drift of the machine's
			 * speed within the repetition (another process, the clock
			 * frequency) falls on both engines alike, where one run of
			 * n operations each put it on one side. */
			double t[2] = {0, 0};
			for (unsigned c = 0; c < 2 * CHUNKS; c++) {
				int which = (int)(((c + 1) >> 1) & 1) ^ ((r + op) & 1);
				t[which] += run(which ? &b : &a, (enum op)op, n / CHUNKS,
						(uint64_t)r * 77 + 1 + c / 2);
			}
			series_add(&s[op][0], t[0] / CHUNKS);
			series_add(&s[op][1], t[1] / CHUNKS);
		}
	for (int op = 0; op < NOPS; op++) {
		emit_row("cluster", op_name[op], "nolock", "ns", &s[op][0]);
		emit_row("cluster", op_name[op], "zk (one node alone)", "ns", &s[op][1]);
		emit_cmp("cluster", op_name[op], "ns", "zk (one node alone)", &s[op][1], "nolock",
			 &s[op][0], "<=", 1.05);
	}
	eng_close(&a);
	eng_close(&b);
	zk_fixture_destroy(&f);
	return 0;
}

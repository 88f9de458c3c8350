/* SPDX-License-Identifier: MIT */
/* model.c - see model.h. */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "model.h"

static char tmp_root[1024];

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

void api_rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void cleanup(void)
{
	if (tmp_root[0])
		api_rm_rf(tmp_root);
}

char *api_fresh_dir(const char *tag)
{
	static unsigned n;
	char *path;

	if (!tmp_root[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(tmp_root, sizeof(tmp_root), "%s/pc-api-XXXXXX", t && *t ? t : "/tmp");
		CHECK(mkdtemp(tmp_root) != NULL);
		atexit(cleanup);
	}
	CHECK(asprintf(&path, "%s/%s%u", tmp_root, tag, n++) > 0);
	CHECKF(mkdir(path, 0700) == 0, "mkdir %s: %s", path, strerror(errno));
	return path;
}

struct pc_engine *api_engine_open(const char *dir, const struct pc_options *opts)
{
	struct pc_options o = {.size = sizeof(o)};
	struct pc_engine *e = NULL;

	if (opts)
		o = *opts;
	o.store_dir = dir;
	int ret = pc_engine_open(&o, &e);
	CHECKF(ret == 0 && e, "pc_engine_open(%s): %s", dir, strerror(-ret));
	return e;
}

void api_engine_close(struct pc_engine *e)
{
	int ret = pc_engine_close(e);
	CHECKF(ret == 0, "pc_engine_close: %s", strerror(-ret));
}

/* The 8 bytes of the aligned word holding @off, zero bytes made 0x5a. */
static inline uint64_t pattern_word(uint32_t tag, uint64_t off)
{
	uint64_t x = (off >> 3) * 0x9E3779B97F4A7C15ull ^ (uint64_t)tag * 0xBF58476D1CE4E5B9ull;
	x ^= x >> 29;
	x *= 0x94D049BB133111EBull;
	x ^= x >> 32;
	uint64_t zero = (x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull;
	if (zero) /* rare: patch the zero bytes one by one */
		for (int k = 0; k < 8; k++)
			if (!((x >> (k * 8)) & 0xff))
				x |= 0x5aull << (k * 8);
	return x;
}

void api_pattern_fill(void *buf, size_t len, uint32_t tag, uint64_t off)
{
	uint8_t *p = buf;
	size_t i = 0;
	for (; i < len && ((off + i) & 7); i++)
		p[i] = api_pattern_byte(tag, off + i);
	for (; i + 8 <= len; i += 8) {
		uint64_t w = pattern_word(tag, off + i);
		memcpy(p + i, &w, 8);
	}
	for (; i < len; i++)
		p[i] = api_pattern_byte(tag, off + i);
}

ssize_t api_pattern_check(const void *buf, size_t len, uint32_t tag, uint64_t off)
{
	const uint8_t *p = buf;
	size_t i = 0;
	for (; i < len && ((off + i) & 7); i++)
		if (p[i] != api_pattern_byte(tag, off + i))
			return (ssize_t)i;
	for (; i + 8 <= len; i += 8) {
		uint64_t w = pattern_word(tag, off + i), g;
		memcpy(&g, p + i, 8);
		if (g != w)
			break;
	}
	for (; i < len; i++)
		if (p[i] != api_pattern_byte(tag, off + i))
			return (ssize_t)i;
	return -1;
}

double api_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

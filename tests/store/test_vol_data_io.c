/* SPDX-License-Identifier: MIT */
/*
 * The vol store's data I/O mode (data_io.c): file data written in aligned
 * writes goes to the image through its O_DIRECT fd (AUTO, the default),
 * everything else through the buffered fd.
 *
 * direct_path_taken: the write-back of whole pages through an engine (1 MiB
 * of pc_pwrite, pc_fsync) reaches the image as direct writes, with
 * PC_VOL_DATA_BUFFERED as buffered ones only; either way the bytes are in
 * the image where the extent map says, read back after a remount, fsck
 * clean. unaligned_stays_buffered: a write from an unaligned buffer, or of
 * a length that is not a multiple of the alignment, is buffered.
 * reads_see_direct_writes: a block the host has cached (read through the
 * buffered fd) and then overwritten by a direct write reads back new,
 * through the store and through a buffered fd of the image (Linux drops
 * the cached pages of a direct write's range; a check of the host, with no
 * switch of ours). open_refused_stays_buffered: a host refusing O_DIRECT
 * at open (vol_test_odirect_refused) leaves data buffered and the store's
 * O_DIRECT support off. refused_write_falls_back: a host that refuses a
 * direct write with EINVAL (vol_test_data_dio_einval) gets it again
 * buffered, and direct writes stop for the mount; with
 * vol_test_data_dio_no_fallback the write fails with -EINVAL (the hazard:
 * write-back would fail). Crash ordering with direct writes: test_vol_crash
 * (its writes are partly page-aligned, so they go direct).
 * checksumming_host_stays_buffered: on a host file system that checksums
 * data (btrfs, bcachefs, ZFS; its statfs type given by
 * vol_test_host_fs_magic) AUTO keeps data buffered (pages are not held
 * stable during write-back).
 * old_layout_gets_auto: a caller built with the layout of struct
 * pc_options before vol_data_io (its size ends at pad0, whose bytes it may
 * leave as anything) gets the default.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/engine.h"
#include "harness.h"
#include "fixture.h"
#include "pagecache.h"
#include "store/vol/vol.h"
#include "store/vol/vstore.h"

#define BS  4096
#define LEN (1 << 20)

static void pattern(char *b, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (char)((i + seed) * 131 + 7 + ((i + seed) >> 12));
}

static char *aligned_buf(size_t len)
{
	void *p = NULL;
	CHECK_EQ(posix_memalign(&p, BS, len), 0);
	return p;
}

/* The bytes of @si's [0, len) as the image holds them (a fresh buffered fd,
 * block by block through the extent map) that differ from @want. */
static long image_diff(struct store_inode *si, const char *want, size_t len)
{
	int fd = open(vol_img, O_RDONLY);
	char *b = malloc(BS);
	long bad = 0;

	CHECK(fd >= 0);
	for (size_t off = 0; off < len; off += BS) {
		struct store_map m;
		CHECK_EQ(store_map(si, (int64_t)off, BS, &m), 0);
		CHECK_EQ(m.type, STORE_MAPPED);
		CHECK_EQ(pread(fd, b, BS, m.addr), BS);
		for (size_t i = 0; i < BS && off + i < len; i++)
			bad += b[i] != want[off + i];
	}
	close(fd);
	free(b);
	return bad;
}

/* Remounts and reads @path back: the bytes that differ from @want. */
static long remount_diff(const char *path, const char *want, size_t len)
{
	struct store *s = vol_mount_img();
	struct store_inode *si;
	char *b = malloc(len);
	long bad = 0;

	CHECK_EQ(store_open(s, path, O_RDONLY, 0, &si), 0);
	CHECK_EQ(store_size(si), (int64_t)len);
	CHECK_EQ(store_read(si, b, len, 0), (ssize_t)len);
	for (size_t i = 0; i < len; i++)
		bad += b[i] != want[i];
	store_release(si);
	store_close(s);
	free(b);
	return bad;
}

struct counts {
	unsigned long direct, buffered, fallbacks;
};

static struct counts counts_of(struct store *s)
{
	struct vstore *vs = VS(s);
	return (struct counts){
	    __atomic_load_n(&vs->data_direct_writes, __ATOMIC_RELAXED),
	    __atomic_load_n(&vs->data_buffered_writes, __ATOMIC_RELAXED),
	    __atomic_load_n(&vs->data_direct_fallbacks, __ATOMIC_RELAXED),
	};
}

/* 1 MiB through an engine on vol_img in @mode, fsync'd; the store's data
 * write counts. */
static struct counts engine_write(int mode, const char *want)
{
	struct pc_options o = PC_OPTIONS_INIT;
	struct pc_engine *e = NULL;

	o.store_image = vol_img;
	o.vol_data_io = mode;
	CHECK_EQ(pc_engine_open(&o, &e), 0);
	int fd = pc_open(e, "f", O_RDWR | O_CREAT, 0644);
	CHECK(fd >= 0);
	for (size_t off = 0; off < LEN; off += 64 << 10) /* unaligned source: the engine copies */
		CHECK_EQ(pc_pwrite(e, fd, want + off, 64 << 10, (off_t)off), 64 << 10);
	CHECK_EQ(pc_fsync(e, fd), 0);
	struct counts c = counts_of(e->store);
	bool direct = vol_store_data_direct(e->store);
	CHECK_EQ(pc_close(e, fd), 0);
	CHECK_EQ(pc_engine_close(e), 0);
	printf("# %s: 1 MiB written back in %lu direct and %lu buffered data writes (direct "
	       "%s)\n",
	       mode == PC_VOL_DATA_AUTO ? "AUTO" : "BUFFERED", c.direct, c.buffered,
	       direct ? "on" : "off");
	fflush(stdout);
	return c;
}

TEST(direct_path_taken)
{
	char *want = malloc(LEN);
	pattern(want, LEN, 1);
	for (int mode = PC_VOL_DATA_AUTO; mode <= PC_VOL_DATA_BUFFERED; mode++) {
		vol_new_image(64 << 20, 0);
		struct store *s = vol_mount_img();
		bool dio = VS(s)->dio_fd >= 0;
		store_close(s);
		struct counts c = engine_write(mode, want);
		if (mode == PC_VOL_DATA_BUFFERED) {
			CHECK_EQ(c.direct, 0);
			CHECK(c.buffered >= 1);
		} else if (!dio) {
			skip("direct data writes: the host refuses O_DIRECT on the image", -EINVAL);
		} else {
			CHECK(c.direct >= 1);
			CHECK_EQ(c.buffered, 0); /* the file ends on a page boundary */
		}
		s = vol_mount_img();
		struct store_inode *si;
		CHECK_EQ(store_open(s, "f", O_RDONLY, 0, &si), 0);
		CHECK_EQ(image_diff(si, want, LEN), 0);
		store_release(si);
		store_close(s);
		CHECK_EQ(remount_diff("f", want, LEN), 0);
		vol_fsck_clean();
	}
	free(want);
}

TEST(unaligned_stays_buffered)
{
	char *raw = aligned_buf(2 * BS + BS), *want = malloc(2 * BS + 100);
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	if (VS(s)->dio_fd < 0) {
		skip("the host refuses O_DIRECT on the image", -EINVAL);
		store_close(s);
		free(raw);
		free(want);
		return;
	}
	struct store_inode *si = create(s, "f");
	struct counts c0 = counts_of(s);

	/* an unaligned buffer, aligned offset and length */
	pattern(raw + 1, 2 * BS, 5);
	CHECK_EQ(store_write(si, raw + 1, 2 * BS, 0), 2 * BS);
	memcpy(want, raw + 1, 2 * BS);
	struct counts c1 = counts_of(s);
	/* an aligned buffer, a length of 100 bytes (the EOF page) */
	pattern(raw, 100, 9);
	CHECK_EQ(store_write(si, raw, 100, 2 * BS), 100);
	memcpy(want + 2 * BS, raw, 100);
	struct counts c2 = counts_of(s);
	/* an aligned one: direct */
	CHECK_EQ(store_write(si, raw, BS, 0), BS);
	memcpy(want, raw, BS);
	struct counts c3 = counts_of(s);
	printf("# unaligned buffer: +%lu direct +%lu buffered; 100 bytes: +%lu +%lu; aligned: "
	       "+%lu +%lu\n",
	       c1.direct - c0.direct, c1.buffered - c0.buffered, c2.direct - c1.direct,
	       c2.buffered - c1.buffered, c3.direct - c2.direct, c3.buffered - c2.buffered);
	CHECK_EQ(c1.direct, c0.direct);
	CHECK(c1.buffered > c0.buffered);
	CHECK_EQ(c2.direct, c1.direct);
	CHECK(c2.buffered > c1.buffered);
	CHECK_EQ(c3.direct, c2.direct + 1);
	CHECK_EQ(store_sync(si, false), 0);
	store_release(si);
	store_close(s);
	CHECK_EQ(remount_diff("f", want, 2 * BS + 100), 0);
	vol_fsck_clean();
	free(raw);
	free(want);
}

TEST(reads_see_direct_writes)
{
	char *a = aligned_buf(LEN), *b = aligned_buf(LEN), *got = aligned_buf(LEN);
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	if (VS(s)->dio_fd < 0) {
		skip("the host refuses O_DIRECT on the image", -EINVAL);
		store_close(s);
		return;
	}
	struct store_inode *si = create(s, "f");
	/* old bytes written buffered and read back: the host caches them */
	CHECK_EQ(vol_store_set_data_io(s, VOL_DATA_IO_BUFFERED), 0);
	pattern(a, LEN, 3);
	CHECK_EQ(store_write(si, a, LEN, 0), LEN);
	CHECK_EQ(store_sync(si, false), 0);
	CHECK_EQ(store_read(si, got, LEN, 0), LEN);
	CHECK_EQ(memcmp(got, a, LEN), 0);
	CHECK_EQ(image_diff(si, a, LEN), 0);
	/* overwritten in place, direct */
	CHECK_EQ(vol_store_set_data_io(s, VOL_DATA_IO_AUTO), 0);
	unsigned long d0 = counts_of(s).direct;
	pattern(b, LEN, 77);
	CHECK_EQ(store_write(si, b, LEN, 0), LEN);
	CHECK(counts_of(s).direct > d0);
	CHECK_EQ(store_read(si, got, LEN, 0), LEN);
	long bad = 0;
	for (size_t i = 0; i < LEN; i++)
		bad += got[i] != b[i];
	long img_bad = image_diff(si, b, LEN);
	printf("# after a direct overwrite of cached blocks: %ld stale bytes through the store, "
	       "%ld through a buffered fd of the image\n",
	       bad, img_bad);
	CHECK_EQ(bad, 0);
	CHECK_EQ(img_bad, 0);
	CHECK_EQ(store_sync(si, false), 0);
	store_release(si);
	store_close(s);
	CHECK_EQ(remount_diff("f", b, LEN), 0);
	vol_fsck_clean();
	free(a);
	free(b);
	free(got);
}

TEST(open_refused_stays_buffered)
{
	char *want = aligned_buf(LEN);
	pattern(want, LEN, 11);
	vol_new_image(16 << 20, 0);
	vol_test_odirect_refused = true;
	struct store *s = vol_mount_img();
	vol_test_odirect_refused = false;
	CHECK_EQ(VS(s)->dio_fd, -1);
	CHECK(!s->dio_supported);
	CHECK(!vol_store_data_direct(s));
	struct store_inode *si = create(s, "f");
	CHECK_EQ(store_write(si, want, LEN, 0), LEN);
	CHECK_EQ(store_sync(si, false), 0);
	struct counts c = counts_of(s);
	printf("# O_DIRECT refused at open: %lu direct, %lu buffered data writes\n", c.direct,
	       c.buffered);
	CHECK_EQ(c.direct, 0);
	CHECK(c.buffered >= 1);
	store_release(si);
	store_close(s);
	CHECK_EQ(remount_diff("f", want, LEN), 0);
	vol_fsck_clean();
	free(want);
}

/* An aligned 1 MiB write the host refuses direct; its result and counts. */
static ssize_t refused_write(struct counts *c, bool *direct_after, long *bad)
{
	char *want = aligned_buf(LEN);
	pattern(want, LEN, 21);
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	if (VS(s)->dio_fd < 0) {
		store_close(s);
		free(want);
		return -ENODEV;
	}
	struct store_inode *si = create(s, "f");
	vol_test_data_dio_einval = true;
	ssize_t r = store_write(si, want, LEN, 0);
	vol_test_data_dio_einval = false;
	*c = counts_of(s);
	*direct_after = vol_store_data_direct(s);
	CHECK_EQ(store_sync(si, false), 0);
	store_release(si);
	store_close(s);
	*bad = r == LEN ? remount_diff("f", want, LEN) : -1;
	free(want);
	return r;
}

TEST(refused_write_falls_back)
{
	struct counts c;
	bool direct;
	long bad;
	ssize_t r = refused_write(&c, &direct, &bad);
	if (r == -ENODEV) {
		skip("the host refuses O_DIRECT on the image", -EINVAL);
		return;
	}
	printf("# direct write refused (EINVAL): write returned %zd, %lu fallback, direct now "
	       "%s, %ld bytes differ after remount\n",
	       r, c.fallbacks, direct ? "on" : "off", bad);
	CHECK_EQ(r, LEN);
	CHECK_EQ(c.fallbacks, 1);
	CHECK(!direct);
	CHECK_EQ(bad, 0);
	vol_fsck_clean();
}

TEST(hazard_no_fallback_fails_the_write)
{
	struct counts c;
	bool direct;
	long bad;
	vol_test_data_dio_no_fallback = true;
	ssize_t r = refused_write(&c, &direct, &bad);
	vol_test_data_dio_no_fallback = false;
	if (r == -ENODEV) {
		skip("the host refuses O_DIRECT on the image", -EINVAL);
		return;
	}
	printf("# without the fallback: write returned %zd (%s)\n", r,
	       r < 0 ? strerror((int)-r) : "ok");
	CHECK_EQ(r, -EINVAL);
}

TEST(old_layout_gets_auto)
{
	union {
		struct pc_options o;
		unsigned char b[sizeof(struct pc_options)];
	} u;
	struct pc_options o = PC_OPTIONS_INIT;
	struct pc_engine *e = NULL;

	vol_new_image(16 << 20, 0);
	o.store_image = vol_img;
	o.size = offsetof(struct pc_options, pad0) + sizeof(o.pad0); /* the older layout */
	memset(&u, 0xa5, sizeof(u));				     /* its padding: anything */
	memcpy(&u.o, &o, offsetof(struct pc_options, pad0));
	CHECK_EQ(pc_engine_open(&u.o, &e), 0);
	bool direct = vol_store_data_direct(e->store);
	bool dio = VS(e->store)->dio_fd >= 0;
	CHECK_EQ(pc_engine_close(e), 0);
	printf("# a %zu-byte struct with garbage in its padding: direct data writes %s\n", o.size,
	       direct ? "on" : "off");
	CHECK_EQ(direct, dio);
	/* the current layout: a non-zero mode out of range is refused */
	o.size = sizeof(o);
	o.vol_data_io = 7;
	CHECK_EQ(pc_engine_open(&o, &e), -EINVAL);
}

TEST(checksumming_host_stays_buffered)
{
	static const struct {
		unsigned long magic;
		const char *name;
		bool direct;
	} hosts[] = {{0x9123683eul, "btrfs", false},
		     {0xca451a4eul, "bcachefs", false},
		     {0x2fc12fc1ul, "zfs", false},
		     {0xef53ul, "ext4", true}};
	char *want = aligned_buf(LEN);

	pattern(want, LEN, 31);
	for (unsigned i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		vol_new_image(16 << 20, 0);
		vol_test_host_fs_magic = hosts[i].magic;
		struct store *s = vol_mount_img();
		vol_test_host_fs_magic = 0;
		if (VS(s)->dio_fd < 0) {
			store_close(s);
			free(want);
			skip("the host refuses O_DIRECT on the image", -EINVAL);
			return;
		}
		struct store_inode *si = create(s, "f");
		CHECK_EQ(store_write(si, want, LEN, 0), LEN);
		CHECK_EQ(store_sync(si, false), 0);
		struct counts c = counts_of(s);
		printf("# host %s: direct data writes %s, %lu direct and %lu buffered\n",
		       hosts[i].name, vol_store_data_direct(s) ? "on" : "off", c.direct,
		       c.buffered);
		CHECK_EQ(vol_store_data_direct(s), hosts[i].direct);
		if (hosts[i].direct)
			CHECK(c.direct >= 1);
		else
			CHECK_EQ(c.direct, 0);
		store_release(si);
		store_close(s);
		CHECK_EQ(remount_diff("f", want, LEN), 0);
	}
	free(want);
}

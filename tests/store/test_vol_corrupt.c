/* SPDX-License-Identifier: MIT */
/*
 * Corruption and fault injection on vol images.
 *
 * corrupt_metadata_flips: a populated volume (directories, a fragmented
 *   file with a multi-node extent tree, symlinks, hard links); random single
 *   bit flips, one at a time, in its metadata blocks (superblock, inode
 *   table, extent-tree nodes, directory blocks, free-space tree). Every flip
 *   must be seen: fsck does not say clean and mount fails with a message,
 *   never a crash (ASan build too). Every 4th flipped image also gets
 *   fsck -y: it either repairs (then it mounts and fscks clean) or says what
 *   it left.
 * fsck_repairs: damage made on purpose through the in-memory state - a wrong
 *   link count, a leaked block, an unreachable inode - is found and repaired.
 * device_faults: a workload where exactly one image write, read or flush
 *   fails (each in turn): the call that hit it returns an error, and after
 *   close the image fscks clean and mounts.
 * entry_faults: random store-level injected failures (store_inject_fail):
 *   the volume stays consistent.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "fixture.h"
#include "kernel/rng.h"
#include "store/vol/vol.h"
#include "store/vol/vstore.h"

static char img[2200], img2[2300];
static char shm_dir[2200];

/* A fresh directory for images: under /dev/shm when writable (host flushes
 * only cost time here), else the private temp root. */
static const char *img_dir(void)
{
	if (shm_dir[0])
		rm_rf(shm_dir);
	shm_dir[0] = '\0';
	if (access("/dev/shm", W_OK) == 0) {
		snprintf(shm_dir, sizeof(shm_dir), "%s", fresh_dir("/dev/shm"));
		return shm_dir;
	}
	return fresh_dir(NULL);
}

__attribute__((destructor)) static void img_dir_cleanup(void)
{
	if (shm_dir[0])
		rm_rf(shm_dir);
}

static void populate(struct store *s, uint64_t seed)
{
	struct store_inode *si;
	char buf[8192], p[64];
	struct rng r;

	rng_seed(&r, seed);
	CHECK_EQ(store_mkdir(s, "d", 0755), 0);
	CHECK_EQ(store_mkdir(s, "d/e", 0755), 0);
	for (int i = 0; i < 300; i++) { /* two directory blocks' worth */
		snprintf(p, sizeof(p), "d/file-with-a-longish-name-%03d", i);
		CHECK_EQ(store_create(s, p, 0644, &si), 0);
		fill(buf, 100, (unsigned)i);
		CHECK_EQ(store_write(si, buf, 100, 0), 100);
		store_release(si);
	}
	CHECK_EQ(store_create(s, "frag", 0644, &si), 0);
	for (int i = 0; i < 400; i++) { /* every other block: > 169 extents */
		fill(buf, 4096, (unsigned)i);
		CHECK_EQ(store_write(si, buf, 4096, (int64_t)i * 8192), 4096);
	}
	CHECK_EQ(store_fallocate(si, FALLOC_FL_KEEP_SIZE, 4 << 20, 1 << 20), 0);
	/* shared blocks: a reference-count tree */
	struct store_inode *cl;
	CHECK_EQ(store_create(s, "clone", 0644, &cl), 0);
	CHECK_EQ(store_clone_range(si, 0, cl, 0, 200 * 8192), 0);
	store_release(cl);
	store_release(si);
	CHECK_EQ(store_symlink(s, "d/e", "link"), 0);
	CHECK_EQ(store_link(s, "frag", "d/e/hard"), 0);
}

struct blocks_out {
	uint64_t *v;
	size_t n, cap;
};

static int add_block(void *arg, uint64_t start, uint64_t len)
{
	struct blocks_out *o = arg;
	for (uint64_t b = 0; b < len && o->n < o->cap; b++)
		o->v[o->n++] = start + b;
	return 0;
}

/* Every metadata block of the mounted volume, one per entry. */
static size_t metadata_blocks(struct store *s, uint64_t *out, size_t cap)
{
	struct vstore *vs = VS(s);
	struct vol *v = vs->v;
	size_t n = 0;
	out[n++] = 0;
	for (uint64_t b = 0; b < v->sb.itable_blocks && n < cap; b++)
		out[n++] = v->sb.itable_start + b;
	struct blocks_out bo = {out, n, cap};
	for (uint64_t i = 1; i < vs->ninodes; i++)
		if (vs->inodes[i])
			vs_for_each_meta(vs->inodes[i], add_block, &bo);
	vs_refc_for_each_meta(vs, add_block, &bo);
	n = bo.n;
	for (size_t k = 0; k < v->tree.nr; k++)
		for (uint64_t b = 0; b < v->tree.v[k].len && n < cap; b++)
			out[n++] = v->tree.v[k].start + b;
	return n;
}

static void copy_file(const char *from, const char *to)
{
	static char buf[1 << 16];
	int a = open(from, O_RDONLY), b = open(to, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(a >= 0 && b >= 0);
	ssize_t n;
	off_t off = 0;
	while ((n = read(a, buf, sizeof(buf))) > 0) {
		bool zero = is_zero(buf, (size_t)n);
		if (!zero)
			CHECK(pwrite(b, buf, (size_t)n, off) == n);
		off += n;
	}
	CHECK(ftruncate(b, off) == 0);
	close(a);
	close(b);
}

TEST(corrupt_metadata_flips)
{
	uint64_t seed = test_seed();
	struct rng r;
	struct store *s;
	static uint64_t blocks[4096];

	snprintf(img, sizeof(img), "%s/img", img_dir());
	snprintf(img2, sizeof(img2), "%s.2", img);
	struct vol_mkfs_opts o = {.size = 16 << 20};
	CHECK_EQ(vol_create(img, &o), 0);
	CHECK_EQ(store_open_vol(img, &s), 0);
	populate(s, seed);
	store_close(s);
	CHECK_EQ(store_open_vol(img, &s), 0);
	size_t nb = metadata_blocks(s, blocks, 4096);
	store_close(s);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_CLEAN);
	printf("# %zu metadata blocks\n", nb);
	CHECK(nb > 10);

	rng_seed(&r, seed);
	unsigned long n = test_scale(240, 8), repaired = 0, left = 0;
	int fd = open(img, O_RDWR);
	CHECK(fd >= 0);
	for (unsigned long i = 0; i < n; i++) {
		uint64_t b = blocks[rng_below(&r, nb)];
		size_t off = b == 0 ? rng_below(&r, 256) : rng_below(&r, 4096);
		uint8_t old, bit = (uint8_t)(1u << rng_below(&r, 8)), x;
		CHECK(pread(fd, &old, 1, (off_t)(b * 4096 + off)) == 1);
		x = old ^ bit;
		CHECK(pwrite(fd, &x, 1, (off_t)(b * 4096 + off)) == 1);
		int f = vol_fsck(img, false, NULL);
		CHECKF(f == VOL_FSCK_UNREPAIRED, "flip %lu: block %llu byte %zu: fsck %d", i,
		       (unsigned long long)b, off, f);
		int m = store_open_vol(img, &s);
		CHECKF(m == -EUCLEAN || m == -EINVAL || m == -EOPNOTSUPP,
		       "flip %lu: block %llu byte %zu: mount %d", i, (unsigned long long)b, off, m);
		if (i % 4 == 0) {
			copy_file(img, img2);
			f = vol_fsck(img2, true, NULL);
			CHECK(f == VOL_FSCK_REPAIRED || f == VOL_FSCK_UNREPAIRED);
			if (f == VOL_FSCK_REPAIRED) {
				repaired++;
				CHECK_EQ(vol_fsck(img2, false, stderr), VOL_FSCK_CLEAN);
				CHECK_EQ(store_open_vol(img2, &s), 0);
				store_close(s);
			} else {
				left++;
				printf("# left unrepaired: flip %lu, block %llu byte %zu\n", i,
				       (unsigned long long)b, off);
			}
		}
		CHECK(pwrite(fd, &old, 1, (off_t)(b * 4096 + off)) == 1);
	}
	close(fd);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_CLEAN);
	printf("# %lu flips all detected by fsck and mount; fsck -y on %lu of them: %lu repaired, "
	       "%lu left unrepaired\n",
	       n, repaired + left, repaired, left);
	unlink(img2);
}

static int find_lost(void *ctx, const char *name, uint64_t ino, unsigned type, int64_t next)
{
	(void)ino, (void)type, (void)next;
	if (name[0] == '#')
		snprintf(ctx, 64, "lost+found/%s", name);
	return 0;
}

TEST(fsck_repairs)
{
	struct store *s;
	snprintf(img, sizeof(img), "%s/img", img_dir());
	struct vol_mkfs_opts o = {.size = 16 << 20};
	CHECK_EQ(vol_create(img, &o), 0);
	CHECK_EQ(store_open_vol(img, &s), 0);
	populate(s, 1);
	/* damage through the in-memory state, then commit it */
	struct vstore *vs = VS(s);
	pthread_mutex_lock(&vs->lock);
	struct vnode *root = vs->inodes[vs->v->sb.root_ino];
	root->di.nlink = 7; /* wrong link count */
	vs_dirty(vs, root);
	uint64_t leak;
	CHECK_EQ(vol_alloc_blocks(vs->v, 1, UINT64_MAX, &leak), 1); /* a leaked block */
	struct vdent *e = vdir_lookup(root->dir, "link", 4);
	CHECK(e != NULL);
	vdir_remove(root->dir, e); /* the symlink becomes unreachable */
	root->map_dirty = true;
	CHECK_EQ(vs_commit(vs), 0);
	pthread_mutex_unlock(&vs->lock);
	store_close(s);
	CHECK_EQ(store_open_vol(img, &s), -EUCLEAN);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_UNREPAIRED);
	CHECK_EQ(vol_fsck(img, true, stderr), VOL_FSCK_REPAIRED);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_CLEAN);
	CHECK_EQ(store_open_vol(img, &s), 0);
	char buf[16];
	struct stat st;
	CHECK_EQ(store_getattr(s, "", &st), 0);
	CHECK_EQ(st.st_nlink, 4); /* d and lost+found */
	char lost[64] = "";
	CHECK_EQ(store_readdir(s, "lost+found", 0, find_lost, lost), 0);
	CHECK(lost[0]);
	CHECK_EQ(store_readlink(s, lost, buf, sizeof(buf)), 3); /* the symlink, relinked */
	CHECK(!memcmp(buf, "d/e", 3));
	store_close(s);
}

static int workload(struct store *s, struct rng *r, int *errors)
{
	struct store_inode *si = NULL;
	char buf[20000], p[32];
	int e = 0;
	for (int i = 0; i < 60; i++) {
		snprintf(p, sizeof(p), "f%llu", (unsigned long long)rng_below(r, 4));
		long ret = 0;
		switch (rng_below(r, 8)) {
		case 0:
			ret = store_mkdir(s, p, 0755);
			break;
		case 1:
			ret = store_unlink(s, p);
			break;
		case 2:
			ret = store_rename(s, p, "f9", 0);
			break;
		default:
			ret = store_open(s, p, O_RDWR | O_CREAT, 0644, &si);
			if (ret)
				break;
			fill(buf, sizeof(buf), (unsigned)i);
			ret = store_write(si, buf, 1 + rng_below(r, sizeof(buf)),
					  (int64_t)rng_below(r, 100000));
			if (ret >= 0)
				ret =
				    store_read(si, buf, sizeof(buf), (int64_t)rng_below(r, 100000));
			if (ret >= 0 && rng_below(r, 3) == 0)
				ret = store_setsize(si, (int64_t)rng_below(r, 120000));
			if (ret >= 0 && rng_below(r, 3) == 0)
				ret = store_sync(si, false);
			store_release(si);
			break;
		}
		if (ret < 0 && ret != -EEXIST && ret != -ENOENT && ret != -EISDIR &&
		    ret != -ENOTDIR && ret != -ENOTEMPTY)
			e++;
	}
	*errors += e;
	return e;
}

TEST(device_faults)
{
	uint64_t seed = test_seed();
	struct store *s;
	struct rng r;
	unsigned long runs = 0, surfaced = 0, at_close = 0;
	snprintf(img, sizeof(img), "%s/img", img_dir());
	struct vol_mkfs_opts o = {.size = 8 << 20};
	int step = test_quick() ? 13 : 3;

	for (int kind = 0; kind < 3; kind++) {
		/* how many of this kind a clean run makes */
		CHECK_EQ(vol_create(img, &o), 0);
		CHECK_EQ(store_open_vol(img, &s), 0);
		struct vol_dev *d = &VS(s)->v->dev;
		rng_seed(&r, seed);
		int errs = 0;
		workload(s, &r, &errs);
		CHECK_EQ(errs, 0);
		long total = (long)(kind == 0 ? d->writes : kind == 1 ? d->reads : d->flushes);
		store_close(s);
		for (long k = 1; k <= total; k += step) {
			CHECK_EQ(vol_create(img, &o), 0);
			CHECK_EQ(store_open_vol(img, &s), 0);
			vol_store_fail_once(s, kind, k);
			rng_seed(&r, seed);
			errs = 0;
			workload(s, &r, &errs);
			d = &VS(s)->v->dev;
			unsigned long done = kind == 0	 ? d->writes
					     : kind == 1 ? d->reads
							 : d->flushes;
			long slot = kind == 0	? d->fail_write
				    : kind == 1 ? d->fail_read
						: d->fail_flush;
			runs++;
			if ((long)done >= slot) { /* hit during the workload: some call said so */
				CHECKF(errs > 0, "kind %d fault %ld: swallowed", kind, k);
				surfaced++;
			} else {
				at_close++; /* hits the final commit (close reports it) */
			}
			store_close(s);
			int f = vol_fsck(img, false, stderr);
			CHECKF(f == VOL_FSCK_CLEAN, "kind %d fault %ld: fsck %d", kind, k, f);
			CHECK_EQ(store_open_vol(img, &s), 0);
			store_close(s);
		}
	}
	printf("# %lu runs with one failed image write/read/flush: %lu hit a store call (each "
	       "returned an error), %lu hit the final commit at close; all fsck clean\n",
	       runs, surfaced, at_close);
	CHECK(surfaced > 0);
}

TEST(entry_faults)
{
	uint64_t seed = test_seed();
	struct store *s;
	struct rng r;
	snprintf(img, sizeof(img), "%s/img", img_dir());
	struct vol_mkfs_opts o = {.size = 8 << 20};
	CHECK_EQ(vol_create(img, &o), 0);
	rng_seed(&r, seed);
	for (int i = 0; i < 40; i++) {
		CHECK_EQ(store_open_vol(img, &s), 0);
		store_inject_fail(s, STORE_OP_ANY, 1 + rng_below(&r, 30), EIO, rng_below(&r, 2));
		int errs = 0;
		workload(s, &r, &errs);
		store_inject_clear(s);
		store_close(s);
		CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_CLEAN);
	}
}

/* SPDX-License-Identifier: MIT */
/*
 * fsck -y repairs on vol images damaged on purpose: each test makes one
 * kind of damage directly in the image (bytes flipped, or structures that
 * pass their checksums written through the in-memory state and a commit),
 * then shows fsck -n reports it (UNREPAIRED) and mount refuses it, fsck -y
 * repairs it, the volume mounts, every byte that was intact still is, and
 * fsck is clean afterwards.
 *
 * repair_free_tree: a flipped free-tree node, a wrong free count, a free
 *   tree whose root lies in a file's block: free space is rebuilt.
 * repair_superblock: a flipped / zeroed primary superblock is rebuilt from
 *   the backup (generation above the journal's); mount names fsck; a
 *   damaged backup is rewritten; an image without the backup bit mounts,
 *   uses its last block, and a damaged superblock there stays unrepaired.
 * repair_shared_blocks: two files sharing blocks, a file mapping a
 *   directory block, a directory listing one block twice: the data
 *   extents get copies (writes to one no longer show in the other), the
 *   metadata keeps its block. With vol_fsck_test_no_dup_repair: left.
 * repair_dir_cycle: a two-directory cycle with a subtree below it and a
 *   directory naming itself: each loop is broken and relinked into the
 *   root's /lost+found, link counts fixed. With vol_fsck_test_no_cycle_repair:
 *   left.
 * repair_root_zeroed: the inode-table block holding the root inode zeroed:
 *   a new root directory, /lost+found made, everything outside the block
 *   relinked there as #<ino> with its data; the volume usable and clean.
 *   With vol_fsck_test_no_root_rebuild: left (exit 4, unmountable).
 *
 * Locking: the tests poke the store's state under vs->lock, as fsck_repairs
 * in test_vol_corrupt does.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "harness.h"
#include "fixture.h"
#include "store/vol/check.h"
#include "store/vol/vol.h"
#include "store/vol/vstore.h"

#define BS	VOL_BLOCK_SIZE
#define NFILES	6
#define FBLOCKS 8

static char img[2200], img2[2300];
static unsigned skip_mask[NFILES]; /* blocks check_all() does not compare */

/* Block blk of file f: distinct for every (f, blk). */
static void pattern(char *buf, unsigned f, unsigned blk)
{
	fill(buf, BS, f * 11 + blk);
	snprintf(buf, 32, "file %u block %u", f, blk);
}

static void fresh_image(bool backup)
{
	memset(skip_mask, 0, sizeof(skip_mask));
	snprintf(img, sizeof(img), "%s/img", fresh_dir(NULL));
	snprintf(img2, sizeof(img2), "%s.2", img);
	struct vol_mkfs_opts o = {.size = 8 << 20};
	if (backup) {
		CHECK_EQ(vol_create(img, &o), 0);
		return;
	}
	/* the format before the backup superblock: the bit clear, the last
	 * block in the data area */
	struct vol_super sb;
	CHECK_EQ(vol_super_init(&sb, (uint64_t)o.size / BS), 0);
	sb.feat_compat = 0;
	sb.free_blocks = sb.nblocks - sb.data_start;
	int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, o.size) == 0);
	CHECK_EQ(vol_mkfs_fd(fd, &sb), 0);
	close(fd);
}

/* Files f0..f5 (FBLOCKS blocks each), directory d with entries, d/e. */
static struct store *populate(void)
{
	struct store *s;
	struct store_inode *si;
	char buf[BS], p[64];
	CHECK_EQ(store_open_vol(img, &s), 0);
	for (unsigned f = 0; f < NFILES; f++) {
		snprintf(p, sizeof(p), "f%u", f);
		CHECK_EQ(store_create(s, p, 0644, &si), 0);
		for (unsigned b = 0; b < FBLOCKS; b++) {
			pattern(buf, f, b);
			CHECK_EQ(store_write(si, buf, BS, (int64_t)b * BS), BS);
		}
		store_release(si);
	}
	CHECK_EQ(store_mkdir(s, "d", 0755), 0);
	CHECK_EQ(store_mkdir(s, "d/e", 0755), 0);
	for (int i = 0; i < 40; i++) {
		snprintf(p, sizeof(p), "d/entry-%02d", i);
		CHECK_EQ(store_create(s, p, 0644, &si), 0);
		store_release(si);
	}
	return s;
}

/* File f as populate wrote it, except the blocks in mask. */
static void check_file(struct store *s, const char *path, unsigned f, unsigned mask)
{
	struct store_inode *si;
	char want[BS], got[BS];
	CHECK_EQ(store_open(s, path, O_RDONLY, 0, &si), 0);
	CHECK_EQ(store_size(si), FBLOCKS * BS);
	for (unsigned b = 0; b < FBLOCKS; b++) {
		if (mask & (1u << b))
			continue;
		pattern(want, f, b);
		CHECK_EQ(store_read(si, got, BS, (int64_t)b * BS), BS);
		CHECKF(!memcmp(want, got, BS), "%s block %u differs", path, b);
	}
	store_release(si);
}

static void read_block(struct store *s, const char *path, unsigned b, char *buf)
{
	struct store_inode *si;
	CHECK_EQ(store_open(s, path, O_RDONLY, 0, &si), 0);
	CHECK_EQ(store_read(si, buf, BS, (int64_t)b * BS), BS);
	store_release(si);
}

/* Everything populate made, as it made it (but skip_mask's blocks). */
static void check_all(struct store *s)
{
	char p[64];
	struct stat st;
	for (unsigned f = 0; f < NFILES; f++) {
		snprintf(p, sizeof(p), "f%u", f);
		check_file(s, p, f, skip_mask[f]);
	}
	for (int i = 0; i < 40; i++) {
		snprintf(p, sizeof(p), "d/entry-%02d", i);
		CHECK_EQ(store_getattr(s, p, &st), 0);
	}
	CHECK_EQ(store_getattr(s, "d/e", &st), 0);
	CHECK(S_ISDIR(st.st_mode));
}

static struct vnode *node(struct store *s, const char *path)
{
	struct stat st;
	CHECK_EQ(store_getattr(s, path, &st), 0);
	return VS(s)->inodes[st.st_ino];
}

static uint64_t pblk_of(struct vnode *n, uint64_t lblk)
{
	struct vol_map m;
	vol_extmap_lookup(&n->map, lblk, 1, &m);
	CHECK(m.type == VOL_MAP_MAPPED);
	return m.pblk;
}

/* Damaged: mount refuses it, fsck -n says so and changes nothing. */
static void expect_damaged(void)
{
	struct store *s;
	int m = store_open_vol(img, &s);
	CHECKF(m == -EUCLEAN, "mount %d", m);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_UNREPAIRED);
	CHECK_EQ(vol_fsck(img, false, NULL), VOL_FSCK_UNREPAIRED);
}

static void expect_repaired(void)
{
	CHECK_EQ(vol_fsck(img, true, stderr), VOL_FSCK_REPAIRED);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_CLEAN);
}

static void poke(const char *path, uint64_t blk, size_t off, uint8_t mask)
{
	int fd = open(path, O_RDWR);
	uint8_t b;
	CHECK(fd >= 0);
	CHECK(pread(fd, &b, 1, (off_t)(blk * BS + off)) == 1);
	b ^= mask;
	CHECK(pwrite(fd, &b, 1, (off_t)(blk * BS + off)) == 1);
	close(fd);
}

static void write_super(const struct vol_super *sb)
{
	char blk[BS];
	int fd = open(img, O_RDWR);
	CHECK(fd >= 0);
	vol_super_encode(sb, blk);
	CHECK(pwrite(fd, blk, BS, 0) == BS);
	close(fd);
}

/* The mounted free-space tree holds exactly the free blocks, with its
 * on-disk shape (no node loaded without it), not stale. */
static void check_free_tree(struct store *s)
{
	struct vol *v = VS(s)->v;
	struct vol_extmap_iter it;
	uint64_t n = 0;
	CHECK(!v->ftree_stale);
	CHECKF(v->ftree.nfreed == 0, "free tree loaded without its shape (%zu)", v->ftree.nfreed);
	for (const struct vol_ext *e = vol_extmap_first(&v->ftree, &it); e;
	     e = vol_extmap_next(&it)) {
		CHECK_EQ(e->lblk, e->pblk);
		CHECK(vol_alloc_is_free(&v->alloc, e->pblk, e->len) ||
		      vol_alloc_is_free(&v->pend, e->pblk, e->len));
		n += e->len;
	}
	CHECK_EQ(n, v->alloc.free + v->pend.free);
	CHECK_EQ(vol_extmap_check(&v->ftree), 0);
}

TEST(repair_free_tree)
{
	struct vol_super sb;
	const char *why;
	struct store *s;

	/* a bit flipped in the free tree's root node */
	fresh_image(true);
	store_close(populate());
	CHECK_EQ(vol_read_super(img, &sb, &why), 0);
	poke(img, sb.free_root, 30, 0x4);
	expect_damaged();
	expect_repaired();
	CHECK_EQ(store_open_vol(img, &s), 0);
	check_free_tree(s);
	check_all(s);
	store_close(s);

	/* a free count that disagrees with the tree (the superblock's crc fine) */
	CHECK_EQ(vol_read_super(img, &sb, &why), 0);
	uint64_t free_before = sb.free_blocks;
	sb.free_blocks -= 3;
	write_super(&sb);
	expect_damaged();
	expect_repaired();
	CHECK_EQ(vol_read_super(img, &sb, &why), 0);
	CHECK_EQ(sb.free_blocks, free_before);
	CHECK_EQ(store_open_vol(img, &s), 0);
	check_free_tree(s);
	check_all(s);

	/* the tree's root moved into block 3 of f5 (a valid node there): the
	 * tree overlaps a file, its old root is leaked */
	uint64_t victim = pblk_of(node(s, "f5"), 3);
	store_close(s);
	CHECK_EQ(vol_read_super(img, &sb, &why), 0);
	char blk[BS];
	int fd = open(img, O_RDWR);
	CHECK(fd >= 0);
	CHECK(pread(fd, blk, BS, (off_t)(sb.free_root * BS)) == BS);
	CHECK(pwrite(fd, blk, BS, (off_t)(victim * BS)) == BS);
	close(fd);
	sb.free_root = victim;
	write_super(&sb);
	expect_damaged();
	expect_repaired();
	CHECK_EQ(store_open_vol(img, &s), 0);
	skip_mask[5] = 1u << 3; /* f5 block 3 holds the node's bytes, and keeps them */
	check_all(s);
	char got[BS];
	read_block(s, "f5", 3, got);
	CHECK(!memcmp(got, blk, BS));
	CHECK_EQ(vol_free_blocks(VS(s)->v), free_before);
	store_close(s);

	/* the protection off: the rebuilt free space installed, but the
	 * in-memory tree kept (not marked stale) - the commit writes that
	 * tree, not the rebuilt one, and the check after the repair fails */
	CHECK_EQ(vol_read_super(img, &sb, &why), 0);
	poke(img, sb.free_root, 30, 0x4);
	expect_damaged();
	vol_test_replace_free_keep_tree = true;
	int f = vol_fsck(img, true, stderr);
	vol_test_replace_free_keep_tree = false;
	CHECK_EQ(f, VOL_FSCK_UNREPAIRED);
	expect_repaired();
	CHECK_EQ(store_open_vol(img, &s), 0);
	check_free_tree(s);
	check_all(s);
	CHECK_EQ(vol_free_blocks(VS(s)->v), free_before);
	store_close(s);
}

TEST(repair_superblock)
{
	struct vol_super sb, back;
	const char *why;
	struct store *s;

	fresh_image(true);
	s = populate();
	/* a copy taken while mounted, after a commit: its journal holds a valid
	 * transaction (seq = the generation) */
	CHECK_EQ(store_mkdir(s, "j", 0755), 0);
	pthread_mutex_lock(&VS(s)->lock);
	CHECK_EQ(vs_commit(VS(s)), 0);
	uint64_t gen = VS(s)->v->sb.generation;
	pthread_mutex_unlock(&VS(s)->lock);
	char cmd[5000];
	snprintf(cmd, sizeof(cmd), "cp --sparse=always '%s' '%s'", img, img2);
	CHECK(system(cmd) == 0);
	store_close(s);
	CHECK_EQ(vol_read_super(img, &sb, &why), 0);
	CHECK(sb.feat_compat & VOL_FEAT_COMPAT_BACKUP_SB);
	CHECK_EQ(vol_data_end(&sb), sb.nblocks - 1);
	int fd = open(img, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(vol_read_backup(fd, NULL, &back), 0);
	close(fd);
	CHECK_EQ(back.nblocks, sb.nblocks);
	CHECK_EQ(back.generation, 1); /* mkfs's: commits leave it alone */

	/* one bit of the primary: mount names fsck, fsck -y rebuilds it */
	poke(img, 0, 72, 0x1);
	CHECK_EQ(vol_read_super(img, &sb, &why), -EUCLEAN);
	CHECK(strstr(why, "fsck -y") != NULL);
	expect_damaged();
	expect_repaired();
	CHECK_EQ(vol_read_super(img, &sb, &why), 0);
	CHECK_EQ(sb.data_start, back.data_start);
	CHECK(!memcmp(sb.uuid, back.uuid, 16));
	CHECK_EQ(store_open_vol(img, &s), 0);
	check_all(s);
	store_close(s);

	/* the whole primary zeroed (no magic left): still a damaged vol */
	fd = open(img, O_RDWR);
	char zero[BS] = {0};
	CHECK(fd >= 0 && pwrite(fd, zero, BS, 0) == BS);
	close(fd);
	CHECK_EQ(vol_read_super(img, &sb, &why), -EUCLEAN);
	CHECK(strstr(why, "fsck -y") != NULL);
	expect_damaged();
	expect_repaired();
	CHECK_EQ(store_open_vol(img, &s), 0);
	check_all(s);
	store_close(s);

	/* rebuilt from the backup: a generation above the backup's */
	CHECK_EQ(vol_read_super(img, &sb, &why), 0);
	CHECK(sb.generation > back.generation);
	/* the copy with a live journal transaction (seq gen): the journal
	 * replay, before anything else, restores a damaged primary */
	strcpy(img, img2);
	poke(img, 0, 100, 0x80);
	CHECK_EQ(store_open_vol(img, &s), 0);
	check_all(s);
	CHECK_EQ(store_getattr(s, "j", &(struct stat){0}), 0);
	store_close(s);
	CHECK_EQ(vol_read_super(img, &sb, &why), 0);
	CHECK_EQ(sb.generation, gen); /* the replayed one (close had nothing to commit) */

	/* a damaged backup: mount does not read it, fsck rewrites it */
	poke(img, sb.nblocks - 1, 40, 0x2);
	CHECK_EQ(store_open_vol(img, &s), 0);
	store_close(s);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_UNREPAIRED);
	expect_repaired();
	fd = open(img, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(vol_read_backup(fd, NULL, &back), 0);
	close(fd);

	/* an image without the backup bit: mounts, fscks clean, its last
	 * block is data; a damaged superblock there cannot be rebuilt */
	fresh_image(false);
	s = populate();
	CHECK(!(VS(s)->v->sb.feat_compat & VOL_FEAT_COMPAT_BACKUP_SB));
	CHECK_EQ(vol_data_end(&VS(s)->v->sb), VS(s)->v->sb.nblocks);
	store_close(s);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_CLEAN);
	CHECK_EQ(store_open_vol(img, &s), 0);
	check_all(s);
	struct statvfs st;
	CHECK_EQ(store_statfs(s, &st), 0);
	CHECK_EQ(st.f_blocks, VS(s)->v->sb.nblocks - VS(s)->v->sb.data_start);
	store_close(s);
	poke(img, 0, 72, 0x1);
	CHECK_EQ(vol_read_super(img, &sb, &why), -EUCLEAN);
	CHECK(strstr(why, "fsck") == NULL);
	CHECK_EQ(vol_fsck(img, true, stderr), VOL_FSCK_UNREPAIRED);
}

/* An empty directory block owned by n, at a block taken from free space. */
static uint64_t empty_dirblock(struct vstore *vs, struct vnode *n)
{
	char blk[BS] = {0};
	struct vol_dirblk_hdr h = {.magic = VOL_DIRB_MAGIC, .owner = n->ino};
	uint64_t b;
	CHECK_EQ(vol_alloc_blocks(vs->v, 1, UINT64_MAX, &b), 1);
	memcpy(blk, &h, sizeof(h));
	uint32_t crc = vol_crc32c(0, blk, BS);
	memcpy(blk + offsetof(struct vol_dirblk_hdr, crc), &crc, 4);
	CHECK(pwrite(vs->v->fd, blk, BS, (off_t)(b * BS)) == BS);
	return b;
}

static int one_block(void *arg, uint64_t *blk)
{
	struct vstore *vs = arg;
	return vol_alloc_blocks(vs->v, 1, UINT64_MAX, blk) == 1 ? 0 : -ENOSPC;
}

static void make_shared(void)
{
	struct store *s;
	fresh_image(true);
	s = populate();
	struct vstore *vs = VS(s);
	struct vnode *f0 = node(s, "f0"), *f1 = node(s, "f1"), *f2 = node(s, "f2");
	struct vnode *d = node(s, "d"), *e = node(s, "d/e");
	pthread_mutex_lock(&vs->lock);
	CHECK_EQ(vs_commit(vs), 0); /* d's directory blocks on disk */
	/* f1 blocks 2..3 map f0's blocks 4..5 (f1's own ones leak) */
	uint64_t a = pblk_of(f0, 4);
	CHECK_EQ(pblk_of(f0, 5), a + 1);
	CHECK_EQ(vol_extmap_set(&f1->map, 2, a, 2, 0, NULL, NULL), 0);
	f1->map_dirty = true;
	vs_dirty(vs, f1);
	/* f2 block 6 maps d's first directory block */
	CHECK(d->meta.nr > 0);
	uint64_t dirb = 0;
	for (size_t k = 0; k < d->meta.nr && !dirb; k++) {
		char blk[BS];
		CHECK(pread(vs->v->fd, blk, BS, (off_t)(d->meta.v[k].start * BS)) == BS);
		if (!memcmp(blk, "DIRB", 4))
			dirb = d->meta.v[k].start;
	}
	CHECK(dirb);
	CHECK_EQ(vol_extmap_set(&f2->map, 6, dirb, 1, 0, NULL, NULL), 0);
	f2->map_dirty = true;
	vs_dirty(vs, f2);
	/* d/e lists one (empty) directory block twice: its tree written by
	 * hand, the record pointing at it */
	CHECK_EQ(vs_commit(vs), 0);
	uint64_t x = empty_dirblock(vs, e), root;
	struct vol_disk_extent ext[2] = {{.lblk = 0, .pblk = x, .len = 1},
					 {.lblk = 1, .pblk = x, .len = 1}};
	CHECK_EQ(vol_btree_write(&vs->v->bd, e->ino, ext, 2, one_block, vs, &root, NULL), 0);
	e->di.extent_root = root;
	e->di.size = 2 * BS;
	vs_dirty(vs, e);
	CHECK_EQ(vs_commit(vs), 0);
	pthread_mutex_unlock(&vs->lock);
	store_close(s);
}

TEST(repair_shared_blocks)
{
	struct store *s;
	char f0blk[2][BS], want[BS], got[BS];

	make_shared();
	expect_damaged();

	/* the protection off: reported, left as it is */
	vol_fsck_test_no_dup_repair = true;
	int f = vol_fsck(img, true, stderr);
	vol_fsck_test_no_dup_repair = false;
	CHECK_EQ(f, VOL_FSCK_UNREPAIRED);
	CHECK_EQ(store_open_vol(img, &s), -EUCLEAN);

	make_shared();
	expect_repaired();
	CHECK_EQ(store_open_vol(img, &s), 0);
	/* f0 whole; f1 blocks 2..3 hold what f0's 4..5 held, the rest its own */
	skip_mask[1] = 3u << 2;
	skip_mask[2] = 1u << 6;
	check_all(s);
	read_block(s, "f0", 4, f0blk[0]);
	read_block(s, "f0", 5, f0blk[1]);
	read_block(s, "f1", 2, got);
	CHECK(!memcmp(got, f0blk[0], BS));
	read_block(s, "f1", 3, got);
	CHECK(!memcmp(got, f0blk[1], BS));
	CHECK(pblk_of(node(s, "f1"), 2) != pblk_of(node(s, "f0"), 4));
	/* f2 block 6 holds the directory block's bytes, in a block of its own */
	read_block(s, "f2", 6, got);
	CHECK(!memcmp(got, "DIRB", 4));
	struct vnode *d = node(s, "d");
	for (size_t k = 0; k < d->meta.nr; k++)
		CHECK(d->meta.v[k].start != pblk_of(node(s, "f2"), 6));
	/* d/e lost its doubled block: an empty directory */
	struct stat st;
	CHECK_EQ(store_getattr(s, "d/e", &st), 0);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_EQ(st.st_size, 0);
	/* the copies are separate now: writing f1 leaves f0 alone */
	struct store_inode *si;
	CHECK_EQ(store_open(s, "f1", O_RDWR, 0, &si), 0);
	memset(want, 'Z', BS);
	CHECK_EQ(store_write(si, want, BS, 2 * BS), BS);
	store_release(si);
	store_close(s);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_CLEAN);
	CHECK_EQ(store_open_vol(img, &s), 0);
	check_file(s, "f0", 0, 0);
	read_block(s, "f1", 2, got);
	CHECK(!memcmp(got, want, BS));
	store_close(s);
}

static void remove_entry(struct vstore *vs, struct vnode *dir, const char *name)
{
	struct vdent *e = vdir_lookup(dir->dir, name, strlen(name));
	CHECK(e != NULL);
	vdir_remove(dir->dir, e);
	dir->map_dirty = true;
	vs_dirty(vs, dir);
}

static void add_entry(struct vstore *vs, struct vnode *dir, const char *name, uint64_t ino)
{
	CHECK_EQ(vdir_insert(dir->dir, name, strlen(name), ino, DT_DIR, dir->di.next_cookie++), 0);
	dir->map_dirty = true;
	vs_dirty(vs, dir);
}

static int find_lost(void *ctx, const char *name, uint64_t ino, unsigned type, int64_t next)
{
	uint64_t *want = ctx;
	(void)type, (void)next;
	char p[64];
	snprintf(p, sizeof(p), "#%llu", (unsigned long long)ino);
	for (int i = 0; i < 2 && !strcmp(name, p); i++)
		if (want[i] == ino)
			want[i] = 0;
	return 0;
}

/* Returns the loop's lower directory number (*m) and the self-named one. */
static void make_cycles(uint64_t *m, uint64_t *selfp)
{
	struct store *s;
	struct store_inode *si;
	char buf[BS];
	fresh_image(true);
	s = populate();
	CHECK_EQ(store_mkdir(s, "a", 0755), 0);
	CHECK_EQ(store_mkdir(s, "a/b", 0755), 0);
	CHECK_EQ(store_mkdir(s, "a/b/c", 0755), 0);
	CHECK_EQ(store_create(s, "a/b/c/file", 0644, &si), 0);
	pattern(buf, 9, 0);
	CHECK_EQ(store_write(si, buf, BS, 0), BS);
	store_release(si);
	CHECK_EQ(store_mkdir(s, "self", 0755), 0);
	struct vstore *vs = VS(s);
	struct vnode *root = vs->inodes[vs->v->sb.root_ino], *a = node(s, "a"), *b = node(s, "a/b");
	struct vnode *self = node(s, "self");
	pthread_mutex_lock(&vs->lock);
	*m = a->ino < b->ino ? a->ino : b->ino;
	*selfp = self->ino;
	/* a <-> b: root no longer names a, b names it as "loop" */
	remove_entry(vs, root, "a");
	add_entry(vs, b, "loop", a->ino);
	/* self names itself only */
	remove_entry(vs, root, "self");
	add_entry(vs, self, "me", self->ino);
	CHECK_EQ(vs_commit(vs), 0);
	pthread_mutex_unlock(&vs->lock);
	store_close(s);
}

TEST(repair_dir_cycle)
{
	struct store *s;
	struct stat st;
	char got[BS], want[BS];

	uint64_t m, self;
	make_cycles(&m, &self);
	expect_damaged();
	vol_fsck_test_no_cycle_repair = true;
	int f = vol_fsck(img, true, stderr);
	vol_fsck_test_no_cycle_repair = false;
	CHECK_EQ(f, VOL_FSCK_UNREPAIRED);
	CHECK_EQ(store_open_vol(img, &s), -EUCLEAN);

	make_cycles(&m, &self);
	expect_repaired();
	CHECK_EQ(store_open_vol(img, &s), 0);
	check_all(s);
	uint64_t want_lost[2] = {m, self};
	CHECK_EQ(store_readdir(s, "lost+found", 0, find_lost, want_lost), 0);
	CHECKF(!want_lost[0] && !want_lost[1], "lost+found/#%llu / #%llu missing",
	       (unsigned long long)want_lost[0], (unsigned long long)want_lost[1]);
	/* the loop broke at a (the lower number): lost+found/#<a>/b/c/file */
	char p[128];
	snprintf(p, sizeof(p), "lost+found/#%llu/b/c/file", (unsigned long long)m);
	struct store_inode *si;
	CHECK_EQ(store_open(s, p, O_RDONLY, 0, &si), 0);
	CHECK_EQ(store_read(si, got, BS, 0), BS);
	store_release(si);
	pattern(want, 9, 0);
	CHECK(!memcmp(got, want, BS));
	snprintf(p, sizeof(p), "lost+found/#%llu/b/loop", (unsigned long long)m);
	CHECK_EQ(store_getattr(s, p, &st), -ENOENT);
	snprintf(p, sizeof(p), "lost+found/#%llu/b", (unsigned long long)m);
	CHECK_EQ(store_getattr(s, p, &st), 0);
	CHECK_EQ(st.st_nlink, 3); /* ., its entry, c's .. */
	snprintf(p, sizeof(p), "lost+found/#%llu/me", (unsigned long long)self);
	CHECK_EQ(store_getattr(s, p, &st), -ENOENT);
	CHECK_EQ(store_getattr(s, "", &st), 0);
	CHECK_EQ(st.st_nlink, 2 + 2); /* subdirectories: d and lost+found */
	CHECK_EQ(store_getattr(s, "lost+found", &st), 0);
	CHECK_EQ(st.st_nlink, 2 + 2); /* the two relinked */
	/* usable: rmdir the emptied self-loop */
	snprintf(p, sizeof(p), "lost+found/#%llu", (unsigned long long)self);
	CHECK_EQ(store_rmdir(s, p), 0);
	store_close(s);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_CLEAN);
}

/* Directory keep (with keep/a, keep/sub/b) and file top, all with inode
 * numbers outside the first inode-table block (which holds the root):
 * pad files take the numbers below 16. */
static void make_zeroed_root(uint64_t *keep, uint64_t *top)
{
	struct store *s;
	struct store_inode *si;
	char buf[BS], p[64];
	const char *files[] = {"keep/a", "keep/sub/b", "top"};
	fresh_image(true);
	CHECK_EQ(store_open_vol(img, &s), 0);
	for (int i = 0; i < 14; i++) {
		snprintf(p, sizeof(p), "pad%d", i);
		CHECK_EQ(store_create(s, p, 0644, &si), 0);
		store_release(si);
	}
	CHECK_EQ(store_mkdir(s, "keep", 0755), 0);
	CHECK_EQ(store_mkdir(s, "keep/sub", 0755), 0);
	for (unsigned f = 0; f < 3; f++) {
		CHECK_EQ(store_create(s, files[f], 0644, &si), 0);
		for (unsigned b = 0; b < FBLOCKS; b++) {
			pattern(buf, f, b);
			CHECK_EQ(store_write(si, buf, BS, (int64_t)b * BS), BS);
		}
		store_release(si);
	}
	*keep = node(s, "keep")->ino;
	*top = node(s, "top")->ino;
	CHECKF(*keep >= BS / VOL_INODE_SIZE && *top >= BS / VOL_INODE_SIZE,
	       "keep %llu top %llu in the root's inode-table block", (unsigned long long)*keep,
	       (unsigned long long)*top);
	store_close(s);
	/* zero the inode-table block holding the root inode */
	struct vol_super sb;
	CHECK_EQ(vol_read_super(img, &sb, NULL), 0);
	int fd = open(img, O_RDWR);
	CHECK(fd >= 0);
	memset(buf, 0, BS);
	uint64_t blk = sb.itable_start + sb.root_ino / (BS / VOL_INODE_SIZE);
	CHECK(pwrite(fd, buf, BS, (off_t)(blk * BS)) == BS);
	close(fd);
}

TEST(repair_root_zeroed)
{
	struct store *s;
	struct stat st;
	uint64_t keep, top;
	char p[128];

	/* without the rebuild: the root stays missing, the volume unmountable */
	make_zeroed_root(&keep, &top);
	expect_damaged();
	vol_fsck_test_no_root_rebuild = true;
	int f = vol_fsck(img, true, stderr);
	vol_fsck_test_no_root_rebuild = false;
	CHECK_EQ(f, VOL_FSCK_UNREPAIRED);
	CHECK_EQ(store_open_vol(img, &s), -EUCLEAN);

	make_zeroed_root(&keep, &top);
	expect_damaged();
	expect_repaired();
	CHECK_EQ(store_open_vol(img, &s), 0);
	CHECK_EQ(store_getattr(s, "", &st), 0);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_EQ(st.st_nlink, 3); /* lost+found */
	CHECK_EQ(store_getattr(s, "lost+found", &st), 0);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_EQ(st.st_mode & 07777, 0700);
	CHECK_EQ(st.st_nlink, 3); /* keep */
	CHECK_EQ(store_getattr(s, "pad0", &st), -ENOENT);
	/* what lay outside the zeroed block is all there, data intact */
	snprintf(p, sizeof(p), "lost+found/#%llu/a", (unsigned long long)keep);
	check_file(s, p, 0, 0);
	snprintf(p, sizeof(p), "lost+found/#%llu/sub/b", (unsigned long long)keep);
	check_file(s, p, 1, 0);
	snprintf(p, sizeof(p), "lost+found/#%llu", (unsigned long long)top);
	check_file(s, p, 2, 0);
	snprintf(p, sizeof(p), "lost+found/#%llu", (unsigned long long)keep);
	CHECK_EQ(store_getattr(s, p, &st), 0);
	CHECK_EQ(st.st_nlink, 3); /* ., its entry, sub's .. */
	/* usable: new names in the new root, the relinked tree moves out */
	struct store_inode *si;
	char buf[BS];
	CHECK_EQ(store_create(s, "new", 0644, &si), 0);
	pattern(buf, 3, 0);
	CHECK_EQ(store_write(si, buf, BS, 0), BS);
	store_release(si);
	CHECK_EQ(store_rename(s, p, "keep", 0), 0);
	check_file(s, "keep/sub/b", 1, 0);
	store_close(s);
	CHECK_EQ(vol_fsck(img, false, stderr), VOL_FSCK_CLEAN);
	CHECK_EQ(store_open_vol(img, &s), 0);
	read_block(s, "new", 0, buf);
	char want[BS];
	pattern(want, 3, 0);
	CHECK(!memcmp(buf, want, BS));
	check_file(s, "keep/a", 0, 0);
	store_close(s);
}

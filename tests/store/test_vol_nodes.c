/* SPDX-License-Identifier: MIT */
/*
 * The vol store's namespace on nodes (issue 15): special files (rdev,
 * persistence, the INODE_EXT feature bit), O_TMPFILE files (named by
 * link, freed at the last reference otherwise, an orphan across a crash),
 * export handles across remounts and -ESTALE once the slot is reused, also
 * after a crash lost the create (switches vol_test_gen_reuse and
 * vol_test_gen_no_limit show the hazards; generation batches with knob
 * vol_test_gen_small_batch), unlinked-but-referenced files and
 * directories, ".." after renames, and threads racing lookups, attribute
 * and data calls and handles against the last unlink (seeded, PC_SEED
 * replays). fsck is clean after each.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "harness.h"
#include "fixture.h"
#include "store/vol/vol.h"
#include "store/vol/volume.h"
#include "store/vol/vstore.h"
#include "vol_nodes.h"

TEST(special_files)
{
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_node *root = root_of(s), *n;
	struct store_inode *si;
	struct stat st;

	store_node_put(mk(root, "plain", S_IFREG | 0644, 0));
	store_node_put(root);
	store_close(s);
	CHECK(!feature_ext()); /* nothing used the extension fields yet */

	s = vol_mount_img();
	root = root_of(s);
	store_node_put(mk(root, "fifo", S_IFIFO | 0640, makedev(9, 9)));
	store_node_put(mk(root, "sock", S_IFSOCK | 0600, 0));
	store_node_put(mk(root, "chr", S_IFCHR | 0600, makedev(1, 3)));
	n = mk(root, "blk", S_IFBLK | 0660, makedev(259, 7));
	CHECK_EQ(store_node_getattr(n, &st), 0);
	CHECK_EQ(st.st_mode, S_IFBLK | 0660);
	CHECK_EQ(st.st_rdev, makedev(259, 7));
	CHECK_EQ(st.st_size, 0);
	CHECK_EQ(store_node_open(n, O_RDWR, &si), -EINVAL); /* no data through the store */
	store_node_put(n);
	CHECK_EQ(store_create_at(root, "chr", S_IFCHR | 0600, 0, &me, &n), -EEXIST);
	store_node_put(root);
	store_close(s);
	CHECK(feature_ext());
	vol_fsck_clean();

	s = vol_mount_img();
	root = root_of(s);
	struct seen seen = {0};
	CHECK_EQ(store_node_readdir(root, 0, collect, &seen), 0);
	CHECK_EQ(type_of(&seen, "fifo"), DT_FIFO);
	CHECK_EQ(type_of(&seen, "sock"), DT_SOCK);
	CHECK_EQ(type_of(&seen, "chr"), DT_CHR);
	CHECK_EQ(type_of(&seen, "blk"), DT_BLK);
	CHECK_EQ(type_of(&seen, "plain"), DT_REG);
	n = look(root, "fifo");
	CHECK_EQ(store_node_getattr(n, &st), 0);
	CHECK_EQ(st.st_mode, S_IFIFO | 0640);
	CHECK_EQ(st.st_rdev, 0); /* only devices keep one */
	store_node_put(n);
	n = look(root, "chr");
	CHECK_EQ(store_node_getattr(n, &st), 0);
	CHECK_EQ(st.st_rdev, makedev(1, 3));
	store_node_put(n);
	CHECK_EQ(store_unlink_at(root, "chr", false), 0);
	CHECK_EQ(store_rename_at(root, "blk", root, "blk2", 0), 0);
	store_node_put(root);
	store_close(s);
	vol_fsck_clean();
}

TEST(tmpfile)
{
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_node *root = root_of(s), *t, *u, *n;
	struct store_inode *si;
	struct stat st;
	char buf[16];
	uint64_t free0 = ffree(s);

	CHECK_EQ(store_tmpfile(root, 0600, &me, &t), 0);
	CHECK_EQ(store_node_getattr(t, &st), 0);
	CHECK_EQ(st.st_nlink, 0);
	CHECK_EQ(st.st_mode, S_IFREG | 0600);
	CHECK_EQ(store_node_open(t, O_RDWR, &si), 0);
	CHECK_EQ(store_write(si, "tmpdata", 7, 0), 7);
	store_release(si);
	CHECK_EQ(store_link_at(t, root, "named"), 0);
	CHECK_EQ(store_node_getattr(t, &st), 0);
	CHECK_EQ(st.st_nlink, 1);
	store_node_put(t);

	/* one never named: freed with its last reference */
	CHECK_EQ(store_tmpfile(root, 0644, &me, &u), 0);
	CHECK_EQ(store_node_open(u, O_RDWR, &si), 0);
	CHECK_EQ(store_write(si, "gone", 4, 0), 4);
	CHECK_EQ(store_node_sync_dir(root), 0); /* committed as an orphan */
	store_release(si);
	CHECK_EQ(ffree(s), free0 - 2);
	store_node_put(u);
	CHECK_EQ(ffree(s), free0 - 1);

	/* an unlinked file that was not O_TMPFILE cannot be named again */
	n = mk(root, "plain", S_IFREG | 0644, 0);
	CHECK_EQ(store_unlink_at(root, "plain", false), 0);
	CHECK_EQ(store_link_at(n, root, "again"), -ENOENT);
	store_node_put(n);

	/* one held across a crash: the next mount frees it */
	CHECK_EQ(store_tmpfile(root, 0644, &me, &u), 0);
	CHECK_EQ(store_node_sync_dir(root), 0);
	vol_store_stop_at(s, 1);
	store_node_put(u);
	store_node_put(root);
	store_close(s);
	vol_fsck_clean();

	s = vol_mount_img();
	CHECK_EQ(ffree(s), free0 - 1);
	root = root_of(s);
	t = look(root, "named");
	CHECK_EQ(store_node_open(t, O_RDONLY, &si), 0);
	CHECK_EQ(store_read(si, buf, sizeof(buf), 0), 7);
	CHECK(!memcmp(buf, "tmpdata", 7));
	store_release(si);
	store_node_put(t);
	store_node_put(root);
	store_close(s);
	vol_fsck_clean();
}

static struct store_handle handle_of(struct store_node *n)
{
	struct store_handle h;
	CHECK_EQ(store_encode_handle(n, &h), 0);
	CHECK_EQ(h.type, STORE_HANDLE_INO_GEN);
	CHECK_EQ(h.len, 16);
	return h;
}

/* Remount; @old's slot is reused by a new file "b": what decoding @old gives. */
static int decode_after_reuse(const struct store_handle *old, uint64_t ino)
{
	struct store *s = vol_mount_img();
	struct store_node *root = root_of(s), *b = mk(root, "b", S_IFREG | 0644, 0), *n;
	struct stat st;

	CHECK_EQ(store_node_getattr(b, &st), 0);
	CHECK_EQ(st.st_ino, ino); /* the freed slot came round again */
	int r = store_decode_handle(s, old, &n);
	if (!r)
		store_node_put(n);
	store_node_put(b);
	store_node_put(root);
	store_close(s);
	return r;
}

/* "b" (slot @ino) goes in one mount; in the next, "lost" takes the slot,
 * a handle is made and a crash loses the create: decoding that handle
 * after "b" took the slot again. */
static int lost_create_decode(uint64_t ino)
{
	struct store *s = vol_mount_img();
	struct store_node *root = root_of(s), *a;
	struct stat st;

	CHECK_EQ(store_unlink_at(root, "b", false), 0);
	store_node_put(root);
	store_close(s);
	s = vol_mount_img();
	root = root_of(s);
	a = mk(root, "lost", S_IFREG | 0644, 0);
	CHECK_EQ(store_node_getattr(a, &st), 0);
	CHECK_EQ(st.st_ino, ino);
	struct store_handle h = handle_of(a);
	vol_store_stop_at(s, 1);
	store_node_put(a);
	store_node_put(root);
	store_close(s);
	vol_fsck_clean();
	return decode_after_reuse(&h, ino);
}

TEST(handles_across_remount_and_reuse)
{
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_node *root = root_of(s), *a = mk(root, "a", S_IFREG | 0644, 0), *n;
	struct store_handle h = handle_of(a), hr = handle_of(root), bad;
	struct stat st, st2;
	uint64_t gen;

	CHECK_EQ(store_node_getattr(a, &st), 0);
	memcpy(&gen, h.data + 8, 8);
	CHECK(gen > 1);
	store_node_put(a);
	bad = h;
	bad.type = 7;
	CHECK_EQ(store_decode_handle(s, &bad, &n), -ESTALE);
	bad = h;
	bad.len = 12;
	CHECK_EQ(store_decode_handle(s, &bad, &n), -ESTALE);
	bad.len = 8; /* the inode number alone: whatever holds the slot */
	CHECK_EQ(store_decode_handle(s, &bad, &n), 0);
	CHECK_EQ(n->ino, st.st_ino);
	store_node_put(n);
	store_node_put(root);
	store_close(s);

	/* across a remount: the same object */
	s = vol_mount_img();
	CHECK_EQ(store_decode_handle(s, &h, &n), 0);
	CHECK_EQ(store_node_getattr(n, &st2), 0);
	CHECK_EQ(st2.st_ino, st.st_ino);
	store_node_put(n);
	CHECK_EQ(store_decode_handle(s, &hr, &n), 0);
	CHECK_EQ(n->ino, VOL_ROOT_INO);
	store_node_put(n);
	root = root_of(s);
	CHECK_EQ(store_unlink_at(root, "a", false), 0);
	CHECK_EQ(store_decode_handle(s, &h, &n), -ESTALE); /* freed */
	store_node_put(root);
	store_close(s);
	vol_fsck_clean();

	/* the slot reused by another file: still stale */
	CHECK_EQ(decode_after_reuse(&h, st.st_ino), -ESTALE);

	/* a handle of a file whose creation a crash lost: its generation is
	 * never handed out again either */
	s = vol_mount_img();
	root = root_of(s);
	CHECK_EQ(store_unlink_at(root, "b", false), 0);
	CHECK_EQ(store_node_sync_dir(root), 0);
	a = mk(root, "lost", S_IFREG | 0644, 0);
	h = handle_of(a);
	vol_store_stop_at(s, 1);
	store_node_put(a);
	store_node_put(root);
	store_close(s);
	vol_fsck_clean();
	CHECK_EQ(decode_after_reuse(&h, st.st_ino), -ESTALE);

	/* the same from a fresh mount (the create takes the first generation
	 * of the mount); with no durable limit that generation comes round
	 * again after the crash, and the handle names the new file */
	CHECK_EQ(lost_create_decode(st.st_ino), -ESTALE);
	vol_test_gen_no_limit = true;
	CHECK_EQ(lost_create_decode(st.st_ino), 0);
	vol_test_gen_no_limit = false;
	vol_fsck_clean();

	/* the hazard: generations reused, a stale handle names the new file */
	vol_test_gen_reuse = true;
	vol_new_image(16 << 20, 0);
	s = vol_mount_img();
	root = root_of(s);
	a = mk(root, "a", S_IFREG | 0644, 0);
	h = handle_of(a);
	store_node_put(a);
	CHECK_EQ(store_unlink_at(root, "a", false), 0);
	store_node_put(root);
	store_close(s);
	CHECK_EQ(decode_after_reuse(&h, st.st_ino), 0);
	vol_test_gen_reuse = false;
	vol_fsck_clean();
}

TEST(unlinked_but_referenced)
{
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_node *root = root_of(s), *f = mk(root, "f", S_IFREG | 0644, 0);
	struct store_node *d = mk(root, "d", S_IFDIR | 0755, 0), *n;
	struct store_setattr sa = {.valid = STORE_ATTR_MODE, .mode = 0600};
	struct store_inode *si;
	struct stat st;
	char buf[8];
	uint64_t free0 = ffree(s) + 2; /* before f and d */

	struct store_handle h;
	CHECK_EQ(store_encode_handle(f, &h), 0);
	CHECK_EQ(store_unlink_at(root, "f", false), 0);
	CHECK_EQ(store_node_getattr(f, &st), 0);
	CHECK_EQ(st.st_nlink, 0);
	/* no name, but held (by f): found, as ext4 and tmpfs find an unlinked
	 * inode still in memory (open_by_handle_at of a file unlinked while
	 * open); stale once nothing holds it (handles_across_remount_and_reuse) */
	CHECK_EQ(store_decode_handle(s, &h, &n), 0);
	CHECK_EQ(n->ino, f->ino);
	store_node_put(n);
	CHECK_EQ(store_node_setattr(f, &sa), 0);
	CHECK_EQ(store_node_getattr(f, &st), 0);
	CHECK_EQ(st.st_mode, S_IFREG | 0600);
	CHECK_EQ(store_node_open(f, O_RDWR, &si), 0);
	CHECK_EQ(store_write(si, "abc", 3, 0), 3);
	store_release(si);
	CHECK_EQ(store_node_open(f, O_RDONLY, &si), 0); /* still there after the close */
	CHECK_EQ(store_read(si, buf, sizeof(buf), 0), 3);
	store_release(si);

	CHECK_EQ(store_unlink_at(root, "d", true), 0);
	CHECK_EQ(store_node_getattr(d, &st), 0);
	CHECK_EQ(st.st_nlink, 0);
	CHECK_EQ(store_create_at(d, "x", S_IFREG | 0644, 0, &me, &n), -ENOENT);
	CHECK_EQ(store_create_at(d, "x", S_IFDIR | 0755, 0, &me, &n), -ENOENT);
	CHECK_EQ(store_lookup(d, "..", &n), -ENOENT);
	CHECK_EQ(store_tmpfile(d, 0600, &me, &n), -ENOENT);
	struct seen seen = {0};
	CHECK_EQ(store_node_readdir(d, 0, collect, &seen), 0);
	CHECK_EQ(seen.n, 0);
	n = mk(root, "y", S_IFREG | 0644, 0);
	CHECK_EQ(store_rename_at(root, "y", d, "y", 0), -ENOENT);
	CHECK_EQ(store_link_at(n, d, "y2"), -ENOENT);
	store_node_put(n);
	CHECK_EQ(ffree(s), free0 - 3); /* f and d live on */

	/* committed as orphans, then a crash with the references held */
	CHECK_EQ(store_node_sync_dir(root), 0);
	vol_store_stop_at(s, 1);
	store_node_put(f);
	store_node_put(d);
	store_node_put(root);
	store_close(s);
	vol_fsck_clean();
	s = vol_mount_img();
	CHECK_EQ(ffree(s), free0 - 1); /* the mount freed them: "y" is left */
	root = root_of(s);
	f = mk(root, "f2", S_IFREG | 0644, 0);
	CHECK_EQ(store_unlink_at(root, "f2", false), 0);
	store_node_put(f); /* the last reference frees it now */
	CHECK_EQ(ffree(s), free0 - 1);
	store_node_put(root);
	store_close(s);
	vol_fsck_clean();
}

static uint64_t ino_of(struct store_node *n)
{
	struct stat st;
	CHECK_EQ(store_node_getattr(n, &st), 0);
	return st.st_ino;
}

static uint64_t parent_ino(struct store_node *dir)
{
	struct store_node *p;
	CHECK_EQ(store_lookup(dir, "..", &p), 0);
	uint64_t ino = ino_of(p);
	store_node_put(p);
	return ino;
}

TEST(dotdot_after_rename)
{
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_node *root = root_of(s), *a = mk(root, "a", S_IFDIR | 0755, 0);
	struct store_node *c = mk(root, "c", S_IFDIR | 0755, 0), *b = mk(a, "b", S_IFDIR | 0755, 0);
	struct store_node *e = mk(c, "e", S_IFDIR | 0755, 0);

	CHECK_EQ(parent_ino(root), VOL_ROOT_INO);
	CHECK_EQ(parent_ino(b), ino_of(a));
	CHECK_EQ(store_rename_at(a, "b", c, "b", 0), 0);
	CHECK_EQ(parent_ino(b), ino_of(c));
	CHECK_EQ(store_rename_at(c, "b", root, "e", RENAME_EXCHANGE), -ENOENT);
	CHECK_EQ(store_rename_at(c, "b", a, "c", RENAME_EXCHANGE), -ENOENT);
	store_node_put(mk(a, "z", S_IFDIR | 0755, 0));
	CHECK_EQ(store_rename_at(c, "b", a, "z", RENAME_EXCHANGE), 0);
	CHECK_EQ(parent_ino(b), ino_of(a));
	CHECK_EQ(store_rename_at(c, "e", b, "e", 0), 0);
	CHECK_EQ(parent_ino(e), ino_of(b));
	CHECK_EQ(store_rename_at(root, "a", e, "a", 0), -EINVAL); /* below itself */
	uint64_t want_b = ino_of(a), want_e = ino_of(b);
	store_node_put(a);
	store_node_put(b);
	store_node_put(c);
	store_node_put(e);
	store_node_put(root);
	store_close(s);
	vol_fsck_clean();

	/* the mount rebuilds the parents from the tree */
	s = vol_mount_img();
	root = root_of(s);
	a = look(root, "a");
	b = look(a, "z"); /* b, exchanged with z */
	e = look(b, "e");
	CHECK_EQ(parent_ino(b), want_b);
	CHECK_EQ(parent_ino(e), want_e);
	store_node_put(a);
	store_node_put(b);
	store_node_put(e);
	store_node_put(root);
	store_close(s);
	vol_fsck_clean();
}

/* ---- references racing the last unlink ---- */

struct race {
	struct store *s;
	struct store_node *root;
	uint64_t seed;
	unsigned long iters;
	unsigned long seen, stale; /* lookups that found a name; handles gone stale */
	int id;
};

static void *racer(void *arg)
{
	struct race *r = arg;
	uint64_t x = r->seed * 2 + 1;
	char name[8], buf[8];

	for (unsigned long i = 0; i < r->iters; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		snprintf(name, sizeof(name), "n%u", (unsigned)(x % 4));
		struct store_node *n = NULL, *m = NULL;
		struct store_handle h;
		struct store_inode *si;
		switch (r->id) {
		case 0: /* names come and go */
			if (x & 32) {
				if (store_create_at(r->root, name, S_IFREG | 0644, 0, &me, &n) == 0)
					store_node_put(n);
			} else {
				store_unlink_at(r->root, name, false);
			}
			if (x % 16 == 0)
				store_node_sync_dir(r->root); /* orphans committed meanwhile */
			break;
		default: /* their users: attributes, data, handles, on nameless ones too */
			if (store_lookup(r->root, name, &n))
				break;
			r->seen++;
			store_setxattr(n, "user.r", "v", 1, 0);
			if (store_node_open(n, O_RDWR, &si) == 0) {
				store_write(si, "data", 4, 0);
				store_read(si, buf, sizeof(buf), 0);
				store_release(si);
			}
			CHECK_EQ(store_encode_handle(n, &h), 0);
			store_node_put(n);
			if (store_decode_handle(r->s, &h, &m) == 0)
				store_node_put(m);
			else
				r->stale++;
			break;
		}
	}
	return NULL;
}

/* Small batches: the limit moves up durably (a commit) each time one is
 * used up, and a crash never lets a handed-out generation come back. */
TEST(generation_batches)
{
	vol_test_gen_small_batch = true;
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_node *root = root_of(s), *n;
	struct store_handle h[12];
	struct vol_super sb;
	const char *why;
	uint64_t maxgen = 0, g;
	char name[16];

	unsigned long c0 = vol_store_commits(s);
	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		n = mk(root, name, S_IFREG | 0644, 0);
		h[i] = handle_of(n);
		memcpy(&g, h[i].data + 8, 8);
		CHECK(g > maxgen);
		maxgen = g;
		store_node_put(n);
	}
	CHECK(vol_store_commits(s) - c0 >= 3); /* a batch of 3 per commit */
	CHECK_EQ(vol_read_super(vol_img, &sb, &why), 0);
	struct vol *v = VS(s)->v;
	if (v->ck.n) { /* durable in the journal, its checkpoint deferred */
		const char *last = v->ck.tx[v->ck.n - 1];
		const struct vol_jdesc *jd = (const struct vol_jdesc *)last;
		CHECK_EQ(vol_super_decode(&sb, last + (size_t)jd->nr * 4096, &why), 0);
	}
	CHECK(sb.ino_gen_limit > maxgen); /* on disk before it was handed out */
	vol_store_stop_at(s, 1);	  /* the last creates are lost */
	store_node_put(root);
	store_close(s);
	vol_fsck_clean();
	s = vol_mount_img();
	root = root_of(s);
	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "g%d", i);
		n = mk(root, name, S_IFREG | 0644, 0);
		struct store_handle hn = handle_of(n);
		memcpy(&g, hn.data + 8, 8);
		CHECK(g > maxgen);
		store_node_put(n);
	}
	for (int i = 0; i < 12; i++) { /* each old handle: its file or stale */
		int r = store_decode_handle(s, &h[i], &n);
		CHECK(r == 0 || r == -ESTALE);
		if (!r) {
			snprintf(name, sizeof(name), "f%d", i);
			struct store_node *m = look(root, name);
			CHECK_EQ(m->ino, n->ino);
			store_node_put(m);
			store_node_put(n);
		}
	}
	store_node_put(root);
	store_close(s);
	vol_fsck_clean();
	vol_test_gen_small_batch = false;
}

TEST(references_race_unlink)
{
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_node *root = root_of(s);
	uint64_t seed = test_seed(), free0 = ffree(s);
	struct race r[3];
	pthread_t t[3];

	for (int i = 0; i < 3; i++) {
		r[i] = (struct race){s, root, seed + (uint64_t)i, test_scale(20000, 10), 0, 0, i};
		CHECK_EQ(pthread_create(&t[i], NULL, racer, &r[i]), 0);
	}
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	printf("# %lu lookups found a name, %lu handles were stale by the decode\n",
	       r[1].seen + r[2].seen, r[1].stale + r[2].stale);
	for (unsigned i = 0; i < 4; i++) {
		char name[8];
		snprintf(name, sizeof(name), "n%u", i);
		store_unlink_at(root, name, false);
	}
	CHECK_EQ(ffree(s), free0); /* every nameless inode freed with its last user */
	store_node_put(root);
	store_close(s);
	vol_fsck_clean();
}

/* A full volume: sets on @nfiles files; the first error of the sets, else
 * of the sync after them (*synced_err: it was the sync's). */

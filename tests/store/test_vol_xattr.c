/* SPDX-License-Identifier: MIT */
/*
 * The vol store's extended attributes (issue 15): the xattr(7) errors and
 * Linux's namespaces, the one block's capacity, survival across unmount,
 * every crash point of their commit (all or nothing with the commit's other
 * change; switch vol_test_xattr_in_place shows the hazard), fsck and mount
 * catching a damaged block and fsck dropping it, sets on a full volume
 * (switch vol_test_xattr_no_charge shows the hazard). fsck is clean after
 * each.
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
#include "store/vol/vstore.h"
#include "vol_nodes.h"

TEST(xattrs)
{
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_node *root = root_of(s), *f = mk(root, "f", S_IFREG | 0644, 0);
	struct store_node *d = mk(root, "d", S_IFDIR | 0755, 0), *l;
	char buf[8192], big[5000];

	CHECK_EQ(store_symlink_at(root, "l", "f", &me, &l), 0);
	CHECK_EQ(store_getxattr(f, "user.a", buf, sizeof(buf)), -ENODATA);
	CHECK_EQ(store_listxattr(f, buf, sizeof(buf)), 0);
	CHECK_EQ(store_setxattr(f, "user.a", "one", 3, 0), 0);
	CHECK_EQ(store_setxattr(f, "user.a", "x", 1, XATTR_CREATE), -EEXIST);
	CHECK_EQ(store_setxattr(f, "user.b", "x", 1, XATTR_REPLACE), -ENODATA);
	CHECK_EQ(store_setxattr(f, "trusted.t", "", 0, 0), 0); /* empty values are values */
	CHECK_EQ(store_setxattr(f, "security.s", "sec", 3, XATTR_CREATE), 0);
	CHECK_EQ(store_getxattr(f, "user.a", NULL, 0), 3);
	CHECK_EQ(store_getxattr(f, "user.a", buf, 2), -ERANGE);
	CHECK_EQ(store_getxattr(f, "user.a", buf, sizeof(buf)), 3);
	CHECK(!memcmp(buf, "one", 3));
	CHECK_EQ(store_getxattr(f, "trusted.t", buf, sizeof(buf)), 0);
	const char list[] = "user.a\0trusted.t\0security.s";
	CHECK_EQ(store_listxattr(f, NULL, 0), (ssize_t)sizeof(list));
	CHECK_EQ(store_listxattr(f, buf, 5), -ERANGE);
	CHECK_EQ(store_listxattr(f, buf, sizeof(buf)), (ssize_t)sizeof(list));
	CHECK(!memcmp(buf, list, sizeof(list)));
	CHECK_EQ(store_setxattr(f, "user.a", "three", 5, XATTR_REPLACE), 0);
	CHECK_EQ(store_removexattr(f, "trusted.t"), 0);
	CHECK_EQ(store_removexattr(f, "trusted.t"), -ENODATA);
	/* one block: a value that cannot fit is -ENOSPC, over 64 KiB -E2BIG */
	memset(big, 'v', sizeof(big));
	CHECK_EQ(store_setxattr(f, "user.big", big, sizeof(big), 0), -ENOSPC);
	CHECK_EQ(store_setxattr(f, "user.big", big, XATTR_SIZE_MAX + 1, 0), -E2BIG);
	CHECK_EQ(store_setxattr(d, "user.big", big, 4000, 0), 0);
	CHECK_EQ(store_setxattr(d, "user.more", big, 100, 0), -ENOSPC);
	CHECK_EQ(store_setxattr(d, "user.big", big, 3000, 0), 0); /* replacing frees room */
	CHECK_EQ(store_setxattr(d, "user.more", big, 100, 0), 0);
	CHECK_EQ(store_setxattr(l, "trusted.link", "L", 1, 0), 0); /* symlinks have them too */
	CHECK_EQ(store_setxattr(root, "system.posix_acl_default", "acl", 3, 0), 0);
	/* Linux's namespaces and ACL rules */
	CHECK_EQ(store_setxattr(f, "user.", "v", 1, 0), -EINVAL);
	CHECK_EQ(store_getxattr(f, "trusted.", buf, sizeof(buf)), -EINVAL);
	CHECK_EQ(store_setxattr(f, "other.x", "v", 1, 0), -EOPNOTSUPP);
	CHECK_EQ(store_setxattr(f, "system.other", "v", 1, 0), -EOPNOTSUPP);
	CHECK_EQ(store_removexattr(f, "nonamespace"), -EOPNOTSUPP);
	CHECK_EQ(store_removexattr(f, "system.posix_acl_access"), 0); /* absent: no error */
	CHECK_EQ(store_removexattr(f, "user.absent"), -ENODATA);
	CHECK_EQ(store_setxattr(f, "system.posix_acl_access", "acl", 3, 0), 0);
	CHECK_EQ(store_setxattr(f, "system.posix_acl_access", "", 0, 0), 0); /* removes it */
	CHECK_EQ(store_getxattr(f, "system.posix_acl_access", buf, sizeof(buf)), -ENODATA);
	/* an unlinked, referenced file keeps its attributes; its block goes with it */
	struct store_node *u = mk(root, "u", S_IFREG | 0600, 0);
	CHECK_EQ(store_setxattr(u, "user.gone", "soon", 4, 0), 0);
	CHECK_EQ(store_node_sync_dir(root), 0); /* u's block committed */
	CHECK_EQ(store_unlink_at(root, "u", false), 0);
	CHECK_EQ(store_getxattr(u, "user.gone", buf, sizeof(buf)), 4);
	CHECK_EQ(store_setxattr(u, "user.gone2", "x", 1, 0), 0);
	store_node_put(u);
	store_node_put(f);
	store_node_put(d);
	store_node_put(l);
	store_node_put(root);
	store_close(s);
	vol_fsck_clean(); /* u's block freed, no leak */

	s = vol_mount_img();
	root = root_of(s);
	f = look(root, "f");
	d = look(root, "d");
	l = look(root, "l");
	CHECK_EQ(store_getxattr(f, "user.a", buf, sizeof(buf)), 5);
	CHECK(!memcmp(buf, "three", 5));
	CHECK_EQ(store_getxattr(f, "security.s", buf, sizeof(buf)), 3);
	CHECK_EQ(store_getxattr(f, "trusted.t", buf, sizeof(buf)), -ENODATA);
	CHECK_EQ(store_getxattr(d, "user.big", buf, sizeof(buf)), 3000);
	CHECK_EQ(store_getxattr(d, "user.more", buf, sizeof(buf)), 100);
	CHECK_EQ(store_getxattr(l, "trusted.link", buf, sizeof(buf)), 1);
	CHECK_EQ(store_getxattr(root, "system.posix_acl_default", buf, sizeof(buf)), 3);
	/* all removed: the block goes */
	CHECK_EQ(store_removexattr(d, "user.big"), 0);
	CHECK_EQ(store_removexattr(d, "user.more"), 0);
	CHECK_EQ(store_listxattr(d, buf, sizeof(buf)), 0);
	CHECK_EQ(store_unlink_at(root, "f", false), 0); /* its block freed at once */
	store_node_put(f);
	store_node_put(d);
	store_node_put(l);
	store_node_put(root);
	store_close(s);
	vol_fsck_clean();
	CHECK(feature_ext());
}

/* ---- an xattr change at every crash point of its commit ---- */

static void xattr_base(void)
{
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_node *root = root_of(s), *f = mk(root, "f", S_IFREG | 0644, 0);
	CHECK_EQ(store_setxattr(f, "user.x", "old", 3, 0), 0);
	store_node_put(f);
	store_node_put(root);
	store_close(s);
}

/* Mounts, stops the device at write @at (0: never), changes the set and
 * syncs. The writes it issued; *synced: the sync returned 0. */
static unsigned long xattr_run(long at, bool *synced)
{
	struct store *s = vol_mount_img();
	struct store_node *root = root_of(s), *f = look(root, "f");
	char big[1500];

	memset(big, 'y', sizeof(big));
	if (at)
		vol_store_stop_at(s, at);
	unsigned long w0 = vol_store_writes(s);
	struct store_node *g = NULL;
	*synced = store_setxattr(f, "user.x", "new", 3, 0) == 0 &&
		  store_setxattr(f, "user.y", big, sizeof(big), 0) == 0 &&
		  store_create_at(root, "g", S_IFREG | 0644, 0, &me, &g) == 0 &&
		  store_node_sync_dir(root) == 0;
	store_node_put(g);
	unsigned long w = vol_store_writes(s) - w0;
	if (!at)
		vol_store_stop_at(s, 1); /* a crash after the commit */
	store_node_put(f);
	store_node_put(root);
	store_close(s);
	return w;
}

/* Crashes at every write of the commit: the attributes change with the
 * commit that carries them (the new file "g"), all or nothing. The points
 * where they did not. */
static unsigned long xattr_crash_points(void)
{
	unsigned long bad = 0;
	bool synced;
	char buf[2048];

	xattr_base();
	unsigned long writes = xattr_run(0, &synced);
	CHECK(synced && writes > 0);
	for (long at = 1; at <= (long)writes + 1; at++) {
		xattr_base();
		xattr_run(at, &synced);
		vol_fsck_clean();
		struct store *s = vol_mount_img();
		struct store_node *root = root_of(s), *f = look(root, "f"), *g;
		ssize_t n = store_getxattr(f, "user.x", buf, sizeof(buf));
		CHECK_EQ(n, 3);
		bool is_new = !memcmp(buf, "new", 3);
		CHECK(is_new || !memcmp(buf, "old", 3));
		CHECK(!synced || is_new); /* a sync that returned 0 is durable */
		/* the block holds both or neither */
		CHECK_EQ(store_getxattr(f, "user.y", buf, sizeof(buf)), is_new ? 1500 : -ENODATA);
		bool g_there = store_lookup(root, "g", &g) == 0;
		if (g_there)
			store_node_put(g);
		bad += g_there != is_new;
		store_node_put(f);
		store_node_put(root);
		store_close(s);
		vol_fsck_clean();
	}
	printf("# xattr commit: %lu image writes, a crash at each: %lu not atomic\n", writes, bad);
	return bad;
}

TEST(xattr_crash_points)
{
	CHECK_EQ(xattr_crash_points(), 0);
	/* written in place over the committed block: crashes before the
	 * commit point show the new attributes without the commit's file */
	vol_test_xattr_in_place = true;
	CHECK(xattr_crash_points() > 0);
	vol_test_xattr_in_place = false;
}

TEST(fsck_catches_damaged_xattr_block)
{
	vol_new_image(16 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_node *root = root_of(s), *f = mk(root, "f", S_IFREG | 0644, 0);
	struct vol_disk_inode di;
	struct vol_super sb;
	const char *why;
	struct stat st;
	char buf[64];

	CHECK_EQ(store_setxattr(f, "user.k", "value", 5, 0), 0);
	CHECK_EQ(store_node_getattr(f, &st), 0);
	store_node_put(f);
	store_node_put(root);
	store_close(s);
	vol_fsck_clean();

	CHECK_EQ(vol_read_super(vol_img, &sb, &why), 0);
	int fd = open(vol_img, O_RDWR);
	CHECK(fd >= 0);
	CHECK_EQ(vol_inode_read(fd, &sb, st.st_ino, &di, &why), 0);
	CHECK(di.xattr_blk >= sb.data_start && di.xattr_blk < sb.nblocks);
	/* one flipped byte of a value: the crc catches it */
	off_t at = (off_t)(di.xattr_blk * VOL_BLOCK_SIZE + sizeof(struct vol_xattr_hdr) + 10);
	char c;
	CHECK_EQ(pread(fd, &c, 1, at), 1);
	c ^= 0x20;
	CHECK_EQ(pwrite(fd, &c, 1, at), 1);
	close(fd);
	CHECK_EQ(vol_fsck(vol_img, false, NULL), VOL_FSCK_UNREPAIRED);
	CHECK_EQ(store_open_vol(vol_img, &s), -EUCLEAN); /* mount refuses it too */
	CHECK_EQ(vol_fsck(vol_img, true, NULL), VOL_FSCK_REPAIRED);
	vol_fsck_clean(); /* the block was dropped and freed */
	s = vol_mount_img();
	root = root_of(s);
	f = look(root, "f");
	CHECK_EQ(store_getxattr(f, "user.k", buf, sizeof(buf)), -ENODATA);
	CHECK_EQ(store_setxattr(f, "user.k", "again", 5, 0), 0);
	store_node_put(f);
	store_node_put(root);
	store_close(s);
	vol_fsck_clean();
}

static int full_volume_sets(int nfiles, bool *synced_err)
{
	vol_new_image(8 << 20, 0);
	struct store *s = vol_mount_img();
	struct store_node *root = root_of(s), *f[64];
	struct store_inode *si;
	static char blk[1 << 16];
	char name[16];
	int64_t pos = 0;
	ssize_t w;
	int r = 0;

	for (int i = 0; i < nfiles; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		f[i] = mk(root, name, S_IFREG | 0644, 0);
	}
	CHECK_EQ(store_setxattr(f[0], "user.kept", "1", 1, 0), 0);
	CHECK_EQ(store_node_sync_dir(root), 0);
	CHECK_EQ(store_open(s, "big", O_RDWR | O_CREAT, 0644, &si), 0);
	memset(blk, 0x5a, sizeof(blk));
	while ((w = store_write(si, blk, sizeof(blk), pos)) > 0)
		pos += w;
	CHECK_EQ(w, -ENOSPC);
	CHECK_EQ(store_sync(si, false), 0);
	for (int i = 0; !r && i < nfiles; i++)
		r = store_setxattr(f[i], "user.new", "2", 1, 0);
	*synced_err = false;
	if (!r) {
		r = store_node_sync_dir(root);
		*synced_err = r != 0;
	}
	if (!vol_test_xattr_no_charge) {
		CHECK_EQ(store_removexattr(f[0], "user.kept"), 0); /* a full volume still removes */
		CHECK_EQ(store_sync(si, false), 0);
	}
	store_release(si);
	store_unlink_at(root, "big", false);
	for (int i = 0; i < nfiles; i++)
		store_node_put(f[i]);
	store_node_put(root);
	store_close(s);
	return r;
}

TEST(xattr_full_volume)
{
	/* the block a changed set needs at its commit is charged up front */
	bool at_sync;
	CHECK_EQ(full_volume_sets(1, &at_sync), -ENOSPC);
	CHECK(!at_sync);
	vol_fsck_clean();
	CHECK_EQ(full_volume_sets(64, &at_sync), -ENOSPC);
	CHECK(!at_sync);
	vol_fsck_clean();
	/* uncharged: every set succeeds, and the commit that must write them
	 * cannot (more blocks than the commit reserve) */
	vol_test_xattr_no_charge = true;
	int r = full_volume_sets(64, &at_sync);
	vol_test_xattr_no_charge = false;
	printf("# uncharged sets on a full volume: the sync after them gave %d\n", r);
	CHECK(at_sync && (r == -ENOSPC || r == -EIO));
}

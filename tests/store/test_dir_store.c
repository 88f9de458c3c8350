/* SPDX-License-Identifier: MIT */
/*
 * Tests of the store interface and its dir backend, on a fresh temporary
 * directory per test ($TMPDIR or /tmp): namespace ops and path safety, the
 * node-level conformance cases (store_conformance_nodes.c) and what only
 * the dir store has ('..' at the root, handles from outside the root or of
 * the lock file refused, cold handle decodes, the host's xattr rules), data
 * I/O, map over holes and data, every fallocate mode, O_DIRECT alignment,
 * the one-engine-per-root lock, readdir (fault injection, the validator and
 * concurrency: test_store_faults.c). Where the host file system or the
 * caller's privileges lack a feature (EOPNOTSUPP, EPERM), the sub-check
 * prints "# skip".
 */
#include <errno.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "harness.h"
#include "fixture.h"
#include "store_conformance.h"
#include "store_conformance_nodes.h"
#include "store/dir/dir_internal.h"

/* ---- paths ---- */

TEST(path_normalize)
{
	char b[256];

	CHECK_EQ(store_path_normalize("a//b/./c/", b, sizeof(b)), 0);
	CHECK(!strcmp(b, "a/b/c"));
	CHECK_EQ(store_path_normalize("a/../b", b, sizeof(b)), 0);
	CHECK(!strcmp(b, "b"));
	CHECK_EQ(store_path_normalize(".", b, sizeof(b)), 0);
	CHECK(!strcmp(b, ""));
	CHECK_EQ(store_path_normalize("/etc/passwd", b, sizeof(b)), -EINVAL);
	CHECK_EQ(store_path_normalize("..", b, sizeof(b)), -EINVAL);
	CHECK_EQ(store_path_normalize("a/../../x", b, sizeof(b)), -EINVAL);
	CHECK_EQ(store_path_normalize("./../x", b, sizeof(b)), -EINVAL);
	CHECK_EQ(store_path_normalize("abcdef", b, 4), -ENAMETOOLONG);
}

static void symlinks_not_followed(void);

TEST(path_escapes_rejected)
{
	struct store *s = open_fresh();
	struct store_inode *si;
	struct stat st;

	CHECK_EQ(store_open(s, "/etc/passwd", O_RDONLY, 0, &si), -EINVAL);
	CHECK(si == NULL);
	CHECK_EQ(store_open(s, "../x", O_RDWR | O_CREAT, 0644, &si), -EINVAL);
	CHECK_EQ(store_mkdir(s, "a/../../b", 0755), -EINVAL);
	CHECK_EQ(store_getattr(s, "..", &st), -EINVAL);
	CHECK_EQ(store_unlink(s, "../../etc/passwd"), -EINVAL);
	CHECK_EQ(store_rename(s, "x", "../x", 0), -EINVAL);
	CHECK_EQ(store_open(s, "", O_RDONLY, 0, &si), -ENOENT);
	CHECK_EQ(store_open(s, ".", O_RDONLY, 0, &si), -EISDIR);
	CHECK_EQ(store_unlink(s, ""), -ENOENT);

	/* '..' inside the root is fine */
	CHECK_EQ(store_mkdir(s, "a", 0755), 0);
	si = create(s, "a/../top");
	store_release(si);
	CHECK_EQ(store_getattr(s, "top", &st), 0);

	store_close(s);

	symlinks_not_followed();
}

/* Host symlinks (one leading out of the root) are never followed by the
 * walk (one O_PATH | O_NOFOLLOW lookup per component). */
static void symlinks_not_followed(void)
{
	struct store *s;
	struct store_inode *si;
	struct stat st;
	char host[2200];

	const char *dir = fresh_dir(NULL);
	snprintf(host, sizeof(host), "%s/evil", dir);
	CHECK(symlink("/tmp", host) == 0);
	snprintf(host, sizeof(host), "%s/evilfile", dir);
	CHECK(symlink("/etc/passwd", host) == 0);
	CHECK_EQ(store_open_dir(dir, &s), 0);
	int ret = store_open(s, "evil/x", O_RDWR | O_CREAT, 0644, &si);
	CHECKF(ret == -ELOOP || ret == -ENOTDIR, "%d", ret);
	CHECK_EQ(store_open(s, "evilfile", O_RDONLY, 0, &si), -ELOOP);
	ret = store_readdir(s, "evil", 0, NULL, NULL);
	CHECKF(ret == -ELOOP || ret == -ENOTDIR, "%d", ret);
	CHECK_EQ(store_getattr(s, "evil", &st), 0);
	CHECK(S_ISLNK(st.st_mode));

	/* the lock file is reserved */
	CHECK_EQ(store_open(s, ".pagecache.lock", O_RDONLY, 0, &si), -EPERM);
	CHECK_EQ(store_unlink(s, ".pagecache.lock"), -EPERM);
	si = create(s, "f");
	store_release(si);
	CHECK_EQ(store_rename(s, "f", ".pagecache.lock", 0), -EPERM);
	CHECK_EQ(store_rename(s, ".pagecache.lock", "g", 0), -EPERM);

	/* nested paths resolve either way */
	CHECK_EQ(store_mkdir(s, "p", 0755), 0);
	CHECK_EQ(store_mkdir(s, "p/q", 0755), 0);
	si = create(s, "p/q/r");
	store_release(si);
	CHECK_EQ(store_getattr(s, "p/./q/../q/r", &st), 0);
	CHECK(S_ISREG(st.st_mode));
	CHECK_EQ(store_getattr(s, "p/q/r/x", &st), -ENOTDIR);
	store_close(s);
}

/* ---- data reads ---- */

/* The host's pread: the first call reads at most one page, every later one
 * fails with EIO (a medium error part-way through a read). */
static int part_way_calls;

static ssize_t pread_part_way(int fd, void *buf, size_t len, off_t pos)
{
	if (__atomic_fetch_add(&part_way_calls, 1, __ATOMIC_RELAXED) == 0)
		return pread(fd, buf, len < 4096 ? len : 4096, pos);
	errno = EIO;
	return -1;
}

/* A read is short only at end of file: a host error after some bytes is
 * the error, never a short count (the page cache would take a short count
 * for the end of file and read zeroes past it). */
TEST(read_error_part_way)
{
	struct store *s = open_fresh();
	struct store_inode *si = create(s, "f");
	char w[3 * 4096], r[3 * 4096];

	for (size_t i = 0; i < sizeof(w); i++)
		w[i] = (char)(i * 7 + 1);
	CHECK_EQ(store_write(si, w, sizeof(w), 0), (ssize_t)sizeof(w));
	part_way_calls = 0;
	dir_test_pread = pread_part_way;
	CHECK_EQ(store_read(si, r, sizeof(r), 0), -EIO);
	CHECK_EQ(part_way_calls, 2);
	dir_test_pread = NULL;
	CHECK_EQ(store_read(si, r, sizeof(r), 0), (ssize_t)sizeof(r));
	CHECK(!memcmp(r, w, sizeof(w)));
	/* at the end of file a read is short, with no error */
	CHECK_EQ(store_read(si, r, sizeof(r), 4096), (ssize_t)(2 * 4096));
	store_release(si);
	store_close(s);
}

/* ---- namespace ---- */

TEST(open_create_excl_trunc)
{
	struct store *s = open_fresh();
	struct store_inode *si = conf_open_create(s), *si2;

	CHECK_EQ(store_open(s, "f", O_RDONLY, 0, &si2), 0);
	CHECK(!si2->readonly); /* host file opened read-write for writeback */
	store_release(si2);
	CHECK_EQ(store_open(s, "f", O_RDWR | O_APPEND, 0, &si2), -EINVAL);
	/* an unlinked file stays readable through its handle */
	conf_unlinked_handle(s, si);
	store_release(si);
	store_close(s);
}

TEST(mkdir_rmdir_unlink_getattr)
{
	struct store *s = open_fresh();

	conf_mkdir_rmdir_unlink(s, false);
	store_close(s);
}

TEST(rename_flags)
{
	struct store *s = open_fresh();

	conf_rename_flags(s, false);
	store_close(s);
}

TEST(readdir_hides_lock_file)
{
	struct store *s = open_fresh();
	struct names nm = {0}, a, b = {0};

	conf_readdir_fill(s, &nm, &a);
	CHECK(!listed(&nm, ".pagecache.lock") && !listed(&nm, ".") && !listed(&nm, ".."));
	/* resume after the first entry: the rest, and only the rest */
	CHECK_EQ(store_readdir(s, "", a.next[0], collect, &b), 0);
	CHECK_EQ(b.n, 2);
	CHECK(!listed(&b, a.name[0]));
	conf_readdir_sub(s, "one");
	store_close(s);
}

/* ---- the namespace on nodes (store_conformance_nodes.c) ---- */

TEST(nodes_namei)
{
	struct store *s = open_fresh();
	conf_nodes_namei(s);
	store_close(s);
}

TEST(nodes_special_files)
{
	struct store *s = open_fresh();
	conf_nodes_special(s);
	store_close(s);
}

TEST(nodes_xattr)
{
	struct store *s = open_fresh();
	conf_nodes_xattr(s);
	store_close(s);
}

TEST(nodes_tmpfile)
{
	struct store *s = open_fresh();
	conf_nodes_tmpfile(s);
	store_close(s);
}

static char remount_dir[2048];

static struct store *remount(struct store *s)
{
	store_close(s);
	CHECK_EQ(store_open_dir(remount_dir, &s), 0);
	return s;
}

TEST(nodes_handles)
{
	struct store *s;
	snprintf(remount_dir, sizeof(remount_dir), "%s", fresh_dir(NULL));
	CHECK_EQ(store_open_dir(remount_dir, &s), 0);
	s = conf_nodes_handles(s, remount);
	store_close(s);
}

TEST(nodes_unlinked)
{
	struct store *s = open_fresh();
	conf_nodes_unlinked(s);
	store_close(s);
}

TEST(nodes_readdir_cookies)
{
	struct store *s = open_fresh();
	conf_nodes_readdir_cookies(s);
	store_close(s);
}

TEST(nodes_readdir_removed)
{
	struct store *s = open_fresh();
	conf_nodes_readdir_removed(s);
	store_close(s);
}

TEST(nodes_deeper_than_path_max)
{
	struct store *s = open_fresh();
	conf_nodes_deep(s);
	store_close(s);
}

TEST(nodes_owner_mode)
{
	struct store *s = open_fresh();
	conf_nodes_owner_mode(s);
	store_close(s);
}

/* ---- what only the dir store has ---- */

/* ".." of the root is the root; with the check off, the host's parent. */
TEST(dotdot_stays_in_root)
{
	struct store *s = open_fresh();
	struct store_node *root, *up;
	struct stat st;

	CHECK_EQ(store_root(s, &root), 0);
	CHECK_EQ(store_walk(root, "../../..", &up), 0);
	CHECK(up->ino == root->ino && up->dev == root->dev);
	store_node_put(up);
	CHECK_EQ(store_getattr(s, "..", &st), -EINVAL); /* the path calls' contract */

	dir_test_dotdot_escape = true;
	CHECK_EQ(store_lookup(root, "..", &up), 0);
	CHECK(up->ino != root->ino); /* the hazard: the host's parent directory */
	store_node_put(up);
	dir_test_dotdot_escape = false;
	store_node_put(root);
	store_close(s);
}

/* A handle of another directory tree on the same host file system (here:
 * a second store's) never decodes in this store; with the check off it
 * does. */
TEST(handle_outside_root_refused)
{
	struct store *a = open_fresh(), *b = open_fresh();
	struct store_node *rb, *f, *d, *x = NULL;
	struct store_owner o = {geteuid(), getegid()};
	struct store_handle hf, hd;

	CHECK_EQ(store_root(b, &rb), 0);
	CHECK_EQ(store_create_at(rb, "f", S_IFREG | 0644, 0, &o, &f), 0);
	CHECK_EQ(store_create_at(rb, "d", S_IFDIR | 0755, 0, &o, &d), 0);
	CHECK_EQ(store_encode_handle(f, &hf), 0);
	CHECK_EQ(store_encode_handle(d, &hd), 0);
	int ret = store_decode_handle(b, &hf, &x);
	if (ret == -EPERM) {
		skip("decoding handles", ret);
		goto out;
	}
	CHECK_EQ(ret, 0);
	store_node_put(x);
	CHECK_EQ(store_decode_handle(a, &hf, &x), -ESTALE);
	CHECK(x == NULL);
	CHECK_EQ(store_decode_handle(a, &hd, &x), -ESTALE);

	dir_test_handle_any = true;
	CHECK_EQ(store_decode_handle(a, &hf, &x), 0);
	CHECK(x && x->ino == f->ino); /* the hazard: an object outside the root */
	store_node_put(x);
	CHECK_EQ(store_decode_handle(a, &hd, &x), 0);
	CHECK(x && x->ino == d->ino);
	store_node_put(x);
	dir_test_handle_any = false;

	/* the lock file's handle, made on the host, is refused */
	struct {
		struct file_handle fh;
		unsigned char b[STORE_HANDLE_MAX];
	} hh = {.fh.handle_bytes = STORE_HANDLE_MAX};
	struct store_handle hl = {0};
	char lock[4200];
	int mnt;
	snprintf(lock, sizeof(lock), "%s/.pagecache.lock", DS(a)->root_path);
	CHECK(name_to_handle_at(AT_FDCWD, lock, &hh.fh, &mnt, 0) == 0);
	hl.type = DIR_HANDLE_TAG | (unsigned)hh.fh.handle_type;
	hl.len = 1 + hh.fh.handle_bytes;
	hl.data[0] = (unsigned char)hh.fh.handle_bytes;
	memcpy(hl.data + 1, hh.fh.f_handle, hh.fh.handle_bytes);
	CHECK_EQ(store_decode_handle(a, &hl, &x), -ESTALE);
out:
	store_node_put(d);
	store_node_put(f);
	store_node_put(rb);
	store_close(b);
	store_close(a);
}

/* A non-directory decoded cold (no host path: forced here) is found
 * through the directory half of its handle; moved elsewhere since, it is
 * -ESTALE (the documented limit) unless the host still knows its path. */
TEST(handle_cold_reconnect)
{
	struct store *s = open_fresh();
	struct store_node *root, *d, *e, *f, *x = NULL;
	struct store_owner o = {geteuid(), getegid()};
	struct store_handle h;

	CHECK_EQ(store_root(s, &root), 0);
	CHECK_EQ(store_create_at(root, "d", S_IFDIR | 0755, 0, &o, &d), 0);
	CHECK_EQ(store_create_at(root, "e", S_IFDIR | 0755, 0, &o, &e), 0);
	for (int i = 0; i < 40; i++) { /* company in the directory */
		char name[16];
		snprintf(name, sizeof(name), "x%d", i);
		CHECK_EQ(store_create_at(d, name, S_IFREG | 0644, 0, &o, &x), 0);
		store_node_put(x);
	}
	CHECK_EQ(store_create_at(d, "f", S_IFREG | 0644, 0, &o, &f), 0);
	CHECK_EQ(store_encode_handle(f, &h), 0);
	int ret = store_decode_handle(s, &h, &x);
	if (ret == -EPERM) {
		skip("decoding handles", ret);
		goto out;
	}
	CHECK_EQ(ret, 0);
	store_node_put(x);

	dir_test_handle_cold = true;
	CHECK_EQ(store_decode_handle(s, &h, &x), 0);
	CHECK(x && x->ino == f->ino && x->dev == f->dev);
	/* the node found by name has its directory: its own handle works */
	struct store_handle h2;
	CHECK_EQ(store_encode_handle(x, &h2), 0);
	store_node_put(x);
	CHECK_EQ(store_decode_handle(s, &h2, &x), 0);
	CHECK(x && x->ino == f->ino);
	store_node_put(x);
	CHECK_EQ(store_rename_at(d, "f", e, "f", 0), 0);
	CHECK_EQ(store_decode_handle(s, &h, &x), -ESTALE);
	dir_test_handle_cold = false;
	CHECK_EQ(store_decode_handle(s, &h, &x), 0); /* warm: by its path */
	CHECK(x && x->ino == f->ino);
	store_node_put(x);
out:
	store_node_put(f);
	store_node_put(e);
	store_node_put(d);
	store_node_put(root);
	store_close(s);
}

/* The host's xattr rules apply: user.* on a symlink is -EPERM there. */
TEST(host_xattr_rules)
{
	struct store *s = open_fresh();
	struct store_node *root, *l;
	struct store_owner o = {geteuid(), getegid()};

	CHECK_EQ(store_root(s, &root), 0);
	CHECK_EQ(store_symlink_at(root, "l", "nowhere", &o, &l), 0);
	CHECK_EQ(store_setxattr(l, "user.a", "v", 1, 0), -EPERM);
	CHECK_EQ(store_getxattr(l, "user.a", NULL, 0), -ENODATA);
	store_node_put(l);
	store_node_put(root);
	store_close(s);
}

/* ---- the one-engine lock ---- */

TEST(second_open_busy)
{
	const char *dir = fresh_dir(NULL);
	struct store *s1, *s2;
	char path[4200];

	CHECK_EQ(store_open_dir(dir, &s1), 0);
	CHECK_EQ(store_open_dir(dir, &s2), -EBUSY);
	CHECK(s2 == NULL);
	store_close(s1);
	CHECK_EQ(store_open_dir(dir, &s2), 0);
	store_close(s2);

	snprintf(path, sizeof(path), "%s/missing", dir);
	CHECK_EQ(store_open_dir(path, &s1), -ENOENT);
}

/* ---- data ---- */

TEST(read_write_size)
{
	struct store *s = open_fresh();
	struct store_inode *si = create(s, "f");
	enum { N = 300000 };
	char *a = malloc(N), *b = malloc(N);

	conf_read_write(si, a, b, N);
	CHECK_EQ(store_read(si, b, 0, 0), 0);
	CHECK_EQ(store_read(si, b, 10, -1), -EINVAL);

	CHECK_EQ(store_setsize(si, 100), 0);
	CHECK_EQ(store_size(si), 100);
	CHECK_EQ(store_setsize(si, 1 << 20), 0);
	CHECK_EQ(store_size(si), 1 << 20);
	CHECK_EQ(store_read(si, b, 1000, 200), 1000);
	CHECK(is_zero(b, 1000));
	CHECK_EQ(store_setsize(si, -1), -EINVAL);
	CHECK_EQ(store_sync(si, false), 0);
	CHECK_EQ(store_sync(si, true), 0);
	free(a);
	free(b);
	store_release(si);
	store_close(s);
}

/* The dir store maps file offsets to themselves. */
#define map1(si, pos, len, elen) conf_map1(si, pos, len, elen, true)

TEST(map_holes_and_data)
{
	struct store *s = open_fresh();
	struct store_inode *si = create(s, "f");
	enum { K = 64 * 1024, M = 1 << 20 };
	char *buf = malloc(K);
	int64_t len;

	fill(buf, K, 3);
	CHECK_EQ(map1(si, 0, M, &len), STORE_HOLE); /* empty file */
	CHECK_EQ(len, M);
	CHECK_EQ(store_write(si, buf, K, 0), K);
	CHECK_EQ(store_write(si, buf, K, M), K);
	CHECK_EQ(store_sync(si, true), 0);

	CHECK_EQ(map1(si, 0, 4 * M, &len), STORE_MAPPED);
	CHECK_EQ(len, K);
	CHECK_EQ(map1(si, 0, 4096, &len), STORE_MAPPED);
	CHECK_EQ(len, 4096); /* clipped to the request */
	CHECK_EQ(map1(si, K, 4 * M, &len), STORE_HOLE);
	CHECK_EQ(len, M - K);
	CHECK_EQ(map1(si, M, 4 * M, &len), STORE_MAPPED);
	CHECK_EQ(len, K);
	CHECK_EQ(map1(si, M + K, M, &len), STORE_HOLE); /* past EOF */
	CHECK_EQ(len, M);

	int ret = store_fallocate(si, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 16384, 16384);
	if (ret) {
		skip("punch hole", ret);
		CHECK_EQ(ret, -EOPNOTSUPP);
	} else {
		CHECK_EQ(store_size(si), M + K);
		CHECK_EQ(map1(si, 0, M, &len), STORE_MAPPED);
		CHECK_EQ(len, 16384);
		CHECK_EQ(map1(si, 16384, M, &len), STORE_HOLE);
		CHECK_EQ(len, 16384);
		CHECK_EQ(map1(si, 32768, M, &len), STORE_MAPPED);
		CHECK_EQ(len, K - 32768);
		CHECK_EQ(store_read(si, buf, K, 0), K);
		CHECK(is_zero(buf + 16384, 16384));
		CHECK(!is_zero(buf + 32768, 100));
	}
	CHECK_EQ(store_map(si, -1, 10, &(struct store_map){0}), -EINVAL);
	CHECK_EQ(store_map(si, 0, 0, &(struct store_map){0}), -EINVAL);
	free(buf);
	store_release(si);
	store_close(s);
}

TEST(fallocate_modes)
{
	struct store *s = open_fresh();
	struct store_inode *si = create(s, "f");
	enum { B = 65536 }; /* a multiple of any host block size */
	char *a = malloc(4 * B), *b = malloc(4 * B);
	int ret;
	int64_t len;

	ret = store_fallocate(si, 0, 0, B);
	if (ret) {
		skip("fallocate", ret);
		CHECK_EQ(ret, -EOPNOTSUPP);
		goto out;
	}
	CHECK_EQ(store_size(si), B);
	CHECK_EQ(store_fallocate(si, FALLOC_FL_KEEP_SIZE, B, B), 0);
	CHECK_EQ(store_size(si), B);
	CHECK_EQ(store_read(si, a, B, 0), B);
	CHECK(is_zero(a, B));
	/* preallocated space maps (ext4: as a hole, since SEEK_DATA skips
	 * unwritten extents) and reads as zeroes, checked above */
	(void)map1(si, 0, B, &len);

	fill(a, 4 * B, 5);
	CHECK_EQ(store_write(si, a, 4 * B, 0), 4 * B);
	ret = store_fallocate(si, FALLOC_FL_ZERO_RANGE, B, B);
	if (ret) {
		skip("zero range", ret);
		CHECK_EQ(ret, -EOPNOTSUPP);
	} else {
		CHECK_EQ(store_read(si, b, 4 * B, 0), 4 * B);
		CHECK(!memcmp(a, b, B) && is_zero(b + B, B) &&
		      !memcmp(a + 2 * B, b + 2 * B, 2 * B));
		CHECK_EQ(store_write(si, a + B, B, B), B);
		CHECK_EQ(
		    store_fallocate(si, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 3 * B, 2 * B),
		    0);
		CHECK_EQ(store_size(si), 4 * B);
		CHECK_EQ(store_write(si, a + 3 * B, B, 3 * B), B);
	}

	ret = store_fallocate(si, FALLOC_FL_COLLAPSE_RANGE, B, B);
	if (ret) {
		skip("collapse range", ret);
		CHECK(ret == -EOPNOTSUPP || ret == -EINVAL);
	} else {
		CHECK_EQ(store_size(si), 3 * B);
		CHECK_EQ(store_read(si, b, 3 * B, 0), 3 * B);
		CHECK(!memcmp(b, a, B) && !memcmp(b + B, a + 2 * B, 2 * B));
		CHECK_EQ(store_fallocate(si, FALLOC_FL_COLLAPSE_RANGE, 100, B), -EINVAL);
	}

	ret = store_fallocate(si, FALLOC_FL_INSERT_RANGE, B, B);
	if (ret) {
		skip("insert range", ret);
		CHECK(ret == -EOPNOTSUPP || ret == -EINVAL);
	} else {
		int64_t sz = store_size(si);
		CHECK_EQ(store_read(si, b, (size_t)sz, 0), sz);
		CHECK(!memcmp(b, a, B) && is_zero(b + B, B));
		CHECK_EQ(map1(si, B, B, &len), STORE_HOLE);
	}

	CHECK_EQ(store_fallocate(si, FALLOC_FL_PUNCH_HOLE, 0, B), -EOPNOTSUPP); /* no KEEP_SIZE */
	CHECK_EQ(store_fallocate(si, 0x4000, 0, B), -EOPNOTSUPP);
	CHECK_EQ(store_fallocate(si, 0, -1, B), -EINVAL);
	CHECK_EQ(store_fallocate(si, 0, 0, 0), -EINVAL);
out:
	free(a);
	free(b);
	store_release(si);
	store_close(s);
}

TEST(clone_range)
{
	struct store *s = open_fresh();
	struct store_inode *a = create(s, "a"), *b = create(s, "b");
	char buf[65536];

	fill(buf, sizeof(buf), 9);
	CHECK_EQ(store_write(a, buf, sizeof(buf), 0), sizeof(buf));
	int ret = store_clone_range(a, 0, b, 0, sizeof(buf));
	if (ret) {
		skip("clone range", ret);
		CHECK_EQ(ret, -EOPNOTSUPP);
	} else {
		char got[sizeof(buf)];
		CHECK_EQ(store_read(b, got, sizeof(got), 0), sizeof(got));
		CHECK(!memcmp(got, buf, sizeof(buf)));
	}
	store_release(a);
	store_release(b);
	store_close(s);
}

/* ---- O_DIRECT ---- */

static void dio_checks(struct store *s, const char *where)
{
	struct store_inode *si;
	unsigned al = s->dio_align;

	printf("# %s: dio_supported %d dio_align %u\n", where, s->dio_supported, al);
	if (!s->dio_supported) {
		CHECK_EQ(store_open(s, "d", O_RDWR | O_CREAT | O_DIRECT, 0644, &si), -EINVAL);
		si = create(s, "d");
		char buf[512];
		CHECK_EQ(store_dio_read(si, buf, 512, 0), -EINVAL);
		store_release(si);
		test_skip_part("%s: O_DIRECT I/O (host refuses O_DIRECT)", where);
		return;
	}
	CHECK(al >= 1 && (al & (al - 1)) == 0);
	CHECK_EQ(store_open(s, "d", O_RDWR | O_CREAT | O_DIRECT, 0644, &si), 0);
	CHECK(si->dio_fd >= 0);
	size_t n = 16 * (size_t)(al < 4096 ? 4096 : al);
	char *a, *b;
	CHECK(posix_memalign((void **)&a, 4096, n + al) == 0);
	CHECK(posix_memalign((void **)&b, 4096, n + al) == 0);
	if (al > 1) {
		CHECK_EQ(store_dio_write(si, a, n - 1, 0), -EINVAL);
		CHECK_EQ(store_dio_read(si, b, n, al / 2), -EINVAL);
		CHECK_EQ(store_dio_read(si, b + 1, n, 0), -EINVAL);
		CHECK_EQ(store_dio_read(si, b, al + 1, 0), -EINVAL);
	}
	conf_dio_read_write(si, a, b, n, al);
	/* a read across EOF stops there */
	CHECK_EQ(store_setsize(si, (int64_t)n - al), 0);
	CHECK_EQ(store_dio_read(si, b, n, 0), (long long)(n - al));
	store_release(si);

	/* a handle opened without O_DIRECT gets its O_DIRECT fd on first use */
	CHECK_EQ(store_open(s, "d", O_RDWR, 0, &si), 0);
	CHECK_EQ(si->dio_fd, -1);
	CHECK_EQ(store_dio_read(si, b, al, 0), (long long)al);
	CHECK(si->dio_fd >= 0);
	CHECK(!memcmp(a, b, al));
	store_release(si);
	free(a);
	free(b);
}

TEST(direct_io_alignment)
{
	struct store *s = open_fresh();
	dio_checks(s, "tmpdir");
	store_close(s);

	/* tmpfs: refuses O_DIRECT on older kernels */
	struct statvfs sv;
	if (statvfs("/dev/shm", &sv) == 0 && access("/dev/shm", W_OK) == 0) {
		char dir[4200];
		snprintf(dir, sizeof(dir), "%s", fresh_dir("/dev/shm"));
		CHECK_EQ(store_open_dir(dir, &s), 0);
		dio_checks(s, "/dev/shm");
		store_close(s);
		rm_rf(dir);
	} else {
		test_skip_part("/dev/shm store: not available");
	}

	/* a store whose host refuses O_DIRECT (forced here) */
	s = open_fresh();
	s->dio_supported = false;
	dio_checks(s, "forced off");
	store_close(s);
}

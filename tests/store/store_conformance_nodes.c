/* SPDX-License-Identifier: MIT */
/* store_conformance_nodes.c - see store_conformance_nodes.h. Takes no locks. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "harness.h"
#include "fixture.h"
#include "store_conformance.h"
#include "store_conformance_nodes.h"

/* ---- helpers ---- */

static struct store_owner me(void)
{
	return (struct store_owner){.uid = geteuid(), .gid = getegid()};
}

static struct store_node *root_of(struct store *s)
{
	struct store_node *r = NULL;
	CHECK_EQ(store_root(s, &r), 0);
	return r;
}

static bool same(const struct store_node *a, const struct store_node *b)
{
	return a && b && a->ino == b->ino && a->dev == b->dev;
}

/* store_create_at, which must succeed. */
static struct store_node *mk(struct store_node *dir, const char *name, mode_t mode)
{
	struct store_owner o = me();
	struct store_node *n = NULL;
	int ret = store_create_at(dir, name, mode, 0, &o, &n);
	CHECKF(ret == 0, "create %s: %s", name, strerror(-ret));
	CHECK(n != NULL && (n->type == (mode & S_IFMT)));
	return n;
}

/* store_lookup, which must succeed. */
static struct store_node *look(struct store_node *dir, const char *name)
{
	struct store_node *n = NULL;
	int ret = store_lookup(dir, name, &n);
	CHECKF(ret == 0, "lookup %s: %s", name, strerror(-ret));
	return n;
}

static struct stat attr(struct store_node *n)
{
	struct stat st;
	memset(&st, 0, sizeof(st));
	CHECK_EQ(store_node_getattr(n, &st), 0);
	return st;
}

static void put_str(struct store_node *n, const char *str)
{
	struct store_inode *si;
	CHECK_EQ(store_node_open(n, O_RDWR, &si), 0);
	CHECK_EQ(store_setsize(si, 0), 0);
	CHECK_EQ(store_write(si, str, strlen(str), 0), (long long)strlen(str));
	store_release(si);
}

static bool node_has_str(struct store_node *n, const char *str)
{
	struct store_inode *si;
	char buf[64] = {0};
	if (store_node_open(n, O_RDONLY, &si))
		return false;
	ssize_t len = store_read(si, buf, sizeof(buf) - 1, 0);
	store_release(si);
	return len == (ssize_t)strlen(str) && !memcmp(buf, str, (size_t)len);
}

/* ---- namespace ---- */

void conf_nodes_namei(struct store *s)
{
	struct store_owner o = me();
	struct store_node *root = root_of(s), *d, *f, *x = NULL, *l;
	char longname[NAME_MAX + 2], buf[64];

	x = look(root, "..");
	CHECK(same(x, root)); /* never above the root */
	store_node_put(x);
	x = look(root, ".");
	CHECK(same(x, root));
	store_node_put(x);

	d = mk(root, "d", S_IFDIR | 0755);
	CHECK_EQ(store_create_at(root, "d", S_IFDIR | 0755, 0, &o, &x), -EEXIST);
	CHECK(x == NULL);
	CHECK_EQ(store_create_at(root, "d", S_IFREG | 0644, 0, &o, &x), -EEXIST);
	f = mk(d, "f", S_IFREG | 0644);
	x = look(d, "f");
	CHECK(same(x, f));
	store_node_put(x);
	x = look(d, "..");
	CHECK(same(x, root));
	store_node_put(x);
	CHECK_EQ(store_lookup(d, "nope", &x), -ENOENT);
	CHECK_EQ(store_lookup(f, "x", &x), -ENOTDIR);

	/* name checks */
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK_EQ(store_create_at(d, "", S_IFREG | 0644, 0, &o, &x), -ENOENT);
	CHECK_EQ(store_create_at(d, "a/b", S_IFREG | 0644, 0, &o, &x), -EINVAL);
	CHECK_EQ(store_create_at(d, longname, S_IFREG | 0644, 0, &o, &x), -ENAMETOOLONG);
	CHECK_EQ(store_lookup(d, longname, &x), -ENAMETOOLONG);
	CHECK_EQ(store_create_at(d, ".", S_IFDIR | 0755, 0, &o, &x), -EEXIST);
	CHECK_EQ(store_create_at(d, "..", S_IFREG | 0644, 0, &o, &x), -EEXIST);
	CHECK_EQ(store_create_at(f, "x", S_IFREG | 0644, 0, &o, &x), -ENOTDIR);
	CHECK_EQ(store_create_at(d, "l", S_IFLNK | 0777, 0, &o, &x), -EINVAL);

	/* link by node: one object, two names */
	put_str(f, "data");
	CHECK_EQ(store_link_at(f, root, "g"), 0);
	CHECK_EQ(attr(f).st_nlink, 2);
	x = look(root, "g");
	CHECK(same(x, f));
	store_node_put(x);
	CHECK_EQ(store_link_at(f, root, "g"), -EEXIST);
	CHECK_EQ(store_link_at(d, root, "d2"), -EPERM);

	/* rename between directories by node; the node follows its object */
	CHECK_EQ(store_rename_at(root, "g", d, "h", 0), 0);
	CHECK_EQ(store_lookup(root, "g", &x), -ENOENT);
	x = look(d, "h");
	CHECK(same(x, f));
	store_node_put(x);
	CHECK_EQ(store_rename_at(d, "f", root, "f2", RENAME_NOREPLACE), 0);
	CHECK_EQ(store_rename_at(d, "h", root, "f2", RENAME_NOREPLACE), -EEXIST);
	CHECK(node_has_str(f, "data"));
	CHECK_EQ(attr(f).st_nlink, 2);
	CHECK_EQ(store_rename_at(root, "d", d, "sub", 0), -EINVAL); /* below itself */
	CHECK_EQ(store_rename_at(root, ".", d, "x", 0), -EBUSY);

	/* unlink and rmdir by node */
	CHECK_EQ(store_unlink_at(d, "h", false), 0);
	CHECK_EQ(store_unlink_at(d, "h", false), -ENOENT);
	CHECK_EQ(store_unlink_at(root, "d", false), -EISDIR);
	CHECK_EQ(store_unlink_at(root, "f2", true), -ENOTDIR);
	CHECK_EQ(store_unlink_at(root, "d", true), 0);
	CHECK_EQ(store_lookup(root, "d", &x), -ENOENT);
	CHECK_EQ(attr(f).st_nlink, 1);
	CHECK_EQ(store_unlink_at(root, "f2", false), 0);
	CHECK_EQ(attr(f).st_nlink, 0);

	/* symlink and readlink by node */
	CHECK_EQ(store_symlink_at(root, "l", "target/x", &o, &l), 0);
	CHECK(l && S_ISLNK(l->type));
	CHECK_EQ(store_node_readlink(l, buf, sizeof(buf)), 8);
	CHECK(!memcmp(buf, "target/x", 8));
	CHECK_EQ(store_node_readlink(root, buf, sizeof(buf)), -EINVAL);
	x = look(root, "l");
	CHECK(same(x, l));
	store_node_put(x);
	struct store_inode *si;
	CHECK_EQ(store_node_open(l, O_RDONLY, &si), -ELOOP);
	CHECK_EQ(store_node_open(root, O_RDONLY, &si), -EISDIR);
	CHECK_EQ(store_symlink_at(root, "l", "t", &o, &x), -EEXIST);
	/* a symlink's own times; its mode is fixed */
	struct store_setattr sa = {.valid = STORE_ATTR_MTIME, .mtime = {.tv_sec = 777}};
	CHECK_EQ(store_node_setattr(l, &sa), 0);
	CHECK_EQ(attr(l).st_mtim.tv_sec, 777);
	sa = (struct store_setattr){.valid = STORE_ATTR_MODE, .mode = 0700};
	CHECK_EQ(store_node_setattr(l, &sa), -EOPNOTSUPP);
	CHECK_EQ(store_unlink_at(root, "l", false), 0);

	store_node_put(l);
	store_node_put(f);
	store_node_put(d);
	store_node_put(root);
}

/* ---- special files ---- */

struct dtypes {
	char name[8][16];
	unsigned type[8];
	int n;
};

static int collect_types(void *ctx, const char *name, uint64_t ino, unsigned type, int64_t next)
{
	struct dtypes *t = ctx;
	if (t->n < 8) {
		snprintf(t->name[t->n], sizeof(t->name[0]), "%s", name);
		t->type[t->n++] = type;
	}
	return 0;
}

/* Creates special file @name; false where the caller may not (devices
 * without CAP_MKNOD), with a "# skip" line. */
static bool special(struct store_node *root, const char *name, mode_t mode, dev_t rdev)
{
	struct store_owner o = me();
	struct store_node *n = NULL;
	struct store_inode *si;
	int ret = store_create_at(root, name, mode, rdev, &o, &n);

	if (ret == -EPERM && (S_ISCHR(mode) || S_ISBLK(mode))) {
		skip(name, ret);
		return false;
	}
	CHECKF(ret == 0, "%s: %s", name, strerror(-ret));
	if (ret)
		return false;
	CHECK_EQ(n->type, mode & S_IFMT);
	struct stat st = attr(n);
	CHECK_EQ(st.st_mode, mode);
	if (S_ISCHR(mode) || S_ISBLK(mode))
		CHECK_EQ(st.st_rdev, rdev);
	CHECK_EQ(store_node_open(n, O_RDWR, &si), -EINVAL);
	store_node_put(n);
	return true;
}

static unsigned dtype_of(struct dtypes *t, const char *name)
{
	for (int i = 0; i < t->n; i++)
		if (!strcmp(t->name[i], name))
			return t->type[i];
	return 0xff;
}

void conf_nodes_special(struct store *s)
{
	struct store_node *root = root_of(s);
	struct dtypes t = {0};
	static const struct {
		const char *name;
		mode_t mode;
		unsigned dt;
	} kinds[] = {
	    {"fifo", S_IFIFO | 0640, DT_FIFO},
	    {"sock", S_IFSOCK | 0600, DT_SOCK},
	    {"chr", S_IFCHR | 0600, DT_CHR},
	    {"blk", S_IFBLK | 0660, DT_BLK},
	};
	bool made[4];

	for (int i = 0; i < 4; i++)
		made[i] = special(root, kinds[i].name, kinds[i].mode,
				  S_ISBLK(kinds[i].mode) ? makedev(7, 0) : makedev(1, 3));
	CHECK_EQ(store_node_readdir(root, 0, collect_types, &t), 0);
	for (int i = 0; i < 4; i++) {
		if (!made[i])
			continue;
		unsigned dt = dtype_of(&t, kinds[i].name);
		CHECKF(dt == kinds[i].dt || dt == DT_UNKNOWN, "%s: d_type %u", kinds[i].name, dt);
		CHECK_EQ(store_unlink_at(root, kinds[i].name, false), 0);
	}
	store_node_put(root);
}

/* ---- extended attributes ---- */

/* The set/get/list/remove rules of namespace prefix @ns ("user." ...) on
 * @n; false (skipped) where the host or caller may not use it. */
static bool xattr_rules(struct store_node *n, const char *ns, const char *what)
{
	char a[64], e[64], v[64], list[1024];
	int ret;

	snprintf(a, sizeof(a), "%sa", ns);
	snprintf(e, sizeof(e), "%sempty", ns);
	ret = store_setxattr(n, a, "hello", 5, XATTR_CREATE);
	if (ret == -EOPNOTSUPP || (ret == -EPERM && strcmp(ns, "user."))) {
		char why[96];
		snprintf(why, sizeof(why), "%s xattrs on %s", ns, what);
		skip(why, ret);
		return false;
	}
	CHECKF(ret == 0, "%s on %s: %s", a, what, strerror(-ret));
	CHECK_EQ(store_setxattr(n, a, "x", 1, XATTR_CREATE), -EEXIST);
	CHECK_EQ(store_setxattr(n, e, "x", 1, XATTR_REPLACE), -ENODATA);
	CHECK_EQ(store_getxattr(n, e, v, sizeof(v)), -ENODATA);
	CHECK_EQ(store_getxattr(n, a, NULL, 0), 5);
	CHECK_EQ(store_getxattr(n, a, v, 2), -ERANGE);
	CHECK_EQ(store_getxattr(n, a, v, sizeof(v)), 5);
	CHECK(!memcmp(v, "hello", 5));
	CHECK_EQ(store_setxattr(n, a, "hi", 2, XATTR_REPLACE), 0);
	CHECK_EQ(store_getxattr(n, a, v, sizeof(v)), 2);
	CHECK(!memcmp(v, "hi", 2));
	CHECK_EQ(store_setxattr(n, e, "", 0, 0), 0);
	CHECK_EQ(store_getxattr(n, e, v, sizeof(v)), 0);

	/* list: both names, NUL-terminated; a short buffer is -ERANGE */
	ssize_t len = store_listxattr(n, NULL, 0);
	CHECK(len >= (ssize_t)(strlen(a) + strlen(e) + 2) && len <= (ssize_t)sizeof(list));
	CHECK_EQ(store_listxattr(n, list, (size_t)len), len);
	bool seen_a = false, seen_e = false;
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(list + i) + 1) {
		seen_a |= !strcmp(list + i, a);
		seen_e |= !strcmp(list + i, e);
	}
	CHECK(seen_a && seen_e);
	CHECK_EQ(store_listxattr(n, list, 1), -ERANGE);

	CHECK_EQ(store_removexattr(n, a), 0);
	CHECK_EQ(store_removexattr(n, a), -ENODATA);
	CHECK_EQ(store_getxattr(n, a, v, sizeof(v)), -ENODATA);
	CHECK_EQ(store_removexattr(n, e), 0);
	return true;
}

void conf_nodes_xattr(struct store *s)
{
	struct store_owner o = me();
	struct store_node *root = root_of(s), *f, *d, *l;
	char v[8];

	f = mk(root, "f", S_IFREG | 0644);
	d = mk(root, "d", S_IFDIR | 0755);
	CHECK_EQ(store_symlink_at(root, "l", "f", &o, &l), 0);
	if (xattr_rules(f, "user.", "a file"))
		xattr_rules(d, "user.", "a directory");
	xattr_rules(f, "trusted.", "a file");
	xattr_rules(d, "trusted.", "a directory");
	xattr_rules(l, "trusted.", "a symlink");
	xattr_rules(f, "security.", "a file");

	/* the symlink's own attributes, not its target's */
	if (store_setxattr(l, "trusted.own", "L", 1, 0) == 0) {
		CHECK_EQ(store_getxattr(f, "trusted.own", v, sizeof(v)), -ENODATA);
		CHECK_EQ(store_getxattr(l, "trusted.own", v, sizeof(v)), 1);
	}
	/* bad arguments */
	CHECK_EQ(store_getxattr(f, "", v, sizeof(v)), -ERANGE);
	CHECK_EQ(store_setxattr(f, "user.x", "v", 1, 0x10), -EINVAL);
	CHECK_EQ(store_setxattr(f, "user.x", "v", XATTR_SIZE_MAX + 1, 0), -E2BIG);

	store_node_put(l);
	store_node_put(d);
	store_node_put(f);
	store_node_put(root);
}

/* ---- O_TMPFILE ---- */

static int count_entries(void *ctx, const char *name, uint64_t ino, unsigned type, int64_t next)
{
	(*(int *)ctx)++;
	return 0;
}

void conf_nodes_tmpfile(struct store *s)
{
	struct store_owner o = me();
	struct store_node *root = root_of(s), *t, *u;
	struct store_inode *si;
	int entries = 0;

	int ret = store_tmpfile(root, 0600, &o, &t);
	if (ret == -EOPNOTSUPP) {
		skip("O_TMPFILE", ret);
		store_node_put(root);
		return;
	}
	CHECKF(ret == 0, "tmpfile: %s", strerror(-ret));
	struct stat st = attr(t);
	CHECK(S_ISREG(st.st_mode));
	CHECK_EQ(st.st_mode & 07777, 0600);
	CHECK_EQ(st.st_nlink, 0);
	CHECK_EQ(store_node_readdir(root, 0, count_entries, &entries), 0);
	CHECK_EQ(entries, 0);
	CHECK_EQ(store_node_open(t, O_RDWR, &si), 0);
	CHECK_EQ(store_write(si, "tmp", 3, 0), 3);
	CHECK_EQ(store_link_at(t, root, "named"), 0);
	CHECK_EQ(attr(t).st_nlink, 1);
	CHECK(has_str(s, "named", "tmp"));
	store_release(si);
	store_node_put(t);

	/* one never linked leaves nothing behind */
	CHECK_EQ(store_tmpfile(root, 0644, &o, &t), 0);
	store_node_put(t);
	entries = 0;
	CHECK_EQ(store_node_readdir(root, 0, count_entries, &entries), 0);
	CHECK_EQ(entries, 1);

	/* a file that lost its last name is not an O_TMPFILE one */
	u = mk(root, "u", S_IFREG | 0644);
	CHECK_EQ(store_unlink_at(root, "u", false), 0);
	CHECK_EQ(store_link_at(u, root, "u2"), -ENOENT);
	store_node_put(u);
	CHECK_EQ(store_unlink_at(root, "named", false), 0);
	store_node_put(root);
}

/* ---- export handles ---- */

struct store *conf_nodes_handles(struct store *s, struct store *(*remount)(struct store *s))
{
	struct store_node *root = root_of(s), *f, *d, *g, *x = NULL;
	struct store_handle hf, hd, hg, bad;
	int ret;

	f = mk(root, "f", S_IFREG | 0644);
	d = mk(root, "d", S_IFDIR | 0755);
	g = mk(d, "g", S_IFREG | 0600);
	ret = store_encode_handle(f, &hf);
	if (ret == -EOPNOTSUPP) {
		skip("export handles", ret);
		goto out;
	}
	CHECK_EQ(ret, 0);
	CHECK(hf.len > 0 && hf.len <= STORE_HANDLE_MAX);
	CHECK_EQ(store_encode_handle(d, &hd), 0);
	CHECK_EQ(store_encode_handle(g, &hg), 0);
	CHECK(hf.len != hg.len || hf.type != hg.type || memcmp(hf.data, hg.data, hf.len));

	ret = store_decode_handle(s, &hf, &x);
	if (ret == -EPERM) { /* dir: open_by_handle_at needs CAP_DAC_READ_SEARCH */
		skip("decoding handles", ret);
		goto out;
	}
	CHECK_EQ(ret, 0);
	CHECK(same(x, f));
	store_node_put(x);
	CHECK_EQ(store_decode_handle(s, &hd, &x), 0);
	CHECK(same(x, d) && x && S_ISDIR(x->type));
	store_node_put(x);

	bad = (struct store_handle){.len = 8, .type = 0xdead};
	ret = store_decode_handle(s, &bad, &x);
	CHECKF(ret == -ESTALE || ret == -EINVAL, "%d", ret);
	CHECK(x == NULL);

	/* across a remount */
	if (remount) {
		uint64_t fino = f->ino, gino = g->ino;
		store_node_put(g);
		store_node_put(d);
		store_node_put(f);
		store_node_put(root);
		s = remount(s);
		root = root_of(s);
		CHECK_EQ(store_decode_handle(s, &hf, &f), 0);
		CHECK(f && f->ino == fino);
		CHECK_EQ(store_decode_handle(s, &hg, &g), 0);
		CHECK(g && g->ino == gino);
		CHECK_EQ(store_decode_handle(s, &hd, &d), 0);
		CHECK(d && S_ISDIR(d->type));
	}

	/* gone: -ESTALE, also once another object may have taken its number */
	CHECK_EQ(store_unlink_at(d, "g", false), 0);
	store_node_put(g);
	g = NULL;
	CHECK_EQ(store_decode_handle(s, &hg, &x), -ESTALE);
	g = mk(d, "g2", S_IFREG | 0600);
	CHECK_EQ(store_decode_handle(s, &hg, &x), -ESTALE);
	CHECK(x == NULL);
	CHECK_EQ(store_unlink_at(d, "g2", false), 0);
out:
	store_node_put(g);
	store_node_put(d);
	store_node_put(f);
	store_node_put(root);
	return s;
}

/* ---- unlinked nodes ---- */

void conf_nodes_unlinked(struct store *s)
{
	struct store_owner o = me();
	struct store_node *root = root_of(s), *f, *d, *x = NULL;
	struct store_setattr sa = {0};
	struct stat st;
	char v[8];
	int entries = 0;

	f = mk(root, "f", S_IFREG | 0644);
	put_str(f, "kept");
	CHECK_EQ(store_unlink_at(root, "f", false), 0);
	st = attr(f);
	CHECK_EQ(st.st_nlink, 0);
	CHECK(S_ISREG(st.st_mode));
	sa.valid = STORE_ATTR_MODE | STORE_ATTR_MTIME;
	sa.mode = 0600;
	sa.mtime = (struct timespec){.tv_sec = 1000};
	CHECK_EQ(store_node_setattr(f, &sa), 0);
	st = attr(f);
	CHECK_EQ(st.st_mode & 07777, 0600);
	CHECK_EQ(st.st_mtim.tv_sec, 1000);
	if (geteuid() == 0) {
		sa = (struct store_setattr){
		    .valid = STORE_ATTR_UID | STORE_ATTR_GID, .uid = 4242, .gid = 4343};
		CHECK_EQ(store_node_setattr(f, &sa), 0);
		st = attr(f);
		CHECK(st.st_uid == 4242 && st.st_gid == 4343);
	}
	int ret = store_setxattr(f, "trusted.t", "v", 1, 0);
	if (ret == 0)
		CHECK_EQ(store_getxattr(f, "trusted.t", v, sizeof(v)), 1);
	CHECK(node_has_str(f, "kept"));

	/* a removed directory */
	d = mk(root, "d", S_IFDIR | 0755);
	CHECK_EQ(store_unlink_at(root, "d", true), 0);
	st = attr(d);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_EQ(st.st_nlink, 0);
	CHECK_EQ(store_node_readdir(d, 0, count_entries, &entries), 0);
	CHECK_EQ(entries, 0);
	CHECK_EQ(store_create_at(d, "x", S_IFREG | 0644, 0, &o, &x), -ENOENT);
	CHECK(x == NULL);
	CHECK_EQ(store_lookup(d, "x", &x), -ENOENT);
	store_node_put(d);
	store_node_put(f);
	store_node_put(root);
}

/* ---- readdir cookies ---- */

enum { NCOOK = 60 };

struct listing {
	char name[2 * NCOOK][8];
	int64_t next[2 * NCOOK];
	int n;
};

static int collect_all(void *ctx, const char *name, uint64_t ino, unsigned type, int64_t next)
{
	struct listing *l = ctx;
	CHECK(l->n < 2 * NCOOK);
	if (l->n >= 2 * NCOOK)
		return -EOVERFLOW;
	snprintf(l->name[l->n], sizeof(l->name[0]), "%s", name);
	l->next[l->n++] = next;
	return 0;
}

static int find(const struct listing *l, const char *name)
{
	int at = -1;
	for (int i = 0; i < l->n; i++)
		if (!strcmp(l->name[i], name)) {
			CHECKF(at < 0, "%s listed twice", name);
			at = i;
		}
	return at;
}

void conf_nodes_readdir_cookies(struct store *s)
{
	struct store_node *root = root_of(s), *d;
	struct listing *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	char name[8];
	const int k = NCOOK / 3;
	bool gone[NCOOK] = {0};

	d = mk(root, "d", S_IFDIR | 0755);
	for (int i = 0; i < NCOOK; i++) {
		snprintf(name, sizeof(name), "e%02d", i);
		store_node_put(mk(d, name, S_IFREG | 0644));
	}
	CHECK_EQ(store_node_readdir(d, 0, collect_all, a), 0);
	CHECK_EQ(a->n, NCOOK);
	/* unlink some listed before the cookie and some after it, create more */
	for (int i = 0; i < a->n; i++) {
		if (i < k / 2 || (i > k + 5 && i < k + 12)) {
			CHECK_EQ(store_unlink_at(d, a->name[i], false), 0);
			gone[i] = true;
		}
	}
	for (int i = 0; i < NCOOK / 2; i++) {
		snprintf(name, sizeof(name), "n%02d", i);
		store_node_put(mk(d, name, S_IFREG | 0644));
	}
	CHECK_EQ(store_node_readdir(d, a->next[k], collect_all, b), 0);
	for (int i = 0; i < a->n; i++) {
		int at = find(b, a->name[i]);
		if (i <= k && !gone[i])
			CHECKF(at < 0, "%s (before the cookie) repeated", a->name[i]);
		if (i > k && !gone[i])
			CHECKF(at >= 0, "%s (after the cookie) skipped", a->name[i]);
		if (gone[i])
			CHECKF(at < 0, "%s listed after its unlink", a->name[i]);
	}
	for (int i = 0; i < b->n; i++)
		find(b, b->name[i]); /* no duplicates */
	/* a cookie resumed twice gives the same rest */
	struct listing *c = calloc(1, sizeof(*c));
	CHECK_EQ(store_node_readdir(d, a->next[k], collect_all, c), 0);
	CHECK_EQ(c->n, b->n);

	/* clean up: everything listed from the start */
	memset(a, 0, sizeof(*a));
	CHECK_EQ(store_node_readdir(d, 0, collect_all, a), 0);
	CHECK_EQ(a->n, NCOOK - (k / 2) - 6 + NCOOK / 2);
	for (int i = 0; i < a->n; i++)
		CHECK_EQ(store_unlink_at(d, a->name[i], false), 0);
	CHECK_EQ(store_unlink_at(root, "d", true), 0);
	free(a);
	free(b);
	free(c);
	store_node_put(d);
	store_node_put(root);
}

/* A listing resumed at a cookie after its directory was emptied and
 * removed (another node's rm -rf between two getdents of a listing): empty,
 * not an error (dir on ext4: the seek to the hash cookie was -EINVAL). */
void conf_nodes_readdir_removed(struct store *s)
{
	struct store_node *root = root_of(s), *d;
	struct listing *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	char name[8];

	d = mk(root, "r", S_IFDIR | 0755);
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "e%d", i);
		store_node_put(mk(d, name, S_IFREG | 0644));
	}
	CHECK_EQ(store_node_readdir(d, 0, collect_all, a), 0);
	CHECK_EQ(a->n, 3);
	for (int i = 0; i < a->n; i++)
		CHECK_EQ(store_unlink_at(d, a->name[i], false), 0);
	CHECK_EQ(store_unlink_at(root, "r", true), 0);
	CHECK_EQ(store_node_readdir(d, a->next[0], collect_all, b), 0);
	CHECK_EQ(b->n, 0);
	CHECK_EQ(store_node_readdir(d, 0, collect_all, b), 0);
	CHECK_EQ(b->n, 0);
	free(a);
	free(b);
	store_node_put(d);
	store_node_put(root);
}

/* ---- deeper than PATH_MAX ---- */

void conf_nodes_deep(struct store *s)
{
	enum { LEVELS = PATH_MAX / (NAME_MAX + 1) + 4 };
	struct store_node *root = root_of(s), *dirs[LEVELS + 1], *leaf, *x;
	struct store_inode *si;
	char name[NAME_MAX + 1], *path = malloc(LEVELS * (NAME_MAX + 1) + 16);
	char buf[8];

	memset(name, 'd', NAME_MAX);
	name[NAME_MAX] = '\0';
	dirs[0] = store_node_get(root);
	path[0] = '\0';
	for (int i = 1; i <= LEVELS; i++) {
		dirs[i] = mk(dirs[i - 1], name, S_IFDIR | 0755);
		strcat(path, name);
		strcat(path, "/");
	}
	strcat(path, "leaf");
	CHECK(strlen(path) >= PATH_MAX);
	leaf = mk(dirs[LEVELS], "leaf", S_IFREG | 0644);
	CHECK_EQ(store_node_open(leaf, O_RDWR, &si), 0);
	CHECK_EQ(store_write(si, "deep", 4, 0), 4);
	store_release(si);
	CHECK_EQ(attr(leaf).st_size, 4);

	/* ".." node by node back to the root */
	x = store_node_get(dirs[LEVELS]);
	for (int i = LEVELS; i > 0; i--) {
		struct store_node *up = look(x, "..");
		store_node_put(x);
		x = up;
		CHECK(same(x, dirs[i - 1]));
	}
	store_node_put(x);

	/* the whole path is over PATH_MAX; a short one from a deep node is fine */
	CHECK_EQ(store_walk(root, path, &x), -ENAMETOOLONG);
	char rel[2 * (NAME_MAX + 1) + 8];
	snprintf(rel, sizeof(rel), "%s/%s/leaf", name, name);
	CHECK_EQ(store_walk(dirs[LEVELS - 2], rel, &x), 0);
	CHECK(same(x, leaf));
	store_node_put(x);
	CHECK_EQ(store_walk(dirs[LEVELS], "../../..", &x), 0);
	CHECK(same(x, dirs[LEVELS - 3]));
	store_node_put(x);

	/* rename from the bottom to the top, then take it all down */
	CHECK_EQ(store_rename_at(dirs[LEVELS], "leaf", root, "leaf", 0), 0);
	CHECK_EQ(store_node_readlink(leaf, buf, sizeof(buf)), -EINVAL);
	CHECK(node_has_str(leaf, "deep"));
	CHECK_EQ(store_unlink_at(root, "leaf", false), 0);
	for (int i = LEVELS; i > 0; i--) {
		CHECK_EQ(store_unlink_at(dirs[i - 1], name, true), 0);
		store_node_put(dirs[i]);
	}
	store_node_put(dirs[0]);
	store_node_put(leaf);
	free(path);
	store_node_put(root);
}

/* ---- owner and mode of new objects ---- */

void conf_nodes_owner_mode(struct store *s)
{
	struct store_node *root = root_of(s), *n, *sg;
	struct store_owner other = {.uid = 1234, .gid = 5678};
	mode_t old = umask(077);
	struct stat st;

	/* the mode as given: the process's umask is not the caller's */
	n = mk(root, "f", S_IFREG | 0666);
	CHECK_EQ(attr(n).st_mode & 07777, 0666);
	store_node_put(n);
	n = mk(root, "fifo", S_IFIFO | 0644);
	CHECK_EQ(attr(n).st_mode & 07777, 0644);
	store_node_put(n);
	sg = mk(root, "sg", S_IFDIR | 02775);
	CHECK_EQ(attr(sg).st_mode & 07777, 02775);
	umask(old);

	if (geteuid() != 0) {
		test_skip_part("owners of new objects (needs root)");
		goto out;
	}
	/* the owner as given, even below a setgid directory (the caller
	 * applies that rule, so the store must not apply it again) */
	struct store_setattr sa = {.valid = STORE_ATTR_GID, .gid = 999};
	CHECK_EQ(store_node_setattr(sg, &sa), 0);
	CHECK_EQ(store_create_at(sg, "sub", S_IFDIR | 0755, 0, &other, &n), 0);
	st = attr(n);
	CHECK_EQ(st.st_mode & 07777, 0755);
	CHECK(st.st_uid == 1234 && st.st_gid == 5678);
	store_node_put(n);
	CHECK_EQ(store_create_at(sg, "file", S_IFREG | 0640, 0, &other, &n), 0);
	st = attr(n);
	CHECK(st.st_uid == 1234 && st.st_gid == 5678 && (st.st_mode & 07777) == 0640);
	store_node_put(n);
	CHECK_EQ(store_symlink_at(sg, "link", "file", &other, &n), 0);
	st = attr(n);
	CHECK(st.st_uid == 1234 && st.st_gid == 5678);
	store_node_put(n);
	int ret = store_tmpfile(sg, 0600, &other, &n);
	if (ret == -EOPNOTSUPP) {
		skip("O_TMPFILE", ret);
	} else {
		CHECK_EQ(ret, 0);
		st = attr(n);
		CHECK(st.st_uid == 1234 && st.st_gid == 5678 && (st.st_mode & 07777) == 0600);
		store_node_put(n);
	}
	CHECK_EQ(store_unlink_at(sg, "link", false), 0);
	CHECK_EQ(store_unlink_at(sg, "file", false), 0);
	CHECK_EQ(store_unlink_at(sg, "sub", true), 0);
out:
	store_node_put(sg);
	store_node_put(root);
}

/* SPDX-License-Identifier: MIT */
/* store_conformance.c - see store_conformance.h. Takes no locks. */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "harness.h"
#include "fixture.h"
#include "store_conformance.h"

void write_str(struct store *s, const char *path, const char *str)
{
	struct store_inode *si;
	int ret = store_open(s, path, O_RDWR | O_CREAT | O_TRUNC, 0644, &si);
	CHECKF(ret == 0, "%s", strerror(-ret));
	CHECK_EQ(store_write(si, str, strlen(str), 0), (long long)strlen(str));
	store_release(si);
}

bool has_str(struct store *s, const char *path, const char *str)
{
	struct store_inode *si;
	char buf[64] = {0};
	if (store_open(s, path, O_RDONLY, 0, &si))
		return false;
	ssize_t n = store_read(si, buf, sizeof(buf) - 1, 0);
	store_release(si);
	return n == (ssize_t)strlen(str) && !memcmp(buf, str, (size_t)n);
}

int collect(void *ctx, const char *name, uint64_t ino, unsigned type, int64_t next)
{
	struct names *nm = ctx;
	CHECK(nm->n < 16);
	snprintf(nm->name[nm->n], sizeof(nm->name[0]), "%s", name);
	nm->next[nm->n++] = next;
	CHECK(ino != 0);
	return nm->stop_after && nm->n >= nm->stop_after;
}

bool listed(struct names *nm, const char *name)
{
	for (int i = 0; i < nm->n; i++)
		if (!strcmp(nm->name[i], name))
			return true;
	return false;
}

struct store_inode *conf_open_create(struct store *s)
{
	struct store_inode *si, *si2;
	char buf[100];
	struct stat st;

	CHECK_EQ(store_open(s, "nope", O_RDWR, 0, &si), -ENOENT);
	si = create(s, "f");
	CHECK_EQ(store_create(s, "f", 0644, &si2), -EEXIST);
	CHECK_EQ(store_write(si, "hello", 5, 0), 5);
	CHECK_EQ(store_size(si), 5);
	CHECK_EQ(store_open(s, "f", O_RDONLY, 0, &si2), 0);
	CHECK_EQ(si2->ino, si->ino);
	CHECK_EQ(store_read(si2, buf, sizeof(buf), 0), 5);
	CHECK(!memcmp(buf, "hello", 5));
	store_release(si2);
	CHECK_EQ(store_open(s, "f", O_RDWR | O_TRUNC, 0, &si2), 0);
	CHECK_EQ(store_size(si), 0);
	store_release(si2);
	CHECK_EQ(store_open(s, "g", O_RDWR | O_CREAT, 0600, &si2), 0);
	CHECK_EQ(store_fgetattr(si2, &st), 0);
	CHECK(S_ISREG(st.st_mode));
	CHECK_EQ(st.st_mode & 0777, 0600);
	store_release(si2);
	CHECK_EQ(store_mkdir(s, "d", 0755), 0);
	CHECK_EQ(store_open(s, "d", O_RDONLY, 0, &si2), -EISDIR);
	CHECK_EQ(store_open(s, "f/x", O_RDWR | O_CREAT, 0644, &si2), -ENOTDIR);
	CHECK_EQ(store_open(s, "missing/x", O_RDWR | O_CREAT, 0644, &si2), -ENOENT);
	return si;
}

void conf_unlinked_handle(struct store *s, struct store_inode *si)
{
	char buf[3];
	struct stat st;

	CHECK_EQ(store_write(si, "abc", 3, 0), 3);
	CHECK_EQ(store_unlink(s, "f"), 0);
	CHECK_EQ(store_getattr(s, "f", &st), -ENOENT);
	CHECK_EQ(store_read(si, buf, 3, 0), 3);
	CHECK(!memcmp(buf, "abc", 3));
}

void conf_mkdir_rmdir_unlink(struct store *s, bool nlink)
{
	struct stat st;
	struct statvfs sv;

	CHECK_EQ(store_getattr(s, "", &st), 0);
	CHECK(S_ISDIR(st.st_mode));
	if (nlink)
		CHECK_EQ(st.st_nlink, 2);
	CHECK_EQ(store_mkdir(s, "a", 0755), 0);
	CHECK_EQ(store_mkdir(s, "a", 0755), -EEXIST);
	CHECK_EQ(store_mkdir(s, "a/b", 0700), 0);
	CHECK_EQ(store_mkdir(s, "x/y", 0700), -ENOENT);
	CHECK_EQ(store_getattr(s, "a/b", &st), 0);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_EQ(st.st_mode & 0777, 0700);
	if (nlink) {
		CHECK_EQ(store_getattr(s, "a", &st), 0);
		CHECK_EQ(st.st_nlink, 3);
	}
	store_release(create(s, "a/b/f"));
	CHECK_EQ(store_rmdir(s, "a"), -ENOTEMPTY);
	CHECK_EQ(store_unlink(s, "a/b"), -EISDIR);
	CHECK_EQ(store_rmdir(s, "a/b/f"), -ENOTDIR);
	CHECK_EQ(store_getattr(s, "a/b/f/g", &st), -ENOTDIR);
	CHECK_EQ(store_unlink(s, "a/b/f"), 0);
	CHECK_EQ(store_unlink(s, "a/b/f"), -ENOENT);
	CHECK_EQ(store_rmdir(s, "a/b"), 0);
	CHECK_EQ(store_rmdir(s, "a"), 0);
	CHECK_EQ(store_rmdir(s, "."), -EBUSY);
	CHECK_EQ(store_getattr(s, "a", &st), -ENOENT);
	CHECK_EQ(store_statfs(s, &sv), 0);
	CHECK(sv.f_bsize > 0);
}

void conf_rename_flags(struct store *s, bool need_exchange)
{
	struct stat st;

	write_str(s, "a", "AAA");
	write_str(s, "b", "BB");
	CHECK_EQ(store_rename(s, "a", "b", RENAME_NOREPLACE), -EEXIST);
	CHECK(has_str(s, "a", "AAA") && has_str(s, "b", "BB"));
	CHECK_EQ(store_rename(s, "a", "b", RENAME_NOREPLACE | RENAME_EXCHANGE), -EINVAL);
	CHECK_EQ(store_rename(s, "a", "b", 1u << 5), -EINVAL);

	int ret = store_rename(s, "a", "b", RENAME_EXCHANGE);
	if (!need_exchange && (ret == -EINVAL || ret == -EOPNOTSUPP)) {
		skip("RENAME_EXCHANGE", ret);
	} else {
		CHECK_EQ(ret, 0);
		CHECK(has_str(s, "a", "BB") && has_str(s, "b", "AAA"));
		CHECK_EQ(store_rename(s, "a", "missing", RENAME_EXCHANGE), -ENOENT);
	}
	CHECK_EQ(store_mkdir(s, "d", 0755), 0);
	CHECK_EQ(store_rename(s, "a", "d/c", RENAME_NOREPLACE), 0);
	CHECK_EQ(store_rename(s, "b", "d/c", 0), 0); /* plain rename replaces */
	CHECK(has_str(s, "d/c", ret == 0 ? "AAA" : "BB"));
	CHECK_EQ(store_getattr(s, "a", &st), -ENOENT);
	CHECK_EQ(store_getattr(s, "b", &st), -ENOENT);
	CHECK_EQ(store_rename(s, "nope", "x", 0), -ENOENT);
	CHECK_EQ(store_rename(s, "d", "d/sub", 0), -EINVAL);
}

void conf_readdir_fill(struct store *s, struct names *nm, struct names *first)
{
	CHECK_EQ(store_readdir(s, "", 0, collect, nm), 0);
	CHECK_EQ(nm->n, 0);
	write_str(s, "one", "1");
	write_str(s, "two", "2");
	CHECK_EQ(store_mkdir(s, "sub", 0755), 0);
	write_str(s, "sub/three", "3");
	CHECK_EQ(store_readdir(s, ".", 0, collect, nm), 0);
	CHECK_EQ(nm->n, 3);
	CHECK(listed(nm, "one") && listed(nm, "two") && listed(nm, "sub"));
	*first = (struct names){.stop_after = 1};
	CHECK_EQ(store_readdir(s, "", 0, collect, first), 0);
	CHECK_EQ(first->n, 1);
}

void conf_readdir_sub(struct store *s, const char *notdir)
{
	struct names nm = {0};

	CHECK_EQ(store_readdir(s, "sub", 0, collect, &nm), 0);
	CHECK_EQ(nm.n, 1);
	CHECK(listed(&nm, "three"));
	CHECK_EQ(store_readdir(s, notdir, 0, collect, &nm), -ENOTDIR);
	CHECK_EQ(store_readdir(s, "zz", 0, collect, &nm), -ENOENT);
}

void conf_read_write(struct store_inode *si, char *a, char *b, size_t n)
{
	long long len = (long long)n;

	fill(a, n, 1);
	CHECK_EQ(store_write(si, a, n, 12345), len);
	CHECK_EQ(store_size(si), 12345 + len);
	CHECK_EQ(store_read(si, b, n, 12345), len);
	CHECK(!memcmp(a, b, n));
	CHECK_EQ(store_read(si, b, 1000, 0), 1000);
	CHECK(is_zero(b, 1000));
	/* short only at EOF */
	CHECK_EQ(store_read(si, b, n, 12345 + len - 10), 10);
	CHECK_EQ(store_read(si, b, n, 12345 + len + 10), 0);
}

enum store_map_type conf_map1(struct store_inode *si, int64_t pos, int64_t len, int64_t *elen,
			      bool identity)
{
	struct store_map m;
	int ret = store_map(si, pos, len, &m);
	CHECKF(ret == 0, "map: %s", strerror(-ret));
	CHECK_EQ(m.offset, pos);
	if (identity)
		CHECK_EQ(m.addr, pos);
	else if (m.type != STORE_HOLE)
		CHECK(m.addr > 0 && m.addr % 4096 == pos % 4096);
	CHECK(m.length > 0 && m.length <= len);
	*elen = m.length;
	return m.type;
}

void conf_dio_read_write(struct store_inode *si, char *a, char *b, size_t n, unsigned al)
{
	fill(a, n, 7);
	if (al > 1) {
		CHECK_EQ(store_dio_write(si, a, n, 1), -EINVAL);
		CHECK_EQ(store_dio_write(si, a + 1, n, 0), -EINVAL);
	}
	CHECK_EQ(store_dio_write(si, a, n, 0), (long long)n);
	CHECK_EQ(store_size(si), (long long)n);
	memset(b, 0, n);
	CHECK_EQ(store_dio_read(si, b, n, 0), (long long)n);
	CHECK(!memcmp(a, b, n));
	/* coherent with buffered I/O through the other fd */
	memset(b, 0, n);
	CHECK_EQ(store_read(si, b, n, 0), (long long)n);
	CHECK(!memcmp(a, b, n));
}

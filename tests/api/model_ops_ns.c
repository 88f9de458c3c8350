/* SPDX-License-Identifier: MIT */
/*
 * model_ops_ns.c - test_model's steps for the namespace calls (see
 * model_ops.h): stat, unlink, mkdir, rmdir, rename with flags (Linux's order
 * of checks) and readdir, plus a full read-back of every file (verify),
 * calls on fds that are not open (badfd) and engine close + reopen with new
 * options (restart).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "harness.h"
#include "model_ops.h"
#include "pagecache.h"

void op_stat(void)
{
	struct mpath p;
	gen_path(&p, chance(30));
	struct mnode *par, *n = NULL;
	int want = resolve_parent(&p, &par);
	if (!want) {
		n = par->kids[p.comp[p.n - 1]];
		if (!n)
			want = -ENOENT;
	}
	note("stat(%s)", p.str);
	struct stat st;
	int got = b_stat(p.str, &st);
	EXPECT(got, want);
	if (got)
		return;
	if (n->dir != !!S_ISDIR(st.st_mode) || (!n->dir && !S_ISREG(st.st_mode)))
		FAIL("stat(%s): mode 0%o, model says %s", p.str, st.st_mode,
		     n->dir ? "dir" : "file");
	if (!n->dir)
		EXPECT(st.st_size, n->size);
}

void op_unlink(void)
{
	struct mpath p;
	gen_path(&p, chance(10));
	struct mnode *par, *n = NULL;
	int want = resolve_parent(&p, &par);
	if (!want) {
		n = par->kids[p.comp[p.n - 1]];
		if (!n)
			want = -ENOENT;
		else if (n->dir)
			want = -EISDIR;
	}
	note("unlink(%s)", p.str);
	int got = b_unlink(p.str);
	EXPECT(got, want);
	if (!got)
		node_unlink(n);
}

void op_mkdir(void)
{
	struct mpath p;
	gen_path(&p, true);
	struct mnode *par;
	int want = resolve_parent(&p, &par);
	if (!want && par->kids[p.comp[p.n - 1]])
		want = -EEXIST;
	note("mkdir(%s)", p.str);
	int got = b_mkdir(p.str, 0755);
	EXPECT(got, want);
	if (!got)
		node_new(true, par, p.comp[p.n - 1]);
}

void op_rmdir(void)
{
	struct mpath p;
	gen_path(&p, chance(90));
	struct mnode *par, *n = NULL;
	int want = resolve_parent(&p, &par);
	if (!want) {
		n = par->kids[p.comp[p.n - 1]];
		if (!n)
			want = -ENOENT;
		else if (!n->dir)
			want = -ENOTDIR;
		else if (!dir_empty(n))
			want = -ENOTEMPTY;
	}
	note("rmdir(%s)", p.str);
	int got = b_rmdir(p.str);
	EXPECT(got, want);
	if (!got)
		node_unlink(n);
}

/* Linux do_renameat2() + vfs_rename() order of checks. */
static int rename_expect(const struct mpath *a, const struct mpath *b, unsigned flags,
			 struct mnode **pa, struct mnode **pb, struct mnode **oa, struct mnode **ob)
{
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
		return -EINVAL;
	int r = resolve_parent(a, pa);
	if (r)
		return r;
	r = resolve_parent(b, pb);
	if (r)
		return r;
	struct mnode *old = (*pa)->kids[a->comp[a->n - 1]];
	struct mnode *new = (*pb)->kids[b->comp[b->n - 1]];
	*oa = old;
	*ob = new;
	if (!old)
		return -ENOENT;
	if ((flags & RENAME_NOREPLACE) && new)
		return -EEXIST;
	if ((flags & RENAME_EXCHANGE) && !new)
		return -ENOENT;
	if (*pa != *pb) {
		/* source must not be an ancestor of the target's directory */
		if (old->dir && is_ancestor_or_self(old, *pb))
			return -EINVAL;
		/* target must not be an ancestor of the source */
		if (new &&new->dir && is_ancestor_or_self(new, *pa))
			return flags & RENAME_EXCHANGE ? -EINVAL : -ENOTEMPTY;
	}
	if (old == new)
		return 0;
	if (new && !(flags & RENAME_EXCHANGE)) {
		if (old->dir && !new->dir)
			return -ENOTDIR;
		if (!old->dir && new->dir)
			return -EISDIR;
		if (new->dir && !dir_empty(new))
			return -ENOTEMPTY;
	}
	return 0;
}

void op_rename(void)
{
	struct mpath a, b;
	bool dir = chance(25);
	gen_path(&a, dir);
	gen_path(&b, chance(90) ? dir : !dir);
	unsigned flags = 0;
	switch (rnd(10)) {
	case 0:
	case 1:
		flags = RENAME_NOREPLACE;
		break;
	case 2:
	case 3:
		flags = RENAME_EXCHANGE;
		break;
	case 4:
		if (chance(10))
			flags = chance(50) ? RENAME_NOREPLACE | RENAME_EXCHANGE : 1u << 7;
		break;
	default:
		break;
	}
	note("rename(%s, %s, 0x%x)", a.str, b.str, flags);
	struct mnode *pa = NULL, *pb = NULL, *old = NULL, *new = NULL;
	int want = rename_expect(&a, &b, flags, &pa, &pb, &old, &new);
	/* keep the tree shallow: at most 2 * MAXDEPTH levels */
	if (!want && old && node_depth(pb) + node_height(old) > 2 * MAXDEPTH)
		return;
	if (!want && new && (flags & RENAME_EXCHANGE) &&
	    node_depth(pa) + node_height(new) > 2 * MAXDEPTH)
		return;
	int got = b_rename(a.str, b.str, flags);
	/* over a non-empty directory POSIX allows either; the dir store
	 * passes on its host's (XFS: EEXIST, PC_MODEL_XFS) */
	if (want == -ENOTEMPTY && got == -EEXIST)
		want = got;
	EXPECT(got, want);
	if (got)
		return;
	if (old == new)
		return;
	int na = a.comp[a.n - 1], nb = b.comp[b.n - 1];
	if (flags & RENAME_EXCHANGE) {
		pa->kids[na] = new;
		pb->kids[nb] = old;
		new->parent = pa;
		new->name = na;
		old->parent = pb;
		old->name = nb;
		return;
	}
	if (new)
		node_unlink(new);
	pa->kids[na] = NULL;
	pb->kids[nb] = old;
	old->parent = pb;
	old->name = nb;
}

void op_readdir(void)
{
	struct mpath p;
	bool at_root = chance(30);
	struct mnode *par = NULL, *n = NULL;
	int want;
	if (at_root) {
		p.n = 0;
		strcpy(p.str, "");
		n = root;
		want = 0;
	} else {
		gen_path(&p, chance(85));
		want = resolve_parent(&p, &par);
		if (!want) {
			n = par->kids[p.comp[p.n - 1]];
			if (!n)
				want = -ENOENT;
			else if (!n->dir)
				want = -ENOTDIR;
		}
	}
	const char *path = at_root ? "." : p.str;
	note("readdir(\"%s\")", path);
	int fd = b_open(path, O_RDONLY | O_DIRECTORY, 0);
	if (want) {
		if (fd >= 0)
			b_close(fd);
		EXPECT(fd, want);
		return;
	}
	if (fd < 0)
		FAIL("open(\"%s\", O_DIRECTORY): %s", path, errname(fd));
	bool seen[NNAMES] = {0};
	struct pc_dirent ents[8];
	for (int rounds = 0;; rounds++) {
		if (rounds > 64)
			FAIL("readdir does not end");
		size_t max = 1 + rnd(8);
		ssize_t got = b_readdir(fd, ents, max);
		if (got < 0 || (size_t)got > max)
			FAIL("readdir(max %zu): %s", max, errname(got));
		if (!got)
			break;
		for (ssize_t k = 0; k < got; k++) {
			int idx = -1;
			for (int j = 0; j < NNAMES; j++)
				if (!strcmp(ents[k].name, names[j]))
					idx = j;
			if (idx < 0 || !n->kids[idx])
				FAIL("readdir: unexpected entry \"%s\"", ents[k].name);
			if (seen[idx])
				FAIL("readdir: \"%s\" listed twice", ents[k].name);
			seen[idx] = true;
			if (ents[k].type != (n->kids[idx]->dir ? DT_DIR : DT_REG))
				FAIL("readdir: \"%s\" has type %u", ents[k].name, ents[k].type);
		}
	}
	for (int j = 0; j < NNAMES; j++)
		if (n->kids[j] && !seen[j])
			FAIL("readdir: \"%s\" missing", names[j]);
	EXPECT(b_close(fd), 0);
}

/* Every reachable file, read in full through a fresh fd. */
static void verify_tree(struct mnode *d, char *path, size_t plen)
{
	for (int i = 0; i < NNAMES; i++) {
		struct mnode *n = d->kids[i];
		if (!n)
			continue;
		int l = snprintf(path + plen, PATH_MAX - plen, "%s%s", plen ? "/" : "", names[i]);
		if (n->dir) {
			verify_tree(n, path, plen + (size_t)l);
			continue;
		}
		note("verify(%s) size %zu", path, n->size);
		int fd = b_open(path, O_RDONLY, 0);
		if (fd < 0)
			FAIL("verify: open(%s): %s", path, errname(fd));
		struct stat st;
		EXPECT(b_fstat(fd, &st), 0);
		EXPECT(st.st_size, n->size);
		size_t at = 0;
		while (at <= n->size) {
			size_t chunk = 1 + rnd(256 << 10);
			ssize_t got = b_pread(fd, rbuf, chunk, (off_t)at);
			size_t want = at + chunk <= n->size ? chunk : n->size - at;
			EXPECT(got, want);
			check_bytes(n, (int64_t)at, rbuf, want);
			if (!got)
				break;
			at += (size_t)got;
		}
		EXPECT(b_close(fd), 0);
	}
	path[plen] = 0;
}

void op_verify(void)
{
	char path[PATH_MAX] = "";
	verify_tree(root, path, 0);
}

void op_badfd(void)
{
	int fd = last_closed_fd;
	for (int i = 0; i < nfds; i++)
		if (fds[i].fd == fd)
			fd = -1;
	if (fd < 0 || chance(30))
		fd = chance(50) ? -1 : 100000 + (int)rnd(1000);
	if (host && fd >= 0 && fcntl(fd, F_GETFD) >= 0)
		return; /* reused by the host for something else */
	struct stat st;
	uint8_t b[8] = {0};
	struct iovec iov = {b, sizeof(b)};
	int k = (int)rnd(12);
	note("badfd op %d on fd %d", k, fd);
	long got;
	switch (k) {
	case 0:
		got = b_read(fd, b, 1);
		break;
	case 1:
		got = b_write(fd, b, 1);
		break;
	case 2:
		got = b_pread(fd, b, 1, 0);
		break;
	case 3:
		got = b_pwritev2(fd, &iov, 1, 0, 0);
		break;
	case 4:
		got = b_lseek(fd, 0, SEEK_SET);
		break;
	case 5:
		got = b_fsync(fd, false);
		break;
	case 6:
		got = b_ftruncate(fd, 0);
		break;
	case 7:
		got = b_fallocate(fd, 0, 0, 1);
		break;
	case 8:
		got = b_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		break;
	case 9:
		got = b_fstat(fd, &st);
		break;
	case 10:
		got = b_preadv2(fd, &iov, 1, -1, 0);
		break;
	default:
		got = b_close(fd);
		break;
	}
	EXPECT(got, -EBADF);
}

void op_restart(void)
{
	note("restart");
	engine_stop();
	engine_start();
	op_verify();
}

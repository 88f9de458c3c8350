/* SPDX-License-Identifier: MIT */
/*
 * test_api_at.c - the namespace by inode on both stores (dir and vol),
 * end to end through the public API: export handles across engine close
 * and open (and -ESTALE once the object is gone and its inode number
 * reused, on vol), extended attributes kept across a reopen, special files
 * and O_TMPFILE files that survive a reopen, the setgid-directory rule for
 * new objects' group (switch namei_test_no_sgid_inherit: the rule is
 * broken then), a path of 10,000 bytes reached by openat, fstat of a
 * removed directory and rewinddir on each store.
 * The kernel comparisons of the same calls are in test_badinput_at.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs/namei.h"
#include "harness.h"
#include "model.h"
#include "pagecache.h"
#include "store/vol/vol.h"

/* One store of each kind per test. */
struct fixture {
	bool vol;
	char *dir;	/* the store directory, or the image's directory */
	char img[4200]; /* the image (vol) */
};

static struct fixture fx;

static struct pc_engine *reopen(void)
{
	struct pc_options o = {.size = sizeof(o)};

	if (fx.vol)
		o.store_image = fx.img;
	else
		o.store_dir = fx.dir;
	return api_engine_open(fx.vol ? NULL : fx.dir, &o);
}

static struct pc_engine *start(bool vol)
{
	fx.vol = vol;
	fx.dir = api_fresh_dir(vol ? "at-vol" : "at-dir");
	if (vol) {
		struct vol_mkfs_opts mo = {.size = 64 << 20};

		snprintf(fx.img, sizeof(fx.img), "%s/at.vol", fx.dir);
		CHECK_EQ(vol_create(fx.img, &mo), 0);
	}
	printf("# store: %s\n", vol ? "vol" : "dir");
	return reopen();
}

static void finish(struct pc_engine *e)
{
	if (e)
		api_engine_close(e);
	api_rm_rf(fx.dir);
	free(fx.dir);
}

/* Runs the statements with `e`, an engine on a fresh dir store, then on a
 * fresh vol store. */
#define BOTH_STORES(...)                          \
	for (int __v = 0; __v < 2; __v++) {       \
		struct pc_engine *e = start(__v); \
		__VA_ARGS__                       \
		finish(e);                        \
	}

static int put_file(struct pc_engine *e, int dirfd, const char *name, const char *data)
{
	int fd = pc_openat(e, dirfd, name, O_RDWR | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0);
	CHECK_EQ(pc_write(e, fd, data, strlen(data)), (ssize_t)strlen(data));
	return fd;
}

static void check_data(struct pc_engine *e, int fd, const char *data)
{
	char r[64] = {0};

	CHECK_EQ(pc_pread(e, fd, r, sizeof(r) - 1, 0), (ssize_t)strlen(data));
	CHECK(!strcmp(r, data));
}

TEST(handles_across_engine_close)
{
	BOTH_STORES({
		struct pc_file_handle hf, hd, hbad;
		struct stat st;
		uint64_t gen;
		int fd;

		if (!fx.vol && geteuid() != 0) {
			/* the host's open_by_handle_at needs CAP_DAC_READ_SEARCH */
			printf("# not root: dir part skipped\n");
			finish(e);
			continue;
		}
		CHECK_EQ(pc_mkdir(e, "d", 0755), 0);
		CHECK_EQ(pc_close(e, put_file(e, PC_AT_ROOT, "d/f", "by handle")), 0);
		CHECK_EQ(pc_name_to_handle_at(e, PC_AT_ROOT, "d/f", &hf, 0), 0);
		CHECK_EQ(pc_name_to_handle_at(e, PC_AT_ROOT, "d", &hd, 0), 0);
		CHECK_EQ(pc_name_to_handle_at(e, PC_AT_ROOT, "d/f", &hf, 0x1), -EINVAL);
		CHECK(hf.handle_bytes > 0 && hf.handle_bytes <= PC_HANDLE_MAX);
		fd = pc_open(e, "d/f", O_PATH, 0);
		if (fx.vol) {
			CHECK_EQ(hf.handle_type, PC_HANDLE_INO_GEN);
			CHECK_EQ(pc_fgetgen(e, fd, &gen), 0);
			uint64_t hg;
			memcpy(&hg, hf.f_handle + 8, 8);
			CHECK_EQ(hg, gen);
		} else {
			CHECK_EQ(pc_fgetgen(e, fd, &gen), -EOPNOTSUPP);
		}
		pc_close(e, fd);
		api_engine_close(e);

		e = reopen();
		fd = pc_open_by_handle_at(e, &hf, O_RDONLY);
		CHECK(fd >= 0);
		check_data(e, fd, "by handle");
		CHECK_EQ(pc_lseek(e, fd, 1, SEEK_DATA), 1);
		CHECK_EQ(pc_lseek(e, fd, 0, SEEK_HOLE), 9);
		CHECK_EQ(pc_close(e, fd), 0);
		fd = pc_open_by_handle_at(e, &hd, O_RDONLY | O_DIRECTORY);
		CHECK(fd >= 0);
		CHECK_EQ(pc_fstatat(e, fd, "f", &st, 0), 0);
		CHECK_EQ(st.st_size, 9);
		CHECK_EQ(pc_close(e, fd), 0);
		fd = pc_open_by_handle_at(e, &hf, O_PATH);
		CHECK(fd >= 0);
		CHECK_EQ(pc_fstat(e, fd, &st), 0);
		CHECK_EQ(pc_close(e, fd), 0);
		CHECK_EQ(pc_open_by_handle_at(e, &hf, O_RDWR | O_CREAT), -EINVAL);
		hbad = hf;
		hbad.handle_bytes = PC_HANDLE_MAX + 1;
		CHECK_EQ(pc_open_by_handle_at(e, &hbad, O_RDONLY), -EINVAL);
		/* gone: -ESTALE, also once its inode number is used again */
		CHECK_EQ(pc_unlink(e, "d/f"), 0);
		api_engine_close(e);
		e = reopen();
		for (int i = 0; i < 8; i++) {
			char name[16];
			snprintf(name, sizeof(name), "d/n%d", i);
			CHECK_EQ(pc_close(e, put_file(e, PC_AT_ROOT, name, "other")), 0);
		}
		CHECK_EQ(pc_open_by_handle_at(e, &hf, O_RDONLY), -ESTALE);
		CHECK_EQ(pc_open_by_handle_at(e, &hf, O_PATH), -ESTALE);
	});
}

TEST(xattrs_kept_across_reopen)
{
	BOTH_STORES({
		char v[256];
		ssize_t n;

		CHECK_EQ(pc_mkdir(e, "d", 0755), 0);
		CHECK_EQ(pc_close(e, put_file(e, PC_AT_ROOT, "f", "x")), 0);
		CHECK_EQ(pc_symlink(e, "f", "s"), 0);
		n = pc_setxattrat(e, PC_AT_ROOT, "f", "user.colour", "blue", 4, 0, 0);
		if (n == -EOPNOTSUPP && !fx.vol) {
			printf("# the host has no user xattrs: dir part skipped\n");
			finish(e);
			continue;
		}
		CHECK_EQ(n, 0);
		CHECK_EQ(pc_setxattrat(e, PC_AT_ROOT, "d", "user.dir", "1", 1, 0, 0), 0);
		/* trusted.: the dir store needs the host's CAP_SYS_ADMIN */
		bool trusted = fx.vol || geteuid() == 0;
		const char *tns = trusted ? "trusted.t" : "user.t";
		CHECK_EQ(pc_setxattrat(e, PC_AT_ROOT, "f", tns, "tt", 2, 0, 0), 0);
		if (trusted)
			CHECK_EQ(pc_setxattrat(e, PC_AT_ROOT, "s", "trusted.s", "link", 4, 0, 0),
				 0);
		CHECK_EQ(pc_setxattrat(e, PC_AT_ROOT, "s", "user.s", "x", 1, 0, 0), -EPERM);
		CHECK_EQ(pc_setxattrat(e, PC_AT_ROOT, "f", "other.x", "x", 1, 0, 0), -EOPNOTSUPP);
		CHECK_EQ(pc_setxattrat(e, PC_AT_ROOT, "f", "user.colour", "x", 1, XATTR_CREATE, 0),
			 -EEXIST);
		CHECK_EQ(pc_setxattrat(e, PC_AT_ROOT, "f", "user.none", "x", 1, XATTR_REPLACE, 0),
			 -ENODATA);
		CHECK_EQ(pc_setxattrat(e, PC_AT_ROOT, "f", "user.gone", "x", 1, 0, 0), 0);
		CHECK_EQ(pc_removexattrat(e, PC_AT_ROOT, "f", "user.gone", 0), 0);
		CHECK_EQ(pc_removexattrat(e, PC_AT_ROOT, "f", "user.gone", 0), -ENODATA);
		api_engine_close(e);

		e = reopen();
		CHECK_EQ(pc_getxattrat(e, PC_AT_ROOT, "f", "user.colour", v, sizeof(v), 0), 4);
		CHECK(!memcmp(v, "blue", 4));
		CHECK_EQ(pc_getxattrat(e, PC_AT_ROOT, "f", "user.colour", NULL, 0, 0), 4);
		CHECK_EQ(pc_getxattrat(e, PC_AT_ROOT, "f", "user.colour", v, 2, 0), -ERANGE);
		CHECK_EQ(pc_getxattrat(e, PC_AT_ROOT, "d", "user.dir", v, sizeof(v), 0), 1);
		if (fx.vol || geteuid() == 0)
			CHECK_EQ(pc_getxattrat(e, PC_AT_ROOT, "s", "trusted.s", v, sizeof(v), 0),
				 4);
		CHECK_EQ(pc_getxattrat(e, PC_AT_ROOT, "f", "user.gone", v, sizeof(v), 0), -ENODATA);
		n = pc_listxattrat(e, PC_AT_ROOT, "f", v, sizeof(v), 0);
		CHECK(n > 0);
		CHECK(memmem(v, (size_t)n, "user.colour", 12) != NULL);
		CHECK(memmem(v, (size_t)n, fx.vol || geteuid() == 0 ? "trusted.t" : "user.t", 7) !=
		      NULL);
		CHECK(memmem(v, (size_t)n, "user.gone", 10) == NULL);
		CHECK_EQ(pc_listxattrat(e, PC_AT_ROOT, "f", NULL, 0, 0), n);
		/* by fd, O_PATH too */
		int fd = pc_open(e, "f", O_PATH, 0);
		CHECK_EQ(pc_getxattrat(e, fd, "", "user.colour", v, sizeof(v), AT_EMPTY_PATH), 4);
		CHECK_EQ(pc_getxattrat(e, fd, "", "user.colour", v, sizeof(v), 0), -ENOENT);
		CHECK_EQ(pc_close(e, fd), 0);
	});
}

TEST(special_files_and_tmpfiles_kept)
{
	BOTH_STORES({
		struct stat st;
		int fd;

		CHECK_EQ(pc_mknodat(e, PC_AT_ROOT, "fifo", S_IFIFO | 0640, 0), 0);
		CHECK_EQ(pc_mknodat(e, PC_AT_ROOT, "sock", S_IFSOCK | 0600, 0), 0);
		/* devices: the dir store needs the host's CAP_MKNOD */
		bool devs = fx.vol || geteuid() == 0;
		CHECK_EQ(pc_mknodat(e, PC_AT_ROOT, "chr", S_IFCHR | 0600, makedev(1, 3)),
			 devs ? 0 : -EPERM);
		CHECK_EQ(pc_mknodat(e, PC_AT_ROOT, "blk", S_IFBLK | 0600, makedev(7, 1)),
			 devs ? 0 : -EPERM);
		fd = pc_open(e, ".", O_TMPFILE | O_RDWR, 0600);
		CHECK(fd >= 0);
		CHECK_EQ(pc_write(e, fd, "temporary", 9), 9);
		/* SEEK_DATA/SEEK_HOLE on every fd of a regular file */
		CHECK_EQ(pc_lseek(e, fd, 0, SEEK_DATA), 0);
		CHECK_EQ(pc_lseek(e, fd, 0, SEEK_HOLE), 9);
		CHECK_EQ(pc_fstat(e, fd, &st), 0);
		CHECK_EQ(st.st_nlink, 0);
		CHECK_EQ(pc_linkat(e, fd, "", PC_AT_ROOT, "kept", AT_EMPTY_PATH), 0);
		CHECK_EQ(pc_fstat(e, fd, &st), 0);
		CHECK_EQ(st.st_nlink, 1);
		CHECK_EQ(pc_close(e, fd), 0);
		/* one never named goes with its last close */
		fd = pc_open(e, ".", O_TMPFILE | O_WRONLY | O_EXCL, 0600);
		CHECK(fd >= 0);
		CHECK_EQ(pc_write(e, fd, "lost", 4), 4);
		CHECK_EQ(pc_linkat(e, fd, "", PC_AT_ROOT, "never", AT_EMPTY_PATH), -ENOENT);
		CHECK_EQ(pc_close(e, fd), 0);
		api_engine_close(e);

		e = reopen();
		CHECK_EQ(pc_stat(e, "fifo", &st), 0);
		CHECK(S_ISFIFO(st.st_mode));
		CHECK_EQ(st.st_mode & 07777, 0640);
		CHECK_EQ(pc_stat(e, "sock", &st), 0);
		CHECK(S_ISSOCK(st.st_mode));
		if (fx.vol || geteuid() == 0) {
			CHECK_EQ(pc_stat(e, "chr", &st), 0);
			CHECK(S_ISCHR(st.st_mode));
			CHECK_EQ(st.st_rdev, makedev(1, 3));
			CHECK_EQ(pc_stat(e, "blk", &st), 0);
			CHECK(S_ISBLK(st.st_mode));
			CHECK_EQ(st.st_rdev, makedev(7, 1));
		}
		CHECK_EQ(pc_open(e, "fifo", O_RDONLY, 0), -ENXIO);
		CHECK_EQ(pc_stat(e, "never", &st), -ENOENT);
		fd = pc_open(e, "kept", O_RDONLY, 0);
		CHECK(fd >= 0);
		check_data(e, fd, "temporary");
		CHECK_EQ(pc_close(e, fd), 0);
	});
}

/* New objects in a setgid directory take its group, new directories its
 * S_ISGID (inode_init_owner). */
static void check_sgid_rule(struct pc_engine *e, bool hazard)
{
	gid_t other = getegid() + 4242;
	struct stat st;

	CHECK_EQ(pc_mkdir(e, "sg", 0775), 0);
	CHECK_EQ(pc_chown(e, "sg", (uid_t)-1, other), 0);
	CHECK_EQ(pc_chmod(e, "sg", 02775), 0);
	namei_test_no_sgid_inherit = hazard;
	CHECK_EQ(pc_close(e, put_file(e, PC_AT_ROOT, "sg/f", "x")), 0);
	CHECK_EQ(pc_mkdir(e, "sg/sub", 0755), 0);
	CHECK_EQ(pc_mknodat(e, PC_AT_ROOT, "sg/p", S_IFIFO | 0600, 0), 0);
	CHECK_EQ(pc_symlink(e, "f", "sg/l"), 0);
	namei_test_no_sgid_inherit = false;
	gid_t want = hazard ? getegid() : other;
	const char *names[] = {"sg/f", "sg/sub", "sg/p", "sg/l"};
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(pc_stat(e, names[i], &st), 0);
		CHECKF(st.st_gid == want, "%s: gid %u, want %u", names[i], (unsigned)st.st_gid,
		       (unsigned)want);
	}
	CHECK_EQ(pc_stat(e, "sg/sub", &st), 0);
	CHECK_EQ(!!(st.st_mode & S_ISGID), !hazard);
	CHECK_EQ(pc_stat(e, "sg/f", &st), 0);
	CHECK_EQ(st.st_mode & S_ISGID, 0);
}

TEST(setgid_directory_rule)
{
	if (geteuid() != 0) {
		printf("# needs root (chown to another group): skipped\n");
		return;
	}
	BOTH_STORES({ check_sgid_rule(e, false); });
}

TEST(setgid_directory_rule_switch_shows_hazard)
{
	if (geteuid() != 0) {
		printf("# needs root (chown to another group): skipped\n");
		return;
	}
	BOTH_STORES({ check_sgid_rule(e, true); });
}

TEST(path_of_10000_bytes_and_removed_dirs)
{
	BOTH_STORES({
		char name[251];
		int cur = pc_open(e, ".", O_RDONLY | O_DIRECTORY, 0), next;
		struct stat st;
		size_t total = 0;

		memset(name, 'p', 250);
		name[250] = 0;
		for (int i = 0; total < 10000; i++) {
			name[0] = (char)('a' + i % 26);
			CHECK_EQ(pc_mkdirat(e, cur, name, 0755), 0);
			next = pc_openat(e, cur, name, O_RDONLY | O_DIRECTORY, 0);
			CHECK(next >= 0);
			CHECK_EQ(pc_close(e, cur), 0);
			cur = next;
			total += 251;
		}
		printf("# a path of %zu bytes\n", total);
		CHECK_EQ(pc_close(e, put_file(e, cur, "leaf", "deep down")), 0);
		int fd = pc_openat(e, cur, "leaf", O_RDONLY, 0);
		CHECK(fd >= 0);
		check_data(e, fd, "deep down");
		CHECK_EQ(pc_close(e, fd), 0);
		/* the path calls cannot name it */
		CHECK_EQ(pc_close(e, cur), 0);
		api_engine_close(e);

		/* after a reopen, walk down again */
		e = reopen();
		cur = pc_open(e, ".", O_RDONLY | O_DIRECTORY, 0);
		for (size_t t = 0, i = 0; t < total; t += 251, i++) {
			name[0] = (char)('a' + i % 26);
			next = pc_openat(e, cur, name, O_PATH | O_DIRECTORY, 0);
			CHECK(next >= 0);
			CHECK_EQ(pc_close(e, cur), 0);
			cur = next;
		}
		CHECK_EQ(pc_fstatat(e, cur, "leaf", &st, 0), 0);
		CHECK_EQ(st.st_size, 9);
		CHECK_EQ(pc_unlinkat(e, cur, "leaf", 0), 0);
		CHECK_EQ(pc_close(e, cur), 0);

		/* a removed open directory: nlink 0, nothing listed, no creates */
		CHECK_EQ(pc_mkdir(e, "rm", 0755), 0);
		fd = pc_open(e, "rm", O_RDONLY | O_DIRECTORY, 0);
		CHECK_EQ(pc_rmdir(e, "rm"), 0);
		CHECK_EQ(pc_fstat(e, fd, &st), 0);
		CHECK_EQ(st.st_nlink, 0);
		CHECK(S_ISDIR(st.st_mode));
		struct pc_dirent64 ents[4];
		ssize_t n = pc_getdents(e, fd, ents, 4);
		CHECK(n == 0 || n == -ENOENT);
		CHECK_EQ(pc_openat(e, fd, "x", O_RDWR | O_CREAT, 0644), -ENOENT);
		CHECK_EQ(pc_close(e, fd), 0);
	});
}

TEST(rewinddir_on_both_stores)
{
	BOTH_STORES({
		struct pc_dirent64 ents[64];
		char name[16];
		int fd;

		CHECK_EQ(pc_mkdir(e, "l", 0755), 0);
		for (int i = 0; i < 5; i++) {
			snprintf(name, sizeof(name), "l/a%d", i);
			CHECK_EQ(pc_close(e, put_file(e, PC_AT_ROOT, name, "")), 0);
		}
		fd = pc_open(e, "l", O_RDONLY | O_DIRECTORY, 0);
		CHECK_EQ(pc_getdents(e, fd, ents, 64), 5);
		CHECK_EQ(pc_getdents(e, fd, ents, 64), 0);
		for (int i = 0; i < 5; i++) {
			snprintf(name, sizeof(name), "b%d", i);
			CHECK_EQ(pc_mkdirat(e, fd, name, 0755), 0);
		}
		CHECK_EQ(pc_lseek(e, fd, 0, SEEK_SET), 0);
		CHECK_EQ(pc_getdents(e, fd, ents, 64), 10);
		int dirs = 0;
		for (int i = 0; i < 10; i++)
			dirs += ents[i].type == DT_DIR;
		CHECK_EQ(dirs, 5);
		/* resume after the third, with one removed and one made meanwhile */
		CHECK_EQ(pc_lseek(e, fd, ents[2].off, SEEK_SET), ents[2].off);
		CHECK_EQ(
		    pc_unlinkat(e, fd, ents[0].name, ents[0].type == DT_DIR ? AT_REMOVEDIR : 0), 0);
		ssize_t got = pc_getdents(e, fd, ents + 20, 40);
		CHECK(got >= 7);
		for (int i = 3; i < 10; i++) {
			bool seen = false;
			for (ssize_t j = 20; j < 20 + got; j++)
				seen |= !strcmp(ents[j].name, ents[i].name);
			CHECKF(seen, "%s not listed after resuming", ents[i].name);
		}
		CHECK_EQ(pc_close(e, fd), 0);
	});
}

/* SPDX-License-Identifier: MIT */
/*
 * remap_fixture.c - see remap_fixture.h. The XFS file system lives in a
 * sparse 512 MiB image under /tmp, mounted with `mount -o loop` (the
 * kernel picks the loop device) and unmounted and removed by a guard
 * process when the test process ends, however it ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "model.h"
#include "remap_fixture.h"

static char xfs_dir[256], xfs_img[300];
static const char *xfs_why;
static bool xfs_tried;

static int guard_fd = -1;
static pid_t guard_pid = -1;

/* At exit: the guard unmounts (and the parent waits for it). */
static void xfs_cleanup(void)
{
	close(guard_fd);
	waitpid(guard_pid, NULL, 0);
}

/* A guard process that unmounts the file system and removes it once this
 * process is gone, however it ends (a failed check, a timeout's kill): it
 * waits for the end of a pipe only this process writes. */
static bool xfs_guard(void)
{
	static char cmd[2048];
	int p[2];

	snprintf(cmd, sizeof(cmd),
		 "umount '%s' 2>/dev/null || umount -l '%s'; rmdir '%s'; rm -f '%s'", xfs_dir,
		 xfs_dir, xfs_dir, xfs_img);
	if (pipe2(p, O_CLOEXEC))
		return false;
	guard_pid = fork();
	if (guard_pid < 0) {
		close(p[0]);
		close(p[1]);
		return false;
	}
	if (guard_pid == 0) {
		char c;
		int null = open("/dev/null", O_RDWR);

		/* hold nothing of the parent's: not its output pipes, no file
		 * in the mount */
		for (int f = 0; f < 3; f++)
			dup2(null, f);
		for (int f = 3; f < 4096; f++)
			if (f != p[0])
				close(f);
		/* its own session: a kill of the test's process group (timeout,
		 * meson) leaves it to clean up */
		setsid();
		if (chdir("/"))
			_exit(1);
		while (read(p[0], &c, 1) != 0)
			if (errno != EINTR)
				break;
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(1);
	}
	close(p[0]);
	guard_fd = p[1];
	return true;
}

const char *remap_xfs_mount(const char **why)
{
	char cmd[1400];

	if (!xfs_tried) {
		xfs_tried = true;
		snprintf(xfs_dir, sizeof(xfs_dir), "/tmp/pc-xfs-XXXXXX");
		if (getenv("PC_REMAP_NO_XFS"))
			xfs_why = "PC_REMAP_NO_XFS is set";
		else if (geteuid() != 0)
			xfs_why = "not root (no loop mount)";
		else if (system("command -v mkfs.xfs >/dev/null 2>&1") != 0)
			xfs_why = "no mkfs.xfs (xfsprogs)";
		else if (!mkdtemp(xfs_dir))
			xfs_why = "mkdtemp failed";
		if (!xfs_why) {
			snprintf(xfs_img, sizeof(xfs_img), "%s.img", xfs_dir);
			snprintf(cmd, sizeof(cmd),
				 "truncate -s 512M '%s' && mkfs.xfs -q -f -m reflink=1 '%s' "
				 ">/dev/null 2>&1 && mount -o loop '%s' '%s' 2>/dev/null",
				 xfs_img, xfs_img, xfs_img, xfs_dir);
			if (system(cmd) != 0) {
				xfs_why = "mkfs.xfs or mount -o loop failed";
				rmdir(xfs_dir);
				unlink(xfs_img);
			} else if (!xfs_guard()) {
				xfs_why = "no guard process for the mount";
				snprintf(cmd, sizeof(cmd), "umount '%s'; rmdir '%s'; rm -f '%s'",
					 xfs_dir, xfs_dir, xfs_img);
				if (system(cmd) != 0)
					fprintf(stderr, "# %s failed\n", cmd);
			} else {
				chmod(xfs_dir, 0777);
				atexit(xfs_cleanup);
			}
		}
	}
	if (why)
		*why = xfs_why;
	return xfs_why ? NULL : xfs_dir;
}

bool remap_tmpdir_on_xfs(void)
{
	const char *m = remap_xfs_mount(NULL);

	if (m)
		setenv("TMPDIR", m, 1);
	return m != NULL;
}

struct opened {
	struct pc_engine *e;
	char *dir;
};
static struct opened open_list[8];

static struct pc_engine *open_vol(const char *tag, struct pc_options *o, char **dirp)
{
	char *dir = api_fresh_dir(tag), img[PATH_MAX];
	struct pc_vol_mkfs_options mo = {.size = sizeof(mo)};
	struct pc_engine *e;

	snprintf(img, sizeof(img), "%s/vol.img", dir);
	mo.bytes = 256 << 20;
	CHECK_EQ(pc_vol_mkfs(img, &mo), 0);
	o->store_image = strdup(img);
	o->store_dir = NULL;
	CHECK_EQ(pc_engine_open(o, &e), 0);
	*dirp = dir;
	return e;
}

bool remap_vol_clones(void)
{
	static int known = -1;

	if (known < 0) {
		struct pc_options o = PC_OPTIONS_INIT;
		char *dir;
		struct pc_engine *e = open_vol("volprobe", &o, &dir);
		int a = pc_open(e, "a", O_RDWR | O_CREAT, 0644);
		int b = pc_open(e, "b", O_RDWR | O_CREAT, 0644);
		static char page[4096];

		CHECK(a >= 0 && b >= 0);
		CHECK_EQ(pc_pwrite(e, a, page, sizeof(page), 0), (ssize_t)sizeof(page));
		known = pc_clone_range(e, b, a, 0, 0, 0) == 0;
		CHECK_EQ(pc_close(e, a), 0);
		CHECK_EQ(pc_close(e, b), 0);
		CHECK_EQ(pc_engine_close(e), 0);
		free((void *)o.store_image);
		api_rm_rf(dir);
		free(dir);
	}
	return known;
}

struct pc_engine *remap_engine_open(const char *tag, struct pc_options *o, const char **kind,
				    const char **why)
{
	struct pc_options def = PC_OPTIONS_INIT;
	struct pc_engine *e = NULL;
	char *dir = NULL;
	const char *xwhy = NULL;

	if (!o)
		o = &def;
	if (remap_vol_clones()) {
		e = open_vol(tag, o, &dir);
		free((void *)o->store_image);
		o->store_image = NULL;
		*kind = "vol";
	} else if (remap_xfs_mount(&xwhy)) {
		char path[PATH_MAX];
		static unsigned n;

		snprintf(path, sizeof(path), "%s/%s-%u", remap_xfs_mount(NULL), tag, n++);
		CHECKF(mkdir(path, 0700) == 0, "mkdir %s: %s", path, strerror(errno));
		dir = strdup(path);
		o->store_dir = dir;
		o->store_image = NULL;
		e = api_engine_open(dir, o);
		*kind = "dir on XFS";
	} else {
		static char msg[256];

		snprintf(msg, sizeof(msg),
			 "no store that shares blocks: vol's clone_range "
			 "answers EOPNOTSUPP, and XFS: %s",
			 xwhy);
		*why = msg;
		return NULL;
	}
	for (unsigned i = 0; i < sizeof(open_list) / sizeof(open_list[0]); i++)
		if (!open_list[i].e) {
			open_list[i] = (struct opened){e, dir};
			return e;
		}
	CHECK(!"too many remap engines open");
	return NULL;
}

void remap_engine_close(struct pc_engine *e)
{
	for (unsigned i = 0; i < sizeof(open_list) / sizeof(open_list[0]); i++)
		if (open_list[i].e == e) {
			CHECK_EQ(pc_engine_close(e), 0);
			api_rm_rf(open_list[i].dir);
			free(open_list[i].dir);
			open_list[i].e = NULL;
			return;
		}
	CHECK(!"not a remap engine");
}

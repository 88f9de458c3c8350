/* SPDX-License-Identifier: MIT */
/*
 * fuse_test_unpin.c - test builds only (pagecache-test, PC_FUSE_TEST_UNPIN=1):
 * a setxattr of "user.pagecache_test.unpin" whose value is a host path makes
 * this server let go of that host file, as a machine of a shared file system
 * lets go of a file another machine unlinks (NFSv3 frees it there; this
 * node's handles go stale). Each host fd of the process that names the file
 * (the nodes' O_PATH fds, the engine's store handles) is pointed at a
 * detached copy of it (dup2; the copy is unlinked), so that nothing on this
 * machine holds the file and the host may give its number to a new one -
 * what tests/cluster/test_generation.c does inside its node process, here
 * inside a FUSE server (tests/cluster/test_cluster_mount_reuse.sh).
 *
 * Locks: none; the test makes the call while no other request is in flight.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuse_server.h"

#ifdef PC_TEST_SWITCHES
bool fuse_test_unpin_hook;

/* A detached copy of @path's bytes: an fd of an unlinked file. */
static int detached_copy(const char *path)
{
	char copy[PATH_MAX + 8], buf[65536];
	int src, cfd;
	ssize_t r;

	snprintf(copy, sizeof(copy), "%s.unpin-copy", path);
	src = open(path, O_RDONLY | O_CLOEXEC);
	if (src < 0)
		return -errno;
	cfd = open(copy, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (cfd < 0) {
		int err = -errno;
		close(src);
		return err;
	}
	unlink(copy);
	while ((r = read(src, buf, sizeof(buf))) > 0)
		if (write(cfd, buf, (size_t)r) != r) {
			r = -1;
			break;
		}
	int err = r < 0 ? -errno : 0;
	close(src);
	if (err) {
		close(cfd);
		return err;
	}
	return cfd;
}

int fuse_test_unpin(const char *value, size_t size)
{
	char path[PATH_MAX], fdpath[64];
	struct stat st, fst;
	struct dirent *de;
	int cfd, moved = 0, err = 0;
	DIR *d;

	if (!size || size >= sizeof(path))
		return -EINVAL;
	memcpy(path, value, size);
	path[size] = 0;
	if (stat(path, &st))
		return -errno;
	cfd = detached_copy(path);
	if (cfd < 0)
		return cfd;
	d = opendir("/proc/self/fd");
	if (!d) {
		close(cfd);
		return -errno;
	}
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] == '.' || fd == cfd || fd == dirfd(d))
			continue;
		snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
		if (fstat(fd, &fst) || fst.st_ino != st.st_ino || fst.st_dev != st.st_dev)
			continue;
		int flags = fcntl(fd, F_GETFD);
		if (dup3(cfd, fd, flags & FD_CLOEXEC ? O_CLOEXEC : 0) != fd) {
			err = -errno;
			break;
		}
		moved++;
	}
	closedir(d);
	close(cfd);
	fprintf(stderr, "pagecache-test: unpin %s: %d host fds moved to a detached copy\n", path,
		moved);
	return err ? err : moved ? 0 : -ENOENT;
}
#endif

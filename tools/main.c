/* SPDX-License-Identifier: MIT */
/*
 * main.c - the `pagecache` executable: dispatch to the subcommands, and
 * the small ones: mkfs, fsck and stat (on a running mount or an image at
 * rest). mount is in mount.c, stress and bench in stress.c.
 *
 * Exit codes: 0 success, 1 failure, 2 bad usage; fsck uses fsck(8)'s
 * (0 clean, 1 repaired, 4 errors left, 8 operational error, 16 usage).
 *
 * Locks: none.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "pagecache.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: pagecache COMMAND [ARGS]\n"
		   "  mkfs IMAGE [--size SIZE] [-f]   make a vol image (default 1G, sparse)\n"
		   "  fsck IMAGE [-n | -y]            check (and with -y repair) an image\n"
		   "  mount IMAGE MOUNTPOINT          serve an image through FUSE (foreground)\n"
		   "  mount --dir DIR MOUNTPOINT      serve a host directory\n"
		   "  stat MOUNTPOINT | IMAGE         statistics of a mount / summary of an image\n"
		   "  stress [IMAGE] --duration D     hazard, model and fsx runs; replay seeds\n"
		   "  bench [NAME...]                 run the benchmarks\n"
		   "Each command takes --help. See pagecache(1).\n");
}

/* A decimal number with nothing before it (no sign, no blank: strtoull
 * would take "-5" as a huge number) into *v; *end after its digits. */
static int parse_digits(const char *s, unsigned long long *v, char **end)
{
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoull(s, end, 10);
	return errno ? -1 : 0;
}

int cli_parse_num(const char *s, unsigned long long min, unsigned long long max,
		  unsigned long long *out)
{
	unsigned long long v;
	char *end;

	if (parse_digits(s, &v, &end) || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

long cli_parse_duration(const char *s)
{
	unsigned long long v, mul = 1;
	char *end;

	if (parse_digits(s, &v, &end))
		return -1;
	switch (*end) {
	case '\0':
	case 's':
		break;
	case 'm':
		mul = 60;
		break;
	case 'h':
		mul = 3600;
		break;
	default:
		return -1;
	}
	if (*end && end[1])
		return -1;
	if (v > (unsigned long long)LONG_MAX / mul)
		return -1;
	return (long)(v * mul);
}

long long cli_parse_size_unit(const char *s, unsigned long long unit)
{
	unsigned long long v;
	char *end;
	unsigned shift = 0;

	if (parse_digits(s, &v, &end))
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	default:
		return -1;
	}
	if (*end && end[1])
		return -1;
	unsigned long long mul = *end ? 1ull << shift : unit;
	if (mul && v > (unsigned long long)LLONG_MAX / mul)
		return -1;
	return (long long)(v * mul);
}

long long cli_parse_size(const char *s)
{
	return cli_parse_size_unit(s, 1);
}

const char *cli_exe_dir(void)
{
	static char dir[PATH_MAX];
	ssize_t n;

	if (dir[0])
		return dir;
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n <= 0)
		return "";
	dir[n] = '\0';
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	return dir;
}

int cmd_mkfs(int argc, char **argv)
{
	struct pc_vol_mkfs_options o = {.size = sizeof(o)};
	struct stat st;
	int i, ret;
	bool size_given = false, force = false;
	const char *image = NULL, *what;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf(
			    "usage: pagecache mkfs IMAGE [--size SIZE] [-f | --force]\n"
			    "Makes an empty vol volume in IMAGE (a sparse file of SIZE bytes,\n"
			    "default 1G, is created if missing; suffixes K M G T). An existing\n"
			    "file keeps its size and a block device is used whole unless --size\n"
			    "is given. IMAGE already holding a vol volume (or its backup\n"
			    "superblock) or another file system is refused unless -f/--force.\n"
			    "Exit: 0 done, 1 failed (or refused), 2 bad usage.\n");
			return 0;
		} else if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--force")) {
			force = true;
		} else if (!strcmp(argv[i], "--size") && i + 1 < argc) {
			o.bytes = cli_parse_size(argv[++i]);
			size_given = true;
			if (o.bytes <= 0) {
				fprintf(stderr, "pagecache mkfs: bad size '%s'\n", argv[i]);
				return 2;
			}
		} else if (argv[i][0] == '-' || image) {
			fprintf(stderr, "pagecache mkfs: bad argument '%s'\n", argv[i]);
			return 2;
		} else {
			image = argv[i];
		}
	}
	if (!image) {
		fprintf(stderr, "usage: pagecache mkfs IMAGE [--size SIZE] [-f | --force]\n");
		return 2;
	}
	ret = pc_vol_probe(image, &what);
	if (ret < 0) {
		fprintf(stderr, "pagecache mkfs: %s: %s\n", image, strerror(-ret));
		return 1;
	}
	if (ret > 0 && !force) {
		fprintf(stderr,
			"pagecache mkfs: %s already holds %s: not reformatted (use --force to "
			"overwrite it and lose its contents)\n",
			image, what);
		return 1;
	}
	bool exists = stat(image, &st) == 0;
	if (!size_given && !exists)
		o.bytes = 1ll << 30;
	else if (!size_given && S_ISREG(st.st_mode) && st.st_size == 0)
		o.bytes = 1ll << 30; /* an empty file: the default size */
	/* otherwise 0: an existing file keeps its size, a device is used whole */
	if (o.bytes > 0 && stat(image, &st) && errno == ENOENT) {
		/* a sparse file of the size, mode 0644 less the umask */
		int fd = open(image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 || ftruncate(fd, o.bytes)) {
			fprintf(stderr, "pagecache mkfs: %s: %s\n", image, strerror(errno));
			if (fd >= 0) {
				close(fd);
				unlink(image);
			}
			return 1;
		}
		close(fd);
	}
	ret = pc_vol_mkfs(image, &o);
	if (ret) {
		fprintf(stderr, "pagecache mkfs: %s: %s%s\n", image, strerror(-ret),
			ret == -EINVAL
			    ? " (a volume needs at least 256 KiB, a block device at "
			      "least --size bytes, and IMAGE must be a file or a block device)"
			    : "");
		return 1;
	}
	printf("pagecache mkfs: %s: empty vol volume made\n", image);
	return 0;
}

int cmd_fsck(int argc, char **argv)
{
	bool repair = false;
	const char *image = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("usage: pagecache fsck IMAGE [-n | -y]\n"
			       "Checks every invariant of the vol volume in IMAGE; -y repairs what "
			       "is\n"
			       "safe to repair, -n (default) only reports.\n"
			       "Exit (as fsck(8)): 0 clean, 1 errors repaired, 4 errors left,\n"
			       "8 operational error, 16 usage error.\n");
			return 0;
		} else if (!strcmp(argv[i], "-y")) {
			repair = true;
		} else if (!strcmp(argv[i], "-n")) {
			repair = false;
		} else if (argv[i][0] == '-' || image) {
			fprintf(stderr, "pagecache fsck: bad argument '%s'\n", argv[i]);
			return 16;
		} else {
			image = argv[i];
		}
	}
	if (!image) {
		fprintf(stderr, "usage: pagecache fsck IMAGE [-n | -y]\n");
		return 16;
	}
	int r = pc_vol_fsck(image, repair, stdout);
	printf("pagecache fsck: %s: %s\n", image,
	       r == PC_FSCK_CLEAN	 ? "clean"
	       : r == PC_FSCK_REPAIRED	 ? "errors repaired"
	       : r == PC_FSCK_UNREPAIRED ? "errors left"
					 : "check failed");
	return r;
}

static int stat_mount(const char *mnt)
{
	char path[PATH_MAX], buf[8192];
	size_t n;

	snprintf(path, sizeof(path), "%s/.pagecache-stats", mnt);
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "pagecache stat: %s is not a pagecache mount (%s)\n", mnt,
			strerror(errno));
		return 1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	printf("mount %s\n%s", mnt, buf);
	return 0;
}

static int stat_image(const char *image)
{
	struct pc_vol_info sb = {.size = sizeof(sb)};
	const char *why = NULL;
	int ret = pc_vol_stat(image, &sb, &why);

	if (ret) {
		fprintf(stderr, "pagecache stat: %s: %s%s%s\n", image, strerror(-ret),
			why ? ": " : "", why ? why : "");
		return 1;
	}
	printf("image %s\nversion %u\nblock_size %u\nblocks %" PRIu64 "\nsize_bytes %" PRIu64
	       "\nfree_blocks %" PRIu64 "\nused_blocks %" PRIu64 "\njournal_blocks %" PRIu64
	       "\ninode_slots %" PRIu64 "\ngeneration %" PRIu64 "\nfeatures_incompat 0x%x\n"
	       "uuid ",
	       image, sb.version, sb.block_size, sb.blocks, sb.blocks * sb.block_size,
	       sb.free_blocks, sb.blocks - sb.free_blocks, sb.journal_blocks, sb.inode_slots,
	       sb.generation, sb.features_incompat);
	for (int i = 0; i < 16; i++)
		printf("%02x%s", sb.uuid[i], i == 3 || i == 5 || i == 7 || i == 9 ? "-" : "");
	printf("\n");
	/* what the image file holds on its host (freed blocks are punched) */
	struct stat st;
	if (!stat(image, &st) && S_ISREG(st.st_mode))
		printf("allocated_bytes %" PRIu64 "\nused_bytes %" PRIu64 "\n",
		       (uint64_t)st.st_blocks * 512, (sb.blocks - sb.free_blocks) * sb.block_size);
	/* blocks several files map (clones), counted once in used_bytes */
	printf("shared_blocks %" PRIu64 "\nshared_bytes %" PRIu64 "\n", sb.shared_blocks,
	       sb.shared_blocks * sb.block_size);
	return 0;
}

int cmd_stat(int argc, char **argv)
{
	struct stat st;

	if (argc != 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		FILE *f = argc == 2 ? stdout : stderr;
		fprintf(f, "usage: pagecache stat MOUNTPOINT | IMAGE\n"
			   "On a running mount: the engine's statistics (cache, hits, dirty,\n"
			   "writeback, lock waits, retries, FUSE requests). On an image at rest:\n"
			   "its superblock summary.\nExit: 0 done, 1 failed, 2 bad usage.\n");
		return argc == 2 ? 0 : 2;
	}
	if (stat(argv[1], &st)) {
		fprintf(stderr, "pagecache stat: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	return S_ISDIR(st.st_mode) ? stat_mount(argv[1]) : stat_image(argv[1]);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
	    {"mkfs", cmd_mkfs}, {"fsck", cmd_fsck},	{"mount", cmd_mount},
	    {"stat", cmd_stat}, {"stress", cmd_stress}, {"bench", cmd_bench},
	};

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("pagecache %s\n", pc_version());
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "pagecache: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}

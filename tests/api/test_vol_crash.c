/* SPDX-License-Identifier: MIT */
/*
 * Crash test of the vol store. Per crash point: a fresh image; a child
 * process runs a seeded random workload on it (writes with unique stamps,
 * truncates, punches, fallocate, zero range, create/unlink/rename with
 * handles kept open as orphans, mkdir/rmdir, fsync) and is stopped:
 *   - kill:  SIGKILL from inside the store just before its Nth image write;
 *   - async: SIGKILL from the parent after the child reported k ops (lands
 *            wherever the child is);
 *   - stop:  the image "device" fails its Nth write and every later one and
 *            every flush (power loss at a write boundary); the child goes on
 *            (every call must fail cleanly), then closes and exits;
 *   - wcache: the device models a volatile write cache (io.h): at its Nth
 *            write or Nth flush it loses power, keeping only a seeded random
 *            part of the writes since the last flush (some whole, some lost,
 *            some torn at 512 B / 4 KiB) - reordered, partial writes; then
 *            the child either goes on as after a stop or dies by SIGKILL.
 * Then the parent: fsck finds the image clean (after journal replay), the
 * store mounts, every byte of every file that was fsync'd and not touched
 * since reads back as it was at that fsync (sizes, existence too), and no
 * file shows a byte no write ever put at that offset of a file (lineage:
 * one create) that was ever under that name (zeroes excepted) - no leaked blocks of other files, no
 * metadata, no garbage. Then the volume takes new writes and fscks clean.
 *
 * The child records its model in shared memory: the state at the last
 * completed fsync (double-buffered, flipped after the copy) and, before
 * issuing each change, which bytes/names it may affect and which stamps a
 * write may leave where.
 *
 * A quarter of the writes are whole blocks from a page-aligned buffer, so
 * that they take the image's O_DIRECT data path (data_io.c) where the host
 * accepts O_DIRECT.
 *
 * 200 points (PC_QUICK: 20; PC_CRASH_POINTS overrides; make stress runs
 * more). PC_SEED replays the sequence (async kills land where they land).
 * The checks are shown able to fail by checker_detects_damage, which
 * changes one durable byte in the image behind the store's back, and the
 * wcache kind by wcache_detects_unordered_commit: with the commit's
 * ordered-data flush skipped (vol_test_skip_data_flush) it finds damaged
 * volumes within the same number of crash points.
 */
#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "store/store.h"
#include "store/vol/vol.h"
#include "store/vol/vstore.h"

#define NSLOT	 6
#define FMAX	 (96 * 1024)
#define NBLK	 (FMAX / 4096)
#define MAXSTAMP 2048
#define NDIR	 3
#define MAXLIN	 256 /* file lineages (one per create) */

struct snap {
	uint8_t exists[NSLOT];
	uint32_t size[NSLOT];
	uint8_t data[NSLOT][FMAX];
	uint8_t dirty[NSLOT][FMAX]; /* touched since this snapshot */
	uint8_t ns_dirty[NSLOT];    /* name or size may have changed */
	uint8_t dir_exists[NDIR], dir_dirty[NDIR];
};

struct shared {
	int active; /* which snap holds the last completed fsync */
	struct snap s[2];
	uint8_t stamps[MAXLIN][NBLK][MAXSTAMP / 8]; /* written to (lineage, block) */
	uint8_t slot_lins[NSLOT][MAXLIN / 8];	    /* lineages ever named by a slot */
	uint32_t nstamp, nlin;
	int ops_done;
	unsigned long writes;	/* image writes of a whole run (calibration) */
	unsigned long flushes;	/* and flushes */
	unsigned long direct;	/* of them file data through the O_DIRECT fd */
	struct vol_wc_stats wc; /* what a wcache crash did */
};

static struct shared *sh;
static char img[256];

static uint8_t pattern(uint32_t stamp, uint32_t p)
{
	uint32_t x = stamp * 2654435761u ^ (p * 40503u + (p >> 7));
	x ^= x >> 13;
	return (uint8_t)(x * 0x9e3779b1u >> 24);
}

static uint64_t rng;
static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/* ---- the child ---- */

struct cfile {
	bool exists;
	uint32_t size;
	uint8_t data[FMAX];
	struct store_inode *si;
	uint32_t lin;
};

static struct cfile cf[NSLOT];
static bool cdir[NDIR];

static struct snap *cur(void)
{
	return &sh->s[sh->active];
}

static void touch(int f, uint32_t off, uint32_t len)
{
	struct snap *s = cur();
	if (off < FMAX)
		memset(&s->dirty[f][off], 1, (off + len > FMAX ? FMAX : off + len) - off);
}

static void do_fsync_snapshot(void)
{
	int next = !sh->active;
	struct snap *s = &sh->s[next];
	for (int f = 0; f < NSLOT; f++) {
		s->exists[f] = cf[f].exists;
		s->size[f] = cf[f].size;
		memcpy(s->data[f], cf[f].data, FMAX);
		memset(s->dirty[f], 0, FMAX);
		s->ns_dirty[f] = 0;
	}
	for (int d = 0; d < NDIR; d++) {
		s->dir_exists[d] = cdir[d];
		s->dir_dirty[d] = 0;
	}
	__atomic_store_n(&sh->active, next, __ATOMIC_SEQ_CST);
}

static void path_of(int f, char *p)
{
	sprintf(p, "f%d", f);
}

static int ensure_open(struct store *s, int f)
{
	char p[16];
	if (cf[f].si)
		return 0;
	path_of(f, p);
	if (!cf[f].exists) {
		cur()->ns_dirty[f] = 1;
		if (sh->nlin + 1 >= MAXLIN)
			return -ENOSPC;
		cf[f].lin = ++sh->nlin;
		sh->slot_lins[f][cf[f].lin / 8] |= (uint8_t)(1u << (cf[f].lin % 8));
	}
	int r = store_open(s, p, O_RDWR | O_CREAT, 0644, &cf[f].si);
	if (r) {
		cf[f].si = NULL;
		return r;
	}
	if (!cf[f].exists) {
		cf[f].exists = true;
		cf[f].size = 0;
		memset(cf[f].data, 0, FMAX);
	}
	return 0;
}

/* One op; errors (after a stopped device) leave the model as "maybe". */
static void child_op(struct store *s)
{
	int f = (int)rnd(NSLOT), r;
	uint32_t off = rnd(FMAX), len = 1 + rnd(FMAX / 4);
	if (off + len > FMAX)
		len = FMAX - off;
	char p[16], q[16];
	uint8_t buf[FMAX] __attribute__((aligned(4096))); /* aligned writes go direct */

	switch (rnd(20)) {
	case 0 ... 6: { /* write */
		if (ensure_open(s, f))
			return;
		uint32_t stamp = ++sh->nstamp;
		if (stamp >= MAXSTAMP)
			return;
		if (stamp % 4 == 0) { /* whole blocks from an aligned buffer: O_DIRECT */
			off &= ~4095u;
			len = (len + 4095) & ~4095u;
			if (off + len > FMAX)
				len = FMAX - off;
		}
		for (uint32_t b = off / 4096; b <= (off + len - 1) / 4096; b++)
			sh->stamps[cf[f].lin][b][stamp / 8] |= (uint8_t)(1u << (stamp % 8));
		for (uint32_t i = 0; i < len; i++)
			buf[i] = pattern(stamp, off + i);
		touch(f, off, len);
		if (off + len > cf[f].size)
			cur()->ns_dirty[f] = 1;
		r = (int)store_write(cf[f].si, buf, len, off);
		if (r == (int)len) {
			memcpy(cf[f].data + off, buf, len);
			if (off + len > cf[f].size)
				cf[f].size = off + len;
		}
		break;
	}
	case 7 ... 8: { /* truncate */
		if (ensure_open(s, f))
			return;
		uint32_t ns = rnd(FMAX);
		cur()->ns_dirty[f] = 1;
		touch(f, ns, FMAX);
		if (store_setsize(cf[f].si, ns) == 0) {
			if (ns < cf[f].size)
				memset(cf[f].data + ns, 0, FMAX - ns);
			cf[f].size = ns;
		}
		break;
	}
	case 9:	   /* punch */
	case 10: { /* zero range / allocate */
		if (ensure_open(s, f))
			return;
		int mode = rnd(3) == 0 ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
			   : rnd(2)    ? FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE
				       : FALLOC_FL_KEEP_SIZE;
		touch(f, off, len);
		if (store_fallocate(cf[f].si, mode, off, len) == 0 && mode != FALLOC_FL_KEEP_SIZE)
			memset(cf[f].data + off, 0, len);
		break;
	}
	case 11 ... 13: /* fsync */
		if (!cf[f].si)
			return;
		if (store_sync(cf[f].si, rnd(2)) == 0)
			do_fsync_snapshot();
		break;
	case 14: /* unlink, maybe keeping the handle as an orphan */
		if (!cf[f].exists)
			return;
		path_of(f, p);
		cur()->ns_dirty[f] = 1;
		touch(f, 0, FMAX);
		if (store_unlink(s, p) == 0) {
			cf[f].exists = false;
			cf[f].size = 0;
			memset(cf[f].data, 0, FMAX);
			uint32_t stamp = ++sh->nstamp;
			if (cf[f].si && rnd(2) && stamp < MAXSTAMP) { /* written as an orphan */
				sh->stamps[cf[f].lin][0][stamp / 8] |= (uint8_t)(1u << (stamp % 8));
				for (uint32_t i = 0; i < 64; i++)
					buf[i] = pattern(stamp, i);
				store_write(cf[f].si, buf, 64, 0);
				store_release(cf[f].si);
			} else if (cf[f].si) {
				store_release(cf[f].si);
			}
			cf[f].si = NULL;
		}
		break;
	case 15 ... 16: { /* rename f -> g */
		int g = (int)rnd(NSLOT);
		if (!cf[f].exists || g == f)
			return;
		path_of(f, p);
		path_of(g, q);
		cur()->ns_dirty[f] = cur()->ns_dirty[g] = 1;
		touch(f, 0, FMAX);
		touch(g, 0, FMAX);
		/* the name g may now show f's file */
		sh->slot_lins[g][cf[f].lin / 8] |= (uint8_t)(1u << (cf[f].lin % 8));
		if (store_rename(s, p, q, 0) == 0) {
			if (cf[g].si)
				store_release(cf[g].si);
			cf[g] = cf[f];
			cf[f].exists = false;
			cf[f].si = NULL;
			cf[f].size = 0;
			memset(cf[f].data, 0, FMAX);
		}
		break;
	}
	default: { /* directories */
		int d = (int)rnd(NDIR);
		sprintf(p, "d%d", d);
		cur()->dir_dirty[d] = 1;
		if (cdir[d]) {
			if (store_rmdir(s, p) == 0)
				cdir[d] = false;
		} else if (store_mkdir(s, p, 0755) == 0) {
			cdir[d] = true;
		}
		break;
	}
	}
}

enum mode { M_KILL, M_ASYNC, M_STOP, M_WCACHE };

/* M_WCACHE: nth > 0 crashes at the nth write, nth < 0 at the -nth flush;
 * wc_kill: the child then dies by SIGKILL (else it goes on, as a stop). */
static bool wc_kill;

/* Where the images go: /dev/shm when writable (the crashes are simulated -
 * a killed process or a stopped device - so host flushes only cost time),
 * else $TMPDIR or /tmp. */
static const char *image_dir(void)
{
	const char *t = getenv("TMPDIR");
	if (access("/dev/shm", W_OK) == 0)
		return "/dev/shm";
	return t && *t ? t : "/tmp";
}

static void child(uint64_t seed, enum mode m, long nth, int report_fd)
{
	struct store *s;
	rng = seed | 1;
	if (store_open_vol(img, &s))
		_exit(3);
	if (m == M_KILL)
		vol_store_kill_at(s, nth);
	else if (m == M_STOP)
		vol_store_stop_at(s, nth);
	else if (m == M_WCACHE &&
		 vol_store_wcache(s, seed, nth > 0 ? nth : 0, nth < 0 ? -nth : 0, wc_kill, &sh->wc))
		_exit(5);
	for (int i = 0; i < 150; i++) {
		child_op(s);
		sh->ops_done = i + 1;
		if (report_fd >= 0 && write(report_fd, "x", 1) != 1)
			_exit(4);
	}
	for (int f = 0; f < NSLOT; f++)
		if (cf[f].si)
			store_release(cf[f].si);
	sh->writes = vol_store_writes(s);
	sh->flushes = vol_store_flushes(s);
	sh->direct = __atomic_load_n(&VS(s)->data_direct_writes, __ATOMIC_RELAXED);
	store_close(s);
	_exit(0);
}

/* ---- the parent's checks ---- */

/* Byte checks fail the test, or with @bad count into it (the self-tests). */
#define BYTE_CHECK(cond, ...)                      \
	do {                                       \
		if (bad && !(cond))                \
			(*bad)++;                  \
		else                               \
			CHECKF(cond, __VA_ARGS__); \
	} while (0)

/* Volume checks fail the test, or with @bad count into it and end the check. */
#define VOL_CHECK(cond, ...)               \
	do {                               \
		if (bad && !(cond)) {      \
			(*bad)++;          \
			goto out;          \
		}                          \
		CHECKF(cond, __VA_ARGS__); \
	} while (0)

static int check_volume(uint64_t seed, const char *what, long *bad)
{
	struct store *s = NULL;
	FILE *report = bad ? fopen("/dev/null", "w") : stderr;
	int r = vol_fsck(img, false, report ? report : stderr);
	if (report && report != stderr)
		fclose(report);
	static uint8_t buf[FMAX + 4096];
	int checked = 0;
	long bad0 = bad ? *bad : 0;
	VOL_CHECK(r == VOL_FSCK_CLEAN, "%s seed %#llx: fsck %d", what, (unsigned long long)seed, r);
	r = store_open_vol(img, &s);
	VOL_CHECK(r == 0, "%s seed %#llx: mount %d", what, (unsigned long long)seed, r);
	struct snap *sn = &sh->s[sh->active];
	for (int f = 0; f < NSLOT; f++) {
		char p[16];
		struct stat st;
		path_of(f, p);
		r = store_getattr(s, p, &st);
		bool exists = r == 0;
		if (!sn->ns_dirty[f]) {
			VOL_CHECK(exists == sn->exists[f],
				  "%s seed %#llx: f%d exists %d, fsync'd %d", what,
				  (unsigned long long)seed, f, exists, sn->exists[f]);
			if (exists)
				VOL_CHECK((uint32_t)st.st_size == sn->size[f],
					  "%s seed %#llx: f%d size %lld, fsync'd %u", what,
					  (unsigned long long)seed, f, (long long)st.st_size,
					  sn->size[f]);
		}
		if (!exists)
			continue;
		VOL_CHECK(st.st_size <= FMAX, "%s seed %#llx: f%d size %lld", what,
			  (unsigned long long)seed, f, (long long)st.st_size);
		struct store_inode *si;
		CHECK_EQ(store_open(s, p, O_RDONLY, 0, &si), 0);
		ssize_t got = store_read(si, buf, FMAX, 0);
		store_release(si);
		VOL_CHECK(got == st.st_size, "%s seed %#llx: f%d read %zd of %lld", what,
			  (unsigned long long)seed, f, got, (long long)st.st_size);
		static uint16_t cand[MAXSTAMP];
		int ncand = 0;
		for (uint32_t i = 0; i < (uint32_t)st.st_size; i++) {
			if (i % 4096 == 0) { /* the stamps this block may show */
				uint8_t any[MAXSTAMP / 8] = {0};
				for (uint32_t l = 1; l < MAXLIN; l++)
					if (sh->slot_lins[f][l / 8] >> (l % 8) & 1)
						for (int k = 0; k < MAXSTAMP / 8; k++)
							any[k] |= sh->stamps[l][i / 4096][k];
				ncand = 0;
				for (uint32_t k = 1; k < MAXSTAMP; k++)
					if (any[k / 8] >> (k % 8) & 1)
						cand[ncand++] = (uint16_t)k;
			}
			if (!sn->ns_dirty[f] && sn->exists[f] && i < sn->size[f] &&
			    !sn->dirty[f][i]) {
				BYTE_CHECK(buf[i] == sn->data[f][i],
					   "%s seed %#llx: f%d byte %u is %u, fsync'd %u", what,
					   (unsigned long long)seed, f, i, buf[i], sn->data[f][i]);
				checked++;
				continue;
			}
			if (buf[i] == 0)
				continue;
			bool ok = false;
			for (int c = 0; c < ncand && !ok; c++)
				ok = pattern(cand[c], i) == buf[i];
			BYTE_CHECK(ok, "%s seed %#llx: f%d byte %u = %u was never written there",
				   what, (unsigned long long)seed, f, i, buf[i]);
		}
	}
	for (int d = 0; d < NDIR; d++) {
		char p[16];
		struct stat st;
		sprintf(p, "d%d", d);
		if (!sn->dir_dirty[d])
			VOL_CHECK((store_getattr(s, p, &st) == 0) == sn->dir_exists[d],
				  "%s seed %#llx: d%d exists, fsync'd %d", what,
				  (unsigned long long)seed, d, sn->dir_exists[d]);
	}
	if (bad && *bad > bad0)
		goto out; /* the self-tests: damage found */
	/* still usable */
	struct store_inode *si;
	CHECK_EQ(store_open(s, "after", O_RDWR | O_CREAT, 0644, &si), 0);
	CHECK_EQ(store_write(si, buf, 20000, 0), 20000);
	CHECK_EQ(store_sync(si, false), 0);
	store_release(si);
	store_close(s);
	s = NULL;
	r = vol_fsck(img, false, stderr);
	CHECKF(r == VOL_FSCK_CLEAN, "%s seed %#llx: fsck after reuse %d", what,
	       (unsigned long long)seed, r);
out:
	if (s)
		store_close(s);
	return checked;
}

static void one_point(uint64_t seed, enum mode m, long nth, int k, long *checked, long *bad)
{
	static const char *names[] = {"kill", "async", "stop", "wcache"};
	struct vol_mkfs_opts o = {.size = 4 << 20};
	CHECK_EQ(vol_create(img, &o), 0);
	memset(sh, 0, sizeof(*sh));
	int pfd[2] = {-1, -1};
	if (m == M_ASYNC)
		CHECK(pipe(pfd) == 0);
	pid_t pid = test_fork();
	if (pid == 0) {
		if (pfd[0] >= 0)
			close(pfd[0]);
		child(seed, m, nth, pfd[1]);
	}
	if (m == M_ASYNC) {
		close(pfd[1]);
		char c;
		for (int i = 0; i < k && read(pfd[0], &c, 1) == 1; i++)
			;
		kill(pid, SIGKILL);
		close(pfd[0]);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECKF((WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
		   (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL),
	       "%s seed %#llx: child status %#x", names[m], (unsigned long long)seed, status);
	*checked += check_volume(seed, names[m], bad);
}

/* A wcache crash point: at a write or (half of them) at a flush, over a
 * whole run's w writes and fl flushes; half the children die there. */
static long wcache_point(unsigned long w, unsigned long fl, bool *at_flush)
{
	wc_kill = rnd(2);
	*at_flush = rnd(2);
	if (*at_flush)
		return -1 - (long)rnd((uint32_t)(fl + fl / 8));
	return 1 + (long)rnd((uint32_t)(w + w / 8));
}

struct wc_totals {
	unsigned long points, at_flush, kills, crashed, pending, kept, lost, torn, restored;
};

static void wc_add(struct wc_totals *t, bool at_flush)
{
	t->points++;
	t->at_flush += at_flush;
	t->kills += wc_kill;
	t->crashed += sh->wc.crashes;
	t->pending += sh->wc.pending;
	t->kept += sh->wc.kept;
	t->lost += sh->wc.lost;
	t->torn += sh->wc.torn;
	t->restored += sh->wc.restored;
}

static void wc_print(const struct wc_totals *t)
{
	printf("# wcache: %lu points (%lu at a flush, %lu SIGKILLed), %lu crashed: of %lu writes "
	       "since the last flush %lu kept, %lu lost, %lu torn; %lu bytes rolled back\n",
	       t->points, t->at_flush, t->kills, t->crashed, t->pending, t->kept, t->lost, t->torn,
	       t->restored);
}

static unsigned long crash_points(void)
{
	const char *e = getenv("PC_CRASH_POINTS");
	return e && *e ? strtoul(e, NULL, 0) : test_scale(200, 10);
}

static void setup_image(void)
{
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(sh != MAP_FAILED);
	snprintf(img, sizeof(img), "%s/pc-vol-crash-XXXXXX", image_dir());
	int fd = mkstemp(img);
	CHECK(fd >= 0);
	close(fd);
}

TEST(crash_points)
{
	uint64_t seed = test_seed();
	unsigned long n = crash_points();
	long checked = 0;
	struct wc_totals wt = {0};

	setup_image();
	/* how many image writes a whole run makes: crash points spread over it */
	one_point(seed, M_STOP, 0, 0, &checked, NULL);
	unsigned long w = sh->writes ? sh->writes : 400, fl = sh->flushes ? sh->flushes : 40;
	printf("# a whole run makes %lu image writes (%lu of them data through O_DIRECT) and %lu "
	       "flushes: crash points spread over them\n",
	       w, sh->direct, fl);
	rng = seed * 7 + 1;
	unsigned long kills = 0, stops = 0, asyncs = 0;
	for (unsigned long i = 0; i < n; i++) {
		uint64_t ps = seed + i * 0x9e3779b97f4a7c15ull;
		enum mode m = (enum mode)(i % 4);
		bool at_flush = false;
		long nth = m == M_WCACHE ? wcache_point(w, fl, &at_flush)
					 : 1 + (long)rnd((uint32_t)(w + w / 8));
		one_point(ps, m, nth, 1 + (int)rnd(150), &checked, NULL);
		kills += m == M_KILL;
		stops += m == M_STOP;
		asyncs += m == M_ASYNC;
		if (m == M_WCACHE)
			wc_add(&wt, at_flush);
	}
	printf(
	    "# %lu crash points (%lu at an image write by SIGKILL, %lu async SIGKILL, %lu device "
	    "stops, %lu volatile-cache crashes); %ld fsync'd bytes verified\n",
	    n, kills, asyncs, stops, wt.points, checked);
	wc_print(&wt);
	unlink(img);
	munmap(sh, sizeof(*sh));
}

/* The wcache kind can fail: with the commit's data flush skipped, the
 * journal write can reach the disk before the trees and data it names.
 * As many points as crash_points (at least 60: about one in five shows
 * damage), all of this kind. */
TEST(wcache_detects_unordered_commit)
{
	uint64_t seed = test_seed() ^ 0x5bd1e995;
	unsigned long n = crash_points() < 60 ? 60 : crash_points(); /* ~1 in 5 is found */
	long checked = 0, bad = 0, damaged = 0;
	struct wc_totals wt = {0};

	setup_image();
	vol_test_skip_data_flush = true;
	one_point(seed, M_STOP, 0, 0, &checked, NULL);
	unsigned long w = sh->writes ? sh->writes : 400, fl = sh->flushes ? sh->flushes : 40;
	rng = seed * 7 + 1;
	for (unsigned long i = 0; i < n; i++) {
		bool at_flush;
		long nth = wcache_point(w, fl, &at_flush), b0 = bad;
		one_point(seed + i * 0x9e3779b97f4a7c15ull, M_WCACHE, nth, 0, &checked, &bad);
		damaged += bad > b0;
		wc_add(&wt, at_flush);
	}
	vol_test_skip_data_flush = false;
	wc_print(&wt);
	printf("# without the ordered-data flush: %ld of %lu crash points damaged (%ld problems)\n",
	       damaged, n, bad);
	CHECK(damaged > 0);
	unlink(img);
	munmap(sh, sizeof(*sh));
}

/* The checks can fail: a byte of a fsync'd file changed behind the store's
 * back (in the image) is reported. */
TEST(checker_detects_damage)
{
	setup_image();
	int fd;
	struct vol_mkfs_opts o = {.size = 4 << 20};
	CHECK_EQ(vol_create(img, &o), 0);
	memset(sh, 0, sizeof(*sh));
	struct store *s;
	CHECK_EQ(store_open_vol(img, &s), 0);
	memset(cf, 0, sizeof(cf));
	CHECK_EQ(ensure_open(s, 0), 0);
	uint8_t b[4096];
	for (int i = 0; i < 4096; i++)
		b[i] = pattern(1, (uint32_t)i);
	CHECK_EQ(store_write(cf[0].si, b, 4096, 0), 4096);
	memcpy(cf[0].data, b, 4096);
	cf[0].size = 4096;
	CHECK_EQ(store_sync(cf[0].si, false), 0);
	do_fsync_snapshot();
	struct store_map m;
	CHECK_EQ(store_map(cf[0].si, 0, 4096, &m), 0);
	CHECK_EQ(m.type, STORE_MAPPED);
	store_release(cf[0].si);
	cf[0].si = NULL;
	store_close(s);
	/* damage the durable byte 100 */
	fd = open(img, O_RDWR);
	CHECK(fd >= 0);
	uint8_t x = (uint8_t)(b[100] ^ 0x5a);
	CHECK(pwrite(fd, &x, 1, m.addr + 100) == 1);
	close(fd);
	long bad = 0;
	check_volume(1, "self-test", &bad);
	CHECK_EQ(bad, 1);
	unlink(img);
	munmap(sh, sizeof(*sh));
}

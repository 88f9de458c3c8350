/* SPDX-License-Identifier: MIT */
/*
 * Directory blocks of the vol store (src/store/vol/dirblk.c): a commit
 * rewrites only the blocks that changed.
 *
 * dir_create_writes_last_block: a directory of many blocks; a create +
 *   commit writes at most 2 directory blocks and every other block keeps its
 *   number; with vdir_test_rewrite_all (the old behaviour) the check fails.
 * dir_remove_middle: removes in the middle dirty only their blocks; emptied
 *   blocks are dropped (lblks renumbered, size shrinks), neighbours merge.
 * dir_failed_commit_retry: a write failing at each position of a commit;
 *   the retry writes the same blocks and the volume is right after a
 *   remount. With vdir_test_install_early the hazard shows: a change lost.
 * dir_random_model: a seeded random run of create/unlink/rename (within and
 *   across directories, NOREPLACE, EXCHANGE) with commits and remounts,
 *   checked against a model (names -> inode, in cookie order) and readdir
 *   cookie stability; fsck clean at each remount.
 * dir_fsync_figures: blocks written and time per create + fsync in a
 *   10 000- and a 100 000-entry directory, with and without
 *   vdir_test_rewrite_all (printed, not asserted).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "harness.h"
#include "fixture.h"
#include "kernel/rng.h"
#include "store/vol/vol.h"
#include "store/vol/vstore.h"

static int commit(struct store *s)
{
	struct vstore *vs = VS(s);
	pthread_mutex_lock(&vs->lock);
	int r = vs_commit(vs);
	pthread_mutex_unlock(&vs->lock);
	return r;
}

static struct vdir *dir_of(struct store *s, const char *path)
{
	struct stat st;
	CHECK_EQ(store_getattr(s, path, &st), 0);
	return VS(s)->inodes[st.st_ino]->dir;
}

/* The committed block of each directory block, in lblk order. */
static size_t blocks_of(struct store *s, const char *path, uint64_t *out, size_t cap)
{
	struct vdir *d = dir_of(s, path);
	CHECK(d->nblk <= cap);
	for (size_t i = 0; i < d->nblk; i++) {
		CHECK(!d->blk[i].dirty);
		out[i] = d->blk[i].pblk;
	}
	return d->nblk;
}

static void mk(struct store *s, const char *path)
{
	struct store_inode *si;
	CHECKF(store_create(s, path, 0644, &si) == 0, "create %s", path);
	store_release(si);
}

static void name_of(char *buf, size_t len, const char *dir, int i)
{
	snprintf(buf, len, "%s%sentry-%07d", dir, *dir ? "/" : "", i);
}

/* How many blocks of @b (nb) are not in @a (na) at the same position. */
static size_t changed(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
	size_t c = 0;
	for (size_t i = 0; i < nb; i++)
		c += i >= na || a[i] != b[i];
	return c;
}

static size_t create_commit_changed(struct store *s, int i, unsigned long *writes)
{
	static uint64_t a[4096], b[4096];
	char p[64];
	size_t na = blocks_of(s, "d", a, 4096);
	unsigned long w = vol_store_writes(s);
	name_of(p, sizeof(p), "d", i);
	mk(s, p);
	CHECK_EQ(commit(s), 0);
	*writes = vol_store_writes(s) - w;
	size_t nb = blocks_of(s, "d", b, 4096);
	CHECK(nb == na || nb == na + 1);
	return changed(a, na, b, nb);
}

TEST(dir_create_writes_last_block)
{
	vol_new_image(64 << 20, 16384);
	struct store *s = vol_mount_img();
	int n = 10000;
	char p[64];
	unsigned long w;

	CHECK_EQ(store_mkdir(s, "d", 0755), 0);
	for (int i = 0; i < n; i++) {
		name_of(p, sizeof(p), "d", i);
		mk(s, p);
	}
	CHECK_EQ(commit(s), 0);
	struct vdir *d = dir_of(s, "d");
	CHECKF(d->nblk > 60, "%zu blocks", d->nblk);
	for (int k = 0; k < 5; k++) {
		size_t c = create_commit_changed(s, n++, &w);
		CHECKF(c <= 2, "%zu directory blocks rewritten", c);
		printf("# create + commit in a %zu-block directory: %zu directory block(s) "
		       "rewritten, %lu image writes\n",
		       dir_of(s, "d")->nblk, c, w);
	}
	/* the check fails when every block is rewritten (the old behaviour) */
	vdir_test_rewrite_all = true;
	size_t c = create_commit_changed(s, n++, &w);
	vdir_test_rewrite_all = false;
	CHECKF(c > 60, "rewrite_all rewrote only %zu", c);
	printf("# with vdir_test_rewrite_all: %zu rewritten, %lu image writes\n", c, w);
	store_close(s);
	vol_fsck_clean();
	s = vol_mount_img(); /* the block list as loaded is the one committed */
	CHECK_EQ(dir_of(s, "d")->count, (size_t)n);
	store_close(s);
}

TEST(dir_remove_middle)
{
	vol_new_image(64 << 20, 0);
	struct store *s = vol_mount_img();
	static uint64_t a[512], b[512];
	int n = 4000;
	char p[64];

	CHECK_EQ(store_mkdir(s, "d", 0755), 0);
	for (int i = 0; i < n; i++) {
		name_of(p, sizeof(p), "d", i);
		mk(s, p);
	}
	CHECK_EQ(commit(s), 0);
	size_t na = blocks_of(s, "d", a, 512), nb;
	struct vdir *d = dir_of(s, "d");
	uint32_t per = d->blk[0].nr;

	/* one entry in the middle: its block only */
	name_of(p, sizeof(p), "d", n / 2);
	CHECK_EQ(store_unlink(s, p), 0);
	CHECK_EQ(commit(s), 0);
	nb = blocks_of(s, "d", b, 512);
	CHECK_EQ(nb, na);
	CHECK_EQ(changed(a, na, b, nb), 1);

	/* a whole block's entries (block 10): dropped, the ones after renumbered */
	memcpy(a, b, nb * sizeof(*a));
	uint64_t first = d->blk[10].first;
	uint32_t nr = d->blk[10].nr;
	for (uint32_t k = 0; k < nr; k++) {
		name_of(p, sizeof(p), "d", (int)(first - 1 + k)); /* cookie = i + 1 */
		CHECK_EQ(store_unlink(s, p), 0);
	}
	CHECK_EQ(d->nblk, na - 1);
	CHECK_EQ(commit(s), 0);
	nb = blocks_of(s, "d", b, 512);
	CHECK_EQ(nb, na - 1);
	CHECK_EQ(changed(a, 10, b, 10), 0);
	CHECK(!memcmp(a + 11, b + 10, (nb - 10) * sizeof(*a)));
	struct stat st;
	CHECK_EQ(store_getattr(s, "d", &st), 0);
	CHECK_EQ(st.st_size, (off_t)nb * 4096);

	/* half of block 20, then all but a third of block 21: 21 merges into 20 */
	memcpy(a, b, nb * sizeof(*a));
	na = nb;
	first = d->blk[20].first;
	for (uint32_t k = 0; k < per / 2; k++) {
		name_of(p, sizeof(p), "d", (int)(first - 1 + k));
		CHECK_EQ(store_unlink(s, p), 0);
	}
	CHECK_EQ(d->nblk, na);
	first = d->blk[21].first;
	nr = d->blk[21].nr;
	for (uint32_t k = 0; k < nr - per / 3; k++) {
		name_of(p, sizeof(p), "d", (int)(first - 1 + k));
		CHECK_EQ(store_unlink(s, p), 0);
	}
	CHECK_EQ(d->nblk, na - 1);
	CHECK_EQ(commit(s), 0);
	nb = blocks_of(s, "d", b, 512);
	CHECK_EQ(changed(a, 20, b, 20), 0);
	CHECK(a[20] != b[20]);
	CHECK(!memcmp(a + 22, b + 21, (nb - 21) * sizeof(*a)));
	size_t count = d->count;
	store_close(s);
	vol_fsck_clean();
	s = vol_mount_img();
	CHECK_EQ(dir_of(s, "d")->count, count);
	CHECK_EQ(blocks_of(s, "d", a, 512), nb);
	CHECK(!memcmp(a, b, nb * sizeof(*a)));
	store_close(s);
}

static bool exists(struct store *s, const char *path)
{
	struct stat st;
	return store_getattr(s, path, &st) == 0;
}

/* Round k: a create (the last block) and an unlink in the middle, the kth
 * image write of the commit fails, the retry; then fsck and a remount must
 * show both changes (or, where the failure hit the commit point, neither).
 * *done once the commit needed no retry. Returns whether the volume is
 * right. */
static bool failed_commit_round(long k, bool *done)
{
	struct store *s = vol_mount_img();
	char nw[64], old[64];
	name_of(nw, sizeof(nw), "d", 100000 + (int)k);
	name_of(old, sizeof(old), "d", 500 + 2 * (int)k);
	mk(s, nw);
	CHECK_EQ(store_unlink(s, old), 0);
	vol_store_fail_once(s, 0, k);
	int r = commit(s);
	vol_store_fail_once(s, 0, 0);
	bool either = r && VS(s)->broken; /* at or after the commit point */
	*done = r == 0;
	if (r && !either)
		CHECK_EQ(commit(s), 0); /* the retry */
	store_close(s);
	if (vol_fsck(vol_img, false, NULL) != VOL_FSCK_CLEAN)
		return false;
	if (store_open_vol(vol_img, &s))
		return false;
	bool n = exists(s, nw), o = exists(s, old);
	bool ok = (n && !o) || (either && !n && o);
	if (!n && o) { /* the changes are lost; make them again */
		mk(s, nw);
		CHECK_EQ(store_unlink(s, old), 0);
	}
	store_close(s);
	return ok;
}

static bool failed_commit_run(void)
{
	vol_new_image(64 << 20, 0);
	struct store *s = vol_mount_img();
	char p[64];
	CHECK_EQ(store_mkdir(s, "d", 0755), 0);
	for (int i = 0; i < 2000; i++) {
		name_of(p, sizeof(p), "d", i);
		mk(s, p);
	}
	store_close(s);
	bool ok = true, done = false;
	long k = 1;
	for (; ok && !done && k < 200; k++)
		ok = failed_commit_round(k, &done);
	printf("# %s after %ld rounds (failed write positions)\n", ok ? "right" : "wrong", k - 1);
	return ok;
}

TEST(dir_failed_commit_retry)
{
	CHECK(failed_commit_run());
	/* directory blocks written home (not logged), so that their writes
	 * can fail before the commit point */
	vol_test_meta_home_first = true;
	CHECK(failed_commit_run());
	/* the hazard: blocks marked clean when written, so a failed commit's
	 * retry does not write them again and the change is lost */
	vdir_test_install_early = true;
	bool ok = failed_commit_run();
	vdir_test_install_early = false;
	vol_test_meta_home_first = false;
	CHECK(!ok);
}

/* ---- the random run ---- */

#define NDIR 4
static const char *dirs[NDIR] = {"", "a", "b", "a/c"};

struct ment {
	int dir;
	char name[64];
	uint64_t ino;
	uint64_t seq; /* insertion order in its directory = cookie order */
};

struct model {
	struct ment *e;
	size_t n, cap;
	uint64_t seq;
};

static struct ment *mfind(struct model *m, int dir, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].dir == dir && !strcmp(m->e[i].name, name))
			return &m->e[i];
	return NULL;
}

static void madd(struct model *m, int dir, const char *name, uint64_t ino)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 256;
		m->e = realloc(m->e, m->cap * sizeof(*m->e));
		CHECK(m->e);
	}
	struct ment *e = &m->e[m->n++];
	e->dir = dir;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->ino = ino;
	e->seq = ++m->seq;
}

static void mdel(struct model *m, struct ment *e)
{
	*e = m->e[--m->n];
}

static int seq_cmp(const void *a, const void *b)
{
	const struct ment *x = *(struct ment *const *)a, *y = *(struct ment *const *)b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct listing {
	struct ment got[4096];
	int64_t cookie[4096];
	size_t n;
};

static int list_fill(void *ctx, const char *name, uint64_t ino, unsigned type, int64_t next)
{
	struct listing *l = ctx;
	(void)type;
	CHECK(l->n < 4096);
	snprintf(l->got[l->n].name, sizeof(l->got[l->n].name), "%s", name);
	l->got[l->n].ino = ino;
	l->cookie[l->n++] = next;
	return 0;
}

static bool is_subdir(int dir, const char *name)
{
	for (int k = 1; k < NDIR; k++) {
		const char *slash = strrchr(dirs[k], '/');
		const char *base = slash ? slash + 1 : dirs[k];
		int parent = slash ? 1 : 0; /* a/c's parent is a */
		if (parent == dir && !strcmp(base, name))
			return true;
	}
	return false;
}

/* readdir of dir from @start equals the model's entries after @after_seq,
 * in cookie order (subdirectories not in the model are skipped). */
static void check_dir(struct store *s, struct model *m, int dir, int64_t start, uint64_t after_seq,
		      struct listing *l)
{
	static struct ment *want[4096];
	size_t nw = 0;
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].dir == dir && m->e[i].seq > after_seq)
			want[nw++] = &m->e[i];
	qsort(want, nw, sizeof(*want), seq_cmp);
	l->n = 0;
	CHECK_EQ(store_readdir(s, dirs[dir], start, list_fill, l), 0);
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (is_subdir(dir, l->got[i].name))
			continue;
		CHECKF(k < nw && !strcmp(l->got[i].name, want[k]->name) &&
			   l->got[i].ino == want[k]->ino,
		       "dir %s: entry %zu is %s, want %s", dirs[dir], i, l->got[i].name,
		       k < nw ? want[k]->name : "(end)");
		k++;
	}
	CHECK_EQ(k, nw);
}

static void check_all(struct store *s, struct model *m, struct listing *l)
{
	for (int d = 0; d < NDIR; d++)
		check_dir(s, m, d, 0, 0, l);
}

static void path_of(char *buf, size_t len, int dir, const char *name)
{
	snprintf(buf, len, "%s%s%s", dirs[dir], *dirs[dir] ? "/" : "", name);
}

static void rand_name(struct rng *r, char *buf)
{
	static const char pad[] = "abcdefghijklmnopqrstuvwxyzabcdefghijklmn";
	int len = 1 + (int)rng_below(r, 40); /* <= 40 + 6 bytes */
	snprintf(buf, 64, "n%04u-%.40s", (unsigned)rng_below(r, 3000), pad + 40 - len);
}

TEST(dir_random_model)
{
	uint64_t seed = test_seed();
	struct rng r;
	struct model m = {0};
	struct listing *l = calloc(1, sizeof(*l));
	unsigned long ops = test_scale(20000, 10), commits = 0, remounts = 0;
	char a[192], b[192], na[64], nb[64];

	rng_seed(&r, seed);
	vol_new_image(128 << 20, 0);
	struct store *s = vol_mount_img();
	for (int d = 1; d < NDIR; d++)
		CHECK_EQ(store_mkdir(s, dirs[d], 0755), 0);
	/* a cookie taken before a commit or remount, and what follows it */
	int snap_dir = -1;
	int64_t snap_cookie = 0;
	uint64_t snap_seq = 0;

	for (unsigned long op = 0; op < ops; op++) {
		unsigned what = (unsigned)rng_below(&r, 100);
		int db = (int)rng_below(&r, NDIR);
		struct ment *x = m.n ? &m.e[rng_below(&r, m.n)] : NULL;
		rand_name(&r, nb);
		/* the first half grows the directories, the second shrinks them
		 * (blocks dropped and merged) */
		unsigned cr = op < ops / 2 ? 45 : 28, ul = cr + (op < ops / 2 ? 20 : 40);
		if (what < cr || !x) { /* create */
			path_of(b, sizeof(b), db, nb);
			struct store_inode *si;
			int e = store_create(s, b, 0644, &si);
			CHECK_EQ(e, mfind(&m, db, nb) ? -EEXIST : 0);
			if (!e) {
				struct stat st;
				CHECK_EQ(store_fgetattr(si, &st), 0);
				store_release(si);
				madd(&m, db, nb, st.st_ino);
			}
		} else if (what < ul) { /* unlink */
			path_of(a, sizeof(a), x->dir, x->name);
			CHECK_EQ(store_unlink(s, a), 0);
			mdel(&m, x);
		} else { /* rename: plain, NOREPLACE, EXCHANGE; within or across */
			unsigned flags = what < ul + (100 - ul) / 2	  ? 0
					 : what < ul + (100 - ul) * 3 / 4 ? RENAME_NOREPLACE
									  : RENAME_EXCHANGE;
			struct ment *y = mfind(&m, db, nb);
			if (rng_below(&r, 3) == 0 && m.n) { /* onto an existing name */
				y = &m.e[rng_below(&r, m.n)];
				db = y->dir;
				snprintf(nb, sizeof(nb), "%s", y->name);
			}
			snprintf(na, sizeof(na), "%s", x->name);
			path_of(a, sizeof(a), x->dir, na);
			path_of(b, sizeof(b), db, nb);
			int e = store_rename(s, a, b, flags);
			if (flags == RENAME_EXCHANGE) {
				CHECK_EQ(e, y ? 0 : -ENOENT);
				if (y) {
					uint64_t t = x->ino;
					x->ino = y->ino;
					y->ino = t;
				}
			} else if (y && flags == RENAME_NOREPLACE) {
				CHECK_EQ(e, -EEXIST);
			} else if (y == x) {
				CHECK_EQ(e, 0);
			} else {
				CHECK_EQ(e, 0);
				int xd = x->dir;
				uint64_t ino = x->ino;
				if (y)
					mdel(&m, y); /* may move x: find it again */
				mdel(&m, mfind(&m, xd, na));
				madd(&m, db, nb, ino);
			}
		}
		if (op == ops / 2)
			printf("# %zu entries after the growing half\n", m.n);
		if (rng_below(&r, 100) == 0) { /* a commit, with a cookie across it */
			snap_dir = (int)rng_below(&r, NDIR);
			check_dir(s, &m, snap_dir, 0, 0, l);
			size_t pick = l->n ? rng_below(&r, l->n) : 0;
			snap_cookie = l->n ? l->cookie[pick] : 0;
			struct ment *pe = l->n ? mfind(&m, snap_dir, l->got[pick].name) : NULL;
			snap_seq = pe ? pe->seq : 0;
			if (l->n && !pe) /* a subdirectory: not in the model */
				snap_dir = -1;
			CHECK_EQ(commit(s), 0);
			commits++;
			if (snap_dir >= 0)
				check_dir(s, &m, snap_dir, snap_cookie, snap_seq, l);
		}
		if (rng_below(&r, 1000) == 0 || op + 1 == ops) { /* a remount */
			store_close(s);
			vol_fsck_clean();
			s = vol_mount_img();
			remounts++;
			check_all(s, &m, l);
			if (snap_dir >= 0) /* the last snapshot's cookie, after changes too */
				check_dir(s, &m, snap_dir, snap_cookie, snap_seq, l);
		}
	}
	printf("# %lu ops, %lu commits, %lu remounts, %zu entries at the end\n", ops, commits,
	       remounts, m.n);
	store_close(s);
	vol_fsck_clean();
	free(m.e);
	free(l);
}

/* ---- figures ---- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* create + fsync in a directory of @n entries, @rounds times: image writes
 * and bytes per operation, microseconds per operation. */
static void fsync_figure(int n, int rounds, bool all)
{
	vol_new_image((int64_t)n * 8192 + (256 << 20), (unsigned)n + 4096);
	struct store *s = vol_mount_img();
	char p[64];
	CHECK_EQ(store_mkdir(s, "d", 0755), 0);
	for (int i = 0; i < n; i++) {
		name_of(p, sizeof(p), "d", i);
		mk(s, p);
	}
	CHECK_EQ(commit(s), 0);
	vdir_test_rewrite_all = all;
	unsigned long w = vol_store_writes(s);
	double t = now_s();
	for (int i = 0; i < rounds; i++) {
		struct store_inode *si;
		name_of(p, sizeof(p), "d", n + i);
		CHECK_EQ(store_create(s, p, 0644, &si), 0);
		CHECK_EQ(store_sync(si, false), 0);
		store_release(si);
	}
	t = (now_s() - t) / rounds;
	w = vol_store_writes(s) - w;
	vdir_test_rewrite_all = false;
	printf("# create + fsync, %d-entry directory (%zu blocks)%s: %.1f image writes, "
	       "%.0f us per op\n",
	       n, dir_of(s, "d")->nblk, all ? ", every block rewritten (as before)" : "",
	       (double)w / rounds, t * 1e6);
	store_close(s);
}

TEST(dir_fsync_figures)
{
	int rounds = (int)test_scale(20, 4);
	for (int n = 10000; n <= 100000; n *= 10) {
		int m = (int)test_scale((unsigned long)n, 10);
		fsync_figure(m, rounds, false);
		fsync_figure(m, rounds, true);
	}
}

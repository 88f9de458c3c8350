/* SPDX-License-Identifier: MIT */
/*
 * bench.c - the shared harness of the bench/ programs (see bench.h).
 * Locks: one mutex serialising output lines; nothing else is shared.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

struct bench_cfg bcfg;
volatile uint64_t bench_sink;

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

#define MAX_TMP 16
static char tmpdirs[MAX_TMP][512];
static int ntmp;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void cleanup(void)
{
	for (int i = 0; i < ntmp; i++)
		nftw(tmpdirs[i], rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void bench_init(int argc, char **argv, int default_reps)
{
	const char *s = getenv("BENCH_STORE"), *m = getenv("BENCH_SHM");

	bcfg.store_base = s && *s ? s : "/var/tmp";
	bcfg.shm_base = m && *m ? m : "/dev/shm";
	bcfg.reps = default_reps;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--smoke")) {
			bcfg.smoke = true;
			bcfg.reps = 1;
		} else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
			bcfg.reps = atoi(argv[++i]);
		} else {
			die("usage: %s [--smoke] [--reps N]", argv[0]);
		}
	}
	if (bcfg.reps < 1 || bcfg.reps > BENCH_MAXREP)
		die("--reps must be 1..%d", BENCH_MAXREP);
	setvbuf(stdout, NULL, _IOLBF, 0);
	atexit(cleanup);
	emit_info("program", "%s", argv[0]);
	emit_info("reps", "%d", bcfg.reps);
	emit_info("smoke", "%d", bcfg.smoke);
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void series_add(struct series *s, double v)
{
	if (s->n < BENCH_MAXREP)
		s->v[s->n++] = v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double series_median(const struct series *s)
{
	double t[BENCH_MAXREP];

	if (!s->n)
		return 0;
	memcpy(t, s->v, sizeof(double) * (size_t)s->n);
	qsort(t, (size_t)s->n, sizeof(double), cmp_double);
	return s->n & 1 ? t[s->n / 2] : (t[s->n / 2 - 1] + t[s->n / 2]) / 2;
}

double series_min(const struct series *s)
{
	double m = s->n ? s->v[0] : 0;

	for (int i = 1; i < s->n; i++)
		if (s->v[i] < m)
			m = s->v[i];
	return m;
}

double series_max(const struct series *s)
{
	double m = s->n ? s->v[0] : 0;

	for (int i = 1; i < s->n; i++)
		if (s->v[i] > m)
			m = s->v[i];
	return m;
}

void emit_info(const char *key, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&out_lock);
	printf("INFO\t%s\t", key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	pthread_mutex_unlock(&out_lock);
}

void emit_row(const char *group, const char *metric, const char *impl, const char *unit,
	      const struct series *s)
{
	pthread_mutex_lock(&out_lock);
	printf("ROW\t%s\t%s\t%s\t%s\t%.6g\t%.6g\t%.6g\t%d\n", group, metric, impl, unit,
	       series_median(s), series_min(s), series_max(s), s->n);
	pthread_mutex_unlock(&out_lock);
}

static void emit_cmp_line(const char *group, const char *metric, const char *unit, const char *a,
			  const struct series *sa, const char *b, const struct series *sb,
			  double ratio, const char *goal_op, double goal)
{
	double ma = series_median(sa), mb = series_median(sb);
	const char *met = "-";
	char g[32] = "-";

	if (goal_op) {
		snprintf(g, sizeof(g), "%s %g", goal_op, goal);
		if (!strcmp(goal_op, ">="))
			met = ratio >= goal ? "yes" : "no";
		else
			met = ratio <= goal ? "yes" : "no";
	}
	pthread_mutex_lock(&out_lock);
	printf("CMP\t%s\t%s\t%s\t%s\t%.6g\t%.6g\t%.6g\t%s\t%.6g\t%.6g\t%.6g\t%.4g\t%s\t%s\n", group,
	       metric, unit, a, ma, series_min(sa), series_max(sa), b, mb, series_min(sb),
	       series_max(sb), ratio, g, met);
	pthread_mutex_unlock(&out_lock);
}

double emit_cmp(const char *group, const char *metric, const char *unit, const char *a,
		const struct series *sa, const char *b, const struct series *sb,
		const char *goal_op, double goal)
{
	double mb = series_median(sb), ratio = mb != 0 ? series_median(sa) / mb : 0;

	emit_cmp_line(group, metric, unit, a, sa, b, sb, ratio, goal_op, goal);
	return ratio;
}

double median_of(const double *v, size_t n)
{
	double *t;
	double m;

	if (!n)
		return 0;
	t = malloc(n * sizeof(*t));
	if (!t)
		die("out of memory");
	memcpy(t, v, n * sizeof(*t));
	qsort(t, n, sizeof(double), cmp_double);
	m = n & 1 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
	free(t);
	return m;
}

double emit_cmp_paired(const char *group, const char *metric, const char *unit, const char *a,
		       const struct series *sa, const char *b, const struct series *sb,
		       const double *ratios, size_t n, const char *goal_op, double goal)
{
	double ratio = median_of(ratios, n);

	emit_cmp_line(group, metric, unit, a, sa, b, sb, ratio, goal_op, goal);
	return ratio;
}

void emit_skip(const char *group, const char *metric, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&out_lock);
	printf("SKIP\t%s\t%s\t", group, metric);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	pthread_mutex_unlock(&out_lock);
}

void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

long ck(long r, const char *what)
{
	if (r < 0)
		die("%s: %s", what, strerror((int)-r));
	return r;
}

long ckerr(long r, const char *what)
{
	if (r == -1)
		die("%s: %s", what, strerror(errno));
	return r;
}

const char *bench_tmpdir(const char *base, const char *tag)
{
	if (ntmp == MAX_TMP)
		die("too many scratch directories");
	char *d = tmpdirs[ntmp];

	snprintf(d, sizeof(tmpdirs[0]), "%s/pc-bench-%s-XXXXXX", base, tag);
	if (!mkdtemp(d))
		die("mkdtemp %s: %s", d, strerror(errno));
	ntmp++;
	return d;
}

const char *path_join(const char *d, const char *name)
{
	static char ring[8][600];
	static int i;
	char *p = ring[i++ & 7];

	snprintf(p, sizeof(ring[0]), "%s/%s", d, name);
	return p;
}

struct pc_engine *bench_engine(const char *dir, enum pc_lock_policy pol, size_t mem_limit)
{
	struct pc_options o = {
	    .size = sizeof(struct pc_options),
	    .store_dir = dir,
	    .mem_limit = mem_limit,
	    .writeback_interval_ms = 600000,
	    .policy = pol,
	};
	struct pc_engine *e = NULL;

	ck(pc_engine_open(&o, &e), "pc_engine_open");
	return e;
}

struct pc_engine *bench_vol_engine(const char *dir, const char *name, uint64_t size)
{
	const char *img = path_join(dir, name);
	struct pc_vol_mkfs_options mo = {.size = sizeof(mo), .bytes = (int64_t)size};
	struct pc_options o = {
	    .size = sizeof(struct pc_options),
	    .store_image = img,
	    .mem_limit = 256u << 20,
	    .writeback_interval_ms = 600000,
	};
	struct pc_engine *e = NULL;

	unlink(img);
	ck(pc_vol_mkfs(img, &mo), "pc_vol_mkfs");
	if (getenv("BENCH_VOL_FILL")) { /* every block written: no allocation by the host fs in
					   flushes */
		static char z[1 << 20];
		int fd = open(img, O_RDWR);
		if (fd < 0)
			abort();
		for (uint64_t off = 0; off < size; off += sizeof(z)) {
			ssize_t n = pread(fd, z, sizeof(z), (off_t)off);
			if (n <= 0 || pwrite(fd, z, (size_t)n, (off_t)off) != n)
				abort();
		}
		if (fsync(fd))
			abort();
		close(fd);
	}
	ck(pc_engine_open(&o, &e), "pc_engine_open (vol)");
	return e;
}

uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

uint64_t bench_seed(void)
{
	const char *s = getenv("BENCH_SEED");
	uint64_t v = s && *s ? strtoull(s, NULL, 0) : 0x9e3779b97f4a7c15ull;

	return v ? v : 1;
}

void shuffle(uint64_t *a, size_t n, uint64_t *s)
{
	for (size_t i = 0; i < n; i++)
		a[i] = i;
	for (size_t i = n; i > 1; i--) {
		size_t j = rnd(s) % i;
		uint64_t t = a[i - 1];

		a[i - 1] = a[j];
		a[j] = t;
	}
}

void fill_pattern(void *buf, size_t len, uint64_t seed)
{
	uint64_t s = seed | 1;
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = rnd(&s) | 0x0101010101010101ull;

		memcpy(p + i, &v, len - i < 8 ? len - i : 8);
	}
}

void *xalloc(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, len ? len : 4096))
		die("out of memory (%zu bytes)", len);
	memset(p, 0x5a, len);
	return p;
}

#define FILL_CHUNK (1u << 20)

void engine_fill(struct pc_engine *e, int fd, uint64_t len)
{
	char *buf = xalloc(FILL_CHUNK);

	fill_pattern(buf, FILL_CHUNK, 7);
	for (uint64_t off = 0; off < len; off += FILL_CHUNK) {
		size_t n = len - off < FILL_CHUNK ? (size_t)(len - off) : FILL_CHUNK;

		if (ck(pc_pwrite(e, fd, buf, n, (off_t)off), "pc_pwrite") != (long)n)
			die("short pc_pwrite");
	}
	free(buf);
}

int twin_files(const char *store_dir, const char *host_dir, uint64_t len, struct pc_engine **e,
	       int *efd)
{
	int hfd;

	emit_info("file_bytes", "%llu", (unsigned long long)len);
	*e = bench_engine(store_dir, PC_POLICY_TWO_STATE, len * 2 + (64u << 20));
	*efd = (int)ck(pc_open(*e, "f", O_RDWR | O_CREAT, 0644), "pc_open");
	engine_fill(*e, *efd, len);
	ck(pc_fsync(*e, *efd), "pc_fsync");
	hfd = (int)ckerr(open(path_join(host_dir, "f"), O_RDWR | O_CREAT, 0644), "open host");
	host_fill(hfd, len);
	return hfd;
}

void host_fill(int fd, uint64_t len)
{
	char *buf = xalloc(FILL_CHUNK);

	fill_pattern(buf, FILL_CHUNK, 7);
	for (uint64_t off = 0; off < len; off += FILL_CHUNK) {
		size_t n = len - off < FILL_CHUNK ? (size_t)(len - off) : FILL_CHUNK;

		if (ckerr(pwrite(fd, buf, n, (off_t)off), "pwrite") != (long)n)
			die("short pwrite");
	}
	free(buf);
}

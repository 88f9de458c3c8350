/* SPDX-License-Identifier: MIT */
/*
 * lockdep.c - the lock validator: classes, per-thread held stacks (in struct
 * task), the global dependency graph with a mode-aware cycle search at the
 * moment an edge is added, and reports that name both chains.
 *
 * Locks: graph_lock (a plain pthread mutex, leaf) for new classes and edges;
 * report_lock (leaf) to serialise report text. Known edges are found in a
 * lock-free open-addressing set, so a validated acquisition costs a few
 * probes per held lock.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel/lockdep.h"
#include "kernel/tsan.h"

struct lock_class_key mmap_lock_key = { .name = "mm_lock" };

static lockdep_report_fn report_handler;
static unsigned long report_count;

static void default_report(const char *kind, const char *text)
{
	(void)kind;
	fputs(text, stderr);
	fflush(stderr);
	abort();
}

lockdep_report_fn lockdep_set_report_handler(lockdep_report_fn fn)
{
	lockdep_report_fn old = report_handler;
	report_handler = fn;
	return old;
}

unsigned long lockdep_report_count(void)
{
	return __atomic_load_n(&report_count, __ATOMIC_RELAXED);
}

static const char *const mode_name[] = { "exclusive", "read", "ADD", "BLOCK" };

#if PC_LOCKDEP

#define MAX_CLASSES	 2048
#define CLASS_HASH	 4096
#define MAX_EDGES	 32768
#define EDGE_HASH	 65536
#define REPORT_BUF	 16384

struct lock_class {
	const struct lock_class_key *key;
	unsigned subclass;
	const char *name;
	int first_out; /* index of first out-edge, -1 if none */
};

struct dep_edge {
	uint16_t from, to;
	uint8_t hmode, amode;
	int next_out;
	struct src_loc from_loc, to_loc;
	char thread[16];
};

static pthread_mutex_t graph_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lock_class classes[MAX_CLASSES];
static int nr_classes = 1; /* id 0 means "not yet looked up" */
static uint16_t class_hash[CLASS_HASH];
static struct dep_edge edges[MAX_EDGES];
static int nr_edges;
static uint64_t edge_set[EDGE_HASH];

static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static char report_buf[REPORT_BUF];
static size_t report_len;

static __printf(1, 2) void rp(const char *fmt, ...)
{
	va_list ap;

	if (report_len >= REPORT_BUF - 1)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(report_buf + report_len, REPORT_BUF - report_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		report_len = min_t(size_t, report_len + (size_t)n, REPORT_BUF - 1);
}

static void report_begin(const char *title)
{
	pthread_mutex_lock(&report_lock);
	report_len = 0;
	rp("\n======================================================\n");
	rp("pagecache lockdep: %s\n", title);
	rp("------------------------------------------------------\n");
}

static void report_end(const char *kind)
{
	lockdep_report_fn fn = report_handler ? report_handler : default_report;

	__atomic_fetch_add(&report_count, 1, __ATOMIC_RELAXED);
	rp("======================================================\n");
	/* the handler runs under report_lock: reports never interleave */
	fn(kind, report_buf);
	pthread_mutex_unlock(&report_lock);
}

static bool modes_conflict(unsigned acquire, unsigned held)
{
	if (acquire == LM_EXCL || held == LM_EXCL)
		return true;
	if (acquire == LM_READ && held == LM_READ)
		return true; /* fair rwsem: a queued writer makes read block read */
	if ((acquire == LM_ADD || acquire == LM_BLOCK) && (held == LM_ADD || held == LM_BLOCK))
		return acquire != held;
	return true;
}

static uint16_t class_lookup(struct lockdep_map *map, unsigned subclass)
{
	uint16_t id;

	if (subclass >= LOCKDEP_SUBCLASSES)
		subclass = LOCKDEP_SUBCLASSES - 1;
	id = __atomic_load_n(&map->class_cache[subclass], __ATOMIC_ACQUIRE);
	if (likely(id))
		return id;

	pthread_mutex_lock(&graph_lock);
	size_t h = (((uintptr_t)map->key >> 4) * 31 + subclass) % CLASS_HASH;
	for (;;) {
		id = class_hash[h];
		if (!id)
			break;
		if (classes[id].key == map->key && classes[id].subclass == subclass)
			goto found;
		h = (h + 1) % CLASS_HASH;
	}
	if (nr_classes >= MAX_CLASSES) {
		pthread_mutex_unlock(&graph_lock);
		fputs("pagecache lockdep: too many lock classes\n", stderr);
		abort();
	}
	id = (uint16_t)nr_classes++;
	classes[id].key = map->key;
	classes[id].subclass = subclass;
	classes[id].name = map->key->name ? map->key->name : map->name;
	classes[id].first_out = -1;
	class_hash[h] = id;
found:
	pthread_mutex_unlock(&graph_lock);
	__atomic_store_n(&map->class_cache[subclass], id, __ATOMIC_RELEASE);
	return id;
}

void lockdep_init_map(struct lockdep_map *map, const char *name, struct lock_class_key *key)
{
	map->key = key;
	map->name = name;
	memset(map->class_cache, 0, sizeof(map->class_cache));
}

static uint64_t edge_key(unsigned from, unsigned to, unsigned h, unsigned a)
{
	return (((uint64_t)from << 20) | ((uint64_t)to << 4) | (h << 2) | a) + 1;
}

static size_t edge_slot(uint64_t key)
{
	key *= 0x9E3779B97F4A7C15ull;
	return (size_t)(key >> 48) % EDGE_HASH;
}

static bool edge_known(uint64_t key)
{
	for (size_t i = edge_slot(key);; i = (i + 1) % EDGE_HASH) {
		uint64_t v = __atomic_load_n(&edge_set[i], __ATOMIC_ACQUIRE);
		if (v == key)
			return true;
		if (!v)
			return false;
	}
}

static void class_desc(char *buf, size_t n, unsigned id, unsigned mode)
{
	const struct lock_class *c = &classes[id];
	if (c->subclass)
		snprintf(buf, n, "%s/%u [%s]", c->name, c->subclass, mode_name[mode]);
	else
		snprintf(buf, n, "%s [%s]", c->name, mode_name[mode]);
}

static void print_held_stack(struct task *t)
{
	if (!t->nheld) {
		rp("  (no locks held)\n");
		return;
	}
	for (int i = 0; i < t->nheld; i++) {
		struct held_lock *hl = &t->held[i];
		char d[96];
		class_desc(d, sizeof(d), hl->class_id, hl->mode);
		rp("  #%d %s%s%s at %p, acquired at %s:%d\n", i, d, hl->trylock ? " (trylock)" : "",
		   hl->acquired ? "" : " (still acquiring)",
		   hl->instance, hl->loc.file, hl->loc.line);
	}
}

/* BFS state: (class, mode in which the path waits for it). */
static int bfs_parent[MAX_CLASSES * 4]; /* edge that reached the state, -1 at start */
static int bfs_pstate[MAX_CLASSES * 4]; /* state it came from */
static int bfs_queue[MAX_CLASSES * 4];
static uint8_t bfs_seen[MAX_CLASSES * 4];

/*
 * Is there a path from (to, amode) back to (from, hmode) that closes a real
 * deadlock? Returns the state index at which the path reached @from, or -1.
 * Called under graph_lock.
 */
static int find_cycle(unsigned from, unsigned hmode, unsigned to, unsigned amode)
{
	int head = 0, tail = 0;

	memset(bfs_seen, 0, (size_t)nr_classes * 4);
	int s0 = (int)(to * 4 + amode);
	bfs_seen[s0] = 1;
	bfs_parent[s0] = -1;
	bfs_queue[tail++] = s0;
	while (head < tail) {
		int s = bfs_queue[head++];
		unsigned cls = (unsigned)s / 4, m = (unsigned)s % 4;

		if (cls == from && modes_conflict(m, hmode))
			return s;
		for (int e = classes[cls].first_out; e >= 0; e = edges[e].next_out) {
			if (!modes_conflict(m, edges[e].hmode))
				continue;
			int ns = edges[e].to * 4 + edges[e].amode;
			if (bfs_seen[ns])
				continue;
			bfs_seen[ns] = 1;
			bfs_parent[ns] = e;
			bfs_pstate[ns] = s;
			bfs_queue[tail++] = ns;
		}
	}
	return -1;
}

static void print_path(int s)
{
	int chain[MAX_CLASSES * 4], n = 0;

	while (bfs_parent[s] >= 0 && n < (int)ARRAY_SIZE(chain)) {
		chain[n++] = bfs_parent[s];
		s = bfs_pstate[s];
	}
	for (int i = n - 1; i >= 0; i--) {
		struct dep_edge *e = &edges[chain[i]];
		char a[96], b[96];
		class_desc(a, sizeof(a), e->from, e->hmode);
		class_desc(b, sizeof(b), e->to, e->amode);
		rp("  %s held (acquired at %s:%d)\n    -> then %s acquired at %s:%d   [thread %s]\n", a,
		   e->from_loc.file, e->from_loc.line, b, e->to_loc.file, e->to_loc.line,
		   e->thread);
	}
}

static void add_edge(struct task *t, struct held_lock *prev, unsigned to, unsigned amode,
		     struct src_loc loc)
{
	uint64_t key = edge_key(prev->class_id, to, prev->mode, amode);

	if (edge_known(key))
		return;

	pthread_mutex_lock(&graph_lock);
	if (edge_known(key)) {
		pthread_mutex_unlock(&graph_lock);
		return;
	}
	int s = find_cycle(prev->class_id, prev->mode, to, amode);
	if (s >= 0) {
		char a[96], b[96];
		class_desc(a, sizeof(a), prev->class_id, prev->mode);
		class_desc(b, sizeof(b), to, amode);
		report_begin(prev->class_id == to && bfs_parent[s] < 0
				     ? "possible recursive locking (same class, no subclass)"
				     : "possible circular locking dependency");
		rp("thread %d (%s) is trying to acquire %s at %s:%d\n", t->tid, t->name, b,
		   loc.file, loc.line);
		rp("while holding %s, acquired at %s:%d.\n\n", a, prev->loc.file, prev->loc.line);
		rp("chain 1 (this thread, now): held locks, outermost first:\n");
		print_held_stack(t);
		rp("  -> wants %s at %s:%d\n\n", b, loc.file, loc.line);
		rp("chain 2 (recorded earlier): %s leads back to %s:\n", b, a);
		if (bfs_parent[s] < 0)
			rp("  (the same class: two objects of one class without address-order subclass)\n");
		else
			print_path(s);
		rp("\nA deadlock needs every lock on the cycle to be waited for in a mode\n"
		   "that conflicts with the mode it is held in; this one does.\n");
		report_end("circular locking dependency");
	}
	if (nr_edges < MAX_EDGES) {
		struct dep_edge *e = &edges[nr_edges];
		e->from = prev->class_id;
		e->to = (uint16_t)to;
		e->hmode = prev->mode;
		e->amode = (uint8_t)amode;
		e->from_loc = prev->loc;
		e->to_loc = loc;
		snprintf(e->thread, sizeof(e->thread), "%s", t->name);
		e->next_out = classes[prev->class_id].first_out;
		classes[prev->class_id].first_out = nr_edges;
		nr_edges++;
		for (size_t i = edge_slot(key);; i = (i + 1) % EDGE_HASH) {
			if (!edge_set[i]) {
				__atomic_store_n(&edge_set[i], key, __ATOMIC_RELEASE);
				break;
			}
		}
	}
	pthread_mutex_unlock(&graph_lock);
}

void lock_acquire(struct lockdep_map *map, const void *instance, unsigned subclass,
		  enum lock_mode mode, bool trylock, struct src_loc loc)
{
	struct task *t = current;
	unsigned id = class_lookup(map, subclass);

	if (!trylock) {
		for (int i = 0; i < t->nheld; i++) {
			struct held_lock *hl = &t->held[i];
			if (hl->instance == instance && modes_conflict(mode, hl->mode)) {
				char b[96];
				class_desc(b, sizeof(b), id, mode);
				report_begin("recursive locking: this thread already holds the lock");
				rp("thread %d (%s) acquires %s at %p at %s:%d\n", t->tid, t->name, b,
				   instance, loc.file, loc.line);
				rp("but already holds it (#%d below):\n", i);
				print_held_stack(t);
				report_end("recursive locking");
				break;
			}
		}
		for (int i = 0; i < t->nheld; i++)
			if (t->held[i].instance != instance) /* same lock: checked above */
				add_edge(t, &t->held[i], id, mode, loc);
	}
	if (t->nheld >= TASK_MAX_HELD) {
		fprintf(stderr, "pagecache lockdep: more than %d locks held by one thread\n",
			TASK_MAX_HELD);
		abort();
	}
	struct held_lock *hl = &t->held[t->nheld++];
	hl->map = map;
	hl->instance = instance;
	hl->class_id = (uint16_t)id;
	hl->mode = (uint8_t)mode;
	hl->trylock = trylock;
	hl->acquired = trylock;
	hl->loc = loc;
}

void lock_acquired(const void *instance)
{
	struct task *t = current;

	for (int i = t->nheld - 1; i >= 0; i--) {
		if (t->held[i].instance == instance && !t->held[i].acquired) {
			t->held[i].acquired = 1;
			return;
		}
	}
}

void lock_release(struct lockdep_map *map, const void *instance, struct src_loc loc)
{
	struct task *t = current;

	for (int i = t->nheld - 1; i >= 0; i--) {
		if (t->held[i].instance == instance && t->held[i].map == map) {
			memmove(&t->held[i], &t->held[i + 1],
				sizeof(t->held[0]) * (size_t)(t->nheld - i - 1));
			t->nheld--;
			return;
		}
	}
	report_begin("bad unlock balance: releasing a lock this thread does not hold");
	rp("thread %d (%s) releases %s at %p at %s:%d; it holds:\n", t->tid, t->name,
	   map->key && map->key->name ? map->key->name : map->name, instance, loc.file, loc.line);
	print_held_stack(t);
	report_end("bad unlock balance");
}

static struct lockdep_map mm_pseudo_map = { .key = &mmap_lock_key, .name = "mm_lock" };
static const char mm_pseudo_instance;

void lockdep_might_fault(struct src_loc loc)
{
	struct task *t = current;

	if (t->pagefault_disabled)
		return;
	lock_acquire(&mm_pseudo_map, &mm_pseudo_instance, 0, LM_READ, false, loc);
	lock_release(&mm_pseudo_map, &mm_pseudo_instance, loc);
}

bool lockdep_holds_class(const struct lock_class_key *key)
{
	struct task *t = current;
	for (int i = 0; i < t->nheld; i++)
		if (t->held[i].map->key == key)
			return true;
	return false;
}

void lockdep_assert_io_allowed(const char *what, struct src_loc loc)
{
	struct task *t = current;

	if (!lockdep_holds_class(&mmap_lock_key))
		return;
	report_begin("blocking I/O while holding the mm lock");
	rp("thread %d (%s) starts %s at %s:%d while holding the mm lock:\n", t->tid, t->name, what,
	   loc.file, loc.line);
	print_held_stack(t);
	rp("\nThe fault path must drop the mm lock before blocking I/O and retry (H7).\n");
	report_end("io under mm lock");
}

bool lockdep_is_held(const void *instance)
{
	struct task *t = current;
	for (int i = 0; i < t->nheld; i++)
		if (t->held[i].instance == instance)
			return true;
	return false;
}

void lockdep_fail_assert(const char *what, struct src_loc loc)
{
	report_begin("lock not held where the code requires it");
	rp("%s is not held at %s:%d\n", what, loc.file, loc.line);
	print_held_stack(current);
	report_end("assert held");
}

void lockdep_abandon_held(void)
{
	struct task *t = current;

	for (int i = t->nheld - 1; i >= 0; i--) {
		struct held_lock *hl = &t->held[i];
		if (!hl->acquired || !hl->map->tsan_annotated)
			continue;
		unsigned f = hl->mode == LM_EXCL ? 0 : TSAN_READ;
		tsan_pre_unlock((void *)hl->instance, f);
		tsan_post_unlock((void *)hl->instance, f);
	}
	t->nheld = 0;
}

void lockdep_reset_graph(void)
{
	pthread_mutex_lock(&graph_lock);
	for (int i = 0; i < nr_classes; i++)
		classes[i].first_out = -1;
	nr_edges = 0;
	memset(edge_set, 0, sizeof(edge_set));
	pthread_mutex_unlock(&graph_lock);
}

/*
 * Reads another thread's held stack without synchronisation: the watchdog and
 * the scheduler call it only for threads that are asleep (a hang), so the stack
 * is stable; TSan is told not to look.
 */
__attribute__((no_sanitize("thread"))) void lockdep_print_held(int fd, struct task *t)
{
	int n = t->nheld;
	if (n > TASK_MAX_HELD)
		n = TASK_MAX_HELD;
	for (int i = 0; i < n; i++) {
		struct held_lock *hl = &t->held[i];
		unsigned id = hl->class_id < MAX_CLASSES ? hl->class_id : 0;
		dprintf(fd, "    %s #%d %s [%s] at %p, acquired at %s:%d\n",
			hl->acquired ? "holds" : "acquiring", i,
			classes[id].name ? classes[id].name : "?", mode_name[hl->mode & 3],
			hl->instance, hl->loc.file, hl->loc.line);
	}
}

#else /* !PC_LOCKDEP */

void lockdep_abandon_held(void)
{
}

void lockdep_reset_graph(void)
{
}

void lockdep_print_held(int fd, struct task *t)
{
	(void)fd;
	(void)t;
	(void)mode_name;
	(void)default_report;
}

#endif

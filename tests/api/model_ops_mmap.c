/* SPDX-License-Identifier: MIT */
/*
 * model_ops_mmap.c - test_model's steps for the mapping calls (see
 * model_ops.h): pc_mmap of MAP_SHARED and MAP_PRIVATE views, pc_munmap
 * (of a whole view, or of a head, a tail or a middle part: the rest stays
 * mapped with its copies, one view or two),
 * loads and stores through the views, pc_msync and pc_madvise (DONTNEED,
 * WILLNEED, POPULATE_READ, POPULATE_WRITE), checked against the model with
 * Linux's semantics:
 *   - a shared view shows the file; its stores change the file;
 *   - a private view shows the file's current bytes on a page it has not
 *     stored to; its first store copies the page (the model keeps the copy)
 *     and its stores change only the copy; MADV_DONTNEED drops the copies;
 *     ftruncate drops the copies beyond the new EOF (file_resize calls
 *     mview_file_resized); a collapse or insert range leaves the copies of
 *     the moved range file-system dependent (Linux: ext4 drops them, XFS
 *     keeps them), so the model then drops them itself with MADV_DONTNEED
 *     (mview_file_shifted);
 *   - the tail of the EOF page reads zeroes (the model never stores beyond
 *     EOF through a shared view: that is unspecified); a whole page beyond
 *     EOF raises SIGBUS, probed under sigsetjmp;
 *   - a view keeps its file alive after close and unlink.
 * PC_MODEL_HOST maps the host file with the kernel's mmap instead.
 * PC_FAULT=fallback (test_model.c) runs the engine's views on the fallback
 * fault mechanism. All on the one test thread: no locks.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"
#include "model_ops.h"
#include "pagecache.h"

#define MAXVIEWS     6
#define MAXVIEWPAGES 40

struct mview {
	uint8_t *addr;
	size_t npages;
	int64_t off; /* file offset of the view's first page */
	bool shared;
	int prot;
	struct mnode *node;
	uint8_t *cow; /* private: the copies, npages * PAGE */
	bool *cowed;  /* private: page p has a copy */
};

static struct mview views[MAXVIEWS];
static int nviews;

/* ---- backend ---- */

static void *b_mmap(int fd, size_t len, int prot, int flags, off_t off, int *err)
{
	if (host) {
		void *p = mmap(NULL, len, prot, flags, fd, off);
		*err = p == MAP_FAILED ? -errno : 0;
		return p == MAP_FAILED ? NULL : p;
	}
	return pc_mmap(eng, fd, len, prot, flags, off, err);
}

static int b_munmap(void *addr, size_t len)
{
	return host ? (int)API_HOST(munmap(addr, len)) : pc_munmap(eng, addr, len);
}

static int b_msync(void *addr, size_t len, int flags)
{
	return host ? (int)API_HOST(msync(addr, len, flags)) : pc_msync(eng, addr, len, flags);
}

static int b_madvise(void *addr, size_t len, int advice)
{
	return host ? (int)API_HOST(madvise(addr, len, advice))
		    : pc_madvise(eng, addr, len, advice);
}

/* ---- SIGBUS probes ---- */

static sigjmp_buf probe_jmp;
static volatile sig_atomic_t probe_armed;
static volatile void *probe_addr;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (!probe_armed) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	probe_addr = si->si_addr;
	siglongjmp(probe_jmp, 1);
}

/* Before main, so the engine's handler (installed at its first open) chains
 * to this one for the SIGBUS it does not serve. */
__attribute__((constructor)) static void install_sigbus(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

/* A load (or a store of a zero byte) at @p: true if it raised SIGBUS there. */
static bool probe_bus(volatile uint8_t *p, bool store)
{
	bool bus = false;

	probe_addr = NULL;
	if (sigsetjmp(probe_jmp, 1) == 0) {
		probe_armed = 1;
		if (store)
			*p = 0;
		else
			(void)*p;
	} else {
		bus = probe_addr == (volatile void *)p;
	}
	probe_armed = 0;
	return bus;
}

/* ---- the model of a view ---- */

/* View pages that lie before the file's EOF page's end: accessible. */
static size_t valid_pages(const struct mview *v)
{
	size_t eofp = (v->node->size + PAGE - 1) / PAGE;
	size_t first = (size_t)(v->off / PAGE);

	if (eofp <= first)
		return 0;
	return eofp - first < v->npages ? eofp - first : v->npages;
}

/* The byte the file shows at @pos (zero past EOF). */
static uint8_t file_byte(const struct mnode *n, size_t pos)
{
	return pos < n->size ? n->data[pos] : 0;
}

/* Expected byte @i of view @v (inside a valid page). */
static uint8_t view_byte(const struct mview *v, size_t i)
{
	size_t p = i / PAGE;

	if (!v->shared && v->cowed[p])
		return v->cow[i];
	return file_byte(v->node, (size_t)v->off + i);
}

static void make_copy(struct mview *v, size_t p)
{
	if (v->shared || v->cowed[p])
		return;
	for (size_t k = 0; k < PAGE; k++)
		v->cow[p * PAGE + k] = file_byte(v->node, (size_t)v->off + p * PAGE + k);
	v->cowed[p] = true;
}

static void drop_copies(struct mview *v, size_t from, size_t to)
{
	if (v->shared)
		return;
	for (size_t p = from; p < to && p < v->npages; p++)
		v->cowed[p] = false;
}

static void view_forget(int i)
{
	node_put(views[i].node);
	free(views[i].cow);
	free(views[i].cowed);
	views[i] = views[--nviews];
}

static int pick_view(bool writable)
{
	int cand[MAXVIEWS], n = 0;

	for (int i = 0; i < nviews; i++)
		if (!writable || (views[i].prot & PROT_WRITE))
			cand[n++] = i;
	return n ? cand[rnd((uint64_t)n)] : -1;
}

/* ---- hooks from the other steps ---- */

void mview_file_resized(struct mnode *n, size_t old, size_t size)
{
	/* ftruncate drops private copies of the pages wholly beyond the new
	 * EOF (Linux: unmap_mapping_range(..., even_cows = 1)). */
	if (size >= old)
		return;
	for (int i = 0; i < nviews; i++) {
		struct mview *v = &views[i];
		size_t eofp = (size + PAGE - 1) / PAGE, first = (size_t)(v->off / PAGE);
		if (v->node == n)
			drop_copies(v, eofp > first ? eofp - first : 0, v->npages);
	}
}

void mview_file_shifted(struct mnode *n, int64_t off)
{
	for (int i = 0; i < nviews; i++) {
		struct mview *v = &views[i];
		size_t from = (size_t)(off / PAGE), first = (size_t)(v->off / PAGE);
		if (v->node != n || v->shared)
			continue;
		from = from > first ? from - first : 0;
		if (from >= v->npages)
			continue;
		note("  madvise(view %p +%zu pages, DONTNEED) after a shift", (void *)v->addr,
		     from);
		EXPECT(b_madvise(v->addr + from * PAGE, (v->npages - from) * PAGE, MADV_DONTNEED),
		       0);
		drop_copies(v, from, v->npages);
	}
}

void mview_drop_all(void)
{
	while (nviews) {
		note("munmap(view %p) before restart", (void *)views[0].addr);
		EXPECT(b_munmap(views[0].addr, views[0].npages * PAGE), 0);
		view_forget(0);
	}
}

/* ---- steps ---- */

void op_mmap(void)
{
	int i = pick_fd_for(NEED_READ);
	if (i < 0)
		return;
	struct mfd *f = &fds[i];
	struct mnode *n = f->node;
	size_t size = n->dir ? 0 : n->size;
	bool shared = chance(50);
	int prot = chance(70) ? PROT_READ | PROT_WRITE : PROT_READ;
	size_t npages = 1 + (size_t)rnd(MAXVIEWPAGES);
	int64_t off = (int64_t)rnd(size / PAGE + 3) * PAGE;

	if (off + (int64_t)(npages * PAGE) > CAP + 8 * PAGE)
		off = 0;
	if (nviews == MAXVIEWS) {
		note("munmap(view %p)", (void *)views[0].addr);
		EXPECT(b_munmap(views[0].addr, views[0].npages * PAGE), 0);
		view_forget(0);
	}
	note("mmap(fd %d, %zu pages, %s, %s, off %lld) size %zu%s", f->fd, npages,
	     prot & PROT_WRITE ? "RW" : "R", shared ? "SHARED" : "PRIVATE", (long long)off, size,
	     n->dir ? " DIR" : "");
	long want = 0;
	if (f->acc == O_WRONLY || (shared && (prot & PROT_WRITE) && f->acc == O_RDONLY))
		want = -EACCES;
	else if (n->dir)
		want = -ENODEV;
	int err = 1;
	void *p = b_mmap(f->fd, npages * PAGE, prot, shared ? MAP_SHARED : MAP_PRIVATE, off, &err);
	if (want || !p) {
		if (p)
			b_munmap(p, npages * PAGE);
		EXPECT(p ? 0 : err, want);
		return;
	}
	struct mview *v = &views[nviews++];
	*v = (struct mview){
	    .addr = p, .npages = npages, .off = off, .shared = shared, .prot = prot, .node = n};
	if (!shared) {
		v->cow = malloc(npages * PAGE);
		v->cowed = calloc(npages, sizeof(bool));
		CHECK(v->cow && v->cowed);
	}
	n->opens++;
}

/* Pages [from, to) of @v as a view of their own (its private copies with
 * it): what stays of a view that munmap split. */
static struct mview view_part(const struct mview *v, size_t from, size_t to)
{
	struct mview p = *v;

	p.addr = v->addr + from * PAGE;
	p.off = v->off + (int64_t)(from * PAGE);
	p.npages = to - from;
	p.cow = NULL;
	p.cowed = NULL;
	if (!v->shared && p.npages) {
		p.cow = malloc(p.npages * PAGE);
		p.cowed = malloc(p.npages * sizeof(bool));
		CHECK(p.cow && p.cowed);
		memcpy(p.cow, v->cow + from * PAGE, p.npages * PAGE);
		memcpy(p.cowed, v->cowed + from, p.npages * sizeof(bool));
	}
	return p;
}

void op_munmap(void)
{
	int i = pick_view(false);
	if (i < 0)
		return;
	struct mview *v = &views[i];
	size_t np = v->npages, a = 0, b = np;

	/* Half the time a part (Linux splits the view; the rest stays mapped
	 * with its pages, copies and protection): a head, a tail, or a middle
	 * (two views remain; a tail instead when the table is full). */
	if (np > 1 && chance(50)) {
		a = (size_t)rnd(np);
		b = a + 1 + (size_t)rnd(np - a);
		if (a && b < np && nviews == MAXVIEWS)
			b = np;
	}
	if (!a && b == np) {
		note("munmap(view %p, %zu pages)", (void *)v->addr, np);
		EXPECT(b_munmap(v->addr, np * PAGE), 0);
		view_forget(i);
		return;
	}
	note("munmap(view %p pages [%zu, %zu) of %zu)", (void *)v->addr, a, b, np);
	EXPECT(b_munmap(v->addr + a * PAGE, (b - a) * PAGE), 0);
	struct mview head = view_part(v, 0, a), tail = view_part(v, b, np);
	free(v->cow);
	free(v->cowed);
	if (!a) {
		*v = tail;
		return;
	}
	*v = head;
	if (b < np) {
		views[nviews++] = tail;
		tail.node->opens++; /* each view holds the node (view_forget) */
	} else {
		free(tail.cow);
		free(tail.cowed);
	}
}

/* A range [*a, *a + *len) of bytes inside the first @limit bytes of a view. */
static bool gen_range(size_t limit, size_t *a, size_t *len)
{
	if (!limit)
		return false;
	*a = chance(30) ? (size_t)rnd(limit / PAGE + 1) * PAGE : (size_t)rnd(limit);
	if (*a >= limit)
		*a = limit - 1;
	*len = 1 + (size_t)rnd(chance(50) ? PAGE : 4 * PAGE);
	if (*len > limit - *a)
		*len = limit - *a;
	return true;
}

void op_mread(void)
{
	int i = pick_view(false);
	if (i < 0)
		return;
	struct mview *v = &views[i];
	size_t valid = valid_pages(v), a, len;

	if (valid < v->npages && chance(10)) {
		size_t p = valid + (size_t)rnd(v->npages - valid);
		bool store = (v->prot & PROT_WRITE) && chance(30);
		note("probe %s view %p page %zu (valid %zu of %zu) size %zu",
		     store ? "store" : "load", (void *)v->addr, p, valid, v->npages, v->node->size);
		if (!probe_bus(v->addr + p * PAGE + rnd(PAGE), store))
			FAIL("an access to a view's page wholly beyond EOF did not raise SIGBUS");
		return;
	}
	if (!gen_range(valid * PAGE, &a, &len))
		return;
	note("mread(view %p%s, +%zu, %zu) size %zu off %lld", (void *)v->addr,
	     v->shared ? " SHARED" : " PRIVATE", a, len, v->node->size, (long long)v->off);
	memcpy(rbuf, v->addr + a, len);
	for (size_t k = 0; k < len; k++)
		if (rbuf[k] != view_byte(v, a + k))
			FAIL("view byte +%zu (file offset %lld, page %s) is 0x%02x, model says "
			     "0x%02x "
			     "(file size %zu)",
			     a + k, (long long)(v->off + (int64_t)(a + k)),
			     !v->shared && v->cowed[(a + k) / PAGE] ? "copied" : "of the file",
			     rbuf[k], view_byte(v, a + k), v->node->size);
}

void op_mwrite(void)
{
	int i = pick_view(true);
	if (i < 0)
		return;
	struct mview *v = &views[i];
	size_t limit = valid_pages(v) * PAGE, a, len;

	if (v->shared) /* never a store beyond EOF through a shared view */
		limit = v->node->size > (size_t)v->off ? (v->node->size - (size_t)v->off < limit
							      ? v->node->size - (size_t)v->off
							      : limit)
						       : 0;
	if (!gen_range(limit, &a, &len))
		return;
	const uint8_t *src = gen_data(len, false);
	note("mwrite(view %p%s, +%zu, %zu) size %zu off %lld", (void *)v->addr,
	     v->shared ? " SHARED" : " PRIVATE", a, len, v->node->size, (long long)v->off);
	memcpy(v->addr + a, src, len);
	if (v->shared) {
		file_write(v->node, (size_t)v->off + a, src, len);
		return;
	}
	for (size_t p = a / PAGE; p <= (a + len - 1) / PAGE; p++)
		make_copy(v, p);
	memcpy(v->cow + a, src, len);
}

void op_msync(void)
{
	static const int flags[] = {MS_SYNC, MS_ASYNC, MS_SYNC | MS_INVALIDATE, MS_INVALIDATE,
				    MS_ASYNC | MS_INVALIDATE};
	int i = pick_view(false);
	if (i < 0)
		return;
	struct mview *v = &views[i];
	size_t p = (size_t)rnd(v->npages);
	size_t len = chance(20) ? 0 : 1 + (size_t)rnd((v->npages - p) * PAGE);
	int fl = flags[rnd(5)];
	size_t a = p * PAGE;
	long want = 0;

	if (chance(3)) {
		fl = MS_SYNC | MS_ASYNC;
		want = -EINVAL;
	} else if (chance(3) && len) {
		a += 1 + (size_t)rnd(PAGE - 1);
		len = len > PAGE ? len - PAGE : 1;
		want = -EINVAL;
	}
	note("msync(view %p, +%zu, %zu, 0x%x)", (void *)v->addr, a, len, fl);
	EXPECT(b_msync(v->addr + a, len, fl), want);
}

void op_madvise(void)
{
	static const int advs[] = {MADV_DONTNEED, MADV_WILLNEED, MADV_POPULATE_READ,
				   MADV_POPULATE_WRITE, MADV_DONTNEED};
	int i = pick_view(false);
	if (i < 0)
		return;
	struct mview *v = &views[i];
	size_t p = (size_t)rnd(v->npages);
	size_t np = 1 + (size_t)rnd(v->npages - p);
	int adv = advs[rnd(5)];
	size_t valid = valid_pages(v);
	long want = 0;

	if (adv == MADV_POPULATE_WRITE && !(v->prot & PROT_WRITE))
		want = -EINVAL;
	else if ((adv == MADV_POPULATE_READ || adv == MADV_POPULATE_WRITE) && p + np > valid)
		want = -EFAULT;
	note("madvise(view %p%s, page %zu, %zu pages, %d) valid %zu", (void *)v->addr,
	     v->shared ? " SHARED" : " PRIVATE", p, np, adv, valid);
	EXPECT(b_madvise(v->addr + p * PAGE, np * PAGE, adv), want);
	if (adv == MADV_DONTNEED)
		drop_copies(v, p, p + np);
	else if (adv == MADV_POPULATE_WRITE && want != -EINVAL)
		for (size_t k = p; k < p + np && k < valid; k++)
			make_copy(v, k); /* a store to each page: a private view copies it */
}

/* pwrite from a view, or pread into one (the engine's copies then fault on
 * the view under its locks: nofault copy, fault-in with the locks dropped,
 * retry - hazard H2). Never on the view's own file range (overlapping
 * copies have no defined result), never O_DIRECT. */
void op_mio(void)
{
	bool to_file = chance(50);
	int vi = pick_view(!to_file);
	int i = pick_fd_for(to_file ? NEED_WRITE : NEED_READ);
	if (vi < 0 || i < 0)
		return;
	struct mview *v = &views[vi];
	struct mfd *f = &fds[i];
	struct mnode *n = f->node;
	size_t limit = valid_pages(v) * PAGE, a, len;

	if (n->dir || f->direct || (to_file ? f->acc == O_RDONLY : f->acc == O_WRONLY))
		return;
	if (!to_file && v->shared) /* stores through a shared view: within EOF */
		limit = v->node->size > (size_t)v->off ? (v->node->size - (size_t)v->off < limit
							      ? v->node->size - (size_t)v->off
							      : limit)
						       : 0;
	if (!gen_range(limit, &a, &len))
		return;
	int64_t off = gen_off(n->size);
	int64_t at = to_file && f->append ? (int64_t)n->size : off;
	if (at >= CAP)
		return;
	if ((size_t)at + len > CAP)
		len = CAP - (size_t)at;
	if (!to_file && (size_t)at + len > n->size)
		len = (size_t)at < n->size ? n->size - (size_t)at : 0;
	if (!len)
		return;
	if (n == v->node && (size_t)at < (size_t)v->off + a + len + PAGE &&
	    (size_t)v->off + a < (size_t)at + len + PAGE)
		return; /* the same bytes (or pages) on both sides */
	note("%s(fd %d, view %p%s +%zu, %zu, off %lld) size %zu",
	     to_file ? "pwrite-from-view" : "pread-into-view", f->fd, (void *)v->addr,
	     v->shared ? " SHARED" : " PRIVATE", a, len, (long long)off, n->size);
	if (to_file) {
		for (size_t k = 0; k < len; k++)
			wbuf[k] = view_byte(v, a + k);
		EXPECT(b_pwrite(f->fd, v->addr + a, len, off), (long)len);
		file_write(n, (size_t)at, wbuf, len); /* pwrite moves no position */
		return;
	}
	EXPECT(b_pread(f->fd, v->addr + a, len, off), (long)len);
	if (v->shared) {
		file_write(v->node, (size_t)v->off + a, n->data + at, len);
		return;
	}
	for (size_t p = a / PAGE; len && p <= (a + len - 1) / PAGE; p++)
		make_copy(v, p);
	memcpy(v->cow + a, n->data + at, len);
}

/* SPDX-License-Identifier: MIT */
/*
 * engine.c - pc_engine_open/close and pc_get_stats: the store, the page
 * cache (mm_cache) with the options' defaults, the inode and fd tables.
 *
 * Locks: none of its own. pc_engine_open starts the store's periodic commit
 * (vol). pc_engine_close empties the fd table (fd_table_lock, leaf) and
 * drops each file with no lock held, then evicts every inode left cached
 * unused, writing it back (see fs/inode.c). The caller guarantees no other call
 * on the engine is in flight during open or close.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/engine.h"
#include "api/engine_internal.h"
#include "cluster/glock.h"
#include "fs/cluster.h"
#include "kernel/lockstat.h"
#include "kernel/thread_buf.h"
#include "mm/defaults.h"
#include "store/vol/vol.h"
#include "mm/uaccess.h"

#define DEFAULT_COMMIT_INTERVAL 5000u /* jbd2's JBD2_DEFAULT_MAX_COMMIT_AGE */

_Static_assert((int)PC_DISCARD_AUTO == (int)VOL_DISCARD_AUTO &&
		   (int)PC_DISCARD_ON == (int)VOL_DISCARD_ON &&
		   (int)PC_DISCARD_OFF == (int)VOL_DISCARD_OFF,
	       "enum pc_discard is passed to the vol store as is");
_Static_assert((int)PC_VOL_DATA_AUTO == (int)VOL_DATA_IO_AUTO &&
		   (int)PC_VOL_DATA_BUFFERED == (int)VOL_DATA_IO_BUFFERED,
	       "enum pc_vol_data_io is passed to the vol store as is");

const char *pc_version(void)
{
	return PC_VERSION_STRING;
}

/*
 * Copies a caller's struct of @usize bytes into @dst (@ksize bytes, the
 * layout this library knows), as Linux's copy_struct_from_user: a shorter
 * struct's missing tail reads as zero, a longer one must have a zero tail
 * (-E2BIG otherwise: it asks for something this library cannot do).
 */
int copy_struct_in(void *dst, size_t ksize, const void *src, size_t usize, size_t min)
{
	const unsigned char *tail = (const unsigned char *)src + ksize;

	if (usize < min)
		return -EINVAL;
	if (usize > PAGE_SIZE)
		return -E2BIG; /* as openat2: no struct is that large (nor a pointer's value) */
	for (size_t i = 0; usize > ksize && i < usize - ksize; i++)
		if (tail[i])
			return -E2BIG;
	memset(dst, 0, ksize);
	memcpy(dst, src, usize < ksize ? usize : ksize);
	return 0;
}

/* Cluster mode: the store's fence (store.h): -EIO once the lease is lost. */
static int engine_fence(void *arg)
{
	return cluster_status(arg);
}

/* The calling thread's reason for its last failed cluster mount (on the
 * heap: the library's TLS block stays small, kernel/thread_buf.h). */
static struct thread_buf cluster_error = THREAD_BUF_INIT(768);

const char *pc_cluster_error(void)
{
	const char *b = thread_buf_peek(&cluster_error);

	return b ? b : "";
}

#define set_cluster_error(...)                                         \
	do {                                                           \
		char *b_ = thread_buf(&cluster_error);                 \
		if (b_)                                                \
			snprintf(b_, cluster_error.size, __VA_ARGS__); \
	} while (0)

/* Mounts the lock module named by opts->cluster (docs/cluster.md); none
 * for NULL or "nolock". -EINVAL for a malformed URL or a vol store. */
static int engine_cluster_mount(struct pc_engine *e, const struct pc_options *opts)
{
	struct cluster_config cfg = {
	    .url = opts->cluster,
	    .node_name = opts->cluster_node,
	    .connect_timeout_ms = opts->cluster_connect_ms,
	    .session_timeout_ms = opts->cluster_session_ms,
	    .min_hold_ms = opts->cluster_min_hold_ms,
	};
	int err;

	char *prev = thread_buf_peek(&cluster_error);

	if (prev)
		prev[0] = '\0';
	if (!opts->cluster || !strcmp(opts->cluster, "nolock"))
		return 0;
	if (!opts->store_dir) {
		set_cluster_error("the vol store does not support cluster mode (it has one "
				  "journal; per-node journals would be needed)");
		return -EINVAL;
	}
	/* The store first: every node must name a file's generation alike
	 * (the lock root records the source). */
	err = store_open_dir_cluster(opts->store_dir, &e->store);
	if (err)
		return err;
	cfg.identity = e->store->gen_source;
	err = cluster_mount(&cfg, &e->cluster);
	if (err) {
		const char *why = cluster_last_error();
		set_cluster_error("%s: %s", opts->cluster, why && *why ? why : strerror(-err));
		e->cluster = NULL;
		store_close(e->store);
		e->store = NULL;
	}
	return err;
}

int pc_engine_open(const struct pc_options *uopts, struct pc_engine **out)
{
	struct mm_cache_config cfg;
	struct pc_options o, *opts = &o;
	struct pc_engine *e;
	int err;

	if (!uopts || !out)
		return -EINVAL;
	err = copy_struct_in(&o, sizeof(o), uopts, uopts->size, PC_OPTIONS_SIZE_V1);
	if (err)
		return err;
	if (!opts->store_dir == !opts->store_image)
		return -EINVAL;
	switch (opts->policy) {
	case PC_POLICY_TWO_STATE:
		cfg.policy = POLICY_TWO_STATE;
		break;
	case PC_POLICY_XFS:
		cfg.policy = POLICY_XFS;
		break;
	case PC_POLICY_NONE_UNSAFE:
		cfg.policy = POLICY_NONE_UNSAFE;
		break;
	default:
		return -EINVAL;
	}
	if (opts->discard != PC_DISCARD_AUTO && opts->discard != PC_DISCARD_ON &&
	    opts->discard != PC_DISCARD_OFF)
		return -EINVAL;
	if (opts->vol_data_io != PC_VOL_DATA_AUTO && opts->vol_data_io != PC_VOL_DATA_BUFFERED)
		return -EINVAL;
	if (opts->fault_mechanism != PC_FAULT_AUTO && opts->fault_mechanism != PC_FAULT_UFFD &&
	    opts->fault_mechanism != PC_FAULT_FALLBACK)
		return -EINVAL;
	cfg.mem_limit = opts->mem_limit;
	cfg.readahead_max = opts->readahead_max;
	cfg.fault_readahead_max = opts->readahead_max;
	cfg.dirty_background = opts->dirty_background;
	cfg.dirty_limit = opts->dirty_limit;
	cfg.writeback_interval_ms = opts->writeback_interval_ms;
	mm_cache_config_defaults(&cfg);
	/* The kernel's default age is 30 s; ours is the writeback interval, so
	 * that data reaches the store as soon as the old every-pass flush wrote
	 * it. A shorter age makes the thread wake that often too, so that the
	 * age is the bound. */
	cfg.dirty_expire_ms =
	    opts->dirty_expire_ms ? opts->dirty_expire_ms : cfg.writeback_interval_ms;
	if (cfg.dirty_expire_ms < cfg.writeback_interval_ms)
		cfg.writeback_interval_ms = cfg.dirty_expire_ms;

	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	err = engine_cluster_mount(e, opts);
	if (err)
		goto out_free;
	if (e->cluster)
		err = 0; /* opened by engine_cluster_mount */
	else if (opts->store_dir)
		err = store_open_dir(opts->store_dir, &e->store);
	else
		err = store_open_vol(opts->store_image, &e->store);
	if (err)
		goto out_cluster;
	if (e->cluster) {
		e->store->fence = engine_fence;
		e->store->fence_arg = e->cluster;
	}
	if (opts->store_image && opts->discard != PC_DISCARD_AUTO) {
		err = vol_store_set_discard(e->store, opts->discard); /* same values */
		if (err)
			goto out_store;
	}
	if (opts->store_image && opts->vol_data_io != PC_VOL_DATA_AUTO) {
		err = vol_store_set_data_io(e->store, opts->vol_data_io); /* same values */
		if (err)
			goto out_store;
	}
	e->vol = !opts->store_dir;
	if (e->vol) {
		err = vol_store_start_commit_timer(e->store, opts->commit_interval_ms
								 ? opts->commit_interval_ms
								 : DEFAULT_COMMIT_INTERVAL);
		if (err)
			goto out_store;
	}
	/* Not set: views read around with the store device's readahead size
	 * (8 MiB at most), as the kernel's mmap does with the bdi's. */
	if (!opts->readahead_max && e->store->ra_hint)
		cfg.fault_readahead_max = min_t(size_t, e->store->ra_hint, 8u << 20);
	err = mm_cache_init(&e->cache, &cfg);
	if (err)
		goto out_store;
	err = inode_table_init(&e->itable, e->store, &e->cache);
	if (err)
		goto out_cache;
	inode_table_set_cluster(&e->itable, e->cluster);
	fdtable_init(&e->fdt);
	e->fault_mechanism = opts->fault_mechanism;
	uaccess_check_sigmask(); /* this thread's mask may have changed since */
	*out = e;
	return 0;

out_cache:
	mm_cache_destroy(&e->cache);
out_store:
	store_close(e->store);
out_cluster:
	if (e->cluster)
		cluster_unmount(e->cluster);
out_free:
	free(e);
	return err;
}

int pc_engine_close_report(struct pc_engine *e,
			   void (*unwritten)(void *arg, const char *path, int err), void *arg)
{
	ENGINE_ENTER(e);
	struct file *f;
	int fd = 0, err = 0, evict_err, serr;

	if (!e)
		return -EINVAL;
	pc_munmap_all(e); /* views left mapped: unmapped now, never dangling */
	while ((f = fd_remove_next(&e->fdt, &fd))) {
		int unseen = 0;

		/* A writeback error this fd was never told about is reported
		 * now: the data it wrote did not reach the store. */
		if (f->f_inode) {
			mutex_lock(&f->f_pos_lock);
			unseen = file_check_and_advance_wb_err(f->f_mapping, &f->f_wb_err);
			mutex_unlock(&f->f_pos_lock);
		}
		evict_err = fput(f);
		if (!err)
			err = unseen ? unseen : evict_err;
	}
	/* The files closed earlier whose inodes stayed cached: written back
	 * now, a failure (or an error nobody saw) reported. */
	evict_err = inode_table_evict_all(&e->itable);
	if (!err)
		err = evict_err;
	if (!err)
		err = __atomic_load_n(&e->unreported_err, __ATOMIC_ACQUIRE);
	/* every inode is gone: what an eviction could not write is listed
	 * (also those whose pc_close already returned the error) */
	if (unwritten) {
		unsigned long named = 0;
		for (struct inode_unwritten *u = e->itable.unwritten; u; u = u->next, named++)
			unwritten(arg, u->name, u->err);
		for (; named < e->itable.nr_unwritten; named++)
			unwritten(arg, "", -EIO); /* not recorded by name (no memory) */
	}
	fdtable_destroy(&e->fdt);
	inode_table_destroy(&e->itable);
	mm_cache_destroy(&e->cache);
	if (e->cluster)
		cluster_unmount(e->cluster); /* every glock was put with its inode */
	serr = store_close(e->store);	     /* vol: the final commit */
	if (!err)
		err = serr;
	free(e);
	return err;
}

int pc_engine_close(struct pc_engine *e)
{
	return pc_engine_close_report(e, NULL, NULL);
}

static void keep_unreported(struct pc_engine *e, int err)
{
	int zero = 0;

	if (err)
		__atomic_compare_exchange_n(&e->unreported_err, &zero, err, false, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE);
}

void fdput(struct pc_engine *e, struct file *f)
{
	keep_unreported(e, fput(f));
}

void iput_engine(struct pc_engine *e, struct inode *inode)
{
	keep_unreported(e, iput(inode));
}

struct store *pc_engine_store(struct pc_engine *e)
{
	return e->store;
}

int pc_get_stats(struct pc_engine *e, struct pc_stats *ust, size_t size)
{
	ENGINE_ENTER(e);
	struct pc_stats stats = {0}, *st = &stats;
	struct mm_cache *c;

	if (!e || !ust || size < PC_STATS_SIZE_V0)
		return -EINVAL;
	c = &e->cache;
	st->cached_pages = __atomic_load_n(&c->nr_pages, __ATOMIC_RELAXED);
	st->dirty_pages = __atomic_load_n(&c->nr_dirty, __ATOMIC_RELAXED);
	st->writeback_pages = __atomic_load_n(&c->nr_writeback, __ATOMIC_RELAXED);
	st->hits = __atomic_load_n(&c->stats.hits, __ATOMIC_RELAXED);
	st->misses = __atomic_load_n(&c->stats.misses, __ATOMIC_RELAXED);
	st->readahead_pages = __atomic_load_n(&c->stats.readahead_pages, __ATOMIC_RELAXED);
	st->written_back_pages = __atomic_load_n(&c->stats.written_back_pages, __ATOMIC_RELAXED);
	st->reclaimed_pages = __atomic_load_n(&c->stats.reclaimed_pages, __ATOMIC_RELAXED);
	st->throttled_writes = __atomic_load_n(&c->stats.throttled_writes, __ATOMIC_RELAXED);
	st->write_retries = __atomic_load_n(&c->stats.write_retries, __ATOMIC_RELAXED);
	st->dio_retries = __atomic_load_n(&e->itable.dio_retries, __ATOMIC_RELAXED);
	st->dio_dropped = __atomic_load_n(&e->itable.dio_dropped, __ATOMIC_RELAXED);
	st->dio_bounced = __atomic_load_n(&e->itable.dio_bounced, __ATOMIC_RELAXED);
	st->fault_readahead_pages =
	    __atomic_load_n(&c->stats.fault_readahead_pages, __ATOMIC_RELAXED);
	if (e->vol)
		vol_store_commit_counts(e->store, &st->store_commits, &st->periodic_commits,
					&st->periodic_checks);
	st->lock_contended = __atomic_load_n(&c->lock_stats.contended, __ATOMIC_RELAXED);
	st->lock_wait_ns = __atomic_load_n(&c->lock_stats.wait_ns, __ATOMIC_RELAXED);
	/* The caller's layout: the counters it knows; zeroes past ours. */
	memset(ust, 0, size);
	memcpy(ust, st, size < sizeof(*st) ? size : sizeof(*st));
	return 0;
}

void pc_set_invalidate_notify(struct pc_engine *e, void (*fn)(void *arg, uint64_t ino), void *arg)
{
	if (!e)
		return;
	/* The demote worker may be reading them (fs/glops.c): the function
	 * goes first when it is cleared, the argument first when it is set. */
	if (!fn)
		__atomic_store_n(&e->itable.inval_notify, NULL, __ATOMIC_RELEASE);
	__atomic_store_n(&e->itable.inval_arg, arg, __ATOMIC_RELAXED);
	__atomic_store_n(&e->itable.inval_notify, fn, __ATOMIC_RELEASE);
}

/* SPDX-License-Identifier: MIT */
/*
 * inode.c - the inode table of an engine (lookup by the store inode's
 * (dev, ino), creation, the list of unused inodes kept cached after their
 * last close (how many, and the prune: inode_lru.c), revalidation when an
 * open takes one back, eviction) and the DIO-in-flight count.
 *
 * Locks: "inode_hash_lock" (leaf) around hash lookups, the unused list,
 * i_count and i_state only; mapping_init/destroy, store calls and writeback
 * run outside it, on an inode kept out of everyone else's reach by
 * I_FREEING or I_REVAL (an open finding either waits for evict_seq to move);
 * the table lock also guards the unwritten list.
 * The pin hash (O_PATH files of regular files, fs/inode_pin.c) is under the
 * table lock too.
 * Eviction of an unlinked file, and revalidation that drops stale pages,
 * take i_rwsem exclusive and BLOCK to discard its pages (nobody else can
 * reach the inode by then; the locks keep the mm layer's assertions true).
 * inode_dio_wait sleeps on the inode's DIO wait queue with i_rwsem held
 * exclusive by the caller. Eviction, with I_FREEING set and no lock held,
 * takes "flc_plock" for the cluster's byte-range lock table
 * (posix_locks_forget: a round trip to the lock service, only for a file
 * that published byte ranges since its last forget).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "fs/cluster.h"
#include "fs/flock_glock.h"
#include "fs/inode.h"
#include "kernel/sched.h"

static DEFINE_LOCK_CLASS(i_rwsem_key, "i_rwsem");
static DEFINE_LOCK_CLASS(inode_hash_lock_key, "inode_hash_lock");
static DEFINE_LOCK_CLASS(posix_blocked_lock_key, "posix_blocked_lock");

TEST_SWITCH(inode_test_no_revalidate);
TEST_SWITCH(inode_test_evict_unseen_error);
TEST_SWITCH(inode_test_no_forget_recheck);
TEST_SWITCH(inode_test_no_generation);
TEST_SWITCH(inode_test_estale_named);

#define INODE_HASH_BUCKETS 1024 /* at least */
int inode_table_init(struct inode_table *t, struct store *s, struct mm_cache *c)
{
	t->unused_max = inode_unused_bound(s);
	t->fd_budget = inode_fd_budget(s);
	t->va_budget = inode_va_budget();
	t->nbuckets = INODE_HASH_BUCKETS;
	while (t->nbuckets < t->unused_max)
		t->nbuckets <<= 1;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	t->pin_buckets = calloc(t->nbuckets, sizeof(*t->pin_buckets));
	if (!t->buckets || !t->pin_buckets) {
		free(t->buckets);
		free(t->pin_buckets);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < t->nbuckets; i++) {
		INIT_LIST_HEAD(&t->buckets[i]);
		INIT_LIST_HEAD(&t->pin_buckets[i]);
	}
	mutex_init_class(&t->lock, &inode_hash_lock_key);
	mutex_init_class(&t->posix_blocked_lock, &posix_blocked_lock_key);
	INIT_LIST_HEAD(&t->posix_blocked);
	init_waitqueue_head(&t->evict_wq);
	INIT_LIST_HEAD(&t->unused);
	t->nr_unused = 0;
	t->nr_inodes = 0;
	t->evict_seq = 0;
	t->store = s;
	t->cache = c;
	return 0;
}

void inode_table_destroy(struct inode_table *t)
{
	while (t->unwritten) {
		struct inode_unwritten *u = t->unwritten;
		t->unwritten = u->next;
		free(u);
	}
	for (unsigned i = 0; i < t->nbuckets; i++) {
		/* every file is closed by now: no pin is left */
		while (!list_empty(&t->pin_buckets[i])) {
			struct inode_pin *p =
			    list_entry(t->pin_buckets[i].next, struct inode_pin, p_hash);

			list_del_init(&p->p_hash);
			free(p);
		}
	}
	mutex_destroy(&t->lock);
	mutex_destroy(&t->posix_blocked_lock);
	free(t->buckets);
	free(t->pin_buckets);
	t->buckets = NULL;
	t->pin_buckets = NULL;
}

struct inode *find_inode(struct inode_table *t, uint64_t dev, uint64_t ino)
{
	struct list_head *head = &t->buckets[inode_hashfn(t, dev, ino)];

	for (struct list_head *p = head->next; p != head; p = p->next) {
		struct inode *inode = list_entry(p, struct inode, i_hash);

		if (inode->i_ino == ino && inode->i_dev == dev)
			return inode;
	}
	return NULL;
}

struct inode *find_inode_gen(struct inode_table *t, uint64_t dev, uint64_t ino, uint64_t gen,
			     struct inode **stale)
{
	struct list_head *head = &t->buckets[inode_hashfn(t, dev, ino)];
	bool any = READ_ONCE(inode_test_no_generation);
	struct inode *found = NULL;

	*stale = NULL;
	for (struct list_head *p = head->next; p != head; p = p->next) {
		struct inode *inode = list_entry(p, struct inode, i_hash);

		if (inode->i_ino != ino || inode->i_dev != dev)
			continue;
		if (inode->i_gen == gen || any) {
			if (!found)
				found = inode;
		} else if (!inode->i_count && !(inode->i_state & (I_FREEING | I_REVAL))) {
			*stale = inode;
		}
	}
	return found;
}

/* address_space->update_time: a store through a shared view sets mtime and
 * ctime, as file_update_time in the kernel's page_mkwrite does (coarse
 * clock, skipped while unchanged at its granularity). */
static void mapping_update_time(struct address_space *m)
{
	inode_update_time_coarse(mapping_inode(m));
}

/* A new, unhashed inode owning @si. */
static int inode_alloc(struct inode_table *t, struct store_inode *si, struct inode **out)
{
	struct inode *inode;
	struct stat st;
	int err;

	err = store_fgetattr(si, &st);
	if (err)
		return err;
	inode = calloc(1, sizeof(*inode));
	if (!inode)
		return -ENOMEM;
	init_rwsem_class(&inode->i_rwsem, &i_rwsem_key);
	init_waitqueue_head(&inode->i_dio_wq);
	locks_init_context(&inode->i_flctx);
	err = mapping_init(&inode->i_data, t->cache, si, st.st_size);
	if (err) {
		rwsem_destroy(&inode->i_rwsem);
		locks_destroy_context(&inode->i_flctx);
		free(inode);
		return err;
	}
	inode->i_data.update_time = mapping_update_time;
	inode->i_store = si;
	inode->i_ino = si->ino;
	inode->i_dev = si->dev;
	inode->i_gen = READ_ONCE(inode_test_no_generation) ? 0 : si->gen;
	inode->i_blksize = st.st_blksize > 0 ? (unsigned)st.st_blksize : 4096;
	inode->i_table = t;
	INIT_LIST_HEAD(&inode->i_hash);
	INIT_LIST_HEAD(&inode->i_lru);
	*out = inode;
	return 0;
}

void inode_set_name(struct inode *inode, const char *path)
{
	char *none = NULL, *name;

	if (__atomic_load_n(&inode->i_name, __ATOMIC_ACQUIRE))
		return;
	name = strdup(path);
	if (name && !__atomic_compare_exchange_n(&inode->i_name, &none, name, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		free(name);
}

/* The last writeback of @inode failed with @err: its dirty data is lost.
 * Remembered (by name) for whoever closes the engine. */
static void note_unwritten(struct inode_table *t, struct inode *inode, int err)
{
	const char *name = inode->i_name ? inode->i_name : "";
	size_t len = strlen(name) + 1;
	struct inode_unwritten *u = malloc(sizeof(*u) + len);

	mutex_lock(&t->lock);
	t->nr_unwritten++;
	if (u) { /* without memory only the count says it */
		u->err = err;
		memcpy(u->name, name, len);
		u->next = t->unwritten;
		t->unwritten = u;
	}
	mutex_unlock(&t->lock);
}

static void inode_free(struct inode *inode)
{
	/* First, while the mapping and the store inode are whole: an operation
	 * of the glock may run until it is detached (fs/cluster.c). The pages
	 * are clean by now (eviction wrote them back) and go with the mapping. */
	inode_flock_glock_put(inode);
	inode_glock_put(inode);
	free(inode->i_name);
	mapping_destroy(&inode->i_data);
	store_release(inode->i_store);
	locks_destroy_context(&inode->i_flctx);
	rwsem_destroy(&inode->i_rwsem);
	free(inode);
}

static bool inode_revalidate(struct inode *inode, struct store_inode *si);
static void table_changed(struct inode_table *t);

int iget_store(struct inode_table *t, struct store_inode *si, struct inode **out)
{
	struct inode *inode, *fresh = NULL;
	uint64_t seq = 0; /* evict_seq when fresh sampled the store's size */
	int64_t size;
	int err;

	for (;;) {
		struct inode *stale;

		mutex_lock(&t->lock);
		inode = find_inode_gen(t, si->dev, si->ino, si->gen, &stale);
		if (unlikely(stale)) {
			/* Its number names another file now: the file it was
			 * is gone (unlinked by another node); so is whatever it
			 * kept, dirty pages included, as for any unlinked file. */
			list_del_init(&stale->i_lru);
			inode_unused_del(t, stale);
			stale->i_state |= I_FREEING;
			mutex_unlock(&t->lock);
			evict_and_free(stale, true);
			continue;
		}
		if (inode && !(inode->i_state & (I_FREEING | I_REVAL)) && inode->i_count) {
			inode->i_count++;
			mutex_unlock(&t->lock);
			break;
		}
		if (inode && !(inode->i_state & (I_FREEING | I_REVAL))) {
			/* Cached unused: take it back once it is known current. */
			list_del_init(&inode->i_lru);
			inode_unused_del(t, inode);
			inode->i_state |= I_REVAL;
			mutex_unlock(&t->lock);
			sched_race_window("iget: unused inode taken back, not revalidated");
			if (inode_revalidate(inode, si))
				break;
			continue; /* evicted: open it anew */
		}
		if (inode) {
			/* Being evicted or revalidated: wait until that is done,
			 * then read the store it has brought up to date. */
			uint64_t wseq = t->evict_seq;

			mutex_unlock(&t->lock);
			wait_event(&t->evict_wq,
				   __atomic_load_n(&t->evict_seq, __ATOMIC_ACQUIRE) != wseq,
				   "inode_freeing");
			continue;
		}
		if (fresh && t->evict_seq == seq) {
			fresh->i_count = 1;
			list_add(&fresh->i_hash,
				 &t->buckets[inode_hashfn(t, fresh->i_dev, fresh->i_ino)]);
			t->nr_inodes++;
			if (likely(!t->cluster)) {
				mutex_unlock(&t->lock);
				*out = fresh;
				return 0;
			}
			/* Cluster mode: the glock is attached to the one inode of
			 * the file, once it is published (glock_get points the
			 * glock's operations at it); opens wait meanwhile. */
			fresh->i_state |= I_REVAL;
			mutex_unlock(&t->lock);
			err = inode_glock_get(fresh);
			mutex_lock(&t->lock);
			fresh->i_state &= ~I_REVAL;
			if (err) {
				list_del_init(&fresh->i_hash);
				t->nr_inodes--;
			}
			table_changed(t);
			mutex_unlock(&t->lock);
			wake_up_all(&t->evict_wq);
			if (err) {
				inode_free(fresh);
				return err;
			}
			*out = fresh;
			return 0;
		}
		seq = t->evict_seq;
		mutex_unlock(&t->lock);
		if (!fresh) {
			err = inode_alloc(t, si, &fresh);
			/* its frames memfd: no fd left (inode_store_open), or
			 * its view: no address space left (RLIMIT_AS) */
			if ((err == -EMFILE || err == -ENFILE || err == -ENOMEM) &&
			    inode_table_shrink(t, INODE_SHRINK_BATCH))
				err = inode_alloc(t, si, &fresh);
			if (err) {
				store_release(si);
				return err;
			}
			sched_race_window("iget: size sampled, inode not yet hashed");
			continue;
		}
		/* An inode was evicted since fresh sampled the store's size (it
		 * may have been this file's, created, written and evicted by
		 * others meanwhile): sample it again. fresh has no pages. */
		size = store_size(si);
		if (size < 0) {
			inode_free(fresh);
			return (int)size;
		}
		i_size_write(&fresh->i_data, size);
	}
	/* The file already has an inode: ours (if any) was never published. */
	if (fresh)
		inode_free(fresh);
	else
		store_release(si);
	*out = inode;
	return 0;
}

/* Under the table lock: the next waiter may look again. */
static void table_changed(struct inode_table *t)
{
	__atomic_store_n(&t->evict_seq, t->evict_seq + 1, __ATOMIC_RELEASE);
}

/* Nobody can reach the inode any more (I_FREEING): bring the store up to
 * date, or discard the pages of a file with no name left. */
static int evict(struct inode *inode, bool unlinked)
{
	struct address_space *m = &inode->i_data;
	int err;

	if (unlinked) {
		/* No name left: nobody will read the data again. */
		inode_lock(inode);
		filemap_invalidate_lock_block(m);
		i_size_write(m, 0);
		truncate_pagecache(m, 0);
		filemap_invalidate_unlock_block(m);
		inode_unlock(inode);
		return 0;
	}
	err = filemap_write_and_wait_range(m, 0, INT64_MAX);
	if (err) {
		/* the data is lost with the inode: say so at engine close */
		note_unwritten(inode->i_table, inode, err);
		return err;
	}
	/* An error of a background writeback that no file ever saw: the
	 * last chance to report it. */
	return mapping_unseen_error(m);
}

/* I_FREEING set, off the unused list: evict, unhash and free. */
int evict_and_free(struct inode *inode, bool unlinked)
{
	struct inode_table *t = inode->i_table;
	int err;

	posix_locks_forget(inode); /* cluster mode: the byte-range lock table */
	err = evict(inode, unlinked);

	mutex_lock(&t->lock);
	list_del_init(&inode->i_hash);
	t->nr_inodes--;
	table_changed(t);
	mutex_unlock(&t->lock);
	/* A waiter may now open the file again, through a new inode and a new
	 * store handle: the store is up to date, ours is only being torn down. */
	wake_up_all(&t->evict_wq);
	inode_free(inode);
	return err;
}

/* I_FREEING (set by us), i_count 0: put it on the unused list, newest last.
 * Returns true if it lost a name meanwhile (I_FORGET): look at it again. */
static bool make_unused(struct inode *inode)
{
	struct inode_table *t = inode->i_table;
	bool forget;

	mutex_lock(&t->lock);
	forget = (inode->i_state & I_FORGET) && !inode_test_no_forget_recheck;
	inode->i_state &= ~(I_FREEING | I_FORGET);
	list_add_tail(&inode->i_lru, &t->unused);
	inode_unused_add(t, inode);
	table_changed(t);
	mutex_unlock(&t->lock);
	wake_up_all(&t->evict_wq);
	return forget;
}

/* Records the store's attributes of a clean inode going unused. */
static void inode_stamp(struct inode *inode, const struct stat *st)
{
	inode->i_stamp_mtime = st->st_mtim;
	inode->i_stamp_ctime = st->st_ctim;
	inode->i_stamp_size = st->st_size;
	inode->i_stamp_ino = st->st_ino;
	inode->i_stamp_valid = true;
}

static bool stamp_matches(const struct inode *inode, const struct stat *st)
{
	return inode->i_stamp_valid && inode->i_stamp_ino == (uint64_t)st->st_ino &&
	       inode->i_stamp_size == st->st_size &&
	       inode->i_stamp_mtime.tv_sec == st->st_mtim.tv_sec &&
	       inode->i_stamp_mtime.tv_nsec == st->st_mtim.tv_nsec &&
	       inode->i_stamp_ctime.tv_sec == st->st_ctim.tv_sec &&
	       inode->i_stamp_ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/*
 * An open (its store handle @si, consumed) takes back the unused inode it
 * marked I_REVAL. Kept as is when nobody else writes the store (vol), or
 * when it holds dirty data (newer than the store's: written back over a
 * concurrent change, as two writers of one file would). Otherwise the
 * store's attributes must match those recorded at the last close, else the
 * pages are dropped and i_size taken from the store (another program
 * changed the host file). A read-only handle is not kept when the open got
 * a writable one: the inode is evicted and the caller opens it anew.
 * Returns true with the inode referenced (i_count 1), false when evicted;
 * @si is left to the caller.
 */
static bool inode_revalidate(struct inode *inode, struct store_inode *si)
{
	struct inode_table *t = inode->i_table;
	struct address_space *m = &inode->i_data;
	bool readonly = inode->i_store->readonly && !si->readonly;
	struct stat st;
	int err = 0;

	if (!readonly && !t->store->sole_writer && !inode_test_no_revalidate && mapping_clean(m)) {
		err = store_fgetattr(si, &st);
		if (!err && !stamp_matches(inode, &st)) {
			/* Changed behind our back: forget what we cached. */
			inode_lock(inode);
			filemap_invalidate_lock_block(m);
			truncate_pagecache_range(m, 0, INT64_MAX);
			i_size_write(m, st.st_size);
			inode->i_store_size_stale = false;
			inode_clear_times(inode);
			filemap_invalidate_unlock_block(m);
			inode_unlock(inode);
		}
	}
	if (!readonly && !err && mapping_clean(m))
		inode_clear_times(inode); /* the store's are current, as for a new inode */
	if (readonly || err) {
		/* Clean (read-only handle) or unknowable: start afresh. */
		mutex_lock(&t->lock);
		inode->i_state = (inode->i_state & ~I_REVAL) | I_FREEING;
		mutex_unlock(&t->lock);
		evict_and_free(inode, false);
		return false;
	}
	mutex_lock(&t->lock);
	inode->i_state &= ~I_REVAL;
	inode->i_count = 1;
	table_changed(t);
	mutex_unlock(&t->lock);
	wake_up_all(&t->evict_wq);
	return true;
}

/* Whether the store's answer (@err, @st) for @inode's own handle says the
 * file has no name left: no link, or a handle gone stale - on a shared file
 * system (NFS) another machine's unlink frees the file, and this machine's
 * handle of it then answers -ESTALE: a dead file, as good as unlinked (its
 * pages can be neither written nor read again through it). Only a clean
 * one: a stale handle does not prove that no name is left (a server that
 * lost its handles answers so for a live file), so dirty pages stay, for
 * writeback to fail on and report. The caller holds @inode I_FREEING. */
static bool store_says_nameless(struct inode *inode, int err, const struct stat *st)
{
	if (err == -ESTALE)
		return !READ_ONCE(inode_test_estale_named) && mapping_clean(&inode->i_data);
	return !err && st->st_nlink == 0;
}

int iput(struct inode *inode)
{
	struct inode_table *t = inode->i_table;
	struct address_space *m = &inode->i_data;
	bool unlinked, clean;
	struct stat st;
	int err;

	mutex_lock(&t->lock);
	if (--inode->i_count > 0) {
		mutex_unlock(&t->lock);
		return 0;
	}
	/* Held off from opens while we look at it. */
	inode->i_state |= I_FREEING;
	mutex_unlock(&t->lock);

	sched_race_window("evict: inode freeing, not yet written back");
	/* Clean first, then the attributes: nobody can dirty it now, so a
	 * clean inode's stamp is exactly the store's state after our writes. */
	clean = mapping_clean(m);
	err = store_fgetattr(inode->i_store, &st);
	unlinked = store_says_nameless(inode, err, &st);
	/* nameless: evicted, unless an O_PATH file may open it again (an
	 * unpin after this look finds it I_FREEING: I_FORGET, looked at again) */
	if (unlinked && !inode_pinned(t, inode->i_dev, inode->i_ino))
		return evict_and_free(inode, true);
	inode->i_stamp_valid = false;
	if (!err && clean)
		inode_stamp(inode, &st);
	sched_race_window("iput: attributes read, not yet unused");
	if (make_unused(inode)) /* unlinked or renamed over since our getattr */
		inode_table_forget(t, inode->i_dev, inode->i_ino);
	return inode_prune(t);
}

void inode_table_forget(struct inode_table *t, uint64_t dev, uint64_t ino)
{
	struct inode *inode;
	struct stat st;

	do {
		mutex_lock(&t->lock);
		inode = find_inode(t, dev, ino);
		if (inode && !inode->i_count && (inode->i_state & I_FREEING))
			inode->i_state |= I_FORGET; /* its looker may have looked already */
		if (!inode || inode->i_count || (inode->i_state & (I_FREEING | I_REVAL))) {
			/* in use (its last iput looks), or another looks */
			mutex_unlock(&t->lock);
			return;
		}
		list_del_init(&inode->i_lru);
		inode_unused_del(t, inode);
		inode->i_state |= I_FREEING;
		mutex_unlock(&t->lock);
		int err = store_fgetattr(inode->i_store, &st);

		if (store_says_nameless(inode, err, &st) && !inode_pinned(t, dev, ino)) {
			evict_and_free(inode, true);
			return;
		}
		/* another name (or an O_PATH file) is left, unless one went
		 * while we looked */
	} while (make_unused(inode));
}

int inode_table_evict_all(struct inode_table *t)
{
	int err = 0;

	for (;;) {
		struct inode *inode;
		struct stat st;
		bool unlinked;
		int e;

		mutex_lock(&t->lock);
		if (list_empty(&t->unused)) {
			mutex_unlock(&t->lock);
			return err;
		}
		inode = list_entry(t->unused.next, struct inode, i_lru);
		list_del_init(&inode->i_lru);
		inode_unused_del(t, inode);
		inode->i_state |= I_FREEING;
		mutex_unlock(&t->lock);
		unlinked = store_fgetattr(inode->i_store, &st) == 0 && st.st_nlink == 0;
		e = evict_and_free(inode, unlinked);
		if (!err)
			err = e;
	}
}

void inode_dio_end(struct inode *inode)
{
	if (__atomic_sub_fetch(&inode->i_dio_count, 1, __ATOMIC_SEQ_CST) == 0 &&
	    wq_has_sleeper(&inode->i_dio_wq))
		wake_up_all(&inode->i_dio_wq);
}

void inode_dio_wait(struct inode *inode)
{
	wait_event(&inode->i_dio_wq, __atomic_load_n(&inode->i_dio_count, __ATOMIC_SEQ_CST) == 0,
		   "inode_dio_wait");
}

int sync_inodes(struct inode_table *t)
{
	struct inode **inodes;
	unsigned long n = 0, cap;
	int err = 0;

	mutex_lock(&t->lock);
	cap = t->nr_inodes;
	inodes = cap ? malloc(cap * sizeof(*inodes)) : NULL;
	if (cap && !inodes) {
		mutex_unlock(&t->lock);
		return -ENOMEM;
	}
	for (unsigned b = 0; b < t->nbuckets && n < cap; b++) {
		struct list_head *head = &t->buckets[b];

		for (struct list_head *p = head->next; p != head && n < cap; p = p->next) {
			struct inode *inode = list_entry(p, struct inode, i_hash);

			if (inode->i_state & (I_FREEING | I_REVAL))
				continue; /* its eviction writes it back, its opener keeps it */
			if (!inode->i_count) {
				/* unused: ours until the iput below makes it unused again */
				list_del_init(&inode->i_lru);
				inode_unused_del(t, inode);
			}
			inode->i_count++;
			inodes[n++] = inode;
		}
	}
	mutex_unlock(&t->lock);
	for (unsigned long i = 0; i < n; i++) {
		int e = filemap_write_and_wait_range(&inodes[i]->i_data, 0, INT64_MAX);

		if (!e)
			e = store_sync(inodes[i]->i_store, false);
		if (!err)
			err = e;
		e = iput(inodes[i]);
		if (!err)
			err = e;
	}
	free(inodes);
	return err;
}

/* SPDX-License-Identifier: MIT */
/*
 * posix_locks.c - fcntl(2) byte-range locks on the engine's files, after
 * Linux's fs/locks.c: open file description (OFD) locks, owned by the open
 * file (pc_dup copies share them; they go with its last reference), and
 * POSIX locks of an owner the caller names (a FUSE server's lock_owner,
 * standing for a process; they go with the owner's unlock or with the last
 * reference of the file they were set through). Both kinds live in one
 * list per inode and conflict with each other, as in Linux. An owner's own
 * locks in a range are replaced (split at the edges) by a new one; F_UNLCK
 * removes them; adjacent locks of one owner, type and file merge.
 *
 * Deadlocks: a POSIX owner's F_SETLKW that would sleep on a local conflict
 * first follows the chain of owners asleep on each other's locks, through
 * the engine's list of sleeping requests (posix_wait_begin, after Linux's
 * posix_locks_deadlock: ten owners at most), and fails with -EDEADLK if it
 * comes back to the caller. OFD locks are not checked (Linux neither: their
 * open file waits for nothing), nor are other nodes' locks in cluster mode
 * (gfs2's are not either). A FUSE mount in cluster mode, whose locks the
 * kernel hands to the server, so gets what fcntl(2) gives on a local file
 * system for the owners of one node.
 *
 * Cluster mode: this node's ranges of a file - every lock of every owner,
 * owners left out, merged per type - are published to the lock service
 * (cluster/plock.h) before a change is made here, in one look that also
 * checks the other nodes' ranges: a lock is granted only when neither this
 * node's other owners nor another node hold a conflicting one. F_SETLKW
 * waits for either (the context's sequence for a local release, the
 * service's watch for a remote one) with no lock held. A lost session took
 * the node's published ranges with it: the locks this node still lists from
 * before are dropped at the next change of the file (cluster_generation),
 * and the open files they were set through are fenced: their owners still
 * think they hold them, and another node may hold them now, so I/O through
 * such a file fails with -EIO until its last close (posix_locks_fence; as
 * an NFS client's I/O under a lock it lost).
 * A release is made here whatever the service answered (a lost session
 * already released it there; another failure leaves the service's copy
 * larger until the next publish of the file). The inode's eviction forgets
 * the file's table at the lock service (posix_locks_forget: the node's entry
 * goes, and the table with it when no other node has one).
 *
 * Locks: "flc_plock" (cluster mode) around one change, across the lock
 * service's round trip -> "flc_lock" around the list. A waiter holds
 * neither; it takes the engine's "posix_blocked_lock" (a leaf) alone, to
 * check the chain and put its entry on the list, and again to take it off.
 * F_SETLKW's waits are killable: a fired cancel token (the FUSE server's
 * FUSE_INTERRUPT) ends them with -EINTR, leaving nothing behind.
 */
#include <errno.h>
#include <stdlib.h>

#include "cluster/lock_module.h"
#include "cluster/plock.h"
#include "fs/file.h"
#include "fs/locks.h"

TEST_SWITCH(locks_test_plock_local_only);
TEST_SWITCH(locks_test_plock_keep_lost);
TEST_SWITCH(locks_test_plock_no_fence);
TEST_SWITCH(locks_test_no_deadlock_check);

struct lock_owner {
	bool ofd;
	struct file *file; /* OFD: the owner; POSIX: the file the lock is set through */
	uint64_t id;	   /* POSIX */
	int pid;	   /* POSIX */
};

static bool same_owner(const struct file_lock *fl, const struct lock_owner *o)
{
	if (fl->fl_ofd != o->ofd)
		return false;
	return o->ofd ? fl->fl_file == o->file : fl->fl_owner == o->id;
}

/* struct flock -> [*start, *end] (inclusive), fcntl(2)'s rules. */
static int flock_to_range(struct file *f, const struct flock *fl, int64_t *start, int64_t *end)
{
	int64_t base, s, len = fl->l_len;

	switch (fl->l_whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = file_pos_read(f);
		break;
	case SEEK_END:
		base = i_size_read(f->f_mapping);
		break;
	default:
		return -EINVAL;
	}
	if (__builtin_add_overflow(base, (int64_t)fl->l_start, &s))
		return -EOVERFLOW;
	if (len > 0) {
		if (s < 0)
			return -EINVAL;
		*start = s;
		*end = len - 1 > OFFSET_MAX - s ? OFFSET_MAX : s + len - 1;
	} else if (len < 0) { /* [s + len, s - 1] */
		if (s + len < 0)
			return -EINVAL;
		*start = s + len;
		*end = s - 1;
	} else {
		if (s < 0)
			return -EINVAL;
		*start = s;
		*end = OFFSET_MAX;
	}
	return 0;
}

static struct file_lock *posix_conflict(struct file_lock_context *ctx, const struct lock_owner *o,
					int type, int64_t start, int64_t end)
{
	struct file_lock *fl;

	list_for_each_entry (fl, &ctx->flc_posix, fl_list)
		if (!same_owner(fl, o) && fl->fl_start <= end && start <= fl->fl_end &&
		    types_conflict(fl->fl_type, type))
			return fl;
	return NULL;
}

/* ---- F_SETLKW's deadlock check, as Linux's posix_locks_deadlock ---- */

/*
 * A POSIX owner asleep in F_SETLKW on another POSIX owner's lock (an OFD
 * lock's open file waits for nothing: a chain ends there, so a wait on one
 * has no entry), and that owner: on the waiter's stack, on its engine's
 * list (inode_table.posix_blocked) while it sleeps. The entry stands while
 * its file's lock sequence is still @seen: no lock of that file was released
 * since the conflict was found, so @blocker still holds the lock it waits
 * for. An entry whose sequence moved (the blocker let go, the waiter not
 * yet awake to look again) is skipped, never followed.
 */
struct posix_waiter {
	struct list_head list;
	struct file_lock_context *ctx;
	uint64_t seen;
	uint64_t owner;
	uint64_t blocker;
};

#define MAX_DEADLK_STEPS 10 /* Linux's MAX_DEADLK_ITERATIONS */

static bool waiter_stands(const struct posix_waiter *w)
{
	return __atomic_load_n(&w->ctx->seq, __ATOMIC_ACQUIRE) == w->seen;
}

/* posix_blocked_lock held: the standing entry of owner @owner, or NULL. */
static struct posix_waiter *owner_waiting(struct inode_table *t, uint64_t owner)
{
	struct posix_waiter *x;

	list_for_each_entry (x, &t->posix_blocked, list)
		if (x->owner == owner && waiter_stands(x))
			return x;
	return NULL;
}

/*
 * Before @w's owner sleeps: -EDEADLK if the owner of the lock in its way
 * waits, itself or through others, for a lock of @w's owner - the sleep
 * would be for good - else 0, with @w on the list until posix_wait_end.
 * As in Linux, the walk gives up after MAX_DEADLK_STEPS owners (a longer
 * cycle sleeps). The entries are read at
 * different times, so a cycle found is checked again as a whole: each of
 * its entries, and @w, still standing now means each stood all along
 * (sequences only grow), so the cycle is there at this moment.
 */
static int posix_wait_begin(struct inode_table *t, struct posix_waiter *w)
{
	struct posix_waiter *path[MAX_DEADLK_STEPS], *x;
	uint64_t cur = w->blocker;
	bool cycle = false;
	int n = 0, i;

	mutex_lock(&t->posix_blocked_lock);
	if (!READ_ONCE(locks_test_no_deadlock_check)) {
		while (n < MAX_DEADLK_STEPS && (x = owner_waiting(t, cur))) {
			path[n++] = x;
			if (x->blocker == w->owner) {
				cycle = true;
				break;
			}
			cur = x->blocker;
		}
		for (i = 0; cycle && i < n; i++)
			cycle = waiter_stands(path[i]);
		if (cycle && waiter_stands(w)) {
			mutex_unlock(&t->posix_blocked_lock);
			return -EDEADLK;
		}
	}
	list_add(&w->list, &t->posix_blocked);
	mutex_unlock(&t->posix_blocked_lock);
	return 0;
}

static void posix_wait_end(struct inode_table *t, struct posix_waiter *w)
{
	mutex_lock(&t->posix_blocked_lock);
	list_del_init(&w->list);
	mutex_unlock(&t->posix_blocked_lock);
}

static void posix_insert_sorted(struct file_lock_context *ctx, struct file_lock *nfl)
{
	struct file_lock *fl;

	list_for_each_entry (fl, &ctx->flc_posix, fl_list)
		if (fl->fl_start > nfl->fl_start) {
			list_add_tail(&nfl->fl_list, &fl->fl_list);
			return;
		}
	list_add_tail(&nfl->fl_list, &ctx->flc_posix);
}

/*
 * Replaces @o's locks in [start, end] by @nfl (NULL: none), ctx->lock held.
 * @spare: a preallocated lock for a split (consumed if used, else left).
 * Returns true if a lock was removed or shrunk.
 */
static bool posix_apply(struct file_lock_context *ctx, const struct lock_owner *o, int type,
			int64_t start, int64_t end, struct file_lock *nfl, struct file_lock **spare)
{
	struct file_lock *fl, *tmp;
	bool released = false;

	list_for_each_entry_safe (fl, tmp, &ctx->flc_posix, fl_list) {
		if (!same_owner(fl, o) || fl->fl_end < start || fl->fl_start > end)
			continue;
		if (fl->fl_type != type)
			released = true;
		if (fl->fl_start < start && fl->fl_end > end) { /* split in two */
			struct file_lock *right = *spare;

			*spare = NULL;
			*right = *fl;
			right->fl_start = end + 1;
			fl->fl_end = start - 1;
			posix_insert_sorted(ctx, right);
		} else if (fl->fl_start < start) {
			fl->fl_end = start - 1;
		} else if (fl->fl_end > end) {
			list_del_init(&fl->fl_list);
			fl->fl_start = end + 1;
			posix_insert_sorted(ctx, fl);
		} else {
			list_del_init(&fl->fl_list);
			free(fl);
		}
	}
	if (nfl) {
		/* Merge with the owner's adjacent locks of the type, set
		 * through the same file (they go with it). */
		list_for_each_entry_safe (fl, tmp, &ctx->flc_posix, fl_list) {
			if (!same_owner(fl, o) || fl->fl_type != type ||
			    fl->fl_file != nfl->fl_file)
				continue;
			if ((fl->fl_end != OFFSET_MAX && fl->fl_end + 1 == nfl->fl_start) ||
			    (nfl->fl_end != OFFSET_MAX && nfl->fl_end + 1 == fl->fl_start)) {
				if (fl->fl_start < nfl->fl_start)
					nfl->fl_start = fl->fl_start;
				if (fl->fl_end > nfl->fl_end)
					nfl->fl_end = fl->fl_end;
				list_del_init(&fl->fl_list);
				free(fl);
			}
		}
		posix_insert_sorted(ctx, nfl);
	}
	return released;
}

/* ---- cluster mode: this node's ranges at the lock service ---- */

static struct cluster *posix_cluster(struct file *f)
{
	struct cluster *c = f->f_inode->i_table->cluster;

	if (likely(!c) || cluster_is_nolock(c) || READ_ONCE(locks_test_plock_local_only))
		return NULL;
	return c;
}

static struct lm_lockname plock_name(const struct inode *inode)
{
	return (struct lm_lockname){
	    .ln_number = inode->i_ino, .ln_gen = inode->i_gen, .ln_type = LM_TYPE_PLOCK};
}

static int range_cmp(const void *pa, const void *pb)
{
	const struct plock_range *a = pa, *b = pb;

	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	return (a->start > b->start) - (a->start < b->start);
}

/*
 * The node's ranges of the file once @o's locks in [start, end] are replaced
 * by one of @type (F_UNLCK: none), ctx->lock held: merged per type (the
 * service needs no more to find conflicts), in a new array (*out, NULL when
 * none; *n). 0 or -ENOMEM.
 */
static int plock_set_build(struct file_lock_context *ctx, const struct lock_owner *o, int type,
			   int64_t start, int64_t end, struct plock_range **out, unsigned *n)
{
	struct plock_range *v, *w;
	struct file_lock *fl;
	unsigned cap = 1, k = 0, i;

	list_for_each_entry (fl, &ctx->flc_posix, fl_list)
		cap += 2;
	v = malloc(cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	list_for_each_entry (fl, &ctx->flc_posix, fl_list) {
		if (!same_owner(fl, o) || fl->fl_end < start || fl->fl_start > end) {
			v[k++] = (struct plock_range){fl->fl_start, fl->fl_end, fl->fl_type};
			continue;
		}
		if (fl->fl_start < start)
			v[k++] = (struct plock_range){fl->fl_start, start - 1, fl->fl_type};
		if (fl->fl_end > end)
			v[k++] = (struct plock_range){end + 1, fl->fl_end, fl->fl_type};
	}
	if (type != F_UNLCK)
		v[k++] = (struct plock_range){start, end, type};
	qsort(v, k, sizeof(*v), range_cmp);
	for (i = 0, w = v; i < k; i++) { /* merge overlapping and adjacent ranges */
		if (w > v && w[-1].type == v[i].type &&
		    (w[-1].end == OFFSET_MAX || w[-1].end + 1 >= v[i].start)) {
			if (v[i].end > w[-1].end)
				w[-1].end = v[i].end;
			continue;
		}
		*w++ = v[i];
	}
	*n = (unsigned)(w - v);
	if (!*n) {
		free(v);
		v = NULL;
	}
	*out = v;
	return 0;
}

/* Whether the ranges listed were published in a session that is over (the
 * fields are written under ctx->plock; read under ctx->lock, or with none
 * as a hint that posix_locks_fence takes ctx->lock to look again). */
static bool plock_lost(struct file_lock_context *ctx, struct cluster *c)
{
	return __atomic_load_n(&ctx->plock_published, __ATOMIC_RELAXED) &&
	       __atomic_load_n(&ctx->plock_gen, __ATOMIC_RELAXED) != cluster_generation(c);
}

/* ctx->lock held: I/O through @f fails from now on (posix_locks_fence). */
static void fence_file(struct file *f)
{
	if (!READ_ONCE(locks_test_plock_no_fence))
		__atomic_store_n(&f->f_locks_lost, true, __ATOMIC_RELEASE);
}

/* ctx->plock and ctx->lock held: the ranges listed from a lost session are
 * gone at the service; they go here too, and the files they were set
 * through are fenced. */
static void plock_drop_lost(struct file_lock_context *ctx, struct cluster *c)
{
	struct file_lock *fl, *tmp;

	if (!plock_lost(ctx, c) || READ_ONCE(locks_test_plock_keep_lost))
		return;
	list_for_each_entry_safe (fl, tmp, &ctx->flc_posix, fl_list) {
		list_del_init(&fl->fl_list);
		fence_file(fl->fl_file);
		free(fl);
	}
	__atomic_store_n(&ctx->plock_published, false, __ATOMIC_RELAXED);
	locks_wake(ctx);
	wake_up_all(&ctx->wait);
}

/*
 * ctx->plock and ctx->lock held: publish the node's ranges after @o's locks
 * in [start, end] are replaced by one of @type (F_UNLCK: a release, whatever
 * the other nodes hold; else the lock asked for). Returns with ctx->lock
 * held again if 0 (the change may be made) or, for a release, whatever the
 * service said; else with only ctx->plock held: -EAGAIN (*seq set for
 * F_SETLKW's wait), -EIO, -ENOLCK, -ENOMEM.
 */
static int plock_publish(struct file_lock_context *ctx, struct cluster *c, struct inode *inode,
			 const struct lock_owner *o, int type, int64_t start, int64_t end,
			 bool wait, uint64_t *seq)
{
	struct lm_lockname name = plock_name(inode);
	uint64_t gen = cluster_generation(c);
	struct plock_range *set = NULL, conflict, lock = {start, end, type};
	const struct plock_range *want = type == F_UNLCK ? NULL : &lock;
	unsigned n = 0;
	int err;

	err = plock_set_build(ctx, o, type, start, end, &set, &n);
	mutex_unlock(&ctx->lock);
	if (!err) {
		ctx->plock_entry = true; /* whatever the answer: forgotten at eviction */
		err = cluster_plock(c, &name, want, set, n, wait ? PLOCK_WATCH : 0, &conflict, seq);
	}
	free(set);
	if (err && want)
		return err;
	if (!err) {
		__atomic_store_n(&ctx->plock_published, true, __ATOMIC_RELAXED);
		__atomic_store_n(&ctx->plock_gen, gen, __ATOMIC_RELAXED);
	}
	mutex_lock(&ctx->lock);
	return 0;
}

/* F_GETLK: a conflicting lock of this node's other owners, else of another node. */
static int posix_test(struct file_lock_context *ctx, struct file *f, const struct lock_owner *o,
		      int64_t start, int64_t end, struct flock *fl)
{
	struct cluster *c = posix_cluster(f);
	struct plock_range want = {start, end, fl->l_type}, hit;
	struct lm_lockname name;
	struct file_lock *conf;
	int err;

	mutex_lock(&ctx->lock);
	conf = posix_conflict(ctx, o, fl->l_type, start, end);
	if (conf) {
		hit = (struct plock_range){conf->fl_start, conf->fl_end, conf->fl_type};
		fl->l_pid = conf->fl_ofd ? -1 : conf->fl_pid;
	}
	mutex_unlock(&ctx->lock);
	if (!conf && c) {
		name = plock_name(f->f_inode);
		err = cluster_plock(c, &name, &want, NULL, 0, 0, &hit, NULL);
		if (err && err != -EAGAIN)
			return err;
		if (!err) {
			fl->l_type = F_UNLCK;
			return 0;
		}
		fl->l_pid = o->ofd ? -1 : 0; /* another node's: no pid of ours */
	} else if (!conf) {
		fl->l_type = F_UNLCK;
		return 0;
	}
	fl->l_type = (short)hit.type;
	fl->l_whence = SEEK_SET;
	fl->l_start = hit.start;
	fl->l_len = hit.end == OFFSET_MAX ? 0 : hit.end - hit.start + 1;
	return 0;
}

/* Whether @o holds a lock in [start, end] (a hint: taken again under the locks). */
static bool posix_owns_any(struct file_lock_context *ctx, const struct lock_owner *o, int64_t start,
			   int64_t end)
{
	struct file_lock *fl;
	bool any = false;

	mutex_lock(&ctx->lock);
	list_for_each_entry (fl, &ctx->flc_posix, fl_list)
		if (same_owner(fl, o) && fl->fl_start <= end && start <= fl->fl_end) {
			any = true;
			break;
		}
	mutex_unlock(&ctx->lock);
	return any;
}

/* F_SETLK(W) for @o (cmd: F_SETLK or F_SETLKW). */
static int posix_set(struct file_lock_context *ctx, struct file *f, const struct lock_owner *o,
		     bool wait, int type, int64_t start, int64_t end)
{
	struct cluster *c = posix_cluster(f);
	struct inode_table *t = f->f_inode->i_table;
	struct file_lock *nfl = NULL, *spare, *conf;
	uint64_t seen, seq = 0;
	int err = 0;

	if ((type == F_RDLCK && !(f->f_mode & FMODE_READ)) ||
	    (type == F_WRLCK && !(f->f_mode & FMODE_WRITE)))
		return -EBADF;
	spare = malloc(sizeof(*spare));
	if (type != F_UNLCK)
		nfl = calloc(1, sizeof(*nfl));
	if (!spare || (type != F_UNLCK && !nfl)) {
		free(spare);
		free(nfl);
		return -ENOMEM;
	}
	if (nfl) {
		nfl->fl_file = o->file;
		nfl->fl_ofd = o->ofd;
		nfl->fl_owner = o->id;
		nfl->fl_pid = o->pid;
		nfl->fl_type = type;
		nfl->fl_start = start;
		nfl->fl_end = end;
	}
	if (!nfl && !posix_owns_any(ctx, o, start, end))
		goto out; /* nothing to unlock: no round trip (a FUSE close's unlock) */
	__atomic_store_n(&f->f_has_locks, true, __ATOMIC_RELAXED);
	for (;;) {
		if (c)
			mutex_lock(&ctx->plock);
		mutex_lock(&ctx->lock);
		if (c)
			plock_drop_lost(ctx, c);
		if (nfl && (conf = posix_conflict(ctx, o, type, start, end))) {
			/* An OFD lock's waiter, or a wait on one: no entry. */
			bool chain = !o->ofd && !conf->fl_ofd;
			struct posix_waiter pw = {
			    .ctx = ctx, .owner = o->id, .blocker = conf->fl_owner};

			seen = __atomic_load_n(&ctx->seq, __ATOMIC_ACQUIRE);
			pw.seen = seen;
			mutex_unlock(&ctx->lock);
			if (c)
				mutex_unlock(&ctx->plock);
			if (!wait) {
				err = -EAGAIN;
				goto out;
			}
			if (chain && (err = posix_wait_begin(t, &pw)))
				goto out;
			err = locks_wait(ctx, seen, true);
			if (chain)
				posix_wait_end(t, &pw);
			if (err)
				goto out;
			continue;
		}
		if (!c)
			break;
		err = plock_publish(ctx, c, f->f_inode, o, type, start, end, wait, &seq);
		if (!err)
			break;
		mutex_unlock(&ctx->plock);
		if (err != -EAGAIN || !wait)
			goto out;
		err = cluster_plock_wait(c, seq);
		if (err)
			goto out;
	}
	if (posix_apply(ctx, o, type, start, end, nfl, &spare)) {
		locks_wake(ctx);
		wake_up_all(&ctx->wait);
	}
	nfl = NULL;
	mutex_unlock(&ctx->lock);
	if (c)
		mutex_unlock(&ctx->plock);
out:
	free(spare);
	free(nfl);
	return err;
}

static int posix_lock(struct file *f, const struct lock_owner *o, int cmd, struct flock *fl)
{
	struct file_lock_context *ctx = file_ctx(f);
	int64_t start, end;
	int err;

	if (fl->l_type != F_RDLCK && fl->l_type != F_WRLCK && fl->l_type != F_UNLCK)
		return -EINVAL;
	if (!ctx)
		return -EINVAL;
	err = flock_to_range(f, fl, &start, &end);
	if (err)
		return err;
	if (cmd == F_GETLK) {
		if (fl->l_type == F_UNLCK)
			return -EINVAL;
		return posix_test(ctx, f, o, start, end, fl);
	}
	return posix_set(ctx, f, o, cmd == F_SETLKW, fl->l_type, start, end);
}

int locks_ofd(struct file *f, int cmd, struct flock *fl)
{
	struct lock_owner o = {.ofd = true, .file = f};

	if (fl->l_pid != 0)
		return -EINVAL; /* fcntl(2): l_pid must be 0 for OFD locks */
	switch (cmd) {
	case F_OFD_GETLK:
		return posix_lock(f, &o, F_GETLK, fl);
	case F_OFD_SETLK:
		return posix_lock(f, &o, F_SETLK, fl);
	case F_OFD_SETLKW:
		return posix_lock(f, &o, F_SETLKW, fl);
	}
	return -EINVAL;
}

int locks_posix(struct file *f, uint64_t owner, int cmd, struct flock *fl)
{
	struct lock_owner o = {.file = f, .id = owner, .pid = fl->l_pid};

	if (cmd != F_GETLK && cmd != F_SETLK && cmd != F_SETLKW)
		return -EINVAL;
	return posix_lock(f, &o, cmd, fl);
}

int posix_locks_fence(struct file *f)
{
	struct file_lock_context *ctx;
	struct file_lock *fl;
	struct cluster *c;

	if (__atomic_load_n(&f->f_locks_lost, __ATOMIC_ACQUIRE))
		return -EIO;
	ctx = f->f_inode ? file_ctx(f) : NULL;
	c = ctx ? posix_cluster(f) : NULL;
	/* (the common case, locks of this session or none: no lock taken) */
	if (!c || !plock_lost(ctx, c))
		return 0;
	/* Lost, but not dropped yet (no change of the file since the
	 * rejoin): a lock of ours set through @f is listed from then. */
	mutex_lock(&ctx->lock);
	if (plock_lost(ctx, c))
		list_for_each_entry (fl, &ctx->flc_posix, fl_list)
			if (fl->fl_file == f) {
				fence_file(f);
				break;
			}
	mutex_unlock(&ctx->lock);
	return __atomic_load_n(&f->f_locks_lost, __ATOMIC_ACQUIRE) ? -EIO : 0;
}

void posix_locks_remove_file(struct file *f)
{
	struct file_lock_context *ctx = file_ctx(f);
	struct cluster *c = posix_cluster(f);
	struct lock_owner none = {.ofd = true, .file = NULL};
	struct file_lock *fl, *tmp;
	bool released = false;
	uint64_t seq;

	if (c)
		mutex_lock(&ctx->plock);
	mutex_lock(&ctx->lock);
	if (c)
		plock_drop_lost(ctx, c); /* else the publish below would list them */
	list_for_each_entry_safe (fl, tmp, &ctx->flc_posix, fl_list)
		if (fl->fl_file == f) {
			list_del_init(&fl->fl_list);
			free(fl);
			released = true;
		}
	if (released) {
		locks_wake(ctx);
		/* The node's ranges without them (an owner that matches
		 * nothing: the list as it is now). */
		if (c && __atomic_load_n(&ctx->plock_published, __ATOMIC_RELAXED))
			plock_publish(ctx, c, f->f_inode, &none, F_UNLCK, 0, -1, false, &seq);
	}
	mutex_unlock(&ctx->lock);
	if (c)
		mutex_unlock(&ctx->plock);
	if (released)
		wake_up_all(&ctx->wait);
}

void posix_locks_forget(struct inode *inode)
{
	struct file_lock_context *ctx = &inode->i_flctx;
	struct cluster *c = inode->i_table->cluster;
	struct lm_lockname name = plock_name(inode);

	/* No file of the inode is left: the last one's publish (under plock,
	 * then its close through the table lock) happened before this read. */
	if (likely(!c) || !ctx->plock_entry)
		return;
	mutex_lock(&ctx->plock);
	/* An error leaves the entry to the session's end (-EIO: already gone). */
	cluster_plock_forget(c, &name);
	ctx->plock_entry = false;
	mutex_unlock(&ctx->plock);
}

/* SPDX-License-Identifier: MIT */
/*
 * fsck.c - vol_fsck(): replay the journal, read the superblock (or, when it
 * is damaged, the backup superblock), mount (without the free-space tree
 * when that is damaged), load the volume tolerantly (load.c reports every
 * broken invariant), and with repair apply what is safe - drop dangling or
 * mistyped directory entries and the entry closing a directory cycle, zero
 * unreadable inode records, recreate a root directory that is missing (its
 * inode-table block zeroed) or not a directory, relink unreachable inodes
 * into /lost+found (made if missing) as "#<ino>" like e2fsck, fix link counts, free orphans, give
 * each data extent sharing blocks with an owner that keeps them its own copy, rebuild free space
 * from what the inodes own, rewrite a damaged backup superblock - then commit it through the
 * journal like any change (a superblock rebuilt from the backup reaches block 0 that way), and
 * check again.
 *
 * Locking: none; the image's flock keeps a mounted store out (-EBUSY).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/vol/check.h"
#include "store/vol/vol.h"

TEST_SWITCH(vol_fsck_test_no_dup_repair);
TEST_SWITCH(vol_fsck_test_no_cycle_repair);

static void free_check(struct vs_check *ck)
{
	free(ck->drop);
	free(ck->lost.v);
	free(ck->clear.v);
	free(ck->copy);
	free(ck->refc);
}

/* A problem found here (not by load.c): report and count it. */
static void problem_line(struct vs_check *ck, const char *msg)
{
	ck->errors++;
	if (ck->report)
		fprintf(ck->report, "vol fsck: %s\n", msg + (strncmp(msg, "vol: ", 5) ? 0 : 5));
}

/* The first free inode slot above the root's, or 0. */
static uint64_t free_slot(struct vstore *vs)
{
	for (uint64_t i = vs->v->sb.root_ino + 1; i < vs->ninodes; i++)
		if (!vs->inodes[i])
			return i;
	return 0;
}

/* /lost+found, created (mode 0700, as e2fsck makes it) if the root has no
 * entry of that name; -EEXIST where the name is taken by a non-directory,
 * -ENOSPC without a free inode slot. */
static int lost_found(struct vstore *vs, struct vnode **out, FILE *report)
{
	struct vnode *root = vs->inodes[vs->v->sb.root_ino];
	static const char name[] = "lost+found";
	struct vdent *e = vdir_lookup(root->dir, name, sizeof(name) - 1);

	if (e) {
		struct vnode *lf = vs->inodes[e->ino];
		if (!lf || !lf->dir)
			return -EEXIST;
		*out = lf;
		return 0;
	}
	uint64_t ino = free_slot(vs);
	if (!ino)
		return -ENOSPC;
	struct vnode *lf = calloc(1, sizeof(*lf));
	if (!lf || !(lf->dir = vdir_new())) {
		free(lf);
		return -ENOMEM;
	}
	lf->ino = ino;
	lf->di.mode = S_IFDIR | 0700;
	lf->di.nlink = 2;
	/* a generation no handle has seen (node.c) */
	lf->di.generation = vs->v->sb.ino_gen_limit > 1 ? vs->v->sb.ino_gen_limit : 2;
	vs->v->sb.ino_gen_limit = lf->di.generation + 1;
	lf->di.next_cookie = 1;
	vs_now(&lf->di, true, true, true);
	lf->dir->parent = root->ino;
	int r = vdir_insert(root->dir, name, sizeof(name) - 1, ino, DT_DIR, root->di.next_cookie);
	if (r) {
		vnode_free(lf);
		return r;
	}
	root->di.next_cookie++;
	root->di.nlink++;
	root->map_dirty = true;
	vs_dirty(vs, root);
	vs_ino_mark(vs, ino);
	vs->inodes[ino] = lf;
	vs->inodes_used++;
	lf->map_dirty = true;
	vs_dirty(vs, lf);
	if (report)
		fprintf(report, "vol fsck: /lost+found created (inode %llu)\n",
			(unsigned long long)ino);
	*out = lf;
	return 0;
}

/* An unreachable inode gets the name /lost+found/#<ino>, as e2fsck names it. */
static int relink(struct vstore *vs, struct vnode *n, FILE *report)
{
	struct vnode *lf;
	char name[64];
	int r = lost_found(vs, &lf, report);
	if (r) {
		if (report)
			fprintf(report, "vol fsck: cannot make /lost+found: %s\n", strerror(-r));
		return r;
	}
	int len = snprintf(name, sizeof(name), "#%llu", (unsigned long long)n->ino);
	if (vdir_lookup(lf->dir, name, (size_t)len))
		return -EEXIST;
	r = vdir_insert(lf->dir, name, (size_t)len, n->ino, vol_dtype(n->di.mode),
			lf->di.next_cookie++);
	if (r)
		return r;
	lf->map_dirty = true;
	vs_dirty(vs, lf);
	if (n->dir) {
		uint32_t sub = 0;
		for (size_t i = 0; i < n->dir->onr; i++)
			if (n->dir->order[i].e && n->dir->order[i].e->type == DT_DIR)
				sub++;
		n->di.nlink = 2 + sub;
		n->dir->parent = lf->ino;
		lf->di.nlink++;
	} else {
		n->di.nlink = 1;
	}
	vs_dirty(vs, n);
	if (report)
		fprintf(report, "vol fsck: inode %llu relinked as /lost+found/%s\n",
			(unsigned long long)n->ino, name);
	return 0;
}

/* ---- free space ---- */

static int fext_cmp(const void *a, const void *b)
{
	const struct vol_fext *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

static int add_used(void *arg, uint64_t start, uint64_t len)
{
	return vblist_add(arg, start, len);
}

/* Free space = every data-area block no inode owns (after the repairs that
 * change ownership: dropped structures, evicted orphans; before the copies,
 * which allocate). The committed free tree's blocks stay out of it - the
 * commit frees them once the new tree is durable - unless an inode owns
 * them. Nothing is pending any more; the next commit rewrites the
 * free-space tree whole (vol_replace_free). */
static int rebuild_free(struct vstore *vs)
{
	struct vol *v = vs->v;
	struct vol_blist used = {0};
	struct vol_alloc a;
	int r = 0;

	vol_alloc_init(&a);
	for (uint64_t i = 1; !r && i < vs->ninodes; i++) {
		struct vnode *n = vs->inodes[i];
		if (!n)
			continue;
		struct vol_extmap_iter it;
		for (const struct vol_ext *e = vol_extmap_first(&n->map, &it); !r && e;
		     e = vol_extmap_next(&it))
			r = vblist_add(&used, e->pblk, e->len);
		if (!r)
			r = vs_for_each_meta(n, add_used, &used);
	}
	if (!r) /* the reference-count tree's committed nodes */
		r = vs_refc_for_each_meta(vs, add_used, &used);
	if (!r && used.nr)
		qsort(used.v, used.nr, sizeof(*used.v), fext_cmp);
	uint64_t at = v->sb.data_start, end = vol_data_end(&v->sb);
	for (size_t k = 0; !r && k <= used.nr; k++) {
		uint64_t s = k < used.nr ? used.v[k].start : end;
		if (s > end)
			s = end;
		if (s > at)
			r = vol_alloc_free(&a, at, s - at);
		if (k < used.nr && used.v[k].start + used.v[k].len > at)
			at = used.v[k].start + used.v[k].len;
	}
	/* the committed tree's blocks no inode owns: freed by the commit */
	struct vol_blist tree = {0};
	for (size_t k = 0; !r && k < v->tree.nr; k++)
		for (uint64_t b = v->tree.v[k].start;
		     !r && b < v->tree.v[k].start + v->tree.v[k].len; b++)
			if (vol_alloc_is_free(&a, b, 1)) {
				r = vol_alloc_take(&a, b, 1);
				if (!r)
					r = vblist_add(&tree, b, 1);
			}
	free(used.v);
	if (!r)
		r = vol_replace_free(v, &a, &tree);
	free(tree.v);
	vol_alloc_destroy(&a);
	return r;
}

/* ---- blocks owned twice ---- */

static int copy_cmp(const void *a, const void *b)
{
	const struct vs_copy *x = a, *y = b;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->lblk < y->lblk ? -1 : x->lblk > y->lblk;
}

/* File blocks [lblk, lblk + len) of n get blocks of their own holding the
 * same bytes; the shared ones stay with their other owner. */
static int copy_shared(struct vstore *vs, struct vnode *n, uint64_t lblk, uint64_t len,
		       FILE *report)
{
	struct vol *v = vs->v;
	const uint64_t chunk = 64;
	char *buf = malloc(chunk * VOL_BLOCK_SIZE);
	int r = buf ? 0 : -ENOMEM;

	for (uint64_t pos = lblk; !r && pos < lblk + len;) {
		struct vol_map m;
		uint64_t nb;
		vol_extmap_lookup(&n->map, pos, lblk + len - pos, &m);
		if (m.type == VOL_MAP_HOLE) {
			pos += m.len;
			continue;
		}
		int64_t g = vol_alloc_blocks(v, m.len < chunk ? m.len : chunk, UINT64_MAX, &nb);
		if (g < 0) {
			r = (int)g;
			break;
		}
		size_t bytes = (size_t)g * VOL_BLOCK_SIZE;
		r = vol_dev_pread(&v->dev, v->fd, buf, bytes, (off_t)(m.pblk * VOL_BLOCK_SIZE));
		if (!r)
			r = vol_dev_pwrite(&v->dev, v->fd, buf, bytes,
					   (off_t)(nb * VOL_BLOCK_SIZE));
		if (!r)
			r = vol_extmap_set(&n->map, pos, nb, (uint64_t)g,
					   m.type == VOL_MAP_UNWRITTEN ? VOL_EXT_UNWRITTEN : 0,
					   NULL, NULL);
		if (!r && report)
			fprintf(report,
				"vol fsck: inode %llu: file blocks %llu..%llu shared with another "
				"owner: copied from block %llu to %llu\n",
				(unsigned long long)n->ino, (unsigned long long)pos,
				(unsigned long long)(pos + (uint64_t)g - 1),
				(unsigned long long)m.pblk, (unsigned long long)nb);
		pos += (uint64_t)g;
	}
	free(buf);
	if (!r) {
		n->map_dirty = true;
		vs_dirty(vs, n);
	}
	return r;
}

static int copy_all(struct vstore *vs, struct vs_check *ck, FILE *report)
{
	int r = 0;
	if (ck->ncopy)
		qsort(ck->copy, ck->ncopy, sizeof(*ck->copy), copy_cmp);
	for (size_t i = 0; !r && i < ck->ncopy;) {
		/* merge overlapping ranges: a block is copied once */
		struct vs_copy c = ck->copy[i++];
		while (i < ck->ncopy && ck->copy[i].ino == c.ino &&
		       ck->copy[i].lblk <= c.lblk + c.len) {
			uint64_t e = ck->copy[i].lblk + ck->copy[i].len;
			if (e > c.lblk + c.len)
				c.len = e - c.lblk;
			i++;
		}
		if (vs->inodes[c.ino]) /* not an evicted orphan */
			r = copy_shared(vs, vs->inodes[c.ino], c.lblk, c.len, report);
	}
	return r;
}

static int write_backup(struct vol *v, FILE *report)
{
	char *blk = malloc(VOL_BLOCK_SIZE);
	if (!blk)
		return -ENOMEM;
	struct vol_super b = v->sb;
	b.feat_incompat &= ~VOL_FEAT_INCOMPAT_JCHAIN; /* the journal's state, not mkfs's */
	b.refc_root = 0; /* never kept current in the backup (as free_root) */
	b.shared_blocks = 0;
	vol_super_encode(&b, blk);
	int r = vol_dev_pwrite(&v->dev, v->fd, blk, VOL_BLOCK_SIZE,
			       (off_t)((v->sb.nblocks - 1) * VOL_BLOCK_SIZE));
	free(blk);
	if (!r && report)
		fprintf(report, "vol fsck: backup superblock rewritten\n");
	return r;
}

static int repair(struct vstore *vs, struct vs_check *ck, FILE *report)
{
	struct vol *v = vs->v;
	int r = 0;

	for (uint64_t i = 1; i < vs->ninodes; i++) /* changed while loading */
		if (vs->inodes[i] && (vs->inodes[i]->dirty || vs->inodes[i]->map_dirty))
			vs_dirty(vs, vs->inodes[i]);
	/* (the lists merge consecutive inode numbers into one range) */
	for (size_t i = 0; i < ck->clear.nr; i++)
		for (uint64_t k = 0; k < ck->clear.v[i].len; k++) {
			struct vnode fake = {.ino = ck->clear.v[i].start + k};
			vs_dirty(vs, &fake); /* the slot is rewritten as free */
		}
	for (size_t i = 0; i < ck->ndrop; i++) {
		struct vnode *d = vs->inodes[ck->drop[i].dir];
		if (!d || !d->dir)
			continue;
		size_t k = vdir_seek(d->dir, ck->drop[i].cookie);
		if (k < d->dir->onr && d->dir->order[k].e &&
		    d->dir->order[k].cookie == ck->drop[i].cookie) {
			vdir_remove(d->dir, d->dir->order[k].e);
			d->map_dirty = true;
			vs_dirty(vs, d);
		}
	}
	for (size_t i = 0; !r && i < ck->lost.nr; i++)
		for (uint64_t k = 0, ino; !r && k < ck->lost.v[i].len; k++)
			if (vs->inodes[ino = ck->lost.v[i].start + k])
				r = relink(vs, vs->inodes[ino], report);
	/* reference counts before anything drops a reference (orphans) */
	if (!r)
		r = vs_refc_repair(vs, ck);
	for (uint64_t i = 1; !r && i < vs->ninodes; i++)
		if (vs->inodes[i] && vs->inodes[i]->di.nlink == 0)
			vs_evict(vs, vs->inodes[i]); /* orphans */
	/* leaked blocks were never referenced by anything durable, blocks
	 * marked free but owned leave free space, a damaged free tree is
	 * replaced: all of it by rebuilding free space from ownership */
	if (!r)
		r = rebuild_free(vs);
	if (!r)
		r = copy_all(vs, ck, report);
	if (!r && ck->backup_bad)
		r = write_backup(v, report);
	if (!r) {
		/* force a new superblock free count even if no inode changed */
		struct vnode *root = vs->inodes[v->sb.root_ino];
		vs_dirty(vs, root);
		r = vs_commit(vs);
	}
	/* the repaired volume home and flushed (checkpoint.c defers it): the
	 * verifying pass reads the homes, without a replay */
	if (!r)
		r = vol_ckpt_write(v);
	if (!r)
		r = vol_dev_flush(&v->dev, v->fd);
	return r;
}

/* ---- the superblocks ---- */

/* The sequence of the last valid journal transaction of volume uuid (the
 * chain from journal_start), else 0. */
static uint64_t journal_seq(int fd, const struct vol_super *sb)
{
	uint64_t seq;
	return vol_journal_last_seq(fd, sb, &seq) ? 0 : seq;
}

/* The superblock to check with: 0 with *sb NULL (block 0 is fine), 0 with
 * *sb the backup's, made usable (no free tree: free space is rebuilt; a
 * generation above the backup's and the journal's), or -errno. */
static int pick_super(const char *image, struct vs_check *ck, struct vol_super *backup,
		      const struct vol_super **sb, const char **why)
{
	struct vol_super primary;
	*sb = NULL;
	int r = vol_read_super(image, &primary, why);
	if (r != -EUCLEAN && r != -EINVAL)
		return r;
	int fd = open(image, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return r;
	int b = vol_read_backup(fd, &primary, backup);
	if (!b) {
		uint64_t seq = journal_seq(fd, backup);
		problem_line(ck, *why);
		if (ck->report)
			fprintf(ck->report, "vol fsck: using the backup superblock (block %llu)\n",
				(unsigned long long)(backup->nblocks - 1));
		backup->generation = (seq > backup->generation ? seq : backup->generation) + 1;
		backup->free_root = 0;
		backup->free_blocks = 0;
		backup->refc_root = 0; /* stale as well: counts rebuilt or copies made */
		backup->shared_blocks = 0;
		ck->no_free_tree = true;
		*sb = backup;
		*why = NULL;
		r = 0;
	}
	close(fd);
	return r;
}

/* With a backup superblock: it must decode and agree on the geometry. */
static void check_backup(struct vol *v, struct vs_check *ck)
{
	const struct vol_super *sb = &v->sb;
	struct vol_super b;
	char *blk = malloc(VOL_BLOCK_SIZE);
	if (!blk || !(sb->feat_compat & VOL_FEAT_COMPAT_BACKUP_SB)) {
		free(blk);
		return;
	}
	if (vol_dev_pread(&v->dev, v->fd, blk, VOL_BLOCK_SIZE,
			  (off_t)((sb->nblocks - 1) * VOL_BLOCK_SIZE)) ||
	    vol_super_decode(&b, blk, NULL) || b.nblocks != sb->nblocks ||
	    b.feat_compat != sb->feat_compat ||
	    (b.feat_incompat ^ sb->feat_incompat) &
		~(VOL_FEAT_INCOMPAT_JCHAIN | VOL_FEAT_INCOMPAT_INODE_EXT |
		  VOL_FEAT_INCOMPAT_REFLINK) ||
	    b.journal_blocks != sb->journal_blocks || b.itable_blocks != sb->itable_blocks ||
	    b.data_start != sb->data_start || b.root_ino != sb->root_ino ||
	    memcmp(b.uuid, sb->uuid, 16)) {
		problem_line(ck, "vol: backup superblock damaged or disagrees with the superblock");
		ck->backup_bad = true;
	}
	free(blk);
}

/* One pass: 0 with ck filled, or -errno (why set) when the volume cannot be
 * loaded at all. */
static int check_once(const char *image, bool fix, FILE *report, unsigned long *errors,
		      unsigned long *unfixable)
{
	const char *why = NULL;
	struct vs_check ck = {.report = report};
	struct vs_check *ckp = &ck;
	struct vol_super backup;
	const struct vol_super *sb = NULL;
	struct vstore *vs = calloc(1, sizeof(*vs));
	int r = vs ? pick_super(image, ckp, &backup, &sb, &why) : -ENOMEM;

	if (!r) {
		r = vol_mount_opts(image, sb,
				   VOL_MOUNT_ANY_ROOT | (sb ? VOL_MOUNT_NO_FREE_TREE : 0), &vs->v,
				   &why);
		if (r == -EUCLEAN && !sb) {
			/* the superblock is fine: the free-space tree or free count
			 * is not - rebuild free space from ownership */
			problem_line(ckp, why);
			ck.no_free_tree = true;
			r = vol_mount_opts(image, NULL, VOL_MOUNT_ANY_ROOT | VOL_MOUNT_NO_FREE_TREE,
					   &vs->v, &why);
		}
	}
	if (!r) {
		pthread_mutex_init(&vs->lock, NULL);
		pthread_cond_init(&vs->thaw, NULL);
		vs->dio_fd = -1;
		vs->lock_fd = -1;
		if (!sb)
			check_backup(vs->v, ckp);
		r = vs_load_checked(vs, &ck, &why);
	}
	if (r && report)
		fprintf(report, "vol fsck: %s\n",
			why ? why + (strncmp(why, "vol: ", 5) ? 0 : 5) : strerror(-r));
	if (!r && fix && ck.errors) {
		pthread_mutex_lock(&vs->lock);
		r = repair(vs, &ck, report);
		pthread_mutex_unlock(&vs->lock);
		if (r && report)
			fprintf(report, "vol fsck: repair failed: %s\n", strerror(-r));
	}
	*errors = ck.errors;
	*unfixable = ck.unfixable;
	free_check(&ck);
	if (vs) {
		vs_free_nodes(vs);
		if (vs->v)
			vol_unmount(vs->v);
		if (vs->v) {
			pthread_mutex_destroy(&vs->lock);
			pthread_cond_destroy(&vs->thaw);
		}
		free(vs);
	}
	return r;
}

int vol_fsck(const char *image, bool repair_it, FILE *report)
{
	const char *why = NULL;
	unsigned long errors = 0, unfixable = 0;
	int fd, r;

	if (!image)
		return VOL_FSCK_FAILED;
	r = vol_lock_image(image, O_RDWR, &fd);
	if (r == -EACCES || r == -EROFS)
		r = vol_lock_image(image, O_RDONLY, &fd);
	if (r) {
		if (report)
			fprintf(report, "vol fsck: %s: %s\n", image,
				r == -EBUSY ? "in use (mounted)" : strerror(-r));
		return VOL_FSCK_FAILED;
	}
	r = vol_journal_replay(fd, &why);
	if (r) {
		if (report)
			fprintf(report, "vol fsck: %s\n", why ? why + 5 : strerror(-r));
		close(fd);
		return r == -EUCLEAN ? VOL_FSCK_UNREPAIRED : VOL_FSCK_FAILED;
	}
	r = check_once(image, repair_it, report, &errors, &unfixable);
	int ret;
	if (r == -EUCLEAN || r == -EINVAL || r == -EOPNOTSUPP)
		ret = VOL_FSCK_UNREPAIRED;
	else if (r)
		ret = VOL_FSCK_FAILED;
	else if (!errors)
		ret = VOL_FSCK_CLEAN;
	else if (!repair_it || unfixable)
		ret = VOL_FSCK_UNREPAIRED;
	else {
		/* verify the repair */
		unsigned long e2 = 0, u2 = 0;
		r = check_once(image, false, report, &e2, &u2);
		ret = !r && !e2 ? VOL_FSCK_REPAIRED : VOL_FSCK_UNREPAIRED;
		if (report && ret == VOL_FSCK_REPAIRED)
			fprintf(report, "vol fsck: %lu problem(s) repaired\n", errors);
	}
	close(fd);
	return ret;
}

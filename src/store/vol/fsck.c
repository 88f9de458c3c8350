/* SPDX-License-Identifier: MIT */
/*
 * fsck.c - vol_fsck(): replay the journal, load the volume tolerantly
 * (load.c reports every broken invariant), and with repair apply what is
 * safe - drop dangling or mistyped directory entries, zero unreadable inode
 * records, relink unreachable inodes into the root as "lost+found.<ino>",
 * fix link counts, free leaked blocks, take in-use blocks out of free
 * space, free orphans - then commit it through the journal like any
 * change, and check again.
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

static void free_check(struct vs_check *ck)
{
	free(ck->drop);
	free(ck->lost.v);
	free(ck->clear.v);
	free(ck->leak.v);
	free(ck->taken.v);
}

static int relink(struct vstore *vs, struct vnode *n, FILE *report)
{
	struct vnode *root = vs->inodes[vs->v->sb.root_ino];
	char name[64];
	int len = snprintf(name, sizeof(name), "lost+found.%llu", (unsigned long long)n->ino);
	if (vdir_lookup(root->dir, name, (size_t)len))
		return -EEXIST;
	int r = vdir_insert(root->dir, name, (size_t)len, n->ino,
			    S_ISDIR(n->di.mode)	  ? DT_DIR
			    : S_ISLNK(n->di.mode) ? DT_LNK
						  : DT_REG,
			    root->di.next_cookie++);
	if (r)
		return r;
	root->map_dirty = true;
	vs_dirty(vs, root);
	if (n->dir) {
		uint32_t sub = 0;
		for (size_t i = 0; i < n->dir->onr; i++)
			if (n->dir->order[i].e && n->dir->order[i].e->type == DT_DIR)
				sub++;
		n->di.nlink = 2 + sub;
		n->dir->parent = root->ino;
		root->di.nlink++;
	} else {
		n->di.nlink = 1;
	}
	vs_dirty(vs, n);
	if (report)
		fprintf(report, "vol fsck: inode %llu relinked as /%s\n",
			(unsigned long long)n->ino, name);
	return 0;
}

static int repair(struct vstore *vs, struct vs_check *ck, FILE *report)
{
	struct vol *v = vs->v;
	int r = 0;

	for (uint64_t i = 1; i < vs->ninodes; i++) /* changed while loading */
		if (vs->inodes[i] && (vs->inodes[i]->dirty || vs->inodes[i]->map_dirty))
			vs_dirty(vs, vs->inodes[i]);
	for (size_t i = 0; !r && i < ck->clear.nr; i++) {
		struct vnode fake = {.ino = ck->clear.v[i].start};
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
		if (vs->inodes[ck->lost.v[i].start])
			r = relink(vs, vs->inodes[ck->lost.v[i].start], report);
	for (uint64_t i = 1; !r && i < vs->ninodes; i++)
		if (vs->inodes[i] && vs->inodes[i]->di.nlink == 0)
			vs_evict(vs, vs->inodes[i]); /* orphans */
	/* the free set: leaked blocks were never referenced by anything durable */
	for (size_t i = 0; !r && i < ck->taken.nr; i++)
		r = vol_take_blocks(v, ck->taken.v[i].start, ck->taken.v[i].len);
	for (size_t i = 0; !r && i < ck->leak.nr; i++)
		r = vol_return_blocks(v, ck->leak.v[i].start, ck->leak.v[i].len);
	if (!r) /* evicted orphans */
		r = vol_pending_reuse(v);
	if (!r) {
		/* force a new superblock free count even if no inode changed */
		struct vnode *root = vs->inodes[v->sb.root_ino];
		vs_dirty(vs, root);
		r = vs_commit(vs);
	}
	return r;
}

/* One pass: 0 with ck filled, or -errno (why set) when the volume cannot be
 * loaded at all. */
static int check_once(const char *image, bool fix, FILE *report, unsigned long *errors,
		      unsigned long *unfixable)
{
	const char *why = NULL;
	struct vs_check ck = {.report = report};
	struct vstore *vs = calloc(1, sizeof(*vs));
	int r = vs ? vol_mount(image, &vs->v, &why) : -ENOMEM;

	if (!r) {
		pthread_mutex_init(&vs->lock, NULL);
		pthread_cond_init(&vs->thaw, NULL);
		vs->dio_fd = -1;
		vs->lock_fd = -1;
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

/* SPDX-License-Identifier: MIT */
/*
 * xattr.c - the vol store's extended attributes: each inode's are held in
 * memory (struct vxattr) and on disk in one block of their own (as ext4's
 * single xattr block: names and values up to VOL_XATTR_CAP bytes of records
 * in all, -ENOSPC beyond), named by the inode's xattr_blk. A commit writes a
 * changed set copy-on-write into a new block (none when the set is empty)
 * and the old block is freed once the commit is durable; eviction frees the
 * block with the inode's other metadata (vs_for_each_meta). Mount reads and
 * checks each block: magic, crc32c, owner, record layout (fsck drops a
 * damaged one). Names are kept with their namespace prefix; the namespaces
 * are Linux's (user., trusted., security., the two POSIX ACL names: others
 * -EOPNOTSUPP, an empty name after the prefix -EINVAL), and an ACL behaves
 * as the kernel's set_posix_acl: an empty value or removing an absent one
 * removes it without error.
 *
 * Locking: the ops take vs->lock (set/remove as changes: vs_lock_change);
 * the commit hooks run under it inside a commit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "store/vol/vstore.h"

static size_t rec_size(size_t nlen, size_t vlen)
{
	return sizeof(struct vol_xattr_rec) + nlen + vlen;
}

static ssize_t find(const struct vxattr *xa, const char *name)
{
	size_t nlen = strlen(name);
	for (size_t i = 0; i < xa->nr; i++)
		if (xa->e[i].nlen == nlen && memcmp(xa->e[i].name, name, nlen) == 0)
			return (ssize_t)i;
	return -1;
}

void vs_xattr_free(struct vxattr *xa)
{
	for (size_t i = 0; i < xa->nr; i++) {
		free(xa->e[i].name);
		free(xa->e[i].value);
	}
	free(xa->e);
	xa->e = NULL;
	xa->nr = xa->cap = xa->used = 0;
}

/* Appends a copy of (name, value): 0 or -ENOMEM, nothing changed then. */
static int xa_add(struct vxattr *xa, const char *name, size_t nlen, const void *value, size_t vlen)
{
	if (xa->nr == xa->cap) {
		size_t cap = xa->cap ? 2 * xa->cap : 4;
		struct vxent *e = realloc(xa->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		xa->e = e;
		xa->cap = cap;
	}
	struct vxent *x = &xa->e[xa->nr];
	x->name = malloc(nlen + 1);
	x->value = malloc(vlen ? vlen : 1);
	if (!x->name || !x->value) {
		free(x->name);
		free(x->value);
		return -ENOMEM;
	}
	memcpy(x->name, name, nlen);
	x->name[nlen] = '\0';
	if (vlen)
		memcpy(x->value, value, vlen);
	x->nlen = (uint8_t)nlen;
	x->vlen = (uint16_t)vlen;
	xa->nr++;
	xa->used += rec_size(nlen, vlen);
	return 0;
}

static void xa_del(struct vxattr *xa, size_t i)
{
	xa->used -= rec_size(xa->e[i].nlen, xa->e[i].vlen);
	free(xa->e[i].name);
	free(xa->e[i].value);
	memmove(&xa->e[i], &xa->e[i + 1], (xa->nr - i - 1) * sizeof(xa->e[0]));
	xa->nr--;
}

void vs_feature_inode_ext(struct vstore *vs)
{
	vs->v->sb.feat_incompat |= VOL_FEAT_INCOMPAT_INODE_EXT;
}

/* ---- names ---- */

static const char *const prefixes[] = {"user.", "trusted.", "security."};
static const char acl_access[] = "system.posix_acl_access";
static const char acl_default[] = "system.posix_acl_default";

static bool is_acl(const char *name)
{
	return !strcmp(name, acl_access) || !strcmp(name, acl_default);
}

/* The namespaces a Linux file system serves (fs/xattr.c's handlers): a
 * known prefix with an empty rest is -EINVAL, an unknown namespace
 * -EOPNOTSUPP. */
static int check_name(const char *name)
{
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t n = strlen(prefixes[i]);
		if (!strncmp(name, prefixes[i], n))
			return name[n] ? 0 : -EINVAL;
	}
	return is_acl(name) ? 0 : -EOPNOTSUPP;
}

/* ---- ops ---- */

static ssize_t vol_getxattr(struct store_node *sn, const char *name, void *buf, size_t size)
{
	struct vstore *vs = VS(sn->store);
	struct vxattr *xa = &VN_OF(sn)->xa;
	ssize_t r;

	int e = check_name(name);
	if (e)
		return e;
	pthread_mutex_lock(&vs->lock);
	ssize_t i = find(xa, name);
	if (i < 0) {
		r = -ENODATA;
	} else {
		r = xa->e[i].vlen;
		if (size && (size_t)r > size)
			r = -ERANGE;
		else if (size)
			memcpy(buf, xa->e[i].value, (size_t)r);
	}
	pthread_mutex_unlock(&vs->lock);
	return r;
}

static ssize_t vol_listxattr(struct store_node *sn, char *buf, size_t size)
{
	struct vstore *vs = VS(sn->store);
	struct vxattr *xa = &VN_OF(sn)->xa;
	size_t total = 0;

	pthread_mutex_lock(&vs->lock);
	for (size_t i = 0; i < xa->nr; i++)
		total += xa->e[i].nlen + 1u;
	ssize_t r = (ssize_t)total;
	if (size && total > size) {
		r = -ERANGE;
	} else if (size) {
		char *p = buf;
		for (size_t i = 0; i < xa->nr; i++) {
			memcpy(p, xa->e[i].name, xa->e[i].nlen + 1u);
			p += xa->e[i].nlen + 1u;
		}
	}
	pthread_mutex_unlock(&vs->lock);
	return r;
}

/*
 * The block the next commit writes for n's changed set is charged as a
 * reservation (vs->resv, held until that commit installs, as writeback's
 * consumed metadata is: reserve.c), so that the commit finds it: -ENOSPC
 * when no unreserved block is left even after a commit recovered the freed
 * ones (@must: set; a removal takes the charge only if there is room, the
 * commit reserve covers it otherwise, so a full volume still removes).
 */
TEST_SWITCH(vol_test_xattr_no_charge);

static int charge(struct vstore *vs, struct vnode *n, bool must)
{
	if (n->xa.dirty || vol_test_xattr_no_charge)
		return 0; /* charged already for this commit */
	if (must && vs_unreserved_avail(vs) < 1) {
		if (vs->v->pending.nr || vs->resv_held) {
			vs->resv_commits++;
			int r = vs_commit(vs);
			if (r)
				return r;
		}
		if (vs_unreserved_avail(vs) < 1)
			return -ENOSPC;
	}
	if (vs_unreserved_avail(vs) >= 1) {
		vs->resv++;
		vs->resv_held++;
	}
	return 0;
}

/* The set changed: the next commit writes it. */
static void changed(struct vstore *vs, struct vnode *n)
{
	n->xa.dirty = true;
	vs_now(&n->di, false, false, true);
	vs_feature_inode_ext(vs);
	vs_dirty(vs, n);
}

static int vol_removexattr(struct store_node *sn, const char *name);

static int vol_setxattr(struct store_node *sn, const char *name, const void *value, size_t size,
			int flags)
{
	struct vstore *vs = VS(sn->store);
	struct vnode *n = VN_OF(sn);
	struct vxattr *xa = &n->xa;
	size_t nlen = strlen(name);
	int r = check_name(name);

	if (r)
		return r;
	if (size == 0 && is_acl(name)) /* an empty ACL removes it (set_posix_acl) */
		return vol_removexattr(sn, name);
	vs_lock_change(vs);
	ssize_t i = find(xa, name);
	if (i >= 0 && (flags & XATTR_CREATE))
		r = -EEXIST;
	else if (i < 0 && (flags & XATTR_REPLACE))
		r = -ENODATA;
	if (!r) {
		size_t old = i >= 0 ? rec_size(xa->e[i].nlen, xa->e[i].vlen) : 0;
		if (xa->used - old + rec_size(nlen, size) > VOL_XATTR_CAP)
			r = -ENOSPC; /* the block is full (ext4 without ea_inode) */
	}
	if (!r)
		r = vs_ns_begin(vs, 1);
	if (!r)
		r = charge(vs, n, true);
	if (!r)
		r = xa_add(xa, name, nlen, value, size); /* before the old one goes */
	if (!r) {
		if (i >= 0)
			xa_del(xa, (size_t)i);
		changed(vs, n);
	}
	pthread_mutex_unlock(&vs->lock);
	return r;
}

static int vol_removexattr(struct store_node *sn, const char *name)
{
	struct vstore *vs = VS(sn->store);
	struct vnode *n = VN_OF(sn);
	int r = check_name(name);

	if (r)
		return r;
	vs_lock_change(vs);
	ssize_t i = find(&n->xa, name);
	/* removing an absent ACL is no error (the kernel's set_posix_acl(NULL)) */
	r = i < 0 ? (is_acl(name) ? 1 : -ENODATA) : vs_ns_begin(vs, 1);
	if (!r)
		r = charge(vs, n, false);
	if (!r) {
		xa_del(&n->xa, (size_t)i);
		changed(vs, n);
	}
	pthread_mutex_unlock(&vs->lock);
	return r > 0 ? 0 : r;
}

/* ---- the block ---- */

static void encode(const struct vnode *n, char *blk)
{
	struct vol_xattr_hdr h = {.magic = VOL_XATTR_MAGIC,
				  .owner = n->ino,
				  .nr = (uint32_t)n->xa.nr,
				  .used = (uint32_t)n->xa.used};
	char *p = blk + sizeof(h);

	memset(blk, 0, VOL_BLOCK_SIZE);
	for (size_t i = 0; i < n->xa.nr; i++) {
		const struct vxent *x = &n->xa.e[i];
		struct vol_xattr_rec rec = {.name_len = x->nlen, .value_len = x->vlen};
		memcpy(p, &rec, sizeof(rec));
		p += sizeof(rec);
		memcpy(p, x->name, x->nlen);
		p += x->nlen;
		memcpy(p, x->value, x->vlen);
		p += x->vlen;
	}
	memcpy(blk, &h, sizeof(h));
	h.crc = vol_crc32c(0, blk, VOL_BLOCK_SIZE);
	memcpy(blk, &h, sizeof(h));
}

int vs_xattr_load(struct vstore *vs, struct vnode *n, const char **bad)
{
	uint64_t b = n->di.xattr_blk;
	char *blk = malloc(VOL_BLOCK_SIZE);
	struct vol_xattr_hdr h;
	int r;

	n->xa.blk = b;
	if (!b) {
		free(blk);
		return 0;
	}
	if (!blk)
		return -ENOMEM;
	r = vol_dev_pread(&vs->v->dev, vs->v->fd, blk, VOL_BLOCK_SIZE, (off_t)(b * VOL_BLOCK_SIZE));
	if (r) {
		free(blk);
		*bad = "vol: cannot read an xattr block";
		return r;
	}
	memcpy(&h, blk, sizeof(h));
	uint32_t crc = h.crc;
	((struct vol_xattr_hdr *)blk)->crc = 0;
	r = -EUCLEAN;
	*bad = "vol: xattr block has a bad magic, checksum or owner";
	if (h.magic != VOL_XATTR_MAGIC || vol_crc32c(0, blk, VOL_BLOCK_SIZE) != crc ||
	    h.owner != n->ino)
		goto out;
	*bad = "vol: xattr block records damaged";
	if (h.used > VOL_XATTR_CAP || h.nr == 0)
		goto out;
	const char *p = blk + sizeof(h), *end = p + h.used;
	for (uint32_t k = 0; k < h.nr; k++) {
		struct vol_xattr_rec rec;
		if ((size_t)(end - p) < sizeof(rec))
			goto out;
		memcpy(&rec, p, sizeof(rec));
		p += sizeof(rec);
		if (rec.name_len == 0 || rec.pad ||
		    (size_t)(end - p) < rec.name_len + rec.value_len)
			goto out;
		char name[256];
		memcpy(name, p, rec.name_len);
		name[rec.name_len] = '\0';
		if (strlen(name) != rec.name_len || find(&n->xa, name) >= 0)
			goto out; /* a NUL in it, or twice */
		int e = xa_add(&n->xa, name, rec.name_len, p + rec.name_len, rec.value_len);
		if (e) {
			r = e;
			goto out;
		}
		p += rec.name_len + rec.value_len;
	}
	if (p != end)
		goto out;
	for (const char *q = end; q < blk + VOL_BLOCK_SIZE; q++)
		if (*q)
			goto out; /* bytes after the records */
	r = 0;
	*bad = NULL;
out:
	if (r)
		vs_xattr_free(&n->xa);
	free(blk);
	return r;
}

TEST_SWITCH(vol_test_xattr_in_place);

int vs_xattr_write(struct vstore *vs, struct vnode *n)
{
	uint64_t b;

	n->xa.new_blk = 0;
	if (!n->xa.dirty || n->xa.nr == 0)
		return 0;
	char *blk = malloc(VOL_BLOCK_SIZE);
	if (!blk)
		return -ENOMEM;
	if (vol_test_xattr_in_place && n->xa.blk) { /* the hazard: over the committed one */
		encode(n, blk);
		int r = vol_dev_pwrite(&vs->v->dev, vs->v->fd, blk, VOL_BLOCK_SIZE,
				       (off_t)(n->xa.blk * VOL_BLOCK_SIZE));
		if (!r)
			n->xa.new_blk = n->xa.blk;
		free(blk);
		return r;
	}
	int64_t g = vol_alloc_blocks(vs->v, 1, UINT64_MAX, &b);
	int r = g < 0 ? (int)g : 0;
	if (!r) {
		encode(n, blk);
		r = vol_meta_put(&vs->v->bd, b, blk);
		if (r)
			vol_return_blocks(vs->v, b, 1);
		else
			n->xa.new_blk = b;
	}
	free(blk);
	return r;
}

int vs_xattr_stage(struct vstore *vs, struct vnode *n)
{
	if (!n->xa.dirty || !n->xa.blk || n->xa.new_blk == n->xa.blk)
		return 0;
	return vblist_add(&vs->v->pending, n->xa.blk, 1);
}

void vs_xattr_undo(struct vstore *vs, struct vnode *n)
{
	if (n->xa.new_blk && n->xa.new_blk != n->xa.blk)
		vol_return_blocks(vs->v, n->xa.new_blk, 1);
	n->xa.new_blk = 0;
}

void vs_xattr_install(struct vnode *n)
{
	if (!n->xa.dirty)
		return;
	n->xa.blk = n->xa.new_blk;
	n->xa.new_blk = 0;
	n->di.xattr_blk = n->xa.blk;
	n->xa.dirty = false;
}

const struct store_ops vol_store_ops_xattr = {
    .getxattr = vol_getxattr,
    .setxattr = vol_setxattr,
    .listxattr = vol_listxattr,
    .removexattr = vol_removexattr,
};

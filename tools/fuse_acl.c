/* SPDX-License-Identifier: MIT */
/*
 * fuse_acl.c - POSIX ACLs through `pagecache mount`. With FUSE_CAP_POSIX_ACL
 * the kernel checks ACLs itself (default_permissions) and caches them, but
 * leaves to the server what Linux file systems do in fs/posix_acl.c: a new
 * object inherits its directory's default ACL, with the create mode masked
 * by it and the umask ignored (posix_acl_create; the kernel sends the umask
 * apart: DONT_MASK), a chmod rewrites the ACL's owner, mask (or group) and
 * other entries (posix_acl_chmod), and setting an access ACL sets the
 * mode's bits from it, storing no ACL where the mode says it all
 * (posix_acl_update_mode). ACLs are kept as the xattrs
 * "system.posix_acl_access" / "system.posix_acl_default" in the kernel's
 * format (a version 2 header, then { tag, perm, id } entries, little
 * endian, as given: the store keeps them opaquely).
 *
 * Locks: none of ours; engine calls only (docs/locking.md FUSE).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuse_server.h"

#define ACL_XATTR_VERSION 2
#define ACL_ACCESS	  "system.posix_acl_access"
#define ACL_DEFAULT	  "system.posix_acl_default"

enum {
	TAG_USER_OBJ = 1,
	TAG_USER = 2,
	TAG_GROUP_OBJ = 4,
	TAG_GROUP = 8,
	TAG_MASK = 16,
	TAG_OTHER = 32
};

struct acl_ent {
	uint16_t tag, perm;
	uint32_t id;
};

/* Reads xattr @name of @fd into a new buffer (*@out, free()): its length,
 * -ENODATA when absent, or another -errno. */
static ssize_t read_xattr(int fd, const char *name, void **out)
{
	for (int tries = 0; tries < 4; tries++) {
		ssize_t len = pc_getxattrat(pcfs.e, fd, "", name, NULL, 0, AT_EMPTY_PATH);
		if (len < 0)
			return len;
		void *buf = malloc(len ? (size_t)len : 1);
		if (!buf)
			return -ENOMEM;
		ssize_t got = pc_getxattrat(pcfs.e, fd, "", name, buf, (size_t)len, AT_EMPTY_PATH);
		if (got >= 0) {
			*out = buf;
			return got;
		}
		free(buf);
		if (got != -ERANGE) /* grew meanwhile: ask again */
			return got;
	}
	return -EAGAIN;
}

/* The entries of xattr value @v (@size bytes), in host order: their count
 * (into a new array *@out), or -EINVAL for a malformed value. */
static int acl_decode(const void *v, size_t size, struct acl_ent **out)
{
	const unsigned char *p = v;
	uint32_t ver;
	size_t n;

	if (size < 4 || (size - 4) % 8)
		return -EINVAL;
	memcpy(&ver, p, 4);
	if (le32toh(ver) != ACL_XATTR_VERSION)
		return -EINVAL;
	n = (size - 4) / 8;
	*out = calloc(n ? n : 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint16_t tag, perm;
		uint32_t id;
		memcpy(&tag, p + 4 + 8 * i, 2);
		memcpy(&perm, p + 6 + 8 * i, 2);
		memcpy(&id, p + 8 + 8 * i, 4);
		(*out)[i] = (struct acl_ent){le16toh(tag), le16toh(perm), le32toh(id)};
	}
	return (int)n;
}

static void acl_encode(const struct acl_ent *a, int n, unsigned char *p)
{
	uint32_t ver = htole32(ACL_XATTR_VERSION);

	memcpy(p, &ver, 4);
	for (int i = 0; i < n; i++) {
		uint16_t tag = htole16(a[i].tag), perm = htole16(a[i].perm);
		uint32_t id = htole32(a[i].id);
		memcpy(p + 4 + 8 * i, &tag, 2);
		memcpy(p + 6 + 8 * i, &perm, 2);
		memcpy(p + 8 + 8 * i, &id, 4);
	}
}

static int write_acl(int fd, const char *name, const struct acl_ent *a, int n)
{
	size_t size = 4 + 8 * (size_t)n;
	unsigned char *p = malloc(size);
	int ret;

	if (!p)
		return -ENOMEM;
	acl_encode(a, n, p);
	ret = pc_setxattrat(pcfs.e, fd, "", name, p, size, 0, AT_EMPTY_PATH);
	free(p);
	return ret;
}

/* posix_acl_equiv_mode: the permission bits @a gives; 0 if the mode says
 * as much as the ACL, 1 if not (named entries or a mask). */
static int equiv_mode(const struct acl_ent *a, int n, mode_t *mode)
{
	mode_t m = 0;
	int not_equiv = 0;

	for (int i = 0; i < n; i++) {
		switch (a[i].tag) {
		case TAG_USER_OBJ:
			m |= (a[i].perm & 7) << 6;
			break;
		case TAG_GROUP_OBJ:
			m |= (a[i].perm & 7) << 3;
			break;
		case TAG_OTHER:
			m |= a[i].perm & 7;
			break;
		case TAG_MASK:
			m = (m & ~(mode_t)070) | (a[i].perm & 7) << 3;
			not_equiv = 1;
			break;
		case TAG_USER:
		case TAG_GROUP:
			not_equiv = 1;
			break;
		default:
			return -EINVAL;
		}
	}
	*mode = (*mode & ~(mode_t)0777) | m;
	return not_equiv;
}

int acl_mode_of(const void *value, size_t size, mode_t *mode, bool *equiv)
{
	struct acl_ent *a;
	int n = acl_decode(value, size, &a), ret;

	if (n < 0)
		return n;
	ret = equiv_mode(a, n, mode);
	free(a);
	if (ret < 0)
		return ret;
	*equiv = ret == 0;
	return 0;
}

/* posix_acl_create_masq: masks @a by the create mode *@mode and *@mode by
 * @a; 1 if the result needs an ACL beyond the mode. */
static int create_masq(struct acl_ent *a, int n, mode_t *mode_p)
{
	struct acl_ent *group_obj = NULL, *mask_obj = NULL;
	mode_t mode = *mode_p;
	int not_equiv = 0;

	for (int i = 0; i < n; i++) {
		struct acl_ent *pa = &a[i];
		switch (pa->tag) {
		case TAG_USER_OBJ:
			pa->perm &= (mode >> 6) | ~(mode_t)S_IRWXO;
			mode &= (pa->perm << 6) | ~(mode_t)S_IRWXU;
			break;
		case TAG_USER:
		case TAG_GROUP:
			not_equiv = 1;
			break;
		case TAG_GROUP_OBJ:
			group_obj = pa;
			break;
		case TAG_OTHER:
			pa->perm &= mode | ~(mode_t)S_IRWXO;
			mode &= pa->perm | ~(mode_t)S_IRWXO;
			break;
		case TAG_MASK:
			mask_obj = pa;
			not_equiv = 1;
			break;
		default:
			return -EINVAL;
		}
	}
	if (mask_obj) {
		mask_obj->perm &= (mode >> 3) | ~(mode_t)S_IRWXO;
		mode &= (mask_obj->perm << 3) | ~(mode_t)S_IRWXG;
	} else if (group_obj) {
		group_obj->perm &= (mode >> 3) | ~(mode_t)S_IRWXO;
		mode &= (group_obj->perm << 3) | ~(mode_t)S_IRWXG;
	} else {
		return -EINVAL;
	}
	*mode_p = (*mode_p & ~(mode_t)0777) | mode;
	return not_equiv;
}

int acl_inherit(int dirfd, int fd, mode_t mode, mode_t umask, mode_t *final)
{
	void *v = NULL;
	struct acl_ent *a = NULL;
	ssize_t len;
	int n, ret;

	*final = mode & 07777;
	if (S_ISLNK(mode))
		return 0;
	len = read_xattr(dirfd, ACL_DEFAULT, &v);
	if (len == -ENODATA || len == -EOPNOTSUPP || len == 0) {
		free(v);
		*final &= ~umask;
		return 0;
	}
	if (len < 0)
		return (int)len;
	if (S_ISDIR(mode)) {
		ret = pc_setxattrat(pcfs.e, fd, "", ACL_DEFAULT, v, (size_t)len, 0, AT_EMPTY_PATH);
		if (ret) {
			free(v);
			return ret;
		}
	}
	n = acl_decode(v, (size_t)len, &a);
	free(v);
	if (n < 0)
		return n;
	mode_t m = mode & 07777;
	ret = create_masq(a, n, &m);
	if (ret > 0)
		ret = write_acl(fd, ACL_ACCESS, a, n);
	free(a);
	if (ret < 0)
		return ret;
	*final = m;
	return 0;
}

int acl_chmod(int fd, mode_t mode)
{
	struct acl_ent *a = NULL, *group_obj = NULL, *mask_obj = NULL;
	void *v = NULL;
	ssize_t len = read_xattr(fd, ACL_ACCESS, &v);
	int n, ret;

	if (len == -ENODATA || len == -EOPNOTSUPP || len == 0) {
		free(v);
		return 0;
	}
	if (len < 0)
		return (int)len;
	n = acl_decode(v, (size_t)len, &a);
	free(v);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		switch (a[i].tag) {
		case TAG_USER_OBJ:
			a[i].perm = (mode & S_IRWXU) >> 6;
			break;
		case TAG_GROUP_OBJ:
			group_obj = &a[i];
			break;
		case TAG_MASK:
			mask_obj = &a[i];
			break;
		case TAG_OTHER:
			a[i].perm = mode & S_IRWXO;
			break;
		}
	}
	if (mask_obj)
		mask_obj->perm = (mode & S_IRWXG) >> 3;
	else if (group_obj)
		group_obj->perm = (mode & S_IRWXG) >> 3;
	ret = write_acl(fd, ACL_ACCESS, a, n);
	free(a);
	return ret;
}

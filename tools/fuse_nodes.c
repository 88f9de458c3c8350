/* SPDX-License-Identifier: MIT */
/*
 * fuse_nodes.c - the FUSE node table (see fuse_nodes.h): nodes hashed by
 * (parent, name) for lookups, and cached-mode nodes hashed by store inode
 * number for invalidations.
 *
 * Locks: "nodes_lock" (pthread mutex, leaf) around everything here.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fuse_nodes.h"

#define NBUCKETS 4096

struct fd_ent {
	int fd;
	struct fd_ent *next;
};

struct node {
	struct node *parent; /* NULL: the root, or detached */
	char *name;
	uint64_t nlookup;
	unsigned nchildren; /* nodes whose parent this is */
	uint64_t ino;
	bool cached; /* opened in page-cache (mmap) mode: in the ino hash */
	bool hashed; /* in the child hash */
	bool stale;  /* its file changed behind this node's kernel page cache */
	struct node *cnext, *inext;
	struct node *anext, **aprev; /* every node (freed at nodes_destroy) */
	struct fd_ent *fds;
};

static pthread_mutex_t nodes_lock = PTHREAD_MUTEX_INITIALIZER;
static struct node *chash[NBUCKETS], *ihash[NBUCKETS];
static struct node root;
static struct node *all;

static unsigned hash_name(const struct node *p, const char *name)
{
	uint64_t h = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ull;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 0x100000001b3ull;
	return (unsigned)(h >> 40) % NBUCKETS;
}

static unsigned hash_ino(uint64_t ino)
{
	return (unsigned)((ino * 0x9e3779b97f4a7c15ull) >> 40) % NBUCKETS;
}

void nodes_init(uint64_t root_ino)
{
	memset(&root, 0, sizeof(root));
	root.name = (char *)"";
	root.nlookup = 1;
	root.ino = root_ino;
}

static void free_node(struct node *n)
{
	for (struct fd_ent *f = n->fds, *fn; f; f = fn) {
		fn = f->next;
		free(f);
	}
	*n->aprev = n->anext;
	if (n->anext)
		n->anext->aprev = n->aprev;
	free(n->name);
	free(n);
}

void nodes_destroy(void)
{
	pthread_mutex_lock(&nodes_lock);
	while (all)
		free_node(all);
	memset(chash, 0, sizeof(chash));
	memset(ihash, 0, sizeof(ihash));
	pthread_mutex_unlock(&nodes_lock);
}

struct node *node_of(uint64_t nodeid)
{
	return nodeid == 1 ? &root : (struct node *)(uintptr_t)nodeid;
}

uint64_t node_id(struct node *n)
{
	return n == &root ? 1 : (uint64_t)(uintptr_t)n;
}

uint64_t node_ino(struct node *n)
{
	pthread_mutex_lock(&nodes_lock);
	uint64_t ino = n->ino;
	pthread_mutex_unlock(&nodes_lock);
	return ino;
}

/* Under nodes_lock. */
static int build_path(struct node *n, char *buf, size_t size)
{
	size_t len = 0;
	struct node *p;

	/* measure, then fill from the end */
	for (p = n; p != &root; p = p->parent) {
		if (!p->parent)
			return -ENOENT; /* detached */
		len += strlen(p->name) + (p->parent != &root);
	}
	if (len + 1 > size)
		return -ENAMETOOLONG;
	buf[len] = '\0';
	for (p = n; p != &root; p = p->parent) {
		size_t l = strlen(p->name);
		len -= l;
		memcpy(buf + len, p->name, l);
		if (p->parent != &root)
			buf[--len] = '/';
	}
	return 0;
}

int node_path(struct node *n, char *buf, size_t size)
{
	pthread_mutex_lock(&nodes_lock);
	int ret = build_path(n, buf, size);
	pthread_mutex_unlock(&nodes_lock);
	return ret;
}

int node_child_path(struct node *parent, const char *name, char *buf, size_t size)
{
	int ret;
	size_t l, nl = strlen(name);

	pthread_mutex_lock(&nodes_lock);
	ret = build_path(parent, buf, size);
	pthread_mutex_unlock(&nodes_lock);
	if (ret)
		return ret;
	l = strlen(buf);
	if (l + !!l + nl + 1 > size)
		return -ENAMETOOLONG;
	if (l)
		buf[l++] = '/';
	memcpy(buf + l, name, nl + 1);
	return 0;
}

/* Under nodes_lock. */
static struct node *find_child(struct node *parent, const char *name)
{
	for (struct node *n = chash[hash_name(parent, name)]; n; n = n->cnext)
		if (n->parent == parent && !strcmp(n->name, name))
			return n;
	return NULL;
}

static void unhash_child(struct node *n)
{
	struct node **pp = &chash[hash_name(n->parent, n->name)];

	while (*pp != n)
		pp = &(*pp)->cnext;
	*pp = n->cnext;
	n->hashed = false;
}

static void hash_child(struct node *n)
{
	unsigned b = hash_name(n->parent, n->name);

	n->cnext = chash[b];
	chash[b] = n;
	n->hashed = true;
}

static void unhash_ino(struct node *n)
{
	struct node **pp = &ihash[hash_ino(n->ino)];

	while (*pp && *pp != n)
		pp = &(*pp)->inext;
	if (*pp)
		*pp = n->inext;
	n->cached = false;
}

/* Under nodes_lock: frees @n and then any parent it kept alone. */
static void maybe_free(struct node *n)
{
	while (n && n != &root && !n->nlookup && !n->nchildren) {
		struct node *parent = n->parent;

		if (n->hashed)
			unhash_child(n);
		if (n->cached)
			unhash_ino(n);
		free_node(n);
		if (!parent)
			break;
		parent->nchildren--;
		n = parent;
	}
}

/* Under nodes_lock: takes @n out of the tree. */
static void detach(struct node *n)
{
	struct node *parent = n->parent;

	if (!parent)
		return;
	unhash_child(n);
	n->parent = NULL;
	parent->nchildren--;
	maybe_free(parent);
}

struct node *node_lookup_add(struct node *parent, const char *name, uint64_t ino)
{
	struct node *n;

	pthread_mutex_lock(&nodes_lock);
	n = find_child(parent, name);
	if (n && n->ino != ino) {
		/* replaced behind the kernel's back (not through this mount) */
		detach(n);
		n = NULL;
	}
	if (!n) {
		n = calloc(1, sizeof(*n));
		if (n)
			n->name = strdup(name);
		if (!n || !n->name) {
			free(n);
			pthread_mutex_unlock(&nodes_lock);
			return NULL;
		}
		n->parent = parent;
		n->ino = ino;
		n->anext = all;
		n->aprev = &all;
		if (all)
			all->aprev = &n->anext;
		all = n;
		parent->nchildren++;
		hash_child(n);
	}
	n->nlookup++;
	pthread_mutex_unlock(&nodes_lock);
	return n;
}

void node_forget(struct node *n, uint64_t nlookup)
{
	if (n == &root)
		return;
	pthread_mutex_lock(&nodes_lock);
	n->nlookup = nlookup >= n->nlookup ? 0 : n->nlookup - nlookup;
	maybe_free(n);
	pthread_mutex_unlock(&nodes_lock);
}

void node_detach(struct node *parent, const char *name)
{
	pthread_mutex_lock(&nodes_lock);
	struct node *n = find_child(parent, name);
	if (n) {
		detach(n);
		maybe_free(n);
	}
	pthread_mutex_unlock(&nodes_lock);
}

/* Under nodes_lock: moves @n to (@np, @nname). */
static int move(struct node *n, struct node *np, const char *nname)
{
	char *name = strdup(nname);

	if (!name)
		return -ENOMEM;
	struct node *op = n->parent;
	unhash_child(n);
	free(n->name);
	n->name = name;
	n->parent = np;
	np->nchildren++;
	hash_child(n);
	op->nchildren--;
	return 0;
}

void node_rename(struct node *op, const char *oname, struct node *np, const char *nname,
		 unsigned flags)
{
	pthread_mutex_lock(&nodes_lock);
	struct node *a = find_child(op, oname), *b = find_child(np, nname);

	if (flags & 2 /* RENAME_EXCHANGE */) {
		if (a)
			unhash_child(a), a->parent->nchildren--, a->parent = NULL;
		if (b)
			unhash_child(b), b->parent->nchildren--, b->parent = NULL;
		if (a) {
			a->parent = op; /* reattach where move() expects it */
			op->nchildren++;
			hash_child(a);
			if (move(a, np, nname))
				detach(a);
		}
		if (b) {
			b->parent = np;
			np->nchildren++;
			hash_child(b);
			if (move(b, op, oname))
				detach(b);
		}
	} else {
		if (b && b != a) {
			detach(b);
			maybe_free(b);
		}
		if (a && move(a, np, nname))
			detach(a);
	}
	maybe_free(op);
	pthread_mutex_unlock(&nodes_lock);
}

void node_add_fd(struct node *n, int fd)
{
	struct fd_ent *f = malloc(sizeof(*f));

	if (!f)
		return; /* only getattr of an unlinked node needs it */
	f->fd = fd;
	pthread_mutex_lock(&nodes_lock);
	f->next = n->fds;
	n->fds = f;
	pthread_mutex_unlock(&nodes_lock);
}

void node_del_fd(struct node *n, int fd)
{
	struct fd_ent *f = NULL;

	pthread_mutex_lock(&nodes_lock);
	for (struct fd_ent **pp = &n->fds; *pp; pp = &(*pp)->next)
		if ((*pp)->fd == fd) {
			f = *pp;
			*pp = f->next;
			break;
		}
	pthread_mutex_unlock(&nodes_lock);
	free(f);
}

int node_any_fd(struct node *n)
{
	pthread_mutex_lock(&nodes_lock);
	int fd = n->fds ? n->fds->fd : -1;
	pthread_mutex_unlock(&nodes_lock);
	return fd;
}

void node_set_cached(struct node *n)
{
	pthread_mutex_lock(&nodes_lock);
	if (!n->cached && n != &root) {
		unsigned b = hash_ino(n->ino);
		n->inext = ihash[b];
		ihash[b] = n;
		n->cached = true;
	}
	pthread_mutex_unlock(&nodes_lock);
}

int node_aliases(uint64_t ino, struct node *self, uint64_t *ids, int max)
{
	int k = 0;

	pthread_mutex_lock(&nodes_lock);
	for (struct node *n = ihash[hash_ino(ino)]; n; n = n->inext) {
		if (n->ino != ino || n == self)
			continue;
		n->stale = true;
		if (k < max)
			ids[k++] = node_id(n);
	}
	pthread_mutex_unlock(&nodes_lock);
	return k;
}

void node_set_stale(struct node *n)
{
	pthread_mutex_lock(&nodes_lock);
	n->stale = true;
	pthread_mutex_unlock(&nodes_lock);
}

bool node_take_stale(struct node *n)
{
	pthread_mutex_lock(&nodes_lock);
	bool stale = n->stale;
	n->stale = false;
	pthread_mutex_unlock(&nodes_lock);
	return stale;
}

/* SPDX-License-Identifier: MIT */
/*
 * fuse_nodes.c - the FUSE node table (see fuse_nodes.h): nodes hashed by
 * (st_dev, st_ino) for lookups, matched there by the store generation too
 * in cluster mode (several nodes of one number may be in a chain: a dead
 * file's and the live one's), and by node id for requests (the kernel may
 * send the node id of an earlier mount: LOOKUP(id, ".") of a file handle).
 *
 * Locks: "nodes_lock" (pthread mutex, leaf) around everything here; the fd
 * of a node freed is closed (pc_close) after it is dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "fuse_nodes.h"
#include "pagecache.h"

#ifdef PC_TEST_SWITCHES
bool fuse_test_no_gen_key;
#endif

#define NBUCKETS 4096

struct node {
	uint64_t id; /* FUSE node id */
	dev_t dev;
	uint64_t ino;
	uint64_t gen;	  /* the FUSE entry generation */
	uint64_t key_gen; /* the store generation (cluster mode) */
	bool key_known;	  /* key_gen read: else the node matches any */
	mode_t type;
	int fd; /* engine fd, O_PATH */
	uint64_t nlookup;
	unsigned refs;		     /* requests using it */
	struct node *knext, *inext;  /* (dev, ino) hash; id hash */
	struct node *anext, **aprev; /* every node but the root */
};

static pthread_mutex_t nodes_lock = PTHREAD_MUTEX_INITIALIZER;
static struct node *khash[NBUCKETS], *ihash[NBUCKETS];
static struct node root;
static struct node *all;
static struct pc_engine *engine;
static bool export_ids;
static uint64_t next_id;   /* without export ids: node ids made here */
static uint64_t mount_gen; /* without export ids: every node's generation */
static uint64_t count;
static uint64_t nforeign; /* nodes of another device than the root's (mounts inside the store) */

static unsigned hash_key(dev_t dev, uint64_t ino)
{
	uint64_t h = (ino ^ ((uint64_t)dev << 32)) * 0x9e3779b97f4a7c15ull;
	return (unsigned)(h >> 40) % NBUCKETS;
}

static unsigned hash_id(uint64_t id)
{
	return (unsigned)((id * 0x9e3779b97f4a7c15ull) >> 40) % NBUCKETS;
}

bool nodes_export_ids(void)
{
	return export_ids;
}

/* Export ids: the root is FUSE_ROOT_ID (1); an inode numbered 1 that is
 * not the root takes the root's number (an involution). */
static uint64_t ino_to_id(uint64_t ino)
{
	if (ino == root.ino)
		return 1;
	return ino == 1 ? root.ino : ino;
}

uint64_t node_id_to_ino(uint64_t nodeid)
{
	return ino_to_id(nodeid);
}

int nodes_init(struct pc_engine *e, bool export)
{
	struct stat st;
	int fd, ret;

	engine = e;
	export_ids = export;
	fd = pc_openat(e, PC_AT_ROOT, "/", O_PATH | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	ret = pc_fstatat(e, fd, "", &st, AT_EMPTY_PATH);
	if (ret) {
		pc_close(e, fd);
		return ret;
	}
	memset(&root, 0, sizeof(root));
	root.id = 1;
	root.dev = st.st_dev;
	root.ino = st.st_ino;
	root.type = S_IFDIR;
	root.fd = fd;
	root.nlookup = 1;
	/* ids made here restart at every mount: a generation of this mount
	 * keeps a file handle of an earlier one from naming a new node */
	next_id = 1;
	if (getrandom(&mount_gen, sizeof(mount_gen), 0) != sizeof(mount_gen))
		mount_gen = (uint64_t)time(NULL);
	mount_gen = (mount_gen & 0xffffffffu) | 1; /* the kernel keeps 32 bits */
	root.gen = 0; /* the kernel's root inode has 0: another marks it bad */
	khash[hash_key(root.dev, root.ino)] = &root;
	count = 1;
	return 0;
}

void nodes_destroy(void)
{
	pthread_mutex_lock(&nodes_lock);
	while (all) {
		struct node *n = all;
		all = n->anext;
		pc_close(engine, n->fd);
		free(n);
	}
	memset(khash, 0, sizeof(khash));
	memset(ihash, 0, sizeof(ihash));
	pthread_mutex_unlock(&nodes_lock);
	if (root.fd >= 0)
		pc_close(engine, root.fd);
	root.fd = -1;
	count = 0;
	nforeign = 0;
}

uint64_t node_id(const struct node *n)
{
	return n->id;
}

int node_fd(const struct node *n)
{
	return n->fd;
}

uint64_t node_gen(const struct node *n)
{
	return n->gen;
}

mode_t node_type(const struct node *n)
{
	return n->type;
}

uint64_t nodes_count(void)
{
	pthread_mutex_lock(&nodes_lock);
	uint64_t c = count;
	pthread_mutex_unlock(&nodes_lock);
	return c;
}

/* Under nodes_lock. */
static struct node *find_id(uint64_t id)
{
	for (struct node *n = ihash[hash_id(id)]; n; n = n->inext)
		if (n->id == id)
			return n;
	return NULL;
}

struct node *node_get(uint64_t nodeid)
{
	struct node *n;

	pthread_mutex_lock(&nodes_lock);
	if (nodeid == 1)
		n = &root;
	else
		n = find_id(nodeid);
	if (n)
		n->refs++;
	pthread_mutex_unlock(&nodes_lock);
	return n;
}

/* Under nodes_lock: unhashes @n if nothing holds it; true if the caller
 * must free it (pc_close of its fd after the lock). */
static bool unhash_unused(struct node *n)
{
	struct node **pp;

	if (n == &root || n->nlookup || n->refs)
		return false;
	for (pp = &khash[hash_key(n->dev, n->ino)]; *pp != n; pp = &(*pp)->knext)
		;
	*pp = n->knext;
	for (pp = &ihash[hash_id(n->id)]; *pp != n; pp = &(*pp)->inext)
		;
	*pp = n->inext;
	*n->aprev = n->anext;
	if (n->anext)
		n->anext->aprev = n->aprev;
	count--;
	if (n->dev != root.dev)
		nforeign--;
	return true;
}

static void free_node(struct node *n)
{
	pc_close(engine, n->fd);
	free(n);
}

void node_put(struct node *n)
{
	pthread_mutex_lock(&nodes_lock);
	n->refs--;
	bool dead = unhash_unused(n);
	pthread_mutex_unlock(&nodes_lock);
	if (dead)
		free_node(n);
}

/* Under nodes_lock: whether node @n is the object of (@st, @key). One of
 * another known store generation is a dead file whose number the host gave
 * to a new one; an unknown generation on either side matches (the number
 * alone, as without cluster mode). */
static bool node_matches(const struct node *n, const struct stat *st, const uint64_t *key)
{
	if (n->dev != st->st_dev || n->ino != st->st_ino)
		return false;
	return !key || !n->key_known || n->key_gen == *key || fuse_test_no_gen_key;
}

struct node *node_insert(int fd, const struct stat *st, uint64_t gen, const uint64_t *key)
{
	struct node *n, *fresh = calloc(1, sizeof(*fresh));

	if (export_ids)
		key = NULL; /* the node id is the number: one node per number */
	pthread_mutex_lock(&nodes_lock);
	/* newest first (added at the head): a wildcard lookup takes the
	 * number's newest node, the one of the name's file if it has one */
	for (n = khash[hash_key(st->st_dev, st->st_ino)]; n; n = n->knext)
		if (node_matches(n, st, key))
			break;
	if (!n && fresh) {
		n = fresh;
		fresh = NULL;
		n->dev = st->st_dev;
		n->ino = st->st_ino;
		n->type = st->st_mode & S_IFMT;
		n->key_known = key != NULL;
		n->key_gen = key ? *key : 0;
		n->fd = fd;
		fd = -1;
		if (export_ids) {
			n->id = ino_to_id(st->st_ino);
			n->gen = gen;
		} else {
			n->id = ++next_id;
			n->gen = mount_gen;
		}
		unsigned b = hash_id(n->id);
		n->inext = ihash[b];
		ihash[b] = n;
		b = hash_key(n->dev, n->ino);
		n->knext = khash[b];
		khash[b] = n;
		n->anext = all;
		n->aprev = &all;
		if (all)
			all->aprev = &n->anext;
		all = n;
		count++;
		if (n->dev != root.dev)
			nforeign++;
	}
	if (n) {
		n->nlookup++;
		n->refs++;
	}
	pthread_mutex_unlock(&nodes_lock);
	free(fresh);
	if (fd >= 0)
		pc_close(engine, fd);
	return n;
}

void node_forget(uint64_t nodeid, uint64_t nlookup)
{
	struct node *n;
	bool dead = false;

	if (nodeid == 1)
		return;
	pthread_mutex_lock(&nodes_lock);
	n = find_id(nodeid);
	if (n) {
		n->nlookup = nlookup >= n->nlookup ? 0 : n->nlookup - nlookup;
		dead = unhash_unused(n);
	}
	pthread_mutex_unlock(&nodes_lock);
	if (dead)
		free_node(n);
}

size_t nodes_find_ino(uint64_t ino, uint64_t *ids, size_t max)
{
	size_t found = 0;

	pthread_mutex_lock(&nodes_lock);
	if (ino == root.ino) {
		if (max)
			ids[0] = 1;
		found = 1;
	} else if (!nforeign) {
		/* every node is on the root's device: the number's hash chain */
		for (struct node *n = khash[hash_key(root.dev, ino)]; n; n = n->knext)
			if (n->ino == ino && n != &root) {
				if (found < max)
					ids[found] = n->id;
				found++;
			}
	} else {
		for (struct node *n = all; n; n = n->anext)
			if (n->ino == ino) {
				if (found < max)
					ids[found] = n->id;
				found++;
			}
	}
	pthread_mutex_unlock(&nodes_lock);
	return found;
}

/* SPDX-License-Identifier: MIT */
/*
 * test_fuse_nodes.c - the FUSE server's node table (tools/fuse_nodes.c)
 * with two objects of one (dev, ino), as in cluster mode when the host gives
 * the number of a file another node unlinked to a new one (docs/cluster.md,
 * "File identity", the FUSE mount): two store generations get two nodes and
 * two node ids; FORGET of either leaves the other, found by its id and by
 * the number; nodes_find_ino (the invalidation hook's way to the kernel
 * inodes) names both; a lookup whose generation is unknown takes the
 * number's newest node, and a node inserted without one matches any.
 * fuse_test_no_gen_key (the generation left out of the key): the second
 * object's lookup finds the first one's node - one node id for both, the
 * hazard. Each case prints what it saw, with and without the switch.
 *
 * The stat passed is made up (one number for two real files); each node
 * keeps a real engine O_PATH fd, closed by the table.
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuse_nodes.h"
#include "harness.h"
#include "pagecache.h"

#define INO 777777

static char dir[1024];
static struct pc_engine *e;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rm_dir(void)
{
	if (dir[0])
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh engine on an empty directory with files f0..f3, and the table. */
static void setup(void)
{
	const char *t = getenv("TMPDIR");
	struct pc_options o = PC_OPTIONS_INIT;

	fuse_test_no_gen_key = false;
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "%s/pc-fuse-nodes-XXXXXX", t && *t ? t : "/tmp");
		CHECK(mkdtemp(dir) != NULL);
		atexit(rm_dir);
	}
	o.store_dir = dir;
	CHECK_EQ(pc_engine_open(&o, &e), 0);
	for (int i = 0; i < 4; i++) {
		char name[8];
		snprintf(name, sizeof(name), "f%d", i);
		int fd = pc_openat(e, PC_AT_ROOT, name, O_CREAT | O_WRONLY, 0644);
		CHECK(fd >= 0);
		CHECK_EQ(pc_close(e, fd), 0);
	}
	CHECK_EQ(nodes_init(e, false), 0);
}

static void teardown(void)
{
	nodes_destroy();
	CHECK_EQ(pc_engine_close(e), 0);
	e = NULL;
	fuse_test_no_gen_key = false;
}

/* An engine O_PATH fd of file f@i (the node's, or closed by node_insert). */
static int path_fd(int i)
{
	char name[8];

	snprintf(name, sizeof(name), "f%d", i);
	int fd = pc_openat(e, PC_AT_ROOT, name, O_PATH, 0);
	CHECK(fd >= 0);
	return fd;
}

static struct stat number(void)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_dev = 0x4242;
	st.st_ino = INO;
	st.st_mode = S_IFREG | 0644;
	return st;
}

/* Whether the node's fd still answers (the table did not close it). */
static bool fd_alive(const struct node *n)
{
	struct stat st;
	return pc_fstatat(e, node_fd(n), "", &st, AT_EMPTY_PATH) == 0;
}

/* F (generation 1) looked up; then G (generation 2) of the same number.
 * Returns the nodes (a lookup each, no references left). */
static void insert_f_g(struct node **f, struct node **g)
{
	struct stat st = number();
	uint64_t gf = 1, gg = 2;

	*f = node_insert(path_fd(0), &st, 0, &gf);
	CHECK(*f != NULL);
	node_put(*f);
	*g = node_insert(path_fd(1), &st, 0, &gg);
	CHECK(*g != NULL);
	node_put(*g);
}

TEST(two_generations_two_nodes)
{
	struct node *f, *g;
	uint64_t ids[4];

	setup();
	insert_f_g(&f, &g);
	printf("# generation key on: F's node id %llu, G's %llu, %llu nodes\n",
	       (unsigned long long)node_id(f), (unsigned long long)node_id(g),
	       (unsigned long long)nodes_count());
	CHECK(f != g);
	CHECK(node_id(f) != node_id(g));
	CHECK_EQ(nodes_count(), 3); /* root, F, G */
	/* both found by id */
	CHECK(node_get(node_id(f)) == f);
	node_put(f);
	CHECK(node_get(node_id(g)) == g);
	node_put(g);
	/* a second lookup of G (another name of it: a hard link) is G's node,
	 * the fd it brought closed */
	struct stat st = number();
	uint64_t gg = 2;
	CHECK(node_insert(path_fd(2), &st, 0, &gg) == g);
	node_put(g);
	CHECK_EQ(nodes_count(), 3);
	/* the hook's lookup by number names both */
	CHECK_EQ(nodes_find_ino(INO, ids, 4), 2);
	CHECK((ids[0] == node_id(f) && ids[1] == node_id(g)) ||
	      (ids[0] == node_id(g) && ids[1] == node_id(f)));
	CHECK_EQ(nodes_find_ino(INO, ids, 1), 2); /* the count, past the room */
	teardown();
}

/* The hook's lookup by number: on the root's device it searches the
 * number's hash chain; once a node of another device is in the table (a
 * mount inside the store) every node. Both find every node of the number. */
TEST(find_ino_by_hash_and_by_walk)
{
	struct stat root_st, st;
	uint64_t g1 = 1, g2 = 2, g3 = 3, ids[4];
	struct node *a, *b, *c;

	setup();
	CHECK_EQ(pc_fstatat(e, PC_AT_ROOT, "", &root_st, AT_EMPTY_PATH), 0);
	memset(&st, 0, sizeof(st));
	st.st_dev = root_st.st_dev;
	st.st_ino = INO;
	st.st_mode = S_IFREG | 0644;
	a = node_insert(path_fd(0), &st, 0, &g1);
	b = node_insert(path_fd(1), &st, 0, &g2);
	CHECK(a && b && a != b);
	node_put(a);
	node_put(b);
	CHECK_EQ(nodes_find_ino(INO, ids, 4), 2);
	CHECK_EQ(nodes_find_ino(INO + 1, ids, 4), 0);
	st.st_dev = root_st.st_dev + 1; /* another device, the same number */
	c = node_insert(path_fd(2), &st, 0, &g3);
	CHECK(c != NULL);
	node_put(c);
	CHECK_EQ(nodes_find_ino(INO, ids, 4), 3);
	node_forget(node_id(c), 1);
	CHECK_EQ(nodes_find_ino(INO, ids, 4), 2);
	printf("# number %llu: 2 nodes found through its hash chain, 3 by the walk with a node "
	       "of another device\n",
	       (unsigned long long)INO);
	teardown();
}

TEST(two_generations_switch_off_one_node)
{
	struct node *f, *g;

	setup();
	fuse_test_no_gen_key = true;
	insert_f_g(&f, &g);
	printf("# fuse_test_no_gen_key: F's node id %llu, G's %llu, %llu nodes\n",
	       (unsigned long long)node_id(f), (unsigned long long)node_id(g),
	       (unsigned long long)nodes_count());
	CHECK(f == g); /* the hazard: G's lookup found F's node */
	CHECK_EQ(nodes_count(), 2);
	teardown();
}

/* FORGET of one node of the number leaves the other: @first is forgotten
 * first (F, the older, or G, the newer: the head of the hash chain or the
 * one behind it). */
static void forget_one(bool older_first)
{
	struct node *f, *g, *gone, *left;
	uint64_t ids[4];

	setup();
	insert_f_g(&f, &g);
	gone = older_first ? f : g;
	left = older_first ? g : f;
	uint64_t gone_id = node_id(gone), left_id = node_id(left);
	node_forget(gone_id, 1);
	CHECK(node_get(gone_id) == NULL);
	CHECK(node_get(left_id) == left);
	CHECK(fd_alive(left));
	node_put(left);
	CHECK_EQ(nodes_count(), 2);
	CHECK_EQ(nodes_find_ino(INO, ids, 4), 1);
	CHECK_EQ(ids[0], left_id);
	/* a lookup of the one left, by its generation, is still its node */
	struct stat st = number();
	uint64_t key = older_first ? 2 : 1;
	CHECK(node_insert(path_fd(3), &st, 0, &key) == left);
	node_put(left);
	node_forget(left_id, 2);
	CHECK_EQ(nodes_count(), 1);
	CHECK_EQ(nodes_find_ino(INO, ids, 4), 0);
	printf("# forget of %s (id %llu): %s (id %llu) left, then gone too\n",
	       older_first ? "F" : "G", (unsigned long long)gone_id, older_first ? "G" : "F",
	       (unsigned long long)left_id);
	teardown();
}

TEST(forget_older_leaves_newer)
{
	forget_one(true);
}

TEST(forget_newer_leaves_older)
{
	forget_one(false);
}

/* A generation unknown (a special file, no access: pc_fgetgen failed) keys
 * by the number alone: such a lookup takes the number's newest node, and a
 * node made without one is taken by any lookup of the number. */
TEST(unknown_generation)
{
	struct node *f, *g, *n;
	struct stat st = number();
	uint64_t k = 9;

	setup();
	insert_f_g(&f, &g);
	n = node_insert(path_fd(2), &st, 0, NULL);
	CHECK(n == g); /* the newest */
	node_put(n);
	node_forget(node_id(g), 2);
	node_forget(node_id(f), 1);
	CHECK_EQ(nodes_count(), 1);
	n = node_insert(path_fd(0), &st, 0, NULL);
	CHECK(node_insert(path_fd(1), &st, 0, &k) == n);
	node_put(n);
	node_put(n);
	CHECK_EQ(nodes_count(), 2);
	teardown();
}

/* Export ids (the vol store, never in cluster mode): the node id is the
 * number, so one node per number whatever the key. */
TEST(export_ids_one_node_per_number)
{
	struct node *f, *g;

	setup();
	nodes_destroy();
	CHECK_EQ(nodes_init(e, true), 0);
	insert_f_g(&f, &g);
	CHECK(f == g);
	CHECK_EQ(node_id(f), INO);
	teardown();
}

/* SPDX-License-Identifier: MIT */
/*
 * test_dlopen.c - libpagecache loaded by dlopen into a process that was not
 * linked with it (a language binding, a plugin host): the library's
 * thread-local data includes initial-exec variables (kernel/compiler.h
 * __thread_hot), whose whole TLS block glibc must then place in its spare
 * static TLS; a block too large makes dlopen fail ("cannot allocate memory
 * in static TLS block"). Loads the shared library named on the command
 * line, then writes and reads a file through it from the main thread and
 * from a thread started after the load, and unloads it. TAP.
 *
 * Locks: none of its own.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pagecache.h"

static int (*p_engine_open)(const struct pc_options *, struct pc_engine **);
static int (*p_engine_close)(struct pc_engine *);
static int (*p_open)(struct pc_engine *, const char *, int, ...);
static ssize_t (*p_pwrite)(struct pc_engine *, int, const void *, size_t, off_t);
static ssize_t (*p_pread)(struct pc_engine *, int, void *, size_t, off_t);
static int (*p_close)(struct pc_engine *, int);
static const char *(*p_cluster_error)(void);
static struct pc_engine *engine;
static int nt;

static void ok(int cond, const char *what)
{
	printf("%sok %d - %s\n", cond ? "" : "not ", ++nt, what);
	if (!cond)
		exit(1);
}

static void *roundtrip(void *name)
{
	char out[8192], in[8192];
	int fd = p_open(engine, name, O_RDWR | O_CREAT, 0644);

	memset(out, *(const char *)name, sizeof(out));
	if (fd < 0 || p_pwrite(engine, fd, out, sizeof(out), 4096) != (ssize_t)sizeof(out) ||
	    p_pread(engine, fd, in, sizeof(in), 4096) != (ssize_t)sizeof(in) ||
	    memcmp(in, out, sizeof(in)) || p_close(engine, fd))
		return NULL;
	return name;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/pc-dlopen-XXXXXX";
	pthread_t t;
	void *h, *r;

	if (argc != 2) {
		fprintf(stderr, "usage: test_dlopen LIBPAGECACHE.so\n");
		return 2;
	}
	h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h)
		printf("# dlopen: %s\n", dlerror());
	ok(h != NULL, "dlopen of the shared library");
	p_engine_open =
	    (int (*)(const struct pc_options *, struct pc_engine **))dlsym(h, "pc_engine_open");
	p_engine_close = (int (*)(struct pc_engine *))dlsym(h, "pc_engine_close");
	p_open = (int (*)(struct pc_engine *, const char *, int, ...))dlsym(h, "pc_open");
	p_pwrite =
	    (ssize_t(*)(struct pc_engine *, int, const void *, size_t, off_t))dlsym(h, "pc_pwrite");
	p_pread = (ssize_t(*)(struct pc_engine *, int, void *, size_t, off_t))dlsym(h, "pc_pread");
	p_close = (int (*)(struct pc_engine *, int))dlsym(h, "pc_close");
	p_cluster_error = (const char *(*)(void))dlsym(h, "pc_cluster_error");
	ok(p_engine_open && p_engine_close && p_open && p_pwrite && p_pread && p_close &&
	       p_cluster_error,
	   "the calls resolve");
	ok(mkdtemp(dir) != NULL, "a store directory");
	struct pc_options o = {.size = sizeof(o), .store_dir = dir};
	ok(p_engine_open(&o, &engine) == 0, "pc_engine_open");
	ok(roundtrip("a") != NULL, "write and read back from the main thread");
	ok(pthread_create(&t, NULL, roundtrip, "b") == 0 && pthread_join(t, &r) == 0 && r != NULL,
	   "write and read back from a thread started after the load");
	struct pc_options bad = {.size = sizeof(bad), .store_image = dir, .cluster = "zk://x:1/p"};
	struct pc_engine *e2 = NULL;
	ok(p_engine_open(&bad, &e2) < 0 && strlen(p_cluster_error()) > 0,
	   "a refused cluster mount says why (the per-thread message buffer)");
	ok(p_engine_close(engine) == 0, "pc_engine_close");
	ok(dlclose(h) == 0, "dlclose");
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		return 1;
	printf("1..%d\n", nt);
	return 0;
}

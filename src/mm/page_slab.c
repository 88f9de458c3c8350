/* SPDX-License-Identifier: MIT */
/*
 * page_slab.c - where struct page objects come from: a slab of 48-byte
 * objects carved from 1 MiB anonymous chunks, with a small free list per
 * thread in front of one shared depot, as the kernel's slab keeps per-CPU
 * caches in front of its nodes. A cached page then costs its struct page and
 * nothing more (malloc gave each one a 16-byte header and rounded it to 64
 * bytes), which with the index leaves keeps the metadata of a cached page
 * under the kernel's 64 bytes.
 *
 * Chunks are never returned to the system: like the kernel's memmap, the
 * page structures of the largest cache a process ever held stay allocated
 * (48 bytes per 4 KiB of that peak, 1.2%) and are reused.
 *
 * Sanitizer builds take each object from calloc instead, so AddressSanitizer
 * still sees a use of a freed page.
 *
 * Locks: the depot is guarded by a pthread mutex, a leaf taken for a few
 * list operations (and the mmap of a new chunk) with no other lock inside and
 * no scheduling point: invisible to the validator and to the deterministic
 * scheduler, like the raw spinlocks. The per-thread lists take no lock.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kernel/compiler.h"
#include "mm/page.h"

#if defined(__SANITIZE_ADDRESS__)
#define PAGE_SLAB_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PAGE_SLAB_MALLOC 1
#endif
#endif

#ifndef PAGE_SLAB_MALLOC

#define SLAB_CHUNK (1ul << 20) /* bytes carved at a time */
#define SLAB_BATCH 64	       /* objects moved between a thread and the depot */

/* A free object is linked through its first word. */
struct slab_free {
	struct slab_free *next;
};

static struct {
	pthread_mutex_t lock;
	struct slab_free *free; /* returned objects */
	char *carve, *end;	/* the unused tail of the newest chunk */
} depot = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct slab_cache {
	struct slab_free *head;
	unsigned nr;
};

static __thread_hot struct slab_cache pcp;
static __thread_hot bool pcp_registered;
static pthread_key_t pcp_key;
static pthread_once_t pcp_key_once = PTHREAD_ONCE_INIT;

/* Moves up to @nr objects of @c to the depot. */
static void slab_drain(struct slab_cache *c, unsigned nr)
{
	struct slab_free *first = c->head, *last = NULL;
	unsigned n = 0;

	if (!first)
		return;
	for (struct slab_free *o = first; o && n < nr; o = o->next, n++)
		last = o;
	c->head = last->next;
	c->nr -= n;
	pthread_mutex_lock(&depot.lock);
	last->next = depot.free;
	depot.free = first;
	pthread_mutex_unlock(&depot.lock);
}

static void pcp_thread_exit(void *arg)
{
	(void)arg;
	slab_drain(&pcp, pcp.nr);
}

static void pcp_key_init(void)
{
	if (pthread_key_create(&pcp_key, pcp_thread_exit))
		abort();
}

/* The thread's list goes back to the depot when the thread exits. */
static __noinline void pcp_register(void)
{
	pthread_once(&pcp_key_once, pcp_key_init);
	pthread_setspecific(pcp_key, (void *)1);
	pcp_registered = true;
}

/* Takes up to SLAB_BATCH objects from the depot into @c: returned ones
 * first, then new ones carved from the newest chunk (a new chunk if it is
 * used up). False only when the system has no memory left. */
static __noinline bool slab_refill(struct slab_cache *c)
{
	const size_t size = sizeof(struct page);

	if (unlikely(!pcp_registered))
		pcp_register();
	pthread_mutex_lock(&depot.lock);
	while (c->nr < SLAB_BATCH) {
		struct slab_free *o = depot.free;

		if (o) {
			depot.free = o->next;
		} else {
			if (depot.end - depot.carve < (ptrdiff_t)size) {
				void *chunk = mmap(NULL, SLAB_CHUNK, PROT_READ | PROT_WRITE,
						   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
				if (chunk == MAP_FAILED)
					break;
				depot.carve = chunk;
				depot.end = depot.carve + SLAB_CHUNK;
			}
			o = (struct slab_free *)depot.carve;
			depot.carve += size;
		}
		o->next = c->head;
		c->head = o;
		c->nr++;
	}
	pthread_mutex_unlock(&depot.lock);
	return c->nr > 0;
}

struct page *page_slab_alloc(void)
{
	struct slab_cache *c = &pcp;
	struct slab_free *o;

	if (unlikely(!c->nr) && !slab_refill(c))
		return NULL;
	o = c->head;
	c->head = o->next;
	c->nr--;
	memset(o, 0, sizeof(struct page));
	return (struct page *)o;
}

void page_slab_free(struct page *page)
{
	struct slab_cache *c = &pcp;
	struct slab_free *o = (struct slab_free *)page;

	if (unlikely(!pcp_registered))
		pcp_register();
	o->next = c->head;
	c->head = o;
	if (unlikely(++c->nr > 2 * SLAB_BATCH))
		slab_drain(c, SLAB_BATCH);
}

#else /* PAGE_SLAB_MALLOC */

struct page *page_slab_alloc(void)
{
	return calloc(1, sizeof(struct page));
}

void page_slab_free(struct page *page)
{
	free(page);
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * plock_zk_cache.c - the zk module's view cache of byte-range lock tables:
 * per file, what this node's last look at the file's table saw (the file
 * node's data version, the other nodes' sets, whether our own child is
 * there), so that a change can be decided and published in one multi
 * (plock_zk.c: the multi's version check proves the view was the table's).
 * Bounded: PLOCK_CACHE_SETS x PLOCK_CACHE_WAYS views, set-associative, the
 * least recently used of a set replaced. A view belongs to one session and
 * one membership generation: it is never found under another.
 *
 * Locks: plock_cache.lock, a pthread mutex, a leaf, held only to copy a
 * view in or out. Called by plock_zk.c with zh_lock held shared.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/lock_zk.h"

#define PLOCK_CACHE_SETS 64
#define PLOCK_CACHE_WAYS 4

struct plock_cache_slot {
	struct plock_view v;
	uint64_t used; /* the cache's clock at the last use: LRU within the set */
	bool valid;
};

struct plock_cache {
	pthread_mutex_t lock;
	uint64_t clock;
	struct plock_cache_slot slot[PLOCK_CACHE_SETS * PLOCK_CACHE_WAYS];
};

struct plock_cache *plock_cache_new(void)
{
	struct plock_cache *pc = calloc(1, sizeof(*pc));

	if (pc)
		pthread_mutex_init(&pc->lock, NULL);
	return pc;
}

void plock_cache_free(struct plock_cache *pc)
{
	if (!pc)
		return;
	pthread_mutex_destroy(&pc->lock);
	free(pc);
}

static struct plock_cache_slot *plock_cache_set(struct plock_cache *pc,
						const struct plock_view *key)
{
	uint64_t h = (key->number * 0x9e3779b97f4a7c15ull) ^ (key->gen * 0xc2b2ae3d27d4eb4full);

	return &pc->slot[((h >> 32) % PLOCK_CACHE_SETS) * PLOCK_CACHE_WAYS];
}

static bool plock_same_file(const struct plock_view *a, const struct plock_view *b)
{
	return a->number == b->number && a->gen == b->gen;
}

/* The view of @key's file, session and generation; under pc->lock. */
static struct plock_cache_slot *plock_cache_find(struct plock_cache *pc,
						 const struct plock_view *key)
{
	struct plock_cache_slot *s = plock_cache_set(pc, key);
	int i;

	for (i = 0; i < PLOCK_CACHE_WAYS; i++)
		if (s[i].valid && plock_same_file(&s[i].v, key))
			return &s[i];
	return NULL;
}

/* A view of the key's session and generation (another is stale: dropped). */
static bool plock_current(struct plock_cache_slot *s, const struct plock_view *key)
{
	if (s->v.session == key->session && s->v.generation == key->generation)
		return true;
	s->valid = false;
	return false;
}

bool plock_cache_get(struct plock_cache *pc, const struct plock_view *key, struct plock_view *out)
{
	struct plock_cache_slot *s;
	bool found = false;

	if (!pc)
		return false;
	pthread_mutex_lock(&pc->lock);
	s = plock_cache_find(pc, key);
	if (s && plock_current(s, key)) {
		s->used = ++pc->clock;
		memcpy(out, &s->v,
		       offsetof(struct plock_view, others) + s->v.nothers * sizeof(s->v.others[0]));
		found = true;
	}
	pthread_mutex_unlock(&pc->lock);
	return found;
}

void plock_cache_put(struct plock_cache *pc, const struct plock_view *v)
{
	struct plock_cache_slot *s, *victim;
	int i;

	if (!pc)
		return;
	pthread_mutex_lock(&pc->lock);
	s = plock_cache_find(pc, v);
	/* A view of a later version (a concurrent look's) is not replaced by
	 * an older one: the versions of one file node only grow. */
	if (s && plock_current(s, v) && s->v.version > v->version)
		goto out;
	if (!s) {
		s = plock_cache_set(pc, v);
		victim = &s[0];
		for (i = 0; i < PLOCK_CACHE_WAYS; i++) {
			if (!s[i].valid) {
				victim = &s[i];
				break;
			}
			if (s[i].used < victim->used)
				victim = &s[i];
		}
		s = victim;
	}
	memcpy(&s->v, v, offsetof(struct plock_view, others) + v->nothers * sizeof(v->others[0]));
	s->used = ++pc->clock;
	s->valid = true;
out:
	pthread_mutex_unlock(&pc->lock);
}

void plock_cache_drop(struct plock_cache *pc, const struct plock_view *key)
{
	struct plock_cache_slot *s;

	if (!pc)
		return;
	pthread_mutex_lock(&pc->lock);
	s = plock_cache_find(pc, key);
	if (s)
		s->valid = false;
	pthread_mutex_unlock(&pc->lock);
}

void plock_cache_published(struct plock_cache *pc, const struct plock_view *key, int32_t version,
			   bool own)
{
	struct plock_cache_slot *s;

	if (!pc)
		return;
	pthread_mutex_lock(&pc->lock);
	s = plock_cache_find(pc, key);
	if (s && plock_current(s, key)) {
		if (s->v.version == version - 1) {
			/* Ours was the only publish since the view: still the
			 * other nodes' sets. */
			s->v.version = version;
			s->v.own = own;
		} else if (s->v.version < version) {
			s->valid = false; /* others published meanwhile */
		}
	}
	pthread_mutex_unlock(&pc->lock);
}

/* SPDX-License-Identifier: MIT */
/*
 * lockdep.h - the lock validator (after the kernel's lockdep).
 *
 * Classes: one per (struct lock_class_key, subclass). Subclass 1 marks "the
 * second of two objects of one class locked in address order" (the kernel's
 * *_nested(..., SINGLE_DEPTH_NESTING)).
 *
 * Each acquisition records an edge "held class (mode) -> new class (mode)"
 * from every lock the thread holds, in a global graph, and searches for a
 * cycle the moment a new edge appears. A cycle is a deadlock only if at every
 * lock on it the mode the next thread waits for conflicts with the mode the
 * previous thread holds: exclusive conflicts with everything; rwsem read
 * conflicts with read (our rwsem is fair, so a queued writer blocks readers);
 * the two-state lock's ADD conflicts with BLOCK but not with ADD, and BLOCK
 * not with BLOCK. Hence ADD->ADD across two mappings is legal, and a cycle
 * through ADD(X) and BLOCK(Y) is not.
 *
 * might_fault() pseudo-acquires the mm-lock class (read), so "lock held across
 * a user-memory access" is recorded even when nothing faults. Blocking I/O
 * under the mm lock is reported by lockdep_assert_io_allowed().
 *
 * Reports print both chains with file:line, then abort (tests may install a
 * handler). Without PC_LOCKDEP everything here compiles to nothing.
 *
 * Locking: a leaf graph mutex, taken only when a class or edge is new; known
 * edges are found lock-free.
 */
#ifndef PC_KERNEL_LOCKDEP_H
#define PC_KERNEL_LOCKDEP_H

#include "kernel/compiler.h"
#include "kernel/lockstat.h"
#include "kernel/task.h"

#define LOCKDEP_SUBCLASSES     4
#define SINGLE_DEPTH_NESTING 1

struct lockdep_map {
	struct lock_class_key *key;
	const char *name;
	uint16_t class_cache[LOCKDEP_SUBCLASSES];
	bool tsan_annotated; /* the lock type tells TSan about itself */
};

/* The mm lock's class: the fault path takes it; might_fault() pretends to. */
extern struct lock_class_key mmap_lock_key;

typedef void (*lockdep_report_fn)(const char *kind, const char *text);

#if PC_LOCKDEP

void lockdep_init_map(struct lockdep_map *map, const char *name, struct lock_class_key *key);
/* Before a blocking acquisition (checks, records edges, pushes on the held stack);
 * for a trylock call it after success, with trylock = true. */
void lock_acquire(struct lockdep_map *map, const void *instance, unsigned subclass,
		  enum lock_mode mode, bool trylock, struct src_loc loc);
void lock_release(struct lockdep_map *map, const void *instance, struct src_loc loc);
/* After a blocking acquisition succeeded (reports then say "holds", not "acquiring"). */
void lock_acquired(const void *instance);
void lockdep_might_fault(struct src_loc loc);
void lockdep_assert_io_allowed(const char *what, struct src_loc loc);
bool lockdep_is_held(const void *instance);
bool lockdep_holds_class(const struct lock_class_key *key);

#define might_fault()		 lockdep_might_fault(THIS_LOC)
#define assert_io_allowed(what) lockdep_assert_io_allowed((what), THIS_LOC)
#define lockdep_assert_held(l)	 do { if (!lockdep_is_held(l)) lockdep_fail_assert(#l, THIS_LOC); } while (0)

void lockdep_fail_assert(const char *what, struct src_loc loc);

#else

static inline void lockdep_init_map(struct lockdep_map *map, const char *name,
				    struct lock_class_key *key)
{
}
static inline void lock_acquire(struct lockdep_map *map, const void *instance, unsigned subclass,
				enum lock_mode mode, bool trylock, struct src_loc loc)
{
}
static inline void lock_release(struct lockdep_map *map, const void *instance, struct src_loc loc)
{
}
static inline void lock_acquired(const void *instance)
{
}
#define might_fault()		 do { } while (0)
#define assert_io_allowed(what) do { } while (0)
#define lockdep_assert_held(l)	 do { } while (0)

#endif

/* Reports: the handler gets a kind ("circular locking dependency", ...) and the
 * whole text; the default prints it and aborts. Returns the previous handler. */
/* A deterministic schedule abandons this thread: forget its held locks (and
 * tell TSan they were released). */
void lockdep_abandon_held(void);

lockdep_report_fn lockdep_set_report_handler(lockdep_report_fn fn);
unsigned long lockdep_report_count(void);
/* Forgets every recorded dependency (tests that want a clean graph). */
void lockdep_reset_graph(void);
/* Prints the held-lock stack of a task (empty without PC_LOCKDEP). */
void lockdep_print_held(int fd, struct task *t);

#endif

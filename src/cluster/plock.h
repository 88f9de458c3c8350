/* SPDX-License-Identifier: MIT */
/*
 * plock.h - POSIX and OFD byte-range locks across the nodes of a cluster: the
 * lock service's half (gfs2 hands its plocks to the DLM, fs/dlm/plock.c).
 * fs/posix_locks.c keeps the locks of this node's owners and arbitrates
 * among them; the lock service sees one set of ranges per node and file -
 * the union of that node's locks, owners left out - and a lock is granted
 * on this node only when no other node's set conflicts with it. A node's sets end with
 * its session (a dead node's locks are released).
 *
 * Calls are made in the calling thread (not the demote worker), with no
 * engine lock held but the caller's own per-file mutex (fs/posix_locks.c's
 * "flc_plock", which serializes one node's changes of one file's set).
 */
#ifndef PC_CLUSTER_PLOCK_H
#define PC_CLUSTER_PLOCK_H

#include <stdint.h>

struct cluster;
struct lm_lockname;

struct plock_range {
	int64_t start, end; /* inclusive; INT64_MAX: to the end of any file */
	int type;	    /* F_RDLCK or F_WRLCK */
};

/* cluster_plock flags */
/* On a conflict, arm watches: a later change of the table (or a node's end)
 * ends a cluster_plock_wait made with *seq. */
#define PLOCK_WATCH 0x1

/*
 * One look at file @name's table at the lock service, and a change of it.
 * @want: the range asked for, or NULL (a release or a downgrade: publish
 * @set whatever the others hold). @set, @n: this node's whole set for the
 * file after the change (@n may be 0: nothing held; the node's entry stays,
 * empty, until cluster_plock_forget);
 * @set NULL with @want: a test only (F_GETLK), nothing published.
 * Returns 0: no other node holds a range conflicting with @want, and @set
 * (if given) is published - atomically with that look, so that two nodes
 * can never both be granted conflicting ranges; -EAGAIN: another node holds
 * one: *conflict is such a range, nothing was published, and with
 * PLOCK_WATCH *seq is the value for cluster_plock_wait; -EIO: this node's
 * session is lost (every call fails until the node rejoined; the lost
 * session took this node's published sets with it: cluster_generation()
 * moved); -ENOLCK: @set does not fit the lock service; -EINVAL: a malformed
 * range (type, start > end, negative), or @n > 0 with @set NULL; -ENOMEM.
 * A lock service that is not reachable for a while (a lost connection, a
 * restart) is waited for while the session lasts.
 * nolock: 0 at once (no other node).
 */
int cluster_plock(struct cluster *c, const struct lm_lockname *name, const struct plock_range *want,
		  const struct plock_range *set, unsigned n, unsigned flags,
		  struct plock_range *conflict, uint64_t *seq);

/*
 * This node no longer uses file @name's table (the engine evicts the file's
 * inode, none of its ranges left): the node's entry at the lock
 * service goes, and with it the table when no other node has an entry
 * there. A later cluster_plock on the file makes them again. The node's
 * entry otherwise stays (an empty set) after its last range is released.
 * Returns 0 (also when there was nothing to delete); -EIO: the session is
 * lost (its entry went with it; the table may stay, empty, for the next
 * node that forgets the file); -ENOMEM. nolock: 0.
 */
int cluster_plock_forget(struct cluster *c, const struct lm_lockname *name);

/* Sleeps until a watch armed by the cluster_plock that returned @seq fired
 * (some file's table changed, a node ended), the session is lost (-EIO), or
 * the calling task is killed (-EINTR: a fired cancel token, kernel/cancel.h).
 * 0: look again (spurious wake-ups are allowed). */
int cluster_plock_wait(struct cluster *c, uint64_t seq);

/* Bumped at each rejoin after a lost session (sets published before are gone). */
uint64_t cluster_generation(struct cluster *c);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * lock_zk_want.c - the want nodes' watches of the zk module's recipe
 * (lock_zk_node.c): a holder (or waiter) watches the want nodes of the
 * modes that conflict with its own; another node's request bumps one, and
 * its changed event is a demote request with no listing. Watches are
 * one-shot: a fired one is armed again at the end of the glock's run, only
 * if the state after it still conflicts (zk_ran), and the answer of that
 * read may show a request that came meanwhile (zk_want_version).
 * Worker only; no locks.
 */
#include "cluster/lock_zk.h"

/* Whether this node holds or waits for a mode the want node @i's mode
 * conflicts with (then it watches that want node). */
static bool watches(const struct zk_glock *zg, int i)
{
	enum gl_state m = zk_our_mode(zg);

	return m != LM_ST_UNLOCKED && !gl_compatible(m, zk_want_mode(i)) && !zk_test_want_nodes_off;
}

/* Arms want node @i's watch again, asynchronously (its answer:
 * zk_want_version), unless a read that armed it was answered after the
 * event at @seq or one is out. */
static void rearm(struct glock *gl, int i, uint64_t seq)
{
	struct zk_glock *zg = gl->gl_lm;

	if (seq <= zg->warm_seq[i])
		return;
	zg->warm_seq[i] = UINT64_MAX; /* until the re-arm's answer */
	if (zk_rearm_want(gl, i) != ZOK)
		zg->warm_seq[i] = 0;
}

/*
 * The end of the glock's run (lm_ran): a fired want watch is armed again
 * only if the state after the run still conflicts with its mode - a demote
 * delayed (minimum hold, lease in doubt) or a state that still conflicts.
 * A demote done gave that conflict up (the strongest state compatible with
 * the request): nothing to re-arm, and a conversion's pipelined reads
 * armed what its new mode watches (a downgrade in place keeps what EX
 * watched). A glock that waits for local holders to
 * leave is not run: its pending demote covers any further request of that
 * mode, and its run comes with the last holder's dq.
 */
void zk_ran(struct glock *gl)
{
	struct zk_glock *zg = gl->gl_lm;
	int i;

	if (!zg || !zg->rearm_due)
		return;
	for (i = 0; i < ZK_NWANT; i++) {
		if (!(zg->rearm_due & (1u << i)))
			continue;
		zg->rearm_due &= ~(1u << i);
		if (watches(zg, i))
			rearm(gl, i, zg->rearm_seq[i]);
	}
}

/*
 * A want node's changed event: another node asked for that mode. If it came
 * before the answer of our last listing, that listing saw the request (or
 * it was our own create's bump). Otherwise it is a demote request now, with
 * no listing. The watch is armed again at the end of the glock's run if the
 * state still conflicts then (zk_ran), unless a read that armed it was
 * answered after the event.
 */
void zk_want_event(struct glock *gl, const char *child, uint64_t seq)
{
	struct zk_glock *zg = gl->gl_lm;
	int i = zk_want_index(child);

	if (i < 0 || !watches(zg, i))
		return;
	if (zk_test_rearm_at_event) {
		rearm(gl, i, seq);
	} else if (seq > zg->warm_seq[i]) {
		zg->rearm_due |= 1u << i;
		if (seq > zg->rearm_seq[i])
			zg->rearm_seq[i] = seq;
	}
	if (seq <= zg->listed_seq)
		return;
	zg->wanted[i] = true;
	zk_maybe_demote(gl);
}

/* The answer of a re-arm: a version above any seen is a request that may
 * have come between the event and the re-arm (one-shot watches). */
void zk_want_version(struct glock *gl, const char *child, int rc, int32_t version, uint64_t seq)
{
	struct zk_glock *zg = gl->gl_lm;
	int i = zk_want_index(child);

	if (i < 0)
		return;
	if (zg->warm_seq[i] == UINT64_MAX)
		zg->warm_seq[i] = rc == ZOK ? seq : 0;
	if (rc != ZOK || seq <= zg->listed_seq || version <= zg->wseen[i])
		return;
	zg->wseen[i] = version;
	if (!watches(zg, i))
		return;
	zg->wanted[i] = true;
	zk_maybe_demote(gl);
}

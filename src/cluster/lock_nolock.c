/* SPDX-License-Identifier: MIT */
/*
 * lock_nolock.c - the single-node lock module (gfs2's lock_nolock): every
 * request is granted at once and nothing is ever demoted, so glock_nq and
 * glock_dq skip the state machine entirely (glock.c) and no worker thread
 * is started. It exists so that one engine runs as before at the same speed.
 *
 * Locks: none.
 */
#include <errno.h>

#include "cluster/lock_module.h"

static int nolock_mount(struct cluster *c, const struct cluster_url *u)
{
	return 0;
}

static void nolock_unmount(struct cluster *c)
{
}

static int nolock_lock(struct glock *gl, enum gl_state req)
{
	return 1;
}

static int nolock_convert(struct glock *gl, enum gl_state req)
{
	return 0;
}

static void nolock_unlock(struct glock *gl)
{
}

static unsigned nolock_poll(struct cluster *c)
{
	return 1000;
}

static void nolock_forget(struct glock *gl)
{
}

static int nolock_rejoin(struct cluster *c)
{
	return 0;
}

const struct lm_lockops nolock_ops = {
    .lm_proto_name = "lock_nolock",
    .lm_mount = nolock_mount,
    .lm_unmount = nolock_unmount,
    .lm_lock = nolock_lock,
    .lm_convert = nolock_convert,
    .lm_unlock = nolock_unlock,
    .lm_poll = nolock_poll,
    .lm_forget = nolock_forget,
    .lm_rejoin = nolock_rejoin,
};

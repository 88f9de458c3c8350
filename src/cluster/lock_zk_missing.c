/* SPDX-License-Identifier: MIT */
/*
 * lock_zk_missing.c - the zk lock module of a build without the ZooKeeper C
 * client (libzookeeper-mt-dev, scripts/deps.sh): zk:// URLs are refused with
 * EPROTONOSUPPORT and a message saying why. Locks: none.
 */
#include <errno.h>

#include "cluster/lock_module.h"

static int zk_missing_mount(struct cluster *c, const struct cluster_url *u)
{
	cluster_set_error("cluster: this build has no ZooKeeper client (install "
			  "libzookeeper-mt-dev and rebuild)");
	return -EPROTONOSUPPORT;
}

const struct lm_lockops zk_ops = {
    .lm_proto_name = "lock_zk (not built)",
    .lm_mount = zk_missing_mount,
};

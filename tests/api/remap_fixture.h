/* SPDX-License-Identifier: MIT */
/*
 * remap_fixture.h - a store that can share blocks, for the clone, dedupe
 * and copy_file_range tests (test_remap, test_h8, test_model): the vol
 * store when its clone_range works, else the dir store on an XFS
 * (reflink=1) file system on a loop device, made once per process when the
 * test runs as root with mkfs.xfs at hand (and PC_REMAP_NO_XFS is not set);
 * else none (the caller skips).
 * No locks: call from the main test thread.
 */
#ifndef PC_TESTS_API_REMAP_FIXTURE_H
#define PC_TESTS_API_REMAP_FIXTURE_H

#include <stdbool.h>

#include "pagecache.h"

/* The mount point of the process's XFS reflink file system (made and
 * mounted at the first call, unmounted at exit), or NULL when it cannot be
 * had here (*why says why). */
const char *remap_xfs_mount(const char **why);

/* Makes TMPDIR the XFS mount when there is one, before the first
 * api_fresh_dir of the process: every fresh directory (engine stores and
 * host twins) is then on a file system with reflink. Returns whether. */
bool remap_tmpdir_on_xfs(void);

/* An engine on a store that shares blocks: "vol" (an image under a fresh
 * directory) when vol's clone works, else "dir" on the XFS mount. @o: the
 * options (NULL: defaults; store fields are set here). NULL when neither
 * can be had (*why says why). *kind names the store. */
struct pc_engine *remap_engine_open(const char *tag, struct pc_options *o, const char **kind,
				    const char **why);
/* Closes it (checking 0) and removes its directory. */
void remap_engine_close(struct pc_engine *e);

/* Whether the vol store shares blocks (probed once). */
bool remap_vol_clones(void);

#endif

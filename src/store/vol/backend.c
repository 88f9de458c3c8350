/* SPDX-License-Identifier: MIT */
/*
 * backend.c - the vol store's store_ops (being written: until then opening a
 * vol store reports that it is not available).
 */
#include <errno.h>

#include "store/store.h"
#include "store/vol/vol.h"

int store_open_vol(const char *image, struct store **out)
{
	(void)image;
	(void)out;
	return -ENOSYS;
}

int vol_create(const char *image, const struct vol_mkfs_opts *opts)
{
	(void)image;
	(void)opts;
	return -ENOSYS;
}

int vol_fsck(const char *image, bool repair, FILE *report)
{
	(void)image;
	(void)repair;
	(void)report;
	return VOL_FSCK_FAILED;
}

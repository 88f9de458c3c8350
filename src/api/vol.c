/* SPDX-License-Identifier: MIT */
/*
 * vol.c - the public calls on vol volumes at rest (pc_vol_mkfs, pc_vol_probe,
 * pc_vol_fsck, pc_vol_stat): the `pagecache mkfs|fsck|stat` commands and applications
 * use these rather than the store's internal headers.
 *
 * Locks: none of their own; mkfs and fsck take the image's exclusive flock
 * (src/store/vol) and fail with -EBUSY while a store has it open.
 */
#include <errno.h>
#include <string.h>

#include "api/engine.h"
#include "store/vol/format.h"
#include "store/vol/vol.h"

int pc_vol_mkfs(const char *image, const struct pc_vol_mkfs_options *uopts)
{
	struct pc_vol_mkfs_options o;
	struct vol_mkfs_opts vo = {0};
	int err;

	if (!image)
		return -EFAULT;
	if (uopts) {
		err = copy_struct_in(&o, sizeof(o), uopts, uopts->size,
				     offsetof(struct pc_vol_mkfs_options, journal_kb) +
					 sizeof(unsigned));
		if (err)
			return err;
		if (o.bytes < 0)
			return -EINVAL;
		vo.size = o.bytes;
		vo.inodes = o.inodes;
		vo.journal_kb = o.journal_kb;
	}
	return vol_create(image, &vo);
}

int pc_vol_probe(const char *image, const char **what)
{
	const char *w = NULL;
	int ret;

	if (!image)
		return -EFAULT;
	ret = vol_probe_existing(image, &w);
	if (what)
		*what = w;
	return ret;
}

int pc_vol_fsck(const char *image, int repair, FILE *report)
{
	if (!image)
		return PC_FSCK_FAILED;
	switch (vol_fsck(image, repair != 0, report)) {
	case VOL_FSCK_CLEAN:
		return PC_FSCK_CLEAN;
	case VOL_FSCK_REPAIRED:
		return PC_FSCK_REPAIRED;
	case VOL_FSCK_UNREPAIRED:
		return PC_FSCK_UNREPAIRED;
	default:
		return PC_FSCK_FAILED;
	}
}

int pc_vol_stat(const char *image, struct pc_vol_info *uinfo, const char **why)
{
	struct pc_vol_info info = {0};
	struct vol_super sb;
	size_t size;
	int err;

	if (why)
		*why = NULL;
	if (!image || !uinfo)
		return -EFAULT;
	size = uinfo->size;
	if (size < offsetof(struct pc_vol_info, uuid) + sizeof(info.uuid))
		return -EINVAL;
	err = vol_read_super(image, &sb, why);
	if (err)
		return err;
	info.size = size < sizeof(info) ? size : sizeof(info);
	info.version = sb.version;
	info.block_size = sb.block_size;
	info.blocks = sb.nblocks;
	info.free_blocks = sb.free_blocks;
	info.journal_blocks = sb.journal_blocks;
	info.inode_slots = sb.itable_blocks * (VOL_BLOCK_SIZE / VOL_INODE_SIZE);
	info.generation = sb.generation;
	info.features_incompat = sb.feat_incompat;
	memcpy(info.uuid, sb.uuid, sizeof(info.uuid));
	info.shared_blocks = sb.shared_blocks;
	memset(uinfo, 0, size);
	memcpy(uinfo, &info, info.size);
	uinfo->size = size;
	return 0;
}

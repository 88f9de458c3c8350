/* SPDX-License-Identifier: MIT */
/*
 * extmap.h - a vol inode's extent map: file block -> volume block, as a
 * sorted set of disjoint extents (written or unwritten) searched by
 * bisection. Range operations first split the extents at the range's edges,
 * then work on whole extents, then re-merge neighbours that are contiguous
 * in both file and volume and alike in kind. Physical ranges displaced by an
 * operation are reported through a release callback (the allocator's free).
 *
 * Locking: none inside; the inode's owner serialises.
 */
#ifndef PC_STORE_VOL_EXTMAP_H
#define PC_STORE_VOL_EXTMAP_H

#include <stddef.h>
#include <stdint.h>

#define VOL_EXT_MAX_LEN 0xffffffffull /* the on-disk length field is 32-bit */

struct vol_ext {
	uint64_t lblk, pblk, len;
	uint32_t flags; /* VOL_EXT_UNWRITTEN */
};

struct vol_extmap {
	struct vol_ext *v;
	size_t nr, cap;
};

enum vol_map_type { VOL_MAP_HOLE, VOL_MAP_MAPPED, VOL_MAP_UNWRITTEN };

struct vol_map {
	enum vol_map_type type;
	uint64_t lblk, pblk, len; /* pblk only for MAPPED/UNWRITTEN */
};

/* Called with each physical range an operation drops from the map. */
typedef void (*vol_release_fn)(void *arg, uint64_t pblk, uint64_t len);

void vol_extmap_init(struct vol_extmap *m);
void vol_extmap_destroy(struct vol_extmap *m);
/* What covers lblk, up to len blocks (len >= 1): the answer's len is clipped
 * to the extent or hole containing lblk. */
void vol_extmap_lookup(const struct vol_extmap *m, uint64_t lblk, uint64_t len,
		       struct vol_map *out);
/* Map [lblk, lblk+len) to [pblk, ...), replacing whatever was there. */
int vol_extmap_set(struct vol_extmap *m, uint64_t lblk, uint64_t pblk, uint64_t len, uint32_t flags,
		   vol_release_fn rel, void *arg);
/* Make [lblk, lblk+len) a hole. */
int vol_extmap_punch(struct vol_extmap *m, uint64_t lblk, uint64_t len, vol_release_fn rel,
		     void *arg);
/* Clear VOL_EXT_UNWRITTEN over [lblk, lblk+len) (mapped parts only). */
int vol_extmap_mark_written(struct vol_extmap *m, uint64_t lblk, uint64_t len);
/* Remove [lblk, lblk+len) and shift everything after it down by len. */
int vol_extmap_collapse(struct vol_extmap *m, uint64_t lblk, uint64_t len, vol_release_fn rel,
			void *arg);
/* Shift everything at or after lblk up by len, leaving a hole. -EFBIG on overflow. */
int vol_extmap_insert_range(struct vol_extmap *m, uint64_t lblk, uint64_t len);
/* Blocks mapped (written or unwritten). */
uint64_t vol_extmap_blocks(const struct vol_extmap *m);
/* Check the invariants; 0 or -EUCLEAN. */
int vol_extmap_check(const struct vol_extmap *m);

#endif

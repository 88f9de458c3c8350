/* SPDX-License-Identifier: MIT */
/*
 * direct_io.c - the page-cache steps of direct I/O (direct_io.h): range
 * checks, the read's write-back, the write's invalidation loop and its
 * fault-in under the DIO fault rule (fault_dio.c).
 *
 * Locks: the caller holds i_rwsem; filemap_dio_invalidate and
 * dio_fault_in_readable expect BLOCK of the mapping's invalidate lock
 * (policy allowing), which the fault rule may drop and take again inside
 * dio_fault_in_readable. Takes page locks (invalidation) and the page
 * index's RCU read side, nothing else of its own.
 */
#include <errno.h>

#include "mm/direct_io.h"
#include "mm/fault_dio.h"
#include "mm/uaccess.h"

bool filemap_range_has_page(struct address_space *m, int64_t start, int64_t end)
{
	pgoff_t index = (pgoff_t)start >> PAGE_SHIFT;
	struct page *page;

	if (!page_index_nrpages(&m->i_pages))
		return false;
	if (!find_get_pages_range(&m->i_pages, &index, (pgoff_t)end >> PAGE_SHIFT, &page, 1))
		return false;
	put_page(page);
	return true;
}

int filemap_dio_write_and_wait(struct address_space *m, int64_t start, int64_t end, bool nowait)
{
	if (nowait) /* no waiting for writeback either */
		return page_index_tagged(&m->i_pages, PAGECACHE_TAG_DIRTY) ||
			       page_index_tagged(&m->i_pages, PAGECACHE_TAG_WRITEBACK)
			   ? -EAGAIN
			   : 0;
	if (!page_index_nrpages(&m->i_pages))
		return 0;
	return filemap_write_and_wait_range(m, start, end);
}

int filemap_dio_invalidate(struct address_space *m, int64_t start, int64_t end)
{
	int ret = 0;

	for (int tries = 0; tries < 3; tries++) {
		if (!page_index_nrpages(&m->i_pages))
			return 0;
		ret = filemap_write_and_wait_range(m, start, end);
		if (ret)
			return ret;
		ret = invalidate_inode_pages2_range(m, (pgoff_t)start >> PAGE_SHIFT,
						    (pgoff_t)end >> PAGE_SHIFT);
		if (ret != -EBUSY)
			return ret;
	}
	return ret;
}

unsigned dio_fault_in_readable(struct address_space *m, char *p, size_t len, int64_t start,
			       int64_t end, size_t *left)
{
	unsigned flags, ret = 0;

	fdm_begin(m, start, end);
	*left = fault_in_readable(p, len);
	flags = fdm_end();
	if (flags & FDM_RELEASED)
		dio_block_lock(m);
	if (flags & (FDM_RELEASED | FDM_DROPPED))
		ret |= DIO_FAULT_RETAKEN;
	if (flags & FDM_SELF)
		ret |= DIO_FAULT_SELF;
	return ret;
}

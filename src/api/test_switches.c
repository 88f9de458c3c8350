/* SPDX-License-Identifier: MIT */
/*
 * test_switches.c - the table of every test switch and test knob
 * (test_switches.h). `git grep -n "bool [a-z_]*_test_[a-z_]*;" src` lists
 * the switches; each must have its line here (test_harness checks a few by
 * name, and a switch missing here is not reset after a failed case).
 * Built only into the test build of the library (PC_TEST_SWITCHES, see
 * kernel/testswitch.h): elsewhere the switches are constants.
 * Locks: none.
 */
#include <string.h>

#include "api/engine.h"
#include "api/test_switches.h"
#include "cluster/lock_module.h"
#include "fs/cluster.h"
#include "fs/file.h"
#include "fs/flock_glock.h"
#include "mm/errseq.h"
#include "fs/inode.h"
#include "fs/locks.h"
#include "fs/namei.h"
#include "fs/remap.h"
#include "mm/fault_dio.h"
#include "mm/frames.h"
#include "mm/internal.h"
#include "mm/uaccess.h"
#include "mm/vma.h"
#include "mm/vma_index.h"
#include "store/dir/dir_internal.h"
#include "store/vol/check.h"
#include "store/vol/extmap.h"
#include "store/vol/io.h"
#include "store/vol/volume.h"
#include "store/vol/vstore.h"

#define SWITCH(x)        \
	{                \
#x, &(x) \
	}
#define KNOB(x)                     \
	{                           \
#x, &(x), sizeof(x) \
	}

const struct test_switch test_switches[] = {
    /* mm */
    SWITCH(mm_fault_test_keep_mm_lock),
    SWITCH(mm_fault_test_no_mmap_miss),
    SWITCH(mm_fault_test_fb_no_hits),
    SWITCH(mm_uffd_test_continue_first),
    SWITCH(frames_test_grow_in_child),
    SWITCH(fault_dio_test_no_order),
    SWITCH(fault_dio_test_no_self_rule),
    SWITCH(uaccess_test_faulting_nofault),
    SWITCH(uaccess_test_ignore_blocked),
    SWITCH(uaccess_test_no_fast_return),
    SWITCH(uaccess_test_fast_return_no_fpu),
    SWITCH(uaccess_test_fast_return_any_caller),
    SWITCH(uaccess_test_fast_return_nt),
    SWITCH(uaccess_test_fast_return_any_frame),
    SWITCH(mm_test_any_tag),
    SWITCH(mm_test_vma_list_lookup),
    SWITCH(mm_test_range_never_view),
    SWITCH(mm_test_willneed_no_fault_lock),
    SWITCH(vma_test_no_pin_recheck),
    SWITCH(vma_test_locked_lookup),
    SWITCH(vma_test_split_no_drain),
    SWITCH(mm_test_modify_no_split),
    SWITCH(vma_test_no_merge),
    SWITCH(vma_index_test_nomem),
    SWITCH(writeback_test_untag_early),
    SWITCH(filemap_test_no_recheck),
    SWITCH(page_index_test_stale_uptodate),
    SWITCH(readahead_test_no_add_lock),
    SWITCH(fdtable_test_no_recheck),
    SWITCH(writeback_test_mkclean_per_page),
    SWITCH(writeback_test_write_per_page),
    SWITCH(writeback_test_track_run_pages),
    SWITCH(writeback_test_target_per_page),
    SWITCH(reclaim_test_punch_per_page),
    SWITCH(writeback_test_retry_failing),
    SWITCH(writeback_test_no_expire),
    SWITCH(writeback_test_split_count),
    SWITCH(errseq_test_sample_current),
    /* cluster */
    SWITCH(glock_test_no_lease_margin),
    SWITCH(glock_test_withdraw_waits_file_holders),
    SWITCH(glock_test_no_min_hold),
    SWITCH(glock_test_suspended_poll),
    SWITCH(glock_test_orphan_no_recheck),
    SWITCH(glock_test_demote_drop_skips_waiters),
    SWITCH(glock_test_demote_ignores_remote_ex),
    SWITCH(glock_test_try_ignores_remote_ex),
    SWITCH(glock_test_demote_before_fresh_waiters),
    SWITCH(zk_test_forget_failed_delete),
    SWITCH(zk_test_relist_every_event),
    SWITCH(zk_test_want_nodes_off),
    SWITCH(zk_test_other_recipe),
    SWITCH(zk_test_rearm_at_event),
    SWITCH(zk_test_read_every_want),
    SWITCH(zk_test_convert_multi),
    SWITCH(zk_test_weak_frees_all),
    SWITCH(glock_test_put_queues_after_stop),
    SWITCH(zk_test_keep_stale_weak),
    SWITCH(zk_test_keep_lock_nodes),
    SWITCH(zk_test_no_sweep),
    SWITCH(zk_test_no_clean_departure),
    SWITCH(zk_test_sweep_in_use),
    SWITCH(zk_test_no_remake),
    SWITCH(zk_test_stray_no_name_check),
    SWITCH(plock_test_no_version_check),
    SWITCH(plock_test_no_cache),
    SWITCH(plock_test_keep_tables),
    SWITCH(plock_test_no_pin),
    SWITCH(glock_test_fastpath_no_drain_check),
    SWITCH(glock_test_fork_keeps_slots),
    /* fs */
    SWITCH(cluster_test_no_restart),
    SWITCH(cluster_test_no_inval),
    SWITCH(cluster_test_seek_no_glock),
    SWITCH(cluster_test_setattr_no_glock),
    SWITCH(cluster_test_remap_no_glock),
    SWITCH(cluster_test_sync_error_ignored),
    SWITCH(cluster_test_fadvise_no_glock),
    SWITCH(cluster_test_restart_no_pin),
    SWITCH(cluster_test_restart_no_own),
    SWITCH(cluster_test_sync_last_round_only),
    SWITCH(cluster_test_flock_local_only),
    SWITCH(glock_test_cancel_leaves_request),
    SWITCH(locks_test_flock_unkillable),
    SWITCH(locks_test_plock_local_only),
    SWITCH(locks_test_plock_keep_lost),
    SWITCH(locks_test_plock_no_fence),
    SWITCH(locks_test_no_deadlock_check),
    SWITCH(dio_test_restart_as_efault),
    SWITCH(fsync_test_dir_noop),
    SWITCH(inode_test_no_revalidate),
    SWITCH(inode_test_evict_unseen_error),
    SWITCH(inode_test_no_forget_recheck),
    SWITCH(inode_test_no_generation),
    SWITCH(inode_test_stat_any_generation),
    SWITCH(inode_test_estale_named),
    SWITCH(inode_test_opath_no_pin),
    SWITCH(inode_test_stat_late_look),
    SWITCH(inode_test_coarse_time_always),
    SWITCH(inode_test_no_shrink),
    SWITCH(inode_test_keep_dirty_unused),
    SWITCH(inode_test_fd_budget_per_engine),
    SWITCH(namei_test_no_sgid_inherit),
    SWITCH(remap_test_no_src_fence),
    SWITCH(remap_test_no_dst_fence),
    /* store/dir */
    SWITCH(dir_test_dotdot_escape),
    SWITCH(dir_test_handle_any),
    SWITCH(dir_test_handle_cold),
    /* store/vol */
    SWITCH(vol_test_commit_keep_lock),
    SWITCH(vol_test_meta_home_first),
    SWITCH(vol_test_jrnl_no_chain),
    SWITCH(vol_test_group_flush_each),
    SWITCH(vol_test_chain_after_write),
    SWITCH(vol_test_truncate_in_place),
    SWITCH(vdir_test_rewrite_all),
    SWITCH(vdir_test_install_early),
    SWITCH(vol_test_freetree_rewrite_all),
    SWITCH(vol_test_freetree_no_undo),
    SWITCH(vol_fsck_test_no_dup_repair),
    SWITCH(vol_fsck_test_no_cycle_repair),
    SWITCH(vol_fsck_test_no_root_rebuild),
    SWITCH(vol_test_no_reserve),
    SWITCH(vol_test_no_periodic_commit),
    SWITCH(vol_test_skip_data_flush),
    SWITCH(vol_test_no_pending_check),
    SWITCH(vol_test_discard_at_release),
    SWITCH(vol_test_discard_no_fence),
    SWITCH(vol_test_ckpt_keep_freed),
    SWITCH(vol_test_ckpt_sb_unordered),
    SWITCH(vol_test_replace_free_keep_tree),
    SWITCH(vol_extmap_test_rewrite_all),
    SWITCH(vol_test_no_itable_holes),
    SWITCH(vol_test_crc_table),
    SWITCH(vol_test_gen_reuse),
    SWITCH(vol_test_gen_no_limit),
    SWITCH(vol_test_gen_small_batch),
    SWITCH(vol_test_xattr_in_place),
    SWITCH(vol_test_xattr_no_charge),
    SWITCH(vol_test_refcount_skip_inc), /* vol16's, not in its table yet */
    SWITCH(vol_test_refcount_no_check),
    SWITCH(vol_test_cow_in_place),
    SWITCH(vol_alloc_test_no_goal),
    SWITCH(vol_test_data_dio_no_fallback),
};
const size_t nr_test_switches = sizeof(test_switches) / sizeof(test_switches[0]);

const struct test_knob test_knobs[] = {
    KNOB(mm_fallback_test_vma_budget), KNOB(inode_test_unused_max),
    KNOB(vol_extmap_test_leaf_cap),    KNOB(vol_extmap_test_index_cap),
    KNOB(vol_test_commit_window),      KNOB(vma_test_lookup_hook),
    KNOB(dio_test_after_store_read),   KNOB(vma_test_fault_hook),
    KNOB(vol_test_data_dio_einval),    KNOB(vol_test_odirect_refused),
    KNOB(vol_test_host_fs_magic),      KNOB(plock_test_before_publish),
    KNOB(zk_test_lost_deletes),	       KNOB(glock_test_referenced_at_unmount),
    KNOB(glock_test_puts_after_stop),  KNOB(dir_test_pread),
};
const size_t nr_test_knobs = sizeof(test_knobs) / sizeof(test_knobs[0]);

static bool knob_set(const struct test_knob *k)
{
	static const char zero[sizeof(long long)];

	return memcmp(k->knob, zero, k->size) != 0;
}

const char *test_switches_first_on(void)
{
	for (size_t i = 0; i < nr_test_switches; i++)
		if (__atomic_load_n(test_switches[i].sw, __ATOMIC_RELAXED))
			return test_switches[i].name;
	for (size_t i = 0; i < nr_test_knobs; i++)
		if (knob_set(&test_knobs[i]))
			return test_knobs[i].name;
	return NULL;
}

int test_switches_reset(void (*report)(const char *name))
{
	int n = 0;

	for (size_t i = 0; i < nr_test_switches; i++)
		if (__atomic_load_n(test_switches[i].sw, __ATOMIC_RELAXED) &&
		    __atomic_exchange_n(test_switches[i].sw, false, __ATOMIC_RELAXED)) {
			n++;
			if (report)
				report(test_switches[i].name);
		}
	for (size_t i = 0; i < nr_test_knobs; i++)
		if (knob_set(&test_knobs[i])) {
			memset(test_knobs[i].knob, 0, test_knobs[i].size);
			n++;
			if (report)
				report(test_knobs[i].name);
		}
	return n;
}

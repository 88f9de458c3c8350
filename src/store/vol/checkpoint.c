/* SPDX-License-Identifier: MIT */
/*
 * checkpoint.c - the journal's deferred checkpoint (jbd2's checkpoint
 * list): a committed transaction's blocks go home later, not inside the
 * fsync that made it durable. The journal records every logged block
 * whole and replay writes the chain home in order (commit.c), so once the
 * transaction's write and flush are done the operation is durable; its
 * blocks wait here (v->ck: the transactions, oldest first, and the set of
 * their homes that are still metadata) until
 *  - a commit flushes and starts the chain again at journal_start (a wrap,
 *    ordered data, metadata written home): the journal space is reused
 *    only after its transactions' blocks are written home and flushed, so
 *    vol_ckpt_write runs just before that flush;
 *  - unmount (before its flush and the journal's clearing);
 *  - the whole rewrite of the free-space tree, fsck's vol_replace_free, or
 *    -ENOMEM here (written at once: always safe, only slower).
 * Several transactions often log the same home (the inode-table block, the
 * superblock): only the newest copy is written.
 *
 * The hazard: a block logged by transaction N and freed by N+1 may be
 * handed out again (as data, written in place) before the deferred
 * checkpoint runs, which would then write N's stale copy over it. So the
 * commit that frees blocks takes them out of the set of homes
 * (vol_ckpt_forget, before they become allocatable) and the checkpoint
 * skips blocks not in it; a later transaction that logs the block again
 * puts it back, and its newer copy is the one written. Replay is not
 * affected: the first commit after any write in place (a freed block
 * reused for data) starts the chain again, even where another commit's
 * flush already made the write durable (commit.c commit_write), so no
 * replayed transaction names the block once a commit names the data.
 * vol_test_ckpt_keep_freed keeps freed blocks in the set (the hazard).
 *
 * The ordering rule: replay skips every transaction older than the
 * superblock at home (commit.c; it must: after a chain restart a torn first
 * transaction can leave a prefix of the old chain valid, whose copies are
 * older than the homes), so the superblock may reach home with generation
 * G only once every block of every transaction older than G is durable
 * there. The checkpoint writes the blocks whose newest copy is in an older
 * transaction first, flushes (only if it wrote any), and then the newest
 * transaction's blocks, its superblock among them: a crash anywhere leaves
 * at home a superblock no newer than any transaction whose blocks may be
 * missing there, which replay so writes again. Without the flush a device
 * stop (or a volatile cache) after the newest superblock and before an
 * older transaction's blocks made replay skip that transaction: fsck found
 * directory entries naming free inodes and used blocks marked free
 * (test_vol_crash). vol_test_ckpt_sb_unordered writes it all in one pass,
 * newest first, without the flush (the hazard: test_vol_ckpt).
 *
 * Locks: none. v->ck belongs to the commit in progress: commits are
 * serialised by vs->lock and vs->frozen (commit.c), vol_replace_free and
 * unmount run alone.
 */
#include <errno.h>
#include <stdlib.h>

#include "store/vol/vstore.h"

#define BS VOL_BLOCK_SIZE

TEST_SWITCH(vol_test_ckpt_keep_freed);
TEST_SWITCH(vol_test_ckpt_sb_unordered);
unsigned long vol_ckpt_blocks_written;

static void ckpt_drop_all(struct vol *v)
{
	for (size_t i = 0; i < v->ck.n; i++)
		free(v->ck.tx[i]);
	v->ck.n = 0;
	vol_alloc_reset(&v->ck.homes);
}

/* Block @k of retained transaction @t home (not flushed). */
static int ckpt_block(struct vol *v, size_t t, uint32_t k)
{
	const struct vol_jdesc *jd = (const struct vol_jdesc *)v->ck.tx[t];
	int r = vol_dev_pwrite_jrnl(&v->dev, v->fd, v->ck.tx[t] + (k + 1) * BS, BS,
				    (off_t)(jd->home[k] * BS));
	if (!r)
		__atomic_fetch_add(&vol_ckpt_blocks_written, 1, __ATOMIC_RELAXED);
	return r;
}

/* Writes the logged blocks of transactions [0, @upto) still in the set of
 * homes: newest copy first, once each and none whose home is in @done (a
 * copy that went, or goes later) (@dedup), or every copy oldest first (the
 * fallback without memory for the dedup set: later copies overwrite
 * earlier ones). *wrote counts them. */
static int ckpt_pass(struct vol *v, size_t upto, bool dedup, struct vol_alloc *done,
		     unsigned long *wrote)
{
	int r = 0;

	for (size_t i = 0; !r && i < upto; i++) {
		size_t t = dedup ? upto - 1 - i : i;
		const struct vol_jdesc *jd = (const struct vol_jdesc *)v->ck.tx[t];
		for (uint32_t k = 0; !r && k < jd->nr; k++) {
			uint64_t h = jd->home[k];
			if (!vol_alloc_is_free(&v->ck.homes, h, 1))
				continue; /* freed since it was logged */
			if (dedup && vol_alloc_is_free(done, h, 1))
				continue; /* a newer copy went or goes */
			if (dedup)
				r = vol_alloc_free(done, h, 1);
			if (!r)
				r = ckpt_block(v, t, k);
			if (!r)
				(*wrote)++;
		}
	}
	return r;
}

/* The ordering rule (above): the older transactions' blocks, a flush if
 * there were any, then the newest transaction's (its superblock last). */
static int ckpt_ordered(struct vol *v, bool dedup)
{
	size_t last = v->ck.n - 1;
	const struct vol_jdesc *jd = (const struct vol_jdesc *)v->ck.tx[last];
	unsigned long wrote = 0;
	struct vol_alloc done;
	int r = 0;

	vol_alloc_init(&done);
	if (vol_test_ckpt_sb_unordered) { /* the hazard: one pass, no flush */
		r = ckpt_pass(v, v->ck.n, dedup, &done, &wrote);
		vol_alloc_destroy(&done);
		return r;
	}
	/* the newest transaction's homes: its copies go in the second step */
	for (uint32_t k = 0; !r && dedup && k < jd->nr; k++)
		if (!vol_alloc_is_free(&done, jd->home[k], 1))
			r = vol_alloc_free(&done, jd->home[k], 1);
	if (!r)
		r = ckpt_pass(v, last, dedup, &done, &wrote);
	vol_alloc_destroy(&done);
	if (!r && wrote)
		r = vol_dev_flush(&v->dev, v->fd);
	for (uint32_t k = 0; !r && k < jd->nr; k++)
		if (vol_alloc_is_free(&v->ck.homes, jd->home[k], 1))
			r = ckpt_block(v, last, k);
	return r;
}

int vol_ckpt_write(struct vol *v)
{
	int r = 0;

	if (v->ck.n) {
		r = ckpt_ordered(v, true);
		if (r == -ENOMEM)
			r = ckpt_ordered(v, false);
	}
	if (!r)
		ckpt_drop_all(v);
	return r;
}

int vol_ckpt_retain(struct vol *v, char *jbuf)
{
	const struct vol_jdesc *jd = (const struct vol_jdesc *)jbuf;
	int r = 0;

	if (v->ck.n == v->ck.cap)
		r = vol_grow(v->ck.tx, v->ck.cap, 16);
	for (uint32_t k = 0; !r && k < jd->nr; k++)
		if (!vol_alloc_is_free(&v->ck.homes, jd->home[k], 1))
			r = vol_alloc_free(&v->ck.homes, jd->home[k], 1);
	if (r) { /* -ENOMEM: checkpoint now, this transaction last */
		r = vol_ckpt_write(v);
		for (uint32_t k = 0; !r && k < jd->nr; k++)
			r = vol_dev_pwrite_jrnl(&v->dev, v->fd, jbuf + (k + 1) * BS, BS,
						(off_t)(jd->home[k] * BS));
		free(jbuf);
		return r;
	}
	v->ck.tx[v->ck.n++] = jbuf;
	return 0;
}

int vol_ckpt_forget(struct vol *v, uint64_t start, uint64_t len)
{
	uint64_t end = start + len;
	struct vol_fext e;

	if (vol_test_ckpt_keep_freed || !v->ck.n)
		return 0;
	for (uint64_t at = start;
	     at < end && vol_alloc_find(&v->ck.homes, at, &e) && e.start < end;) {
		uint64_t s = e.start > at ? e.start : at;
		uint64_t t = e.start + e.len < end ? e.start + e.len : end;
		if (vol_alloc_take(&v->ck.homes, s, t - s))
			return vol_ckpt_write(v); /* -ENOMEM: before the blocks are reused */
		at = t;
	}
	return 0;
}

void vol_ckpt_free(struct vol *v)
{
	ckpt_drop_all(v);
	free(v->ck.tx);
	v->ck.tx = NULL;
	v->ck.cap = 0;
	vol_alloc_destroy(&v->ck.homes);
}

#!/bin/bash
# test_cluster_mount_reuse.sh PAGECACHE ZK_SERVER - a reused inode number
# through two `pagecache mount --cluster` of one ext4 directory under
# /var/tmp (docs/cluster.md, "File identity", the FUSE mount): the FUSE
# node table keys its nodes by the store generation in cluster mode.
#   Mount a writes F (8 KiB of 'a') and keeps it open. A's server lets go of
#   F's host fds (the test hook PC_FUSE_TEST_UNPIN: its fds of F are pointed
#   at a detached copy, as a machine of a shared file system holds nothing
#   of a file another machine unlinks). Mount b unlinks F and creates files
#   until one, G, gets F's inode number, and writes 8 KiB of 'b' into it.
#   A reads G through G's name: 'b' - G has a node of its own, not F's.
#   B then rewrites G with 'c': A reads 'c' (the invalidation hook reached
#   G's node: a's kernel cache of G is dropped).
#   With fuse_test_no_gen_key (PC_FUSE_NO_GEN_KEY=1 on a's server: nodes
#   keyed by (dev, ino) alone) A reads 'a': the lookup of G's name found
#   F's node, the kernel took G for F (the hazard shows).
# Both mount modes (kernel page cache, --direct-io). TAP; skips where
# /dev/fuse, fusermount3, root, ZooKeeper or ext4 under /var/tmp are
# missing, and (a counted skip) where the host gives F's number to none of
# 200 new files.
set -u
PAGECACHE=$(realpath "${1:?usage: $0 PAGECACHE ZK_SERVER}")
ZKS=$(realpath "${2:?usage: $0 PAGECACHE ZK_SERVER}")
LEN=8192
WORK=$(mktemp -d /var/tmp/pc-creuse-XXXXXX) || { echo "1..0 # SKIP no /var/tmp"; exit 0; }
. "$(dirname "$0")/cluster_mount_lib.sh"

require_mount_tools setfattr
# tmpfs never reuses a number; ext4 gives a freed one to the next create
[ "$(stat -f -c %T "$WORK")" = ext2/ext3 ] || skip_all "/var/tmp is not ext4"

zk_start

# what a file read through a mount holds: "LEN x BYTE", or "mixed"
content() {
	local len byte
	len=$(wc -c <"$1") || return 1
	byte=$(head -c 1 "$1")
	if [ -n "$byte" ] && [ "$(tr -d "$byte" <"$1" | wc -c)" -eq 0 ]; then echo "$len x $byte"
	else echo "$len mixed"; fi
}

# run MODE KEY: KEY "on" (the fix) or "off" (PC_FUSE_NO_GEN_KEY=1 on a)
run() {
	local mode=$1 key=$2 args=() env_a=(PC_FUSE_TEST_UNPIN=1) store ma mb ino g="" got
	[ "$mode" = direct-io ] && args=(--direct-io)
	[ "$key" = off ] && env_a+=(PC_FUSE_NO_GEN_KEY=1)
	local what="$mode, generation key $key"
	store=$WORK/store-$mode-$key ma=$WORK/ma-$mode-$key mb=$WORK/mb-$mode-$key
	mkdir -p "$store"
	PIDS=()
	NODE_ENV=("${env_a[@]}")
	mount_node a "$ma" "$store" "$mode-$key" "${args[@]}"
	local ra=$?
	NODE_ENV=()
	if [ $ra -ne 0 ] || ! mount_node b "$mb" "$store" "$mode-$key" "${args[@]}"; then
		not_ok "$what: two mounts of one directory"
		return
	fi
	head -c $LEN /dev/zero | tr '\0' a >"$ma/f"
	exec 7<"$ma/f"
	got=$(content "$ma/f")
	ino=$(stat -c %i "$store/f")
	if [ "$got" != "$LEN x a" ] || ! setfattr -n user.pagecache_test.unpin -v "$store/f" "$ma/f"; then
		not_ok "$what: F written and read through a ($got), a's server unpinned it"
		sed 's/^/# /' "$WORK/a.log" | tail -5
	elif ! rm "$mb/f"; then
		not_ok "$what: b unlinks F"
	else
		for i in $(seq 1 200); do
			: >"$mb/g$i" || break
			if [ "$(stat -c %i "$store/g$i")" = "$ino" ]; then g=g$i; break; fi
		done
		if [ -z "$g" ]; then
			skip_one "$what: the host gave F's number $ino to none of 200 new files"
		else
			head -c $LEN /dev/zero | tr '\0' b >"$mb/$g"
			got=$(content "$ma/$g")
			local ga; ga=$(stat -c %i "$ma/$g")
			echo "# $what: F was inode $ino; b's $g got it (${g#g} creates); a reads $g: $got (its st_ino $ga)"
			if [ $key = on ]; then
				[ "$got" = "$LEN x b" ] && ok "$what: a reads G's bytes through G's name ($got)" ||
					not_ok "$what: a reads $got through G's name, not G's $LEN x b"
				# b rewrites G: a's engine drops G's pages when b takes EX,
				# and its hook (every node of the number, F's dead one and
				# G's) has the kernel drop G's, shortly after
				head -c $LEN /dev/zero | tr '\0' c >"$mb/$g"
				local n=0
				while got=$(content "$ma/$g") && [ "$got" != "$LEN x c" ] && [ $n -lt 500 ]; do
					n=$((n + 1))
					sleep 0.01 # waiting for the kernel-cache drop (fuse_inval.c's thread)
				done
				[ "$got" = "$LEN x c" ] &&
					ok "$what: b rewrites G, a reads the new bytes ($got, after $n waits of 10 ms)" ||
					not_ok "$what: b rewrites G, a still reads $got after 5 s"
			else
				[ "$got" = "$LEN x a" ] &&
					ok "$what: the hazard shows: a reads F's bytes through G's name ($got)" ||
					not_ok "$what: a reads $got through G's name: the switch did not show F's $LEN x a"
			fi
		fi
	fi
	exec 7<&-
	local rc=0
	for p in "${PIDS[@]}"; do kill -TERM "$p"; wait "$p" || rc=$?; done
	PIDS=()
	[ $rc -eq 0 ] && ok "$what: both unmount cleanly" ||
		{ not_ok "$what: unmount status $rc"; sed 's/^/# /' "$WORK/a.log" "$WORK/b.log" | tail -20; }
}

for mode in cached direct-io; do
	for key in on off; do
		run $mode $key
	done
done
echo "1..$T"
[ "$FAILED" -eq 0 ]

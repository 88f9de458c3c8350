#!/bin/bash
# test_cluster_mount_mmap.sh PAGECACHE ZK_SERVER - shared mappings on two
# `pagecache mount --cluster` of one directory (two nodes, each its own
# engine and FUSE mount) with the kernel page cache (mmap_probe.py does
# the steps):
#   - a MAP_SHARED writable mapping of a file opened for writing is refused
#     with ENODEV (such opens use direct_io in cluster mode: a store into
#     the kernel's page cache would reach the engine only at the kernel's
#     write-back, unseen by the glocks);
#   - a MAP_SHARED read-only mapping on b (of an O_RDONLY open) shows a's
#     pwrite at once (the demote drops b's kernel pages);
#   - on one mount, a reader fd's cached pages show a writer fd's pwrite;
#   - MAP_PRIVATE of a writable open works, its stores stay private;
#   - fuse_test_cluster_shared_mmap (PC_FUSE_CLUSTER_SHARED_MMAP=1 on both
#     servers: writable opens keep the kernel cache, the old behaviour):
#     the mappings are granted, a stores at 100 and b at 200 of one page,
#     both msync, and a's msync'd bytes are gone (b's write-back of its
#     whole page undid them) - the hazard.
# TAP; skips where /dev/fuse, fusermount3, root, python3 or ZooKeeper are missing.
set -u
PAGECACHE=$(realpath "${1:?usage: $0 PAGECACHE ZK_SERVER}")
ZKS=$(realpath "${2:?usage: $0 PAGECACHE ZK_SERVER}")
PROBE=$(realpath "$(dirname "$0")/mmap_probe.py")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pc-cmmap-XXXXXX")
. "$(dirname "$0")/cluster_mount_lib.sh"

require_mount_tools python3

zk_start

for MODE in cached hazard; do
	store=$WORK/store-$MODE
	mkdir -p "$store"
	PIDS=()
	NODE_ENV=()
	[ $MODE = hazard ] && NODE_ENV=(PC_FUSE_CLUSTER_SHARED_MMAP=1)
	if ! mount_node a "$WORK/ma" "$store" "$MODE" || ! mount_node b "$WORK/mb" "$store" "$MODE"; then
		not_ok "$MODE: two mounts of one directory"
		continue
	fi
	NODE_ENV=()
	out=$(timeout 120 python3 "$PROBE" "$WORK/ma" "$WORK/mb" 2>&1)
	echo "$out" | sed "s/^/# $MODE: /"
	line() { echo "$out" | sed -n "s/^$1: //p"; }
	if [ $MODE = hazard ]; then
		r=$(line two-node-stores)
		if [ "$(line shared-write)" = mapped ] && [ -n "$r" ] && [ "$r" != "a reads aaaa bbbb, b reads aaaa bbbb" ]; then
			ok "hazard (PC_FUSE_CLUSTER_SHARED_MMAP=1): both nodes map one page shared writable and msync: a's store is lost ($r)"
		else not_ok "hazard: the mappings were not granted or both stores survived: $(line shared-write); $r"; fi
	else
		is() { [ "$2" = "$3" ] && ok "$MODE: $1" || not_ok "$MODE: $1: got '$3', want '$2'"; }
		is "MAP_SHARED writable mapping of an O_RDWR open is refused" "refused ENODEV" "$(line shared-write)"
		is "b's MAP_SHARED read-only mapping shows a's pwrite" "b's mapping shows ABCD after a's pwrite (was ....)" "$(line read-map)"
		is "a reader fd on a sees a writer fd's pwrite on a" "a's reader fd reads WXYZ after a's writer fd wrote WXYZ" "$(line local)"
		is "MAP_PRIVATE of an O_RDWR open works, its stores stay private" ok "$(line private)"
	fi
	rc=0
	for p in "${PIDS[@]}"; do kill -TERM "$p"; wait "$p" || rc=$?; done
	PIDS=()
	if [ $rc -eq 0 ]; then ok "$MODE: both unmount cleanly"
	else not_ok "$MODE: unmount status $rc"; sed 's/^/# /' "$WORK/a.log" "$WORK/b.log" | tail -20; fi
done
echo "1..$T"
[ "$FAILED" -eq 0 ]

#!/bin/bash
# test_cluster_mount.sh PAGECACHE ZK_SERVER - two `pagecache mount --cluster`
# of one directory (two nodes, each its own engine and FUSE mount), in both
# mount modes (kernel page cache, --direct-io): dd through one mount and cmp
# through the other at once, no sleep between them, then the other way round
# with new data (the first mount's kernel cache of the file must be dropped
# when the second node takes the glock). A listing through one mount resumed after
# the other removed the directory (rm -rf) ends without an error. Also the bad inputs of the command:
# a malformed URL, an unreachable ZooKeeper (a clear error within the
# connect timeout), a vol image with --cluster. TAP; skips where /dev/fuse,
# fusermount3, root or ZooKeeper are missing.
set -u
PAGECACHE=$(realpath "${1:?usage: $0 PAGECACHE ZK_SERVER}")
ZKS=$(realpath "${2:?usage: $0 PAGECACHE ZK_SERVER}")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pc-cmount-XXXXXX")
. "$(dirname "$0")/cluster_mount_lib.sh"

require_mount_tools

# bad inputs first (no ZooKeeper needed)
mkdir -p "$WORK/bad" "$WORK/mbad"
out=$("$PAGECACHE" mount --cluster "zk://no port/x" --dir "$WORK/bad" "$WORK/mbad" 2>&1)
rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q "Invalid argument"; then ok "malformed URL: refused ($out)"
else not_ok "malformed URL: rc $rc: $out"; fi
# a port nobody listens on: refused or timed out, quickly
start=$(date +%s)
out=$("$PAGECACHE" mount --cluster "zk://127.0.0.1:1/x" --dir "$WORK/bad" "$WORK/mbad" 2>&1)
rc=$?
took=$(($(date +%s) - start))
if [ $rc -ne 0 ] && [ $took -le 30 ] && echo "$out" | grep -q "pagecache mount: --cluster"; then
	ok "unreachable ZooKeeper: a clear error in ${took}s ($out)"
else not_ok "unreachable ZooKeeper: rc $rc after ${took}s: $out"; fi
touch "$WORK/img"
out=$("$PAGECACHE" mount --cluster "zk://127.0.0.1:2181/x" "$WORK/img" "$WORK/mbad" 2>&1)
rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q "vol store does not support cluster mode"; then
	ok "vol image with --cluster: refused"
else not_ok "vol with --cluster: rc $rc: $out"; fi

zk_start

head -c $((8 << 20)) /dev/urandom >"$WORK/src1"
head -c $((6 << 20 | 12345)) /dev/urandom >"$WORK/src2"
for MODE in cached direct-io; do
	args=()
	[ $MODE = direct-io ] && args=(--direct-io)
	store=$WORK/store-$MODE
	mkdir -p "$store"
	PIDS=()
	if ! mount_node a "$WORK/ma" "$store" "$MODE" "${args[@]}" ||
	   ! mount_node b "$WORK/mb" "$store" "$MODE" "${args[@]}"; then
		not_ok "$MODE: two mounts of one directory"
		continue
	fi
	ok "$MODE: two mounts --cluster of one directory"
	if dd if="$WORK/src1" of="$WORK/ma/f" bs=1M status=none && cmp "$WORK/src1" "$WORK/mb/f"; then
		ok "$MODE: dd through mount a, cmp through mount b at once"
	else not_ok "$MODE: dd through a, cmp through b"; fi
	if dd if="$WORK/src2" of="$WORK/mb/f" bs=64k conv=notrunc status=none &&
	   truncate -s $((6 << 20 | 12345)) "$WORK/mb/f" && cmp "$WORK/src2" "$WORK/ma/f"; then
		ok "$MODE: new data through mount b, cmp through mount a at once"
	else not_ok "$MODE: new data through b, cmp through a"; fi
	# a listing through b resumed after a's rm -rf of its directory: the
	# rest is empty (the dir store's seek to the cookie was EINVAL on ext4)
	if command -v python3 >/dev/null; then
		mkdir "$WORK/ma/ls" && touch "$WORK/ma/ls/"{1..20}
		r=$(python3 -c 'import os, sys, subprocess
it = os.scandir(sys.argv[2])
next(it)
subprocess.run(["rm", "-rf", sys.argv[1]], check=True)
try:
    print("rest", len(list(it)))
except OSError as e:
    print(e.strerror)' "$WORK/ma/ls" "$WORK/mb/ls" 2>&1)
		case "$r" in
		"rest "*) ok "$MODE: a listing through b resumed after a's rm -rf of the directory: no error ($r)" ;;
		*) not_ok "$MODE: a listing through b resumed after a's rm -rf of the directory: $r" ;;
		esac
	else skip_one "$MODE: no python3"; fi
	rc=0
	for p in "${PIDS[@]}"; do kill -TERM "$p"; wait "$p" || rc=$?; done
	PIDS=()
	if [ $rc -eq 0 ]; then ok "$MODE: both unmount cleanly"
	else not_ok "$MODE: unmount status $rc"; sed 's/^/# /' "$WORK/a.log" "$WORK/b.log" | tail -20; fi
	cmp -s "$WORK/src2" "$store/f" && ok "$MODE: the directory holds the data" ||
		not_ok "$MODE: the directory's file differs"
done
echo "1..$T"
[ "$FAILED" -eq 0 ]

#!/bin/bash
# cluster_mount_lib.sh - sourced by the tests of `pagecache mount --cluster`
# (test_cluster_mount*.sh): TAP helpers (ok, not_ok, skip_one, skip_all),
# the cleanup at exit (their servers, mounts under $WORK, ZooKeeper, $WORK),
# require_mount_tools, zk_start (a ZooKeeper of tests/cluster/zk_server on a
# free port: URL) and
# mount_node (one node's mount in the background, waited for).
# The script sets PAGECACHE, ZKS and WORK before it sources this; T and
# FAILED count the TAP lines; NODE_ENV holds VAR=VALUE words for the next
# mount_node's server.
T=0
FAILED=0
PIDS=()
NODE_ENV=()

ok() { T=$((T + 1)); echo "ok $T - $*"; }
not_ok() { T=$((T + 1)); FAILED=$((FAILED + 1)); echo "not ok $T - $*"; }
skip_one() { T=$((T + 1)); echo "ok $T # SKIP $*"; }
skip_all() { echo "1..0 # SKIP $*"; rm -rf "$WORK"; exit 0; }
cleanup() {
	exec 7<&- 8>&- 2>/dev/null # a script's file held open on a mount
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	for m in "$WORK"/m*; do fusermount3 -u "$m" 2>/dev/null; done
	[ -n "${ZK_PID:-}" ] && { exec {ZK[1]}>&-; wait "$ZK_PID" 2>/dev/null; }
	rm -rf "$WORK"
}
trap cleanup EXIT

# require_mount_tools [COMMAND...]: skips everything where FUSE, fusermount3,
# root or one of the COMMANDs is missing
require_mount_tools() {
	[ -c /dev/fuse ] || skip_all "no /dev/fuse"
	command -v fusermount3 >/dev/null || skip_all "no fusermount3"
	for c in "$@"; do command -v "$c" >/dev/null || skip_all "no $c"; done
	[ "$(id -u)" -eq 0 ] || skip_all "not root"
}

# zk_start: ZooKeeper up, its URL in URL; skips everything where there is none
zk_start() {
	coproc ZK { "$ZKS"; }
	ZK_PID=$ZK_PID
	if ! read -r URL <&"${ZK[0]}"; then
		wait "$ZK_PID"
		[ $? -eq 77 ] && skip_all "no ZooKeeper"
		not_ok "zk_server"
		echo "1..$T"
		exit 1
	fi
}

is_mounted() { grep -q " $1 fuse" /proc/mounts; }

# mount_node NODE MNT STORE PATH MODE-ARGS...: node NODE of the cluster at
# $URL/PATH serving STORE on MNT; 1 (its log shown) if it did not come up
mount_node() {
	local node=$1 mnt=$2 store=$3 path=$4
	shift 4
	mkdir -p "$mnt"
	env "${NODE_ENV[@]}" "$PAGECACHE" mount --stats-interval 0 "$@" --cluster "$URL/$path" \
		--node "$node" --dir "$store" "$mnt" 2>"$WORK/$node.log" &
	PIDS+=($!)
	for _ in $(seq 1 1500); do
		is_mounted "$mnt" && return 0
		kill -0 "${PIDS[-1]}" 2>/dev/null || break
		sleep 0.02 # waiting for the mount to appear, not ordering threads
	done
	echo "# mount of $node failed:"
	sed 's/^/# /' "$WORK/$node.log"
	return 1
}

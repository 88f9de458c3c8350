#!/bin/bash
# test_cluster_mount_flock.sh PAGECACHE ZK_SERVER - flock(1) on two
# `pagecache mount --cluster` of one directory (two nodes, each its own
# engine and FUSE mount), in both mount modes: the mounts' flock is the
# engine's, held across nodes through the file's flock glock.
#   - `flock -x` held through mount a: `flock -n -x` through mount b fails;
#     released: granted;
#   - a blocking `flock -x` on b waits inside flock(2) while a holds the
#     lock and is granted once a lets go;
#   - a blocking `flock -x` on b killed while it waits (FUSE_INTERRUPT: the
#     server cancels it) leaves no request behind: once b's server has no
#     flock waiting, a's unlock and `flock -n -x` again on a are granted;
#   - fuse_test_no_flock_op (PC_FUSE_NO_FLOCK=1 on both servers: the
#     kernel keeps each mount's flocks itself): b's `flock -n -x` is
#     granted while a holds it - both nodes hold LOCK_EX (the hazard).
# TAP; skips where /dev/fuse, fusermount3, root or ZooKeeper are missing.
set -u
PAGECACHE=$(realpath "${1:?usage: $0 PAGECACHE ZK_SERVER}")
ZKS=$(realpath "${2:?usage: $0 PAGECACHE ZK_SERVER}")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pc-cflock-XXXXXX")
. "$(dirname "$0")/cluster_mount_lib.sh"

require_mount_tools flock

zk_start

# in_flock PID: waits until PID sleeps inside flock(2) (x86-64: 73); 0 if so
in_flock() {
	local nr=
	for _ in $(seq 1 3000); do
		read -r nr _ <"/proc/$1/syscall" 2>/dev/null
		[ "${nr:-}" = 73 ] && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.01 # waiting for it to block, not ordering threads
	done
	return 1
}
# waiting MNT: the server's count of flocks waiting
waiting() { sed -n 's/^fuse_flocks_waiting //p' "$1/.pagecache-stats"; }
unmount_all() {
	local rc=0
	exec 8>&- 2>/dev/null
	for p in "${PIDS[@]}"; do kill -TERM "$p"; wait "$p" || rc=$?; done
	PIDS=()
	if [ $rc -eq 0 ]; then ok "$1: both unmount cleanly"
	else not_ok "$1: unmount status $rc"; sed 's/^/# /' "$WORK/a.log" "$WORK/b.log" | tail -20; fi
}

for MODE in cached direct-io hazard; do
	args=()
	[ $MODE = direct-io ] && args=(--direct-io)
	store=$WORK/store-$MODE
	mkdir -p "$store"
	: >"$store/f"
	PIDS=()
	if [ $MODE = hazard ]; then export PC_FUSE_NO_FLOCK=1; fi
	if ! mount_node a "$WORK/ma" "$store" "$MODE" "${args[@]}" ||
	   ! mount_node b "$WORK/mb" "$store" "$MODE" "${args[@]}"; then
		not_ok "$MODE: two mounts of one directory"
		unset PC_FUSE_NO_FLOCK
		continue
	fi
	unset PC_FUSE_NO_FLOCK
	exec 8<>"$WORK/ma/f"
	flock -x 8 || not_ok "$MODE: flock -x through mount a"
	if [ $MODE = hazard ]; then
		if flock -n -x "$WORK/mb/f" true; then
			ok "hazard (PC_FUSE_NO_FLOCK=1): flock -n -x through b granted while a holds flock -x: both nodes hold LOCK_EX"
		else not_ok "hazard: flock -n -x through b failed (the kernel's local flock cannot see a's)"; fi
		unmount_all "$MODE"
		continue
	fi
	flock -n -x "$WORK/mb/f" true && not_ok "$MODE: flock -n -x through b granted while a holds it" ||
		ok "$MODE: flock -n -x through b fails while a holds flock -x"
	flock -n -s "$WORK/mb/f" true && not_ok "$MODE: flock -n -s through b granted while a holds -x" ||
		ok "$MODE: flock -n -s through b fails too"
	flock -u 8
	flock -n -x "$WORK/mb/f" true && ok "$MODE: a released: flock -n -x through b granted" ||
		not_ok "$MODE: a released, flock -n -x through b still fails"
	# a blocking one on b, granted after a's release
	flock -x 8
	rm -f "$WORK/released"
	flock -x "$WORK/mb/f" sh -c "test -e '$WORK/released' && echo after >'$WORK/granted' || echo before >'$WORK/granted'" &
	BP=$!
	if in_flock $BP; then ok "$MODE: blocking flock -x through b waits inside flock(2) while a holds it"
	else not_ok "$MODE: blocking flock -x through b did not wait"; fi
	touch "$WORK/released"
	flock -u 8
	wait $BP
	brc=$?
	if [ $brc -eq 0 ] && [ "$(cat "$WORK/granted" 2>/dev/null)" = after ]; then
		ok "$MODE: b's blocking flock -x granted after a's release"
	else not_ok "$MODE: b's blocking flock: status $brc, granted $(cat "$WORK/granted" 2>/dev/null)"; fi
	# a blocking one on b killed while it waits: no request left behind
	flock -x 8
	flock -x "$WORK/mb/f" true &
	BP=$!
	in_flock $BP || not_ok "$MODE: the second blocking flock through b did not wait"
	kill -TERM $BP
	wait $BP 2>/dev/null
	for _ in $(seq 1 3000); do
		[ "$(waiting "$WORK/mb")" = 0 ] && break
		sleep 0.01 # waiting for b's server to cancel it, not ordering threads
	done
	w=$(waiting "$WORK/mb")
	[ "$w" = 0 ] && ok "$MODE: b's killed flock was cancelled in b's server" ||
		not_ok "$MODE: b's server still has $w flock(s) waiting"
	flock -u 8
	exec 8>&-
	flock -n -x "$WORK/ma/f" true && ok "$MODE: then a's flock -n -x again is granted (no request of b's left)" ||
		not_ok "$MODE: a's flock -n -x fails after b's killed flock (its request stayed)"
	flock -n -x "$WORK/mb/f" true && ok "$MODE: and b's flock -n -x" ||
		not_ok "$MODE: b's flock -n -x fails at the end"
	unmount_all "$MODE"
done
echo "1..$T"
[ "$FAILED" -eq 0 ]

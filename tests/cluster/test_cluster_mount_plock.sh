#!/bin/bash
# test_cluster_mount_plock.sh PAGECACHE ZK_SERVER - fcntl(2) byte-range locks
# on two `pagecache mount --cluster` of one directory (two nodes, each its
# own engine and FUSE mount), in both mount modes: the mounts' POSIX and OFD
# locks are the engine's, published to the lock service (plock_probe.py
# takes them as a program does).
#   - a process holding F_WRLCK [0,99] through mount a: F_SETLK of [50]
#     through b fails (write and read), F_GETLK through b reports a's range,
#     a disjoint range is granted; another process on a is kept out too;
#   - a blocking F_SETLKW on b waits inside fcntl(2) and is granted once a's
#     holder exits (its close releases the lock: FUSE_FLUSH);
#   - an OFD lock through a keeps b out until its open file is closed;
#   - a blocking F_SETLKW on b killed while it waits (FUSE_INTERRUPT) leaves
#     nothing behind: b's server has no lock waiting, and a new lock on a is
#     granted after a's release;
#   - two processes on a, each holding a byte the other asks for with
#     F_SETLKW: the request that reaches the engine second, which would
#     close the cycle, fails with EDEADLK (the engine's check; the kernel
#     hands a FUSE mount's locks to the server) and the other is granted
#     once it exits;
#   - two SQLite writers (rollback journal), one per mount, insert
#     concurrently: every row is there once and the database is sound, read
#     through either mount;
#   - after the unmount no table is left under the lock root's p/ (every
#     file's table went when its inode was evicted, at the latest by the
#     engine's close at the unmount, on both nodes);
#   - fuse_test_no_posix_lock_op (PC_FUSE_NO_POSIX_LOCKS=1 on both servers:
#     the kernel keeps each mount's fcntl locks itself): b's F_SETLK of the
#     range a holds is granted - both nodes hold the write lock (the hazard).
# TAP; skips where /dev/fuse, fusermount3, root, python3 or ZooKeeper are missing.
set -u
PAGECACHE=$(realpath "${1:?usage: $0 PAGECACHE ZK_SERVER}")
ZKS=$(realpath "${2:?usage: $0 PAGECACHE ZK_SERVER}")
PROBE=$(realpath "$(dirname "$0")/plock_probe.py")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pc-cplock-XXXXXX")
. "$(dirname "$0")/cluster_mount_lib.sh"

require_mount_tools python3
SQLITE=$(command -v sqlite3)
N=${PC_PLOCK_SQLITE_ROWS:-100}

zk_start

probe() { python3 "$PROBE" "$@"; }
# in_fcntl PID: waits until PID sleeps inside fcntl(2) (x86-64: 72); 0 if so
in_fcntl() {
	local nr=
	for _ in $(seq 1 3000); do
		read -r nr _ <"/proc/$1/syscall" 2>/dev/null
		[ "${nr:-}" = 72 ] && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.01 # waiting for it to block, not ordering threads
	done
	return 1
}
# hold_start OP PATH TYPE START LEN: a process holding the lock (OP hold or
# ofd-hold) until hold_stop; 1 if it could not take it
hold_start() {
	rm -f "$WORK/hold.in" "$WORK/hold.out"
	mkfifo "$WORK/hold.in"
	python3 "$PROBE" "$@" <"$WORK/hold.in" >"$WORK/hold.out" 2>&1 &
	HOLD_PID=$!
	exec 9>"$WORK/hold.in"
	for _ in $(seq 1 3000); do
		grep -q held "$WORK/hold.out" 2>/dev/null && break
		sleep 0.01 # waiting for its answer, not ordering threads
	done
	[ "$(cat "$WORK/hold.out")" = held ]
}
hold_stop() { echo >&9; exec 9>&-; wait "$HOLD_PID"; }
waiting() { sed -n 's/^fuse_flocks_waiting //p' "$1/.pagecache-stats"; }
is() { # is WHAT WANT GOT
	if [ "$3" = "$2" ]; then ok "$MODE: $1"; else not_ok "$MODE: $1: got '$3', want '$2'"; fi
}
unmount_all() {
	local rc=0
	exec 9>&- 2>/dev/null
	for p in "${PIDS[@]}"; do kill -TERM "$p"; wait "$p" || rc=$?; done
	PIDS=()
	if [ $rc -eq 0 ]; then ok "$MODE: both unmount cleanly"
	else not_ok "$MODE: unmount status $rc"; sed 's/^/# /' "$WORK/a.log" "$WORK/b.log" | tail -20; fi
}
# sqlite_writers: two writers, one per mount, N transactions each
sqlite_writers() {
	local a=$WORK/ma/db b=$WORK/mb/db out t0 t1
	"$SQLITE" "$a" "PRAGMA journal_mode=DELETE; CREATE TABLE t(w TEXT, n INT);" >/dev/null
	gen() { echo ".timeout 120000"; for i in $(seq 1 "$N"); do
		echo "BEGIN IMMEDIATE; INSERT INTO t VALUES('$1', $i); COMMIT;"; done; }
	t0=$(date +%s.%N)
	gen a | "$SQLITE" -bail "$a" >"$WORK/sa.out" 2>&1 &
	local pa=$!
	gen b | "$SQLITE" -bail "$b" >"$WORK/sb.out" 2>&1 &
	local pb=$!
	wait $pa; local ra=$?
	wait $pb; local rb=$?
	t1=$(date +%s.%N)
	echo "# $MODE: 2 x $N SQLite transactions in $(echo "$t1 - $t0" | bc 2>/dev/null || echo ?) s (writers' status $ra $rb)"
	[ $ra -eq 0 ] && [ $rb -eq 0 ] || sed 's/^/# /' "$WORK/sa.out" "$WORK/sb.out" | head -5
	out=$("$SQLITE" "$b" "SELECT count(*), count(DISTINCT w || '-' || n) FROM t; PRAGMA integrity_check;" 2>&1 | tr '\n' ' ')
	echo "$out"
}

for MODE in cached direct-io hazard; do
	args=()
	[ $MODE = direct-io ] && args=(--direct-io)
	store=$WORK/store-$MODE
	mkdir -p "$store"
	: >"$store/f"
	PIDS=()
	NODE_ENV=()
	[ $MODE = hazard ] && NODE_ENV=(PC_FUSE_NO_POSIX_LOCKS=1)
	if ! mount_node a "$WORK/ma" "$store" "$MODE" "${args[@]}" ||
	   ! mount_node b "$WORK/mb" "$store" "$MODE" "${args[@]}"; then
		not_ok "$MODE: two mounts of one directory"
		continue
	fi
	NODE_ENV=()
	fa=$WORK/ma/f fb=$WORK/mb/f
	if ! hold_start hold "$fa" w 0 100; then
		not_ok "$MODE: F_WRLCK [0,99] through mount a: $(cat "$WORK/hold.out")"
		unmount_all
		continue
	fi
	if [ $MODE = hazard ]; then
		r=$(probe try "$fb" w 50 1)
		if [ "$r" = granted ]; then
			ok "hazard (PC_FUSE_NO_POSIX_LOCKS=1): F_SETLK F_WRLCK [50] through b granted while a holds [0,99]: both nodes hold the write lock"
		else not_ok "hazard: F_SETLK through b: $r (the kernel's local locks cannot see a's)"; fi
		hold_stop
		r=$(sqlite_writers)
		echo "# hazard: two SQLite writers without cluster-wide locks: $(echo "$r" | tail -1) (not asserted)"
		unmount_all
		continue
	fi
	is "F_SETLK F_WRLCK [50] through b fails while a holds [0,99]" EAGAIN "$(probe try "$fb" w 50 1)"
	is "F_SETLK F_RDLCK [0] through b fails too" EAGAIN "$(probe try "$fb" r 0 1)"
	is "F_GETLK through b reports a's lock" "w 0 100" "$(probe getlk "$fb" r 50 1)"
	is "a disjoint F_WRLCK [100,199] through b is granted" granted "$(probe try "$fb" w 100 100)"
	is "another process on a is kept out too" EAGAIN "$(probe try "$fa" w 99 1)"
	# a blocking one on b, granted after a's holder exits
	rm -f "$WORK/released"
	python3 "$PROBE" wait "$fb" w 50 1 "$WORK/released" >"$WORK/wait.out" 2>&1 &
	WP=$!
	if in_fcntl $WP; then ok "$MODE: blocking F_SETLKW through b waits inside fcntl(2)"
	else not_ok "$MODE: blocking F_SETLKW through b did not wait: $(cat "$WORK/wait.out")"; fi
	touch "$WORK/released"
	hold_stop
	wait $WP
	is "b's F_SETLKW granted after a's holder closed the file (status $?)" after "$(cat "$WORK/wait.out")"
	is "then a's F_SETLK is granted (b's waiter exited)" granted "$(probe try "$fa" w 0 100)"
	# an OFD lock through a
	if hold_start ofd-hold "$fa" w 0 10; then
		is "an OFD F_WRLCK [0,9] through a keeps b's F_SETLK out" EAGAIN "$(probe try "$fb" w 5 1)"
		hold_stop
		is "and is released with its open file" granted "$(probe try "$fb" w 5 1)"
	else not_ok "$MODE: OFD lock through a: $(cat "$WORK/hold.out")"; fi
	# a blocking one on b killed while it waits: nothing left behind
	hold_start hold "$fa" w 0 10 || not_ok "$MODE: the third hold through a"
	python3 "$PROBE" wait "$fb" w 0 1 "$WORK/released" >/dev/null 2>&1 &
	WP=$!
	in_fcntl $WP || not_ok "$MODE: the second F_SETLKW through b did not wait"
	kill -TERM $WP
	wait $WP 2>/dev/null
	for _ in $(seq 1 3000); do
		[ "$(waiting "$WORK/mb")" = 0 ] && break
		sleep 0.01 # waiting for b's server to cancel it, not ordering threads
	done
	is "b's killed F_SETLKW was cancelled in b's server" 0 "$(waiting "$WORK/mb")"
	hold_stop
	is "then F_SETLK through a is granted (nothing of b's left)" granted "$(probe try "$fa" w 0 10)"
	is "and through b" granted "$(probe try "$fb" w 0 10)"
	# Which of the two closes the cycle is the engine's order of arrival:
	# the first is inside fcntl(2) before the second asks, but its request
	# may not have reached the server yet.
	r=$(timeout 60 python3 "$PROBE" deadlock "$fa")
	[ "$r" = "second granted first EDEADLK" ] && r="second EDEADLK first granted"
	is "two processes on a: the F_SETLKW that would close a cycle fails with EDEADLK, the other is granted" \
		"second EDEADLK first granted" "$r"
	if [ -n "$SQLITE" ]; then
		r=$(sqlite_writers)
		echo "$r" | grep '^#'
		is "two SQLite writers, one per mount: every row once, integrity ok" "$((2 * N)) $((2 * N)) ok" \
			"$(echo "$r" | tail -1 | sed 's/|/ /; s/ *$//')"
	else skip_one "$MODE: no sqlite3"; fi
	unmount_all
	# every inode evicted on both nodes (the unmount): their tables went with it
	echo "children /$MODE/p" >&"${ZK[1]}"
	read -r n <&"${ZK[0]}"
	is "no byte-range lock table left in ZooKeeper after the unmount (<root>/p's children)" 0 "$n"
done
echo "1..$T"
[ "$FAILED" -eq 0 ]

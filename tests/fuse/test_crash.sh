#!/usr/bin/env bash
# test_crash.sh - crashes of the FUSE server (SIGKILL) on a vol image, each
# followed by a remount that checks what survived (TAP):
#  1. names: create/mkdir/rename/unlink followed by fsync(dirfd) of the
#     directories are all there (the mount's periodic commit is set to an
#     hour, so only the fsyncs can have made them durable);
#  2. age: a mkdir and 1 MiB written through a file left open are there once
#     the data has been written back (dirty expire 200 ms) and the periodic
#     commit (200 ms) has looked twice since - waited for by polling the
#     mount's statistics, not by sleeping;
#  3. SQLite with synchronous=FULL, in rollback-journal mode (TRUNCATE: a
#     commit is the journal truncated and fsync'd; DELETE, the default,
#     needs synchronous=EXTRA - SQLite's own rule: with FULL the unlink that
#     commits is not synced - and so is run with EXTRA, which syncs the
#     directory) and in WAL mode (PRAGMA locking_mode=EXCLUSIVE: the
#     wal-index in heap memory, as a --direct-io mount refuses MAP_SHARED
#     and the script runs in both modes): no transaction whose commit returned is lost, and
#     PRAGMA integrity_check is ok. The server is killed after a seeded
#     random number of commits (SQLite stopped at that moment: a commit
#     counts if it returned before the kill).
# Then each protection is switched off (PC_TEST_FSYNCDIR_NOOP=1,
# PC_TEST_NO_PERIODIC_COMMIT=1) and the loss is shown to happen (names, old
# changes, an SQLite DELETE/EXTRA commit).
# Rounds: PC_CRASH_ROUNDS (default 20; 5 under PC_QUICK). The seed is
# printed; PC_SEED replays the choices (kill points land where they land).
. "$(dirname "$0")/lib.sh"
require_fuse
command -v sqlite3 >/dev/null || skip_all "no sqlite3 (scripts/deps.sh installs it)"
command -v python3 >/dev/null || skip_all "no python3"

SEED=${PC_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
SEED=$((SEED % 32768))
echo "# seed $SEED (replay: PC_SEED=$SEED)"
RANDOM=$SEED
if [ "${PC_QUICK:-0}" = 1 ]; then ROUNDS=${PC_CRASH_ROUNDS:-5}; else ROUNDS=${PC_CRASH_ROUNDS:-20}; fi
HOUR=3600000

# fsync(2) of directories, as an application does after changing names
fsync_dirs() { python3 -c '
import os, sys
for d in sys.argv[1:]:
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)' "$@"; }

stat_of() { awk -v k="$1" '$1 == k { print $2 }' "$MNT/.pagecache-stats" 2>/dev/null; }

# poll_until SECONDS COMMAND...: bounded wait for a condition (while the
# server lives)
poll_until() {
	local limit=$1 i
	shift
	for ((i = 0; i < limit * 50; i++)); do
		"$@" && return 0
		kill -0 "$MOUNT_PID" 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}

# the crash: SIGKILL of the server, the dead mount detached
# (each server's log is kept: a sanitizer report there fails the test)
crash() {
	kill -KILL "$MOUNT_PID" 2>/dev/null
	wait "$MOUNT_PID" 2>/dev/null
	MOUNT_PID=
	fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
	cat "$WORK/mount.log" >>"$WORK/servers.log"
}

# what a round finds missing goes to $WORK/miss (rounds crash and remount:
# they run in this shell, never in a $(...) subshell)
miss() { echo "$*" >>"$WORK/miss"; }
# run_round FUNCTION ARGS...: its findings, or "" when nothing is missing
run_round() {
	: >"$WORK/miss"
	"$@"
	M=$(tr '\n' ' ' <"$WORK/miss" | sed 's/ $//')
}

remount() {
	if ! mount_fresh "$@"; then
		not_ok "remount"
		finish
	fi
}

mount_fresh --commit-interval $HOUR || { not_ok "mount"; finish; }
[ "$STORE_KIND" = vol ] || { crash; skip_all "needs the vol store"; }
ok "mounted (vol store; $ROUNDS rounds per part)"

# ---- 1. names made durable by fsync(dirfd) ----
# round k: r$k/{a,b,d/} made, a renamed to c, the previous round's b
# unlinked; fsync of r$k, r$((k-1)) and the root; one more mkdir after.
names_round() { # K
	local k=$1 p=$(($1 - 1))
	mkdir "$MNT/r$k" "$MNT/r$k/d" && : >"$MNT/r$k/a" && : >"$MNT/r$k/b" &&
		mv "$MNT/r$k/a" "$MNT/r$k/c" || miss "setup-failed"
	[ "$p" -ge 0 ] && rm -f "$MNT/r$p/b"
	local dirs=("$MNT" "$MNT/r$k")
	[ "$p" -ge 0 ] && dirs+=("$MNT/r$p")
	fsync_dirs "${dirs[@]}" || miss "fsync-failed"
	mkdir "$MNT/late$k" # after the fsyncs: may be lost
	crash
	remount --commit-interval $HOUR
	[ -d "$MNT/r$k/d" ] || miss "r$k/d"
	[ -e "$MNT/r$k/c" ] || miss "r$k/c"
	[ -e "$MNT/r$k/a" ] && miss "r$k/a-still-there"
	[ -e "$MNT/r$k/b" ] || miss "r$k/b"
	if [ "$p" -ge 0 ] && [ -e "$MNT/r$p/b" ]; then miss "r$p/b-still-there"; fi
	return 0
}
lost=
for ((k = 0; k < ROUNDS; k++)); do
	run_round names_round $k
	[ -n "$M" ] && lost="$lost [round $k: $M]"
done
eq "names: $ROUNDS kills after fsync(dirfd), nothing lost" "$lost" ""

# ---- 2. changes older than the commit interval + dirty expire ----
crash
remount --commit-interval 200 --dirty-expire 200
head -c $((1 << 20)) /dev/urandom >"$WORK/mib"
want=$(sha256sum <"$WORK/mib" | cut -d' ' -f1)
clean() { [ "$(stat_of dirty_pages)" = 0 ]; }
checks_past() { local n; n=$(stat_of periodic_checks); [ -n "$n" ] && [ "$n" -ge "$1" ]; }
age_round() { # K [nowait]
	local k=$1 nowait=${2:-}
	mkdir "$MNT/p$k" || miss "setup-failed"
	exec 3>"$MNT/p$k/f" # left open: no close writes it back
	cat "$WORK/mib" >&3
	mv "$MNT/p$k" "$MNT/q$k"
	if [ -z "$nowait" ]; then
		poll_until 60 clean || miss "writeback-timeout"
		local c
		c=$(stat_of periodic_checks)
		# two looks of the periodic commit after the writeback: the
		# second began after it and committed what it changed
		poll_until 60 checks_past $((c + 2)) || miss "commit-timeout"
	else
		# five looks of the periodic commit: with the switch on none commits
		local c
		c=$(stat_of periodic_checks)
		poll_until 60 checks_past $((c + 5)) || miss "timer-timeout"
	fi
	crash
	exec 3>&-
	remount --commit-interval 200 --dirty-expire 200
	[ -d "$MNT/q$k" ] || miss "q$k"
	[ -e "$MNT/p$k" ] && miss "p$k-still-there"
	if [ -e "$MNT/q$k/f" ]; then
		[ "$(sha256sum <"$MNT/q$k/f" | cut -d' ' -f1)" = "$want" ] || miss "q$k/f-data"
	else
		miss "q$k/f"
	fi
	return 0
}
lost=
for ((k = 0; k < ROUNDS; k++)); do
	run_round age_round $k
	[ -n "$M" ] && lost="$lost [round $k: $M]"
done
eq "age: $ROUNDS kills after interval + expire, nothing lost" "$lost" ""

# ---- 3. SQLite, synchronous=FULL (EXTRA for DELETE) ----
crash
remount --commit-interval $HOUR
committed_at_least() { [ "$(grep -c '^C' "$1")" -ge "$2" ]; }
# sql_round MODE K: commits transactions until the server is killed after a
# random number of them; prints what is wrong after the remount
sql_round() {
	local mode=$1 k=$2 db="$MNT/$1.db" log="$WORK/$1.log" want_n=$((1 + RANDOM % 40))
	local pragmas=(-cmd "PRAGMA synchronous=FULL")
	case $mode in
	truncate) pragmas+=(-cmd "PRAGMA journal_mode=TRUNCATE") ;;
	delete) pragmas=(-cmd "PRAGMA synchronous=EXTRA" -cmd "PRAGMA journal_mode=DELETE") ;;
	wal) # before anything reads the database (synchronous does: the schema)
		pragmas=(-cmd "PRAGMA locking_mode=EXCLUSIVE" -cmd "PRAGMA journal_mode=WAL"
			"${pragmas[@]}") ;;
	esac
	local start
	start=$(sqlite3 -bail "${pragmas[@]}" "$db" \
		"CREATE TABLE IF NOT EXISTS t(i INTEGER PRIMARY KEY, b BLOB); SELECT 'N' || count(*) FROM t;" |
		sed -n 's/^N//p')
	[ -n "$start" ] || { miss "open-failed"; crash; remount --commit-interval $HOUR; return 0; }
	: >"$log"
	(for ((i = start + 1; i < start + 100000; i++)); do
		echo "INSERT INTO t VALUES($i, randomblob(1000 + $i % 7000));"
		echo "SELECT 'C' || $i;"
	done) | stdbuf -oL sqlite3 -bail "${pragmas[@]}" "$db" >"$log" 2>/dev/null &
	local sq=$!
	poll_until 60 committed_at_least "$log" "$want_n" || miss "no-progress"
	# SQLite stopped first: the commits it printed so far ran entirely
	# while the server was alive. (One it finishes after the kill may be
	# "committed" without its directory fsync: SQLite ignores a directory
	# it cannot open for that fsync, as when the server is gone.)
	kill -STOP "$sq" 2>/dev/null
	local last
	last=$(sed -n 's/^C//p' "$log" | tail -1)
	crash
	kill -KILL "$sq" 2>/dev/null
	wait "$sq" 2>/dev/null
	remount --commit-interval $HOUR
	local pre=()
	[ "$mode" = wal ] && pre=(-cmd "PRAGMA locking_mode=EXCLUSIVE")
	local res
	res=$(sqlite3 -bail "${pre[@]}" "$db" "PRAGMA integrity_check; SELECT 'M' || ifnull(max(i), 0) || ' ' || count(*) FROM t;" 2>&1)
	echo "$res" | grep -qx ok || miss "integrity: $res"
	local max cnt
	read -r max cnt < <(echo "$res" | sed -n 's/^M//p')
	[ -n "$max" ] || return 0
	[ -n "$last" ] && [ "$max" -lt "$last" ] && miss "lost: last committed $last, max $max"
	[ "$max" = "$cnt" ] || miss "holes: max $max, count $cnt"
	return 0
}
for mode in truncate delete wal; do
	lost=
	for ((k = 0; k < ROUNDS; k++)); do
		run_round sql_round $mode $k
		[ -n "$M" ] && lost="$lost [round $k: $M]"
	done
	n=$(sqlite3 -cmd "PRAGMA locking_mode=EXCLUSIVE" "$MNT/$mode.db" "SELECT count(*) FROM t;" 2>&1 | tail -1)
	eq "sqlite $mode: $ROUNDS kills, no committed transaction lost, integrity ok ($n rows)" "$lost" ""
done

# ---- the switches: each protection off, the loss shows ----
crash
PC_TEST_FSYNCDIR_NOOP=1 remount --commit-interval $HOUR
run_round names_round $ROUNDS
case $M in *r$ROUNDS/d*) ok "fsyncdir switched off: names lost ($M)" ;;
*) not_ok "fsyncdir switched off: nothing lost ('$M')" ;; esac
crash
PC_TEST_NO_PERIODIC_COMMIT=1 remount --commit-interval 200 --dirty-expire 200
run_round age_round 1000 nowait
case $M in *q1000*) ok "periodic commit switched off: changes lost ($M)" ;;
*) not_ok "periodic commit switched off: nothing lost ('$M')" ;; esac

# SQLite DELETE/EXTRA commits by an unlink and a directory fsync. A paced
# round: SQLite commits a few transactions read from a fifo and then waits
# for more while the server is killed, so no later transaction's journal
# fsync (a vol commit) can have made the last unlink durable: the directory
# fsync alone does. With it on, nothing is lost; with it switched off the
# last commit is rolled back after the remount, every time.
sql_paced_round() { # K
	local db="$MNT/paced.db" log="$WORK/paced.log" fifo="$WORK/paced.fifo"
	local pragmas=(-cmd "PRAGMA synchronous=EXTRA" -cmd "PRAGMA journal_mode=DELETE")
	local n=$((1 + RANDOM % 5)) start
	start=$(sqlite3 -bail "${pragmas[@]}" "$db" \
		"CREATE TABLE IF NOT EXISTS t(i INTEGER PRIMARY KEY, b BLOB); SELECT 'N' || count(*) FROM t;" |
		sed -n 's/^N//p')
	[ -n "$start" ] || { miss "open-failed"; return 0; }
	rm -f "$fifo"
	mkfifo "$fifo"
	: >"$log"
	stdbuf -oL sqlite3 -bail "${pragmas[@]}" "$db" <"$fifo" >"$log" 2>/dev/null &
	local sq=$!
	exec 4>"$fifo"
	for ((i = start + 1; i <= start + n; i++)); do
		echo "INSERT INTO t VALUES($i, randomblob(1000));" >&4
		echo "SELECT 'C' || $i;" >&4
	done
	poll_until 60 committed_at_least "$log" "$n" || miss "no-progress"
	crash # SQLite waits for input meanwhile
	exec 4>&-
	kill -KILL "$sq" 2>/dev/null
	wait "$sq" 2>/dev/null
	remount --commit-interval $HOUR
	local max
	max=$(sqlite3 -bail "$db" "SELECT 'M' || ifnull(max(i), 0) FROM t;" 2>&1 | sed -n 's/^M//p')
	[ "${max:-0}" -lt $((start + n)) ] && miss "lost: last committed $((start + n)), max ${max:-none}"
	return 0
}
crash
remount --commit-interval $HOUR
run_round sql_paced_round 0
eq "SQLite DELETE/EXTRA, paced: nothing lost with directory fsync" "$M" ""
crash
PC_TEST_FSYNCDIR_NOOP=1 remount --commit-interval $HOUR
run_round sql_paced_round 1
case $M in *lost*) ok "fsyncdir switched off: SQLite DELETE/EXTRA lost its last commit ($M)" ;;
*) not_ok "fsyncdir switched off: SQLite DELETE/EXTRA lost nothing ('$M')" ;; esac
crash
if grep -q "Sanitizer" "$WORK/servers.log"; then
	not_ok "no sanitizer report from the servers"
	grep -A40 -m1 "Sanitizer" "$WORK/servers.log" | sed 's/^/# /'
else
	ok "no sanitizer report from the servers"
fi
remount

unmount_check
finish

#!/bin/bash
# test_mount_flock.sh PAGECACHE FLOCK_PROBE - flock(2) on one `pagecache mount`
# (the engine's flock through the FUSE flock op, tools/fuse_ops.c): each
# case of flock_probe.c - LOCK_EX against another process's LOCK_NB, SH+SH,
# a blocked LOCK_EX interrupted by a signal (EINTR, nothing left behind),
# release at close, a lock shared by a forked child until the last close,
# POSIX locks still the kernel's and independent. The mount's statistics
# (fuse_flocks) show that the requests reached the server. The server exits
# cleanly while a flock waits. TAP; skips where /dev/fuse,
# fusermount3 or root are missing. Both mount modes (PC_FUSE_MODE).
. "$(dirname "$0")/lib.sh"
PROBE=$(realpath "${2:?usage: $0 PAGECACHE FLOCK_PROBE}")
require_fuse
mount_fresh || { not_ok "mount"; finish; }
ok "mounted (${PC_FUSE_MODE:-cached})"
touch "$MNT/f"
for c in excl shared eintr close fork posix; do
	check "flock on the mount: $c" "$PROBE" "$c" "$MNT"
done
# the flock requests went to the server: a LOCK_EX and a LOCK_UN
flocks() { sed -n 's/^fuse_flocks //p' "$MNT/.pagecache-stats"; }
exec 9<>"$MNT/f"
r0=$(flocks)
flock -x 9 && flock -u 9
r1=$(flocks)
exec 9>&-
eq "flock(2) reaches the server (LOCK_EX + LOCK_UN: flock requests)" "$((r1 - r0))" 2
# the server exits cleanly while a flock waits (it cancels the wait: the
# waiting flock(1) fails instead of the unmount hanging)
exec 8<>"$MNT/f"
flock -x 8
flock -x "$MNT/f" true 2>"$WORK/waiter.err" &
WP=$!
for _ in $(seq 1 3000); do
	read -r nr _ <"/proc/$WP/syscall" 2>/dev/null
	[ "${nr:-}" = 73 ] && break # inside flock(2) (x86-64)
	sleep 0.01 # waiting for it to block, not ordering threads
done
eq "a blocked flock(1) waits inside flock(2)" "${nr:-}" 73
kill -TERM "$MOUNT_PID"
for _ in $(seq 1 3000); do
	kill -0 "$MOUNT_PID" 2>/dev/null || break
	sleep 0.01 # the exit's bound: 30 s
done
if kill -0 "$MOUNT_PID" 2>/dev/null; then
	not_ok "the server exits while a flock waits (still running after 30 s)"
	kill -KILL "$MOUNT_PID"
fi
rc=0
wait "$MOUNT_PID" || rc=$?
MOUNT_PID=
eq "the server exits while a flock waits (exit status)" "$rc" 0
[ "$rc" -eq 0 ] || sed 's/^/# /' "$WORK/mount.log" | tail -20
wrc=0
wait "$WP" || wrc=$?
[ $wrc -ne 0 ] && ok "the waiting flock(1) failed ($wrc: $(head -c 200 "$WORK/waiter.err"))" ||
	not_ok "the waiting flock(1) succeeded after the server's exit"
exec 8>&-
fusermount3 -u "$MNT" 2>/dev/null
if [ "$STORE_KIND" = vol ]; then
	check "image fscks clean after unmount" "$PAGECACHE" fsck "$IMG"
fi
finish

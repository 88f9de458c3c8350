#!/usr/bin/env bash
# test_wberr.sh - writeback errors reach the programs and the operator (TAP):
# with every store write of file data failing (PC_TEST_FAIL_STORE_WRITES,
# a test hook of `pagecache mount`), close(2) of a written file fails (FUSE
# flush writes back and reports, as NFS does), so dd, cp and a shell
# python fail visibly; a reader's close does not; unmount exits
# non-zero and names the files whose data it could not write. Then the
# protection is switched off (PC_FUSE_NO_FLUSH_REPORT=1) and the same dd
# "succeeds" while its data is lost.
. "$(dirname "$0")/lib.sh"
require_fuse

EIO=5
PC_TEST_FAIL_STORE_WRITES=$EIO mount_fresh || { not_ok "mount"; finish; }
ok "mounted ($STORE_KIND store, store writes failing with EIO)"
head -c 300000 /dev/urandom >"$WORK/src"

expect_err "dd fails at close" "Input/output error" \
	dd if="$WORK/src" of="$MNT/dd.out" bs=64k status=none
expect_err "cp fails at close" "Input/output error" cp "$WORK/src" "$MNT/cp.out"
# (shells ignore close(2) of a redirection; a program that checks sees it)
expect_err "python's close() raises" "Input/output error" \
	python3 -c "f = open('$MNT/echo.out', 'w'); f.write('hello'); f.close()"
check "reading a file (no dirty data) closes fine" cat "$MNT/.pagecache-stats"

# unmount: non-zero exit, the lost files named
kill -TERM "$MOUNT_PID"
rc=0
wait "$MOUNT_PID" || rc=$?
MOUNT_PID=
eq "unmount exit status says data was lost" "$rc" 1
log=$(cat "$WORK/mount.log")
for f in dd.out cp.out echo.out; do
	case $log in *"could not write back $f"*) ok "unmount names $f" ;;
	*) not_ok "unmount names $f"; sed 's/^/# /' "$WORK/mount.log" | tail -8 ;; esac
done
case $log in *"file(s) could not be written back"*) ok "unmount says how many" ;;
*) not_ok "unmount says how many" ;; esac
case $log in *"everything written back"*) not_ok "unmount claims everything written back" ;;
*) ok "unmount does not claim everything was written back" ;; esac

# the protection off: close says nothing, the data is lost quietly
PC_FUSE_NO_FLUSH_REPORT=1 PC_TEST_FAIL_STORE_WRITES=$EIO mount_fresh || { not_ok "remount"; finish; }
if dd if="$WORK/src" of="$MNT/quiet.out" bs=64k status=none 2>/dev/null; then
	ok "flush report switched off: dd succeeds although its data cannot be written"
else
	not_ok "flush report switched off: dd failed anyway"
fi
kill -TERM "$MOUNT_PID"
wait "$MOUNT_PID"
MOUNT_PID=
# a clean mount again: the volume is consistent
mount_fresh || { not_ok "remount"; finish; }
unmount_check
finish

#!/usr/bin/env bash
# test_posix_suite.sh - the POSIX conformance suite (tests/posix/posix_suite)
# compared against the host kernel: it runs on a tmpfs (the reference), then
# on a fresh pagecache mount of each store (vol, dir), each time as root
# (whose permission checks fork a child that drops to uid/gid 65534) and
# as the unprivileged user 65534; the outputs are diffed line by line.
# Every differing line is printed as "# MISMATCH [store user] host: ..." /
# "... mount: ...", and each comparison is one TAP point that fails with the
# count. Then, root only, a separate check: a file handle taken before an
# unmount and remount of the same vol image still opens the file.
#
# A check that cannot pass through FUSE for a stated external reason is a
# TAP SKIP with that reason, its lines left out of the comparison (never
# silently): O_TMPFILE, where the kernel answers EOPNOTSUPP because libfuse
# (3.14) has no tmpfile operation.
#
# Normalization lives in the suite itself (posix_suite.h): no inode
# numbers, block counts, directory sizes or absolute times, only relations;
# no xattr value sizes past a few bytes and no symlink targets past 1023
# bytes (limits are per file system). It is checked here: the host kernel
# on ext4 must print what it prints on tmpfs.
#   usage: test_posix_suite.sh PAGECACHE POSIX_SUITE
. "$(dirname "$0")/lib.sh"
SUITE=$(realpath "${2:?usage: $0 PAGECACHE POSIX_SUITE}")
require_fuse
command -v setpriv >/dev/null || skip_all "no setpriv"
U=65534
chmod 755 "$WORK" # the unprivileged runs reach the mounts through it
REF=$WORK/ref
mkdir -p "$REF"
mount -t tmpfs -o mode=0755 tmpfs "$REF" 2>"$WORK/tmpfs.out" ||
	skip_all "cannot mount a tmpfs for the reference: $(cat "$WORK/tmpfs.out")"
trap 'umount "$REF" 2>/dev/null; cleanup' EXIT

# run_suite DIR OUT: the suite as root in DIR/root and as 65534 in DIR/user
run_suite() {
	mkdir "$1/root" "$1/user" && chown $U:$U "$1/user" || return 1
	"$SUITE" "$1/root" >"$2.root" 2>&1
	echo "suite: exit status $?" >>"$2.root"
	setpriv --reuid=$U --regid=$U --clear-groups -- "$SUITE" "$1/user" >"$2.user" 2>&1
	echo "suite: exit status $?" >>"$2.user"
}

# external_skips LABEL HOST MOUNT: cases the mount cannot pass for a reason
# outside pagecache become TAP skips and leave both outputs
external_skips() {
	local label=$1 host=$2 got=$3
	# libfuse's low-level API has no tmpfile operation (3.14 lacks it), so
	# the kernel's FUSE_TMPFILE gets ENOSYS and O_TMPFILE answers EOPNOTSUPP;
	# a libfuse whose header has the operation gets no skip.
	local ll
	ll="$(pkg-config --variable=includedir fuse3 2>/dev/null || echo /usr/include)/fuse3/fuse_lowlevel.h"
	if grep -q '^tmpfile: open(".", O_TMPFILE | O_RDWR, 0640) = EOPNOTSUPP$' "$got" &&
		! grep -qs tmpfile "$ll"; then
		skip "[$label] O_TMPFILE + linkat(AT_EMPTY_PATH)" \
			"the kernel answers EOPNOTSUPP: libfuse $(pkg-config --modversion fuse3 2>/dev/null) has no tmpfile operation"
		sed -i '/^tmpfile: /d' "$host" "$got"
	fi
	# A handle of a file unlinked a moment ago: the kernel's FUSE client
	# decodes it from its own inode cache while it still holds the inode (an
	# asynchronous RELEASE of the last fd in flight, seen on slow sanitizer
	# runs), and opens it without asking the server, which would answer
	# ESTALE (tools/fuse_ops.c by_handle_fd). Timing in the kernel, not
	# the server's answer: reported, not counted.
	local last='handle: open_by_handle_at(top, fh, O_RDONLY) = '
	if [ "$(grep -F "$last" "$host" | tail -1)" = "${last}ESTALE" ] &&
		[ "$(grep -F "$last" "$got" | tail -1)" = "${last}fd" ]; then
		echo "# SOFT [$label] handle of an unlinked file opened through the kernel's inode cache"
		python3 - "$host" "$got" "$last" <<'PY'
import sys
host, got, last = sys.argv[1], sys.argv[2], sys.argv[3]
lines = open(got).read().split('\n')
i = max(k for k, l in enumerate(lines) if l.startswith(last))
lines[i] = last + 'ESTALE'
open(got, 'w').write('\n'.join(lines))
PY
	fi
}

# compare LABEL HOST MOUNT: one TAP point, every differing line printed
compare() {
	local label=$1 host=$2 got=$3 n
	cp "$host" "$WORK/host.cmp"
	external_skips "$label" "$WORK/host.cmp" "$got"
	diff "$WORK/host.cmp" "$got" >"$WORK/diff"
	# a hunk counts its longer side: each line is one assertion
	n=$(awk '/^[0-9]/ {
		split($0, p, /[acd]/); o = split(p[1], a, ","); m = split(p[2], b, ",")
		ol = (o == 2 ? a[2] - a[1] + 1 : 1); nl = (m == 2 ? b[2] - b[1] + 1 : 1)
		if ($0 ~ /a/) ol = 0; if ($0 ~ /d/) nl = 0
		t += (ol > nl ? ol : nl) } END { print t + 0 }' "$WORK/diff")
	sed -n -e "s/^< /# MISMATCH [$label] host:  /p" -e "s/^> /# MISMATCH [$label] mount: /p" \
		"$WORK/diff"
	if [ "$n" -eq 0 ]; then ok "[$label] $(wc -l <"$got") lines as the host's"; else
		cases=$(sed -n 's/^[<>] \([^:]*\):.*/\1/p' "$WORK/diff" | sort -u | tr '\n' ' ')
		not_ok "[$label] $n mismatches against the host, in $(wc -w <<<"$cases") cases: $cases"
	fi
}

if run_suite "$REF" "$WORK/host"; then
	ok "host reference on tmpfs: $(wc -l <"$WORK/host.root") lines as root, $(wc -l <"$WORK/host.user") as $U"
else
	not_ok "host reference on tmpfs"
	finish
fi

# The normalization checked: the host kernel on ext4 (a small loop-mounted
# image) must give the tmpfs run's lines exactly; where loop devices or
# mkfs.ext4 are missing this point is a skip.
EXT4=$WORK/ext4
mkdir -p "$EXT4"
if command -v mkfs.ext4 >/dev/null && truncate -s 64M "$WORK/ext4.img" &&
	mkfs.ext4 -q -F "$WORK/ext4.img" >"$WORK/ext4.out" 2>&1 &&
	mount -o loop "$WORK/ext4.img" "$EXT4" >>"$WORK/ext4.out" 2>&1; then
	trap 'umount "$REF" "$EXT4" 2>/dev/null; cleanup' EXIT
	chmod 755 "$EXT4"
	rmdir "$EXT4/lost+found"
	run_suite "$EXT4" "$WORK/ext4"
	compare "host ext4 root" "$WORK/host.root" "$WORK/ext4.root"
	compare "host ext4 $U" "$WORK/host.user" "$WORK/ext4.user"
	umount "$EXT4"
	rm -f "$WORK/ext4.img"
else
	skip "host ext4 against host tmpfs" "no ext4 here: $(tail -1 "$WORK/ext4.out" 2>/dev/null)"
fi

for kind in vol dir; do
	# a fresh store of this kind (lib.sh's mount_fresh makes it)
	rm -rf "$IMG" "$WORK/store"
	STORE_KIND=
	if [ $kind = dir ]; then
		STORE_KIND=dir
		mkdir -p "$WORK/store"
	fi
	if ! mount_fresh; then
		not_ok "mount ($kind store)"
		continue
	fi
	if [ "$STORE_KIND" != $kind ]; then
		skip "$kind store" "not available here ($STORE_KIND store mounted instead)"
		unmount_check
		continue
	fi
	ok "mounted ($kind store, ${PC_FUSE_MODE:-cached} mode)"
	chmod 755 "$MNT"
	run_suite "$MNT" "$WORK/$kind" || not_ok "[$kind] suite directories"
	compare "$kind root" "$WORK/host.root" "$WORK/$kind.root"
	compare "$kind $U" "$WORK/host.user" "$WORK/$kind.user"
	unmount_check
done

# a handle taken before an unmount + remount of the same vol image
rm -f "$IMG"
STORE_KIND=
if mount_fresh && [ "$STORE_KIND" = vol ]; then
	echo "by handle" >"$MNT/h"
	check "name_to_handle_at before the unmount" "$SUITE" --handle-save "$MNT/h" "$WORK/handle"
	unmount_check
	if mount_fresh; then
		"$SUITE" --handle-open "$MNT" "$WORK/handle" >"$WORK/handle.out" 2>&1
		eq "open_by_handle_at after unmount + remount" "$(cat "$WORK/handle.out")" \
			"open_by_handle_at = fd, read = 10: by handle"
		unmount_check
	else
		not_ok "remount of the vol image"
	fi
else
	skip "handle across a remount" "no vol store here"
	unmount_check
fi
finish

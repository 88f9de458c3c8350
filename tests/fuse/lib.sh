# tests/fuse/lib.sh - shared helpers of the FUSE tests (sourced): TAP output,
# a fresh store (a vol image made by `pagecache mkfs`, or a host directory
# while the vol store is unavailable), mounting it in the background with
# `pagecache mount`, and a clean unmount that checks the exit status and
# fscks the image.
#   PAGECACHE   the pagecache executable (first argument of every test)
#   PC_FUSE_MODE  "direct-io": every mount_fresh uses the strict --direct-io
#               mode; unset or "cached": the default mode (kernel page cache)
# Every script runs in both modes (tests/fuse/meson.build registers each
# twice); options a script passes to mount_fresh come after the mode's.
set -u
PAGECACHE=$(realpath "${1:?usage: $0 PAGECACHE [FSX]}")
FSX=${2:+$(realpath "$2")}
ODIRECT_MMAP=${3:+$(realpath "$3")} # tests/fuse/odirect_mmap.c
T=0
FAILED=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pc-fuse-XXXXXX")
MNT=$WORK/mnt
MOUNT_PID=
STORE_KIND=
IMG=$WORK/img # the vol image (a test may point it at a block device and set STORE_KIND=vol)

ok() { T=$((T + 1)); echo "ok $T - $*"; }
not_ok() { T=$((T + 1)); FAILED=$((FAILED + 1)); echo "not ok $T - $*"; }
# skip DESCRIPTION REASON: a test point that cannot run here (TAP SKIP)
skip() { T=$((T + 1)); echo "ok $T - $1 # SKIP $2"; }
# check DESCRIPTION COMMAND...: a test point from a command's status
check() {
	local d=$1
	shift
	if "$@" >"$WORK/out" 2>&1; then ok "$d"; else
		not_ok "$d"
		sed 's/^/# /' "$WORK/out" | head -20
	fi
}
# expect_errno DESCRIPTION ERRNO-TEXT COMMAND...: the command must fail with it
expect_err() {
	local d=$1 e=$2
	shift 2
	if "$@" >"$WORK/out" 2>&1; then
		not_ok "$d (succeeded)"
	elif grep -q "$e" "$WORK/out"; then ok "$d"; else
		not_ok "$d"
		sed 's/^/# /' "$WORK/out" | head -5
	fi
}
eq() { # eq DESCRIPTION GOT EXPECTED
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: got '$2', expected '$3'"; fi
}

# skip_all REASON: the whole script cannot run here (before any test point)
skip_all() { echo "1..0 # SKIP $*"; rm -rf "$WORK"; exit 0; }

require_fuse() {
	[ -c /dev/fuse ] || skip_all "no /dev/fuse"
	command -v fusermount3 >/dev/null || skip_all "no fusermount3"
	[ "$(id -u)" -eq 0 ] || skip_all "not root (the tests change owners)"
}

is_mounted() { [ "$(stat -f -c %T "$MNT" 2>/dev/null)" = fuseblk ] || \
	[ "$(stat -f -c %T "$MNT" 2>/dev/null)" = fuse ] || grep -q " $MNT fuse" /proc/mounts; }

# mount_fresh [MOUNT-OPTIONS...]: a fresh store (or the one at $IMG when
# STORE_KIND is already vol) mounted at $MNT
PC_MODE_ARGS=()
[ "${PC_FUSE_MODE:-cached}" = direct-io ] && PC_MODE_ARGS=(--direct-io)
mount_fresh() {
	set -- "${PC_MODE_ARGS[@]}" "$@"
	mkdir -p "$MNT"
	if [ -z "$STORE_KIND" ]; then
		if "$PAGECACHE" mkfs "$IMG" --size 512M >"$WORK/mkfs.out" 2>&1; then
			STORE_KIND=vol
		else
			STORE_KIND=dir
			echo "# vol store unavailable ($(tail -1 "$WORK/mkfs.out")): using a dir store"
			mkdir -p "$WORK/store"
		fi
	fi
	if [ "$STORE_KIND" = vol ]; then
		"$PAGECACHE" mount --stats-interval 0 "$@" "$IMG" "$MNT" 2>"$WORK/mount.log" &
	else
		"$PAGECACHE" mount --stats-interval 0 "$@" --dir "$WORK/store" "$MNT" \
			2>"$WORK/mount.log" &
	fi
	MOUNT_PID=$!
	for _ in $(seq 1 500); do
		is_mounted && return 0
		kill -0 "$MOUNT_PID" 2>/dev/null || break
		sleep 0.02
	done
	echo "# mount failed:"
	sed 's/^/# /' "$WORK/mount.log"
	return 1
}

# unmount_check: SIGTERM, the server's exit status, then fsck of the image
unmount_check() {
	[ -n "$MOUNT_PID" ] || return 0
	kill -TERM "$MOUNT_PID"
	local rc=0
	wait "$MOUNT_PID" || rc=$?
	MOUNT_PID=
	eq "clean unmount (server exit status)" "$rc" 0
	[ "$rc" -eq 0 ] || sed 's/^/# /' "$WORK/mount.log" | tail -40
	if [ "$STORE_KIND" = vol ]; then
		check "image fscks clean after unmount" "$PAGECACHE" fsck "$IMG"
	fi
}

cleanup() {
	if [ -n "$MOUNT_PID" ]; then
		kill -TERM "$MOUNT_PID" 2>/dev/null
		wait "$MOUNT_PID" 2>/dev/null
	fi
	fusermount3 -u "$MNT" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

finish() {
	echo "1..$T"
	[ "$FAILED" -eq 0 ]
	exit $?
}

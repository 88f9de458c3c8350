#!/usr/bin/env bash
# test_cli.sh - the `pagecache` commands: --help and exit codes of every
# command, mkfs (and its refusal to reformat a volume or file system without
# --force), stat of an image at rest, fsck of a clean and of a damaged image
# (fsck(8) codes), bad usage: numeric options parsed strictly, a mount point
# that is not a directory or holds the image, an image that is not a vol.
# These need no FUSE. With FUSE (skipped without): a server started by a
# script with & (SIGINT ignored) unmounts on SIGINT and leaves a clean image
# (PC_MOUNT_TEST_KEEP_SIGINT=1 shows the signal ignored), and the man page's
# EXAMPLES sequence (wait for mountpoint, fusermount3 -u, wait) works. TAP.
. "$(dirname "$0")/lib.sh"
code() { "$@" >/dev/null 2>&1; echo $?; }
for c in mkfs fsck mount stat stress bench; do
	eq "$c --help exits 0" "$(code "$PAGECACHE" $c --help)" 0
	"$PAGECACHE" $c --help | grep -q "^usage: pagecache $c" && ok "$c --help prints its usage" ||
		not_ok "$c --help prints its usage"
done
eq "no command: usage error 2" "$(code "$PAGECACHE")" 2
eq "unknown command: 2" "$(code "$PAGECACHE" frobnicate)" 2
eq "mkfs without an image: 2" "$(code "$PAGECACHE" mkfs)" 2
eq "mount without a mount point: 2" "$(code "$PAGECACHE" mount "$WORK/img")" 2
eq "fsck without an image: 16" "$(code "$PAGECACHE" fsck)" 16
eq "stress with a bad duration: 2" "$(code "$PAGECACHE" stress --duration xyz)" 2
RUN=$(dirname "$0")/../../scripts/run.sh
if [ "$(id -u)" -eq 0 ]; then
	PC_SKIP_DEPS=1 FUSE_DEV=$WORK/no-fuse BUILD=$WORK/nobuild "$RUN" >"$WORK/run.out" 2>&1
	rc=$?
	[ "$rc" -ne 0 ] && grep -q "FUSE is unavailable" "$WORK/run.out" && grep -q "no-fuse" "$WORK/run.out" &&
		ok "make run without FUSE says what is missing and fails ($rc)" ||
		{ not_ok "make run without FUSE"; sed 's/^/# /' "$WORK/run.out"; }
	[ ! -e "$WORK/nobuild" ] && ok "... before building anything" || not_ok "make run built without FUSE"
else
	skip "make run without FUSE says what is missing and fails" "not root"
	skip "... before building anything" "not root"
fi
if ! "$PAGECACHE" mkfs "$WORK/img" --size 64M >"$WORK/out" 2>&1; then
	echo "# vol store unavailable: $(tail -1 "$WORK/out")"
	eq "mkfs reports the failure with 1" "$(code "$PAGECACHE" mkfs "$WORK/img2")" 1
	skip "stat and fsck of an image" "vol store unavailable"
	finish
fi
ok "mkfs of a 64 MiB image"
eq "the image is sparse" "$(($(stat -c %b "$WORK/img") * 512 < 64 << 20))" 1
eq "the image has mode 0644 (umask 022)" "$(umask 022; "$PAGECACHE" mkfs "$WORK/img3" >/dev/null; stat -c %a "$WORK/img3")" 644
check "stat of an image at rest" sh -c "'$PAGECACHE' stat '$WORK/img' | grep -q '^free_blocks '"
eq "fsck of a fresh image: 0 (clean)" "$(code "$PAGECACHE" fsck "$WORK/img")" 0
eq "fsck of a missing image: 8" "$(code "$PAGECACHE" fsck "$WORK/missing")" 8
eq "stat of something else: 1" "$(code "$PAGECACHE" stat /etc/hostname)" 1
dd if=/dev/zero of="$WORK/img" bs=4096 count=1 conv=notrunc status=none
rc=$(code "$PAGECACHE" fsck "$WORK/img")
[ "$rc" -ge 4 ] && ok "fsck of an image with its superblock zeroed: $rc (errors left / failed)" ||
	not_ok "fsck of a damaged image: $rc"
# ---- mkfs does not reformat silently ----
out() { "$@" >"$WORK/out" 2>&1; echo $?; }
said() { grep -q -- "$1" "$WORK/out" && ok "... saying '$1'" || {
	not_ok "... saying '$1'"
	sed 's/^/# /' "$WORK/out" | head -5
}; }
"$PAGECACHE" mkfs "$WORK/v" --size 16M >/dev/null
uuid() { "$PAGECACHE" stat "$1" | sed -n 's/^uuid //p'; }
u1=$(uuid "$WORK/v")
eq "mkfs of an existing vol volume: refused (1)" "$(out "$PAGECACHE" mkfs "$WORK/v")" 1
said "already holds a vol volume"
eq "... with --size too (1)" "$(out "$PAGECACHE" mkfs "$WORK/v" --size 32M)" 1
eq "... the volume untouched (same uuid, size)" "$(uuid "$WORK/v") $(stat -c %s "$WORK/v")" \
	"$u1 $((16 << 20))"
eq "mkfs --force of an existing volume: 0" "$(out "$PAGECACHE" mkfs --force "$WORK/v")" 0
[ "$(uuid "$WORK/v")" != "$u1" ] && ok "... a new volume (new uuid)" || not_ok "... same uuid"
eq "mkfs -f: 0" "$(out "$PAGECACHE" mkfs "$WORK/v" -f)" 0
eq "mkfs of a volume whose superblock is zeroed (backup left): refused (1)" \
	"$(out "$PAGECACHE" mkfs "$WORK/img")" 1
said "backup superblock"
truncate -s 4M "$WORK/ext"
printf '\123\357' | dd of="$WORK/ext" bs=1 seek=1080 conv=notrunc status=none
eq "mkfs of an ext4-looking image: refused (1)" "$(out "$PAGECACHE" mkfs "$WORK/ext")" 1
said "ext2/ext3/ext4"
truncate -s 4M "$WORK/zeros"
eq "mkfs of an existing file of zeroes: 0" "$(out "$PAGECACHE" mkfs "$WORK/zeros")" 0
: >"$WORK/emptyfile"
eq "mkfs of an existing empty file: 0" "$(out "$PAGECACHE" mkfs "$WORK/emptyfile")" 0

# ---- numeric options: strict, usage error 2 ----
mkdir -p "$MNT"
for v in abc 0 -5 "" 1x 2G0 " 5" +5 0x10 99999999999999999999 2T; do
	eq "mount --mem-limit '$v': 2" "$(out "$PAGECACHE" mount --mem-limit "$v" "$WORK/v" "$MNT")" 2
done
said "bad --mem-limit"
for v in 0 -1 abc 1025 4x ""; do
	eq "mount --threads '$v': 2" "$(out "$PAGECACHE" mount --threads "$v" "$WORK/v" "$MNT")" 2
done
said "bad --threads"
for v in "" direct1 Buffered auto; do
	eq "mount --data-io '$v': 2" "$(out "$PAGECACHE" mount --data-io "$v" "$WORK/v" "$MNT")" 2
done
said "bad --data-io"
for v in -1 x 86401 1m; do
	eq "mount --stats-interval '$v': 2" \
		"$(out "$PAGECACHE" mount --stats-interval "$v" "$WORK/v" "$MNT")" 2
done
for v in abc -5 0 1Gx 1.5G 99999999999T; do
	eq "mkfs --size '$v': 2" "$(out "$PAGECACHE" mkfs "$WORK/new" --size "$v")" 2
done
[ ! -e "$WORK/new" ] && ok "... and no image made" || not_ok "an image made with a bad --size"
for v in 5x -1 1h2 ""; do
	eq "stress --duration '$v': 2" "$(out "$PAGECACHE" stress --duration "$v")" 2
done

# ---- the mount point and the image ----
eq "mount a.img a.img: 2" "$(out "$PAGECACHE" mount "$WORK/v" "$WORK/v")" 2
said "is not a directory"
mkdir -p "$MNT/sub"
cp --sparse=always "$WORK/v" "$MNT/sub/inner.img"
eq "mount of an image inside the mount point: 2" \
	"$(out "$PAGECACHE" mount "$MNT/sub/inner.img" "$MNT")" 2
said "lies in the mount point"
eq "mount --dir D D/sub: 2" "$(out "$PAGECACHE" mount --dir "$MNT" "$MNT/sub")" 2
said "lies in the served directory"
eq "mount --dir D D: 2" "$(out "$PAGECACHE" mount --dir "$MNT" "$MNT")" 2
rm -rf "$MNT/sub"
eq "mount on a missing mount point: 1" "$(out "$PAGECACHE" mount "$WORK/v" "$WORK/nodir")" 1
: >"$WORK/empty.img"
eq "mount of a 0-byte image: 1" "$(out "$PAGECACHE" mount "$WORK/empty.img" "$MNT")" 1
said "not a vol image"
grep -q "Input/output error" "$WORK/out" && not_ok "... and no EIO" || ok "... and no EIO"
head -c 3000 /dev/zero >"$WORK/short.img"
eq "mount of a 3000-byte image: 1" "$(out "$PAGECACHE" mount "$WORK/short.img" "$MNT")" 1
said "not a vol image"
eq "mount of a file of zeroes (wrong magic): 1" "$(out "$PAGECACHE" mount "$WORK/ext" "$MNT")" 1
said "not a vol image"
eq "fsck of a 0-byte image: 4 (errors left), not 8" "$(out "$PAGECACHE" fsck "$WORK/empty.img")" 4
said "not a vol image"

# ---- with FUSE: SIGINT to a server a script started with &, the EXAMPLES ----
fuse_why=
[ -c /dev/fuse ] || fuse_why="no /dev/fuse"
command -v fusermount3 >/dev/null || fuse_why="no fusermount3"
command -v mountpoint >/dev/null || fuse_why="no mountpoint(1)"
[ "$(id -u)" -eq 0 ] || fuse_why="not root"
if [ -n "$fuse_why" ]; then
	for d in "SIGINT unmounts a background server" "man page EXAMPLES"; do
		T=$((T + 1))
		echo "ok $T # SKIP $d: $fuse_why"
	done
	finish
fi
sig_bit() { # sig_bit PID FIELD: is SIGINT (bit 1 of the mask) in FIELD of PID?
	local m
	m=$(sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status")
	echo $(((16#$m >> 1) & 1))
}
# bg_server [ENV...]: a non-interactive shell starts the server with & and
# exits (so SIGINT is ignored in it, as for any script's background job);
# sets PID once it is mounted
bg_server() {
	rm -f "$WORK/pid"
	env "$@" bash -c "'$PAGECACHE' mount --stats-interval 0 '$WORK/v' '$MNT' \
		2>'$WORK/mount.log' & echo \$! >'$WORK/pid'"
	PID=$(cat "$WORK/pid")
	for _ in $(seq 1 500); do
		mountpoint -q "$MNT" && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.02
	done
	not_ok "background mount came up"
	sed 's/^/# /' "$WORK/mount.log"
	return 1
}
gone() { # gone PID: wait (bounded) for a process that is not our child
	for _ in $(seq 1 1500); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.02
	done
	return 1
}
"$PAGECACHE" mkfs -f "$WORK/v" --size 32M >/dev/null
if bg_server; then
	eq "the shell's & job inherits SIGINT ignored: the server's SigIgn lacks it" \
		"$(sig_bit "$PID" SigIgn)" 0
	eq "... and it catches SIGINT" "$(sig_bit "$PID" SigCgt)" 1
	echo hello >"$MNT/f"
	kill -INT "$PID"
	gone "$PID" && ok "SIGINT ends the background server" || not_ok "SIGINT ignored"
	mountpoint -q "$MNT" && not_ok "still mounted after SIGINT" || ok "unmounted after SIGINT"
	check "... after writing everything back" grep -q "everything written back" "$WORK/mount.log"
	eq "the image fscks clean" "$(out "$PAGECACHE" fsck "$WORK/v")" 0
fi
# the protection off: the inherited SIG_IGN stays, SIGINT does nothing
if bg_server PC_MOUNT_TEST_KEEP_SIGINT=1; then
	eq "test switch on: SIGINT stays ignored (SigIgn)" "$(sig_bit "$PID" SigIgn)" 1
	kill -INT "$PID" # discarded when sent: the server cannot have seen it
	kill -0 "$PID" 2>/dev/null && mountpoint -q "$MNT" &&
		ok "test switch on: still mounted after SIGINT (the bug)" ||
		not_ok "test switch on: SIGINT ended the server"
	kill -TERM "$PID"
	gone "$PID" || kill -KILL "$PID"
	fusermount3 -u "$MNT" 2>/dev/null
	eq "SIGTERM then unmounts it; fsck clean" "$(out "$PAGECACHE" fsck "$WORK/v")" 0
fi
# man/pagecache.1 EXAMPLES, as written there (copying the tests directory)
cat >"$WORK/example.sh" <<EOF
set -e
cd '$WORK'
PATH='$(dirname "$PAGECACHE")':\$PATH
rm -f vol.img
pagecache mkfs vol.img --size 64M
mkdir -p mnt2
pagecache mount --stats-interval 0 vol.img mnt2 & pid=\$!
until mountpoint -q mnt2; do
	kill -0 \$pid || exit 1
	sleep 0.1
done
cp -a '$(realpath "$(dirname "$0")")' mnt2/ && pagecache stat mnt2 >/dev/null
fusermount3 -u mnt2
wait \$pid
pagecache fsck vol.img
EOF
eq "man page EXAMPLES: mount, cp, fusermount3 -u, wait (exit 0), fsck clean" \
	"$(out bash "$WORK/example.sh")" 0
[ "$(tail -1 "$WORK/out")" = "pagecache fsck: vol.img: clean" ] && ok "... fsck said clean" ||
	{ not_ok "... fsck said clean"; sed 's/^/# /' "$WORK/out" | tail -5; }
finish

#!/usr/bin/env bash
# test_blockdev.sh - a vol volume on a block device (a loop device over a
# sparse file): `pagecache mkfs` uses the whole device by default and
# refuses a --size larger than it; fsck; mounted with `pagecache mount` and
# used with ordinary programs (cp, dd with O_DIRECT, mkdir, ls -a showing
# . and ..); remounted and read back; fsck clean. Skips without loop
# devices. TAP.
. "$(dirname "$0")/lib.sh"
require_fuse
command -v losetup >/dev/null || skip_all "no losetup"
truncate -s 96M "$WORK/backing"
LOOP=$(losetup -f --show "$WORK/backing" 2>/dev/null) || skip_all "no free loop device"
trap 'cleanup; losetup -d "$LOOP" 2>/dev/null' EXIT
IMG=$LOOP
STORE_KIND=vol

code() { "$@" >"$WORK/code.out" 2>&1; echo $?; }
eq "mkfs with --size beyond the device: 1" "$(code "$PAGECACHE" mkfs --size 1G "$IMG")" 1
check "the refusal says why" grep -q "block device at least --size" "$WORK/code.out"
check "mkfs of the whole device" "$PAGECACHE" mkfs "$IMG"
check "stat names the device's size" sh -c \
	"'$PAGECACHE' stat '$IMG' | grep -qx 'blocks $((96 << 20 >> 12))'"
eq "fsck of the fresh volume: 0" "$(code "$PAGECACHE" fsck "$IMG")" 0

mount_fresh || { not_ok "mount"; finish; }
ok "mounted the block device"
head -c $((8 << 20)) /dev/urandom >"$WORK/rnd"
want=$(sha256sum <"$WORK/rnd" | cut -d' ' -f1)
check "cp 8 MiB in" cp "$WORK/rnd" "$MNT/a"
check "mkdir -p" mkdir -p "$MNT/d/e"
check "dd oflag=direct" dd if="$WORK/rnd" of="$MNT/d/b" bs=64k oflag=direct status=none
eq "sha256 read with iflag=direct" \
	"$(dd if="$MNT/d/b" bs=64k iflag=direct status=none | sha256sum | cut -d' ' -f1)" "$want"
eq "ls -a of a subdirectory lists . and .." "$(ls -a "$MNT/d/e" | tr '\n' ' ')" ". .. "
eq ".. of a subdirectory is its parent" "$(stat -c %i "$MNT/d/e/..")" "$(stat -c %i "$MNT/d")"
eq "df sees the device's size" "$(($(stat -f -c '%b * %S' "$MNT") > 80 << 20))" 1
unmount_check

mount_fresh || { not_ok "remount"; finish; }
eq "sha256 after a remount" "$(sha256sum <"$MNT/a" | cut -d' ' -f1)" "$want"
eq "O_DIRECT file after a remount" "$(sha256sum <"$MNT/d/b" | cut -d' ' -f1)" "$want"
unmount_check
finish

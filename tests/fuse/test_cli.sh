#!/usr/bin/env bash
# test_cli.sh - the `pagecache` commands without a mount: --help and exit
# codes of every command, mkfs, stat of an image at rest, fsck of a clean
# and of a damaged image (fsck(8) codes), bad usage. Needs no FUSE. TAP.
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
finish

#!/usr/bin/env bash
# test_tools.sh - a fresh store mounted with `pagecache mount`, used with
# ordinary programs: cp, dd (also oflag=direct), fallocate, truncate, mv,
# ln, ln -s, find, chmod/chown, sha256sum of large files written and read
# back, concurrent writers; `pagecache stat` on the mount; clean unmount
# (and fsck of the image). TAP.
. "$(dirname "$0")/lib.sh"
require_fuse
mount_fresh || { not_ok "mount"; finish; }
ok "mounted ($STORE_KIND store)"
cd "$MNT" || exit 1

# large files: written from outside, copied in, read back
head -c $((16 << 20)) /dev/urandom >"$WORK/big"
want=$(sha256sum <"$WORK/big" | cut -d' ' -f1)
check "cp 16 MiB in" cp "$WORK/big" big
eq "sha256 of the copy" "$(sha256sum <big | cut -d' ' -f1)" "$want"
eq "size of the copy" "$(stat -c %s big)" $((16 << 20))
check "dd with oflag=direct" dd if="$WORK/big" of=big.direct bs=1M oflag=direct status=none
eq "sha256 after O_DIRECT write" "$(sha256sum <big.direct | cut -d' ' -f1)" "$want"
eq "sha256 read with iflag=direct" \
	"$(dd if=big.direct bs=64k iflag=direct status=none | sha256sum | cut -d' ' -f1)" "$want"
check "dd unaligned O_DIRECT write (bs=1000)" \
	dd if="$WORK/big" of=odd.direct bs=1000 count=100 oflag=direct status=none
eq "unaligned O_DIRECT data" "$(sha256sum <odd.direct | cut -d' ' -f1)" \
	"$(head -c 100000 "$WORK/big" | sha256sum | cut -d' ' -f1)"
check "dd conv=notrunc in the middle" sh -c \
	"printf 'HELLO' | dd of=big bs=1 seek=1000000 conv=notrunc status=none"
eq "middle bytes" "$(dd if=big bs=1 skip=1000000 count=5 status=none)" HELLO

# fallocate and truncate
check "fallocate -l 8M" fallocate -l 8M falloc
eq "fallocate size" "$(stat -c %s falloc)" $((8 << 20))
check "fallocate --keep-size" fallocate -n -o 8M -l 1M falloc
eq "keep-size kept the size" "$(stat -c %s falloc)" $((8 << 20))
head -c 1M /dev/urandom >"$WORK/m1"
cp "$WORK/m1" punch
check "fallocate --punch-hole" fallocate -p -o 4096 -l 8192 punch
eq "punched range reads zeroes" "$(dd if=punch bs=4096 skip=1 count=2 status=none | tr -d '\0' | wc -c)" 0
eq "punch kept the rest" "$(dd if=punch bs=4096 skip=3 status=none | sha256sum | cut -d' ' -f1)" \
	"$(dd if="$WORK/m1" bs=4096 skip=3 status=none | sha256sum | cut -d' ' -f1)"
check "fallocate --zero-range" fallocate -z -o 0 -l 4096 punch
eq "zero range reads zeroes" "$(head -c 4096 punch | tr -d '\0' | wc -c)" 0
expect_err "collapse range is refused" "not supported" fallocate -c -o 0 -l 4096 punch
check "truncate -s 5000" truncate -s 5000 punch
eq "truncated size" "$(stat -c %s punch)" 5000
check "truncate -s 3M (grow)" truncate -s 3M punch
eq "grown tail reads zeroes" "$(dd if=punch bs=1 skip=5000 count=100000 status=none | tr -d '\0' | wc -c)" 0

# names
mkdir -p d1/d2/d3
echo content >d1/d2/d3/f
check "mv across directories" mv d1/d2/d3/f d1/moved
eq "moved content" "$(cat d1/moved)" content
check "ln (hard link)" ln d1/moved d1/hard
eq "link count 2" "$(stat -c %h d1/moved)" 2
eq "same inode" "$(stat -c %i d1/hard)" "$(stat -c %i d1/moved)"
echo more >>d1/hard
eq "write through one name seen through the other" "$(cat d1/moved)" "$(printf 'content\nmore')"
check "ln -s" ln -s moved d1/sym
eq "readlink" "$(readlink d1/sym)" moved
eq "read through the symlink" "$(head -1 d1/sym)" content
check "rm a hard link" rm d1/hard
eq "link count back to 1" "$(stat -c %h d1/moved)" 1
eq "find lists the tree" "$(find d1 | sort | tr '\n' ' ')" "d1 d1/d2 d1/d2/d3 d1/moved d1/sym "
eq "find -type f" "$(find . -type f -name moved)" "./d1/moved"

# owners and modes
check "chmod 640" chmod 640 d1/moved
eq "mode" "$(stat -c %a d1/moved)" 640
check "chown 1234:5678" chown 1234:5678 d1/moved
eq "owner" "$(stat -c %u:%g d1/moved)" 1234:5678
check "chown -h on a symlink" chown -h 42:43 d1/sym
eq "symlink owner" "$(stat -c %u:%g d1/sym)" 42:43
check "touch -d" touch -d '2001-02-03 04:05:06' d1/moved
eq "mtime set" "$(stat -c %Y d1/moved)" "$(date -d '2001-02-03 04:05:06' +%s)"
check "cp -p keeps mtime and mode" cp -p d1/moved d1/copy
eq "cp -p mtime" "$(stat -c %Y d1/copy)" "$(date -d '2001-02-03 04:05:06' +%s)"
eq "cp -p mode" "$(stat -c %a d1/copy)" 640

# concurrent writers: 4 processes, each its own file and one shared file
pids=
for i in 1 2 3 4; do
	(head -c 4M "$WORK/big" >"w$i" &&
		dd if="$WORK/big" of=shared bs=1M count=1 seek=$((i - 1)) skip=$((i - 1)) \
			conv=notrunc status=none) &
	pids="$pids $!"
done
# shellcheck disable=SC2086
wait $pids
allok=yes
for i in 1 2 3 4; do
	[ "$(sha256sum <"w$i" | cut -d' ' -f1)" = "$(head -c 4M "$WORK/big" | sha256sum | cut -d' ' -f1)" ] || allok=no
done
eq "4 concurrent writers: every file right" "$allok" yes
eq "4 concurrent writers into one file" "$(sha256sum <shared | cut -d' ' -f1)" \
	"$(head -c 4M "$WORK/big" | sha256sum | cut -d' ' -f1)"

# statfs and stat
check "df on the mount" df "$MNT"
check "pagecache stat on the mount" sh -c "'$PAGECACHE' stat '$MNT' | grep -q '^cached_pages '"
check "sync" sync

# all of it again after a remount: written back, nothing lost
cd /
unmount_check
mount_fresh || { not_ok "remount"; finish; }
eq "after remount: big file" "$(sha256sum <"$MNT/big.direct" | cut -d' ' -f1)" "$want"
eq "after remount: hard-linked content" "$(cat "$MNT/d1/moved")" "$(printf 'content\nmore')"
eq "after remount: owner" "$(stat -c %u:%g "$MNT/d1/moved")" 1234:5678
eq "after remount: symlink" "$(readlink "$MNT/d1/sym")" moved
unmount_check
finish

#!/usr/bin/env bash
# test_reflink.sh - copy_file_range through `pagecache mount` (the FUSE
# copy_file_range request, served by pc_copy_file_range): coreutils cp
# (which asks for FICLONE first and falls back to copy_file_range), a
# Python os.copy_file_range at offsets; contents, copy-on-write after the
# copy, the volume's free blocks (statfs) barely moving and, after the
# unmount, `pagecache stat IMAGE` counting the blocks shared on vol.
# FICLONE itself does not pass through FUSE (no request carries it): cp
# --reflink=always is refused. TAP.
. "$(dirname "$0")/lib.sh"
require_fuse
mount_fresh || { not_ok "mount"; finish; }
ok "mounted ($STORE_KIND store)"
cd "$MNT" || exit 1

head -c $((8 << 20)) /dev/urandom >"$WORK/src"
want=$(sha256sum <"$WORK/src" | cut -d' ' -f1)
check "the source written" cp "$WORK/src" src
check "the source durable" sync src
free0=$(stat -f -c %f .)
bs=$(stat -f -c %S .)
check "cp on the mount" cp src dst
eq "the copy's bytes" "$(sha256sum <dst | cut -d' ' -f1)" "$want"
check "the copy durable" sync dst
free1=$(stat -f -c %f .)
used=$(((free0 - free1) * bs))
echo "# free blocks before the cp $free0, after $free1: $used bytes used by 8 MiB of copy"
if [ "$STORE_KIND" = vol ]; then
	if [ "$used" -lt $((1 << 20)) ]; then ok "the copy shares the source's blocks (statfs)"
	else not_ok "the copy used $used bytes (shared: < 1 MiB)"; fi
else
	skip "the copy shares the source's blocks (statfs)" "dir store: the host copies"
fi
expect_err "cp --reflink=always is refused (FICLONE does not pass through FUSE)" \
	"not supported" cp --reflink=always src dst2

# copy-on-write: each side keeps its own bytes
check "write into the copy" sh -c "printf 'XXXX' | dd of=dst bs=1 seek=4096 conv=notrunc status=none"
check "write into the source" sh -c "printf 'YYYY' | dd of=src bs=1 seek=8192 conv=notrunc status=none"
eq "the copy's write" "$(dd if=dst bs=1 skip=4096 count=4 status=none)" XXXX
eq "the source's write" "$(dd if=src bs=1 skip=8192 count=4 status=none)" YYYY
eq "the source is the original elsewhere" \
	"$(dd if=src bs=4096 count=2 status=none | sha256sum | cut -d' ' -f1)" \
	"$(dd if="$WORK/src" bs=4096 count=2 status=none | sha256sum | cut -d' ' -f1)"
eq "the copy is the original elsewhere" \
	"$(dd if=dst bs=4096 skip=2 status=none | sha256sum | cut -d' ' -f1)" \
	"$(dd if="$WORK/src" bs=4096 skip=2 status=none | sha256sum | cut -d' ' -f1)"

# copy_file_range at offsets, unaligned: a copy through the cache
if command -v python3 >/dev/null; then
	check "os.copy_file_range at offsets" python3 -c '
import os
a = os.open("src", os.O_RDONLY); b = os.open("part", os.O_RDWR | os.O_CREAT, 0o644)
n = os.copy_file_range(a, b, 100000, 12345, 777)
assert n == 100000, n
assert os.pread(b, 100000, 777) == os.pread(a, 100000, 12345)
assert os.pread(b, 777, 0) == bytes(777)
'
else
	skip "os.copy_file_range at offsets" "no python3"
fi
cd / || exit 1
unmount_check
if [ "$STORE_KIND" = vol ]; then
	shared=$("$PAGECACHE" stat "$IMG" | awk '$1 == "shared_blocks" {print $2}')
	echo "# pagecache stat: shared_blocks ${shared:-?}"
	if [ "${shared:-0}" -gt 1000 ]; then ok "pagecache stat counts the shared blocks"
	else not_ok "pagecache stat: shared_blocks ${shared:-none}"; fi
else
	skip "pagecache stat counts the shared blocks" "dir store"
fi
finish

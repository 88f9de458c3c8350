#!/usr/bin/env bash
# test_fsx.sh - the fsx-style exerciser (fsx.c) on a pagecache mount: with
# the mode's opens (PC_FUSE_MODE), then on a cached (--mmap) mount with and without mmap
# operations; two instances at once on the mmap mount. Seeds come from
# PC_SEED (replay) or are printed by fsx. TAP.
. "$(dirname "$0")/lib.sh"
require_fuse
[ -x "$FSX" ] || { echo "1..1"; echo "not ok 1 - fsx not built"; exit 1; }
run_fsx() { # DESCRIPTION ARGS...
	local d=$1
	shift
	if "$FSX" "$@" >"$WORK/fsx.out" 2>&1; then ok "$d: $(grep -o 'seed 0x[0-9a-f]*' "$WORK/fsx.out")"; else
		not_ok "$d"
		sed 's/^/# /' "$WORK/fsx.out" | tail -25
	fi
}
export FSX_OPS=${FSX_OPS:-1000}
mount_fresh || { not_ok "mount"; finish; }
run_fsx "fsx, ${PC_FUSE_MODE:-cached} mount" "$MNT"
unmount_check
mount_fresh --mmap || { not_ok "mount --mmap"; finish; }
run_fsx "fsx, mmap-mode mount, no mmap" "$MNT"
run_fsx "fsx, mmap-mode mount, with mmap" "$MNT" --mmap
"$FSX" "$MNT" --mmap >"$WORK/a.out" 2>&1 &
pa=$!
"$FSX" "$MNT" >"$WORK/b.out" 2>&1
rb=$?
wait $pa
ra=$?
eq "two fsx at once (mmap and not)" "$ra$rb" 00
[ "$ra$rb" = 00 ] || sed 's/^/# /' "$WORK/a.out" "$WORK/b.out" | tail -30

# Hard links: a mapping of one name of a file sees a write through
# another name at once (both names are one FUSE node: one kernel inode,
# whose pages the write goes through; nothing to invalidate).
ALIAS='import mmap, os, sys
m = sys.argv[1]
with open(m + "/alias.a", "wb") as f: f.write(b"A" * 8192)
if not os.path.exists(m + "/alias.b"): os.link(m + "/alias.a", m + "/alias.b")
fa = os.open(m + "/alias.a", os.O_RDONLY)
mp = mmap.mmap(fa, 8192, mmap.MAP_SHARED, mmap.PROT_READ)
assert mp[0:1] == b"A"
fb = os.open(m + "/alias.b", os.O_WRONLY)
os.pwrite(fb, b"B" * 4096, 0)
print(mp[0:1].decode())'
unmount_check
mount_fresh --mmap || { not_ok "mount --mmap"; finish; }
eq "mmap of one name sees a write through another name" "$(python3 -c "$ALIAS" "$MNT")" B
unmount_check
finish

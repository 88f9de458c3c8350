#!/usr/bin/env bash
# test_enospc.sh - ENOSPC through the mount, in both modes (--direct-io
# and the default kernel page cache, --mmap): cp, dd conv=fsync, tar -x, fio and sqlite3 write
# more than a small vol volume (16 MiB) holds. For each tool: it exits
# non-zero; stat's size and the readable EOF agree; after a clean unmount
# (server exit status 0) the image fscks clean and, remounted, every byte
# the tool was told was written is there - the readable prefix of cp's and
# dd's copies equals the (random, so never zero) source, dd's "records out"
# are all inside it, tar's files extracted without an error match whole,
# fio's reported io_bytes verify against its pattern, sqlite's committed
# transactions are all present with integrity_check ok - and the sizes are
# those seen before the unmount; after rm the volume takes a new file
# again. The page cache's size, sampled from .pagecache-stats while the
# tools run, stays under --mem-limit + 25%: docs/design.md §7.9 bounds the
# excess by the pages the calls in flight hold (here at most 16 FUSE
# threads, each with a readahead window of 128 KiB or a DIO window of
# 1 MiB), and these tools stay well inside that. Each tool is bounded by a
# timeout. TAP.
. "$(dirname "$0")/lib.sh"
require_fuse
cd "$WORK" || exit 1
for t in fio sqlite3 tar cmp; do
	command -v "$t" >/dev/null || skip_all "no $t (scripts/deps.sh installs it)"
done
VOL_MB=16
MEM_MB=16
TOOL_TIMEOUT=60
STORE_KIND=vol
SRC=$WORK/src
head -c $((24 << 20)) /dev/urandom >"$SRC"
mkdir -p "$WORK/tree/sub"
for i in $(seq -w 1 22); do # 22 files of 1 MiB (slices of the source)
	d=$WORK/tree
	[ $((10#$i % 3)) -eq 0 ] && d=$WORK/tree/sub
	dd if="$SRC" of="$d/f$i" bs=1M skip=$((10#$i)) count=1 status=none
done
tar -cf "$WORK/tree.tar" -C "$WORK" tree
SAMPLER=
MAX_PAGES=0

note() { sed 's/^/# /' "$1" | head -"${2:-10}"; }

sampler_start() {
	(while [ -e "$MNT/.pagecache-stats" ]; do
		sed -n 's/^cached_pages //p' "$MNT/.pagecache-stats" 2>/dev/null
		sleep 0.05
	done) >>"$WORK/samples" 2>/dev/null &
	SAMPLER=$!
}
sampler_stop() {
	[ -n "$SAMPLER" ] || return 0
	kill "$SAMPLER" 2>/dev/null
	wait "$SAMPLER" 2>/dev/null
	SAMPLER=
}

# mount_vol: the image at $IMG mounted in this round's mode, sampled
mount_vol() {
	# shellcheck disable=SC2086
	mount_fresh --mem-limit $MEM_MB $MODE_OPT || return 1
	sampler_start
}

# remount LABEL: a clean unmount (exit status 0), fsck clean, mounted again
remount() {
	sampler_stop
	kill -TERM "$MOUNT_PID"
	local rc=0
	wait "$MOUNT_PID" || rc=$?
	MOUNT_PID=
	eq "$1: clean unmount (server exit status)" "$rc" 0
	[ "$rc" -eq 0 ] || note "$WORK/mount.log" 20
	check "$1: fsck clean" "$PAGECACHE" fsck "$IMG"
	mount_vol || { not_ok "$1: remount"; return 1; }
}

# size_agrees LABEL FILE: stat's size = the bytes a read gets to EOF
size_agrees() {
	local size readable
	size=$(stat -c %s "$2")
	readable=$(cat "$2" 2>"$WORK/cat.err" | wc -c)
	eq "$1: stat size = readable EOF ($size)" "$readable" "$size"
	[ -s "$WORK/cat.err" ] && note "$WORK/cat.err" 3
}

# prefix_ok LABEL FILE: the file's readable bytes are the source's first ones
prefix_ok() {
	local size
	size=$(stat -c %s "$2")
	if cmp -n "$size" "$2" "$SRC" >"$WORK/cmp.out" 2>&1; then
		ok "$1: all $size bytes read back equal the source (no zeroes)"
	else
		not_ok "$1: the readable prefix differs from the source"
		note "$WORK/cmp.out" 3
	fi
}

# usable_again LABEL: after rm, a new 4 MiB file is written, synced, read back.
# The space comes back when the server has the file's last close: FUSE sends
# RELEASE asynchronously, so a close just before the rm (cat, cmp) can still
# hold the unlinked file's blocks for a moment (seen under TSan): wait,
# bounded, for statfs to show the room first.
usable_again() {
	local i
	for i in $(seq 1 500); do
		[ $(($(stat -f -c '%a * %S' "$MNT"))) -ge $((6 << 20)) ] && break
		sleep 0.02
	done
	[ "$i" -gt 1 ] && echo "# $1: statfs showed the space after $i polls"
	if dd if="$SRC" of="$MNT/again" bs=1M count=4 conv=fsync status=none 2>"$WORK/dd.err" &&
		cmp -n $((4 << 20)) "$MNT/again" "$SRC" >/dev/null 2>&1; then
		ok "$1: after rm the volume takes a new 4 MiB file"
	else
		not_ok "$1: after rm the volume takes a new 4 MiB file"
		note "$WORK/dd.err" 3
	fi
	rm -f "$MNT/again"
}

# fails LABEL RC ERRFILE: the tool exited non-zero (and says why)
fails() {
	if [ "$2" -ne 0 ]; then ok "$1 exits non-zero ($2)"; else
		not_ok "$1 exits 0 although the volume is too small"
	fi
	grep -qiE "no space left|disk is full" "$3" && ok "$1 reports ENOSPC" || { not_ok "$1 reports ENOSPC"; note "$3" 5; }
}

t_cp() {
	local L="$MODE cp" rc=0 before
	timeout $TOOL_TIMEOUT cp "$SRC" "$MNT/cp.out" 2>"$WORK/cp.err" || rc=$?
	fails "$L" $rc "$WORK/cp.err"
	size_agrees "$L" "$MNT/cp.out"
	prefix_ok "$L" "$MNT/cp.out"
	before=$(stat -c %s "$MNT/cp.out")
	remount "$L" || return
	eq "$L: size after remount = before" "$(stat -c %s "$MNT/cp.out")" "$before"
	size_agrees "$L (remounted)" "$MNT/cp.out"
	prefix_ok "$L (remounted)" "$MNT/cp.out"
	rm -f "$MNT/cp.out"
	usable_again "$L"
}

t_dd() {
	local L="$MODE dd conv=fsync" rc=0 before recs
	timeout $TOOL_TIMEOUT dd if="$SRC" of="$MNT/dd.out" bs=1M conv=fsync 2>"$WORK/dd.err" ||
		rc=$?
	fails "$L" $rc "$WORK/dd.err"
	recs=$(sed -n 's/^\([0-9]*\)+[0-9]* records out$/\1/p' "$WORK/dd.err")
	before=$(stat -c %s "$MNT/dd.out")
	[ "$before" -ge $((${recs:-0} << 20)) ] &&
		ok "$L: the ${recs:-0} full records reported out are inside the file ($before bytes)" ||
		not_ok "$L: ${recs:-0} MiB reported written, the file has $before bytes"
	size_agrees "$L" "$MNT/dd.out"
	prefix_ok "$L" "$MNT/dd.out"
	remount "$L" || return
	eq "$L: size after remount = before" "$(stat -c %s "$MNT/dd.out")" "$before"
	prefix_ok "$L (remounted)" "$MNT/dd.out"
	rm -f "$MNT/dd.out"
	usable_again "$L"
}

# tar_check LABEL: every file tar names no error for matches whole; the
# others hold a prefix of their source
tar_check() {
	local whole=0 bad=0 part=0 f rel
	for f in $(cd "$WORK" && find tree -type f | sort); do
		[ -e "$MNT/$f" ] || continue
		if grep -q "$f:" "$WORK/tar.err"; then
			local size
			size=$(stat -c %s "$MNT/$f")
			cmp -n "$size" "$MNT/$f" "$WORK/$f" >/dev/null 2>&1 || {
				bad=$((bad + 1))
				echo "# $f (tar reported an error): its $size bytes differ"
			}
			part=$((part + 1))
		elif cmp "$MNT/$f" "$WORK/$f" >/dev/null 2>&1; then
			whole=$((whole + 1))
		else
			bad=$((bad + 1))
			echo "# $f extracted without an error, differs: $(stat -c %s "$MNT/$f") bytes"
		fi
	done
	rel="$whole extracted without error match whole, $part with errors hold a prefix"
	[ "$bad" -eq 0 ] && [ "$whole" -gt 0 ] && ok "$1: $rel" || not_ok "$1: $rel, $bad differ"
}

t_tar() {
	local L="$MODE tar -x" rc=0
	timeout $TOOL_TIMEOUT tar -xf "$WORK/tree.tar" -C "$MNT" 2>"$WORK/tar.err" || rc=$?
	fails "$L" $rc "$WORK/tar.err"
	tar_check "$L"
	local f disagree=0
	for f in $(find "$MNT/tree" -type f 2>/dev/null); do
		[ "$(stat -c %s "$f")" = "$(cat "$f" 2>/dev/null | wc -c)" ] || {
			disagree=$((disagree + 1))
			echo "# $f: stat size $(stat -c %s "$f"), readable $(cat "$f" 2>/dev/null | wc -c)"
		}
	done
	eq "$L: stat size = readable EOF for every file" "$disagree" 0
	remount "$L" || return
	tar_check "$L (remounted)"
	rm -rf "$MNT/tree"
	usable_again "$L"
}

t_fio() {
	local L="$MODE fio" rc=0 io
	# (no verify state file: fio would write it into the current directory)
	timeout $TOOL_TIMEOUT fio --verify_state_save=0 --name=enospc --filename="$MNT/fio.dat" --size=24M --rw=write \
		--bs=64k --ioengine=psync --fallocate=none --end_fsync=1 --verify=pattern \
		--verify_pattern=0x5a17c0de --do_verify=0 --output-format=json \
		>"$WORK/fio.json" 2>"$WORK/fio.err" || rc=$?
	fails "$L" $rc "$WORK/fio.err"
	# (fio may print its error lines before the JSON)
	io=$(python3 -c 'import json,sys; t=open(sys.argv[1]).read(); print(json.loads(t[t.index("{"):])["jobs"][0]["write"]["io_bytes"])' \
		"$WORK/fio.json" 2>"$WORK/fio.parse")
	[ -n "$io" ] && [ "$io" -gt 0 ] && ok "$L: fio reports $io bytes written" ||
		{ not_ok "$L: fio's io_bytes ($io)"; note "$WORK/fio.parse" 3; note "$WORK/fio.json" 5; io=0; }
	size_agrees "$L" "$MNT/fio.dat"
	[ "$(stat -c %s "$MNT/fio.dat")" -ge "$io" ] && ok "$L: the file holds the $io bytes" ||
		{ not_ok "$L: $io bytes reported written, the file has $(stat -c %s "$MNT/fio.dat")"; io=0; }
	remount "$L" || return
	fio_verify() {
		fio --verify_state_save=0 --name=verify --filename="$MNT/fio.dat" --size="$io" --rw=read --bs=64k \
			--ioengine=psync --verify=pattern --verify_pattern=0x5a17c0de \
			>"$WORK/fiov.out" 2>&1
	}
	if [ "$io" -eq 0 ]; then
		not_ok "$L (remounted): nothing to verify (see above)"
	elif fio_verify; then
		ok "$L (remounted): the $io bytes reported written verify against the pattern"
	else
		not_ok "$L (remounted): the $io bytes reported written verify against the pattern"
		[ -e "$WORK/fiov.out" ] && grep -i "verify\|bad\|error" "$WORK/fiov.out" | note /dev/stdin 5
	fi
	rm -f "$MNT/fio.dat"
	usable_again "$L"
}

t_sqlite() {
	local L="$MODE sqlite3" rc=0 last n
	{
		echo ".bail on"
		echo "CREATE TABLE t(id INTEGER PRIMARY KEY, batch INT, b BLOB);"
		for i in $(seq 1 100); do
			echo "BEGIN;"
			for _ in 1 2 3 4; do echo "INSERT INTO t(batch, b) VALUES($i, randomblob(131072));"; done
			echo "COMMIT;"
			echo "SELECT 'committed $i';"
		done
	} | timeout $TOOL_TIMEOUT sqlite3 "$MNT/db.sqlite" >"$WORK/sql.out" 2>"$WORK/sql.err" || rc=$?
	fails "$L" $rc "$WORK/sql.err"
	last=$(sed -n 's/^committed //p' "$WORK/sql.out" | tail -1)
	last=${last:-0}
	[ "$last" -gt 0 ] && ok "$L: $last transactions committed before ENOSPC" ||
		not_ok "$L: no transaction committed"
	size_agrees "$L" "$MNT/db.sqlite"
	remount "$L" || return
	eq "$L (remounted): integrity_check" \
		"$(sqlite3 "$MNT/db.sqlite" 'PRAGMA integrity_check;' 2>&1)" ok
	n=$(sqlite3 "$MNT/db.sqlite" 'SELECT count(*) FROM t WHERE batch <= '"$last"';' 2>&1)
	eq "$L (remounted): every committed row present (4 per transaction)" "$n" $((4 * last))
	eq "$L (remounted): no row of zeroes" \
		"$(sqlite3 "$MNT/db.sqlite" 'SELECT count(*) FROM t WHERE b = zeroblob(length(b));' 2>&1)" 0
	rm -f "$MNT/db.sqlite" "$MNT/db.sqlite-journal"
	usable_again "$L"
}

for MODE in direct_io mmap; do
	MODE_OPT=--direct-io # the strict mode; mmap: the default (kernel page cache)
	[ "$MODE" = mmap ] && MODE_OPT=--mmap
	rm -f "$IMG"
	"$PAGECACHE" mkfs "$IMG" --size ${VOL_MB}M >/dev/null
	: >"$WORK/samples"
	mount_vol || { not_ok "$MODE: mount"; continue; }
	ok "$MODE: mounted a $VOL_MB MiB volume (--mem-limit $MEM_MB)"
	for t in cp dd tar fio sqlite; do
		start=$SECONDS
		t_$t
		echo "# $MODE $t: $((SECONDS - start)) s"
	done
	sampler_stop
	unmount_check
	MAX_PAGES=$(sort -n "$WORK/samples" | tail -1)
	MAX_PAGES=${MAX_PAGES:-0}
	n=$(wc -l <"$WORK/samples")
	[ "$n" -gt 0 ] && [ $((MAX_PAGES * 4096)) -le $(((MEM_MB << 20) + (MEM_MB << 20) / 4)) ] &&
		ok "$MODE: page cache at most $((MAX_PAGES * 4)) KiB in $n samples (limit $MEM_MB MiB + 25%)" ||
		not_ok "$MODE: page cache reached $((MAX_PAGES * 4)) KiB in $n samples (limit $MEM_MB MiB + 25%)"
done
finish

#!/usr/bin/env bash
# fio_mount.sh - fio on the default `pagecache mount` (a vol image) against
# ext4 in an image file on a loop device, in the same run on the same
# machine, both images in the same host directory: cached sequential read
# (1 MiB), cached 4 KiB random read, sequential write (1 MiB, fsync at the
# end) and 4 KiB random write with fsync after each write. The two targets
# alternate job by job, repetition by repetition (order rotated). Prints
# bench records (ROW/CMP/INFO/SKIP, see bench/bench.c) on stdout.
#
#   bench/fio_mount.sh [--smoke] BUILD_DIR
# Environment: BENCH_STORE (where the images go, default /var/tmp),
# BENCH_REPS (repetitions, default 3), FIO_SIZE_MB (file size, default 256),
# FIO_RUNTIME (seconds per timed job, default 5).
# Needs root, /dev/fuse, fio, losetup and mkfs.ext4; prints a SKIP record
# (and exits 0) where one is missing.
set -u
smoke=0
[ "${1:-}" = --smoke ] && { smoke=1; shift; }
build=${1:?usage: bench/fio_mount.sh [--smoke] BUILD_DIR}
pc=$build/tools/pagecache
reps=${BENCH_REPS:-3}
size=${FIO_SIZE_MB:-256}
rt=${FIO_RUNTIME:-5}
if [ $smoke = 1 ]; then reps=1 size=16 rt=1; fi
skip() { printf 'SKIP\tfio\tmount vs ext4\t%s\n' "$*"; exit 0; }
[ "$(id -u)" -eq 0 ] || skip "not root (loop device and mount)"
[ -c /dev/fuse ] || skip "no /dev/fuse"
for t in fio losetup mkfs.ext4 python3; do
	command -v $t >/dev/null || skip "no $t (scripts/deps.sh installs fio)"
done
[ -x "$pc" ] || skip "$pc not built"

work=$(mktemp -d "${BENCH_STORE:-/var/tmp}/pc-fio-XXXXXX")
loop= pcpid=
cleanup() {
	[ -n "$pcpid" ] && { kill -TERM "$pcpid" 2>/dev/null; wait "$pcpid" 2>/dev/null; }
	mountpoint -q "$work/ext4" && umount "$work/ext4"
	[ -n "$loop" ] && losetup -d "$loop"
	rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/ext4" "$work/pc"
img_mb=$((size * 3 + 512))
truncate -s ${img_mb}M "$work/ext4.img"
mkfs.ext4 -q -F "$work/ext4.img" || skip "mkfs.ext4 failed"
loop=$(losetup -f --show "$work/ext4.img") || skip "no loop device"
mount "$loop" "$work/ext4" || skip "cannot mount ext4 on $loop"
"$pc" mkfs "$work/pc.img" --size ${img_mb}M >/dev/null || skip "pagecache mkfs failed"
"$pc" mount --stats-interval 0 "$work/pc.img" "$work/pc" 2>"$work/mount.log" &
pcpid=$!
for _ in $(seq 1 500); do
	[ "$(stat -f -c %T "$work/pc" 2>/dev/null)" = fuseblk ] && break
	grep -q " $work/pc fuse" /proc/mounts && break
	kill -0 $pcpid 2>/dev/null || skip "pagecache mount failed: $(tail -1 "$work/mount.log")"
	sleep 0.02
done

# fio DIR NAME ARGS... -> the job's JSON in $work/NAME.json
runfio() {
	local d=$1 n=$2
	shift 2
	fio --name="$n" --directory="$d" --ioengine=psync --invalidate=0 --group_reporting \
		--output-format=json --output="$work/$n.json" "$@" >/dev/null 2>"$work/$n.err"
}
# value FILE read|write bw|iops -> MB/s or IOPS
value() {
	python3 -c 'import json,sys
j = json.load(open(sys.argv[1]))["jobs"][0][sys.argv[2]]
print(j["bw_bytes"] / 1e6 if sys.argv[3] == "bw" else j["iops"])' "$@"
}
# one MEASURE TARGET-DIR: runs the metric's job, prints the figure
one() {
	local m=$1 d=$2
	case $m in
	seqread)
		runfio "$d" seqread --filename=rd --rw=read --bs=1M --size=${size}M \
			--time_based --runtime=$rt && value "$work/seqread.json" read bw ;;
	randread)
		runfio "$d" randread --filename=rd --rw=randread --bs=4k --size=${size}M \
			--time_based --runtime=$rt && value "$work/randread.json" read iops ;;
	seqwrite)
		rm -f "$d/wr"
		runfio "$d" seqwrite --filename=wr --rw=write --bs=1M --size=${size}M \
			--end_fsync=1 && value "$work/seqwrite.json" write bw ;;
	randwrite)
		runfio "$d" randwrite --filename=rw --rw=randwrite --bs=4k --size=64M --fsync=1 \
			--time_based --runtime=$rt && value "$work/randwrite.json" write iops ;;
	esac
}
# the files the read and fsync jobs use, written once (and so cached)
for d in "$work/ext4" "$work/pc"; do
	runfio "$d" layout --filename=rd --rw=write --bs=1M --size=${size}M --end_fsync=1 ||
		skip "fio layout on $d failed: $(tail -2 "$work/layout.err")"
	runfio "$d" layout2 --filename=rw --rw=write --bs=1M --size=64M --end_fsync=1
	cat "$d/rd" >/dev/null # warm: the first read fills the caches
done

metrics="seqread randread seqwrite randwrite"
declare -A res
for r in $(seq 1 "$reps"); do
	for m in $metrics; do
		if [ $((r % 2)) = 1 ]; then order="pc ext4"; else order="ext4 pc"; fi
		for t in $order; do
			v=$(one $m "$work/$t") || v=
			[ -n "$v" ] || { echo "fio $m on $t failed: $(tail -3 "$work/$m.err")" >&2; v=0; }
			res[$m.$t]="${res[$m.$t]:-} $v"
		done
	done
done

printf 'INFO\tprogram\tfio_mount\n'
printf 'INFO\tfio\t%s; file %d MiB, %d s per timed job, %d repetitions, psync, one job; images in %s (%s)\n' \
	"$(fio --version)" "$size" "$rt" "$reps" "${BENCH_STORE:-/var/tmp}" \
	"$(df -PT "$work" | awk 'NR == 2 { print $2 }')"
printf 'INFO\tfio_targets\tpagecache: the default mount (kernel page cache, keep_cache), vol image; ext4: image file on %s\n' "$loop"
stats() { # values... -> median min max n
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.6g\t%.6g\t%.6g\t%d", m, v[1], v[NR], NR }'
}
for m in $metrics; do
	case $m in
	seqread) label="cached seq read 1M" unit=MB/s goal=0.9 ;;
	randread) label="cached rand read 4K" unit=IOPS goal=0.9 ;;
	seqwrite) label="seq write 1M + fsync" unit=MB/s goal=0.7 ;;
	randwrite) label="rand write 4K, fsync each" unit=IOPS goal=0.7 ;;
	esac
	# shellcheck disable=SC2086
	a=$(stats ${res[$m.pc]})
	# shellcheck disable=SC2086
	b=$(stats ${res[$m.ext4]})
	printf 'ROW\tfio\t%s\tpagecache\t%s\t%s\n' "$label" "$unit" "$a"
	printf 'ROW\tfio\t%s\text4-loop\t%s\t%s\n' "$label" "$unit" "$b"
	IFS=$'\t' read -r am amin amax _ <<<"$a"
	IFS=$'\t' read -r bm bmin bmax _ <<<"$b"
	awk -v l="$label" -v u="$unit" -v am="$am" -v amin="$amin" -v amax="$amax" -v bm="$bm" \
		-v bmin="$bmin" -v bmax="$bmax" -v g="$goal" 'BEGIN {
		r = bm > 0 ? am / bm : 0
		printf "CMP\tfio\t%s\t%s\tpagecache\t%.6g\t%.6g\t%.6g\text4-loop\t%.6g\t%.6g\t%.6g\t%.4g\t>= %s\t%s\n",
			l, u, am, amin, amax, bm, bmin, bmax, r, g, (r >= g ? "yes" : "no") }'
done

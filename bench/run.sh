#!/usr/bin/env bash
# run.sh - runs every bench/ program of a build and writes RESULTS.md (the
# machine, the goals and whether they are met, every comparison) and SVG
# plots (gnuplot; skipped, and said so, when gnuplot is absent) into an
# output directory, with the raw records under raw/.
#
#   bench/run.sh [--smoke|--report] BUILD_DIR [OUT_DIR]   (OUT_DIR: bench/results)
#
# --report only rewrites RESULTS.md and the plots from the records already in
# OUT_DIR/raw (no program runs).
# --smoke runs each program with tiny sizes (make check uses it to see that
# the harness works end to end; nothing is timed or asserted there), then
# checks that every output line is a well-formed record.
# Environment: BENCH_STORE (directory for engine stores, default /var/tmp),
# BENCH_SHM (tmpfs directory, default /dev/shm), BENCH_ONLY="read fault ..."
# (a subset), BENCH_REPS (repetitions for every program), BENCH_PLOT=png
# (PNG plots instead of SVG).
set -u
cd "$(dirname "$0")/.."
smoke=0
report=0
case "${1:-}" in
--smoke) smoke=1; shift ;;
--report) report=1; shift ;;
esac
build=${1:?usage: bench/run.sh [--smoke] BUILD_DIR [OUT_DIR]}
out=${2:-bench/results}
programs=${BENCH_ONLY:-read fault dio mixed punch scale mem vol clone views fio glock cluster}
mkdir -p "$out/raw"
args=()
[ $smoke = 1 ] && args+=(--smoke)
[ -n "${BENCH_REPS:-}" ] && args+=(--reps "$BENCH_REPS")

# Every record line: INFO 3 fields, ROW 9, CMP 15, SKIP 4; numbers where numbers go.
check_records() {
	awk -F'\t' '
	function num(x) { return x ~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$|^-?inf$|^-?nan$/ }
	$1 == "INFO" { if (NF != 3) bad = bad "\n" FILENAME ":" FNR ": INFO with " NF " fields"; next }
	$1 == "SKIP" { n++; if (NF != 4) bad = bad "\n" FILENAME ":" FNR ": SKIP with " NF " fields"; next }
	$1 == "ROW" { n++
		if (NF != 9 || !num($6) || !num($7) || !num($8) || $9 !~ /^[0-9]+$/ || $9 < 1 ||
		    $7 > $6 || $6 > $8)
			bad = bad "\n" FILENAME ":" FNR ": bad ROW: " $0
		next }
	$1 == "CMP" {
		if (NF != 15 || !num($6) || !num($10) || !num($13) || $15 !~ /^(yes|no|-)$/)
			bad = bad "\n" FILENAME ":" FNR ": bad CMP: " $0
		next }
	{ bad = bad "\n" FILENAME ":" FNR ": not a record: " $0 }
	END { if (!n) bad = bad "\n" FILENAME ": no ROW or SKIP record"
	      if (bad != "") { print substr(bad, 2) > "/dev/stderr"; exit 1 } }' "$1"
}

status=0
[ $report = 1 ] || : >"$out/raw/timing.txt"
for p in $programs; do
	[ $report = 1 ] && break
	exe="$build/bench/bench_$p"
	[ "$p" = fio ] && exe=bench/fio_mount.sh # the FUSE mount against ext4 (fio)
	if [ ! -x "$exe" ]; then
		echo "bench: $exe missing (build $build first)" >&2
		status=1
		continue
	fi
	echo "bench: $p ..." >&2
	t0=$(date +%s.%N)
	if [ "$p" = fio ]; then
		fargs=()
		[ $smoke = 1 ] && fargs+=(--smoke)
		"$exe" "${fargs[@]}" "$build" >"$out/raw/$p.tsv" 2>"$out/raw/$p.err"
	else
		"$exe" "${args[@]}" >"$out/raw/$p.tsv" 2>"$out/raw/$p.err"
	fi
	rc=$?
	t1=$(date +%s.%N)
	awk -v p="$p" -v rc=$rc -v a="$t0" -v b="$t1" 'BEGIN { printf "%s\t%d\t%.2f s\n", p, rc, b - a }' \
		>>"$out/raw/timing.txt"
	if [ $rc -ne 0 ]; then
		echo "bench: bench_$p failed (exit $rc):" >&2
		tail -5 "$out/raw/$p.err" >&2
		status=1
	fi
	check_records "$out/raw/$p.tsv" || status=1
done

# ---- machine ----
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
store=${BENCH_STORE:-/var/tmp}
shm=${BENCH_SHM:-/dev/shm}
fstype() { df -PT "$1" 2>/dev/null | awk 'NR == 2 { print $2 " (" $1 ")" }'; }
thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo unknown)
thp_shmem=$(cat /sys/kernel/mm/transparent_hugepage/shmem_enabled 2>/dev/null || echo unknown)
info() { cat "$out"/raw/*.tsv 2>/dev/null | awk -F'\t' -v k="$1" '$1 == "INFO" && $2 == k { print $3; exit }'; }

# ---- plot data: one table per group, rows = metrics, columns = impls (median min max) ----
table() { # group -> whitespace table with quoted metric names, header line "# metric impl..."
	cat "$out"/raw/*.tsv | awk -F'\t' -v g="$1" '
	$1 == "ROW" && $2 == g {
		if (!($3 in mi)) { mi[$3] = ++nm; mname[nm] = $3 }
		if (!($4 in ii)) { ii[$4] = ++ni; iname[ni] = $4 }
		v[mi[$3], ii[$4]] = $6 " " $7 " " $8 }
	END { if (!nm) exit
		printf "# metric"; for (j = 1; j <= ni; j++) printf " \"%s\"", iname[j]; print ""
		for (i = 1; i <= nm; i++) { printf "\"%s\"", mname[i]
			for (j = 1; j <= ni; j++) printf " %s", ((i, j) in v) ? v[i, j] : "NaN NaN NaN"
			print "" } }'
}

plots=()
plot_note=""
if command -v gnuplot >/dev/null 2>&1; then
	dat="$out/raw"
	ext=${BENCH_PLOT:-svg}
	term="svg size 1000,560 dynamic font 'sans,11'"
	[ "$ext" = png ] && term="pngcairo size 1000,560 font 'sans,10'"
	for g in read fault dio punch mem; do table "$g" >"$dat/$g.dat"; done
	# mixed: x = readers, one file per (writer mode, policy); scale: x = size, per (op, impl)
	rm -f "$dat"/mixed_*.dat "$dat"/scale_*.dat
	cat "$out"/raw/*.tsv | awk -F'\t' -v d="$dat" '
	$1 == "ROW" && $2 == "mixed" {
		split($3, a, ", "); w = a[1]; gsub(/ /, "-", w)
		print (a[2] + 0), $6, $7, $8 > (d "/mixed_" w "_" $4 ".dat") }
	$1 == "ROW" && $2 == "scale" {
		split($3, a, " "); print a[2], $6, $7, $8 > (d "/scale_" a[1] "_" $4 ".dat") }'
	gp() { # name, gnuplot body
		if gnuplot -e "set terminal $term; set termoption noenhanced; set output '$out/$1.$ext'; $2" \
			2>"$dat/$1.gnuplot.err"; then
			plots+=("$1")
		else
			plot_note="$plot_note gnuplot failed for $1 (see raw/$1.gnuplot.err);"
		fi
	}
	hist="set style data histogram; set style histogram errorbars gap 2 lw 1; set style fill solid 0.6 border -1; set key top left; set xtics rotate by -30; set grid ytics; set bars front"
	[ -s "$dat/read.dat" ] && gp read "$hist; set title 'Cached reads (median, min-max): higher is better'; set ylabel 'GB/s'; plot '$dat/read.dat' using 2:3:4:xtic(1) title 'engine', '' using 5:6:7 title 'kernel pread (tmpfs)', '' using 8:9:10 title 'memcpy'"
	[ -s "$dat/fault.dat" ] && gp fault "$hist; set title 'First-touch mapped access per 4 KiB page: lower is better'; set ylabel 'ns per page'; plot '$dat/fault.dat' using 2:3:4:xtic(1) title 'engine (pc_mmap)', '' using 5:6:7 title 'kernel mmap (tmpfs)'"
	[ -s "$dat/dio.dat" ] && gp dio "$hist; set logscale y; set title 'O_DIRECT at QD1: higher is better'; set ylabel 'MB/s'; plot '$dat/dio.dat' using 2:3:4:xtic(1) title 'engine O_DIRECT', '' using 5:6:7 title 'raw O_DIRECT (same file)'"
	# fio: the mount's figure over ext4's (medians) per job, with the goal
	cat "$out"/raw/*.tsv | awk -F'\t' '$1 == "CMP" && $2 == "fio" {
		g = $14; sub(/^>= /, "", g); printf "\"%s\" %s %s\n", $3, $13, g }' >"$dat/fio.dat"
	[ -s "$dat/fio.dat" ] && gp fio "set title 'fio: default pagecache mount / ext4 on a loop device (same run; higher is better)'; set style data histograms; set style histogram clustered gap 1; set style fill solid 0.6 border -1; set grid y; set yrange [0:*]; set ylabel 'ratio of medians'; set key top left; plot '$dat/fio.dat' using 2:xtic(1) title 'pagecache / ext4', '' using 0:3 with points pt 7 ps 1.5 title 'goal (at least)', 1 with lines dt 2 title 'parity'"
	[ -s "$dat/punch.dat" ] && gp punch "$hist; set logscale y; set title 'Punch hole in a cached file (median latency): lower is better'; set ylabel 'microseconds'; plot '$dat/punch.dat' using 2:3:4:xtic(1) title 'engine', '' using 5:6:7 title 'store (host fallocate)', '' using 8:9:10 title 'kernel tmpfs'"
	if ls "$dat"/mixed_*.dat >/dev/null 2>&1; then
		body="set multiplot layout 2,3 title 'Random 4 KiB readers with one writer (higher is better)'; set grid; set xlabel 'readers'; set ylabel 'M reads/s'; set key top left; set xtics 1; set yrange [0:*];"
		for w in no-writer overwrite append paced-overwrite paced-append; do
			body="$body set title '${w//-/ }'; plot"
			sep=""
			for pol in two-state xfs none; do
				f="$dat/mixed_${w}_$pol.dat"
				[ -s "$f" ] || continue
				body="$body$sep '$f' using 1:2:3:4 with yerrorlines title '$pol'"
				sep=","
			done
			body="$body;"
		done
		gp mixed "$body unset multiplot"
	fi
	if ls "$dat"/scale_*.dat >/dev/null 2>&1; then
		body="set multiplot layout 1,3 title 'Cost per operation as the sparse file grows (the same cached pages)'; set grid; set logscale xy; set xlabel 'file size (MiB)'; set ylabel 'ns per op'; set key top left;"
		for op in lookup fault punch; do
			body="$body set title '$op'; plot"
			sep=""
			for im in engine kernel-tmpfs; do
				f="$dat/scale_${op}_$im.dat"
				[ -s "$f" ] || continue
				body="$body$sep '$f' using 1:2:3:4 with yerrorlines title '$im'"
				sep=","
			done
			body="$body;"
		done
		gp scale "$body unset multiplot"
	fi
	# views: fault cost against the number of other views of the file
	cat "$out"/raw/*.tsv | awk -F'\t' '$1 == "ROW" && $2 == "views" && $3 ~ /^fault read with [0-9]+ other views$/ {
		split($3, a, " "); print a[4], $6, $7, $8 }' >"$dat/views.dat"
	vgoal=$(awk '$1 == 0 { printf "%g", $2 * 1.3 }' "$dat/views.dat")
	[ -s "$dat/views.dat" ] && [ -n "$vgoal" ] && gp views "set title 'Engine read fault per page against the number of other views of the file: lower is better'; set grid; set logscale x; set xrange [0.5:300000]; set yrange [0:*]; set xlabel 'other views (0 plotted at 1)'; set ylabel 'ns per page'; set key bottom right; plot '$dat/views.dat' using (\$1 < 1 ? 1 : \$1):2:3:4 with yerrorlines title 'engine (median, min-max)', $vgoal with lines dt 2 title 'goal at 100k views: 1.3x the 0-view median'"
	if [ -s "$dat/mem.dat" ]; then
		# columns: metric, then per impl (metadata, peak RSS growth, RssShmem, RssAnon, VmHWM, cached) m/min/max
		gp mem "set title 'Memory against cached bytes'; set grid; set key top left; set xlabel 'cached MiB'; set ylabel 'MiB'; set y2label 'metadata bytes per cached page'; set y2tics; set ytics nomirror; set y2range [0:*]; plot '$dat/mem.dat' using 17:5 with linespoints title 'peak RSS growth (VmHWM)', '' using 17:8 with linespoints title 'RssShmem (page contents)', '' using 17:11 with linespoints title 'RssAnon (heap)', '' using 17:2 axes x1y2 with linespoints title 'metadata B/page (right)', 64 axes x1y2 with lines dt 2 title 'goal: 64 B/page (right)'"
	fi
else
	plot_note="gnuplot not found: plots skipped (scripts/deps.sh installs gnuplot-nox)."
fi

# ---- RESULTS.md ----
md="$out/RESULTS.md"
{
	echo "# Benchmark results"
	echo
	if [ $smoke = 1 ]; then
		echo "**Smoke run** (tiny sizes, one repetition): these figures mean nothing."
		echo
	fi
	echo "Generated by \`bench/run.sh\` ($( [ $smoke = 1 ] && echo --smoke || echo "make bench")) on $(date -u '+%Y-%m-%d %H:%M UTC') from the build in \`$build\`"
	echo "($(python3 -c "import json,sys;o={x['name']:x['value'] for x in json.load(open(sys.argv[1]))};print('buildtype=%s, validator=%s' % (o.get('buildtype'), o.get('validator')))" "$build/meson-info/intro-buildoptions.json" 2>/dev/null))."
	echo "Each metric runs the engine and its anchor alternately in one process, several"
	echo "repetitions (order rotated every repetition); figures are the median and [min-max] over"
	echo "repetitions, ratios are ratios of medians. Per-program wall times are in \`raw/timing.txt\`."
	echo
	echo "## Machine"
	echo
	echo "| | |"
	echo "|---|---|"
	echo "| CPU | $cpu, $(nproc) cores online |"
	echo "| kernel | $(uname -sr) |"
	echo "| memory | $mem |"
	echo "| engine store dir | \`$store\`: $(fstype "$store"); O_DIRECT there: $( [ -n "$(info store_fs)" ] && echo "yes, $(info store_fs)" || echo "not probed") |"
	echo "| kernel anchor (tmpfs) | \`$shm\`: $(fstype "$shm"); O_DIRECT on tmpfs: $(info tmpfs_odirect) |"
	echo "| transparent huge pages | anon: $thp; shmem: $thp_shmem |"
	echo "| load | $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, at the end) |"
	echo
	echo "## Goals"
	echo
	echo "| group | metric | engine | anchor | ratio | goal | met |"
	echo "|---|---|---|---|---|---|---|"
	cat "$out"/raw/*.tsv | awk -F'\t' '$1 == "CMP" && $14 != "-" {
		printf "| %s | %s | %s: %.4g %s [%.4g-%.4g] | %s: %.4g [%.4g-%.4g] | %.3g | %s | **%s** |\n",
			$2, $3, $5, $6, $4, $7, $8, $9, $10, $11, $12, $13, $14, $15 }'
	echo
	echo "## Every comparison"
	for g in read fault dio mixed punch scale mem vol clone views fio glock cluster; do
		if ! cat "$out"/raw/*.tsv | awk -F'\t' -v g=$g '$1 == "CMP" && $2 == g { f = 1 } END { exit !f }'; then
			continue
		fi
		echo
		echo "### $g"
		echo
		echo "| metric | unit | A: median [min-max] | B: median [min-max] | A/B |"
		echo "|---|---|---|---|---|"
		cat "$out"/raw/*.tsv | awk -F'\t' -v g=$g '$1 == "CMP" && $2 == g {
			printf "| %s | %s | %s: %.4g [%.4g-%.4g] | %s: %.4g [%.4g-%.4g] | %.3g |\n",
				$3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 }'
	done
	echo
	echo "### Other figures"
	echo
	echo "| group | metric | impl | unit | median [min-max] (n) |"
	echo "|---|---|---|---|---|"
	cat "$out"/raw/*.tsv | awk -F'\t' '$1 == "ROW" && ($2 == "fault-count" || $2 == "mixed-writer" || $2 == "mem" || ($2 == "vol" && $5 == "x") || $2 == "views-mapper") {
		printf "| %s | %s | %s | %s | %.4g [%.4g-%.4g] (%d) |\n", $2, $3, $4, $5, $6, $7, $8, $9 }'
	echo
	skips=$(cat "$out"/raw/*.tsv | awk -F'\t' '$1 == "SKIP" { print "- " $2 " / " $3 ": " $4 }')
	if [ -n "$skips" ]; then
		echo "## Skipped"
		echo
		echo "$skips"
		echo
	fi
	echo "## Notes from the programs"
	echo
	cat "$out"/raw/*.tsv | awk -F'\t' '$1 == "INFO" && $2 !~ /^(program|reps|smoke)$/ {
		printf "- %s: %s\n", $2, $3 }' | sort -u
	echo
	echo "## Plots"
	echo
	if [ ${#plots[@]} -eq 0 ] && [ -z "$plot_note" ]; then plot_note="no data to plot."; fi
	[ -n "$plot_note" ] && echo "$plot_note" && echo
	for p in "${plots[@]}"; do
		echo "![$p]($p.$ext)"
		echo
	done
	if [ $smoke = 0 ] && [ -f bench/NOTES.md ]; then
		echo
		cat bench/NOTES.md
	fi
} >"$md"
find "$out/raw" -name '*.err' -empty -delete 2>/dev/null
[ $smoke = 1 ] && { grep -q '^## Goals' "$md" || { echo "bench: RESULTS.md malformed" >&2; status=1; }; }
echo "bench: wrote $md${plots[*]:+ and plots: ${plots[*]}}" >&2
exit $status

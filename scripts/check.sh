#!/usr/bin/env bash
# Builds and runs the test suite in each build directory given, then prints
# every test's result and one closing line "N passed, N failed" over all of
# them. Exit status is non-zero if anything failed or did not build.
set -u
cd "$(dirname "$0")/.."
jobs=$(nproc)
passed=0
failed=0
for b in "$@"; do
	echo "=== $b: build ==="
	if ! ninja -C "$b" -j"$jobs" >"$b/ninja.log" 2>&1; then
		tail -50 "$b/ninja.log"
		echo "$b: build FAILED"
		failed=$((failed + 1))
		continue
	fi
	echo "=== $b: tests ==="
	meson test -C "$b" --num-processes "$jobs" --print-errorlogs
	counts=$(python3 - "$b/meson-logs/testlog.json" <<'PY'
import json, sys
ok = bad = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    r = json.loads(line)
    if r.get("result") in ("OK", "SKIP", "EXPECTEDFAIL"):
        ok += 1
    else:
        bad += 1
print(ok, bad)
PY
)
	set -- "$@"
	p=${counts% *}
	f=${counts#* }
	echo "$b: $p passed, $f failed"
	passed=$((passed + p))
	failed=$((failed + f))
done
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

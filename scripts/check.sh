#!/usr/bin/env bash
# Builds and runs the test suite in each build directory given, then prints
# every test's result and one closing line "N passed, N failed, N skipped"
# over all of them. Exit status is non-zero if anything failed or did not
# build.
#
# What is counted: TAP subtests (the cases of a C test binary, the test
# points of a FUSE script), read from each test's output in meson's
# testlog.json. "ok" is passed, "ok ... # SKIP" is skipped (a case that
# called test_skip, a script point that could not run), "not ok" failed; a
# script that skipped as a whole ("1..0 # SKIP", e.g. no /dev/fuse) counts
# one skipped. A test that meson reports failed (crash, timeout, short plan)
# without any "not ok" line counts one failed more; a build that fails
# counts one failed. A test without TAP output counts once, by its result.
# An argument "compile:DIR" is built and not tested (make check's release
# build without the validator, warnings as errors: code under
# PC_LOCKDEP/PC_SCHED_HOOKS or NDEBUG that only an optimised build sees);
# its failure counts one failed, its success nothing.
set -u
cd "$(dirname "$0")/.."
jobs=$(nproc)
passed=0
failed=0
skipped=0
for b in "$@"; do
	compile_only=0
	if [ "${b#compile:}" != "$b" ]; then
		b=${b#compile:}
		compile_only=1
	fi
	echo "=== $b: build ==="
	if ! ninja -C "$b" -j"$jobs" >"$b/ninja.log" 2>&1; then
		tail -50 "$b/ninja.log"
		echo "$b: build FAILED"
		failed=$((failed + 1))
		continue
	fi
	if [ "$compile_only" = 1 ]; then
		echo "$b: built (compile only: no tests run here)"
		continue
	fi
	echo "=== $b: tests ==="
	meson test -C "$b" --num-processes "$jobs" --print-errorlogs
	counts=$(python3 - "$b/meson-logs/testlog.json" <<'PY'
import json, re, sys
ok = bad = skip = 0
point = re.compile(r'^(not )?ok\b[^#]*(#\s*(\w+))?', re.I)
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    r = json.loads(line)
    res = r.get("result")
    good = res in ("OK", "SKIP", "EXPECTEDFAIL")
    seen = nbad = 0
    for l in (r.get("stdout") or "").splitlines():
        if re.match(r'^1\.\.0\s*#\s*skip', l, re.I):
            seen += 1
            skip += 1
            continue
        m = point.match(l)
        if not m:
            continue
        seen += 1
        if m.group(1):
            nbad += 1
        elif (m.group(3) or "").lower().startswith("skip"):
            skip += 1
        else:
            ok += 1
    bad += nbad
    if not seen:
        if res == "SKIP":
            skip += 1
        elif good:
            ok += 1
        else:
            bad += 1
    elif not good and not nbad:
        bad += 1
print(ok, bad, skip)
PY
)
	read -r p f s <<<"$counts"
	echo "$b: $p passed, $f failed, $s skipped"
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
done
echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]

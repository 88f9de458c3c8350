#!/usr/bin/env bash
# test_switch_table.sh - every test switch (TEST_SWITCH(<area>_test_<what>))
# and test knob (TEST_KNOB) that src/ defines is listed in
# src/api/test_switches.c, so the harness resets it after a failed case, and
# none is defined as a plain global (it would exist in the installed
# library).
# TAP. Argument: the source root.
set -u
root=${1:?usage: $0 SRCROOT}
table=$root/src/api/test_switches.c
# definitions: TEST_SWITCH(name); and TEST_KNOB(type, name); (kernel/testswitch.h)
names=$(grep -rhoE --include='*.c' '^TEST_(SWITCH\(|KNOB\([^,]*, *)[a-z0-9_]+\);' "$root/src" |
	grep -oE '[a-z0-9]+(_[a-z0-9]+)*_test_[a-z0-9_]+' | sort -u)
# a switch defined the old way (a plain global) would exist in the installed
# library: each is a failure of its own
plain=$(grep -rlE --include='*.c' '^(bool|int|long|unsigned)[^;(]*_test_[a-z0-9_]+;' "$root/src")
n=0
failed=0
for s in $names; do
	n=$((n + 1))
	if grep -qE "(SWITCH|KNOB)\($s\)" "$table"; then
		echo "ok $n - $s is in the switch table"
	else
		echo "not ok $n - $s is missing from src/api/test_switches.c"
		failed=1
	fi
done
for f in $plain; do
	n=$((n + 1))
	echo "not ok $n - $f defines a test switch without TEST_SWITCH/TEST_KNOB"
	failed=1
done
if [ "$n" -eq 0 ]; then
	echo "1..0 # SKIP no switch found under $root/src"
	exit 0
fi
echo "1..$n"
exit $failed

#!/usr/bin/env bash
# test_switch_table.sh - every test switch (`bool <area>_test_<what>`) and
# test knob (a number named the same way) that src/ defines is listed in
# src/api/test_switches.c, so the harness resets it after a failed case.
# TAP. Argument: the source root.
set -u
root=${1:?usage: $0 SRCROOT}
table=$root/src/api/test_switches.c
names=$(grep -rhoE --include='*.c' '^(bool|int|long|unsigned)[^;(]*;' "$root/src" |
	grep -v '^extern' | grep -oE '\b[a-z0-9]+(_[a-z0-9]+)*_test_[a-z0-9_]+\b' | sort -u)
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
if [ "$n" -eq 0 ]; then
	echo "1..0 # SKIP no switch found under $root/src"
	exit 0
fi
echo "1..$n"
exit $failed

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_man.sh SRC_DIR - the library's man pages (TAP):
#   1 every call the header exports (PC_API) has a section-3 page, and the
#     page (or the grouped page it links to) names it in NAME and SYNOPSIS;
#   2 every page renders with groff -man -ww and `man -l` without a warning;
#   3 the README links libpagecache(7).
set -u
src=$1
man=$src/man
n=0 failed=0
echo "1..3"
calls=$(grep -oE '^PC_API [^(]*\bpc_[a-z0-9_]+\(' "$src/include/pagecache.h" |
	grep -oE 'pc_[a-z0-9_]+\($' | tr -d '(' | sort -u)
bad=""
for c in $calls; do
	p=$man/man3/$c.3
	[ -f "$p" ] || { bad="$bad $c(no page)"; continue; }
	if grep -q '^\.so ' "$p"; then
		p=$man/$(sed -n 's/^\.so //p' "$p")
	fi
	sed -n '/^\.SH NAME/{n;p}' "$p" | grep -qw "$c" || bad="$bad $c(NAME)"
	sed -n '/^\.SH SYNOPSIS/,/^\.SH DESCRIPTION/p' "$p" | grep -q "$c(" || bad="$bad $c(SYNOPSIS)"
done
n=$((n + 1))
if [ -z "$bad" ]; then
	echo "ok $n - $(echo "$calls" | wc -w) calls, each with a page"
else
	failed=1
	echo "not ok $n - calls without a proper page:$bad"
fi
bad=""
for p in "$man"/*.[1-9] "$man"/man3/*.3; do
	rel=${p#"$man"/}
	w=$(cd "$man" && groff -man -Tutf8 -ww -z "$rel" 2>&1)
	[ -z "$w" ] || bad="$bad
$rel: $w"
	w=$(cd "$man" && MANWIDTH=80 man -l "$rel" 2>&1 >/dev/null)
	[ -z "$w" ] || bad="$bad
$rel (man -l): $w"
done
n=$((n + 1))
if [ -z "$bad" ]; then
	echo "ok $n - every page renders without warnings"
else
	failed=1
	echo "not ok $n - warnings"
	printf '%s\n' "$bad" | sed 's/^/# /'
fi
n=$((n + 1))
if grep -q 'man/libpagecache.7' "$src/README.md"; then
	echo "ok $n - README links libpagecache(7)"
else
	failed=1
	echo "not ok $n - README links libpagecache(7)"
fi
exit $failed

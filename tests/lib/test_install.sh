#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_install.sh BUILD_DIR SRC_DIR PREFIX LIBDIR BINDIR HAVE_CLI - libpagecache as
# an installed library (TAP):
#   1 `meson install --destdir` into a temporary directory: header, shared and
#     static library, libpagecache.pc, the CLI, the man pages, LICENSE;
#   2 `nm -D --defined-only` of the installed .so lists only the public API
#     (pc_* plus the version nodes), and every PC_API call of the header (the
#     calls the map lists in PAGECACHE_1.1, 1.2, ... carry that version); no
#     test switch is a writable symbol in it;
#   3 SONAME libpagecache.so.1;
#   4 the header alone compiles under -std=c11 -Wall -Wextra -Werror -pedantic;
#   5 and as C++ (g++ -std=c++11 -pedantic), and the C++ program runs;
#   6 tests/lib/example.c, built with only `pkg-config --cflags --libs
#     libpagecache` and -std=c11 -Wall -Wextra -Werror -pedantic, runs: engine,
#     write, map, read, close; pkg-config's version is the header's;
#   7 the same example linked with the static library;
#   8 tests/lib/globals.c (globals named mm, find_vma, writepage, ...) works
#     against the .so and against the .a, and its globals are untouched;
#   9 the installed CLI finds its helper programs (pagecache bench --smoke);
#  10 `man -l` renders every installed page without warnings.
set -u
build=$1 src=$2 prefix=$3 libdir=$4 bindir=$5 have_cli=$6
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pc-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest
root=$dest$prefix
lib=$root/$libdir
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
check() { # check NAME CMD...: ok if CMD succeeds; its output as comments
	local name=$1
	shift
	if out=$("$@" 2>&1); then ok "$name"; else notok "$name"; fi
	[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'
	return 0
}
echo "1..10"
CC=${CC:-cc}
CXX=${CXX:-c++}
# The sanitizer builds' library needs its runtime: link the programs with it.
san=()
if nm -D "$build/src/libpagecache.so.1" 2>/dev/null | grep -q '__asan_init\|__tsan_init'; then
	nm -D "$build/src/libpagecache.so.1" | grep -q __tsan_init && san=(-fsanitize=thread)
	nm -D "$build/src/libpagecache.so.1" | grep -q __asan_init && san=(-fsanitize=address,undefined)
fi

check "meson install --destdir" meson install -C "$build" --no-rebuild --quiet --destdir "$dest"
for f in "$root/include/pagecache.h" "$lib/libpagecache.so" "$lib/libpagecache.so.1" \
	"$lib/libpagecache.a" "$lib/pkgconfig/libpagecache.pc" "$root/share/man/man7/libpagecache.7" \
	"$root/share/man/man3/pc_engine_open.3" "$root/share/doc/pagecache/LICENSE"; do
	[ -e "$f" ] || { echo "# missing: $f"; failed=1; }
done

exports() {
	local bad want have want11 have11
	have=$(nm -D --defined-only "$lib/libpagecache.so.1" | awk '{print $3}' | sed 's/@.*//' | sort -u)
	bad=$(printf '%s\n' "$have" | grep -Ev '^(pc_[a-z0-9_]+|PAGECACHE_[0-9]+(\.[0-9]+)?)$')
	[ -z "$bad" ] || { echo "exported beyond the API:"; echo "$bad"; return 1; }
	want=$(grep -oE '^PC_API [^(]*\bpc_[a-z0-9_]+\(' "$root/include/pagecache.h" |
		grep -oE 'pc_[a-z0-9_]+\($' | tr -d '(' | sort -u)
	missing=$(comm -23 <(printf '%s\n' "$want") <(printf '%s\n' "$have"))
	[ -z "$missing" ] || { echo "PC_API calls not exported:"; echo "$missing"; return 1; }
	# The calls of a later minor release carry its version node (listed by
	# name in src/libpagecache.map: an exact name wins over PAGECACHE_1's
	# pc_* pattern).
	for node in $(grep -oE '^PAGECACHE_1\.[0-9]+' "$src/src/libpagecache.map"); do
		want11=$(sed -n "/^${node//./\\.} {/,/^}/p" "$src/src/libpagecache.map" |
			grep -oE 'pc_[a-z0-9_]+' | sort -u)
		have11=$(objdump -T "$lib/libpagecache.so.1" | awk -v n="$node" 'NF > 1 && $(NF-1) == n && $NF ~ /^pc_/ {print $NF}' | sort -u)
		[ -n "$want11" ] && [ "$want11" = "$have11" ] || {
			echo "$node: map lists"; echo "$want11"; echo "the library has"; echo "$have11"
			return 1
		}
	done
	# No test switch is left writable (src/kernel/testswitch.h): at most a
	# read-only constant in unoptimised builds.
	bad=$(nm "$lib/libpagecache.so.1" | awk '$2 ~ /^[BbDdSsGgCc]$/ && $3 ~ /_test_/ {print $3}')
	[ -z "$bad" ] || { echo "writable test switches:"; echo "$bad"; return 1; }
	echo "$(printf '%s\n' "$have" | grep -c '^pc_') pc_* symbols, $(nm -D --defined-only "$lib/libpagecache.so.1" | wc -l) dynamic symbols in all, no writable test switch"
}
check "only the public API is exported" exports

soname() {
	readelf -d "$lib/libpagecache.so.1" | grep -q 'SONAME.*\[libpagecache\.so\.1\]'
}
check "SONAME libpagecache.so.1" soname

export PKG_CONFIG_PATH=$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
header_c() {
	echo '#include <pagecache.h>' >"$tmp/h.c"
	echo 'int main(void) { return pc_version() == 0; }' >>"$tmp/h.c"
	# shellcheck disable=SC2046
	$CC -std=c11 -Wall -Wextra -Werror -pedantic -c "$tmp/h.c" -o "$tmp/h.o" \
		$(pkg-config --cflags libpagecache)
}
check "the header alone compiles under -std=c11 -pedantic" header_c

header_cxx() {
	# shellcheck disable=SC2046
	$CXX -std=c++11 -Wall -Wextra -Werror -pedantic "$src/tests/lib/header_cxx.cc" -o "$tmp/hcxx" \
		"${san[@]}" $(pkg-config --cflags --libs libpagecache) && LD_LIBRARY_PATH=$lib "$tmp/hcxx"
}
check "the header compiles and links as C++" header_cxx

example() {
	mkdir -p "$tmp/store"
	# shellcheck disable=SC2046
	$CC -std=c11 -Wall -Wextra -Werror -pedantic "$src/tests/lib/example.c" -o "$tmp/example" \
		"${san[@]}" $(pkg-config --cflags --libs libpagecache) || return 1
	LD_LIBRARY_PATH=$lib "$tmp/example" "$tmp/store" || return 1
	[ "$(pkg-config --modversion libpagecache)" = \
		"$(sed -n 's/^#define PC_VERSION_STRING "\(.*\)"/\1/p' "$root/include/pagecache.h")" ]
}
check "example built with pkg-config -std=c11 -pedantic runs" example

example_static() {
	mkdir -p "$tmp/store2"
	# shellcheck disable=SC2046
	$CC -std=c11 -Wall -Wextra -Werror -pedantic "$src/tests/lib/example.c" -o "$tmp/example_s" \
		"${san[@]}" $(pkg-config --cflags libpagecache) "$lib/libpagecache.a" \
		$(pkg-config --static --libs-only-l libpagecache | sed 's/-lpagecache//') &&
		"$tmp/example_s" "$tmp/store2"
}
check "example linked with the static library runs" example_static

globals() {
	mkdir -p "$tmp/store3" "$tmp/store4"
	# shellcheck disable=SC2046
	$CC -std=c11 -Wall -Wextra -Werror -pedantic "$src/tests/lib/globals.c" -o "$tmp/globals" \
		"${san[@]}" $(pkg-config --cflags --libs libpagecache) &&
		LD_LIBRARY_PATH=$lib "$tmp/globals" "$tmp/store3" || return 1
	# and linked statically: the installed .a has its internals local too
	# shellcheck disable=SC2046
	$CC -std=c11 -Wall -Wextra -Werror -pedantic "$src/tests/lib/globals.c" -o "$tmp/globals_s" \
		"${san[@]}" $(pkg-config --cflags libpagecache) "$lib/libpagecache.a" \
		$(pkg-config --static --libs-only-l libpagecache | sed 's/-lpagecache//') &&
		"$tmp/globals_s" "$tmp/store4"
}
check "a program with globals named like the internals works (shared and static)" globals

if [ "$have_cli" = 1 ]; then
	cli() {
		"$root/$bindir/pagecache" --version &&
			"$root/$bindir/pagecache" bench --smoke bench_punch >/dev/null
	}
	check "the installed CLI finds its helpers" cli
else
	n=$((n + 1))
	echo "ok $n - the installed CLI finds its helpers # SKIP no libfuse3: no CLI"
fi

manpages() {
	local p w rc=0 k=0
	# From the hierarchy's root, as man(1) reads them: the link pages'
	# ".so man3/..." requests are relative to it.
	cd "$root/share/man" || return 1
	for p in man*/*; do
		w=$(MANWIDTH=80 man -l "$p" 2>&1 >/dev/null)
		[ -z "$w" ] || { echo "$p: $w"; rc=1; }
		k=$((k + 1))
	done
	echo "$k pages"
	return $rc
}
check "man -l renders every installed page" manpages
exit $failed

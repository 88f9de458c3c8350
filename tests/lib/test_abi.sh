#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_abi.sh BUILD_DIR SRC_DIR - a binary built against the previous struct
# layout runs against the new library (TAP):
#   1 tests/abi/old_app.c is compiled against the frozen pre-version-1 header
#     (tests/abi/pagecache-0.h) and linked, as binaries were then, against an
#     unversioned libpagecache.so (a stub exporting that ABI's names, no
#     version nodes, no SONAME version); run against the new library (a
#     libpagecache.so naming the built libpagecache.so.1) it works: its
#     unversioned references bind to the PAGECACHE_0 compatibility symbols;
#   2 the hazard those symbols remove: the same program linked against the
#     new library itself (its references then bind to PAGECACHE_1, the
#     layouts with a size) is refused by pc_engine_open (exit 1, no crash).
set -u
build=$1 src=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pc-abi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
CC=${CC:-cc}
san=()
nm -D "$build/src/libpagecache.so.1" | grep -q __tsan_init && san=(-fsanitize=thread)
nm -D "$build/src/libpagecache.so.1" | grep -q __asan_init && san=(-fsanitize=address,undefined)
echo "1..2"
mkdir -p "$tmp/stub" "$tmp/new" "$tmp/store1" "$tmp/store2"
# The old library's names, as an unversioned stub (only its symbol table is used).
calls=$(grep -oE '\bpc_[a-z0-9_]+\(' "$src/tests/abi/pagecache-0.h" | tr -d '(' | sort -u)
for c in $calls; do echo "void $c(void); void $c(void) {}"; done >"$tmp/stub.c"
$CC -shared -fPIC -o "$tmp/stub/libpagecache.so" "$tmp/stub.c" || exit 1
ln -s "$(readlink -f "$build/src/libpagecache.so.1")" "$tmp/new/libpagecache.so"
$CC -std=gnu11 -Wall -Werror "${san[@]}" -I"$src/tests/abi" "$src/tests/abi/old_app.c" \
	-o "$tmp/old_app" -L"$tmp/stub" -lpagecache || exit 1
echo "# NEEDED: $(readelf -d "$tmp/old_app" | sed -n 's/.*NEEDED.*\[\(libpagecache[^]]*\)\].*/\1/p')"
echo "# references: $(nm -D "$tmp/old_app" | grep -c ' U pc_') unversioned pc_* symbols"
LD_LIBRARY_PATH=$tmp/new "$tmp/old_app" "$tmp/store1" 2>&1 | sed 's/^/# /'
if [ "${PIPESTATUS[0]}" = 0 ]; then
	echo "ok 1 - an old binary runs against the new library"
else
	echo "not ok 1 - an old binary runs against the new library"
	exit 1
fi
$CC -std=gnu11 -Wall -Werror "${san[@]}" -I"$src/tests/abi" "$src/tests/abi/old_app.c" \
	-o "$tmp/old_app_v1" "$build/src/libpagecache.so.1" || exit 1
LD_LIBRARY_PATH=$build/src "$tmp/old_app_v1" "$tmp/store2" 2>&1 | sed 's/^/# /'
rc=${PIPESTATUS[0]}
if [ "$rc" = 1 ]; then
	echo "ok 2 - bound to PAGECACHE_1 instead, the old layout is refused (exit $rc)"
else
	echo "not ok 2 - bound to PAGECACHE_1 instead, the old layout is refused (exit $rc)"
	exit 1
fi

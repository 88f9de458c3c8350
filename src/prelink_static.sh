#!/bin/sh
# SPDX-License-Identifier: MIT
# prelink_static.sh IN.a OUT.a - the installed static library as one
# relocatable object whose hidden symbols (everything but the PC_API calls of
# include/pagecache.h) are made local: a program linked statically may then
# have its own globals named like the library's internals (mm, find_vma,
# writepage, ...) as it may with the shared library.
set -eu
in=$1 out=$2
obj=$out.prelink.o
rm -f "$out" "$obj"
${LD:-ld} -r --whole-archive "$in" -o "$obj"
${OBJCOPY:-objcopy} --localize-hidden "$obj"
${AR:-ar} rcs "$out" "$obj"
rm -f "$obj"

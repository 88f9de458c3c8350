#!/usr/bin/env python3
# mmap_probe.py A B - shared mappings through two `pagecache mount --cluster`
# of one directory (A and B: the mount points), for test_cluster_mount_mmap.sh.
# Prints one line per step, "name: result":
#   shared-write: a MAP_SHARED PROT_WRITE mapping of a file opened O_RDWR on
#     A ("refused ENODEV", or "mapped");
#   two-node-stores: where mapping works, A stores "aaaa" at 100 and B
#     "bbbb" at 200, each through its own shared mapping of one page, A then
#     B msync; what each mount then reads at 100 and 200 ("aaaa bbbb" when
#     both stores survive; a NUL byte shows as ".");
#   read-map: B maps the file MAP_SHARED read-only, A pwrites "ABCD" at 0:
#     what B's mapping shows;
#   local: on A, a reader fd (O_RDONLY, kernel cache) reads, a writer fd
#     (O_RDWR) pwrites "WXYZ" at 0: what the reader then reads;
#   private: a MAP_PRIVATE writable mapping of an O_RDWR fd on A ("ok").
import errno
import mmap
import os
import sys

A, B = sys.argv[1], sys.argv[2]
F = "/mm"


def text(b):
    return b.decode(errors="replace").replace("\0", ".")


def pread(path, n, off):
    fd = os.open(path, os.O_RDONLY)
    try:
        return text(os.pread(fd, n, off))
    finally:
        os.close(fd)


with open(A + F, "wb") as f:
    f.write(b"\0" * 8192)
fa = os.open(A + F, os.O_RDWR)
fb = os.open(B + F, os.O_RDWR)
try:
    ma = mmap.mmap(fa, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    mb = mmap.mmap(fb, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
except OSError as e:
    print("shared-write: refused " + errno.errorcode.get(e.errno, str(e.errno)))
    ma = mb = None
else:
    print("shared-write: mapped")
if ma is not None:
    ma[100:104] = b"aaaa"
    mb[200:204] = b"bbbb"
    ma.flush()
    mb.flush()
    ma.close()
    mb.close()
    print("two-node-stores: a reads %s %s, b reads %s %s" % (
        pread(A + F, 4, 100), pread(A + F, 4, 200), pread(B + F, 4, 100), pread(B + F, 4, 200)))
os.close(fb)
rb = os.open(B + F, os.O_RDONLY)
m = mmap.mmap(rb, 4096, mmap.MAP_SHARED, mmap.PROT_READ)
before = text(m[0:4])
os.pwrite(fa, b"ABCD", 0)
print("read-map: b's mapping shows %s after a's pwrite (was %s)" % (text(m[0:4]), before))
m.close()
os.close(rb)
r = os.open(A + F, os.O_RDONLY)
os.pread(r, 4096, 0)
w = os.open(A + F, os.O_RDWR)
os.pwrite(w, b"WXYZ", 0)
print("local: a's reader fd reads %s after a's writer fd wrote WXYZ" % text(os.pread(r, 4, 0)))
os.close(r)
p = mmap.mmap(w, 4096, mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_WRITE)
p[0:4] = b"priv"
print("private: ok" if p[0:4] == b"priv" and pread(A + F, 4, 0) == "WXYZ" else "private: wrong")
p.close()
os.close(w)
os.close(fa)

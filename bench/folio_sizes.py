#!/usr/bin/env python3
# folio_sizes.py FILE... - how the kernel caches each FILE: reads it whole, maps it
# shared read-only, faults every page in and looks each one up in /proc/self/pagemap
# and /proc/kpageflags (root only): pages that head or are tails of a large folio
# (KPF_COMPOUND_HEAD 15, KPF_COMPOUND_TAIL 16) against small ones. Used for
# bench/NOTES.md (fio: the FUSE mount's page cache is made of 4 KiB folios on
# Linux 6.18, ext4's of large ones). Prints one line per file.
import mmap
import os
import struct
import sys


def folios(path):
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    while os.read(fd, 1 << 20):
        pass
    m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
    npages = size // 4096
    for i in range(npages):
        m[i * 4096]  # fault it in
    real = os.path.realpath(path)
    base = None
    for line in open("/proc/self/maps"):
        if line.rstrip().endswith(real):
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if hi - lo >= size:
                base = lo
    counts = {"head": 0, "tail": 0, "small": 0, "absent": 0}
    with open("/proc/self/pagemap", "rb") as pm, open("/proc/kpageflags", "rb") as kf:
        for i in range(npages):
            pm.seek((base // 4096 + i) * 8)
            e = struct.unpack("Q", pm.read(8))[0]
            if not (e >> 63) & 1:
                counts["absent"] += 1
                continue
            kf.seek((e & ((1 << 55) - 1)) * 8)
            f = struct.unpack("Q", kf.read(8))[0]
            if f & (1 << 15):
                counts["head"] += 1
            elif f & (1 << 16):
                counts["tail"] += 1
            else:
                counts["small"] += 1
    m.close()
    os.close(fd)
    n = counts["head"] + counts["small"]
    print("%s: %d MiB, %d folios (%d large, %d small), %.1f pages per folio, %d absent"
          % (path, size >> 20, n, counts["head"], counts["small"], npages / max(1, n),
             counts["absent"]))


for p in sys.argv[1:]:
    folios(p)

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""plock_probe.py - fcntl(2) byte-range locks as a program on a mount takes
them (tests/cluster/test_cluster_mount_plock.sh). TYPE is r or w; LEN 0 is
to the end of any file.

  try PATH TYPE START LEN      F_SETLK: prints "granted" or "EAGAIN"
  getlk PATH TYPE START LEN    F_GETLK: prints "unlocked" or "TYPE START LEN"
  hold PATH TYPE START LEN     F_SETLK (fails: exit 1), prints "held", then
                               holds it until a line (or EOF) on stdin; the
                               exit closes the file and so releases it
  wait PATH TYPE START LEN MARK
                               F_SETLKW; once granted prints "after" if the
                               file MARK exists then, else "before"
  ofd-hold PATH TYPE START LEN as hold, with an OFD lock (F_OFD_SETLK)
"""
import errno
import fcntl
import os
import struct
import sys

F_OFD_GETLK, F_OFD_SETLK = 36, 37  # Linux
FMT = "hhxxxxqqixxxx"  # struct flock on x86-64


def flock(kind, start, length, pid=0):
    t = {"r": fcntl.F_RDLCK, "w": fcntl.F_WRLCK, "u": fcntl.F_UNLCK}[kind]
    return struct.pack(FMT, t, os.SEEK_SET, start, length, pid)


def main(argv):
    op, path, kind, start, length = argv[1], argv[2], argv[3], int(argv[4]), int(argv[5])
    fd = os.open(path, os.O_RDWR)
    if op == "try":
        try:
            fcntl.fcntl(fd, fcntl.F_SETLK, flock(kind, start, length))
            print("granted")
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            print("EAGAIN")
    elif op == "getlk":
        t, _, s, n, _ = struct.unpack(FMT, fcntl.fcntl(fd, fcntl.F_GETLK,
                                                         flock(kind, start, length)))
        if t == fcntl.F_UNLCK:
            print("unlocked")
        else:
            print("%s %d %d" % ("r" if t == fcntl.F_RDLCK else "w", s, n))
    elif op in ("hold", "ofd-hold"):
        cmd = fcntl.F_SETLK if op == "hold" else F_OFD_SETLK
        try:
            fcntl.fcntl(fd, cmd, flock(kind, start, length))
        except OSError as e:
            print("not held: %s" % os.strerror(e.errno), flush=True)
            return 1
        print("held", flush=True)
        sys.stdin.readline()
    elif op == "wait":
        fcntl.fcntl(fd, fcntl.F_SETLKW, flock(kind, start, length))
        print("after" if os.path.exists(argv[6]) else "before", flush=True)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

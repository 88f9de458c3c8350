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
  deadlock PATH                two processes: one holds F_WRLCK [0] and
                               waits (F_SETLKW) for [1], which the other
                               holds; once the first sleeps inside fcntl(2)
                               the other's F_SETLKW of [0] would close the
                               cycle; prints what each got ("second EDEADLK
                               first granted" where deadlocks are detected,
                               or the other way round on a FUSE mount if
                               the first's request reached the server last)
"""
import errno
import fcntl
import os
import struct
import sys
import time

F_OFD_GETLK, F_OFD_SETLK = 36, 37  # Linux
FMT = "hhxxxxqqixxxx"  # struct flock on x86-64


def flock(kind, start, length, pid=0):
    t = {"r": fcntl.F_RDLCK, "w": fcntl.F_WRLCK, "u": fcntl.F_UNLCK}[kind]
    return struct.pack(FMT, t, os.SEEK_SET, start, length, pid)


def in_fcntl(pid):
    """Waits until PID sleeps inside fcntl(2) (x86-64: 72)."""
    for _ in range(3000):
        with open("/proc/%d/syscall" % pid) as f:
            if f.read().split()[0] == "72":
                return True
        time.sleep(0.01)  # waiting for it to block, not ordering threads
    return False


def deadlock_child(path, hold, want, go, out):
    """Holds byte HOLD, says so on OUT, and on a byte from GO asks for WANT
    (F_SETLKW); writes what it got to OUT."""
    try:
        fd = os.open(path, os.O_RDWR)
        fcntl.fcntl(fd, fcntl.F_SETLK, flock("w", hold, 1))
        os.write(out, b"h")
        os.read(go, 1)
        try:
            fcntl.fcntl(fd, fcntl.F_SETLKW, flock("w", want, 1))
            os.write(out, b"granted\n")
        except OSError as e:
            name = "EDEADLK" if e.errno == errno.EDEADLK else errno.errorcode.get(e.errno, "?")
            os.write(out, (name + "\n").encode())
    finally:
        os._exit(0)  # the exit closes the file: its locks go


def deadlock(path):
    kids = []
    for hold, want in ((0, 1), (1, 0)):
        go_r, go_w = os.pipe()
        out_r, out_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            deadlock_child(path, hold, want, go_r, out_w)
        os.close(go_r)
        os.close(out_w)
        if os.read(out_r, 1) != b"h":
            print("hold failed")
            return 1
        kids.append((pid, go_w, out_r))
    (first, go1, out1), (second, go2, out2) = kids
    os.write(go1, b"g")
    if not in_fcntl(first):
        print("the first did not wait")
        return 1
    os.write(go2, b"g")
    got2 = os.read(out2, 64).decode().strip()
    if got2 != "EDEADLK":  # both asleep: the second's lock breaks the cycle
        os.kill(second, 9)
    got1 = os.read(out1, 64).decode().strip()
    for pid, _, _ in kids:
        os.waitpid(pid, 0)
    print("second %s first %s" % (got2 or "killed", got1))
    return 0


def main(argv):
    if argv[1:2] == ["deadlock"]:
        return deadlock(argv[2])
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

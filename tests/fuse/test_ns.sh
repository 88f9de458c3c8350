#!/usr/bin/env bash
# test_ns.sh - the namespace by inode through a pagecache mount (issue 15),
# on a vol image and then a dir store: a 10,000-byte path reached by
# openat from a dirfd (and kept across a rename of its top directory);
# rewinddir (lseek 0 on an open directory) shows entries made since
# opendir, and a listing resumed at telldir neither repeats nor skips;
# fstat of an open, removed directory (nlink 0) and fchmod/fchown/futimens
# of an open, unlinked file; fifos, sockets and device nodes (mknod);
# xattrs (user, trusted, on files, directories, symlinks); POSIX ACLs
# enforced by the kernel (PC_FUSE_NO_ACL=1: not asked for, so a deny entry
# must be ignored - the hazard), inherited from default ACLs and kept in
# step with chmod; SEEK_DATA/SEEK_HOLE; open_by_handle_at after a remount
# (vol; PC_FUSE_NO_EXPORT=1 turns the inode-number node ids off and the
# handle must go stale; dir: stale by design, stated in pagecache(1)). TAP.
. "$(dirname "$0")/lib.sh"
require_fuse
command -v setpriv >/dev/null || skip_all "no setpriv"
U=65534 # nobody
# as that user, in the mount (the work directory above it is private)
as_user() { (cd "$MNT" && setpriv --reuid=$U --regid=$U --clear-groups -- "$@"); }

DEEP='import os, sys
m = sys.argv[1]
name = "d" * 200
top = os.open(m, os.O_RDONLY | os.O_DIRECTORY)
os.mkdir("deep", dir_fd=top)
fd = os.open("deep", os.O_RDONLY | os.O_DIRECTORY, dir_fd=top)
for i in range(50):
    os.mkdir(name, dir_fd=fd)
    nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
f = os.open("leaf", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd)
os.write(f, b"deep")
os.close(f)
os.rename("deep", "deeper", src_dir_fd=top, dst_dir_fd=top)  # the path grows
f = os.open("leaf", os.O_RDONLY, dir_fd=fd)
print(len(m) + len("/deeper") + 50 * 201 + len("/leaf") >= 10000, os.read(f, 10).decode())'

REWIND='import os, sys
d = sys.argv[1] + "/rw"
os.mkdir(d)
for i in range(100): open(d + "/f%03d" % i, "w").close()
fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
first = set(os.listdir(fd))  # listdir(fd) rewinds the shared offset
open(d + "/new", "w").close()
second = set(os.listdir(fd))
print("new" in second and "new" not in first, len(second))'

RESUME='import ctypes, ctypes.util, os, sys
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
class Dirent(ctypes.Structure):
    _fields_ = [("d_ino", ctypes.c_uint64), ("d_off", ctypes.c_int64),
                ("d_reclen", ctypes.c_ushort), ("d_type", ctypes.c_ubyte), ("d_name", ctypes.c_char * 256)]
libc.opendir.restype = ctypes.c_void_p
libc.readdir.restype = ctypes.POINTER(Dirent)
libc.readdir.argtypes = [ctypes.c_void_p]
libc.telldir.argtypes = [ctypes.c_void_p]
libc.telldir.restype = ctypes.c_long
libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
libc.closedir.argtypes = [ctypes.c_void_p]
d = sys.argv[1] + "/rw"
names = []
dp = libc.opendir(d.encode())
for _ in range(40):
    names.append(libc.readdir(dp).contents.d_name.decode())
pos = libc.telldir(dp)
libc.closedir(dp)
os.unlink(d + "/" + names[-1])  # changes before the position: no effect
open(d + "/zz-late", "w").close()
dp = libc.opendir(d.encode())
libc.seekdir(dp, pos)
while True:
    e = libc.readdir(dp)
    if not e: break
    names.append(e.contents.d_name.decode())
libc.closedir(dp)
want = set(os.listdir(d)) | {".", ".."} | {names[39]}
dup = len(names) - len(set(names))
missing = [n for n in want - set(names) if n != "zz-late"]
print(dup, len(missing))'

UNLINKED='import os, sys
m = sys.argv[1]
os.mkdir(m + "/gone")
dfd = os.open(m + "/gone", os.O_RDONLY | os.O_DIRECTORY)
os.rmdir(m + "/gone")
out = [os.fstat(dfd).st_nlink]
f = os.open(m + "/ul", os.O_CREAT | os.O_RDWR, 0o644)
os.unlink(m + "/ul")
os.fchmod(f, 0o600)
os.fchown(f, 123, 456)
os.utime(f, (1000000000, 1000000000))
st = os.fstat(f)
out += [oct(st.st_mode & 0o7777), st.st_uid, st.st_gid, int(st.st_mtime), st.st_nlink]
print(*out)'

HOLES='import os, sys
f = os.open(sys.argv[1] + "/sparse", os.O_CREAT | os.O_RDWR, 0o644)
os.pwrite(f, b"x" * 4096, 1 << 20)
os.fsync(f)
print(os.lseek(f, 0, os.SEEK_DATA), os.lseek(f, 0, os.SEEK_HOLE), os.lseek(f, 1 << 20, os.SEEK_HOLE))'

HANDLE='import ctypes, ctypes.util, os, sys
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
class FH(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int), ("f_handle", ctypes.c_ubyte * 128)]
if sys.argv[1] == "save":
    h = FH(); h.handle_bytes = 128; mid = ctypes.c_int()
    if libc.name_to_handle_at(-100, sys.argv[2].encode(), ctypes.byref(h), ctypes.byref(mid), 0):
        sys.exit("name_to_handle_at: " + os.strerror(ctypes.get_errno()))
    open(sys.argv[3], "wb").write(bytes(h))
else:
    h = FH.from_buffer_copy(open(sys.argv[3], "rb").read())
    mfd = os.open(sys.argv[2], os.O_RDONLY | os.O_DIRECTORY)
    fd = libc.open_by_handle_at(mfd, ctypes.byref(h), os.O_RDONLY)
    if fd < 0:
        print(os.strerror(ctypes.get_errno()))
    else:
        print(os.read(fd, 100).decode())'

run_store() {
	mount_fresh || { not_ok "mount ($STORE_KIND)"; return 1; }
	ok "mounted ($STORE_KIND store, mode ${PC_FUSE_MODE:-cached})"
	local k="($STORE_KIND)"
	eq "10,000-byte path by openat from a dirfd, across a rename $k" \
		"$(python3 -c "$DEEP" "$MNT" 2>&1)" "True deep"
	check "rm -r of the deep tree $k" rm -rf "$MNT/deeper"
	eq "rewinddir shows an entry made since opendir $k" "$(python3 -c "$REWIND" "$MNT" 2>&1)" \
		"True 101"
	eq "telldir/seekdir resume: no entry repeated or skipped $k" \
		"$(python3 -c "$RESUME" "$MNT" 2>&1)" "0 0"
	eq "fstat of a removed open dir; fchmod/fchown/futimens of an unlinked open file $k" \
		"$(python3 -c "$UNLINKED" "$MNT" 2>&1)" "0 0o600 123 456 1000000000 0"

	mkdir -m 1777 "$MNT/pub"
	# special files
	check "mkfifo $k" mkfifo "$MNT/fifo"
	eq "fifo type $k" "$(stat -c %F "$MNT/fifo")" fifo
	eq "data through the fifo $k" "$( (echo through >"$MNT/fifo" &) ; cat "$MNT/fifo")" through
	check "mknod c 1 3 $k" mknod "$MNT/null" c 1 3
	eq "char device $k" "$(stat -c '%F %t %T' "$MNT/null")" "character special file 1 3"
	check "mknod b 7 0 $k" mknod "$MNT/blk" b 7 0
	eq "block device $k" "$(stat -c '%F %t %T' "$MNT/blk")" "block special file 7 0"
	check "unix socket bind $k" python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$MNT/sock"
	eq "socket type $k" "$(stat -c %F "$MNT/sock")" socket
	expect_err "mknod by a user: EPERM $k" "not permitted" as_user mknod pub/x c 1 3

	# xattrs
	echo data >"$MNT/xf"
	mkdir "$MNT/xd"
	ln -s xf "$MNT/xl"
	check "setfattr user.* on a file $k" setfattr -n user.color -v blue "$MNT/xf"
	check "setfattr user.* on a directory $k" setfattr -n user.k -v v "$MNT/xd"
	check "setfattr trusted.* on a symlink $k" setfattr -h -n trusted.t -v 1 "$MNT/xl"
	eq "getfattr $k" "$(getfattr --absolute-names --only-values -n user.color "$MNT/xf")" blue
	eq "symlink's own xattr $k" "$(getfattr --absolute-names -h --only-values -n trusted.t "$MNT/xl")" 1
	eq "listxattr $k" "$(getfattr -d --absolute-names "$MNT/xf" | grep -c user.color)" 1
	check "removexattr $k" setfattr -x user.color "$MNT/xf"
	expect_err "removed: ENODATA $k" "No such attribute" getfattr -n user.color "$MNT/xf"
	expect_err "user.* on a symlink: EPERM $k" "not permitted" setfattr -h -n user.x -v 1 "$MNT/xl"

	# POSIX ACLs
	if [ "$(awk '$1 == "posix_acl" { print $2 }' "$MNT/.pagecache-stats")" = 1 ]; then
		echo secret >"$MNT/acl"
		chmod 0644 "$MNT/acl"
		check "setfacl deny for a user $k" setfacl -m u:$U:--- "$MNT/acl"
		expect_err "the kernel enforces the ACL entry $k" "Permission denied" as_user cat acl
		eq "the mode shows the mask $k" "$(stat -c %a "$MNT/acl")" 644
		check "chmod with an ACL $k" chmod 0600 "$MNT/acl"
		eq "chmod sets the ACL's mask $k" "$(getfacl -p "$MNT/acl" 2>/dev/null | grep '^mask')" "mask::---"
		mkdir "$MNT/inh"
		check "default ACL on a directory $k" setfacl -d -m u:$U:rwx "$MNT/inh"
		(umask 077; touch "$MNT/inh/f"; mkdir "$MNT/inh/sub")
		eq "a new file inherits the default ACL (umask ignored) $k" \
			"$(getfacl -pn "$MNT/inh/f" 2>/dev/null | grep -E "^(user:$U|mask)" | cut -f1)" \
			"$(printf 'user:%s:rwx\nmask::rw-' $U)"
		eq "... and its mode is masked by it $k" "$(stat -c %a "$MNT/inh/f")" 664
		eq "a new directory inherits it as its default too $k" \
			"$(getfacl -pn "$MNT/inh/sub" 2>/dev/null | grep -c "^default:user:$U")" 1
		check "user allowed by the inherited ACL writes $k" as_user sh -c "echo hi >>inh/f"
		check "setfacl of an ACL the mode says all of $k" setfacl -b "$MNT/acl"
		eq "no ACL stored then $k" "$(getfattr --absolute-names -m - -d "$MNT/acl" 2>/dev/null | grep -c posix_acl)" 0
	else
		not_ok "POSIX ACLs not negotiated $k"
	fi

	# SEEK_DATA / SEEK_HOLE
	eq "SEEK_DATA, SEEK_HOLE $k" "$(python3 -c "$HOLES" "$MNT" 2>&1)" "1048576 0 1052672"

	# ownership kept: a user's new objects are theirs
	as_user mkfifo pub/ufifo
	eq "a user's fifo is theirs $k" "$(stat -c %u:%g "$MNT/pub/ufifo")" "$U:$U"

	# export: open_by_handle_at after a remount
	echo handled >"$MNT/h"
	python3 -c "$HANDLE" save "$MNT/h" "$WORK/h.fh" || not_ok "name_to_handle_at $k"
	eq "open_by_handle_at, same mount $k" "$(python3 -c "$HANDLE" open "$MNT" "$WORK/h.fh")" handled
	unmount_check
	mount_fresh || { not_ok "remount $k"; return 1; }
	if [ "$STORE_KIND" = vol ]; then
		eq "open_by_handle_at after a remount $k" \
			"$(python3 -c "$HANDLE" open "$MNT" "$WORK/h.fh")" handled
		unmount_check
		export PC_FUSE_NO_EXPORT=1
		mount_fresh || { not_ok "remount $k"; return 1; }
		unset PC_FUSE_NO_EXPORT
		eq "hazard: server-made node ids, the handle goes stale at a remount $k" \
			"$(python3 -c "$HANDLE" open "$MNT" "$WORK/h.fh")" "Stale file handle"
	else
		eq "dir store: handles do not outlive the mount $k" \
			"$(python3 -c "$HANDLE" open "$MNT" "$WORK/h.fh")" "Stale file handle"
	fi
	unmount_check

	# the hazard with the ACLs off: the kernel checks the mode bits alone
	export PC_FUSE_NO_ACL=1
	mount_fresh || { not_ok "remount $k"; return 1; }
	unset PC_FUSE_NO_ACL
	echo secret >"$MNT/acl2"
	chmod 0644 "$MNT/acl2"
	setfacl -m u:$U:--- "$MNT/acl2" 2>/dev/null
	eq "hazard: ACLs not negotiated, a deny entry is ignored $k" \
		"$(as_user cat acl2 2>&1)" secret
	unmount_check
}

STORE_KIND=
run_store
STORE_KIND=dir
mkdir -p "$WORK/store"
run_store
finish

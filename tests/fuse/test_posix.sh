#!/usr/bin/env bash
# test_posix.sh - focused POSIX conformance checks on a pagecache mount, in
# the spirit of pjdfstest: ownership of new files (caller's uid/gid, setgid
# directories), permission checks for another user, link counts, rename
# semantics (replace, ENOTEMPTY, EISDIR, ENOTDIR, EINVAL, RENAME_NOREPLACE,
# RENAME_EXCHANGE), timestamps, ENAMETOOLONG, EXDEV, sticky directories,
# unlink of an open file, suid cleared by a write. TAP.
. "$(dirname "$0")/lib.sh"
require_fuse
command -v setpriv >/dev/null || skip_all "no setpriv"
mount_fresh || { not_ok "mount"; finish; }
ok "mounted ($STORE_KIND store)"
cd "$MNT" || exit 1
U=65534 # nobody
as_user() { setpriv --reuid=$U --regid=$U --clear-groups -- "$@"; }
py() { python3 -c "$@"; }

# ---- ownership ----
mkdir pub && chmod 1777 pub
as_user touch pub/mine
eq "file made by another user is theirs" "$(stat -c %u:%g pub/mine)" "$U:$U"
as_user mkdir pub/mydir
eq "directory made by another user is theirs" "$(stat -c %u:%g pub/mydir)" "$U:$U"
as_user ln -s x pub/mylink
eq "symlink made by another user is theirs" "$(stat -c %u:%g pub/mylink)" "$U:$U"
mkdir sg && chgrp 4242 sg && chmod 2777 sg
touch sg/f
eq "setgid directory: new file takes its group" "$(stat -c %g sg/f)" 4242
mkdir sg/sub
eq "setgid directory: new directory takes its group" "$(stat -c %g sg/sub)" 4242
eq "setgid directory: new directory inherits the bit" "$(stat -c %A sg/sub | cut -c7)" s
as_user touch sg/uf
eq "setgid directory: another user's file" "$(stat -c %u:%g sg/uf)" "$U:4242"
umask 022
touch m1
eq "umask applied to create" "$(stat -c %a m1)" 644
(umask 077 && mkdir m2)
eq "umask applied to mkdir" "$(stat -c %a m2)" 700

# ---- permissions ----
echo secret >rootfile && chmod 644 rootfile
check "another user reads a 0644 file" as_user cat rootfile
expect_err "another user cannot write a 0644 file" "Permission denied" as_user sh -c 'echo x >>rootfile'
expect_err "another user cannot create in a 0755 directory" "Permission denied" as_user touch newfile
chmod 600 rootfile
expect_err "another user cannot read a 0600 file" "Permission denied" as_user cat rootfile
expect_err "chmod by a non-owner: EPERM" "not permitted" as_user chmod 777 rootfile
expect_err "chown by a non-owner: EPERM" "not permitted" as_user chown $U rootfile
expect_err "truncate without write permission: EACCES" "Permission denied" as_user truncate -s 0 rootfile
chmod 666 rootfile
expect_err "explicit utime by a non-owner: EPERM" "not permitted" as_user /usr/bin/python3 -c 'import os; os.utime("rootfile", (1, 1))'
check "utime to now by a non-owner with write permission" as_user /usr/bin/python3 -c 'import os; os.utime("rootfile")'
chmod 600 rootfile
mkdir -m 700 private
expect_err "search permission on a directory" "Permission denied" as_user ls private/
chmod 4755 pub/mine 2>/dev/null; as_user chmod 4755 pub/mine
as_user sh -c 'echo data >>pub/mine'
eq "a write by the owner clears suid" "$(stat -c %a pub/mine)" 755

# ---- link counts ----
mkdir lc
eq "new directory: nlink 2" "$(stat -c %h lc)" 2
mkdir lc/a lc/b
eq "two subdirectories: nlink 4" "$(stat -c %h lc)" 4
rmdir lc/b
eq "rmdir: nlink 3" "$(stat -c %h lc)" 3
touch lc/f && ln lc/f lc/g && ln lc/f lc/a/h
eq "three names: nlink 3" "$(stat -c %h lc/g)" 3
mv lc/g lc/a/g2
eq "rename keeps nlink" "$(stat -c %h lc/f)" 3
rm lc/a/h
eq "unlink: nlink 2" "$(stat -c %h lc/f)" 2
expect_err "link to a directory: EPERM" "not permitted" py 'import os; os.link("lc/a", "lc/adir")'

# ---- rename ----
echo one >r1 && echo two >r2
check "rename over a file" mv -T r1 r2
eq "target replaced" "$(cat r2)" one
[ ! -e r1 ] && ok "source gone" || not_ok "source gone"
mkdir -p rd1 rd2/x
expect_err "rename a directory over a non-empty one: ENOTEMPTY" "not empty" py 'import os; os.rename("rd1","rd2")'
mkdir rd3
check "rename a directory over an empty one" py 'import os; os.rename("rd1","rd3")'
touch rf
expect_err "rename a file over a directory: EISDIR" "Is a directory" py 'import os; os.rename("rf","rd3")'
expect_err "rename a directory over a file: ENOTDIR" "Not a directory" py 'import os; os.rename("rd3","rf")'
expect_err "rename a directory into itself: EINVAL" "Invalid argument" py 'import os; os.rename("rd2","rd2/x/y")'
RENAME2='import ctypes,os,sys
libc=ctypes.CDLL(None,use_errno=True)
r=libc.renameat2(-100,sys.argv[1].encode(),-100,sys.argv[2].encode(),int(sys.argv[3]))
if r: e=ctypes.get_errno(); sys.exit(os.strerror(e))'
echo a >ea && echo b >eb
expect_err "RENAME_NOREPLACE onto an existing name: EEXIST" "File exists" python3 -c "$RENAME2" ea eb 1
check "RENAME_EXCHANGE" python3 -c "$RENAME2" ea eb 2
eq "exchanged contents" "$(cat ea)$(cat eb)" ba
check "RENAME_NOREPLACE onto a new name" python3 -c "$RENAME2" ea ec 1
eq "renamed" "$(cat ec)" b
expect_err "RENAME_WHITEOUT refused" "Invalid argument\|not supported\|not permitted" python3 -c "$RENAME2" ec ed 4
mkdir -p sticky && chmod 1777 sticky && touch sticky/rootowned && chmod 666 sticky/rootowned
as_user touch sticky/userowned
expect_err "sticky directory: cannot delete another's file" "not permitted" as_user rm -f sticky/rootowned
expect_err "sticky directory: cannot rename another's file" "not permitted" as_user mv sticky/rootowned sticky/x
check "sticky directory: may delete own file" as_user rm sticky/userowned

# ---- errors ----
long=$(printf 'a%.0s' $(seq 1 256))
expect_err "256-byte name: ENAMETOOLONG" "too long" touch "$long"
check "255-byte name works" touch "${long:1}"
mkdir ne && touch ne/x
expect_err "rmdir non-empty: ENOTEMPTY" "not empty" rmdir ne
expect_err "hard link across file systems: EXDEV" "cross-device" ln ne/x "$WORK/xdev"
expect_err "O_EXCL on an existing file: EEXIST" "File exists" py 'import os; os.open("ne/x", os.O_CREAT|os.O_EXCL|os.O_WRONLY)'
expect_err "unlink a directory: EISDIR" "Is a directory" py 'import os; os.unlink("ne")'
expect_err "rmdir a file: ENOTDIR" "Not a directory" py 'import os; os.rmdir("ne/x")'
expect_err "open a missing file: ENOENT" "No such file" cat ne/missing
expect_err "file as a directory: ENOTDIR" "Not a directory" ls ne/x/y
check "mkfifo (issue 15: special files)" mkfifo fifo
eq "a fifo" "$(stat -c %F fifo)" fifo
check "xattrs: EOPNOTSUPP, as programs expect" py '
import os, errno
try: os.setxattr("ne/x", "user.a", b"1")
except OSError as e: assert e.errno == errno.EOPNOTSUPP, e'

# ---- timestamps (nanoseconds: no sleeps needed) ----
ns() { stat -c "%.9$1" "$2" | tr -d .; }
echo x >ts && touch -d '2000-01-01' ts
m0=$(ns Y ts)
cat ts >/dev/null
eq "read leaves mtime" "$(ns Y ts)" "$m0"
c0=$(ns Z ts)
chmod 600 ts
eq "chmod leaves mtime" "$(ns Y ts)" "$m0"
[ "$(ns Z ts)" -gt "$c0" ] && ok "chmod moves ctime" || not_ok "chmod moves ctime"
c1=$(ns Z ts)
echo y >>ts
[ "$(ns Y ts)" -gt "$m0" ] && ok "write moves mtime" || not_ok "write moves mtime"
[ "$(ns Z ts)" -gt "$c1" ] && ok "write moves ctime" || not_ok "write moves ctime"
now=$(date +%s)
m1=$(stat -c %Y ts)
[ $((now - m1)) -le 2 ] && ok "mtime of a write is the time of the call" || not_ok "mtime $m1 vs now $now"
touch -d 2000-01-01 ts
truncate -s 1 ts
[ "$(ns Y ts)" -gt "$m0" ] && ok "truncate moves mtime" || not_ok "truncate moves mtime"
touch -d 2000-01-01 ne
d0=$(ns Y ne)
touch ne/new
[ "$(ns Y ne)" -gt "$d0" ] && ok "create moves the directory's mtime" || not_ok "directory mtime"

# ---- unlinked open file ----
echo "still here" >open1
check "an unlinked open file stays readable" sh -c 'exec 3<open1; rm open1; cat <&3 | grep -q "still here"'

cd /
unmount_check
finish

#!/usr/bin/env bash
# Installs the Debian packages that the build, the tests and the tools need,
# when they are missing. As root it runs apt-get; otherwise it prints the exact
# command to run. Safe to run again: it does nothing when all is present.
set -eu
pkgs=(gcc g++ make ninja-build meson pkg-config python3 binutils liburcu-dev libfuse3-dev fuse3
	gnuplot-nox groff-base man-db fio sqlite3 e2fsprogs util-linux acl attr xfsprogs
	zookeeper libzookeeper-mt-dev)
# fio, sqlite3: tests/fuse (test_enospc, test_crash); e2fsprogs (mkfs.ext4) and
# util-linux (setpriv, mount): tests/fuse/test_posix_suite.sh; acl, attr
# (setfacl, setfattr): tests/fuse/test_ns; xfsprogs (mkfs.xfs): the clone and
# dedupe tests compare with the host kernel on an XFS reflink loop mount;
# zookeeper (the server, Java, for tests/cluster's fixture) and
# libzookeeper-mt-dev (the C client of the zk lock module, src/cluster)
missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "pagecache: missing Debian packages: ${missing[*]}" >&2
	echo "pagecache: run as root:  apt-get update && $cmd" >&2
	exit 1
fi
echo "pagecache: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends ${missing[*]} >&2

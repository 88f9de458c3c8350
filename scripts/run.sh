#!/usr/bin/env bash
# `make run`: on a fresh Debian 12 machine (as root) installs what is missing
# (scripts/deps.sh), builds the release tree, makes the default volume image
# ./pagecache.img (sparse, 1 GiB) if absent, and mounts it at ./mnt in the
# foreground (Ctrl-C unmounts and writes everything back). Says what is
# missing and exits non-zero when FUSE is unavailable.
#   BUILD  build directory (default build-release)
#   IMAGE  image file (default pagecache.img), MNT mount point (default mnt)
#   FUSE_DEV  the FUSE device to require (default /dev/fuse; tests point it
#          elsewhere to see the message); PC_SKIP_DEPS=1 skips scripts/deps.sh
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-release}
IMAGE=${IMAGE:-pagecache.img}
MNT=${MNT:-mnt}
FUSE_DEV=${FUSE_DEV:-/dev/fuse}

[ "${PC_SKIP_DEPS:-0}" = 1 ] || scripts/deps.sh
missing=()
[ -c "$FUSE_DEV" ] || missing+=("$FUSE_DEV (the kernel's FUSE device: 'modprobe fuse'; in a container, run it with --device /dev/fuse --cap-add SYS_ADMIN)")
command -v fusermount3 >/dev/null || missing+=("fusermount3 (Debian package fuse3)")
pkg-config --exists fuse3 || missing+=("libfuse 3 headers (Debian package libfuse3-dev)")
if [ ${#missing[@]} -ne 0 ]; then
	echo "pagecache: cannot mount, FUSE is unavailable here. Missing:" >&2
	for m in "${missing[@]}"; do echo "  - $m" >&2; done
	exit 1
fi
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" -Dbuildtype=release -Dvalidator=false >/dev/null
fi
ninja -C "$BUILD" tools/pagecache
PC="$BUILD/tools/pagecache"
if [ ! -e "$IMAGE" ]; then
	"$PC" mkfs "$IMAGE" --size 1G
fi
mkdir -p "$MNT"
if grep -q " $(realpath "$MNT") fuse" /proc/mounts; then
	echo "pagecache: $MNT is already a mount point: unmount it first (fusermount3 -u $MNT)" >&2
	exit 1
fi
echo "pagecache: mounting $IMAGE at $MNT (foreground; Ctrl-C to unmount)" >&2
exec "$PC" mount "$IMAGE" "$MNT"

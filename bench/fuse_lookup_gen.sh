#!/usr/bin/env bash
# fuse_lookup_gen.sh - the cost of the store generation per FUSE lookup in
# cluster mode (tools/fuse_nodes.c: fd_entry asks pc_fgetgen): stat(2) of N
# names through a `pagecache mount --cluster` (entries are never cached in
# cluster mode: every stat is a LOOKUP), the generation key on and off
# (PC_FUSE_NO_GEN_KEY=1: the lookup without the call, as before; two
# mounts, each its own cluster), and the host directory itself as the
# anchor, in one run. The three alternate round by round (order rotated).
# Two kinds of names: directories (a lookup is store calls alone) and
# regular files (whose stat in cluster mode also takes the inode's glock in
# SH). Prints per round ns per stat of each and the ratios key-on/key-off
# and key-on/host, then the medians.
#
#   bench/fuse_lookup_gen.sh BUILD_DIR
# BUILD_DIR: a release build (-Dvalidator=false); its tools/pagecache-test
# (the switch is read by test builds of the server only) and
# tests/cluster/zk_server. Environment: BENCH_STORE (default /var/tmp: ext4
# there gives FS_IOC_GETVERSION, the source that needs an open), BENCH_FILES
# (default 2000), BENCH_ROUNDS (default 7). Needs root, /dev/fuse, python3
# and ZooKeeper; says SKIP and exits 0 where one is missing.
set -u
build=${1:?usage: bench/fuse_lookup_gen.sh BUILD_DIR}
pc=$(realpath "$build/tools/pagecache-test")
zks=$(realpath "$build/tests/cluster/zk_server")
files=${BENCH_FILES:-2000}
rounds=${BENCH_ROUNDS:-7}
skip() { echo "SKIP fuse_lookup_gen: $*"; exit 0; }
[ "$(id -u)" -eq 0 ] || skip "not root"
[ -c /dev/fuse ] || skip "no /dev/fuse"
command -v python3 >/dev/null || skip "no python3"
[ -x "$pc" ] && [ -x "$zks" ] || skip "$build: pagecache-test or zk_server not built"

work=$(mktemp -d "${BENCH_STORE:-/var/tmp}/pc-lkgen-XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	for m in "$work"/m*; do fusermount3 -u "$m" 2>/dev/null; done
	[ -n "${ZK_PID:-}" ] && { exec {ZK[1]}>&-; wait "$ZK_PID" 2>/dev/null; }
	rm -rf "$work"
}
trap cleanup EXIT
coproc ZK { "$zks"; }
ZK_PID=$ZK_PID
read -r URL <&"${ZK[0]}" || skip "no ZooKeeper"

mkdir -p "$work/store"
python3 -c "
import os, sys
for i in range($files):
    open('$work/store/f%d' % i, 'w').close()
    os.mkdir('$work/store/d%d' % i)"
echo "# $(uptime); $files files on $(stat -f -c %T "$work"), $rounds rounds"

# mount_one NAME ENV...: a cluster mount of the store on $work/m-NAME
mount_one() {
	local name=$1 mnt=$work/m-$1
	shift
	mkdir -p "$mnt"
	env "$@" "$pc" mount --stats-interval 0 --cluster "$URL/lk-$name" --node "$name" \
		--dir "$work/store" "$mnt" 2>"$work/$name.log" &
	pids+=($!)
	for _ in $(seq 1 1500); do
		grep -q " $mnt fuse" /proc/mounts && return 0
		sleep 0.02 # waiting for the mount to appear
	done
	cat "$work/$name.log"
	exit 1
}
mount_one on PC_BENCH=1
mount_one off PC_FUSE_NO_GEN_KEY=1

python3 - "$work" "$files" "$rounds" <<'PY'
import os, sys, time, statistics
work, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
dirs = {'key-on': work + '/m-on', 'key-off': work + '/m-off', 'host': work + '/store'}
def run(d, kind):
    names = [d + '/' + kind + '%d' % i for i in range(n)]
    t = time.perf_counter_ns()
    for p in names:
        os.stat(p)
    return (time.perf_counter_ns() - t) / n
for kind, what in (('d', 'directories'), ('f', 'regular files')):
    for d in dirs.values():
        run(d, kind)  # warm: the nodes exist, the host's inodes are cached
    res = {k: [] for k in dirs}
    order = list(dirs)
    for r in range(rounds):
        for k in order:
            res[k].append(run(dirs[k], kind))
        order = order[1:] + order[:1]
        print('%s round %d: ns/stat key-on %.0f key-off %.0f host %.0f; on/off %.3f on/host %.1f' % (
            what, r, res['key-on'][-1], res['key-off'][-1], res['host'][-1],
            res['key-on'][-1] / res['key-off'][-1], res['key-on'][-1] / res['host'][-1]))
    pairs = [a / b for a, b in zip(res['key-on'], res['key-off'])]
    m = {k: statistics.median(v) for k, v in res.items()}
    print('%s median: ns/stat key-on %.0f key-off %.0f host %.0f; paired on/off %.3f '
          '(min %.3f max %.3f); on-off %.0f ns per lookup' % (
          what, m['key-on'], m['key-off'], m['host'], statistics.median(pairs),
          min(pairs), max(pairs), m['key-on'] - m['key-off']))
PY

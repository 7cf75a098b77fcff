#!/bin/bash
# make bench-nested: `make bench` (bench/run.sh, gmvm-bench) inside the
# nested KVM VM (run.sh), for a machine without /dev/kvm.  gmvm and QEMU
# -accel kvm both run on the VM's nested /dev/kvm, side by side in one
# invocation, so the ratios between them mean something; their absolute
# times are those of a CPU emulated by TCG and do not.
#
#   scripts/nested-kvm/bench.sh [gmvm-bench options]    e.g. --runs 1 --snapshot-mib 256
#
# The options go after the defaults below, so they win (--case, --runs, ...).
# Writes NESTED_DIR/bench/DATE-PID/ (kept; outside runs/, which keeps only
# the last 20): performance.md (the report), output (what the bench printed),
# and run.sh's logs (console.log, dmesg, seconds); prints the bench's text
# summary and the report's path.  Exit status: gmvm-bench's, or run.sh's 124
# (TIMEOUT) / 125 (no result).
#
# Environment (defaults):
#   BUILD=build                  the build whose gmvm, guests and gmvm-bench run
#   NESTED_DIR=build-nested      the rig (setup.sh)
#   NESTED_BENCH_MEM=8G          the VM's RAM: case 7 holds its guest, its files
#                                and a restored guest at once (3x --snapshot-mib)
#   NESTED_BENCH_CASES=start,trace,api,snapshot   --case (memory: its
#                                guest-memfd sides skip, the rest is 7 GiB of
#                                memtest under TCG)
#   NESTED_BENCH_RUNS=3  NESTED_BENCH_WARMUP=1
#   NESTED_BENCH_SNAPSHOT_MIB=1024   case 7's guest RAM (--snapshot-mib)
#   NESTED_BENCH_BACKEND=memfd   --gmvm-backend: the nested kernel (6.12) has no
#                                guest_memfd gmvm can use
#   NESTED_BENCH_TIMEOUT_SCALE=10    --timeout-scale: everything is ~50x slower
#   NESTED_SHMEM_THP=            the VM's shmem THP policy (empty: the kernel's,
#                                never, as on a Debian host); gmvm's memfd and
#                                QEMU's memory-backend-memfd are both shmem
#   NESTED_TIMEOUT=10800         seconds for the whole VM
#   NESTED_SMP=2
#   GMVM_BENCH_MIGRATE_MIB, GMVM_BENCH_MIGRATE_TIMEOUT_S   passed on to case 8
#                                (migrate): its guest RAM and non-convergence limit
#   GMVM_BENCH_REHOME_MIB        passed on to case 9 (rehome): its guest RAM
#   GMVM_BENCH_UPDATE_SIZES      passed on to case 10 (update): its guest sizes
#   GMVM_BENCH_BLK_MS, _DEPTH, _MIB, _DIRECT, _DIR   passed on to case 11 (blk):
#                                time per mode, queue depth, disk size, O_DIRECT
#                                sides, the disk's directory (in the VM: /tmp)
#   GMVM_BENCH_LINUX_BZIMAGE, LINUX_CACHE   passed on to case 12 (linux): 0 leaves
#                                the bzImage side out; the kernel's directory
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cd "$top" || exit 1
build=$(cd "${BUILD:-build}" 2>/dev/null && pwd) || { echo "bench-nested: no build directory ${BUILD:-build}; run make first" >&2; exit 1; }
for f in gmvm bench/gmvm-bench bench/host-touch guests/hello.elf; do
  [ -e "$build/$f" ] || { echo "bench-nested: no $build/$f; build it first (ninja -C $build)" >&2; exit 1; }
done
dir=${NESTED_DIR:-$top/build-nested}
"$here/setup.sh" "$dir" || exit 125
dir=$(cd "$dir" && pwd)
out=$dir/bench/$(date +%Y%m%d-%H%M%S)-$$
mkdir -p "$out" || exit 1

# the commit the gmvm binary was built from (vcs_tag in src/api), else HEAD's
rev=$(sed -n 's/^#define GM_BUILD_ID "\(.*\)"$/\1/p' "$build/src/api/build_id.h" 2>/dev/null)
[ -n "$rev" ] || rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

# inside the VM: /run/nested-kvm is $out (run.sh's run directory, writable);
# /tmp is a fresh tmpfs in the VM's RAM, for the sockets and snapshot files
cmd=$(printf 'export TMPDIR=/tmp\n'
      for v in GMVM_BENCH_MIGRATE_MIB GMVM_BENCH_MIGRATE_TIMEOUT_S GMVM_BENCH_REHOME_MIB GMVM_BENCH_UPDATE_SIZES \
               GMVM_BENCH_BLK_MS GMVM_BENCH_BLK_DEPTH GMVM_BENCH_BLK_MIB GMVM_BENCH_BLK_DIRECT GMVM_BENCH_BLK_DIR \
               GMVM_BENCH_LINUX_BZIMAGE LINUX_CACHE; do
        [ -n "${!v:-}" ] && printf 'export %s=%q\n' "$v" "${!v}"
      done
      [ -n "${NESTED_SHMEM_THP:-}" ] &&
        printf 'echo %q > /sys/kernel/mm/transparent_hugepage/shmem_enabled\n' "$NESTED_SHMEM_THP"
      printf 'BUILD=%q REPORT=/run/nested-kvm/performance.md bench/run.sh --verbose --rev %q ' "$build" "$rev"
      printf -- '--case %q --runs %q --warmup %q --snapshot-mib %q --gmvm-backend %q --timeout-scale %q ' \
        "${NESTED_BENCH_CASES:-start,trace,api,snapshot}" "${NESTED_BENCH_RUNS:-3}" "${NESTED_BENCH_WARMUP:-1}" \
        "${NESTED_BENCH_SNAPSHOT_MIB:-1024}" "${NESTED_BENCH_BACKEND:-memfd}" "${NESTED_BENCH_TIMEOUT_SCALE:-10}"
      [ $# -gt 0 ] && printf '%q ' "$@"
      printf '\n')
echo "bench-nested: gmvm-bench in a nested KVM VM (${NESTED_BENCH_MEM:-8G}, TCG); results in $out"
# the build may be under /tmp, which the VM covers with its own tmpfs
VM_RO="$top:$build" VM_RUNDIR="$out" VM_MEM="${NESTED_BENCH_MEM:-8G}" VM_SMP="${NESTED_SMP:-2}" \
  TIMEOUT="${NESTED_TIMEOUT:-10800}" "$here/run.sh" "$cmd"
rc=$?
if [ -f "$out/performance.md" ]; then
  echo "bench-nested: report in $out/performance.md (nested KVM under TCG: ratios only)"
else
  echo "bench-nested: no report written (exit status $rc); see $out/output and $out/console.log"
fi
exit "$rc"

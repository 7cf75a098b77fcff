#!/bin/bash
# Run one shell command inside a throwaway Linux VM that has a working
# /dev/kvm, on a machine that has none: QEMU with software emulation (TCG)
# and an emulated AMD CPU with SVM and nested paging (-cpu max), so kvm_amd
# loads inside.  The VM sees this machine's whole filesystem read-only at the
# same paths (9p), with fresh tmpfs on /tmp, /run and /dev/shm; the command
# runs there as root with bash, in the directory run.sh was called from.
# Prepares the rig first (setup.sh) when it is not ready.
#
#   scripts/nested-kvm/run.sh 'build/gmvm run --memory 256M,backend=memfd build/guests/hello.elf'
#   VM_SHELL=1 scripts/nested-kvm/run.sh      # interactive busybox shell on the serial console
#
# stdout: the command's stdout and stderr, after the VM has powered off
# exit status: the command's; 124 if TIMEOUT hit, 125 if the VM ended
#   without a result (or the rig could not be set up)
# The run directory VM_RUNDIR (default NESTED_DIR/runs/DATE-PID, the last 20
# are kept) holds cmd, output (written while the command runs), rc, seconds
# (the command's wall time inside), console.log, dmesg-boot and dmesg.
#
# Environment (defaults):
#   NESTED_DIR=build-nested at the top of the tree: kernel, initramfs, runs
#   VM_MEM=4G  VM_SMP=2  VM_CPU=max
#   TIMEOUT=900          seconds for the whole VM (it boots in 10-15 s)
#   VM_RO=/dir1:/dir2    host directories also shared read-only at their own
#                        paths: needed for trees under /tmp, /run or /dev/shm,
#                        which the VM covers with fresh tmpfs
#   VM_RW=/dir1:/dir2    host directories shared WRITABLE (writes land on the host)
#   VM_APPEND=           more on the nested kernel's command line
#   VM_QUIET=1           no line about the run on stderr
#   VM_TCG_THREAD=single TCG threading; "multi" (a host thread per vCPU) is
#                        faster but has crashed the nested kernel under the
#                        test suites (stale int3 from kernel text patching)
set -u
here=$(cd "$(dirname "$0")" && pwd)
dir=${NESTED_DIR:-$(cd "$here/../.." && pwd)/build-nested}
"$here/setup.sh" "$dir" || exit 125
dir=$(cd "$dir" && pwd)
RUN=${VM_RUNDIR:-$dir/runs/$(date +%Y%m%d-%H%M%S)-$$}
mkdir -p "$RUN" && RUN=$(cd "$RUN" && pwd) || exit 125
rm -f "$RUN"/{output,rc,seconds,dmesg,dmesg-boot,console.log,ro,rw,cmd}
# keep the last 20 runs
ls -1d "$dir"/runs/*/ 2>/dev/null | sort | head -n -20 | while read -r old; do
  [ "${old%/}" = "$RUN" ] || rm -rf "$old"
done

args=(-accel tcg,thread="${VM_TCG_THREAD:-single}" -cpu "${VM_CPU:-max}" -smp "${VM_SMP:-2}" -m "${VM_MEM:-4G}"
      -kernel "$dir/vmlinuz" -initrd "$dir/initrd.gz" -no-reboot -nic none
      -virtfs local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap
      -virtfs "local,path=$RUN,mount_tag=io,security_model=none")
for kind in ro rw; do
  list=VM_${kind^^}
  [ -n "${!list:-}" ] || continue
  IFS=: read -ra dirs <<< "${!list}"
  n=0
  for p in "${dirs[@]}"; do
    [ -d "$p" ] || { echo "run.sh: $list: $p is not a directory" >&2; exit 125; }
    p=$(cd "$p" && pwd -P)
    echo "$p" >> "$RUN/$kind"
    ro=""
    [ $kind = ro ] && ro=,readonly=on
    args+=(-virtfs "local,path=$p,mount_tag=$kind$n,security_model=none,multidevs=remap$ro")
    n=$((n + 1))
  done
done

append="console=ttyS0 panic=-1 quiet ${VM_APPEND:-}"
if [ "${VM_SHELL:-0}" = 1 ]; then
  exec qemu-system-x86_64 "${args[@]}" -append "$append" -nographic
fi
[ $# -ge 1 ] || { sed -n '2,/^set -u/p' "$0" | sed '$d' >&2; exit 125; }
{ printf 'cd %q 2>/dev/null || cd /\n' "$PWD"; printf '%s\n' "$*"; } > "$RUN/cmd"

t0=$(date +%s.%N)
timeout --foreground -k 10 "${TIMEOUT:-900}" qemu-system-x86_64 "${args[@]}" \
  -append "$append" -display none -monitor none \
  -serial file:"$RUN/console.log" </dev/null >>"$RUN/console.log" 2>&1
qrc=$?
t1=$(date +%s.%N)
[ -f "$RUN/output" ] && cat "$RUN/output"
if [ -f "$RUN/rc" ]; then rc=$(cat "$RUN/rc"); elif [ $qrc = 124 ]; then rc=124; else rc=125; fi
if [ "${VM_QUIET:-0}" != 1 ]; then
  echo "run.sh: rc=$rc, command $(cat "$RUN/seconds" 2>/dev/null || echo '?')s inside," \
    "VM $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')s in all, logs in $RUN" >&2
fi
[ "$rc" = 124 ] && echo "run.sh: TIMEOUT (${TIMEOUT:-900}s) hit; see $RUN/console.log" >&2
[ "$rc" = 125 ] && { echo "run.sh: the VM ended without a result; end of $RUN/console.log:" >&2; tail -n 20 "$RUN/console.log" >&2; }
exit "$rc"

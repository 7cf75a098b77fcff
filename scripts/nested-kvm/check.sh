#!/bin/bash
# make check-nested: the KVM test suites on a machine without /dev/kvm.
# Prepares the rig (setup.sh), boots one nested VM (run.sh) and runs inside
# it every integration suite (BUILD/tests/integration/test_*) and the unit
# suites that need KVM (BUILD/tests/unit/{kvm,mem,x86}/test_*), with
# GMVM_TEST_BACKEND=memfd: the nested kernel has KVM but no guest_memfd gmvm
# can use.  Ends with one line, as scripts/test-summary.sh does for make check:
#   nested: N passed, N failed, N skipped
# and exits non-zero if a test failed, a suite did not finish, or the rig
# could not be set up (said in one line starting "nested:").
#   scripts/nested-kvm/check.sh [BUILD_DIR]
# Environment (defaults):
#   NESTED_FORCE              set: run even where /dev/kvm works (make check
#                             ran the suites on it then, so by default this
#                             says so in one line and exits 0)
#   NESTED_DIR=build-nested   kernel, initramfs and the runs' logs
#   NESTED_MEM                the VM's RAM: MemAvailable less 4G, 4G to 18G
#                             (boot::hello_with_16G needs 16G inside)
#   NESTED_SMP=2  NESTED_TIMEOUT=2400 (seconds for each VM)
#   NESTED_LANES=2            VMs side by side, each running its share of the
#                             suites: TCG runs a VM on one host thread, so on a
#                             2-core machine two VMs take half the time.  The
#                             suites are shared out by their last known length
#                             (scripts/nested-kvm/weights); the ones that need
#                             a big VM (NESTED_BIG_SUITES) all go to lane 0
#   NESTED_LANE_MEM=6G        the RAM of every lane but the first (QEMU touches
#                             guest RAM only as it is used, so the lanes may
#                             add up to more than the host has)
#   NESTED_TEST_BACKEND=memfd (empty: each test's own backend)
#   NESTED_SHMEM_THP=always   the VM's shmem THP policy for the integration
#                             suites (empty: the kernel's, never, as for the
#                             unit suites): memfd guest RAM on 2M pages faults
#                             512 times less, which under TCG makes a memtest
#                             of 2G take 25 s instead of 90 s
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$top/build}" 2>/dev/null && pwd) || { echo "nested: no build directory ${1:-$top/build}; run make first"; exit 1; }
cd "$top" || exit 1

# Where /dev/kvm opens, make check has run these suites on it already (as the
# tests' require_kvm decides): the nested VMs would only run them again,
# twenty minutes slower.  NESTED_FORCE=1 runs them nested anyway.
if [ -z "${NESTED_FORCE:-}" ] && ( : <> /dev/kvm ) 2>/dev/null; then
  echo "nested: skipped: /dev/kvm works here, so make check ran the KVM suites on it (NESTED_FORCE=1 runs them nested too)"
  exit 0
fi

dir=${NESTED_DIR:-$top/build-nested}
mkdir -p "$dir/runs" && dir=$(cd "$dir" && pwd) || exit 1

# Unit tests that assert the kernel has a guest_memfd gmvm can use (Linux
# 6.18 or later) instead of skipping without one: left out here.
leave_out="caps/fast_probe_finds_guest_memfd_with_mmap_and_init_shared
caps/full_probe_tries_userfaultfd_on_guest_memfd
probe_cli/json_parses_and_has_every_key
probe_cli/table_decodes_guest_memfd_flags
guest_memfd/create_without_a_vm_fails_cleanly"
leave_out_reason="left out by make check-nested: asserts a kernel with a guest_memfd gmvm can use, which the nested one lacks"

# 1. The rig.
if ! "$here/setup.sh" "$dir" 2> "$dir/setup.log"; then
  cat "$dir/setup.log"
  echo "nested: the nested KVM rig could not be set up: $(grep '^nested-kvm: cannot' "$dir/setup.log" | tail -n 1 | sed 's/^nested-kvm: //')"
  exit 1
fi
cat "$dir/setup.log"

# 2. The suites, in NESTED_LANES VMs.
tests=()
for d in integration unit/kvm unit/mem unit/x86; do
  while IFS= read -r t; do tests+=("$t"); done < <(find "$build/tests/$d" -maxdepth 1 -type f -name 'test_*' -perm -u+x | sort)
done
[ ${#tests[@]} -gt 0 ] || { echo "nested: no test binaries in $build/tests; run make first"; exit 1; }
if [ -z "${NESTED_MEM:-}" ]; then
  avail=$(awk '/^MemAvailable:/ { print int($2 / 1048576) }' /proc/meminfo)
  mem=$((avail - 4))
  [ $mem -gt 18 ] && mem=18
  [ $mem -lt 4 ] && mem=4
  NESTED_MEM=${mem}G
fi
run=$dir/runs/check-$(date +%Y%m%d-%H%M%S)-$$
mkdir -p "$run"

# Share the suites out: the big ones to lane 0, then longest first, each to
# the lane with the least work so far; each lane keeps the suites' order.
lanes=${NESTED_LANES:-2}
[ "$lanes" -ge 1 ] 2>/dev/null || lanes=1
big=" ${NESTED_BIG_SUITES:-test_boot test_update test_mem_layout test_mem_backends} "
declare -A weight lane_of
while read -r name secs; do
  [ -n "$name" ] && [ "${name#\#}" = "$name" ] && weight[$name]=$secs
done < "$here/weights"
load=()
for ((l = 0; l < lanes; l++)); do load[l]=0; done
while read -r w t; do
  name=${t##*/} best=0
  if [[ $big != *" $name "* ]]; then
    for ((l = 1; l < lanes; l++)); do [ "${load[l]}" -lt "${load[best]}" ] && best=$l; done
  fi
  lane_of[$t]=$best
  load[best]=$((load[best] + w))
done < <(for t in "${tests[@]}"; do n=${t##*/}; w=${weight[$n]:-30} key=$w
           [[ $big == *" $n "* ]] && key=$((w + 100000)); echo "$key $w $t"; done | sort -rn | cut -d' ' -f2-)
cmd=$(printf 'GMVM_BIN=%q GMVM_GUESTS=%q GMVM_SRC=%q CRITERION_VERBOSITY_LEVEL=1 ' \
        "$build/gmvm" "$build/guests" "$top"
      [ -n "${NESTED_TEST_BACKEND-memfd}" ] && printf 'GMVM_TEST_BACKEND=%q ' "${NESTED_TEST_BACKEND-memfd}"
      printf 'NESTED_SHMEM_THP=%q ' "${NESTED_SHMEM_THP-always}"
      # the real-Linux boot stalls now and then under TCG (docs/linux.md): make check-linux runs it
      printf 'GMVM_LINUX_SKIP=%q ' "left out by make check-nested: a Linux boot under the rig's TCG stalls in early boot in some runs (docs/linux.md); run make check-linux"
      printf 'NESTED_LEAVE_OUT=%q NESTED_LEAVE_OUT_REASON=%q ' "$(echo "$leave_out" | tr '\n' ' ')" "$leave_out_reason"
      printf '%q ' bash "$here/suites.sh")
echo "nested: ${#tests[@]} test binaries in $lanes nested KVM VM(s) under TCG (lane 0 with $NESTED_MEM of RAM, the others ${NESTED_LANE_MEM:-6G}); logs in $run"
t0=$(date +%s)
vms=() outs=()
for ((l = 0; l < lanes; l++)); do
  mine=()
  for t in "${tests[@]}"; do [ "${lane_of[$t]}" = "$l" ] && mine+=("$t"); done
  [ ${#mine[@]} -gt 0 ] || continue
  lrun=$run/lane$l
  mkdir -p "$lrun"
  mem=$NESTED_MEM
  [ "$l" -gt 0 ] && mem=${NESTED_LANE_MEM:-6G}
  echo "nested: lane $l (${load[l]} s expected): $(for t in "${mine[@]}"; do printf '%s ' "${t##*/}"; done)"
  # the trees under /tmp and the like need sharing explicitly (run.sh)
  VM_RO="$top:$build" VM_RUNDIR="$lrun" VM_MEM="$mem" VM_SMP="${NESTED_SMP:-2}" \
    TIMEOUT="${NESTED_TIMEOUT:-2400}" VM_QUIET=1 "$here/run.sh" "$cmd $(printf '%q ' "${mine[@]}")" > /dev/null 2> "$lrun/run.err" &
  vms+=($!)
  outs+=("$lrun/output")
done
# follow the suites as they run: failures and each suite's synthesis
tail -n +1 -q -F "${outs[@]}" 2>/dev/null > >(grep --line-buffered -v -E '^\[(RUN |PASS|SKIP)\]|^\[----\] Criterion v|^nested-run: begin ') &
follow=$!
rc=0
for v in "${vms[@]}"; do
  wait "$v" || rc=$?
done
sleep 1.5 # tail -F looks once a second: the last lines
kill "$follow" 2>/dev/null
wait "$follow" 2>/dev/null
for o in "${outs[@]}"; do cat "${o%/output}/run.err"; done
# one log in the lanes' order: each lane's suites ran one after another
for o in "${outs[@]}"; do [ -f "$o" ] && cat "$o"; done > "$run/output"

# 3. The closing line.  A suite that ended badly without saying so in its
# synthesis (killed, crashed, never reached) counts as one crashed test.
awk -v want="${tests[*]}" -v rc="$rc" '
  BEGIN { n = split(want, t, " "); for (i = 1; i <= n; i++) { sub(/.*\//, "", t[i]) } }
  { print }
  /^nested-run: begin / { cur = $3; bad[cur] = 0 }
  /Synthesis: Tested:/ && cur != "" {
    for (i = 1; i <= NF; i++) if (($i == "Failing:" || $i == "Crashing:") && $(i + 1) > 0) bad[cur] = 1
  }
  /^nested-run: end / { ended[$3] = $5; cur = "" }
  END {
    for (i = 1; i <= n; i++) {
      s = t[i]
      if (s in ended && (ended[s] == 0 || bad[s])) continue
      why = s in ended ? "ended with status " ended[s] : "did not finish (the VM ended with status " rc ")"
      print "[FAIL] " s ": " why > "/dev/stderr"
      print "[====] Synthesis: Tested: 1 | Passing: 0 | Failing: 0 | Crashing: 1 (" s " " why ")"
    }
  }' "$run/output" > "$run/summary.log" 2> "$run/summary.err"
sed 's/^/nested: /' "$run/summary.err"
echo "nested: $(($(date +%s) - t0)) s in the VM (exit status $rc)"
"$top/scripts/test-summary.sh" nested "$run/summary.log" > "$run/summary"
cat "$run/summary"
case $(tail -n 1 "$run/summary") in
  "nested: "*" passed, 0 failed, "*) exit 0 ;;
  *) exit 1 ;;
esac

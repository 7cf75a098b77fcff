#!/bin/bash
# Inside the nested VM (check.sh runs it there): run each test binary given,
# one after another, with one Criterion job, between the lines
#   nested-run: begin NAME
#   nested-run: end NAME status N seconds S
# Tests listed in NESTED_LEAVE_OUT (suite/test ...) are not run; their
# [SKIP] line gives NESTED_LEAVE_OUT_REASON.  A binary that runs longer
# than NESTED_BINARY_TIMEOUT seconds (900) is killed.
# NESTED_SHMEM_THP, when set, is the VM's shmem THP policy
# (/sys/kernel/mm/transparent_hugepage/shmem_enabled) while the integration
# suites run; the unit suites run with the kernel's own.
set -u
thp=/sys/kernel/mm/transparent_hugepage/shmem_enabled
thp_now() { sed 's/.*\[\(.*\)\].*/\1/' "$thp" 2>/dev/null; }
thp_kernel=$(thp_now)
echo "nested-run: kernel $(uname -r), $(nproc) vCPUs," \
  "$(awk '/^MemTotal:/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo)," \
  "shmem THP ${NESTED_SHMEM_THP:-$thp_kernel} for the integration suites and $thp_kernel for the others," \
  "GMVM_TEST_BACKEND=${GMVM_TEST_BACKEND:-(unset)}"
[ -c /dev/kvm ] || echo "nested-run: no /dev/kvm in the VM: the KVM tests will skip"
filter=() rename=(-e '')
if [ -n "${NESTED_LEAVE_OUT:-}" ]; then
  # shellcheck disable=SC2086
  filter=(--filter="!($(printf '%s\n' $NESTED_LEAVE_OUT | paste -s -d '|'))")
  for t in $NESTED_LEAVE_OUT; do
    rename+=(-e "s|^\(\[SKIP\] ${t%%/*}::${t#*/}\): Test is disabled$|\1: ${NESTED_LEAVE_OUT_REASON:-left out here}|")
  done
fi
status=0
for t in "$@"; do
  name=${t##*/}
  want=$thp_kernel
  case $t in */integration/*) want=${NESTED_SHMEM_THP:-$thp_kernel} ;; esac
  if [ "$(thp_now)" != "$want" ]; then
    echo "$want" > "$thp" || echo "nested-run: could not set shmem THP to $want"
  fi
  echo "nested-run: begin $name"
  s=$(date +%s)
  timeout -k 10 "${NESTED_BINARY_TIMEOUT:-900}" "$t" -j1 "${filter[@]}" 2>&1 | sed -u "${rename[@]}"
  rc=${PIPESTATUS[0]}
  echo "nested-run: end $name status $rc seconds $(($(date +%s) - s))"
  [ "$rc" = 0 ] || status=1
done
exit $status

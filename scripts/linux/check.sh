#!/bin/sh
# make check-linux: fetch the kernel and busybox once (fetch.sh), then boot
# them under BUILD/gmvm (run.sh): directly where /dev/kvm works, else inside
# the nested KVM rig (scripts/nested-kvm, with memfd guest memory).
#   scripts/linux/check.sh [BUILD]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
export LINUX_CACHE=${LINUX_CACHE:-$build/linux-cache}
"$here/fetch.sh" "$LINUX_CACHE"
if [ -w /dev/kvm ]; then
  exec "$here/run.sh" "$build/gmvm"
fi
VM_MEM=${VM_MEM:-3G} exec "$top/scripts/nested-kvm/run.sh" \
  "LINUX_CACHE=$LINUX_CACHE LINUX_BACKEND=memfd ${LINUX_IMAGE:+LINUX_IMAGE=$LINUX_IMAGE} $here/run.sh $build/gmvm"

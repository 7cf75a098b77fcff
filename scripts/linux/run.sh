#!/bin/bash
# Boot the cached Debian kernel and initramfs (fetch.sh) under gmvm with a
# virtio-blk disk whose first sector holds a fresh marker, and report how far
# it got: every console line with the seconds since gmvm started, then one
# line per milestone (first console line, "Memory:", the initramfs's /init,
# userspace's first line, the disk's marker read back, /init done, gmvm's
# clean exit) and the last line "linux: reached MILESTONE in S s".
#   scripts/linux/run.sh [GMVM]          GMVM defaults to build/gmvm
# Environment (defaults):
#   LINUX_CACHE=build/linux-cache   LINUX_IMAGE=vmlinux (or vmlinuz: the bzImage)
#   LINUX_MEM=512M   LINUX_BACKEND= (memfd in the nested rig)   LINUX_CPU= (--cpu)
#   LINUX_TIMEOUT=600 seconds   LINUX_APPEND= more kernel parameters
#   LINUX_DEVICES="virtio-rng virtio-console"  the --device options beside the disk
# Exit status: 0 when the disk's marker came back; 1 when the guest stopped
# before that; 2 when there is nothing to boot (run fetch.sh).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
gmvm=${1:-$top/build/gmvm}
cache=${LINUX_CACHE:-$top/build/linux-cache}
image=$cache/${LINUX_IMAGE:-vmlinux}
for f in "$gmvm" "$image" "$cache/initramfs.gz"; do
  [ -e "$f" ] || { echo "linux: cannot boot: $f is missing (run scripts/linux/fetch.sh)"; exit 2; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/gmvm-linux.XXXXXX")
trap 'rm -rf "$work"' EXIT
marker="gmvm-linux-marker-$$-$RANDOM"
{ echo "$marker"; head -c 1048576 /dev/zero; } | head -c 1048576 > "$work/disk.img"

mem="size=${LINUX_MEM:-512M}${LINUX_BACKEND:+,backend=$LINUX_BACKEND}"
cmdline="console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1 pci=off ${LINUX_APPEND:-}"
args=(run --memory "$mem" --timeout "${LINUX_TIMEOUT:-600}" --initrd "$cache/initramfs.gz"
      --disk "path=$work/disk.img" --cmdline "$cmdline")
for d in ${LINUX_DEVICES-virtio-rng virtio-console}; do args+=(--device "$d"); done
[ -n "${LINUX_CPU:-}" ] && args+=(--cpu "$LINUX_CPU")
echo "linux: $gmvm ${args[*]} $image"

# milestones: the pattern that marks each, in boot order
names=(first-console-line memory init userspace disk-ok done exit)
pats=('' 'Memory: ' 'Run /init|Freeing unused kernel image' 'GMVM-LINUX-USERSPACE' "GMVM-LINUX-DISK-OK $marker"
      'GMVM-LINUX-DONE' 'gmvm: exit status 0$')
declare -A at
reached=none
# a FIFO, not a process substitution: the nested rig has no /dev/fd
mkfifo "$work/console"
start=${EPOCHREALTIME/./}
{ "$gmvm" "${args[@]}" "$image" 2>&1; echo "gmvm: exit status $?"; } > "$work/console" &
while IFS= read -r line; do
  now=${EPOCHREALTIME/./}
  t=$(( (now - start) / 10000 ))
  secs=$(printf '%d.%02d' $((t / 100)) $((t % 100)))
  printf '%7s %s\n' "$secs" "$line"
  case $line in "gmvm: exit status"*) ;; gmvm:*) continue ;; esac
  for i in "${!names[@]}"; do
    [ -n "${at[${names[$i]}]:-}" ] && continue
    if [ -z "${pats[$i]}" ] || [[ $line =~ ${pats[$i]} ]]; then
      at[${names[$i]}]=$secs
      reached=${names[$i]}
    fi
  done
done < "$work/console"
for n in "${names[@]}"; do
  echo "linux: milestone $n: ${at[$n]:-not reached}${at[$n]:+ s}"
done
end=${EPOCHREALTIME/./}
echo "linux: reached $reached in $(( (end - start) / 1000000 )) s"
[ -n "${at[disk-ok]:-}" ]

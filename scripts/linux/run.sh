#!/bin/bash
# Boot the cached Debian kernel and initramfs (fetch.sh) under gmvm with a
# virtio-blk disk whose first sector holds a fresh marker, and report how far
# it got: every console line with the seconds since gmvm started, then one
# line per milestone (first console line, "Memory:", the initramfs's /init,
# userspace's first line, the disk's marker read back, eth0's UDP exchange
# with the host through --net user, /init done, gmvm's clean exit) and the
# last line "linux: reached MILESTONE in S s".
#   scripts/linux/run.sh [GMVM]          GMVM defaults to build/gmvm
# Environment (defaults):
#   LINUX_CACHE=build/linux-cache   LINUX_IMAGE=vmlinux (or vmlinuz: the bzImage)
#   LINUX_MEM=512M   LINUX_BACKEND= (memfd in the nested rig)   LINUX_CPU= (--cpu)
#   LINUX_TIMEOUT=600 seconds   LINUX_APPEND= more kernel parameters
#   LINUX_DEVICES="virtio-rng virtio-console"  the --device options beside the disk
#   LINUX_NET=1 (0: no --net)   LINUX_BALLOON=1 (0: no --balloon)
# The network: --net user and gmvm_udp=PORT on the kernel command line;
# PORT is a UDP listener on 127.0.0.1 here (python3) that answers the
# guest's one TFTP read request (busybox's nc has no UDP) with a fresh
# marker, which the guest prints.
# Exit status: 0 when the disk's marker came back and (LINUX_NET=1) the
# host got the guest's datagram and the guest printed the host's answer; 1
# when the guest stopped before that; 2 when there is nothing to boot (run
# fetch.sh).
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
trap '[ -n "${net_pid:-}" ] && kill "$net_pid" 2>/dev/null; rm -rf "$work"' EXIT
marker="gmvm-linux-marker-$$-$RANDOM"
{ echo "$marker"; head -c 1048576 /dev/zero; } | head -c 1048576 > "$work/disk.img"
net=${LINUX_NET:-1}
net_marker="gmvm-linux-net-$$-$RANDOM"

# The host's end of the guest's UDP exchange: one TFTP read request in (its
# file name into $work/net-got), one last data block out (the marker), its
# ACK; the bound port into $work/net-port first.
# exec: $net_pid is python itself, so the kill at the end reaches it; its
# stdout is not the caller's, so a caller reading our output to its end
# (test_linux's popen) is not held open by it.
net_listen() {
  exec python3 -c '
import socket, struct, sys
work, marker, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
open(work + "/net-port.tmp", "w").write(str(s.getsockname()[1]))
__import__("os").rename(work + "/net-port.tmp", work + "/net-port")
s.settimeout(secs)
while True:
    data, peer = s.recvfrom(2048)
    if len(data) > 4 and struct.unpack("!H", data[:2])[0] == 1:
        break
open(work + "/net-got", "w").write(data[2:].split(b"\0")[0].decode(errors="replace") + "\n")
s.sendto(struct.pack("!HH", 3, 1) + marker.encode() + b"\n", peer)
s.settimeout(5)
try:
    s.recvfrom(2048)
except OSError:
    pass
' "$work" "$net_marker" "${LINUX_TIMEOUT:-600}" >/dev/null 2>"$work/net-err"
}

mem="size=${LINUX_MEM:-512M}${LINUX_BACKEND:+,backend=$LINUX_BACKEND}"
cmdline="console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1 pci=off ${LINUX_APPEND:-}"
if [ "$net" = 1 ]; then
  # slirp hands the guest's datagram to 127.0.0.1: a loopback left down
  # (the nested rig's VM starts so) is brought up where we may
  ip link show lo 2>/dev/null | grep -q '<.*UP' || ip link set lo up 2>/dev/null
  net_listen &
  net_pid=$!
  for _ in $(seq 100); do [ -e "$work/net-port" ] && break; sleep 0.1; done
  [ -e "$work/net-port" ] || { echo "linux: cannot start the UDP listener (python3): $(cat "$work/net-err")"; exit 2; }
  cmdline="$cmdline gmvm_udp=$(cat "$work/net-port")"
fi
args=(run --memory "$mem" --timeout "${LINUX_TIMEOUT:-600}" --initrd "$cache/initramfs.gz"
      --disk "path=$work/disk.img" --cmdline "$cmdline")
for d in ${LINUX_DEVICES-virtio-rng virtio-console}; do args+=(--device "$d"); done
[ "${LINUX_BALLOON:-1}" = 1 ] && args+=(--balloon)
[ "$net" = 1 ] && args+=(--net user)
[ -n "${LINUX_CPU:-}" ] && args+=(--cpu "$LINUX_CPU")
echo "linux: $gmvm ${args[*]} $image"

# milestones: the pattern that marks each, in boot order
names=(first-console-line memory init userspace disk-ok net-ok done exit)
pats=('' 'Memory: ' 'Run /init|Freeing unused kernel image' 'GMVM-LINUX-USERSPACE' "GMVM-LINUX-DISK-OK $marker"
      "GMVM-LINUX-NET-OK $net_marker" 'GMVM-LINUX-DONE' 'gmvm: exit status 0$')
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
[ -n "${at[disk-ok]:-}" ] || exit 1
[ "$net" = 1 ] || exit 0
kill "$net_pid" 2>/dev/null
if [ "$(cat "$work/net-got" 2>/dev/null)" = GMVM-LINUX-NET-FROM-GUEST ] && [ -n "${at[net-ok]:-}" ]; then
  echo "linux: UDP exchange through --net user: the host got the guest's datagram, the guest got the host's"
else
  echo "linux: UDP exchange through --net user failed: the host got '$(cat "$work/net-got" 2>/dev/null)'${at[net-ok]:+, the guest got the answer}"
  exit 1
fi

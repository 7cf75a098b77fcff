#!/bin/sh
# PID 1 of the nested VM (run.sh): load KVM and 9p, mount the host's root
# read-only at /host, give it fresh /proc, /sys, /dev, /tmp, /run and
# /dev/shm, mount the shares run.sh lists in /io (ro, rw) at their paths,
# run /io/cmd there with bash as root, record its status and power off.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
say() { echo "[init] $*" > /dev/ttyS0; }
for m in $(cat /mods/order); do
  insmod /mods/$m.ko 2>/tmp/insmod.err || say "insmod $m failed: $(cat /tmp/insmod.err)"
done
if [ -c /dev/kvm ]; then say "/dev/kvm present"; else say "NO /dev/kvm"; fi
# loopback up: the virtio-net tests reach the guest through slirp's ports on 127.0.0.1
ip link set lo up || say "ip link set lo up failed"
p9="trans=virtio,version=9p2000.L,msize=524288"
mount -t 9p -o $p9,ro root /host || say "mount of the host root failed"
mount -t 9p -o $p9 io /io || say "mount of the run directory failed"
dmesg > /io/dmesg-boot 2>/dev/null
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
# cgroup v2 where systemd puts it: the guarantee tests reclaim through memory.reclaim
mount -t cgroup2 cgroup2 /host/sys/fs/cgroup 2>/dev/null || say "mount of cgroup2 failed"
mkdir -p /dev/pts /dev/shm
mount -o bind /dev /host/dev
mount -t tmpfs -o mode=1777 tmp /host/tmp
mount -t tmpfs run /host/run
mount -t devpts devpts /host/dev/pts 2>/dev/null
mount -t tmpfs shm /host/dev/shm 2>/dev/null
mkdir -p /host/run/nested-kvm
mount -o bind /io /host/run/nested-kvm || say "bind of the run directory failed"
# host directories shared at their own paths, after the tmpfs mounts so that
# a tree under /tmp is seen too: roN read-only, rwN read-write
for kind in ro rw; do
  [ -f /io/$kind ] || continue
  n=0
  while read -r p; do
    mkdir -p "/host$p" 2>/dev/null
    opt=$p9
    [ $kind = ro ] && opt=$p9,ro
    mount -t 9p -o $opt $kind$n "/host$p" || say "mount of $p ($kind) failed"
    n=$((n + 1))
  done < /io/$kind
done
if [ -f /io/cmd ]; then
  t0=$(cut -d' ' -f1 /proc/uptime)
  chroot /host /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root TERM=dumb LANG=C.UTF-8 IN_NESTED_VM=1 \
    /bin/bash /run/nested-kvm/cmd > /io/output 2>&1 < /dev/null
  rc=$?
  t1=$(cut -d' ' -f1 /proc/uptime)
  echo "$t0 $t1" | awk '{ printf "%.2f\n", $2 - $1 }' > /io/seconds
  dmesg > /io/dmesg 2>/dev/null
  echo $rc > /io/rc
  say "command exit code $rc after $(cat /io/seconds)s"
else
  say "no /io/cmd: interactive shell, the host's root at /host (exit powers off)"
  setsid cttyhack sh
fi
sync
umount /host/run/nested-kvm 2>/dev/null
umount /io 2>/dev/null
poweroff -f

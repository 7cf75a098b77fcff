#!/bin/sh
# PID 1 of the real-Linux test's initramfs (make-initramfs.sh): load the
# virtio modules, say it reached userspace, read the first line of the first
# sector of /dev/vda (the test wrote a marker there), say so, bring up eth0
# and exchange a datagram with the host, say whether the balloon probed,
# halt.  Every
# line goes to the kernel log too (/dev/kmsg), so it reaches the early serial
# console even where the 8250 driver has no working interrupt.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
say() {
  echo "$*"
  echo "$*" > /dev/kmsg 2>/dev/null
}
say "GMVM-LINUX-USERSPACE $(cut -d' ' -f1 /proc/uptime)s"
for m in $(cat /mods/order); do
  insmod "/mods/$m.ko" 2>/dev/null || say "GMVM-LINUX-INSMOD-FAILED $m"
done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if [ -b /dev/vda ]; then
  say "GMVM-LINUX-DISK-OK $(dd if=/dev/vda bs=512 count=1 2>/dev/null | head -n 1)"
else
  say "GMVM-LINUX-DISK-MISSING (block devices: $(ls /sys/block | tr '\n' ' '))"
fi
rng=$(dd if=/dev/hwrng bs=8 count=1 2>/dev/null | od -An -tx1 | tr -d ' \n')
[ -n "$rng" ] && say "GMVM-LINUX-RNG-OK $rng"
[ -c /dev/hvc0 ] && echo "GMVM-LINUX-HVC-OK" > /dev/hvc0
# The network (run.sh's --net user and gmvm_udp=PORT): eth0 as slirp's guest,
# then one UDP exchange with the host through it.  Busybox's nc has no UDP,
# its tftp has: the read request names the file NAME (the host's listener
# on 127.0.0.1:PORT, which slirp shows as 10.0.2.2:PORT, records it) and
# the answer is a file whose text only the host knew.
port=$(sed -n 's/.*gmvm_udp=\([0-9]*\).*/\1/p' /proc/cmdline)
if [ -n "$port" ]; then
  i=0
  while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  if [ -e /sys/class/net/eth0 ]; then
    ip link set lo up
    ip link set eth0 up
    ip addr add 10.0.2.15/24 dev eth0
    ip route add default via 10.0.2.2
    say "GMVM-LINUX-NET-UP $(cat /sys/class/net/eth0/address)"
    if tftp -g -r "GMVM-LINUX-NET-FROM-GUEST" -l /tmp/net-reply 10.0.2.2 "$port" 2>/tmp/net-err; then
      say "GMVM-LINUX-NET-OK $(head -n 1 /tmp/net-reply)"
    else
      say "GMVM-LINUX-NET-FAILED $(head -n 1 /tmp/net-err)"
    fi
  else
    say "GMVM-LINUX-NET-MISSING (interfaces: $(ls /sys/class/net | tr '\n' ' '))"
  fi
fi
if [ -d /sys/bus/virtio/drivers/virtio_balloon ]; then
  b=$(ls /sys/bus/virtio/drivers/virtio_balloon | grep '^virtio')
  [ -n "$b" ] && say "GMVM-LINUX-BALLOON-OK $b"
fi
say "GMVM-LINUX-DONE"
# halt -f stops the CPU with interrupts off, which gmvm ends as a clean exit
# (status 0).  Not poweroff -f: without ACPI sleep registers the kernel
# returns to a dying init and panics; not reboot -f: measured, it hangs after
# "machine restart" before the keyboard-controller reset reaches gmvm.
halt -f

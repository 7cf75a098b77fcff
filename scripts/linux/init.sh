#!/bin/sh
# PID 1 of the real-Linux test's initramfs (make-initramfs.sh): load the
# virtio modules, say it reached userspace, read the first line of the first
# sector of /dev/vda (the test wrote a marker there), say so, reboot.  Every
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
say "GMVM-LINUX-DONE"
# halt -f stops the CPU with interrupts off, which gmvm ends as a clean exit
# (status 0).  Not poweroff -f: without ACPI sleep registers the kernel
# returns to a dying init and panics; not reboot -f: measured, it hangs after
# "machine restart" before the keyboard-controller reset reaches gmvm.
halt -f

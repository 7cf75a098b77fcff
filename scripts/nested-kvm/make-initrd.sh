#!/bin/sh
# Build the nested VM's initramfs OUT/initrd.gz, and copy its kernel to
# OUT/vmlinuz: a static busybox, init.sh as /init, and the modules for KVM on
# AMD, virtio PCI, 9p, veth (for the migration tests' namespaces), tun (the
# virtio-net tap tests) and zram
# (a swap device for the guest-first guarantee tests) with
# everything they depend on (read from each
# module's own "depends=" field), decompressed and listed in load order in
# /mods/order.  Modules built into the kernel are skipped.
#   scripts/nested-kvm/make-initrd.sh KROOT KV OUT BUSYBOX
# KROOT is an unpacked Debian linux-image package, KV its release.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
kroot=$1 kv=$2 out=$3 busybox=$4
want="kvm_amd virtio_pci 9pnet_virtio 9p veth zram tun"
fail() { echo "nested-kvm: make-initrd: $*" >&2; exit 1; }
. "$here/../lib/initramfs.sh"

mods=""
for m in "$kroot/lib/modules/$kv" "$kroot/usr/lib/modules/$kv"; do
  [ -d "$m" ] && mods=$m && break
done
[ -n "$mods" ] || fail "no lib/modules/$kv in $kroot"
[ -f "$kroot/boot/vmlinuz-$kv" ] || fail "no boot/vmlinuz-$kv in $kroot"
r=$(mktemp -d "$out/initrd.XXXXXX")
trap 'rm -rf "$r"' EXIT
initramfs_build "$r" "$mods" "$busybox" "$here/init.sh" "$out/initrd.gz.tmp" "$want" host io
cp "$kroot/boot/vmlinuz-$kv" "$out/vmlinuz.tmp"
mv "$out/initrd.gz.tmp" "$out/initrd.gz"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
echo "$kv" > "$out/kernel-release"
echo "nested-kvm: initramfs for $kv, modules:$order" >&2

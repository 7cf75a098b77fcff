#!/bin/sh
# Build the real-Linux test's boot files in DIR (fetch.sh unpacked the
# packages there: DIR/kernel/root, DIR/busybox/root):
#   DIR/vmlinuz        the kernel package's bzImage
#   DIR/vmlinux        its payload, decompressed (the ELF inside, for a loader
#                      that takes ELF only; LZ4 in Debian's 6.1 kernels)
#   DIR/initramfs.gz   static busybox, init.sh as /init, and the virtio-mmio,
#                      virtio-blk, virtio-console, virtio-rng, virtio-net
#                      (and virtio-balloon where it is a module) modules with
#                      what they depend on (each module's own "depends="),
#                      decompressed, in load order in /mods/order; a module
#                      built into the kernel is left out
#   DIR/kernel-release
#   scripts/linux/make-initramfs.sh DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=$1
kroot=$dir/kernel/root
want="virtio_mmio virtio_blk virtio_console virtio_rng virtio_net"
# virtio_net brings net_failover and failover (its depends=); the balloon
# is a bonus: taken only where the kernel has it as a module
fail() { echo "linux: make-initramfs: $*" >&2; exit 1; }
. "$here/../lib/initramfs.sh"

busybox=$dir/busybox/root/bin/busybox
[ -x "$busybox" ] || fail "no static busybox at $busybox"
kv=""
for m in "$kroot"/lib/modules/* "$kroot"/usr/lib/modules/*; do
  [ -f "$kroot/boot/vmlinuz-${m##*/}" ] && kv=${m##*/} && mods=$m && break
done
[ -n "$kv" ] || fail "no lib/modules/KV with boot/vmlinuz-KV in $kroot"

[ -n "$(find "$mods" -name 'virtio_balloon.ko*' | head -n 1)" ] && want="$want virtio_balloon"

r=$(mktemp -d "$dir/initramfs.XXXXXX")
trap 'rm -rf "$r"' EXIT
initramfs_build "$r" "$mods" "$busybox" "$here/init.sh" "$dir/initramfs.gz.tmp" "$want"

# The payload: the setup header's payload_offset (0x248) and payload_length (0x24c), past the setup sectors.
bz=$kroot/boot/vmlinuz-$kv
setup=$(( ($(od -An -tu1 -j 0x1f1 -N1 "$bz") + 1) * 512 ))
poff=$(od -An -tu4 -j 0x248 -N4 "$bz" | tr -d ' ')
plen=$(od -An -tu4 -j 0x24c -N4 "$bz" | tr -d ' ')
magic=$(od -An -tx1 -j $((setup + poff)) -N4 "$bz" | tr -d ' ')
case $magic in
  # the kernel appends the size to its legacy LZ4 frame, which lz4(1) reports as an error: the ELF check below judges
  02214c18) tail -c +$((setup + poff + 1)) "$bz" | head -c "$plen" | lz4 -dc > "$dir/vmlinux.tmp" 2>/dev/null || true ;;
  1f8b*) tail -c +$((setup + poff + 1)) "$bz" | head -c "$plen" | gzip -dc > "$dir/vmlinux.tmp" 2>/dev/null || true ;;
  28b52ffd) tail -c +$((setup + poff + 1)) "$bz" | head -c "$plen" | zstd -qdc > "$dir/vmlinux.tmp" ;;
  fd377a58) tail -c +$((setup + poff + 1)) "$bz" | head -c "$plen" | xz -dc > "$dir/vmlinux.tmp" ;;
  *) fail "$bz: a payload of magic $magic; extract its vmlinux by hand" ;;
esac
[ "$(od -An -tx1 -N4 "$dir/vmlinux.tmp" | tr -d ' ')" = 7f454c46 ] || fail "$bz: the payload is not an ELF vmlinux"
cp "$bz" "$dir/vmlinuz.tmp"
mv "$dir/initramfs.gz.tmp" "$dir/initramfs.gz"
mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
mv "$dir/vmlinux.tmp" "$dir/vmlinux"
echo "$kv" > "$dir/kernel-release"
echo "linux: initramfs for $kv, modules:$order" >&2

#!/bin/sh
# Build the nested VM's initramfs OUT/initrd.gz, and copy its kernel to
# OUT/vmlinuz: a static busybox, init.sh as /init, and the modules for KVM on
# AMD, virtio PCI, 9p, veth (for the migration tests' namespaces) and zram
# (a swap device for the guest-first guarantee tests) with
# everything they depend on (read from each
# module's own "depends=" field), decompressed and listed in load order in
# /mods/order.  Modules built into the kernel are skipped.
#   scripts/nested-kvm/make-initrd.sh KROOT KV OUT BUSYBOX
# KROOT is an unpacked Debian linux-image package, KV its release.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
kroot=$1 kv=$2 out=$3 busybox=$4
want="kvm_amd virtio_pci 9pnet_virtio 9p veth zram"
fail() { echo "nested-kvm: make-initrd: $*" >&2; exit 1; }

mods=""
for m in "$kroot/lib/modules/$kv" "$kroot/usr/lib/modules/$kv"; do
  [ -d "$m" ] && mods=$m && break
done
[ -n "$mods" ] || fail "no lib/modules/$kv in $kroot"
[ -f "$kroot/boot/vmlinuz-$kv" ] || fail "no boot/vmlinuz-$kv in $kroot"
r=$(mktemp -d "$out/initrd.XXXXXX")
trap 'rm -rf "$r"' EXIT
mkdir -p "$r/bin" "$r/proc" "$r/sys" "$r/dev" "$r/host" "$r/io" "$r/mods" "$r/tmp"
cp "$busybox" "$r/bin/busybox"
for a in $("$r/bin/busybox" --list); do
  [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
done

# name (with _ for -) and path of every module file
find "$mods" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' |
  awk '{ n = $0; sub(/.*\//, "", n); sub(/\.ko(\.(xz|zst|gz))?$/, "", n); gsub(/-/, "_", n); print n, $0 }' > "$r/index"
builtin=$(sed 's/.*\///; s/\.ko$//; s/-/_/g' "$mods/modules.builtin" 2>/dev/null || true)

seen="" order=""
# add MODULE to the load order after the modules it depends on
add() {
  local m f dep
  m=$(echo "$1" | tr - _)
  case " $seen " in *" $m "*) return 0 ;; esac
  seen="$seen $m"
  f=$(awk -v n="$m" '$1 == n { print $2; exit }' "$r/index")
  if [ -z "$f" ]; then
    echo "$builtin" | grep -qx "$m" && return 0
    fail "module $m is neither in $mods nor built in"
  fi
  case $f in
    *.xz) xz -dc "$f" ;;
    *.zst) zstd -qdc "$f" ;;
    *.gz) gzip -dc "$f" ;;
    *) cat "$f" ;;
  esac > "$r/mods/$m.ko"
  for dep in $(tr '\0' '\n' < "$r/mods/$m.ko" | sed -n 's/^depends=//p' | head -n 1 | tr , ' '); do
    add "$dep"
  done
  order="$order $m"
}
for m in $want; do add "$m"; done
echo "$order" > "$r/mods/order"
rm "$r/index"
cp "$here/init.sh" "$r/init"
chmod +x "$r/init"
(cd "$r" && find . | cpio -o -H newc --quiet) | gzip -1 > "$out/initrd.gz.tmp"
cp "$kroot/boot/vmlinuz-$kv" "$out/vmlinuz.tmp"
mv "$out/initrd.gz.tmp" "$out/initrd.gz"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
echo "$kv" > "$out/kernel-release"
echo "nested-kvm: initramfs for $kv, modules:$order" >&2

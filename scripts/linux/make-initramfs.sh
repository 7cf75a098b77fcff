#!/bin/sh
# Build the real-Linux test's boot files in DIR (fetch.sh unpacked the
# packages there: DIR/kernel/root, DIR/busybox/root):
#   DIR/vmlinuz        the kernel package's bzImage
#   DIR/vmlinux        its payload, decompressed (the ELF inside, for a loader
#                      that takes ELF only; LZ4 in Debian's 6.1 kernels)
#   DIR/initramfs.gz   static busybox, init.sh as /init, and the virtio-mmio,
#                      virtio-blk, virtio-console and virtio-rng modules with
#                      what they depend on (each module's own "depends="),
#                      decompressed, in load order in /mods/order; a module
#                      built into the kernel is left out
#   DIR/kernel-release
#   scripts/linux/make-initramfs.sh DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=$1
kroot=$dir/kernel/root
want="virtio_mmio virtio_blk virtio_console virtio_rng"
fail() { echo "linux: make-initramfs: $*" >&2; exit 1; }

busybox=$dir/busybox/root/bin/busybox
[ -x "$busybox" ] || fail "no static busybox at $busybox"
kv=""
for m in "$kroot"/lib/modules/* "$kroot"/usr/lib/modules/*; do
  [ -f "$kroot/boot/vmlinuz-${m##*/}" ] && kv=${m##*/} && mods=$m && break
done
[ -n "$kv" ] || fail "no lib/modules/KV with boot/vmlinuz-KV in $kroot"

r=$(mktemp -d "$dir/initramfs.XXXXXX")
trap 'rm -rf "$r"' EXIT
mkdir -p "$r/bin" "$r/proc" "$r/sys" "$r/dev" "$r/mods" "$r/tmp"
cp "$busybox" "$r/bin/busybox"
for a in $("$r/bin/busybox" --list); do
  [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
done

find "$mods" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' |
  awk '{ n = $0; sub(/.*\//, "", n); sub(/\.ko(\.(xz|zst|gz))?$/, "", n); gsub(/-/, "_", n); print n, $0 }' > "$r/index"
builtin=$(sed 's/.*\///; s/\.ko$//; s/-/_/g' "$mods/modules.builtin" 2>/dev/null || true)
seen="" order=""
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
(cd "$r" && find . | cpio -o -H newc --quiet) | gzip -1 > "$dir/initramfs.gz.tmp"

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

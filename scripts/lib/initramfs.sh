# scripts/lib/initramfs.sh: the busybox initramfs both rigs boot, sourced
# by scripts/linux/make-initramfs.sh (the real-Linux test) and
# scripts/nested-kvm/make-initrd.sh (the nested KVM VM); the caller
# defines fail().
#
#   initramfs_build SCRATCH MODS BUSYBOX INIT OUT "MODULE..." [DIR...]
#
# SCRATCH: an empty directory to build in; MODS: the kernel's
# lib/modules/RELEASE; BUSYBOX: a static busybox; INIT: the script that
# becomes /init; OUT: the gzip'd newc cpio to write.  Each MODULE comes
# with every module it depends on (read from the module's own "depends="
# field), decompressed into /mods, in load order in /mods/order and in
# $order; a module built into the kernel is left out.  DIRs are made at the
# root besides bin, proc, sys, dev, mods and tmp.
initramfs_build() {
  local bb init out want d a m
  # r and mods stay global: initramfs_add reads them
  r=$1 mods=$2 bb=$3 init=$4 out=$5 want=$6
  shift 6
  mkdir -p "$r/bin" "$r/proc" "$r/sys" "$r/dev" "$r/mods" "$r/tmp"
  for d in "$@"; do mkdir -p "$r/$d"; done
  cp "$bb" "$r/bin/busybox"
  for a in $("$r/bin/busybox" --list); do
    [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
  done
  # name (with _ for -) and path of every module file
  find "$mods" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' |
    awk '{ n = $0; sub(/.*\//, "", n); sub(/\.ko(\.(xz|zst|gz))?$/, "", n); gsub(/-/, "_", n); print n, $0 }' > "$r/index"
  builtin=$(sed 's/.*\///; s/\.ko$//; s/-/_/g' "$mods/modules.builtin" 2>/dev/null || true)
  seen="" order=""
  for m in $want; do initramfs_add "$m"; done
  echo "$order" > "$r/mods/order"
  rm "$r/index"
  cp "$init" "$r/init"
  chmod +x "$r/init"
  (cd "$r" && find . | cpio -o -H newc --quiet) | gzip -1 > "$out"
}

# add MODULE to the load order after the modules it depends on
initramfs_add() {
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
    initramfs_add "$dep"
  done
  order="$order $m"
}

#!/bin/sh
# Fetch what the real-Linux test boots, once, into DIR (by default
# build/linux-cache/ at the top of the tree): the newest Debian 6.1 cloud
# kernel package apt-cache knows (linux-image-6.1.0-N-cloud-amd64) and
# busybox-static, both with apt-get download, unpacked with dpkg-deb -x.
# Then make-initramfs.sh builds DIR/initramfs.gz and DIR/vmlinux (the bzImage's
# payload, for kernels the loader cannot take as a bzImage yet).  A cache that
# is already complete costs nothing and needs no network.
#   scripts/linux/fetch.sh [DIR]
#   LINUX_KERNEL_PKG=linux-image-6.1.0-50-cloud-amd64 ...   that package instead
# The last line of a failure starts "linux: cannot".
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-${LINUX_CACHE:-$(cd "$here/../.." && pwd)/build/linux-cache}}
say() { echo "linux: $*" >&2; }
die() { say "cannot $*"; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
apt_opts="-o Acquire::Retries=3"
sandbox=""
[ "$(id -u)" -eq 0 ] && sandbox="-o APT::Sandbox::User=root"

if [ -f "$dir/ready" ] && [ "$dir/ready" -nt "$here/make-initramfs.sh" ] && [ "$dir/ready" -nt "$here/init.sh" ]; then
  exit 0
fi

# The cloud flavour: small, with virtio built for VMs; the newest ABI first.
candidates() {
  if [ -n "${LINUX_KERNEL_PKG:-}" ]; then echo "$LINUX_KERNEL_PKG"; return; fi
  apt-cache pkgnames linux-image-6.1.0- 2>/dev/null |
    grep -E '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' | sort -V -r | head -n 3
}

# download PKG into DIR/NAME and unpack it into DIR/NAME/root
fetch() {
  pkg=$1 into=$dir/$2
  [ -d "$into/root" ] && return 0
  rm -rf "$into.tmp"
  mkdir -p "$into.tmp/root"
  # shellcheck disable=SC2086
  (cd "$into.tmp" && apt-get download -qq $apt_opts $sandbox "$pkg" >&2) || { rm -rf "$into.tmp"; return 1; }
  dpkg-deb -x "$into.tmp"/*.deb "$into.tmp/root" || { rm -rf "$into.tmp"; return 1; }
  rm -f "$into.tmp"/*.deb
  echo "$pkg" > "$into.tmp/package"
  mv "$into.tmp" "$into"
  say "fetched $pkg"
}

if [ ! -d "$dir/kernel/root" ]; then
  ok=no
  for pkg in $(candidates); do
    if fetch "$pkg" kernel; then ok=yes; break; fi
    say "apt-get download $pkg failed"
  done
  [ $ok = yes ] || die "download a linux-image-6.1.0-*-cloud-amd64 package with apt-get download (tried: $(candidates | paste -s -d ' '); apt-get update may help)"
fi
fetch busybox-static busybox || die "download busybox-static with apt-get download"
"$here/make-initramfs.sh" "$dir" || die "build the initramfs in $dir"
touch "$dir/ready"

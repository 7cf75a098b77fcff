#!/bin/sh
# Prepare the nested KVM rig (README.md here) in DIR, by default build-nested/
# at the top of the tree: install the Debian packages it needs if any is
# missing, fetch the newest Debian amd64 kernel package with apt-get download,
# and build the VM's initramfs.  Idempotent: a ready rig costs a few dpkg
# queries.  As root it runs apt-get; otherwise it prints the exact line to run
# and fails, as scripts/deps.sh does.  Writes nothing outside DIR but the
# packages it installs.
#   scripts/nested-kvm/setup.sh [DIR]
#   NESTED_KERNEL_PKG=linux-image-6.1.0-50-amd64 ...   that package instead
# The last line of a failure starts "nested-kvm: cannot".
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-${NESTED_DIR:-$(cd "$here/../.." && pwd)/build-nested}}
say() { echo "nested-kvm: $*" >&2; }
die() { say "cannot $*"; exit 1; }
root=no
[ "$(id -u)" -eq 0 ] && root=yes
apt_opts="-o Acquire::Retries=5"
export DEBIAN_FRONTEND=noninteractive
updated=no

# apt-get update, up to three times: a mirror may hiccup.
apt_update() {
  [ $updated = yes ] && return 0
  for i in 1 2 3; do
    # shellcheck disable=SC2086
    if apt-get update -qq $apt_opts >&2; then updated=yes; return 0; fi
    say "apt-get update failed (try $i of 3)"
    [ "$i" = 3 ] || sleep $((i * 10))
  done
  return 1
}

# 1. Packages: QEMU (TCG with an AMD CPU that has SVM), a static busybox for
# the initramfs, cpio, and xz/zstd for compressed kernel modules.
want="qemu-system-x86 busybox-static cpio xz-utils zstd"
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  line="apt-get update && apt-get install -y --no-install-recommends$missing"
  [ $root = yes ] || die "install Debian packages:$missing; run as root: $line"
  say "installing$missing"
  apt_update || die "install$missing: apt-get update keeps failing"
  ok=no
  for i in 1 2 3; do
    # shellcheck disable=SC2086
    if apt-get install -y -qq --no-install-recommends $apt_opts -o DPkg::Lock::Timeout=300 $missing >&2; then
      ok=yes; break
    fi
    say "apt-get install failed (try $i of 3)"
    [ "$i" = 3 ] || sleep $((i * 10))
  done
  [ $ok = yes ] || die "install$missing with apt-get"
fi
busybox=$(dpkg-query -L busybox-static | grep '/busybox$' | head -n 1)
[ -x "$busybox" ] || die "find the static busybox of busybox-static"

# 2. The kernel: an unpacked Debian linux-image package in DIR/kernel/.
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
kdir=$dir/kernel

# Package names to try, best first: the one asked for; else every
# linux-image-VERSION-amd64 (and its -unsigned twin, the same kernel), newest
# first, not the cloud, rt or dbg flavours; then what linux-image-amd64 pulls in.
candidates() {
  if [ -n "${NESTED_KERNEL_PKG:-}" ]; then echo "$NESTED_KERNEL_PKG"; return; fi
  apt-cache pkgnames linux-image- 2>/dev/null |
    grep -E '^linux-image-[0-9][0-9.]*(-[0-9]+)?(\+[a-z0-9.~]+)?-amd64(-unsigned)?$' |
    sort -V -r | head -n 4
  apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ <>]*\)$/\1/p'
}

# Download and unpack the first candidate that apt-get can fetch.
fetch_kernel() {
  for pkg in $(candidates | awk '!seen[$0]++'); do
    rm -rf "$kdir.tmp"
    mkdir -p "$kdir.tmp"
    # apt's _apt sandbox user cannot write here; root downloads itself
    sandbox=""
    [ $root = yes ] && sandbox="-o APT::Sandbox::User=root"
    # shellcheck disable=SC2086
    if (cd "$kdir.tmp" && apt-get download -qq $apt_opts $sandbox "$pkg" >&2); then
      deb=$(ls "$kdir.tmp"/*.deb)
      mkdir "$kdir.tmp/root"
      dpkg-deb -x "$deb" "$kdir.tmp/root" || { say "$deb does not unpack"; continue; }
      rm -rf "$kdir"
      mv "$kdir.tmp" "$kdir"
      say "kernel: $(basename "$deb")"
      return 0
    fi
    say "apt-get download $pkg failed"
  done
  return 1
}

kv() {
  for m in "$kdir"/root/lib/modules/* "$kdir"/root/usr/lib/modules/*; do
    [ -f "$kdir/root/boot/vmlinuz-${m##*/}" ] && { echo "${m##*/}"; return 0; }
  done
  return 1
}

if ! kv >/dev/null 2>&1; then
  # no candidates (apt lists never fetched) or stale lists (404): update, once
  if ! fetch_kernel && ! { [ $root = yes ] && apt_update && fetch_kernel; }; then
    rm -rf "$kdir.tmp"
    tried=$(candidates | awk '!seen[$0]++' | paste -s -d ' ')
    [ $root = yes ] || tried="${tried}; as root, apt-get update may help"
    die "download a Debian linux-image-*-amd64 package with apt-get download (tried: ${tried:-no package names})"
  fi
fi
release=$(kv) || die "find /lib/modules/KV and /boot/vmlinuz-KV in $kdir/root; rm -rf $kdir and run again"

# 3. The initramfs, again when its ingredients are newer than it.
if [ ! -f "$dir/initrd.gz" ] || [ ! -f "$dir/vmlinuz" ] || [ "$(cat "$dir/kernel-release" 2>/dev/null)" != "$release" ] ||
   [ "$here/init.sh" -nt "$dir/initrd.gz" ] || [ "$here/make-initrd.sh" -nt "$dir/initrd.gz" ]; then
  "$here/make-initrd.sh" "$kdir/root" "$release" "$dir" "$busybox" || die "build the initramfs for $release"
fi

#!/bin/sh
# Install the Debian packages gmvm needs to build and test, if any is
# missing.  As root it runs apt-get; otherwise it prints the exact line to
# run and fails, so nothing is half-installed.
#   scripts/deps.sh build   -- to build and run gmvm
#   scripts/deps.sh check   -- also the test suite
#   scripts/deps.sh bench   -- also QEMU for side-by-side benchmarks
set -eu
want="meson ninja-build pkg-config gcc make libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev libxxhash-dev libzstd-dev zlib1g-dev libbz2-dev liblzma-dev liblzo2-dev liblz4-dev liburing-dev libslirp-dev libglib2.0-dev libseccomp-dev libcap-ng-dev"
case "${1:-build}" in
  build) ;;
  check) want="$want libcriterion-dev curl clang" ;;
  bench) want="$want libcriterion-dev curl qemu-system-x86" ;;
  *) echo "usage: $0 build|check|bench" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
line="apt-get update && apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
  echo "gmvm: missing Debian packages:$missing; run as root: $line" >&2
  exit 1
fi
echo "gmvm: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2

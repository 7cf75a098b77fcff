#!/bin/sh
# bench/run.sh: what `make bench` runs once everything is built.  As root it
# fills the 2 MiB hugetlb pool to the free pages that the hugetlb sides need
# (case 2, memory: 512; case 14, balloon: GMVM_BENCH_BALLOON_MIB + 256 MiB of
# them, 640 by default), and puts the old pool size back on exit (also on
# failure or Ctrl-C); then it runs gmvm-bench on the built binaries.  The
# pool is left alone when --case names neither case.
#
#   bench/run.sh [gmvm-bench options]      e.g. --runs 11, --case memory
#   BUILD=other-build-dir bench/run.sh     (default: build)
#   REPORT=FILE bench/run.sh               (default: docs/performance.md)
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
REPORT=${REPORT:-docs/performance.md}
need=512
pool=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
free_file=/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages
old=""

# called from the EXIT trap
# shellcheck disable=SC2317
restore_pool() {
  if [ -n "$old" ]; then
    echo "$old" > "$pool" 2>/dev/null ||
      echo "bench/run.sh: could not put the 2 MiB hugetlb pool back to $old pages; run: echo $old > $pool" >&2
    old=""
  fi
}

# the last --case given is the one gmvm-bench uses
cases=all
prev=""
for a in "$@"; do
  case $a in --case=*) cases=${a#--case=} ;; esac
  [ "$prev" = --case ] && cases=$a
  prev=$a
done
case ",$cases," in *,all,*|*,memory,*) ;; *) need=0 ;; esac
# the balloon's memfd 2M side: its guest's RAM, all of it on 2 MiB pages
case ",$cases," in
  *,all,*|*,balloon,*)
    # the size case_balloon.c takes: 64..65536 MiB in steps of 4, else 1024
    mib=${GMVM_BENCH_BALLOON_MIB:-1024}
    case $mib in ''|*[!0-9]*) mib=1024 ;; esac
    if [ ${#mib} -gt 5 ] || [ "$mib" -lt 64 ] || [ "$mib" -gt 65536 ] || [ $((mib % 4)) -ne 0 ]; then mib=1024; fi
    balloon=$(( (mib + 256) / 2 ))
    [ "$balloon" -gt "$need" ] && need=$balloon ;;
esac

free=$(cat "$free_file" 2>/dev/null || echo 0)
if [ "$free" -lt "$need" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bench/run.sh: not root, so the 2 MiB hugetlb pool stays at $free free pages ($need needed): cases 2 and 14 skip their hugetlb sides; run make bench as root to include them"
  elif [ -w "$pool" ]; then
    old=$(cat "$pool")
    trap restore_pool EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    if ! echo $((old + need - free)) > "$pool" 2>/dev/null || [ "$(cat "$free_file")" -lt "$need" ]; then
      echo "bench/run.sh: could only get $(cat "$free_file") free 2 MiB hugetlb pages ($need needed; memory fragmented?): cases 2 and 14 skip their hugetlb sides"
    fi
  else
    echo "bench/run.sh: $pool is not writable here: cases 2 and 14 skip their hugetlb sides"
  fi
fi

rc=0
"$BUILD/bench/gmvm-bench" --gmvm "$BUILD/gmvm" --guests "$BUILD/guests" \
  --host-touch "$BUILD/bench/host-touch" --report "$REPORT" \
  --rev "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$@" || rc=$?
exit "$rc"

#!/bin/sh
# Add up Criterion's per-binary "Synthesis" lines from meson's test log into
# one closing line, so a reader (or CI) sees how many tests ran, not just how
# many test binaries; show every skipped test with its reason, since
# meson hides the output of test binaries that pass (tests/meson.build sets
# CRITERION_VERBOSITY_LEVEL=1 so Criterion logs [SKIP] lines); and list
# every failed test again at the end.
# Usage: scripts/test-summary.sh BUILD_DIR
#        scripts/test-summary.sh NAME LOG   -- Criterion output in LOG, as NAME
set -eu
log="${2:-$1/meson-logs/testlog.txt}"
[ -f "$log" ] || { echo "no test log $log" >&2; exit 1; }
awk -v dir="$1" '
  /Synthesis: Tested:/ {
    for (i = 1; i <= NF; i++) {
      if ($i == "Passing:") p += $(i + 1)
      if ($i == "Failing:") f += $(i + 1)
      if ($i == "Crashing:") c += $(i + 1)
    }
  }
  /\[SKIP\]/ { s++; sub(/^.*\[SKIP\] /, ""); print "skipped: " $0 }
  /\[FAIL\]/ { line = $0; sub(/^.*\[FAIL\] /, "", line); failed[++nf] = line }
  # the failures last, just above the closing line, where a reader of the
  # tail of a long log (CI) sees them
  END { for (i = 1; i <= nf; i++) print "failed: " failed[i]
        printf "%s: %d passed, %d failed, %d skipped\n", dir, p, f + c, s }
' "$log"

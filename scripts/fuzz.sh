#!/bin/sh
# usage: scripts/fuzz.sh [--merge]   (env: FUZZ_TIME=300 FUZZ_JOBS=2 FUZZ_TARGETS="elf api ..." BUILD_FUZZ=build-fuzz)
#
# Builds the libFuzzer targets of tests/fuzz with clang (-fsanitize=fuzzer,
# address,undefined; tests/fuzz/meson.build) in $BUILD_FUZZ and runs each
# for FUZZ_TIME seconds, FUZZ_JOBS of them side by side, each on a COPY of
# its corpus tests/fuzz/corpus/NAME (the committed corpus stays as it is),
# with leak detection on.  Fails naming the target and the input of any
# crash, leak, timeout (30 s) or out-of-memory (2 GiB); reproduce one with
#   $BUILD_FUZZ/tests/fuzz/fuzz_NAME CRASH-FILE
# (or, without clang, build/tests/fuzz/fuzz_NAME_replay CRASH-FILE).
# --merge (make fuzz-merge) adds the inputs a clean run found that reach
# new coverage to the committed corpus (libFuzzer -merge=1), to commit.
# Per target: $BUILD_FUZZ/fuzz-runs/NAME/{log,corpus/,crash-*...}; the
# summary prints each target's execs/s and coverage.
set -eu
cd "$(dirname "$0")/.."

FUZZ_TIME=${FUZZ_TIME:-300}
FUZZ_JOBS=${FUZZ_JOBS:-2}
BUILD_FUZZ=${BUILD_FUZZ:-build-fuzz}
MERGE=0
case "${1:-}" in
--merge) MERGE=1 ;;
"") ;;
*) echo "usage: scripts/fuzz.sh [--merge]  (FUZZ_TIME, FUZZ_JOBS, FUZZ_TARGETS, BUILD_FUZZ)" >&2; exit 2 ;;
esac

# every target has its corpus directory, named as the target without fuzz_
if [ -z "${FUZZ_TARGETS:-}" ]; then
	FUZZ_TARGETS=$(ls tests/fuzz/corpus)
fi
for t in $FUZZ_TARGETS; do
	if [ ! -d "tests/fuzz/corpus/$t" ]; then
		echo "fuzz: no target $t (no tests/fuzz/corpus/$t); the targets: $(ls tests/fuzz/corpus | tr '\n' ' ')" >&2
		exit 2
	fi
done

if [ ! -f "$BUILD_FUZZ/build.ninja" ]; then
	CC=clang meson setup "$BUILD_FUZZ" >/dev/null
fi
# only the fuzz binaries and what they link, not the whole tree
ninja -C "$BUILD_FUZZ" $(for t in $FUZZ_TARGETS; do echo "tests/fuzz/fuzz_$t"; done)
for t in $FUZZ_TARGETS; do
	if [ ! -x "$BUILD_FUZZ/tests/fuzz/fuzz_$t" ]; then
		echo "fuzz: $BUILD_FUZZ/tests/fuzz/fuzz_$t was not built: clang's libFuzzer is missing (apt-get install clang)" >&2
		exit 1
	fi
done

RUNS="$BUILD_FUZZ/fuzz-runs"
mkdir -p "$RUNS"

# One target: a fresh copy of its corpus, FUZZ_TIME seconds, its log and findings in $RUNS/NAME.
run_one() {
	t=$1
	d="$RUNS/$t"
	rm -rf "$d"
	mkdir -p "$d/corpus"
	cp tests/fuzz/corpus/"$t"/* "$d/corpus/"
	echo "fuzz: $t for ${FUZZ_TIME}s"
	rc=0
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$BUILD_FUZZ/tests/fuzz/fuzz_$t" -max_total_time="$FUZZ_TIME" -detect_leaks=1 -timeout=30 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$d/" "$d/corpus" >"$d/log" 2>&1 || rc=$?
	echo "$rc" >"$d/rc"
}

# FUZZ_JOBS at a time
n=0
for t in $FUZZ_TARGETS; do
	run_one "$t" &
	n=$((n + 1))
	if [ "$n" -ge "$FUZZ_JOBS" ]; then
		wait
		n=0
	fi
done
wait

failed=0
printf '%-14s %10s %8s %8s %7s  %s\n' target execs/s cov ft corpus result
for t in $FUZZ_TARGETS; do
	d="$RUNS/$t"
	done_line=$(grep -E '^#[0-9]+.*cov: ' "$d/log" | tail -n 1 || true)
	cov=$(echo "$done_line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$done_line" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$done_line" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$d/log" | tail -n 1)
	found=$(ls "$d" | grep -E '^(crash|leak|timeout|oom)-' || true)
	result=ok
	if [ -n "$found" ] || [ "$(cat "$d/rc")" != 0 ]; then
		result=FAILED
		failed=1
	fi
	printf '%-14s %10s %8s %8s %7s  %s\n' "$t" "${eps:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
done
for t in $FUZZ_TARGETS; do
	d="$RUNS/$t"
	found=$(ls "$d" | grep -E '^(crash|leak|timeout|oom)-' || true)
	if [ -n "$found" ]; then
		for f in $found; do
			echo "fuzz: fuzz_$t found $d/$f; reproduce: $BUILD_FUZZ/tests/fuzz/fuzz_$t $d/$f"
		done
		grep -E 'ERROR: |SUMMARY: |fuzz_[a-z_]*: ' "$d/log" | head -n 5 | sed 's/^/  /'
	elif [ "$(cat "$d/rc")" != 0 ]; then
		echo "fuzz: fuzz_$t exited $(cat "$d/rc") without a finding; see $d/log"
		tail -n 5 "$d/log" | sed 's/^/  /'
	fi
done
if [ "$failed" != 0 ]; then
	echo "fuzz: FAILED (the logs: $RUNS/*/log)"
	exit 1
fi

if [ "$MERGE" = 1 ]; then
	for t in $FUZZ_TARGETS; do
		before=$(ls tests/fuzz/corpus/"$t" | wc -l)
		"$BUILD_FUZZ/tests/fuzz/fuzz_$t" -merge=1 -detect_leaks=0 "tests/fuzz/corpus/$t" "$RUNS/$t/corpus" \
			>"$RUNS/$t/merge.log" 2>&1
		echo "fuzz: $t: $before -> $(ls tests/fuzz/corpus/"$t" | wc -l) seeds in tests/fuzz/corpus/$t"
	done
fi
echo "fuzz: no finding in $(echo $FUZZ_TARGETS | wc -w) targets, ${FUZZ_TIME}s each"

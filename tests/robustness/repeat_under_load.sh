#!/usr/bin/env bash
# Runs the end-to-end, robustness and client tests RUNS times in a row with
# two busy loops (`yes > /dev/null`, one per core of a 2-core machine)
# beside them, and stops at the first failing run. Evidence that no test
# depends on a quiet machine (tests/robustness/README.md).
#
#   tests/robustness/repeat_under_load.sh [RUNS]      (default 10)
#
# Needs the build of scripts/test.sh (BUILD_DIR, default build/).
# Environment: CTEST_JOBS (default 2), LABELS (default e2e|robustness|client).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${BUILD_DIR:-$ROOT/build}"
RUNS="${1:-10}"
LABELS="${LABELS:-e2e|robustness|client}"

yes > /dev/null & busy1=$!
yes > /dev/null & busy2=$!
trap 'kill $busy1 $busy2 2>/dev/null' EXIT

cd "$BUILD" || exit 1
for ((run = 1; run <= RUNS; run++)); do
  start=$(date +%s)
  if ! ctest --output-on-failure -j "${CTEST_JOBS:-2}" -L "^($LABELS)\$" \
       > "$BUILD/repeat-under-load-$run.log" 2>&1; then
    echo "run $run of $RUNS: FAILED after $(( $(date +%s) - start )) s" \
         "(log: $BUILD/repeat-under-load-$run.log)"
    grep -E "tests passed|Failed|\*\*\*" "$BUILD/repeat-under-load-$run.log" | tail -20
    exit 1
  fi
  echo "run $run of $RUNS: $(grep -E 'tests passed' "$BUILD/repeat-under-load-$run.log")" \
       "in $(( $(date +%s) - start )) s"
done
echo "all $RUNS runs passed"

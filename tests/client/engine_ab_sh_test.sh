#!/usr/bin/env bash
# bench/engine_ab.sh end to end: one build against itself, two rounds of two
# short cases; the table has a row per case with a ratio. No figure is
# checked (they are the machine's). Also: a missing build is an error.
#   engine_ab_sh_test.sh BIN_DIR     (run from the repository root)
set -euo pipefail
BIN="$1"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; echo "--- output:"; cat "$WORK/out"; exit 1; }

bench/engine_ab.sh "$BIN" "$BIN" 2 '^Engine/mnist_mlp/batch:(1|8)/threads:1/' 0.01 \
  >"$WORK/out" 2>&1 || fail "engine_ab.sh exited $?"
for batch in 1 8; do
  grep -Eq "^\| Engine/mnist_mlp/batch:$batch/threads:1/real_time \| [0-9,]+ \| [0-9,]+ \| [0-9]+\.[0-9]{3} \([0-9]+\.[0-9]{3}-[0-9]+\.[0-9]{3}\) \|$" \
    "$WORK/out" || fail "no row for batch $batch"
done
grep -q "round 2 of 2 done" "$WORK/out" || fail "not two rounds"
if bench/engine_ab.sh "$WORK/nowhere" "$BIN" 1 >"$WORK/out" 2>&1; then
  fail "a missing build was accepted"
fi
grep -q "no $WORK/nowhere/engine_bench" "$WORK/out" || fail "no clear message for a missing build"
echo "PASS"

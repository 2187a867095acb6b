#!/usr/bin/env bash
# bench/nntrain_ab.sh end to end: one build against itself, two rounds of
# the MLP at two batch sizes on 256 digits; the table has a row per case
# with a ratio and the same accuracy on both sides (same build, same seed:
# the same weights). No figure is checked (they are the machine's). Also: a
# missing build is an error.
#   nntrain_ab_sh_test.sh BIN_DIR     (run from the repository root)
set -euo pipefail
BIN="$1"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; echo "--- output:"; cat "$WORK/out"; exit 1; }

MODELS=mnist_mlp BATCHES="16 64" EPOCHS=1 THREADS=1 MAX_TRAIN_EXAMPLES=256 \
  bench/nntrain_ab.sh "$BIN" "$BIN" 2 >"$WORK/out" 2>&1 || fail "nntrain_ab.sh exited $?"
for batch in 16 64; do
  line="$(grep -E "^\| mnist_mlp \| $batch \| " "$WORK/out")" || fail "no row for batch $batch"
  [[ "$line" =~ \|\ [0-9]+\.[0-9]{3}\ \([0-9]+\.[0-9]{3}-[0-9]+\.[0-9]{3}\)\ \|\ ([0-9.]+)\ /\ ([0-9.]+)\ \|$ ]] ||
    fail "row for batch $batch has no ratio and accuracies: $line"
  [[ "${BASH_REMATCH[1]}" == "${BASH_REMATCH[2]}" ]] || fail "one build, two accuracies: $line"
done
grep -q "round 2 of 2 done" "$WORK/out" || fail "not two rounds"
if bench/nntrain_ab.sh "$WORK/nowhere" "$BIN" 1 >"$WORK/out" 2>&1; then
  fail "a missing build was accepted"
fi
grep -q "no $WORK/nowhere/nntrain" "$WORK/out" || fail "no clear message for a missing build"
echo "PASS"

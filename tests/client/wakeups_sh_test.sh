#!/usr/bin/env bash
# bench/wakeups.sh end to end on a few requests: both servers counted at two
# concurrencies, the per-thread table names nnserve's batch workers; no
# figures are checked (they are scheduling's).
#   wakeups_sh_test.sh BIN_DIR ONNX_MODEL_DIR     (run from the repository root)
set -euo pipefail
BIN="$1" ONNX="$2"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; echo "--- output:"; cat "$WORK/out"; exit 1; }

mkdir -p "$WORK/repo/mnist_mlp/1"
cp "$ONNX/mnist_mlp.onnx" "$WORK/repo/mnist_mlp/1/model.onnx"
BIN="$BIN" REPO="$WORK/repo" PER_THREAD=1 bench/wakeups.sh 20 60 1 4 \
  >"$WORK/out" 2>&1 || fail "wakeups.sh exited $?"

row='-?[0-9]+\.[0-9]{2}'
for server in nnserve ceiling; do
  for c in 1 4; do
    grep -Eq "^$server +$c +$row +$row +0\.00$" "$WORK/out" ||
      fail "no $server row at concurrency $c"
  done
done
grep -q "^nnserve.4: per thread name" "$WORK/out" || fail "no per-thread table"
grep -Eq "^  batch0_" "$WORK/out" || fail "no batch worker in the per-thread table"
echo "PASS"

#!/usr/bin/env bash
# Serving latency while the server trains (issue 6's goal: Predict p99 during
# training no worse than 3x the idle p99).
#
# Starts nnserve with the default models and training enabled, measures
# Predict on mnist_mlp with `nnctl bench` (CONCURRENCY calls in flight) while
# idle, then again while a training job fine-tunes mnist_cnn on
# Fashion-MNIST, and prints both p50/p99 and the ratio.
#
#   bench/train_while_serving.sh [BIN_DIR]   (default build/bin)
# Environment: CONCURRENCY [8], DURATION [15s], TRAINING_THREADS [1],
#              NNSERVE_FLAGS (extra flags). Quiet machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
BIN="${1:-build/bin}"
CONCURRENCY="${CONCURRENCY:-8}"
DURATION="${DURATION:-15s}"
TRAINING_THREADS="${TRAINING_THREADS:-1}"
WORK="$(mktemp -d)"
cp -r models/repository "$WORK/repo"
SERVER_PID=""
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck disable=SC2086
"$BIN/nnserve" --listen_address=127.0.0.1 --port=0 --port_file="$WORK/port" \
  --http_port=-1 --model_repository="$WORK/repo" --data_dir=data \
  --enable_training --training_threads="$TRAINING_THREADS" --drain_grace=0s \
  ${NNSERVE_FLAGS:-} 2>"$WORK/log" &
SERVER_PID=$!
PORT="$(wait_for_port "$WORK/port" 30 "$SERVER_PID")" ||
  { cat "$WORK/log" >&2; exit 1; }
TARGET="127.0.0.1:$PORT"

bench() {
  "$BIN/nnctl" --target="$TARGET" bench --model=mnist_mlp \
    --concurrency="$CONCURRENCY" --duration="$DURATION" --warmup=2s --csv |
    tail -n 1
}
header=$("$BIN/nnctl" --target="$TARGET" bench --model=mnist_mlp --concurrency=1 \
  --duration=1s --warmup=0s --csv | head -n 1)
idle=$(bench)

"$BIN/nnctl" --target="$TARGET" train --model=mnist_cnn --base_version=0 \
  --dataset=fashion-mnist --epochs=50 --batch_size=32 --detach >"$WORK/job"
sleep 1
busy=$(bench)
"$BIN/nnctl" --target="$TARGET" train --jobs | head -3 || true
"$BIN/nnctl" --target="$TARGET" train --cancel="$(grep -o 'job-[0-9]*' "$WORK/job" | head -1)" >/dev/null || true

echo "$header"
echo "idle:     $idle"
echo "training: $busy"
python3 - "$header" "$idle" "$busy" <<'PY' 2>/dev/null || true
import sys
h = sys.argv[1].split(",")
idle = dict(zip(h, sys.argv[2].split(",")))
busy = dict(zip(h, sys.argv[3].split(",")))
for key in ("requests_per_second", "p50_us", "p99_us"):
    if key in idle:
        i, b = float(idle[key]), float(busy[key])
        print(f"{key}: idle {i:.1f}  training {b:.1f}  ratio {b / i:.2f}")
PY

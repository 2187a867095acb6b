#!/usr/bin/env bash
# Footprint of nnserve with the three default models (issue 5's goals):
#   1. start-up: process start -> health SERVING (the port file appears only
#      once every initial model is loaded, validated and warmed up);
#   2. resident memory (VmRSS) idle with the models loaded;
#   3. resident memory after LOAD_SECONDS at full load (nnctl bench on every
#      model at once, 64 calls in flight each), and its growth.
#
#   bench/footprint.sh [BIN_DIR]     (default build/bin; run from anywhere)
# Environment: REPOSITORY [models/repository], LOAD_SECONDS [60],
# NNSERVE_FLAGS (extra nnserve flags, e.g. batching knobs) [none].
# Needs the default models (scripts/train-default-models.sh). Quiet machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
BIN="${1:-build/bin}"
REPOSITORY="${REPOSITORY:-models/repository}"
LOAD_SECONDS="${LOAD_SECONDS:-60}"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

start_ns=$(date +%s%N)
"$BIN/nnserve" --listen_address=127.0.0.1 --port=0 --port_file="$WORK/port" \
  --http_listen_address=127.0.0.1 --http_port=0 --model_repository="$REPOSITORY" \
  --drain_grace=0s ${NNSERVE_FLAGS:-} 2>"$WORK/log" &
SERVER_PID=$!
# Polled every millisecond: the start-up time is the figure measured.
PORT="$(wait_for_port "$WORK/port" 3 "$SERVER_PID" 0.001)" ||
  { cat "$WORK/log" >&2; exit 1; }
ready_ns=$(date +%s%N)
TARGET="127.0.0.1:$PORT"
"$BIN/nnctl" --target="$TARGET" health >/dev/null
startup_ms=$(( (ready_ns - start_ns) / 1000000 ))
sleep 2
idle_rss=$(rss_kib "$SERVER_PID")

bench_pids=()
for model in mnist_mlp mnist_cnn mnist_rnn; do
  "$BIN/nnctl" --target="$TARGET" bench --model="$model" --concurrency=64 \
    --duration="${LOAD_SECONDS}s" --warmup=1s --csv >"$WORK/$model.csv" &
  bench_pids+=($!)
done
peak_rss=$idle_rss
for _ in $(seq 1 $((LOAD_SECONDS + 5))); do
  sleep 1
  rss=$(rss_kib "$SERVER_PID")
  (( rss > peak_rss )) && peak_rss=$rss
done
status=0
for pid in "${bench_pids[@]}"; do wait "$pid" || status=$?; done
loaded_rss=$(rss_kib "$SERVER_PID")

awk -v s="$startup_ms" -v i="$idle_rss" -v l="$loaded_rss" -v p="$peak_rss" -v t="$LOAD_SECONDS" 'BEGIN {
  printf "| start-up to SERVING (3 models) | %d ms |\n", s
  printf "| RSS idle, 3 models loaded | %.1f MB |\n", i / 1024
  printf "| RSS after %d s at full load | %.1f MB (%+.1f %%) |\n", t, l / 1024, (l - i) * 100 / i
  printf "| RSS peak during load | %.1f MB |\n", p / 1024
}'
echo
echo "load (nnctl bench --csv, one line per model):"
for model in mnist_mlp mnist_cnn mnist_rnn; do
  head -1 "$WORK/$model.csv" | sed 's/^/  /'
  tail -n +2 "$WORK/$model.csv" | sed "s/^/  $model: /"
done
exit $status

#!/usr/bin/env bash
# A/B of two nnserve configurations side by side: starts two servers (flags
# A and B) on the default models, then alternates `nnctl bench` rounds
# between them, so that drift of the shared machine hits both alike. Prints
# each round (req/s, p50 µs, p99 µs) and the median req/s of each side.
#
#   bench/ab.sh "FLAGS_A" "FLAGS_B" [MODEL] [CONCURRENCY] [ROUNDS] [SECONDS]
#   bench/ab.sh "" "--enable_metrics=false" mnist_mlp 64 6 5   # metrics cost
# Defaults: mnist_mlp, 64, 6 rounds, 5 s a round. Quiet machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
FLAGS_A="${1:-}" FLAGS_B="${2:-}"
MODEL="${3:-mnist_mlp}" CONCURRENCY="${4:-64}" ROUNDS="${5:-6}" SECONDS_A_ROUND="${6:-5}"
BIN="${BIN:-build/bin}"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

start() {  # start SIDE FLAGS
  # shellcheck disable=SC2086  # FLAGS is a list of flags
  "$BIN/nnserve" --listen_address=127.0.0.1 --port=0 --port_file="$WORK/port$1" \
    --http_listen_address=127.0.0.1 --http_port=0 \
    --model_repository=models/repository --drain_grace=0s $2 2>"$WORK/log$1" &
  PIDS+=($!)
}
start A "$FLAGS_A"
PID_A=$!
start B "$FLAGS_B"
PID_B=$!
PORT_A="$(wait_for_port "$WORK/portA" 30 "$PID_A")" &&
  PORT_B="$(wait_for_port "$WORK/portB" 30 "$PID_B")" ||
  { echo "ab.sh: a server did not start" >&2; cat "$WORK"/log* >&2; exit 1; }

echo "A: ${FLAGS_A:-(defaults)}"
echo "B: ${FLAGS_B:-(defaults)}"
echo "$MODEL, $CONCURRENCY in flight, $ROUNDS rounds of ${SECONDS_A_ROUND}s; side req/s,p50_us,p99_us"
for (( r = 1; r <= ROUNDS; r++ )); do
  for side in A B; do
    port="PORT_$side"
    line=$("$BIN/nnctl" --target="127.0.0.1:${!port}" bench \
      --model="$MODEL" --concurrency="$CONCURRENCY" \
      --duration="${SECONDS_A_ROUND}s" --warmup=1s --csv | tail -n 1)
    echo "$side $(echo "$line" | cut -d, -f11,13,16)"
  done
done | tee "$WORK/rounds"
for side in A B; do
  grep "^$side " "$WORK/rounds" | cut -d' ' -f2 | cut -d, -f1 | sort -n |
    awk -v s="$side" '{ v[NR] = $1 } END {
      m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%s median req/s: %.0f\n", s, m }'
done

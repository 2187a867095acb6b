#!/usr/bin/env bash
# The wires side by side on one server (issue 17): nnserve.v1 Predict with
# float tensors, the Open Inference Protocol over gRPC (raw FP32 contents),
# and over REST with the binary tensor data extension and with JSON, round
# after round (so drift hits all alike). Prints each round (req/s, p50 µs,
# p99 µs), then per wire the median req/s and the median of its per-round
# ratio to Predict's req/s.
#
#   bench/protocols.sh [MODEL] [CONCURRENCY] [ROUNDS] [SECONDS]
#   defaults: mnist_mlp 64 5 5. Environment: BIN [build/bin]. Quiet machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
MODEL="${1:-mnist_mlp}" CONCURRENCY="${2:-64}" ROUNDS="${3:-5}" SECS="${4:-5}"
BIN="${BIN:-build/bin}"
work_dir_with_server_cleanup
# One HTTP handler thread per REST call in flight (a REST call holds its
# thread until it is answered: server/v2_rest_service.h).
"$BIN/nnserve" --listen_address=127.0.0.1 --port=0 --port_file="$WORK/port" \
  --http_listen_address=127.0.0.1 --http_port=0 \
  --http_port_file="$WORK/http_port" --http_threads=$((CONCURRENCY + 4)) \
  --model_repository=models/repository --drain_grace=0s 2>"$WORK/log" &
PID=$!
PORT="$(wait_for_port "$WORK/port" 30 "$PID")" ||
  { echo "protocols.sh: the server did not start" >&2; cat "$WORK/log" >&2; exit 1; }
HTTP_PORT="$(wait_for_port "$WORK/http_port" 10 "$PID")" ||
  { echo "protocols.sh: no HTTP port" >&2; cat "$WORK/log" >&2; exit 1; }
WIRES="predict v2 v2-http v2-http-json"
wire_flags() {
  case "$1" in
    predict) echo "--protocol=nnserve.v1 --encoding=float" ;;
    v2) echo "--protocol=v2" ;;
    v2-http) echo "--protocol=v2-http --http_target=127.0.0.1:$HTTP_PORT" ;;
    v2-http-json) echo "--protocol=v2-http --http_target=127.0.0.1:$HTTP_PORT --v2_http_json" ;;
  esac
}
echo "$MODEL, $CONCURRENCY in flight, $ROUNDS rounds of ${SECS}s; wire req/s,p50_us,p99_us,ratio to predict"
for (( r = 1; r <= ROUNDS; r++ )); do
  base=0
  for wire in $WIRES; do
    # shellcheck disable=SC2046  # the flags are a list
    line=$("$BIN/nnctl" --target="127.0.0.1:$PORT" bench $(wire_flags "$wire") \
      --model="$MODEL" --concurrency="$CONCURRENCY" \
      --duration="${SECS}s" --warmup=1s --csv | tail -n 1)
    fields="$(echo "$line" | cut -d, -f11,13,16)"
    rps="${fields%%,*}"
    [[ "$wire" == predict ]] && base="$rps"
    echo "$wire $fields,$(awk -v a="$rps" -v b="$base" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }')"
  done
done | tee "$WORK/rounds"
median() {  # median COLUMN WIRE
  grep "^$2 " "$WORK/rounds" | cut -d' ' -f2 | cut -d, -f"$1" | sort -n |
    awk '{ v[NR] = $1 } END {
      printf "%s", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
for wire in $WIRES; do
  printf "%-13s median req/s: %.0f, p50 µs: %s, ratio to predict: %s\n" "$wire" \
    "$(median 1 "$wire")" "$(median 2 "$wire")" "$(median 4 "$wire")"
done

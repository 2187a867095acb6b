#!/usr/bin/env bash
# Serving benchmark: nnserve's Predict against the transport ceiling.
#
#   bench/serving.sh [BIN_DIR]            (default: build/bin)
#
# Starts grpc_ceiling_server (a bare gRPC server answering Predict with a
# fixed reply of the real size) and nnserve on ephemeral loopback ports, runs
# `nnctl bench` in rounds: each round runs the ceiling once (its reply does
# not depend on the model), then nnserve for each model. It prints a Markdown
# table: per level, the median over rounds of requests/s and of p50 and p99
# latency, failed requests summed, and nnserve's throughput as a ratio of the
# ceiling's: the median of each round's ratio, so that the two sides of a
# ratio are measured minutes apart at most (the machine drifts by 10-20 %
# between minutes). Builds nothing. Client and servers share the machine: run
# it on a quiet one, or the numbers mean nothing.
#
# Environment (defaults in brackets):
#   MODELS       models to benchmark [mnist_mlp mnist_cnn mnist_rnn]
#   CONCURRENCY  calls in flight, comma-separated [1,8,64]
#   ROUNDS       rounds of every benchmark [3]
#   DURATION     measured time per level [5s]       WARMUP [1s]
#   ENCODING     uint8, float or png [uint8]        IMAGES_PER_REQUEST [1]
#   REPOSITORY   nnserve's model repository [models/repository]
#   NNSERVE      the nnserve binary [BIN_DIR/nnserve]; if it or the
#                repository is missing, nnserve is skipped with a message
#                and the table shows the ceiling alone
#   NNSERVE_FLAGS  extra nnserve flags (e.g. batching knobs)
#   OUT_DIR      keep the CSV files and server logs here [a temporary dir]
# Exit status: 0 when every benchmark ran (failed requests are reported in
# the table), 1 when a server did not start or nnctl failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="${1:-build/bin}"
MODELS="${MODELS:-mnist_mlp mnist_cnn mnist_rnn}"
CONCURRENCY="${CONCURRENCY:-1,8,64}"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-5s}"
WARMUP="${WARMUP:-1s}"
ENCODING="${ENCODING:-uint8}"
IMAGES_PER_REQUEST="${IMAGES_PER_REQUEST:-1}"
REPOSITORY="${REPOSITORY:-models/repository}"
NNSERVE="${NNSERVE:-$BIN/nnserve}"
NNSERVE_FLAGS="${NNSERVE_FLAGS:-}"

for tool in nnctl grpc_ceiling_server; do
  if [[ ! -x "$BIN/$tool" ]]; then
    echo "serving.sh: $BIN/$tool not found; build first (scripts/build.sh)" >&2
    exit 1
  fi
done

if [[ -n "${OUT_DIR:-}" ]]; then
  WORK="$OUT_DIR"
  mkdir -p "$WORK"
else
  WORK="$(mktemp -d)"
fi
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ -z "${OUT_DIR:-}" ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

# bench NAME TARGET MODEL: nnctl bench into $WORK/NAME.csv (exit 4, failed
# requests, still gives a table).
bench() {
  local rc=0
  "$BIN/nnctl" --target="$2" bench --model="$3" --concurrency="$CONCURRENCY" \
    --duration="$DURATION" --warmup="$WARMUP" --encoding="$ENCODING" \
    --images_per_request="$IMAGES_PER_REQUEST" --csv >"$WORK/$1.csv" || rc=$?
  if [[ $rc -ne 0 && $rc -ne 4 ]]; then
    echo "serving.sh: nnctl bench against $1 failed (exit $rc)" >&2
    exit 1
  fi
}

"$BIN/grpc_ceiling_server" --port=0 --port_file="$WORK/ceiling.port" \
  2>"$WORK/ceiling.log" &
PIDS+=($!)
if ! CEILING_PORT="$(wait_for_port "$WORK/ceiling.port" 10)"; then
  echo "serving.sh: grpc_ceiling_server did not start:" >&2
  cat "$WORK/ceiling.log" >&2
  exit 1
fi
echo "ceiling: 127.0.0.1:$CEILING_PORT"
first_model="${MODELS%% *}"

NNSERVE_MODELS=()
if [[ ! -x "$NNSERVE" ]]; then
  echo "nnserve: skipped ($NNSERVE not found); the table shows the ceiling alone"
elif [[ ! -d "$REPOSITORY" ]]; then
  echo "nnserve: skipped (no model repository $REPOSITORY; scripts/run.sh trains one)"
else
  # shellcheck disable=SC2086  # NNSERVE_FLAGS is a list of flags
  # Loopback only; no drain grace, so that the clean-up is quick.
  "$NNSERVE" --listen_address=127.0.0.1 --http_listen_address=127.0.0.1 \
    --port=0 --port_file="$WORK/nnserve.port" --http_port=0 \
    --drain_grace=0s --model_repository="$REPOSITORY" $NNSERVE_FLAGS \
    2>"$WORK/nnserve.log" &
  PIDS+=($!)
  if ! NNSERVE_PORT="$(wait_for_port "$WORK/nnserve.port" 60)"; then
    echo "serving.sh: nnserve did not start:" >&2
    tail -20 "$WORK/nnserve.log" >&2
    exit 1
  fi
  serving=0
  for (( i = 0; i < 600; i++ )); do
    if "$BIN/nnctl" --target="127.0.0.1:$NNSERVE_PORT" --timeout=1s health \
        >/dev/null 2>&1; then
      serving=1; break
    fi
    sleep 0.1
  done
  if [[ $serving -ne 1 ]]; then
    echo "serving.sh: nnserve is not SERVING after 60 s" >&2
    exit 1
  fi
  echo "nnserve: 127.0.0.1:$NNSERVE_PORT ($REPOSITORY)"
  for model in $MODELS; do NNSERVE_MODELS+=("$model"); done
fi

for (( round = 1; round <= ROUNDS; round++ )); do
  echo "round $round of $ROUNDS"
  bench "ceiling.$round" "127.0.0.1:$CEILING_PORT" "$first_model"
  for model in "${NNSERVE_MODELS[@]}"; do
    bench "nnserve_$model.$round" "127.0.0.1:$NNSERVE_PORT" "$model"
  done
done

# The table. CSV columns (nnctl bench --csv): 4 concurrency, 8 failed,
# 11 requests/s, 13 p50_us, 16 p99_us. Rows of every round as
# "server model round concurrency req/s p50 p99 failed", then medians.
for (( round = 1; round <= ROUNDS; round++ )); do
  awk -F, -v r="$round" 'NR > 1 { print "ceiling -", r, $4, $11, $13, $16, $8 }' \
    "$WORK/ceiling.$round.csv"
  for model in "${NNSERVE_MODELS[@]}"; do
    awk -F, -v r="$round" -v m="$model" \
      'NR > 1 { print "nnserve", m, r, $4, $11, $13, $16, $8 }' \
      "$WORK/nnserve_$model.$round.csv"
  done
done >"$WORK/rounds.txt"
echo
echo "$(nproc) cores; encoding $ENCODING, $IMAGES_PER_REQUEST image(s) a request;" \
  "$ROUNDS rounds of $DURATION a level after $WARMUP of warm-up; medians"
echo
echo "| server | model | concurrency | req/s | p50 µs | p99 µs | failed | req/s vs ceiling |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
awk '
  function median(list,   v, n, i, j, t) {
    n = split(list, v, " ")
    for (i = 2; i <= n; i++) {  # insertion sort: a handful of values
      t = v[i] + 0
      for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]
      v[j + 1] = t
    }
    return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  $1 == "ceiling" { ceiling[$3 " " $4] = $5 }
  {
    key = $1 " " $2 " " $4
    if (!(key in seen)) { seen[key] = 1; order[++rows] = key }
    rps[key] = rps[key] " " $5; p50[key] = p50[key] " " $6
    p99[key] = p99[key] " " $7; failed[key] += $8
    c = ceiling[$3 " " $4]
    ratio[key] = ratio[key] " " ((c > 0) ? $5 / c : 0)
  }
  END {
    for (i = 1; i <= rows; i++) {
      split(order[i], k, " ")
      printf "| %s | %s | %d | %.0f | %.1f | %.1f | %d | %.2f |\n", k[1], k[2],
        k[3], median(rps[order[i]]), median(p50[order[i]]),
        median(p99[order[i]]), failed[order[i]], median(ratio[order[i]])
    }
  }' "$WORK/rounds.txt"

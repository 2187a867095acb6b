#!/usr/bin/env bash
# A/B of two nnserve configurations side by side: starts two servers (flags
# A and B, or two binaries) on the default models and, unless CEILING=0, the
# transport ceiling (grpc_ceiling_server), then runs `nnctl bench` against
# each in turn, round after round, so that drift of the shared machine hits
# all alike. Prints each round (req/s, p50 µs, p99 µs, the server's CPU time
# per request in µs, user + system from /proc/PID/stat over the whole nnctl
# run, warm-up included; and with the ceiling each side's ratios to the
# ceiling's req/s and CPU per request of the same round), then per side the
# medians of req/s, CPU per request and the per-round ratios.
#
#   bench/ab.sh "FLAGS_A" "FLAGS_B" [MODEL] [CONCURRENCY] [ROUNDS] [SECONDS]
#   bench/ab.sh "" "--enable_metrics=false" mnist_mlp 64 6 5   # metrics cost
#   NNSERVE_A=/tmp/nnserve.old bench/ab.sh "" "" mnist_mlp 64 10  # old vs new
# Defaults: mnist_mlp, 64, 6 rounds, 5 s a round. Environment: BIN
# [build/bin], NNSERVE_A and NNSERVE_B [BIN/nnserve], CEILING [1]. Quiet
# machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
FLAGS_A="${1:-}" FLAGS_B="${2:-}"
MODEL="${3:-mnist_mlp}" CONCURRENCY="${4:-64}" ROUNDS="${5:-6}" SECONDS_A_ROUND="${6:-5}"
BIN="${BIN:-build/bin}"
NNSERVE_A="${NNSERVE_A:-$BIN/nnserve}" NNSERVE_B="${NNSERVE_B:-$BIN/nnserve}"
CEILING="${CEILING:-1}"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

start() {  # start SIDE BINARY FLAGS
  # shellcheck disable=SC2086  # FLAGS is a list of flags
  "$2" --listen_address=127.0.0.1 --port=0 --port_file="$WORK/port$1" \
    --http_listen_address=127.0.0.1 --http_port=0 \
    --model_repository=models/repository --drain_grace=0s $3 2>"$WORK/log$1" &
  PIDS+=($!)
}
SIDES="A B"
start A "$NNSERVE_A" "$FLAGS_A"
PID_A=$!
start B "$NNSERVE_B" "$FLAGS_B"
PID_B=$!
if [[ "$CEILING" != 0 ]]; then
  "$BIN/grpc_ceiling_server" --port=0 --port_file="$WORK/portC" 2>"$WORK/logC" &
  PIDS+=($!)
  PID_C=$!
  PORT_C="$(wait_for_port "$WORK/portC" 10 "$!")" ||
    { echo "ab.sh: the ceiling server did not start" >&2; cat "$WORK/logC" >&2; exit 1; }
  SIDES="C A B"
fi
PORT_A="$(wait_for_port "$WORK/portA" 30 "$PID_A")" &&
  PORT_B="$(wait_for_port "$WORK/portB" 30 "$PID_B")" ||
  { echo "ab.sh: a server did not start" >&2; cat "$WORK"/log* >&2; exit 1; }

[[ "$CEILING" != 0 ]] && echo "C: the ceiling (grpc_ceiling_server)"
echo "A: $NNSERVE_A ${FLAGS_A:-(defaults)}"
echo "B: $NNSERVE_B ${FLAGS_B:-(defaults)}"
echo "$MODEL, $CONCURRENCY in flight, $ROUNDS rounds of ${SECONDS_A_ROUND}s;" \
  "side req/s,p50_us,p99_us,server_cpu_us_per_request[,req/s ratio to C,cpu ratio to C]"
# cpu_ticks PID: the process's user + system time in clock ticks.
cpu_ticks() {
  # The command name (field 2) may hold spaces: count from after its ')'.
  sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
TICK_US=$(( 1000000 / $(getconf CLK_TCK) ))
for (( r = 1; r <= ROUNDS; r++ )); do
  ceiling_rps=0
  for side in $SIDES; do
    port="PORT_$side" pid="PID_$side"
    ticks0="$(cpu_ticks "${!pid}")"
    line=$("$BIN/nnctl" --target="127.0.0.1:${!port}" bench \
      --model="$MODEL" --concurrency="$CONCURRENCY" \
      --duration="${SECONDS_A_ROUND}s" --warmup=1s --csv | tail -n 1)
    ticks1="$(cpu_ticks "${!pid}")"
    # requests (6) + warmup_requests (9): every call of the run.
    cpu_us="$(echo "$line" | awk -F, -v t=$(( (ticks1 - ticks0) * TICK_US )) \
      '{ n = $6 + $9; printf "%.2f", (n > 0) ? t / n : 0 }')"
    fields="$(echo "$line" | cut -d, -f11,13,16),$cpu_us"
    rps="${fields%%,*}"
    if [[ "$side" == C ]]; then
      ceiling_rps="$rps" ceiling_cpu="$cpu_us"
      echo "C $fields"
    elif [[ "$CEILING" != 0 ]]; then
      echo "$side $fields,$(awk -v a="$rps" -v c="$ceiling_rps" \
        -v ua="$cpu_us" -v uc="$ceiling_cpu" 'BEGIN {
          printf "%.3f,%.3f", (c > 0) ? a / c : 0, (uc > 0) ? ua / uc : 0 }')"
    else
      echo "$side $fields"
    fi
  done
done | tee "$WORK/rounds"
# median COLUMN SIDE: the median of a column of the side's rounds.
median() {
  grep "^$2 " "$WORK/rounds" | cut -d' ' -f2 | cut -d, -f"$1" | sort -n |
    awk '{ v[NR] = $1 } END {
      printf "%s", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
for side in $SIDES; do
  if [[ "$side" == C || "$CEILING" == 0 ]]; then
    printf "%s median req/s: %.0f, server CPU µs/request: %s\n" "$side" \
      "$(median 1 "$side")" "$(median 4 "$side")"
  else
    printf "%s median req/s: %.0f, median ratio to C: %s; server CPU µs/request: %s, median ratio to C: %s\n" \
      "$side" "$(median 1 "$side")" "$(median 5 "$side")" \
      "$(median 4 "$side")" "$(median 6 "$side")"
  fi
done

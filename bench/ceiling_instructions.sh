#!/usr/bin/env bash
# Server CPU per request against the transport ceiling, counted rather than
# timed: instructions executed per request by nnserve (Predict, float
# tensors, one image a request) and by grpc_ceiling_server (the same
# requests from the same client), each under callgrind, at each given
# number of calls in flight. Under valgrind a process's threads run one at
# a time, which changes how batches form at many in flight but not what a
# request costs to receive, hand off, compute and answer.
#
# Per request = (count after N2 requests - count after N1) / (N2 - N1), the
# counters zeroed before and dumped after each `nnctl bench` run (after a
# warm-up), as in instructions.sh. Prints, per concurrency: the whole
# server process for nnserve and the ceiling, nnserve's compute
# (ExecutionPlan::Execute, inclusive), nnserve's count without it, and the
# ratios nnserve / ceiling with and without the compute.
#
#   bench/ceiling_instructions.sh [N1] [N2] [CONCURRENCY...]   defaults 200 1200 1 64
#   Environment: BIN [build/bin], MODEL [mnist_mlp], TOP [0]: also print
#   the TOP functions that differ most (inclusive, per request) per server.
# Needs valgrind (callgrind_control, callgrind_annotate).
set -euo pipefail
export LC_ALL=C
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
N1="${1:-200}" N2="${2:-1200}"
shift $(( $# < 2 ? $# : 2 ))
CONCURRENCIES=("$@")
[[ ${#CONCURRENCIES[@]} -gt 0 ]] || CONCURRENCIES=(1 64)
BIN="${BIN:-build/bin}" MODEL="${MODEL:-mnist_mlp}" TOP="${TOP:-0}"
work_dir_with_server_cleanup
mkdir -p "$WORK/repo"
cp -r "models/repository/$MODEL" "$WORK/repo/"
export OMP_WAIT_POLICY=passive  # spinning would count time, not requests

start_server() {  # start_server nnserve|ceiling: sets PID and PORT
  rm -f "$WORK/port"
  local -a server
  case "$1" in
    nnserve) server=("$BIN/nnserve" --listen_address=127.0.0.1 --http_port=0
               --model_repository="$WORK/repo" --drain_grace=0s) ;;
    ceiling) server=("$BIN/grpc_ceiling_server" --host=127.0.0.1) ;;
  esac
  valgrind --tool=callgrind --callgrind-out-file="$WORK/cg" --dump-instr=no \
    "${server[@]}" --port=0 --port_file="$WORK/port" 2>"$WORK/server.log" &
  PID=$!
  PORT="$(wait_for_port "$WORK/port" 600 "$PID")" ||
    { echo "ceiling_instructions.sh: $1 did not start" >&2
      cat "$WORK/server.log" >&2; exit 1; }
  DUMPS=0
}
stop_server() {
  kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  rm -f "$WORK"/cg*
}
bench() {  # bench CONCURRENCY REQUESTS
  "$BIN/nnctl" --target="127.0.0.1:$PORT" bench --protocol=nnserve.v1 \
    --encoding=float --model="$MODEL" --concurrency="$1" --warmup=0s \
    --duration=3600s --max_requests="$2" --csv >/dev/null
}
counted() {  # counted OUT CONCURRENCY REQUESTS: one run's dump in OUT
  callgrind_control -z "$PID" >/dev/null 2>&1
  bench "$2" "$3"
  callgrind_control -d "$PID" >/dev/null 2>&1
  DUMPS=$((DUMPS + 1))
  until [[ -s "$WORK/cg.$DUMPS" ]]; do sleep 0.2; done
  mv "$WORK/cg.$DUMPS" "$1"
}
compute() {  # compute C: nnserve's ExecutionPlan::Execute per request
  diff_functions "$WORK/nnserve.$1.$N1" "$WORK/nnserve.$1.$N2" |
    awk -F '\t' 'index($2, "???:nn::ExecutionPlan::Execute(") == 1 { print $1; exit }'
}

for server in nnserve ceiling; do
  start_server "$server"
  bench 8 100  # warm-up: threads, channels, plans
  for c in "${CONCURRENCIES[@]}"; do
    for n in "$N1" "$N2"; do counted "$WORK/$server.$c.$n" "$c" "$n"; done
  done
  stop_server
done

echo "$MODEL, Predict (float tensors, 1 image a request); server instructions per request ($N1 -> $N2 requests)"
printf "%-8s %10s %10s %10s %12s %8s %12s\n" in_flight nnserve ceiling compute "nnserve-comp" ratio "ratio-comp"
for c in "${CONCURRENCIES[@]}"; do
  s="$(per_request "$WORK/nnserve.$c.$N1" "$WORK/nnserve.$c.$N2")"
  e="$(per_request "$WORK/ceiling.$c.$N1" "$WORK/ceiling.$c.$N2")"
  x="$(compute "$c" || true)"; x="${x:-0}"
  awk -v c="$c" -v s="$s" -v e="$e" -v x="$x" 'BEGIN {
    printf "%-8s %10d %10d %10d %12d %8.3f %12.3f\n", c, s, e, x, s - x, s / e, (s - x) / e }'
done
if (( TOP > 0 )); then
  for c in "${CONCURRENCIES[@]}"; do
    for server in nnserve ceiling; do
      echo; echo "$server, $c in flight: top $TOP functions, inclusive instructions per request"
      diff_functions "$WORK/$server.$c.$N1" "$WORK/$server.$c.$N2" | awk -v top="$TOP" 'NR <= top'
    done
  done
fi
if [[ -n "${KEEP:-}" ]]; then mkdir -p "$KEEP" && cp "$WORK"/nnserve.* "$WORK"/ceiling.* "$KEEP"/; fi

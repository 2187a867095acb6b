#!/usr/bin/env bash
# CPU work per request, counted rather than timed (so it may run on a busy
# machine): instructions executed per request by the server (nnserve under
# callgrind) and by the client (nnctl bench under callgrind), for
# nnserve.v1 Predict with float tensors and for V2 gRPC ModelInfer with raw
# FP32 contents (bench/protocols.sh's first two wires), one image a
# request, one call in flight (so every batch is one request and the counts
# do not depend on timing).
#
# Per request = (count after N2 requests - count after N1 requests) /
# (N2 - N1): the difference cancels what a run costs once (connecting,
# nnctl's start-up, building its 256 requests). Server: callgrind's
# counters are zeroed before each run and dumped after it (the warm-up
# runs first, so thread processors and the like exist). Prints, per wire,
# instructions per request on each side and in the server's handler
# (InferenceServiceImpl::Predict / V2GrpcService::ModelInfer, inclusive),
# then the functions that differ most (inclusive, per request) for the
# server and the client.
#
#   bench/instructions.sh [N1] [N2]         defaults 200 1200
#   Environment: BIN [build/bin], MODEL [mnist_mlp], TOP [25] functions
# Needs valgrind (callgrind_control, callgrind_annotate).
set -euo pipefail
export LC_ALL=C
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
N1="${1:-200}" N2="${2:-1200}"
BIN="${BIN:-build/bin}" MODEL="${MODEL:-mnist_mlp}" TOP="${TOP:-25}"
work_dir_with_server_cleanup
mkdir -p "$WORK/repo"
cp -r "models/repository/$MODEL" "$WORK/repo/"
# Passive OpenMP waits: spinning threads would count instructions that
# depend on time, not on requests.
export OMP_WAIT_POLICY=passive

start_server() {  # start_server WRAPPER...: sets PID and PORT
  rm -f "$WORK/port"
  "$@" "$BIN/nnserve" --listen_address=127.0.0.1 --port=0 \
    --port_file="$WORK/port" --http_port=0 --model_repository="$WORK/repo" \
    --drain_grace=0s 2>"$WORK/server.log" &
  PID=$!
  PORT="$(wait_for_port "$WORK/port" 600 "$PID")" ||
    { echo "instructions.sh: the server did not start" >&2
      cat "$WORK/server.log" >&2; exit 1; }
}
stop_server() {
  kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""
}
wire_flags() {
  case "$1" in
    predict) echo "--protocol=nnserve.v1 --encoding=float" ;;
    v2) echo "--protocol=v2" ;;
  esac
}
bench() {  # bench WIRE REQUESTS [WRAPPER...]
  local wire="$1" n="$2"; shift 2
  # shellcheck disable=SC2046  # the flags are a list
  "$@" "$BIN/nnctl" --target="127.0.0.1:$PORT" bench $(wire_flags "$wire") \
    --model="$MODEL" --concurrency=1 --warmup=0s --duration=3600s \
    --max_requests="$n" --csv >/dev/null
}

# Server side.
start_server valgrind --tool=callgrind --callgrind-out-file="$WORK/server.cg" \
  --dump-instr=no
for wire in predict v2; do bench "$wire" 50; done  # warm-up
dumps=0
for wire in predict v2; do
  for n in "$N1" "$N2"; do
    callgrind_control -z "$PID" >/dev/null
    bench "$wire" "$n"
    callgrind_control -d "$PID" >/dev/null
    dumps=$((dumps + 1))
    # Dumps are numbered from 1 in the order taken.
    until [[ -s "$WORK/server.cg.$dumps" ]]; do sleep 0.2; done
    mv "$WORK/server.cg.$dumps" "$WORK/server.$wire.$n"
  done
done
stop_server

# Client side, against a server at full speed.
start_server
for wire in predict v2; do
  for n in "$N1" "$N2"; do
    bench "$wire" "$n" valgrind --tool=callgrind --dump-instr=no \
      --callgrind-out-file="$WORK/client.$wire.$n" 2>/dev/null
  done
done
stop_server

# handler_of WIRE: the server function that handles its calls (inclusive:
# parse, decode, compute inline, reply, destroy).
handler_of() {
  case "$1" in
    predict) echo "nn::InferenceServiceImpl::Predict(" ;;
    v2) echo "nn::V2GrpcService::ModelInfer(" ;;
  esac
}
handler() {  # handler WIRE: its handler's inclusive instructions per request
  diff_functions "$WORK/server.$1.$N1" "$WORK/server.$1.$N2" |
    awk -F '\t' -v f="???:$(handler_of "$1")" 'index($2, f) == 1 { print $1; exit }'
}
echo "$MODEL, 1 image a request, 1 in flight; instructions per request ($N1 -> $N2 requests)"
echo "(server, client: whole processes, with a few thousand of timing noise:"
echo " idle threads, lock spinning; handler: the server's handler, steadier)"
printf "%-8s %12s %12s %12s\n" wire server handler client
for wire in predict v2; do
  printf "%-8s %12s %12s %12s\n" "$wire" \
    "$(per_request "$WORK/server.$wire.$N1" "$WORK/server.$wire.$N2")" \
    "$(handler "$wire")" \
    "$(per_request "$WORK/client.$wire.$N1" "$WORK/client.$wire.$N2")"
done
for side in server client; do
  for wire in predict v2; do
    echo
    echo "$side, $wire: top $TOP functions, inclusive instructions per request"
    diff_functions "$WORK/$side.$wire.$N1" "$WORK/$side.$wire.$N2" |
      awk -v top="$TOP" 'NR <= top'
  done
done
if [[ -n "${KEEP:-}" ]]; then
  mkdir -p "$KEEP" && cp "$WORK"/server.*.* "$WORK"/client.*.* "$KEEP"/
fi

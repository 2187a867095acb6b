#!/usr/bin/env bash
# Thread wake-ups per request, counted rather than timed: context switches
# of the server process (every thread's voluntary and involuntary switches,
# /proc/PID/task/*/status) and, optionally, its futex system calls (strace
# -f -c attached to it), per request of nnserve (Predict, float tensors, one
# image a request) and of grpc_ceiling_server (the same requests from the
# same client), natively, at each given number of calls in flight. A
# voluntary switch is a thread going to sleep (on a futex, in epoll_wait,
# ...): the wake-up that ends it costs wall time at one call in flight and
# CPU on both sides of the hand-off under load.
#
# Per request = (count after N2 requests - count after N1) / (N2 - N1), the
# two runs of `nnctl bench` after a warm-up, as in ceiling_instructions.sh.
# The counts depend on scheduling (how many calls a thread finds when it
# wakes), so they move with the machine's load; compare two servers taken
# close together, and repeat.
#
#   bench/wakeups.sh [N1] [N2] [CONCURRENCY...]     defaults 2000 12000 1 64
#   Environment: BIN [build/bin], MODEL [mnist_mlp], REPO
#   [models/repository] (where MODEL's directory is copied from),
#   NNSERVE_FLAGS [],
#   STRACE [0]: also count futex calls (strace slows every call down, which
#   changes batching: its figures are for the same strace-ed setup only),
#   PER_THREAD [0]: also print, per thread name (batch workers, gRPC's
#   nexting_thread and default-executor, ...), the switches per request and
#   the CPU clock ticks of the N2 run.
set -euo pipefail
export LC_ALL=C
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
N1="${1:-2000}" N2="${2:-12000}"
shift $(( $# < 2 ? $# : 2 ))
CONCURRENCIES=("$@")
[[ ${#CONCURRENCIES[@]} -gt 0 ]] || CONCURRENCIES=(1 64)
BIN="${BIN:-build/bin}" MODEL="${MODEL:-mnist_mlp}" STRACE="${STRACE:-0}"
PER_THREAD="${PER_THREAD:-0}" REPO="${REPO:-models/repository}"
NNSERVE_FLAGS="${NNSERVE_FLAGS:-}"
work_dir_with_server_cleanup
mkdir -p "$WORK/repo"
cp -r "$REPO/$MODEL" "$WORK/repo/"
export OMP_WAIT_POLICY=passive  # as ceiling_instructions.sh

start_server() {  # start_server nnserve|ceiling: sets PID and PORT
  rm -f "$WORK/port"
  local -a server
  # shellcheck disable=SC2206  # NNSERVE_FLAGS is a list of flags
  case "$1" in
    nnserve) server=("$BIN/nnserve" --listen_address=127.0.0.1 --http_port=0
               --model_repository="$WORK/repo" --drain_grace=0s $NNSERVE_FLAGS) ;;
    ceiling) server=("$BIN/grpc_ceiling_server" --host=127.0.0.1) ;;
  esac
  "${server[@]}" --port=0 --port_file="$WORK/port" 2>"$WORK/server.log" &
  PID=$!
  PORT="$(wait_for_port "$WORK/port" 60 "$PID")" ||
    { echo "wakeups.sh: $1 did not start" >&2; cat "$WORK/server.log" >&2; exit 1; }
}
stop_server() { kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
bench() {  # bench CONCURRENCY REQUESTS
  "$BIN/nnctl" --target="127.0.0.1:$PORT" bench --protocol=nnserve.v1 \
    --encoding=float --model="$MODEL" --concurrency="$1" --warmup=0s \
    --duration=3600s --max_requests="$2" --csv >/dev/null
}
switches() {  # switches KEY: KEY summed over the server's threads
  cat /proc/"$PID"/task/*/status 2>/dev/null |
    awk -v k="$1:" '$1 == k { s += $2 } END { print s + 0 }'
}
threads() {  # threads FILE: "tid name voluntary involuntary ticks" per thread
  local t
  for t in /proc/"$PID"/task/*; do
    { echo "${t##*/} $(tr ' ' _ <"$t/comm")"
      awk '/^(non)?voluntary_ctxt_switches:/ { print $2 }' "$t/status"
      awk '{ print $14 + $15 }' "$t/stat"; } 2>/dev/null | paste -sd ' '
  done | sort >"$1"
}
by_thread() {  # by_thread BEFORE AFTER REQUESTS: per thread name, per request
  join "$1" "$2" | awk -v n="$3" '{ k = $2; v[k] += $7 - $3; i[k] += $8 - $4
      c[k] += $9 - $5 } END { for (k in v) printf "  %-18s %10.3f %12.3f %8d\n",
      k, v[k] / n, i[k] / n, c[k] }' | sort
}
counted() {  # counted CONCURRENCY REQUESTS: "voluntary involuntary futex"
  local v0 i0 v1 i1 f=0 spid
  if [[ "$STRACE" != 0 ]]; then
    strace -f -c -e trace=futex -o "$WORK/strace" -p "$PID" 2>/dev/null &
    spid=$!
    sleep 1  # attached to every thread
  fi
  [[ "$PER_THREAD" != 0 ]] && threads "$WORK/threads.0"
  v0="$(switches voluntary_ctxt_switches)"; i0="$(switches nonvoluntary_ctxt_switches)"
  bench "$1" "$2"
  v1="$(switches voluntary_ctxt_switches)"; i1="$(switches nonvoluntary_ctxt_switches)"
  [[ "$PER_THREAD" != 0 ]] && threads "$WORK/threads.1"
  if [[ "$STRACE" != 0 ]]; then
    kill -INT "$spid"; wait "$spid" 2>/dev/null || true
    f="$(awk '$NF == "futex" { print $4 }' "$WORK/strace")"
  fi
  echo "$((v1 - v0)) $((i1 - i0)) ${f:-0}"
}

echo "$MODEL, Predict (float tensors, 1 image a request); server context switches (and futex calls) per request ($N1 -> $N2 requests)"
printf "%-8s %-8s %10s %12s %8s\n" server in_flight voluntary involuntary futex
for server in nnserve ceiling; do
  start_server "$server"
  bench 8 200  # warm-up: threads, channels, plans
  for c in "${CONCURRENCIES[@]}"; do
    read -r va ia fa <<<"$(counted "$c" "$N1")"
    read -r vb ib fb <<<"$(counted "$c" "$N2")"
    [[ "$PER_THREAD" != 0 ]] && by_thread "$WORK/threads.0" "$WORK/threads.1" "$N2" >"$WORK/by_thread.$server.$c"
    awk -v s="$server" -v c="$c" -v d=$((N2 - N1)) -v v=$((vb - va)) \
        -v i=$((ib - ia)) -v f=$((fb - fa)) 'BEGIN {
      printf "%-8s %-8s %10.2f %12.2f %8.2f\n", s, c, v / d, i / d, f / d }'
  done
  stop_server
done
if [[ "$PER_THREAD" != 0 ]]; then
  for f in "$WORK"/by_thread.*; do
    echo; echo "${f##*/by_thread.}: per thread name, the $N2-request run: voluntary, involuntary a request; CPU ticks"
    cat "$f"
  done
fi

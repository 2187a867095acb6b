#!/usr/bin/env bash
# Soak test (issue 10; tests/robustness/README.md): nnserve under high load
# for a bounded time while a new model version is dropped into its
# repository every RELOAD_EVERY seconds (each swapped in under load, the
# previous one unloaded).
#
#   bench/soak.sh [BIN_DIR]                    (default: build/bin)
#   DURATION=30s bench/soak.sh                 (a quick check)
#
# Durations: the default run takes about 5.5 minutes; `DURATION=2m TRAIN=0
# RELOAD_EVERY=8` about 2 minutes (15 swaps, no training); DURATION=30m is
# the long run recorded in bench/README.md.
#
# Reports requests, failures by code, resident memory and open file
# descriptors at start (after a short warm-up) and end, from nnserve's
# /metrics, and resident memory sampled every 2 s. Fails (exit 1) on any
# failed request other than the documented overload code UNAVAILABLE (queue
# full), on memory growth (below), on more than MAX_FD_GROWTH new
# descriptors, if the newest version is not the one served at the end, or if
# nnserve does not drain and exit 0 on SIGTERM. Builds nothing; needs
# nnserve, nnctl and model_writer (tests/robustness) in BIN_DIR. Run it on a
# quiet machine for numbers worth recording.
#
# Memory, compared like with like (a training job holds tens of MB while it
# runs, so a reading taken during a job and one taken between jobs differ by
# the job's working set, not by a leak):
#   - after each job (TRAIN=1): resident memory 1 s after each training job
#     has ended (the job has published its version and the server has
#     trimmed malloc's free memory), the same phase of every job cycle. The
#     median of the last third of these readings may exceed the median of
#     the first third by at most MAX_RSS_GROWTH_PCT. What such a reading
#     holds besides the serving state: the data set the jobs train on, cached
#     after the first job (the 10,000 MNIST digits as floats, ~31 MB), and
#     the versions loaded at that moment (one, two during a swap);
#   - the 2 s samples, each tagged with whether a job was running: for each
#     kind (with a job, without), the peak of the last fifth of its samples
#     may exceed the peak of the first fifth by at most MAX_RSS_GROWTH_PCT
#     (compared when a kind has at least 10 samples; with TRAIN=0 every
#     sample is of the kind "without").
# A real leak grows both: an allocation kept per request or per version
# shows at every phase (bench/README.md records a run against a build with
# a deliberate leak, which fails).
#
# Environment (defaults in brackets):
#   DURATION            load time, an absl duration [5m]
#   CONCURRENCY         calls in flight [64]
#   IMAGES_PER_REQUEST  [4]             ENCODING  uint8, float or png [uint8]
#   RELOAD_EVERY        seconds between new versions [20]
#   WARMUP              load before the start figures are taken [5s]
#   MAX_RSS_GROWTH_PCT  [20]            MAX_FD_GROWTH  [8]
#   NNSERVE_FLAGS       extra nnserve flags
#   TRAIN               1: train back-to-back jobs during the soak (see
#                       start_training) [1]
#   OUT_DIR             keep logs and the bench JSON here [a temporary dir]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="${1:-build/bin}"
DURATION="${DURATION:-5m}"
CONCURRENCY="${CONCURRENCY:-64}"
IMAGES_PER_REQUEST="${IMAGES_PER_REQUEST:-4}"
ENCODING="${ENCODING:-uint8}"
RELOAD_EVERY="${RELOAD_EVERY:-20}"
WARMUP="${WARMUP:-5s}"
MAX_RSS_GROWTH_PCT="${MAX_RSS_GROWTH_PCT:-20}"
MAX_FD_GROWTH="${MAX_FD_GROWTH:-8}"
NNSERVE_FLAGS="${NNSERVE_FLAGS:-}"
TRAIN="${TRAIN:-1}"
MODEL=soak

for tool in nnserve nnctl model_writer; do
  if [[ ! -x "$BIN/$tool" ]]; then
    echo "soak.sh: $BIN/$tool not found; build first (scripts/build.sh)" >&2
    exit 1
  fi
done
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "soak.sh: needs $tool" >&2; exit 1; }
done

if [[ -n "${OUT_DIR:-}" ]]; then
  WORK="$OUT_DIR"
  mkdir -p "$WORK"
else
  WORK="$(mktemp -d)"
fi
REPO="$WORK/repository"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -z "${OUT_DIR:-}" ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

# seconds DURATION: an absl-style duration (90s, 5m, 1h, 1m30s) in seconds.
seconds() {
  local d="$1" total=0 n unit
  while [[ "$d" =~ ^([0-9]+)(h|m|s)(.*)$ ]]; do
    n="${BASH_REMATCH[1]}" unit="${BASH_REMATCH[2]}" d="${BASH_REMATCH[3]}"
    case "$unit" in h) n=$((n * 3600)) ;; m) n=$((n * 60)) ;; esac
    total=$((total + n))
  done
  [[ -z "$d" ]] || { echo "soak.sh: bad duration $1" >&2; exit 1; }
  echo "$total"
}
DURATION_S="$(seconds "$DURATION")"

# metric NAME [LABEL_FILTER]: the sum of the samples of NAME in /metrics
# whose label block contains LABEL_FILTER (e.g. 'code="OK"').
metric() {
  curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" |
    awk -v name="$1" -v filter="${2:-}" '
      $0 !~ /^#/ {
        split($1, parts, "{")
        if (parts[1] == name && index($1, filter) > 0) sum += $NF
      }
      END { printf "%.0f\n", sum }'
}

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

# publish VERSION: writes a new model file (atomically: temp file + rename,
# as the Train RPC will) for the poller to pick up.
publish() {
  "$BIN/model_writer" write-one "$REPO/$MODEL/$1/model.nnm" "$1" >/dev/null
}

# Training during the soak: back-to-back jobs (a CNN on the real digits,
# one epoch each, 1 training thread at nice 19) on another model, for as long
# as the load runs; each publishes a new version of `soak_trained` through
# the repository while the load goes on. check_training: at least one job,
# every job succeeded.
start_training() {
  (
    local end=$(( SECONDS + DURATION_S )) n=0 ok=0
    while (( SECONDS < end )); do
      n=$((n + 1))
      touch "$WORK/training.running"
      if "$BIN/nnctl" --target="$TARGET" --timeout=600s train --model=soak_trained \
          --spec=models/mnist_cnn.textproto --dataset=mnist --epochs=1 \
          --seed="$n" >>"$WORK/training.log" 2>&1; then
        ok=$((ok + 1))
      fi
      rm -f "$WORK/training.running"
      echo "$n $ok" >"$WORK/training.count"
      # The same phase of every cycle: 1 s after the job's end.
      sleep 1
      awk -v n="$n" '/^VmRSS:/ { print n, $2 }' "/proc/$NNSERVE_PID/status" \
        2>/dev/null >>"$WORK/rss.after_job" || true
    done
  ) &
  PIDS+=($!)
  TRAINER_PID=$!
}
check_training() {
  [[ "$TRAIN" == 1 ]] || return 0
  wait "$TRAINER_PID" 2>/dev/null || true
  local n ok
  read -r n ok <"$WORK/training.count" 2>/dev/null || { n=0; ok=0; }
  echo "training: $ok of $n jobs succeeded (each published a version of soak_trained)"
  if (( n == 0 || ok != n )); then
    echo "FAIL: training jobs failed:"; grep -i "nnctl:" "$WORK/training.log" | tail -3
    return 1
  fi
}

mkdir -p "$REPO"
publish 1
# shellcheck disable=SC2086  # NNSERVE_FLAGS is a list of flags
"$BIN/nnserve" --listen_address=127.0.0.1 --http_listen_address=127.0.0.1 \
  --port=0 --port_file="$WORK/port" --http_port=0 \
  --http_port_file="$WORK/http_port" --repository_poll_interval=1s \
  --drain_grace=0s --shutdown_timeout=30s --model_repository="$REPO" \
  --enable_training --data_dir=data \
  $NNSERVE_FLAGS 2>"$WORK/nnserve.log" &
NNSERVE_PID=$!
PIDS+=("$NNSERVE_PID")
if ! PORT="$(wait_for_port "$WORK/port" 60)"; then
  echo "soak.sh: nnserve did not start:" >&2
  tail -20 "$WORK/nnserve.log" >&2
  exit 1
fi
HTTP_PORT="$(cat "$WORK/http_port")"
TARGET="127.0.0.1:$PORT"
echo "nnserve: $TARGET (metrics on :$HTTP_PORT), repository $REPO"

bench() {  # bench DURATION JSON_FILE
  local rc=0
  "$BIN/nnctl" --target="$TARGET" --timeout=10s bench --model="$MODEL" \
    --concurrency="$CONCURRENCY" --duration="$1" --warmup=0s \
    --encoding="$ENCODING" --images_per_request="$IMAGES_PER_REQUEST" \
    --json >"$2" 2>>"$WORK/nnctl.log" || rc=$?
  if [[ $rc -ne 0 && $rc -ne 4 ]]; then  # 4: some requests failed
    echo "soak.sh: nnctl bench failed (exit $rc):" >&2
    tail -5 "$WORK/nnctl.log" >&2
    exit 1
  fi
}

# Training starts before the warm-up, so that the start figures include the
# trainer's one-time working set (the cached data set, the first job's
# buffers): what is measured is growth over time.
[[ "$TRAIN" == 1 ]] && start_training
bench "$WARMUP" "$WORK/warmup.json"
RSS_START="$(metric process_resident_memory_bytes)"
FDS_START="$(metric process_open_fds)"

# Resident memory every 2 s during the load ("SECONDS KIB JOB" lines, JOB 1
# while a training job runs; see the header for how they are compared).
(
  for (( t = 0; t < DURATION_S; t += 2 )); do
    job=0
    [[ -e "$WORK/training.running" ]] && job=1
    awk -v t="$t" -v job="$job" '/^VmRSS:/ { print t, $2, job }' \
      "/proc/$NNSERVE_PID/status" 2>/dev/null >>"$WORK/rss.samples" || break
    sleep 2
  done
) &
SAMPLER_PID=$!
PIDS+=("$SAMPLER_PID")

# New versions every RELOAD_EVERY seconds for as long as the load runs
# (bounded by the duration, whatever happens to the bench).
(
  v=1
  for (( t = RELOAD_EVERY; t < DURATION_S; t += RELOAD_EVERY )); do
    sleep "$RELOAD_EVERY"
    v=$((v + 1))
    publish "$v"
    echo "$v" >"$WORK/published"
  done
) &
RELOADER_PID=$!
PIDS+=("$RELOADER_PID")

echo "load: $DURATION at concurrency $CONCURRENCY, $IMAGES_PER_REQUEST" \
     "$ENCODING image(s) a request, a new version every ${RELOAD_EVERY}s"
bench "$DURATION" "$WORK/soak.json"
wait "$RELOADER_PID" || true
kill "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
PUBLISHED="$(cat "$WORK/published" 2>/dev/null || echo 1)"

# The newest version is the one served (the poller runs every second).
SERVED=0
for (( i = 0; i < 100; i++ )); do
  SERVED="$("$BIN/nnctl" --target="$TARGET" info --model="$MODEL" --json 2>/dev/null |
    jq -r '.model.defaultVersion // .model.default_version // 0')" || SERVED=0
  [[ "$SERVED" == "$PUBLISHED" ]] && break
  sleep 0.1
done
RSS_END="$(metric process_resident_memory_bytes)"
FDS_END="$(metric process_open_fds)"
LOADED="$(metric nnserve_model_load_duration_seconds_count "model=\"$MODEL\"")"

check_training || TRAINING_FAILED=1
# SIGTERM: nnserve drains and exits 0.
kill -TERM "$NNSERVE_PID"
EXIT_CODE=0
for (( i = 0; i < 600; i++ )); do
  kill -0 "$NNSERVE_PID" 2>/dev/null || break
  sleep 0.1
done
wait "$NNSERVE_PID" || EXIT_CODE=$?

# The report.
jq -r '.levels[0] | "requests: \(.requests) (\(.ok_requests) OK, \(.failed_requests) failed); \(.requests_per_second | floor) req/s; p50 \(.latency_us.p50) µs, p99 \(.latency_us.p99) µs"' \
  "$WORK/soak.json"
FAILURES="$(jq -r '.levels[0].errors_by_code | to_entries | map("\(.key)=\(.value)") | join(" ")' "$WORK/soak.json")"
echo "failures by code: ${FAILURES:-none}"
echo "versions: $PUBLISHED published, $LOADED loaded, $SERVED served at the end"
echo "resident memory: $((RSS_START / 1048576)) MiB after warm-up -> $((RSS_END / 1048576)) MiB at the end"
# Memory, like with like (see the header). growth A B: percent from A to B.
growth() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (a > 0 ? 100 * (b - a) / a : 0) }'; }
RSS_FAILED=0
# For each kind of 2 s sample: count, first-fifth peak, last-fifth peak (KiB).
for job in 1 0; do
  read -r count first last < <(awk -v job="$job" '$3 == job { v[n++] = $2 }
    END { f = int(n / 5); if (f < 1) f = 1; a = 0; b = 0
          for (i = 0; i < f && i < n; i++) if (v[i] > a) a = v[i]
          for (i = n - f; i < n; i++) if (i >= 0 && v[i] > b) b = v[i]
          printf "%d %d %d\n", n, a, b }' "$WORK/rss.samples")
  kind="without a job"; [[ $job == 1 ]] && kind="with a job running"
  if (( count < 10 )); then
    [[ $count -gt 0 ]] && echo "resident memory, samples $kind: $count (too few to compare)"
    continue
  fi
  pct="$(growth "$first" "$last")"
  echo "resident memory, samples $kind: peak of the first fifth $((first / 1024)) MiB," \
       "of the last fifth $((last / 1024)) MiB (${pct}%), $count samples"
  if awk -v g="$pct" -v m="$MAX_RSS_GROWTH_PCT" 'BEGIN { exit !(g > m) }'; then
    echo "FAIL: resident memory $kind grew ${pct}% (limit ${MAX_RSS_GROWTH_PCT}%)"
    RSS_FAILED=1
  fi
done
if [[ "$TRAIN" == 1 ]]; then
  JOBS_READ="$(wc -l <"$WORK/rss.after_job" 2>/dev/null || echo 0)"
  if (( JOBS_READ >= 3 )); then
    read -r first last < <(awk '{ v[n++] = $2 }
      function median(lo, hi,   m, i, j, t, w) {  # of v[lo..hi]
        m = 0; for (i = lo; i <= hi; i++) w[m++] = v[i]
        for (i = 0; i < m; i++) for (j = i + 1; j < m; j++)
          if (w[j] < w[i]) { t = w[i]; w[i] = w[j]; w[j] = t }
        return m % 2 ? w[int(m / 2)] : (w[m / 2 - 1] + w[m / 2]) / 2 }
      END { t = int((n + 2) / 3); printf "%d %d\n", median(0, t - 1), median(n - t, n - 1) }' \
      "$WORK/rss.after_job")
    pct="$(growth "$first" "$last")"
    echo "resident memory 1 s after each job: $(awk '{ printf "%s%d", (NR > 1 ? ", " : ""), $2 / 1024 }' \
         "$WORK/rss.after_job") MiB; median of the first third $((first / 1024)) MiB," \
         "of the last third $((last / 1024)) MiB (${pct}%)"
    if awk -v g="$pct" -v m="$MAX_RSS_GROWTH_PCT" 'BEGIN { exit !(g > m) }'; then
      echo "FAIL: resident memory after jobs grew ${pct}% (limit ${MAX_RSS_GROWTH_PCT}%)"
      RSS_FAILED=1
    fi
  else
    echo "resident memory after each job: $JOBS_READ reading(s), too few to compare"
  fi
fi
echo "open fds: $FDS_START -> $FDS_END"
echo "nnserve exit code after SIGTERM: $EXIT_CODE"

status=0
BAD="$(jq -r '.levels[0].errors_by_code | to_entries | map(select(.key != "UNAVAILABLE")) | map("\(.key)=\(.value)") | join(" ")' "$WORK/soak.json")"
if [[ -n "$BAD" ]]; then
  echo "FAIL: failures other than UNAVAILABLE: $BAD" \
       "($(jq -r '.levels[0].first_error // ""' "$WORK/soak.json"))"
  status=1
fi
[[ $RSS_FAILED == 1 ]] && status=1
if (( FDS_END - FDS_START > MAX_FD_GROWTH )); then
  echo "FAIL: $((FDS_END - FDS_START)) more open fds (limit $MAX_FD_GROWTH)"
  status=1
fi
if [[ "$SERVED" != "$PUBLISHED" ]]; then
  echo "FAIL: version $PUBLISHED was published but $SERVED is served"
  status=1
fi
if [[ "$EXIT_CODE" != 0 ]]; then
  echo "FAIL: nnserve exited with $EXIT_CODE after SIGTERM"
  tail -5 "$WORK/nnserve.log"
  status=1
fi
[[ "${TRAINING_FAILED:-0}" == 1 ]] && status=1
[[ $status == 0 ]] && echo "PASS"
exit $status

#!/usr/bin/env bash
# Builds the nnserve image from the repository's Dockerfile with podman (no
# Docker daemon needed) and tests it as users run it:
#   1. installs podman, buildah, runc and debootstrap if missing (apt-get);
#   2. makes a local docker.io/library/debian:bookworm-slim base once
#      (debootstrap --variant=minbase from apt's mirror, cached as a tarball);
#   3. podman build --format docker (keeps HEALTHCHECK), timed;
#   4. runs the image with its ports published on 127.0.0.1 only, and checks:
#      the image's HEALTHCHECK, `nnctl health`, `nnctl list` (three default
#      models available), predictions of the 2,004 real test digits through
#      the published port with every default model (accuracy >= $MIN_ACCURACY),
#      a Train RPC (token) whose new version is then served, /readyz,
#      /metrics (Predict and training counters; promtool check metrics), the
#      user (uid 10001);
#   5. SIGTERM: health turns NOT_SERVING while Predict is still answered,
#      then nnserve (PID 1) exits 0 within $STOP_BOUND_S;
#   6. prints the image size and the build time.
# Takes minutes (the build compiles nnserve inside the container); a second
# run reuses podman's layer cache. Not part of ctest (see deploy/README.md).
#
#   deploy/container-test.sh [--head | --no-build]
#     (default)    builds the working tree as it is
#     --head       builds the committed HEAD (git archive): a clean checkout
#     --no-build   tests the image built last
# Needs root (apt-get, podman), the host's build/bin/nnctl (scripts/build.sh)
# and data/mnist (scripts/prepare-data.sh). Environment:
#   IMAGE          image name (default localhost/nnserve:0.1.0)
#   NNCTL          client binary (default build/bin/nnctl)
#   CACHE_DIR      base tarball and containers.conf (default ~/.cache/nnserve-container)
#   MIN_ACCURACY   lowest accepted accuracy on the test digits (default 0.85;
#                  the default models score 0.90 to 0.95, bench/README.md)
#   STOP_BOUND_S   longest accepted SIGTERM-to-exit time (default 45)
#   EXTRA_CA       PEM file of extra CA certificates for the build's npm, for
#                  networks that intercept TLS (default: $NODE_EXTRA_CA_CERTS,
#                  the host node's own setting, if set; empty: none)
# Exit status 0 when every check passes; the first failure stops the run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE="${IMAGE:-localhost/nnserve:0.1.0}"
NNCTL="${NNCTL:-$ROOT/build/bin/nnctl}"
CACHE_DIR="${CACHE_DIR:-$HOME/.cache/nnserve-container}"
MIN_ACCURACY="${MIN_ACCURACY:-0.85}"
STOP_BOUND_S="${STOP_BOUND_S:-45}"
EXTRA_CA="${EXTRA_CA-${NODE_EXTRA_CA_CERTS:-}}"
BASE_IMAGE="docker.io/library/debian:bookworm-slim"
DIGITS="$ROOT/data/mnist/t10k-images-idx3-ubyte"
MODELS=(mnist_mlp mnist_cnn mnist_rnn)
BUILD=1
CONTEXT="$ROOT"
case "${1:-}" in
  "") ;;
  --no-build) BUILD=0 ;;
  --head) CONTEXT="" ;;  # exported below
  *) echo "usage: deploy/container-test.sh [--head | --no-build]" >&2; exit 2 ;;
esac

log() { echo "container-test: $*"; }
die() { echo "container-test: FAILED: $*" >&2; exit 1; }
pass() { echo "container-test: ok   $*"; }

# Removes the test container and temporary directories, however the run ends.
tmp_dirs=()
name=""
cleanup() {
  if [[ -n "$name" ]] && podman container exists "$name" 2>/dev/null; then
    podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  fi
  ((${#tmp_dirs[@]} == 0)) || rm -rf "${tmp_dirs[@]}"
}
trap cleanup EXIT

[[ $(id -u) == 0 ]] || die "run as root (apt-get and rootful podman)"
[[ -x "$NNCTL" ]] || die "$NNCTL not found: build the client first (scripts/build.sh)"
[[ -f "$DIGITS" ]] || die "$DIGITS not found: run scripts/prepare-data.sh"

# --- 1. packages -----------------------------------------------------------
missing=()
for p in podman buildah runc debootstrap curl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- podman configuration ----------------------------------------------------
# runc (crun refuses this host's hybrid cgroups), cgroupfs (no systemd), a
# file event log, and ulimits that root may set here.
mkdir -p "$CACHE_DIR"
export CONTAINERS_CONF="$CACHE_DIR/containers.conf"
cat > "$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF

# --- 2. base image -----------------------------------------------------------
if ! podman image exists "$BASE_IMAGE"; then
  tarball="$CACHE_DIR/debian-bookworm-slim.tar"
  if [[ ! -f "$tarball" ]]; then
    mirror=""
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
      mirror="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)"
    elif [[ -f /etc/apt/sources.list ]]; then
      mirror="$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list)"
    fi
    mirror="${mirror:-http://deb.debian.org/debian}"
    log "debootstrap bookworm (minbase) from $mirror"
    rootfs="$(mktemp -d)"
    tmp_dirs+=("$rootfs")
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
    # Like the official image: the host's apt sources (bookworm, -updates,
    # -security), no package lists, caches, docs, man pages or locales.
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
      cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/"
      rm -f "$rootfs/etc/apt/sources.list"
    fi
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* \
           "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
    tar -C "$rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
  fi
  log "importing $tarball as $BASE_IMAGE"
  podman import --change 'CMD ["bash"]' "$tarball" "$BASE_IMAGE" >/dev/null 2>&1 ||
    die "podman import $tarball"
fi

# --- 3. build ---------------------------------------------------------------
if ((BUILD)); then
  if [[ -z "$CONTEXT" ]]; then
    CONTEXT="$(mktemp -d)"
    tmp_dirs+=("$CONTEXT")
    git -C "$ROOT" archive HEAD | tar -x -C "$CONTEXT"
    log "building HEAD ($(git -C "$ROOT" rev-parse --short HEAD)) from a clean export"
  fi
  log "building $IMAGE (podman build --format docker; minutes on a cold cache)"
  start=$(date +%s)
  extra=()
  if [[ -n "$EXTRA_CA" ]]; then
    [[ -f "$EXTRA_CA" ]] || die "EXTRA_CA $EXTRA_CA is not a file"
    extra=(--volume "$EXTRA_CA:/run/nnserve-extra-ca.pem:ro"
           --build-arg NODE_EXTRA_CA_CERTS=/run/nnserve-extra-ca.pem)
  fi
  # Host networking for the build's apt-get and npm only.
  podman build --format docker --network host "${extra[@]}" -t "$IMAGE" -f "$CONTEXT/Dockerfile" "$CONTEXT" \
    > "$CACHE_DIR/build.log" 2>&1 || { tail -40 "$CACHE_DIR/build.log" >&2; die "podman build (log: $CACHE_DIR/build.log)"; }
  build_seconds=$(( $(date +%s) - start ))
  pass "image built in ${build_seconds} s"
else
  podman image exists "$IMAGE" || die "$IMAGE does not exist (run without --no-build)"
fi

healthcheck="$(podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE" 2>/dev/null || true)"
[[ "$healthcheck" == *nnctl* ]] || die "the image has no HEALTHCHECK (built without --format docker?): $healthcheck"
user="$(podman image inspect --format '{{.Config.User}}' "$IMAGE")"
[[ "$user" == "10001:10001" ]] || die "the image runs as '$user', not 10001:10001"
pass "image config: HEALTHCHECK ($healthcheck), user $user"

# --- 4. run -----------------------------------------------------------------
name="nnserve-container-test-$$"
# podman without systemd logs that it cannot schedule health checks (they
# are run by hand below): its stderr goes to this file.
PODMAN_LOG="$CACHE_DIR/podman.log"
: > "$PODMAN_LOG"

# Host ports chosen by podman, bound to 127.0.0.1 only. The image's CMD plus
# training with a token, to check that Train works inside the image too.
token="container-test-$$-$RANDOM"
podman run -d --name "$name" -p 127.0.0.1::50051 -p 127.0.0.1::8080 "$IMAGE" \
    --model_repository=/opt/nnserve/models/repository --enable_training --training_token="$token" \
    >/dev/null 2>>"$PODMAN_LOG" || { cat "$PODMAN_LOG" >&2; die "podman run"; }
grpc_addr="$(podman port "$name" 50051/tcp | head -1)"
http_addr="$(podman port "$name" 8080/tcp | head -1)"
[[ "$grpc_addr" == 127.0.0.1:* && "$http_addr" == 127.0.0.1:* ]] ||
  die "ports not published on 127.0.0.1 only: $grpc_addr $http_addr"
pass "running $name: gRPC on $grpc_addr, HTTP on $http_addr"

dump_logs() { podman logs --tail 30 "$name" >&2 || true; }
nnctl() { "$NNCTL" --target="$grpc_addr" --timeout=30s "$@"; }

# Models load and warm up before health says SERVING: up to 120 s.
for ((i = 0; i < 120; i++)); do
  [[ "$(nnctl health 2>/dev/null || true)" == SERVING ]] && break
  [[ "$(podman inspect --format '{{.State.Running}}' "$name")" == true ]] || { dump_logs; die "the container exited"; }
  sleep 1
done
[[ "$(nnctl health 2>&1)" == SERVING ]] || { dump_logs; die "nnctl health is not SERVING after 120 s"; }
pass "nnctl health: SERVING (after ~${i} s)"

podman healthcheck run "$name" >/dev/null 2>>"$PODMAN_LOG" || { dump_logs; die "the image's HEALTHCHECK fails"; }
pass "the image's HEALTHCHECK passes (podman healthcheck run)"

[[ "$(podman exec "$name" id -u)" == 10001 ]] || die "nnserve does not run as uid 10001"
[[ "$(podman exec "$name" cat /proc/1/comm)" == nnserve ]] || die "PID 1 is not nnserve"
pass "PID 1 is nnserve, uid 10001"

list="$(nnctl list)"
for m in "${MODELS[@]}"; do
  # MODEL VERSION STATE DEFAULT LOAD_S DETAIL
  awk -v m="$m" '$1 == m && tolower($3) == "available" { found = 1 } END { exit !found }' <<<"$list" ||
    { echo "$list" >&2; die "model $m has no available version"; }
done
pass "nnctl list: ${MODELS[*]} available"

total_images=0
for m in "${MODELS[@]}"; do
  out="$(nnctl predict --model="$m" --batch=64 "$DIGITS" | tail -1)" || die "nnctl predict --model=$m"
  # "model M version V, 2004 images, accuracy 0.9531 (1910/2004)"
  [[ "$out" =~ accuracy\ ([0-9.]+)\ \(([0-9]+)/([0-9]+)\) ]] || die "no accuracy in: $out"
  acc="${BASH_REMATCH[1]}"
  n="${BASH_REMATCH[3]}"
  total_images=$((total_images + n))
  awk -v a="$acc" -v min="$MIN_ACCURACY" 'BEGIN { exit !(a >= min) }' ||
    die "$m: accuracy $acc on $n test digits is below $MIN_ACCURACY"
  pass "predict $m through $grpc_addr: $out"
done

# Train in the container (non-root, writing the image's repository): one
# more epoch of mnist_mlp on the image's data set, published as version 2
# and then served.
train_out="$(NNCTL_TOKEN="$token" nnctl train --model=mnist_mlp --epochs=1 | tail -1)" ||
  { dump_logs; die "nnctl train"; }
for ((i = 0; i < 30; i++)); do
  nnctl list | awk '$1 == "mnist_mlp" && $2 == 2 && tolower($3) == "available" { f = 1 } END { exit !f }' && break
  sleep 1
done
out="$(nnctl predict --model=mnist_mlp --limit=100 "$DIGITS" | tail -1)" || die "predict after training"
[[ "$out" == "model mnist_mlp version 2,"* ]] || { dump_logs; die "the trained version 2 is not served: $out"; }
total_images=$((total_images + 100))
pass "train: $train_out; version 2 served ($out)"

curl -fsS "http://$http_addr/readyz" >/dev/null || die "/readyz is not 200"
metrics="$(curl -fsS "http://$http_addr/metrics")" || die "GET /metrics"
# Every Predict image of every model was counted.
counted="$(awk '/^nnserve_images_total\{/ { s += $NF } END { printf "%d", s }' <<<"$metrics")"
[[ "$counted" == "$total_images" ]] || die "/metrics: nnserve_images_total sums to $counted, expected $total_images"
ok_predicts="$(awk '/^nnserve_requests_total\{/ && /method="Predict"/ && /code="OK"/ { s += $NF }
                    END { printf "%d", s }' <<<"$metrics")"
((ok_predicts > 0)) || die "/metrics: no OK Predict in nnserve_requests_total"
grep -q '^process_resident_memory_bytes ' <<<"$metrics" || die "/metrics: no process metrics"
grep -q '^nnserve_training_jobs{state="succeeded"} 1$' <<<"$metrics" || die "/metrics: the training job is not counted"
if command -v promtool >/dev/null; then
  promtool check metrics <<<"$metrics" >/dev/null 2>&1 ||
    { promtool check metrics <<<"$metrics" >&2 || true; die "promtool check metrics"; }
fi
pass "/readyz 200; /metrics counts $counted images in $ok_predicts OK Predicts, passes promtool check metrics"

# --- 5. SIGTERM --------------------------------------------------------------
start=$(date +%s%N)
podman kill --signal TERM "$name" >/dev/null 2>>"$PODMAN_LOG"
# During --drain_grace (5 s): health NOT_SERVING (so load balancers and the
# readiness probe drop the pod), while calls are still answered.
sleep 0.5
health="$(nnctl health 2>&1 || true)"
[[ "$health" == NOT_SERVING ]] || { dump_logs; die "while draining, nnctl health says '$health', not NOT_SERVING"; }
drain_out="$(nnctl predict --model=mnist_mlp --limit=10 "$DIGITS" | tail -1)" ||
  { dump_logs; die "while draining, Predict failed"; }
pass "draining: health NOT_SERVING, Predict still answered ($drain_out)"
code="$(timeout "$STOP_BOUND_S" podman wait "$name" 2>>"$PODMAN_LOG" || echo timeout)"
stop_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[[ "$code" == 0 ]] || { dump_logs; die "after SIGTERM: exit code '$code' (bound ${STOP_BOUND_S} s)"; }
server_log="$(podman logs "$name" 2>&1)"  # not piped into grep -q: pipefail and SIGPIPE
grep -q "received SIGTERM" <<<"$server_log" || { dump_logs; die "nnserve did not log the SIGTERM"; }
pass "SIGTERM: nnserve drained and exited 0 in $((stop_ms / 1000)).$(( (stop_ms % 1000) / 100 )) s"

# --- 6. report ---------------------------------------------------------------
size_bytes="$(podman image inspect --format '{{.Size}}' "$IMAGE")"
echo
echo "image        $IMAGE"
echo "size         $((size_bytes / 1000000)) MB ($size_bytes bytes, uncompressed)"
if ((BUILD)); then
  echo "build time   ${build_seconds} s (podman build, this run)"
else
  echo "build time   (not built in this run)"
fi
echo "layers:"
podman history --format '  {{.Size}}\t{{.CreatedBy}}' "$IMAGE" | cut -c1-110 | awk 'NR <= 20'
echo "container-test: PASS"

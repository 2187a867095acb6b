#!/usr/bin/env bash
# Sets up everything (packages, data, build) and runs every test.
#   scripts/test.sh [ctest args...]     e.g. scripts/test.sh -R Idx
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/prepare-data.sh"
"$ROOT/scripts/build.sh"
# The ISA the engine's results come from (the README's numerical contract).
echo "test: oneDNN isa:$("$ROOT/scripts/onednn-isa.sh" || echo unknown)" \
     "(ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-unset})"
cd "$ROOT/build"
ctest --output-on-failure -j "${CTEST_JOBS:-2}" "$@"

#!/usr/bin/env bash
# Configures and builds nnserve into build/ (binaries in build/bin/).
#   scripts/build.sh [BUILD_DIR] [extra cmake args...]
# Environment: BUILD_TYPE (default Release), JOBS (default: nproc).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
shift || true
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" "$@" >/dev/null
cmake --build "$BUILD" -j "${JOBS:-$(nproc)}"

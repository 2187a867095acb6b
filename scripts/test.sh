#!/usr/bin/env bash
# Sets up everything (packages, data, build) and runs every test.
#   scripts/test.sh [ctest args...]     e.g. scripts/test.sh -R Idx
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/prepare-data.sh"
"$ROOT/scripts/build.sh"
cd "$ROOT/build"
ctest --output-on-failure -j "${CTEST_JOBS:-2}" "$@"

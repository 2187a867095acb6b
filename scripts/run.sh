#!/usr/bin/env bash
# Sets up everything (packages, data, build) and builds nnserve.
# (Serving arrives with the server issue: see README.)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/prepare-data.sh"
"$ROOT/scripts/build.sh"

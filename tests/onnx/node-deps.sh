#!/usr/bin/env bash
# Installs onnxruntime-node (package-lock.json here) into DIR/node_modules for
# the ONNX export tests; never into the source tree (tests/support/
# node-deps.sh: npm ci of the lock file, idempotent). --ignore-scripts
# matters here: the package ships its CPU library, and its install script
# would try to fetch GPU files.
#   tests/onnx/node-deps.sh DIR
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$HERE/../support/node-deps.sh" "$HERE" "${1:?usage: node-deps.sh DIR}"

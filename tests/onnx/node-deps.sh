#!/usr/bin/env bash
# Installs onnxruntime-node (package-lock.json here) into DIR/node_modules for
# the ONNX export tests; never into the source tree. --ignore-scripts: the
# package ships its CPU library, and its install script would try to fetch
# GPU files. A second run with the same lock file is a checksum compare.
#   tests/onnx/node-deps.sh DIR
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${1:?usage: node-deps.sh DIR}"
command -v npm >/dev/null || { echo "onnx node-deps: npm is needed (scripts/install-deps.sh)" >&2; exit 1; }
mkdir -p "$DIR"
lock="$(sha256sum "$HERE/package.json" "$HERE/package-lock.json" | sha256sum | cut -c1-64)"
if [[ "$(cat "$DIR/.lock" 2>/dev/null)" == "$lock" && -d "$DIR/node_modules/onnxruntime-node" ]]; then
  exit 0
fi
rm -f "$DIR/.lock"
cp "$HERE/package.json" "$HERE/package-lock.json" "$DIR/"
(cd "$DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
echo "$lock" > "$DIR/.lock"
echo "onnx node-deps: onnxruntime-node installed in $DIR"

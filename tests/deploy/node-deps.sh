#!/usr/bin/env bash
# Installs the deploy tests' npm packages (tests/deploy/package-lock.json:
# kubernetes-models and its schemas, a YAML parser) into DIR/node_modules,
# never into the source tree (tests/support/node-deps.sh: npm ci of the lock
# file, idempotent).
#   tests/deploy/node-deps.sh DIR
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$HERE/../support/node-deps.sh" "$HERE" "${1:?usage: node-deps.sh DIR}"

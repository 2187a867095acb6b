#!/usr/bin/env bash
# Installs the deploy tests' npm packages (tests/deploy/package-lock.json:
# kubernetes-models and its schemas, a YAML parser) into DIR/node_modules,
# never into the source tree. Idempotent: a second run with the same lock file
# only compares a checksum (well under a second). Needs node and npm
# (scripts/install-deps.sh) and the npm registry on the first run.
#   tests/deploy/node-deps.sh DIR
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${1:?usage: node-deps.sh DIR}"

command -v node >/dev/null && command -v npm >/dev/null || {
  echo "node-deps: node and npm are needed (scripts/install-deps.sh)" >&2
  exit 1
}
mkdir -p "$DIR"
want="$(cat "$HERE/package.json" "$HERE/package-lock.json" | sha256sum | cut -d' ' -f1)"
if [[ -f "$DIR/.installed" && "$(cat "$DIR/.installed")" == "$want" &&
      -d "$DIR/node_modules/kubernetes-models" ]]; then
  exit 0
fi
cp "$HERE/package.json" "$HERE/package-lock.json" "$DIR/"
rm -f "$DIR/.installed"
# npm ci: exactly the locked versions, checked against their integrity hashes.
(cd "$DIR" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null) || {
  echo "node-deps: npm ci failed in $DIR" >&2
  exit 1
}
echo "$want" > "$DIR/.installed"
echo "node-deps: installed $(ls "$DIR/node_modules" | wc -l) packages in $DIR"

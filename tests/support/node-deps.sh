#!/usr/bin/env bash
# Installs the npm packages locked in SRC (its package.json and
# package-lock.json) into DIR/node_modules, never into the source tree, for a
# test fixture. `npm ci`: exactly the locked versions, checked against their
# integrity hashes; --ignore-scripts: no install script runs (none of the
# tests' packages needs one, and some would try to download). Idempotent: a
# second run with the same lock file only compares a checksum. Needs node
# and npm (scripts/install-deps.sh) and the npm registry on the first run.
#   tests/support/node-deps.sh SRC DIR
set -euo pipefail
SRC="$(cd "${1:?usage: node-deps.sh SRC DIR}" && pwd)"
DIR="${2:?usage: node-deps.sh SRC DIR}"
command -v node >/dev/null && command -v npm >/dev/null || {
  echo "node-deps: node and npm are needed (scripts/install-deps.sh)" >&2
  exit 1
}
mkdir -p "$DIR"
want="$(cat "$SRC/package.json" "$SRC/package-lock.json" | sha256sum | cut -d' ' -f1)"
if [[ -f "$DIR/.installed" && "$(cat "$DIR/.installed")" == "$want" ]]; then
  exit 0
fi
cp "$SRC/package.json" "$SRC/package-lock.json" "$DIR/"
rm -f "$DIR/.installed"
(cd "$DIR" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null) || {
  echo "node-deps: npm ci failed in $DIR" >&2
  exit 1
}
echo "$want" > "$DIR/.installed"
echo "node-deps: installed $(ls "$DIR/node_modules" | wc -l) packages from $SRC in $DIR"
